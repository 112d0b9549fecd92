/*  tg.c — the Telegram Bot API as data (see tg.h).

    Four tables hold what the code decides: s_media (method, field and
    upload limit per media kind), s_status_table (error code + description
    fragment -> status class, first match wins), s_other_types (message
    fields that make an OTHER_MESSAGE) and s_content_types (file extension
    -> MIME type of an upload).

    Strings are measured the way Telegram measures them: UTF-16 code units,
    after HTML parsing for texts sent with parse_mode HTML. Every string
    that reaches jansson has been checked as UTF-8 first, so a refused
    json_string() means out of memory, not bad input.

    Parsing trusts nothing: each field is looked up with its expected type;
    a wrong type or a missing required field makes that update malformed
    (counted, its update_id kept when readable), never the whole batch.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE //  asprintf
#endif
#include "tg.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_ENTITY_MAX     10 //  bytes of "&...;" recognized as one entity
#define S_UPDATE_STRINGS 24 //  strings one update may own
#define S_METHOD_MAX     64
#define S_TOKEN_MAX      256
#define S_PATH_MAX       1024
#define S_FILENAME_MAX   255
#define S_ELLIPSIS       "\xe2\x80\xa6" //  U+2026, 1 UTF-16 unit
#define S_REPLACEMENT    "\xef\xbf\xbd" //  U+FFFD

static const char s_empty[] = "";

//  The updates genbot asks for, in getUpdates and setWebhook alike.
static const char *const s_allowed_updates[] = {"message", "callback_query", "pre_checkout_query",
                                                "my_chat_member"};

static const struct {
    const char *method;
    const char *field;
    size_t upload_max;
} s_media[] = {
    [TG_MEDIA_PHOTO] = {"sendPhoto", "photo", TG_PHOTO_UPLOAD_MAX},
    [TG_MEDIA_VIDEO] = {"sendVideo", "video", TG_FILE_UPLOAD_MAX},
    [TG_MEDIA_DOCUMENT] = {"sendDocument", "document", TG_FILE_UPLOAD_MAX},
};

static const char *const s_chat_actions[] = {
    [TG_ACTION_TYPING] = "typing",
    [TG_ACTION_UPLOAD_PHOTO] = "upload_photo",
    [TG_ACTION_UPLOAD_VIDEO] = "upload_video",
    [TG_ACTION_UPLOAD_DOCUMENT] = "upload_document",
};

static const struct {
    const char *extension;
    const char *content_type;
} s_content_types[] = {
    {"jpg", "image/jpeg"},        {"jpeg", "image/jpeg"}, {"png", "image/png"},
    {"webp", "image/webp"},       {"gif", "image/gif"},   {"mp4", "video/mp4"},
    {"mov", "video/quicktime"},   {"webm", "video/webm"}, {"pdf", "application/pdf"},
    {"zip", "application/zip"},   {"txt", "text/plain"},  {"csv", "text/csv"},
    {"json", "application/json"},
};

//  Error classes. Rows are tried in order; the first whose code range
//  contains the error code, whose fragment (case-insensitive) is in the
//  description, and whose migrate condition holds, wins. A fragment decides
//  only within its code: "message is not modified" under a 403 is still a
//  403.
static const struct {
    int code_min, code_max;
    const char *fragment; //  NULL: any description
    bool needs_migrate;   //  parameters.migrate_to_chat_id present
    tg_status_t status;
} s_status_table[] = {
    {429, 429, NULL, false, TG_E_RETRY_AFTER},
    {400, 400, NULL, true, TG_E_MIGRATED},
    {400, 400, "message is not modified", false, TG_E_NOT_MODIFIED},
    {400, 400, "query is too old", false, TG_E_QUERY_TOO_OLD},
    {400, 400, "query id is invalid", false, TG_E_QUERY_TOO_OLD},
    {400, 400, "query_id_invalid", false, TG_E_QUERY_TOO_OLD},
    {400, 400, NULL, false, TG_E_BAD_REQUEST},
    {401, 401, NULL, false, TG_E_UNAUTHORIZED},
    {403, 403, NULL, false, TG_E_FORBIDDEN},
    {409, 409, NULL, false, TG_E_CONFLICT},
    {500, 599, NULL, false, TG_E_SERVER},
};

static const char *const s_status_names[] = {
    [TG_OK] = "ok",
    [TG_E_RETRY_AFTER] = "retry_after",
    [TG_E_FORBIDDEN] = "forbidden",
    [TG_E_NOT_MODIFIED] = "not_modified",
    [TG_E_QUERY_TOO_OLD] = "query_too_old",
    [TG_E_MIGRATED] = "migrated",
    [TG_E_BAD_REQUEST] = "bad_request",
    [TG_E_UNAUTHORIZED] = "unauthorized",
    [TG_E_CONFLICT] = "conflict",
    [TG_E_SERVER] = "server",
    [TG_E_OTHER] = "other",
    [TG_E_MALFORMED] = "malformed",
};

static const char *const s_kind_names[] = {
    [TG_UPDATE_TEXT] = "text",
    [TG_UPDATE_PHOTO] = "photo",
    [TG_UPDATE_DOCUMENT] = "document",
    [TG_UPDATE_CALLBACK] = "callback",
    [TG_UPDATE_PRE_CHECKOUT] = "pre_checkout",
    [TG_UPDATE_PAYMENT] = "payment",
    [TG_UPDATE_CHAT_MEMBER] = "chat_member",
    [TG_UPDATE_OTHER_MESSAGE] = "other_message",
    [TG_UPDATE_SKIPPED] = "skipped",
};

//  Message fields a user sends that the bot answers with a hint. Any other
//  message (a service message: pinned, new members, refunded_payment...)
//  is SKIPPED.
static const char *const s_other_types[] = {
    "sticker", "voice",   "video", "video_note", "audio", "animation", "location",
    "venue",   "contact", "poll",  "dice",       "game",  "story",     "paid_media",
};

//  Documents the FSM may take as the product photo.
static const char *const s_image_types[] = {"image/jpeg", "image/png", "image/webp"};

// --------------------------------------------------------------------------
//  Private types

struct tg_keyboard_s {
    json_t *rows; //  complete rows, each a non-empty array
    json_t *row;  //  the current row, possibly empty
    size_t size;
};

struct tg_request_s {
    char method[S_METHOD_MAX + 1];
    json_t *params;
    bool failed; //  an allocation failed while building
    //  Upload only: the file and the parts.
    const char *file_field;
    uint8_t *file_data;
    size_t file_size;
    char *file_name;
    const char *content_type;
    tg_part_t *parts;
    char **values;
    size_t part_count;
};

struct tg_response_s {
    tg_status_t status;
    int error_code;
    char description[TG_ERR_MAX];
    int64_t retry_after;
    int64_t migrate_to_chat_id;
    json_t *result;
};

typedef struct {
    tg_update_t update;
    char *strings[S_UPDATE_STRINGS];
    size_t string_count;
} s_entry_t;

struct tg_batch_s {
    s_entry_t *entries;
    size_t size;
    size_t malformed;
    int64_t last_update_id;
    char error[TG_ERR_MAX];
};

//  State of one update's parse: the entry being filled and the first
//  problem found (later ones are not recorded).
typedef struct {
    s_entry_t *entry;
    size_t bytes;
    const char *path; //  where the problem is, e.g. "message.chat"
    const char *key;
    const char *why;
} s_parse_t;

//  A growable byte string; failed sticks after an allocation failure.
typedef struct {
    char *data;
    size_t len, cap;
    bool failed;
} s_buf_t;

static void s_err(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static tg_request_t *s_refuse(char *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static bool s_keyboard_starts_with_pay(const tg_keyboard_t *keyboard);
static size_t s_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp);
static bool s_utf8_valid(const char *text, size_t len);
static bool s_is_space(uint32_t cp);
static size_t s_entity_len(const char *s, size_t len);
static size_t s_html_scan(const char *html, bool *blank);
static int s_check_html(const char *html, size_t max, bool optional, const char *field, char *err);
static int s_check_plain(const char *text, size_t max, const char *field, char *err);
static int s_check_id(const char *id, size_t max, const char *field, char *err);
static int s_check_chat(int64_t chat_id, char *err);
static int s_check_message_id(int64_t message_id, char *err);
static tg_request_t *s_request_new(const char *method);
static void s_set(tg_request_t *self, const char *key, json_t *value);
static void s_set_html(tg_request_t *self, const char *key, const char *html);
static void s_set_keyboard(tg_request_t *self, const tg_keyboard_t *keyboard);
static json_t *s_allowed_updates_json(void);
static tg_request_t *s_finish(tg_request_t *self, char *err);
static int s_build_parts(tg_request_t *self);
static char *s_param_text(const json_t *value);
static int s_keyboard_add(tg_keyboard_t *self, const char *text, const char *key, json_t *value);
static bool s_blank(const char *text);
static bool s_filename_ok(const char *name);
static const char *s_content_type(const char *filename);
static bool s_token_ok(const char *token);
static bool s_method_ok(const char *method);
static bool s_file_path_ok(const char *path);
static void s_buf_add(s_buf_t *buf, const char *bytes, size_t n);
static void s_buf_add_urlencoded(s_buf_t *buf, const char *text);
static char *s_buf_take(s_buf_t *buf);
static bool s_contains_nocase(const char *haystack, const char *needle);
static void s_copy_cut(char *dst, size_t size, const char *src);
static void s_response_classify(tg_response_t *self, int code, const char *description,
                                int64_t retry_after);
static int64_t s_retry_after_header(const char *value);
static int s_batch_add(tg_batch_t *self, const json_t *json);
static void s_entry_init(s_entry_t *entry);
static void s_entry_free(s_entry_t *entry);
static void s_parse_update(s_parse_t *p, const json_t *json);
static void s_parse_message(s_parse_t *p, const json_t *message);
static void s_parse_callback(s_parse_t *p, const json_t *query);
static void s_parse_pre_checkout(s_parse_t *p, const json_t *query);
static void s_parse_chat_member(s_parse_t *p, const json_t *member);
static void s_parse_user(s_parse_t *p, const json_t *user, const char *path);
static void s_parse_chat(s_parse_t *p, const json_t *chat, const char *path);
static void s_parse_photo(s_parse_t *p, const json_t *sizes);
static void s_parse_document(s_parse_t *p, const json_t *document);
static void s_parse_command(s_parse_t *p, const char *text);
static void s_fail(s_parse_t *p, const char *path, const char *key, const char *why);
static const json_t *s_get(s_parse_t *p, const json_t *obj, const char *path, const char *key,
                           bool required, json_type type);
static int64_t s_get_int(s_parse_t *p, const json_t *obj, const char *path, const char *key,
                         bool required);
static const char *s_get_str(s_parse_t *p, const json_t *obj, const char *path, const char *key,
                             bool required, size_t max);
static const char *s_keep(s_parse_t *p, const char *bytes, size_t len);

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
            memcpy(clean + out, S_REPLACEMENT, 3);
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
//  Keyboards

tg_keyboard_t *tg_keyboard_new(void) {
    tg_keyboard_t *self = calloc(1, sizeof(*self));
    if (!self) return NULL;
    self->rows = json_array();
    self->row = json_array();
    if (!self->rows || !self->row) tg_keyboard_destroy(&self);
    return self;
}

void tg_keyboard_destroy(tg_keyboard_t **self_p) {
    assert(self_p);
    tg_keyboard_t *self = *self_p;
    if (self) {
        json_decref(self->rows);
        json_decref(self->row);
        free(self);
        *self_p = NULL;
    }
}

void tg_keyboard_row(tg_keyboard_t *self) {
    assert(self);
    if (json_array_size(self->row) == 0) return;
    json_t *row = json_array();
    if (!row || json_array_append(self->rows, self->row) != 0) {
        json_decref(row);
        return; //  out of memory: the buttons stay in the current row
    }
    json_decref(self->row);
    self->row = row;
}

int tg_keyboard_add(tg_keyboard_t *self, const char *text, const char *callback_data) {
    assert(self);
    if (!callback_data || !*callback_data || strlen(callback_data) > TG_CALLBACK_DATA_MAX ||
        !s_utf8_valid(callback_data, strlen(callback_data)))
        return -1;
    return s_keyboard_add(self, text, "callback_data", json_string(callback_data));
}

int tg_keyboard_add_url(tg_keyboard_t *self, const char *text, const char *url) {
    assert(self);
    if (!url || s_check_id(url, TG_ID_BYTES_MAX, "url", NULL) != 0) return -1;
    if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0 &&
        strncmp(url, "tg://", 5) != 0)
        return -1;
    return s_keyboard_add(self, text, "url", json_string(url));
}

int tg_keyboard_add_pay(tg_keyboard_t *self, const char *text) {
    assert(self);
    if (self->size > 0) return -1;
    return s_keyboard_add(self, text, "pay", json_true());
}

size_t tg_keyboard_size(const tg_keyboard_t *self) {
    assert(self);
    return self->size;
}

json_t *tg_keyboard_json(const tg_keyboard_t *self) {
    assert(self);
    json_t *rows = json_deep_copy(self->rows);
    if (rows && json_array_size(self->row) > 0 &&
        json_array_append_new(rows, json_deep_copy(self->row)) != 0) {
        json_decref(rows);
        return NULL;
    }
    return rows ? json_pack("{s:o}", "inline_keyboard", rows) : NULL;
}

char *tg_keyboard_to_json(const tg_keyboard_t *self) {
    json_t *markup = tg_keyboard_json(self);
    char *text = markup ? json_dumps(markup, JSON_COMPACT) : NULL;
    json_decref(markup);
    return text;
}

// --------------------------------------------------------------------------
//  Requests

void tg_request_destroy(tg_request_t **self_p) {
    assert(self_p);
    tg_request_t *self = *self_p;
    if (self) {
        for (size_t i = 0; i < self->part_count; i++)
            free(self->values[i]);
        free(self->values);
        free(self->parts);
        free(self->file_data);
        free(self->file_name);
        json_decref(self->params);
        free(self);
        *self_p = NULL;
    }
}

const char *tg_request_method(const tg_request_t *self) {
    assert(self);
    return self->method;
}

bool tg_request_is_multipart(const tg_request_t *self) {
    assert(self);
    return self->file_field != NULL;
}

const json_t *tg_request_params(const tg_request_t *self) {
    assert(self);
    return self->params;
}

int64_t tg_request_chat_id(const tg_request_t *self) {
    assert(self);
    json_t *chat_id = json_object_get(self->params, "chat_id");
    return json_is_integer(chat_id) ? (int64_t)json_integer_value(chat_id) : 0;
}

size_t tg_request_part_count(const tg_request_t *self) {
    assert(self);
    return self->part_count;
}

const tg_part_t *tg_request_part(const tg_request_t *self, size_t index) {
    assert(self);
    return index < self->part_count ? &self->parts[index] : NULL;
}

char *tg_request_to_json(const tg_request_t *self) {
    assert(self);
    if (!self->file_field) return json_dumps(self->params, JSON_COMPACT);
    json_t *copy = json_copy(self->params);
    json_t *file = json_pack("{s:s, s:s, s:I}", "filename", self->file_name, "content_type",
                             self->content_type, "size", (json_int_t)self->file_size);
    char *text = NULL;
    //  json_object_set_new takes file, also when it fails.
    if (copy && file && json_object_set_new(copy, self->file_field, file) == 0)
        text = json_dumps(copy, JSON_COMPACT);
    else if (!copy)
        json_decref(file);
    json_decref(copy);
    return text;
}

char *tg_request_to_form(const tg_request_t *self) {
    assert(self);
    if (self->file_field) return NULL;
    s_buf_t buf = {0};
    s_buf_add(&buf, "", 0); //  "" for a request without parameters
    const char *key;
    json_t *value;
    json_object_foreach(self->params, key, value) {
        char *text = s_param_text(value);
        if (!text) {
            buf.failed = true;
            break;
        }
        if (buf.len > 0) s_buf_add(&buf, "&", 1);
        s_buf_add_urlencoded(&buf, key);
        s_buf_add(&buf, "=", 1);
        s_buf_add_urlencoded(&buf, text);
        free(text);
    }
    return s_buf_take(&buf);
}

tg_request_t *tg_get_me(void) {
    return s_finish(s_request_new("getMe"), NULL);
}

tg_request_t *tg_get_updates(int64_t offset, int limit, int timeout_s, char *err) {
    if (limit < 1 || limit > TG_UPDATES_LIMIT_MAX)
        return s_refuse(err, "limit: %d is not 1..%d", limit, TG_UPDATES_LIMIT_MAX);
    if (timeout_s < 0 || timeout_s > TG_POLL_TIMEOUT_MAX)
        return s_refuse(err, "timeout: %d is not 0..%d", timeout_s, TG_POLL_TIMEOUT_MAX);
    tg_request_t *self = s_request_new("getUpdates");
    if (self) {
        s_set(self, "offset", json_integer(offset));
        s_set(self, "limit", json_integer(limit));
        s_set(self, "timeout", json_integer(timeout_s));
        s_set(self, "allowed_updates", s_allowed_updates_json());
    }
    return s_finish(self, err);
}

tg_request_t *tg_delete_webhook(void) {
    tg_request_t *self = s_request_new("deleteWebhook");
    if (self) s_set(self, "drop_pending_updates", json_false());
    return s_finish(self, NULL);
}

tg_request_t *tg_set_webhook(const char *url, const char *secret, char *err) {
    if (s_check_id(url, TG_ID_BYTES_MAX, "url", err) != 0) return NULL;
    if (strncmp(url, "https://", 8) != 0) return s_refuse(err, "url: must start with https://");
    size_t secret_len = secret ? strlen(secret) : 0;
    if (secret_len == 0 || secret_len > TG_WEBHOOK_SECRET_MAX ||
        strspn(secret, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") !=
            secret_len)
        return s_refuse(err, "secret: must be 1..%d of A-Za-z0-9_-", TG_WEBHOOK_SECRET_MAX);
    tg_request_t *self = s_request_new("setWebhook");
    if (self) {
        s_set(self, "url", json_string(url));
        s_set(self, "secret_token", json_string(secret));
        s_set(self, "allowed_updates", s_allowed_updates_json());
        s_set(self, "drop_pending_updates", json_false());
    }
    return s_finish(self, err);
}

tg_request_t *tg_send_message(int64_t chat_id, const char *html, const tg_keyboard_t *keyboard,
                              char *err) {
    if (s_check_chat(chat_id, err) != 0 || s_check_html(html, TG_TEXT_MAX, false, "text", err))
        return NULL;
    tg_request_t *self = s_request_new("sendMessage");
    if (self) {
        s_set(self, "chat_id", json_integer(chat_id));
        s_set_html(self, "text", html);
        s_set(self, "link_preview_options", json_pack("{s:b}", "is_disabled", 1));
        s_set_keyboard(self, keyboard);
    }
    return s_finish(self, err);
}

tg_request_t *tg_edit_message_text(int64_t chat_id, int64_t message_id, const char *html,
                                   const tg_keyboard_t *keyboard, char *err) {
    if (s_check_chat(chat_id, err) != 0 || s_check_message_id(message_id, err) != 0 ||
        s_check_html(html, TG_TEXT_MAX, false, "text", err) != 0)
        return NULL;
    tg_request_t *self = s_request_new("editMessageText");
    if (self) {
        s_set(self, "chat_id", json_integer(chat_id));
        s_set(self, "message_id", json_integer(message_id));
        s_set_html(self, "text", html);
        s_set(self, "link_preview_options", json_pack("{s:b}", "is_disabled", 1));
        s_set_keyboard(self, keyboard);
    }
    return s_finish(self, err);
}

tg_request_t *tg_edit_message_reply_markup(int64_t chat_id, int64_t message_id,
                                           const tg_keyboard_t *keyboard, char *err) {
    if (s_check_chat(chat_id, err) != 0 || s_check_message_id(message_id, err) != 0) return NULL;
    tg_request_t *self = s_request_new("editMessageReplyMarkup");
    if (self) {
        s_set(self, "chat_id", json_integer(chat_id));
        s_set(self, "message_id", json_integer(message_id));
        s_set_keyboard(self, keyboard);
    }
    return s_finish(self, err);
}

tg_request_t *tg_answer_callback_query(const char *query_id, const char *text, bool show_alert,
                                       char *err) {
    if (s_check_id(query_id, TG_ID_BYTES_MAX, "callback_query_id", err) != 0) return NULL;
    bool has_text = text && *text;
    if (has_text && s_check_plain(text, TG_CALLBACK_ANSWER_MAX, "text", err) != 0) return NULL;
    tg_request_t *self = s_request_new("answerCallbackQuery");
    if (self) {
        s_set(self, "callback_query_id", json_string(query_id));
        if (has_text) s_set(self, "text", json_string(text));
        if (show_alert) s_set(self, "show_alert", json_true());
    }
    return s_finish(self, err);
}

tg_request_t *tg_send_media(tg_media_t kind, int64_t chat_id, const char *media,
                            const char *caption, const tg_keyboard_t *keyboard, char *err) {
    if ((unsigned)kind >= sizeof(s_media) / sizeof(s_media[0]))
        return s_refuse(err, "media kind: %d is unknown", (int)kind);
    if (s_check_chat(chat_id, err) != 0 ||
        s_check_id(media, TG_ID_BYTES_MAX, s_media[kind].field, err) != 0 ||
        s_check_html(caption, TG_CAPTION_MAX, true, "caption", err) != 0)
        return NULL;
    if (strstr(media, "://") && strncmp(media, "https://", 8) != 0 &&
        strncmp(media, "http://", 7) != 0)
        return s_refuse(err, "%s: a URL must be http(s)", s_media[kind].field);
    tg_request_t *self = s_request_new(s_media[kind].method);
    if (self) {
        s_set(self, "chat_id", json_integer(chat_id));
        s_set(self, s_media[kind].field, json_string(media));
        if (caption && *caption) s_set_html(self, "caption", caption);
        if (kind == TG_MEDIA_VIDEO) s_set(self, "supports_streaming", json_true());
        s_set_keyboard(self, keyboard);
    }
    return s_finish(self, err);
}

tg_request_t *tg_send_media_upload(tg_media_t kind, int64_t chat_id, const void *data, size_t size,
                                   const char *filename, const char *caption,
                                   const tg_keyboard_t *keyboard, char *err) {
    if ((unsigned)kind >= sizeof(s_media) / sizeof(s_media[0]))
        return s_refuse(err, "media kind: %d is unknown", (int)kind);
    if (s_check_chat(chat_id, err) != 0 ||
        s_check_html(caption, TG_CAPTION_MAX, true, "caption", err) != 0)
        return NULL;
    if (!data || size == 0) return s_refuse(err, "%s: no bytes to upload", s_media[kind].field);
    if (size > s_media[kind].upload_max)
        return s_refuse(err, "%s: %zu bytes is over the %zu-byte upload limit", s_media[kind].field,
                        size, s_media[kind].upload_max);
    if (!s_filename_ok(filename))
        return s_refuse(err, "filename: must be 1..%d bytes of printable ASCII without / \\ \" ;",
                        S_FILENAME_MAX);
    tg_request_t *self = s_request_new(s_media[kind].method);
    if (self) {
        s_set(self, "chat_id", json_integer(chat_id));
        if (caption && *caption) s_set_html(self, "caption", caption);
        if (kind == TG_MEDIA_VIDEO) s_set(self, "supports_streaming", json_true());
        s_set_keyboard(self, keyboard);
        self->file_field = s_media[kind].field;
        self->content_type = s_content_type(filename);
        self->file_size = size;
        self->file_data = malloc(size);
        self->file_name = strdup(filename);
        if (self->file_data && self->file_name) {
            memcpy(self->file_data, data, size);
            if (s_build_parts(self) != 0) self->failed = true;
        } else
            self->failed = true;
    }
    return s_finish(self, err);
}

tg_request_t *tg_get_file(const char *file_id, char *err) {
    if (s_check_id(file_id, TG_ID_BYTES_MAX, "file_id", err) != 0) return NULL;
    tg_request_t *self = s_request_new("getFile");
    if (self) s_set(self, "file_id", json_string(file_id));
    return s_finish(self, err);
}

tg_request_t *tg_delete_message(int64_t chat_id, int64_t message_id, char *err) {
    if (s_check_chat(chat_id, err) != 0 || s_check_message_id(message_id, err) != 0) return NULL;
    tg_request_t *self = s_request_new("deleteMessage");
    if (self) {
        s_set(self, "chat_id", json_integer(chat_id));
        s_set(self, "message_id", json_integer(message_id));
    }
    return s_finish(self, err);
}

tg_request_t *tg_send_chat_action(int64_t chat_id, tg_chat_action_t action, char *err) {
    if (s_check_chat(chat_id, err) != 0) return NULL;
    if ((unsigned)action >= sizeof(s_chat_actions) / sizeof(s_chat_actions[0]))
        return s_refuse(err, "action: %d is unknown", (int)action);
    tg_request_t *self = s_request_new("sendChatAction");
    if (self) {
        s_set(self, "chat_id", json_integer(chat_id));
        s_set(self, "action", json_string(s_chat_actions[action]));
    }
    return s_finish(self, err);
}

tg_request_t *tg_set_my_commands(const tg_command_t *commands, size_t count,
                                 const char *language_code, char *err) {
    if (!commands || count == 0 || count > TG_COMMANDS_MAX)
        return s_refuse(err, "commands: %zu is not 1..%d", commands ? count : 0, TG_COMMANDS_MAX);
    for (size_t i = 0; i < count; i++) {
        const char *name = commands[i].command;
        size_t len = name ? strlen(name) : 0;
        if (len == 0 || len > TG_COMMAND_MAX ||
            strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != len)
            return s_refuse(err, "commands[%zu]: name must be 1..%d of a-z 0-9 _", i,
                            TG_COMMAND_MAX);
        if (s_check_plain(commands[i].description, TG_COMMAND_DESCRIPTION_MAX, "description",
                          err) != 0)
            return NULL;
    }
    bool has_language = language_code && *language_code;
    if (has_language &&
        (strlen(language_code) != 2 || strspn(language_code, "abcdefghijklmnopqrstuvwxyz") != 2))
        return s_refuse(err, "language_code: must be two lowercase letters");
    tg_request_t *self = s_request_new("setMyCommands");
    if (self) {
        json_t *list = json_array();
        for (size_t i = 0; list && i < count; i++)
            if (json_array_append_new(list, json_pack("{s:s, s:s}", "command", commands[i].command,
                                                      "description", commands[i].description)) != 0)
                self->failed = true;
        s_set(self, "commands", list);
        if (has_language) s_set(self, "language_code", json_string(language_code));
    }
    return s_finish(self, err);
}

tg_request_t *tg_send_invoice(int64_t chat_id, const tg_invoice_t *invoice,
                              const tg_keyboard_t *keyboard, char *err) {
    if (!invoice) return s_refuse(err, "invoice: missing");
    if (s_check_chat(chat_id, err) != 0 ||
        s_check_plain(invoice->title, TG_INVOICE_TITLE_MAX, "title", err) != 0 ||
        s_check_plain(invoice->description, TG_INVOICE_DESCRIPTION_MAX, "description", err) != 0 ||
        s_check_plain(invoice->label, TG_TEXT_MAX, "label", err) != 0)
        return NULL;
    size_t payload_len = invoice->payload ? strlen(invoice->payload) : 0;
    if (payload_len == 0 || payload_len > TG_INVOICE_PAYLOAD_MAX ||
        !s_utf8_valid(invoice->payload, payload_len))
        return s_refuse(err, "payload: must be 1..%d bytes of UTF-8", TG_INVOICE_PAYLOAD_MAX);
    if (invoice->stars < 1 || invoice->stars > INT32_MAX)
        return s_refuse(err, "stars: %" PRId64 " is not 1..%d", invoice->stars, INT32_MAX);
    if (keyboard && !s_keyboard_starts_with_pay(keyboard))
        return s_refuse(err, "keyboard: the first button must be the pay button");
    tg_request_t *self = s_request_new("sendInvoice");
    if (self) {
        s_set(self, "chat_id", json_integer(chat_id));
        s_set(self, "title", json_string(invoice->title));
        s_set(self, "description", json_string(invoice->description));
        s_set(self, "payload", json_string(invoice->payload));
        s_set(self, "provider_token", json_string(""));
        s_set(self, "currency", json_string("XTR"));
        s_set(self, "prices",
              json_pack("[{s:s, s:I}]", "label", invoice->label, "amount",
                        (json_int_t)invoice->stars));
        s_set_keyboard(self, keyboard);
    }
    return s_finish(self, err);
}

tg_request_t *tg_answer_pre_checkout_query(const char *query_id, bool ok, const char *error_message,
                                           char *err) {
    if (s_check_id(query_id, TG_ID_BYTES_MAX, "pre_checkout_query_id", err) != 0) return NULL;
    if (!ok && s_check_plain(error_message, TG_TEXT_MAX, "error_message", err) != 0) return NULL;
    tg_request_t *self = s_request_new("answerPreCheckoutQuery");
    if (self) {
        s_set(self, "pre_checkout_query_id", json_string(query_id));
        s_set(self, "ok", json_boolean(ok));
        if (!ok) s_set(self, "error_message", json_string(error_message));
    }
    return s_finish(self, err);
}

tg_request_t *tg_refund_star_payment(int64_t user_id, const char *charge_id, char *err) {
    if (user_id <= 0) return s_refuse(err, "user_id: %" PRId64 " is not a user", user_id);
    if (s_check_id(charge_id, TG_ID_BYTES_MAX, "telegram_payment_charge_id", err) != 0) return NULL;
    tg_request_t *self = s_request_new("refundStarPayment");
    if (self) {
        s_set(self, "user_id", json_integer(user_id));
        s_set(self, "telegram_payment_charge_id", json_string(charge_id));
    }
    return s_finish(self, err);
}

char *tg_method_path_with_token(const char *token, const char *method) {
    if (!s_token_ok(token) || !s_method_ok(method)) return NULL;
    char *path = NULL;
    return asprintf(&path, "/bot%s/%s", token, method) < 0 ? NULL : path;
}

char *tg_file_path_with_token(const char *token, const char *file_path) {
    if (!s_token_ok(token) || !s_file_path_ok(file_path)) return NULL;
    char *path = NULL;
    return asprintf(&path, "/file/bot%s/%s", token, file_path) < 0 ? NULL : path;
}

// --------------------------------------------------------------------------
//  Responses

tg_response_t *tg_response_parse(int http_status, const char *body, size_t len,
                                 const char *retry_after_header) {
    tg_response_t *self = calloc(1, sizeof(*self));
    if (!self) return NULL;
    int64_t header_retry = s_retry_after_header(retry_after_header);
    json_t *root = NULL;
    if (body && len > 0 && len <= TG_RESPONSE_MAX)
        root = json_loadb(body, len, JSON_ALLOW_NUL, NULL);
    const json_t *ok = json_object_get(root, "ok");
    if (json_is_true(ok)) {
        json_t *result = json_object_get(root, "result");
        if (result) {
            self->status = TG_OK;
            self->result = json_incref(result);
        } else {
            self->status = TG_E_MALFORMED;
            self->error_code = http_status;
            s_copy_cut(self->description, sizeof(self->description), "ok without result");
        }
    } else if (json_is_false(ok)) {
        const json_t *code = json_object_get(root, "error_code");
        const json_t *description = json_object_get(root, "description");
        const json_t *parameters = json_object_get(root, "parameters");
        const json_t *retry_after = json_object_get(parameters, "retry_after");
        const json_t *migrate = json_object_get(parameters, "migrate_to_chat_id");
        int error_code = json_is_integer(code) && json_integer_value(code) >= 100 &&
                                 json_integer_value(code) <= 999
                             ? (int)json_integer_value(code)
                             : http_status;
        if (json_is_integer(migrate)) self->migrate_to_chat_id = json_integer_value(migrate);
        int64_t retry = json_is_integer(retry_after) && json_integer_value(retry_after) > 0
                            ? json_integer_value(retry_after)
                            : header_retry;
        s_response_classify(self, error_code,
                            json_is_string(description) ? json_string_value(description) : "",
                            retry);
    } else if (http_status >= 400 && http_status <= 599) {
        //  A proxy's or load balancer's page (502 HTML): the status speaks.
        char description[64];
        snprintf(description, sizeof(description), "HTTP %d without a Bot API body", http_status);
        s_response_classify(self, http_status, description, header_retry);
    } else {
        self->status = TG_E_MALFORMED;
        self->error_code = http_status;
        s_copy_cut(self->description, sizeof(self->description),
                   len > TG_RESPONSE_MAX ? "body too large"
                   : !root               ? "body is not JSON"
                                         : "body is not a Bot API reply");
    }
    json_decref(root);
    return self;
}

void tg_response_destroy(tg_response_t **self_p) {
    assert(self_p);
    tg_response_t *self = *self_p;
    if (self) {
        json_decref(self->result);
        free(self);
        *self_p = NULL;
    }
}

tg_status_t tg_response_status(const tg_response_t *self) {
    assert(self);
    return self->status;
}

bool tg_response_ok(const tg_response_t *self) {
    assert(self);
    return self->status == TG_OK;
}

int tg_response_error_code(const tg_response_t *self) {
    assert(self);
    return self->status == TG_OK ? 0 : self->error_code;
}

const char *tg_response_description(const tg_response_t *self) {
    assert(self);
    return self->description;
}

int64_t tg_response_retry_after(const tg_response_t *self) {
    assert(self);
    return self->retry_after;
}

int64_t tg_response_migrate_to_chat_id(const tg_response_t *self) {
    assert(self);
    return self->migrate_to_chat_id;
}

const json_t *tg_response_result(const tg_response_t *self) {
    assert(self);
    return self->result;
}

int tg_response_message(const tg_response_t *self, int64_t *message_id, int64_t *chat_id) {
    assert(self);
    const json_t *id = json_object_get(self->result, "message_id");
    const json_t *chat = json_object_get(json_object_get(self->result, "chat"), "id");
    if (!json_is_integer(id) || !json_is_integer(chat)) return -1;
    if (message_id) *message_id = json_integer_value(id);
    if (chat_id) *chat_id = json_integer_value(chat);
    return 0;
}

int tg_response_file(const tg_response_t *self, tg_file_t *file) {
    assert(self);
    assert(file);
    const json_t *id = json_object_get(self->result, "file_id");
    const json_t *unique_id = json_object_get(self->result, "file_unique_id");
    const json_t *path = json_object_get(self->result, "file_path");
    const json_t *size = json_object_get(self->result, "file_size");
    if (!json_is_string(id) || !json_is_string(unique_id) || (path && !json_is_string(path)) ||
        (size && !json_is_integer(size)))
        return -1;
    file->file_id = json_string_value(id);
    file->file_unique_id = json_string_value(unique_id);
    file->file_path = path ? json_string_value(path) : NULL;
    file->file_size = size ? json_integer_value(size) : 0;
    return 0;
}

const char *tg_status_name(tg_status_t status) {
    return (unsigned)status < sizeof(s_status_names) / sizeof(s_status_names[0])
               ? s_status_names[status]
               : "?";
}

bool tg_status_is_success(tg_status_t status) {
    return status == TG_OK || status == TG_E_NOT_MODIFIED;
}

// --------------------------------------------------------------------------
//  Updates

tg_batch_t *tg_batch_parse(const json_t *result) {
    if (!json_is_array(result)) return NULL;
    tg_batch_t *self = calloc(1, sizeof(*self));
    size_t count = json_array_size(result);
    if (self && count > 0) self->entries = calloc(count, sizeof(s_entry_t));
    if (!self || (count > 0 && !self->entries)) {
        free(self);
        return NULL;
    }
    self->last_update_id = -1;
    for (size_t i = 0; i < count; i++)
        s_batch_add(self, json_array_get(result, i));
    return self;
}

tg_batch_t *tg_batch_parse_webhook(const char *body, size_t len) {
    tg_batch_t *self = calloc(1, sizeof(*self));
    if (self) self->entries = calloc(1, sizeof(s_entry_t));
    if (!self || !self->entries) {
        free(self);
        return NULL;
    }
    self->last_update_id = -1;
    json_t *root = NULL;
    if (body && len > 0 && len <= TG_UPDATE_MAX) root = json_loadb(body, len, JSON_ALLOW_NUL, NULL);
    if (root)
        s_batch_add(self, root);
    else {
        self->malformed = 1;
        s_copy_cut(self->error, sizeof(self->error),
                   len > TG_UPDATE_MAX ? "webhook body too large" : "webhook body is not JSON");
    }
    json_decref(root);
    return self;
}

void tg_batch_destroy(tg_batch_t **self_p) {
    assert(self_p);
    tg_batch_t *self = *self_p;
    if (self) {
        for (size_t i = 0; i < self->size; i++)
            s_entry_free(&self->entries[i]);
        free(self->entries);
        free(self);
        *self_p = NULL;
    }
}

size_t tg_batch_size(const tg_batch_t *self) {
    assert(self);
    return self->size;
}

const tg_update_t *tg_batch_get(const tg_batch_t *self, size_t index) {
    assert(self);
    return index < self->size ? &self->entries[index].update : NULL;
}

size_t tg_batch_malformed(const tg_batch_t *self) {
    assert(self);
    return self->malformed;
}

const char *tg_batch_error(const tg_batch_t *self) {
    assert(self);
    return self->error;
}

int64_t tg_batch_last_update_id(const tg_batch_t *self) {
    assert(self);
    return self->last_update_id;
}

const char *tg_update_kind_name(tg_update_kind_t kind) {
    return (unsigned)kind < sizeof(s_kind_names) / sizeof(s_kind_names[0]) ? s_kind_names[kind]
                                                                           : "?";
}

// --------------------------------------------------------------------------
//  Webhook

bool tg_webhook_secret_ok(const char *header_value, const char *secret) {
    if (!header_value || !secret || !*secret) return false;
    size_t header_len = strlen(header_value), secret_len = strlen(secret);
    //  Every byte of the secret is compared whatever the header holds: the
    //  time depends on the lengths only, never on where the first
    //  difference is.
    volatile unsigned char diff = header_len != secret_len;
    for (size_t i = 0; i < secret_len; i++) {
        unsigned char h = i < header_len ? (unsigned char)header_value[i] : 0;
        diff |= h ^ (unsigned char)secret[i];
    }
    return diff == 0;
}

// --------------------------------------------------------------------------
//  Private helpers: text

static void s_err(char *err, const char *fmt, ...) {
    if (!err) return;
    va_list args;
    va_start(args, fmt);
    vsnprintf(err, TG_ERR_MAX, fmt, args);
    va_end(args);
}

//  s_err, then NULL: a builder's refusal.
static tg_request_t *s_refuse(char *err, const char *fmt, ...) {
    if (err) {
        va_list args;
        va_start(args, fmt);
        vsnprintf(err, TG_ERR_MAX, fmt, args);
        va_end(args);
    }
    return NULL;
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

static bool s_utf8_valid(const char *text, size_t len) {
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

static int s_check_html(const char *html, size_t max, bool optional, const char *field, char *err) {
    if (!html || !*html) {
        if (optional) return 0;
        s_err(err, "%s: empty", field);
        return -1;
    }
    size_t len = strlen(html);
    if (len > TG_HTML_BYTES_MAX) {
        s_err(err, "%s: %zu bytes is over %d", field, len, TG_HTML_BYTES_MAX);
        return -1;
    }
    if (!s_utf8_valid(html, len)) {
        s_err(err, "%s: not valid UTF-8", field);
        return -1;
    }
    bool blank;
    size_t units = s_html_scan(html, &blank);
    if (blank) {
        s_err(err, "%s: empty after trimming", field);
        return -1;
    }
    if (units > max) {
        s_err(err, "%s: %zu characters is over %zu", field, units, max);
        return -1;
    }
    return 0;
}

//  A plain (not HTML) text: present, valid UTF-8, not blank, <= max units.
static int s_check_plain(const char *text, size_t max, const char *field, char *err) {
    if (!text || s_blank(text)) {
        s_err(err, "%s: empty", field);
        return -1;
    }
    size_t len = strlen(text);
    if (len > TG_HTML_BYTES_MAX || !s_utf8_valid(text, len)) {
        s_err(err, "%s: not valid UTF-8 or too long", field);
        return -1;
    }
    size_t units = tg_text_len(text);
    if (units > max) {
        s_err(err, "%s: %zu characters is over %zu", field, units, max);
        return -1;
    }
    return 0;
}

//  An opaque identifier or URL: 1..max bytes of UTF-8, no spaces or
//  control characters.
static int s_check_id(const char *id, size_t max, const char *field, char *err) {
    size_t len = id ? strlen(id) : 0;
    if (len == 0 || len > max) {
        s_err(err, "%s: must be 1..%zu bytes", field, max);
        return -1;
    }
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)id[i] <= ' ' || id[i] == 0x7F) {
            s_err(err, "%s: holds a space or control character", field);
            return -1;
        }
    if (!s_utf8_valid(id, len)) {
        s_err(err, "%s: not valid UTF-8", field);
        return -1;
    }
    return 0;
}

static int s_check_chat(int64_t chat_id, char *err) {
    if (chat_id != 0) return 0;
    s_err(err, "chat_id: 0 is not a chat");
    return -1;
}

static int s_check_message_id(int64_t message_id, char *err) {
    if (message_id > 0 && message_id <= INT32_MAX) return 0;
    s_err(err, "message_id: %" PRId64 " is not a message", message_id);
    return -1;
}

static bool s_blank(const char *text) {
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

// --------------------------------------------------------------------------
//  Private helpers: requests

static tg_request_t *s_request_new(const char *method) {
    assert(strlen(method) <= S_METHOD_MAX);
    tg_request_t *self = calloc(1, sizeof(*self));
    if (!self) return NULL;
    snprintf(self->method, sizeof(self->method), "%s", method);
    self->params = json_object();
    if (!self->params) tg_request_destroy(&self);
    return self;
}

//  Sets a parameter (stealing value); a NULL value (allocation failed)
//  marks the request failed.
static void s_set(tg_request_t *self, const char *key, json_t *value) {
    if (!value || json_object_set_new(self->params, key, value) != 0) self->failed = true;
}

static void s_set_html(tg_request_t *self, const char *key, const char *html) {
    s_set(self, key, json_string(html));
    s_set(self, "parse_mode", json_string("HTML"));
}

static void s_set_keyboard(tg_request_t *self, const tg_keyboard_t *keyboard) {
    if (keyboard) s_set(self, "reply_markup", tg_keyboard_json(keyboard));
}

static json_t *s_allowed_updates_json(void) {
    json_t *list = json_array();
    for (size_t i = 0; list && i < sizeof(s_allowed_updates) / sizeof(s_allowed_updates[0]); i++)
        if (json_array_append_new(list, json_string(s_allowed_updates[i])) != 0) {
            json_decref(list);
            return NULL;
        }
    return list;
}

//  The builder's last step: a request whose building ran out of memory is
//  destroyed and reported.
static tg_request_t *s_finish(tg_request_t *self, char *err) {
    if (self && !self->failed) return self;
    tg_request_destroy(&self);
    s_err(err, "out of memory");
    return NULL;
}

//  Parts of an upload: each parameter as text, in order, then the file.
static int s_build_parts(tg_request_t *self) {
    size_t count = json_object_size(self->params) + 1;
    self->parts = calloc(count, sizeof(tg_part_t));
    self->values = calloc(count, sizeof(char *));
    if (!self->parts || !self->values) return -1;
    const char *key;
    json_t *value;
    json_object_foreach(self->params, key, value) {
        char *text = s_param_text(value);
        if (!text) return -1;
        self->values[self->part_count] = text;
        self->parts[self->part_count++] = (tg_part_t){.name = key, .value = text};
    }
    self->parts[self->part_count++] = (tg_part_t){.name = self->file_field,
                                                  .data = self->file_data,
                                                  .size = self->file_size,
                                                  .filename = self->file_name,
                                                  .content_type = self->content_type};
    return 0;
}

//  A parameter as a form field: strings as they are, numbers and booleans
//  as text, objects and arrays as compact JSON.
static char *s_param_text(const json_t *value) {
    char *text = NULL;
    switch (json_typeof(value)) {
    case JSON_STRING:
        return strdup(json_string_value(value));
    case JSON_INTEGER:
        return asprintf(&text, "%" JSON_INTEGER_FORMAT, json_integer_value(value)) < 0 ? NULL
                                                                                       : text;
    case JSON_TRUE:
        return strdup("true");
    case JSON_FALSE:
        return strdup("false");
    default:
        return json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    }
}

//  Appends {"text": text, key: value} (value stolen) to the current row.
static int s_keyboard_add(tg_keyboard_t *self, const char *text, const char *key, json_t *value) {
    if (!value || !text || !s_utf8_valid(text, strlen(text)) || s_blank(text) ||
        self->size >= TG_KEYBOARD_BUTTONS_MAX ||
        json_array_size(self->row) >= TG_KEYBOARD_ROW_MAX) {
        json_decref(value);
        return -1;
    }
    json_t *button = json_pack("{s:s, s:o}", "text", text, key, value);
    if (!button || json_array_append_new(self->row, button) != 0) return -1;
    self->size++;
    return 0;
}

static bool s_keyboard_starts_with_pay(const tg_keyboard_t *keyboard) {
    const json_t *first_row =
        json_array_size(keyboard->rows) > 0 ? json_array_get(keyboard->rows, 0) : keyboard->row;
    return json_is_true(json_object_get(json_array_get(first_row, 0), "pay"));
}

static bool s_filename_ok(const char *name) {
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > S_FILENAME_MAX) return false;
    for (size_t i = 0; i < len; i++)
        if (name[i] < ' ' || name[i] > '~' || strchr("/\\\";", name[i])) return false;
    return true;
}

static const char *s_content_type(const char *filename) {
    const char *dot = strrchr(filename, '.');
    if (dot)
        for (size_t i = 0; i < sizeof(s_content_types) / sizeof(s_content_types[0]); i++)
            if (strcasecmp(dot + 1, s_content_types[i].extension) == 0)
                return s_content_types[i].content_type;
    return "application/octet-stream";
}

//  <digits>:<A-Za-z0-9_->, as BotFather issues them.
static bool s_token_ok(const char *token) {
    if (!token || strlen(token) > S_TOKEN_MAX) return false;
    size_t digits = strspn(token, "0123456789");
    if (digits == 0 || token[digits] != ':') return false;
    const char *secret = token + digits + 1;
    size_t rest =
        strspn(secret, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-");
    return rest > 0 && secret[rest] == '\0';
}

static bool s_method_ok(const char *method) {
    size_t len = method ? strlen(method) : 0;
    return len > 0 && len <= S_METHOD_MAX &&
           strspn(method, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") == len;
}

//  A relative path such as "photos/file_12.jpg": segments of A-Za-z0-9._-
//  that are neither empty, "." nor "..".
static bool s_file_path_ok(const char *path) {
    size_t len = path ? strlen(path) : 0;
    if (len == 0 || len > S_PATH_MAX ||
        strspn(path, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-/") != len)
        return false;
    const char *segment = path;
    while (true) {
        size_t n = strcspn(segment, "/");
        if (n == 0 || (n == 1 && segment[0] == '.') ||
            (n == 2 && segment[0] == '.' && segment[1] == '.'))
            return false;
        if (segment[n] == '\0') return true;
        segment += n + 1;
    }
}

static void s_buf_add(s_buf_t *buf, const char *bytes, size_t n) {
    if (buf->failed) return;
    if (buf->len + n + 1 > buf->cap) {
        size_t cap = buf->cap ? buf->cap : 64;
        while (cap < buf->len + n + 1)
            cap *= 2;
        char *data = realloc(buf->data, cap);
        if (!data) {
            buf->failed = true;
            return;
        }
        buf->data = data;
        buf->cap = cap;
    }
    memcpy(buf->data + buf->len, bytes, n);
    buf->len += n;
    buf->data[buf->len] = '\0';
}

//  application/x-www-form-urlencoded: unreserved bytes as they are, space
//  as '+', every other byte as %XX.
static void s_buf_add_urlencoded(s_buf_t *buf, const char *text) {
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
            strchr("-._*", *c))
            s_buf_add(buf, (const char *)c, 1);
        else if (*c == ' ')
            s_buf_add(buf, "+", 1);
        else {
            char escaped[3] = {'%', hex[*c >> 4], hex[*c & 0xF]};
            s_buf_add(buf, escaped, 3);
        }
    }
}

static char *s_buf_take(s_buf_t *buf) {
    if (buf->failed) {
        free(buf->data);
        return NULL;
    }
    return buf->data;
}

// --------------------------------------------------------------------------
//  Private helpers: responses

static bool s_contains_nocase(const char *haystack, const char *needle) {
    size_t n = strlen(needle);
    for (const char *h = haystack; *h; h++)
        if (strncasecmp(h, needle, n) == 0) return true;
    return false;
}

//  Copies src into dst (size bytes) cut at a UTF-8 character boundary.
static void s_copy_cut(char *dst, size_t size, const char *src) {
    size_t len = strlen(src);
    if (len >= size) {
        len = size - 1;
        while (len > 0 && ((unsigned char)src[len] & 0xC0) == 0x80)
            len--;
    }
    memcpy(dst, src, len);
    dst[len] = '\0';
}

static void s_response_classify(tg_response_t *self, int code, const char *description,
                                int64_t retry_after) {
    self->error_code = code;
    self->retry_after = retry_after;
    s_copy_cut(self->description, sizeof(self->description), description);
    self->status = code >= 400 && code <= 599 ? TG_E_OTHER : TG_E_MALFORMED;
    for (size_t i = 0; i < sizeof(s_status_table) / sizeof(s_status_table[0]); i++) {
        if (code < s_status_table[i].code_min || code > s_status_table[i].code_max) continue;
        if (s_status_table[i].needs_migrate && self->migrate_to_chat_id == 0) continue;
        if (s_status_table[i].fragment &&
            !s_contains_nocase(description, s_status_table[i].fragment))
            continue;
        self->status = s_status_table[i].status;
        return;
    }
}

//  Retry-After in delay-seconds form; 0 when absent or not a number (the
//  HTTP-date form is not used by Telegram).
static int64_t s_retry_after_header(const char *value) {
    if (!value) return 0;
    value += strspn(value, " \t");
    size_t digits = strspn(value, "0123456789");
    if (digits == 0 || digits > 9 || value[digits + strspn(value + digits, " \t\r\n")] != '\0')
        return 0;
    return strtoll(value, NULL, 10);
}

// --------------------------------------------------------------------------
//  Private helpers: updates

//  Parses one element of a batch: kept when good, counted when not.
static int s_batch_add(tg_batch_t *self, const json_t *json) {
    s_entry_t *entry = &self->entries[self->size];
    s_entry_init(entry);
    s_parse_t p = {.entry = entry};
    s_parse_update(&p, json);
    //  A readable update_id moves the offset even when the rest is bad.
    const json_t *update_id = json_object_get(json, "update_id");
    int64_t id = json_is_integer(update_id) && json_integer_value(update_id) >= 0
                     ? json_integer_value(update_id)
                     : -1;
    if (id > self->last_update_id) self->last_update_id = id;
    if (p.why) {
        self->malformed++;
        char id_text[24] = "?";
        if (id >= 0) snprintf(id_text, sizeof(id_text), "%" PRId64, id);
        snprintf(self->error, sizeof(self->error), "update %s: %s%s%s: %s", id_text, p.path,
                 *p.path ? "." : "", p.key, p.why);
        s_entry_free(entry);
        return -1;
    }
    self->size++;
    return 0;
}

static void s_entry_init(s_entry_t *entry) {
    memset(entry, 0, sizeof(*entry));
    tg_update_t *u = &entry->update;
    u->update_id = -1;
    u->language_code = u->first_name = u->username = s_empty;
    u->text = u->command = u->command_arg = u->caption = s_empty;
    u->file.file_id = u->file.file_unique_id = u->file.file_name = u->file.mime_type = s_empty;
    u->query_id = u->data = u->currency = u->invoice_payload = s_empty;
    u->telegram_payment_charge_id = u->provider_payment_charge_id = s_empty;
    u->member_status = u->other_type = s_empty;
}

static void s_entry_free(s_entry_t *entry) {
    for (size_t i = 0; i < entry->string_count; i++)
        free(entry->strings[i]);
    entry->string_count = 0;
}

static void s_parse_update(s_parse_t *p, const json_t *json) {
    tg_update_t *u = &p->entry->update;
    if (!json_is_object(json)) {
        s_fail(p, "", "update", "not an object");
        return;
    }
    u->update_id = s_get_int(p, json, "", "update_id", true);
    if (u->update_id < 0) s_fail(p, "", "update_id", "negative");
    const json_t *value;
    if ((value = s_get(p, json, "", "message", false, JSON_OBJECT)))
        s_parse_message(p, value);
    else if ((value = s_get(p, json, "", "callback_query", false, JSON_OBJECT)))
        s_parse_callback(p, value);
    else if ((value = s_get(p, json, "", "pre_checkout_query", false, JSON_OBJECT)))
        s_parse_pre_checkout(p, value);
    else if ((value = s_get(p, json, "", "my_chat_member", false, JSON_OBJECT)))
        s_parse_chat_member(p, value);
    else {
        u->kind = TG_UPDATE_SKIPPED;
        const char *key;
        json_t *member;
        json_object_foreach((json_t *)json, key, member) {
            if (strcmp(key, "update_id") != 0 && strlen(key) < 64) {
                u->other_type = s_keep(p, key, strlen(key));
                break;
            }
        }
    }
}

static void s_parse_message(s_parse_t *p, const json_t *message) {
    tg_update_t *u = &p->entry->update;
    u->message_id = s_get_int(p, message, "message", "message_id", true);
    u->date = s_get_int(p, message, "message", "date", false);
    s_parse_chat(p, s_get(p, message, "message", "chat", true, JSON_OBJECT), "message.chat");
    const json_t *from = s_get(p, message, "message", "from", false, JSON_OBJECT);
    if (from) s_parse_user(p, from, "message.from");

    const json_t *payment = s_get(p, message, "message", "successful_payment", false, JSON_OBJECT);
    if (payment) {
        const char *path = "message.successful_payment";
        u->kind = TG_UPDATE_PAYMENT;
        u->currency = s_get_str(p, payment, path, "currency", true, TG_IN_STRING_MAX);
        u->total_amount = s_get_int(p, payment, path, "total_amount", true);
        u->invoice_payload = s_get_str(p, payment, path, "invoice_payload", true, TG_IN_STRING_MAX);
        u->telegram_payment_charge_id =
            s_get_str(p, payment, path, "telegram_payment_charge_id", true, TG_IN_STRING_MAX);
        u->provider_payment_charge_id =
            s_get_str(p, payment, path, "provider_payment_charge_id", false, TG_IN_STRING_MAX);
        if (!*u->telegram_payment_charge_id) s_fail(p, path, "telegram_payment_charge_id", "empty");
        if (u->total_amount <= 0) s_fail(p, path, "total_amount", "not positive");
        //  Credits go to the payer: a payment without one cannot be credited.
        if (!from) s_fail(p, "message", "from", "missing on a payment");
        return;
    }
    if (json_object_get(message, "text")) {
        u->kind = TG_UPDATE_TEXT;
        u->text = s_get_str(p, message, "message", "text", true, TG_IN_TEXT_MAX);
        s_parse_command(p, u->text);
    } else if (json_object_get(message, "photo")) {
        u->kind = TG_UPDATE_PHOTO;
        s_parse_photo(p, s_get(p, message, "message", "photo", true, JSON_ARRAY));
        u->caption = s_get_str(p, message, "message", "caption", false, TG_IN_TEXT_MAX);
    } else if (json_object_get(message, "document")) {
        u->kind = TG_UPDATE_DOCUMENT;
        s_parse_document(p, s_get(p, message, "message", "document", true, JSON_OBJECT));
        u->caption = s_get_str(p, message, "message", "caption", false, TG_IN_TEXT_MAX);
    } else {
        u->kind = TG_UPDATE_SKIPPED;
        u->other_type = "service message";
        for (size_t i = 0; i < sizeof(s_other_types) / sizeof(s_other_types[0]); i++)
            if (json_object_get(message, s_other_types[i])) {
                u->kind = TG_UPDATE_OTHER_MESSAGE;
                u->other_type = s_other_types[i];
                break;
            }
    }
    //  A message with no sender (an anonymous group admin, a channel) is
    //  nobody's to answer.
    if (!from && u->kind != TG_UPDATE_SKIPPED) {
        u->kind = TG_UPDATE_SKIPPED;
        u->other_type = "no sender";
    }
}

static void s_parse_callback(s_parse_t *p, const json_t *query) {
    tg_update_t *u = &p->entry->update;
    u->kind = TG_UPDATE_CALLBACK;
    u->query_id = s_get_str(p, query, "callback_query", "id", true, TG_IN_STRING_MAX);
    if (!*u->query_id) s_fail(p, "callback_query", "id", "empty");
    s_parse_user(p, s_get(p, query, "callback_query", "from", true, JSON_OBJECT),
                 "callback_query.from");
    u->data = s_get_str(p, query, "callback_query", "data", false, TG_IN_STRING_MAX);
    //  The message may be inaccessible (date 0): its chat and id still are.
    const json_t *message = s_get(p, query, "callback_query", "message", false, JSON_OBJECT);
    if (message) {
        const char *path = "callback_query.message";
        u->message_id = s_get_int(p, message, path, "message_id", true);
        u->date = s_get_int(p, message, path, "date", false);
        s_parse_chat(p, s_get(p, message, path, "chat", true, JSON_OBJECT),
                     "callback_query.message.chat");
    }
}

static void s_parse_pre_checkout(s_parse_t *p, const json_t *query) {
    tg_update_t *u = &p->entry->update;
    const char *path = "pre_checkout_query";
    u->kind = TG_UPDATE_PRE_CHECKOUT;
    u->query_id = s_get_str(p, query, path, "id", true, TG_IN_STRING_MAX);
    if (!*u->query_id) s_fail(p, path, "id", "empty");
    s_parse_user(p, s_get(p, query, path, "from", true, JSON_OBJECT), "pre_checkout_query.from");
    u->currency = s_get_str(p, query, path, "currency", true, TG_IN_STRING_MAX);
    u->total_amount = s_get_int(p, query, path, "total_amount", true);
    u->invoice_payload = s_get_str(p, query, path, "invoice_payload", true, TG_IN_STRING_MAX);
}

static void s_parse_chat_member(s_parse_t *p, const json_t *member) {
    tg_update_t *u = &p->entry->update;
    const char *path = "my_chat_member";
    u->kind = TG_UPDATE_CHAT_MEMBER;
    s_parse_chat(p, s_get(p, member, path, "chat", true, JSON_OBJECT), "my_chat_member.chat");
    s_parse_user(p, s_get(p, member, path, "from", true, JSON_OBJECT), "my_chat_member.from");
    u->date = s_get_int(p, member, path, "date", false);
    const json_t *status = s_get(p, member, path, "new_chat_member", true, JSON_OBJECT);
    if (status) {
        u->member_status = s_get_str(p, status, "my_chat_member.new_chat_member", "status", true,
                                     TG_IN_STRING_MAX);
        u->blocked = strcmp(u->member_status, "kicked") == 0;
    }
}

static void s_parse_user(s_parse_t *p, const json_t *user, const char *path) {
    if (!user) return; //  already failed as missing
    tg_update_t *u = &p->entry->update;
    u->user_id = s_get_int(p, user, path, "id", true);
    if (u->user_id <= 0) s_fail(p, path, "id", "not a user id");
    u->first_name = s_get_str(p, user, path, "first_name", false, TG_IN_STRING_MAX);
    u->username = s_get_str(p, user, path, "username", false, TG_IN_STRING_MAX);
    u->language_code = s_get_str(p, user, path, "language_code", false, TG_IN_STRING_MAX);
}

static void s_parse_chat(s_parse_t *p, const json_t *chat, const char *path) {
    if (!chat) return;
    tg_update_t *u = &p->entry->update;
    u->chat_id = s_get_int(p, chat, path, "id", true);
    const json_t *type = s_get(p, chat, path, "type", false, JSON_STRING);
    u->private_chat = type && strcmp(json_string_value(type), "private") == 0;
}

//  Keeps the largest size (by pixels, then bytes) of a photo.
static void s_parse_photo(s_parse_t *p, const json_t *sizes) {
    if (!sizes) return;
    tg_attachment_t *file = &p->entry->update.file;
    const char *path = "message.photo";
    const json_t *best = NULL;
    int64_t best_pixels = -1, best_bytes = -1;
    size_t index;
    const json_t *size;
    json_array_foreach((json_t *)sizes, index, size) {
        if (!json_is_object(size)) {
            s_fail(p, path, "[]", "not an object");
            return;
        }
        int64_t width = s_get_int(p, size, path, "width", true);
        int64_t height = s_get_int(p, size, path, "height", true);
        int64_t bytes = s_get_int(p, size, path, "file_size", false);
        s_get(p, size, path, "file_id", true, JSON_STRING);
        s_get(p, size, path, "file_unique_id", true, JSON_STRING);
        if (width < 0 || width > INT32_MAX || height < 0 || height > INT32_MAX) {
            s_fail(p, path, "width", "out of range");
            return;
        }
        if (p->why) return;
        if (width * height > best_pixels || (width * height == best_pixels && bytes > best_bytes)) {
            best = size;
            best_pixels = width * height;
            best_bytes = bytes;
        }
    }
    if (!best) {
        s_fail(p, path, "[]", "empty");
        return;
    }
    file->file_id = s_get_str(p, best, path, "file_id", true, TG_IN_STRING_MAX);
    file->file_unique_id = s_get_str(p, best, path, "file_unique_id", true, TG_IN_STRING_MAX);
    file->file_size = s_get_int(p, best, path, "file_size", false);
    file->width = s_get_int(p, best, path, "width", true);
    file->height = s_get_int(p, best, path, "height", true);
    file->is_image = true;
}

static void s_parse_document(s_parse_t *p, const json_t *document) {
    if (!document) return;
    tg_attachment_t *file = &p->entry->update.file;
    const char *path = "message.document";
    file->file_id = s_get_str(p, document, path, "file_id", true, TG_IN_STRING_MAX);
    file->file_unique_id = s_get_str(p, document, path, "file_unique_id", true, TG_IN_STRING_MAX);
    file->file_name = s_get_str(p, document, path, "file_name", false, TG_IN_STRING_MAX);
    file->mime_type = s_get_str(p, document, path, "mime_type", false, TG_IN_STRING_MAX);
    file->file_size = s_get_int(p, document, path, "file_size", false);
    for (size_t i = 0; i < sizeof(s_image_types) / sizeof(s_image_types[0]); i++)
        if (strcasecmp(file->mime_type, s_image_types[i]) == 0) file->is_image = true;
}

//  "/name[@bot] [arg]": name is 1..32 of A-Za-z0-9_ (kept lowercase), the
//  bot name is dropped, the argument is the rest, trimmed.
static void s_parse_command(s_parse_t *p, const char *text) {
    static const char name_chars[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_";
    if (text[0] != '/') return;
    size_t name_len = strspn(text + 1, name_chars);
    const char *end = text + 1 + name_len;
    if (name_len == 0 || name_len > TG_COMMAND_MAX) return;
    if (*end == '@') {
        size_t bot_len = strspn(end + 1, name_chars);
        if (bot_len == 0) return;
        end += 1 + bot_len;
    }
    if (*end != '\0' && !strchr(" \t\r\n", *end)) return;
    char name[TG_COMMAND_MAX + 1];
    for (size_t i = 0; i < name_len; i++)
        name[i] = (char)(text[1 + i] >= 'A' && text[1 + i] <= 'Z' ? text[1 + i] + 32 : text[1 + i]);
    p->entry->update.command = s_keep(p, name, name_len);
    const char *arg = end + strspn(end, " \t\r\n");
    size_t arg_len = strlen(arg);
    while (arg_len > 0 && strchr(" \t\r\n", arg[arg_len - 1]))
        arg_len--;
    p->entry->update.command_arg = s_keep(p, arg, arg_len);
}

static void s_fail(s_parse_t *p, const char *path, const char *key, const char *why) {
    if (p->why) return;
    p->path = path;
    p->key = key;
    p->why = why;
}

//  obj[key] when it has the expected type; NULL when absent (a failure if
//  required) or of another type (always a failure).
static const json_t *s_get(s_parse_t *p, const json_t *obj, const char *path, const char *key,
                           bool required, json_type type) {
    const json_t *value = json_object_get(obj, key);
    if (!value) {
        if (required) s_fail(p, path, key, "missing");
        return NULL;
    }
    if (json_typeof(value) != type) {
        s_fail(p, path, key, "wrong type");
        return NULL;
    }
    return value;
}

static int64_t s_get_int(s_parse_t *p, const json_t *obj, const char *path, const char *key,
                         bool required) {
    const json_t *value = s_get(p, obj, path, key, required, JSON_INTEGER);
    return value ? json_integer_value(value) : 0;
}

//  A copy of the string obj[key] owned by the entry; "" when absent.
static const char *s_get_str(s_parse_t *p, const json_t *obj, const char *path, const char *key,
                             bool required, size_t max) {
    const json_t *value = s_get(p, obj, path, key, required, JSON_STRING);
    if (!value) return s_empty;
    size_t len = json_string_length(value);
    if (len > max) {
        s_fail(p, path, key, "too long");
        return s_empty;
    }
    return s_keep(p, json_string_value(value), len);
}

//  Copies len bytes (valid UTF-8, possibly with NULs, which become U+FFFD)
//  into a string the entry owns.
static const char *s_keep(s_parse_t *p, const char *bytes, size_t len) {
    if (p->why) return s_empty;
    if (len == 0) return s_empty;
    size_t nuls = 0;
    for (size_t i = 0; i < len; i++)
        nuls += bytes[i] == '\0';
    size_t size = len + nuls * 2 + 1;
    p->bytes += size;
    if (p->bytes > TG_UPDATE_MAX) {
        s_fail(p, "", "update", "too large");
        return s_empty;
    }
    assert(p->entry->string_count < S_UPDATE_STRINGS);
    char *copy = malloc(size);
    if (!copy) {
        s_fail(p, "", "update", "out of memory");
        return s_empty;
    }
    size_t out = 0;
    for (size_t i = 0; i < len; i++) {
        if (bytes[i] == '\0') {
            memcpy(copy + out, S_REPLACEMENT, 3);
            out += 3;
        } else
            copy[out++] = bytes[i];
    }
    copy[out] = '\0';
    p->entry->strings[p->entry->string_count++] = copy;
    return copy;
}
