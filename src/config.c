/*  config.c — genbot's configuration: one table, read once at startup.

    Every knob is one row of s_knobs. Its default is written as the text an
    operator would put in the environment and goes through the same parser as
    a real value, so a default can never bypass validation. Loading, freeing,
    printing and the help text all walk that one table; adding a knob is adding
    a row (and a field to config_t).

    Invariants after a successful config_load:
      - every int knob lies in [min, max] of its row;
      - every string knob is NULL (unset, only when the row has no default) or
        a non-empty string without control characters;
      - URLs start with http:// or https://, have a host, and carry no trailing
        '/', so callers append "/bot..." or "/api/v1/..." directly;
      - lists hold 0..max items, none empty, none repeated.
*/
#include "config.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum {
    KNOB_INT,       //  int64_t in [min, max]
    KNOB_STRING,    //  char *
    KNOB_URL,       //  char *, http(s)://host[:port][/path]
    KNOB_ZMQ_BIND,  //  char *, tcp://host:port (host may be *)
    KNOB_HOST_PORT, //  char *, host:port
    KNOB_KEYS,      //  char *[CONFIG_MAX_KEYS] + size_t count
    KNOB_IDS,       //  int64_t[CONFIG_MAX_ADMINS] + size_t count, each > 0
    KNOB_ENUM       //  int, one of words
} knob_kind_t;

//  Flags
#define KNOB_SECRET 1u //  only ever shown through config_mask
#define KNOB_HTTPS  2u //  KNOB_URL: https:// only

#define SHOW_MAX 64 //  longest value quoted back in an error message

typedef struct {
    const char *word;
    int value;
} knob_word_t;

typedef struct {
    const char *name;
    knob_kind_t kind;
    const char *fallback;     //  default, as environment text; NULL = unset
    int64_t min, max;         //  KNOB_INT
    size_t offset;            //  of the field in config_t
    size_t count_offset;      //  KNOB_KEYS, KNOB_IDS: of the size_t item count
    const knob_word_t *words; //  KNOB_ENUM: terminated by a NULL word
    unsigned flags;
    const char *help;
} knob_t;

static const knob_word_t s_sync_words[] = {{"full", 1}, {"normal", 0}, {"off", -1}, {NULL, 0}};

static const knob_word_t s_level_words[] = {{"debug", LOG_LEVEL_DEBUG},
                                            {"info", LOG_LEVEL_INFO},
                                            {"warn", LOG_LEVEL_WARN},
                                            {"error", LOG_LEVEL_ERROR},
                                            {NULL, 0}};

#define F(field) offsetof(config_t, field)
#define MS_MAX   3600000 //  one hour
#define S_WEEK   604800

#define INT(name, field, def, lo, hi, help)                                                        \
    { name, KNOB_INT, def, lo, hi, F(field), 0, NULL, 0, help }
#define STR(name, field, def, flags, help)                                                         \
    { name, KNOB_STRING, def, 0, 0, F(field), 0, NULL, flags, help }
#define URL(name, field, def, flags, help)                                                         \
    { name, KNOB_URL, def, 0, 0, F(field), 0, NULL, flags, help }
#define BIND(name, kind, field, def, help)                                                         \
    { name, kind, def, 0, 0, F(field), 0, NULL, 0, help }
#define LIST(name, kind, field, count, flags, hi, help)                                            \
    { name, kind, NULL, 0, hi, F(field), F(count), NULL, flags, help }
#define ENUM(name, field, def, words, help)                                                        \
    { name, KNOB_ENUM, def, 0, 0, F(field), 0, words, 0, help }

static const knob_t s_knobs[] = {
    STR("TELEGRAM_BOT_TOKEN", telegram_bot_token, NULL, KNOB_SECRET, "bot token from @BotFather"),
    URL("TELEGRAM_API_URL", telegram_api_url, "https://api.telegram.org", 0,
        "Telegram Bot API base URL"),
    INT("GENBOT_TG_POLL_TIMEOUT_S", tg_poll_timeout_s, "30", 0, 50,
        "getUpdates long-poll timeout, seconds"),
    LIST("KIE_API_KEYS", KNOB_KEYS, kie_api_keys, kie_api_key_count, KNOB_SECRET, CONFIG_MAX_KEYS,
         "KIE.ai API keys, comma-separated; one key worker each"),
    URL("KIE_API_URL", kie_api_url, "https://api.kie.ai", 0, "KIE.ai API base URL"),
    URL("KIE_UPLOAD_URL", kie_upload_url, "https://kieai.redpandaai.co", 0,
        "KIE.ai file upload base URL"),
    STR("GENBOT_DB", db_path, "./genbot.db", 0, "SQLite database path"),
    LIST("GENBOT_ADMINS", KNOB_IDS, admins, admin_count, 0, CONFIG_MAX_ADMINS,
         "admin Telegram user ids, comma-separated"),
    INT("GENBOT_FREE_CREDITS", free_credits, "2", 0, 1000000, "credits granted to a new user"),
    BIND("GENBOT_STATS_BIND", KNOB_ZMQ_BIND, stats_bind, "tcp://127.0.0.1:7557",
         "stats PUB socket endpoint, tcp://host:port"),
    BIND("GENBOT_HTTP_BIND", KNOB_HOST_PORT, http_bind, "127.0.0.1:8080",
         "HTTP listener (healthz, metrics, webhook, callbacks), host:port"),
    URL("GENBOT_PUBLIC_URL", public_url, NULL, KNOB_HTTPS,
        "public https URL of the HTTP listener; enables webhook and KIE callbacks"),
    INT("GENBOT_KIE_POLL_MS", kie_poll_ms, "2000", 1, MS_MAX,
        "first KIE task status poll delay, ms"),
    INT("GENBOT_KIE_POLL_MAX_MS", kie_poll_max_ms, "30000", 1, MS_MAX,
        "longest KIE task status poll delay, ms"),
    INT("GENBOT_KIE_MAX_TASK_S", kie_max_task_s, "1800", 1, S_WEEK,
        "a KIE task running longer than this times out, seconds"),
    INT("GENBOT_RETRY_BASE_MS", retry_base_ms, "10000", 1, MS_MAX,
        "base of the exponential backoff for temporary errors, ms"),
    INT("GENBOT_MAX_ATTEMPTS", max_attempts, "3", 1, 100, "attempts per job before release"),
    INT("GENBOT_KEY_COOLDOWN_S", key_cooldown_s, "60", 1, S_WEEK,
        "cooldown of a rate-limited KIE key, seconds"),
    INT("GENBOT_KEY_BILLING_COOLDOWN_S", key_billing_cooldown_s, "86400", 1, 30 * 86400,
        "cooldown of a KIE key out of credit, seconds"),
    INT("GENBOT_QUEUE_MAX_WAIT_S", queue_max_wait_s, "1800", 1, S_WEEK,
        "a job waiting longer than this for a key is released, seconds"),
    INT("GENBOT_TG_RATE", tg_rate, "30", 1, 100000, "Telegram messages per second, overall"),
    INT("GENBOT_TG_CHAT_RATE", tg_chat_rate, "1", 1, 1000,
        "Telegram messages per second, per chat"),
    INT("GENBOT_LIMIT_ACTIVE", limit_active, "5", 1, 1000, "active jobs per user"),
    INT("GENBOT_LIMIT_PER_MIN", limit_per_min, "10", 1, 100000, "new jobs per user per minute"),
    INT("GENBOT_SESSIONS", sessions, "2", 1, 64, "session actors; users are sharded by id % N"),
    ENUM("GENBOT_SYNC", sync_full, "full", s_sync_words, "SQLite synchronous mode"),
    ENUM("GENBOT_LOG_LEVEL", log_level, "info", s_level_words, "lowest level logged"),
    STR("GENBOT_CATALOG", catalog_path, NULL, 0, "model catalog file; unset = built-in"),
    INT("GENBOT_LEDGER_BATCH", ledger_batch_max, "256", 1, 4096,
        "ledger requests per transaction; 1 turns batching off"),
    INT("GENBOT_KEY_SLOTS", key_slots, "50", 1, 1000, "KIE tasks in flight per API key"),
    INT("GENBOT_KEY_CREATE_PER_10S", key_create_per_10s, "20", 1, 1000,
        "KIE task creations per API key per 10 s"),
    INT("GENBOT_FLOOD_PER_10S", flood_per_10s, "30", 1, 100000,
        "updates per user per 10 s before the user is ignored for a while"),
    INT("GENBOT_STATS_INTERVAL_MS", stats_interval_ms, "1000", 10, 3600000,
        "how often the stats feed publishes"),
    STR("GENBOT_SUPPORT", support_contact, NULL, 0, "support contact shown to users (@handle)"),
};

#define KNOB_COUNT (sizeof(s_knobs) / sizeof(s_knobs[0]))

//  Rules between int knobs: lower may not be more than upper.
static const struct {
    size_t lower, upper;
} s_not_above[] = {
    {F(kie_poll_ms), F(kie_poll_max_ms)},
};

//  Enum knobs are stored through an int *.
_Static_assert(sizeof(log_level_t) == sizeof(int), "log_level_t must be int-sized");

static const char *s_getenv(const char *name, void *arg);
static int s_parse(const knob_t *knob, const char *value, config_t *self, char *err);
static int s_check_relations(const config_t *self, char *err);
static void s_print_value(const knob_t *knob, const config_t *self, FILE *out);
static void s_range(const knob_t *knob, char *buf, size_t size);
static const char *s_words(const knob_t *knob, char *buf, size_t size);
static const knob_t *s_knob_at(size_t offset);

//  --------------------------------------------------------------------------
//  Parse the environment; NULL and one line in err when a value is bad.

config_t *config_load(config_getenv_fn *getenv_fn, void *arg, char *err) {
    char scratch[CONFIG_ERR_MAX];
    if (!err) err = scratch;
    err[0] = '\0';
    if (!getenv_fn) getenv_fn = s_getenv;

    config_t *self = calloc(1, sizeof(config_t));
    if (!self) {
        snprintf(err, CONFIG_ERR_MAX, "config: out of memory");
        return NULL;
    }
    for (size_t i = 0; i < KNOB_COUNT; i++) {
        const knob_t *knob = &s_knobs[i];
        const char *value = getenv_fn(knob->name, arg);
        if (!value || !*value) value = knob->fallback; //  empty = unset
        if (!value) continue;
        if (s_parse(knob, value, self, err)) {
            //  A bad default is a bug in the table, not the operator's doing.
            assert(value != knob->fallback);
            config_destroy(&self);
            return NULL;
        }
    }
    if (s_check_relations(self, err)) {
        config_destroy(&self);
        return NULL;
    }
    return self;
}

//  --------------------------------------------------------------------------

void config_destroy(config_t **self_p) {
    assert(self_p);
    config_t *self = *self_p;
    if (!self) return;
    for (size_t i = 0; i < KNOB_COUNT; i++) {
        const knob_t *knob = &s_knobs[i];
        char *field = (char *)self + knob->offset;
        switch (knob->kind) {
        case KNOB_STRING:
        case KNOB_URL:
        case KNOB_ZMQ_BIND:
        case KNOB_HOST_PORT:
            free(*(char **)field);
            break;
        case KNOB_KEYS:
            for (size_t k = 0; k < CONFIG_MAX_KEYS; k++)
                free(((char **)field)[k]);
            break;
        default:
            break;
        }
    }
    free(self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  NAME=value per knob, table order, secrets masked, "(unset)" when unset.

void config_print(const config_t *self, FILE *out) {
    assert(self);
    assert(out);
    for (size_t i = 0; i < KNOB_COUNT; i++) {
        fprintf(out, "%s=", s_knobs[i].name);
        s_print_value(&s_knobs[i], self, out);
        fputc('\n', out);
    }
}

//  --------------------------------------------------------------------------
//  One "NAME=default  # help (range)" line per knob: a template .env file.

void config_help(FILE *out) {
    assert(out);
    for (size_t i = 0; i < KNOB_COUNT; i++) {
        const knob_t *knob = &s_knobs[i];
        char range[128];
        s_range(knob, range, sizeof(range));
        fprintf(out, "%s=%s  # %s%s\n", knob->name, knob->fallback ? knob->fallback : "",
                knob->help, range);
    }
}

//  --------------------------------------------------------------------------

const char *config_mask(const char *secret, char *buf, size_t size) {
    assert(buf);
    assert(size > 0);
    if (!secret)
        snprintf(buf, size, "(unset)");
    else {
        size_t length = strlen(secret);
        int shown = length >= CONFIG_MASK_REVEAL_MIN ? CONFIG_MASK_REVEAL : 0;
        snprintf(buf, size, "%.*s...(%zu chars)", shown, secret, length);
    }
    return buf;
}

//  --------------------------------------------------------------------------
//  Private helpers

static const char *s_getenv(const char *name, void *arg) {
    (void)arg;
    return getenv(name);
}

//  Writes "NAME: <what>" into err; returns -1 so callers can return it.
static int s_fail(char *err, const knob_t *knob, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static int s_fail(char *err, const knob_t *knob, const char *format, ...) {
    int used = snprintf(err, CONFIG_ERR_MAX, "%s: ", knob->name);
    if (used < 0 || used >= CONFIG_ERR_MAX) return -1;
    va_list args;
    va_start(args, format);
    vsnprintf(err + used, CONFIG_ERR_MAX - (size_t)used, format, args);
    va_end(args);
    return -1;
}

//  The value as it may appear in an error: masked when secret, otherwise
//  quoted with control characters escaped (so err stays one line) and cut
//  at SHOW_MAX bytes.
static const char *s_show(const knob_t *knob, const char *value, char *buf, size_t size) {
    assert(size >= SHOW_MAX + 16);
    if (knob->flags & KNOB_SECRET) {
        char masked[64];
        snprintf(buf, size, "\"%s\"", config_mask(value, masked, sizeof(masked)));
        return buf;
    }
    size_t out = 0;
    buf[out++] = '"';
    const char *p = value;
    for (; *p && out < SHOW_MAX; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\')
            out += (size_t)snprintf(buf + out, size - out, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            out += (size_t)snprintf(buf + out, size - out, "\\x%02x", c);
        else
            buf[out++] = (char)c;
    }
    if (*p) out += (size_t)snprintf(buf + out, size - out, "...");
    snprintf(buf + out, size - out, "\"");
    return buf;
}

//  0 = ok, -1 = not a number, -2 = does not fit in int64_t.
//  Accepts an optional '-' then decimal digits, nothing else.
static int s_parse_int64(const char *text, int64_t *result) {
    const char *digits = text[0] == '-' ? text + 1 : text;
    if (!*digits) return -1;
    for (const char *p = digits; *p; p++)
        if (!isdigit((unsigned char)*p)) return -1;
    errno = 0;
    long long parsed = strtoll(text, NULL, 10);
    if (errno == ERANGE) return -2;
    *result = (int64_t)parsed;
    return 0;
}

static bool s_has_control(const char *text) {
    for (const char *p = text; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) return true;
    return false;
}

static bool s_has_space(const char *text) {
    for (const char *p = text; *p; p++)
        if (isspace((unsigned char)*p)) return true;
    return false;
}

//  A port: 1..65535, digits only.
static bool s_valid_port(const char *text, size_t length) {
    if (length == 0 || length > 5) return false;
    int port = 0;
    for (size_t i = 0; i < length; i++) {
        if (!isdigit((unsigned char)text[i])) return false;
        port = port * 10 + (text[i] - '0');
    }
    return port >= 1 && port <= 65535;
}

//  A host: a name or IPv4 address ([A-Za-z0-9._-]+), a bracketed IPv6
//  address, or "*" when allow_star.
static bool s_valid_host(const char *text, size_t length, bool allow_star) {
    if (length == 0) return false;
    if (allow_star && length == 1 && text[0] == '*') return true;
    if (text[0] == '[') {
        if (length < 3 || text[length - 1] != ']') return false;
        for (size_t i = 1; i < length - 1; i++)
            if (!isxdigit((unsigned char)text[i]) && text[i] != ':' && text[i] != '.') return false;
        return true;
    }
    for (size_t i = 0; i < length; i++)
        if (!isalnum((unsigned char)text[i]) && !strchr("._-", text[i])) return false;
    return true;
}

//  host:port, where an IPv6 host is bracketed.
static bool s_valid_host_port(const char *text, bool allow_star) {
    const char *colon = strrchr(text, ':');
    if (!colon) return false;
    return s_valid_host(text, (size_t)(colon - text), allow_star) &&
           s_valid_port(colon + 1, strlen(colon + 1));
}

static int s_parse_url(const knob_t *knob, const char *value, char **field, char *err) {
    char shown[SHOW_MAX + 16];
    size_t scheme = 0;
    if (strncasecmp(value, "https://", 8) == 0)
        scheme = 8;
    else if (strncasecmp(value, "http://", 7) == 0)
        scheme = 7;
    if (!scheme)
        return s_fail(err, knob, "%s is not an http:// or https:// URL",
                      s_show(knob, value, shown, sizeof(shown)));
    if ((knob->flags & KNOB_HTTPS) && scheme != 8)
        return s_fail(err, knob, "%s is not an https:// URL",
                      s_show(knob, value, shown, sizeof(shown)));
    if (s_has_space(value) || s_has_control(value))
        return s_fail(err, knob, "%s contains whitespace",
                      s_show(knob, value, shown, sizeof(shown)));

    const char *authority = value + scheme;
    size_t length = strcspn(authority, "/?#");
    if (length == 0)
        return s_fail(err, knob, "%s has no host", s_show(knob, value, shown, sizeof(shown)));
    //  The port is after the last ':' unless that ':' is inside [IPv6].
    size_t host_length = length;
    const char *bracket = memchr(authority, ']', length);
    const char *colon = NULL;
    for (size_t i = bracket ? (size_t)(bracket - authority) : 0; i < length; i++)
        if (authority[i] == ':') colon = authority + i;
    if (colon) {
        host_length = (size_t)(colon - authority);
        if (!s_valid_port(colon + 1, length - host_length - 1))
            return s_fail(err, knob, "%s has a bad port",
                          s_show(knob, value, shown, sizeof(shown)));
    }
    if (host_length == 0)
        return s_fail(err, knob, "%s has no host", s_show(knob, value, shown, sizeof(shown)));
    if (!s_valid_host(authority, host_length, false))
        return s_fail(err, knob, "%s has a bad host", s_show(knob, value, shown, sizeof(shown)));

    char *url = strdup(value);
    if (!url) return s_fail(err, knob, "out of memory");
    size_t url_length = strlen(url);
    while (url_length > scheme + length && url[url_length - 1] == '/')
        url[--url_length] = '\0';
    *field = url;
    return 0;
}

//  Calls item() for each comma-separated item, trimmed of spaces and tabs.
//  An empty item is an error: "a,,b", ",a" and "a," are mistakes.
typedef int(s_item_fn)(const knob_t *knob, size_t index, const char *item, config_t *self,
                       char *err);

static int s_split(const knob_t *knob, const char *value, config_t *self, char *err,
                   s_item_fn *item) {
    size_t *count = (size_t *)((char *)self + knob->count_offset);
    const char *word = "item";
    if (knob->kind == KNOB_KEYS)
        word = "key";
    else if (knob->kind == KNOB_IDS)
        word = "id";
    const char *start = value;
    for (size_t index = 1;; index++) {
        const char *end = strchr(start, ',');
        if (!end) end = start + strlen(start);
        while (start < end && (*start == ' ' || *start == '\t'))
            start++;
        const char *stop = end;
        while (stop > start && (stop[-1] == ' ' || stop[-1] == '\t'))
            stop--;
        if (stop == start) return s_fail(err, knob, "%s %zu is empty (stray comma?)", word, index);
        if (*count >= (size_t)knob->max)
            return s_fail(err, knob, "more than %" PRId64 " %ss", knob->max, word);
        char text[1024];
        size_t length = (size_t)(stop - start);
        if (length >= sizeof(text))
            return s_fail(err, knob, "%s %zu is longer than %zu characters", word, index,
                          sizeof(text) - 1);
        memcpy(text, start, length);
        text[length] = '\0';
        if (item(knob, index, text, self, err)) return -1;
        if (!*end) return 0;
        start = end + 1;
    }
}

static int s_add_key(const knob_t *knob, size_t index, const char *key, config_t *self, char *err) {
    char **keys = (char **)((char *)self + knob->offset);
    size_t *count = (size_t *)((char *)self + knob->count_offset);
    if (s_has_space(key) || s_has_control(key))
        return s_fail(err, knob, "key %zu contains whitespace or a control character", index);
    for (size_t k = 0; k < *count; k++)
        if (strcmp(keys[k], key) == 0)
            return s_fail(err, knob, "key %zu repeats key %zu", index, k + 1);
    keys[*count] = strdup(key);
    if (!keys[*count]) return s_fail(err, knob, "out of memory");
    (*count)++;
    return 0;
}

static int s_add_id(const knob_t *knob, size_t index, const char *text, config_t *self, char *err) {
    (void)index;
    char shown[SHOW_MAX + 16];
    int64_t *ids = (int64_t *)((char *)self + knob->offset);
    size_t *count = (size_t *)((char *)self + knob->count_offset);
    int64_t id;
    if (s_parse_int64(text, &id) || id <= 0)
        return s_fail(err, knob, "%s is not a Telegram user id (a number > 0)",
                      s_show(knob, text, shown, sizeof(shown)));
    for (size_t k = 0; k < *count; k++)
        if (ids[k] == id) return s_fail(err, knob, "%" PRId64 " is listed twice", id);
    ids[(*count)++] = id;
    return 0;
}

static int s_parse(const knob_t *knob, const char *value, config_t *self, char *err) {
    char shown[SHOW_MAX + 16];
    char *field = (char *)self + knob->offset;
    switch (knob->kind) {
    case KNOB_INT: {
        int64_t number;
        int rc = s_parse_int64(value, &number);
        if (rc == -1)
            return s_fail(err, knob, "%s is not a number",
                          s_show(knob, value, shown, sizeof(shown)));
        if (rc == -2)
            return s_fail(err, knob, "%s is out of range %" PRId64 "..%" PRId64,
                          s_show(knob, value, shown, sizeof(shown)), knob->min, knob->max);
        if (number < knob->min || number > knob->max)
            return s_fail(err, knob, "%" PRId64 " is out of range %" PRId64 "..%" PRId64, number,
                          knob->min, knob->max);
        *(int64_t *)field = number;
        return 0;
    }
    case KNOB_STRING:
        if (s_has_control(value))
            return s_fail(err, knob, "%s contains a control character",
                          s_show(knob, value, shown, sizeof(shown)));
        if ((knob->flags & KNOB_SECRET) && s_has_space(value))
            return s_fail(err, knob, "%s contains whitespace",
                          s_show(knob, value, shown, sizeof(shown)));
        *(char **)field = strdup(value);
        return *(char **)field ? 0 : s_fail(err, knob, "out of memory");
    case KNOB_URL:
        return s_parse_url(knob, value, (char **)field, err);
    case KNOB_ZMQ_BIND:
    case KNOB_HOST_PORT: {
        bool zmq = knob->kind == KNOB_ZMQ_BIND;
        bool valid = zmq ? strncmp(value, "tcp://", 6) == 0 && s_valid_host_port(value + 6, true)
                         : s_valid_host_port(value, false);
        if (!valid)
            return s_fail(err, knob, "%s is not %s", s_show(knob, value, shown, sizeof(shown)),
                          zmq ? "tcp://host:port" : "host:port");
        *(char **)field = strdup(value);
        return *(char **)field ? 0 : s_fail(err, knob, "out of memory");
    }
    case KNOB_KEYS:
        return s_split(knob, value, self, err, s_add_key);
    case KNOB_IDS:
        return s_split(knob, value, self, err, s_add_id);
    case KNOB_ENUM: {
        for (const knob_word_t *word = knob->words; word->word; word++)
            if (strcasecmp(word->word, value) == 0) {
                *(int *)field = word->value;
                return 0;
            }
        char words[128];
        return s_fail(err, knob, "%s is not one of %s", s_show(knob, value, shown, sizeof(shown)),
                      s_words(knob, words, sizeof(words)));
    }
    }
    return s_fail(err, knob, "unknown kind of knob");
}

//  Rules between knobs, checked once every knob is parsed.
static int s_check_relations(const config_t *self, char *err) {
    for (size_t i = 0; i < sizeof(s_not_above) / sizeof(s_not_above[0]); i++) {
        const knob_t *lower = s_knob_at(s_not_above[i].lower);
        const knob_t *upper = s_knob_at(s_not_above[i].upper);
        int64_t low = *(const int64_t *)((const char *)self + lower->offset);
        int64_t high = *(const int64_t *)((const char *)self + upper->offset);
        if (low > high)
            return s_fail(err, lower, "%" PRId64 " is more than %s (%" PRId64 ")", low, upper->name,
                          high);
    }
    return 0;
}

static const knob_t *s_knob_at(size_t offset) {
    for (size_t i = 0; i < KNOB_COUNT; i++)
        if (s_knobs[i].offset == offset) return &s_knobs[i];
    assert(false);
    return NULL;
}

static void s_print_value(const knob_t *knob, const config_t *self, FILE *out) {
    const char *field = (const char *)self + knob->offset;
    char masked[64];
    switch (knob->kind) {
    case KNOB_INT:
        fprintf(out, "%" PRId64, *(const int64_t *)field);
        return;
    case KNOB_STRING:
    case KNOB_URL:
    case KNOB_ZMQ_BIND:
    case KNOB_HOST_PORT: {
        const char *value = *(char *const *)field;
        if (!value)
            fputs("(unset)", out);
        else if (knob->flags & KNOB_SECRET)
            fputs(config_mask(value, masked, sizeof(masked)), out);
        else
            fputs(value, out);
        return;
    }
    case KNOB_KEYS:
    case KNOB_IDS: {
        size_t count = *(const size_t *)((const char *)self + knob->count_offset);
        if (count == 0) fputs("(unset)", out);
        for (size_t k = 0; k < count; k++) {
            if (k) fputc(',', out);
            if (knob->kind == KNOB_IDS)
                fprintf(out, "%" PRId64, ((const int64_t *)field)[k]);
            else if (knob->flags & KNOB_SECRET)
                fputs(config_mask(((char *const *)field)[k], masked, sizeof(masked)), out);
            else
                fputs(((char *const *)field)[k], out);
        }
        return;
    }
    case KNOB_ENUM:
        for (const knob_word_t *word = knob->words; word->word; word++)
            if (word->value == *(const int *)field) {
                fputs(word->word, out);
                return;
            }
        fprintf(out, "%d", *(const int *)field);
        return;
    }
}

//  "a|b|c": the words an enum knob accepts.
static const char *s_words(const knob_t *knob, char *buf, size_t size) {
    size_t used = 0;
    buf[0] = '\0';
    for (const knob_word_t *word = knob->words; word->word && used < size; word++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? "|" : "", word->word);
    return buf;
}

//  " (range lo..hi)", " (one of a|b|c)" or "": what a knob accepts.
static void s_range(const knob_t *knob, char *buf, size_t size) {
    char words[128];
    buf[0] = '\0';
    if (knob->kind == KNOB_INT)
        snprintf(buf, size, " (range %" PRId64 "..%" PRId64 ")", knob->min, knob->max);
    else if (knob->kind == KNOB_ENUM)
        snprintf(buf, size, " (one of %s)", s_words(knob, words, sizeof(words)));
}
