/*  worker_job.c — one job's way through a key worker: prompt, photo,
    createTask, the task id made durable, polling, and the one ledger
    request that ends the job's stay here (capture, release or retry),
    followed by its event.

    A job has one thing outstanding at a time (worker_internal.h, phases),
    so a reply, a timer or an HTTP answer always finds it where it left.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "worker_internal.h"

#include <assert.h>
#include <jansson.h>
#include <string.h>

#include "ledger.h"
#include "log.h"
#include "prompt.h"
#include "stats.h"

static void s_create(wjob_t *self);
static void s_record(wjob_t *self);
static void s_poll_later(wjob_t *self);
static void s_end(wjob_t *self, int kind, kie_class_t cls, const char *detail, int64_t at_ms,
                  bool counted);
static void s_end_send(wjob_t *self);
static void s_progress(wjob_t *self, int progress);
static int s_on_poll_timer(actor_t *actor, int timer_id, void *arg);
static void s_utf8_trim(char *text);

wjob_t *wjob_new(worker_t *worker, const msg_t *row) {
    wjob_t *self = (wjob_t *)calloc(1, sizeof(wjob_t));
    assert(self);
    self->worker = worker;
    self->timer = -1;
    self->progress = -1;
    self->job_id = msg_int(row, F_JOB_ID);
    self->user_id = msg_int(row, F_USER_ID);
    self->chat_id = msg_int(row, F_CHAT_ID);
    self->idx = msg_int(row, F_IDX);
    self->price = msg_int(row, F_PRICE);
    self->attempts = msg_int(row, F_ATTEMPTS);
    self->message_id = msg_int(row, F_MESSAGE_ID);
    snprintf(self->order_token, sizeof self->order_token, "%s",
             msg_has(row, F_ORDER_TOKEN) ? msg_str(row, F_ORDER_TOKEN) : "");
    snprintf(self->model_id, sizeof self->model_id, "%s",
             msg_has(row, F_MODEL) ? msg_str(row, F_MODEL) : "");
    self->params = strdup(msg_has(row, F_PARAMS) ? msg_str(row, F_PARAMS) : "");
    if (msg_has(row, F_TASK_ID) && kie_task_id_valid(msg_str(row, F_TASK_ID)))
        snprintf(self->task_id, sizeof self->task_id, "%s", msg_str(row, F_TASK_ID));
    if (msg_has(row, F_PROGRESS)) self->progress = (int)msg_int(row, F_PROGRESS);
    self->started_ms = msg_int(row, F_UPDATED_MS);
    return self;
}

void wjob_destroy(wjob_t **self_p) {
    assert(self_p);
    wjob_t *self = *self_p;
    if (!self) return;
    if (self->timer >= 0) actor_timer_end(self->worker->actor, self->timer);
    free(self->params);
    free(self->prompt);
    free(self->image_url);
    free(self->end_detail);
    free(self->result_url);
    free(self);
    *self_p = NULL;
}

//  Claimed: what KIE needs, cheapest checks first.
void wjob_start(wjob_t *self) {
    worker_t *worker = self->worker;
    char err[PROMPT_ERR_MAX + 64];
    self->model = catalog_find(worker->args->catalog, self->model_id);
    if (!self->model) {
        snprintf(err, sizeof err, "model %.64s is not in the catalog", self->model_id);
        wjob_fail(self, KIE_CLASS_INVALID_REQUEST, err);
        return;
    }
    if (catalog_model_needs_prompt(self->model)) {
        char why[PROMPT_ERR_MAX];
        self->prompt = prompt_from_params(self->params, catalog_model_prompt_max(self->model), why);
        if (!self->prompt) {
            snprintf(err, sizeof err, "prompt: %s", why);
            wjob_fail(self, KIE_CLASS_INVALID_REQUEST, err);
            return;
        }
    }
    if (!catalog_model_needs_photo(self->model)) {
        s_create(self);
        return;
    }
    json_t *params = json_loads(self->params, 0, NULL);
    const char *file_id = json_string_value(json_object_get(params, "photo_file_id"));
    const char *unique_id = json_string_value(json_object_get(params, "photo_unique_id"));
    const char *photo_key = unique_id && *unique_id ? unique_id : file_id;
    if (!file_id || !*file_id || strlen(photo_key) >= sizeof self->photo_key) {
        json_decref(params);
        wjob_fail(self, KIE_CLASS_INVALID_REQUEST, "params: no usable photo_file_id");
        return;
    }
    snprintf(self->photo_key, sizeof self->photo_key, "%s", photo_key);
    self->phase = WJ_PHOTO;
    worker_photo_get(worker, self, file_id);
    json_decref(params);
}

//  Submitted before a restart: the task exists, only its outcome is missing.
void wjob_resume(wjob_t *self) {
    if (!*self->task_id) {
        wjob_fail(self, KIE_CLASS_UNKNOWN, "submitted without a valid task id");
        return;
    }
    int64_t now = worker_now(self->worker);
    if (self->started_ms <= 0 || self->started_ms > now) self->started_ms = now;
    self->phase = WJ_POLL;
    //  its outcome may have been waiting since the restart: ask soon
    self->timer = actor_timer(self->worker->actor, (size_t)self->worker->config->kie_poll_ms, 1,
                              s_on_poll_timer, self);
}

void wjob_photo_ready(wjob_t *self, const char *url) {
    free(self->image_url);
    self->image_url = strdup(url);
    s_create(self);
}

void wjob_failure(wjob_t *self, kie_class_t cls, const char *detail) {
    worker_t *worker = self->worker;
    const kie_class_info_t *info = kie_class_info(cls);
    worker_key_hit(worker, cls, detail);
    //  KIE could not fetch our upload (expired, host trouble): the retry
    //  uploads it afresh (kie.h: 451, "Failed to fetch the image")
    if (self->image_url && detail &&
        (strcasestr(detail, "fetch the image") || strstr(detail, "code 451") ||
         strstr(detail, "failCode 451")))
        worker_photo_forget(worker, self->photo_key, self->image_url);
    int64_t now = worker_now(worker);
    switch (info->retry) {
    case KIE_RETRY_NO:
        break;
    case KIE_RETRY_BACKOFF:
        if (self->attempts + 1 < worker->config->max_attempts) {
            int64_t delay =
                backoff_delay_ms(worker->config->retry_base_ms, self->attempts, WORKER_RETRY_CAP_MS,
                                 BACKOFF_JITTER_EQUAL, worker_random(worker));
            s_end(self, MSG_K_JOB_RETRY, cls, detail, now + (delay > 0 ? delay : 0), true);
            return;
        }
        break;
    case KIE_RETRY_REQUEUE:
        s_end(self, MSG_K_JOB_RETRY, cls, detail, now, false);
        return;
    }
    wjob_fail(self, cls, detail);
}

void wjob_fail(wjob_t *self, kie_class_t cls, const char *detail) {
    const kie_class_info_t *info = kie_class_info(cls);
    //  auth and billing alerts come from the key's side (worker_key_hit)
    if (info->alert_admins && info->key_action == KIE_KEY_KEEP)
        log_error(W_LOG, "job failed", "alert=%s job=%lld key=%s task=%s detail=\"%s\"", info->name,
                  (long long)self->job_id, self->worker->fingerprint, self->task_id, detail);
    else
        log_info(W_LOG, "job failed", "class=%s job=%lld key=%s task=%s detail=\"%s\"", info->name,
                 (long long)self->job_id, self->worker->fingerprint, self->task_id, detail);
    s_end(self, MSG_K_JOB_FAILED, cls, detail, 0, false);
}

static int s_on_ledger_retry(actor_t *actor, int timer_id, void *arg);

void wjob_on_ledger(wjob_t *self, const msg_t *reply) {
    worker_t *worker = self->worker;
    self->corr = 0;
    if (msg_kind(reply) == MSG_K_ERROR) {
        actor_count(worker->actor, W_C_LEDGER_ERRORS, 1);
        int code = (int)msg_int(reply, F_CODE);
        if (code == LEDGER_E_INTERNAL) {
            //  the database failed, not the request: it must get through
            log_warn(W_LOG, "ledger failed, sending again", "job=%lld detail=\"%s\"",
                     (long long)self->job_id, msg_str(reply, F_DETAIL));
            self->timer =
                actor_timer(worker->actor, WORKER_LEDGER_RETRY_MS, 1, s_on_ledger_retry, self);
            return;
        }
        //  the job is not ours to change (another key's, or moved on)
        log_error(W_LOG, "ledger refused the job's update: dropped",
                  "job=%lld kind=%s task=%s error=%s detail=\"%s\"", (long long)self->job_id,
                  msg_kind_name(self->phase == WJ_RECORD ? MSG_K_JOB_SUBMITTED : self->end_kind),
                  self->task_id, ledger_err_name(code), msg_str(reply, F_DETAIL));
        worker_job_done(worker, self);
        return;
    }
    if (self->phase == WJ_RECORD) {
        log_info(W_LOG, "task created", "job=%lld key=%s task=%s", (long long)self->job_id,
                 worker->fingerprint, self->task_id);
        wevent_t event = {.state = "submitted", .progress = -1};
        worker_event(worker, self, &event);
        self->phase = WJ_POLL;
        s_poll_later(self);
        return;
    }
    if (self->phase != WJ_END) return;
    const char *cls = kie_class_name(self->end_class);
    wevent_t event = {.progress = -1};
    switch (self->end_kind) {
    case MSG_K_JOB_SUCCEEDED:
        actor_count(worker->actor, W_C_SUCCEEDED, 1);
        event.state = "succeeded";
        event.result_url = self->result_url;
        break;
    case MSG_K_JOB_FAILED:
        actor_count(worker->actor, W_C_FAILED + (int)self->end_class, 1);
        event.state = "failed";
        event.err_class = cls;
        event.err_detail = self->end_detail;
        event.credits = self->price;
        break;
    default:
        actor_count(worker->actor, self->end_counted ? W_C_RETRIES : W_C_REQUEUES, 1);
        event.state = "queued";
        event.err_class = cls;
        event.err_detail = self->end_detail;
        //  the attempt coming next, as the user is told: "attempt k of N"
        event.attempts = self->attempts + (self->end_counted ? 1 : 0) + 1;
        event.max_attempts = worker->config->max_attempts;
        break;
    }
    worker_event(worker, self, &event);
    worker_job_done(worker, self);
}

//  --- createTask ---------------------------------------------------------------

static void s_on_created(const httpc_response_t *response, void *arg);

static void s_create(wjob_t *self) {
    worker_t *worker = self->worker;
    int64_t now = worker_now(worker);
    if (!worker_key_usable(worker, now)) {
        //  the key went bad while this job was being prepared: another key
        s_end(self, MSG_K_JOB_RETRY, worker->health_class, "the key is not usable", now, false);
        return;
    }
    char err[KIE_DETAIL_MAX];
    const char *urls[1] = {self->image_url};
    char *body =
        kie_create_task_body(self->model, self->prompt, urls, self->image_url ? 1 : 0, NULL, err);
    if (!body) {
        wjob_fail(self, KIE_CLASS_INVALID_REQUEST, err);
        return;
    }
    char *url = worker_url(worker, worker->config->kie_api_url, KIE_PATH_CREATE_TASK);
    httpc_request_t request = {.method = "POST",
                               .url = url,
                               .headers = worker->headers,
                               .body = body,
                               .body_len = strlen(body),
                               .content_type = "application/json",
                               .timeout_ms = W_CALL_TIMEOUT_MS};
    self->phase = WJ_CREATE;
    int rc = url ? httpc_start(worker->http, &request, s_on_created, self) : -1;
    free(url);
    free(body);
    if (rc != 0) wjob_failure(self, KIE_CLASS_TEMPORARY, "createTask: cannot start the call");
}

static void s_on_created(const httpc_response_t *response, void *arg) {
    wjob_t *self = (wjob_t *)arg;
    worker_t *worker = self->worker;
    kie_create_t out;
    if (kie_parse_create(response->status, response->body, response->body_len, &out) == 0) {
        actor_count(worker->actor, W_C_CREATED, 1);
        worker_key_ok(worker);
        snprintf(self->task_id, sizeof self->task_id, "%s", out.task_id);
        self->started_ms = worker_now(worker);
        free(self->prompt); //  the task has it: no need to hold it while it runs
        self->prompt = NULL;
        s_record(self);
        return;
    }
    actor_count(worker->actor, W_C_CREATE_ERRORS, 1);
    char detail[KIE_DETAIL_MAX + 128];
    snprintf(detail, sizeof detail, "createTask: %s%s%s", out.error.detail,
             response->status ? "" : ": ", response->status ? "" : response->error);
    log_warn(W_LOG, "createTask failed", "job=%lld key=%s class=%s detail=\"%s\"",
             (long long)self->job_id, worker->fingerprint, kie_class_name(out.error.err_class),
             detail);
    wjob_failure(self, out.error.err_class, detail);
}

//  The task id becomes durable before anything else happens to the task.
static void s_record(wjob_t *self) {
    self->phase = WJ_RECORD;
    msg_t *req = msg_new(MSG_K_JOB_SUBMITTED, 0);
    msg_set_int(req, F_JOB_ID, self->job_id);
    msg_set_str(req, F_TASK_ID, self->task_id);
    msg_set_str(req, F_KEY_ID, self->worker->fingerprint);
    self->corr = worker_ledger_send(self->worker, &req);
}

//  --- recordInfo -----------------------------------------------------------------

static void s_on_polled(const httpc_response_t *response, void *arg);

static void s_poll(wjob_t *self) {
    worker_t *worker = self->worker;
    int64_t now = worker_now(worker);
    if (backoff_expired(self->started_ms, now, worker->max_task_ms)) {
        char detail[128];
        snprintf(detail, sizeof detail, "the task ran longer than %lld s",
                 (long long)(worker->max_task_ms / 1000));
        stats_event(STATS_EV_JOB_STUCK, STATS_STR("reason", "task_timeout"),
                    STATS_INT("job_id", self->job_id), STATS_STR("key", worker->fingerprint),
                    STATS_INT("max_task_ms", worker->max_task_ms));
        wjob_fail(self, KIE_CLASS_TIMEOUT, detail);
        return;
    }
    char *path = kie_record_info_path(self->task_id);
    char *url = path ? worker_url(worker, worker->config->kie_api_url, path) : NULL;
    httpc_request_t request = {
        .url = url, .headers = worker->headers, .timeout_ms = W_CALL_TIMEOUT_MS};
    int rc = url ? httpc_start(worker->http, &request, s_on_polled, self) : -1;
    free(url);
    free(path);
    actor_count(worker->actor, W_C_POLLS, 1);
    if (rc != 0) s_poll_later(self);
}

static int s_on_poll_timer(actor_t *actor, int timer_id, void *arg) {
    (void)actor, (void)timer_id;
    wjob_t *self = (wjob_t *)arg;
    self->timer = -1;
    worker_defer(self->worker, self);
    return 0;
}

void wjob_due(wjob_t *self) {
    s_poll(self);
}

//  Next poll on the schedule of the task's age, and never past its deadline.
static void s_poll_later(wjob_t *self) {
    worker_t *worker = self->worker;
    int64_t now = worker_now(worker);
    const config_t *config = worker->config;
    int64_t delay =
        backoff_poll_ms(now - self->started_ms, config->kie_poll_ms, config->kie_poll_max_ms);
    if (delay < 1) delay = config->kie_poll_ms > 0 ? config->kie_poll_ms : 1000;
    int64_t left = self->started_ms + worker->max_task_ms - now;
    if (delay > left) delay = left > 1 ? left : 1;
    self->timer = actor_timer(worker->actor, (size_t)delay, 1, s_on_poll_timer, self);
}

static void s_on_polled(const httpc_response_t *response, void *arg) {
    wjob_t *self = (wjob_t *)arg;
    worker_t *worker = self->worker;
    kie_record_t *record = (kie_record_t *)malloc(sizeof(kie_record_t));
    assert(record);
    if (kie_parse_record(response->status, response->body, response->body_len, record) != 0) {
        actor_count(worker->actor, W_C_POLL_ERRORS, 1);
        kie_class_t cls = record->error.err_class;
        log_debug(W_LOG, "poll failed", "job=%lld task=%s class=%s detail=\"%s\"",
                  (long long)self->job_id, self->task_id, kie_class_name(cls),
                  record->error.detail);
        if (kie_class_info(cls)->key_action == KIE_KEY_DISABLE)
            worker_key_hit(worker, cls, record->error.detail);
        //  a poll that fails is asked again; only a steady refusal that
        //  no waiting can fix ends the job
        bool lasting = kie_class_info(cls)->retry == KIE_RETRY_NO;
        self->poll_errors = lasting ? self->poll_errors + 1 : 0;
        if (self->poll_errors >= W_POLL_ERRORS_MAX) {
            char detail[KIE_DETAIL_MAX + 16];
            snprintf(detail, sizeof detail, "recordInfo: %s", record->error.detail);
            wjob_failure(self, cls, detail);
        } else
            s_poll_later(self);
        free(record);
        return;
    }
    self->poll_errors = 0;
    switch (record->state) {
    case KIE_STATE_SUCCESS:
        free(self->result_url);
        self->result_url = strdup(record->result_urls[0]);
        s_end(self, MSG_K_JOB_SUCCEEDED, KIE_CLASS_UNKNOWN, "", 0, false);
        break;
    case KIE_STATE_FAIL: {
        char detail[KIE_DETAIL_MAX + KIE_FAIL_CODE_MAX + 16];
        snprintf(detail, sizeof detail, "failCode %s: %s",
                 *record->fail_code ? record->fail_code : "(none)",
                 *record->fail_msg ? record->fail_msg : "(no message)");
        log_info(W_LOG, "task failed", "job=%lld task=%s class=%s detail=\"%s\"",
                 (long long)self->job_id, self->task_id, kie_class_name(record->fail_class),
                 detail);
        wjob_failure(self, record->fail_class, detail);
        break;
    }
    default:
        //  never a made-up percentage: only what KIE said, when it changed
        if (record->progress >= 0 && record->progress <= 100 && record->progress != self->progress)
            s_progress(self, record->progress);
        s_poll_later(self);
        break;
    }
    free(record);
}

static void s_progress(wjob_t *self, int progress) {
    worker_t *worker = self->worker;
    self->progress = progress;
    actor_count(worker->actor, W_C_PROGRESS, 1);
    msg_t *req = msg_new(MSG_K_JOB_PROGRESS, 0);
    msg_set_int(req, F_JOB_ID, self->job_id);
    msg_set_int(req, F_PROGRESS, progress);
    worker_ledger_notify(worker, &req);
    wevent_t event = {.state = "submitted", .progress = progress};
    worker_event(worker, self, &event);
}

//  --- the end of the job's stay ------------------------------------------------------

static void s_end(wjob_t *self, int kind, kie_class_t cls, const char *detail, int64_t at_ms,
                  bool counted) {
    self->phase = WJ_END;
    self->end_kind = kind;
    self->end_class = cls;
    free(self->end_detail);
    self->end_detail = strndup(detail ? detail : "", KIE_DETAIL_MAX - 1);
    s_utf8_trim(self->end_detail);
    self->end_at_ms = at_ms;
    self->end_counted = counted;
    s_end_send(self);
}

static void s_end_send(wjob_t *self) {
    msg_t *req = msg_new(self->end_kind, 0);
    msg_set_int(req, F_JOB_ID, self->job_id);
    if (self->end_kind == MSG_K_JOB_SUCCEEDED)
        msg_set_str(req, F_RESULT_URL, self->result_url ? self->result_url : "");
    else {
        msg_set_str(req, F_ERR_CLASS, kie_class_name(self->end_class));
        if (self->end_detail && *self->end_detail) msg_set_str(req, F_ERR_DETAIL, self->end_detail);
    }
    if (self->end_kind == MSG_K_JOB_RETRY) {
        msg_set_int(req, F_AT_MS, self->end_at_ms);
        msg_set_int(req, F_ATTEMPTS, self->end_counted ? 1 : 0);
    }
    self->corr = worker_ledger_send(self->worker, &req);
}

static int s_on_ledger_retry(actor_t *actor, int timer_id, void *arg) {
    (void)actor, (void)timer_id;
    wjob_t *self = (wjob_t *)arg;
    self->timer = -1;
    if (self->phase == WJ_RECORD)
        s_record(self);
    else
        s_end_send(self);
    return 0;
}

//  Drops a UTF-8 sequence cut short at the end of text (snprintf cuts
//  bytes, and a message field must be valid UTF-8).
static void s_utf8_trim(char *text) {
    size_t len = strlen(text);
    size_t lead = len;
    while (lead > 0 && len - lead < 4 && ((unsigned char)text[lead - 1] & 0xc0) == 0x80)
        lead--;
    if (lead == 0) return;
    unsigned char c = (unsigned char)text[lead - 1];
    size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    if (len - (lead - 1) < need) text[lead - 1] = '\0';
}
