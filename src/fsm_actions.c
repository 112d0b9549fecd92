/*  fsm_actions.c — the list of actions fsm_step appends and the shard
    carries out. Each action owns its strings, keyboard and request.
*/
#include "fsm.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

struct fsm_actions_s {
    fsm_action_t *items;
    size_t size, cap;
};

static void s_action_free(fsm_action_t *action);

fsm_actions_t *fsm_actions_new(void) {
    return calloc(1, sizeof(fsm_actions_t));
}

void fsm_actions_destroy(fsm_actions_t **self_p) {
    assert(self_p);
    fsm_actions_t *self = *self_p;
    if (self) {
        fsm_actions_clear(self);
        free(self->items);
        free(self);
        *self_p = NULL;
    }
}

size_t fsm_actions_size(const fsm_actions_t *self) {
    return self->size;
}

fsm_action_t *fsm_actions_at(fsm_actions_t *self, size_t index) {
    return index < self->size ? &self->items[index] : NULL;
}

void fsm_actions_clear(fsm_actions_t *self) {
    for (size_t i = 0; i < self->size; i++)
        s_action_free(&self->items[i]);
    self->size = 0;
}

fsm_action_t *fsm_actions_push(fsm_actions_t *self, fsm_action_kind_t kind) {
    if (self->size == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 8;
        fsm_action_t *grown = realloc(self->items, cap * sizeof *grown);
        if (!grown) abort();
        self->items = grown;
        self->cap = cap;
    }
    fsm_action_t *action = &self->items[self->size++];
    memset(action, 0, sizeof *action);
    action->kind = kind;
    return action;
}

void fsm_actions_move(fsm_actions_t *self, size_t from, size_t to) {
    if (from >= self->size || to >= self->size || from == to) return;
    fsm_action_t moved = self->items[from];
    if (from > to)
        memmove(&self->items[to + 1], &self->items[to], (from - to) * sizeof moved);
    else
        memmove(&self->items[from], &self->items[from + 1], (to - from) * sizeof moved);
    self->items[to] = moved;
}

static void s_action_free(fsm_action_t *action) {
    free(action->text);
    free(action->url);
    free(action->fallback);
    free(action->keyboard);
    free(action->callback_id);
    msg_destroy(&action->request);
    memset(action, 0, sizeof *action);
}
