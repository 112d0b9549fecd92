/*  ledger.h — the only writer of genbot's database.

    The ledger actor binds a ROUTER socket (LEDGER_ENDPOINT by default) and
    serves the request kinds of msg.h. It drains waiting requests into a
    batch of at most ledger_batch_max, applies them in one transaction,
    commits, and only then sends the replies: a reply means the change is
    durable. A request that fails validation is answered
    with MSG_K_ERROR {code, detail[, shortfall]} and changes nothing; the
    other requests of its batch are not affected.

    Clients use a DEALER socket (ledger_connect) and match replies by corr_id.
*/
#ifndef GENBOT_LEDGER_H
#define GENBOT_LEDGER_H

#include <czmq.h>
#include <stdint.h>
#include "config.h"
#include "msg.h"

#define LEDGER_ENDPOINT "inproc://ledger"

//  Typed errors carried in MSG_K_ERROR's code.
#define LEDGER_ERRORS(E)                                                                           \
    E(INSUFFICIENT_CREDITS, 1, "insufficient_credits")                                             \
    E(TOO_MANY_ACTIVE, 2, "too_many_active")                                                       \
    E(RATE_LIMITED, 3, "rate_limited")                                                             \
    E(NOT_FOUND, 4, "not_found")                                                                   \
    E(BAD_STATE, 5, "bad_state")                                                                   \
    E(BAD_REQUEST, 6, "bad_request")                                                               \
    E(INTERNAL, 7, "internal")

typedef enum {
    LEDGER_OK = 0,
#define LEDGER_E_ENUM(id, code, name) LEDGER_E_##id = code,
    LEDGER_ERRORS(LEDGER_E_ENUM)
#undef LEDGER_E_ENUM
} ledger_err_t;

const char *ledger_err_name(int code);

//  Milliseconds since the epoch; tests inject their own.
typedef int64_t(ledger_clock_fn)(void *arg);

typedef struct {
    const config_t *config; //  db path, sync, limits, free credits, batch max
    const char *endpoint;   //  NULL = LEDGER_ENDPOINT
    ledger_clock_fn *clock; //  NULL = wall clock
    void *clock_arg;
    bool skip_recovery; //  tests of recovery itself
} ledger_args_t;

//  Start the actor: opens and migrates the database, runs startup recovery,
//  binds. Returns NULL (with a log line) when any of that fails. args must
//  outlive the actor.
zactor_t *ledger_start(ledger_args_t *args);

//  A DEALER socket connected to the ledger.
zsock_t *ledger_connect(const char *endpoint);

//  Synchronous call for tools and tests: sends req (destroyed), waits up to
//  timeout_ms for the reply with the same corr_id. Returns NULL on timeout.
msg_t *ledger_call(zsock_t *dealer, msg_t **req_p, int timeout_ms);

#endif
