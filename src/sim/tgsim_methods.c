/*  tgsim_methods.c — the method table and the methods that are not about
    sending or editing messages: getMe, getUpdates, webhooks, commands, chat
    actions, callback answers, getFile and Stars payments. Also the shared
    parameter readers and error replies.

    Handlers run with the lock held and fill `reply` (status 0 = ok with
    reply->result, or true when result is NULL) and what they know of the
    call record. Error descriptions are the real server's where known
    (reference/telegram-api.md); the rest are close approximations.
*/
#include "tgsim_internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_QUERY_INVALID                                                                            \
    "Bad Request: query is too old and response timeout expired or query ID is invalid"
#define S_ANSWER_TEXT_MAX  200
#define S_COMMAND_MAX      32
#define S_COMMAND_DESC_MAX 256
#define S_TITLE_MAX        32
#define S_DESCRIPTION_MAX  255
#define S_PAYLOAD_MAX      128
#define S_CHARGE_ID_CHARS  40

static void s_get_me(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply);
static void s_get_updates(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply);
static void s_set_webhook(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply);
static void s_delete_webhook(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply);
static void s_get_webhook_info(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply);
static void s_set_commands(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply);
static void s_get_commands(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply);
static void s_delete_commands(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply);
static void s_chat_action(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply);
static void s_answer_callback(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply);
static void s_get_file(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply);
static void s_send_invoice(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply);
static void s_answer_precheckout(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply);
static void s_refund(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply);
static void s_confirm_all(tgsim_t *sim);
static size_t s_chars(const char *text);

//  One row per method: the only place to add one.
static const tgs_method_t s_methods[] = {
    {"getMe", s_get_me, false},
    {"getUpdates", s_get_updates, false},
    {"setWebhook", s_set_webhook, false},
    {"deleteWebhook", s_delete_webhook, false},
    {"getWebhookInfo", s_get_webhook_info, false},
    {"setMyCommands", s_set_commands, false},
    {"getMyCommands", s_get_commands, false},
    {"deleteMyCommands", s_delete_commands, false},
    {"sendChatAction", s_chat_action, false},
    {"sendMessage", tgs_m_send_message, true},
    {"editMessageText", tgs_m_edit_text, true},
    {"editMessageCaption", tgs_m_edit_caption, true},
    {"editMessageReplyMarkup", tgs_m_edit_markup, true},
    {"deleteMessage", tgs_m_delete_message, false},
    {"answerCallbackQuery", s_answer_callback, false},
    {"sendPhoto", tgs_m_send_photo, true},
    {"sendVideo", tgs_m_send_video, true},
    {"sendDocument", tgs_m_send_document, true},
    {"getFile", s_get_file, false},
    {"sendInvoice", s_send_invoice, true},
    {"answerPreCheckoutQuery", s_answer_precheckout, false},
    {"refundStarPayment", s_refund, false},
};

//  --------------------------------------------------------------------------

const tgs_method_t *tgs_method_find(const char *name) {
    for (size_t i = 0; i < sizeof s_methods / sizeof s_methods[0]; i++)
        if (strcasecmp(s_methods[i].name, name) == 0) return &s_methods[i];
    return NULL;
}

void tgs_reply_error(tgs_reply_t *reply, int status, const char *description) {
    free(reply->description);
    json_decref(reply->result);
    reply->result = NULL;
    reply->status = status;
    reply->description = tgs_strdup(description);
}

void tgs_reply_errorf(tgs_reply_t *reply, int status, const char *format, ...) {
    char description[TGS_ERROR_MAX + 64];
    va_list args;
    va_start(args, format);
    vsnprintf(description, sizeof description, format, args);
    va_end(args);
    tgs_reply_error(reply, status, description);
}

//  Readers never change req->params (it is recorded as received): what
//  they convert is kept in req->scratch.
const char *tgs_param_str(tgs_request_t *req, const char *name) {
    json_t *value = json_object_get(req->params, name);
    if (json_is_string(value)) return json_string_value(value);
    if (!json_is_number(value) && !json_is_boolean(value)) return NULL;
    json_t *converted = json_object_get(req->scratch, name);
    if (!json_is_string(converted)) {
        char *text = json_dumps(value, JSON_ENCODE_ANY);
        converted = json_string(text);
        json_object_set_new(req->scratch, name, converted);
        free(text);
    }
    return json_string_value(converted);
}

bool tgs_param_int(tgs_request_t *req, const char *name, int64_t *result) {
    json_t *value = json_object_get(req->params, name);
    if (json_is_integer(value)) {
        *result = json_integer_value(value);
        return true;
    }
    if (json_is_real(value) && json_real_value(value) == (double)(int64_t)json_real_value(value)) {
        *result = (int64_t)json_real_value(value);
        return true;
    }
    const char *text = json_string_value(value);
    if (!text || !*text) return false;
    char *end = NULL;
    long long parsed = strtoll(text, &end, 10);
    if (*end) return false;
    *result = parsed;
    return true;
}

bool tgs_param_bool(tgs_request_t *req, const char *name, bool fallback) {
    json_t *value = json_object_get(req->params, name);
    if (json_is_boolean(value)) return json_is_true(value);
    if (json_is_integer(value)) return json_integer_value(value) != 0;
    const char *text = json_string_value(value);
    if (text && (strcasecmp(text, "true") == 0 || streq(text, "1"))) return true;
    if (text && (strcasecmp(text, "false") == 0 || streq(text, "0"))) return false;
    return fallback;
}

//  An object or array parameter, parsed from a string when it is one. NULL
//  when absent, or malformed (*malformed set).
json_t *tgs_param_json(tgs_request_t *req, const char *name, bool *malformed) {
    *malformed = false;
    json_t *value = json_object_get(req->params, name);
    if (!value || json_is_null(value)) return NULL;
    if (json_is_object(value) || json_is_array(value)) return value;
    json_t *parsed = json_object_get(req->scratch, name);
    if (json_is_object(parsed) || json_is_array(parsed)) return parsed;
    const char *text = json_string_value(value);
    parsed = text && *text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
    if (!parsed || !(json_is_object(parsed) || json_is_array(parsed))) {
        json_decref(parsed);
        *malformed = true;
        return NULL;
    }
    json_object_set_new(req->scratch, name, parsed);
    return parsed;
}

tgs_chat_t *tgs_target_chat(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply) {
    const char *text = tgs_param_str(req, "chat_id");
    int64_t chat_id = 0;
    if (!text || !*text) {
        tgs_reply_error(reply, 400, "Bad Request: chat_id is empty");
        return NULL;
    }
    tgs_chat_t *chat = tgs_param_int(req, "chat_id", &chat_id) ? tgs_chat(sim, chat_id) : NULL;
    req->call->chat_id = chat_id;
    if (!chat) {
        tgs_reply_error(reply, 400, "Bad Request: chat not found");
        return NULL;
    }
    if (chat->blocked) {
        tgs_reply_error(reply, 403, TGSIM_BLOCKED);
        return NULL;
    }
    return chat;
}

bool tgs_flood_ok(tgsim_t *sim, tgs_request_t *req, tgs_chat_t *chat, tgs_reply_t *reply) {
    if (!req->method->counted) return true;
    int retry_after = tgs_limits_take(sim, chat, tgsim_clock_ms());
    if (retry_after == 0) return true;
    tgs_reply_errorf(reply, 429, "Too Many Requests: retry after %d", retry_after);
    reply->retry_after = retry_after;
    return false;
}

//  --------------------------------------------------------------------------

static void s_get_me(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply) {
    (void)req;
    json_t *me = tgs_bot_json(sim);
    json_object_set_new(me, "can_join_groups", json_true());
    json_object_set_new(me, "can_read_all_group_messages", json_false());
    json_object_set_new(me, "supports_inline_queries", json_false());
    json_object_set_new(me, "can_connect_to_business", json_false());
    json_object_set_new(me, "has_main_web_app", json_false());
    reply->result = me;
}

static void s_get_updates(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply) {
    if (sim->webhook_url) {
        tgs_reply_error(reply, 409, TGSIM_CONFLICT_WEBHOOK);
        return;
    }
    int64_t offset = 0, limit = 100, timeout = 0;
    bool has_offset = tgs_param_int(req, "offset", &offset);
    tgs_param_int(req, "limit", &limit);
    tgs_param_int(req, "timeout", &timeout);
    limit = limit < 1 ? 1 : limit > 100 ? 100 : limit;
    timeout = timeout < 0                           ? 0
              : timeout > sim->opts.long_poll_max_s ? sim->opts.long_poll_max_s
                                                    : timeout;
    if (has_offset && offset > 0)
        tgs_updates_confirm_below(sim, offset);
    else if (has_offset && offset < 0) {
        uint64_t pending = sim->update_count - sim->update_head;
        uint64_t keep = (uint64_t)(-(offset + 1)) + 1; //  -offset, without overflow
        if (pending > keep)
            tgs_updates_confirm_below(sim,
                                      sim->first_update_id + (int64_t)(sim->update_count - keep));
    }
    //  a newer poll ends this one (409); this one ends any older one
    uint64_t generation = ++sim->poll_generation;
    pthread_cond_broadcast(&sim->changed);
    int64_t deadline = tgsim_clock_ms() + timeout * 1000;
    while (sim->update_head == sim->update_count && !sim->stopping &&
           generation == sim->poll_generation && !sim->webhook_url)
        if (!tgs_wait(sim, deadline)) break;
    if (generation != sim->poll_generation) {
        tgs_reply_error(reply, 409, TGSIM_CONFLICT_POLL);
        return;
    }
    if (sim->webhook_url) {
        tgs_reply_error(reply, 409, TGSIM_CONFLICT_WEBHOOK);
        return;
    }
    char *body = NULL;
    size_t size = 0;
    FILE *stream = open_memstream(&body, &size);
    assert(stream);
    fputs("{\"ok\":true,\"result\":[", stream);
    int64_t now = tgsim_clock_ms();
    size_t end = sim->update_head + (size_t)limit;
    for (size_t i = sim->update_head; i < sim->update_count && i < end; i++) {
        tgs_update_t *update = &sim->updates[i];
        fprintf(stream, "%s%s", i > sim->update_head ? "," : "", update->json);
        if (!update->delivered_ms) {
            update->delivered_ms = now;
            sim->stats.updates_delivered++;
        }
    }
    fputs("]}", stream);
    fclose(stream);
    reply->raw = body;
    reply->status = 200;
}

static void s_set_webhook(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply) {
    const char *url = tgs_param_str(req, "url");
    if (!url || !*url) {
        s_delete_webhook(sim, req, reply);
        return;
    }
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        tgs_reply_error(reply, 400,
                        "Bad Request: bad webhook: An HTTPS URL must be provided for "
                        "webhook");
        return;
    }
    const char *secret = tgs_param_str(req, "secret_token");
    if (secret &&
        (strlen(secret) > 256 || strspn(secret, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklm"
                                                "nopqrstuvwxyz0123456789_-") != strlen(secret))) {
        tgs_reply_error(reply, 400, "Bad Request: secret token contains unallowed characters");
        return;
    }
    if (tgs_param_bool(req, "drop_pending_updates", false)) s_confirm_all(sim);
    free(sim->webhook_url);
    free(sim->webhook_secret);
    sim->webhook_url = tgs_strdup(url);
    sim->webhook_secret = secret && *secret ? tgs_strdup(secret) : NULL;
    pthread_cond_broadcast(&sim->changed);
}

static void s_delete_webhook(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply) {
    (void)reply;
    if (tgs_param_bool(req, "drop_pending_updates", false)) s_confirm_all(sim);
    free(sim->webhook_url);
    free(sim->webhook_secret);
    sim->webhook_url = NULL;
    sim->webhook_secret = NULL;
    pthread_cond_broadcast(&sim->changed);
}

static void s_get_webhook_info(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply) {
    (void)req;
    reply->result = json_pack("{s:s, s:b, s:I}", "url", sim->webhook_url ? sim->webhook_url : "",
                              "has_custom_certificate", 0, "pending_update_count",
                              (json_int_t)(sim->update_count - sim->update_head));
    if (sim->webhook_url) json_object_set_new(reply->result, "max_connections", json_integer(40));
}

static void s_set_commands(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply) {
    bool malformed = false;
    json_t *commands = tgs_param_json(req, "commands", &malformed);
    if (!json_is_array(commands)) {
        tgs_reply_error(reply, 400, "Bad Request: can't parse commands JSON object");
        return;
    }
    size_t i;
    json_t *command;
    json_array_foreach(commands, i, command) {
        const char *name = json_string_value(json_object_get(command, "command"));
        const char *description = json_string_value(json_object_get(command, "description"));
        if (!name || !*name || strlen(name) > S_COMMAND_MAX ||
            strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(name)) {
            tgs_reply_error(reply, 400, "Bad Request: BOT_COMMAND_INVALID");
            return;
        }
        if (!description || !*description || strlen(description) > S_COMMAND_DESC_MAX) {
            tgs_reply_error(reply, 400, "Bad Request: command description must be non-empty");
            return;
        }
    }
    json_decref(sim->commands);
    sim->commands = json_deep_copy(commands);
}

static void s_get_commands(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply) {
    (void)req;
    reply->result = json_deep_copy(sim->commands);
}

static void s_delete_commands(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply) {
    (void)req;
    (void)reply;
    json_array_clear(sim->commands);
}

static void s_chat_action(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply) {
    static const char *const actions[] = {
        "typing",        "upload_photo",      "record_video",      "upload_video",
        "record_voice",  "upload_voice",      "upload_document",   "choose_sticker",
        "find_location", "record_video_note", "upload_video_note", NULL};
    tgs_chat_t *chat = tgs_target_chat(sim, req, reply);
    if (!chat) return;
    const char *action = tgs_param_str(req, "action");
    bool known = false;
    for (size_t i = 0; action && actions[i]; i++)
        known = known || streq(actions[i], action);
    if (!known)
        tgs_reply_error(reply, 400, "Bad Request: wrong parameter action in request");
    else
        req->call->text = tgs_strdup(action);
}

static void s_answer_callback(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply) {
    const char *id = tgs_param_str(req, "callback_query_id");
    tgs_query_t *query = id ? zhashx_lookup(sim->queries, id) : NULL;
    const char *text = tgs_param_str(req, "text");
    req->call->text = tgs_strdup(text);
    if (query) {
        req->call->chat_id = query->user_id;
        req->call->message_id = query->message_id;
    }
    if (!query || query->precheckout || query->answered ||
        tgsim_clock_ms() - query->created_ms > sim->opts.callback_timeout_ms) {
        tgs_reply_error(reply, 400, S_QUERY_INVALID);
        return;
    }
    if (text) {
        char *plain = NULL, *entities = NULL;
        size_t units = 0;
        char error[TGS_ERROR_MAX];
        if (tgs_parse_text(text, false, &plain, &entities, &units, error, sizeof error) != 0) {
            tgs_reply_errorf(reply, 400, "Bad Request: %s", error);
            return;
        }
        free(plain);
        free(entities);
        if (units > S_ANSWER_TEXT_MAX) {
            tgs_reply_error(reply, 400, "Bad Request: MESSAGE_TOO_LONG");
            return;
        }
    }
    query->answered = true;
    pthread_cond_broadcast(&sim->changed);
}

static void s_get_file(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply) {
    const char *file_id = tgs_param_str(req, "file_id");
    tgs_file_t *file = file_id && *file_id ? zhashx_lookup(sim->files, file_id) : NULL;
    req->call->file_id = tgs_strdup(file_id);
    if (!file) {
        tgs_reply_error(reply, 400, "Bad Request: invalid file_id");
        return;
    }
    if (file->size > TGSIM_DOWNLOAD_MAX) {
        tgs_reply_error(reply, 400, "Bad Request: file is too big");
        return;
    }
    req->call->file_size = file->size;
    reply->result = tgs_file_json(file);
    json_object_set_new(reply->result, "file_path", json_string(file->file_path));
}

static void s_send_invoice(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply) {
    tgs_chat_t *chat = tgs_target_chat(sim, req, reply);
    if (!chat) return;
    const char *title = tgs_param_str(req, "title");
    const char *description = tgs_param_str(req, "description");
    const char *payload = tgs_param_str(req, "payload");
    const char *currency = tgs_param_str(req, "currency");
    const char *provider_token = tgs_param_str(req, "provider_token");
    bool malformed = false;
    json_t *prices = tgs_param_json(req, "prices", &malformed);
    req->call->text = tgs_strdup(title);
    if (!title || !*title || s_chars(title) > S_TITLE_MAX) {
        tgs_reply_error(reply, 400, "Bad Request: INVOICE_TITLE_INVALID");
        return;
    }
    if (!description || !*description || s_chars(description) > S_DESCRIPTION_MAX) {
        tgs_reply_error(reply, 400, "Bad Request: INVOICE_DESCRIPTION_INVALID");
        return;
    }
    if (!payload || !*payload || strlen(payload) > S_PAYLOAD_MAX) {
        tgs_reply_error(reply, 400, "Bad Request: INVOICE_PAYLOAD_INVALID");
        return;
    }
    if (!currency || strlen(currency) != 3) {
        tgs_reply_error(reply, 400, "Bad Request: CURRENCY_INVALID");
        return;
    }
    bool stars = streq(currency, "XTR");
    if (stars && provider_token && *provider_token) {
        tgs_reply_error(reply, 400, "Bad Request: PROVIDER_TOKEN_INVALID");
        return;
    }
    if (!json_is_array(prices) || json_array_size(prices) == 0) {
        tgs_reply_error(reply, 400, "Bad Request: can't parse prices JSON object");
        return;
    }
    if (stars && json_array_size(prices) != 1) {
        tgs_reply_error(reply, 400, "Bad Request: STARS_INVOICE_INVALID");
        return;
    }
    int64_t total = 0;
    size_t i;
    json_t *price;
    json_array_foreach(prices, i, price) {
        json_t *amount = json_object_get(price, "amount");
        if (!json_is_string(json_object_get(price, "label")) || !json_is_integer(amount) ||
            json_integer_value(amount) <= 0) {
            tgs_reply_error(reply, 400, "Bad Request: CURRENCY_TOTAL_AMOUNT_INVALID");
            return;
        }
        total += json_integer_value(amount);
    }
    json_t *markup = tgs_param_json(req, "reply_markup", &malformed);
    tgsim_button_t *buttons = NULL;
    size_t count = 0;
    char error[TGS_ERROR_MAX];
    if (malformed || (markup && tgs_parse_markup(markup, &buttons, &count, error, sizeof error))) {
        tgs_reply_errorf(reply, 400, "Bad Request: %s",
                         malformed ? "can't parse reply keyboard markup JSON object" : error);
        return;
    }
    if (markup && (count == 0 || !buttons[0].pay || buttons[0].row != 0)) {
        tgs_buttons_free(buttons, count);
        tgs_reply_error(reply, 400, "Bad Request: REPLY_MARKUP_BUY_EMPTY");
        return;
    }
    if (!tgs_flood_ok(sim, req, chat, reply)) {
        tgs_buttons_free(buttons, count);
        return;
    }
    char *markup_text = NULL;
    if (!markup) {
        char label[64];
        if (stars)
            snprintf(label, sizeof label, "Pay ⭐️%" PRId64, total);
        else
            snprintf(label, sizeof label, "Pay %" PRId64 " %s", total, currency);
        markup = json_pack("{s:[[{s:s, s:b}]]}", "inline_keyboard", "text", label, "pay", 1);
        tgs_parse_markup(markup, &buttons, &count, error, sizeof error);
        markup_text = json_dumps(markup, JSON_COMPACT);
        json_decref(markup);
    } else
        markup_text = json_dumps(markup, JSON_COMPACT);
    tgs_message_t *msg = tgs_message_add(chat, true, "invoice");
    msg->payload = tgs_strdup(payload);
    msg->amount = total;
    msg->text = tgs_strdup(title);
    const char *start_parameter = tgs_param_str(req, "start_parameter");
    msg->fields =
        json_pack("{s:{s:s, s:s, s:s, s:s, s:I}}", "invoice", "title", title, "description",
                  description, "start_parameter", start_parameter ? start_parameter : "",
                  "currency", currency, "total_amount", (json_int_t)total);
    tgs_message_set_markup(msg, markup_text, tgs_buttons_copy(buttons, count), count);
    req->call->message_id = msg->message_id;
    req->call->buttons = buttons;
    req->call->button_count = count;
    req->call->plain = tgs_strdup(title);
    free(markup_text);
    reply->result = tgs_message_json(sim, chat, msg);
    pthread_cond_broadcast(&sim->changed);
}

static void s_answer_precheckout(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply) {
    const char *id = tgs_param_str(req, "pre_checkout_query_id");
    tgs_query_t *query = id ? zhashx_lookup(sim->queries, id) : NULL;
    if (query) req->call->chat_id = query->user_id;
    if (!json_object_get(req->params, "ok")) {
        tgs_reply_error(reply, 400, "Bad Request: parameter \"ok\" is required");
        return;
    }
    bool ok = tgs_param_bool(req, "ok", false);
    const char *error_message = tgs_param_str(req, "error_message");
    req->call->text = tgs_strdup(ok ? NULL : error_message);
    if (!ok && (!error_message || !*error_message)) {
        tgs_reply_error(reply, 400, "Bad Request: ERROR_MESSAGE_EMPTY");
        return;
    }
    if (!query || !query->precheckout || query->answered ||
        tgsim_clock_ms() - query->created_ms > sim->opts.precheckout_timeout_ms) {
        tgs_reply_error(reply, 400, S_QUERY_INVALID);
        return;
    }
    query->answered = true;
    pthread_cond_broadcast(&sim->changed);
    tgs_chat_t *chat = tgs_chat(sim, query->user_id);
    if (!ok || !chat) return;
    tgs_payment_t *payment = calloc(1, sizeof *payment);
    assert(payment);
    char random[S_CHARGE_ID_CHARS + 1];
    tgs_random_chars(sim, random, S_CHARGE_ID_CHARS);
    payment->charge_id = zsys_sprintf("stx%s", random);
    payment->user_id = query->user_id;
    payment->amount = query->amount;
    payment->payload = tgs_strdup(query->payload);
    zhashx_insert(sim->payments, payment->charge_id, payment);

    tgs_message_t *msg = tgs_message_add(chat, false, "successful_payment");
    msg->payload = tgs_strdup(payment->payload);
    msg->amount = payment->amount;
    msg->charge_id = tgs_strdup(payment->charge_id);
    msg->fields = json_pack("{s:{s:s, s:I, s:s, s:s, s:s}}", "successful_payment", "currency",
                            "XTR", "total_amount", (json_int_t)payment->amount, "invoice_payload",
                            payment->payload, "telegram_payment_charge_id", payment->charge_id,
                            "provider_payment_charge_id", "");
    json_t *update = json_pack("{s:o}", "message", tgs_message_json(sim, chat, msg));
    tgs_update_push(sim, chat->id, update);
}

static void s_refund(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply) {
    int64_t user_id = 0;
    const char *charge_id = tgs_param_str(req, "telegram_payment_charge_id");
    if (!tgs_param_int(req, "user_id", &user_id)) {
        tgs_reply_error(reply, 400, "Bad Request: user_id is empty");
        return;
    }
    req->call->chat_id = user_id;
    req->call->text = tgs_strdup(charge_id);
    tgs_payment_t *payment = charge_id ? zhashx_lookup(sim->payments, charge_id) : NULL;
    if (!payment || payment->user_id != user_id) {
        tgs_reply_error(reply, 400, "Bad Request: CHARGE_NOT_FOUND");
        return;
    }
    if (payment->refunded) {
        tgs_reply_error(reply, 400, "Bad Request: CHARGE_ALREADY_REFUNDED");
        return;
    }
    payment->refunded = true;
    tgs_chat_t *chat = tgs_chat(sim, user_id);
    if (!chat) return;
    tgs_message_t *msg = tgs_message_add(chat, false, "refunded_payment");
    msg->payload = tgs_strdup(payment->payload);
    msg->amount = payment->amount;
    msg->charge_id = tgs_strdup(payment->charge_id);
    msg->fields = json_pack("{s:{s:s, s:I, s:s, s:s}}", "refunded_payment", "currency", "XTR",
                            "total_amount", (json_int_t)payment->amount, "invoice_payload",
                            payment->payload, "telegram_payment_charge_id", payment->charge_id);
    json_t *update = json_pack("{s:o}", "message", tgs_message_json(sim, chat, msg));
    tgs_update_push(sim, chat->id, update);
}

static void s_confirm_all(tgsim_t *sim) {
    tgs_updates_confirm_below(sim, sim->first_update_id + (int64_t)sim->update_count);
}

//  Code points of UTF-8 text.
static size_t s_chars(const char *text) {
    size_t count = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        count += (*p & 0xC0) != 0x80;
    return count;
}
