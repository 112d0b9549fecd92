/*  test_log.c — logfmt lines, escaping, cuts, levels, redaction, threads.

    Each test logs into a temporary file (log_set_fd) and reads it back;
    the threaded test logs into a pipe drained by a reader thread.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define TOKEN        "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"
#define TOKEN_SECRET "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"
#define OTHER_TOKEN  "987654321:ZZy-_0123456789abcdefghijABCDEFGHIJKLM"
#define KEY_A        "kie0secret0key0aaaaaaaaaaaaaaaaa"
#define KEY_B        "kie0secret0key0bbbbbbbbbbbbbbbbb"

static FILE *s_capture;

static int s_setup(void **state) {
    (void)state;
    s_capture = tmpfile();
    assert_non_null(s_capture);
    log_set_fd(fileno(s_capture));
    log_set_level(LOG_LEVEL_DEBUG);
    log_clear_secrets();
    return 0;
}

static int s_teardown(void **state) {
    (void)state;
    log_set_fd(STDERR_FILENO);
    log_set_level(LOG_LEVEL_INFO);
    log_clear_secrets();
    fclose(s_capture);
    return 0;
}

//  Everything logged since s_setup, as a string the caller frees; empties
//  the capture.
static char *s_captured(void) {
    int fd = fileno(s_capture);
    struct stat info;
    assert_int_equal(fstat(fd, &info), 0);
    char *text = malloc((size_t)info.st_size + 1);
    assert_non_null(text);
    assert_int_equal(pread(fd, text, (size_t)info.st_size, 0), info.st_size);
    text[info.st_size] = '\0';
    assert_int_equal(ftruncate(fd, 0), 0);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    return text;
}

//  The one line captured, checked to be exactly one line.
static char *s_one_line(void) {
    char *text = s_captured();
    size_t length = strlen(text);
    assert_true(length > 0);
    assert_true(length <= LOG_LINE_MAX);
    assert_int_equal(text[length - 1], '\n');
    assert_ptr_equal(strchr(text, '\n'), text + length - 1);
    return text;
}

//  The text after "ts=<stamp> " (checked to be a recent UTC ISO 8601 stamp).
static const char *s_after_stamp(const char *line) {
    struct tm utc = {0};
    int millis = -1;
    int consumed = 0;
    int fields = sscanf(line, "ts=%4d-%2d-%2dT%2d:%2d:%2d.%3dZ %n", &utc.tm_year, &utc.tm_mon,
                        &utc.tm_mday, &utc.tm_hour, &utc.tm_min, &utc.tm_sec, &millis, &consumed);
    assert_int_equal(fields, 7);
    assert_int_equal(consumed, (int)strlen("ts=2026-11-21T23:59:01.123Z "));
    assert_in_range(millis, 0, 999);
    utc.tm_year -= 1900;
    utc.tm_mon -= 1;
    time_t stamp = timegm(&utc);
    time_t now = time(NULL);
    assert_true(stamp <= now && stamp >= now - 5);
    return line + consumed;
}

//  Undoes msg escaping: \" \\ \n \r \t \xNN.
static void s_unescape(const char *src, size_t length, char *dst) {
    const char *end = src + length;
    while (src < end) {
        if (*src != '\\') {
            *dst++ = *src++;
            continue;
        }
        src++;
        switch (*src) {
        case 'n':
            *dst++ = '\n';
            break;
        case 'r':
            *dst++ = '\r';
            break;
        case 't':
            *dst++ = '\t';
            break;
        case 'x': {
            unsigned value = 0;
            sscanf(src + 1, "%2x", &value);
            *dst++ = (char)value;
            src += 2;
            break;
        }
        default:
            *dst++ = *src;
        }
        src++;
    }
    *dst = '\0';
}

//  msg="..." of a line, unescaped into buf.
static void s_msg_of(const char *line, char *buf) {
    const char *start = strstr(line, " msg=\"");
    assert_non_null(start);
    start += strlen(" msg=\"");
    const char *p = start;
    while (*p && *p != '"')
        p += *p == '\\' ? 2 : 1;
    assert_int_equal(*p, '"');
    s_unescape(start, (size_t)(p - start), buf);
}

static void test_line_format(void **state) {
    (void)state;
    log_info("ledger", "batch committed", "n=%d ms=%.2f", 3, 0.41);
    char *line = s_one_line();
    assert_string_equal(s_after_stamp(line),
                        "level=info actor=ledger msg=\"batch committed\" n=3 ms=0.41\n");
    free(line);

    log_debug("kie", "polled", "task=%s", "t-1");
    line = s_one_line();
    assert_string_equal(s_after_stamp(line), "level=debug actor=kie msg=\"polled\" task=t-1\n");
    free(line);

    log_warn("kie", "key cooled", "key=%d", 2);
    line = s_one_line();
    assert_string_equal(s_after_stamp(line), "level=warn actor=kie msg=\"key cooled\" key=2\n");
    free(line);

    log_error("main", "failed", "code=%d", 2);
    line = s_one_line();
    assert_string_equal(s_after_stamp(line), "level=error actor=main msg=\"failed\" code=2\n");
    free(line);
}

static void test_no_fields(void **state) {
    (void)state;
    //  NULL and "" both compile without warnings and add nothing.
    log_info("ledger", "stopped", NULL);
    char *line = s_one_line();
    assert_string_equal(s_after_stamp(line), "level=info actor=ledger msg=\"stopped\"\n");
    free(line);

    log_info("ledger", "stopped", "");
    line = s_one_line();
    assert_string_equal(s_after_stamp(line), "level=info actor=ledger msg=\"stopped\"\n");
    free(line);

    log_write(LOG_LEVEL_WARN, NULL, NULL, NULL);
    line = s_one_line();
    assert_string_equal(s_after_stamp(line), "level=warn actor=- msg=\"\"\n");
    free(line);

    //  The macros are statements: usable as the body of an if/else.
    int branch = 1;
    if (branch)
        log_info("a", "b", NULL);
    else
        log_info("a", "c", NULL);
    line = s_one_line();
    assert_non_null(strstr(line, "msg=\"b\"\n"));
    free(line);
}

static void test_escaping(void **state) {
    (void)state;
    const char *msg = "say \"hi\"\nto C:\\path\r\tend\x01\x7f caf\xc3\xa9";
    log_info("bot", msg, NULL);
    char *line = s_one_line();
    assert_non_null(
        strstr(line, "msg=\"say \\\"hi\\\"\\nto C:\\\\path\\r\\tend\\x01\\x7f caf\xc3\xa9\"\n"));
    char back[256];
    s_msg_of(line, back);
    assert_string_equal(back, msg);
    free(line);

    //  Fields keep their quotes but never break the line.
    log_info("kie", "failed", "err=\"%s\" body=%s", "line one\nline two", "a\r\nb");
    line = s_one_line();
    assert_non_null(strstr(line, " err=\"line one\\nline two\" body=a\\r\\nb\n"));
    free(line);

    //  An actor is a bare word.
    log_info("bad actor\n\"x\"", "m", NULL);
    line = s_one_line();
    assert_non_null(strstr(line, " actor=bad_actor__x_ msg="));
    free(line);
}

static void test_long_msg_is_cut(void **state) {
    (void)state;
    size_t length = 100000;
    char *msg = malloc(length + 1);
    assert_non_null(msg);
    memset(msg, 'x', length);
    msg[length] = '\0';
    log_info("bot", msg, "after=%d", 1);
    char *line = s_one_line();
    char back[LOG_LINE_MAX];
    s_msg_of(line, back);
    assert_true(strlen(back) <= LOG_MSG_MAX);
    assert_true(strlen(back) > LOG_MSG_MAX - 8);
    assert_string_equal(back + strlen(back) - 4, "x...");
    assert_non_null(strstr(line, "...\" after=1\n"));
    free(line);

    //  Every byte escaped: the cut falls between escapes, never inside one.
    memset(msg, '\n', length);
    log_info("bot", msg, NULL);
    line = s_one_line();
    assert_non_null(strstr(line, "\\n...\"\n"));
    s_msg_of(line, back);
    assert_string_equal(back + strlen(back) - 4, "\n...");
    free(line);

    //  Two-byte UTF-8 characters after 0 or 1 ASCII byte: the cut never
    //  splits one, whichever byte it falls on.
    for (size_t shift = 0; shift < 2; shift++) {
        memset(msg, 'x', shift);
        for (size_t i = shift; i + 1 < length; i += 2)
            memcpy(msg + i, "\xc3\xa9", 2);
        log_info("bot", msg, NULL);
        line = s_one_line();
        s_msg_of(line, back);
        size_t cut = strlen(back) - 3;
        assert_string_equal(back + cut, "...");
        assert_int_equal((cut - shift) % 2, 0);
        assert_int_equal((unsigned char)back[cut - 1], 0xa9);
        free(line);
    }
    free(msg);
}

static void test_long_fields_are_cut(void **state) {
    (void)state;
    size_t length = 100000;
    char *body = malloc(length + 1);
    assert_non_null(body);
    memset(body, 'y', length);
    body[length] = '\0';

    //  A quoted value left open by the cut is closed.
    log_info("kie", "response", "status=%d body=\"%s\" tail=1", 500, body);
    char *line = s_one_line();
    assert_int_equal(strlen(line), LOG_LINE_MAX);
    assert_non_null(strstr(line, " status=500 body=\"yyyy"));
    assert_string_equal(line + strlen(line) - 6, "y...\"\n");
    free(line);

    //  A bare value is not given a stray quote.
    log_info("kie", "response", "body=%s", body);
    line = s_one_line();
    assert_int_equal(strlen(line), LOG_LINE_MAX - 1);
    assert_string_equal(line + strlen(line) - 5, "y...\n");
    free(line);

    //  An escaped quote inside a quoted value does not close it.
    body[length - 2] = '\0';
    log_info("kie", "response", "body=\"a\\\"%s\"", body);
    line = s_one_line();
    assert_string_equal(line + strlen(line) - 6, "y...\"\n");
    free(line);
    free(body);
}

//  A secret near any cut is redacted whole, never shown in part.
static void test_cut_never_shows_part_of_a_secret(void **state) {
    (void)state;
    assert_int_equal(log_add_secret(KEY_A), 0);
    size_t length = 3 * LOG_LINE_MAX;
    char *text = malloc(length + 1);
    assert_non_null(text);
    size_t key_length = strlen(KEY_A);
    //  Around the msg cut, the fields cut, and the end of the stack buffer
    //  fields are first formatted into.
    size_t centres[] = {LOG_MSG_MAX, LOG_LINE_MAX - 150, LOG_LINE_MAX, 2 * LOG_LINE_MAX};
    for (size_t c = 0; c < sizeof(centres) / sizeof(centres[0]); c++) {
        for (size_t at = centres[c] - key_length - 40; at < centres[c] + 8; at++) {
            memset(text, 'a', length);
            text[length] = '\0';
            memcpy(text + at, KEY_A, key_length);
            log_info("bot", text, NULL);
            log_info("bot", "m", "v=%s", text);
            char *lines = s_captured();
            if (strstr(lines, "kie0"))
                fail_msg("part of the secret shown with the secret at %zu", at);
            free(lines);
        }
    }
    free(text);
}

static void test_level_filter(void **state) {
    (void)state;
    log_set_level(LOG_LEVEL_WARN);
    assert_int_equal(log_get_level(), LOG_LEVEL_WARN);
    log_debug("a", "debug", NULL);
    log_info("a", "info", NULL);
    log_warn("a", "warn", NULL);
    log_error("a", "error", NULL);
    char *text = s_captured();
    assert_null(strstr(text, "msg=\"debug\""));
    assert_null(strstr(text, "msg=\"info\""));
    assert_non_null(strstr(text, "level=warn actor=a msg=\"warn\"\n"));
    assert_non_null(strstr(text, "level=error actor=a msg=\"error\"\n"));
    free(text);

    log_set_level(LOG_LEVEL_ERROR);
    log_warn("a", "warn", NULL);
    text = s_captured();
    assert_string_equal(text, "");
    free(text);

    log_set_level(LOG_LEVEL_DEBUG);
    log_debug("a", "debug", NULL);
    text = s_captured();
    assert_non_null(strstr(text, "level=debug"));
    free(text);
}

static void test_redact_registered_token(void **state) {
    (void)state;
    assert_int_equal(log_add_secret(TOKEN), 0);
    log_info("telegram", "token is " TOKEN ".", "url=https://api.telegram.org/bot%s/getMe", TOKEN);
    char *line = s_one_line();
    assert_null(strstr(line, TOKEN_SECRET));
    assert_null(strstr(line, "123456789"));
    assert_non_null(strstr(line, "msg=\"token is [REDACTED].\""));
    assert_non_null(strstr(line, " url=https://api.telegram.org/bot[REDACTED]/getMe\n"));
    free(line);

    log_info("telegram", "download", "url=https://api.telegram.org/file/bot%s/photos/x.jpg", TOKEN);
    line = s_one_line();
    assert_non_null(
        strstr(line, " url=https://api.telegram.org/file/bot[REDACTED]/photos/x.jpg\n"));
    free(line);

    //  A registered secret that does not look like a token is redacted too.
    assert_int_equal(log_add_secret("42:short-token"), 0);
    log_info("telegram", "x", "a=42:short-token b=/bot42:short-token/getMe");
    line = s_one_line();
    assert_non_null(strstr(line, " a=[REDACTED] b=/bot[REDACTED]/getMe\n"));
    free(line);
}

static void test_redact_unregistered_token(void **state) {
    (void)state;
    //  Nothing registered: the bot token shape alone is enough.
    log_info("telegram", "sent", "url=https://api.telegram.org/bot%s/sendMessage", OTHER_TOKEN);
    char *line = s_one_line();
    assert_non_null(strstr(line, " url=https://api.telegram.org/bot[REDACTED]/sendMessage\n"));
    assert_null(strstr(line, "987654321"));
    free(line);

    log_info("telegram", "got", "url=/file/bot%s/voice/file_3.oga", OTHER_TOKEN);
    line = s_one_line();
    assert_non_null(strstr(line, " url=/file/bot[REDACTED]/voice/file_3.oga\n"));
    free(line);

    log_info("telegram", "pasted " OTHER_TOKEN " by mistake", NULL);
    line = s_one_line();
    assert_non_null(strstr(line, "msg=\"pasted [REDACTED] by mistake\""));
    free(line);

    //  Things that only look a little like one are left alone.
    char dst[256];
    const char *innocent[] = {
        "ts=12:30:45 bot12:short x",
        "12345:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ",       //  bare needs 6+ digits
        "x123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ",  //  not at a word start
        "bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", //  34 characters
        "bot:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ",
    };
    for (size_t i = 0; i < sizeof(innocent) / sizeof(innocent[0]); i++)
        assert_string_equal(log_redact(innocent[i], dst, sizeof(dst)), innocent[i]);
    assert_string_equal(
        log_redact("bot12345:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ/x", dst, sizeof(dst)),
        "bot[REDACTED]/x");
    assert_string_equal(
        log_redact("(123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQxyz)", dst, sizeof(dst)),
        "([REDACTED])");
}

static void test_redact_api_keys(void **state) {
    (void)state;
    assert_int_equal(log_add_secret(KEY_A), 0);
    assert_int_equal(log_add_secret(KEY_B), 0);
    log_warn("kie", "key " KEY_B " cooled", "key=%s auth=\"Bearer %s\" next=%s", KEY_A, KEY_B,
             KEY_A);
    char *line = s_one_line();
    assert_null(strstr(line, "kie0secret"));
    assert_non_null(strstr(line, "msg=\"key [REDACTED] cooled\""));
    assert_non_null(strstr(line, " key=[REDACTED] auth=\"Bearer [REDACTED]\" next=[REDACTED]\n"));
    free(line);
}

static void test_redact_function(void **state) {
    (void)state;
    char dst[64];
    assert_int_equal(log_add_secret("abcdef"), 0);
    assert_int_equal(log_add_secret("abcdefghij"), 0);
    //  The longest secret that matches wins.
    assert_string_equal(log_redact("xxabcdefghijyy", dst, sizeof(dst)), "xx[REDACTED]yy");
    assert_string_equal(log_redact("xxabcdefyy", dst, sizeof(dst)), "xx[REDACTED]yy");
    assert_string_equal(log_redact("abcdeabcdef", dst, sizeof(dst)), "abcde[REDACTED]");
    assert_string_equal(log_redact("", dst, sizeof(dst)), "");
    //  Small buffers: cut, terminated, never a piece of the secret.
    assert_string_equal(log_redact("abcdefghij", dst, 1), "");
    assert_string_equal(log_redact("abcdefghij", dst, 5), "[RED");
    assert_string_equal(log_redact("xyabcdefghij", dst, 5), "xy[R");
    assert_string_equal(log_redact("0123456789", dst, 5), "0123");

    //  Too short, NULL, repeated: ignored. Too long or too many: refused.
    assert_int_equal(log_add_secret("abc"), 0);
    assert_int_equal(log_add_secret(NULL), 0);
    assert_string_equal(log_redact("abc", dst, sizeof(dst)), "abc");
    assert_int_equal(log_add_secret("abcdef"), 0);
    char long_secret[LOG_SECRET_MAX + 2];
    memset(long_secret, 's', sizeof(long_secret) - 1);
    long_secret[sizeof(long_secret) - 1] = '\0';
    assert_int_equal(log_add_secret(long_secret), -1);
    long_secret[LOG_SECRET_MAX] = '\0';
    assert_int_equal(log_add_secret(long_secret), 0);

    log_clear_secrets();
    assert_string_equal(log_redact("xxabcdefyy", dst, sizeof(dst)), "xxabcdefyy");
    for (int i = 0; i < LOG_MAX_SECRETS; i++) {
        char secret[32];
        snprintf(secret, sizeof(secret), "secret-%03d", i);
        assert_int_equal(log_add_secret(secret), 0);
    }
    assert_int_equal(log_add_secret("one-too-many"), -1);
    assert_int_equal(log_add_secret("secret-000"), 0); //  already known
    assert_string_equal(log_redact("secret-063 one-too-many", dst, sizeof(dst)),
                        "[REDACTED] one-too-many");
}

//  Four threads log into one pipe; every line must come out whole.
#define THREADS          4
#define LINES_PER_THREAD 2000

typedef struct {
    int fd;
    char *text;
    size_t size;
} drain_t;

static void *s_drain(void *arg) {
    drain_t *drain = arg;
    size_t capacity = 1 << 20;
    drain->text = malloc(capacity);
    assert_non_null(drain->text);
    for (;;) {
        if (capacity - drain->size < LOG_LINE_MAX) {
            capacity *= 2;
            drain->text = realloc(drain->text, capacity);
            assert_non_null(drain->text);
        }
        ssize_t got = read(drain->fd, drain->text + drain->size, capacity - drain->size - 1);
        if (got <= 0) break;
        drain->size += (size_t)got;
    }
    drain->text[drain->size] = '\0';
    return NULL;
}

static size_t s_pad_length(int seq) {
    return (size_t)(seq * 37 % 3500);
}

static void *s_writer(void *arg) {
    int thread = (int)(intptr_t)arg;
    char pad[3600];
    for (int seq = 0; seq < LINES_PER_THREAD; seq++) {
        size_t length = s_pad_length(seq);
        memset(pad, 'a' + thread, length);
        pad[length] = '\0';
        log_info("worker", "tick", "thread=%d seq=%d pad=%s key=%s", thread, seq, pad, KEY_A);
    }
    return NULL;
}

static void test_threads_write_whole_lines(void **state) {
    (void)state;
    assert_int_equal(log_add_secret(KEY_A), 0);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    drain_t drain = {fds[0], NULL, 0};
    pthread_t reader;
    assert_int_equal(pthread_create(&reader, NULL, s_drain, &drain), 0);
    log_set_fd(fds[1]);

    pthread_t writers[THREADS];
    for (int t = 0; t < THREADS; t++)
        assert_int_equal(pthread_create(&writers[t], NULL, s_writer, (void *)(intptr_t)t), 0);
    for (int t = 0; t < THREADS; t++)
        pthread_join(writers[t], NULL);
    log_set_fd(STDERR_FILENO);
    close(fds[1]);
    pthread_join(reader, NULL);
    close(fds[0]);

    static bool seen[THREADS][LINES_PER_THREAD];
    memset(seen, 0, sizeof(seen));
    size_t lines = 0;
    char *line = drain.text;
    while (*line) {
        char *end = strchr(line, '\n');
        assert_non_null(end);
        *end = '\0';
        const char *rest = s_after_stamp(line);
        int thread = -1, seq = -1, consumed = 0;
        int fields = sscanf(rest, "level=info actor=worker msg=\"tick\" thread=%d seq=%d pad=%n",
                            &thread, &seq, &consumed);
        if (fields != 2 || thread < 0 || thread >= THREADS || seq < 0 || seq >= LINES_PER_THREAD)
            fail_msg("torn line: %.120s", line);
        const char *pad = rest + consumed;
        size_t length = strspn(pad, (char[]){(char)('a' + thread), '\0'});
        assert_int_equal(length, s_pad_length(seq));
        assert_string_equal(pad + length, " key=[REDACTED]");
        assert_false(seen[thread][seq]);
        seen[thread][seq] = true;
        lines++;
        line = end + 1;
    }
    assert_int_equal(lines, THREADS * LINES_PER_THREAD);
    free(drain.text);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_line_format, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_no_fields, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_escaping, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_long_msg_is_cut, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_long_fields_are_cut, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_cut_never_shows_part_of_a_secret, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_level_filter, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_redact_registered_token, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_redact_unregistered_token, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_redact_api_keys, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_redact_function, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_threads_write_whole_lines, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
