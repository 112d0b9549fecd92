/*  kiesim_upload.c — KIE's upload host: POST /api/file-stream-upload
    (multipart: file, uploadPath, fileName?) and /api/file-base64-upload
    (JSON: base64Data, uploadPath, fileName?).

    Uploaded bytes stay in memory until the simulator is destroyed and are
    served at downloadUrl = <url>/uploads/<id>/<fileName>. Each upload gets
    its own id, so the same fileName uploaded twice gives two URLs (KIE
    overwrites, with a cache delay; tests care about counts, not that).
    The answer has the shape live integrators see:
      {"success":true,"code":200,"msg":"File uploaded successfully",
       "data":{"success":true,"fileName","filePath","downloadUrl","fileSize",
               "mimeType","uploadedAt"}}
*/
#define _GNU_SOURCE //  asprintf
#include "kiesim_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define POST_BUFFER  (16 * 1024)
#define MULTIPART    "multipart/form-data"
#define OCTET_STREAM "application/octet-stream"

struct ks_upload_req_s {
    struct MHD_PostProcessor *processor;
    size_t max_bytes;
    unsigned char *file;
    size_t size;
    size_t alloc;
    bool has_file;
    bool too_large;
    char part_name[KS_NAME_MAX + 1]; //  the file part's own filename
    char part_type[KS_NAME_MAX + 1]; //  and Content-Type
    char upload_path[KS_NAME_MAX + 1];
    char file_name[KS_NAME_MAX + 1];
};

static const struct {
    const char *extension;
    const char *mime_type;
} s_mime_types[] = {
    {"jpg", "image/jpeg"},  {"jpeg", "image/jpeg"}, {"png", "image/png"},
    {"webp", "image/webp"}, {"gif", "image/gif"},   {"mp4", "video/mp4"},
};

static enum MHD_Result s_post_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *filename, const char *content_type,
                                    const char *transfer_encoding, const char *data, uint64_t off,
                                    size_t size);
static void s_field_append(char *field, const char *data, size_t size);
static void s_store(kiesim_t *self, int key_index, unsigned char **bytes_p, size_t size,
                    const char *file_name, const char *upload_path, const char *mime_type,
                    ks_reply_t *reply);
static void s_clean(char *out, const char *in, bool path);

//  --------------------------------------------------------------------------

ks_upload_req_t *ks_upload_req_new(struct MHD_Connection *connection, size_t max_bytes) {
    const char *type =
        MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!type || strncasecmp(type, MULTIPART, strlen(MULTIPART)) != 0) return NULL;
    ks_upload_req_t *self = calloc(1, sizeof *self);
    if (!self) return NULL;
    self->max_bytes = max_bytes;
    self->processor = MHD_create_post_processor(connection, POST_BUFFER, s_post_field, self);
    if (!self->processor) ks_upload_req_destroy(&self);
    return self;
}

void ks_upload_req_destroy(ks_upload_req_t **self_p) {
    ks_upload_req_t *self = *self_p;
    if (!self) return;
    if (self->processor) MHD_destroy_post_processor(self->processor);
    free(self->file);
    free(self);
    *self_p = NULL;
}

int ks_upload_req_feed(ks_upload_req_t *req, const char *data, size_t size) {
    return MHD_post_process(req->processor, data, size) == MHD_YES ? 0 : -1;
}

void ks_upload_stream(kiesim_t *self, int key_index, ks_upload_req_t *req, ks_reply_t *reply) {
    //  Destroying the processor flushes the last part into the fields.
    MHD_destroy_post_processor(req->processor);
    req->processor = NULL;
    if (req->too_large) {
        ks_reply_error(reply, 413, "File size exceeds the limit of %zu bytes", req->max_bytes);
        return;
    }
    if (!req->has_file || !req->upload_path[0]) {
        const char *field = req->has_file ? "uploadPath" : "file";
        if (self->behaviour.missing_field_code == 500)
            ks_reply_error(reply, 500, "This field is required");
        else
            ks_reply_error(reply, self->behaviour.missing_field_code, "%s is required", field);
        return;
    }
    const char *mime =
        req->part_type[0] && strcasecmp(req->part_type, OCTET_STREAM) != 0 ? req->part_type : NULL;
    s_store(self, key_index, &req->file, req->size,
            req->file_name[0] ? req->file_name : req->part_name, req->upload_path, mime, reply);
}

void ks_upload_base64(kiesim_t *self, int key_index, const char *body, size_t size,
                      ks_reply_t *reply) {
    json_t *root = json_loadb(body, size, 0, NULL);
    const char *data = json_string_value(json_object_get(root, "base64Data"));
    const char *upload_path = json_string_value(json_object_get(root, "uploadPath"));
    const char *file_name = json_string_value(json_object_get(root, "fileName"));
    if (!json_is_object(root))
        ks_reply_error(reply, 400, "Invalid request body");
    else if (!data || !*data || !upload_path || !*upload_path) {
        if (self->behaviour.missing_field_code == 500)
            ks_reply_error(reply, 500, "This field is required");
        else
            ks_reply_error(reply, self->behaviour.missing_field_code, "%s is required",
                           data && *data ? "uploadPath" : "base64Data");
    } else {
        //  "data:image/png;base64,...." or bare base64.
        char mime[KS_NAME_MAX + 1] = "";
        const char *comma = strchr(data, ',');
        if (strncmp(data, "data:", 5) == 0 && comma) {
            const char *semicolon = strchr(data, ';');
            size_t length =
                (size_t)((semicolon && semicolon < comma ? semicolon : comma) - data - 5);
            snprintf(mime, sizeof mime, "%.*s", (int)(length < KS_NAME_MAX ? length : KS_NAME_MAX),
                     data + 5);
            data = comma + 1;
        }
        size_t decoded_size = 0;
        unsigned char *decoded = ks_base64_decode(data, strlen(data), &decoded_size);
        if (!decoded)
            ks_reply_error(reply, 400, "base64Data is not valid base64");
        else if (decoded_size > self->behaviour.upload_max_bytes)
            ks_reply_error(reply, 413, "File size exceeds the limit of %zu bytes",
                           self->behaviour.upload_max_bytes);
        else
            s_store(self, key_index, &decoded, decoded_size, file_name, upload_path,
                    mime[0] ? mime : NULL, reply);
        free(decoded);
    }
    json_decref(root);
}

ks_upload_t *ks_upload_find(kiesim_t *self, const char *id) {
    return zhashx_lookup(self->upload_index, id);
}

void ks_upload_free(ks_upload_t **upload_p) {
    ks_upload_t *upload = *upload_p;
    if (!upload) return;
    free(upload->file_name);
    free(upload->file_path);
    free(upload->mime_type);
    free(upload->bytes);
    free(upload);
    *upload_p = NULL;
}

//  --------------------------------------------------------------------------

static enum MHD_Result s_post_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *filename, const char *content_type,
                                    const char *transfer_encoding, const char *data, uint64_t off,
                                    size_t size) {
    (void)kind;
    (void)transfer_encoding;
    (void)off;
    ks_upload_req_t *self = cls;
    if (strcmp(key, "uploadPath") == 0)
        s_field_append(self->upload_path, data, size);
    else if (strcmp(key, "fileName") == 0)
        s_field_append(self->file_name, data, size);
    else if (strcmp(key, "file") == 0) {
        if (!self->has_file) {
            self->has_file = true;
            snprintf(self->part_name, sizeof self->part_name, "%s", filename ? filename : "");
            snprintf(self->part_type, sizeof self->part_type, "%s",
                     content_type ? content_type : "");
        }
        if (self->too_large || self->size + size > self->max_bytes) {
            //  Keep reading (the client is still sending), keep nothing.
            self->too_large = true;
            free(self->file);
            self->file = NULL;
            self->size = self->alloc = 0;
            return MHD_YES;
        }
        if (self->size + size > self->alloc) {
            size_t wanted = self->alloc ? self->alloc : 64 * 1024;
            while (wanted < self->size + size)
                wanted *= 2;
            unsigned char *grown = realloc(self->file, wanted);
            if (!grown) return MHD_NO;
            self->file = grown;
            self->alloc = wanted;
        }
        memcpy(self->file + self->size, data, size);
        self->size += size;
    }
    return MHD_YES;
}

//  A text field may arrive in pieces; longer than KS_NAME_MAX is cut.
static void s_field_append(char *field, const char *data, size_t size) {
    size_t used = strlen(field);
    size_t room = KS_NAME_MAX - used;
    size_t n = size < room ? size : room;
    memcpy(field + used, data, n);
    field[used + n] = '\0';
}

//  Keeps the bytes (takes *bytes_p) and answers with the upload's data.
static void s_store(kiesim_t *self, int key_index, unsigned char **bytes_p, size_t size,
                    const char *file_name, const char *upload_path, const char *mime_type,
                    ks_reply_t *reply) {
    ks_upload_t *upload = calloc(1, sizeof *upload);
    if (!upload ||
        ks_grow(&self->uploads, &self->upload_alloc, self->upload_count, sizeof upload)) {
        free(upload);
        ks_reply_error(reply, 500, "%s", ks_code_msg(500));
        return;
    }
    do
        ks_random_hex(self, upload->id, KS_ID_HEX);
    while (ks_upload_find(self, upload->id));
    char name[KS_NAME_MAX + 1];
    char path[KS_NAME_MAX + 1];
    s_clean(name, file_name ? file_name : "", false);
    s_clean(path, upload_path, true);
    if (!name[0]) snprintf(name, sizeof name, "%s.bin", upload->id);
    const char *extension = strrchr(name, '.');
    for (size_t i = 0; !mime_type && extension && i < sizeof s_mime_types / sizeof s_mime_types[0];
         i++)
        if (strcasecmp(extension + 1, s_mime_types[i].extension) == 0)
            mime_type = s_mime_types[i].mime_type;
    upload->key_index = (uint32_t)key_index;
    upload->file_name = strdup(name);
    upload->mime_type = strdup(mime_type ? mime_type : OCTET_STREAM);
    upload->uploaded = ks_now(self);
    upload->size = size;
    upload->bytes = *bytes_p ? *bytes_p : malloc(1); //  an empty file is still a file
    *bytes_p = NULL;
    if (asprintf(&upload->file_path, "%s%s%s", path, path[0] ? "/" : "", name) < 0)
        upload->file_path = NULL;
    if (!upload->file_name || !upload->mime_type || !upload->bytes || !upload->file_path) {
        ks_upload_free(&upload);
        ks_reply_error(reply, 500, "%s", ks_code_msg(500));
        return;
    }
    self->uploads[self->upload_count++] = upload;
    zhashx_insert(self->upload_index, upload->id, upload);
    self->stats.uploads++;
    self->stats.upload_bytes += size;
    self->keys[key_index].counters.uploads++;

    time_t seconds = (time_t)(ks_unix_ms(self, upload->uploaded) / 1000);
    struct tm utc;
    char stamp[32];
    gmtime_r(&seconds, &utc);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S.000Z", &utc);
    reply->code = 200;
    reply->data = json_pack("{s:b, s:s, s:s, s:s++++, s:I, s:s, s:s}", "success", 1, "fileName",
                            upload->file_name, "filePath", upload->file_path, "downloadUrl",
                            self->public_url ? self->public_url : self->url, "/uploads/",
                            upload->id, "/", upload->file_name, "fileSize", (json_int_t)size,
                            "mimeType", upload->mime_type, "uploadedAt", stamp);
}

//  Names as a careful server keeps them: [A-Za-z0-9._-] (and '/' inside a
//  path), anything else '_', no "..", no leading or trailing '/'.
static void s_clean(char *out, const char *in, bool path) {
    size_t n = 0;
    for (const char *c = in; *c && n < KS_NAME_MAX; c++) {
        bool keep = isalnum((unsigned char)*c) || *c == '.' || *c == '_' || *c == '-' ||
                    (path && *c == '/');
        if (*c == '/' && (n == 0 || out[n - 1] == '/')) continue;
        out[n++] = keep ? *c : '_';
        if (n >= 2 && out[n - 1] == '.' && out[n - 2] == '.') out[n - 1] = out[n - 2] = '_';
    }
    while (n > 0 && out[n - 1] == '/')
        n--;
    out[n] = '\0';
}
