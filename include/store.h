/*  store.h — genbot's durable state behind one interface.

    The ledger actor is the only caller that writes. It opens a transaction,
    applies a batch of requests, commits, and only then replies. store_apply
    is the whole request surface: a request message in, a reply message out
    (MSG_K_ERROR with a ledger_err_t code when the request is refused). A
    PostgreSQL backend would implement the same functions.

    Handlers refuse before they write, so a refused request leaves no trace
    in the batch and needs no savepoint. When that does not hold — SQLite
    failed part-way, or a handler wrote and then refused — the store marks
    the batch poisoned: the ledger rolls it back and applies each request
    alone (store_apply_alone), where a failure rolls back just that one.

    Credits are integers. Every balance change is one row of `entries`
    with a unique ref, which is what makes each change idempotent.
*/
#ifndef GENBOT_STORE_H
#define GENBOT_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include "msg.h"

#define STORE_SCHEMA_VERSION 1
#define STORE_HISTORY_MAX    50           //  rows a list request may ask for
#define STORE_CLAIM_MAX      40           //  jobs one claim may take (40 × max params < a frame)
#define STORE_LIST_BYTES     (768 * 1024) //  a list reply stops adding rows past this
#define STORE_ORDER_MAX      10           //  jobs one order may create

typedef struct store_s store_t;

typedef struct {
    int64_t free_credits;  //  granted once, on a user's first touch
    int64_t limit_active;  //  jobs queued/running/submitted per user
    int64_t limit_per_min; //  orders per user per 60 s
} store_limits_t;

typedef struct {
    int64_t requeued;   //  running → queued
    int64_t submitted;  //  left for their key's worker to poll
    int64_t to_deliver; //  succeeded, to be delivered again
} store_recovery_t;

//  sync: 1 = FULL, 0 = NORMAL, -1 = OFF. On failure returns NULL and writes
//  a one-line reason into err.
store_t *store_open(const char *path, int sync, char *err, size_t err_size);
void store_destroy(store_t **self_p);

int store_begin(store_t *self);
int store_commit(store_t *self);
void store_rollback(store_t *self);

//  Applies one request inside the open transaction and returns its reply
//  (never NULL). The reply's corr_id is the request's.
msg_t *store_apply(store_t *self, const msg_t *request, const store_limits_t *limits,
                   int64_t now_ms);
//  True when the open batch can't be committed as it is (see above).
bool store_poisoned(const store_t *self);
//  One request in a transaction of its own: committed when it succeeds,
//  rolled back when it is refused. A failed COMMIT becomes an internal error.
msg_t *store_apply_alone(store_t *self, const msg_t *request, const store_limits_t *limits,
                         int64_t now_ms);

//  Startup recovery (DESIGN.md): running jobs go back to queued with no
//  attempt counted; submitted and succeeded jobs are only counted. Runs in
//  its own transaction.
int store_recover(store_t *self, store_recovery_t *counts);

//  The last SQLite error, for logs.
const char *store_errmsg(store_t *self);

#endif
