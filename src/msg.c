/*  msg.c — the codec for the message tables of msg.h.

    The X-macro tables become, once per process (pthread_once), one s_kind_t
    per kind: the fields it requires and allows (bitsets sized from F_COUNT_),
    the slot each declared field occupies in a message of that kind, and
    whether the kind is a row kind (named by some MT_LIST field). A hash from
    wire name to field id serves the decoder.

    A message is one malloc: the struct, one value slot per field its kind
    declares, the arena header and the arena's first bytes. Strings, bins, int
    arrays, row arrays and rows come from the arena of the top-level message
    (more chunks are chained when it fills), so destroying a message of any
    size is one free per chunk. Replacing a value reuses its bytes when the new
    one fits; otherwise the old bytes stay in the arena until destroy.

    Decoding hands the frame to msgpack-c, then checks the object tree against
    the tables while copying it into a new message; the pre-scan of the raw
    bytes (msg_scan.c) comes first. docs/messages.md is printed from the same
    tables (msg_docs.c).
*/
#include "msg_internal.h"

#include <assert.h>
#include <czmq.h>
#include <msgpack.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define S_WORDS        ((F_COUNT_ + 63) / 64) //  bitset words over field ids
#define S_NO_SLOT      0xff
#define S_MAX_KEY      31   //  field names are msgpack fixstr
#define S_HASH_SLOTS   1024 //  wire name -> field id + 1, open addressing
#define S_INLINE_ARENA 512  //  arena bytes inside a new message
#define S_CHUNK_MIN    1024
#define S_CHUNK_MAX    (1 << 20)

_Static_assert(F_COUNT_ < S_NO_SLOT, "slots and hash entries are uint8_t");
_Static_assert(F_COUNT_ * 4 <= S_HASH_SLOTS, "keep the name hash sparse");
_Static_assert(MSG_MAX_FRAME < UINT32_MAX, "lengths are uint32_t");

//  Compile-time checks of every field row.
#define S_CHECK_FIELD(id, name, type, max, row)                                                    \
    _Static_assert(sizeof(name) > 1 && sizeof(name) - 1 <= S_MAX_KEY, name ": name length");       \
    _Static_assert((type) == MT_INT || (type) == MT_BOOL || ((max) > 0 && (max) <= MSG_MAX_FRAME), \
                   name ": max");                                                                  \
    _Static_assert(((type) == MT_LIST) == (MSG_K_##row != MSG_K_NONE),                             \
                   name ": a row kind goes with MT_LIST only");
MSG_FIELDS(S_CHECK_FIELD)
#undef S_CHECK_FIELD

const msgi_field_t msgi_fields[F_COUNT_] = {
#define S_FIELD_ROW(id, name, type, max, row)                                                      \
    [F_##id] = {name, type, max, MSG_K_##row, sizeof(name) - 1},
    MSG_FIELDS(S_FIELD_ROW)
#undef S_FIELD_ROW
};

//  Each R(...)/O(...) list becomes an array whose first element is a filler
//  (so that an empty list is still a valid initializer); the fields follow.
#define R(...)                                                                                     \
    { F_COUNT_, __VA_ARGS__ }
#define O(...)                                                                                     \
    { F_COUNT_, __VA_ARGS__ }
#define S_KIND_LISTS(id, name, req, opt)                                                           \
    static const msg_field_t s_req_##id[] = req;                                                   \
    static const msg_field_t s_opt_##id[] = opt;
MSG_KINDS(S_KIND_LISTS)
#undef S_KIND_LISTS
#undef R
#undef O

#define S_LIST_LEN(list) (sizeof(list) / sizeof((list)[0]) - 1)
const msgi_kind_decl_t msgi_kind_decls[MSG_K_COUNT_] = {
#define S_KIND_DECL(id, name, req, opt)                                                            \
    [MSG_K_##id] = {name, s_req_##id + 1, s_opt_##id + 1, S_LIST_LEN(s_req_##id),                  \
                    S_LIST_LEN(s_opt_##id)},
    MSG_KINDS(S_KIND_DECL)
#undef S_KIND_DECL
};

typedef struct {
    uint64_t req[S_WORDS];     //  required fields
    uint64_t all[S_WORDS];     //  required and optional fields
    uint64_t initial[S_WORDS]; //  present in a new message: required lists
    uint8_t slot[F_COUNT_];    //  field -> value slot, S_NO_SLOT if undeclared
    uint8_t nslots;
    bool is_row;
} s_kind_t;

static s_kind_t s_kinds[MSG_K_COUNT_];
static uint8_t s_names[S_HASH_SLOTS];
static pthread_once_t s_once = PTHREAD_ONCE_INIT;

typedef struct s_chunk_s {
    struct s_chunk_s *next;
    char data[];
} s_chunk_t;

typedef struct {
    char *cur, *end;
    s_chunk_t *chunks; //  chained after the inline bytes
    size_t next_size;
} s_arena_t;

typedef struct {
    union {
        int64_t num; //  MT_INT, MT_BOOL
        char *bytes; //  MT_STR, MT_BIN (NUL-terminated either way)
        int64_t *ints;
        msg_t **rows;
    };
    uint32_t len; //  bytes or items
    uint32_t cap; //  bytes or items the storage can hold
} s_value_t;

struct msg_s {
    s_arena_t *arena; //  the top-level message's, shared by its rows
    uint64_t corr;
    int kind;
    bool is_row;
    uint64_t present[S_WORDS];
    s_value_t values[]; //  s_kinds[kind].nslots
};

static msg_t *s_root_new(int kind, uint64_t corr_id, size_t arena_size, bool building);
static msg_t *s_row_new(s_arena_t *arena, int kind, bool building);
static s_value_t *s_slot(msg_t *self, msg_field_t field, msg_type_t type);
static const s_value_t *s_get(const msg_t *self, msg_field_t field, msg_type_t type);
static void *s_alloc(s_arena_t *arena, size_t size, size_t align);
static void s_reserve(s_arena_t *arena, size_t size);
static msg_err_t s_decode_body(msg_t *self, const msgpack_object_map *map, msg_field_t *field_p);
static size_t s_name_hash(const char *name, size_t len);

static inline bool s_bit(const uint64_t *bits, size_t index) {
    return (bits[index / 64] >> (index % 64)) & 1;
}

static inline void s_bit_set(uint64_t *bits, size_t index) {
    bits[index / 64] |= (uint64_t)1 << (index % 64);
}

//  --------------------------------------------------------------------------
//  Table lookups

const char *msg_kind_name(int kind) {
    return kind > MSG_K_NONE && kind < MSG_K_COUNT_ ? msgi_kind_decls[kind].name : "?";
}

const char *msg_field_name(msg_field_t field) {
    return (unsigned)field < F_COUNT_ ? msgi_fields[field].name : "?";
}

msg_type_t msg_field_type(msg_field_t field) {
    assert((unsigned)field < F_COUNT_);
    return msgi_fields[field].type;
}

size_t msg_field_max(msg_field_t field) {
    assert((unsigned)field < F_COUNT_);
    return msgi_fields[field].max;
}

const char *msg_err_str(msg_err_t err) {
    switch (err) {
    case MSG_OK:
        return "ok";
    case MSG_E_TRUNCATED:
        return "truncated";
    case MSG_E_SHAPE:
        return "shape";
    case MSG_E_UNKNOWN_KIND:
        return "unknown_kind";
    case MSG_E_UNKNOWN_FIELD:
        return "unknown_field";
    case MSG_E_MISSING_FIELD:
        return "missing_field";
    case MSG_E_WRONG_TYPE:
        return "wrong_type";
    case MSG_E_TOO_LONG:
        return "too_long";
    case MSG_E_DUPLICATE_FIELD:
        return "duplicate_field";
    case MSG_E_TOO_BIG:
        return "too_big";
    }
    return "?";
}

bool msg_kind_has_field(int kind, msg_field_t field, bool optional) {
    if (kind <= MSG_K_NONE || kind >= MSG_K_COUNT_ || (unsigned)field >= F_COUNT_) return false;
    msgi_init();
    const s_kind_t *k = &s_kinds[kind];
    return optional ? s_bit(k->all, field) && !s_bit(k->req, field) : s_bit(k->req, field);
}

//  --------------------------------------------------------------------------
//  Build

msg_t *msg_new(int kind, uint64_t corr_id) {
    assert(kind > MSG_K_NONE && kind < MSG_K_COUNT_);
    msgi_init();
    assert(!s_kinds[kind].is_row); //  rows come from msg_add_row
    return s_root_new(kind, corr_id, S_INLINE_ARENA, true);
}

void msg_destroy(msg_t **self_p) {
    assert(self_p);
    msg_t *self = *self_p;
    if (!self) return;
    assert(!self->is_row); //  a row belongs to its message
    s_chunk_t *chunk = self->arena->chunks;
    while (chunk) {
        s_chunk_t *next = chunk->next;
        free(chunk);
        chunk = next;
    }
    free(self);
    *self_p = NULL;
}

int msg_kind(const msg_t *self) {
    assert(self);
    return self->kind;
}

uint64_t msg_corr(const msg_t *self) {
    assert(self);
    return self->corr;
}

void msg_set_corr(msg_t *self, uint64_t corr_id) {
    assert(self);
    self->corr = corr_id;
}

void msg_set_int(msg_t *self, msg_field_t field, int64_t value) {
    s_slot(self, field, MT_INT)->num = value;
    s_bit_set(self->present, field);
}

void msg_set_bool(msg_t *self, msg_field_t field, bool value) {
    s_slot(self, field, MT_BOOL)->num = value;
    s_bit_set(self->present, field);
}

//  Copies len bytes (which may alias the current value) plus a NUL.
static void s_set_bytes(msg_t *self, msg_field_t field, s_value_t *value, const void *data,
                        size_t len) {
    if (!s_bit(self->present, field) || value->cap < len) {
        value->bytes = s_alloc(self->arena, len + 1, 1);
        value->cap = (uint32_t)len;
    }
    if (len) memmove(value->bytes, data, len);
    value->bytes[len] = 0;
    value->len = (uint32_t)len;
    s_bit_set(self->present, field);
}

int msg_set_str(msg_t *self, msg_field_t field, const char *value) {
    assert(value);
    return msg_set_strn(self, field, value, strlen(value));
}

int msg_set_strn(msg_t *self, msg_field_t field, const char *value, size_t len) {
    s_value_t *slot = s_slot(self, field, MT_STR);
    assert(value || len == 0);
    if (len > msgi_fields[field].max || !msgi_utf8_valid(value, len)) return -1;
    s_set_bytes(self, field, slot, value, len);
    return 0;
}

int msg_set_bin(msg_t *self, msg_field_t field, const void *data, size_t len) {
    s_value_t *slot = s_slot(self, field, MT_BIN);
    assert(data || len == 0);
    if (len > msgi_fields[field].max) return -1;
    s_set_bytes(self, field, slot, data, len);
    return 0;
}

int msg_set_ints(msg_t *self, msg_field_t field, const int64_t *values, size_t n) {
    s_value_t *slot = s_slot(self, field, MT_INTS);
    assert(values || n == 0);
    if (n > msgi_fields[field].max) return -1;
    if (!s_bit(self->present, field) || slot->cap < n) {
        slot->ints = s_alloc(self->arena, n * sizeof(int64_t), sizeof(int64_t));
        slot->cap = (uint32_t)n;
    }
    if (n) memmove(slot->ints, values, n * sizeof(int64_t));
    slot->len = (uint32_t)n;
    s_bit_set(self->present, field);
    return 0;
}

msg_t *msg_add_row(msg_t *self, msg_field_t field) {
    s_value_t *slot = s_slot(self, field, MT_LIST);
    if (!s_bit(self->present, field)) {
        slot->len = slot->cap = 0;
        s_bit_set(self->present, field);
    }
    size_t max = msgi_fields[field].max;
    if (slot->len >= max) return NULL;
    if (slot->len == slot->cap) {
        size_t cap = slot->cap ? slot->cap * 2 : 4;
        cap = cap < max ? cap : max;
        msg_t **rows = s_alloc(self->arena, cap * sizeof(msg_t *), sizeof(msg_t *));
        if (slot->len) memcpy(rows, slot->rows, slot->len * sizeof(msg_t *));
        slot->rows = rows;
        slot->cap = (uint32_t)cap;
    }
    msg_t *row = s_row_new(self->arena, msgi_fields[field].row, true);
    slot->rows[slot->len++] = row;
    return row;
}

//  --------------------------------------------------------------------------
//  Getters

bool msg_has(const msg_t *self, msg_field_t field) {
    assert(self);
    assert((unsigned)field < F_COUNT_);
    return s_bit(self->present, field);
}

int64_t msg_int(const msg_t *self, msg_field_t field) {
    const s_value_t *value = s_get(self, field, MT_INT);
    return value ? value->num : 0;
}

bool msg_bool(const msg_t *self, msg_field_t field) {
    const s_value_t *value = s_get(self, field, MT_BOOL);
    return value ? value->num != 0 : false;
}

const char *msg_str(const msg_t *self, msg_field_t field) {
    const s_value_t *value = s_get(self, field, MT_STR);
    return value ? value->bytes : NULL;
}

size_t msg_len(const msg_t *self, msg_field_t field) {
    assert(self);
    assert((unsigned)field < F_COUNT_);
    if (!s_bit(self->present, field) || msgi_fields[field].type <= MT_BOOL) return 0;
    return self->values[s_kinds[self->kind].slot[field]].len;
}

const void *msg_bin(const msg_t *self, msg_field_t field) {
    const s_value_t *value = s_get(self, field, MT_BIN);
    return value ? value->bytes : NULL;
}

const int64_t *msg_ints(const msg_t *self, msg_field_t field) {
    const s_value_t *value = s_get(self, field, MT_INTS);
    return value ? value->ints : NULL;
}

const msg_t *msg_row(const msg_t *self, msg_field_t field, size_t index) {
    const s_value_t *value = s_get(self, field, MT_LIST);
    return value && index < value->len ? value->rows[index] : NULL;
}

//  --------------------------------------------------------------------------
//  Encode

static size_t s_uint_size(uint64_t value) {
    return value < 128           ? 1
           : value <= UINT8_MAX  ? 2
           : value <= UINT16_MAX ? 3
           : value <= UINT32_MAX ? 5
                                 : 9;
}

static size_t s_int_size(int64_t value) {
    if (value >= 0) return s_uint_size((uint64_t)value);
    return value >= -32         ? 1
           : value >= INT8_MIN  ? 2
           : value >= INT16_MIN ? 3
           : value >= INT32_MIN ? 5
                                : 9;
}

//  Header bytes of a str/bin/array/map of n items: fix_count values of n fit
//  in the type byte; str and bin also have an 8-bit length form.
static size_t s_header_size(size_t n, size_t fix_count, bool has_8bit) {
    return n < fix_count ? 1 : has_8bit && n <= UINT8_MAX ? 2 : n <= UINT16_MAX ? 3 : 5;
}

//  The exact size msgpack-c will pack self's body into; -1 when a required
//  field is missing here or in a row.
static int s_body_size(const msg_t *self, size_t *size_p) {
    const s_kind_t *k = &s_kinds[self->kind];
    size_t size = 0, count = 0;
    for (size_t w = 0; w < S_WORDS; w++) {
        if (k->req[w] & ~self->present[w]) return -1;
        count += (size_t)__builtin_popcountll(self->present[w]);
    }
    size += s_header_size(count, 16, false);
    for (size_t w = 0; w < S_WORDS; w++) {
        for (uint64_t bits = self->present[w]; bits; bits &= bits - 1) {
            msg_field_t field = (msg_field_t)(w * 64 + (size_t)__builtin_ctzll(bits));
            const s_value_t *value = &self->values[k->slot[field]];
            size += 1 + msgi_fields[field].name_len;
            switch (msgi_fields[field].type) {
            case MT_INT:
                size += s_int_size(value->num);
                break;
            case MT_BOOL:
                size += 1;
                break;
            case MT_STR:
                size += s_header_size(value->len, 32, true) + value->len;
                break;
            case MT_BIN:
                size += s_header_size(value->len, 0, true) + value->len;
                break;
            case MT_INTS:
                size += s_header_size(value->len, 16, false);
                for (size_t i = 0; i < value->len; i++)
                    size += s_int_size(value->ints[i]);
                break;
            case MT_LIST:
                size += s_header_size(value->len, 16, false);
                for (size_t i = 0; i < value->len; i++)
                    if (s_body_size(value->rows[i], &size)) return -1;
                break;
            }
        }
    }
    *size_p += size;
    return 0;
}

static int s_pack_body(msgpack_packer *pk, const msg_t *self) {
    const s_kind_t *k = &s_kinds[self->kind];
    size_t count = 0;
    for (size_t w = 0; w < S_WORDS; w++)
        count += (size_t)__builtin_popcountll(self->present[w]);
    int rc = msgpack_pack_map(pk, count);
    for (size_t w = 0; w < S_WORDS; w++) {
        for (uint64_t bits = self->present[w]; bits; bits &= bits - 1) {
            msg_field_t field = (msg_field_t)(w * 64 + (size_t)__builtin_ctzll(bits));
            const msgi_field_t *decl = &msgi_fields[field];
            const s_value_t *value = &self->values[k->slot[field]];
            rc |= msgpack_pack_str_with_body(pk, decl->name, decl->name_len);
            switch (decl->type) {
            case MT_INT:
                rc |= msgpack_pack_int64(pk, value->num);
                break;
            case MT_BOOL:
                rc |= value->num ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
                break;
            case MT_STR:
                rc |= msgpack_pack_str_with_body(pk, value->bytes, value->len);
                break;
            case MT_BIN:
                rc |= msgpack_pack_bin_with_body(pk, value->bytes, value->len);
                break;
            case MT_INTS:
                rc |= msgpack_pack_array(pk, value->len);
                for (size_t i = 0; i < value->len; i++)
                    rc |= msgpack_pack_int64(pk, value->ints[i]);
                break;
            case MT_LIST:
                rc |= msgpack_pack_array(pk, value->len);
                for (size_t i = 0; i < value->len; i++)
                    rc |= s_pack_body(pk, value->rows[i]);
                break;
            }
        }
    }
    return rc;
}

//  msgpack_sbuffer_write for a buffer sized exactly beforehand: no growth,
//  and the short writes that make up most of a frame (headers, ints, keys)
//  copied inline rather than through a libc call each.
static int s_sbuffer_write(void *data, const char *buf, size_t len) {
    msgpack_sbuffer *sbuf = data;
    if (sbuf->alloc - sbuf->size < len) return -1;
    char *to = sbuf->data + sbuf->size;
    if (len > 16)
        memcpy(to, buf, len);
    else if (len >= 8) { //  two overlapping words cover 8..16 bytes
        memcpy(to, buf, 8);
        memcpy(to + len - 8, buf + len - 8, 8);
    } else if (len >= 4) {
        memcpy(to, buf, 4);
        memcpy(to + len - 4, buf + len - 4, 4);
    } else if (len) {
        to[0] = buf[0];
        to[len / 2] = buf[len / 2];
        to[len - 1] = buf[len - 1];
    }
    sbuf->size += len;
    return 0;
}

int msg_encode(const msg_t *self, uint8_t **data_p, size_t *size_p) {
    assert(self);
    assert(!self->is_row);
    assert(data_p && size_p);
    size_t size = 1 + s_uint_size((uint64_t)self->kind) + s_uint_size(self->corr);
    if (s_body_size(self, &size) || size > MSG_MAX_FRAME) return -1;
    //  Sized exactly, so the sbuffer never reallocates.
    msgpack_sbuffer sbuf = {.size = 0, .data = malloc(size), .alloc = size};
    assert(sbuf.data);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sbuf, s_sbuffer_write);
    int rc = msgpack_pack_array(&pk, 3);
    rc |= msgpack_pack_uint64(&pk, (uint64_t)self->kind);
    rc |= msgpack_pack_uint64(&pk, self->corr);
    rc |= s_pack_body(&pk, self);
    if (rc) {
        msgpack_sbuffer_destroy(&sbuf);
        return -1;
    }
    assert(sbuf.size == size);
    *size_p = sbuf.size;
    *data_p = (uint8_t *)msgpack_sbuffer_release(&sbuf);
    return 0;
}

//  --------------------------------------------------------------------------
//  Decode

static msg_err_t s_decode_int(const msgpack_object *object, int64_t *value) {
    if (object->type == MSGPACK_OBJECT_POSITIVE_INTEGER && object->via.u64 <= INT64_MAX)
        *value = (int64_t)object->via.u64;
    else if (object->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        *value = object->via.i64;
    else
        return MSG_E_WRONG_TYPE;
    return MSG_OK;
}

static msg_err_t s_decode_value(msg_t *self, msg_field_t field, s_value_t *value,
                                const msgpack_object *object, msg_field_t *field_p) {
    const msgi_field_t *decl = &msgi_fields[field];
    msg_err_t err = MSG_OK;
    switch (decl->type) {
    case MT_INT:
        return s_decode_int(object, &value->num);
    case MT_BOOL:
        if (object->type != MSGPACK_OBJECT_BOOLEAN) return MSG_E_WRONG_TYPE;
        value->num = object->via.boolean;
        return MSG_OK;
    case MT_STR:
    case MT_BIN: {
        bool is_str = decl->type == MT_STR;
        if (object->type != (is_str ? MSGPACK_OBJECT_STR : MSGPACK_OBJECT_BIN))
            return MSG_E_WRONG_TYPE;
        const char *bytes = is_str ? object->via.str.ptr : object->via.bin.ptr;
        uint32_t len = is_str ? object->via.str.size : object->via.bin.size;
        if (len > decl->max) return MSG_E_TOO_LONG;
        if (is_str && !msgi_utf8_valid(bytes, len)) return MSG_E_WRONG_TYPE;
        value->bytes = s_alloc(self->arena, (size_t)len + 1, 1);
        if (len) memcpy(value->bytes, bytes, len);
        value->bytes[len] = 0;
        value->len = value->cap = len;
        return MSG_OK;
    }
    case MT_INTS:
    case MT_LIST: {
        if (object->type != MSGPACK_OBJECT_ARRAY) return MSG_E_WRONG_TYPE;
        const msgpack_object_array *array = &object->via.array;
        if (array->size > decl->max) return MSG_E_TOO_LONG;
        value->len = value->cap = array->size;
        if (decl->type == MT_INTS) {
            value->ints = s_alloc(self->arena, array->size * sizeof(int64_t), sizeof(int64_t));
            for (uint32_t i = 0; i < array->size && !err; i++)
                err = s_decode_int(&array->ptr[i], &value->ints[i]);
            return err;
        }
        int row_kind = decl->row;
        size_t row_size = sizeof(msg_t) + s_kinds[row_kind].nslots * sizeof(s_value_t);
        s_reserve(self->arena, array->size * (sizeof(msg_t *) + row_size));
        value->rows = s_alloc(self->arena, array->size * sizeof(msg_t *), sizeof(msg_t *));
        for (uint32_t i = 0; i < array->size && !err; i++) {
            if (array->ptr[i].type != MSGPACK_OBJECT_MAP) return MSG_E_WRONG_TYPE;
            value->rows[i] = s_row_new(self->arena, row_kind, false);
            err = s_decode_body(value->rows[i], &array->ptr[i].via.map, field_p);
        }
        return err;
    }
    }
    return MSG_E_WRONG_TYPE;
}

//  Names are 1..S_MAX_KEY bytes: length, first, middle and last byte spread
//  the 52 names of today over 1024 slots with few collisions.
static size_t s_name_hash(const char *name, size_t len) {
    const uint8_t *s = (const uint8_t *)name;
    uint32_t key = (uint32_t)len | (uint32_t)s[0] << 5 | (uint32_t)s[len / 2] << 13 |
                   (uint32_t)s[len - 1] << 21;
    return (key * 2654435761u) >> 22;
}

//  Wire name -> field id (F_COUNT_ when unknown): open addressing, then an
//  exact comparison done in words rather than a memcmp call.
static msg_field_t s_field_by_name(const char *name, size_t len) {
    _Static_assert(S_HASH_SLOTS == 1 << 10, "s_name_hash yields 10 bits");
    if (len == 0 || len > S_MAX_KEY) return F_COUNT_;
    for (size_t h = s_name_hash(name, len); s_names[h]; h = (h + 1) % S_HASH_SLOTS) {
        const msgi_field_t *decl = &msgi_fields[s_names[h] - 1];
        if (decl->name_len != len) continue;
        const char *a = decl->name;
        bool same = true;
        if (len >= 8) {
            uint64_t x, y;
            for (size_t i = 0; i + 8 < len && same; i += 8) {
                memcpy(&x, a + i, 8);
                memcpy(&y, name + i, 8);
                same = x == y;
            }
            memcpy(&x, a + len - 8, 8);
            memcpy(&y, name + len - 8, 8);
            same = same && x == y;
        } else if (len >= 4) {
            uint32_t x, y, x2, y2;
            memcpy(&x, a, 4);
            memcpy(&y, name, 4);
            memcpy(&x2, a + len - 4, 4);
            memcpy(&y2, name + len - 4, 4);
            same = x == y && x2 == y2;
        } else
            same = a[0] == name[0] && a[len / 2] == name[len / 2] && a[len - 1] == name[len - 1];
        if (same) return (msg_field_t)(s_names[h] - 1);
    }
    return F_COUNT_;
}

//  Fills self from a body map; *field_p names the innermost field concerned.
static msg_err_t s_decode_body(msg_t *self, const msgpack_object_map *map, msg_field_t *field_p) {
    const s_kind_t *k = &s_kinds[self->kind];
    for (uint32_t i = 0; i < map->size; i++) {
        const msgpack_object *key = &map->ptr[i].key;
        *field_p = F_COUNT_;
        if (key->type != MSGPACK_OBJECT_STR) return MSG_E_SHAPE;
        msg_field_t field = s_field_by_name(key->via.str.ptr, key->via.str.size);
        if (field == F_COUNT_) return MSG_E_UNKNOWN_FIELD;
        *field_p = field;
        if (k->slot[field] == S_NO_SLOT) return MSG_E_UNKNOWN_FIELD;
        if (s_bit(self->present, field)) return MSG_E_DUPLICATE_FIELD;
        msg_err_t err =
            s_decode_value(self, field, &self->values[k->slot[field]], &map->ptr[i].val, field_p);
        if (err) return err;
        s_bit_set(self->present, field);
    }
    for (size_t w = 0; w < S_WORDS; w++) {
        uint64_t missing = k->req[w] & ~self->present[w];
        if (missing) {
            *field_p = (msg_field_t)(w * 64 + (size_t)__builtin_ctzll(missing));
            return MSG_E_MISSING_FIELD;
        }
    }
    return MSG_OK;
}

static msg_err_t s_decode(const uint8_t *data, size_t size, msg_t **msg_p, msg_field_t *field_p) {
    if (size > MSG_MAX_FRAME) return MSG_E_TOO_BIG;
    msg_err_t err = msgi_scan(data, size);
    if (err) return err;
    msgpack_unpacked unpacked;
    msgpack_unpacked_init(&unpacked);
    size_t offset = 0;
    msgpack_unpack_return rc = msgpack_unpack_next(&unpacked, (const char *)data, size, &offset);
    const msgpack_object *top = &unpacked.data, *item = top->via.array.ptr;
    if (rc == MSGPACK_UNPACK_NOMEM_ERROR)
        err = MSG_E_TOO_BIG; //  also: nested deeper than msgpack-c's 32 levels
    else if (rc != MSGPACK_UNPACK_SUCCESS || offset != size)
        err = MSG_E_TRUNCATED;
    else if (top->type != MSGPACK_OBJECT_ARRAY || top->via.array.size != 3 ||
             item[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
             item[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER || item[2].type != MSGPACK_OBJECT_MAP)
        err = MSG_E_SHAPE;
    else if (item[0].via.u64 == MSG_K_NONE || item[0].via.u64 >= MSG_K_COUNT_ ||
             s_kinds[item[0].via.u64].is_row)
        err = MSG_E_UNKNOWN_KIND;
    else {
        //  Copied strings never outgrow the frame; ints and rows may need chunks.
        *msg_p = s_root_new((int)item[0].via.u64, item[1].via.u64, size + 64, false);
        err = s_decode_body(*msg_p, &item[2].via.map, field_p);
    }
    msgpack_unpacked_destroy(&unpacked);
    return err;
}

msg_t *msg_decode(const uint8_t *data, size_t size, msg_err_t *err, msg_field_t *field_p) {
    assert(data || size == 0);
    msgi_init();
    msg_t *self = NULL;
    msg_field_t field = F_COUNT_;
    msg_err_t rc = s_decode(data, size, &self, &field);
    if (rc != MSG_OK) msg_destroy(&self);
    if (err) *err = rc;
    if (field_p) *field_p = rc == MSG_OK ? F_COUNT_ : field;
    return self;
}

//  --------------------------------------------------------------------------
//  Sockets

static int s_send(msg_t **self_p, zsock_t *sock, zframe_t *routing_id) {
    assert(self_p && *self_p);
    assert(sock);
    uint8_t *data;
    size_t size;
    int rc = msg_encode(*self_p, &data, &size);
    msg_destroy(self_p);
    if (rc) return -1;
    zframe_t *frame = zframe_new(data, size);
    free(data);
    if (routing_id && zframe_send(&routing_id, sock, ZFRAME_MORE | ZFRAME_REUSE)) {
        zframe_destroy(&frame);
        return -1;
    }
    if (zframe_send(&frame, sock, 0)) {
        zframe_destroy(&frame); //  zframe_send keeps it on failure
        return -1;
    }
    return 0;
}

int msg_send(msg_t **self_p, zsock_t *sock) {
    return s_send(self_p, sock, NULL);
}

int msg_send_to(msg_t **self_p, zsock_t *sock, zframe_t *routing_id) {
    assert(routing_id);
    return s_send(self_p, sock, routing_id);
}

msg_t *msg_recv(zsock_t *sock, msg_err_t *err) {
    assert(sock);
    msg_err_t rc = MSG_OK;
    msg_t *self = NULL;
    zframe_t *frame = zframe_recv(sock);
    if (frame && zframe_more(frame)) {
        //  More than one frame: drain the rest so the next receive starts on
        //  a message boundary.
        rc = MSG_E_SHAPE;
        bool more = true;
        while (more) {
            zframe_t *next = zframe_recv(sock);
            more = next && zframe_more(next);
            zframe_destroy(&next);
        }
    } else if (frame)
        self = msg_decode(zframe_data(frame), zframe_size(frame), &rc, NULL);
    zframe_destroy(&frame);
    if (err) *err = rc;
    return self;
}

//  --------------------------------------------------------------------------
//  Private helpers

static void s_build(void) {
    for (int field = 0; field < F_COUNT_; field++) {
        const msgi_field_t *decl = &msgi_fields[field];
        size_t h = s_name_hash(decl->name, decl->name_len);
        for (; s_names[h]; h = (h + 1) % S_HASH_SLOTS)
            assert(strcmp(msgi_fields[s_names[h] - 1].name, decl->name) != 0); //  name twice
        s_names[h] = (uint8_t)(field + 1);
        if (decl->type == MT_LIST) s_kinds[decl->row].is_row = true;
    }
    for (int kind = MSG_K_NONE + 1; kind < MSG_K_COUNT_; kind++) {
        const msgi_kind_decl_t *decl = &msgi_kind_decls[kind];
        s_kind_t *k = &s_kinds[kind];
        memset(k->slot, S_NO_SLOT, sizeof(k->slot));
        for (size_t i = 0; i < decl->nreq + decl->nopt; i++) {
            bool required = i < decl->nreq;
            msg_field_t field = required ? decl->req[i] : decl->opt[i - decl->nreq];
            assert(!s_bit(k->all, field)); //  a field listed twice for one kind
            //  Rows nest one level: no list inside a row
            assert(!(k->is_row && msgi_fields[field].type == MT_LIST));
            s_bit_set(k->all, field);
            if (required) s_bit_set(k->req, field);
            if (required && msgi_fields[field].type == MT_LIST) s_bit_set(k->initial, field);
            k->slot[field] = k->nslots++;
        }
    }
}

void msgi_init(void) {
    pthread_once(&s_once, s_build);
}

//  Whether kind is a row kind: set by s_build, so after msgi_init.
bool msgi_kind_is_row(int kind) {
    return s_kinds[kind].is_row;
}

static void s_msg_init(msg_t *self, s_arena_t *arena, int kind, bool is_row, bool building) {
    const s_kind_t *k = &s_kinds[kind];
    self->arena = arena;
    self->corr = 0;
    self->kind = kind;
    self->is_row = is_row;
    //  A required list starts present and empty: an empty list is sent as [].
    if (building)
        memcpy(self->present, k->initial, sizeof(self->present));
    else
        memset(self->present, 0, sizeof(self->present));
    memset(self->values, 0, k->nslots * sizeof(s_value_t));
}

static size_t s_msg_size(int kind) {
    size_t size = sizeof(msg_t) + s_kinds[kind].nslots * sizeof(s_value_t);
    return (size + 7) & ~(size_t)7;
}

static msg_t *s_root_new(int kind, uint64_t corr_id, size_t arena_size, bool building) {
    size_t head = s_msg_size(kind);
    char *block = malloc(head + sizeof(s_arena_t) + arena_size);
    assert(block);
    msg_t *self = (msg_t *)block;
    s_arena_t *arena = (s_arena_t *)(block + head);
    arena->cur = (char *)(arena + 1);
    arena->end = arena->cur + arena_size;
    arena->chunks = NULL;
    arena->next_size = S_CHUNK_MIN;
    s_msg_init(self, arena, kind, false, building);
    self->corr = corr_id;
    return self;
}

static msg_t *s_row_new(s_arena_t *arena, int kind, bool building) {
    msg_t *row = s_alloc(arena, s_msg_size(kind), _Alignof(msg_t));
    s_msg_init(row, arena, kind, true, building);
    return row;
}

static s_value_t *s_slot(msg_t *self, msg_field_t field, msg_type_t type) {
    assert(self);
    assert((unsigned)field < F_COUNT_);
    assert(msgi_fields[field].type == type); //  setter of another type
    uint8_t slot = s_kinds[self->kind].slot[field];
    assert(slot != S_NO_SLOT); //  field not declared for this kind
    return &self->values[slot];
}

static const s_value_t *s_get(const msg_t *self, msg_field_t field, msg_type_t type) {
    assert(self);
    assert((unsigned)field < F_COUNT_);
    assert(msgi_fields[field].type == type); //  getter of another type
    if (!s_bit(self->present, field)) return NULL;
    return &self->values[s_kinds[self->kind].slot[field]];
}

static void s_grow(s_arena_t *arena, size_t size) {
    size_t chunk_size = arena->next_size > size ? arena->next_size : size;
    s_chunk_t *chunk = malloc(sizeof(s_chunk_t) + chunk_size);
    assert(chunk);
    chunk->next = arena->chunks;
    arena->chunks = chunk;
    arena->cur = chunk->data;
    arena->end = chunk->data + chunk_size;
    if (arena->next_size < S_CHUNK_MAX) arena->next_size *= 2;
}

static void *s_alloc(s_arena_t *arena, size_t size, size_t align) {
    uintptr_t at = ((uintptr_t)arena->cur + align - 1) & ~(uintptr_t)(align - 1);
    if (at + size > (uintptr_t)arena->end) {
        s_grow(arena, size + align);
        at = ((uintptr_t)arena->cur + align - 1) & ~(uintptr_t)(align - 1);
    }
    arena->cur = (char *)(at + size);
    return (void *)at;
}

//  Makes the next allocations totalling size bytes come from one chunk.
static void s_reserve(s_arena_t *arena, size_t size) {
    size += 16; //  alignment slack
    if ((size_t)(arena->end - arena->cur) < size) s_grow(arena, size);
}
