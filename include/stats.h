/*  stats.h — the stats actor: genbot's live numbers and notable events on a
    ZeroMQ PUB socket (DESIGN.md "Ops"; every field in docs/stats.md).

    Every actor keeps named counters, gauges, a queue depth and latency
    histograms in its actor_stats_t (actor.h: C11 atomics, written by the
    actor alone). Once per interval the stats actor copies every block of
    the registry and publishes one two-frame message:

        frame 1  "stats"
        frame 2  a msgpack map, schema STATS_SCHEMA (STATS_FIELDS below)

    Percentiles cover the interval since the previous message: each
    histogram's bucket counts minus the previous copy's.

    Events: stats_event() from any thread encodes a msgpack map into a
    lock-free bounded ring (no socket, no lock, never blocks; when the ring
    is full the event is dropped and counted). The stats actor drains the
    ring every STATS_EVENT_POLL_MS and publishes each as

        frame 1  "event.<kind>"   (STATS_EVENTS below)
        frame 2  a msgpack map: schema, kind, seq, at_ms and the fields

    and keeps the last STATS_RECENT_EVENTS in every stats message (a
    subscriber that connects late, or reconnects, still sees them; seq
    tells which it has seen). One stats actor per process: the registry
    and the ring are the process's.

    A PUB socket never blocks the bot: a subscriber that is slow or absent
    misses messages. A bind that fails is logged and tried again every
    STATS_BIND_RETRY_MS; the bot runs on without its feed meanwhile.
*/
#ifndef GENBOT_STATS_H
#define GENBOT_STATS_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "actor.h"
#include "config.h"

#define STATS_SCHEMA        1
#define STATS_TOPIC         "stats"
#define STATS_EVENT_PREFIX  "event."
#define STATS_RECENT_EVENTS 16   //  the last events, in every stats message
#define STATS_EVENT_MAX     1024 //  bytes of one encoded event
#define STATS_EVENT_STR_MAX 200  //  a string field is cut to this many bytes
#define STATS_EVENT_FIELDS  12   //  fields of one event, past the common ones
#define STATS_EVENT_RING    256  //  events waiting for the stats actor (power of 2)
#define STATS_EVENT_POLL_MS 20
#define STATS_BIND_RETRY_MS 5000
#define STATS_LINGER_MS     500    //  the last messages' chance to leave at stop
#define STATS_WORKER_PREFIX "kie " //  a key worker's actor name: "kie <fingerprint>"

//  Q(name, p): the percentiles of every latency map.
#define STATS_PERCENTILES(Q) Q("p50", 0.50) Q("p99", 0.99)

//  F("path", "type", "meaning"): every field of a stats message, in order.
//  path: a.b = key b of map a; a[] = each item of array a; a.* = each value
//  of a map whose keys are names (actors, states, classes). type: uint,
//  int, float, str, map, array; "|nil" = may be nil. Latencies are µs.
#define STATS_LATENCY_FIELDS(F, path, what)                                                        \
    F(path, "map", what)                                                                           \
    F(path ".count", "uint", "observations in the interval")                                       \
    F(path ".mean", "float|nil", "mean over the interval, µs (nil: no observation)")               \
    F(path ".p50", "uint|nil", "median over the interval, µs (log2-bucket estimate)")              \
    F(path ".p99", "uint|nil", "99th percentile over the interval, µs (log2-bucket estimate)")
#define STATS_FIELDS(F)                                                                            \
    F("schema", "uint", "the schema version: changes when a field changes meaning or goes away")   \
    F("version", "str", "genbot's version")                                                        \
    F("pid", "uint", "the process id (a new one: genbot restarted)")                               \
    F("at_ms", "uint", "wall clock of the sample, ms since the epoch")                             \
    F("uptime_ms", "uint", "since the stats actor started (the first actor genbot starts)")        \
    F("interval_ms", "uint", "since the previous sample: what the interval values cover")          \
    F("updates", "map", "Telegram updates, counted since start")                                   \
    F("updates.received", "uint", "taken from getUpdates by the poller")                           \
    F("updates.handled", "uint", "handled by the session shards")                                  \
    F("updates.redelivered", "uint", "sent again by Telegram, skipped by the shards")              \
    F("replies", "map", "Bot API calls through the notifier, since start")                         \
    F("replies.calls", "uint", "calls asked for (replies, edits, answers, media)")                 \
    F("replies.sent", "uint", "calls Telegram accepted")                                           \
    F("replies.retries", "uint", "calls tried again after a 5xx or a network error")               \
    F("replies.given_up", "uint", "calls abandoned after their last attempt")                      \
    F("telegram_errors", "map", "Telegram errors by kind, poller and notifier, since start")       \
    F("telegram_errors.429", "uint", "Too Many Requests")                                          \
    F("telegram_errors.403", "uint", "Forbidden (a user blocked the bot)")                         \
    F("telegram_errors.5xx", "uint", "server errors")                                              \
    F("telegram_errors.network", "uint", "no HTTP answer (connect, TLS, timeout)")                 \
    F("telegram_errors.4xx", "uint", "any other 4xx (401 and 409 of getUpdates included)")         \
    F("ledger", "map", "the ledger's group commit, since start")                                   \
    F("ledger.batches", "uint", "transactions committed (or rolled back)")                         \
    F("ledger.requests", "uint", "requests applied")                                               \
    F("ledger.errors", "uint", "requests answered with an error")                                  \
    F("ledger.commit_failures", "uint", "batches rolled back and applied one by one")              \
    STATS_LATENCY_FIELDS(F, "ledger.commit_us", "one batch: BEGIN to COMMIT")                      \
    STATS_LATENCY_FIELDS(F, "update_reply_us",                                                     \
                         "an update's arrival at its shard to its replies handed to the "          \
                         "notifier, the session durable")                                          \
    STATS_LATENCY_FIELDS(F, "telegram_send_us",                                                    \
                         "a call's arrival at the notifier to Telegram's OK (pacing included)")    \
    F("jobs", "map", "generation jobs as the key workers saw them, since start (sums over keys)")  \
    F("jobs.in_flight", "uint", "in the workers' hands now (running or submitted)")                \
    F("jobs.claimed", "uint", "claimed from the queue")                                            \
    F("jobs.recovered", "uint", "submitted before a restart, polled again")                        \
    F("jobs.created", "uint", "KIE tasks created")                                                 \
    F("jobs.succeeded", "uint", "finished with a result")                                          \
    F("jobs.failed", "uint", "failed for good (credits released)")                                 \
    F("jobs.retries", "uint", "retried with backoff (attempt counted)")                            \
    F("jobs.requeues", "uint", "given back to the queue for any key (not counted)")                \
    F("jobs.expired", "uint", "released after waiting too long for a usable key")                  \
    F("jobs_by_state", "map|nil",                                                                  \
      "jobs in the ledger by non-terminal state; nil until the ledger has answered")               \
    F("jobs_by_state.*", "uint", "jobs in that state (job.h JOB_STATES)")                          \
    F("keys", "array", "one map per KIE key worker")                                               \
    F("keys[]", "map", "a key")                                                                    \
    F("keys[].fingerprint", "str", "the key's fingerprint (never the key)")                        \
    F("keys[].health", "str", "healthy, cooling or disabled")                                      \
    F("keys[].reason", "str|nil", "why not healthy: a KIE error class (nil when healthy)")         \
    F("keys[].until_ms", "uint|nil", "while cooling: when it may be used again, epoch ms")         \
    F("keys[].in_flight", "uint", "jobs in hand now")                                              \
    F("keys[].slots", "uint", "jobs it may hold at once")                                          \
    F("keys[].created", "uint", "KIE tasks created, since start")                                  \
    F("keys[].succeeded", "uint", "jobs succeeded, since start")                                   \
    F("keys[].failed", "map", "jobs failed for good by KIE error class, since start")              \
    F("keys[].failed.*", "uint", "failures of that class (kie.h KIE_CLASSES)")                     \
    F("queues", "map", "every actor's backlog now, by actor name")                                 \
    F("queues.*", "int", "see \"Queue depths\"")                                                   \
    F("actors", "map", "every actor's counters by actor name: the raw numbers behind the rest")    \
    F("actors.*", "map", "the actor's counter table")                                              \
    F("actors.*.*", "uint", "a counter, since the actor started")                                  \
    F("events", "array", "the last events, oldest first (up to 16, STATS_RECENT_EVENTS)")          \
    F("events[]", "map", "an event map, as published on its topic")                                \
    F("events_dropped", "uint", "events lost because the ring was full, since start")

//  The common fields of every event map (its own follow, per kind).
#define STATS_EVENT_COMMON(F)                                                                      \
    F("schema", "uint", "the schema version, as in the stats message")                             \
    F("kind", "str", "the kind, as in the topic")                                                  \
    F("seq", "uint", "process-wide, from 1: a gap is an event dropped")                            \
    F("at_ms", "uint", "when it happened, ms since the epoch")

//  E(ID, "kind", "emitted by", "fields", "when")
#define STATS_EVENTS(E)                                                                            \
    E(KEY_COOLDOWN, "key_cooldown", "worker", "key str, class str, cooldown_ms int, strikes int",  \
      "a key was rate limited: no claims until the cooldown ends")                                 \
    E(KEY_DISABLED, "key_disabled", "worker", "key str, class str, detail str",                    \
      "KIE refused the key: disabled until an operator acts")                                      \
    E(BILLING_ERROR, "billing_error", "worker", "key str, cooldown_ms int, detail str",            \
      "the key's account is out of credit or over its cap: the key cools down")                    \
    E(ALL_KEYS_DOWN, "all_keys_down", "stats", "keys int, cooling int, disabled int",              \
      "no configured key is healthy any more: orders wait (sent once per episode)")                \
    E(JOB_STUCK, "job_stuck", "worker",                                                            \
      "reason str (queue_expired: count int, max_wait_ms int; task_timeout: job_id int, key str, " \
      "max_task_ms int)",                                                                          \
      "jobs waited too long for a usable key, or a KIE task ran past its limit: released")         \
    E(RECOVERY, "recovery", "ledger", "requeued int, submitted int, to_deliver int",               \
      "the ledger's startup recovery summary")                                                     \
    E(SHUTDOWN, "shutdown", "supervisor", "(none)", "genbot is stopping")

typedef enum {
#define STATS_EV_ENUM(id, kind, by, fields, when) STATS_EV_##id,
    STATS_EVENTS(STATS_EV_ENUM)
#undef STATS_EV_ENUM
        STATS_EV_COUNT_
} stats_event_kind_t;

typedef enum { STATS_V_INT, STATS_V_STR, STATS_V_BOOL } stats_value_type_t;

typedef struct {
    const char *name;
    stats_value_type_t type;
    int64_t i;     //  STATS_V_INT, STATS_V_BOOL
    const char *s; //  STATS_V_STR (NULL is sent as nil)
} stats_field_t;

#define STATS_INT(n, v)  ((stats_field_t){.name = (n), .type = STATS_V_INT, .i = (int64_t)(v)})
#define STATS_STR(n, v)  ((stats_field_t){.name = (n), .type = STATS_V_STR, .s = (v)})
#define STATS_BOOL(n, v) ((stats_field_t){.name = (n), .type = STATS_V_BOOL, .i = (v) ? 1 : 0})

//  stats_event(STATS_EV_KEY_COOLDOWN, STATS_STR("key", fp), STATS_INT("cooldown_ms", ms));
//  From any thread, never blocks. Returns 0, or -1 when the ring was full
//  (the event is dropped and counted).
#define stats_event(kind, ...)                                                                     \
    stats_event_fields(                                                                            \
        (kind), (const stats_field_t[]){{NULL, STATS_V_INT, 0, NULL}, ##__VA_ARGS__} + 1,          \
        sizeof((const stats_field_t[]){{NULL, STATS_V_INT, 0, NULL}, ##__VA_ARGS__}) /             \
                sizeof(stats_field_t) -                                                            \
            1)
int stats_event_fields(stats_event_kind_t kind, const stats_field_t *fields, size_t count);
const char *stats_event_name(stats_event_kind_t kind); //  "?" when unknown

//  An estimate of the q-quantile (0 < q <= 1) of the observations counted
//  in buckets (an actor_hist_t's bucket layout, usually an interval's
//  differences): linear within the bucket it falls in, so never more than
//  the bucket's upper bound. 0 when there is none.
uint64_t stats_percentile(const uint64_t buckets[ACTOR_HIST_BUCKETS], double q);

typedef struct {
    const config_t *config;      //  stats_bind, stats_interval_ms
    const char *bind;            //  NULL = config->stats_bind
    int64_t interval_ms;         //  0 = config->stats_interval_ms
    const char *ledger_endpoint; //  jobs by state; NULL = LEDGER_ENDPOINT
} stats_args_t;

//  Starts the stats actor (it starts even when its bind fails: see above).
//  args must outlive it. $TERM publishes the events still in the ring.
zactor_t *stats_start(stats_args_t *args);

#endif
