/*  test_pipeline.c — the generation pipeline end to end: genbot (every
    actor, real key workers) against the simulated Telegram (tgsim) and KIE
    (kiesim). A user orders through the chat (/start → photo → text →
    template → count → ✅) and the tests follow the job to its end: the
    status message, the video uploaded to the user, the failure told in the
    user's language with the credits back, the key failover, the queue
    timeout, and a few hundred jobs across SIGKILL restarts.

    test_failure_told_across_sigkill reproduces, deterministically, what the
    SIGKILL load showed now and then before failures were tracked as told: a
    failure told to nobody. Telegram answers 500 to the message until the
    kill, which holds it in the window where the kill used to lose it.
    (Interactive replies are still at most once: a reply waiting in the
    notifier when the process dies is lost — see the notes on the issue.)

    Outcomes are scripted with kiesim's prompt markers carried in the
    product text. Timings are tiny (polls 10..50 ms, tasks 200 ms, retry
    base 10 ms); the queue timeout waits for worker 0's chores (5 s). The
    tests that fork come first: a child must not inherit a ZeroMQ context.
    PIPELINE_TESTS=<pattern> runs some.
*/
#include "testutil.h"

#include <jansson.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "genbot.h"
#include "kie.h"
#include "kiesim.h"
#include "tgsim.h"

#define WAIT_MS 15000
#define KEY_A   "pipeline-test-key-aaaaaaaaaaaaaaaa"
#define KEY_B   "pipeline-test-key-bbbbbbbbbbbbbbbb"

typedef struct {
    char *path;
    config_t *config;
    tgsim_t *tg;
    kiesim_t *kie;
    genbot_t *genbot;
    char prefix[32]; //  of the running genbot's endpoints
} fixture_t;

//  --- the fixture -------------------------------------------------------------

//  The fixture of the running test: freed by the teardown when the test
//  failed midway (no leak reports after a failure).
static fixture_t *s_current;

//  Both simulators, two keys in kiesim (keys of them configured in genbot),
//  tasks of task_ms. genbot is not started yet.
static fixture_t *s_fixture(size_t keys, int64_t task_ms, int64_t free_credits) {
    fixture_t *f = calloc(1, sizeof *f);
    f->path = tu_db_path("pipeline");
    f->config = tu_config(f->path);
    config_t *config = f->config;

    tgsim_opts_t opts;
    tgsim_opts_init(&opts);
    f->tg = tgsim_new(&opts);
    assert_non_null(f->tg);
    free(config->telegram_api_url);
    config->telegram_api_url = strdup(tgsim_url(f->tg));
    free(config->telegram_bot_token);
    config->telegram_bot_token = strdup(tgsim_token(f->tg));
    config->tg_poll_timeout_s = 1;
    config->tg_rate = 1000; //  tgsim enforces nothing here
    config->tg_chat_rate = 100;

    kiesim_options_t options;
    kiesim_options_init(&options);
    static const kiesim_key_t sim_keys[] = {{KEY_A, 1000000, 0, 0, KIESIM_KEY_VALID},
                                            {KEY_B, 1000000, 0, 0, KIESIM_KEY_VALID}};
    options.keys = sim_keys;
    options.key_count = 2;
    options.seed = 11;
    options.behaviour.task_duration_ms = task_ms;
    options.behaviour.visibility_delay_ms = 10;
    f->kie = kiesim_new(&options);
    assert_non_null(f->kie);
    free(config->kie_api_url);
    config->kie_api_url = strdup(kiesim_url(f->kie));
    free(config->kie_upload_url);
    config->kie_upload_url = strdup(kiesim_url(f->kie));
    const char *names[] = {KEY_A, KEY_B};
    for (size_t i = 0; i < keys && i < 2; i++) {
        free(config->kie_api_keys[i]);
        config->kie_api_keys[i] = strdup(names[i]);
    }
    config->kie_api_key_count = keys;

    config->kie_poll_ms = 10;
    config->kie_poll_max_ms = 50;
    config->retry_base_ms = 10;
    config->max_attempts = 3;
    config->kie_max_task_s = 30;
    config->key_cooldown_s = 60;
    config->key_create_per_10s = 1000;
    config->free_credits = free_credits;
    config->limit_active = 100;
    config->limit_per_min = 100;
    config->flood_per_10s = 100000;
    config->sync_full = 0;
    s_current = f;
    return f;
}

static void s_start_opts(fixture_t *f, bool no_workers) {
    static int instance;
    snprintf(f->prefix, sizeof f->prefix, "pl%d-", instance++);
    genbot_opts_t opts = {.config = f->config, .prefix = f->prefix, .no_workers = no_workers};
    f->genbot = genbot_start(&opts);
    assert_non_null(f->genbot);
}

static void s_start(fixture_t *f) {
    s_start_opts(f, false);
}

static void s_fixture_free(fixture_t **f_p, bool check) {
    fixture_t *f = *f_p;
    if (!f) return;
    genbot_stop(&f->genbot);
    tgsim_destroy(&f->tg);
    kiesim_destroy(&f->kie);
    if (check) tu_assert_check(f->path);
    tu_db_remove(f->path);
    free(f->path);
    config_destroy(&f->config);
    free(f);
    *f_p = NULL;
    if (s_current == f) s_current = NULL;
}

static void s_fixture_destroy(fixture_t **f_p) {
    s_fixture_free(f_p, true);
}

//  --- the database, read-only ---------------------------------------------------

//  The first column of the first row of a query (-1 when none); fails the
//  test when the query can't run, unless soft (then -2).
static int64_t s_sqlv(const char *path, bool soft, const char *fmt, va_list ap) {
    char sql[1024];
    vsnprintf(sql, sizeof sql, fmt, ap);
    sqlite3 *db = NULL;
    int64_t value = -1;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    sqlite3_stmt *stmt = NULL;
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(db, 2000);
        rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(stmt);
        if (rc == SQLITE_ROW) value = sqlite3_column_int64(stmt, 0);
        rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    char error[256] = "";
    if (rc != SQLITE_OK) snprintf(error, sizeof error, "%s", sqlite3_errmsg(db));
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    if (rc != SQLITE_OK && !soft) fail_msg("%s: %s", sql, error);
    return rc == SQLITE_OK ? value : -2;
}

static int64_t s_sql(const char *path, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int64_t value = s_sqlv(path, false, fmt, ap);
    va_end(ap);
    return value;
}

static int64_t s_sql_soft(const char *path, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int64_t value = s_sqlv(path, true, fmt, ap);
    va_end(ap);
    return value;
}

//  The first column of the first row as text into out ("" when none).
static void s_sql_text(const char *path, char *out, size_t size, const char *fmt, ...) {
    char sql[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    *out = '\0';
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 2000);
    sqlite3_stmt *stmt;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        char error[256];
        snprintf(error, sizeof error, "%s", sqlite3_errmsg(db));
        sqlite3_close(db);
        fail_msg("%s: %s", sql, error);
    }
    if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0))
        snprintf(out, size, "%s", (const char *)sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    sqlite3_close(db);
}

//  The n-th job (0 = oldest) of a user.
static int64_t s_job_of(fixture_t *f, int64_t user, int n) {
    int64_t job = s_sql(f->path,
                        "SELECT job_id FROM jobs WHERE user_id = %lld ORDER BY job_id "
                        "LIMIT 1 OFFSET %d",
                        (long long)user, n);
    assert_true(job > 0);
    return job;
}

static void s_job_state(fixture_t *f, int64_t job, char *state, size_t size) {
    s_sql_text(f->path, state, size, "SELECT state FROM jobs WHERE job_id = %lld", (long long)job);
}

//  Waits until the job is in state.
static void s_wait_job(fixture_t *f, int64_t job, const char *state, int timeout_ms) {
    int64_t deadline = zclock_mono() + timeout_ms;
    char now[32] = "";
    while (zclock_mono() < deadline) {
        s_job_state(f, job, now, sizeof now);
        if (strcmp(now, state) == 0) return;
        zclock_sleep(20);
    }
    fail_msg("job %lld: %s, not %s, after %d ms", (long long)job, now, state, timeout_ms);
}

static int64_t s_entries(fixture_t *f, int64_t job, const char *kind) {
    return s_sql(f->path, "SELECT count(*) FROM entries WHERE job_id = %lld AND kind = '%s'",
                 (long long)job, kind);
}

static void s_assert_balance(fixture_t *f, int64_t user, int64_t balance, int64_t held) {
    assert_int_equal(
        s_sql(f->path, "SELECT balance FROM users WHERE user_id = %lld", (long long)user), balance);
    assert_int_equal(s_sql(f->path, "SELECT held FROM users WHERE user_id = %lld", (long long)user),
                     held);
}

//  --- the user's side ---------------------------------------------------------

typedef enum { DO_TEXT, DO_PHOTO, DO_PRESS } s_do_t;

static int64_t s_do(tgsim_t *sim, int64_t user, s_do_t what, const char *arg) {
    return what == DO_TEXT    ? tgsim_send_text(sim, user, arg)
           : what == DO_PHOTO ? tgsim_send_photo(sim, user, NULL, 0, NULL)
                              : tgsim_press_label(sim, user, 0, arg);
}

//  Fails the test with what, followed by the user's chat as it is.
static void s_fail_chat(tgsim_t *sim, int64_t user, const char *what) {
    static char text[32768];
    char *transcript = tgsim_transcript_text(sim, user);
    snprintf(text, sizeof text, "%s Transcript:\n%s", what, transcript ? transcript : "");
    free(transcript);
    fail_msg("%s", text);
}

//  Does something as the user, then waits for a bot message containing
//  expect that came after it.
static int64_t s_act(tgsim_t *sim, int64_t user, s_do_t what, const char *arg, const char *expect) {
    uint64_t after = tgsim_seq(sim);
    if (s_do(sim, user, what, arg) < 0)
        fail_msg("user %lld: could not %s \"%s\"", (long long)user,
                 what == DO_PRESS ? "press" : "send", arg ? arg : "photo");
    int64_t message = tgsim_wait_message_after(sim, user, expect, after, WAIT_MS);
    if (message < 0) {
        char what[256];
        snprintf(what, sizeof what, "user %lld: no \"%s\" after \"%s\".", (long long)user, expect,
                 arg ? arg : "photo");
        s_fail_chat(sim, user, what);
    }
    return message;
}

//  The chat flow of one order: product text, a count label ("1️⃣").
static void s_order(fixture_t *f, int64_t user, bool ru, const char *product, const char *count) {
    tgsim_user_add(f->tg, user, ru ? "Аня" : "Ann", ru ? "ru" : "en");
    s_act(f->tg, user, DO_TEXT, "/start", ru ? "Главное меню" : "Main menu");
    s_act(f->tg, user, DO_PRESS, ru ? "Создать видео" : "Create video",
          ru ? "Пришли фото" : "Send a photo");
    s_act(f->tg, user, DO_PHOTO, NULL, ru ? "Напиши о товаре" : "Describe the product");
    s_act(f->tg, user, DO_TEXT, product, ru ? "Выбери шаблон" : "Choose a video template");
    s_act(f->tg, user, DO_PRESS, "UGC", ru ? "пожелания" : "extra wishes");
    s_act(f->tg, user, DO_TEXT, "-", ru ? "Сколько видео" : "How many videos");
    s_act(f->tg, user, DO_PRESS, count, ru ? "Всё готово к запуску" : "Ready to launch");
    s_act(f->tg, user, DO_PRESS, ru ? "Запустить" : "Launch", ru ? "Принял" : "Got it");
}

//  Messages sent to user (sendMessage/sendVideo answered ok) whose text
//  contains text.
static size_t s_sends_with(tgsim_t *sim, int64_t user, const char *text) {
    size_t n = 0;
    uint64_t seq = 0;
    for (const tgsim_call_t *call; (call = tgsim_next_call(sim, user, seq, 0)); seq = call->seq)
        if (call->status == 200 && !call->error && call->text && strstr(call->text, text) &&
            (strcmp(call->method, "sendMessage") == 0 || strcmp(call->method, "sendVideo") == 0))
            n++;
    return n;
}

//  The result of job: its one sendVideo, checked (the sample MP4 uploaded,
//  the caption naming the job, 🔄 and 🏠 under it). Returns its seq.
static uint64_t s_assert_video(fixture_t *f, int64_t user, int64_t job, bool ru) {
    char caption[64];
    snprintf(caption, sizeof caption, ru ? "Видео #%lld готово" : "Video #%lld is ready",
             (long long)job);
    const tgsim_call_t *video = NULL;
    int64_t deadline = zclock_mono() + WAIT_MS;
    while (!video && zclock_mono() < deadline) {
        uint64_t seq = 0;
        for (const tgsim_call_t *call; (call = tgsim_next_call(f->tg, user, seq, 0));
             seq = call->seq)
            if (strcmp(call->method, "sendVideo") == 0 && call->status == 200 && call->text &&
                strstr(call->text, caption)) {
                assert_null(video); //  one result per job
                video = call;
            }
        if (!video) zclock_sleep(20);
    }
    if (!video) {
        char what[64];
        snprintf(what, sizeof what, "job %lld: no video.", (long long)job);
        s_fail_chat(f->tg, user, what);
        return 0; //  not reached
    }
    assert_string_equal(video->media_kind, "video");
    assert_string_equal(video->media_source, "upload");
    assert_int_equal(video->file_size, (int64_t)kiesim_sample_mp4_size);
    assert_int_equal(video->button_count, 2);
    bool again = false, menu = false;
    for (size_t b = 0; b < video->button_count; b++) {
        assert_non_null(video->buttons[b].callback_data);
        again |= strstr(video->buttons[b].text, "🔄") != NULL;
        menu |= strstr(video->buttons[b].text, "🏠") != NULL;
    }
    assert_true(again && menu);
    //  nothing else claims to be this job's result (no link, no second copy)
    assert_int_equal(s_sends_with(f->tg, user, caption), 1);
    return video->seq;
}

//  The status message of job, as it went: its texts (sends and edits
//  answered ok) in order; returns how many, the seq of the last into
//  *last_seq.
static size_t s_status_texts(fixture_t *f, int64_t user, int64_t job, bool ru, char texts[][256],
                             size_t max, uint64_t *last_seq) {
    char head[64];
    snprintf(head, sizeof head, ru ? "Видео #%lld:" : "Video #%lld:", (long long)job);
    size_t n = 0;
    uint64_t seq = 0;
    int64_t message_id = 0;
    for (const tgsim_call_t *call; (call = tgsim_next_call(f->tg, user, seq, 0)); seq = call->seq) {
        if (call->status != 200 || call->error || !call->text || !strstr(call->text, "🎬") ||
            !strstr(call->text, head))
            continue;
        if (strcmp(call->method, "sendMessage") == 0) {
            assert_int_equal(message_id, 0); //  one status message per job
            message_id = call->message_id;
        } else if (strcmp(call->method, "editMessageText") == 0)
            assert_int_equal(call->message_id, message_id);
        else
            continue;
        if (n < max) snprintf(texts[n++], 256, "%s", call->text);
        *last_seq = call->seq;
    }
    return n;
}

//  Waits for the failure message of job (the class's text, the refund line).
static void s_assert_failure_told(fixture_t *f, int64_t user, int64_t job, bool ru,
                                  const char *cause) {
    const char *refund = ru ? "вернули на баланс" : "returned to your balance";
    char head[64];
    snprintf(head, sizeof head, ru ? "Видео #%lld:" : "Video #%lld:", (long long)job);
    if (tgsim_wait_message_after(f->tg, user, refund, 0, WAIT_MS) < 0) {
        char what[64];
        snprintf(what, sizeof what, "user %lld: not told of the refund.", (long long)user);
        s_fail_chat(f->tg, user, what);
    }
    //  exactly one failure message, naming the job and the cause
    size_t told = 0;
    uint64_t seq = 0;
    for (const tgsim_call_t *call; (call = tgsim_next_call(f->tg, user, seq, 0)); seq = call->seq)
        if (call->status == 200 && call->text && strstr(call->text, refund)) {
            told++;
            assert_string_equal(call->method, "sendMessage");
            if (!strstr(call->text, head) || !strstr(call->text, cause))
                fail_msg("user %lld: failure message \"%s\" lacks \"%s\" or \"%s\"",
                         (long long)user, call->text, head, cause);
        }
    assert_int_equal(told, 1);
}

//  Seeds a key's health through the running genbot's ledger (the worker
//  reads it when it starts).
static void s_seed_key_health(const char *ledger, const char *key, const char *state,
                              int64_t until_ms) {
    char fingerprint[KIE_FINGERPRINT_MAX];
    kie_key_fingerprint(key, fingerprint, sizeof fingerprint);
    zsock_t *client = ledger_connect(ledger);
    assert_non_null(client);
    msg_t *req = msg_new(MSG_K_KEY_HEALTH_SAVE, 0);
    msg_set_str(req, F_KEY_ID, fingerprint);
    msg_set_str(req, F_STATE, state);
    msg_set_int(req, F_AT_MS, until_ms);
    msg_t *reply = ledger_call(client, &req, 5000);
    assert_non_null(reply);
    assert_int_equal(msg_kind(reply), MSG_K_OK);
    msg_destroy(&reply);
    zsock_destroy(&client);
}

static void s_fingerprint(const char *key, char *out) {
    kie_key_fingerprint(key, out, KIE_FINGERPRINT_MAX);
}

//  --- 1. success --------------------------------------------------------------

//  One video: ⏳ → (🔄 / %) → ✅ on the status message, then the sample MP4
//  uploaded with sendVideo under 🔄/🏠; the job delivered, the credit
//  captured once.
static void test_success_delivered(void **state) {
    (void)state;
    int64_t start = zclock_mono();
    fixture_t *f = s_fixture(1, 200, 2);
    s_start(f);
    const int64_t user = 1101;
    s_order(f, user, true, "Крем для рук «Бархат»", "1️⃣");
    int64_t job = s_job_of(f, user, 0);
    uint64_t video_seq = s_assert_video(f, user, job, true);
    s_wait_job(f, job, "delivered", WAIT_MS);
    //  the status message: ⏳ first, ✅ last, never backwards
    char texts[32][256];
    uint64_t status_seq = 0;
    size_t n = s_status_texts(f, user, job, true, texts, 32, &status_seq);
    assert_true(n >= 2);
    assert_non_null(strstr(texts[0], "⏳ в очереди"));
    assert_non_null(strstr(texts[n - 1], "✅ готово"));
    int phase = 0;
    for (size_t i = 0; i < n; i++) {
        int p = strstr(texts[i], "⏳")   ? 0
                : strstr(texts[i], "🔄") ? 1
                : strstr(texts[i], "✅") ? 2
                                        : -1;
        if (p < phase) fail_msg("status went back: \"%s\" after phase %d", texts[i], phase);
        phase = p;
    }
    //  the ✅ edit came before the video
    assert_true(status_seq < video_seq);
    //  the credit: held at the order, captured at the success
    s_assert_balance(f, user, 1, 0);
    assert_int_equal(s_entries(f, job, "hold"), 1);
    assert_int_equal(s_entries(f, job, "capture"), 1);
    assert_int_equal(s_entries(f, job, "release"), 0);
    kiesim_stats_t stats;
    kiesim_stats(f->kie, &stats);
    assert_int_equal(stats.creates, 1);
    assert_int_equal(stats.uploads, 1);
    assert_int_equal(stats.telegram_urls, 0);
    //  the task the job records is the one kiesim ran, and it succeeded
    char task[64];
    s_sql_text(f->path, task, sizeof task, "SELECT task_id FROM jobs WHERE job_id = %lld",
               (long long)job);
    assert_int_equal(kiesim_task_state(f->kie, task, NULL), KIESIM_STATE_SUCCESS);
    s_fixture_destroy(&f);
    fprintf(stderr, "test_success_delivered: %lld ms\n", (long long)(zclock_mono() - start));
}

//  --- 2. failure classes ------------------------------------------------------------

//  content (ru and en), temporary (3 attempts), timeout (a task that never
//  ends, 1 s max): each user told the class's text in their language with
//  the credits back; the job failed with one release; balance whole again.
static void test_failure_classes(void **state) {
    (void)state;
    int64_t start = zclock_mono();
    fixture_t *f = s_fixture(1, 200, 2);
    f->config->kie_max_task_s = 1;
    s_start(f);
    static const struct {
        int64_t user;
        bool ru;
        const char *product;
        const char *err_class;
        const char *cause;
    } cases[] = {
        {2101, true, "Кружка [[sim:fail=content]]", "content_violation", "по своим правилам"},
        {2102, false, "Mug [[sim:fail=content]]", "content_violation", "under its rules"},
        {2103, false, "Lamp [[sim:fail=temporary]]", "temporary", "technical problem"},
        {2104, true, "Часы [[sim:never]]", "timeout", "слишком много времени"},
    };
    size_t count = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < count; i++)
        s_order(f, cases[i].user, cases[i].ru, cases[i].product, "1️⃣");
    for (size_t i = 0; i < count; i++) {
        int64_t job = s_job_of(f, cases[i].user, 0);
        s_assert_failure_told(f, cases[i].user, job, cases[i].ru, cases[i].cause);
        s_wait_job(f, job, "failed", WAIT_MS);
        char err_class[32];
        s_sql_text(f->path, err_class, sizeof err_class,
                   "SELECT err_class FROM jobs WHERE job_id = %lld", (long long)job);
        assert_string_equal(err_class, cases[i].err_class);
        assert_int_equal(s_entries(f, job, "release"), 1);
        assert_int_equal(s_entries(f, job, "capture"), 0);
        s_assert_balance(f, cases[i].user, 2, 0);
        //  nothing delivered
        assert_int_equal(s_sends_with(f->tg, cases[i].user, cases[i].ru ? "готово!" : "is ready"),
                         0);
        //  the status message ended ❌
        char texts[32][256];
        uint64_t last = 0;
        size_t n = s_status_texts(f, cases[i].user, job, cases[i].ru, texts, 32, &last);
        assert_true(n >= 1);
        assert_non_null(strstr(texts[n - 1], "❌"));
    }
    //  temporary: tried max_attempts times, then given up; content: once
    json_t *tasks = kiesim_tasks(f->kie);
    size_t temporary = 0, content = 0, never = 0, i;
    json_t *task;
    json_array_foreach(tasks, i, task) {
        const char *prompt = json_string_value(json_object_get(task, "prompt"));
        temporary += strstr(prompt, "[[sim:fail=temporary]]") != NULL;
        content += strstr(prompt, "[[sim:fail=content]]") != NULL;
        never += strstr(prompt, "[[sim:never]]") != NULL;
    }
    json_decref(tasks);
    assert_int_equal(temporary, 3);
    assert_int_equal(content, 2);
    assert_int_equal(never, 1);
    s_fixture_destroy(&f);
    fprintf(stderr, "test_failure_classes: %lld ms\n", (long long)(zclock_mono() - start));
}

//  --- 3. retries and the upload cache --------------------------------------------

//  createTask answers 500 twice: retried with backoff, the third attempt
//  makes the video; the user gets it, charged once.
static void test_temporary_then_success(void **state) {
    (void)state;
    int64_t start = zclock_mono();
    fixture_t *f = s_fixture(1, 200, 2);
    s_start(f);
    const int64_t user = 3101;
    s_order(f, user, false, "Desk lamp [[sim:create=500x2]]", "1️⃣");
    int64_t job = s_job_of(f, user, 0);
    s_assert_video(f, user, job, false);
    s_wait_job(f, job, "delivered", WAIT_MS);
    assert_int_equal(
        s_sql(f->path, "SELECT attempts FROM jobs WHERE job_id = %lld", (long long)job), 2);
    kiesim_key_stats_t a;
    kiesim_key_stats(f->kie, KEY_A, &a);
    assert_int_equal(a.creates_rejected, 2);
    assert_int_equal(a.creates, 1);
    //  no failure told, one capture
    assert_int_equal(s_sends_with(f->tg, user, "returned to your balance"), 0);
    assert_int_equal(s_entries(f, job, "capture"), 1);
    assert_int_equal(s_entries(f, job, "release"), 0);
    s_assert_balance(f, user, 1, 0);
    s_fixture_destroy(&f);
    fprintf(stderr, "test_temporary_then_success: %lld ms\n", (long long)(zclock_mono() - start));
}

//  Three videos from one photo: the photo fetched and uploaded to KIE
//  once, three tasks with the same image, three videos delivered.
static void test_three_videos_one_upload(void **state) {
    (void)state;
    int64_t start = zclock_mono();
    fixture_t *f = s_fixture(1, 200, 5);
    s_start(f);
    const int64_t user = 3201;
    s_order(f, user, true, "Духи «Ландыш»", "3️⃣");
    int64_t jobs[3];
    for (int i = 0; i < 3; i++)
        jobs[i] = s_job_of(f, user, i);
    for (int i = 0; i < 3; i++) {
        s_assert_video(f, user, jobs[i], true);
        s_wait_job(f, jobs[i], "delivered", WAIT_MS);
        assert_int_equal(s_entries(f, jobs[i], "capture"), 1);
    }
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
        assert_non_null(url);
        if (!image) image = url;
        assert_string_equal(url, image);
    }
    json_decref(tasks);
    s_assert_balance(f, user, 2, 0);
    s_fixture_destroy(&f);
    fprintf(stderr, "test_three_videos_one_upload: %lld ms\n", (long long)(zclock_mono() - start));
}

//  --- 4. failover between keys ---------------------------------------------------

//  The order is placed while genbot runs without workers (the job waits in
//  the queue), key B is seeded as cooling for 1.5 s, and genbot starts
//  again with both workers: key A is the only one that can take the job
//  first.
static void s_order_then_workers(fixture_t *f, int64_t user, const char *product,
                                 const char *count) {
    s_start_opts(f, true);
    s_order(f, user, false, product, count);
    char ledger[64];
    snprintf(ledger, sizeof ledger, "inproc://%sledger", f->prefix);
    s_seed_key_health(ledger, KEY_B, "cooling", zclock_time() + 1500);
    genbot_stop(&f->genbot);
    s_start(f);
}

//  Key A is over KIE's rate limit (one createTask a minute): of the two
//  videos A takes, one is refused 429, A cools and the job goes to key B.
static void test_rate_limit_fails_over(void **state) {
    (void)state;
    int64_t start = zclock_mono();
    fixture_t *f = s_fixture(2, 200, 5);
    assert_int_equal(kiesim_key_set_rate_limit(f->kie, KEY_A, 1, 60000), 0);
    const int64_t user = 4101;
    s_order_then_workers(f, user, "Chair", "3️⃣");
    char fa[KIE_FINGERPRINT_MAX], fb[KIE_FINGERPRINT_MAX];
    s_fingerprint(KEY_A, fa);
    s_fingerprint(KEY_B, fb);
    int on_a = 0, on_b = 0;
    for (int i = 0; i < 3; i++) {
        int64_t job = s_job_of(f, user, i);
        s_assert_video(f, user, job, false);
        s_wait_job(f, job, "delivered", WAIT_MS);
        char key[KIE_FINGERPRINT_MAX];
        s_sql_text(f->path, key, sizeof key, "SELECT key_id FROM jobs WHERE job_id = %lld",
                   (long long)job);
        on_a += strcmp(key, fa) == 0;
        on_b += strcmp(key, fb) == 0;
        //  a requeue is not an attempt
        assert_int_equal(
            s_sql(f->path, "SELECT attempts FROM jobs WHERE job_id = %lld", (long long)job), 0);
    }
    kiesim_key_stats_t a, b;
    kiesim_key_stats(f->kie, KEY_A, &a);
    kiesim_key_stats(f->kie, KEY_B, &b);
    assert_int_equal(a.creates, 1);
    assert_true(a.creates_rejected >= 1);
    assert_int_equal(b.creates, 2);
    assert_int_equal(on_a, 1);
    assert_int_equal(on_b, 2);
    char health[16];
    s_sql_text(f->path, health, sizeof health,
               "SELECT health FROM api_keys WHERE fingerprint = '%s'", fa);
    assert_string_equal(health, "cooling");
    assert_int_equal(s_sends_with(f->tg, user, "returned to your balance"), 0);
    s_assert_balance(f, user, 2, 0);
    s_fixture_destroy(&f);
    fprintf(stderr, "test_rate_limit_fails_over: %lld ms\n", (long long)(zclock_mono() - start));
}

//  Key A has no KIE credits (402): A cools for the billing cooldown, the
//  job is requeued and key B makes it.
static void test_billing_fails_over(void **state) {
    (void)state;
    int64_t start = zclock_mono();
    fixture_t *f = s_fixture(2, 200, 2);
    assert_int_equal(kiesim_key_set_credits(f->kie, KEY_A, 0), 0);
    const int64_t user = 4201;
    s_order_then_workers(f, user, "Table", "1️⃣");
    int64_t job = s_job_of(f, user, 0);
    s_assert_video(f, user, job, false);
    s_wait_job(f, job, "delivered", WAIT_MS);
    char fa[KIE_FINGERPRINT_MAX], fb[KIE_FINGERPRINT_MAX], key[KIE_FINGERPRINT_MAX];
    s_fingerprint(KEY_A, fa);
    s_fingerprint(KEY_B, fb);
    s_sql_text(f->path, key, sizeof key, "SELECT key_id FROM jobs WHERE job_id = %lld",
               (long long)job);
    assert_string_equal(key, fb);
    kiesim_key_stats_t a, b;
    kiesim_key_stats(f->kie, KEY_A, &a);
    kiesim_key_stats(f->kie, KEY_B, &b);
    assert_int_equal(a.creates, 0);
    assert_int_equal(a.creates_rejected, 1);
    assert_int_equal(b.creates, 1);
    char health[16];
    s_sql_text(f->path, health, sizeof health,
               "SELECT health FROM api_keys WHERE fingerprint = '%s'", fa);
    assert_string_equal(health, "cooling");
    //  cooling for the billing cooldown (a day), not the rate limit's
    assert_true(s_sql(f->path, "SELECT cooldown_until FROM api_keys WHERE fingerprint = '%s'", fa) >
                zclock_time() + 3600 * 1000);
    assert_int_equal(s_entries(f, job, "capture"), 1);
    assert_int_equal(s_entries(f, job, "release"), 0);
    s_assert_balance(f, user, 1, 0);
    s_fixture_destroy(&f);
    fprintf(stderr, "test_billing_fails_over: %lld ms\n", (long long)(zclock_mono() - start));
}

//  --- 5. no usable key --------------------------------------------------------------

//  Every key is refused (401): both disabled, the job waits in the queue
//  and the queue timeout (1 s, checked by worker 0's chores) releases it;
//  the user is told and refunded.
static void test_no_usable_key_queue_timeout(void **state) {
    (void)state;
    int64_t start = zclock_mono();
    fixture_t *f = s_fixture(2, 200, 2);
    assert_int_equal(kiesim_key_set_state(f->kie, KEY_A, KIESIM_KEY_UNKNOWN), 0);
    assert_int_equal(kiesim_key_set_state(f->kie, KEY_B, KIESIM_KEY_UNKNOWN), 0);
    f->config->queue_max_wait_s = 1;
    s_start(f);
    const int64_t user = 5101;
    int64_t ordered = zclock_mono();
    s_order(f, user, false, "Sofa", "1️⃣");
    int64_t job = s_job_of(f, user, 0);
    s_assert_failure_told(f, user, job, false, "took too long");
    assert_true(zclock_mono() - ordered >= 1000);
    s_wait_job(f, job, "failed", WAIT_MS);
    char err_class[32];
    s_sql_text(f->path, err_class, sizeof err_class,
               "SELECT err_class FROM jobs WHERE job_id = %lld", (long long)job);
    assert_string_equal(err_class, "timeout");
    assert_int_equal(s_entries(f, job, "release"), 1);
    assert_int_equal(s_entries(f, job, "capture"), 0);
    s_assert_balance(f, user, 2, 0);
    //  both keys disabled; neither made a task
    char fa[KIE_FINGERPRINT_MAX], fb[KIE_FINGERPRINT_MAX], health[16];
    s_fingerprint(KEY_A, fa);
    s_fingerprint(KEY_B, fb);
    s_sql_text(f->path, health, sizeof health,
               "SELECT health FROM api_keys WHERE fingerprint = '%s'", fa);
    assert_string_equal(health, "disabled");
    s_sql_text(f->path, health, sizeof health,
               "SELECT health FROM api_keys WHERE fingerprint = '%s'", fb);
    assert_string_equal(health, "disabled");
    kiesim_stats_t stats;
    kiesim_stats(f->kie, &stats);
    assert_int_equal(stats.creates, 0);
    assert_int_equal(s_sends_with(f->tg, user, "is ready"), 0);
    s_fixture_destroy(&f);
    fprintf(stderr, "test_no_usable_key_queue_timeout: %lld ms\n",
            (long long)(zclock_mono() - start));
}

//  --- 6. recovery under SIGKILL --------------------------------------------------------

//  The genbot child: runs until killed. It never returns to cmocka, and it
//  dies with the test process whatever happens to that.
static pid_t s_child_pid;
//  What the load test holds, freed by the teardown too.
static struct {
    void *users, *jobs;
    json_t *tasks;
} s_load;

static pid_t s_spawn(fixture_t *f) {
    pid_t pid = tu_spawn_genbot(f->config); //  the real binary, with f->config as its environment
    assert_true(pid > 0);
    s_child_pid = pid;
    return pid;
}

static void s_kill(pid_t pid) {
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    if (pid == s_child_pid) s_child_pid = 0;
}

//  After every test: a child still running is killed, a fixture left by
//  a failure is freed.
static int s_teardown(void **state) {
    (void)state;
    if (s_child_pid > 0) s_kill(s_child_pid);
    free(s_load.users);
    free(s_load.jobs);
    json_decref(s_load.tasks);
    memset(&s_load, 0, sizeof s_load);
    fixture_t *f = s_current;
    s_fixture_free(&f, false);
    s_current = NULL;
    return 0;
}

//  Calls of method to user whose parameters contain text, answered with
//  status (0 = any). A call tgsim refused by script has no chat or text
//  recorded, only its parameters (chat_id a number, or a string in a
//  multipart upload).
static size_t s_calls_status(tgsim_t *sim, int64_t user, const char *method, const char *text,
                             int status) {
    char number[48], string[48];
    snprintf(number, sizeof number, "\"chat_id\":%lld,", (long long)user);
    snprintf(string, sizeof string, "\"chat_id\":\"%lld\"", (long long)user);
    size_t n = 0;
    uint64_t seq = 0;
    for (const tgsim_call_t *call; (call = tgsim_next_call(sim, 0, seq, 0)); seq = call->seq)
        if (strcmp(call->method, method) == 0 && call->params &&
            (strstr(call->params, number) || strstr(call->params, string)) &&
            strstr(call->params, text) && (!status || call->status == status))
            n++;
    return n;
}

//  The result and the failure are both on their way when genbot is
//  SIGKILLed (Telegram answers 500 to them, so they can't leave before the
//  kill). After the restart the video is delivered (the job is still
//  "succeeded": recovery sends it again) — and the failure must be told
//  too: the job is "failed" and released, and its user was never told.
static void test_failure_told_across_sigkill(void **state) {
    (void)state;
    fixture_t *f = s_fixture(1, 200, 2);
    pid_t pid = s_spawn(f);
    const int64_t ok_user = 7101, bad_user = 7102;
    s_order(f, ok_user, false, "Vase", "1️⃣");
    s_order(f, bad_user, false, "Vase [[sim:fail=content]]", "1️⃣");
    tgsim_fail_next(f->tg, "sendMessage", 500, NULL, -1);
    tgsim_fail_next(f->tg, "sendVideo", 500, NULL, -1);
    int64_t ok_job = s_job_of(f, ok_user, 0), bad_job = s_job_of(f, bad_user, 0);
    s_wait_job(f, ok_job, "succeeded", WAIT_MS);
    s_wait_job(f, bad_job, "failed", WAIT_MS);
    //  both sends were tried (and refused) before the kill
    int64_t deadline = zclock_mono() + WAIT_MS;
    while ((s_calls_status(f->tg, ok_user, "sendVideo", "is ready", 500) == 0 ||
            s_calls_status(f->tg, bad_user, "sendMessage", "returned to your balance", 500) == 0) &&
           zclock_mono() < deadline)
        zclock_sleep(20);
    assert_true(s_calls_status(f->tg, bad_user, "sendMessage", "returned to your balance", 500) >
                0);
    s_kill(pid);
    tgsim_fail_clear(f->tg);
    pid = s_spawn(f);
    //  the success reaches its user after the restart
    int64_t video = -1;
    for (deadline = zclock_mono() + WAIT_MS; video < 0 && zclock_mono() < deadline;)
        if (s_calls_status(f->tg, ok_user, "sendVideo", "is ready", 200) == 1)
            video = 1;
        else
            zclock_sleep(20);
    assert_int_equal(video, 1);
    s_wait_job(f, ok_job, "delivered", WAIT_MS);
    //  the failure must reach its user too
    int64_t told = tgsim_wait_message_after(f->tg, bad_user, "returned to your balance", 0, 3000);
    s_kill(pid);
    if (told < 0) {
        char what[160];
        snprintf(what, sizeof what,
                 "job %lld failed and was released before the kill; after the restart its user "
                 "was never told.",
                 (long long)bad_job);
        s_fail_chat(f->tg, bad_user, what);
    }
    s_fixture_destroy(&f);
}

//  One step of the chat flow, in both languages (the product text and the
//  count are chosen per order).
static const struct {
    s_do_t what;
    const char *ru, *en, *expect_ru, *expect_en;
} s_flow[] = {
    {DO_TEXT, "/start", "/start", "Главное меню", "Main menu"},
    {DO_PRESS, "Создать видео", "Create video", "Пришли фото", "Send a photo"},
    {DO_PHOTO, NULL, NULL, "Напиши о товаре", "Describe the product"},
    {DO_TEXT, NULL, NULL, "Выбери шаблон", "Choose a video template"},
    {DO_PRESS, "Реклама", "Ad", "пожелания", "extra wishes"},
    {DO_TEXT, "-", "-", "Сколько видео", "How many videos"},
    {DO_PRESS, NULL, NULL, "Всё готово к запуску", "Ready to launch"},
    {DO_PRESS, "Запустить", "Launch", "Принял", "Got it"},
};
#define FLOW_STEPS (sizeof s_flow / sizeof s_flow[0])

typedef struct {
    int64_t id;
    bool ru;
    size_t step;    //  the action last made (its answer awaited)
    int orders;     //  "Got it" seen
    int flows;      //  flows started
    uint64_t after; //  tgsim seq before that action
    int64_t since;  //  when it was made
    const char *count;
    char product[64]; //  unique per flow: tasks' prompts name their order
    bool done;
} cr_user_t;

#define CR_ORDERS    2
#define CR_MAX_FLOWS 4
#define CR_KILLS     20
#define CR_STALL_MS  3000
//  What a kill may explain: a result sent again, a failure never told, a
//  task created again, when the first send / the failure / the task came
//  at most this long before the kill.
#define CR_KILL_WINDOW_MS 500

static const char *const s_counts[] = {"1️⃣", "3️⃣", "5️⃣"};

//  Makes the user's current step; false when it can't (no such button).
static bool s_cr_act(tgsim_t *sim, cr_user_t *u) {
    u->after = tgsim_seq(sim);
    u->since = zclock_mono();
    const char *arg = u->ru ? s_flow[u->step].ru : s_flow[u->step].en;
    if (u->step == 3) arg = u->product;
    if (u->step == 6) arg = u->count;
    return s_do(sim, u->id, s_flow[u->step].what, arg) >= 0;
}

static void s_cr_flow(tgsim_t *sim, cr_user_t *u, unsigned *rng) {
    if (u->flows >= CR_MAX_FLOWS) {
        u->done = true;
        return;
    }
    u->flows++;
    u->step = 0;
    u->count = s_counts[rand_r(rng) % 3];
    snprintf(u->product, sizeof u->product, "%s %lld/%d", u->ru ? "Кружка" : "Mug",
             (long long)u->id, u->flows);
    s_cr_act(sim, u);
}

//  "#<digits>" after the first '#' of text, or 0.
static int64_t s_job_in(const char *text) {
    const char *hash = text ? strchr(text, '#') : NULL;
    return hash ? atoll(hash + 1) : 0;
}

static bool s_starts(const char *text, const char *prefix) {
    return text && strncmp(text, prefix, strlen(prefix)) == 0;
}

//  The first kill at or after at - slack (times in one clock); INT64_MAX
//  when none.
static int64_t s_kill_after(const int64_t *kills, size_t n, int64_t at, int64_t slack) {
    int64_t best = INT64_MAX;
    for (size_t i = 0; i < n; i++)
        if (kills[i] >= at - slack && kills[i] < best) best = kills[i];
    return best;
}

typedef struct {
    int64_t user, price, updated_ms;
    char state[16];
    char task[64];
    int64_t captures, releases;
    int results;          //  result messages (video or link) answered ok
    int64_t result_ms[2]; //  tgsim times of the first two
    int failures_told;
} cr_job_t;

//  Drives the users through the chat while the child is SIGKILLed at
//  random moments, until every user is done and CR_KILLS kills are made.
//  Returns the child's pid; kill times into kill_wall (zclock_time) and
//  kill_sim (tgsim_clock_ms).
static pid_t s_cr_load(fixture_t *f, cr_user_t *us, int users, pid_t pid, int64_t *kill_wall,
                       int64_t *kill_sim, size_t *kills, size_t *stalls) {
    unsigned rng = 12345;
    for (int i = 0; i < users; i++)
        s_cr_flow(f->tg, &us[i], &rng);
    int64_t next_kill = zclock_mono() + 150 + rand_r(&rng) % 550;
    int64_t deadline = zclock_mono() + 120000;
    while (true) {
        int64_t now = zclock_mono();
        bool all_done = true;
        for (int i = 0; i < users; i++)
            all_done &= us[i].done;
        if (*kills < CR_KILLS && now >= next_kill) {
            s_kill(pid);
            kill_wall[*kills] = zclock_time();
            kill_sim[*kills] = tgsim_clock_ms();
            (*kills)++;
            pid = s_spawn(f);
            next_kill = zclock_mono() + 150 + rand_r(&rng) % 550;
        }
        if (all_done && *kills >= CR_KILLS) return pid;
        if (now > deadline) fail_msg("the load did not finish in time (kills %zu)", *kills);
        for (int i = 0; i < users; i++) {
            cr_user_t *u = &us[i];
            if (u->done) continue;
            const char *expect = u->ru ? s_flow[u->step].expect_ru : s_flow[u->step].expect_en;
            if (tgsim_wait_message_after(f->tg, u->id, expect, u->after, 0) >= 0) {
                if (u->step + 1 == FLOW_STEPS) {
                    if (++u->orders >= CR_ORDERS)
                        u->done = true;
                    else
                        s_cr_flow(f->tg, u, &rng);
                    continue;
                }
                u->step++;
                if (!s_cr_act(f->tg, u)) {
                    (*stalls)++;
                    s_cr_flow(f->tg, u, &rng);
                }
            } else if (now - u->since > CR_STALL_MS) {
                //  the reply was lost to a kill (replies are at most once) or
                //  the screen went stale: start over
                (*stalls)++;
                s_cr_flow(f->tg, u, &rng);
            }
        }
        zclock_sleep(10);
    }
}

//  Every job of the database with its entries.
static cr_job_t *s_cr_jobs(const char *path, int64_t *max_job) {
    *max_job = s_sql(path, "SELECT coalesce(max(job_id), 0) FROM jobs");
    cr_job_t *jobs = calloc((size_t)*max_job + 1, sizeof *jobs);
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *stmt;
    assert_int_equal(
        sqlite3_prepare_v2(
            db,
            "SELECT job_id, user_id, price, state, coalesce(task_id, ''), updated_ms,"
            " (SELECT count(*) FROM entries e WHERE e.job_id = j.job_id AND kind = 'capture'),"
            " (SELECT count(*) FROM entries e WHERE e.job_id = j.job_id AND kind = 'release')"
            " FROM jobs j",
            -1, &stmt, NULL),
        SQLITE_OK);
    while (sqlite3_step(stmt) == SQLITE_ROW) {
        cr_job_t *job = &jobs[sqlite3_column_int64(stmt, 0)];
        job->user = sqlite3_column_int64(stmt, 1);
        job->price = sqlite3_column_int64(stmt, 2);
        snprintf(job->state, sizeof job->state, "%s", sqlite3_column_text(stmt, 3));
        snprintf(job->task, sizeof job->task, "%s", sqlite3_column_text(stmt, 4));
        job->updated_ms = sqlite3_column_int64(stmt, 5);
        job->captures = sqlite3_column_int64(stmt, 6);
        job->releases = sqlite3_column_int64(stmt, 7);
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return jobs;
}

//  A parent holds both simulators; a child runs genbot on a database file
//  with synchronous=FULL and is SIGKILLed at random moments (CR_KILLS
//  times) while users order through the chat (2 orders of 1, 3 or 5 videos
//  each). When the load settles: every job has ended (delivered or
//  failed), the ledger's invariants hold, each delivered job has one
//  capture and reached its user — a second copy only when a kill fell just
//  after the first (Telegram's send and the ledger's "delivered" are not
//  one step) —, each failed job has one release and its user was told,
//  no two jobs share a task, every task no job points to either failed (a
//  retry followed) or was created just before a kill, and balances are the
//  free credits less what was captured.
static void test_sigkill_recovery_under_load(void **state) {
    (void)state;
    int64_t start = zclock_mono();
    fixture_t *f = s_fixture(2, 200, 12);
    f->config->sync_full = 1;
    f->config->sessions = 4;
    kiesim_behaviour_t behaviour;
    kiesim_behaviour(f->kie, &behaviour);
    behaviour.p_content_fail = 0.08;
    behaviour.p_temporary_fail = 0.05;
    kiesim_set_behaviour(f->kie, &behaviour);

    const int users = (int)tu_scaled(60);
    const int64_t base = 60000;
    cr_user_t *us = calloc((size_t)users, sizeof *us);
    s_load.users = us;
    for (int i = 0; i < users; i++) {
        us[i].id = base + i;
        us[i].ru = i % 2;
        tgsim_user_add(f->tg, us[i].id, "u", us[i].ru ? "ru" : "en");
    }
    int64_t kill_wall[CR_KILLS], kill_sim[CR_KILLS];
    size_t kills = 0, stalls = 0;
    pid_t pid = s_spawn(f);
    pid = s_cr_load(f, us, users, pid, kill_wall, kill_sim, &kills, &stalls);
    int64_t load_ms = zclock_mono() - start;
    //  the load settles: every job ends
    int64_t active = -1;
    for (int tries = 0; tries < 600 && active != 0; tries++) {
        active = s_sql_soft(f->path, "SELECT count(*) FROM jobs WHERE state NOT IN "
                                     "('delivered','failed','cancelled')");
        if (active != 0) zclock_sleep(100);
    }
    zclock_sleep(500); //  the last messages leave
    s_kill(pid);
    if (active != 0) {
        char report[512] = "";
        s_sql_text(f->path, report, sizeof report,
                   "SELECT group_concat(job_id || ':' || state, ' ') FROM jobs WHERE state NOT IN "
                   "('delivered','failed','cancelled')");
        fail_msg("jobs that never ended: %s", report);
    }
    tu_assert_check(f->path);

    int64_t max_job;
    cr_job_t *jobs = s_cr_jobs(f->path, &max_job);
    s_load.jobs = jobs;
    int64_t job_count = s_sql(f->path, "SELECT count(*) FROM jobs");
    //  what the users saw: results and failures per job
    uint64_t seq = 0;
    for (const tgsim_call_t *call; (call = tgsim_next_call(f->tg, 0, seq, 0)); seq = call->seq) {
        if (call->status != 200 || call->error || !call->text) continue;
        bool result =
            (strcmp(call->method, "sendVideo") == 0 || strcmp(call->method, "sendMessage") == 0) &&
            (s_starts(call->text, "✅ Video #") || s_starts(call->text, "✅ Видео #"));
        bool failure = strcmp(call->method, "sendMessage") == 0 &&
                       (strstr(call->text, "returned to your balance") ||
                        strstr(call->text, "вернули на баланс"));
        int64_t id = s_job_in(call->text);
        if ((!result && !failure) || id <= 0 || id > max_job) continue;
        cr_job_t *job = &jobs[id];
        assert_int_equal(call->chat_id, job->user); //  to its owner only
        if (result) {
            if (job->results < 2) job->result_ms[job->results] = call->time_ms;
            job->results++;
        } else
            job->failures_told++;
    }
    json_t *tasks = kiesim_tasks(f->kie);
    s_load.tasks = tasks;
    size_t delivered = 0, failed = 0, duplicates = 0, untold = 0, untold_unexplained = 0;
    for (int64_t id = 1; id <= max_job; id++) {
        cr_job_t *job = &jobs[id];
        if (!job->user) continue;
        if (strcmp(job->state, "delivered") == 0) {
            delivered++;
            assert_int_equal(job->captures, 1);
            assert_int_equal(job->releases, 0);
            if (job->results < 1) fail_msg("job %lld delivered, never sent", (long long)id);
            if (job->results > 1) {
                duplicates += (size_t)job->results - 1;
                //  sent again only when a kill fell just after the first send
                int64_t kill = s_kill_after(kill_sim, kills, job->result_ms[0], 0);
                if (job->results > 2 || kill > job->result_ms[0] + CR_KILL_WINDOW_MS ||
                    kill > job->result_ms[1])
                    fail_msg("job %lld: %d results, no kill explains it", (long long)id,
                             job->results);
            }
            //  its task is a success of kiesim's
            const char *task_state = NULL;
            size_t i;
            json_t *task;
            json_array_foreach(tasks, i, task) {
                if (strcmp(json_string_value(json_object_get(task, "taskId")), job->task) == 0)
                    task_state = json_string_value(json_object_get(task, "state"));
            }
            if (!task_state || strcmp(task_state, "success") != 0)
                fail_msg("job %lld delivered, its task %s is %s", (long long)id, job->task,
                         task_state ? task_state : "unknown to KIE");
        } else {
            if (strcmp(job->state, "failed") != 0)
                fail_msg("job %lld ended %s", (long long)id, job->state);
            failed++;
            assert_int_equal(job->releases, 1);
            assert_int_equal(job->captures, 0);
            assert_int_equal(job->results, 0);
            if (job->failures_told > 1)
                fail_msg("job %lld: failure told %d times", (long long)id, job->failures_told);
            if (job->failures_told == 0) {
                untold++;
                //  a kill just after the failure was recorded explains it (a bug
                //  still: test_failure_told_across_sigkill); anything else is
                //  another one
                untold_unexplained += s_kill_after(kill_wall, kills, job->updated_ms, 0) >
                                      job->updated_ms + CR_KILL_WINDOW_MS;
            }
        }
    }
    //  no two jobs share a task; a task no job points to either failed (a
    //  retry followed) or was created just before a kill: its id was not
    //  durable yet, the job was claimed again and created another
    size_t failed_tasks = 0, orphans = 0, i;
    json_t *task;
    json_array_foreach(tasks, i, task) {
        const char *id = json_string_value(json_object_get(task, "taskId"));
        size_t owners = 0;
        for (int64_t j = 1; j <= max_job; j++)
            owners += jobs[j].user && strcmp(jobs[j].task, id) == 0;
        assert_true(owners <= 1);
        if (strcmp(json_string_value(json_object_get(task, "state")), "fail") == 0) {
            failed_tasks++;
            continue;
        }
        if (owners == 1) continue;
        orphans++;
        int64_t created = json_integer_value(json_object_get(task, "createTime"));
        //  (slack: the clocks of kiesim and of the kill differ by a little)
        if (s_kill_after(kill_wall, kills, created, 20) > created + CR_KILL_WINDOW_MS)
            fail_msg("task %s (%s, \"%s\") belongs to no job and no kill explains it", id,
                     json_string_value(json_object_get(task, "state")),
                     json_string_value(json_object_get(task, "prompt")));
    }
    //  balances: the free credits less what was captured, nothing held
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *stmt;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT user_id, balance, held, (SELECT coalesce(sum("
                                        "price), 0) FROM jobs j WHERE j.user_id = u.user_id AND "
                                        "j.state = 'delivered') FROM users u",
                                        -1, &stmt, NULL),
                     SQLITE_OK);
    int rows = 0;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
        rows++;
        int64_t balance = sqlite3_column_int64(stmt, 1), held = sqlite3_column_int64(stmt, 2);
        int64_t captured = sqlite3_column_int64(stmt, 3);
        if (held != 0 || balance != f->config->free_credits - captured) {
            int64_t user = sqlite3_column_int64(stmt, 0);
            sqlite3_finalize(stmt);
            sqlite3_close(db);
            fail_msg("user %lld: balance %lld held %lld, captured %lld", (long long)user,
                     (long long)balance, (long long)held, (long long)captured);
        }
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    assert_int_equal(rows, users);
    kiesim_stats_t stats;
    kiesim_stats(f->kie, &stats);
    fprintf(stderr,
            "test_sigkill_recovery_under_load: users=%d jobs=%lld delivered=%zu failed=%zu "
            "kills=%zu stalled_flows=%zu creates=%llu failed_tasks=%zu orphan_tasks=%zu "
            "second_copies=%zu failures_untold=%zu (unexplained %zu) load=%lld ms total=%lld ms\n",
            users, (long long)job_count, delivered, failed, kills, stalls,
            (unsigned long long)stats.creates, failed_tasks, orphans, duplicates, untold,
            untold_unexplained, (long long)load_ms, (long long)(zclock_mono() - start));
    assert_true(kills >= CR_KILLS);
    assert_true(job_count >= users);
    //  a failed job's user is told, even across a kill
    if (untold)
        fail_msg("%zu failed jobs were never told to their users (%zu not explained by a kill)",
                 untold, untold_unexplained);
    s_fixture_destroy(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        //  first: it forks, and a child must not inherit a ZeroMQ context
        cmocka_unit_test_teardown(test_sigkill_recovery_under_load, s_teardown),
        cmocka_unit_test_teardown(test_failure_told_across_sigkill, s_teardown),
        cmocka_unit_test_teardown(test_success_delivered, s_teardown),
        cmocka_unit_test_teardown(test_failure_classes, s_teardown),
        cmocka_unit_test_teardown(test_temporary_then_success, s_teardown),
        cmocka_unit_test_teardown(test_three_videos_one_upload, s_teardown),
        cmocka_unit_test_teardown(test_rate_limit_fails_over, s_teardown),
        cmocka_unit_test_teardown(test_billing_fails_over, s_teardown),
        cmocka_unit_test_teardown(test_no_usable_key_queue_timeout, s_teardown),
    };
    //  PIPELINE_TESTS=test_reply_* runs some (cmocka's filter, * wildcards)
    if (getenv("PIPELINE_TESTS")) cmocka_set_test_filter(getenv("PIPELINE_TESTS"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
