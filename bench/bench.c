/*  bench.c — genbot-bench: load harnesses, one subcommand each.

    genbot-bench ledger [--seconds S] [--window W] [--clients 1,4,16]
                        [--sync full|normal|off] [--db PATH] [--json]

    ledger: the realistic request mix of a generation's life (order_place,
    jobs_claim, job_submitted, job_succeeded or job_failed, job_delivered)
    driven by C client threads against the real ledger actor, once with
    group commit (GENBOT_LEDGER_BATCH default) and once with one transaction
    per request. Each client is one DEALER socket — as a session shard or a
    key worker is — with W flows in flight, each flow a chain of dependent
    requests. Prints requests/s and p50/p99 request latency.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <czmq.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "check.h"
#include "config.h"
#include "ledger.h"
#include "log.h"
#include "msg.h"
#include "scn.h"

#define S_MAX_CLIENTS    64
#define S_MAX_WINDOW     1024
#define S_LAT_PER_CLIENT (4 * 1024 * 1024)

typedef struct {
    double seconds;
    int window;
    int clients[8];
    int client_sets;
    int sync;
    const char *db;
    bool json;
} s_opts_t;

typedef struct {
    int index;
    const s_opts_t *opts;
    const char *endpoint;
    int clients;
    atomic_bool *stop;
    //  results
    uint64_t requests, errors, orders, generations;
    uint32_t *lat_us;
    size_t lat_n;
} s_client_t;

enum { STEP_ORDER, STEP_CLAIM, STEP_SUBMIT, STEP_FINISH, STEP_DELIVER };

typedef struct {
    int64_t user_id;
    int step;
    int64_t job_id;
    bool fail;
    uint64_t seq;
    int64_t sent_ns;
} s_flow_t;

static int64_t s_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t s_user_id(int client, int flow) {
    return 1000000 + (int64_t)client * S_MAX_WINDOW + flow;
}

//  The next request of a flow; corr_id = flow index << 32 | sequence.
static msg_t *s_next(s_client_t *c, s_flow_t *f, int flow_index) {
    msg_t *m = NULL;
    switch (f->step) {
    case STEP_ORDER: {
        char token[48];
        snprintf(token, sizeof token, "o%llu", (unsigned long long)f->seq);
        m = msg_new(MSG_K_ORDER_PLACE, 0);
        msg_set_int(m, F_USER_ID, f->user_id);
        msg_set_int(m, F_CHAT_ID, f->user_id);
        msg_set_str(m, F_ORDER_TOKEN, token);
        msg_set_str(m, F_MODEL, "sora-2-image-to-video");
        msg_set_int(m, F_PRICE, 1);
        msg_set_int(m, F_COUNT, 1);
        msg_set_str(m, F_PARAMS,
                    "{\"photo\":\"AgACAgIAAxkBAAIBJ2VxY\",\"product\":\"Ceramic mug,"
                    " 350 ml\",\"template\":\"ugc\",\"wishes\":\"-\"}");
        break;
    }
    case STEP_CLAIM:
        m = msg_new(MSG_K_JOBS_CLAIM, 0);
        msg_set_str(m, F_KEY_ID, "bench-key");
        msg_set_int(m, F_MAX_N, 1);
        break;
    case STEP_SUBMIT:
        m = msg_new(MSG_K_JOB_SUBMITTED, 0);
        msg_set_int(m, F_JOB_ID, f->job_id);
        msg_set_str(m, F_TASK_ID, "task_0123456789abcdef0123456789abcdef");
        break;
    case STEP_FINISH:
        m = msg_new(f->fail ? MSG_K_JOB_FAILED : MSG_K_JOB_SUCCEEDED, 0);
        msg_set_int(m, F_JOB_ID, f->job_id);
        if (f->fail)
            msg_set_str(m, F_ERR_CLASS, "content_violation");
        else
            msg_set_str(m, F_RESULT_URL, "https://tempfile.example/v/0123456789abcdef.mp4");
        break;
    default:
        m = msg_new(MSG_K_JOB_DELIVERED, 0);
        msg_set_int(m, F_JOB_ID, f->job_id);
        break;
    }
    (void)c;
    msg_set_corr(m, ((uint64_t)flow_index << 32) | (f->seq & 0xffffffff));
    return m;
}

//  Moves a flow on after its reply; returns false when the reply was an
//  error the mix does not expect.
static bool s_advance(s_client_t *c, s_flow_t *f, const msg_t *reply) {
    bool error = msg_kind(reply) == MSG_K_ERROR;
    switch (f->step) {
    case STEP_ORDER:
        c->orders++;
        f->step = error ? STEP_ORDER : STEP_CLAIM;
        break;
    case STEP_CLAIM:
        //  any queued job will do: flows share the queue like key workers do
        if (!error && msg_len(reply, F_JOBS) == 1) {
            f->job_id = msg_int(msg_row(reply, F_JOBS, 0), F_JOB_ID);
            f->fail = f->job_id % 10 == 0; //  one in ten generations fails
            f->step = STEP_SUBMIT;
        } else
            f->step = STEP_ORDER;
        break;
    case STEP_SUBMIT:
        f->step = STEP_FINISH;
        break;
    case STEP_FINISH:
        f->step = f->fail ? STEP_ORDER : STEP_DELIVER;
        c->generations++;
        break;
    default:
        f->step = STEP_ORDER;
        break;
    }
    f->seq++;
    return !error;
}

static void *s_client_thread(void *arg) {
    s_client_t *c = (s_client_t *)arg;
    zsock_t *dealer = ledger_connect(c->endpoint);
    void *handle = zsock_resolve(dealer);
    int window = c->opts->window;
    s_flow_t *flows = calloc((size_t)window, sizeof(s_flow_t));
    for (int i = 0; i < window; i++) {
        flows[i].user_id = s_user_id(c->index, i);
        flows[i].sent_ns = s_ns();
        msg_t *m = s_next(c, &flows[i], i);
        msg_send(&m, dealer);
    }
    int in_flight = window;
    while (in_flight > 0) {
        zmq_pollitem_t item = {handle, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, 1000) <= 0) break;
        msg_err_t err;
        msg_t *reply = msg_recv(dealer, &err);
        if (!reply) continue;
        int64_t now = s_ns();
        int index = (int)(msg_corr(reply) >> 32);
        s_flow_t *f = &flows[index];
        if (c->lat_n < S_LAT_PER_CLIENT)
            c->lat_us[c->lat_n++] = (uint32_t)((now - f->sent_ns) / 1000);
        c->requests++;
        if (!s_advance(c, f, reply)) c->errors++;
        msg_destroy(&reply);
        if (atomic_load(c->stop)) {
            in_flight--;
            continue;
        }
        f->sent_ns = s_ns();
        msg_t *m = s_next(c, f, index);
        msg_send(&m, dealer);
    }
    free(flows);
    zsock_destroy(&dealer);
    return NULL;
}

static int s_cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    int clients;
    int batch;
    double rps, p50_ms, p99_ms, seconds;
    uint64_t requests, errors, generations;
    bool check_ok;
} s_result_t;

static int s_run_ledger(const s_opts_t *opts, int clients, int batch, s_result_t *result) {
    if (clients < 1 || clients > S_MAX_CLIENTS) return -1;
    char path[256];
    if (opts->db)
        snprintf(path, sizeof path, "%s", opts->db);
    else
        snprintf(path, sizeof path, "/tmp/genbot-bench-ledger-%d.db", (int)getpid());
    char side[300];
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);

    char err[CONFIG_ERR_MAX];
    config_t *config = config_load(NULL, NULL, err);
    if (!config) {
        fprintf(stderr, "genbot-bench: %s\n", err);
        return -1;
    }
    free(config->db_path);
    config->db_path = strdup(path);
    config->sync_full = opts->sync;
    config->ledger_batch_max = batch;
    config->limit_active = 1000000;
    config->limit_per_min = 1000000000;
    config->free_credits = 0;
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "inproc://bench-ledger-%d-%d", clients, batch);
    ledger_args_t args = {.config = config, .endpoint = endpoint};
    zactor_t *ledger = ledger_start(&args);
    if (!ledger) {
        config_destroy(&config);
        return -1;
    }
    //  every flow's user, with credits for any run length
    zsock_t *admin = ledger_connect(endpoint);
    for (int c = 0; c < clients; c++)
        for (int i = 0; i < opts->window; i++) {
            int64_t user_id = s_user_id(c, i);
            msg_t *m = msg_new(MSG_K_USER_TOUCH, 0);
            msg_set_int(m, F_USER_ID, user_id);
            msg_t *reply = ledger_call(admin, &m, 10000);
            msg_destroy(&reply);
            m = msg_new(MSG_K_ADMIN_ADJUST, 0);
            msg_set_int(m, F_USER_ID, user_id);
            msg_set_int(m, F_DELTA, 100000000);
            msg_set_str(m, F_REASON, "bench");
            char ref[64];
            snprintf(ref, sizeof ref, "bench-%lld", (long long)user_id);
            msg_set_str(m, F_REF, ref);
            reply = ledger_call(admin, &m, 10000);
            msg_destroy(&reply);
        }
    zsock_destroy(&admin);

    atomic_bool stop = false;
    s_client_t *cs = calloc((size_t)clients, sizeof(s_client_t));
    pthread_t threads[S_MAX_CLIENTS];
    int64_t start = s_ns();
    for (int i = 0; i < clients; i++) {
        cs[i] = (s_client_t){
            .index = i, .opts = opts, .endpoint = endpoint, .clients = clients, .stop = &stop};
        cs[i].lat_us = malloc(S_LAT_PER_CLIENT * sizeof(uint32_t));
        pthread_create(&threads[i], NULL, s_client_thread, &cs[i]);
    }
    usleep((useconds_t)(opts->seconds * 1e6));
    atomic_store(&stop, true);
    for (int i = 0; i < clients; i++)
        pthread_join(threads[i], NULL);
    double elapsed = (double)(s_ns() - start) / 1e9;
    zactor_destroy(&ledger);

    size_t total_lat = 0;
    memset(result, 0, sizeof *result);
    for (int i = 0; i < clients; i++) {
        result->requests += cs[i].requests;
        result->errors += cs[i].errors;
        result->generations += cs[i].generations;
        total_lat += cs[i].lat_n;
    }
    uint32_t *all = malloc((total_lat + 1) * sizeof(uint32_t));
    size_t n = 0;
    for (int i = 0; i < clients; i++) {
        memcpy(all + n, cs[i].lat_us, cs[i].lat_n * sizeof(uint32_t));
        n += cs[i].lat_n;
        free(cs[i].lat_us);
    }
    qsort(all, n, sizeof(uint32_t), s_cmp_u32);
    result->clients = clients;
    result->batch = batch;
    result->seconds = elapsed;
    result->rps = (double)result->requests / elapsed;
    result->p50_ms = n ? all[n / 2] / 1000.0 : 0;
    result->p99_ms = n ? all[(size_t)((double)n * 0.99)] / 1000.0 : 0;
    free(all);
    free(cs);
    char report[512];
    result->check_ok = check_db(path, report, sizeof report, NULL) == 0;
    if (!result->check_ok) fprintf(stderr, "genbot-bench: genbot check failed: %s\n", report);
    config_destroy(&config);
    if (!opts->db) {
        unlink(path);
        snprintf(side, sizeof side, "%s-wal", path);
        unlink(side);
        snprintf(side, sizeof side, "%s-shm", path);
        unlink(side);
    }
    return 0;
}

static int s_cmd_ledger(int argc, char **argv) {
    s_opts_t opts = {
        .seconds = 3, .window = 64, .clients = {1, 4, 16}, .client_sets = 3, .sync = 1};
    static const struct option longopts[] = {{"seconds", required_argument, NULL, 's'},
                                             {"window", required_argument, NULL, 'w'},
                                             {"clients", required_argument, NULL, 'c'},
                                             {"sync", required_argument, NULL, 'y'},
                                             {"db", required_argument, NULL, 'd'},
                                             {"json", no_argument, NULL, 'j'},
                                             {NULL, 0, NULL, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 's':
            opts.seconds = atof(optarg);
            break;
        case 'w':
            opts.window = atoi(optarg);
            break;
        case 'c': {
            opts.client_sets = 0;
            char *list = strdup(optarg), *save = NULL;
            for (char *t = strtok_r(list, ",", &save); t && opts.client_sets < 8;
                 t = strtok_r(NULL, ",", &save))
                opts.clients[opts.client_sets++] = atoi(t);
            free(list);
            break;
        }
        case 'y':
            opts.sync = strcmp(optarg, "full") == 0 ? 1 : strcmp(optarg, "normal") == 0 ? 0 : -1;
            break;
        case 'd':
            opts.db = optarg;
            break;
        case 'j':
            opts.json = true;
            break;
        default:
            return 64;
        }
    }
    if (opts.seconds <= 0 || opts.window < 1 || opts.window > S_MAX_WINDOW) {
        fprintf(stderr, "genbot-bench ledger: --seconds > 0, --window 1..%d\n", S_MAX_WINDOW);
        return 64;
    }
    for (int i = 0; i < opts.client_sets; i++)
        if (opts.clients[i] < 1 || opts.clients[i] > S_MAX_CLIENTS) {
            fprintf(stderr, "genbot-bench ledger: clients must be 1..%d\n", S_MAX_CLIENTS);
            return 64;
        }
    log_set_level(LOG_LEVEL_WARN);
    int failures = 0;
    if (!opts.json)
        printf("ledger mix: order_place, jobs_claim, job_submitted, job_succeeded|job_failed"
               " (1 in 10), job_delivered\nsync=%s window=%d flows per client, %.1f s per run\n\n"
               "%8s %8s %12s %10s %10s %10s %7s\n",
               opts.sync > 0    ? "full"
               : opts.sync == 0 ? "normal"
                                : "off",
               opts.window, opts.seconds, "clients", "batch", "requests/s", "p50 ms", "p99 ms",
               "errors", "check");
    else
        printf("[");
    bool first = true;
    for (int b = 0; b < 2; b++) {
        int batch =
            b == 0
                ? (int)(getenv("GENBOT_LEDGER_BATCH") ? atoi(getenv("GENBOT_LEDGER_BATCH")) : 256)
                : 1;
        for (int i = 0; i < opts.client_sets; i++) {
            s_result_t r;
            if (s_run_ledger(&opts, opts.clients[i], batch, &r)) {
                failures++;
                continue;
            }
            if (!r.check_ok) failures++;
            if (opts.json)
                printf("%s{\"clients\":%d,\"batch\":%d,\"requests_per_s\":%.0f,\"p50_ms\":%.3f,"
                       "\"p99_ms\":%.3f,\"errors\":%llu,\"generations\":%llu,\"check\":%s}",
                       first ? "" : ",", r.clients, r.batch, r.rps, r.p50_ms, r.p99_ms,
                       (unsigned long long)r.errors, (unsigned long long)r.generations,
                       r.check_ok ? "true" : "false");
            else
                printf("%8d %8d %12.0f %10.3f %10.3f %10llu %7s\n", r.clients, r.batch, r.rps,
                       r.p50_ms, r.p99_ms, (unsigned long long)r.errors,
                       r.check_ok ? "ok" : "FAILED");
            fflush(stdout);
            first = false;
        }
    }
    if (opts.json) printf("]\n");
    return failures ? 1 : 0;
}

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} s_commands[] = {
    {"ledger", s_cmd_ledger, "ledger throughput and latency, batched vs one transaction each"},
    {"notifier", bench_notifier,
     "outbound Telegram throughput, with and without Telegram's limits"},
    {"interactive", scn_cmd_interactive, "genbot child: menu browsing, the pure update path"},
    {"orders", scn_cmd_orders, "genbot child: full order flows with fast KIE tasks"},
    {"fanout", scn_cmd_fanout, "genbot child: 10,000 concurrent generations"},
    {"faults", scn_cmd_faults, "genbot child: Telegram and KIE faults, every check must pass"},
};

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0) {
        printf("usage: genbot-bench COMMAND [options]\n\n");
        for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++)
            printf("  %-10s %s\n", s_commands[i].name, s_commands[i].help);
        return argc < 2 ? 64 : 0;
    }
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++)
        if (strcmp(argv[1], s_commands[i].name) == 0) return s_commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "genbot-bench: unknown command \"%s\"\n", argv[1]);
    return 64;
}
