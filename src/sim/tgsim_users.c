/*  tgsim_users.c — what fake users do. Each action adds what the user sent
    to the chat (when it is a message) and queues the one update Telegram
    would send for it, returning its update_id (-1 when the user is unknown,
    a group, or has blocked the bot, or an argument is bad).
*/
#include "tgsim_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_STICKER_EMOJI "👍"
#define S_STICKER_SIDE  512

//  A few bytes shaped like a WebP file: stickers are never decoded here.
static const unsigned char s_sticker_bytes[] = {'R', 'I', 'F',  'F', 18,  0,   0,   0, 'W',
                                                'E', 'B', 'P',  'V', 'P', '8', 'L', 6, 0,
                                                0,   0,   0x2f, 0,   0,   0,   0,   0};

static tgs_chat_t *s_user(tgsim_t *sim, int64_t user_id);
static int64_t s_push_message(tgsim_t *sim, tgs_chat_t *chat, tgs_message_t *msg);
static int64_t s_press(tgsim_t *sim, tgs_chat_t *chat, tgs_message_t *msg, const char *data);
static int64_t s_pay(tgsim_t *sim, tgs_chat_t *chat, const char *payload, int64_t amount);

//  --------------------------------------------------------------------------

int64_t tgsim_send_text(tgsim_t *self, int64_t user_id, const char *text) {
    assert(self);
    if (!text) return -1;
    pthread_mutex_lock(&self->lock);
    tgs_chat_t *chat = s_user(self, user_id);
    int64_t update_id = -1;
    if (chat) {
        tgs_message_t *msg = tgs_message_add(chat, false, "text");
        msg->text = tgs_strdup(text);
        if (text[0] == '/') {
            size_t units = 0;
            for (const unsigned char *p = (const unsigned char *)text; *p && *p != ' '; p++)
                if ((*p & 0xC0) != 0x80) units += (*p & 0xF8) == 0xF0 ? 2 : 1;
            msg->fields = json_pack("{s:[{s:i, s:I, s:s}]}", "entities", "offset", 0, "length",
                                    (json_int_t)units, "type", "bot_command");
        }
        update_id = s_push_message(self, chat, msg);
    }
    pthread_mutex_unlock(&self->lock);
    return update_id;
}

int64_t tgsim_send_photo(tgsim_t *self, int64_t user_id, const void *jpeg, size_t size,
                         const char *caption) {
    assert(self);
    if (!jpeg) {
        jpeg = tgsim_sample_jpeg;
        size = tgsim_sample_jpeg_size;
    }
    pthread_mutex_lock(&self->lock);
    tgs_chat_t *chat = s_user(self, user_id);
    int64_t update_id = -1;
    if (chat) {
        tgs_file_t *file = tgs_photo_new(self, tgs_blob_new(self, jpeg, size), (int64_t)size);
        tgs_message_t *msg = tgs_message_add(chat, false, "photo");
        msg->text = tgs_strdup(caption);
        msg->caption = true;
        msg->file_id = tgs_strdup(file->file_id);
        msg->file_size = file->size;
        msg->fields = json_pack("{s:O}", "photo", file->photo);
        update_id = s_push_message(self, chat, msg);
    }
    pthread_mutex_unlock(&self->lock);
    return update_id;
}

int64_t tgsim_send_document(tgsim_t *self, int64_t user_id, const void *bytes, size_t size,
                            const char *file_name, const char *mime_type) {
    assert(self);
    if (!bytes) {
        bytes = tgsim_sample_jpeg;
        size = tgsim_sample_jpeg_size;
    }
    pthread_mutex_lock(&self->lock);
    tgs_chat_t *chat = s_user(self, user_id);
    int64_t update_id = -1;
    if (chat) {
        tgs_file_t *file = tgs_file_new(self, "document", tgs_blob_new(self, bytes, size),
                                        (int64_t)size, file_name, mime_type);
        tgs_message_t *msg = tgs_message_add(chat, false, "document");
        msg->file_id = tgs_strdup(file->file_id);
        msg->file_name = tgs_strdup(file_name);
        msg->file_size = file->size;
        json_t *document = tgs_file_json(file);
        if (file_name) json_object_set_new(document, "file_name", json_string(file_name));
        if (mime_type) json_object_set_new(document, "mime_type", json_string(mime_type));
        msg->fields = json_pack("{s:o}", "document", document);
        update_id = s_push_message(self, chat, msg);
    }
    pthread_mutex_unlock(&self->lock);
    return update_id;
}

int64_t tgsim_send_sticker(tgsim_t *self, int64_t user_id, const char *emoji) {
    assert(self);
    pthread_mutex_lock(&self->lock);
    tgs_chat_t *chat = s_user(self, user_id);
    int64_t update_id = -1;
    if (chat) {
        tgs_file_t *file = tgs_file_new(self, "sticker",
                                        tgs_blob_new(self, s_sticker_bytes, sizeof s_sticker_bytes),
                                        (int64_t)sizeof s_sticker_bytes, NULL, "image/webp");
        tgs_message_t *msg = tgs_message_add(chat, false, "sticker");
        msg->file_id = tgs_strdup(file->file_id);
        msg->file_size = file->size;
        json_t *sticker = tgs_file_json(file);
        json_object_update_new(sticker, json_pack("{s:s, s:i, s:i, s:b, s:b, s:s, s:s}", "type",
                                                  "regular", "width", S_STICKER_SIDE, "height",
                                                  S_STICKER_SIDE, "is_animated", 0, "is_video", 0,
                                                  "emoji", emoji ? emoji : S_STICKER_EMOJI,
                                                  "set_name", "GenbotSimStickers"));
        msg->fields = json_pack("{s:o}", "sticker", sticker);
        update_id = s_push_message(self, chat, msg);
    }
    pthread_mutex_unlock(&self->lock);
    return update_id;
}

int64_t tgsim_press(tgsim_t *self, int64_t user_id, int64_t message_id, const char *callback_data) {
    assert(self);
    if (!callback_data) return -1;
    pthread_mutex_lock(&self->lock);
    tgs_chat_t *chat = s_user(self, user_id);
    tgs_message_t *msg = chat ? tgs_chat_message(chat, message_id) : NULL;
    int64_t update_id = msg ? s_press(self, chat, msg, callback_data) : -1;
    pthread_mutex_unlock(&self->lock);
    return update_id;
}

int64_t tgsim_press_button(tgsim_t *self, int64_t user_id, int64_t message_id, size_t index) {
    assert(self);
    pthread_mutex_lock(&self->lock);
    tgs_chat_t *chat = s_user(self, user_id);
    tgs_message_t *msg = chat ? tgs_chat_message(chat, message_id) : NULL;
    int64_t update_id = -1;
    if (msg && index < msg->button_count && msg->buttons[index].callback_data)
        update_id = s_press(self, chat, msg, msg->buttons[index].callback_data);
    pthread_mutex_unlock(&self->lock);
    return update_id;
}

int64_t tgsim_press_label(tgsim_t *self, int64_t user_id, int64_t message_id, const char *label) {
    assert(self);
    if (!label) return -1;
    pthread_mutex_lock(&self->lock);
    tgs_chat_t *chat = s_user(self, user_id);
    int64_t update_id = -1;
    for (size_t m = chat ? chat->count : 0; m > 0 && update_id < 0; m--) {
        tgs_message_t *msg = chat->messages[m - 1];
        if ((message_id && msg->message_id != message_id) || msg->deleted || !msg->from_bot)
            continue;
        for (size_t i = 0; i < msg->button_count; i++)
            if (msg->buttons[i].callback_data && strstr(msg->buttons[i].text, label)) {
                update_id = s_press(self, chat, msg, msg->buttons[i].callback_data);
                break;
            }
        if (message_id) break;
    }
    pthread_mutex_unlock(&self->lock);
    return update_id;
}

int64_t tgsim_block(tgsim_t *self, int64_t user_id, bool blocked) {
    assert(self);
    pthread_mutex_lock(&self->lock);
    tgs_chat_t *chat = tgs_chat(self, user_id);
    int64_t update_id = -1;
    if (chat && !chat->group && chat->blocked != blocked) {
        chat->blocked = blocked;
        json_t *bot = tgs_bot_json(self);
        json_t *update = json_pack(
            "{s:{s:o, s:o, s:I, s:{s:O, s:s}, s:{s:O, s:s}}}", "my_chat_member", "chat",
            tgs_chat_json(chat), "from", tgs_user_json(chat), "date", (json_int_t)tgs_unix_now(),
            "old_chat_member", "user", bot, "status", blocked ? "member" : "kicked",
            "new_chat_member", "user", bot, "status", blocked ? "kicked" : "member");
        json_decref(bot);
        if (blocked) {
            json_t *member =
                json_object_get(json_object_get(update, "my_chat_member"), "new_chat_member");
            json_object_set_new(member, "until_date", json_integer(0));
        }
        update_id = tgs_update_push(self, chat->id, update);
    }
    pthread_mutex_unlock(&self->lock);
    return update_id;
}

int64_t tgsim_pay(tgsim_t *self, int64_t user_id, const char *invoice_payload, int64_t amount) {
    assert(self);
    if (!invoice_payload || amount <= 0) return -1;
    pthread_mutex_lock(&self->lock);
    tgs_chat_t *chat = s_user(self, user_id);
    int64_t update_id = chat ? s_pay(self, chat, invoice_payload, amount) : -1;
    pthread_mutex_unlock(&self->lock);
    return update_id;
}

int64_t tgsim_pay_invoice(tgsim_t *self, int64_t user_id, int64_t message_id) {
    assert(self);
    pthread_mutex_lock(&self->lock);
    tgs_chat_t *chat = s_user(self, user_id);
    int64_t update_id = -1;
    for (size_t m = chat ? chat->count : 0; m > 0; m--) {
        tgs_message_t *msg = chat->messages[m - 1];
        if ((message_id && msg->message_id != message_id) || msg->deleted || !msg->from_bot ||
            !streq(msg->kind, "invoice"))
            continue;
        update_id = s_pay(self, chat, msg->payload, msg->amount);
        break;
    }
    pthread_mutex_unlock(&self->lock);
    return update_id;
}

int64_t tgsim_send_raw_update(tgsim_t *self, const char *json) {
    assert(self);
    if (!json) return -1;
    json_t *parsed = json_loads(json, JSON_DECODE_ANY, NULL);
    pthread_mutex_lock(&self->lock);
    int64_t update_id;
    if (json_is_object(parsed))
        update_id = tgs_update_push(self, 0, parsed);
    else {
        json_decref(parsed);
        update_id = tgs_update_push_raw(self, 0, json);
    }
    pthread_mutex_unlock(&self->lock);
    return update_id;
}

//  --------------------------------------------------------------------------

//  A private chat whose user may act. Lock held.
static tgs_chat_t *s_user(tgsim_t *sim, int64_t user_id) {
    tgs_chat_t *chat = tgs_chat(sim, user_id);
    return chat && !chat->group && !chat->blocked ? chat : NULL;
}

static int64_t s_push_message(tgsim_t *sim, tgs_chat_t *chat, tgs_message_t *msg) {
    json_t *update = json_pack("{s:o}", "message", tgs_message_json(sim, chat, msg));
    return tgs_update_push(sim, chat->id, update);
}

static int64_t s_press(tgsim_t *sim, tgs_chat_t *chat, tgs_message_t *msg, const char *data) {
    if (msg->deleted || !msg->from_bot) return -1;
    tgs_query_t *query = tgs_query_new(sim, chat->id, false);
    query->message_id = msg->message_id;
    char chat_instance[32];
    snprintf(chat_instance, sizeof chat_instance, "-%" PRIu64,
             (uint64_t)(((uint64_t)chat->id * 0x9E3779B97F4A7C15ULL) >> 1));
    json_t *update =
        json_pack("{s:{s:s, s:o, s:o, s:s, s:s}}", "callback_query", "id", query->id, "from",
                  tgs_user_json(chat), "message", tgs_message_json(sim, chat, msg), "chat_instance",
                  chat_instance, "data", data);
    query->update_id = tgs_update_push(sim, chat->id, update);
    char key[32];
    snprintf(key, sizeof key, "%" PRId64, query->update_id);
    zhashx_insert(sim->query_updates, key, query);
    return query->update_id;
}

static int64_t s_pay(tgsim_t *sim, tgs_chat_t *chat, const char *payload, int64_t amount) {
    if (!payload) return -1;
    tgs_query_t *query = tgs_query_new(sim, chat->id, true);
    query->payload = tgs_strdup(payload);
    query->amount = amount;
    json_t *update = json_pack("{s:{s:s, s:o, s:s, s:I, s:s}}", "pre_checkout_query", "id",
                               query->id, "from", tgs_user_json(chat), "currency", "XTR",
                               "total_amount", (json_int_t)amount, "invoice_payload", payload);
    query->update_id = tgs_update_push(sim, chat->id, update);
    char key[32];
    snprintf(key, sizeof key, "%" PRId64, query->update_id);
    zhashx_insert(sim->query_updates, key, query);
    return query->update_id;
}
