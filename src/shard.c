/*  shard.c — the session shard actor (shard.h): the imperative shell
    around fsm_step. Everything a user sees is decided in fsm.c; this file
    only moves events in and actions out, in order, per user.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "shard.h"

#include <assert.h>
#include <jansson.h>
#include <string.h>

#include "actor.h"
#include "ledger.h"
#include "log.h"
#include "msg.h"
#include "notifier.h"
#include "poller.h"
#include "session.h"
#include "tg.h"

enum {
    C_UPDATES,
    C_REDELIVERED,
    C_MALFORMED,
    C_JOB_EVENTS,
    C_ACTIONS,
    C_LEDGER_ERRORS,
    C_LOADS,
    C_EVICTIONS,
    C_SESSION_RESETS
};
static const char *const s_counter_names[] = {
    "updates",       "redelivered", "malformed", "job_events",     "actions",
    "ledger_errors", "loads",       "evictions", "session_resets", NULL};
enum { H_UPDATE_REPLY };
static const char *const s_hist_names[] = {"update_reply_us", NULL};

typedef enum { EV_UPDATE, EV_JOB, EV_SENT } s_event_kind_t;

//  An event waiting for its user's turn.
typedef struct s_event {
    struct s_event *next;
    s_event_kind_t kind;
    tg_batch_t *batch; //  EV_UPDATE: one update
    msg_t *msg;        //  EV_JOB: the job event
    fsm_sent_t sent;   //  EV_SENT
    int64_t at_us;     //  EV_UPDATE: its arrival (zclock_usecs)
} s_event_t;

typedef struct {
    int64_t user_id;
    session_t *session; //  NULL until loaded
    bool loading;
    s_event_t *head, *tail;
    int in_flight; //  ledger requests whose reply the user waits for
    int64_t *acks; //  update ids to acknowledge once in_flight is 0
    size_t ack_count, ack_cap;
    zlistx_t *outbox;      //  TG_CALLs held until what caused them is durable
    uint64_t used;         //  LRU tick
    int64_t reply_from_us; //  arrival of the oldest update whose replies wait, 0 = none
} s_user_t;

typedef enum { P_LOAD, P_TICKET, P_SAVE, P_IGNORE, P_TG, P_RECOVER } s_pending_kind_t;

typedef struct {
    s_pending_kind_t kind;
    int64_t user_id;
    uint32_t ticket;
    fsm_tag_t tag;
} s_pending_t;

typedef struct {
    shard_args_t *args;
    actor_t *actor;
    zsock_t *pull, *ledger, *notifier, *acks;
    zhashx_t *users;   //  "<user_id>" -> s_user_t
    zhashx_t *pending; //  "<corr_id>" -> s_pending_t
    uint64_t next_corr;
    uint64_t tick;
    fsm_actions_t *actions;
    char name[24]; //  the actor's: "shard <index>"
} shard_t;

static int s_on_pull(actor_t *actor, zsock_t *sock, void *arg);
static int s_on_ledger(actor_t *actor, zsock_t *sock, void *arg);
static int s_on_notifier(actor_t *actor, zsock_t *sock, void *arg);
static void s_drive(shard_t *self, s_user_t *user);
static void s_user_free(void **item_p);
static void s_recover_deliveries(shard_t *self);

static void s_shard_actor(zsock_t *pipe, void *arg) {
    shard_args_t *args = (shard_args_t *)arg;
    shard_t *self = (shard_t *)calloc(1, sizeof(shard_t));
    assert(self);
    self->args = args;
    snprintf(self->name, sizeof self->name, "shard %d", args->index);
    self->actor = actor_new(pipe, self->name, s_counter_names);
    actor_histograms(self->actor, s_hist_names);
    self->users = zhashx_new();
    zhashx_set_destructor(self->users, s_user_free);
    self->pending = zhashx_new();
    self->actions = fsm_actions_new();
    self->next_corr = 1;
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, SHARD_ENDPOINT_FMT, args->index);
    self->pull = zsock_new(ZMQ_PULL);
    zsock_set_rcvhwm(self->pull, 0);
    self->ledger = ledger_connect(args->ledger_endpoint);
    self->notifier = zsock_new(ZMQ_DEALER);
    zsock_set_sndhwm(self->notifier, 0);
    zsock_set_rcvhwm(self->notifier, 0);
    self->acks = zsock_new(ZMQ_PUSH);
    zsock_set_sndhwm(self->acks, 0);
    bool ok =
        zsock_bind(self->pull, "%s", args->endpoint ? args->endpoint : endpoint) >= 0 &&
        self->ledger &&
        zsock_connect(self->notifier, "%s",
                      args->notifier_endpoint ? args->notifier_endpoint : NOTIFIER_ENDPOINT) >= 0 &&
        zsock_connect(self->acks, "%s",
                      args->ack_endpoint ? args->ack_endpoint : POLLER_ACK_ENDPOINT) >= 0;
    if (!ok) {
        log_error("shard", "cannot start", "index=%d", args->index);
        actor_ready(self->actor, -1);
    } else {
        actor_reader(self->actor, self->pull, s_on_pull, self);
        actor_reader(self->actor, self->ledger, s_on_ledger, self);
        actor_reader(self->actor, self->notifier, s_on_notifier, self);
        log_info("shard", "started", "index=%d of=%d", args->index, args->count);
        actor_ready(self->actor, 0);
        s_recover_deliveries(self);
        actor_run(self->actor);
    }
    fsm_actions_destroy(&self->actions);
    zhashx_destroy(&self->users);
    //  pending holds plain records
    for (void *p = zhashx_first(self->pending); p; p = zhashx_next(self->pending))
        free(p);
    zhashx_purge(self->pending);
    zhashx_destroy(&self->pending);
    zsock_destroy(&self->pull);
    zsock_destroy(&self->ledger);
    zsock_destroy(&self->notifier);
    zsock_destroy(&self->acks);
    actor_destroy(&self->actor);
    free(self);
}

zactor_t *shard_start(shard_args_t *args) {
    assert(args && args->config && args->fsm && args->count > 0);
    return actor_start(s_shard_actor, args);
}

//  --- bookkeeping -------------------------------------------------------------

static int64_t s_now(shard_t *self) {
    return self->args->clock ? self->args->clock(self->args->clock_arg) : zclock_time();
}

static uint64_t s_expect(shard_t *self, s_pending_kind_t kind, int64_t user_id, uint32_t ticket,
                         fsm_tag_t tag) {
    s_pending_t *p = (s_pending_t *)calloc(1, sizeof(s_pending_t));
    assert(p);
    *p = (s_pending_t){kind, user_id, ticket, tag};
    uint64_t corr = self->next_corr++;
    char key[24];
    snprintf(key, sizeof key, "%llu", (unsigned long long)corr);
    zhashx_insert(self->pending, key, p);
    return corr;
}

//  The record for corr, removed from the map (the caller frees it).
static s_pending_t *s_take(shard_t *self, uint64_t corr) {
    char key[24];
    snprintf(key, sizeof key, "%llu", (unsigned long long)corr);
    s_pending_t *p = (s_pending_t *)zhashx_lookup(self->pending, key);
    if (p) zhashx_delete(self->pending, key); //  no destructor: the caller frees p
    return p;
}

static void s_event_free(s_event_t *ev) {
    tg_batch_destroy(&ev->batch);
    msg_destroy(&ev->msg);
    free(ev);
}

static void s_user_free(void **item_p) {
    s_user_t *user = (s_user_t *)*item_p;
    if (!user) return;
    session_destroy(&user->session);
    for (s_event_t *ev = user->head, *next; ev; ev = next) {
        next = ev->next;
        s_event_free(ev);
    }
    free(user->acks);
    for (msg_t *m = (msg_t *)zlistx_first(user->outbox); m; m = (msg_t *)zlistx_next(user->outbox))
        msg_destroy(&m);
    zlistx_destroy(&user->outbox);
    free(user);
    *item_p = NULL;
}

static bool s_user_idle(const s_user_t *user) {
    return !user->loading && !user->in_flight && !user->head && !user->ack_count &&
           zlistx_size(user->outbox) == 0;
}

//  Keeps the cache under its bound by forgetting the least recently used
//  idle users (their sessions are in the database).
static void s_evict(shard_t *self) {
    size_t max = self->args->cache_max ? self->args->cache_max : SHARD_CACHE_MAX;
    if (zhashx_size(self->users) <= max) return;
    uint64_t cutoff = self->tick > max / 2 ? self->tick - max / 2 : 0;
    zlistx_t *victims = zlistx_new();
    for (s_user_t *u = (s_user_t *)zhashx_first(self->users); u;
         u = (s_user_t *)zhashx_next(self->users))
        if (u->used < cutoff && s_user_idle(u))
            zlistx_add_end(victims, (void *)zhashx_cursor(self->users));
    for (const char *key = (const char *)zlistx_first(victims); key;
         key = (const char *)zlistx_next(victims)) {
        char copy[24];
        snprintf(copy, sizeof copy, "%s", key);
        zhashx_delete(self->users, copy);
        actor_count(self->actor, C_EVICTIONS, 1);
    }
    zlistx_destroy(&victims);
}

static s_user_t *s_user(shard_t *self, int64_t user_id) {
    char key[24];
    snprintf(key, sizeof key, "%lld", (long long)user_id);
    s_user_t *user = (s_user_t *)zhashx_lookup(self->users, key);
    if (!user) {
        s_evict(self);
        user = (s_user_t *)calloc(1, sizeof(s_user_t));
        assert(user);
        user->user_id = user_id;
        user->outbox = zlistx_new();
        zhashx_insert(self->users, key, user);
    }
    user->used = ++self->tick;
    return user;
}

static void s_enqueue(s_user_t *user, s_event_t *ev) {
    if (user->tail)
        user->tail->next = ev;
    else
        user->head = ev;
    user->tail = ev;
}

static void s_ack_later(s_user_t *user, int64_t update_id) {
    if (user->ack_count == user->ack_cap) {
        user->ack_cap = user->ack_cap ? user->ack_cap * 2 : 4;
        user->acks = (int64_t *)realloc(user->acks, user->ack_cap * sizeof(int64_t));
        assert(user->acks);
    }
    user->acks[user->ack_count++] = update_id;
}

static void s_ack_now(shard_t *self, int64_t update_id) {
    msg_t *done = msg_new(MSG_K_UPDATE_DONE, 0);
    msg_set_int(done, F_UPDATE_ID, update_id);
    msg_send(&done, self->acks);
}

//  --- actions -----------------------------------------------------------------

//  params as JSON text, with the keyboard's reply_markup spliced in as the
//  text i18n already made of it (no parse and print again).
static char *s_params_text(json_t *params, const i18n_keyboard_t *kb) {
    char *text = json_dumps(params, JSON_COMPACT);
    char *markup = kb ? i18n_kb_json(kb) : NULL;
    if (!text || !markup) {
        free(markup);
        return text;
    }
    size_t len = strlen(text); //  ends with '}', and holds at least one field
    char *both = NULL;
    if (asprintf(&both, "%.*s,\"reply_markup\":%s}", (int)(len - 1), text, markup) < 0) both = NULL;
    free(text);
    free(markup);
    return both;
}

static void s_tg_call(shard_t *self, s_user_t *user, const char *method, json_t *params,
                      int64_t chat_id, int priority, const fsm_action_t *action) {
    char *text = s_params_text(params, action->keyboard);
    msg_t *call = text ? notifier_call(method, text, chat_id, priority) : NULL;
    free(text);
    json_decref(params);
    if (!call) {
        log_error("shard", "Telegram call too large, dropped", "method=%s user_id=%lld", method,
                  (long long)user->user_id);
        return;
    }
    if (action->kind == FSM_A_EDIT || action->kind == FSM_A_SEND_VIDEO) {
        if (action->message_id) msg_set_int(call, F_MESSAGE_ID, action->message_id);
    }
    if (action->kind == FSM_A_SEND_VIDEO) {
        msg_set_str(call, F_MEDIA_URL, action->url);
        msg_set_str(call, F_MEDIA_KIND, "video");
        if (action->fallback) msg_set_str(call, F_LINK_TEXT, action->fallback);
    }
    if (action->tag.kind != FSM_TAG_NONE)
        msg_set_corr(call, s_expect(self, P_TG, user->user_id, 0, action->tag));
    //  What the user sees leaves only once the change behind it is
    //  committed: a crash before that means Telegram sends the update again
    //  and it is handled once, not answered twice. The price: replies are at
    //  most once — one still in the notifier when the process dies is lost
    //  (job results and failure notices are not: the ledger tracks them as
    //  delivered / told and the shards send them again after a restart).
    //  Callback answers can't wait (Telegram drops them after ~15 s) and are
    //  harmless twice.
    if (action->kind == FSM_A_ANSWER)
        msg_send(&call, self->notifier);
    else
        zlistx_add_end(user->outbox, call);
}

static void s_execute(shard_t *self, s_user_t *user, bool *saved) {
    size_t n = fsm_actions_size(self->actions);
    actor_count(self->actor, C_ACTIONS, n);
    log_debug("shard", "actions", "user_id=%lld n=%zu", (long long)user->user_id, n);
    for (size_t i = 0; i < n; i++) {
        fsm_action_t *a = fsm_actions_at(self->actions, i);
        switch (a->kind) {
        case FSM_A_SEND: {
            json_t *p = json_pack("{s:I, s:s, s:s, s:{s:b}}", "chat_id", (json_int_t)a->chat_id,
                                  "text", a->text ? a->text : "", "parse_mode", "HTML",
                                  "link_preview_options", "is_disabled", 1);
            s_tg_call(self, user, "sendMessage", p, a->chat_id, (int)a->priority, a);
            break;
        }
        case FSM_A_EDIT: {
            json_t *p =
                json_pack("{s:I, s:I, s:s, s:s, s:{s:b}}", "chat_id", (json_int_t)a->chat_id,
                          "message_id", (json_int_t)a->message_id, "text", a->text ? a->text : "",
                          "parse_mode", "HTML", "link_preview_options", "is_disabled", 1);
            s_tg_call(self, user, "editMessageText", p, a->chat_id, (int)a->priority, a);
            break;
        }
        case FSM_A_ANSWER: {
            json_t *p = json_pack("{s:s, s:b}", "callback_query_id",
                                  a->callback_id ? a->callback_id : "", "show_alert", a->alert);
            if (a->text && *a->text) {
                char *cut = tg_text_cut(a->text, 200);
                json_object_set_new(p, "text", json_string(cut ? cut : ""));
                free(cut);
            }
            s_tg_call(self, user, "answerCallbackQuery", p, 0, 0, a);
            break;
        }
        case FSM_A_SEND_VIDEO: {
            json_t *p =
                json_pack("{s:I, s:s, s:s, s:b}", "chat_id", (json_int_t)a->chat_id, "caption",
                          a->text ? a->text : "", "parse_mode", "HTML", "supports_streaming", 1);
            s_tg_call(self, user, "sendVideo", p, a->chat_id, (int)a->priority, a);
            break;
        }
        case FSM_A_LEDGER: {
            msg_t *req = a->request;
            a->request = NULL;
            if (!req) break;
            log_debug("shard", "ledger request", "user_id=%lld kind=%s ticket=%u reply=%d",
                      (long long)user->user_id, msg_kind_name(msg_kind(req)), a->ticket,
                      a->wants_reply);
            if (a->wants_reply) {
                msg_set_corr(req,
                             s_expect(self, P_TICKET, user->user_id, a->ticket, (fsm_tag_t){0}));
                user->in_flight++;
            } else
                msg_set_corr(req, s_expect(self, P_IGNORE, user->user_id, 0, (fsm_tag_t){0}));
            //  a request carrying the session saves it too
            if (msg_kind(req) == MSG_K_ORDER_PLACE && msg_has(req, F_SESSION) && saved)
                *saved = true;
            msg_send(&req, self->ledger);
            break;
        }
        case FSM_A_SAVE: {
            msg_t *req = session_save_request(user->session, a->update_id);
            if (req) {
                msg_set_corr(req, s_expect(self, P_SAVE, user->user_id, 0, (fsm_tag_t){0}));
                user->in_flight++;
                msg_send(&req, self->ledger);
            }
            if (saved) *saved = true;
            break;
        }
        }
    }
    fsm_actions_clear(self->actions);
}

//  --- events --------------------------------------------------------------------

//  Telegram's normalized update as the FSM's.
static bool s_fsm_update(const tg_update_t *u, fsm_update_t *out) {
    memset(out, 0, sizeof *out);
    switch (u->kind) {
    case TG_UPDATE_TEXT:
        out->kind = *u->command ? FSM_U_COMMAND : FSM_U_TEXT;
        break;
    case TG_UPDATE_PHOTO:
        out->kind = FSM_U_PHOTO;
        break;
    case TG_UPDATE_DOCUMENT:
        out->kind = FSM_U_DOCUMENT;
        break;
    case TG_UPDATE_CALLBACK:
        out->kind = FSM_U_CALLBACK;
        break;
    case TG_UPDATE_OTHER_MESSAGE:
        out->kind = FSM_U_OTHER;
        break;
    default:
        return false;
    }
    out->update_id = u->update_id;
    out->user_id = u->user_id;
    out->chat_id = u->chat_id ? u->chat_id : u->user_id;
    out->language_code = u->language_code;
    out->first_name = u->first_name;
    out->username = u->username;
    out->text = u->kind == TG_UPDATE_TEXT ? u->text : u->caption;
    out->command = u->command;
    out->args = *u->command_arg ? u->command_arg : NULL;
    out->file_id = u->file.file_id;
    out->file_unique_id = u->file.file_unique_id;
    out->file_size = u->file.file_size;
    out->mime_type = u->file.mime_type;
    out->file_name = u->file.file_name;
    out->callback_id = u->query_id;
    out->callback_data = u->data;
    out->message_id = u->message_id;
    return true;
}

static void s_save_update(shard_t *self, s_user_t *user, int64_t update_id) {
    if (update_id > user->session->last_update_id) user->session->last_update_id = update_id;
    msg_t *req = session_save_request(user->session, update_id);
    if (req) {
        msg_set_corr(req, s_expect(self, P_SAVE, user->user_id, 0, (fsm_tag_t){0}));
        user->in_flight++;
        msg_send(&req, self->ledger);
    }
}

static void s_handle_update(shard_t *self, s_user_t *user, const tg_update_t *u) {
    actor_count(self->actor, C_UPDATES, 1);
    if (u->update_id <= user->session->last_update_id) {
        actor_count(self->actor, C_REDELIVERED, 1);
        s_ack_later(user, u->update_id);
        return;
    }
    s_ack_later(user, u->update_id);
    fsm_event_t ev = {.kind = FSM_EV_UPDATE};
    if (!s_fsm_update(u, &ev.update)) {
        //  not the conversation's: payments are not sold yet, a block is noted
        if (u->kind == TG_UPDATE_CHAT_MEMBER) {
            msg_t *req = msg_new(MSG_K_USER_BLOCKED, 0);
            msg_set_int(req, F_USER_ID, u->user_id);
            msg_set_bool(req, F_BLOCKED, u->blocked);
            msg_set_corr(req, s_expect(self, P_IGNORE, user->user_id, 0, (fsm_tag_t){0}));
            msg_send(&req, self->ledger);
        } else if (u->kind == TG_UPDATE_PRE_CHECKOUT) {
            json_t *p = json_pack("{s:s, s:b, s:s}", "pre_checkout_query_id", u->query_id, "ok", 0,
                                  "error_message", "Payments are not available yet.");
            fsm_action_t none = {.kind = FSM_A_ANSWER};
            s_tg_call(self, user, "answerPreCheckoutQuery", p, 0, 0, &none);
        } else if (u->kind == TG_UPDATE_PAYMENT)
            log_error("shard", "payment received but payments are not enabled",
                      "user_id=%lld charge_id=%s", (long long)u->user_id,
                      u->telegram_payment_charge_id);
        s_save_update(self, user, u->update_id);
        return;
    }
    bool saved = false;
    log_debug("shard", "update", "user_id=%lld update_id=%lld kind=%s state=%s",
              (long long)u->user_id, (long long)u->update_id, tg_update_kind_name(u->kind),
              session_state_name(user->session->state));
    fsm_step(user->session, &ev, s_now(self), self->args->fsm, self->actions);
    s_execute(self, user, &saved);
    if (!saved) s_save_update(self, user, u->update_id);
}

static void s_handle_job(shard_t *self, s_user_t *user, const msg_t *msg) {
    actor_count(self->actor, C_JOB_EVENTS, 1);
    fsm_event_t ev = {.kind = FSM_EV_JOB};
    fsm_job_event_t *job = &ev.job;
    job->job_id = msg_int(msg, F_JOB_ID);
    job->order_token = msg_has(msg, F_ORDER_TOKEN) ? msg_str(msg, F_ORDER_TOKEN) : NULL;
    job->idx = msg_int(msg, F_IDX);
    job->state = job_state_parse(msg_str(msg, F_STATE));
    job->progress = msg_has(msg, F_PROGRESS) ? (int)msg_int(msg, F_PROGRESS) : -1;
    job->err_class = msg_has(msg, F_ERR_CLASS) ? msg_str(msg, F_ERR_CLASS) : NULL;
    //  the worker sends the attempt coming next; the FSM counts those made
    job->attempt = msg_has(msg, F_ATTEMPTS) ? (int)msg_int(msg, F_ATTEMPTS) - 1 : 0;
    job->max_attempts = (int)msg_int(msg, F_MAX_ATTEMPTS);
    job->credits_refunded = msg_int(msg, F_CREDITS);
    job->result_url = msg_has(msg, F_RESULT_URL) ? msg_str(msg, F_RESULT_URL) : NULL;
    job->status_message_id = msg_int(msg, F_MESSAGE_ID);
    job->retell = msg_bool(msg, F_DUPLICATE);
    if (job->state == JOB_UNKNOWN) {
        log_warn("shard", "job event with an unknown state", "job_id=%lld", (long long)job->job_id);
        return;
    }
    fsm_step(user->session, &ev, s_now(self), self->args->fsm, self->actions);
    s_execute(self, user, NULL);
}

//  Handles the user's waiting events while no ledger request holds them
//  back; acknowledges their updates once everything they caused is durable.
static void s_drive(shard_t *self, s_user_t *user) {
    if (!user->session) {
        if (!user->loading) {
            user->loading = true;
            actor_count(self->actor, C_LOADS, 1);
            msg_t *req = msg_new(MSG_K_SESSION_LOAD, 0);
            msg_set_int(req, F_USER_ID, user->user_id);
            msg_set_corr(req, s_expect(self, P_LOAD, user->user_id, 0, (fsm_tag_t){0}));
            msg_send(&req, self->ledger);
        }
        return;
    }
    while (user->in_flight == 0 && user->head) {
        s_event_t *ev = user->head;
        user->head = ev->next;
        if (!user->head) user->tail = NULL;
        actor_queue_add(self->actor, -1);
        if (ev->kind == EV_UPDATE && !user->reply_from_us) user->reply_from_us = ev->at_us;
        if (ev->kind == EV_UPDATE)
            s_handle_update(self, user, tg_batch_get(ev->batch, 0));
        else if (ev->kind == EV_JOB)
            s_handle_job(self, user, ev->msg);
        else {
            fsm_event_t fe = {.kind = FSM_EV_SENT, .sent = ev->sent};
            fsm_step(user->session, &fe, s_now(self), self->args->fsm, self->actions);
            s_execute(self, user, NULL);
        }
        s_event_free(ev);
    }
    if (user->in_flight == 0)
        for (msg_t *call = (msg_t *)zlistx_detach(user->outbox, NULL); call;
             call = (msg_t *)zlistx_detach(user->outbox, NULL))
            msg_send(&call, self->notifier);
    if (user->in_flight == 0 && user->reply_from_us) {
        actor_observe(self->actor, H_UPDATE_REPLY,
                      (uint64_t)(zclock_usecs() - user->reply_from_us));
        user->reply_from_us = 0;
    }
    if (user->in_flight == 0 && user->ack_count) {
        for (size_t i = 0; i < user->ack_count; i++) {
            log_debug("shard", "update done", "update_id=%lld", (long long)user->acks[i]);
            s_ack_now(self, user->acks[i]);
        }
        user->ack_count = 0;
    }
}

static int s_on_pull(actor_t *actor, zsock_t *sock, void *arg) {
    shard_t *self = (shard_t *)arg;
    msg_err_t err;
    msg_t *msg = msg_recv(sock, &err);
    if (!msg) {
        actor_count(actor, C_MALFORMED, 1);
        log_warn("shard", "malformed message", "error=%s", msg_err_str(err));
        return 0;
    }
    s_event_t *ev = (s_event_t *)calloc(1, sizeof(s_event_t));
    assert(ev);
    int64_t user_id = msg_int(msg, F_USER_ID);
    if (msg_kind(msg) == MSG_K_UPDATE_IN) {
        ev->kind = EV_UPDATE;
        ev->at_us = zclock_usecs();
        ev->batch = tg_batch_parse_webhook(msg_str(msg, F_UPDATE), msg_len(msg, F_UPDATE));
        if (!ev->batch || tg_batch_size(ev->batch) != 1 ||
            tg_batch_get(ev->batch, 0)->user_id != user_id) {
            //  unreadable: nothing to handle, but the poller must move on
            actor_count(actor, C_MALFORMED, 1);
            s_ack_now(self, msg_int(msg, F_UPDATE_ID));
            s_event_free(ev);
            msg_destroy(&msg);
            return 0;
        }
        msg_destroy(&msg);
    } else if (msg_kind(msg) == MSG_K_JOB_EVENT) {
        ev->kind = EV_JOB;
        ev->msg = msg;
    } else {
        actor_count(actor, C_MALFORMED, 1);
        log_warn("shard", "unexpected message", "kind=%s", msg_kind_name(msg_kind(msg)));
        s_event_free(ev);
        msg_destroy(&msg);
        return 0;
    }
    s_user_t *user = s_user(self, user_id);
    s_enqueue(user, ev);
    actor_queue_add(self->actor, 1);
    s_drive(self, user);
    return 0;
}

static s_user_t *s_user_find(shard_t *self, int64_t user_id) {
    char key[24];
    snprintf(key, sizeof key, "%lld", (long long)user_id);
    return (s_user_t *)zhashx_lookup(self->users, key);
}

static void s_loaded(shard_t *self, s_user_t *user, const msg_t *reply) {
    user->loading = false;
    const char *why = NULL;
    if (reply && msg_kind(reply) == MSG_K_SESSION_DATA && msg_bool(reply, F_FOUND)) {
        user->session = session_decode((const uint8_t *)msg_bin(reply, F_SESSION),
                                       msg_len(reply, F_SESSION), &why);
        if (!user->session) {
            actor_count(self->actor, C_SESSION_RESETS, 1);
            log_warn("shard", "stored session unreadable, starting fresh",
                     "user_id=%lld why=\"%s\"", (long long)user->user_id, why ? why : "?");
        } else if (msg_int(reply, F_UPDATE_ID) > user->session->last_update_id)
            user->session->last_update_id = msg_int(reply, F_UPDATE_ID);
    } else if (reply && msg_kind(reply) == MSG_K_ERROR) {
        log_error("shard", "session load failed", "user_id=%lld detail=\"%s\"",
                  (long long)user->user_id, msg_str(reply, F_DETAIL));
    }
    if (!user->session) {
        //  first sight (or unreadable): the language from the first update
        const char *lang = NULL;
        if (user->head && user->head->kind == EV_UPDATE)
            lang = tg_batch_get(user->head->batch, 0)->language_code;
        user->session = session_new(user->user_id, user->user_id, lang);
        if (reply && msg_kind(reply) == MSG_K_SESSION_DATA)
            user->session->last_update_id = msg_int(reply, F_UPDATE_ID);
    }
    s_drive(self, user);
}

static int s_on_ledger(actor_t *actor, zsock_t *sock, void *arg) {
    shard_t *self = (shard_t *)arg;
    msg_err_t err;
    msg_t *reply = msg_recv(sock, &err);
    if (!reply) return 0;
    s_pending_t *p = s_take(self, msg_corr(reply));
    if (!p) {
        msg_destroy(&reply);
        return 0;
    }
    if (msg_kind(reply) == MSG_K_ERROR && p->kind != P_TICKET) {
        actor_count(actor, C_LEDGER_ERRORS, 1);
        log_warn("shard", "ledger refused a request", "user_id=%lld code=%s detail=\"%s\"",
                 (long long)p->user_id, ledger_err_name((int)msg_int(reply, F_CODE)),
                 msg_str(reply, F_DETAIL));
    }
    if (p->kind == P_RECOVER) {
        //  succeeded jobs not delivered, and failures not told, before the
        //  last stop: the users get them now
        for (size_t i = 0; i < msg_len(reply, F_JOBS); i++) {
            const msg_t *row = msg_row(reply, F_JOBS, i);
            int64_t user_id = msg_int(row, F_USER_ID);
            if (user_id % self->args->count != self->args->index) continue;
            bool failed = strcmp(msg_str(row, F_STATE), "failed") == 0;
            msg_t *ev_msg = msg_new(MSG_K_JOB_EVENT, 0);
            msg_set_int(ev_msg, F_JOB_ID, msg_int(row, F_JOB_ID));
            msg_set_int(ev_msg, F_USER_ID, user_id);
            msg_set_str(ev_msg, F_STATE, msg_str(row, F_STATE));
            msg_set_int(ev_msg, F_CHAT_ID, msg_int(row, F_CHAT_ID));
            msg_set_str(ev_msg, F_ORDER_TOKEN, msg_str(row, F_ORDER_TOKEN));
            msg_set_int(ev_msg, F_IDX, msg_int(row, F_IDX));
            msg_set_bool(ev_msg, F_DUPLICATE, true);
            if (msg_has(row, F_RESULT_URL))
                msg_set_str(ev_msg, F_RESULT_URL, msg_str(row, F_RESULT_URL));
            if (msg_has(row, F_MESSAGE_ID))
                msg_set_int(ev_msg, F_MESSAGE_ID, msg_int(row, F_MESSAGE_ID));
            if (failed) {
                if (msg_has(row, F_ERR_CLASS))
                    msg_set_str(ev_msg, F_ERR_CLASS, msg_str(row, F_ERR_CLASS));
                msg_set_int(ev_msg, F_CREDITS, msg_int(row, F_PRICE));
            }
            s_event_t *ev = (s_event_t *)calloc(1, sizeof(s_event_t));
            assert(ev);
            ev->kind = EV_JOB;
            ev->msg = ev_msg;
            s_user_t *user = s_user(self, user_id);
            s_enqueue(user, ev);
            s_drive(self, user);
        }
    } else if (p->kind != P_IGNORE) {
        s_user_t *user = s_user_find(self, p->user_id);
        if (user && p->kind == P_LOAD)
            s_loaded(self, user, reply);
        else if (user && (p->kind == P_SAVE || p->kind == P_TICKET)) {
            user->in_flight--;
            if (p->kind == P_TICKET && user->session) {
                log_debug("shard", "ledger reply", "user_id=%lld kind=%s ticket=%u",
                          (long long)user->user_id, msg_kind_name(msg_kind(reply)), p->ticket);
                fsm_event_t ev = {.kind = FSM_EV_LEDGER,
                                  .ledger = {.ticket = p->ticket, .reply = reply}};
                fsm_step(user->session, &ev, s_now(self), self->args->fsm, self->actions);
                s_execute(self, user, NULL);
            }
            s_drive(self, user);
        }
    }
    free(p);
    msg_destroy(&reply);
    return 0;
}

static int s_on_notifier(actor_t *actor, zsock_t *sock, void *arg) {
    (void)actor;
    shard_t *self = (shard_t *)arg;
    msg_err_t err;
    msg_t *result = msg_recv(sock, &err);
    if (!result) return 0;
    s_pending_t *p = s_take(self, msg_corr(result));
    s_user_t *user = p ? s_user_find(self, p->user_id) : NULL;
    if (user && user->session) {
        s_event_t *ev = (s_event_t *)calloc(1, sizeof(s_event_t));
        assert(ev);
        ev->kind = EV_SENT;
        ev->sent.tag = p->tag;
        ev->sent.ok = msg_int(result, F_CODE) == TG_OK;
        ev->sent.message_id = msg_int(result, F_MESSAGE_ID);
        s_enqueue(user, ev);
        actor_queue_add(self->actor, 1);
        s_drive(self, user);
    }
    free(p);
    msg_destroy(&result);
    return 0;
}

static void s_recover_deliveries(shard_t *self) {
    msg_t *req = msg_new(MSG_K_JOBS_LIST, 0);
    msg_set_str(req, F_STATE, "succeeded");
    msg_set_int(req, F_LIMIT, MSG_MAX_ROWS);
    msg_set_corr(req, s_expect(self, P_RECOVER, 0, 0, (fsm_tag_t){0}));
    msg_send(&req, self->ledger);
    req = msg_new(MSG_K_JOBS_UNTOLD, 0);
    msg_set_int(req, F_LIMIT, MSG_MAX_ROWS);
    msg_set_corr(req, s_expect(self, P_RECOVER, 0, 0, (fsm_tag_t){0}));
    msg_send(&req, self->ledger);
}
