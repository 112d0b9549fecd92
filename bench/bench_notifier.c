/*  bench_notifier.c — genbot-bench notifier: outbound Telegram throughput.

    genbot-bench notifier [--messages N] [--chats C] [--limits on|off] [--json]

    The notifier actor against the simulated Telegram, in this process.
    limits off: as fast as it goes — messages/s and the notifier thread's
    CPU time per message (from /proc). limits on: the simulator enforces
    Telegram's flood control (30/s, 1/s per chat) and genbot is configured
    with the same rates — the achieved rate as a share of the limit, and
    the number of 429s (target: >= 95 % of the limit, no 429).
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <czmq.h>
#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "config.h"
#include "log.h"
#include "msg.h"
#include "notifier.h"
#include "sendq.h"
#include "tgsim.h"

//  utime + stime of this process's threads whose name is comm, in µs.
static int64_t s_thread_cpu_us(const char *comm) {
    DIR *dir = opendir("/proc/self/task");
    if (!dir) return -1;
    int64_t total = 0;
    long ticks = sysconf(_SC_CLK_TCK);
    for (struct dirent *entry; (entry = readdir(dir));) {
        if (entry->d_name[0] == '.') continue;
        char path[300], buf[1024];
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", entry->d_name);
        FILE *file = fopen(path, "r");
        if (!file) continue;
        size_t n = fread(buf, 1, sizeof buf - 1, file);
        fclose(file);
        buf[n] = 0;
        char *open = strchr(buf, '('), *close = strrchr(buf, ')');
        if (!open || !close || (size_t)(close - open - 1) != strlen(comm) ||
            strncmp(open + 1, comm, strlen(comm)) != 0)
            continue;
        //  fields after ")": state is 3rd; utime 14th, stime 15th
        unsigned long utime = 0, stime = 0;
        if (sscanf(close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
                   &stime) == 2)
            total += (int64_t)(utime + stime) * 1000000 / ticks;
    }
    closedir(dir);
    return total;
}

int bench_notifier(int argc, char **argv) {
    int messages = 2000, chats = 100;
    bool limits = false, json = false;
    static const struct option longopts[] = {{"messages", required_argument, NULL, 'm'},
                                             {"chats", required_argument, NULL, 'c'},
                                             {"limits", required_argument, NULL, 'l'},
                                             {"json", no_argument, NULL, 'j'},
                                             {NULL, 0, NULL, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (opt == 'm')
            messages = atoi(optarg);
        else if (opt == 'c')
            chats = atoi(optarg);
        else if (opt == 'l')
            limits = strcmp(optarg, "on") == 0;
        else if (opt == 'j')
            json = true;
        else
            return 64;
    }
    if (messages < 1 || chats < 1 || chats > 100000) {
        fprintf(stderr, "genbot-bench notifier: --messages >= 1, --chats 1..100000\n");
        return 64;
    }
    log_set_level(LOG_LEVEL_ERROR);
    tgsim_opts_t sim_opts;
    tgsim_opts_init(&sim_opts);
    sim_opts.enforce_limits = limits;
    tgsim_t *sim = tgsim_new(&sim_opts);
    char err[CONFIG_ERR_MAX];
    config_t *config = config_load(NULL, NULL, err);
    if (!sim || !config) {
        fprintf(stderr, "genbot-bench notifier: %s\n", sim ? err : "simulator did not start");
        return 1;
    }
    free(config->telegram_api_url);
    config->telegram_api_url = strdup(tgsim_url(sim));
    free(config->telegram_bot_token);
    config->telegram_bot_token = strdup(tgsim_token(sim));
    //  limits on: exactly Telegram's documented rates; off: no pacing to speak of
    config->tg_rate = limits ? 30 : 100000;
    config->tg_chat_rate = limits ? 1 : 1000;
    for (int c = 1; c <= chats; c++)
        tgsim_user_add(sim, 7000000 + c, "bench", "en");
    notifier_args_t args = {.config = config,
                            .endpoint = "inproc://bench-notifier",
                            .ledger_endpoint = "inproc://bench-notifier-ledger"};
    zactor_t *notifier = notifier_start(&args);
    zsock_t *client = zsock_new_dealer("inproc://bench-notifier");
    zsock_set_sndhwm(client, 0);
    zsock_set_rcvhwm(client, 0);
    int64_t cpu_before = s_thread_cpu_us("notifier");
    int64_t start = zclock_usecs();
    for (int i = 0; i < messages; i++) {
        int64_t chat = 7000000 + 1 + i % chats;
        char params[160];
        snprintf(params, sizeof params,
                 "{\"chat_id\":%lld,\"text\":\"Video #%d: in queue\",\"parse_mode\":\"HTML\"}",
                 (long long)chat, i);
        msg_t *call = notifier_call("sendMessage", params, chat, SENDQ_INTERACTIVE);
        msg_set_corr(call, (uint64_t)i + 1);
        msg_send(&call, client);
    }
    int done = 0, failed = 0;
    zpoller_t *poller = zpoller_new(client, NULL);
    while (done < messages && zpoller_wait(poller, 60000)) {
        msg_err_t merr;
        msg_t *result = msg_recv(client, &merr);
        if (!result) continue;
        done++;
        if (msg_int(result, F_CODE) != 0) failed++;
        msg_destroy(&result);
    }
    double seconds = (double)(zclock_usecs() - start) / 1e6;
    int64_t cpu = s_thread_cpu_us("notifier") - cpu_before;
    zpoller_destroy(&poller);
    tgsim_stats_t stats;
    tgsim_stats(sim, &stats);
    double rate = done / seconds;
    double cpu_per = done ? (double)cpu / done : 0;
    if (json)
        printf("{\"limits\":%s,\"messages\":%d,\"chats\":%d,\"seconds\":%.3f,"
               "\"messages_per_s\":%.1f,\"notifier_cpu_us_per_message\":%.1f,"
               "\"share_of_limit\":%.3f,\"tg_429\":%llu,\"failed\":%d}\n",
               limits ? "true" : "false", done, chats, seconds, rate, cpu_per,
               limits ? rate / 30 : 0.0, (unsigned long long)stats.flood, failed);
    else {
        printf("notifier, Telegram limits %s: %d messages to %d chats in %.2f s\n",
               limits ? "on (30/s, 1/s per chat)" : "off", done, chats, seconds);
        printf("  %.0f messages/s, notifier CPU %.1f µs per message, %llu × 429, %d failed\n", rate,
               cpu_per, (unsigned long long)stats.flood, failed);
        if (limits) printf("  achieved %.1f%% of the 30/s limit\n", rate / 30 * 100);
    }
    zsock_destroy(&client);
    zactor_destroy(&notifier);
    tgsim_destroy(&sim);
    config_destroy(&config);
    return done == messages && failed == 0 && (!limits || stats.flood == 0) ? 0 : 1;
}
