/*  tgsim_http.c — the simulator's HTTP side, on libmicrohttpd with a
    thread per connection (so a long poll simply waits on a condition
    variable without holding up anyone else).

    A request travels: parameters gathered as they arrive (query string,
    urlencoded or multipart through MHD's post processor, JSON collected and
    parsed at the end) → token → scripted failures, then random faults →
    media URL fetched (fetch_urls, outside the lock) → the method's handler
    under the lock → the call recorded and announced → the answer, or a
    dropped connection.
*/
#include "tgsim_internal.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define S_POST_BUFFER 65536

static const char s_gateway_page[] = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n"
                                     "<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n"
                                     "<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n";
static const char s_malformed_body[] = "{\"ok\":true,\"result\":[{\"update_id\":";

static enum MHD_Result s_access(void *cls, struct MHD_Connection *conn, const char *url,
                                const char *method, const char *version, const char *upload_data,
                                size_t *upload_data_size, void **con_cls);
static void s_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                        enum MHD_RequestTerminationCode toe);
static enum MHD_Result s_query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value);
static enum MHD_Result s_post_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *filename, const char *content_type,
                                    const char *transfer_encoding, const char *data, uint64_t off,
                                    size_t size);
static enum MHD_Result s_answer(tgsim_t *sim, struct MHD_Connection *conn, tgs_request_t *req);
static enum MHD_Result s_serve_file(tgsim_t *sim, struct MHD_Connection *conn, const char *path);
static enum MHD_Result s_respond(tgsim_t *sim, struct MHD_Connection *conn, tgs_reply_t *reply);
static bool s_fault(tgsim_t *sim, const char *method, bool download, tgs_reply_t *reply);
static void s_fetch(tgsim_t *sim, tgs_request_t *req, const char *url);
static void s_record(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply);
static void s_count(tgsim_t *sim, int status, bool dropped);
static void s_reply_clear(tgs_reply_t *reply);

//  --------------------------------------------------------------------------

int tgs_http_start(tgsim_t *sim) {
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(sim->opts.port);
    inet_pton(AF_INET, TGSIM_HOST, &addr.sin_addr);
    sim->daemon = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_THREAD_PER_CONNECTION,
                                   sim->opts.port, NULL, NULL, s_access, sim, MHD_OPTION_SOCK_ADDR,
                                   (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED,
                                   s_completed, sim, MHD_OPTION_END);
    if (!sim->daemon) {
        fprintf(stderr, "tgsim: can't listen on %s:%u\n", TGSIM_HOST, sim->opts.port);
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(sim->daemon, MHD_DAEMON_INFO_BIND_PORT);
    sim->port = info ? info->port : sim->opts.port;
    snprintf(sim->url, sizeof sim->url, "http://%s:%u", TGSIM_HOST, sim->port);
    return 0;
}

void tgs_http_stop(tgsim_t *sim) {
    if (sim->daemon) {
        MHD_stop_daemon(sim->daemon);
        sim->daemon = NULL;
    }
}

//  --------------------------------------------------------------------------

static enum MHD_Result s_access(void *cls, struct MHD_Connection *conn, const char *url,
                                const char *method, const char *version, const char *upload_data,
                                size_t *upload_data_size, void **con_cls) {
    (void)version;
    tgsim_t *sim = cls;
    tgs_request_t *req = *con_cls;
    if (!req) {
        req = calloc(1, sizeof *req);
        assert(req);
        req->sim = sim;
        req->path = tgs_strdup(url);
        req->params = json_object();
        req->scratch = json_object();
        MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, s_query_arg, req);
        const char *type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
        if (strcmp(method, "GET") != 0 && type) {
            if (strncasecmp(type, "application/json", 16) == 0)
                req->json_body = true;
            else
                req->post = MHD_create_post_processor(conn, S_POST_BUFFER, s_post_field, req);
        }
        *con_cls = req;
        pthread_mutex_lock(&sim->lock);
        sim->stats.requests++;
        pthread_mutex_unlock(&sim->lock);
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (req->post) {
            if (MHD_post_process(req->post, upload_data, *upload_data_size) != MHD_YES)
                req->bad_body = true;
        } else if (req->json_body) {
            if (req->body_size + *upload_data_size > TGS_JSON_BODY_MAX)
                req->too_big = true;
            else {
                if (req->body_size + *upload_data_size + 1 > req->body_cap) {
                    req->body_cap = (req->body_size + *upload_data_size + 1) * 2;
                    req->body = realloc(req->body, req->body_cap);
                    assert(req->body);
                }
                memcpy(req->body + req->body_size, upload_data, *upload_data_size);
                req->body_size += *upload_data_size;
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    return s_answer(sim, conn, req);
}

static void s_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                        enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)conn;
    (void)toe;
    tgs_request_t *req = *con_cls;
    if (!req) return;
    if (req->post) MHD_destroy_post_processor(req->post);
    for (size_t i = 0; i < req->upload_count; i++) {
        free(req->uploads[i].field);
        free(req->uploads[i].filename);
        free(req->uploads[i].content_type);
        free(req->uploads[i].data);
    }
    free(req->uploads);
    json_decref(req->params);
    json_decref(req->scratch);
    free(req->body);
    free(req->path);
    free(req->fetched);
    tgs_call_free(req->call);
    free(req);
    *con_cls = NULL;
}

static enum MHD_Result s_query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value) {
    (void)kind;
    tgs_request_t *req = cls;
    if (key) json_object_set_new(req->params, key, json_string_nocheck(value ? value : ""));
    return MHD_YES;
}

//  Called for each chunk of each field; off > 0 continues the field before.
static enum MHD_Result s_post_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *filename, const char *content_type,
                                    const char *transfer_encoding, const char *data, uint64_t off,
                                    size_t size) {
    (void)kind;
    (void)transfer_encoding;
    tgs_request_t *req = cls;
    if (!key) return MHD_YES;
    if (filename) {
        tgs_upload_t *upload = req->upload_count ? &req->uploads[req->upload_count - 1] : NULL;
        if (off == 0 || !upload || strcmp(upload->field, key) != 0) {
            req->uploads = realloc(req->uploads, (req->upload_count + 1) * sizeof *req->uploads);
            assert(req->uploads);
            upload = &req->uploads[req->upload_count++];
            memset(upload, 0, sizeof *upload);
            upload->field = tgs_strdup(key);
            upload->filename = tgs_strdup(filename);
            upload->content_type = tgs_strdup(content_type);
        }
        upload->total += size;
        if (upload->total > TGSIM_UPLOAD_MAX) {
            upload->too_big = true;
            return MHD_YES;
        }
        if (upload->size + size > upload->cap) {
            upload->cap = (upload->size + size) * 2;
            if (upload->cap > TGSIM_UPLOAD_MAX) upload->cap = TGSIM_UPLOAD_MAX;
            upload->data = realloc(upload->data, upload->cap);
            assert(upload->data);
        }
        memcpy(upload->data + upload->size, data, size);
        upload->size += size;
        return MHD_YES;
    }
    json_t *value = json_object_get(req->params, key);
    if (off == 0 || !json_is_string(value)) {
        json_object_set_new(req->params, key, json_stringn_nocheck(data, size));
        return MHD_YES;
    }
    size_t had = json_string_length(value);
    if (had + size > TGS_FIELD_MAX) {
        req->too_big = true;
        return MHD_YES;
    }
    char *joined = malloc(had + size + 1);
    assert(joined);
    memcpy(joined, json_string_value(value), had);
    memcpy(joined + had, data, size);
    json_string_setn_nocheck(value, joined, had + size);
    free(joined);
    return MHD_YES;
}

static enum MHD_Result s_answer(tgsim_t *sim, struct MHD_Connection *conn, tgs_request_t *req) {
    tgs_reply_t reply;
    memset(&reply, 0, sizeof reply);
    const char *path = req->path;
    if (strncmp(path, "/file/bot", 9) == 0) return s_serve_file(sim, conn, path + 9);
    size_t token_length = strlen(sim->token);
    if (strncmp(path, "/bot", 4) != 0) {
        tgs_reply_error(&reply, 404, "Not Found");
        return s_respond(sim, conn, &reply);
    }
    if (strncmp(path + 4, sim->token, token_length) != 0 || path[4 + token_length] != '/') {
        tgs_reply_error(&reply, 401, "Unauthorized");
        return s_respond(sim, conn, &reply);
    }
    const char *name = path + 4 + token_length + 1;
    req->method = tgs_method_find(name);
    req->call = calloc(1, sizeof *req->call);
    assert(req->call);
    req->call->method = tgs_strdup(req->method ? req->method->name : name);
    req->call->file_size = -1;

    if (req->json_body && req->body_size && !req->too_big) {
        json_t *body = json_loadb(req->body, req->body_size, 0, NULL);
        if (json_is_object(body))
            json_object_update(req->params, body);
        else
            req->bad_body = true;
        json_decref(body);
    }
    if (req->bad_body && !req->too_big)
        tgs_reply_error(&reply, 400, "Bad Request: can't parse request body");
    pthread_mutex_lock(&sim->lock);
    int latency_ms = sim->opts.latency_ms;
    pthread_mutex_unlock(&sim->lock);
    if (latency_ms > 0) usleep((useconds_t)latency_ms * 1000);

    pthread_mutex_lock(&sim->lock);
    bool faulted = reply.status || s_fault(sim, req->call->method, false, &reply);
    bool fetch = sim->opts.fetch_urls;
    pthread_mutex_unlock(&sim->lock);
    if (!faulted) {
        bool too_big = req->too_big;
        for (size_t i = 0; i < req->upload_count; i++)
            too_big = too_big || req->uploads[i].too_big;
        if (!req->method)
            tgs_reply_error(&reply, 404, "Not Found");
        else if (too_big)
            tgs_reply_error(&reply, 413, "Request Entity Too Large");
        else {
            const char *url = fetch ? tgs_media_url(req, req->method->name) : NULL;
            if (url) s_fetch(sim, req, url);
            pthread_mutex_lock(&sim->lock);
            req->method->fn(sim, req, &reply);
            if (!reply.drop && sim->opts.p_drop_after > 0 &&
                tgs_rand_unit(sim) < sim->opts.p_drop_after)
                req->call->dropped_after = true;
            pthread_mutex_unlock(&sim->lock);
        }
    }
    s_record(sim, req, &reply);
    return s_respond(sim, conn, &reply);
}

static enum MHD_Result s_serve_file(tgsim_t *sim, struct MHD_Connection *conn, const char *path) {
    tgs_reply_t reply;
    memset(&reply, 0, sizeof reply);
    size_t token_length = strlen(sim->token);
    if (strncmp(path, sim->token, token_length) != 0 || path[token_length] != '/') {
        tgs_reply_error(&reply, 401, "Unauthorized");
        return s_respond(sim, conn, &reply);
    }
    path += token_length + 1;
    pthread_mutex_lock(&sim->lock);
    int latency_ms = sim->opts.latency_ms;
    pthread_mutex_unlock(&sim->lock);
    if (latency_ms > 0) usleep((useconds_t)latency_ms * 1000);
    pthread_mutex_lock(&sim->lock);
    if (s_fault(sim, "file", true, &reply)) {
        pthread_mutex_unlock(&sim->lock);
        return s_respond(sim, conn, &reply);
    }
    tgs_file_t *file = zhashx_lookup(sim->file_paths, path);
    struct MHD_Response *response = NULL;
    if (file && file->blob && file->blob->data) {
        response = MHD_create_response_from_buffer(file->blob->size, file->blob->data,
                                                   MHD_RESPMEM_MUST_COPY);
        sim->stats.downloads++;
        s_count(sim, 200, false);
    }
    pthread_mutex_unlock(&sim->lock);
    if (!response) {
        tgs_reply_error(&reply, 404, "Not Found");
        return s_respond(sim, conn, &reply);
    }
    MHD_add_response_header(response, "Content-Type", "application/octet-stream");
    enum MHD_Result rc = MHD_queue_response(conn, MHD_HTTP_OK, response);
    MHD_destroy_response(response);
    return rc;
}

//  Sends the reply (or drops the connection) and frees it.
static enum MHD_Result s_respond(tgsim_t *sim, struct MHD_Connection *conn, tgs_reply_t *reply) {
    if (reply->drop) {
        pthread_mutex_lock(&sim->lock);
        s_count(sim, 0, true);
        pthread_mutex_unlock(&sim->lock);
        s_reply_clear(reply);
        return MHD_NO;
    }
    char *body = NULL;
    const char *type = "application/json";
    if (reply->raw) {
        body = reply->raw;
        reply->raw = NULL;
        type = reply->content_type ? reply->content_type : type;
    } else if (reply->status == 0 || reply->status == 200) {
        json_t *json =
            json_pack("{s:b, s:O}", "ok", 1, "result", reply->result ? reply->result : json_true());
        body = json_dumps(json, JSON_COMPACT);
        json_decref(json);
    } else {
        json_t *json = json_pack("{s:b, s:i, s:s}", "ok", 0, "error_code", reply->status,
                                 "description", reply->description ? reply->description : "");
        if (reply->retry_after)
            json_object_set_new(json, "parameters",
                                json_pack("{s:i}", "retry_after", reply->retry_after));
        body = json_dumps(json, JSON_COMPACT);
        json_decref(json);
    }
    int status = reply->status ? reply->status : 200;
    pthread_mutex_lock(&sim->lock);
    s_count(sim, status, false);
    pthread_mutex_unlock(&sim->lock);
    struct MHD_Response *response =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(response, "Content-Type", type);
    if (reply->retry_after) {
        char value[16];
        snprintf(value, sizeof value, "%d", reply->retry_after);
        MHD_add_response_header(response, "Retry-After", value);
    }
    enum MHD_Result rc = MHD_queue_response(conn, (unsigned)status, response);
    MHD_destroy_response(response);
    s_reply_clear(reply);
    return rc;
}

//  Scripted failures first (a download only fails when scripted for
//  "file"), then random ones. Lock held.
static bool s_fault(tgsim_t *sim, const char *method, bool download, tgs_reply_t *reply) {
    int code = 0;
    const char *description = NULL;
    char *owned = NULL;
    for (tgs_fail_t *fail = zlistx_first(sim->fails); fail; fail = zlistx_next(sim->fails)) {
        if (fail->method ? strcasecmp(fail->method, method) != 0 : download) continue;
        code = fail->code;
        owned = tgs_strdup(fail->description);
        description = owned;
        if (fail->count > 0 && --fail->count == 0)
            zlistx_delete(sim->fails, zlistx_cursor(sim->fails));
        break;
    }
    if (!code) {
        double r = tgs_rand_unit(sim);
        if (r < sim->opts.p_drop)
            code = TGSIM_FAIL_DROP;
        else if (r < sim->opts.p_drop + sim->opts.p_server_error)
            code = tgs_rand(sim) & 1 ? 500 : TGSIM_FAIL_GATEWAY;
    }
    if (code == TGSIM_FAIL_DROP)
        reply->drop = true;
    else if (code == TGSIM_FAIL_MALFORMED) {
        reply->status = 200;
        reply->raw = tgs_strdup(s_malformed_body);
        reply->description = tgs_strdup("malformed body (injected)");
    } else if (code == TGSIM_FAIL_GATEWAY) {
        reply->status = 502;
        reply->raw = tgs_strdup(s_gateway_page);
        reply->content_type = "text/html";
        reply->description = tgs_strdup("502 Bad Gateway (injected, HTML)");
    } else if (code == 429) {
        int retry_after = sim->opts.retry_after_s > 0 ? sim->opts.retry_after_s : 1;
        reply->retry_after = retry_after;
        if (description)
            tgs_reply_error(reply, 429, description);
        else
            tgs_reply_errorf(reply, 429, "Too Many Requests: retry after %d", retry_after);
    } else if (code) {
        static const struct {
            int code;
            const char *description;
        } usual[] = {{400, "Bad Request"},        {401, "Unauthorized"},
                     {403, "Forbidden"},          {404, "Not Found"},
                     {409, TGSIM_CONFLICT_POLL},  {500, "Internal Server Error"},
                     {503, "Service Unavailable"}};
        const char *fallback = "Error";
        for (size_t i = 0; i < sizeof usual / sizeof usual[0]; i++)
            if (usual[i].code == code) fallback = usual[i].description;
        tgs_reply_error(reply, code, description ? description : fallback);
    }
    free(owned);
    return code != 0;
}

typedef struct {
    tgs_request_t *req;
    size_t limit;
} s_fetch_t;

static size_t s_fetch_write(char *data, size_t size, size_t count, void *arg) {
    s_fetch_t *fetch = arg;
    tgs_request_t *req = fetch->req;
    size_t n = size * count;
    if (req->fetched_size + n > fetch->limit) {
        req->fetch_too_big = true;
        return 0;
    }
    unsigned char *grown = realloc(req->fetched, req->fetched_size + n + 1);
    assert(grown);
    req->fetched = grown;
    memcpy(req->fetched + req->fetched_size, data, n);
    req->fetched_size += n;
    return n;
}

//  Downloads url into req->fetched (at most TGSIM_URL_MAX_BYTES).
static void s_fetch(tgsim_t *sim, tgs_request_t *req, const char *url) {
    (void)sim;
    req->fetch_done = true;
    CURL *curl = curl_easy_init();
    if (!curl) {
        req->fetch_failed = true;
        return;
    }
    s_fetch_t fetch = {req, TGSIM_URL_MAX_BYTES};
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, s_fetch_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &fetch);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, (long)TGS_FETCH_TIMEOUT_S);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    if (!req->fetch_too_big && (rc != CURLE_OK || status < 200 || status >= 300))
        req->fetch_failed = true;
}

//  Completes the call record, publishes it, counts the answer, and tells
//  the on_call function.
static void s_record(tgsim_t *sim, tgs_request_t *req, tgs_reply_t *reply) {
    tgsim_call_t *call = req->call;
    req->call = NULL;
    json_t *params = json_deep_copy(req->params);
    for (size_t i = 0; i < req->upload_count; i++) {
        tgs_upload_t *upload = &req->uploads[i];
        json_object_set_new(params, upload->field,
                            json_pack("{s:s?, s:I, s:s?}", "upload", upload->filename, "size",
                                      (json_int_t)upload->total, "mime_type",
                                      upload->content_type));
    }
    call->params = json_dumps(params, JSON_COMPACT | JSON_SORT_KEYS);
    if (!call->params) call->params = tgs_strdup("{}");
    json_decref(params);
    call->status = reply->drop ? 0 : reply->status ? reply->status : 200;
    call->error = tgs_strdup(reply->description);
    call->time_ms = tgsim_clock_ms();
    if (call->dropped_after) reply->drop = true;

    pthread_mutex_lock(&sim->lock);
    if (sim->call_count == sim->call_cap) {
        sim->call_cap = sim->call_cap ? sim->call_cap * 2 : 256;
        sim->calls = realloc(sim->calls, sim->call_cap * sizeof *sim->calls);
        assert(sim->calls);
    }
    call->seq = sim->call_count + 1;
    sim->calls[sim->call_count++] = call;
    sim->stats.calls++;
    tgsim_call_fn *fn = sim->on_call;
    void *arg = sim->on_call_arg;
    pthread_cond_broadcast(&sim->changed);
    pthread_mutex_unlock(&sim->lock);
    if (fn) fn(call, arg);
}

//  Lock held.
static void s_count(tgsim_t *sim, int status, bool dropped) {
    tgsim_stats_t *stats = &sim->stats;
    if (dropped)
        stats->dropped++;
    else if (status == 200)
        stats->ok++;
    else if (status == 400)
        stats->bad_request++;
    else if (status == 401)
        stats->unauthorized++;
    else if (status == 403)
        stats->forbidden++;
    else if (status == 404)
        stats->not_found++;
    else if (status == 409)
        stats->conflicts++;
    else if (status == 413)
        stats->too_large++;
    else if (status == 429)
        stats->flood++;
    else if (status >= 500)
        stats->server_errors++;
}

static void s_reply_clear(tgs_reply_t *reply) {
    json_decref(reply->result);
    free(reply->description);
    free(reply->raw);
    memset(reply, 0, sizeof *reply);
}
