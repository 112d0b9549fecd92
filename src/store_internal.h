/*  store_internal.h — shared by store.c (connection, schema) and the
    request handlers: store_ops.c (the table, users, orders, sessions, the
    offset, the helpers below), store_jobs.c (jobs and keys) and
    store_money.c (payments, adjustments, entries). Not part of the store
    interface.
*/
#ifndef GENBOT_STORE_INTERNAL_H
#define GENBOT_STORE_INTERNAL_H

#include <sqlite3.h>
#include "ledger.h"
#include "store.h"

#define STORE_JOB_COLS                                                                             \
    "job_id, user_id, chat_id, order_token, idx, model, params, price, state, attempts,"           \
    " next_at_ms, key_id, task_id, progress, result_url, err_class, err_detail, created_ms,"       \
    " updated_ms, status_msg"
#define STORE_ACTIVE_STATES "('queued','running','submitted')"

//  S(ID, SQL): every statement, prepared once at open.
#define STORE_STATEMENTS(S)                                                                        \
    S(USER_GET, "SELECT balance, held, blocked, lang FROM users WHERE user_id = ?1")               \
    S(USER_INSERT, "INSERT INTO users (user_id, lang, first_name, username, created_ms,"           \
                   " updated_ms) VALUES (?1, coalesce(?2, ''), coalesce(?3, ''),"                  \
                   " coalesce(?4, ''), ?5, ?5)")                                                   \
    S(USER_PROFILE, "UPDATE users SET lang = coalesce(?2, lang),"                                  \
                    " first_name = coalesce(?3, first_name), username = coalesce(?4, username),"   \
                    " blocked = 0, updated_ms = ?5 WHERE user_id = ?1 AND (blocked <> 0"           \
                    " OR lang IS NOT coalesce(?2, lang) OR first_name IS NOT coalesce(?3,"         \
                    " first_name) OR username IS NOT coalesce(?4, username))")                     \
    S(USER_MOVE, "UPDATE users SET balance = balance + ?2, held = held + ?3, updated_ms = ?4"      \
                 " WHERE user_id = ?1")                                                            \
    S(USER_BLOCK, "UPDATE users SET blocked = ?2, updated_ms = ?3 WHERE user_id = ?1")             \
    S(ENTRY_INSERT, "INSERT INTO entries (user_id, kind, d_balance, d_held, job_id, payment_id,"   \
                    " ref, reason, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")       \
    S(ENTRY_BY_REF, "SELECT entry_id FROM entries WHERE ref = ?1")                                 \
    S(ENTRIES_BY_USER, "SELECT entry_id, kind, d_balance, d_held, ref, created_ms, job_id,"        \
                       " reason FROM entries WHERE user_id = ?1 ORDER BY entry_id DESC LIMIT ?2")  \
    S(ORDER_CHECK, "SELECT balance, held, (SELECT count(*) FROM jobs WHERE user_id = ?1 AND"       \
                   " state IN " STORE_ACTIVE_STATES "), (SELECT count(DISTINCT order_token)"       \
                   " FROM jobs WHERE user_id = ?1 AND created_ms > ?2) FROM users"                 \
                   " WHERE user_id = ?1")                                                          \
    S(JOB_STATE, "SELECT user_id, price, state, key_id, task_id FROM jobs WHERE job_id = ?1")      \
    S(ORDER_JOBS, "SELECT job_id FROM jobs WHERE user_id = ?1 AND order_token = ?2 ORDER BY idx")  \
    S(JOB_INSERT, "INSERT INTO jobs (user_id, chat_id, order_token, idx, model, params, price,"    \
                  " state, next_at_ms, created_ms, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5,"        \
                  " coalesce(?6, ''), ?7, 'queued', ?8, ?8, ?8)")                                  \
    S(JOB_GET, "SELECT " STORE_JOB_COLS " FROM jobs WHERE job_id = ?1")                            \
    S(JOBS_CLAIM, "UPDATE jobs SET state = 'running', key_id = ?1, updated_ms = ?2"                \
                  " WHERE job_id IN (SELECT job_id FROM jobs WHERE state = 'queued'"               \
                  " AND next_at_ms <= ?2 ORDER BY job_id LIMIT ?3) RETURNING " STORE_JOB_COLS)     \
    S(JOB_SUBMIT, "UPDATE jobs SET state = 'submitted', task_id = ?2, updated_ms = ?3"             \
                  " WHERE job_id = ?1")                                                            \
    S(JOBS_COUNT, "SELECT state, count(*) FROM jobs WHERE state IN"                                \
                  " ('queued','running','submitted','succeeded') GROUP BY state")                  \
    S(JOB_TOLD, "UPDATE jobs SET told = 1 WHERE job_id = ?1 AND state = 'failed'")                 \
    S(JOBS_UNTOLD, "SELECT " STORE_JOB_COLS " FROM jobs WHERE state = 'failed' AND told = 0"       \
                   " ORDER BY job_id LIMIT ?1")                                                    \
    S(JOB_STATUS_MSG, "UPDATE jobs SET status_msg = ?2 WHERE job_id = ?1")                         \
    S(JOBS_EXPIRED, "SELECT job_id FROM jobs WHERE state = 'queued' AND updated_ms < ?1"           \
                    " ORDER BY job_id LIMIT ?2")                                                   \
    S(KEY_SAVE, "INSERT INTO api_keys (fingerprint, health, cooldown_until, updated_ms)"           \
                " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (fingerprint) DO UPDATE SET"                 \
                " health = excluded.health, cooldown_until = excluded.cooldown_until,"             \
                " updated_ms = excluded.updated_ms")                                               \
    S(KEY_LOAD, "SELECT health, cooldown_until FROM api_keys WHERE fingerprint = ?1")              \
    S(JOB_PROGRESS, "UPDATE jobs SET progress = ?2, updated_ms = ?3 WHERE job_id = ?1")            \
    S(JOB_REQUEUE, "UPDATE jobs SET state = 'queued', next_at_ms = ?2, attempts = attempts + ?3,"  \
                   " key_id = NULL, task_id = NULL, progress = NULL, err_class = ?4,"              \
                   " err_detail = ?5, updated_ms = ?6 WHERE job_id = ?1")                          \
    S(JOB_SUCCEED, "UPDATE jobs SET state = 'succeeded', result_url = ?2, progress = 100,"         \
                   " updated_ms = ?3 WHERE job_id = ?1")                                           \
    S(JOB_END, "UPDATE jobs SET state = ?2, err_class = coalesce(?3, err_class),"                  \
               " err_detail = coalesce(?4, err_detail), updated_ms = ?5 WHERE job_id = ?1")        \
    S(JOBS_BY_USER, "SELECT " STORE_JOB_COLS " FROM jobs WHERE user_id = ?1"                       \
                    " AND (?2 IS NULL OR state = ?2) ORDER BY created_ms DESC, job_id DESC"        \
                    " LIMIT ?3")                                                                   \
    S(JOBS_BY_STATE, "SELECT " STORE_JOB_COLS " FROM jobs WHERE state = ?1"                        \
                     " AND (?2 IS NULL OR key_id = ?2) ORDER BY job_id LIMIT ?3")                  \
    S(PAYMENT_INSERT, "INSERT INTO payments (provider, charge_id, user_id, amount, credits,"       \
                      " created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING")       \
    S(SESSION_UPSERT, "INSERT INTO sessions (user_id, state, data, update_id, updated_ms)"         \
                      " VALUES (?1, ?2, ?3, coalesce(?4, 0), ?5) ON CONFLICT (user_id) DO UPDATE"  \
                      " SET state = excluded.state, data = excluded.data,"                         \
                      " update_id = max(update_id, excluded.update_id),"                           \
                      " updated_ms = excluded.updated_ms")                                         \
    S(SESSION_GET, "SELECT state, data, update_id FROM sessions WHERE user_id = ?1")               \
    S(KV_RAISE, "INSERT INTO kv (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE"          \
                " SET value = max(value, excluded.value)")                                         \
    S(KV_GET, "SELECT value FROM kv WHERE key = ?1")                                               \
    S(RECOVER_RUNNING, "UPDATE jobs SET state = 'queued', key_id = NULL, progress = NULL"          \
                       " WHERE state = 'running'")                                                 \
    S(COUNT_STATE, "SELECT count(*) FROM jobs WHERE state = ?1")

typedef enum {
#define S_STMT_ENUM(id, text) S_##id,
    STORE_STATEMENTS(S_STMT_ENUM)
#undef S_STMT_ENUM
        S_COUNT_
} store_stmt_id_t;

struct store_s {
    sqlite3 *db;
    bool poisoned; //  the open batch must be rolled back and redone
    sqlite3_stmt *stmt[S_COUNT_];
};

//  The statement, reset and with its bindings cleared. Callers reset it
//  again when done (sqlite3_reset) so it holds no read transaction.
sqlite3_stmt *store_stmt(store_t *self, store_stmt_id_t id);

//  --- the request handlers ----------------------------------------------------

//  One request being applied.
typedef struct {
    store_t *store;
    const msg_t *req;
    const store_limits_t *limits;
    int64_t now;
} store_ctx_t;

typedef msg_t *(store_handler_fn)(store_ctx_t *ctx);

//  store_ops.c: what every handler uses.
msg_t *store_error(store_ctx_t *ctx, ledger_err_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
msg_t *store_sql_error(store_ctx_t *ctx, const char *what);
int store_step(store_t *store, store_stmt_id_t id, sqlite3_stmt *stmt);
int store_user(store_t *store, int64_t user_id, int64_t *balance, int64_t *held);
int store_move(store_ctx_t *ctx, int64_t user_id, const char *kind, int64_t d_balance,
               int64_t d_held, int64_t job_id, int64_t payment_id, const char *ref,
               const char *reason);
msg_t *store_ok(store_ctx_t *ctx, bool duplicate);
void store_bind_opt_str(sqlite3_stmt *stmt, int col, const msg_t *req, msg_field_t field);

//  store_jobs.c: the handlers of jobs and keys, for the table.
msg_t *store_op_jobs_claim(store_ctx_t *ctx);
msg_t *store_op_job_submitted(store_ctx_t *ctx);
msg_t *store_op_job_progress(store_ctx_t *ctx);
msg_t *store_op_job_status_msg(store_ctx_t *ctx);
msg_t *store_op_job_retry(store_ctx_t *ctx);
msg_t *store_op_job_succeeded(store_ctx_t *ctx);
msg_t *store_op_job_failed(store_ctx_t *ctx);
msg_t *store_op_job_cancel(store_ctx_t *ctx);
msg_t *store_op_job_delivered(store_ctx_t *ctx);
msg_t *store_op_job_told(store_ctx_t *ctx);
msg_t *store_op_jobs_untold(store_ctx_t *ctx);
msg_t *store_op_jobs_count(store_ctx_t *ctx);
msg_t *store_op_jobs_expire(store_ctx_t *ctx);
msg_t *store_op_key_health_save(store_ctx_t *ctx);
msg_t *store_op_key_health_load(store_ctx_t *ctx);
msg_t *store_op_job_get(store_ctx_t *ctx);
msg_t *store_op_jobs_list(store_ctx_t *ctx);

//  store_money.c: the handlers of money in and out, for the table.
msg_t *store_op_entries_list(store_ctx_t *ctx);
msg_t *store_op_payment_credit(store_ctx_t *ctx);
msg_t *store_op_admin_adjust(store_ctx_t *ctx);

#endif
