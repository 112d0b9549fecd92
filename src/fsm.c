/*  fsm.c — the conversation's dispatch: fsm_step, the transition table
    (state × event → handler) for what users send, the command table, the
    table of ledger replies (by what the request was for), flood control and
    redelivery, and the screens everyone sees (welcome, menu, help, support,
    language). The steps of an order are in fsm_create.c, My generations and
    Account in fsm_views.c, job events in fsm_jobs.c.

    Invariants:
    - every callback update gets exactly one answer, placed first among the
      actions of its step (fsm_answer; s_on_update adds an empty one if a
      handler gave none);
    - user text reaches HTML only through I18N_S (escaped);
    - every error message carries a way back to the menu;
    - an order is placed only from the CONFIRM state, by the ✅ of the
      current screen whose token is the session's; a token once placed is
      remembered and its buttons answer "already running".
*/
#include "fsm_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger.h"

#define S_COMMAND_MAX 32
#define S_ANY         SESSION_STATE_COUNT_

//  What a user can do: the kind of message, the command, the button.
#define S_CB_EVENT(id, name, arg, scope) EV_CB_##id,
typedef enum {
    EV_TEXT,
    EV_PHOTO,
    EV_DOCUMENT,
    EV_OTHER,
    EV_CMD_START,
    EV_CMD_MENU,
    EV_CMD_BALANCE,
    EV_CMD_BUY,
    EV_CMD_HISTORY,
    EV_CMD_CANCEL,
    EV_CMD_LANG,
    EV_CMD_HELP,
    EV_CMD_SUPPORT,
    EV_CMD_PAYSUPPORT,
    EV_CMD_TERMS,
    EV_CMD_UNKNOWN,
    FSM_CB_ACTIONS(S_CB_EVENT) //  EV_CB_MENU .. EV_CB_X, in fsm_cb_action_t order
    EV_ANY
} s_event_t;
#undef S_CB_EVENT

//  Handlers of what users send (the transition table below).
static void s_menu(fsm_ctx_t *ctx);
static void s_cancel(fsm_ctx_t *ctx);
static void s_not_now(fsm_ctx_t *ctx);
static void s_lang_ask(fsm_ctx_t *ctx);
static void s_lang_set(fsm_ctx_t *ctx);
static void s_help(fsm_ctx_t *ctx);
static void s_support(fsm_ctx_t *ctx);
static void s_paysupport(fsm_ctx_t *ctx);
static void s_terms(fsm_ctx_t *ctx);
static void s_unknown_command(fsm_ctx_t *ctx);

//  The conversation, as PRODUCT.md tells it. Lookup: (state, event), then
//  (state, EV_ANY), then (S_ANY, event); a button with no row is stale.
static const struct s_transition {
    session_state_t state;
    s_event_t event;
    fsm_handler_fn *handler;
} s_transitions[] = {
    //  A new user (or a session lost): anything creates the account, once,
    //  with its free credits, and shows the menu.
    {SESSION_NEW, EV_ANY, fsm_start},

    //  Commands, in any state.
    {S_ANY, EV_CMD_START, fsm_start},
    {S_ANY, EV_CMD_MENU, s_menu},
    {S_ANY, EV_CMD_CANCEL, s_cancel},
    {S_ANY, EV_CMD_BALANCE, fsm_account},
    {S_ANY, EV_CMD_BUY, fsm_buy},
    {S_ANY, EV_CMD_HISTORY, fsm_history},
    {S_ANY, EV_CMD_LANG, s_lang_ask},
    {S_ANY, EV_CMD_HELP, s_help},
    {S_ANY, EV_CMD_SUPPORT, s_support},
    {S_ANY, EV_CMD_PAYSUPPORT, s_paysupport},
    {S_ANY, EV_CMD_TERMS, s_terms},
    {S_ANY, EV_CMD_UNKNOWN, s_unknown_command},

    //  Main menu, My generations, Account: buttons that work from anywhere.
    {S_ANY, EV_CB_MENU, s_menu},
    {S_ANY, EV_CB_NEW, fsm_create},
    {S_ANY, EV_CB_HIST, fsm_history},
    {S_ANY, EV_CB_JOB, fsm_job_open},
    {S_ANY, EV_CB_REP, fsm_repeat},
    {S_ANY, EV_CB_CXL, fsm_job_cancel},
    {S_ANY, EV_CB_ACCT, fsm_account},
    {S_ANY, EV_CB_ENTS, fsm_entries},
    {S_ANY, EV_CB_BUY, fsm_buy},
    {S_ANY, EV_CB_HELP, s_support},
    {S_ANY, EV_CB_LANG, s_lang_set},
    {S_ANY, EV_CB_OK, fsm_order_button}, //  "already running" in any state
    {S_ANY, EV_CB_X, s_cancel},

    //  Menu: nothing is expected.
    {SESSION_MENU, EV_TEXT, s_not_now},
    {SESSION_MENU, EV_PHOTO, s_not_now},
    {SESSION_MENU, EV_DOCUMENT, s_not_now},
    {SESSION_MENU, EV_OTHER, s_not_now},

    //  1. Model (only when the catalog has more than one enabled).
    {SESSION_MODEL, EV_CB_MDL, fsm_take_model},
    {SESSION_MODEL, EV_TEXT, fsm_use_buttons},
    {SESSION_MODEL, EV_PHOTO, fsm_use_buttons},
    {SESSION_MODEL, EV_DOCUMENT, fsm_use_buttons},
    {SESSION_MODEL, EV_OTHER, fsm_use_buttons},

    //  2. Photo: a photo or an image file <= 10 MB; anything else, a hint.
    {SESSION_PHOTO, EV_PHOTO, fsm_take_photo},
    {SESSION_PHOTO, EV_DOCUMENT, fsm_take_document},
    {SESSION_PHOTO, EV_TEXT, fsm_photo_hint},
    {SESSION_PHOTO, EV_OTHER, fsm_photo_hint},

    //  3. Product text: 1..1000 characters.
    {SESSION_PRODUCT, EV_TEXT, fsm_take_product},
    {SESSION_PRODUCT, EV_PHOTO, fsm_need_text},
    {SESSION_PRODUCT, EV_DOCUMENT, fsm_need_text},
    {SESSION_PRODUCT, EV_OTHER, fsm_need_text},

    //  4. Template: UGC / ad / own prompt.
    {SESSION_TEMPLATE, EV_CB_TPL, fsm_take_template},
    {SESSION_TEMPLATE, EV_TEXT, fsm_use_buttons},
    {SESSION_TEMPLATE, EV_PHOTO, fsm_use_buttons},
    {SESSION_TEMPLATE, EV_DOCUMENT, fsm_use_buttons},
    {SESSION_TEMPLATE, EV_OTHER, fsm_use_buttons},

    //  5. Wishes ("-" = none), or 5'. the user's own prompt (<= 5000).
    {SESSION_WISHES, EV_TEXT, fsm_take_wishes},
    {SESSION_WISHES, EV_PHOTO, fsm_need_text},
    {SESSION_WISHES, EV_DOCUMENT, fsm_need_text},
    {SESSION_WISHES, EV_OTHER, fsm_need_text},
    {SESSION_PROMPT, EV_TEXT, fsm_take_prompt},
    {SESSION_PROMPT, EV_PHOTO, fsm_need_text},
    {SESSION_PROMPT, EV_DOCUMENT, fsm_need_text},
    {SESSION_PROMPT, EV_OTHER, fsm_need_text},

    //  6. Count: 1 / 3 / 5 with prices; the balance decides confirm or top-up.
    {SESSION_COUNT, EV_CB_CNT, fsm_take_count},
    {SESSION_COUNT, EV_TEXT, fsm_use_buttons},
    {SESSION_COUNT, EV_PHOTO, fsm_use_buttons},
    {SESSION_COUNT, EV_DOCUMENT, fsm_use_buttons},
    {SESSION_COUNT, EV_OTHER, fsm_use_buttons},

    //  7. Confirm: ✅ places the order (EV_CB_OK above), ❌ leaves.
    {SESSION_CONFIRM, EV_TEXT, fsm_use_buttons},
    {SESSION_CONFIRM, EV_PHOTO, fsm_use_buttons},
    {SESSION_CONFIRM, EV_DOCUMENT, fsm_use_buttons},
    {SESSION_CONFIRM, EV_OTHER, fsm_use_buttons},
};

static const struct s_command {
    const char *name;
    s_event_t event;
} s_commands[] = {
    {"start", EV_CMD_START},     {"menu", EV_CMD_MENU},
    {"balance", EV_CMD_BALANCE}, {"buy", EV_CMD_BUY},
    {"history", EV_CMD_HISTORY}, {"cancel", EV_CMD_CANCEL},
    {"lang", EV_CMD_LANG},       {"help", EV_CMD_HELP},
    {"support", EV_CMD_SUPPORT}, {"paysupport", EV_CMD_PAYSUPPORT},
    {"terms", EV_CMD_TERMS},
};

//  Handlers of ledger replies, by what the request was for (the others are
//  in fsm_views.c).
static void s_on_touched(fsm_ctx_t *ctx);

//  Each purpose: the reply kind that means success, its handler, and
//  whether that handler reads the typed errors itself (handles_errors).
//  Otherwise a not_found account is created again and any other error, or
//  a reply of the wrong kind, reads as "something went wrong".
static const struct s_reply {
    fsm_pending_t purpose;
    int ok_kind;
    fsm_handler_fn *handler;
    bool handles_errors;
} s_replies[] = {
    {FSM_PENDING_START, MSG_K_USER, s_on_touched, false},
    {FSM_PENDING_BALANCE, MSG_K_USER, fsm_on_balance, false},
    {FSM_PENDING_ORDER, MSG_K_ORDER, fsm_on_order, true},
    {FSM_PENDING_ACCOUNT, MSG_K_USER, fsm_on_account, false},
    {FSM_PENDING_ENTRIES, MSG_K_ENTRY_LIST, fsm_on_entries, false},
    {FSM_PENDING_HISTORY, MSG_K_JOB_LIST, fsm_on_history, false},
    {FSM_PENDING_JOB, MSG_K_JOB_LIST, fsm_on_job, true},
    {FSM_PENDING_REPEAT, MSG_K_JOB_LIST, fsm_on_repeat, true},
    {FSM_PENDING_CANCEL, MSG_K_OK, fsm_on_cancelled, true},
};

static const char *const s_pending_names[FSM_PENDING_COUNT_] = {
#define FSM_P_NAME(id, name) name,
    FSM_PENDING(FSM_P_NAME)
#undef FSM_P_NAME
};

//  Defaults (PRODUCT.md).
static const fsm_model_t s_default_models[] = {
    {FSM_DEFAULT_MODEL, "Sora 2", "Sora 2", 1, true},
};
static const int64_t s_default_counts[] = {1, 3, 5};
static const fsm_pack_t s_default_packs[] = {{5, 250}, {10, 450}, {30, 1250}, {100, 3900}};

static void s_on_update(fsm_ctx_t *ctx);
static void s_on_ledger(fsm_ctx_t *ctx, const fsm_ledger_reply_t *ev);

//  --- configuration ------------------------------------------------------------

void fsm_config_defaults(fsm_config_t *config) {
    *config = (fsm_config_t){
        .models = s_default_models,
        .model_count = sizeof s_default_models / sizeof s_default_models[0],
        .counts = s_default_counts,
        .count_count = sizeof s_default_counts / sizeof s_default_counts[0],
        .packs = s_default_packs,
        .pack_count = sizeof s_default_packs / sizeof s_default_packs[0],
        .flood_per_10s = 30,
        .flood_mute_ms = 30000,
        .max_photo_bytes = 10 * FSM_MB,
        .progress_edit_ms = 10000,
        .max_attempts = 3,
        .limit_active = 5,
        .support_contact = NULL,
    };
}

const fsm_model_t *fsm_model_find(const fsm_config_t *config, const char *id) {
    for (size_t i = 0; id && i < config->model_count && i < FSM_MODELS_MAX; i++)
        if (config->models[i].enabled && config->models[i].id &&
            strcmp(config->models[i].id, id) == 0)
            return &config->models[i];
    return NULL;
}

const char *fsm_model_title(const fsm_model_t *model, i18n_lang_t lang) {
    const char *title = lang == I18N_RU ? model->title_ru : model->title_en;
    return title && *title ? title : model->id;
}

const char *fsm_pending_name(int pending) {
    return pending >= 0 && pending < FSM_PENDING_COUNT_ ? s_pending_names[pending] : "?";
}

//  --- the step -------------------------------------------------------------------

size_t fsm_step(session_t *session, const fsm_event_t *event, int64_t now_ms,
                const fsm_config_t *config, fsm_actions_t *actions) {
    fsm_ctx_t ctx = {.s = session,
                     .config = config,
                     .out = actions,
                     .now = now_ms,
                     .first = fsm_actions_size(actions)};
    switch (event->kind) {
    case FSM_EV_UPDATE:
        ctx.u = &event->update;
        s_on_update(&ctx);
        break;
    case FSM_EV_LEDGER:
        s_on_ledger(&ctx, &event->ledger);
        break;
    case FSM_EV_JOB:
        fsm_on_job_event(&ctx, &event->job);
        break;
    case FSM_EV_SENT:
        fsm_on_sent(&ctx, &event->sent);
        break;
    }
    if (ctx.changed && !ctx.no_save) {
        fsm_action_t *save = fsm_actions_push(actions, FSM_A_SAVE);
        save->update_id = session->last_update_id;
    }
    return fsm_actions_size(actions) - ctx.first;
}

//  --- updates --------------------------------------------------------------------

static int s_classify_command(const char *raw) {
    char name[S_COMMAND_MAX + 1];
    const char *p = raw ? raw : "";
    if (*p == '/') p++;
    size_t len = strcspn(p, "@ \t\n");
    if (len == 0 || len > S_COMMAND_MAX) return EV_CMD_UNKNOWN;
    for (size_t i = 0; i < len; i++)
        name[i] = (char)((p[i] >= 'A' && p[i] <= 'Z') ? p[i] - 'A' + 'a' : p[i]);
    name[len] = 0;
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++)
        if (strcmp(name, s_commands[i].name) == 0) return s_commands[i].event;
    return EV_CMD_UNKNOWN;
}

static fsm_handler_fn *s_lookup(session_state_t state, int event) {
    const size_t n = sizeof s_transitions / sizeof s_transitions[0];
    for (size_t i = 0; i < n; i++)
        if (s_transitions[i].state == state && (int)s_transitions[i].event == event)
            return s_transitions[i].handler;
    for (size_t i = 0; i < n; i++)
        if (s_transitions[i].state == state && s_transitions[i].event == EV_ANY)
            return s_transitions[i].handler;
    for (size_t i = 0; i < n; i++)
        if (s_transitions[i].state == S_ANY && (int)s_transitions[i].event == event)
            return s_transitions[i].handler;
    return NULL;
}

//  Flood control: more than flood_per_10s updates in a window mutes the
//  user for flood_mute_ms; they are told once per mute.
static bool s_flooded(fsm_ctx_t *ctx) {
    session_t *s = ctx->s;
    int64_t limit = ctx->config->flood_per_10s;
    if (limit <= 0) return false;
    if (ctx->now < s->muted_until_ms) {
        fsm_answer(ctx, I18N_A_FLOOD);
        return true;
    }
    if (s->muted_until_ms) { //  a mute that has ended
        s->muted_until_ms = 0;
        s->flood_warned = false;
    }
    if (ctx->now - s->flood_window_ms >= FSM_FLOOD_WINDOW_MS || ctx->now < s->flood_window_ms) {
        s->flood_window_ms = ctx->now;
        s->flood_count = 0;
    }
    s->flood_count++;
    if (s->flood_count <= (uint64_t)limit) return false;
    s->muted_until_ms = ctx->now + ctx->config->flood_mute_ms;
    fsm_answer(ctx, I18N_A_FLOOD);
    if (!s->flood_warned) {
        s->flood_warned = true;
        int64_t seconds = (ctx->config->flood_mute_ms + 999) / 1000;
        i18n_arg_t args[] = {I18N_N(seconds, N_SECOND)};
        fsm_notice(ctx, fsm_fmt(ctx, I18N_T_FLOOD, args, 1));
    }
    return true;
}

static void s_on_update(fsm_ctx_t *ctx) {
    const fsm_update_t *u = ctx->u;
    session_t *s = ctx->s;
    bool callback = u->kind == FSM_U_CALLBACK;
    if (u->user_id != s->user_id) { //  not this session's: the shard's bug
        fsm_answer(ctx, I18N_A_STALE);
        return;
    }
    if (u->update_id > 0 && u->update_id <= s->last_update_id) { //  redelivered
        fsm_answer(ctx, FSM_NO_TEXT);
        return;
    }
    ctx->changed = true;
    if (u->update_id > s->last_update_id) s->last_update_id = u->update_id;
    if (u->chat_id) s->chat_id = u->chat_id;
    if (!s->lang_chosen && u->language_code && *u->language_code)
        s->lang = i18n_detect(u->language_code);
    session_set_name(s, u->first_name);
    if (s_flooded(ctx)) return;

    //  While an order is being placed, nothing else starts (the shard holds
    //  updates until the reply; this is the guard if it does not).
    int event;
    switch (u->kind) {
    case FSM_U_TEXT:
        event = EV_TEXT;
        break;
    case FSM_U_COMMAND:
        event = s_classify_command(u->command ? u->command : u->text);
        break;
    case FSM_U_PHOTO:
        event = EV_PHOTO;
        break;
    case FSM_U_DOCUMENT:
        event = EV_DOCUMENT;
        break;
    case FSM_U_CALLBACK:
        if (fsm_cb_parse(u->callback_data, &ctx->cb)) {
            fsm_answer(ctx, I18N_A_STALE);
            return;
        }
        event = EV_CB_MENU + (int)ctx->cb.action;
        break;
    default:
        event = EV_OTHER;
        break;
    }
    if (s->pending == FSM_PENDING_ORDER) {
        bool same =
            callback && ctx->cb.action == FSM_CB_OK && strcmp(ctx->cb.arg, s->order_token) == 0;
        fsm_answer(ctx, same ? I18N_A_ALREADY : I18N_A_WAIT);
        if (!callback) fsm_notice(ctx, fsm_fmt(ctx, I18N_T_WAIT_ORDER, NULL, 0));
        return;
    }
    if (callback && s->state != SESSION_NEW) {
        //  The button's scope (fsm.h): a navigation button works from seq 0
        //  (sends) or the current screen (edits it); a step button only
        //  from the current screen; ✅ checks its token first (fsm_order_button).
        uint32_t seq = ctx->cb.seq;
        bool current = seq != 0 && seq == s->screen_seq;
        switch (fsm_cb_scope(ctx->cb.action)) {
        case FSM_CB_NAV:
            if (seq != 0 && !current) {
                fsm_answer(ctx, I18N_A_STALE);
                return;
            }
            break;
        case FSM_CB_STEP:
            if (!current) {
                fsm_answer(ctx, I18N_A_STALE);
                return;
            }
            break;
        case FSM_CB_ORDER:
            break;
        }
        ctx->edit_id = current ? u->message_id : 0;
    }
    fsm_handler_fn *handler = s_lookup(s->state, event);
    if (!handler) {
        fsm_answer(ctx, I18N_A_STALE);
        return;
    }
    //  A read still in flight is superseded by what the user does now: its
    //  late reply must not act on a step the user has left.
    s->pending = FSM_PENDING_NONE;
    handler(ctx);
    fsm_answer(ctx, FSM_NO_TEXT); //  no-op when the handler answered
}

//  --- handlers: everyone ---------------------------------------------------------

void fsm_start(fsm_ctx_t *ctx) {
    session_t *s = ctx->s;
    if (fsm_is_callback(ctx))
        fsm_answer(ctx, I18N_A_STALE); //  a button of a session we no longer have
    msg_t *req = msg_new(MSG_K_USER_TOUCH, 0);
    msg_set_int(req, F_USER_ID, s->user_id);
    msg_set_str(req, F_LANG, i18n_lang_code(s->lang));
    if (ctx->u && ctx->u->first_name)
        msg_set_str(req, F_FIRST_NAME, ctx->u->first_name); //  refused when not UTF-8
    if (ctx->u && ctx->u->username) msg_set_str(req, F_USERNAME, ctx->u->username);
    ctx->edit_id = 0;
    fsm_ledger(ctx, req, FSM_PENDING_START, 0);
}

static void s_on_touched(fsm_ctx_t *ctx) {
    session_t *s = ctx->s;
    fsm_leave_flow(ctx);
    const char *name = *s->first_name ? s->first_name : i18n_text(s->lang, I18N_S_FRIEND);
    i18n_arg_t args[] = {I18N_S(name), I18N_N(msg_int(ctx->reply, F_BALANCE), N_CREDIT)};
    bool created = msg_bool(ctx->reply, F_CREATED);
    char *text = fsm_fmt(ctx, created ? I18N_T_WELCOME_NEW : I18N_T_WELCOME_BACK, args, 2);
    i18n_keyboard_t kb;
    fsm_kb_menu(&kb, s->lang, fsm_next_screen(ctx));
    ctx->edit_id = 0;
    fsm_show(ctx, fsm_join(text, fsm_fmt(ctx, I18N_T_MENU, NULL, 0)), &kb, (fsm_tag_t){0});
}

static void s_menu(fsm_ctx_t *ctx) {
    fsm_leave_flow(ctx);
    fsm_ask(ctx, NULL);
}

static void s_cancel(fsm_ctx_t *ctx) {
    session_state_t was = ctx->s->state;
    fsm_leave_flow(ctx);
    bool in_flow = was != SESSION_MENU && was != SESSION_NEW;
    fsm_ask(ctx, in_flow ? fsm_fmt(ctx, I18N_T_CANCELLED, NULL, 0) : NULL);
}

static void s_not_now(fsm_ctx_t *ctx) {
    fsm_hint(ctx, I18N_T_NOT_NOW);
}

static void s_help(fsm_ctx_t *ctx) {
    fsm_notice(ctx, fsm_fmt(ctx, I18N_T_HELP, NULL, 0));
}

static void s_support(fsm_ctx_t *ctx) {
    const char *contact = ctx->config->support_contact;
    char *text;
    if (contact && *contact) {
        i18n_arg_t args[] = {I18N_S(contact)};
        text = fsm_fmt(ctx, I18N_T_SUPPORT, args, 1);
    } else
        text = fsm_fmt(ctx, I18N_T_SUPPORT_NONE, NULL, 0);
    i18n_keyboard_t kb;
    fsm_kb_support(&kb, ctx->s->lang, 0, contact);
    fsm_send(ctx, text, &kb, FSM_PRIO_INTERACTIVE, (fsm_tag_t){0});
}

static void s_paysupport(fsm_ctx_t *ctx) {
    const char *contact = ctx->config->support_contact;
    i18n_arg_t args[] = {contact && *contact
                             ? I18N_S(contact)
                             : I18N_H(i18n_text(ctx->s->lang, I18N_S_CONTACT_FALLBACK))};
    fsm_notice(ctx, fsm_fmt(ctx, I18N_T_PAYSUPPORT, args, 1));
}

static void s_terms(fsm_ctx_t *ctx) {
    fsm_notice(ctx, fsm_fmt(ctx, I18N_T_TERMS, NULL, 0));
}

static void s_unknown_command(fsm_ctx_t *ctx) {
    fsm_notice(ctx, fsm_fmt(ctx, I18N_T_UNKNOWN_COMMAND, NULL, 0));
}

static void s_lang_ask(fsm_ctx_t *ctx) {
    i18n_keyboard_t kb;
    fsm_kb_lang(&kb, fsm_next_screen(ctx));
    fsm_show(ctx, fsm_fmt(ctx, I18N_T_LANG_ASK, NULL, 0), &kb, (fsm_tag_t){0});
}

//  The language is stored in the session and, for everything else that
//  writes to the user, in their account (a user_touch with the new lang).
static void s_lang_set(fsm_ctx_t *ctx) {
    session_t *s = ctx->s;
    i18n_lang_parse(ctx->cb.arg, &s->lang);
    s->lang_chosen = true;
    msg_t *req = msg_new(MSG_K_USER_TOUCH, 0);
    msg_set_int(req, F_USER_ID, s->user_id);
    msg_set_str(req, F_LANG, i18n_lang_code(s->lang));
    fsm_ledger_oneway(ctx, req);
    fsm_hint(ctx, I18N_T_LANG_SET); //  the current step again, in the new language
}

//  --- ledger replies -------------------------------------------------------------

static void s_on_ledger(fsm_ctx_t *ctx, const fsm_ledger_reply_t *ev) {
    session_t *s = ctx->s;
    if (!ev->reply || s->pending == FSM_PENDING_NONE || ev->ticket != s->pending_ticket)
        return; //  a reply nobody waits for any more
    ctx->changed = true;
    ctx->reply = ev->reply;
    ctx->edit_id = s->pending_message_id;
    int purpose = s->pending;
    s->pending = FSM_PENDING_NONE;
    for (size_t i = 0; i < sizeof s_replies / sizeof s_replies[0]; i++) {
        const struct s_reply *row = &s_replies[i];
        if ((int)row->purpose != purpose) continue;
        int kind = msg_kind(ev->reply);
        if (kind == row->ok_kind || (kind == MSG_K_ERROR && row->handles_errors)) {
            row->handler(ctx);
            s->pending_arg = s->pending == FSM_PENDING_NONE ? 0 : s->pending_arg;
            return;
        }
        break;
    }
    //  An error the purpose does not handle itself, or a reply of the wrong
    //  kind: a missing account is created again, anything else is told.
    if (msg_kind(ev->reply) == MSG_K_ERROR && msg_int(ev->reply, F_CODE) == LEDGER_E_NOT_FOUND &&
        purpose != FSM_PENDING_START) {
        fsm_start(ctx);
        return;
    }
    fsm_error(ctx, I18N_T_INTERNAL);
}

//  --- helpers --------------------------------------------------------------------

//  Back to the menu state; the draft and its token are dropped.
void fsm_leave_flow(fsm_ctx_t *ctx) {
    session_t *s = ctx->s;
    s->state = SESSION_MENU;
    s->order_token[0] = 0;
    session_inputs_clear(&s->draft);
}
