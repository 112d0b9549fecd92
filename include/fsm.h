/*  fsm.h — the conversation core: one user's session, one event, a list of
    actions. Pure: no I/O, no clock (now_ms is a parameter), no globals but
    const tables. The session shard feeds it four kinds of events and
    carries out the actions it returns, in order:

      update   a Telegram update, normalized by the shard (fsm_update_t)
      ledger   the ledger's reply to a request the FSM asked for, with the
               ticket of that request (fsm_ledger_reply_t). When a request
               times out the shard feeds an MSG_K_ERROR {code: internal}.
      job      a job moved (queued / running / submitted / succeeded / failed
               / cancelled / delivered), from the key workers (fsm_job_event_t)
      sent     the notifier's result for a send the FSM tagged (fsm_sent_t)

    Actions (fsm_action_t): send a message, edit one, answer a callback
    query, send a video, send a ledger request, save the session. Every
    callback update yields exactly one answer action, first in the list,
    whatever happens (stale, forged, flood, duplicate).

    Behaviour: PRODUCT.md "Everyone", "Commands", "Main menu", "Creating
    videos", "My generations", "Account". The transitions are one table in
    fsm.c (state × event → handler).

    callback_data grammar (always <= 64 bytes, Telegram's limit):

      data   = "1" ":" seq ":" action [ ":" arg ]
      seq    = "0" / %x31-39 *9DIGIT        uint32 screen sequence number
      action = "menu" / "new" / "hist" / "acct" / "ents" / "buy" / "help"
             / "lang" / "job" / "rep" / "cxl" / "mdl" / "tpl" / "cnt" / "ok" / "x"
      arg    = job id (1..19 digits, > 0)   for job, rep, cxl
             / "ru" / "en"                 for lang
             / "ugc" / "ad" / "own"        for tpl
             / 1*2DIGIT                    for mdl (model index), cnt (count)
             / 1*24(%x30-39 / %x61-7a / "-")  for ok (the order token)

    "1" is the grammar version. seq is the session's screen_seq when the
    button was drawn; a screen is a message whose buttons belong to the
    current step, and showing a new one makes every older screen stale.
    seq 0 marks buttons on messages that are not screens (results, status,
    errors), which stay valid. Scopes:
      navigation  menu new hist acct ents buy help lang job rep cxl:
                  seq 0 (answered with a new message) or the current seq
                  (the screen is edited in place); any other seq is stale
      step        mdl tpl cnt x: the current seq, in the step's state
      order       ok: first, a token of an order already placed is answered
                  "already running"; else it is a step button of CONFIRM
                  whose token must be the screen's
    Anything else — empty, another version, junk, an unknown action, a bad
    or missing arg, a stale seq — is answered "this button is out of date"
    and changes nothing.
*/
#ifndef GENBOT_FSM_H
#define GENBOT_FSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "i18n.h"
#include "job.h"
#include "msg.h"
#include "session.h"

//  --- configuration ---------------------------------------------------------

typedef struct {
    const char *id; //  the model id the ledger and the workers know
    const char *title_ru;
    const char *title_en;
    int64_t price; //  credits per video
    bool enabled;
} fsm_model_t;

typedef struct {
    int64_t credits;
    int64_t stars;
} fsm_pack_t;

#define FSM_MODELS_MAX      16 //  model indexes are 1..2 digits
#define FSM_COUNTS_MAX      5
#define FSM_FLOOD_WINDOW_MS 10000
#define FSM_ECHO_CHARS      300 //  user text echoed in confirm/detail screens
#define FSM_HISTORY_LIMIT   10
#define FSM_ENTRIES_LIMIT   10
#define FSM_DEFAULT_MODEL   "sora-2-image-to-video"

typedef struct {
    const fsm_model_t *models; //  the catalog (enabled ones are offered)
    size_t model_count;
    const int64_t *counts; //  videos per order offered: {1, 3, 5}
    size_t count_count;
    const fsm_pack_t *packs; //  /buy: credit packs for Stars (shown only)
    size_t pack_count;
    int64_t flood_per_10s;       //  GENBOT_FLOOD_PER_10S: updates per 10 s (30)
    int64_t flood_mute_ms;       //  how long a flooding user is ignored (30 s)
    int64_t max_photo_bytes;     //  photo / image file limit (10 MB)
    int64_t progress_edit_ms;    //  at most one progress edit per job per this (10 s)
    int64_t max_attempts;        //  "attempt k of N" when the event has no N (3)
    int64_t limit_active;        //  generations running per user (5), for its text
    const char *support_contact; //  "@handle" (a t.me button) or NULL
} fsm_config_t;

//  The defaults of PRODUCT.md: one model (sora-2-image-to-video, 1 credit),
//  counts 1/3/5, packs 5/10/30/100, flood 30 per 10 s muted 30 s, 10 MB,
//  10 s, 3 attempts, 5 active, no support contact. Points at const tables.
void fsm_config_defaults(fsm_config_t *config);
//  The enabled model with that id, or NULL.
const fsm_model_t *fsm_model_find(const fsm_config_t *config, const char *id);
const char *fsm_model_title(const fsm_model_t *model, i18n_lang_t lang);

//  --- events ----------------------------------------------------------------

typedef enum {
    FSM_U_TEXT,     //  a text message
    FSM_U_COMMAND,  //  a message starting with '/'
    FSM_U_PHOTO,    //  a photo (the shard passes its largest size)
    FSM_U_DOCUMENT, //  a file
    FSM_U_CALLBACK, //  an inline button press
    FSM_U_OTHER     //  a sticker, voice, video, location, ...
} fsm_update_kind_t;

typedef struct {
    fsm_update_kind_t kind;
    int64_t update_id; //  Telegram's; <= the session's last one = a redelivery
    int64_t user_id;
    int64_t chat_id;
    const char *language_code; //  may be NULL
    const char *first_name;
    const char *username;
    const char *text;    //  TEXT: the message text (NUL-terminated)
    const char *command; //  COMMAND: "start" (a leading '/' and "@bot" are stripped too)
    const char *args;    //  COMMAND: what follows the command, or NULL
    const char *file_id; //  PHOTO, DOCUMENT
    const char *file_unique_id;
    int64_t file_size;         //  0 = unknown
    const char *mime_type;     //  DOCUMENT
    const char *file_name;     //  DOCUMENT
    const char *callback_id;   //  CALLBACK
    const char *callback_data; //  CALLBACK (may be NULL: games have none)
    int64_t message_id;        //  CALLBACK: the message the button is on
} fsm_update_t;

typedef struct {
    uint32_t ticket;    //  from the FSM_A_LEDGER action this answers
    const msg_t *reply; //  not taken: the caller destroys it
} fsm_ledger_reply_t;

typedef struct {
    int64_t job_id;
    const char *order_token; //  may be NULL
    int64_t idx;
    job_state_t state;
    int progress;              //  0..100, -1 = not reported
    const char *err_class;     //  set on failed, and on queued when it is a retry
    int attempt;               //  on a retry: the attempts made so far (the next is attempt + 1)
                               //  a retry reads "attempt <attempt+1> of <max>"
    int max_attempts;          //  0 = config's
    int64_t credits_refunded;  //  on failed / cancelled
    const char *result_url;    //  on succeeded
    int64_t status_message_id; //  0 = not known
    bool retell;               //  a failure not yet told before a restart: tell it again
} fsm_job_event_t;

//  Tags route the notifier's result of a send back to the FSM.
typedef enum {
    FSM_TAG_NONE = 0,
    FSM_TAG_CONFIRM, //  the confirm screen: the session remembers its message id
    FSM_TAG_STATUS,  //  job's status message: its id is what later edits target
                     //  (kept in the session and recorded by job_status_msg)
    FSM_TAG_DELIVER, //  job's result: on success the job is marked delivered
    FSM_TAG_RESEND,  //  a result sent again from history
    FSM_TAG_TOLD     //  job's failure notice: on success the job is marked told
} fsm_tag_kind_t;

typedef struct {
    fsm_tag_kind_t kind;
    int64_t job_id; //  STATUS, DELIVER, RESEND
} fsm_tag_t;

typedef struct {
    fsm_tag_t tag;
    bool ok;
    int64_t message_id; //  when ok
} fsm_sent_t;

typedef enum { FSM_EV_UPDATE, FSM_EV_LEDGER, FSM_EV_JOB, FSM_EV_SENT } fsm_event_kind_t;

typedef struct {
    fsm_event_kind_t kind;
    union {
        fsm_update_t update;
        fsm_ledger_reply_t ledger;
        fsm_job_event_t job;
        fsm_sent_t sent;
    };
} fsm_event_t;

//  --- actions ---------------------------------------------------------------

typedef enum {
    FSM_A_SEND,       //  chat_id, text, keyboard, priority, tag
    FSM_A_EDIT,       //  chat_id, message_id, text, keyboard (NULL = remove), tag
    FSM_A_ANSWER,     //  callback_id, text (plain, may be NULL), alert
    FSM_A_SEND_VIDEO, //  chat_id, url, text = caption, keyboard, fallback, tag
    FSM_A_LEDGER,     //  request, ticket, wants_reply
    FSM_A_SAVE        //  update_id: persist the session (session_save_request)
} fsm_action_kind_t;

typedef enum {
    FSM_PRIO_INTERACTIVE, //  answers to what the user just did
    FSM_PRIO_PROGRESS,    //  status messages and their edits
    FSM_PRIO_BROADCAST
} fsm_priority_t;

typedef struct {
    fsm_action_kind_t kind;
    int64_t chat_id;
    int64_t message_id;
    char *text;                //  HTML (SEND, EDIT, caption); plain (ANSWER)
    char *url;                 //  SEND_VIDEO
    char *fallback;            //  SEND_VIDEO: HTML text with a link, if the upload fails
    i18n_keyboard_t *keyboard; //  NULL = none
    fsm_priority_t priority;
    fsm_tag_t tag;
    char *callback_id; //  ANSWER
    bool alert;        //  ANSWER
    msg_t *request;    //  LEDGER: owned by the action until taken (set to NULL)
    uint32_t ticket;   //  LEDGER: feed the reply back with it
    bool wants_reply;  //  LEDGER: false = fire and forget (ticket 0)
    int64_t update_id; //  SAVE
} fsm_action_t;

typedef struct fsm_actions_s fsm_actions_t;

fsm_actions_t *fsm_actions_new(void);
void fsm_actions_destroy(fsm_actions_t **self_p);
size_t fsm_actions_size(const fsm_actions_t *self);
//  The action at index (NULL past the end); the caller may take ->request.
fsm_action_t *fsm_actions_at(fsm_actions_t *self, size_t index);
//  Frees every action (and requests not taken); the list is empty after.
void fsm_actions_clear(fsm_actions_t *self);
//  Appends a zeroed action of kind and returns it; whatever the caller hangs
//  on it (strings, keyboard, request: heap, one owner) is the list's from
//  then on. Used by fsm.c.
fsm_action_t *fsm_actions_push(fsm_actions_t *self, fsm_action_kind_t kind);
//  Moves the action at index from to index to (shifting the ones between).
void fsm_actions_move(fsm_actions_t *self, size_t from, size_t to);

//  --- the step ----------------------------------------------------------------

//  Handles one event: changes session, appends actions. Never fails on bad
//  input: every malformed update is answered and changes nothing it should
//  not. Returns the number of actions appended.
size_t fsm_step(session_t *session, const fsm_event_t *event, int64_t now_ms,
                const fsm_config_t *config, fsm_actions_t *actions);

//  The pending purposes (what a ledger reply is for), for logs and tests.
#define FSM_PENDING(P)                                                                             \
    P(NONE, "none")                                                                                \
    P(START, "start")     /* user_touch → welcome + menu */                                      \
    P(BALANCE, "balance") /* balance_get → insufficient or confirm */                            \
    P(ORDER, "order")     /* order_place → accepted + status messages */                         \
    P(ACCOUNT, "account") /* balance_get → account screen */                                     \
    P(ENTRIES, "entries") /* entries_list → balance changes */                                   \
    P(HISTORY, "history") /* jobs_list → my generations */                                       \
    P(JOB, "job")         /* job_get → job detail */                                             \
    P(REPEAT, "repeat")   /* job_get → its inputs → balance → confirm */                     \
    P(CANCEL, "cancel")   /* job_cancel → credits back */

typedef enum {
#define FSM_P_ENUM(id, name) FSM_PENDING_##id,
    FSM_PENDING(FSM_P_ENUM)
#undef FSM_P_ENUM
        FSM_PENDING_COUNT_
} fsm_pending_t;

const char *fsm_pending_name(int pending);

//  --- callback data -----------------------------------------------------------

#define FSM_CB_ACTIONS(A)                                                                          \
    A(MENU, "menu", NONE, NAV)                                                                     \
    A(NEW, "new", NONE, NAV)                                                                       \
    A(HIST, "hist", NONE, NAV)                                                                     \
    A(ACCT, "acct", NONE, NAV)                                                                     \
    A(ENTS, "ents", NONE, NAV)                                                                     \
    A(BUY, "buy", NONE, NAV)                                                                       \
    A(HELP, "help", NONE, NAV)                                                                     \
    A(LANG, "lang", LANG, NAV)                                                                     \
    A(JOB, "job", ID, NAV)                                                                         \
    A(REP, "rep", ID, NAV)                                                                         \
    A(CXL, "cxl", ID, NAV)                                                                         \
    A(MDL, "mdl", SMALL, STEP)                                                                     \
    A(TPL, "tpl", TPL, STEP)                                                                       \
    A(CNT, "cnt", SMALL, STEP)                                                                     \
    A(OK, "ok", TOKEN, ORDER)                                                                      \
    A(X, "x", NONE, STEP)

typedef enum {
#define FSM_CB_ENUM(id, name, arg, scope) FSM_CB_##id,
    FSM_CB_ACTIONS(FSM_CB_ENUM)
#undef FSM_CB_ENUM
        FSM_CB_COUNT_
} fsm_cb_action_t;

typedef enum { FSM_CB_NAV, FSM_CB_STEP, FSM_CB_ORDER } fsm_cb_scope_t;

typedef struct {
    uint32_t seq;
    fsm_cb_action_t action;
    int64_t num;                     //  ID, SMALL
    char arg[SESSION_TOKEN_MAX + 1]; //  LANG, TPL, TOKEN
} fsm_callback_t;

//  Writes the callback_data of cb into out (size >= I18N_CALLBACK_MAX + 1).
//  Returns its length, or -1 when cb's arg is invalid for its action.
int fsm_cb_encode(const fsm_callback_t *cb, char *out, size_t size);
//  Parses data strictly by the grammar above. 0, or -1 (cb undefined).
int fsm_cb_parse(const char *data, fsm_callback_t *cb);
const char *fsm_cb_name(fsm_cb_action_t action);
fsm_cb_scope_t fsm_cb_scope(fsm_cb_action_t action);

//  --- keyboards (src/fsm_kb.c) -------------------------------------------------
//  Each builds one screen's buttons for seq (0 for messages that are not
//  screens) and returns 0, or -1 when a button could not be added (a label
//  or callback_data over Telegram's limits: a bug, tests look for it).

int fsm_kb_menu(i18n_keyboard_t *kb, i18n_lang_t lang, uint32_t seq);
int fsm_kb_to_menu(i18n_keyboard_t *kb, i18n_lang_t lang, uint32_t seq);
int fsm_kb_step_cancel(i18n_keyboard_t *kb, i18n_lang_t lang, uint32_t seq);
int fsm_kb_models(i18n_keyboard_t *kb, i18n_lang_t lang, uint32_t seq, const fsm_config_t *config);
int fsm_kb_templates(i18n_keyboard_t *kb, i18n_lang_t lang, uint32_t seq);
int fsm_kb_counts(i18n_keyboard_t *kb, i18n_lang_t lang, uint32_t seq, const fsm_config_t *config,
                  int64_t price, bool topup);
int fsm_kb_confirm(i18n_keyboard_t *kb, i18n_lang_t lang, uint32_t seq, const char *token);
int fsm_kb_order_retry(i18n_keyboard_t *kb, i18n_lang_t lang, uint32_t seq, const char *token);
int fsm_kb_accepted(i18n_keyboard_t *kb, i18n_lang_t lang);
int fsm_kb_result(i18n_keyboard_t *kb, i18n_lang_t lang, int64_t job_id);
int fsm_kb_failure(i18n_keyboard_t *kb, i18n_lang_t lang, int64_t job_id, bool repeat);
//  job_ids[i] with marks[i] (a state emoji), n <= FSM_HISTORY_LIMIT.
int fsm_kb_history(i18n_keyboard_t *kb, i18n_lang_t lang, uint32_t seq, const int64_t *job_ids,
                   const char *const *marks, size_t n);
int fsm_kb_job(i18n_keyboard_t *kb, i18n_lang_t lang, uint32_t seq, int64_t job_id,
               bool can_cancel);
int fsm_kb_account(i18n_keyboard_t *kb, i18n_lang_t lang, uint32_t seq);
int fsm_kb_entries(i18n_keyboard_t *kb, i18n_lang_t lang, uint32_t seq);
int fsm_kb_support(i18n_keyboard_t *kb, i18n_lang_t lang, uint32_t seq, const char *contact);
int fsm_kb_lang(i18n_keyboard_t *kb, uint32_t seq);

//  The history mark of a job state: ⏳ queued, 🔄 running/submitted, ✅
//  succeeded/delivered, ❌ failed, 🚫 cancelled, "•" otherwise.
const char *fsm_job_mark(job_state_t state);

#endif
