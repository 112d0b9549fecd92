/*  worker.h — the KIE key worker: one actor per KIE API key.

    A worker owns one key: the jobs it has in hand (at most `slots`), a
    createTask budget (a token bucket under KIE's 20 per 10 s per account)
    and the key's health — healthy, cooling until a time, or disabled —
    persisted in the ledger by the key's fingerprint (never the key).

    The pipeline of one job (DESIGN.md "The generation pipeline"):
      claim     JOBS_CLAIM {key_id: fingerprint, max_n} while healthy, with
                free slots and budget; one claim in flight at a time, and
                when the queue was empty, again after idle_poll_ms.
      photo     Telegram getFile -> download (TG_DOWNLOAD_MAX) -> KIE
                file-stream-upload -> its URL, cached by photo_unique_id
                for upload_cache_ms; concurrent jobs of one photo wait for
                one upload. The Telegram file URL holds the bot token: it is
                built in memory, handed to httpc and wiped, never logged.
      prompt    prompt_from_params (prompt.h), capped at the model's limit.
      create    createTask; its task id goes to the ledger (JOB_SUBMITTED)
                and only after the ledger's OK does anything else happen:
                a task id is durable before it is polled.
      poll      recordInfo on backoff_poll_ms's schedule, up to max_task_ms
                (then JOB_FAILED "timeout"). "recordInfo is null" = not
                visible yet; a poll that fails is asked again, not a job
                failure. Progress is reported only when KIE gives one and it
                changed (JOB_PROGRESS + an event).
      success   JOB_SUCCEEDED {result_url} (the capture), then the event
                "succeeded"; the shard delivers and marks it delivered.
      failure   kie_classify's class and its row of the class table: retry
                with backoff (JOB_RETRY counted, until max_attempts), requeue
                for any key (JOB_RETRY not counted), or JOB_FAILED (the
                release); the key cools (rate_limited: cooldown_ms doubling
                up to an hour; billing: billing_cooldown_ms) or is disabled
                (auth), with an "alert=<class>" error line.
    Every ledger answer is followed by one MSG_K_JOB_EVENT, PUSHed to the
    shard of the job's user (user_id % shard_count): "submitted" (with
    progress when known), "succeeded" (result_url), "queued" (a retry:
    err_class, attempts = the attempt coming next, max_attempts) or
    "failed" (err_class, credits = the price given back).

    Startup: the key's health (KEY_HEALTH_LOAD; a key loaded as disabled is
    probed once with GET credit and is healthy again when KIE accepts it),
    then its submitted jobs (JOBS_LIST) are polled again — never created
    again. Worker index 0 also fails and releases submitted jobs of keys no
    longer configured, and every expire_every_ms releases queued jobs older
    than queue_max_wait_ms (JOBS_EXPIRE), with a "failed" event for each.

    $TERM stops at once: calls in flight are cancelled. Task ids already
    recorded are polled again by the next run; a createTask cut short is
    lost (KIE may have made the task; nothing refers to it).
*/
#ifndef GENBOT_WORKER_H
#define GENBOT_WORKER_H

#include <czmq.h>
#include <stdint.h>

#include "catalog.h"
#include "config.h"

#define WORKER_SLOTS            50   //  GENBOT_KEY_SLOTS: jobs in hand per key
#define WORKER_CREATE_PER_10S   20   //  GENBOT_KEY_CREATE_PER_10S: KIE's documented limit
#define WORKER_CLAIM_MAX        40   //  rows per claim (store.h STORE_CLAIM_MAX)
#define WORKER_IDLE_POLL_MS     200  //  asking for work while the queue is empty
#define WORKER_EXPIRE_EVERY_MS  5000 //  worker 0: queue expiry and housekeeping
#define WORKER_UPLOAD_CACHE_MS  (3 * 3600 * 1000) //  KIE keeps uploads >= 24 h
#define WORKER_UPLOAD_CACHE_MAX 4096              //  photos remembered per worker
#define WORKER_RETRY_CAP_MS     600000            //  longest backoff before a retry
#define WORKER_LEDGER_RETRY_MS  1000              //  a ledger request that failed is sent again
#define WORKER_RECOVER_LIMIT    200 //  submitted jobs listed per page (msg.h MSG_MAX_ROWS)

//  Milliseconds since the epoch, in the ledger's clock (at_ms values and
//  the ledger's created_ms are compared with it).
typedef int64_t(worker_clock_fn)(void *arg);

typedef struct {
    const config_t *config; //  URLs, bot token, poll/retry/attempt/cooldown/queue knobs
    const char *key;        //  the KIE API key: a secret
    const catalog_t *catalog;
    const char *ledger_endpoint;        //  NULL = LEDGER_ENDPOINT
    const char *const *shard_endpoints; //  where each shard binds its PULL
    size_t shard_count;
    size_t index;                    //  0 = also the fleet's chores (see above)
    const char *const *fingerprints; //  every configured key's fingerprint
    size_t fingerprint_count;        //  (worker 0 releases jobs of other keys)
    worker_clock_fn *clock;          //  NULL = wall clock
    void *clock_arg;
    int64_t slots;          //  GENBOT_KEY_SLOTS; 0 = WORKER_SLOTS
    int64_t create_per_10s; //  GENBOT_KEY_CREATE_PER_10S; 0 = WORKER_CREATE_PER_10S
    //  Overrides for tests (0 = the default or the config's value).
    int64_t idle_poll_ms;        //  WORKER_IDLE_POLL_MS
    int64_t cooldown_ms;         //  GENBOT_KEY_COOLDOWN_S
    int64_t billing_cooldown_ms; //  GENBOT_KEY_BILLING_COOLDOWN_S
    int64_t max_task_ms;         //  GENBOT_KIE_MAX_TASK_S
    int64_t queue_max_wait_ms;   //  GENBOT_QUEUE_MAX_WAIT_S
    int64_t expire_every_ms;     //  WORKER_EXPIRE_EVERY_MS
    int64_t upload_cache_ms;     //  WORKER_UPLOAD_CACHE_MS
    uint64_t seed;               //  jitter; 0 = from the clock
} worker_args_t;

//  Starts the worker for args->key. NULL (logged) when it can't: no key, a
//  key KIE could not accept as a Bearer token, no shards, the ledger not
//  answering the health load. args (and what it points to) must outlive
//  the actor.
zactor_t *worker_start(worker_args_t *args);

#endif
