/*  notifier.h — every outbound Telegram call goes through this actor.

    It binds a ROUTER (NOTIFIER_ENDPOINT) and takes MSG_K_TG_CALL messages.
    Calls with a chat are paced and ordered by sendq (per-chat FIFO, global
    and per-chat token buckets, priorities, coalesced edits); calls without
    one (callback answers, pre-checkout answers) leave at once, ahead of
    everything. When a call's corr_id is not 0 the caller gets a
    MSG_K_TG_RESULT: code is a tg_status_t, message_id the sent message.

    429: the call waits out retry_after and is sent again, nothing dropped.
    403: the user blocked the bot; the ledger is told, their queue dropped.
    400 "message is not modified": success. Other 4xx: logged, counted,
    dropped. 5xx and network errors: retried with backoff, then given up.
    Media (MEDIA_URL): downloaded with a 50 MB cap and uploaded; a bigger
    file is sent as a link (LINK_TEXT) instead.
*/
#ifndef GENBOT_NOTIFIER_H
#define GENBOT_NOTIFIER_H

#include <czmq.h>
#include "config.h"
#include "msg.h"

#define NOTIFIER_ENDPOINT         "inproc://notifier"
#define NOTIFIER_UPLOAD_MAX       (50 * 1024 * 1024)
#define NOTIFIER_MAX_ATTEMPTS     5
#define NOTIFIER_CALL_TIMEOUT_MS  30000
#define NOTIFIER_MEDIA_TIMEOUT_MS 300000

typedef struct {
    const config_t *config;      //  token, API URL, rates
    const char *endpoint;        //  NULL = NOTIFIER_ENDPOINT
    const char *ledger_endpoint; //  NULL = LEDGER_ENDPOINT (blocked users)
    int64_t retry_base_ms;       //  first 5xx/network backoff; 0 = 500
} notifier_args_t;

//  Returns NULL when the actor can't start (logged). args must outlive it.
zactor_t *notifier_start(notifier_args_t *args);

//  A TG_CALL for method with params (a JSON object, serialized), for chat
//  (0 = unpaced). Convenience for callers; priority is a sendq_class_t.
msg_t *notifier_call(const char *method, const char *params_json, int64_t chat_id, int priority);

#endif
