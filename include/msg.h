/*  msg.h — every inproc message genbot's actors exchange, declared once.

    Wire form: one ZeroMQ frame holding a msgpack array [kind, corr_id, body]
    where kind is a small unsigned integer (MSG_K_*), corr_id an unsigned
    64-bit integer echoed by replies, and body a map from field name (string)
    to value. The two tables below are the only declaration: the codec, the
    names and docs/messages.md come from them.

    A field has one type everywhere it appears:
      MT_INT   int64                      (max unused)
      MT_BOOL  boolean                    (max unused)
      MT_STR   UTF-8 string, <= max bytes (msgpack str)
      MT_BIN   opaque bytes, <= max bytes (msgpack bin)
      MT_INTS  array of int64, <= max items
      MT_LIST  array of maps, <= max items; each map is a body of the row
               kind named in the field's last column (nested one level)

    A kind lists its required and optional fields. Decoding rejects: data
    that is not exactly one [uint, uint, map] array, an unknown kind, a field
    not declared for the kind, a required field missing, a value of the wrong
    type, a string/bin/array over its max, and trailing bytes.

    The R(...) / O(...) lists are expanded by src/msg.c only (it defines R
    and O around its use of MSG_KINDS); other users of MSG_KINDS ignore them.
    A kind is a row kind when some MT_LIST field names it; row kinds are not
    valid top-level kinds and carry no MT_LIST field themselves.
*/
#ifndef GENBOT_MSG_H
#define GENBOT_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum { MT_INT, MT_BOOL, MT_STR, MT_BIN, MT_INTS, MT_LIST } msg_type_t;

//  Size limits, named so callers can check before they build a message.
#define MSG_MAX_NAME    256
#define MSG_MAX_TOKEN   64
#define MSG_MAX_TEXT    16384 //  user text, prompts, job parameters
#define MSG_MAX_URL     4096
#define MSG_MAX_DETAIL  2048
#define MSG_MAX_SESSION 65536
#define MSG_MAX_UPDATE  65536 //  one raw Telegram update (JSON)
#define MSG_MAX_IDS     100
#define MSG_MAX_ROWS    200
#define MSG_MAX_FRAME   (1 << 20)

//  F(ID, "wire name", type, max, row kind or NONE)
#define MSG_FIELDS(F)                                                                              \
    F(USER_ID, "user_id", MT_INT, 0, NONE)                                                         \
    F(CHAT_ID, "chat_id", MT_INT, 0, NONE)                                                         \
    F(LANG, "lang", MT_STR, 8, NONE)                                                               \
    F(FIRST_NAME, "first_name", MT_STR, MSG_MAX_NAME, NONE)                                        \
    F(USERNAME, "username", MT_STR, MSG_MAX_NAME, NONE)                                            \
    F(CREATED, "created", MT_BOOL, 0, NONE)                                                        \
    F(BLOCKED, "blocked", MT_BOOL, 0, NONE)                                                        \
    F(BALANCE, "balance", MT_INT, 0, NONE)                                                         \
    F(HELD, "held", MT_INT, 0, NONE)                                                               \
    F(ORDER_TOKEN, "order_token", MT_STR, MSG_MAX_TOKEN, NONE)                                     \
    F(MODEL, "model", MT_STR, MSG_MAX_TOKEN, NONE)                                                 \
    F(PARAMS, "params", MT_STR, MSG_MAX_TEXT, NONE)                                                \
    F(PRICE, "price", MT_INT, 0, NONE)                                                             \
    F(COUNT, "count", MT_INT, 0, NONE)                                                             \
    F(DUPLICATE, "duplicate", MT_BOOL, 0, NONE)                                                    \
    F(JOB_ID, "job_id", MT_INT, 0, NONE)                                                           \
    F(JOB_IDS, "job_ids", MT_INTS, MSG_MAX_IDS, NONE)                                              \
    F(IDX, "idx", MT_INT, 0, NONE)                                                                 \
    F(STATE, "state", MT_STR, 32, NONE)                                                            \
    F(ATTEMPTS, "attempts", MT_INT, 0, NONE)                                                       \
    F(KEY_ID, "key_id", MT_STR, MSG_MAX_TOKEN, NONE)                                               \
    F(MAX_N, "max_n", MT_INT, 0, NONE)                                                             \
    F(TASK_ID, "task_id", MT_STR, 256, NONE)                                                       \
    F(PROGRESS, "progress", MT_INT, 0, NONE)                                                       \
    F(RESULT_URL, "result_url", MT_STR, MSG_MAX_URL, NONE)                                         \
    F(ERR_CLASS, "err_class", MT_STR, 32, NONE)                                                    \
    F(ERR_DETAIL, "err_detail", MT_STR, MSG_MAX_DETAIL, NONE)                                      \
    F(AT_MS, "at_ms", MT_INT, 0, NONE)                                                             \
    F(CREATED_MS, "created_ms", MT_INT, 0, NONE)                                                   \
    F(UPDATED_MS, "updated_ms", MT_INT, 0, NONE)                                                   \
    F(PROVIDER, "provider", MT_STR, 32, NONE)                                                      \
    F(CHARGE_ID, "charge_id", MT_STR, MSG_MAX_NAME, NONE)                                          \
    F(AMOUNT, "amount", MT_INT, 0, NONE)                                                           \
    F(CREDITS, "credits", MT_INT, 0, NONE)                                                         \
    F(DELTA, "delta", MT_INT, 0, NONE)                                                             \
    F(REASON, "reason", MT_STR, MSG_MAX_NAME, NONE)                                                \
    F(REF, "ref", MT_STR, MSG_MAX_NAME, NONE)                                                      \
    F(ADMIN_ID, "admin_id", MT_INT, 0, NONE)                                                       \
    F(ENTRY_ID, "entry_id", MT_INT, 0, NONE)                                                       \
    F(ENTRY_KIND, "entry_kind", MT_STR, 32, NONE)                                                  \
    F(D_BALANCE, "d_balance", MT_INT, 0, NONE)                                                     \
    F(D_HELD, "d_held", MT_INT, 0, NONE)                                                           \
    F(SESSION, "session", MT_BIN, MSG_MAX_SESSION, NONE)                                           \
    F(UPDATE_ID, "update_id", MT_INT, 0, NONE)                                                     \
    F(FOUND, "found", MT_BOOL, 0, NONE)                                                            \
    F(OFFSET, "offset", MT_INT, 0, NONE)                                                           \
    F(LIMIT, "limit", MT_INT, 0, NONE)                                                             \
    F(CODE, "code", MT_INT, 0, NONE)                                                               \
    F(DETAIL, "detail", MT_STR, MSG_MAX_DETAIL, NONE)                                              \
    F(SHORTFALL, "shortfall", MT_INT, 0, NONE)                                                     \
    F(METHOD, "method", MT_STR, 32, NONE)                                                          \
    F(PRIORITY, "priority", MT_INT, 0, NONE)                                                       \
    F(MESSAGE_ID, "message_id", MT_INT, 0, NONE)                                                   \
    F(MEDIA_URL, "media_url", MT_STR, MSG_MAX_URL, NONE)                                           \
    F(MEDIA_KIND, "media_kind", MT_STR, 16, NONE)                                                  \
    F(LINK_TEXT, "link_text", MT_STR, MSG_MAX_TEXT, NONE)                                          \
    F(UPDATE, "update", MT_STR, MSG_MAX_UPDATE, NONE)                                              \
    F(COUNTS, "counts", MT_INTS, 16, NONE)                                                         \
    F(MAX_ATTEMPTS, "max_attempts", MT_INT, 0, NONE)                                               \
    F(JOBS, "jobs", MT_LIST, MSG_MAX_ROWS, JOB_ROW)                                                \
    F(ENTRIES, "entries", MT_LIST, MSG_MAX_ROWS, ENTRY_ROW)

//  K(ID, "wire name", required fields, optional fields)
//  Fields are listed with R(...) / O(...); an empty list is R() / O().
//  Row kinds (*_ROW) are only used inside MT_LIST fields.
#define MSG_KINDS(K)                                                                               \
    /* --- replies (from the ledger) --- */                                                        \
    K(ERROR, "error", R(F_CODE), O(F_DETAIL, F_SHORTFALL))                                         \
    K(OK, "ok", R(), O(F_DUPLICATE, F_JOB_ID, F_BALANCE, F_HELD))                                  \
    K(USER, "user", R(F_USER_ID, F_BALANCE, F_HELD), O(F_CREATED, F_BLOCKED, F_LANG))              \
    K(ORDER, "order", R(F_JOB_IDS, F_DUPLICATE, F_BALANCE, F_HELD), O())                           \
    K(JOB_LIST, "job_list", R(), O(F_JOBS))                                                        \
    K(ENTRY_LIST, "entry_list", R(), O(F_ENTRIES))                                                 \
    K(SESSION_DATA, "session_data", R(F_FOUND), O(F_STATE, F_SESSION, F_UPDATE_ID))                \
    K(OFFSET_DATA, "offset_data", R(F_OFFSET), O())                                                \
    K(KEY_HEALTH, "key_health", R(F_FOUND), O(F_STATE, F_AT_MS))                                   \
    K(JOB_COUNTS, "job_counts", R(F_COUNTS), O())                                                  \
    /* --- rows --- */                                                                             \
    K(JOB_ROW, "job_row",                                                                          \
      R(F_JOB_ID, F_USER_ID, F_CHAT_ID, F_ORDER_TOKEN, F_IDX, F_MODEL, F_PRICE, F_STATE,           \
        F_ATTEMPTS, F_CREATED_MS),                                                                 \
      O(F_PARAMS, F_KEY_ID, F_TASK_ID, F_PROGRESS, F_RESULT_URL, F_ERR_CLASS, F_ERR_DETAIL,        \
        F_AT_MS, F_UPDATED_MS, F_MESSAGE_ID))                                                      \
    K(ENTRY_ROW, "entry_row",                                                                      \
      R(F_ENTRY_ID, F_ENTRY_KIND, F_D_BALANCE, F_D_HELD, F_REF, F_CREATED_MS),                     \
      O(F_JOB_ID, F_REASON))                                                                       \
    /* --- ledger requests --- */                                                                  \
    K(USER_TOUCH, "user_touch", R(F_USER_ID), O(F_LANG, F_FIRST_NAME, F_USERNAME))                 \
    K(BALANCE_GET, "balance_get", R(F_USER_ID), O())                                               \
    K(ORDER_PLACE, "order_place",                                                                  \
      R(F_USER_ID, F_CHAT_ID, F_ORDER_TOKEN, F_MODEL, F_PRICE, F_COUNT),                           \
      O(F_PARAMS, F_STATE, F_SESSION, F_UPDATE_ID))                                                \
    K(JOBS_CLAIM, "jobs_claim", R(F_KEY_ID, F_MAX_N), O())                                         \
    K(JOB_SUBMITTED, "job_submitted", R(F_JOB_ID, F_TASK_ID), O(F_KEY_ID))                         \
    K(JOB_PROGRESS, "job_progress", R(F_JOB_ID, F_PROGRESS), O())                                  \
    K(JOB_RETRY, "job_retry", R(F_JOB_ID, F_AT_MS), O(F_ERR_CLASS, F_ERR_DETAIL, F_ATTEMPTS))      \
    K(JOB_SUCCEEDED, "job_succeeded", R(F_JOB_ID), O(F_RESULT_URL))                                \
    K(JOB_FAILED, "job_failed", R(F_JOB_ID, F_ERR_CLASS), O(F_ERR_DETAIL))                         \
    K(JOB_DELIVERED, "job_delivered", R(F_JOB_ID), O())                                            \
    K(JOB_TOLD, "job_told", R(F_JOB_ID), O())                                                      \
    K(JOBS_UNTOLD, "jobs_untold", R(), O(F_LIMIT))                                                 \
    K(JOBS_COUNT, "jobs_count", R(), O())                                                          \
    K(JOB_CANCEL, "job_cancel", R(F_JOB_ID, F_USER_ID), O())                                       \
    K(JOB_GET, "job_get", R(F_JOB_ID), O())                                                        \
    K(JOB_STATUS_MSG, "job_status_msg", R(F_JOB_ID, F_MESSAGE_ID), O())                            \
    K(JOBS_EXPIRE, "jobs_expire", R(F_AT_MS, F_MAX_N), O(F_ERR_CLASS, F_ERR_DETAIL))               \
    K(KEY_HEALTH_SAVE, "key_health_save", R(F_KEY_ID, F_STATE, F_AT_MS), O())                      \
    K(KEY_HEALTH_LOAD, "key_health_load", R(F_KEY_ID), O())                                        \
    K(JOBS_LIST, "jobs_list", R(), O(F_USER_ID, F_STATE, F_KEY_ID, F_LIMIT))                       \
    K(ENTRIES_LIST, "entries_list", R(F_USER_ID), O(F_LIMIT))                                      \
    K(PAYMENT_CREDIT, "payment_credit",                                                            \
      R(F_USER_ID, F_PROVIDER, F_CHARGE_ID, F_AMOUNT, F_CREDITS), O())                             \
    K(ADMIN_ADJUST, "admin_adjust", R(F_USER_ID, F_DELTA, F_REASON, F_REF), O(F_ADMIN_ID))         \
    K(USER_BLOCKED, "user_blocked", R(F_USER_ID, F_BLOCKED), O())                                  \
    K(SESSION_SAVE, "session_save", R(F_USER_ID, F_STATE, F_SESSION), O(F_UPDATE_ID))              \
    K(SESSION_LOAD, "session_load", R(F_USER_ID), O())                                             \
    K(OFFSET_SAVE, "offset_save", R(F_OFFSET), O())                                                \
    K(OFFSET_LOAD, "offset_load", R(), O())                                                        \
    /* --- Telegram edge --- */                                                                    \
    /* poller -> session shard: one update, raw JSON; shard -> poller: done */                     \
    K(UPDATE_IN, "update_in", R(F_UPDATE_ID, F_USER_ID, F_UPDATE), O())                            \
    K(UPDATE_DONE, "update_done", R(F_UPDATE_ID), O())                                             \
    /* anyone -> notifier: one Bot API call; PARAMS is its JSON object. */                         \
    /* MEDIA_URL: download, upload as MEDIA_KIND ("video", "photo",     */                         \
    /* "document"); over 50 MB, LINK_TEXT is sent as a message instead  */                         \
    K(TG_CALL, "tg_call", R(F_METHOD, F_PARAMS),                                                   \
      O(F_CHAT_ID, F_PRIORITY, F_MESSAGE_ID, F_MEDIA_URL, F_MEDIA_KIND, F_LINK_TEXT))              \
    /* notifier -> caller (when corr_id != 0): how the call ended */                               \
    K(TG_RESULT, "tg_result", R(F_CODE), O(F_MESSAGE_ID, F_CHAT_ID, F_DETAIL))                     \
    /* --- generation engine --- */                                                                \
    /* key worker -> session shard of the job's user: what happened. */                            \
    /* state: a job state; queued with err_class = a retry is scheduled; */                        \
    /* duplicate: sent again after a restart (the user may not have it) */                         \
    K(JOB_EVENT, "job_event", R(F_JOB_ID, F_USER_ID, F_STATE),                                     \
      O(F_CHAT_ID, F_ORDER_TOKEN, F_IDX, F_PROGRESS, F_ERR_CLASS, F_ERR_DETAIL, F_ATTEMPTS,        \
        F_MAX_ATTEMPTS, F_RESULT_URL, F_MESSAGE_ID, F_CREDITS, F_DUPLICATE))

typedef enum {
#define MSG_F_ENUM(id, name, type, max, row) F_##id,
    MSG_FIELDS(MSG_F_ENUM)
#undef MSG_F_ENUM
        F_COUNT_
} msg_field_t;

typedef enum {
    MSG_K_NONE = 0,
#define MSG_K_ENUM(id, name, req, opt) MSG_K_##id,
    MSG_KINDS(MSG_K_ENUM)
#undef MSG_K_ENUM
        MSG_K_COUNT_
} msg_kind_t;

//  Decoding errors: a value, never a crash.
typedef enum {
    MSG_OK = 0,
    MSG_E_TRUNCATED,       //  not a complete msgpack object, or trailing bytes
    MSG_E_SHAPE,           //  not [uint kind, uint corr_id, map body]
    MSG_E_UNKNOWN_KIND,    //  kind not in the table
    MSG_E_UNKNOWN_FIELD,   //  body key not declared for this kind
    MSG_E_MISSING_FIELD,   //  a required field is absent
    MSG_E_WRONG_TYPE,      //  a value has the wrong msgpack type
    MSG_E_TOO_LONG,        //  string, bin or array over its declared max
    MSG_E_DUPLICATE_FIELD, //  the same key twice in one map
    MSG_E_TOO_BIG          //  frame over MSG_MAX_FRAME
} msg_err_t;

typedef struct msg_s msg_t;

//  Table lookups (for logs, docs and tests).
const char *msg_kind_name(int kind); //  "?" when unknown
const char *msg_field_name(msg_field_t field);
msg_type_t msg_field_type(msg_field_t field);
size_t msg_field_max(msg_field_t field);
const char *msg_err_str(msg_err_t err);
//  optional=false: true when kind requires field. optional=true: true when
//  kind allows field without requiring it. False for an unknown kind/field.
bool msg_kind_has_field(int kind, msg_field_t field, bool optional);
//  Markdown tables of every kind and field (docs/messages.md is this output;
//  a test keeps them equal).
void msg_print_docs(FILE *out);

//  Build. A message owns copies of everything set on it. msg_new asserts that
//  kind is a top-level kind (rows come from msg_add_row). A required MT_LIST
//  field starts present and empty (it encodes as []); an optional one is
//  absent until its first msg_add_row.
msg_t *msg_new(int kind, uint64_t corr_id);
void msg_destroy(msg_t **self_p);
int msg_kind(const msg_t *self);
uint64_t msg_corr(const msg_t *self);
void msg_set_corr(msg_t *self, uint64_t corr_id);

//  Setters assert on programmer errors (a field of another type, or a field
//  the kind does not declare). They return -1 when the value is over the
//  field's max, and msg_set_str/strn when it is not valid UTF-8 or holds a
//  NUL byte; then nothing is set and a previous value stays. Setting a field
//  again replaces its value (value may point into the current one).
void msg_set_int(msg_t *self, msg_field_t field, int64_t value);
void msg_set_bool(msg_t *self, msg_field_t field, bool value);
int msg_set_str(msg_t *self, msg_field_t field, const char *value);
int msg_set_strn(msg_t *self, msg_field_t field, const char *value, size_t len);
int msg_set_bin(msg_t *self, msg_field_t field, const void *data, size_t len);
int msg_set_ints(msg_t *self, msg_field_t field, const int64_t *values, size_t n);
//  Appends a row to an MT_LIST field and returns it (owned by self: never
//  destroy it), or NULL when the list is full.
msg_t *msg_add_row(msg_t *self, msg_field_t field);

//  Getters. msg_has tells presence; the others return 0 / false / NULL when
//  the field is absent (or not declared for the kind); they assert on a
//  field of another type. Returned pointers live as long as the message.
bool msg_has(const msg_t *self, msg_field_t field);
int64_t msg_int(const msg_t *self, msg_field_t field);
bool msg_bool(const msg_t *self, msg_field_t field);
const char *msg_str(const msg_t *self, msg_field_t field); //  NUL-terminated
size_t msg_len(const msg_t *self, msg_field_t field);      //  str/bin bytes, ints/list items
const void *msg_bin(const msg_t *self, msg_field_t field);
const int64_t *msg_ints(const msg_t *self, msg_field_t field);
const msg_t *msg_row(const msg_t *self, msg_field_t field, size_t index);

//  Encode into a newly allocated buffer (caller frees). Returns 0, or -1 when
//  a required field is missing, here or in a row (a programmer error the
//  caller should log), or when the frame would exceed MSG_MAX_FRAME.
int msg_encode(const msg_t *self, uint8_t **data_p, size_t *size_p);
//  Decode; on failure returns NULL and sets *err (and, when field_p is not
//  NULL, the field concerned or F_COUNT_; for an error inside a row, the
//  field of the row). On success *err is MSG_OK and *field_p F_COUNT_. err
//  may be NULL. The message owns copies: data may be freed at once.
msg_t *msg_decode(const uint8_t *data, size_t size, msg_err_t *err, msg_field_t *field_p);

//  Socket helpers (ZeroMQ). Both senders destroy the message, also when they
//  fail, and return 0 or -1 (encode failed, or the socket refused).
//  msg_send sends one frame. msg_send_to (ROUTER) sends [routing_id, payload];
//  routing_id stays owned by the caller: it is neither destroyed nor changed,
//  so one id can answer many requests.
//  msg_recv receives one frame and decodes it. It returns NULL with *err set
//  on a malformed frame, or with *err = MSG_OK when interrupted / timed out.
//  On a ROUTER the caller receives the routing id frame itself first
//  (zframe_recv), then calls msg_recv for the payload. A message of more
//  frames than expected is drained and reported as MSG_E_SHAPE.
typedef struct _zsock_t zsock_t;
typedef struct _zframe_t zframe_t;
int msg_send(msg_t **self_p, zsock_t *sock);
int msg_send_to(msg_t **self_p, zsock_t *sock, zframe_t *routing_id);
msg_t *msg_recv(zsock_t *sock, msg_err_t *err);

#endif
