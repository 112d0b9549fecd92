/*  fsm_create.c — PRODUCT.md "Creating videos", steps 1-8: each step's
    screen (fsm_ask), what each step takes, the balance check, the confirm
    screen with its order token, and placing the order.
*/
#include "fsm_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ledger.h"

static void s_no_credits(fsm_ctx_t *ctx, int64_t shortfall);
static void s_show_confirm(fsm_ctx_t *ctx, int64_t balance);
static void s_commit_order(session_t *s);

//  --- steps 1-5: model, photo, product, template, wishes or prompt ---------------

void fsm_create(fsm_ctx_t *ctx) {
    session_t *s = ctx->s;
    fsm_leave_flow(ctx);
    const fsm_model_t *only = NULL;
    size_t enabled = 0;
    for (size_t i = 0; i < ctx->config->model_count && i < FSM_MODELS_MAX; i++)
        if (ctx->config->models[i].enabled) {
            enabled++;
            only = &ctx->config->models[i];
        }
    if (enabled == 0) {
        fsm_error(ctx, I18N_T_MODEL_GONE);
        return;
    }
    if (enabled == 1) {
        snprintf(s->draft.model, sizeof s->draft.model, "%s", only->id);
        s->state = SESSION_PHOTO;
    } else
        s->state = SESSION_MODEL;
    fsm_ask(ctx, NULL);
}

void fsm_take_model(fsm_ctx_t *ctx) {
    size_t index = (size_t)ctx->cb.num;
    if (index >= ctx->config->model_count || index >= FSM_MODELS_MAX ||
        !ctx->config->models[index].enabled) {
        fsm_answer(ctx, I18N_A_STALE);
        return;
    }
    snprintf(ctx->s->draft.model, sizeof ctx->s->draft.model, "%s", ctx->config->models[index].id);
    ctx->s->state = SESSION_PHOTO;
    fsm_ask(ctx, NULL);
}

//  A file id we can store and hand to getFile, and a size within the limit.
static bool s_photo_ok(fsm_ctx_t *ctx, const char *file_id, const char *unique_id, int64_t size) {
    if (!file_id || !*file_id || strlen(file_id) > SESSION_FILE_ID_MAX ||
        !i18n_utf8_valid(file_id, strlen(file_id)) ||
        (unique_id && (strlen(unique_id) > SESSION_FILE_ID_MAX ||
                       !i18n_utf8_valid(unique_id, strlen(unique_id))))) {
        fsm_hint(ctx, I18N_T_PHOTO_HINT);
        return false;
    }
    if (size > ctx->config->max_photo_bytes) {
        i18n_arg_t args[] = {I18N_I(ctx->config->max_photo_bytes / FSM_MB)};
        fsm_ask(ctx, fsm_fmt(ctx, I18N_T_PHOTO_TOO_BIG, args, 1));
        return false;
    }
    session_inputs_t *draft = &ctx->s->draft;
    snprintf(draft->photo_id, sizeof draft->photo_id, "%s", file_id);
    snprintf(draft->photo_uid, sizeof draft->photo_uid, "%s", unique_id ? unique_id : "");
    return true;
}

void fsm_take_photo(fsm_ctx_t *ctx) {
    const fsm_update_t *u = ctx->u;
    if (!s_photo_ok(ctx, u->file_id, u->file_unique_id, u->file_size)) return;
    ctx->s->state = SESSION_PRODUCT;
    fsm_ask(ctx, NULL);
}

//  An image sent as a file: JPEG, PNG or WebP by MIME type, or by name when
//  the type is missing or generic.
static bool s_is_image(const char *mime, const char *name) {
    static const char *const mimes[] = {"image/jpeg", "image/jpg", "image/png", "image/webp"};
    static const char *const exts[] = {".jpg", ".jpeg", ".png", ".webp"};
    for (size_t i = 0; mime && i < sizeof mimes / sizeof mimes[0]; i++)
        if (strcasecmp(mime, mimes[i]) == 0) return true;
    if (mime && *mime && strcasecmp(mime, "application/octet-stream") != 0) return false;
    size_t len = name ? strlen(name) : 0;
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        size_t ext = strlen(exts[i]);
        if (len > ext && strcasecmp(name + len - ext, exts[i]) == 0) return true;
    }
    return false;
}

void fsm_take_document(fsm_ctx_t *ctx) {
    const fsm_update_t *u = ctx->u;
    if (!s_is_image(u->mime_type, u->file_name)) {
        fsm_hint(ctx, I18N_T_DOC_NOT_IMAGE);
        return;
    }
    if (!s_photo_ok(ctx, u->file_id, u->file_unique_id, u->file_size)) return;
    ctx->s->state = SESSION_PRODUCT;
    fsm_ask(ctx, NULL);
}

typedef enum { S_TEXT_OK, S_TEXT_EMPTY, S_TEXT_LONG, S_TEXT_BAD } s_text_rc_t;

//  A user's text as we keep it: valid UTF-8, control characters other than
//  newline and tab dropped, trimmed, 1..max_chars characters. *out is a new
//  string when S_TEXT_OK; *chars its length (or the length that was too long).
static s_text_rc_t s_text_take(const char *raw, size_t max_chars, char **out, size_t *chars) {
    *out = NULL;
    *chars = 0;
    size_t len = raw ? strlen(raw) : 0;
    if (len == 0) return S_TEXT_EMPTY;
    if (!i18n_utf8_valid(raw, len)) return S_TEXT_BAD;
    char *text = malloc(len + 1);
    if (!text) abort();
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)raw[i];
        if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7F) continue;
        text[n++] = (char)c;
    }
    size_t start = 0;
    while (start < n && strchr(" \t\r\n", text[start]))
        start++;
    while (n > start && strchr(" \t\r\n", text[n - 1]))
        n--;
    memmove(text, text + start, n - start);
    n -= start;
    text[n] = 0;
    *chars = i18n_utf8_chars(text, n);
    if (n == 0) {
        free(text);
        return S_TEXT_EMPTY;
    }
    if (*chars > max_chars || n > SESSION_TEXT_BYTES_MAX) {
        free(text);
        return S_TEXT_LONG;
    }
    *out = text;
    return S_TEXT_OK;
}

//  Takes the text of this update into *field, or repeats the step with why.
static bool s_take_text(fsm_ctx_t *ctx, size_t max_chars, char **field) {
    char *text;
    size_t chars;
    switch (s_text_take(ctx->u->text, max_chars, &text, &chars)) {
    case S_TEXT_OK:
        free(*field);
        *field = text;
        return true;
    case S_TEXT_EMPTY:
        fsm_hint(ctx, I18N_T_EMPTY_TEXT);
        return false;
    case S_TEXT_BAD:
        fsm_hint(ctx, I18N_T_BAD_TEXT);
        return false;
    case S_TEXT_LONG: {
        i18n_arg_t args[] = {I18N_N((int64_t)chars, N_CHAR), I18N_N((int64_t)max_chars, N_CHAR)};
        fsm_ask(ctx, fsm_fmt(ctx, I18N_T_TOO_LONG, args, 2));
        return false;
    }
    }
    return false;
}

void fsm_take_product(fsm_ctx_t *ctx) {
    if (!s_take_text(ctx, SESSION_PRODUCT_MAX, &ctx->s->draft.product)) return;
    ctx->s->state = SESSION_TEMPLATE;
    fsm_ask(ctx, NULL);
}

void fsm_take_template(fsm_ctx_t *ctx) {
    session_inputs_t *draft = &ctx->s->draft;
    draft->tpl = session_template_parse(ctx->cb.arg);
    session_set_text(&draft->wishes, NULL, 0);
    session_set_text(&draft->prompt, NULL, 0);
    ctx->s->state = draft->tpl == SESSION_TPL_OWN ? SESSION_PROMPT : SESSION_WISHES;
    fsm_ask(ctx, NULL);
}

static void s_to_count(fsm_ctx_t *ctx) {
    if (!fsm_model_find(ctx->config, ctx->s->draft.model)) {
        fsm_leave_flow(ctx);
        fsm_error(ctx, I18N_T_MODEL_GONE);
        return;
    }
    ctx->s->state = SESSION_COUNT;
    fsm_ask(ctx, NULL);
}

void fsm_take_wishes(fsm_ctx_t *ctx) {
    session_inputs_t *draft = &ctx->s->draft;
    if (!s_take_text(ctx, SESSION_WISHES_MAX, &draft->wishes)) return;
    static const char *const none[] = {"-", "—", "–", "−"};
    for (size_t i = 0; draft->wishes && i < sizeof none / sizeof none[0]; i++)
        if (strcmp(draft->wishes, none[i]) == 0) session_set_text(&draft->wishes, NULL, 0);
    s_to_count(ctx);
}

//  The own prompt goes to the job parameters as is: it must fit them.
void fsm_take_prompt(fsm_ctx_t *ctx) {
    session_inputs_t *draft = &ctx->s->draft;
    if (!s_take_text(ctx, SESSION_PROMPT_MAX, &draft->prompt)) return;
    char *params = session_params_json(draft, ctx->s->lang);
    size_t len = strlen(params);
    free(params);
    if (len > MSG_MAX_TEXT) {
        size_t chars = i18n_utf8_chars(draft->prompt, strlen(draft->prompt));
        session_set_text(&draft->prompt, NULL, 0);
        i18n_arg_t args[] = {I18N_N((int64_t)chars, N_CHAR), I18N_N(SESSION_PROMPT_MAX, N_CHAR)};
        fsm_ask(ctx, fsm_fmt(ctx, I18N_T_TOO_LONG, args, 2));
        return;
    }
    s_to_count(ctx);
}

//  --- steps 6-7: count, balance, confirm -----------------------------------------

void fsm_take_count(fsm_ctx_t *ctx) {
    for (size_t i = 0; i < ctx->config->count_count && i < FSM_COUNTS_MAX; i++)
        if (ctx->config->counts[i] == ctx->cb.num && ctx->cb.num <= SESSION_COUNT_MAX) {
            ctx->s->draft.count = (int32_t)ctx->cb.num;
            fsm_check_balance(ctx);
            return;
        }
    fsm_answer(ctx, I18N_A_STALE);
}

//  Step 6 → 7: the balance decides between the confirm screen and top-up.
void fsm_check_balance(fsm_ctx_t *ctx) {
    if (!fsm_model_find(ctx->config, ctx->s->draft.model) || !fsm_inputs_ready(&ctx->s->draft)) {
        fsm_leave_flow(ctx);
        fsm_error(ctx, I18N_T_MODEL_GONE);
        return;
    }
    msg_t *req = msg_new(MSG_K_BALANCE_GET, 0);
    msg_set_int(req, F_USER_ID, ctx->s->user_id);
    fsm_ledger(ctx, req, FSM_PENDING_BALANCE, 0);
}

void fsm_on_balance(fsm_ctx_t *ctx) {
    const fsm_model_t *model = fsm_model_find(ctx->config, ctx->s->draft.model);
    if (!model || !fsm_inputs_ready(&ctx->s->draft)) {
        fsm_leave_flow(ctx);
        fsm_error(ctx, I18N_T_MODEL_GONE);
        return;
    }
    int64_t balance = msg_int(ctx->reply, F_BALANCE);
    int64_t cost = model->price * ctx->s->draft.count;
    if (balance < cost)
        s_no_credits(ctx, cost - balance);
    else
        s_show_confirm(ctx, balance);
}

//  Not enough credits: the shortfall, the counts again (fewer may fit) and
//  a top-up button.
static void s_no_credits(fsm_ctx_t *ctx, int64_t shortfall) {
    session_t *s = ctx->s;
    const fsm_model_t *model = fsm_model_find(ctx->config, s->draft.model);
    s->state = SESSION_COUNT;
    s->order_token[0] = 0;
    i18n_arg_t args[] = {I18N_N(shortfall, N_CREDIT)};
    i18n_keyboard_t kb;
    fsm_kb_counts(&kb, s->lang, fsm_next_screen(ctx), ctx->config, model ? model->price : 0, true);
    fsm_show(ctx, fsm_fmt(ctx, I18N_T_NO_CREDITS, args, 1), &kb, (fsm_tag_t){0});
}

static void s_show_confirm(fsm_ctx_t *ctx, int64_t balance) {
    session_t *s = ctx->s;
    session_inputs_t *draft = &s->draft;
    const fsm_model_t *model = fsm_model_find(ctx->config, draft->model);
    int64_t cost = model->price * draft->count;
    session_new_token(s, ctx->now);
    s->state = SESSION_CONFIRM;
    char *product = fsm_echo(draft->product);
    char *extra = NULL;
    if (draft->tpl == SESSION_TPL_OWN || draft->wishes) {
        char *echo = fsm_echo(draft->tpl == SESSION_TPL_OWN ? draft->prompt : draft->wishes);
        i18n_arg_t args[] = {I18N_S(echo)};
        extra = fsm_fmt(
            ctx, draft->tpl == SESSION_TPL_OWN ? I18N_T_CONFIRM_PROMPT : I18N_T_CONFIRM_WISHES,
            args, 1);
        free(echo);
    }
    static const i18n_id_t tpl_names[] = {I18N_S_TPL_UGC, I18N_S_TPL_UGC, I18N_S_TPL_AD,
                                          I18N_S_TPL_OWN};
    i18n_arg_t args[] = {I18N_S(fsm_model_title(model, s->lang)),
                         I18N_H(i18n_text(s->lang, tpl_names[draft->tpl])),
                         I18N_S(product),
                         I18N_H(extra),
                         I18N_N(draft->count, N_VIDEO),
                         I18N_N(cost, N_CREDIT),
                         I18N_N(balance - cost, N_CREDIT)};
    char *text = fsm_fmt(ctx, I18N_T_CONFIRM, args, 7);
    free(product);
    free(extra);
    i18n_keyboard_t kb;
    fsm_kb_confirm(&kb, s->lang, fsm_next_screen(ctx), s->order_token);
    if (ctx->edit_id) s->confirm_message_id = ctx->edit_id;
    fsm_show(ctx, text, &kb, (fsm_tag_t){.kind = FSM_TAG_CONFIRM});
}

//  --- step 8: the order ----------------------------------------------------------

//  ✅: an order already placed is "already running" wherever its button
//  is; otherwise only the current confirm screen's token places an order.
void fsm_order_button(fsm_ctx_t *ctx) {
    session_t *s = ctx->s;
    if (session_token_placed(s, ctx->cb.arg)) {
        fsm_answer(ctx, I18N_A_ALREADY);
        return;
    }
    if (s->state != SESSION_CONFIRM || ctx->cb.seq == 0 || ctx->cb.seq != s->screen_seq ||
        strcmp(ctx->cb.arg, s->order_token) != 0) {
        fsm_answer(ctx, I18N_A_STALE);
        return;
    }
    const fsm_model_t *model = fsm_model_find(ctx->config, s->draft.model);
    if (!model || !fsm_inputs_ready(&s->draft)) {
        fsm_leave_flow(ctx);
        fsm_error(ctx, I18N_T_MODEL_GONE);
        return;
    }
    msg_t *req = msg_new(MSG_K_ORDER_PLACE, 0);
    msg_set_int(req, F_USER_ID, s->user_id);
    msg_set_int(req, F_CHAT_ID, s->chat_id);
    msg_set_str(req, F_ORDER_TOKEN, s->order_token);
    msg_set_str(req, F_MODEL, model->id);
    msg_set_int(req, F_PRICE, model->price);
    msg_set_int(req, F_COUNT, s->draft.count);
    char *params = session_params_json(&s->draft, s->lang);
    msg_set_str(req, F_PARAMS, params);
    free(params);
    //  The session as it will be once the order exists, saved by the ledger
    //  in the same transaction: a crash cannot leave a placed order with a
    //  session that would offer its ✅ again.
    session_t *after = session_dup(s);
    uint8_t *data = NULL;
    size_t size = 0;
    if (after) {
        s_commit_order(after);
        if (session_encode(after, &data, &size) == 0 &&
            msg_set_bin(req, F_SESSION, data, size) == 0) {
            msg_set_str(req, F_STATE, session_state_name(after->state));
            msg_set_int(req, F_UPDATE_ID, s->last_update_id);
            ctx->no_save = true;
        }
        free(data);
        session_destroy(&after);
    }
    fsm_ledger(ctx, req, FSM_PENDING_ORDER, 0);
}

void fsm_on_order(fsm_ctx_t *ctx) {
    session_t *s = ctx->s;
    const msg_t *reply = ctx->reply;
    if (msg_kind(reply) == MSG_K_ERROR) {
        switch (msg_int(reply, F_CODE)) {
        case LEDGER_E_INSUFFICIENT_CREDITS:
            s_no_credits(ctx, msg_int(reply, F_SHORTFALL) > 0 ? msg_int(reply, F_SHORTFALL) : 1);
            return;
        case LEDGER_E_NOT_FOUND: //  no account: create it, then the menu
            fsm_start(ctx);
            return;
        default:
            break;
        }
        //  Refused: nothing was written, the same token may try again.
        i18n_id_t id = I18N_T_INTERNAL;
        i18n_arg_t args[] = {I18N_N(ctx->config->limit_active, N_GENERATION)};
        if (msg_int(reply, F_CODE) == LEDGER_E_TOO_MANY_ACTIVE)
            id = I18N_T_TOO_MANY_ACTIVE;
        else if (msg_int(reply, F_CODE) == LEDGER_E_RATE_LIMITED)
            id = I18N_T_RATE_LIMITED;
        i18n_keyboard_t kb;
        fsm_kb_order_retry(&kb, s->lang, fsm_next_screen(ctx), s->order_token);
        fsm_show(ctx, fsm_fmt(ctx, id, args, 1), &kb, (fsm_tag_t){0});
        return;
    }
    bool duplicate = msg_bool(reply, F_DUPLICATE);
    int32_t count = s->draft.count;
    if (s->state == SESSION_CONFIRM && *s->order_token) s_commit_order(s);
    size_t n = msg_len(reply, F_JOB_IDS);
    const int64_t *ids = msg_ints(reply, F_JOB_IDS);
    s->last_job_count = 0;
    for (size_t i = 0; i < n && i < SESSION_LAST_JOBS_MAX; i++)
        s->last_job_ids[s->last_job_count++] = ids[i];
    i18n_keyboard_t kb;
    fsm_kb_accepted(&kb, s->lang);
    if (duplicate) {
        fsm_show(ctx, fsm_fmt(ctx, I18N_T_ALREADY_RUNNING, NULL, 0), &kb, (fsm_tag_t){0});
        return;
    }
    i18n_arg_t args[] = {I18N_N(n ? (int64_t)n : count, N_VIDEO)};
    fsm_show(ctx, fsm_fmt(ctx, I18N_T_ACCEPTED, args, 1), &kb, (fsm_tag_t){0});
    for (size_t i = 0; i < n; i++) {
        session_job_t *job = session_job_track(s, ids[i]);
        if (job->shown == FSM_ST_NONE && !(job->flags & SESSION_JOB_SENDING))
            fsm_status(ctx, job, FSM_ST_QUEUED, -1, 0, 0, true);
    }
}

//  What placing an order does to the session (applied to a copy that the
//  ledger saves with the order, and to the session when the reply comes).
static void s_commit_order(session_t *s) {
    session_token_remember(s, s->order_token);
    session_inputs_copy(&s->last, &s->draft);
    s->last_job_count = 0;
    session_inputs_clear(&s->draft);
    s->order_token[0] = 0;
    s->state = SESSION_MENU;
}

bool fsm_inputs_ready(const session_inputs_t *inputs) {
    return *inputs->model && *inputs->photo_id && inputs->product &&
           inputs->tpl != SESSION_TPL_NONE && (inputs->tpl != SESSION_TPL_OWN || inputs->prompt) &&
           inputs->count >= 1 && inputs->count <= SESSION_COUNT_MAX;
}

//  --- each step's screen ---------------------------------------------------------

//  The current step's screen, after hint (taken; NULL = none).
void fsm_ask(fsm_ctx_t *ctx, char *hint) {
    session_t *s = ctx->s;
    i18n_lang_t lang = s->lang;
    uint32_t seq = fsm_next_screen(ctx);
    i18n_keyboard_t kb;
    char *text = NULL;
    const fsm_model_t *model = fsm_model_find(ctx->config, s->draft.model);
    switch (s->state) {
    case SESSION_MODEL:
        text = fsm_fmt(ctx, I18N_T_ASK_MODEL, NULL, 0);
        fsm_kb_models(&kb, lang, seq, ctx->config);
        break;
    case SESSION_PHOTO: {
        i18n_arg_t args[] = {I18N_I(ctx->config->max_photo_bytes / FSM_MB)};
        text = fsm_fmt(ctx, I18N_T_ASK_PHOTO, args, 1);
        fsm_kb_step_cancel(&kb, lang, seq);
        break;
    }
    case SESSION_PRODUCT: {
        i18n_arg_t args[] = {I18N_N(SESSION_PRODUCT_MAX, N_CHAR)};
        text = fsm_fmt(ctx, I18N_T_ASK_PRODUCT, args, 1);
        fsm_kb_step_cancel(&kb, lang, seq);
        break;
    }
    case SESSION_TEMPLATE:
        text = fsm_fmt(ctx, I18N_T_ASK_TEMPLATE, NULL, 0);
        fsm_kb_templates(&kb, lang, seq);
        break;
    case SESSION_WISHES:
        text = fsm_fmt(ctx, I18N_T_ASK_WISHES, NULL, 0);
        fsm_kb_step_cancel(&kb, lang, seq);
        break;
    case SESSION_PROMPT: {
        i18n_arg_t args[] = {I18N_N(SESSION_PROMPT_MAX, N_CHAR)};
        text = fsm_fmt(ctx, I18N_T_ASK_PROMPT, args, 1);
        fsm_kb_step_cancel(&kb, lang, seq);
        break;
    }
    case SESSION_COUNT: {
        int64_t price = model ? model->price : 0;
        i18n_arg_t args[] = {I18N_N(price, N_CREDIT)};
        text = fsm_fmt(ctx, I18N_T_ASK_COUNT, args, 1);
        fsm_kb_counts(&kb, lang, seq, ctx->config, price, false);
        break;
    }
    case SESSION_CONFIRM:
        //  the same order token: this is the same confirm screen again
        text = hint ? NULL : fsm_fmt(ctx, I18N_T_USE_BUTTONS, NULL, 0);
        fsm_kb_confirm(&kb, lang, seq, s->order_token);
        break;
    default:
        text = fsm_fmt(ctx, I18N_T_MENU, NULL, 0);
        fsm_kb_menu(&kb, lang, seq);
        break;
    }
    fsm_show(ctx, fsm_join(hint, text), &kb, (fsm_tag_t){0});
}

void fsm_hint(fsm_ctx_t *ctx, i18n_id_t id) {
    fsm_ask(ctx, fsm_fmt(ctx, id, NULL, 0));
}

void fsm_use_buttons(fsm_ctx_t *ctx) {
    fsm_hint(ctx, I18N_T_USE_BUTTONS);
}

void fsm_need_text(fsm_ctx_t *ctx) {
    fsm_hint(ctx, I18N_T_NEED_TEXT);
}

void fsm_photo_hint(fsm_ctx_t *ctx) {
    fsm_hint(ctx, I18N_T_PHOTO_HINT);
}
