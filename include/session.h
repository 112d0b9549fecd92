/*  session.h — one user's conversation state, and its encoding for the DB.

    A session is a record the conversation FSM (fsm.h) reads and changes;
    the session shard owns it, loads it with session_decode and stores it
    with session_save_request. It holds where the user is (state), what they
    have entered so far (the draft inputs), the confirm screen's order token,
    the screen sequence number that makes old buttons stale, the highest
    update_id handled, flood-control counters, the last order (for 🔄 Ещё раз)
    and the status messages of the user's running jobs.

    Encoding: a versioned binary layout (magic "GBS", version, fields in a
    fixed order, little-endian integers, length-prefixed strings, FNV-1a
    checksum). session_decode refuses anything else — garbage, a truncated or
    padded buffer, another version, a bad checksum, an out-of-range value, a
    string over its bound or not UTF-8 — with an error string and never
    crashes; the shard then starts the user fresh (session_new).
    A ledger request in flight (pending_*) is not encoded: after a restart no
    reply will come for it.
*/
#ifndef GENBOT_SESSION_H
#define GENBOT_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "i18n.h"
#include "msg.h"

#define SESSION_VERSION 1

//  S(ID, "name") — the conversation states (PRODUCT.md "Creating videos").
//  The name is what the ledger stores in sessions.state.
#define SESSION_STATES(S)                                                                          \
    S(NEW, "new")           /* no account touched yet: any update creates it */                    \
    S(MENU, "menu")         /* no step in progress: menus, history, account */                     \
    S(MODEL, "model")       /* 1. choosing a model (more than one enabled) */                      \
    S(PHOTO, "photo")       /* 2. waiting for the product photo */                                 \
    S(PRODUCT, "product")   /* 3. waiting for the product text */                                  \
    S(TEMPLATE, "template") /* 4. choosing UGC / ad / own prompt */                                \
    S(WISHES, "wishes")     /* 5. waiting for extra wishes ("-" = none) */                         \
    S(PROMPT, "prompt")     /* 5'. waiting for the user's own prompt */                            \
    S(COUNT, "count")       /* 6. choosing 1 / 3 / 5 videos */                                     \
    S(CONFIRM, "confirm")   /* 7. the confirm screen with its order token */

typedef enum {
#define SESSION_S_ENUM(id, name) SESSION_##id,
    SESSION_STATES(SESSION_S_ENUM)
#undef SESSION_S_ENUM
        SESSION_STATE_COUNT_
} session_state_t;

typedef enum {
    SESSION_TPL_NONE = 0,
    SESSION_TPL_UGC, //  🎥 UGC блогер
    SESSION_TPL_AD,  //  📢 Реклама
    SESSION_TPL_OWN, //  🧑‍💻 Свой промпт
    SESSION_TPL_COUNT_
} session_template_t;

//  Bounds. Texts are counted in characters (code points) for the user and
//  in bytes for storage.
#define SESSION_PRODUCT_MAX    1000 //  characters
#define SESSION_WISHES_MAX     1000 //  characters
#define SESSION_PROMPT_MAX     5000 //  characters
#define SESSION_TEXT_BYTES_MAX MSG_MAX_TEXT
#define SESSION_FILE_ID_MAX    256
#define SESSION_MODEL_MAX      MSG_MAX_TOKEN
#define SESSION_TOKEN_MAX      24
#define SESSION_PLACED_MAX     8  //  order tokens remembered as "already running"
#define SESSION_LAST_JOBS_MAX  10 //  job ids of the last order
#define SESSION_TRACK_MAX      16 //  jobs whose status message is followed
#define SESSION_COUNT_MAX      10 //  videos in one order (the ledger's bound)
#define SESSION_NAME_MAX       64 //  bytes of the first name kept for greetings

//  What one order is made of. Strings are owned; NULL = not entered.
typedef struct {
    char model[SESSION_MODEL_MAX + 1];
    char photo_id[SESSION_FILE_ID_MAX + 1];  //  Telegram file_id
    char photo_uid[SESSION_FILE_ID_MAX + 1]; //  Telegram file_unique_id
    char *product;                           //  step 3
    session_template_t tpl;                  //  step 4
    char *wishes;                            //  step 5 (UGC/ad); NULL = none
    char *prompt;                            //  step 5' (own prompt)
    int32_t count;                           //  step 6; 0 = not chosen
} session_inputs_t;

//  A job whose status message the session follows.
#define SESSION_JOB_SENDING   0x01 //  its status message is being sent
#define SESSION_JOB_FINAL     0x02 //  reached a terminal state: evict first
#define SESSION_JOB_CANCELLED 0x04 //  the user cancelled it (already told)
typedef struct {
    int64_t job_id;
    int64_t message_id;   //  0 = not known (yet)
    int64_t last_edit_ms; //  when the status message last changed
    uint8_t shown;        //  what it shows (fsm's status code), 0 = nothing
    int8_t progress;      //  the percentage shown, -1 = none
    uint8_t flags;
} session_job_t;

typedef struct {
    int64_t user_id;
    int64_t chat_id;
    char first_name[SESSION_NAME_MAX + 1];
    i18n_lang_t lang;
    bool lang_chosen; //  set by /lang: language_code no longer decides
    session_state_t state;
    uint32_t screen_seq;    //  of the newest screen with step buttons
    int64_t last_update_id; //  highest update_id handled

    //  flood control: updates counted in a window, then ignored until
    //  muted_until_ms; told once per mute
    int64_t flood_window_ms;
    uint32_t flood_count;
    int64_t muted_until_ms;
    bool flood_warned;

    //  the confirm screen
    char order_token[SESSION_TOKEN_MAX + 1];
    int64_t confirm_message_id;
    uint32_t token_counter;

    //  orders placed, newest first
    char placed[SESSION_PLACED_MAX][SESSION_TOKEN_MAX + 1];
    size_t placed_count;

    session_inputs_t draft; //  the order being put together
    session_inputs_t last;  //  the last order placed (🔄 Ещё раз)
    int64_t last_job_ids[SESSION_LAST_JOBS_MAX];
    size_t last_job_count;

    session_job_t jobs[SESSION_TRACK_MAX];
    size_t job_count;

    int64_t viewed_job_id; //  the job detail shown last, and its price
    int64_t viewed_job_price;

    //  the ledger request in flight (not encoded)
    int pending;                //  fsm's purpose; 0 = none
    uint32_t pending_ticket;    //  the reply must carry it
    int64_t pending_arg;        //  e.g. the job id being cancelled
    int64_t pending_message_id; //  the message to edit with the answer, 0 = send
    uint32_t ticket_counter;
} session_t;

//  A fresh session: state NEW, language from language_code (may be NULL).
session_t *session_new(int64_t user_id, int64_t chat_id, const char *language_code);
void session_destroy(session_t **self_p);
//  A deep copy.
session_t *session_dup(const session_t *self);

const char *session_state_name(session_state_t state); //  "?" when out of range
//  SESSION_STATE_COUNT_ when name is not a state.
session_state_t session_state_parse(const char *name);
const char *session_template_name(session_template_t tpl);   //  "ugc" / "ad" / "own" / ""
session_template_t session_template_parse(const char *name); //  NONE when unknown

//  Encode into a new buffer (caller frees). Returns 0, or -1 when the
//  encoding would exceed MSG_MAX_SESSION (it cannot within the bounds).
int session_encode(const session_t *self, uint8_t **data_p, size_t *size_p);
//  NULL (and *err, when err is not NULL, a static string) on any bad input.
session_t *session_decode(const uint8_t *data, size_t size, const char **err);
//  A session_save request for the ledger ({user_id, state, session,
//  update_id}); NULL when encoding fails.
msg_t *session_save_request(const session_t *self, int64_t update_id);

//  Keeps at most SESSION_NAME_MAX bytes of whole characters of a valid
//  UTF-8 name (an invalid one is ignored).
void session_set_name(session_t *self, const char *name);

//  Inputs.
void session_inputs_clear(session_inputs_t *inputs);
void session_inputs_copy(session_inputs_t *dst, const session_inputs_t *src);
//  Replaces *field with a copy of text[0..len) (NULL text = clear).
void session_set_text(char **field, const char *text, size_t len);
//  The job parameters stored with an order (F_PARAMS), as JSON:
//    {"v":1,"lang":"ru","template":"ugc|ad|own","product":"...",
//     "wishes":"..." (absent = none),"prompt":"..." (own prompt only),
//     "photo_file_id":"...","photo_unique_id":"...","count":3}
//  The model travels in F_MODEL. Returns a new string (caller frees).
char *session_params_json(const session_inputs_t *inputs, i18n_lang_t lang);
//  Parses params back into inputs (model and count left as they are when
//  absent). Returns 0, or -1 on anything malformed (inputs then cleared).
int session_params_parse(const char *json, session_inputs_t *inputs);

//  A new order token into self->order_token: unique per order attempt of a
//  user ("<now base36>-<counter base36>", [0-9a-z-], <= SESSION_TOKEN_MAX).
const char *session_new_token(session_t *self, int64_t now_ms);
bool session_token_placed(const session_t *self, const char *token);
void session_token_remember(session_t *self, const char *token);

//  The followed job with that id, or NULL. session_job_track returns the
//  existing slot or a new one (evicting the oldest final job, else the
//  oldest) initialised to {job_id, shown 0, progress -1}.
session_job_t *session_job_find(session_t *self, int64_t job_id);
session_job_t *session_job_track(session_t *self, int64_t job_id);
void session_job_forget(session_t *self, int64_t job_id);

#endif
