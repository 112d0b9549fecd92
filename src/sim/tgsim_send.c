/*  tgsim_send.c — the methods that put something in a chat or change it:
    sendMessage, sendPhoto, sendVideo, sendDocument, editMessageText,
    editMessageCaption, editMessageReplyMarkup, deleteMessage.

    Order of checks in every handler, like the real server: the chat
    (exists, not blocked), then the content (text, entities, keyboard,
    file), then flood control, and only then the change — so a refused
    call changes nothing and spends no flood budget.
*/
#include "tgsim_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_NOT_MODIFIED                                                                             \
    "Bad Request: message is not modified: specified new message content and reply markup are "    \
    "exactly the same as a current content and reply markup of the message"
#define S_URL_FAILED     "Bad Request: failed to get HTTP URL content"
#define S_VIDEO_WIDTH    720
#define S_VIDEO_HEIGHT   1280
#define S_VIDEO_DURATION 10

//  Where a media send's file comes from, once checked.
typedef struct {
    const char *source; //  "upload", "url", "file_id"
    tgs_upload_t *upload;
    const char *url;
    tgs_file_t *file; //  an existing file (file_id)
    int64_t size;     //  -1 unknown
    bool have_bytes;  //  fetched bytes in the request
} s_input_t;

static int s_text(tgs_request_t *req, const char *text, bool caption, char **plain, char **entities,
                  tgs_reply_t *reply);
static int s_markup(tgs_request_t *req, char **markup_text, tgsim_button_t **buttons, size_t *count,
                    tgs_reply_t *reply);
static void s_send_media(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply, const char *kind);
static int s_input_check(tgsim_t *sim, tgs_request_t *req, const char *kind, s_input_t *input,
                         tgs_reply_t *reply);
static tgs_file_t *s_input_file(tgsim_t *sim, tgs_request_t *req, const char *kind,
                                s_input_t *input);
static tgs_upload_t *s_upload(tgs_request_t *req, const char *field);
static tgs_message_t *s_edit_target(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply,
                                    tgs_chat_t **chat_p);
static bool s_same(const char *a, const char *b);
static void s_finish(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply, tgs_chat_t *chat,
                     tgs_message_t *msg, tgsim_button_t *buttons, size_t count);

//  --------------------------------------------------------------------------

void tgs_m_send_message(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply) {
    tgs_chat_t *chat = tgs_target_chat(sim, req, reply);
    if (!chat) return;
    char *plain = NULL, *entities = NULL, *markup = NULL;
    tgsim_button_t *buttons = NULL;
    size_t count = 0;
    if (s_text(req, tgs_param_str(req, "text"), false, &plain, &entities, reply) != 0) return;
    if (s_markup(req, &markup, &buttons, &count, reply) != 0 ||
        !tgs_flood_ok(sim, req, chat, reply)) {
        free(plain);
        free(entities);
        free(markup);
        tgs_buttons_free(buttons, count);
        return;
    }
    tgs_message_t *msg = tgs_message_add(chat, true, "text");
    msg->text = plain;
    msg->entities = entities;
    tgs_message_set_markup(msg, markup, tgs_buttons_copy(buttons, count), count);
    free(markup);
    s_finish(sim, req, reply, chat, msg, buttons, count);
}

void tgs_m_send_photo(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply) {
    s_send_media(sim, req, reply, "photo");
}

void tgs_m_send_video(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply) {
    s_send_media(sim, req, reply, "video");
}

void tgs_m_send_document(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply) {
    s_send_media(sim, req, reply, "document");
}

//  editMessageText and editMessageCaption: the same checks and the same
//  change, on the text or on the caption.
static void s_edit_text_or_caption(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply,
                                   bool caption) {
    tgs_chat_t *chat = NULL;
    tgs_message_t *msg = s_edit_target(sim, req, reply, &chat);
    if (!msg) return;
    if (!caption && (msg->caption || !streq(msg->kind, "text"))) {
        tgs_reply_error(reply, 400, "Bad Request: there is no text in the message to edit");
        return;
    }
    if (caption && (streq(msg->kind, "text") || streq(msg->kind, "invoice"))) {
        tgs_reply_error(reply, 400, "Bad Request: there is no caption in the message to edit");
        return;
    }
    char *plain = NULL, *entities = NULL, *markup = NULL;
    tgsim_button_t *buttons = NULL;
    size_t count = 0;
    if (s_text(req, tgs_param_str(req, caption ? "caption" : "text"), caption, &plain, &entities,
               reply) != 0)
        return;
    int rc = s_markup(req, &markup, &buttons, &count, reply);
    if (rc == 0 && s_same(plain, msg->text) && s_same(entities, msg->entities) &&
        s_same(markup, msg->markup)) {
        tgs_reply_error(reply, 400, S_NOT_MODIFIED);
        rc = -1;
    }
    if (rc != 0 || !tgs_flood_ok(sim, req, chat, reply)) {
        free(plain);
        free(entities);
        free(markup);
        tgs_buttons_free(buttons, count);
        return;
    }
    free(msg->text);
    free(msg->entities);
    msg->text = plain;
    msg->entities = entities;
    if (caption) msg->caption = true;
    tgs_message_set_markup(msg, markup, tgs_buttons_copy(buttons, count), count);
    free(markup);
    msg->edits++;
    msg->edit_date = tgs_unix_now();
    s_finish(sim, req, reply, chat, msg, buttons, count);
}

void tgs_m_edit_text(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply) {
    s_edit_text_or_caption(sim, req, reply, false);
}

void tgs_m_edit_caption(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply) {
    s_edit_text_or_caption(sim, req, reply, true);
}

void tgs_m_edit_markup(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply) {
    tgs_chat_t *chat = NULL;
    tgs_message_t *msg = s_edit_target(sim, req, reply, &chat);
    if (!msg) return;
    char *markup = NULL;
    tgsim_button_t *buttons = NULL;
    size_t count = 0;
    int rc = s_markup(req, &markup, &buttons, &count, reply);
    if (rc == 0 && s_same(markup, msg->markup)) {
        tgs_reply_error(reply, 400, S_NOT_MODIFIED);
        rc = -1;
    }
    if (rc != 0 || !tgs_flood_ok(sim, req, chat, reply)) {
        free(markup);
        tgs_buttons_free(buttons, count);
        return;
    }
    tgs_message_set_markup(msg, markup, tgs_buttons_copy(buttons, count), count);
    free(markup);
    msg->edits++;
    msg->edit_date = tgs_unix_now();
    s_finish(sim, req, reply, chat, msg, buttons, count);
}

void tgs_m_delete_message(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply) {
    int64_t chat_id = 0, message_id = 0;
    if (!tgs_param_int(req, "chat_id", &chat_id)) {
        tgs_reply_error(reply, 400, "Bad Request: chat_id is empty");
        return;
    }
    req->call->chat_id = chat_id;
    tgs_chat_t *chat = tgs_chat(sim, chat_id);
    if (!chat) {
        tgs_reply_error(reply, 400, "Bad Request: chat not found");
        return;
    }
    if (!tgs_param_int(req, "message_id", &message_id)) {
        tgs_reply_error(reply, 400, "Bad Request: message identifier is not specified");
        return;
    }
    req->call->message_id = message_id;
    tgs_message_t *msg = tgs_chat_message(chat, message_id);
    if (!msg || msg->deleted) {
        tgs_reply_error(reply, 400, "Bad Request: message to delete not found");
        return;
    }
    msg->deleted = true;
    pthread_cond_broadcast(&sim->changed);
}

const char *tgs_media_url(tgs_request_t *req, const char *method) {
    const char *field = strcasecmp(method, "sendPhoto") == 0      ? "photo"
                        : strcasecmp(method, "sendVideo") == 0    ? "video"
                        : strcasecmp(method, "sendDocument") == 0 ? "document"
                                                                  : NULL;
    if (!field || s_upload(req, field)) return NULL;
    const char *value = json_string_value(json_object_get(req->params, field));
    if (value && (strncmp(value, "http://", 7) == 0 || strncmp(value, "https://", 8) == 0))
        return value;
    return NULL;
}

//  --------------------------------------------------------------------------

//  Checks text (or a caption: may be absent) and parses its entities.
static int s_text(tgs_request_t *req, const char *text, bool caption, char **plain, char **entities,
                  tgs_reply_t *reply) {
    const char *parse_mode = tgs_param_str(req, "parse_mode");
    req->call->text = tgs_strdup(text);
    req->call->parse_mode = tgs_strdup(parse_mode);
    *plain = NULL;
    *entities = NULL;
    if (parse_mode && *parse_mode && strcasecmp(parse_mode, "HTML") != 0 &&
        strcasecmp(parse_mode, "MarkdownV2") != 0 && strcasecmp(parse_mode, "Markdown") != 0) {
        tgs_reply_errorf(reply, 400, "Bad Request: unsupported parse_mode \"%s\"", parse_mode);
        return -1;
    }
    if (!text) {
        if (caption) return 0;
        tgs_reply_error(reply, 400, "Bad Request: message text is empty");
        return -1;
    }
    bool html = parse_mode && strcasecmp(parse_mode, "HTML") == 0;
    char error[TGS_ERROR_MAX];
    size_t units = 0;
    if (tgs_parse_text(text, html, plain, entities, &units, error, sizeof error) != 0) {
        tgs_reply_errorf(reply, 400, "Bad Request: %s", error);
        return -1;
    }
    size_t blank = strspn(*plain, " \t\r\n");
    const char *problem = NULL;
    if (!caption && (*plain)[blank] == '\0')
        problem = "Bad Request: message text is empty";
    else if (!caption && units > TGSIM_TEXT_MAX)
        problem = "Bad Request: message is too long";
    else if (caption && units > TGSIM_CAPTION_MAX)
        problem = "Bad Request: message caption is too long";
    if (problem) {
        tgs_reply_error(reply, 400, problem);
        free(*plain);
        free(*entities);
        *plain = *entities = NULL;
        return -1;
    }
    if (caption && (*plain)[blank] == '\0') {
        free(*plain);
        *plain = NULL;
    }
    return 0;
}

//  reply_markup, if any: its canonical JSON (keys sorted, so equal
//  keyboards compare equal) and its inline buttons.
static int s_markup(tgs_request_t *req, char **markup_text, tgsim_button_t **buttons, size_t *count,
                    tgs_reply_t *reply) {
    bool malformed = false;
    json_t *markup = tgs_param_json(req, "reply_markup", &malformed);
    *markup_text = NULL;
    *buttons = NULL;
    *count = 0;
    if (malformed) {
        tgs_reply_error(reply, 400, "Bad Request: can't parse reply keyboard markup JSON object");
        return -1;
    }
    if (!markup) return 0;
    char error[TGS_ERROR_MAX];
    if (tgs_parse_markup(markup, buttons, count, error, sizeof error) != 0) {
        tgs_reply_errorf(reply, 400, "Bad Request: %s", error);
        return -1;
    }
    *markup_text = json_dumps(markup, JSON_COMPACT | JSON_SORT_KEYS);
    return 0;
}

static void s_send_media(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply, const char *kind) {
    tgs_chat_t *chat = tgs_target_chat(sim, req, reply);
    if (!chat) return;
    char *plain = NULL, *entities = NULL, *markup = NULL;
    tgsim_button_t *buttons = NULL;
    size_t count = 0;
    s_input_t input;
    if (s_text(req, tgs_param_str(req, "caption"), true, &plain, &entities, reply) != 0) return;
    if (s_markup(req, &markup, &buttons, &count, reply) != 0 ||
        s_input_check(sim, req, kind, &input, reply) != 0 || !tgs_flood_ok(sim, req, chat, reply)) {
        free(plain);
        free(entities);
        free(markup);
        tgs_buttons_free(buttons, count);
        return;
    }
    tgs_file_t *file = s_input_file(sim, req, kind, &input);
    tgs_message_t *msg = tgs_message_add(chat, true, file->kind);
    msg->text = plain;
    msg->entities = entities;
    msg->caption = true;
    msg->file_id = tgs_strdup(file->file_id);
    msg->file_name = tgs_strdup(file->file_name);
    msg->file_size = file->size;
    if (streq(file->kind, "photo"))
        msg->fields = json_pack("{s:O}", "photo", file->photo);
    else {
        json_t *media = tgs_file_json(file);
        if (file->file_name) json_object_set_new(media, "file_name", json_string(file->file_name));
        if (file->mime_type) json_object_set_new(media, "mime_type", json_string(file->mime_type));
        if (streq(file->kind, "video")) {
            int64_t width = S_VIDEO_WIDTH, height = S_VIDEO_HEIGHT, duration = S_VIDEO_DURATION;
            tgs_param_int(req, "width", &width);
            tgs_param_int(req, "height", &height);
            tgs_param_int(req, "duration", &duration);
            json_object_set_new(media, "width", json_integer(width));
            json_object_set_new(media, "height", json_integer(height));
            json_object_set_new(media, "duration", json_integer(duration));
        }
        msg->fields = json_pack("{s:o}", file->kind, media);
    }
    tgs_message_set_markup(msg, markup, tgs_buttons_copy(buttons, count), count);
    free(markup);
    tgsim_call_t *call = req->call;
    call->media_kind = tgs_strdup(kind);
    call->media_source = tgs_strdup(input.source);
    call->file_name = tgs_strdup(input.upload ? input.upload->filename : file->file_name);
    call->mime_type = tgs_strdup(input.upload ? input.upload->content_type : file->mime_type);
    call->file_size = input.size;
    call->file_id = tgs_strdup(file->file_id);
    call->url = tgs_strdup(input.url);
    s_finish(sim, req, reply, chat, msg, buttons, count);
}

static int s_input_check(tgsim_t *sim, tgs_request_t *req, const char *kind, s_input_t *input,
                         tgs_reply_t *reply) {
    memset(input, 0, sizeof *input);
    input->size = -1;
    bool photo = streq(kind, "photo");
    const char *value = json_string_value(json_object_get(req->params, kind));
    input->upload = s_upload(req, kind);
    if (!input->upload && value && strncmp(value, "attach://", 9) == 0)
        input->upload = s_upload(req, value + 9);
    if (input->upload) {
        input->source = "upload";
        input->size = (int64_t)input->upload->total;
        if (input->upload->total == 0) {
            tgs_reply_error(reply, 400, "Bad Request: file must be non-empty");
            return -1;
        }
        if (photo && input->upload->total > TGSIM_PHOTO_UPLOAD_MAX) {
            tgs_reply_error(reply, 400, "Bad Request: PHOTO_SAVE_FILE_INVALID");
            return -1;
        }
        return 0;
    }
    if (!value || !*value || strncmp(value, "attach://", 9) == 0) {
        tgs_reply_errorf(reply, 400, "Bad Request: there is no %s in the request", kind);
        return -1;
    }
    if (strncmp(value, "http://", 7) == 0 || strncmp(value, "https://", 8) == 0) {
        input->source = "url";
        input->url = value;
        const char *declared = zhashx_lookup(sim->url_sizes, value);
        if (declared)
            input->size = strtoll(declared, NULL, 10);
        else if (req->fetch_done && !req->fetch_failed) {
            input->size = req->fetch_too_big ? TGSIM_URL_MAX_BYTES + 1 : (int64_t)req->fetched_size;
            input->have_bytes = !req->fetch_too_big;
        }
        int64_t limit = photo ? TGSIM_PHOTO_URL_MAX : TGSIM_URL_MAX_BYTES;
        if ((!declared && req->fetch_done && req->fetch_failed) || input->size > limit) {
            tgs_reply_error(reply, 400, S_URL_FAILED);
            return -1;
        }
        return 0;
    }
    input->source = "file_id";
    input->file = zhashx_lookup(sim->files, value);
    if (!input->file) {
        tgs_reply_error(reply, 400, "Bad Request: wrong file identifier/HTTP URL specified");
        return -1;
    }
    bool fits = streq(input->file->kind, kind) ||
                (streq(kind, "document") && !streq(input->file->kind, "photo"));
    if (!fits) {
        tgs_reply_error(reply, 400, "Bad Request: type of file mismatch");
        return -1;
    }
    input->size = input->file->size;
    return 0;
}

//  The file of a checked input: new for uploads and URLs, else the known one.
static tgs_file_t *s_input_file(tgsim_t *sim, tgs_request_t *req, const char *kind,
                                s_input_t *input) {
    if (input->file) return input->file;
    tgs_blob_t *blob = NULL;
    const char *name = NULL, *mime = NULL;
    if (input->upload) {
        tgs_upload_t *upload = input->upload;
        blob = tgs_blob_new(sim, sim->opts.discard_uploads ? NULL : upload->data, upload->size);
        name = upload->filename;
        mime = upload->content_type;
    } else {
        if (input->have_bytes) blob = tgs_blob_new(sim, req->fetched, req->fetched_size);
        const char *slash = strrchr(input->url, '/');
        name = slash && slash[1] ? slash + 1 : NULL;
    }
    if (streq(kind, "photo")) return tgs_photo_new(sim, blob, input->size);
    if (!mime || !*mime || streq(mime, "application/octet-stream"))
        mime = streq(kind, "video") ? "video/mp4" : mime;
    return tgs_file_new(sim, kind, blob, input->size, name, mime);
}

static tgs_upload_t *s_upload(tgs_request_t *req, const char *field) {
    for (size_t i = 0; i < req->upload_count; i++)
        if (streq(req->uploads[i].field, field)) return &req->uploads[i];
    return NULL;
}

//  The message an edit names (chat_id + message_id), checked.
static tgs_message_t *s_edit_target(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply,
                                    tgs_chat_t **chat_p) {
    if (!json_object_get(req->params, "chat_id") &&
        json_object_get(req->params, "inline_message_id")) {
        tgs_reply_error(reply, 400, "Bad Request: MESSAGE_ID_INVALID");
        return NULL;
    }
    tgs_chat_t *chat = tgs_target_chat(sim, req, reply);
    if (!chat) return NULL;
    int64_t message_id = 0;
    if (!tgs_param_int(req, "message_id", &message_id)) {
        tgs_reply_error(reply, 400, "Bad Request: message identifier is not specified");
        return NULL;
    }
    req->call->message_id = message_id;
    tgs_message_t *msg = tgs_chat_message(chat, message_id);
    if (!msg || msg->deleted) {
        tgs_reply_error(reply, 400, "Bad Request: message to edit not found");
        return NULL;
    }
    if (!msg->from_bot) {
        tgs_reply_error(reply, 400, "Bad Request: message can't be edited");
        return NULL;
    }
    *chat_p = chat;
    return msg;
}

static bool s_same(const char *a, const char *b) {
    return (!a && !b) || (a && b && streq(a, b));
}

//  Completes the call record and the answer after a change. Takes buttons.
static void s_finish(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply, tgs_chat_t *chat,
                     tgs_message_t *msg, tgsim_button_t *buttons, size_t count) {
    req->call->message_id = msg->message_id;
    req->call->plain = tgs_strdup(msg->text);
    req->call->buttons = buttons;
    req->call->button_count = count;
    reply->result = tgs_message_json(sim, chat, msg);
    pthread_cond_broadcast(&sim->changed);
}
