/*  tg_text.c — the text rules of the Telegram module (see tg.h, "Text"):
    HTML escaping, UTF-8 sanitizing, cutting and measuring, and the checks
    that the builders and keyboards apply to texts and identifiers
    (tg_internal.h).

    Strings are measured the way Telegram measures them: UTF-16 code units,
    after HTML parsing for texts sent with parse_mode HTML. Every string
    that reaches jansson has been checked as UTF-8 first, so a refused
    json_string() means out of memory, not bad input.
*/
#include "tg_internal.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_ENTITY_MAX 10             //  bytes of "&...;" recognized as one entity
#define S_ELLIPSIS   "\xe2\x80\xa6" //  U+2026, 1 UTF-16 unit

static size_t s_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp);
static bool s_is_space(uint32_t cp);
static size_t s_entity_len(const char *s, size_t len);
static size_t s_html_scan(const char *html, bool *blank);

// --------------------------------------------------------------------------
//  Text

char *tg_html_escape(const char *text) {
    if (!text) return NULL;
    size_t size = 1;
    for (const char *c = text; *c; c++)
        size += *c == '&' ? 5 : *c == '<' || *c == '>' ? 4 : *c == '"' ? 6 : 1;
    char *escaped = malloc(size);
    if (!escaped) return NULL;
    char *out = escaped;
    for (const char *c = text; *c; c++) {
        const char *entity = *c == '&'   ? "&amp;"
                             : *c == '<' ? "&lt;"
                             : *c == '>' ? "&gt;"
                             : *c == '"' ? "&quot;"
                                         : NULL;
        if (entity) {
            size_t n = strlen(entity);
            memcpy(out, entity, n);
            out += n;
        } else
            *out++ = *c;
    }
    *out = '\0';
    return escaped;
}

char *tg_utf8_sanitize(const char *text, size_t len) {
    if (!text) return NULL;
    if (len > (SIZE_MAX - 1) / 3) return NULL;
    char *clean = malloc(len * 3 + 1);
    if (!clean) return NULL;
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0, out = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = s_utf8_decode(s + i, len - i, &cp);
        if (n == 0 || cp == 0) {
            memcpy(clean + out, TGI_REPLACEMENT, 3);
            out += 3;
            i++;
        } else {
            memcpy(clean + out, s + i, n);
            out += n;
            i += n;
        }
    }
    clean[out] = '\0';
    return clean;
}

char *tg_text_cut(const char *text, size_t max) {
    if (!text) return NULL;
    char *clean = tg_utf8_sanitize(text, strlen(text));
    if (!clean || tg_text_len(clean) <= max) return clean;
    //  Keep whole characters and whole entities within max - 1 units, then
    //  the ellipsis takes the last unit.
    size_t len = strlen(clean);
    size_t budget = max > 0 ? max - 1 : 0;
    size_t used = 0, end = 0;
    while (end < len) {
        size_t token = clean[end] == '&' ? s_entity_len(clean + end, len - end) : 0;
        size_t units = token;
        if (token == 0) {
            uint32_t cp;
            token = s_utf8_decode((const unsigned char *)clean + end, len - end, &cp);
            assert(token > 0); //  sanitized
            units = cp >= 0x10000 ? 2 : 1;
        }
        if (used + units > budget) break;
        used += units;
        end += token;
    }
    while (end > 0 && strchr(" \t\r\n", clean[end - 1]))
        end--;
    char *cut = malloc(end + sizeof(S_ELLIPSIS));
    if (cut) {
        memcpy(cut, clean, end);
        if (max > 0)
            memcpy(cut + end, S_ELLIPSIS, sizeof(S_ELLIPSIS));
        else
            cut[end] = '\0';
    }
    free(clean);
    return cut;
}

size_t tg_text_len(const char *text) {
    if (!text) return 0;
    const unsigned char *s = (const unsigned char *)text;
    size_t len = strlen(text), i = 0, units = 0;
    while (i < len) {
        uint32_t cp = 0;
        size_t n = s_utf8_decode(s + i, len - i, &cp);
        units += n > 0 && cp >= 0x10000 ? 2 : 1;
        i += n > 0 ? n : 1;
    }
    return units;
}

size_t tg_html_len(const char *html) {
    bool blank;
    return html ? s_html_scan(html, &blank) : 0;
}

// --------------------------------------------------------------------------
//  Private helpers: text

void tgi_err(char *err, const char *fmt, ...) {
    if (!err) return;
    va_list args;
    va_start(args, fmt);
    vsnprintf(err, TG_ERR_MAX, fmt, args);
    va_end(args);
}

//  Length of the valid UTF-8 sequence starting s[0] (len > 0 bytes
//  available), with its code point in *cp; 0 when it is not one.
static size_t s_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp) {
    unsigned char c = s[0];
    size_t n;
    uint32_t value, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2, value = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3, value = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4, value = c & 0x07, min = 0x10000;
    } else
        return 0;
    if (len < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        value = (value << 6) | (s[i] & 0x3F);
    }
    if (value < min || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) return 0;
    *cp = value;
    return n;
}

bool tgi_utf8_valid(const char *text, size_t len) {
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = s_utf8_decode(s + i, len - i, &cp);
        if (n == 0 || cp == 0) return false;
        i += n;
    }
    return true;
}

//  Characters that make a text "empty" when it holds nothing else.
static bool s_is_space(uint32_t cp) {
    return cp == ' ' || (cp >= '\t' && cp <= '\r') || cp == 0xA0 || cp == 0x115F || cp == 0x1160 ||
           cp == 0x180E || (cp >= 0x2000 && cp <= 0x200F) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202F || cp == 0x205F || cp == 0x3000 || cp == 0x3164 || cp == 0xFEFF;
}

//  Length of the HTML entity at s ("&amp;", "&#128512;", "&#x1F600;"), 0
//  when s does not start one.
static size_t s_entity_len(const char *s, size_t len) {
    if (len < 3 || s[0] != '&') return 0;
    size_t i = 1;
    const char *digits = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    if (s[1] == '#') {
        i = 2;
        digits = "0123456789";
        if (i < len && (s[i] == 'x' || s[i] == 'X')) {
            i++;
            digits = "0123456789abcdefABCDEF";
        }
    }
    size_t start = i;
    while (i < len && i < S_ENTITY_MAX && s[i] && strchr(digits, s[i]))
        i++;
    return i > start && i < len && s[i] == ';' ? i + 1 : 0;
}

//  Telegram's length of an HTML text (tags 0, entity 1); *blank when it
//  shows nothing but spaces.
static size_t s_html_scan(const char *html, bool *blank) {
    const unsigned char *s = (const unsigned char *)html;
    size_t len = strlen(html), i = 0, units = 0;
    *blank = true;
    while (i < len) {
        if (s[i] == '<') {
            const char *close = memchr(html + i, '>', len - i);
            if (close) {
                i = (size_t)(close - html) + 1;
                continue;
            }
        }
        size_t entity = s[i] == '&' ? s_entity_len(html + i, len - i) : 0;
        if (entity) {
            units++;
            *blank = false;
            i += entity;
            continue;
        }
        uint32_t cp = 0xFFFD;
        size_t n = s_utf8_decode(s + i, len - i, &cp);
        units += cp >= 0x10000 ? 2 : 1;
        if (!s_is_space(cp)) *blank = false;
        i += n > 0 ? n : 1;
    }
    return units;
}

int tgi_check_html(const char *html, size_t max, bool optional, const char *field, char *err) {
    if (!html || !*html) {
        if (optional) return 0;
        tgi_err(err, "%s: empty", field);
        return -1;
    }
    size_t len = strlen(html);
    if (len > TG_HTML_BYTES_MAX) {
        tgi_err(err, "%s: %zu bytes is over %d", field, len, TG_HTML_BYTES_MAX);
        return -1;
    }
    if (!tgi_utf8_valid(html, len)) {
        tgi_err(err, "%s: not valid UTF-8", field);
        return -1;
    }
    bool blank;
    size_t units = s_html_scan(html, &blank);
    if (blank) {
        tgi_err(err, "%s: empty after trimming", field);
        return -1;
    }
    if (units > max) {
        tgi_err(err, "%s: %zu characters is over %zu", field, units, max);
        return -1;
    }
    return 0;
}

//  A plain (not HTML) text: present, valid UTF-8, not blank, <= max units.
int tgi_check_plain(const char *text, size_t max, const char *field, char *err) {
    if (!text || tgi_blank(text)) {
        tgi_err(err, "%s: empty", field);
        return -1;
    }
    size_t len = strlen(text);
    if (len > TG_HTML_BYTES_MAX || !tgi_utf8_valid(text, len)) {
        tgi_err(err, "%s: not valid UTF-8 or too long", field);
        return -1;
    }
    size_t units = tg_text_len(text);
    if (units > max) {
        tgi_err(err, "%s: %zu characters is over %zu", field, units, max);
        return -1;
    }
    return 0;
}

//  An opaque identifier or URL: 1..max bytes of UTF-8, no spaces or
//  control characters.
int tgi_check_id(const char *id, size_t max, const char *field, char *err) {
    size_t len = id ? strlen(id) : 0;
    if (len == 0 || len > max) {
        tgi_err(err, "%s: must be 1..%zu bytes", field, max);
        return -1;
    }
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)id[i] <= ' ' || id[i] == 0x7F) {
            tgi_err(err, "%s: holds a space or control character", field);
            return -1;
        }
    if (!tgi_utf8_valid(id, len)) {
        tgi_err(err, "%s: not valid UTF-8", field);
        return -1;
    }
    return 0;
}

bool tgi_blank(const char *text) {
    const unsigned char *s = (const unsigned char *)text;
    size_t len = strlen(text), i = 0;
    while (i < len) {
        uint32_t cp = 0xFFFD;
        size_t n = s_utf8_decode(s + i, len - i, &cp);
        if (!s_is_space(cp)) return false;
        i += n > 0 ? n : 1;
    }
    return true;
}

//  Copies src into dst (size bytes) cut at a UTF-8 character boundary.
void tgi_copy_cut(char *dst, size_t size, const char *src) {
    size_t len = strlen(src);
    if (len >= size) {
        len = size - 1;
        while (len > 0 && ((unsigned char)src[len] & 0xC0) == 0x80)
            len--;
    }
    memcpy(dst, src, len);
    dst[len] = '\0';
}
