/*  store_ops.c — every ledger request, one handler each, dispatched by the
    table below (store_apply). The handlers of users, orders, sessions and
    the Telegram offset are here; those of jobs and keys in store_jobs.c,
    those of payments, adjustments and entries in store_money.c; the
    helpers they share at the bottom. A handler refuses before it writes:
    every typed error is decided on reads alone, so a refused request leaves
    no trace in the batch. store_apply enforces that (see store.h,
    "poisoned").

    Entry refs (unique, the idempotency keys of balance changes):
      grant:<user>   hold:<job>   capture:<job>   release:<job>
      pay:<provider>:<charge id>  adj:<caller's ref>
*/
#include "store_internal.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ledger.h"

#define S_MAX_PRICE 1000000 //  credits per generation
#define S_MINUTE_MS 60000

static const struct s_op {
    store_handler_fn *fn;
    bool writes;
} * s_op_for(int kind);

msg_t *store_apply(store_t *self, const msg_t *req, const store_limits_t *limits, int64_t now_ms) {
    store_ctx_t ctx = {self, req, limits, now_ms};
    const struct s_op *op = s_op_for(msg_kind(req));
    if (!op)
        return store_error(&ctx, LEDGER_E_BAD_REQUEST, "%s is not a ledger request",
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
    store_ctx_t ctx = {self, req, limits, now_ms};
    if (store_begin(self)) return store_sql_error(&ctx, "begin");
    msg_t *reply = store_apply(self, req, limits, now_ms);
    if (msg_kind(reply) == MSG_K_ERROR)
        store_rollback(self);
    else if (store_commit(self)) {
        msg_destroy(&reply);
        reply = store_sql_error(&ctx, "commit");
        store_rollback(self);
    }
    return reply;
}

//  --- users -----------------------------------------------------------------

static msg_t *s_user_reply(store_ctx_t *ctx, int64_t user_id, bool created) {
    sqlite3_stmt *stmt = store_stmt(ctx->store, S_USER_GET);
    sqlite3_bind_int64(stmt, 1, user_id);
    if (sqlite3_step(stmt) != SQLITE_ROW) {
        sqlite3_reset(stmt);
        return store_error(ctx, LEDGER_E_NOT_FOUND, "user %lld not found", (long long)user_id);
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

static msg_t *s_user_touch(store_ctx_t *ctx) {
    const msg_t *req = ctx->req;
    int64_t user_id = msg_int(req, F_USER_ID);
    if (user_id <= 0) return store_error(ctx, LEDGER_E_BAD_REQUEST, "user_id must be positive");
    int64_t balance, held;
    int found = store_user(ctx->store, user_id, &balance, &held);
    if (found < 0) return store_sql_error(ctx, "user_get");
    store_stmt_id_t id = found ? S_USER_PROFILE : S_USER_INSERT;
    sqlite3_stmt *stmt = store_stmt(ctx->store, id);
    sqlite3_bind_int64(stmt, 1, user_id);
    store_bind_opt_str(stmt, 2, req, F_LANG);
    store_bind_opt_str(stmt, 3, req, F_FIRST_NAME);
    store_bind_opt_str(stmt, 4, req, F_USERNAME);
    sqlite3_bind_int64(stmt, 5, ctx->now);
    if (store_step(ctx->store, id, stmt)) return store_sql_error(ctx, "user_touch");
    if (!found && ctx->limits->free_credits > 0) {
        char ref[64];
        snprintf(ref, sizeof ref, "grant:%lld", (long long)user_id);
        if (store_move(ctx, user_id, "grant", ctx->limits->free_credits, 0, 0, 0, ref,
                       "free credits"))
            return store_sql_error(ctx, "grant");
    }
    return s_user_reply(ctx, user_id, !found);
}

static msg_t *s_balance_get(store_ctx_t *ctx) {
    return s_user_reply(ctx, msg_int(ctx->req, F_USER_ID), false);
}

static msg_t *s_user_blocked(store_ctx_t *ctx) {
    int64_t user_id = msg_int(ctx->req, F_USER_ID);
    sqlite3_stmt *stmt = store_stmt(ctx->store, S_USER_BLOCK);
    sqlite3_bind_int64(stmt, 1, user_id);
    sqlite3_bind_int(stmt, 2, msg_bool(ctx->req, F_BLOCKED));
    sqlite3_bind_int64(stmt, 3, ctx->now);
    if (store_step(ctx->store, S_USER_BLOCK, stmt)) return store_sql_error(ctx, "user_blocked");
    if (sqlite3_changes(ctx->store->db) == 0)
        return store_error(ctx, LEDGER_E_NOT_FOUND, "user %lld not found", (long long)user_id);
    return store_ok(ctx, false);
}

//  --- orders ----------------------------------------------------------------

static int s_save_session(store_ctx_t *ctx);

//  An order is all or nothing: count jobs and count holds, or an error and
//  nothing. A repeated order token returns the jobs it created the first time.
static msg_t *s_order_place(store_ctx_t *ctx) {
    const msg_t *req = ctx->req;
    int64_t user_id = msg_int(req, F_USER_ID);
    int64_t price = msg_int(req, F_PRICE);
    int64_t count = msg_int(req, F_COUNT);
    const char *token = msg_str(req, F_ORDER_TOKEN);
    if (count < 1 || count > STORE_ORDER_MAX)
        return store_error(ctx, LEDGER_E_BAD_REQUEST, "count must be 1..%d", STORE_ORDER_MAX);
    if (price < 0 || price > S_MAX_PRICE)
        return store_error(ctx, LEDGER_E_BAD_REQUEST, "price must be 0..%d", S_MAX_PRICE);
    if (!*token || !*msg_str(req, F_MODEL))
        return store_error(ctx, LEDGER_E_BAD_REQUEST, "order_token and model must not be empty");

    int64_t job_ids[STORE_ORDER_MAX];
    size_t n = 0;
    sqlite3_stmt *stmt = store_stmt(ctx->store, S_ORDER_JOBS);
    sqlite3_bind_int64(stmt, 1, user_id);
    sqlite3_bind_text(stmt, 2, token, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW && n < STORE_ORDER_MAX)
        job_ids[n++] = sqlite3_column_int64(stmt, 0);
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return store_sql_error(ctx, "order_jobs");

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
                   ? store_error(ctx, LEDGER_E_NOT_FOUND, "user %lld not found", (long long)user_id)
                   : store_sql_error(ctx, "order_check");
    bool duplicate = n > 0;
    if (!duplicate) {
        if (active + count > ctx->limits->limit_active)
            return store_error(ctx, LEDGER_E_TOO_MANY_ACTIVE, "%lld active, limit %lld",
                               (long long)active, (long long)ctx->limits->limit_active);
        if (recent >= ctx->limits->limit_per_min)
            return store_error(ctx, LEDGER_E_RATE_LIMITED, "%lld orders in the last minute",
                               (long long)recent);
        int64_t cost = price * count;
        if (balance < cost) {
            msg_t *reply = store_error(ctx, LEDGER_E_INSUFFICIENT_CREDITS, "needs %lld, has %lld",
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
            store_bind_opt_str(stmt, 6, req, F_PARAMS);
            sqlite3_bind_int64(stmt, 7, price);
            sqlite3_bind_int64(stmt, 8, ctx->now);
            if (store_step(ctx->store, S_JOB_INSERT, stmt))
                return store_sql_error(ctx, "job_insert");
            job_ids[n] = sqlite3_last_insert_rowid(ctx->store->db);
            char ref[64];
            snprintf(ref, sizeof ref, "hold:%lld", (long long)job_ids[n]);
            if (store_move(ctx, user_id, "hold", -price, price, job_ids[n], 0, ref, NULL))
                return store_sql_error(ctx, "hold");
            n++;
        }
        balance -= cost;
        held += cost;
    }
    if (msg_has(req, F_SESSION) && s_save_session(ctx)) return store_sql_error(ctx, "session_save");
    msg_t *reply = msg_new(MSG_K_ORDER, msg_corr(req));
    msg_set_ints(reply, F_JOB_IDS, job_ids, n);
    msg_set_bool(reply, F_DUPLICATE, duplicate);
    msg_set_int(reply, F_BALANCE, balance);
    msg_set_int(reply, F_HELD, held);
    return reply;
}

//  --- sessions and the Telegram offset ------------------------------------

static int s_save_session(store_ctx_t *ctx) {
    const msg_t *req = ctx->req;
    sqlite3_stmt *stmt = store_stmt(ctx->store, S_SESSION_UPSERT);
    sqlite3_bind_int64(stmt, 1, msg_int(req, F_USER_ID));
    sqlite3_bind_text(stmt, 2, msg_has(req, F_STATE) ? msg_str(req, F_STATE) : "", -1,
                      SQLITE_STATIC);
    sqlite3_bind_blob(stmt, 3, msg_bin(req, F_SESSION) ? msg_bin(req, F_SESSION) : "",
                      (int)msg_len(req, F_SESSION), SQLITE_STATIC);
    if (msg_has(req, F_UPDATE_ID)) sqlite3_bind_int64(stmt, 4, msg_int(req, F_UPDATE_ID));
    sqlite3_bind_int64(stmt, 5, ctx->now);
    return store_step(ctx->store, S_SESSION_UPSERT, stmt);
}

static msg_t *s_session_save(store_ctx_t *ctx) {
    if (msg_int(ctx->req, F_USER_ID) <= 0)
        return store_error(ctx, LEDGER_E_BAD_REQUEST, "user_id must be positive");
    return s_save_session(ctx) ? store_sql_error(ctx, "session_save") : store_ok(ctx, false);
}

static msg_t *s_session_load(store_ctx_t *ctx) {
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
        return store_sql_error(ctx, "session_load");
    }
    return reply;
}

//  The offset only moves forward: a late save of an older offset must not
//  make Telegram resend updates already handled.
static msg_t *s_offset_save(store_ctx_t *ctx) {
    if (msg_int(ctx->req, F_OFFSET) < 0)
        return store_error(ctx, LEDGER_E_BAD_REQUEST, "offset must not be negative");
    sqlite3_stmt *stmt = store_stmt(ctx->store, S_KV_RAISE);
    sqlite3_bind_text(stmt, 1, "tg_offset", -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, msg_int(ctx->req, F_OFFSET));
    return store_step(ctx->store, S_KV_RAISE, stmt) ? store_sql_error(ctx, "offset_save")
                                                    : store_ok(ctx, false);
}

static msg_t *s_offset_load(store_ctx_t *ctx) {
    sqlite3_stmt *stmt = store_stmt(ctx->store, S_KV_GET);
    sqlite3_bind_text(stmt, 1, "tg_offset", -1, SQLITE_STATIC);
    int rc = sqlite3_step(stmt);
    int64_t offset = rc == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : 0;
    sqlite3_reset(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return store_sql_error(ctx, "offset_load");
    msg_t *reply = msg_new(MSG_K_OFFSET_DATA, msg_corr(ctx->req));
    msg_set_int(reply, F_OFFSET, offset);
    return reply;
}

//  --- the request table -----------------------------------------------------

static const struct s_op s_ops[MSG_K_COUNT_] = {
    [MSG_K_USER_TOUCH] = {s_user_touch, true},
    [MSG_K_BALANCE_GET] = {s_balance_get, false},
    [MSG_K_ORDER_PLACE] = {s_order_place, true},
    [MSG_K_JOBS_CLAIM] = {store_op_jobs_claim, true},
    [MSG_K_JOB_SUBMITTED] = {store_op_job_submitted, true},
    [MSG_K_JOB_PROGRESS] = {store_op_job_progress, true},
    [MSG_K_JOB_RETRY] = {store_op_job_retry, true},
    [MSG_K_JOB_SUCCEEDED] = {store_op_job_succeeded, true},
    [MSG_K_JOB_FAILED] = {store_op_job_failed, true},
    [MSG_K_JOB_DELIVERED] = {store_op_job_delivered, true},
    [MSG_K_JOB_TOLD] = {store_op_job_told, true},
    [MSG_K_JOBS_UNTOLD] = {store_op_jobs_untold, false},
    [MSG_K_JOBS_COUNT] = {store_op_jobs_count, false},
    [MSG_K_JOB_CANCEL] = {store_op_job_cancel, true},
    [MSG_K_JOB_GET] = {store_op_job_get, false},
    [MSG_K_JOB_STATUS_MSG] = {store_op_job_status_msg, true},
    [MSG_K_JOBS_EXPIRE] = {store_op_jobs_expire, true},
    [MSG_K_KEY_HEALTH_SAVE] = {store_op_key_health_save, true},
    [MSG_K_KEY_HEALTH_LOAD] = {store_op_key_health_load, false},
    [MSG_K_JOBS_LIST] = {store_op_jobs_list, false},
    [MSG_K_ENTRIES_LIST] = {store_op_entries_list, false},
    [MSG_K_PAYMENT_CREDIT] = {store_op_payment_credit, true},
    [MSG_K_ADMIN_ADJUST] = {store_op_admin_adjust, true},
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

msg_t *store_error(store_ctx_t *ctx, ledger_err_t code, const char *fmt, ...) {
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

msg_t *store_sql_error(store_ctx_t *ctx, const char *what) {
    return store_error(ctx, LEDGER_E_INTERNAL, "%s: %s", what, sqlite3_errmsg(ctx->store->db));
}

//  Steps a statement that returns no rows; 0 on success.
int store_step(store_t *store, store_stmt_id_t id, sqlite3_stmt *stmt) {
    (void)store;
    (void)id;
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

//  1 found, 0 not found, -1 SQL error.
int store_user(store_t *store, int64_t user_id, int64_t *balance, int64_t *held) {
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
int store_move(store_ctx_t *ctx, int64_t user_id, const char *kind, int64_t d_balance,
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
    if (store_step(ctx->store, S_ENTRY_INSERT, stmt)) return -1;
    stmt = store_stmt(ctx->store, S_USER_MOVE);
    sqlite3_bind_int64(stmt, 1, user_id);
    sqlite3_bind_int64(stmt, 2, d_balance);
    sqlite3_bind_int64(stmt, 3, d_held);
    sqlite3_bind_int64(stmt, 4, ctx->now);
    if (store_step(ctx->store, S_USER_MOVE, stmt)) return -1;
    return sqlite3_changes(ctx->store->db) == 1 ? 0 : -1;
}

msg_t *store_ok(store_ctx_t *ctx, bool duplicate) {
    msg_t *reply = msg_new(MSG_K_OK, msg_corr(ctx->req));
    msg_set_bool(reply, F_DUPLICATE, duplicate);
    return reply;
}

void store_bind_opt_str(sqlite3_stmt *stmt, int col, const msg_t *req, msg_field_t field) {
    if (msg_has(req, field))
        sqlite3_bind_text(stmt, col, msg_str(req, field), (int)msg_len(req, field), SQLITE_STATIC);
}
