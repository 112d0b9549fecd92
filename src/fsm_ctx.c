/*  fsm_ctx.c — how the conversation core appends actions: the one answer
    of a callback, messages, edits, screens, videos and ledger requests,
    and the small texts several screens share.
*/
#include "fsm_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

bool fsm_is_callback(const fsm_ctx_t *ctx) {
    return ctx->u && ctx->u->kind == FSM_U_CALLBACK;
}

char *fsm_fmt(fsm_ctx_t *ctx, i18n_id_t id, const i18n_arg_t *args, size_t n) {
    return i18n_format(ctx->s->lang, id, args, n);
}

//  first + "\n\n" + second, both freed; a NULL side is skipped.
char *fsm_join(char *first, char *second) {
    if (!first) return second;
    if (!second) return first;
    size_t a = strlen(first), b = strlen(second);
    bool gap = a > 0 && first[a - 1] != '\n';
    char *out = malloc(a + b + 3);
    if (!out) abort();
    memcpy(out, first, a);
    size_t at = a;
    if (gap) {
        memcpy(out + at, "\n\n", 2);
        at += 2;
    }
    memcpy(out + at, second, b + 1);
    free(first);
    free(second);
    return out;
}

//  The one answer of a callback, moved to the front of the step's actions.
void fsm_answer(fsm_ctx_t *ctx, i18n_id_t text) {
    if (!fsm_is_callback(ctx) || ctx->answered) return;
    ctx->answered = true;
    fsm_action_t *answer = fsm_actions_push(ctx->out, FSM_A_ANSWER);
    answer->callback_id = strdup(ctx->u->callback_id ? ctx->u->callback_id : "");
    if (text != FSM_NO_TEXT) answer->text = strdup(i18n_text(ctx->s->lang, text));
    if (!answer->callback_id || (text != FSM_NO_TEXT && !answer->text)) abort();
    fsm_actions_move(ctx->out, fsm_actions_size(ctx->out) - 1, ctx->first);
}

static i18n_keyboard_t *s_kb_copy(const i18n_keyboard_t *kb) {
    if (!kb || kb->count == 0) return NULL;
    i18n_keyboard_t *copy = malloc(sizeof *copy);
    if (!copy) abort();
    *copy = *kb;
    return copy;
}

void fsm_send(fsm_ctx_t *ctx, char *text, const i18n_keyboard_t *kb, fsm_priority_t priority,
              fsm_tag_t tag) {
    fsm_action_t *send = fsm_actions_push(ctx->out, FSM_A_SEND);
    send->chat_id = ctx->s->chat_id;
    send->text = text;
    send->keyboard = s_kb_copy(kb);
    send->priority = priority;
    send->tag = tag;
}

void fsm_edit(fsm_ctx_t *ctx, int64_t message_id, char *text, const i18n_keyboard_t *kb,
              fsm_priority_t priority) {
    fsm_action_t *edit = fsm_actions_push(ctx->out, FSM_A_EDIT);
    edit->chat_id = ctx->s->chat_id;
    edit->message_id = message_id;
    edit->text = text;
    edit->keyboard = s_kb_copy(kb);
    edit->priority = priority;
}

//  A screen: replaces the message whose button was pressed, or is sent.
void fsm_show(fsm_ctx_t *ctx, char *text, const i18n_keyboard_t *kb, fsm_tag_t tag) {
    if (ctx->edit_id > 0)
        fsm_edit(ctx, ctx->edit_id, text, kb, FSM_PRIO_INTERACTIVE);
    else
        fsm_send(ctx, text, kb, FSM_PRIO_INTERACTIVE, tag);
}

//  The seq of a new screen: every older screen's step buttons are stale.
//  Never 0 (0 marks buttons that are not on a screen).
uint32_t fsm_next_screen(fsm_ctx_t *ctx) {
    if (++ctx->s->screen_seq == 0) ctx->s->screen_seq = 1;
    return ctx->s->screen_seq;
}

//  A message that is not a screen, with a way back to the menu.
void fsm_notice(fsm_ctx_t *ctx, char *text) {
    i18n_keyboard_t kb;
    fsm_kb_to_menu(&kb, ctx->s->lang, 0);
    fsm_send(ctx, text, &kb, FSM_PRIO_INTERACTIVE, (fsm_tag_t){0});
}

void fsm_error(fsm_ctx_t *ctx, i18n_id_t id) {
    fsm_notice(ctx, fsm_fmt(ctx, id, NULL, 0));
}

void fsm_send_video(fsm_ctx_t *ctx, int64_t job_id, const char *url, fsm_tag_kind_t tag) {
    i18n_arg_t args[] = {I18N_I(job_id), I18N_S(url)};
    fsm_action_t *video = fsm_actions_push(ctx->out, FSM_A_SEND_VIDEO);
    video->chat_id = ctx->s->chat_id;
    video->url = strdup(url);
    video->text = fsm_fmt(ctx, I18N_T_RESULT, args, 1);
    video->fallback = fsm_fmt(ctx, I18N_T_RESULT_LINK, args, 2);
    video->keyboard = malloc(sizeof *video->keyboard);
    if (!video->url || !video->keyboard) abort();
    fsm_kb_result(video->keyboard, ctx->s->lang, job_id);
    video->priority = FSM_PRIO_INTERACTIVE;
    video->tag = (fsm_tag_t){tag, job_id};
}

void fsm_ledger(fsm_ctx_t *ctx, msg_t *req, fsm_pending_t purpose, int64_t arg) {
    session_t *s = ctx->s;
    if (++s->ticket_counter == 0) s->ticket_counter = 1;
    s->pending = purpose;
    s->pending_ticket = s->ticket_counter;
    s->pending_arg = arg;
    s->pending_message_id = ctx->edit_id;
    fsm_action_t *action = fsm_actions_push(ctx->out, FSM_A_LEDGER);
    action->request = req;
    action->ticket = s->pending_ticket;
    action->wants_reply = true;
    ctx->changed = true;
}

void fsm_ledger_oneway(fsm_ctx_t *ctx, msg_t *req) {
    fsm_action_t *action = fsm_actions_push(ctx->out, FSM_A_LEDGER);
    action->request = req;
}

//  User text echoed on a screen: escaped by i18n, cut to FSM_ECHO_CHARS.
char *fsm_echo(const char *text) {
    size_t len = text ? strlen(text) : 0;
    size_t keep = i18n_utf8_prefix(text ? text : "", len, FSM_ECHO_CHARS);
    char *out = malloc(keep + 4);
    if (!out) abort();
    memcpy(out, text ? text : "", keep);
    strcpy(out + keep, keep < len ? "…" : "");
    return out;
}

char *fsm_refund_line(fsm_ctx_t *ctx, int64_t credits) {
    if (credits <= 0) return NULL;
    i18n_arg_t args[] = {I18N_N(credits, N_CREDIT)};
    return fsm_fmt(ctx, I18N_T_REFUNDED, args, 1);
}

char *fsm_date(fsm_ctx_t *ctx, int64_t ms) {
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    if (ms <= 0 || !gmtime_r(&secs, &tm)) return strdup("—");
    char day[4], month[4], year[8], time_of_day[8];
    snprintf(day, sizeof day, "%02d", tm.tm_mday % 100);
    snprintf(month, sizeof month, "%02d", (tm.tm_mon + 1) % 100);
    snprintf(year, sizeof year, "%04d", (tm.tm_year + 1900) % 10000);
    snprintf(time_of_day, sizeof time_of_day, "%02d:%02d", tm.tm_hour % 100, tm.tm_min % 100);
    i18n_arg_t args[] = {I18N_H(day), I18N_H(month), I18N_H(year), I18N_H(time_of_day)};
    return fsm_fmt(ctx, I18N_S_DATE, args, 4);
}

const char *fsm_template_text(fsm_ctx_t *ctx, const char *params) {
    session_inputs_t inputs = {0};
    i18n_id_t id = I18N_S_TPL_UGC;
    bool ok = session_params_parse(params, &inputs) == 0;
    if (ok)
        id = inputs.tpl == SESSION_TPL_AD    ? I18N_S_TPL_AD
             : inputs.tpl == SESSION_TPL_OWN ? I18N_S_TPL_OWN
                                             : I18N_S_TPL_UGC;
    session_inputs_clear(&inputs);
    return ok ? i18n_text(ctx->s->lang, id) : "—";
}
