/*  scn_users.c — the simulated users of a scenario and the thread that
    drives them.

    Each user is a small state machine: it does one thing (a text, a photo,
    a button press), then waits until the bot says what that step should
    lead to (a substring of a sendMessage/editMessageText in its chat, or an
    answerCallbackQuery), then thinks for a while and does the next thing.
    What the bot says reaches the driver through tgsim_on_call: the
    simulator's threads only queue the (immutable) call records; this
    thread reads them, matches them to users by chat, and acts. Thousands of
    users are in flight at once; none of them blocks.

    Latency: every update a user causes is remembered with its update_id;
    the first successful bot call in that chat that answers it (an
    answerCallbackQuery for a button press; a sendMessage/editMessageText
    that is not a job's status, result or failure for a message) ends it,
    and the sample is that call's time minus the update's queued (and
    delivered) time from tgsim_update_times. Everything is tgsim_clock_ms.

    Results: a sendVideo whose caption names "Video #N" (or the link message
    "Video #N is ready! Download") delivers job N; another message naming
    "Video #N" that is not its status line is its failure notice. These
    give the bench's own tally: jobs ordered, delivered, credits captured.

    Users speak English (language_code "en"): the texts below are from
    src/i18n_en.c. SCN_DEBUG=1 in the environment prints the chat of a user
    whose button press was answered "out of date" when it should not be.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "scn.h"

#define S_PEND_MAX    8
#define S_TICK_MS     100
#define S_TIMEOUTS_MS 250

//  What a user does next when its time comes.
typedef enum {
    ST_START,    //  /start
    ST_MENU,     //  /menu (also how a user gets back on track)
    ST_IDLE,     //  chooses by the scenario
    ST_CREATE,   //  🎬 Create video
    ST_PHOTO,    //  the photo
    ST_PRODUCT,  //  the product text
    ST_TEMPLATE, //  a template button
    ST_PROMPT,   //  own prompt text
    ST_WISHES,   //  wishes, "-" or a line
    ST_COUNT,    //  a count button
    ST_CONFIRM,  //  ✅ (sometimes twice)
    ST_DONE
} s_step_t;

//  What was asked, to read the answer (the step just done).
typedef enum {
    ASK_NONE,
    ASK_MENU,
    ASK_CREATE_MENU, //  /menu on the way to 🎬
    ASK_CREATE,
    ASK_PHOTO,
    ASK_PRODUCT,
    ASK_TEMPLATE,
    ASK_PROMPT,
    ASK_WISHES,
    ASK_COUNT,
    ASK_CONFIRM,
    ASK_HISTORY,
    ASK_JOB,
    ASK_OLD,
    ASK_ACCOUNT,
    ASK_ENTRIES,
    ASK_HELP
} s_ask_t;

typedef enum { SCR_NONE, SCR_MENU, SCR_ACCOUNT, SCR_ENTRIES, SCR_HISTORY, SCR_OTHER } s_screen_t;

typedef struct {
    int64_t update_id;
    bool callback;
    int phase;
} s_pend_t;

typedef struct s_user {
    scn_tally_t tally;
    size_t index;
    s_step_t step;
    //  waiting for the bot
    s_ask_t ask;
    const char *const *expect; //  NULL-terminated substrings
    bool expect_answer;        //  an answerCallbackQuery ends the step
    uint64_t after_seq;        //  only calls after the action count
    int64_t waiting_since;     //  0 = not waiting
    //  the screen last shown
    s_screen_t screen;
    int64_t screen_msg;
    //  the order being made, and an older one's ✅
    int count;
    int64_t confirm_msg;
    char confirm_data[72];
    int64_t old_msg;
    char old_data[72];
    bool waiting_results;
    bool tapped_twice; //  the second ✅ may be answered "out of date" first
    //  updates not answered yet
    s_pend_t pend[S_PEND_MAX];
    int pend_n;
    //  scheduling
    int64_t due_ms;
    long heap_pos; //  -1 = not scheduled
} s_user_t;

struct scn_driver_s {
    tgsim_t *sim;
    const scn_opts_t *opts;
    s_user_t *users;
    size_t n;
    //  calls from the simulator's threads
    pthread_mutex_t lock;
    pthread_cond_t cond;
    const tgsim_call_t **events;
    size_t ev_n, ev_cap;
    const tgsim_call_t **work;
    size_t work_cap;
    //  users by due time
    s_user_t **heap;
    size_t heap_n;
    //  users due but waiting for the offered rate
    s_user_t **ready;
    size_t ready_head, ready_n;
    double tokens;
    int64_t tokens_ns;
    //  state
    int phase;
    bool draining;
    size_t waiting; //  users waiting for an answer
    int64_t outstanding;
    scn_phase_t phases[SCN_PHASES];
    scn_counters_t counters;
    scn_job_t *jobs;
    size_t jobs_cap;
    uint64_t rng;
    void (*tick_fn)(void *arg);
    void *tick_arg;
    int64_t last_timeouts;
    bool aborted;
    bool holding; //  settling between phases: due users wait, answers are not counted
};

//  The bot's texts (src/i18n_en.c).
static const char *const E_MENU[] = {"Main menu", NULL};
static const char *const E_ASK_PHOTO[] = {"Send a photo", NULL};
static const char *const E_ASK_PRODUCT[] = {"Describe the product", NULL};
static const char *const E_ASK_TEMPLATE[] = {"Choose a video template", NULL};
static const char *const E_ASK_WISHES[] = {"extra wishes", NULL};
static const char *const E_ASK_PROMPT[] = {"Send your prompt", NULL};
static const char *const E_ASK_COUNT[] = {"How many videos", NULL};
static const char *const E_COUNTED[] = {"Ready to launch", "Not enough credits", NULL};
static const char *const E_ORDER[] = {"Got it", "maximum in progress",
                                      "Too many orders in a minute", "Not enough credits", NULL};
static const char *const E_HISTORY[] = {"My generations", "No generations yet", NULL};
static const char *const E_JOB[] = {"Generation #", "No such generation", NULL};
static const char *const E_ACCOUNT[] = {"In progress (held)", NULL};
static const char *const E_ENTRIES[] = {"balance changes", NULL};
static const char *const E_HELP[] = {"How it works", NULL};
#define T_INTERNAL "Something went wrong"
#define T_FLOOD    "Too many messages in a row"
#define T_STALE    "out of date"
#define T_ALREADY  "already running"
#define T_VIDEO    "Video #"
#define T_STATUS   "\xF0\x9F\x8E\xAC Video #" //  🎬 Video #N: state

static void s_on_call(const tgsim_call_t *call, void *arg);
static void s_act(scn_driver_t *d, s_user_t *u);
static void s_schedule(scn_driver_t *d, s_user_t *u, int64_t due_ms);
static void s_recover(scn_driver_t *d, s_user_t *u);

//  --- small things ------------------------------------------------------------

static uint64_t s_rand(scn_driver_t *d) {
    d->rng ^= d->rng >> 12;
    d->rng ^= d->rng << 25;
    d->rng ^= d->rng >> 27;
    return d->rng * 2685821657736338717ULL;
}

static double s_uniform(scn_driver_t *d) {
    return (double)(s_rand(d) >> 11) / (double)(1ULL << 53);
}

static int64_t s_think(scn_driver_t *d) {
    int think = d->opts->think_ms;
    if (think <= 0) return 0;
    return (int64_t)(think * (0.5 + s_uniform(d)));
}

static int64_t s_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void scn_samples_add(scn_samples_t *s, uint32_t v) {
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 4096;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (!s->v) abort();
    }
    s->v[s->n++] = v;
}

void scn_samples_free(scn_samples_t *s) {
    free(s->v);
    memset(s, 0, sizeof *s);
}

static int s_cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

double scn_samples_pct(scn_samples_t *s, double p) {
    if (!s->n) return -1;
    qsort(s->v, s->n, sizeof *s->v, s_cmp_u32);
    size_t i = (size_t)((double)(s->n - 1) * p / 100.0 + 0.5);
    return s->v[i < s->n ? i : s->n - 1];
}

static scn_job_t *s_job(scn_driver_t *d, int64_t job_id) {
    if (job_id <= 0 || job_id > 100000000) return NULL;
    if ((size_t)job_id >= d->jobs_cap) {
        size_t cap = d->jobs_cap ? d->jobs_cap : 1024;
        while (cap <= (size_t)job_id)
            cap *= 2;
        d->jobs = realloc(d->jobs, cap * sizeof *d->jobs);
        if (!d->jobs) abort();
        memset(d->jobs + d->jobs_cap, 0, (cap - d->jobs_cap) * sizeof *d->jobs);
        d->jobs_cap = cap;
    }
    return &d->jobs[job_id];
}

//  --- the heap of due users --------------------------------------------------------

static void s_heap_swap(scn_driver_t *d, size_t a, size_t b) {
    s_user_t *t = d->heap[a];
    d->heap[a] = d->heap[b];
    d->heap[b] = t;
    d->heap[a]->heap_pos = (long)a;
    d->heap[b]->heap_pos = (long)b;
}

static void s_heap_up(scn_driver_t *d, size_t i) {
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (d->heap[parent]->due_ms <= d->heap[i]->due_ms) break;
        s_heap_swap(d, i, parent);
        i = parent;
    }
}

static void s_heap_down(scn_driver_t *d, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < d->heap_n && d->heap[l]->due_ms < d->heap[m]->due_ms) m = l;
        if (r < d->heap_n && d->heap[r]->due_ms < d->heap[m]->due_ms) m = r;
        if (m == i) break;
        s_heap_swap(d, i, m);
        i = m;
    }
}

static void s_heap_remove(scn_driver_t *d, s_user_t *u) {
    if (u->heap_pos < 0) return;
    size_t i = (size_t)u->heap_pos;
    d->heap_n--;
    if (i != d->heap_n) {
        d->heap[i] = d->heap[d->heap_n];
        d->heap[i]->heap_pos = (long)i;
        s_heap_down(d, i);
        s_heap_up(d, i);
    }
    u->heap_pos = -1;
}

static void s_schedule(scn_driver_t *d, s_user_t *u, int64_t due_ms) {
    s_heap_remove(d, u);
    u->due_ms = due_ms;
    u->heap_pos = (long)d->heap_n;
    d->heap[d->heap_n++] = u;
    s_heap_up(d, (size_t)u->heap_pos);
}

//  --- actions -------------------------------------------------------------------

static void s_expect(scn_driver_t *d, s_user_t *u, s_ask_t ask, const char *const *expect,
                     bool answer) {
    if (!u->waiting_since) d->waiting++;
    u->ask = ask;
    u->expect = expect;
    u->expect_answer = answer;
    u->waiting_since = scn_now_ms();
}

static void s_unwait(scn_driver_t *d, s_user_t *u) {
    if (u->waiting_since) d->waiting--;
    u->waiting_since = 0;
    u->ask = ASK_NONE;
}

static void s_sent(scn_driver_t *d, s_user_t *u, int64_t update_id, bool callback) {
    if (update_id <= 0) return;
    if (u->pend_n == S_PEND_MAX) { //  never answered: forgotten
        memmove(u->pend, u->pend + 1, (S_PEND_MAX - 1) * sizeof *u->pend);
        u->pend_n--;
        d->counters.unmatched++;
    }
    u->pend[u->pend_n++] = (s_pend_t){update_id, callback, d->phase};
    d->phases[d->phase].updates_sent++;
}

static void s_mark(scn_driver_t *d, s_user_t *u) {
    u->after_seq = tgsim_seq(d->sim);
}

static bool s_text(scn_driver_t *d, s_user_t *u, const char *text) {
    s_mark(d, u);
    int64_t id = tgsim_send_text(d->sim, u->tally.id, text);
    s_sent(d, u, id, false);
    return id > 0;
}

static bool s_photo(scn_driver_t *d, s_user_t *u) {
    s_mark(d, u);
    int64_t id = tgsim_send_photo(d->sim, u->tally.id, NULL, 0, NULL);
    s_sent(d, u, id, false);
    return id > 0;
}

static bool s_press(scn_driver_t *d, s_user_t *u, int64_t message, const char *label) {
    if (!message) return false;
    s_mark(d, u);
    int64_t id = tgsim_press_label(d->sim, u->tally.id, message, label);
    s_sent(d, u, id, true);
    return id > 0;
}

static bool s_press_data(scn_driver_t *d, s_user_t *u, int64_t message, const char *data) {
    s_mark(d, u);
    int64_t id = tgsim_press(d->sim, u->tally.id, message, data);
    s_sent(d, u, id, true);
    return id > 0;
}

static bool s_press_index(scn_driver_t *d, s_user_t *u, int64_t message, size_t index) {
    s_mark(d, u);
    int64_t id = tgsim_press_button(d->sim, u->tally.id, message, index);
    s_sent(d, u, id, true);
    return id > 0;
}

//  A wishes/prompt line that sets the KIE task's duration (kiesim marker).
static void s_marker(scn_driver_t *d, char *out, size_t size) {
    const scn_opts_t *o = d->opts;
    out[0] = 0;
    if (o->task_max_ms > o->task_min_ms) {
        int64_t ms = o->task_min_ms +
                     (int64_t)(s_uniform(d) * (double)(o->task_max_ms - o->task_min_ms + 1));
        snprintf(out, size, "[[sim:duration=%" PRId64 "]] ", ms);
    }
}

//  Interactive: what to look at next, by the screen the user is on.
static void s_idle_interactive(scn_driver_t *d, s_user_t *u) {
    double r = s_uniform(d);
    switch (u->screen) {
    case SCR_MENU:
        if (r < 0.25 && s_press(d, u, u->screen_msg, "Account"))
            s_expect(d, u, ASK_ACCOUNT, E_ACCOUNT, false);
        else if (r < 0.45 && s_press(d, u, u->screen_msg, "My generations"))
            s_expect(d, u, ASK_HISTORY, E_HISTORY, false);
        else if (r < 0.6 && s_text(d, u, "/help"))
            s_expect(d, u, ASK_HELP, E_HELP, false);
        else if (r < 0.8 && s_text(d, u, "/balance"))
            s_expect(d, u, ASK_ACCOUNT, E_ACCOUNT, false);
        else if (s_text(d, u, "/menu"))
            s_expect(d, u, ASK_MENU, E_MENU, false);
        return;
    case SCR_ACCOUNT:
        if (r < 0.5 && s_press(d, u, u->screen_msg, "\xF0\x9F\x93\x9C")) //  📜
            s_expect(d, u, ASK_ENTRIES, E_ENTRIES, false);
        else if (r < 0.8 && s_press(d, u, u->screen_msg, "Menu"))
            s_expect(d, u, ASK_MENU, E_MENU, false);
        else if (s_text(d, u, "/help"))
            s_expect(d, u, ASK_HELP, E_HELP, false);
        return;
    case SCR_ENTRIES:
        if (r < 0.5 && s_press(d, u, u->screen_msg, "Back"))
            s_expect(d, u, ASK_ACCOUNT, E_ACCOUNT, false);
        else if (s_press(d, u, u->screen_msg, "Menu"))
            s_expect(d, u, ASK_MENU, E_MENU, false);
        return;
    case SCR_HISTORY:
        if (r < 0.7 && s_press(d, u, u->screen_msg, "Menu"))
            s_expect(d, u, ASK_MENU, E_MENU, false);
        else if (s_text(d, u, "/history"))
            s_expect(d, u, ASK_HISTORY, E_HISTORY, false);
        return;
    default:
        if (s_text(d, u, "/menu")) s_expect(d, u, ASK_MENU, E_MENU, false);
        return;
    }
}

//  Orders: an old button, a look at My generations, waiting, or an order.
static void s_idle_orders(scn_driver_t *d, s_user_t *u) {
    const scn_opts_t *o = d->opts;
    double r = s_uniform(d);
    if (o->mode == SCN_MODE_FANOUT) {
        if (u->tally.jobs_expected > 0) { //  one order each, then the results
            if (u->tally.outstanding > 0)
                u->waiting_results = true;
            else
                u->step = ST_DONE;
            return;
        }
        u->step = ST_CREATE;
        s_act(d, u);
        return;
    }
    if (u->old_msg && r < o->p_old) {
        d->counters.old_buttons++;
        if (s_press_data(d, u, u->old_msg, u->old_data)) {
            s_expect(d, u, ASK_OLD, NULL, true);
            return;
        }
    }
    r = s_uniform(d);
    if (r < o->p_browse) {
        d->counters.browses++;
        if (s_press(d, u, u->screen_msg, "My generations") || s_text(d, u, "/history")) {
            s_expect(d, u, ASK_HISTORY, E_HISTORY, false);
            return;
        }
    }
    if (u->tally.outstanding > 0 && s_uniform(d) < o->p_wait) {
        u->waiting_results = true; //  woken by the last result
        return;
    }
    u->step = ST_CREATE;
    s_act(d, u);
}

static void s_act(scn_driver_t *d, s_user_t *u) {
    const scn_opts_t *o = d->opts;
    if (u->step == ST_DONE || u->waiting_since) return;
    //  draining: nothing new is started
    if (d->draining && u->step != ST_START) {
        u->step = ST_DONE;
        return;
    }
    char line[256], marker[64];
    switch (u->step) {
    case ST_START:
        if (s_text(d, u, "/start")) s_expect(d, u, ASK_MENU, E_MENU, false);
        break;
    case ST_MENU:
        if (s_text(d, u, "/menu")) s_expect(d, u, ASK_MENU, E_MENU, false);
        break;
    case ST_IDLE:
        if (o->mode == SCN_MODE_INTERACTIVE)
            s_idle_interactive(d, u);
        else
            s_idle_orders(d, u);
        break;
    case ST_CREATE:
        if (s_press(d, u, u->screen_msg, "Create video"))
            s_expect(d, u, ASK_CREATE, E_ASK_PHOTO, false);
        else if (s_text(d, u, "/menu"))
            s_expect(d, u, ASK_CREATE_MENU, E_MENU, false);
        break;
    case ST_PHOTO:
        if (s_photo(d, u)) s_expect(d, u, ASK_PHOTO, E_ASK_PRODUCT, false);
        break;
    case ST_PRODUCT:
        if (s_text(d, u, "Ceramic mug, 350 ml, keeps coffee hot for hours"))
            s_expect(d, u, ASK_PRODUCT, E_ASK_TEMPLATE, false);
        break;
    case ST_TEMPLATE:
        if (o->mode != SCN_MODE_FANOUT && s_uniform(d) < o->p_own) {
            if (s_press(d, u, u->screen_msg, "Own prompt"))
                s_expect(d, u, ASK_TEMPLATE, E_ASK_PROMPT, false);
        } else if (s_press(d, u, u->screen_msg,
                           s_uniform(d) < 0.5 ? "UGC" : "\xF0\x9F\x93\xA2")) //  📢 Ad
            s_expect(d, u, ASK_TEMPLATE, E_ASK_WISHES, false);
        break;
    case ST_PROMPT:
        s_marker(d, marker, sizeof marker);
        snprintf(line, sizeof line, "%sA ceramic mug on a wooden desk, slow pan, morning light",
                 marker);
        if (s_text(d, u, line)) s_expect(d, u, ASK_PROMPT, E_ASK_COUNT, false);
        break;
    case ST_WISHES:
        s_marker(d, marker, sizeof marker);
        if (marker[0])
            snprintf(line, sizeof line, "%slight background, close-ups", marker);
        else
            snprintf(line, sizeof line, "-");
        if (s_text(d, u, line)) s_expect(d, u, ASK_WISHES, E_ASK_COUNT, false);
        break;
    case ST_COUNT: {
        int count = o->videos;
        if (count <= 0) {
            double r = s_uniform(d);
            count = r < 0.6 ? 1 : r < 0.9 ? 3 : 5;
        }
        u->count = count;
        char keycap[32];
        snprintf(keycap, sizeof keycap, "%d\xEF\xB8\x8F\xE2\x83\xA3 ", count); //  "1️⃣ "
        if (s_press(d, u, u->screen_msg, keycap)) s_expect(d, u, ASK_COUNT, E_COUNTED, false);
        break;
    }
    case ST_CONFIRM:
        if (!u->confirm_msg || !s_press_data(d, u, u->confirm_msg, u->confirm_data)) break;
        if (o->mode != SCN_MODE_FANOUT && s_uniform(d) < o->p_double) {
            d->counters.double_taps++;
            u->tapped_twice = s_press_data(d, u, u->confirm_msg, u->confirm_data);
        }
        s_expect(d, u, ASK_CONFIRM, E_ORDER, false);
        break;
    default:
        break;
    }
    //  an action that could not be taken (a button gone): back to the menu
    if (!u->waiting_since && u->step != ST_DONE && !u->waiting_results && u->step != ST_IDLE)
        s_recover(d, u);
}

//  Back on track: /menu, or done when the run is draining.
static void s_recover(scn_driver_t *d, s_user_t *u) {
    s_unwait(d, u);
    if (d->draining) {
        u->step = ST_DONE;
        return;
    }
    u->step = ST_MENU;
    if (s_text(d, u, "/menu"))
        s_expect(d, u, ASK_MENU, E_MENU, false);
    else
        u->step = ST_DONE;
}

//  --- what the bot said ------------------------------------------------------------

static void s_next(scn_driver_t *d, s_user_t *u, s_step_t step) {
    u->step = step;
    s_schedule(d, u, scn_now_ms() + s_think(d));
}

static int64_t s_int_after(const char *text, const char *prefix) {
    const char *p = text ? strstr(text, prefix) : NULL;
    return p ? strtoll(p + strlen(prefix), NULL, 10) : 0;
}

//  The expected answer of u's step came: match is its index in expect
//  (-1: the answerCallbackQuery of an answer-only step).
static void s_answered(scn_driver_t *d, s_user_t *u, int match, const tgsim_call_t *call) {
    s_ask_t ask = u->ask;
    s_screen_t was_screen = u->screen;
    int64_t was_msg = u->screen_msg;
    s_unwait(d, u);
    d->counters.steps++;
    if (match >= 0 && call->message_id > 0) {
        u->screen_msg = call->message_id;
        u->screen = SCR_OTHER;
    }
    const char *text = call->plain ? call->plain : call->text;
    switch (ask) {
    case ASK_MENU:
        u->screen = SCR_MENU;
        s_next(d, u, ST_IDLE);
        break;
    case ASK_CREATE_MENU:
        u->screen = SCR_MENU;
        u->step = ST_CREATE;
        s_act(d, u);
        break;
    case ASK_CREATE:
        s_next(d, u, ST_PHOTO);
        break;
    case ASK_PHOTO:
        s_next(d, u, ST_PRODUCT);
        break;
    case ASK_PRODUCT:
        s_next(d, u, ST_TEMPLATE);
        break;
    case ASK_TEMPLATE:
        s_next(d, u, match == 0 && u->expect == E_ASK_PROMPT ? ST_PROMPT : ST_WISHES);
        break;
    case ASK_PROMPT:
    case ASK_WISHES: {
        int64_t price = s_int_after(text, "costs ");
        if (price > 0) u->tally.price = price;
        s_next(d, u, ST_COUNT);
        break;
    }
    case ASK_COUNT:
        if (match == 0) {
            u->confirm_msg = call->message_id;
            u->confirm_data[0] = 0;
            for (size_t i = 0; i < call->button_count; i++)
                if (call->buttons[i].callback_data && strstr(call->buttons[i].text, "Launch"))
                    snprintf(u->confirm_data, sizeof u->confirm_data, "%s",
                             call->buttons[i].callback_data);
            s_next(d, u, u->confirm_data[0] ? ST_CONFIRM : ST_MENU);
        } else {
            d->counters.limits_hit++;
            s_next(d, u, ST_MENU);
        }
        break;
    case ASK_CONFIRM:
        u->tapped_twice = false;
        if (match == 0) {
            int64_t n = s_int_after(text, "Generating ");
            if (n <= 0) n = u->count;
            u->tally.jobs_expected += n;
            u->tally.outstanding += (int)n;
            d->outstanding += n;
            d->phases[d->phase].orders++;
            if (!d->counters.first_order_ms) d->counters.first_order_ms = call->time_ms;
            u->old_msg = u->confirm_msg;
            memcpy(u->old_data, u->confirm_data, sizeof u->old_data);
        } else
            d->counters.limits_hit++;
        u->confirm_msg = 0;
        s_next(d, u, ST_IDLE);
        break;
    case ASK_HISTORY:
        u->screen = SCR_HISTORY;
        d->counters.browses += d->opts->mode == SCN_MODE_INTERACTIVE;
        //  orders: sometimes open the newest job
        if (d->opts->mode != SCN_MODE_INTERACTIVE && match == 0 && call->button_count > 2 &&
            s_uniform(d) < 0.5 && !d->draining) {
            if (s_press_index(d, u, call->message_id, 0)) {
                s_expect(d, u, ASK_JOB, E_JOB, false);
                break;
            }
        }
        s_next(d, u, ST_IDLE);
        break;
    case ASK_JOB:
        //  a finished job's screen comes with its video again: not a duplicate
        if (match == 0 && text && strstr(text, "done")) {
            scn_job_t *job = s_job(d, s_int_after(text, "Generation #"));
            if (job) job->reopened++;
        }
        s_next(d, u, ST_IDLE);
        break;
    case ASK_OLD:
        s_next(d, u, ST_IDLE);
        break;
    case ASK_ACCOUNT:
        u->screen = SCR_ACCOUNT;
        s_next(d, u, ST_IDLE);
        break;
    case ASK_ENTRIES:
        u->screen = SCR_ENTRIES;
        s_next(d, u, ST_IDLE);
        break;
    case ASK_HELP:
        //  a notice: the screen under it stays current
        u->screen = was_screen;
        u->screen_msg = was_msg;
        s_next(d, u, ST_IDLE);
        break;
    default:
        s_next(d, u, ST_IDLE);
        break;
    }
}

//  A job's message: status (ignored), result, or failure notice.
static void s_job_message(scn_driver_t *d, s_user_t *u, const tgsim_call_t *call, const char *text,
                          const char *at, bool media) {
    if (strncmp(text, T_STATUS, strlen(T_STATUS)) == 0 ||
        strcmp(call->method, "editMessageText") == 0)
        return;
    scn_job_t *job = s_job(d, strtoll(at + strlen(T_VIDEO), NULL, 10));
    if (!job) return;
    job->user_id = u->tally.id;
    if (media || strstr(text, "is ready! Download")) {
        if (++job->deliveries == 1) {
            job->delivered_ms = call->time_ms;
            u->tally.delivered++;
        }
    } else if (strstr(text, "is ready, but"))
        job->missing++;
    else
        job->failures++;
    if (job->deliveries + job->failures + job->missing != 1)
        return; //  not the first result of this job
    d->phases[d->phase].generations++;
    d->counters.last_result_ms = call->time_ms;
    if (u->tally.outstanding > 0) {
        u->tally.outstanding--;
        d->outstanding--;
    }
    if (u->tally.outstanding == 0 && u->waiting_results) {
        u->waiting_results = false;
        s_next(d, u, ST_IDLE);
    }
}

//  The first answer to one of u's updates: a latency sample.
static void s_replied(scn_driver_t *d, s_user_t *u, bool callback, const tgsim_call_t *call) {
    for (int i = 0; i < u->pend_n; i++) {
        if (u->pend[i].callback != callback) continue;
        int64_t queued = 0, delivered = 0;
        if (tgsim_update_times(d->sim, u->pend[i].update_id, &queued, &delivered) != 0 ||
            call->time_ms < queued)
            continue;
        scn_phase_t *phase = &d->phases[u->pend[i].phase];
        phase->replies++;
        if (!d->holding) d->phases[d->phase].handled++;
        scn_samples_add(&phase->lat, (uint32_t)(call->time_ms - queued));
        if (delivered > 0 && call->time_ms >= delivered)
            scn_samples_add(&phase->lat_dl, (uint32_t)(call->time_ms - delivered));
        memmove(u->pend + i, u->pend + i + 1, (size_t)(u->pend_n - i - 1) * sizeof *u->pend);
        u->pend_n--;
        return;
    }
}

static void s_handle(scn_driver_t *d, const tgsim_call_t *call) {
    int64_t index = call->chat_id - SCN_USER_BASE;
    if (index < 0 || (size_t)index >= d->n || call->status != 200)
        return; //  the bot's failed calls (429, 5xx, drops) answer nothing
    s_user_t *u = &d->users[index];
    const char *m = call->method;
    bool answer = strcmp(m, "answerCallbackQuery") == 0;
    bool message = strcmp(m, "sendMessage") == 0 || strcmp(m, "editMessageText") == 0;
    bool media = strcmp(m, "sendVideo") == 0 || strcmp(m, "sendDocument") == 0;
    const char *text = call->plain ? call->plain : call->text;
    const char *video = (message || media) && text ? strstr(text, T_VIDEO) : NULL;
    if (video) {
        s_job_message(d, u, call, text, video, media);
        return;
    }
    if (answer && text && strstr(text, T_ALREADY)) d->counters.already++;
    if (answer || message) s_replied(d, u, answer, call);
    if (!u->waiting_since || call->seq <= u->after_seq) return;
    if (answer) {
        if (u->expect_answer)
            s_answered(d, u, -1, call);
        else if (text && strstr(text, T_STALE) && u->ask == ASK_CONFIRM && u->tapped_twice)
            //  a refused order makes its ✅ stale, and the second tap's answer
            //  may overtake the first tap's message (answers go first)
            u->tapped_twice = false;
        else if (text && strstr(text, T_STALE)) {
            d->counters.stale++;
            if (getenv("SCN_DEBUG")) {
                char *t = tgsim_transcript_text(d->sim, u->tally.id);
                size_t len = t ? strlen(t) : 0;
                fprintf(stderr, "stale: user %lld ask %d screen %d msg %lld\n%s\n",
                        (long long)u->tally.id, (int)u->ask, (int)u->screen,
                        (long long)u->screen_msg,
                        len > 1500 ? t + len - 1500
                        : t        ? t
                                   : "");
                free(t);
            }
            s_recover(d, u);
        }
        return;
    }
    if (!message || !text) return;
    if (strstr(text, T_INTERNAL) || strstr(text, T_FLOOD)) {
        if (strstr(text, T_INTERNAL))
            d->counters.internal++;
        else
            d->counters.flood++;
        s_recover(d, u);
        return;
    }
    for (int i = 0; u->expect && u->expect[i]; i++)
        if (strstr(text, u->expect[i])) {
            s_answered(d, u, i, call);
            return;
        }
}

//  On a simulator thread: queue the record for the driver.
static void s_on_call(const tgsim_call_t *call, void *arg) {
    scn_driver_t *d = (scn_driver_t *)arg;
    if (!call->chat_id || !call->method) return;
    pthread_mutex_lock(&d->lock);
    if (d->ev_n == d->ev_cap) {
        d->ev_cap = d->ev_cap ? d->ev_cap * 2 : 4096;
        d->events = realloc(d->events, d->ev_cap * sizeof *d->events);
        if (!d->events) abort();
    }
    d->events[d->ev_n++] = call;
    if (d->ev_n == 1) pthread_cond_signal(&d->cond);
    pthread_mutex_unlock(&d->lock);
}

//  --- the loop --------------------------------------------------------------------

static void s_timeouts(scn_driver_t *d, int64_t now) {
    int64_t limit = d->opts->step_timeout_ms;
    for (size_t i = 0; i < d->n; i++) {
        s_user_t *u = &d->users[i];
        if (!u->waiting_since || now - u->waiting_since < limit) continue;
        scn_counters_t *c = &d->counters;
        if (c->stuck < 3) {
            char *transcript = tgsim_transcript_text(d->sim, u->tally.id);
            const char *tail = transcript ? transcript : "";
            size_t len = strlen(tail);
            snprintf(c->stuck_notes[c->stuck], sizeof c->stuck_notes[c->stuck],
                     "user %" PRId64 " step %d waited %" PRId64 " ms for \"%s\"; chat ends: %s",
                     u->tally.id, (int)u->ask, now - u->waiting_since,
                     u->expect && u->expect[0] ? u->expect[0] : "an answer",
                     len > 120 ? tail + len - 120 : tail);
            free(transcript);
        }
        c->stuck++;
        s_recover(d, u);
    }
}

//  One pass: calls in, due users out. wait_ms bounds the sleep.
static void s_pass(scn_driver_t *d, double rate, int64_t until_ms) {
    pthread_mutex_lock(&d->lock);
    int64_t now = scn_now_ms();
    if (d->ev_n == 0) {
        int64_t wake = until_ms;
        if (d->heap_n && d->heap[0]->due_ms < wake) wake = d->heap[0]->due_ms;
        if (d->ready_n) wake = now + 1;
        if (wake > now + S_TICK_MS) wake = now + S_TICK_MS;
        if (wake > now) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            int64_t ns = ts.tv_nsec + (wake - now) * 1000000;
            ts.tv_sec += ns / 1000000000;
            ts.tv_nsec = ns % 1000000000;
            pthread_cond_timedwait(&d->cond, &d->lock, &ts);
        }
    }
    //  swap the queue
    const tgsim_call_t **events = d->events;
    size_t n = d->ev_n;
    size_t cap = d->ev_cap;
    d->events = d->work;
    d->ev_cap = d->work_cap;
    d->ev_n = 0;
    d->work = events;
    d->work_cap = cap;
    pthread_mutex_unlock(&d->lock);
    for (size_t i = 0; i < n; i++)
        s_handle(d, events[i]);

    now = scn_now_ms();
    while (d->heap_n && d->heap[0]->due_ms <= now) {
        s_user_t *u = d->heap[0];
        s_heap_remove(d, u);
        if ((rate > 0 || d->holding) && !d->draining)
            d->ready[(d->ready_head + d->ready_n++) % d->n] = u;
        else
            s_act(d, u);
    }
    if (rate > 0 && !d->holding) {
        int64_t ns = s_ns();
        d->tokens += rate * (double)(ns - d->tokens_ns) / 1e9;
        d->tokens_ns = ns;
        double burst = rate / 200 > 1 ? rate / 200 : 1; //  5 ms worth
        if (d->tokens > burst) d->tokens = burst;
        while (d->ready_n && d->tokens >= 1) {
            s_user_t *u = d->ready[d->ready_head];
            d->ready_head = (d->ready_head + 1) % d->n;
            d->ready_n--;
            d->tokens -= 1;
            s_act(d, u);
        }
    }
    if (now - d->last_timeouts >= S_TIMEOUTS_MS) {
        d->last_timeouts = now;
        s_timeouts(d, now);
        if (d->tick_fn) d->tick_fn(d->tick_arg);
    }
}

//  --- the API ----------------------------------------------------------------------

scn_driver_t *scn_driver_new(tgsim_t *sim, const scn_opts_t *opts) {
    scn_driver_t *d = calloc(1, sizeof *d);
    d->sim = sim;
    d->opts = opts;
    d->n = (size_t)opts->users;
    d->users = calloc(d->n, sizeof *d->users);
    d->heap = calloc(d->n, sizeof *d->heap);
    d->ready = calloc(d->n, sizeof *d->ready);
    d->rng = opts->seed ? opts->seed : 0x9e3779b97f4a7c15ULL;
    pthread_mutex_init(&d->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&d->cond, &attr);
    pthread_condattr_destroy(&attr);
    for (size_t i = 0; i < d->n; i++) {
        s_user_t *u = &d->users[i];
        u->index = i;
        u->tally.id = SCN_USER_BASE + (int64_t)i;
        u->heap_pos = -1;
        u->step = ST_START;
    }
    return d;
}

void scn_driver_destroy(scn_driver_t **self_p) {
    scn_driver_t *d = *self_p;
    if (!d) return;
    tgsim_on_call(d->sim, NULL, NULL);
    for (int i = 0; i < SCN_PHASES; i++) {
        scn_samples_free(&d->phases[i].lat);
        scn_samples_free(&d->phases[i].lat_dl);
    }
    pthread_mutex_destroy(&d->lock);
    pthread_cond_destroy(&d->cond);
    free(d->events);
    free(d->work);
    free(d->heap);
    free(d->ready);
    free(d->users);
    free(d->jobs);
    free(d);
    *self_p = NULL;
}

void scn_driver_start(scn_driver_t *d) {
    for (size_t i = 0; i < d->n; i++)
        tgsim_user_add(d->sim, d->users[i].tally.id, "Bench", "en");
    tgsim_on_call(d->sim, s_on_call, d);
    int64_t now = scn_now_ms();
    for (size_t i = 0; i < d->n; i++)
        s_schedule(d, &d->users[i],
                   now + (int64_t)(d->opts->ramp_s * 1000.0 * (double)i / (double)d->n));
}

void scn_driver_run(scn_driver_t *d, int phase, double seconds, double rate) {
    d->phase = phase < SCN_DRAIN ? phase : SCN_DRAIN - 1;
    d->tokens = 0;
    d->tokens_ns = s_ns();
    int64_t start = scn_now_ms(), until = start + (int64_t)(seconds * 1000);
    while (scn_now_ms() < until && !d->aborted)
        s_pass(d, rate, until);
    //  users held back by the rate act as soon as the next phase runs
    while (d->ready_n) {
        s_user_t *u = d->ready[d->ready_head];
        d->ready_head = (d->ready_head + 1) % d->n;
        d->ready_n--;
        s_schedule(d, u, scn_now_ms());
    }
    d->phases[d->phase].seconds += (double)(scn_now_ms() - start) / 1000.0;
}

double scn_driver_settle(scn_driver_t *d, double timeout_s) {
    d->holding = true;
    int64_t start = scn_now_ms(), until = start + (int64_t)(timeout_s * 1000);
    while (scn_now_ms() < until && !d->aborted && d->waiting > 0)
        s_pass(d, 0, until);
    d->holding = false;
    return (double)(scn_now_ms() - start) / 1000.0;
}

double scn_driver_drain(scn_driver_t *d, double timeout_s, int (*progress)(void *arg), void *arg) {
    d->draining = true;
    d->phase = SCN_DRAIN;
    int64_t start = scn_now_ms(), until = start + (int64_t)(timeout_s * 1000);
    int64_t last_progress = 0;
    bool done_outside = progress == NULL;
    while (scn_now_ms() < until && !d->aborted) {
        s_pass(d, 0, until);
        int64_t now = scn_now_ms();
        if (progress && now - last_progress >= 500) {
            last_progress = now;
            done_outside = progress(arg) != 0;
        }
        if (d->waiting == 0 && d->outstanding <= 0 && done_outside) break;
    }
    //  the last calls in flight
    s_pass(d, 0, scn_now_ms());
    d->phases[SCN_DRAIN].seconds = (double)(scn_now_ms() - start) / 1000.0;
    return d->phases[SCN_DRAIN].seconds;
}

scn_phase_t *scn_driver_phase(scn_driver_t *d, int phase) {
    return phase >= 0 && phase < SCN_PHASES ? &d->phases[phase] : NULL;
}

const scn_counters_t *scn_driver_counters(scn_driver_t *d) {
    return &d->counters;
}

size_t scn_driver_user_count(scn_driver_t *d) {
    return d->n;
}

const scn_tally_t *scn_driver_tally(scn_driver_t *d, size_t index) {
    return index < d->n ? &d->users[index].tally : NULL;
}

const scn_job_t *scn_driver_jobs(scn_driver_t *d, size_t *count) {
    *count = d->jobs_cap;
    return d->jobs;
}

int64_t scn_driver_outstanding(scn_driver_t *d) {
    return d->outstanding;
}

void scn_driver_on_tick(scn_driver_t *d, void (*fn)(void *arg), void *arg) {
    d->tick_fn = fn;
    d->tick_arg = arg;
}

void scn_driver_abort(scn_driver_t *d) {
    d->aborted = true;
}

bool scn_driver_aborted(scn_driver_t *d) {
    return d->aborted;
}
