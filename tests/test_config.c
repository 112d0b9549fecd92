/*  test_config.c — config_load, config_print, config_mask.

    The environment is faked: each test lists NAME=value pairs and
    config_load reads them through s_fake_getenv.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define TOKEN "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"
#define KEY_A "0123456789abcdef0123456789abcdef"
#define KEY_B "fedcba9876543210fedcba9876543210"

//  A fake environment: NULL-terminated "NAME=value" strings.
static const char *s_fake_getenv(const char *name, void *arg) {
    const char *const *env = arg;
    size_t length = strlen(name);
    for (; env && *env; env++)
        if (strncmp(*env, name, length) == 0 && (*env)[length] == '=') return *env + length + 1;
    return NULL;
}

static config_t *s_load(const char *const *env, char *err) {
    return config_load(s_fake_getenv, (void *)env, err);
}

//  config_print into a string the caller frees.
static char *s_print(const config_t *config) {
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    assert_non_null(out);
    config_print(config, out);
    fclose(out);
    return text;
}

static void test_defaults(void **state) {
    (void)state;
    const char *env[] = {NULL};
    char err[CONFIG_ERR_MAX] = "";
    config_t *config = s_load(env, err);
    assert_non_null(config);
    assert_string_equal(err, "");
    assert_null(config->telegram_bot_token);
    assert_string_equal(config->telegram_api_url, "https://api.telegram.org");
    assert_int_equal(config->tg_poll_timeout_s, 30);
    assert_int_equal(config->kie_api_key_count, 0);
    assert_null(config->kie_api_keys[0]);
    assert_string_equal(config->kie_api_url, "https://api.kie.ai");
    assert_string_equal(config->kie_upload_url, "https://kieai.redpandaai.co");
    assert_string_equal(config->db_path, "./genbot.db");
    assert_int_equal(config->admin_count, 0);
    assert_int_equal(config->free_credits, 2);
    assert_string_equal(config->stats_bind, "tcp://127.0.0.1:7557");
    assert_string_equal(config->http_bind, "127.0.0.1:8080");
    assert_null(config->public_url);
    assert_int_equal(config->kie_poll_ms, 2000);
    assert_int_equal(config->kie_poll_max_ms, 30000);
    assert_int_equal(config->kie_max_task_s, 1800);
    assert_int_equal(config->retry_base_ms, 10000);
    assert_int_equal(config->max_attempts, 3);
    assert_int_equal(config->key_cooldown_s, 60);
    assert_int_equal(config->key_billing_cooldown_s, 86400);
    assert_int_equal(config->queue_max_wait_s, 1800);
    assert_int_equal(config->tg_rate, 30);
    assert_int_equal(config->tg_chat_rate, 1);
    assert_int_equal(config->limit_active, 5);
    assert_int_equal(config->limit_per_min, 10);
    assert_int_equal(config->sessions, 2);
    assert_int_equal(config->sync_full, 1);
    assert_int_equal(config->log_level, LOG_LEVEL_INFO);
    assert_null(config->catalog_path);
    assert_int_equal(config->ledger_batch_max, 256);
    config_destroy(&config);
    assert_null(config);
    config_destroy(&config); //  safe twice
}

static void test_every_knob_set(void **state) {
    (void)state;
    const char *env[] = {"TELEGRAM_BOT_TOKEN=" TOKEN,
                         "TELEGRAM_API_URL=http://127.0.0.1:9001/",
                         "GENBOT_TG_POLL_TIMEOUT_S=0",
                         "KIE_API_KEYS=" KEY_A ", " KEY_B,
                         "KIE_API_URL=http://localhost:9002/kie//",
                         "KIE_UPLOAD_URL=https://[::1]:9003",
                         "GENBOT_DB=/var/lib/genbot/genbot db.sqlite",
                         "GENBOT_ADMINS=42, 7,9223372036854775807",
                         "GENBOT_FREE_CREDITS=0",
                         "GENBOT_STATS_BIND=tcp://*:7000",
                         "GENBOT_HTTP_BIND=0.0.0.0:80",
                         "GENBOT_PUBLIC_URL=https://bot.example.com/genbot/",
                         "GENBOT_KIE_POLL_MS=1",
                         "GENBOT_KIE_POLL_MAX_MS=1",
                         "GENBOT_KIE_MAX_TASK_S=60",
                         "GENBOT_RETRY_BASE_MS=5",
                         "GENBOT_MAX_ATTEMPTS=100",
                         "GENBOT_KEY_COOLDOWN_S=1",
                         "GENBOT_KEY_BILLING_COOLDOWN_S=3600",
                         "GENBOT_QUEUE_MAX_WAIT_S=7",
                         "GENBOT_TG_RATE=1000",
                         "GENBOT_TG_CHAT_RATE=20",
                         "GENBOT_LIMIT_ACTIVE=1",
                         "GENBOT_LIMIT_PER_MIN=1",
                         "GENBOT_SESSIONS=64",
                         "GENBOT_SYNC=normal",
                         "GENBOT_LOG_LEVEL=debug",
                         "GENBOT_CATALOG=/etc/genbot/catalog.json",
                         "GENBOT_LEDGER_BATCH=1",
                         NULL};
    char err[CONFIG_ERR_MAX] = "";
    config_t *config = s_load(env, err);
    assert_non_null(config);
    assert_string_equal(config->telegram_bot_token, TOKEN);
    assert_string_equal(config->telegram_api_url, "http://127.0.0.1:9001");
    assert_int_equal(config->tg_poll_timeout_s, 0);
    assert_int_equal(config->kie_api_key_count, 2);
    assert_string_equal(config->kie_api_keys[0], KEY_A);
    assert_string_equal(config->kie_api_keys[1], KEY_B);
    assert_string_equal(config->kie_api_url, "http://localhost:9002/kie");
    assert_string_equal(config->kie_upload_url, "https://[::1]:9003");
    assert_string_equal(config->db_path, "/var/lib/genbot/genbot db.sqlite");
    assert_int_equal(config->admin_count, 3);
    assert_int_equal(config->admins[0], 42);
    assert_int_equal(config->admins[1], 7);
    assert_int_equal(config->admins[2], INT64_MAX);
    assert_int_equal(config->free_credits, 0);
    assert_string_equal(config->stats_bind, "tcp://*:7000");
    assert_string_equal(config->http_bind, "0.0.0.0:80");
    assert_string_equal(config->public_url, "https://bot.example.com/genbot");
    assert_int_equal(config->kie_poll_ms, 1);
    assert_int_equal(config->kie_poll_max_ms, 1);
    assert_int_equal(config->kie_max_task_s, 60);
    assert_int_equal(config->retry_base_ms, 5);
    assert_int_equal(config->max_attempts, 100);
    assert_int_equal(config->key_cooldown_s, 1);
    assert_int_equal(config->key_billing_cooldown_s, 3600);
    assert_int_equal(config->queue_max_wait_s, 7);
    assert_int_equal(config->tg_rate, 1000);
    assert_int_equal(config->tg_chat_rate, 20);
    assert_int_equal(config->limit_active, 1);
    assert_int_equal(config->limit_per_min, 1);
    assert_int_equal(config->sessions, 64);
    assert_int_equal(config->sync_full, 0);
    assert_int_equal(config->log_level, LOG_LEVEL_DEBUG);
    assert_string_equal(config->catalog_path, "/etc/genbot/catalog.json");
    assert_int_equal(config->ledger_batch_max, 1);
    config_destroy(&config);
}

static void test_empty_is_unset(void **state) {
    (void)state;
    const char *env[] = {"TELEGRAM_BOT_TOKEN=", "GENBOT_PUBLIC_URL=", "GENBOT_DB=",
                         "GENBOT_SESSIONS=",    "KIE_API_KEYS=",      "GENBOT_ADMINS=",
                         "GENBOT_LOG_LEVEL=",   "GENBOT_CATALOG=",    NULL};
    char err[CONFIG_ERR_MAX] = "";
    config_t *config = s_load(env, err);
    assert_non_null(config);
    assert_null(config->telegram_bot_token);
    assert_null(config->public_url);
    assert_null(config->catalog_path);
    assert_string_equal(config->db_path, "./genbot.db");
    assert_int_equal(config->sessions, 2);
    assert_int_equal(config->kie_api_key_count, 0);
    assert_int_equal(config->admin_count, 0);
    assert_int_equal(config->log_level, LOG_LEVEL_INFO);
    config_destroy(&config);
}

//  One bad value per row: config_load must fail with one line that starts
//  with the variable's name and says what is wrong.
typedef struct {
    const char *setting; //  NAME=value
    const char *expect;  //  the whole message after "NAME: ", or a part of it
} bad_case_t;

static const bad_case_t s_bad_cases[] = {
    //  Numbers
    {"GENBOT_TG_RATE=abc", "\"abc\" is not a number"},
    {"GENBOT_SESSIONS=0", "0 is out of range 1..64"},
    {"GENBOT_SESSIONS=65", "65 is out of range 1..64"},
    {"GENBOT_SESSIONS=-1", "-1 is out of range 1..64"},
    {"GENBOT_SESSIONS=12x", "\"12x\" is not a number"},
    {"GENBOT_SESSIONS= 2", "\" 2\" is not a number"},
    {"GENBOT_SESSIONS=+2", "\"+2\" is not a number"},
    {"GENBOT_SESSIONS=2.5", "\"2.5\" is not a number"},
    {"GENBOT_SESSIONS=0x10", "\"0x10\" is not a number"},
    {"GENBOT_SESSIONS=-", "\"-\" is not a number"},
    {"GENBOT_TG_POLL_TIMEOUT_S=51", "51 is out of range 0..50"},
    {"GENBOT_TG_POLL_TIMEOUT_S=-1", "-1 is out of range 0..50"},
    {"GENBOT_FREE_CREDITS=99999999999999999999", "\"99999999999999999999\" is out of range"},
    {"GENBOT_FREE_CREDITS=-99999999999999999999", "is out of range"},
    {"GENBOT_KIE_POLL_MS=0", "0 is out of range 1.."},
    {"GENBOT_KIE_POLL_MAX_MS=0", "0 is out of range 1.."},
    {"GENBOT_KIE_MAX_TASK_S=0", "0 is out of range 1.."},
    {"GENBOT_RETRY_BASE_MS=0", "0 is out of range 1.."},
    {"GENBOT_MAX_ATTEMPTS=0", "0 is out of range 1..100"},
    {"GENBOT_KEY_COOLDOWN_S=0", "0 is out of range 1.."},
    {"GENBOT_KEY_BILLING_COOLDOWN_S=x", "\"x\" is not a number"},
    {"GENBOT_QUEUE_MAX_WAIT_S=0", "0 is out of range 1.."},
    {"GENBOT_TG_RATE=0", "0 is out of range 1.."},
    {"GENBOT_TG_CHAT_RATE=0", "0 is out of range 1.."},
    {"GENBOT_LIMIT_ACTIVE=0", "0 is out of range 1.."},
    {"GENBOT_LIMIT_PER_MIN=0", "0 is out of range 1.."},
    {"GENBOT_LEDGER_BATCH=0", "0 is out of range 1..4096"},
    {"GENBOT_LEDGER_BATCH=4097", "4097 is out of range 1..4096"},
    {"GENBOT_KIE_POLL_MS=40000", "40000 is more than GENBOT_KIE_POLL_MAX_MS (30000)"},
    //  URLs
    {"TELEGRAM_API_URL=api.telegram.org", "\"api.telegram.org\" is not an http:// or https:// URL"},
    {"TELEGRAM_API_URL=ftp://x.org", "is not an http:// or https:// URL"},
    {"TELEGRAM_API_URL=https://", "\"https://\" has no host"},
    {"KIE_API_URL=https:///path", "has no host"},
    {"KIE_API_URL=http://:80", "has no host"},
    {"KIE_API_URL=http://host:0", "has a bad port"},
    {"KIE_API_URL=http://host:65536", "has a bad port"},
    {"KIE_API_URL=http://host:8x", "has a bad port"},
    {"KIE_UPLOAD_URL=https://user@host", "has a bad host"},
    {"KIE_UPLOAD_URL=https://ho st", "contains whitespace"},
    {"GENBOT_PUBLIC_URL=http://bot.example.com", "is not an https:// URL"},
    {"GENBOT_PUBLIC_URL=example.com", "is not an http:// or https:// URL"},
    //  Binds
    {"GENBOT_STATS_BIND=127.0.0.1:7557", "\"127.0.0.1:7557\" is not tcp://host:port"},
    {"GENBOT_STATS_BIND=ipc:///tmp/stats", "is not tcp://host:port"},
    {"GENBOT_STATS_BIND=tcp://127.0.0.1", "is not tcp://host:port"},
    {"GENBOT_STATS_BIND=tcp://:7557", "is not tcp://host:port"},
    {"GENBOT_STATS_BIND=tcp://127.0.0.1:0", "is not tcp://host:port"},
    {"GENBOT_HTTP_BIND=8080", "\"8080\" is not host:port"},
    {"GENBOT_HTTP_BIND=:8080", "is not host:port"},
    {"GENBOT_HTTP_BIND=tcp://127.0.0.1:8080", "is not host:port"},
    {"GENBOT_HTTP_BIND=localhost:99999", "is not host:port"},
    {"GENBOT_HTTP_BIND=*:8080", "is not host:port"},
    //  Lists
    {"KIE_API_KEYS=a1b2c3d4,,e5f6g7h8", "key 2 is empty (stray comma?)"},
    {"KIE_API_KEYS=a1b2c3d4,", "key 2 is empty"},
    {"KIE_API_KEYS=,a1b2c3d4", "key 1 is empty"},
    {"KIE_API_KEYS=a1b2c3d4, ,e5f6g7h8", "key 2 is empty"},
    {"KIE_API_KEYS=" KEY_A "," KEY_B "," KEY_A, "key 3 repeats key 1"},
    {"KIE_API_KEYS=a1b2 c3d4", "key 1 contains whitespace"},
    {"GENBOT_ADMINS=42,abc", "\"abc\" is not a Telegram user id"},
    {"GENBOT_ADMINS=0", "\"0\" is not a Telegram user id"},
    {"GENBOT_ADMINS=-5", "\"-5\" is not a Telegram user id"},
    {"GENBOT_ADMINS=42,,7", "id 2 is empty"},
    {"GENBOT_ADMINS=42,", "id 2 is empty"},
    {"GENBOT_ADMINS=42,42", "42 is listed twice"},
    {"GENBOT_ADMINS=99999999999999999999", "is not a Telegram user id"},
    //  Enums
    {"GENBOT_SYNC=fast", "\"fast\" is not one of full|normal|off"},
    {"GENBOT_LOG_LEVEL=verbose", "\"verbose\" is not one of debug|info|warn|error"},
    //  Strings
    {"GENBOT_DB=genbot\n.db", "\"genbot\\x0a.db\" contains a control character"},
    {"TELEGRAM_BOT_TOKEN=123456789:AAHdqTcvCH1vGWJxf SeofSAs0K5PALDsawQ", "contains whitespace"},
};

static void test_bad_values(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof(s_bad_cases) / sizeof(s_bad_cases[0]); i++) {
        const bad_case_t *bad = &s_bad_cases[i];
        const char *env[] = {bad->setting, NULL};
        char err[CONFIG_ERR_MAX] = "";
        config_t *config = s_load(env, err);
        if (config || !strstr(err, bad->expect))
            fail_msg("%s: expected an error with '%s', got %s '%s'", bad->setting, bad->expect,
                     config ? "a config and" : "NULL and", err);
        char name[64];
        size_t length = strcspn(bad->setting, "=");
        snprintf(name, sizeof(name), "%.*s: ", (int)length, bad->setting);
        if (strncmp(err, name, strlen(name)) != 0)
            fail_msg("%s: error does not start with the name: '%s'", bad->setting, err);
        assert_null(strchr(err, '\n'));
    }
}

static void test_exact_messages(void **state) {
    (void)state;
    const struct {
        const char *setting, *message;
    } cases[] = {
        {"GENBOT_TG_RATE=abc", "GENBOT_TG_RATE: \"abc\" is not a number"},
        {"GENBOT_SESSIONS=0", "GENBOT_SESSIONS: 0 is out of range 1..64"},
        {"GENBOT_SYNC=fast", "GENBOT_SYNC: \"fast\" is not one of full|normal|off"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *env[] = {cases[i].setting, NULL};
        char err[CONFIG_ERR_MAX];
        assert_null(s_load(env, err));
        assert_string_equal(err, cases[i].message);
    }
}

static void test_long_bad_value_is_cut(void **state) {
    (void)state;
    char setting[4096];
    int used = snprintf(setting, sizeof(setting), "GENBOT_DB=");
    memset(setting + used, 'x', 3000);
    setting[used + 3000] = '\x01';
    setting[used + 3001] = '\0';
    const char *env[] = {setting, NULL};
    char err[CONFIG_ERR_MAX];
    assert_null(s_load(env, err));
    assert_true(strlen(err) < 200);
    assert_non_null(strstr(err, "...\" contains a control character"));
}

static void test_secrets_never_in_errors(void **state) {
    (void)state;
    const char *cases[] = {
        "TELEGRAM_BOT_TOKEN=" TOKEN "\t",       "TELEGRAM_BOT_TOKEN=" TOKEN " x",
        "KIE_API_KEYS=" KEY_A "," KEY_B "\x01", "KIE_API_KEYS=" KEY_A " " KEY_B,
        "KIE_API_KEYS=" KEY_A ",," KEY_B,       "KIE_API_KEYS=" KEY_A "," KEY_A,
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *env[] = {cases[i], NULL};
        char err[CONFIG_ERR_MAX] = "";
        assert_null(s_load(env, err));
        assert_true(strlen(err) > 0);
        //  Not even a long piece of one.
        if (strstr(err, "AAHdqTcvCH1v") || strstr(err, "456789abcdef") ||
            strstr(err, "9876543210fe"))
            fail_msg("secret in error: %s", err);
    }
}

static void test_lists(void **state) {
    (void)state;
    //  Exactly the maximum of each list is fine, one more is not.
    char keys[CONFIG_MAX_KEYS * 16 + 32] = "KIE_API_KEYS=";
    char admins[CONFIG_MAX_ADMINS * 8 + 32] = "GENBOT_ADMINS=";
    for (int i = 0; i < CONFIG_MAX_KEYS; i++)
        snprintf(keys + strlen(keys), sizeof(keys) - strlen(keys), "%skey%04d", i ? "," : "", i);
    for (int i = 0; i < CONFIG_MAX_ADMINS; i++)
        snprintf(admins + strlen(admins), sizeof(admins) - strlen(admins), "%s%d", i ? "," : "",
                 i + 1);
    const char *env[] = {keys, admins, NULL};
    char err[CONFIG_ERR_MAX] = "";
    config_t *config = s_load(env, err);
    assert_non_null(config);
    assert_int_equal(config->kie_api_key_count, CONFIG_MAX_KEYS);
    assert_string_equal(config->kie_api_keys[CONFIG_MAX_KEYS - 1], "key0031");
    assert_int_equal(config->admin_count, CONFIG_MAX_ADMINS);
    assert_int_equal(config->admins[CONFIG_MAX_ADMINS - 1], CONFIG_MAX_ADMINS);
    config_destroy(&config);

    strcat(keys, ",keyMORE");
    const char *too_many_keys[] = {keys, NULL};
    assert_null(s_load(too_many_keys, err));
    assert_string_equal(err, "KIE_API_KEYS: more than 32 keys");

    strcat(admins, ",1000");
    const char *too_many_admins[] = {admins, NULL};
    assert_null(s_load(too_many_admins, err));
    assert_string_equal(err, "GENBOT_ADMINS: more than 64 ids");

    const char *one[] = {"KIE_API_KEYS=  " KEY_A "\t", "GENBOT_ADMINS=5", NULL};
    config = s_load(one, err);
    assert_non_null(config);
    assert_int_equal(config->kie_api_key_count, 1);
    assert_string_equal(config->kie_api_keys[0], KEY_A);
    assert_int_equal(config->admin_count, 1);
    assert_int_equal(config->admins[0], 5);
    config_destroy(&config);
}

static void test_enums(void **state) {
    (void)state;
    const struct {
        const char *setting;
        int sync_full;
        log_level_t level;
    } cases[] = {
        {"GENBOT_SYNC=full", 1, LOG_LEVEL_INFO},
        {"GENBOT_SYNC=normal", 0, LOG_LEVEL_INFO},
        {"GENBOT_SYNC=off", -1, LOG_LEVEL_INFO},
        {"GENBOT_SYNC=OFF", -1, LOG_LEVEL_INFO},
        {"GENBOT_LOG_LEVEL=debug", 1, LOG_LEVEL_DEBUG},
        {"GENBOT_LOG_LEVEL=info", 1, LOG_LEVEL_INFO},
        {"GENBOT_LOG_LEVEL=warn", 1, LOG_LEVEL_WARN},
        {"GENBOT_LOG_LEVEL=error", 1, LOG_LEVEL_ERROR},
        {"GENBOT_LOG_LEVEL=Warn", 1, LOG_LEVEL_WARN},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *env[] = {cases[i].setting, NULL};
        char err[CONFIG_ERR_MAX];
        config_t *config = s_load(env, err);
        assert_non_null(config);
        assert_int_equal(config->sync_full, cases[i].sync_full);
        assert_int_equal(config->log_level, cases[i].level);
        config_destroy(&config);
    }
}

static void test_mask(void **state) {
    (void)state;
    char buf[64];
    assert_string_equal(config_mask(TOKEN, buf, sizeof(buf)), "1234...(45 chars)");
    assert_string_equal(config_mask(KEY_A, buf, sizeof(buf)), "0123...(32 chars)");
    assert_string_equal(config_mask("0123456789abcdef", buf, sizeof(buf)), "0123...(16 chars)");
    //  Too short to show any of it.
    assert_string_equal(config_mask("0123456789abcde", buf, sizeof(buf)), "...(15 chars)");
    assert_string_equal(config_mask("abc", buf, sizeof(buf)), "...(3 chars)");
    assert_string_equal(config_mask("", buf, sizeof(buf)), "...(0 chars)");
    assert_string_equal(config_mask(NULL, buf, sizeof(buf)), "(unset)");
    //  A small buffer cuts the mask, never shows more of the secret.
    char tiny[6];
    assert_string_equal(config_mask(TOKEN, tiny, sizeof(tiny)), "1234.");
}

static void test_print(void **state) {
    (void)state;
    const char *env[] = {"TELEGRAM_BOT_TOKEN=" TOKEN, "KIE_API_KEYS=" KEY_A "," KEY_B,
                         "GENBOT_ADMINS=42,7", "GENBOT_SYNC=off", NULL};
    char err[CONFIG_ERR_MAX];
    config_t *config = s_load(env, err);
    assert_non_null(config);
    char *text = s_print(config);

    //  No secret, nor a long piece of one.
    assert_null(strstr(text, TOKEN));
    assert_null(strstr(text, KEY_A));
    assert_null(strstr(text, KEY_B));
    assert_null(strstr(text, "56789:AAH"));
    assert_null(strstr(text, "456789abcdef"));

    assert_non_null(strstr(text, "TELEGRAM_BOT_TOKEN=1234...(45 chars)\n"));
    assert_non_null(strstr(text, "\nKIE_API_KEYS=0123...(32 chars),fedc...(32 chars)\n"));
    assert_non_null(strstr(text, "\nGENBOT_ADMINS=42,7\n"));
    assert_non_null(strstr(text, "\nGENBOT_SYNC=off\n"));
    assert_non_null(strstr(text, "\nGENBOT_LOG_LEVEL=info\n"));
    assert_non_null(strstr(text, "\nGENBOT_PUBLIC_URL=(unset)\n"));
    assert_non_null(strstr(text, "\nGENBOT_CATALOG=(unset)\n"));
    assert_non_null(strstr(text, "\nGENBOT_SESSIONS=2\n"));
    assert_non_null(strstr(text, "\nGENBOT_STATS_BIND=tcp://127.0.0.1:7557\n"));

    //  Every knob once, NAME=value, in table order (token first, batch last).
    const char *names[] = {"TELEGRAM_BOT_TOKEN",
                           "TELEGRAM_API_URL",
                           "GENBOT_TG_POLL_TIMEOUT_S",
                           "KIE_API_KEYS",
                           "KIE_API_URL",
                           "KIE_UPLOAD_URL",
                           "GENBOT_DB",
                           "GENBOT_ADMINS",
                           "GENBOT_FREE_CREDITS",
                           "GENBOT_STATS_BIND",
                           "GENBOT_HTTP_BIND",
                           "GENBOT_PUBLIC_URL",
                           "GENBOT_KIE_POLL_MS",
                           "GENBOT_KIE_POLL_MAX_MS",
                           "GENBOT_KIE_MAX_TASK_S",
                           "GENBOT_RETRY_BASE_MS",
                           "GENBOT_MAX_ATTEMPTS",
                           "GENBOT_KEY_COOLDOWN_S",
                           "GENBOT_KEY_BILLING_COOLDOWN_S",
                           "GENBOT_QUEUE_MAX_WAIT_S",
                           "GENBOT_TG_RATE",
                           "GENBOT_TG_CHAT_RATE",
                           "GENBOT_LIMIT_ACTIVE",
                           "GENBOT_LIMIT_PER_MIN",
                           "GENBOT_SESSIONS",
                           "GENBOT_SYNC",
                           "GENBOT_LOG_LEVEL",
                           "GENBOT_CATALOG",
                           "GENBOT_LEDGER_BATCH",
                           "GENBOT_KEY_SLOTS",
                           "GENBOT_KEY_CREATE_PER_10S",
                           "GENBOT_FLOOD_PER_10S",
                           "GENBOT_STATS_INTERVAL_MS",
                           "GENBOT_SUPPORT"};
    size_t count = sizeof(names) / sizeof(names[0]);
    const char *line = text;
    for (size_t i = 0; i < count; i++) {
        size_t length = strlen(names[i]);
        if (strncmp(line, names[i], length) != 0 || line[length] != '=')
            fail_msg("line %zu: expected %s=, got %.40s", i + 1, names[i], line);
        line = strchr(line, '\n');
        assert_non_null(line);
        line++;
    }
    assert_string_equal(line, "");
    free(text);
    config_destroy(&config);
}

static void test_help(void **state) {
    (void)state;
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    assert_non_null(out);
    config_help(out);
    fclose(out);
    assert_non_null(strstr(text, "GENBOT_SESSIONS=2  # "));
    assert_non_null(strstr(text, "(range 1..64)\n"));
    assert_non_null(strstr(text, "GENBOT_SYNC=full  # "));
    assert_non_null(strstr(text, "(one of full|normal|off)\n"));
    assert_int_equal(strncmp(text, "TELEGRAM_BOT_TOKEN=  # ", 23), 0);
    free(text);
}

static void test_process_environment(void **state) {
    (void)state;
    setenv("GENBOT_SESSIONS", "7", 1);
    setenv("GENBOT_LOG_LEVEL", "warn", 1);
    char err[CONFIG_ERR_MAX] = "";
    config_t *config = config_load(NULL, NULL, err);
    unsetenv("GENBOT_SESSIONS");
    unsetenv("GENBOT_LOG_LEVEL");
    if (!config) fail_msg("config_load from the process environment: %s", err);
    assert_int_equal(config->sessions, 7);
    assert_int_equal(config->log_level, LOG_LEVEL_WARN);
    config_destroy(&config);

    //  err may be NULL when the caller does not want the message.
    const char *bad[] = {"GENBOT_SESSIONS=0", NULL};
    assert_null(config_load(s_fake_getenv, (void *)bad, NULL));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_knob_set),
        cmocka_unit_test(test_empty_is_unset),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_exact_messages),
        cmocka_unit_test(test_long_bad_value_is_cut),
        cmocka_unit_test(test_secrets_never_in_errors),
        cmocka_unit_test(test_lists),
        cmocka_unit_test(test_enums),
        cmocka_unit_test(test_mask),
        cmocka_unit_test(test_print),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_process_environment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
