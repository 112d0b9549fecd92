/*  worker_internal.h — shared by the key worker's files: worker.c (the
    actor: start, claims, ledger replies, key health, chores), worker_job.c
    (one job's pipeline) and worker_photo.c (input photos and their cache).
    Not part of the worker interface (worker.h).

    Every function here runs on the worker's own thread.
*/
#ifndef GENBOT_WORKER_INTERNAL_H
#define GENBOT_WORKER_INTERNAL_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "actor.h"
#include "backoff.h"
#include "catalog.h"
#include "httpc.h"
#include "kie.h"
#include "msg.h"
#include "worker.h"

#define W_LOG              "worker"
#define W_CALL_TIMEOUT_MS  30000  //  createTask, recordInfo, getFile, credit
#define W_MEDIA_TIMEOUT_MS 120000 //  the photo's download and upload
#define W_POLL_ERRORS_MAX  5      //  non-temporary poll errors in a row end the job
#define W_PHOTO_KEY_MAX    256    //  photo_unique_id bytes with the NUL
#define W_UPLOAD_PATH      "genbot/inputs"
#define W_HTTP_CONNECTIONS 16

//  C(ID, "name"): the worker's counters; the failures by class follow them
//  (W_C_FAILED + kie_class_t). jobs_in - jobs_out is the jobs in hand.
#define WORKER_COUNTERS(C)                                                                         \
    C(CLAIMS, "claims")                                                                            \
    C(CLAIMED, "claimed")                                                                          \
    C(RECOVERED, "recovered")                                                                      \
    C(CREATED, "created")                                                                          \
    C(CREATE_ERRORS, "create_errors")                                                              \
    C(POLLS, "polls")                                                                              \
    C(POLL_ERRORS, "poll_errors")                                                                  \
    C(PROGRESS, "progress_reports")                                                                \
    C(SUCCEEDED, "succeeded")                                                                      \
    C(RETRIES, "retries")                                                                          \
    C(REQUEUES, "requeues")                                                                        \
    C(UPLOADS, "uploads")                                                                          \
    C(UPLOAD_CACHE_HITS, "upload_cache_hits")                                                      \
    C(UPLOAD_ERRORS, "upload_errors")                                                              \
    C(EXPIRED, "expired")                                                                          \
    C(FOREIGN_FAILED, "foreign_failed")                                                            \
    C(JOBS_IN, "jobs_in")                                                                          \
    C(JOBS_OUT, "jobs_out")                                                                        \
    C(KEY_COOLDOWNS, "key_cooldowns")                                                              \
    C(KEY_DISABLED, "key_disabled")                                                                \
    C(LEDGER_ERRORS, "ledger_errors")

enum {
#define W_C_ENUM(id, name) W_C_##id,
    WORKER_COUNTERS(W_C_ENUM)
#undef W_C_ENUM
        W_C_FAILED //  + kie_class_t
};

typedef enum { W_KEY_HEALTHY, W_KEY_COOLING, W_KEY_DISABLED } w_health_t;

typedef struct worker_s worker_t;

//  Where a job is. One thing at a time is outstanding for it: an HTTP
//  call, a timer, a ledger request, or its place in a photo's waiters.
typedef enum {
    WJ_PHOTO,  //  waiting for its input photo's URL
    WJ_CREATE, //  createTask in flight
    WJ_RECORD, //  JOB_SUBMITTED sent: nothing else until the ledger's OK
    WJ_POLL,   //  polling recordInfo
    WJ_END,    //  JOB_SUCCEEDED / JOB_FAILED / JOB_RETRY sent
} wjob_phase_t;

typedef struct {
    worker_t *worker;
    void *handle; //  in worker->jobs
    wjob_phase_t phase;
    int64_t job_id, user_id, chat_id, idx, price, attempts, message_id;
    char order_token[MSG_MAX_TOKEN + 1];
    char model_id[MSG_MAX_TOKEN + 1];
    const catalog_model_t *model; //  NULL until started
    char *params;
    char *prompt;
    char photo_key[W_PHOTO_KEY_MAX]; //  photo_unique_id, else the file_id
    char *image_url;                 //  the uploaded photo
    char task_id[KIE_TASK_ID_MAX];
    int64_t started_ms; //  the task's creation (a resumed one: its last update)
    int progress;       //  last reported, -1 = none
    int timer;          //  -1 = none
    int poll_errors;    //  non-temporary ones in a row
    uint64_t corr;      //  the ledger request it waits for, 0 = none
    //  the end request and the event that follows its OK
    int end_kind; //  MSG_K_JOB_SUCCEEDED, _FAILED or _RETRY
    kie_class_t end_class;
    char *end_detail; //  heap, set at the end: 10,000 jobs in flight stay small
    int64_t end_at_ms;
    bool end_counted;
    char *result_url; //  heap, set on success
} wjob_t;

//  The optional parts of a job event.
typedef struct {
    const char *state;
    int progress;          //  -1 = none
    const char *err_class; //  NULL = none
    const char *err_detail;
    int64_t attempts; //  0 = none
    int64_t max_attempts;
    const char *result_url;
    int64_t credits; //  0 = none
} wevent_t;

struct worker_s {
    worker_args_t *args;
    const config_t *config;
    actor_t *actor;
    httpc_t *http;
    zsock_t *ledger;
    zsock_t **shards;
    char name[40];
    char fingerprint[KIE_FINGERPRINT_MAX];
    char auth[KIE_AUTH_VALUE_MAX + 32]; //  "Authorization: Bearer <key>": a secret
    const char *headers[2];             //  {auth, NULL}
    //  timings, resolved from args and config
    int64_t slots, idle_poll_ms, cooldown_ms, billing_cooldown_ms, max_task_ms;
    int64_t queue_max_wait_ms, expire_every_ms, upload_cache_ms;
    bucket_t *bucket;
    //  the key's health
    w_health_t health;
    int64_t health_until_ms;  //  while cooling
    kie_class_t health_class; //  why it is not healthy
    backoff_cooldown_t cooldown;
    //  jobs and requests
    zlistx_t *jobs; //  wjob_t *, owned
    uint64_t next_corr;
    uint64_t claim_corr, list_corr, sweep_corr, expire_corr;
    int64_t next_claim_ms;
    bool listed;      //  own submitted jobs listed once: claims may start
    bool list_more;   //  the last page was full: list again as jobs end
    bool sweep_more;  //  worker 0: the foreign-key sweep page was full
    zhashx_t *photos; //  photo key -> wphoto_t
    uint64_t rng;
    //  jobs whose poll is due, handed from a timer to the wake reader
    zsock_t *wake_in, *wake_out;
    zlistx_t *due; //  wjob_t *, not owned
    bool woken;
};

//  worker.c
int64_t worker_now(worker_t *self);
double worker_random(worker_t *self);
//  Sends a request the caller waits for; returns its corr id (0 = not sent).
uint64_t worker_ledger_send(worker_t *self, msg_t **msg_p);
//  Sends a request whose reply only matters when it is an error.
void worker_ledger_notify(worker_t *self, msg_t **msg_p);
void worker_event(worker_t *self, const wjob_t *job, const wevent_t *event);
bool worker_key_usable(worker_t *self, int64_t now_ms);
//  The key action of a failure's class (cool, billing cooldown, disable).
void worker_key_hit(worker_t *self, kie_class_t cls, const char *detail);
void worker_key_ok(worker_t *self);
//  The job ended here: forget it, free it, claim more.
void worker_job_done(worker_t *self, wjob_t *job);
//  base + path (caller frees).
char *worker_url(worker_t *self, const char *base, const char *path);
//  Runs wjob_due(job) soon, from a socket handler rather than the timer
//  handler that calls this. zloop frees a timer ended by a timer handler
//  only after the pass, but actor_timer_end frees its record at once, so
//  a timer handler that starts an HTTP call (curl then ends and restarts
//  httpc's timer) can make zloop fire a freed record in the same pass.
void worker_defer(worker_t *self, wjob_t *job);

//  worker_job.c
wjob_t *wjob_new(worker_t *worker, const msg_t *row);
void wjob_destroy(wjob_t **self_p);
void wjob_start(wjob_t *self);  //  claimed: prompt, photo, create
void wjob_resume(wjob_t *self); //  submitted before a restart: poll
void wjob_photo_ready(wjob_t *self, const char *url);
//  Through the class table: retry, requeue or fail; the key's action.
void wjob_failure(wjob_t *self, kie_class_t cls, const char *detail);
//  Final at once (release), whatever the class table says.
void wjob_fail(wjob_t *self, kie_class_t cls, const char *detail);
void wjob_on_ledger(wjob_t *self, const msg_t *reply);
void wjob_due(wjob_t *self); //  its poll is due (worker_defer)

//  worker_photo.c
void worker_photos_new(worker_t *self);
void worker_photos_destroy(worker_t *self);
//  The job's photo URL: from the cache at once (wjob_photo_ready), or
//  after the one upload in flight for it; wjob_failure on failure.
void worker_photo_get(worker_t *self, wjob_t *job, const char *file_id);
//  A task could not use url: forget it so the retry uploads again.
void worker_photo_forget(worker_t *self, const char *photo_key, const char *url);
void worker_photos_purge(worker_t *self, int64_t now_ms);

#endif
