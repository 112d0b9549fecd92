/*  worker.c — the KIE key worker actor (worker.h): start and recovery,
    claims, the ledger's replies, the key's health, job events, and worker
    0's chores. One job's pipeline is in worker_job.c, photos in
    worker_photo.c.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "worker_internal.h"

#include <assert.h>
#include <string.h>

#include "ledger.h"
#include "log.h"
#include "stats.h"

static const char *const s_counter_names[] = {
#define W_C_NAME(id, name) name,
    WORKER_COUNTERS(W_C_NAME)
#undef W_C_NAME
#define W_FAILED_NAME(id, name, retry, key, alert, user_msg) "failed_" name,
        KIE_CLASSES(W_FAILED_NAME)
#undef W_FAILED_NAME
            NULL};

static const char *const s_health_names[] = {"healthy", "cooling", "disabled"};
//  For the stats actor: health (w_health_t), reason (kie_class_t), until_ms, slots.
enum { W_G_HEALTH, W_G_REASON, W_G_UNTIL, W_G_SLOTS };
static const char *const s_gauge_names[] = {"health", "reason", "until_ms", "slots", NULL};

//  Replies to worker_ledger_notify requests carry this bit in their corr.
#define S_NOTIFY_BIT (1ULL << 62)

static int s_setup(worker_t *self);
static void s_teardown(worker_t *self);
static int s_on_ledger(actor_t *actor, zsock_t *sock, void *arg);
static int s_on_wake(actor_t *actor, zsock_t *sock, void *arg);
static int s_on_tick(actor_t *actor, int timer_id, void *arg);
static int s_on_chores(actor_t *actor, int timer_id, void *arg);
static void s_claim_maybe(worker_t *self);
static void s_list_own(worker_t *self);
static void s_sweep(worker_t *self);
static void s_probe(worker_t *self);
static void s_health_set(worker_t *self, w_health_t health, int64_t until_ms, kie_class_t cls);
static void s_health_gauges(worker_t *self);
static wjob_t *s_job_find(worker_t *self, int64_t job_id);
static wjob_t *s_job_add(worker_t *self, const msg_t *row);

static void s_worker_actor(zsock_t *pipe, void *arg) {
    worker_args_t *args = (worker_args_t *)arg;
    worker_t *self = (worker_t *)calloc(1, sizeof(worker_t));
    assert(self);
    self->args = args;
    self->config = args->config;
    kie_key_fingerprint(args->key, self->fingerprint, sizeof self->fingerprint);
    snprintf(self->name, sizeof self->name, "kie %s", self->fingerprint);
    self->actor = actor_new(pipe, self->name, s_counter_names);
    actor_gauges(self->actor, s_gauge_names);
    if (s_setup(self) != 0) {
        log_error(W_LOG, "cannot start", "key=%s", self->fingerprint);
        actor_ready(self->actor, -1);
    } else {
        s_health_gauges(self);
        actor_reader(self->actor, self->ledger, s_on_ledger, self);
        actor_reader(self->actor, self->wake_in, s_on_wake, self);
        actor_timer(self->actor, (size_t)self->idle_poll_ms, 0, s_on_tick, self);
        actor_timer(self->actor, (size_t)self->expire_every_ms, 0, s_on_chores, self);
        log_info(W_LOG, "started", "key=%s index=%zu health=%s slots=%lld", self->fingerprint,
                 args->index, s_health_names[self->health], (long long)self->slots);
        actor_ready(self->actor, 0);
        s_list_own(self);
        if (args->index == 0) s_sweep(self);
        if (self->health == W_KEY_DISABLED) s_probe(self);
        actor_run(self->actor);
        log_info(W_LOG, "stopped", "key=%s jobs=%zu", self->fingerprint, zlistx_size(self->jobs));
    }
    s_teardown(self);
    actor_destroy(&self->actor);
    free(self);
}

zactor_t *worker_start(worker_args_t *args) {
    assert(args && args->config && args->catalog);
    if (!args->key || !*args->key || args->shard_count == 0 || !args->shard_endpoints) {
        log_error(W_LOG, "cannot start: no key or no shards", NULL);
        return NULL;
    }
    log_add_secret(args->key);
    return actor_start(s_worker_actor, args);
}

//  --- what the job code uses --------------------------------------------------

int64_t worker_now(worker_t *self) {
    return self->args->clock ? self->args->clock(self->args->clock_arg) : zclock_time();
}

//  xorshift64*: jitter only, no secrets.
double worker_random(worker_t *self) {
    uint64_t x = self->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    self->rng = x;
    return (double)((x * 0x2545F4914F6CDD1DULL) >> 11) / (double)(1ULL << 53);
}

uint64_t worker_ledger_send(worker_t *self, msg_t **msg_p) {
    uint64_t corr = ++self->next_corr;
    msg_set_corr(*msg_p, corr);
    if (msg_send(msg_p, self->ledger) != 0) {
        log_error(W_LOG, "ledger request not sent", "key=%s", self->fingerprint);
        return 0;
    }
    return corr;
}

void worker_ledger_notify(worker_t *self, msg_t **msg_p) {
    msg_set_corr(*msg_p, S_NOTIFY_BIT | ++self->next_corr);
    msg_send(msg_p, self->ledger);
}

void worker_event(worker_t *self, const wjob_t *job, const wevent_t *event) {
    msg_t *msg = msg_new(MSG_K_JOB_EVENT, 0);
    msg_set_int(msg, F_JOB_ID, job->job_id);
    msg_set_int(msg, F_USER_ID, job->user_id);
    msg_set_str(msg, F_STATE, event->state);
    msg_set_int(msg, F_CHAT_ID, job->chat_id);
    if (*job->order_token) msg_set_str(msg, F_ORDER_TOKEN, job->order_token);
    msg_set_int(msg, F_IDX, job->idx);
    if (job->message_id) msg_set_int(msg, F_MESSAGE_ID, job->message_id);
    if (event->progress >= 0) msg_set_int(msg, F_PROGRESS, event->progress);
    if (event->err_class) msg_set_str(msg, F_ERR_CLASS, event->err_class);
    if (event->err_detail && *event->err_detail)
        msg_set_strn(msg, F_ERR_DETAIL, event->err_detail,
                     strnlen(event->err_detail, MSG_MAX_DETAIL));
    if (event->attempts) {
        msg_set_int(msg, F_ATTEMPTS, event->attempts);
        msg_set_int(msg, F_MAX_ATTEMPTS, event->max_attempts);
    }
    if (event->result_url) msg_set_str(msg, F_RESULT_URL, event->result_url);
    if (event->credits) msg_set_int(msg, F_CREDITS, event->credits);
    int64_t user = job->user_id < 0 ? -job->user_id : job->user_id;
    size_t shard = (size_t)(user % (int64_t)self->args->shard_count);
    if (msg_send(&msg, self->shards[shard]) != 0)
        log_error(W_LOG, "job event not sent", "job=%lld state=%s", (long long)job->job_id,
                  event->state);
}

bool worker_key_usable(worker_t *self, int64_t now_ms) {
    if (self->health == W_KEY_COOLING && now_ms >= self->health_until_ms) {
        log_info(W_LOG, "key usable again", "key=%s after=%s", self->fingerprint,
                 kie_class_name(self->health_class));
        s_health_set(self, W_KEY_HEALTHY, 0, KIE_CLASS_UNKNOWN);
    }
    return self->health == W_KEY_HEALTHY;
}

void worker_key_hit(worker_t *self, kie_class_t cls, const char *detail) {
    int64_t now = worker_now(self);
    switch (kie_class_info(cls)->key_action) {
    case KIE_KEY_KEEP:
        return;
    case KIE_KEY_COOL: {
        int64_t before = self->cooldown.until_ms;
        int64_t until =
            backoff_cooldown_hit(&self->cooldown, now, self->cooldown_ms, BACKOFF_COOLDOWN_CAP_MS);
        if (until <= before || self->health == W_KEY_DISABLED ||
            (self->health == W_KEY_COOLING && until <= self->health_until_ms))
            return; //  an answer to a call made before the key cooled
        actor_count(self->actor, W_C_KEY_COOLDOWNS, 1);
        log_warn(W_LOG, "key rate limited: cooling", "key=%s strikes=%lld cooldown_ms=%lld",
                 self->fingerprint, (long long)self->cooldown.strikes, (long long)(until - now));
        stats_event(STATS_EV_KEY_COOLDOWN, STATS_STR("key", self->fingerprint),
                    STATS_STR("class", kie_class_name(cls)), STATS_INT("cooldown_ms", until - now),
                    STATS_INT("strikes", self->cooldown.strikes));
        s_health_set(self, W_KEY_COOLING, until, cls);
        return;
    }
    case KIE_KEY_BILLING:
        if (self->health == W_KEY_DISABLED ||
            (self->health == W_KEY_COOLING && self->health_class == KIE_CLASS_BILLING))
            return;
        actor_count(self->actor, W_C_KEY_COOLDOWNS, 1);
        log_error(W_LOG, "KIE key out of credit or over its cap: cooling",
                  "alert=billing key=%s cooldown_ms=%lld detail=\"%s\"", self->fingerprint,
                  (long long)self->billing_cooldown_ms, detail ? detail : "");
        stats_event(STATS_EV_BILLING_ERROR, STATS_STR("key", self->fingerprint),
                    STATS_INT("cooldown_ms", self->billing_cooldown_ms),
                    STATS_STR("detail", detail));
        s_health_set(self, W_KEY_COOLING, now + self->billing_cooldown_ms, cls);
        return;
    case KIE_KEY_DISABLE:
        if (self->health == W_KEY_DISABLED) return;
        actor_count(self->actor, W_C_KEY_DISABLED, 1);
        log_error(W_LOG, "KIE refused the key: disabled until an operator acts",
                  "alert=auth key=%s detail=\"%s\"", self->fingerprint, detail ? detail : "");
        stats_event(STATS_EV_KEY_DISABLED, STATS_STR("key", self->fingerprint),
                    STATS_STR("class", kie_class_name(cls)), STATS_STR("detail", detail));
        s_health_set(self, W_KEY_DISABLED, 0, cls);
        return;
    }
}

void worker_key_ok(worker_t *self) {
    backoff_cooldown_success(&self->cooldown);
}

void worker_job_done(worker_t *self, wjob_t *job) {
    zlistx_delete(self->jobs, job->handle);
    wjob_destroy(&job);
    actor_count(self->actor, W_C_JOBS_OUT, 1);
    actor_queue(self->actor, (int64_t)zlistx_size(self->jobs));
    if (self->list_more && !self->list_corr) s_list_own(self);
    s_claim_maybe(self);
}

void worker_defer(worker_t *self, wjob_t *job) {
    zlistx_add_end(self->due, job);
    if (!self->woken) {
        self->woken = true;
        zsock_signal(self->wake_out, 0);
    }
}

static int s_on_wake(actor_t *actor, zsock_t *sock, void *arg) {
    (void)actor;
    worker_t *self = (worker_t *)arg;
    zsock_wait(sock);
    self->woken = false;
    zlistx_t *due = self->due;
    self->due = zlistx_new();
    for (wjob_t *job = (wjob_t *)zlistx_first(due); job; job = (wjob_t *)zlistx_next(due))
        wjob_due(job);
    zlistx_destroy(&due);
    return 0;
}

char *worker_url(worker_t *self, const char *base, const char *path) {
    (void)self;
    char *url = NULL;
    if (asprintf(&url, "%s%s", base, path) < 0) return NULL;
    return url;
}

//  --- start and stop --------------------------------------------------------------

static int64_t s_or(int64_t value, int64_t fallback) {
    return value > 0 ? value : fallback;
}

static int s_setup(worker_t *self) {
    worker_args_t *args = self->args;
    const config_t *config = self->config;
    self->slots = s_or(args->slots, WORKER_SLOTS);
    self->idle_poll_ms = s_or(args->idle_poll_ms, WORKER_IDLE_POLL_MS);
    self->cooldown_ms = s_or(args->cooldown_ms, config->key_cooldown_s * 1000);
    self->billing_cooldown_ms =
        s_or(args->billing_cooldown_ms, config->key_billing_cooldown_s * 1000);
    self->max_task_ms = s_or(args->max_task_ms, config->kie_max_task_s * 1000);
    self->queue_max_wait_ms = s_or(args->queue_max_wait_ms, config->queue_max_wait_s * 1000);
    self->expire_every_ms = s_or(args->expire_every_ms, WORKER_EXPIRE_EVERY_MS);
    self->upload_cache_ms = s_or(args->upload_cache_ms, WORKER_UPLOAD_CACHE_MS);
    self->rng = args->seed ? args->seed : (uint64_t)zclock_usecs() ^ (args->index << 32);
    if (!self->rng) self->rng = 0x9e3779b97f4a7c15ULL;
    self->health_class = KIE_CLASS_UNKNOWN;
    self->jobs = zlistx_new();
    self->due = zlistx_new();
    char wake[64];
    snprintf(wake, sizeof wake, "@inproc://worker-wake-%p", (void *)self);
    self->wake_in = zsock_new_pair(wake);
    snprintf(wake, sizeof wake, ">inproc://worker-wake-%p", (void *)self);
    self->wake_out = zsock_new_pair(wake);
    worker_photos_new(self);
    self->http = httpc_new(self->actor, W_HTTP_CONNECTIONS);
    //  KIE's limit per 10 s as a bucket that never passes it in any
    //  window: a fifth of it as burst, the rest as the refill rate
    int64_t per_10s = s_or(args->create_per_10s, WORKER_CREATE_PER_10S);
    int64_t burst = per_10s / 5 > 0 ? per_10s / 5 : 1;
    int64_t rate = per_10s - burst > 0 ? per_10s - burst : 1;
    self->bucket = bucket_new(rate, 10000, burst, worker_now(self));

    char bearer[KIE_AUTH_VALUE_MAX];
    if (kie_auth_value_secret(args->key, bearer, sizeof bearer) != 0 || !self->bucket) {
        log_error(W_LOG, "the KIE key is not usable as a Bearer token", "key=%s",
                  self->fingerprint);
        return -1;
    }
    snprintf(self->auth, sizeof self->auth, "%s: %s", KIE_AUTH_HEADER, bearer);
    explicit_bzero(bearer, sizeof bearer);
    self->headers[0] = self->auth;
    self->headers[1] = NULL;

    self->ledger = ledger_connect(args->ledger_endpoint);
    self->shards = (zsock_t **)calloc(args->shard_count, sizeof(zsock_t *));
    bool ok = self->ledger && self->shards && self->wake_in && self->wake_out;
    for (size_t i = 0; ok && i < args->shard_count; i++) {
        self->shards[i] = zsock_new(ZMQ_PUSH);
        zsock_set_sndhwm(self->shards[i], 0);
        ok = zsock_connect(self->shards[i], "%s", args->shard_endpoints[i]) >= 0;
    }
    if (!ok) return -1;
    //  the key's health as the last run left it
    msg_t *req = msg_new(MSG_K_KEY_HEALTH_LOAD, 0);
    msg_set_str(req, F_KEY_ID, self->fingerprint);
    msg_t *reply = ledger_call(self->ledger, &req, 10000);
    ok = reply && msg_kind(reply) == MSG_K_KEY_HEALTH;
    if (ok && msg_bool(reply, F_FOUND)) {
        const char *health = msg_str(reply, F_STATE);
        int64_t until = msg_int(reply, F_AT_MS);
        if (strcmp(health, "disabled") == 0) {
            self->health = W_KEY_DISABLED;
            self->health_class = KIE_CLASS_AUTH;
        } else if (strcmp(health, "cooling") == 0 && until > worker_now(self)) {
            self->health = W_KEY_COOLING;
            self->health_until_ms = until;
            self->health_class = KIE_CLASS_RATE_LIMITED;
        }
    }
    msg_destroy(&reply);
    return ok ? 0 : -1;
}

static void s_teardown(worker_t *self) {
    httpc_destroy(&self->http); //  no callback runs after this
    worker_photos_destroy(self);
    if (self->jobs) {
        for (wjob_t *job = (wjob_t *)zlistx_first(self->jobs); job;
             job = (wjob_t *)zlistx_next(self->jobs))
            wjob_destroy(&job);
        zlistx_destroy(&self->jobs);
    }
    zlistx_destroy(&self->due);
    zsock_destroy(&self->wake_out);
    zsock_destroy(&self->wake_in);
    bucket_destroy(&self->bucket);
    for (size_t i = 0; self->shards && i < self->args->shard_count; i++)
        zsock_destroy(&self->shards[i]);
    free(self->shards);
    zsock_destroy(&self->ledger);
    explicit_bzero(self->auth, sizeof self->auth);
}

//  --- claims -------------------------------------------------------------------------

static void s_claim_maybe(worker_t *self) {
    if (!self->listed || self->claim_corr) return;
    int64_t now = worker_now(self);
    if (!worker_key_usable(self, now) || now < self->next_claim_ms) return;
    int64_t free_slots = self->slots - (int64_t)zlistx_size(self->jobs);
    int64_t tokens = bucket_tokens(self->bucket, now);
    int64_t n = free_slots < tokens ? free_slots : tokens;
    if (n > WORKER_CLAIM_MAX) n = WORKER_CLAIM_MAX;
    if (n < 1) return;
    msg_t *req = msg_new(MSG_K_JOBS_CLAIM, 0);
    msg_set_str(req, F_KEY_ID, self->fingerprint);
    msg_set_int(req, F_MAX_N, n);
    self->claim_corr = worker_ledger_send(self, &req);
    actor_count(self->actor, W_C_CLAIMS, 1);
}

static void s_on_claimed(worker_t *self, const msg_t *reply) {
    self->claim_corr = 0;
    int64_t now = worker_now(self);
    size_t rows = msg_kind(reply) == MSG_K_JOB_LIST ? msg_len(reply, F_JOBS) : 0;
    if (msg_kind(reply) == MSG_K_ERROR)
        log_warn(W_LOG, "claim refused", "key=%s detail=\"%s\"", self->fingerprint,
                 msg_str(reply, F_DETAIL));
    if (rows == 0) {
        self->next_claim_ms = now + self->idle_poll_ms;
        return;
    }
    //  the budget is spent when a job is claimed: each one creates a task
    if (bucket_take(self->bucket, now, (int64_t)rows) != 0)
        for (size_t i = 0; i < rows; i++)
            bucket_take(self->bucket, now, 1);
    for (size_t i = 0; i < rows; i++) {
        wjob_t *job = s_job_add(self, msg_row(reply, F_JOBS, i));
        actor_count(self->actor, W_C_CLAIMED, 1);
        wjob_start(job);
    }
    s_claim_maybe(self);
}

//  --- recovery and chores -------------------------------------------------------

//  This key's submitted jobs: their tasks live in this key's account.
static void s_list_own(worker_t *self) {
    msg_t *req = msg_new(MSG_K_JOBS_LIST, 0);
    msg_set_str(req, F_STATE, "submitted");
    msg_set_str(req, F_KEY_ID, self->fingerprint);
    msg_set_int(req, F_LIMIT, WORKER_RECOVER_LIMIT);
    self->list_corr = worker_ledger_send(self, &req);
}

static void s_on_listed(worker_t *self, const msg_t *reply) {
    self->list_corr = 0;
    size_t rows = msg_kind(reply) == MSG_K_JOB_LIST ? msg_len(reply, F_JOBS) : 0;
    size_t resumed = 0;
    for (size_t i = 0; i < rows; i++) {
        const msg_t *row = msg_row(reply, F_JOBS, i);
        if (s_job_find(self, msg_int(row, F_JOB_ID))) continue;
        wjob_t *job = s_job_add(self, row);
        actor_count(self->actor, W_C_RECOVERED, 1);
        resumed++;
        wjob_resume(job);
    }
    if (msg_kind(reply) == MSG_K_ERROR)
        log_error(W_LOG, "cannot list submitted jobs", "key=%s detail=\"%s\"", self->fingerprint,
                  msg_str(reply, F_DETAIL));
    //  a full page may hide more; they are listed again as these end
    self->list_more = rows >= WORKER_RECOVER_LIMIT;
    if (resumed || !self->listed)
        log_info(W_LOG, "resumed submitted tasks", "key=%s resumed=%zu more=%s", self->fingerprint,
                 resumed, self->list_more ? "yes" : "no");
    self->listed = true;
    s_claim_maybe(self);
}

//  Worker 0: submitted jobs whose key is gone can never be polled.
static void s_sweep(worker_t *self) {
    msg_t *req = msg_new(MSG_K_JOBS_LIST, 0);
    msg_set_str(req, F_STATE, "submitted");
    msg_set_int(req, F_LIMIT, WORKER_RECOVER_LIMIT);
    self->sweep_corr = worker_ledger_send(self, &req);
}

static bool s_key_configured(worker_t *self, const char *key_id) {
    if (strcmp(key_id, self->fingerprint) == 0) return true;
    for (size_t i = 0; i < self->args->fingerprint_count; i++)
        if (strcmp(key_id, self->args->fingerprints[i]) == 0) return true;
    return false;
}

static void s_on_swept(worker_t *self, const msg_t *reply) {
    self->sweep_corr = 0;
    size_t rows = msg_kind(reply) == MSG_K_JOB_LIST ? msg_len(reply, F_JOBS) : 0;
    self->sweep_more = rows >= WORKER_RECOVER_LIMIT;
    for (size_t i = 0; i < rows; i++) {
        const msg_t *row = msg_row(reply, F_JOBS, i);
        const char *key_id = msg_str(row, F_KEY_ID);
        if (!key_id) key_id = "";
        if (s_key_configured(self, key_id) || s_job_find(self, msg_int(row, F_JOB_ID))) continue;
        wjob_t *job = s_job_add(self, row);
        actor_count(self->actor, W_C_FOREIGN_FAILED, 1);
        char detail[160];
        snprintf(detail, sizeof detail,
                 "its task was created with key %.40s, which is no longer configured", key_id);
        log_error(W_LOG, "submitted job of a removed key released",
                  "alert=invalid_request job=%lld key=%s", (long long)job->job_id, key_id);
        wjob_fail(job, KIE_CLASS_INVALID_REQUEST, detail);
    }
}

static void s_on_expired(worker_t *self, const msg_t *reply) {
    self->expire_corr = 0;
    if (msg_kind(reply) != MSG_K_JOB_LIST) {
        log_warn(W_LOG, "queue expiry refused", "detail=\"%s\"", msg_str(reply, F_DETAIL));
        return;
    }
    size_t rows = msg_len(reply, F_JOBS);
    for (size_t i = 0; i < rows; i++) {
        const msg_t *row = msg_row(reply, F_JOBS, i);
        wjob_t *job = wjob_new(self, row);
        const char *cls = msg_str(row, F_ERR_CLASS);
        wevent_t event = {.state = "failed",
                          .progress = -1,
                          .err_class = cls && *cls ? cls : kie_class_name(KIE_CLASS_TIMEOUT),
                          .err_detail = msg_str(row, F_ERR_DETAIL),
                          .credits = job->price};
        worker_event(self, job, &event);
        wjob_destroy(&job);
    }
    if (rows) {
        actor_count(self->actor, W_C_EXPIRED, rows);
        stats_event(STATS_EV_JOB_STUCK, STATS_STR("reason", "queue_expired"),
                    STATS_INT("count", rows), STATS_INT("max_wait_ms", self->queue_max_wait_ms));
        log_warn(W_LOG, "jobs waited too long for a usable key: released",
                 "count=%zu max_wait_ms=%lld", rows, (long long)self->queue_max_wait_ms);
    }
}

static int s_on_chores(actor_t *actor, int timer_id, void *arg) {
    (void)actor, (void)timer_id;
    worker_t *self = (worker_t *)arg;
    int64_t now = worker_now(self);
    worker_photos_purge(self, now);
    if (self->args->index != 0) return 0;
    if (!self->expire_corr) {
        msg_t *req = msg_new(MSG_K_JOBS_EXPIRE, 0);
        msg_set_int(req, F_AT_MS, now - self->queue_max_wait_ms);
        msg_set_int(req, F_MAX_N, WORKER_CLAIM_MAX);
        msg_set_str(req, F_ERR_CLASS, kie_class_name(KIE_CLASS_TIMEOUT));
        msg_set_str(req, F_ERR_DETAIL, "no usable KIE key took the job in time");
        self->expire_corr = worker_ledger_send(self, &req);
    }
    if (self->sweep_more && !self->sweep_corr) s_sweep(self);
    return 0;
}

static int s_on_tick(actor_t *actor, int timer_id, void *arg) {
    (void)actor, (void)timer_id;
    s_claim_maybe((worker_t *)arg);
    return 0;
}

//  --- the key's health ------------------------------------------------------------

static void s_health_set(worker_t *self, w_health_t health, int64_t until_ms, kie_class_t cls) {
    self->health = health;
    self->health_until_ms = until_ms;
    self->health_class = cls;
    s_health_gauges(self);
    msg_t *save = msg_new(MSG_K_KEY_HEALTH_SAVE, 0);
    msg_set_str(save, F_KEY_ID, self->fingerprint);
    msg_set_str(save, F_STATE, s_health_names[health]);
    msg_set_int(save, F_AT_MS, until_ms);
    worker_ledger_notify(self, &save);
}

static void s_health_gauges(worker_t *self) {
    actor_gauge(self->actor, W_G_HEALTH, self->health);
    actor_gauge(self->actor, W_G_REASON, self->health_class);
    actor_gauge(self->actor, W_G_UNTIL, self->health_until_ms);
    actor_gauge(self->actor, W_G_SLOTS, self->slots);
}

static void s_on_probed(const httpc_response_t *response, void *arg) {
    worker_t *self = (worker_t *)arg;
    kie_credit_t credit;
    if (kie_parse_credit(response->status, response->body, response->body_len, &credit) == 0) {
        log_info(W_LOG, "disabled key accepted by KIE again: healthy", "key=%s credits=%.0f",
                 self->fingerprint, credit.credits);
        s_health_set(self, W_KEY_HEALTHY, 0, KIE_CLASS_UNKNOWN);
        s_claim_maybe(self);
    } else
        log_warn(W_LOG, "key stays disabled", "key=%s class=%s detail=\"%s\"", self->fingerprint,
                 kie_class_name(credit.error.err_class), credit.error.detail);
}

//  A key disabled by an earlier run: one credit call tells whether an
//  operator has fixed it.
static void s_probe(worker_t *self) {
    char *url = worker_url(self, self->config->kie_api_url, KIE_PATH_CREDIT);
    httpc_request_t request = {
        .url = url, .headers = self->headers, .timeout_ms = W_CALL_TIMEOUT_MS};
    if (!url || httpc_start(self->http, &request, s_on_probed, self) != 0)
        log_warn(W_LOG, "cannot probe the disabled key", "key=%s", self->fingerprint);
    free(url);
}

//  --- the ledger's replies -------------------------------------------------------

static int s_on_ledger(actor_t *actor, zsock_t *sock, void *arg) {
    (void)actor;
    worker_t *self = (worker_t *)arg;
    msg_err_t err;
    msg_t *reply = msg_recv(sock, &err);
    if (!reply) return 0;
    uint64_t corr = msg_corr(reply);
    if (corr & S_NOTIFY_BIT) {
        if (msg_kind(reply) == MSG_K_ERROR) {
            actor_count(self->actor, W_C_LEDGER_ERRORS, 1);
            log_warn(W_LOG, "ledger refused an update", "key=%s detail=\"%s\"", self->fingerprint,
                     msg_str(reply, F_DETAIL));
        }
    } else if (corr && corr == self->claim_corr)
        s_on_claimed(self, reply);
    else if (corr && corr == self->list_corr)
        s_on_listed(self, reply);
    else if (corr && corr == self->sweep_corr)
        s_on_swept(self, reply);
    else if (corr && corr == self->expire_corr)
        s_on_expired(self, reply);
    else {
        wjob_t *job = (wjob_t *)zlistx_first(self->jobs);
        while (job && job->corr != corr)
            job = (wjob_t *)zlistx_next(self->jobs);
        if (job) wjob_on_ledger(job, reply);
    }
    msg_destroy(&reply);
    return 0;
}

//  --- helpers --------------------------------------------------------------------

static wjob_t *s_job_find(worker_t *self, int64_t job_id) {
    for (wjob_t *job = (wjob_t *)zlistx_first(self->jobs); job;
         job = (wjob_t *)zlistx_next(self->jobs))
        if (job->job_id == job_id) return job;
    return NULL;
}

static wjob_t *s_job_add(worker_t *self, const msg_t *row) {
    wjob_t *job = wjob_new(self, row);
    job->handle = zlistx_add_end(self->jobs, job);
    actor_count(self->actor, W_C_JOBS_IN, 1);
    actor_queue(self->actor, (int64_t)zlistx_size(self->jobs));
    return job;
}
