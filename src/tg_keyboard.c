/*  tg_keyboard.c — inline keyboards (see tg.h): rows of buttons kept as
    JSON, each button checked as it is added.
*/
#include "tg_internal.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

// --------------------------------------------------------------------------
//  Private types

struct tg_keyboard_s {
    json_t *rows; //  complete rows, each a non-empty array
    json_t *row;  //  the current row, possibly empty
    size_t size;
};

static int s_keyboard_add(tg_keyboard_t *self, const char *text, const char *key, json_t *value);

// --------------------------------------------------------------------------
//  Keyboards

tg_keyboard_t *tg_keyboard_new(void) {
    tg_keyboard_t *self = calloc(1, sizeof(*self));
    if (!self) return NULL;
    self->rows = json_array();
    self->row = json_array();
    if (!self->rows || !self->row) tg_keyboard_destroy(&self);
    return self;
}

void tg_keyboard_destroy(tg_keyboard_t **self_p) {
    assert(self_p);
    tg_keyboard_t *self = *self_p;
    if (self) {
        json_decref(self->rows);
        json_decref(self->row);
        free(self);
        *self_p = NULL;
    }
}

void tg_keyboard_row(tg_keyboard_t *self) {
    assert(self);
    if (json_array_size(self->row) == 0) return;
    json_t *row = json_array();
    if (!row || json_array_append(self->rows, self->row) != 0) {
        json_decref(row);
        return; //  out of memory: the buttons stay in the current row
    }
    json_decref(self->row);
    self->row = row;
}

int tg_keyboard_add(tg_keyboard_t *self, const char *text, const char *callback_data) {
    assert(self);
    if (!callback_data || !*callback_data || strlen(callback_data) > TG_CALLBACK_DATA_MAX ||
        !tgi_utf8_valid(callback_data, strlen(callback_data)))
        return -1;
    return s_keyboard_add(self, text, "callback_data", json_string(callback_data));
}

int tg_keyboard_add_url(tg_keyboard_t *self, const char *text, const char *url) {
    assert(self);
    if (!url || tgi_check_id(url, TG_ID_BYTES_MAX, "url", NULL) != 0) return -1;
    if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0 &&
        strncmp(url, "tg://", 5) != 0)
        return -1;
    return s_keyboard_add(self, text, "url", json_string(url));
}

int tg_keyboard_add_pay(tg_keyboard_t *self, const char *text) {
    assert(self);
    if (self->size > 0) return -1;
    return s_keyboard_add(self, text, "pay", json_true());
}

size_t tg_keyboard_size(const tg_keyboard_t *self) {
    assert(self);
    return self->size;
}

json_t *tg_keyboard_json(const tg_keyboard_t *self) {
    assert(self);
    json_t *rows = json_deep_copy(self->rows);
    if (rows && json_array_size(self->row) > 0 &&
        json_array_append_new(rows, json_deep_copy(self->row)) != 0) {
        json_decref(rows);
        return NULL;
    }
    return rows ? json_pack("{s:o}", "inline_keyboard", rows) : NULL;
}

char *tg_keyboard_to_json(const tg_keyboard_t *self) {
    json_t *markup = tg_keyboard_json(self);
    char *text = markup ? json_dumps(markup, JSON_COMPACT) : NULL;
    json_decref(markup);
    return text;
}

// --------------------------------------------------------------------------
//  Private helpers

//  Appends {"text": text, key: value} (value stolen) to the current row.
static int s_keyboard_add(tg_keyboard_t *self, const char *text, const char *key, json_t *value) {
    if (!value || !text || !tgi_utf8_valid(text, strlen(text)) || tgi_blank(text) ||
        self->size >= TG_KEYBOARD_BUTTONS_MAX ||
        json_array_size(self->row) >= TG_KEYBOARD_ROW_MAX) {
        json_decref(value);
        return -1;
    }
    json_t *button = json_pack("{s:s, s:o}", "text", text, key, value);
    if (!button || json_array_append_new(self->row, button) != 0) return -1;
    self->size++;
    return 0;
}

bool tgi_keyboard_starts_with_pay(const tg_keyboard_t *keyboard) {
    const json_t *first_row =
        json_array_size(keyboard->rows) > 0 ? json_array_get(keyboard->rows, 0) : keyboard->row;
    return json_is_true(json_object_get(json_array_get(first_row, 0), "pay"));
}
