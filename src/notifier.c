/*  notifier.c — the notifier actor (notifier.h): sendq decides what leaves
    and when, httpc carries it, tg.h reads the answer.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "notifier.h"

#include <assert.h>
#include <jansson.h>
#include <string.h>

#include "actor.h"
#include "httpc.h"
#include "ledger.h"
#include "log.h"
#include "sendq.h"
#include "tg.h"

enum {
    C_CALLS,
    C_SENT,
    C_COALESCED,
    C_RETRIES,
    C_E429,
    C_E403,
    C_E4XX,
    C_E5XX,
    C_ENETWORK,
    C_GIVEN_UP,
    C_UPLOADS,
    C_LINKS,
    C_MALFORMED
};
static const char *const s_counter_names[] = {
    "calls",  "sent",           "coalesced", "retries", "tg_429", "tg_403",    "tg_4xx",
    "tg_5xx", "network_errors", "given_up",  "uploads", "links",  "malformed", NULL};
enum { H_SEND };
static const char *const s_hist_names[] = {"send_us", NULL}; //  call received -> Telegram's OK

//  One call in our hands, from the request until its last answer.
typedef struct {
    zframe_t *caller; //  routing id, to answer
    uint64_t corr;
    char method[40];
    char *params; //  JSON object text
    int64_t chat_id;
    int priority;
    int64_t message_id;
    char *media_url;
    char media_kind[16];
    char *link_text;
    int attempts;
    int64_t received_us; //  zclock_usecs at its arrival
    bool paced;          //  in sendq (else: unpaced, e.g. callback answers)
    char *media;         //  downloaded bytes
    size_t media_size;
} s_call_t;

typedef struct {
    notifier_args_t *args;
    actor_t *actor;
    zsock_t *router;
    zsock_t *ledger;
    httpc_t *http;
    sendq_t *queue;
    int pump_timer;
    int64_t last_429_ms;
    int64_t last_429_chat;
    char *base_url; //  <api>/bot<token>/ — a secret, never logged
} notifier_t;

static int s_on_call(actor_t *actor, zsock_t *router, void *arg);
static int s_on_ledger_reply(actor_t *actor, zsock_t *sock, void *arg);
static void s_pump(notifier_t *self);
static void s_send(notifier_t *self, s_call_t *call);
static void s_answer(notifier_t *self, s_call_t *call, tg_status_t code, int64_t message_id,
                     const char *detail);
static void s_call_free(s_call_t *call);
static void s_flight_drop(void *arg);
static void s_queued_free(void *item, void *arg);

static void s_notifier_actor(zsock_t *pipe, void *arg) {
    notifier_args_t *args = (notifier_args_t *)arg;
    notifier_t *self = (notifier_t *)calloc(1, sizeof(notifier_t));
    assert(self);
    self->args = args;
    self->pump_timer = -1;
    self->actor = actor_new(pipe, "notifier", s_counter_names);
    actor_histograms(self->actor, s_hist_names);
    const config_t *config = args->config;
    sendq_limits_t limits = {.rate_per_s = (double)config->tg_rate,
                             .chat_rate_per_s = (double)config->tg_chat_rate,
                             .chat_burst = 3,
                             .group_per_min = 20};
    self->queue = sendq_new(&limits);
    self->http = httpc_new(self->actor, 64);
    if (config->telegram_bot_token &&
        asprintf(&self->base_url, "%s/bot%s/", config->telegram_api_url,
                 config->telegram_bot_token) < 0)
        self->base_url = NULL;
    self->router = zsock_new(ZMQ_ROUTER);
    zsock_set_sndhwm(self->router, 0);
    zsock_set_rcvhwm(self->router, 0);
    const char *endpoint = args->endpoint ? args->endpoint : NOTIFIER_ENDPOINT;
    self->ledger = ledger_connect(args->ledger_endpoint);
    if (!self->base_url || zsock_bind(self->router, "%s", endpoint) < 0 || !self->ledger) {
        log_error("notifier", "cannot start", "endpoint=%s token=%s", endpoint,
                  self->base_url ? "set" : "missing");
        actor_ready(self->actor, -1);
    } else {
        actor_reader(self->actor, self->router, s_on_call, self);
        actor_reader(self->actor, self->ledger, s_on_ledger_reply, self);
        log_info("notifier", "started", "rate=%lld chat_rate=%lld", (long long)config->tg_rate,
                 (long long)config->tg_chat_rate);
        actor_ready(self->actor, 0);
        actor_run(self->actor);
    }
    if (sendq_size(self->queue))
        log_warn("notifier", "stopped with calls queued", "queued=%zu", sendq_size(self->queue));
    httpc_drop_all(self->http, s_flight_drop); //  calls on the wire: freed, not answered
    httpc_destroy(&self->http);
    sendq_drain(self->queue, s_queued_free, NULL); //  calls still queued
    sendq_destroy(&self->queue);
    zsock_destroy(&self->router);
    zsock_destroy(&self->ledger);
    free(self->base_url);
    actor_destroy(&self->actor);
    free(self);
}

zactor_t *notifier_start(notifier_args_t *args) {
    assert(args && args->config);
    return actor_start(s_notifier_actor, args);
}

msg_t *notifier_call(const char *method, const char *params_json, int64_t chat_id, int priority) {
    msg_t *msg = msg_new(MSG_K_TG_CALL, 0);
    msg_set_str(msg, F_METHOD, method);
    if (msg_set_str(msg, F_PARAMS, params_json) != 0) {
        msg_destroy(&msg);
        return NULL;
    }
    if (chat_id) {
        msg_set_int(msg, F_CHAT_ID, chat_id);
        msg_set_int(msg, F_PRIORITY, priority);
    }
    return msg;
}

//  --- requests --------------------------------------------------------------

static bool s_is_edit(const char *method) {
    return strncmp(method, "editMessage", 11) == 0;
}

static int s_on_call(actor_t *actor, zsock_t *router, void *arg) {
    notifier_t *self = (notifier_t *)arg;
    zframe_t *caller = zframe_recv(router);
    if (!caller) return 0;
    msg_err_t err;
    msg_t *msg = msg_recv(router, &err);
    if (!msg || msg_kind(msg) != MSG_K_TG_CALL) {
        actor_count(actor, C_MALFORMED, 1);
        log_warn("notifier", "malformed call", "error=%s kind=%s", msg_err_str(err),
                 msg ? msg_kind_name(msg_kind(msg)) : "-");
        msg_destroy(&msg);
        zframe_destroy(&caller);
        return 0;
    }
    actor_count(actor, C_CALLS, 1);
    s_call_t *call = (s_call_t *)calloc(1, sizeof(s_call_t));
    assert(call);
    call->caller = caller;
    call->received_us = zclock_usecs();
    call->corr = msg_corr(msg);
    snprintf(call->method, sizeof call->method, "%s", msg_str(msg, F_METHOD));
    call->params = strdup(msg_str(msg, F_PARAMS));
    call->chat_id = msg_int(msg, F_CHAT_ID);
    call->priority = (int)msg_int(msg, F_PRIORITY);
    if (call->priority < 0 || call->priority >= SENDQ_CLASSES) call->priority = SENDQ_INTERACTIVE;
    call->message_id = msg_int(msg, F_MESSAGE_ID);
    if (msg_has(msg, F_MEDIA_URL)) {
        call->media_url = strdup(msg_str(msg, F_MEDIA_URL));
        snprintf(call->media_kind, sizeof call->media_kind, "%s",
                 msg_has(msg, F_MEDIA_KIND) ? msg_str(msg, F_MEDIA_KIND) : "video");
        call->link_text = strdup(msg_has(msg, F_LINK_TEXT) ? msg_str(msg, F_LINK_TEXT) : "");
    }
    msg_destroy(&msg);
    if (!call->chat_id) {
        s_send(self, call); //  answers must beat Telegram's ~15 s window
        return 0;
    }
    call->paced = true;
    int64_t key = s_is_edit(call->method) ? call->message_id : 0;
    s_call_t *older = (s_call_t *)sendq_push(
        self->queue, call->chat_id, (sendq_class_t)call->priority, key, call, zclock_mono());
    if (older) {
        //  a newer edit of the same message took its place
        actor_count(actor, C_COALESCED, 1);
        s_answer(self, older, TG_OK, older->message_id, "superseded by a newer edit");
        s_call_free(older);
    }
    s_pump(self);
    return 0;
}

static int s_on_ledger_reply(actor_t *actor, zsock_t *sock, void *arg) {
    (void)actor;
    (void)arg;
    msg_err_t err;
    msg_t *reply = msg_recv(sock, &err);
    if (reply && msg_kind(reply) == MSG_K_ERROR)
        log_warn("notifier", "ledger refused user_blocked", "detail=\"%s\"",
                 msg_str(reply, F_DETAIL));
    msg_destroy(&reply);
    return 0;
}

//  --- pacing ----------------------------------------------------------------

static int s_on_pump_timer(actor_t *actor, int timer_id, void *arg) {
    (void)actor;
    (void)timer_id;
    notifier_t *self = (notifier_t *)arg;
    self->pump_timer = -1;
    s_pump(self);
    return 0;
}

//  Sends whatever sendq allows now, then sleeps until it allows more.
static void s_pump(notifier_t *self) {
    int64_t now = zclock_mono();
    int64_t chat;
    for (s_call_t *call; (call = (s_call_t *)sendq_next(self->queue, now, &chat));)
        s_send(self, call);
    actor_queue(self->actor, (int64_t)sendq_size(self->queue));
    int64_t wait = sendq_wait_ms(self->queue, now);
    if (self->pump_timer >= 0) {
        actor_timer_end(self->actor, self->pump_timer);
        self->pump_timer = -1;
    }
    if (wait >= 0)
        self->pump_timer =
            actor_timer(self->actor, (size_t)(wait > 0 ? wait : 1), 1, s_on_pump_timer, self);
}

//  --- calls -----------------------------------------------------------------

static void s_on_response(const httpc_response_t *response, void *arg);
static void s_on_media(const httpc_response_t *response, void *arg);
static int s_on_resend(actor_t *actor, int timer_id, void *arg);
static void s_drop(void *item, void *arg);

//  The call's context for httpc callbacks.
typedef struct {
    notifier_t *self;
    s_call_t *call;
} s_flight_t;

static void s_start(notifier_t *self, s_call_t *call, const httpc_request_t *request,
                    httpc_done_fn *done) {
    s_flight_t *flight = (s_flight_t *)malloc(sizeof(s_flight_t));
    assert(flight);
    flight->self = self;
    flight->call = call;
    if (httpc_start(self->http, request, done, flight) != 0) {
        free(flight);
        log_error("notifier", "cannot start HTTP call", "method=%s", call->method);
        s_answer(self, call, TG_E_OTHER, 0, "cannot start the HTTP call");
        if (call->paced)
            sendq_done(self->queue, call->chat_id, SENDQ_SENT, 0, zclock_mono(), NULL, NULL);
        s_call_free(call);
    }
}

static void s_send(notifier_t *self, s_call_t *call) {
    if (call->media_url && !call->media) {
        //  first the result file itself, with the upload cap
        httpc_request_t request = {.url = call->media_url,
                                   .timeout_ms = NOTIFIER_MEDIA_TIMEOUT_MS,
                                   .max_bytes = NOTIFIER_UPLOAD_MAX};
        s_start(self, call, &request, s_on_media);
        return;
    }
    char url[2048];
    snprintf(url, sizeof url, "%s%s", self->base_url, call->method);
    httpc_request_t request = {
        .method = "POST", .url = url, .timeout_ms = NOTIFIER_CALL_TIMEOUT_MS};
    httpc_part_t parts[24];
    size_t part_count = 0;
    json_t *params = NULL;
    char *values[24] = {NULL};
    if (call->media) {
        //  multipart: every parameter as a form field, then the file
        params = json_loads(call->params, 0, NULL);
        const char *key;
        json_t *value;
        json_object_foreach(params, key, value) {
            if (part_count >= 22) break;
            values[part_count] = json_is_string(value)
                                     ? strdup(json_string_value(value))
                                     : json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
            parts[part_count] = (httpc_part_t){.name = key, .value = values[part_count]};
            part_count++;
        }
        parts[part_count++] = (httpc_part_t){
            .name = call->media_kind,
            .data = call->media,
            .size = call->media_size,
            .filename = strcmp(call->media_kind, "photo") == 0 ? "photo.jpg" : "video.mp4",
            .content_type = strcmp(call->media_kind, "photo") == 0 ? "image/jpeg" : "video/mp4"};
        request.parts = parts;
        request.part_count = part_count;
        request.timeout_ms = NOTIFIER_MEDIA_TIMEOUT_MS;
    } else {
        request.body = call->params;
        request.body_len = strlen(call->params);
        request.content_type = "application/json";
    }
    s_start(self, call, &request, s_on_response);
    for (size_t i = 0; i < part_count; i++)
        free(values[i]);
    json_decref(params);
}

//  The result file arrived (or did not): upload it, or send the link.
static void s_on_media(const httpc_response_t *response, void *arg) {
    s_flight_t *flight = (s_flight_t *)arg;
    notifier_t *self = flight->self;
    s_call_t *call = flight->call;
    free(flight);
    if (response->status == 200 && !response->too_large) {
        call->media = (char *)malloc(response->body_len ? response->body_len : 1);
        assert(call->media);
        memcpy(call->media, response->body, response->body_len);
        call->media_size = response->body_len;
        snprintf(call->method, sizeof call->method, "%s",
                 strcmp(call->media_kind, "photo") == 0      ? "sendPhoto"
                 : strcmp(call->media_kind, "document") == 0 ? "sendDocument"
                                                             : "sendVideo");
        actor_count(self->actor, C_UPLOADS, 1);
    } else {
        //  too big for Telegram, or unreachable: the user gets the link
        log_info("notifier", "result sent as a link", "size_cap=%s status=%d error=\"%s\"",
                 response->too_large ? "exceeded" : "ok", response->status, response->error);
        actor_count(self->actor, C_LINKS, 1);
        json_t *params = json_loads(call->params, 0, NULL);
        json_t *message = json_object();
        json_object_set(message, "chat_id", json_object_get(params, "chat_id"));
        json_object_set_new(message, "text", json_string(call->link_text));
        json_object_set_new(message, "parse_mode", json_string("HTML"));
        if (json_object_get(params, "reply_markup"))
            json_object_set(message, "reply_markup", json_object_get(params, "reply_markup"));
        free(call->params);
        call->params = json_dumps(message, JSON_COMPACT);
        json_decref(message);
        json_decref(params);
        free(call->media_url);
        call->media_url = NULL;
        snprintf(call->method, sizeof call->method, "sendMessage");
    }
    s_send(self, call);
}

static int64_t s_backoff_ms(notifier_t *self, int attempts) {
    int64_t base = self->args->retry_base_ms > 0 ? self->args->retry_base_ms : 500;
    int64_t delay = base << (attempts < 10 ? attempts : 10);
    if (delay > 30000) delay = 30000;
    return delay / 2 + (int64_t)(randof((int)(delay / 2 + 1))); //  equal jitter
}

static int s_on_resend(actor_t *actor, int timer_id, void *arg) {
    (void)actor;
    (void)timer_id;
    s_flight_t *later = (s_flight_t *)arg;
    s_send(later->self, later->call);
    free(later);
    return 0;
}

//  The rest of a blocked user's queue: answered and freed.
static void s_drop(void *item, void *arg) {
    s_call_t *call = (s_call_t *)item;
    s_answer((notifier_t *)arg, call, TG_E_FORBIDDEN, 0, "the user blocked the bot");
    s_call_free(call);
}

static void s_on_response(const httpc_response_t *response, void *arg) {
    s_flight_t *flight = (s_flight_t *)arg;
    notifier_t *self = flight->self;
    s_call_t *call = flight->call;
    free(flight);
    int64_t now = zclock_mono();
    tg_response_t *parsed = tg_response_parse(response->status, response->body, response->body_len,
                                              response->retry_after);
    tg_status_t status = response->status == 0 ? TG_E_SERVER : tg_response_status(parsed);
    sendq_outcome_t outcome = SENDQ_SENT;
    int64_t retry_ms = 0;
    bool finished = true;
    switch (status) {
    case TG_OK:
    case TG_E_NOT_MODIFIED: {
        int64_t message_id = 0, chat_id = 0;
        tg_response_message(parsed, &message_id, &chat_id);
        actor_count(self->actor, C_SENT, 1);
        actor_observe(self->actor, H_SEND, (uint64_t)(zclock_usecs() - call->received_us));
        s_answer(self, call, TG_OK, message_id > 0 ? message_id : call->message_id, NULL);
        break;
    }
    case TG_E_RETRY_AFTER: {
        actor_count(self->actor, C_E429, 1);
        retry_ms = tg_response_retry_after(parsed) * 1000;
        if (retry_ms <= 0) retry_ms = 1000;
        //  two chats told to wait within a second: the limit is the bot's
        bool global = now - self->last_429_ms < 1000 && self->last_429_chat != call->chat_id;
        self->last_429_ms = now;
        self->last_429_chat = call->chat_id;
        outcome = global ? SENDQ_RETRY_ALL : SENDQ_RETRY;
        finished = false;
        log_warn("notifier", "429 from Telegram", "method=%s retry_after_ms=%lld scope=%s",
                 call->method, (long long)retry_ms, global ? "global" : "chat");
        break;
    }
    case TG_E_FORBIDDEN: {
        actor_count(self->actor, C_E403, 1);
        outcome = SENDQ_DROP_CHAT;
        log_info("notifier", "user blocked the bot", "chat_id=%lld description=\"%s\"",
                 (long long)call->chat_id, tg_response_description(parsed));
        if (call->chat_id > 0) {
            msg_t *blocked = msg_new(MSG_K_USER_BLOCKED, 1);
            msg_set_int(blocked, F_USER_ID, call->chat_id);
            msg_set_bool(blocked, F_BLOCKED, true);
            msg_send(&blocked, self->ledger);
        }
        s_answer(self, call, status, 0, tg_response_description(parsed));
        break;
    }
    case TG_E_SERVER:
    case TG_E_MALFORMED:
        actor_count(self->actor, response->status == 0 ? C_ENETWORK : C_E5XX, 1);
        if (++call->attempts < NOTIFIER_MAX_ATTEMPTS) {
            actor_count(self->actor, C_RETRIES, 1);
            outcome = SENDQ_RETRY;
            retry_ms = s_backoff_ms(self, call->attempts);
            finished = false;
            log_warn("notifier", "Telegram call failed, retrying",
                     "method=%s status=%d attempt=%d retry_ms=%lld error=\"%s\"", call->method,
                     response->status, call->attempts, (long long)retry_ms,
                     response->status ? tg_response_description(parsed) : response->error);
        } else {
            actor_count(self->actor, C_GIVEN_UP, 1);
            log_error("notifier", "Telegram call given up", "method=%s status=%d attempts=%d",
                      call->method, response->status, call->attempts);
            s_answer(self, call, status, 0, "given up after retries");
        }
        break;
    default:
        actor_count(self->actor, C_E4XX, 1);
        log_warn("notifier", "Telegram refused a call", "method=%s code=%d description=\"%s\"",
                 call->method, tg_response_error_code(parsed), tg_response_description(parsed));
        s_answer(self, call, status, 0, tg_response_description(parsed));
        break;
    }
    tg_response_destroy(&parsed);
    if (!call->paced) {
        //  an unpaced call (a callback answer) waits on a timer of its own;
        //  past Telegram's ~15 s window it is not worth sending
        if (!finished && retry_ms <= 15000) {
            s_flight_t *later = (s_flight_t *)malloc(sizeof(s_flight_t));
            assert(later);
            later->self = self;
            later->call = call;
            actor_timer(self->actor, (size_t)(retry_ms > 0 ? retry_ms : 1), 1, s_on_resend, later);
        } else
            s_call_free(call);
        return;
    }
    sendq_done(self->queue, call->chat_id, outcome, retry_ms, now, s_drop, self);
    if (finished) s_call_free(call);
    s_pump(self);
}

static void s_answer(notifier_t *self, s_call_t *call, tg_status_t code, int64_t message_id,
                     const char *detail) {
    if (!call->corr || !call->caller) return;
    msg_t *result = msg_new(MSG_K_TG_RESULT, call->corr);
    msg_set_int(result, F_CODE, code);
    if (message_id) msg_set_int(result, F_MESSAGE_ID, message_id);
    if (call->chat_id > 0) msg_set_int(result, F_CHAT_ID, call->chat_id);
    if (detail && *detail) msg_set_strn(result, F_DETAIL, detail, strnlen(detail, MSG_MAX_DETAIL));
    msg_send_to(&result, self->router, call->caller);
}

static void s_call_free(s_call_t *call) {
    if (!call) return;
    zframe_destroy(&call->caller);
    free(call->params);
    free(call->media_url);
    free(call->link_text);
    free(call->media);
    free(call);
}

static void s_flight_drop(void *arg) {
    s_flight_t *flight = (s_flight_t *)arg;
    s_call_free(flight->call);
    free(flight);
}

static void s_queued_free(void *item, void *arg) {
    (void)arg;
    s_call_free((s_call_t *)item);
}
