/*  test_i18n.c — both language tables complete and consistent, plural
    forms, language choice, escaping of placeholders, Telegram's size
    limits for every text and every keyboard.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsm.h"
#include "i18n.h"

static const i18n_lang_t s_langs[] = {I18N_RU, I18N_EN};

static bool s_prefix(i18n_id_t id, const char *prefix) {
    return strncmp(i18n_id_name(id), prefix, strlen(prefix)) == 0;
}

//  Bit k set when {k+1} appears.
static unsigned s_placeholders(const char *text) {
    unsigned set = 0;
    for (const char *p = text; (p = strchr(p, '{')); p++)
        if (p[1] >= '1' && p[1] <= '9' && p[2] == '}') set |= 1u << (p[1] - '1');
    return set;
}

static size_t s_count_char(const char *text, char c) {
    size_t n = 0;
    for (; *text; text++)
        n += *text == c;
    return n;
}

//  Only the tags Telegram's HTML mode knows that we use, balanced, and every
//  '&' an entity.
static bool s_html_ok(const char *html) {
    int b = 0, i = 0, a = 0, code = 0;
    for (const char *p = html; *p; p++) {
        if (*p == '&') {
            if (strncmp(p, "&amp;", 5) && strncmp(p, "&lt;", 4) && strncmp(p, "&gt;", 4) &&
                strncmp(p, "&quot;", 6))
                return false;
        } else if (*p == '>') {
            return false;
        } else if (*p == '<') {
            static const struct {
                const char *tag;
                int which, delta;
            } tags[] = {{"<b>", 0, 1},   {"</b>", 0, -1},     {"<i>", 1, 1},
                        {"</i>", 1, -1}, {"<code>", 3, 1},    {"</code>", 3, -1},
                        {"</a>", 2, -1}, {"<a href=\"", 2, 1}};
            size_t k;
            for (k = 0; k < sizeof tags / sizeof tags[0]; k++)
                if (strncmp(p, tags[k].tag, strlen(tags[k].tag)) == 0) break;
            if (k == sizeof tags / sizeof tags[0]) return false;
            int *depth = tags[k].which == 0   ? &b
                         : tags[k].which == 1 ? &i
                         : tags[k].which == 2 ? &a
                                              : &code;
            *depth += tags[k].delta;
            if (*depth < 0 || *depth > 1) return false;
            if (tags[k].which == 2 && tags[k].delta == 1) {
                const char *end = strstr(p, "\">");
                if (!end || memchr(p + 9, '<', (size_t)(end - p - 9))) return false;
                p = end + 1;
                continue;
            }
            p += strlen(tags[k].tag) - 1;
        }
    }
    return b == 0 && i == 0 && a == 0 && code == 0;
}

static void test_tables_complete(void **state) {
    (void)state;
    for (int id = 0; id < I18N_COUNT_; id++) {
        const char *ru = i18n_table_ru[id], *en = i18n_table_en[id];
        if (!ru || !*ru || !en || !*en)
            fail_msg("%s is missing or empty in %s", i18n_id_name((i18n_id_t)id),
                     !ru || !*ru ? "ru" : "en");
        if (s_placeholders(ru) != s_placeholders(en))
            fail_msg("%s: ru and en use different placeholders", i18n_id_name((i18n_id_t)id));
        assert_string_equal(i18n_text(I18N_RU, (i18n_id_t)id), ru);
        assert_string_equal(i18n_text(I18N_EN, (i18n_id_t)id), en);
        assert_true(i18n_utf8_valid(ru, strlen(ru)));
        assert_true(i18n_utf8_valid(en, strlen(en)));
        if (s_prefix((i18n_id_t)id, "N_")) {
            assert_int_equal(s_count_char(ru, '|'), 2);
            assert_int_equal(s_count_char(en, '|'), 1);
        } else if (s_prefix((i18n_id_t)id, "B_") || s_prefix((i18n_id_t)id, "A_")) {
            //  plain text: no markup, within the limits
            assert_null(strchr(ru, '<'));
            assert_null(strchr(en, '<'));
            size_t max = s_prefix((i18n_id_t)id, "B_") ? I18N_BUTTON_MAX : I18N_ANSWER_MAX;
            assert_true(strlen(ru) <= max && strlen(en) <= max);
        } else {
            if (!s_html_ok(ru) || !s_html_ok(en))
                fail_msg("%s: bad HTML", i18n_id_name((i18n_id_t)id));
        }
    }
    //  out of range: empty, never NULL
    assert_string_equal(i18n_text(I18N_RU, I18N_COUNT_), "");
    assert_string_equal(i18n_text((i18n_lang_t)7, I18N_T_MENU), "");
    assert_string_equal(i18n_id_name(I18N_COUNT_), "?");
    assert_string_equal(i18n_id_name(I18N_T_MENU), "T_MENU");
    //  the texts PRODUCT.md quotes
    assert_non_null(
        strstr(i18n_text(I18N_RU, I18N_T_ASK_PHOTO), "Пришли фото товара (без людей в кадре)"));
    assert_non_null(strstr(i18n_text(I18N_RU, I18N_T_ASK_WISHES),
                           "Есть доп. пожелания? Если нет — отправь «-»"));
    assert_non_null(
        strstr(i18n_text(I18N_RU, I18N_T_CONFIRM), "Генерация займёт от 1 до 30 минут"));
    assert_non_null(
        strstr(i18n_text(I18N_RU, I18N_T_ACCEPTED), "✅ Принял! Генерация {1} запущена"));
    assert_non_null(strstr(i18n_text(I18N_RU, I18N_T_REFUNDED), "{1} вернули на баланс ✅"));
    assert_string_equal(i18n_text(I18N_RU, I18N_A_STALE), "Эта кнопка устарела");
    assert_string_equal(i18n_text(I18N_EN, I18N_A_STALE), "This button is out of date");
    assert_string_equal(i18n_text(I18N_RU, I18N_B_CREATE), "🎬 Создать видео");
    assert_string_equal(i18n_text(I18N_RU, I18N_B_HISTORY), "🖼 Мои генерации");
    assert_string_equal(i18n_text(I18N_RU, I18N_B_ACCOUNT), "👤 Личный кабинет");
    assert_string_equal(i18n_text(I18N_RU, I18N_B_SUPPORT), "🆘 Поддержка");
    assert_string_equal(i18n_text(I18N_EN, I18N_B_CREATE), "🎬 Create video");
    assert_string_equal(i18n_text(I18N_EN, I18N_B_HISTORY), "🖼 My generations");
    assert_string_equal(i18n_text(I18N_EN, I18N_B_ACCOUNT), "👤 Account");
    assert_string_equal(i18n_text(I18N_EN, I18N_B_SUPPORT), "🆘 Support");
}

static void s_expect_count(i18n_lang_t lang, int64_t n, const char *expected) {
    char *text = i18n_count(lang, I18N_N_CREDIT, n);
    if (strcmp(text, expected) != 0)
        fail_msg("%lld: expected \"%s\", got \"%s\"", (long long)n, expected, text);
    free(text);
}

static void test_plural(void **state) {
    (void)state;
    static const struct {
        int64_t n;
        const char *ru;
    } ru[] = {
        {0, "0 кредитов"},     {1, "1 кредит"},       {2, "2 кредита"},    {4, "4 кредита"},
        {5, "5 кредитов"},     {11, "11 кредитов"},   {12, "12 кредитов"}, {14, "14 кредитов"},
        {21, "21 кредит"},     {22, "22 кредита"},    {25, "25 кредитов"}, {100, "100 кредитов"},
        {101, "101 кредит"},   {111, "111 кредитов"}, {121, "121 кредит"}, {1000, "1000 кредитов"},
        {1001, "1001 кредит"}, {-1, "-1 кредит"},     {-5, "-5 кредитов"}};
    for (size_t i = 0; i < sizeof ru / sizeof ru[0]; i++)
        s_expect_count(I18N_RU, ru[i].n, ru[i].ru);
    s_expect_count(I18N_EN, 0, "0 credits");
    s_expect_count(I18N_EN, 1, "1 credit");
    s_expect_count(I18N_EN, 2, "2 credits");
    s_expect_count(I18N_EN, 21, "21 credits");
    s_expect_count(I18N_EN, 101, "101 credits");
    char buf[64];
    assert_string_equal(i18n_plural(I18N_RU, I18N_N_VIDEO, 3, buf, sizeof buf), "видео");
    assert_string_equal(i18n_plural(I18N_EN, I18N_N_VIDEO, 3, buf, sizeof buf), "videos");
    assert_string_equal(i18n_plural(I18N_RU, I18N_N_GENERATION, 5, buf, sizeof buf), "генераций");
    assert_string_equal(i18n_plural(I18N_RU, I18N_N_CHAR, 1001, buf, sizeof buf), "символ");
    assert_string_equal(i18n_plural(I18N_RU, I18N_N_SECOND, 30, buf, sizeof buf), "секунд");
    assert_string_equal(i18n_plural(I18N_RU, I18N_T_MENU, 3, buf, sizeof buf), ""); //  not a noun
    i18n_plural(I18N_RU, I18N_N_CREDIT, 5, buf, 4); //  cut to the buffer
    assert_true(strlen(buf) <= 3);
    assert_int_equal(i18n_plural_form(I18N_RU, INT64_MIN), 2);
}

static void test_detect(void **state) {
    (void)state;
    static const char *const russian[] = {"ru", "RU",    "ru-RU", "ru_RU", "uk", "uk-UA",
                                          "be", "be-BY", "kk",    "kk_KZ", "Kk"};
    static const char *const english[] = {"en",  "en-US", "de", "fr",  "",   "r",
                                          "rus", "ukr",   "kz", "-ru", "pl", "zh-hans"};
    for (size_t i = 0; i < sizeof russian / sizeof russian[0]; i++)
        assert_int_equal(i18n_detect(russian[i]), I18N_RU);
    for (size_t i = 0; i < sizeof english / sizeof english[0]; i++)
        assert_int_equal(i18n_detect(english[i]), I18N_EN);
    assert_int_equal(i18n_detect(NULL), I18N_EN);
    i18n_lang_t lang;
    assert_int_equal(i18n_lang_parse("ru", &lang), 0);
    assert_int_equal(lang, I18N_RU);
    assert_int_equal(i18n_lang_parse("en", &lang), 0);
    assert_int_equal(lang, I18N_EN);
    assert_int_equal(i18n_lang_parse("de", &lang), -1);
    assert_int_equal(i18n_lang_parse(NULL, &lang), -1);
    assert_string_equal(i18n_lang_code(I18N_RU), "ru");
    assert_string_equal(i18n_lang_code(I18N_EN), "en");
}

static void test_format_escapes(void **state) {
    (void)state;
    const char *evil = "<b>bold</b> & \"quoted\" <script>";
    i18n_arg_t args[] = {I18N_S(evil), I18N_H("<b>ok</b>"), I18N_I(-42), I18N_N(3, N_CREDIT)};
    char *text = i18n_format_str(I18N_RU, "{1}|{2}|{3}|{4}|{5}|{x}|{10}|{", args, 4);
    assert_string_equal(text, "&lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot; &lt;script&gt;|"
                              "<b>ok</b>|-42|3 кредита||{x}|{10}|{");
    free(text);
    text = i18n_format(I18N_EN, I18N_T_WELCOME_NEW, (i18n_arg_t[]){args[0], args[3]}, 2);
    assert_non_null(strstr(text, "&lt;b&gt;bold"));
    assert_null(strstr(text, "<script>"));
    assert_true(s_html_ok(text));
    free(text);
    text = i18n_escape("a<b>&c\"d'");
    assert_string_equal(text, "a&lt;b&gt;&amp;c&quot;d'");
    free(text);
    text = i18n_escape(NULL);
    assert_string_equal(text, "");
    free(text);
    //  NULL strings and no arguments print nothing
    i18n_arg_t none[] = {I18N_S(NULL), I18N_H(NULL)};
    text = i18n_format_str(I18N_EN, "[{1}{2}]", none, 2);
    assert_string_equal(text, "[]");
    free(text);
    text = i18n_format_str(I18N_EN, NULL, NULL, 0);
    assert_string_equal(text, "");
    free(text);
}

static void test_visible_length_and_utf8(void **state) {
    (void)state;
    assert_int_equal(i18n_visible_length("<b>ab</b>"), 2);
    assert_int_equal(i18n_visible_length("&amp;&lt;x&gt;"), 4);
    assert_int_equal(i18n_visible_length("привет"), 6);
    assert_int_equal(i18n_visible_length("😀"), 2);
    assert_int_equal(i18n_visible_length("<a href=\"https://x.y/?a=1&amp;b=2\">link</a>"), 4);
    assert_int_equal(i18n_visible_length("a & b"), 5);
    assert_true(i18n_utf8_valid("", 0));
    assert_true(i18n_utf8_valid("ё😀", strlen("ё😀")));
    static const char *const bad[] = {
        "\xff", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
        "\xc3", "\xe2\x82", "a\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(i18n_utf8_valid(bad[i], strlen(bad[i])));
    assert_int_equal(i18n_utf8_chars("ёж😀a", strlen("ёж😀a")), 4);
    const char *text = "ёж😀a";
    assert_int_equal(i18n_utf8_prefix(text, strlen(text), 2), 4);
    assert_int_equal(i18n_utf8_prefix(text, strlen(text), 3), 8);
    assert_int_equal(i18n_utf8_prefix(text, strlen(text), 10), strlen(text));
}

//  Every text filled with the longest values the FSM passes (user text is
//  cut to FSM_ECHO_CHARS before it is echoed) fits Telegram's limit.
static void test_texts_fit(void **state) {
    (void)state;
    char long_text[FSM_ECHO_CHARS * 2 + 8];
    for (size_t i = 0; i < FSM_ECHO_CHARS; i++)
        memcpy(long_text + 2 * i, "ж", 2);
    strcpy(long_text + 2 * FSM_ECHO_CHARS, "…");
    //  a history list: ten of the longest lines
    char *line = i18n_format_str(I18N_RU, "{1} #{2} · {3} · {4}\n",
                                 (i18n_arg_t[]){I18N_H("🔄"), I18N_I(INT64_MAX),
                                                I18N_H(i18n_text(I18N_RU, I18N_S_TPL_OWN)),
                                                I18N_H("31.12.2099 23:59 UTC")},
                                 4);
    char lines[4096] = "";
    for (int i = 0; i < FSM_HISTORY_LIMIT; i++)
        strcat(lines, line);
    free(line);
    for (size_t l = 0; l < 2; l++)
        for (int id = 0; id < I18N_COUNT_; id++) {
            i18n_id_t tid = (i18n_id_t)id;
            if (s_prefix(tid, "N_")) continue;
            char *text;
            if (s_prefix(tid, "T_") || s_prefix(tid, "S_")) {
                i18n_arg_t args[9];
                for (int k = 0; k < 9; k++)
                    args[k] = I18N_S(long_text);
                if (tid == I18N_T_HISTORY || tid == I18N_T_ENTRIES) args[0] = I18N_H(lines);
                text = i18n_format(s_langs[l], tid, args, 9);
                if (i18n_visible_length(text) > I18N_TEXT_MAX)
                    fail_msg("%s is %zu long", i18n_id_name(tid), i18n_visible_length(text));
                free(text);
            }
            //  captions, buttons and answers carry numbers and genbot's words
            i18n_arg_t numbers[] = {I18N_I(INT64_MAX), I18N_I(INT64_MAX), I18N_I(INT64_MAX)};
            text = i18n_format(s_langs[l], tid, numbers, 3);
            if (tid == I18N_T_RESULT) assert_true(i18n_visible_length(text) <= I18N_CAPTION_MAX);
            if (s_prefix(tid, "A_")) assert_true(i18n_visible_length(text) <= I18N_ANSWER_MAX);
            if (s_prefix(tid, "B_")) assert_true(strlen(text) <= I18N_BUTTON_MAX);
            free(text);
        }
}

static void s_check_kb(const i18n_keyboard_t *kb, int rc) {
    assert_int_equal(rc, 0);
    assert_true(kb->count > 0);
    assert_true(kb->rows > 0 && kb->rows <= I18N_KB_MAX_ROWS);
    assert_int_equal(kb->row_end[kb->rows - 1], kb->count);
    for (size_t i = 0; i < kb->count; i++) {
        const i18n_button_t *button = &kb->buttons[i];
        assert_true(*button->text);
        if (*button->url) {
            assert_int_equal(strncmp(button->url, "https://", 8), 0);
            continue;
        }
        assert_true(strlen(button->data) <= I18N_CALLBACK_MAX);
        fsm_callback_t cb;
        if (fsm_cb_parse(button->data, &cb))
            fail_msg("button \"%s\" carries unparsable \"%s\"", button->text, button->data);
        char again[I18N_CALLBACK_MAX + 1];
        assert_true(fsm_cb_encode(&cb, again, sizeof again) > 0);
        assert_string_equal(again, button->data);
    }
    char *json = i18n_kb_json(kb);
    assert_non_null(json);
    json_t *parsed = json_loads(json, 0, NULL);
    assert_non_null(parsed);
    assert_int_equal(json_array_size(json_object_get(parsed, "inline_keyboard")), kb->rows);
    json_decref(parsed);
    free(json);
}

//  Builds into kb, then checks it (two statements: the build comes first).
#define S_CHECK_KB(call)                                                                           \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        s_check_kb(&kb, rc_);                                                                      \
    } while (0)

//  Every keyboard with the largest numbers it can carry.
static void test_keyboards_fit(void **state) {
    (void)state;
    const uint32_t seq = UINT32_MAX;
    const int64_t job = INT64_MAX;
    const char *token = "zzzzzzzzzzzz-zzzzzzzzzzz"; //  SESSION_TOKEN_MAX characters
    assert_int_equal(strlen(token), SESSION_TOKEN_MAX);
    fsm_config_t config;
    fsm_config_defaults(&config);
    //  the most models a callback can index, with long titles
    fsm_model_t models[FSM_MODELS_MAX];
    for (size_t i = 0; i < FSM_MODELS_MAX; i++)
        models[i] = (fsm_model_t){"model-id-that-is-quite-long-indeed",
                                  "Очень длинное название модели номер пятнадцать",
                                  "A very long model title number fifteen", 1000000, true};
    static const int64_t counts[] = {1, 3, 5, 10, 10};
    int64_t ids[FSM_HISTORY_LIMIT];
    const char *marks[FSM_HISTORY_LIMIT];
    for (size_t i = 0; i < FSM_HISTORY_LIMIT; i++) {
        ids[i] = INT64_MAX - (int64_t)i;
        marks[i] = fsm_job_mark((job_state_t)(i % JOB_STATE_COUNT_));
    }
    for (size_t l = 0; l < 2; l++) {
        i18n_lang_t lang = s_langs[l];
        i18n_keyboard_t kb;
        S_CHECK_KB(fsm_kb_menu(&kb, lang, seq));
        S_CHECK_KB(fsm_kb_to_menu(&kb, lang, seq));
        S_CHECK_KB(fsm_kb_step_cancel(&kb, lang, seq));
        S_CHECK_KB(fsm_kb_models(&kb, lang, seq, &config));
        fsm_config_t many = config;
        many.models = models;
        many.model_count = FSM_MODELS_MAX;
        many.counts = counts;
        many.count_count = FSM_COUNTS_MAX;
        S_CHECK_KB(fsm_kb_models(&kb, lang, seq, &many));
        assert_int_equal(kb.count, FSM_MODELS_MAX + 1);
        S_CHECK_KB(fsm_kb_templates(&kb, lang, seq));
        S_CHECK_KB(fsm_kb_counts(&kb, lang, seq, &config, 1, false));
        S_CHECK_KB(fsm_kb_counts(&kb, lang, seq, &many, 1000000, true));
        S_CHECK_KB(fsm_kb_confirm(&kb, lang, seq, token));
        S_CHECK_KB(fsm_kb_order_retry(&kb, lang, seq, token));
        S_CHECK_KB(fsm_kb_accepted(&kb, lang));
        S_CHECK_KB(fsm_kb_result(&kb, lang, job));
        S_CHECK_KB(fsm_kb_failure(&kb, lang, job, true));
        S_CHECK_KB(fsm_kb_failure(&kb, lang, job, false));
        S_CHECK_KB(fsm_kb_history(&kb, lang, seq, ids, marks, FSM_HISTORY_LIMIT));
        S_CHECK_KB(fsm_kb_history(&kb, lang, seq, ids, marks, 0));
        S_CHECK_KB(fsm_kb_job(&kb, lang, seq, job, true));
        S_CHECK_KB(fsm_kb_job(&kb, lang, seq, job, false));
        S_CHECK_KB(fsm_kb_account(&kb, lang, seq));
        S_CHECK_KB(fsm_kb_entries(&kb, lang, seq));
        S_CHECK_KB(fsm_kb_support(&kb, lang, seq, "@genbot_support_team_handle_abcd"));
        assert_string_equal(kb.buttons[0].url, "https://t.me/genbot_support_team_handle_abcd");
        S_CHECK_KB(fsm_kb_support(&kb, lang, seq, "not a handle <x>"));
        assert_int_equal(kb.count, 1);
        S_CHECK_KB(fsm_kb_support(&kb, lang, seq, NULL));
        S_CHECK_KB(fsm_kb_lang(&kb, seq));
    }
}

static void test_keyboard_bounds(void **state) {
    (void)state;
    i18n_keyboard_t kb;
    i18n_kb_clear(&kb);
    assert_null(i18n_kb_json(&kb));
    char data[I18N_CALLBACK_MAX + 2];
    memset(data, 'a', sizeof data - 1);
    data[sizeof data - 1] = 0;
    assert_int_equal(i18n_kb_button(&kb, "x", data), -1); //  65 bytes
    data[I18N_CALLBACK_MAX] = 0;
    assert_int_equal(i18n_kb_button(&kb, "x", data), 0); //  64 bytes
    assert_int_equal(i18n_kb_button(&kb, "", "1:0:menu"), -1);
    assert_int_equal(i18n_kb_button(&kb, "x", ""), -1);
    assert_int_equal(i18n_kb_button(&kb, "x", NULL), -1);
    assert_int_equal(i18n_kb_url(&kb, "x", NULL), -1);
    i18n_kb_row(&kb);
    i18n_kb_row(&kb); //  an empty row is not kept
    for (int i = 1; i < I18N_KB_MAX_BUTTONS; i++)
        assert_int_equal(i18n_kb_button(&kb, "y", "1:0:menu"), 0);
    assert_int_equal(i18n_kb_button(&kb, "z", "1:0:menu"), -1);
    //  a long label is cut to whole characters
    i18n_kb_clear(&kb);
    char label[400] = "";
    for (int i = 0; i < 100; i++)
        strcat(label, "ж");
    assert_int_equal(i18n_kb_button(&kb, label, "1:0:menu"), 0);
    assert_true(strlen(kb.buttons[0].text) <= I18N_BUTTON_MAX);
    assert_true(i18n_utf8_valid(kb.buttons[0].text, strlen(kb.buttons[0].text)));
    assert_non_null(strstr(kb.buttons[0].text, "…"));
    i18n_kb_clear(&kb);
    assert_int_equal(i18n_kb_button(&kb, "x", "1:0:menu"), 0);
    i18n_kb_row(&kb);
    i18n_kb_row(&kb);
    for (int i = 1; i < I18N_KB_MAX_BUTTONS; i++)
        assert_int_equal(i18n_kb_button(&kb, "y", "1:0:menu"), 0);
    assert_int_equal(kb.count, I18N_KB_MAX_BUTTONS);
    assert_int_equal(kb.rows, 2);
    char *json = i18n_kb_json(&kb);
    assert_non_null(strstr(json, "\"callback_data\":\"1:0:menu\""));
    free(json);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tables_complete),
        cmocka_unit_test(test_plural),
        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_format_escapes),
        cmocka_unit_test(test_visible_length_and_utf8),
        cmocka_unit_test(test_texts_fit),
        cmocka_unit_test(test_keyboards_fit),
        cmocka_unit_test(test_keyboard_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
