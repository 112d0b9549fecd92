/*  tgsim.c — the simulated Telegram Bot API server: lifecycle, control,
    chats, messages and the update queue (see tgsim.h; the other parts are
    listed in tgsim_internal.h).

    Invariants:
    - chat->messages[i]->message_id == i + 1: message ids are dense per
      chat, and a deleted message keeps its slot (flagged).
    - updates[i].update_id == first_update_id + i; every update below
      update_head is confirmed and its JSON freed; the rest are pending,
      whether delivered already or not.
    - A call record is complete before it is published in `calls` and is
      never changed afterwards, so readers may keep pointers to it.
*/
#include "tgsim_internal.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_DEFAULT_SEED      0x9E3779B97F4A7C15ULL
#define S_FIRST_UPDATE_MIN  10000000
#define S_FIRST_UPDATE_SPAN 800000000

static void s_chat_destroy(void **item);
static void s_query_destroy(void **item);
static void s_payment_destroy(void **item);
static void s_fail_destroy(void **item);
static void s_message_free(tgs_message_t *msg);

//  --------------------------------------------------------------------------

void tgsim_opts_init(tgsim_opts_t *opts) {
    assert(opts);
    memset(opts, 0, sizeof *opts);
}

tgsim_t *tgsim_new(const tgsim_opts_t *opts) {
    tgsim_t *self = calloc(1, sizeof *self);
    assert(self);
    if (opts) self->opts = *opts;
    tgsim_opts_t *o = &self->opts;
    self->token = strdup(o->token ? o->token : TGSIM_DEFAULT_TOKEN);
    o->token = self->token;
    self->bot_id = strtoll(self->token, NULL, 10);
    if (o->global_per_s <= 0) o->global_per_s = TGSIM_GLOBAL_PER_S;
    if (o->chat_per_s <= 0) o->chat_per_s = TGSIM_CHAT_PER_S;
    if (o->chat_burst <= 0) o->chat_burst = TGSIM_CHAT_BURST;
    if (o->group_per_min <= 0) o->group_per_min = TGSIM_GROUP_PER_MIN;
    if (o->callback_timeout_ms <= 0) o->callback_timeout_ms = TGSIM_CALLBACK_TIMEOUT_MS;
    if (o->precheckout_timeout_ms <= 0) o->precheckout_timeout_ms = TGSIM_PRECHECKOUT_TIMEOUT_MS;
    if (o->long_poll_max_s <= 0 || o->long_poll_max_s > TGSIM_LONG_POLL_MAX_S)
        o->long_poll_max_s = TGSIM_LONG_POLL_MAX_S;
    if (o->webhook_retry_ms <= 0) o->webhook_retry_ms = TGS_WEBHOOK_RETRY_MS;

    pthread_mutex_init(&self->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&self->changed, &attr);
    pthread_condattr_destroy(&attr);

    self->rng = o->seed ? o->seed : S_DEFAULT_SEED;
    self->chats = zhashx_new();
    zhashx_set_destructor(self->chats, s_chat_destroy);
    self->files = zhashx_new();
    zhashx_set_destructor(self->files, tgs_file_destroy);
    self->file_paths = zhashx_new();
    self->queries = zhashx_new();
    zhashx_set_destructor(self->queries, s_query_destroy);
    self->query_updates = zhashx_new();
    self->payments = zhashx_new();
    zhashx_set_destructor(self->payments, s_payment_destroy);
    self->url_sizes = zhashx_new();
    zhashx_set_destructor(self->url_sizes, (zhashx_destructor_fn *)zstr_free);
    self->fails = zlistx_new();
    zlistx_set_destructor(self->fails, s_fail_destroy);
    self->commands = json_array();
    self->first_update_id = S_FIRST_UPDATE_MIN + (int64_t)(tgs_rand(self) % S_FIRST_UPDATE_SPAN);
    self->global_tokens = o->global_per_s;
    self->global_refill_ms = tgsim_clock_ms();

    if (tgs_http_start(self) != 0) {
        tgsim_destroy(&self);
        return NULL;
    }
    if (pthread_create(&self->webhook_thread, NULL, tgs_webhook_thread, self) == 0)
        self->webhook_thread_started = true;
    return self;
}

void tgsim_destroy(tgsim_t **self_p) {
    assert(self_p);
    tgsim_t *self = *self_p;
    if (!self) return;
    pthread_mutex_lock(&self->lock);
    self->stopping = true;
    pthread_cond_broadcast(&self->changed);
    pthread_mutex_unlock(&self->lock);
    tgs_http_stop(self);
    if (self->webhook_thread_started) pthread_join(self->webhook_thread, NULL);

    zhashx_destroy(&self->chats);
    zhashx_destroy(&self->file_paths);
    zhashx_destroy(&self->files);
    zhashx_destroy(&self->query_updates);
    zhashx_destroy(&self->queries);
    zhashx_destroy(&self->payments);
    zhashx_destroy(&self->url_sizes);
    zlistx_destroy(&self->fails);
    json_decref(self->commands);
    for (size_t i = 0; i < self->update_count; i++)
        free(self->updates[i].json);
    free(self->updates);
    for (size_t i = 0; i < self->call_count; i++)
        tgs_call_free(self->calls[i]);
    free(self->calls);
    free(self->webhook_url);
    free(self->webhook_secret);
    free(self->token);
    pthread_cond_destroy(&self->changed);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

const char *tgsim_url(tgsim_t *self) {
    assert(self);
    return self->url;
}

uint16_t tgsim_port(tgsim_t *self) {
    assert(self);
    return self->port;
}

const char *tgsim_token(tgsim_t *self) {
    assert(self);
    return self->token;
}

int64_t tgsim_clock_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int tgsim_fail_next(tgsim_t *self, const char *method, int error_code, const char *description,
                    int count) {
    assert(self);
    if (count == 0) return 0;
    tgs_fail_t *fail = calloc(1, sizeof *fail);
    assert(fail);
    fail->method = tgs_strdup(method);
    fail->code = error_code;
    fail->description = tgs_strdup(description);
    fail->count = count;
    pthread_mutex_lock(&self->lock);
    zlistx_add_end(self->fails, fail);
    pthread_mutex_unlock(&self->lock);
    return 0;
}

void tgsim_fail_clear(tgsim_t *self) {
    assert(self);
    pthread_mutex_lock(&self->lock);
    zlistx_purge(self->fails);
    pthread_mutex_unlock(&self->lock);
}

void tgsim_set_faults(tgsim_t *self, int latency_ms, double p_server_error, double p_drop,
                      double p_drop_after) {
    assert(self);
    pthread_mutex_lock(&self->lock);
    self->opts.latency_ms = latency_ms;
    self->opts.p_server_error = p_server_error;
    self->opts.p_drop = p_drop;
    self->opts.p_drop_after = p_drop_after;
    pthread_mutex_unlock(&self->lock);
}

void tgsim_set_limits(tgsim_t *self, bool enforce) {
    assert(self);
    pthread_mutex_lock(&self->lock);
    self->opts.enforce_limits = enforce;
    pthread_mutex_unlock(&self->lock);
}

int tgsim_set_url_size(tgsim_t *self, const char *url, int64_t size) {
    assert(self);
    assert(url);
    char *value = zsys_sprintf("%" PRId64, size);
    pthread_mutex_lock(&self->lock);
    zhashx_update(self->url_sizes, url, value);
    pthread_mutex_unlock(&self->lock);
    return 0;
}

//  --------------------------------------------------------------------------
//  Shared helpers (callers hold the lock unless noted)

char *tgs_strdup(const char *s) {
    if (!s) return NULL;
    char *copy = strdup(s);
    assert(copy);
    return copy;
}

//  splitmix64
uint64_t tgs_rand(tgsim_t *sim) {
    uint64_t z = (sim->rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

double tgs_rand_unit(tgsim_t *sim) {
    return (double)(tgs_rand(sim) >> 11) / (double)(1ULL << 53);
}

void tgs_random_chars(tgsim_t *sim, char *out, size_t n) {
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (size_t i = 0; i < n; i++)
        out[i] = alphabet[tgs_rand(sim) & 63];
    out[n] = '\0';
}

int64_t tgs_unix_now(void) {
    return (int64_t)time(NULL);
}

tgs_chat_t *tgs_chat(tgsim_t *sim, int64_t id) {
    char key[32];
    snprintf(key, sizeof key, "%" PRId64, id);
    return zhashx_lookup(sim->chats, key);
}

int tgsim_user_add(tgsim_t *self, int64_t user_id, const char *first_name,
                   const char *language_code) {
    assert(self);
    if (user_id == 0) return -1;
    char key[32];
    snprintf(key, sizeof key, "%" PRId64, user_id);
    pthread_mutex_lock(&self->lock);
    tgs_chat_t *chat = zhashx_lookup(self->chats, key);
    if (!chat) {
        chat = calloc(1, sizeof *chat);
        assert(chat);
        chat->id = user_id;
        chat->group = user_id < 0;
        chat->tokens = chat->group ? self->opts.group_per_min : self->opts.chat_burst;
        chat->refill_ms = tgsim_clock_ms();
        zhashx_insert(self->chats, key, chat);
    }
    free(chat->first_name);
    free(chat->language_code);
    chat->first_name = tgs_strdup(first_name ? first_name : "User");
    chat->language_code = tgs_strdup(language_code);
    pthread_mutex_unlock(&self->lock);
    return 0;
}

tgs_message_t *tgs_chat_message(tgs_chat_t *chat, int64_t message_id) {
    if (message_id < 1 || (uint64_t)message_id > chat->count) return NULL;
    return chat->messages[message_id - 1];
}

tgs_message_t *tgs_message_add(tgs_chat_t *chat, bool from_bot, const char *kind) {
    if (chat->count == chat->cap) {
        chat->cap = chat->cap ? chat->cap * 2 : 16;
        chat->messages = realloc(chat->messages, chat->cap * sizeof *chat->messages);
        assert(chat->messages);
    }
    tgs_message_t *msg = calloc(1, sizeof *msg);
    assert(msg);
    msg->message_id = (int64_t)chat->count + 1;
    msg->from_bot = from_bot;
    msg->date = tgs_unix_now();
    msg->kind = kind;
    msg->file_size = -1;
    chat->messages[chat->count++] = msg;
    return msg;
}

//  Takes buttons (and markup is copied).
void tgs_message_set_markup(tgs_message_t *msg, const char *markup, tgsim_button_t *buttons,
                            size_t count) {
    free(msg->markup);
    tgs_buttons_free(msg->buttons, msg->button_count);
    msg->markup = tgs_strdup(markup);
    msg->buttons = buttons;
    msg->button_count = count;
}

json_t *tgs_user_json(tgs_chat_t *chat) {
    json_t *user = json_pack("{s:I, s:b, s:s}", "id", (json_int_t)chat->id, "is_bot", 0,
                             "first_name", chat->first_name);
    if (chat->language_code)
        json_object_set_new(user, "language_code", json_string(chat->language_code));
    return user;
}

json_t *tgs_bot_json(tgsim_t *sim) {
    return json_pack("{s:I, s:b, s:s, s:s}", "id", (json_int_t)sim->bot_id, "is_bot", 1,
                     "first_name", TGS_BOT_FIRST_NAME, "username", TGS_BOT_USERNAME);
}

json_t *tgs_chat_json(tgs_chat_t *chat) {
    if (chat->group)
        return json_pack("{s:I, s:s, s:s}", "id", (json_int_t)chat->id, "title", chat->first_name,
                         "type", "group");
    return json_pack("{s:I, s:s, s:s}", "id", (json_int_t)chat->id, "first_name", chat->first_name,
                     "type", "private");
}

json_t *tgs_message_json(tgsim_t *sim, tgs_chat_t *chat, tgs_message_t *msg) {
    json_t *json = json_pack("{s:I}", "message_id", (json_int_t)msg->message_id);
    json_object_set_new(json, "from", msg->from_bot ? tgs_bot_json(sim) : tgs_user_json(chat));
    json_object_set_new(json, "chat", tgs_chat_json(chat));
    json_object_set_new(json, "date", json_integer(msg->date));
    if (msg->edit_date) json_object_set_new(json, "edit_date", json_integer(msg->edit_date));
    if (msg->text)
        json_object_set_new(json, msg->caption ? "caption" : "text", json_string(msg->text));
    if (msg->fields) json_object_update(json, msg->fields);
    if (msg->markup) {
        json_t *markup = json_loads(msg->markup, 0, NULL);
        if (markup && json_object_get(markup, "inline_keyboard"))
            json_object_set(json, "reply_markup", markup);
        json_decref(markup);
    }
    return json;
}

//  --------------------------------------------------------------------------
//  Update queue

static int64_t s_update_store(tgsim_t *sim, int64_t chat_id, char *text) {
    if (sim->update_count == sim->update_cap) {
        sim->update_cap = sim->update_cap ? sim->update_cap * 2 : 256;
        sim->updates = realloc(sim->updates, sim->update_cap * sizeof *sim->updates);
        assert(sim->updates);
    }
    tgs_update_t *update = &sim->updates[sim->update_count];
    memset(update, 0, sizeof *update);
    update->update_id = sim->first_update_id + (int64_t)sim->update_count;
    update->chat_id = chat_id;
    update->json = text;
    update->queued_ms = tgsim_clock_ms();
    sim->update_count++;
    sim->stats.updates_queued++;
    pthread_cond_broadcast(&sim->changed);
    return update->update_id;
}

//  Takes update (a JSON object without update_id).
int64_t tgs_update_push(tgsim_t *sim, int64_t chat_id, json_t *update) {
    int64_t update_id = sim->first_update_id + (int64_t)sim->update_count;
    json_t *full = json_pack("{s:I}", "update_id", (json_int_t)update_id);
    json_object_del(update, "update_id");
    json_object_update(full, update);
    json_decref(update);
    char *text = json_dumps(full, JSON_COMPACT);
    json_decref(full);
    assert(text);
    return s_update_store(sim, chat_id, text);
}

int64_t tgs_update_push_raw(tgsim_t *sim, int64_t chat_id, const char *text) {
    return s_update_store(sim, chat_id, tgs_strdup(text));
}

void tgs_updates_confirm_below(tgsim_t *sim, int64_t offset) {
    bool changed = false;
    while (sim->update_head < sim->update_count &&
           sim->updates[sim->update_head].update_id < offset) {
        tgs_update_t *update = &sim->updates[sim->update_head++];
        free(update->json);
        update->json = NULL;
        update->confirmed = true;
        sim->stats.updates_confirmed++;
        changed = true;
    }
    if (changed) pthread_cond_broadcast(&sim->changed);
}

bool tgs_wait(tgsim_t *sim, int64_t deadline_ms) {
    int64_t now = tgsim_clock_ms();
    if (now >= deadline_ms) return false;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t ns = (int64_t)ts.tv_nsec + (deadline_ms - now) * 1000000;
    ts.tv_sec += (time_t)(ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    pthread_cond_timedwait(&sim->changed, &sim->lock, &ts);
    return true;
}

int tgsim_update_times(tgsim_t *self, int64_t update_id, int64_t *queued_ms,
                       int64_t *delivered_ms) {
    assert(self);
    int rc = -1;
    pthread_mutex_lock(&self->lock);
    if (update_id >= self->first_update_id &&
        (uint64_t)(update_id - self->first_update_id) < self->update_count) {
        size_t index = (size_t)(update_id - self->first_update_id);
        if (queued_ms) *queued_ms = self->updates[index].queued_ms;
        if (delivered_ms) *delivered_ms = self->updates[index].delivered_ms;
        rc = 0;
    }
    pthread_mutex_unlock(&self->lock);
    return rc;
}

tgs_query_t *tgs_query_new(tgsim_t *sim, int64_t user_id, bool precheckout) {
    tgs_query_t *query = calloc(1, sizeof *query);
    assert(query);
    query->id = zsys_sprintf("%" PRIu64, tgs_rand(sim) >> 1);
    query->user_id = user_id;
    query->precheckout = precheckout;
    query->created_ms = tgsim_clock_ms();
    zhashx_insert(sim->queries, query->id, query);
    return query;
}

tgsim_button_t *tgs_buttons_copy(const tgsim_button_t *buttons, size_t count) {
    if (!count) return NULL;
    tgsim_button_t *copy = calloc(count, sizeof *copy);
    assert(copy);
    for (size_t i = 0; i < count; i++) {
        copy[i] = buttons[i];
        copy[i].text = tgs_strdup(buttons[i].text);
        copy[i].callback_data = tgs_strdup(buttons[i].callback_data);
        copy[i].url = tgs_strdup(buttons[i].url);
    }
    return copy;
}

void tgs_buttons_free(tgsim_button_t *buttons, size_t count) {
    for (size_t i = 0; i < count; i++) {
        free(buttons[i].text);
        free(buttons[i].callback_data);
        free(buttons[i].url);
    }
    free(buttons);
}

void tgs_call_free(tgsim_call_t *call) {
    if (!call) return;
    free(call->method);
    free(call->error);
    free(call->text);
    free(call->plain);
    free(call->parse_mode);
    tgs_buttons_free(call->buttons, call->button_count);
    free(call->media_kind);
    free(call->media_source);
    free(call->file_name);
    free(call->mime_type);
    free(call->file_id);
    free(call->url);
    free(call->params);
    free(call);
}

//  --------------------------------------------------------------------------

static void s_message_free(tgs_message_t *msg) {
    free(msg->text);
    free(msg->entities);
    free(msg->markup);
    tgs_buttons_free(msg->buttons, msg->button_count);
    json_decref(msg->fields);
    free(msg->file_id);
    free(msg->file_name);
    free(msg->payload);
    free(msg->charge_id);
    free(msg);
}

static void s_chat_destroy(void **item) {
    tgs_chat_t *chat = *item;
    for (size_t i = 0; i < chat->count; i++)
        s_message_free(chat->messages[i]);
    free(chat->messages);
    free(chat->first_name);
    free(chat->language_code);
    free(chat);
    *item = NULL;
}

static void s_query_destroy(void **item) {
    tgs_query_t *query = *item;
    free(query->id);
    free(query->payload);
    free(query);
    *item = NULL;
}

static void s_payment_destroy(void **item) {
    tgs_payment_t *payment = *item;
    free(payment->charge_id);
    free(payment->payload);
    free(payment);
    *item = NULL;
}

static void s_fail_destroy(void **item) {
    tgs_fail_t *fail = *item;
    free(fail->method);
    free(fail->description);
    free(fail);
    *item = NULL;
}
