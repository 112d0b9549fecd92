/*  httpc.c — libcurl's multi interface on an actor's reactor (httpc.h).

    curl tells us which sockets to watch (s_on_socket) and when to call it
    back (s_on_curl_timer); we register those with the actor and call
    curl_multi_socket_action when they fire. Finished transfers are
    collected by s_collect and their callbacks run on the actor's thread.
*/
#include "httpc.h"

#include <assert.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

typedef struct s_call {
    struct s_call *prev, *next; //  the owner's calls in flight
    httpc_t *owner;
    CURL *easy;
    struct curl_slist *headers;
    curl_mime *mime;
    char *body_copy;
    char *buffer;
    size_t size, cap, max_bytes;
    bool too_large;
    char retry_after[32];
    char error[CURL_ERROR_SIZE];
    httpc_done_fn *done;
    void *arg;
} s_call_t;

#define S_SPARE_MAX 64

struct httpc_s {
    actor_t *actor;
    CURLM *multi;
    int timer_id; //  -1 when no curl timeout is pending
    s_call_t *calls;
    size_t in_flight;
    bool collecting;
    //  easy handles of finished calls, reset for the next: creating one per
    //  call was most of the notifier's CPU (libcurl's allocations)
    CURL *spare[S_SPARE_MAX];
    size_t spare_count;
};

static pthread_once_t s_curl_once = PTHREAD_ONCE_INIT;
static void s_curl_init(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int s_on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp);
static int s_on_curl_timeout(CURLM *multi, long timeout_ms, void *userp);
static void s_collect(httpc_t *self);
static void s_call_free(s_call_t *call);

httpc_t *httpc_new(actor_t *actor, long max_host_connections) {
    pthread_once(&s_curl_once, s_curl_init);
    httpc_t *self = (httpc_t *)calloc(1, sizeof(httpc_t));
    assert(self);
    self->actor = actor;
    self->timer_id = -1;
    self->multi = curl_multi_init();
    assert(self->multi);
    curl_multi_setopt(self->multi, CURLMOPT_SOCKETFUNCTION, s_on_socket);
    curl_multi_setopt(self->multi, CURLMOPT_SOCKETDATA, self);
    curl_multi_setopt(self->multi, CURLMOPT_TIMERFUNCTION, s_on_curl_timeout);
    curl_multi_setopt(self->multi, CURLMOPT_TIMERDATA, self);
    curl_multi_setopt(self->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                      max_host_connections > 0 ? max_host_connections : 16L);
    return self;
}

void httpc_destroy(httpc_t **self_p) {
    assert(self_p);
    httpc_t *self = *self_p;
    if (!self) return;
    httpc_cancel(self, NULL);
    if (self->timer_id >= 0) actor_timer_end(self->actor, self->timer_id);
    curl_multi_cleanup(self->multi);
    while (self->spare_count)
        curl_easy_cleanup(self->spare[--self->spare_count]);
    free(self);
    *self_p = NULL;
}

static size_t s_on_body(char *data, size_t size, size_t nmemb, void *userp) {
    s_call_t *call = (s_call_t *)userp;
    size_t n = size * nmemb;
    if (call->size + n > call->max_bytes) {
        call->too_large = true;
        return 0; //  aborts the transfer
    }
    if (call->size + n + 1 > call->cap) {
        size_t cap = call->cap ? call->cap : 4096;
        while (cap < call->size + n + 1)
            cap *= 2;
        char *grown = (char *)realloc(call->buffer, cap);
        if (!grown) return 0;
        call->buffer = grown;
        call->cap = cap;
    }
    memcpy(call->buffer + call->size, data, n);
    call->size += n;
    call->buffer[call->size] = 0;
    return n;
}

static size_t s_on_header(char *data, size_t size, size_t nmemb, void *userp) {
    s_call_t *call = (s_call_t *)userp;
    size_t n = size * nmemb;
    if (n > 12 && strncasecmp(data, "Retry-After:", 12) == 0) {
        size_t i = 12, j = 0;
        while (i < n && (data[i] == ' ' || data[i] == '\t'))
            i++;
        while (i < n && data[i] != '\r' && data[i] != '\n' && j + 1 < sizeof call->retry_after)
            call->retry_after[j++] = data[i++];
        call->retry_after[j] = 0;
    }
    return n;
}

int httpc_start(httpc_t *self, const httpc_request_t *request, httpc_done_fn *done, void *arg) {
    assert(request && request->url && done);
    s_call_t *call = (s_call_t *)calloc(1, sizeof(s_call_t));
    assert(call);
    call->owner = self;
    call->done = done;
    call->arg = arg;
    call->max_bytes = request->max_bytes ? request->max_bytes : 1024 * 1024;
    call->easy = self->spare_count ? self->spare[--self->spare_count] : curl_easy_init();
    if (!call->easy) {
        free(call);
        return -1;
    }
    CURL *easy = call->easy;
    curl_easy_setopt(easy, CURLOPT_URL, request->url);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, call);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, call);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, s_on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, call);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, call->error);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS,
                     request->timeout_ms > 0 ? request->timeout_ms : 30000L);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(easy, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "genbot/0.1 (+libcurl)");
    curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
    if (request->content_type) {
        char header[128];
        snprintf(header, sizeof header, "Content-Type: %s", request->content_type);
        call->headers = curl_slist_append(call->headers, header);
    }
    for (const char *const *h = request->headers; h && *h; h++)
        call->headers = curl_slist_append(call->headers, *h);
    //  no "Expect: 100-continue" round trip on uploads
    call->headers = curl_slist_append(call->headers, "Expect:");
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, call->headers);
    if (request->parts && request->part_count) {
        call->mime = curl_mime_init(easy);
        for (size_t i = 0; i < request->part_count; i++) {
            const httpc_part_t *p = &request->parts[i];
            curl_mimepart *part = curl_mime_addpart(call->mime);
            curl_mime_name(part, p->name);
            if (p->data) {
                curl_mime_data(part, (const char *)p->data, p->size);
                if (p->filename) curl_mime_filename(part, p->filename);
                if (p->content_type) curl_mime_type(part, p->content_type);
            } else
                curl_mime_data(part, p->value ? p->value : "", CURL_ZERO_TERMINATED);
        }
        curl_easy_setopt(easy, CURLOPT_MIMEPOST, call->mime);
    } else if (request->body || (request->method && strcmp(request->method, "POST") == 0)) {
        call->body_copy = (char *)malloc(request->body_len + 1);
        assert(call->body_copy);
        if (request->body_len) memcpy(call->body_copy, request->body, request->body_len);
        call->body_copy[request->body_len] = 0;
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, call->body_copy);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long)request->body_len);
    }
    if (curl_multi_add_handle(self->multi, easy) != CURLM_OK) {
        s_call_free(call);
        return -1;
    }
    call->next = self->calls;
    if (self->calls) self->calls->prev = call;
    self->calls = call;
    self->in_flight++;
    return 0;
}

size_t httpc_in_flight(const httpc_t *self) {
    return self->in_flight;
}

static void s_unlink(httpc_t *self, s_call_t *call) {
    if (call->prev)
        call->prev->next = call->next;
    else
        self->calls = call->next;
    if (call->next) call->next->prev = call->prev;
    self->in_flight--;
}

void httpc_cancel(httpc_t *self, void *arg) {
    for (s_call_t *call = self->calls, *next; call; call = next) {
        next = call->next;
        if (arg == NULL || call->arg == arg) {
            curl_multi_remove_handle(self->multi, call->easy);
            s_unlink(self, call);
            s_call_free(call);
        }
    }
}

void httpc_drop_all(httpc_t *self, void (*drop)(void *arg)) {
    for (s_call_t *call = self->calls, *next; call; call = next) {
        next = call->next;
        void *arg = call->arg;
        curl_multi_remove_handle(self->multi, call->easy);
        s_unlink(self, call);
        s_call_free(call);
        if (drop) drop(arg);
    }
}

//  --- libcurl's callbacks ---------------------------------------------------

static int s_on_fd_ready(actor_t *actor, int fd, int revents, void *arg) {
    (void)actor;
    httpc_t *self = (httpc_t *)arg;
    int action = 0;
    if (revents & ZMQ_POLLIN) action |= CURL_CSELECT_IN;
    if (revents & ZMQ_POLLOUT) action |= CURL_CSELECT_OUT;
    if (revents & ZMQ_POLLERR) action |= CURL_CSELECT_ERR;
    int running;
    curl_multi_socket_action(self->multi, fd, action, &running);
    s_collect(self);
    return 0;
}

static int s_on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
    (void)easy;
    (void)socketp;
    httpc_t *self = (httpc_t *)userp;
    if (what == CURL_POLL_REMOVE)
        actor_fd_end(self->actor, fd);
    else {
        int events = 0;
        if (what & CURL_POLL_IN) events |= ZMQ_POLLIN;
        if (what & CURL_POLL_OUT) events |= ZMQ_POLLOUT;
        actor_fd(self->actor, fd, events, s_on_fd_ready, self);
    }
    return 0;
}

static int s_on_timer_fired(actor_t *actor, int timer_id, void *arg) {
    (void)actor;
    (void)timer_id;
    httpc_t *self = (httpc_t *)arg;
    self->timer_id = -1;
    int running;
    curl_multi_socket_action(self->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    s_collect(self);
    return 0;
}

static int s_on_curl_timeout(CURLM *multi, long timeout_ms, void *userp) {
    (void)multi;
    httpc_t *self = (httpc_t *)userp;
    if (self->timer_id >= 0) {
        actor_timer_end(self->actor, self->timer_id);
        self->timer_id = -1;
    }
    if (timeout_ms >= 0)
        //  zloop timers of 0 ms fire on the next loop pass
        self->timer_id = actor_timer(self->actor, (size_t)(timeout_ms > 0 ? timeout_ms : 1), 1,
                                     s_on_timer_fired, self);
    return 0;
}

static void s_collect(httpc_t *self) {
    if (self->collecting) return; //  a callback started a call that finished at once
    self->collecting = true;
    CURLMsg *info;
    int left;
    while ((info = curl_multi_info_read(self->multi, &left))) {
        if (info->msg != CURLMSG_DONE) continue;
        CURL *easy = info->easy_handle;
        CURLcode result = info->data.result;
        s_call_t *call = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&call);
        long status = 0;
        double seconds = 0;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME, &seconds);
        curl_multi_remove_handle(self->multi, easy);
        s_unlink(self, call);
        httpc_response_t response = {.status = result == CURLE_OK ? (int)status : 0,
                                     .too_large = call->too_large,
                                     .error = result == CURLE_OK ? ""
                                              : call->too_large  ? "response too large"
                                              : call->error[0]   ? call->error
                                                                 : curl_easy_strerror(result),
                                     .body = call->buffer ? call->buffer : "",
                                     .body_len = call->size,
                                     .retry_after = call->retry_after[0] ? call->retry_after : NULL,
                                     .seconds = seconds};
        call->done(&response, call->arg);
        s_call_free(call);
    }
    self->collecting = false;
}

static void s_call_free(s_call_t *call) {
    httpc_t *owner = call->owner;
    if (call->easy && owner && owner->spare_count < S_SPARE_MAX) {
        curl_easy_reset(call->easy);
        owner->spare[owner->spare_count++] = call->easy;
    } else
        curl_easy_cleanup(call->easy);
    curl_mime_free(call->mime);
    curl_slist_free_all(call->headers);
    free(call->body_copy);
    free(call->buffer);
    free(call);
}
