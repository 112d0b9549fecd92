/*  log.h — one logfmt line per event on stderr, with secrets redacted.

    log_info ("ledger", "batch committed", "n=%d ms=%.2f", n, ms);
    →  ts=2026-11-21T23:59:01.123Z level=info actor=ledger msg="batch committed" n=3 ms=0.41
    log_info ("ledger", "stopped", NULL);         //  no fields: pass NULL (or "")
    →  ts=2026-11-21T23:59:02.000Z level=info actor=ledger msg="stopped"

    msg is quoted with '"', '\\' and control characters escaped (\", \\, \n,
    \r, \t, \xNN). fields is the caller's logfmt, passed through except that
    control characters are escaped the same way: a line is always one line.
    A line is at most LOG_LINE_MAX bytes with its '\n' (<= PIPE_BUF, so a
    write to a pipe is atomic); msg is cut at LOG_MSG_MAX bytes and fields at
    what is left, each cut marked "..." and a quoted value left closed.

    Every part passes through log_redact before it is cut or escaped, so a
    secret is never half-shown: each secret registered with log_add_secret
    (the bot token, every API key) becomes "[REDACTED]" wherever it appears,
    including inside Telegram URLs (/bot<token>/, /file/bot<token>/), and so
    does anything shaped like a bot token (bot<digits>:<35+ of A-Za-z0-9_->,
    or <6+ digits>:<35+ ...> standing alone), registered or not.

    Thread-safe: actors log from their own threads; each line is one
    write(2). Secrets are registered at startup, before threads start;
    log_add_secret is safe against concurrent logging, log_clear_secrets is
    not (tests only).

    The macros are statements (do { } while (0)). They silence
    -Wformat-zero-length so "" is as good as NULL; every other printf format
    check still applies to fields and its arguments.
*/
#ifndef GENBOT_LOG_H
#define GENBOT_LOG_H

#include <stddef.h>
#include "config.h"

#define LOG_LINE_MAX    4096 //  bytes, '\n' included
#define LOG_MSG_MAX     1024 //  bytes of escaped msg
#define LOG_MAX_SECRETS 64
#define LOG_SECRET_MAX  255 //  bytes; a longer secret is refused
#define LOG_REDACTED    "[REDACTED]"

void log_set_level(log_level_t level);
log_level_t log_get_level(void);
//  Where lines go (default stderr, fd 2); tests capture into a pipe/file.
void log_set_fd(int fd);

//  Register a secret (copied). Returns 0 when registered, already known or
//  ignored (NULL, shorter than 4 bytes); -1 when it cannot be redacted
//  (longer than LOG_SECRET_MAX, or LOG_MAX_SECRETS already registered).
int log_add_secret(const char *secret);
void log_clear_secrets(void);

//  Copy src into dst (size bytes) with every registered secret and every
//  bot-token-shaped string replaced by LOG_REDACTED. Matches are found in
//  all of src before dst is cut to size, so a cut never shows part of a
//  secret. Always NUL-terminates (size > 0); returns dst.
char *log_redact(const char *src, char *dst, size_t size);

//  fields: printf format for extra key=value pairs (may be NULL or "").
//  Lines below the level set with log_set_level are dropped.
void log_write(log_level_t level, const char *actor, const char *msg, const char *fields, ...)
    __attribute__((format(printf, 4, 5)));

#define LOG_EMIT_(level, actor, msg, ...)                                                          \
    do {                                                                                           \
        _Pragma("GCC diagnostic push");                                                            \
        _Pragma("GCC diagnostic ignored \"-Wformat-zero-length\"");                                \
        log_write(level, actor, msg, __VA_ARGS__);                                                 \
        _Pragma("GCC diagnostic pop");                                                             \
    } while (0)

#define log_debug(actor, msg, ...) LOG_EMIT_(LOG_LEVEL_DEBUG, actor, msg, __VA_ARGS__)
#define log_info(actor, msg, ...)  LOG_EMIT_(LOG_LEVEL_INFO, actor, msg, __VA_ARGS__)
#define log_warn(actor, msg, ...)  LOG_EMIT_(LOG_LEVEL_WARN, actor, msg, __VA_ARGS__)
#define log_error(actor, msg, ...) LOG_EMIT_(LOG_LEVEL_ERROR, actor, msg, __VA_ARGS__)

#endif
