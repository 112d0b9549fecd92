/*  sendq.h — the notifier's decisions, as a pure module: which outbound
    Telegram call goes next, and when.

    Rules (DESIGN.md, issue "Telegram edge"):
    - per chat, calls leave in FIFO order within a priority class, higher
      classes first, and one call per chat is in flight at a time;
    - a global token bucket (GENBOT_TG_RATE per second) and one per chat
      (GENBOT_TG_CHAT_RATE per second with a small burst; group chats —
      negative ids — at most 20 per minute);
    - across chats, the highest class that is ready goes first;
    - an edit of a message replaces a queued edit of the same message
      (only the newest progress of a message is worth sending);
    - 429 pauses the chat (or everything, when global) for retry_after and
      the call is sent again; nothing is dropped.

    No I/O and no clock: every call takes now_ms. Items are opaque pointers
    owned by the caller; sendq only orders them.
*/
#ifndef GENBOT_SENDQ_H
#define GENBOT_SENDQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    SENDQ_INTERACTIVE = 0, //  replies to what a user just did
    SENDQ_PROGRESS = 1,    //  status edits, coalesced
    SENDQ_BROADCAST = 2,   //  admin broadcasts: only when nothing else waits
    SENDQ_CLASSES
} sendq_class_t;

typedef struct {
    double rate_per_s;      //  global sends per second
    double chat_rate_per_s; //  per private chat
    double chat_burst;      //  tokens a quiet chat may spend at once
    double group_per_min;   //  per group chat (negative chat id)
} sendq_limits_t;

typedef struct sendq_s sendq_t;

sendq_t *sendq_new(const sendq_limits_t *limits);
void sendq_destroy(sendq_t **self_p);

//  Queue item for chat. coalesce_key != 0 (e.g. a message id for an edit)
//  makes a queued item of the same chat and key give way: its pointer is
//  returned (the caller frees it) and item takes its place in the line.
void *sendq_push(sendq_t *self, int64_t chat_id, sendq_class_t cls, int64_t coalesce_key,
                 void *item, int64_t now_ms);

//  The next item to send now, or NULL. Its chat is then in flight until
//  sendq_done. *chat_id_p receives the chat.
void *sendq_next(sendq_t *self, int64_t now_ms, int64_t *chat_id_p);

//  Milliseconds until sendq_next may return something (-1: nothing queued
//  or everything in flight).
int64_t sendq_wait_ms(sendq_t *self, int64_t now_ms);

typedef enum {
    SENDQ_SENT,      //  delivered (or harmless: "message is not modified")
    SENDQ_RETRY,     //  send again after retry_ms (429, 5xx, network)
    SENDQ_RETRY_ALL, //  global 429: pause every chat for retry_ms
    SENDQ_DROP_CHAT  //  403: the user is gone; their queue is returned
} sendq_outcome_t;

//  Report how the in-flight item of chat_id ended. For SENDQ_RETRY* the
//  item goes back to the head of its chat's line. For SENDQ_DROP_CHAT the
//  chat's queued items are passed to drop_fn (the caller frees them).
void sendq_done(sendq_t *self, int64_t chat_id, sendq_outcome_t outcome, int64_t retry_ms,
                int64_t now_ms, void (*drop_fn)(void *item, void *arg), void *arg);

//  Hands every queued item (not those in flight) to fn and forgets it:
//  for a clean stop.
void sendq_drain(sendq_t *self, void (*fn)(void *item, void *arg), void *arg);

//  Items queued (not in flight), in total and per class.
size_t sendq_size(const sendq_t *self);
size_t sendq_class_size(const sendq_t *self, sendq_class_t cls);

#endif
