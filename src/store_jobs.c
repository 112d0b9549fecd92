/*  store_jobs.c — the ledger requests of jobs and of the API keys that
    run them (see store_ops.c for the table and the rules every handler
    keeps): claims, the steps of a job's life, its capture or release,
    expiry, the key health records, and the job lists.
*/
#include "store_internal.h"

#include <stdio.h>
#include <string.h>

#include "job.h"

typedef struct {
    bool found;
    int64_t job_id, user_id, price;
    job_state_t state;
    char task_id[257];
    char key_id[MSG_MAX_TOKEN + 1];
} s_job_t;

static int s_job_load(store_t *store, int64_t job_id, s_job_t *job);
static void s_job_row(msg_t *row, sqlite3_stmt *stmt);

//  --- jobs ------------------------------------------------------------------

msg_t *store_op_jobs_claim(store_ctx_t *ctx) {
    int64_t max_n = msg_int(ctx->req, F_MAX_N);
    if (max_n < 1 || max_n > STORE_CLAIM_MAX)
        return store_error(ctx, LEDGER_E_BAD_REQUEST, "max_n must be 1..%d", STORE_CLAIM_MAX);
    if (!*msg_str(ctx->req, F_KEY_ID))
        return store_error(ctx, LEDGER_E_BAD_REQUEST, "key_id must not be empty");
    sqlite3_stmt *stmt = store_stmt(ctx->store, S_JOBS_CLAIM);
    sqlite3_bind_text(stmt, 1, msg_str(ctx->req, F_KEY_ID), -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, ctx->now);
    sqlite3_bind_int64(stmt, 3, max_n);
    msg_t *reply = msg_new(MSG_K_JOB_LIST, msg_corr(ctx->req));
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
        s_job_row(msg_add_row(reply, F_JOBS), stmt);
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE) {
        msg_destroy(&reply);
        return store_sql_error(ctx, "jobs_claim");
    }
    return reply;
}

//  Loads the job named by the request or produces the not-found reply.
static msg_t *s_job_for(store_ctx_t *ctx, s_job_t *job) {
    int64_t job_id = msg_int(ctx->req, F_JOB_ID);
    int rc = s_job_load(ctx->store, job_id, job);
    if (rc < 0) return store_sql_error(ctx, "job_get");
    if (!job->found)
        return store_error(ctx, LEDGER_E_NOT_FOUND, "job %lld not found", (long long)job_id);
    return NULL;
}

static msg_t *s_bad_state(store_ctx_t *ctx, const s_job_t *job) {
    return store_error(ctx, LEDGER_E_BAD_STATE, "job %lld is %s, can't %s", (long long)job->job_id,
                       job_state_name(job->state), msg_kind_name(msg_kind(ctx->req)));
}

msg_t *store_op_job_submitted(store_ctx_t *ctx) {
    s_job_t job;
    msg_t *reply = s_job_for(ctx, &job);
    if (reply) return reply;
    const char *task_id = msg_str(ctx->req, F_TASK_ID);
    if (!*task_id) return store_error(ctx, LEDGER_E_BAD_REQUEST, "task_id must not be empty");
    if (msg_has(ctx->req, F_KEY_ID) && strcmp(msg_str(ctx->req, F_KEY_ID), job.key_id) != 0)
        return store_error(ctx, LEDGER_E_BAD_STATE, "job %lld is claimed by another key",
                           (long long)job.job_id);
    if (job.state == JOB_SUBMITTED && strcmp(job.task_id, task_id) == 0) return store_ok(ctx, true);
    if (job.state != JOB_RUNNING) return s_bad_state(ctx, &job);
    sqlite3_stmt *stmt = store_stmt(ctx->store, S_JOB_SUBMIT);
    sqlite3_bind_int64(stmt, 1, job.job_id);
    sqlite3_bind_text(stmt, 2, task_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 3, ctx->now);
    return store_step(ctx->store, S_JOB_SUBMIT, stmt) ? store_sql_error(ctx, "job_submitted")
                                                      : store_ok(ctx, false);
}

msg_t *store_op_job_progress(store_ctx_t *ctx) {
    s_job_t job;
    msg_t *reply = s_job_for(ctx, &job);
    if (reply) return reply;
    int64_t progress = msg_int(ctx->req, F_PROGRESS);
    if (progress < 0 || progress > 100)
        return store_error(ctx, LEDGER_E_BAD_REQUEST, "progress must be 0..100");
    if (job.state != JOB_RUNNING && job.state != JOB_SUBMITTED) return s_bad_state(ctx, &job);
    sqlite3_stmt *stmt = store_stmt(ctx->store, S_JOB_PROGRESS);
    sqlite3_bind_int64(stmt, 1, job.job_id);
    sqlite3_bind_int64(stmt, 2, progress);
    sqlite3_bind_int64(stmt, 3, ctx->now);
    return store_step(ctx->store, S_JOB_PROGRESS, stmt) ? store_sql_error(ctx, "job_progress")
                                                        : store_ok(ctx, false);
}

//  The Telegram message that shows the job's status, for later edits.
msg_t *store_op_job_status_msg(store_ctx_t *ctx) {
    sqlite3_stmt *stmt = store_stmt(ctx->store, S_JOB_STATUS_MSG);
    sqlite3_bind_int64(stmt, 1, msg_int(ctx->req, F_JOB_ID));
    sqlite3_bind_int64(stmt, 2, msg_int(ctx->req, F_MESSAGE_ID));
    if (store_step(ctx->store, S_JOB_STATUS_MSG, stmt))
        return store_sql_error(ctx, "job_status_msg");
    if (sqlite3_changes(ctx->store->db) == 0)
        return store_error(ctx, LEDGER_E_NOT_FOUND, "job %lld not found",
                           (long long)msg_int(ctx->req, F_JOB_ID));
    return store_ok(ctx, false);
}

//  Back to the queue at at_ms, hold kept. ATTEMPTS (0 or 1) says whether
//  this attempt counts toward GENBOT_MAX_ATTEMPTS (a cooled-down key's
//  requeue does not).
msg_t *store_op_job_retry(store_ctx_t *ctx) {
    s_job_t job;
    msg_t *reply = s_job_for(ctx, &job);
    if (reply) return reply;
    int64_t counted = msg_has(ctx->req, F_ATTEMPTS) ? msg_int(ctx->req, F_ATTEMPTS) : 1;
    if (counted < 0 || counted > 1)
        return store_error(ctx, LEDGER_E_BAD_REQUEST, "attempts must be 0 or 1");
    if (job.state != JOB_RUNNING && job.state != JOB_SUBMITTED) return s_bad_state(ctx, &job);
    sqlite3_stmt *stmt = store_stmt(ctx->store, S_JOB_REQUEUE);
    sqlite3_bind_int64(stmt, 1, job.job_id);
    sqlite3_bind_int64(stmt, 2, msg_int(ctx->req, F_AT_MS));
    sqlite3_bind_int64(stmt, 3, counted);
    store_bind_opt_str(stmt, 4, ctx->req, F_ERR_CLASS);
    store_bind_opt_str(stmt, 5, ctx->req, F_ERR_DETAIL);
    sqlite3_bind_int64(stmt, 6, ctx->now);
    return store_step(ctx->store, S_JOB_REQUEUE, stmt) ? store_sql_error(ctx, "job_retry")
                                                       : store_ok(ctx, false);
}

//  Capture: the held price is spent. Exactly once per job.
msg_t *store_op_job_succeeded(store_ctx_t *ctx) {
    s_job_t job;
    msg_t *reply = s_job_for(ctx, &job);
    if (reply) return reply;
    if (job.state == JOB_SUCCEEDED || job.state == JOB_DELIVERED) return store_ok(ctx, true);
    if (job.state != JOB_RUNNING && job.state != JOB_SUBMITTED) return s_bad_state(ctx, &job);
    sqlite3_stmt *stmt = store_stmt(ctx->store, S_JOB_SUCCEED);
    sqlite3_bind_int64(stmt, 1, job.job_id);
    store_bind_opt_str(stmt, 2, ctx->req, F_RESULT_URL);
    sqlite3_bind_int64(stmt, 3, ctx->now);
    if (store_step(ctx->store, S_JOB_SUCCEED, stmt)) return store_sql_error(ctx, "job_succeeded");
    char ref[64];
    snprintf(ref, sizeof ref, "capture:%lld", (long long)job.job_id);
    if (store_move(ctx, job.user_id, "capture", 0, -job.price, job.job_id, 0, ref, NULL))
        return store_sql_error(ctx, "capture");
    return store_ok(ctx, false);
}

//  Release: the held price goes back to the balance. Exactly once per job.
static msg_t *s_job_release(store_ctx_t *ctx, s_job_t *job, job_state_t to) {
    sqlite3_stmt *stmt = store_stmt(ctx->store, S_JOB_END);
    sqlite3_bind_int64(stmt, 1, job->job_id);
    sqlite3_bind_text(stmt, 2, job_state_name(to), -1, SQLITE_STATIC);
    store_bind_opt_str(stmt, 3, ctx->req, F_ERR_CLASS);
    store_bind_opt_str(stmt, 4, ctx->req, F_ERR_DETAIL);
    sqlite3_bind_int64(stmt, 5, ctx->now);
    if (store_step(ctx->store, S_JOB_END, stmt)) return store_sql_error(ctx, "job_end");
    char ref[64];
    snprintf(ref, sizeof ref, "release:%lld", (long long)job->job_id);
    if (store_move(ctx, job->user_id, "release", job->price, -job->price, job->job_id, 0, ref,
                   msg_has(ctx->req, F_ERR_CLASS) ? msg_str(ctx->req, F_ERR_CLASS) : NULL))
        return store_sql_error(ctx, "release");
    return store_ok(ctx, false);
}

msg_t *store_op_job_failed(store_ctx_t *ctx) {
    s_job_t job;
    msg_t *reply = s_job_for(ctx, &job);
    if (reply) return reply;
    if (job.state == JOB_FAILED) return store_ok(ctx, true);
    if (!job_state_holds(job.state)) return s_bad_state(ctx, &job);
    return s_job_release(ctx, &job, JOB_FAILED);
}

//  Only a queued job can be cancelled: once a worker has it, KIE may already
//  be generating, and refunding then would pay for work we can't stop.
msg_t *store_op_job_cancel(store_ctx_t *ctx) {
    s_job_t job;
    msg_t *reply = s_job_for(ctx, &job);
    if (reply) return reply;
    if (job.user_id != msg_int(ctx->req, F_USER_ID))
        return store_error(ctx, LEDGER_E_NOT_FOUND, "job %lld not found", (long long)job.job_id);
    if (job.state == JOB_CANCELLED) return store_ok(ctx, true);
    if (job.state != JOB_QUEUED) return s_bad_state(ctx, &job);
    return s_job_release(ctx, &job, JOB_CANCELLED);
}

msg_t *store_op_job_delivered(store_ctx_t *ctx) {
    s_job_t job;
    msg_t *reply = s_job_for(ctx, &job);
    if (reply) return reply;
    if (job.state == JOB_DELIVERED) return store_ok(ctx, true);
    if (job.state != JOB_SUCCEEDED) return s_bad_state(ctx, &job);
    sqlite3_stmt *stmt = store_stmt(ctx->store, S_JOB_END);
    sqlite3_bind_int64(stmt, 1, job.job_id);
    sqlite3_bind_text(stmt, 2, "delivered", -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 5, ctx->now);
    return store_step(ctx->store, S_JOB_END, stmt) ? store_sql_error(ctx, "job_delivered")
                                                   : store_ok(ctx, false);
}

//  The user has been told their job failed (and got the credits back):
//  until then a restart tells them again.
msg_t *store_op_job_told(store_ctx_t *ctx) {
    s_job_t job;
    msg_t *reply = s_job_for(ctx, &job);
    if (reply) return reply;
    if (job.state != JOB_FAILED) return s_bad_state(ctx, &job);
    sqlite3_stmt *stmt = store_stmt(ctx->store, S_JOB_TOLD);
    sqlite3_bind_int64(stmt, 1, job.job_id);
    return store_step(ctx->store, S_JOB_TOLD, stmt) ? store_sql_error(ctx, "job_told")
                                                    : store_ok(ctx, false);
}

static msg_t *s_job_list_reply(store_ctx_t *ctx, sqlite3_stmt *stmt, const char *what);

//  Jobs by state (job.h order), for the stats feed. The terminal states
//  grow forever and are not counted every second: -1.
msg_t *store_op_jobs_count(store_ctx_t *ctx) {
    int64_t counts[JOB_STATE_COUNT_ - 1];
    for (int i = 1; i < JOB_STATE_COUNT_; i++)
        counts[i - 1] = job_state_terminal((job_state_t)i) ? -1 : 0;
    sqlite3_stmt *stmt = store_stmt(ctx->store, S_JOBS_COUNT);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        job_state_t state = job_state_parse((const char *)sqlite3_column_text(stmt, 0));
        if (state != JOB_UNKNOWN) counts[state - 1] = sqlite3_column_int64(stmt, 1);
    }
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE) return store_sql_error(ctx, "jobs_count");
    msg_t *reply = msg_new(MSG_K_JOB_COUNTS, msg_corr(ctx->req));
    msg_set_ints(reply, F_COUNTS, counts, JOB_STATE_COUNT_ - 1);
    return reply;
}

//  Failed jobs whose users were not told yet, oldest first.
msg_t *store_op_jobs_untold(store_ctx_t *ctx) {
    int64_t limit = msg_has(ctx->req, F_LIMIT) ? msg_int(ctx->req, F_LIMIT) : 50;
    if (limit < 1 || limit > MSG_MAX_ROWS)
        return store_error(ctx, LEDGER_E_BAD_REQUEST, "limit must be 1..%d", MSG_MAX_ROWS);
    sqlite3_stmt *stmt = store_stmt(ctx->store, S_JOBS_UNTOLD);
    sqlite3_bind_int64(stmt, 1, limit);
    return s_job_list_reply(ctx, stmt, "jobs_untold");
}

//  Rows until the list is done or the reply nears the frame limit (a read:
//  the caller asks again with a smaller limit if it needs more).
static msg_t *s_job_list_reply(store_ctx_t *ctx, sqlite3_stmt *stmt, const char *what);

//  Jobs waiting in the queue since before at_ms (their last entry into it:
//  the order, or a retry) fail and are released — no usable key took them
//  in GENBOT_QUEUE_MAX_WAIT_S. The reply lists them, for the users'
//  messages.
msg_t *store_op_jobs_expire(store_ctx_t *ctx) {
    int64_t max_n = msg_int(ctx->req, F_MAX_N);
    if (max_n < 1 || max_n > STORE_CLAIM_MAX)
        return store_error(ctx, LEDGER_E_BAD_REQUEST, "max_n must be 1..%d", STORE_CLAIM_MAX);
    int64_t ids[STORE_CLAIM_MAX];
    size_t n = 0;
    sqlite3_stmt *stmt = store_stmt(ctx->store, S_JOBS_EXPIRED);
    sqlite3_bind_int64(stmt, 1, msg_int(ctx->req, F_AT_MS));
    sqlite3_bind_int64(stmt, 2, max_n);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW && n < STORE_CLAIM_MAX)
        ids[n++] = sqlite3_column_int64(stmt, 0);
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return store_sql_error(ctx, "jobs_expired");
    msg_t *reply = msg_new(MSG_K_JOB_LIST, msg_corr(ctx->req));
    for (size_t i = 0; i < n; i++) {
        s_job_t job;
        if (s_job_load(ctx->store, ids[i], &job) < 0) {
            msg_destroy(&reply);
            return store_sql_error(ctx, "job_get");
        }
        msg_t *released = s_job_release(ctx, &job, JOB_FAILED);
        bool failed = msg_kind(released) == MSG_K_ERROR;
        msg_destroy(&released);
        if (failed) {
            msg_destroy(&reply);
            return store_sql_error(ctx, "release");
        }
        stmt = store_stmt(ctx->store, S_JOB_GET);
        sqlite3_bind_int64(stmt, 1, ids[i]);
        if (sqlite3_step(stmt) == SQLITE_ROW) s_job_row(msg_add_row(reply, F_JOBS), stmt);
        sqlite3_reset(stmt);
    }
    return reply;
}

msg_t *store_op_key_health_save(store_ctx_t *ctx) {
    if (!*msg_str(ctx->req, F_KEY_ID))
        return store_error(ctx, LEDGER_E_BAD_REQUEST, "key_id must not be empty");
    sqlite3_stmt *stmt = store_stmt(ctx->store, S_KEY_SAVE);
    sqlite3_bind_text(stmt, 1, msg_str(ctx->req, F_KEY_ID), -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, msg_str(ctx->req, F_STATE), -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 3, msg_int(ctx->req, F_AT_MS));
    sqlite3_bind_int64(stmt, 4, ctx->now);
    return store_step(ctx->store, S_KEY_SAVE, stmt) ? store_sql_error(ctx, "key_health_save")
                                                    : store_ok(ctx, false);
}

msg_t *store_op_key_health_load(store_ctx_t *ctx) {
    sqlite3_stmt *stmt = store_stmt(ctx->store, S_KEY_LOAD);
    sqlite3_bind_text(stmt, 1, msg_str(ctx->req, F_KEY_ID), -1, SQLITE_STATIC);
    int rc = sqlite3_step(stmt);
    msg_t *reply = msg_new(MSG_K_KEY_HEALTH, msg_corr(ctx->req));
    msg_set_bool(reply, F_FOUND, rc == SQLITE_ROW);
    if (rc == SQLITE_ROW) {
        msg_set_str(reply, F_STATE, (const char *)sqlite3_column_text(stmt, 0));
        msg_set_int(reply, F_AT_MS, sqlite3_column_int64(stmt, 1));
    }
    sqlite3_reset(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        msg_destroy(&reply);
        return store_sql_error(ctx, "key_health_load");
    }
    return reply;
}

static msg_t *s_job_list_reply(store_ctx_t *ctx, sqlite3_stmt *stmt, const char *what) {
    msg_t *reply = msg_new(MSG_K_JOB_LIST, msg_corr(ctx->req));
    size_t bytes = 0;
    int rc;
    while (bytes < STORE_LIST_BYTES && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        s_job_row(msg_add_row(reply, F_JOBS), stmt);
        for (int col = 0; col < sqlite3_column_count(stmt); col++)
            bytes += (size_t)sqlite3_column_bytes(stmt, col) + 16;
    }
    if (bytes >= STORE_LIST_BYTES) rc = SQLITE_DONE;
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE) {
        msg_destroy(&reply);
        return store_sql_error(ctx, what);
    }
    return reply;
}

msg_t *store_op_job_get(store_ctx_t *ctx) {
    sqlite3_stmt *stmt = store_stmt(ctx->store, S_JOB_GET);
    sqlite3_bind_int64(stmt, 1, msg_int(ctx->req, F_JOB_ID));
    msg_t *reply = s_job_list_reply(ctx, stmt, "job_get");
    if (msg_kind(reply) == MSG_K_JOB_LIST && msg_len(reply, F_JOBS) == 0) {
        msg_destroy(&reply);
        return store_error(ctx, LEDGER_E_NOT_FOUND, "job %lld not found",
                           (long long)msg_int(ctx->req, F_JOB_ID));
    }
    return reply;
}

//  A user's newest jobs (optionally in one state), or the oldest jobs in a
//  state (optionally of one key): history menus and startup recovery.
msg_t *store_op_jobs_list(store_ctx_t *ctx) {
    const msg_t *req = ctx->req;
    int64_t limit = msg_has(req, F_LIMIT) ? msg_int(req, F_LIMIT) : 10;
    if (limit < 1 || limit > MSG_MAX_ROWS)
        return store_error(ctx, LEDGER_E_BAD_REQUEST, "limit must be 1..%d", MSG_MAX_ROWS);
    if (msg_has(req, F_STATE) && job_state_parse(msg_str(req, F_STATE)) == JOB_UNKNOWN)
        return store_error(ctx, LEDGER_E_BAD_REQUEST, "unknown job state");
    sqlite3_stmt *stmt;
    if (msg_has(req, F_USER_ID)) {
        stmt = store_stmt(ctx->store, S_JOBS_BY_USER);
        sqlite3_bind_int64(stmt, 1, msg_int(req, F_USER_ID));
        store_bind_opt_str(stmt, 2, req, F_STATE);
    } else if (msg_has(req, F_STATE)) {
        stmt = store_stmt(ctx->store, S_JOBS_BY_STATE);
        sqlite3_bind_text(stmt, 1, msg_str(req, F_STATE), -1, SQLITE_STATIC);
        store_bind_opt_str(stmt, 2, req, F_KEY_ID);
    } else
        return store_error(ctx, LEDGER_E_BAD_REQUEST, "jobs_list needs user_id or state");
    sqlite3_bind_int64(stmt, 3, limit);
    return s_job_list_reply(ctx, stmt, "jobs_list");
}

//  --- helpers ---------------------------------------------------------------

static void s_copy_text(char *dst, size_t size, const unsigned char *src) {
    snprintf(dst, size, "%s", src ? (const char *)src : "");
}

static int s_job_load(store_t *store, int64_t job_id, s_job_t *job) {
    memset(job, 0, sizeof *job);
    job->job_id = job_id;
    sqlite3_stmt *stmt = store_stmt(store, S_JOB_STATE);
    sqlite3_bind_int64(stmt, 1, job_id);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        job->found = true;
        job->user_id = sqlite3_column_int64(stmt, 0);
        job->price = sqlite3_column_int64(stmt, 1);
        job->state = job_state_parse((const char *)sqlite3_column_text(stmt, 2));
        s_copy_text(job->key_id, sizeof job->key_id, sqlite3_column_text(stmt, 3));
        s_copy_text(job->task_id, sizeof job->task_id, sqlite3_column_text(stmt, 4));
    }
    sqlite3_reset(stmt);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static void s_row_str(msg_t *row, msg_field_t field, sqlite3_stmt *stmt, int col) {
    if (sqlite3_column_type(stmt, col) != SQLITE_NULL)
        msg_set_strn(row, field, (const char *)sqlite3_column_text(stmt, col),
                     (size_t)sqlite3_column_bytes(stmt, col));
}

//  Columns in STORE_JOB_COLS order.
static void s_job_row(msg_t *row, sqlite3_stmt *stmt) {
    if (!row) return; //  list full: the caller asked for more rows than a message holds
    msg_set_int(row, F_JOB_ID, sqlite3_column_int64(stmt, 0));
    msg_set_int(row, F_USER_ID, sqlite3_column_int64(stmt, 1));
    msg_set_int(row, F_CHAT_ID, sqlite3_column_int64(stmt, 2));
    s_row_str(row, F_ORDER_TOKEN, stmt, 3);
    msg_set_int(row, F_IDX, sqlite3_column_int64(stmt, 4));
    s_row_str(row, F_MODEL, stmt, 5);
    s_row_str(row, F_PARAMS, stmt, 6);
    msg_set_int(row, F_PRICE, sqlite3_column_int64(stmt, 7));
    s_row_str(row, F_STATE, stmt, 8);
    msg_set_int(row, F_ATTEMPTS, sqlite3_column_int64(stmt, 9));
    msg_set_int(row, F_AT_MS, sqlite3_column_int64(stmt, 10));
    s_row_str(row, F_KEY_ID, stmt, 11);
    s_row_str(row, F_TASK_ID, stmt, 12);
    if (sqlite3_column_type(stmt, 13) != SQLITE_NULL)
        msg_set_int(row, F_PROGRESS, sqlite3_column_int64(stmt, 13));
    s_row_str(row, F_RESULT_URL, stmt, 14);
    s_row_str(row, F_ERR_CLASS, stmt, 15);
    s_row_str(row, F_ERR_DETAIL, stmt, 16);
    msg_set_int(row, F_CREATED_MS, sqlite3_column_int64(stmt, 17));
    msg_set_int(row, F_UPDATED_MS, sqlite3_column_int64(stmt, 18));
    if (sqlite3_column_type(stmt, 19) != SQLITE_NULL)
        msg_set_int(row, F_MESSAGE_ID, sqlite3_column_int64(stmt, 19));
}
