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
#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
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

//  The environment that makes `genbot run` use this configuration (the
//  knobs tests change; the rest keep their defaults). NULL-terminated,
//  strings malloc'd; free with tu_env_free.
static inline char **tu_config_env(const config_t *c) {
    char **env = calloc(64, sizeof(char *));
    size_t n = 0;
#define TU_ENV(...)                                                                                \
    do {                                                                                           \
        if (asprintf(&env[n], __VA_ARGS__) >= 0) n++;                                              \
    } while (0)
    TU_ENV("PATH=/usr/bin:/bin");
    if (c->telegram_bot_token) TU_ENV("TELEGRAM_BOT_TOKEN=%s", c->telegram_bot_token);
    TU_ENV("TELEGRAM_API_URL=%s", c->telegram_api_url);
    TU_ENV("GENBOT_TG_POLL_TIMEOUT_S=%lld", (long long)c->tg_poll_timeout_s);
    if (c->kie_api_key_count) {
        char keys[2048] = "";
        for (size_t i = 0; i < c->kie_api_key_count; i++)
            snprintf(keys + strlen(keys), sizeof keys - strlen(keys), "%s%s", i ? "," : "",
                     c->kie_api_keys[i]);
        TU_ENV("KIE_API_KEYS=%s", keys);
    }
    TU_ENV("KIE_API_URL=%s", c->kie_api_url);
    TU_ENV("KIE_UPLOAD_URL=%s", c->kie_upload_url);
    TU_ENV("GENBOT_DB=%s", c->db_path);
    TU_ENV("GENBOT_FREE_CREDITS=%lld", (long long)c->free_credits);
    //  a port of its own, most likely free; genbot goes on if it is not
    TU_ENV("GENBOT_STATS_BIND=tcp://127.0.0.1:%d", 20000 + (int)(random() % 30000));
    TU_ENV("GENBOT_KIE_POLL_MS=%lld", (long long)c->kie_poll_ms);
    TU_ENV("GENBOT_KIE_POLL_MAX_MS=%lld", (long long)c->kie_poll_max_ms);
    TU_ENV("GENBOT_KIE_MAX_TASK_S=%lld", (long long)c->kie_max_task_s);
    TU_ENV("GENBOT_RETRY_BASE_MS=%lld", (long long)c->retry_base_ms);
    TU_ENV("GENBOT_MAX_ATTEMPTS=%lld", (long long)c->max_attempts);
    TU_ENV("GENBOT_KEY_COOLDOWN_S=%lld", (long long)c->key_cooldown_s);
    TU_ENV("GENBOT_KEY_BILLING_COOLDOWN_S=%lld", (long long)c->key_billing_cooldown_s);
    TU_ENV("GENBOT_QUEUE_MAX_WAIT_S=%lld", (long long)c->queue_max_wait_s);
    TU_ENV("GENBOT_TG_RATE=%lld", (long long)c->tg_rate);
    TU_ENV("GENBOT_TG_CHAT_RATE=%lld", (long long)c->tg_chat_rate);
    TU_ENV("GENBOT_LIMIT_ACTIVE=%lld", (long long)c->limit_active);
    TU_ENV("GENBOT_LIMIT_PER_MIN=%lld", (long long)c->limit_per_min);
    TU_ENV("GENBOT_SESSIONS=%lld", (long long)c->sessions);
    TU_ENV("GENBOT_SYNC=%s", c->sync_full > 0 ? "full" : c->sync_full == 0 ? "normal" : "off");
    TU_ENV("GENBOT_LOG_LEVEL=warn");
    TU_ENV("GENBOT_LEDGER_BATCH=%lld", (long long)c->ledger_batch_max);
    TU_ENV("GENBOT_KEY_SLOTS=%lld", (long long)c->key_slots);
    TU_ENV("GENBOT_KEY_CREATE_PER_10S=%lld", (long long)c->key_create_per_10s);
    TU_ENV("GENBOT_FLOOD_PER_10S=%lld", (long long)c->flood_per_10s);
    const char *asan = getenv("ASAN_OPTIONS");
    if (asan) TU_ENV("ASAN_OPTIONS=%s", asan);
#undef TU_ENV
    env[n] = NULL;
    return env;
}

static inline void tu_env_free(char **env) {
    for (size_t i = 0; env && env[i]; i++)
        free(env[i]);
    free(env);
}

//  Starts `genbot run` (the binary built beside this test: BUILD/genbot)
//  as a child process with config. A fresh program, not a fork of this
//  one: a forked child of a threaded process can inherit locks held by
//  other threads (the sanitizers' allocator among them) and hang. The
//  child dies with the test. Returns its pid.
static inline pid_t tu_spawn_genbot(const config_t *config) {
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 16);
    if (len <= 0) abort();
    exe[len] = 0;
    for (int up = 0; up < 2; up++) //  BUILD/tests/test_x -> BUILD
        *strrchr(exe, '/') = 0;
    strcat(exe, "/genbot");
    char **env = tu_config_env(config);
    char *argv[] = {exe, (char *)"run", NULL};
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(4);
        execve(exe, argv, env);
        _exit(127);
    }
    tu_env_free(env);
    return pid;
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
