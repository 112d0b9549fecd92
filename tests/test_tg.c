/*  test_tg.c — the Telegram Bot API module: every update kind parsed from
    real-shaped JSON, every malformed input an error value (never a crash or
    a leak), every error class, every request builder's body, text cutting
    as Telegram counts characters. Run from the repo root (reads
    tests/data/tg/get_updates.json).
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE //  asprintf
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tg.h"

#define S_FIXTURE "tests/data/tg/get_updates.json"
#define S_BIG_ID  INT64_C(4503599627370496) //  2^52

// --------------------------------------------------------------------------
//  Helpers

static char *s_slurp(const char *path, size_t *len) {
    FILE *file = fopen(path, "rb");
    assert_non_null(file);
    fseek(file, 0, SEEK_END);
    long size = ftell(file);
    fseek(file, 0, SEEK_SET);
    char *data = malloc((size_t)size + 1);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, (size_t)size, file), (size_t)size);
    data[size] = '\0';
    fclose(file);
    *len = (size_t)size;
    return data;
}

static tg_batch_t *s_parse_one(const char *update_json) {
    tg_batch_t *batch = tg_batch_parse_webhook(update_json, strlen(update_json));
    assert_non_null(batch);
    return batch;
}

//  The one good update of a webhook body (fails the test otherwise).
static const tg_update_t *s_only(tg_batch_t *batch) {
    if (tg_batch_malformed(batch)) fprintf(stderr, "malformed: %s\n", tg_batch_error(batch));
    assert_int_equal(tg_batch_malformed(batch), 0);
    assert_int_equal(tg_batch_size(batch), 1);
    return tg_batch_get(batch, 0);
}

//  A request's JSON body parsed back (caller decrefs).
static json_t *s_body(const tg_request_t *request) {
    char *text = tg_request_to_json(request);
    assert_non_null(text);
    json_t *body = json_loads(text, 0, NULL);
    assert_non_null(body);
    free(text);
    return body;
}

static const char *s_str(const json_t *obj, const char *key) {
    const json_t *value = json_object_get(obj, key);
    assert_true(json_is_string(value));
    return json_string_value(value);
}

static int64_t s_int(const json_t *obj, const char *key) {
    const json_t *value = json_object_get(obj, key);
    assert_true(json_is_integer(value));
    return json_integer_value(value);
}

static bool s_valid_utf8(const char *text) {
    char *clean = tg_utf8_sanitize(text, strlen(text));
    bool same = strcmp(clean, text) == 0;
    free(clean);
    return same;
}

//  n copies of unit (a UTF-8 string) in a new string.
static char *s_repeat(const char *unit, size_t n) {
    size_t len = strlen(unit);
    char *text = malloc(len * n + 1);
    assert_non_null(text);
    for (size_t i = 0; i < n; i++)
        memcpy(text + i * len, unit, len);
    text[len * n] = '\0';
    return text;
}

static bool s_ends_with(const char *text, const char *suffix) {
    size_t a = strlen(text), b = strlen(suffix);
    return a >= b && memcmp(text + a - b, suffix, b) == 0;
}

#define S_USER                                                                                     \
    "\"from\":{\"id\":111,\"is_bot\":false,\"first_name\":\"Ann\",\"language_code\":\"en\"}"
#define S_CHAT "\"chat\":{\"id\":111,\"type\":\"private\"}"
#define S_MSG(id, body)                                                                            \
    "{\"update_id\":" #id ",\"message\":{\"message_id\":5," S_USER "," S_CHAT                      \
    ",\"date\":1700000000," body "}}"

// --------------------------------------------------------------------------
//  Updates: every kind, from the fixture

static void test_fixture_every_kind(void **state) {
    (void)state;
    size_t len;
    char *body = s_slurp(S_FIXTURE, &len);
    tg_response_t *response = tg_response_parse(200, body, len, NULL);
    assert_int_equal(tg_response_status(response), TG_OK);
    tg_batch_t *batch = tg_batch_parse(tg_response_result(response));
    assert_non_null(batch);
    assert_int_equal(tg_batch_malformed(batch), 0);
    assert_int_equal(tg_batch_size(batch), 9);
    assert_int_equal(tg_batch_last_update_id(batch), 872001009);

    const tg_update_t *u = tg_batch_get(batch, 0);
    assert_int_equal(u->kind, TG_UPDATE_TEXT);
    assert_int_equal(u->update_id, 872001001);
    assert_int_equal(u->user_id, S_BIG_ID);
    assert_int_equal(u->chat_id, S_BIG_ID);
    assert_true(u->private_chat);
    assert_int_equal(u->message_id, 101);
    assert_int_equal(u->date, 1763769600);
    assert_string_equal(u->first_name, "Анна");
    assert_string_equal(u->username, "anna_p");
    assert_string_equal(u->language_code, "ru");
    assert_string_equal(u->text, "/start ref_42");
    assert_string_equal(u->command, "start");
    assert_string_equal(u->command_arg, "ref_42");

    u = tg_batch_get(batch, 1);
    assert_int_equal(u->kind, TG_UPDATE_PHOTO);
    assert_string_equal(u->file.file_id, "AgACAgIAAxkBAAIBZ2c_large");
    assert_string_equal(u->file.file_unique_id, "AQADlarge");
    assert_int_equal(u->file.file_size, 98812);
    assert_int_equal(u->file.width, 1280);
    assert_int_equal(u->file.height, 960);
    assert_true(u->file.is_image);
    assert_string_equal(u->caption, "Кроссовки 👟 <new>");
    assert_string_equal(u->text, "");
    assert_string_equal(u->username, "anna_p");

    u = tg_batch_get(batch, 2);
    assert_int_equal(u->kind, TG_UPDATE_DOCUMENT);
    assert_string_equal(u->file.file_id, "BQACAgIAAxkBAAIBaGc_doc");
    assert_string_equal(u->file.file_unique_id, "AgADdoc");
    assert_string_equal(u->file.file_name, "product.png");
    assert_string_equal(u->file.mime_type, "image/png");
    assert_int_equal(u->file.file_size, 5242880);
    assert_true(u->file.is_image);
    assert_string_equal(u->caption, "");
    assert_string_equal(u->username, ""); //  absent: "" never NULL

    u = tg_batch_get(batch, 3);
    assert_int_equal(u->kind, TG_UPDATE_CALLBACK);
    assert_string_equal(u->query_id, "4382bfdwdsb323b2d9");
    assert_string_equal(u->data, "m:create");
    assert_int_equal(u->user_id, S_BIG_ID);
    assert_int_equal(u->chat_id, S_BIG_ID);
    assert_int_equal(u->message_id, 104);
    assert_string_equal(u->first_name, "Анна"); //  the presser, not the bot

    u = tg_batch_get(batch, 4);
    assert_int_equal(u->kind, TG_UPDATE_PRE_CHECKOUT);
    assert_string_equal(u->query_id, "1234567890123456789");
    assert_string_equal(u->currency, "XTR");
    assert_int_equal(u->total_amount, 450);
    assert_string_equal(u->invoice_payload, "pack:10:u4503599627370496");
    assert_int_equal(u->user_id, S_BIG_ID);
    assert_int_equal(u->chat_id, 0);

    u = tg_batch_get(batch, 5);
    assert_int_equal(u->kind, TG_UPDATE_PAYMENT);
    assert_string_equal(u->currency, "XTR");
    assert_int_equal(u->total_amount, 450);
    assert_string_equal(u->invoice_payload, "pack:10:u4503599627370496");
    assert_string_equal(u->telegram_payment_charge_id, "stxAbCdEf0123456789");
    assert_string_equal(u->provider_payment_charge_id, "");

    u = tg_batch_get(batch, 6);
    assert_int_equal(u->kind, TG_UPDATE_CHAT_MEMBER);
    assert_string_equal(u->member_status, "kicked");
    assert_true(u->blocked);
    assert_int_equal(u->user_id, S_BIG_ID);
    assert_int_equal(u->chat_id, S_BIG_ID);

    u = tg_batch_get(batch, 7);
    assert_int_equal(u->kind, TG_UPDATE_OTHER_MESSAGE);
    assert_string_equal(u->other_type, "sticker");
    assert_int_equal(u->user_id, S_BIG_ID);

    u = tg_batch_get(batch, 8);
    assert_int_equal(u->kind, TG_UPDATE_SKIPPED);
    assert_string_equal(u->other_type, "edited_message");
    assert_int_equal(u->update_id, 872001009);
    assert_null(tg_batch_get(batch, 9));

    tg_batch_destroy(&batch);
    tg_batch_destroy(&batch); //  safe twice
    tg_response_destroy(&response);
    tg_response_destroy(&response);
    free(body);
}

static void test_commands(void **state) {
    (void)state;
    static const struct {
        const char *text, *command, *arg;
    } cases[] = {
        {"/start", "start", ""},
        {"/start ref_42", "start", "ref_42"},
        {"/Start@GenBot   a b  ", "start", "a b"},
        {"/help@genbot", "help", ""},
        {"/buy\n10", "buy", "10"},
        {"/credit 42 +5 bonus", "credit", "42 +5 bonus"},
        {"/привет", "", ""},
        {"/ start", "", ""},
        {"/", "", ""},
        {"/start@", "", ""},
        {"/start@bot!", "", ""},
        {"/start-now", "", ""},
        {"hello /start", "", ""},
        {"/abcdefghijklmnopqrstuvwxyz0123456", "", ""}, //  33 characters
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *update =
            json_pack("{s:i, s:{s:i, s:i, s:{s:i, s:s}, s:{s:i, s:s}, s:s}}", "update_id", 1,
                      "message", "message_id", 1, "date", 1, "from", "id", 7, "first_name", "A",
                      "chat", "id", 7, "type", "private", "text", cases[i].text);
        json_t *list = json_pack("[o]", update);
        tg_batch_t *batch = tg_batch_parse(list);
        const tg_update_t *u = s_only(batch);
        assert_int_equal(u->kind, TG_UPDATE_TEXT);
        assert_string_equal(u->text, cases[i].text);
        assert_string_equal(u->command, cases[i].command);
        assert_string_equal(u->command_arg, cases[i].arg);
        tg_batch_destroy(&batch);
        json_decref(list);
    }
}

static void test_update_variants(void **state) {
    (void)state;
    //  A document that is not an image.
    tg_batch_t *batch = s_parse_one(
        S_MSG(1, "\"document\":{\"file_id\":\"D\",\"file_unique_id\":\"U\",\"mime_type\":"
                 "\"application/pdf\",\"file_name\":\"a.pdf\"},\"caption\":\"see\""));
    const tg_update_t *u = s_only(batch);
    assert_int_equal(u->kind, TG_UPDATE_DOCUMENT);
    assert_false(u->file.is_image);
    assert_string_equal(u->caption, "see");
    assert_int_equal(u->file.file_size, 0);
    tg_batch_destroy(&batch);

    //  image/jpeg and image/webp documents are images; so is upper case.
    batch = s_parse_one(S_MSG(1, "\"document\":{\"file_id\":\"D\",\"file_unique_id\":\"U\","
                                 "\"mime_type\":\"IMAGE/WEBP\"}"));
    assert_true(s_only(batch)->file.is_image);
    tg_batch_destroy(&batch);

    //  Callback on an inaccessible message (date 0) and on an inline one.
    batch = s_parse_one("{\"update_id\":2,\"callback_query\":{\"id\":\"q\"," S_USER
                        ",\"message\":{\"message_id\":9," S_CHAT
                        ",\"date\":0},\"chat_instance\":\"1\",\"data\":\"x\"}}");
    u = s_only(batch);
    assert_int_equal(u->kind, TG_UPDATE_CALLBACK);
    assert_int_equal(u->message_id, 9);
    assert_int_equal(u->chat_id, 111);
    assert_int_equal(u->date, 0);
    tg_batch_destroy(&batch);
    batch = s_parse_one("{\"update_id\":3,\"callback_query\":{\"id\":\"q\"," S_USER
                        ",\"inline_message_id\":\"AAA\",\"chat_instance\":\"1\"}}");
    u = s_only(batch);
    assert_int_equal(u->kind, TG_UPDATE_CALLBACK);
    assert_int_equal(u->chat_id, 0);
    assert_int_equal(u->message_id, 0);
    assert_string_equal(u->data, ""); //  a game button: still to be answered
    tg_batch_destroy(&batch);

    //  Unblocked: status member.
    batch = s_parse_one("{\"update_id\":4,\"my_chat_member\":{" S_CHAT "," S_USER
                        ",\"date\":5,\"old_chat_member\":{\"status\":\"kicked\"},"
                        "\"new_chat_member\":{\"status\":\"member\"}}}");
    u = s_only(batch);
    assert_int_equal(u->kind, TG_UPDATE_CHAT_MEMBER);
    assert_false(u->blocked);
    assert_string_equal(u->member_status, "member");
    tg_batch_destroy(&batch);

    //  Other user content gets a hint; service messages and updates of other
    //  types are skipped; so is a message without a sender.
    static const struct {
        const char *body;
        tg_update_kind_t kind;
        const char *other;
    } others[] = {
        {S_MSG(5, "\"voice\":{\"file_id\":\"v\",\"file_unique_id\":\"u\",\"duration\":2}"),
         TG_UPDATE_OTHER_MESSAGE, "voice"},
        {S_MSG(5, "\"video\":{\"file_id\":\"v\",\"file_unique_id\":\"u\",\"width\":1,\"height\":1,"
                  "\"duration\":2}"),
         TG_UPDATE_OTHER_MESSAGE, "video"},
        {S_MSG(5, "\"location\":{\"latitude\":55.75,\"longitude\":37.61}"), TG_UPDATE_OTHER_MESSAGE,
         "location"},
        {S_MSG(5, "\"contact\":{\"phone_number\":\"+7\",\"first_name\":\"A\"}"),
         TG_UPDATE_OTHER_MESSAGE, "contact"},
        {S_MSG(5, "\"pinned_message\":{\"message_id\":1,\"date\":0," S_CHAT "}"), TG_UPDATE_SKIPPED,
         "service message"},
        {S_MSG(5, "\"refunded_payment\":{\"currency\":\"XTR\",\"total_amount\":1,"
                  "\"invoice_payload\":\"p\",\"telegram_payment_charge_id\":\"c\"}"),
         TG_UPDATE_SKIPPED, "service message"},
        {"{\"update_id\":5,\"message\":{\"message_id\":1,\"date\":1,\"chat\":{\"id\":-100,"
         "\"type\":\"supergroup\"},\"sender_chat\":{\"id\":-100,\"type\":\"supergroup\"},"
         "\"text\":\"hi\"}}",
         TG_UPDATE_SKIPPED, "no sender"},
        {"{\"update_id\":5,\"channel_post\":{\"message_id\":1}}", TG_UPDATE_SKIPPED,
         "channel_post"},
        {"{\"update_id\":5}", TG_UPDATE_SKIPPED, ""},
    };
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        batch = s_parse_one(others[i].body);
        u = s_only(batch);
        assert_int_equal(u->kind, others[i].kind);
        assert_string_equal(u->other_type, others[i].other);
        assert_int_equal(u->update_id, 5);
        tg_batch_destroy(&batch);
    }

    //  A \u0000 inside a string becomes U+FFFD; the string stays whole.
    batch = s_parse_one(S_MSG(6, "\"text\":\"a\\u0000b\""));
    assert_string_equal(s_only(batch)->text, "a\xef\xbf\xbd"
                                             "b");
    tg_batch_destroy(&batch);

    assert_string_equal(tg_update_kind_name(TG_UPDATE_PRE_CHECKOUT), "pre_checkout");
    assert_string_equal(tg_update_kind_name((tg_update_kind_t)99), "?");
}

static void test_int64_ids(void **state) {
    (void)state;
    //  Ids above 2^32 and up to 2^52 (and a negative supergroup id) survive.
    const char *body =
        "{\"update_id\":5000000000,\"message\":{\"message_id\":2147483647,"
        "\"from\":{\"id\":4503599627370496,\"first_name\":\"A\"},"
        "\"chat\":{\"id\":-1004503599627370,\"type\":\"supergroup\"},\"date\":1,\"text\":\"x\"}}";
    tg_batch_t *batch = s_parse_one(body);
    const tg_update_t *u = s_only(batch);
    assert_int_equal(u->update_id, INT64_C(5000000000));
    assert_int_equal(u->user_id, S_BIG_ID);
    assert_int_equal(u->chat_id, INT64_C(-1004503599627370));
    assert_false(u->private_chat);
    assert_int_equal(tg_batch_last_update_id(batch), INT64_C(5000000000));

    //  And back out in a request.
    char err[TG_ERR_MAX];
    tg_request_t *request = tg_send_message(u->chat_id, "hi", NULL, err);
    assert_non_null(request);
    assert_int_equal(tg_request_chat_id(request), INT64_C(-1004503599627370));
    json_t *json = s_body(request);
    assert_int_equal(s_int(json, "chat_id"), INT64_C(-1004503599627370));
    json_decref(json);
    char *form = tg_request_to_form(request);
    assert_non_null(strstr(form, "chat_id=-1004503599627370&"));
    free(form);
    tg_request_destroy(&request);
    request = tg_refund_star_payment(S_BIG_ID, "stx1", err);
    json = s_body(request);
    assert_int_equal(s_int(json, "user_id"), S_BIG_ID);
    json_decref(json);
    tg_request_destroy(&request);
    tg_batch_destroy(&batch);
}

// --------------------------------------------------------------------------
//  Updates: malformed input

static void test_batch_keeps_good_updates(void **state) {
    (void)state;
    const char *body = "{\"ok\":true,\"result\":[" S_MSG(10, "\"text\":\"one\"") "," S_MSG(
        11, "\"text\":42") ","                                      //  text as a number
                           "17,"                                    //  not an object
                           "{\"update_id\":\"12\",\"message\":{}}," //  update_id as a string
        S_MSG(13,
              "\"text\":\"four\"") ","
                                   "{\"update_id\":14,\"message\":{\"message_id\":1,\"date\":1,"
                                   "\"from\":{\"id\":1},"
                                   "\"chat\":{\"id\":1.5},\"text\":\"x\"}}" //  chat id as a float
                                   "]}";
    tg_response_t *response = tg_response_parse(200, body, strlen(body), NULL);
    assert_int_equal(tg_response_status(response), TG_OK);
    tg_batch_t *batch = tg_batch_parse(tg_response_result(response));
    assert_int_equal(tg_batch_size(batch), 2);
    assert_int_equal(tg_batch_malformed(batch), 4);
    assert_string_equal(tg_batch_get(batch, 0)->text, "one");
    assert_string_equal(tg_batch_get(batch, 1)->text, "four");
    //  The last update was malformed but its id was readable: the offset
    //  still moves past it.
    assert_int_equal(tg_batch_last_update_id(batch), 14);
    assert_string_equal(tg_batch_error(batch), "update 14: message.chat.id: wrong type");
    tg_batch_destroy(&batch);
    tg_response_destroy(&response);

    //  Not an array: no batch.
    json_t *object = json_object();
    assert_null(tg_batch_parse(object));
    assert_null(tg_batch_parse(NULL));
    json_decref(object);
    json_t *empty = json_array();
    batch = tg_batch_parse(empty);
    assert_int_equal(tg_batch_size(batch), 0);
    assert_int_equal(tg_batch_last_update_id(batch), -1);
    assert_string_equal(tg_batch_error(batch), "");
    tg_batch_destroy(&batch);
    json_decref(empty);
}

static void test_wrong_types(void **state) {
    (void)state;
    char *long_name = s_repeat("a", TG_IN_STRING_MAX + 1);
    char *long_text = s_repeat("я", TG_IN_TEXT_MAX / 2 + 1);
    char *name_body = NULL, *text_body = NULL;
    assert_true(
        asprintf(&name_body,
                 "{\"update_id\":1,\"message\":{\"message_id\":1,\"date\":1,\"from\":{\"id\":"
                 "1,\"first_name\":\"%s\"}," S_CHAT ",\"text\":\"x\"}}",
                 long_name) > 0);
    assert_true(asprintf(&text_body, S_MSG(1, "\"text\":\"%s\""), long_text) > 0);
    const char *bodies[] = {
        "{\"update_id\":\"1\","
        "\"message\":{}}",
        "{\"update_id\":-1}",
        "{\"update_id\":1.0}",
        "{\"update_id\":1,\"message\":[]}",
        "{\"update_id\":1,\"message\":null}",
        "{\"message\":{}}",
        S_MSG(1, "\"text\":42"),
        S_MSG(1, "\"text\":null"),
        S_MSG(1, "\"text\":[\"a\"]"),
        S_MSG(1, "\"photo\":{\"file_id\":\"x\"}"),
        S_MSG(1, "\"photo\":[]"),
        S_MSG(1, "\"photo\":[1,2]"),
        S_MSG(1, "\"photo\":[{\"file_id\":\"a\",\"file_unique_id\":\"b\",\"width\":\"1\","
                 "\"height\":1}]"),
        S_MSG(1, "\"photo\":[{\"file_id\":\"a\",\"file_unique_id\":\"b\",\"width\":-1,"
                 "\"height\":1}]"),
        S_MSG(1, "\"photo\":[{\"file_id\":7,\"file_unique_id\":\"b\",\"width\":1,\"height\":1}]"),
        S_MSG(1, "\"photo\":[{\"file_id\":\"a\",\"file_unique_id\":\"b\",\"width\":1,"
                 "\"height\":1,\"file_size\":\"big\"}]"),
        S_MSG(1, "\"document\":\"x\""),
        S_MSG(1, "\"document\":{\"file_id\":\"a\"}"),
        S_MSG(1, "\"document\":{\"file_id\":\"a\",\"file_unique_id\":\"b\",\"mime_type\":5}"),
        S_MSG(1, "\"caption\":7,\"photo\":[{\"file_id\":\"a\",\"file_unique_id\":\"b\","
                 "\"width\":1,\"height\":1}]"),
        S_MSG(1, "\"successful_payment\":{\"currency\":\"XTR\",\"total_amount\":5,"
                 "\"invoice_payload\":\"p\"}"),
        S_MSG(1, "\"successful_payment\":{\"currency\":\"XTR\",\"total_amount\":5,"
                 "\"invoice_payload\":\"p\",\"telegram_payment_charge_id\":\"\"}"),
        S_MSG(1, "\"successful_payment\":{\"currency\":\"XTR\",\"total_amount\":\"5\","
                 "\"invoice_payload\":\"p\",\"telegram_payment_charge_id\":\"c\"}"),
        S_MSG(1, "\"successful_payment\":{\"currency\":\"XTR\",\"total_amount\":0,"
                 "\"invoice_payload\":\"p\",\"telegram_payment_charge_id\":\"c\"}"),
        "{\"update_id\":1,\"message\":{\"message_id\":1,\"date\":1," S_CHAT
        ",\"successful_payment\":{\"currency\":\"XTR\",\"total_amount\":5,"
        "\"invoice_payload\":\"p\",\"telegram_payment_charge_id\":\"c\"}}}",
        "{\"update_id\":1,\"message\":{\"message_id\":\"1\",\"date\":1," S_USER "," S_CHAT
        ",\"text\":\"x\"}}",
        "{\"update_id\":1,\"message\":{\"message_id\":1,\"date\":1," S_USER ",\"text\":\"x\"}}",
        "{\"update_id\":1,\"message\":{\"message_id\":1,\"date\":1," S_USER
        ",\"chat\":{\"id\":\"111\"},\"text\":\"x\"}}",
        "{\"update_id\":1,\"message\":{\"message_id\":1,\"date\":1," S_USER
        ",\"chat\":{\"id\":111.0},\"text\":\"x\"}}",
        "{\"update_id\":1,\"message\":{\"message_id\":1,\"date\":1,\"from\":{\"id\":\"1\"}," S_CHAT
        ",\"text\":\"x\"}}",
        "{\"update_id\":1,\"message\":{\"message_id\":1,\"date\":1,\"from\":{\"id\":0}," S_CHAT
        ",\"text\":\"x\"}}",
        "{\"update_id\":1,\"message\":{\"message_id\":1,\"date\":1,\"from\":{\"id\":1,"
        "\"language_code\":5}," S_CHAT ",\"text\":\"x\"}}",
        "{\"update_id\":1,\"message\":{\"message_id\":1,\"date\":\"today\"," S_USER "," S_CHAT
        ",\"text\":\"x\"}}",
        "{\"update_id\":1,\"callback_query\":{\"id\":5," S_USER "}}",
        "{\"update_id\":1,\"callback_query\":{\"id\":\"\"," S_USER "}}",
        "{\"update_id\":1,\"callback_query\":{\"id\":\"q\"}}",
        "{\"update_id\":1,\"callback_query\":{\"id\":\"q\"," S_USER ",\"data\":5}}",
        "{\"update_id\":1,\"callback_query\":{\"id\":\"q\"," S_USER ",\"message\":\"m\"}}",
        "{\"update_id\":1,\"callback_query\":{\"id\":\"q\"," S_USER
        ",\"message\":{\"message_id\":1}}}",
        "{\"update_id\":1,\"pre_checkout_query\":{\"id\":\"p\"," S_USER
        ",\"currency\":\"XTR\",\"invoice_payload\":\"x\"}}",
        "{\"update_id\":1,\"pre_checkout_query\":{\"id\":\"p\"," S_USER
        ",\"currency\":\"XTR\",\"total_amount\":1.5,\"invoice_payload\":\"x\"}}",
        "{\"update_id\":1,\"my_chat_member\":{" S_CHAT "," S_USER ",\"date\":1}}",
        "{\"update_id\":1,\"my_chat_member\":{" S_CHAT "," S_USER
        ",\"date\":1,\"new_chat_member\":{\"status\":true}}}",
        name_body,
        text_body,
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        tg_batch_t *batch = tg_batch_parse_webhook(bodies[i], strlen(bodies[i]));
        if (tg_batch_malformed(batch) != 1) fprintf(stderr, "not refused: %s\n", bodies[i]);
        assert_int_equal(tg_batch_malformed(batch), 1);
        assert_int_equal(tg_batch_size(batch), 0);
        assert_true(strlen(tg_batch_error(batch)) > 0);
        tg_batch_destroy(&batch);
    }
    //  64 KB of text is accepted as is (the FSM checks lengths).
    free(long_text);
    free(text_body);
    long_text = s_repeat("я", TG_IN_TEXT_MAX / 2);
    assert_true(asprintf(&text_body, S_MSG(1, "\"text\":\"%s\""), long_text) > 0);
    tg_batch_t *batch = s_parse_one(text_body);
    assert_int_equal(strlen(s_only(batch)->text), TG_IN_TEXT_MAX);
    tg_batch_destroy(&batch);

    //  Webhook bodies that are not an Update.
    const char *junk[] = {"", "[]", "null", "\"x\"", "{", "<html>", "{\"update_id\":1}}"};
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        batch = tg_batch_parse_webhook(junk[i], strlen(junk[i]));
        assert_int_equal(tg_batch_size(batch), 0);
        assert_int_equal(tg_batch_malformed(batch), 1);
        tg_batch_destroy(&batch);
    }
    batch = tg_batch_parse_webhook(NULL, 0);
    assert_int_equal(tg_batch_malformed(batch), 1);
    tg_batch_destroy(&batch);

    free(long_name);
    free(long_text);
    free(name_body);
    free(text_body);
}

//  Every prefix of a valid reply is refused cleanly; every one-byte
//  corruption parses or is refused without a crash or a leak.
static void test_truncated_and_corrupted(void **state) {
    (void)state;
    size_t len;
    char *body = s_slurp(S_FIXTURE, &len);
    while (len > 0 && strchr(" \n", body[len - 1]))
        len--; //  the file's final newline: every shorter prefix is incomplete
    for (size_t cut = 0; cut < len; cut++) {
        tg_response_t *response = tg_response_parse(200, body, cut, NULL);
        assert_int_equal(tg_response_status(response), TG_E_MALFORMED);
        assert_null(tg_response_result(response));
        tg_response_destroy(&response);
        tg_batch_t *batch = tg_batch_parse_webhook(body, cut);
        assert_int_equal(tg_batch_size(batch), 0);
        tg_batch_destroy(&batch);
    }
    //  Each offset gets one of the corrupting bytes, in turn.
    static const char bytes[] = {'"', '}', '1', '\0', '\xff', ',', ' '};
    size_t parsed = 0;
    for (size_t i = 0; i < len; i++) {
        char saved = body[i];
        body[i] = bytes[i % sizeof(bytes)];
        tg_response_t *response = tg_response_parse(200, body, len, NULL);
        tg_batch_t *batch = tg_batch_parse(tg_response_result(response));
        if (batch) {
            parsed++;
            assert_true(tg_batch_size(batch) + tg_batch_malformed(batch) <= 9);
            for (size_t k = 0; k < tg_batch_size(batch); k++)
                assert_true(s_valid_utf8(tg_batch_get(batch, k)->text));
        }
        tg_batch_destroy(&batch);
        tg_response_destroy(&response);
        body[i] = saved;
    }
    assert_true(parsed > 0);
    free(body);
}

static void test_huge_inputs(void **state) {
    (void)state;
    //  Deep nesting stops at jansson's depth limit.
    size_t depth = 100000;
    char *deep = malloc(depth * 2 + 32);
    size_t n = (size_t)sprintf(deep, "{\"ok\":true,\"result\":");
    memset(deep + n, '[', depth);
    memset(deep + n + depth, ']', depth);
    deep[n + depth * 2] = '}';
    tg_response_t *response = tg_response_parse(200, deep, n + depth * 2 + 1, NULL);
    assert_int_equal(tg_response_status(response), TG_E_MALFORMED);
    tg_response_destroy(&response);
    tg_batch_t *batch = tg_batch_parse_webhook(deep, n + depth * 2 + 1);
    assert_int_equal(tg_batch_malformed(batch), 1);
    tg_batch_destroy(&batch);
    free(deep);

    //  Over the size limit: refused unparsed (the bytes are never read).
    static const char small[] = "{\"ok\":true,\"result\":[]}";
    response = tg_response_parse(200, small, (size_t)TG_RESPONSE_MAX + 1, NULL);
    assert_int_equal(tg_response_status(response), TG_E_MALFORMED);
    assert_string_equal(tg_response_description(response), "body too large");
    tg_response_destroy(&response);
    batch = tg_batch_parse_webhook(small, (size_t)TG_UPDATE_MAX + 1);
    assert_int_equal(tg_batch_malformed(batch), 1);
    tg_batch_destroy(&batch);

    //  A full batch of 100 long messages.
    json_t *list = json_array();
    char *text = s_repeat("Ж😀", 1000);
    for (int i = 0; i < 100; i++)
        json_array_append_new(
            list, json_pack("{s:i, s:{s:i, s:i, s:{s:I, s:s}, s:{s:I, s:s}, s:s}}", "update_id",
                            1000 + i, "message", "message_id", i + 1, "date", 1, "from", "id",
                            (json_int_t)S_BIG_ID + i, "first_name", "A", "chat", "id",
                            (json_int_t)S_BIG_ID + i, "type", "private", "text", text));
    batch = tg_batch_parse(list);
    assert_int_equal(tg_batch_size(batch), 100);
    assert_int_equal(tg_batch_last_update_id(batch), 1099);
    assert_int_equal(tg_batch_get(batch, 99)->user_id, S_BIG_ID + 99);
    assert_string_equal(tg_batch_get(batch, 50)->text, text);
    tg_batch_destroy(&batch);
    json_decref(list);
    free(text);
}

// --------------------------------------------------------------------------
//  Responses

static void test_response_classes(void **state) {
    (void)state;
    static const struct {
        int http;
        const char *body;
        const char *header;
        tg_status_t status;
        int code;
        int64_t retry_after;
        int64_t migrate;
    } cases[] = {
        {429,
         "{\"ok\":false,\"error_code\":429,\"description\":\"Too Many Requests: retry after "
         "17\",\"parameters\":{\"retry_after\":17}}",
         "3", TG_E_RETRY_AFTER, 429, 17, 0},
        {429, "{\"ok\":false,\"error_code\":429,\"description\":\"Too Many Requests\"}", " 9 ",
         TG_E_RETRY_AFTER, 429, 9, 0},
        {429, "<html>slow down</html>", "73414", TG_E_RETRY_AFTER, 429, 73414, 0},
        {429, "{\"ok\":false,\"error_code\":429}", "Wed, 21 Oct 2026 07:28:00 GMT",
         TG_E_RETRY_AFTER, 429, 0, 0},
        {403,
         "{\"ok\":false,\"error_code\":403,\"description\":\"Forbidden: bot was blocked by "
         "the user\"}",
         NULL, TG_E_FORBIDDEN, 403, 0, 0},
        {403,
         "{\"ok\":false,\"error_code\":403,\"description\":\"Forbidden: user is "
         "deactivated\"}",
         NULL, TG_E_FORBIDDEN, 403, 0, 0},
        {400,
         "{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: message is not "
         "modified: specified new message content and reply markup are exactly the same as a "
         "current content and reply markup of the message\"}",
         NULL, TG_E_NOT_MODIFIED, 400, 0, 0},
        {400,
         "{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: query is too old and "
         "response timeout expired or query ID is invalid\"}",
         NULL, TG_E_QUERY_TOO_OLD, 400, 0, 0},
        {400,
         "{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: group chat was "
         "upgraded to a supergroup chat\",\"parameters\":{\"migrate_to_chat_id\":"
         "-1001234567890}}",
         NULL, TG_E_MIGRATED, 400, 0, INT64_C(-1001234567890)},
        {400, "{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: chat not found\"}",
         NULL, TG_E_BAD_REQUEST, 400, 0, 0},
        {401, "{\"ok\":false,\"error_code\":401,\"description\":\"Unauthorized\"}", NULL,
         TG_E_UNAUTHORIZED, 401, 0, 0},
        {409,
         "{\"ok\":false,\"error_code\":409,\"description\":\"Conflict: terminated by other "
         "getUpdates request; make sure that only one bot instance is running\"}",
         NULL, TG_E_CONFLICT, 409, 0, 0},
        {502, "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>", NULL,
         TG_E_SERVER, 502, 0, 0},
        {500, "{\"ok\":false,\"error_code\":500,\"description\":\"Internal Server Error\"}", NULL,
         TG_E_SERVER, 500, 0, 0},
        {404, "{\"ok\":false,\"error_code\":404,\"description\":\"Not Found\"}", NULL, TG_E_OTHER,
         404, 0, 0},
        //  The body's error_code wins over the HTTP status.
        {200, "{\"ok\":false,\"error_code\":403,\"description\":\"Forbidden: bot was kicked\"}",
         NULL, TG_E_FORBIDDEN, 403, 0, 0},
        //  A description fragment decides only within its code.
        {403, "{\"ok\":false,\"error_code\":403,\"description\":\"message is not modified\"}", NULL,
         TG_E_FORBIDDEN, 403, 0, 0},
        {200, "{\"ok\":false}", NULL, TG_E_MALFORMED, 200, 0, 0},
        {200, "{\"ok\":true,\"resu", NULL, TG_E_MALFORMED, 200, 0, 0},
        {200, "{\"ok\":true}", NULL, TG_E_MALFORMED, 200, 0, 0},
        {200, "{\"ok\":\"yes\",\"result\":1}", NULL, TG_E_MALFORMED, 200, 0, 0},
        {200, "[1,2]", NULL, TG_E_MALFORMED, 200, 0, 0},
        {200, "", NULL, TG_E_MALFORMED, 200, 0, 0},
        {0, "", NULL, TG_E_MALFORMED, 0, 0, 0},
        {200, "{\"ok\":true,\"result\":true}", NULL, TG_OK, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tg_response_t *response =
            tg_response_parse(cases[i].http, cases[i].body, strlen(cases[i].body), cases[i].header);
        assert_non_null(response);
        if (tg_response_status(response) != cases[i].status)
            fprintf(stderr, "case %zu: %s\n", i, tg_status_name(tg_response_status(response)));
        assert_int_equal(tg_response_status(response), cases[i].status);
        assert_int_equal(tg_response_error_code(response), cases[i].code);
        assert_int_equal(tg_response_retry_after(response), cases[i].retry_after);
        assert_int_equal(tg_response_migrate_to_chat_id(response), cases[i].migrate);
        assert_int_equal(tg_response_ok(response), cases[i].status == TG_OK);
        assert_non_null(tg_response_description(response));
        assert_int_equal(tg_response_result(response) != NULL, cases[i].status == TG_OK);
        tg_response_destroy(&response);
    }
    tg_response_t *response = tg_response_parse(502, NULL, 0, NULL);
    assert_int_equal(tg_response_status(response), TG_E_SERVER);
    tg_response_destroy(&response);

    //  The description is kept (cut to TG_ERR_MAX at a character boundary).
    response = tg_response_parse(403, cases[4].body, strlen(cases[4].body), NULL);
    assert_string_equal(tg_response_description(response),
                        "Forbidden: bot was blocked by the user");
    tg_response_destroy(&response);
    char *long_desc = s_repeat("ж", 400), *body = NULL;
    assert_true(
        asprintf(&body, "{\"ok\":false,\"error_code\":400,\"description\":\"%s\"}", long_desc) > 0);
    response = tg_response_parse(400, body, strlen(body), NULL);
    assert_true(strlen(tg_response_description(response)) < TG_ERR_MAX);
    assert_true(s_valid_utf8(tg_response_description(response)));
    tg_response_destroy(&response);
    free(body);
    free(long_desc);

    assert_string_equal(tg_status_name(TG_E_NOT_MODIFIED), "not_modified");
    assert_string_equal(tg_status_name(TG_E_MALFORMED), "malformed");
    assert_string_equal(tg_status_name((tg_status_t)77), "?");
    assert_true(tg_status_is_success(TG_OK));
    assert_true(tg_status_is_success(TG_E_NOT_MODIFIED));
    assert_false(tg_status_is_success(TG_E_QUERY_TOO_OLD));
}

static void test_response_results(void **state) {
    (void)state;
    const char *message = "{\"ok\":true,\"result\":{\"message_id\":321,\"from\":{\"id\":7,"
                          "\"is_bot\":true,\"first_name\":\"GenBot\"},\"chat\":{\"id\":"
                          "4503599627370496,\"type\":\"private\"},\"date\":1,\"text\":\"hi\"}}";
    tg_response_t *response = tg_response_parse(200, message, strlen(message), NULL);
    int64_t message_id = 0, chat_id = 0;
    assert_int_equal(tg_response_message(response, &message_id, &chat_id), 0);
    assert_int_equal(message_id, 321);
    assert_int_equal(chat_id, S_BIG_ID);
    tg_file_t file;
    assert_int_equal(tg_response_file(response, &file), -1);
    tg_response_destroy(&response);

    const char *edited = "{\"ok\":true,\"result\":true}";
    response = tg_response_parse(200, edited, strlen(edited), NULL);
    assert_int_equal(tg_response_message(response, &message_id, &chat_id), -1);
    assert_true(json_is_true(tg_response_result(response)));
    tg_response_destroy(&response);

    const char *got = "{\"ok\":true,\"result\":{\"file_id\":\"AgAD\",\"file_unique_id\":\"AQAD\","
                      "\"file_size\":5000000000,\"file_path\":\"photos/file_12.jpg\"}}";
    response = tg_response_parse(200, got, strlen(got), NULL);
    assert_int_equal(tg_response_file(response, &file), 0);
    assert_string_equal(file.file_id, "AgAD");
    assert_string_equal(file.file_unique_id, "AQAD");
    assert_string_equal(file.file_path, "photos/file_12.jpg");
    assert_int_equal(file.file_size, INT64_C(5000000000));
    tg_response_destroy(&response);

    const char *no_path = "{\"ok\":true,\"result\":{\"file_id\":\"A\",\"file_unique_id\":\"B\"}}";
    response = tg_response_parse(200, no_path, strlen(no_path), NULL);
    assert_int_equal(tg_response_file(response, &file), 0);
    assert_null(file.file_path);
    assert_int_equal(file.file_size, 0);
    tg_response_destroy(&response);

    const char *bad = "{\"ok\":true,\"result\":{\"file_id\":\"A\",\"file_unique_id\":\"B\","
                      "\"file_path\":5}}";
    response = tg_response_parse(200, bad, strlen(bad), NULL);
    assert_int_equal(tg_response_file(response, &file), -1);
    tg_response_destroy(&response);

    const char *error = "{\"ok\":false,\"error_code\":400,\"description\":\"x\"}";
    response = tg_response_parse(400, error, strlen(error), NULL);
    assert_int_equal(tg_response_message(response, NULL, NULL), -1);
    assert_int_equal(tg_response_file(response, &file), -1);
    tg_response_destroy(&response);
}

// --------------------------------------------------------------------------
//  Keyboards

static void test_keyboard(void **state) {
    (void)state;
    tg_keyboard_t *kb = tg_keyboard_new();
    char data64[65], data65[66];
    memset(data64, 'x', 64);
    data64[64] = '\0';
    memset(data65, 'x', 65);
    data65[65] = '\0';
    assert_int_equal(tg_keyboard_add(kb, "ok", data64), 0);
    char *before = tg_keyboard_to_json(kb);
    assert_int_equal(tg_keyboard_add(kb, "too long", data65), -1);
    assert_int_equal(tg_keyboard_add(kb, "empty", ""), -1);
    assert_int_equal(tg_keyboard_add(kb, "null", NULL), -1);
    assert_int_equal(tg_keyboard_add(kb, "", "a"), -1);
    assert_int_equal(tg_keyboard_add(kb, " \n\t", "a"), -1);
    assert_int_equal(tg_keyboard_add(kb, "\xe3\x80\x80", "a"), -1); //  ideographic space
    assert_int_equal(tg_keyboard_add(kb, NULL, "a"), -1);
    assert_int_equal(tg_keyboard_add(kb, "bad \xff", "a"), -1);
    assert_int_equal(tg_keyboard_add(kb, "bad data", "\xc0\x80"), -1);
    //  64 bytes is 32 Cyrillic letters; 33 is 66 bytes.
    char *cyr32 = s_repeat("ж", 32), *cyr33 = s_repeat("ж", 33);
    assert_int_equal(tg_keyboard_add(kb, "кириллица", cyr33), -1);
    assert_int_equal(tg_keyboard_size(kb), 1);
    char *after = tg_keyboard_to_json(kb);
    assert_string_equal(before, after); //  a refused button adds nothing
    free(before);
    free(after);
    assert_int_equal(tg_keyboard_add(kb, "кириллица", cyr32), 0);
    assert_int_equal(tg_keyboard_add_pay(kb, "Pay"), -1); //  only first
    tg_keyboard_row(kb);
    tg_keyboard_row(kb); //  no empty row
    assert_int_equal(tg_keyboard_add_url(kb, "Site", "https://example.com/a?b=c"), 0);
    assert_int_equal(tg_keyboard_add_url(kb, "Tg", "tg://resolve?domain=genbot"), 0);
    assert_int_equal(tg_keyboard_add_url(kb, "Bad", "javascript:alert(1)"), -1);
    assert_int_equal(tg_keyboard_add_url(kb, "Bad", "https://a b"), -1);
    assert_int_equal(tg_keyboard_add_url(kb, "Bad", ""), -1);
    assert_int_equal(tg_keyboard_size(kb), 4);

    json_t *markup = tg_keyboard_json(kb);
    const json_t *rows = json_object_get(markup, "inline_keyboard");
    assert_int_equal(json_array_size(rows), 2);
    const json_t *row0 = json_array_get(rows, 0), *row1 = json_array_get(rows, 1);
    assert_int_equal(json_array_size(row0), 2);
    assert_int_equal(json_array_size(row1), 2);
    assert_string_equal(s_str(json_array_get(row0, 0), "callback_data"), data64);
    assert_string_equal(s_str(json_array_get(row0, 1), "text"), "кириллица");
    assert_string_equal(s_str(json_array_get(row0, 1), "callback_data"), cyr32);
    assert_string_equal(s_str(json_array_get(row1, 0), "url"), "https://example.com/a?b=c");
    assert_null(json_object_get(json_array_get(row1, 0), "callback_data"));
    json_decref(markup);
    tg_keyboard_destroy(&kb);
    tg_keyboard_destroy(&kb);
    free(cyr32);
    free(cyr33);

    //  Limits: 8 per row, 100 in all; an empty keyboard is an empty list.
    kb = tg_keyboard_new();
    char *text = tg_keyboard_to_json(kb);
    assert_string_equal(text, "{\"inline_keyboard\":[]}");
    free(text);
    for (int i = 0; i < TG_KEYBOARD_ROW_MAX; i++)
        assert_int_equal(tg_keyboard_add(kb, "b", "d"), 0);
    assert_int_equal(tg_keyboard_add(kb, "b", "d"), -1);
    for (int i = TG_KEYBOARD_ROW_MAX; i < TG_KEYBOARD_BUTTONS_MAX; i++) {
        if (i % TG_KEYBOARD_ROW_MAX == 0) tg_keyboard_row(kb);
        assert_int_equal(tg_keyboard_add(kb, "b", "d"), 0);
    }
    tg_keyboard_row(kb);
    assert_int_equal(tg_keyboard_add(kb, "b", "d"), -1);
    assert_int_equal(tg_keyboard_size(kb), TG_KEYBOARD_BUTTONS_MAX);
    tg_keyboard_destroy(&kb);

    kb = tg_keyboard_new();
    assert_int_equal(tg_keyboard_add_pay(kb, "Оплатить 250 ⭐"), 0);
    text = tg_keyboard_to_json(kb);
    assert_string_equal(text,
                        "{\"inline_keyboard\":[[{\"text\":\"Оплатить 250 ⭐\",\"pay\":true}]]}");
    free(text);
    tg_keyboard_destroy(&kb);
}

// --------------------------------------------------------------------------
//  Text

static void test_html_escape(void **state) {
    (void)state;
    char *escaped = tg_html_escape("<b>Tom & \"Jerry\"</b> it's 😀");
    assert_string_equal(escaped, "&lt;b&gt;Tom &amp; &quot;Jerry&quot;&lt;/b&gt; it's 😀");
    free(escaped);
    escaped = tg_html_escape("");
    assert_string_equal(escaped, "");
    free(escaped);
    escaped = tg_html_escape("&amp;");
    assert_string_equal(escaped, "&amp;amp;");
    free(escaped);
    assert_null(tg_html_escape(NULL));
}

static void test_utf8_sanitize(void **state) {
    (void)state;
    static const struct {
        const char *in;
        size_t len;
        const char *out;
    } cases[] = {
        {"plain Привет 😀", 0, "plain Привет 😀"},
        {"\xff", 1, "\xef\xbf\xbd"},
        {"a\x80z", 3, "a\xef\xbf\xbdz"},
        {"\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd"},                 //  overlong '/'
        {"\xe0\x80\xaf", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, //  overlong
        {"\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, //  surrogate D800
        {"\xf4\x90\x80\x80", 4,
         "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, //  above U+10FFFF
        {"\xe2\x82", 2, "\xef\xbf\xbd\xef\xbf\xbd"},          //  truncated €
        {"\xe2\x82"
         "a",
         3,
         "\xef\xbf\xbd\xef\xbf\xbd"
         "a"},
        {"a\0b", 3,
         "a\xef\xbf\xbd"
         "b"}, //  NUL inside len
        {"\xf0\x9f\x98\x80", 4, "😀"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].in);
        char *clean = tg_utf8_sanitize(cases[i].in, len);
        assert_string_equal(clean, cases[i].out);
        free(clean);
    }
    assert_null(tg_utf8_sanitize(NULL, 0));
    //  Every byte value in every position gives valid UTF-8.
    unsigned char junk[256];
    for (int i = 0; i < 256; i++)
        junk[i] = (unsigned char)(255 - i);
    char *clean = tg_utf8_sanitize((const char *)junk, sizeof(junk));
    assert_true(s_valid_utf8(clean));
    free(clean);
}

static void test_text_len(void **state) {
    (void)state;
    assert_int_equal(tg_text_len(""), 0);
    assert_int_equal(tg_text_len("abc"), 3);
    assert_int_equal(tg_text_len("Привет"), 6);
    assert_int_equal(tg_text_len("😀"), 2);
    assert_int_equal(tg_text_len("👍🏽"), 4); //  two code points outside the BMP
    assert_int_equal(tg_text_len("€"), 1);
    assert_int_equal(tg_text_len("\xff\xfe"), 2);
    assert_int_equal(tg_html_len("<b>hi</b> &amp; <a href=\"x\">ж</a>"), 6);
    assert_int_equal(tg_html_len("&#128512;&#x1F600;&lt;"), 3);
    assert_int_equal(tg_html_len("a < b"), 5); //  a lone '<' counts
    assert_int_equal(tg_html_len("&nope"), 5);
    assert_int_equal(tg_html_len(NULL), 0);
}

//  Checks one cut: within max units, valid UTF-8, a prefix of the input,
//  "…" exactly when cut.
static void s_check_cut(const char *text, size_t max) {
    char *cut = tg_text_cut(text, max);
    assert_non_null(cut);
    assert_true(tg_text_len(cut) <= max);
    assert_true(s_valid_utf8(cut));
    if (tg_text_len(text) <= max)
        assert_string_equal(cut, text);
    else if (max > 0) {
        assert_true(s_ends_with(cut, "…"));
        size_t kept = strlen(cut) - strlen("…");
        assert_memory_equal(cut, text, kept);
    } else
        assert_string_equal(cut, "");
    free(cut);
}

static void test_text_cut(void **state) {
    (void)state;
    static const size_t maxes[] = {TG_TEXT_MAX, TG_CAPTION_MAX, TG_CALLBACK_ANSWER_MAX};
    static const char *units[] = {"a", "ж", "😀", "ж😀", "a&amp;", "&#128512;ж "};
    for (size_t m = 0; m < sizeof(maxes) / sizeof(maxes[0]); m++) {
        size_t max = maxes[m];
        for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
            for (size_t extra = 0; extra < 3; extra++) {
                size_t n = max / tg_text_len(units[u]) + extra;
                char *text = s_repeat(units[u], n);
                s_check_cut(text, max);
                free(text);
            }
        }
    }
    //  Exactly at the limit: unchanged. One over: max units with the "…".
    char *text = s_repeat("ж", TG_TEXT_MAX);
    char *cut = tg_text_cut(text, TG_TEXT_MAX);
    assert_string_equal(cut, text);
    free(cut);
    free(text);
    text = s_repeat("ж", TG_TEXT_MAX + 1);
    cut = tg_text_cut(text, TG_TEXT_MAX);
    assert_int_equal(tg_text_len(cut), TG_TEXT_MAX);
    free(cut);
    free(text);
    //  Emoji never split: 1024 units of 😀 hold 511 of them plus "…".
    text = s_repeat("😀", 600);
    cut = tg_text_cut(text, TG_CAPTION_MAX);
    assert_int_equal(tg_text_len(cut), 1023);
    assert_int_equal(strlen(cut), 511 * 4 + 3);
    free(cut);
    free(text);
    //  Entities never split; spaces before "…" dropped.
    cut = tg_text_cut("ab &amp; cd", 5);
    assert_string_equal(cut, "ab…");
    free(cut);
    cut = tg_text_cut("abc&amp;", 7);
    assert_string_equal(cut, "abc…");
    free(cut);
    cut = tg_text_cut("hello world", 7);
    assert_string_equal(cut, "hello…");
    free(cut);
    cut = tg_text_cut("hello", 1);
    assert_string_equal(cut, "…");
    free(cut);
    cut = tg_text_cut("hello", 0);
    assert_string_equal(cut, "");
    free(cut);
    cut = tg_text_cut("", 0);
    assert_string_equal(cut, "");
    free(cut);
    //  Invalid UTF-8 is repaired first.
    cut = tg_text_cut("ab\xff\xfe", 10);
    assert_string_equal(cut, "ab\xef\xbf\xbd\xef\xbf\xbd");
    free(cut);
    assert_null(tg_text_cut(NULL, 5));
    //  Every max from 0 to 40 over a mixed string.
    const char *mixed = "Ж😀 &lt;b&gt; x\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd &#128512; конец";
    for (size_t max = 0; max <= 40; max++)
        s_check_cut(mixed, max);
}

// --------------------------------------------------------------------------
//  Requests

static void test_simple_requests(void **state) {
    (void)state;
    char err[TG_ERR_MAX];
    tg_request_t *request = tg_get_me();
    assert_string_equal(tg_request_method(request), "getMe");
    assert_false(tg_request_is_multipart(request));
    assert_int_equal(tg_request_part_count(request), 0);
    assert_null(tg_request_part(request, 0));
    char *text = tg_request_to_json(request);
    assert_string_equal(text, "{}");
    free(text);
    text = tg_request_to_form(request);
    assert_string_equal(text, "");
    free(text);
    assert_int_equal(tg_request_chat_id(request), 0);
    tg_request_destroy(&request);
    tg_request_destroy(&request);

    request = tg_get_updates(872001010, 100, 50, err);
    assert_string_equal(tg_request_method(request), "getUpdates");
    text = tg_request_to_json(request);
    assert_string_equal(text, "{\"offset\":872001010,\"limit\":100,\"timeout\":50,"
                              "\"allowed_updates\":[\"message\",\"callback_query\","
                              "\"pre_checkout_query\",\"my_chat_member\"]}");
    free(text);
    text = tg_request_to_form(request);
    assert_string_equal(text, "offset=872001010&limit=100&timeout=50&allowed_updates=%5B%22message"
                              "%22%2C%22callback_query%22%2C%22pre_checkout_query%22%2C%22my_chat_"
                              "member%22%5D");
    free(text);
    tg_request_destroy(&request);
    assert_null(tg_get_updates(0, 0, 10, err));
    assert_string_equal(err, "limit: 0 is not 1..100");
    assert_null(tg_get_updates(0, 101, 10, err));
    assert_null(tg_get_updates(0, 1, 51, err));
    assert_null(tg_get_updates(0, 1, -1, NULL)); //  err may be NULL

    request = tg_delete_webhook();
    json_t *json = s_body(request);
    assert_true(json_is_false(json_object_get(json, "drop_pending_updates")));
    json_decref(json);
    tg_request_destroy(&request);

    request = tg_set_webhook("https://bot.example.com/tg", "s3cr3t_-X", err);
    json = s_body(request);
    assert_string_equal(s_str(json, "url"), "https://bot.example.com/tg");
    assert_string_equal(s_str(json, "secret_token"), "s3cr3t_-X");
    assert_int_equal(json_array_size(json_object_get(json, "allowed_updates")), 4);
    assert_true(json_is_false(json_object_get(json, "drop_pending_updates")));
    json_decref(json);
    tg_request_destroy(&request);
    assert_null(tg_set_webhook("http://bot.example.com/tg", "s", err));
    assert_null(tg_set_webhook("https://bot.example.com/tg", "bad secret!", err));
    assert_null(tg_set_webhook("https://bot.example.com/tg", "", err));

    request = tg_get_file("AgACAgIAAxkBAAIBZ2c", err);
    json = s_body(request);
    assert_string_equal(s_str(json, "file_id"), "AgACAgIAAxkBAAIBZ2c");
    json_decref(json);
    tg_request_destroy(&request);
    assert_null(tg_get_file("", err));
    assert_null(tg_get_file("a b", err));
    assert_null(tg_get_file(NULL, err));

    request = tg_delete_message(-100123, 77, err);
    json = s_body(request);
    assert_int_equal(s_int(json, "chat_id"), -100123);
    assert_int_equal(s_int(json, "message_id"), 77);
    json_decref(json);
    tg_request_destroy(&request);
    assert_null(tg_delete_message(0, 77, err));
    assert_string_equal(err, "chat_id: 0 is not a chat");
    assert_null(tg_delete_message(5, 0, err));

    request = tg_send_chat_action(5, TG_ACTION_UPLOAD_VIDEO, err);
    json = s_body(request);
    assert_string_equal(s_str(json, "action"), "upload_video");
    json_decref(json);
    tg_request_destroy(&request);
    assert_null(tg_send_chat_action(5, (tg_chat_action_t)42, err));

    request = tg_refund_star_payment(111, "stxAbC", err);
    assert_string_equal(tg_request_method(request), "refundStarPayment");
    json = s_body(request);
    assert_int_equal(s_int(json, "user_id"), 111);
    assert_string_equal(s_str(json, "telegram_payment_charge_id"), "stxAbC");
    json_decref(json);
    tg_request_destroy(&request);
    assert_null(tg_refund_star_payment(0, "x", err));
    assert_null(tg_refund_star_payment(1, "", err));
}

static void test_message_requests(void **state) {
    (void)state;
    char err[TG_ERR_MAX];
    tg_keyboard_t *kb = tg_keyboard_new();
    assert_int_equal(tg_keyboard_add(kb, "🏠 Меню", "m:menu"), 0);

    tg_request_t *request = tg_send_message(111, "<b>Привет</b> &amp; пока", kb, err);
    assert_non_null(request);
    assert_string_equal(tg_request_method(request), "sendMessage");
    assert_int_equal(tg_request_chat_id(request), 111);
    json_t *json = s_body(request);
    assert_int_equal(s_int(json, "chat_id"), 111);
    assert_string_equal(s_str(json, "text"), "<b>Привет</b> &amp; пока");
    assert_string_equal(s_str(json, "parse_mode"), "HTML");
    assert_true(json_is_true(
        json_object_get(json_object_get(json, "link_preview_options"), "is_disabled")));
    const json_t *button = json_array_get(
        json_array_get(json_object_get(json_object_get(json, "reply_markup"), "inline_keyboard"),
                       0),
        0);
    assert_string_equal(s_str(button, "callback_data"), "m:menu");
    json_decref(json);
    assert_ptr_equal(tg_request_params(request), tg_request_params(request));
    char *form = tg_request_to_form(request);
    assert_non_null(strstr(form, "text=%3Cb%3E%D0%9F%D1%80%D0%B8%D0%B2%D0%B5%D1%82%3C%2Fb%3E+%26"
                                 "amp%3B+%D0%BF%D0%BE%D0%BA%D0%B0&parse_mode=HTML&"));
    assert_non_null(strstr(form, "&reply_markup=%7B%22inline_keyboard%22%3A"));
    free(form);
    tg_request_destroy(&request);

    //  Text limits as Telegram counts them: markup is free, entities are 1.
    char *body = s_repeat("ж", TG_TEXT_MAX);
    char *marked = NULL;
    assert_true(asprintf(&marked, "<b>%s</b>", body) > 0);
    request = tg_send_message(1, marked, NULL, err);
    assert_non_null(request);
    tg_request_destroy(&request);
    free(marked);
    free(body);
    body = s_repeat("😀", TG_TEXT_MAX / 2);
    request = tg_send_message(1, body, NULL, err);
    assert_non_null(request);
    tg_request_destroy(&request);
    free(body);
    body = s_repeat("&amp;", TG_TEXT_MAX + 1);
    assert_null(tg_send_message(1, body, NULL, err));
    assert_string_equal(err, "text: 4097 characters is over 4096");
    free(body);
    body = s_repeat("😀", TG_TEXT_MAX / 2 + 1);
    assert_null(tg_send_message(1, body, NULL, err));
    free(body);
    assert_null(tg_send_message(1, "", NULL, err));
    assert_null(tg_send_message(1, NULL, NULL, err));
    assert_null(tg_send_message(1, " \n\t ", NULL, err));
    assert_string_equal(err, "text: empty after trimming");
    assert_null(tg_send_message(1, "<b> </b>", NULL, err));
    assert_null(tg_send_message(1, "bad \xff", NULL, err));
    assert_null(tg_send_message(0, "hi", NULL, err));

    request = tg_edit_message_text(111, 42, "⏳ 40%", kb, err);
    assert_string_equal(tg_request_method(request), "editMessageText");
    json = s_body(request);
    assert_int_equal(s_int(json, "message_id"), 42);
    assert_string_equal(s_str(json, "text"), "⏳ 40%");
    assert_non_null(json_object_get(json, "reply_markup"));
    json_decref(json);
    tg_request_destroy(&request);
    request = tg_edit_message_text(111, 42, "⏳ 40%", NULL, err);
    json = s_body(request);
    assert_null(json_object_get(json, "reply_markup"));
    json_decref(json);
    tg_request_destroy(&request);
    assert_null(tg_edit_message_text(111, -1, "x", NULL, err));
    assert_null(tg_edit_message_text(111, 1, "", NULL, err));

    request = tg_edit_message_reply_markup(111, 42, NULL, err);
    json = s_body(request);
    assert_null(json_object_get(json, "reply_markup")); //  removes the keyboard
    json_decref(json);
    tg_request_destroy(&request);
    request = tg_edit_message_reply_markup(111, 42, kb, err);
    json = s_body(request);
    assert_non_null(json_object_get(json, "reply_markup"));
    json_decref(json);
    tg_request_destroy(&request);

    //  Callback answers: plain text, at most 200 characters.
    request = tg_answer_callback_query("4382bf", NULL, false, err);
    json = s_body(request);
    assert_string_equal(s_str(json, "callback_query_id"), "4382bf");
    assert_null(json_object_get(json, "text"));
    assert_null(json_object_get(json, "show_alert"));
    json_decref(json);
    tg_request_destroy(&request);
    char *toast = s_repeat("ж", TG_CALLBACK_ANSWER_MAX);
    request = tg_answer_callback_query("4382bf", toast, true, err);
    json = s_body(request);
    assert_string_equal(s_str(json, "text"), toast);
    assert_true(json_is_true(json_object_get(json, "show_alert")));
    assert_null(json_object_get(json, "parse_mode"));
    json_decref(json);
    tg_request_destroy(&request);
    free(toast);
    toast = s_repeat("😀", TG_CALLBACK_ANSWER_MAX / 2 + 1);
    assert_null(tg_answer_callback_query("4382bf", toast, false, err));
    free(toast);
    assert_null(tg_answer_callback_query("", "x", false, err));

    tg_keyboard_destroy(&kb);
}

static void test_media_requests(void **state) {
    (void)state;
    char err[TG_ERR_MAX];
    tg_request_t *request =
        tg_send_media(TG_MEDIA_PHOTO, 111, "AgACAgIAAxkBAAIBZ2c", "<i>фото</i>", NULL, err);
    assert_string_equal(tg_request_method(request), "sendPhoto");
    json_t *json = s_body(request);
    assert_string_equal(s_str(json, "photo"), "AgACAgIAAxkBAAIBZ2c");
    assert_string_equal(s_str(json, "caption"), "<i>фото</i>");
    assert_string_equal(s_str(json, "parse_mode"), "HTML");
    assert_null(json_object_get(json, "supports_streaming"));
    json_decref(json);
    tg_request_destroy(&request);

    request = tg_send_media(TG_MEDIA_VIDEO, 111, "https://cdn.example.com/v.mp4", NULL, NULL, err);
    assert_string_equal(tg_request_method(request), "sendVideo");
    json = s_body(request);
    assert_string_equal(s_str(json, "video"), "https://cdn.example.com/v.mp4");
    assert_true(json_is_true(json_object_get(json, "supports_streaming")));
    assert_null(json_object_get(json, "caption"));
    assert_null(json_object_get(json, "parse_mode"));
    json_decref(json);
    tg_request_destroy(&request);

    request = tg_send_media(TG_MEDIA_DOCUMENT, 111, "BQAC", "", NULL, err);
    assert_string_equal(tg_request_method(request), "sendDocument");
    tg_request_destroy(&request);

    char *caption = s_repeat("ж", TG_CAPTION_MAX + 1);
    assert_null(tg_send_media(TG_MEDIA_PHOTO, 111, "AgAC", caption, NULL, err));
    assert_string_equal(err, "caption: 1025 characters is over 1024");
    caption[strlen(caption) - 2] = '\0';
    request = tg_send_media(TG_MEDIA_PHOTO, 111, "AgAC", caption, NULL, err);
    assert_non_null(request);
    tg_request_destroy(&request);
    free(caption);
    assert_null(tg_send_media(TG_MEDIA_PHOTO, 111, "ftp://x/y", NULL, NULL, err));
    assert_null(tg_send_media(TG_MEDIA_PHOTO, 111, "", NULL, NULL, err));
    assert_null(tg_send_media((tg_media_t)9, 111, "x", NULL, NULL, err));
    assert_null(tg_send_media(TG_MEDIA_PHOTO, 0, "x", NULL, NULL, err));
}

static void test_upload_request(void **state) {
    (void)state;
    char err[TG_ERR_MAX];
    tg_keyboard_t *kb = tg_keyboard_new();
    tg_keyboard_add(kb, "🔄 Ещё раз", "again:7");
    const uint8_t video[] = {0x00, 0x00, 0x00, 0x18, 'f', 't', 'y', 'p', 'm', 'p', '4', '2', 0xff};
    tg_request_t *request = tg_send_media_upload(TG_MEDIA_VIDEO, S_BIG_ID, video, sizeof(video),
                                                 "result.MP4", "Готово ✅", kb, err);
    assert_non_null(request);
    tg_keyboard_destroy(&kb);
    assert_string_equal(tg_request_method(request), "sendVideo");
    assert_true(tg_request_is_multipart(request));
    assert_null(tg_request_to_form(request));
    assert_int_equal(tg_request_chat_id(request), S_BIG_ID);

    static const struct {
        const char *name, *value;
    } fields[] = {
        {"chat_id", "4503599627370496"},
        {"caption", "Готово ✅"},
        {"parse_mode", "HTML"},
        {"supports_streaming", "true"},
        {"reply_markup",
         "{\"inline_keyboard\":[[{\"text\":\"🔄 Ещё раз\",\"callback_data\":\"again:7\"}]]}"},
    };
    size_t n = sizeof(fields) / sizeof(fields[0]);
    assert_int_equal(tg_request_part_count(request), n + 1);
    for (size_t i = 0; i < n; i++) {
        const tg_part_t *part = tg_request_part(request, i);
        assert_string_equal(part->name, fields[i].name);
        assert_string_equal(part->value, fields[i].value);
        assert_null(part->data);
        assert_null(part->filename);
    }
    const tg_part_t *file = tg_request_part(request, n);
    assert_string_equal(file->name, "video");
    assert_null(file->value);
    assert_int_equal(file->size, sizeof(video));
    assert_memory_equal(file->data, video, sizeof(video));
    assert_ptr_not_equal(file->data, video); //  a copy
    assert_string_equal(file->filename, "result.MP4");
    assert_string_equal(file->content_type, "video/mp4");
    assert_null(tg_request_part(request, n + 1));

    json_t *json = s_body(request);
    const json_t *described = json_object_get(json, "video");
    assert_string_equal(s_str(described, "filename"), "result.MP4");
    assert_int_equal(s_int(described, "size"), sizeof(video));
    assert_int_equal(s_int(json, "chat_id"), S_BIG_ID);
    json_decref(json);
    tg_request_destroy(&request);

    //  Photo and document; unknown extensions are octet-stream.
    request = tg_send_media_upload(TG_MEDIA_PHOTO, 1, video, 4, "p.jpeg", NULL, NULL, err);
    assert_int_equal(tg_request_part_count(request), 2);
    assert_string_equal(tg_request_part(request, 1)->content_type, "image/jpeg");
    assert_string_equal(tg_request_part(request, 1)->name, "photo");
    tg_request_destroy(&request);
    request = tg_send_media_upload(TG_MEDIA_DOCUMENT, 1, video, 4, "notes", NULL, NULL, err);
    assert_string_equal(tg_request_part(request, 1)->content_type, "application/octet-stream");
    tg_request_destroy(&request);

    //  Refusals (sizes are checked before a byte is read).
    assert_null(tg_send_media_upload(TG_MEDIA_PHOTO, 1, video, (size_t)TG_PHOTO_UPLOAD_MAX + 1,
                                     "p.jpg", NULL, NULL, err));
    assert_null(tg_send_media_upload(TG_MEDIA_VIDEO, 1, video, (size_t)TG_FILE_UPLOAD_MAX + 1,
                                     "v.mp4", NULL, NULL, err));
    assert_null(tg_send_media_upload(TG_MEDIA_VIDEO, 1, video, 0, "v.mp4", NULL, NULL, err));
    assert_null(tg_send_media_upload(TG_MEDIA_VIDEO, 1, NULL, 4, "v.mp4", NULL, NULL, err));
    assert_null(tg_send_media_upload(TG_MEDIA_VIDEO, 1, video, 4, "", NULL, NULL, err));
    assert_null(tg_send_media_upload(TG_MEDIA_VIDEO, 1, video, 4, "a\"b.mp4", NULL, NULL, err));
    assert_null(tg_send_media_upload(TG_MEDIA_VIDEO, 1, video, 4, "../v.mp4", NULL, NULL, err));
    assert_null(tg_send_media_upload(TG_MEDIA_VIDEO, 1, video, 4, "v\r\n.mp4", NULL, NULL, err));
    assert_null(tg_send_media_upload(TG_MEDIA_VIDEO, 1, video, 4, "видео.mp4", NULL, NULL, err));
    assert_null(tg_send_media_upload(TG_MEDIA_VIDEO, 0, video, 4, "v.mp4", NULL, NULL, err));
    char *caption = s_repeat("x", TG_CAPTION_MAX + 1);
    assert_null(tg_send_media_upload(TG_MEDIA_VIDEO, 1, video, 4, "v.mp4", caption, NULL, err));
    free(caption);
}

static void test_commands_request(void **state) {
    (void)state;
    char err[TG_ERR_MAX];
    const tg_command_t commands[] = {
        {"start", "Меню"}, {"balance", "Баланс"}, {"paysupport", "Помощь с оплатой"}};
    tg_request_t *request = tg_set_my_commands(commands, 3, "ru", err);
    json_t *json = s_body(request);
    const json_t *list = json_object_get(json, "commands");
    assert_int_equal(json_array_size(list), 3);
    assert_string_equal(s_str(json_array_get(list, 2), "command"), "paysupport");
    assert_string_equal(s_str(json_array_get(list, 2), "description"), "Помощь с оплатой");
    assert_string_equal(s_str(json, "language_code"), "ru");
    json_decref(json);
    tg_request_destroy(&request);
    request = tg_set_my_commands(commands, 1, NULL, err);
    json = s_body(request);
    assert_null(json_object_get(json, "language_code"));
    json_decref(json);
    tg_request_destroy(&request);

    const tg_command_t upper[] = {{"Start", "x"}};
    const tg_command_t slash[] = {{"/start", "x"}};
    const tg_command_t empty_desc[] = {{"start", ""}};
    const tg_command_t long_name[] = {{"abcdefghijklmnopqrstuvwxyz0123456", "x"}};
    assert_null(tg_set_my_commands(upper, 1, NULL, err));
    assert_null(tg_set_my_commands(slash, 1, NULL, err));
    assert_null(tg_set_my_commands(empty_desc, 1, NULL, err));
    assert_null(tg_set_my_commands(long_name, 1, NULL, err));
    assert_null(tg_set_my_commands(commands, 0, NULL, err));
    assert_null(tg_set_my_commands(NULL, 1, NULL, err));
    assert_null(tg_set_my_commands(commands, 1, "rus", err));
    assert_null(tg_set_my_commands(commands, 1, "RU", err));
}

static void test_payment_requests(void **state) {
    (void)state;
    char err[TG_ERR_MAX];
    tg_invoice_t invoice = {.title = "10 кредитов",
                            .description = "10 генераций видео",
                            .payload = "pack:10:u111",
                            .label = "10 кредитов",
                            .stars = 450};
    tg_request_t *request = tg_send_invoice(111, &invoice, NULL, err);
    assert_non_null(request);
    assert_string_equal(tg_request_method(request), "sendInvoice");
    json_t *json = s_body(request);
    assert_string_equal(s_str(json, "title"), "10 кредитов");
    assert_string_equal(s_str(json, "description"), "10 генераций видео");
    assert_string_equal(s_str(json, "payload"), "pack:10:u111");
    assert_string_equal(s_str(json, "currency"), "XTR");
    assert_string_equal(s_str(json, "provider_token"), "");
    const json_t *prices = json_object_get(json, "prices");
    assert_int_equal(json_array_size(prices), 1);
    assert_string_equal(s_str(json_array_get(prices, 0), "label"), "10 кредитов");
    assert_int_equal(s_int(json_array_get(prices, 0), "amount"), 450);
    assert_null(json_object_get(json, "reply_markup"));
    json_decref(json);
    tg_request_destroy(&request);

    //  A keyboard must start with the pay button.
    tg_keyboard_t *kb = tg_keyboard_new();
    tg_keyboard_add(kb, "Back", "m:menu");
    assert_null(tg_send_invoice(111, &invoice, kb, err));
    tg_keyboard_destroy(&kb);
    kb = tg_keyboard_new();
    assert_null(tg_send_invoice(111, &invoice, kb, err)); //  empty
    tg_keyboard_add_pay(kb, "Оплатить 450 ⭐");
    tg_keyboard_row(kb);
    tg_keyboard_add(kb, "Back", "m:menu");
    request = tg_send_invoice(111, &invoice, kb, err);
    assert_non_null(request);
    tg_request_destroy(&request);
    tg_keyboard_destroy(&kb);

    //  Field limits: title 32 characters, description 255, payload 128 bytes.
    char *title32 = s_repeat("ж", 32), *title33 = s_repeat("ж", 33);
    char *desc255 = s_repeat("d", 255), *desc256 = s_repeat("d", 256);
    char *payload128 = s_repeat("p", 128), *payload129 = s_repeat("p", 129);
    char *cyr_payload = s_repeat("ж", 65); //  130 bytes
    tg_invoice_t ok = invoice;
    ok.title = title32;
    ok.description = desc255;
    ok.payload = payload128;
    request = tg_send_invoice(111, &ok, NULL, err);
    assert_non_null(request);
    tg_request_destroy(&request);
    tg_invoice_t bad = ok;
    bad.title = title33;
    assert_null(tg_send_invoice(111, &bad, NULL, err));
    assert_string_equal(err, "title: 33 characters is over 32");
    bad = ok;
    bad.title = "  ";
    assert_null(tg_send_invoice(111, &bad, NULL, err));
    bad = ok;
    bad.description = desc256;
    assert_null(tg_send_invoice(111, &bad, NULL, err));
    bad = ok;
    bad.description = NULL;
    assert_null(tg_send_invoice(111, &bad, NULL, err));
    bad = ok;
    bad.payload = payload129;
    assert_null(tg_send_invoice(111, &bad, NULL, err));
    bad = ok;
    bad.payload = cyr_payload;
    assert_null(tg_send_invoice(111, &bad, NULL, err));
    bad = ok;
    bad.payload = "";
    assert_null(tg_send_invoice(111, &bad, NULL, err));
    bad = ok;
    bad.label = "";
    assert_null(tg_send_invoice(111, &bad, NULL, err));
    bad = ok;
    bad.stars = 0;
    assert_null(tg_send_invoice(111, &bad, NULL, err));
    bad.stars = -5;
    assert_null(tg_send_invoice(111, &bad, NULL, err));
    assert_null(tg_send_invoice(111, NULL, NULL, err));
    assert_null(tg_send_invoice(0, &ok, NULL, err));
    free(title32);
    free(title33);
    free(desc255);
    free(desc256);
    free(payload128);
    free(payload129);
    free(cyr_payload);

    request = tg_answer_pre_checkout_query("1234567890123456789", true, NULL, err);
    json = s_body(request);
    assert_string_equal(s_str(json, "pre_checkout_query_id"), "1234567890123456789");
    assert_true(json_is_true(json_object_get(json, "ok")));
    assert_null(json_object_get(json, "error_message"));
    json_decref(json);
    tg_request_destroy(&request);
    request = tg_answer_pre_checkout_query("123", false, "Пакет больше не продаётся", err);
    json = s_body(request);
    assert_true(json_is_false(json_object_get(json, "ok")));
    assert_string_equal(s_str(json, "error_message"), "Пакет больше не продаётся");
    json_decref(json);
    tg_request_destroy(&request);
    assert_null(tg_answer_pre_checkout_query("123", false, NULL, err));
    assert_null(tg_answer_pre_checkout_query("123", false, " ", err));
    assert_null(tg_answer_pre_checkout_query("", true, NULL, err));
}

static void test_paths_with_token(void **state) {
    (void)state;
    const char *token = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
    char *path = tg_method_path_with_token(token, "sendMessage");
    assert_string_equal(path, "/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage");
    free(path);
    path = tg_file_path_with_token(token, "photos/file_12.jpg");
    assert_string_equal(path, "/file/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/photos/"
                              "file_12.jpg");
    free(path);
    const char *bad_tokens[] = {NULL,      "",        "abc:def",   "123:",  ":abc",
                                "123:a/b", "123:a b", "123:abc\n", "123abc"};
    for (size_t i = 0; i < sizeof(bad_tokens) / sizeof(bad_tokens[0]); i++) {
        assert_null(tg_method_path_with_token(bad_tokens[i], "getMe"));
        assert_null(tg_file_path_with_token(bad_tokens[i], "a.jpg"));
    }
    const char *bad_methods[] = {NULL, "", "get/Me", "getMe?x=1", "../getMe"};
    for (size_t i = 0; i < sizeof(bad_methods) / sizeof(bad_methods[0]); i++)
        assert_null(tg_method_path_with_token(token, bad_methods[i]));
    const char *bad_paths[] = {NULL,   "",      "/etc/passwd",  "../x", "a/../b",
                               "a//b", "a/./b", "a/",           "a?b",  "a#b",
                               "a%2e", "a b",   "photos/ф.jpg", ".."};
    for (size_t i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++)
        assert_null(tg_file_path_with_token(token, bad_paths[i]));
    path = tg_file_path_with_token(token, "videos/file_3.v2.mp4");
    assert_non_null(path);
    free(path);
}

static void test_webhook_secret(void **state) {
    (void)state;
    assert_true(tg_webhook_secret_ok("s3cr3t-Token_1", "s3cr3t-Token_1"));
    assert_false(tg_webhook_secret_ok("s3cr3t-Token_2", "s3cr3t-Token_1"));
    assert_false(tg_webhook_secret_ok("s3cr3t-Token_", "s3cr3t-Token_1"));
    assert_false(tg_webhook_secret_ok("s3cr3t-Token_11", "s3cr3t-Token_1"));
    assert_false(tg_webhook_secret_ok("", "s3cr3t-Token_1"));
    assert_false(tg_webhook_secret_ok(NULL, "s3cr3t-Token_1"));
    assert_false(tg_webhook_secret_ok("", ""));
    assert_false(tg_webhook_secret_ok("x", NULL));
    assert_false(tg_webhook_secret_ok("S3cr3t-Token_1", "s3cr3t-Token_1"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_every_kind),
        cmocka_unit_test(test_commands),
        cmocka_unit_test(test_update_variants),
        cmocka_unit_test(test_int64_ids),
        cmocka_unit_test(test_batch_keeps_good_updates),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_truncated_and_corrupted),
        cmocka_unit_test(test_huge_inputs),
        cmocka_unit_test(test_response_classes),
        cmocka_unit_test(test_response_results),
        cmocka_unit_test(test_keyboard),
        cmocka_unit_test(test_html_escape),
        cmocka_unit_test(test_utf8_sanitize),
        cmocka_unit_test(test_text_len),
        cmocka_unit_test(test_text_cut),
        cmocka_unit_test(test_simple_requests),
        cmocka_unit_test(test_message_requests),
        cmocka_unit_test(test_media_requests),
        cmocka_unit_test(test_upload_request),
        cmocka_unit_test(test_commands_request),
        cmocka_unit_test(test_payment_requests),
        cmocka_unit_test(test_paths_with_token),
        cmocka_unit_test(test_webhook_secret),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
