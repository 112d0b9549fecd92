/*  kie.c — KIE.ai requests and responses (see kie.h); the error classes
    and the classifier are in kie_classify.c.

    Every text that leaves this module (details, failMsg, model, state) went
    through s_clean: valid UTF-8, no control characters, one line, cut on a
    character boundary to fit, so it can go into a log line or a msg.h string
    field as it is.
*/
#include "kie_internal.h"

#include <assert.h>
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

//  --------------------------------------------------------------------------
//  Tables

static const char *s_state_names[] = {"not_visible", "waiting", "queuing", "generating",
                                      "success",     "fail",    "other"};

_Static_assert(sizeof(s_state_names) / sizeof(s_state_names[0]) == KIE_STATE_OTHER + 1,
               "one name per state");

//  The spellings of data.state, compared case-insensitively.
static const struct {
    const char *wire;
    kie_state_t state;
} s_wire_states[] = {
    {"waiting", KIE_STATE_WAITING},
    {"wait", KIE_STATE_WAITING},
    {"queuing", KIE_STATE_QUEUING},
    {"queueing", KIE_STATE_QUEUING},
    {"generating", KIE_STATE_GENERATING},
    {"success", KIE_STATE_SUCCESS},
    {"fail", KIE_STATE_FAIL},
    {"failed", KIE_STATE_FAIL},
};

#define WIRE_STATE_COUNT (sizeof(s_wire_states) / sizeof(s_wire_states[0]))

static const char *s_upload_mimes[] = {"image/jpeg", "image/png", "image/webp"};

//  --------------------------------------------------------------------------
//  A response body read once: the JSON root (when it is an object), its
//  data, its code and its message; or the body's text when it is not JSON.

typedef struct {
    json_t *root; //  owned; NULL when the body is not a JSON object
    json_t *data; //  borrowed from root; NULL when absent
    int code;     //  0 when absent or not a number
    char text[KIE_DETAIL_MAX];
} envelope_t;

static void s_envelope_read(envelope_t *env, const char *body, size_t size);
static void s_envelope_free(envelope_t *env);
static bool s_envelope_ok(const envelope_t *env, int http_status);
static int s_fail(kie_error_t *error, int http_status, const envelope_t *env);
static int s_fail_data(kie_error_t *error, int http_status, const envelope_t *env, const char *why);
static void s_detail(kie_error_t *error, const char *text, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void s_error_init(kie_error_t *error, int http_status);
static void s_record_init(kie_record_t *out, int http_status);
static void s_record_read(kie_record_t *out, json_t *data, int http_status, int code,
                          const char *env_text, kie_state_t default_state);
static void s_record_results(kie_record_t *out, json_t *data);
static size_t s_take_urls(kie_record_t *out, json_t *urls);
static int s_code_of(json_t *value);
static int64_t s_ms_of(json_t *value);
static int s_progress_of(json_t *value);
static const char *s_string_of(json_t *object, const char *key, const char *fallback_key);
static void s_clean(char *dst, size_t size, const char *src, size_t length, bool strip_tags);
static bool s_is_url(const char *text);
static bool s_is_printable(const char *text, size_t max);
static int s_say(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

//  --------------------------------------------------------------------------
//  Requests

char *kie_create_task_body(const catalog_model_t *model, const char *prompt,
                           const char *const *image_urls, size_t image_count,
                           const char *callback_url, char *err) {
    assert(model);
    char scratch[KIE_DETAIL_MAX];
    if (!err) err = scratch;
    err[0] = '\0';
    bool has_callback = callback_url && *callback_url;
    if (has_callback && !s_is_url(callback_url)) {
        s_say(err, "callBackUrl: not an http(s) URL of printable ASCII");
        return NULL;
    }
    char input_err[CATALOG_ERR_MAX];
    json_t *input = catalog_model_input(model, prompt, image_urls, image_count, input_err);
    if (!input) {
        s_say(err, "%s", input_err);
        return NULL;
    }
    json_t *body = json_object();
    int rc = body ? 0 : -1;
    if (rc == 0) rc = json_object_set_new(body, "model", json_string(catalog_model_slug(model)));
    if (rc == 0 && has_callback)
        rc = json_object_set_new(body, "callBackUrl", json_string(callback_url));
    if (rc == 0) rc = json_object_set(body, "input", input);
    char *text = rc == 0 ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(input);
    json_decref(body);
    if (!text) s_say(err, "out of memory");
    return text;
}

bool kie_task_id_valid(const char *text) {
    if (!text || !*text || strlen(text) >= KIE_TASK_ID_MAX) return false;
    for (const char *c = text; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr("._:-", *c)) return false;
    return true;
}

char *kie_record_info_path(const char *task_id) {
    if (!kie_task_id_valid(task_id)) return NULL;
    //  Every byte may become %XX.
    size_t size = sizeof KIE_PATH_RECORD_INFO "?taskId=" + 3 * strlen(task_id);
    char *path = malloc(size);
    if (!path) return NULL;
    size_t at = (size_t)snprintf(path, size, "%s?taskId=", KIE_PATH_RECORD_INFO);
    for (const char *c = task_id; *c; c++) {
        //  RFC 3986 unreserved characters stay; the rest is escaped.
        if (isalnum((unsigned char)*c) || strchr("-._~", *c))
            path[at++] = *c;
        else
            at += (size_t)snprintf(path + at, size - at, "%%%02X", (unsigned char)*c);
    }
    path[at] = '\0';
    return path;
}

int kie_auth_value_secret(const char *key, char *buf, size_t size) {
    if (!key || !buf || !s_is_printable(key, KIE_KEY_MAX + 1)) return -1;
    size_t length = strlen(key);
    if (size < sizeof "Bearer " + length) return -1;
    memcpy(buf, "Bearer ", 7);
    memcpy(buf + 7, key, length + 1);
    return 0;
}

const char *kie_key_fingerprint(const char *key, char *buf, size_t size) {
    assert(buf && size >= KIE_FINGERPRINT_MAX);
    if (!key || !*key) {
        snprintf(buf, size, "(none)");
        return buf;
    }
    uint64_t hash = 0xcbf29ce484222325ULL; //  FNV-1a 64 offset basis
    size_t length = 0;
    for (const char *c = key; *c; c++, length++) {
        hash ^= (unsigned char)*c;
        hash *= 0x100000001b3ULL; //  FNV-1a 64 prime
    }
    char reveal[KIE_FINGERPRINT_REVEAL + 1] = "****";
    if (length >= KIE_FINGERPRINT_REVEAL_MIN)
        for (size_t i = 0; i < KIE_FINGERPRINT_REVEAL; i++)
            reveal[i] = isalnum((unsigned char)key[i]) || key[i] == '_' ? key[i] : '?';
    snprintf(buf, size, "%s-%08x", reveal, (unsigned)((hash ^ (hash >> 32)) & 0xffffffffu));
    return buf;
}

int kie_upload_form(const void *data, size_t size, const char *upload_path, const char *file_name,
                    const char *mime_type, kie_form_part_t parts[KIE_UPLOAD_PARTS], char *err) {
    assert(parts);
    char scratch[KIE_DETAIL_MAX];
    if (!err) err = scratch;
    err[0] = '\0';
    if (!data || size == 0 || size > KIE_UPLOAD_MAX)
        return s_say(err, "file: %zu bytes, must be 1..%d", data ? size : 0, KIE_UPLOAD_MAX);
    bool path_ok = upload_path && *upload_path && *upload_path != '/' &&
                   strlen(upload_path) < KIE_UPLOAD_PATH_MAX && !strstr(upload_path, "..");
    for (const char *c = upload_path; path_ok && *c; c++)
        path_ok = isalnum((unsigned char)*c) || strchr("_-/", *c);
    if (!path_ok)
        return s_say(err, "uploadPath: must be 1..%d of A-Z a-z 0-9 _ - /, relative, no \"..\"",
                     KIE_UPLOAD_PATH_MAX - 1);
    bool name_ok =
        file_name && *file_name && *file_name != '.' && strlen(file_name) < KIE_FILE_NAME_MAX;
    for (const char *c = file_name; name_ok && *c; c++)
        name_ok = isalnum((unsigned char)*c) || strchr("._-", *c);
    if (!name_ok)
        return s_say(err, "fileName: must be 1..%d of A-Z a-z 0-9 . _ -, not starting with '.'",
                     KIE_FILE_NAME_MAX - 1);
    bool mime_ok = false;
    for (size_t i = 0; mime_type && i < sizeof s_upload_mimes / sizeof s_upload_mimes[0]; i++)
        mime_ok = mime_ok || strcmp(mime_type, s_upload_mimes[i]) == 0;
    if (!mime_ok) return s_say(err, "mime type: must be image/jpeg, image/png or image/webp");
    parts[0] = (kie_form_part_t){
        .name = "file", .data = data, .size = size, .file_name = file_name, .mime_type = mime_type};
    parts[1] = (kie_form_part_t){.name = "uploadPath", .value = upload_path};
    parts[2] = (kie_form_part_t){.name = "fileName", .value = file_name};
    return 0;
}

//  --------------------------------------------------------------------------
//  Responses

const char *kie_state_name(kie_state_t state) {
    return (int)state >= 0 && state <= KIE_STATE_OTHER ? s_state_names[state] : "?";
}

int kie_parse_create(int http_status, const char *body, size_t size, kie_create_t *out) {
    assert(out);
    memset(out, 0, sizeof *out);
    s_error_init(&out->error, http_status);
    envelope_t env;
    s_envelope_read(&env, body, size);
    int rc;
    const char *task_id = s_string_of(env.data, "taskId", "task_id");
    if (!s_envelope_ok(&env, http_status))
        rc = s_fail(&out->error, http_status, &env);
    else if (!kie_task_id_valid(task_id))
        rc = s_fail_data(&out->error, http_status, &env, "no valid data.taskId");
    else {
        snprintf(out->task_id, sizeof out->task_id, "%s", task_id);
        rc = 0;
    }
    s_envelope_free(&env);
    return rc;
}

int kie_parse_record(int http_status, const char *body, size_t size, kie_record_t *out) {
    assert(out);
    s_record_init(out, http_status);
    envelope_t env;
    s_envelope_read(&env, body, size);
    int code = env.code ? env.code : http_status;
    bool no_data = !env.data || json_is_null(env.data);
    int rc = 0;
    if (env.root && http_status > KIE_HTTP_NONE && code == 422 &&
        (kiei_contains(env.text, "recordinfo is null") || (no_data && !*env.text)))
        out->state = KIE_STATE_NOT_VISIBLE; //  just created: not in the records yet
    else if (!s_envelope_ok(&env, http_status))
        rc = s_fail(&out->error, http_status, &env);
    else if (no_data)
        out->state = KIE_STATE_NOT_VISIBLE;
    else if (!json_is_object(env.data))
        rc = s_fail_data(&out->error, http_status, &env, "data is not an object");
    else
        s_record_read(out, env.data, http_status, env.code, env.text, KIE_STATE_OTHER);
    s_envelope_free(&env);
    return rc;
}

int kie_parse_callback(const char *body, size_t size, kie_record_t *out) {
    assert(out);
    s_record_init(out, 200);
    envelope_t env;
    s_envelope_read(&env, body, size);
    const char *task_id = s_string_of(env.data, "taskId", "task_id");
    int rc = 0;
    const char *why = !env.root                     ? "not a JSON object"
                      : !json_is_object(env.data)   ? "data is not an object"
                      : !kie_task_id_valid(task_id) ? "no valid data.taskId"
                                                    : NULL;
    if (why) {
        out->error.err_class = KIE_CLASS_INVALID_REQUEST;
        out->error.code = env.code;
        s_detail(&out->error, env.text, "callback: %s%s", why, *env.text ? ": " : "");
        rc = -1;
    } else {
        kie_state_t default_state = env.code == 200 ? KIE_STATE_SUCCESS : KIE_STATE_FAIL;
        s_record_read(out, env.data, 200, env.code, env.text, default_state);
    }
    s_envelope_free(&env);
    return rc;
}

int kie_parse_upload(int http_status, const char *body, size_t size, kie_upload_t *out) {
    assert(out);
    memset(out, 0, sizeof *out);
    s_error_init(&out->error, http_status);
    envelope_t env;
    s_envelope_read(&env, body, size);
    int rc;
    const char *url = s_string_of(env.data, "downloadUrl", NULL);
    if (!s_is_url(url)) url = s_string_of(env.data, "fileUrl", NULL);
    if (!s_envelope_ok(&env, http_status))
        rc = s_fail(&out->error, http_status, &env);
    else if (json_is_false(json_object_get(env.root, "success")))
        rc = s_fail_data(&out->error, http_status, &env, "success is false");
    else if (!s_is_url(url))
        rc = s_fail_data(&out->error, http_status, &env, "no data.downloadUrl or data.fileUrl");
    else {
        snprintf(out->url, sizeof out->url, "%s", url);
        rc = 0;
    }
    s_envelope_free(&env);
    return rc;
}

int kie_parse_credit(int http_status, const char *body, size_t size, kie_credit_t *out) {
    assert(out);
    memset(out, 0, sizeof *out);
    s_error_init(&out->error, http_status);
    envelope_t env;
    s_envelope_read(&env, body, size);
    int rc;
    if (!s_envelope_ok(&env, http_status))
        rc = s_fail(&out->error, http_status, &env);
    else if (!json_is_number(env.data) || !isfinite(json_number_value(env.data)))
        rc = s_fail_data(&out->error, http_status, &env, "data is not a number");
    else {
        out->credits = json_number_value(env.data);
        rc = 0;
    }
    s_envelope_free(&env);
    return rc;
}

//  --------------------------------------------------------------------------
//  The envelope

static void s_envelope_read(envelope_t *env, const char *body, size_t size) {
    memset(env, 0, sizeof *env);
    if (!body || size == 0) {
        snprintf(env->text, sizeof env->text, "(empty body)");
        return;
    }
    if (size > KIE_BODY_MAX) {
        snprintf(env->text, sizeof env->text, "(body of %zu bytes, over %d)", size, KIE_BODY_MAX);
        return;
    }
    json_t *root = json_loadb(body, size, 0, NULL);
    if (!json_is_object(root)) {
        json_decref(root);
        //  HTML from a proxy, Cloudflare's "error code: 1010", a cut body.
        s_clean(env->text, sizeof env->text, body, size, true);
        if (!*env->text) snprintf(env->text, sizeof env->text, "(body without text)");
        return;
    }
    env->root = root;
    env->data = json_object_get(root, "data");
    env->code = s_code_of(json_object_get(root, "code"));
    const char *message = s_string_of(root, "msg", "message");
    if (message) s_clean(env->text, sizeof env->text, message, strlen(message), false);
}

static void s_envelope_free(envelope_t *env) {
    json_decref(env->root);
    env->root = NULL;
    env->data = NULL;
}

static bool s_envelope_ok(const envelope_t *env, int http_status) {
    return http_status >= 200 && http_status <= 299 && env->root && env->code == 200;
}

//  The request failed: classify it and describe it in one line.
static int s_fail(kie_error_t *error, int http_status, const envelope_t *env) {
    error->http_status = http_status;
    error->code = env->code;
    const char *text = *env->text ? env->text : "(no message)";
    if (http_status <= KIE_HTTP_NONE) {
        error->err_class = KIE_CLASS_TEMPORARY;
        s_detail(error, "", "no HTTP response");
    } else if (!env->root) {
        //  A 2xx whose body is not JSON is a body cut short or a proxy
        //  page: asking again is the answer. Otherwise the status decides.
        bool success = http_status >= 200 && http_status <= 299;
        error->err_class =
            success ? KIE_CLASS_TEMPORARY : kie_classify(http_status, 0, NULL, env->text);
        s_detail(error, env->text, "HTTP %d: ", http_status);
    } else {
        error->err_class = kie_classify(http_status, env->code, NULL, env->text);
        if (env->code)
            s_detail(error, text, "HTTP %d, code %d: ", http_status, env->code);
        else
            s_detail(error, text, "HTTP %d, no code: ", http_status);
    }
    return -1;
}

//  The envelope said success but data lacks what the endpoint promises.
static int s_fail_data(kie_error_t *error, int http_status, const envelope_t *env,
                       const char *why) {
    error->http_status = http_status;
    error->code = env->code;
    error->err_class = KIE_CLASS_UNKNOWN;
    s_detail(error, why, "HTTP %d, code %d: ", http_status, env->code);
    return -1;
}

//  error->detail = the formatted prefix + text, cut to fit on a character
//  boundary.
static void s_detail(kie_error_t *error, const char *text, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    int length = vsnprintf(error->detail, sizeof error->detail, fmt, args);
    va_end(args);
    size_t at = length < 0 ? 0 : (size_t)length;
    if (at + 4 < sizeof error->detail) //  the prefixes are short: always
        s_clean(error->detail + at, sizeof error->detail - at, text, strlen(text), false);
}

static void s_error_init(kie_error_t *error, int http_status) {
    memset(error, 0, sizeof *error);
    error->http_status = http_status;
    error->err_class = KIE_CLASS_UNKNOWN;
}

//  --------------------------------------------------------------------------
//  Records (recordInfo and callbacks)

static void s_record_init(kie_record_t *out, int http_status) {
    memset(out, 0, sizeof *out);
    s_error_init(&out->error, http_status);
    out->state = KIE_STATE_OTHER;
    out->progress = -1;
    out->fail_class = KIE_CLASS_UNKNOWN;
}

static void s_record_read(kie_record_t *out, json_t *data, int http_status, int code,
                          const char *env_text, kie_state_t default_state) {
    const char *text = s_string_of(data, "taskId", "task_id");
    if (kie_task_id_valid(text)) snprintf(out->task_id, sizeof out->task_id, "%s", text);
    text = s_string_of(data, "model", NULL);
    if (text) s_clean(out->model, sizeof out->model, text, strlen(text), false);

    out->state = default_state;
    text = s_string_of(data, "state", NULL);
    if (text) {
        s_clean(out->state_text, sizeof out->state_text, text, strlen(text), false);
        out->state = KIE_STATE_OTHER;
        for (size_t i = 0; i < WIRE_STATE_COUNT; i++)
            if (strcasecmp(text, s_wire_states[i].wire) == 0) out->state = s_wire_states[i].state;
    }
    out->progress = s_progress_of(json_object_get(data, "progress"));
    out->create_ms = s_ms_of(json_object_get(data, "createTime"));
    out->update_ms = s_ms_of(json_object_get(data, "updateTime"));
    out->complete_ms = s_ms_of(json_object_get(data, "completeTime"));

    json_t *fail_code = json_object_get(data, "failCode");
    if (json_is_string(fail_code))
        s_clean(out->fail_code, sizeof out->fail_code, json_string_value(fail_code),
                json_string_length(fail_code), false);
    else if (json_is_integer(fail_code))
        snprintf(out->fail_code, sizeof out->fail_code, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(fail_code));
    else if (json_is_real(fail_code) && fabs(json_real_value(fail_code)) < 1e9)
        snprintf(out->fail_code, sizeof out->fail_code, "%.0f", json_real_value(fail_code));
    json_t *fail_msg = json_object_get(data, "failMsg");
    if (json_is_string(fail_msg))
        s_clean(out->fail_msg, sizeof out->fail_msg, json_string_value(fail_msg),
                json_string_length(fail_msg), false);

    if (out->state == KIE_STATE_FAIL)
        out->fail_class = kie_classify(http_status, code, out->fail_code,
                                       *out->fail_msg ? out->fail_msg : env_text);
    else if (out->state == KIE_STATE_SUCCESS)
        s_record_results(out, data);
}

//  resultJson is a JSON string holding {"resultUrls": [...]} (an object is
//  accepted too). Success without a usable URL becomes a failure.
static void s_record_results(kie_record_t *out, json_t *data) {
    json_t *result = json_object_get(data, "resultJson");
    json_t *parsed = NULL;
    const char *why = NULL;
    if (json_is_string(result)) {
        parsed = json_loadb(json_string_value(result), json_string_length(result), 0, NULL);
        if (!json_is_object(parsed)) why = "resultJson is not a JSON object";
        result = parsed;
    } else if (!json_is_object(result))
        why = "no resultJson";
    if (!why && s_take_urls(out, json_object_get(result, "resultUrls")) == 0 &&
        s_take_urls(out, json_object_get(result, "resultWaterMarkUrls")) > 0)
        out->watermarked = true;
    if (!why && out->result_count == 0)
        why = json_object_get(result, "resultObject") ? "resultJson holds resultObject, no URLs"
                                                      : "no http(s) URL in resultJson";
    json_decref(parsed);
    if (why) {
        out->state = KIE_STATE_FAIL;
        out->fail_class = KIE_CLASS_UNKNOWN;
        out->fail_code[0] = '\0';
        snprintf(out->fail_msg, sizeof out->fail_msg, "success without a result URL: %s", why);
    }
}

//  Keeps the http(s) URLs of an array (or a lone string); returns how many.
static size_t s_take_urls(kie_record_t *out, json_t *urls) {
    size_t taken = 0;
    if (out->result_count == KIE_MAX_RESULTS) return 0;
    if (json_is_string(urls) && s_is_url(json_string_value(urls))) {
        snprintf(out->result_urls[out->result_count++], KIE_URL_MAX, "%s", json_string_value(urls));
        return 1;
    }
    size_t i;
    json_t *url;
    json_array_foreach(urls, i, url) {
        if (out->result_count == KIE_MAX_RESULTS) break;
        if (!s_is_url(json_string_value(url))) continue;
        snprintf(out->result_urls[out->result_count++], KIE_URL_MAX, "%s", json_string_value(url));
        taken++;
    }
    return taken;
}

//  --------------------------------------------------------------------------
//  Values

//  An envelope code: an integer, an integral real, or a string of digits.
static int s_code_of(json_t *value) {
    double number;
    if (json_is_integer(value))
        number = (double)json_integer_value(value);
    else if (json_is_real(value))
        number = json_real_value(value);
    else if (json_is_string(value)) {
        const char *text = json_string_value(value);
        char *end = NULL;
        number = strtod(text, &end);
        if (end == text || *end) return 0;
    } else
        return 0;
    if (!(number >= 1 && number <= 99999) || number != floor(number)) return 0;
    return (int)number;
}

//  Unix ms: a non-negative integer or real; 0 otherwise.
static int64_t s_ms_of(json_t *value) {
    if (json_is_integer(value) && json_integer_value(value) > 0) return json_integer_value(value);
    if (json_is_real(value) && json_real_value(value) > 0 && json_real_value(value) < 9e15)
        return (int64_t)json_real_value(value);
    return 0;
}

//  0..100 from an integer, a real or a string of digits; -1 otherwise. A
//  value out of range is not clamped: a progress we cannot trust is none.
static int s_progress_of(json_t *value) {
    double number;
    if (json_is_number(value))
        number = json_number_value(value);
    else if (json_is_string(value)) {
        const char *text = json_string_value(value);
        char *end = NULL;
        number = strtod(text, &end);
        if (end == text || *end) return -1;
    } else
        return -1;
    if (!(number >= 0 && number <= 100)) return -1;
    return (int)number;
}

//  object[key] (else object[fallback_key]) when it is a string; else NULL.
static const char *s_string_of(json_t *object, const char *key, const char *fallback_key) {
    const char *text = json_string_value(json_object_get(object, key));
    if (!text && fallback_key) text = json_string_value(json_object_get(object, fallback_key));
    return text;
}

//  Copies at most length bytes of src into dst (size bytes) as one line of
//  valid UTF-8: invalid bytes become '?', control characters and white space
//  runs one space, leading and trailing space dropped; with strip_tags, HTML
//  tags count as white space. When it does not fit, it is cut on a
//  character boundary and ends with "...".
static void s_clean(char *dst, size_t size, const char *src, size_t length, bool strip_tags) {
    assert(dst && size >= 4);
    size_t at = 0;
    bool space = false, cut = false;
    const unsigned char *s = (const unsigned char *)src;
    for (size_t i = 0; s && i < length && !cut;) {
        unsigned char c = s[i];
        size_t n = 1;
        if (strip_tags && c == '<') {
            const unsigned char *close = memchr(s + i, '>', length - i);
            i = close ? (size_t)(close - s) + 1 : length;
            space = at > 0;
            continue;
        }
        if (c < 0x20 || c == 0x7f || c == ' ') {
            space = at > 0;
            i++;
            continue;
        }
        bool valid = true;
        if (c >= 0x80) {
            unsigned char lo = 0x80, hi = 0xbf;
            if (c >= 0xc2 && c <= 0xdf)
                n = 2;
            else if (c >= 0xe0 && c <= 0xef)
                n = 3;
            else if (c >= 0xf0 && c <= 0xf4)
                n = 4;
            else
                valid = false;
            if (c == 0xe0) lo = 0xa0; //  overlong
            if (c == 0xed) hi = 0x9f; //  surrogates
            if (c == 0xf0) lo = 0x90; //  overlong
            if (c == 0xf4) hi = 0x8f; //  over U+10FFFF
            for (size_t k = 1; valid && k < n; k++) {
                unsigned char next = i + k < length ? s[i + k] : 0;
                if (next < (k == 1 ? lo : 0x80) || next > (k == 1 ? hi : 0xbf)) valid = false;
            }
            if (!valid) n = 1;
        }
        //  Room for this character, a pending space, "..." and the NUL.
        if (at + (space ? 1 : 0) + n + 4 > size) {
            cut = true;
            break;
        }
        if (space) dst[at++] = ' ';
        space = false;
        if (valid)
            memcpy(dst + at, s + i, n);
        else
            dst[at] = '?';
        at += valid ? n : 1;
        i += n;
    }
    if (cut) {
        memcpy(dst + at, "...", 3);
        at += 3;
    }
    dst[at] = '\0';
}

//  http(s)://host... of printable ASCII without spaces, under KIE_URL_MAX.
static bool s_is_url(const char *text) {
    if (!text) return false;
    size_t scheme = strncmp(text, "https://", 8) == 0  ? 8
                    : strncmp(text, "http://", 7) == 0 ? 7
                                                       : 0;
    return scheme && text[scheme] && text[scheme] != '/' && s_is_printable(text, KIE_URL_MAX);
}

//  1..max-1 bytes of printable ASCII without spaces.
static bool s_is_printable(const char *text, size_t max) {
    size_t length = 0;
    for (const char *c = text; *c; c++, length++)
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f || length + 1 >= max)
            return false;
    return length > 0;
}

//  One line into err (KIE_DETAIL_MAX bytes); returns -1.
static int s_say(char *err, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    vsnprintf(err, KIE_DETAIL_MAX, fmt, args);
    va_end(args);
    return -1;
}
