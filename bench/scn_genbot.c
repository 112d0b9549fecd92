/*  scn_genbot.c — genbot as the bench's child process: `genbot run` found
    next to genbot-bench, its environment, its CPU time and memory from
    /proc, SIGTERM and the wait, `genbot check DB`, and perf record.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "scn.h"

extern char **environ;

int64_t scn_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t scn_self_cpu_us(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 + ru.ru_utime.tv_usec +
           ru.ru_stime.tv_usec;
}

int scn_free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    int port = 0;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0 &&
        getsockname(fd, (struct sockaddr *)&addr, &len) == 0)
        port = ntohs(addr.sin_port);
    close(fd);
    return port;
}

int scn_genbot_init(scn_genbot_t *g, bool keep) {
    memset(g, 0, sizeof *g);
    char self[1024];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        fprintf(stderr, "genbot-bench: cannot read /proc/self/exe: %s\n", strerror(errno));
        return -1;
    }
    self[n] = 0;
    snprintf(g->exe, sizeof g->exe, "%s/genbot", dirname(self));
    if (access(g->exe, X_OK) != 0) {
        fprintf(stderr, "genbot-bench: %s not found (make build/genbot)\n", g->exe);
        return -1;
    }
    snprintf(g->dir, sizeof g->dir, "/tmp/genbot-bench-XXXXXX");
    if (!mkdtemp(g->dir)) {
        fprintf(stderr, "genbot-bench: mkdtemp: %s\n", strerror(errno));
        return -1;
    }
    snprintf(g->db, sizeof g->db, "%s/genbot.db", g->dir);
    snprintf(g->log, sizeof g->log, "%s/genbot.log", g->dir);
    (void)keep;
    return 0;
}

//  genbot's own variables are not inherited: the run sets what it means.
static bool s_ours(const char *entry) {
    return strncmp(entry, "GENBOT_", 7) == 0 || strncmp(entry, "KIE_", 4) == 0 ||
           strncmp(entry, "TELEGRAM_", 9) == 0 || strncmp(entry, "OPENAI_", 7) == 0;
}

int scn_genbot_start(scn_genbot_t *g, char *const *env, const char *wrap) {
    size_t n = 0, extra = 0;
    for (char **e = environ; *e; e++)
        n++;
    while (env[extra])
        extra++;
    char **envp = calloc(n + extra + 1, sizeof *envp);
    size_t k = 0;
    for (char **e = environ; *e; e++)
        if (!s_ours(*e)) envp[k++] = *e;
    for (size_t i = 0; i < extra; i++)
        envp[k++] = env[i];
    envp[k] = NULL;

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, g->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    char *words = wrap ? strdup(wrap) : NULL, *save = NULL;
    char *argv[32];
    int argc = 0;
    for (char *w = words ? strtok_r(words, " ", &save) : NULL; w && argc < 29;
         w = strtok_r(NULL, " ", &save))
        argv[argc++] = w;
    argv[argc++] = g->exe;
    argv[argc++] = "run";
    argv[argc] = NULL;
    int rc = posix_spawnp(&g->pid, argv[0], &actions, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&actions);
    free(words);
    free(envp);
    if (rc != 0) {
        fprintf(stderr, "genbot-bench: cannot start %s: %s\n", g->exe, strerror(rc));
        g->pid = 0;
        return -1;
    }
    return 0;
}

bool scn_genbot_alive(scn_genbot_t *g) {
    if (!g->pid || g->exited) return false;
    int status;
    pid_t r = waitpid(g->pid, &status, WNOHANG);
    if (r == g->pid) {
        g->exited = true;
        g->exit_status = status;
        return false;
    }
    return true;
}

int scn_genbot_proc(const scn_genbot_t *g, scn_proc_t *out) {
    memset(out, 0, sizeof *out);
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)g->pid);
    FILE *file = fopen(path, "r");
    if (!file) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, file);
    fclose(file);
    buf[n] = 0;
    char *close = strrchr(buf, ')');
    unsigned long utime = 0, stime = 0;
    long threads = 0;
    //  after ")": state(3) ... utime(14) stime(15) ... num_threads(20)
    if (!close || sscanf(close + 2,
                         "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d "
                         "%*d %*d %ld",
                         &utime, &stime, &threads) != 3)
        return -1;
    long ticks = sysconf(_SC_CLK_TCK);
    out->cpu_us = (int64_t)(utime + stime) * 1000000 / ticks;
    out->threads = (int)threads;
    snprintf(path, sizeof path, "/proc/%d/status", (int)g->pid);
    file = fopen(path, "r");
    if (!file) return -1;
    while (fgets(buf, sizeof buf, file)) {
        long long kb;
        if (sscanf(buf, "VmHWM: %lld", &kb) == 1)
            out->hwm_kb = kb;
        else if (sscanf(buf, "VmRSS: %lld", &kb) == 1)
            out->rss_kb = kb;
    }
    fclose(file);
    return 0;
}

int scn_genbot_threads(const scn_genbot_t *g, scn_threads_t *out) {
    out->n = 0;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)g->pid);
    DIR *dir = opendir(path);
    if (!dir) return -1;
    long ticks = sysconf(_SC_CLK_TCK);
    for (struct dirent *entry; (entry = readdir(dir)) && out->n < SCN_THREADS_MAX;) {
        if (entry->d_name[0] == '.') continue;
        char stat_path[300], buf[1024];
        snprintf(stat_path, sizeof stat_path, "/proc/%d/task/%s/stat", (int)g->pid, entry->d_name);
        FILE *file = fopen(stat_path, "r");
        if (!file) continue;
        size_t n = fread(buf, 1, sizeof buf - 1, file);
        fclose(file);
        buf[n] = 0;
        char *open = strchr(buf, '('), *close = strrchr(buf, ')');
        unsigned long utime = 0, stime = 0;
        if (!open || !close ||
            sscanf(close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
                   &stime) != 2)
            continue;
        scn_thread_t *t = &out->t[out->n++];
        t->tid = atoi(entry->d_name);
        size_t len = (size_t)(close - open - 1);
        if (len >= sizeof t->name) len = sizeof t->name - 1;
        memcpy(t->name, open + 1, len);
        t->name[len] = 0;
        t->cpu_us = (int64_t)(utime + stime) * 1000000 / ticks;
    }
    closedir(dir);
    return 0;
}

int scn_genbot_stop(scn_genbot_t *g, double timeout_s) {
    if (!g->pid) return -1;
    int64_t start = scn_now_ms();
    if (scn_genbot_alive(g)) kill(g->pid, SIGTERM);
    while (!g->exited) {
        int status;
        pid_t r = waitpid(g->pid, &status, WNOHANG);
        if (r == g->pid) {
            g->exited = true;
            g->exit_status = status;
            break;
        }
        if (scn_now_ms() - start > (int64_t)(timeout_s * 1000)) {
            kill(g->pid, SIGKILL);
            waitpid(g->pid, &status, 0);
            g->exited = true;
            g->killed = true;
            g->exit_status = status;
            break;
        }
        usleep(10000);
    }
    g->stop_s = (double)(scn_now_ms() - start) / 1000.0;
    if (g->killed) return -1;
    return WIFEXITED(g->exit_status) && WEXITSTATUS(g->exit_status) == 0 ? 0 : -1;
}

int scn_genbot_check(scn_genbot_t *g, char *out, size_t size) {
    int fds[2];
    if (pipe(fds) != 0) {
        snprintf(out, size, "pipe: %s", strerror(errno));
        return -1;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    char *argv[] = {g->exe, "check", g->db, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, g->exe, &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        snprintf(out, size, "cannot run genbot check: %s", strerror(rc));
        return -1;
    }
    size_t used = 0;
    ssize_t got;
    while ((got = read(fds[0], out + used, size - 1 - used)) > 0 && used + 1 < size)
        used += (size_t)got;
    out[used] = 0;
    close(fds[0]);
    while (used && (out[used - 1] == '\n' || out[used - 1] == ' '))
        out[--used] = 0;
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int scn_perf_start(scn_genbot_t *g, const char *file) {
    char pid[16];
    snprintf(pid, sizeof pid, "%d", (int)g->pid);
    char *argv[] = {"perf",        "record", "-e",  "cpu-clock", "--call-graph",
                    "dwarf,16384", "-F",     "499", "-o",        (char *)file,
                    "-p",          pid,      NULL};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    int rc = posix_spawnp(&g->perf_pid, "perf", &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        fprintf(stderr, "genbot-bench: cannot run perf: %s\n", strerror(rc));
        g->perf_pid = 0;
        return -1;
    }
    return 0;
}

void scn_perf_stop(scn_genbot_t *g) {
    if (!g->perf_pid) return;
    kill(g->perf_pid, SIGINT);
    int status;
    waitpid(g->perf_pid, &status, 0);
    g->perf_pid = 0;
}

void scn_genbot_tail(const scn_genbot_t *g, int lines) {
    FILE *file = fopen(g->log, "r");
    if (!file) return;
    //  a ring of the last lines
    char **ring = calloc((size_t)lines, sizeof *ring);
    char buf[1024];
    int at = 0, seen = 0;
    while (fgets(buf, sizeof buf, file)) {
        free(ring[at]);
        ring[at] = strdup(buf);
        at = (at + 1) % lines;
        seen++;
    }
    fclose(file);
    fprintf(stderr, "--- last lines of %s ---\n", g->log);
    for (int i = 0; i < lines; i++) {
        char *line = ring[(at + i) % lines];
        if (line) fputs(line, stderr);
        free(line);
    }
    free(ring);
    (void)seen;
}

void scn_genbot_cleanup(scn_genbot_t *g, bool keep) {
    if (g->pid && !g->exited) scn_genbot_stop(g, 5);
    if (keep || !g->dir[0]) return;
    const char *names[] = {"genbot.db", "genbot.db-wal", "genbot.db-shm", "genbot.log"};
    char path[400];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", g->dir, names[i]);
        unlink(path);
    }
    rmdir(g->dir);
}
