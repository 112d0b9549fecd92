/*  test_tgsim.c — the simulated Telegram Bot API server, driven over HTTP
    with libcurl the way genbot's poller and notifier drive the real one.

    Each test gets a fresh simulator with two users (Ann, ru; Bob, en) and
    a 500 ms callback-answer window; the limit and fault tests make their
    own. Waits use short real timeouts (about 1 s), so the suite stays fast.
*/
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "tgsim.h"

#define ANN 1001
#define BOB 1002
#define KEYBOARD                                                                                              \
    "{\"inline_keyboard\":[[{\"text\":\"🎬 Создать видео\",\"callback_data\":\"menu:create\"}," \
    "{\"text\":\"👤 Account\",\"callback_data\":\"menu:account\"}],"                                        \
    "[{\"text\":\"Site\",\"url\":\"https://example.com/\"}]]}"

typedef struct {
    long status; //  0 = no answer (connection dropped)
    CURLcode code;
    char *body;
    size_t size;
    json_t *json; //  the parsed body, NULL when it isn't JSON
    long retry_after;
    char content_type[64];
} reply_t;

//  --------------------------------------------------------------------------
//  HTTP helpers

static size_t s_write(char *data, size_t size, size_t count, void *arg) {
    reply_t *reply = arg;
    size_t n = size * count;
    reply->body = realloc(reply->body, reply->size + n + 1);
    assert_non_null(reply->body);
    memcpy(reply->body + reply->size, data, n);
    reply->size += n;
    reply->body[reply->size] = '\0';
    return n;
}

static size_t s_header(char *data, size_t size, size_t count, void *arg) {
    reply_t *reply = arg;
    size_t n = size * count;
    if (n > 12 && strncasecmp(data, "Retry-After:", 12) == 0) reply->retry_after = atol(data + 12);
    if (n > 13 && strncasecmp(data, "Content-Type:", 13) == 0)
        sscanf(data + 13, " %63[^;\r\n]", reply->content_type);
    return n;
}

static void s_reply_clear(reply_t *reply) {
    free(reply->body);
    json_decref(reply->json);
    memset(reply, 0, sizeof *reply);
}

//  Performs curl (its URL and body already set) into reply.
static void s_perform(CURL *curl, reply_t *reply, long timeout_s) {
    memset(reply, 0, sizeof *reply);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, s_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, reply);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, s_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, reply);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    reply->code = curl_easy_perform(curl);
    if (reply->code == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply->status);
    if (reply->body) reply->json = json_loadb(reply->body, reply->size, 0, NULL);
}

static char *s_url(tgsim_t *sim, const char *token, const char *method, const char *query) {
    char *url = NULL;
    assert_true(asprintf(&url, "%s/bot%s/%s%s%s", tgsim_url(sim), token ? token : tgsim_token(sim),
                         method, query ? "?" : "", query ? query : "") > 0);
    return url;
}

//  GET with a query string (already escaped).
static void s_get(reply_t *reply, tgsim_t *sim, const char *method, const char *query,
                  long timeout_s) {
    CURL *curl = curl_easy_init();
    char *url = s_url(sim, NULL, method, query);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    s_perform(curl, reply, timeout_s);
    curl_easy_cleanup(curl);
    free(url);
}

//  POST application/x-www-form-urlencoded (form already escaped).
static void s_form(reply_t *reply, tgsim_t *sim, const char *method, const char *form) {
    CURL *curl = curl_easy_init();
    char *url = s_url(sim, NULL, method, NULL);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, form);
    s_perform(curl, reply, 10);
    curl_easy_cleanup(curl);
    free(url);
}

//  POST application/json; takes body.
static void s_json(reply_t *reply, tgsim_t *sim, const char *method, json_t *body) {
    CURL *curl = curl_easy_init();
    char *url = s_url(sim, NULL, method, NULL);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, text);
    s_perform(curl, reply, 10);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    free(text);
    free(url);
}

//  POST multipart/form-data: fields as name, value pairs ending in NULL;
//  then one file part when file_field is not NULL.
static void s_multipart(reply_t *reply, tgsim_t *sim, const char *method, const char *const *fields,
                        const char *file_field, const char *file_name, const void *data,
                        size_t size, const char *mime_type) {
    CURL *curl = curl_easy_init();
    char *url = s_url(sim, NULL, method, NULL);
    curl_mime *mime = curl_mime_init(curl);
    for (size_t i = 0; fields && fields[i]; i += 2) {
        curl_mimepart *part = curl_mime_addpart(mime);
        curl_mime_name(part, fields[i]);
        curl_mime_data(part, fields[i + 1], CURL_ZERO_TERMINATED);
    }
    if (file_field) {
        curl_mimepart *part = curl_mime_addpart(mime);
        curl_mime_name(part, file_field);
        curl_mime_filename(part, file_name);
        curl_mime_type(part, mime_type);
        curl_mime_data(part, data, size);
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_MIMEPOST, mime);
    s_perform(curl, reply, 30);
    curl_mime_free(mime);
    curl_easy_cleanup(curl);
    free(url);
}

static void s_download(reply_t *reply, tgsim_t *sim, const char *file_path) {
    CURL *curl = curl_easy_init();
    char *url = NULL;
    assert_true(asprintf(&url, "%s/file/bot%s/%s", tgsim_url(sim), tgsim_token(sim), file_path) >
                0);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    s_perform(curl, reply, 10);
    curl_easy_cleanup(curl);
    free(url);
}

static char *s_escape(const char *text) {
    char *escaped = curl_easy_escape(NULL, text, 0);
    char *copy = strdup(escaped);
    curl_free(escaped);
    return copy;
}

static json_t *s_result(const reply_t *reply) {
    return json_object_get(reply->json, "result");
}

static const char *s_description(const reply_t *reply) {
    return json_string_value(json_object_get(reply->json, "description"));
}

static void s_assert_ok(const reply_t *reply) {
    if (reply->status != 200 || !json_is_true(json_object_get(reply->json, "ok")))
        fail_msg("expected ok, got %ld: %s", reply->status, reply->body ? reply->body : "(none)");
}

static void s_assert_error(const reply_t *reply, long status, const char *description) {
    if (reply->status != status)
        fail_msg("expected %ld, got %ld: %s", status, reply->status,
                 reply->body ? reply->body : "(none)");
    assert_false(json_is_true(json_object_get(reply->json, "ok")));
    assert_int_equal(json_integer_value(json_object_get(reply->json, "error_code")), status);
    if (description && strncmp(s_description(reply), description, strlen(description)) != 0)
        fail_msg("expected \"%s...\", got \"%s\"", description, s_description(reply));
}

//  getUpdates?offset=..&timeout=.. (offset 0 = none); returns the result array.
static json_t *s_updates(reply_t *reply, tgsim_t *sim, int64_t offset, int timeout) {
    char query[96];
    if (offset)
        snprintf(query, sizeof query, "offset=%lld&timeout=%d", (long long)offset, timeout);
    else
        snprintf(query, sizeof query, "timeout=%d", timeout);
    s_get(reply, sim, "getUpdates", query, timeout + 10);
    s_assert_ok(reply);
    return s_result(reply);
}

static int64_t s_ms(void) {
    return tgsim_clock_ms();
}

static void s_sleep_ms(int ms) {
    usleep((useconds_t)ms * 1000);
}

//  --------------------------------------------------------------------------

static int s_setup(void **state) {
    tgsim_opts_t opts;
    tgsim_opts_init(&opts);
    opts.callback_timeout_ms = 500;
    opts.seed = 42;
    tgsim_t *sim = tgsim_new(&opts);
    assert_non_null(sim);
    assert_int_equal(tgsim_user_add(sim, ANN, "Ann", "ru"), 0);
    assert_int_equal(tgsim_user_add(sim, BOB, "Bob", "en"), 0);
    *state = sim;
    return 0;
}

static int s_teardown(void **state) {
    tgsim_t *sim = *state;
    tgsim_destroy(&sim);
    assert_null(sim);
    tgsim_destroy(&sim);
    return 0;
}

static void test_get_me_token_and_unknown_method(void **state) {
    tgsim_t *sim = *state;
    reply_t reply;
    s_get(&reply, sim, "getMe", NULL, 5);
    s_assert_ok(&reply);
    assert_true(json_is_true(json_object_get(s_result(&reply), "is_bot")));
    assert_int_equal(json_integer_value(json_object_get(s_result(&reply), "id")), 123456789);
    s_reply_clear(&reply);

    //  method names are case-insensitive
    s_get(&reply, sim, "GETME", NULL, 5);
    s_assert_ok(&reply);
    s_reply_clear(&reply);

    CURL *curl = curl_easy_init();
    char *url = s_url(sim, "123456789:wrong", "getMe", NULL);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    s_perform(curl, &reply, 5);
    assert_int_equal(reply.status, 401);
    assert_string_equal(reply.body,
                        "{\"ok\":false,\"error_code\":401,\"description\":\"Unauthorized\"}");
    s_reply_clear(&reply);
    curl_easy_cleanup(curl);
    free(url);

    s_get(&reply, sim, "sendTelepathy", NULL, 5);
    assert_int_equal(reply.status, 404);
    assert_string_equal(reply.body,
                        "{\"ok\":false,\"error_code\":404,\"description\":\"Not Found\"}");
    s_reply_clear(&reply);
    assert_int_equal(tgsim_calls_count(sim, "sendTelepathy"), 1);
    assert_int_equal(tgsim_calls_ok(sim, "getMe"), 2);
}

static void test_updates_offset_and_limit(void **state) {
    tgsim_t *sim = *state;
    int64_t first = tgsim_send_text(sim, ANN, "/start");
    assert_true(first > 0);
    assert_int_equal(tgsim_send_text(sim, ANN, "hello"), first + 1);
    assert_int_equal(tgsim_send_text(sim, BOB, "hi"), first + 2);
    assert_int_equal(tgsim_send_text(sim, 999, "stranger"), -1);

    reply_t reply;
    json_t *updates = s_updates(&reply, sim, 0, 0);
    assert_int_equal(json_array_size(updates), 3);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(
            json_integer_value(json_object_get(json_array_get(updates, i), "update_id")),
            first + (int64_t)i);
    json_t *message = json_object_get(json_array_get(updates, 0), "message");
    assert_string_equal(json_string_value(json_object_get(message, "text")), "/start");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(message, "chat"), "id")),
                     ANN);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(message, "from"), "language_code")),
        "ru");
    json_t *entity = json_array_get(json_object_get(message, "entities"), 0);
    assert_string_equal(json_string_value(json_object_get(entity, "type")), "bot_command");
    assert_int_equal(json_integer_value(json_object_get(entity, "length")), 6);
    s_reply_clear(&reply);

    //  no offset: the same updates again (nothing confirmed)
    s_get(&reply, sim, "getUpdates", "limit=2", 5);
    assert_int_equal(json_array_size(s_result(&reply)), 2);
    s_reply_clear(&reply);
    //  limit is clamped to 1..100
    s_get(&reply, sim, "getUpdates", "limit=0", 5);
    assert_int_equal(json_array_size(s_result(&reply)), 1);
    s_reply_clear(&reply);

    //  offset confirms everything below it
    updates = s_updates(&reply, sim, first + 1, 0);
    assert_int_equal(json_array_size(updates), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(updates, 0), "update_id")),
                     first + 1);
    s_reply_clear(&reply);
    assert_int_equal(tgsim_wait_confirmed(sim, first, 0), 0);
    assert_int_equal(tgsim_wait_confirmed(sim, first + 1, 0), -1);
    updates = s_updates(&reply, sim, 0, 0);
    assert_int_equal(json_array_size(updates), 2);
    s_reply_clear(&reply);

    //  a negative offset keeps only the last -offset updates
    s_get(&reply, sim, "getUpdates", "offset=-1", 5);
    assert_int_equal(json_array_size(s_result(&reply)), 1);
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(s_result(&reply), 0), "update_id")),
        first + 2);
    s_reply_clear(&reply);

    updates = s_updates(&reply, sim, first + 3, 0);
    assert_int_equal(json_array_size(updates), 0);
    s_reply_clear(&reply);
    tgsim_stats_t stats;
    tgsim_stats(sim, &stats);
    assert_int_equal(stats.updates_queued, 3);
    assert_int_equal(stats.updates_delivered, 3);
    assert_int_equal(stats.updates_confirmed, 3);
    assert_int_equal(stats.updates_pending, 0);
    int64_t queued = 0, delivered = 0;
    assert_int_equal(tgsim_update_times(sim, first, &queued, &delivered), 0);
    assert_true(queued > 0 && delivered >= queued);
}

typedef struct {
    tgsim_t *sim;
    int delay_ms;
    int timeout_s;
    reply_t reply;
} s_later_t;

static void *s_send_later(void *arg) {
    s_later_t *later = arg;
    s_sleep_ms(later->delay_ms);
    tgsim_send_text(later->sim, BOB, "late hello");
    return NULL;
}

static void *s_poll_thread(void *arg) {
    s_later_t *later = arg;
    char query[32];
    snprintf(query, sizeof query, "timeout=%d", later->timeout_s);
    s_get(&later->reply, later->sim, "getUpdates", query, later->timeout_s + 10);
    return NULL;
}

static void test_long_poll(void **state) {
    tgsim_t *sim = *state;
    reply_t reply;
    //  nothing arrives: empty after the timeout
    int64_t start = s_ms();
    json_t *updates = s_updates(&reply, sim, 0, 1);
    int64_t elapsed = s_ms() - start;
    assert_int_equal(json_array_size(updates), 0);
    assert_in_range(elapsed, 900, 2500);
    s_reply_clear(&reply);

    //  an update arriving during the poll ends it at once
    s_later_t later = {sim, 300, 0, {0}};
    pthread_t thread;
    pthread_create(&thread, NULL, s_send_later, &later);
    start = s_ms();
    updates = s_updates(&reply, sim, 0, 5);
    elapsed = s_ms() - start;
    pthread_join(thread, NULL);
    assert_int_equal(json_array_size(updates), 1);
    assert_in_range(elapsed, 250, 2000);
    s_reply_clear(&reply);
}

static void test_concurrent_polls_conflict(void **state) {
    tgsim_t *sim = *state;
    s_later_t older = {sim, 0, 3, {0}};
    pthread_t thread;
    pthread_create(&thread, NULL, s_poll_thread, &older);
    s_sleep_ms(300);
    reply_t reply;
    int64_t start = s_ms();
    s_updates(&reply, sim, 0, 0);
    s_reply_clear(&reply);
    pthread_join(thread, NULL);
    assert_true(s_ms() - start < 1500);
    s_assert_error(&older.reply, 409, TGSIM_CONFLICT_POLL);
    assert_string_equal(s_description(&older.reply),
                        "Conflict: terminated by other getUpdates request; make sure that only one "
                        "bot instance is running");
    s_reply_clear(&older.reply);
    tgsim_stats_t stats;
    tgsim_stats(sim, &stats);
    assert_int_equal(stats.conflicts, 1);
}

static void test_scripted_poll_failures(void **state) {
    tgsim_t *sim = *state;
    tgsim_send_text(sim, ANN, "hi");
    tgsim_fail_next(sim, "getUpdates", 409, TGSIM_CONFLICT_WEBHOOK, 1);
    tgsim_fail_next(sim, "getUpdates", 401, NULL, 1);
    tgsim_fail_next(sim, "getUpdates", TGSIM_FAIL_GATEWAY, NULL, 1);
    tgsim_fail_next(sim, "getUpdates", TGSIM_FAIL_MALFORMED, NULL, 1);
    tgsim_fail_next(sim, "getUpdates", TGSIM_FAIL_DROP, NULL, 1);
    tgsim_fail_next(sim, "getUpdates", 429, NULL, 1);
    reply_t reply;
    s_get(&reply, sim, "getUpdates", NULL, 5);
    s_assert_error(&reply, 409, "Conflict: can't use getUpdates method while webhook is active");
    s_reply_clear(&reply);
    s_get(&reply, sim, "getUpdates", NULL, 5);
    s_assert_error(&reply, 401, "Unauthorized");
    s_reply_clear(&reply);
    s_get(&reply, sim, "getUpdates", NULL, 5);
    assert_int_equal(reply.status, 502);
    assert_null(reply.json);
    assert_string_equal(reply.content_type, "text/html");
    s_reply_clear(&reply);
    s_get(&reply, sim, "getUpdates", NULL, 5);
    assert_int_equal(reply.status, 200);
    assert_null(reply.json);
    s_reply_clear(&reply);
    s_get(&reply, sim, "getUpdates", NULL, 5);
    assert_int_equal(reply.status, 0);
    assert_int_equal(reply.code, CURLE_GOT_NOTHING);
    s_reply_clear(&reply);
    s_get(&reply, sim, "getUpdates", NULL, 5);
    s_assert_error(&reply, 429, "Too Many Requests: retry after 1");
    assert_int_equal(reply.retry_after, 1);
    s_reply_clear(&reply);
    //  scripts used up: back to normal
    assert_int_equal(json_array_size(s_updates(&reply, sim, 0, 0)), 1);
    s_reply_clear(&reply);
    assert_int_equal(tgsim_calls_count(sim, "getUpdates"), 7);
    assert_int_equal(tgsim_calls_ok(sim, "getUpdates"), 1);
}

static void s_check_sent(tgsim_t *sim, const reply_t *reply, int64_t message_id, const char *text) {
    s_assert_ok(reply);
    json_t *result = s_result(reply);
    assert_int_equal(json_integer_value(json_object_get(result, "message_id")), message_id);
    assert_string_equal(json_string_value(json_object_get(result, "text")), text);
    json_t *keyboard = json_object_get(json_object_get(result, "reply_markup"), "inline_keyboard");
    assert_int_equal(json_array_size(keyboard), 2);
    const tgsim_call_t *call = tgsim_call(sim, "sendMessage", -1);
    assert_non_null(call);
    assert_int_equal(call->status, 200);
    assert_int_equal(call->chat_id, ANN);
    assert_int_equal(call->message_id, message_id);
    assert_string_equal(call->plain, text);
    assert_int_equal(call->button_count, 3);
    assert_string_equal(call->buttons[0].text, "🎬 Создать видео");
    assert_string_equal(call->buttons[0].callback_data, "menu:create");
    assert_int_equal(call->buttons[1].row, 0);
    assert_int_equal(call->buttons[1].col, 1);
    assert_int_equal(call->buttons[2].row, 1);
    assert_null(call->buttons[2].callback_data);
    assert_string_equal(call->buttons[2].url, "https://example.com/");
}

static void test_send_message_in_every_encoding(void **state) {
    tgsim_t *sim = *state;
    reply_t reply;
    char *text = s_escape("Привет, <b>Ann</b> & co");
    char *keyboard = s_escape(KEYBOARD);
    char *params = NULL;
    assert_true(asprintf(&params, "chat_id=%d&parse_mode=HTML&text=%s&reply_markup=%s", ANN, text,
                         keyboard) > 0);
    //  a user message takes id 1 in the chat; the bot's follow
    tgsim_send_text(sim, ANN, "/menu");

    s_get(&reply, sim, "sendMessage", params, 5);
    s_check_sent(sim, &reply, 2, "Привет, Ann & co");
    s_reply_clear(&reply);

    s_form(&reply, sim, "sendMessage", params);
    s_check_sent(sim, &reply, 3, "Привет, Ann & co");
    s_reply_clear(&reply);

    //  JSON with the keyboard as an object, then as a string
    s_json(&reply, sim, "sendMessage",
           json_pack("{s:i, s:s, s:o}", "chat_id", ANN, "text", "json object", "reply_markup",
                     json_loads(KEYBOARD, 0, NULL)));
    s_check_sent(sim, &reply, 4, "json object");
    s_reply_clear(&reply);
    s_json(&reply, sim, "sendMessage",
           json_pack("{s:s, s:s, s:s}", "chat_id", "1001", "text", "json string", "reply_markup",
                     KEYBOARD));
    s_check_sent(sim, &reply, 5, "json string");
    s_reply_clear(&reply);

    const char *fields[] = {"chat_id", "1001", "text", "multipart", "reply_markup", KEYBOARD, NULL};
    s_multipart(&reply, sim, "sendMessage", fields, NULL, NULL, NULL, 0, NULL);
    s_check_sent(sim, &reply, 6, "multipart");
    s_reply_clear(&reply);

    //  the raw text is recorded as sent
    const tgsim_call_t *call = tgsim_call(sim, "sendMessage", 0);
    assert_string_equal(call->text, "Привет, <b>Ann</b> & co");
    assert_string_equal(call->parse_mode, "HTML");
    assert_non_null(strstr(call->params, "\"chat_id\":\"1001\""));
    call = tgsim_call(sim, "sendMessage", 2);
    assert_non_null(strstr(call->params, "\"chat_id\":1001"));
    assert_non_null(strstr(call->params, "\"reply_markup\":{"));
    call = tgsim_call(sim, "sendMessage", 3);
    assert_non_null(strstr(call->params, "\"reply_markup\":\"{"));
    assert_int_equal(tgsim_calls_ok(sim, "sendMessage"), 5);

    tgsim_message_t *last = tgsim_last_message(sim, ANN);
    assert_string_equal(last->text, "multipart");
    assert_int_equal(last->button_count, 3);
    tgsim_message_destroy(&last);
    assert_null(last);
    free(params);
    free(text);
    free(keyboard);
}

static void test_send_message_checks(void **state) {
    tgsim_t *sim = *state;
    reply_t reply;
    s_json(&reply, sim, "sendMessage", json_pack("{s:i, s:s}", "chat_id", 4242, "text", "x"));
    s_assert_error(&reply, 400, "Bad Request: chat not found");
    s_reply_clear(&reply);
    s_json(&reply, sim, "sendMessage", json_pack("{s:s}", "text", "x"));
    s_assert_error(&reply, 400, "Bad Request: chat_id is empty");
    s_reply_clear(&reply);
    s_json(&reply, sim, "sendMessage", json_pack("{s:i, s:s}", "chat_id", ANN, "text", "  "));
    s_assert_error(&reply, 400, "Bad Request: message text is empty");
    s_reply_clear(&reply);
    s_json(&reply, sim, "sendMessage",
           json_pack("{s:i, s:s, s:s}", "chat_id", ANN, "parse_mode", "HTML", "text",
                     "<b>bold <i>both</b></i>"));
    s_assert_error(&reply, 400, "Bad Request: can't parse entities: Unmatched end tag");
    s_reply_clear(&reply);
    s_json(&reply, sim, "sendMessage",
           json_pack("{s:i, s:s, s:s}", "chat_id", ANN, "parse_mode", "HTML", "text",
                     "<b>never closed"));
    s_assert_error(&reply, 400,
                   "Bad Request: can't parse entities: Can't find end tag corresponding to start "
                   "tag b");
    s_reply_clear(&reply);
    s_json(&reply, sim, "sendMessage",
           json_pack("{s:i, s:s, s:s}", "chat_id", ANN, "parse_mode", "HTML", "text",
                     "1 < 2 unescaped"));
    s_assert_error(&reply, 400, "Bad Request: can't parse entities: Unsupported start tag");
    s_reply_clear(&reply);

    //  4096 characters pass, 4097 don't; tags don't count, entities count once
    char *text = malloc(4096 * 2 + 32);
    size_t n = 0;
    n += (size_t)sprintf(text, "<b>");
    for (int i = 0; i < 4095; i++)
        text[n++] = 'x';
    n += (size_t)sprintf(text + n, "&lt;</b>");
    s_json(&reply, sim, "sendMessage",
           json_pack("{s:i, s:s, s:s}", "chat_id", ANN, "parse_mode", "HTML", "text", text));
    s_assert_ok(&reply);
    s_reply_clear(&reply);
    //  4097 Cyrillic letters (two bytes each, one UTF-16 unit each)
    n = 0;
    for (int i = 0; i < 4097; i++)
        n += (size_t)sprintf(text + n, "ж");
    s_json(&reply, sim, "sendMessage", json_pack("{s:i, s:s}", "chat_id", ANN, "text", text));
    s_assert_error(&reply, 400, "Bad Request: message is too long");
    s_reply_clear(&reply);
    free(text);

    s_json(&reply, sim, "sendMessage",
           json_pack(
               "{s:i, s:s, s:s}", "chat_id", ANN, "text", "x", "reply_markup",
               "{\"inline_keyboard\":[[{\"text\":\"a\",\"callback_data\":"
               "\"0123456789012345678901234567890123456789012345678901234567890123456789\"}]]}"));
    s_assert_error(&reply, 400, "Bad Request: BUTTON_DATA_INVALID");
    s_reply_clear(&reply);
    s_json(&reply, sim, "sendMessage",
           json_pack("{s:i, s:s, s:s}", "chat_id", ANN, "text", "x", "reply_markup", "{not json"));
    s_assert_error(&reply, 400, "Bad Request: can't parse reply keyboard markup JSON object");
    s_reply_clear(&reply);
    assert_int_equal(tgsim_calls_ok(sim, "sendMessage"), 1);
    tgsim_stats_t stats;
    tgsim_stats(sim, &stats);
    assert_int_equal(stats.bad_request, 9);
}

static void test_edit_not_modified(void **state) {
    tgsim_t *sim = *state;
    reply_t reply;
    s_json(&reply, sim, "sendMessage",
           json_pack("{s:i, s:s, s:s, s:s}", "chat_id", ANN, "text", "⏳ <b>In queue</b>",
                     "parse_mode", "HTML", "reply_markup", KEYBOARD));
    s_assert_ok(&reply);
    int64_t id = json_integer_value(json_object_get(s_result(&reply), "message_id"));
    s_reply_clear(&reply);

    s_json(&reply, sim, "editMessageText",
           json_pack("{s:i, s:I, s:s, s:s, s:s}", "chat_id", ANN, "message_id", (json_int_t)id,
                     "text", "⏳ <b>In queue</b>", "parse_mode", "HTML", "reply_markup", KEYBOARD));
    s_assert_error(&reply, 400,
                   "Bad Request: message is not modified: specified new message content and "
                   "reply markup are exactly the same as a current content and reply markup of "
                   "the message");
    s_reply_clear(&reply);

    //  other entities on the same text are a change
    s_json(&reply, sim, "editMessageText",
           json_pack("{s:i, s:I, s:s, s:s, s:s}", "chat_id", ANN, "message_id", (json_int_t)id,
                     "text", "⏳ <i>In queue</i>", "parse_mode", "HTML", "reply_markup", KEYBOARD));
    s_assert_ok(&reply);
    s_reply_clear(&reply);

    //  an edit without reply_markup removes the keyboard
    s_json(&reply, sim, "editMessageText",
           json_pack("{s:i, s:I, s:s}", "chat_id", ANN, "message_id", (json_int_t)id, "text",
                     "🔄 Generating 40%"));
    s_assert_ok(&reply);
    assert_null(json_object_get(s_result(&reply), "reply_markup"));
    assert_true(json_integer_value(json_object_get(s_result(&reply), "edit_date")) > 0);
    s_reply_clear(&reply);
    s_json(&reply, sim, "editMessageReplyMarkup",
           json_pack("{s:i, s:I}", "chat_id", ANN, "message_id", (json_int_t)id));
    s_assert_error(&reply, 400, "Bad Request: message is not modified");
    s_reply_clear(&reply);
    s_json(&reply, sim, "editMessageReplyMarkup",
           json_pack("{s:i, s:I, s:s}", "chat_id", ANN, "message_id", (json_int_t)id,
                     "reply_markup", KEYBOARD));
    s_assert_ok(&reply);
    s_reply_clear(&reply);

    s_json(&reply, sim, "editMessageText",
           json_pack("{s:i, s:i, s:s}", "chat_id", ANN, "message_id", 999, "text", "x"));
    s_assert_error(&reply, 400, "Bad Request: message to edit not found");
    s_reply_clear(&reply);

    tgsim_message_t *msg = tgsim_message(sim, ANN, id);
    assert_string_equal(msg->text, "🔄 Generating 40%");
    assert_int_equal(msg->edits, 3);
    assert_int_equal(msg->button_count, 3);
    tgsim_message_destroy(&msg);
    assert_int_equal(tgsim_wait_message(sim, ANN, "Generating 40%", 0), id);
    assert_int_equal(tgsim_wait_message(sim, ANN, "In queue", 0), -1);

    s_json(&reply, sim, "deleteMessage",
           json_pack("{s:i, s:I}", "chat_id", ANN, "message_id", (json_int_t)id));
    s_assert_ok(&reply);
    s_reply_clear(&reply);
    s_json(&reply, sim, "deleteMessage",
           json_pack("{s:i, s:I}", "chat_id", ANN, "message_id", (json_int_t)id));
    s_assert_error(&reply, 400, "Bad Request: message to delete not found");
    s_reply_clear(&reply);
    assert_null(tgsim_last_message(sim, ANN));
}

static void test_callback_press_and_answer(void **state) {
    tgsim_t *sim = *state;
    reply_t reply;
    s_json(&reply, sim, "sendMessage",
           json_pack("{s:i, s:s, s:s}", "chat_id", ANN, "text", "Menu", "reply_markup", KEYBOARD));
    int64_t id = json_integer_value(json_object_get(s_result(&reply), "message_id"));
    s_reply_clear(&reply);

    int64_t pressed = tgsim_press_button(sim, ANN, id, 1);
    assert_true(pressed > 0);
    assert_int_equal(tgsim_press_button(sim, ANN, id, 2), -1); //  a URL button
    assert_int_equal(tgsim_press_button(sim, ANN, id, 3), -1);
    assert_int_equal(tgsim_press_label(sim, ANN, 0, "Создать"), pressed + 1);
    assert_int_equal(tgsim_press(sim, ANN, id, "forged:data"), pressed + 2);
    assert_int_equal(tgsim_press(sim, ANN, 77, "x"), -1);

    json_t *updates = s_updates(&reply, sim, 0, 0);
    assert_int_equal(json_array_size(updates), 3);
    json_t *query = json_object_get(json_array_get(updates, 0), "callback_query");
    assert_string_equal(json_string_value(json_object_get(query, "data")), "menu:account");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(query, "message"), "message_id")), id);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(query, "from"), "id")),
                     ANN);
    char *first_id = strdup(json_string_value(json_object_get(query, "id")));
    json_t *second = json_object_get(json_array_get(updates, 1), "callback_query");
    assert_string_equal(json_string_value(json_object_get(second, "data")), "menu:create");
    char *second_id = strdup(json_string_value(json_object_get(second, "id")));
    s_reply_clear(&reply);

    assert_int_equal(tgsim_wait_answered(sim, pressed, 0), -1);
    s_json(&reply, sim, "answerCallbackQuery",
           json_pack("{s:s, s:s}", "callback_query_id", first_id, "text", "Done"));
    s_assert_ok(&reply);
    assert_true(json_is_true(s_result(&reply)));
    s_reply_clear(&reply);
    assert_int_equal(tgsim_wait_answered(sim, pressed, 0), 0);
    const tgsim_call_t *call = tgsim_call(sim, "answerCallbackQuery", -1);
    assert_string_equal(call->text, "Done");
    assert_int_equal(call->chat_id, ANN);
    assert_int_equal(call->message_id, id);

    //  twice, unknown, and too late
    s_json(&reply, sim, "answerCallbackQuery", json_pack("{s:s}", "callback_query_id", first_id));
    s_assert_error(&reply, 400,
                   "Bad Request: query is too old and response timeout expired or query ID is "
                   "invalid");
    s_reply_clear(&reply);
    s_json(&reply, sim, "answerCallbackQuery", json_pack("{s:s}", "callback_query_id", "12345"));
    s_assert_error(&reply, 400, "Bad Request: query is too old");
    s_reply_clear(&reply);
    s_sleep_ms(600);
    s_json(&reply, sim, "answerCallbackQuery", json_pack("{s:s}", "callback_query_id", second_id));
    s_assert_error(&reply, 400, "Bad Request: query is too old");
    s_reply_clear(&reply);
    free(first_id);
    free(second_id);
}

static void test_blocked_user(void **state) {
    tgsim_t *sim = *state;
    int64_t update_id = tgsim_block(sim, ANN, true);
    assert_true(update_id > 0);
    assert_int_equal(tgsim_block(sim, ANN, true), -1);
    assert_int_equal(tgsim_send_text(sim, ANN, "can't"), -1);
    reply_t reply;
    json_t *updates = s_updates(&reply, sim, 0, 0);
    json_t *member = json_object_get(json_array_get(updates, 0), "my_chat_member");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(member, "new_chat_member"), "status")),
        "kicked");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(member, "old_chat_member"), "status")),
        "member");
    s_reply_clear(&reply);

    s_json(&reply, sim, "sendMessage", json_pack("{s:i, s:s}", "chat_id", ANN, "text", "hello?"));
    s_assert_error(&reply, 403, "Forbidden: bot was blocked by the user");
    assert_string_equal(reply.body, "{\"ok\":false,\"error_code\":403,\"description\":\"Forbidden: "
                                    "bot was blocked by the user\"}");
    s_reply_clear(&reply);
    s_json(&reply, sim, "sendMessage", json_pack("{s:i, s:s}", "chat_id", BOB, "text", "fine"));
    s_assert_ok(&reply);
    s_reply_clear(&reply);

    assert_true(tgsim_block(sim, ANN, false) > update_id);
    s_json(&reply, sim, "sendMessage", json_pack("{s:i, s:s}", "chat_id", ANN, "text", "back"));
    s_assert_ok(&reply);
    s_reply_clear(&reply);
    tgsim_stats_t stats;
    tgsim_stats(sim, &stats);
    assert_int_equal(stats.forbidden, 1);
}

static void test_photo_get_file_and_download(void **state) {
    tgsim_t *sim = *state;
    assert_true(tgsim_send_photo(sim, ANN, NULL, 0, "my product") > 0);
    reply_t reply;
    json_t *updates = s_updates(&reply, sim, 0, 0);
    json_t *message = json_object_get(json_array_get(updates, 0), "message");
    assert_string_equal(json_string_value(json_object_get(message, "caption")), "my product");
    json_t *sizes = json_object_get(message, "photo");
    assert_int_equal(json_array_size(sizes), 3);
    static const int widths[] = {90, 320, 640}, heights[] = {67, 240, 480};
    for (size_t i = 0; i < 3; i++) {
        json_t *size = json_array_get(sizes, i);
        assert_int_equal(json_integer_value(json_object_get(size, "width")), widths[i]);
        assert_int_equal(json_integer_value(json_object_get(size, "height")), heights[i]);
        assert_non_null(json_string_value(json_object_get(size, "file_unique_id")));
    }
    char *file_id = strdup(json_string_value(json_object_get(json_array_get(sizes, 2), "file_id")));
    s_reply_clear(&reply);

    s_json(&reply, sim, "getFile", json_pack("{s:s}", "file_id", file_id));
    s_assert_ok(&reply);
    json_t *file = s_result(&reply);
    assert_int_equal(json_integer_value(json_object_get(file, "file_size")),
                     (json_int_t)tgsim_sample_jpeg_size);
    char *path = strdup(json_string_value(json_object_get(file, "file_path")));
    assert_non_null(strstr(path, "photos/"));
    s_reply_clear(&reply);

    s_download(&reply, sim, path);
    assert_int_equal(reply.status, 200);
    assert_int_equal(reply.size, tgsim_sample_jpeg_size);
    assert_memory_equal(reply.body, tgsim_sample_jpeg, tgsim_sample_jpeg_size);
    s_reply_clear(&reply);
    s_download(&reply, sim, "photos/nothing.jpg");
    assert_int_equal(reply.status, 404);
    s_reply_clear(&reply);

    s_json(&reply, sim, "getFile", json_pack("{s:s}", "file_id", "AgACAgIAAxkBAAInvalid"));
    s_assert_error(&reply, 400, "Bad Request: invalid file_id");
    s_reply_clear(&reply);

    //  the bot sends the user's photo back by file_id
    s_json(&reply, sim, "sendPhoto",
           json_pack("{s:i, s:s, s:s}", "chat_id", ANN, "photo", file_id, "caption", "yours"));
    s_assert_ok(&reply);
    assert_int_equal(json_array_size(json_object_get(s_result(&reply), "photo")), 3);
    s_reply_clear(&reply);
    s_json(&reply, sim, "sendVideo", json_pack("{s:i, s:s}", "chat_id", ANN, "video", file_id));
    s_assert_error(&reply, 400, "Bad Request: type of file mismatch");
    s_reply_clear(&reply);

    //  other kinds of message
    assert_true(tgsim_send_sticker(sim, ANN, NULL) > 0);
    assert_true(tgsim_send_document(sim, ANN, "%PDF-1.4", 8, "terms.pdf", "application/pdf") > 0);
    updates = s_updates(&reply, sim, 0, 0);
    assert_non_null(
        json_object_get(json_object_get(json_array_get(updates, 1), "message"), "sticker"));
    json_t *document =
        json_object_get(json_object_get(json_array_get(updates, 2), "message"), "document");
    assert_string_equal(json_string_value(json_object_get(document, "file_name")), "terms.pdf");
    s_reply_clear(&reply);
    free(path);
    free(file_id);
}

static void test_video_upload_and_url(void **state) {
    tgsim_t *sim = *state;
    size_t size = 1024 * 1024;
    unsigned char *video = malloc(size);
    for (size_t i = 0; i < size; i++)
        video[i] = (unsigned char)(i * 31 + 7);
    const char *fields[] = {"chat_id", "1001", "caption", "✅ Готово", NULL};
    reply_t reply;
    s_multipart(&reply, sim, "sendVideo", fields, "video", "result.mp4", video, size, "video/mp4");
    s_assert_ok(&reply);
    json_t *result = json_object_get(s_result(&reply), "video");
    assert_int_equal(json_integer_value(json_object_get(result, "file_size")), (json_int_t)size);
    assert_string_equal(json_string_value(json_object_get(result, "file_name")), "result.mp4");
    char *file_id = strdup(json_string_value(json_object_get(result, "file_id")));
    s_reply_clear(&reply);
    const tgsim_call_t *call = tgsim_call(sim, "sendVideo", -1);
    assert_string_equal(call->media_kind, "video");
    assert_string_equal(call->media_source, "upload");
    assert_int_equal(call->file_size, (int64_t)size);
    assert_string_equal(call->file_name, "result.mp4");
    assert_string_equal(call->plain, "✅ Готово");
    assert_non_null(strstr(call->params, "\"upload\":\"result.mp4\""));

    s_json(&reply, sim, "getFile", json_pack("{s:s}", "file_id", file_id));
    char *path = strdup(json_string_value(json_object_get(s_result(&reply), "file_path")));
    s_reply_clear(&reply);
    s_download(&reply, sim, path);
    assert_int_equal(reply.size, size);
    assert_memory_equal(reply.body, video, size);
    s_reply_clear(&reply);

    //  by file_id, and by URL within and beyond 20 MB
    s_json(&reply, sim, "sendVideo", json_pack("{s:i, s:s}", "chat_id", ANN, "video", file_id));
    s_assert_ok(&reply);
    s_reply_clear(&reply);
    tgsim_set_url_size(sim, "https://kie.example/ok.mp4", 10 * 1024 * 1024);
    tgsim_set_url_size(sim, "https://kie.example/big.mp4", 25 * 1024 * 1024);
    s_json(&reply, sim, "sendVideo",
           json_pack("{s:i, s:s}", "chat_id", ANN, "video", "https://kie.example/ok.mp4"));
    s_assert_ok(&reply);
    s_reply_clear(&reply);
    call = tgsim_call(sim, "sendVideo", -1);
    assert_string_equal(call->media_source, "url");
    assert_int_equal(call->file_size, 10 * 1024 * 1024);
    s_json(&reply, sim, "sendVideo",
           json_pack("{s:i, s:s}", "chat_id", ANN, "video", "https://kie.example/big.mp4"));
    s_assert_error(&reply, 400, "Bad Request: failed to get HTTP URL content");
    s_reply_clear(&reply);
    s_json(&reply, sim, "sendVideo", json_pack("{s:i}", "chat_id", ANN));
    s_assert_error(&reply, 400, "Bad Request: there is no video in the request");
    s_reply_clear(&reply);

    //  over 50 MB by upload
    size_t big = (size_t)TGSIM_UPLOAD_MAX + 1024;
    unsigned char *huge = calloc(1, big);
    s_multipart(&reply, sim, "sendVideo", fields, "video", "huge.mp4", huge, big, "video/mp4");
    s_assert_error(&reply, 413, "Request Entity Too Large");
    s_reply_clear(&reply);
    free(huge);
    assert_int_equal(tgsim_calls_ok(sim, "sendVideo"), 3);

    char *transcript = tgsim_transcript_text(sim, ANN);
    assert_non_null(strstr(transcript, "[video result.mp4 1048576 B]"));
    free(transcript);
    free(path);
    free(file_id);
    free(video);
}

static void test_flood_limits(void **state) {
    (void)state;
    tgsim_opts_t opts;
    tgsim_opts_init(&opts);
    opts.enforce_limits = true;
    tgsim_t *sim = tgsim_new(&opts);
    tgsim_user_add(sim, ANN, "Ann", "ru");
    tgsim_user_add(sim, BOB, "Bob", "en");
    reply_t reply;
    //  a burst of 3 to one chat passes, the 4th gets 429
    for (int i = 0; i < 3; i++) {
        s_json(&reply, sim, "sendMessage",
               json_pack("{s:i, s:s}", "chat_id", ANN, "text", "burst"));
        s_assert_ok(&reply);
        s_reply_clear(&reply);
    }
    s_json(&reply, sim, "sendMessage", json_pack("{s:i, s:s}", "chat_id", ANN, "text", "over"));
    s_assert_error(&reply, 429, "Too Many Requests: retry after ");
    json_t *retry = json_object_get(json_object_get(reply.json, "parameters"), "retry_after");
    int retry_after = (int)json_integer_value(retry);
    assert_in_range(retry_after, 1, 2);
    assert_int_equal(reply.retry_after, retry_after);
    s_reply_clear(&reply);
    //  ignoring retry_after gets 429 again; other chats and callbacks are not limited
    s_json(&reply, sim, "editMessageText",
           json_pack("{s:i, s:i, s:s}", "chat_id", ANN, "message_id", 1, "text", "edit"));
    s_assert_error(&reply, 429, NULL);
    s_reply_clear(&reply);
    s_json(&reply, sim, "sendMessage", json_pack("{s:i, s:s}", "chat_id", BOB, "text", "other"));
    s_assert_ok(&reply);
    s_reply_clear(&reply);
    s_json(&reply, sim, "sendChatAction",
           json_pack("{s:i, s:s}", "chat_id", ANN, "action", "typing"));
    s_assert_ok(&reply);
    s_reply_clear(&reply);
    //  honouring it goes through
    s_sleep_ms(retry_after * 1000 + 50);
    s_json(&reply, sim, "sendMessage", json_pack("{s:i, s:s}", "chat_id", ANN, "text", "later"));
    s_assert_ok(&reply);
    s_reply_clear(&reply);
    //  a group: 20 a minute
    tgsim_user_add(sim, -100123, "Admins", NULL);
    for (int i = 0; i < 20; i++) {
        s_json(&reply, sim, "sendMessage",
               json_pack("{s:i, s:s}", "chat_id", -100123, "text", "alert"));
        s_assert_ok(&reply);
        s_reply_clear(&reply);
    }
    s_json(&reply, sim, "sendMessage", json_pack("{s:i, s:s}", "chat_id", -100123, "text", "21"));
    s_assert_error(&reply, 429, NULL);
    assert_int_equal(reply.retry_after, 3);
    s_reply_clear(&reply);
    tgsim_stats_t stats;
    tgsim_stats(sim, &stats);
    assert_int_equal(stats.flood, 3);
    tgsim_destroy(&sim);
}

static void test_fault_injection_rates(void **state) {
    (void)state;
    tgsim_opts_t opts;
    tgsim_opts_init(&opts);
    opts.p_server_error = 0.3;
    opts.p_drop = 0.1;
    opts.seed = 7;
    tgsim_t *sim = tgsim_new(&opts);
    int errors = 0, drops = 0, ok = 0, html = 0;
    const int total = 300;
    for (int i = 0; i < total; i++) {
        reply_t reply;
        s_get(&reply, sim, "getMe", NULL, 5);
        if (reply.status >= 500) {
            errors++;
            html += reply.status == 502 && strstr(reply.body, "502 Bad Gateway") != NULL;
        } else if (reply.status == 0)
            drops++;
        else if (reply.status == 200)
            ok++;
        s_reply_clear(&reply);
    }
    assert_int_equal(errors + drops + ok, total);
    assert_in_range(errors, 60, 120);
    assert_in_range(drops, 12, 50);
    assert_true(html > 0 && html < errors);
    tgsim_stats_t stats;
    tgsim_stats(sim, &stats);
    assert_int_equal(stats.server_errors, (uint64_t)errors);
    assert_int_equal(stats.dropped, (uint64_t)drops);

    //  dropped after handling: the message exists, the client saw nothing
    tgsim_user_add(sim, ANN, "Ann", "ru");
    tgsim_set_faults(sim, 0, 0, 0, 1.0);
    reply_t reply;
    s_json(&reply, sim, "sendMessage", json_pack("{s:i, s:s}", "chat_id", ANN, "text", "ghost"));
    assert_int_equal(reply.status, 0);
    s_reply_clear(&reply);
    const tgsim_call_t *call = tgsim_call(sim, "sendMessage", -1);
    assert_true(call->dropped_after);
    assert_int_equal(call->status, 200);
    assert_int_equal(tgsim_wait_message(sim, ANN, "ghost", 0), 1);
    tgsim_destroy(&sim);
}

static void test_pay_flow(void **state) {
    tgsim_t *sim = *state;
    reply_t reply;
    s_json(&reply, sim, "sendInvoice",
           json_pack("{s:i, s:s, s:s, s:s, s:s, s:[{s:s, s:i}]}", "chat_id", ANN, "title",
                     "10 кредитов", "description", "Pack of 10 credits", "payload", "pack10:7f3a",
                     "currency", "XTR", "prices", "label", "10 credits", "amount", 450));
    s_assert_ok(&reply);
    json_t *invoice = json_object_get(s_result(&reply), "invoice");
    assert_int_equal(json_integer_value(json_object_get(invoice, "total_amount")), 450);
    json_t *pay = json_array_get(
        json_array_get(
            json_object_get(json_object_get(s_result(&reply), "reply_markup"), "inline_keyboard"),
            0),
        0);
    assert_true(json_is_true(json_object_get(pay, "pay")));
    s_reply_clear(&reply);
    s_json(&reply, sim, "sendInvoice",
           json_pack("{s:i, s:s, s:s, s:s, s:s, s:[{s:s, s:i}, {s:s, s:i}]}", "chat_id", ANN,
                     "title", "t", "description", "d", "payload", "p", "currency", "XTR", "prices",
                     "label", "a", "amount", 1, "label", "b", "amount", 2));
    s_assert_error(&reply, 400, NULL);
    s_reply_clear(&reply);

    int64_t checkout = tgsim_pay_invoice(sim, ANN, 0);
    assert_true(checkout > 0);
    json_t *updates = s_updates(&reply, sim, 0, 0);
    json_t *query = json_object_get(json_array_get(updates, 0), "pre_checkout_query");
    assert_string_equal(json_string_value(json_object_get(query, "currency")), "XTR");
    assert_int_equal(json_integer_value(json_object_get(query, "total_amount")), 450);
    assert_string_equal(json_string_value(json_object_get(query, "invoice_payload")),
                        "pack10:7f3a");
    char *query_id = strdup(json_string_value(json_object_get(query, "id")));
    s_reply_clear(&reply);

    s_json(&reply, sim, "answerPreCheckoutQuery",
           json_pack("{s:s, s:b}", "pre_checkout_query_id", query_id, "ok", 1));
    s_assert_ok(&reply);
    s_reply_clear(&reply);
    assert_int_equal(tgsim_wait_answered(sim, checkout, 0), 0);
    s_json(&reply, sim, "answerPreCheckoutQuery",
           json_pack("{s:s, s:b}", "pre_checkout_query_id", query_id, "ok", 1));
    s_assert_error(&reply, 400, "Bad Request: query is too old");
    s_reply_clear(&reply);

    updates = s_updates(&reply, sim, checkout + 1, 0);
    assert_int_equal(json_array_size(updates), 1);
    json_t *payment = json_object_get(json_object_get(json_array_get(updates, 0), "message"),
                                      "successful_payment");
    assert_int_equal(json_integer_value(json_object_get(payment, "total_amount")), 450);
    assert_string_equal(json_string_value(json_object_get(payment, "invoice_payload")),
                        "pack10:7f3a");
    const char *charge = json_string_value(json_object_get(payment, "telegram_payment_charge_id"));
    assert_true(strncmp(charge, "stx", 3) == 0);
    char *charge_id = strdup(charge);
    int64_t paid_update =
        json_integer_value(json_object_get(json_array_get(updates, 0), "update_id"));
    s_reply_clear(&reply);

    //  a second payment gets another charge id
    int64_t again = tgsim_pay(sim, ANN, "pack10:7f3a", 450);
    updates = s_updates(&reply, sim, paid_update + 1, 0);
    query = json_object_get(json_array_get(updates, 0), "pre_checkout_query");
    char *second_query = strdup(json_string_value(json_object_get(query, "id")));
    s_reply_clear(&reply);
    s_form(&reply, sim, "answerPreCheckoutQuery", "ok=false");
    s_assert_error(&reply, 400, NULL);
    s_reply_clear(&reply);
    char form[160];
    snprintf(form, sizeof form, "pre_checkout_query_id=%s&ok=true", second_query);
    s_form(&reply, sim, "answerPreCheckoutQuery", form);
    s_assert_ok(&reply);
    s_reply_clear(&reply);
    updates = s_updates(&reply, sim, again + 1, 0);
    payment = json_object_get(json_object_get(json_array_get(updates, 0), "message"),
                              "successful_payment");
    assert_string_not_equal(
        json_string_value(json_object_get(payment, "telegram_payment_charge_id")), charge_id);
    s_reply_clear(&reply);

    s_json(&reply, sim, "refundStarPayment",
           json_pack("{s:i, s:s}", "user_id", ANN, "telegram_payment_charge_id", charge_id));
    s_assert_ok(&reply);
    s_reply_clear(&reply);
    s_json(&reply, sim, "refundStarPayment",
           json_pack("{s:i, s:s}", "user_id", ANN, "telegram_payment_charge_id", charge_id));
    s_assert_error(&reply, 400, "Bad Request: CHARGE_ALREADY_REFUNDED");
    s_reply_clear(&reply);
    tgsim_message_t **transcript = tgsim_transcript(sim, ANN);
    size_t n = 0;
    while (transcript[n])
        n++;
    assert_string_equal(transcript[n - 1]->kind, "refunded_payment");
    assert_string_equal(transcript[n - 1]->charge_id, charge_id);
    tgsim_transcript_destroy(&transcript);
    assert_null(transcript);
    free(query_id);
    free(second_query);
    free(charge_id);
}

typedef struct {
    pthread_mutex_t lock;
    int posts;
    int fail_first;
    char secret[64];
    char body[4096];
} s_hook_t;

static enum MHD_Result s_hook_access(void *cls, struct MHD_Connection *conn, const char *url,
                                     const char *method, const char *version,
                                     const char *upload_data, size_t *upload_data_size,
                                     void **con_cls) {
    (void)url;
    (void)method;
    (void)version;
    s_hook_t *hook = cls;
    if (!*con_cls) {
        *con_cls = hook;
        return MHD_YES;
    }
    pthread_mutex_lock(&hook->lock);
    if (*upload_data_size) {
        size_t had = strlen(hook->body);
        size_t n = *upload_data_size < sizeof hook->body - had - 1 ? *upload_data_size
                                                                   : sizeof hook->body - had - 1;
        memcpy(hook->body + had, upload_data, n);
        hook->body[had + n] = '\0';
        *upload_data_size = 0;
        pthread_mutex_unlock(&hook->lock);
        return MHD_YES;
    }
    const char *secret =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Telegram-Bot-Api-Secret-Token");
    snprintf(hook->secret, sizeof hook->secret, "%s", secret ? secret : "");
    unsigned status = hook->posts++ < hook->fail_first ? 500 : 200;
    pthread_mutex_unlock(&hook->lock);
    struct MHD_Response *response = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result rc = MHD_queue_response(conn, status, response);
    MHD_destroy_response(response);
    return rc;
}

static void test_webhook_delivery(void **state) {
    (void)state;
    tgsim_opts_t opts;
    tgsim_opts_init(&opts);
    opts.webhook_retry_ms = 50;
    tgsim_t *sim = tgsim_new(&opts);
    tgsim_user_add(sim, ANN, "Ann", "ru");
    s_hook_t hook = {PTHREAD_MUTEX_INITIALIZER, 0, 1, "", ""};
    struct MHD_Daemon *daemon = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD, 0, NULL, NULL,
                                                 s_hook_access, &hook, MHD_OPTION_END);
    assert_non_null(daemon);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/tg", info->port);

    reply_t reply;
    s_json(&reply, sim, "setWebhook",
           json_pack("{s:s, s:s}", "url", url, "secret_token", "s3cr3t"));
    s_assert_ok(&reply);
    s_reply_clear(&reply);
    s_get(&reply, sim, "getUpdates", NULL, 5);
    s_assert_error(&reply, 409, TGSIM_CONFLICT_WEBHOOK);
    s_reply_clear(&reply);

    int64_t update_id = tgsim_send_text(sim, ANN, "via webhook");
    assert_int_equal(tgsim_wait_confirmed(sim, update_id, 3000), 0);
    pthread_mutex_lock(&hook.lock);
    assert_int_equal(hook.posts, 2); //  the first got 500 and was retried
    assert_string_equal(hook.secret, "s3cr3t");
    assert_non_null(strstr(hook.body, "via webhook"));
    pthread_mutex_unlock(&hook.lock);

    s_get(&reply, sim, "getWebhookInfo", NULL, 5);
    assert_string_equal(json_string_value(json_object_get(s_result(&reply), "url")), url);
    s_reply_clear(&reply);
    s_json(&reply, sim, "deleteWebhook", json_pack("{s:b}", "drop_pending_updates", 0));
    s_assert_ok(&reply);
    s_reply_clear(&reply);
    tgsim_send_text(sim, ANN, "polling again");
    assert_int_equal(json_array_size(s_updates(&reply, sim, 0, 0)), 1);
    s_reply_clear(&reply);
    tgsim_destroy(&sim);
    MHD_stop_daemon(daemon);
}

typedef struct {
    pthread_mutex_t lock;
    int messages;
    char last[128];
} s_watch_t;

static void s_on_call(const tgsim_call_t *call, void *arg) {
    s_watch_t *watch = arg;
    if (call->status == 200 && call->plain) {
        pthread_mutex_lock(&watch->lock);
        watch->messages++;
        snprintf(watch->last, sizeof watch->last, "%s", call->plain);
        pthread_mutex_unlock(&watch->lock);
    }
}

static void *s_bot_replies_later(void *arg) {
    tgsim_t *sim = arg;
    s_sleep_ms(200);
    reply_t reply;
    s_json(&reply, sim, "sendMessage", json_pack("{s:i, s:s}", "chat_id", BOB, "text", "first"));
    s_reply_clear(&reply);
    s_json(&reply, sim, "sendMessage",
           json_pack("{s:i, s:s}", "chat_id", BOB, "text", "Balance: 2 credits"));
    s_reply_clear(&reply);
    return NULL;
}

static void test_waits_events_and_transcript(void **state) {
    tgsim_t *sim = *state;
    s_watch_t watch = {PTHREAD_MUTEX_INITIALIZER, 0, ""};
    tgsim_on_call(sim, s_on_call, &watch);
    tgsim_send_text(sim, BOB, "/balance");
    uint64_t mark = tgsim_seq(sim);
    pthread_t thread;
    pthread_create(&thread, NULL, s_bot_replies_later, sim);
    const tgsim_call_t *call = tgsim_next_call(sim, BOB, mark, 2000);
    assert_non_null(call);
    assert_string_equal(call->plain, "first");
    assert_int_equal(tgsim_wait_message_after(sim, BOB, "Balance", mark, 2000), 3);
    assert_int_equal(tgsim_wait_calls(sim, "sendMessage", 2, 2000), 0);
    pthread_join(thread, NULL);
    assert_null(tgsim_next_call(sim, BOB, tgsim_seq(sim), 100));
    assert_int_equal(tgsim_wait_message(sim, BOB, "nothing like this", 100), -1);
    tgsim_on_call(sim, NULL, NULL);
    pthread_mutex_lock(&watch.lock);
    assert_int_equal(watch.messages, 2);
    assert_string_equal(watch.last, "Balance: 2 credits");
    pthread_mutex_unlock(&watch.lock);

    char *text = tgsim_transcript_text(sim, BOB);
    assert_string_equal(text, "user#1: /balance\nbot#2: first\nbot#3: Balance: 2 credits\n");
    free(text);
    assert_null(tgsim_transcript(sim, 31337));
}

static void test_raw_updates(void **state) {
    tgsim_t *sim = *state;
    int64_t good = tgsim_send_raw_update(sim, "{\"update_id\":5,\"message\":{\"text\":5}}");
    reply_t reply;
    json_t *updates = s_updates(&reply, sim, 0, 0);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(updates, 0), "update_id")),
                     good);
    s_reply_clear(&reply);
    int64_t bad = tgsim_send_raw_update(sim, "{\"update_id\":");
    assert_int_equal(bad, good + 1);
    s_get(&reply, sim, "getUpdates", "offset=0", 5);
    assert_int_equal(reply.status, 200);
    assert_null(reply.json);
    s_reply_clear(&reply);
    char query[64];
    snprintf(query, sizeof query, "offset=%lld", (long long)bad + 1);
    s_get(&reply, sim, "getUpdates", query, 5);
    assert_int_equal(json_array_size(s_result(&reply)), 0);
    s_reply_clear(&reply);
}

static void test_fetch_urls_and_latency(void **state) {
    (void)state;
    tgsim_opts_t opts;
    tgsim_opts_init(&opts);
    opts.fetch_urls = true;
    tgsim_t *sim = tgsim_new(&opts);
    tgsim_user_add(sim, ANN, "Ann", "en");
    tgsim_send_photo(sim, ANN, NULL, 0, NULL);
    reply_t reply;
    json_t *sizes = json_object_get(
        json_object_get(json_array_get(s_updates(&reply, sim, 0, 0), 0), "message"), "photo");
    char *file_id = strdup(json_string_value(json_object_get(json_array_get(sizes, 0), "file_id")));
    s_reply_clear(&reply);
    s_json(&reply, sim, "getFile", json_pack("{s:s}", "file_id", file_id));
    char *url = NULL;
    assert_true(asprintf(&url, "%s/file/bot%s/%s", tgsim_url(sim), tgsim_token(sim),
                         json_string_value(json_object_get(s_result(&reply), "file_path"))) > 0);
    s_reply_clear(&reply);

    //  the simulator downloads what the bot names by URL (here: its own file)
    s_json(&reply, sim, "sendDocument", json_pack("{s:i, s:s}", "chat_id", ANN, "document", url));
    s_assert_ok(&reply);
    json_t *document = json_object_get(s_result(&reply), "document");
    assert_int_equal(json_integer_value(json_object_get(document, "file_size")),
                     (json_int_t)tgsim_sample_jpeg_size);
    char *doc_id = strdup(json_string_value(json_object_get(document, "file_id")));
    s_reply_clear(&reply);
    s_json(&reply, sim, "getFile", json_pack("{s:s}", "file_id", doc_id));
    char *path = strdup(json_string_value(json_object_get(s_result(&reply), "file_path")));
    s_reply_clear(&reply);
    s_download(&reply, sim, path);
    assert_int_equal(reply.size, tgsim_sample_jpeg_size);
    assert_memory_equal(reply.body, tgsim_sample_jpeg, tgsim_sample_jpeg_size);
    s_reply_clear(&reply);
    s_json(&reply, sim, "sendDocument",
           json_pack("{s:i, s:s}", "chat_id", ANN, "document", "http://127.0.0.1:1/gone.pdf"));
    s_assert_error(&reply, 400, "Bad Request: failed to get HTTP URL content");
    s_reply_clear(&reply);

    tgsim_set_faults(sim, 200, 0, 0, 0);
    int64_t start = s_ms();
    s_get(&reply, sim, "getMe", NULL, 5);
    s_assert_ok(&reply);
    assert_true(s_ms() - start >= 190);
    s_reply_clear(&reply);
    free(path);
    free(doc_id);
    free(url);
    free(file_id);
    tgsim_destroy(&sim);
}

static void test_small_methods(void **state) {
    tgsim_t *sim = *state;
    reply_t reply;
    s_json(&reply, sim, "setMyCommands",
           json_pack("{s:[{s:s, s:s}, {s:s, s:s}]}", "commands", "command", "start", "description",
                     "Menu", "command", "balance", "description", "Balance"));
    s_assert_ok(&reply);
    s_reply_clear(&reply);
    s_get(&reply, sim, "getMyCommands", NULL, 5);
    assert_int_equal(json_array_size(s_result(&reply)), 2);
    s_reply_clear(&reply);
    s_json(&reply, sim, "setMyCommands",
           json_pack("{s:[{s:s, s:s}]}", "commands", "command", "Bad Command", "description", "x"));
    s_assert_error(&reply, 400, "Bad Request: BOT_COMMAND_INVALID");
    s_reply_clear(&reply);
    s_json(&reply, sim, "sendChatAction",
           json_pack("{s:i, s:s}", "chat_id", ANN, "action", "upload_video"));
    s_assert_ok(&reply);
    s_reply_clear(&reply);
    s_json(&reply, sim, "sendChatAction",
           json_pack("{s:i, s:s}", "chat_id", ANN, "action", "dance"));
    s_assert_error(&reply, 400, "Bad Request: wrong parameter action in request");
    s_reply_clear(&reply);
    s_form(&reply, sim, "deleteWebhook", "drop_pending_updates=false");
    s_assert_ok(&reply);
    s_reply_clear(&reply);
    s_get(&reply, sim, "getWebhookInfo", NULL, 5);
    assert_string_equal(json_string_value(json_object_get(s_result(&reply), "url")), "");
    s_reply_clear(&reply);
}

typedef struct {
    tgsim_t *sim;
    int64_t chat_id;
    int sent;
} s_sender_t;

static void *s_sender(void *arg) {
    s_sender_t *sender = arg;
    for (int i = 0; i < 40; i++) {
        reply_t reply;
        s_json(&reply, sender->sim, "sendMessage",
               json_pack("{s:I, s:s}", "chat_id", (json_int_t)sender->chat_id, "text", "parallel"));
        sender->sent += reply.status == 200;
        s_reply_clear(&reply);
        if (i % 10 == 0) tgsim_send_text(sender->sim, sender->chat_id, "user says hi");
    }
    return NULL;
}

static void test_parallel_clients(void **state) {
    tgsim_t *sim = *state;
    s_sender_t senders[4];
    pthread_t threads[4];
    for (int t = 0; t < 4; t++) {
        senders[t] = (s_sender_t){sim, 2000 + t, 0};
        tgsim_user_add(sim, 2000 + t, "Load", "en");
        pthread_create(&threads[t], NULL, s_sender, &senders[t]);
    }
    //  a poller confirming as it goes, as genbot's does
    int64_t offset = 0;
    size_t seen = 0;
    int64_t deadline = s_ms() + 10000;
    while (seen < 16 && s_ms() < deadline) {
        reply_t reply;
        json_t *updates = s_updates(&reply, sim, offset, 1);
        seen += json_array_size(updates);
        if (json_array_size(updates))
            offset = json_integer_value(json_object_get(
                         json_array_get(updates, json_array_size(updates) - 1), "update_id")) +
                     1;
        s_reply_clear(&reply);
    }
    assert_int_equal(seen, 16);
    for (int t = 0; t < 4; t++) {
        pthread_join(threads[t], NULL);
        assert_int_equal(senders[t].sent, 40);
        tgsim_message_t **transcript = tgsim_transcript(sim, 2000 + t);
        size_t n = 0;
        for (; transcript[n]; n++)
            assert_int_equal(transcript[n]->message_id, (int64_t)n + 1);
        assert_int_equal(n, 44);
        tgsim_transcript_destroy(&transcript);
    }
    assert_int_equal(tgsim_calls_ok(sim, "sendMessage"), 160);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_me_token_and_unknown_method, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_updates_offset_and_limit, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_long_poll, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_polls_conflict, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_scripted_poll_failures, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_send_message_in_every_encoding, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_send_message_checks, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_edit_not_modified, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_callback_press_and_answer, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_blocked_user, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_photo_get_file_and_download, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_video_upload_and_url, s_setup, s_teardown),
        cmocka_unit_test(test_flood_limits),
        cmocka_unit_test(test_fault_injection_rates),
        cmocka_unit_test_setup_teardown(test_pay_flow, s_setup, s_teardown),
        cmocka_unit_test(test_webhook_delivery),
        cmocka_unit_test_setup_teardown(test_waits_events_and_transcript, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_raw_updates, s_setup, s_teardown),
        cmocka_unit_test(test_fetch_urls_and_latency),
        cmocka_unit_test_setup_teardown(test_small_methods, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_parallel_clients, s_setup, s_teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
