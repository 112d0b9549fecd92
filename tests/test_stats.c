/*  test_stats.c — the stats feed against its documented schema: a real
    genbot (every actor, the simulated Telegram) publishing on a free TCP
    port, a SUB socket reading it; events on their topics; the histograms'
    percentiles; `genbot top --once`; the event ring when it is full.
*/
#include "testutil.h"

#include <math.h>
#include <msgpack.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "genbot.h"
#include "kie.h"
#include "stats.h"
#include "tgsim.h"
#include "top.h"

#define WAIT_MS 10000
#define KIE_KEY "stats-test-key-0123456789abcdef"
#define SECRET  "stats-test-secret-0123456789"

typedef struct {
    const char *path, *type, *what;
} s_field_t;

static const s_field_t s_fields[] = {
#define S_FIELD(path, type, what) {path, type, what},
    STATS_FIELDS(S_FIELD)};
static const s_field_t s_event_fields[] = {STATS_EVENT_COMMON(S_FIELD)};
#undef S_FIELD
#define S_FIELD_COUNT (sizeof s_fields / sizeof s_fields[0])

//  --- helpers --------------------------------------------------------------------------

static int s_free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    socklen_t len = sizeof addr;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    close(fd);
    return ntohs(addr.sin_port);
}

static zsock_t *s_subscriber(const char *endpoint) {
    zsock_t *sub = zsock_new(ZMQ_SUB);
    assert_non_null(sub);
    zsock_set_subscribe(sub, STATS_TOPIC);
    zsock_set_subscribe(sub, STATS_EVENT_PREFIX);
    zsock_set_rcvtimeo(sub, 100);
    assert_true(zsock_connect(sub, "%s", endpoint) >= 0);
    return sub;
}

//  One message of the feed: the msgpack objects point into raw.
typedef struct {
    char topic[64];
    char *raw;
    size_t size;
    msgpack_unpacked body;
} s_msg_t;

static void s_msg_init(s_msg_t *m) {
    memset(m, 0, sizeof *m);
    msgpack_unpacked_init(&m->body);
}

static void s_msg_free(s_msg_t *m) {
    msgpack_unpacked_destroy(&m->body);
    free(m->raw);
    m->raw = NULL;
}

//  One [topic, msgpack] message within timeout_ms into m: 0, or -1.
static int s_recv(zsock_t *sub, s_msg_t *m, int timeout_ms) {
    int64_t deadline = zclock_mono() + timeout_ms;
    while (zclock_mono() < deadline) {
        zmsg_t *msg = zmsg_recv(sub);
        if (!msg) continue;
        assert_int_equal(zmsg_size(msg), 2);
        char *topic = zmsg_popstr(msg);
        zframe_t *frame = zmsg_pop(msg);
        s_msg_free(m);
        s_msg_init(m);
        snprintf(m->topic, sizeof m->topic, "%s", topic);
        m->size = zframe_size(frame);
        m->raw = malloc(m->size);
        memcpy(m->raw, zframe_data(frame), m->size);
        assert_int_equal(msgpack_unpack_next(&m->body, m->raw, m->size, NULL),
                         MSGPACK_UNPACK_SUCCESS);
        zstr_free(&topic);
        zframe_destroy(&frame);
        zmsg_destroy(&msg);
        return 0;
    }
    return -1;
}

static const msgpack_object *s_key(const msgpack_object *map, const char *key, size_t len) {
    if (map->type != MSGPACK_OBJECT_MAP) return NULL;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == len &&
            memcmp(k->via.str.ptr, key, len) == 0)
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

static const msgpack_object *s_get(const msgpack_object *obj, const char *path) {
    while (obj && *path) {
        const char *dot = strchr(path, '.');
        size_t len = dot ? (size_t)(dot - path) : strlen(path);
        obj = s_key(obj, path, len);
        path += dot ? len + 1 : len;
    }
    return obj;
}

static double s_num(const msgpack_object *obj, const char *path) {
    const msgpack_object *value = s_get(obj, path);
    if (!value) return NAN;
    if (value->type == MSGPACK_OBJECT_POSITIVE_INTEGER) return (double)value->via.u64;
    if (value->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) return (double)value->via.i64;
    if (value->type == MSGPACK_OBJECT_FLOAT64 || value->type == MSGPACK_OBJECT_FLOAT32)
        return value->via.f64;
    return NAN;
}

static bool s_str_is(const msgpack_object *obj, const char *path, const char *expect) {
    const msgpack_object *value = s_get(obj, path);
    return value && value->type == MSGPACK_OBJECT_STR && value->via.str.size == strlen(expect) &&
           memcmp(value->via.str.ptr, expect, value->via.str.size) == 0;
}

//  --- the schema -----------------------------------------------------------------------

static bool s_type_ok(const msgpack_object *obj, const char *type) {
    if (obj->type == MSGPACK_OBJECT_NIL) return strstr(type, "|nil") != NULL;
    size_t len = strcspn(type, "|");
#define S_IS(name) (len == strlen(name) && strncmp(type, name, len) == 0)
    switch (obj->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return S_IS("uint") || S_IS("int");
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return S_IS("int");
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return S_IS("float");
    case MSGPACK_OBJECT_STR:
        return S_IS("str");
    case MSGPACK_OBJECT_MAP:
        return S_IS("map");
    case MSGPACK_OBJECT_ARRAY:
        return S_IS("array");
    default:
        return false;
    }
#undef S_IS
}

//  Every value at path (a.b, a[], a.*) has the row's type; a plain key
//  must be there unless its container is nil (a "|nil" parent).
static void s_check_path(const msgpack_object *obj, const char *rest, const s_field_t *field) {
    if (!*rest) {
        if (!s_type_ok(obj, field->type))
            fail_msg("%s: not a %s (msgpack type %d)", field->path, field->type, obj->type);
        return;
    }
    if (obj->type == MSGPACK_OBJECT_NIL)
        return; //  a nil container (checked as "|nil" at its own row)
    const char *dot = strchr(rest, '.');
    size_t len = dot ? (size_t)(dot - rest) : strlen(rest);
    const char *next = rest + (dot ? len + 1 : len);
    if (len == 1 && rest[0] == '*') {
        assert_int_equal(obj->type, MSGPACK_OBJECT_MAP);
        for (uint32_t i = 0; i < obj->via.map.size; i++)
            s_check_path(&obj->via.map.ptr[i].val, next, field);
        return;
    }
    bool each = len > 2 && strncmp(rest + len - 2, "[]", 2) == 0;
    const msgpack_object *value = s_key(obj, rest, each ? len - 2 : len);
    if (!value) fail_msg("%s: missing", field->path);
    if (!each) {
        s_check_path(value, next, field);
        return;
    }
    if (value->type != MSGPACK_OBJECT_ARRAY) fail_msg("%s: not an array", field->path);
    for (uint32_t i = 0; i < value->via.array.size; i++)
        s_check_path(&value->via.array.ptr[i], next, field);
}

static const s_field_t *s_row(const char *path) {
    for (size_t i = 0; i < S_FIELD_COUNT; i++)
        if (strcmp(s_fields[i].path, path) == 0) return &s_fields[i];
    return NULL;
}

static void s_check_event(const msgpack_object *event);

//  No field of the message is missing from the table.
static void s_check_documented(const msgpack_object *obj, const char *path) {
    if (obj->type == MSGPACK_OBJECT_ARRAY) {
        char item[256];
        snprintf(item, sizeof item, "%s[]", path);
        if (!s_row(item)) fail_msg("%s: undocumented", item);
        for (uint32_t i = 0; i < obj->via.array.size; i++) {
            if (strcmp(item, "events[]") == 0)
                s_check_event(&obj->via.array.ptr[i]);
            else
                s_check_documented(&obj->via.array.ptr[i], item);
        }
        return;
    }
    if (obj->type != MSGPACK_OBJECT_MAP) return;
    for (uint32_t i = 0; i < obj->via.map.size; i++) {
        const msgpack_object *key = &obj->via.map.ptr[i].key;
        assert_int_equal(key->type, MSGPACK_OBJECT_STR);
        char child[256], any[256];
        snprintf(child, sizeof child, "%s%s%.*s", path, *path ? "." : "", (int)key->via.str.size,
                 key->via.str.ptr);
        snprintf(any, sizeof any, "%s%s*", path, *path ? "." : "");
        const char *documented = s_row(child) ? child : s_row(any) ? any : NULL;
        if (!documented)
            fail_msg("%s: in the message but not in STATS_FIELDS (docs/stats.md)", child);
        s_check_documented(&obj->via.map.ptr[i].val, documented);
    }
}

static void s_check_stats(const msgpack_object *stats) {
    assert_int_equal(stats->type, MSGPACK_OBJECT_MAP);
    for (size_t i = 0; i < S_FIELD_COUNT; i++)
        s_check_path(stats, s_fields[i].path, &s_fields[i]);
    s_check_documented(stats, "");
    assert_int_equal((int)s_num(stats, "schema"), STATS_SCHEMA);
}

static void s_check_event(const msgpack_object *event) {
    assert_int_equal(event->type, MSGPACK_OBJECT_MAP);
    for (size_t i = 0; i < sizeof s_event_fields / sizeof s_event_fields[0]; i++)
        s_check_path(event, s_event_fields[i].path, &s_event_fields[i]);
    assert_int_equal((int)s_num(event, "schema"), STATS_SCHEMA);
}

//  --- tests --------------------------------------------------------------------------------

static void test_histogram_buckets_and_percentiles(void **state) {
    (void)state;
    assert_int_equal(actor_hist_bucket(0), 0);
    assert_int_equal(actor_hist_bucket(1), 1);
    assert_int_equal(actor_hist_bucket(2), 2);
    assert_int_equal(actor_hist_bucket(3), 2);
    assert_int_equal(actor_hist_bucket(1023), 10);
    assert_int_equal(actor_hist_bucket(1024), 11);
    assert_int_equal(actor_hist_bucket(UINT64_MAX), ACTOR_HIST_BUCKETS - 1);
    uint64_t buckets[ACTOR_HIST_BUCKETS] = {0};
    assert_int_equal(stats_percentile(buckets, 0.5), 0);
    //  98 observations of ~10 µs, 2 of ~100 ms
    buckets[actor_hist_bucket(10)] = 98;
    buckets[actor_hist_bucket(100000)] = 2;
    uint64_t p50 = stats_percentile(buckets, 0.50), p99 = stats_percentile(buckets, 0.99);
    assert_in_range(p50, 8, 16);
    assert_in_range(p99, 65536, 131072);
    //  the same from an interval's differences: an earlier copy taken away
    uint64_t before[ACTOR_HIST_BUCKETS] = {0}, delta[ACTOR_HIST_BUCKETS];
    before[actor_hist_bucket(10)] = 90;
    for (int b = 0; b < ACTOR_HIST_BUCKETS; b++)
        delta[b] = buckets[b] - before[b];
    assert_in_range(stats_percentile(delta, 0.50), 8, 16);
    assert_in_range(stats_percentile(delta, 0.99), 65536, 131072);
}

//  A type as a Markdown table cell: "map|nil" -> "map\\|nil".
static const char *s_md(const char *type, char *buf, size_t size) {
    size_t used = 0;
    for (const char *c = type; *c && used + 3 < size; c++) {
        if (*c == '|') buf[used++] = '\\';
        buf[used++] = *c;
    }
    buf[used] = '\0';
    return buf;
}

static void test_docs_list_every_field_and_event(void **state) {
    (void)state;
    FILE *file = fopen("docs/stats.md", "rb");
    if (!file) fail_msg("docs/stats.md missing (run from the repo root)");
    char *doc = calloc(1, 1 << 17);
    size_t n = fread(doc, 1, (1 << 17) - 1, file);
    fclose(file);
    assert_true(n > 0);
    char line[512], type[32];
    for (size_t i = 0; i < S_FIELD_COUNT; i++) {
        snprintf(line, sizeof line, "| `%s` | %s | %s |", s_fields[i].path,
                 s_md(s_fields[i].type, type, sizeof type), s_fields[i].what);
        if (!strstr(doc, line)) fail_msg("docs/stats.md lacks the row:\n%s", line);
    }
    for (size_t i = 0; i < sizeof s_event_fields / sizeof s_event_fields[0]; i++) {
        snprintf(line, sizeof line, "| `%s` | %s | %s |", s_event_fields[i].path,
                 s_event_fields[i].type, s_event_fields[i].what);
        if (!strstr(doc, line)) fail_msg("docs/stats.md lacks the event row:\n%s", line);
    }
#define S_EVENT_ROW(id, kind, by, fields, when)                                                    \
    snprintf(line, sizeof line, "| `event.%s` | %s | %s | %s |", kind, by, fields, when);          \
    if (!strstr(doc, line)) fail_msg("docs/stats.md lacks the event:\n%s", line);
    STATS_EVENTS(S_EVENT_ROW)
#undef S_EVENT_ROW
    snprintf(line, sizeof line, "Schema version: %d", STATS_SCHEMA);
    assert_non_null(strstr(doc, line));
    free(doc);
}

//  stdout of top_main into a string (the caller frees).
static char *s_top_once(const char *endpoint, int *rc) {
    char path[] = "/tmp/genbot-test-top-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    dup2(fd, STDOUT_FILENO);
    char *argv[] = {"top", "--once", (char *)endpoint, NULL};
    *rc = top_main(3, argv);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    off_t size = lseek(fd, 0, SEEK_END);
    char *text = calloc(1, (size_t)size + 1);
    assert_int_equal(pread(fd, text, (size_t)size, 0), size);
    close(fd);
    return text;
}

static void test_feed_matches_the_schema(void **state) {
    (void)state;
    char *path = tu_db_path("stats");
    config_t *config = tu_config(path);
    tgsim_t *sim = tgsim_new(NULL);
    assert_non_null(sim);
    free(config->telegram_api_url);
    config->telegram_api_url = strdup(tgsim_url(sim));
    config->telegram_bot_token = strdup(tgsim_token(sim));
    config->tg_poll_timeout_s = 1;
    config->tg_rate = 1000;
    config->tg_chat_rate = 100;
    config->sync_full = 0;
    config->sessions = 2;
    config->kie_api_keys[0] = strdup(KIE_KEY);
    config->kie_api_key_count = 1;
    free(config->kie_api_url);
    config->kie_api_url = strdup("http://127.0.0.1:9"); //  no job is ordered: never called
    config->stats_interval_ms = 100;
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", s_free_port());
    free(config->stats_bind);
    config->stats_bind = strdup(endpoint);
    log_add_secret(SECRET);

    zsock_t *sub = s_subscriber(endpoint);
    genbot_opts_t opts = {.config = config, .prefix = "stats-"};
    genbot_t *genbot = genbot_start(&opts);
    assert_non_null(genbot);
    s_msg_t m;
    s_msg_init(&m);
    //  what happens before the subscriber is connected is not seen (PUB):
    //  the first sample says it is
    while (s_recv(sub, &m, WAIT_MS) == 0 && strcmp(m.topic, STATS_TOPIC) != 0)
        ;
    assert_string_equal(m.topic, STATS_TOPIC);
    //  the ledger's recovery summary came before: it is among the last events
    const msgpack_object *recent = s_get(&m.body.data, "events");
    bool recovery = false;
    for (uint32_t i = 0; i < recent->via.array.size; i++)
        recovery = recovery || s_str_is(&recent->via.array.ptr[i], "kind", "recovery");
    assert_true(recovery);
    tgsim_user_add(sim, 701, "Stat", "en");
    assert_true(tgsim_send_text(sim, 701, "/start") > 0);
    assert_true(tgsim_wait_message(sim, 701, "Main menu", WAIT_MS) >= 0);
    stats_event(STATS_EV_KEY_COOLDOWN, STATS_STR("key", "test"), STATS_INT("cooldown_ms", -5),
                STATS_STR("detail", "refused " SECRET " here"), STATS_BOOL("test", true),
                STATS_STR("nothing", NULL));

    char fingerprint[KIE_FINGERPRINT_MAX], worker[64];
    kie_key_fingerprint(KIE_KEY, fingerprint, sizeof fingerprint);
    snprintf(worker, sizeof worker, STATS_WORKER_PREFIX "%s", fingerprint);
    bool event_seen = false, event_listed = false, counted = false;
    double reply_count = 0, send_count = 0, commit_count = 0;
    uint64_t event_seq = 0;
    int samples = 0;
    int64_t deadline = zclock_mono() + WAIT_MS;
    while (!(event_seen && event_listed && counted && reply_count && send_count && commit_count) &&
           zclock_mono() < deadline) {
        if (s_recv(sub, &m, 500) != 0) continue;
        const msgpack_object *msg = &m.body.data;
        if (strcmp(m.topic, STATS_EVENT_PREFIX "key_cooldown") == 0 &&
            s_str_is(msg, "key", "test")) {
            s_check_event(msg);
            assert_true(s_str_is(msg, "kind", "key_cooldown"));
            assert_int_equal((int)s_num(msg, "cooldown_ms"), -5);
            assert_true(s_str_is(msg, "detail", "refused " LOG_REDACTED " here"));
            assert_int_equal(s_get(msg, "test")->type, MSGPACK_OBJECT_BOOLEAN);
            assert_int_equal(s_get(msg, "nothing")->type, MSGPACK_OBJECT_NIL);
            event_seq = (uint64_t)s_num(msg, "seq");
            event_seen = true;
            continue;
        }
        if (strcmp(m.topic, STATS_TOPIC) != 0) {
            s_check_event(msg);
            continue;
        }
        samples++;
        s_check_stats(msg);
        reply_count += s_num(msg, "update_reply_us.count");
        send_count += s_num(msg, "telegram_send_us.count");
        commit_count += s_num(msg, "ledger.commit_us.count");
        if (s_num(msg, "update_reply_us.count") > 0) {
            assert_true(s_num(msg, "update_reply_us.p50") <= s_num(msg, "update_reply_us.p99"));
            assert_true(s_num(msg, "update_reply_us.mean") > 0);
        }
        const msgpack_object *events = s_get(msg, "events");
        for (uint32_t i = 0; event_seq && i < events->via.array.size; i++)
            event_listed = event_listed || s_num(&events->via.array.ptr[i], "seq") == event_seq;
        counted = s_num(msg, "updates.received") >= 1 && s_num(msg, "updates.handled") >= 1 &&
                  s_num(msg, "replies.sent") >= 1 && s_num(msg, "ledger.batches") >= 1;
        //  every actor of this genbot is there, by its name
        const char *names[] = {"ledger",  "notifier", "poller", "shard 0",
                               "shard 1", "stats",    worker};
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            char key[80];
            snprintf(key, sizeof key, "queues.%s", names[i]);
            if (isnan(s_num(msg, key))) fail_msg("no queue depth for the actor \"%s\"", names[i]);
        }
        const msgpack_object *keys = s_get(msg, "keys");
        assert_int_equal(keys->via.array.size, 1);
        assert_true(s_str_is(&keys->via.array.ptr[0], "fingerprint", fingerprint));
        assert_true(s_str_is(&keys->via.array.ptr[0], "health", "healthy"));
        assert_int_equal((int)s_num(&keys->via.array.ptr[0], "slots"), config->key_slots);
        assert_non_null(s_get(&keys->via.array.ptr[0], "failed.rate_limited"));
    }
    if (!event_seen || !event_listed || !counted || !reply_count || !send_count || !commit_count)
        fail_msg("after %d samples: event %d listed %d counted %d latencies %.0f/%.0f/%.0f",
                 samples, event_seen, event_listed, counted, reply_count, send_count, commit_count);

    //  genbot top --once: one snapshot of the same feed
    int rc = -1;
    char *text = s_top_once(endpoint, &rc);
    assert_int_equal(rc, 0);
    const char *expect[] = {"updates", "replies",      "p50/p99",   "update→reply",
                            "ledger",  fingerprint,    "healthy",   "queues",
                            "shard 0", "key_cooldown", "[REDACTED]"};
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++)
        if (!strstr(text, expect[i])) fail_msg("top --once lacks \"%s\":\n%s", expect[i], text);
    assert_null(strstr(text, SECRET));
    free(text);

    //  the supervisor's stop is announced, and leaves before the socket closes
    genbot_stop(&genbot);
    bool shutdown = false;
    while (!shutdown && s_recv(sub, &m, 3000) == 0)
        if (strcmp(m.topic, STATS_EVENT_PREFIX "shutdown") == 0) {
            s_check_event(&m.body.data);
            shutdown = true;
        }
    assert_true(shutdown);

    s_msg_free(&m);
    zsock_destroy(&sub);
    tgsim_destroy(&sim);
    tu_assert_check(path);
    tu_db_remove(path);
    free(path);
    config_destroy(&config);
}

//  The dashboard's pure part: numbers from a real sample, then silence.
static void test_top_draws_and_waits(void **state) {
    (void)state;
    char *path = tu_db_path("stats-top");
    config_t *config = tu_config(path);
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", s_free_port());
    stats_args_t args = {.config = config, .bind = endpoint, .interval_ms = 50};
    zsock_t *sub = s_subscriber(endpoint);
    zactor_t *stats = stats_start(&args);
    assert_non_null(stats);
    top_t *top = top_new(endpoint);
    s_msg_t m;
    s_msg_init(&m);
    int fed = 0;
    stats_event(STATS_EV_JOB_STUCK, STATS_STR("reason", "queue_expired"), STATS_INT("count", 3));
    for (int i = 0; i < 100 && fed < 3; i++)
        if (s_recv(sub, &m, 1000) == 0) {
            assert_int_equal(top_feed(top, m.topic, m.raw, m.size, 1000 + i), 0);
            fed += strcmp(m.topic, STATS_TOPIC) == 0;
        }
    assert_int_equal(fed, 3);
    assert_int_equal(top_samples(top), 2);
    assert_int_equal(top_feed(top, "other", m.raw, m.size, 1200), -1);
    assert_int_equal(top_feed(top, STATS_TOPIC, "\xc1", 1, 1200), -1);

    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    top_render(top, out, 1300, 80);
    fclose(out);
    assert_non_null(strstr(text, "queues"));
    assert_non_null(strstr(text, "stats"));
    assert_non_null(strstr(text, "job_stuck reason=\"queue_expired\" count=3"));
    assert_null(strstr(text, "waiting for genbot"));
    for (char *line = text; *line; line = strchr(line, '\n') + 1) {
        size_t columns = 0;
        for (char *c = line; *c && *c != '\n'; c++)
            columns += ((unsigned char)*c & 0xC0) != 0x80;
        assert_true(columns <= 80);
    }
    free(text);
    out = open_memstream(&text, &size);
    top_render(top, out, 1300 + TOP_SILENCE_MS, 80);
    fclose(out);
    char waiting[128];
    snprintf(waiting, sizeof waiting, "waiting for genbot at %s…", endpoint);
    assert_non_null(strstr(text, waiting));
    assert_non_null(strstr(text, "job_stuck")); //  the events stay
    free(text);

    top_destroy(&top);
    zactor_destroy(&stats);
    s_msg_free(&m);
    zsock_destroy(&sub);
    tu_db_remove(path);
    free(path);
    config_destroy(&config);
}

//  Keys as the last run left them: one disabled, one cooling for an hour.
//  The workers' gauges show it, and the stats actor says all keys are down.
static void test_all_keys_down(void **state) {
    (void)state;
    char *path = tu_db_path("stats-keys");
    config_t *config = tu_config(path);
    const char *keys[] = {"stats-key-disabled-0123456789", "stats-key-cooling-0123456789"};
    char fingerprints[2][KIE_FINGERPRINT_MAX];
    ledger_args_t ledger_args = {.config = config, .endpoint = "inproc://stats-keys-ledger"};
    zactor_t *ledger = ledger_start(&ledger_args);
    assert_non_null(ledger);
    zsock_t *dealer = ledger_connect(ledger_args.endpoint);
    for (int i = 0; i < 2; i++) {
        kie_key_fingerprint(keys[i], fingerprints[i], sizeof fingerprints[i]);
        msg_t *req = msg_new(MSG_K_KEY_HEALTH_SAVE, 0);
        msg_set_str(req, F_KEY_ID, fingerprints[i]);
        msg_set_str(req, F_STATE, i == 0 ? "disabled" : "cooling");
        msg_set_int(req, F_AT_MS, i == 0 ? 0 : zclock_time() + 3600000);
        msg_t *reply = ledger_call(dealer, &req, WAIT_MS);
        assert_non_null(reply);
        assert_int_equal(tu_code(reply), 0);
        msg_destroy(&reply);
        config->kie_api_keys[i] = strdup(keys[i]);
    }
    config->kie_api_key_count = 2;
    zsock_destroy(&dealer);
    zactor_destroy(&ledger);

    config->telegram_bot_token = strdup("123456:stats-test-token");
    free(config->kie_api_url);
    config->kie_api_url = strdup("http://127.0.0.1:9"); //  the disabled key's probe fails
    config->stats_interval_ms = 50;
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", s_free_port());
    free(config->stats_bind);
    config->stats_bind = strdup(endpoint);
    zsock_t *sub = s_subscriber(endpoint);
    genbot_opts_t opts = {.config = config, .prefix = "stats-keys-", .no_poller = true};
    genbot_t *genbot = genbot_start(&opts);
    assert_non_null(genbot);
    s_msg_t m;
    s_msg_init(&m);
    bool down = false, health = false;
    int64_t deadline = zclock_mono() + WAIT_MS;
    while (!(down && health) && zclock_mono() < deadline) {
        if (s_recv(sub, &m, 500) != 0 || strcmp(m.topic, STATS_TOPIC) != 0) continue;
        s_check_stats(&m.body.data);
        const msgpack_object *events = s_get(&m.body.data, "events");
        for (uint32_t i = 0; i < events->via.array.size; i++) {
            const msgpack_object *event = &events->via.array.ptr[i];
            if (s_str_is(event, "kind", "all_keys_down")) {
                assert_int_equal((int)s_num(event, "keys"), 2);
                assert_int_equal((int)s_num(event, "cooling"), 1);
                assert_int_equal((int)s_num(event, "disabled"), 1);
                down = true;
            }
        }
        const msgpack_object *list = s_get(&m.body.data, "keys");
        assert_int_equal(list->via.array.size, 2);
        health = true;
        for (uint32_t i = 0; i < 2; i++) {
            const msgpack_object *key = &list->via.array.ptr[i];
            bool disabled = s_str_is(key, "fingerprint", fingerprints[0]);
            health = health && s_str_is(key, "health", disabled ? "disabled" : "cooling") &&
                     s_str_is(key, "reason", disabled ? "auth" : "rate_limited") &&
                     (disabled ? s_get(key, "until_ms")->type == MSGPACK_OBJECT_NIL
                               : s_num(key, "until_ms") > (double)zclock_time());
        }
    }
    assert_true(down);
    assert_true(health);
    genbot_stop(&genbot);
    s_msg_free(&m);
    zsock_destroy(&sub);
    tu_assert_check(path);
    tu_db_remove(path);
    free(path);
    config_destroy(&config);
}

//  A full ring drops (never blocks) and the next stats message counts it.
static void test_full_ring_drops_and_counts(void **state) {
    (void)state;
    int dropped = 0;
    for (int i = 0; i < STATS_EVENT_RING + 10; i++)
        dropped += stats_event(STATS_EV_RECOVERY, STATS_INT("requeued", i)) != 0;
    assert_true(dropped >= 10);
    char *path = tu_db_path("stats-ring");
    config_t *config = tu_config(path);
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", s_free_port());
    stats_args_t args = {.config = config, .bind = endpoint, .interval_ms = 50};
    zsock_t *sub = s_subscriber(endpoint);
    zactor_t *stats = stats_start(&args);
    assert_non_null(stats);
    s_msg_t m;
    s_msg_init(&m);
    bool counted = false;
    for (int i = 0; i < 100 && !counted; i++)
        if (s_recv(sub, &m, 1000) == 0 && strcmp(m.topic, STATS_TOPIC) == 0) {
            s_check_stats(&m.body.data);
            counted = s_num(&m.body.data, "events_dropped") >= dropped &&
                      s_get(&m.body.data, "events")->via.array.size == STATS_RECENT_EVENTS;
        }
    assert_true(counted);
    //  the ring takes events again
    assert_int_equal(stats_event(STATS_EV_SHUTDOWN), 0);
    zactor_destroy(&stats);
    s_msg_free(&m);
    zsock_destroy(&sub);
    tu_db_remove(path);
    free(path);
    config_destroy(&config);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_histogram_buckets_and_percentiles),
        cmocka_unit_test(test_docs_list_every_field_and_event),
        cmocka_unit_test(test_feed_matches_the_schema),
        cmocka_unit_test(test_top_draws_and_waits),
        cmocka_unit_test(test_all_keys_down),
        cmocka_unit_test(test_full_ring_drops_and_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
