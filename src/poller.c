/*  poller.c — the poller actor (poller.h). One getUpdates in flight or one
    batch being handled at a time: that is what keeps the offset honest.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "poller.h"

#include <assert.h>
#include <jansson.h>
#include <string.h>

#include "actor.h"
#include "httpc.h"
#include "ledger.h"
#include "log.h"
#include "msg.h"
#include "tg.h"

#define S_BATCH_LIMIT 100

enum {
    C_POLLS,
    C_UPDATES,
    C_DISPATCHED,
    C_SKIPPED,
    C_MALFORMED,
    C_E401,
    C_E409,
    C_E429,
    C_E5XX,
    C_ENETWORK
};
static const char *const s_counter_names[] = {
    "polls",  "updates", "dispatched", "skipped",        "malformed", "tg_401",
    "tg_409", "tg_429",  "tg_5xx",     "network_errors", NULL};

typedef struct {
    poller_args_t *args;
    actor_t *actor;
    httpc_t *http;
    zsock_t *ledger;
    zsock_t *acks;
    zsock_t **shards;
    char *base_url; //  secret: holds the token
    int64_t offset;
    size_t pending;     //  updates of the batch in hand not yet done
    int64_t batch_last; //  the batch's highest update_id
    int failures;       //  in a row, for the backoff
    bool webhook_deleted;
    bool stopped; //  fatal: no more polling
} poller_t;

static void s_poll(poller_t *self);
static int s_on_ack(actor_t *actor, zsock_t *sock, void *arg);
static int s_on_ledger(actor_t *actor, zsock_t *sock, void *arg);

static void s_poller_actor(zsock_t *pipe, void *arg) {
    poller_args_t *args = (poller_args_t *)arg;
    poller_t *self = (poller_t *)calloc(1, sizeof(poller_t));
    assert(self);
    self->args = args;
    self->actor = actor_new(pipe, "poller", s_counter_names);
    self->http = httpc_new(self->actor, 4);
    const config_t *config = args->config;
    bool ok = config->telegram_bot_token &&
              asprintf(&self->base_url, "%s/bot%s/", config->telegram_api_url,
                       config->telegram_bot_token) > 0;
    self->ledger = ledger_connect(args->ledger_endpoint);
    self->acks = zsock_new(ZMQ_PULL);
    zsock_set_rcvhwm(self->acks, 0);
    const char *ack_endpoint = args->ack_endpoint ? args->ack_endpoint : POLLER_ACK_ENDPOINT;
    ok = ok && self->ledger && zsock_bind(self->acks, "%s", ack_endpoint) >= 0;
    self->shards = (zsock_t **)calloc(args->shard_count, sizeof(zsock_t *));
    for (size_t i = 0; ok && i < args->shard_count; i++) {
        self->shards[i] = zsock_new(ZMQ_PUSH);
        zsock_set_sndhwm(self->shards[i], 0);
        ok = zsock_connect(self->shards[i], "%s", args->shard_endpoints[i]) >= 0;
    }
    if (ok) {
        //  where the last run stopped; Telegram resends anything after it
        msg_t *req = msg_new(MSG_K_OFFSET_LOAD, 0);
        msg_t *reply = ledger_call(self->ledger, &req, 10000);
        ok = reply && msg_kind(reply) == MSG_K_OFFSET_DATA;
        if (ok) self->offset = msg_int(reply, F_OFFSET);
        msg_destroy(&reply);
    }
    if (!ok) {
        log_error("poller", "cannot start", "shards=%zu", args->shard_count);
        actor_ready(self->actor, -1);
    } else {
        actor_reader(self->actor, self->acks, s_on_ack, self);
        actor_reader(self->actor, self->ledger, s_on_ledger, self);
        log_info("poller", "started", "offset=%lld shards=%zu timeout_s=%lld",
                 (long long)self->offset, args->shard_count, (long long)config->tg_poll_timeout_s);
        actor_ready(self->actor, 0);
        s_poll(self);
        actor_run(self->actor);
    }
    httpc_destroy(&self->http);
    for (size_t i = 0; i < args->shard_count; i++)
        zsock_destroy(&self->shards[i]);
    free(self->shards);
    zsock_destroy(&self->acks);
    zsock_destroy(&self->ledger);
    free(self->base_url);
    actor_destroy(&self->actor);
    free(self);
}

zactor_t *poller_start(poller_args_t *args) {
    assert(args && args->config && args->shard_count > 0);
    return actor_start(s_poller_actor, args);
}

static void s_on_response(const httpc_response_t *response, void *arg);

static int s_on_backoff(actor_t *actor, int timer_id, void *arg) {
    (void)actor;
    (void)timer_id;
    s_poll((poller_t *)arg);
    return 0;
}

static void s_retry_later(poller_t *self, int64_t delay_ms) {
    actor_timer(self->actor, (size_t)(delay_ms > 0 ? delay_ms : 1), 1, s_on_backoff, self);
}

//  Exponential backoff with equal jitter, capped at POLLER_BACKOFF_MAX_MS.
static int64_t s_backoff_ms(poller_t *self) {
    int64_t base = self->args->backoff_base_ms > 0 ? self->args->backoff_base_ms : 1000;
    int shift = self->failures < 16 ? self->failures : 16;
    int64_t delay = base << shift;
    if (delay > POLLER_BACKOFF_MAX_MS) delay = POLLER_BACKOFF_MAX_MS;
    self->failures++;
    return delay / 2 + randof((int)(delay / 2) + 1);
}

static void s_poll(poller_t *self) {
    if (self->stopped) return;
    char url[2048];
    httpc_request_t request = {.method = "POST", .url = url, .content_type = "application/json"};
    char *body = NULL;
    if (!self->webhook_deleted) {
        //  getUpdates fails while a webhook is set
        snprintf(url, sizeof url, "%sdeleteWebhook", self->base_url);
        body = strdup("{\"drop_pending_updates\":false}");
        request.timeout_ms = 30000;
    } else {
        int64_t timeout_s = self->args->config->tg_poll_timeout_s;
        snprintf(url, sizeof url, "%sgetUpdates", self->base_url);
        tg_request_t *get = tg_get_updates(self->offset, S_BATCH_LIMIT, (int)timeout_s, NULL);
        body = get ? tg_request_to_json(get) : NULL;
        tg_request_destroy(&get);
        //  libcurl waits longer than Telegram holds the long poll
        request.timeout_ms = (timeout_s + 15) * 1000;
        request.max_bytes = 64 * 1024 * 1024;
        actor_count(self->actor, C_POLLS, 1);
    }
    if (!body) {
        log_error("poller", "cannot build the request", NULL);
        s_retry_later(self, s_backoff_ms(self));
        return;
    }
    request.body = body;
    request.body_len = strlen(body);
    if (httpc_start(self->http, &request, s_on_response, self) != 0)
        s_retry_later(self, s_backoff_ms(self));
    free(body);
}

//  The update_id of a raw update, or -1.
static int64_t s_raw_id(const json_t *raw) {
    json_t *id = json_object_get(raw, "update_id");
    return json_is_integer(id) ? (int64_t)json_integer_value(id) : -1;
}

//  Hands the batch to the shards; returns how many were dispatched.
static size_t s_dispatch(poller_t *self, const json_t *result, const tg_batch_t *batch) {
    size_t dispatched = 0;
    size_t raw_count = json_array_size(result);
    size_t raw_index = 0;
    for (size_t i = 0; i < tg_batch_size(batch); i++) {
        const tg_update_t *update = tg_batch_get(batch, i);
        actor_count(self->actor, C_UPDATES, 1);
        if (update->kind == TG_UPDATE_SKIPPED || update->user_id <= 0) {
            actor_count(self->actor, C_SKIPPED, 1);
            continue;
        }
        //  the raw update with the same id (both lists are in id order)
        const json_t *raw = NULL;
        for (; raw_index < raw_count; raw_index++) {
            const json_t *candidate = json_array_get(result, raw_index);
            if (s_raw_id(candidate) == update->update_id) {
                raw = candidate;
                break;
            }
        }
        char *text = raw ? json_dumps(raw, JSON_COMPACT) : NULL;
        msg_t *msg = msg_new(MSG_K_UPDATE_IN, (uint64_t)update->update_id);
        msg_set_int(msg, F_UPDATE_ID, update->update_id);
        msg_set_int(msg, F_USER_ID, update->user_id);
        if (!text || msg_set_str(msg, F_UPDATE, text) != 0) {
            log_warn("poller", "update too large or unreadable, skipped", "update_id=%lld",
                     (long long)update->update_id);
            actor_count(self->actor, C_MALFORMED, 1);
            msg_destroy(&msg);
            free(text);
            continue;
        }
        free(text);
        size_t shard = (size_t)(update->user_id % (int64_t)self->args->shard_count);
        if (msg_send(&msg, self->shards[shard]) == 0) {
            dispatched++;
            actor_count(self->actor, C_DISPATCHED, 1);
        }
    }
    if (tg_batch_malformed(batch)) {
        actor_count(self->actor, C_MALFORMED, tg_batch_malformed(batch));
        log_warn("poller", "malformed updates skipped", "count=%zu why=\"%s\"",
                 tg_batch_malformed(batch), tg_batch_error(batch));
    }
    return dispatched;
}

//  The batch is handed over: move the offset past it and poll again.
static void s_batch_done(poller_t *self) {
    if (self->batch_last >= self->offset) {
        self->offset = self->batch_last + 1;
        msg_t *save = msg_new(MSG_K_OFFSET_SAVE, 1);
        msg_set_int(save, F_OFFSET, self->offset);
        msg_send(&save, self->ledger);
    }
    s_poll(self);
}

static void s_on_response(const httpc_response_t *response, void *arg) {
    poller_t *self = (poller_t *)arg;
    tg_response_t *parsed = tg_response_parse(response->status, response->body, response->body_len,
                                              response->retry_after);
    tg_status_t status = response->status == 0 ? TG_E_SERVER : tg_response_status(parsed);
    switch (status) {
    case TG_OK: {
        self->failures = 0;
        if (!self->webhook_deleted) {
            self->webhook_deleted = true;
            s_poll(self);
            break;
        }
        const json_t *result = tg_response_result(parsed);
        tg_batch_t *batch = tg_batch_parse(result);
        if (!batch) {
            actor_count(self->actor, C_MALFORMED, 1);
            log_warn("poller", "getUpdates result is not a list", NULL);
            s_retry_later(self, s_backoff_ms(self));
            break;
        }
        self->batch_last = tg_batch_last_update_id(batch);
        self->pending = s_dispatch(self, result, batch);
        actor_queue(self->actor, (int64_t)self->pending);
        tg_batch_destroy(&batch);
        if (self->pending == 0) s_batch_done(self);
        break;
    }
    case TG_E_UNAUTHORIZED:
        actor_count(self->actor, C_E401, 1);
        log_error("poller", "Telegram refused the bot token (401): check TELEGRAM_BOT_TOKEN", NULL);
        self->stopped = true;
        if (self->args->fatal)
            self->args->fatal("Telegram refused the bot token (401 Unauthorized)",
                              self->args->fatal_arg);
        break;
    case TG_E_CONFLICT: {
        actor_count(self->actor, C_E409, 1);
        const char *description = tg_response_description(parsed);
        bool webhook = strstr(description, "webhook") != NULL;
        log_error("poller",
                  webhook ? "a webhook is set for this bot: deleting it"
                          : "another instance is polling with this token",
                  "description=\"%s\"", description);
        if (webhook) self->webhook_deleted = false;
        s_retry_later(self, s_backoff_ms(self));
        break;
    }
    case TG_E_RETRY_AFTER: {
        actor_count(self->actor, C_E429, 1);
        int64_t wait_ms = tg_response_retry_after(parsed) * 1000;
        log_warn("poller", "429 from getUpdates", "retry_after_ms=%lld", (long long)wait_ms);
        s_retry_later(self, wait_ms > 0 ? wait_ms : 1000);
        break;
    }
    case TG_E_MALFORMED:
        actor_count(self->actor, C_MALFORMED, 1);
        log_warn("poller", "malformed getUpdates reply", "status=%d", response->status);
        s_retry_later(self, s_backoff_ms(self));
        break;
    default:
        actor_count(self->actor, response->status == 0 ? C_ENETWORK : C_E5XX, 1);
        log_warn("poller", "getUpdates failed", "status=%d error=\"%s\"", response->status,
                 response->status ? tg_response_description(parsed) : response->error);
        s_retry_later(self, s_backoff_ms(self));
        break;
    }
    tg_response_destroy(&parsed);
}

static int s_on_ack(actor_t *actor, zsock_t *sock, void *arg) {
    (void)actor;
    poller_t *self = (poller_t *)arg;
    msg_err_t err;
    msg_t *msg = msg_recv(sock, &err);
    if (msg && msg_kind(msg) == MSG_K_UPDATE_DONE && self->pending > 0) {
        actor_queue(self->actor, (int64_t)self->pending - 1);
        if (--self->pending == 0) s_batch_done(self);
    }
    msg_destroy(&msg);
    return 0;
}

static int s_on_ledger(actor_t *actor, zsock_t *sock, void *arg) {
    (void)actor;
    (void)arg;
    msg_err_t err;
    msg_t *reply = msg_recv(sock, &err);
    if (reply && msg_kind(reply) == MSG_K_ERROR)
        log_warn("poller", "offset not saved", "detail=\"%s\"", msg_str(reply, F_DETAIL));
    msg_destroy(&reply);
    return 0;
}
