/*  session.c — one user's conversation state: lifetime, copies, the job
    parameters JSON, order tokens, followed jobs, and the binary encoding.

    Encoding, version 1 (integers little-endian; str = u32 length + bytes;
    opt = u8 present + str):
      "GBS" u8 version
      i64 user_id, chat_id; str first_name; u8 lang, flags (1 lang_chosen, 2 flood_warned), state
      u32 screen_seq; i64 last_update_id
      i64 flood_window_ms; u32 flood_count; i64 muted_until_ms
      str order_token; i64 confirm_message_id; u32 token_counter
      u8 n, n × str placed token
      inputs draft, inputs last: str model, photo_id, photo_uid; opt product;
        u8 template; opt wishes; opt prompt; i32 count
      u8 n, n × i64 last job id
      u8 n, n × (i64 job_id, message_id, last_edit_ms; u8 shown; i8 progress; u8 flags)
      i64 viewed_job_id, viewed_job_price
      u32 FNV-1a of everything before it
*/
#include "session.h"

#include <assert.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define S_MAGIC       "GBS"
#define S_FLAG_LANG   0x01
#define S_FLAG_WARNED 0x02
#define S_JOB_FLAGS   (SESSION_JOB_SENDING | SESSION_JOB_FINAL | SESSION_JOB_CANCELLED)
#define S_PARAMS_MAX  MSG_MAX_TEXT
#define S_BASE36      "0123456789abcdefghijklmnopqrstuvwxyz"

typedef struct {
    uint8_t *data;
    size_t len, cap;
    bool failed;
} s_writer_t;

typedef struct {
    const uint8_t *data;
    size_t len, pos;
    const char *err; //  first error, NULL while fine
} s_reader_t;

static const char *const s_state_names[SESSION_STATE_COUNT_] = {
#define SESSION_S_NAME(id, name) name,
    SESSION_STATES(SESSION_S_NAME)
#undef SESSION_S_NAME
};

static const char *const s_template_names[SESSION_TPL_COUNT_] = {"", "ugc", "ad", "own"};

static void s_encode_inputs(s_writer_t *w, const session_inputs_t *inputs);
static void s_decode_inputs(s_reader_t *r, session_inputs_t *inputs);
static void s_put(s_writer_t *w, const void *data, size_t len);
static void s_put_u8(s_writer_t *w, uint8_t v);
static void s_put_u32(s_writer_t *w, uint32_t v);
static void s_put_i64(s_writer_t *w, int64_t v);
static void s_put_str(s_writer_t *w, const char *s);
static void s_put_opt(s_writer_t *w, const char *s);
static uint8_t s_get_u8(s_reader_t *r);
static uint32_t s_get_u32(s_reader_t *r);
static int64_t s_get_i64(s_reader_t *r);
static void s_get_fixed(s_reader_t *r, char *out, size_t max);
static char *s_get_text(s_reader_t *r, size_t max_chars);
static char *s_get_opt(s_reader_t *r, size_t max_chars);
static void s_fail(s_reader_t *r, const char *err);
static uint32_t s_fnv1a(const uint8_t *data, size_t len);
static bool s_token_valid(const char *token);
static bool s_text_ok(const char *text, size_t len, size_t max_chars);

session_t *session_new(int64_t user_id, int64_t chat_id, const char *language_code) {
    session_t *self = calloc(1, sizeof *self);
    if (!self) return NULL;
    self->user_id = user_id;
    self->chat_id = chat_id;
    self->lang = i18n_detect(language_code);
    self->state = SESSION_NEW;
    return self;
}

void session_destroy(session_t **self_p) {
    assert(self_p);
    session_t *self = *self_p;
    if (self) {
        session_inputs_clear(&self->draft);
        session_inputs_clear(&self->last);
        free(self);
        *self_p = NULL;
    }
}

session_t *session_dup(const session_t *self) {
    assert(self);
    session_t *copy = malloc(sizeof *copy);
    if (!copy) return NULL;
    *copy = *self;
    memset(&copy->draft, 0, sizeof copy->draft);
    memset(&copy->last, 0, sizeof copy->last);
    session_inputs_copy(&copy->draft, &self->draft);
    session_inputs_copy(&copy->last, &self->last);
    return copy;
}

const char *session_state_name(session_state_t state) {
    return (int)state >= 0 && state < SESSION_STATE_COUNT_ ? s_state_names[state] : "?";
}

session_state_t session_state_parse(const char *name) {
    for (int i = 0; name && i < SESSION_STATE_COUNT_; i++)
        if (strcmp(name, s_state_names[i]) == 0) return (session_state_t)i;
    return SESSION_STATE_COUNT_;
}

const char *session_template_name(session_template_t tpl) {
    return (int)tpl >= 0 && tpl < SESSION_TPL_COUNT_ ? s_template_names[tpl] : "";
}

session_template_t session_template_parse(const char *name) {
    for (int i = 1; name && i < SESSION_TPL_COUNT_; i++)
        if (strcmp(name, s_template_names[i]) == 0) return (session_template_t)i;
    return SESSION_TPL_NONE;
}

int session_encode(const session_t *self, uint8_t **data_p, size_t *size_p) {
    assert(self && data_p && size_p);
    s_writer_t w = {0};
    s_put(&w, S_MAGIC, 3);
    s_put_u8(&w, SESSION_VERSION);
    s_put_i64(&w, self->user_id);
    s_put_i64(&w, self->chat_id);
    s_put_str(&w, self->first_name);
    s_put_u8(&w, (uint8_t)self->lang);
    s_put_u8(&w, (uint8_t)((self->lang_chosen ? S_FLAG_LANG : 0) |
                           (self->flood_warned ? S_FLAG_WARNED : 0)));
    s_put_u8(&w, (uint8_t)self->state);
    s_put_u32(&w, self->screen_seq);
    s_put_i64(&w, self->last_update_id);
    s_put_i64(&w, self->flood_window_ms);
    s_put_u32(&w, self->flood_count);
    s_put_i64(&w, self->muted_until_ms);
    s_put_str(&w, self->order_token);
    s_put_i64(&w, self->confirm_message_id);
    s_put_u32(&w, self->token_counter);
    size_t placed =
        self->placed_count < SESSION_PLACED_MAX ? self->placed_count : SESSION_PLACED_MAX;
    s_put_u8(&w, (uint8_t)placed);
    for (size_t i = 0; i < placed; i++)
        s_put_str(&w, self->placed[i]);
    s_encode_inputs(&w, &self->draft);
    s_encode_inputs(&w, &self->last);
    size_t jobs =
        self->last_job_count < SESSION_LAST_JOBS_MAX ? self->last_job_count : SESSION_LAST_JOBS_MAX;
    s_put_u8(&w, (uint8_t)jobs);
    for (size_t i = 0; i < jobs; i++)
        s_put_i64(&w, self->last_job_ids[i]);
    size_t tracked = self->job_count < SESSION_TRACK_MAX ? self->job_count : SESSION_TRACK_MAX;
    s_put_u8(&w, (uint8_t)tracked);
    for (size_t i = 0; i < tracked; i++) {
        const session_job_t *job = &self->jobs[i];
        s_put_i64(&w, job->job_id);
        s_put_i64(&w, job->message_id);
        s_put_i64(&w, job->last_edit_ms);
        s_put_u8(&w, job->shown);
        s_put_u8(&w, (uint8_t)job->progress);
        s_put_u8(&w, job->flags & S_JOB_FLAGS);
    }
    s_put_i64(&w, self->viewed_job_id);
    s_put_i64(&w, self->viewed_job_price);
    if (!w.failed) s_put_u32(&w, s_fnv1a(w.data, w.len));
    if (w.failed || w.len > MSG_MAX_SESSION) {
        free(w.data);
        return -1;
    }
    *data_p = w.data;
    *size_p = w.len;
    return 0;
}

session_t *session_decode(const uint8_t *data, size_t size, const char **err) {
    const char *dummy;
    if (!err) err = &dummy;
    *err = NULL;
    if (!data || size < 8 || size > MSG_MAX_SESSION) {
        *err = "size";
        return NULL;
    }
    if (memcmp(data, S_MAGIC, 3) != 0) {
        *err = "magic";
        return NULL;
    }
    if (data[3] != SESSION_VERSION) {
        *err = "version";
        return NULL;
    }
    uint32_t sum = (uint32_t)data[size - 4] | (uint32_t)data[size - 3] << 8 |
                   (uint32_t)data[size - 2] << 16 | (uint32_t)data[size - 1] << 24;
    if (sum != s_fnv1a(data, size - 4)) {
        *err = "checksum";
        return NULL;
    }
    s_reader_t r = {data, size - 4, 4, NULL};
    session_t *self = calloc(1, sizeof *self);
    if (!self) {
        *err = "memory";
        return NULL;
    }
    self->user_id = s_get_i64(&r);
    self->chat_id = s_get_i64(&r);
    s_get_fixed(&r, self->first_name, SESSION_NAME_MAX);
    uint8_t lang = s_get_u8(&r), flags = s_get_u8(&r), state = s_get_u8(&r);
    if (lang >= I18N_LANG_COUNT_ || state >= SESSION_STATE_COUNT_ ||
        (flags & ~(S_FLAG_LANG | S_FLAG_WARNED)))
        s_fail(&r, "enum");
    self->lang = (i18n_lang_t)(lang < I18N_LANG_COUNT_ ? lang : 0);
    self->state = (session_state_t)(state < SESSION_STATE_COUNT_ ? state : 0);
    self->lang_chosen = flags & S_FLAG_LANG;
    self->flood_warned = flags & S_FLAG_WARNED;
    self->screen_seq = s_get_u32(&r);
    self->last_update_id = s_get_i64(&r);
    self->flood_window_ms = s_get_i64(&r);
    self->flood_count = s_get_u32(&r);
    self->muted_until_ms = s_get_i64(&r);
    s_get_fixed(&r, self->order_token, SESSION_TOKEN_MAX);
    if (*self->order_token && !s_token_valid(self->order_token)) s_fail(&r, "token");
    self->confirm_message_id = s_get_i64(&r);
    self->token_counter = s_get_u32(&r);
    self->placed_count = s_get_u8(&r);
    if (self->placed_count > SESSION_PLACED_MAX) {
        s_fail(&r, "placed");
        self->placed_count = 0;
    }
    for (size_t i = 0; i < self->placed_count && !r.err; i++) {
        s_get_fixed(&r, self->placed[i], SESSION_TOKEN_MAX);
        if (!s_token_valid(self->placed[i])) s_fail(&r, "token");
    }
    s_decode_inputs(&r, &self->draft);
    s_decode_inputs(&r, &self->last);
    self->last_job_count = s_get_u8(&r);
    if (self->last_job_count > SESSION_LAST_JOBS_MAX) {
        s_fail(&r, "last jobs");
        self->last_job_count = 0;
    }
    for (size_t i = 0; i < self->last_job_count; i++)
        self->last_job_ids[i] = s_get_i64(&r);
    self->job_count = s_get_u8(&r);
    if (self->job_count > SESSION_TRACK_MAX) {
        s_fail(&r, "jobs");
        self->job_count = 0;
    }
    for (size_t i = 0; i < self->job_count; i++) {
        session_job_t *job = &self->jobs[i];
        job->job_id = s_get_i64(&r);
        job->message_id = s_get_i64(&r);
        job->last_edit_ms = s_get_i64(&r);
        job->shown = s_get_u8(&r);
        job->progress = (int8_t)s_get_u8(&r);
        job->flags = s_get_u8(&r);
        if (job->progress < -1 || job->progress > 100 || (job->flags & ~S_JOB_FLAGS))
            s_fail(&r, "job");
    }
    self->viewed_job_id = s_get_i64(&r);
    self->viewed_job_price = s_get_i64(&r);
    if (!r.err && r.pos != r.len) s_fail(&r, "trailing bytes");
    if (r.err) {
        *err = r.err;
        session_destroy(&self);
    }
    return self;
}

msg_t *session_save_request(const session_t *self, int64_t update_id) {
    uint8_t *data;
    size_t size;
    if (session_encode(self, &data, &size)) return NULL;
    msg_t *req = msg_new(MSG_K_SESSION_SAVE, 0);
    msg_set_int(req, F_USER_ID, self->user_id);
    msg_set_str(req, F_STATE, session_state_name(self->state));
    int rc = msg_set_bin(req, F_SESSION, data, size);
    free(data);
    if (rc) {
        msg_destroy(&req);
        return NULL;
    }
    msg_set_int(req, F_UPDATE_ID, update_id);
    return req;
}

void session_set_name(session_t *self, const char *name) {
    if (!name) return;
    size_t len = strlen(name);
    if (!i18n_utf8_valid(name, len)) return;
    size_t keep = len;
    if (keep > SESSION_NAME_MAX) { //  back to a character boundary
        keep = SESSION_NAME_MAX;
        while (keep > 0 && ((unsigned char)name[keep] & 0xC0) == 0x80)
            keep--;
    }
    memcpy(self->first_name, name, keep);
    self->first_name[keep] = 0;
}

//  --- inputs ----------------------------------------------------------------

void session_inputs_clear(session_inputs_t *inputs) {
    free(inputs->product);
    free(inputs->wishes);
    free(inputs->prompt);
    memset(inputs, 0, sizeof *inputs);
}

void session_inputs_copy(session_inputs_t *dst, const session_inputs_t *src) {
    if (dst == src) return;
    session_inputs_clear(dst);
    memcpy(dst->model, src->model, sizeof dst->model);
    memcpy(dst->photo_id, src->photo_id, sizeof dst->photo_id);
    memcpy(dst->photo_uid, src->photo_uid, sizeof dst->photo_uid);
    dst->tpl = src->tpl;
    dst->count = src->count;
    if (src->product) session_set_text(&dst->product, src->product, strlen(src->product));
    if (src->wishes) session_set_text(&dst->wishes, src->wishes, strlen(src->wishes));
    if (src->prompt) session_set_text(&dst->prompt, src->prompt, strlen(src->prompt));
}

void session_set_text(char **field, const char *text, size_t len) {
    free(*field);
    *field = NULL;
    if (!text) return;
    *field = malloc(len + 1);
    if (!*field) abort();
    memcpy(*field, text, len);
    (*field)[len] = 0;
}

char *session_params_json(const session_inputs_t *inputs, i18n_lang_t lang) {
    json_t *obj = json_object();
    json_object_set_new(obj, "v", json_integer(1));
    json_object_set_new(obj, "lang", json_string(i18n_lang_code(lang)));
    json_object_set_new(obj, "template", json_string(session_template_name(inputs->tpl)));
    json_object_set_new(obj, "product", json_string(inputs->product ? inputs->product : ""));
    if (inputs->wishes) json_object_set_new(obj, "wishes", json_string(inputs->wishes));
    if (inputs->prompt) json_object_set_new(obj, "prompt", json_string(inputs->prompt));
    json_object_set_new(obj, "photo_file_id", json_string(inputs->photo_id));
    json_object_set_new(obj, "photo_unique_id", json_string(inputs->photo_uid));
    json_object_set_new(obj, "count", json_integer(inputs->count));
    char *text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    if (!text) abort();
    return text;
}

//  Copies a JSON string member into *out (fixed buffer of max bytes, or a
//  text field when field is not NULL). Returns -1 when present but bad.
static int s_json_str(json_t *obj, const char *key, bool required, char *out, size_t max,
                      char **field, size_t max_chars) {
    json_t *value = json_object_get(obj, key);
    if (!value) return required ? -1 : 0;
    if (!json_is_string(value)) return -1;
    const char *text = json_string_value(value);
    size_t len = json_string_length(value);
    if (memchr(text, 0, len) || !s_text_ok(text, len, field ? max_chars : max)) return -1;
    if (field)
        session_set_text(field, text, len);
    else {
        if (len > max) return -1;
        memcpy(out, text, len);
        out[len] = 0;
    }
    return 0;
}

int session_params_parse(const char *json, session_inputs_t *inputs) {
    char model[sizeof inputs->model];
    memcpy(model, inputs->model, sizeof model);
    int32_t count = inputs->count;
    session_inputs_clear(inputs);
    if (!json || strlen(json) > S_PARAMS_MAX) return -1;
    json_t *obj = json_loads(json, JSON_REJECT_DUPLICATES, NULL);
    int rc = -1;
    char tpl[8];
    if (!json_is_object(obj)) goto done;
    if (s_json_str(obj, "template", true, tpl, sizeof tpl - 1, NULL, 0) ||
        (inputs->tpl = session_template_parse(tpl)) == SESSION_TPL_NONE)
        goto done;
    if (s_json_str(obj, "product", false, NULL, 0, &inputs->product, SESSION_PRODUCT_MAX) ||
        s_json_str(obj, "wishes", false, NULL, 0, &inputs->wishes, SESSION_WISHES_MAX) ||
        s_json_str(obj, "prompt", false, NULL, 0, &inputs->prompt, SESSION_PROMPT_MAX) ||
        s_json_str(obj, "photo_file_id", true, inputs->photo_id, SESSION_FILE_ID_MAX, NULL, 0) ||
        s_json_str(obj, "photo_unique_id", false, inputs->photo_uid, SESSION_FILE_ID_MAX, NULL, 0))
        goto done;
    if (!*inputs->photo_id || (inputs->tpl == SESSION_TPL_OWN && !inputs->prompt)) goto done;
    json_t *n = json_object_get(obj, "count");
    if (n && (!json_is_integer(n) || json_integer_value(n) < 1 ||
              json_integer_value(n) > SESSION_COUNT_MAX))
        goto done;
    inputs->count = n ? (int32_t)json_integer_value(n) : count;
    memcpy(inputs->model, model, sizeof model);
    rc = 0;
done:
    json_decref(obj);
    if (rc) session_inputs_clear(inputs);
    return rc;
}

//  --- order tokens and followed jobs ----------------------------------------

const char *session_new_token(session_t *self, int64_t now_ms) {
    char digits[2][16];
    uint64_t values[2] = {now_ms > 0 ? (uint64_t)now_ms : 0, ++self->token_counter};
    for (int k = 0; k < 2; k++) {
        char tmp[16];
        size_t n = 0;
        uint64_t v = values[k];
        do {
            tmp[n++] = S_BASE36[v % 36];
            v /= 36;
        } while (v && n < sizeof tmp - 1);
        for (size_t i = 0; i < n; i++)
            digits[k][i] = tmp[n - 1 - i];
        digits[k][n] = 0;
    }
    //  two base-36 numbers of at most 13 digits each: 27 bytes at most, cut
    //  to the token's size (the low digits, which change, come first)
    size_t len0 = strlen(digits[0]), len1 = strlen(digits[1]);
    size_t room = sizeof self->order_token - 1;
    if (len0 + 1 + len1 > room) len0 = room > len1 + 1 ? room - len1 - 1 : 0;
    memcpy(self->order_token, digits[0], len0);
    self->order_token[len0] = '-';
    memcpy(self->order_token + len0 + 1, digits[1],
           len1 < room - len0 - 1 ? len1 : room - len0 - 1);
    self->order_token[len0 + 1 + (len1 < room - len0 - 1 ? len1 : room - len0 - 1)] = 0;
    return self->order_token;
}

bool session_token_placed(const session_t *self, const char *token) {
    for (size_t i = 0; token && *token && i < self->placed_count; i++)
        if (strcmp(self->placed[i], token) == 0) return true;
    return false;
}

void session_token_remember(session_t *self, const char *token) {
    if (!token || !*token || session_token_placed(self, token) || strlen(token) > SESSION_TOKEN_MAX)
        return;
    size_t n =
        self->placed_count < SESSION_PLACED_MAX ? self->placed_count : SESSION_PLACED_MAX - 1;
    memmove(self->placed[1], self->placed[0], n * sizeof self->placed[0]);
    snprintf(self->placed[0], sizeof self->placed[0], "%s", token);
    self->placed_count = n + 1;
}

session_job_t *session_job_find(session_t *self, int64_t job_id) {
    for (size_t i = 0; i < self->job_count; i++)
        if (self->jobs[i].job_id == job_id) return &self->jobs[i];
    return NULL;
}

session_job_t *session_job_track(session_t *self, int64_t job_id) {
    session_job_t *job = session_job_find(self, job_id);
    if (job) return job;
    if (self->job_count == SESSION_TRACK_MAX) {
        size_t victim = 0;
        for (size_t i = 0; i < self->job_count; i++)
            if (self->jobs[i].flags & SESSION_JOB_FINAL) {
                victim = i;
                break;
            }
        memmove(&self->jobs[victim], &self->jobs[victim + 1],
                (self->job_count - victim - 1) * sizeof self->jobs[0]);
        self->job_count--;
    }
    job = &self->jobs[self->job_count++];
    *job = (session_job_t){.job_id = job_id, .progress = -1};
    return job;
}

void session_job_forget(session_t *self, int64_t job_id) {
    session_job_t *job = session_job_find(self, job_id);
    if (!job) return;
    size_t index = (size_t)(job - self->jobs);
    memmove(job, job + 1, (self->job_count - index - 1) * sizeof *job);
    self->job_count--;
}

//  --- private ---------------------------------------------------------------

static void s_encode_inputs(s_writer_t *w, const session_inputs_t *inputs) {
    s_put_str(w, inputs->model);
    s_put_str(w, inputs->photo_id);
    s_put_str(w, inputs->photo_uid);
    s_put_opt(w, inputs->product);
    s_put_u8(w, (uint8_t)inputs->tpl);
    s_put_opt(w, inputs->wishes);
    s_put_opt(w, inputs->prompt);
    s_put_u32(w, (uint32_t)inputs->count);
}

static void s_decode_inputs(s_reader_t *r, session_inputs_t *inputs) {
    s_get_fixed(r, inputs->model, SESSION_MODEL_MAX);
    s_get_fixed(r, inputs->photo_id, SESSION_FILE_ID_MAX);
    s_get_fixed(r, inputs->photo_uid, SESSION_FILE_ID_MAX);
    inputs->product = s_get_opt(r, SESSION_PRODUCT_MAX);
    uint8_t tpl = s_get_u8(r);
    if (tpl >= SESSION_TPL_COUNT_) s_fail(r, "template");
    inputs->tpl = (session_template_t)(tpl < SESSION_TPL_COUNT_ ? tpl : 0);
    inputs->wishes = s_get_opt(r, SESSION_WISHES_MAX);
    inputs->prompt = s_get_opt(r, SESSION_PROMPT_MAX);
    uint32_t count = s_get_u32(r);
    if (count > SESSION_COUNT_MAX) s_fail(r, "count");
    inputs->count = (int32_t)(count <= SESSION_COUNT_MAX ? count : 0);
}

static void s_put(s_writer_t *w, const void *data, size_t len) {
    if (w->failed) return;
    if (w->len + len > w->cap) {
        size_t cap = w->cap ? w->cap : 512;
        while (cap < w->len + len)
            cap *= 2;
        uint8_t *grown = realloc(w->data, cap);
        if (!grown) {
            w->failed = true;
            return;
        }
        w->data = grown;
        w->cap = cap;
    }
    memcpy(w->data + w->len, data, len);
    w->len += len;
}

static void s_put_u8(s_writer_t *w, uint8_t v) {
    s_put(w, &v, 1);
}

static void s_put_u32(s_writer_t *w, uint32_t v) {
    uint8_t b[4];
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    s_put(w, b, 4);
}

static void s_put_i64(s_writer_t *w, int64_t value) {
    uint64_t v = (uint64_t)value;
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    s_put(w, b, 8);
}

static void s_put_str(s_writer_t *w, const char *s) {
    size_t len = strlen(s);
    s_put_u32(w, (uint32_t)len);
    s_put(w, s, len);
}

static void s_put_opt(s_writer_t *w, const char *s) {
    s_put_u8(w, s != NULL);
    if (s) s_put_str(w, s);
}

static void s_fail(s_reader_t *r, const char *err) {
    if (!r->err) r->err = err;
}

static bool s_need(s_reader_t *r, size_t n) {
    if (r->err) return false;
    if (r->len - r->pos < n) {
        s_fail(r, "truncated");
        return false;
    }
    return true;
}

static uint8_t s_get_u8(s_reader_t *r) {
    return s_need(r, 1) ? r->data[r->pos++] : 0;
}

static uint32_t s_get_u32(s_reader_t *r) {
    if (!s_need(r, 4)) return 0;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)r->data[r->pos++] << (8 * i);
    return v;
}

static int64_t s_get_i64(s_reader_t *r) {
    if (!s_need(r, 8)) return 0;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)r->data[r->pos++] << (8 * i);
    return (int64_t)v;
}

//  A string into a fixed buffer of max + 1 bytes.
static void s_get_fixed(s_reader_t *r, char *out, size_t max) {
    out[0] = 0;
    uint32_t len = s_get_u32(r);
    if (r->err) return;
    if (len > max) {
        s_fail(r, "string too long");
        return;
    }
    if (!s_need(r, len)) return;
    const char *text = (const char *)r->data + r->pos;
    if (memchr(text, 0, len) || !i18n_utf8_valid(text, len)) {
        s_fail(r, "string not UTF-8");
        return;
    }
    memcpy(out, text, len);
    out[len] = 0;
    r->pos += len;
}

static char *s_get_text(s_reader_t *r, size_t max_chars) {
    uint32_t len = s_get_u32(r);
    if (r->err) return NULL;
    if (len > SESSION_TEXT_BYTES_MAX) {
        s_fail(r, "text too long");
        return NULL;
    }
    if (!s_need(r, len)) return NULL;
    const char *text = (const char *)r->data + r->pos;
    if (memchr(text, 0, len) || !s_text_ok(text, len, max_chars)) {
        s_fail(r, "bad text");
        return NULL;
    }
    char *out = NULL;
    session_set_text(&out, text, len);
    r->pos += len;
    return out;
}

static char *s_get_opt(s_reader_t *r, size_t max_chars) {
    uint8_t present = s_get_u8(r);
    if (present > 1) s_fail(r, "option");
    return present == 1 ? s_get_text(r, max_chars) : NULL;
}

static uint32_t s_fnv1a(const uint8_t *data, size_t len) {
    uint32_t hash = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        hash ^= data[i];
        hash *= 16777619u;
    }
    return hash;
}

static bool s_token_valid(const char *token) {
    size_t len = strlen(token);
    return len > 0 && len <= SESSION_TOKEN_MAX && strspn(token, S_BASE36 "-") == len;
}

static bool s_text_ok(const char *text, size_t len, size_t max_chars) {
    return len <= SESSION_TEXT_BYTES_MAX && i18n_utf8_valid(text, len) &&
           i18n_utf8_chars(text, len) <= max_chars;
}
