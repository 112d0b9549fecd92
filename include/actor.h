/*  actor.h — the skeleton every genbot actor shares.

    An actor is a CZMQ zactor: a thread that owns its state alone, signals
    its pipe once initialised and exits when it receives "$TERM". This module
    gives each one the same reactor (a zloop over its sockets and timers),
    the same clean stop, and a block of named counters the stats actor reads
    (C11 atomics: the only state another thread may look at).

        static void s_actor (zsock_t *pipe, void *args) {
            actor_t *actor = actor_new (pipe, "ledger", s_counter_names);
            ... create sockets, actor_reader (actor, sock, s_on_sock, self);
            actor_ready (actor, 0);          //  0 = started, -1 = failed
            actor_run (actor);               //  until $TERM
            ... free state
            actor_destroy (&actor);
        }
*/
#ifndef GENBOT_ACTOR_H
#define GENBOT_ACTOR_H

#include <czmq.h>
#include <stdatomic.h>
#include <stdint.h>

#define ACTOR_MAX_COUNTERS 32
#define ACTOR_MAX_ACTORS   64
#define ACTOR_MAX_GAUGES   8
#define ACTOR_MAX_HISTS    4
//  A latency histogram has log2 buckets of microseconds: bucket 0 holds 0,
//  bucket b (1..ACTOR_HIST_BUCKETS-1) holds [2^(b-1), 2^b) µs, and the last
//  one also everything above (2^30 µs is ~18 minutes). The buckets only
//  grow: a reader keeps the previous copy and takes percentiles over an
//  interval from the differences (stats.h stats_percentile).
#define ACTOR_HIST_BUCKETS 32

typedef struct {
    _Atomic uint64_t buckets[ACTOR_HIST_BUCKETS];
    _Atomic uint64_t sum_us; //  of every observation, for the mean
} actor_hist_t;

typedef struct {
    const char *name;                 //  actor name, static
    const char *const *counter_names; //  NULL-terminated, static
    size_t counter_count;
    _Atomic uint64_t counters[ACTOR_MAX_COUNTERS];
    //  Gauges and histograms are declared after actor_new (actor_gauges,
    //  actor_histograms): their counts are published last, with release.
    _Atomic int64_t queue;          //  the actor's backlog, in its own unit (docs/stats.md)
    const char *const *gauge_names; //  NULL-terminated, static
    _Atomic size_t gauge_count;
    _Atomic int64_t gauges[ACTOR_MAX_GAUGES];
    const char *const *hist_names; //  NULL-terminated, static
    _Atomic size_t hist_count;
    actor_hist_t hists[ACTOR_MAX_HISTS];
} actor_stats_t;

typedef struct actor_s actor_t;
typedef int(actor_sock_fn)(actor_t *actor, zsock_t *sock, void *arg);
typedef int(actor_timer_fn)(actor_t *actor, int timer_id, void *arg);
typedef int(actor_fd_fn)(actor_t *actor, int fd, int revents, void *arg);

actor_t *actor_new(zsock_t *pipe, const char *name, const char *const *counter_names);
void actor_destroy(actor_t **self_p);

//  Handlers return 0 to go on, -1 to stop the actor.
int actor_reader(actor_t *self, zsock_t *sock, actor_sock_fn *handler, void *arg);
void actor_reader_end(actor_t *self, zsock_t *sock);
//  A plain file descriptor (a libcurl socket): events/revents are
//  ZMQ_POLLIN | ZMQ_POLLOUT | ZMQ_POLLERR. Adding an fd again replaces it.
int actor_fd(actor_t *self, int fd, int events, actor_fd_fn *handler, void *arg);
void actor_fd_end(actor_t *self, int fd);
//  A timer fires every delay ms, times times (0 = forever); returns its id.
int actor_timer(actor_t *self, size_t delay_ms, size_t times, actor_timer_fn *handler, void *arg);
void actor_timer_end(actor_t *self, int timer_id);

//  Signal the creator: 0 = ready, anything else = failed to start.
void actor_ready(actor_t *self, int status);
//  Run until $TERM (or a handler returns -1).
void actor_run(actor_t *self);

const char *actor_name(const actor_t *self);
zsock_t *actor_pipe(const actor_t *self);
actor_stats_t *actor_stats(actor_t *self);
static inline void actor_count(actor_t *self, int counter, uint64_t n) {
    atomic_fetch_add_explicit(&actor_stats(self)->counters[counter], n, memory_order_relaxed);
}

//  Declare the actor's gauges / latency histograms (NULL-terminated static
//  tables, indexed like its counters), once, before actor_ready.
void actor_gauges(actor_t *self, const char *const *gauge_names);
void actor_histograms(actor_t *self, const char *const *hist_names);
static inline void actor_gauge(actor_t *self, int gauge, int64_t value) {
    atomic_store_explicit(&actor_stats(self)->gauges[gauge], value, memory_order_relaxed);
}
static inline void actor_queue(actor_t *self, int64_t depth) {
    atomic_store_explicit(&actor_stats(self)->queue, depth, memory_order_relaxed);
}
static inline void actor_queue_add(actor_t *self, int64_t delta) {
    atomic_fetch_add_explicit(&actor_stats(self)->queue, delta, memory_order_relaxed);
}
static inline unsigned actor_hist_bucket(uint64_t us) {
    unsigned bucket = us ? 64u - (unsigned)__builtin_clzll(us) : 0u;
    return bucket < ACTOR_HIST_BUCKETS ? bucket : ACTOR_HIST_BUCKETS - 1;
}
static inline void actor_observe(actor_t *self, int hist, uint64_t us) {
    actor_hist_t *h = &actor_stats(self)->hists[hist];
    atomic_fetch_add_explicit(&h->buckets[actor_hist_bucket(us)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
}

//  Start a zactor and wait for its actor_ready; returns NULL (actor already
//  joined) when it reported failure.
zactor_t *actor_start(zactor_fn *fn, void *args);

//  The registry of every live actor's stats block, for the stats actor.
//  A reader brackets actor_registry and every use of the blocks it returned
//  with actor_registry_enter/leave: actor_destroy waits for readers inside
//  before it frees a block, so keep the bracket short (copy, then leave).
size_t actor_registry(actor_stats_t **out, size_t max);
void actor_registry_enter(void);
void actor_registry_leave(void);

#endif
