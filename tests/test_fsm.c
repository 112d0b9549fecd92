/*  test_fsm.c — the conversation core, driven like the shard drives it,
    against a fake ledger in this file (the FSM is pure; the real ledger is
    tested in test_ledger.c).

    After every action the harness checks the invariants that hold for any
    input: HTML well formed with every user value escaped (user input here
    always carries "<x>"), texts within Telegram's limits, keyboards whose
    callback_data parses and fits 64 bytes, ledger requests that encode,
    and exactly one answer — the first action — for every callback.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsm.h"
#include "ledger.h"

#define USER     42
#define OTHER    77
#define MARK     "<x>" //  in every user value; must never reach HTML raw
#define T0       1700000000000LL
#define MAX_JOBS 64
#define MAX_HELD 8
#define PRODUCT  "Крем для рук " MARK " & «нежность»"

typedef struct {
    int64_t id, user_id, price, idx, created_ms;
    char state[16];
    char token[32];
    char model[64];
    char *params;
    char url[128];
    int progress;
} f_job_t;

typedef struct {
    msg_t *req;
    uint32_t ticket;
} f_held_t;

typedef struct {
    fsm_config_t config;
    fsm_model_t models[2];
    session_t *s;
    fsm_actions_t *acts;
    size_t pumped; //  actions of acts already looked at
    int64_t now;
    int64_t update_id;
    int64_t next_msg;
    const char *lang_code;
    i18n_keyboard_t last_kb; //  the newest keyboard shown
    //  the fake ledger
    bool exists;
    int64_t balance, held;
    f_job_t jobs[MAX_JOBS];
    size_t njobs;
    int force_code;
    int64_t force_shortfall;
    int force_kind; //  reply with this kind instead (a wrong kind)
    bool hold;
    f_held_t held_reqs[MAX_HELD];
    size_t nheld;
    int orders_created;
    int requests; //  wants_reply requests answered
    int oneway[MSG_K_COUNT_];
} fx_t;

//  --- the fake ledger ---------------------------------------------------------

static msg_t *s_err(int code, int64_t shortfall) {
    msg_t *reply = msg_new(MSG_K_ERROR, 0);
    msg_set_int(reply, F_CODE, code);
    msg_set_str(reply, F_DETAIL, ledger_err_name(code));
    if (shortfall) msg_set_int(reply, F_SHORTFALL, shortfall);
    return reply;
}

static msg_t *s_user_reply(fx_t *f, bool created) {
    msg_t *reply = msg_new(MSG_K_USER, 0);
    msg_set_int(reply, F_USER_ID, USER);
    msg_set_int(reply, F_BALANCE, f->balance);
    msg_set_int(reply, F_HELD, f->held);
    msg_set_bool(reply, F_CREATED, created);
    return reply;
}

static bool s_holds(const f_job_t *job) {
    return strcmp(job->state, "queued") == 0 || strcmp(job->state, "running") == 0 ||
           strcmp(job->state, "submitted") == 0;
}

static void s_row(msg_t *reply, const f_job_t *job) {
    msg_t *row = msg_add_row(reply, F_JOBS);
    assert_non_null(row);
    msg_set_int(row, F_JOB_ID, job->id);
    msg_set_int(row, F_USER_ID, job->user_id);
    msg_set_int(row, F_CHAT_ID, job->user_id);
    msg_set_str(row, F_ORDER_TOKEN, job->token);
    msg_set_int(row, F_IDX, job->idx);
    msg_set_str(row, F_MODEL, job->model);
    msg_set_int(row, F_PRICE, job->price);
    msg_set_str(row, F_STATE, job->state);
    msg_set_int(row, F_ATTEMPTS, 0);
    msg_set_int(row, F_CREATED_MS, job->created_ms);
    if (job->params) msg_set_str(row, F_PARAMS, job->params);
    if (*job->url) msg_set_str(row, F_RESULT_URL, job->url);
    if (job->progress >= 0) msg_set_int(row, F_PROGRESS, job->progress);
}

static f_job_t *s_job(fx_t *f, int64_t id) {
    for (size_t i = 0; i < f->njobs; i++)
        if (f->jobs[i].id == id) return &f->jobs[i];
    return NULL;
}

static f_job_t *s_add_job(fx_t *f, int64_t user_id, const char *token, int64_t idx,
                          const char *state, const char *params) {
    assert_true(f->njobs < MAX_JOBS);
    f_job_t *job = &f->jobs[f->njobs++];
    memset(job, 0, sizeof *job);
    job->id = 100 + (int64_t)f->njobs;
    job->user_id = user_id;
    job->price = 1;
    job->idx = idx;
    job->created_ms = f->now;
    job->progress = -1;
    snprintf(job->state, sizeof job->state, "%s", state);
    snprintf(job->token, sizeof job->token, "%s", token);
    snprintf(job->model, sizeof job->model, "%s", FSM_DEFAULT_MODEL);
    job->params = params ? strdup(params) : NULL;
    return job;
}

static msg_t *s_order(fx_t *f, const msg_t *req) {
    //  the session after the order travels with it, decodable, at the menu
    assert_true(msg_has(req, F_SESSION));
    assert_string_equal(msg_str(req, F_STATE), "menu");
    assert_true(msg_int(req, F_UPDATE_ID) > 1000 && msg_int(req, F_UPDATE_ID) <= f->update_id);
    session_t *after = session_decode(msg_bin(req, F_SESSION), msg_len(req, F_SESSION), NULL);
    assert_non_null(after);
    assert_int_equal(after->state, SESSION_MENU);
    assert_true(session_token_placed(after, msg_str(req, F_ORDER_TOKEN)));
    session_destroy(&after);
    session_inputs_t inputs = {0};
    assert_int_equal(session_params_parse(msg_str(req, F_PARAMS), &inputs), 0);
    assert_int_equal(inputs.count, msg_int(req, F_COUNT));
    session_inputs_clear(&inputs);

    const char *token = msg_str(req, F_ORDER_TOKEN);
    int64_t count = msg_int(req, F_COUNT), price = msg_int(req, F_PRICE);
    msg_t *reply = msg_new(MSG_K_ORDER, 0);
    int64_t ids[16];
    size_t n = 0, active = 0;
    for (size_t i = 0; i < f->njobs; i++) {
        if (f->jobs[i].user_id == USER && strcmp(f->jobs[i].token, token) == 0)
            ids[n++] = f->jobs[i].id;
        if (f->jobs[i].user_id == USER && s_holds(&f->jobs[i])) active++;
    }
    if (n) {
        msg_set_ints(reply, F_JOB_IDS, ids, n);
        msg_set_bool(reply, F_DUPLICATE, true);
    } else {
        if (active + (size_t)count > 5) {
            msg_destroy(&reply);
            return s_err(LEDGER_E_TOO_MANY_ACTIVE, 0);
        }
        if (f->balance < price * count) {
            msg_destroy(&reply);
            return s_err(LEDGER_E_INSUFFICIENT_CREDITS, price * count - f->balance);
        }
        for (int64_t i = 0; i < count; i++) {
            f_job_t *job = s_add_job(f, USER, token, i, "queued", msg_str(req, F_PARAMS));
            job->price = price;
            ids[n++] = job->id;
        }
        f->balance -= price * count;
        f->held += price * count;
        f->orders_created++;
        msg_set_ints(reply, F_JOB_IDS, ids, n);
        msg_set_bool(reply, F_DUPLICATE, false);
    }
    msg_set_int(reply, F_BALANCE, f->balance);
    msg_set_int(reply, F_HELD, f->held);
    return reply;
}

static msg_t *s_fake(fx_t *f, const msg_t *req) {
    f->requests++;
    if (f->force_code) {
        int code = f->force_code;
        f->force_code = 0;
        return s_err(code, f->force_shortfall);
    }
    if (f->force_kind) {
        msg_t *reply = msg_new(f->force_kind, 0);
        f->force_kind = 0;
        return reply;
    }
    switch (msg_kind(req)) {
    case MSG_K_USER_TOUCH: {
        assert_int_equal(msg_int(req, F_USER_ID), USER);
        bool created = !f->exists;
        if (created) {
            f->exists = true;
            f->balance += 2;
        }
        return s_user_reply(f, created);
    }
    case MSG_K_BALANCE_GET:
        return f->exists ? s_user_reply(f, false) : s_err(LEDGER_E_NOT_FOUND, 0);
    case MSG_K_ORDER_PLACE:
        return f->exists ? s_order(f, req) : s_err(LEDGER_E_NOT_FOUND, 0);
    case MSG_K_JOBS_LIST: {
        msg_t *reply = msg_new(MSG_K_JOB_LIST, 0);
        int64_t limit = msg_int(req, F_LIMIT);
        for (size_t i = f->njobs; i-- > 0 && limit > 0;)
            if (f->jobs[i].user_id == msg_int(req, F_USER_ID)) {
                s_row(reply, &f->jobs[i]);
                limit--;
            }
        return reply;
    }
    case MSG_K_JOB_GET: { //  like the real one: any user's job
        f_job_t *job = s_job(f, msg_int(req, F_JOB_ID));
        if (!job) return s_err(LEDGER_E_NOT_FOUND, 0);
        msg_t *reply = msg_new(MSG_K_JOB_LIST, 0);
        s_row(reply, job);
        return reply;
    }
    case MSG_K_JOB_CANCEL: {
        f_job_t *job = s_job(f, msg_int(req, F_JOB_ID));
        if (!job || job->user_id != msg_int(req, F_USER_ID)) return s_err(LEDGER_E_NOT_FOUND, 0);
        msg_t *ok = msg_new(MSG_K_OK, 0);
        if (strcmp(job->state, "cancelled") == 0) {
            msg_set_bool(ok, F_DUPLICATE, true);
            return ok;
        }
        if (strcmp(job->state, "queued") != 0) {
            msg_destroy(&ok);
            return s_err(LEDGER_E_BAD_STATE, 0);
        }
        strcpy(job->state, "cancelled");
        f->balance += job->price;
        f->held -= job->price;
        return ok;
    }
    case MSG_K_ENTRIES_LIST: {
        msg_t *reply = msg_new(MSG_K_ENTRY_LIST, 0);
        static const struct {
            const char *kind;
            int64_t d_balance, d_held, job;
            const char *reason;
        } rows[] = {{"release", 1, -1, 101, "content_violation"},
                    {"capture", 0, -1, 102, NULL},
                    {"hold", -1, 1, 101, NULL},
                    {"adjust", 5, 0, 0, "bonus " MARK},
                    {"topup", 10, 0, 0, "stars"},
                    {"weird_kind", 1, 0, 0, NULL},
                    {"grant", 2, 0, 0, "free credits"}};
        for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
            msg_t *row = msg_add_row(reply, F_ENTRIES);
            msg_set_int(row, F_ENTRY_ID, (int64_t)i + 1);
            msg_set_str(row, F_ENTRY_KIND, rows[i].kind);
            msg_set_int(row, F_D_BALANCE, rows[i].d_balance);
            msg_set_int(row, F_D_HELD, rows[i].d_held);
            msg_set_str(row, F_REF, "ref");
            msg_set_int(row, F_CREATED_MS, T0);
            if (rows[i].job) msg_set_int(row, F_JOB_ID, rows[i].job);
            if (rows[i].reason) msg_set_str(row, F_REASON, rows[i].reason);
        }
        return reply;
    }
    default:
        fail_msg("unexpected request %s", msg_kind_name(msg_kind(req)));
    }
    return NULL;
}

//  --- invariants -----------------------------------------------------------------

static bool s_html_ok(const char *html) {
    int depth[4] = {0};
    for (const char *p = html; *p; p++) {
        if (*p == '&') {
            if (strncmp(p, "&amp;", 5) && strncmp(p, "&lt;", 4) && strncmp(p, "&gt;", 4) &&
                strncmp(p, "&quot;", 6))
                return false;
        } else if (*p == '>')
            return false;
        else if (*p == '<') {
            static const char *const open[] = {"<b>", "<i>", "<code>", "<a href=\""};
            static const char *const close[] = {"</b>", "</i>", "</code>", "</a>"};
            bool known = false;
            for (int k = 0; k < 4 && !known; k++) {
                if (strncmp(p, open[k], strlen(open[k])) == 0) {
                    depth[k]++;
                    known = true;
                    if (k == 3) {
                        const char *end = strstr(p, "\">");
                        if (!end || memchr(p + 9, '<', (size_t)(end - p - 9))) return false;
                        p = end + 1;
                        break;
                    }
                    p += strlen(open[k]) - 1;
                } else if (strncmp(p, close[k], strlen(close[k])) == 0) {
                    if (--depth[k] < 0) return false;
                    known = true;
                    p += strlen(close[k]) - 1;
                }
            }
            if (!known) return false;
        }
    }
    return !depth[0] && !depth[1] && !depth[2] && !depth[3];
}

static void s_check_html(const char *text, size_t max) {
    assert_non_null(text);
    if (strstr(text, MARK)) fail_msg("unescaped user text in: %s", text);
    if (!s_html_ok(text)) fail_msg("bad HTML: %s", text);
    if (i18n_visible_length(text) > max)
        fail_msg("%zu characters: %.80s…", i18n_visible_length(text), text);
    assert_true(i18n_utf8_valid(text, strlen(text)));
    //  never an operator hint
    assert_null(strstr(text, "KIE_API"));
    assert_null(strstr(text, "api key"));
}

static void s_check_kb(fx_t *f, const i18n_keyboard_t *kb) {
    if (!kb) return;
    assert_true(kb->count > 0);
    for (size_t i = 0; i < kb->count; i++) {
        const i18n_button_t *button = &kb->buttons[i];
        assert_null(strstr(button->text, MARK));
        if (*button->url) continue;
        fsm_callback_t cb;
        assert_true(strlen(button->data) <= I18N_CALLBACK_MAX);
        if (fsm_cb_parse(button->data, &cb)) fail_msg("unparsable callback_data %s", button->data);
    }
    f->last_kb = *kb;
}

//  FSM_TEST_DUMP=1 prints every action (a transcript to read).
static void s_dump(const fsm_action_t *a) {
    static const char *const kinds[] = {"SEND", "EDIT", "ANSWER", "VIDEO", "LEDGER", "SAVE"};
    fprintf(stderr, "  %-6s", kinds[a->kind]);
    if (a->kind == FSM_A_EDIT) fprintf(stderr, " msg=%lld", (long long)a->message_id);
    if (a->kind == FSM_A_LEDGER && a->request)
        fprintf(stderr, " %s%s", msg_kind_name(msg_kind(a->request)),
                a->wants_reply ? "" : " (one-way)");
    if (a->tag.kind) fprintf(stderr, " tag=%d:%lld", a->tag.kind, (long long)a->tag.job_id);
    if (a->text) fprintf(stderr, " | %s", a->text);
    fprintf(stderr, "\n");
    for (size_t i = 0; a->keyboard && i < a->keyboard->count; i++)
        fprintf(stderr, "         [%s] %s%s\n", a->keyboard->buttons[i].text,
                a->keyboard->buttons[i].data, a->keyboard->buttons[i].url);
}

static void s_check_action(fx_t *f, fsm_action_t *a) {
    if (getenv("FSM_TEST_DUMP")) s_dump(a);
    switch (a->kind) {
    case FSM_A_SEND:
    case FSM_A_EDIT:
        s_check_html(a->text, I18N_TEXT_MAX);
        assert_int_equal(a->chat_id, USER);
        if (a->kind == FSM_A_EDIT) assert_true(a->message_id > 0);
        s_check_kb(f, a->keyboard);
        break;
    case FSM_A_SEND_VIDEO:
        assert_non_null(a->url);
        assert_true(*a->url);
        s_check_html(a->text, I18N_CAPTION_MAX);
        s_check_html(a->fallback, I18N_TEXT_MAX);
        s_check_kb(f, a->keyboard);
        break;
    case FSM_A_ANSWER:
        assert_non_null(a->callback_id);
        if (a->text) {
            assert_null(strchr(a->text, '<'));
            assert_true(i18n_visible_length(a->text) <= I18N_ANSWER_MAX);
        }
        break;
    case FSM_A_LEDGER: {
        uint8_t *data;
        size_t size;
        if (!a->request) break;
        assert_int_equal(msg_encode(a->request, &data, &size), 0); //  required fields set
        free(data);
        assert_true(a->wants_reply ? a->ticket != 0 : a->ticket == 0);
        break;
    }
    case FSM_A_SAVE: {
        msg_t *req = session_save_request(f->s, a->update_id);
        assert_non_null(req);
        msg_destroy(&req);
        break;
    }
    }
}

//  --- the harness ------------------------------------------------------------------

static void s_step_event(fx_t *f, const fsm_event_t *ev) {
    fsm_step(f->s, ev, f->now, &f->config, f->acts);
}

static void s_reply(fx_t *f, uint32_t ticket, msg_t *reply) {
    fsm_event_t ev = {.kind = FSM_EV_LEDGER, .ledger = {.ticket = ticket, .reply = reply}};
    s_step_event(f, &ev);
    msg_destroy(&reply);
}

//  Carries out the new actions like the shard: ledger requests answered by
//  the fake (unless held), tagged sends reported sent.
static void s_pump(fx_t *f) {
    for (; f->pumped < fsm_actions_size(f->acts); f->pumped++) {
        fsm_action_t *a = fsm_actions_at(f->acts, f->pumped);
        s_check_action(f, a);
        if (a->kind == FSM_A_LEDGER && a->request) {
            if (!a->wants_reply) {
                f->oneway[msg_kind(a->request)]++;
                continue;
            }
            uint32_t ticket = a->ticket;
            if (f->hold) {
                assert_true(f->nheld < MAX_HELD);
                f->held_reqs[f->nheld++] = (f_held_t){a->request, ticket};
                a->request = NULL;
                continue;
            }
            s_reply(f, ticket, s_fake(f, a->request));
        } else if ((a->kind == FSM_A_SEND || a->kind == FSM_A_SEND_VIDEO) &&
                   a->tag.kind != FSM_TAG_NONE) {
            fsm_event_t ev = {.kind = FSM_EV_SENT,
                              .sent = {.tag = a->tag, .ok = true, .message_id = ++f->next_msg}};
            s_step_event(f, &ev);
        }
    }
}

static void s_release(fx_t *f) {
    f->hold = false;
    for (size_t i = 0; i < f->nheld; i++) {
        s_reply(f, f->held_reqs[i].ticket, s_fake(f, f->held_reqs[i].req));
        msg_destroy(&f->held_reqs[i].req);
    }
    f->nheld = 0;
    s_pump(f);
}

static size_t s_count(fx_t *f, fsm_action_kind_t kind) {
    size_t n = 0;
    for (size_t i = 0; i < fsm_actions_size(f->acts); i++)
        n += fsm_actions_at(f->acts, i)->kind == kind;
    return n;
}

static size_t s_count_req(fx_t *f, int msg_kind_wanted) {
    size_t n = 0;
    for (size_t i = 0; i < fsm_actions_size(f->acts); i++) {
        fsm_action_t *a = fsm_actions_at(f->acts, i);
        n += a->kind == FSM_A_LEDGER && a->request && msg_kind(a->request) == msg_kind_wanted;
    }
    return n;
}

static void s_user_event(fx_t *f, const fsm_update_t *u) {
    fsm_actions_clear(f->acts);
    f->pumped = 0;
    fsm_event_t ev = {.kind = FSM_EV_UPDATE, .update = *u};
    s_step_event(f, &ev);
    s_pump(f);
    size_t answers = s_count(f, FSM_A_ANSWER);
    if (u->kind == FSM_U_CALLBACK) {
        assert_int_equal(answers, 1);
        assert_int_equal(fsm_actions_at(f->acts, 0)->kind, FSM_A_ANSWER);
    } else
        assert_int_equal(answers, 0);
}

static fsm_update_t s_base(fx_t *f, fsm_update_kind_t kind) {
    return (fsm_update_t){.kind = kind,
                          .update_id = ++f->update_id,
                          .user_id = USER,
                          .chat_id = USER,
                          .language_code = f->lang_code,
                          .first_name = "Аня " MARK,
                          .username = "anya"};
}

static void s_text(fx_t *f, const char *text) {
    fsm_update_t u = s_base(f, FSM_U_TEXT);
    u.text = text;
    s_user_event(f, &u);
}

static void s_cmd(fx_t *f, const char *command) {
    fsm_update_t u = s_base(f, FSM_U_COMMAND);
    u.command = command;
    u.text = command;
    s_user_event(f, &u);
}

static void s_photo(fx_t *f, int64_t size) {
    fsm_update_t u = s_base(f, FSM_U_PHOTO);
    u.file_id = "AgACAgIAAxkBAAIC" MARK;
    u.file_unique_id = "AQADk7sxG";
    u.file_size = size;
    s_user_event(f, &u);
}

static void s_doc(fx_t *f, const char *mime, const char *name, int64_t size) {
    fsm_update_t u = s_base(f, FSM_U_DOCUMENT);
    u.file_id = "BQACAgIAAxkBAAID";
    u.file_unique_id = "AgADBQAC";
    u.file_size = size;
    u.mime_type = mime;
    u.file_name = name;
    s_user_event(f, &u);
}

static void s_other(fx_t *f) {
    s_user_event(
        f, &(fsm_update_t){
               .kind = FSM_U_OTHER, .update_id = ++f->update_id, .user_id = USER, .chat_id = USER});
}

static void s_cb(fx_t *f, const char *data) {
    fsm_update_t u = s_base(f, FSM_U_CALLBACK);
    u.callback_id = "cbq-1";
    u.callback_data = data;
    u.message_id = 500;
    s_user_event(f, &u);
}

//  The callback_data of the newest keyboard's button for action (and arg).
static const char *s_button(fx_t *f, fsm_cb_action_t action, const char *arg) {
    for (size_t i = 0; i < f->last_kb.count; i++) {
        fsm_callback_t cb;
        if (*f->last_kb.buttons[i].url || fsm_cb_parse(f->last_kb.buttons[i].data, &cb)) continue;
        if (cb.action == action && (!arg || strcmp(cb.arg, arg) == 0))
            return f->last_kb.buttons[i].data;
    }
    return NULL;
}

static void s_press(fx_t *f, fsm_cb_action_t action, const char *arg) {
    const char *data = s_button(f, action, arg);
    if (!data) {
        fail_msg("no %s button on the newest keyboard", fsm_cb_name(action));
        return;
    }
    char copy[I18N_CALLBACK_MAX + 1];
    strcpy(copy, data);
    s_cb(f, copy);
}

static const char *s_answer_text(fx_t *f) {
    for (size_t i = 0; i < fsm_actions_size(f->acts); i++) {
        fsm_action_t *a = fsm_actions_at(f->acts, i);
        if (a->kind == FSM_A_ANSWER) return a->text ? a->text : "";
    }
    return NULL;
}

//  Whether any message, edit, caption or fallback of this exchange says it.
static bool s_saw(fx_t *f, const char *needle) {
    for (size_t i = 0; i < fsm_actions_size(f->acts); i++) {
        fsm_action_t *a = fsm_actions_at(f->acts, i);
        if ((a->text && strstr(a->text, needle)) || (a->fallback && strstr(a->fallback, needle)))
            return true;
    }
    return false;
}

static void s_expect_saw(fx_t *f, const char *needle) {
    if (!s_saw(f, needle)) {
        for (size_t i = 0; i < fsm_actions_size(f->acts); i++) {
            fsm_action_t *a = fsm_actions_at(f->acts, i);
            if (a->text) fprintf(stderr, "  action %zu: %s\n", i, a->text);
        }
        fail_msg("no message says \"%s\"", needle);
    }
}

//  A keyboard that leads back: the menu itself, a 🏠 Меню or a ❌ Отмена.
static bool s_way_out(const i18n_keyboard_t *kb) {
    bool menu = false, create = false, history = false;
    for (size_t i = 0; kb && i < kb->count; i++) {
        fsm_callback_t cb;
        if (*kb->buttons[i].url || fsm_cb_parse(kb->buttons[i].data, &cb)) continue;
        menu |= cb.action == FSM_CB_MENU || cb.action == FSM_CB_X;
        create |= cb.action == FSM_CB_NEW;
        history |= cb.action == FSM_CB_HIST;
    }
    return menu || (create && history);
}

//  Every message to the user in this exchange (status messages aside)
//  leaves a way to the menu.
static void s_expect_way_out(fx_t *f) {
    size_t messages = 0;
    for (size_t i = 0; i < fsm_actions_size(f->acts); i++) {
        fsm_action_t *a = fsm_actions_at(f->acts, i);
        if ((a->kind != FSM_A_SEND && a->kind != FSM_A_EDIT) || a->priority == FSM_PRIO_PROGRESS)
            continue;
        messages++;
        if (!s_way_out(a->keyboard)) fail_msg("no way back to the menu from: %s", a->text);
    }
    assert_true(messages > 0);
}

//  --- fixtures and paths ---------------------------------------------------------------

static void s_reset(fx_t *f, const char *lang_code, bool two_models) {
    session_destroy(&f->s);
    fsm_actions_destroy(&f->acts);
    for (size_t i = 0; i < f->njobs; i++)
        free(f->jobs[i].params);
    for (size_t i = 0; i < f->nheld; i++)
        msg_destroy(&f->held_reqs[i].req);
    memset(f, 0, sizeof *f);
    fsm_config_defaults(&f->config);
    f->config.support_contact = "@genbot_help";
    if (two_models) {
        f->models[0] = (fsm_model_t){FSM_DEFAULT_MODEL, "Sora 2", "Sora 2", 1, true};
        f->models[1] = (fsm_model_t){"sora-2-pro", "Sora 2 Pro", "Sora 2 Pro", 3, true};
        f->config.models = f->models;
        f->config.model_count = 2;
    }
    f->lang_code = lang_code;
    f->s = session_new(USER, USER, lang_code);
    f->acts = fsm_actions_new();
    f->now = T0;
    f->update_id = 1000;
    f->next_msg = 700;
}

static int setup(void **state) {
    fx_t *f = calloc(1, sizeof *f);
    s_reset(f, "ru", false);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx_t *f = *state;
    s_reset(f, "ru", false);
    session_destroy(&f->s);
    fsm_actions_destroy(&f->acts);
    free(f);
    return 0;
}

//  Walks a fresh user to state (MODEL needs two models in the config).
static void s_goto(fx_t *f, session_state_t state) {
    s_cmd(f, "/start");
    assert_int_equal(f->s->state, SESSION_MENU);
    if (state == SESSION_MENU) return;
    s_press(f, FSM_CB_NEW, NULL);
    if (f->config.model_count > 1) {
        assert_int_equal(f->s->state, SESSION_MODEL);
        if (state == SESSION_MODEL) return;
        s_press(f, FSM_CB_MDL, NULL);
    }
    assert_int_equal(f->s->state, SESSION_PHOTO);
    if (state == SESSION_PHOTO) return;
    s_photo(f, 2 * 1024 * 1024);
    assert_int_equal(f->s->state, SESSION_PRODUCT);
    if (state == SESSION_PRODUCT) return;
    s_text(f, PRODUCT);
    assert_int_equal(f->s->state, SESSION_TEMPLATE);
    if (state == SESSION_TEMPLATE) return;
    if (state == SESSION_PROMPT) {
        s_press(f, FSM_CB_TPL, "own");
        assert_int_equal(f->s->state, SESSION_PROMPT);
        return;
    }
    s_press(f, FSM_CB_TPL, "ugc");
    assert_int_equal(f->s->state, SESSION_WISHES);
    if (state == SESSION_WISHES) return;
    s_text(f, "светлый фон " MARK);
    assert_int_equal(f->s->state, SESSION_COUNT);
    if (state == SESSION_COUNT) return;
    s_press(f, FSM_CB_CNT, NULL);
    assert_int_equal(f->s->state, SESSION_CONFIRM);
}

static void s_job_event(fx_t *f, int64_t job_id, job_state_t state, int progress,
                        const char *err_class, int attempt, int64_t refunded, const char *url) {
    fsm_actions_clear(f->acts);
    f->pumped = 0;
    fsm_event_t ev = {.kind = FSM_EV_JOB,
                      .job = {.job_id = job_id,
                              .state = state,
                              .progress = progress,
                              .err_class = err_class,
                              .attempt = attempt,
                              .credits_refunded = refunded,
                              .result_url = url}};
    s_step_event(f, &ev);
    s_pump(f);
    assert_int_equal(s_count(f, FSM_A_ANSWER), 0);
}

//  --- tests ---------------------------------------------------------------------------

static void s_happy_path(fx_t *f, const char *lang_code) {
    bool ru = strcmp(lang_code, "en-US") != 0;
    s_reset(f, lang_code, false);
    s_cmd(f, "/start");
    assert_int_equal(f->s->state, SESSION_MENU);
    s_expect_saw(f, ru ? "🎁 Дарю <b>2 кредита</b>" : "🎁 Here are <b>2 credits</b>");
    s_expect_saw(f, ru ? "Аня &lt;x&gt;" : "Аня &lt;x&gt;");
    assert_non_null(s_button(f, FSM_CB_NEW, NULL));
    assert_string_equal(f->last_kb.buttons[0].text, ru ? "🎬 Создать видео" : "🎬 Create video");
    //  /start again: no second gift
    s_cmd(f, "/start");
    s_expect_saw(f, ru ? "С возвращением" : "Welcome back");
    assert_int_equal(f->balance, 2);

    s_press(f, FSM_CB_NEW, NULL);
    assert_int_equal(f->s->state, SESSION_PHOTO);
    s_expect_saw(f, ru ? "Пришли фото товара (без людей в кадре)" : "Send a photo of the product");
    s_photo(f, 3 * 1024 * 1024);
    assert_int_equal(f->s->state, SESSION_PRODUCT);
    s_text(f, PRODUCT);
    assert_int_equal(f->s->state, SESSION_TEMPLATE);
    assert_string_equal(f->s->draft.product, PRODUCT);
    s_press(f, FSM_CB_TPL, "ugc");
    assert_int_equal(f->s->state, SESSION_WISHES);
    s_expect_saw(f, ru ? "Есть доп. пожелания? Если нет — отправь «-»" : "Any extra wishes?");
    s_text(f, "-");
    assert_int_equal(f->s->state, SESSION_COUNT);
    assert_null(f->s->draft.wishes);
    //  1️⃣ 3️⃣ 5️⃣ with prices
    assert_string_equal(f->last_kb.buttons[0].text, ru ? "1️⃣ 1 видео · 1 кредит"
                                                       : "1️⃣ 1 video · 1 credit");
    assert_string_equal(f->last_kb.buttons[1].text, ru ? "3️⃣ 3 видео · 3 кредита"
                                                       : "3️⃣ 3 videos · 3 credits");
    assert_string_equal(f->last_kb.buttons[2].text,
                        ru ? "5️⃣ 5 видео · 5 кредитов"
                           : "5️⃣ 5 videos · 5 credits");
    s_press(f, FSM_CB_CNT, NULL);
    assert_int_equal(f->s->state, SESSION_CONFIRM);
    s_expect_saw(f, ru ? "Генерация займёт от 1 до 30 минут" : "Generation takes 1 to 30 minutes");
    s_expect_saw(f, ru ? "Баланс после: 1 кредит" : "Balance after: 1 credit");
    s_expect_saw(f, ru ? "Стоимость: 1 кредит" : "Cost: 1 credit");
    s_expect_saw(f, "Крем для рук &lt;x&gt; &amp; «нежность»");
    char token[SESSION_TOKEN_MAX + 1];
    strcpy(token, f->s->order_token);
    assert_true(*token);
    assert_non_null(strstr(s_button(f, FSM_CB_OK, NULL), token));

    s_press(f, FSM_CB_OK, NULL);
    assert_int_equal(f->orders_created, 1);
    assert_int_equal(f->s->state, SESSION_MENU);
    s_expect_saw(f, ru ? "✅ Принял! Генерация 1 видео запущена" : "✅ Got it! Generating 1 video");
    //  the ✅ step saves nothing itself: the session rode with the order
    assert_int_equal(fsm_actions_at(f->acts, 0)->kind, FSM_A_ANSWER);
    assert_int_equal(fsm_actions_at(f->acts, 1)->kind, FSM_A_LEDGER);
    int64_t job_id = f->jobs[0].id;
    char status[64];
    snprintf(status, sizeof status, ru ? "Видео #%lld: ⏳ в очереди" : "Video #%lld: ⏳ in queue",
             (long long)job_id);
    s_expect_saw(f, status);
    assert_int_equal(f->oneway[MSG_K_JOB_STATUS_MSG], 1);
    session_job_t *tracked = session_job_find(f->s, job_id);
    assert_non_null(tracked);
    assert_true(tracked->message_id > 0);

    //  progress: edits at most once per 10 s
    s_job_event(f, job_id, JOB_RUNNING, -1, NULL, 0, 0, NULL);
    assert_int_equal(s_count(f, FSM_A_EDIT), 1);
    s_expect_saw(f, ru ? "генерируется" : "generating");
    f->now += 1000;
    s_job_event(f, job_id, JOB_SUBMITTED, 10, NULL, 0, 0, NULL);
    assert_int_equal(s_count(f, FSM_A_EDIT), 0);
    f->now += 10000;
    s_job_event(f, job_id, JOB_SUBMITTED, 40, NULL, 0, 0, NULL);
    assert_int_equal(s_count(f, FSM_A_EDIT), 1);
    s_expect_saw(f, "40%");
    assert_int_equal(fsm_actions_at(f->acts, 0)->priority, FSM_PRIO_PROGRESS);
    f->now += 10000;
    s_job_event(f, job_id, JOB_SUBMITTED, 40, NULL, 0, 0, NULL);
    assert_int_equal(s_count(f, FSM_A_EDIT), 0); //  nothing changed

    //  the result: the video with 🔄 Ещё раз · 🏠 Меню
    s_job_event(f, job_id, JOB_SUCCEEDED, -1, NULL, 0, 0, "https://files.example/v.mp4");
    assert_int_equal(s_count(f, FSM_A_SEND_VIDEO), 1);
    s_expect_saw(f, ru ? "готово" : "ready");
    assert_non_null(s_button(f, FSM_CB_REP, NULL));
    assert_non_null(s_button(f, FSM_CB_MENU, NULL));
    assert_string_equal(f->last_kb.buttons[0].text, ru ? "🔄 Ещё раз" : "🔄 Once more");
    assert_int_equal(f->oneway[MSG_K_JOB_DELIVERED], 1); //  after the notifier's ok
    assert_null(session_job_find(f->s, job_id));
}

static void test_happy_path_ru(void **state) {
    s_happy_path(*state, "ru");
}

static void test_happy_path_en(void **state) {
    s_happy_path(*state, "en-US");
}

typedef enum {
    E_TEXT,
    E_EMPTY,
    E_HUGE,
    E_BAD_UTF8,
    E_HELP,
    E_UNKNOWN,
    E_CANCEL,
    E_PHOTO,
    E_BIG_PHOTO,
    E_DOC_IMAGE,
    E_DOC_PDF,
    E_OTHER,
    E_CB_STALE,
    E_CB_FORGED,
    E_CB_MENU,
    E_COUNT_
} s_input_t;

static const char *const s_input_names[E_COUNT_] = {
    "text",     "empty text", "100 KB text",  "invalid UTF-8", "/help",
    "/unknown", "/cancel",    "photo",        "11 MB photo",   "image file",
    "pdf file", "sticker",    "stale button", "forged button", "menu button"};

static session_state_t s_expected(session_state_t state, s_input_t input) {
    switch (input) {
    case E_TEXT:
        return state == SESSION_PRODUCT                             ? SESSION_TEMPLATE
               : state == SESSION_WISHES || state == SESSION_PROMPT ? SESSION_COUNT
                                                                    : state;
    case E_PHOTO:
    case E_DOC_IMAGE:
        return state == SESSION_PHOTO ? SESSION_PRODUCT : state;
    case E_CANCEL:
    case E_CB_MENU:
        return SESSION_MENU;
    default:
        return state;
    }
}

static void s_input(fx_t *f, s_input_t input) {
    static char huge[100 * 1024 + 1];
    switch (input) {
    case E_TEXT:
        s_text(f, "hello " MARK);
        break;
    case E_EMPTY:
        s_text(f, "  \n\t ");
        break;
    case E_HUGE:
        memset(huge, 'a', sizeof huge - 1);
        memcpy(huge, MARK, 3);
        s_text(f, huge);
        break;
    case E_BAD_UTF8:
        s_text(f, "\xff\xfe " MARK " \xc0\xaf");
        break;
    case E_HELP:
        s_cmd(f, "/help");
        break;
    case E_UNKNOWN:
        s_cmd(f, "/frobnicate@genbot");
        break;
    case E_CANCEL:
        s_cmd(f, "/cancel");
        break;
    case E_PHOTO:
        s_photo(f, 5 * 1024 * 1024);
        break;
    case E_BIG_PHOTO:
        s_photo(f, 11 * 1024 * 1024);
        break;
    case E_DOC_IMAGE:
        s_doc(f, "image/png", "bottle.png", 1024 * 1024);
        break;
    case E_DOC_PDF:
        s_doc(f, "application/pdf", "price " MARK ".pdf", 1024);
        break;
    case E_OTHER:
        s_other(f);
        break;
    case E_CB_STALE: {
        char data[64];
        //  a step button of an older screen
        snprintf(data, sizeof data, "1:%u:x", f->s->screen_seq - 1);
        s_cb(f, data);
        assert_string_equal(s_answer_text(f), "Эта кнопка устарела");
        snprintf(data, sizeof data, "1:%u:tpl:ugc", f->s->screen_seq + 1);
        s_cb(f, data);
        assert_string_equal(s_answer_text(f), "Эта кнопка устарела");
        snprintf(data, sizeof data, "1:%u:hist", f->s->screen_seq + 5);
        s_cb(f, data);
        assert_string_equal(s_answer_text(f), "Эта кнопка устарела");
        break;
    }
    case E_CB_FORGED: {
        char junk[65], seqd[64];
        memset(junk, 'Z', 64);
        junk[64] = 0;
        snprintf(seqd, sizeof seqd, "1:%u:cnt:7", f->s->screen_seq); //  not offered
        const char *const forged[] = {"",
                                      "1",
                                      "1:",
                                      "2:0:menu",
                                      "1:0:nope",
                                      "1:01:menu",
                                      "1:0:menu:1",
                                      "1:0:job",
                                      "1:0:job:0",
                                      "1:0:job:-1",
                                      "1:0:job:99999999999999999999",
                                      "1:0:lang:de",
                                      "1:0:tpl:ugc",
                                      "1:0:ok:" MARK,
                                      "\xff\xfe",
                                      junk,
                                      "1:4294967296:menu",
                                      seqd,
                                      NULL};
        for (size_t i = 0; i < sizeof forged / sizeof forged[0]; i++) {
            fsm_update_t u = s_base(f, FSM_U_CALLBACK);
            u.callback_id = "cbq-2";
            u.callback_data = forged[i];
            u.message_id = 500;
            session_state_t before = f->s->state;
            s_user_event(f, &u);
            assert_string_equal(s_answer_text(f), "Эта кнопка устарела");
            assert_int_equal(f->s->state, before);
            assert_int_equal(s_count(f, FSM_A_SEND) + s_count(f, FSM_A_EDIT), 0);
        }
        break;
    }
    case E_CB_MENU:
        s_cb(f, "1:0:menu");
        break;
    case E_COUNT_:
        break;
    }
}

//  Every state × every kind of input: the resulting state, one answer per
//  button, escaped echoes, and a way back to the menu.
static void test_state_matrix(void **state) {
    fx_t *f = *state;
    static const session_state_t states[] = {SESSION_MENU,    SESSION_MODEL,    SESSION_PHOTO,
                                             SESSION_PRODUCT, SESSION_TEMPLATE, SESSION_WISHES,
                                             SESSION_PROMPT,  SESSION_COUNT,    SESSION_CONFIRM};
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++)
        for (int input = 0; input < E_COUNT_; input++) {
            s_reset(f, "ru", states[i] == SESSION_MODEL);
            s_goto(f, states[i]);
            int requests = f->requests;
            s_input(f, (s_input_t)input);
            session_state_t expected = s_expected(states[i], (s_input_t)input);
            if (f->s->state != expected)
                fail_msg("%s + %s: state %s, expected %s", session_state_name(states[i]),
                         s_input_names[input], session_state_name(f->s->state),
                         session_state_name(expected));
            if (input != E_CB_FORGED && input != E_CB_STALE) s_expect_way_out(f);
            if (input == E_CB_STALE || input == E_CB_FORGED || input == E_BAD_UTF8 ||
                input == E_EMPTY || input == E_HUGE)
                assert_int_equal(f->requests, requests); //  nothing reached the ledger
            assert_int_equal(f->orders_created, 0);
            assert_int_equal(f->s->pending, FSM_PENDING_NONE);
        }
}

//  Hints name the problem and repeat the step.
static void test_hints_and_limits(void **state) {
    fx_t *f = *state;
    s_reset(f, "ru", false);
    s_goto(f, SESSION_PHOTO);
    s_photo(f, 10 * 1024 * 1024 + 1);
    s_expect_saw(f, "можно не больше 10 МБ");
    s_expect_saw(f, "Пришли фото товара");
    s_doc(f, "image/jpeg", "x.jpg", 10 * 1024 * 1024 + 1);
    s_expect_saw(f, "можно не больше 10 МБ");
    s_doc(f, "application/pdf", "x.pdf", 100);
    s_expect_saw(f, "не картинка");
    s_doc(f, "image/gif", "x.gif", 100);
    s_expect_saw(f, "не картинка");
    s_doc(f, NULL, "PHOTO.JPEG", 100); //  no MIME type: the name decides
    assert_int_equal(f->s->state, SESSION_PRODUCT);

    //  product: 1..1000 characters (counted as characters, not bytes)
    char text[6000 * 4];
    text[0] = 0;
    for (int i = 0; i < 1001; i++)
        strcat(text, "ж");
    s_text(f, text);
    s_expect_saw(f, "Слишком длинно: 1001 символ, а можно не больше 1000 символов");
    assert_int_equal(f->s->state, SESSION_PRODUCT);
    text[strlen(text) - 2] = 0; //  1000
    s_text(f, text);
    assert_int_equal(f->s->state, SESSION_TEMPLATE);
    assert_int_equal(i18n_utf8_chars(f->s->draft.product, strlen(f->s->draft.product)), 1000);
    s_text(f, "text at a button step");
    s_expect_saw(f, "Выбери вариант кнопкой");
    assert_non_null(s_button(f, FSM_CB_TPL, "ugc")); //  the step's keyboard again
    s_press(f, FSM_CB_TPL, "own");
    //  own prompt: up to 5000 characters, then straight to the count
    memset(text, 'p', 5001);
    text[5001] = 0;
    s_text(f, text);
    s_expect_saw(f, "Слишком длинно: 5001 символ, а можно не больше 5000 символов");
    assert_int_equal(f->s->state, SESSION_PROMPT);
    text[5000] = 0;
    s_text(f, text);
    assert_int_equal(f->s->state, SESSION_COUNT);
    assert_null(f->s->draft.wishes);
    assert_int_equal(strlen(f->s->draft.prompt), 5000);

    //  wishes: 1..1000, "-" = none, control characters dropped, trimmed
    s_reset(f, "ru", false);
    s_goto(f, SESSION_WISHES);
    memset(text, 'w', 1001);
    text[1001] = 0;
    s_text(f, text);
    s_expect_saw(f, "1001 символ");
    s_text(f, "  \x01 музыка\x7f бодрая \n ");
    assert_string_equal(f->s->draft.wishes, "музыка бодрая");
    s_cb(f, "1:0:menu");
    s_goto(f, SESSION_WISHES);
    s_text(f, " — ");
    assert_null(f->s->draft.wishes);
}

static void test_cancel_everywhere(void **state) {
    fx_t *f = *state;
    static const session_state_t states[] = {SESSION_MODEL,    SESSION_PHOTO,  SESSION_PRODUCT,
                                             SESSION_TEMPLATE, SESSION_WISHES, SESSION_PROMPT,
                                             SESSION_COUNT,    SESSION_CONFIRM};
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++) {
        s_reset(f, "ru", true);
        s_goto(f, states[i]);
        s_cmd(f, "/cancel");
        assert_int_equal(f->s->state, SESSION_MENU);
        s_expect_saw(f, "Хорошо, отменил");
        assert_null(f->s->draft.product);
        s_reset(f, "en", true);
        s_goto(f, states[i]);
        s_press(f, FSM_CB_X, NULL); //  ❌ of the step's screen
        assert_int_equal(f->s->state, SESSION_MENU);
        s_expect_saw(f, "OK, cancelled");
    }
}

//  ✅ twice while the order is placed, and again after: one order.
static void test_double_confirm(void **state) {
    fx_t *f = *state;
    s_reset(f, "ru", false);
    s_goto(f, SESSION_CONFIRM);
    char ok[I18N_CALLBACK_MAX + 1];
    strcpy(ok, s_button(f, FSM_CB_OK, NULL));
    f->hold = true;
    s_cb(f, ok);
    assert_int_equal(f->s->pending, FSM_PENDING_ORDER);
    assert_int_equal(f->nheld, 1);
    s_cb(f, ok); //  the second tap while the first is in flight
    assert_string_equal(s_answer_text(f), "Этот заказ уже запущен");
    assert_int_equal(s_count(f, FSM_A_LEDGER), 0);
    s_text(f, "hello");
    s_expect_saw(f, "Оформляю заказ");
    s_release(f);
    s_expect_saw(f, "✅ Принял!");
    assert_int_equal(f->orders_created, 1);
    //  a third tap, later
    s_cb(f, ok);
    assert_string_equal(s_answer_text(f), "Этот заказ уже запущен");
    assert_int_equal(s_count(f, FSM_A_LEDGER), 0);
    assert_false(s_saw(f, "Принял"));
    //  and much later, after other screens and the job's end
    s_cmd(f, "/menu");
    s_cmd(f, "/history");
    s_job_event(f, f->jobs[0].id, JOB_SUCCEEDED, -1, NULL, 0, 0, "https://x.example/v.mp4");
    s_goto(f, SESSION_COUNT);
    s_cb(f, ok);
    assert_string_equal(s_answer_text(f), "Этот заказ уже запущен");
    assert_int_equal(f->orders_created, 1);
    assert_int_equal(f->s->state, SESSION_COUNT);
}

//  A session that lost the order (restored from before it): the ledger's
//  idempotency answers duplicate, and the user reads "already running".
static void test_duplicate_reply(void **state) {
    fx_t *f = *state;
    s_reset(f, "ru", false);
    s_goto(f, SESSION_CONFIRM);
    uint8_t *data;
    size_t size;
    assert_int_equal(session_encode(f->s, &data, &size), 0);
    char ok[I18N_CALLBACK_MAX + 1];
    strcpy(ok, s_button(f, FSM_CB_OK, NULL));
    s_cb(f, ok);
    assert_int_equal(f->orders_created, 1);
    session_destroy(&f->s);
    f->s = session_decode(data, size, NULL);
    free(data);
    assert_non_null(f->s);
    f->s->last_update_id = f->update_id;
    s_cb(f, ok);
    assert_int_equal(f->orders_created, 1);
    s_expect_saw(f, "Этот заказ уже запущен");
    assert_false(s_saw(f, "Принял"));
    assert_int_equal(s_count(f, FSM_A_SEND), 0); //  no second set of status messages
    assert_int_equal(f->s->state, SESSION_MENU);
}

static void test_insufficient_credits(void **state) {
    fx_t *f = *state;
    s_reset(f, "ru", false);
    s_goto(f, SESSION_COUNT);
    s_press(f, FSM_CB_CNT, NULL); //  first, to learn the buttons
    s_cb(f, "1:0:menu");
    s_goto(f, SESSION_COUNT);
    char data[64];
    snprintf(data, sizeof data, "1:%u:cnt:5", f->s->screen_seq);
    s_cb(f, data); //  5 videos, 2 credits
    assert_int_equal(f->s->state, SESSION_COUNT);
    s_expect_saw(f, "Не хватает кредитов: нужно ещё <b>3 кредита</b>");
    assert_non_null(s_button(f, FSM_CB_BUY, NULL));
    assert_non_null(s_button(f, FSM_CB_CNT, NULL)); //  fewer may fit
    s_expect_way_out(f);
    s_press(f, FSM_CB_BUY, NULL);
    s_expect_saw(f, "250 ⭐");
    s_expect_saw(f, "100 кредитов — 3900 ⭐");
    //  the ledger's own refusal at ✅ (balance spent elsewhere meanwhile)
    s_reset(f, "ru", false);
    s_goto(f, SESSION_CONFIRM);
    f->balance = 0;
    s_press(f, FSM_CB_OK, NULL);
    s_expect_saw(f, "нужно ещё <b>1 кредит</b>");
    assert_int_equal(f->s->state, SESSION_COUNT);
    assert_int_equal(f->orders_created, 0);
    f->balance = 10;
    s_press(f, FSM_CB_CNT, "");
    s_press(f, FSM_CB_OK, NULL);
    assert_int_equal(f->orders_created, 1);
}

//  Each typed error of order_place: its own message, a retry with the same
//  token, a way to the menu.
static void test_order_errors(void **state) {
    fx_t *f = *state;
    static const struct {
        int code;
        const char *text;
    } cases[] = {{LEDGER_E_TOO_MANY_ACTIVE, "Сейчас в работе максимум — 5 генераций"},
                 {LEDGER_E_RATE_LIMITED, "Слишком много заказов за минуту"},
                 {LEDGER_E_INTERNAL, "Что-то пошло не так"},
                 {LEDGER_E_BAD_REQUEST, "Что-то пошло не так"},
                 {LEDGER_E_BAD_STATE, "Что-то пошло не так"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s_reset(f, "ru", false);
        s_goto(f, SESSION_CONFIRM);
        char token[SESSION_TOKEN_MAX + 1];
        strcpy(token, f->s->order_token);
        f->force_code = cases[i].code;
        s_press(f, FSM_CB_OK, NULL);
        s_expect_saw(f, cases[i].text);
        s_expect_way_out(f);
        assert_int_equal(f->s->state, SESSION_CONFIRM);
        assert_false(session_token_placed(f->s, token));
        assert_int_equal(s_count(f, FSM_A_SAVE), 1); //  the refused ✅ is remembered
        const char *retry = s_button(f, FSM_CB_OK, token);
        assert_non_null(retry);
        s_press(f, FSM_CB_OK, token);
        s_expect_saw(f, "✅ Принял!");
        assert_int_equal(f->orders_created, 1);
    }
    //  the account gone: created again, back at the menu
    s_reset(f, "ru", false);
    s_goto(f, SESSION_CONFIRM);
    f->force_code = LEDGER_E_NOT_FOUND;
    s_press(f, FSM_CB_OK, NULL);
    assert_int_equal(f->s->state, SESSION_MENU);
    s_expect_way_out(f);
}

//  Every purpose × every typed error and a wrong reply kind: a message in
//  the user's language with a way back; nothing pending after.
static void test_ledger_errors_everywhere(void **state) {
    fx_t *f = *state;
    for (int code = 1; code <= 8; code++)
        for (int purpose = 0; purpose < 9; purpose++) {
            s_reset(f, "en", false);
            s_goto(f, purpose == 1 ? SESSION_COUNT : purpose == 8 ? SESSION_CONFIRM : SESSION_MENU);
            f_job_t *job = s_add_job(f, USER, "t", 0, "queued",
                                     "{\"template\":\"ugc\",\"photo_file_id\":\"p\","
                                     "\"product\":\"x\"}");
            char data[64];
            if (code == 8)
                f->force_kind = MSG_K_OFFSET_DATA; //  a reply of the wrong kind
            else
                f->force_code = code;
            switch (purpose) {
            case 0:
                s_cmd(f, "/start");
                break;
            case 1:
                snprintf(data, sizeof data, "1:%u:cnt:1", f->s->screen_seq);
                s_cb(f, data);
                break;
            case 2:
                s_cmd(f, "/balance");
                break;
            case 3:
                s_cb(f, "1:0:ents");
                break;
            case 4:
                s_cmd(f, "/history");
                break;
            case 5:
                snprintf(data, sizeof data, "1:0:job:%lld", (long long)job->id);
                s_cb(f, data);
                break;
            case 6:
                snprintf(data, sizeof data, "1:0:rep:%lld", (long long)job->id);
                s_cb(f, data);
                break;
            case 7:
                snprintf(data, sizeof data, "1:0:cxl:%lld", (long long)job->id);
                s_cb(f, data);
                break;
            default:
                s_press(f, FSM_CB_OK, NULL);
                break;
            }
            s_expect_way_out(f);
            assert_int_equal(f->s->pending, FSM_PENDING_NONE);
            assert_false(s_saw(f, "Что-то")); //  the user's language
            assert_int_equal(f->force_code, 0);
            assert_int_equal(f->force_kind, 0);
        }
}

static void test_stale_replies_ignored(void **state) {
    fx_t *f = *state;
    s_reset(f, "ru", false);
    s_goto(f, SESSION_MENU);
    msg_t *reply = s_user_reply(f, false);
    fsm_actions_clear(f->acts);
    f->pumped = 0;
    s_reply(f, 12345, reply); //  nothing pending
    assert_int_equal(fsm_actions_size(f->acts), 0);
    f->hold = true;
    s_cmd(f, "/balance");
    uint32_t ticket = f->held_reqs[0].ticket;
    fsm_actions_clear(f->acts);
    f->pumped = 0;
    s_reply(f, ticket + 1, s_user_reply(f, false)); //  another ticket
    assert_int_equal(fsm_actions_size(f->acts), 0);
    fsm_event_t ev = {.kind = FSM_EV_LEDGER, .ledger = {.ticket = ticket, .reply = NULL}};
    s_step_event(f, &ev);
    assert_int_equal(fsm_actions_size(f->acts), 0);
    s_release(f);
    s_expect_saw(f, "Личный кабинет");
    //  a newer action supersedes a read in flight (if the shard let it through)
    s_goto(f, SESSION_COUNT);
    f->hold = true;
    s_press(f, FSM_CB_CNT, NULL);
    assert_int_equal(f->s->pending, FSM_PENDING_BALANCE);
    s_cmd(f, "/cancel");
    assert_int_equal(f->s->state, SESSION_MENU);
    fsm_actions_clear(f->acts);
    f->pumped = 0;
    s_release(f);
    assert_int_equal(fsm_actions_size(f->acts), 0);
    assert_int_equal(f->s->state, SESSION_MENU);
}

static void test_repeat_and_cancel_from_history(void **state) {
    fx_t *f = *state;
    s_reset(f, "ru", false);
    s_goto(f, SESSION_CONFIRM);
    f->balance = 20;
    s_press(f, FSM_CB_OK, NULL);
    int64_t first = f->jobs[0].id;
    char old_token[32];
    strcpy(old_token, f->jobs[0].token);
    //  🔄 Ещё раз on the result: same inputs, a new token, straight to ✅
    s_job_event(f, first, JOB_SUCCEEDED, -1, NULL, 0, 0, "https://x.example/1.mp4");
    strcpy(f->jobs[0].state, "delivered");
    strcpy(f->jobs[0].url, "https://x.example/1.mp4");
    int requests = f->requests;
    s_press(f, FSM_CB_REP, NULL);
    assert_int_equal(f->requests, requests + 1); //  only the balance: inputs were at hand
    assert_int_equal(f->s->state, SESSION_CONFIRM);
    assert_string_not_equal(f->s->order_token, old_token);
    s_expect_saw(f, "Крем для рук &lt;x&gt;");
    s_press(f, FSM_CB_OK, NULL);
    assert_int_equal(f->orders_created, 2);
    int64_t second = f->jobs[1].id;

    //  history lists both, newest first, with marks
    s_cmd(f, "/history");
    s_expect_saw(f, "Мои генерации");
    s_expect_saw(f, "⏳ #");
    assert_int_equal(f->last_kb.count, 4); //  two jobs, create, menu
    char data[64];
    //  🔄 Повторить an older job: its inputs come from its parameters
    snprintf(data, sizeof data, "1:%u:job:%lld", f->s->screen_seq, (long long)first);
    s_cb(f, data);
    assert_int_equal(s_count(f, FSM_A_EDIT), 1); //  the list becomes the detail
    s_expect_saw(f, "Генерация #");
    assert_int_equal(s_count(f, FSM_A_SEND_VIDEO), 1); //  a finished result, sent again
    f->s->last_job_count = 0;
    s_press(f, FSM_CB_REP, NULL);
    assert_int_equal(f->s->state, SESSION_CONFIRM);
    assert_string_equal(f->s->draft.product, PRODUCT);
    assert_string_equal(f->s->draft.wishes, "светлый фон " MARK);
    s_cmd(f, "/cancel");

    //  ❌ Отменить while queued: credits back at once
    snprintf(data, sizeof data, "1:0:job:%lld", (long long)second);
    s_cb(f, data);
    assert_non_null(s_button(f, FSM_CB_CXL, NULL));
    int64_t balance = f->balance;
    s_press(f, FSM_CB_CXL, NULL);
    s_expect_saw(f, "отменена");
    s_expect_saw(f, "1 кредит вернули на баланс ✅");
    assert_int_equal(f->balance, balance + 1);
    //  its status message shows it
    s_job_event(f, second, JOB_CANCELLED, -1, NULL, 0, 1, NULL);
    assert_int_equal(s_count(f, FSM_A_SEND), 0); //  told already
    //  a running job can't be cancelled
    f_job_t *running = s_add_job(f, USER, "r", 0, "running", f->jobs[0].params);
    snprintf(data, sizeof data, "1:0:cxl:%lld", (long long)running->id);
    s_cb(f, data);
    s_expect_saw(f, "уже началась");
    s_expect_way_out(f);
    //  someone else's job: not found, never shown
    f_job_t *foreign = s_add_job(f, OTHER, "o", 0, "succeeded", f->jobs[0].params);
    strcpy(foreign->url, "https://x.example/secret.mp4");
    snprintf(data, sizeof data, "1:0:job:%lld", (long long)foreign->id);
    s_cb(f, data);
    s_expect_saw(f, "не нашлось");
    assert_false(s_saw(f, "secret"));
    snprintf(data, sizeof data, "1:0:rep:%lld", (long long)foreign->id);
    s_cb(f, data);
    s_expect_saw(f, "не нашлось");
    snprintf(data, sizeof data, "1:0:cxl:%lld", (long long)foreign->id);
    s_cb(f, data);
    s_expect_saw(f, "не нашлось");
    snprintf(data, sizeof data, "1:0:job:%lld", 999999LL);
    s_cb(f, data);
    s_expect_saw(f, "не нашлось");
    //  empty history
    s_reset(f, "en", false);
    s_goto(f, SESSION_MENU);
    s_cmd(f, "/history");
    s_expect_saw(f, "No generations yet");
}

static void test_job_failures(void **state) {
    fx_t *f = *state;
    static const struct {
        const char *err_class;
        const char *text;
        bool repeat;
    } cases[] = {{"content_violation", "Чаще всего дело в фото", false},
                 {"rate_limited", "сервис генерации перегружен", true},
                 {"temporary", "техническая проблема", true},
                 {"timeout", "заняла слишком много времени", true},
                 {"unknown", "не получилось сгенерировать", true},
                 {"invalid_request", "не получилось сгенерировать", true},
                 {"billing", "не получилось сгенерировать", true},
                 {NULL, "не получилось сгенерировать", true}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s_reset(f, "ru", false);
        s_goto(f, SESSION_CONFIRM);
        s_press(f, FSM_CB_OK, NULL);
        int64_t job = f->jobs[0].id;
        //  a retry first: attempt 2 of 3, automatically
        s_job_event(f, job, JOB_QUEUED, -1, "rate_limited", 1, 0, NULL);
        s_expect_saw(f, "попытка 2 из 3");
        s_expect_saw(f, "перегружен");
        s_job_event(f, job, JOB_QUEUED, -1, "temporary", 2, 0, NULL);
        s_expect_saw(f, "временная ошибка");
        s_expect_saw(f, "попытка 3 из 3");
        s_job_event(f, job, JOB_FAILED, -1, cases[i].err_class, 3, 1, NULL);
        s_expect_saw(f, cases[i].text);
        s_expect_saw(f, "1 кредит вернули на баланс ✅");
        s_expect_way_out(f);
        assert_true((s_button(f, FSM_CB_REP, NULL) != NULL) == cases[i].repeat);
        //  the same failure again is not told twice
        s_job_event(f, job, JOB_FAILED, -1, cases[i].err_class, 3, 1, NULL);
        assert_int_equal(s_count(f, FSM_A_SEND), 0);
        //  later events of a finished job change nothing
        s_job_event(f, job, JOB_RUNNING, 50, NULL, 0, 0, NULL);
        assert_int_equal(fsm_actions_size(f->acts), 0);
    }
    //  no refund line when nothing came back; 3 credits in English
    s_reset(f, "en", false);
    s_goto(f, SESSION_MENU);
    s_job_event(f, 555, JOB_FAILED, -1, "timeout", 0, 0, NULL);
    assert_false(s_saw(f, "returned"));
    s_job_event(f, 556, JOB_FAILED, -1, "timeout", 0, 3, NULL);
    s_expect_saw(f, "3 credits returned to your balance ✅");
    //  a job we never saw starts its status message when it moves
    s_job_event(f, 557, JOB_RUNNING, 10, NULL, 0, 0, NULL);
    assert_int_equal(s_count(f, FSM_A_SEND), 1);
    s_expect_saw(f, "10%");
    //  an admin's cancel is told, with the credits
    s_job_event(f, 558, JOB_CANCELLED, -1, NULL, 0, 2, NULL);
    s_expect_saw(f, "2 credits returned");
    //  a result without a URL is an apology, not a crash
    s_job_event(f, 559, JOB_SUCCEEDED, -1, NULL, 0, 0, NULL);
    s_expect_saw(f, "couldn't get the file");
    s_job_event(f, 0, JOB_RUNNING, 10, NULL, 0, 0, NULL);
    assert_int_equal(fsm_actions_size(f->acts), 0);
    s_job_event(f, 560, JOB_UNKNOWN, 10, NULL, 0, 0, NULL);
    assert_int_equal(fsm_actions_size(f->acts), 0);
    //  more followed jobs than the session keeps: the oldest finished go
    for (int64_t id = 600; id < 600 + SESSION_TRACK_MAX + 5; id++)
        s_job_event(f, id, JOB_QUEUED, -1, NULL, 0, 0, NULL);
    assert_int_equal(f->s->job_count, SESSION_TRACK_MAX);
}

//  A status message still on its way when the job ends is edited once its
//  id arrives; a failed send is sent again by the next event.
static void test_status_message_races(void **state) {
    fx_t *f = *state;
    s_reset(f, "ru", false);
    s_goto(f, SESSION_MENU);
    fsm_actions_clear(f->acts);
    fsm_event_t ev = {.kind = FSM_EV_JOB,
                      .job = {.job_id = 900, .state = JOB_QUEUED, .progress = -1}};
    s_step_event(f, &ev);
    assert_int_equal(s_count(f, FSM_A_SEND), 1);
    ev.job.state = JOB_RUNNING;
    s_step_event(f, &ev); //  no second status message while the first is on its way
    assert_int_equal(s_count(f, FSM_A_SEND), 1);
    ev.job.state = JOB_FAILED;
    ev.job.err_class = "timeout";
    ev.job.credits_refunded = 1;
    s_step_event(f, &ev);
    fsm_actions_clear(f->acts);
    fsm_event_t sent = {.kind = FSM_EV_SENT, .sent = {{FSM_TAG_STATUS, 900}, true, 77}};
    s_step_event(f, &sent);
    assert_int_equal(s_count(f, FSM_A_EDIT), 1);
    assert_int_equal(s_count_req(f, MSG_K_JOB_STATUS_MSG), 1);
    assert_true(s_saw(f, "не получилось"));
    //  a failed send
    fsm_actions_clear(f->acts);
    ev = (fsm_event_t){.kind = FSM_EV_JOB, .job = {.job_id = 901, .state = JOB_QUEUED}};
    s_step_event(f, &ev);
    sent.sent = (fsm_sent_t){{FSM_TAG_STATUS, 901}, false, 0};
    s_step_event(f, &sent);
    fsm_actions_clear(f->acts);
    ev.job.state = JOB_RUNNING;
    ev.job.progress = -1;
    s_step_event(f, &ev);
    assert_int_equal(s_count(f, FSM_A_SEND), 1);
    //  results of sends nobody follows
    fsm_actions_clear(f->acts);
    sent.sent = (fsm_sent_t){{FSM_TAG_STATUS, 12345}, true, 5};
    s_step_event(f, &sent);
    sent.sent = (fsm_sent_t){{FSM_TAG_RESEND, 1}, true, 5};
    s_step_event(f, &sent);
    sent.sent = (fsm_sent_t){{FSM_TAG_DELIVER, 1}, false, 0};
    s_step_event(f, &sent);
    assert_int_equal(fsm_actions_size(f->acts), 0);
    sent.sent = (fsm_sent_t){{FSM_TAG_CONFIRM, 0}, true, 99};
    s_step_event(f, &sent);
    assert_int_equal(f->s->confirm_message_id, 99);
}

static void test_flood(void **state) {
    fx_t *f = *state;
    s_reset(f, "ru", false);
    s_goto(f, SESSION_MENU);
    f->now += 60000;
    for (int i = 0; i < 30; i++)
        s_text(f, "spam");
    assert_int_equal(s_count(f, FSM_A_SEND), 1); //  still answered
    s_text(f, "spam 31");
    s_expect_saw(f, "Слишком много сообщений подряд");
    s_expect_saw(f, "на 30 секунд");
    for (int i = 0; i < 20; i++) {
        s_text(f, "more");
        assert_int_equal(s_count(f, FSM_A_SEND) + s_count(f, FSM_A_EDIT), 0); //  told once
        assert_int_equal(s_count(f, FSM_A_LEDGER), 0);
    }
    s_cb(f, "1:0:menu");
    assert_string_equal(s_answer_text(f), "🐢 Слишком часто — подожди немного");
    assert_int_equal(s_count(f, FSM_A_SEND), 0);
    f->now += 30001;
    s_text(f, "back");
    assert_int_equal(s_count(f, FSM_A_SEND), 1);
    assert_false(s_saw(f, "Слишком много"));
    //  a limit of 0 turns it off
    f->config.flood_per_10s = 0;
    for (int i = 0; i < 100; i++)
        s_text(f, "x");
    assert_int_equal(s_count(f, FSM_A_SEND), 1);
}

static void test_lang_switch(void **state) {
    fx_t *f = *state;
    s_reset(f, "ru-RU", false);
    s_goto(f, SESSION_PRODUCT);
    s_cmd(f, "/lang");
    s_press(f, FSM_CB_LANG, "en");
    assert_int_equal(f->s->lang, I18N_EN);
    assert_true(f->s->lang_chosen);
    assert_int_equal(f->oneway[MSG_K_USER_TOUCH], 1);
    s_expect_saw(f, "Language: English");
    s_expect_saw(f, "Describe the product"); //  the step again, in English
    assert_int_equal(f->s->state, SESSION_PRODUCT);
    s_text(f, "a bottle");
    s_expect_saw(f, "Choose a video template");
    //  the client's language no longer decides
    f->lang_code = "ru";
    s_cmd(f, "/menu");
    s_expect_saw(f, "Main menu");
    //  the choice survives the DB
    uint8_t *data;
    size_t size;
    assert_int_equal(session_encode(f->s, &data, &size), 0);
    session_t *back = session_decode(data, size, NULL);
    free(data);
    assert_int_equal(back->lang, I18N_EN);
    assert_true(back->lang_chosen);
    session_destroy(&back);
    //  without a choice the client's language follows
    s_reset(f, "ru", false);
    s_goto(f, SESSION_MENU);
    f->lang_code = "de";
    s_cmd(f, "/menu");
    s_expect_saw(f, "Main menu");
}

static void test_account_and_info(void **state) {
    fx_t *f = *state;
    s_reset(f, "ru", false);
    s_goto(f, SESSION_MENU);
    f->held = 3;
    s_cmd(f, "/balance");
    s_expect_saw(f, "Баланс: <b>2 кредита</b>");
    s_expect_saw(f, "зарезервировано): 3 кредита");
    s_press(f, FSM_CB_ENTS, NULL);
    assert_int_equal(s_count(f, FSM_A_EDIT), 1);
    s_expect_saw(f, "↩️ возврат за видео #101");
    s_expect_saw(f, "корректировка: bonus &lt;x&gt;");
    s_expect_saw(f, "<b>+5</b>");
    s_expect_saw(f, "<b>−1</b>");
    s_expect_saw(f, "14.11.2023");
    s_press(f, FSM_CB_ACCT, NULL); //  ⬅️ Назад
    s_expect_saw(f, "Личный кабинет");
    s_cmd(f, "/buy");
    s_expect_saw(f, "5 кредитов — 250 ⭐");
    s_cmd(f, "/help");
    s_expect_saw(f, "/paysupport");
    s_cmd(f, "/support");
    s_expect_saw(f, "@genbot_help");
    assert_string_equal(f->last_kb.buttons[0].url, "https://t.me/genbot_help");
    s_cmd(f, "/paysupport");
    s_expect_saw(f, "@genbot_help");
    s_cmd(f, "/terms");
    s_expect_saw(f, "Условия");
    s_cmd(f, "/START");
    s_expect_saw(f, "С возвращением");
    f->config.support_contact = "<x> not a handle";
    s_cmd(f, "/support");
    s_expect_way_out(f);
    f->config.support_contact = NULL;
    s_cmd(f, "/paysupport");
    s_expect_saw(f, "/support");
}

//  A fresh session (new user, or one whose stored session was unreadable):
//  anything creates the account once and shows the menu; its old buttons
//  are answered "out of date".
static void test_new_session(void **state) {
    fx_t *f = *state;
    s_reset(f, "ru", false);
    s_cb(f, "1:17:tpl:ugc");
    assert_string_equal(s_answer_text(f), "Эта кнопка устарела");
    assert_int_equal(f->s->state, SESSION_MENU);
    s_expect_saw(f, "Дарю");
    s_reset(f, "ru", false);
    s_photo(f, 100);
    assert_int_equal(f->s->state, SESSION_MENU);
    s_reset(f, "ru", false);
    f->force_code = LEDGER_E_INTERNAL;
    s_text(f, "hi");
    assert_int_equal(f->s->state, SESSION_NEW);
    s_expect_way_out(f);
    s_text(f, "hi again");
    assert_int_equal(f->s->state, SESSION_MENU);
    assert_int_equal(f->balance, 2);
    //  a redelivered update is not handled twice
    f->update_id--;
    s_cmd(f, "/start");
    assert_int_equal(fsm_actions_size(f->acts), 0);
    f->update_id--;
    s_cb(f, "1:0:menu");
    assert_int_equal(fsm_actions_size(f->acts), 1); //  just the answer
    //  an update of another user is the shard's bug: answered, ignored
    fsm_update_t u = s_base(f, FSM_U_CALLBACK);
    u.user_id = OTHER;
    u.callback_data = "1:0:menu";
    u.callback_id = "q";
    s_user_event(f, &u);
    assert_string_equal(s_answer_text(f), "Эта кнопка устарела");
    //  commands spelled every way
    s_cmd(f, "start@genbot_bot");
    s_expect_saw(f, "С возвращением");
    fsm_update_t c = s_base(f, FSM_U_COMMAND);
    c.command = NULL;
    c.text = "/menu extra args";
    s_user_event(f, &c);
    s_expect_saw(f, "Главное меню");
    c = s_base(f, FSM_U_COMMAND);
    c.command = "/";
    s_user_event(f, &c);
    s_expect_saw(f, "Такой команды нет");
}

static void test_two_models(void **state) {
    fx_t *f = *state;
    s_reset(f, "ru", true);
    s_goto(f, SESSION_MODEL);
    assert_string_equal(f->last_kb.buttons[1].text, "Sora 2 Pro · 3 кредита");
    s_press(f, FSM_CB_MDL, NULL);
    char data[64];
    s_cb(f, "1:0:menu");
    s_goto(f, SESSION_MODEL);
    snprintf(data, sizeof data, "1:%u:mdl:1", f->s->screen_seq);
    s_cb(f, data);
    assert_string_equal(f->s->draft.model, "sora-2-pro");
    s_cb(f, "1:0:menu");
    s_goto(f, SESSION_MODEL);
    snprintf(data, sizeof data, "1:%u:mdl:7", f->s->screen_seq);
    s_cb(f, data);
    assert_string_equal(s_answer_text(f), "Эта кнопка устарела");
    assert_int_equal(f->s->state, SESSION_MODEL);
    //  a model disabled while the user was choosing the count
    s_cb(f, "1:0:menu");
    s_goto(f, SESSION_COUNT);
    f->models[0].enabled = false;
    s_press(f, FSM_CB_CNT, NULL);
    s_expect_saw(f, "модель сейчас недоступна");
    assert_int_equal(f->s->state, SESSION_MENU);
    f->models[1].enabled = false;
    s_cb(f, "1:0:new");
    s_expect_saw(f, "модель сейчас недоступна");
    s_expect_way_out(f);
}

static void test_callback_grammar(void **state) {
    (void)state;
    fsm_callback_t cb;
    assert_int_equal(fsm_cb_parse("1:0:menu", &cb), 0);
    assert_int_equal(cb.seq, 0);
    assert_int_equal(cb.action, FSM_CB_MENU);
    assert_int_equal(fsm_cb_parse("1:4294967295:job:9223372036854775807", &cb), 0);
    assert_int_equal(cb.seq, UINT32_MAX);
    assert_int_equal(cb.num, INT64_MAX);
    assert_int_equal(fsm_cb_parse("1:12:ok:lx3k9a2b-7", &cb), 0);
    assert_string_equal(cb.arg, "lx3k9a2b-7");
    assert_int_equal(fsm_cb_parse("1:3:tpl:own", &cb), 0);
    assert_int_equal(fsm_cb_parse("1:3:cnt:5", &cb), 0);
    assert_int_equal(cb.num, 5);
    static const char *const bad[] = {
        "",
        "1",
        "1:",
        "1:0",
        "1:0:",
        "0:0:menu",
        "2:0:menu",
        "1::menu",
        "1:01:menu",
        "1:-1:menu",
        "1:4294967296:menu",
        "1:99999999999:menu",
        "1:0:MENU",
        "1:0:menux",
        "1:0:menu:",
        "1:0:menu:1",
        "1:0:job",
        "1:0:job:",
        "1:0:job:0",
        "1:0:job:01",
        "1:0:job:-5",
        "1:0:job:9223372036854775808",
        "1:0:job:1x",
        "1:0:lang:de",
        "1:0:lang:",
        "1:0:tpl:UGC",
        "1:0:cnt:100",
        "1:0:cnt:05",
        "1:0:mdl:-1",
        "1:0:ok:ABC",
        "1:0:ok:",
        "1:0:ok:aaaaaaaaaaaaaaaaaaaaaaaaa",
        "1:0:ok:a b",
        "1:0:x:1",
        " 1:0:menu",
        "1:0:menu ",
        "1:0:menu\n",
        "1:0:job:1234567890123456789012345678901234567890123456789012345678"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (fsm_cb_parse(bad[i], &cb) == 0) fail_msg("accepted \"%s\"", bad[i]);
    assert_int_equal(fsm_cb_parse(NULL, &cb), -1);
    //  round trips of every action
    for (int a = 0; a < FSM_CB_COUNT_; a++) {
        fsm_callback_t in = {.seq = 77, .action = (fsm_cb_action_t)a, .num = 3};
        const char *args[] = {"ru", "ugc", "tok-1"};
        char data[I18N_CALLBACK_MAX + 1];
        int len = -1;
        for (size_t k = 0; k < 3 && len < 0; k++) {
            strcpy(in.arg, args[k]);
            len = fsm_cb_encode(&in, data, sizeof data);
        }
        if (len < 0) {
            in.arg[0] = 0;
            len = fsm_cb_encode(&in, data, sizeof data);
        }
        assert_true(len > 0 && len <= I18N_CALLBACK_MAX);
        assert_int_equal(fsm_cb_parse(data, &cb), 0);
        assert_int_equal(cb.action, a);
        assert_int_equal(cb.seq, 77);
        assert_string_equal(fsm_cb_name((fsm_cb_action_t)a), fsm_cb_name(cb.action));
    }
    fsm_callback_t bad_cb = {.seq = 1, .action = FSM_CB_JOB, .num = 0};
    char data[I18N_CALLBACK_MAX + 1];
    assert_int_equal(fsm_cb_encode(&bad_cb, data, sizeof data), -1);
    bad_cb.action = FSM_CB_COUNT_;
    assert_int_equal(fsm_cb_encode(&bad_cb, data, sizeof data), -1);
    assert_string_equal(fsm_cb_name(FSM_CB_COUNT_), "?");
    assert_string_equal(fsm_pending_name(FSM_PENDING_ORDER), "order");
    assert_string_equal(fsm_pending_name(99), "?");
}

//  --- the session codec ------------------------------------------------------------------

static uint32_t s_fnv1a(const uint8_t *data, size_t len) {
    uint32_t hash = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        hash ^= data[i];
        hash *= 16777619u;
    }
    return hash;
}

static void s_reseal(uint8_t *data, size_t size) {
    uint32_t sum = s_fnv1a(data, size - 4);
    for (int i = 0; i < 4; i++)
        data[size - 4 + i] = (uint8_t)(sum >> (8 * i));
}

static void s_round_trip(const session_t *s) {
    uint8_t *data, *again;
    size_t size, size2;
    assert_int_equal(session_encode(s, &data, &size), 0);
    assert_true(size <= MSG_MAX_SESSION);
    const char *err = "unset";
    session_t *back = session_decode(data, size, &err);
    assert_non_null(back);
    assert_null(err);
    assert_int_equal(session_encode(back, &again, &size2), 0);
    assert_int_equal(size, size2);
    assert_memory_equal(data, again, size);
    assert_int_equal(back->state, s->state);
    assert_int_equal(back->screen_seq, s->screen_seq);
    assert_int_equal(back->last_update_id, s->last_update_id);
    assert_string_equal(back->order_token, s->order_token);
    assert_int_equal(back->pending, FSM_PENDING_NONE); //  never stored
    session_destroy(&back);
    //  every truncation (sampled past the first 300) and every flipped
    //  byte (sampled) is refused
    for (size_t len = 0; len < size; len += len < 300 ? 1 : 1 + size / 300)
        assert_null(session_decode(data, len, NULL));
    for (size_t i = 0; i < size; i += 1 + size / 512) {
        data[i] ^= 0x5a;
        assert_null(session_decode(data, size, NULL));
        data[i] ^= 0x5a;
    }
    free(data);
    free(again);
}

static void test_session_codec(void **state) {
    fx_t *f = *state;
    static const session_state_t states[] = {SESSION_MENU,    SESSION_MODEL,    SESSION_PHOTO,
                                             SESSION_PRODUCT, SESSION_TEMPLATE, SESSION_WISHES,
                                             SESSION_PROMPT,  SESSION_COUNT,    SESSION_CONFIRM};
    s_reset(f, "ru", false);
    s_round_trip(f->s); //  NEW
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++) {
        s_reset(f, "ru", states[i] == SESSION_MODEL);
        s_goto(f, states[i]);
        s_round_trip(f->s);
    }
    //  after an order, with followed jobs and placed tokens
    s_press(f, FSM_CB_OK, NULL);
    s_job_event(f, f->jobs[0].id, JOB_RUNNING, 30, NULL, 0, 0, NULL);
    s_round_trip(f->s);
    //  the largest session: every text at its bound in 4-byte characters
    session_t *big = session_new(INT64_MAX, INT64_MIN, "en");
    char *text = malloc(SESSION_PROMPT_MAX * 4 + 1);
    text[0] = 0;
    for (int i = 0; i < SESSION_PRODUCT_MAX; i++)
        strcat(text, "😀");
    session_inputs_t *sides[] = {&big->draft, &big->last};
    for (int k = 0; k < 2; k++) {
        session_set_text(&sides[k]->product, text, strlen(text));
        session_set_text(&sides[k]->wishes, text, strlen(text));
        session_set_text(&sides[k]->prompt, text,
                         strlen(text) > SESSION_TEXT_BYTES_MAX ? SESSION_TEXT_BYTES_MAX
                                                               : strlen(text));
        memset(sides[k]->photo_id, 'p', SESSION_FILE_ID_MAX);
        memset(sides[k]->photo_uid, 'u', SESSION_FILE_ID_MAX);
        memset(sides[k]->model, 'm', SESSION_MODEL_MAX);
        sides[k]->tpl = SESSION_TPL_OWN;
        sides[k]->count = SESSION_COUNT_MAX;
    }
    memset(big->first_name, 'n', SESSION_NAME_MAX);
    for (int i = 0; i < SESSION_PLACED_MAX + 3; i++) {
        char token[SESSION_TOKEN_MAX + 1];
        snprintf(token, sizeof token, "%024d", i);
        session_token_remember(big, token);
    }
    assert_int_equal(big->placed_count, SESSION_PLACED_MAX);
    for (int64_t i = 0; i < SESSION_TRACK_MAX + 4; i++)
        session_job_track(big, INT64_MAX - i)->progress = 100;
    big->last_job_count = SESSION_LAST_JOBS_MAX;
    s_round_trip(big);
    free(text);

    //  garbage, foreign versions, bad values with a valid checksum
    uint8_t *data;
    size_t size;
    assert_int_equal(session_encode(big, &data, &size), 0);
    session_destroy(&big);
    data[3] = SESSION_VERSION + 1;
    s_reseal(data, size);
    const char *err = NULL;
    assert_null(session_decode(data, size, &err));
    assert_string_equal(err, "version");
    data[3] = SESSION_VERSION;
    size_t lang_at = 4 + 8 + 8 + 4 + SESSION_NAME_MAX;
    data[lang_at] = 9; //  no such language
    s_reseal(data, size);
    assert_null(session_decode(data, size, &err));
    data[lang_at] = 0;
    data[lang_at + 2] = SESSION_STATE_COUNT_; //  no such state
    s_reseal(data, size);
    assert_null(session_decode(data, size, &err));
    data[lang_at + 2] = SESSION_MENU;
    s_reseal(data, size);
    session_t *ok = session_decode(data, size, NULL);
    assert_non_null(ok);
    session_destroy(&ok);
    //  a trailing byte
    uint8_t *longer = malloc(size + 1);
    memcpy(longer, data, size - 4);
    longer[size - 4] = 0;
    memcpy(longer + size - 3, data + size - 4, 4);
    s_reseal(longer, size + 1);
    assert_null(session_decode(longer, size + 1, &err));
    free(longer);
    free(data);
    srand(7);
    uint8_t junk[512];
    for (int i = 0; i < 2000; i++) {
        size_t len = (size_t)(rand() % (int)sizeof junk);
        for (size_t k = 0; k < len; k++)
            junk[k] = (uint8_t)rand();
        if (i % 2 && len > 8) {
            memcpy(junk, "GBS\x01", 4);
            s_reseal(junk, len);
        }
        session_t *s = session_decode(junk, len, NULL);
        session_destroy(&s);
    }
    assert_null(session_decode(NULL, 10, NULL));
    assert_null(session_decode((const uint8_t *)"GBS", 3, NULL));
    //  the save request carries it
    msg_t *req = session_save_request(f->s, 12);
    assert_int_equal(msg_int(req, F_UPDATE_ID), 12);
    assert_string_equal(msg_str(req, F_STATE), "menu");
    msg_destroy(&req);
    assert_int_equal(session_state_parse("confirm"), SESSION_CONFIRM);
    assert_int_equal(session_state_parse("nope"), SESSION_STATE_COUNT_);
    assert_string_equal(session_state_name(SESSION_STATE_COUNT_), "?");
}

static void test_params_json(void **state) {
    (void)state;
    session_inputs_t in = {0}, out = {0};
    strcpy(in.model, FSM_DEFAULT_MODEL);
    strcpy(in.photo_id, "AgAC" MARK);
    strcpy(in.photo_uid, "uid");
    session_set_text(&in.product, "\"quoted\" \\ " MARK, strlen("\"quoted\" \\ " MARK));
    in.tpl = SESSION_TPL_AD;
    session_set_text(&in.wishes, "ж", 2);
    in.count = 3;
    char *json = session_params_json(&in, I18N_RU);
    strcpy(out.model, "kept");
    assert_int_equal(session_params_parse(json, &out), 0);
    assert_string_equal(out.model, "kept");
    assert_string_equal(out.product, in.product);
    assert_string_equal(out.wishes, "ж");
    assert_null(out.prompt);
    assert_int_equal(out.tpl, SESSION_TPL_AD);
    assert_int_equal(out.count, 3);
    assert_string_equal(out.photo_id, in.photo_id);
    assert_non_null(strstr(json, "\"lang\":\"ru\""));
    free(json);
    static const char *const bad[] = {
        "",
        "[]",
        "{",
        "null",
        "{\"template\":\"ugc\"}",
        "{\"template\":\"x\",\"photo_file_id\":\"p\"}",
        "{\"template\":\"own\",\"photo_file_id\":\"p\"}",
        "{\"template\":\"ugc\",\"photo_file_id\":\"p\",\"count\":11}",
        "{\"template\":\"ugc\",\"photo_file_id\":\"p\",\"count\":\"1\"}",
        "{\"template\":\"ugc\",\"photo_file_id\":1}",
        "{\"template\":\"ugc\",\"photo_file_id\":\"p\",\"product\":\"a\\u0000b\"}",
        "{\"template\":\"ugc\",\"template\":\"ad\",\"photo_file_id\":\"p\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (session_params_parse(bad[i], &out) == 0) fail_msg("accepted %s", bad[i]);
    assert_int_equal(session_params_parse(NULL, &out), -1);
    session_inputs_clear(&in);
    session_inputs_clear(&out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_happy_path_ru, setup, teardown),
        cmocka_unit_test_setup_teardown(test_happy_path_en, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_matrix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hints_and_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_everywhere, setup, teardown),
        cmocka_unit_test_setup_teardown(test_double_confirm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_reply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insufficient_credits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_order_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ledger_errors_everywhere, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_replies_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_repeat_and_cancel_from_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_message_races, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flood, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lang_switch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_account_and_info, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_session, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_models, setup, teardown),
        cmocka_unit_test_setup_teardown(test_callback_grammar, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_codec, setup, teardown),
        cmocka_unit_test_setup_teardown(test_params_json, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
