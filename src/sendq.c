/*  sendq.c — ordering and pacing of outbound Telegram calls (sendq.h).

    A chat is in exactly one place: idle (nothing queued, or its call in
    flight), the waiting heap (ordered by the time it may send again), or
    the ready list of the best class it has queued. sendq_next moves due
    chats from the heap to the ready lists and takes from the best list.
*/
#include "sendq.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

typedef struct s_node {
    struct s_node *next;
    void *item;
    int64_t key;
} s_node_t;

enum { WHERE_IDLE, WHERE_HEAP, WHERE_READY };

typedef struct s_chat {
    int64_t chat_id;
    s_node_t *head[SENDQ_CLASSES], *tail[SENDQ_CLASSES];
    size_t queued;
    void *inflight;
    int inflight_cls;
    int64_t inflight_key;
    double tokens;
    int64_t refilled_ms;
    int64_t pause_until;
    int where;
    size_t heap_index;
    int64_t ready_at;
    int ready_cls;
    struct s_chat *prev, *next; //  ready list links
} s_chat_t;

struct sendq_s {
    sendq_limits_t limits;
    //  chats by id: open addressing with linear probing; rebuilt by s_sweep
    s_chat_t **slots;
    size_t slot_count, chat_count;
    //  chats waiting for their bucket or pause, by ready_at
    s_chat_t **heap;
    size_t heap_size, heap_cap;
    //  chats ready now, per class, FIFO
    s_chat_t *ready_head[SENDQ_CLASSES], *ready_tail[SENDQ_CLASSES];
    size_t class_size[SENDQ_CLASSES];
    size_t queued;
    double tokens;
    int64_t refilled_ms;
    int64_t pause_until;
};

static s_chat_t *s_chat(sendq_t *self, int64_t chat_id, bool create, int64_t now_ms);
static void s_sweep(sendq_t *self, int64_t now_ms);
static void s_schedule(sendq_t *self, s_chat_t *chat, int64_t now_ms);
static void s_unschedule(sendq_t *self, s_chat_t *chat);
static void s_heap_push(sendq_t *self, s_chat_t *chat);
static s_chat_t *s_heap_pop(sendq_t *self);
static void s_ready_append(sendq_t *self, s_chat_t *chat, int cls);
static int s_best_class(const s_chat_t *chat);
static double s_chat_rate(const sendq_t *self, const s_chat_t *chat);
static double s_chat_burst(const sendq_t *self, const s_chat_t *chat);
static double s_global_burst(const sendq_t *self);
static void s_refill(double *tokens, int64_t *refilled_ms, double rate_per_ms, double burst,
                     int64_t now_ms);

sendq_t *sendq_new(const sendq_limits_t *limits) {
    assert(limits && limits->rate_per_s > 0 && limits->chat_rate_per_s > 0);
    sendq_t *self = (sendq_t *)calloc(1, sizeof(sendq_t));
    assert(self);
    self->limits = *limits;
    if (self->limits.chat_burst < 1) self->limits.chat_burst = 1;
    if (self->limits.group_per_min <= 0) self->limits.group_per_min = 20;
    self->slot_count = 64;
    self->slots = (s_chat_t **)calloc(self->slot_count, sizeof(s_chat_t *));
    assert(self->slots);
    self->refilled_ms = INT64_MIN;
    return self;
}

void sendq_destroy(sendq_t **self_p) {
    assert(self_p);
    sendq_t *self = *self_p;
    if (!self) return;
    for (size_t i = 0; i < self->slot_count; i++) {
        s_chat_t *chat = self->slots[i];
        if (!chat) continue;
        for (int c = 0; c < SENDQ_CLASSES; c++)
            for (s_node_t *n = chat->head[c], *next; n; n = next) {
                next = n->next;
                free(n);
            }
        free(chat);
    }
    free(self->slots);
    free(self->heap);
    free(self);
    *self_p = NULL;
}

void *sendq_push(sendq_t *self, int64_t chat_id, sendq_class_t cls, int64_t coalesce_key,
                 void *item, int64_t now_ms) {
    assert(cls < SENDQ_CLASSES && item);
    s_chat_t *chat = s_chat(self, chat_id, true, now_ms);
    if (coalesce_key)
        for (s_node_t *n = chat->head[cls]; n; n = n->next)
            if (n->key == coalesce_key) {
                void *older = n->item;
                n->item = item;
                return older;
            }
    s_node_t *node = (s_node_t *)calloc(1, sizeof(s_node_t));
    assert(node);
    node->item = item;
    node->key = coalesce_key;
    if (chat->tail[cls])
        chat->tail[cls]->next = node;
    else
        chat->head[cls] = node;
    chat->tail[cls] = node;
    chat->queued++;
    self->queued++;
    self->class_size[cls]++;
    if (!chat->inflight) {
        //  a better class arrived: the chat moves to that class's list
        if (chat->where == WHERE_READY && chat->ready_cls > (int)cls) s_unschedule(self, chat);
        if (chat->where == WHERE_IDLE) s_schedule(self, chat, now_ms);
    }
    return NULL;
}

void *sendq_next(sendq_t *self, int64_t now_ms, int64_t *chat_id_p) {
    if (now_ms < self->pause_until) return NULL;
    s_refill(&self->tokens, &self->refilled_ms, self->limits.rate_per_s / 1000.0,
             s_global_burst(self), now_ms);
    if (self->tokens < 1) return NULL;
    while (self->heap_size && self->heap[0]->ready_at <= now_ms) {
        s_chat_t *chat = s_heap_pop(self);
        s_ready_append(self, chat, s_best_class(chat));
    }
    for (int c = 0; c < SENDQ_CLASSES; c++) {
        s_chat_t *chat = self->ready_head[c];
        if (!chat) continue;
        s_unschedule(self, chat);
        int cls = s_best_class(chat);
        s_node_t *node = chat->head[cls];
        chat->head[cls] = node->next;
        if (!chat->head[cls]) chat->tail[cls] = NULL;
        chat->queued--;
        self->queued--;
        self->class_size[cls]--;
        chat->inflight = node->item;
        chat->inflight_cls = cls;
        chat->inflight_key = node->key;
        free(node);
        s_refill(&chat->tokens, &chat->refilled_ms, s_chat_rate(self, chat) / 1000.0,
                 s_chat_burst(self, chat), now_ms);
        chat->tokens -= 1;
        self->tokens -= 1;
        if (chat_id_p) *chat_id_p = chat->chat_id;
        return chat->inflight;
    }
    return NULL;
}

int64_t sendq_wait_ms(sendq_t *self, int64_t now_ms) {
    if (self->queued == 0) return -1;
    int64_t wait = -1;
    for (int c = 0; c < SENDQ_CLASSES && wait < 0; c++)
        if (self->ready_head[c]) wait = 0;
    if (wait < 0 && self->heap_size)
        wait = self->heap[0]->ready_at > now_ms ? self->heap[0]->ready_at - now_ms : 0;
    if (wait < 0) return -1; //  everything queued belongs to chats in flight
    if (self->pause_until > now_ms + wait) wait = self->pause_until - now_ms;
    double tokens = self->tokens;
    int64_t refilled = self->refilled_ms;
    s_refill(&tokens, &refilled, self->limits.rate_per_s / 1000.0, s_global_burst(self), now_ms);
    if (tokens < 1) {
        int64_t token_wait = (int64_t)((1 - tokens) * 1000.0 / self->limits.rate_per_s) + 1;
        if (token_wait > wait) wait = token_wait;
    }
    return wait;
}

void sendq_done(sendq_t *self, int64_t chat_id, sendq_outcome_t outcome, int64_t retry_ms,
                int64_t now_ms, void (*drop_fn)(void *item, void *arg), void *arg) {
    s_chat_t *chat = s_chat(self, chat_id, false, now_ms);
    if (!chat || !chat->inflight) return;
    if (outcome == SENDQ_RETRY || outcome == SENDQ_RETRY_ALL) {
        s_node_t *node = (s_node_t *)calloc(1, sizeof(s_node_t));
        assert(node);
        node->item = chat->inflight;
        node->key = chat->inflight_key;
        int cls = chat->inflight_cls;
        node->next = chat->head[cls];
        chat->head[cls] = node;
        if (!chat->tail[cls]) chat->tail[cls] = node;
        chat->queued++;
        self->queued++;
        self->class_size[cls]++;
        if (retry_ms < 0) retry_ms = 0;
        chat->pause_until = now_ms + retry_ms;
        if (outcome == SENDQ_RETRY_ALL && now_ms + retry_ms > self->pause_until)
            self->pause_until = now_ms + retry_ms;
    } else if (outcome == SENDQ_DROP_CHAT) {
        for (int c = 0; c < SENDQ_CLASSES; c++) {
            for (s_node_t *n = chat->head[c], *next; n; n = next) {
                next = n->next;
                if (drop_fn) drop_fn(n->item, arg);
                free(n);
                self->class_size[c]--;
            }
            chat->head[c] = chat->tail[c] = NULL;
        }
        self->queued -= chat->queued;
        chat->queued = 0;
    }
    chat->inflight = NULL;
    if (chat->queued) s_schedule(self, chat, now_ms);
}

void sendq_drain(sendq_t *self, void (*fn)(void *item, void *arg), void *arg) {
    for (size_t i = 0; i < self->slot_count; i++) {
        s_chat_t *chat = self->slots[i];
        if (!chat) continue;
        s_unschedule(self, chat);
        for (int c = 0; c < SENDQ_CLASSES; c++) {
            for (s_node_t *n = chat->head[c], *next; n; n = next) {
                next = n->next;
                fn(n->item, arg);
                free(n);
            }
            chat->head[c] = chat->tail[c] = NULL;
            self->class_size[c] = 0;
        }
        chat->queued = 0;
    }
    self->queued = 0;
}

size_t sendq_size(const sendq_t *self) {
    return self->queued;
}

size_t sendq_class_size(const sendq_t *self, sendq_class_t cls) {
    return cls < SENDQ_CLASSES ? self->class_size[cls] : 0;
}

//  --- chats -----------------------------------------------------------------

static size_t s_hash(int64_t id, size_t mask) {
    uint64_t x = (uint64_t)id * 0x9E3779B97F4A7C15ULL;
    return (size_t)(x >> 17) & mask;
}

static void s_insert(s_chat_t **slots, size_t count, s_chat_t *chat) {
    size_t j = s_hash(chat->chat_id, count - 1);
    while (slots[j])
        j = (j + 1) & (count - 1);
    slots[j] = chat;
}

//  Rebuilds the table into count slots, forgetting idle chats whose bucket
//  is full again: they carry no information, and a bot with a million users
//  keeps only its recent chats. (Forgetting one earlier would hand it a
//  fresh burst.)
static void s_rebuild(sendq_t *self, size_t count, int64_t now_ms) {
    s_chat_t **old = self->slots;
    size_t old_count = self->slot_count;
    self->slots = (s_chat_t **)calloc(count, sizeof(s_chat_t *));
    assert(self->slots);
    self->slot_count = count;
    self->chat_count = 0;
    for (size_t i = 0; i < old_count; i++) {
        s_chat_t *chat = old[i];
        if (!chat) continue;
        s_refill(&chat->tokens, &chat->refilled_ms, s_chat_rate(self, chat) / 1000.0,
                 s_chat_burst(self, chat), now_ms);
        if (chat->where == WHERE_IDLE && !chat->inflight && !chat->queued &&
            chat->pause_until <= now_ms && chat->tokens >= s_chat_burst(self, chat)) {
            free(chat);
            continue;
        }
        s_insert(self->slots, count, chat);
        self->chat_count++;
    }
    free(old);
}

static void s_sweep(sendq_t *self, int64_t now_ms) {
    s_rebuild(self, self->slot_count, now_ms);
    if ((self->chat_count + 1) * 4 > self->slot_count)
        s_rebuild(self, self->slot_count * 2, now_ms);
}

static s_chat_t *s_chat(sendq_t *self, int64_t chat_id, bool create, int64_t now_ms) {
    size_t mask = self->slot_count - 1;
    for (size_t i = s_hash(chat_id, mask);; i = (i + 1) & mask) {
        s_chat_t *chat = self->slots[i];
        if (chat && chat->chat_id == chat_id) return chat;
        if (chat) continue;
        if (!create) return NULL;
        if ((self->chat_count + 1) * 2 > self->slot_count) {
            s_sweep(self, now_ms);
            return s_chat(self, chat_id, true, now_ms);
        }
        chat = (s_chat_t *)calloc(1, sizeof(s_chat_t));
        assert(chat);
        chat->chat_id = chat_id;
        chat->tokens = s_chat_burst(self, chat);
        chat->refilled_ms = now_ms;
        self->slots[i] = chat;
        self->chat_count++;
        return chat;
    }
}

static void s_refill(double *tokens, int64_t *refilled_ms, double rate_per_ms, double burst,
                     int64_t now_ms) {
    if (*refilled_ms == INT64_MIN)
        *tokens = burst;
    else if (now_ms > *refilled_ms) {
        *tokens += (double)(now_ms - *refilled_ms) * rate_per_ms;
        if (*tokens > burst) *tokens = burst;
    }
    *refilled_ms = now_ms;
}

//  Telegram's limit is a rate, not a burst allowance: at 30/s one token at
//  a time. At high rates (the limits off) 10 ms worth, since time moves in
//  whole milliseconds here.
static double s_global_burst(const sendq_t *self) {
    double burst = self->limits.rate_per_s / 100.0;
    return burst < 1 ? 1 : burst;
}

static double s_chat_rate(const sendq_t *self, const s_chat_t *chat) {
    return chat->chat_id < 0 ? self->limits.group_per_min / 60.0 : self->limits.chat_rate_per_s;
}

static double s_chat_burst(const sendq_t *self, const s_chat_t *chat) {
    return chat->chat_id < 0 ? 1 : self->limits.chat_burst;
}

static int s_best_class(const s_chat_t *chat) {
    for (int c = 0; c < SENDQ_CLASSES; c++)
        if (chat->head[c]) return c;
    return SENDQ_CLASSES - 1;
}

//  Puts a chat with queued items where it belongs: ready now, or in the
//  heap until its pause ends and its bucket holds a token.
static void s_schedule(sendq_t *self, s_chat_t *chat, int64_t now_ms) {
    assert(chat->where == WHERE_IDLE && chat->queued);
    s_refill(&chat->tokens, &chat->refilled_ms, s_chat_rate(self, chat) / 1000.0,
             s_chat_burst(self, chat), now_ms);
    int64_t ready_at = now_ms;
    if (chat->tokens < 1)
        ready_at += (int64_t)((1 - chat->tokens) * 1000.0 / s_chat_rate(self, chat)) + 1;
    if (chat->pause_until > ready_at) ready_at = chat->pause_until;
    chat->ready_at = ready_at;
    if (ready_at <= now_ms)
        s_ready_append(self, chat, s_best_class(chat));
    else
        s_heap_push(self, chat);
}

static void s_heap_swap(sendq_t *self, size_t a, size_t b) {
    s_chat_t *tmp = self->heap[a];
    self->heap[a] = self->heap[b];
    self->heap[b] = tmp;
    self->heap[a]->heap_index = a;
    self->heap[b]->heap_index = b;
}

static void s_heap_up(sendq_t *self, size_t i) {
    while (i > 0 && self->heap[(i - 1) / 2]->ready_at > self->heap[i]->ready_at) {
        s_heap_swap(self, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void s_heap_down(sendq_t *self, size_t i) {
    for (;;) {
        size_t least = i, l = 2 * i + 1, r = 2 * i + 2;
        if (l < self->heap_size && self->heap[l]->ready_at < self->heap[least]->ready_at) least = l;
        if (r < self->heap_size && self->heap[r]->ready_at < self->heap[least]->ready_at) least = r;
        if (least == i) return;
        s_heap_swap(self, i, least);
        i = least;
    }
}

static void s_heap_push(sendq_t *self, s_chat_t *chat) {
    if (self->heap_size == self->heap_cap) {
        self->heap_cap = self->heap_cap ? self->heap_cap * 2 : 64;
        self->heap = (s_chat_t **)realloc(self->heap, self->heap_cap * sizeof(s_chat_t *));
        assert(self->heap);
    }
    chat->where = WHERE_HEAP;
    chat->heap_index = self->heap_size;
    self->heap[self->heap_size++] = chat;
    s_heap_up(self, chat->heap_index);
}

static void s_heap_remove(sendq_t *self, size_t i) {
    s_chat_t *chat = self->heap[i];
    self->heap_size--;
    if (i != self->heap_size) {
        self->heap[i] = self->heap[self->heap_size];
        self->heap[i]->heap_index = i;
        s_heap_down(self, i);
        s_heap_up(self, i);
    }
    chat->where = WHERE_IDLE;
}

static s_chat_t *s_heap_pop(sendq_t *self) {
    s_chat_t *chat = self->heap[0];
    s_heap_remove(self, 0);
    return chat;
}

static void s_ready_append(sendq_t *self, s_chat_t *chat, int cls) {
    chat->where = WHERE_READY;
    chat->ready_cls = cls;
    chat->next = NULL;
    chat->prev = self->ready_tail[cls];
    if (self->ready_tail[cls])
        self->ready_tail[cls]->next = chat;
    else
        self->ready_head[cls] = chat;
    self->ready_tail[cls] = chat;
}

static void s_unschedule(sendq_t *self, s_chat_t *chat) {
    if (chat->where == WHERE_HEAP) {
        s_heap_remove(self, chat->heap_index);
    } else if (chat->where == WHERE_READY) {
        int cls = chat->ready_cls;
        if (chat->prev)
            chat->prev->next = chat->next;
        else
            self->ready_head[cls] = chat->next;
        if (chat->next)
            chat->next->prev = chat->prev;
        else
            self->ready_tail[cls] = chat->prev;
        chat->prev = chat->next = NULL;
        chat->where = WHERE_IDLE;
    }
}
