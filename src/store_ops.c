/*  store_ops.c — every ledger request, one handler each, dispatched by the
    table at the bottom. A handler refuses before it writes: every typed
    error is decided on reads alone, so a refused request leaves no trace in
    the batch. store_apply enforces that (see store.h, "poisoned").

    Entry refs (unique, the idempotency keys of balance changes):
      grant:<user>   hold:<job>   capture:<job>   release:<job>
      pay:<provider>:<charge id>  adj:<caller's ref>
*/
#include "store_internal.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "job.h"
#include "ledger.h"

#define S_MAX_PRICE   1000000      //  credits per generation
#define S_MAX_CREDITS 1000000000LL //  per payment or adjustment
#define S_MAX_BALANCE 1000000000000LL
#define S_MINUTE_MS   60000

typedef struct {
    store_t *store;
    const msg_t *req;
    const store_limits_t *limits;
    int64_t now;
} s_ctx_t;

typedef struct {
    bool found;
    int64_t job_id, user_id, price;
    job_state_t state;
    char task_id[257];
    char key_id[MSG_MAX_TOKEN + 1];
} s_job_t;

typedef msg_t *(s_handler_fn)(s_ctx_t *ctx);

static const struct s_op {
    s_handler_fn *fn;
    bool writes;
} * s_op_for(int kind);

static msg_t *s_error(s_ctx_t *ctx, ledger_err_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static msg_t *s_sql_error(s_ctx_t *ctx, const char *what);
static int s_step(store_t *store, store_stmt_id_t id, sqlite3_stmt *stmt);
static int s_user(store_t *store, int64_t user_id, int64_t *balance, int64_t *held);
static int s_move(s_ctx_t *ctx, int64_t user_id, const char *kind, int64_t d_balance,
                  int64_t d_held, int64_t job_id, int64_t payment_id, const char *ref,
                  const char *reason);
static int s_ref_exists(store_t *store, const char *ref);
static int s_job_load(store_t *store, int64_t job_id, s_job_t *job);
static void s_job_row(msg_t *row, sqlite3_stmt *stmt);
static msg_t *s_ok(s_ctx_t *ctx, bool duplicate);
static void s_bind_opt_str(sqlite3_stmt *stmt, int col, const msg_t *req, msg_field_t field);

msg_t *store_apply(store_t *self, const msg_t *req, const store_limits_t *limits, int64_t now_ms) {
    s_ctx_t ctx = {self, req, limits, now_ms};
    const struct s_op *op = s_op_for(msg_kind(req));
    if (!op)
        return s_error(&ctx, LEDGER_E_BAD_REQUEST, "%s is not a ledger request",
                       msg_kind_name(msg_kind(req)));
    int changes = sqlite3_total_changes(self->db);
    msg_t *reply = op->fn(&ctx);
    if (msg_kind(reply) == MSG_K_ERROR &&
        (msg_int(reply, F_CODE) == LEDGER_E_INTERNAL || sqlite3_total_changes(self->db) != changes))
        self->poisoned = true;
    //  the reply is built on the heap; ctx only lends it the request
    // cppcheck-suppress returnDanglingLifetime
    return reply;
}

msg_t *store_apply_alone(store_t *self, const msg_t *req, const store_limits_t *limits,
                         int64_t now_ms) {
    s_ctx_t ctx = {self, req, limits, now_ms};
    if (store_begin(self)) return s_sql_error(&ctx, "begin");
    msg_t *reply = store_apply(self, req, limits, now_ms);
    if (msg_kind(reply) == MSG_K_ERROR)
        store_rollback(self);
    else if (store_commit(self)) {
        msg_destroy(&reply);
        reply = s_sql_error(&ctx, "commit");
        store_rollback(self);
    }
    return reply;
}

//  --- users -----------------------------------------------------------------

static msg_t *s_user_reply(s_ctx_t *ctx, int64_t user_id, bool created) {
    sqlite3_stmt *stmt = store_stmt(ctx->store, S_USER_GET);
    sqlite3_bind_int64(stmt, 1, user_id);
    if (sqlite3_step(stmt) != SQLITE_ROW) {
        sqlite3_reset(stmt);
        return s_error(ctx, LEDGER_E_NOT_FOUND, "user %lld not found", (long long)user_id);
    }
    msg_t *reply = msg_new(MSG_K_USER, msg_corr(ctx->req));
    msg_set_int(reply, F_USER_ID, user_id);
    msg_set_int(reply, F_BALANCE, sqlite3_column_int64(stmt, 0));
    msg_set_int(reply, F_HELD, sqlite3_column_int64(stmt, 1));
    msg_set_bool(reply, F_BLOCKED, sqlite3_column_int(stmt, 2) != 0);
    msg_set_str(reply, F_LANG, (const char *)sqlite3_column_text(stmt, 3));
    msg_set_bool(reply, F_CREATED, created);
    sqlite3_reset(stmt);
    return reply;
}

static msg_t *s_user_touch(s_ctx_t *ctx) {
    const msg_t *req = ctx->req;
    int64_t user_id = msg_int(req, F_USER_ID);
    if (user_id <= 0) return s_error(ctx, LEDGER_E_BAD_REQUEST, "user_id must be positive");
    int64_t balance, held;
    int found = s_user(ctx->store, user_id, &balance, &held);
    if (found < 0) return s_sql_error(ctx, "user_get");
    store_stmt_id_t id = found ? S_USER_PROFILE : S_USER_INSERT;
    sqlite3_stmt *stmt = store_stmt(ctx->store, id);
    sqlite3_bind_int64(stmt, 1, user_id);
    s_bind_opt_str(stmt, 2, req, F_LANG);
    s_bind_opt_str(stmt, 3, req, F_FIRST_NAME);
    s_bind_opt_str(stmt, 4, req, F_USERNAME);
    sqlite3_bind_int64(stmt, 5, ctx->now);
    if (s_step(ctx->store, id, stmt)) return s_sql_error(ctx, "user_touch");
    if (!found && ctx->limits->free_credits > 0) {
        char ref[64];
        snprintf(ref, sizeof ref, "grant:%lld", (long long)user_id);
        if (s_move(ctx, user_id, "grant", ctx->limits->free_credits, 0, 0, 0, ref, "free credits"))
            return s_sql_error(ctx, "grant");
    }
    return s_user_reply(ctx, user_id, !found);
}

static msg_t *s_balance_get(s_ctx_t *ctx) {
    return s_user_reply(ctx, msg_int(ctx->req, F_USER_ID), false);
}

static msg_t *s_user_blocked(s_ctx_t *ctx) {
    int64_t user_id = msg_int(ctx->req, F_USER_ID);
    sqlite3_stmt *stmt = store_stmt(ctx->store, S_USER_BLOCK);
    sqlite3_bind_int64(stmt, 1, user_id);
    sqlite3_bind_int(stmt, 2, msg_bool(ctx->req, F_BLOCKED));
    sqlite3_bind_int64(stmt, 3, ctx->now);
    if (s_step(ctx->store, S_USER_BLOCK, stmt)) return s_sql_error(ctx, "user_blocked");
    if (sqlite3_changes(ctx->store->db) == 0)
        return s_error(ctx, LEDGER_E_NOT_FOUND, "user %lld not found", (long long)user_id);
    return s_ok(ctx, false);
}

//  --- orders ----------------------------------------------------------------

static int s_save_session(s_ctx_t *ctx);

//  An order is all or nothing: count jobs and count holds, or an error and
//  nothing. A repeated order token returns the jobs it created the first time.
static msg_t *s_order_place(s_ctx_t *ctx) {
    const msg_t *req = ctx->req;
    int64_t user_id = msg_int(req, F_USER_ID);
    int64_t price = msg_int(req, F_PRICE);
    int64_t count = msg_int(req, F_COUNT);
    const char *token = msg_str(req, F_ORDER_TOKEN);
    if (count < 1 || count > STORE_ORDER_MAX)
        return s_error(ctx, LEDGER_E_BAD_REQUEST, "count must be 1..%d", STORE_ORDER_MAX);
    if (price < 0 || price > S_MAX_PRICE)
        return s_error(ctx, LEDGER_E_BAD_REQUEST, "price must be 0..%d", S_MAX_PRICE);
    if (!*token || !*msg_str(req, F_MODEL))
        return s_error(ctx, LEDGER_E_BAD_REQUEST, "order_token and model must not be empty");

    int64_t job_ids[STORE_ORDER_MAX];
    size_t n = 0;
    sqlite3_stmt *stmt = store_stmt(ctx->store, S_ORDER_JOBS);
    sqlite3_bind_int64(stmt, 1, user_id);
    sqlite3_bind_text(stmt, 2, token, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW && n < STORE_ORDER_MAX)
        job_ids[n++] = sqlite3_column_int64(stmt, 0);
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return s_sql_error(ctx, "order_jobs");

    //  the user and both limits in one query
    stmt = store_stmt(ctx->store, S_ORDER_CHECK);
    sqlite3_bind_int64(stmt, 1, user_id);
    sqlite3_bind_int64(stmt, 2, ctx->now - S_MINUTE_MS);
    rc = sqlite3_step(stmt);
    int64_t balance = 0, held = 0, active = 0, recent = 0;
    if (rc == SQLITE_ROW) {
        balance = sqlite3_column_int64(stmt, 0);
        held = sqlite3_column_int64(stmt, 1);
        active = sqlite3_column_int64(stmt, 2);
        recent = sqlite3_column_int64(stmt, 3);
    }
    sqlite3_reset(stmt);
    if (rc != SQLITE_ROW)
        return rc == SQLITE_DONE
                   ? s_error(ctx, LEDGER_E_NOT_FOUND, "user %lld not found", (long long)user_id)
                   : s_sql_error(ctx, "order_check");
    bool duplicate = n > 0;
    if (!duplicate) {
        if (active + count > ctx->limits->limit_active)
            return s_error(ctx, LEDGER_E_TOO_MANY_ACTIVE, "%lld active, limit %lld",
                           (long long)active, (long long)ctx->limits->limit_active);
        if (recent >= ctx->limits->limit_per_min)
            return s_error(ctx, LEDGER_E_RATE_LIMITED, "%lld orders in the last minute",
                           (long long)recent);
        int64_t cost = price * count;
        if (balance < cost) {
            msg_t *reply = s_error(ctx, LEDGER_E_INSUFFICIENT_CREDITS, "needs %lld, has %lld",
                                   (long long)cost, (long long)balance);
            msg_set_int(reply, F_SHORTFALL, cost - balance);
            return reply;
        }
        for (int64_t i = 0; i < count; i++) {
            stmt = store_stmt(ctx->store, S_JOB_INSERT);
            sqlite3_bind_int64(stmt, 1, user_id);
            sqlite3_bind_int64(stmt, 2, msg_int(req, F_CHAT_ID));
            sqlite3_bind_text(stmt, 3, token, -1, SQLITE_STATIC);
            sqlite3_bind_int64(stmt, 4, i);
            sqlite3_bind_text(stmt, 5, msg_str(req, F_MODEL), -1, SQLITE_STATIC);
            s_bind_opt_str(stmt, 6, req, F_PARAMS);
            sqlite3_bind_int64(stmt, 7, price);
            sqlite3_bind_int64(stmt, 8, ctx->now);
            if (s_step(ctx->store, S_JOB_INSERT, stmt)) return s_sql_error(ctx, "job_insert");
            job_ids[n] = sqlite3_last_insert_rowid(ctx->store->db);
            char ref[64];
            snprintf(ref, sizeof ref, "hold:%lld", (long long)job_ids[n]);
            if (s_move(ctx, user_id, "hold", -price, price, job_ids[n], 0, ref, NULL))
                return s_sql_error(ctx, "hold");
            n++;
        }
        balance -= cost;
        held += cost;
    }
    if (msg_has(req, F_SESSION) && s_save_session(ctx)) return s_sql_error(ctx, "session_save");
    msg_t *reply = msg_new(MSG_K_ORDER, msg_corr(req));
    msg_set_ints(reply, F_JOB_IDS, job_ids, n);
    msg_set_bool(reply, F_DUPLICATE, duplicate);
    msg_set_int(reply, F_BALANCE, balance);
    msg_set_int(reply, F_HELD, held);
    return reply;
}

//  --- jobs ------------------------------------------------------------------

static msg_t *s_jobs_claim(s_ctx_t *ctx) {
    int64_t max_n = msg_int(ctx->req, F_MAX_N);
    if (max_n < 1 || max_n > STORE_CLAIM_MAX)
        return s_error(ctx, LEDGER_E_BAD_REQUEST, "max_n must be 1..%d", STORE_CLAIM_MAX);
    if (!*msg_str(ctx->req, F_KEY_ID))
        return s_error(ctx, LEDGER_E_BAD_REQUEST, "key_id must not be empty");
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
        return s_sql_error(ctx, "jobs_claim");
    }
    return reply;
}

//  Loads the job named by the request or produces the not-found reply.
static msg_t *s_job_for(s_ctx_t *ctx, s_job_t *job) {
    int64_t job_id = msg_int(ctx->req, F_JOB_ID);
    int rc = s_job_load(ctx->store, job_id, job);
    if (rc < 0) return s_sql_error(ctx, "job_get");
    if (!job->found)
        return s_error(ctx, LEDGER_E_NOT_FOUND, "job %lld not found", (long long)job_id);
    return NULL;
}

static msg_t *s_bad_state(s_ctx_t *ctx, const s_job_t *job) {
    return s_error(ctx, LEDGER_E_BAD_STATE, "job %lld is %s, can't %s", (long long)job->job_id,
                   job_state_name(job->state), msg_kind_name(msg_kind(ctx->req)));
}

static msg_t *s_job_submitted(s_ctx_t *ctx) {
    s_job_t job;
    msg_t *reply = s_job_for(ctx, &job);
    if (reply) return reply;
    const char *task_id = msg_str(ctx->req, F_TASK_ID);
    if (!*task_id) return s_error(ctx, LEDGER_E_BAD_REQUEST, "task_id must not be empty");
    if (msg_has(ctx->req, F_KEY_ID) && strcmp(msg_str(ctx->req, F_KEY_ID), job.key_id) != 0)
        return s_error(ctx, LEDGER_E_BAD_STATE, "job %lld is claimed by another key",
                       (long long)job.job_id);
    if (job.state == JOB_SUBMITTED && strcmp(job.task_id, task_id) == 0) return s_ok(ctx, true);
    if (job.state != JOB_RUNNING) return s_bad_state(ctx, &job);
    sqlite3_stmt *stmt = store_stmt(ctx->store, S_JOB_SUBMIT);
    sqlite3_bind_int64(stmt, 1, job.job_id);
    sqlite3_bind_text(stmt, 2, task_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 3, ctx->now);
    return s_step(ctx->store, S_JOB_SUBMIT, stmt) ? s_sql_error(ctx, "job_submitted")
                                                  : s_ok(ctx, false);
}

static msg_t *s_job_progress(s_ctx_t *ctx) {
    s_job_t job;
    msg_t *reply = s_job_for(ctx, &job);
    if (reply) return reply;
    int64_t progress = msg_int(ctx->req, F_PROGRESS);
    if (progress < 0 || progress > 100)
        return s_error(ctx, LEDGER_E_BAD_REQUEST, "progress must be 0..100");
    if (job.state != JOB_RUNNING && job.state != JOB_SUBMITTED) return s_bad_state(ctx, &job);
    sqlite3_stmt *stmt = store_stmt(ctx->store, S_JOB_PROGRESS);
    sqlite3_bind_int64(stmt, 1, job.job_id);
    sqlite3_bind_int64(stmt, 2, progress);
    sqlite3_bind_int64(stmt, 3, ctx->now);
    return s_step(ctx->store, S_JOB_PROGRESS, stmt) ? s_sql_error(ctx, "job_progress")
                                                    : s_ok(ctx, false);
}

//  The Telegram message that shows the job's status, for later edits.
static msg_t *s_job_status_msg(s_ctx_t *ctx) {
    sqlite3_stmt *stmt = store_stmt(ctx->store, S_JOB_STATUS_MSG);
    sqlite3_bind_int64(stmt, 1, msg_int(ctx->req, F_JOB_ID));
    sqlite3_bind_int64(stmt, 2, msg_int(ctx->req, F_MESSAGE_ID));
    if (s_step(ctx->store, S_JOB_STATUS_MSG, stmt)) return s_sql_error(ctx, "job_status_msg");
    if (sqlite3_changes(ctx->store->db) == 0)
        return s_error(ctx, LEDGER_E_NOT_FOUND, "job %lld not found",
                       (long long)msg_int(ctx->req, F_JOB_ID));
    return s_ok(ctx, false);
}

//  Back to the queue at at_ms, hold kept. ATTEMPTS (0 or 1) says whether
//  this attempt counts toward GENBOT_MAX_ATTEMPTS (a cooled-down key's
//  requeue does not).
static msg_t *s_job_retry(s_ctx_t *ctx) {
    s_job_t job;
    msg_t *reply = s_job_for(ctx, &job);
    if (reply) return reply;
    int64_t counted = msg_has(ctx->req, F_ATTEMPTS) ? msg_int(ctx->req, F_ATTEMPTS) : 1;
    if (counted < 0 || counted > 1)
        return s_error(ctx, LEDGER_E_BAD_REQUEST, "attempts must be 0 or 1");
    if (job.state != JOB_RUNNING && job.state != JOB_SUBMITTED) return s_bad_state(ctx, &job);
    sqlite3_stmt *stmt = store_stmt(ctx->store, S_JOB_REQUEUE);
    sqlite3_bind_int64(stmt, 1, job.job_id);
    sqlite3_bind_int64(stmt, 2, msg_int(ctx->req, F_AT_MS));
    sqlite3_bind_int64(stmt, 3, counted);
    s_bind_opt_str(stmt, 4, ctx->req, F_ERR_CLASS);
    s_bind_opt_str(stmt, 5, ctx->req, F_ERR_DETAIL);
    sqlite3_bind_int64(stmt, 6, ctx->now);
    return s_step(ctx->store, S_JOB_REQUEUE, stmt) ? s_sql_error(ctx, "job_retry")
                                                   : s_ok(ctx, false);
}

//  Capture: the held price is spent. Exactly once per job.
static msg_t *s_job_succeeded(s_ctx_t *ctx) {
    s_job_t job;
    msg_t *reply = s_job_for(ctx, &job);
    if (reply) return reply;
    if (job.state == JOB_SUCCEEDED || job.state == JOB_DELIVERED) return s_ok(ctx, true);
    if (job.state != JOB_RUNNING && job.state != JOB_SUBMITTED) return s_bad_state(ctx, &job);
    sqlite3_stmt *stmt = store_stmt(ctx->store, S_JOB_SUCCEED);
    sqlite3_bind_int64(stmt, 1, job.job_id);
    s_bind_opt_str(stmt, 2, ctx->req, F_RESULT_URL);
    sqlite3_bind_int64(stmt, 3, ctx->now);
    if (s_step(ctx->store, S_JOB_SUCCEED, stmt)) return s_sql_error(ctx, "job_succeeded");
    char ref[64];
    snprintf(ref, sizeof ref, "capture:%lld", (long long)job.job_id);
    if (s_move(ctx, job.user_id, "capture", 0, -job.price, job.job_id, 0, ref, NULL))
        return s_sql_error(ctx, "capture");
    return s_ok(ctx, false);
}

//  Release: the held price goes back to the balance. Exactly once per job.
static msg_t *s_job_release(s_ctx_t *ctx, s_job_t *job, job_state_t to) {
    sqlite3_stmt *stmt = store_stmt(ctx->store, S_JOB_END);
    sqlite3_bind_int64(stmt, 1, job->job_id);
    sqlite3_bind_text(stmt, 2, job_state_name(to), -1, SQLITE_STATIC);
    s_bind_opt_str(stmt, 3, ctx->req, F_ERR_CLASS);
    s_bind_opt_str(stmt, 4, ctx->req, F_ERR_DETAIL);
    sqlite3_bind_int64(stmt, 5, ctx->now);
    if (s_step(ctx->store, S_JOB_END, stmt)) return s_sql_error(ctx, "job_end");
    char ref[64];
    snprintf(ref, sizeof ref, "release:%lld", (long long)job->job_id);
    if (s_move(ctx, job->user_id, "release", job->price, -job->price, job->job_id, 0, ref,
               msg_has(ctx->req, F_ERR_CLASS) ? msg_str(ctx->req, F_ERR_CLASS) : NULL))
        return s_sql_error(ctx, "release");
    return s_ok(ctx, false);
}

static msg_t *s_job_failed(s_ctx_t *ctx) {
    s_job_t job;
    msg_t *reply = s_job_for(ctx, &job);
    if (reply) return reply;
    if (job.state == JOB_FAILED) return s_ok(ctx, true);
    if (!job_state_holds(job.state)) return s_bad_state(ctx, &job);
    return s_job_release(ctx, &job, JOB_FAILED);
}

//  Only a queued job can be cancelled: once a worker has it, KIE may already
//  be generating, and refunding then would pay for work we can't stop.
static msg_t *s_job_cancel(s_ctx_t *ctx) {
    s_job_t job;
    msg_t *reply = s_job_for(ctx, &job);
    if (reply) return reply;
    if (job.user_id != msg_int(ctx->req, F_USER_ID))
        return s_error(ctx, LEDGER_E_NOT_FOUND, "job %lld not found", (long long)job.job_id);
    if (job.state == JOB_CANCELLED) return s_ok(ctx, true);
    if (job.state != JOB_QUEUED) return s_bad_state(ctx, &job);
    return s_job_release(ctx, &job, JOB_CANCELLED);
}

static msg_t *s_job_delivered(s_ctx_t *ctx) {
    s_job_t job;
    msg_t *reply = s_job_for(ctx, &job);
    if (reply) return reply;
    if (job.state == JOB_DELIVERED) return s_ok(ctx, true);
    if (job.state != JOB_SUCCEEDED) return s_bad_state(ctx, &job);
    sqlite3_stmt *stmt = store_stmt(ctx->store, S_JOB_END);
    sqlite3_bind_int64(stmt, 1, job.job_id);
    sqlite3_bind_text(stmt, 2, "delivered", -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 5, ctx->now);
    return s_step(ctx->store, S_JOB_END, stmt) ? s_sql_error(ctx, "job_delivered")
                                               : s_ok(ctx, false);
}

//  Rows until the list is done or the reply nears the frame limit (a read:
//  the caller asks again with a smaller limit if it needs more).
static msg_t *s_job_list_reply(s_ctx_t *ctx, sqlite3_stmt *stmt, const char *what);

//  Jobs waiting in the queue since before at_ms (their last entry into it:
//  the order, or a retry) fail and are released — no usable key took them
//  in GENBOT_QUEUE_MAX_WAIT_S. The reply lists them, for the users'
//  messages.
static msg_t *s_jobs_expire(s_ctx_t *ctx) {
    int64_t max_n = msg_int(ctx->req, F_MAX_N);
    if (max_n < 1 || max_n > STORE_CLAIM_MAX)
        return s_error(ctx, LEDGER_E_BAD_REQUEST, "max_n must be 1..%d", STORE_CLAIM_MAX);
    int64_t ids[STORE_CLAIM_MAX];
    size_t n = 0;
    sqlite3_stmt *stmt = store_stmt(ctx->store, S_JOBS_EXPIRED);
    sqlite3_bind_int64(stmt, 1, msg_int(ctx->req, F_AT_MS));
    sqlite3_bind_int64(stmt, 2, max_n);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW && n < STORE_CLAIM_MAX)
        ids[n++] = sqlite3_column_int64(stmt, 0);
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return s_sql_error(ctx, "jobs_expired");
    msg_t *reply = msg_new(MSG_K_JOB_LIST, msg_corr(ctx->req));
    for (size_t i = 0; i < n; i++) {
        s_job_t job;
        if (s_job_load(ctx->store, ids[i], &job) < 0) {
            msg_destroy(&reply);
            return s_sql_error(ctx, "job_get");
        }
        msg_t *released = s_job_release(ctx, &job, JOB_FAILED);
        bool failed = msg_kind(released) == MSG_K_ERROR;
        msg_destroy(&released);
        if (failed) {
            msg_destroy(&reply);
            return s_sql_error(ctx, "release");
        }
        stmt = store_stmt(ctx->store, S_JOB_GET);
        sqlite3_bind_int64(stmt, 1, ids[i]);
        if (sqlite3_step(stmt) == SQLITE_ROW) s_job_row(msg_add_row(reply, F_JOBS), stmt);
        sqlite3_reset(stmt);
    }
    return reply;
}

static msg_t *s_key_health_save(s_ctx_t *ctx) {
    if (!*msg_str(ctx->req, F_KEY_ID))
        return s_error(ctx, LEDGER_E_BAD_REQUEST, "key_id must not be empty");
    sqlite3_stmt *stmt = store_stmt(ctx->store, S_KEY_SAVE);
    sqlite3_bind_text(stmt, 1, msg_str(ctx->req, F_KEY_ID), -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, msg_str(ctx->req, F_STATE), -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 3, msg_int(ctx->req, F_AT_MS));
    sqlite3_bind_int64(stmt, 4, ctx->now);
    return s_step(ctx->store, S_KEY_SAVE, stmt) ? s_sql_error(ctx, "key_health_save")
                                                : s_ok(ctx, false);
}

static msg_t *s_key_health_load(s_ctx_t *ctx) {
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
        return s_sql_error(ctx, "key_health_load");
    }
    return reply;
}

static msg_t *s_job_list_reply(s_ctx_t *ctx, sqlite3_stmt *stmt, const char *what) {
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
        return s_sql_error(ctx, what);
    }
    return reply;
}

static msg_t *s_job_get(s_ctx_t *ctx) {
    sqlite3_stmt *stmt = store_stmt(ctx->store, S_JOB_GET);
    sqlite3_bind_int64(stmt, 1, msg_int(ctx->req, F_JOB_ID));
    msg_t *reply = s_job_list_reply(ctx, stmt, "job_get");
    if (msg_kind(reply) == MSG_K_JOB_LIST && msg_len(reply, F_JOBS) == 0) {
        msg_destroy(&reply);
        return s_error(ctx, LEDGER_E_NOT_FOUND, "job %lld not found",
                       (long long)msg_int(ctx->req, F_JOB_ID));
    }
    return reply;
}

//  A user's newest jobs (optionally in one state), or the oldest jobs in a
//  state (optionally of one key): history menus and startup recovery.
static msg_t *s_jobs_list(s_ctx_t *ctx) {
    const msg_t *req = ctx->req;
    int64_t limit = msg_has(req, F_LIMIT) ? msg_int(req, F_LIMIT) : 10;
    if (limit < 1 || limit > MSG_MAX_ROWS)
        return s_error(ctx, LEDGER_E_BAD_REQUEST, "limit must be 1..%d", MSG_MAX_ROWS);
    if (msg_has(req, F_STATE) && job_state_parse(msg_str(req, F_STATE)) == JOB_UNKNOWN)
        return s_error(ctx, LEDGER_E_BAD_REQUEST, "unknown job state");
    sqlite3_stmt *stmt;
    if (msg_has(req, F_USER_ID)) {
        stmt = store_stmt(ctx->store, S_JOBS_BY_USER);
        sqlite3_bind_int64(stmt, 1, msg_int(req, F_USER_ID));
        s_bind_opt_str(stmt, 2, req, F_STATE);
    } else if (msg_has(req, F_STATE)) {
        stmt = store_stmt(ctx->store, S_JOBS_BY_STATE);
        sqlite3_bind_text(stmt, 1, msg_str(req, F_STATE), -1, SQLITE_STATIC);
        s_bind_opt_str(stmt, 2, req, F_KEY_ID);
    } else
        return s_error(ctx, LEDGER_E_BAD_REQUEST, "jobs_list needs user_id or state");
    sqlite3_bind_int64(stmt, 3, limit);
    return s_job_list_reply(ctx, stmt, "jobs_list");
}

//  --- money in and out ------------------------------------------------------

static msg_t *s_entries_list(s_ctx_t *ctx) {
    int64_t limit = msg_has(ctx->req, F_LIMIT) ? msg_int(ctx->req, F_LIMIT) : 10;
    if (limit < 1 || limit > MSG_MAX_ROWS)
        return s_error(ctx, LEDGER_E_BAD_REQUEST, "limit must be 1..%d", MSG_MAX_ROWS);
    sqlite3_stmt *stmt = store_stmt(ctx->store, S_ENTRIES_BY_USER);
    sqlite3_bind_int64(stmt, 1, msg_int(ctx->req, F_USER_ID));
    sqlite3_bind_int64(stmt, 2, limit);
    msg_t *reply = msg_new(MSG_K_ENTRY_LIST, msg_corr(ctx->req));
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        msg_t *row = msg_add_row(reply, F_ENTRIES);
        msg_set_int(row, F_ENTRY_ID, sqlite3_column_int64(stmt, 0));
        msg_set_str(row, F_ENTRY_KIND, (const char *)sqlite3_column_text(stmt, 1));
        msg_set_int(row, F_D_BALANCE, sqlite3_column_int64(stmt, 2));
        msg_set_int(row, F_D_HELD, sqlite3_column_int64(stmt, 3));
        msg_set_str(row, F_REF, (const char *)sqlite3_column_text(stmt, 4));
        msg_set_int(row, F_CREATED_MS, sqlite3_column_int64(stmt, 5));
        if (sqlite3_column_type(stmt, 6) != SQLITE_NULL)
            msg_set_int(row, F_JOB_ID, sqlite3_column_int64(stmt, 6));
        if (sqlite3_column_type(stmt, 7) != SQLITE_NULL)
            msg_set_str(row, F_REASON, (const char *)sqlite3_column_text(stmt, 7));
    }
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE) {
        msg_destroy(&reply);
        return s_sql_error(ctx, "entries_list");
    }
    return reply;
}

//  Credits for a provider charge, at most once per (provider, charge id).
static msg_t *s_payment_credit(s_ctx_t *ctx) {
    const msg_t *req = ctx->req;
    int64_t user_id = msg_int(req, F_USER_ID);
    int64_t credits = msg_int(req, F_CREDITS);
    if (credits < 1 || credits > S_MAX_CREDITS || msg_int(req, F_AMOUNT) < 0)
        return s_error(ctx, LEDGER_E_BAD_REQUEST, "credits must be 1..%lld, amount >= 0",
                       S_MAX_CREDITS);
    if (!*msg_str(req, F_PROVIDER) || !*msg_str(req, F_CHARGE_ID))
        return s_error(ctx, LEDGER_E_BAD_REQUEST, "provider and charge_id must not be empty");
    int64_t balance, held;
    int found = s_user(ctx->store, user_id, &balance, &held);
    if (found <= 0)
        return found < 0
                   ? s_sql_error(ctx, "user_get")
                   : s_error(ctx, LEDGER_E_NOT_FOUND, "user %lld not found", (long long)user_id);
    char ref[MSG_MAX_NAME + 64];
    snprintf(ref, sizeof ref, "pay:%s:%s", msg_str(req, F_PROVIDER), msg_str(req, F_CHARGE_ID));
    int exists = s_ref_exists(ctx->store, ref);
    if (exists < 0) return s_sql_error(ctx, "entry_by_ref");
    if (exists) return s_ok(ctx, true);
    if (balance + credits > S_MAX_BALANCE)
        return s_error(ctx, LEDGER_E_BAD_REQUEST, "balance would exceed %lld", S_MAX_BALANCE);
    sqlite3_stmt *stmt = store_stmt(ctx->store, S_PAYMENT_INSERT);
    sqlite3_bind_text(stmt, 1, msg_str(req, F_PROVIDER), -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, msg_str(req, F_CHARGE_ID), -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 3, user_id);
    sqlite3_bind_int64(stmt, 4, msg_int(req, F_AMOUNT));
    sqlite3_bind_int64(stmt, 5, credits);
    sqlite3_bind_int64(stmt, 6, ctx->now);
    if (s_step(ctx->store, S_PAYMENT_INSERT, stmt) || sqlite3_changes(ctx->store->db) != 1)
        return s_sql_error(ctx, "payment_insert");
    int64_t payment_id = sqlite3_last_insert_rowid(ctx->store->db);
    if (s_move(ctx, user_id, "topup", credits, 0, 0, payment_id, ref, msg_str(req, F_PROVIDER)))
        return s_sql_error(ctx, "topup");
    return s_ok(ctx, false);
}

static msg_t *s_admin_adjust(s_ctx_t *ctx) {
    const msg_t *req = ctx->req;
    int64_t user_id = msg_int(req, F_USER_ID);
    int64_t delta = msg_int(req, F_DELTA);
    if (delta == 0 || delta > S_MAX_CREDITS || delta < -S_MAX_CREDITS)
        return s_error(ctx, LEDGER_E_BAD_REQUEST, "delta must be non-zero, |delta| <= %lld",
                       S_MAX_CREDITS);
    if (!*msg_str(req, F_REASON) || !*msg_str(req, F_REF))
        return s_error(ctx, LEDGER_E_BAD_REQUEST, "reason and ref must not be empty");
    char ref[MSG_MAX_NAME + 8];
    snprintf(ref, sizeof ref, "adj:%s", msg_str(req, F_REF));
    int exists = s_ref_exists(ctx->store, ref);
    if (exists < 0) return s_sql_error(ctx, "entry_by_ref");
    if (exists) return s_ok(ctx, true);
    int64_t balance, held;
    int found = s_user(ctx->store, user_id, &balance, &held);
    if (found <= 0)
        return found < 0
                   ? s_sql_error(ctx, "user_get")
                   : s_error(ctx, LEDGER_E_NOT_FOUND, "user %lld not found", (long long)user_id);
    if (balance + delta < 0) {
        msg_t *reply =
            s_error(ctx, LEDGER_E_INSUFFICIENT_CREDITS, "balance %lld can't go down by %lld",
                    (long long)balance, (long long)-delta);
        msg_set_int(reply, F_SHORTFALL, -(balance + delta));
        return reply;
    }
    if (balance + delta > S_MAX_BALANCE)
        return s_error(ctx, LEDGER_E_BAD_REQUEST, "balance would exceed %lld", S_MAX_BALANCE);
    if (s_move(ctx, user_id, "adjust", delta, 0, 0, 0, ref, msg_str(req, F_REASON)))
        return s_sql_error(ctx, "adjust");
    return s_ok(ctx, false);
}

//  --- sessions and the Telegram offset ------------------------------------

static int s_save_session(s_ctx_t *ctx) {
    const msg_t *req = ctx->req;
    sqlite3_stmt *stmt = store_stmt(ctx->store, S_SESSION_UPSERT);
    sqlite3_bind_int64(stmt, 1, msg_int(req, F_USER_ID));
    sqlite3_bind_text(stmt, 2, msg_has(req, F_STATE) ? msg_str(req, F_STATE) : "", -1,
                      SQLITE_STATIC);
    sqlite3_bind_blob(stmt, 3, msg_bin(req, F_SESSION) ? msg_bin(req, F_SESSION) : "",
                      (int)msg_len(req, F_SESSION), SQLITE_STATIC);
    if (msg_has(req, F_UPDATE_ID)) sqlite3_bind_int64(stmt, 4, msg_int(req, F_UPDATE_ID));
    sqlite3_bind_int64(stmt, 5, ctx->now);
    return s_step(ctx->store, S_SESSION_UPSERT, stmt);
}

static msg_t *s_session_save(s_ctx_t *ctx) {
    if (msg_int(ctx->req, F_USER_ID) <= 0)
        return s_error(ctx, LEDGER_E_BAD_REQUEST, "user_id must be positive");
    return s_save_session(ctx) ? s_sql_error(ctx, "session_save") : s_ok(ctx, false);
}

static msg_t *s_session_load(s_ctx_t *ctx) {
    sqlite3_stmt *stmt = store_stmt(ctx->store, S_SESSION_GET);
    sqlite3_bind_int64(stmt, 1, msg_int(ctx->req, F_USER_ID));
    msg_t *reply = msg_new(MSG_K_SESSION_DATA, msg_corr(ctx->req));
    int rc = sqlite3_step(stmt);
    msg_set_bool(reply, F_FOUND, rc == SQLITE_ROW);
    if (rc == SQLITE_ROW) {
        msg_set_str(reply, F_STATE, (const char *)sqlite3_column_text(stmt, 0));
        msg_set_bin(reply, F_SESSION, sqlite3_column_blob(stmt, 1),
                    (size_t)sqlite3_column_bytes(stmt, 1));
        msg_set_int(reply, F_UPDATE_ID, sqlite3_column_int64(stmt, 2));
    }
    sqlite3_reset(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        msg_destroy(&reply);
        return s_sql_error(ctx, "session_load");
    }
    return reply;
}

//  The offset only moves forward: a late save of an older offset must not
//  make Telegram resend updates already handled.
static msg_t *s_offset_save(s_ctx_t *ctx) {
    if (msg_int(ctx->req, F_OFFSET) < 0)
        return s_error(ctx, LEDGER_E_BAD_REQUEST, "offset must not be negative");
    sqlite3_stmt *stmt = store_stmt(ctx->store, S_KV_RAISE);
    sqlite3_bind_text(stmt, 1, "tg_offset", -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, msg_int(ctx->req, F_OFFSET));
    return s_step(ctx->store, S_KV_RAISE, stmt) ? s_sql_error(ctx, "offset_save")
                                                : s_ok(ctx, false);
}

static msg_t *s_offset_load(s_ctx_t *ctx) {
    sqlite3_stmt *stmt = store_stmt(ctx->store, S_KV_GET);
    sqlite3_bind_text(stmt, 1, "tg_offset", -1, SQLITE_STATIC);
    int rc = sqlite3_step(stmt);
    int64_t offset = rc == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : 0;
    sqlite3_reset(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return s_sql_error(ctx, "offset_load");
    msg_t *reply = msg_new(MSG_K_OFFSET_DATA, msg_corr(ctx->req));
    msg_set_int(reply, F_OFFSET, offset);
    return reply;
}

//  --- the request table -----------------------------------------------------

static const struct s_op s_ops[MSG_K_COUNT_] = {
    [MSG_K_USER_TOUCH] = {s_user_touch, true},
    [MSG_K_BALANCE_GET] = {s_balance_get, false},
    [MSG_K_ORDER_PLACE] = {s_order_place, true},
    [MSG_K_JOBS_CLAIM] = {s_jobs_claim, true},
    [MSG_K_JOB_SUBMITTED] = {s_job_submitted, true},
    [MSG_K_JOB_PROGRESS] = {s_job_progress, true},
    [MSG_K_JOB_RETRY] = {s_job_retry, true},
    [MSG_K_JOB_SUCCEEDED] = {s_job_succeeded, true},
    [MSG_K_JOB_FAILED] = {s_job_failed, true},
    [MSG_K_JOB_DELIVERED] = {s_job_delivered, true},
    [MSG_K_JOB_CANCEL] = {s_job_cancel, true},
    [MSG_K_JOB_GET] = {s_job_get, false},
    [MSG_K_JOB_STATUS_MSG] = {s_job_status_msg, true},
    [MSG_K_JOBS_EXPIRE] = {s_jobs_expire, true},
    [MSG_K_KEY_HEALTH_SAVE] = {s_key_health_save, true},
    [MSG_K_KEY_HEALTH_LOAD] = {s_key_health_load, false},
    [MSG_K_JOBS_LIST] = {s_jobs_list, false},
    [MSG_K_ENTRIES_LIST] = {s_entries_list, false},
    [MSG_K_PAYMENT_CREDIT] = {s_payment_credit, true},
    [MSG_K_ADMIN_ADJUST] = {s_admin_adjust, true},
    [MSG_K_USER_BLOCKED] = {s_user_blocked, true},
    [MSG_K_SESSION_SAVE] = {s_session_save, true},
    [MSG_K_SESSION_LOAD] = {s_session_load, false},
    [MSG_K_OFFSET_SAVE] = {s_offset_save, true},
    [MSG_K_OFFSET_LOAD] = {s_offset_load, false},
};

static const struct s_op *s_op_for(int kind) {
    if (kind <= MSG_K_NONE || kind >= MSG_K_COUNT_ || !s_ops[kind].fn) return NULL;
    return &s_ops[kind];
}

//  --- helpers ---------------------------------------------------------------

static msg_t *s_error(s_ctx_t *ctx, ledger_err_t code, const char *fmt, ...) {
    char detail[MSG_MAX_DETAIL];
    va_list args;
    va_start(args, fmt);
    vsnprintf(detail, sizeof detail, fmt, args);
    va_end(args);
    msg_t *reply = msg_new(MSG_K_ERROR, msg_corr(ctx->req));
    msg_set_int(reply, F_CODE, code);
    msg_set_str(reply, F_DETAIL, detail);
    return reply;
}

static msg_t *s_sql_error(s_ctx_t *ctx, const char *what) {
    return s_error(ctx, LEDGER_E_INTERNAL, "%s: %s", what, sqlite3_errmsg(ctx->store->db));
}

//  Steps a statement that returns no rows; 0 on success.
static int s_step(store_t *store, store_stmt_id_t id, sqlite3_stmt *stmt) {
    (void)store;
    (void)id;
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

//  1 found, 0 not found, -1 SQL error.
static int s_user(store_t *store, int64_t user_id, int64_t *balance, int64_t *held) {
    sqlite3_stmt *stmt = store_stmt(store, S_USER_GET);
    sqlite3_bind_int64(stmt, 1, user_id);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        *balance = sqlite3_column_int64(stmt, 0);
        *held = sqlite3_column_int64(stmt, 1);
    }
    sqlite3_reset(stmt);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

//  One journal row and the matching change of the user's totals: the only
//  way a balance moves.
static int s_move(s_ctx_t *ctx, int64_t user_id, const char *kind, int64_t d_balance,
                  int64_t d_held, int64_t job_id, int64_t payment_id, const char *ref,
                  const char *reason) {
    sqlite3_stmt *stmt = store_stmt(ctx->store, S_ENTRY_INSERT);
    sqlite3_bind_int64(stmt, 1, user_id);
    sqlite3_bind_text(stmt, 2, kind, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 3, d_balance);
    sqlite3_bind_int64(stmt, 4, d_held);
    if (job_id) sqlite3_bind_int64(stmt, 5, job_id);
    if (payment_id) sqlite3_bind_int64(stmt, 6, payment_id);
    sqlite3_bind_text(stmt, 7, ref, -1, SQLITE_STATIC);
    if (reason) sqlite3_bind_text(stmt, 8, reason, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 9, ctx->now);
    if (s_step(ctx->store, S_ENTRY_INSERT, stmt)) return -1;
    stmt = store_stmt(ctx->store, S_USER_MOVE);
    sqlite3_bind_int64(stmt, 1, user_id);
    sqlite3_bind_int64(stmt, 2, d_balance);
    sqlite3_bind_int64(stmt, 3, d_held);
    sqlite3_bind_int64(stmt, 4, ctx->now);
    if (s_step(ctx->store, S_USER_MOVE, stmt)) return -1;
    return sqlite3_changes(ctx->store->db) == 1 ? 0 : -1;
}

static int s_ref_exists(store_t *store, const char *ref) {
    sqlite3_stmt *stmt = store_stmt(store, S_ENTRY_BY_REF);
    sqlite3_bind_text(stmt, 1, ref, -1, SQLITE_STATIC);
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

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

static msg_t *s_ok(s_ctx_t *ctx, bool duplicate) {
    msg_t *reply = msg_new(MSG_K_OK, msg_corr(ctx->req));
    msg_set_bool(reply, F_DUPLICATE, duplicate);
    return reply;
}

static void s_bind_opt_str(sqlite3_stmt *stmt, int col, const msg_t *req, msg_field_t field) {
    if (msg_has(req, field))
        sqlite3_bind_text(stmt, col, msg_str(req, field), (int)msg_len(req, field), SQLITE_STATIC);
}
