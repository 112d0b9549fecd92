/*  stats.c — the stats actor and the event ring (stats.h). */
#include "stats.h"

#include "job.h"
#include "ledger.h"

#include <assert.h>
#include <math.h>
#include <msgpack.h>
#include <string.h>
#include <unistd.h>

#include "kie.h"
#include "log.h"
#include "version.h"

//  --- the event ring ------------------------------------------------------------
//
//  A bounded multi-producer queue (D. Vyukov's): each cell's sequence says
//  whose turn it is. Stored minus the cell's index, so that the zeroed
//  static memory is the initial state and needs no set-up call.

typedef struct {
    _Atomic size_t seq;
    size_t size;
    uint8_t data[STATS_EVENT_MAX];
} s_cell_t;

#define S_RING_MASK (STATS_EVENT_RING - 1)
static s_cell_t s_ring[STATS_EVENT_RING];
static _Atomic size_t s_ring_head, s_ring_tail;
static _Atomic uint64_t s_event_seq, s_events_dropped;

static const char *const s_event_names[] = {
#define S_EV_NAME(id, kind, by, fields, when) kind,
    STATS_EVENTS(S_EV_NAME)
#undef S_EV_NAME
};

const char *stats_event_name(stats_event_kind_t kind) {
    return (int)kind >= 0 && kind < STATS_EV_COUNT_ ? s_event_names[kind] : "?";
}

//  msgpack into a fixed buffer: an event is encoded without malloc.
typedef struct {
    uint8_t *data;
    size_t size, used;
    bool overflow;
} s_fixed_t;

static int s_fixed_write(void *arg, const char *buf, size_t len) {
    s_fixed_t *fixed = (s_fixed_t *)arg;
    if (fixed->overflow || len > fixed->size - fixed->used) {
        fixed->overflow = true;
        return -1;
    }
    memcpy(fixed->data + fixed->used, buf, len);
    fixed->used += len;
    return 0;
}

static void s_pack_str(msgpack_packer *pk, const char *text, size_t max) {
    size_t len = strlen(text);
    if (len > max) {
        len = max;
        while (len && ((unsigned char)text[len] & 0xC0) == 0x80)
            len--; //  not in the middle of a UTF-8 character
    }
    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, text, len);
}

static size_t s_encode_event(uint8_t *data, stats_event_kind_t kind, uint64_t seq,
                             const stats_field_t *fields, size_t count) {
    s_fixed_t fixed = {data, STATS_EVENT_MAX, 0, false};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &fixed, s_fixed_write);
    msgpack_pack_map(&pk, 4 + (uint32_t)count + (fields ? 0 : 1));
    s_pack_str(&pk, "schema", SIZE_MAX);
    msgpack_pack_uint32(&pk, STATS_SCHEMA);
    s_pack_str(&pk, "kind", SIZE_MAX);
    s_pack_str(&pk, stats_event_name(kind), SIZE_MAX);
    s_pack_str(&pk, "seq", SIZE_MAX);
    msgpack_pack_uint64(&pk, seq);
    s_pack_str(&pk, "at_ms", SIZE_MAX);
    msgpack_pack_int64(&pk, zclock_time());
    if (!fields) {
        s_pack_str(&pk, "truncated", SIZE_MAX);
        msgpack_pack_true(&pk);
    }
    for (size_t i = 0; fields && i < count; i++) {
        s_pack_str(&pk, fields[i].name ? fields[i].name : "?", STATS_EVENT_STR_MAX);
        if (fields[i].type == STATS_V_STR && fields[i].s) {
            //  an error's detail may quote what it was given: no secret leaves
            char clean[STATS_EVENT_STR_MAX + 8];
            s_pack_str(&pk, log_redact(fields[i].s, clean, sizeof clean), STATS_EVENT_STR_MAX);
        } else if (fields[i].type == STATS_V_STR)
            msgpack_pack_nil(&pk);
        else if (fields[i].type == STATS_V_BOOL && fields[i].i)
            msgpack_pack_true(&pk);
        else if (fields[i].type == STATS_V_BOOL)
            msgpack_pack_false(&pk);
        else
            msgpack_pack_int64(&pk, fields[i].i);
    }
    return fixed.overflow ? 0 : fixed.used;
}

int stats_event_fields(stats_event_kind_t kind, const stats_field_t *fields, size_t count) {
    uint64_t seq = atomic_fetch_add(&s_event_seq, 1) + 1;
    if (count > STATS_EVENT_FIELDS) count = STATS_EVENT_FIELDS;
    uint8_t data[STATS_EVENT_MAX];
    size_t size = s_encode_event(data, kind, seq, fields, count);
    if (!size) //  too big: the common fields and "truncated"
        size = s_encode_event(data, kind, seq, NULL, 0);
    size_t pos = atomic_load_explicit(&s_ring_head, memory_order_relaxed);
    s_cell_t *cell;
    for (;;) {
        cell = &s_ring[pos & S_RING_MASK];
        size_t turn = atomic_load_explicit(&cell->seq, memory_order_acquire) + (pos & S_RING_MASK);
        intptr_t dif = (intptr_t)turn - (intptr_t)pos;
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&s_ring_head, &pos, pos + 1,
                                                      memory_order_relaxed, memory_order_relaxed))
                break;
        } else if (dif < 0) {
            atomic_fetch_add(&s_events_dropped, 1);
            return -1;
        } else
            pos = atomic_load_explicit(&s_ring_head, memory_order_relaxed);
    }
    memcpy(cell->data, data, size);
    cell->size = size;
    atomic_store_explicit(&cell->seq, pos + 1 - (pos & S_RING_MASK), memory_order_release);
    return 0;
}

//  The oldest event into data (STATS_EVENT_MAX bytes); its size, 0 = none.
static size_t s_event_take(uint8_t *data) {
    size_t pos = atomic_load_explicit(&s_ring_tail, memory_order_relaxed);
    s_cell_t *cell;
    for (;;) {
        cell = &s_ring[pos & S_RING_MASK];
        size_t turn = atomic_load_explicit(&cell->seq, memory_order_acquire) + (pos & S_RING_MASK);
        intptr_t dif = (intptr_t)turn - (intptr_t)(pos + 1);
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&s_ring_tail, &pos, pos + 1,
                                                      memory_order_relaxed, memory_order_relaxed))
                break;
        } else if (dif < 0)
            return 0;
        else
            pos = atomic_load_explicit(&s_ring_tail, memory_order_relaxed);
    }
    size_t size = cell->size;
    memcpy(data, cell->data, size);
    atomic_store_explicit(&cell->seq, pos + STATS_EVENT_RING - (pos & S_RING_MASK),
                          memory_order_release);
    return size;
}

uint64_t stats_percentile(const uint64_t buckets[ACTOR_HIST_BUCKETS], double q) {
    uint64_t total = 0;
    for (int b = 0; b < ACTOR_HIST_BUCKETS; b++)
        total += buckets[b];
    if (!total) return 0;
    uint64_t rank = (uint64_t)ceil(q * (double)total);
    if (rank < 1) rank = 1;
    if (rank > total) rank = total;
    uint64_t seen = 0;
    for (int b = 0; b < ACTOR_HIST_BUCKETS; b++) {
        if (seen + buckets[b] >= rank && buckets[b]) {
            if (b == 0) return 0;
            uint64_t lower = 1ULL << (b - 1), upper = 1ULL << b;
            return lower + (upper - lower) * (rank - seen) / buckets[b];
        }
        seen += buckets[b];
    }
    return 0;
}

//  --- the actor ---------------------------------------------------------------------

typedef enum { R_OTHER, R_POLLER, R_NOTIFIER, R_LEDGER, R_SHARD, R_WORKER } s_role_t;

//  One actor's numbers, copied out of the registry; histograms hold the
//  interval's differences once s_deltas has run.
typedef struct {
    char name[48];
    s_role_t role;
    const char *const *counter_names;
    size_t counter_count;
    uint64_t counters[ACTOR_MAX_COUNTERS];
    const char *const *gauge_names;
    size_t gauge_count;
    int64_t gauges[ACTOR_MAX_GAUGES];
    const char *const *hist_names;
    size_t hist_count;
    uint64_t hist[ACTOR_MAX_HISTS][ACTOR_HIST_BUCKETS];
    uint64_t hist_sum[ACTOR_MAX_HISTS];
    int64_t queue;
} s_snap_t;

//  An actor's histograms at the previous sample.
typedef struct {
    uint64_t hist[ACTOR_MAX_HISTS][ACTOR_HIST_BUCKETS];
    uint64_t hist_sum[ACTOR_MAX_HISTS];
    uint64_t tick; //  last sample it was seen in
} s_prev_t;

typedef struct {
    uint8_t data[STATS_EVENT_MAX];
    size_t size;
} s_recent_t;

typedef struct {
    stats_args_t *args;
    actor_t *actor;
    zsock_t *pub;
    const char *endpoint;
    bool bound;
    int64_t interval_ms;
    int64_t started_ms, last_ms; //  monotonic
    s_snap_t snaps[ACTOR_MAX_ACTORS];
    size_t snap_count;
    zhashx_t *prev; //  actor name -> s_prev_t
    uint64_t tick;
    s_recent_t recent[STATS_RECENT_EVENTS]; //  a ring, recent_next the oldest once full
    size_t recent_count, recent_next;
    bool all_keys_down;
    zsock_t *ledger;         //  asks for jobs by state once per interval
    bool counts_asked;       //  a request in flight
    int64_t counts_asked_at; //  monotonic ms, to ask again if no answer came
    int64_t counts[JOB_STATE_COUNT_ - 1];
    int64_t counts_at; //  monotonic ms of the last answer, 0 = none
} stats_t;

//  The worker's health gauge values, in the order of worker_internal.h's w_health_t.
static const char *const s_health_names[] = {"healthy", "cooling", "disabled"};
enum { S_HEALTHY = 0, S_COOLING = 1 };

static int s_on_tick(actor_t *actor, int timer_id, void *arg);
static int s_on_counts(actor_t *actor, zsock_t *sock, void *arg);
static int s_on_events(actor_t *actor, int timer_id, void *arg);
static int s_on_bind_retry(actor_t *actor, int timer_id, void *arg);
static void s_drain(stats_t *self);
static void s_bind(stats_t *self);
static void s_prev_free(void **item_p);

static const char *const s_counter_names[] = {"samples", "events", "publish_errors", NULL};
enum { C_SAMPLES, C_EVENTS, C_PUBLISH_ERRORS };

static void s_stats_actor(zsock_t *pipe, void *arg) {
    stats_args_t *args = (stats_args_t *)arg;
    stats_t *self = (stats_t *)calloc(1, sizeof(stats_t));
    assert(self);
    self->args = args;
    self->actor = actor_new(pipe, "stats", s_counter_names);
    self->endpoint = args->bind ? args->bind : args->config->stats_bind;
    self->interval_ms = args->interval_ms > 0 ? args->interval_ms : args->config->stats_interval_ms;
    if (self->interval_ms < 1) self->interval_ms = 1000;
    self->started_ms = self->last_ms = zclock_mono();
    self->prev = zhashx_new();
    zhashx_set_destructor(self->prev, s_prev_free);
    self->pub = zsock_new(ZMQ_PUB);
    if (!self->pub || !self->prev) {
        log_error("stats", "cannot start", NULL);
        actor_ready(self->actor, -1);
    } else {
        zsock_set_linger(self->pub, STATS_LINGER_MS);
        s_bind(self);
        self->ledger = ledger_connect(args->ledger_endpoint);
        if (self->ledger) actor_reader(self->actor, self->ledger, s_on_counts, self);
        actor_timer(self->actor, (size_t)self->interval_ms, 0, s_on_tick, self);
        actor_timer(self->actor, STATS_EVENT_POLL_MS, 0, s_on_events, self);
        actor_ready(self->actor, 0);
        actor_run(self->actor);
        s_drain(self); //  the events of the stop (shutdown) still leave
    }
    zsock_destroy(&self->pub);
    zsock_destroy(&self->ledger);
    zhashx_destroy(&self->prev);
    actor_destroy(&self->actor);
    free(self);
}

zactor_t *stats_start(stats_args_t *args) {
    assert(args && args->config);
    return actor_start(s_stats_actor, args);
}

static void s_bind(stats_t *self) {
    if (zsock_bind(self->pub, "%s", self->endpoint) >= 0) {
        self->bound = true;
        log_info("stats", "publishing", "endpoint=%s interval_ms=%lld", self->endpoint,
                 (long long)self->interval_ms);
        return;
    }
    log_error("stats", "cannot bind: no stats feed for now, trying again",
              "endpoint=%s error=\"%s\"", self->endpoint, zmq_strerror(zmq_errno()));
    actor_timer(self->actor, STATS_BIND_RETRY_MS, 1, s_on_bind_retry, self);
}

static int s_on_bind_retry(actor_t *actor, int timer_id, void *arg) {
    (void)actor, (void)timer_id;
    s_bind((stats_t *)arg);
    return 0;
}

static void s_publish(stats_t *self, const char *topic, const void *data, size_t size) {
    if (!self->bound) return;
    //  a PUB socket drops rather than blocks; an error here is a bug's sign
    if (zsock_send(self->pub, "sb", topic, data, size) != 0)
        actor_count(self->actor, C_PUBLISH_ERRORS, 1);
}

//  --- events -------------------------------------------------------------------------

static void s_drain(stats_t *self) {
    uint8_t data[STATS_EVENT_MAX];
    for (size_t size; (size = s_event_take(data));) {
        actor_count(self->actor, C_EVENTS, 1);
        msgpack_unpacked unpacked;
        msgpack_unpacked_init(&unpacked);
        char topic[64] = STATS_EVENT_PREFIX "?";
        if (msgpack_unpack_next(&unpacked, (const char *)data, size, NULL) ==
                MSGPACK_UNPACK_SUCCESS &&
            unpacked.data.type == MSGPACK_OBJECT_MAP) {
            const msgpack_object_map *map = &unpacked.data.via.map;
            for (uint32_t i = 0; i < map->size; i++) {
                const msgpack_object *key = &map->ptr[i].key, *value = &map->ptr[i].val;
                if (key->type == MSGPACK_OBJECT_STR && key->via.str.size == 4 &&
                    memcmp(key->via.str.ptr, "kind", 4) == 0 && value->type == MSGPACK_OBJECT_STR)
                    snprintf(topic, sizeof topic, STATS_EVENT_PREFIX "%.*s",
                             (int)value->via.str.size, value->via.str.ptr);
            }
        }
        msgpack_unpacked_destroy(&unpacked);
        s_publish(self, topic, data, size);
        s_recent_t *slot = &self->recent[self->recent_next];
        memcpy(slot->data, data, size);
        slot->size = size;
        self->recent_next = (self->recent_next + 1) % STATS_RECENT_EVENTS;
        if (self->recent_count < STATS_RECENT_EVENTS) self->recent_count++;
    }
}

static int s_on_events(actor_t *actor, int timer_id, void *arg) {
    (void)actor, (void)timer_id;
    s_drain((stats_t *)arg);
    return 0;
}

//  --- sampling -------------------------------------------------------------------------

static s_role_t s_role(const char *name) {
    if (strcmp(name, "poller") == 0) return R_POLLER;
    if (strcmp(name, "notifier") == 0) return R_NOTIFIER;
    if (strcmp(name, "ledger") == 0) return R_LEDGER;
    if (strncmp(name, "shard", 5) == 0) return R_SHARD;
    if (strncmp(name, STATS_WORKER_PREFIX, strlen(STATS_WORKER_PREFIX)) == 0) return R_WORKER;
    return R_OTHER;
}

static void s_copy(s_snap_t *snap, const actor_stats_t *block) {
    snprintf(snap->name, sizeof snap->name, "%s", block->name ? block->name : "?");
    snap->counter_names = block->counter_names;
    snap->counter_count = block->counter_count;
    for (size_t c = 0; c < snap->counter_count; c++)
        snap->counters[c] = atomic_load_explicit(&block->counters[c], memory_order_relaxed);
    snap->gauge_count = atomic_load_explicit(&block->gauge_count, memory_order_acquire);
    snap->gauge_names = block->gauge_names;
    for (size_t g = 0; g < snap->gauge_count; g++)
        snap->gauges[g] = atomic_load_explicit(&block->gauges[g], memory_order_relaxed);
    snap->hist_count = atomic_load_explicit(&block->hist_count, memory_order_acquire);
    snap->hist_names = block->hist_names;
    for (size_t h = 0; h < snap->hist_count; h++) {
        for (int b = 0; b < ACTOR_HIST_BUCKETS; b++)
            snap->hist[h][b] =
                atomic_load_explicit(&block->hists[h].buckets[b], memory_order_relaxed);
        snap->hist_sum[h] = atomic_load_explicit(&block->hists[h].sum_us, memory_order_relaxed);
    }
    snap->queue = atomic_load_explicit(&block->queue, memory_order_relaxed);
}

//  Histograms become the interval's differences. An actor seen for the
//  first time (or whose counts went down: another one under its name)
//  counts from zero.
static void s_deltas(stats_t *self, s_snap_t *snap) {
    s_prev_t *prev = (s_prev_t *)zhashx_lookup(self->prev, snap->name);
    if (!prev) {
        prev = (s_prev_t *)calloc(1, sizeof(s_prev_t));
        assert(prev);
        zhashx_insert(self->prev, snap->name, prev);
    }
    prev->tick = self->tick;
    for (size_t h = 0; h < snap->hist_count; h++) {
        bool reset = snap->hist_sum[h] < prev->hist_sum[h];
        for (int b = 0; b < ACTOR_HIST_BUCKETS; b++)
            reset = reset || snap->hist[h][b] < prev->hist[h][b];
        for (int b = 0; b < ACTOR_HIST_BUCKETS; b++) {
            uint64_t now = snap->hist[h][b];
            snap->hist[h][b] = reset ? now : now - prev->hist[h][b];
            prev->hist[h][b] = now;
        }
        uint64_t sum = snap->hist_sum[h];
        snap->hist_sum[h] = reset ? sum : sum - prev->hist_sum[h];
        prev->hist_sum[h] = sum;
    }
}

static bool s_named_before(const stats_t *self, size_t index, const char *name) {
    for (size_t j = 0; j < index; j++)
        if (strcmp(self->snaps[j].name, name) == 0) return true;
    return false;
}

static void s_sample(stats_t *self) {
    actor_stats_t *blocks[ACTOR_MAX_ACTORS];
    actor_registry_enter();
    self->snap_count = actor_registry(blocks, ACTOR_MAX_ACTORS);
    for (size_t i = 0; i < self->snap_count; i++)
        s_copy(&self->snaps[i], blocks[i]);
    actor_registry_leave();
    self->tick++;
    for (size_t i = 0; i < self->snap_count; i++) {
        s_snap_t *snap = &self->snaps[i];
        //  names are keys of the maps: a second actor of one name gets "#2"
        size_t len = strnlen(snap->name, sizeof snap->name - 8);
        for (size_t same = 2; s_named_before(self, i, snap->name); same++)
            snprintf(snap->name + len, sizeof snap->name - len, "#%zu", same);
        snap->role = s_role(snap->name);
        s_deltas(self, snap);
    }
    //  actors gone since the last sample
    zlistx_t *gone = zlistx_new();
    for (s_prev_t *prev = (s_prev_t *)zhashx_first(self->prev); prev;
         prev = (s_prev_t *)zhashx_next(self->prev))
        if (prev->tick != self->tick) zlistx_add_end(gone, (void *)zhashx_cursor(self->prev));
    for (const char *name = (const char *)zlistx_first(gone); name;
         name = (const char *)zlistx_next(gone))
        zhashx_delete(self->prev, name);
    zlistx_destroy(&gone);
}

static uint64_t s_counter(const s_snap_t *snap, const char *name) {
    for (size_t c = 0; c < snap->counter_count; c++)
        if (strcmp(snap->counter_names[c], name) == 0) return snap->counters[c];
    return 0;
}

static int64_t s_gauge(const s_snap_t *snap, const char *name) {
    for (size_t g = 0; g < snap->gauge_count; g++)
        if (strcmp(snap->gauge_names[g], name) == 0) return snap->gauges[g];
    return 0;
}

static uint64_t s_sum(const stats_t *self, s_role_t role, const char *counter) {
    uint64_t sum = 0;
    for (size_t i = 0; i < self->snap_count; i++)
        if (self->snaps[i].role == role) sum += s_counter(&self->snaps[i], counter);
    return sum;
}

//  --- the message -----------------------------------------------------------------------

static void s_key(msgpack_packer *pk, const char *key) {
    s_pack_str(pk, key, SIZE_MAX);
}

static void s_uint(msgpack_packer *pk, const char *key, uint64_t value) {
    s_key(pk, key);
    msgpack_pack_uint64(pk, value);
}

//  The latency map of every histogram named name, merged over actors.
static void s_latency(const stats_t *self, msgpack_packer *pk, const char *key, const char *name) {
    uint64_t buckets[ACTOR_HIST_BUCKETS] = {0}, sum = 0, count = 0;
    for (size_t i = 0; i < self->snap_count; i++) {
        const s_snap_t *snap = &self->snaps[i];
        for (size_t h = 0; h < snap->hist_count; h++)
            if (strcmp(snap->hist_names[h], name) == 0) {
                for (int b = 0; b < ACTOR_HIST_BUCKETS; b++) {
                    buckets[b] += snap->hist[h][b];
                    count += snap->hist[h][b];
                }
                sum += snap->hist_sum[h];
            }
    }
    s_key(pk, key);
    msgpack_pack_map(pk, 4);
    s_uint(pk, "count", count);
    s_key(pk, "mean");
    if (count)
        msgpack_pack_double(pk, (double)sum / (double)count);
    else
        msgpack_pack_nil(pk);
#define S_PERCENTILE(name, q)                                                                      \
    s_key(pk, name);                                                                               \
    if (count)                                                                                     \
        msgpack_pack_uint64(pk, stats_percentile(buckets, q));                                     \
    else                                                                                           \
        msgpack_pack_nil(pk);
    STATS_PERCENTILES(S_PERCENTILE)
#undef S_PERCENTILE
}

static void s_pack_key(msgpack_packer *pk, const s_snap_t *snap, int64_t now_ms) {
    int64_t health = s_gauge(snap, "health");
    if (health < 0 || health > 2) health = S_HEALTHY;
    msgpack_pack_map(pk, 9);
    s_key(pk, "fingerprint");
    s_key(pk, snap->name + strlen(STATS_WORKER_PREFIX));
    s_key(pk, "health");
    s_key(pk, s_health_names[health]);
    s_key(pk, "reason");
    if (health != S_HEALTHY)
        s_key(pk, kie_class_name((kie_class_t)s_gauge(snap, "reason")));
    else
        msgpack_pack_nil(pk);
    s_key(pk, "until_ms");
    int64_t until = s_gauge(snap, "until_ms");
    if (health == S_COOLING && until > now_ms)
        msgpack_pack_uint64(pk, (uint64_t)until);
    else
        msgpack_pack_nil(pk);
    uint64_t in = s_counter(snap, "jobs_in"), out = s_counter(snap, "jobs_out");
    s_uint(pk, "in_flight", in > out ? in - out : 0);
    int64_t slots = s_gauge(snap, "slots");
    s_uint(pk, "slots", slots > 0 ? (uint64_t)slots : 0);
    s_uint(pk, "created", s_counter(snap, "created"));
    s_uint(pk, "succeeded", s_counter(snap, "succeeded"));
    s_key(pk, "failed");
    uint32_t classes = 0;
    for (size_t c = 0; c < snap->counter_count; c++)
        classes += strncmp(snap->counter_names[c], "failed_", 7) == 0;
    msgpack_pack_map(pk, classes);
    for (size_t c = 0; c < snap->counter_count; c++)
        if (strncmp(snap->counter_names[c], "failed_", 7) == 0)
            s_uint(pk, snap->counter_names[c] + 7, snap->counters[c]);
}

static uint64_t s_failed(const s_snap_t *snap) {
    uint64_t failed = 0;
    for (size_t c = 0; c < snap->counter_count; c++)
        if (strncmp(snap->counter_names[c], "failed_", 7) == 0) failed += snap->counters[c];
    return failed;
}

static void s_pack_jobs(const stats_t *self, msgpack_packer *pk) {
    uint64_t in = s_sum(self, R_WORKER, "jobs_in"), out = s_sum(self, R_WORKER, "jobs_out");
    uint64_t failed = 0;
    for (size_t i = 0; i < self->snap_count; i++)
        if (self->snaps[i].role == R_WORKER) failed += s_failed(&self->snaps[i]);
    s_key(pk, "jobs");
    msgpack_pack_map(pk, 9);
    s_uint(pk, "in_flight", in > out ? in - out : 0);
    const char *const sums[] = {"claimed", "recovered", "created", "succeeded"};
    for (size_t i = 0; i < sizeof sums / sizeof sums[0]; i++)
        s_uint(pk, sums[i], s_sum(self, R_WORKER, sums[i]));
    s_uint(pk, "failed", failed);
    s_uint(pk, "retries", s_sum(self, R_WORKER, "retries"));
    s_uint(pk, "requeues", s_sum(self, R_WORKER, "requeues"));
    s_uint(pk, "expired", s_sum(self, R_WORKER, "expired"));
    //  the ledger's last answer, unless it is older than two intervals
    s_key(pk, "jobs_by_state");
    if (!self->counts_at || zclock_mono() - self->counts_at > 2 * self->interval_ms) {
        msgpack_pack_nil(pk);
        return;
    }
    uint32_t active = 0;
    for (int i = 1; i < JOB_STATE_COUNT_; i++)
        active += !job_state_terminal((job_state_t)i);
    msgpack_pack_map(pk, active);
    for (int i = 1; i < JOB_STATE_COUNT_; i++)
        if (!job_state_terminal((job_state_t)i))
            s_uint(pk, job_state_name((job_state_t)i),
                   self->counts[i - 1] > 0 ? (uint64_t)self->counts[i - 1] : 0);
}

//  Sent once each time every configured key has stopped being healthy.
static void s_watch_keys(stats_t *self) {
    int64_t keys = 0, cooling = 0, disabled = 0;
    for (size_t i = 0; i < self->snap_count; i++)
        if (self->snaps[i].role == R_WORKER) {
            int64_t health = s_gauge(&self->snaps[i], "health");
            keys++;
            cooling += health == S_COOLING;
            disabled += health > S_COOLING;
        }
    bool down = keys > 0 && cooling + disabled == keys;
    if (down && !self->all_keys_down)
        stats_event(STATS_EV_ALL_KEYS_DOWN, STATS_INT("keys", keys), STATS_INT("cooling", cooling),
                    STATS_INT("disabled", disabled));
    self->all_keys_down = down;
}

static void s_pack(stats_t *self, msgpack_packer *pk, int64_t now_mono) {
    int64_t now_ms = zclock_time();
    uint32_t top_level = 0;
#define S_COUNT_TOP(path, type, what) top_level += strpbrk(path, ".[") == NULL;
    STATS_FIELDS(S_COUNT_TOP)
#undef S_COUNT_TOP
    msgpack_pack_map(pk, top_level);
    s_uint(pk, "schema", STATS_SCHEMA);
    s_key(pk, "version");
    s_key(pk, GENBOT_VERSION);
    s_uint(pk, "pid", (uint64_t)getpid());
    s_uint(pk, "at_ms", (uint64_t)now_ms);
    s_uint(pk, "uptime_ms", (uint64_t)(now_mono - self->started_ms));
    s_uint(pk, "interval_ms", (uint64_t)(now_mono - self->last_ms));

    s_key(pk, "updates");
    msgpack_pack_map(pk, 3);
    s_uint(pk, "received", s_sum(self, R_POLLER, "updates"));
    s_uint(pk, "handled", s_sum(self, R_SHARD, "updates"));
    s_uint(pk, "redelivered", s_sum(self, R_SHARD, "redelivered"));
    s_key(pk, "replies");
    msgpack_pack_map(pk, 4);
    s_uint(pk, "calls", s_sum(self, R_NOTIFIER, "calls"));
    s_uint(pk, "sent", s_sum(self, R_NOTIFIER, "sent"));
    s_uint(pk, "retries", s_sum(self, R_NOTIFIER, "retries"));
    s_uint(pk, "given_up", s_sum(self, R_NOTIFIER, "given_up"));
    s_key(pk, "telegram_errors");
    msgpack_pack_map(pk, 5);
    s_uint(pk, "429", s_sum(self, R_NOTIFIER, "tg_429") + s_sum(self, R_POLLER, "tg_429"));
    s_uint(pk, "403", s_sum(self, R_NOTIFIER, "tg_403"));
    s_uint(pk, "5xx", s_sum(self, R_NOTIFIER, "tg_5xx") + s_sum(self, R_POLLER, "tg_5xx"));
    s_uint(pk, "network",
           s_sum(self, R_NOTIFIER, "network_errors") + s_sum(self, R_POLLER, "network_errors"));
    s_uint(pk, "4xx",
           s_sum(self, R_NOTIFIER, "tg_4xx") + s_sum(self, R_POLLER, "tg_401") +
               s_sum(self, R_POLLER, "tg_409"));
    s_key(pk, "ledger");
    msgpack_pack_map(pk, 5);
    s_uint(pk, "batches", s_sum(self, R_LEDGER, "batches"));
    s_uint(pk, "requests", s_sum(self, R_LEDGER, "requests"));
    s_uint(pk, "errors", s_sum(self, R_LEDGER, "errors"));
    s_uint(pk, "commit_failures", s_sum(self, R_LEDGER, "commit_failures"));
    s_latency(self, pk, "commit_us", "commit_us");
    s_latency(self, pk, "update_reply_us", "update_reply_us");
    s_latency(self, pk, "telegram_send_us", "send_us");
    s_pack_jobs(self, pk);

    uint32_t workers = 0;
    for (size_t i = 0; i < self->snap_count; i++)
        workers += self->snaps[i].role == R_WORKER;
    s_key(pk, "keys");
    msgpack_pack_array(pk, workers);
    for (size_t i = 0; i < self->snap_count; i++)
        if (self->snaps[i].role == R_WORKER) s_pack_key(pk, &self->snaps[i], now_ms);
    s_key(pk, "queues");
    msgpack_pack_map(pk, (uint32_t)self->snap_count);
    for (size_t i = 0; i < self->snap_count; i++) {
        s_key(pk, self->snaps[i].name);
        msgpack_pack_int64(pk, self->snaps[i].queue);
    }
    s_key(pk, "actors");
    msgpack_pack_map(pk, (uint32_t)self->snap_count);
    for (size_t i = 0; i < self->snap_count; i++) {
        const s_snap_t *snap = &self->snaps[i];
        s_key(pk, snap->name);
        msgpack_pack_map(pk, (uint32_t)snap->counter_count);
        for (size_t c = 0; c < snap->counter_count; c++)
            s_uint(pk, snap->counter_names[c], snap->counters[c]);
    }
    s_key(pk, "events");
    msgpack_pack_array(pk, (uint32_t)self->recent_count);
    size_t first = self->recent_count < STATS_RECENT_EVENTS ? 0 : self->recent_next;
    for (size_t i = 0; i < self->recent_count; i++) {
        const s_recent_t *event = &self->recent[(first + i) % STATS_RECENT_EVENTS];
        //  already msgpack: appended as it is
        msgpack_sbuffer_write(pk->data, (const char *)event->data, event->size);
    }
    s_uint(pk, "events_dropped", atomic_load(&s_events_dropped));
}

static int s_on_counts(actor_t *actor, zsock_t *sock, void *arg) {
    (void)actor;
    stats_t *self = (stats_t *)arg;
    msg_err_t err;
    msg_t *reply = msg_recv(sock, &err);
    self->counts_asked = false;
    if (reply && msg_kind(reply) == MSG_K_JOB_COUNTS) {
        size_t n = msg_len(reply, F_COUNTS);
        for (size_t i = 0; i < n && i < JOB_STATE_COUNT_ - 1; i++)
            self->counts[i] = msg_ints(reply, F_COUNTS)[i];
        self->counts_at = zclock_mono();
    }
    msg_destroy(&reply);
    return 0;
}

static int s_on_tick(actor_t *actor, int timer_id, void *arg) {
    (void)timer_id;
    stats_t *self = (stats_t *)arg;
    int64_t asked_ago = zclock_mono() - self->counts_asked_at;
    if (self->ledger && (!self->counts_asked || asked_ago > 5 * self->interval_ms)) {
        msg_t *ask = msg_new(MSG_K_JOBS_COUNT, 1);
        if (msg_send(&ask, self->ledger) == 0) {
            self->counts_asked = true;
            self->counts_asked_at = zclock_mono();
        }
    }
    s_drain(self); //  events first: the sample lists them
    int64_t now = zclock_mono();
    s_sample(self);
    s_watch_keys(self);
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init(&buffer);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &buffer, msgpack_sbuffer_write);
    s_pack(self, &pk, now);
    s_publish(self, STATS_TOPIC, buffer.data, buffer.size);
    msgpack_sbuffer_destroy(&buffer);
    self->last_ms = now;
    actor_count(actor, C_SAMPLES, 1);
    return 0;
}

static void s_prev_free(void **item_p) {
    free(*item_p);
    *item_p = NULL;
}
