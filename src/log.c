/*  log.c — logfmt lines, redacted, one write(2) each.

    Order of work for a line, and why:
      1. msg and fields are each produced in full (fields may need malloc),
      2. redacted in full, so a secret is matched before anything is cut,
      3. escaped and cut into the line buffer, a cut never splitting an
         escape sequence or a UTF-8 character,
      4. written with one write(2): a line is at most LOG_LINE_MAX bytes,
         which is PIPE_BUF on Linux, so lines from threads never interleave.

    The secret registry is a fixed array published through an atomic count:
    a slot is filled before the count that makes it visible is stored
    (release), and readers load the count (acquire) and read only below it.
    Slots are never freed, so a reader never sees freed memory.
*/
#include "log.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SECRET_MIN        4  //  shorter secrets would redact ordinary words
#define TOKEN_SECRET_MIN  35 //  characters after ':' in a bot token
#define TOKEN_BARE_DIGITS 6  //  a bare token needs a bot id this long
#define ACTOR_MAX         64
#define CUT_MARK          "..."

typedef struct {
    size_t length;
    char text[LOG_SECRET_MAX + 1];
} secret_t;

static const char *const s_level_names[] = {"debug", "info", "warn", "error"};

static atomic_int s_level = LOG_LEVEL_INFO;
static atomic_int s_fd = STDERR_FILENO;

static secret_t s_secrets[LOG_MAX_SECRETS];
static atomic_size_t s_secret_count;
static pthread_mutex_t s_secret_lock = PTHREAD_MUTEX_INITIALIZER;

static size_t s_redact(const char *src, char *dst, size_t size);
static size_t s_header(char *line, log_level_t level, const char *actor);
static size_t s_append(char *line, size_t used, size_t end, const char *text, bool quoted);
static void s_write_all(int fd, const char *data, size_t length);

//  --------------------------------------------------------------------------

void log_set_level(log_level_t level) {
    assert(level <= LOG_LEVEL_ERROR);
    atomic_store(&s_level, (int)level);
}

log_level_t log_get_level(void) {
    return (log_level_t)atomic_load(&s_level);
}

void log_set_fd(int fd) {
    assert(fd >= 0);
    atomic_store(&s_fd, fd);
}

//  --------------------------------------------------------------------------

int log_add_secret(const char *secret) {
    if (!secret) return 0;
    size_t length = strlen(secret);
    if (length < SECRET_MIN) return 0;
    if (length > LOG_SECRET_MAX) return -1;

    int rc = 0;
    pthread_mutex_lock(&s_secret_lock);
    size_t count = atomic_load_explicit(&s_secret_count, memory_order_relaxed);
    bool known = false;
    for (size_t i = 0; i < count && !known; i++)
        known = s_secrets[i].length == length && memcmp(s_secrets[i].text, secret, length) == 0;
    if (!known) {
        if (count == LOG_MAX_SECRETS)
            rc = -1;
        else {
            memcpy(s_secrets[count].text, secret, length + 1);
            s_secrets[count].length = length;
            atomic_store_explicit(&s_secret_count, count + 1, memory_order_release);
        }
    }
    pthread_mutex_unlock(&s_secret_lock);
    return rc;
}

void log_clear_secrets(void) {
    pthread_mutex_lock(&s_secret_lock);
    atomic_store_explicit(&s_secret_count, 0, memory_order_release);
    pthread_mutex_unlock(&s_secret_lock);
}

//  --------------------------------------------------------------------------

char *log_redact(const char *src, char *dst, size_t size) {
    assert(src);
    assert(dst);
    assert(size > 0);
    s_redact(src, dst, size);
    return dst;
}

//  --------------------------------------------------------------------------

void log_write(log_level_t level, const char *actor, const char *msg, const char *fields, ...) {
    assert(level <= LOG_LEVEL_ERROR);
    if ((int)level < atomic_load(&s_level)) return;

    char line[LOG_LINE_MAX];
    char redacted[LOG_LINE_MAX];
    size_t used = s_header(line, level, actor);

    //  Nothing past LOG_LINE_MAX - 1 bytes of a redacted msg can be shown.
    s_redact(msg ? msg : "", redacted, sizeof(redacted));
    used = s_append(line, used, used + LOG_MSG_MAX, redacted, true);
    line[used++] = '"';

    if (fields && *fields) {
        char stack[LOG_LINE_MAX];
        char *formatted = stack;
        va_list args;
        va_start(args, fields);
        va_list again;
        va_copy(again, args);
        int length = vsnprintf(stack, sizeof(stack), fields, args);
        //  Redaction needs all of it: a secret may straddle any cut.
        if (length >= (int)sizeof(stack)) {
            formatted = malloc((size_t)length + 1);
            if (formatted)
                vsnprintf(formatted, (size_t)length + 1, fields, again);
            else {
                //  stack holds a cut copy whose last word may be the start
                //  of a secret: drop that word rather than show it.
                formatted = stack;
                char *space = strrchr(stack, ' ');
                *(space ? space : stack) = '\0';
            }
        }
        va_end(again);
        va_end(args);
        if (length > 0 && *formatted) {
            s_redact(formatted, redacted, sizeof(redacted));
            line[used++] = ' ';
            used = s_append(line, used, LOG_LINE_MAX - 1, redacted, false);
        }
        if (formatted != stack) free(formatted);
    }
    line[used++] = '\n';
    assert(used <= LOG_LINE_MAX);
    s_write_all(atomic_load(&s_fd), line, used);
}

//  --------------------------------------------------------------------------
//  Private helpers

static bool s_is_token_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

static bool s_is_digit(char c) {
    return c >= '0' && c <= '9';
}

//  Length of a bot token (<digits>:<TOKEN_SECRET_MIN+ token chars>) at text,
//  with at least min_digits digits; 0 when there is none.
static size_t s_token_at(const char *text, size_t min_digits) {
    size_t i = 0;
    while (s_is_digit(text[i]))
        i++;
    if (i < min_digits || text[i] != ':') return 0;
    size_t start = ++i;
    while (s_is_token_char(text[i]))
        i++;
    return i - start >= TOKEN_SECRET_MIN ? i : 0;
}

//  Copies src into dst (at most size - 1 bytes, then NUL) replacing every
//  registered secret (longest first where several match) and every bot
//  token shape by LOG_REDACTED. Returns the bytes written.
static size_t s_redact(const char *src, char *dst, size_t size) {
    size_t count = atomic_load_explicit(&s_secret_count, memory_order_acquire);
    size_t out = 0;
    size_t limit = size - 1;
    const char *p = src;
    while (*p && out < limit) {
        const char *keep = ""; //  text kept before LOG_REDACTED
        size_t skip = 0;       //  bytes of src replaced
        for (size_t i = 0; i < count; i++) {
            const secret_t *secret = &s_secrets[i];
            if (secret->text[0] == *p && secret->length > skip &&
                strncmp(p, secret->text, secret->length) == 0)
                skip = secret->length;
        }
        if (!skip && strncmp(p, "bot", 3) == 0 && (skip = s_token_at(p + 3, 1))) keep = "bot";
        if (!skip && s_is_digit(*p) && (p == src || !s_is_token_char(p[-1])))
            skip = s_token_at(p, TOKEN_BARE_DIGITS);
        if (!skip) {
            dst[out++] = *p++;
            continue;
        }
        size_t keep_length = strlen(keep);
        out += (size_t)snprintf(dst + out, size - out, "%s" LOG_REDACTED, keep);
        if (out > limit) out = limit;
        p += keep_length + skip;
    }
    dst[out] = '\0';
    return out;
}

//  "ts=... level=... actor=... msg=\"" into line; returns its length.
static size_t s_header(char *line, log_level_t level, const char *actor) {
    struct timespec now;
    struct tm utc;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &utc);
    char stamp[32];
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &utc);

    //  An actor name is a bare logfmt value: anything else becomes '_'.
    char name[ACTOR_MAX + 1];
    size_t length = 0;
    for (const char *p = actor ? actor : ""; *p && length < ACTOR_MAX; p++)
        name[length++] = s_is_token_char(*p) || *p == '.' || *p == '/' || *p == ':' ? *p : '_';
    if (length == 0) name[length++] = '-';
    name[length] = '\0';

    int used = snprintf(line, LOG_LINE_MAX, "ts=%s.%03ldZ level=%s actor=%s msg=\"", stamp,
                        now.tv_nsec / 1000000, s_level_names[level], name);
    assert(used > 0 && used < LOG_LINE_MAX / 2);
    return (size_t)used;
}

//  How c appears in the line: itself or an escape. quoted: inside msg="..."
//  where '"' and '\' are escaped too; control characters always are.
static size_t s_escape(char c, bool quoted, char *buf) {
    unsigned char byte = (unsigned char)c;
    const char *named = NULL;
    if (c == '\n')
        named = "\\n";
    else if (c == '\r')
        named = "\\r";
    else if (c == '\t')
        named = "\\t";
    else if (quoted && c == '"')
        named = "\\\"";
    else if (quoted && c == '\\')
        named = "\\\\";
    if (named) {
        memcpy(buf, named, 2);
        return 2;
    }
    if (byte < 0x20 || byte == 0x7f) {
        snprintf(buf, 5, "\\x%02x", byte);
        return 4;
    }
    buf[0] = c;
    return 1;
}

//  Appends text, escaped, to line[used..end). When all of it does not fit it
//  is cut before a whole escape or UTF-8 character, CUT_MARK is added and,
//  for fields, a quoted value left open is closed. Returns the new length.
static size_t s_append(char *line, size_t used, size_t end, const char *text, bool quoted) {
    assert(end >= used + strlen(CUT_MARK) + 1);
    char buf[8];
    size_t total = 0;
    for (const char *p = text; *p; p++)
        total += s_escape(*p, quoted, buf);
    if (used + total <= end) {
        for (const char *p = text; *p; p++)
            used += s_escape(*p, quoted, line + used);
        return used;
    }
    size_t room = end - strlen(CUT_MARK) - (quoted ? 0 : 1); //  1 for a closing '"'
    bool in_quote = false;
    bool escaped = false;
    const char *p = text;
    for (; *p; p++) {
        size_t length = s_escape(*p, quoted, buf);
        if (used + length > room) break;
        memcpy(line + used, buf, length);
        used += length;
        if (escaped)
            escaped = false;
        else if (*p == '\\')
            escaped = in_quote;
        else if (*p == '"')
            in_quote = !in_quote;
    }
    //  p is the first byte left out: do not leave half a UTF-8 character.
    while (p > text && ((unsigned char)*p & 0xC0) == 0x80) {
        p--;
        used--;
    }
    memcpy(line + used, CUT_MARK, strlen(CUT_MARK));
    used += strlen(CUT_MARK);
    if (!quoted && in_quote) line[used++] = '"';
    return used;
}

static void s_write_all(int fd, const char *data, size_t length) {
    while (length > 0) {
        ssize_t written = write(fd, data, length);
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) return; //  nowhere left to report it
        data += written;
        length -= (size_t)written;
    }
}
