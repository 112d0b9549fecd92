/*  kiesim.c — the simulated KIE.ai server: construction, keys, models,
    behaviour and inspection. The HTTP side is kiesim_http.c, the tasks
    kiesim_task.c (see kiesim_internal.h for the tour).
*/
#include "kiesim_internal.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KS_DEFAULT_SEED 0x9e3779b97f4a7c15ULL
#define KS_EPOCH_2001   978307200000LL //  a clock below this is not Unix ms

//  Built-in models (KIE Market slugs of the reference notes).
static const struct {
    const char *name;
    bool needs_image;
    bool sora;
} s_builtin_models[] = {
    {"sora-2-text-to-video", false, true},        {"sora-2-image-to-video", true, true},
    {"sora-2-pro-text-to-video", false, true},    {"sora-2-pro-image-to-video", true, true},
    {"sora-2-text-to-video-stable", false, true}, {"sora-2-image-to-video-stable", true, true},
    {"kling-2.6/image-to-video", true, false},    {"google/nano-banana", false, false},
    {"google/nano-banana-edit", true, false},
};

static int64_t s_monotonic_ms(void *arg);
static int64_t s_realtime_ms(void);
static int s_model_add(kiesim_t *self, const char *name, bool needs_image, bool sora);
static int s_key_apply(ks_key_t *key, const kiesim_key_t *spec);
static void s_key_free(ks_key_t *key);

//  --------------------------------------------------------------------------

void kiesim_options_init(kiesim_options_t *options) {
    assert(options);
    memset(options, 0, sizeof *options);
    options->callback_timeout_ms = KIESIM_CALLBACK_TIMEOUT_MS;
    kiesim_behaviour_t *b = &options->behaviour;
    b->task_duration_ms = KIESIM_TASK_DURATION_MS;
    b->visibility_delay_ms = KIESIM_VISIBILITY_DELAY_MS;
    b->task_cost = KIESIM_TASK_COST;
    b->refund_failed = true;
    b->missing_field_code = 422;
    b->content_fail_code = 400;
    b->upload_max_bytes = KIESIM_UPLOAD_MAX;
}

kiesim_t *kiesim_new(const kiesim_options_t *options) {
    kiesim_options_t defaults;
    if (!options) {
        kiesim_options_init(&defaults);
        options = &defaults;
    }
    kiesim_t *self = calloc(1, sizeof *self);
    if (!self) return NULL;
    pthread_mutex_init(&self->lock, NULL);
    pthread_cond_init(&self->callback_wake, NULL);
    pthread_cond_init(&self->callback_done, NULL);
    self->behaviour = options->behaviour;
    if (self->behaviour.task_duration_ms < 1) self->behaviour.task_duration_ms = 1;
    self->clock = options->clock ? options->clock : s_monotonic_ms;
    self->clock_arg = options->clock_arg;
    int64_t now = self->clock(self->clock_arg);
    self->epoch_offset = now < KS_EPOCH_2001 ? s_realtime_ms() - now : 0;
    self->rng = options->seed ? options->seed : KS_DEFAULT_SEED;
    self->host = strdup(options->host ? options->host : KIESIM_HOST);
    self->public_url = options->public_url ? strdup(options->public_url) : NULL;
    size_t length = self->public_url ? strlen(self->public_url) : 0;
    while (length > 0 && self->public_url[length - 1] == '/')
        self->public_url[--length] = '\0'; //  URLs are built as base + "/files/..."
    self->hmac_key = options->hmac_key ? strdup(options->hmac_key) : NULL;
    self->callback_timeout_ms = options->callback_timeout_ms > 0 ? options->callback_timeout_ms
                                                                 : KIESIM_CALLBACK_TIMEOUT_MS;
    self->task_index = zhashx_new();
    self->upload_index = zhashx_new();
    self->create_scripts = zhashx_new();
    if (!self->host || !self->task_index || !self->upload_index || !self->create_scripts)
        goto failed;
    //  Task and upload ids live in their structs: the index does not copy them.
    zhashx_set_key_duplicator(self->task_index, NULL);
    zhashx_set_key_destructor(self->task_index, NULL);
    zhashx_set_key_duplicator(self->upload_index, NULL);
    zhashx_set_key_destructor(self->upload_index, NULL);

    for (size_t i = 0; i < sizeof s_builtin_models / sizeof s_builtin_models[0]; i++)
        if (s_model_add(self, s_builtin_models[i].name, s_builtin_models[i].needs_image,
                        s_builtin_models[i].sora))
            goto failed;
    for (size_t i = 0; i < options->key_count; i++)
        if (kiesim_key_add(self, &options->keys[i])) {
            fprintf(stderr, "kiesim: bad key #%zu\n", i);
            goto failed;
        }
    if (ks_http_start(self, options)) goto failed;
    if (ks_callback_start(self)) goto failed;
    return self;
failed:
    kiesim_destroy(&self);
    return NULL;
}

void kiesim_destroy(kiesim_t **self_p) {
    assert(self_p);
    kiesim_t *self = *self_p;
    if (!self) return;
    //  The server first: no handler may run while the state goes away.
    ks_http_stop(self);
    ks_callback_stop(self);
    for (size_t i = 0; i < self->task_count; i++)
        ks_task_free(&self->tasks[i]);
    free(self->tasks);
    for (size_t i = 0; i < self->upload_count; i++)
        ks_upload_free(&self->uploads[i]);
    free(self->uploads);
    for (size_t i = 0; i < self->key_count; i++)
        s_key_free(&self->keys[i]);
    free(self->keys);
    for (size_t i = 0; i < self->model_count; i++)
        free(self->models[i].name);
    free(self->models);
    free(self->due);
    free(self->outbox);
    zhashx_destroy(&self->task_index);
    zhashx_destroy(&self->upload_index);
    zhashx_destroy(&self->create_scripts);
    free(self->host);
    free(self->public_url);
    free(self->hmac_key);
    pthread_cond_destroy(&self->callback_wake);
    pthread_cond_destroy(&self->callback_done);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

const char *kiesim_url(kiesim_t *self) {
    assert(self);
    return self->url;
}

uint16_t kiesim_port(kiesim_t *self) {
    assert(self);
    return self->port;
}

int kiesim_key_add(kiesim_t *self, const kiesim_key_t *key) {
    assert(self);
    assert(key);
    if (!key->key || !*key->key || key->rate_limit < 0) return -1;
    pthread_mutex_lock(&self->lock);
    int rc = -1;
    int index = ks_key_find(self, key->key);
    if (index >= 0)
        rc = s_key_apply(&self->keys[index], key);
    else if (ks_grow(&self->keys, &self->key_alloc, self->key_count, sizeof *self->keys) == 0) {
        ks_key_t *slot = &self->keys[self->key_count];
        memset(slot, 0, sizeof *slot);
        slot->token = strdup(key->key);
        if (slot->token && s_key_apply(slot, key) == 0) {
            self->key_count++;
            rc = 0;
        } else
            s_key_free(slot);
    }
    pthread_mutex_unlock(&self->lock);
    return rc;
}

int kiesim_key_set_state(kiesim_t *self, const char *key, kiesim_key_state_t state) {
    assert(self);
    pthread_mutex_lock(&self->lock);
    int index = key ? ks_key_find(self, key) : -1;
    if (index >= 0) self->keys[index].state = state;
    pthread_mutex_unlock(&self->lock);
    return index >= 0 ? 0 : -1;
}

int kiesim_key_set_credits(kiesim_t *self, const char *key, int64_t credits) {
    assert(self);
    pthread_mutex_lock(&self->lock);
    int index = key ? ks_key_find(self, key) : -1;
    if (index >= 0) self->keys[index].credits = credits;
    pthread_mutex_unlock(&self->lock);
    return index >= 0 ? 0 : -1;
}

int kiesim_key_set_rate_limit(kiesim_t *self, const char *key, int limit, int64_t window_ms) {
    assert(self);
    pthread_mutex_lock(&self->lock);
    int rc = -1;
    int index = key ? ks_key_find(self, key) : -1;
    if (index >= 0) {
        kiesim_key_t spec = {.key = key,
                             .credits = self->keys[index].credits,
                             .rate_limit = limit,
                             .rate_window_ms = window_ms,
                             .state = self->keys[index].state};
        rc = limit >= 0 ? s_key_apply(&self->keys[index], &spec) : -1;
    }
    pthread_mutex_unlock(&self->lock);
    return rc;
}

int kiesim_key_stats(kiesim_t *self, const char *key, kiesim_key_stats_t *stats) {
    assert(self);
    assert(stats);
    pthread_mutex_lock(&self->lock);
    int index = key ? ks_key_find(self, key) : -1;
    ks_settle(self, ks_now(self));
    if (index >= 0) {
        *stats = self->keys[index].counters;
        stats->state = self->keys[index].state;
        stats->credits = self->keys[index].credits;
    }
    pthread_mutex_unlock(&self->lock);
    return index >= 0 ? 0 : -1;
}

int kiesim_model_add(kiesim_t *self, const char *model, bool needs_image) {
    assert(self);
    if (!model || !*model) return -1;
    pthread_mutex_lock(&self->lock);
    int rc = 0;
    int index = ks_model_find(self, model);
    if (index >= 0)
        self->models[index].needs_image = needs_image;
    else
        rc = s_model_add(self, model, needs_image, strncmp(model, "sora-2", 6) == 0);
    pthread_mutex_unlock(&self->lock);
    return rc;
}

void kiesim_behaviour(kiesim_t *self, kiesim_behaviour_t *behaviour) {
    assert(self);
    assert(behaviour);
    pthread_mutex_lock(&self->lock);
    *behaviour = self->behaviour;
    pthread_mutex_unlock(&self->lock);
}

void kiesim_set_behaviour(kiesim_t *self, const kiesim_behaviour_t *behaviour) {
    assert(self);
    assert(behaviour);
    pthread_mutex_lock(&self->lock);
    self->behaviour = *behaviour;
    if (self->behaviour.task_duration_ms < 1) self->behaviour.task_duration_ms = 1;
    pthread_mutex_unlock(&self->lock);
}

void kiesim_set_maintenance(kiesim_t *self, bool on) {
    assert(self);
    pthread_mutex_lock(&self->lock);
    self->behaviour.maintenance = on;
    pthread_mutex_unlock(&self->lock);
}

void kiesim_stats(kiesim_t *self, kiesim_stats_t *stats) {
    assert(self);
    assert(stats);
    pthread_mutex_lock(&self->lock);
    int64_t now = ks_now(self);
    ks_settle(self, now);
    *stats = self->stats;
    stats->tasks = self->task_count;
    stats->tasks_in_flight = stats->tasks_succeeded = stats->tasks_failed = 0;
    stats->task_bytes = 0;
    for (size_t i = 0; i < self->task_count; i++) {
        ks_task_t *task = self->tasks[i];
        kiesim_state_t state = ks_task_eval(self, task, now, NULL);
        if (state == KIESIM_STATE_SUCCESS)
            stats->tasks_succeeded++;
        else if (state == KIESIM_STATE_FAIL)
            stats->tasks_failed++;
        else
            stats->tasks_in_flight++;
        //  The struct, its strings, its slots in the list, index and heap.
        stats->task_bytes += sizeof *task + strlen(task->param) + 1 + sizeof task +
                             2 * sizeof(void *) + sizeof(ks_due_t);
        if (task->callback_url) stats->task_bytes += strlen(task->callback_url) + 1;
    }
    pthread_mutex_unlock(&self->lock);
}

int kiesim_task_state(kiesim_t *self, const char *task_id, int *progress) {
    assert(self);
    pthread_mutex_lock(&self->lock);
    ks_task_t *task = task_id ? zhashx_lookup(self->task_index, task_id) : NULL;
    int state = task ? (int)ks_task_eval(self, task, ks_now(self), progress) : -1;
    pthread_mutex_unlock(&self->lock);
    return state;
}

json_t *kiesim_tasks(kiesim_t *self) {
    assert(self);
    json_t *list = json_array();
    pthread_mutex_lock(&self->lock);
    int64_t now = ks_now(self);
    for (size_t i = 0; list && i < self->task_count; i++) {
        ks_task_t *task = self->tasks[i];
        int progress = 0;
        kiesim_state_t state = ks_task_eval(self, task, now, &progress);
        char *prompt = ks_task_prompt(task);
        json_t *item = json_pack(
            "{s:s, s:s, s:s, s:s?, s:o, s:s?, s:s, s:i, s:s, s:I, s:I}", "taskId", task->id, "key",
            self->keys[task->key_index].token, "model", self->models[task->model_index].name,
            "prompt", prompt, "imageUrls", ks_task_image_urls(task), "callBackUrl",
            task->callback_url, "state", ks_state_name(state), "progress", progress, "outcome",
            ks_outcome_name((kiesim_outcome_t)task->outcome), "polls", (json_int_t)task->polls,
            "createTime", (json_int_t)ks_unix_ms(self, task->created));
        free(prompt);
        if (!item || json_array_append_new(list, item)) {
            json_decref(list);
            list = NULL;
        }
    }
    pthread_mutex_unlock(&self->lock);
    return list;
}

json_t *kiesim_uploads(kiesim_t *self) {
    assert(self);
    json_t *list = json_array();
    pthread_mutex_lock(&self->lock);
    for (size_t i = 0; list && i < self->upload_count; i++) {
        ks_upload_t *upload = self->uploads[i];
        json_t *item = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s++++}", "id", upload->id, "key",
                                 self->keys[upload->key_index].token, "fileName", upload->file_name,
                                 "filePath", upload->file_path, "size", (json_int_t)upload->size,
                                 "mimeType", upload->mime_type, "downloadUrl",
                                 self->public_url ? self->public_url : self->url, "/uploads/",
                                 upload->id, "/", upload->file_name);
        if (!item || json_array_append_new(list, item)) {
            json_decref(list);
            list = NULL;
        }
    }
    pthread_mutex_unlock(&self->lock);
    return list;
}

//  --------------------------------------------------------------------------
//  Shared with the other files (lock held).

int64_t ks_now(kiesim_t *self) {
    return self->clock(self->clock_arg);
}

int64_t ks_unix_ms(kiesim_t *self, int64_t clock_ms) {
    return clock_ms + self->epoch_offset;
}

//  xorshift64*: reproducible for a given seed and order of requests.
double ks_random(kiesim_t *self) {
    self->rng ^= self->rng >> 12;
    self->rng ^= self->rng << 25;
    self->rng ^= self->rng >> 27;
    uint64_t value = self->rng * 2685821657736338717ULL;
    return (double)(value >> 11) / (double)(1ULL << 53);
}

void ks_random_hex(kiesim_t *self, char *out, size_t digits) {
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < digits; i++)
        out[i] = hex[(int)(ks_random(self) * 16) & 15];
    out[digits] = '\0';
}

int ks_key_find(kiesim_t *self, const char *token) {
    for (size_t i = 0; i < self->key_count; i++)
        if (strcmp(self->keys[i].token, token) == 0) return (int)i;
    return -1;
}

int ks_model_find(kiesim_t *self, const char *name) {
    for (size_t i = 0; i < self->model_count; i++)
        if (strcmp(self->models[i].name, name) == 0) return (int)i;
    return -1;
}

int ks_grow(void *array_p, size_t *alloc, size_t count, size_t size) {
    if (count < *alloc) return 0;
    size_t wanted = *alloc ? *alloc * 2 : 16;
    void *grown = realloc(*(void **)array_p, wanted * size);
    if (!grown) return -1;
    *(void **)array_p = grown;
    *alloc = wanted;
    return 0;
}

//  --------------------------------------------------------------------------

static int64_t s_monotonic_ms(void *arg) {
    (void)arg;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t s_realtime_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int s_model_add(kiesim_t *self, const char *name, bool needs_image, bool sora) {
    if (self->model_count >= UINT16_MAX ||
        ks_grow(&self->models, &self->model_alloc, self->model_count, sizeof *self->models))
        return -1;
    ks_model_t *model = &self->models[self->model_count];
    model->name = strdup(name);
    if (!model->name) return -1;
    model->needs_image = needs_image;
    model->sora = sora;
    self->model_count++;
    return 0;
}

//  Settings of spec onto key; the rate window restarts when its size changes.
static int s_key_apply(ks_key_t *key, const kiesim_key_t *spec) {
    if (spec->rate_limit < 0) return -1;
    if (spec->rate_limit != key->rate_limit) {
        int64_t *recent = NULL;
        if (spec->rate_limit > 0) {
            recent = calloc((size_t)spec->rate_limit, sizeof *recent);
            if (!recent) return -1;
        }
        free(key->recent);
        key->recent = recent;
        key->recent_head = key->recent_count = 0;
    }
    key->credits = spec->credits;
    key->rate_limit = spec->rate_limit;
    key->rate_window_ms = spec->rate_window_ms;
    key->state = spec->state;
    return 0;
}

static void s_key_free(ks_key_t *key) {
    free(key->token);
    free(key->recent);
    key->token = NULL;
    key->recent = NULL;
}
