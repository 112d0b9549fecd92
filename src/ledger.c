/*  ledger.c — the ledger actor: group commit over store.h.

    Every wake-up drains up to batch_max waiting requests, applies them in
    one transaction, commits, and only then replies. One fsync pays for the
    whole batch, which is what lets one writer keep up with every actor at
    once. If the batch can't be committed as it is (SQLite failed, or the
    store says a refused request wrote — see store.h), nothing of it is
    kept: each request is applied again in a transaction of its own, so one
    bad request can't take its neighbours down with it.
*/
#include "ledger.h"

#include <assert.h>
#include <string.h>

#include "actor.h"
#include "log.h"
#include "stats.h"
#include "store.h"

#define S_BATCH_HARD_MAX 4096

enum { C_REQUESTS, C_BATCHES, C_ERRORS, C_MALFORMED, C_COMMIT_FAILS, C_COMMIT_US };
static const char *const s_counter_names[] = {"requests",        "batches",   "errors", "malformed",
                                              "commit_failures", "commit_us", NULL};
enum { H_COMMIT };
static const char *const s_hist_names[] = {"commit_us", NULL};

typedef struct {
    ledger_args_t *args;
    actor_t *actor;
    store_t *store;
    zsock_t *router;
    void *router_handle;
    store_limits_t limits;
    size_t batch_max;
    //  the batch in hand
    size_t count;
    zmq_msg_t ids[S_BATCH_HARD_MAX];
    msg_t *requests[S_BATCH_HARD_MAX];
    msg_t *replies[S_BATCH_HARD_MAX];
} ledger_t;

static const char *const s_names[] = {
#define S_ERR_NAME(id, code, name) [code] = name,
    LEDGER_ERRORS(S_ERR_NAME)
#undef S_ERR_NAME
};

const char *ledger_err_name(int code) {
    if (code == 0) return "ok";
    if (code < 0 || code >= (int)(sizeof s_names / sizeof s_names[0]) || !s_names[code])
        return "unknown";
    return s_names[code];
}

static int s_on_requests(actor_t *actor, zsock_t *router, void *arg);
static int64_t s_now(ledger_t *self);
static void s_apply_batch(ledger_t *self);

static void s_ledger_actor(zsock_t *pipe, void *arg) {
    ledger_args_t *args = (ledger_args_t *)arg;
    ledger_t *self = (ledger_t *)calloc(1, sizeof(ledger_t));
    assert(self);
    self->args = args;
    self->actor = actor_new(pipe, "ledger", s_counter_names);
    actor_histograms(self->actor, s_hist_names);
    const config_t *config = args->config;
    self->limits.free_credits = config->free_credits;
    self->limits.limit_active = config->limit_active;
    self->limits.limit_per_min = config->limit_per_min;
    self->batch_max = config->ledger_batch_max < 1 ? 1
                      : config->ledger_batch_max > S_BATCH_HARD_MAX
                          ? S_BATCH_HARD_MAX
                          : (size_t)config->ledger_batch_max;
    const char *endpoint = args->endpoint ? args->endpoint : LEDGER_ENDPOINT;

    char err[512] = "";
    self->store = store_open(config->db_path, config->sync_full, err, sizeof err);
    if (!self->store)
        log_error("ledger", "cannot open database", "db=%s error=\"%s\"", config->db_path, err);
    store_recovery_t recovered;
    if (self->store && !args->skip_recovery) {
        if (store_recover(self->store, &recovered) == 0) {
            log_info("ledger", "startup recovery", "requeued=%lld submitted=%lld to_deliver=%lld",
                     (long long)recovered.requeued, (long long)recovered.submitted,
                     (long long)recovered.to_deliver);
            stats_event(STATS_EV_RECOVERY, STATS_INT("requeued", recovered.requeued),
                        STATS_INT("submitted", recovered.submitted),
                        STATS_INT("to_deliver", recovered.to_deliver));
        } else {
            log_error("ledger", "startup recovery failed", "error=\"%s\"",
                      store_errmsg(self->store));
            store_destroy(&self->store);
        }
    }
    if (self->store) {
        self->router = zsock_new(ZMQ_ROUTER);
        //  replies must never be dropped at a high-water mark: clients bound
        //  their own requests in flight
        zsock_set_sndhwm(self->router, 0);
        zsock_set_rcvhwm(self->router, 0);
        if (zsock_bind(self->router, "%s", endpoint) < 0) {
            log_error("ledger", "cannot bind", "endpoint=%s", endpoint);
            zsock_destroy(&self->router);
        }
    }
    if (!self->store || !self->router) {
        actor_ready(self->actor, -1);
    } else {
        self->router_handle = zsock_resolve(self->router);
        actor_reader(self->actor, self->router, s_on_requests, self);
        log_info("ledger", "started", "db=%s sync=%d batch_max=%zu", config->db_path,
                 config->sync_full, self->batch_max);
        actor_ready(self->actor, 0);
        actor_run(self->actor);
    }
    zsock_destroy(&self->router);
    store_destroy(&self->store);
    actor_destroy(&self->actor);
    free(self);
}

zactor_t *ledger_start(ledger_args_t *args) {
    assert(args && args->config);
    return actor_start(s_ledger_actor, args);
}

zsock_t *ledger_connect(const char *endpoint) {
    zsock_t *dealer = zsock_new(ZMQ_DEALER);
    if (!dealer) return NULL;
    zsock_set_sndhwm(dealer, 0);
    zsock_set_rcvhwm(dealer, 0);
    if (zsock_connect(dealer, "%s", endpoint ? endpoint : LEDGER_ENDPOINT) < 0) {
        zsock_destroy(&dealer);
        return NULL;
    }
    return dealer;
}

msg_t *ledger_call(zsock_t *dealer, msg_t **req_p, int timeout_ms) {
    static _Thread_local uint64_t s_next_corr = 1;
    assert(req_p && *req_p);
    if (msg_corr(*req_p) == 0) msg_set_corr(*req_p, s_next_corr++);
    uint64_t corr = msg_corr(*req_p);
    if (msg_send(req_p, dealer)) return NULL;
    int64_t deadline = zclock_mono() + timeout_ms;
    zpoller_t *poller = zpoller_new(dealer, NULL);
    msg_t *reply = NULL;
    while (!reply) {
        int64_t left = deadline - zclock_mono();
        if (left <= 0 || !zpoller_wait(poller, (int)left)) break;
        msg_err_t err;
        reply = msg_recv(dealer, &err);
        if (reply && msg_corr(reply) != corr)
            msg_destroy(&reply); //  a late reply to an earlier call that timed out
        else if (!reply && err == MSG_OK)
            break; //  interrupted
    }
    zpoller_destroy(&poller);
    return reply;
}

//  Reads [routing id, payload] pairs without blocking until the batch is
//  full or nothing is waiting, then applies and answers the batch.
static int s_on_requests(actor_t *actor, zsock_t *router, void *arg) {
    (void)router;
    ledger_t *self = (ledger_t *)arg;
    self->count = 0;
    while (self->count < self->batch_max) {
        zmq_msg_t *id = &self->ids[self->count];
        zmq_msg_init(id);
        if (zmq_msg_recv(id, self->router_handle, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(id);
            break;
        }
        zmq_msg_t payload;
        zmq_msg_init(&payload);
        if (!zmq_msg_more(id) || zmq_msg_recv(&payload, self->router_handle, 0) < 0) {
            zmq_msg_close(&payload);
            zmq_msg_close(id);
            continue;
        }
        //  drop anything past the payload frame
        while (zmq_msg_more(&payload)) {
            zmq_msg_close(&payload);
            zmq_msg_init(&payload);
            zmq_msg_recv(&payload, self->router_handle, 0);
        }
        msg_err_t err = MSG_OK;
        msg_field_t field = F_COUNT_;
        msg_t *req = msg_decode((const uint8_t *)zmq_msg_data(&payload), zmq_msg_size(&payload),
                                &err, &field);
        zmq_msg_close(&payload);
        if (!req) {
            //  A malformed request can't be matched to its caller's corr_id;
            //  answer with corr_id 0 so the caller's socket at least sees it.
            actor_count(actor, C_MALFORMED, 1);
            log_warn("ledger", "malformed request", "error=%s field=%s", msg_err_str(err),
                     field < F_COUNT_ ? msg_field_name(field) : "-");
            msg_t *reply = msg_new(MSG_K_ERROR, 0);
            msg_set_int(reply, F_CODE, LEDGER_E_BAD_REQUEST);
            msg_set_str(reply, F_DETAIL, msg_err_str(err));
            self->replies[self->count] = reply;
        } else
            self->replies[self->count] = NULL;
        self->requests[self->count] = req; //  NULL when malformed
        self->count++;
    }
    if (self->count == 0) return 0;
    actor_queue(actor, (int64_t)self->count); //  requests in hand, 0 between batches
    int64_t start = zclock_usecs();
    s_apply_batch(self);
    uint64_t commit_us = (uint64_t)(zclock_usecs() - start);
    actor_count(actor, C_COMMIT_US, commit_us);
    actor_observe(actor, H_COMMIT, commit_us);
    actor_count(actor, C_BATCHES, 1);
    actor_count(actor, C_REQUESTS, self->count);
    for (size_t i = 0; i < self->count; i++) {
        msg_t *reply = self->replies[i];
        uint8_t *data = NULL;
        size_t size = 0;
        if (msg_kind(reply) == MSG_K_ERROR) actor_count(actor, C_ERRORS, 1);
        if (msg_encode(reply, &data, &size) == 0) {
            zmq_msg_send(&self->ids[i], self->router_handle, ZMQ_SNDMORE);
            zmq_send(self->router_handle, data, size, 0);
        } else
            log_error("ledger", "reply does not encode", "kind=%s", msg_kind_name(msg_kind(reply)));
        free(data);
        zmq_msg_close(&self->ids[i]);
        msg_destroy(&self->requests[i]);
        msg_destroy(&self->replies[i]);
    }
    actor_queue(actor, 0);
    return 0;
}

static void s_apply_batch(ledger_t *self) {
    int64_t now = s_now(self);
    if (store_begin(self->store) == 0) {
        for (size_t i = 0; i < self->count; i++)
            if (self->requests[i])
                self->replies[i] = store_apply(self->store, self->requests[i], &self->limits, now);
        if (!store_poisoned(self->store) && store_commit(self->store) == 0) return;
        //  Nothing of the batch is kept; each request is applied again alone.
        log_warn("ledger", "batch rolled back, applying one by one", "n=%zu error=\"%s\"",
                 self->count, store_errmsg(self->store));
        actor_count(self->actor, C_COMMIT_FAILS, 1);
        store_rollback(self->store);
        for (size_t i = 0; i < self->count; i++)
            if (self->requests[i]) msg_destroy(&self->replies[i]);
    }
    for (size_t i = 0; i < self->count; i++)
        if (self->requests[i])
            self->replies[i] =
                store_apply_alone(self->store, self->requests[i], &self->limits, now);
}

static int64_t s_now(ledger_t *self) {
    if (self->args->clock) return self->args->clock(self->args->clock_arg);
    return zclock_time();
}
