/*  scn_main.c — genbot-bench interactive | orders | fanout | faults.

    genbot-bench SCENARIO [--users N] [--duration S] [--think-ms MS] [--rate R]
        [--kie-task-ms MS|MIN-MAX] [--kie-fail content=P,temporary=P]
        [--tg-limits on|off] [--tg-faults server=P,drop=P]
        [--kie-faults server=P,gateway=P,drop=P] [--videos N] [--keys N]
        [--key-slots N] [--key-create N] [--sessions N] [--sync full|normal|off]
        [--ramp S] [--drain S] [--poll-ms FIRST[,MAX]] [--free-credits N]
        [--env NAME=VALUE]... [--perf FILE] [--wrap CMD] [--keep] [--seed N]
        [--json]

    The simulated Telegram and KIE run in this process; genbot runs as a
    child (`genbot run` next to this binary) with a temporary database and
    free ports, configured for the scenario. N users go through the chat
    from this process (scn_users.c). After the load phase nothing new is
    started, in-flight generations are waited for (--drain bounds it),
    genbot gets SIGTERM, and the database is verified (scn_verify.c). Exit 1
    when a verification fails, 64 on a bad option.

    Scenarios (defaults; every option overrides):
      interactive  1000 users browse the menu (/start, /menu, /balance, 👤,
                   📜, 🖼, /help), think 0, Telegram limits off. Two halves:
                   closed loop (throughput), then at half that rate (latency).
      orders       200 users order videos (1/3/5) end to end, KIE tasks 1-5 s,
                   5 % content and 5 % temporary failures; they browse 🖼,
                   press ✅ twice, press an old order's ✅, hit the limits.
      fanout       2000 users × 5 videos, KIE tasks 60 s, 20 keys × 600
                   slots: 10,000 generations at once. RSS, CPU, polls/s, KIE
                   success → video at Telegram.
      faults       50 users ordering with Telegram limits on (30/s, 1/s per
                   chat), Telegram 500/502s and dropped connections, KIE
                   500s, 502 pages and drops, 10 % temporary failures.

    genbot's environment: the simulators' URLs and token, --keys KIE keys
    (each known to kiesim with a createTask limit of --key-create per 10 s),
    GENBOT_DB in a temporary directory, free ports for GENBOT_STATS_BIND and
    GENBOT_HTTP_BIND, GENBOT_TG_RATE/GENBOT_TG_CHAT_RATE 30/1 with limits on
    (100000/1000 off), GENBOT_FLOOD_PER_10S 100000 (users here act faster
    than people), poll, retry and cooldown delays for seconds-long tasks,
    GENBOT_LOG_LEVEL=warn (genbot.log in the run's directory); --env last.

    Measured: updates/s (answers received while a phase ran), update →
    first answer latency from tgsim_update_times, orders/s, generations/s,
    genbot's CPU per update from /proc/<pid>/stat (utime+stime) and per
    thread, peak RSS (VmHWM), KIE polls/s and peak tasks in flight
    (kiesim_stats), and KIE success → video at Telegram: kiesim runs on a
    clock that is CLOCK_MONOTONIC + a known offset, so a task's createTime
    minus that offset plus its duration is its success on tgsim's clock.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <getopt.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "scn.h"

#define S_KEY_FORMAT "bench-kie-key-%02d-0123456789abcdef"

//  --- defaults -------------------------------------------------------------------

static void s_defaults(scn_opts_t *o, const char *name) {
    *o = (scn_opts_t){.name = name,
                      .users = 200,
                      .duration_s = 20,
                      .ramp_s = 1,
                      .think_ms = 200,
                      .task_min_ms = 1000,
                      .task_max_ms = 5000,
                      .fail_content = 0.05,
                      .fail_temporary = 0.05,
                      .keys = 4,
                      .key_slots = 100,
                      .key_create_per_10s = 1000,
                      .sessions = 2,
                      .sync = "full",
                      .free_credits = 1000,
                      .flood_per_10s = 100000,
                      .limit_active = 5,
                      .limit_per_min = 10,
                      .poll_ms = 500,
                      .poll_max_ms = 2000,
                      .drain_s = 60,
                      .step_timeout_ms = 30000,
                      .p_double = 0.1,
                      .p_old = 0.1,
                      .p_browse = 0.3,
                      .p_wait = 0.6,
                      .p_own = 0.1,
                      .seed = 0x5eed};
    if (strcmp(name, "interactive") == 0) {
        o->mode = SCN_MODE_INTERACTIVE;
        o->users = 1000;
        o->think_ms = 0;
        o->keys = 1;
        o->free_credits = 2;
        o->drain_s = 10;
    } else if (strcmp(name, "orders") == 0) {
        o->mode = SCN_MODE_ORDERS;
    } else if (strcmp(name, "fanout") == 0) {
        o->mode = SCN_MODE_FANOUT;
        o->users = 2000;
        o->videos = 5;
        o->duration_s = 30;
        o->ramp_s = 10;
        o->think_ms = 50;
        o->task_min_ms = o->task_max_ms = 60000;
        o->fail_content = o->fail_temporary = 0;
        o->keys = 20;
        o->key_slots = 600;
        o->free_credits = 10;
        o->poll_ms = 2000;
        o->poll_max_ms = 10000;
        o->drain_s = 300;
        o->step_timeout_ms = 60000;
    } else if (strcmp(name, "faults") == 0) {
        o->mode = SCN_MODE_ORDERS;
        o->users = 50;
        o->duration_s = 30;
        o->think_ms = 300;
        o->fail_temporary = 0.1;
        o->tg_limits = true;
        o->tg_p_server_error = 0.03;
        o->tg_p_drop = 0.03;
        o->kie_p_server_error = 0.03;
        o->kie_p_gateway_error = 0.03;
        o->kie_p_drop = 0.03;
        o->drain_s = 120;
        o->step_timeout_ms = 60000;
    }
}

//  "a=0.1,b=0.2" into the named doubles; -1 on an unknown name.
static int s_pairs(const char *text, const char *const *names, double *const *values) {
    char *copy = strdup(text), *save = NULL;
    int rc = 0;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(t, '=');
        bool found = false;
        if (eq) {
            *eq = 0;
            for (int i = 0; names[i]; i++)
                if (strcmp(t, names[i]) == 0) {
                    *values[i] = atof(eq + 1);
                    found = true;
                }
        }
        if (!found) rc = -1;
    }
    free(copy);
    return rc;
}

static int s_usage(const char *name) {
    fprintf(stderr,
            "usage: genbot-bench %s [--users N] [--duration S] [--think-ms MS] [--rate R]\n"
            "  [--kie-task-ms MS|MIN-MAX] [--kie-fail content=P,temporary=P]\n"
            "  [--tg-limits on|off] [--tg-faults server=P,drop=P]\n"
            "  [--kie-faults server=P,gateway=P,drop=P] [--videos N] [--keys N]\n"
            "  [--key-slots N] [--key-create N] [--sessions N] [--sync full|normal|off]\n"
            "  [--ramp S] [--drain S] [--poll-ms FIRST[,MAX]] [--free-credits N]\n"
            "  [--env NAME=VALUE]... [--perf FILE] [--wrap CMD] [--keep] [--seed N] [--json]\n",
            name);
    return 64;
}

static int s_parse(scn_opts_t *o, int argc, char **argv) {
    enum {
        O_USERS = 1000,
        O_DURATION,
        O_THINK,
        O_RATE,
        O_TASK,
        O_FAIL,
        O_LIMITS,
        O_TG_FAULTS,
        O_KIE_FAULTS,
        O_VIDEOS,
        O_KEYS,
        O_SLOTS,
        O_CREATE,
        O_SESSIONS,
        O_SYNC,
        O_RAMP,
        O_DRAIN,
        O_POLL,
        O_FREE,
        O_ENV,
        O_PERF,
        O_WRAP,
        O_KEEP,
        O_SEED,
        O_JSON
    };
    static const struct option longopts[] = {{"users", required_argument, NULL, O_USERS},
                                             {"duration", required_argument, NULL, O_DURATION},
                                             {"think-ms", required_argument, NULL, O_THINK},
                                             {"rate", required_argument, NULL, O_RATE},
                                             {"kie-task-ms", required_argument, NULL, O_TASK},
                                             {"kie-fail", required_argument, NULL, O_FAIL},
                                             {"tg-limits", required_argument, NULL, O_LIMITS},
                                             {"tg-faults", required_argument, NULL, O_TG_FAULTS},
                                             {"kie-faults", required_argument, NULL, O_KIE_FAULTS},
                                             {"videos", required_argument, NULL, O_VIDEOS},
                                             {"keys", required_argument, NULL, O_KEYS},
                                             {"key-slots", required_argument, NULL, O_SLOTS},
                                             {"key-create", required_argument, NULL, O_CREATE},
                                             {"sessions", required_argument, NULL, O_SESSIONS},
                                             {"sync", required_argument, NULL, O_SYNC},
                                             {"ramp", required_argument, NULL, O_RAMP},
                                             {"drain", required_argument, NULL, O_DRAIN},
                                             {"poll-ms", required_argument, NULL, O_POLL},
                                             {"free-credits", required_argument, NULL, O_FREE},
                                             {"env", required_argument, NULL, O_ENV},
                                             {"perf", required_argument, NULL, O_PERF},
                                             {"wrap", required_argument, NULL, O_WRAP},
                                             {"keep", no_argument, NULL, O_KEEP},
                                             {"seed", required_argument, NULL, O_SEED},
                                             {"json", no_argument, NULL, O_JSON},
                                             {NULL, 0, NULL, 0}};
    optind = 1;
    int opt;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case O_USERS:
            o->users = atoi(optarg);
            break;
        case O_DURATION:
            o->duration_s = atof(optarg);
            break;
        case O_THINK:
            o->think_ms = atoi(optarg);
            break;
        case O_RATE:
            o->rate = atof(optarg);
            break;
        case O_TASK: {
            char *dash = strchr(optarg, '-');
            o->task_min_ms = atoll(optarg);
            o->task_max_ms = dash ? atoll(dash + 1) : o->task_min_ms;
            break;
        }
        case O_FAIL: {
            const char *names[] = {"content", "temporary", NULL};
            double *values[] = {&o->fail_content, &o->fail_temporary};
            o->fail_content = o->fail_temporary = 0;
            if (s_pairs(optarg, names, values)) return s_usage(o->name);
            break;
        }
        case O_LIMITS:
            if (strcmp(optarg, "on") && strcmp(optarg, "off")) return s_usage(o->name);
            o->tg_limits = strcmp(optarg, "on") == 0;
            break;
        case O_TG_FAULTS: {
            const char *names[] = {"server", "drop", NULL};
            double *values[] = {&o->tg_p_server_error, &o->tg_p_drop};
            o->tg_p_server_error = o->tg_p_drop = 0;
            if (s_pairs(optarg, names, values)) return s_usage(o->name);
            break;
        }
        case O_KIE_FAULTS: {
            const char *names[] = {"server", "gateway", "drop", NULL};
            double *values[] = {&o->kie_p_server_error, &o->kie_p_gateway_error, &o->kie_p_drop};
            o->kie_p_server_error = o->kie_p_gateway_error = o->kie_p_drop = 0;
            if (s_pairs(optarg, names, values)) return s_usage(o->name);
            break;
        }
        case O_VIDEOS:
            o->videos = atoi(optarg);
            break;
        case O_KEYS:
            o->keys = atoi(optarg);
            break;
        case O_SLOTS:
            o->key_slots = atoi(optarg);
            break;
        case O_CREATE:
            o->key_create_per_10s = atoi(optarg);
            break;
        case O_SESSIONS:
            o->sessions = atoi(optarg);
            break;
        case O_SYNC:
            o->sync = optarg;
            break;
        case O_RAMP:
            o->ramp_s = atof(optarg);
            break;
        case O_DRAIN:
            o->drain_s = atof(optarg);
            break;
        case O_POLL: {
            char *comma = strchr(optarg, ',');
            o->poll_ms = atoi(optarg);
            if (comma) o->poll_max_ms = atoi(comma + 1);
            break;
        }
        case O_FREE:
            o->free_credits = atoll(optarg);
            break;
        case O_ENV:
            if (o->env_count == SCN_ENV_MAX || !strchr(optarg, '=')) return s_usage(o->name);
            o->env[o->env_count++] = optarg;
            break;
        case O_PERF:
            o->perf = optarg;
            break;
        case O_WRAP:
            o->wrap = optarg;
            break;
        case O_KEEP:
            o->keep = true;
            break;
        case O_SEED:
            o->seed = strtoull(optarg, NULL, 0);
            break;
        case O_JSON:
            o->json = true;
            break;
        default:
            return s_usage(o->name);
        }
    }
    if (optind < argc || o->users < 1 || o->users > 100000 || o->duration_s <= 0 || o->keys < 1 ||
        o->keys > SCN_KEYS_MAX || o->task_min_ms < 1 || o->task_max_ms < o->task_min_ms ||
        o->videos < 0 || o->videos > 10 || o->sessions < 1 || o->think_ms < 0 || o->rate < 0 ||
        o->poll_ms < 1 || o->poll_max_ms < o->poll_ms) {
        fprintf(stderr, "genbot-bench %s: an option is out of range\n", o->name);
        return s_usage(o->name);
    }
    if (o->mode == SCN_MODE_FANOUT && o->free_credits < o->videos) o->free_credits = o->videos;
    return 0;
}

//  --- the run --------------------------------------------------------------------

//  The bench's KIE clock: CLOCK_MONOTONIC ms plus a Unix offset, so that
//  kiesim takes it as Unix time as it is (no offset of its own) and
//  createTime − s_clock_offset is on tgsim's clock.
static int64_t s_clock_offset;

static int64_t s_kie_clock(void *arg) {
    (void)arg;
    return scn_now_ms() + s_clock_offset;
}

typedef struct {
    const scn_opts_t *opts;
    tgsim_t *tg;
    kiesim_t *kie;
    scn_driver_t *driver;
    scn_genbot_t genbot;
    //  sampled
    uint64_t peak_in_flight;
    int64_t peak_rss_kb;
    //  measured
    scn_proc_t proc_start, proc_end;
    int64_t self_start, self_end;
    scn_threads_t threads_start, threads_load; //  per thread, over the load
    int64_t phase_cpu[4]; //  start/end of the first phase, start/end of the second
    int64_t phase_self[4];
    double settle_s;
    double load_s, drain_s, rate2;
    kiesim_stats_t kie_stats;
    tgsim_stats_t tg_stats;
    scn_verify_t verify;
    char check_out[512];
    int check_rc;
} s_run_t;

static void s_tick(void *arg) {
    s_run_t *run = (s_run_t *)arg;
    if (!scn_genbot_alive(&run->genbot)) {
        if (!scn_driver_aborted(run->driver))
            fprintf(stderr, "genbot-bench: genbot exited during the run\n");
        scn_driver_abort(run->driver);
        return;
    }
    kiesim_stats_t ks;
    kiesim_stats(run->kie, &ks);
    if (ks.tasks_in_flight > run->peak_in_flight) run->peak_in_flight = ks.tasks_in_flight;
    scn_proc_t p;
    if (scn_genbot_proc(&run->genbot, &p) == 0 && p.rss_kb > run->peak_rss_kb)
        run->peak_rss_kb = p.rss_kb;
}

//  Drain progress: 1 when the database has no job left to finish.
static int s_db_settled(void *arg) {
    s_run_t *run = (s_run_t *)arg;
    s_tick(run);
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(run->genbot.db, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return 0;
    }
    sqlite3_busy_timeout(db, 1000);
    sqlite3_stmt *st = NULL;
    int64_t left = -1;
    if (sqlite3_prepare_v2(db,
                           "SELECT count(*) FROM jobs WHERE state IN"
                           " ('queued','running','submitted','succeeded')",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        left = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return left == 0;
}

static int s_env_add(char **env, int n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int s_env_add(char **env, int n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&env[n], fmt, ap) < 0) env[n] = NULL;
    va_end(ap);
    return env[n] ? n + 1 : n;
}

static int s_start(s_run_t *run) {
    const scn_opts_t *o = run->opts;
    struct timespec real;
    clock_gettime(CLOCK_REALTIME, &real);
    s_clock_offset = (int64_t)real.tv_sec * 1000 + real.tv_nsec / 1000000 - scn_now_ms();

    tgsim_opts_t tg_opts;
    tgsim_opts_init(&tg_opts);
    tg_opts.seed = o->seed;
    tg_opts.enforce_limits = o->tg_limits;
    tg_opts.p_server_error = o->tg_p_server_error;
    tg_opts.p_drop = o->tg_p_drop;
    tg_opts.discard_uploads = true;
    run->tg = tgsim_new(&tg_opts);

    kiesim_options_t kie_opts;
    kiesim_options_init(&kie_opts);
    kiesim_key_t keys[SCN_KEYS_MAX];
    char names[SCN_KEYS_MAX][64];
    for (int i = 0; i < o->keys; i++) {
        snprintf(names[i], sizeof names[i], S_KEY_FORMAT, i);
        keys[i] = (kiesim_key_t){.key = names[i],
                                 .credits = INT64_C(1) << 50,
                                 .rate_limit = o->key_create_per_10s,
                                 .rate_window_ms = 10000,
                                 .state = KIESIM_KEY_VALID};
    }
    kie_opts.keys = keys;
    kie_opts.key_count = (size_t)o->keys;
    kie_opts.seed = o->seed;
    kie_opts.clock = s_kie_clock;
    kiesim_behaviour_t *b = &kie_opts.behaviour;
    b->task_duration_ms = (o->task_min_ms + o->task_max_ms) / 2;
    b->p_content_fail = o->fail_content;
    b->p_temporary_fail = o->fail_temporary;
    b->p_server_error = o->kie_p_server_error;
    b->p_gateway_error = o->kie_p_gateway_error;
    b->p_drop = o->kie_p_drop;
    run->kie = kiesim_new(&kie_opts);
    if (!run->tg || !run->kie) {
        fprintf(stderr, "genbot-bench: cannot start the simulators\n");
        return -1;
    }
    if (scn_genbot_init(&run->genbot, o->keep)) return -1;

    char *env[64 + SCN_ENV_MAX];
    int n = 0;
    char key_list[SCN_KEYS_MAX * 64] = "";
    for (int i = 0; i < o->keys; i++) {
        strcat(key_list, i ? "," : "");
        strcat(key_list, names[i]);
    }
    int stats_port = scn_free_port(), http_port = scn_free_port();
    n = s_env_add(env, n, "TELEGRAM_BOT_TOKEN=%s", tgsim_token(run->tg));
    n = s_env_add(env, n, "TELEGRAM_API_URL=%s", tgsim_url(run->tg));
    n = s_env_add(env, n, "GENBOT_TG_POLL_TIMEOUT_S=%d", 5);
    n = s_env_add(env, n, "KIE_API_KEYS=%s", key_list);
    n = s_env_add(env, n, "KIE_API_URL=%s", kiesim_url(run->kie));
    n = s_env_add(env, n, "KIE_UPLOAD_URL=%s", kiesim_url(run->kie));
    n = s_env_add(env, n, "GENBOT_DB=%s", run->genbot.db);
    n = s_env_add(env, n, "GENBOT_STATS_BIND=tcp://127.0.0.1:%d", stats_port);
    n = s_env_add(env, n, "GENBOT_HTTP_BIND=127.0.0.1:%d", http_port);
    n = s_env_add(env, n, "GENBOT_KIE_POLL_MS=%d", o->poll_ms);
    n = s_env_add(env, n, "GENBOT_KIE_POLL_MAX_MS=%d", o->poll_max_ms);
    n = s_env_add(env, n, "GENBOT_RETRY_BASE_MS=%d", 500);
    n = s_env_add(env, n, "GENBOT_MAX_ATTEMPTS=%d", 3);
    n = s_env_add(env, n, "GENBOT_KEY_COOLDOWN_S=%d", 5);
    n = s_env_add(env, n, "GENBOT_TG_RATE=%d", o->tg_limits ? 30 : 100000);
    n = s_env_add(env, n, "GENBOT_TG_CHAT_RATE=%d", o->tg_limits ? 1 : 1000);
    n = s_env_add(env, n, "GENBOT_LIMIT_ACTIVE=%d", o->limit_active);
    n = s_env_add(env, n, "GENBOT_LIMIT_PER_MIN=%d", o->limit_per_min);
    n = s_env_add(env, n, "GENBOT_SESSIONS=%d", o->sessions);
    n = s_env_add(env, n, "GENBOT_SYNC=%s", o->sync);
    n = s_env_add(env, n, "GENBOT_LOG_LEVEL=%s", "warn");
    n = s_env_add(env, n, "GENBOT_FREE_CREDITS=%" PRId64, o->free_credits);
    n = s_env_add(env, n, "GENBOT_FLOOD_PER_10S=%" PRId64, o->flood_per_10s);
    n = s_env_add(env, n, "GENBOT_KEY_SLOTS=%d", o->key_slots);
    n = s_env_add(env, n, "GENBOT_KEY_CREATE_PER_10S=%d", o->key_create_per_10s);
    //  --env replaces what the scenario set (getenv takes the first match)
    for (int i = 0; i < o->env_count; i++) {
        size_t name_len = (size_t)(strchr(o->env[i], '=') - o->env[i]) + 1;
        int at = n;
        for (int j = 0; j < n; j++)
            if (strncmp(env[j], o->env[i], name_len) == 0) at = j;
        if (at < n) {
            free(env[at]);
            env[at] = strdup(o->env[i]);
        } else
            n = s_env_add(env, n, "%s", o->env[i]);
    }
    env[n] = NULL;
    int rc = scn_genbot_start(&run->genbot, env, o->wrap);
    for (int i = 0; i < n; i++)
        free(env[i]);
    if (rc) return -1;
    //  ready: the poller called Telegram (deleteWebhook first; a getUpdates
    //  is recorded only when its long poll ends)
    int64_t deadline = scn_now_ms() + 20000;
    while (tgsim_calls_count(run->tg, NULL) == 0) {
        if (!scn_genbot_alive(&run->genbot) || scn_now_ms() > deadline) {
            fprintf(stderr, "genbot-bench: genbot did not start\n");
            scn_genbot_tail(&run->genbot, 20);
            return -1;
        }
        usleep(10000);
    }
    return 0;
}

static void s_phase_mark(s_run_t *run, int index) {
    scn_proc_t p;
    scn_genbot_proc(&run->genbot, &p);
    run->phase_cpu[index] = p.cpu_us;
    run->phase_self[index] = scn_self_cpu_us();
}

static int s_run(s_run_t *run) {
    const scn_opts_t *o = run->opts;
    if (s_start(run)) return -1;
    run->driver = scn_driver_new(run->tg, o);
    scn_driver_on_tick(run->driver, s_tick, run);
    scn_genbot_proc(&run->genbot, &run->proc_start);
    run->self_start = scn_self_cpu_us();
    scn_driver_start(run->driver);
    if (o->perf) scn_perf_start(&run->genbot, o->perf);
    int64_t t0 = scn_now_ms();
    s_phase_mark(run, 0);
    scn_genbot_threads(&run->genbot, &run->threads_start);
    if (o->mode == SCN_MODE_INTERACTIVE && o->rate == 0) {
        scn_driver_run(run->driver, 0, o->duration_s / 2, 0);
        s_phase_mark(run, 1);
        scn_phase_t *p0 = scn_driver_phase(run->driver, 0);
        run->rate2 = p0->seconds > 0 ? 0.5 * (double)p0->handled / p0->seconds : 0;
        //  the first half's backlog is answered before the second half starts
        run->settle_s = scn_driver_settle(run->driver, 10);
        s_phase_mark(run, 2);
        scn_driver_run(run->driver, 1, o->duration_s / 2, run->rate2 > 1 ? run->rate2 : 1);
        s_phase_mark(run, 3);
    } else {
        scn_driver_run(run->driver, 0, o->duration_s, o->rate);
        s_phase_mark(run, 1);
    }
    run->load_s = (double)(scn_now_ms() - t0) / 1000.0;
    scn_genbot_threads(&run->genbot, &run->threads_load);
    if (o->perf) scn_perf_stop(&run->genbot);
    run->drain_s = scn_driver_drain(run->driver, o->drain_s, s_db_settled, run);
    scn_genbot_proc(&run->genbot, &run->proc_end);
    run->self_end = scn_self_cpu_us();
    kiesim_stats(run->kie, &run->kie_stats);
    tgsim_stats(run->tg, &run->tg_stats);
    //  stop and verify
    scn_verify_t *v = &run->verify;
    bool died = scn_driver_aborted(run->driver);
    int stopped = scn_genbot_stop(&run->genbot, 30);
    int status = run->genbot.exit_status;
    scn_verify_add(v, "genbot stopped on SIGTERM", stopped == 0 && !died,
                   run->genbot.killed  ? "still running after 30 s: SIGKILL"
                   : WIFEXITED(status) ? "%sexit %d in %.1f s"
                                       : "%skilled by signal %d in %.1f s",
                   died ? "exited during the run: " : "",
                   WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), run->genbot.stop_s);
    run->check_rc = scn_genbot_check(&run->genbot, run->check_out, sizeof run->check_out);
    scn_verify_add(v, "genbot check DB", run->check_rc == 0, "%s", run->check_out);
    scn_verify_db(v, run->genbot.db, run->driver, o);
    const scn_counters_t *c = scn_driver_counters(run->driver);
    scn_verify_add(v, "every user step answered", c->stuck == 0,
                   "%" PRIu64 " steps, %" PRIu64 " unanswered within %d ms", c->steps, c->stuck,
                   o->step_timeout_ms);
    scn_verify_kie(v, run->genbot.db, run->kie, run->driver, s_clock_offset,
                   (o->task_min_ms + o->task_max_ms) / 2);
    return 0;
}

//  --- the report -------------------------------------------------------------------

static double s_div(double a, double b) {
    return b > 0 ? a / b : 0;
}

//  The rows of the phase table: interactive's two halves, or load and drain.
typedef struct {
    const char *name;
    scn_phase_t *phase;
    int64_t cpu_us;
    double offered;
} s_row_t;

static int s_rows(s_run_t *run, s_row_t *rows) {
    const scn_opts_t *o = run->opts;
    scn_driver_t *d = run->driver;
    if (o->mode == SCN_MODE_INTERACTIVE && o->rate == 0) {
        rows[0] =
            (s_row_t){"saturate", scn_driver_phase(d, 0), run->phase_cpu[1] - run->phase_cpu[0], 0};
        rows[1] = (s_row_t){"half-rate", scn_driver_phase(d, 1),
                            run->phase_cpu[3] - run->phase_cpu[2], run->rate2};
        return 2;
    }
    rows[0] =
        (s_row_t){"load", scn_driver_phase(d, 0), run->phase_cpu[1] - run->phase_cpu[0], o->rate};
    rows[1] = (s_row_t){"drain", scn_driver_phase(d, SCN_DRAIN),
                        run->proc_end.cpu_us - run->phase_cpu[1], 0};
    return 2;
}

//  A number, or "-" when there is none (negative).
static void s_col(double value, int width) {
    if (value < 0)
        printf(" %*s", width, "-");
    else
        printf(" %*.0f", width, value);
}

static void s_totals(s_run_t *run, uint64_t *updates, uint64_t *orders, uint64_t *gens) {
    *updates = *orders = *gens = 0;
    for (int i = 0; i < SCN_PHASES; i++) {
        scn_phase_t *p = scn_driver_phase(run->driver, i);
        *updates += p->replies;
        *orders += p->orders;
        *gens += p->generations;
    }
}

static int s_cmp_thread(const void *a, const void *b) {
    int64_t x = ((const scn_thread_t *)a)->cpu_us, y = ((const scn_thread_t *)b)->cpu_us;
    return x < y ? 1 : x > y ? -1 : 0;
}

//  genbot's threads by CPU over the load phase, as shares of one core.
static void s_report_threads(s_run_t *run) {
    scn_threads_t delta = run->threads_load;
    for (int i = 0; i < delta.n; i++)
        for (int j = 0; j < run->threads_start.n; j++)
            if (run->threads_start.t[j].tid == delta.t[i].tid)
                delta.t[i].cpu_us -= run->threads_start.t[j].cpu_us;
    qsort(delta.t, (size_t)delta.n, sizeof delta.t[0], s_cmp_thread);
    printf("  threads over the load (%% of one core):");
    for (int i = 0; i < delta.n && i < 8; i++)
        if (delta.t[i].cpu_us > 0)
            printf(" %s %.0f%%", delta.t[i].name,
                   100.0 * (double)delta.t[i].cpu_us / (run->load_s * 1e6));
    printf("\n");
}

//  Which calls got a 429, and what the bot sent to that chat in the 3 s
//  before (the first few): Telegram's limits are 1/s per chat (burst 3).
static void s_report_429(s_run_t *run) {
    size_t n = tgsim_calls_count(run->tg, NULL);
    int shown = 0;
    for (size_t i = 0; i < n && shown < 3; i++) {
        const tgsim_call_t *call = tgsim_call(run->tg, NULL, (long)i);
        if (!call || call->status != 429) continue;
        shown++;
        printf("  429: %s chat %" PRId64 " at %" PRId64 " ms; before it in that chat:",
               call->method, call->chat_id, call->time_ms);
        for (size_t j = i >= 1000 ? i - 1000 : 0; j < i; j++) {
            const tgsim_call_t *before = tgsim_call(run->tg, NULL, (long)j);
            if (before && before->chat_id == call->chat_id &&
                call->time_ms - before->time_ms <= 3000 &&
                strcmp(before->method, "answerCallbackQuery") != 0)
                printf(" %s/%d -%" PRId64 "ms", before->method, before->status,
                       call->time_ms - before->time_ms);
        }
        printf("\n");
    }
}

static void s_report_text(s_run_t *run) {
    const scn_opts_t *o = run->opts;
    scn_driver_t *d = run->driver;
    const scn_counters_t *c = scn_driver_counters(d);
    printf("genbot-bench %s: %d users, %.0f s load + %.1f s drain, think %d ms, sessions %d, "
           "sync %s, Telegram limits %s\n",
           o->name, o->users, run->load_s, run->drain_s, o->think_ms, o->sessions, o->sync,
           o->tg_limits ? "on" : "off");
    if (o->mode != SCN_MODE_INTERACTIVE)
        printf("  KIE: %d keys x %d slots, tasks %" PRId64 "-%" PRId64 " ms, fail content %.2f "
               "temporary %.2f, poll %d..%d ms; faults tg server %.2f drop %.2f, kie server %.2f "
               "gateway %.2f drop %.2f\n",
               o->keys, o->key_slots, o->task_min_ms, o->task_max_ms, o->fail_content,
               o->fail_temporary, o->poll_ms, o->poll_max_ms, o->tg_p_server_error, o->tg_p_drop,
               o->kie_p_server_error, o->kie_p_gateway_error, o->kie_p_drop);
    printf("\n%-10s %7s %9s %9s %7s %7s %7s %9s %9s %9s %10s\n", "phase", "seconds", "updates",
           "upd/s", "p50 ms", "p95 ms", "p99 ms", "p99dl ms", "orders/s", "gens/s", "us/update");
    s_row_t rows[2];
    int n = s_rows(run, rows);
    for (int i = 0; i < n; i++) {
        scn_phase_t *p = rows[i].phase;
        printf("%-10s %7.1f %9" PRIu64 " %9.0f", rows[i].name, p->seconds, p->handled,
               s_div((double)p->handled, p->seconds));
        s_col(scn_samples_pct(&p->lat, 50), 7);
        s_col(scn_samples_pct(&p->lat, 95), 7);
        s_col(scn_samples_pct(&p->lat, 99), 7);
        s_col(scn_samples_pct(&p->lat_dl, 99), 9);
        printf(" %9.1f %9.1f", s_div((double)p->orders, p->seconds),
               s_div((double)p->generations, p->seconds));
        //  the drain's CPU is the generations', not the few answers'
        bool per_update = p->handled && strcmp(rows[i].name, "drain") != 0;
        s_col(per_update ? s_div((double)rows[i].cpu_us, (double)p->handled) : -1, 10);
        printf("\n");
    }
    if (o->mode == SCN_MODE_INTERACTIVE && o->rate == 0)
        printf("  (half-rate: offered %.0f updates/s, half of what the first half handled, "
               "after %.1f s for its backlog)\n",
               run->rate2, run->settle_s);
    printf("  latency: update queued at Telegram -> first bot call answering it (p99dl: from "
           "its delivery to genbot)\n");
    int64_t cpu = run->proc_end.cpu_us - run->proc_start.cpu_us;
    uint64_t updates, orders, gens;
    s_totals(run, &updates, &orders, &gens);
    printf("\ngenbot: CPU %.2f s, %.0f us/update over the whole run, peak RSS %.1f MB (VmHWM), "
           "%d threads\n",
           (double)cpu / 1e6, s_div((double)cpu, (double)updates),
           (double)run->proc_end.hwm_kb / 1024.0, run->proc_end.threads);
    s_report_threads(run);
    printf("bench process (simulators + users): CPU %.2f s\n",
           (double)(run->self_end - run->self_start) / 1e6);
    if (gens) {
        double span = (double)(c->last_result_ms - c->first_order_ms) / 1000.0;
        printf("orders %" PRIu64 ", generations finished %" PRIu64 " in %.1f s from the first "
               "order to the last result (%.1f/s), genbot CPU %.0f us/generation\n",
               orders, gens, span, s_div((double)gens, span), s_div((double)cpu, (double)gens));
    }
    printf("users: %" PRIu64 " steps, %" PRIu64 " double taps (%" PRIu64
           " answers 'already running'), %" PRIu64 " old buttons, %" PRIu64 " limits hit, %" PRIu64
           " browses, %" PRIu64 " stale, %" PRIu64 " internal errors, %" PRIu64 " flood, %" PRIu64
           " stuck\n",
           c->steps, c->double_taps, c->already, c->old_buttons, c->limits_hit, c->browses,
           c->stale, c->internal, c->flood, c->stuck);
    const kiesim_stats_t *k = &run->kie_stats;
    double total_s = run->load_s + run->drain_s;
    if (o->mode != SCN_MODE_INTERACTIVE) {
        printf("KIE: %" PRIu64 " tasks (%" PRIu64 " ok, %" PRIu64
               " failed), peak in flight %" PRIu64 ", %" PRIu64 " polls (%.0f/s), %" PRIu64
               " uploads, %" PRIu64 " faults injected\n",
               k->creates, k->tasks_succeeded, k->tasks_failed, run->peak_in_flight, k->polls,
               s_div((double)k->polls, total_s), k->uploads, k->faults);
        scn_samples_t *s = &run->verify.kie_to_tg;
        printf("KIE success -> video at Telegram: p50 %.0f ms, p99 %.0f ms, max %.0f ms (%zu "
               "videos)\n",
               scn_samples_pct(s, 50), scn_samples_pct(s, 99), scn_samples_pct(s, 100), s->n);
    }
    const tgsim_stats_t *t = &run->tg_stats;
    printf("Telegram: %" PRIu64 " calls, %" PRIu64 " 429s, %" PRIu64 " 5xx, %" PRIu64
           " dropped, %" PRIu64 " updates queued, %" PRIu64 " unconfirmed at the end\n",
           t->calls, t->flood, t->server_errors, t->dropped, t->updates_queued, t->updates_pending);
    size_t polls = tgsim_calls_count(run->tg, "getUpdates");
    printf("  getUpdates: %zu calls, %.1f updates per call (the poller asks again once a batch is "
           "saved)\n",
           polls, s_div((double)t->updates_delivered, (double)polls));
    if (t->flood) s_report_429(run);
    for (int i = 0; i < 3 && i < (int)c->stuck; i++)
        printf("  stuck: %s\n", c->stuck_notes[i]);
    printf("\nverification:\n");
    for (int i = 0; i < run->verify.count; i++) {
        const scn_check_t *ch = &run->verify.checks[i];
        printf("  %-6s %-46s %s\n", ch->ok ? "ok" : "FAILED", ch->name, ch->detail);
    }
}

static void s_json_str(const char *s) {
    putchar('"');
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", *s);
        else
            putchar(*s);
    }
    putchar('"');
}

static void s_report_json(s_run_t *run) {
    const scn_opts_t *o = run->opts;
    scn_driver_t *d = run->driver;
    const scn_counters_t *c = scn_driver_counters(d);
    printf("{\"scenario\":\"%s\",\"users\":%d,\"load_s\":%.2f,\"drain_s\":%.2f,\"think_ms\":%d,"
           "\"sessions\":%d,\"sync\":\"%s\",\"tg_limits\":%s,\"phases\":[",
           o->name, o->users, run->load_s, run->drain_s, o->think_ms, o->sessions, o->sync,
           o->tg_limits ? "true" : "false");
    s_row_t rows[2];
    int n = s_rows(run, rows);
    for (int i = 0; i < n; i++) {
        scn_phase_t *p = rows[i].phase;
        printf("%s{\"name\":\"%s\",\"seconds\":%.2f,\"updates\":%" PRIu64
               ",\"updates_per_s\":%.1f,\"p50_ms\":%.0f,\"p95_ms\":%.0f,\"p99_ms\":%.0f,"
               "\"p99_delivered_ms\":%.0f,\"orders_per_s\":%.2f,\"generations_per_s\":%.2f,"
               "\"cpu_us_per_update\":%.1f,\"offered_rate\":%.0f}",
               i ? "," : "", rows[i].name, p->seconds, p->handled,
               s_div((double)p->handled, p->seconds), scn_samples_pct(&p->lat, 50),
               scn_samples_pct(&p->lat, 95), scn_samples_pct(&p->lat, 99),
               scn_samples_pct(&p->lat_dl, 99), s_div((double)p->orders, p->seconds),
               s_div((double)p->generations, p->seconds),
               s_div((double)rows[i].cpu_us, (double)p->handled), rows[i].offered);
    }
    int64_t cpu = run->proc_end.cpu_us - run->proc_start.cpu_us;
    uint64_t updates, orders, gens;
    s_totals(run, &updates, &orders, &gens);
    double span = (double)(c->last_result_ms - c->first_order_ms) / 1000.0;
    scn_samples_t *s = &run->verify.kie_to_tg;
    const kiesim_stats_t *k = &run->kie_stats;
    printf("],\"genbot_cpu_s\":%.3f,\"cpu_us_per_update\":%.1f,\"cpu_us_per_generation\":%.1f,"
           "\"peak_rss_mb\":%.1f,\"bench_cpu_s\":%.3f,\"orders\":%" PRIu64
           ",\"generations\":%" PRIu64 ",\"generations_per_s\":%.2f,\"kie_tasks\":%" PRIu64
           ",\"kie_peak_in_flight\":%" PRIu64 ",\"kie_polls_per_s\":%.1f,"
           "\"kie_to_tg_p50_ms\":%.0f,\"kie_to_tg_p99_ms\":%.0f,\"steps\":%" PRIu64
           ",\"stuck\":%" PRIu64 ",\"double_taps\":%" PRIu64 ",\"old_buttons\":%" PRIu64
           ",\"limits_hit\":%" PRIu64 ",\"tg_429\":%" PRIu64 ",\"checks\":[",
           (double)cpu / 1e6, s_div((double)cpu, (double)updates), s_div((double)cpu, (double)gens),
           (double)run->proc_end.hwm_kb / 1024.0, (double)(run->self_end - run->self_start) / 1e6,
           orders, gens, gens ? s_div((double)gens, span) : 0, k->creates, run->peak_in_flight,
           s_div((double)k->polls, run->load_s + run->drain_s), scn_samples_pct(s, 50),
           scn_samples_pct(s, 99), c->steps, c->stuck, c->double_taps, c->old_buttons,
           c->limits_hit, run->tg_stats.flood);
    for (int i = 0; i < run->verify.count; i++) {
        const scn_check_t *ch = &run->verify.checks[i];
        printf("%s{\"name\":", i ? "," : "");
        s_json_str(ch->name);
        printf(",\"ok\":%s,\"detail\":", ch->ok ? "true" : "false");
        s_json_str(ch->detail);
        printf("}");
    }
    printf("],\"ok\":%s}\n", run->verify.failed ? "false" : "true");
}

static int s_scenario(const char *name, int argc, char **argv) {
    scn_opts_t opts;
    s_defaults(&opts, name);
    int rc = s_parse(&opts, argc, argv);
    if (rc) return rc;
    s_run_t run = {.opts = &opts};
    rc = s_run(&run);
    if (rc == 0) {
        if (opts.json)
            s_report_json(&run);
        else
            s_report_text(&run);
        fflush(stdout);
        if (run.verify.failed) {
            scn_genbot_tail(&run.genbot, 15);
            fprintf(stderr, "genbot-bench %s: %d verification(s) failed; kept %s\n", name,
                    run.verify.failed, run.genbot.dir);
        }
    }
    bool keep = opts.keep || rc != 0 || run.verify.failed;
    scn_driver_destroy(&run.driver);
    scn_genbot_cleanup(&run.genbot, keep);
    kiesim_destroy(&run.kie);
    tgsim_destroy(&run.tg);
    scn_verify_free(&run.verify);
    return rc != 0 || run.verify.failed ? 1 : 0;
}

int scn_cmd_interactive(int argc, char **argv) {
    return s_scenario("interactive", argc, argv);
}

int scn_cmd_orders(int argc, char **argv) {
    return s_scenario("orders", argc, argv);
}

int scn_cmd_fanout(int argc, char **argv) {
    return s_scenario("fanout", argc, argv);
}

int scn_cmd_faults(int argc, char **argv) {
    return s_scenario("faults", argc, argv);
}
