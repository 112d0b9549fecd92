/*  tgsim.h — a simulated Telegram Bot API server, in process, for tests,
    `genbot sandbox` and the load harness.

    One libmicrohttpd server (a thread per connection) on 127.0.0.1, an
    ephemeral port unless one is given. genbot runs against it with
    TELEGRAM_API_URL=tgsim_url(sim) and cannot tell it from api.telegram.org:

      GET|POST /bot<token>/<method>     the Bot API methods below
      GET      /file/bot<token>/<path>  files named by getFile

    Parameters come from the query string, application/x-www-form-urlencoded,
    application/json or multipart/form-data, as with the real server; a JSON
    valued parameter (reply_markup, prices, commands) may be an object inside
    a JSON body or a JSON string in any encoding. Method names are
    case-insensitive. Replies have the real shapes: {"ok":true,"result":..}
    or {"ok":false,"error_code":N,"description":"Bad Request: ..",
    "parameters":{"retry_after":N}} (reference/telegram-api.md).

    Methods: getMe, getUpdates, setWebhook, deleteWebhook, getWebhookInfo,
    setMyCommands, getMyCommands, deleteMyCommands, sendChatAction,
    sendMessage, editMessageText, editMessageCaption, editMessageReplyMarkup,
    deleteMessage, answerCallbackQuery, sendPhoto, sendVideo, sendDocument,
    getFile, sendInvoice, answerPreCheckoutQuery, refundStarPayment. Any
    other name: 404 {"ok":false,"error_code":404,"description":"Not Found"}.

    Updates. Each fake-user action queues one update and returns its
    update_id; ids increase by one from a random start. getUpdates has the
    real semantics: `offset` confirms (forgets) every update below it, a
    negative offset keeps only the last -offset, no offset returns from the
    earliest unconfirmed one, `limit` is clamped to 1..100, `timeout` long
    polls up to min(timeout, TGSIM_LONG_POLL_MAX_S) seconds and returns as
    soon as an update arrives. A second getUpdates while one is waiting
    terminates the older one with 409 "Conflict: terminated by other
    getUpdates request; ...". While a webhook is set, getUpdates answers 409
    and the updates are POSTed to the webhook instead (one at a time, with
    X-Telegram-Bot-Api-Secret-Token; a non-2xx answer is retried after a
    back-off), like Telegram does. http:// webhook URLs are accepted too,
    as a local Bot API server does, so a test can point one at genbot.

    Chats. Every fake user has a private chat whose id is the user id; an
    id below zero makes a group chat instead. Messages in a chat (the user's
    and the bot's) get increasing message_ids from 1. Sending to a chat that
    was never added: 400 "Bad Request: chat not found"; to a user who blocked
    the bot: 403 "Forbidden: bot was blocked by the user".

    Checks like the real server's: text 1..4096 and caption 0..1024 UTF-16
    units after entity parsing; parse_mode HTML with a tag-balance check
    (b strong i em u ins s strike del a code pre tg-spoiler span blockquote
    tg-emoji) and "Bad Request: can't parse entities: ..." errors; inline
    keyboards (callback_data 1..64 bytes, an action on every button);
    identical edits give "message is not modified"; callback queries can be
    answered once, within callback_timeout_ms; pre-checkout queries within
    precheckout_timeout_ms; uploads up to 10 MB for photos and 50 MB for
    other files (413 "Request Entity Too Large" above, as the real front
    end answers), files by URL up to 5 MB (photos) or 20 MB (the size is
    what tgsim_set_url_size declared, else what fetch_urls downloads, else
    unknown and accepted), getFile up to 20 MB.

    Limits (enforce_limits): token buckets like Telegram's flood control —
    global 30 msg/s, per private chat 1 msg/s with a burst of 3, per group
    20 msg/min. sendMessage, send<Media>, editMessage* and sendInvoice count;
    nothing else does. An over-limit call gets 429 "Too Many Requests: retry
    after N" with parameters.retry_after and a Retry-After header, and the
    chat stays closed for those N seconds: a client that ignores retry_after
    keeps getting 429s, one that honours it gets through.

    Faults (changeable at run time with tgsim_set_faults): extra latency
    per request, server errors (500 JSON or nginx's bare 502 page),
    connections dropped before handling, or after handling (the call took
    effect but the client never learns it), all from a seeded generator.
    tgsim_fail_next scripts the next answers of one method.

    Inspection. Every authenticated call is recorded as a tgsim_call_t
    (method, chat, text, keyboard, message, media, status, time). Records
    are immutable once published and live until tgsim_destroy, so the
    pointers the inspection functions return stay valid until then. Times
    are tgsim_clock_ms() (monotonic ms).

    Thread-safety: every function may be called from any thread while the
    server runs; one mutex guards the simulator (test infrastructure, not
    genbot state). tgsim_on_call's function runs on a server thread without
    the lock held.

    Not modelled: message entities in replies (text comes back plain, no
    "entities" array), MarkdownV2 parsing (accepted, not checked), media
    groups, inline mode, group members acting, resizing photos (every size
    serves the original bytes), the 48 h deleteMessage window, re-poll
    throttling ("same offset within 0.5 s forces limit=1"), and a method
    call in a webhook's answer. Some rarer error descriptions are close
    approximations rather than the server's exact wording.
*/
#ifndef GENBOT_TGSIM_H
#define GENBOT_TGSIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TGSIM_HOST                   "127.0.0.1"
#define TGSIM_DEFAULT_TOKEN          "123456789:AAHsimulatedBotTokenForGenbotTests01"
#define TGSIM_LONG_POLL_MAX_S        50
#define TGSIM_TEXT_MAX               4096 //  UTF-16 units after entity parsing
#define TGSIM_CAPTION_MAX            1024
#define TGSIM_CALLBACK_DATA_MAX      64                 //  bytes
#define TGSIM_UPLOAD_MAX             (50 * 1024 * 1024) //  multipart, non-photo
#define TGSIM_PHOTO_UPLOAD_MAX       (10 * 1024 * 1024)
#define TGSIM_URL_MAX_BYTES          (20 * 1024 * 1024) //  by URL, non-photo
#define TGSIM_PHOTO_URL_MAX          (5 * 1024 * 1024)
#define TGSIM_DOWNLOAD_MAX           (20 * 1024 * 1024) //  getFile
#define TGSIM_GLOBAL_PER_S           30.0
#define TGSIM_CHAT_PER_S             1.0
#define TGSIM_CHAT_BURST             3.0
#define TGSIM_GROUP_PER_MIN          20.0
#define TGSIM_CALLBACK_TIMEOUT_MS    15000
#define TGSIM_PRECHECKOUT_TIMEOUT_MS 10000

//  Descriptions that tests hand to tgsim_fail_next.
#define TGSIM_CONFLICT_POLL                                                                        \
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is "   \
    "running"
#define TGSIM_CONFLICT_WEBHOOK                                                                     \
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete "  \
    "the webhook first"
#define TGSIM_BLOCKED "Forbidden: bot was blocked by the user"

//  Special "error codes" for tgsim_fail_next.
#define TGSIM_FAIL_DROP      (-1) //  close the connection without an answer
#define TGSIM_FAIL_MALFORMED (-2) //  200 with a truncated JSON body
#define TGSIM_FAIL_GATEWAY   502  //  nginx's bare HTML 502 page

typedef struct tgsim_s tgsim_t;

typedef struct {
    const char *token; //  NULL = TGSIM_DEFAULT_TOKEN; bot id = digits before ':'
    uint16_t port;     //  0 = ephemeral
    uint64_t seed;     //  randomness (ids, faults); 0 = a fixed default
    //  Flood control (0 = the TGSIM_ default of each).
    bool enforce_limits;
    double global_per_s;
    double chat_per_s;
    double chat_burst;
    double group_per_min;
    int retry_after_s; //  0 = computed from the buckets (at least 1); > 0 = always this
    //  Faults on every request (API calls and file downloads).
    int latency_ms;        //  added before handling
    double p_server_error; //  answered 500 (JSON) or 502 (nginx HTML), half each
    double p_drop;         //  connection closed, call not handled
    double p_drop_after;   //  call handled, then connection closed
    //  Windows (0 = the TGSIM_ default).
    int callback_timeout_ms;
    int precheckout_timeout_ms;
    int long_poll_max_s;  //  cap on getUpdates' timeout (default 50)
    int webhook_retry_ms; //  first back-off after a failed webhook POST (default 200)
    //  Media.
    bool discard_uploads; //  keep sizes and names only (load runs); files then can't be downloaded
    bool fetch_urls;      //  download media sent by URL (libcurl) to learn size and bytes
} tgsim_opts_t;

//  One inline keyboard button as the bot sent it.
typedef struct {
    int row, col;
    char *text;
    char *callback_data; //  NULL unless a callback button
    char *url;           //  NULL unless a URL button
    bool pay;
} tgsim_button_t;

//  One recorded API call. Strings are NULL when not applicable.
typedef struct {
    uint64_t seq;       //  1, 2, ... in the order calls finished
    int64_t time_ms;    //  tgsim_clock_ms() when answered
    char *method;       //  canonical spelling ("sendMessage"), or as called when unknown
    int status;         //  HTTP status answered; 0 = connection dropped
    char *error;        //  description when not ok (malformed/502: a note)
    bool dropped_after; //  handled, then the connection was dropped (status is the lost answer)
    int64_t chat_id;    //  0 when none
    int64_t message_id; //  sent message's id, or the target of an edit/delete
    char *text;         //  text / caption / callback answer, as sent (HTML included)
    char *plain;        //  the message's visible text after the call (sends, edits)
    char *parse_mode;
    tgsim_button_t *buttons; //  inline keyboard as sent
    size_t button_count;
    char *media_kind;   //  "photo", "video", "document"
    char *media_source; //  "upload", "url", "file_id"
    char *file_name;    //  upload's filename, or the document's
    char *mime_type;
    int64_t file_size; //  bytes uploaded/fetched/known; -1 unknown
    char *file_id;     //  the file_id sent or assigned
    char *url;         //  media URL when sent by URL
    char *params;      //  every parameter as a JSON object (an upload as
                       //  {"upload":filename,"size":n,"mime_type":..})
} tgsim_call_t;

//  A message of a chat as the user sees it now (a copy; see destroy).
typedef struct {
    int64_t message_id;
    bool from_bot;
    int64_t date; //  Unix seconds
    char *kind;   //  "text", "photo", "video", "document", "sticker", "invoice",
                  //  "successful_payment", "refunded_payment"
    char *text;   //  visible text or caption (HTML stripped); NULL when none
    tgsim_button_t *buttons;
    size_t button_count;
    int edits;
    char *file_id; //  media (largest photo size)
    char *file_name;
    int64_t file_size;
    char *payload;   //  invoice / payment payload
    int64_t amount;  //  invoice / payment total_amount
    char *charge_id; //  telegram_payment_charge_id of a payment / refund
} tgsim_message_t;

typedef struct {
    uint64_t requests;      //  every HTTP request
    uint64_t calls;         //  authenticated /bot calls (recorded)
    uint64_t ok;            //  answered ok:true
    uint64_t bad_request;   //  400
    uint64_t unauthorized;  //  401
    uint64_t forbidden;     //  403
    uint64_t not_found;     //  404
    uint64_t conflicts;     //  409
    uint64_t too_large;     //  413
    uint64_t flood;         //  429
    uint64_t server_errors; //  5xx
    uint64_t dropped;       //  connections closed without an answer
    uint64_t updates_queued;
    uint64_t updates_delivered; //  first delivery of each update
    uint64_t updates_confirmed;
    uint64_t updates_pending; //  queued and not yet confirmed
    uint64_t webhook_posts;   //  webhook deliveries attempted
    uint64_t downloads;       //  files served
} tgsim_stats_t;

//  The sample photo (sample_jpeg.c): a genuine 640x480 baseline JPEG.
extern const unsigned char tgsim_sample_jpeg[];
extern const size_t tgsim_sample_jpeg_size;

//  ---------------------------------------------------------------------------
//  Lifecycle

//  Options with every default (the same as a zeroed struct).
void tgsim_opts_init(tgsim_opts_t *opts);
//  Starts the server (NULL = defaults). NULL when it can't bind.
tgsim_t *tgsim_new(const tgsim_opts_t *opts);
//  Stops the server (waiting polls and waits are ended), frees everything.
//  Nothing else may call into the simulator during or after it.
void tgsim_destroy(tgsim_t **self_p);
//  "http://127.0.0.1:<port>" (no trailing slash), usable as TELEGRAM_API_URL.
const char *tgsim_url(tgsim_t *self);
uint16_t tgsim_port(tgsim_t *self);
const char *tgsim_token(tgsim_t *self);
//  Monotonic milliseconds: the clock of every time the simulator records.
int64_t tgsim_clock_ms(void);

//  ---------------------------------------------------------------------------
//  Fake users. Each action returns the update_id it queued, or -1 (unknown
//  or blocked user, unknown message, bad argument).

//  Adds a user (and its private chat), or renames it. language_code NULL =
//  none sent. A negative id adds a group chat titled first_name instead: a
//  target for the bot only (no fake-user actions), counted per group by
//  the limits. Returns 0, or -1 (id 0).
int tgsim_user_add(tgsim_t *self, int64_t user_id, const char *first_name,
                   const char *language_code);
//  A text message; "/cmd ..." gets a bot_command entity.
int64_t tgsim_send_text(tgsim_t *self, int64_t user_id, const char *text);
//  A photo: jpeg NULL = the sample. Gets sizes like Telegram's (90, 320,
//  800, 1280 px sides below the original, then the original), each with
//  its file_id, all downloadable (the same bytes). caption may be NULL.
int64_t tgsim_send_photo(tgsim_t *self, int64_t user_id, const void *jpeg, size_t size,
                         const char *caption);
//  A file sent as a document (bytes NULL = the sample JPEG).
int64_t tgsim_send_document(tgsim_t *self, int64_t user_id, const void *bytes, size_t size,
                            const char *file_name, const char *mime_type);
//  A sticker (neither text nor photo); emoji NULL = "👍".
int64_t tgsim_send_sticker(tgsim_t *self, int64_t user_id, const char *emoji);
//  A callback_query from a button on message_id (any bot message of that
//  chat) with this data, which need not be on the keyboard (forgeries).
int64_t tgsim_press(tgsim_t *self, int64_t user_id, int64_t message_id, const char *callback_data);
//  Presses the index-th button (rows flattened, 0-based) of the keyboard
//  the message carries now. -1 unless it is a callback button.
int64_t tgsim_press_button(tgsim_t *self, int64_t user_id, int64_t message_id, size_t index);
//  Presses the first callback button whose text contains label, on
//  message_id, or on the newest bot message that has one when 0.
int64_t tgsim_press_label(tgsim_t *self, int64_t user_id, int64_t message_id, const char *label);
//  Blocks (or unblocks) the bot: queues a my_chat_member update (kicked /
//  member). While blocked, sends to the user get 403 and the user can't act.
int64_t tgsim_block(tgsim_t *self, int64_t user_id, bool blocked);
//  A pre_checkout_query (XTR) for this payload and amount. When the bot
//  answers ok in time, a successful_payment message with a fresh
//  telegram_payment_charge_id is queued.
int64_t tgsim_pay(tgsim_t *self, int64_t user_id, const char *invoice_payload, int64_t amount);
//  tgsim_pay with the payload and amount of an invoice the bot sent
//  (message_id 0 = the newest invoice in the chat).
int64_t tgsim_pay_invoice(tgsim_t *self, int64_t user_id, int64_t message_id);
//  Queues any update. A JSON object gets its update_id set (replaced); any
//  other text is delivered verbatim inside the result array (so the whole
//  getUpdates body is then malformed), for parser tests.
int64_t tgsim_send_raw_update(tgsim_t *self, const char *json);
//  When update_id was queued and first delivered (0 = not yet); -1 unknown.
int tgsim_update_times(tgsim_t *self, int64_t update_id, int64_t *queued_ms, int64_t *delivered_ms);

//  ---------------------------------------------------------------------------
//  Control

//  The next count calls of method (NULL = any API method; file downloads
//  only when method is "file") answer error_code with description (NULL =
//  the usual one for the code: 400 "Bad Request", 401 "Unauthorized", 409
//  TGSIM_CONFLICT_POLL, 429 "Too Many Requests: retry after 1" with
//  retry_after, 500 "Internal Server Error"), or do TGSIM_FAIL_DROP /
//  TGSIM_FAIL_MALFORMED / TGSIM_FAIL_GATEWAY. count -1 = until
//  tgsim_fail_clear. Scripts apply in the order added, after the token
//  check and before anything else; a scripted call changes nothing.
//  Returns 0.
int tgsim_fail_next(tgsim_t *self, const char *method, int error_code, const char *description,
                    int count);
void tgsim_fail_clear(tgsim_t *self);
//  Changes the random faults while running.
void tgsim_set_faults(tgsim_t *self, int latency_ms, double p_server_error, double p_drop,
                      double p_drop_after);
void tgsim_set_limits(tgsim_t *self, bool enforce);
//  Declares the size of the file at url (for sends by URL). Returns 0.
int tgsim_set_url_size(tgsim_t *self, const char *url, int64_t size);

//  ---------------------------------------------------------------------------
//  Inspection

//  Calls of method received so far (NULL = all), whatever their answer;
//  _ok counts those answered ok:true.
size_t tgsim_calls_count(tgsim_t *self, const char *method);
size_t tgsim_calls_ok(tgsim_t *self, const char *method);
//  The nth call of method (NULL = any): 0 = oldest, -1 = newest. NULL if none.
const tgsim_call_t *tgsim_call(tgsim_t *self, const char *method, long nth);
//  seq of the newest call (0 = none): a mark for the _after functions.
uint64_t tgsim_seq(tgsim_t *self);
//  Waits for the first call with seq > after_seq concerning chat_id (0 =
//  any); NULL after timeout_ms.
const tgsim_call_t *tgsim_next_call(tgsim_t *self, int64_t chat_id, uint64_t after_seq,
                                    int timeout_ms);
//  fn(call, arg) after each recorded call, on a server thread, lock not
//  held; NULL to stop. It must not call tgsim_destroy.
typedef void(tgsim_call_fn)(const tgsim_call_t *call, void *arg);
void tgsim_on_call(tgsim_t *self, tgsim_call_fn *fn, void *arg);

//  The newest message from the bot to user_id (copy), or NULL.
tgsim_message_t *tgsim_last_message(tgsim_t *self, int64_t user_id);
//  The message (either side) with this id, as it is now (copy), or NULL.
tgsim_message_t *tgsim_message(tgsim_t *self, int64_t user_id, int64_t message_id);
void tgsim_message_destroy(tgsim_message_t **self_p);
//  The chat as the user sees it now (both sides, deleted messages left
//  out): a NULL-terminated array of copies, or NULL for an unknown user.
tgsim_message_t **tgsim_transcript(tgsim_t *self, int64_t user_id);
void tgsim_transcript_destroy(tgsim_message_t ***transcript_p);
//  The transcript as text, one message a line ("bot#12: text [btn|btn]"),
//  for logs and failure messages. Caller frees.
char *tgsim_transcript_text(tgsim_t *self, int64_t user_id);

//  Waits until a bot message in the chat (as it is now, edits included)
//  contains substring; returns its message_id, or -1 after timeout_ms.
int64_t tgsim_wait_message(tgsim_t *self, int64_t user_id, const char *substring, int timeout_ms);
//  The same, counting only sends and edits recorded after after_seq.
int64_t tgsim_wait_message_after(tgsim_t *self, int64_t user_id, const char *substring,
                                 uint64_t after_seq, int timeout_ms);
//  Waits until at least count calls of method (NULL = any) were recorded.
int tgsim_wait_calls(tgsim_t *self, const char *method, size_t count, int timeout_ms);
//  Waits until the callback or pre-checkout query queued as update_id was
//  answered: 0, or -1 after timeout_ms.
int tgsim_wait_answered(tgsim_t *self, int64_t update_id, int timeout_ms);
//  Waits until the bot confirmed update_id (a getUpdates offset above it,
//  or a 2xx from the webhook): 0, or -1 after timeout_ms.
int tgsim_wait_confirmed(tgsim_t *self, int64_t update_id, int timeout_ms);

void tgsim_stats(tgsim_t *self, tgsim_stats_t *stats);

#endif
