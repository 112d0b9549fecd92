/*  tg_request.c — the Bot API requests (see tg.h, "Requests"): one builder
    per method, each checking its input before it builds anything; a
    request serialized as JSON, as a form or as the parts of an upload; the
    method and file paths that carry the token.

    Two tables hold what the code decides: s_media (method, field and upload
    limit per media kind) and s_content_types (file extension -> MIME type
    of an upload).
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE //  asprintf
#endif
#include "tg_internal.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_METHOD_MAX   64
#define S_TOKEN_MAX    256
#define S_PATH_MAX     1024
#define S_FILENAME_MAX 255

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

// --------------------------------------------------------------------------
//  Private types

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

//  A growable byte string; failed sticks after an allocation failure.
typedef struct {
    char *data;
    size_t len, cap;
    bool failed;
} s_buf_t;

static tg_request_t *s_refuse(char *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
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
static bool s_filename_ok(const char *name);
static const char *s_content_type(const char *filename);
static bool s_token_ok(const char *token);
static bool s_method_ok(const char *method);
static bool s_file_path_ok(const char *path);
static void s_buf_add(s_buf_t *buf, const char *bytes, size_t n);
static void s_buf_add_urlencoded(s_buf_t *buf, const char *text);
static char *s_buf_take(s_buf_t *buf);

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
    if (tgi_check_id(url, TG_ID_BYTES_MAX, "url", err) != 0) return NULL;
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
    if (s_check_chat(chat_id, err) != 0 || tgi_check_html(html, TG_TEXT_MAX, false, "text", err))
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
        tgi_check_html(html, TG_TEXT_MAX, false, "text", err) != 0)
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
    if (tgi_check_id(query_id, TG_ID_BYTES_MAX, "callback_query_id", err) != 0) return NULL;
    bool has_text = text && *text;
    if (has_text && tgi_check_plain(text, TG_CALLBACK_ANSWER_MAX, "text", err) != 0) return NULL;
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
        tgi_check_id(media, TG_ID_BYTES_MAX, s_media[kind].field, err) != 0 ||
        tgi_check_html(caption, TG_CAPTION_MAX, true, "caption", err) != 0)
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
        tgi_check_html(caption, TG_CAPTION_MAX, true, "caption", err) != 0)
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
    if (tgi_check_id(file_id, TG_ID_BYTES_MAX, "file_id", err) != 0) return NULL;
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
        if (tgi_check_plain(commands[i].description, TG_COMMAND_DESCRIPTION_MAX, "description",
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
        tgi_check_plain(invoice->title, TG_INVOICE_TITLE_MAX, "title", err) != 0 ||
        tgi_check_plain(invoice->description, TG_INVOICE_DESCRIPTION_MAX, "description", err) !=
            0 ||
        tgi_check_plain(invoice->label, TG_TEXT_MAX, "label", err) != 0)
        return NULL;
    size_t payload_len = invoice->payload ? strlen(invoice->payload) : 0;
    if (payload_len == 0 || payload_len > TG_INVOICE_PAYLOAD_MAX ||
        !tgi_utf8_valid(invoice->payload, payload_len))
        return s_refuse(err, "payload: must be 1..%d bytes of UTF-8", TG_INVOICE_PAYLOAD_MAX);
    if (invoice->stars < 1 || invoice->stars > INT32_MAX)
        return s_refuse(err, "stars: %" PRId64 " is not 1..%d", invoice->stars, INT32_MAX);
    if (keyboard && !tgi_keyboard_starts_with_pay(keyboard))
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
    if (tgi_check_id(query_id, TG_ID_BYTES_MAX, "pre_checkout_query_id", err) != 0) return NULL;
    if (!ok && tgi_check_plain(error_message, TG_TEXT_MAX, "error_message", err) != 0) return NULL;
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
    if (tgi_check_id(charge_id, TG_ID_BYTES_MAX, "telegram_payment_charge_id", err) != 0)
        return NULL;
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
//  Private helpers

//  tgi_err, then NULL: a builder's refusal.
static tg_request_t *s_refuse(char *err, const char *fmt, ...) {
    if (err) {
        va_list args;
        va_start(args, fmt);
        vsnprintf(err, TG_ERR_MAX, fmt, args);
        va_end(args);
    }
    return NULL;
}

static int s_check_chat(int64_t chat_id, char *err) {
    if (chat_id != 0) return 0;
    tgi_err(err, "chat_id: 0 is not a chat");
    return -1;
}

static int s_check_message_id(int64_t message_id, char *err) {
    if (message_id > 0 && message_id <= INT32_MAX) return 0;
    tgi_err(err, "message_id: %" PRId64 " is not a message", message_id);
    return -1;
}

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
    tgi_err(err, "out of memory");
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
