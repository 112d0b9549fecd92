/*  fsm_internal.h — what the parts of the conversation core share; private
    to src/fsm*.c (like store_internal.h for the store).

      fsm.c        the step, the transition table, commands, everyone's screens
      fsm_create.c creating videos: the steps, confirm, the order
      fsm_views.c  My generations and Account (screens built from ledger data)
      fsm_jobs.c   job events, status messages, the notifier's results
      fsm_ctx.c    appending actions: answers, messages, screens, requests
      fsm_kb.c     callback_data and keyboards (public: fsm.h)
*/
#ifndef GENBOT_FSM_INTERNAL_H
#define GENBOT_FSM_INTERNAL_H

#include "fsm.h"

#define FSM_MB      (1024 * 1024)
#define FSM_NO_TEXT I18N_COUNT_ //  "no text" for answers and hints

//  One event being handled.
typedef struct {
    session_t *s;
    const fsm_config_t *config;
    fsm_actions_t *out;
    int64_t now;
    size_t first;          //  index of this step's first action
    const fsm_update_t *u; //  the update, or NULL
    fsm_callback_t cb;     //  the parsed button, when u is a callback
    const msg_t *reply;    //  the ledger reply, or NULL
    int64_t edit_id;       //  the message the next screen replaces, 0 = send
    bool answered;
    bool no_save; //  the step's changes travel inside an order_place
    bool changed; //  the step did something worth saving
} fsm_ctx_t;

typedef void(fsm_handler_fn)(fsm_ctx_t *ctx);

//  What a status message shows (session_job_t.shown).
typedef enum {
    FSM_ST_NONE = 0,
    FSM_ST_QUEUED,
    FSM_ST_RETRY_BUSY,
    FSM_ST_RETRY_TEMP,
    FSM_ST_RUNNING,
    FSM_ST_DONE,
    FSM_ST_FAILED,
    FSM_ST_CANCELLED
} fsm_status_t;

//  --- fsm_ctx.c: actions --------------------------------------------------------
bool fsm_is_callback(const fsm_ctx_t *ctx);
//  The text of id in the user's language (a new string).
char *fsm_fmt(fsm_ctx_t *ctx, i18n_id_t id, const i18n_arg_t *args, size_t n);
//  first + "\n\n" + second, both freed; a NULL side is skipped.
char *fsm_join(char *first, char *second);
//  The one answer of a callback (FSM_NO_TEXT: none), first among the step's
//  actions; a second call does nothing.
void fsm_answer(fsm_ctx_t *ctx, i18n_id_t text);
//  text is taken; kb is copied (NULL or empty = none).
void fsm_send(fsm_ctx_t *ctx, char *text, const i18n_keyboard_t *kb, fsm_priority_t priority,
              fsm_tag_t tag);
void fsm_edit(fsm_ctx_t *ctx, int64_t message_id, char *text, const i18n_keyboard_t *kb,
              fsm_priority_t priority);
//  A screen: replaces ctx->edit_id's message, or is sent (with tag).
void fsm_show(fsm_ctx_t *ctx, char *text, const i18n_keyboard_t *kb, fsm_tag_t tag);
//  The seq of a new screen (never 0): every older screen's buttons go stale.
uint32_t fsm_next_screen(fsm_ctx_t *ctx);
//  A message that is not a screen, with 🏠 Меню.
void fsm_notice(fsm_ctx_t *ctx, char *text);
void fsm_error(fsm_ctx_t *ctx, i18n_id_t id);
//  The video of a finished job with 🔄 Ещё раз · 🏠 Меню (tag kind for job).
void fsm_send_video(fsm_ctx_t *ctx, int64_t job_id, const char *url, fsm_tag_kind_t tag);
//  A request whose reply the session waits for (purpose, arg), or not.
void fsm_ledger(fsm_ctx_t *ctx, msg_t *req, fsm_pending_t purpose, int64_t arg);
void fsm_ledger_oneway(fsm_ctx_t *ctx, msg_t *req);
//  User text to echo: cut to FSM_ECHO_CHARS (a new string, not escaped).
char *fsm_echo(const char *text);
//  "\n\nN кредитов вернули на баланс ✅", or NULL for 0.
char *fsm_refund_line(fsm_ctx_t *ctx, int64_t credits);
char *fsm_date(fsm_ctx_t *ctx, int64_t ms);
//  The template's name from job parameters ("—" when unreadable).
const char *fsm_template_text(fsm_ctx_t *ctx, const char *params);

//  --- fsm.c: everyone -------------------------------------------------------------
//  /start: user_touch (the account and its free credits, once), then the menu.
void fsm_start(fsm_ctx_t *ctx);
//  Back to the menu state; the draft and its token are dropped.
void fsm_leave_flow(fsm_ctx_t *ctx);

//  --- fsm_create.c: creating videos ------------------------------------------------
//  The current step's screen after hint (taken; NULL = none); fsm_hint: a
//  hint by id.
void fsm_ask(fsm_ctx_t *ctx, char *hint);
void fsm_hint(fsm_ctx_t *ctx, i18n_id_t id);
bool fsm_inputs_ready(const session_inputs_t *inputs);
//  Step 6 → 7 for the draft: a balance_get, then confirm or top-up.
void fsm_check_balance(fsm_ctx_t *ctx);
void fsm_create(fsm_ctx_t *ctx);
void fsm_use_buttons(fsm_ctx_t *ctx);
void fsm_need_text(fsm_ctx_t *ctx);
void fsm_photo_hint(fsm_ctx_t *ctx);
void fsm_take_model(fsm_ctx_t *ctx);
void fsm_take_photo(fsm_ctx_t *ctx);
void fsm_take_document(fsm_ctx_t *ctx);
void fsm_take_product(fsm_ctx_t *ctx);
void fsm_take_template(fsm_ctx_t *ctx);
void fsm_take_wishes(fsm_ctx_t *ctx);
void fsm_take_prompt(fsm_ctx_t *ctx);
void fsm_take_count(fsm_ctx_t *ctx);
void fsm_order_button(fsm_ctx_t *ctx);
void fsm_on_balance(fsm_ctx_t *ctx);
void fsm_on_order(fsm_ctx_t *ctx);

//  --- fsm_views.c: My generations, Account --------------------------------------
void fsm_buy(fsm_ctx_t *ctx);
void fsm_history(fsm_ctx_t *ctx);
void fsm_on_history(fsm_ctx_t *ctx);
void fsm_job_open(fsm_ctx_t *ctx);
void fsm_on_job(fsm_ctx_t *ctx);
void fsm_repeat(fsm_ctx_t *ctx);
void fsm_on_repeat(fsm_ctx_t *ctx);
void fsm_job_cancel(fsm_ctx_t *ctx);
void fsm_on_cancelled(fsm_ctx_t *ctx);
void fsm_account(fsm_ctx_t *ctx);
void fsm_on_account(fsm_ctx_t *ctx);
void fsm_entries(fsm_ctx_t *ctx);
void fsm_on_entries(fsm_ctx_t *ctx);

//  --- fsm_jobs.c: job events and the notifier's results --------------------------
void fsm_on_job_event(fsm_ctx_t *ctx, const fsm_job_event_t *ev);
void fsm_on_sent(fsm_ctx_t *ctx, const fsm_sent_t *ev);
//  Shows code on job's status message (see fsm_jobs.c).
void fsm_status(fsm_ctx_t *ctx, session_job_t *job, fsm_status_t code, int progress, int attempt,
                int max, bool may_send);
//  "🎬 Видео #id: state", or the state alone when job_id is 0.
char *fsm_status_text(fsm_ctx_t *ctx, int64_t job_id, fsm_status_t code, int progress, int attempt,
                      int max);

#endif
