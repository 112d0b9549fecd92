/*  tgsim_inspect.c — what tests, the sandbox and the load harness read:
    call records, chats as users see them, blocking waits, counters.

    Call records are immutable once published (see tgsim.c), so they are
    handed out as const pointers; messages change (edits, deletes), so they
    are handed out as copies.
*/
#include "tgsim_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool s_matches(const tgsim_call_t *call, const char *method);
static bool s_took_effect(const tgsim_call_t *call);
static tgsim_message_t *s_message_copy(const tgs_message_t *msg);

//  --------------------------------------------------------------------------

size_t tgsim_calls_count(tgsim_t *self, const char *method) {
    assert(self);
    size_t count = 0;
    pthread_mutex_lock(&self->lock);
    for (size_t i = 0; i < self->call_count; i++)
        count += s_matches(self->calls[i], method);
    pthread_mutex_unlock(&self->lock);
    return count;
}

size_t tgsim_calls_ok(tgsim_t *self, const char *method) {
    assert(self);
    size_t count = 0;
    pthread_mutex_lock(&self->lock);
    for (size_t i = 0; i < self->call_count; i++)
        count += s_matches(self->calls[i], method) && s_took_effect(self->calls[i]);
    pthread_mutex_unlock(&self->lock);
    return count;
}

const tgsim_call_t *tgsim_call(tgsim_t *self, const char *method, long nth) {
    assert(self);
    const tgsim_call_t *found = NULL;
    pthread_mutex_lock(&self->lock);
    long seen = 0;
    if (nth >= 0) {
        for (size_t i = 0; i < self->call_count && !found; i++)
            if (s_matches(self->calls[i], method) && seen++ == nth) found = self->calls[i];
    } else {
        for (size_t i = self->call_count; i > 0 && !found; i--)
            if (s_matches(self->calls[i - 1], method) && --seen == nth) found = self->calls[i - 1];
    }
    pthread_mutex_unlock(&self->lock);
    return found;
}

uint64_t tgsim_seq(tgsim_t *self) {
    assert(self);
    pthread_mutex_lock(&self->lock);
    uint64_t seq = self->call_count;
    pthread_mutex_unlock(&self->lock);
    return seq;
}

const tgsim_call_t *tgsim_next_call(tgsim_t *self, int64_t chat_id, uint64_t after_seq,
                                    int timeout_ms) {
    assert(self);
    int64_t deadline = tgsim_clock_ms() + timeout_ms;
    const tgsim_call_t *found = NULL;
    pthread_mutex_lock(&self->lock);
    size_t next = (size_t)after_seq;
    while (!found) {
        for (; next < self->call_count && !found; next++)
            if (!chat_id || self->calls[next]->chat_id == chat_id) found = self->calls[next];
        if (found || self->stopping || !tgs_wait(self, deadline)) break;
    }
    pthread_mutex_unlock(&self->lock);
    return found;
}

void tgsim_on_call(tgsim_t *self, tgsim_call_fn *fn, void *arg) {
    assert(self);
    pthread_mutex_lock(&self->lock);
    self->on_call = fn;
    self->on_call_arg = arg;
    pthread_mutex_unlock(&self->lock);
}

tgsim_message_t *tgsim_last_message(tgsim_t *self, int64_t user_id) {
    assert(self);
    tgsim_message_t *copy = NULL;
    pthread_mutex_lock(&self->lock);
    tgs_chat_t *chat = tgs_chat(self, user_id);
    for (size_t m = chat ? chat->count : 0; m > 0 && !copy; m--)
        if (chat->messages[m - 1]->from_bot && !chat->messages[m - 1]->deleted)
            copy = s_message_copy(chat->messages[m - 1]);
    pthread_mutex_unlock(&self->lock);
    return copy;
}

tgsim_message_t *tgsim_message(tgsim_t *self, int64_t user_id, int64_t message_id) {
    assert(self);
    tgsim_message_t *copy = NULL;
    pthread_mutex_lock(&self->lock);
    tgs_chat_t *chat = tgs_chat(self, user_id);
    tgs_message_t *msg = chat ? tgs_chat_message(chat, message_id) : NULL;
    if (msg) copy = s_message_copy(msg);
    pthread_mutex_unlock(&self->lock);
    return copy;
}

void tgsim_message_destroy(tgsim_message_t **self_p) {
    assert(self_p);
    tgsim_message_t *self = *self_p;
    if (!self) return;
    free(self->kind);
    free(self->text);
    tgs_buttons_free(self->buttons, self->button_count);
    free(self->file_id);
    free(self->file_name);
    free(self->payload);
    free(self->charge_id);
    free(self);
    *self_p = NULL;
}

tgsim_message_t **tgsim_transcript(tgsim_t *self, int64_t user_id) {
    assert(self);
    tgsim_message_t **transcript = NULL;
    pthread_mutex_lock(&self->lock);
    tgs_chat_t *chat = tgs_chat(self, user_id);
    if (chat) {
        transcript = calloc(chat->count + 1, sizeof *transcript);
        assert(transcript);
        size_t n = 0;
        for (size_t m = 0; m < chat->count; m++)
            if (!chat->messages[m]->deleted) transcript[n++] = s_message_copy(chat->messages[m]);
    }
    pthread_mutex_unlock(&self->lock);
    return transcript;
}

void tgsim_transcript_destroy(tgsim_message_t ***transcript_p) {
    assert(transcript_p);
    tgsim_message_t **transcript = *transcript_p;
    if (!transcript) return;
    for (size_t i = 0; transcript[i]; i++)
        tgsim_message_destroy(&transcript[i]);
    free(transcript);
    *transcript_p = NULL;
}

char *tgsim_transcript_text(tgsim_t *self, int64_t user_id) {
    assert(self);
    tgsim_message_t **transcript = tgsim_transcript(self, user_id);
    char *text = NULL;
    size_t size = 0;
    FILE *stream = open_memstream(&text, &size);
    assert(stream);
    for (size_t i = 0; transcript && transcript[i]; i++) {
        tgsim_message_t *msg = transcript[i];
        fprintf(stream, "%s#%" PRId64, msg->from_bot ? "bot" : "user", msg->message_id);
        if (!streq(msg->kind, "text")) {
            fprintf(stream, " [%s", msg->kind);
            if (msg->file_name) fprintf(stream, " %s", msg->file_name);
            if (msg->file_size >= 0) fprintf(stream, " %" PRId64 " B", msg->file_size);
            if (msg->payload)
                fprintf(stream, " payload=%s amount=%" PRId64, msg->payload, msg->amount);
            fputc(']', stream);
        }
        fprintf(stream, "%s: %s", msg->edits ? " (edited)" : "", msg->text ? msg->text : "");
        for (size_t b = 0; b < msg->button_count; b++)
            fprintf(stream, "%s%s%s",
                    b == 0                                           ? " ["
                    : msg->buttons[b].row != msg->buttons[b - 1].row ? " / "
                                                                     : " | ",
                    msg->buttons[b].text, b + 1 == msg->button_count ? "]" : "");
        fputc('\n', stream);
    }
    fclose(stream);
    tgsim_transcript_destroy(&transcript);
    return text;
}

int64_t tgsim_wait_message(tgsim_t *self, int64_t user_id, const char *substring, int timeout_ms) {
    assert(self);
    assert(substring);
    int64_t deadline = tgsim_clock_ms() + timeout_ms;
    int64_t found = -1;
    pthread_mutex_lock(&self->lock);
    while (found < 0) {
        tgs_chat_t *chat = tgs_chat(self, user_id);
        for (size_t m = 0; chat && m < chat->count && found < 0; m++) {
            tgs_message_t *msg = chat->messages[m];
            if (msg->from_bot && !msg->deleted && msg->text && strstr(msg->text, substring))
                found = msg->message_id;
        }
        if (found >= 0 || self->stopping || !tgs_wait(self, deadline)) break;
    }
    pthread_mutex_unlock(&self->lock);
    return found;
}

int64_t tgsim_wait_message_after(tgsim_t *self, int64_t user_id, const char *substring,
                                 uint64_t after_seq, int timeout_ms) {
    assert(self);
    assert(substring);
    int64_t deadline = tgsim_clock_ms() + timeout_ms;
    int64_t found = -1;
    pthread_mutex_lock(&self->lock);
    size_t next = (size_t)after_seq;
    while (found < 0) {
        for (; next < self->call_count && found < 0; next++) {
            const tgsim_call_t *call = self->calls[next];
            if (call->chat_id == user_id && call->plain && s_took_effect(call) &&
                strstr(call->plain, substring))
                found = call->message_id;
        }
        if (found >= 0 || self->stopping || !tgs_wait(self, deadline)) break;
    }
    pthread_mutex_unlock(&self->lock);
    return found;
}

int tgsim_wait_calls(tgsim_t *self, const char *method, size_t count, int timeout_ms) {
    assert(self);
    int64_t deadline = tgsim_clock_ms() + timeout_ms;
    int rc = -1;
    pthread_mutex_lock(&self->lock);
    size_t seen = 0, next = 0;
    while (rc != 0) {
        for (; next < self->call_count; next++)
            seen += s_matches(self->calls[next], method);
        if (seen >= count)
            rc = 0;
        else if (self->stopping || !tgs_wait(self, deadline))
            break;
    }
    pthread_mutex_unlock(&self->lock);
    return rc;
}

int tgsim_wait_answered(tgsim_t *self, int64_t update_id, int timeout_ms) {
    assert(self);
    int64_t deadline = tgsim_clock_ms() + timeout_ms;
    char key[32];
    snprintf(key, sizeof key, "%" PRId64, update_id);
    int rc = -1;
    pthread_mutex_lock(&self->lock);
    tgs_query_t *query = zhashx_lookup(self->query_updates, key);
    while (query && rc != 0) {
        if (query->answered)
            rc = 0;
        else if (self->stopping || !tgs_wait(self, deadline))
            break;
    }
    pthread_mutex_unlock(&self->lock);
    return rc;
}

int tgsim_wait_confirmed(tgsim_t *self, int64_t update_id, int timeout_ms) {
    assert(self);
    int64_t deadline = tgsim_clock_ms() + timeout_ms;
    int rc = -1;
    pthread_mutex_lock(&self->lock);
    bool known = update_id >= self->first_update_id &&
                 (uint64_t)(update_id - self->first_update_id) < self->update_count;
    size_t index = known ? (size_t)(update_id - self->first_update_id) : 0;
    while (known && rc != 0) {
        if (self->updates[index].confirmed)
            rc = 0;
        else if (self->stopping || !tgs_wait(self, deadline))
            break;
    }
    pthread_mutex_unlock(&self->lock);
    return rc;
}

void tgsim_stats(tgsim_t *self, tgsim_stats_t *stats) {
    assert(self);
    assert(stats);
    pthread_mutex_lock(&self->lock);
    *stats = self->stats;
    stats->updates_pending = self->update_count - self->update_head;
    pthread_mutex_unlock(&self->lock);
}

//  --------------------------------------------------------------------------

static bool s_matches(const tgsim_call_t *call, const char *method) {
    return !method || strcasecmp(call->method, method) == 0;
}

//  Answered ok:true (even when that answer was then dropped).
static bool s_took_effect(const tgsim_call_t *call) {
    return call->status == 200 && !call->error;
}

static tgsim_message_t *s_message_copy(const tgs_message_t *msg) {
    tgsim_message_t *copy = calloc(1, sizeof *copy);
    assert(copy);
    copy->message_id = msg->message_id;
    copy->from_bot = msg->from_bot;
    copy->date = msg->date;
    copy->kind = tgs_strdup(msg->kind);
    copy->text = tgs_strdup(msg->text);
    copy->buttons = tgs_buttons_copy(msg->buttons, msg->button_count);
    copy->button_count = msg->button_count;
    copy->edits = msg->edits;
    copy->file_id = tgs_strdup(msg->file_id);
    copy->file_name = tgs_strdup(msg->file_name);
    copy->file_size = msg->file_size;
    copy->payload = tgs_strdup(msg->payload);
    copy->amount = msg->amount;
    copy->charge_id = tgs_strdup(msg->charge_id);
    return copy;
}
