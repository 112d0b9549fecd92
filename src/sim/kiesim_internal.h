/*  kiesim_internal.h — what the simulator's files share: the state behind
    kiesim_t and the functions one file offers the others.

      kiesim.c           construction, keys, models, behaviour, inspection
      kiesim_task.c      createTask validation, markers, task states, recordInfo
      kiesim_http.c      the libmicrohttpd server: routes, errors, faults, files
      kiesim_upload.c    file uploads (multipart stream and base64)
      kiesim_callback.c  tasks finishing, the callback thread, HMAC-SHA256, base64

    Every ks_* function below expects self->lock held, unless it says
    otherwise.
*/
#ifndef GENBOT_KIESIM_INTERNAL_H
#define GENBOT_KIESIM_INTERNAL_H

#include <czmq.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "kiesim.h"

#define KS_ID_HEX      16  //  hex digits of task and upload ids
#define KS_NAME_MAX    128 //  bytes of a stored file name or upload path
#define KS_POLL_ALWAYS UINT16_MAX

typedef struct {
    char *token;
    int64_t credits;
    int rate_limit;
    int64_t rate_window_ms;
    int64_t *recent; //  ring of the last rate_limit create times
    size_t recent_head;
    size_t recent_count;
    kiesim_key_state_t state;
    kiesim_key_stats_t counters; //  state and credits unused here
} ks_key_t;

typedef struct {
    char *name;
    bool needs_image;
    bool sora; //  aspect_ratio, n_frames, size are checked
} ks_model_t;

//  One task: kept small, the load harness holds 10,000 of them.
typedef struct {
    char id[KIESIM_TASK_ID_MAX];
    uint32_t key_index;
    uint16_t model_index;
    uint8_t outcome;         //  kiesim_outcome_t
    uint8_t failure;         //  index in the failure table when outcome fails
    bool finished;           //  its end was seen: counted, refunded
    uint16_t poll_fail_left; //  scripted recordInfo errors still to give
    uint16_t poll_fail_code;
    uint32_t polls;
    int32_t cost;        //  credits charged
    int64_t created;     //  clock ms
    int64_t duration;    //  ms
    int64_t result_size; //  -1 = behaviour.result_size
    char *param;         //  the createTask body, compact JSON
    char *callback_url;  //  NULL when none
} ks_task_t;

typedef struct {
    char id[KS_ID_HEX + 1];
    uint32_t key_index;
    char *file_name;
    char *file_path;
    char *mime_type;
    unsigned char *bytes;
    size_t size;
    int64_t uploaded; //  clock ms
} ks_upload_t;

typedef struct {
    int64_t due;
    ks_task_t *task;
} ks_due_t;

//  What a handler decided: an error envelope, a JSON body, a file, or a drop.
typedef enum { KS_REPLY_JSON, KS_REPLY_DROP, KS_REPLY_LOST } ks_reply_kind_t;

typedef struct {
    ks_reply_kind_t kind;
    int code;          //  envelope code (200 = success)
    char msg[192];     //  envelope msg when code != 200
    json_t *data;      //  envelope data on success (owned)
    bool upload_shape; //  the upload host's envelope ({"success":..})
} ks_reply_t;

struct kiesim_s {
    pthread_mutex_t lock;
    kiesim_behaviour_t behaviour;
    kiesim_clock_fn *clock;
    void *clock_arg;
    int64_t epoch_offset; //  clock + offset = Unix ms
    uint64_t rng;
    char *host;
    char *public_url;
    char url[KIESIM_URL_MAX];
    uint16_t port;
    char *hmac_key;
    int64_t callback_timeout_ms;

    ks_key_t *keys;
    size_t key_count;
    size_t key_alloc;
    ks_model_t *models;
    size_t model_count;
    size_t model_alloc;
    ks_task_t **tasks; //  creation order
    size_t task_count;
    size_t task_alloc;
    zhashx_t *task_index; //  id -> ks_task_t *, keys not copied
    ks_upload_t **uploads;
    size_t upload_count;
    size_t upload_alloc;
    zhashx_t *upload_index;   //  id -> ks_upload_t *, keys not copied
    zhashx_t *create_scripts; //  prompt -> createTask calls seen (for xN)
    kiesim_stats_t stats;     //  the counters; task gauges are computed

    //  Finishing: a min-heap of finish times; callbacks queued for the
    //  thread that sends them (outbox[outbox_head..outbox_count)).
    ks_due_t *due;
    size_t due_count;
    size_t due_alloc;
    ks_task_t **outbox;
    size_t outbox_head;
    size_t outbox_count;
    size_t outbox_alloc;
    pthread_t callback_thread;
    bool callback_started;
    bool stopping;
    bool callback_busy;
    pthread_cond_t callback_wake;
    pthread_cond_t callback_done;

    struct MHD_Daemon *daemon;
};

//  kiesim.c
int64_t ks_now(kiesim_t *self);
int64_t ks_unix_ms(kiesim_t *self, int64_t clock_ms);
double ks_random(kiesim_t *self);
void ks_random_hex(kiesim_t *self, char *out, size_t digits);
int ks_key_find(kiesim_t *self, const char *token);
int ks_model_find(kiesim_t *self, const char *name);
//  Grows *array (of *alloc elements of size each) to hold count + 1.
int ks_grow(void *array_p, size_t *alloc, size_t count, size_t size);

//  kiesim_task.c
void ks_task_create(kiesim_t *self, int key_index, const char *body, size_t size,
                    ks_reply_t *reply);
void ks_task_poll(kiesim_t *self, int key_index, const char *task_id, ks_reply_t *reply);
//  State at now; marks the end seen (counts, refund) the first time.
kiesim_state_t ks_task_eval(kiesim_t *self, ks_task_t *task, int64_t now, int *progress);
//  The recordInfo `data` object of a task at now (callback: as a callback
//  body shows it).
json_t *ks_task_record(kiesim_t *self, ks_task_t *task, int64_t now, bool callback);
const char *ks_state_name(kiesim_state_t state);
const char *ks_outcome_name(kiesim_outcome_t outcome);
char *ks_task_prompt(const ks_task_t *task); //  heap copy or NULL
json_t *ks_task_image_urls(const ks_task_t *task);
void ks_task_free(ks_task_t **task_p);
//  The size of a result file, and whether the task has one to serve.
int64_t ks_task_result_size(kiesim_t *self, const ks_task_t *task);

//  kiesim_http.c
int ks_http_start(kiesim_t *self, const kiesim_options_t *options);
void ks_http_stop(kiesim_t *self);
//  KIE's message for an envelope code.
const char *ks_code_msg(int code);
//  Sets reply to the error envelope code/msg (printf format).
void ks_reply_error(ks_reply_t *reply, int code, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

//  kiesim_upload.c (the request context is the http layer's)
typedef struct ks_upload_req_s ks_upload_req_t;
ks_upload_req_t *ks_upload_req_new(struct MHD_Connection *connection, size_t max_bytes);
void ks_upload_req_destroy(ks_upload_req_t **self_p);
//  Feeds body bytes; -1 when the body is not multipart/form-data.
int ks_upload_req_feed(ks_upload_req_t *req, const char *data, size_t size);
void ks_upload_stream(kiesim_t *self, int key_index, ks_upload_req_t *req, ks_reply_t *reply);
void ks_upload_base64(kiesim_t *self, int key_index, const char *body, size_t size,
                      ks_reply_t *reply);
ks_upload_t *ks_upload_find(kiesim_t *self, const char *id);
void ks_upload_free(ks_upload_t **upload_p);

//  kiesim_callback.c
int ks_callback_start(kiesim_t *self);
void ks_callback_stop(kiesim_t *self); //  lock NOT held
//  A task that will finish: settled (and its callback queued) when due.
void ks_finish_schedule(kiesim_t *self, ks_task_t *task);
//  Ends the tasks due at now: bookkeeping, callbacks queued.
void ks_settle(kiesim_t *self, int64_t now);
size_t ks_base64_encode(const unsigned char *data, size_t size, char *out, size_t out_size);
//  Decodes into a malloc'ed buffer; NULL on bad input.
unsigned char *ks_base64_decode(const char *text, size_t length, size_t *size_p);

#endif
