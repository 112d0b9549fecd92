/*  testutil.h — shared by the test suites: a temporary database, a default
    configuration, an injectable clock, and request builders for the ledger.
    Header-only so each suite stays one file.
*/
#ifndef GENBOT_TESTUTIL_H
#define GENBOT_TESTUTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <czmq.h>

#include "check.h"
#include "config.h"
#include "ledger.h"
#include "log.h"
#include "msg.h"

//  Heavy suites divide their iteration counts by GENBOT_TEST_SCALE (the
//  sanitizer runs set it; the plain `make test` runs at full size).
static inline long tu_scaled(long n) {
    const char *scale = getenv("GENBOT_TEST_SCALE");
    long s = scale ? atol(scale) : 1;
    return s > 1 ? (n / s > 0 ? n / s : 1) : n;
}

static inline const char *tu_empty_env(const char *name, void *arg) {
    (void)name;
    (void)arg;
    return NULL;
}

//  A fresh database path under /tmp (the files are removed by tu_db_remove).
static inline char *tu_db_path(const char *tag) {
    char *path = NULL;
    if (asprintf(&path, "/tmp/genbot-test-%s-%d-%ld.db", tag, (int)getpid(), random()) < 0) abort();
    return path;
}

static inline void tu_db_remove(const char *path) {
    char buf[512];
    unlink(path);
    snprintf(buf, sizeof buf, "%s-wal", path);
    unlink(buf);
    snprintf(buf, sizeof buf, "%s-shm", path);
    unlink(buf);
}

//  Default configuration pointing at db_path (owned by the config after).
static inline config_t *tu_config(const char *db_path) {
    char err[CONFIG_ERR_MAX];
    config_t *config = config_load(tu_empty_env, NULL, err);
    if (!config) {
        fprintf(stderr, "config: %s\n", err);
        abort();
    }
    free(config->db_path);
    config->db_path = strdup(db_path);
    //  every genbot of a test process publishes stats on a port of its own
    free(config->stats_bind);
    config->stats_bind = strdup("tcp://127.0.0.1:*");
    config->log_level = LOG_LEVEL_WARN;
    log_set_level(LOG_LEVEL_WARN);
    return config;
}

//  A clock the test moves by hand (ms since the epoch).
static _Atomic int64_t tu_now_ms = 1700000000000;
static inline int64_t tu_clock(void *arg) {
    (void)arg;
    return atomic_load(&tu_now_ms);
}

static inline msg_t *tu_touch(int64_t user_id) {
    msg_t *m = msg_new(MSG_K_USER_TOUCH, 0);
    msg_set_int(m, F_USER_ID, user_id);
    return m;
}

static inline msg_t *tu_order(int64_t user_id, const char *token, int64_t count, int64_t price) {
    msg_t *m = msg_new(MSG_K_ORDER_PLACE, 0);
    msg_set_int(m, F_USER_ID, user_id);
    msg_set_int(m, F_CHAT_ID, user_id);
    msg_set_str(m, F_ORDER_TOKEN, token);
    msg_set_str(m, F_MODEL, "sora-2-image-to-video");
    msg_set_int(m, F_PRICE, price);
    msg_set_int(m, F_COUNT, count);
    msg_set_str(m, F_PARAMS, "{\"prompt\":\"a bottle on a table\"}");
    return m;
}

static inline msg_t *tu_job_req(int kind, int64_t job_id) {
    msg_t *m = msg_new(kind, 0);
    msg_set_int(m, F_JOB_ID, job_id);
    return m;
}

static inline msg_t *tu_claim(const char *key_id, int64_t max_n) {
    msg_t *m = msg_new(MSG_K_JOBS_CLAIM, 0);
    msg_set_str(m, F_KEY_ID, key_id);
    msg_set_int(m, F_MAX_N, max_n);
    return m;
}

static inline msg_t *tu_submitted(int64_t job_id, const char *task_id) {
    msg_t *m = tu_job_req(MSG_K_JOB_SUBMITTED, job_id);
    msg_set_str(m, F_TASK_ID, task_id);
    return m;
}

static inline msg_t *tu_failed(int64_t job_id, const char *err_class) {
    msg_t *m = tu_job_req(MSG_K_JOB_FAILED, job_id);
    msg_set_str(m, F_ERR_CLASS, err_class);
    return m;
}

static inline msg_t *tu_cancel(int64_t job_id, int64_t user_id) {
    msg_t *m = tu_job_req(MSG_K_JOB_CANCEL, job_id);
    msg_set_int(m, F_USER_ID, user_id);
    return m;
}

static inline msg_t *tu_payment(int64_t user_id, const char *charge_id, int64_t credits) {
    msg_t *m = msg_new(MSG_K_PAYMENT_CREDIT, 0);
    msg_set_int(m, F_USER_ID, user_id);
    msg_set_str(m, F_PROVIDER, "stars");
    msg_set_str(m, F_CHARGE_ID, charge_id);
    msg_set_int(m, F_AMOUNT, credits * 50);
    msg_set_int(m, F_CREDITS, credits);
    return m;
}

static inline msg_t *tu_adjust(int64_t user_id, int64_t delta, const char *ref) {
    msg_t *m = msg_new(MSG_K_ADMIN_ADJUST, 0);
    msg_set_int(m, F_USER_ID, user_id);
    msg_set_int(m, F_DELTA, delta);
    msg_set_str(m, F_REASON, "test");
    msg_set_str(m, F_REF, ref);
    msg_set_int(m, F_ADMIN_ID, 1);
    return m;
}

//  The error code of a reply (0 when it is not an error).
static inline int tu_code(const msg_t *reply) {
    return reply && msg_kind(reply) == MSG_K_ERROR ? (int)msg_int(reply, F_CODE) : 0;
}

//  genbot check on the file; fails the test with the report otherwise.
static inline void tu_assert_check(const char *path) {
    char report[1024];
    int rc = check_db(path, report, sizeof report, NULL);
    if (rc != 0) fail_msg("genbot check: %s", report);
}

#endif
