/*  kiesim.h — a simulated KIE.ai server, in process, for tests, the sandbox
    and the load harness.

    One libmicrohttpd server on 127.0.0.1 (ephemeral port unless one is
    given) serves both of KIE's hosts, so genbot runs against it with
    KIE_API_URL and KIE_UPLOAD_URL both set to kiesim_url():

      POST /api/v1/jobs/createTask       {model, input{prompt, image_urls..}, callBackUrl?}
      GET  /api/v1/jobs/recordInfo?taskId=
      GET  /api/v1/chat/credit
      POST /api/file-stream-upload       multipart: file, uploadPath, fileName?
      POST /api/file-base64-upload       JSON {base64Data, uploadPath, fileName?}
      GET  /files/<taskId>.mp4           the result of a successful task
      GET  /uploads/<id>/<fileName>      an uploaded file, bytes as uploaded

    Responses have the real shapes (KIE API reference notes, kie-api.md): the
    {code, msg, data} envelope; errors carried in `code` with HTTP 200 by
    default (behaviour.p_http_status makes some or all of them real HTTP
    statuses); recordInfo with resultJson as a JSON *string*; a task shows
    {"code":422,"msg":"recordInfo is null"} until visibility_delay_ms after
    its creation, and so does an unknown task or another key's task.

    Time. Everything reads the clock of the options (default: monotonic ms),
    so a test can move a task through its states by moving its clock. Tasks
    are not timers: their state is computed from (now - created) when they
    are polled or inspected, so 10,000 tasks in flight cost only memory
    (about 130 bytes plus the createTask body each). Timestamps shown to
    clients (createTime, ...) are the clock plus a fixed offset that makes
    them Unix ms when the clock is not already Unix ms (< year 2001).

    A task of duration D: waiting during [0, D/10), queuing during
    [D/10, D/5), generating during [D/5, D) with progress growing linearly
    from 0 to 99, and then success (progress 100) or fail. A failed task
    gives its credits back (behaviour.refund_failed) when it fails: its end
    is settled by the next request or inspection, or within a few ms by the
    simulator's background thread.

    Markers: a prompt may carry any of these, which override the outcome mix
    and faults for that task (the marker stays in the stored prompt):
      [[sim:fail=content]]     fail: "This content may violate our guardrails
                               concerning similarity to third-party content"
      [[sim:fail=people]]      fail: "We currently do not support uploads of
                               images containing photorealistic people"
      [[sim:fail=image]]       fail: "Failed to fetch the image. ..."
        (content, people, image: failCode behaviour.content_fail_code, "400")
      [[sim:fail=temporary]]   fail: failCode "500", "Internal server error"
      [[sim:success]]          succeed whatever the mix says
      [[sim:never]]            never finishes (generating, progress stops at 99)
      [[sim:duration=MS]]      this task takes MS ms instead of task_duration_ms
      [[sim:size=BYTES]]       its result file is BYTES long (see result_size)
      [[sim:create=CODE]]      createTask answers the error CODE (400..999:
                               401, 402, 422, 429, 433, 455, 500, 501, ...)
                               and creates nothing
      [[sim:create=drop]]      createTask closes the connection, creates nothing
      [[sim:create=lost]]      createTask creates the task, then closes the
                               connection: the caller never sees the taskId
      [[sim:create=...xN]]     the same, only for the first N createTask calls
                               with this exact prompt (then they go through)
      [[sim:poll=CODE]]        recordInfo of this task answers CODE ...
      [[sim:poll=CODExN]]      ... for its first N polls only
    An unknown [[sim:...]] marker is answered 422 naming it.

    Faults (behaviour): extra latency, server errors (code 500 delivered as
    the error style says), bare HTTP 502 pages, connections dropped before
    handling or after handling (a created task whose reply is lost), and
    maintenance mode (455 on every API and upload endpoint). Result and
    upload files act like a CDN: faults there are plain HTTP 500/502 or
    drops, and maintenance does not touch them. Note: libcurl silently
    re-sends a request (a POST too) once when a *reused* connection closes
    before any answer, so a drop is seen by a keep-alive client at rate
    p_drop^2, and a lost createTask reply can create a second task.

    Callbacks: a task created with callBackUrl gets one POST (JSON, shaped
    like recordInfo: code 200 "Playground task completed successfully." or
    501 "Playground task failed.") from the simulator's callback thread when
    it finishes, best effort, no retry. With hmac_key set it carries
    X-Webhook-Timestamp (Unix s) and X-Webhook-Signature =
    base64(HMAC-SHA256(hmac_key, taskId + "." + timestamp)).

    Image URLs that look like Telegram file URLs (".../file/bot...") or name
    an upload this simulator does not hold make the task fail to fetch its
    image; the former are also counted (stats.telegram_urls), since the bot
    token must never leave genbot.

    Thread-safety: every function may be called from any thread while the
    server runs; one mutex guards the simulator's state (test
    infrastructure, not genbot state).
*/
#ifndef GENBOT_KIESIM_H
#define GENBOT_KIESIM_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KIESIM_HOST                "127.0.0.1"
#define KIESIM_TASK_DURATION_MS    60000
#define KIESIM_VISIBILITY_DELAY_MS 300
#define KIESIM_TASK_COST           30    //  credits per task (Sora 2, 10 s clip)
#define KIESIM_RATE_LIMIT          20    //  createTask per key per window ...
#define KIESIM_RATE_WINDOW_MS      10000 //  ... as KIE documents
#define KIESIM_UPLOAD_MAX          (20 * 1024 * 1024)
#define KIESIM_PROMPT_MAX          10000         //  characters
#define KIESIM_BODY_MAX            (1024 * 1024) //  JSON request bodies
#define KIESIM_CALLBACK_TIMEOUT_MS 15000
#define KIESIM_TASK_ID_MAX         24
#define KIESIM_URL_MAX             128

typedef struct kiesim_s kiesim_t;

//  Milliseconds; tests pass a clock they move by hand.
typedef int64_t(kiesim_clock_fn)(void *arg);

typedef enum {
    KIESIM_KEY_VALID,     //  works
    KIESIM_KEY_UNKNOWN,   //  401 "You do not have access permissions" (revoked)
    KIESIM_KEY_DISABLED,  //  401 "This API key has been disabled"
    KIESIM_KEY_OVER_LIMIT //  433 sub-key usage over its limit
} kiesim_key_state_t;

typedef struct {
    const char *key; //  the Bearer token
    int64_t credits; //  402 once below the task cost
    int rate_limit;  //  createTask per window (0 = unlimited)
    int64_t rate_window_ms;
    kiesim_key_state_t state;
} kiesim_key_t;

//  What a created task is set to do.
typedef enum {
    KIESIM_OUTCOME_SUCCESS,
    KIESIM_OUTCOME_CONTENT,   //  content / policy failure
    KIESIM_OUTCOME_TEMPORARY, //  failCode "500" "Internal server error"
    KIESIM_OUTCOME_NEVER,     //  never finishes
    KIESIM_OUTCOME_COUNT
} kiesim_outcome_t;

typedef enum {
    KIESIM_STATE_WAITING,
    KIESIM_STATE_QUEUING,
    KIESIM_STATE_GENERATING,
    KIESIM_STATE_SUCCESS,
    KIESIM_STATE_FAIL
} kiesim_state_t;

//  Everything that may change while the server runs.
typedef struct {
    //  Outcome mix of new tasks (probabilities; the rest succeed).
    double p_content_fail;
    double p_temporary_fail;
    double p_never;
    int64_t task_duration_ms;    //  default KIESIM_TASK_DURATION_MS
    int64_t visibility_delay_ms; //  422 "recordInfo is null" before this
    int64_t task_cost;           //  credits per task
    bool refund_failed;          //  failed tasks give their credits back
    int missing_field_code;      //  a required input missing: 422 or 500 ("This
                                 //  field is required", as seen live)
    int content_fail_code;       //  failCode of content failures (400)
    //  Errors: probability that an error also sets the HTTP status (else
    //  HTTP 200 with the code in the envelope, KIE's usual way).
    double p_http_status;
    //  Faults on every endpoint.
    int64_t latency_ms;     //  added to every response (real time)
    double p_server_error;  //  code 500 "Server Internal Error"
    double p_gateway_error; //  bare HTTP 502 text/html, no envelope
    double p_drop;          //  connection closed, request not handled
    double p_drop_after;    //  request handled, then connection closed
    bool maintenance;       //  455 on everything
    //  Result files: 0 = the sample MP4 as is; larger = the sample followed
    //  by a `free` box of padding up to this size (still a valid MP4).
    int64_t result_size;
    size_t upload_max_bytes; //  larger uploads are refused
    //  Empty fields as null or "" at random, "message" instead of "msg" now
    //  and then (both seen in KIE's docs): for parser robustness runs.
    bool vary_shapes;
} kiesim_behaviour_t;

typedef struct {
    const char *host;       //  NULL = KIESIM_HOST
    uint16_t port;          //  0 = ephemeral
    const char *public_url; //  base of result/download URLs; NULL = kiesim_url()
    kiesim_clock_fn *clock; //  NULL = monotonic ms
    void *clock_arg;
    uint64_t seed; //  random choices (0 = a fixed default)
    const kiesim_key_t *keys;
    size_t key_count;
    const char *hmac_key; //  signs callbacks; NULL = unsigned
    int64_t callback_timeout_ms;
    unsigned threads; //  0 = one thread per connection, else a pool
    kiesim_behaviour_t behaviour;
} kiesim_options_t;

typedef struct {
    uint64_t requests;         //  every HTTP request
    uint64_t creates;          //  tasks created
    uint64_t creates_rejected; //  createTask answered with an error
    uint64_t polls;            //  recordInfo calls (any answer)
    uint64_t polls_not_found;  //  ... answered 422 recordInfo is null
    uint64_t credit_calls;
    uint64_t uploads; //  files stored
    uint64_t upload_bytes;
    uint64_t downloads;      //  result and upload files served
    uint64_t unauthorized;   //  401/433 answers
    uint64_t faults;         //  injected errors, 502s and drops
    uint64_t callbacks_sent; //  answered 2xx
    uint64_t callbacks_failed;
    uint64_t telegram_urls;   //  image URLs that were Telegram file URLs
    uint64_t tasks;           //  tasks held
    uint64_t tasks_in_flight; //  not finished at the clock's now
    uint64_t tasks_succeeded;
    uint64_t tasks_failed;
    uint64_t task_bytes; //  memory held by tasks (structs and strings)
} kiesim_stats_t;

typedef struct {
    kiesim_key_state_t state;
    int64_t credits;
    uint64_t creates;
    uint64_t creates_rejected;
    uint64_t polls;
    uint64_t credit_calls;
    uint64_t uploads;
    uint64_t outcomes[KIESIM_OUTCOME_COUNT]; //  created tasks by planned outcome
} kiesim_key_stats_t;

//  The sample result: a genuine tiny MP4 (sample_mp4.c).
extern const unsigned char kiesim_sample_mp4[];
extern const size_t kiesim_sample_mp4_size;

//  Defaults: ephemeral port, no keys, all successes, durations as defined
//  above, envelope errors, no faults.
void kiesim_options_init(kiesim_options_t *options);

//  Starts the server (NULL options = defaults). Returns NULL when it cannot
//  bind or an option is invalid (a message on stderr).
kiesim_t *kiesim_new(const kiesim_options_t *options);
//  Stops the server and the callback thread, frees everything.
void kiesim_destroy(kiesim_t **self_p);

//  "http://127.0.0.1:<port>" (no trailing slash); valid until destroy.
const char *kiesim_url(kiesim_t *self);
uint16_t kiesim_port(kiesim_t *self);

//  Adds a key, or replaces its settings (its counters stay).
int kiesim_key_add(kiesim_t *self, const kiesim_key_t *key);
//  These return -1 when the key is not known.
int kiesim_key_set_state(kiesim_t *self, const char *key, kiesim_key_state_t state);
int kiesim_key_set_credits(kiesim_t *self, const char *key, int64_t credits);
int kiesim_key_set_rate_limit(kiesim_t *self, const char *key, int limit, int64_t window_ms);
int kiesim_key_stats(kiesim_t *self, const char *key, kiesim_key_stats_t *stats);

//  Accept another model slug (besides the Sora 2, Kling and nano-banana
//  ones built in); needs_image: input.image_urls required.
int kiesim_model_add(kiesim_t *self, const char *model, bool needs_image);

void kiesim_behaviour(kiesim_t *self, kiesim_behaviour_t *behaviour);
void kiesim_set_behaviour(kiesim_t *self, const kiesim_behaviour_t *behaviour);
void kiesim_set_maintenance(kiesim_t *self, bool on);

void kiesim_stats(kiesim_t *self, kiesim_stats_t *stats);
//  State of a task at the clock's now (-1 when unknown); progress optional.
int kiesim_task_state(kiesim_t *self, const char *task_id, int *progress);
//  Every task, in creation order, as a JSON array the caller json_decref()s:
//  {taskId, key, model, prompt, imageUrls[], callBackUrl|null, state,
//   progress, outcome, polls, createTime}.
json_t *kiesim_tasks(kiesim_t *self);
//  Every upload: {id, key, fileName, filePath, size, mimeType, downloadUrl}.
json_t *kiesim_uploads(kiesim_t *self);

//  Waits until every callback due at the clock's now has been attempted;
//  0 when done, -1 after timeout_ms (real time).
int kiesim_flush_callbacks(kiesim_t *self, int timeout_ms);

//  base64(HMAC-SHA256(hmac_key, task_id + "." + timestamp)) into out (at
//  least 45 bytes); what a callback receiver must compute. Returns out.
char *kiesim_webhook_signature(const char *hmac_key, const char *task_id, const char *timestamp,
                               char *out, size_t size);

#endif
