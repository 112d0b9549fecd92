/*  test_tgedge.c — the Telegram edge end to end: the notifier and the
    poller against the simulated Telegram (tgsim), with a real ledger.
*/
#include "testutil.h"

#include <jansson.h>
#include <microhttpd.h>

#include "notifier.h"
#include "poller.h"
#include "sendq.h"
#include "tg.h"
#include "tgsim.h"

#define LEDGER_EP   "inproc://edge-ledger"
#define NOTIFIER_EP "inproc://edge-notifier"
#define ACK_EP      "inproc://edge-acks"

typedef struct {
    char *path;
    config_t *config;
    tgsim_t *sim;
    ledger_args_t ledger_args;
    zactor_t *ledger;
    notifier_args_t notifier_args;
    zactor_t *notifier;
    zsock_t *client; //  DEALER to the notifier
} fixture_t;

static void s_sim_start(fixture_t *f, const tgsim_opts_t *opts) {
    f->sim = tgsim_new(opts);
    assert_non_null(f->sim);
    free(f->config->telegram_api_url);
    f->config->telegram_api_url = strdup(tgsim_url(f->sim));
    free(f->config->telegram_bot_token);
    f->config->telegram_bot_token = strdup(tgsim_token(f->sim));
}

static fixture_t *s_fixture(const tgsim_opts_t *opts, int64_t rate, int64_t chat_rate) {
    fixture_t *f = calloc(1, sizeof *f);
    f->path = tu_db_path("edge");
    f->config = tu_config(f->path);
    f->config->tg_rate = rate;
    f->config->tg_chat_rate = chat_rate;
    s_sim_start(f, opts);
    f->ledger_args = (ledger_args_t){.config = f->config, .endpoint = LEDGER_EP};
    f->ledger = ledger_start(&f->ledger_args);
    assert_non_null(f->ledger);
    f->notifier_args = (notifier_args_t){.config = f->config,
                                         .endpoint = NOTIFIER_EP,
                                         .ledger_endpoint = LEDGER_EP,
                                         .retry_base_ms = 20};
    f->notifier = notifier_start(&f->notifier_args);
    assert_non_null(f->notifier);
    f->client = zsock_new_dealer(NOTIFIER_EP);
    return f;
}

static void s_fixture_destroy(fixture_t **f_p) {
    fixture_t *f = *f_p;
    zsock_destroy(&f->client);
    zactor_destroy(&f->notifier);
    zactor_destroy(&f->ledger);
    tgsim_destroy(&f->sim);
    tu_assert_check(f->path);
    tu_db_remove(f->path);
    free(f->path);
    config_destroy(&f->config);
    free(f);
    *f_p = NULL;
}

//  A sendMessage call for chat with text, answered with corr (0 = no answer).
static void s_send_text(fixture_t *f, int64_t chat, const char *text, int priority, uint64_t corr) {
    json_t *params = json_pack("{s:I, s:s}", "chat_id", (json_int_t)chat, "text", text);
    char *json = json_dumps(params, JSON_COMPACT);
    msg_t *call = notifier_call("sendMessage", json, chat, priority);
    msg_set_corr(call, corr);
    assert_int_equal(msg_send(&call, f->client), 0);
    free(json);
    json_decref(params);
}

static msg_t *s_result(fixture_t *f, int timeout_ms) {
    zpoller_t *poller = zpoller_new(f->client, NULL);
    msg_t *reply = NULL;
    if (zpoller_wait(poller, timeout_ms)) {
        msg_err_t err;
        reply = msg_recv(f->client, &err);
    }
    zpoller_destroy(&poller);
    return reply;
}

//  500 messages to 50 chats: all delivered, in order per chat, no 429, at
//  no more than the configured rates (ours a little under the simulator's).
static void test_burst_delivered_in_order_without_429(void **state) {
    (void)state;
    tgsim_opts_t opts;
    tgsim_opts_init(&opts);
    opts.enforce_limits = true;
    opts.global_per_s = 400;
    opts.chat_per_s = 12;
    opts.chat_burst = 3;
    fixture_t *f = s_fixture(&opts, 300, 10);
    enum { CHATS = 50, PER_CHAT = 10 };
    for (int c = 1; c <= CHATS; c++)
        tgsim_user_add(f->sim, 1000 + c, "u", "en");
    for (int i = 0; i < PER_CHAT; i++)
        for (int c = 1; c <= CHATS; c++) {
            char text[32];
            snprintf(text, sizeof text, "m%d", i);
            s_send_text(f, 1000 + c, text, SENDQ_INTERACTIVE, 0);
        }
    assert_int_equal(tgsim_wait_calls(f->sim, "sendMessage", CHATS * PER_CHAT, 30000), 0);
    tgsim_stats_t stats;
    tgsim_stats(f->sim, &stats);
    assert_int_equal(stats.flood, 0);
    assert_int_equal(tgsim_calls_ok(f->sim, "sendMessage"), CHATS * PER_CHAT);
    //  per chat, in order; per second, within our own limits
    int next[CHATS + 1] = {0};
    int64_t first = 0, last = 0;
    for (long n = 0; n < CHATS * PER_CHAT; n++) {
        const tgsim_call_t *call = tgsim_call(f->sim, "sendMessage", n);
        assert_non_null(call);
        int c = (int)(call->chat_id - 1000);
        char expected[32];
        snprintf(expected, sizeof expected, "m%d", next[c]++);
        assert_string_equal(call->text, expected);
        if (!first) first = call->time_ms;
        last = call->time_ms;
    }
    //  500 messages at 300/s: at least ~1.6 s, bounded by our own pacing
    assert_true(last - first >= 1400);
    s_fixture_destroy(&f);
}

static void test_priorities_hold_under_load(void **state) {
    (void)state;
    tgsim_opts_t opts;
    tgsim_opts_init(&opts);
    fixture_t *f = s_fixture(&opts, 50, 10);
    for (int c = 1; c <= 60; c++)
        tgsim_user_add(f->sim, 2000 + c, "u", "en");
    for (int c = 1; c <= 40; c++)
        s_send_text(f, 2000 + c, "broadcast", SENDQ_BROADCAST, 0);
    for (int c = 41; c <= 60; c++)
        s_send_text(f, 2000 + c, "reply", SENDQ_INTERACTIVE, 0);
    assert_int_equal(tgsim_wait_calls(f->sim, "sendMessage", 60, 20000), 0);
    //  the first broadcast may already be on its way; after it, replies first
    int replies_seen = 0;
    for (long n = 0; n < 60; n++) {
        const tgsim_call_t *call = tgsim_call(f->sim, "sendMessage", n);
        if (strcmp(call->text, "reply") == 0)
            replies_seen++;
        else if (n >= 2)
            assert_int_equal(replies_seen, 20);
    }
    s_fixture_destroy(&f);
}

static void test_forbidden_stops_sending_and_marks_user(void **state) {
    (void)state;
    tgsim_opts_t opts;
    tgsim_opts_init(&opts);
    fixture_t *f = s_fixture(&opts, 100, 1);
    tgsim_user_add(f->sim, 3001, "blocked", "en");
    //  the user exists in the ledger
    zsock_t *ledger = ledger_connect(LEDGER_EP);
    msg_t *touch = tu_touch(3001);
    msg_destroy(&(msg_t *){ledger_call(ledger, &touch, 5000)});
    tgsim_block(f->sim, 3001, true);
    for (int i = 0; i < 5; i++)
        s_send_text(f, 3001, "hello", SENDQ_INTERACTIVE, (uint64_t)(100 + i));
    int forbidden = 0;
    for (int i = 0; i < 5; i++) {
        msg_t *result = s_result(f, 10000);
        assert_non_null(result);
        if (msg_int(result, F_CODE) == TG_E_FORBIDDEN) forbidden++;
        msg_destroy(&result);
    }
    assert_int_equal(forbidden, 5);
    //  one call reached Telegram; the rest were dropped without trying
    assert_true(tgsim_calls_count(f->sim, "sendMessage") <= 2);
    msg_t *get = msg_new(MSG_K_BALANCE_GET, 0);
    msg_set_int(get, F_USER_ID, 3001);
    for (int tries = 0; tries < 50; tries++) {
        msg_t *reply = ledger_call(ledger, &get, 5000);
        bool blocked = msg_bool(reply, F_BLOCKED);
        msg_destroy(&reply);
        if (blocked) break;
        assert_true(tries < 49);
        zclock_sleep(20);
        get = msg_new(MSG_K_BALANCE_GET, 0);
        msg_set_int(get, F_USER_ID, 3001);
    }
    zsock_destroy(&ledger);
    s_fixture_destroy(&f);
}

static void test_server_errors_are_retried(void **state) {
    (void)state;
    tgsim_opts_t opts;
    tgsim_opts_init(&opts);
    fixture_t *f = s_fixture(&opts, 100, 5);
    tgsim_user_add(f->sim, 4001, "u", "en");
    tgsim_fail_next(f->sim, "sendMessage", 502, NULL, 2);
    s_send_text(f, 4001, "after two 502s", SENDQ_INTERACTIVE, 7);
    msg_t *result = s_result(f, 10000);
    assert_non_null(result);
    assert_int_equal(msg_int(result, F_CODE), TG_OK);
    assert_true(msg_int(result, F_MESSAGE_ID) > 0);
    msg_destroy(&result);
    assert_int_equal(tgsim_calls_ok(f->sim, "sendMessage"), 1);
    //  message not modified counts as success; other 400s are dropped
    tgsim_fail_next(f->sim, "sendMessage", 400, "Bad Request: chat not found", 1);
    s_send_text(f, 4001, "refused", SENDQ_INTERACTIVE, 8);
    result = s_result(f, 10000);
    assert_int_equal(msg_int(result, F_CODE), TG_E_BAD_REQUEST);
    msg_destroy(&result);
    s_fixture_destroy(&f);
}

//  --- media: a small file is uploaded, a big one becomes a link -------------

static enum MHD_Result s_serve(void *cls, struct MHD_Connection *connection, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_data_size, void **req_cls) {
    (void)cls, (void)method, (void)version, (void)upload_data, (void)upload_data_size;
    (void)req_cls;
    static char small[200000];
    struct MHD_Response *response;
    if (strcmp(url, "/big.mp4") == 0) {
        //  60 MB of nothing, never held in memory at once
        size_t size = 60u * 1024 * 1024;
        static char *zeros;
        if (!zeros) zeros = calloc(1, size);
        response = MHD_create_response_from_buffer(size, zeros, MHD_RESPMEM_PERSISTENT);
    } else
        response = MHD_create_response_from_buffer(sizeof small, small, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result rc = MHD_queue_response(connection, MHD_HTTP_OK, response);
    MHD_destroy_response(response);
    return rc;
}

static void test_media_upload_or_link(void **state) {
    (void)state;
    tgsim_opts_t opts;
    tgsim_opts_init(&opts);
    fixture_t *f = s_fixture(&opts, 100, 5);
    tgsim_user_add(f->sim, 5001, "u", "en");
    struct MHD_Daemon *files = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
                                                s_serve, NULL, MHD_OPTION_END);
    assert_non_null(files);
    int port = MHD_get_daemon_info(files, MHD_DAEMON_INFO_BIND_PORT)->port;
    const char *names[] = {"small.mp4", "big.mp4"};
    for (int i = 0; i < 2; i++) {
        char url[128];
        snprintf(url, sizeof url, "http://127.0.0.1:%d/%s", port, names[i]);
        msg_t *call = notifier_call("sendVideo",
                                    "{\"chat_id\":5001,\"caption\":\"<b>done</b>\","
                                    "\"parse_mode\":\"HTML\",\"reply_markup\":{\"inline_keyboard\":"
                                    "[[{\"text\":\"Menu\",\"callback_data\":\"1:0:m\"}]]}}",
                                    5001, SENDQ_INTERACTIVE);
        msg_set_str(call, F_MEDIA_URL, url);
        msg_set_str(call, F_MEDIA_KIND, "video");
        msg_set_str(call, F_LINK_TEXT, "Your video is ready: <a href=\"https://x/v\">download</a>");
        msg_set_corr(call, (uint64_t)(10 + i));
        msg_send(&call, f->client);
        msg_t *result = s_result(f, 30000);
        assert_non_null(result);
        assert_int_equal(msg_int(result, F_CODE), TG_OK);
        msg_destroy(&result);
    }
    const tgsim_call_t *video = tgsim_call(f->sim, "sendVideo", 0);
    assert_non_null(video);
    assert_string_equal(video->media_source, "upload");
    assert_int_equal(video->file_size, 200000);
    assert_int_equal(video->button_count, 1);
    assert_int_equal(tgsim_calls_count(f->sim, "sendVideo"), 1);
    const tgsim_call_t *link = tgsim_call(f->sim, "sendMessage", 0);
    assert_non_null(link);
    assert_non_null(strstr(link->text, "download"));
    assert_int_equal(link->button_count, 1);
    MHD_stop_daemon(files);
    s_fixture_destroy(&f);
}

//  --- the poller --------------------------------------------------------------

typedef struct {
    zsock_t *pull;
    zsock_t *acks;
    bool ack; //  answer update_done?
    int64_t seen[256];
    size_t count;
} shard_t;

//  Receives what the poller dispatched; acknowledges when told to.
static void s_shard_drain(shard_t *shard, int timeout_ms) {
    zpoller_t *poller = zpoller_new(shard->pull, NULL);
    while (zpoller_wait(poller, timeout_ms)) {
        msg_err_t err;
        msg_t *msg = msg_recv(shard->pull, &err);
        if (!msg) break;
        assert_int_equal(msg_kind(msg), MSG_K_UPDATE_IN);
        json_t *raw = json_loads(msg_str(msg, F_UPDATE), 0, NULL);
        assert_non_null(raw); //  the raw update travels intact
        assert_int_equal(json_integer_value(json_object_get(raw, "update_id")),
                         msg_int(msg, F_UPDATE_ID));
        json_decref(raw);
        if (shard->count < 256) shard->seen[shard->count++] = msg_int(msg, F_UPDATE_ID);
        if (shard->ack) {
            msg_t *done = msg_new(MSG_K_UPDATE_DONE, 0);
            msg_set_int(done, F_UPDATE_ID, msg_int(msg, F_UPDATE_ID));
            msg_send(&done, shard->acks);
        }
        msg_destroy(&msg);
        timeout_ms = 300;
    }
    zpoller_destroy(&poller);
}

static int s_fatal_calls;
static void s_fatal(const char *why, void *arg) {
    (void)why;
    (void)arg;
    s_fatal_calls++;
}

static zactor_t *s_poller(fixture_t *f, poller_args_t *args, const char *const *endpoints) {
    *args = (poller_args_t){.config = f->config,
                            .ledger_endpoint = LEDGER_EP,
                            .shard_endpoints = endpoints,
                            .shard_count = 1,
                            .ack_endpoint = ACK_EP,
                            .backoff_base_ms = 20,
                            .fatal = s_fatal};
    return poller_start(args);
}

static void test_poller_hands_over_before_confirming(void **state) {
    (void)state;
    tgsim_opts_t opts;
    tgsim_opts_init(&opts);
    fixture_t *f = s_fixture(&opts, 100, 5);
    f->config->tg_poll_timeout_s = 1;
    tgsim_user_add(f->sim, 6001, "u", "en");
    const char *endpoints[] = {"inproc://edge-shard-0"};
    shard_t shard = {.pull = zsock_new_pull("@inproc://edge-shard-0"), .ack = false};
    int64_t first = tgsim_send_text(f->sim, 6001, "one");
    int64_t second = tgsim_send_text(f->sim, 6001, "two");
    poller_args_t args;
    zactor_t *poller = s_poller(f, &args, endpoints);
    assert_non_null(poller);
    shard.acks = zsock_new_push(">" ACK_EP);
    s_shard_drain(&shard, 5000);
    assert_int_equal(shard.count, 2);
    //  not acknowledged: Telegram must not have been told they are handled
    assert_int_equal(tgsim_wait_confirmed(f->sim, second, 300), -1);
    //  a restart before the shard took them over: they come again
    zsock_destroy(&shard.acks);
    zactor_destroy(&poller);
    shard.count = 0;
    shard.ack = true;
    poller = s_poller(f, &args, endpoints);
    shard.acks = zsock_new_push(">" ACK_EP);
    s_shard_drain(&shard, 5000);
    assert_int_equal(shard.count, 2);
    assert_int_equal(shard.seen[0], first);
    assert_int_equal(tgsim_wait_confirmed(f->sim, second, 5000), 0);
    //  the next update comes alone: the offset moved past the first two
    int64_t third = tgsim_send_text(f->sim, 6001, "three");
    shard.count = 0;
    s_shard_drain(&shard, 5000);
    assert_int_equal(shard.count, 1);
    assert_int_equal(shard.seen[0], third);
    zsock_destroy(&shard.acks);
    zactor_destroy(&poller);
    zsock_destroy(&shard.pull);
    s_fixture_destroy(&f);
}

static void test_poller_survives_errors(void **state) {
    (void)state;
    tgsim_opts_t opts;
    tgsim_opts_init(&opts);
    fixture_t *f = s_fixture(&opts, 100, 5);
    f->config->tg_poll_timeout_s = 1;
    tgsim_user_add(f->sim, 7001, "u", "en");
    const char *endpoints[] = {"inproc://edge-shard-1"};
    shard_t shard = {.pull = zsock_new_pull("@inproc://edge-shard-1"), .ack = true};
    tgsim_fail_next(f->sim, "getUpdates", 429, "Too Many Requests: retry after 1", 1);
    tgsim_fail_next(f->sim, "getUpdates", 409, TGSIM_CONFLICT_POLL, 1);
    tgsim_fail_next(f->sim, "getUpdates", 502, NULL, 1);
    tgsim_fail_next(f->sim, "getUpdates", TGSIM_FAIL_MALFORMED, NULL, 1);
    tgsim_fail_next(f->sim, "getUpdates", TGSIM_FAIL_DROP, NULL, 1);
    int64_t id = tgsim_send_text(f->sim, 7001, "through it all");
    poller_args_t args;
    zactor_t *poller = s_poller(f, &args, endpoints);
    shard.acks = zsock_new_push(">" ACK_EP);
    s_shard_drain(&shard, 15000);
    assert_int_equal(shard.count, 1);
    assert_int_equal(shard.seen[0], id);
    assert_int_equal(tgsim_wait_confirmed(f->sim, id, 5000), 0);
    //  401: the poller stops and says so
    s_fatal_calls = 0;
    tgsim_fail_next(f->sim, "getUpdates", 401, "Unauthorized", -1);
    for (int i = 0; i < 100 && !s_fatal_calls; i++)
        zclock_sleep(50);
    assert_int_equal(s_fatal_calls, 1);
    tgsim_fail_clear(f->sim);
    zsock_destroy(&shard.acks);
    zactor_destroy(&poller);
    zsock_destroy(&shard.pull);
    s_fixture_destroy(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_delivered_in_order_without_429),
        cmocka_unit_test(test_priorities_hold_under_load),
        cmocka_unit_test(test_forbidden_stops_sending_and_marks_user),
        cmocka_unit_test(test_server_errors_are_retried),
        cmocka_unit_test(test_media_upload_or_link),
        cmocka_unit_test(test_poller_hands_over_before_confirming),
        cmocka_unit_test(test_poller_survives_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
