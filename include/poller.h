/*  poller.h — the Telegram getUpdates long poll.

    Each update goes to the session shard of its user (user_id % shards)
    as MSG_K_UPDATE_IN (raw JSON); the shard answers MSG_K_UPDATE_DONE once
    it has taken the update over durably (its session saved with the
    update_id). Only when every update of a batch is done does the poller
    ask for the next batch with an offset past them — which is what
    confirms them to Telegram. A crash before that makes Telegram send them
    again, and the shards skip the ones they already handled: no update is
    lost, none is handled twice.

    401 (bad token): fatal, the process stops with a clear message. 409
    (another instance, or a webhook): an error naming the cause, then back
    off. 429: wait retry_after. Network errors and 5xx: exponential backoff
    with jitter up to 30 s. Malformed JSON: logged, counted, polled again.
*/
#ifndef GENBOT_POLLER_H
#define GENBOT_POLLER_H

#include <czmq.h>
#include "config.h"

#define POLLER_ACK_ENDPOINT   "inproc://poller-acks"
#define POLLER_BACKOFF_MAX_MS 30000

typedef struct {
    const config_t *config;             //  token, API URL, poll timeout
    const char *ledger_endpoint;        //  NULL = LEDGER_ENDPOINT (offset)
    const char *const *shard_endpoints; //  where each shard binds its PULL
    size_t shard_count;
    const char *ack_endpoint; //  NULL = POLLER_ACK_ENDPOINT
    int64_t backoff_base_ms;  //  first backoff; 0 = 1000
    //  Called (on the poller's thread) when polling can't go on: 401.
    void (*fatal)(const char *why, void *arg);
    void *fatal_arg;
} poller_args_t;

zactor_t *poller_start(poller_args_t *args);

#endif
