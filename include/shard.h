/*  shard.h — a session shard: the conversation of the users hashed to it.

    The shard binds a PULL socket (its endpoint) where the poller sends
    MSG_K_UPDATE_IN and the key workers MSG_K_JOB_EVENT. It keeps an LRU
    cache of sessions over the database, feeds each event to the pure FSM
    (fsm.h) and carries out the actions: Telegram calls go to the notifier,
    ledger requests to the ledger, and the session is saved with the
    update's id. An update is acknowledged to the poller (MSG_K_UPDATE_DONE)
    only when every ledger request it caused is durable.

    One user's events are handled strictly in order: while that user has a
    ledger request in flight, their later events wait in the shard. Other
    users are never blocked. An update whose id is not above the session's
    highest handled id is a redelivery: acknowledged, not handled again.
*/
#ifndef GENBOT_SHARD_H
#define GENBOT_SHARD_H

#include <czmq.h>
#include "config.h"
#include "fsm.h"

#define SHARD_ENDPOINT_FMT "inproc://shard-%d"
#define SHARD_CACHE_MAX    20000 //  sessions kept in memory per shard

typedef struct {
    const config_t *config;
    const fsm_config_t *fsm;       //  models, counts, limits
    int index;                     //  this shard's number (0..count-1)
    int count;                     //  GENBOT_SESSIONS
    const char *endpoint;          //  NULL = SHARD_ENDPOINT_FMT with index
    const char *ledger_endpoint;   //  NULL = LEDGER_ENDPOINT
    const char *notifier_endpoint; //  NULL = NOTIFIER_ENDPOINT
    const char *ack_endpoint;      //  NULL = POLLER_ACK_ENDPOINT
    size_t cache_max;              //  0 = SHARD_CACHE_MAX
    int64_t (*clock)(void *arg);   //  NULL = wall clock ms
    void *clock_arg;
} shard_args_t;

zactor_t *shard_start(shard_args_t *args);

#endif
