/*  top.c — `genbot top` (top.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "top.h"

#include <assert.h>
#include <czmq.h>
#include <math.h>
#include <msgpack.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "stats.h"

typedef struct {
    uint64_t seq;
    char line[160];
} s_event_line_t;

struct top_s {
    char *endpoint;
    msgpack_unpacked cur, prev; //  the last two samples (they point into *_raw)
    char *cur_raw, *prev_raw;
    int samples;                       //  0, 1 or 2: how many of cur, prev hold one
    int64_t last_ms;                   //  when the last message came, 0 = never
    s_event_line_t events[TOP_EVENTS]; //  oldest first
    size_t event_count;
    uint64_t last_seq; //  the newest event shown
};

//  --- reading the feed ------------------------------------------------------------

static const msgpack_object *s_get(const msgpack_object *obj, const char *path) {
    while (obj && *path) {
        if (obj->type != MSGPACK_OBJECT_MAP) return NULL;
        const char *dot = strchr(path, '.');
        size_t len = dot ? (size_t)(dot - path) : strlen(path);
        const msgpack_object *found = NULL;
        for (uint32_t i = 0; i < obj->via.map.size && !found; i++) {
            const msgpack_object *key = &obj->via.map.ptr[i].key;
            if (key->type == MSGPACK_OBJECT_STR && key->via.str.size == len &&
                memcmp(key->via.str.ptr, path, len) == 0)
                found = &obj->via.map.ptr[i].val;
        }
        obj = found;
        path += dot ? len + 1 : len;
    }
    return obj;
}

//  A number, or NAN when absent or nil.
static double s_num(const msgpack_object *obj, const char *path) {
    const msgpack_object *value = s_get(obj, path);
    if (!value) return NAN;
    switch (value->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return (double)value->via.u64;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return (double)value->via.i64;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return value->via.f64;
    default:
        return NAN;
    }
}

//  A string into buf ("" when absent or not a string).
static const char *s_str(const msgpack_object *obj, const char *path, char *buf, size_t size) {
    const msgpack_object *value = s_get(obj, path);
    if (value && value->type == MSGPACK_OBJECT_STR)
        snprintf(buf, size, "%.*s", (int)value->via.str.size, value->via.str.ptr);
    else if (size)
        buf[0] = '\0';
    return buf;
}

static void s_event_add(top_t *self, const msgpack_object *event) {
    double seq = s_num(event, "seq");
    if (isnan(seq) || (uint64_t)seq <= self->last_seq)
        return; //  seen already (on its topic, or in an earlier sample)
    self->last_seq = (uint64_t)seq;
    s_event_line_t line = {.seq = (uint64_t)seq};
    char kind[40];
    time_t at = (time_t)(s_num(event, "at_ms") / 1000);
    struct tm tm;
    localtime_r(&at, &tm);
    size_t used = strftime(line.line, sizeof line.line, "%H:%M:%S ", &tm);
    used += (size_t)snprintf(line.line + used, sizeof line.line - used, "%s",
                             s_str(event, "kind", kind, sizeof kind));
    for (uint32_t i = 0; i < event->via.map.size && used < sizeof line.line; i++) {
        const msgpack_object *key = &event->via.map.ptr[i].key, *value = &event->via.map.ptr[i].val;
        if (key->type != MSGPACK_OBJECT_STR) continue;
        char name[40];
        snprintf(name, sizeof name, "%.*s", (int)key->via.str.size, key->via.str.ptr);
        if (!strcmp(name, "schema") || !strcmp(name, "kind") || !strcmp(name, "seq") ||
            !strcmp(name, "at_ms"))
            continue;
        size_t left = sizeof line.line - used;
        if (value->type == MSGPACK_OBJECT_STR)
            used += (size_t)snprintf(line.line + used, left, " %s=\"%.*s\"", name,
                                     (int)value->via.str.size, value->via.str.ptr);
        else if (value->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            used += (size_t)snprintf(line.line + used, left, " %s=%" PRIu64, name, value->via.u64);
        else if (value->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
            used += (size_t)snprintf(line.line + used, left, " %s=%" PRId64, name, value->via.i64);
        else if (value->type == MSGPACK_OBJECT_BOOLEAN)
            used += (size_t)snprintf(line.line + used, left, " %s=%s", name,
                                     value->via.boolean ? "true" : "false");
    }
    if (self->event_count == TOP_EVENTS) {
        memmove(&self->events[0], &self->events[1], sizeof self->events[0] * (TOP_EVENTS - 1));
        self->event_count--;
    }
    self->events[self->event_count++] = line;
}

top_t *top_new(const char *endpoint) {
    top_t *self = (top_t *)calloc(1, sizeof(top_t));
    assert(self);
    self->endpoint = strdup(endpoint ? endpoint : "");
    assert(self->endpoint);
    msgpack_unpacked_init(&self->cur);
    msgpack_unpacked_init(&self->prev);
    return self;
}

void top_destroy(top_t **self_p) {
    assert(self_p);
    top_t *self = *self_p;
    if (!self) return;
    msgpack_unpacked_destroy(&self->cur);
    msgpack_unpacked_destroy(&self->prev);
    free(self->cur_raw);
    free(self->prev_raw);
    free(self->endpoint);
    free(self);
    *self_p = NULL;
}

int top_samples(const top_t *self) {
    return self->samples;
}

int top_feed(top_t *self, const char *topic, const void *data, size_t size, int64_t now_ms) {
    //  the objects msgpack gives point into the bytes: a sample keeps its own
    char *raw = (char *)malloc(size ? size : 1);
    assert(raw);
    memcpy(raw, data, size);
    msgpack_unpacked message;
    msgpack_unpacked_init(&message);
    bool ok = msgpack_unpack_next(&message, raw, size, NULL) == MSGPACK_UNPACK_SUCCESS &&
              message.data.type == MSGPACK_OBJECT_MAP &&
              s_num(&message.data, "schema") == STATS_SCHEMA;
    bool stats = ok && strcmp(topic, STATS_TOPIC) == 0;
    if (!ok || (!stats && strncmp(topic, STATS_EVENT_PREFIX, strlen(STATS_EVENT_PREFIX)) != 0)) {
        msgpack_unpacked_destroy(&message);
        free(raw);
        return -1;
    }
    self->last_ms = now_ms;
    if (!stats) {
        s_event_add(self, &message.data);
        msgpack_unpacked_destroy(&message);
        free(raw);
        return 0;
    }
    //  another process, or the same one gone back: the old numbers are no base
    bool restarted =
        self->samples && (s_num(&message.data, "pid") != s_num(&self->cur.data, "pid") ||
                          s_num(&message.data, "uptime_ms") < s_num(&self->cur.data, "uptime_ms"));
    if (restarted) {
        self->samples = 0;
        self->last_seq = 0;
    }
    msgpack_unpacked_destroy(&self->prev);
    free(self->prev_raw);
    self->prev = self->cur; //  moves the zone
    self->prev_raw = self->cur_raw;
    self->cur = message;
    self->cur_raw = raw;
    if (self->samples < 2) self->samples++;
    const msgpack_object *events = s_get(&self->cur.data, "events");
    for (uint32_t i = 0;
         events && events->type == MSGPACK_OBJECT_ARRAY && i < events->via.array.size; i++)
        if (events->via.array.ptr[i].type == MSGPACK_OBJECT_MAP)
            s_event_add(self, &events->via.array.ptr[i]);
    return 0;
}

//  --- drawing ------------------------------------------------------------------------

//  Per second, from the last two samples; since start when there is one.
static double s_rate(const top_t *self, const char *path) {
    double now = s_num(&self->cur.data, path);
    if (self->samples < 2) {
        double uptime_s = s_num(&self->cur.data, "uptime_ms") / 1000;
        return uptime_s > 0 && !isnan(now) ? now / uptime_s : 0;
    }
    double before = s_num(&self->prev.data, path);
    double dt = (s_num(&self->cur.data, "uptime_ms") - s_num(&self->prev.data, "uptime_ms")) / 1000;
    if (isnan(now) || isnan(before) || dt <= 0 || now < before) return 0;
    return (now - before) / dt;
}

static const char *s_us(double us, char *buf, size_t size) {
    if (isnan(us))
        snprintf(buf, size, "-");
    else if (us < 1000)
        snprintf(buf, size, "%.0fµs", us);
    else if (us < 1000000)
        snprintf(buf, size, "%.1fms", us / 1000);
    else
        snprintf(buf, size, "%.2fs", us / 1000000);
    return buf;
}

static const char *s_duration(double ms, char *buf, size_t size) {
    long s = isnan(ms) ? 0 : (long)(ms / 1000);
    if (s >= 86400)
        snprintf(buf, size, "%ldd%02ldh", s / 86400, s % 86400 / 3600);
    else if (s >= 3600)
        snprintf(buf, size, "%ldh%02ldm", s / 3600, s % 3600 / 60);
    else
        snprintf(buf, size, "%ldm%02lds", s / 60, s % 60);
    return buf;
}

static void s_latency(const top_t *self, FILE *out, const char *label, const char *path) {
    char key[64], p50[24], p99[24];
    snprintf(key, sizeof key, "%s.p50", path);
    s_us(s_num(&self->cur.data, key), p50, sizeof p50);
    snprintf(key, sizeof key, "%s.p99", path);
    s_us(s_num(&self->cur.data, key), p99, sizeof p99);
    fprintf(out, "  %s %s/%s", label, p50, p99);
}

static void s_draw_keys(const top_t *self, FILE *out) {
    const msgpack_object *keys = s_get(&self->cur.data, "keys");
    size_t n = keys && keys->type == MSGPACK_OBJECT_ARRAY ? keys->via.array.size : 0;
    fprintf(out, "keys      %zu\n", n);
    if (n)
        fprintf(out, "  %-14s %-26s %9s %8s %9s %7s\n", "KEY", "HEALTH", "IN FLIGHT", "CREATED",
                "SUCCEEDED", "FAILED");
    double now_ms = s_num(&self->cur.data, "at_ms");
    for (size_t i = 0; i < n; i++) {
        const msgpack_object *key = &keys->via.array.ptr[i];
        char fingerprint[40], health[64], reason[40], in_flight[32];
        s_str(key, "fingerprint", fingerprint, sizeof fingerprint);
        s_str(key, "health", health, sizeof health);
        s_str(key, "reason", reason, sizeof reason);
        double until = s_num(key, "until_ms");
        size_t used = strlen(health);
        if (!isnan(until) && until > now_ms)
            used += (size_t)snprintf(health + used, sizeof health - used, " %.0fs",
                                     (until - now_ms) / 1000);
        if (*reason) snprintf(health + used, sizeof health - used, " (%s)", reason);
        snprintf(in_flight, sizeof in_flight, "%.0f/%.0f", s_num(key, "in_flight"),
                 s_num(key, "slots"));
        double failed = 0;
        const msgpack_object *classes = s_get(key, "failed");
        for (uint32_t c = 0;
             classes && classes->type == MSGPACK_OBJECT_MAP && c < classes->via.map.size; c++)
            if (classes->via.map.ptr[c].val.type == MSGPACK_OBJECT_POSITIVE_INTEGER)
                failed += (double)classes->via.map.ptr[c].val.via.u64;
        fprintf(out, "  %-14s %-26s %9s %8.0f %9.0f %7.0f\n", fingerprint, health, in_flight,
                s_num(key, "created"), s_num(key, "succeeded"), failed);
    }
}

static void s_draw_queues(const top_t *self, FILE *out, int width) {
    const msgpack_object *queues = s_get(&self->cur.data, "queues");
    fprintf(out, "queues   ");
    int column = 9;
    for (uint32_t i = 0; queues && queues->type == MSGPACK_OBJECT_MAP && i < queues->via.map.size;
         i++) {
        const msgpack_object *key = &queues->via.map.ptr[i].key;
        const msgpack_object *value = &queues->via.map.ptr[i].val;
        if (key->type != MSGPACK_OBJECT_STR) continue;
        int64_t depth = value->type == MSGPACK_OBJECT_POSITIVE_INTEGER   ? (int64_t)value->via.u64
                        : value->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? value->via.i64
                                                                         : 0;
        char item[96];
        int len = snprintf(item, sizeof item, "  %.*s: %" PRId64, (int)key->via.str.size,
                           key->via.str.ptr, depth);
        if (column > 9 && column + len > width) {
            fprintf(out, "\n         ");
            column = 9;
        }
        fputs(item, out);
        column += len;
    }
    fprintf(out, "\n");
}

static void s_draw(top_t *self, FILE *out, int64_t now_ms, int width) {
    const msgpack_object *cur = &self->cur.data;
    char buf[64], version[32], clock[16];
    time_t wall = time(NULL);
    struct tm tm;
    localtime_r(&wall, &tm);
    strftime(clock, sizeof clock, "%H:%M:%S", &tm);
    bool silent = !self->last_ms || now_ms - self->last_ms >= TOP_SILENCE_MS;
    if (self->samples)
        fprintf(out, "genbot %s  pid %.0f  up %s  %s  %s\n",
                s_str(cur, "version", version, sizeof version), s_num(cur, "pid"),
                s_duration(s_num(cur, "uptime_ms"), buf, sizeof buf), self->endpoint, clock);
    else
        fprintf(out, "genbot top  %s  %s\n", self->endpoint, clock);
    if (silent || !self->samples) {
        fprintf(out, "\nwaiting for genbot at %s…\n", self->endpoint);
    } else {
        fprintf(out, "\nupdates   in %.1f/s  handled %.1f/s  redelivered %.1f/s\n",
                s_rate(self, "updates.received"), s_rate(self, "updates.handled"),
                s_rate(self, "updates.redelivered"));
        fprintf(out, "replies   sent %.1f/s  calls %.1f/s  retries %.1f/s  given up %.1f/s\n",
                s_rate(self, "replies.sent"), s_rate(self, "replies.calls"),
                s_rate(self, "replies.retries"), s_rate(self, "replies.given_up"));
        fprintf(out, "telegram  429 %.1f/s  403 %.1f/s  5xx %.1f/s  network %.1f/s  4xx %.1f/s\n",
                s_rate(self, "telegram_errors.429"), s_rate(self, "telegram_errors.403"),
                s_rate(self, "telegram_errors.5xx"), s_rate(self, "telegram_errors.network"),
                s_rate(self, "telegram_errors.4xx"));
        double batches = s_rate(self, "ledger.batches"), requests = s_rate(self, "ledger.requests");
        fprintf(out, "ledger    batches %.1f/s  requests %.1f/s  (%.1f a batch)  errors %.1f/s\n",
                batches, requests, batches > 0 ? requests / batches : 0,
                s_rate(self, "ledger.errors"));
        fprintf(out, "p50/p99 ");
        s_latency(self, out, "update→reply", "update_reply_us");
        s_latency(self, out, " send", "telegram_send_us");
        s_latency(self, out, " commit", "ledger.commit_us");
        fprintf(out,
                "\njobs      in flight %.0f  created %.2f/s  succeeded %.2f/s  failed %.2f/s\n",
                s_num(cur, "jobs.in_flight"), s_rate(self, "jobs.created"),
                s_rate(self, "jobs.succeeded"), s_rate(self, "jobs.failed"));
        fprintf(out, "          retries %.2f/s  requeues %.2f/s  expired %.2f/s\n",
                s_rate(self, "jobs.retries"), s_rate(self, "jobs.requeues"),
                s_rate(self, "jobs.expired"));
        const msgpack_object *states = s_get(cur, "jobs_by_state");
        if (states && states->type == MSGPACK_OBJECT_MAP) {
            fprintf(out, "by state ");
            for (uint32_t i = 0; i < states->via.map.size; i++) {
                const msgpack_object *key = &states->via.map.ptr[i].key;
                if (key->type == MSGPACK_OBJECT_STR &&
                    states->via.map.ptr[i].val.type == MSGPACK_OBJECT_POSITIVE_INTEGER)
                    fprintf(out, " %.*s %" PRIu64, (int)key->via.str.size, key->via.str.ptr,
                            states->via.map.ptr[i].val.via.u64);
            }
            fprintf(out, "\n");
        }
        s_draw_keys(self, out);
        s_draw_queues(self, out, width);
    }
    fprintf(out, "events\n");
    if (!self->event_count) fprintf(out, "  (none yet)\n");
    for (size_t i = 0; i < self->event_count; i++)
        fprintf(out, "  %s\n", self->events[i].line);
}

//  Columns of a UTF-8 line (one a character: good enough for this text).
static size_t s_cut(const char *line, size_t len, int width) {
    int columns = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)line[i] & 0xC0) != 0x80 && ++columns > width) return i;
    return len;
}

void top_render(top_t *self, FILE *out, int64_t now_ms, int width) {
    if (width <= 0) width = TOP_WIDTH;
    char *text = NULL;
    size_t size = 0;
    FILE *mem = open_memstream(&text, &size);
    if (!mem) return;
    s_draw(self, mem, now_ms, width);
    fclose(mem);
    for (char *line = text, *end; line && *line; line = end ? end + 1 : NULL) {
        end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        fprintf(out, "%.*s\n", (int)s_cut(line, len, width), line);
    }
    free(text);
}

//  --- the command ----------------------------------------------------------------------

static volatile sig_atomic_t s_stop;
static struct termios s_saved_tty;
static bool s_raw;

static void s_on_signal(int signal_number) {
    (void)signal_number;
    s_stop = 1;
}

static void s_tty_restore(void) {
    if (!s_raw) return;
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &s_saved_tty);
    fputs("\033[?25h\033[?1049l", stdout); //  cursor back, main screen back
    fflush(stdout);
    s_raw = false;
}

static void s_tty_raw(void) {
    if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &s_saved_tty) != 0) return;
    struct termios raw = s_saved_tty;
    raw.c_lflag &= (tcflag_t) ~(ICANON | ECHO); //  ISIG stays: Ctrl-C is SIGINT
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) != 0) return;
    s_raw = true;
    atexit(s_tty_restore);
    fputs("\033[?1049h\033[?25l", stdout); //  alternate screen, no cursor
}

//  A bind address as an address to connect to.
static void s_endpoint(const char *bind, char *buf, size_t size) {
    const char *host = strncmp(bind, "tcp://", 6) == 0 ? bind + 6 : NULL;
    if (host && (strncmp(host, "*:", 2) == 0 || strncmp(host, "0.0.0.0:", 8) == 0))
        snprintf(buf, size, "tcp://127.0.0.1%s", strchr(host, ':'));
    else
        snprintf(buf, size, "%s", bind);
}

static void s_receive(top_t *self, void *sub) {
    for (;;) {
        zmq_msg_t topic, body;
        zmq_msg_init(&topic);
        if (zmq_msg_recv(&topic, sub, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&topic);
            return;
        }
        zmq_msg_init(&body);
        if (zmq_msg_more(&topic) && zmq_msg_recv(&body, sub, 0) >= 0) {
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int)zmq_msg_size(&topic),
                     (const char *)zmq_msg_data(&topic));
            top_feed(self, name, zmq_msg_data(&body), zmq_msg_size(&body), zclock_mono());
        }
        while (zmq_msg_more(&body)) { //  frames past the two expected
            zmq_msg_close(&body);
            zmq_msg_init(&body);
            zmq_msg_recv(&body, sub, 0);
        }
        zmq_msg_close(&body);
        zmq_msg_close(&topic);
    }
}

//  Returns -1 when stdout is gone (`genbot top | head`): time to stop.
static int s_show(top_t *self, bool screen, bool once) {
    int width = 0;
    struct winsize size;
    if (screen && ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0)
        width = size.ws_col;
    if (screen) fputs("\033[H\033[2J", stdout);
    top_render(self, stdout, zclock_mono(), width);
    if (!screen && !once) fputs("\n", stdout);
    return fflush(stdout) == 0 && !ferror(stdout) ? 0 : -1;
}

int top_main(int argc, char **argv) {
    bool once = false;
    const char *endpoint = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--once") == 0)
            once = true;
        else if (argv[i][0] != '-' && !endpoint)
            endpoint = argv[i];
        else {
            fprintf(stderr, "usage: genbot top [--once] [ENDPOINT]  (default: GENBOT_STATS_BIND, "
                            "else tcp://127.0.0.1:7557)\n");
            return strcmp(argv[i], "--help") == 0 ? 0 : 64;
        }
    }
    char address[256];
    const char *bind = endpoint ? endpoint : getenv("GENBOT_STATS_BIND");
    s_endpoint(bind && *bind ? bind : "tcp://127.0.0.1:7557", address, sizeof address);

    zsys_handler_set(NULL);
    struct sigaction action = {.sa_handler = s_on_signal}; //  no SA_RESTART: poll wakes up
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    s_stop = 0;
    zsock_t *sub = zsock_new(ZMQ_SUB);
    if (!sub || zsock_connect(sub, "%s", address) < 0) {
        fprintf(stderr, "genbot top: cannot connect to %s\n", address);
        zsock_destroy(&sub);
        return 2;
    }
    zsock_set_subscribe(sub, STATS_TOPIC);
    zsock_set_subscribe(sub, STATS_EVENT_PREFIX);
    top_t *top = top_new(address);
    bool screen = !once && isatty(STDOUT_FILENO);
    if (screen) s_tty_raw();
    int64_t started = zclock_mono(), next_draw = started;
    int rc = 0;
    while (!s_stop) {
        int64_t now = zclock_mono();
        if (once && (top_samples(top) || now - started >= TOP_ONCE_WAIT_MS)) {
            s_show(top, false, true);
            rc = top_samples(top) ? 0 : 1;
            break;
        }
        if (!once && now >= next_draw) {
            if (s_show(top, screen, false) != 0) break;
            next_draw = now + TOP_REDRAW_MS;
        }
        zmq_pollitem_t items[] = {{zsock_resolve(sub), 0, ZMQ_POLLIN, 0},
                                  {NULL, STDIN_FILENO, ZMQ_POLLIN, 0}};
        int64_t wait = once ? 100 : next_draw - now;
        if (zmq_poll(items, s_raw ? 2 : 1, (long)(wait > 0 ? wait : 0)) < 0 && errno != EINTR)
            break;
        if (items[0].revents & ZMQ_POLLIN) s_receive(top, zsock_resolve(sub));
        if (s_raw && (items[1].revents & ZMQ_POLLIN)) {
            char keys[16];
            ssize_t n = read(STDIN_FILENO, keys, sizeof keys);
            for (ssize_t i = 0; i < n; i++)
                if (keys[i] == 'q' || keys[i] == 'Q' || keys[i] == 3) s_stop = 1;
        }
    }
    s_tty_restore();
    top_destroy(&top);
    zsock_destroy(&sub);
    return rc;
}
