/*  store_money.c — the ledger requests of money in and out (see
    store_ops.c for the table and the rules every handler keeps): provider
    payments, admin adjustments, and a user's entries.
*/
#include "store_internal.h"

#include <stdio.h>

#define S_MAX_CREDITS 1000000000LL //  per payment or adjustment
#define S_MAX_BALANCE 1000000000000LL

static int s_ref_exists(store_t *store, const char *ref);

//  --- money in and out ------------------------------------------------------

msg_t *store_op_entries_list(store_ctx_t *ctx) {
    int64_t limit = msg_has(ctx->req, F_LIMIT) ? msg_int(ctx->req, F_LIMIT) : 10;
    if (limit < 1 || limit > MSG_MAX_ROWS)
        return store_error(ctx, LEDGER_E_BAD_REQUEST, "limit must be 1..%d", MSG_MAX_ROWS);
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
        return store_sql_error(ctx, "entries_list");
    }
    return reply;
}

//  Credits for a provider charge, at most once per (provider, charge id).
msg_t *store_op_payment_credit(store_ctx_t *ctx) {
    const msg_t *req = ctx->req;
    int64_t user_id = msg_int(req, F_USER_ID);
    int64_t credits = msg_int(req, F_CREDITS);
    if (credits < 1 || credits > S_MAX_CREDITS || msg_int(req, F_AMOUNT) < 0)
        return store_error(ctx, LEDGER_E_BAD_REQUEST, "credits must be 1..%lld, amount >= 0",
                           S_MAX_CREDITS);
    if (!*msg_str(req, F_PROVIDER) || !*msg_str(req, F_CHARGE_ID))
        return store_error(ctx, LEDGER_E_BAD_REQUEST, "provider and charge_id must not be empty");
    int64_t balance, held;
    int found = store_user(ctx->store, user_id, &balance, &held);
    if (found <= 0)
        return found < 0 ? store_sql_error(ctx, "user_get")
                         : store_error(ctx, LEDGER_E_NOT_FOUND, "user %lld not found",
                                       (long long)user_id);
    char ref[MSG_MAX_NAME + 64];
    snprintf(ref, sizeof ref, "pay:%s:%s", msg_str(req, F_PROVIDER), msg_str(req, F_CHARGE_ID));
    int exists = s_ref_exists(ctx->store, ref);
    if (exists < 0) return store_sql_error(ctx, "entry_by_ref");
    if (exists) return store_ok(ctx, true);
    if (balance + credits > S_MAX_BALANCE)
        return store_error(ctx, LEDGER_E_BAD_REQUEST, "balance would exceed %lld", S_MAX_BALANCE);
    sqlite3_stmt *stmt = store_stmt(ctx->store, S_PAYMENT_INSERT);
    sqlite3_bind_text(stmt, 1, msg_str(req, F_PROVIDER), -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, msg_str(req, F_CHARGE_ID), -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 3, user_id);
    sqlite3_bind_int64(stmt, 4, msg_int(req, F_AMOUNT));
    sqlite3_bind_int64(stmt, 5, credits);
    sqlite3_bind_int64(stmt, 6, ctx->now);
    if (store_step(ctx->store, S_PAYMENT_INSERT, stmt) || sqlite3_changes(ctx->store->db) != 1)
        return store_sql_error(ctx, "payment_insert");
    int64_t payment_id = sqlite3_last_insert_rowid(ctx->store->db);
    if (store_move(ctx, user_id, "topup", credits, 0, 0, payment_id, ref, msg_str(req, F_PROVIDER)))
        return store_sql_error(ctx, "topup");
    return store_ok(ctx, false);
}

msg_t *store_op_admin_adjust(store_ctx_t *ctx) {
    const msg_t *req = ctx->req;
    int64_t user_id = msg_int(req, F_USER_ID);
    int64_t delta = msg_int(req, F_DELTA);
    if (delta == 0 || delta > S_MAX_CREDITS || delta < -S_MAX_CREDITS)
        return store_error(ctx, LEDGER_E_BAD_REQUEST, "delta must be non-zero, |delta| <= %lld",
                           S_MAX_CREDITS);
    if (!*msg_str(req, F_REASON) || !*msg_str(req, F_REF))
        return store_error(ctx, LEDGER_E_BAD_REQUEST, "reason and ref must not be empty");
    char ref[MSG_MAX_NAME + 8];
    snprintf(ref, sizeof ref, "adj:%s", msg_str(req, F_REF));
    int exists = s_ref_exists(ctx->store, ref);
    if (exists < 0) return store_sql_error(ctx, "entry_by_ref");
    if (exists) return store_ok(ctx, true);
    int64_t balance, held;
    int found = store_user(ctx->store, user_id, &balance, &held);
    if (found <= 0)
        return found < 0 ? store_sql_error(ctx, "user_get")
                         : store_error(ctx, LEDGER_E_NOT_FOUND, "user %lld not found",
                                       (long long)user_id);
    if (balance + delta < 0) {
        msg_t *reply =
            store_error(ctx, LEDGER_E_INSUFFICIENT_CREDITS, "balance %lld can't go down by %lld",
                        (long long)balance, (long long)-delta);
        msg_set_int(reply, F_SHORTFALL, -(balance + delta));
        return reply;
    }
    if (balance + delta > S_MAX_BALANCE)
        return store_error(ctx, LEDGER_E_BAD_REQUEST, "balance would exceed %lld", S_MAX_BALANCE);
    if (store_move(ctx, user_id, "adjust", delta, 0, 0, 0, ref, msg_str(req, F_REASON)))
        return store_sql_error(ctx, "adjust");
    return store_ok(ctx, false);
}

//  --- helpers ---------------------------------------------------------------

static int s_ref_exists(store_t *store, const char *ref) {
    sqlite3_stmt *stmt = store_stmt(store, S_ENTRY_BY_REF);
    sqlite3_bind_text(stmt, 1, ref, -1, SQLITE_STATIC);
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}
