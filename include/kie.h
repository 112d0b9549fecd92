/*  kie.h — KIE.ai API requests and responses, and the error classes.

    Pure: builds request bodies, paths and header values, parses response
    bodies, classifies failures. No I/O; the key worker does the HTTP.

    Responses are judged by BOTH the HTTP status and the JSON envelope
    {code, msg, data}: KIE usually answers HTTP 200 with the error in `code`
    (401, 402, 422, 500...), a proxy may answer 4xx/5xx with HTML, and
    Cloudflare answers a bare "error code: 1010". The message is read from
    `msg`, else `message`. A response is a success only when the HTTP status
    is 2xx, the body is a JSON object, `code` is 200 and `data` has what the
    endpoint promises; anything else is a kie_error_t with a class.

    Classification (kie_classify) looks at codes first and at the message
    text second, through two tables in kie_classify.c: one row per code (its class,
    and which message phrases may override it) and one row per phrase. Only
    specific phrases taken from real KIE/provider texts are matched, never a
    lone generic word ("content", "people", "rejected", "error"): a keyword
    classifier that matched "content" read a 500 as a policy violation.
    Decisions where the API is ambiguous (tested in tests/test_kie.c):
      - no HTTP response (network error, our timeout): temporary.
      - the envelope code wins over the HTTP status when it is present and
        not 200; 501 (and Suno's 531) "generation failed" defer to the
        task's numeric failCode when there is one (so the documented
        callback {code 501, failCode "500", "Internal server error"} is
        temporary), else to the message.
      - 403 "error code: 1010/1020" is Cloudflare refusing our client, not
        the key: temporary (retried, key kept). Disabling the key would
        disable every key. "error code: 1015" is Cloudflare rate limiting.
      - 433 (sub-key over its usage cap) is billing: cool the key, use
        another one.
      - 451 and "Failed to fetch the image" (KIE could not download our
        input): temporary. The URL is ours (upload expired, host hiccup):
        the user's photo is fine, so the job is retried; the worker should
        drop a cached upload URL before retrying.
      - 400/422: invalid_request (our bug or config: alert), unless the
        message is a content-policy phrase (content_violation), a
        rate-limit phrase, a fetch failure, or "recordInfo is null" (a task
        not visible yet: temporary).
      - 500: temporary, unless the message is a content-policy phrase or a
        validation phrase ("This field is required", seen live under 500).
      - 501 (or a failed task without a code): content-policy phrase ->
        content_violation, timeout/overload phrase -> temporary, validation
        phrase -> invalid_request, else unknown.
      - 505 "feature disabled": invalid_request (the catalog names a model
        the account cannot use). 404: invalid_request (wrong URL or id).
      - "Only English prompts are supported": invalid_request (our prompt
        pipeline must translate), not the user's fault.
      - other 4xx: invalid_request; other 5xx: temporary; no code at all:
        the phrases, else unknown.
    kie_classify never returns timeout: that class is for a task that ran
    past its maximum duration (backoff_expired), which only the worker
    knows.

    Key fingerprint (logs, stats, the api_keys table): the first
    KIE_FINGERPRINT_REVEAL characters of the key when it is at least
    KIE_FINGERPRINT_REVEAL_MIN long (as config_mask shows it), else "****",
    then '-' and 8 lowercase hex digits: FNV-1a 64 of the whole key, its two
    32-bit halves xor-ed. E.g. "abcd-1f2e3d4c". Deterministic (no salt), so
    it is stable across restarts and matches rows already stored.
*/
#ifndef GENBOT_KIE_H
#define GENBOT_KIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog.h"

//  Paths (append to KIE_API_URL, or KIE_UPLOAD_URL for the upload).
#define KIE_PATH_CREATE_TASK   "/api/v1/jobs/createTask" //  POST JSON
#define KIE_PATH_RECORD_INFO   "/api/v1/jobs/recordInfo" //  GET ?taskId=
#define KIE_PATH_CREDIT        "/api/v1/chat/credit"     //  GET
#define KIE_PATH_STREAM_UPLOAD "/api/file-stream-upload" //  POST multipart, upload host
#define KIE_AUTH_HEADER        "Authorization"

#define KIE_TASK_ID_MAX            128  //  bytes with the NUL; [A-Za-z0-9._:-]
#define KIE_URL_MAX                4096 //  bytes with the NUL (msg.h MSG_MAX_URL)
#define KIE_MAX_RESULTS            4    //  result URLs kept from one task
#define KIE_DETAIL_MAX             1024 //  error detail / failMsg bytes with the NUL
#define KIE_FAIL_CODE_MAX          32
#define KIE_STATE_MAX              32
#define KIE_MODEL_MAX              64
#define KIE_KEY_MAX                256               //  longest API key accepted
#define KIE_AUTH_VALUE_MAX         (KIE_KEY_MAX + 8) //  "Bearer " + key + NUL
#define KIE_BODY_MAX               (4 << 20)         //  larger response bodies are not parsed
#define KIE_UPLOAD_MAX             (10 << 20)        //  KIE's limit for image inputs
#define KIE_UPLOAD_PATH_MAX        128
#define KIE_FILE_NAME_MAX          128
#define KIE_FINGERPRINT_MAX        16 //  bytes with the NUL
#define KIE_FINGERPRINT_REVEAL     4
#define KIE_FINGERPRINT_REVEAL_MIN 16
#define KIE_HTTP_NONE              0 //  http_status when no HTTP response came back

//  --------------------------------------------------------------------------
//  Error classes: one table, read through kie_class_info.

typedef enum {
    KIE_RETRY_NO,      //  final: release the credits
    KIE_RETRY_BACKOFF, //  retry after backoff_delay_ms; counts an attempt
    KIE_RETRY_REQUEUE, //  back to the queue at once for any usable key; no attempt counted
} kie_retry_t;

typedef enum {
    KIE_KEY_KEEP,    //  the key is fine
    KIE_KEY_COOL,    //  rate limited: cooldown with doubling (backoff_cooldown_hit)
    KIE_KEY_BILLING, //  out of credit / over its cap: the long billing cooldown
    KIE_KEY_DISABLE, //  rejected: disabled until an operator acts
} kie_key_action_t;

//  C(ID, "name", retry, key action, alert admins, user message id)
//  A requeued job that finds no usable key for GENBOT_QUEUE_MAX_WAIT_S is
//  released by the worker with its class's message.
#define KIE_CLASSES(C)                                                                             \
    C(CONTENT_VIOLATION, "content_violation", KIE_RETRY_NO, KIE_KEY_KEEP, false,                   \
      "job_failed_content")                                                                        \
    C(INVALID_REQUEST, "invalid_request", KIE_RETRY_NO, KIE_KEY_KEEP, true,                        \
      "job_failed_technical")                                                                      \
    C(AUTH, "auth", KIE_RETRY_REQUEUE, KIE_KEY_DISABLE, true, "job_failed_technical")              \
    C(BILLING, "billing", KIE_RETRY_REQUEUE, KIE_KEY_BILLING, true, "job_failed_technical")        \
    C(RATE_LIMITED, "rate_limited", KIE_RETRY_REQUEUE, KIE_KEY_COOL, false,                        \
      "job_failed_overloaded")                                                                     \
    C(TEMPORARY, "temporary", KIE_RETRY_BACKOFF, KIE_KEY_KEEP, false, "job_failed_temporary")      \
    C(TIMEOUT, "timeout", KIE_RETRY_NO, KIE_KEY_KEEP, true, "job_failed_timeout")                  \
    C(UNKNOWN, "unknown", KIE_RETRY_NO, KIE_KEY_KEEP, false, "job_failed_technical")

typedef enum {
#define KIE_CLASS_ENUM(id, name, retry, key, alert, user_msg) KIE_CLASS_##id,
    KIE_CLASSES(KIE_CLASS_ENUM)
#undef KIE_CLASS_ENUM
        KIE_CLASS_COUNT_
} kie_class_t;

typedef struct {
    const char *name; //  stable: stored in jobs.err_class and sent in messages
    kie_retry_t retry;
    kie_key_action_t key_action;
    bool alert_admins;
    const char *user_msg; //  i18n message id shown when the job finally fails
} kie_class_info_t;

//  The row of a class; the UNKNOWN row for a value out of range.
const kie_class_info_t *kie_class_info(kie_class_t cls);
const char *kie_class_name(kie_class_t cls); //  "unknown" when out of range
//  Parses a class name; 0, or -1 when the name is not in the table.
int kie_class_from_name(const char *name, kie_class_t *cls);

//  http_status: the HTTP status, or KIE_HTTP_NONE when no response came
//  back. envelope_code: the JSON `code`, 0 when absent. fail_code: the
//  task's failCode as text (NULL or "" when absent; a non-numeric failCode is
//  matched as text). message: msg / message / failMsg / the body's text, or
//  the transport's error (NULL when none). See the decisions above.
kie_class_t kie_classify(int http_status, int envelope_code, const char *fail_code,
                         const char *message);

//  --------------------------------------------------------------------------
//  Requests

//  The createTask body, {"model": slug, "callBackUrl": callback_url (only
//  when given), "input": catalog_model_input(...)}, as compact JSON the
//  caller frees. NULL with one line in err (KIE_DETAIL_MAX bytes; may be
//  NULL) when an input is invalid (see catalog_model_input) or callback_url
//  is not an http(s) URL.
char *kie_create_task_body(const catalog_model_t *model, const char *prompt,
                           const char *const *image_urls, size_t image_count,
                           const char *callback_url, char *err);
//  "/api/v1/jobs/recordInfo?taskId=<escaped>" the caller frees; NULL when
//  task_id is not a valid task id (empty, too long, outside [A-Za-z0-9._:-]).
char *kie_record_info_path(const char *task_id);
//  true when text is a task id KIE could have given (see above).
bool kie_task_id_valid(const char *text);

//  The Authorization header value "Bearer <key>" into buf (size bytes,
//  KIE_AUTH_VALUE_MAX is always enough). It holds the secret: wipe it after
//  use and never log it. 0, or -1 (buf untouched) when the key is empty,
//  longer than KIE_KEY_MAX or not printable ASCII without spaces, or buf
//  is too small.
int kie_auth_value_secret(const char *key, char *buf, size_t size);

//  The key's fingerprint (see above) into buf (KIE_FINGERPRINT_MAX bytes);
//  "(none)" for a NULL or empty key. Returns buf.
const char *kie_key_fingerprint(const char *key, char *buf, size_t size);

//  The parts of a file-stream-upload multipart form (POST
//  KIE_UPLOAD_URL + KIE_PATH_STREAM_UPLOAD, Bearer auth, no JSON). In order:
//  "file" (the bytes, with file_name and mime_type), "uploadPath",
//  "fileName". KIE overwrites a file of the same name: pass a unique one.
typedef struct {
    const char *name;      //  form field name
    const char *value;     //  text parts; NULL for the file part
    const void *data;      //  file part: the bytes (not copied)
    size_t size;           //  file part: byte count
    const char *file_name; //  file part: the filename parameter
    const char *mime_type; //  file part: its Content-Type
} kie_form_part_t;

#define KIE_UPLOAD_PARTS 3

//  Fills parts[KIE_UPLOAD_PARTS] (pointers into the arguments: keep them
//  alive). 0, or -1 with one line in err (KIE_DETAIL_MAX; may be NULL) when
//  size is 0 or over KIE_UPLOAD_MAX, upload_path is not 1..127 of
//  [A-Za-z0-9_-/] (no "..", no leading '/'), file_name is not 1..127 of
//  [A-Za-z0-9._-] (not starting with '.'), or mime_type is not image/jpeg,
//  image/png or image/webp.
int kie_upload_form(const void *data, size_t size, const char *upload_path, const char *file_name,
                    const char *mime_type, kie_form_part_t parts[KIE_UPLOAD_PARTS], char *err);

//  --------------------------------------------------------------------------
//  Responses. Every parser takes the HTTP status and the body (size bytes,
//  need not be NUL-terminated, may be NULL), fills *out completely, and
//  returns 0 when the endpoint's data was read, or -1 with out->error set.
//  out is a plain value: nothing to free.

typedef struct {
    int http_status;             //  as given
    int code;                    //  envelope code, 0 when none
    kie_class_t err_class;       //  meaningful when the parser returned -1
    char detail[KIE_DETAIL_MAX]; //  one line for logs and jobs.err_detail:
                                 //  "HTTP 200, code 402: ..." / "HTTP 502: ...";
                                 //  valid UTF-8, no control characters
} kie_error_t;

typedef struct {
    kie_error_t error;
    char task_id[KIE_TASK_ID_MAX];
} kie_create_t;

typedef enum {
    KIE_STATE_NOT_VISIBLE, //  code 422 "recordInfo is null" / no data: just created, ask again
    KIE_STATE_WAITING,
    KIE_STATE_QUEUING,
    KIE_STATE_GENERATING,
    KIE_STATE_SUCCESS, //  result_count >= 1, always
    KIE_STATE_FAIL,    //  fail_code, fail_msg, fail_class
    KIE_STATE_OTHER,   //  a state string we do not know: keep polling, until the deadline
} kie_state_t;

typedef struct {
    kie_error_t error; //  when the parser returned -1
    kie_state_t state;
    char state_text[KIE_STATE_MAX]; //  as sent ("" when absent), for logs
    char task_id[KIE_TASK_ID_MAX];  //  "" when absent (recordInfo may omit it)
    char model[KIE_MODEL_MAX];      //  "" when absent
    int progress;                   //  0..100 as reported, -1 when absent or unusable
    size_t result_count;
    char result_urls[KIE_MAX_RESULTS][KIE_URL_MAX];
    bool watermarked;                          //  the URLs came from resultWaterMarkUrls
    char fail_code[KIE_FAIL_CODE_MAX];         //  number or string as text; "" when none
    char fail_msg[KIE_DETAIL_MAX];             //  "" when none
    kie_class_t fail_class;                    //  state FAIL: kie_classify of the above
    int64_t create_ms, update_ms, complete_ms; //  Unix ms; 0 when absent
} kie_record_t;

typedef struct {
    kie_error_t error;
    char url[KIE_URL_MAX]; //  data.downloadUrl, else data.fileUrl
} kie_upload_t;

typedef struct {
    kie_error_t error;
    double credits; //  data: the account's remaining credits (may be fractional)
} kie_credit_t;

const char *kie_state_name(kie_state_t state); //  "not_visible", "waiting", ...

int kie_parse_create(int http_status, const char *body, size_t size, kie_create_t *out);

//  recordInfo. A task reported "success" without a usable result URL (no or
//  malformed resultJson, no http(s) URL in it) comes back as state FAIL,
//  fail_class unknown, fail_msg saying why: success always has a URL.
int kie_parse_record(int http_status, const char *body, size_t size, kie_record_t *out);

//  A callback POSTed to our callBackUrl: the recordInfo shape, envelope code
//  200 (success) or 501 (failed); the task id from data.taskId or
//  data.task_id, required. When data.state is absent it follows the code
//  (200 -> success, else fail). -1 (error class invalid_request) for a body
//  that is not such a callback.
int kie_parse_callback(const char *body, size_t size, kie_record_t *out);

int kie_parse_upload(int http_status, const char *body, size_t size, kie_upload_t *out);
int kie_parse_credit(int http_status, const char *body, size_t size, kie_credit_t *out);

#endif
