/*  tgsim_text.c — what the server checks in text: UTF-8, HTML entities
    (after TDLib's parse_html, with its error wording), lengths in UTF-16
    units; inline keyboards; and the dimensions of a JPEG.

    The HTML check is a tag-balance check, not a full parser: supported tag
    names, attributes skipped (href kept for the signature), the four named
    entities and numeric ones decoded, anything else passed through.
*/
#include "tgsim_internal.h"

#include <assert.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_TAG_MAX   16
#define S_DEPTH_MAX 32
#define S_HREF_MAX  256

static const char *const s_tags[] = {"a",    "b",          "strong",   "i",          "em",   "u",
                                     "ins",  "s",          "strike",   "del",        "code", "pre",
                                     "span", "tg-spoiler", "tg-emoji", "blockquote", NULL};

static bool s_utf8_valid(const unsigned char *s);
static size_t s_utf16_units(const char *s);
static size_t s_put_utf8(char *out, unsigned long cp);
static size_t s_entity(const char *s, char *out);
static void s_error(char *error, size_t size, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

//  --------------------------------------------------------------------------

//  Writes the visible text (*plain), a signature of its entities
//  (*entities: tags and their positions) and its length in UTF-16 units.
//  Returns 0, or -1 with the description after "Bad Request: " in error.
int tgs_parse_text(const char *text, bool html, char **plain_p, char **entities_p, size_t *units_p,
                   char *error, size_t error_size) {
    if (!s_utf8_valid((const unsigned char *)text)) {
        s_error(error, error_size, "text must be encoded in UTF-8");
        return -1;
    }
    size_t length = strlen(text);
    char *plain = malloc(length + 1);
    assert(plain);
    size_t used = 0;
    char *sig = NULL;
    size_t sig_size = 0;
    FILE *sig_stream = open_memstream(&sig, &sig_size);
    assert(sig_stream);
    char stack[S_DEPTH_MAX][S_TAG_MAX + 1];
    size_t depth = 0;
    int rc = 0;
    size_t i = 0;
    while (html && rc == 0 && text[i]) {
        if (text[i] == '&') {
            char decoded[8];
            size_t consumed = s_entity(text + i, decoded);
            if (consumed) {
                size_t n = strlen(decoded);
                memcpy(plain + used, decoded, n);
                used += n;
                i += consumed;
                continue;
            }
            plain[used++] = text[i++];
            continue;
        }
        if (text[i] != '<') {
            plain[used++] = text[i++];
            continue;
        }
        size_t begin = i++;
        bool closing = text[i] == '/';
        if (closing) i++;
        char name[S_TAG_MAX + 1];
        size_t name_length = 0;
        while (text[i] && !isspace((unsigned char)text[i]) && text[i] != '>') {
            if (name_length < S_TAG_MAX) name[name_length] = (char)tolower((unsigned char)text[i]);
            name_length++;
            i++;
        }
        name[name_length < S_TAG_MAX ? name_length : S_TAG_MAX] = '\0';
        if (closing) {
            while (isspace((unsigned char)text[i]))
                i++;
            if (text[i] != '>') {
                s_error(error, error_size,
                        "can't parse entities: Unclosed end tag at byte offset %zu", begin);
                rc = -1;
            } else if (depth == 0) {
                s_error(error, error_size,
                        "can't parse entities: Unexpected end tag at byte offset %zu", begin);
                rc = -1;
            } else if (strcmp(stack[depth - 1], name) != 0) {
                s_error(error, error_size,
                        "can't parse entities: Unmatched end tag at byte offset %zu, expected "
                        "\"</%s>\", found \"</%s>\"",
                        begin, stack[depth - 1], name);
                rc = -1;
            } else {
                depth--;
                fprintf(sig_stream, "/%s@%zu;", name, used);
                i++;
            }
            continue;
        }
        bool known = false;
        for (size_t t = 0; s_tags[t] && name_length <= S_TAG_MAX; t++)
            known = known || streq(s_tags[t], name);
        if (!known) {
            s_error(error, error_size,
                    "can't parse entities: Unsupported start tag \"%s\" at byte offset %zu", name,
                    begin);
            rc = -1;
            continue;
        }
        //  attributes: name[=value], value quoted or not; only href is kept
        char href[S_HREF_MAX + 1] = "";
        while (rc == 0) {
            while (isspace((unsigned char)text[i]))
                i++;
            if (text[i] == '>' || !text[i]) break;
            size_t attr = i;
            while (text[i] && text[i] != '=' && text[i] != '>' && !isspace((unsigned char)text[i]))
                i++;
            bool is_href = i - attr == 4 && strncasecmp(text + attr, "href", 4) == 0;
            if (text[i] != '=') continue;
            i++;
            size_t value = i, value_end;
            if (text[i] == '"' || text[i] == '\'') {
                const char *close = strchr(text + i + 1, text[i]);
                if (!close) break;
                value = i + 1;
                value_end = (size_t)(close - text);
                i = value_end + 1;
            } else {
                while (text[i] && text[i] != '>' && !isspace((unsigned char)text[i]))
                    i++;
                value_end = i;
            }
            if (is_href) {
                size_t n = value_end - value < S_HREF_MAX ? value_end - value : S_HREF_MAX;
                memcpy(href, text + value, n);
                href[n] = '\0';
            }
        }
        if (text[i] != '>') {
            s_error(error, error_size,
                    "can't parse entities: Unclosed start tag at byte offset %zu", begin);
            rc = -1;
            continue;
        }
        i++;
        if (depth == S_DEPTH_MAX) {
            s_error(error, error_size, "can't parse entities: too many nested entities");
            rc = -1;
            continue;
        }
        strcpy(stack[depth++], name);
        fprintf(sig_stream, "%s%s%s@%zu;", name, *href ? "=" : "", href, used);
    }
    if (rc == 0 && depth > 0) {
        s_error(error, error_size,
                "can't parse entities: Can't find end tag corresponding to start tag %s",
                stack[depth - 1]);
        rc = -1;
    }
    fclose(sig_stream);
    if (!html) {
        memcpy(plain, text, length);
        used = length;
    }
    plain[used] = '\0';
    if (rc != 0) {
        free(plain);
        free(sig);
        return -1;
    }
    *plain_p = plain;
    *entities_p = sig;
    *units_p = s_utf16_units(plain);
    return 0;
}

//  Parses a reply_markup object: the inline keyboard into buttons (NULL
//  when there is none: reply keyboards and removals are accepted as is).
//  Returns 0, or -1 with the description after "Bad Request: ".
int tgs_parse_markup(json_t *markup, tgsim_button_t **buttons_p, size_t *count_p, char *error,
                     size_t error_size) {
    *buttons_p = NULL;
    *count_p = 0;
    if (!json_is_object(markup)) {
        s_error(error, error_size, "can't parse reply keyboard markup JSON object");
        return -1;
    }
    json_t *rows = json_object_get(markup, "inline_keyboard");
    if (!rows) {
        if (json_object_get(markup, "keyboard") || json_object_get(markup, "remove_keyboard") ||
            json_object_get(markup, "force_reply"))
            return 0;
        s_error(error, error_size, "can't parse reply keyboard markup JSON object");
        return -1;
    }
    if (!json_is_array(rows)) {
        s_error(error, error_size,
                "can't parse reply keyboard markup JSON object: Field \"inline_keyboard\" must be "
                "of type Array");
        return -1;
    }
    size_t total = 0;
    size_t r;
    json_t *row;
    json_array_foreach(rows, r, row) {
        if (!json_is_array(row)) {
            s_error(error, error_size,
                    "can't parse reply keyboard markup JSON object: Field \"inline_keyboard\" must "
                    "be an Array of Arrays");
            return -1;
        }
        total += json_array_size(row);
    }
    tgsim_button_t *buttons = total ? calloc(total, sizeof *buttons) : NULL;
    size_t count = 0;
    json_array_foreach(rows, r, row) {
        size_t c;
        json_t *button;
        json_array_foreach(row, c, button) {
            const char *text = json_string_value(json_object_get(button, "text"));
            if (!json_is_object(button) || !text) {
                s_error(
                    error, error_size,
                    "can't parse inline keyboard button: Field \"text\" must be of type String");
                goto fail;
            }
            json_t *data = json_object_get(button, "callback_data");
            json_t *url = json_object_get(button, "url");
            bool pay = json_is_true(json_object_get(button, "pay"));
            static const char *const others[] = {"web_app",
                                                 "login_url",
                                                 "switch_inline_query",
                                                 "switch_inline_query_current_chat",
                                                 "switch_inline_query_chosen_chat",
                                                 "copy_text",
                                                 "callback_game",
                                                 NULL};
            bool other = false;
            for (size_t o = 0; others[o]; o++)
                other = other || json_object_get(button, others[o]);
            if (!data && !url && !pay && !other) {
                s_error(error, error_size,
                        "can't parse inline keyboard button: Text buttons are unallowed in the "
                        "inline keyboard");
                goto fail;
            }
            if (data) {
                const char *value = json_string_value(data);
                if (!value || !*value || strlen(value) > TGSIM_CALLBACK_DATA_MAX) {
                    s_error(error, error_size, "BUTTON_DATA_INVALID");
                    goto fail;
                }
            }
            if (url) {
                const char *value = json_string_value(url);
                if (!value ||
                    (strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0 &&
                     strncmp(value, "tg://", 5) != 0)) {
                    s_error(error, error_size, "BUTTON_URL_INVALID");
                    goto fail;
                }
            }
            tgsim_button_t *b = &buttons[count++];
            b->row = (int)r;
            b->col = (int)c;
            b->text = tgs_strdup(text);
            b->callback_data = tgs_strdup(json_string_value(data));
            b->url = tgs_strdup(json_string_value(url));
            b->pay = pay;
        }
    }
    *buttons_p = buttons;
    *count_p = count;
    return 0;
fail:
    tgs_buttons_free(buttons, count);
    return -1;
}

//  Width and height from the first SOFn marker.
bool tgs_jpeg_size(const unsigned char *data, size_t size, int *width, int *height) {
    if (size < 4 || data[0] != 0xFF || data[1] != 0xD8) return false;
    size_t i = 2;
    while (i + 4 <= size) {
        if (data[i] != 0xFF) return false;
        unsigned char marker = data[i + 1];
        if (marker == 0xFF) {
            i++;
            continue;
        }
        size_t length = (size_t)data[i + 2] << 8 | data[i + 3];
        bool sof =
            marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
        if (sof && i + 9 <= size) {
            *height = data[i + 5] << 8 | data[i + 6];
            *width = data[i + 7] << 8 | data[i + 8];
            return *width > 0 && *height > 0;
        }
        if (marker == 0xDA || length < 2) return false;
        i += 2 + length;
    }
    return false;
}

//  --------------------------------------------------------------------------

static bool s_utf8_valid(const unsigned char *s) {
    while (*s) {
        unsigned char c = *s;
        size_t n = c < 0x80             ? 0
                   : (c & 0xE0) == 0xC0 ? 1
                   : (c & 0xF0) == 0xE0 ? 2
                   : (c & 0xF8) == 0xF0 ? 3
                                        : 4;
        if (n == 4 || c == 0xC0 || c == 0xC1 || c > 0xF4) return false;
        unsigned long cp = n == 0 ? c : n == 1 ? c & 0x1F : n == 2 ? c & 0x0F : c & 0x07;
        for (size_t k = 1; k <= n; k++) {
            if ((s[k] & 0xC0) != 0x80) return false;
            cp = cp << 6 | (s[k] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        s += n + 1;
    }
    return true;
}

static size_t s_utf16_units(const char *s) {
    size_t units = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p & 0xC0) == 0x80) continue;
        units += (*p & 0xF8) == 0xF0 ? 2 : 1;
    }
    return units;
}

static size_t s_put_utf8(char *out, unsigned long cp) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

//  Decodes the entity at s ("&lt;", "&#60;", "&#x3c;") into out (NUL
//  terminated); returns the bytes consumed, 0 when it is not one.
static size_t s_entity(const char *s, char *out) {
    static const struct {
        const char *name;
        const char *text;
    } named[] = {{"&lt;", "<"}, {"&gt;", ">"}, {"&amp;", "&"}, {"&quot;", "\""}};
    for (size_t k = 0; k < sizeof named / sizeof named[0]; k++)
        if (strncmp(s, named[k].name, strlen(named[k].name)) == 0) {
            strcpy(out, named[k].text);
            return strlen(named[k].name);
        }
    if (s[1] != '#') return 0;
    bool hex = s[2] == 'x' || s[2] == 'X';
    const char *digits = s + (hex ? 3 : 2);
    char *end = NULL;
    unsigned long cp = strtoul(digits, &end, hex ? 16 : 10);
    if (end == digits || *end != ';' || end - digits > 8 || cp == 0 || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF) || !isxdigit((unsigned char)*digits))
        return 0;
    out[s_put_utf8(out, cp)] = '\0';
    return (size_t)(end - s) + 1;
}

static void s_error(char *error, size_t size, const char *format, ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(error, size, format, args);
    va_end(args);
}
