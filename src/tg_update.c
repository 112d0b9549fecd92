/*  tg_update.c — updates (see tg.h, "Updates"): a getUpdates result or a
    webhook body parsed into normalized tg_update_t values that own copies
    of their strings; the webhook's secret check. One table, s_other_types
    (message fields that make an OTHER_MESSAGE), decides which messages
    get a hint.

    Parsing trusts nothing: each field is looked up with its expected type;
    a wrong type or a missing required field makes that update malformed
    (counted, its update_id kept when readable), never the whole batch.
*/
#include "tg_internal.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_UPDATE_STRINGS 24 //  strings one update may own

static const char s_empty[] = "";

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
        tgi_copy_cut(self->error, sizeof(self->error),
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
            memcpy(copy + out, TGI_REPLACEMENT, 3);
            out += 3;
        } else
            copy[out++] = bytes[i];
    }
    copy[out] = '\0';
    p->entry->strings[p->entry->string_count++] = copy;
    return copy;
}
