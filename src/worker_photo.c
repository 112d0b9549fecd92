/*  worker_photo.c — a job's input photo: Telegram getFile, the download,
    KIE's file-stream-upload, and a cache of the resulting URLs by the
    photo's file_unique_id, so that the videos of one order (and a user's
    later orders from the same photo) upload it once. Jobs that need a
    photo being fetched wait on it instead of fetching it again.

    The bot token is in the getFile and download URLs: they are built
    here, handed to httpc (which never logs them) and wiped. What reaches
    KIE is only the upload's own URL.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "worker_internal.h"

#include <assert.h>
#include <stdarg.h>
#include <string.h>

#include "log.h"
#include "tg.h"

//  One photo: being fetched (busy, with the jobs waiting for it), or
//  uploaded (url, until expires_ms).
typedef struct {
    worker_t *worker;
    char key[W_PHOTO_KEY_MAX];
    char *file_id;
    char *url;
    int64_t expires_ms;
    bool busy;
    zlistx_t *waiters; //  wjob_t *, not owned
} wphoto_t;

static void s_photo_free(void **item_p);
static void s_get_file(wphoto_t *photo);
static void s_failed(wphoto_t *photo, kie_class_t cls, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void s_ready(wphoto_t *photo, const char *url);
static char *s_tg_url(worker_t *self, char *path);

void worker_photos_new(worker_t *self) {
    self->photos = zhashx_new();
    zhashx_set_destructor(self->photos, s_photo_free);
}

void worker_photos_destroy(worker_t *self) {
    zhashx_destroy(&self->photos);
}

void worker_photo_get(worker_t *self, wjob_t *job, const char *file_id) {
    int64_t now = worker_now(self);
    wphoto_t *photo = (wphoto_t *)zhashx_lookup(self->photos, job->photo_key);
    if (photo && photo->url && now < photo->expires_ms) {
        actor_count(self->actor, W_C_UPLOAD_CACHE_HITS, 1);
        wjob_photo_ready(job, photo->url);
        return;
    }
    if (photo && photo->busy) {
        actor_count(self->actor, W_C_UPLOAD_CACHE_HITS, 1);
        zlistx_add_end(photo->waiters, job);
        return;
    }
    if (!photo) {
        if (zhashx_size(self->photos) >= WORKER_UPLOAD_CACHE_MAX)
            worker_photos_purge(self, INT64_MAX); //  all that is not in use
        photo = (wphoto_t *)calloc(1, sizeof(wphoto_t));
        assert(photo);
        photo->worker = self;
        snprintf(photo->key, sizeof photo->key, "%s", job->photo_key);
        photo->waiters = zlistx_new();
        zhashx_insert(self->photos, photo->key, photo);
    }
    free(photo->url);
    photo->url = NULL;
    free(photo->file_id);
    photo->file_id = strdup(file_id);
    photo->busy = true;
    zlistx_add_end(photo->waiters, job);
    s_get_file(photo);
}

void worker_photo_forget(worker_t *self, const char *photo_key, const char *url) {
    wphoto_t *photo = (wphoto_t *)zhashx_lookup(self->photos, photo_key);
    if (photo && !photo->busy && photo->url && strcmp(photo->url, url) == 0)
        zhashx_delete(self->photos, photo_key);
}

//  Forgets every photo not being fetched whose URL is stale at now_ms.
void worker_photos_purge(worker_t *self, int64_t now_ms) {
    zlistx_t *stale = zlistx_new();
    zlistx_set_destructor(stale, (zlistx_destructor_fn *)zstr_free);
    for (wphoto_t *photo = (wphoto_t *)zhashx_first(self->photos); photo;
         photo = (wphoto_t *)zhashx_next(self->photos))
        if (!photo->busy && now_ms >= photo->expires_ms) zlistx_add_end(stale, strdup(photo->key));
    for (char *key = (char *)zlistx_first(stale); key; key = (char *)zlistx_next(stale))
        zhashx_delete(self->photos, key);
    zlistx_destroy(&stale);
}

//  --- getFile, download, upload ---------------------------------------------------

static void s_on_file(const httpc_response_t *response, void *arg);
static void s_on_downloaded(const httpc_response_t *response, void *arg);
static void s_on_uploaded(const httpc_response_t *response, void *arg);

static void s_get_file(wphoto_t *photo) {
    worker_t *self = photo->worker;
    char err[TG_ERR_MAX];
    tg_request_t *request = tg_get_file(photo->file_id, err);
    if (!request) {
        s_failed(photo, KIE_CLASS_INVALID_REQUEST, "getFile: %s", err);
        return;
    }
    char *body = tg_request_to_json(request);
    tg_request_destroy(&request);
    const char *token = self->config->telegram_bot_token;
    char *url = s_tg_url(self, token ? tg_method_path_with_token(token, "getFile") : NULL);
    httpc_request_t call = {.method = "POST",
                            .url = url,
                            .body = body,
                            .body_len = body ? strlen(body) : 0,
                            .content_type = "application/json",
                            .timeout_ms = W_CALL_TIMEOUT_MS};
    int rc = url && body ? httpc_start(self->http, &call, s_on_file, photo) : -1;
    free(body);
    if (url) explicit_bzero(url, strlen(url));
    free(url);
    if (rc != 0) s_failed(photo, KIE_CLASS_INVALID_REQUEST, "getFile: no bot token or no request");
}

static void s_on_file(const httpc_response_t *response, void *arg) {
    wphoto_t *photo = (wphoto_t *)arg;
    worker_t *self = photo->worker;
    tg_response_t *parsed = tg_response_parse(response->status, response->body, response->body_len,
                                              response->retry_after);
    tg_status_t status = response->status == 0 ? TG_E_SERVER : tg_response_status(parsed);
    tg_file_t file;
    if (status == TG_OK && tg_response_file(parsed, &file) == 0 && file.file_path &&
        file.file_size <= TG_DOWNLOAD_MAX) {
        const char *token = self->config->telegram_bot_token;
        char *url = s_tg_url(self, tg_file_path_with_token(token, file.file_path));
        httpc_request_t call = {
            .url = url, .timeout_ms = W_MEDIA_TIMEOUT_MS, .max_bytes = TG_DOWNLOAD_MAX};
        int rc = url ? httpc_start(self->http, &call, s_on_downloaded, photo) : -1;
        if (url) explicit_bzero(url, strlen(url));
        free(url);
        if (rc != 0) s_failed(photo, KIE_CLASS_INVALID_REQUEST, "download: unusable file_path");
    } else if (status == TG_OK)
        s_failed(photo, KIE_CLASS_INVALID_REQUEST, "getFile: no downloadable file (over %d MB?)",
                 TG_DOWNLOAD_MAX >> 20);
    else if (status == TG_E_SERVER || status == TG_E_RETRY_AFTER || status == TG_E_MALFORMED)
        s_failed(photo, KIE_CLASS_TEMPORARY, "getFile: %s",
                 response->status ? tg_response_description(parsed) : response->error);
    else
        s_failed(photo, KIE_CLASS_INVALID_REQUEST, "getFile: %d %s", tg_response_error_code(parsed),
                 tg_response_description(parsed));
    tg_response_destroy(&parsed);
}

//  image/jpeg, image/png or image/webp by the file's first bytes; NULL else.
static const char *s_mime(const char *data, size_t size, const char **ext) {
    const unsigned char *b = (const unsigned char *)data;
    if (size >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff)
        return *ext = "jpg", "image/jpeg";
    if (size >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0) return *ext = "png", "image/png";
    if (size >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0)
        return *ext = "webp", "image/webp";
    return NULL;
}

static void s_on_downloaded(const httpc_response_t *response, void *arg) {
    wphoto_t *photo = (wphoto_t *)arg;
    worker_t *self = photo->worker;
    int status = response->status;
    if (status == 0 || status == 404 || status == 408 || status == 429 || status >= 500) {
        //  a file_path lives an hour: a retry asks getFile again
        if (status)
            s_failed(photo, KIE_CLASS_TEMPORARY, "download: HTTP %d", status);
        else
            s_failed(photo, KIE_CLASS_TEMPORARY, "download: %s", response->error);
        return;
    }
    if (response->too_large || status < 200 || status > 299) {
        s_failed(photo, KIE_CLASS_INVALID_REQUEST, "download: HTTP %d%s", status,
                 response->too_large ? ", over the size cap" : "");
        return;
    }
    const char *ext = "";
    const char *mime = s_mime(response->body, response->body_len, &ext);
    if (!mime) {
        s_failed(photo, KIE_CLASS_INVALID_REQUEST, "the photo is not a JPEG, PNG or WebP image");
        return;
    }
    //  a unique name: KIE overwrites a file of the same name
    char name[KIE_FILE_NAME_MAX];
    size_t at = 0;
    for (const char *c = photo->key; *c && at < 48; c++)
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
            *c == '_' || *c == '-')
            name[at++] = *c;
    snprintf(name + at, sizeof name - at, "%s%08x.%s", at ? "-" : "p-",
             (unsigned)(worker_random(self) * 4294967295.0), ext);
    kie_form_part_t form[KIE_UPLOAD_PARTS];
    char err[KIE_DETAIL_MAX];
    if (kie_upload_form(response->body, response->body_len, W_UPLOAD_PATH, name, mime, form, err) !=
        0) {
        s_failed(photo, KIE_CLASS_INVALID_REQUEST, "upload: %s", err);
        return;
    }
    httpc_part_t parts[KIE_UPLOAD_PARTS];
    for (size_t i = 0; i < KIE_UPLOAD_PARTS; i++)
        parts[i] = (httpc_part_t){.name = form[i].name,
                                  .value = form[i].value,
                                  .data = form[i].data,
                                  .size = form[i].size,
                                  .filename = form[i].file_name,
                                  .content_type = form[i].mime_type};
    char *url = worker_url(self, self->config->kie_upload_url, KIE_PATH_STREAM_UPLOAD);
    httpc_request_t call = {.method = "POST",
                            .url = url,
                            .headers = self->headers,
                            .parts = parts,
                            .part_count = KIE_UPLOAD_PARTS,
                            .timeout_ms = W_MEDIA_TIMEOUT_MS};
    actor_count(self->actor, W_C_UPLOADS, 1);
    int rc = url ? httpc_start(self->http, &call, s_on_uploaded, photo) : -1;
    free(url);
    if (rc != 0) s_failed(photo, KIE_CLASS_TEMPORARY, "upload: cannot start the call");
}

static void s_on_uploaded(const httpc_response_t *response, void *arg) {
    wphoto_t *photo = (wphoto_t *)arg;
    kie_upload_t out;
    if (kie_parse_upload(response->status, response->body, response->body_len, &out) == 0)
        s_ready(photo, out.url);
    else {
        actor_count(photo->worker->actor, W_C_UPLOAD_ERRORS, 1);
        s_failed(photo, out.error.err_class, "upload: %s%s%s", out.error.detail,
                 response->status ? "" : ": ", response->status ? "" : response->error);
    }
}

//  --- outcomes -----------------------------------------------------------------

static void s_ready(wphoto_t *photo, const char *url) {
    worker_t *self = photo->worker;
    photo->url = strdup(url);
    photo->expires_ms = worker_now(self) + self->upload_cache_ms;
    photo->busy = false;
    zlistx_t *waiters = photo->waiters;
    photo->waiters = zlistx_new();
    char *copy = strdup(url); //  the entry may go while the jobs move on
    log_debug(W_LOG, "photo uploaded", "key=%s jobs=%zu", self->fingerprint, zlistx_size(waiters));
    for (wjob_t *job = (wjob_t *)zlistx_first(waiters); job; job = (wjob_t *)zlistx_next(waiters))
        wjob_photo_ready(job, copy);
    free(copy);
    zlistx_destroy(&waiters);
}

//  Every job waiting for the photo fails the same way; the photo is
//  forgotten so that a retry starts afresh.
static void s_failed(wphoto_t *photo, kie_class_t cls, const char *fmt, ...) {
    worker_t *self = photo->worker;
    char detail[KIE_DETAIL_MAX];
    va_list args;
    va_start(args, fmt);
    vsnprintf(detail, sizeof detail, fmt, args);
    va_end(args);
    zlistx_t *waiters = photo->waiters;
    photo->waiters = NULL;
    char key[W_PHOTO_KEY_MAX];
    snprintf(key, sizeof key, "%s", photo->key);
    zhashx_delete(self->photos, key);
    log_warn(W_LOG, "input photo failed", "key=%s class=%s jobs=%zu detail=\"%s\"",
             self->fingerprint, kie_class_name(cls), zlistx_size(waiters), detail);
    for (wjob_t *job = (wjob_t *)zlistx_first(waiters); job; job = (wjob_t *)zlistx_next(waiters))
        wjob_failure(job, cls, detail);
    zlistx_destroy(&waiters);
}

static void s_photo_free(void **item_p) {
    wphoto_t *photo = (wphoto_t *)*item_p;
    if (!photo) return;
    free(photo->file_id);
    free(photo->url);
    zlistx_destroy(&photo->waiters);
    free(photo);
    *item_p = NULL;
}

//  TELEGRAM_API_URL + path; path (holding the token) is wiped and freed.
static char *s_tg_url(worker_t *self, char *path) {
    if (!path) return NULL;
    char *url = worker_url(self, self->config->telegram_api_url, path);
    explicit_bzero(path, strlen(path));
    free(path);
    return url;
}
