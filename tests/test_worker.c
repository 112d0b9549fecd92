/*  test_worker.c — the KIE key worker end to end: a real ledger on a
    temporary database, the simulated KIE (kiesim) and Telegram (tgsim, for
    the input photo), and two fake session shards (PULL sockets) that
    collect the job events. Orders are placed through the ledger; the
    tests assert on job states and balances in the ledger, on the events,
    and on what the simulators saw. Outcomes are scripted with kiesim's
    prompt markers, carried in the product text.

    Timings are tiny (polls 10..40 ms, tasks 100 ms, retry base 10 ms,
    cooldowns of a few hundred ms) and all come from config/args fields.
*/
#include "testutil.h"

#include <fcntl.h>
#include <jansson.h>

#include "catalog.h"
#include "kie.h"
#include "kiesim.h"
#include "tgsim.h"
#include "worker.h"

#define SHARDS     2
#define KEY_A      "kie-worker-test-key-aaaaaaaaaaaa"
#define KEY_B      "kie-worker-test-key-bbbbbbbbbbbb"
#define PHOTO_USER 777
#define PRICE      3
#define MAX_EVENTS 512

//  Endpoints are new for each fixture: a failed test leaves its sockets.
static int s_fixtures;

typedef struct {
    int64_t job_id, user_id, progress, attempts, max_attempts, credits;
    char state[16];
    char err_class[32];
    char result_url[512];
} event_t;

typedef struct {
    char ledger_ep[64];
    char shard_eps[SHARDS][64];
    const char *shard_ep_list[SHARDS];
    char *path;
    config_t *config;
    catalog_t *catalog;
    kiesim_t *kie;
    tgsim_t *tg;
    ledger_args_t ledger_args;
    zactor_t *ledger;
    zsock_t *client;
    zsock_t *shards[SHARDS];
    char fingerprints[2][KIE_FINGERPRINT_MAX];
    const char *fingerprint_list[2];
    worker_args_t args[2];
    zactor_t *workers[2];
    char photo_id[256];
    event_t events[MAX_EVENTS];
    size_t event_count;
} fixture_t;

//  --- the fixture -------------------------------------------------------------

static void s_ledger_start(fixture_t *f) {
    f->ledger_args = (ledger_args_t){.config = f->config, .endpoint = f->ledger_ep};
    f->ledger = ledger_start(&f->ledger_args);
    assert_non_null(f->ledger);
    f->client = ledger_connect(f->ledger_ep);
}

static void s_ledger_stop(fixture_t *f) {
    zsock_destroy(&f->client);
    zactor_destroy(&f->ledger);
}

static fixture_t *s_fixture(int64_t task_ms) {
    fixture_t *f = calloc(1, sizeof *f);
    int n = ++s_fixtures;
    snprintf(f->ledger_ep, sizeof f->ledger_ep, "inproc://wt-ledger-%d", n);
    for (int i = 0; i < SHARDS; i++) {
        snprintf(f->shard_eps[i], sizeof f->shard_eps[i], "inproc://wt-shard-%d-%d", n, i);
        f->shard_ep_list[i] = f->shard_eps[i];
    }
    f->path = tu_db_path("worker");
    f->config = tu_config(f->path);
    f->config->free_credits = 100;
    f->config->limit_active = 100;
    f->config->limit_per_min = 1000;
    f->config->kie_poll_ms = 10;
    f->config->kie_poll_max_ms = 40;
    f->config->retry_base_ms = 10;
    f->config->max_attempts = 3;
    f->catalog = catalog_new_default();

    kiesim_options_t options;
    kiesim_options_init(&options);
    static const kiesim_key_t keys[] = {{KEY_A, 1000000, 0, 0, KIESIM_KEY_VALID},
                                        {KEY_B, 1000000, 0, 0, KIESIM_KEY_VALID}};
    options.keys = keys;
    options.key_count = 2;
    options.seed = 7;
    options.behaviour.task_duration_ms = task_ms;
    options.behaviour.visibility_delay_ms = 20;
    f->kie = kiesim_new(&options);
    assert_non_null(f->kie);
    free(f->config->kie_api_url);
    f->config->kie_api_url = strdup(kiesim_url(f->kie));
    free(f->config->kie_upload_url);
    f->config->kie_upload_url = strdup(kiesim_url(f->kie));

    f->tg = tgsim_new(NULL);
    assert_non_null(f->tg);
    free(f->config->telegram_api_url);
    f->config->telegram_api_url = strdup(tgsim_url(f->tg));
    free(f->config->telegram_bot_token);
    f->config->telegram_bot_token = strdup(tgsim_token(f->tg));
    //  the user's product photo, as the shard would have stored its file_id
    tgsim_user_add(f->tg, PHOTO_USER, "Photographer", "ru");
    assert_true(tgsim_send_photo(f->tg, PHOTO_USER, NULL, 0, NULL) > 0);
    tgsim_message_t **chat = tgsim_transcript(f->tg, PHOTO_USER);
    assert_non_null(chat);
    for (size_t i = 0; chat[i]; i++)
        if (chat[i]->file_id) snprintf(f->photo_id, sizeof f->photo_id, "%s", chat[i]->file_id);
    tgsim_transcript_destroy(&chat);
    assert_true(*f->photo_id);

    for (int i = 0; i < SHARDS; i++) {
        f->shards[i] = zsock_new(ZMQ_PULL);
        assert_true(zsock_bind(f->shards[i], "%s", f->shard_eps[i]) >= 0);
    }
    kie_key_fingerprint(KEY_A, f->fingerprints[0], KIE_FINGERPRINT_MAX);
    kie_key_fingerprint(KEY_B, f->fingerprints[1], KIE_FINGERPRINT_MAX);
    f->fingerprint_list[0] = f->fingerprints[0];
    f->fingerprint_list[1] = f->fingerprints[1];
    s_ledger_start(f);
    return f;
}

//  Worker i (0 = KEY_A, 1 = KEY_B) with the tests' timings.
static worker_args_t *s_args(fixture_t *f, int i) {
    f->args[i] = (worker_args_t){.config = f->config,
                                 .key = i == 0 ? KEY_A : KEY_B,
                                 .catalog = f->catalog,
                                 .ledger_endpoint = f->ledger_ep,
                                 .shard_endpoints = f->shard_ep_list,
                                 .shard_count = SHARDS,
                                 .index = (size_t)i,
                                 .fingerprints = f->fingerprint_list,
                                 .fingerprint_count = 2,
                                 .create_per_10s = 1000,
                                 .idle_poll_ms = 10,
                                 .cooldown_ms = 300,
                                 .billing_cooldown_ms = 60000,
                                 .max_task_ms = 3000,
                                 .queue_max_wait_ms = 60000,
                                 .expire_every_ms = 50,
                                 .seed = 42 + (uint64_t)i};
    return &f->args[i];
}

static void s_worker_start(fixture_t *f, int i) {
    if (!f->args[i].config) s_args(f, i);
    f->workers[i] = worker_start(&f->args[i]);
    assert_non_null(f->workers[i]);
}

static void s_worker_stop(fixture_t *f, int i) {
    zactor_destroy(&f->workers[i]);
}

static void s_fixture_destroy(fixture_t **f_p) {
    fixture_t *f = *f_p;
    for (int i = 0; i < 2; i++)
        s_worker_stop(f, i);
    s_ledger_stop(f);
    for (int i = 0; i < SHARDS; i++)
        zsock_destroy(&f->shards[i]);
    kiesim_destroy(&f->kie);
    tgsim_destroy(&f->tg);
    tu_assert_check(f->path);
    tu_db_remove(f->path);
    free(f->path);
    catalog_destroy(&f->catalog);
    config_destroy(&f->config);
    free(f);
    *f_p = NULL;
}

//  --- orders, jobs, balances ------------------------------------------------------

static msg_t *s_call(fixture_t *f, msg_t *req) {
    msg_t *reply = ledger_call(f->client, &req, 5000);
    assert_non_null(reply);
    return reply;
}

//  The params the session shard stores: the photo, a template, the text.
static char *s_params(fixture_t *f, const char *tpl, const char *product, const char *uid) {
    json_t *params = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s}", "v", 1, "lang", "ru",
                               "template", tpl, "product", product, "wishes", "-", "photo_file_id",
                               f->photo_id, "photo_unique_id", uid);
    char *text = json_dumps(params, JSON_COMPACT);
    json_decref(params);
    return text;
}

//  Places an order of count jobs for user; their ids into ids.
static void s_order(fixture_t *f, int64_t user, const char *token, int64_t count,
                    const char *product, int64_t *ids) {
    msg_destroy(&(msg_t *){s_call(f, tu_touch(user))});
    msg_t *req = tu_order(user, token, count, PRICE);
    char *params = s_params(f, "ugc", product, "AQADphoto1");
    msg_set_str(req, F_PARAMS, params);
    free(params);
    msg_t *reply = s_call(f, req);
    assert_int_equal(msg_kind(reply), MSG_K_ORDER);
    assert_int_equal(msg_len(reply, F_JOB_IDS), count);
    for (int64_t i = 0; i < count; i++)
        ids[i] = msg_ints(reply, F_JOB_IDS)[i];
    msg_destroy(&reply);
}

typedef struct {
    char state[16];
    char err_class[32];
    char result_url[512];
    char task_id[128];
    char key_id[64];
    int64_t attempts;
} job_t;

static job_t s_job(fixture_t *f, int64_t job_id) {
    job_t job;
    memset(&job, 0, sizeof job);
    msg_t *reply = s_call(f, tu_job_req(MSG_K_JOB_GET, job_id));
    assert_int_equal(msg_kind(reply), MSG_K_JOB_LIST);
    const msg_t *row = msg_row(reply, F_JOBS, 0);
    snprintf(job.state, sizeof job.state, "%s", msg_str(row, F_STATE));
    if (msg_has(row, F_ERR_CLASS))
        snprintf(job.err_class, sizeof job.err_class, "%s", msg_str(row, F_ERR_CLASS));
    if (msg_has(row, F_RESULT_URL))
        snprintf(job.result_url, sizeof job.result_url, "%s", msg_str(row, F_RESULT_URL));
    if (msg_has(row, F_TASK_ID))
        snprintf(job.task_id, sizeof job.task_id, "%s", msg_str(row, F_TASK_ID));
    if (msg_has(row, F_KEY_ID))
        snprintf(job.key_id, sizeof job.key_id, "%s", msg_str(row, F_KEY_ID));
    job.attempts = msg_int(row, F_ATTEMPTS);
    msg_destroy(&reply);
    return job;
}

static void s_balance(fixture_t *f, int64_t user, int64_t *balance, int64_t *held) {
    msg_t *req = msg_new(MSG_K_BALANCE_GET, 0);
    msg_set_int(req, F_USER_ID, user);
    msg_t *reply = s_call(f, req);
    *balance = msg_int(reply, F_BALANCE);
    *held = msg_int(reply, F_HELD);
    msg_destroy(&reply);
}

//  The job's credits came back: nothing held, the free credits whole.
static void s_assert_released(fixture_t *f, int64_t user) {
    int64_t balance, held;
    s_balance(f, user, &balance, &held);
    assert_int_equal(held, 0);
    assert_int_equal(balance, f->config->free_credits);
}

static void s_key_health(fixture_t *f, int key, char *state, size_t size, int64_t *until) {
    msg_t *req = msg_new(MSG_K_KEY_HEALTH_LOAD, 0);
    msg_set_str(req, F_KEY_ID, f->fingerprints[key]);
    msg_t *reply = s_call(f, req);
    snprintf(state, size, "%s", msg_bool(reply, F_FOUND) ? msg_str(reply, F_STATE) : "(none)");
    *until = msg_int(reply, F_AT_MS);
    msg_destroy(&reply);
}

//  --- events ------------------------------------------------------------------

//  Takes what the shards have, waiting up to timeout_ms for the first.
static void s_collect(fixture_t *f, int timeout_ms) {
    zpoller_t *poller = zpoller_new(f->shards[0], f->shards[1], NULL);
    void *which = zpoller_wait(poller, timeout_ms);
    while (which) {
        msg_err_t err;
        msg_t *msg = msg_recv((zsock_t *)which, &err);
        assert_non_null(msg);
        assert_int_equal(msg_kind(msg), MSG_K_JOB_EVENT);
        assert_true(f->event_count < MAX_EVENTS);
        event_t *ev = &f->events[f->event_count++];
        memset(ev, 0, sizeof *ev);
        ev->job_id = msg_int(msg, F_JOB_ID);
        ev->user_id = msg_int(msg, F_USER_ID);
        //  each event goes to its user's shard
        assert_ptr_equal(which, f->shards[ev->user_id % SHARDS]);
        snprintf(ev->state, sizeof ev->state, "%s", msg_str(msg, F_STATE));
        ev->progress = msg_has(msg, F_PROGRESS) ? msg_int(msg, F_PROGRESS) : -1;
        if (msg_has(msg, F_ERR_CLASS))
            snprintf(ev->err_class, sizeof ev->err_class, "%s", msg_str(msg, F_ERR_CLASS));
        if (msg_has(msg, F_RESULT_URL))
            snprintf(ev->result_url, sizeof ev->result_url, "%s", msg_str(msg, F_RESULT_URL));
        ev->attempts = msg_int(msg, F_ATTEMPTS);
        ev->max_attempts = msg_int(msg, F_MAX_ATTEMPTS);
        ev->credits = msg_int(msg, F_CREDITS);
        msg_destroy(&msg);
        which = zpoller_wait(poller, 0);
    }
    zpoller_destroy(&poller);
}

static const event_t *s_find(fixture_t *f, int64_t job_id, const char *state) {
    for (size_t i = 0; i < f->event_count; i++)
        if (f->events[i].job_id == job_id && strcmp(f->events[i].state, state) == 0)
            return &f->events[i];
    return NULL;
}

static bool s_final(const event_t *ev) {
    return strcmp(ev->state, "succeeded") == 0 || strcmp(ev->state, "failed") == 0;
}

static size_t s_count(fixture_t *f, int64_t job_id, const char *state) {
    size_t n = 0;
    for (size_t i = 0; i < f->event_count; i++)
        n += f->events[i].job_id == job_id && strcmp(f->events[i].state, state) == 0;
    return n;
}

//  Waits for an event of the job in state (NULL = final); fails after
//  timeout_ms.
static const event_t *s_wait(fixture_t *f, int64_t job_id, const char *state, int timeout_ms) {
    int64_t deadline = zclock_mono() + timeout_ms;
    while (true) {
        for (size_t i = 0; i < f->event_count; i++) {
            const event_t *ev = &f->events[i];
            if (ev->job_id == job_id && (state ? strcmp(ev->state, state) == 0 : s_final(ev)))
                return ev;
        }
        int64_t left = deadline - zclock_mono();
        if (left <= 0)
            fail_msg("job %lld: no %s event in %d ms", (long long)job_id, state ? state : "final",
                     timeout_ms);
        s_collect(f, (int)left);
    }
}

static json_t *s_tasks_with(fixture_t *f, const char *marker, size_t *count) {
    json_t *tasks = kiesim_tasks(f->kie);
    json_t *found = json_array();
    size_t i;
    json_t *task;
    json_array_foreach(tasks, i, task) {
        const char *prompt = json_string_value(json_object_get(task, "prompt"));
        if (prompt && strstr(prompt, marker)) json_array_append(found, task);
    }
    json_decref(tasks);
    *count = json_array_size(found);
    return found;
}

//  --- tests -------------------------------------------------------------------

//  One video: photo fetched from Telegram and uploaded to KIE, the task
//  created, recorded, polled, captured; events submitted -> (progress) ->
//  succeeded, each on the user's shard.
static void test_success_end_to_end(void **state) {
    (void)state;
    fixture_t *f = s_fixture(150);
    s_worker_start(f, 0);
    int64_t job;
    s_order(f, 101, "ok-1", 1, "Крем для рук «Бархат» [[sim:success]]", &job);
    const event_t *done = s_wait(f, job, NULL, 10000);
    assert_string_equal(done->state, "succeeded");
    job_t row = s_job(f, job);
    assert_string_equal(row.state, "succeeded");
    assert_true(*row.task_id);
    assert_string_equal(row.key_id, f->fingerprints[0]);
    assert_string_equal(done->result_url, row.result_url);
    assert_non_null(strstr(row.result_url, kiesim_url(f->kie)));
    assert_non_null(strstr(row.result_url, row.task_id));
    //  the events in order: submitted first, progress only growing, then done
    size_t first = MAX_EVENTS, last = 0;
    int64_t progress = -1;
    for (size_t i = 0; i < f->event_count; i++) {
        const event_t *ev = &f->events[i];
        if (ev->job_id != job) continue;
        if (first == MAX_EVENTS) {
            first = i;
            assert_string_equal(ev->state, "submitted");
            assert_int_equal(ev->progress, -1);
        } else if (strcmp(ev->state, "submitted") == 0) {
            assert_true(ev->progress > progress);
            progress = ev->progress;
        }
        last = i;
    }
    assert_ptr_equal(&f->events[last], done);
    assert_int_equal(s_count(f, job, "succeeded"), 1);
    //  the capture: the price is spent, nothing held
    int64_t balance, held;
    s_balance(f, 101, &balance, &held);
    assert_int_equal(held, 0);
    assert_int_equal(balance, f->config->free_credits - PRICE);
    //  KIE saw one upload, one task with the uploaded URL and our prompt,
    //  and never a Telegram file URL
    kiesim_stats_t stats;
    kiesim_stats(f->kie, &stats);
    assert_int_equal(stats.uploads, 1);
    assert_int_equal(stats.creates, 1);
    assert_int_equal(stats.telegram_urls, 0);
    assert_int_equal(tgsim_calls_count(f->tg, "getFile"), 1);
    size_t n;
    json_t *tasks = s_tasks_with(f, "Бархат", &n);
    assert_int_equal(n, 1);
    json_t *task = json_array_get(tasks, 0);
    const char *prompt = json_string_value(json_object_get(task, "prompt"));
    assert_non_null(strstr(prompt, "Vertical 9:16"));
    assert_non_null(strstr(prompt, "Product: \"Крем для рук «Бархат» [[sim:success]]\""));
    const char *image = json_string_value(json_array_get(json_object_get(task, "imageUrls"), 0));
    assert_non_null(image);
    assert_null(strstr(image, "/bot"));
    json_decref(tasks);
    s_fixture_destroy(&f);
}

//  Each final class ends the job failed and released, with its class, in
//  the ledger and in the event (credits given back).
static void test_failure_classes(void **state) {
    (void)state;
    fixture_t *f = s_fixture(100);
    s_worker_start(f, 0);
    static const struct {
        const char *product;
        const char *err_class;
        int creates; //  tasks KIE made for it
    } cases[] = {
        {"Ваза [[sim:fail=content]]", "content_violation", 1},
        {"Vase [[sim:fail=people]]", "content_violation", 1},
        {"Vase [[sim:create=422]]", "invalid_request", 0},
        {"Vase [[sim:create=505]]", "invalid_request", 0},
        {"Vase [[sim:create=501]]", "unknown", 0},
        {"Vase [[sim:fail=temporary]]", "temporary", 3}, //  max_attempts tries
    };
    enum { N = sizeof cases / sizeof cases[0] };
    int64_t jobs[N];
    for (int i = 0; i < N; i++) {
        char token[32];
        snprintf(token, sizeof token, "fail-%d", i);
        s_order(f, 200 + i, token, 1, cases[i].product, &jobs[i]);
    }
    for (int i = 0; i < N; i++) {
        const event_t *done = s_wait(f, jobs[i], NULL, 15000);
        assert_string_equal(done->state, "failed");
        assert_string_equal(done->err_class, cases[i].err_class);
        assert_int_equal(done->credits, PRICE);
        job_t row = s_job(f, jobs[i]);
        assert_string_equal(row.state, "failed");
        assert_string_equal(row.err_class, cases[i].err_class);
        s_assert_released(f, 200 + i);
        const char *marker = strstr(cases[i].product, "[[");
        size_t made;
        json_decref(s_tasks_with(f, marker, &made));
        assert_int_equal(made, cases[i].creates);
    }
    //  the temporary one was retried twice, telling the user each time
    int64_t temp = jobs[N - 1];
    assert_int_equal(s_count(f, temp, "queued"), 2);
    int expected = 2;
    for (size_t i = 0; i < f->event_count; i++) {
        const event_t *ev = &f->events[i];
        if (ev->job_id != temp || strcmp(ev->state, "queued") != 0) continue;
        assert_string_equal(ev->err_class, "temporary");
        assert_int_equal(ev->attempts, expected++); //  "attempt 2 of 3", "attempt 3 of 3"
        assert_int_equal(ev->max_attempts, 3);
    }
    assert_int_equal(s_job(f, temp).attempts, 2);
    //  the final classes were not retried
    for (int i = 0; i < N - 1; i++)
        assert_int_equal(s_count(f, jobs[i], "queued"), 0);
    s_fixture_destroy(&f);
}

//  A photo Telegram does not know: our request is wrong, no retry.
static void test_bad_photo_fails(void **state) {
    (void)state;
    fixture_t *f = s_fixture(100);
    snprintf(f->photo_id, sizeof f->photo_id, "AgACAgIAAxkBAAIBnoSuchFile");
    s_worker_start(f, 0);
    int64_t job;
    s_order(f, 301, "photo-1", 1, "Mug", &job);
    const event_t *done = s_wait(f, job, NULL, 10000);
    assert_string_equal(done->state, "failed");
    assert_string_equal(done->err_class, "invalid_request");
    s_assert_released(f, 301);
    kiesim_stats_t stats;
    kiesim_stats(f->kie, &stats);
    assert_int_equal(stats.uploads, 0);
    assert_int_equal(stats.creates, 0);
    s_fixture_destroy(&f);
}

//  createTask refused twice with 500, then accepted: two counted retries
//  and a success. A task whose polls fail with 500 three times is not a
//  failure: it is asked again and succeeds, created once.
static void test_temporary_then_success(void **state) {
    (void)state;
    fixture_t *f = s_fixture(100);
    s_worker_start(f, 0);
    int64_t flaky, polls;
    s_order(f, 401, "temp-1", 1, "Lamp [[sim:create=500x2]]", &flaky);
    s_order(f, 402, "temp-2", 1, "Lamp [[sim:poll=500x3]]", &polls);
    assert_string_equal(s_wait(f, flaky, NULL, 10000)->state, "succeeded");
    assert_string_equal(s_wait(f, polls, NULL, 10000)->state, "succeeded");
    assert_int_equal(s_count(f, flaky, "queued"), 2);
    const event_t *retry = s_find(f, flaky, "queued");
    assert_string_equal(retry->err_class, "temporary");
    assert_int_equal(retry->attempts, 2);
    job_t row = s_job(f, flaky);
    assert_string_equal(row.state, "succeeded");
    assert_int_equal(row.attempts, 2);
    assert_int_equal(s_count(f, polls, "queued"), 0);
    assert_int_equal(s_job(f, polls).attempts, 0);
    size_t made;
    json_decref(s_tasks_with(f, "poll=500x3", &made));
    assert_int_equal(made, 1);
    json_decref(s_tasks_with(f, "create=500x2", &made));
    assert_int_equal(made, 1);
    //  the photo was uploaded once for both, the retries reused it
    kiesim_stats_t stats;
    kiesim_stats(f->kie, &stats);
    assert_int_equal(stats.uploads, 1);
    s_fixture_destroy(&f);
}

//  KIE could not fetch our upload: the cached URL is dropped and each
//  retry uploads the photo again; after max_attempts the job is released.
static void test_unfetchable_upload_uploaded_again(void **state) {
    (void)state;
    fixture_t *f = s_fixture(100);
    s_worker_start(f, 0);
    int64_t job;
    s_order(f, 451, "fetch-1", 1, "Cup [[sim:fail=image]]", &job);
    const event_t *done = s_wait(f, job, NULL, 10000);
    assert_string_equal(done->state, "failed");
    assert_string_equal(done->err_class, "temporary");
    s_assert_released(f, 451);
    kiesim_stats_t stats;
    kiesim_stats(f->kie, &stats);
    assert_int_equal(stats.creates, 3);
    assert_int_equal(stats.uploads, 3);
    s_fixture_destroy(&f);
}

//  The createTask budget holds claims back: at 5 per 10 s (a burst of 1,
//  then 4 per 10 s) three jobs can't all start within a second.
static void test_create_budget(void **state) {
    (void)state;
    fixture_t *f = s_fixture(100);
    s_args(f, 0)->create_per_10s = 5;
    s_worker_start(f, 0);
    int64_t jobs[3];
    s_order(f, 1201, "budget-1", 3, "Pen", jobs);
    assert_string_equal(s_wait(f, jobs[0], NULL, 10000)->state, "succeeded");
    zclock_sleep(300);
    kiesim_stats_t stats;
    kiesim_stats(f->kie, &stats);
    assert_int_equal(stats.creates, 1);
    assert_string_equal(s_job(f, jobs[1]).state, "queued");
    assert_string_equal(s_job(f, jobs[2]).state, "queued");
    s_fixture_destroy(&f);
}

//  429 on key A: A cools (saved by fingerprint), the job goes back to the
//  queue without an attempt counted, and key B does it.
static void test_rate_limit_fails_over(void **state) {
    (void)state;
    fixture_t *f = s_fixture(100);
    s_args(f, 0)->cooldown_ms = 5000;
    s_worker_start(f, 0);
    int64_t job;
    s_order(f, 501, "rl-1", 1, "Chair [[sim:create=429x1]]", &job);
    const event_t *queued = s_wait(f, job, "queued", 10000);
    assert_string_equal(queued->err_class, "rate_limited");
    assert_int_equal(queued->attempts, 1);
    assert_int_equal(queued->max_attempts, 3);
    char health[16];
    int64_t until;
    s_key_health(f, 0, health, sizeof health, &until);
    assert_string_equal(health, "cooling");
    assert_true(until > zclock_time());
    s_worker_start(f, 1);
    assert_string_equal(s_wait(f, job, NULL, 10000)->state, "succeeded");
    job_t row = s_job(f, job);
    assert_string_equal(row.key_id, f->fingerprints[1]);
    assert_int_equal(row.attempts, 0);
    kiesim_key_stats_t a, b;
    kiesim_key_stats(f->kie, KEY_A, &a);
    kiesim_key_stats(f->kie, KEY_B, &b);
    assert_int_equal(a.creates, 0);
    assert_int_equal(a.creates_rejected, 1);
    assert_int_equal(b.creates, 1);
    s_fixture_destroy(&f);
}

//  Key A has no credits left (402): an alert, A cools for the billing
//  cooldown, the job is requeued and key B does it. Neither key nor bot
//  token ever reaches the log.
static void test_billing_fails_over(void **state) {
    (void)state;
    fixture_t *f = s_fixture(100);
    char log_path[] = "/tmp/genbot-test-worker-log-XXXXXX";
    int log_fd = mkstemp(log_path);
    assert_true(log_fd >= 0);
    log_set_fd(log_fd);
    log_set_level(LOG_LEVEL_DEBUG);
    kiesim_key_set_credits(f->kie, KEY_A, 0);
    s_worker_start(f, 0);
    int64_t job;
    s_order(f, 601, "bill-1", 1, "Table", &job);
    const event_t *queued = s_wait(f, job, "queued", 10000);
    assert_string_equal(queued->err_class, "billing");
    char health[16];
    int64_t until;
    s_key_health(f, 0, health, sizeof health, &until);
    assert_string_equal(health, "cooling");
    assert_true(until > zclock_time() + 50000);
    s_worker_start(f, 1);
    assert_string_equal(s_wait(f, job, NULL, 10000)->state, "succeeded");
    assert_string_equal(s_job(f, job).key_id, f->fingerprints[1]);
    s_worker_stop(f, 0);
    s_worker_stop(f, 1);
    log_set_level(LOG_LEVEL_WARN);
    log_set_fd(2);
    //  what the log says, and what it never says
    lseek(log_fd, 0, SEEK_SET);
    static char text[1 << 20];
    ssize_t n = read(log_fd, text, sizeof text - 1);
    close(log_fd);
    unlink(log_path);
    assert_true(n > 0);
    text[n] = '\0';
    assert_non_null(strstr(text, "alert=billing"));
    assert_non_null(strstr(text, f->fingerprints[0]));
    assert_null(strstr(text, KEY_A));
    assert_null(strstr(text, KEY_B));
    assert_null(strstr(text, f->config->telegram_bot_token));
    assert_null(strstr(text, "/file/bot"));
    s_fixture_destroy(&f);
}

//  The only key is refused (401): it is disabled and saved so, the jobs
//  wait in the queue, and the queue timeout releases them. A restart
//  probes the disabled key and takes it back once KIE accepts it.
static void test_no_usable_key_queue_timeout(void **state) {
    (void)state;
    fixture_t *f = s_fixture(100);
    kiesim_key_set_state(f->kie, KEY_A, KIESIM_KEY_DISABLED);
    s_args(f, 0)->queue_max_wait_ms = 300;
    s_worker_start(f, 0);
    int64_t jobs[2];
    int64_t start = zclock_mono();
    s_order(f, 701, "dead-1", 2, "Sofa", jobs);
    for (int i = 0; i < 2; i++) {
        const event_t *done = s_wait(f, jobs[i], NULL, 10000);
        assert_string_equal(done->state, "failed");
        assert_string_equal(done->err_class, "timeout");
        assert_int_equal(done->credits, PRICE);
        assert_string_equal(s_job(f, jobs[i]).err_class, "timeout");
        assert_non_null(s_find(f, jobs[i], "queued"));
        assert_string_equal(s_find(f, jobs[i], "queued")->err_class, "auth");
    }
    assert_true(zclock_mono() - start >= 300);
    s_assert_released(f, 701);
    char health[16];
    int64_t until;
    s_key_health(f, 0, health, sizeof health, &until);
    assert_string_equal(health, "disabled");
    //  restarted while KIE still refuses it: stays disabled, claims nothing
    s_worker_stop(f, 0);
    f->args[0].queue_max_wait_ms = 60000;
    s_worker_start(f, 0);
    int64_t later;
    s_order(f, 702, "dead-2", 1, "Sofa", &later);
    zclock_sleep(100);
    assert_string_equal(s_job(f, later).state, "queued");
    s_worker_stop(f, 0);
    //  an operator fixed the key: the probe at start makes it healthy
    kiesim_key_set_state(f->kie, KEY_A, KIESIM_KEY_VALID);
    s_worker_start(f, 0);
    assert_string_equal(s_wait(f, later, NULL, 10000)->state, "succeeded");
    s_key_health(f, 0, health, sizeof health, &until);
    assert_string_equal(health, "healthy");
    s_fixture_destroy(&f);
}

//  A task that never finishes is given up at the maximum task time and
//  released.
static void test_task_timeout(void **state) {
    (void)state;
    fixture_t *f = s_fixture(100);
    s_args(f, 0)->max_task_ms = 300;
    s_worker_start(f, 0);
    int64_t job;
    int64_t start = zclock_mono();
    s_order(f, 801, "slow-1", 1, "Clock [[sim:never]]", &job);
    const event_t *done = s_wait(f, job, NULL, 10000);
    assert_string_equal(done->state, "failed");
    assert_string_equal(done->err_class, "timeout");
    assert_true(zclock_mono() - start >= 300);
    s_assert_released(f, 801);
    assert_int_equal(s_count(f, job, "queued"), 0);
    kiesim_stats_t stats;
    kiesim_stats(f->kie, &stats);
    assert_int_equal(stats.creates, 1);
    s_fixture_destroy(&f);
}

//  Three videos from one photo, processed at once: one getFile, one
//  upload, three tasks with the same image. A later order of the same
//  photo uses the cache too.
static void test_upload_cache_three_videos(void **state) {
    (void)state;
    fixture_t *f = s_fixture(100);
    s_worker_start(f, 0);
    int64_t jobs[3];
    s_order(f, 901, "three-1", 3, "Perfume", jobs);
    for (int i = 0; i < 3; i++)
        assert_string_equal(s_wait(f, jobs[i], NULL, 10000)->state, "succeeded");
    kiesim_stats_t stats;
    kiesim_stats(f->kie, &stats);
    assert_int_equal(stats.uploads, 1);
    assert_int_equal(stats.creates, 3);
    assert_int_equal(tgsim_calls_count(f->tg, "getFile"), 1);
    json_t *tasks = kiesim_tasks(f->kie);
    const char *image = NULL;
    size_t i;
    json_t *task;
    json_array_foreach(tasks, i, task) {
        const char *url = json_string_value(json_array_get(json_object_get(task, "imageUrls"), 0));
        if (!image) image = url;
        assert_string_equal(url, image);
    }
    json_decref(tasks);
    int64_t more[2];
    s_order(f, 902, "three-2", 2, "Perfume", more);
    for (int j = 0; j < 2; j++)
        assert_string_equal(s_wait(f, more[j], NULL, 10000)->state, "succeeded");
    kiesim_stats(f->kie, &stats);
    assert_int_equal(stats.uploads, 1);
    assert_int_equal(stats.creates, 5);
    s_fixture_destroy(&f);
}

//  Stopped while its tasks run: the next run (ledger and worker on the
//  same database) polls them — no task created again — and each job
//  succeeds exactly once.
static void test_restart_resumes_tasks(void **state) {
    (void)state;
    fixture_t *f = s_fixture(600);
    s_worker_start(f, 0);
    int64_t jobs[3];
    s_order(f, 1001, "restart-1", 3, "Bag", jobs);
    for (int i = 0; i < 3; i++)
        s_wait(f, jobs[i], "submitted", 10000);
    s_worker_stop(f, 0);
    s_ledger_stop(f);
    kiesim_stats_t stats;
    kiesim_stats(f->kie, &stats);
    assert_int_equal(stats.creates, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(s_count(f, jobs[i], "succeeded"), 0);
    s_ledger_start(f);
    for (int i = 0; i < 3; i++)
        assert_string_equal(s_job(f, jobs[i]).state, "submitted");
    s_worker_start(f, 0);
    for (int i = 0; i < 3; i++)
        assert_string_equal(s_wait(f, jobs[i], NULL, 10000)->state, "succeeded");
    s_collect(f, 100);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(s_count(f, jobs[i], "succeeded"), 1);
        assert_string_equal(s_job(f, jobs[i]).state, "succeeded");
    }
    kiesim_stats(f->kie, &stats);
    assert_int_equal(stats.creates, 3);
    int64_t balance, held;
    s_balance(f, 1001, &balance, &held);
    assert_int_equal(held, 0);
    assert_int_equal(balance, f->config->free_credits - 3 * PRICE);
    s_fixture_destroy(&f);
}

//  A submitted job whose key is no longer configured can't be polled:
//  worker 0 releases it at start. A job of a configured key is left alone.
static void test_removed_key_released(void **state) {
    (void)state;
    fixture_t *f = s_fixture(100);
    int64_t jobs[2];
    s_order(f, 1101, "gone-1", 2, "Hat", jobs);
    msg_t *reply = s_call(f, tu_claim("gone-12345678", 1));
    assert_int_equal(msg_len(reply, F_JOBS), 1);
    msg_destroy(&reply);
    reply = s_call(f, tu_submitted(jobs[0], "task-of-a-removed-key"));
    assert_int_equal(msg_kind(reply), MSG_K_OK);
    msg_destroy(&reply);
    s_args(f, 0)->fingerprint_count = 1; //  only KEY_A
    s_worker_start(f, 0);
    const event_t *done = s_wait(f, jobs[0], NULL, 10000);
    assert_string_equal(done->state, "failed");
    assert_string_equal(done->err_class, "invalid_request");
    assert_int_equal(done->credits, PRICE);
    assert_string_equal(s_job(f, jobs[0]).state, "failed");
    assert_string_equal(s_wait(f, jobs[1], NULL, 10000)->state, "succeeded");
    int64_t balance, held;
    s_balance(f, 1101, &balance, &held);
    assert_int_equal(held, 0);
    assert_int_equal(balance, f->config->free_credits - PRICE);
    s_fixture_destroy(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_success_end_to_end),
        cmocka_unit_test(test_failure_classes),
        cmocka_unit_test(test_bad_photo_fails),
        cmocka_unit_test(test_temporary_then_success),
        cmocka_unit_test(test_unfetchable_upload_uploaded_again),
        cmocka_unit_test(test_create_budget),
        cmocka_unit_test(test_rate_limit_fails_over),
        cmocka_unit_test(test_billing_fails_over),
        cmocka_unit_test(test_no_usable_key_queue_timeout),
        cmocka_unit_test(test_task_timeout),
        cmocka_unit_test(test_upload_cache_three_videos),
        cmocka_unit_test(test_restart_resumes_tasks),
        cmocka_unit_test(test_removed_key_released),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
