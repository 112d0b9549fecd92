/*  httpc.h — asynchronous HTTP client for actors (libcurl multi).

    Every outbound HTTP call of genbot (Telegram, KIE, downloads) runs on
    its actor's own reactor: libcurl's sockets and timeout are registered
    with the actor (actor_fd, actor_timer), so an actor with 10,000 calls
    in flight still answers $TERM at once. Connections are reused per host.
    Each call has a timeout and a cap on the response size.

    URLs may hold secrets (the bot token); httpc never logs them.
*/
#ifndef GENBOT_HTTPC_H
#define GENBOT_HTTPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "actor.h"

typedef struct httpc_s httpc_t;

typedef struct {
    int status;        //  HTTP status; 0 when the call failed below HTTP
    bool too_large;    //  the body passed max_bytes: the call was cut
    const char *error; //  transport error text ("" when none)
    const char *body;  //  NUL-terminated; owned by httpc until the callback returns
    size_t body_len;
    const char *retry_after; //  the Retry-After header, or NULL
    double seconds;          //  total time of the call
} httpc_response_t;

typedef void(httpc_done_fn)(const httpc_response_t *response, void *arg);

typedef struct {
    const char *name;  //  a form field
    const char *value; //  text value, or NULL when data is set
    const void *data;  //  file bytes (copied)
    size_t size;
    const char *filename;
    const char *content_type;
} httpc_part_t;

typedef struct {
    const char *method; //  "GET" (default) or "POST"
    const char *url;
    const char *const *headers; //  NULL-terminated "Name: value" list, or NULL
    const char *body;           //  request body (copied), or NULL
    size_t body_len;
    const char *content_type;  //  for body, e.g. "application/json"
    const httpc_part_t *parts; //  multipart/form-data instead of body
    size_t part_count;
    long timeout_ms;  //  whole call; 0 = 30 s
    size_t max_bytes; //  response cap; 0 = 1 MB
} httpc_request_t;

httpc_t *httpc_new(actor_t *actor, long max_host_connections);
//  Cancels calls in flight without calling their callbacks.
void httpc_destroy(httpc_t **self_p);

//  Starts a call; done runs later on the actor's thread (never inside
//  httpc_start). Returns -1 when the request can't be built.
int httpc_start(httpc_t *self, const httpc_request_t *request, httpc_done_fn *done, void *arg);
size_t httpc_in_flight(const httpc_t *self);

//  Cancels every call whose callback argument is arg (no callback runs).
void httpc_cancel(httpc_t *self, void *arg);
//  Cancels every call; drop(arg) runs for each instead of its callback, so
//  the owner can free what the call carried (e.g. before httpc_destroy).
void httpc_drop_all(httpc_t *self, void (*drop)(void *arg));

#endif
