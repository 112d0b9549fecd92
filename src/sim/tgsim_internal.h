/*  tgsim_internal.h — what the simulator's source files share.

    tgsim.c          lifecycle, chats, messages, the update queue
    tgsim_files.c    files: photos in sizes, documents, uploads
    tgsim_users.c    fake-user actions (each queues one update)
    tgsim_inspect.c  call records, transcripts, waits, stats
    tgsim_http.c     libmicrohttpd: parameters, token, faults, dispatch, files
    tgsim_methods.c  the method table; updates, webhook, commands, callbacks,
                     files, payments
    tgsim_send.c     sendMessage, send<Media>, edits, deleteMessage
    tgsim_text.c     HTML entity parsing and lengths, keyboards, JPEG sizes
    tgsim_limits.c   flood control (token buckets)
    tgsim_webhook.c  the thread that POSTs updates to a webhook

    Locking: every field of tgsim_s below `lock` is guarded by it. Method
    handlers run with the lock held; the only waits (getUpdates' long poll,
    the tgsim_wait_* functions) are on `changed`, which every change of
    state broadcasts.
*/
#ifndef GENBOT_TGSIM_INTERNAL_H
#define GENBOT_TGSIM_INTERNAL_H

#include <czmq.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "tgsim.h"

#define TGS_BOT_FIRST_NAME    "GenBot Sim"
#define TGS_BOT_USERNAME      "genbot_sim_bot"
#define TGS_JSON_BODY_MAX     (1024 * 1024) //  bytes of a JSON or urlencoded body
#define TGS_FIELD_MAX         (1024 * 1024) //  bytes of one non-file form field
#define TGS_WEBHOOK_RETRY_MS  200
#define TGS_WEBHOOK_RETRY_MAX 2000
#define TGS_WEBHOOK_TIMEOUT_S 60 //  Telegram waits this long for a webhook answer
#define TGS_FETCH_TIMEOUT_S   30
#define TGS_ERROR_MAX         256

struct MHD_Daemon;

//  Bytes shared by every size of a photo (refcounted).
typedef struct {
    size_t refs;
    size_t size;
    unsigned char *data; //  NULL when discarded
} tgs_blob_t;

typedef struct {
    char *file_id;
    char *file_unique_id;
    char *file_path;
    const char *kind; //  "photo", "video", "document", "sticker" (static strings)
    int64_t size;     //  -1 unknown
    char *file_name;
    char *mime_type;
    tgs_blob_t *blob; //  NULL when the bytes are unknown
    json_t *photo;    //  the PhotoSize array a photo belongs to (photos only)
} tgs_file_t;

typedef struct {
    int64_t message_id;
    bool from_bot;
    int64_t date;
    const char *kind; //  static string
    char *text;       //  visible text or caption
    char *entities;   //  signature of the entities, for "not modified"
    char *markup;     //  reply_markup as compact JSON, NULL when none
    tgsim_button_t *buttons;
    size_t button_count;
    json_t *fields; //  merged into the Message object (photo, video, invoice, ...)
    bool caption;   //  text is a caption
    int edits;
    int64_t edit_date;
    bool deleted;
    char *file_id;
    char *file_name;
    int64_t file_size;
    char *payload;
    int64_t amount;
    char *charge_id;
} tgs_message_t;

typedef struct {
    int64_t id;
    char *first_name;
    char *language_code;
    bool group;
    bool blocked;
    tgs_message_t **messages; //  messages[i]->message_id == i + 1
    size_t count, cap;
    //  flood control
    double tokens;
    int64_t refill_ms;
    int64_t closed_until_ms;
} tgs_chat_t;

typedef struct {
    int64_t update_id;
    int64_t chat_id;
    char *json; //  freed once confirmed
    int64_t queued_ms;
    int64_t delivered_ms;
    bool confirmed;
} tgs_update_t;

//  A callback query or a pre-checkout query waiting for its answer.
typedef struct {
    char *id;
    int64_t update_id;
    int64_t user_id;
    int64_t message_id; //  the message whose button was pressed
    int64_t created_ms;
    bool answered;
    bool precheckout;
    char *payload;
    int64_t amount;
} tgs_query_t;

typedef struct {
    char *charge_id;
    int64_t user_id;
    int64_t amount;
    char *payload;
    bool refunded;
} tgs_payment_t;

typedef struct {
    char *method; //  NULL = any
    int code;
    char *description;
    int count; //  -1 = forever
} tgs_fail_t;

struct tgsim_s {
    tgsim_opts_t opts; //  defaults filled in; opts.token is `token`
    char *token;
    int64_t bot_id;
    char url[64];
    uint16_t port;
    struct MHD_Daemon *daemon;
    pthread_t webhook_thread;
    bool webhook_thread_started;

    pthread_mutex_t lock;
    pthread_cond_t changed; //  CLOCK_MONOTONIC
    bool stopping;
    uint64_t rng;
    zhashx_t *chats; //  "<id>" -> tgs_chat_t
    //  updates: updates[i].update_id == first_update_id + i; [0, head) confirmed
    tgs_update_t *updates;
    size_t update_count, update_cap, update_head;
    int64_t first_update_id;
    uint64_t poll_generation; //  bumped by each getUpdates: an older waiting poll gets 409
    zhashx_t *files;          //  file_id -> tgs_file_t (owned)
    zhashx_t *file_paths;     //  file_path -> tgs_file_t
    uint64_t file_seq;
    zhashx_t *queries;       //  query id -> tgs_query_t (owned)
    zhashx_t *query_updates; //  "<update_id>" -> tgs_query_t
    zhashx_t *payments;      //  charge id -> tgs_payment_t (owned)
    zhashx_t *url_sizes;     //  url -> int64_t (owned)
    zlistx_t *fails;         //  tgs_fail_t, in order
    json_t *commands;        //  setMyCommands' list
    char *webhook_url;       //  NULL = polling
    char *webhook_secret;
    tgsim_call_t **calls;
    size_t call_count, call_cap;
    double global_tokens;
    int64_t global_refill_ms;
    int64_t global_closed_until_ms;
    tgsim_stats_t stats;
    tgsim_call_fn *on_call;
    void *on_call_arg;
};

//  One file part of a multipart request.
typedef struct {
    char *field;
    char *filename;
    char *content_type;
    unsigned char *data;
    size_t size, cap;
    size_t total; //  bytes received, stored or not
    bool too_big;
} tgs_upload_t;

//  One HTTP request, from its first byte to its answer.
typedef struct tgs_method_s tgs_method_t;

typedef struct {
    tgsim_t *sim;
    const tgs_method_t *method;
    char *path;
    json_t *params;  //  name -> value as received (strings from forms and queries)
    json_t *scratch; //  name -> value converted by the tgs_param_ readers
    tgs_upload_t *uploads;
    size_t upload_count;
    void *post; //  struct MHD_PostProcessor *
    char *body; //  JSON body
    size_t body_size, body_cap;
    bool json_body;
    bool too_big;       //  a body or a field over its limit
    bool bad_body;      //  unparsable JSON or form body
    tgsim_call_t *call; //  being filled by the handler
    //  media by URL, fetched before the lock is taken (fetch_urls)
    unsigned char *fetched;
    size_t fetched_size;
    bool fetch_done, fetch_failed, fetch_too_big;
} tgs_request_t;

typedef struct {
    int status;
    json_t *result;    //  ok answer
    char *description; //  error answer
    int retry_after;
    char *raw; //  a body sent as is (502 page, malformed JSON)
    const char *content_type;
    bool drop;
} tgs_reply_t;

typedef void(tgs_method_fn)(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply);

struct tgs_method_s {
    const char *name;
    tgs_method_fn *fn;
    bool counted; //  by flood control
};

//  tgsim.c
char *tgs_strdup(const char *s);
uint64_t tgs_rand(tgsim_t *sim);
double tgs_rand_unit(tgsim_t *sim);
void tgs_random_chars(tgsim_t *sim, char *out, size_t n);
tgs_chat_t *tgs_chat(tgsim_t *sim, int64_t id);
tgs_message_t *tgs_chat_message(tgs_chat_t *chat, int64_t message_id);
tgs_message_t *tgs_message_add(tgs_chat_t *chat, bool from_bot, const char *kind);
void tgs_message_set_markup(tgs_message_t *msg, const char *markup, tgsim_button_t *buttons,
                            size_t count);
json_t *tgs_message_json(tgsim_t *sim, tgs_chat_t *chat, tgs_message_t *msg);
json_t *tgs_user_json(tgs_chat_t *chat);
json_t *tgs_chat_json(tgs_chat_t *chat);
json_t *tgs_bot_json(tgsim_t *sim);
int64_t tgs_update_push(tgsim_t *sim, int64_t chat_id, json_t *update);
int64_t tgs_update_push_raw(tgsim_t *sim, int64_t chat_id, const char *text);
void tgs_updates_confirm_below(tgsim_t *sim, int64_t offset);
//  One wait on `changed` (lock held), until deadline_ms at the latest;
//  false once the deadline has passed.
bool tgs_wait(tgsim_t *sim, int64_t deadline_ms);

//  tgsim_files.c
tgs_blob_t *tgs_blob_new(tgsim_t *sim, const void *data, size_t size);
void tgs_blob_unref(tgs_blob_t *blob);
tgs_file_t *tgs_file_new(tgsim_t *sim, const char *kind, tgs_blob_t *blob, int64_t size,
                         const char *file_name, const char *mime_type);
json_t *tgs_file_json(const tgs_file_t *file); //  file_id, file_unique_id, file_size
tgs_file_t *tgs_photo_new(tgsim_t *sim, tgs_blob_t *blob, int64_t size);
void tgs_file_destroy(void **item); //  zhashx destructor

//  tgsim.c (continued)
tgs_query_t *tgs_query_new(tgsim_t *sim, int64_t user_id, bool precheckout);
void tgs_call_free(tgsim_call_t *call);
tgsim_button_t *tgs_buttons_copy(const tgsim_button_t *buttons, size_t count);
void tgs_buttons_free(tgsim_button_t *buttons, size_t count);
int64_t tgs_unix_now(void);

//  tgsim_text.c
int tgs_parse_text(const char *text, bool html, char **plain, char **entities, size_t *units,
                   char *error, size_t error_size);
int tgs_parse_markup(json_t *markup, tgsim_button_t **buttons, size_t *count, char *error,
                     size_t error_size);
bool tgs_jpeg_size(const unsigned char *data, size_t size, int *width, int *height);

//  tgsim_limits.c: 0 when the send may go (tokens taken), else retry_after s.
int tgs_limits_take(tgsim_t *sim, tgs_chat_t *chat, int64_t now_ms);

//  tgsim_http.c
int tgs_http_start(tgsim_t *sim);
void tgs_http_stop(tgsim_t *sim);

//  tgsim_methods.c
const tgs_method_t *tgs_method_find(const char *name);
void tgs_reply_error(tgs_reply_t *reply, int status, const char *description);
void tgs_reply_errorf(tgs_reply_t *reply, int status, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
//  Parameter access: strings are converted, JSON strings parsed in place.
const char *tgs_param_str(tgs_request_t *req, const char *name);
bool tgs_param_int(tgs_request_t *req, const char *name, int64_t *value);
bool tgs_param_bool(tgs_request_t *req, const char *name, bool fallback);
json_t *tgs_param_json(tgs_request_t *req, const char *name, bool *malformed);
//  chat_id of a send: checks presence, existence and block; NULL after
//  replying the error.
tgs_chat_t *tgs_target_chat(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply);
//  Flood control for a counted method, just before it takes effect: false
//  after replying 429.
bool tgs_flood_ok(tgsim_t *sim, tgs_request_t *req, tgs_chat_t *chat, tgs_reply_t *reply);

//  tgsim_send.c
void tgs_m_send_message(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply);
void tgs_m_send_photo(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply);
void tgs_m_send_video(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply);
void tgs_m_send_document(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply);
void tgs_m_edit_text(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply);
void tgs_m_edit_caption(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply);
void tgs_m_edit_markup(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply);
void tgs_m_delete_message(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply);
//  The URL a media send names, if any (for fetching before the lock).
const char *tgs_media_url(tgs_request_t *req, const char *method);

//  tgsim_webhook.c
void *tgs_webhook_thread(void *arg);

#endif
