/*  kiesim_task.c — createTask and recordInfo: validation as the real
    service does it, the [[sim:...]] markers, and task states computed from
    the clock (no timers: a task costs nothing until it is looked at).

    A task's whole fate is decided when it is created (outcome, duration,
    result size, scripted poll errors); its state at any instant is a pure
    function of (now - created). The only thing that happens later is the
    bookkeeping of its end (failed credits refunded), done once, by whoever
    first sees it end: a poll, ks_settle (kiesim_callback.c), an inspection.
*/
#define _GNU_SOURCE //  asprintf
#include "kiesim_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MARKER_OPEN    "[[sim:"
#define MARKER_CLOSE   "]]"
#define MARKER_MAX     64 //  bytes between the brackets
#define TASK_ID_PREFIX "task_"

//  How a task can fail; [[sim:fail=<name>]] picks one by name.
typedef struct {
    const char *name;
    kiesim_outcome_t outcome;
    const char *code; //  failCode; NULL = behaviour.content_fail_code
    const char *msg;
} failure_t;

static const failure_t s_failures[] = {
    {"content", KIESIM_OUTCOME_CONTENT, NULL,
     "This content may violate our guardrails concerning similarity to third-party content"},
    {"people", KIESIM_OUTCOME_CONTENT, NULL,
     "We currently do not support uploads of images containing photorealistic people"},
    {"image", KIESIM_OUTCOME_CONTENT, NULL,
     "Failed to fetch the image. Kindly verify any access limits set by you or your service "
     "provider"},
    {"temporary", KIESIM_OUTCOME_TEMPORARY, "500", "Internal server error"},
};
#define FAILURE_CONTENT   0
#define FAILURE_PEOPLE    1
#define FAILURE_IMAGE     2
#define FAILURE_TEMPORARY 3
#define FAILURE_COUNT     (sizeof s_failures / sizeof s_failures[0])

static const char *const s_state_names[] = {"waiting", "queuing", "generating", "success", "fail"};
static const char *const s_outcome_names[] = {"success", "content", "temporary", "never"};

typedef enum { CREATE_PASS, CREATE_CODE, CREATE_DROP, CREATE_LOST } create_action_t;

//  What the markers of one prompt ask for.
typedef struct {
    int failure; //  -1 = none
    bool success;
    bool never;
    int64_t duration; //  -1 = none
    int64_t size;     //  -1 = none
    create_action_t create;
    int create_code;
    long create_times; //  0 = every time
    int poll_code;     //  0 = none
    long poll_times;   //  0 = every time
} markers_t;

static int s_validate(kiesim_t *self, json_t *root, int *model_index, ks_reply_t *reply);
static void s_missing(kiesim_t *self, ks_reply_t *reply, const char *field);
static bool s_is_http_url(const char *text);
static int s_markers_parse(const char *prompt, markers_t *markers, ks_reply_t *reply);
static int s_marker_action(const char *value, create_action_t *action, int *code, long *times);
static int s_image_failure(kiesim_t *self, json_t *image_urls);
static kiesim_outcome_t s_pick_outcome(kiesim_t *self, const markers_t *markers, int *failure);
static ks_task_t *s_task_new(kiesim_t *self, int key_index, int model_index, json_t *root);
static json_t *s_empty(kiesim_t *self, bool callback);
static json_t *s_input(const ks_task_t *task, json_t **root_p);

//  --------------------------------------------------------------------------

void ks_task_create(kiesim_t *self, int key_index, const char *body, size_t size,
                    ks_reply_t *reply) {
    ks_key_t *key = &self->keys[key_index];
    int64_t now = ks_now(self);
    json_error_t error;
    json_t *root = json_loadb(body, size, 0, &error);
    int model_index = -1;
    markers_t markers;
    if (!root || !json_is_object(root)) {
        ks_reply_error(reply, 422, "Invalid request body: %s", root ? "not an object" : error.text);
        goto rejected;
    }
    if (s_validate(self, root, &model_index, reply)) goto rejected;
    json_t *input = json_object_get(root, "input");
    const char *prompt = json_string_value(json_object_get(input, "prompt"));
    if (s_markers_parse(prompt, &markers, reply)) goto rejected;

    //  Scripted createTask faults, for the first N calls with this prompt.
    create_action_t action = markers.create;
    if (action != CREATE_PASS && markers.create_times > 0) {
        uintptr_t seen = (uintptr_t)zhashx_lookup(self->create_scripts, prompt) + 1;
        zhashx_update(self->create_scripts, prompt, (void *)seen);
        if (seen > (uintptr_t)markers.create_times) action = CREATE_PASS;
    }
    if (action == CREATE_CODE) {
        ks_reply_error(reply, markers.create_code, "%s", ks_code_msg(markers.create_code));
        goto rejected;
    }
    if (action == CREATE_DROP) {
        reply->kind = KS_REPLY_DROP;
        goto rejected;
    }
    //  Limits: the rate window first (KIE rejects excess, does not queue).
    if (key->rate_limit > 0 && key->recent_count == (size_t)key->rate_limit &&
        now - key->recent[key->recent_head] < key->rate_window_ms) {
        ks_reply_error(reply, 429, "%s", ks_code_msg(429));
        goto rejected;
    }
    if (key->credits < self->behaviour.task_cost) {
        ks_reply_error(reply, 402, "%s", ks_code_msg(402));
        goto rejected;
    }

    ks_task_t *task = s_task_new(self, key_index, model_index, root);
    if (!task || ks_grow(&self->tasks, &self->task_alloc, self->task_count, sizeof task)) {
        ks_task_free(&task);
        ks_reply_error(reply, 500, "%s", ks_code_msg(500));
        goto rejected;
    }
    int failure = -1;
    task->outcome = (uint8_t)s_pick_outcome(self, &markers, &failure);
    int image_failure = s_image_failure(self, json_object_get(input, "image_urls"));
    if (image_failure >= 0) {
        task->outcome = KIESIM_OUTCOME_CONTENT;
        failure = image_failure;
    }
    task->failure = (uint8_t)(failure >= 0 ? failure : 0);
    task->duration = markers.duration > 0 ? markers.duration : self->behaviour.task_duration_ms;
    task->result_size = markers.size;
    if (markers.poll_code) {
        task->poll_fail_code = (uint16_t)markers.poll_code;
        task->poll_fail_left =
            markers.poll_times > 0 ? (uint16_t)markers.poll_times : KS_POLL_ALWAYS;
    }
    task->created = now;
    task->cost = (int32_t)self->behaviour.task_cost;
    key->credits -= task->cost;
    if (key->rate_limit > 0) {
        key->recent[key->recent_head] = now;
        key->recent_head = (key->recent_head + 1) % (size_t)key->rate_limit;
        if (key->recent_count < (size_t)key->rate_limit) key->recent_count++;
    }
    self->tasks[self->task_count++] = task;
    zhashx_insert(self->task_index, task->id, task);
    if (task->outcome != KIESIM_OUTCOME_NEVER) ks_finish_schedule(self, task);
    key->counters.creates++;
    key->counters.outcomes[task->outcome]++;
    self->stats.creates++;
    reply->code = 200;
    reply->data = json_pack("{s:s}", "taskId", task->id);
    if (action == CREATE_LOST) reply->kind = KS_REPLY_LOST;
    json_decref(root);
    return;

rejected: //  counted in stats by the http layer, which sees every kind of refusal
    key->counters.creates_rejected++;
    json_decref(root);
}

void ks_task_poll(kiesim_t *self, int key_index, const char *task_id, ks_reply_t *reply) {
    self->stats.polls++;
    self->keys[key_index].counters.polls++;
    if (!task_id || !*task_id) {
        ks_reply_error(reply, 422, "taskId is required");
        return;
    }
    int64_t now = ks_now(self);
    ks_task_t *task = zhashx_lookup(self->task_index, task_id);
    //  Unknown, another account's, or too fresh: all look the same.
    if (!task || task->key_index != (uint32_t)key_index ||
        now - task->created < self->behaviour.visibility_delay_ms) {
        self->stats.polls_not_found++;
        ks_reply_error(reply, 422, "recordInfo is null");
        return;
    }
    task->polls++;
    if (task->poll_fail_left) {
        if (task->poll_fail_left != KS_POLL_ALWAYS) task->poll_fail_left--;
        ks_reply_error(reply, task->poll_fail_code, "%s", ks_code_msg(task->poll_fail_code));
        return;
    }
    reply->code = 200;
    reply->data = ks_task_record(self, task, now, false);
}

kiesim_state_t ks_task_eval(kiesim_t *self, ks_task_t *task, int64_t now, int *progress) {
    int64_t age = now > task->created ? now - task->created : 0;
    int64_t duration = task->duration;
    kiesim_state_t state;
    int percent = 0;
    if (task->outcome != KIESIM_OUTCOME_NEVER && age >= duration) {
        state = task->outcome == KIESIM_OUTCOME_SUCCESS ? KIESIM_STATE_SUCCESS : KIESIM_STATE_FAIL;
        percent = state == KIESIM_STATE_SUCCESS ? 100 : 99;
        if (!task->finished) {
            task->finished = true;
            if (state == KIESIM_STATE_FAIL && self->behaviour.refund_failed)
                self->keys[task->key_index].credits += task->cost;
        }
    } else if (age < duration / 10)
        state = KIESIM_STATE_WAITING;
    else if (age < duration / 5)
        state = KIESIM_STATE_QUEUING;
    else {
        state = KIESIM_STATE_GENERATING;
        int64_t span = duration - duration / 5;
        int64_t into = age - duration / 5;
        percent = span > 0 ? (int)(into * 100 / span) : 99;
        if (percent > 99) percent = 99;
    }
    if (progress) *progress = percent;
    return state;
}

json_t *ks_task_record(kiesim_t *self, ks_task_t *task, int64_t now, bool callback) {
    int progress = 0;
    kiesim_state_t state = ks_task_eval(self, task, now, &progress);
    bool final = state == KIESIM_STATE_SUCCESS || state == KIESIM_STATE_FAIL;
    int64_t created = ks_unix_ms(self, task->created);
    int64_t completed = created + task->duration;
    int64_t updated = ks_unix_ms(self, now);
    if (final)
        updated = completed;
    else if (state == KIESIM_STATE_WAITING)
        updated = created;
    else if (state == KIESIM_STATE_QUEUING)
        updated = created + task->duration / 10;

    json_t *result = NULL;
    json_t *fail_code = NULL;
    json_t *fail_msg = NULL;
    if (state == KIESIM_STATE_SUCCESS) {
        char *text = NULL;
        if (asprintf(&text, "{\"resultUrls\":[\"%s/files/%s.mp4\"]}",
                     self->public_url ? self->public_url : self->url, task->id) >= 0) {
            result = json_string(text);
            free(text);
        }
    } else if (state == KIESIM_STATE_FAIL) {
        const failure_t *failure = &s_failures[task->failure % FAILURE_COUNT];
        char code[16];
        snprintf(code, sizeof code, "%d", self->behaviour.content_fail_code);
        fail_code = json_string(failure->code ? failure->code : code);
        fail_msg = json_string(failure->msg);
    }
    return json_pack(
        "{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:I, s:o, s:I, s:i}", "taskId", task->id, "model",
        self->models[task->model_index].name, "state", s_state_names[state], "param", task->param,
        "resultJson", result ? result : s_empty(self, callback), "failCode",
        fail_code ? fail_code : s_empty(self, callback), "failMsg",
        fail_msg ? fail_msg : s_empty(self, callback), "costTime",
        final ? json_integer(completed - created) : json_integer(0), "createTime",
        (json_int_t)created, "completeTime", final ? json_integer(completed) : json_null(),
        "updateTime", (json_int_t)updated, "progress", progress);
}

const char *ks_state_name(kiesim_state_t state) {
    return state <= KIESIM_STATE_FAIL ? s_state_names[state] : "?";
}

const char *ks_outcome_name(kiesim_outcome_t outcome) {
    return outcome < KIESIM_OUTCOME_COUNT ? s_outcome_names[outcome] : "?";
}

char *ks_task_prompt(const ks_task_t *task) {
    json_t *root = NULL;
    const char *prompt = json_string_value(json_object_get(s_input(task, &root), "prompt"));
    char *copy = prompt ? strdup(prompt) : NULL;
    json_decref(root);
    return copy;
}

json_t *ks_task_image_urls(const ks_task_t *task) {
    json_t *root = NULL;
    json_t *urls = json_object_get(s_input(task, &root), "image_urls");
    json_t *copy = json_is_array(urls) ? json_deep_copy(urls) : json_array();
    json_decref(root);
    return copy;
}

void ks_task_free(ks_task_t **task_p) {
    ks_task_t *task = *task_p;
    if (!task) return;
    free(task->param);
    free(task->callback_url);
    free(task);
    *task_p = NULL;
}

int64_t ks_task_result_size(kiesim_t *self, const ks_task_t *task) {
    int64_t size = task->result_size >= 0 ? task->result_size : self->behaviour.result_size;
    return size > (int64_t)kiesim_sample_mp4_size ? size : (int64_t)kiesim_sample_mp4_size;
}

//  --------------------------------------------------------------------------

//  Checks the createTask body as KIE does: the model, its required input
//  fields, their types and values. 0 when good, else reply is the error.
static int s_validate(kiesim_t *self, json_t *root, int *model_index, ks_reply_t *reply) {
    json_t *model = json_object_get(root, "model");
    if (!model || json_is_null(model) || (json_is_string(model) && !*json_string_value(model))) {
        s_missing(self, reply, "model");
        return -1;
    }
    *model_index = json_is_string(model) ? ks_model_find(self, json_string_value(model)) : -1;
    if (*model_index < 0) {
        ks_reply_error(reply, 422, "The model %.64s is not supported",
                       json_is_string(model) ? json_string_value(model) : "(not a string)");
        return -1;
    }
    const ks_model_t *spec = &self->models[*model_index];
    json_t *input = json_object_get(root, "input");
    if (!json_is_object(input)) {
        if (input && !json_is_null(input))
            ks_reply_error(reply, 422, "input must be an object");
        else
            s_missing(self, reply, "input");
        return -1;
    }
    json_t *prompt = json_object_get(input, "prompt");
    if (!prompt || json_is_null(prompt) ||
        (json_is_string(prompt) && !*json_string_value(prompt))) {
        s_missing(self, reply, "input.prompt");
        return -1;
    }
    if (!json_is_string(prompt)) {
        ks_reply_error(reply, 422, "prompt must be a string");
        return -1;
    }
    size_t characters = 0;
    for (const char *c = json_string_value(prompt); *c; c++)
        characters += ((unsigned char)*c & 0xC0) != 0x80;
    if (characters > KIESIM_PROMPT_MAX) {
        ks_reply_error(reply, 422, "prompt must be at most %d characters", KIESIM_PROMPT_MAX);
        return -1;
    }
    json_t *image_urls = json_object_get(input, "image_urls");
    if (image_urls && !json_is_null(image_urls)) {
        bool good = json_is_array(image_urls);
        size_t i;
        json_t *url;
        json_array_foreach(image_urls, i, url) good = good && s_is_http_url(json_string_value(url));
        if (!good) {
            ks_reply_error(reply, 422, "image_urls must be an array of http(s) URLs");
            return -1;
        }
    }
    if (spec->needs_image && json_array_size(image_urls) == 0) {
        s_missing(self, reply, "input.image_urls");
        return -1;
    }
    if (spec->sora) {
        const char *aspect = json_string_value(json_object_get(input, "aspect_ratio"));
        json_t *frames = json_object_get(input, "n_frames");
        const char *n_frames = json_string_value(frames);
        json_t *watermark = json_object_get(input, "remove_watermark");
        const char *size = json_string_value(json_object_get(input, "size"));
        if (json_object_get(input, "aspect_ratio") &&
            (!aspect || (strcmp(aspect, "portrait") && strcmp(aspect, "landscape")))) {
            ks_reply_error(reply, 422, "aspect_ratio must be portrait or landscape");
            return -1;
        }
        if (frames && (!n_frames || (strcmp(n_frames, "10") && strcmp(n_frames, "15")))) {
            ks_reply_error(reply, 422, "n_frames must be one of \"10\", \"15\"");
            return -1;
        }
        if (watermark && !json_is_boolean(watermark)) {
            ks_reply_error(reply, 422, "remove_watermark must be a boolean");
            return -1;
        }
        if (json_object_get(input, "size") &&
            (!size || (strcmp(size, "standard") && strcmp(size, "high")))) {
            ks_reply_error(reply, 422, "size must be standard or high");
            return -1;
        }
    }
    json_t *callback = json_object_get(root, "callBackUrl");
    if (callback && !json_is_null(callback) && !s_is_http_url(json_string_value(callback))) {
        ks_reply_error(reply, 422, "callBackUrl must be an http(s) URL");
        return -1;
    }
    return 0;
}

//  A required field is missing: 422 naming it, or the live service's 500.
static void s_missing(kiesim_t *self, ks_reply_t *reply, const char *field) {
    if (self->behaviour.missing_field_code == 500)
        ks_reply_error(reply, 500, "This field is required");
    else
        ks_reply_error(reply, self->behaviour.missing_field_code, "%s is required", field);
}

static bool s_is_http_url(const char *text) {
    if (!text) return false;
    size_t skip = strncasecmp(text, "https://", 8) == 0  ? 8
                  : strncasecmp(text, "http://", 7) == 0 ? 7
                                                         : 0;
    return skip && text[skip] && text[skip] != '/' && !strpbrk(text, " \t\r\n");
}

static int s_markers_parse(const char *prompt, markers_t *markers, ks_reply_t *reply) {
    memset(markers, 0, sizeof *markers);
    markers->failure = -1;
    markers->duration = markers->size = -1;
    for (const char *at = strstr(prompt, MARKER_OPEN); at; at = strstr(at, MARKER_OPEN)) {
        at += strlen(MARKER_OPEN);
        const char *end = strstr(at, MARKER_CLOSE);
        char marker[MARKER_MAX + 1];
        size_t length = end ? (size_t)(end - at) : strlen(at);
        snprintf(marker, sizeof marker, "%.*s", (int)(length < MARKER_MAX ? length : MARKER_MAX),
                 at);
        char *value = strchr(marker, '=');
        if (value) *value++ = '\0';
        bool good = end && length <= MARKER_MAX;
        char *rest = NULL;
        if (!good)
            ;
        else if (strcmp(marker, "fail") == 0 && value) {
            good = false;
            for (size_t i = 0; i < FAILURE_COUNT; i++)
                if (strcmp(value, s_failures[i].name) == 0) {
                    markers->failure = (int)i;
                    good = true;
                }
        } else if (strcmp(marker, "success") == 0 && !value)
            markers->success = true;
        else if (strcmp(marker, "never") == 0 && !value)
            markers->never = true;
        else if ((strcmp(marker, "duration") == 0 || strcmp(marker, "size") == 0) && value) {
            long long number = strtoll(value, &rest, 10);
            good = rest != value && !*rest && number > 0 && number <= (1LL << 32);
            *(marker[0] == 'd' ? &markers->duration : &markers->size) = number;
        } else if (strcmp(marker, "create") == 0 && value)
            good = s_marker_action(value, &markers->create, &markers->create_code,
                                   &markers->create_times) == 0;
        else if (strcmp(marker, "poll") == 0 && value) {
            create_action_t action;
            good =
                s_marker_action(value, &action, &markers->poll_code, &markers->poll_times) == 0 &&
                action == CREATE_CODE && markers->poll_times < KS_POLL_ALWAYS;
        } else
            good = false;
        if (!good) {
            ks_reply_error(reply, 422, "kiesim: unknown marker [[sim:%.*s]]",
                           (int)(length < MARKER_MAX ? length : MARKER_MAX), at);
            return -1;
        }
        at = end;
    }
    return 0;
}

//  "CODE", "drop" or "lost", each optionally followed by "xN".
static int s_marker_action(const char *value, create_action_t *action, int *code, long *times) {
    char *rest = NULL;
    *times = 0;
    if (strncmp(value, "drop", 4) == 0) {
        *action = CREATE_DROP;
        rest = (char *)value + 4;
    } else if (strncmp(value, "lost", 4) == 0) {
        *action = CREATE_LOST;
        rest = (char *)value + 4;
    } else {
        long number = strtol(value, &rest, 10);
        if (rest == value || number < 400 || number > 999) return -1;
        *action = CREATE_CODE;
        *code = (int)number;
    }
    if (*rest == 'x') {
        char *start = rest + 1;
        *times = strtol(start, &rest, 10);
        if (rest == start || *times < 1) return -1;
    }
    return *rest ? -1 : 0;
}

//  FAILURE_IMAGE when an image cannot be fetched (a Telegram file URL, or
//  an upload of ours that does not exist), else -1.
static int s_image_failure(kiesim_t *self, json_t *image_urls) {
    const char *base = self->public_url ? self->public_url : self->url;
    size_t base_length = strlen(base);
    int failure = -1;
    size_t i;
    json_t *item;
    json_array_foreach(image_urls, i, item) {
        const char *url = json_string_value(item);
        if (strstr(url, "/file/bot") || strstr(url, "api.telegram.org")) {
            self->stats.telegram_urls++;
            failure = FAILURE_IMAGE;
        } else if (strncmp(url, base, base_length) == 0 &&
                   strncmp(url + base_length, "/uploads/", 9) == 0) {
            char id[KS_ID_HEX + 1];
            snprintf(id, sizeof id, "%s", url + base_length + 9);
            const char *slash = strchr(url + base_length + 9, '/');
            if (!slash || slash - (url + base_length + 9) != KS_ID_HEX || !ks_upload_find(self, id))
                failure = FAILURE_IMAGE;
        }
    }
    return failure;
}

static kiesim_outcome_t s_pick_outcome(kiesim_t *self, const markers_t *markers, int *failure) {
    const kiesim_behaviour_t *b = &self->behaviour;
    double draw = ks_random(self); //  drawn always: the same seed, the same run
    if (markers->failure >= 0) {
        *failure = markers->failure;
        return s_failures[markers->failure].outcome;
    }
    if (markers->never) return KIESIM_OUTCOME_NEVER;
    if (markers->success) return KIESIM_OUTCOME_SUCCESS;
    if (draw < b->p_content_fail) {
        *failure = draw < b->p_content_fail / 2 ? FAILURE_CONTENT : FAILURE_PEOPLE;
        return KIESIM_OUTCOME_CONTENT;
    }
    draw -= b->p_content_fail;
    if (draw < b->p_temporary_fail) {
        *failure = FAILURE_TEMPORARY;
        return KIESIM_OUTCOME_TEMPORARY;
    }
    draw -= b->p_temporary_fail;
    return draw < b->p_never ? KIESIM_OUTCOME_NEVER : KIESIM_OUTCOME_SUCCESS;
}

static ks_task_t *s_task_new(kiesim_t *self, int key_index, int model_index, json_t *root) {
    ks_task_t *task = calloc(1, sizeof *task);
    if (!task) return NULL;
    do {
        memcpy(task->id, TASK_ID_PREFIX, strlen(TASK_ID_PREFIX));
        ks_random_hex(self, task->id + strlen(TASK_ID_PREFIX), KS_ID_HEX);
    } while (zhashx_lookup(self->task_index, task->id));
    task->key_index = (uint32_t)key_index;
    task->model_index = (uint16_t)model_index;
    task->param = json_dumps(root, JSON_COMPACT);
    const char *callback = json_string_value(json_object_get(root, "callBackUrl"));
    task->callback_url = callback ? strdup(callback) : NULL;
    if (!task->param || (callback && !task->callback_url)) ks_task_free(&task);
    return task;
}

//  An empty field: "" in recordInfo, null in callbacks (as KIE's examples
//  show them), either at random when shapes vary.
static json_t *s_empty(kiesim_t *self, bool callback) {
    if (self->behaviour.vary_shapes) return ks_random(self) < 0.5 ? json_null() : json_string("");
    return callback ? json_null() : json_string("");
}

//  The input object of a task's stored createTask body (*root_p to free).
static json_t *s_input(const ks_task_t *task, json_t **root_p) {
    *root_p = json_loads(task->param, 0, NULL);
    return json_object_get(*root_p, "input");
}
