/*  test_ledger_load.c — eight clients hammer one ledger at once.

    Every client thread has its own DEALER socket, keeps a few requests in
    flight (matched by corr_id) and sends a random mix of the ledger's
    writes: touches, orders (tokens reused by the same thread, and one token
    sent by every thread at once for a shared user), claims and every job
    transition (on its own claimed jobs and, racing the others, on anyone's),
    payments with charge ids repeated within and across threads, and admin
    adjustments with repeated refs.

    Each thread judges every reply by what it may be in that situation: a
    refusal the thread could not have provoked is a failure, `internal`
    always is. For the users only it orders for, it knows a lower bound of
    the balance and an upper bound of the active jobs, so a refusal for
    insufficient credits or too many active jobs is checked too. It keeps a
    tally of what the replies acknowledged (grants, topups, adjustments,
    holds; per job capture, release, delivery). After the run the merged
    tallies must match the database exactly, user by user and job by job,
    and genbot check must pass.
*/
#include "testutil.h"

#include <pthread.h>
#include <sqlite3.h>

#include "job.h"

#define ENDPOINT      "inproc://ledger-load"
#define THREADS       8
#define SHARED        4 //  users every thread orders for, pays and adjusts
#define PRIVATE       4 //  users of one thread: only it orders, pays, adjusts
#define RACERS        4 //  users whose orders every thread sends at once
#define USER_MAX      (100 * (THREADS + 1) + PRIVATE)
#define WINDOW        4    //  requests in flight per thread
#define HAND_MAX      48   //  jobs one thread holds claimed at once
#define OWN_MAX       256  //  recent jobs of a thread's own orders, to cancel
#define RING_SIZE     4096 //  recently created jobs of every thread, to race on
#define RACE_EVERY    200  //  iterations between two rendezvous on one order token
#define LIMIT_ACTIVE  12
#define SEED_CREDITS  10000 //  one raced admin adjustment per shared user
#define PRICE         1
#define REPLY_WAIT_MS 30000
#define EXPIRE_MS     300 //  queue wait after which jobs_expire fails a job

//  ThreadSanitizer (make tsan): libzmq and libczmq are not instrumented, so
//  it can't see that their lock-free queues hand a message's bytes from one
//  thread to the other, and pipelined clients (never blocked on the socket's
//  fd, which it does see) make it report every message as a race. Only a
//  tsan build calls this.
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void) {
    return "called_from_lib:libzmq.so\ncalled_from_lib:libczmq.so\n";
}

//  Per job and thread: what this thread's replies said about the job.
enum {
    J_CAPTURE = 1 << 0, //  job_succeeded, not a duplicate
    J_DELIVER = 1 << 1,
    J_FAIL = 1 << 2,
    J_CANCEL = 1 << 3,
    J_DUP_CAPTURE = 1 << 4, //  ... a duplicate: someone else did it
    J_DUP_DELIVER = 1 << 5,
    J_DUP_FAIL = 1 << 6,
    J_DUP_CANCEL = 1 << 7,
    J_CLAIMED = 1 << 8,
    J_SUBMITTED = 1 << 9,
};

typedef enum {
    OP_TOUCH,
    OP_BALANCE,
    OP_ORDER,
    OP_CLAIM,
    OP_SUBMIT,
    OP_PROGRESS,
    OP_RETRY,
    OP_SUCCEED,
    OP_FAIL,
    OP_DELIVER,
    OP_CANCEL,
    OP_PAY,
    OP_ADJUST,
    OP_EXPIRE,
    OP_COUNT_
} op_t;

static const char *const s_op_names[OP_COUNT_] = {
    "user_touch",   "balance_get",    "order_place",   "jobs_claim", "job_submitted",
    "job_progress", "job_retry",      "job_succeeded", "job_failed", "job_delivered",
    "job_cancel",   "payment_credit", "admin_adjust",  "jobs_expire"};

static const struct {
    op_t op;
    int weight;
} s_mix[] = {
    {OP_TOUCH, 3},    {OP_BALANCE, 3}, {OP_ORDER, 16},   {OP_CLAIM, 12}, {OP_SUBMIT, 9},
    {OP_PROGRESS, 5}, {OP_RETRY, 5},   {OP_SUCCEED, 10}, {OP_FAIL, 5},   {OP_DELIVER, 8},
    {OP_CANCEL, 6},   {OP_PAY, 8},     {OP_ADJUST, 6},   {OP_EXPIRE, 1},
};

typedef enum { H_RUNNING, H_SUBMITTED, H_SUCCEEDED } hand_state_t;

//  A job this thread claimed (its "key worker" side).
typedef struct {
    int64_t job_id, user_id;
    hand_state_t state;
    bool busy; //  a request about it is in flight
} hand_t;

typedef enum { T_SENT, T_ACKED, T_REFUSED } token_state_t;

//  An order token of this thread: p<thread>-<n>.
typedef struct {
    int64_t user_id, count;
    token_state_t state;
    size_t n;
    int64_t ids[3];
} token_t;

//  One acknowledged order, payment or adjustment, merged after the run.
typedef struct {
    char key[48]; //  "<user>/<token>", the charge id, or the ref
    int64_t user_id, amount;
    bool dup;
    size_t n;
    int64_t ids[3];
    long times; //  after merging: how many replies acknowledged the key
} ack_t;

typedef struct {
    ack_t *v;
    size_t n, cap;
} acks_t;

typedef enum { K_NONE, K_SENT, K_ACKED, K_REFUSED } key_state_t;

typedef struct {
    uint64_t corr; //  0 = free slot
    op_t op;
    unsigned allowed; //  bit (1 << code) for every acceptable reply code
    int64_t user_id, job_id, amount;
    long token;  //  index into tokens, -1 for none
    long key_n;  //  payment / adjustment number, -1 for none
    bool shared; //  shared payment / adjustment / race order
    bool expect_dup;
    bool expect_created;       //  a touch of a private user: created exactly when this is set
    bool in_hand;              //  job op on a job of the hand (else anyone's)
    int64_t debit, active_add; //  reserved on a private user's bounds
    char key[48];
} pending_t;

typedef struct {
    int index;
    pthread_t thread;
    zsock_t *dealer;
    unsigned seed;
    long iterations, i;
    uint64_t next_corr;
    pending_t pending[WINDOW];
    size_t in_flight;
    bool dead;
    char key_id[16];
    //  bounds on the private users: balance >= bal_lo - debit,
    //  active jobs <= active_hi + pending_active
    int64_t bal_lo[PRIVATE], debit[PRIVATE], active_hi[PRIVATE], pending_active[PRIVATE];
    hand_t hand[HAND_MAX];
    size_t hand_n, hand_reserved;
    int64_t own_jobs[OWN_MAX], own_users[OWN_MAX];
    size_t own_n;
    token_t *tokens;
    size_t token_n;
    key_state_t *pays, *adjs, *shared_pays, *shared_adjs;
    long pay_n, adj_n, shared_max;
    //  the tally
    int64_t created[USER_MAX], topup[USER_MAX], adjust[USER_MAX], hold[USER_MAX];
    uint16_t *jobs;
    acks_t orders, payments, adjustments;
    long by_code[LEDGER_E_INTERNAL + 1];
    long sent, expired;
    long failures;
    char failure[512];
} worker_t;

//  What the threads share: job owners and a ring of recent job ids, both
//  written only by the thread whose order created the job.
static struct {
    size_t max_jobs;
    _Atomic int32_t *job_user;
    _Atomic int64_t ring[RING_SIZE];
    _Atomic uint64_t ring_next;
    pthread_barrier_t barrier;
    int64_t free_credits;
} s_run;

static int64_t s_shared_user(long i) {
    return 1 + i % SHARED;
}

static int64_t s_race_user(long i) {
    return 51 + i % RACERS;
}

static int64_t s_private_user(const worker_t *w, long k) {
    return 100 * (w->index + 1) + k % PRIVATE;
}

//  The index of user_id among w's private users, or -1.
static int s_private(const worker_t *w, int64_t user_id) {
    int64_t k = user_id - 100 * (w->index + 1);
    return k >= 0 && k < PRIVATE ? (int)k : -1;
}

//  Adjustment n's delta: some up, some down, never 0.
static int64_t s_delta(long n) {
    int64_t d = n % 8 - 2;
    return d ? d : 5;
}

static void s_fail(worker_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_fail(worker_t *w, const char *fmt, ...) {
    if (w->failures++ == 0) {
        int len =
            snprintf(w->failure, sizeof w->failure, "thread %d, request %ld: ", w->index, w->i);
        va_list args;
        va_start(args, fmt);
        vsnprintf(w->failure + len, sizeof w->failure - (size_t)len, fmt, args);
        va_end(args);
    }
}

static void s_ack(worker_t *w, acks_t *acks, const char *key, int64_t user_id, int64_t amount,
                  bool dup, const msg_t *order) {
    if (acks->n == acks->cap) {
        acks->cap = acks->cap ? acks->cap * 2 : 256;
        acks->v = realloc(acks->v, acks->cap * sizeof(ack_t));
        assert(acks->v);
    }
    ack_t *a = &acks->v[acks->n++];
    memset(a, 0, sizeof *a);
    snprintf(a->key, sizeof a->key, "%s", key);
    a->user_id = user_id;
    a->amount = amount;
    a->dup = dup;
    if (order) {
        a->n = msg_len(order, F_JOB_IDS);
        if (a->n > 3) {
            s_fail(w, "order %s: %zu job ids", key, a->n);
            a->n = 3;
        }
        memcpy(a->ids, msg_ints(order, F_JOB_IDS), a->n * sizeof(int64_t));
    }
}

static hand_t *s_hand_find(worker_t *w, int64_t job_id) {
    for (size_t i = 0; i < w->hand_n; i++)
        if (w->hand[i].job_id == job_id) return &w->hand[i];
    return NULL;
}

static void s_hand_drop(worker_t *w, int64_t job_id) {
    hand_t *h = s_hand_find(w, job_id);
    if (h) *h = w->hand[--w->hand_n];
}

//  A random job of the hand in one of the given states, not busy.
static hand_t *s_hand_pick(worker_t *w, unsigned states) {
    if (w->hand_n == 0) return NULL;
    size_t start = (size_t)rand_r(&w->seed) % w->hand_n;
    for (size_t k = 0; k < w->hand_n; k++) {
        hand_t *h = &w->hand[(start + k) % w->hand_n];
        if (!h->busy && (states & (1u << h->state))) return h;
    }
    return NULL;
}

//  A random recently created job of any thread, 0 when none is known.
static int64_t s_ring_pick(worker_t *w) {
    uint64_t n = atomic_load(&s_run.ring_next);
    if (n == 0) return 0;
    uint64_t span = n < RING_SIZE ? n : RING_SIZE;
    return atomic_load(&s_run.ring[(n - 1 - (uint64_t)rand_r(&w->seed) % span) % RING_SIZE]);
}

//  --- replies ---------------------------------------------------------------

//  Checks a user's balance and held against the private bounds, then takes
//  them as the new bounds: they are exact as of this reply.
static void s_observe(worker_t *w, int64_t user_id, int64_t balance, int64_t held) {
    if (balance < 0 || held < 0)
        s_fail(w, "user %lld: balance %lld, held %lld", (long long)user_id, (long long)balance,
               (long long)held);
    int k = s_private(w, user_id);
    if (k < 0) return;
    if (balance < w->bal_lo[k])
        s_fail(w, "user %lld: balance %lld, but at least %lld was acknowledged", (long long)user_id,
               (long long)balance, (long long)w->bal_lo[k]);
    if (held > w->active_hi[k] * PRICE)
        s_fail(w, "user %lld: held %lld, but at most %lld jobs are active", (long long)user_id,
               (long long)held, (long long)w->active_hi[k]);
    w->bal_lo[k] = balance;
    w->active_hi[k] = held / PRICE;
}

static void s_on_user(worker_t *w, pending_t *p, const msg_t *reply) {
    if (msg_kind(reply) != MSG_K_USER || msg_int(reply, F_USER_ID) != p->user_id) {
        s_fail(w, "%s %lld: reply %s", s_op_names[p->op], (long long)p->user_id,
               msg_kind_name(msg_kind(reply)));
        return;
    }
    if (msg_bool(reply, F_CREATED)) {
        w->created[p->user_id]++;
        if (p->op != OP_TOUCH) s_fail(w, "balance_get created user %lld", (long long)p->user_id);
    }
    if (p->expect_created != msg_bool(reply, F_CREATED) && s_private(w, p->user_id) >= 0)
        s_fail(w, "user %lld: created %d", (long long)p->user_id, msg_bool(reply, F_CREATED));
    s_observe(w, p->user_id, msg_int(reply, F_BALANCE), msg_int(reply, F_HELD));
}

static void s_on_order(worker_t *w, pending_t *p, const msg_t *reply, int code) {
    int k = s_private(w, p->user_id);
    if (k >= 0) {
        w->debit[k] -= p->debit;
        w->pending_active[k] -= p->active_add;
    }
    token_t *t = p->token >= 0 ? &w->tokens[p->token] : NULL;
    if (code) {
        if (code == LEDGER_E_INSUFFICIENT_CREDITS && msg_int(reply, F_SHORTFALL) < 1)
            s_fail(w, "order %s: shortfall %lld", p->key, (long long)msg_int(reply, F_SHORTFALL));
        if (t && t->state == T_SENT) t->state = T_REFUSED;
        return;
    }
    if (msg_kind(reply) != MSG_K_ORDER) {
        s_fail(w, "order %s: reply %s", p->key, msg_kind_name(msg_kind(reply)));
        return;
    }
    bool dup = msg_bool(reply, F_DUPLICATE);
    size_t n = msg_len(reply, F_JOB_IDS);
    const int64_t *ids = msg_ints(reply, F_JOB_IDS);
    if (t && dup != p->expect_dup)
        s_fail(w, "order %s: duplicate %d, expected %d", p->key, dup, p->expect_dup);
    if (t && p->expect_dup && (n != t->n || memcmp(ids, t->ids, n * sizeof(int64_t))))
        s_fail(w, "order %s: a repeat returned other job ids", p->key);
    if (!dup && n != (size_t)p->amount)
        s_fail(w, "order %s: %zu jobs for count %lld", p->key, n, (long long)p->amount);
    s_ack(w, &w->orders, p->key, p->user_id, p->amount, dup, reply);
    if (!dup) {
        w->hold[p->user_id] += (int64_t)n * PRICE;
        for (size_t i = 0; i < n; i++) {
            if (ids[i] <= 0 || (size_t)ids[i] >= s_run.max_jobs) {
                s_fail(w, "order %s: job id %lld out of range", p->key, (long long)ids[i]);
                continue;
            }
            atomic_store(&s_run.job_user[ids[i]], (int32_t)p->user_id);
            uint64_t slot = atomic_fetch_add(&s_run.ring_next, 1);
            atomic_store(&s_run.ring[slot % RING_SIZE], ids[i]);
            w->own_jobs[w->own_n % OWN_MAX] = ids[i];
            w->own_users[w->own_n % OWN_MAX] = p->user_id;
            w->own_n++;
        }
        if (k >= 0) {
            w->bal_lo[k] -= (int64_t)n * PRICE;
            w->active_hi[k] += (int64_t)n;
        }
    }
    if (t && t->state != T_ACKED) {
        t->state = T_ACKED;
        t->n = n < 3 ? n : 3;
        memcpy(t->ids, ids, t->n * sizeof(int64_t));
    }
    s_observe(w, p->user_id, msg_int(reply, F_BALANCE), msg_int(reply, F_HELD));
}

static void s_on_claim(worker_t *w, pending_t *p, const msg_t *reply) {
    w->hand_reserved -= (size_t)p->amount;
    if (msg_kind(reply) != MSG_K_JOB_LIST || msg_len(reply, F_JOBS) > (size_t)p->amount) {
        s_fail(w, "claim: reply %s with %zu jobs", msg_kind_name(msg_kind(reply)),
               msg_len(reply, F_JOBS));
        return;
    }
    for (size_t i = 0; i < msg_len(reply, F_JOBS); i++) {
        const msg_t *row = msg_row(reply, F_JOBS, i);
        int64_t job_id = msg_int(row, F_JOB_ID);
        if (strcmp(msg_str(row, F_STATE), "running") || strcmp(msg_str(row, F_KEY_ID), w->key_id) ||
            msg_int(row, F_PRICE) != PRICE || job_id <= 0 || (size_t)job_id >= s_run.max_jobs) {
            s_fail(w, "claimed job %lld: state %s, key %s", (long long)job_id,
                   msg_str(row, F_STATE), msg_str(row, F_KEY_ID));
            continue;
        }
        w->jobs[job_id] |= J_CLAIMED;
        hand_t *h = s_hand_find(w, job_id);
        if (!h) {
            h = &w->hand[w->hand_n++];
            *h = (hand_t){.job_id = job_id, .user_id = msg_int(row, F_USER_ID)};
        }
        h->state = H_RUNNING;
    }
}

//  A terminal transition of a job acknowledged by this thread's request:
//  a private user's bounds move only for its own (non-duplicate) changes,
//  which the ledger applied after every reply this thread has seen.
static void s_job_end(worker_t *w, int64_t job_id, uint16_t bit, bool released) {
    if (w->jobs[job_id] & bit)
        s_fail(w, "job %lld: the same change acknowledged twice", (long long)job_id);
    w->jobs[job_id] |= bit;
    int k = s_private(w, atomic_load(&s_run.job_user[job_id]));
    if (k >= 0) {
        w->active_hi[k]--;
        if (released) w->bal_lo[k] += PRICE;
    }
}

//  Queued jobs that waited too long, failed and released by this request.
static void s_on_expire(worker_t *w, pending_t *p, const msg_t *reply) {
    if (msg_kind(reply) != MSG_K_JOB_LIST || msg_len(reply, F_JOBS) > (size_t)p->amount) {
        s_fail(w, "expire: reply %s with %zu jobs", msg_kind_name(msg_kind(reply)),
               msg_len(reply, F_JOBS));
        return;
    }
    for (size_t i = 0; i < msg_len(reply, F_JOBS); i++) {
        const msg_t *row = msg_row(reply, F_JOBS, i);
        int64_t job_id = msg_int(row, F_JOB_ID);
        if (strcmp(msg_str(row, F_STATE), "failed") || job_id <= 0 ||
            (size_t)job_id >= s_run.max_jobs) {
            s_fail(w, "expired job %lld: state %s", (long long)job_id, msg_str(row, F_STATE));
            continue;
        }
        s_job_end(w, job_id, J_FAIL, true);
        s_hand_drop(w, job_id);
        w->expired++;
    }
}

static void s_on_job(worker_t *w, pending_t *p, const msg_t *reply, int code) {
    int64_t job_id = p->job_id;
    hand_t *h = s_hand_find(w, job_id);
    if (h) h->busy = false;
    if (code == LEDGER_E_NOT_FOUND) return; //  cancel by another user: nothing changed
    if (code) {
        //  the job moved on under someone else's request
        if (p->in_hand) s_hand_drop(w, job_id);
        return;
    }
    if (msg_kind(reply) != MSG_K_OK) {
        s_fail(w, "%s %lld: reply %s", s_op_names[p->op], (long long)job_id,
               msg_kind_name(msg_kind(reply)));
        return;
    }
    bool dup = msg_bool(reply, F_DUPLICATE);
    if (p->expect_dup && !dup)
        s_fail(w, "%s %lld: not a duplicate", s_op_names[p->op], (long long)job_id);
    switch (p->op) {
    case OP_SUBMIT:
        w->jobs[job_id] |= J_SUBMITTED;
        if (h) h->state = H_SUBMITTED;
        break;
    case OP_PROGRESS:
        break;
    case OP_RETRY:
        s_hand_drop(w, job_id);
        break;
    case OP_SUCCEED:
        if (dup)
            w->jobs[job_id] |= J_DUP_CAPTURE;
        else
            s_job_end(w, job_id, J_CAPTURE, false);
        if (h) h->state = H_SUCCEEDED;
        break;
    case OP_FAIL:
        if (dup)
            w->jobs[job_id] |= J_DUP_FAIL;
        else
            s_job_end(w, job_id, J_FAIL, true);
        s_hand_drop(w, job_id);
        break;
    case OP_DELIVER:
        w->jobs[job_id] |= dup ? J_DUP_DELIVER : J_DELIVER;
        s_hand_drop(w, job_id);
        break;
    case OP_CANCEL:
        if (dup)
            w->jobs[job_id] |= J_DUP_CANCEL;
        else
            s_job_end(w, job_id, J_CANCEL, true);
        s_hand_drop(w, job_id);
        break;
    default:
        break;
    }
}

static void s_on_money(worker_t *w, pending_t *p, const msg_t *reply, int code) {
    int k = s_private(w, p->user_id);
    if (k >= 0) w->debit[k] -= p->debit;
    key_state_t *states = p->op == OP_PAY ? (p->shared ? w->shared_pays : w->pays)
                                          : (p->shared ? w->shared_adjs : w->adjs);
    if (code) {
        if (code == LEDGER_E_INSUFFICIENT_CREDITS && msg_int(reply, F_SHORTFALL) < 1)
            s_fail(w, "%s: shortfall %lld", p->key, (long long)msg_int(reply, F_SHORTFALL));
        if (p->key_n >= 0 && states[p->key_n] != K_ACKED) states[p->key_n] = K_REFUSED;
        return;
    }
    if (msg_kind(reply) != MSG_K_OK) {
        s_fail(w, "%s: reply %s", p->key, msg_kind_name(msg_kind(reply)));
        return;
    }
    bool dup = msg_bool(reply, F_DUPLICATE);
    //  a charge or ref of this thread alone is new exactly when the thread
    //  has not sent it before; a shared one, at least when it has
    if (dup != p->expect_dup && (!p->shared || p->expect_dup))
        s_fail(w, "%s: duplicate %d, expected %d", p->key, dup, p->expect_dup);
    if (p->key_n >= 0) states[p->key_n] = K_ACKED;
    if (p->op == OP_PAY) {
        s_ack(w, &w->payments, p->key, p->user_id, p->amount, dup, NULL);
        if (!dup) w->topup[p->user_id] += p->amount;
    } else {
        s_ack(w, &w->adjustments, p->key, p->user_id, p->amount, dup, NULL);
        if (!dup) w->adjust[p->user_id] += p->amount;
    }
    if (!dup && k >= 0) w->bal_lo[k] += p->amount;
}

static void s_recv_one(worker_t *w) {
    msg_err_t err;
    msg_t *reply = msg_recv(w->dealer, &err);
    if (!reply) {
        s_fail(w, "no reply within %d ms (%s)", REPLY_WAIT_MS, msg_err_str(err));
        w->dead = true;
        memset(w->pending, 0, sizeof w->pending);
        w->in_flight = 0;
        return;
    }
    pending_t *p = NULL;
    for (size_t i = 0; i < WINDOW && !p; i++)
        if (w->pending[i].corr && w->pending[i].corr == msg_corr(reply)) p = &w->pending[i];
    if (!p) {
        s_fail(w, "reply %s with unknown corr_id %llu", msg_kind_name(msg_kind(reply)),
               (unsigned long long)msg_corr(reply));
        msg_destroy(&reply);
        return;
    }
    int code = tu_code(reply);
    if (code < 0 || code > LEDGER_E_INTERNAL || !(p->allowed & (1u << code)))
        s_fail(w, "%s %s: unexpected %s (%s)", s_op_names[p->op], p->key, ledger_err_name(code),
               msg_has(reply, F_DETAIL) ? msg_str(reply, F_DETAIL) : "");
    else
        w->by_code[code]++;
    switch (p->op) {
    case OP_TOUCH:
    case OP_BALANCE:
        if (!code) s_on_user(w, p, reply);
        break;
    case OP_ORDER:
        s_on_order(w, p, reply, code);
        break;
    case OP_CLAIM:
        s_on_claim(w, p, reply);
        break;
    case OP_EXPIRE:
        if (!code) s_on_expire(w, p, reply);
        break;
    case OP_PAY:
    case OP_ADJUST:
        s_on_money(w, p, reply, code);
        break;
    default:
        s_on_job(w, p, reply, code);
        break;
    }
    msg_destroy(&reply);
    p->corr = 0;
    w->in_flight--;
}

static void s_drain(worker_t *w) {
    while (w->in_flight > 0)
        s_recv_one(w);
}

//  --- requests --------------------------------------------------------------

//  A free slot, waiting for a reply when all are in flight; NULL once the
//  ledger stopped answering.
static pending_t *s_slot(worker_t *w) {
    if (w->in_flight == WINDOW) s_recv_one(w);
    if (w->dead) return NULL;
    for (size_t i = 0; i < WINDOW; i++)
        if (!w->pending[i].corr) {
            pending_t *p = &w->pending[i];
            memset(p, 0, sizeof *p);
            p->token = -1;
            p->key_n = -1;
            p->allowed = 1u << 0;
            return p;
        }
    abort();
}

static void s_send(worker_t *w, pending_t *p, msg_t *req) {
    p->corr = ++w->next_corr;
    msg_set_corr(req, p->corr);
    if (!p->key[0])
        snprintf(p->key, sizeof p->key, "%lld", (long long)(p->job_id ? p->job_id : p->user_id));
    if (msg_send(&req, w->dealer)) {
        s_fail(w, "%s: send failed", s_op_names[p->op]);
        p->corr = 0;
        w->dead = true;
        return;
    }
    w->in_flight++;
    w->sent++;
}

static void s_touch(worker_t *w, pending_t *p, int64_t user_id, bool balance_only) {
    p->op = balance_only ? OP_BALANCE : OP_TOUCH;
    p->user_id = user_id;
    msg_t *req = balance_only ? msg_new(MSG_K_BALANCE_GET, 0) : tu_touch(user_id);
    msg_set_int(req, F_USER_ID, user_id);
    s_send(w, p, req);
}

static int64_t s_any_user(worker_t *w) {
    long r = rand_r(&w->seed) % (SHARED + PRIVATE);
    return r < SHARED ? s_shared_user(r) : s_private_user(w, r - SHARED);
}

static void s_order(worker_t *w, pending_t *p) {
    long ti = -1;
    if (w->token_n > 0 && rand_r(&w->seed) % 5 == 0) {
        long cand = rand_r(&w->seed) % (long)w->token_n;
        if (w->tokens[cand].state != T_SENT) ti = cand;
    }
    if (ti < 0) {
        ti = (long)w->token_n++;
        token_t *t = &w->tokens[ti];
        t->user_id = rand_r(&w->seed) % 5 == 0 ? s_shared_user(rand_r(&w->seed))
                                               : s_private_user(w, rand_r(&w->seed));
        t->count = 1 + rand_r(&w->seed) % 3;
        t->state = T_REFUSED; //  not created yet
    }
    token_t *t = &w->tokens[ti];
    p->op = OP_ORDER;
    p->token = ti;
    p->user_id = t->user_id;
    p->amount = t->count;
    p->expect_dup = t->state == T_ACKED;
    char token[24];
    snprintf(token, sizeof token, "p%d-%ld", w->index, ti);
    snprintf(p->key, sizeof p->key, "%lld/%s", (long long)t->user_id, token);
    int k = s_private(w, t->user_id);
    if (!p->expect_dup) {
        t->state = T_SENT;
        if (k < 0)
            p->allowed |= 1u << LEDGER_E_INSUFFICIENT_CREDITS | 1u << LEDGER_E_TOO_MANY_ACTIVE;
        else {
            int64_t cost = t->count * PRICE;
            if (w->bal_lo[k] - w->debit[k] < cost)
                p->allowed |= 1u << LEDGER_E_INSUFFICIENT_CREDITS;
            if (w->active_hi[k] + w->pending_active[k] + t->count > LIMIT_ACTIVE)
                p->allowed |= 1u << LEDGER_E_TOO_MANY_ACTIVE;
            p->debit = cost;
            p->active_add = t->count;
            w->debit[k] += cost;
            w->pending_active[k] += t->count;
        }
    }
    s_send(w, p, tu_order(t->user_id, token, t->count, PRICE));
}

static void s_claim(worker_t *w, pending_t *p) {
    size_t room = HAND_MAX - w->hand_n - w->hand_reserved;
    if (room == 0) {
        s_touch(w, p, s_any_user(w), true);
        return;
    }
    int64_t max_n = 1 + rand_r(&w->seed) % (room < 3 ? (int)room : 3);
    p->op = OP_CLAIM;
    p->amount = max_n;
    w->hand_reserved += (size_t)max_n;
    snprintf(p->key, sizeof p->key, "%s", w->key_id);
    s_send(w, p, tu_claim(w->key_id, max_n));
}

//  A job transition on a job of the hand when one is in a fitting state,
//  else on any recent job (racing whoever holds it).
static void s_job_op(worker_t *w, pending_t *p, op_t op) {
    static const unsigned fits[OP_COUNT_] = {
        [OP_SUBMIT] = 1u << H_RUNNING | 1u << H_SUBMITTED,
        [OP_PROGRESS] = 1u << H_RUNNING | 1u << H_SUBMITTED,
        [OP_RETRY] = 1u << H_RUNNING | 1u << H_SUBMITTED,
        [OP_SUCCEED] = 1u << H_RUNNING | 1u << H_SUBMITTED | 1u << H_SUCCEEDED,
        [OP_FAIL] = 1u << H_RUNNING | 1u << H_SUBMITTED,
        [OP_DELIVER] = 1u << H_SUCCEEDED,
    };
    hand_t *h = rand_r(&w->seed) % 4 ? s_hand_pick(w, fits[op]) : NULL;
    p->op = op;
    if (h) {
        p->in_hand = true;
        p->job_id = h->job_id;
        h->busy = true;
        //  a succeeded job stays succeeded (or is delivered by a racer):
        //  both requests must then be accepted
        if (h->state == H_SUCCEEDED)
            p->expect_dup = op == OP_SUCCEED;
        else
            p->allowed |= 1u << LEDGER_E_BAD_STATE;
    } else {
        p->job_id = s_ring_pick(w);
        hand_t *held = p->job_id ? s_hand_find(w, p->job_id) : NULL;
        if (!p->job_id || (held && held->busy)) {
            p->job_id = 0;
            s_touch(w, p, s_any_user(w), true);
            return;
        }
        if (held) held->busy = true;
        p->allowed |= 1u << LEDGER_E_BAD_STATE;
    }
    msg_t *req;
    switch (op) {
    case OP_SUBMIT: {
        char task[32];
        snprintf(task, sizeof task, "task-%lld", (long long)p->job_id);
        req = tu_submitted(p->job_id, task);
        msg_set_str(req, F_KEY_ID, w->key_id);
        break;
    }
    case OP_PROGRESS:
        req = tu_job_req(MSG_K_JOB_PROGRESS, p->job_id);
        msg_set_int(req, F_PROGRESS, rand_r(&w->seed) % 101);
        break;
    case OP_RETRY:
        req = tu_job_req(MSG_K_JOB_RETRY, p->job_id);
        msg_set_int(req, F_AT_MS, rand_r(&w->seed) % 2 ? 0 : zclock_time() + 20);
        msg_set_str(req, F_ERR_CLASS, "temporary");
        msg_set_int(req, F_ATTEMPTS, rand_r(&w->seed) % 2);
        break;
    case OP_SUCCEED:
        req = tu_job_req(MSG_K_JOB_SUCCEEDED, p->job_id);
        msg_set_str(req, F_RESULT_URL, "https://files.example/v.mp4");
        break;
    case OP_FAIL:
        req = tu_failed(p->job_id, "content_violation");
        break;
    default:
        req = tu_job_req(MSG_K_JOB_DELIVERED, p->job_id);
        break;
    }
    s_send(w, p, req);
}

static void s_cancel(worker_t *w, pending_t *p) {
    if (w->own_n == 0) {
        s_touch(w, p, s_any_user(w), true);
        return;
    }
    size_t span = w->own_n < OWN_MAX ? w->own_n : OWN_MAX;
    size_t i = (w->own_n - 1 - (size_t)rand_r(&w->seed) % span) % OWN_MAX;
    hand_t *h = s_hand_find(w, w->own_jobs[i]);
    if (h && h->busy) {
        s_touch(w, p, s_any_user(w), true);
        return;
    }
    if (h) h->busy = true;
    p->op = OP_CANCEL;
    p->job_id = w->own_jobs[i];
    p->user_id = w->own_users[i];
    if (rand_r(&w->seed) % 10 == 0) {
        p->user_id = w->own_users[i] == 1 ? 2 : 1; //  not the owner: as if the job did not exist
        p->allowed = 1u << LEDGER_E_NOT_FOUND;
    } else
        p->allowed |= 1u << LEDGER_E_BAD_STATE;
    s_send(w, p, tu_cancel(p->job_id, p->user_id));
}

//  A payment or an adjustment: one of this thread's own charges / refs
//  (new, or one sent before), or a shared one that other threads are
//  sending about now.
static void s_money(worker_t *w, pending_t *p, op_t op) {
    bool pay = op == OP_PAY;
    p->op = op;
    p->shared = rand_r(&w->seed) % 5 < 2;
    long *next = pay ? &w->pay_n : &w->adj_n;
    key_state_t *states;
    if (p->shared) {
        p->key_n = w->i / 16 + rand_r(&w->seed) % 3;
        if (p->key_n >= w->shared_max) p->key_n = w->shared_max - 1;
        states = pay ? w->shared_pays : w->shared_adjs;
        p->user_id = s_shared_user(p->key_n);
        snprintf(p->key, sizeof p->key, "%s-%ld", pay ? "sc" : "sa", p->key_n);
    } else {
        states = pay ? w->pays : w->adjs;
        p->key_n = *next;
        if (*next > 0 && rand_r(&w->seed) % 10 < 3) {
            long cand = rand_r(&w->seed) % *next;
            if (states[cand] != K_SENT || pay) p->key_n = cand;
        }
        if (p->key_n == *next) (*next)++;
        p->user_id = s_private_user(w, p->key_n);
        snprintf(p->key, sizeof p->key, "%s%d-%ld", pay ? "c" : "a", w->index, p->key_n);
    }
    //  a payment can't be refused, so one sent before is a duplicate now;
    //  an adjustment only when one was acknowledged
    p->expect_dup = pay ? states[p->key_n] != K_NONE : states[p->key_n] == K_ACKED;
    if (states[p->key_n] != K_ACKED) states[p->key_n] = K_SENT;
    msg_t *req;
    if (pay) {
        p->amount = 2 + p->key_n % 7;
        req = tu_payment(p->user_id, p->key, p->amount);
    } else {
        p->amount = s_delta(p->key_n);
        int k = s_private(w, p->user_id);
        if (p->amount < 0 && !p->expect_dup) {
            if (k < 0 || w->bal_lo[k] - w->debit[k] + p->amount < 0)
                p->allowed |= 1u << LEDGER_E_INSUFFICIENT_CREDITS;
            if (k >= 0) {
                p->debit = -p->amount;
                w->debit[k] += p->debit;
            }
        }
        req = tu_adjust(p->user_id, p->amount, p->key);
    }
    s_send(w, p, req);
}

static void s_random_request(worker_t *w) {
    pending_t *p = s_slot(w);
    if (!p) return;
    int total = 0;
    for (size_t i = 0; i < sizeof s_mix / sizeof s_mix[0]; i++)
        total += s_mix[i].weight;
    int r = rand_r(&w->seed) % total;
    op_t op = OP_TOUCH;
    for (size_t i = 0; i < sizeof s_mix / sizeof s_mix[0]; i++) {
        if (r < s_mix[i].weight) {
            op = s_mix[i].op;
            break;
        }
        r -= s_mix[i].weight;
    }
    switch (op) {
    case OP_TOUCH:
    case OP_BALANCE:
        s_touch(w, p, s_any_user(w), op == OP_BALANCE);
        break;
    case OP_ORDER:
        s_order(w, p);
        break;
    case OP_CLAIM:
        s_claim(w, p);
        break;
    case OP_CANCEL:
        s_cancel(w, p);
        break;
    case OP_PAY:
    case OP_ADJUST:
        s_money(w, p, op);
        break;
    case OP_EXPIRE: {
        //  jobs queued for more than EXPIRE_MS (retried ones, mostly) fail
        msg_t *req = msg_new(MSG_K_JOBS_EXPIRE, 0);
        p->op = OP_EXPIRE;
        p->amount = 1 + rand_r(&w->seed) % 4;
        msg_set_int(req, F_AT_MS, zclock_time() - EXPIRE_MS);
        msg_set_int(req, F_MAX_N, p->amount);
        msg_set_str(req, F_ERR_CLASS, "timeout");
        snprintf(p->key, sizeof p->key, "expire");
        s_send(w, p, req);
        break;
    }
    default:
        s_job_op(w, p, op);
        break;
    }
}

//  Every thread sends the same order token for the same shared user at the
//  same moment: one of them creates the jobs, the others get duplicates.
static void s_race(worker_t *w, long round) {
    s_drain(w);
    pthread_barrier_wait(&s_run.barrier);
    pending_t *p = s_slot(w);
    if (!p) return;
    char token[24];
    snprintf(token, sizeof token, "race-%ld", round);
    p->op = OP_ORDER;
    p->shared = true;
    p->user_id = s_race_user(round);
    p->amount = 1 + round % 3;
    p->allowed |= 1u << LEDGER_E_INSUFFICIENT_CREDITS | 1u << LEDGER_E_TOO_MANY_ACTIVE;
    snprintf(p->key, sizeof p->key, "%lld/%s", (long long)p->user_id, token);
    s_send(w, p, tu_order(p->user_id, token, p->amount, PRICE));
    s_drain(w);
}

//  All threads create the shared users at once (one of them sees
//  created), seed them with one raced adjustment, then create their own.
static void s_start_phase(worker_t *w) {
    pthread_barrier_wait(&s_run.barrier);
    for (long u = 0; u < SHARED + RACERS; u++) {
        pending_t *p = s_slot(w);
        if (p) s_touch(w, p, u < SHARED ? s_shared_user(u) : s_race_user(u - SHARED), false);
    }
    for (long u = 0; u < SHARED + RACERS; u++) {
        pending_t *p = s_slot(w);
        if (!p) break;
        p->op = OP_ADJUST;
        p->shared = true;
        p->user_id = u < SHARED ? s_shared_user(u) : s_race_user(u - SHARED);
        p->amount = SEED_CREDITS;
        snprintf(p->key, sizeof p->key, "seed-%lld", (long long)p->user_id);
        s_send(w, p, tu_adjust(p->user_id, SEED_CREDITS, p->key));
    }
    for (long k = 0; k < PRIVATE; k++) {
        pending_t *p = s_slot(w);
        if (!p) break;
        p->expect_created = true;
        s_touch(w, p, s_private_user(w, k), false);
    }
    s_drain(w);
}

static void *s_worker(void *arg) {
    worker_t *w = (worker_t *)arg;
    w->dealer = ledger_connect(ENDPOINT);
    assert(w->dealer);
    zsock_set_rcvtimeo(w->dealer, REPLY_WAIT_MS);
    s_start_phase(w);
    for (w->i = 0; w->i < w->iterations; w->i++) {
        if (w->i > 0 && w->i % RACE_EVERY == 0)
            s_race(w, w->i / RACE_EVERY); //  every thread reaches it, even a dead one
        if (!w->dead) s_random_request(w);
    }
    if (!w->dead) s_drain(w);
    zsock_destroy(&w->dealer);
    return NULL;
}

//  --- verification ----------------------------------------------------------

static int s_ack_cmp(const void *a, const void *b) {
    const ack_t *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (int)x->dup - (int)y->dup;
}

static int s_key_cmp(const void *key, const void *elem) {
    return strcmp((const char *)key, ((const ack_t *)elem)->key);
}

//  Merges every thread's acknowledgements of one kind and keeps one per key:
//  the non-duplicate one, which must exist exactly once, and every repeat
//  must have seen the same jobs. *multi counts keys acknowledged more than once.
static ack_t *s_merge(worker_t *workers, size_t offset, size_t *n_out, long *multi) {
    size_t n = 0;
    for (int t = 0; t < THREADS; t++)
        n += ((acks_t *)((char *)&workers[t] + offset))->n;
    ack_t *all = malloc((n ? n : 1) * sizeof(ack_t));
    assert_non_null(all);
    n = 0;
    for (int t = 0; t < THREADS; t++) {
        acks_t *acks = (acks_t *)((char *)&workers[t] + offset);
        memcpy(all + n, acks->v, acks->n * sizeof(ack_t));
        n += acks->n;
    }
    qsort(all, n, sizeof(ack_t), s_ack_cmp);
    size_t groups = 0;
    *multi = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && strcmp(all[j].key, all[i].key) == 0)
            j++;
        if (all[i].dup)
            fail_msg("%s: acknowledged %zu times, always as a duplicate", all[i].key, j - i);
        if (j > i + 1 && !all[i + 1].dup)
            fail_msg("%s: acknowledged as new more than once", all[i].key);
        for (size_t k = i + 1; k < j; k++)
            if (all[k].n != all[i].n ||
                memcmp(all[k].ids, all[i].ids, all[i].n * sizeof(int64_t)) ||
                all[k].user_id != all[i].user_id)
                fail_msg("%s: a duplicate saw other jobs or another user", all[i].key);
        *multi += j > i + 1;
        all[i].times = (long)(j - i);
        all[groups++] = all[i];
        i = j;
    }
    *n_out = groups;
    return all;
}

static sqlite3_stmt *s_query(sqlite3 *db, const char *sql) {
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    return stmt;
}

static void s_verify(worker_t *workers, const char *path) {
    static int64_t balance[USER_MAX], held[USER_MAX], created[USER_MAX];
    long users = 0;
    int64_t topups = 0, adjusts = 0, holds = 0;
    memset(balance, 0, sizeof balance);
    memset(held, 0, sizeof held);
    memset(created, 0, sizeof created);
    for (int t = 0; t < THREADS; t++)
        for (int u = 0; u < USER_MAX; u++) {
            worker_t *w = &workers[t];
            created[u] += w->created[u];
            balance[u] += w->topup[u] + w->adjust[u] - w->hold[u];
            held[u] += w->hold[u];
            topups += w->topup[u];
            adjusts += w->adjust[u];
            holds += w->hold[u];
        }
    for (int u = 0; u < USER_MAX; u++) {
        if (created[u] > 1) fail_msg("user %d created %lld times", u, (long long)created[u]);
        balance[u] += created[u] * s_run.free_credits;
        users += created[u];
    }

    //  jobs: what the replies said, merged; the state each must be in
    size_t max_jobs = s_run.max_jobs;
    char *expect = calloc(max_jobs, 1); //  0 unknown, else a job.h state
    uint16_t *seen = calloc(max_jobs, sizeof(uint16_t));
    assert_non_null(expect);
    assert_non_null(seen);
    long captures = 0, releases = 0, delivered = 0;
    for (size_t j = 1; j < max_jobs; j++) {
        int cap = 0, del = 0, fail = 0, cancel = 0;
        for (int t = 0; t < THREADS; t++) {
            uint16_t b = workers[t].jobs[j];
            seen[j] |= b;
            cap += !!(b & J_CAPTURE);
            del += !!(b & J_DELIVER);
            fail += !!(b & J_FAIL);
            cancel += !!(b & J_CANCEL);
        }
        if (!seen[j]) continue;
        int64_t u = atomic_load(&s_run.job_user[j]);
        if (u <= 0 || u >= USER_MAX) fail_msg("job %zu: acknowledged but never created", j);
        if (cap + fail + cancel > 1 || del > 1 || (del && !cap))
            fail_msg("job %zu: %d captures, %d deliveries, %d fails, %d cancels", j, cap, del, fail,
                     cancel);
        if (((seen[j] & J_DUP_CAPTURE) && !cap) || ((seen[j] & J_DUP_DELIVER) && !del) ||
            ((seen[j] & J_DUP_FAIL) && !fail) || ((seen[j] & J_DUP_CANCEL) && !cancel))
            fail_msg("job %zu: a duplicate of a change nobody made", j);
        expect[j] = del      ? JOB_DELIVERED
                    : cap    ? JOB_SUCCEEDED
                    : fail   ? JOB_FAILED
                    : cancel ? JOB_CANCELLED
                             : 0;
        held[u] -= (cap + fail + cancel) * PRICE;
        balance[u] += (fail + cancel) * PRICE;
        captures += cap;
        releases += fail + cancel;
        delivered += del;
    }

    size_t n_orders, n_pays, n_adjs;
    long multi_orders, multi_pays, multi_adjs;
    ack_t *orders = s_merge(workers, offsetof(worker_t, orders), &n_orders, &multi_orders);
    ack_t *pays = s_merge(workers, offsetof(worker_t, payments), &n_pays, &multi_pays);
    ack_t *adjs = s_merge(workers, offsetof(worker_t, adjustments), &n_adjs, &multi_adjs);
    long race_multi = 0, race_acks = 0;
    int32_t *job_order = calloc(max_jobs, sizeof(int32_t)); //  index + 1 into orders
    assert_non_null(job_order);
    size_t jobs_created = 0;
    for (size_t i = 0; i < n_orders; i++) {
        for (size_t k = 0; k < orders[i].n; k++) {
            int64_t j = orders[i].ids[k];
            if (job_order[j]) fail_msg("job %lld created by two orders", (long long)j);
            job_order[j] = (int32_t)i + 1;
            if (atomic_load(&s_run.job_user[j]) != orders[i].user_id)
                fail_msg("job %lld: owner mixed up", (long long)j);
            jobs_created++;
        }
        if (strstr(orders[i].key, "/race-")) {
            race_multi += orders[i].times > 1;
            race_acks += orders[i].times;
        }
    }
    if ((int64_t)jobs_created * PRICE != holds)
        fail_msg("%zu jobs created, %lld held by new orders", jobs_created, (long long)holds);

    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    //  users: balance and held exactly as acknowledged
    sqlite3_stmt *stmt = s_query(db, "SELECT user_id, balance, held FROM users");
    long rows = 0;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
        int64_t u = sqlite3_column_int64(stmt, 0);
        rows++;
        if (u <= 0 || u >= USER_MAX || !created[u])
            fail_msg("user %lld: in the database, never acknowledged as created", (long long)u);
        if (sqlite3_column_int64(stmt, 1) != balance[u] || sqlite3_column_int64(stmt, 2) != held[u])
            fail_msg("user %lld: balance %lld held %lld, acknowledged %lld and %lld", (long long)u,
                     (long long)sqlite3_column_int64(stmt, 1),
                     (long long)sqlite3_column_int64(stmt, 2), (long long)balance[u],
                     (long long)held[u]);
    }
    sqlite3_finalize(stmt);
    assert_int_equal(rows, users);

    //  jobs: exactly the acknowledged orders' jobs, each in its acknowledged
    //  state (an active one only running if claimed, submitted if acknowledged)
    long states[JOB_STATE_COUNT_] = {0};
    stmt = s_query(db, "SELECT job_id, user_id, order_token, idx, state FROM jobs");
    rows = 0;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
        int64_t j = sqlite3_column_int64(stmt, 0);
        rows++;
        if (j <= 0 || (size_t)j >= max_jobs || !job_order[j])
            fail_msg("job %lld: in the database, no order acknowledged it", (long long)j);
        const ack_t *o = &orders[job_order[j] - 1];
        char key[128];
        snprintf(key, sizeof key, "%lld/%s", (long long)sqlite3_column_int64(stmt, 1),
                 (const char *)sqlite3_column_text(stmt, 2));
        int64_t idx = sqlite3_column_int64(stmt, 3);
        if (strcmp(key, o->key) || idx < 0 || (size_t)idx >= o->n || o->ids[idx] != j)
            fail_msg("job %lld: order %s idx %lld, acknowledged for %s", (long long)j, key,
                     (long long)idx, o->key);
        job_state_t state = job_state_parse((const char *)sqlite3_column_text(stmt, 4));
        states[state]++;
        bool ok = expect[j]
                      ? state == (job_state_t)expect[j]
                      : (state == JOB_QUEUED || (state == JOB_RUNNING && (seen[j] & J_CLAIMED)) ||
                         (state == JOB_SUBMITTED && (seen[j] & J_SUBMITTED)));
        if (!ok)
            fail_msg("job %lld: %s, acknowledged %s", (long long)j, job_state_name(state),
                     expect[j] ? job_state_name((job_state_t)expect[j]) : "active");
    }
    sqlite3_finalize(stmt);
    assert_int_equal(rows, (long)jobs_created);

    //  payments: one row per charge id acknowledged as new
    stmt = s_query(db, "SELECT charge_id, user_id, credits FROM payments");
    rows = 0;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
        const char *charge = (const char *)sqlite3_column_text(stmt, 0);
        const ack_t *a = bsearch(charge, pays, n_pays, sizeof(ack_t), s_key_cmp);
        rows++;
        if (!a || a->user_id != sqlite3_column_int64(stmt, 1) ||
            a->amount != sqlite3_column_int64(stmt, 2))
            fail_msg("payment %s: not as acknowledged", charge);
    }
    sqlite3_finalize(stmt);
    assert_int_equal(rows, (long)n_pays);

    //  adjustments: one entry per ref acknowledged as new
    stmt = s_query(db, "SELECT substr(ref, 5), user_id, d_balance FROM entries"
                       " WHERE kind = 'adjust'");
    rows = 0;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
        const char *ref = (const char *)sqlite3_column_text(stmt, 0);
        const ack_t *a = bsearch(ref, adjs, n_adjs, sizeof(ack_t), s_key_cmp);
        rows++;
        if (!a || a->user_id != sqlite3_column_int64(stmt, 1) ||
            a->amount != sqlite3_column_int64(stmt, 2))
            fail_msg("adjustment %s: not as acknowledged", ref);
    }
    sqlite3_finalize(stmt);
    assert_int_equal(rows, (long)n_adjs);

    //  the journal as a whole
    stmt = s_query(db, "SELECT kind, count(*), sum(d_balance), sum(d_held) FROM entries"
                       " GROUP BY kind");
    while (sqlite3_step(stmt) == SQLITE_ROW) {
        const char *kind = (const char *)sqlite3_column_text(stmt, 0);
        int64_t count = sqlite3_column_int64(stmt, 1), sum = sqlite3_column_int64(stmt, 2);
        int64_t want_count = -1, want_sum = sum;
        if (!strcmp(kind, "grant"))
            want_count = users, want_sum = users * s_run.free_credits;
        else if (!strcmp(kind, "topup"))
            want_count = (int64_t)n_pays, want_sum = topups;
        else if (!strcmp(kind, "adjust"))
            want_count = (int64_t)n_adjs, want_sum = adjusts;
        else if (!strcmp(kind, "hold"))
            want_count = (int64_t)jobs_created, want_sum = -holds;
        else if (!strcmp(kind, "capture"))
            want_count = captures, want_sum = 0;
        else if (!strcmp(kind, "release"))
            want_count = releases, want_sum = releases * PRICE;
        if (count != want_count || sum != want_sum)
            fail_msg("entries %s: %lld totalling %lld, acknowledged %lld totalling %lld", kind,
                     (long long)count, (long long)sum, (long long)want_count, (long long)want_sum);
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);

    long sent = 0, expired = 0, by_code[LEDGER_E_INTERNAL + 1] = {0};
    for (int t = 0; t < THREADS; t++) {
        sent += workers[t].sent;
        expired += workers[t].expired;
        for (int c = 0; c <= LEDGER_E_INTERNAL; c++)
            by_code[c] += workers[t].by_code[c];
    }
    printf("  %ld requests: %ld ok, %ld insufficient_credits, %ld too_many_active, "
           "%ld not_found, %ld bad_state\n",
           sent, by_code[0], by_code[LEDGER_E_INSUFFICIENT_CREDITS],
           by_code[LEDGER_E_TOO_MANY_ACTIVE], by_code[LEDGER_E_NOT_FOUND],
           by_code[LEDGER_E_BAD_STATE]);
    printf("  %zu orders (%ld repeated; %ld sent by every thread at once, %ld acknowledged),"
           " %zu jobs: %ld queued, %ld running, %ld submitted, %ld succeeded, %ld delivered,"
           " %ld failed (%ld expired), %ld cancelled\n",
           n_orders, multi_orders, race_multi, race_acks, jobs_created, states[JOB_QUEUED],
           states[JOB_RUNNING], states[JOB_SUBMITTED], states[JOB_SUCCEEDED], states[JOB_DELIVERED],
           states[JOB_FAILED], expired, states[JOB_CANCELLED]);
    printf("  %zu payments (%ld charge ids repeated), %zu adjustments (%ld refs repeated)\n",
           n_pays, multi_pays, n_adjs, multi_adjs);
    //  the run must have exercised what it is about
    assert_true(multi_orders > 0 && race_multi > 0 && multi_pays > 0 && multi_adjs > 0);
    assert_true(captures > 0 && releases > 0 && delivered > 0);
    assert_true(by_code[LEDGER_E_BAD_STATE] > 0 && by_code[LEDGER_E_NOT_FOUND] > 0);
    assert_int_equal(states[JOB_DELIVERED], delivered);
    free(expect);
    free(seen);
    free(job_order);
    free(orders);
    free(pays);
    free(adjs);
}

static void test_load(void **state) {
    (void)state;
    char *path = tu_db_path("load");
    config_t *config = tu_config(path);
    //  NORMAL, not FULL: in WAL mode it is as consistent (a crash loses at
    //  most the last commits, never the invariants) and skips an fsync per
    //  batch. Durability of acknowledged changes is test_ledger_crash's job.
    config->sync_full = 0;
    config->limit_active = LIMIT_ACTIVE;
    config->limit_per_min = 100000; //  this test is not about the rate limit
    long iterations = tu_scaled(10000);
    memset(&s_run, 0, sizeof s_run);
    s_run.max_jobs = (size_t)(THREADS * iterations * 3 + 1024);
    s_run.job_user = calloc(s_run.max_jobs, sizeof(int32_t));
    s_run.free_credits = config->free_credits;
    assert_non_null(s_run.job_user);
    pthread_barrier_init(&s_run.barrier, NULL, THREADS);

    ledger_args_t args = {.config = config, .endpoint = ENDPOINT};
    zactor_t *ledger = ledger_start(&args);
    assert_non_null(ledger);
    worker_t *workers = calloc(THREADS, sizeof(worker_t));
    assert_non_null(workers);
    int64_t start = zclock_mono();
    for (int t = 0; t < THREADS; t++) {
        worker_t *w = &workers[t];
        w->index = t;
        w->seed = (unsigned)(t * 7919 + 17);
        w->iterations = iterations;
        w->shared_max = iterations / 16 + 8;
        snprintf(w->key_id, sizeof w->key_id, "key-%d", t);
        w->tokens = calloc((size_t)iterations + 1, sizeof(token_t));
        w->pays = calloc((size_t)iterations + 1, sizeof(key_state_t));
        w->adjs = calloc((size_t)iterations + 1, sizeof(key_state_t));
        w->shared_pays = calloc((size_t)w->shared_max, sizeof(key_state_t));
        w->shared_adjs = calloc((size_t)w->shared_max, sizeof(key_state_t));
        w->jobs = calloc(s_run.max_jobs, sizeof(uint16_t));
        assert_true(w->tokens && w->pays && w->adjs && w->shared_pays && w->shared_adjs && w->jobs);
        assert_int_equal(pthread_create(&w->thread, NULL, s_worker, w), 0);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(workers[t].thread, NULL);
    int64_t elapsed = zclock_mono() - start;
    zactor_destroy(&ledger);
    for (int t = 0; t < THREADS; t++)
        if (workers[t].failures)
            fail_msg("%ld failures, first: %s", workers[t].failures, workers[t].failure);
    printf("  %d threads x %ld requests in %lld ms\n", THREADS, iterations, (long long)elapsed);
    tu_assert_check(path);
    s_verify(workers, path);

    for (int t = 0; t < THREADS; t++) {
        worker_t *w = &workers[t];
        free(w->tokens);
        free(w->pays);
        free(w->adjs);
        free(w->shared_pays);
        free(w->shared_adjs);
        free(w->jobs);
        free(w->orders.v);
        free(w->payments.v);
        free(w->adjustments.v);
    }
    free(workers);
    free(s_run.job_user);
    pthread_barrier_destroy(&s_run.barrier);
    tu_db_remove(path);
    free(path);
    config_destroy(&config);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
