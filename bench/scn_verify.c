/*  scn_verify.c — after a scenario: the database, read-only, against what
    the simulated users saw, and the time from a KIE task's success to its
    video at the simulated Telegram.

    Checks (each one line of the report):
      every job ended delivered or refunded   no job queued/running/submitted/succeeded
      no video delivered twice                per job: one sendVideo / link, plus one
                                              for each time its user opened the finished
                                              job (the bot sends it again, by design)
      every delivered job reached its user    DB delivered ⇔ the user got it, once
      every refunded job was told             DB failed/cancelled ⇒ a failure notice
      balances = the bench's tally            balance = free − price × videos received,
                                              held = 0, for every user
      jobs = videos ordered                   jobs per user = Σ "Generating N" (no
                                              double order from ✅✅ or an old ✅)
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <inttypes.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scn.h"

void scn_verify_add(scn_verify_t *v, const char *name, bool ok, const char *fmt, ...) {
    if (v->count >= SCN_CHECKS_MAX) return;
    scn_check_t *c = &v->checks[v->count++];
    c->name = name;
    c->ok = ok;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->detail, sizeof c->detail, fmt, ap);
    va_end(ap);
    if (!ok) v->failed++;
}

void scn_verify_free(scn_verify_t *v) {
    scn_samples_free(&v->kie_to_tg);
}

static sqlite3 *s_open(const char *path) {
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 5000);
    return db;
}

//  " (e.g. #N)" when there is an example.
static void s_eg(char *out, size_t size, int64_t job) {
    if (job > 0)
        snprintf(out, size, " (e.g. #%" PRId64 ")", job);
    else
        out[0] = 0;
}

//  The user's row, by id: balance, held, jobs.
typedef struct {
    int64_t user_id, balance, held, jobs;
} s_row_t;

static int s_cmp_row(const void *a, const void *b) {
    int64_t x = ((const s_row_t *)a)->user_id, y = ((const s_row_t *)b)->user_id;
    return x < y ? -1 : x > y;
}

void scn_verify_db(scn_verify_t *v, const char *path, scn_driver_t *driver,
                   const scn_opts_t *opts) {
    sqlite3 *db = s_open(path);
    if (!db) {
        scn_verify_add(v, "database readable", false, "cannot open %s", path);
        return;
    }
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    //  jobs by state
    sqlite3_stmt *st = NULL;
    int64_t succeeded = 0, queued = 0, running = 0, submitted = 0;
    sqlite3_prepare_v2(db, "SELECT state, count(*) FROM jobs GROUP BY state", -1, &st, NULL);
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        const char *state = (const char *)sqlite3_column_text(st, 0);
        int64_t n = sqlite3_column_int64(st, 1);
        v->jobs += n;
        if (strcmp(state, "delivered") == 0)
            v->delivered = n;
        else if (strcmp(state, "failed") == 0)
            v->failed_jobs = n;
        else if (strcmp(state, "cancelled") == 0)
            v->cancelled = n;
        else if (strcmp(state, "succeeded") == 0)
            succeeded = n;
        else if (strcmp(state, "queued") == 0)
            queued = n;
        else if (strcmp(state, "running") == 0)
            running = n;
        else if (strcmp(state, "submitted") == 0)
            submitted = n;
    }
    sqlite3_finalize(st);
    v->active = queued + running + submitted + succeeded;
    scn_verify_add(v, "every job ended delivered or refunded", v->active == 0,
                   "%" PRId64 " jobs: %" PRId64 " delivered, %" PRId64 " failed, %" PRId64
                   " cancelled; left: %" PRId64 " queued, %" PRId64 " running, %" PRId64
                   " submitted, %" PRId64 " succeeded",
                   v->jobs, v->delivered, v->failed_jobs, v->cancelled, queued, running, submitted,
                   succeeded);

    //  each job against what its user saw
    size_t seen_n = 0;
    const scn_job_t *seen = scn_driver_jobs(driver, &seen_n);
    int64_t twice = 0, twice_job = 0, lost = 0, lost_job = 0, untold = 0, untold_job = 0;
    int64_t told_twice = 0, phantom = 0, phantom_job = 0;
    unsigned char *in_db = calloc(seen_n + 1, 1);
    st = NULL;
    sqlite3_prepare_v2(db, "SELECT job_id, state FROM jobs", -1, &st, NULL);
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        const char *state = (const char *)sqlite3_column_text(st, 1);
        const scn_job_t *job = id > 0 && (size_t)id < seen_n ? &seen[id] : NULL;
        int deliveries = job ? job->deliveries : 0;
        int failures = job ? job->failures : 0;
        if (job) in_db[id] = 1;
        if (strcmp(state, "delivered") == 0 && deliveries == 0) {
            lost++;
            lost_job = id;
        } else if ((strcmp(state, "failed") == 0 || strcmp(state, "cancelled") == 0)) {
            if (failures == 0) {
                untold++;
                untold_job = id;
            } else if (failures > 1)
                told_twice++;
            if (deliveries > 0) {
                phantom++;
                phantom_job = id;
            }
        }
        if (job && deliveries > 1 + job->reopened) {
            twice++;
            twice_job = id;
        }
    }
    sqlite3_finalize(st);
    for (size_t id = 1; id < seen_n; id++)
        if ((seen[id].deliveries || seen[id].failures) && !in_db[id]) {
            phantom++;
            phantom_job = (int64_t)id;
        }
    free(in_db);
    char eg_twice[48];
    s_eg(eg_twice, sizeof eg_twice, twice_job);
    scn_verify_add(v, "no video delivered twice", twice == 0, "%" PRId64 " jobs twice%s", twice,
                   eg_twice);
    char eg[3][48];
    s_eg(eg[0], sizeof eg[0], lost_job);
    s_eg(eg[1], sizeof eg[1], phantom_job);
    s_eg(eg[2], sizeof eg[2], untold_job);
    scn_verify_add(v, "every delivered job reached its user", lost == 0 && phantom == 0,
                   "%" PRId64 " delivered but not received%s, %" PRId64
                   " received but not delivered%s",
                   lost, eg[0], phantom, eg[1]);
    scn_verify_add(v, "every refunded job was told", untold == 0,
                   "%" PRId64 " refunded without a notice%s, %" PRId64 " told twice", untold, eg[2],
                   told_twice);

    //  balances and jobs per user against the tally
    size_t rows_n = 0, rows_cap = 1024;
    s_row_t *rows = malloc(rows_cap * sizeof *rows);
    if (!rows) abort();
    st = NULL;
    sqlite3_prepare_v2(db,
                       "SELECT u.user_id, u.balance, u.held, (SELECT count(*) FROM jobs j"
                       " WHERE j.user_id = u.user_id) FROM users u",
                       -1, &st, NULL);
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        if (rows_n == rows_cap) {
            rows_cap *= 2;
            s_row_t *grown = realloc(rows, rows_cap * sizeof *rows);
            if (!grown) abort();
            rows = grown;
        }
        rows[rows_n++] = (s_row_t){sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
                                   sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3)};
    }
    sqlite3_finalize(st);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    qsort(rows, rows_n, sizeof *rows, s_cmp_row);
    int64_t bad_balance = 0, bad_jobs = 0, users = 0;
    char first_balance[160] = "", first_jobs[160] = "";
    for (size_t i = 0; i < scn_driver_user_count(driver); i++) {
        const scn_tally_t *t = scn_driver_tally(driver, i);
        s_row_t key = {.user_id = t->id};
        s_row_t *row = bsearch(&key, rows, rows_n, sizeof *rows, s_cmp_row);
        if (!row) {
            if (t->jobs_expected || t->delivered) {
                bad_jobs++;
                if (!first_jobs[0])
                    snprintf(first_jobs, sizeof first_jobs, "user %" PRId64 " not in the database",
                             t->id);
            }
            continue;
        }
        users++;
        int64_t price = t->price > 0 ? t->price : 1;
        int64_t expect = opts->free_credits - price * t->delivered;
        if (row->balance != expect || row->held != 0) {
            if (!bad_balance++)
                snprintf(first_balance, sizeof first_balance,
                         "user %" PRId64 ": balance %" PRId64 " held %" PRId64 ", tally %" PRId64
                         " - %" PRId64 "x%" PRId64 " = %" PRId64 " held 0",
                         t->id, row->balance, row->held, opts->free_credits, price, t->delivered,
                         expect);
        }
        if (row->jobs != t->jobs_expected) {
            if (!bad_jobs++)
                snprintf(first_jobs, sizeof first_jobs,
                         "user %" PRId64 ": %" PRId64 " jobs, ordered %" PRId64, t->id, row->jobs,
                         t->jobs_expected);
        }
    }
    free(rows);
    scn_verify_add(v, "balances = the bench's tally (free - captured)", bad_balance == 0,
                   bad_balance ? "%" PRId64 " of %" PRId64 " users differ; %s"
                               : "%" PRId64 " of %" PRId64 " users differ%s",
                   bad_balance, users, first_balance);
    scn_verify_add(v, "jobs per user = videos ordered", bad_jobs == 0,
                   bad_jobs ? "%" PRId64 " users differ; %s" : "%" PRId64 " users differ%s",
                   bad_jobs, first_jobs);
}

//  The duration a task was given: its prompt's marker, else the default.
static int64_t s_task_ms(const char *prompt, int64_t fallback) {
    const char *p = prompt ? strstr(prompt, "[[sim:duration=") : NULL;
    return p ? strtoll(p + strlen("[[sim:duration="), NULL, 10) : fallback;
}

void scn_verify_kie(scn_verify_t *v, const char *path, kiesim_t *kie, scn_driver_t *driver,
                    int64_t clock_offset, int64_t default_task_ms) {
    sqlite3 *db = s_open(path);
    if (!db) return;
    json_t *by_task = json_object();
    sqlite3_stmt *st = NULL;
    sqlite3_prepare_v2(db,
                       "SELECT job_id, task_id FROM jobs WHERE state = 'delivered'"
                       " AND task_id IS NOT NULL",
                       -1, &st, NULL);
    while (st && sqlite3_step(st) == SQLITE_ROW)
        json_object_set_new(by_task, (const char *)sqlite3_column_text(st, 1),
                            json_integer(sqlite3_column_int64(st, 0)));
    sqlite3_finalize(st);
    sqlite3_close(db);
    size_t seen_n = 0;
    const scn_job_t *seen = scn_driver_jobs(driver, &seen_n);
    json_t *tasks = kiesim_tasks(kie);
    size_t i;
    json_t *task;
    json_array_foreach(tasks, i, task) {
        json_t *job = json_object_get(by_task, json_string_value(json_object_get(task, "taskId")));
        if (!job) continue;
        int64_t id = json_integer_value(job);
        if (id <= 0 || (size_t)id >= seen_n || !seen[id].delivered_ms) continue;
        int64_t done =
            json_integer_value(json_object_get(task, "createTime")) - clock_offset +
            s_task_ms(json_string_value(json_object_get(task, "prompt")), default_task_ms);
        int64_t ms = seen[id].delivered_ms - done;
        scn_samples_add(&v->kie_to_tg, (uint32_t)(ms > 0 ? ms : 0));
    }
    json_decref(tasks);
    json_decref(by_task);
}
