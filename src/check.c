/*  check.c — the invariants of DESIGN.md, checked on a database file with
    plain SQL (read-only; safe while genbot runs, thanks to WAL). Each
    invariant is one row of the table below: a query that returns the first
    violating row as (subject, detail), or nothing when the invariant holds.
*/
#include "check.h"

#include <sqlite3.h>
#include <stdio.h>

#define S_ACTIVE "('queued','running','submitted')"

static const struct {
    const char *name;
    const char *sql;
} s_invariants[] = {
    {"1. balance and held are never negative",
     "SELECT 'user ' || user_id, 'balance ' || balance || ', held ' || held FROM users"
     " WHERE balance < 0 OR held < 0 LIMIT 1"},
    {"1. balance = sum of d_balance, held = sum of d_held",
     "SELECT 'user ' || u.user_id, 'balance ' || u.balance || ' vs entries ' || e.b"
     " || ', held ' || u.held || ' vs entries ' || e.h FROM users u"
     " LEFT JOIN (SELECT user_id, sum(d_balance) b, sum(d_held) h FROM entries"
     " GROUP BY user_id) e USING (user_id)"
     " WHERE u.balance <> coalesce(e.b, 0) OR u.held <> coalesce(e.h, 0) LIMIT 1"},
    {"1. every entry belongs to a user",
     "SELECT 'entry ' || entry_id, 'user ' || user_id || ' does not exist' FROM entries"
     " WHERE user_id NOT IN (SELECT user_id FROM users) LIMIT 1"},
    {"2. held = sum of prices of queued/running/submitted jobs",
     "SELECT 'user ' || u.user_id, 'held ' || u.held || ' vs active jobs ' || coalesce(j.p, 0)"
     " FROM users u LEFT JOIN (SELECT user_id, sum(price) p FROM jobs WHERE state IN " S_ACTIVE
     " GROUP BY user_id) j USING (user_id) WHERE u.held <> coalesce(j.p, 0) LIMIT 1"},
    {"3. one hold per job; one capture if succeeded/delivered, one release if failed/cancelled",
     "SELECT 'job ' || j.job_id, j.state || ': ' || coalesce(e.holds, 0) || ' hold, '"
     " || coalesce(e.captures, 0) || ' capture, ' || coalesce(e.releases, 0) || ' release'"
     " FROM jobs j LEFT JOIN (SELECT job_id, sum(kind = 'hold') holds,"
     " sum(kind = 'capture') captures, sum(kind = 'release') releases FROM entries"
     " WHERE job_id IS NOT NULL GROUP BY job_id) e USING (job_id)"
     " WHERE coalesce(e.holds, 0) <> 1 OR coalesce(e.captures, 0) <>"
     " (j.state IN ('succeeded','delivered')) OR coalesce(e.releases, 0) <>"
     " (j.state IN ('failed','cancelled')) LIMIT 1"},
    {"3. job entries move exactly the job's price",
     "SELECT 'job ' || j.job_id, e.kind || ' moves ' || e.d_balance || '/' || e.d_held"
     " || ' for price ' || j.price FROM entries e JOIN jobs j USING (job_id)"
     " WHERE (e.kind = 'hold' AND (e.d_balance <> -j.price OR e.d_held <> j.price))"
     " OR (e.kind = 'capture' AND (e.d_balance <> 0 OR e.d_held <> -j.price))"
     " OR (e.kind = 'release' AND (e.d_balance <> j.price OR e.d_held <> -j.price))"
     " OR (e.kind NOT IN ('hold','capture','release')) OR e.user_id <> j.user_id LIMIT 1"},
    {"4. a provider charge is credited exactly once",
     "SELECT 'payment ' || p.provider || ':' || p.charge_id, count(e.entry_id) || ' topups'"
     " FROM payments p LEFT JOIN entries e ON e.payment_id = p.payment_id"
     " AND e.kind = 'topup' GROUP BY p.payment_id HAVING count(e.entry_id) <> 1 LIMIT 1"},
    {"4. an order token created its jobs once (indexes 0..n-1)",
     "SELECT 'order ' || order_token || ' of user ' || user_id, count(*) || ' jobs, indexes '"
     " || min(idx) || '..' || max(idx) FROM jobs GROUP BY user_id, order_token"
     " HAVING min(idx) <> 0 OR max(idx) <> count(*) - 1 LIMIT 1"},
};

static long s_count(sqlite3 *db, const char *table) {
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    sqlite3_stmt *stmt = NULL;
    long n = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW)
        n = (long)sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return n;
}

int check_db(const char *path, char *report, size_t size, check_totals_t *totals) {
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        snprintf(report, size, "cannot open %s: %s", path,
                 db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return -1;
    }
    sqlite3_busy_timeout(db, 5000);
    int rc = 0;
    //  One read transaction: every invariant is checked on the same snapshot.
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    check_totals_t counts = {s_count(db, "users"), s_count(db, "jobs"), s_count(db, "entries"),
                             s_count(db, "payments")};
    if (counts.users < 0) {
        snprintf(report, size, "%s is not a genbot database: %s", path, sqlite3_errmsg(db));
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < sizeof s_invariants / sizeof s_invariants[0]; i++) {
        sqlite3_stmt *stmt = NULL;
        if (sqlite3_prepare_v2(db, s_invariants[i].sql, -1, &stmt, NULL) != SQLITE_OK) {
            snprintf(report, size, "cannot check \"%s\": %s", s_invariants[i].name,
                     sqlite3_errmsg(db));
            rc = -1;
        } else {
            int step = sqlite3_step(stmt);
            if (step == SQLITE_ROW) {
                snprintf(report, size, "%s: %s (invariant %s)", sqlite3_column_text(stmt, 0),
                         sqlite3_column_text(stmt, 1), s_invariants[i].name);
                rc = 1;
            } else if (step != SQLITE_DONE) {
                snprintf(report, size, "cannot check \"%s\": %s", s_invariants[i].name,
                         sqlite3_errmsg(db));
                rc = -1;
            }
        }
        sqlite3_finalize(stmt);
    }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    if (rc == 0)
        snprintf(report, size, "ok: %ld users, %ld jobs, %ld entries, %ld payments", counts.users,
                 counts.jobs, counts.entries, counts.payments);
    if (totals) *totals = counts;
    return rc;
}
