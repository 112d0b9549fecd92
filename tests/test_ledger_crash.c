/*  test_ledger_crash.c — kill -9 the ledger under load, again and again,
    on the same database file.

    Each round forks a child that starts the ledger on the file (startup
    recovery included) and drives it from a few client threads with a
    random mix of writes. For every reply it receives, a client writes one
    line to a pipe saying what was acknowledged ("order 3 r2-t1-17 0 2 45 46",
    "pay ch-17 1", "failed 45 0", ...), right after the reply arrived. The
    parent reads the lines and SIGKILLs the child at a random moment. Then:
      - genbot check passes on the file;
      - every fact acknowledged in any round so far is in the database: the
        order's jobs with those ids, the payment, the adjustment's entry, the
        job at least as far as acknowledged (succeeded: succeeded or
        delivered); a token, charge id or ref is new at most once, never
        after a round that already saw it;
      - the next child, before any load, reports the jobs that were running
        at the kill: each is queued again with its attempts unchanged, and no
        job is left running.

    The parent never starts ZeroMQ: every child forks from a process with no
    threads and no context, and leaves with _exit (no cmocka in the child).
    Note that SIGKILL tests that a reply is sent only after COMMIT returns; it
    can't test the fsync itself (the page cache survives a killed process),
    which is what synchronous=FULL adds for power loss.
*/
#include "testutil.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <time.h>

#include "job.h"

#define ENDPOINT      "inproc://ledger-crash"
#define ROUNDS        24
#define CHILD_THREADS 4
#define USERS         8
#define WINDOW        4 //  requests in flight per client thread
#define HAND_MAX      32
#define POOL_MAX      256  //  jobs a client can target beyond its hand
#define RING_SIZE     1024 //  jobs created in this child, shared by its clients
#define LIMIT_ACTIVE  20
#define PRICE         1
#define SNAPSHOT_MAX  200 //  running jobs followed through recovery
#define LINE_SIZE     256
#define REPLY_WAIT_MS 20000
#define CHILD_LIFE_MS 30000 //  a child not killed by then says so and exits
#define READY_WAIT_MS 20000
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

static int64_t s_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t s_delta(long n) {
    int64_t d = n % 8 - 2;
    return d ? d : 5;
}

//  --- facts: what the children acknowledged (parent memory; a child sees
//  the facts of earlier rounds, inherited at fork) ------------------------

typedef struct {
    int round;
    bool dup;
    char key[48]; //  "<user>/<token>", a charge id, or a ref
    int64_t user_id;
    size_t n;
    int64_t ids[3];
} keyed_t;

typedef struct {
    keyed_t *v;
    size_t n, cap;
} keyed_list_t;

typedef struct {
    int64_t job_id;
    job_state_t state; //  succeeded, delivered, failed or cancelled
    int round;
} ended_t;

static struct {
    config_t *config;
    keyed_list_t orders, payments, adjustments;
    ended_t *ended;
    size_t ended_n, ended_cap;
    bool touched[USERS + 1];
    //  jobs running when the last child was killed, with their attempts
    int64_t running[SNAPSHOT_MAX], running_attempts[SNAPSHOT_MAX];
    size_t running_n;
    bool ever_ready;
    //  this round
    int round;
    long acks, recovered_checks;
    bool ready;
    char error[512];
} s_facts;

static void s_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void s_error(const char *fmt, ...) {
    if (s_facts.error[0]) return;
    va_list args;
    va_start(args, fmt);
    vsnprintf(s_facts.error, sizeof s_facts.error, fmt, args);
    va_end(args);
}

static keyed_t *s_keyed_add(keyed_list_t *list) {
    if (list->n == list->cap) {
        list->cap = list->cap ? list->cap * 2 : 256;
        list->v = realloc(list->v, list->cap * sizeof(keyed_t));
        assert(list->v);
    }
    keyed_t *k = &list->v[list->n++];
    memset(k, 0, sizeof *k);
    k->round = s_facts.round;
    return k;
}

//  --- the child: a ledger and its clients --------------------------------

typedef enum {
    OP_TOUCH,
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
    "user_touch",     "order_place",   "jobs_claim", "job_submitted", "job_progress",
    "job_retry",      "job_succeeded", "job_failed", "job_delivered", "job_cancel",
    "payment_credit", "admin_adjust",  "jobs_expire"};

static const int s_mix[OP_COUNT_] = {
    [OP_TOUCH] = 3, [OP_ORDER] = 18,   [OP_CLAIM] = 12, [OP_SUBMIT] = 10, [OP_PROGRESS] = 3,
    [OP_RETRY] = 5, [OP_SUCCEED] = 10, [OP_FAIL] = 6,   [OP_DELIVER] = 8, [OP_CANCEL] = 6,
    [OP_PAY] = 10,  [OP_ADJUST] = 6,   [OP_EXPIRE] = 1,
};

typedef enum { H_RUNNING, H_SUBMITTED, H_SUCCEEDED } hand_state_t;

typedef struct {
    int64_t job_id, user_id;
    hand_state_t state;
    bool busy;
} hand_t;

typedef struct {
    uint64_t corr;
    op_t op;
    unsigned allowed;
    int64_t user_id, job_id, amount;
    bool in_hand;
    const keyed_t *earlier; //  an order of an earlier round, repeated
    char key[48];
} pending_t;

typedef struct {
    int index;
    unsigned seed;
    zsock_t *dealer;
    pending_t pending[WINDOW];
    size_t in_flight;
    uint64_t next_corr;
    char key_id[16];
    hand_t hand[HAND_MAX];
    size_t hand_n, hand_reserved;
    int64_t pool[POOL_MAX], pool_users[POOL_MAX];
    size_t pool_n;
    long token_n;
} client_t;

static int s_out = -1;                    //  the pipe to the parent
static _Atomic int64_t s_ring[RING_SIZE]; //  job id * 16 + user id
static _Atomic uint64_t s_ring_next;

//  One line to the parent, in one write(2): lines shorter than PIPE_BUF
//  never interleave, and a SIGKILL can't cut one in half.
static void s_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void s_line(const char *fmt, ...) {
    char buf[LINE_SIZE];
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, args);
    va_end(args);
    if (n < 0) return;
    if (n > (int)sizeof buf - 2) n = (int)sizeof buf - 2;
    buf[n++] = '\n';
    while (write(s_out, buf, (size_t)n) < 0 && errno == EINTR)
        ;
}

static hand_t *s_hand_find(client_t *c, int64_t job_id) {
    for (size_t i = 0; i < c->hand_n; i++)
        if (c->hand[i].job_id == job_id) return &c->hand[i];
    return NULL;
}

static void s_hand_drop(client_t *c, int64_t job_id) {
    hand_t *h = s_hand_find(c, job_id);
    if (h) *h = c->hand[--c->hand_n];
}

static void s_pool_add(client_t *c, int64_t job_id, int64_t user_id) {
    c->pool[c->pool_n % POOL_MAX] = job_id;
    c->pool_users[c->pool_n % POOL_MAX] = user_id;
    c->pool_n++;
}

static void s_on_reply(client_t *c, pending_t *p, msg_t *reply) {
    int code = tu_code(reply);
    if (code < 0 || code > LEDGER_E_INTERNAL || !(p->allowed & (1u << code))) {
        s_line("bad %s %s: %s (%s)", s_op_names[p->op], p->key, ledger_err_name(code),
               msg_has(reply, F_DETAIL) ? msg_str(reply, F_DETAIL) : "");
        return;
    }
    hand_t *h = p->job_id ? s_hand_find(c, p->job_id) : NULL;
    if (h) h->busy = false;
    if (code) {
        if (code == LEDGER_E_BAD_STATE && p->in_hand) s_hand_drop(c, p->job_id);
        if (p->op == OP_CLAIM) c->hand_reserved -= (size_t)p->amount;
        return;
    }
    bool dup = msg_bool(reply, F_DUPLICATE);
    switch (p->op) {
    case OP_TOUCH:
        s_line("touch %lld", (long long)p->user_id);
        break;
    case OP_ORDER: {
        size_t n = msg_len(reply, F_JOB_IDS);
        const int64_t *ids = msg_ints(reply, F_JOB_IDS);
        char line[LINE_SIZE];
        int len = snprintf(line, sizeof line, "order %s %d %zu", p->key, dup, n);
        for (size_t i = 0; i < n && i < 3; i++)
            len += snprintf(line + len, sizeof line - (size_t)len, " %lld", (long long)ids[i]);
        s_line("%s", line);
        if (p->earlier &&
            (!dup || n != p->earlier->n || memcmp(ids, p->earlier->ids, n * sizeof(int64_t))))
            s_line("bad order %s of round %d: repeated, came back %s with other jobs", p->key,
                   p->earlier->round, dup ? "duplicate" : "new");
        for (size_t i = 0; !dup && i < n; i++) {
            uint64_t slot = atomic_fetch_add(&s_ring_next, 1);
            atomic_store(&s_ring[slot % RING_SIZE], ids[i] * 16 + p->user_id);
        }
        break;
    }
    case OP_CLAIM:
        c->hand_reserved -= (size_t)p->amount;
        for (size_t i = 0; i < msg_len(reply, F_JOBS) && c->hand_n < HAND_MAX; i++) {
            const msg_t *row = msg_row(reply, F_JOBS, i);
            int64_t job_id = msg_int(row, F_JOB_ID);
            hand_t *held = s_hand_find(c, job_id);
            if (!held) {
                held = &c->hand[c->hand_n++];
                *held = (hand_t){.job_id = job_id, .user_id = msg_int(row, F_USER_ID)};
            }
            held->state = H_RUNNING;
        }
        break;
    case OP_SUBMIT:
        if (h) h->state = H_SUBMITTED;
        break;
    case OP_RETRY:
        s_hand_drop(c, p->job_id);
        break;
    case OP_SUCCEED:
        s_line("succeeded %lld %d", (long long)p->job_id, dup);
        if (h) h->state = H_SUCCEEDED;
        break;
    case OP_FAIL:
        s_line("failed %lld %d", (long long)p->job_id, dup);
        s_hand_drop(c, p->job_id);
        break;
    case OP_DELIVER:
        s_line("delivered %lld %d", (long long)p->job_id, dup);
        s_hand_drop(c, p->job_id);
        break;
    case OP_CANCEL:
        s_line("cancel %lld %d", (long long)p->job_id, dup);
        s_hand_drop(c, p->job_id);
        break;
    case OP_PAY:
        s_line("pay %s %d", p->key, dup);
        break;
    case OP_ADJUST:
        s_line("adj %s %d", p->key, dup);
        break;
    case OP_EXPIRE:
        for (size_t i = 0; i < msg_len(reply, F_JOBS); i++) {
            int64_t job_id = msg_int(msg_row(reply, F_JOBS, i), F_JOB_ID);
            s_line("failed %lld 0", (long long)job_id);
            s_hand_drop(c, job_id);
        }
        break;
    default:
        break;
    }
}

static void s_recv_one(client_t *c) {
    msg_err_t err;
    msg_t *reply = msg_recv(c->dealer, &err);
    if (!reply) {
        s_line("bad no reply within %d ms (%s)", REPLY_WAIT_MS, msg_err_str(err));
        _exit(4);
    }
    for (size_t i = 0; i < WINDOW; i++) {
        pending_t *p = &c->pending[i];
        if (p->corr && p->corr == msg_corr(reply)) {
            s_on_reply(c, p, reply);
            p->corr = 0;
            c->in_flight--;
            msg_destroy(&reply);
            return;
        }
    }
    s_line("bad reply with unknown corr_id %llu", (unsigned long long)msg_corr(reply));
    _exit(4);
}

static pending_t *s_slot(client_t *c) {
    if (c->in_flight == WINDOW) s_recv_one(c);
    for (size_t i = 0; i < WINDOW; i++)
        if (!c->pending[i].corr) {
            memset(&c->pending[i], 0, sizeof(pending_t));
            c->pending[i].allowed = 1u << 0;
            return &c->pending[i];
        }
    abort();
}

static void s_send(client_t *c, pending_t *p, msg_t *req) {
    p->corr = ++c->next_corr;
    msg_set_corr(req, p->corr);
    if (!p->key[0])
        snprintf(p->key, sizeof p->key, "%lld", (long long)(p->job_id ? p->job_id : p->user_id));
    if (msg_send(&req, c->dealer)) {
        s_line("bad %s: send failed", s_op_names[p->op]);
        _exit(4);
    }
    c->in_flight++;
}

static void s_touch(client_t *c, pending_t *p, int64_t user_id) {
    p->op = OP_TOUCH;
    p->user_id = user_id;
    s_send(c, p, tu_touch(user_id));
}

static int64_t s_user(client_t *c) {
    return 1 + rand_r(&c->seed) % USERS;
}

static void s_order(client_t *c, pending_t *p) {
    int r = rand_r(&c->seed) % 20;
    char token[32];
    int64_t count;
    p->op = OP_ORDER;
    p->allowed |= 1u << LEDGER_E_INSUFFICIENT_CREDITS | 1u << LEDGER_E_TOO_MANY_ACTIVE;
    if (r < 3 && s_facts.orders.n > 0) {
        //  an order acknowledged in an earlier round: a duplicate, same jobs
        p->earlier = &s_facts.orders.v[(size_t)rand_r(&c->seed) % s_facts.orders.n];
        snprintf(p->key, sizeof p->key, "%s", p->earlier->key);
        p->user_id = p->earlier->user_id;
        snprintf(token, sizeof token, "%s", strchr(p->key, '/') + 1);
        count = (int64_t)p->earlier->n;
    } else {
        long n = r < 5 && c->token_n > 0 ? rand_r(&c->seed) % c->token_n : c->token_n++;
        snprintf(token, sizeof token, "r%d-t%d-%ld", s_facts.round, c->index, n);
        //  a token's user and count follow from its number
        p->user_id = 1 + (n * 7 + c->index) % USERS;
        count = 1 + n % 3;
        snprintf(p->key, sizeof p->key, "%lld/%s", (long long)p->user_id, token);
    }
    s_send(c, p, tu_order(p->user_id, token, count, PRICE));
}

//  Someone else's job (of an earlier round, or of another client), not one
//  with a request of this client in flight.
static bool s_other_job(client_t *c, pending_t *p) {
    uint64_t n = atomic_load(&s_ring_next);
    if (c->pool_n > 0 && (n == 0 || rand_r(&c->seed) % 2)) {
        size_t span = c->pool_n < POOL_MAX ? c->pool_n : POOL_MAX;
        size_t i = (size_t)rand_r(&c->seed) % span;
        p->job_id = c->pool[i];
        p->user_id = c->pool_users[i];
    } else if (n > 0) {
        uint64_t span = n < RING_SIZE ? n : RING_SIZE;
        int64_t packed = atomic_load(&s_ring[(n - 1 - rand_r(&c->seed) % span) % RING_SIZE]);
        p->job_id = packed / 16;
        p->user_id = packed % 16;
    }
    hand_t *h = p->job_id ? s_hand_find(c, p->job_id) : NULL;
    return p->job_id && !(h && h->busy);
}

static void s_job_op(client_t *c, pending_t *p, op_t op) {
    static const unsigned fits[OP_COUNT_] = {
        [OP_SUBMIT] = 1u << H_RUNNING,
        [OP_PROGRESS] = 1u << H_RUNNING | 1u << H_SUBMITTED,
        [OP_RETRY] = 1u << H_RUNNING | 1u << H_SUBMITTED,
        [OP_SUCCEED] = 1u << H_RUNNING | 1u << H_SUBMITTED,
        [OP_FAIL] = 1u << H_RUNNING | 1u << H_SUBMITTED,
        [OP_DELIVER] = 1u << H_SUCCEEDED,
    };
    p->op = op;
    p->allowed |= 1u << LEDGER_E_BAD_STATE;
    hand_t *h = NULL;
    if (c->hand_n > 0 && rand_r(&c->seed) % 4) {
        size_t start = (size_t)rand_r(&c->seed) % c->hand_n;
        for (size_t k = 0; k < c->hand_n && !h; k++) {
            hand_t *cand = &c->hand[(start + k) % c->hand_n];
            if (!cand->busy && (fits[op] & (1u << cand->state))) h = cand;
        }
    }
    if (h) {
        p->in_hand = true;
        p->job_id = h->job_id;
        p->user_id = h->user_id;
    } else if (op == OP_SUBMIT || !s_other_job(c, p)) {
        memset(p, 0, sizeof *p);
        p->allowed = 1u << 0;
        s_touch(c, p, s_user(c));
        return;
    }
    h = s_hand_find(c, p->job_id);
    if (h) h->busy = true;
    msg_t *req;
    switch (op) {
    case OP_SUBMIT: {
        char task[32];
        snprintf(task, sizeof task, "task-%lld", (long long)p->job_id);
        req = tu_submitted(p->job_id, task);
        msg_set_str(req, F_KEY_ID, c->key_id);
        break;
    }
    case OP_PROGRESS:
        req = tu_job_req(MSG_K_JOB_PROGRESS, p->job_id);
        msg_set_int(req, F_PROGRESS, rand_r(&c->seed) % 101);
        break;
    case OP_RETRY:
        req = tu_job_req(MSG_K_JOB_RETRY, p->job_id);
        msg_set_int(req, F_AT_MS, 0);
        msg_set_str(req, F_ERR_CLASS, "temporary");
        break;
    case OP_SUCCEED:
        req = tu_job_req(MSG_K_JOB_SUCCEEDED, p->job_id);
        break;
    case OP_FAIL:
        req = tu_failed(p->job_id, "unknown");
        break;
    default:
        req = tu_job_req(MSG_K_JOB_DELIVERED, p->job_id);
        break;
    }
    s_send(c, p, req);
}

static void s_random_request(client_t *c) {
    pending_t *p = s_slot(c);
    int total = 0;
    for (int i = 0; i < OP_COUNT_; i++)
        total += s_mix[i];
    int r = rand_r(&c->seed) % total;
    op_t op = 0;
    while (r >= s_mix[op])
        r -= s_mix[op++];
    switch (op) {
    case OP_TOUCH:
        s_touch(c, p, s_user(c));
        break;
    case OP_ORDER:
        s_order(c, p);
        break;
    case OP_CLAIM: {
        size_t room = HAND_MAX - c->hand_n - c->hand_reserved;
        if (room == 0) {
            s_touch(c, p, s_user(c));
            break;
        }
        p->op = OP_CLAIM;
        p->amount = 1 + rand_r(&c->seed) % (room < 3 ? (int)room : 3);
        c->hand_reserved += (size_t)p->amount;
        snprintf(p->key, sizeof p->key, "%s", c->key_id);
        s_send(c, p, tu_claim(c->key_id, p->amount));
        break;
    }
    case OP_CANCEL:
        //  by the job's owner; only a queued job can be cancelled
        p->op = OP_CANCEL;
        p->allowed |= 1u << LEDGER_E_BAD_STATE;
        if (!s_other_job(c, p)) {
            s_touch(c, p, s_user(c));
            break;
        }
        if (s_hand_find(c, p->job_id)) s_hand_find(c, p->job_id)->busy = true;
        s_send(c, p, tu_cancel(p->job_id, p->user_id));
        break;
    case OP_PAY:
    case OP_ADJUST: {
        long n = rand_r(&c->seed) % (64 + 32 * s_facts.round);
        p->op = op;
        p->user_id = 1 + n % USERS;
        if (op == OP_PAY) {
            snprintf(p->key, sizeof p->key, "ch-%ld", n);
            s_send(c, p, tu_payment(p->user_id, p->key, 1 + n % 5));
        } else {
            p->allowed |= 1u << LEDGER_E_INSUFFICIENT_CREDITS;
            snprintf(p->key, sizeof p->key, "adj-%ld", n);
            s_send(c, p, tu_adjust(p->user_id, s_delta(n), p->key));
        }
        break;
    }
    case OP_EXPIRE: {
        //  queued jobs of earlier rounds (or retried ones) fail
        msg_t *req = msg_new(MSG_K_JOBS_EXPIRE, 0);
        p->op = OP_EXPIRE;
        msg_set_int(req, F_AT_MS, zclock_time() - EXPIRE_MS);
        msg_set_int(req, F_MAX_N, 1 + rand_r(&c->seed) % 4);
        msg_set_str(req, F_ERR_CLASS, "timeout");
        snprintf(p->key, sizeof p->key, "expire");
        s_send(c, p, req);
        break;
    }
    default:
        s_job_op(c, p, op);
        break;
    }
}

//  Jobs left by earlier rounds, to deliver, finish, fail or cancel.
static void s_load_pool(client_t *c, const char *state) {
    msg_t *req = msg_new(MSG_K_JOBS_LIST, 0);
    msg_set_str(req, F_STATE, state);
    msg_set_int(req, F_LIMIT, 50);
    msg_t *reply = ledger_call(c->dealer, &req, REPLY_WAIT_MS);
    if (!reply || msg_kind(reply) != MSG_K_JOB_LIST) {
        s_line("bad jobs_list %s: %s", state, reply ? msg_kind_name(msg_kind(reply)) : "timeout");
        _exit(4);
    }
    for (size_t i = 0; i < msg_len(reply, F_JOBS); i++) {
        const msg_t *row = msg_row(reply, F_JOBS, i);
        s_pool_add(c, msg_int(row, F_JOB_ID), msg_int(row, F_USER_ID));
    }
    msg_destroy(&reply);
}

static void *s_client(void *arg) {
    client_t *c = (client_t *)arg;
    c->dealer = ledger_connect(ENDPOINT);
    zsock_set_rcvtimeo(c->dealer, REPLY_WAIT_MS);
    snprintf(c->key_id, sizeof c->key_id, "k%d-%d", s_facts.round, c->index);
    s_load_pool(c, "succeeded");
    s_load_pool(c, "submitted");
    s_load_pool(c, "queued");
    for (int64_t u = 1; u <= USERS; u++)
        s_touch(c, s_slot(c), u);
    for (;;)
        s_random_request(c);
    return NULL;
}

//  Reports what recovery did to the jobs running at the last kill, then
//  runs the clients until killed (or, when clean, stops the ledger).
static void s_child(int fd, bool clean) {
    s_out = fd;
    ledger_args_t args = {.config = s_facts.config, .endpoint = ENDPOINT};
    zactor_t *ledger = ledger_start(&args);
    if (!ledger) {
        s_line("bad ledger_start failed");
        _exit(2);
    }
    zsock_t *dealer = ledger_connect(ENDPOINT);
    for (size_t i = 0; i < s_facts.running_n; i++) {
        msg_t *req = tu_job_req(MSG_K_JOB_GET, s_facts.running[i]);
        msg_t *reply = ledger_call(dealer, &req, REPLY_WAIT_MS);
        if (!reply || msg_kind(reply) != MSG_K_JOB_LIST || msg_len(reply, F_JOBS) != 1) {
            s_line("bad job_get %lld after recovery", (long long)s_facts.running[i]);
            _exit(4);
        }
        const msg_t *row = msg_row(reply, F_JOBS, 0);
        s_line("rec %lld %s %lld %s", (long long)s_facts.running[i], msg_str(row, F_STATE),
               (long long)msg_int(row, F_ATTEMPTS),
               msg_has(row, F_KEY_ID) ? msg_str(row, F_KEY_ID) : "-");
        msg_destroy(&reply);
    }
    msg_t *req = msg_new(MSG_K_JOBS_LIST, 0);
    msg_set_str(req, F_STATE, "running");
    msg_set_int(req, F_LIMIT, 200);
    msg_t *reply = ledger_call(dealer, &req, REPLY_WAIT_MS);
    if (!reply || msg_kind(reply) != MSG_K_JOB_LIST) {
        s_line("bad jobs_list running after recovery");
        _exit(4);
    }
    s_line("recovered %zu", msg_len(reply, F_JOBS));
    msg_destroy(&reply);
    zsock_destroy(&dealer);
    s_line("ready");
    if (clean) {
        zactor_destroy(&ledger);
        _exit(0);
    }
    static client_t clients[CHILD_THREADS];
    for (int t = 0; t < CHILD_THREADS; t++) {
        clients[t].index = t;
        clients[t].seed = (unsigned)(s_facts.round * 1000 + t * 17 + 1) ^ (unsigned)getpid();
        pthread_t thread;
        if (pthread_create(&thread, NULL, s_client, &clients[t]) != 0) {
            s_line("bad pthread_create");
            _exit(2);
        }
    }
    usleep(CHILD_LIFE_MS * 1000);
    s_line("bad not killed after %d ms", CHILD_LIFE_MS);
    _exit(3);
}

//  --- the parent: reading the facts --------------------------------------

static void s_parse(char *line) {
    long long a, b, c, d;
    char word[48], key[48], state[32], key_id[64];
    int dup;
    if (!strncmp(line, "bad ", 4)) {
        s_error("child: %s", line + 4);
        return;
    }
    if (!strcmp(line, "ready")) {
        s_facts.ready = s_facts.ever_ready = true;
        return;
    }
    if (sscanf(line, "recovered %lld", &a) == 1) {
        if (a != 0) s_error("%lld jobs still running after recovery", a);
        return;
    }
    if (sscanf(line, "rec %lld %31s %lld %63s", &a, state, &b, key_id) == 4) {
        for (size_t i = 0; i < s_facts.running_n; i++)
            if (s_facts.running[i] == a &&
                (strcmp(state, "queued") || b != s_facts.running_attempts[i] ||
                 strcmp(key_id, "-")))
                s_error("job %lld was running: after recovery %s, attempts %lld (was %lld), key %s",
                        a, state, b, (long long)s_facts.running_attempts[i], key_id);
        s_facts.recovered_checks++;
        return;
    }
    s_facts.acks++;
    if (sscanf(line, "touch %lld", &a) == 1 && a >= 1 && a <= USERS) {
        s_facts.touched[a] = true;
    } else if (sscanf(line, "order %47s %d %lld", key, &dup, &a) == 3) {
        keyed_t *k = s_keyed_add(&s_facts.orders);
        snprintf(k->key, sizeof k->key, "%s", key);
        k->user_id = atoll(key);
        k->dup = dup;
        k->n = a > 3 ? 3 : (size_t)a;
        int got = sscanf(line, "order %*s %*d %*d %lld %lld %lld", &b, &c, &d);
        int64_t ids[3] = {b, c, d};
        if (got != (int)k->n) s_error("bad order line: %s", line);
        memcpy(k->ids, ids, sizeof ids);
    } else if (sscanf(line, "%47s %47s %d", word, key, &dup) == 3 &&
               (!strcmp(word, "pay") || !strcmp(word, "adj"))) {
        keyed_t *k = s_keyed_add(word[0] == 'p' ? &s_facts.payments : &s_facts.adjustments);
        snprintf(k->key, sizeof k->key, "%s", key);
        k->user_id = 1 + atol(strchr(key, '-') + 1) % USERS;
        k->dup = dup;
    } else if (sscanf(line, "%47s %lld %d", word, &a, &dup) == 3) {
        job_state_t s = !strcmp(word, "cancel") ? JOB_CANCELLED : job_state_parse(word);
        if (s != JOB_SUCCEEDED && s != JOB_DELIVERED && s != JOB_FAILED && s != JOB_CANCELLED) {
            s_error("unknown line: %s", line);
            return;
        }
        if (s_facts.ended_n == s_facts.ended_cap) {
            s_facts.ended_cap = s_facts.ended_cap ? s_facts.ended_cap * 2 : 256;
            s_facts.ended = realloc(s_facts.ended, s_facts.ended_cap * sizeof(ended_t));
            assert(s_facts.ended);
        }
        s_facts.ended[s_facts.ended_n++] = (ended_t){a, s, s_facts.round};
    } else
        s_error("unknown line: %s", line);
}

typedef enum { KILL_AFTER_START, KILL_AFTER_READY, KILL_AFTER_ACKS } kill_mode_t;

//  Reads the child's lines until it is dead, killing it when due. Returns
//  the wait status.
static int s_collect(int fd, pid_t pid, kill_mode_t mode, int64_t delay_ms, long acks, bool clean) {
    static char buf[1 << 16];
    size_t fill = 0;
    int64_t start = s_now_ms(), ready_at = -1;
    bool killed = false;
    for (;;) {
        int64_t now = s_now_ms();
        if (s_facts.ready && ready_at < 0) ready_at = now;
        bool due = mode == KILL_AFTER_START   ? now - start >= delay_ms
                   : ready_at < 0             ? false
                   : mode == KILL_AFTER_READY ? now - ready_at >= delay_ms
                                              : s_facts.acks >= acks || now - ready_at >= 2000;
        bool late = now - start > READY_WAIT_MS;
        if (!killed && (clean ? late : due || late)) {
            if (late && !due) s_error("child still running after %d ms", READY_WAIT_MS);
            kill(pid, SIGKILL);
            killed = true;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int rc = poll(&pfd, 1, killed || clean ? 1000 : 2);
        if (rc < 0 && errno != EINTR) {
            s_error("poll: %s", strerror(errno));
            kill(pid, SIGKILL);
            killed = true;
            break;
        }
        if (rc <= 0) continue;
        ssize_t got = read(fd, buf + fill, sizeof buf - fill);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break; //  every write end closed: the child is gone
        fill += (size_t)got;
        char *line = buf, *nl;
        while ((nl = memchr(line, '\n', fill - (size_t)(line - buf)))) {
            *nl = '\0';
            s_parse(line);
            line = nl + 1;
        }
        //  keep the partial last line; at EOF it is dropped
        fill -= (size_t)(line - buf);
        memmove(buf, line, fill);
        if (fill == sizeof buf) {
            s_error("a line longer than %zu bytes", sizeof buf);
            fill = 0;
        }
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!clean && !killed) s_error("child ended by itself (status %d)", status);
    if (clean && killed) s_error("the clean child did not stop by itself");
    return status;
}

//  --- the parent: checking the facts against the file ---------------------

static int s_keyed_cmp(const void *a, const void *b) {
    const keyed_t *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c) return c;
    return x->round != y->round ? x->round - y->round : (int)x->dup - (int)y->dup;
}

//  Groups a copy of the facts by key and checks each group: new at most
//  once, not after a round that already saw the key, the same jobs in every
//  repeat. Calls check(db, group) for each group's first fact.
static void s_check_keyed(sqlite3 *db, const keyed_list_t *list, const char *what,
                          void (*check)(sqlite3 *, const keyed_t *)) {
    keyed_t *v = malloc((list->n ? list->n : 1) * sizeof(keyed_t));
    assert_non_null(v);
    memcpy(v, list->v, list->n * sizeof(keyed_t));
    qsort(v, list->n, sizeof(keyed_t), s_keyed_cmp);
    for (size_t i = 0; i < list->n;) {
        size_t j = i + 1, fresh = !v[i].dup;
        for (; j < list->n && !strcmp(v[j].key, v[i].key); j++) {
            fresh += !v[j].dup;
            if (!v[j].dup && v[j].round > v[i].round)
                fail_msg("%s %s: new in round %d, acknowledged in round %d already", what, v[i].key,
                         v[j].round, v[i].round);
            if (v[j].n != v[i].n || memcmp(v[j].ids, v[i].ids, v[i].n * sizeof(int64_t)))
                fail_msg("%s %s: acknowledged with other jobs in rounds %d and %d", what, v[i].key,
                         v[i].round, v[j].round);
        }
        if (fresh > 1) fail_msg("%s %s: acknowledged as new %zu times", what, v[i].key, fresh);
        check(db, &v[i]);
        i = j;
    }
    free(v);
}

static sqlite3_stmt *s_prepare(sqlite3 *db, const char *sql) {
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    return stmt;
}

static void s_check_order(sqlite3 *db, const keyed_t *k) {
    sqlite3_stmt *stmt = s_prepare(db, "SELECT job_id FROM jobs WHERE user_id = ?1"
                                       " AND order_token = ?2 ORDER BY idx");
    sqlite3_bind_int64(stmt, 1, k->user_id);
    sqlite3_bind_text(stmt, 2, strchr(k->key, '/') + 1, -1, SQLITE_STATIC);
    size_t n = 0;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
        if (n >= k->n || sqlite3_column_int64(stmt, 0) != k->ids[n])
            fail_msg("order %s of round %d: job %lld in the database, not acknowledged", k->key,
                     k->round, (long long)sqlite3_column_int64(stmt, 0));
        n++;
    }
    sqlite3_finalize(stmt);
    if (n != k->n)
        fail_msg("order %s of round %d: %zu of its %zu jobs in the database", k->key, k->round, n,
                 k->n);
}

static void s_check_payment(sqlite3 *db, const keyed_t *k) {
    sqlite3_stmt *stmt = s_prepare(db, "SELECT p.user_id, p.credits, e.d_balance FROM payments p"
                                       " JOIN entries e ON e.payment_id = p.payment_id"
                                       " WHERE p.provider = 'stars' AND p.charge_id = ?1");
    sqlite3_bind_text(stmt, 1, k->key, -1, SQLITE_STATIC);
    long n = atol(k->key + 3);
    if (sqlite3_step(stmt) != SQLITE_ROW || sqlite3_column_int64(stmt, 0) != k->user_id ||
        sqlite3_column_int64(stmt, 1) != 1 + n % 5 || sqlite3_column_int64(stmt, 2) != 1 + n % 5)
        fail_msg("payment %s of round %d: not in the database as acknowledged", k->key, k->round);
    sqlite3_finalize(stmt);
}

static void s_check_adjustment(sqlite3 *db, const keyed_t *k) {
    sqlite3_stmt *stmt =
        s_prepare(db, "SELECT user_id, d_balance FROM entries WHERE ref = 'adj:' || ?1");
    sqlite3_bind_text(stmt, 1, k->key, -1, SQLITE_STATIC);
    if (sqlite3_step(stmt) != SQLITE_ROW || sqlite3_column_int64(stmt, 0) != k->user_id ||
        sqlite3_column_int64(stmt, 1) != s_delta(atol(k->key + 4)))
        fail_msg("adjustment %s of round %d: not in the database as acknowledged", k->key,
                 k->round);
    sqlite3_finalize(stmt);
}

//  Every fact of every round so far, against the file.
static void s_check_facts(const char *path) {
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    s_check_keyed(db, &s_facts.orders, "order", s_check_order);
    s_check_keyed(db, &s_facts.payments, "payment", s_check_payment);
    s_check_keyed(db, &s_facts.adjustments, "adjustment", s_check_adjustment);
    sqlite3_stmt *stmt = s_prepare(db, "SELECT state FROM jobs WHERE job_id = ?1");
    for (size_t i = 0; i < s_facts.ended_n; i++) {
        const ended_t *e = &s_facts.ended[i];
        sqlite3_reset(stmt);
        sqlite3_bind_int64(stmt, 1, e->job_id);
        job_state_t state = sqlite3_step(stmt) == SQLITE_ROW
                                ? job_state_parse((const char *)sqlite3_column_text(stmt, 0))
                                : JOB_UNKNOWN;
        bool ok = state == e->state || (e->state == JOB_SUCCEEDED && state == JOB_DELIVERED);
        if (!ok)
            fail_msg("job %lld: acknowledged %s in round %d, %s in the database",
                     (long long)e->job_id, job_state_name(e->state), e->round,
                     state ? job_state_name(state) : "missing");
    }
    sqlite3_finalize(stmt);
    stmt = s_prepare(db, "SELECT count(*) FROM users WHERE user_id = ?1");
    for (int u = 1; u <= USERS; u++) {
        sqlite3_reset(stmt);
        sqlite3_bind_int(stmt, 1, u);
        if (s_facts.touched[u] &&
            (sqlite3_step(stmt) != SQLITE_ROW || sqlite3_column_int(stmt, 0) != 1))
            fail_msg("user %d: touched, not in the database", u);
    }
    sqlite3_finalize(stmt);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
}

//  The jobs running now, to follow through the next child's recovery.
static void s_snapshot_running(const char *path) {
    s_facts.running_n = 0;
    sqlite3 *db = NULL;
    if (access(path, F_OK) != 0 ||
        sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return;
    }
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(db, "SELECT job_id, attempts FROM jobs WHERE state = 'running'", -1,
                           &stmt, NULL) == SQLITE_OK)
        while (sqlite3_step(stmt) == SQLITE_ROW && s_facts.running_n < SNAPSHOT_MAX) {
            s_facts.running[s_facts.running_n] = sqlite3_column_int64(stmt, 0);
            s_facts.running_attempts[s_facts.running_n++] = sqlite3_column_int64(stmt, 1);
        }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
}

//  One child: forked, fed, killed (unless clean), checked. Returns how many
//  running jobs it found to follow through recovery.
static size_t s_round(const char *path, int round, unsigned *seed, bool clean) {
    s_facts.round = round;
    s_facts.acks = 0;
    s_facts.recovered_checks = 0;
    s_facts.ready = false;
    s_snapshot_running(path);
    size_t running = s_facts.running_n;
    kill_mode_t mode = round == 0 ? KILL_AFTER_READY : (kill_mode_t)(round % 3);
    int64_t delay = 20 + rand_r(seed) % 281;
    long acks = 1 + rand_r(seed) % 3000;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        s_child(fds[1], clean);
        _exit(5);
    }
    close(fds[1]);
    int status = s_collect(fds[0], pid, mode, delay, acks, clean);
    close(fds[0]);
    if (s_facts.error[0]) fail_msg("round %d: %s", round, s_facts.error);
    if (clean ? !WIFEXITED(status) || WEXITSTATUS(status) != 0
              : !WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
        fail_msg("round %d: child status %d", round, status);
    if (s_facts.ready && s_facts.recovered_checks != (long)running)
        fail_msg("round %d: %ld of %zu running jobs reported after recovery", round,
                 s_facts.recovered_checks, running);
    char report[1024];
    int rc = check_db(path, report, sizeof report, NULL);
    //  before any child got as far as ready, the file may not even hold
    //  the schema yet; after that it must always pass
    if (rc != 0 && (rc != -1 || s_facts.ever_ready))
        fail_msg("round %d: genbot check: %s", round, report);
    s_check_facts(path);
    return running;
}

static void test_crash_rounds(void **state) {
    (void)state;
    char *path = tu_db_path("crash");
    s_facts.config = tu_config(path);
    s_facts.config->sync_full = 1; //  FULL: durability is what this test is about
    s_facts.config->limit_active = LIMIT_ACTIVE;
    s_facts.config->limit_per_min = 100000;
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    printf("  seed %u\n", seed);
    int64_t start = s_now_ms();
    size_t followed = 0;
    long acks = 0;
    for (int round = 0; round < ROUNDS; round++) {
        followed += s_round(path, round, &seed, false);
        acks += s_facts.acks;
    }
    followed += s_round(path, ROUNDS, &seed, true);

    //  after the clean stop: nothing running, and the file still passes
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *stmt = s_prepare(db, "SELECT count(*) FROM jobs WHERE state = 'running'");
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(stmt, 0), 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    tu_assert_check(path);
    printf("  %d kills in %lld ms: %ld facts acknowledged (%zu orders, %zu payments, "
           "%zu adjustments, %zu job ends), %zu running jobs followed through recovery\n",
           ROUNDS, (long long)(s_now_ms() - start), acks, s_facts.orders.n, s_facts.payments.n,
           s_facts.adjustments.n, s_facts.ended_n, followed);
    //  the rounds must have done something worth checking
    assert_true(s_facts.orders.n > 0 && s_facts.payments.n > 0 && s_facts.ended_n > 0);
    assert_true(followed > 0);

    free(s_facts.orders.v);
    free(s_facts.payments.v);
    free(s_facts.adjustments.v);
    free(s_facts.ended);
    tu_db_remove(path);
    free(path);
    config_destroy(&s_facts.config);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crash_rounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
