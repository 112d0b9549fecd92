/*  fsm_jobs.c — what users see of their jobs: one status message per job,
    edited as it moves (progress at most once per progress_edit_ms), the
    result, the failure by cause with the credits back, and what the
    notifier reports of those sends.
*/
#include "fsm_internal.h"

#include <stdlib.h>
#include <string.h>

static void s_job_moving(fsm_ctx_t *ctx, const fsm_job_event_t *ev);
static void s_job_succeeded(fsm_ctx_t *ctx, const fsm_job_event_t *ev);
static void s_job_failed(fsm_ctx_t *ctx, const fsm_job_event_t *ev);
static void s_job_cancelled(fsm_ctx_t *ctx, const fsm_job_event_t *ev);
static void s_job_delivered(fsm_ctx_t *ctx, const fsm_job_event_t *ev);

static const struct s_job_row {
    job_state_t state;
    void (*handler)(fsm_ctx_t *ctx, const fsm_job_event_t *ev);
} s_job_states[] = {
    {JOB_QUEUED, s_job_moving},       //  ⏳ in queue (or a retry: attempt k of N)
    {JOB_RUNNING, s_job_moving},      //  🔄 generating
    {JOB_SUBMITTED, s_job_moving},    //  🔄 generating, with % when known
    {JOB_SUCCEEDED, s_job_succeeded}, //  the video, 🔄 Ещё раз · 🏠 Меню
    {JOB_FAILED, s_job_failed},       //  why, and the credits back
    {JOB_CANCELLED, s_job_cancelled}, //  🚫, and the credits back
    {JOB_DELIVERED, s_job_delivered}, //  nothing more to follow
};
//  Failure texts by error class (DESIGN.md): anything not listed reads as a
//  generic failure — never an operator hint.
static const struct s_failure {
    const char *err_class;
    i18n_id_t text;
    bool repeat; //  offer 🔄 Повторить (not when the inputs were the problem)
} s_failures[] = {
    {"content_violation", I18N_T_FAIL_CONTENT, false},
    {"rate_limited", I18N_T_FAIL_BUSY, true},
    {"temporary", I18N_T_FAIL_TEMPORARY, true},
    {"timeout", I18N_T_FAIL_TIMEOUT, true},
};
void fsm_on_job_event(fsm_ctx_t *ctx, const fsm_job_event_t *ev) {
    if (ev->job_id <= 0) return;
    for (size_t i = 0; i < sizeof s_job_states / sizeof s_job_states[0]; i++)
        if (s_job_states[i].state == ev->state) {
            s_job_states[i].handler(ctx, ev);
            return;
        }
}

static session_job_t *s_job_for(fsm_ctx_t *ctx, const fsm_job_event_t *ev) {
    if (!session_job_find(ctx->s, ev->job_id)) ctx->changed = true;
    session_job_t *job = session_job_track(ctx->s, ev->job_id);
    if (!job->message_id && ev->status_message_id > 0) {
        job->message_id = ev->status_message_id;
        ctx->changed = true;
    }
    return job;
}

static void s_job_moving(fsm_ctx_t *ctx, const fsm_job_event_t *ev) {
    session_job_t *job = s_job_for(ctx, ev);
    if (job->flags & SESSION_JOB_FINAL) return; //  an old event after the end
    int max = ev->max_attempts > 0 ? ev->max_attempts : (int)ctx->config->max_attempts;
    if (ev->state == JOB_QUEUED && ev->err_class && *ev->err_class)
        fsm_status(ctx, job,
                   strcmp(ev->err_class, "rate_limited") == 0 ? FSM_ST_RETRY_BUSY
                                                              : FSM_ST_RETRY_TEMP,
                   -1, ev->attempt, max, true);
    else if (ev->state == JOB_QUEUED)
        fsm_status(ctx, job, FSM_ST_QUEUED, -1, 0, 0, true);
    else
        fsm_status(ctx, job, FSM_ST_RUNNING,
                   ev->progress >= 0 && ev->progress <= 100 ? ev->progress : -1, 0, 0, true);
}

static void s_job_succeeded(fsm_ctx_t *ctx, const fsm_job_event_t *ev) {
    session_t *s = ctx->s;
    session_job_t *job = s_job_for(ctx, ev);
    ctx->changed = true;
    job->flags |= SESSION_JOB_FINAL;
    fsm_status(ctx, job, FSM_ST_DONE, -1, 0, 0, false);
    i18n_arg_t args[] = {I18N_I(ev->job_id)};
    if (!ev->result_url || !*ev->result_url) {
        i18n_keyboard_t kb;
        fsm_kb_to_menu(&kb, s->lang, 0);
        fsm_send(ctx, fsm_fmt(ctx, I18N_T_RESULT_MISSING, args, 1), &kb, FSM_PRIO_INTERACTIVE,
                 (fsm_tag_t){0});
        return;
    }
    fsm_send_video(ctx, ev->job_id, ev->result_url, FSM_TAG_DELIVER);
}

static void s_job_failed(fsm_ctx_t *ctx, const fsm_job_event_t *ev) {
    session_job_t *job = s_job_for(ctx, ev);
    if ((job->flags & SESSION_JOB_FINAL) && job->shown == FSM_ST_FAILED && !ev->retell)
        return; //  told already
    ctx->changed = true;
    job->flags |= SESSION_JOB_FINAL;
    fsm_status(ctx, job, FSM_ST_FAILED, -1, 0, 0, false);
    i18n_id_t text = I18N_T_FAIL_GENERIC;
    bool repeat = true;
    for (size_t i = 0; ev->err_class && i < sizeof s_failures / sizeof s_failures[0]; i++)
        if (strcmp(ev->err_class, s_failures[i].err_class) == 0) {
            text = s_failures[i].text;
            repeat = s_failures[i].repeat;
        }
    char *refund = fsm_refund_line(ctx, ev->credits_refunded);
    i18n_arg_t args[] = {I18N_I(ev->job_id), I18N_H(refund)};
    i18n_keyboard_t kb;
    fsm_kb_failure(&kb, ctx->s->lang, ev->job_id, repeat);
    //  tagged: once Telegram has it, the job is marked told; until then a
    //  restart tells it again (the credits came back either way)
    fsm_send(ctx, fsm_fmt(ctx, text, args, 2), &kb, FSM_PRIO_INTERACTIVE,
             (fsm_tag_t){.kind = FSM_TAG_TOLD, .job_id = ev->job_id});
    free(refund);
}

static void s_job_cancelled(fsm_ctx_t *ctx, const fsm_job_event_t *ev) {
    session_job_t *job = s_job_for(ctx, ev);
    bool told = job->flags & SESSION_JOB_CANCELLED;
    if (told && (job->flags & SESSION_JOB_FINAL) && job->shown == FSM_ST_CANCELLED)
        return; //  nothing new
    ctx->changed = true;
    job->flags |= SESSION_JOB_FINAL | SESSION_JOB_CANCELLED;
    fsm_status(ctx, job, FSM_ST_CANCELLED, -1, 0, 0, false);
    if (told) return;
    char *refund = fsm_refund_line(ctx, ev->credits_refunded);
    i18n_arg_t args[] = {I18N_I(ev->job_id), I18N_H(refund)};
    i18n_keyboard_t kb;
    fsm_kb_accepted(&kb, ctx->s->lang);
    fsm_send(ctx, fsm_fmt(ctx, I18N_T_JOB_CANCELLED, args, 2), &kb, FSM_PRIO_INTERACTIVE,
             (fsm_tag_t){0});
    free(refund);
}

static void s_job_delivered(fsm_ctx_t *ctx, const fsm_job_event_t *ev) {
    if (session_job_find(ctx->s, ev->job_id)) {
        session_job_forget(ctx->s, ev->job_id);
        ctx->changed = true;
    }
}

//  Shows code on job's status message: an edit when its id is known, a new
//  message (tagged STATUS) when may_send and none is on its way; progress
//  edits at most once per progress_edit_ms.
void fsm_status(fsm_ctx_t *ctx, session_job_t *job, fsm_status_t code, int progress, int attempt,
                int max, bool may_send) {
    int shown_value = code == FSM_ST_RETRY_BUSY || code == FSM_ST_RETRY_TEMP ? attempt : progress;
    if (shown_value > 100 || shown_value < -1) shown_value = -1;
    if (job->shown == code && job->progress == shown_value) return;
    if (job->shown == code && code == FSM_ST_RUNNING && job->message_id &&
        ctx->now - job->last_edit_ms < ctx->config->progress_edit_ms)
        return;
    char *text = fsm_status_text(ctx, job->job_id, code, progress, attempt, max);
    if (job->message_id)
        fsm_edit(ctx, job->message_id, text, NULL, FSM_PRIO_PROGRESS);
    else if (may_send && !(job->flags & SESSION_JOB_SENDING)) {
        job->flags |= SESSION_JOB_SENDING;
        fsm_send(ctx, text, NULL, FSM_PRIO_PROGRESS, (fsm_tag_t){FSM_TAG_STATUS, job->job_id});
    } else {
        //  Nothing to edit yet: while the status message is on its way the
        //  code is recorded (fsm_on_sent shows a final one), and a final code
        //  is recorded anyway so that a repeated event is not told twice.
        free(text);
        bool final = code == FSM_ST_DONE || code == FSM_ST_FAILED || code == FSM_ST_CANCELLED;
        if (!(job->flags & SESSION_JOB_SENDING) && !final) return;
    }
    job->shown = (uint8_t)code;
    job->progress = (int8_t)shown_value;
    job->last_edit_ms = ctx->now;
    ctx->changed = true;
}

char *fsm_status_text(fsm_ctx_t *ctx, int64_t job_id, fsm_status_t code, int progress, int attempt,
                      int max) {
    static const i18n_id_t fragments[] = {
        [FSM_ST_NONE] = I18N_S_ST_QUEUED,           [FSM_ST_QUEUED] = I18N_S_ST_QUEUED,
        [FSM_ST_RETRY_BUSY] = I18N_S_ST_RETRY_BUSY, [FSM_ST_RETRY_TEMP] = I18N_S_ST_RETRY_TEMP,
        [FSM_ST_RUNNING] = I18N_S_ST_RUNNING,       [FSM_ST_DONE] = I18N_S_ST_DONE,
        [FSM_ST_FAILED] = I18N_S_ST_FAILED,         [FSM_ST_CANCELLED] = I18N_S_ST_CANCELLED};
    i18n_id_t fragment = fragments[code];
    if (code == FSM_ST_RUNNING && progress >= 0) fragment = I18N_S_ST_PROGRESS;
    //  attempt counts the attempts made: the retry coming is the next one
    int next = attempt + 1 < max || max <= 0 ? attempt + 1 : max;
    i18n_arg_t args[] = {code == FSM_ST_RUNNING ? I18N_I(progress) : I18N_I(next), I18N_I(max)};
    char *state = fsm_fmt(ctx, fragment, args, 2);
    if (job_id == 0) return state;
    i18n_arg_t outer[] = {I18N_I(job_id), I18N_H(state)};
    char *text = fsm_fmt(ctx, I18N_T_STATUS, outer, 2);
    free(state);
    return text;
}

void fsm_on_sent(fsm_ctx_t *ctx, const fsm_sent_t *ev) {
    session_t *s = ctx->s;
    session_job_t *job = ev->tag.job_id > 0 ? session_job_find(s, ev->tag.job_id) : NULL;
    switch (ev->tag.kind) {
    case FSM_TAG_CONFIRM:
        if (ev->ok && ev->message_id > 0) {
            s->confirm_message_id = ev->message_id;
            ctx->changed = true;
        }
        break;
    case FSM_TAG_STATUS:
        if (!job) break;
        ctx->changed = true;
        job->flags &= (uint8_t)~SESSION_JOB_SENDING;
        if (!ev->ok || ev->message_id <= 0) {
            job->shown = FSM_ST_NONE; //  the next event sends it again
            job->progress = -1;
            break;
        }
        job->message_id = ev->message_id;
        {
            //  recorded with the job too: a session started afresh, or the
            //  recovery of a finished job, still edits this message
            msg_t *req = msg_new(MSG_K_JOB_STATUS_MSG, 0);
            msg_set_int(req, F_JOB_ID, job->job_id);
            msg_set_int(req, F_MESSAGE_ID, job->message_id);
            fsm_ledger_oneway(ctx, req);
        }
        if (job->flags & SESSION_JOB_FINAL) { //  it ended while the message was on its way
            fsm_status_t final = (fsm_status_t)job->shown;
            job->shown = FSM_ST_NONE;
            fsm_status(ctx, job, final, -1, 0, 0, false);
        }
        break;
    case FSM_TAG_TOLD:
        if (ev->ok && ev->tag.job_id > 0) {
            msg_t *req = msg_new(MSG_K_JOB_TOLD, 0);
            msg_set_int(req, F_JOB_ID, ev->tag.job_id);
            fsm_ledger_oneway(ctx, req);
        }
        break;
    case FSM_TAG_DELIVER:
        if (ev->ok && ev->tag.job_id > 0) {
            msg_t *req = msg_new(MSG_K_JOB_DELIVERED, 0);
            msg_set_int(req, F_JOB_ID, ev->tag.job_id);
            fsm_ledger_oneway(ctx, req);
            session_job_forget(s, ev->tag.job_id);
            ctx->changed = true;
        }
        break;
    default:
        break;
    }
}
