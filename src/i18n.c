/*  i18n.c — language choice, the placeholder formatter, plural forms, HTML
    escaping and keyboards. The texts are in i18n_ru.c and i18n_en.c.
*/
#include "i18n.h"

#include <ctype.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_PLACEHOLDER 9

//  A growing string; s_buf_* abort on out of memory (a returned text is
//  never NULL).
typedef struct {
    char *data;
    size_t len, cap;
} s_buf_t;

static void s_buf_put(s_buf_t *buf, const char *data, size_t len);
static void s_buf_puts(s_buf_t *buf, const char *text);
static void s_buf_escaped(s_buf_t *buf, const char *text);
static char *s_buf_done(s_buf_t *buf);
static const char *const *s_table(i18n_lang_t lang);
static void s_put_arg(s_buf_t *buf, i18n_lang_t lang, const i18n_arg_t *arg);

static const char *const s_id_names[I18N_COUNT_] = {
#define I18N_NAME(id) #id,
    I18N_IDS(I18N_NAME)
#undef I18N_NAME
};

//  Languages that get Russian: Russian itself and the neighbours whose
//  speakers usually read it (Ukrainian, Belarusian, Kazakh).
static const char *const s_russian_codes[] = {"ru", "uk", "be", "kk"};

i18n_lang_t i18n_detect(const char *language_code) {
    if (!language_code) return I18N_EN;
    size_t len = strcspn(language_code, "-_");
    if (len != 2) return I18N_EN;
    char base[3] = {(char)tolower((unsigned char)language_code[0]),
                    (char)tolower((unsigned char)language_code[1]), 0};
    for (size_t i = 0; i < sizeof s_russian_codes / sizeof s_russian_codes[0]; i++)
        if (strcmp(base, s_russian_codes[i]) == 0) return I18N_RU;
    return I18N_EN;
}

const char *i18n_lang_code(i18n_lang_t lang) {
    return lang == I18N_RU ? "ru" : "en";
}

int i18n_lang_parse(const char *code, i18n_lang_t *lang) {
    if (code && strcmp(code, "ru") == 0)
        *lang = I18N_RU;
    else if (code && strcmp(code, "en") == 0)
        *lang = I18N_EN;
    else
        return -1;
    return 0;
}

const char *i18n_id_name(i18n_id_t id) {
    return (int)id >= 0 && id < I18N_COUNT_ ? s_id_names[id] : "?";
}

const char *i18n_text(i18n_lang_t lang, i18n_id_t id) {
    const char *const *table = s_table(lang);
    if (!table || (int)id < 0 || id >= I18N_COUNT_ || !table[id]) return "";
    return table[id];
}

int i18n_plural_form(i18n_lang_t lang, int64_t n) {
    uint64_t v = n < 0 ? (uint64_t)0 - (uint64_t)n : (uint64_t)n;
    if (lang != I18N_RU) return v == 1 ? 0 : 1;
    uint64_t mod10 = v % 10, mod100 = v % 100;
    if (mod10 == 1 && mod100 != 11) return 0;
    if (mod10 >= 2 && mod10 <= 4 && (mod100 < 12 || mod100 > 14)) return 1;
    return 2;
}

const char *i18n_plural(i18n_lang_t lang, i18n_id_t noun, int64_t n, char *buf, size_t size) {
    if (size == 0) return buf;
    buf[0] = 0;
    const char *forms = i18n_text(lang, noun);
    if (!strchr(forms, '|')) return buf;
    int form = i18n_plural_form(lang, n);
    for (int i = 0; i < form && strchr(forms, '|'); i++)
        forms = strchr(forms, '|') + 1;
    size_t len = strcspn(forms, "|");
    if (len >= size) len = size - 1;
    memcpy(buf, forms, len);
    buf[len] = 0;
    return buf;
}

char *i18n_count(i18n_lang_t lang, i18n_id_t noun, int64_t n) {
    s_buf_t buf = {0};
    i18n_arg_t arg = {.type = I18N_ARG_COUNT, .n = n, .noun = noun};
    s_put_arg(&buf, lang, &arg);
    return s_buf_done(&buf);
}

char *i18n_format(i18n_lang_t lang, i18n_id_t id, const i18n_arg_t *args, size_t n) {
    return i18n_format_str(lang, i18n_text(lang, id), args, n);
}

char *i18n_format_str(i18n_lang_t lang, const char *tmpl, const i18n_arg_t *args, size_t n) {
    s_buf_t buf = {0};
    const char *p = tmpl ? tmpl : "";
    while (*p) {
        const char *brace = strchr(p, '{');
        if (!brace) {
            s_buf_puts(&buf, p);
            break;
        }
        s_buf_put(&buf, p, (size_t)(brace - p));
        if (brace[1] >= '1' && brace[1] <= '0' + S_MAX_PLACEHOLDER && brace[2] == '}') {
            size_t index = (size_t)(brace[1] - '1');
            if (index < n) s_put_arg(&buf, lang, &args[index]);
            p = brace + 3;
        } else {
            s_buf_put(&buf, "{", 1);
            p = brace + 1;
        }
    }
    return s_buf_done(&buf);
}

char *i18n_escape(const char *text) {
    s_buf_t buf = {0};
    s_buf_escaped(&buf, text ? text : "");
    return s_buf_done(&buf);
}

size_t i18n_visible_length(const char *html) {
    size_t units = 0;
    const unsigned char *p = (const unsigned char *)html;
    while (p && *p) {
        if (*p == '<') {
            const char *end = strchr((const char *)p, '>');
            if (end) {
                p = (const unsigned char *)end + 1;
                continue;
            }
        } else if (*p == '&') {
            const char *end = strchr((const char *)p, ';');
            if (end && end - (const char *)p <= 10) {
                units++;
                p = (const unsigned char *)end + 1;
                continue;
            }
        }
        if (*p >= 0xF0)
            units += 2; //  outside the BMP: a surrogate pair
        else if ((*p & 0xC0) != 0x80)
            units++;
        p++;
    }
    return units;
}

bool i18n_utf8_valid(const char *text, size_t len) {
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t need;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            cp = c & 0x07;
        } else
            return false;
        if (len - i <= need) return false;
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += need + 1;
    }
    return true;
}

size_t i18n_utf8_chars(const char *text, size_t len) {
    size_t chars = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)text[i] & 0xC0) != 0x80) chars++;
    return chars;
}

size_t i18n_utf8_prefix(const char *text, size_t len, size_t max_chars) {
    size_t chars = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)text[i] & 0xC0) != 0x80 && chars++ == max_chars) return i;
    return len;
}

//  --- keyboards -------------------------------------------------------------

void i18n_kb_clear(i18n_keyboard_t *kb) {
    memset(kb, 0, sizeof *kb);
}

void i18n_kb_row(i18n_keyboard_t *kb) {
    size_t start = kb->rows > 1 ? kb->row_end[kb->rows - 2] : 0;
    if (kb->rows > 0 && kb->row_end[kb->rows - 1] == start)
        return; //  the current row is still empty
    if (kb->rows < I18N_KB_MAX_ROWS) kb->row_end[kb->rows++] = kb->count;
}

static int s_kb_add(i18n_keyboard_t *kb, const char *text, const char *data, const char *url) {
    size_t text_len = text ? strlen(text) : 0;
    if (kb->count >= I18N_KB_MAX_BUTTONS || text_len == 0) return -1;
    bool cut = text_len > I18N_BUTTON_MAX;
    if (cut) { //  whole characters, and room for "…"
        text_len = I18N_BUTTON_MAX - strlen("…");
        while (text_len > 0 && ((unsigned char)text[text_len] & 0xC0) == 0x80)
            text_len--;
    }
    if (data && (!*data || strlen(data) > I18N_CALLBACK_MAX)) return -1;
    if (url && (!*url || strlen(url) > I18N_URL_MAX)) return -1;
    if (kb->rows == 0) i18n_kb_row(kb);
    i18n_button_t *button = &kb->buttons[kb->count++];
    memset(button, 0, sizeof *button);
    memcpy(button->text, text, text_len);
    if (cut) memcpy(button->text + text_len, "…", strlen("…") + 1);
    if (data) strcpy(button->data, data);
    if (url) strcpy(button->url, url);
    kb->row_end[kb->rows - 1] = kb->count;
    return 0;
}

int i18n_kb_button(i18n_keyboard_t *kb, const char *text, const char *data) {
    return data ? s_kb_add(kb, text, data, NULL) : -1;
}

int i18n_kb_url(i18n_keyboard_t *kb, const char *text, const char *url) {
    return url ? s_kb_add(kb, text, NULL, url) : -1;
}

char *i18n_kb_json(const i18n_keyboard_t *kb) {
    if (!kb || kb->count == 0) return NULL;
    json_t *rows = json_array();
    size_t start = 0;
    for (size_t r = 0; r < kb->rows; r++) {
        if (kb->row_end[r] == start) continue;
        json_t *row = json_array();
        for (size_t i = start; i < kb->row_end[r]; i++) {
            const i18n_button_t *button = &kb->buttons[i];
            json_t *obj = json_object();
            json_object_set_new(obj, "text", json_string(button->text));
            if (*button->url)
                json_object_set_new(obj, "url", json_string(button->url));
            else
                json_object_set_new(obj, "callback_data", json_string(button->data));
            json_array_append_new(row, obj);
        }
        json_array_append_new(rows, row);
        start = kb->row_end[r];
    }
    json_t *markup = json_object();
    json_object_set_new(markup, "inline_keyboard", rows);
    char *text = json_dumps(markup, JSON_COMPACT);
    json_decref(markup);
    return text;
}

//  --- private ---------------------------------------------------------------

static const char *const *s_table(i18n_lang_t lang) {
    switch (lang) {
    case I18N_RU:
        return i18n_table_ru;
    case I18N_EN:
        return i18n_table_en;
    default:
        return NULL;
    }
}

static void s_put_arg(s_buf_t *buf, i18n_lang_t lang, const i18n_arg_t *arg) {
    char number[32];
    switch (arg->type) {
    case I18N_ARG_TEXT:
        s_buf_escaped(buf, arg->str ? arg->str : "");
        break;
    case I18N_ARG_HTML:
        s_buf_puts(buf, arg->str ? arg->str : "");
        break;
    case I18N_ARG_INT:
        snprintf(number, sizeof number, "%" PRId64, arg->n);
        s_buf_puts(buf, number);
        break;
    case I18N_ARG_COUNT: {
        char word[64];
        snprintf(number, sizeof number, "%" PRId64 " ", arg->n);
        s_buf_puts(buf, number);
        s_buf_puts(buf, i18n_plural(lang, arg->noun, arg->n, word, sizeof word));
        break;
    }
    }
}

static void s_buf_put(s_buf_t *buf, const char *data, size_t len) {
    if (buf->len + len + 1 > buf->cap) {
        size_t cap = buf->cap ? buf->cap : 64;
        while (cap < buf->len + len + 1)
            cap *= 2;
        char *grown = realloc(buf->data, cap);
        if (!grown) abort();
        buf->data = grown;
        buf->cap = cap;
    }
    memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    buf->data[buf->len] = 0;
}

static void s_buf_puts(s_buf_t *buf, const char *text) {
    s_buf_put(buf, text, strlen(text));
}

static void s_buf_escaped(s_buf_t *buf, const char *text) {
    const char *p = text;
    while (*p) {
        size_t plain = strcspn(p, "&<>\"");
        s_buf_put(buf, p, plain);
        p += plain;
        switch (*p) {
        case '&':
            s_buf_puts(buf, "&amp;");
            break;
        case '<':
            s_buf_puts(buf, "&lt;");
            break;
        case '>':
            s_buf_puts(buf, "&gt;");
            break;
        case '"':
            s_buf_puts(buf, "&quot;");
            break;
        default:
            return;
        }
        p++;
    }
}

static char *s_buf_done(s_buf_t *buf) {
    if (!buf->data) s_buf_put(buf, "", 0);
    return buf->data;
}
