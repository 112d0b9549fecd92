/*  test_e2e.c — the conversation end to end: genbot (every actor) against
    the simulated Telegram, in Russian and in English, across a SIGKILL
    restart, and 200 users at once.
*/
#include "testutil.h"

#include <signal.h>
#include <sqlite3.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "genbot.h"
#include "tgsim.h"

#define WAIT_MS 10000

typedef struct {
    char *path;
    config_t *config;
    tgsim_t *sim;
    genbot_t *genbot;
} fixture_t;

static fixture_t *s_fixture(void) {
    fixture_t *f = calloc(1, sizeof *f);
    f->path = tu_db_path("e2e");
    f->config = tu_config(f->path);
    tgsim_opts_t opts;
    tgsim_opts_init(&opts);
    f->sim = tgsim_new(&opts);
    assert_non_null(f->sim);
    free(f->config->telegram_api_url);
    f->config->telegram_api_url = strdup(tgsim_url(f->sim));
    f->config->telegram_bot_token = strdup(tgsim_token(f->sim));
    f->config->tg_poll_timeout_s = 1;
    f->config->tg_rate = 1000; //  the simulator enforces nothing here
    f->config->tg_chat_rate = 100;
    f->config->sync_full = 0;
    return f;
}

static void s_start(fixture_t *f) {
    static int instance;
    char prefix[32];
    snprintf(prefix, sizeof prefix, "e2e%d-", instance++);
    genbot_opts_t opts = {.config = f->config, .prefix = prefix};
    f->genbot = genbot_start(&opts);
    assert_non_null(f->genbot);
}

static void s_fixture_destroy(fixture_t **f_p) {
    fixture_t *f = *f_p;
    genbot_stop(&f->genbot);
    tgsim_destroy(&f->sim);
    tu_assert_check(f->path);
    tu_db_remove(f->path);
    free(f->path);
    config_destroy(&f->config);
    free(f);
    *f_p = NULL;
}

//  Does something as the user, then waits for a bot message containing
//  expect that came after it.
typedef enum { DO_TEXT, DO_PHOTO, DO_PRESS } s_do_t;

static int64_t s_act(tgsim_t *sim, int64_t user, s_do_t what, const char *arg, const char *expect) {
    uint64_t after = tgsim_seq(sim);
    int64_t id = what == DO_TEXT    ? tgsim_send_text(sim, user, arg)
                 : what == DO_PHOTO ? tgsim_send_photo(sim, user, NULL, 0, NULL)
                                    : tgsim_press_label(sim, user, 0, arg);
    if (id < 0)
        fail_msg("user %lld: could not %s \"%s\"", (long long)user,
                 what == DO_PRESS ? "press" : "send", arg ? arg : "photo");
    int64_t message = tgsim_wait_message_after(sim, user, expect, after, WAIT_MS);
    if (message < 0) {
        char *transcript = tgsim_transcript_text(sim, user);
        fail_msg("user %lld: no \"%s\" after \"%s\". Transcript:\n%s", (long long)user, expect,
                 arg ? arg : "photo", transcript);
    }
    return message;
}

//  Messages sent or edited for user (as sent, HTML included) that contain
//  text: how many times the bot said it.
static size_t s_calls_with(tgsim_t *sim, int64_t user, const char *text) {
    size_t n = 0;
    uint64_t seq = 0;
    for (const tgsim_call_t *call; (call = tgsim_next_call(sim, user, seq, 0)); seq = call->seq)
        if (call->status == 200 && call->text && strstr(call->text, text) &&
            (strcmp(call->method, "sendMessage") == 0 ||
             strcmp(call->method, "editMessageText") == 0))
            n++;
    return n;
}

//  balance, held and jobs of a user, read from the database file.
static void s_user_row(const char *path, int64_t user, int64_t *balance, int64_t *held,
                       int64_t *jobs) {
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *stmt;
    sqlite3_prepare_v2(db,
                       "SELECT balance, held, (SELECT count(*) FROM jobs WHERE user_id = ?1)"
                       " FROM users WHERE user_id = ?1",
                       -1, &stmt, NULL);
    sqlite3_bind_int64(stmt, 1, user);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    *balance = sqlite3_column_int64(stmt, 0);
    *held = sqlite3_column_int64(stmt, 1);
    *jobs = sqlite3_column_int64(stmt, 2);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
}

static void s_order_flow(fixture_t *f, int64_t user, bool russian) {
    tgsim_user_add(f->sim, user, russian ? "Аня" : "Ann", russian ? "ru" : "en");
    s_act(f->sim, user, DO_TEXT, "/start", russian ? "Главное меню" : "Main menu");
    s_act(f->sim, user, DO_PRESS, russian ? "Создать видео" : "Create video",
          russian ? "Пришли фото" : "Send a photo");
    s_act(f->sim, user, DO_PHOTO, NULL, russian ? "Напиши о товаре" : "Describe the product");
    s_act(f->sim, user, DO_TEXT, russian ? "Кружка <b>350 мл</b> & блюдце" : "Mug <b>350 ml</b>",
          russian ? "Выбери шаблон" : "Choose a video template");
    s_act(f->sim, user, DO_PRESS, "UGC", russian ? "пожелания" : "extra wishes");
    s_act(f->sim, user, DO_TEXT, "-", russian ? "Сколько видео" : "How many videos");
    s_act(f->sim, user, DO_PRESS, "1️⃣", russian ? "Всё готово к запуску" : "Ready to launch");
    s_act(f->sim, user, DO_PRESS, russian ? "Запустить" : "Launch", russian ? "Принял" : "Got it");
}

static void test_full_order_in_russian(void **state) {
    (void)state;
    fixture_t *f = s_fixture();
    s_start(f);
    s_order_flow(f, 501, true);
    //  the user's own text came back escaped, never as markup
    assert_true(s_calls_with(f->sim, 501, "&lt;b&gt;350 мл&lt;/b&gt; &amp; блюдце") > 0);
    assert_int_equal(s_calls_with(f->sim, 501, "<b>350"), 0);
    int64_t balance, held, jobs;
    s_user_row(f->path, 501, &balance, &held, &jobs);
    assert_int_equal(balance, 1);
    assert_int_equal(held, 1);
    assert_int_equal(jobs, 1);
    //  ✅ again on the same confirm screen (its old button, as a second tap
    //  arriving late would): told it runs, not charged again
    int64_t confirm_message = 0;
    char confirm_data[80] = "";
    uint64_t seq = 0;
    for (const tgsim_call_t *call; (call = tgsim_next_call(f->sim, 501, seq, 0)); seq = call->seq)
        for (size_t b = 0; b < call->button_count; b++)
            if (call->buttons[b].callback_data && strstr(call->buttons[b].text, "Запустить")) {
                confirm_message = call->message_id;
                snprintf(confirm_data, sizeof confirm_data, "%s", call->buttons[b].callback_data);
            }
    assert_true(confirm_message > 0);
    uint64_t before = tgsim_seq(f->sim);
    int64_t again = tgsim_press(f->sim, 501, confirm_message, confirm_data);
    assert_int_equal(tgsim_wait_answered(f->sim, again, WAIT_MS), 0);
    //  the answer to that press (answers have no chat: looked for among the
    //  calls since the press; the record may land just after the answer)
    bool told = false;
    for (int tries = 0; tries < 100 && !told; tries++) {
        for (long n = (long)tgsim_calls_count(f->sim, "answerCallbackQuery") - 1; n >= 0 && !told;
             n--) {
            const tgsim_call_t *answer = tgsim_call(f->sim, "answerCallbackQuery", n);
            if (answer->seq <= before) break;
            told = answer->text && strstr(answer->text, "уже запущен");
        }
        if (!told) zclock_sleep(20);
    }
    if (!told) {
        for (long n = (long)tgsim_calls_count(f->sim, NULL) - 1; n >= 0; n--) {
            const tgsim_call_t *call = tgsim_call(f->sim, NULL, n);
            if (call->seq <= before) break;
            fprintf(stderr, "after the second tap: %s \"%s\"\n", call->method,
                    call->text ? call->text : "");
        }
        fail_msg("the second tap on ✅ was not told the order is running");
    }
    s_user_row(f->path, 501, &balance, &held, &jobs);
    assert_int_equal(jobs, 1);
    assert_int_equal(balance, 1);
    s_fixture_destroy(&f);
}

static void test_full_order_in_english_and_shortfall(void **state) {
    (void)state;
    fixture_t *f = s_fixture();
    s_start(f);
    s_order_flow(f, 502, false);
    //  a second order of 3 videos with 1 credit left: the shortfall
    s_act(f->sim, 502, DO_TEXT, "/menu", "Main menu");
    s_act(f->sim, 502, DO_PRESS, "Create video", "Send a photo");
    s_act(f->sim, 502, DO_PHOTO, NULL, "Describe the product");
    s_act(f->sim, 502, DO_TEXT, "Lamp", "Choose a video template");
    s_act(f->sim, 502, DO_PRESS, "Own prompt", "Send your prompt");
    s_act(f->sim, 502, DO_TEXT, "A lamp on a desk, slow pan", "How many videos");
    s_act(f->sim, 502, DO_PRESS, "3️⃣", "Not enough credits");
    int64_t balance, held, jobs;
    s_user_row(f->path, 502, &balance, &held, &jobs);
    assert_int_equal(balance, 1);
    assert_int_equal(jobs, 1);
    s_fixture_destroy(&f);
}

static pid_t s_spawn(fixture_t *f) {
    pid_t pid = tu_spawn_genbot(f->config);
    assert_true(pid > 0);
    return pid;
}

static void s_kill(pid_t pid) {
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
}

//  A SIGKILL in the middle of the flow: the restarted genbot resumes the
//  user at the same step, and no update is lost or handled twice.
static void test_restart_resumes_at_the_same_step(void **state) {
    (void)state;
    fixture_t *f = s_fixture();
    tgsim_user_add(f->sim, 601, "Ivan", "ru");
    pid_t pid = s_spawn(f);
    s_act(f->sim, 601, DO_TEXT, "/start", "Главное меню");
    s_act(f->sim, 601, DO_PRESS, "Создать видео", "Пришли фото");
    s_act(f->sim, 601, DO_PHOTO, NULL, "Напиши о товаре");
    s_kill(pid);
    pid = s_spawn(f);
    //  the product text goes on where the user was
    s_act(f->sim, 601, DO_TEXT, "Чайник", "Выбери шаблон");
    //  each next input killed 0-40 ms after it was sent: handled exactly
    //  once, before the kill or after the restart
    struct {
        s_do_t what;
        const char *arg;
    } inputs[] = {{DO_PRESS, "Реклама"}, {DO_TEXT, "-"}, {DO_PRESS, "1️⃣"}};
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        if (inputs[i].what == DO_PRESS)
            assert_true(tgsim_press_label(f->sim, 601, 0, inputs[i].arg) > 0);
        else
            tgsim_send_text(f->sim, 601, inputs[i].arg);
        zclock_sleep((int)(i * 20));
        s_kill(pid);
        pid = s_spawn(f);
        zclock_sleep(300);
    }
    s_act(f->sim, 601, DO_PRESS, "Запустить", "Принял");
    //  every update confirmed to Telegram: nothing left to redeliver
    tgsim_stats_t stats;
    for (int i = 0; i < 100; i++) {
        tgsim_stats(f->sim, &stats);
        if (stats.updates_pending == 0) break;
        zclock_sleep(50);
    }
    assert_int_equal(stats.updates_pending, 0);
    s_kill(pid);
    //  no step's question was asked twice (none handled twice); the flow
    //  reached its end (none lost). A reply can be lost — never doubled —
    //  when the kill falls between the commit and the send.
    const char *once[] = {"Выбери шаблон", "пожелания", "Сколько видео", "Всё готово", "Принял"};
    for (size_t i = 0; i < sizeof once / sizeof once[0]; i++) {
        size_t n = s_calls_with(f->sim, 601, once[i]);
        if (n > 1 || (i == sizeof once / sizeof once[0] - 1 && n != 1)) {
            char *text = tgsim_transcript_text(f->sim, 601);
            fail_msg("\"%s\" shown %zu times:\n%s", once[i], n, text);
        }
    }
    int64_t balance, held, jobs;
    s_user_row(f->path, 601, &balance, &held, &jobs);
    assert_int_equal(jobs, 1);
    s_fixture_destroy(&f);
}

//  200 users through the flow at once: every order placed once, balances
//  right, the ledger's invariants hold.
static void test_two_hundred_users_at_once(void **state) {
    (void)state;
    fixture_t *f = s_fixture();
    f->config->sessions = 4;
    s_start(f);
    enum { USERS = 200 };
    const int64_t base = 10000;
    for (int i = 0; i < USERS; i++)
        tgsim_user_add(f->sim, base + i, "u", i % 2 ? "ru" : "en");
    struct {
        s_do_t what;
        const char *ru, *en, *expect_ru, *expect_en;
    } steps[] = {
        {DO_TEXT, "/start", "/start", "Главное меню", "Main menu"},
        {DO_PRESS, "Создать видео", "Create video", "Пришли фото", "Send a photo"},
        {DO_PHOTO, NULL, NULL, "Напиши о товаре", "Describe the product"},
        {DO_TEXT, "Кружка", "Mug", "Выбери шаблон", "Choose a video template"},
        {DO_PRESS, "Реклама", "Ad", "пожелания", "extra wishes"},
        {DO_TEXT, "-", "-", "Сколько видео", "How many videos"},
        {DO_PRESS, "1️⃣", "1️⃣", "Всё готово к запуску", "Ready to launch"},
        {DO_PRESS, "Запустить", "Launch", "Принял", "Got it"},
    };
    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
        uint64_t after = tgsim_seq(f->sim);
        for (int i = 0; i < USERS; i++) {
            bool ru = i % 2;
            const char *arg = ru ? steps[s].ru : steps[s].en;
            int64_t id = steps[s].what == DO_TEXT ? tgsim_send_text(f->sim, base + i, arg)
                         : steps[s].what == DO_PHOTO
                             ? tgsim_send_photo(f->sim, base + i, NULL, 0, NULL)
                             : tgsim_press_label(f->sim, base + i, 0, arg);
            assert_true(id > 0);
        }
        for (int i = 0; i < USERS; i++) {
            bool ru = i % 2;
            if (tgsim_wait_message_after(f->sim, base + i,
                                         ru ? steps[s].expect_ru : steps[s].expect_en, after,
                                         30000) < 0)
                fail_msg("user %d stuck at step %zu", i, s);
        }
    }
    genbot_stop(&f->genbot);
    for (int i = 0; i < USERS; i++) {
        int64_t balance, held, jobs;
        s_user_row(f->path, base + i, &balance, &held, &jobs);
        assert_int_equal(balance, 1);
        assert_int_equal(held, 1);
        assert_int_equal(jobs, 1);
    }
    s_fixture_destroy(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        //  first: it forks, and a child must not inherit a ZeroMQ context
        cmocka_unit_test(test_restart_resumes_at_the_same_step),
        cmocka_unit_test(test_full_order_in_russian),
        cmocka_unit_test(test_full_order_in_english_and_shortfall),
        cmocka_unit_test(test_two_hundred_users_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
