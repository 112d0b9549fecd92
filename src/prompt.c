/*  prompt.c — job prompts from templates and the user's text (prompt.h).

    The templates are English because the video model follows English
    instructions best; the user's own words go in as quoted data in their
    language, and the spoken language follows the user's.
*/
#include "prompt.h"

#include <assert.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

//  What every template says about the product itself: the photo is the
//  truth, the model must not redraw the label.
#define S_KEEP_PRODUCT                                                                             \
    "Keep the product exactly as in the image: the same shape, colors, materials, label and "      \
    "logo; do not change, add or distort any text on it. No subtitles, no captions, no "           \
    "watermarks."

static const char *const s_template_names[] = {"ugc", "ad", "own"};

static const char *const s_templates[] = {
    [PROMPT_TPL_UGC] =
        "Vertical 9:16 smartphone video, about 10 seconds, authentic UGC style. A friendly "
        "content creator films a handheld review of the product from the reference image at "
        "home in soft natural daylight: close-ups of the product in hand, turning it to show "
        "its details, a quick demonstration of how it is used, genuine and enthusiastic, like "
        "a TikTok or Instagram Reels review. Slight natural handheld camera shake, one "
        "continuous setting. " S_KEEP_PRODUCT,
    [PROMPT_TPL_AD] =
        "Vertical 9:16 video, about 10 seconds, a polished premium commercial for the product "
        "from the reference image. Studio-quality lighting, smooth cinematic camera moves "
        "(slow push-in, orbit, parallax), shallow depth of field, a clean elegant setting "
        "that suits the product, dynamic hero shots and a final beauty shot with the product "
        "centered. " S_KEEP_PRODUCT,
};

static const char *const s_speech[] = {
    [PROMPT_TPL_UGC] = "The creator speaks %s.",
    [PROMPT_TPL_AD] = "Any voice-over is in %s.",
};

typedef struct {
    char *data;
    size_t len, size;
} s_buf_t;

static void s_put(s_buf_t *buf, const char *text, size_t len);
static void s_putf(s_buf_t *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_put_quoted(s_buf_t *buf, const char *text);
static int32_t s_decode(const unsigned char *text, size_t len, size_t *used);
static size_t s_encode(int32_t cp, char *out);
static size_t s_chars(const char *text);
static char *s_fail(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

int prompt_template_parse(const char *name, prompt_template_t *tpl) {
    for (size_t i = 0; name && i < sizeof s_template_names / sizeof s_template_names[0]; i++)
        if (strcmp(name, s_template_names[i]) == 0) {
            *tpl = (prompt_template_t)i;
            return 0;
        }
    return -1;
}

const char *prompt_template_name(prompt_template_t tpl) {
    return (int)tpl >= 0 && tpl <= PROMPT_TPL_OWN ? s_template_names[tpl] : "?";
}

char *prompt_clean(const char *text, size_t len, size_t max_chars, bool keep_lines) {
    if (!text) len = 0;
    char *out = (char *)malloc(len + 1);
    if (!out) return NULL;
    const unsigned char *in = (const unsigned char *)(text ? text : "");
    size_t at = 0, chars = 0;
    int spaces = 0, breaks = 0; //  whitespace seen since the last character kept
    bool after_cr = false;
    for (size_t i = 0; i < len;) {
        size_t used;
        int32_t cp = s_decode(in + i, len - i, &used);
        i += used;
        bool cr = cp == '\r';
        if (cp == '\n' && after_cr) {
            after_cr = false;
            continue; //  \r\n is one line break
        }
        after_cr = cr;
        if (cp == '\n' || cp == '\r' || cp == 0x2028 || cp == 0x2029) {
            breaks++;
            continue;
        }
        if (cp == ' ' || cp == '\t') {
            spaces++;
            continue;
        }
        if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0x200b && cp <= 0x200f) ||
            (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2060 && cp <= 0x2069) || cp == 0xfeff)
            continue; //  controls, invisible and bidi formatting; -1 (a bad byte) too
        char bytes[4];
        size_t n = s_encode(cp, bytes);
        //  the gap before it: nothing at the start, else line breaks (when
        //  kept, at most two) or one space
        size_t gap = 0;
        char gap_text[2];
        if (chars > 0 && keep_lines && breaks > 0) {
            gap = breaks > 1 ? 2 : 1;
            gap_text[0] = gap_text[1] = '\n';
        } else if (chars > 0 && (spaces > 0 || breaks > 0)) {
            gap = 1;
            gap_text[0] = ' ';
        }
        if (chars + gap + 1 > max_chars) break;
        memcpy(out + at, gap_text, gap);
        at += gap;
        memcpy(out + at, bytes, n);
        at += n;
        chars += gap + 1;
        spaces = breaks = 0;
    }
    out[at] = '\0';
    return out;
}

bool prompt_no_wishes(const char *wishes) {
    if (!wishes) return true;
    char *clean = prompt_clean(wishes, strlen(wishes), 16, false);
    if (!clean) return false;
    static const char *const none[] = {"", "-", "–", "—", ".", "нет", "Нет", "НЕТ", "no", "none"};
    bool empty = false;
    for (size_t i = 0; !empty && i < sizeof none / sizeof none[0]; i++)
        empty = strcasecmp(clean, none[i]) == 0;
    free(clean);
    return empty;
}

char *prompt_build(prompt_template_t tpl, const char *product, const char *wishes, const char *own,
                   const char *lang, size_t max_chars, char *err) {
    char scratch[PROMPT_ERR_MAX];
    if (!err) err = scratch;
    err[0] = '\0';
    if ((int)tpl < 0 || tpl > PROMPT_TPL_OWN) return s_fail(err, "unknown template");
    size_t cap = max_chars ? max_chars : SIZE_MAX;
    if (tpl == PROMPT_TPL_OWN) {
        char *text = own ? prompt_clean(own, strlen(own), PROMPT_OWN_MAX, true) : NULL;
        if (!text || !*text) {
            free(text);
            return s_fail(err, "own prompt: missing or empty");
        }
        if (s_chars(text) > cap) {
            free(text);
            return s_fail(err, "own prompt: longer than %zu characters", cap);
        }
        return text;
    }
    char *item = product ? prompt_clean(product, strlen(product), PROMPT_PRODUCT_MAX, false) : NULL;
    if (!item || !*item) {
        free(item);
        return s_fail(err, "product: missing or empty");
    }
    s_buf_t buf = {0};
    s_put(&buf, s_templates[tpl], strlen(s_templates[tpl]));
    s_put(&buf, " Product: ", 10);
    s_put_quoted(&buf, item);
    s_put(&buf, ". ", 2);
    free(item);
    bool russian = lang && strcmp(lang, "ru") == 0;
    s_putf(&buf, s_speech[tpl], russian ? "Russian" : "English");
    if (!prompt_no_wishes(wishes)) {
        char *extra = prompt_clean(wishes, strlen(wishes), PROMPT_WISHES_MAX, false);
        if (extra && *extra) {
            s_put(&buf, " Additional wishes: ", 20);
            s_put_quoted(&buf, extra);
            s_put(&buf, ".", 1);
        }
        free(extra);
    }
    if (!buf.data) return s_fail(err, "out of memory");
    if (s_chars(buf.data) > cap) {
        free(buf.data);
        return s_fail(err, "prompt: longer than %zu characters", cap);
    }
    return buf.data;
}

char *prompt_from_params(const char *params_json, size_t max_chars, char *err) {
    char scratch[PROMPT_ERR_MAX];
    if (!err) err = scratch;
    err[0] = '\0';
    json_error_t error;
    json_t *root = params_json ? json_loads(params_json, 0, &error) : NULL;
    if (!json_is_object(root)) {
        json_decref(root);
        return s_fail(err, "params: not a JSON object");
    }
    static const char *const fields[] = {"template", "product", "wishes", "prompt", "lang"};
    const char *values[5] = {NULL};
    for (size_t i = 0; i < 5; i++) {
        json_t *value = json_object_get(root, fields[i]);
        if (value && !json_is_string(value) && !json_is_null(value)) {
            json_decref(root);
            return s_fail(err, "params.%s: not a string", fields[i]);
        }
        values[i] = json_string_value(value);
    }
    prompt_template_t tpl = PROMPT_TPL_OWN;
    char *prompt = NULL;
    if (!values[0] && !values[3])
        s_fail(err, "params: no template and no prompt");
    else if (values[0] && prompt_template_parse(values[0], &tpl) != 0)
        s_fail(err, "params.template: unknown");
    else
        prompt = prompt_build(tpl, values[1], values[2], values[3], values[4], max_chars, err);
    json_decref(root);
    return prompt;
}

//  --- helpers ---------------------------------------------------------------

static void s_put(s_buf_t *buf, const char *text, size_t len) {
    if (buf->len + len + 1 > buf->size) {
        size_t size = (buf->len + len + 1) * 2;
        char *data = (char *)realloc(buf->data, size);
        assert(data);
        buf->data = data;
        buf->size = size;
    }
    memcpy(buf->data + buf->len, text, len);
    buf->len += len;
    buf->data[buf->len] = '\0';
}

static void s_putf(s_buf_t *buf, const char *fmt, ...) {
    char line[256];
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(line, sizeof line, fmt, args);
    va_end(args);
    if (n > 0) s_put(buf, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

//  "text" with its double quotes turned into single ones.
static void s_put_quoted(s_buf_t *buf, const char *text) {
    s_put(buf, "\"", 1);
    for (const char *c = text; *c; c++)
        s_put(buf, *c == '"' ? "'" : c, 1);
    s_put(buf, "\"", 1);
}

//  One code point from text (len > 0 bytes), *used bytes; -1 for a byte
//  that does not start a valid, shortest-form sequence (it is skipped).
static int32_t s_decode(const unsigned char *text, size_t len, size_t *used) {
    *used = 1;
    unsigned char c = text[0];
    if (c < 0x80) return c;
    size_t n;
    int32_t cp, min;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, cp = c & 0x1f, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, cp = c & 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, cp = c & 0x07, min = 0x10000;
    else
        return -1;
    if (len < n) return -1;
    for (size_t i = 1; i < n; i++) {
        if ((text[i] & 0xc0) != 0x80) return -1;
        cp = (cp << 6) | (text[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return -1;
    *used = n;
    return cp;
}

static size_t s_encode(int32_t cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

//  Code points of valid UTF-8.
static size_t s_chars(const char *text) {
    size_t n = 0;
    for (const unsigned char *c = (const unsigned char *)text; *c; c++)
        n += (*c & 0xc0) != 0x80;
    return n;
}

static char *s_fail(char *err, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    vsnprintf(err, PROMPT_ERR_MAX, fmt, args);
    va_end(args);
    return NULL;
}
