/*  actor.c — the shared skeleton of genbot's actors (see actor.h). */
#include "actor.h"

#include <assert.h>
#include <sched.h>
#include <sys/prctl.h>

struct actor_s {
    zsock_t *pipe;
    bool stopping; //  $TERM received, or a handler asked to stop
    zloop_t *loop;
    zlistx_t *handlers; //  s_handler_t records the loop points to
    actor_stats_t stats;
    int registry_slot;
};

typedef struct {
    actor_t *actor;
    actor_sock_fn *sock_fn;
    actor_timer_fn *timer_fn;
    actor_fd_fn *fd_fn;
    int fd;
    size_t times; //  a timer's remaining firings (0 = forever)
    void *arg;
    int timer_id;
} s_handler_t;

//  The registry is written when an actor starts or stops and read by the
//  stats actor; slots are claimed with a compare-and-swap, never locked.
static _Atomic(actor_stats_t *) s_registry[ACTOR_MAX_ACTORS];
//  Readers inside actor_registry_enter/leave; a block leaves the registry
//  first and is freed only once none is inside (seq_cst on both sides).
static _Atomic int s_registry_readers;

static int s_on_pipe(zloop_t *loop, zsock_t *pipe, void *arg);
static void s_handler_free(void **item_p);
static int s_on_reader(zloop_t *loop, zsock_t *sock, void *arg);
static int s_on_timer(zloop_t *loop, int timer_id, void *arg);
static int s_on_fd(zloop_t *loop, zmq_pollitem_t *item, void *arg);

actor_t *actor_new(zsock_t *pipe, const char *name, const char *const *counter_names) {
    assert(pipe && name);
    actor_t *self = (actor_t *)zmalloc(sizeof(actor_t));
    self->pipe = pipe;
    prctl(PR_SET_NAME, name, 0, 0, 0); //  `top -H` and perf show actors by name
    self->loop = zloop_new();
    assert(self->loop);
    //  stop on $TERM only: the supervisor decides the order of shutdown
    zloop_set_nonstop(self->loop, true);
    self->stats.name = name;
    self->stats.counter_names = counter_names;
    while (counter_names && counter_names[self->stats.counter_count])
        self->stats.counter_count++;
    assert(self->stats.counter_count <= ACTOR_MAX_COUNTERS);
    self->registry_slot = -1;
    for (int i = 0; i < ACTOR_MAX_ACTORS; i++) {
        actor_stats_t *empty = NULL;
        if (atomic_compare_exchange_strong(&s_registry[i], &empty, &self->stats)) {
            self->registry_slot = i;
            break;
        }
    }
    self->handlers = zlistx_new();
    zlistx_set_destructor(self->handlers, s_handler_free);
    zloop_reader(self->loop, pipe, s_on_pipe, self);
    return self;
}

void actor_destroy(actor_t **self_p) {
    assert(self_p);
    actor_t *self = *self_p;
    if (!self) return;
    if (self->registry_slot >= 0) {
        atomic_store(&s_registry[self->registry_slot], NULL);
        while (atomic_load(&s_registry_readers))
            sched_yield();
    }
    zloop_destroy(&self->loop);
    zlistx_destroy(&self->handlers);
    free(self);
    *self_p = NULL;
}

int actor_reader(actor_t *self, zsock_t *sock, actor_sock_fn *handler, void *arg) {
    s_handler_t *h = (s_handler_t *)zmalloc(sizeof(s_handler_t));
    h->actor = self;
    h->sock_fn = handler;
    h->arg = arg;
    if (zloop_reader(self->loop, sock, s_on_reader, h)) {
        free(h);
        return -1;
    }
    zloop_reader_set_tolerant(self->loop, sock);
    zlistx_add_end(self->handlers, h);
    return 0;
}

int actor_fd(actor_t *self, int fd, int events, actor_fd_fn *handler, void *arg) {
    actor_fd_end(self, fd);
    s_handler_t *h = (s_handler_t *)zmalloc(sizeof(s_handler_t));
    h->actor = self;
    h->fd_fn = handler;
    h->fd = fd;
    h->arg = arg;
    zmq_pollitem_t item = {NULL, fd, (short)events, 0};
    if (zloop_poller(self->loop, &item, s_on_fd, h)) {
        free(h);
        return -1;
    }
    zloop_poller_set_tolerant(self->loop, &item);
    zlistx_add_end(self->handlers, h);
    return 0;
}

void actor_fd_end(actor_t *self, int fd) {
    zmq_pollitem_t item = {NULL, fd, 0, 0};
    zloop_poller_end(self->loop, &item);
    for (s_handler_t *h = (s_handler_t *)zlistx_first(self->handlers); h;
         h = (s_handler_t *)zlistx_next(self->handlers))
        if (h->fd_fn && h->fd == fd) {
            zlistx_delete(self->handlers, zlistx_cursor(self->handlers));
            break;
        }
}

void actor_reader_end(actor_t *self, zsock_t *sock) {
    zloop_reader_end(self->loop, sock);
}

int actor_timer(actor_t *self, size_t delay_ms, size_t times, actor_timer_fn *handler, void *arg) {
    s_handler_t *h = (s_handler_t *)zmalloc(sizeof(s_handler_t));
    h->actor = self;
    h->timer_fn = handler;
    h->arg = arg;
    h->times = times;
    //  zloop gets the actor, not the record: it may still call a timer that
    //  was ended earlier in the same pass, whose record is gone by then
    h->timer_id = zloop_timer(self->loop, delay_ms, times, s_on_timer, self);
    zlistx_add_end(self->handlers, h);
    return h->timer_id;
}

//  Forgets the handler record of a timer (zloop has ended it already or
//  is told to here).
static void s_timer_forget(actor_t *self, int timer_id) {
    for (s_handler_t *h = (s_handler_t *)zlistx_first(self->handlers); h;
         h = (s_handler_t *)zlistx_next(self->handlers))
        if (h->timer_fn && h->timer_id == timer_id) {
            zlistx_delete(self->handlers, zlistx_cursor(self->handlers));
            break;
        }
}

void actor_timer_end(actor_t *self, int timer_id) {
    zloop_timer_end(self->loop, timer_id);
    s_timer_forget(self, timer_id);
}

void actor_ready(actor_t *self, int status) {
    //  zactor_new consumes the first signal; actor_start reads the status.
    zsock_signal(self->pipe, 0);
    zsock_signal(self->pipe, (byte)(status ? 1 : 0));
    if (status) {
        //  a failed actor still waits for $TERM so that zactor_destroy
        //  never sends to a closed pipe
        char *command = zstr_recv(self->pipe);
        zstr_free(&command);
    }
}

//  zloop_start also returns when a signal interrupts its poll (EINTR): a
//  stray signal must not end an actor, only $TERM or a handler may.
void actor_run(actor_t *self) {
    while (!self->stopping) {
        if (zloop_start(self->loop) != 0) break; //  a handler returned -1
        if (zmq_errno() == ETERM) break;         //  the context is gone: the process is ending
    }
}

const char *actor_name(const actor_t *self) {
    return self->stats.name;
}

zsock_t *actor_pipe(const actor_t *self) {
    return self->pipe;
}

actor_stats_t *actor_stats(actor_t *self) {
    return &self->stats;
}

zactor_t *actor_start(zactor_fn *fn, void *args) {
    zactor_t *actor = zactor_new(fn, args);
    if (!actor) return NULL;
    if (zsock_wait(actor) != 0) {
        zactor_destroy(&actor);
        return NULL;
    }
    return actor;
}

size_t actor_registry(actor_stats_t **out, size_t max) {
    size_t n = 0;
    for (int i = 0; i < ACTOR_MAX_ACTORS && n < max; i++) {
        actor_stats_t *stats = atomic_load(&s_registry[i]);
        if (stats) out[n++] = stats;
    }
    return n;
}

void actor_registry_enter(void) {
    atomic_fetch_add(&s_registry_readers, 1);
}

void actor_registry_leave(void) {
    atomic_fetch_sub(&s_registry_readers, 1);
}

void actor_gauges(actor_t *self, const char *const *gauge_names) {
    size_t count = 0;
    while (gauge_names && gauge_names[count])
        count++;
    assert(count <= ACTOR_MAX_GAUGES);
    self->stats.gauge_names = gauge_names;
    atomic_store_explicit(&self->stats.gauge_count, count, memory_order_release);
}

void actor_histograms(actor_t *self, const char *const *hist_names) {
    size_t count = 0;
    while (hist_names && hist_names[count])
        count++;
    assert(count <= ACTOR_MAX_HISTS);
    self->stats.hist_names = hist_names;
    atomic_store_explicit(&self->stats.hist_count, count, memory_order_release);
}

static int s_on_pipe(zloop_t *loop, zsock_t *pipe, void *arg) {
    (void)loop;
    actor_t *self = (actor_t *)arg;
    char *command = zstr_recv(pipe);
    if (!command) return 0; //  interrupted: the loop goes on
    int rc = streq(command, "$TERM") ? -1 : 0;
    if (rc) self->stopping = true;
    zstr_free(&command);
    return rc;
}

static int s_on_reader(zloop_t *loop, zsock_t *sock, void *arg) {
    (void)loop;
    s_handler_t *h = (s_handler_t *)arg;
    return h->sock_fn(h->actor, sock, h->arg);
}

static int s_on_fd(zloop_t *loop, zmq_pollitem_t *item, void *arg) {
    (void)loop;
    s_handler_t *h = (s_handler_t *)arg;
    return h->fd_fn(h->actor, item->fd, item->revents, h->arg);
}

static int s_on_timer(zloop_t *loop, int timer_id, void *arg) {
    (void)loop;
    actor_t *actor = (actor_t *)arg;
    s_handler_t *h = NULL;
    for (s_handler_t *it = (s_handler_t *)zlistx_first(actor->handlers); it && !h;
         it = (s_handler_t *)zlistx_next(actor->handlers))
        if (it->timer_fn && it->timer_id == timer_id) h = it;
    if (!h) return 0; //  ended earlier in this pass
    bool last = h->times == 1;
    if (h->times > 1) h->times--;
    int rc = h->timer_fn(actor, timer_id, h->arg); //  may end the timer itself
    if (last) s_timer_forget(actor, timer_id);
    return rc;
}

static void s_handler_free(void **item_p) {
    free(*item_p);
    *item_p = NULL;
}
