/*  fsm_views.c — My generations and Account: screens built from what the
    ledger returns (jobs, balance, balance changes), repeat and cancel.
    A job row that is not the user's reads as "not found".
*/
#include "fsm_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger.h"

void fsm_buy(fsm_ctx_t *ctx) {
    char *lines = strdup("");
    for (size_t i = 0; lines && i < ctx->config->pack_count; i++) {
        const fsm_pack_t *pack = &ctx->config->packs[i];
        i18n_arg_t args[] = {I18N_N(pack->credits, N_CREDIT), I18N_I(pack->stars)};
        lines = fsm_join(lines, fsm_fmt(ctx, I18N_T_BUY_LINE, args, 2));
    }
    if (!lines) abort();
    i18n_arg_t args[] = {I18N_H(lines)};
    fsm_notice(ctx, fsm_fmt(ctx, I18N_T_BUY, args, 1));
    free(lines);
}

void fsm_history(fsm_ctx_t *ctx) {
    msg_t *req = msg_new(MSG_K_JOBS_LIST, 0);
    msg_set_int(req, F_USER_ID, ctx->s->user_id);
    msg_set_int(req, F_LIMIT, FSM_HISTORY_LIMIT);
    fsm_ledger(ctx, req, FSM_PENDING_HISTORY, 0);
}

void fsm_on_history(fsm_ctx_t *ctx) {
    size_t n = msg_len(ctx->reply, F_JOBS);
    int64_t ids[FSM_HISTORY_LIMIT];
    const char *marks[FSM_HISTORY_LIMIT];
    char *lines = strdup("");
    size_t shown = 0;
    for (size_t i = 0; lines && i < n && shown < FSM_HISTORY_LIMIT; i++) {
        const msg_t *row = msg_row(ctx->reply, F_JOBS, i);
        if (msg_int(row, F_USER_ID) != ctx->s->user_id) continue;
        job_state_t state = job_state_parse(msg_str(row, F_STATE));
        ids[shown] = msg_int(row, F_JOB_ID);
        marks[shown] = fsm_job_mark(state);
        char *date = fsm_date(ctx, msg_int(row, F_CREATED_MS));
        i18n_arg_t args[] = {I18N_H(marks[shown]), I18N_I(ids[shown]),
                             I18N_H(fsm_template_text(ctx, msg_str(row, F_PARAMS))), I18N_H(date)};
        lines = fsm_join(lines, fsm_fmt(ctx, I18N_T_HISTORY_LINE, args, 4));
        free(date);
        shown++;
    }
    if (!lines) abort();
    i18n_arg_t args[] = {I18N_H(lines)};
    char *text = fsm_fmt(ctx, shown ? I18N_T_HISTORY : I18N_T_HISTORY_EMPTY, args, 1);
    free(lines);
    i18n_keyboard_t kb;
    fsm_kb_history(&kb, ctx->s->lang, fsm_next_screen(ctx), ids, marks, shown);
    fsm_show(ctx, text, &kb, (fsm_tag_t){0});
}

static void s_job_get(fsm_ctx_t *ctx, fsm_pending_t purpose) {
    msg_t *req = msg_new(MSG_K_JOB_GET, 0);
    msg_set_int(req, F_JOB_ID, ctx->cb.num);
    fsm_ledger(ctx, req, purpose, ctx->cb.num);
}

void fsm_job_open(fsm_ctx_t *ctx) {
    s_job_get(ctx, FSM_PENDING_JOB);
}

//  The job row of a JOB_LIST reply if it is this user's, else NULL (a
//  forged job id reads as "not found", never as someone else's job).
static const msg_t *s_own_row(fsm_ctx_t *ctx) {
    if (msg_kind(ctx->reply) != MSG_K_JOB_LIST || msg_len(ctx->reply, F_JOBS) < 1) return NULL;
    const msg_t *row = msg_row(ctx->reply, F_JOBS, 0);
    return msg_int(row, F_USER_ID) == ctx->s->user_id ? row : NULL;
}

void fsm_on_job(fsm_ctx_t *ctx) {
    session_t *s = ctx->s;
    const msg_t *row = s_own_row(ctx);
    if (!row) {
        fsm_error(ctx, msg_kind(ctx->reply) == MSG_K_ERROR &&
                               msg_int(ctx->reply, F_CODE) != LEDGER_E_NOT_FOUND
                           ? I18N_T_INTERNAL
                           : I18N_T_JOB_NOT_FOUND);
        return;
    }
    int64_t job_id = msg_int(row, F_JOB_ID);
    job_state_t state = job_state_parse(msg_str(row, F_STATE));
    int progress = msg_has(row, F_PROGRESS) ? (int)msg_int(row, F_PROGRESS) : -1;
    s->viewed_job_id = job_id;
    s->viewed_job_price = msg_int(row, F_PRICE);
    fsm_status_t code = FSM_ST_NONE;
    switch (state) {
    case JOB_QUEUED:
        code = FSM_ST_QUEUED;
        break;
    case JOB_RUNNING:
    case JOB_SUBMITTED:
        code = FSM_ST_RUNNING;
        break;
    case JOB_SUCCEEDED:
    case JOB_DELIVERED:
        code = FSM_ST_DONE;
        break;
    case JOB_FAILED:
        code = FSM_ST_FAILED;
        break;
    case JOB_CANCELLED:
        code = FSM_ST_CANCELLED;
        break;
    default:
        break;
    }
    char *status = fsm_status_text(ctx, 0, code, progress, 0, 0);
    const fsm_model_t *model = fsm_model_find(ctx->config, msg_str(row, F_MODEL));
    session_inputs_t inputs = {0};
    char *product_line = NULL;
    if (session_params_parse(msg_str(row, F_PARAMS), &inputs) == 0 && inputs.product) {
        char *echo = fsm_echo(inputs.product);
        i18n_arg_t args[] = {I18N_S(echo)};
        product_line = fsm_fmt(ctx, I18N_T_JOB_PRODUCT, args, 1);
        free(echo);
    }
    session_inputs_clear(&inputs);
    char *date = fsm_date(ctx, msg_int(row, F_CREATED_MS));
    i18n_arg_t args[] = {I18N_I(job_id),
                         I18N_H(status),
                         I18N_H(fsm_template_text(ctx, msg_str(row, F_PARAMS))),
                         I18N_S(model ? fsm_model_title(model, s->lang) : msg_str(row, F_MODEL)),
                         I18N_H(date),
                         I18N_H(product_line)};
    char *text = fsm_fmt(ctx, I18N_T_JOB, args, 6);
    free(status);
    free(product_line);
    free(date);
    i18n_keyboard_t kb;
    fsm_kb_job(&kb, s->lang, fsm_next_screen(ctx), job_id, state == JOB_QUEUED);
    fsm_show(ctx, text, &kb, (fsm_tag_t){0});
    //  A finished result is sent again.
    const char *url = msg_str(row, F_RESULT_URL);
    if (code == FSM_ST_DONE && url && *url)
        fsm_send_video(ctx, job_id, url, state == JOB_SUCCEEDED ? FSM_TAG_DELIVER : FSM_TAG_RESEND);
}

//  🔄 Ещё раз / 🔄 Повторить: the same inputs, straight to the confirm
//  screen with a new order token. The last order's inputs are at hand; an
//  older job's come from its parameters.
void fsm_repeat(fsm_ctx_t *ctx) {
    session_t *s = ctx->s;
    for (size_t i = 0; i < s->last_job_count; i++)
        if (s->last_job_ids[i] == ctx->cb.num && fsm_inputs_ready(&s->last)) {
            session_inputs_copy(&s->draft, &s->last);
            fsm_check_balance(ctx);
            return;
        }
    s_job_get(ctx, FSM_PENDING_REPEAT);
}

void fsm_on_repeat(fsm_ctx_t *ctx) {
    session_t *s = ctx->s;
    const msg_t *row = s_own_row(ctx);
    if (!row) {
        fsm_error(ctx, msg_kind(ctx->reply) == MSG_K_ERROR &&
                               msg_int(ctx->reply, F_CODE) != LEDGER_E_NOT_FOUND
                           ? I18N_T_INTERNAL
                           : I18N_T_JOB_NOT_FOUND);
        return;
    }
    session_inputs_t inputs = {0};
    snprintf(inputs.model, sizeof inputs.model, "%s", msg_str(row, F_MODEL));
    inputs.count = 1;
    if (session_params_parse(msg_str(row, F_PARAMS), &inputs) || !fsm_inputs_ready(&inputs)) {
        session_inputs_clear(&inputs);
        fsm_error(ctx, I18N_T_JOB_NOT_FOUND);
        return;
    }
    session_inputs_copy(&s->draft, &inputs);
    session_inputs_clear(&inputs);
    fsm_check_balance(ctx);
}

void fsm_job_cancel(fsm_ctx_t *ctx) {
    msg_t *req = msg_new(MSG_K_JOB_CANCEL, 0);
    msg_set_int(req, F_JOB_ID, ctx->cb.num);
    msg_set_int(req, F_USER_ID, ctx->s->user_id);
    fsm_ledger(ctx, req, FSM_PENDING_CANCEL, ctx->cb.num);
}

void fsm_on_cancelled(fsm_ctx_t *ctx) {
    session_t *s = ctx->s;
    int64_t job_id = s->pending_arg;
    i18n_keyboard_t kb;
    fsm_kb_accepted(&kb, s->lang);
    if (msg_kind(ctx->reply) == MSG_K_ERROR) {
        int64_t code = msg_int(ctx->reply, F_CODE);
        i18n_arg_t args[] = {I18N_I(job_id)};
        i18n_id_t id = code == LEDGER_E_BAD_STATE   ? I18N_T_JOB_CANT_CANCEL
                       : code == LEDGER_E_NOT_FOUND ? I18N_T_JOB_NOT_FOUND
                                                    : I18N_T_INTERNAL;
        fsm_send(ctx, fsm_fmt(ctx, id, args, 1), &kb, FSM_PRIO_INTERACTIVE, (fsm_tag_t){0});
        return;
    }
    char *refund = fsm_refund_line(ctx, s->viewed_job_id == job_id ? s->viewed_job_price : 0);
    i18n_arg_t args[] = {I18N_I(job_id), I18N_H(refund)};
    fsm_show(ctx, fsm_fmt(ctx, I18N_T_JOB_CANCELLED, args, 2), &kb, (fsm_tag_t){0});
    free(refund);
    session_job_t *job = session_job_find(s, job_id);
    if (job) {
        job->flags |= SESSION_JOB_CANCELLED | SESSION_JOB_FINAL;
        fsm_status(ctx, job, FSM_ST_CANCELLED, -1, 0, 0, false);
    }
}

void fsm_account(fsm_ctx_t *ctx) {
    msg_t *req = msg_new(MSG_K_BALANCE_GET, 0);
    msg_set_int(req, F_USER_ID, ctx->s->user_id);
    fsm_ledger(ctx, req, FSM_PENDING_ACCOUNT, 0);
}

void fsm_on_account(fsm_ctx_t *ctx) {
    i18n_arg_t args[] = {I18N_N(msg_int(ctx->reply, F_BALANCE), N_CREDIT),
                         I18N_N(msg_int(ctx->reply, F_HELD), N_CREDIT)};
    i18n_keyboard_t kb;
    fsm_kb_account(&kb, ctx->s->lang, fsm_next_screen(ctx));
    fsm_show(ctx, fsm_fmt(ctx, I18N_T_ACCOUNT, args, 2), &kb, (fsm_tag_t){0});
}

void fsm_entries(fsm_ctx_t *ctx) {
    msg_t *req = msg_new(MSG_K_ENTRIES_LIST, 0);
    msg_set_int(req, F_USER_ID, ctx->s->user_id);
    msg_set_int(req, F_LIMIT, FSM_ENTRIES_LIMIT);
    fsm_ledger(ctx, req, FSM_PENDING_ENTRIES, 0);
}

static char *s_entry_reason(fsm_ctx_t *ctx, const msg_t *row) {
    static const struct {
        const char *kind;
        i18n_id_t text;
    } kinds[] = {{"grant", I18N_S_EK_GRANT},
                 {"topup", I18N_S_EK_TOPUP},
                 {"hold", I18N_S_EK_HOLD},
                 {"capture", I18N_S_EK_CAPTURE},
                 {"release", I18N_S_EK_RELEASE},
                 {"adjust", I18N_S_EK_ADJUST},
                 {"refund_payment", I18N_S_EK_REFUND}};
    i18n_id_t text = I18N_S_EK_OTHER;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(msg_str(row, F_ENTRY_KIND), kinds[i].kind) == 0) text = kinds[i].text;
    i18n_arg_t args[] = {text == I18N_S_EK_ADJUST ? I18N_S(msg_str(row, F_REASON))
                                                  : I18N_I(msg_int(row, F_JOB_ID))};
    return fsm_fmt(ctx, text, args, 1);
}

void fsm_on_entries(fsm_ctx_t *ctx) {
    size_t n = msg_len(ctx->reply, F_ENTRIES);
    char *lines = strdup("");
    for (size_t i = 0; lines && i < n && i < FSM_ENTRIES_LIMIT; i++) {
        const msg_t *row = msg_row(ctx->reply, F_ENTRIES, i);
        //  what the user's balance did; a capture moves held credits only
        int64_t delta =
            msg_int(row, F_D_BALANCE) ? msg_int(row, F_D_BALANCE) : msg_int(row, F_D_HELD);
        char amount[32];
        snprintf(amount, sizeof amount, "%s%lld", delta < 0 ? "−" : "+",
                 (long long)(delta < 0 ? -delta : delta));
        char *reason = s_entry_reason(ctx, row);
        char *date = fsm_date(ctx, msg_int(row, F_CREATED_MS));
        i18n_arg_t args[] = {I18N_H(amount), I18N_H(reason), I18N_H(date)};
        lines = fsm_join(lines, fsm_fmt(ctx, I18N_T_ENTRY_LINE, args, 3));
        free(reason);
        free(date);
    }
    if (!lines) abort();
    i18n_arg_t args[] = {I18N_H(lines)};
    char *text = fsm_fmt(ctx, n ? I18N_T_ENTRIES : I18N_T_ENTRIES_EMPTY, args, 1);
    free(lines);
    i18n_keyboard_t kb;
    fsm_kb_entries(&kb, ctx->s->lang, fsm_next_screen(ctx));
    fsm_show(ctx, text, &kb, (fsm_tag_t){0});
}
