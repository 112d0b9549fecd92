/*  test_kie.c — KIE requests, response parsing and error classification.

    The classifier is checked against one table of real texts (from
    kie-api.md: KIE's own, Veo/4o/Runway/Sora upstream texts, the texts
    other bots saw live) and of the cases that fooled other bots' keyword
    classifiers. Every parser is fed every prefix of realistic bodies, each
    in a buffer of exactly that size, so ASan sees any read past the end.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kie.h"

#define PHOTO_URL "https://tempfile.redpandaai.co/kieai/genbot/abc.jpg"
#define KEY       "0123456789abcdef0123456789abcdef"

#define C_CONTENT   KIE_CLASS_CONTENT_VIOLATION
#define C_INVALID   KIE_CLASS_INVALID_REQUEST
#define C_AUTH      KIE_CLASS_AUTH
#define C_BILLING   KIE_CLASS_BILLING
#define C_RATE      KIE_CLASS_RATE_LIMITED
#define C_TEMPORARY KIE_CLASS_TEMPORARY
#define C_UNKNOWN   KIE_CLASS_UNKNOWN

//  True when text is valid UTF-8 without control characters (what every
//  detail and message leaving kie.c must be).
static bool s_clean_text(const char *text) {
    const unsigned char *s = (const unsigned char *)text;
    while (*s) {
        if (*s < 0x20 || *s == 0x7f) return false;
        size_t n = *s < 0x80                  ? 1
                   : *s >= 0xc2 && *s <= 0xdf ? 2
                   : *s >= 0xe0 && *s <= 0xef ? 3
                   : *s >= 0xf0 && *s <= 0xf4 ? 4
                                              : 0;
        if (n == 0) return false;
        for (size_t k = 1; k < n; k++)
            if ((s[k] & 0xc0) != 0x80) return false;
        s += n;
    }
    return true;
}

static long s_scaled(long n) {
    const char *scale = getenv("GENBOT_TEST_SCALE");
    long s = scale ? atol(scale) : 1;
    return s > 1 ? (n / s > 0 ? n / s : 1) : n;
}

//  --------------------------------------------------------------------------
//  Classification

static void test_classify_table(void **state) {
    (void)state;
    const struct {
        int http, code;
        const char *fail_code, *message;
        kie_class_t expected;
    } rows[] = {
        //  Auth: KIE's own 401 texts, under HTTP 200 and as a real status.
        {200, 401, NULL, "You do not have access permissions", C_AUTH},
        {200, 401, NULL, "Unauthorized – Authentication failed, please check your API key", C_AUTH},
        {401, 0, NULL, NULL, C_AUTH},
        {403, 0, NULL, "Forbidden", C_AUTH},
        {200, 403, NULL, "Access denied", C_AUTH},
        {401, 0, NULL, "Your prompt was flagged", C_AUTH}, //  code first
        //  Cloudflare in front of both hosts: not the key's fault.
        {403, 0, NULL, "error code: 1010", C_TEMPORARY},
        {403, 0, NULL, "error code: 1020", C_TEMPORARY},
        {403, 0, NULL, "error code: 1015", C_RATE},
        //  Billing.
        {200, 402, NULL, "Insufficient credits", C_BILLING},
        {402, 0, NULL, "Payment Required", C_BILLING},
        {200, 433, NULL, "Sub-key usage exceeds the limit", C_BILLING},
        {200, 0, NULL, "Insufficient credits, please top up", C_BILLING},
        {200, 501, NULL, "insufficient balance", C_BILLING},
        //  Rate limits; "rejected" and "content" in them must not matter.
        {200, 429, NULL, "Request rejected: too many requests", C_RATE},
        {429, 0, NULL, NULL, C_RATE},
        {200, 429, NULL, "Your request was rejected: content generation rate limit", C_RATE},
        {429, 0, NULL, "Your prompt was flagged", C_RATE},
        {200, 0, NULL, "Rate limit exceeded", C_RATE},
        {200, 400, NULL, "Concurrency limit reached", C_RATE},
        //  Temporary: maintenance, server errors, gateways, network.
        {200, 455, NULL, "Service unavailable: maintenance", C_TEMPORARY},
        {455, 0, NULL, NULL, C_TEMPORARY},
        {200, 500, NULL, "Internal server error", C_TEMPORARY},
        {500, 0, NULL, "Internal Server Error", C_TEMPORARY},
        {502, 0, NULL, "502 Bad Gateway nginx", C_TEMPORARY},
        {503, 0, NULL, "Too many people are using the service right now", C_TEMPORARY},
        {504, 0, NULL, "Gateway Time-out", C_TEMPORARY},
        {599, 0, NULL, "whatever was flagged", C_TEMPORARY},
        {408, 0, NULL, NULL, C_TEMPORARY},
        {KIE_HTTP_NONE, 0, NULL, "Couldn't resolve host name", C_TEMPORARY},
        {KIE_HTTP_NONE, 0, NULL, NULL, C_TEMPORARY},
        {-7, 0, NULL, NULL, C_TEMPORARY},
        //  A 500 that mentions "content" is still a server error (the
        //  keyword classifier of another bot read it as a violation).
        {200, 500, NULL, "Server error while processing content", C_TEMPORARY},
        {200, 500, NULL, "Failed to read request content: connection reset", C_TEMPORARY},
        {200, 500, NULL, "duplicate key value violates unique constraint", C_TEMPORARY},
        //  ...but a 500 with a specific text is what the text says.
        {200, 500, NULL, "This field is required", C_INVALID},
        {200, 500, NULL, "Your content was flagged by OpenAI as violating content policies",
         C_CONTENT},
        //  recordInfo right after createTask.
        {200, 422, NULL, "recordInfo is null", C_TEMPORARY},
        {422, 0, NULL, "recordInfo is null", C_TEMPORARY},
        {200, 422, NULL, "image_urls is required", C_INVALID},
        {200, 422, NULL, "Your request was rejected by Flow(public error minor upload)", C_CONTENT},
        //  Veo / 4o / Runway / Suno content texts under 400.
        {200, 400, NULL, "Your prompt was flagged by Website as violating content policies",
         C_CONTENT},
        {200, 400, NULL, "Your content was flagged by OpenAI as violating content policies",
         C_CONTENT},
        {200, 400, NULL, "Inappropriate content detected. Please replace the image or video.",
         C_CONTENT},
        {200, 400, NULL, "Prompt caught by AI moderator", C_CONTENT},
        {200, 400, NULL, "The lyrics contain copyrighted material", C_CONTENT},
        {200, 400, NULL, "Only English prompts are supported at this time", C_INVALID},
        {200, 400, NULL, "invalid_image_format", C_INVALID},
        {200, 400, NULL, "The prompt is longer than 2048 characters", C_INVALID},
        {200, 418, NULL, "violates our content policy", C_CONTENT},
        {200, 413, NULL, "Payload too large", C_INVALID},
        //  Our input could not be fetched: retry (and re-upload).
        {200, 400, NULL,
         "Failed to fetch the image. Kindly verify any access limits set by you or your service "
         "provider",
         C_TEMPORARY},
        {200, 451, NULL, "Failed to fetch the image", C_TEMPORARY},
        {200, 451, NULL, NULL, C_TEMPORARY},
        //  Configuration: wrong URL, disabled feature.
        {200, 404, NULL, "Not found", C_INVALID},
        {404, 0, NULL, "<html>404</html>", C_INVALID},
        {200, 505, NULL, "Feature disabled", C_INVALID},
        {301, 0, NULL, "Moved Permanently", C_INVALID},
        //  Generation failed (501, Suno 531): the message decides.
        {200, 501, NULL, "public error unsafe image upload", C_CONTENT},
        {200, 501, NULL, "public error minor upload", C_CONTENT},
        {200, 501, NULL, "public error prominent people upload", C_CONTENT},
        {200, 501, NULL, "Input flagged as sensitive", C_CONTENT},
        {200, 501, NULL, "Your request violates the Prohibited Use policy", C_CONTENT},
        {200, 501, NULL, "Generation failed", C_UNKNOWN},
        {200, 501, NULL, "This field is required", C_INVALID},
        {200, 501, NULL, "Task timed out", C_TEMPORARY},
        {200, 531, NULL, "Generation failed, credits refunded", C_UNKNOWN},
        //  A failed task (recordInfo: HTTP 200, code 200, state fail).
        {200, 200, "500", "Internal server error", C_TEMPORARY},
        {200, 501, "500", "Internal server error", C_TEMPORARY}, //  the documented callback
        {200, 200, "500",
         "This content may violate our guardrails concerning similarity to third-party content.",
         C_CONTENT},
        {200, 200, "",
         "We currently do not support uploads of images containing photorealistic people.",
         C_CONTENT},
        {200, 200, NULL, "The service is currently under heavy load, please try again later",
         C_TEMPORARY},
        {200, 200, "", "Generation timed out", C_TEMPORARY},
        {200, 200, "400", "image could not be decoded", C_INVALID},
        {200, 200, "SENSITIVE_WORD_ERROR", "", C_CONTENT},
        {200, 200, "200", "weird", C_UNKNOWN},
        {200, 200, "", "Something went wrong", C_UNKNOWN},
        {200, 200, "", "", C_UNKNOWN},
        {200, 200, NULL, NULL, C_UNKNOWN},
        {200, 200, "", "Unauthorized", C_AUTH},
        //  Lone generic words decide nothing.
        {200, 200, "", "Your request was rejected", C_UNKNOWN},
        {200, 200, "", "No people detected in the image", C_UNKNOWN},
        {200, 200, "", "The content could not be processed", C_UNKNOWN},
        {200, 200, "", "Parameter names are case-sensitive", C_UNKNOWN},
        {200, 200, "", "policy update pending", C_UNKNOWN},
        //  Case does not matter.
        {200, 400, NULL, "YOUR PROMPT WAS FLAGGED", C_CONTENT},
    };
    size_t count = sizeof rows / sizeof rows[0];
    assert_true(count >= 40);
    for (size_t i = 0; i < count; i++) {
        kie_class_t got =
            kie_classify(rows[i].http, rows[i].code, rows[i].fail_code, rows[i].message);
        if (got != rows[i].expected)
            fail_msg("row %zu (HTTP %d, code %d, failCode %s, \"%s\"): %s, expected %s", i,
                     rows[i].http, rows[i].code, rows[i].fail_code ? rows[i].fail_code : "NULL",
                     rows[i].message ? rows[i].message : "NULL", kie_class_name(got),
                     kie_class_name(rows[i].expected));
    }
}

static void test_class_table(void **state) {
    (void)state;
    const char *names[] = {"content_violation", "invalid_request", "auth",    "billing",
                           "rate_limited",      "temporary",       "timeout", "unknown"};
    assert_int_equal(sizeof names / sizeof names[0], KIE_CLASS_COUNT_);
    for (int i = 0; i < KIE_CLASS_COUNT_; i++) {
        assert_string_equal(kie_class_name((kie_class_t)i), names[i]);
        kie_class_t back = KIE_CLASS_UNKNOWN;
        assert_int_equal(kie_class_from_name(names[i], &back), 0);
        assert_int_equal(back, i);
        const kie_class_info_t *info = kie_class_info((kie_class_t)i);
        assert_non_null(info->user_msg);
        assert_true(strncmp(info->user_msg, "job_failed_", 11) == 0);
    }
    kie_class_t untouched = KIE_CLASS_AUTH;
    assert_int_equal(kie_class_from_name("Temporary", &untouched), -1);
    assert_int_equal(kie_class_from_name(NULL, &untouched), -1);
    assert_int_equal(untouched, KIE_CLASS_AUTH);
    assert_string_equal(kie_class_name((kie_class_t)99), "unknown");
    assert_string_equal(kie_class_name((kie_class_t)-1), "unknown");

    //  What each class does (DESIGN.md "Error classes").
    const struct {
        kie_class_t cls;
        kie_retry_t retry;
        kie_key_action_t key;
        bool alert;
    } rows[] = {
        {KIE_CLASS_CONTENT_VIOLATION, KIE_RETRY_NO, KIE_KEY_KEEP, false},
        {KIE_CLASS_INVALID_REQUEST, KIE_RETRY_NO, KIE_KEY_KEEP, true},
        {KIE_CLASS_AUTH, KIE_RETRY_REQUEUE, KIE_KEY_DISABLE, true},
        {KIE_CLASS_BILLING, KIE_RETRY_REQUEUE, KIE_KEY_BILLING, true},
        {KIE_CLASS_RATE_LIMITED, KIE_RETRY_REQUEUE, KIE_KEY_COOL, false},
        {KIE_CLASS_TEMPORARY, KIE_RETRY_BACKOFF, KIE_KEY_KEEP, false},
        {KIE_CLASS_TIMEOUT, KIE_RETRY_NO, KIE_KEY_KEEP, true},
        {KIE_CLASS_UNKNOWN, KIE_RETRY_NO, KIE_KEY_KEEP, false},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const kie_class_info_t *info = kie_class_info(rows[i].cls);
        assert_int_equal(info->retry, rows[i].retry);
        assert_int_equal(info->key_action, rows[i].key);
        assert_int_equal(info->alert_admins, rows[i].alert);
    }
    assert_string_equal(kie_class_info(KIE_CLASS_CONTENT_VIOLATION)->user_msg,
                        "job_failed_content");
    assert_string_equal(kie_class_info(KIE_CLASS_TIMEOUT)->user_msg, "job_failed_timeout");
}

//  --------------------------------------------------------------------------
//  createTask responses

#define S(text) text, sizeof text - 1

static void test_parse_create(void **state) {
    (void)state;
    kie_create_t out;
    assert_int_equal(kie_parse_create(200,
                                      S("{\"code\":200,\"msg\":\"success\",\"data\":{\"taskId\":"
                                        "\"task_abc123\"}}"),
                                      &out),
                     0);
    assert_string_equal(out.task_id, "task_abc123");

    const struct {
        int http;
        const char *body;
        kie_class_t cls;
        int code;
        const char *detail;
    } rows[] = {
        //  HTTP 200 carrying an error code, msg or message.
        {200, "{\"code\":401,\"msg\":\"You do not have access permissions\"}", C_AUTH, 401,
         "HTTP 200, code 401: You do not have access permissions"},
        {200, "{\"code\":402,\"message\":\"Insufficient credits\",\"data\":null}", C_BILLING, 402,
         "HTTP 200, code 402: Insufficient credits"},
        {200, "{\"code\":422,\"msg\":\"prompt is required\",\"data\":null}", C_INVALID, 422,
         "HTTP 200, code 422: prompt is required"},
        {200, "{\"code\":429,\"msg\":\"Too many requests, rejected\"}", C_RATE, 429,
         "HTTP 200, code 429: Too many requests, rejected"},
        {200, "{\"code\":433,\"msg\":\"Key usage over limit\"}", C_BILLING, 433, NULL},
        {200, "{\"code\":455,\"msg\":\"Service maintenance\"}", C_TEMPORARY, 455, NULL},
        {200, "{\"code\":500,\"msg\":\"This field is required\"}", C_INVALID, 500, NULL},
        {200, "{\"code\":500,\"msg\":\"Internal server error while reading content\"}", C_TEMPORARY,
         500, NULL},
        {200, "{\"code\":505,\"msg\":\"Feature disabled\"}", C_INVALID, 505, NULL},
        {200, "{\"code\":\"402\",\"msg\":\"credits\"}", C_BILLING, 402, NULL}, //  code as text
        {200, "{\"code\":402.0,\"msg\":\"credits\"}", C_BILLING, 402, NULL},
        {200, "{\"code\":401,\"msg\":null,\"message\":\"Unauthorized\"}", C_AUTH, 401,
         "HTTP 200, code 401: Unauthorized"},
        {200, "{\"code\":401}", C_AUTH, 401, "HTTP 200, code 401: (no message)"},
        //  Real HTTP errors, with and without a JSON body.
        {401, "{\"code\":401,\"msg\":\"Unauthorized\"}", C_AUTH, 401, NULL},
        {429, "", C_RATE, 0, "HTTP 429: (empty body)"},
        {403, "error code: 1010", C_TEMPORARY, 0, "HTTP 403: error code: 1010"},
        {502,
         "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 "
         "Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
         C_TEMPORARY, 0, "HTTP 502: 502 Bad Gateway 502 Bad Gateway nginx"},
        {503, "{\"code\":503,\"msg\":\"Too many people, try later\"}", C_TEMPORARY, 503, NULL},
        {500, "Internal Server Error", C_TEMPORARY, 0, "HTTP 500: Internal Server Error"},
        //  HTTP 200 whose body is not what it should be.
        {200, "{\"code\":200,\"msg\":\"success\",\"data\":{\"taskId\":\"", C_TEMPORARY, 0,
         NULL}, //  cut short
        {200, "<html>captive portal</html>", C_TEMPORARY, 0, "HTTP 200: captive portal"},
        {200, "[1,2,3]", C_TEMPORARY, 0, "HTTP 200: [1,2,3]"},
        {200, "\"success\"", C_TEMPORARY, 0, NULL},
        {200, "{\"msg\":\"ok\"}", C_UNKNOWN, 0, "HTTP 200, no code: ok"},
        {200, "{\"code\":200,\"msg\":\"success\",\"data\":{}}", C_UNKNOWN, 200,
         "HTTP 200, code 200: no valid data.taskId"},
        {200, "{\"code\":200,\"msg\":\"success\",\"data\":{\"taskId\":\"a b\"}}", C_UNKNOWN, 200,
         NULL},
        {200, "{\"code\":200,\"msg\":\"success\",\"data\":{\"taskId\":42}}", C_UNKNOWN, 200, NULL},
        {200, "{\"code\":200,\"msg\":\"success\",\"data\":null}", C_UNKNOWN, 200, NULL},
        {201, "{\"code\":200,\"msg\":\"success\"}", C_UNKNOWN, 200, NULL},
        {KIE_HTTP_NONE, "", C_TEMPORARY, 0, "no HTTP response"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        memset(&out, 0x5a, sizeof out);
        int rc = kie_parse_create(rows[i].http, rows[i].body, strlen(rows[i].body), &out);
        if (rc != -1) fail_msg("row %zu: parsed", i);
        if (out.error.err_class != rows[i].cls)
            fail_msg("row %zu: %s, expected %s (%s)", i, kie_class_name(out.error.err_class),
                     kie_class_name(rows[i].cls), out.error.detail);
        assert_int_equal(out.error.code, rows[i].code);
        assert_int_equal(out.error.http_status, rows[i].http);
        assert_string_equal(out.task_id, "");
        assert_true(s_clean_text(out.error.detail));
        if (rows[i].detail && strcmp(out.error.detail, rows[i].detail) != 0)
            fail_msg("row %zu: detail \"%s\", expected \"%s\"", i, out.error.detail,
                     rows[i].detail);
    }
    //  snake_case task id accepted; NULL body is an empty body.
    assert_int_equal(
        kie_parse_create(200, S("{\"code\":200,\"data\":{\"task_id\":\"t-1\"}}"), &out), 0);
    assert_string_equal(out.task_id, "t-1");
    assert_int_equal(kie_parse_create(502, NULL, 0, &out), -1);
    assert_string_equal(out.error.detail, "HTTP 502: (empty body)");
}

//  --------------------------------------------------------------------------
//  recordInfo

static void test_parse_record_states(void **state) {
    (void)state;
    kie_record_t out;
    const struct {
        const char *body;
        kie_state_t state;
        int progress;
    } rows[] = {
        {"{\"code\":200,\"data\":{\"taskId\":\"t1\",\"state\":\"waiting\"}}", KIE_STATE_WAITING,
         -1},
        {"{\"code\":200,\"data\":{\"state\":\"queuing\",\"progress\":0}}", KIE_STATE_QUEUING, 0},
        {"{\"code\":200,\"data\":{\"state\":\"queueing\"}}", KIE_STATE_QUEUING, -1},
        {"{\"code\":200,\"data\":{\"state\":\"generating\",\"progress\":45}}", KIE_STATE_GENERATING,
         45},
        {"{\"code\":200,\"data\":{\"state\":\"GENERATING\",\"progress\":\"77\"}}",
         KIE_STATE_GENERATING, 77},
        {"{\"code\":200,\"data\":{\"state\":\"generating\",\"progress\":12.9}}",
         KIE_STATE_GENERATING, 12},
        {"{\"code\":200,\"data\":{\"state\":\"generating\",\"progress\":101}}",
         KIE_STATE_GENERATING, -1},
        {"{\"code\":200,\"data\":{\"state\":\"generating\",\"progress\":-3}}", KIE_STATE_GENERATING,
         -1},
        {"{\"code\":200,\"data\":{\"state\":\"generating\",\"progress\":null}}",
         KIE_STATE_GENERATING, -1},
        {"{\"code\":200,\"data\":{\"state\":\"generating\",\"progress\":\"45%\"}}",
         KIE_STATE_GENERATING, -1},
        {"{\"code\":200,\"data\":{\"state\":\"generating\",\"progress\":true}}",
         KIE_STATE_GENERATING, -1},
        {"{\"code\":200,\"data\":{\"state\":\"pending\"}}", KIE_STATE_OTHER, -1},
        {"{\"code\":200,\"data\":{\"taskId\":\"t1\"}}", KIE_STATE_OTHER, -1},
        {"{\"code\":200,\"data\":{\"state\":7}}", KIE_STATE_OTHER, -1},
        //  Just created: not visible yet, in every spelling seen.
        {"{\"code\":422,\"msg\":\"recordInfo is null\",\"data\":null}", KIE_STATE_NOT_VISIBLE, -1},
        {"{\"code\":422,\"message\":\"recordInfo is null\"}", KIE_STATE_NOT_VISIBLE, -1},
        {"{\"code\":422,\"data\":null}", KIE_STATE_NOT_VISIBLE, -1},
        {"{\"code\":200,\"msg\":\"success\",\"data\":null}", KIE_STATE_NOT_VISIBLE, -1},
        {"{\"code\":200,\"msg\":\"success\"}", KIE_STATE_NOT_VISIBLE, -1},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int rc = kie_parse_record(200, rows[i].body, strlen(rows[i].body), &out);
        if (rc != 0) fail_msg("row %zu: %s", i, out.error.detail);
        if (out.state != rows[i].state)
            fail_msg("row %zu: state %s, expected %s", i, kie_state_name(out.state),
                     kie_state_name(rows[i].state));
        if (out.progress != rows[i].progress)
            fail_msg("row %zu: progress %d, expected %d", i, out.progress, rows[i].progress);
        assert_int_equal(out.result_count, 0);
    }
    //  HTTP 422 with the same body counts too.
    assert_int_equal(
        kie_parse_record(422, S("{\"code\":422,\"msg\":\"recordInfo is null\"}"), &out), 0);
    assert_int_equal(out.state, KIE_STATE_NOT_VISIBLE);
    //  Any other 422 is an error, as is anything not a record.
    assert_int_equal(
        kie_parse_record(200, S("{\"code\":422,\"msg\":\"taskId is required\"}"), &out), -1);
    assert_int_equal(out.error.err_class, C_INVALID);
    assert_int_equal(kie_parse_record(200, S("{\"code\":200,\"data\":[1]}"), &out), -1);
    assert_int_equal(out.error.err_class, C_UNKNOWN);
    assert_int_equal(
        kie_parse_record(503, S("<html><body>Service Unavailable</body></html>"), &out), -1);
    assert_int_equal(out.error.err_class, C_TEMPORARY);
    assert_string_equal(out.error.detail, "HTTP 503: Service Unavailable");
    assert_int_equal(kie_parse_record(200, S("{\"code\":401,\"msg\":\"Unauthorized\"}"), &out), -1);
    assert_int_equal(out.error.err_class, C_AUTH);
    assert_int_equal(kie_parse_record(403, S("error code: 1010"), &out), -1);
    assert_int_equal(out.error.err_class, C_TEMPORARY);

    assert_string_equal(kie_state_name(KIE_STATE_NOT_VISIBLE), "not_visible");
    assert_string_equal(kie_state_name(KIE_STATE_OTHER), "other");
    assert_string_equal(kie_state_name((kie_state_t)42), "?");
}

static void test_parse_record_success(void **state) {
    (void)state;
    kie_record_t out;
    const char body[] =
        "{\"code\":200,\"msg\":\"success\",\"data\":{"
        "\"taskId\":\"task_9f8e\",\"model\":\"sora-2-image-to-video\",\"state\":\"success\","
        "\"param\":\"{\\\"model\\\":\\\"sora-2-image-to-video\\\"}\","
        "\"resultJson\":\"{\\\"resultUrls\\\":[\\\"https://file.aiquickdraw.com/v/1.mp4\\\"]}\","
        "\"failCode\":\"\",\"failMsg\":\"\",\"costTime\":15000,"
        "\"completeTime\":1698765432000,\"createTime\":1698765400000,\"updateTime\":1698765432001,"
        "\"progress\":100}}";
    assert_int_equal(kie_parse_record(200, S(body), &out), 0);
    assert_int_equal(out.state, KIE_STATE_SUCCESS);
    assert_string_equal(out.state_text, "success");
    assert_string_equal(out.task_id, "task_9f8e");
    assert_string_equal(out.model, "sora-2-image-to-video");
    assert_int_equal(out.result_count, 1);
    assert_string_equal(out.result_urls[0], "https://file.aiquickdraw.com/v/1.mp4");
    assert_false(out.watermarked);
    assert_int_equal(out.progress, 100);
    assert_int_equal(out.create_ms, 1698765400000);
    assert_int_equal(out.update_ms, 1698765432001);
    assert_int_equal(out.complete_ms, 1698765432000);
    assert_string_equal(out.fail_code, "");
    assert_string_equal(out.fail_msg, "");

    //  Success without a progress: it stays absent, never invented.
    assert_int_equal(
        kie_parse_record(200,
                         S("{\"code\":200,\"data\":{\"state\":\"success\",\"resultJson\":"
                           "\"{\\\"resultUrls\\\":[\\\"https://x.io/a.mp4\\\",\\\"ftp://"
                           "no\\\",7,\\\"https://x.io/b.mp4\\\"]}\"}}"),
                         &out),
        0);
    assert_int_equal(out.progress, -1);
    assert_int_equal(out.create_ms, 0);
    assert_int_equal(out.result_count, 2); //  the non-URLs skipped
    assert_string_equal(out.result_urls[1], "https://x.io/b.mp4");

    //  resultJson as an object (accepted), a lone URL string, and only
    //  watermarked URLs (taken, flagged).
    assert_int_equal(kie_parse_record(200,
                                      S("{\"code\":200,\"data\":{\"state\":\"success\","
                                        "\"resultJson\":{\"resultUrls\":[\"https://x.io/o.mp4\"]}}"
                                        "}"),
                                      &out),
                     0);
    assert_int_equal(out.state, KIE_STATE_SUCCESS);
    assert_string_equal(out.result_urls[0], "https://x.io/o.mp4");
    assert_int_equal(
        kie_parse_record(200,
                         S("{\"code\":200,\"data\":{\"state\":\"success\",\"resultJson\":"
                           "\"{\\\"resultUrls\\\":\\\"https://x.io/s.mp4\\\"}\"}}"),
                         &out),
        0);
    assert_int_equal(out.result_count, 1);
    assert_int_equal(
        kie_parse_record(200,
                         S("{\"code\":200,\"data\":{\"state\":\"success\",\"resultJson\":"
                           "\"{\\\"resultUrls\\\":[],\\\"resultWaterMarkUrls\\\":[\\\"https:"
                           "//x.io/w.mp4\\\"]}\"}}"),
                         &out),
        0);
    assert_int_equal(out.state, KIE_STATE_SUCCESS);
    assert_true(out.watermarked);
    assert_string_equal(out.result_urls[0], "https://x.io/w.mp4");
    //  Both: the clean URLs win.
    assert_int_equal(
        kie_parse_record(200,
                         S("{\"code\":200,\"data\":{\"state\":\"success\",\"resultJson\":"
                           "\"{\\\"resultUrls\\\":[\\\"https://x.io/c.mp4\\\"],"
                           "\\\"resultWaterMarkUrls\\\":[\\\"https://x.io/w.mp4\\\"]}\"}}"),
                         &out),
        0);
    assert_false(out.watermarked);
    assert_int_equal(out.result_count, 1);
    assert_string_equal(out.result_urls[0], "https://x.io/c.mp4");
    //  More URLs than kept.
    assert_int_equal(
        kie_parse_record(200,
                         S("{\"code\":200,\"data\":{\"state\":\"success\",\"resultJson\":"
                           "\"{\\\"resultUrls\\\":[\\\"https://a/1\\\",\\\"https://a/2\\\","
                           "\\\"https://a/3\\\",\\\"https://a/4\\\",\\\"https://a/5\\\"]}\"}"
                           "}"),
                         &out),
        0);
    assert_int_equal(out.result_count, KIE_MAX_RESULTS);

    //  Success without a usable URL is a failure (class unknown), whatever
    //  the reason.
    const char *no_url[] = {
        "{\"code\":200,\"data\":{\"state\":\"success\"}}",
        "{\"code\":200,\"data\":{\"state\":\"success\",\"resultJson\":null}}",
        "{\"code\":200,\"data\":{\"state\":\"success\",\"resultJson\":\"\"}}",
        "{\"code\":200,\"data\":{\"state\":\"success\",\"resultJson\":\"{\\\"resultUrls\\\":[\"}}",
        "{\"code\":200,\"data\":{\"state\":\"success\",\"resultJson\":\"[\\\"https://x/1\\\"]\"}}",
        "{\"code\":200,\"data\":{\"state\":\"success\",\"resultJson\":\"{\\\"resultUrls\\\":[]}\"}"
        "}",
        "{\"code\":200,\"data\":{\"state\":\"success\",\"resultJson\":\"{\\\"resultObject\\\":{"
        "\\\"text\\\":\\\"hi\\\"}}\"}}",
        "{\"code\":200,\"data\":{\"state\":\"success\",\"resultJson\":\"{\\\"resultUrls\\\":[\\\""
        "javascript:alert(1)\\\"]}\"}}",
        "{\"code\":200,\"data\":{\"state\":\"success\",\"resultJson\":42}}",
    };
    for (size_t i = 0; i < sizeof no_url / sizeof no_url[0]; i++) {
        if (kie_parse_record(200, no_url[i], strlen(no_url[i]), &out) != 0)
            fail_msg("no_url %zu: %s", i, out.error.detail);
        if (out.state != KIE_STATE_FAIL) fail_msg("no_url %zu: %s", i, kie_state_name(out.state));
        assert_int_equal(out.fail_class, C_UNKNOWN);
        assert_int_equal(out.result_count, 0);
        assert_true(strncmp(out.fail_msg, "success without a result URL: ", 30) == 0);
    }
    assert_int_equal(kie_parse_record(200, no_url[6], strlen(no_url[6]), &out), 0);
    assert_string_equal(out.fail_msg,
                        "success without a result URL: resultJson holds resultObject, no URLs");
    assert_int_equal(kie_parse_record(200, no_url[3], strlen(no_url[3]), &out), 0);
    assert_string_equal(out.fail_msg,
                        "success without a result URL: resultJson is not a JSON object");
}

static void test_parse_record_fail(void **state) {
    (void)state;
    kie_record_t out;
    const struct {
        const char *data;
        const char *fail_code, *fail_msg;
        kie_class_t cls;
    } rows[] = {
        {"\"failCode\":\"500\",\"failMsg\":\"Internal server error\"", "500",
         "Internal server error", C_TEMPORARY},
        {"\"failCode\":500,\"failMsg\":\"Internal server error\"", "500", "Internal server error",
         C_TEMPORARY},
        {"\"failCode\":500.0,\"failMsg\":\"x\"", "500", "x", C_TEMPORARY},
        {"\"failCode\":\"400\",\"failMsg\":\"We currently do not support uploads of images "
         "containing photorealistic people.\"",
         "400", "We currently do not support uploads of images containing photorealistic people.",
         C_CONTENT},
        {"\"failCode\":\"500\",\"failMsg\":\"Server error processing content\"", "500",
         "Server error processing content", C_TEMPORARY},
        {"\"failCode\":null,\"failMsg\":null", "", "", C_UNKNOWN},
        {"\"failCode\":\"\",\"failMsg\":\"Generation timed out\"", "", "Generation timed out",
         C_TEMPORARY},
        {"\"failCode\":\"SENSITIVE_WORD_ERROR\"", "SENSITIVE_WORD_ERROR", "", C_CONTENT},
        {"\"failCode\":true,\"failMsg\":[1]", "", "", C_UNKNOWN},
        {"\"failMsg\":\"line one\\nline\\ttwo\\u0007 end\"", "", "line one line two end",
         C_UNKNOWN},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char body[1024];
        snprintf(body, sizeof body,
                 "{\"code\":200,\"msg\":\"success\",\"data\":{\"taskId\":\"t\",\"state\":\"fail\","
                 "%s}}",
                 rows[i].data);
        if (kie_parse_record(200, body, strlen(body), &out) != 0)
            fail_msg("row %zu: %s", i, out.error.detail);
        assert_int_equal(out.state, KIE_STATE_FAIL);
        if (strcmp(out.fail_code, rows[i].fail_code) != 0)
            fail_msg("row %zu: failCode \"%s\", expected \"%s\"", i, out.fail_code,
                     rows[i].fail_code);
        if (strcmp(out.fail_msg, rows[i].fail_msg) != 0)
            fail_msg("row %zu: failMsg \"%s\", expected \"%s\"", i, out.fail_msg, rows[i].fail_msg);
        if (out.fail_class != rows[i].cls)
            fail_msg("row %zu: %s, expected %s", i, kie_class_name(out.fail_class),
                     kie_class_name(rows[i].cls));
    }
    //  A failed state never carries results, even when resultJson has URLs.
    assert_int_equal(kie_parse_record(200,
                                      S("{\"code\":200,\"data\":{\"state\":\"fail\",\"resultJson\":"
                                        "\"{\\\"resultUrls\\\":[\\\"https://x/1\\\"]}\"}}"),
                                      &out),
                     0);
    assert_int_equal(out.result_count, 0);
}

//  --------------------------------------------------------------------------
//  Callbacks

static void test_parse_callback(void **state) {
    (void)state;
    kie_record_t out;
    //  The documented success and failure callbacks.
    assert_int_equal(
        kie_parse_callback(
            S("{\"code\":200,\"msg\":\"Playground task completed successfully.\",\"data\":{"
              "\"taskId\":\"cb1\",\"model\":\"sora-2-image-to-video\",\"state\":\"success\","
              "\"param\":\"{}\",\"resultJson\":\"{\\\"resultUrls\\\":[\\\"https://r/1.mp4\\\"]}\","
              "\"failCode\":null,\"failMsg\":null,\"costTime\":8,\"completeTime\":1755599644000,"
              "\"createTime\":1755599634000}}"),
            &out),
        0);
    assert_int_equal(out.state, KIE_STATE_SUCCESS);
    assert_string_equal(out.task_id, "cb1");
    assert_string_equal(out.result_urls[0], "https://r/1.mp4");
    assert_int_equal(out.complete_ms, 1755599644000);

    assert_int_equal(kie_parse_callback(S("{\"code\":501,\"msg\":\"Playground task failed.\","
                                          "\"data\":{\"taskId\":\"cb2\",\"state\":\"fail\","
                                          "\"failCode\":\"500\",\"failMsg\":\"Internal server "
                                          "error\",\"resultJson\":null}}"),
                                        &out),
                     0);
    assert_int_equal(out.state, KIE_STATE_FAIL);
    assert_int_equal(out.fail_class, C_TEMPORARY);

    assert_int_equal(kie_parse_callback(S("{\"code\":501,\"msg\":\"Playground task failed.\","
                                          "\"data\":{\"taskId\":\"cb3\",\"state\":\"fail\","
                                          "\"failCode\":\"\",\"failMsg\":\"Your content was "
                                          "flagged by OpenAI as violating content policies\"}}"),
                                        &out),
                     0);
    assert_int_equal(out.fail_class, C_CONTENT);

    //  snake_case task id (Runway/Suno style), no state: the code decides.
    assert_int_equal(kie_parse_callback(S("{\"code\":501,\"msg\":\"generation failed\","
                                          "\"data\":{\"task_id\":\"cb4\"}}"),
                                        &out),
                     0);
    assert_string_equal(out.task_id, "cb4");
    assert_int_equal(out.state, KIE_STATE_FAIL);
    assert_int_equal(out.fail_class, C_UNKNOWN);
    assert_int_equal(
        kie_parse_callback(S("{\"code\":200,\"data\":{\"taskId\":\"cb5\",\"resultJson\":"
                             "\"{\\\"resultUrls\\\":[\\\"https://r/5.mp4\\\"]}\"}}"),
                           &out),
        0);
    assert_int_equal(out.state, KIE_STATE_SUCCESS);
    //  Not a callback.
    const struct {
        const char *body;
        const char *detail;
    } bad[] = {
        {"", "callback: not a JSON object: (empty body)"},
        {"hello", "callback: not a JSON object: hello"},
        {"{\"code\":200}", "callback: data is not an object"},
        {"{\"code\":200,\"msg\":\"ok\",\"data\":{\"state\":\"success\"}}",
         "callback: no valid data.taskId: ok"},
        {"{\"code\":200,\"data\":{\"taskId\":\"bad id\"}}", "callback: no valid data.taskId"},
        {"{\"code\":200,\"data\":{\"taskId\":\"\"}}", "callback: no valid data.taskId"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(kie_parse_callback(bad[i].body, strlen(bad[i].body), &out), -1);
        assert_int_equal(out.error.err_class, C_INVALID);
        if (strcmp(out.error.detail, bad[i].detail) != 0)
            fail_msg("bad %zu: \"%s\", expected \"%s\"", i, out.error.detail, bad[i].detail);
    }
    assert_int_equal(kie_parse_callback(NULL, 0, &out), -1);
}

//  --------------------------------------------------------------------------
//  Upload and credit

static void test_parse_upload_and_credit(void **state) {
    (void)state;
    kie_upload_t up;
    assert_int_equal(
        kie_parse_upload(200,
                         S("{\"success\":true,\"code\":200,\"msg\":\"File uploaded successfully\","
                           "\"data\":{\"success\":true,\"fileName\":\"a.jpg\",\"filePath\":"
                           "\"genbot/a.jpg\",\"downloadUrl\":\"https://tempfile.redpandaai.co/"
                           "kieai/genbot/a.jpg\",\"fileSize\":1234,\"mimeType\":\"image/jpeg\","
                           "\"uploadedAt\":\"2025-01-01T00:00:00Z\"}}"),
                         &up),
        0);
    assert_string_equal(up.url, "https://tempfile.redpandaai.co/kieai/genbot/a.jpg");
    //  The documented shape: fileUrl when there is no downloadUrl.
    assert_int_equal(kie_parse_upload(200,
                                      S("{\"code\":200,\"msg\":\"ok\",\"data\":{\"fileId\":\"f\","
                                        "\"fileUrl\":\"https://kie/f.png\",\"downloadUrl\":null}}"),
                                      &up),
                     0);
    assert_string_equal(up.url, "https://kie/f.png");
    assert_int_equal(kie_parse_upload(200,
                                      S("{\"code\":200,\"data\":{\"downloadUrl\":\"nope\","
                                        "\"fileUrl\":\"https://kie/g.png\"}}"),
                                      &up),
                     0);
    assert_string_equal(up.url, "https://kie/g.png");
    assert_int_equal(kie_parse_upload(200,
                                      S("{\"success\":false,\"code\":200,\"data\":{"
                                        "\"downloadUrl\":\"https://kie/f.png\"}}"),
                                      &up),
                     -1);
    assert_string_equal(up.error.detail, "HTTP 200, code 200: success is false");
    assert_int_equal(kie_parse_upload(200, S("{\"code\":200,\"data\":{}}"), &up), -1);
    assert_int_equal(up.error.err_class, C_UNKNOWN);
    assert_string_equal(up.url, "");
    assert_int_equal(kie_parse_upload(200, S("{\"code\":401,\"msg\":\"Unauthorized\"}"), &up), -1);
    assert_int_equal(up.error.err_class, C_AUTH);
    assert_int_equal(kie_parse_upload(404, S("404 page not found"), &up), -1);
    assert_int_equal(up.error.err_class, C_INVALID);
    assert_int_equal(kie_parse_upload(413, S("<html>Request Entity Too Large</html>"), &up), -1);
    assert_int_equal(up.error.err_class, C_INVALID);

    kie_credit_t credit;
    assert_int_equal(
        kie_parse_credit(200, S("{\"code\":200,\"msg\":\"success\",\"data\":100}"), &credit), 0);
    assert_true(credit.credits == 100.0);
    assert_int_equal(
        kie_parse_credit(200, S("{\"code\":200,\"msg\":\"success\",\"data\":12.5}"), &credit), 0);
    assert_true(credit.credits == 12.5);
    assert_int_equal(kie_parse_credit(200, S("{\"code\":200,\"data\":\"100\"}"), &credit), -1);
    assert_string_equal(credit.error.detail, "HTTP 200, code 200: data is not a number");
    assert_int_equal(kie_parse_credit(200, S("{\"code\":200}"), &credit), -1);
    assert_int_equal(kie_parse_credit(200,
                                      S("{\"code\":401,\"msg\":\"You do not have access "
                                        "permissions\"}"),
                                      &credit),
                     -1);
    assert_int_equal(credit.error.err_class, C_AUTH);
}

//  --------------------------------------------------------------------------
//  Hostile bodies

static const char *s_bodies[] = {
    "{\"code\":200,\"msg\":\"success\",\"data\":{\"taskId\":\"task_abc123\"}}",
    "{\"code\":200,\"msg\":\"success\",\"data\":{\"taskId\":\"t\",\"model\":\"sora-2-image-to-"
    "video\",\"state\":\"success\",\"param\":\"{\\\"a\\\":1}\",\"resultJson\":\"{\\\"resultUrls\\\""
    ":[\\\"https://x.io/a.mp4\\\"],\\\"resultWaterMarkUrls\\\":[\\\"https://x.io/w.mp4\\\"]}\","
    "\"failCode\":\"\",\"failMsg\":\"\",\"costTime\":15000,\"completeTime\":1698765432000,"
    "\"createTime\":1698765400000,\"progress\":100}}",
    "{\"code\":501,\"msg\":\"Playground task failed.\",\"data\":{\"taskId\":\"t\",\"state\":"
    "\"fail\",\"failCode\":500,\"failMsg\":\"Internal server error \\u00e9\\u4e2d\","
    "\"resultJson\":null}}",
    "{\"code\":422,\"msg\":\"recordInfo is null\",\"data\":null}",
    "{\"success\":true,\"code\":200,\"msg\":\"File uploaded successfully\",\"data\":{"
    "\"downloadUrl\":\"https://tempfile.redpandaai.co/a.jpg\",\"fileUrl\":\"https://k/b\"}}",
    "{\"code\":200,\"msg\":\"success\",\"data\":123.25}",
    "<html>\r\n<head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
    "error code: 1010",
    "{\"code\":402,\"message\":\"Недостаточно кредитов 💳\"}",
};

//  Checks the invariants every parse result keeps, whatever the input.
static void s_check_record(const kie_record_t *out, int rc) {
    assert_true(rc == 0 || rc == -1);
    assert_true(s_clean_text(out->error.detail));
    assert_true(s_clean_text(out->fail_msg));
    assert_true(s_clean_text(out->state_text));
    assert_true(s_clean_text(out->model));
    assert_true(s_clean_text(out->fail_code));
    assert_true(out->progress >= -1 && out->progress <= 100);
    assert_true(out->result_count <= KIE_MAX_RESULTS);
    assert_true((int)out->state >= 0 && out->state <= KIE_STATE_OTHER);
    assert_true((int)out->fail_class >= 0 && out->fail_class < KIE_CLASS_COUNT_);
    if (rc == 0 && out->state == KIE_STATE_SUCCESS) assert_true(out->result_count >= 1);
    if (out->state != KIE_STATE_SUCCESS) assert_int_equal(out->result_count, 0);
    for (size_t i = 0; i < out->result_count; i++)
        assert_true(strncmp(out->result_urls[i], "http", 4) == 0);
    if (rc == -1) assert_true(*out->error.detail);
}

static void s_parse_all(const char *body, size_t size, int http) {
    kie_create_t create;
    int rc = kie_parse_create(http, body, size, &create);
    assert_true(s_clean_text(create.error.detail));
    if (rc == 0) assert_true(kie_task_id_valid(create.task_id));
    kie_record_t *record = malloc(sizeof *record);
    rc = kie_parse_record(http, body, size, record);
    s_check_record(record, rc);
    rc = kie_parse_callback(body, size, record);
    s_check_record(record, rc);
    free(record);
    kie_upload_t upload;
    rc = kie_parse_upload(http, body, size, &upload);
    assert_true(s_clean_text(upload.error.detail));
    if (rc == 0) assert_true(strncmp(upload.url, "http", 4) == 0);
    kie_credit_t credit;
    kie_parse_credit(http, body, size, &credit);
    assert_true(s_clean_text(credit.error.detail));
}

static void test_truncated_bodies(void **state) {
    (void)state;
    for (size_t b = 0; b < sizeof s_bodies / sizeof s_bodies[0]; b++) {
        size_t length = strlen(s_bodies[b]);
        for (size_t cut = 0; cut <= length; cut++) {
            //  Exactly cut bytes, no NUL after them: ASan catches over-reads.
            char *copy = malloc(cut ? cut : 1);
            memcpy(copy, s_bodies[b], cut);
            s_parse_all(copy, cut, 200);
            s_parse_all(copy, cut, 500);
            //  A prefix of a JSON body is never a success.
            if (cut < length && s_bodies[b][0] == '{') {
                kie_create_t create;
                assert_int_equal(kie_parse_create(200, copy, cut, &create), -1);
                assert_int_equal(create.error.err_class, C_TEMPORARY);
            }
            free(copy);
        }
    }
}

static void test_mutated_bodies(void **state) {
    (void)state;
    srand(12345);
    long rounds = s_scaled(20000);
    for (long r = 0; r < rounds; r++) {
        const char *base = s_bodies[(size_t)rand() % (sizeof s_bodies / sizeof s_bodies[0])];
        size_t length = strlen(base);
        char *copy = malloc(length);
        memcpy(copy, base, length);
        int flips = 1 + rand() % 4;
        for (int f = 0; f < flips; f++)
            copy[(size_t)rand() % length] = (char)(rand() % 256);
        s_parse_all(copy, length, (rand() % 2) ? 200 : 502);
        free(copy);
    }
}

static void test_hostile_text(void **state) {
    (void)state;
    kie_create_t out;
    //  Invalid UTF-8, control characters and a NUL inside a non-JSON body.
    const char raw[] = "bad \xff\xfe bytes\x01\x02 and \xe2\x82 cut\0after NUL \xed\xa0\x80 end";
    assert_int_equal(kie_parse_create(502, raw, sizeof raw - 1, &out), -1);
    assert_true(s_clean_text(out.error.detail));
    assert_string_equal(out.error.detail, "HTTP 502: bad ?? bytes and ?? cut after NUL ??? end");
    //  A message far longer than the detail: cut on a character boundary.
    size_t size = 3 * KIE_DETAIL_MAX + 64;
    char *body = malloc(size);
    int at = snprintf(body, size, "{\"code\":500,\"msg\":\"");
    while ((size_t)at + 4 < size - 3)
        at += snprintf(body + at, size - (size_t)at, "ж");
    at += snprintf(body + at, size - (size_t)at, "\"}");
    assert_int_equal(kie_parse_create(200, body, (size_t)at, &out), -1);
    assert_true(s_clean_text(out.error.detail));
    assert_true(strlen(out.error.detail) < KIE_DETAIL_MAX);
    size_t length = strlen(out.error.detail);
    assert_string_equal(out.error.detail + length - 3, "...");
    free(body);
    //  A body over KIE_BODY_MAX is not parsed.
    char *huge = calloc(1, KIE_BODY_MAX + 2);
    memset(huge, ' ', KIE_BODY_MAX + 1);
    huge[0] = '{';
    assert_int_equal(kie_parse_create(200, huge, KIE_BODY_MAX + 1, &out), -1);
    assert_non_null(strstr(out.error.detail, "over"));
    free(huge);
    //  Deep nesting does not crash the parser.
    size_t depth = 100000;
    char *deep = malloc(2 * depth);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    assert_int_equal(kie_parse_create(200, deep, 2 * depth, &out), -1);
    free(deep);
}

//  --------------------------------------------------------------------------
//  Requests

static void test_create_task_body(void **state) {
    (void)state;
    catalog_t *catalog = catalog_new_default();
    const catalog_model_t *model = catalog_at(catalog, 0);
    const char *urls[] = {PHOTO_URL};
    char err[KIE_DETAIL_MAX];

    //  Without a callback URL: no callBackUrl key at all.
    char *text =
        kie_create_task_body(model, "Ролик: бутылка \"воды\" на столе\n", urls, 1, NULL, err);
    assert_non_null(text);
    assert_true(strncmp(text, "{\"model\":", 9) == 0);
    json_t *body = json_loads(text, 0, NULL);
    assert_non_null(body);
    assert_int_equal(json_object_size(body), 2);
    assert_string_equal(json_string_value(json_object_get(body, "model")), "sora-2-image-to-video");
    assert_null(json_object_get(body, "callBackUrl"));
    json_t *input = json_object_get(body, "input");
    assert_int_equal(json_object_size(input), 5);
    assert_string_equal(json_string_value(json_object_get(input, "prompt")),
                        "Ролик: бутылка \"воды\" на столе\n");
    assert_string_equal(json_string_value(json_array_get(json_object_get(input, "image_urls"), 0)),
                        PHOTO_URL);
    assert_int_equal(json_array_size(json_object_get(input, "image_urls")), 1);
    assert_string_equal(json_string_value(json_object_get(input, "aspect_ratio")), "portrait");
    assert_string_equal(json_string_value(json_object_get(input, "n_frames")), "10");
    assert_true(json_is_true(json_object_get(input, "remove_watermark")));
    json_decref(body);
    free(text);

    //  With one; "" is the same as none.
    text = kie_create_task_body(model, "a", urls, 1, "https://bot.example/kie/cb/Zx9", err);
    body = json_loads(text, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(body, "callBackUrl")),
                        "https://bot.example/kie/cb/Zx9");
    assert_int_equal(json_object_size(body), 3);
    json_decref(body);
    free(text);
    text = kie_create_task_body(model, "a", urls, 1, "", err);
    body = json_loads(text, 0, NULL);
    assert_null(json_object_get(body, "callBackUrl"));
    json_decref(body);
    free(text);

    //  The catalog's slug, not its id.
    catalog_t *custom = catalog_load_string(
        S("{\"models\":[{\"id\":\"sora-15\",\"model\":\"sora-2-image-to-video\",\"title\":{\"ru\":"
          "\"a\",\"en\":\"b\"},\"kind\":\"video\",\"price\":2,\"needs\":[\"photo\",\"prompt\"],"
          "\"input\":{\"n_frames\":\"15\"}}]}"),
        err);
    assert_non_null(custom);
    text = kie_create_task_body(catalog_at(custom, 0), "a", urls, 1, NULL, err);
    assert_string_equal(text, "{\"model\":\"sora-2-image-to-video\",\"input\":{\"prompt\":\"a\","
                              "\"image_urls\":[\"" PHOTO_URL "\"],\"n_frames\":\"15\"}}");
    free(text);
    catalog_destroy(&custom);

    //  Bad inputs.
    assert_null(kie_create_task_body(model, "a", urls, 1, "ftp://x", err));
    assert_string_equal(err, "callBackUrl: not an http(s) URL of printable ASCII");
    assert_null(kie_create_task_body(model, "a", urls, 1, "https://x/a b", err));
    assert_null(kie_create_task_body(model, NULL, urls, 1, NULL, err));
    assert_string_equal(err, "prompt: sora-2-image-to-video needs a prompt");
    assert_null(kie_create_task_body(model, "a", NULL, 0, NULL, err));
    assert_non_null(strstr(err, "image_urls"));
    assert_null(kie_create_task_body(model, "a", NULL, 0, NULL, NULL));
    catalog_destroy(&catalog);
}

static void test_paths_and_secrets(void **state) {
    (void)state;
    char *path = kie_record_info_path("task_abc-123.x");
    assert_string_equal(path, "/api/v1/jobs/recordInfo?taskId=task_abc-123.x");
    free(path);
    path = kie_record_info_path("a:b");
    assert_string_equal(path, "/api/v1/jobs/recordInfo?taskId=a%3Ab");
    free(path);
    const char *bad_ids[] = {NULL, "", "a b", "a&b=c", "a/b", "a?b", "a#b", "я", "a\nb"};
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        assert_null(kie_record_info_path(bad_ids[i]));
        assert_false(kie_task_id_valid(bad_ids[i]));
    }
    char id[KIE_TASK_ID_MAX + 1];
    memset(id, 'a', sizeof id - 1);
    id[KIE_TASK_ID_MAX] = '\0';
    assert_null(kie_record_info_path(id)); //  KIE_TASK_ID_MAX chars: one too many
    id[KIE_TASK_ID_MAX - 1] = '\0';
    path = kie_record_info_path(id);
    assert_non_null(path);
    free(path);
    assert_string_equal(KIE_PATH_CREATE_TASK, "/api/v1/jobs/createTask");
    assert_string_equal(KIE_PATH_CREDIT, "/api/v1/chat/credit");
    assert_string_equal(KIE_PATH_STREAM_UPLOAD, "/api/file-stream-upload");

    //  Authorization value.
    char value[KIE_AUTH_VALUE_MAX];
    assert_int_equal(kie_auth_value_secret(KEY, value, sizeof value), 0);
    assert_string_equal(value, "Bearer " KEY);
    char small[10] = "untouched";
    assert_int_equal(kie_auth_value_secret(KEY, small, sizeof small), -1);
    assert_string_equal(small, "untouched");
    const char *bad_keys[] = {NULL, "", "a b", "key\n", "ключ"};
    for (size_t i = 0; i < sizeof bad_keys / sizeof bad_keys[0]; i++)
        assert_int_equal(kie_auth_value_secret(bad_keys[i], value, sizeof value), -1);
    char longest[KIE_KEY_MAX + 2];
    memset(longest, 'k', sizeof longest - 1);
    longest[KIE_KEY_MAX + 1] = '\0';
    assert_int_equal(kie_auth_value_secret(longest, value, sizeof value), -1);
    longest[KIE_KEY_MAX] = '\0';
    assert_int_equal(kie_auth_value_secret(longest, value, sizeof value), 0);

    //  Fingerprint: stable, short, never the key.
    char fp[KIE_FINGERPRINT_MAX], fp2[KIE_FINGERPRINT_MAX];
    kie_key_fingerprint(KEY, fp, sizeof fp);
    assert_int_equal(strlen(fp), 13);
    assert_true(strncmp(fp, "0123-", 5) == 0);
    for (size_t i = 5; i < 13; i++)
        assert_non_null(strchr("0123456789abcdef", fp[i]));
    assert_string_equal(kie_key_fingerprint(KEY, fp2, sizeof fp2), fp);
    assert_null(strstr(fp, "0123456789"));
    //  Known value: FNV-1a 64 of "0123456789abcdef0123456789abcdef", folded.
    uint64_t hash = 0xcbf29ce484222325ULL;
    for (const char *c = KEY; *c; c++)
        hash = (hash ^ (unsigned char)*c) * 0x100000001b3ULL;
    char expected[KIE_FINGERPRINT_MAX];
    snprintf(expected, sizeof expected, "0123-%08x",
             (unsigned)((hash ^ (hash >> 32)) & 0xffffffff));
    assert_string_equal(fp, expected);
    //  Keys differing in the last character differ.
    kie_key_fingerprint("0123456789abcdef0123456789abcdee", fp2, sizeof fp2);
    assert_string_not_equal(fp, fp2);
    assert_true(strncmp(fp2, "0123-", 5) == 0);
    //  A short key reveals nothing; odd characters are masked.
    kie_key_fingerprint("short", fp, sizeof fp);
    assert_true(strncmp(fp, "****-", 5) == 0);
    kie_key_fingerprint("a=b\"cdefghijklmnopq", fp, sizeof fp);
    assert_true(strncmp(fp, "a?b?-", 5) == 0);
    assert_string_equal(kie_key_fingerprint(NULL, fp, sizeof fp), "(none)");
    assert_string_equal(kie_key_fingerprint("", fp, sizeof fp), "(none)");
}

static void test_upload_form(void **state) {
    (void)state;
    kie_form_part_t parts[KIE_UPLOAD_PARTS];
    char err[KIE_DETAIL_MAX];
    const unsigned char jpeg[] = {0xff, 0xd8, 0xff, 0xe0, 0x00};
    assert_int_equal(kie_upload_form(jpeg, sizeof jpeg, "genbot/inputs", "AgAD1234.jpg",
                                     "image/jpeg", parts, err),
                     0);
    assert_string_equal(parts[0].name, "file");
    assert_null(parts[0].value);
    assert_ptr_equal(parts[0].data, jpeg);
    assert_int_equal(parts[0].size, sizeof jpeg);
    assert_string_equal(parts[0].file_name, "AgAD1234.jpg");
    assert_string_equal(parts[0].mime_type, "image/jpeg");
    assert_string_equal(parts[1].name, "uploadPath");
    assert_string_equal(parts[1].value, "genbot/inputs");
    assert_string_equal(parts[2].name, "fileName");
    assert_string_equal(parts[2].value, "AgAD1234.jpg");

    const struct {
        const void *data;
        size_t size;
        const char *path, *name, *mime, *fragment;
    } rows[] = {
        {jpeg, 0, "p", "a.jpg", "image/jpeg", "file: 0 bytes"},
        {NULL, 5, "p", "a.jpg", "image/jpeg", "file: 0 bytes"},
        {jpeg, KIE_UPLOAD_MAX + 1, "p", "a.jpg", "image/jpeg", "must be 1..10485760"},
        {jpeg, 5, "", "a.jpg", "image/jpeg", "uploadPath"},
        {jpeg, 5, NULL, "a.jpg", "image/jpeg", "uploadPath"},
        {jpeg, 5, "/abs", "a.jpg", "image/jpeg", "uploadPath"},
        {jpeg, 5, "a/../b", "a.jpg", "image/jpeg", "uploadPath"},
        {jpeg, 5, "a b", "a.jpg", "image/jpeg", "uploadPath"},
        {jpeg, 5, "p", "", "image/jpeg", "fileName"},
        {jpeg, 5, "p", ".hidden", "image/jpeg", "fileName"},
        {jpeg, 5, "p", "a/b.jpg", "image/jpeg", "fileName"},
        {jpeg, 5, "p", "a\".jpg", "image/jpeg", "fileName"},
        {jpeg, 5, "p", NULL, "image/jpeg", "fileName"},
        {jpeg, 5, "p", "a.gif", "image/gif", "mime type"},
        {jpeg, 5, "p", "a.jpg", NULL, "mime type"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        err[0] = '\0';
        if (kie_upload_form(rows[i].data, rows[i].size, rows[i].path, rows[i].name, rows[i].mime,
                            parts, err) != -1)
            fail_msg("row %zu accepted", i);
        if (!strstr(err, rows[i].fragment))
            fail_msg("row %zu: \"%s\", expected \"%s\"", i, err, rows[i].fragment);
    }
    assert_int_equal(kie_upload_form(jpeg, 0, "p", "a", "image/png", parts, NULL), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify_table),       cmocka_unit_test(test_class_table),
        cmocka_unit_test(test_parse_create),         cmocka_unit_test(test_parse_record_states),
        cmocka_unit_test(test_parse_record_success), cmocka_unit_test(test_parse_record_fail),
        cmocka_unit_test(test_parse_callback),       cmocka_unit_test(test_parse_upload_and_credit),
        cmocka_unit_test(test_truncated_bodies),     cmocka_unit_test(test_mutated_bodies),
        cmocka_unit_test(test_hostile_text),         cmocka_unit_test(test_create_task_body),
        cmocka_unit_test(test_paths_and_secrets),    cmocka_unit_test(test_upload_form),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
