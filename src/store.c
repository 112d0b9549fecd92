/*  store.c — SQLite backend of store.h: connection, schema, migrations,
    transactions and the prepared statements every request uses. The
    request handlers live in store_ops.c (the table, users, orders,
    sessions), store_jobs.c and store_money.c.
*/
#include "store_internal.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Schema by version: element i migrates from user_version i to i + 1.
//  Add a migration by appending a row; never edit a released one.
//  64 MB of page cache keeps the hot indexes in memory; checkpoints every
//  ~16 MB of WAL instead of SQLite's 4 MB make them rarer and larger.
#define STORE_CACHE_KB         "65536"
#define STORE_CHECKPOINT_PAGES "4000"

static const char *s_migrations[] = {
    //  0 → 1
    "CREATE TABLE users ("
    "  user_id    INTEGER PRIMARY KEY,"
    "  lang       TEXT NOT NULL DEFAULT '',"
    "  first_name TEXT NOT NULL DEFAULT '',"
    "  username   TEXT NOT NULL DEFAULT '',"
    "  balance    INTEGER NOT NULL DEFAULT 0 CHECK (balance >= 0),"
    "  held       INTEGER NOT NULL DEFAULT 0 CHECK (held >= 0),"
    "  blocked    INTEGER NOT NULL DEFAULT 0,"
    "  created_ms INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL);"
    "CREATE TABLE entries ("
    "  entry_id   INTEGER PRIMARY KEY,"
    "  user_id    INTEGER NOT NULL,"
    "  kind       TEXT NOT NULL CHECK (kind IN ('grant','topup','hold','capture',"
    "             'release','adjust','refund_payment')),"
    "  d_balance  INTEGER NOT NULL,"
    "  d_held     INTEGER NOT NULL,"
    "  job_id     INTEGER,"
    "  payment_id INTEGER,"
    "  ref        TEXT NOT NULL UNIQUE,"
    "  reason     TEXT,"
    "  created_ms INTEGER NOT NULL);"
    "CREATE INDEX entries_user ON entries (user_id, entry_id);"
    "CREATE INDEX entries_job ON entries (job_id) WHERE job_id IS NOT NULL;"
    "CREATE TABLE jobs ("
    "  job_id      INTEGER PRIMARY KEY,"
    "  user_id     INTEGER NOT NULL,"
    "  chat_id     INTEGER NOT NULL,"
    "  order_token TEXT NOT NULL,"
    "  idx         INTEGER NOT NULL,"
    "  model       TEXT NOT NULL,"
    "  params      TEXT NOT NULL DEFAULT '',"
    "  price       INTEGER NOT NULL CHECK (price >= 0),"
    "  state       TEXT NOT NULL CHECK (state IN ('queued','running','submitted',"
    "              'succeeded','delivered','failed','cancelled')),"
    "  attempts    INTEGER NOT NULL DEFAULT 0,"
    "  next_at_ms  INTEGER NOT NULL,"
    "  key_id      TEXT,"
    "  task_id     TEXT,"
    "  progress    INTEGER,"
    "  result_url  TEXT,"
    "  err_class   TEXT,"
    "  err_detail  TEXT,"
    "  status_msg  INTEGER,"
    "  told        INTEGER NOT NULL DEFAULT 0,"
    "  created_ms  INTEGER NOT NULL,"
    "  updated_ms  INTEGER NOT NULL);"
    "CREATE UNIQUE INDEX jobs_order ON jobs (user_id, order_token, idx);"
    "CREATE INDEX jobs_user ON jobs (user_id, created_ms);"
    "CREATE INDEX jobs_state ON jobs (state, job_id);"
    "CREATE INDEX jobs_untold ON jobs (job_id) WHERE state = 'failed' AND told = 0;"
    "CREATE INDEX jobs_active ON jobs (user_id)"
    "  WHERE state IN ('queued','running','submitted');"
    "CREATE TABLE payments ("
    "  payment_id  INTEGER PRIMARY KEY,"
    "  provider    TEXT NOT NULL,"
    "  charge_id   TEXT NOT NULL,"
    "  user_id     INTEGER NOT NULL,"
    "  amount      INTEGER NOT NULL,"
    "  credits     INTEGER NOT NULL,"
    "  state       TEXT NOT NULL DEFAULT 'credited',"
    "  approved_by INTEGER,"
    "  created_ms  INTEGER NOT NULL,"
    "  UNIQUE (provider, charge_id));"
    "CREATE TABLE sessions ("
    "  user_id    INTEGER PRIMARY KEY,"
    "  state      TEXT NOT NULL,"
    "  data       BLOB NOT NULL,"
    "  update_id  INTEGER NOT NULL DEFAULT 0,"
    "  updated_ms INTEGER NOT NULL);"
    "CREATE TABLE kv (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "CREATE TABLE api_keys ("
    "  fingerprint    TEXT PRIMARY KEY,"
    "  health         TEXT NOT NULL DEFAULT 'healthy',"
    "  cooldown_until INTEGER NOT NULL DEFAULT 0,"
    "  updated_ms     INTEGER NOT NULL DEFAULT 0);",
};
#define S_MIGRATION_COUNT (sizeof(s_migrations) / sizeof(s_migrations[0]))
_Static_assert(S_MIGRATION_COUNT == STORE_SCHEMA_VERSION, "one migration per schema version");

//  Every statement the store runs, prepared once at open.
static const char *s_sql[] = {
#define S_SQL_TEXT(id, text) text,
    STORE_STATEMENTS(S_SQL_TEXT)
#undef S_SQL_TEXT
};

static int s_exec(store_t *self, const char *sql);

//  Each connection is used by one thread only (the ledger's; check and
//  tools open their own), so SQLite's own mutexes are pure cost: multi-
//  thread mode and no memory statistics. Must run before SQLite starts.
static pthread_once_t s_sqlite_once = PTHREAD_ONCE_INIT;
static void s_sqlite_init(void) {
    sqlite3_config(SQLITE_CONFIG_MULTITHREAD);
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

store_t *store_open(const char *path, int sync, char *err, size_t err_size) {
    assert(path && err);
    pthread_once(&s_sqlite_once, s_sqlite_init);
    store_t *self = (store_t *)calloc(1, sizeof(store_t));
    assert(self);
    int rc = sqlite3_open_v2(
        path, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, err_size, "cannot open %s: %s", path,
                 self->db ? sqlite3_errmsg(self->db) : sqlite3_errstr(rc));
        store_destroy(&self);
        return NULL;
    }
    sqlite3_busy_timeout(self->db, 5000);
    const char *sync_sql = sync > 0    ? "PRAGMA synchronous=FULL"
                           : sync == 0 ? "PRAGMA synchronous=NORMAL"
                                       : "PRAGMA synchronous=OFF";
    //  WAL: readers (genbot check, tools) never block the one writer.
    if (s_exec(self, "PRAGMA journal_mode=WAL") || s_exec(self, sync_sql) ||
        s_exec(self, "PRAGMA foreign_keys=OFF") || s_exec(self, "PRAGMA temp_store=MEMORY") ||
        s_exec(self, "PRAGMA cache_size=-" STORE_CACHE_KB) ||
        s_exec(self, "PRAGMA wal_autocheckpoint=" STORE_CHECKPOINT_PAGES)) {
        snprintf(err, err_size, "cannot configure %s: %s", path, sqlite3_errmsg(self->db));
        store_destroy(&self);
        return NULL;
    }
    //  Migrate by PRAGMA user_version, each step in its own transaction.
    sqlite3_stmt *stmt = NULL;
    int version = 0;
    if (sqlite3_prepare_v2(self->db, "PRAGMA user_version", -1, &stmt, NULL) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW)
        version = sqlite3_column_int(stmt, 0);
    sqlite3_finalize(stmt);
    if (version > STORE_SCHEMA_VERSION) {
        snprintf(err, err_size, "%s has schema version %d, newer than this genbot (%d)", path,
                 version, STORE_SCHEMA_VERSION);
        store_destroy(&self);
        return NULL;
    }
    for (; version < STORE_SCHEMA_VERSION; version++) {
        char bump[64];
        snprintf(bump, sizeof bump, "PRAGMA user_version=%d", version + 1);
        if (s_exec(self, "BEGIN IMMEDIATE") || s_exec(self, s_migrations[version]) ||
            s_exec(self, bump) || s_exec(self, "COMMIT")) {
            snprintf(err, err_size, "migration %d→%d of %s failed: %s", version, version + 1, path,
                     sqlite3_errmsg(self->db));
            s_exec(self, "ROLLBACK");
            store_destroy(&self);
            return NULL;
        }
    }
    for (int i = 0; i < S_COUNT_; i++) {
        if (sqlite3_prepare_v3(self->db, s_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &self->stmt[i],
                               NULL) != SQLITE_OK) {
            snprintf(err, err_size, "cannot prepare statement %d: %s", i, sqlite3_errmsg(self->db));
            store_destroy(&self);
            return NULL;
        }
    }
    return self;
}

void store_destroy(store_t **self_p) {
    assert(self_p);
    store_t *self = *self_p;
    if (!self) return;
    for (int i = 0; i < S_COUNT_; i++)
        sqlite3_finalize(self->stmt[i]);
    if (self->db) sqlite3_close(self->db);
    free(self);
    *self_p = NULL;
}

int store_begin(store_t *self) {
    self->poisoned = false;
    return s_exec(self, "BEGIN IMMEDIATE");
}

bool store_poisoned(const store_t *self) {
    return self->poisoned;
}

int store_commit(store_t *self) {
    return s_exec(self, "COMMIT");
}

void store_rollback(store_t *self) {
    if (!sqlite3_get_autocommit(self->db)) s_exec(self, "ROLLBACK");
}

int store_recover(store_t *self, store_recovery_t *counts) {
    memset(counts, 0, sizeof *counts);
    if (store_begin(self)) return -1;
    sqlite3_stmt *stmt = store_stmt(self, S_RECOVER_RUNNING);
    if (sqlite3_step(stmt) != SQLITE_DONE) {
        sqlite3_reset(stmt);
        store_rollback(self);
        return -1;
    }
    counts->requeued = sqlite3_changes(self->db);
    sqlite3_reset(stmt);
    stmt = store_stmt(self, S_COUNT_STATE);
    sqlite3_bind_text(stmt, 1, "submitted", -1, SQLITE_STATIC);
    if (sqlite3_step(stmt) == SQLITE_ROW) counts->submitted = sqlite3_column_int64(stmt, 0);
    sqlite3_reset(stmt);
    sqlite3_bind_text(stmt, 1, "succeeded", -1, SQLITE_STATIC);
    if (sqlite3_step(stmt) == SQLITE_ROW) counts->to_deliver = sqlite3_column_int64(stmt, 0);
    sqlite3_reset(stmt);
    return store_commit(self);
}

const char *store_errmsg(store_t *self) {
    return sqlite3_errmsg(self->db);
}

sqlite3_stmt *store_stmt(store_t *self, store_stmt_id_t id) {
    sqlite3_stmt *stmt = self->stmt[id];
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return stmt;
}

static int s_exec(store_t *self, const char *sql) {
    return sqlite3_exec(self->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}
