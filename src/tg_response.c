/*  tg_response.c — Bot API responses (see tg.h, "Responses"): the reply
    parsed, and its error classified by one table, s_status_table (error
    code + description fragment -> status class, first match wins).
*/
#include "tg_internal.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

//  Error classes. Rows are tried in order; the first whose code range
//  contains the error code, whose fragment (case-insensitive) is in the
//  description, and whose migrate condition holds, wins. A fragment decides
//  only within its code: "message is not modified" under a 403 is still a
//  403.
static const struct {
    int code_min, code_max;
    const char *fragment; //  NULL: any description
    bool needs_migrate;   //  parameters.migrate_to_chat_id present
    tg_status_t status;
} s_status_table[] = {
    {429, 429, NULL, false, TG_E_RETRY_AFTER},
    {400, 400, NULL, true, TG_E_MIGRATED},
    {400, 400, "message is not modified", false, TG_E_NOT_MODIFIED},
    {400, 400, "query is too old", false, TG_E_QUERY_TOO_OLD},
    {400, 400, "query id is invalid", false, TG_E_QUERY_TOO_OLD},
    {400, 400, "query_id_invalid", false, TG_E_QUERY_TOO_OLD},
    {400, 400, NULL, false, TG_E_BAD_REQUEST},
    {401, 401, NULL, false, TG_E_UNAUTHORIZED},
    {403, 403, NULL, false, TG_E_FORBIDDEN},
    {409, 409, NULL, false, TG_E_CONFLICT},
    {500, 599, NULL, false, TG_E_SERVER},
};

static const char *const s_status_names[] = {
    [TG_OK] = "ok",
    [TG_E_RETRY_AFTER] = "retry_after",
    [TG_E_FORBIDDEN] = "forbidden",
    [TG_E_NOT_MODIFIED] = "not_modified",
    [TG_E_QUERY_TOO_OLD] = "query_too_old",
    [TG_E_MIGRATED] = "migrated",
    [TG_E_BAD_REQUEST] = "bad_request",
    [TG_E_UNAUTHORIZED] = "unauthorized",
    [TG_E_CONFLICT] = "conflict",
    [TG_E_SERVER] = "server",
    [TG_E_OTHER] = "other",
    [TG_E_MALFORMED] = "malformed",
};

// --------------------------------------------------------------------------
//  Private types

struct tg_response_s {
    tg_status_t status;
    int error_code;
    char description[TG_ERR_MAX];
    int64_t retry_after;
    int64_t migrate_to_chat_id;
    json_t *result;
};

static bool s_contains_nocase(const char *haystack, const char *needle);
static void s_response_classify(tg_response_t *self, int code, const char *description,
                                int64_t retry_after);
static int64_t s_retry_after_header(const char *value);

// --------------------------------------------------------------------------
//  Responses

tg_response_t *tg_response_parse(int http_status, const char *body, size_t len,
                                 const char *retry_after_header) {
    tg_response_t *self = calloc(1, sizeof(*self));
    if (!self) return NULL;
    int64_t header_retry = s_retry_after_header(retry_after_header);
    json_t *root = NULL;
    if (body && len > 0 && len <= TG_RESPONSE_MAX)
        root = json_loadb(body, len, JSON_ALLOW_NUL, NULL);
    const json_t *ok = json_object_get(root, "ok");
    if (json_is_true(ok)) {
        json_t *result = json_object_get(root, "result");
        if (result) {
            self->status = TG_OK;
            self->result = json_incref(result);
        } else {
            self->status = TG_E_MALFORMED;
            self->error_code = http_status;
            tgi_copy_cut(self->description, sizeof(self->description), "ok without result");
        }
    } else if (json_is_false(ok)) {
        const json_t *code = json_object_get(root, "error_code");
        const json_t *description = json_object_get(root, "description");
        const json_t *parameters = json_object_get(root, "parameters");
        const json_t *retry_after = json_object_get(parameters, "retry_after");
        const json_t *migrate = json_object_get(parameters, "migrate_to_chat_id");
        int error_code = json_is_integer(code) && json_integer_value(code) >= 100 &&
                                 json_integer_value(code) <= 999
                             ? (int)json_integer_value(code)
                             : http_status;
        if (json_is_integer(migrate)) self->migrate_to_chat_id = json_integer_value(migrate);
        int64_t retry = json_is_integer(retry_after) && json_integer_value(retry_after) > 0
                            ? json_integer_value(retry_after)
                            : header_retry;
        s_response_classify(self, error_code,
                            json_is_string(description) ? json_string_value(description) : "",
                            retry);
    } else if (http_status >= 400 && http_status <= 599) {
        //  A proxy's or load balancer's page (502 HTML): the status speaks.
        char description[64];
        snprintf(description, sizeof(description), "HTTP %d without a Bot API body", http_status);
        s_response_classify(self, http_status, description, header_retry);
    } else {
        self->status = TG_E_MALFORMED;
        self->error_code = http_status;
        tgi_copy_cut(self->description, sizeof(self->description),
                     len > TG_RESPONSE_MAX ? "body too large"
                     : !root               ? "body is not JSON"
                                           : "body is not a Bot API reply");
    }
    json_decref(root);
    return self;
}

void tg_response_destroy(tg_response_t **self_p) {
    assert(self_p);
    tg_response_t *self = *self_p;
    if (self) {
        json_decref(self->result);
        free(self);
        *self_p = NULL;
    }
}

tg_status_t tg_response_status(const tg_response_t *self) {
    assert(self);
    return self->status;
}

bool tg_response_ok(const tg_response_t *self) {
    assert(self);
    return self->status == TG_OK;
}

int tg_response_error_code(const tg_response_t *self) {
    assert(self);
    return self->status == TG_OK ? 0 : self->error_code;
}

const char *tg_response_description(const tg_response_t *self) {
    assert(self);
    return self->description;
}

int64_t tg_response_retry_after(const tg_response_t *self) {
    assert(self);
    return self->retry_after;
}

int64_t tg_response_migrate_to_chat_id(const tg_response_t *self) {
    assert(self);
    return self->migrate_to_chat_id;
}

const json_t *tg_response_result(const tg_response_t *self) {
    assert(self);
    return self->result;
}

int tg_response_message(const tg_response_t *self, int64_t *message_id, int64_t *chat_id) {
    assert(self);
    const json_t *id = json_object_get(self->result, "message_id");
    const json_t *chat = json_object_get(json_object_get(self->result, "chat"), "id");
    if (!json_is_integer(id) || !json_is_integer(chat)) return -1;
    if (message_id) *message_id = json_integer_value(id);
    if (chat_id) *chat_id = json_integer_value(chat);
    return 0;
}

int tg_response_file(const tg_response_t *self, tg_file_t *file) {
    assert(self);
    assert(file);
    const json_t *id = json_object_get(self->result, "file_id");
    const json_t *unique_id = json_object_get(self->result, "file_unique_id");
    const json_t *path = json_object_get(self->result, "file_path");
    const json_t *size = json_object_get(self->result, "file_size");
    if (!json_is_string(id) || !json_is_string(unique_id) || (path && !json_is_string(path)) ||
        (size && !json_is_integer(size)))
        return -1;
    file->file_id = json_string_value(id);
    file->file_unique_id = json_string_value(unique_id);
    file->file_path = path ? json_string_value(path) : NULL;
    file->file_size = size ? json_integer_value(size) : 0;
    return 0;
}

const char *tg_status_name(tg_status_t status) {
    return (unsigned)status < sizeof(s_status_names) / sizeof(s_status_names[0])
               ? s_status_names[status]
               : "?";
}

bool tg_status_is_success(tg_status_t status) {
    return status == TG_OK || status == TG_E_NOT_MODIFIED;
}

// --------------------------------------------------------------------------
//  Private helpers

static bool s_contains_nocase(const char *haystack, const char *needle) {
    size_t n = strlen(needle);
    for (const char *h = haystack; *h; h++)
        if (strncasecmp(h, needle, n) == 0) return true;
    return false;
}

static void s_response_classify(tg_response_t *self, int code, const char *description,
                                int64_t retry_after) {
    self->error_code = code;
    self->retry_after = retry_after;
    tgi_copy_cut(self->description, sizeof(self->description), description);
    self->status = code >= 400 && code <= 599 ? TG_E_OTHER : TG_E_MALFORMED;
    for (size_t i = 0; i < sizeof(s_status_table) / sizeof(s_status_table[0]); i++) {
        if (code < s_status_table[i].code_min || code > s_status_table[i].code_max) continue;
        if (s_status_table[i].needs_migrate && self->migrate_to_chat_id == 0) continue;
        if (s_status_table[i].fragment &&
            !s_contains_nocase(description, s_status_table[i].fragment))
            continue;
        self->status = s_status_table[i].status;
        return;
    }
}

//  Retry-After in delay-seconds form; 0 when absent or not a number (the
//  HTTP-date form is not used by Telegram).
static int64_t s_retry_after_header(const char *value) {
    if (!value) return 0;
    value += strspn(value, " \t");
    size_t digits = strspn(value, "0123456789");
    if (digits == 0 || digits > 9 || value[digits + strspn(value + digits, " \t\r\n")] != '\0')
        return 0;
    return strtoll(value, NULL, 10);
}
