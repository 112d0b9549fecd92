/*  kiesim_http.c — the simulator's libmicrohttpd server: one server for
    KIE's API host and its upload host, routes, auth, error delivery, the
    injected faults, and the files (task results, uploads).

    A request is decided in two steps. On its first call the handler picks
    the route and draws its faults (so a dropped request is dropped before
    its body is read); on its last call, with the whole body in hand, it
    takes the lock, runs the route, and answers after unlocking. Latency is
    a real sleep on the connection's own thread.

    Errors: the envelope {code, msg, data:null} with HTTP 200 unless the
    request drew p_http_status, then with HTTP status = code. Files behave
    like a CDN: plain HTTP statuses, no envelope, no maintenance mode.
*/
#include "kiesim_internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define CONNECTION_LIMIT 4096
#define GATEWAY_PAGE                                                                               \
    "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad "                  \
    "Gateway</h1></center><hr><center>cloudflare</center></body></html>\n"
#define FREE_BOX_HEADER 8 //  size (be32) + "free"
#define FILE_BLOCK      (64 * 1024)

typedef enum {
    ROUTE_NOT_FOUND,
    ROUTE_BAD_METHOD,
    ROUTE_CREATE,
    ROUTE_RECORD,
    ROUTE_CREDIT,
    ROUTE_UPLOAD_STREAM,
    ROUTE_UPLOAD_BASE64,
    ROUTE_UPLOAD_URL,
    ROUTE_RESULT_FILE,
    ROUTE_UPLOADED_FILE
} route_t;

typedef enum { FAULT_NONE, FAULT_MAINTENANCE, FAULT_SERVER, FAULT_GATEWAY } fault_t;

//  The API paths; a path here with the wrong method is a 405.
static const struct {
    const char *path;
    const char *method;
    route_t route;
} s_routes[] = {
    {"/api/v1/jobs/createTask", "POST", ROUTE_CREATE},
    {"/api/v1/jobs/recordInfo", "GET", ROUTE_RECORD},
    {"/api/v1/chat/credit", "GET", ROUTE_CREDIT},
    {"/api/file-stream-upload", "POST", ROUTE_UPLOAD_STREAM},
    {"/api/file-base64-upload", "POST", ROUTE_UPLOAD_BASE64},
    {"/api/file-url-upload", "POST", ROUTE_UPLOAD_URL},
};

static const struct {
    int code;
    const char *msg;
} s_code_msgs[] = {
    {200, "success"},
    {400, "Bad Request"},
    {401, "You do not have access permissions"},
    {402, "The current credits are insufficient. Please top up."},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {422, "Validation error"},
    {429, "The request frequency is too high. Please try again later."},
    {433, "The sub-key usage has exceeded its limit"},
    {455, "Service is under maintenance, please try again later"},
    {500, "Server Internal Error"},
    {501, "Generation failed"},
    {505, "This feature is disabled"},
};

typedef struct {
    route_t route;
    fault_t fault;
    bool drop;        //  close at once, unanswered
    bool drop_after;  //  handle, then close without answering
    bool http_status; //  errors set the HTTP status too
    bool say_message; //  "message" instead of "msg" (vary_shapes)
    int64_t latency_ms;
    char *body;
    size_t size;
    size_t alloc;
    size_t body_max;
    bool too_large;
    bool not_multipart;
    ks_upload_req_t *upload;
} request_t;

typedef struct {
    uint64_t total;
} result_body_t;

static enum MHD_Result s_access(void *cls, struct MHD_Connection *connection, const char *url,
                                const char *method, const char *version, const char *upload_data,
                                size_t *upload_data_size, void **con_cls);
static void s_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                        enum MHD_RequestTerminationCode why);
static request_t *s_request_new(kiesim_t *self, struct MHD_Connection *connection, const char *url,
                                const char *method);
static int s_body_append(request_t *req, const char *data, size_t size);
static enum MHD_Result s_answer(kiesim_t *self, struct MHD_Connection *connection, request_t *req,
                                const char *url);
static void s_dispatch(kiesim_t *self, struct MHD_Connection *connection, request_t *req,
                       ks_reply_t *reply);
static int s_auth(kiesim_t *self, struct MHD_Connection *connection, ks_reply_t *reply);
static struct MHD_Response *s_file(kiesim_t *self, route_t route, const char *url, int *status);
static struct MHD_Response *s_text(const char *text, const char *type);
static struct MHD_Response *s_envelope(const request_t *req, ks_reply_t *reply, int *status);
static ssize_t s_result_read(void *cls, uint64_t pos, char *buf, size_t max);

//  --------------------------------------------------------------------------

int ks_http_start(kiesim_t *self, const kiesim_options_t *options) {
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(options->port)};
    if (inet_pton(AF_INET, self->host, &address.sin_addr) != 1) {
        fprintf(stderr, "kiesim: host %s is not an IPv4 address\n", self->host);
        return -1;
    }
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
    if (options->threads == 0) flags |= MHD_USE_THREAD_PER_CONNECTION;
    self->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, s_access, self, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&address,
        MHD_OPTION_NOTIFY_COMPLETED, s_completed, self, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)CONNECTION_LIMIT, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned int)(options->threads > 1 ? options->threads : 0), MHD_OPTION_END);
    if (!self->daemon) {
        fprintf(stderr, "kiesim: cannot listen on %s:%u\n", self->host, options->port);
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(self->daemon, MHD_DAEMON_INFO_BIND_PORT);
    self->port = info ? info->port : options->port;
    snprintf(self->url, sizeof self->url, "http://%s:%u", self->host, self->port);
    return 0;
}

void ks_http_stop(kiesim_t *self) {
    if (self->daemon) MHD_stop_daemon(self->daemon);
    self->daemon = NULL;
}

const char *ks_code_msg(int code) {
    for (size_t i = 0; i < sizeof s_code_msgs / sizeof s_code_msgs[0]; i++)
        if (s_code_msgs[i].code == code) return s_code_msgs[i].msg;
    return "Error";
}

void ks_reply_error(ks_reply_t *reply, int code, const char *format, ...) {
    va_list args;
    va_start(args, format);
    reply->code = code;
    vsnprintf(reply->msg, sizeof reply->msg, format, args);
    va_end(args);
    json_decref(reply->data);
    reply->data = NULL;
}

//  --------------------------------------------------------------------------

static enum MHD_Result s_access(void *cls, struct MHD_Connection *connection, const char *url,
                                const char *method, const char *version, const char *upload_data,
                                size_t *upload_data_size, void **con_cls) {
    (void)version;
    kiesim_t *self = cls;
    request_t *req = *con_cls;
    if (!req) {
        req = s_request_new(self, connection, url, method);
        if (!req) return MHD_NO;
        *con_cls = req;
        return req->drop ? MHD_NO : MHD_YES; //  a drop: closed before the body
    }
    if (*upload_data_size) {
        if (req->upload) {
            if (ks_upload_req_feed(req->upload, upload_data, *upload_data_size))
                req->not_multipart = true;
        } else if (req->body_max)
            s_body_append(req, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    return s_answer(self, connection, req, url);
}

static void s_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                        enum MHD_RequestTerminationCode why) {
    (void)cls;
    (void)connection;
    (void)why;
    request_t *req = *con_cls;
    if (!req) return;
    ks_upload_req_destroy(&req->upload);
    free(req->body);
    free(req);
    *con_cls = NULL;
}

//  First call: route, faults, and what the body will be read into.
static request_t *s_request_new(kiesim_t *self, struct MHD_Connection *connection, const char *url,
                                const char *method) {
    request_t *req = calloc(1, sizeof *req);
    if (!req) return NULL;
    req->route = ROUTE_NOT_FOUND;
    for (size_t i = 0; i < sizeof s_routes / sizeof s_routes[0]; i++)
        if (strcmp(url, s_routes[i].path) == 0)
            req->route = strcmp(method, s_routes[i].method) ? ROUTE_BAD_METHOD : s_routes[i].route;
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (get && strncmp(url, "/files/", 7) == 0)
        req->route = ROUTE_RESULT_FILE;
    else if (get && strncmp(url, "/uploads/", 9) == 0)
        req->route = ROUTE_UPLOADED_FILE;
    bool api = req->route != ROUTE_RESULT_FILE && req->route != ROUTE_UPLOADED_FILE;

    pthread_mutex_lock(&self->lock);
    const kiesim_behaviour_t *b = &self->behaviour;
    self->stats.requests++;
    double draw = ks_random(self);
    bool drop = false;
    if (b->maintenance && api)
        req->fault = FAULT_MAINTENANCE;
    else if (draw < b->p_drop)
        drop = true;
    else if ((draw -= b->p_drop) < b->p_gateway_error)
        req->fault = FAULT_GATEWAY;
    else if (draw - b->p_gateway_error < b->p_server_error)
        req->fault = FAULT_SERVER;
    req->drop_after = ks_random(self) < b->p_drop_after;
    req->http_status = ks_random(self) < b->p_http_status;
    req->say_message = b->vary_shapes && ks_random(self) < 0.25;
    req->latency_ms = b->latency_ms;
    if (drop || req->fault == FAULT_GATEWAY || req->fault == FAULT_SERVER || req->drop_after)
        self->stats.faults++;
    if (drop && req->route == ROUTE_CREATE) self->stats.creates_rejected++;
    size_t upload_max = b->upload_max_bytes;
    pthread_mutex_unlock(&self->lock);

    req->drop = drop;
    if (drop || req->fault != FAULT_NONE) return req;
    if (req->route == ROUTE_CREATE)
        req->body_max = KIESIM_BODY_MAX;
    else if (req->route == ROUTE_UPLOAD_BASE64)
        req->body_max = upload_max / 3 * 4 + KIESIM_BODY_MAX;
    else if (req->route == ROUTE_UPLOAD_STREAM) {
        req->upload = ks_upload_req_new(connection, upload_max);
        req->not_multipart = !req->upload;
    }
    return req;
}

static int s_body_append(request_t *req, const char *data, size_t size) {
    if (req->too_large || req->size + size > req->body_max) {
        req->too_large = true;
        return -1;
    }
    if (req->size + size + 1 > req->alloc) {
        size_t wanted = req->alloc ? req->alloc : 4096;
        while (wanted < req->size + size + 1)
            wanted *= 2;
        char *grown = realloc(req->body, wanted);
        if (!grown) {
            req->too_large = true;
            return -1;
        }
        req->body = grown;
        req->alloc = wanted;
    }
    memcpy(req->body + req->size, data, size);
    req->size += size;
    req->body[req->size] = '\0';
    return 0;
}

//  Last call: the whole request is in; answer it (or drop it).
static enum MHD_Result s_answer(kiesim_t *self, struct MHD_Connection *connection, request_t *req,
                                const char *url) {
    if (req->latency_ms > 0) usleep((useconds_t)(req->latency_ms * 1000));
    bool is_file = req->route == ROUTE_RESULT_FILE || req->route == ROUTE_UPLOADED_FILE;
    struct MHD_Response *response = NULL;
    int status = MHD_HTTP_OK;
    ks_reply_t reply = {.kind = KS_REPLY_JSON, .code = 200};
    if (req->fault == FAULT_GATEWAY) {
        reply.code = MHD_HTTP_BAD_GATEWAY;
        response = s_text(GATEWAY_PAGE, "text/html");
        status = MHD_HTTP_BAD_GATEWAY;
    } else if (is_file && req->fault == FAULT_SERVER) {
        response = s_text("Internal Server Error\n", "text/plain");
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    } else if (is_file)
        response = s_file(self, req->route, url, &status);
    else {
        if (req->fault == FAULT_MAINTENANCE)
            ks_reply_error(&reply, 455, "%s", ks_code_msg(455));
        else if (req->fault == FAULT_SERVER)
            ks_reply_error(&reply, 500, "%s", ks_code_msg(500));
        else {
            pthread_mutex_lock(&self->lock);
            s_dispatch(self, connection, req, &reply);
            pthread_mutex_unlock(&self->lock);
        }
        if (reply.kind == KS_REPLY_JSON && !req->drop_after)
            response = s_envelope(req, &reply, &status);
    }
    if (req->route == ROUTE_CREATE && (reply.code != 200 || reply.kind == KS_REPLY_DROP)) {
        pthread_mutex_lock(&self->lock);
        self->stats.creates_rejected++;
        pthread_mutex_unlock(&self->lock);
    }
    json_decref(reply.data);
    if (req->drop_after || reply.kind != KS_REPLY_JSON) {
        if (response) MHD_destroy_response(response);
        return MHD_NO; //  closes the connection without an answer
    }
    if (!response) return MHD_NO;
    enum MHD_Result rc = MHD_queue_response(connection, (unsigned int)status, response);
    MHD_destroy_response(response);
    return rc;
}

//  The API routes (lock held).
static void s_dispatch(kiesim_t *self, struct MHD_Connection *connection, request_t *req,
                       ks_reply_t *reply) {
    bool upload = req->route == ROUTE_UPLOAD_STREAM || req->route == ROUTE_UPLOAD_BASE64 ||
                  req->route == ROUTE_UPLOAD_URL;
    reply->upload_shape = upload;
    if (req->route == ROUTE_NOT_FOUND || req->route == ROUTE_BAD_METHOD) {
        int code = req->route == ROUTE_NOT_FOUND ? 404 : 405;
        ks_reply_error(reply, code, "%s", ks_code_msg(code));
        req->http_status = true; //  no such page: a real 404/405
        return;
    }
    int key = s_auth(self, connection, reply);
    if (key < 0) return;
    if (req->too_large && upload) {
        ks_reply_error(reply, 413, "File size exceeds the limit of %zu bytes",
                       self->behaviour.upload_max_bytes);
        return;
    }
    if (req->too_large) {
        ks_reply_error(reply, 400, "Request body too large");
        return;
    }
    switch (req->route) {
    case ROUTE_CREATE:
        ks_task_create(self, key, req->body ? req->body : "", req->size, reply);
        break;
    case ROUTE_RECORD:
        ks_task_poll(self, key,
                     MHD_lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, "taskId"),
                     reply);
        break;
    case ROUTE_CREDIT:
        ks_settle(self, ks_now(self)); //  failed tasks refunded
        self->stats.credit_calls++;
        self->keys[key].counters.credit_calls++;
        reply->data = json_integer(self->keys[key].credits);
        break;
    case ROUTE_UPLOAD_STREAM:
        if (req->not_multipart)
            ks_reply_error(reply, 400, "Content-Type must be multipart/form-data");
        else
            ks_upload_stream(self, key, req->upload, reply);
        break;
    case ROUTE_UPLOAD_BASE64:
        ks_upload_base64(self, key, req->body ? req->body : "", req->size, reply);
        break;
    default:
        ks_reply_error(reply, 505, "%s", ks_code_msg(505));
        break;
    }
}

//  The key of "Authorization: Bearer <key>", or -1 with reply set to 401
//  (unknown, revoked or disabled) or 433 (over its usage limit).
static int s_auth(kiesim_t *self, struct MHD_Connection *connection, ks_reply_t *reply) {
    const char *header =
        MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    int key = -1;
    if (header && strncasecmp(header, "Bearer ", 7) == 0) key = ks_key_find(self, header + 7);
    kiesim_key_state_t state = key >= 0 ? self->keys[key].state : KIESIM_KEY_UNKNOWN;
    if (state == KIESIM_KEY_VALID) return key;
    self->stats.unauthorized++;
    if (state == KIESIM_KEY_OVER_LIMIT)
        ks_reply_error(reply, 433, "%s", ks_code_msg(433));
    else if (state == KIESIM_KEY_DISABLED)
        ks_reply_error(reply, 401, "This API key has been disabled");
    else
        ks_reply_error(reply, 401, "%s", ks_code_msg(401));
    return -1;
}

//  A result (/files/<taskId>.mp4, only once the task succeeded) or an upload
//  (/uploads/<id>/<fileName>); a plain 404 otherwise.
static struct MHD_Response *s_file(kiesim_t *self, route_t route, const char *url, int *status) {
    struct MHD_Response *response = NULL;
    pthread_mutex_lock(&self->lock);
    if (route == ROUTE_RESULT_FILE) {
        char id[KIESIM_TASK_ID_MAX + 8];
        snprintf(id, sizeof id, "%s", url + 7);
        char *dot = strrchr(id, '.');
        ks_task_t *task = NULL;
        if (dot && strcmp(dot, ".mp4") == 0) {
            *dot = '\0';
            task = zhashx_lookup(self->task_index, id);
        }
        if (task && ks_task_eval(self, task, ks_now(self), NULL) == KIESIM_STATE_SUCCESS) {
            result_body_t *body = calloc(1, sizeof *body);
            if (body) {
                int64_t total = ks_task_result_size(self, task);
                if (total < (int64_t)kiesim_sample_mp4_size + FREE_BOX_HEADER ||
                    total - (int64_t)kiesim_sample_mp4_size > UINT32_MAX)
                    total = (int64_t)kiesim_sample_mp4_size;
                body->total = (uint64_t)total;
                response = MHD_create_response_from_callback(body->total, FILE_BLOCK, s_result_read,
                                                             body, free);
                if (response)
                    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, "video/mp4");
                else
                    free(body);
            }
        }
    } else {
        char id[KS_ID_HEX + 1];
        snprintf(id, sizeof id, "%s", url + 9);
        const char *name = url + 9 + KS_ID_HEX;
        ks_upload_t *upload =
            strlen(url + 9) > KS_ID_HEX && *name == '/' ? ks_upload_find(self, id) : NULL;
        if (upload && strcmp(name + 1, upload->file_name) == 0) {
            //  Uploads stay until the simulator is destroyed, after the server.
            response = MHD_create_response_from_buffer(upload->size, upload->bytes,
                                                       MHD_RESPMEM_PERSISTENT);
            if (response)
                MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, upload->mime_type);
        }
    }
    if (response) self->stats.downloads++;
    pthread_mutex_unlock(&self->lock);
    if (!response) {
        *status = MHD_HTTP_NOT_FOUND;
        return s_text("Not Found\n", "text/plain");
    }
    *status = MHD_HTTP_OK;
    return response;
}

static struct MHD_Response *s_text(const char *text, const char *type) {
    struct MHD_Response *response =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
    if (response) MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    return response;
}

//  {code, msg, data}; the upload host adds "success". Takes reply->data.
static struct MHD_Response *s_envelope(const request_t *req, ks_reply_t *reply, int *status) {
    bool ok = reply->code == 200;
    const char *msg =
        ok ? (reply->upload_shape ? "File uploaded successfully" : "success") : reply->msg;
    json_t *body = json_object();
    if (reply->upload_shape) json_object_set_new(body, "success", json_boolean(ok));
    json_object_set_new(body, "code", json_integer(reply->code));
    json_object_set_new(body, req->say_message ? "message" : "msg", json_string(msg));
    json_object_set_new(body, "data", ok && reply->data ? reply->data : json_null());
    if (!ok) json_decref(reply->data);
    reply->data = NULL;
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text) return NULL;
    *status = !ok && req->http_status ? reply->code : MHD_HTTP_OK;
    struct MHD_Response *response =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!response) {
        free(text);
        return NULL;
    }
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    return response;
}

//  The sample MP4, then a `free` box holding the padding: the file stays
//  a valid MP4 of exactly total bytes.
static ssize_t s_result_read(void *cls, uint64_t pos, char *buf, size_t max) {
    const result_body_t *body = cls;
    uint64_t sample = kiesim_sample_mp4_size;
    uint64_t padding = body->total - sample;
    unsigned char header[FREE_BOX_HEADER] = {(unsigned char)(padding >> 24),
                                             (unsigned char)(padding >> 16),
                                             (unsigned char)(padding >> 8),
                                             (unsigned char)padding,
                                             'f',
                                             'r',
                                             'e',
                                             'e'};
    size_t done = 0;
    while (done < max && pos < body->total) {
        size_t n;
        if (pos < sample) {
            n = (size_t)(sample - pos) < max - done ? (size_t)(sample - pos) : max - done;
            memcpy(buf + done, kiesim_sample_mp4 + pos, n);
        } else if (pos < sample + FREE_BOX_HEADER) {
            n = 1;
            buf[done] = (char)header[pos - sample];
        } else {
            n = (size_t)(body->total - pos) < max - done ? (size_t)(body->total - pos) : max - done;
            memset(buf + done, 0, n);
        }
        done += n;
        pos += n;
    }
    return done ? (ssize_t)done : MHD_CONTENT_READER_END_OF_STREAM;
}
