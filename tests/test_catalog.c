/*  test_catalog.c — the built-in catalog, a valid file, a table of invalid
    catalogs each with the error it must give, and the createTask input.
*/
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog.h"

#define PHOTO_URL "https://tempfile.redpandaai.co/kieai/genbot/abc.jpg"

//  A valid two-model catalog; one model disabled, the second needs no photo.
static const char s_valid[] =
    "{\"models\": ["
    " {\"id\": \"sora-15s\", \"model\": \"sora-2-image-to-video\","
    "  \"title\": {\"ru\": \"Sora 2 — 15 секунд\", \"en\": \"Sora 2 — 15 seconds\"},"
    "  \"kind\": \"video\", \"price\": 2, \"enabled\": false,"
    "  \"needs\": [\"prompt\", \"photo\"],"
    "  \"input\": {\"aspect_ratio\": \"landscape\", \"n_frames\": \"15\", \"remove_watermark\": "
    "true},"
    "  \"prompt_max\": 500},"
    " {\"id\": \"google/nano-banana\", \"title\": {\"en\": \"Nano Banana\", \"ru\": \"Нано "
    "банан\"},"
    "  \"kind\": \"image\", \"price\": 1, \"needs\": [\"prompt\"],"
    "  \"input\": {\"output_format\": \"png\", \"image_size\": \"9:16\"},"
    "  \"prompt_field\": \"text\"},"
    " {\"id\": \"kling\", \"model\": \"kling/v2-1-pro\", \"title\": {\"ru\": \"К\", \"en\": \"K\"},"
    "  \"kind\": \"video\", \"price\": 3, \"needs\": [\"photo\", \"prompt\"],"
    "  \"image_field\": \"image_url\", \"image_as_array\": false}"
    "]}";

static catalog_t *s_load(const char *text, char *err) {
    return catalog_load_string(text, strlen(text), err);
}

static void test_default(void **state) {
    (void)state;
    catalog_t *catalog = catalog_new_default();
    assert_non_null(catalog);
    assert_int_equal(catalog_count(catalog), 1);
    assert_int_equal(catalog_enabled_count(catalog), 1);
    const catalog_model_t *model = catalog_find(catalog, "sora-2-image-to-video");
    assert_non_null(model);
    assert_ptr_equal(model, catalog_at(catalog, 0));
    assert_ptr_equal(model, catalog_enabled_at(catalog, 0));
    assert_null(catalog_at(catalog, 1));
    assert_null(catalog_enabled_at(catalog, 1));
    assert_string_equal(catalog_model_id(model), "sora-2-image-to-video");
    assert_string_equal(catalog_model_slug(model), "sora-2-image-to-video");
    assert_string_equal(catalog_model_title(model, "ru"), "Sora 2 — видео из фото");
    assert_string_equal(catalog_model_title(model, "en"), "Sora 2 — video from photo");
    assert_string_equal(catalog_model_title(model, "de"), "Sora 2 — video from photo");
    assert_string_equal(catalog_model_title(model, NULL), "Sora 2 — video from photo");
    assert_int_equal(catalog_model_kind(model), CATALOG_KIND_VIDEO);
    assert_string_equal(catalog_kind_name(catalog_model_kind(model)), "video");
    assert_int_equal(catalog_model_price(model), 1);
    assert_int_equal(catalog_price(catalog, "sora-2-image-to-video"), 1);
    assert_int_equal(catalog_price(catalog, "nope"), -1);
    assert_int_equal(catalog_price(catalog, NULL), -1);
    assert_null(catalog_find(catalog, "nope"));
    assert_null(catalog_find(catalog, NULL));
    assert_true(catalog_model_enabled(model));
    assert_true(catalog_model_needs_photo(model));
    assert_true(catalog_model_needs_prompt(model));
    assert_int_equal(catalog_model_max_images(model), 1);
    assert_int_equal(catalog_model_prompt_max(model), CATALOG_PROMPT_MAX);

    //  The input KIE gets: every required field explicit, n_frames a string.
    char err[CATALOG_ERR_MAX];
    const char *urls[] = {PHOTO_URL};
    json_t *input = catalog_model_input(model, "A bottle on a table", urls, 1, err);
    assert_non_null(input);
    assert_int_equal(json_object_size(input), 5);
    assert_string_equal(json_string_value(json_object_get(input, "prompt")), "A bottle on a table");
    json_t *images = json_object_get(input, "image_urls");
    assert_true(json_is_array(images));
    assert_int_equal(json_array_size(images), 1);
    assert_string_equal(json_string_value(json_array_get(images, 0)), PHOTO_URL);
    assert_string_equal(json_string_value(json_object_get(input, "aspect_ratio")), "portrait");
    assert_true(json_is_string(json_object_get(input, "n_frames")));
    assert_string_equal(json_string_value(json_object_get(input, "n_frames")), "10");
    assert_true(json_is_true(json_object_get(input, "remove_watermark")));
    json_decref(input);
    catalog_destroy(&catalog);
    assert_null(catalog);
    catalog_destroy(&catalog); //  twice is fine
}

static void test_valid_catalog(void **state) {
    (void)state;
    char err[CATALOG_ERR_MAX] = "x";
    catalog_t *catalog = s_load(s_valid, err);
    if (!catalog) fail_msg("%s", err);
    assert_string_equal(err, "");
    assert_int_equal(catalog_count(catalog), 3);
    assert_int_equal(catalog_enabled_count(catalog), 2);
    assert_string_equal(catalog_model_id(catalog_enabled_at(catalog, 0)), "google/nano-banana");
    assert_string_equal(catalog_model_id(catalog_enabled_at(catalog, 1)), "kling");

    const catalog_model_t *sora = catalog_find(catalog, "sora-15s");
    assert_non_null(sora);
    assert_false(catalog_model_enabled(sora));
    assert_int_equal(catalog_price(catalog, "sora-15s"), 2); //  disabled keeps its price
    assert_string_equal(catalog_model_slug(sora), "sora-2-image-to-video");
    assert_string_equal(catalog_model_title(sora, "ru"), "Sora 2 — 15 секунд");
    assert_int_equal(catalog_model_prompt_max(sora), 500);

    const catalog_model_t *banana = catalog_find(catalog, "google/nano-banana");
    assert_int_equal(catalog_model_kind(banana), CATALOG_KIND_IMAGE);
    assert_string_equal(catalog_kind_name(CATALOG_KIND_IMAGE), "image");
    assert_string_equal(catalog_model_slug(banana), "google/nano-banana");
    assert_false(catalog_model_needs_photo(banana));
    assert_int_equal(catalog_model_max_images(banana), 0);
    json_t *input = catalog_model_input(banana, "a cat", NULL, 0, err);
    assert_non_null(input);
    assert_string_equal(json_string_value(json_object_get(input, "text")), "a cat");
    assert_null(json_object_get(input, "prompt"));
    assert_null(json_object_get(input, "image_urls"));
    assert_string_equal(json_string_value(json_object_get(input, "output_format")), "png");
    json_decref(input);

    //  image_as_array false: one URL as a string.
    const catalog_model_t *kling = catalog_find(catalog, "kling");
    const char *urls[] = {PHOTO_URL};
    input = catalog_model_input(kling, "move", urls, 1, err);
    assert_non_null(input);
    assert_string_equal(json_string_value(json_object_get(input, "image_url")), PHOTO_URL);
    json_decref(input);
    catalog_destroy(&catalog);
}

static void test_file(void **state) {
    (void)state;
    char path[] = "/tmp/genbot-test-catalog-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, s_valid, strlen(s_valid)), (ssize_t)strlen(s_valid));
    close(fd);
    char err[CATALOG_ERR_MAX];
    catalog_t *catalog = catalog_load_file(path, err);
    if (!catalog) fail_msg("%s", err);
    assert_int_equal(catalog_count(catalog), 3);
    catalog_destroy(&catalog);

    //  An invalid file: the error starts with the path.
    FILE *file = fopen(path, "w");
    fputs("{\"models\": []}", file);
    fclose(file);
    assert_null(catalog_load_file(path, err));
    assert_true(strncmp(err, path, strlen(path)) == 0);
    assert_non_null(strstr(err, "models: must be a non-empty array"));

    //  Too big.
    file = fopen(path, "w");
    for (int i = 0; i <= CATALOG_FILE_MAX / 8; i++)
        fputs("        ", file);
    fclose(file);
    assert_null(catalog_load_file(path, err));
    assert_non_null(strstr(err, "larger than"));
    unlink(path);

    assert_null(catalog_load_file(path, err)); //  gone
    assert_non_null(strstr(err, "No such file"));
    assert_null(catalog_load_file(NULL, err));
    assert_null(catalog_load_file("", NULL)); //  err may be NULL
}

//  Each row: a model entry (inside {"models": [ENTRY]}) or a whole catalog,
//  and a fragment of the error it must give.
#define OK_MODEL                                                                                   \
    "\"id\": \"m\", \"title\": {\"ru\": \"р\", \"en\": \"e\"}, \"kind\": \"video\", "             \
    "\"price\": 1, \"needs\": [\"photo\", \"prompt\"]"

static void test_invalid(void **state) {
    (void)state;
    const struct {
        const char *entry; //  NULL: use whole
        const char *whole;
        const char *fragment;
    } rows[] = {
        //  The whole file.
        {NULL, "", "line 1 column 0"},
        {NULL, "{\"models\": [", "line 1 column"},
        {NULL, "[]", "catalog: must be an object"},
        {NULL, "{}", "models: must be a non-empty array"},
        {NULL, "{\"models\": []}", "models: must be a non-empty array"},
        {NULL, "{\"models\": {}}", "models: must be a non-empty array"},
        {NULL, "{\"models\": [{" OK_MODEL "}], \"extra\": 1}", "extra: unknown key"},
        {NULL, "{\"models\": [{" OK_MODEL "}], \"models\": []}", "duplicate object key"},
        {NULL, "{\"models\": [{" OK_MODEL "}, {" OK_MODEL "}]}",
         "models[1].id: \"m\" is also models[0].id"},
        {NULL, "{\"models\": [{" OK_MODEL ", \"enabled\": false}]}", "models: no model is enabled"},
        {NULL, "{\"models\": [1]}", "models[0]: must be an object"},
        //  One entry.
        {"\"title\": {\"ru\": \"р\", \"en\": \"e\"}, \"kind\": \"video\", \"price\": 1, "
         "\"needs\": []",
         NULL, "models[0].id: is required"},
        {OK_MODEL ", \"colour\": \"red\"", NULL, "models[0].colour: unknown key"},
        {OK_MODEL ", \"price\": 0", NULL, "duplicate object key"},
        {"\"id\": \"m\", \"title\": {\"ru\": \"р\", \"en\": \"e\"}, \"kind\": \"video\", "
         "\"price\": 0, \"needs\": []",
         NULL, "models[0].price: must be a positive integer"},
        {"\"id\": \"m\", \"title\": {\"ru\": \"р\", \"en\": \"e\"}, \"kind\": \"video\", "
         "\"price\": -3, \"needs\": []",
         NULL, "models[0].price: must be a positive integer"},
        {"\"id\": \"m\", \"title\": {\"ru\": \"р\", \"en\": \"e\"}, \"kind\": \"video\", "
         "\"price\": 1.5, \"needs\": []",
         NULL, "models[0].price: must be a positive integer"},
        {"\"id\": \"m\", \"title\": {\"ru\": \"р\", \"en\": \"e\"}, \"kind\": \"video\", "
         "\"price\": \"1\", \"needs\": []",
         NULL, "models[0].price: must be a positive integer"},
        {"\"id\": \"m\", \"title\": {\"ru\": \"р\", \"en\": \"e\"}, \"kind\": \"video\", "
         "\"price\": 100001, \"needs\": []",
         NULL, "models[0].price: at most 100000"},
        {"\"id\": \"m\", \"title\": {\"ru\": \"р\", \"en\": \"e\"}, \"kind\": \"video\", "
         "\"needs\": []",
         NULL, "models[0].price: is required"},
        {"\"id\": \"m\", \"title\": {\"ru\": \"р\", \"en\": \"e\"}, \"kind\": \"video\", "
         "\"price\": 1",
         NULL, "models[0].needs: is required"},
        {"\"id\": \"\", \"title\": {\"ru\": \"р\", \"en\": \"e\"}, \"kind\": \"video\", "
         "\"price\": 1, \"needs\": []",
         NULL, "models[0].id: must be 1..63 characters"},
        {"\"id\": \"a b\", \"title\": {\"ru\": \"р\", \"en\": \"e\"}, \"kind\": \"video\", "
         "\"price\": 1, \"needs\": []",
         NULL, "models[0].id: must be 1..63 characters"},
        {"\"id\": 7, \"title\": {\"ru\": \"р\", \"en\": \"e\"}, \"kind\": \"video\", "
         "\"price\": 1, \"needs\": []",
         NULL, "models[0].id: must be"},
        {"\"id\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\", "
         "\"title\": {\"ru\": \"р\", \"en\": \"e\"}, \"kind\": \"video\", \"price\": 1, "
         "\"needs\": []",
         NULL, "models[0].id: must be 1..63"},
        {OK_MODEL ", \"model\": \"bad slug\"", NULL, "models[0].model: must be"},
        {"\"id\": \"m\", \"title\": {\"ru\": \"р\"}, \"kind\": \"video\", \"price\": 1, "
         "\"needs\": []",
         NULL, "models[0].title.en: is required"},
        {"\"id\": \"m\", \"title\": {\"en\": \"e\"}, \"kind\": \"video\", \"price\": 1, "
         "\"needs\": []",
         NULL, "models[0].title.ru: is required"},
        {"\"id\": \"m\", \"title\": {\"ru\": \"р\", \"en\": \"e\", \"de\": \"d\"}, "
         "\"kind\": \"video\", \"price\": 1, \"needs\": []",
         NULL, "models[0].title.de: unknown language"},
        {"\"id\": \"m\", \"title\": {\"ru\": \"\", \"en\": \"e\"}, \"kind\": \"video\", "
         "\"price\": 1, \"needs\": []",
         NULL, "models[0].title.ru: must be a non-empty string"},
        {"\"id\": \"m\", \"title\": {\"ru\": \"a\\nb\", \"en\": \"e\"}, \"kind\": \"video\", "
         "\"price\": 1, \"needs\": []",
         NULL, "models[0].title.ru: must be a non-empty string"},
        {"\"id\": \"m\", \"title\": \"Sora\", \"kind\": \"video\", \"price\": 1, \"needs\": []",
         NULL, "models[0].title: must be an object"},
        {"\"id\": \"m\", \"title\": {\"ru\": \"р\", \"en\": \"e\"}, \"kind\": \"audio\", "
         "\"price\": 1, \"needs\": []",
         NULL, "models[0].kind: must be \"video\" or \"image\""},
        {OK_MODEL ", \"enabled\": \"yes\"", NULL, "models[0].enabled: must be true or false"},
        {"\"id\": \"m\", \"title\": {\"ru\": \"р\", \"en\": \"e\"}, \"kind\": \"video\", "
         "\"price\": 1, \"needs\": [\"photo\", \"photo\"]",
         NULL, "models[0].needs[1]: \"photo\" twice"},
        {"\"id\": \"m\", \"title\": {\"ru\": \"р\", \"en\": \"e\"}, \"kind\": \"video\", "
         "\"price\": 1, \"needs\": [\"video\"]",
         NULL, "models[0].needs[0]: must be \"photo\" or \"prompt\""},
        {"\"id\": \"m\", \"title\": {\"ru\": \"р\", \"en\": \"e\"}, \"kind\": \"video\", "
         "\"price\": 1, \"needs\": \"photo\"",
         NULL, "models[0].needs: must be an array"},
        {OK_MODEL ", \"input\": []", NULL, "models[0].input: must be an object"},
        {OK_MODEL ", \"input\": {\"prompt\": \"fixed\"}", NULL,
         "models[0].input.prompt: set from the user's prompt"},
        {OK_MODEL ", \"input\": {\"image_urls\": []}", NULL,
         "models[0].input.image_urls: set from the user's photo"},
        {OK_MODEL ", \"input\": {\"n_frames\": null}", NULL,
         "models[0].input.n_frames: must not be null"},
        {OK_MODEL ", \"input\": {\"bad key\": 1}", NULL, "models[0].input: field name"},
        {"\"id\": \"m\", \"title\": {\"ru\": \"р\", \"en\": \"e\"}, \"kind\": \"video\", "
         "\"price\": 1, \"needs\": [\"prompt\"], \"image_field\": \"image_urls\"",
         NULL, "models[0].image_field: only with \"photo\" in needs"},
        {"\"id\": \"m\", \"title\": {\"ru\": \"р\", \"en\": \"e\"}, \"kind\": \"video\", "
         "\"price\": 1, \"needs\": [\"photo\"], \"prompt_max\": 100",
         NULL, "models[0].prompt_max: only with \"prompt\" in needs"},
        {OK_MODEL ", \"prompt_max\": 0", NULL, "models[0].prompt_max: must be an integer in"},
        {OK_MODEL ", \"prompt_max\": 10001", NULL, "models[0].prompt_max: must be an integer in"},
        {OK_MODEL ", \"max_images\": 9", NULL, "models[0].max_images: must be an integer in 1..8"},
        {OK_MODEL ", \"max_images\": 2, \"image_as_array\": false", NULL,
         "models[0].max_images: must be 1 when image_as_array is false"},
        {OK_MODEL ", \"image_as_array\": 1", NULL, "models[0].image_as_array: must be true or"},
        {OK_MODEL ", \"prompt_field\": \"x\", \"image_field\": \"x\"", NULL,
         "models[0].image_field: same as prompt_field"},
        {OK_MODEL ", \"prompt_field\": \"\"", NULL, "models[0].prompt_field: must be 1..63"},
        {OK_MODEL ", \"image_field\": \"a-b\"", NULL, "models[0].image_field: must be 1..63"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char text[2048];
        if (rows[i].entry)
            snprintf(text, sizeof text, "{\"models\": [{%s}]}", rows[i].entry);
        else
            snprintf(text, sizeof text, "%s", rows[i].whole);
        char err[CATALOG_ERR_MAX] = "";
        catalog_t *catalog = s_load(text, err);
        if (catalog) {
            catalog_destroy(&catalog);
            fail_msg("row %zu loaded: %s", i, text);
        }
        if (!strstr(err, rows[i].fragment))
            fail_msg("row %zu: error \"%s\", expected \"%s\"", i, err, rows[i].fragment);
        assert_null(strchr(err, '\n'));
    }
    //  The second model is the bad one: the error names it.
    char err[CATALOG_ERR_MAX];
    const char *second = "{\"models\": [{" OK_MODEL "}, {\"id\": \"n\", \"title\": {\"ru\": "
                         "\"р\", \"en\": \"e\"}, \"kind\": \"video\", \"price\": 0, \"needs\": "
                         "[]}]}";
    assert_null(s_load(second, err));
    assert_string_equal(err, "models[1].price: must be a positive integer");
    //  Too many models.
    char *many = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&many, &size);
    fputs("{\"models\": [", out);
    for (int i = 0; i <= CATALOG_MAX_MODELS; i++)
        fprintf(out,
                "%s{\"id\": \"m%d\", \"title\": {\"ru\": \"р\", \"en\": \"e\"}, \"kind\": "
                "\"video\", \"price\": 1, \"needs\": []}",
                i ? "," : "", i);
    fputs("]}", out);
    fclose(out);
    assert_null(s_load(many, err));
    assert_string_equal(err, "models: at most 32 models");
    free(many);
    //  NULL text, NULL err.
    assert_null(catalog_load_string(NULL, 0, err));
    assert_null(catalog_load_string("{", 1, NULL));
}

//  Every prefix of a valid catalog fails cleanly (no crash, no leak).
static void test_truncated(void **state) {
    (void)state;
    size_t length = strlen(s_valid);
    for (size_t cut = 0; cut < length; cut++) {
        char err[CATALOG_ERR_MAX];
        catalog_t *catalog = catalog_load_string(s_valid, cut, err);
        if (catalog) fail_msg("prefix of %zu bytes loaded", cut);
        assert_true(*err);
    }
}

static void test_model_input_errors(void **state) {
    (void)state;
    catalog_t *catalog = catalog_new_default();
    const catalog_model_t *model = catalog_at(catalog, 0);
    char err[CATALOG_ERR_MAX];
    const char *one[] = {PHOTO_URL};
    const char *two[] = {PHOTO_URL, PHOTO_URL};
    const struct {
        const char *prompt;
        const char *const *urls;
        size_t count;
        const char *fragment;
    } rows[] = {
        {NULL, one, 1, "prompt: sora-2-image-to-video needs a prompt"},
        {"", one, 1, "needs a prompt"},
        {"   \n\t", one, 1, "prompt: only white space"},
        {"\xff\xfe bad", one, 1, "prompt: not valid UTF-8"},
        {"a cat", NULL, 0, "image_urls: sora-2-image-to-video needs 1..1 image URLs, not 0"},
        {"a cat", two, 2, "needs 1..1 image URLs, not 2"},
        {"a cat", (const char *[]){"ftp://x/y.jpg"}, 1, "image_urls[0]: not an http(s) URL"},
        {"a cat", (const char *[]){"https://"}, 1, "image_urls[0]: not an http(s) URL"},
        {"a cat", (const char *[]){"https:///path"}, 1, "image_urls[0]: not an http(s) URL"},
        {"a cat", (const char *[]){"https://x/a b.jpg"}, 1, "image_urls[0]: not an http(s) URL"},
        {"a cat", (const char *[]){NULL}, 1, "image_urls[0]: not an http(s) URL"},
        {"a cat", NULL, 1, "image_urls[0]: not an http(s) URL"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        err[0] = '\0';
        json_t *input =
            catalog_model_input(model, rows[i].prompt, rows[i].urls, rows[i].count, err);
        if (input) {
            json_decref(input);
            fail_msg("row %zu built an input", i);
        }
        if (!strstr(err, rows[i].fragment))
            fail_msg("row %zu: error \"%s\", expected \"%s\"", i, err, rows[i].fragment);
    }
    //  The limit counts characters, not bytes: 10000 Cyrillic letters pass.
    char *prompt = malloc(2 * CATALOG_PROMPT_MAX + 3);
    for (int i = 0; i < CATALOG_PROMPT_MAX; i++)
        memcpy(prompt + 2 * i, "я", 2);
    prompt[2 * CATALOG_PROMPT_MAX] = '\0';
    json_t *input = catalog_model_input(model, prompt, one, 1, err);
    assert_non_null(input);
    json_decref(input);
    memcpy(prompt + 2 * CATALOG_PROMPT_MAX, "я", 3);
    assert_null(catalog_model_input(model, prompt, one, 1, err));
    assert_string_equal(err, "prompt: 10001 characters, at most 10000");
    free(prompt);
    //  err may be NULL.
    assert_null(catalog_model_input(model, NULL, one, 1, NULL));
    catalog_destroy(&catalog);

    //  A model without photo or prompt takes neither.
    catalog = s_load("{\"models\": [{\"id\": \"x\", \"title\": {\"ru\": \"р\", \"en\": \"e\"}, "
                     "\"kind\": \"image\", \"price\": 1, \"needs\": []}]}",
                     err);
    assert_non_null(catalog);
    model = catalog_at(catalog, 0);
    assert_null(catalog_model_input(model, "a cat", NULL, 0, err));
    assert_string_equal(err, "prompt: x takes no prompt");
    assert_null(catalog_model_input(model, NULL, one, 1, err));
    assert_string_equal(err, "image_urls: x takes no image");
    input = catalog_model_input(model, "", NULL, 0, err);
    assert_non_null(input);
    assert_int_equal(json_object_size(input), 0);
    json_decref(input);
    catalog_destroy(&catalog);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default),   cmocka_unit_test(test_valid_catalog),
        cmocka_unit_test(test_file),      cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_truncated), cmocka_unit_test(test_model_input_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
