/*  test_ledger.c — every ledger request and each of its error paths,
    through the real actor (codec, ROUTER, batching, SQLite). After every
    test the database must pass genbot check.
*/
#include "testutil.h"

#include <sqlite3.h>

#include "job.h"

#define ENDPOINT "inproc://ledger-test"

typedef struct {
    char *path;
    config_t *config;
    ledger_args_t args;
    zactor_t *ledger;
    zsock_t *client;
} fixture_t;

static void s_start(fixture_t *f) {
    f->args = (ledger_args_t){.config = f->config, .endpoint = ENDPOINT, .clock = tu_clock};
    f->ledger = ledger_start(&f->args);
    assert_non_null(f->ledger);
    f->client = ledger_connect(ENDPOINT);
    assert_non_null(f->client);
}

static void s_stop(fixture_t *f) {
    zsock_destroy(&f->client);
    zactor_destroy(&f->ledger);
}

static int setup(void **state) {
    fixture_t *f = calloc(1, sizeof *f);
    f->path = tu_db_path("ledger");
    f->config = tu_config(f->path);
    atomic_store(&tu_now_ms, 1700000000000);
    s_start(f);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture_t *f = *state;
    s_stop(f);
    tu_assert_check(f->path);
    tu_db_remove(f->path);
    free(f->path);
    config_destroy(&f->config);
    free(f);
    return 0;
}

//  Sends req, returns the reply (the test owns it).
static msg_t *s_call(fixture_t *f, msg_t *req) {
    msg_t *reply = ledger_call(f->client, &req, 5000);
    assert_non_null(reply);
    return reply;
}

//  Sends req and asserts the reply's error code (0 = success).
static void s_expect(fixture_t *f, msg_t *req, int code) {
    msg_t *reply = s_call(f, req);
    if (tu_code(reply) != code)
        fail_msg("%s: expected %s, got %s (%s)", msg_kind_name(msg_kind(reply)),
                 ledger_err_name(code), ledger_err_name(tu_code(reply)),
                 msg_has(reply, F_DETAIL) ? msg_str(reply, F_DETAIL) : "");
    msg_destroy(&reply);
}

static bool s_duplicate(fixture_t *f, msg_t *req) {
    msg_t *reply = s_call(f, req);
    assert_int_equal(tu_code(reply), 0);
    bool duplicate = msg_bool(reply, F_DUPLICATE);
    msg_destroy(&reply);
    return duplicate;
}

static void s_balance(fixture_t *f, int64_t user_id, int64_t balance, int64_t held) {
    msg_t *req = msg_new(MSG_K_BALANCE_GET, 0);
    msg_set_int(req, F_USER_ID, user_id);
    msg_t *reply = s_call(f, req);
    assert_int_equal(msg_kind(reply), MSG_K_USER);
    assert_int_equal(msg_int(reply, F_BALANCE), balance);
    assert_int_equal(msg_int(reply, F_HELD), held);
    msg_destroy(&reply);
}

static void s_user_with(fixture_t *f, int64_t user_id, int64_t credits) {
    msg_destroy(&(msg_t *){s_call(f, tu_touch(user_id))});
    char ref[64];
    snprintf(ref, sizeof ref, "seed-%lld", (long long)user_id);
    if (credits > 2) s_expect(f, tu_adjust(user_id, credits - 2, ref), 0);
}

//  Places an order and returns its job ids in ids (n of them).
static void s_order(fixture_t *f, int64_t user_id, const char *token, int64_t count, int64_t *ids) {
    msg_t *reply = s_call(f, tu_order(user_id, token, count, 1));
    assert_int_equal(msg_kind(reply), MSG_K_ORDER);
    assert_int_equal(msg_len(reply, F_JOB_IDS), count);
    memcpy(ids, msg_ints(reply, F_JOB_IDS), (size_t)count * sizeof(int64_t));
    msg_destroy(&reply);
}

static const char *s_state(fixture_t *f, int64_t job_id, char *buf) {
    msg_t *reply = s_call(f, tu_job_req(MSG_K_JOB_GET, job_id));
    assert_int_equal(msg_kind(reply), MSG_K_JOB_LIST);
    strcpy(buf, msg_str(msg_row(reply, F_JOBS, 0), F_STATE));
    msg_destroy(&reply);
    return buf;
}

static void test_user_touch_grants_once(void **state) {
    fixture_t *f = *state;
    msg_t *req = tu_touch(42);
    msg_set_str(req, F_LANG, "ru");
    msg_set_str(req, F_FIRST_NAME, "Аня <b>");
    msg_t *reply = s_call(f, req);
    assert_int_equal(msg_kind(reply), MSG_K_USER);
    assert_true(msg_bool(reply, F_CREATED));
    assert_int_equal(msg_int(reply, F_BALANCE), 2);
    assert_string_equal(msg_str(reply, F_LANG), "ru");
    msg_destroy(&reply);
    req = tu_touch(42);
    msg_set_str(req, F_LANG, "en");
    reply = s_call(f, req);
    assert_false(msg_bool(reply, F_CREATED));
    assert_int_equal(msg_int(reply, F_BALANCE), 2);
    assert_string_equal(msg_str(reply, F_LANG), "en");
    msg_destroy(&reply);
    s_expect(f, tu_touch(0), LEDGER_E_BAD_REQUEST);
    s_expect(f, tu_touch(-5), LEDGER_E_BAD_REQUEST);
    msg_t *get = msg_new(MSG_K_BALANCE_GET, 0);
    msg_set_int(get, F_USER_ID, 999);
    s_expect(f, get, LEDGER_E_NOT_FOUND);
}

static void test_order_holds_and_is_idempotent(void **state) {
    fixture_t *f = *state;
    s_user_with(f, 7, 10);
    int64_t ids[3], again[3];
    s_order(f, 7, "tok-a", 3, ids);
    s_balance(f, 7, 7, 3);
    //  the same confirm button pressed again
    msg_t *reply = s_call(f, tu_order(7, "tok-a", 3, 1));
    assert_int_equal(msg_kind(reply), MSG_K_ORDER);
    assert_true(msg_bool(reply, F_DUPLICATE));
    memcpy(again, msg_ints(reply, F_JOB_IDS), sizeof again);
    assert_memory_equal(ids, again, sizeof ids);
    msg_destroy(&reply);
    s_balance(f, 7, 7, 3);
    //  another user's identical token is another order
    s_user_with(f, 8, 10);
    s_order(f, 8, "tok-a", 1, again);
    assert_true(again[0] != ids[0]);
}

static void test_order_errors(void **state) {
    fixture_t *f = *state;
    s_expect(f, tu_order(5, "t", 1, 1), LEDGER_E_NOT_FOUND);
    s_user_with(f, 5, 2);
    msg_t *reply = s_call(f, tu_order(5, "t", 5, 1));
    assert_int_equal(tu_code(reply), LEDGER_E_INSUFFICIENT_CREDITS);
    assert_int_equal(msg_int(reply, F_SHORTFALL), 3);
    msg_destroy(&reply);
    s_expect(f, tu_order(5, "t", 0, 1), LEDGER_E_BAD_REQUEST);
    s_expect(f, tu_order(5, "t", 11, 1), LEDGER_E_BAD_REQUEST);
    s_expect(f, tu_order(5, "t", 1, -1), LEDGER_E_BAD_REQUEST);
    s_expect(f, tu_order(5, "", 1, 1), LEDGER_E_BAD_REQUEST);
    s_balance(f, 5, 2, 0); //  nothing held by any refusal
}

static void test_order_limits(void **state) {
    fixture_t *f = *state;
    s_user_with(f, 9, 100);
    int64_t ids[5];
    s_order(f, 9, "a", 5, ids); //  5 active: the limit
    s_expect(f, tu_order(9, "b", 1, 1), LEDGER_E_TOO_MANY_ACTIVE);
    for (int i = 0; i < 5; i++)
        s_expect(f, tu_cancel(ids[i], 9), 0);
    //  orders per minute: 1 so far, 9 more allowed, the 11th refused
    char token[16];
    for (int i = 0; i < 9; i++) {
        snprintf(token, sizeof token, "m%d", i);
        s_order(f, 9, token, 1, ids);
        s_expect(f, tu_cancel(ids[0], 9), 0);
    }
    s_expect(f, tu_order(9, "m-late", 1, 1), LEDGER_E_RATE_LIMITED);
    atomic_fetch_add(&tu_now_ms, 61000);
    s_order(f, 9, "m-late", 1, ids);
    s_balance(f, 9, 99, 1);
}

static void test_job_lifecycle_success(void **state) {
    fixture_t *f = *state;
    char buf[32];
    s_user_with(f, 11, 5);
    int64_t ids[2];
    s_order(f, 11, "life", 2, ids);
    s_expect(f, tu_claim("", 1), LEDGER_E_BAD_REQUEST);
    s_expect(f, tu_claim("k1", 0), LEDGER_E_BAD_REQUEST);
    msg_t *reply = s_call(f, tu_claim("k1", 1));
    assert_int_equal(msg_len(reply, F_JOBS), 1);
    const msg_t *row = msg_row(reply, F_JOBS, 0);
    assert_int_equal(msg_int(row, F_JOB_ID), ids[0]);
    assert_string_equal(msg_str(row, F_STATE), "running");
    assert_string_equal(msg_str(row, F_KEY_ID), "k1");
    assert_string_equal(msg_str(row, F_PARAMS), "{\"prompt\":\"a bottle on a table\"}");
    msg_destroy(&reply);

    s_expect(f, tu_submitted(ids[1], "task-x"), LEDGER_E_BAD_STATE); //  still queued
    msg_t *wrong_key = tu_submitted(ids[0], "task-1");
    msg_set_str(wrong_key, F_KEY_ID, "k2");
    s_expect(f, wrong_key, LEDGER_E_BAD_STATE);
    assert_false(s_duplicate(f, tu_submitted(ids[0], "task-1")));
    assert_true(s_duplicate(f, tu_submitted(ids[0], "task-1")));
    s_expect(f, tu_submitted(ids[0], "task-2"), LEDGER_E_BAD_STATE);
    s_expect(f, tu_submitted(ids[0], ""), LEDGER_E_BAD_REQUEST);

    msg_t *progress = tu_job_req(MSG_K_JOB_PROGRESS, ids[0]);
    msg_set_int(progress, F_PROGRESS, 45);
    s_expect(f, progress, 0);
    progress = tu_job_req(MSG_K_JOB_PROGRESS, ids[0]);
    msg_set_int(progress, F_PROGRESS, 101);
    s_expect(f, progress, LEDGER_E_BAD_REQUEST);

    s_expect(f, tu_job_req(MSG_K_JOB_DELIVERED, ids[0]), LEDGER_E_BAD_STATE);
    s_expect(f, tu_job_req(MSG_K_JOB_SUCCEEDED, ids[1]), LEDGER_E_BAD_STATE); //  queued
    msg_t *done = tu_job_req(MSG_K_JOB_SUCCEEDED, ids[0]);
    msg_set_str(done, F_RESULT_URL, "https://files.example/v.mp4");
    assert_false(s_duplicate(f, done));
    assert_true(s_duplicate(f, tu_job_req(MSG_K_JOB_SUCCEEDED, ids[0])));
    s_balance(f, 11, 3, 1);
    s_expect(f, tu_failed(ids[0], "unknown"), LEDGER_E_BAD_STATE);
    s_expect(f, tu_cancel(ids[0], 11), LEDGER_E_BAD_STATE);
    assert_false(s_duplicate(f, tu_job_req(MSG_K_JOB_DELIVERED, ids[0])));
    assert_true(s_duplicate(f, tu_job_req(MSG_K_JOB_DELIVERED, ids[0])));
    assert_true(s_duplicate(f, tu_job_req(MSG_K_JOB_SUCCEEDED, ids[0])));
    assert_string_equal(s_state(f, ids[0], buf), "delivered");
    progress = tu_job_req(MSG_K_JOB_PROGRESS, ids[0]);
    msg_set_int(progress, F_PROGRESS, 50);
    s_expect(f, progress, LEDGER_E_BAD_STATE);
    s_expect(f, tu_job_req(MSG_K_JOB_GET, 123456), LEDGER_E_NOT_FOUND);
    s_expect(f, tu_job_req(MSG_K_JOB_DELIVERED, 123456), LEDGER_E_NOT_FOUND);
}

static void test_job_retry_failure_cancel(void **state) {
    fixture_t *f = *state;
    char buf[32];
    s_user_with(f, 12, 5);
    int64_t ids[3];
    s_order(f, 12, "rfc", 3, ids);
    msg_t *reply = s_call(f, tu_claim("k1", 2));
    assert_int_equal(msg_len(reply, F_JOBS), 2);
    msg_destroy(&reply);
    //  retry in 10 s, counted; not claimable before then
    msg_t *retry = tu_job_req(MSG_K_JOB_RETRY, ids[0]);
    msg_set_int(retry, F_AT_MS, atomic_load(&tu_now_ms) + 10000);
    msg_set_str(retry, F_ERR_CLASS, "temporary");
    s_expect(f, retry, 0);
    retry = tu_job_req(MSG_K_JOB_RETRY, ids[1]);
    msg_set_int(retry, F_AT_MS, 0);
    msg_set_int(retry, F_ATTEMPTS, 0);
    s_expect(f, retry, 0);
    retry = tu_job_req(MSG_K_JOB_RETRY, ids[1]);
    msg_set_int(retry, F_AT_MS, 0);
    s_expect(f, retry, LEDGER_E_BAD_STATE); //  queued already
    retry = tu_job_req(MSG_K_JOB_RETRY, ids[2]);
    msg_set_int(retry, F_AT_MS, 0);
    msg_set_int(retry, F_ATTEMPTS, 2);
    s_expect(f, retry, LEDGER_E_BAD_REQUEST);
    reply = s_call(f, tu_claim("k2", 10));
    assert_int_equal(msg_len(reply, F_JOBS), 2); //  ids[1] and ids[2], not ids[0]
    assert_int_equal(msg_int(msg_row(reply, F_JOBS, 0), F_JOB_ID), ids[1]);
    assert_int_equal(msg_int(msg_row(reply, F_JOBS, 0), F_ATTEMPTS), 0);
    msg_destroy(&reply);
    atomic_fetch_add(&tu_now_ms, 10001);
    reply = s_call(f, tu_claim("k2", 10));
    assert_int_equal(msg_len(reply, F_JOBS), 1);
    assert_int_equal(msg_int(msg_row(reply, F_JOBS, 0), F_ATTEMPTS), 1);
    assert_string_equal(msg_str(msg_row(reply, F_JOBS, 0), F_ERR_CLASS), "temporary");
    msg_destroy(&reply);
    //  fail one: release, once
    assert_false(s_duplicate(f, tu_failed(ids[0], "content_violation")));
    assert_true(s_duplicate(f, tu_failed(ids[0], "content_violation")));
    s_expect(f, tu_job_req(MSG_K_JOB_SUCCEEDED, ids[0]), LEDGER_E_BAD_STATE);
    s_balance(f, 12, 3, 2);
    //  cancel: only the owner, only while queued
    s_expect(f, tu_cancel(ids[1], 12), LEDGER_E_BAD_STATE); //  running
    retry = tu_job_req(MSG_K_JOB_RETRY, ids[1]);
    msg_set_int(retry, F_AT_MS, atomic_load(&tu_now_ms) + 60000);
    s_expect(f, retry, 0);
    s_expect(f, tu_cancel(ids[1], 13), LEDGER_E_NOT_FOUND);
    assert_false(s_duplicate(f, tu_cancel(ids[1], 12)));
    assert_true(s_duplicate(f, tu_cancel(ids[1], 12)));
    s_expect(f, tu_failed(ids[1], "unknown"), LEDGER_E_BAD_STATE);
    assert_string_equal(s_state(f, ids[1], buf), "cancelled");
    s_balance(f, 12, 4, 1);
}

static void test_lists(void **state) {
    fixture_t *f = *state;
    s_user_with(f, 21, 10);
    int64_t ids[3];
    s_order(f, 21, "l1", 3, ids);
    msg_t *req = msg_new(MSG_K_JOBS_LIST, 0);
    msg_set_int(req, F_USER_ID, 21);
    msg_set_int(req, F_LIMIT, 2);
    msg_t *reply = s_call(f, req);
    assert_int_equal(msg_len(reply, F_JOBS), 2);
    assert_int_equal(msg_int(msg_row(reply, F_JOBS, 0), F_JOB_ID), ids[2]); //  newest first
    msg_destroy(&reply);
    msg_destroy(&(msg_t *){s_call(f, tu_claim("kk", 1))});
    req = msg_new(MSG_K_JOBS_LIST, 0);
    msg_set_str(req, F_STATE, "running");
    msg_set_str(req, F_KEY_ID, "kk");
    reply = s_call(f, req);
    assert_int_equal(msg_len(reply, F_JOBS), 1);
    msg_destroy(&reply);
    req = msg_new(MSG_K_JOBS_LIST, 0);
    msg_set_str(req, F_STATE, "running");
    msg_set_str(req, F_KEY_ID, "other");
    reply = s_call(f, req);
    assert_int_equal(msg_len(reply, F_JOBS), 0);
    msg_destroy(&reply);
    s_expect(f, msg_new(MSG_K_JOBS_LIST, 0), LEDGER_E_BAD_REQUEST);
    req = msg_new(MSG_K_JOBS_LIST, 0);
    msg_set_str(req, F_STATE, "bogus");
    s_expect(f, req, LEDGER_E_BAD_REQUEST);
    req = msg_new(MSG_K_JOBS_LIST, 0);
    msg_set_int(req, F_USER_ID, 21);
    msg_set_int(req, F_LIMIT, 0);
    s_expect(f, req, LEDGER_E_BAD_REQUEST);

    req = msg_new(MSG_K_ENTRIES_LIST, 0);
    msg_set_int(req, F_USER_ID, 21);
    reply = s_call(f, req);
    //  grant, seed adjustment, three holds: newest first
    assert_int_equal(msg_len(reply, F_ENTRIES), 5);
    assert_string_equal(msg_str(msg_row(reply, F_ENTRIES, 0), F_ENTRY_KIND), "hold");
    assert_int_equal(msg_int(msg_row(reply, F_ENTRIES, 0), F_JOB_ID), ids[2]);
    assert_string_equal(msg_str(msg_row(reply, F_ENTRIES, 4), F_ENTRY_KIND), "grant");
    msg_destroy(&reply);
    req = msg_new(MSG_K_ENTRIES_LIST, 0);
    msg_set_int(req, F_USER_ID, 21);
    msg_set_int(req, F_LIMIT, 100000);
    s_expect(f, req, LEDGER_E_BAD_REQUEST);
}

static void test_payments_and_adjustments(void **state) {
    fixture_t *f = *state;
    s_expect(f, tu_payment(31, "ch-1", 5), LEDGER_E_NOT_FOUND);
    s_user_with(f, 31, 2);
    assert_false(s_duplicate(f, tu_payment(31, "ch-1", 5)));
    assert_true(s_duplicate(f, tu_payment(31, "ch-1", 5)));
    s_balance(f, 31, 7, 0);
    s_expect(f, tu_payment(31, "ch-2", 0), LEDGER_E_BAD_REQUEST);
    s_expect(f, tu_payment(31, "", 3), LEDGER_E_BAD_REQUEST);
    assert_false(s_duplicate(f, tu_adjust(31, -3, "r1")));
    assert_true(s_duplicate(f, tu_adjust(31, -3, "r1")));
    s_balance(f, 31, 4, 0);
    msg_t *reply = s_call(f, tu_adjust(31, -10, "r2"));
    assert_int_equal(tu_code(reply), LEDGER_E_INSUFFICIENT_CREDITS);
    assert_int_equal(msg_int(reply, F_SHORTFALL), 6);
    msg_destroy(&reply);
    s_expect(f, tu_adjust(31, 0, "r3"), LEDGER_E_BAD_REQUEST);
    s_expect(f, tu_adjust(32, 5, "r4"), LEDGER_E_NOT_FOUND);
    //  a refused adjustment leaves its ref free for a corrected retry
    assert_false(s_duplicate(f, tu_adjust(31, -4, "r2")));
    s_balance(f, 31, 0, 0);
}

static void test_blocked_sessions_offset(void **state) {
    fixture_t *f = *state;
    msg_t *req = msg_new(MSG_K_USER_BLOCKED, 0);
    msg_set_int(req, F_USER_ID, 41);
    msg_set_bool(req, F_BLOCKED, true);
    s_expect(f, req, LEDGER_E_NOT_FOUND);
    s_user_with(f, 41, 2);
    req = msg_new(MSG_K_USER_BLOCKED, 0);
    msg_set_int(req, F_USER_ID, 41);
    msg_set_bool(req, F_BLOCKED, true);
    s_expect(f, req, 0);
    msg_t *reply = s_call(f, tu_touch(41)); //  a user who writes again has unblocked us
    assert_false(msg_bool(reply, F_BLOCKED));
    msg_destroy(&reply);

    req = msg_new(MSG_K_SESSION_LOAD, 0);
    msg_set_int(req, F_USER_ID, 41);
    reply = s_call(f, req);
    assert_false(msg_bool(reply, F_FOUND));
    msg_destroy(&reply);
    req = msg_new(MSG_K_SESSION_SAVE, 0);
    msg_set_int(req, F_USER_ID, 41);
    msg_set_str(req, F_STATE, "await_photo");
    msg_set_bin(req, F_SESSION, "\x01\x02\x00\x03", 4);
    msg_set_int(req, F_UPDATE_ID, 100);
    s_expect(f, req, 0);
    req = msg_new(MSG_K_SESSION_SAVE, 0); //  an older update id never lowers the mark
    msg_set_int(req, F_USER_ID, 41);
    msg_set_str(req, F_STATE, "await_text");
    msg_set_bin(req, F_SESSION, "x", 1);
    msg_set_int(req, F_UPDATE_ID, 90);
    s_expect(f, req, 0);
    req = msg_new(MSG_K_SESSION_LOAD, 0);
    msg_set_int(req, F_USER_ID, 41);
    reply = s_call(f, req);
    assert_true(msg_bool(reply, F_FOUND));
    assert_string_equal(msg_str(reply, F_STATE), "await_text");
    assert_int_equal(msg_len(reply, F_SESSION), 1);
    assert_int_equal(msg_int(reply, F_UPDATE_ID), 100);
    msg_destroy(&reply);
    //  an order carries the session it leads to, in the same transaction
    msg_t *order = tu_order(41, "with-session", 1, 1);
    msg_set_str(order, F_STATE, "ordered");
    msg_set_bin(order, F_SESSION, "yz", 2);
    msg_set_int(order, F_UPDATE_ID, 101);
    s_expect(f, order, 0);
    req = msg_new(MSG_K_SESSION_LOAD, 0);
    msg_set_int(req, F_USER_ID, 41);
    reply = s_call(f, req);
    assert_string_equal(msg_str(reply, F_STATE), "ordered");
    assert_int_equal(msg_int(reply, F_UPDATE_ID), 101);
    msg_destroy(&reply);

    reply = s_call(f, msg_new(MSG_K_OFFSET_LOAD, 0));
    assert_int_equal(msg_int(reply, F_OFFSET), 0);
    msg_destroy(&reply);
    req = msg_new(MSG_K_OFFSET_SAVE, 0);
    msg_set_int(req, F_OFFSET, 500);
    s_expect(f, req, 0);
    req = msg_new(MSG_K_OFFSET_SAVE, 0);
    msg_set_int(req, F_OFFSET, 400);
    s_expect(f, req, 0);
    req = msg_new(MSG_K_OFFSET_SAVE, 0);
    msg_set_int(req, F_OFFSET, -1);
    s_expect(f, req, LEDGER_E_BAD_REQUEST);
    reply = s_call(f, msg_new(MSG_K_OFFSET_LOAD, 0));
    assert_int_equal(msg_int(reply, F_OFFSET), 500);
    msg_destroy(&reply);
}

static void test_malformed_and_non_requests(void **state) {
    fixture_t *f = *state;
    //  garbage bytes: answered with a typed error, the ledger lives on
    zsock_send(f->client, "b", "\x93\xcc", (size_t)2);
    msg_err_t err;
    msg_t *reply = msg_recv(f->client, &err);
    assert_non_null(reply);
    assert_int_equal(tu_code(reply), LEDGER_E_BAD_REQUEST);
    assert_int_equal(msg_corr(reply), 0);
    msg_destroy(&reply);
    //  a well-formed message that is not a request
    msg_t *not_req = msg_new(MSG_K_OK, 0);
    s_expect(f, not_req, LEDGER_E_BAD_REQUEST);
    s_user_with(f, 51, 2);
    s_balance(f, 51, 2, 0);
}

//  Many requests in flight at once land in one batch; the refused ones
//  leave no trace and do not disturb the others.
static void test_batch_isolates_failures(void **state) {
    fixture_t *f = *state;
    s_user_with(f, 61, 3);
    enum { N = 60 };
    for (int i = 0; i < N; i++) {
        char token[16];
        snprintf(token, sizeof token, "b%d", i);
        msg_t *req = i % 2 ? tu_order(61, token, 1, 1) : tu_adjust(61, -1000, token);
        msg_set_corr(req, (uint64_t)(1000 + i));
        assert_int_equal(msg_send(&req, f->client), 0);
    }
    int ok = 0, errors = 0;
    for (int i = 0; i < N; i++) {
        msg_err_t err;
        msg_t *reply = msg_recv(f->client, &err);
        assert_non_null(reply);
        assert_true(msg_corr(reply) >= 1000 && msg_corr(reply) < 1000 + N);
        if (tu_code(reply))
            errors++;
        else
            ok++;
        msg_destroy(&reply);
    }
    //  3 credits: three orders succeed; the rest are refused by a limit
    assert_int_equal(ok, 3);
    assert_int_equal(errors, N - 3);
    s_balance(f, 61, 0, 3);
}

static void test_recovery_requeues_running(void **state) {
    fixture_t *f = *state;
    s_user_with(f, 71, 5);
    int64_t ids[3];
    s_order(f, 71, "rec", 3, ids);
    msg_destroy(&(msg_t *){s_call(f, tu_claim("k1", 3))});
    s_expect(f, tu_submitted(ids[1], "task-1"), 0);
    s_expect(f, tu_submitted(ids[2], "task-2"), 0);
    s_expect(f, tu_job_req(MSG_K_JOB_SUCCEEDED, ids[2]), 0);
    s_stop(f);
    s_start(f);
    char buf[32];
    assert_string_equal(s_state(f, ids[0], buf), "queued");
    assert_string_equal(s_state(f, ids[1], buf), "submitted");
    assert_string_equal(s_state(f, ids[2], buf), "succeeded");
    msg_t *reply = s_call(f, tu_job_req(MSG_K_JOB_GET, ids[0]));
    assert_int_equal(msg_int(msg_row(reply, F_JOBS, 0), F_ATTEMPTS), 0);
    assert_false(msg_has(msg_row(reply, F_JOBS, 0), F_KEY_ID));
    msg_destroy(&reply);
    s_balance(f, 71, 2, 2);
}

//  genbot check must notice a broken database, naming the user.
static void test_check_detects_violations(void **state) {
    fixture_t *f = *state;
    s_user_with(f, 81, 5);
    int64_t ids[1];
    s_order(f, 81, "chk", 1, ids);
    s_stop(f);
    tu_assert_check(f->path);
    const char *breaks[] = {
        "UPDATE users SET balance = balance + 1 WHERE user_id = 81",
        "UPDATE jobs SET state = 'failed' WHERE user_id = 81",
        "INSERT INTO entries (user_id, kind, d_balance, d_held, job_id, ref, created_ms)"
        " SELECT 81, 'capture', 0, 0, job_id, 'x', 0 FROM jobs WHERE user_id = 81",
        "UPDATE jobs SET idx = 3 WHERE user_id = 81",
    };
    for (size_t i = 0; i < sizeof breaks / sizeof breaks[0]; i++) {
        sqlite3 *db;
        assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, breaks[i], NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
        char report[512];
        int rc = check_db(f->path, report, sizeof report, NULL);
        if (rc != 1) fail_msg("break %zu not detected: %s", i, report);
        assert_non_null(strstr(report, i == 2 ? "job " : "user 81"));
        //  restore: rebuild the database from scratch for the next break
        tu_db_remove(f->path);
        s_start(f);
        s_user_with(f, 81, 5);
        s_order(f, 81, "chk", 1, ids);
        s_stop(f);
    }
    char report[512];
    assert_int_equal(check_db("/nonexistent/x.db", report, sizeof report, NULL), -1);
    s_start(f);
}

static void test_status_msg_expire_key_health(void **state) {
    fixture_t *f = *state;
    s_user_with(f, 91, 5);
    int64_t ids[3];
    s_order(f, 91, "exp", 3, ids);
    msg_t *req = tu_job_req(MSG_K_JOB_STATUS_MSG, ids[0]);
    msg_set_int(req, F_MESSAGE_ID, 4242);
    s_expect(f, req, 0);
    req = tu_job_req(MSG_K_JOB_STATUS_MSG, 99999);
    msg_set_int(req, F_MESSAGE_ID, 1);
    s_expect(f, req, LEDGER_E_NOT_FOUND);
    msg_t *reply = s_call(f, tu_job_req(MSG_K_JOB_GET, ids[0]));
    assert_int_equal(msg_int(msg_row(reply, F_JOBS, 0), F_MESSAGE_ID), 4242);
    msg_destroy(&reply);
    //  one job claimed; the two still queued expire after the wait
    msg_destroy(&(msg_t *){s_call(f, tu_claim("k", 1))});
    atomic_fetch_add(&tu_now_ms, 1000);
    req = msg_new(MSG_K_JOBS_EXPIRE, 0);
    msg_set_int(req, F_AT_MS, atomic_load(&tu_now_ms) - 5000);
    msg_set_int(req, F_MAX_N, 10);
    reply = s_call(f, req);
    assert_int_equal(msg_len(reply, F_JOBS), 0); //  not old enough
    msg_destroy(&reply);
    req = msg_new(MSG_K_JOBS_EXPIRE, 0);
    msg_set_int(req, F_AT_MS, atomic_load(&tu_now_ms));
    msg_set_int(req, F_MAX_N, 10);
    msg_set_str(req, F_ERR_CLASS, "timeout");
    reply = s_call(f, req);
    assert_int_equal(msg_len(reply, F_JOBS), 2);
    assert_string_equal(msg_str(msg_row(reply, F_JOBS, 0), F_STATE), "failed");
    assert_string_equal(msg_str(msg_row(reply, F_JOBS, 0), F_ERR_CLASS), "timeout");
    msg_destroy(&reply);
    s_balance(f, 91, 4, 1);
    req = msg_new(MSG_K_JOBS_EXPIRE, 0);
    msg_set_int(req, F_AT_MS, 0);
    msg_set_int(req, F_MAX_N, 0);
    s_expect(f, req, LEDGER_E_BAD_REQUEST);

    //  by state: one running (claimed), none queued any more; terminal states
    //  are not counted (-1)
    reply = s_call(f, msg_new(MSG_K_JOBS_COUNT, 0));
    assert_int_equal(msg_kind(reply), MSG_K_JOB_COUNTS);
    assert_int_equal(msg_len(reply, F_COUNTS), JOB_STATE_COUNT_ - 1);
    assert_int_equal(msg_ints(reply, F_COUNTS)[JOB_QUEUED - 1], 0);
    assert_int_equal(msg_ints(reply, F_COUNTS)[JOB_RUNNING - 1], 1);
    assert_int_equal(msg_ints(reply, F_COUNTS)[JOB_FAILED - 1], -1);
    msg_destroy(&reply);
    //  the two expired jobs are failures not told yet; telling one leaves one
    req = msg_new(MSG_K_JOBS_UNTOLD, 0);
    reply = s_call(f, req);
    assert_int_equal(msg_len(reply, F_JOBS), 2);
    int64_t untold = msg_int(msg_row(reply, F_JOBS, 0), F_JOB_ID);
    msg_destroy(&reply);
    assert_false(s_duplicate(f, tu_job_req(MSG_K_JOB_TOLD, untold)));
    s_expect(f, tu_job_req(MSG_K_JOB_TOLD, ids[0]), LEDGER_E_BAD_STATE); //  not failed
    reply = s_call(f, msg_new(MSG_K_JOBS_UNTOLD, 0));
    assert_int_equal(msg_len(reply, F_JOBS), 1);
    assert_true(msg_int(msg_row(reply, F_JOBS, 0), F_JOB_ID) != untold);
    msg_destroy(&reply);

    req = msg_new(MSG_K_KEY_HEALTH_LOAD, 0);
    msg_set_str(req, F_KEY_ID, "abcd-12345678");
    reply = s_call(f, req);
    assert_false(msg_bool(reply, F_FOUND));
    msg_destroy(&reply);
    req = msg_new(MSG_K_KEY_HEALTH_SAVE, 0);
    msg_set_str(req, F_KEY_ID, "abcd-12345678");
    msg_set_str(req, F_STATE, "cooling");
    msg_set_int(req, F_AT_MS, 1234);
    s_expect(f, req, 0);
    req = msg_new(MSG_K_KEY_HEALTH_LOAD, 0);
    msg_set_str(req, F_KEY_ID, "abcd-12345678");
    reply = s_call(f, req);
    assert_true(msg_bool(reply, F_FOUND));
    assert_string_equal(msg_str(reply, F_STATE), "cooling");
    assert_int_equal(msg_int(reply, F_AT_MS), 1234);
    msg_destroy(&reply);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_user_touch_grants_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_order_holds_and_is_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_order_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_order_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_lifecycle_success, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_retry_failure_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_payments_and_adjustments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blocked_sessions_offset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_and_non_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_isolates_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery_requeues_running, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_detects_violations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_msg_expire_key_health, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
