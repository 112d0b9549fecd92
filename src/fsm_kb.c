/*  fsm_kb.c — the callback_data grammar (see fsm.h) and the keyboard of
    every screen. Labels come from i18n; callback_data from fsm_cb_encode,
    so a button can only carry what fsm_cb_parse accepts.
*/
#include "fsm.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_SEQ_DIGITS_MAX 10
#define S_ID_DIGITS_MAX  19
#define S_TOKEN_CHARS    "0123456789abcdefghijklmnopqrstuvwxyz-"

typedef enum { S_ARG_NONE, S_ARG_ID, S_ARG_SMALL, S_ARG_LANG, S_ARG_TPL, S_ARG_TOKEN } s_arg_t;

static const struct {
    const char *name;
    s_arg_t arg;
    fsm_cb_scope_t scope;
} s_actions[FSM_CB_COUNT_] = {
#define FSM_CB_ROW(id, name, arg, scope) [FSM_CB_##id] = {name, S_ARG_##arg, FSM_CB_##scope},
    FSM_CB_ACTIONS(FSM_CB_ROW)
#undef FSM_CB_ROW
};

static int s_button(i18n_keyboard_t *kb, const char *label, uint32_t seq, fsm_cb_action_t action,
                    int64_t num, const char *arg);
static int s_label(i18n_keyboard_t *kb, i18n_lang_t lang, i18n_id_t label, uint32_t seq,
                   fsm_cb_action_t action, int64_t num, const char *arg);
static bool s_digits(const char *text, size_t len, size_t max_digits, uint64_t max,
                     uint64_t *value);
static bool s_arg_valid(s_arg_t kind, const char *arg, int64_t num);

//  --- callback data -----------------------------------------------------------

int fsm_cb_encode(const fsm_callback_t *cb, char *out, size_t size) {
    if ((int)cb->action < 0 || cb->action >= FSM_CB_COUNT_) return -1;
    s_arg_t kind = s_actions[cb->action].arg;
    if (!s_arg_valid(kind, cb->arg, cb->num)) return -1;
    int len;
    if (kind == S_ARG_NONE)
        len = snprintf(out, size, "1:%" PRIu32 ":%s", cb->seq, s_actions[cb->action].name);
    else if (kind == S_ARG_ID || kind == S_ARG_SMALL)
        len = snprintf(out, size, "1:%" PRIu32 ":%s:%" PRId64, cb->seq, s_actions[cb->action].name,
                       cb->num);
    else
        len = snprintf(out, size, "1:%" PRIu32 ":%s:%s", cb->seq, s_actions[cb->action].name,
                       cb->arg);
    if (len < 0 || (size_t)len >= size || len > I18N_CALLBACK_MAX) return -1;
    return len;
}

int fsm_cb_parse(const char *data, fsm_callback_t *cb) {
    memset(cb, 0, sizeof *cb);
    if (!data || strlen(data) > I18N_CALLBACK_MAX || strncmp(data, "1:", 2) != 0) return -1;
    const char *p = data + 2;
    size_t len = strcspn(p, ":");
    uint64_t value;
    if (p[len] != ':' || !s_digits(p, len, S_SEQ_DIGITS_MAX, UINT32_MAX, &value)) return -1;
    cb->seq = (uint32_t)value;
    p += len + 1;
    len = strcspn(p, ":");
    int action = -1;
    for (int i = 0; i < FSM_CB_COUNT_; i++)
        if (strlen(s_actions[i].name) == len && memcmp(p, s_actions[i].name, len) == 0) action = i;
    if (action < 0) return -1;
    cb->action = (fsm_cb_action_t)action;
    s_arg_t kind = s_actions[action].arg;
    p += len;
    if (kind == S_ARG_NONE) return *p ? -1 : 0;
    if (*p != ':') return -1;
    p++;
    len = strlen(p);
    if (kind == S_ARG_ID || kind == S_ARG_SMALL) {
        bool small = kind == S_ARG_SMALL;
        if (!s_digits(p, len, small ? 2 : S_ID_DIGITS_MAX, small ? 99 : INT64_MAX, &value))
            return -1;
        cb->num = (int64_t)value;
    } else {
        if (len > SESSION_TOKEN_MAX) return -1;
        memcpy(cb->arg, p, len + 1);
    }
    return s_arg_valid(kind, cb->arg, cb->num) ? 0 : -1;
}

const char *fsm_cb_name(fsm_cb_action_t action) {
    return (int)action >= 0 && action < FSM_CB_COUNT_ ? s_actions[action].name : "?";
}

fsm_cb_scope_t fsm_cb_scope(fsm_cb_action_t action) {
    return (int)action >= 0 && action < FSM_CB_COUNT_ ? s_actions[action].scope : FSM_CB_STEP;
}

//  --- keyboards -----------------------------------------------------------------

int fsm_kb_menu(i18n_keyboard_t *kb, i18n_lang_t lang, uint32_t seq) {
    i18n_kb_clear(kb);
    int rc = s_label(kb, lang, I18N_B_CREATE, seq, FSM_CB_NEW, 0, NULL);
    i18n_kb_row(kb);
    rc |= s_label(kb, lang, I18N_B_HISTORY, seq, FSM_CB_HIST, 0, NULL);
    rc |= s_label(kb, lang, I18N_B_ACCOUNT, seq, FSM_CB_ACCT, 0, NULL);
    i18n_kb_row(kb);
    rc |= s_label(kb, lang, I18N_B_SUPPORT, seq, FSM_CB_HELP, 0, NULL);
    return rc;
}

int fsm_kb_to_menu(i18n_keyboard_t *kb, i18n_lang_t lang, uint32_t seq) {
    i18n_kb_clear(kb);
    return s_label(kb, lang, I18N_B_MENU, seq, FSM_CB_MENU, 0, NULL);
}

int fsm_kb_step_cancel(i18n_keyboard_t *kb, i18n_lang_t lang, uint32_t seq) {
    i18n_kb_clear(kb);
    return s_label(kb, lang, I18N_B_CANCEL, seq, FSM_CB_X, 0, NULL);
}

int fsm_kb_models(i18n_keyboard_t *kb, i18n_lang_t lang, uint32_t seq, const fsm_config_t *config) {
    i18n_kb_clear(kb);
    int rc = 0;
    for (size_t i = 0; i < config->model_count && i < FSM_MODELS_MAX; i++) {
        const fsm_model_t *model = &config->models[i];
        if (!model->enabled) continue;
        char *price = i18n_count(lang, I18N_N_CREDIT, model->price);
        i18n_arg_t args[] = {I18N_H(fsm_model_title(model, lang)), I18N_H(price)};
        char *label = i18n_format(lang, I18N_B_MODEL, args, 2);
        i18n_kb_row(kb);
        rc |= s_button(kb, label, seq, FSM_CB_MDL, (int64_t)i, NULL);
        free(label);
        free(price);
    }
    i18n_kb_row(kb);
    rc |= s_label(kb, lang, I18N_B_CANCEL, seq, FSM_CB_X, 0, NULL);
    return rc;
}

int fsm_kb_templates(i18n_keyboard_t *kb, i18n_lang_t lang, uint32_t seq) {
    i18n_kb_clear(kb);
    int rc = s_label(kb, lang, I18N_B_TPL_UGC, seq, FSM_CB_TPL, 0, "ugc");
    rc |= s_label(kb, lang, I18N_B_TPL_AD, seq, FSM_CB_TPL, 0, "ad");
    i18n_kb_row(kb);
    rc |= s_label(kb, lang, I18N_B_TPL_OWN, seq, FSM_CB_TPL, 0, "own");
    i18n_kb_row(kb);
    rc |= s_label(kb, lang, I18N_B_CANCEL, seq, FSM_CB_X, 0, NULL);
    return rc;
}

//  Keycap emoji for 0..10, else the plain number.
static void s_keycap(int64_t n, char *out, size_t size) {
    if (n >= 0 && n <= 9)
        snprintf(out, size, "%d\xEF\xB8\x8F\xE2\x83\xA3", (int)n);
    else if (n == 10)
        snprintf(out, size, "\xF0\x9F\x94\x9F");
    else
        snprintf(out, size, "%" PRId64, n);
}

int fsm_kb_counts(i18n_keyboard_t *kb, i18n_lang_t lang, uint32_t seq, const fsm_config_t *config,
                  int64_t price, bool topup) {
    i18n_kb_clear(kb);
    int rc = 0;
    for (size_t i = 0; i < config->count_count && i < FSM_COUNTS_MAX; i++) {
        int64_t n = config->counts[i];
        char keycap[32];
        s_keycap(n, keycap, sizeof keycap);
        char *videos = i18n_count(lang, I18N_N_VIDEO, n);
        char *cost = i18n_count(lang, I18N_N_CREDIT, n * price);
        i18n_arg_t args[] = {I18N_H(keycap), I18N_H(videos), I18N_H(cost)};
        char *label = i18n_format(lang, I18N_B_COUNT, args, 3);
        i18n_kb_row(kb);
        rc |= s_button(kb, label, seq, FSM_CB_CNT, n, NULL);
        free(label);
        free(cost);
        free(videos);
    }
    i18n_kb_row(kb);
    if (topup) rc |= s_label(kb, lang, I18N_B_TOPUP, seq, FSM_CB_BUY, 0, NULL);
    rc |= s_label(kb, lang, I18N_B_CANCEL, seq, FSM_CB_X, 0, NULL);
    return rc;
}

int fsm_kb_confirm(i18n_keyboard_t *kb, i18n_lang_t lang, uint32_t seq, const char *token) {
    i18n_kb_clear(kb);
    int rc = s_label(kb, lang, I18N_B_LAUNCH, seq, FSM_CB_OK, 0, token);
    rc |= s_label(kb, lang, I18N_B_CANCEL, seq, FSM_CB_X, 0, NULL);
    return rc;
}

int fsm_kb_order_retry(i18n_keyboard_t *kb, i18n_lang_t lang, uint32_t seq, const char *token) {
    i18n_kb_clear(kb);
    int rc = s_label(kb, lang, I18N_B_RETRY, seq, FSM_CB_OK, 0, token);
    i18n_kb_row(kb);
    rc |= s_label(kb, lang, I18N_B_MENU, 0, FSM_CB_MENU, 0, NULL);
    return rc;
}

int fsm_kb_accepted(i18n_keyboard_t *kb, i18n_lang_t lang) {
    i18n_kb_clear(kb);
    int rc = s_label(kb, lang, I18N_B_HISTORY, 0, FSM_CB_HIST, 0, NULL);
    rc |= s_label(kb, lang, I18N_B_MENU, 0, FSM_CB_MENU, 0, NULL);
    return rc;
}

int fsm_kb_result(i18n_keyboard_t *kb, i18n_lang_t lang, int64_t job_id) {
    i18n_kb_clear(kb);
    int rc = s_label(kb, lang, I18N_B_AGAIN, 0, FSM_CB_REP, job_id, NULL);
    rc |= s_label(kb, lang, I18N_B_MENU, 0, FSM_CB_MENU, 0, NULL);
    return rc;
}

int fsm_kb_failure(i18n_keyboard_t *kb, i18n_lang_t lang, int64_t job_id, bool repeat) {
    i18n_kb_clear(kb);
    int rc = 0;
    if (repeat) rc |= s_label(kb, lang, I18N_B_REPEAT, 0, FSM_CB_REP, job_id, NULL);
    rc |= s_label(kb, lang, I18N_B_CREATE, 0, FSM_CB_NEW, 0, NULL);
    i18n_kb_row(kb);
    rc |= s_label(kb, lang, I18N_B_MENU, 0, FSM_CB_MENU, 0, NULL);
    return rc;
}

int fsm_kb_history(i18n_keyboard_t *kb, i18n_lang_t lang, uint32_t seq, const int64_t *job_ids,
                   const char *const *marks, size_t n) {
    i18n_kb_clear(kb);
    int rc = 0;
    for (size_t i = 0; i < n && i < FSM_HISTORY_LIMIT; i++) {
        if (i % 2 == 0) i18n_kb_row(kb);
        i18n_arg_t args[] = {I18N_H(marks[i]), I18N_I(job_ids[i])};
        char *label = i18n_format(lang, I18N_B_JOB, args, 2);
        rc |= s_button(kb, label, seq, FSM_CB_JOB, job_ids[i], NULL);
        free(label);
    }
    i18n_kb_row(kb);
    rc |= s_label(kb, lang, I18N_B_CREATE, seq, FSM_CB_NEW, 0, NULL);
    rc |= s_label(kb, lang, I18N_B_MENU, seq, FSM_CB_MENU, 0, NULL);
    return rc;
}

int fsm_kb_job(i18n_keyboard_t *kb, i18n_lang_t lang, uint32_t seq, int64_t job_id,
               bool can_cancel) {
    i18n_kb_clear(kb);
    int rc = s_label(kb, lang, I18N_B_REPEAT, seq, FSM_CB_REP, job_id, NULL);
    if (can_cancel) rc |= s_label(kb, lang, I18N_B_CANCEL_JOB, seq, FSM_CB_CXL, job_id, NULL);
    i18n_kb_row(kb);
    rc |= s_label(kb, lang, I18N_B_BACK, seq, FSM_CB_HIST, 0, NULL);
    rc |= s_label(kb, lang, I18N_B_MENU, seq, FSM_CB_MENU, 0, NULL);
    return rc;
}

int fsm_kb_account(i18n_keyboard_t *kb, i18n_lang_t lang, uint32_t seq) {
    i18n_kb_clear(kb);
    int rc = s_label(kb, lang, I18N_B_TOPUP, seq, FSM_CB_BUY, 0, NULL);
    rc |= s_label(kb, lang, I18N_B_ENTRIES, seq, FSM_CB_ENTS, 0, NULL);
    i18n_kb_row(kb);
    rc |= s_label(kb, lang, I18N_B_MENU, seq, FSM_CB_MENU, 0, NULL);
    return rc;
}

int fsm_kb_entries(i18n_keyboard_t *kb, i18n_lang_t lang, uint32_t seq) {
    i18n_kb_clear(kb);
    int rc = s_label(kb, lang, I18N_B_BACK, seq, FSM_CB_ACCT, 0, NULL);
    rc |= s_label(kb, lang, I18N_B_MENU, seq, FSM_CB_MENU, 0, NULL);
    return rc;
}

//  A t.me button when contact is an "@handle" Telegram would accept.
int fsm_kb_support(i18n_keyboard_t *kb, i18n_lang_t lang, uint32_t seq, const char *contact) {
    i18n_kb_clear(kb);
    int rc = 0;
    if (contact && contact[0] == '@') {
        size_t len = strlen(contact + 1);
        if (len >= 5 && len <= 32 &&
            strspn(contact + 1,
                   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == len) {
            char url[64];
            snprintf(url, sizeof url, "https://t.me/%s", contact + 1);
            rc |= i18n_kb_url(kb, i18n_text(lang, I18N_B_CONTACT), url);
            i18n_kb_row(kb);
        }
    }
    rc |= s_label(kb, lang, I18N_B_MENU, seq, FSM_CB_MENU, 0, NULL);
    return rc;
}

int fsm_kb_lang(i18n_keyboard_t *kb, uint32_t seq) {
    i18n_kb_clear(kb);
    int rc = s_label(kb, I18N_RU, I18N_B_LANG_RU, seq, FSM_CB_LANG, 0, "ru");
    rc |= s_label(kb, I18N_EN, I18N_B_LANG_EN, seq, FSM_CB_LANG, 0, "en");
    return rc;
}

const char *fsm_job_mark(job_state_t state) {
    switch (state) {
    case JOB_QUEUED:
        return "⏳";
    case JOB_RUNNING:
    case JOB_SUBMITTED:
        return "🔄";
    case JOB_SUCCEEDED:
    case JOB_DELIVERED:
        return "✅";
    case JOB_FAILED:
        return "❌";
    case JOB_CANCELLED:
        return "🚫";
    default:
        return "•";
    }
}

//  --- private -------------------------------------------------------------------

static int s_button(i18n_keyboard_t *kb, const char *label, uint32_t seq, fsm_cb_action_t action,
                    int64_t num, const char *arg) {
    fsm_callback_t cb = {.seq = seq, .action = action, .num = num};
    if (arg) {
        if (strlen(arg) > SESSION_TOKEN_MAX) return -1;
        strcpy(cb.arg, arg);
    }
    char data[I18N_CALLBACK_MAX + 1];
    if (fsm_cb_encode(&cb, data, sizeof data) < 0) return -1;
    return i18n_kb_button(kb, label, data);
}

static int s_label(i18n_keyboard_t *kb, i18n_lang_t lang, i18n_id_t label, uint32_t seq,
                   fsm_cb_action_t action, int64_t num, const char *arg) {
    return s_button(kb, i18n_text(lang, label), seq, action, num, arg);
}

//  1..max_digits decimal digits, no leading zero (but "0"), value <= max.
static bool s_digits(const char *text, size_t len, size_t max_digits, uint64_t max,
                     uint64_t *value) {
    if (len == 0 || len > max_digits || (len > 1 && text[0] == '0')) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9') return false;
        uint64_t digit = (uint64_t)(text[i] - '0');
        if (v > (max - digit) / 10) return false;
        v = v * 10 + digit;
    }
    *value = v;
    return true;
}

static bool s_arg_valid(s_arg_t kind, const char *arg, int64_t num) {
    size_t len = strlen(arg);
    switch (kind) {
    case S_ARG_NONE:
        return true;
    case S_ARG_ID:
        return num > 0;
    case S_ARG_SMALL:
        return num >= 0 && num <= 99;
    case S_ARG_LANG:
        return strcmp(arg, "ru") == 0 || strcmp(arg, "en") == 0;
    case S_ARG_TPL:
        return session_template_parse(arg) != SESSION_TPL_NONE;
    case S_ARG_TOKEN:
        return len > 0 && len <= SESSION_TOKEN_MAX && strspn(arg, S_TOKEN_CHARS) == len;
    }
    return false;
}
