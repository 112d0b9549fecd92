/*  catalog.c — the model catalog: loading, validation, lookups, and the
    createTask input of a model.

    The built-in catalog is JSON text that goes through the same loader as a
    file, so the default can never bypass validation. A model entry is
    parsed key by key through one table (s_model_keys): a key not in the
    table is an error, a required key missing is an error, and the rules
    between keys (a field that only makes sense with a need) run after.

    Invariants of a loaded catalog: 1..CATALOG_MAX_MODELS models with unique
    ids, at least one enabled; every string fits its buffer; `input` is an
    object that holds neither the prompt field nor the image field.
*/
#include "catalog.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct catalog_model_s {
    char id[CATALOG_ID_MAX];
    char slug[CATALOG_ID_MAX];
    char title_ru[CATALOG_TITLE_MAX];
    char title_en[CATALOG_TITLE_MAX];
    catalog_kind_t kind;
    int64_t price;
    bool enabled;
    bool needs_photo;
    bool needs_prompt;
    json_t *input; //  fixed fields, an object we own
    char prompt_field[CATALOG_FIELD_MAX];
    size_t prompt_max;
    char image_field[CATALOG_FIELD_MAX];
    bool image_as_array;
    size_t max_images;
};

struct catalog_s {
    catalog_model_t models[CATALOG_MAX_MODELS];
    size_t count;
    const catalog_model_t *enabled[CATALOG_MAX_MODELS];
    size_t enabled_count;
};

static const char s_default_catalog[] =
    "{\"models\": [{"
    "  \"id\": \"sora-2-image-to-video\","
    "  \"title\": {\"ru\": \"Sora 2 — видео из фото\", \"en\": \"Sora 2 — video from photo\"},"
    "  \"kind\": \"video\","
    "  \"price\": 1,"
    "  \"enabled\": true,"
    "  \"needs\": [\"photo\", \"prompt\"],"
    "  \"input\": {\"aspect_ratio\": \"portrait\", \"n_frames\": \"10\","
    "              \"remove_watermark\": true},"
    "  \"prompt_field\": \"prompt\","
    "  \"image_field\": \"image_urls\","
    "  \"image_as_array\": true,"
    "  \"max_images\": 1"
    "}]}";

static const struct {
    const char *name;
    catalog_kind_t kind;
} s_kinds[] = {{"video", CATALOG_KIND_VIDEO}, {"image", CATALOG_KIND_IMAGE}};

#define KIND_COUNT (sizeof(s_kinds) / sizeof(s_kinds[0]))

//  A model entry's keys. `where` is "models[i].key" for error messages.
typedef int(key_parse_fn)(catalog_model_t *model, json_t *value, const char *where, char *err);

static key_parse_fn s_parse_id, s_parse_slug, s_parse_title, s_parse_kind, s_parse_price,
    s_parse_enabled, s_parse_needs, s_parse_input, s_parse_prompt_field, s_parse_prompt_max,
    s_parse_image_field, s_parse_image_as_array, s_parse_max_images;

typedef enum { NEED_NONE, NEED_PHOTO, NEED_PROMPT } need_t;

static const struct {
    const char *name;
    key_parse_fn *parse;
    bool required;
    need_t only_with; //  allowed only when the model needs this
} s_model_keys[] = {
    {"id", s_parse_id, true, NEED_NONE},
    {"model", s_parse_slug, false, NEED_NONE},
    {"title", s_parse_title, true, NEED_NONE},
    {"kind", s_parse_kind, true, NEED_NONE},
    {"price", s_parse_price, true, NEED_NONE},
    {"enabled", s_parse_enabled, false, NEED_NONE},
    {"needs", s_parse_needs, true, NEED_NONE},
    {"input", s_parse_input, false, NEED_NONE},
    {"prompt_field", s_parse_prompt_field, false, NEED_PROMPT},
    {"prompt_max", s_parse_prompt_max, false, NEED_PROMPT},
    {"image_field", s_parse_image_field, false, NEED_PHOTO},
    {"image_as_array", s_parse_image_as_array, false, NEED_PHOTO},
    {"max_images", s_parse_max_images, false, NEED_PHOTO},
};

#define MODEL_KEY_COUNT (sizeof(s_model_keys) / sizeof(s_model_keys[0]))

static const struct {
    const char *name;
    need_t need;
} s_needs[] = {{"photo", NEED_PHOTO}, {"prompt", NEED_PROMPT}};

#define NEED_COUNT (sizeof(s_needs) / sizeof(s_needs[0]))

static int s_parse_model(catalog_model_t *model, json_t *entry, size_t index, char *err);
static int s_check_model(catalog_model_t *model, const bool *seen, size_t index, char *err);
static int s_error(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool s_is_name(const char *text, size_t max, bool allow_punct);
static bool s_is_url(const char *text);
static void s_model_free(catalog_model_t *model);

//  --------------------------------------------------------------------------

catalog_t *catalog_new_default(void) {
    char err[CATALOG_ERR_MAX];
    catalog_t *self = catalog_load_string(s_default_catalog, strlen(s_default_catalog), err);
    //  Only out of memory can fail here: the text is fixed and tested.
    assert(self || strstr(err, "memory"));
    return self;
}

catalog_t *catalog_load_string(const char *text, size_t size, char *err) {
    char scratch[CATALOG_ERR_MAX];
    if (!err) err = scratch;
    err[0] = '\0';
    if (!text) {
        s_error(err, "catalog: no text");
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_loadb(text, size, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        s_error(err, "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    catalog_t *self = calloc(1, sizeof(catalog_t));
    if (!self) {
        json_decref(root);
        s_error(err, "catalog: out of memory");
        return NULL;
    }
    int rc = 0;
    json_t *models = NULL;
    if (!json_is_object(root))
        rc = s_error(err, "catalog: must be an object with \"models\"");
    else {
        const char *key;
        json_t *value;
        json_object_foreach(root, key, value) {
            if (strcmp(key, "models") != 0) {
                rc = s_error(err, "%s: unknown key", key);
                break;
            }
        }
        models = json_object_get(root, "models");
    }
    if (rc == 0 && (!json_is_array(models) || json_array_size(models) == 0))
        rc = s_error(err, "models: must be a non-empty array");
    if (rc == 0 && json_array_size(models) > CATALOG_MAX_MODELS)
        rc = s_error(err, "models: at most %d models", CATALOG_MAX_MODELS);
    for (size_t i = 0; rc == 0 && i < json_array_size(models); i++) {
        catalog_model_t *model = &self->models[i];
        self->count = i + 1; //  so that destroy frees a half-parsed model
        rc = s_parse_model(model, json_array_get(models, i), i, err);
        for (size_t j = 0; rc == 0 && j < i; j++)
            if (strcmp(self->models[j].id, model->id) == 0)
                rc = s_error(err, "models[%zu].id: \"%s\" is also models[%zu].id", i, model->id, j);
        if (rc == 0 && model->enabled) self->enabled[self->enabled_count++] = model;
    }
    if (rc == 0 && self->enabled_count == 0) rc = s_error(err, "models: no model is enabled");
    json_decref(root);
    if (rc) catalog_destroy(&self);
    return self;
}

catalog_t *catalog_load_file(const char *path, char *err) {
    char scratch[CATALOG_ERR_MAX];
    if (!err) err = scratch;
    err[0] = '\0';
    if (!path || !*path) {
        s_error(err, "catalog: no path");
        return NULL;
    }
    FILE *file = fopen(path, "rb");
    if (!file) {
        s_error(err, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *text = malloc(CATALOG_FILE_MAX + 1);
    size_t size = text ? fread(text, 1, CATALOG_FILE_MAX + 1, file) : 0;
    int read_error = ferror(file);
    fclose(file);
    catalog_t *self = NULL;
    if (!text)
        s_error(err, "%s: out of memory", path);
    else if (read_error)
        s_error(err, "%s: read error", path);
    else if (size > CATALOG_FILE_MAX)
        s_error(err, "%s: larger than %d bytes", path, CATALOG_FILE_MAX);
    else {
        char inner[CATALOG_ERR_MAX];
        self = catalog_load_string(text, size, inner);
        if (!self) s_error(err, "%s: %s", path, inner);
    }
    free(text);
    return self;
}

void catalog_destroy(catalog_t **self_p) {
    assert(self_p);
    catalog_t *self = *self_p;
    if (!self) return;
    for (size_t i = 0; i < self->count; i++)
        s_model_free(&self->models[i]);
    free(self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------

size_t catalog_count(const catalog_t *self) {
    assert(self);
    return self->count;
}

const catalog_model_t *catalog_at(const catalog_t *self, size_t index) {
    assert(self);
    return index < self->count ? &self->models[index] : NULL;
}

const catalog_model_t *catalog_find(const catalog_t *self, const char *id) {
    assert(self);
    if (!id) return NULL;
    for (size_t i = 0; i < self->count; i++)
        if (strcmp(self->models[i].id, id) == 0) return &self->models[i];
    return NULL;
}

size_t catalog_enabled_count(const catalog_t *self) {
    assert(self);
    return self->enabled_count;
}

const catalog_model_t *catalog_enabled_at(const catalog_t *self, size_t index) {
    assert(self);
    return index < self->enabled_count ? self->enabled[index] : NULL;
}

int64_t catalog_price(const catalog_t *self, const char *id) {
    const catalog_model_t *model = catalog_find(self, id);
    return model ? model->price : -1;
}

const char *catalog_model_id(const catalog_model_t *model) {
    assert(model);
    return model->id;
}

const char *catalog_model_slug(const catalog_model_t *model) {
    assert(model);
    return model->slug;
}

const char *catalog_model_title(const catalog_model_t *model, const char *lang) {
    assert(model);
    return lang && strcmp(lang, "ru") == 0 ? model->title_ru : model->title_en;
}

catalog_kind_t catalog_model_kind(const catalog_model_t *model) {
    assert(model);
    return model->kind;
}

int64_t catalog_model_price(const catalog_model_t *model) {
    assert(model);
    return model->price;
}

bool catalog_model_enabled(const catalog_model_t *model) {
    assert(model);
    return model->enabled;
}

bool catalog_model_needs_photo(const catalog_model_t *model) {
    assert(model);
    return model->needs_photo;
}

bool catalog_model_needs_prompt(const catalog_model_t *model) {
    assert(model);
    return model->needs_prompt;
}

size_t catalog_model_max_images(const catalog_model_t *model) {
    assert(model);
    return model->needs_photo ? model->max_images : 0;
}

size_t catalog_model_prompt_max(const catalog_model_t *model) {
    assert(model);
    return model->needs_prompt ? model->prompt_max : 0;
}

const char *catalog_kind_name(catalog_kind_t kind) {
    for (size_t i = 0; i < KIND_COUNT; i++)
        if (s_kinds[i].kind == kind) return s_kinds[i].name;
    return "?";
}

//  --------------------------------------------------------------------------

json_t *catalog_model_input(const catalog_model_t *model, const char *prompt,
                            const char *const *image_urls, size_t image_count, char *err) {
    assert(model);
    char scratch[CATALOG_ERR_MAX];
    if (!err) err = scratch;
    err[0] = '\0';
    bool has_prompt = prompt && *prompt;
    if (model->needs_prompt && !has_prompt) {
        s_error(err, "prompt: %s needs a prompt", model->id);
        return NULL;
    }
    if (!model->needs_prompt && has_prompt) {
        s_error(err, "prompt: %s takes no prompt", model->id);
        return NULL;
    }
    if (model->needs_photo && (image_count < 1 || image_count > model->max_images)) {
        s_error(err, "image_urls: %s needs 1..%zu image URLs, not %zu", model->id,
                model->max_images, image_count);
        return NULL;
    }
    if (!model->needs_photo && image_count > 0) {
        s_error(err, "image_urls: %s takes no image", model->id);
        return NULL;
    }
    for (size_t i = 0; i < image_count; i++) {
        if (!image_urls || !s_is_url(image_urls[i])) {
            s_error(err, "image_urls[%zu]: not an http(s) URL of printable ASCII under %d bytes", i,
                    CATALOG_URL_MAX);
            return NULL;
        }
    }
    json_t *input = json_object();
    if (!input) {
        s_error(err, "out of memory");
        return NULL;
    }
    int rc = 0;
    if (has_prompt) {
        json_t *text = json_string(prompt); //  NULL for invalid UTF-8
        size_t chars = 0;
        for (const char *c = prompt; *c; c++)
            chars += ((unsigned char)*c & 0xC0) != 0x80;
        if (!text)
            rc = s_error(err, "prompt: not valid UTF-8");
        else if (chars > model->prompt_max)
            rc = s_error(err, "prompt: %zu characters, at most %zu", chars, model->prompt_max);
        else if (strspn(prompt, " \t\r\n") == strlen(prompt))
            rc = s_error(err, "prompt: only white space");
        if (rc == 0 && json_object_set_new(input, model->prompt_field, text)) {
            rc = s_error(err, "out of memory");
            text = NULL;
        }
        if (rc) json_decref(text);
    }
    if (rc == 0 && image_count > 0) {
        json_t *images = model->image_as_array ? json_array() : json_string(image_urls[0]);
        for (size_t i = 0; images && model->image_as_array && i < image_count; i++)
            if (json_array_append_new(images, json_string(image_urls[i]))) {
                json_decref(images);
                images = NULL;
            }
        if (!images || json_object_set_new(input, model->image_field, images))
            rc = s_error(err, "out of memory");
    }
    //  The fixed fields cannot collide with the two above (checked at load).
    const char *key;
    json_t *value;
    json_object_foreach(model->input, key, value) {
        if (rc) break;
        if (json_object_set_new(input, key, json_deep_copy(value)))
            rc = s_error(err, "out of memory");
    }
    if (rc) {
        json_decref(input);
        return NULL;
    }
    return input;
}

//  --------------------------------------------------------------------------
//  One model entry: every key through s_model_keys, then the rules between
//  keys.

static int s_parse_model(catalog_model_t *model, json_t *entry, size_t index, char *err) {
    if (!json_is_object(entry)) return s_error(err, "models[%zu]: must be an object", index);
    model->enabled = true;
    model->image_as_array = true;
    model->max_images = 1;
    model->prompt_max = CATALOG_PROMPT_MAX;
    snprintf(model->prompt_field, sizeof model->prompt_field, "prompt");
    snprintf(model->image_field, sizeof model->image_field, "image_urls");
    bool seen[MODEL_KEY_COUNT] = {false};
    const char *key;
    json_t *value;
    json_object_foreach(entry, key, value) {
        char where[CATALOG_ERR_MAX / 2];
        snprintf(where, sizeof where, "models[%zu].%.64s", index, key);
        size_t k = 0;
        while (k < MODEL_KEY_COUNT && strcmp(s_model_keys[k].name, key) != 0)
            k++;
        if (k == MODEL_KEY_COUNT) return s_error(err, "%s: unknown key", where);
        seen[k] = true;
        if (s_model_keys[k].parse(model, value, where, err)) return -1;
    }
    return s_check_model(model, seen, index, err);
}

static int s_check_model(catalog_model_t *model, const bool *seen, size_t index, char *err) {
    bool seen_slug = false, seen_max_images = false;
    for (size_t k = 0; k < MODEL_KEY_COUNT; k++) {
        const char *name = s_model_keys[k].name;
        if (s_model_keys[k].required && !seen[k])
            return s_error(err, "models[%zu].%s: is required", index, name);
        need_t need = s_model_keys[k].only_with;
        bool allowed = need == NEED_NONE || (need == NEED_PHOTO && model->needs_photo) ||
                       (need == NEED_PROMPT && model->needs_prompt);
        if (seen[k] && !allowed)
            return s_error(err, "models[%zu].%s: only with \"%s\" in needs", index, name,
                           need == NEED_PHOTO ? "photo" : "prompt");
        if (seen[k] && strcmp(name, "model") == 0) seen_slug = true;
        if (seen[k] && strcmp(name, "max_images") == 0) seen_max_images = true;
    }
    if (!seen_slug) memcpy(model->slug, model->id, sizeof model->slug);
    if (!model->input) {
        model->input = json_object();
        if (!model->input) return s_error(err, "out of memory");
    }
    if (model->needs_photo && !model->image_as_array && seen_max_images && model->max_images != 1)
        return s_error(err, "models[%zu].max_images: must be 1 when image_as_array is false",
                       index);
    if (model->needs_photo && model->needs_prompt &&
        strcmp(model->prompt_field, model->image_field) == 0)
        return s_error(err, "models[%zu].image_field: same as prompt_field", index);
    if (model->needs_prompt && json_object_get(model->input, model->prompt_field))
        return s_error(err, "models[%zu].input.%s: set from the user's prompt, not fixed", index,
                       model->prompt_field);
    if (model->needs_photo && json_object_get(model->input, model->image_field))
        return s_error(err, "models[%zu].input.%s: set from the user's photo, not fixed", index,
                       model->image_field);
    return 0;
}

static int s_parse_id(catalog_model_t *model, json_t *value, const char *where, char *err) {
    const char *text = json_string_value(value);
    if (!text || !s_is_name(text, CATALOG_ID_MAX, true))
        return s_error(err, "%s: must be 1..%d characters of A-Z a-z 0-9 . _ / -", where,
                       CATALOG_ID_MAX - 1);
    snprintf(model->id, sizeof model->id, "%s", text);
    return 0;
}

static int s_parse_slug(catalog_model_t *model, json_t *value, const char *where, char *err) {
    const char *text = json_string_value(value);
    if (!text || !s_is_name(text, CATALOG_ID_MAX, true))
        return s_error(err, "%s: must be 1..%d characters of A-Z a-z 0-9 . _ / -", where,
                       CATALOG_ID_MAX - 1);
    snprintf(model->slug, sizeof model->slug, "%s", text);
    return 0;
}

static int s_parse_title(catalog_model_t *model, json_t *value, const char *where, char *err) {
    if (!json_is_object(value))
        return s_error(err, "%s: must be an object {\"ru\": ..., \"en\": ...}", where);
    const char *lang;
    json_t *text;
    json_object_foreach(value, lang, text) {
        char *into = strcmp(lang, "ru") == 0   ? model->title_ru
                     : strcmp(lang, "en") == 0 ? model->title_en
                                               : NULL;
        if (!into) return s_error(err, "%s.%.32s: unknown language (ru, en)", where, lang);
        const char *title = json_string_value(text);
        bool valid = title && *title && strlen(title) < CATALOG_TITLE_MAX;
        for (const char *c = title; valid && *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f) valid = false;
        if (!valid)
            return s_error(err, "%s.%s: must be a non-empty string under %d bytes, one line", where,
                           lang, CATALOG_TITLE_MAX);
        snprintf(into, CATALOG_TITLE_MAX, "%s", title);
    }
    if (!*model->title_ru) return s_error(err, "%s.ru: is required", where);
    if (!*model->title_en) return s_error(err, "%s.en: is required", where);
    return 0;
}

static int s_parse_kind(catalog_model_t *model, json_t *value, const char *where, char *err) {
    const char *text = json_string_value(value);
    for (size_t i = 0; text && i < KIND_COUNT; i++)
        if (strcmp(text, s_kinds[i].name) == 0) {
            model->kind = s_kinds[i].kind;
            return 0;
        }
    return s_error(err, "%s: must be \"video\" or \"image\"", where);
}

static int s_parse_price(catalog_model_t *model, json_t *value, const char *where, char *err) {
    if (!json_is_integer(value) || json_integer_value(value) < 1)
        return s_error(err, "%s: must be a positive integer", where);
    if (json_integer_value(value) > CATALOG_MAX_PRICE)
        return s_error(err, "%s: at most %d", where, CATALOG_MAX_PRICE);
    model->price = json_integer_value(value);
    return 0;
}

static int s_parse_enabled(catalog_model_t *model, json_t *value, const char *where, char *err) {
    if (!json_is_boolean(value)) return s_error(err, "%s: must be true or false", where);
    model->enabled = json_is_true(value);
    return 0;
}

static int s_parse_needs(catalog_model_t *model, json_t *value, const char *where, char *err) {
    if (!json_is_array(value))
        return s_error(err, "%s: must be an array of \"photo\", \"prompt\"", where);
    size_t i;
    json_t *item;
    json_array_foreach(value, i, item) {
        const char *text = json_string_value(item);
        need_t need = NEED_NONE;
        for (size_t n = 0; text && n < NEED_COUNT; n++)
            if (strcmp(text, s_needs[n].name) == 0) need = s_needs[n].need;
        if (need == NEED_NONE)
            return s_error(err, "%s[%zu]: must be \"photo\" or \"prompt\"", where, i);
        bool *flag = need == NEED_PHOTO ? &model->needs_photo : &model->needs_prompt;
        if (*flag) return s_error(err, "%s[%zu]: \"%s\" twice", where, i, text);
        *flag = true;
    }
    return 0;
}

static int s_parse_input(catalog_model_t *model, json_t *value, const char *where, char *err) {
    if (!json_is_object(value)) return s_error(err, "%s: must be an object", where);
    const char *key;
    json_t *field;
    json_object_foreach(value, key, field) {
        if (!s_is_name(key, CATALOG_FIELD_MAX, false))
            return s_error(err, "%s: field name \"%.32s\" must be 1..%d of A-Z a-z 0-9 _", where,
                           key, CATALOG_FIELD_MAX - 1);
        if (json_is_null(field)) return s_error(err, "%s.%s: must not be null", where, key);
    }
    model->input = json_deep_copy(value);
    return model->input ? 0 : s_error(err, "out of memory");
}

static int s_parse_field_name(char *into, json_t *value, const char *where, char *err) {
    const char *text = json_string_value(value);
    if (!text || !s_is_name(text, CATALOG_FIELD_MAX, false))
        return s_error(err, "%s: must be 1..%d characters of A-Z a-z 0-9 _", where,
                       CATALOG_FIELD_MAX - 1);
    snprintf(into, CATALOG_FIELD_MAX, "%s", text);
    return 0;
}

static int s_parse_prompt_field(catalog_model_t *model, json_t *value, const char *where,
                                char *err) {
    return s_parse_field_name(model->prompt_field, value, where, err);
}

static int s_parse_image_field(catalog_model_t *model, json_t *value, const char *where,
                               char *err) {
    return s_parse_field_name(model->image_field, value, where, err);
}

static int s_parse_prompt_max(catalog_model_t *model, json_t *value, const char *where, char *err) {
    json_int_t max = json_integer_value(value);
    if (!json_is_integer(value) || max < 1 || max > CATALOG_PROMPT_MAX)
        return s_error(err, "%s: must be an integer in 1..%d", where, CATALOG_PROMPT_MAX);
    model->prompt_max = (size_t)max;
    return 0;
}

static int s_parse_image_as_array(catalog_model_t *model, json_t *value, const char *where,
                                  char *err) {
    if (!json_is_boolean(value)) return s_error(err, "%s: must be true or false", where);
    model->image_as_array = json_is_true(value);
    return 0;
}

static int s_parse_max_images(catalog_model_t *model, json_t *value, const char *where, char *err) {
    json_int_t max = json_integer_value(value);
    if (!json_is_integer(value) || max < 1 || max > CATALOG_MAX_IMAGES)
        return s_error(err, "%s: must be an integer in 1..%d", where, CATALOG_MAX_IMAGES);
    model->max_images = (size_t)max;
    return 0;
}

//  --------------------------------------------------------------------------

//  Writes one line into err (CATALOG_ERR_MAX bytes) and returns -1.
static int s_error(char *err, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    vsnprintf(err, CATALOG_ERR_MAX, fmt, args);
    va_end(args);
    return -1;
}

//  1..max-1 bytes of [A-Za-z0-9_], plus [./-] when allow_punct.
static bool s_is_name(const char *text, size_t max, bool allow_punct) {
    size_t length = strlen(text);
    if (length == 0 || length >= max) return false;
    for (const char *c = text; *c; c++) {
        bool ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                  (*c >= '0' && *c <= '9') || *c == '_' ||
                  (allow_punct && (*c == '.' || *c == '/' || *c == '-'));
        if (!ok) return false;
    }
    return true;
}

//  http(s)://host... of printable ASCII without spaces, under CATALOG_URL_MAX.
static bool s_is_url(const char *text) {
    if (!text) return false;
    size_t length = strlen(text);
    size_t scheme = strncmp(text, "https://", 8) == 0  ? 8
                    : strncmp(text, "http://", 7) == 0 ? 7
                                                       : 0;
    if (scheme == 0 || length <= scheme || length >= CATALOG_URL_MAX) return false;
    if (text[scheme] == '/') return false; //  no host
    for (const char *c = text; *c; c++)
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f) return false;
    return true;
}

static void s_model_free(catalog_model_t *model) {
    json_decref(model->input);
    model->input = NULL;
}
