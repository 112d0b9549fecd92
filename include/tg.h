/*  tg.h — the Telegram Bot API as data: requests built and validated,
    responses and updates parsed and classified. Pure: no I/O, no clock, no
    state beyond const tables. The poller, the notifier and the http actor
    carry out the HTTP; the bench simulator reads the same requests.

    Requests. Each builder checks its input against the Bot API's limits and
    returns NULL with a one-line reason in err (TG_ERR_MAX bytes; err may be
    NULL) when it is bad: an empty or over-long text, callback data over 64
    bytes, a chat id of 0, invalid UTF-8, an over-long invoice field...
    A request is a method name plus either a JSON object of parameters or,
    for an upload, multipart/form-data parts (text fields + one file).

        tg_keyboard_t *kb = tg_keyboard_new ();
        tg_keyboard_add (kb, "🎬 Создать видео", "m:create");
        tg_request_t *req = tg_send_message (chat_id, html, kb, err);
        char *body = tg_request_to_json (req);       //  POST it as JSON

    Text. Telegram counts characters in UTF-16 code units: a character
    outside the BMP (most emoji) counts 2. Texts are HTML (parse_mode HTML)
    except answerCallbackQuery's toast and the invoice fields, which are
    plain. A builder measures HTML as Telegram does after parsing: tags count
    nothing, an entity (&amp;) counts 1.

    Responses. tg_response_parse turns an HTTP status and body into a
    status class from one table (tg_status_t), with retry_after and
    migrate_to_chat_id, and keeps the "result" JSON.

    Updates. tg_batch_parse turns a getUpdates result (or one webhook body)
    into normalized tg_update_t values that own copies of their strings. A
    malformed update is skipped and counted; the others are kept, and its
    update_id, when readable, still moves the offset.

    Secrets: the bot token appears only in tg_method_path_with_token and
    tg_file_path_with_token results. Never log them (log_redact masks them,
    but a path is not a log field).
*/
#ifndef GENBOT_TG_H
#define GENBOT_TG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Limits, in characters as Telegram counts them (UTF-16 code units)
//  unless the name says bytes.
#define TG_TEXT_MAX                4096 //  message text, after HTML parsing
#define TG_CAPTION_MAX             1024 //  media caption, after HTML parsing
#define TG_CALLBACK_ANSWER_MAX     200  //  answerCallbackQuery toast/alert
#define TG_CALLBACK_DATA_MAX       64   //  bytes, callback_data of a button
#define TG_INVOICE_TITLE_MAX       32
#define TG_INVOICE_DESCRIPTION_MAX 255
#define TG_INVOICE_PAYLOAD_MAX     128 //  bytes
#define TG_COMMAND_MAX             32  //  bot command name, [a-z0-9_]
#define TG_COMMAND_DESCRIPTION_MAX 256
#define TG_COMMANDS_MAX            100
#define TG_UPDATES_LIMIT_MAX       100        //  getUpdates limit 1..100
#define TG_POLL_TIMEOUT_MAX        50         //  seconds; the server caps long polls here
#define TG_KEYBOARD_BUTTONS_MAX    100        //  inline buttons per message
#define TG_KEYBOARD_ROW_MAX        8          //  inline buttons per row
#define TG_WEBHOOK_SECRET_MAX      256        //  bytes of A-Za-z0-9_-
#define TG_PHOTO_UPLOAD_MAX        (10 << 20) //  bytes
#define TG_FILE_UPLOAD_MAX         (50 << 20) //  bytes: video, document
#define TG_DOWNLOAD_MAX            (20 << 20) //  bytes a bot may download (getFile)
#define TG_HTML_BYTES_MAX          65536      //  raw bytes of a text or caption we send
#define TG_ID_BYTES_MAX            1024       //  file_id, URL, query id, charge id...
#define TG_ERR_MAX                 256

//  Parsing bounds: an incoming string over its bound makes its update
//  malformed. Text and captions are accepted up to TG_IN_TEXT_MAX as is
//  (the FSM checks product limits); every other string up to
//  TG_IN_STRING_MAX. A response body over TG_RESPONSE_MAX is refused
//  unparsed, and one update's strings together stay under TG_UPDATE_MAX.
#define TG_IN_TEXT_MAX   65536
#define TG_IN_STRING_MAX 4096
#define TG_UPDATE_MAX    (1 << 20)
#define TG_RESPONSE_MAX  (32 << 20)

// --------------------------------------------------------------------------
//  Text helpers. Each returned char * is NUL-terminated, valid UTF-8 and
//  belongs to the caller; NULL only when text is NULL (or out of memory).

//  & < > " become &amp; &lt; &gt; &quot;. Use on every user-supplied string
//  echoed in an HTML message.
char *tg_html_escape(const char *text);
//  Copy of the first len bytes with every byte that does not start a valid
//  UTF-8 sequence (overlong forms, surrogates, code points above U+10FFFF,
//  truncated sequences, stray continuation bytes) and every NUL replaced by
//  U+FFFD, one per bad byte.
char *tg_utf8_sanitize(const char *text, size_t len);
//  The first characters of text (sanitized) totalling at most max UTF-16
//  code units, with "…" (1 unit, included in max) added when it was cut;
//  the whole of it when it fits. Cuts only at character boundaries, never
//  inside an HTML entity (&amp; &#128512; ...), and drops spaces before
//  the "…". Every byte counts (an entity counts its full length), so the
//  result fits max as plain text and as HTML; cut escaped user text, not
//  markup (a cut can leave a tag open). max 0 gives "".
char *tg_text_cut(const char *text, size_t max);
//  Length in UTF-16 code units, as Telegram counts plain text (an invalid
//  byte counts 1, like the U+FFFD that replaces it).
size_t tg_text_len(const char *text);
//  Length of an HTML text as Telegram counts it after parsing: tags count
//  0, an entity counts 1, other characters their UTF-16 units.
size_t tg_html_len(const char *html);

// --------------------------------------------------------------------------
//  Inline keyboards: rows of buttons, each a text plus one action.

typedef struct tg_keyboard_s tg_keyboard_t;

tg_keyboard_t *tg_keyboard_new(void);
void tg_keyboard_destroy(tg_keyboard_t **self_p);
//  Ends the current row; the next button starts a new one. No-op when the
//  current row is empty (a keyboard never holds an empty row).
void tg_keyboard_row(tg_keyboard_t *self);
//  Each add appends a button to the current row and returns 0, or returns
//  -1 and adds nothing when: text is empty after trimming or not valid
//  UTF-8; callback_data is empty or over TG_CALLBACK_DATA_MAX bytes or not
//  valid UTF-8; url is not http(s):// or tg:// or holds spaces or control
//  characters; the row already has TG_KEYBOARD_ROW_MAX buttons or the
//  keyboard TG_KEYBOARD_BUTTONS_MAX; a pay button is not the very first
//  button (Telegram wants it first in the first row).
int tg_keyboard_add(tg_keyboard_t *self, const char *text, const char *callback_data);
int tg_keyboard_add_url(tg_keyboard_t *self, const char *text, const char *url);
int tg_keyboard_add_pay(tg_keyboard_t *self, const char *text);
size_t tg_keyboard_size(const tg_keyboard_t *self); //  buttons
//  The InlineKeyboardMarkup object {"inline_keyboard":[[...],...]}: a new
//  reference (json_decref it), or as a compact string (caller frees).
json_t *tg_keyboard_json(const tg_keyboard_t *self);
char *tg_keyboard_to_json(const tg_keyboard_t *self);

// --------------------------------------------------------------------------
//  Requests.

typedef struct tg_request_s tg_request_t;

//  One multipart/form-data part. A text part has value; the file part has
//  data/size/filename/content_type and value NULL. Owned by the request.
typedef struct {
    const char *name;
    const char *value;
    const uint8_t *data;
    size_t size;
    const char *filename;
    const char *content_type;
} tg_part_t;

typedef enum { TG_MEDIA_PHOTO, TG_MEDIA_VIDEO, TG_MEDIA_DOCUMENT } tg_media_t;

typedef enum {
    TG_ACTION_TYPING,
    TG_ACTION_UPLOAD_PHOTO,
    TG_ACTION_UPLOAD_VIDEO,
    TG_ACTION_UPLOAD_DOCUMENT
} tg_chat_action_t;

typedef struct {
    const char *command;     //  "start": 1..32 of [a-z0-9_], no '/'
    const char *description; //  1..256 characters
} tg_command_t;

//  A Telegram Stars invoice: currency XTR, empty provider_token, one price.
typedef struct {
    const char *title;       //  1..32 characters
    const char *description; //  1..255 characters
    const char *payload;     //  1..128 bytes, comes back in the payment
    const char *label;       //  the price's label, non-empty
    int64_t stars;           //  >= 1
} tg_invoice_t;

void tg_request_destroy(tg_request_t **self_p);
const char *tg_request_method(const tg_request_t *self); //  "sendMessage"
bool tg_request_is_multipart(const tg_request_t *self);
//  The parameters (for an upload: the text fields, without the file).
//  Borrowed: lives as long as the request.
const json_t *tg_request_params(const tg_request_t *self);
//  The chat_id parameter, 0 when the method has none (notifier's per-chat
//  queues and limits key on it).
int64_t tg_request_chat_id(const tg_request_t *self);
//  The multipart parts, in order, the file last (0 parts for a JSON request).
size_t tg_request_part_count(const tg_request_t *self);
const tg_part_t *tg_request_part(const tg_request_t *self, size_t index);
//  Compact JSON of the parameters (caller frees). For an upload the file
//  field is {"filename":...,"content_type":...,"size":N}: a description,
//  not a body to send.
char *tg_request_to_json(const tg_request_t *self);
//  application/x-www-form-urlencoded parameters (caller frees): numbers
//  and booleans as text, objects and arrays as compact JSON. NULL for an
//  upload (its file cannot be form-encoded).
char *tg_request_to_form(const tg_request_t *self);

tg_request_t *tg_get_me(void);
//  allowed_updates is always message, callback_query, pre_checkout_query,
//  my_chat_member. limit 1..100, timeout_s 0..50.
tg_request_t *tg_get_updates(int64_t offset, int limit, int timeout_s, char *err);
//  drop_pending_updates false: undelivered payments must not be dropped.
tg_request_t *tg_delete_webhook(void);
//  url https://...; secret 1..256 of A-Za-z0-9_- (checked on each webhook
//  POST with tg_webhook_secret_ok). Same allowed_updates as getUpdates.
tg_request_t *tg_set_webhook(const char *url, const char *secret, char *err);
//  HTML text, link previews disabled; keyboard may be NULL.
tg_request_t *tg_send_message(int64_t chat_id, const char *html, const tg_keyboard_t *keyboard,
                              char *err);
tg_request_t *tg_edit_message_text(int64_t chat_id, int64_t message_id, const char *html,
                                   const tg_keyboard_t *keyboard, char *err);
//  keyboard NULL removes the message's keyboard.
tg_request_t *tg_edit_message_reply_markup(int64_t chat_id, int64_t message_id,
                                           const tg_keyboard_t *keyboard, char *err);
//  text plain (not HTML), NULL or "" for none (it only stops the spinner).
tg_request_t *tg_answer_callback_query(const char *query_id, const char *text, bool show_alert,
                                       char *err);
//  media: a file_id or an http(s) URL. caption HTML, NULL or "" for none.
//  A video is sent with supports_streaming.
tg_request_t *tg_send_media(tg_media_t kind, int64_t chat_id, const char *media,
                            const char *caption, const tg_keyboard_t *keyboard, char *err);
//  Multipart upload of size bytes (copied; 1..10 MB for a photo, 50 MB
//  otherwise). filename: 1..255 bytes of printable ASCII without / \ " ;
//  its extension picks the content type (application/octet-stream if
//  unknown).
tg_request_t *tg_send_media_upload(tg_media_t kind, int64_t chat_id, const void *data, size_t size,
                                   const char *filename, const char *caption,
                                   const tg_keyboard_t *keyboard, char *err);
tg_request_t *tg_get_file(const char *file_id, char *err);
tg_request_t *tg_delete_message(int64_t chat_id, int64_t message_id, char *err);
tg_request_t *tg_send_chat_action(int64_t chat_id, tg_chat_action_t action, char *err);
//  language_code NULL or "" for all users, else two lowercase letters.
tg_request_t *tg_set_my_commands(const tg_command_t *commands, size_t count,
                                 const char *language_code, char *err);
//  keyboard may be NULL (Telegram adds a Pay button); when given, its first
//  button must be the pay button.
tg_request_t *tg_send_invoice(int64_t chat_id, const tg_invoice_t *invoice,
                              const tg_keyboard_t *keyboard, char *err);
//  ok false needs an error_message (shown to the user); ok true ignores it.
tg_request_t *tg_answer_pre_checkout_query(const char *query_id, bool ok, const char *error_message,
                                           char *err);
tg_request_t *tg_refund_star_payment(int64_t user_id, const char *charge_id, char *err);

//  "/bot<token>/<method>" and "/file/bot<token>/<file_path>": the results
//  CONTAIN THE BOT TOKEN (caller frees; keep them out of logs, messages and
//  anything sent to KIE). NULL when token is not <digits>:<A-Za-z0-9_->,
//  method not letters only, or file_path not a relative path of
//  A-Za-z0-9 . _ - / without "." or ".." segments.
char *tg_method_path_with_token(const char *token, const char *method);
char *tg_file_path_with_token(const char *token, const char *file_path);

// --------------------------------------------------------------------------
//  Responses.

//  One row per class in the status table (tg_response.c): a Bot API error code, an
//  optional description fragment, and what the caller does.
typedef enum {
    TG_OK,              //  ok: true
    TG_E_RETRY_AFTER,   //  429: wait retry_after seconds, then retry
    TG_E_FORBIDDEN,     //  403: blocked, deactivated, kicked: the user is gone
    TG_E_NOT_MODIFIED,  //  400 message is not modified: treat as success
    TG_E_QUERY_TOO_OLD, //  400 callback/inline query too old or invalid: drop
    TG_E_MIGRATED,      //  400 with migrate_to_chat_id: resend to the new chat
    TG_E_BAD_REQUEST,   //  any other 400: our request is wrong, do not retry
    TG_E_UNAUTHORIZED,  //  401: the token is wrong or revoked
    TG_E_CONFLICT,      //  409: another poller, or a webhook is set
    TG_E_SERVER,        //  5xx: retry with backoff
    TG_E_OTHER,         //  any other error code (404, 413, ...)
    TG_E_MALFORMED      //  body not JSON, wrong shape or truncated
} tg_status_t;

typedef struct tg_response_s tg_response_t;

//  A File result; strings borrowed from the response (NULL when absent).
typedef struct {
    const char *file_id;
    const char *file_unique_id;
    const char *file_path; //  NULL: not downloadable (over 20 MB)
    int64_t file_size;     //  0 when unknown
} tg_file_t;

//  Parses one Bot API reply. body need not be NUL-terminated; it may be
//  NULL/empty or anything at all. retry_after_header is the HTTP
//  Retry-After value (seconds) or NULL; parameters.retry_after wins over
//  it. A body that is not JSON is classified by HTTP status when that is
//  an error status (502 with an HTML page is TG_E_SERVER), else it is
//  TG_E_MALFORMED. Returns NULL only when out of memory.
tg_response_t *tg_response_parse(int http_status, const char *body, size_t len,
                                 const char *retry_after_header);
void tg_response_destroy(tg_response_t **self_p);
tg_status_t tg_response_status(const tg_response_t *self);
bool tg_response_ok(const tg_response_t *self);
//  error_code from the body, else the HTTP status; 0 when ok.
int tg_response_error_code(const tg_response_t *self);
//  Never NULL: "" when ok; cut to TG_ERR_MAX bytes.
const char *tg_response_description(const tg_response_t *self);
int64_t tg_response_retry_after(const tg_response_t *self);        //  seconds, 0 when none
int64_t tg_response_migrate_to_chat_id(const tg_response_t *self); //  0 when none
//  The "result" value when ok, else NULL. Borrowed.
const json_t *tg_response_result(const tg_response_t *self);
//  A Message result: its message_id and chat.id. -1 when not ok or the
//  result is not a Message (e.g. true for an inline message edit).
int tg_response_message(const tg_response_t *self, int64_t *message_id, int64_t *chat_id);
//  A File result (getFile). -1 when not ok or file_id/file_unique_id are
//  missing or a field has the wrong type.
int tg_response_file(const tg_response_t *self, tg_file_t *file);

const char *tg_status_name(tg_status_t status); //  "retry_after"; "?" when unknown
//  TG_OK and TG_E_NOT_MODIFIED: the request had the effect it wanted.
bool tg_status_is_success(tg_status_t status);

// --------------------------------------------------------------------------
//  Updates.

typedef enum {
    TG_UPDATE_TEXT,          //  message.text (commands included)
    TG_UPDATE_PHOTO,         //  message.photo: the largest size
    TG_UPDATE_DOCUMENT,      //  message.document
    TG_UPDATE_CALLBACK,      //  callback_query: answer it, always
    TG_UPDATE_PRE_CHECKOUT,  //  pre_checkout_query: answer within 10 s
    TG_UPDATE_PAYMENT,       //  message.successful_payment
    TG_UPDATE_CHAT_MEMBER,   //  my_chat_member: blocked / unblocked
    TG_UPDATE_OTHER_MESSAGE, //  sticker, voice, video, location...: hint
    TG_UPDATE_SKIPPED        //  anything else: count, do not handle
} tg_update_kind_t;

//  A file in a PHOTO or DOCUMENT update.
typedef struct {
    const char *file_id;
    const char *file_unique_id; //  stable across bots: the cache key
    const char *file_name;      //  DOCUMENT, "" when absent
    const char *mime_type;      //  DOCUMENT, "" when absent
    int64_t file_size;          //  0 when unknown
    int64_t width, height;      //  PHOTO
    bool is_image;              //  PHOTO, or a jpeg/png/webp DOCUMENT
} tg_attachment_t;

//  Every string is owned by the batch, never NULL ("" when absent) and
//  free of NUL bytes (a \u0000 in the JSON becomes U+FFFD). Ids are 0 when
//  absent (a pre_checkout_query has no chat; a callback on an inline
//  message has no chat or message).
typedef struct {
    int64_t update_id;
    tg_update_kind_t kind;
    int64_t user_id; //  from.id
    int64_t chat_id; //  chat.id (the callback's message's chat)
    bool private_chat;
    int64_t message_id; //  the message, or the callback's message
    int64_t date;       //  message date (unix seconds), 0 when none
    const char *language_code;
    const char *first_name;
    const char *username;
    const char *text;            //  TEXT
    const char *command;         //  TEXT "/Start@genbot x" -> "start"; "" when no command
    const char *command_arg;     //  TEXT "/start  ref_42 " -> "ref_42"
    const char *caption;         //  PHOTO, DOCUMENT
    tg_attachment_t file;        //  PHOTO, DOCUMENT
    const char *query_id;        //  CALLBACK, PRE_CHECKOUT
    const char *data;            //  CALLBACK callback_data ("" when none)
    const char *currency;        //  PRE_CHECKOUT, PAYMENT
    int64_t total_amount;        //  PRE_CHECKOUT, PAYMENT
    const char *invoice_payload; //  PRE_CHECKOUT, PAYMENT
    const char *telegram_payment_charge_id; //  PAYMENT, never ""
    const char *provider_payment_charge_id; //  PAYMENT
    const char *member_status;              //  CHAT_MEMBER new status
    bool blocked;                           //  CHAT_MEMBER status "kicked"
    const char *other_type;                 //  OTHER_MESSAGE "sticker"; SKIPPED why
} tg_update_t;

typedef struct tg_batch_s tg_batch_t;

//  A getUpdates result (a JSON array). NULL when result is not an array.
tg_batch_t *tg_batch_parse(const json_t *result);
//  One webhook POST body: a single Update object. Always a batch (empty,
//  one malformed, when the body is not an Update); NULL only out of memory.
tg_batch_t *tg_batch_parse_webhook(const char *body, size_t len);
void tg_batch_destroy(tg_batch_t **self_p);
size_t tg_batch_size(const tg_batch_t *self); //  good updates, SKIPPED included
const tg_update_t *tg_batch_get(const tg_batch_t *self, size_t index);
size_t tg_batch_malformed(const tg_batch_t *self);
//  Why the last malformed update was refused ("" when none), for the log.
const char *tg_batch_error(const tg_batch_t *self);
//  The highest update_id seen, malformed updates included when their id
//  was readable: the next offset is that + 1. -1 when none was readable.
int64_t tg_batch_last_update_id(const tg_batch_t *self);
const char *tg_update_kind_name(tg_update_kind_t kind); //  "text"; "?" when unknown

// --------------------------------------------------------------------------
//  Webhook.

//  True when the X-Telegram-Bot-Api-Secret-Token header value equals the
//  configured secret. Constant time in the secret's content. False when
//  either is NULL or the secret is empty.
bool tg_webhook_secret_ok(const char *header_value, const char *secret);

#endif
