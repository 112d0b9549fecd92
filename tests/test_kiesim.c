/*  test_kiesim.c — the simulated KIE.ai server, driven over HTTP with
    libcurl as genbot drives the real one.

    Each test starts its own simulator on an ephemeral port with a clock
    the test moves by hand (tasks progress with it), and destroys it after.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kiesim.h"

#define KEY_A       "kie-test-key-aaaaaaaaaaaaaaaa"
#define KEY_B       "kie-test-key-bbbbbbbbbbbbbbbb"
#define KEY_POOR    "kie-test-key-poor"
#define KEY_LIMITED "kie-test-key-limited"
#define HMAC_KEY    "whsec-test-key"
#define IMAGE_URL   "https://example.com/photo.jpg"
#define T0          1700000000000LL   //  the test clock starts at a Unix ms instant
#define BODY_KEEP   (4 * 1024 * 1024) //  bytes of a response body kept

typedef struct {
    CURLcode rc;
    long status;
    char *body;  //  the first BODY_KEEP bytes, NUL-terminated
    size_t size; //  all bytes received
    char content_type[64];
    curl_off_t content_length;
    json_t *json; //  body parsed, or NULL
} resp_t;

static _Atomic int64_t s_now = T0;
static kiesim_t *s_sim;
static CURL *s_curl;
//  A new connection per request. libcurl re-sends a request (POST too)
//  once when a reused connection closes before any answer: a dropped
//  request is only seen as dropped on a fresh connection.
static bool s_fresh;

static int64_t s_clock(void *arg) {
    (void)arg;
    return atomic_load(&s_now);
}

static void s_advance(int64_t ms) {
    atomic_fetch_add(&s_now, ms);
}

static long s_scaled(long n) {
    const char *scale = getenv("GENBOT_TEST_SCALE");
    long s = scale ? atol(scale) : 1;
    return s > 1 ? n / s : n;
}

static double s_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

//  Options every test starts from: the test clock, tasks of 1 s visible at
//  once, two rich keys, a poor one and a rate-limited one.
static void s_options(kiesim_options_t *options) {
    static const kiesim_key_t keys[] = {
        {KEY_A, 1000000, 0, 0, KIESIM_KEY_VALID},
        {KEY_B, 1000000, 0, 0, KIESIM_KEY_VALID},
        {KEY_POOR, 60, 0, 0, KIESIM_KEY_VALID},
        {KEY_LIMITED, 1000000, 3, 1000, KIESIM_KEY_VALID},
    };
    kiesim_options_init(options);
    options->clock = s_clock;
    options->seed = 42;
    options->keys = keys;
    options->key_count = sizeof keys / sizeof keys[0];
    options->behaviour.task_duration_ms = 1000;
    options->behaviour.visibility_delay_ms = 0;
}

static void s_start(const kiesim_options_t *options) {
    s_sim = kiesim_new(options);
    assert_non_null(s_sim);
}

static int s_setup(void **state) {
    (void)state;
    atomic_store(&s_now, T0);
    s_fresh = false;
    s_curl = curl_easy_init();
    return s_curl ? 0 : -1;
}

static int s_teardown(void **state) {
    (void)state;
    kiesim_destroy(&s_sim);
    kiesim_destroy(&s_sim); //  twice is safe
    curl_easy_cleanup(s_curl);
    return 0;
}

//  --------------------------------------------------------------------------
//  HTTP

static size_t s_write(char *data, size_t size, size_t count, void *arg) {
    resp_t *resp = arg;
    size_t n = size * count;
    if (resp->size < BODY_KEEP) {
        size_t keep = resp->size + n > BODY_KEEP ? BODY_KEEP - resp->size : n;
        char *grown = realloc(resp->body, resp->size + keep + 1);
        if (!grown) return 0;
        resp->body = grown;
        memcpy(resp->body + resp->size, data, keep);
        resp->body[resp->size + keep] = '\0';
    }
    resp->size += n;
    return n;
}

static resp_t s_request(const char *method, const char *path, const char *key, const char *body,
                        curl_mime *mime) {
    resp_t resp = {0};
    char url[512];
    char auth[256];
    snprintf(url, sizeof url, "%s%s", kiesim_url(s_sim), path);
    struct curl_slist *headers = NULL;
    if (key) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
        headers = curl_slist_append(headers, auth);
    }
    if (body) headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_reset(s_curl);
    curl_easy_setopt(s_curl, CURLOPT_URL, url);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(s_curl, CURLOPT_NOBODY, 1L);
    else
        curl_easy_setopt(s_curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(s_curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(s_curl, CURLOPT_WRITEFUNCTION, s_write);
    curl_easy_setopt(s_curl, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(s_curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s_curl, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(s_curl, CURLOPT_FRESH_CONNECT, s_fresh ? 1L : 0L);
    if (body) curl_easy_setopt(s_curl, CURLOPT_POSTFIELDS, body);
    if (mime) curl_easy_setopt(s_curl, CURLOPT_MIMEPOST, mime);
    resp.rc = curl_easy_perform(s_curl);
    curl_easy_getinfo(s_curl, CURLINFO_RESPONSE_CODE, &resp.status);
    curl_easy_getinfo(s_curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &resp.content_length);
    char *type = NULL;
    curl_easy_getinfo(s_curl, CURLINFO_CONTENT_TYPE, &type);
    snprintf(resp.content_type, sizeof resp.content_type, "%s", type ? type : "");
    curl_slist_free_all(headers);
    if (resp.body && resp.size < BODY_KEEP) resp.json = json_loadb(resp.body, resp.size, 0, NULL);
    return resp;
}

static void s_resp_free(resp_t *resp) {
    free(resp->body);
    json_decref(resp->json);
    memset(resp, 0, sizeof *resp);
}

//  The envelope's code (-1 when there is no envelope).
static int s_code(const resp_t *resp) {
    json_t *code = json_object_get(resp->json, "code");
    return json_is_integer(code) ? (int)json_integer_value(code) : -1;
}

static const char *s_msg(const resp_t *resp) {
    const char *msg = json_string_value(json_object_get(resp->json, "msg"));
    return msg ? msg : "";
}

static json_t *s_data(const resp_t *resp) {
    return json_object_get(resp->json, "data");
}

static const char *s_data_str(const resp_t *resp, const char *field) {
    const char *value = json_string_value(json_object_get(s_data(resp), field));
    return value ? value : "";
}

static json_int_t s_data_int(const resp_t *resp, const char *field) {
    return json_integer_value(json_object_get(s_data(resp), field));
}

//  A createTask body for a prompt (JSON-escaped by jansson).
static char *s_body(const char *model, const char *prompt, const char *image_url,
                    const char *callback) {
    json_t *input = json_pack("{s:s, s:s, s:s, s:b}", "prompt", prompt, "aspect_ratio", "portrait",
                              "n_frames", "10", "remove_watermark", 1);
    if (image_url) json_object_set_new(input, "image_urls", json_pack("[s]", image_url));
    json_t *root = json_pack("{s:s, s:o}", "model", model, "input", input);
    if (callback) json_object_set_new(root, "callBackUrl", json_string(callback));
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return text;
}

static resp_t s_create(const char *key, const char *prompt) {
    char *body = s_body("sora-2-image-to-video", prompt, IMAGE_URL, NULL);
    resp_t resp = s_request("POST", "/api/v1/jobs/createTask", key, body, NULL);
    free(body);
    return resp;
}

//  Creates a task that must be accepted; returns its id (caller frees).
static char *s_create_ok(const char *key, const char *prompt) {
    resp_t resp = s_create(key, prompt);
    assert_int_equal(resp.rc, CURLE_OK);
    assert_int_equal(resp.status, 200);
    assert_int_equal(s_code(&resp), 200);
    assert_string_equal(s_msg(&resp), "success");
    char *id = strdup(s_data_str(&resp, "taskId"));
    assert_true(strncmp(id, "task_", 5) == 0);
    s_resp_free(&resp);
    return id;
}

static resp_t s_poll(const char *key, const char *task_id) {
    char path[256];
    snprintf(path, sizeof path, "/api/v1/jobs/recordInfo?taskId=%s", task_id);
    return s_request("GET", path, key, NULL, NULL);
}

//  The state recordInfo shows (the poll must succeed); progress optional.
static char *s_state(const char *key, const char *task_id, int *progress) {
    resp_t resp = s_poll(key, task_id);
    assert_int_equal(resp.rc, CURLE_OK);
    assert_int_equal(s_code(&resp), 200);
    char *state = strdup(s_data_str(&resp, "state"));
    if (progress) *progress = (int)s_data_int(&resp, "progress");
    s_resp_free(&resp);
    return state;
}

static void s_assert_state(const char *key, const char *task_id, const char *expected) {
    char *state = s_state(key, task_id, NULL);
    assert_string_equal(state, expected);
    free(state);
}

static int64_t s_credits(const char *key) {
    resp_t resp = s_request("GET", "/api/v1/chat/credit", key, NULL, NULL);
    assert_int_equal(s_code(&resp), 200);
    assert_true(json_is_integer(s_data(&resp)));
    int64_t credits = json_integer_value(s_data(&resp));
    s_resp_free(&resp);
    return credits;
}

//  The path part of a URL the simulator gave out.
static const char *s_path_of(const char *url) {
    size_t base = strlen(kiesim_url(s_sim));
    assert_true(strncmp(url, kiesim_url(s_sim), base) == 0);
    return url + base;
}

//  --------------------------------------------------------------------------

//  create -> not visible -> waiting -> queuing -> generating -> success ->
//  result parsed from the resultJson string -> a real MP4 downloaded.
static void test_lifecycle(void **state) {
    (void)state;
    kiesim_options_t options;
    s_options(&options);
    options.behaviour.visibility_delay_ms = 500;
    options.behaviour.task_duration_ms = 10000;
    s_start(&options);
    assert_true(kiesim_port(s_sim) > 0);
    assert_int_equal(s_credits(KEY_A), 1000000);

    char *id = s_create_ok(KEY_A, "a bottle of perfume on a marble table");
    resp_t resp = s_poll(KEY_A, id);
    assert_int_equal(resp.status, 200); //  the error rides in the envelope
    assert_int_equal(s_code(&resp), 422);
    assert_string_equal(s_msg(&resp), "recordInfo is null");
    assert_true(json_is_null(s_data(&resp)));
    s_resp_free(&resp);

    s_advance(500);
    resp = s_poll(KEY_A, id);
    assert_int_equal(s_code(&resp), 200);
    assert_string_equal(s_data_str(&resp, "state"), "waiting");
    assert_string_equal(s_data_str(&resp, "taskId"), id);
    assert_string_equal(s_data_str(&resp, "model"), "sora-2-image-to-video");
    assert_int_equal(s_data_int(&resp, "progress"), 0);
    assert_int_equal(s_data_int(&resp, "createTime"), T0);
    json_t *param = json_loads(s_data_str(&resp, "param"), 0, NULL); //  a JSON string
    assert_non_null(param);
    assert_string_equal(json_string_value(json_object_get(param, "model")),
                        "sora-2-image-to-video");
    assert_string_equal(json_string_value(json_array_get(
                            json_object_get(json_object_get(param, "input"), "image_urls"), 0)),
                        IMAGE_URL);
    json_decref(param);
    s_resp_free(&resp);

    s_advance(1000); //  1.5 s of 10
    s_assert_state(KEY_A, id, "queuing");
    int progress = -1;
    s_advance(2500); //  4 s: a quarter into generating (2 s .. 10 s)
    char *now_state = s_state(KEY_A, id, &progress);
    assert_string_equal(now_state, "generating");
    assert_int_equal(progress, 25);
    free(now_state);
    int before = progress;
    s_advance(2000);
    now_state = s_state(KEY_A, id, &progress);
    assert_string_equal(now_state, "generating");
    assert_true(progress > before);
    assert_int_equal(progress, 50);
    free(now_state);

    s_advance(4000); //  10 s
    resp = s_poll(KEY_A, id);
    assert_int_equal(s_code(&resp), 200);
    assert_string_equal(s_data_str(&resp, "state"), "success");
    assert_int_equal(s_data_int(&resp, "progress"), 100);
    assert_int_equal(s_data_int(&resp, "costTime"), 10000);
    assert_int_equal(s_data_int(&resp, "completeTime") - s_data_int(&resp, "createTime"), 10000);
    json_t *result_json = json_object_get(s_data(&resp), "resultJson");
    assert_true(json_is_string(result_json)); //  a string holding JSON
    json_t *result = json_loads(json_string_value(result_json), 0, NULL);
    assert_non_null(result);
    const char *url = json_string_value(json_array_get(json_object_get(result, "resultUrls"), 0));
    assert_non_null(url);
    char *path = strdup(s_path_of(url));
    json_decref(result);
    s_resp_free(&resp);

    resp = s_request("GET", path, NULL, NULL, NULL);
    assert_int_equal(resp.rc, CURLE_OK);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.content_type, "video/mp4");
    assert_int_equal(resp.size, kiesim_sample_mp4_size);
    assert_memory_equal(resp.body, kiesim_sample_mp4, kiesim_sample_mp4_size);
    assert_memory_equal(resp.body + 4, "ftyp", 4);
    uint32_t ftyp = (uint32_t)(unsigned char)resp.body[0] << 24 |
                    (uint32_t)(unsigned char)resp.body[1] << 16 |
                    (uint32_t)(unsigned char)resp.body[2] << 8 | (unsigned char)resp.body[3];
    assert_true(ftyp >= 16 && ftyp < resp.size);
    assert_memory_equal(resp.body + ftyp + 4, "moov", 4); //  faststart: moov next
    s_resp_free(&resp);

    assert_int_equal(s_credits(KEY_A), 1000000 - KIESIM_TASK_COST);
    kiesim_stats_t stats;
    kiesim_stats(s_sim, &stats);
    assert_int_equal(stats.creates, 1);
    assert_int_equal(stats.polls, 6);
    assert_int_equal(stats.polls_not_found, 1);
    assert_int_equal(stats.tasks_succeeded, 1);
    assert_int_equal(stats.tasks_in_flight, 0);
    assert_int_equal(stats.downloads, 1);
    free(path);
    free(id);
}

static void s_assert_fail(const char *task_id, const char *code, const char *msg) {
    resp_t resp = s_poll(KEY_A, task_id);
    assert_int_equal(s_code(&resp), 200);
    assert_string_equal(s_data_str(&resp, "state"), "fail");
    assert_string_equal(s_data_str(&resp, "failCode"), code);
    assert_string_equal(s_data_str(&resp, "failMsg"), msg);
    assert_string_equal(s_data_str(&resp, "resultJson"), "");
    s_resp_free(&resp);
}

static void test_scripted_failures(void **state) {
    (void)state;
    kiesim_options_t options;
    s_options(&options);
    s_start(&options);
    int64_t credits = s_credits(KEY_A);
    char *content = s_create_ok(KEY_A, "a logo [[sim:fail=content]]");
    char *people = s_create_ok(KEY_A, "[[sim:fail=people]] a man smiling");
    char *temporary = s_create_ok(KEY_A, "a car [[sim:fail=temporary]]");
    char *never = s_create_ok(KEY_A, "a cat [[sim:never]]");
    char *slow = s_create_ok(KEY_A, "a dog [[sim:duration=5000]]");
    assert_int_equal(s_credits(KEY_A), credits - 5 * KIESIM_TASK_COST);

    s_advance(1000);
    s_assert_fail(content, "400",
                  "This content may violate our guardrails concerning similarity to third-party "
                  "content");
    s_assert_fail(people, "400",
                  "We currently do not support uploads of images containing photorealistic people");
    s_assert_fail(temporary, "500", "Internal server error");
    s_assert_state(KEY_A, slow, "generating");
    //  Failed tasks gave their credits back.
    assert_int_equal(s_credits(KEY_A), credits - 2 * KIESIM_TASK_COST);
    s_advance(4000);
    s_assert_state(KEY_A, slow, "success");
    s_advance(1000000);
    int progress = 0;
    char *never_state = s_state(KEY_A, never, &progress);
    assert_string_equal(never_state, "generating");
    assert_int_equal(progress, 99);
    free(never_state);

    //  Scripted createTask answers: nothing is created.
    resp_t resp = s_create(KEY_A, "x [[sim:create=429]]");
    assert_int_equal(s_code(&resp), 429);
    s_resp_free(&resp);
    resp = s_create(KEY_A, "x [[sim:create=500]]");
    assert_int_equal(s_code(&resp), 500);
    s_resp_free(&resp);
    resp = s_create(KEY_A, "x [[sim:create=500]]");
    assert_int_equal(s_code(&resp), 500); //  every time
    s_resp_free(&resp);
    s_fresh = true;
    resp = s_create(KEY_A, "x [[sim:create=drop]]");
    assert_int_equal(resp.rc, CURLE_GOT_NOTHING);
    s_resp_free(&resp);
    s_fresh = false;
    kiesim_stats_t stats;
    kiesim_stats(s_sim, &stats);
    assert_int_equal(stats.creates, 5);
    assert_int_equal(stats.creates_rejected, 4);

    //  ...xN: the first N calls with that prompt only.
    resp = s_create(KEY_A, "retry me [[sim:create=500x2]]");
    assert_int_equal(s_code(&resp), 500);
    s_resp_free(&resp);
    resp = s_create(KEY_A, "retry me [[sim:create=500x2]]");
    assert_int_equal(s_code(&resp), 500);
    s_resp_free(&resp);
    char *third = s_create_ok(KEY_A, "retry me [[sim:create=500x2]]");

    //  lost: created, but the caller never hears of it.
    s_fresh = true;
    resp = s_create(KEY_A, "lost [[sim:create=lostx1]]");
    assert_int_equal(resp.rc, CURLE_GOT_NOTHING);
    s_resp_free(&resp);
    s_fresh = false;
    json_t *tasks = kiesim_tasks(s_sim);
    json_t *last = json_array_get(tasks, json_array_size(tasks) - 1);
    assert_string_equal(json_string_value(json_object_get(last, "prompt")),
                        "lost [[sim:create=lostx1]]");
    json_decref(tasks);
    kiesim_stats(s_sim, &stats);
    assert_int_equal(stats.creates, 7);

    //  poll=CODExN: the task's first N polls fail.
    char *flaky = s_create_ok(KEY_A, "flaky [[sim:poll=500x2]]");
    resp = s_poll(KEY_A, flaky);
    assert_int_equal(s_code(&resp), 500);
    s_resp_free(&resp);
    resp = s_poll(KEY_A, flaky);
    assert_int_equal(s_code(&resp), 500);
    s_resp_free(&resp);
    s_assert_state(KEY_A, flaky, "waiting");

    //  Mix and unknown markers.
    char *both = s_create_ok(KEY_A, "[[sim:duration=2000]][[sim:fail=temporary]]");
    s_advance(1999);
    s_assert_state(KEY_A, both, "generating");
    s_advance(1);
    s_assert_state(KEY_A, both, "fail");
    resp = s_create(KEY_A, "x [[sim:explode]]");
    assert_int_equal(s_code(&resp), 422);
    assert_non_null(strstr(s_msg(&resp), "[[sim:explode]]"));
    s_resp_free(&resp);
    resp = s_create(KEY_A, "x [[sim:duration=abc]]");
    assert_int_equal(s_code(&resp), 422);
    s_resp_free(&resp);

    kiesim_key_stats_t key_stats;
    assert_int_equal(kiesim_key_stats(s_sim, KEY_A, &key_stats), 0);
    assert_int_equal(key_stats.outcomes[KIESIM_OUTCOME_CONTENT], 2);
    assert_int_equal(key_stats.outcomes[KIESIM_OUTCOME_TEMPORARY], 2);
    assert_int_equal(key_stats.outcomes[KIESIM_OUTCOME_NEVER], 1);
    assert_int_equal(key_stats.outcomes[KIESIM_OUTCOME_SUCCESS], 4);
    assert_int_equal(kiesim_task_state(s_sim, never, NULL), KIESIM_STATE_GENERATING);
    assert_int_equal(kiesim_task_state(s_sim, "task_nope", NULL), -1);
    free(content);
    free(people);
    free(temporary);
    free(never);
    free(slow);
    free(third);
    free(flaky);
    free(both);
}

static void test_auth(void **state) {
    (void)state;
    kiesim_options_t options;
    s_options(&options);
    s_start(&options);
    resp_t resp = s_create("not-a-key", "a cup");
    assert_int_equal(resp.status, 200);
    assert_int_equal(s_code(&resp), 401);
    assert_string_equal(s_msg(&resp), "You do not have access permissions");
    s_resp_free(&resp);
    resp = s_request("GET", "/api/v1/chat/credit", NULL, NULL, NULL);
    assert_int_equal(s_code(&resp), 401);
    s_resp_free(&resp);

    assert_int_equal(kiesim_key_set_state(s_sim, KEY_B, KIESIM_KEY_UNKNOWN), 0);
    resp = s_create(KEY_B, "a cup");
    assert_int_equal(s_code(&resp), 401);
    s_resp_free(&resp);
    assert_int_equal(kiesim_key_set_state(s_sim, KEY_B, KIESIM_KEY_DISABLED), 0);
    resp = s_request("GET", "/api/v1/chat/credit", KEY_B, NULL, NULL);
    assert_int_equal(s_code(&resp), 401);
    s_resp_free(&resp);
    assert_int_equal(kiesim_key_set_state(s_sim, KEY_B, KIESIM_KEY_OVER_LIMIT), 0);
    resp = s_create(KEY_B, "a cup");
    assert_int_equal(s_code(&resp), 433);
    s_resp_free(&resp);
    assert_int_equal(kiesim_key_set_state(s_sim, KEY_B, KIESIM_KEY_VALID), 0);
    char *id = s_create_ok(KEY_B, "a cup");
    assert_int_equal(kiesim_key_set_state(s_sim, "nobody", KIESIM_KEY_VALID), -1);

    //  A key added at runtime works at once.
    kiesim_key_t extra = {"kie-extra", 100, 0, 0, KIESIM_KEY_VALID};
    assert_int_equal(kiesim_key_add(s_sim, &extra), 0);
    assert_int_equal(s_credits("kie-extra"), 100);
    kiesim_stats_t stats;
    kiesim_stats(s_sim, &stats);
    assert_int_equal(stats.unauthorized, 5);
    free(id);
}

static void test_credits(void **state) {
    (void)state;
    kiesim_options_t options;
    s_options(&options);
    s_start(&options);
    assert_int_equal(s_credits(KEY_POOR), 60);
    char *one = s_create_ok(KEY_POOR, "one");
    char *two = s_create_ok(KEY_POOR, "two");
    resp_t resp = s_create(KEY_POOR, "three");
    assert_int_equal(s_code(&resp), 402);
    s_resp_free(&resp);
    assert_int_equal(s_credits(KEY_POOR), 0);
    assert_int_equal(kiesim_key_set_credits(s_sim, KEY_POOR, 30), 0);
    char *three = s_create_ok(KEY_POOR, "three");
    kiesim_key_stats_t stats;
    assert_int_equal(kiesim_key_stats(s_sim, KEY_POOR, &stats), 0);
    assert_int_equal(stats.creates, 3);
    assert_int_equal(stats.creates_rejected, 1);
    assert_int_equal(stats.credit_calls, 2);
    assert_int_equal(stats.credits, 0);

    //  The cost per task is a behaviour.
    kiesim_behaviour_t behaviour;
    kiesim_behaviour(s_sim, &behaviour);
    behaviour.task_cost = 7;
    kiesim_set_behaviour(s_sim, &behaviour);
    kiesim_key_set_credits(s_sim, KEY_POOR, 10);
    char *four = s_create_ok(KEY_POOR, "four");
    assert_int_equal(s_credits(KEY_POOR), 3);

    //  A failed task gives its credits back when it fails, polled or not.
    kiesim_key_set_credits(s_sim, KEY_POOR, 7);
    char *five = s_create_ok(KEY_POOR, "five [[sim:fail=people]]");
    assert_int_equal(s_credits(KEY_POOR), 0);
    s_advance(1000);
    assert_int_equal(s_credits(KEY_POOR), 7);
    free(five);
    free(one);
    free(two);
    free(three);
    free(four);
}

static void test_rate_limit(void **state) {
    (void)state;
    kiesim_options_t options;
    s_options(&options);
    s_start(&options);
    char *ids[3];
    for (int i = 0; i < 3; i++) {
        ids[i] = s_create_ok(KEY_LIMITED, "limited"); //  at 0, 100, 200 ms
        s_advance(100);
    }
    resp_t resp = s_create(KEY_LIMITED, "limited");
    assert_int_equal(s_code(&resp), 429);
    s_resp_free(&resp);
    char *other = s_create_ok(KEY_A, "another account is not limited");
    s_advance(699); //  999 ms
    resp = s_create(KEY_LIMITED, "limited");
    assert_int_equal(s_code(&resp), 429);
    s_resp_free(&resp);
    s_advance(1); //  the window has passed the first create only
    char *again = s_create_ok(KEY_LIMITED, "limited");
    for (int i = 0; i < 5; i++) //  polling does not count
        s_assert_state(KEY_LIMITED, again, "waiting");
    resp = s_create(KEY_LIMITED, "limited");
    assert_int_equal(s_code(&resp), 429);
    s_resp_free(&resp);
    s_advance(100); //  and now the second
    free(s_create_ok(KEY_LIMITED, "limited"));

    assert_int_equal(kiesim_key_set_rate_limit(s_sim, KEY_LIMITED, 0, 0), 0);
    for (int i = 0; i < 10; i++)
        free(s_create_ok(KEY_LIMITED, "unlimited now"));
    kiesim_key_stats_t stats;
    kiesim_key_stats(s_sim, KEY_LIMITED, &stats);
    assert_int_equal(stats.creates, 15);
    assert_int_equal(stats.creates_rejected, 3);
    for (int i = 0; i < 3; i++)
        free(ids[i]);
    free(other);
    free(again);
}

static void test_error_styles(void **state) {
    (void)state;
    kiesim_options_t options;
    s_options(&options);
    options.behaviour.p_http_status = 1.0;
    s_start(&options);
    resp_t resp = s_create("nobody", "x");
    assert_int_equal(resp.status, 401);
    assert_int_equal(s_code(&resp), 401); //  the envelope is still there
    s_resp_free(&resp);
    resp = s_poll(KEY_A, "task_0000000000000000");
    assert_int_equal(resp.status, 422);
    assert_string_equal(s_msg(&resp), "recordInfo is null");
    s_resp_free(&resp);
    char *id = s_create_ok(KEY_A, "success is still HTTP 200");

    kiesim_behaviour_t behaviour;
    kiesim_behaviour(s_sim, &behaviour);
    behaviour.p_http_status = 0.5;
    kiesim_set_behaviour(s_sim, &behaviour);
    int real = 0, enveloped = 0;
    for (int i = 0; i < 200; i++) {
        resp = s_create("nobody", "x");
        assert_int_equal(s_code(&resp), 401);
        real += resp.status == 401;
        enveloped += resp.status == 200;
        s_resp_free(&resp);
    }
    assert_int_equal(real + enveloped, 200);
    assert_in_range(real, 60, 140);

    //  Unknown paths and methods are real HTTP errors whatever the style.
    resp = s_request("GET", "/api/v1/nothing", KEY_A, NULL, NULL);
    assert_int_equal(resp.status, 404);
    s_resp_free(&resp);
    resp = s_request("GET", "/api/v1/jobs/createTask", KEY_A, NULL, NULL);
    assert_int_equal(resp.status, 405);
    s_resp_free(&resp);
    free(id);
}

static void s_assert_invalid(const char *body, int code, const char *msg) {
    resp_t resp = s_request("POST", "/api/v1/jobs/createTask", KEY_A, body, NULL);
    assert_int_equal(resp.rc, CURLE_OK);
    if (s_code(&resp) != code) fail_msg("%s -> %s", body, resp.body);
    if (msg && !strstr(s_msg(&resp), msg)) fail_msg("%s -> %s", body, resp.body);
    s_resp_free(&resp);
}

static void test_validation(void **state) {
    (void)state;
    kiesim_options_t options;
    s_options(&options);
    s_start(&options);
    s_assert_invalid("{not json", 422, NULL);
    s_assert_invalid("[1,2]", 422, NULL);
    s_assert_invalid("{\"input\":{\"prompt\":\"x\"}}", 422, "model is required");
    s_assert_invalid("{\"model\":\"sora-3\",\"input\":{\"prompt\":\"x\"}}", 422, "not supported");
    s_assert_invalid("{\"model\":\"sora-2-text-to-video\"}", 422, "input is required");
    s_assert_invalid("{\"model\":\"sora-2-text-to-video\",\"input\":{}}", 422,
                     "input.prompt is required");
    s_assert_invalid("{\"model\":\"sora-2-image-to-video\",\"input\":{\"prompt\":\"x\"}}", 422,
                     "input.image_urls is required");
    s_assert_invalid("{\"model\":\"sora-2-image-to-video\",\"input\":{\"prompt\":\"x\","
                     "\"image_urls\":[]}}",
                     422, "image_urls is required");
    s_assert_invalid("{\"model\":\"sora-2-image-to-video\",\"input\":{\"prompt\":\"x\","
                     "\"image_urls\":[\"file:///etc/passwd\"]}}",
                     422, "http(s)");
    s_assert_invalid("{\"model\":\"sora-2-image-to-video\",\"input\":{\"prompt\":\"x\","
                     "\"image_urls\":\"https://a.b/c.jpg\"}}",
                     422, "http(s)");
    s_assert_invalid("{\"model\":\"sora-2-text-to-video\",\"input\":{\"prompt\":\"x\","
                     "\"n_frames\":10}}",
                     422, "n_frames");
    s_assert_invalid("{\"model\":\"sora-2-text-to-video\",\"input\":{\"prompt\":\"x\","
                     "\"aspect_ratio\":\"square\"}}",
                     422, "aspect_ratio");
    s_assert_invalid("{\"model\":\"sora-2-text-to-video\",\"input\":{\"prompt\":\"x\"},"
                     "\"callBackUrl\":\"not a url\"}",
                     422, "callBackUrl");
    char *long_prompt = malloc(KIESIM_PROMPT_MAX + 2);
    memset(long_prompt, 'a', KIESIM_PROMPT_MAX + 1);
    long_prompt[KIESIM_PROMPT_MAX + 1] = '\0';
    char *body = s_body("sora-2-text-to-video", long_prompt, NULL, NULL);
    s_assert_invalid(body, 422, "at most");
    free(body);
    long_prompt[KIESIM_PROMPT_MAX] = '\0'; //  exactly the limit is fine
    free(s_create_ok(KEY_A, long_prompt));
    free(long_prompt);

    //  The text-to-video model needs no image; a model added at runtime works.
    body = s_body("sora-2-text-to-video", "a sunrise", NULL, NULL);
    resp_t resp = s_request("POST", "/api/v1/jobs/createTask", KEY_A, body, NULL);
    assert_int_equal(s_code(&resp), 200);
    s_resp_free(&resp);
    free(body);
    assert_int_equal(kiesim_model_add(s_sim, "vendor/new-model", false), 0);
    s_assert_invalid("{\"model\":\"vendor/new-model\",\"input\":{\"prompt\":\"x\"}}", 200, NULL);

    //  Missing fields as seen live: 500 "This field is required".
    kiesim_behaviour_t behaviour;
    kiesim_behaviour(s_sim, &behaviour);
    behaviour.missing_field_code = 500;
    kiesim_set_behaviour(s_sim, &behaviour);
    s_assert_invalid("{\"model\":\"sora-2-image-to-video\",\"input\":{\"prompt\":\"x\"}}", 500,
                     "This field is required");
    kiesim_stats_t stats;
    kiesim_stats(s_sim, &stats);
    assert_int_equal(stats.creates, 3);
    assert_int_equal(stats.creates_rejected, 15);
}

static curl_mime *s_mime(const void *bytes, size_t size, const char *file_name,
                         const char *upload_path) {
    curl_mime *mime = curl_mime_init(s_curl);
    curl_mimepart *part = curl_mime_addpart(mime);
    curl_mime_name(part, "file");
    curl_mime_data(part, bytes, size);
    curl_mime_filename(part, "original.jpg");
    curl_mime_type(part, "image/jpeg");
    if (upload_path) {
        part = curl_mime_addpart(mime);
        curl_mime_name(part, "uploadPath");
        curl_mime_data(part, upload_path, CURL_ZERO_TERMINATED);
    }
    if (file_name) {
        part = curl_mime_addpart(mime);
        curl_mime_name(part, "fileName");
        curl_mime_data(part, file_name, CURL_ZERO_TERMINATED);
    }
    return mime;
}

static void test_upload(void **state) {
    (void)state;
    kiesim_options_t options;
    s_options(&options);
    s_start(&options);
    size_t size = 300 * 1024 + 7;
    unsigned char *bytes = malloc(size);
    for (size_t i = 0; i < size; i++)
        bytes[i] = (unsigned char)(i * 7919 + (i >> 8));
    curl_mime *mime = s_mime(bytes, size, "photo-1.jpg", "genbot/inputs");
    resp_t resp = s_request("POST", "/api/file-stream-upload", KEY_A, NULL, mime);
    curl_mime_free(mime);
    assert_int_equal(resp.status, 200);
    assert_int_equal(s_code(&resp), 200);
    assert_true(json_is_true(json_object_get(resp.json, "success")));
    assert_string_equal(s_msg(&resp), "File uploaded successfully");
    assert_true(json_is_true(json_object_get(s_data(&resp), "success")));
    assert_string_equal(s_data_str(&resp, "fileName"), "photo-1.jpg");
    assert_string_equal(s_data_str(&resp, "filePath"), "genbot/inputs/photo-1.jpg");
    assert_string_equal(s_data_str(&resp, "mimeType"), "image/jpeg");
    assert_int_equal(s_data_int(&resp, "fileSize"), size);
    assert_true(strlen(s_data_str(&resp, "uploadedAt")) > 0);
    char *download_url = strdup(s_data_str(&resp, "downloadUrl"));
    s_resp_free(&resp);

    resp = s_request("GET", s_path_of(download_url), NULL, NULL, NULL);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.size, size);
    assert_memory_equal(resp.body, bytes, size);
    assert_string_equal(resp.content_type, "image/jpeg");
    s_resp_free(&resp);

    //  Three videos from one photo: one upload, three tasks naming it.
    char *ids[3];
    for (int i = 0; i < 3; i++) {
        char *body = s_body("sora-2-image-to-video", "from the photo", download_url, NULL);
        resp = s_request("POST", "/api/v1/jobs/createTask", KEY_A, body, NULL);
        ids[i] = strdup(s_data_str(&resp, "taskId"));
        s_resp_free(&resp);
        free(body);
    }
    s_advance(1000);
    for (int i = 0; i < 3; i++) {
        s_assert_state(KEY_A, ids[i], "success");
        free(ids[i]);
    }
    json_t *uploads = kiesim_uploads(s_sim);
    assert_int_equal(json_array_size(uploads), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(uploads, 0), "key")),
                        KEY_A);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(uploads, 0), "downloadUrl")),
        download_url);
    json_decref(uploads);
    json_t *tasks = kiesim_tasks(s_sim);
    size_t i;
    json_t *task;
    json_array_foreach(tasks, i, task) {
        assert_string_equal(
            json_string_value(json_array_get(json_object_get(task, "imageUrls"), 0)), download_url);
    }
    json_decref(tasks);

    //  An upload URL of ours that does not exist, a Telegram URL: the task
    //  cannot fetch its image.
    char bogus[256];
    snprintf(bogus, sizeof bogus, "%s/uploads/0123456789abcdef/x.jpg", kiesim_url(s_sim));
    const char *bad_urls[] = {bogus, "https://api.telegram.org/file/bot123:ABC/photos/file_1.jpg"};
    for (int u = 0; u < 2; u++) {
        char *body = s_body("sora-2-image-to-video", "a photo", bad_urls[u], NULL);
        resp = s_request("POST", "/api/v1/jobs/createTask", KEY_A, body, NULL);
        char *id = strdup(s_data_str(&resp, "taskId"));
        s_resp_free(&resp);
        free(body);
        s_advance(1000);
        resp = s_poll(KEY_A, id);
        assert_string_equal(s_data_str(&resp, "state"), "fail");
        assert_non_null(strstr(s_data_str(&resp, "failMsg"), "Failed to fetch the image"));
        s_resp_free(&resp);
        free(id);
    }

    //  Base64 upload.
    const char *b64_body = "{\"base64Data\":\"data:image/png;base64,aGVsbG8gd29ybGQ=\","
                           "\"uploadPath\":\"b64\",\"fileName\":\"hello.png\"}";
    resp = s_request("POST", "/api/file-base64-upload", KEY_A, b64_body, NULL);
    assert_int_equal(s_code(&resp), 200);
    assert_string_equal(s_data_str(&resp, "mimeType"), "image/png");
    assert_int_equal(s_data_int(&resp, "fileSize"), 11);
    char *b64_url = strdup(s_data_str(&resp, "downloadUrl"));
    s_resp_free(&resp);
    resp = s_request("GET", s_path_of(b64_url), NULL, NULL, NULL);
    assert_int_equal(resp.size, 11);
    assert_memory_equal(resp.body, "hello world", 11);
    s_resp_free(&resp);
    free(b64_url);

    //  Errors: no key, no uploadPath, not multipart, too large.
    mime = s_mime(bytes, 10, "a.jpg", "p");
    resp = s_request("POST", "/api/file-stream-upload", "nobody", NULL, mime);
    curl_mime_free(mime);
    assert_int_equal(s_code(&resp), 401);
    assert_true(json_is_false(json_object_get(resp.json, "success")));
    s_resp_free(&resp);
    mime = s_mime(bytes, 10, "a.jpg", NULL);
    resp = s_request("POST", "/api/file-stream-upload", KEY_A, NULL, mime);
    curl_mime_free(mime);
    assert_int_equal(s_code(&resp), 422);
    s_resp_free(&resp);
    resp = s_request("POST", "/api/file-stream-upload", KEY_A, "{}", NULL);
    assert_int_equal(s_code(&resp), 400);
    s_resp_free(&resp);
    kiesim_behaviour_t behaviour;
    kiesim_behaviour(s_sim, &behaviour);
    behaviour.upload_max_bytes = 100 * 1024;
    kiesim_set_behaviour(s_sim, &behaviour);
    mime = s_mime(bytes, size, "big.jpg", "p");
    resp = s_request("POST", "/api/file-stream-upload", KEY_A, NULL, mime);
    curl_mime_free(mime);
    assert_int_equal(resp.rc, CURLE_OK);
    assert_int_equal(s_code(&resp), 413);
    assert_true(json_is_false(json_object_get(resp.json, "success")));
    s_resp_free(&resp);

    kiesim_stats_t stats;
    kiesim_stats(s_sim, &stats);
    assert_int_equal(stats.uploads, 2);
    assert_int_equal(stats.upload_bytes, size + 11);
    assert_int_equal(stats.telegram_urls, 1);
    kiesim_key_stats_t key_stats;
    kiesim_key_stats(s_sim, KEY_A, &key_stats);
    assert_int_equal(key_stats.uploads, 2);
    free(download_url);
    free(bytes);
}

static void test_other_key(void **state) {
    (void)state;
    kiesim_options_t options;
    s_options(&options);
    s_start(&options);
    char *id = s_create_ok(KEY_A, "mine");
    resp_t resp = s_poll(KEY_B, id);
    assert_int_equal(s_code(&resp), 422);
    assert_string_equal(s_msg(&resp), "recordInfo is null");
    s_resp_free(&resp);
    s_assert_state(KEY_A, id, "waiting");
    resp = s_request("GET", "/api/v1/jobs/recordInfo", KEY_A, NULL, NULL);
    assert_int_equal(s_code(&resp), 422);
    s_resp_free(&resp);
    free(id);
}

//  The load harness's scale: 10,000 tasks in flight, each polled once.
static void test_many_tasks(void **state) {
    (void)state;
    kiesim_options_t options;
    s_options(&options);
    options.behaviour.task_duration_ms = 600000;
    options.behaviour.p_content_fail = 0.1;
    options.behaviour.p_temporary_fail = 0.05;
    s_start(&options);
    long count = s_scaled(10000);
    char(*ids)[KIESIM_TASK_ID_MAX] = calloc((size_t)count, KIESIM_TASK_ID_MAX);
    double start = s_seconds();
    char prompt[128];
    for (long i = 0; i < count; i++) {
        snprintf(prompt, sizeof prompt, "a product shot number %ld, studio light, slow pan", i);
        resp_t resp = s_create(i % 2 ? KEY_A : KEY_B, prompt);
        assert_int_equal(s_code(&resp), 200);
        snprintf(ids[i], KIESIM_TASK_ID_MAX, "%s", s_data_str(&resp, "taskId"));
        s_resp_free(&resp);
    }
    s_advance(300000); //  halfway: everything generating
    for (long i = 0; i < count; i++) {
        resp_t resp = s_poll(i % 2 ? KEY_A : KEY_B, ids[i]);
        assert_int_equal(s_code(&resp), 200);
        assert_string_equal(s_data_str(&resp, "state"), "generating");
        s_resp_free(&resp);
    }
    double elapsed = s_seconds() - start;
    kiesim_stats_t stats;
    kiesim_stats(s_sim, &stats);
    assert_int_equal(stats.tasks, count);
    assert_int_equal(stats.tasks_in_flight, count);
    assert_int_equal(stats.polls, count);
    assert_true(stats.task_bytes / (uint64_t)count < 1024);
    print_message("%ld tasks created and polled in %.2f s, %llu bytes per task\n", count, elapsed,
                  (unsigned long long)(stats.task_bytes / (uint64_t)count));
    assert_true(elapsed < 15.0);

    //  Task ids are unique, and the mix is roughly what was asked.
    json_t *tasks = kiesim_tasks(s_sim);
    assert_int_equal(json_array_size(tasks), count);
    json_decref(tasks);
    s_advance(300000);
    kiesim_stats(s_sim, &stats);
    assert_int_equal(stats.tasks_in_flight, 0);
    if (count >= 1000)
        assert_in_range(stats.tasks_failed, (uint64_t)(count * 0.10), (uint64_t)(count * 0.20));
    free(ids);
}

//  Clients in parallel, each with its own connection, as genbot's key
//  workers are.
#define CLIENTS 8

static void *s_client(void *arg) {
    long count = (long)(intptr_t)arg;
    CURL *curl = curl_easy_init();
    char url[256];
    long failures = 0;
    char *body = s_body("sora-2-text-to-video", "in parallel", NULL, NULL);
    struct curl_slist *headers = curl_slist_append(NULL, "Authorization: Bearer " KEY_A);
    for (long i = 0; i < count; i++) {
        resp_t resp = {0};
        snprintf(url, sizeof url, "%s/api/v1/jobs/createTask", kiesim_url(s_sim));
        curl_easy_reset(curl);
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, s_write);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &resp);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        if (curl_easy_perform(curl) != CURLE_OK) failures++;
        json_t *json = resp.body ? json_loads(resp.body, 0, NULL) : NULL;
        const char *id =
            json_string_value(json_object_get(json_object_get(json, "data"), "taskId"));
        if (!id)
            failures++;
        else {
            snprintf(url, sizeof url, "%s/api/v1/jobs/recordInfo?taskId=%s", kiesim_url(s_sim), id);
            free(resp.body);
            resp.body = NULL;
            resp.size = 0;
            curl_easy_setopt(curl, CURLOPT_URL, url);
            curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
            if (curl_easy_perform(curl) != CURLE_OK || !resp.body || !strstr(resp.body, "waiting"))
                failures++;
        }
        json_decref(json);
        free(resp.body);
    }
    curl_slist_free_all(headers);
    free(body);
    curl_easy_cleanup(curl);
    return (void *)(intptr_t)failures;
}

static void test_parallel_clients(void **state) {
    (void)state;
    kiesim_options_t options;
    s_options(&options);
    s_start(&options);
    long per_client = s_scaled(400);
    pthread_t threads[CLIENTS];
    for (int i = 0; i < CLIENTS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, s_client, (void *)(intptr_t)per_client),
                         0);
    long failures = 0;
    for (int i = 0; i < CLIENTS; i++) {
        void *result = NULL;
        pthread_join(threads[i], &result);
        failures += (long)(intptr_t)result;
    }
    assert_int_equal(failures, 0);
    kiesim_stats_t stats;
    kiesim_stats(s_sim, &stats);
    assert_int_equal(stats.creates, CLIENTS * per_client);
    assert_int_equal(stats.polls, CLIENTS * per_client);
    //  Every task id is different.
    json_t *tasks = kiesim_tasks(s_sim);
    json_t *seen = json_object();
    size_t i;
    json_t *task;
    json_array_foreach(tasks, i, task) {
        json_object_set_new(seen, json_string_value(json_object_get(task, "taskId")), json_true());
    }
    assert_int_equal(json_object_size(seen), CLIENTS * per_client);
    json_decref(seen);
    json_decref(tasks);
}

static void test_faults(void **state) {
    (void)state;
    kiesim_options_t options;
    s_options(&options);
    options.behaviour.p_server_error = 0.2;
    s_start(&options);
    int errors = 0;
    for (int i = 0; i < 500; i++) {
        resp_t resp = s_request("GET", "/api/v1/chat/credit", KEY_A, NULL, NULL);
        assert_int_equal(resp.rc, CURLE_OK);
        assert_int_equal(resp.status, 200);
        if (s_code(&resp) == 500)
            errors++;
        else
            assert_int_equal(s_code(&resp), 200);
        s_resp_free(&resp);
    }
    assert_in_range(errors, 60, 140);

    kiesim_behaviour_t behaviour;
    kiesim_behaviour(s_sim, &behaviour);
    behaviour.p_server_error = 0;
    behaviour.p_drop = 0.1;
    behaviour.p_gateway_error = 0.1;
    kiesim_set_behaviour(s_sim, &behaviour);
    s_fresh = true;
    int drops = 0, gateways = 0;
    for (int i = 0; i < 500; i++) {
        resp_t resp = s_request("GET", "/api/v1/chat/credit", KEY_A, NULL, NULL);
        if (resp.rc != CURLE_OK) {
            assert_int_equal(resp.rc, CURLE_GOT_NOTHING);
            drops++;
        } else if (resp.status == 502) {
            assert_null(resp.json); //  an HTML page, no envelope
            gateways++;
        } else
            assert_int_equal(s_code(&resp), 200);
        s_resp_free(&resp);
    }
    assert_in_range(drops, 25, 80);
    assert_in_range(gateways, 25, 80);

    //  Lost replies: the task exists, the caller got nothing.
    behaviour.p_drop = behaviour.p_gateway_error = 0;
    behaviour.p_drop_after = 1.0;
    kiesim_set_behaviour(s_sim, &behaviour);
    resp_t resp = s_create(KEY_A, "created in the dark");
    assert_int_equal(resp.rc, CURLE_GOT_NOTHING);
    s_resp_free(&resp);
    kiesim_stats_t stats;
    kiesim_stats(s_sim, &stats);
    assert_int_equal(stats.creates, 1);
    s_fresh = false;

    //  Maintenance: 455 on every API endpoint, files still served.
    behaviour.p_drop_after = 0;
    kiesim_set_behaviour(s_sim, &behaviour);
    kiesim_set_maintenance(s_sim, true);
    resp = s_create(KEY_A, "x");
    assert_int_equal(s_code(&resp), 455);
    s_resp_free(&resp);
    resp = s_request("GET", "/api/v1/chat/credit", KEY_A, NULL, NULL);
    assert_int_equal(s_code(&resp), 455);
    s_resp_free(&resp);
    resp = s_poll(KEY_A, "task_x");
    assert_int_equal(s_code(&resp), 455);
    s_resp_free(&resp);
    resp = s_request("POST", "/api/file-stream-upload", KEY_A, "{}", NULL);
    assert_int_equal(s_code(&resp), 455);
    s_resp_free(&resp);
    kiesim_set_maintenance(s_sim, false);
    assert_int_equal(s_credits(KEY_A), 1000000 - KIESIM_TASK_COST);

    //  Latency.
    kiesim_behaviour(s_sim, &behaviour);
    behaviour.latency_ms = 60;
    kiesim_set_behaviour(s_sim, &behaviour);
    double start = s_seconds();
    assert_int_equal(s_credits(KEY_A), 1000000 - KIESIM_TASK_COST);
    assert_true(s_seconds() - start >= 0.055);
}

//  --------------------------------------------------------------------------
//  Callbacks, received by a small server of the test's own.

#define RECEIVED_MAX 8

typedef struct {
    pthread_mutex_t lock;
    int count;
    char *bodies[RECEIVED_MAX];
    char timestamps[RECEIVED_MAX][32];
    char signatures[RECEIVED_MAX][64];
} received_t;

static received_t s_received = {.lock = PTHREAD_MUTEX_INITIALIZER};

typedef struct {
    char *body;
    size_t size;
} receiver_req_t;

static enum MHD_Result s_receive(void *cls, struct MHD_Connection *connection, const char *url,
                                 const char *method, const char *version, const char *data,
                                 size_t *size, void **con_cls) {
    (void)cls;
    (void)url;
    (void)method;
    (void)version;
    receiver_req_t *req = *con_cls;
    if (!req) {
        *con_cls = calloc(1, sizeof(receiver_req_t));
        return MHD_YES;
    }
    if (*size) {
        req->body = realloc(req->body, req->size + *size + 1);
        memcpy(req->body + req->size, data, *size);
        req->size += *size;
        req->body[req->size] = '\0';
        *size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&s_received.lock);
    if (s_received.count < RECEIVED_MAX) {
        int n = s_received.count++;
        const char *ts =
            MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "X-Webhook-Timestamp");
        const char *sig =
            MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "X-Webhook-Signature");
        snprintf(s_received.timestamps[n], 32, "%s", ts ? ts : "");
        snprintf(s_received.signatures[n], 64, "%s", sig ? sig : "");
        s_received.bodies[n] = req->body;
        req->body = NULL;
    }
    pthread_mutex_unlock(&s_received.lock);
    struct MHD_Response *response =
        MHD_create_response_from_buffer(2, (void *)"ok", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result rc = MHD_queue_response(connection, MHD_HTTP_OK, response);
    MHD_destroy_response(response);
    return rc;
}

static void s_receive_done(void *cls, struct MHD_Connection *connection, void **con_cls,
                           enum MHD_RequestTerminationCode why) {
    (void)cls;
    (void)connection;
    (void)why;
    receiver_req_t *req = *con_cls;
    if (req) {
        free(req->body);
        free(req);
    }
}

static void test_callbacks(void **state) {
    (void)state;
    struct MHD_Daemon *receiver =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, NULL, NULL, s_receive,
                         NULL, MHD_OPTION_NOTIFY_COMPLETED, s_receive_done, NULL, MHD_OPTION_END);
    assert_non_null(receiver);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(receiver, MHD_DAEMON_INFO_BIND_PORT);
    char callback[128];
    snprintf(callback, sizeof callback, "http://127.0.0.1:%u/kie/callback/token123", info->port);

    kiesim_options_t options;
    s_options(&options);
    options.hmac_key = HMAC_KEY;
    s_start(&options);
    char *ids[3];
    const char *prompts[3] = {"fine", "bad [[sim:fail=content]]", "forever [[sim:never]]"};
    for (int i = 0; i < 3; i++) {
        char *body = s_body("sora-2-image-to-video", prompts[i], IMAGE_URL, callback);
        resp_t resp = s_request("POST", "/api/v1/jobs/createTask", KEY_A, body, NULL);
        ids[i] = strdup(s_data_str(&resp, "taskId"));
        s_resp_free(&resp);
        free(body);
    }
    assert_int_equal(kiesim_flush_callbacks(s_sim, 2000), 0);
    assert_int_equal(s_received.count, 0); //  nothing finished yet
    s_advance(1000);
    assert_int_equal(kiesim_flush_callbacks(s_sim, 5000), 0);
    s_advance(100000);
    assert_int_equal(kiesim_flush_callbacks(s_sim, 5000), 0);
    pthread_mutex_lock(&s_received.lock);
    assert_int_equal(s_received.count, 2); //  the never-ending task never calls
    for (int n = 0; n < 2; n++) {
        json_t *body = json_loads(s_received.bodies[n], 0, NULL);
        assert_non_null(body);
        json_t *data = json_object_get(body, "data");
        const char *task_id = json_string_value(json_object_get(data, "taskId"));
        char expected[64];
        kiesim_webhook_signature(HMAC_KEY, task_id, s_received.timestamps[n], expected,
                                 sizeof expected);
        assert_string_equal(s_received.signatures[n], expected);
        assert_int_equal(atoll(s_received.timestamps[n]), (T0 + 1000) / 1000);
        if (strcmp(task_id, ids[0]) == 0) {
            assert_int_equal(json_integer_value(json_object_get(body, "code")), 200);
            assert_string_equal(json_string_value(json_object_get(body, "msg")),
                                "Playground task completed successfully.");
            assert_string_equal(json_string_value(json_object_get(data, "state")), "success");
            assert_true(json_is_string(json_object_get(data, "resultJson")));
            assert_true(json_is_null(json_object_get(data, "failCode")));
        } else {
            assert_string_equal(task_id, ids[1]);
            assert_int_equal(json_integer_value(json_object_get(body, "code")), 501);
            assert_string_equal(json_string_value(json_object_get(data, "state")), "fail");
            assert_string_equal(json_string_value(json_object_get(data, "failCode")), "400");
            assert_true(json_is_null(json_object_get(data, "resultJson")));
        }
        json_decref(body);
        free(s_received.bodies[n]);
        s_received.bodies[n] = NULL;
    }
    s_received.count = 0;
    pthread_mutex_unlock(&s_received.lock);
    kiesim_stats_t stats;
    kiesim_stats(s_sim, &stats);
    assert_int_equal(stats.callbacks_sent, 2);
    assert_int_equal(stats.callbacks_failed, 0);

    //  A receiver that is gone: counted as failed, no retry.
    MHD_stop_daemon(receiver);
    char *body = s_body("sora-2-image-to-video", "late", IMAGE_URL, callback);
    resp_t resp = s_request("POST", "/api/v1/jobs/createTask", KEY_A, body, NULL);
    s_resp_free(&resp);
    free(body);
    s_advance(1000);
    assert_int_equal(kiesim_flush_callbacks(s_sim, 5000), 0);
    kiesim_stats(s_sim, &stats);
    assert_int_equal(stats.callbacks_failed, 1);
    for (int i = 0; i < 3; i++)
        free(ids[i]);
}

static void test_signature(void **state) {
    (void)state;
    char out[64];
    assert_string_equal(
        kiesim_webhook_signature(HMAC_KEY, "task_0123456789abcdef", "1700000000", out, sizeof out),
        "xFp6aNZppdOzkMB9M/W8uubxFxD5sCChWKqpufnJHxg=");
    char long_key[101];
    memset(long_key, 'k', 100);
    long_key[100] = '\0';
    assert_string_equal(kiesim_webhook_signature(long_key, "task_x", "1", out, sizeof out),
                        "9JJPYRlBuLn83Y2vUSvRKHi62lFxFovVqvTNVP/EXvE=");
    assert_string_equal(
        kiesim_webhook_signature("Jefe", "what do ya want for nothing", "?", out, sizeof out),
        "FVkZ4Nr4vsEk4Md6uEZJqckalkkHfHJl8RxHs33uV4M=");
}

//  "Over 50 MB: send a link" needs a result that is over 50 MB.
static void test_oversized_result(void **state) {
    (void)state;
    kiesim_options_t options;
    s_options(&options);
    options.behaviour.result_size = 60 * 1000 * 1000;
    s_start(&options);
    char *big = s_create_ok(KEY_A, "big");
    char *small = s_create_ok(KEY_A, "small [[sim:size=3000000]]");
    s_advance(1000);
    char path[128];
    snprintf(path, sizeof path, "/files/%s.mp4", big);
    resp_t resp = s_request("HEAD", path, NULL, NULL, NULL);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.content_length, 60 * 1000 * 1000);
    s_resp_free(&resp);
    resp = s_request("GET", path, NULL, NULL, NULL);
    assert_int_equal(resp.rc, CURLE_OK);
    assert_int_equal(resp.size, 60 * 1000 * 1000);
    assert_memory_equal(resp.body, kiesim_sample_mp4, kiesim_sample_mp4_size);
    //  The padding is one `free` box: the file is still a valid MP4.
    const unsigned char *box = (const unsigned char *)resp.body + kiesim_sample_mp4_size;
    uint32_t box_size =
        (uint32_t)box[0] << 24 | (uint32_t)box[1] << 16 | (uint32_t)box[2] << 8 | box[3];
    assert_int_equal(box_size, 60 * 1000 * 1000 - kiesim_sample_mp4_size);
    assert_memory_equal(box + 4, "free", 4);
    s_resp_free(&resp);
    snprintf(path, sizeof path, "/files/%s.mp4", small);
    resp = s_request("GET", path, NULL, NULL, NULL);
    assert_int_equal(resp.size, 3000000);
    s_resp_free(&resp);
    //  A task that has not succeeded has no file.
    char *pending = s_create_ok(KEY_A, "pending");
    snprintf(path, sizeof path, "/files/%s.mp4", pending);
    resp = s_request("GET", path, NULL, NULL, NULL);
    assert_int_equal(resp.status, 404);
    s_resp_free(&resp);
    free(big);
    free(small);
    free(pending);
}

static void test_vary_shapes(void **state) {
    (void)state;
    kiesim_options_t options;
    s_options(&options);
    options.behaviour.vary_shapes = true;
    s_start(&options);
    char *id = s_create_ok(KEY_A, "[[sim:success]] shapes");
    int message = 0, null_result = 0, empty_result = 0;
    for (int i = 0; i < 100; i++) {
        resp_t resp = s_poll(KEY_A, id);
        assert_int_equal(s_code(&resp), 200);
        message += json_object_get(resp.json, "message") != NULL;
        json_t *result = json_object_get(s_data(&resp), "resultJson");
        null_result += json_is_null(result);
        empty_result += json_is_string(result);
        s_resp_free(&resp);
    }
    assert_true(message > 0 && message < 100);
    assert_true(null_result > 0 && empty_result > 0);
    free(id);
}

//  Defaults (real clock, no keys), a thread pool, a port already taken.
static void test_defaults(void **state) {
    (void)state;
    s_sim = kiesim_new(NULL);
    assert_non_null(s_sim);
    char expected[64];
    snprintf(expected, sizeof expected, "http://127.0.0.1:%u", kiesim_port(s_sim));
    assert_string_equal(kiesim_url(s_sim), expected);
    resp_t resp = s_create(KEY_A, "no keys yet");
    assert_int_equal(s_code(&resp), 401);
    s_resp_free(&resp);
    kiesim_key_t key = {KEY_A, 100, KIESIM_RATE_LIMIT, KIESIM_RATE_WINDOW_MS, KIESIM_KEY_VALID};
    assert_int_equal(kiesim_key_add(s_sim, &key), 0);
    char *id = s_create_ok(KEY_A, "real time");
    resp = s_poll(KEY_A, id); //  inside the default visibility delay
    assert_int_equal(s_code(&resp), 422);
    s_resp_free(&resp);
    assert_int_equal(kiesim_task_state(s_sim, id, NULL), KIESIM_STATE_WAITING);
    json_t *tasks = kiesim_tasks(s_sim);
    json_int_t created =
        json_integer_value(json_object_get(json_array_get(tasks, 0), "createTime"));
    assert_true(created > T0); //  Unix ms although the clock is monotonic
    json_decref(tasks);
    free(id);

    kiesim_options_t options;
    s_options(&options);
    options.port = kiesim_port(s_sim);
    assert_null(kiesim_new(&options)); //  taken
    options.port = 0;
    options.threads = 2;
    kiesim_t *pooled = kiesim_new(&options);
    assert_non_null(pooled);
    kiesim_destroy(&s_sim);
    s_sim = pooled;
    assert_int_equal(s_credits(KEY_B), 1000000);
    kiesim_destroy(&s_sim);

    //  Behind a public URL (the sandbox behind a tunnel): URLs use it.
    options.public_url = "https://sim.example/";
    s_start(&options);
    id = s_create_ok(KEY_A, "public");
    s_advance(1000);
    resp = s_poll(KEY_A, id);
    assert_non_null(strstr(s_data_str(&resp, "resultJson"), "\"https://sim.example/files/task_"));
    s_resp_free(&resp);
    free(id);
    options.host = "localhost";
    assert_null(kiesim_new(&options)); //  an IPv4 address is needed
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lifecycle, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_scripted_failures, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_auth, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_credits, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_rate_limit, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_error_styles, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_validation, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_upload, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_other_key, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_many_tasks, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_parallel_clients, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_faults, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_callbacks, s_setup, s_teardown),
        cmocka_unit_test(test_signature),
        cmocka_unit_test_setup_teardown(test_oversized_result, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_vary_shapes, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_defaults, s_setup, s_teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
