/*  test_msg.c — the message codec: every kind round trips, every malformed
    frame is an error value, never a crash. Run from the repo root (the docs
    test reads docs/messages.md).
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <czmq.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"

static const int64_t s_ints[] = {0,
                                 1,
                                 -1,
                                 -32,
                                 -33,
                                 127,
                                 128,
                                 -128,
                                 -129,
                                 255,
                                 256,
                                 65535,
                                 65536,
                                 -32768,
                                 -32769,
                                 INT32_MAX,
                                 (int64_t)UINT32_MAX,
                                 (int64_t)UINT32_MAX + 1,
                                 INT32_MIN,
                                 (int64_t)INT32_MIN - 1,
                                 INT64_MAX,
                                 INT64_MIN};
#define S_NINTS (sizeof(s_ints) / sizeof(s_ints[0]))

static bool s_declared(int kind, msg_field_t field) {
    return msg_kind_has_field(kind, field, false) || msg_kind_has_field(kind, field, true);
}

//  A row kind is refused as a top-level kind even with an empty body.
static bool s_is_row_kind(int kind) {
    uint8_t frame[] = {0x93, (uint8_t)kind, 0x00, 0x80};
    msg_err_t err;
    msg_t *msg = msg_decode(frame, sizeof(frame), &err, NULL);
    msg_destroy(&msg);
    return err == MSG_E_UNKNOWN_KIND;
}

//  A string of exactly len bytes, valid UTF-8, with multi-byte characters.
static void s_text(char *buf, size_t len, unsigned seed) {
    size_t i = 0;
    while (i < len) {
        if (len - i >= 3 && (i + seed) % 5 == 0) {
            memcpy(buf + i, "\xe2\x82\xac", 3); //  euro sign
            i += 3;
        } else if (len - i >= 2 && (i + seed) % 7 == 0) {
            memcpy(buf + i, "\xc3\xa9", 2); //  e acute
            i += 2;
        } else {
            buf[i] = (char)('a' + (i + seed) % 26);
            i++;
        }
    }
    buf[len] = 0;
}

//  Sets every field kind declares; strings at their max when at_max.
static void s_fill(msg_t *msg, unsigned seed, bool at_max, size_t rows) {
    int kind = msg_kind(msg);
    for (int f = 0; f < F_COUNT_; f++) {
        msg_field_t field = (msg_field_t)f;
        if (!s_declared(kind, field)) continue;
        size_t max = msg_field_max(field);
        unsigned v = seed + (unsigned)f;
        switch (msg_field_type(field)) {
        case MT_INT:
            msg_set_int(msg, field, s_ints[v % S_NINTS]);
            break;
        case MT_BOOL:
            msg_set_bool(msg, field, v & 1);
            break;
        case MT_STR: {
            size_t len = at_max ? max : (v % 40 < max ? v % 40 : max);
            char *text = malloc(len + 1);
            s_text(text, len, v);
            assert_int_equal(msg_set_str(msg, field, text), 0);
            free(text);
            break;
        }
        case MT_BIN: {
            size_t len = at_max ? max : v % 50;
            uint8_t *data = malloc(len + 1);
            for (size_t i = 0; i < len; i++)
                data[i] = (uint8_t)(i * 7 + v);
            assert_int_equal(msg_set_bin(msg, field, data, len), 0);
            free(data);
            break;
        }
        case MT_INTS: {
            size_t n = at_max ? max : v % 5;
            int64_t values[MSG_MAX_IDS];
            for (size_t i = 0; i < n; i++)
                values[i] = s_ints[(v + i) % S_NINTS];
            assert_int_equal(msg_set_ints(msg, field, values, n), 0);
            break;
        }
        case MT_LIST:
            for (size_t r = 0; r < rows; r++) {
                msg_t *row = msg_add_row(msg, field);
                assert_non_null(row);
                s_fill(row, v + (unsigned)r, at_max, 0);
            }
            break;
        }
    }
}

static void s_assert_equal(const msg_t *a, const msg_t *b) {
    assert_int_equal(msg_kind(a), msg_kind(b));
    for (int f = 0; f < F_COUNT_; f++) {
        msg_field_t field = (msg_field_t)f;
        assert_int_equal(msg_has(a, field), msg_has(b, field));
        if (!msg_has(a, field)) continue;
        assert_int_equal(msg_len(a, field), msg_len(b, field));
        size_t len = msg_len(a, field);
        switch (msg_field_type(field)) {
        case MT_INT:
            assert_true(msg_int(a, field) == msg_int(b, field));
            break;
        case MT_BOOL:
            assert_int_equal(msg_bool(a, field), msg_bool(b, field));
            break;
        case MT_STR:
            assert_string_equal(msg_str(a, field), msg_str(b, field));
            assert_int_equal(strlen(msg_str(b, field)), len);
            break;
        case MT_BIN:
            assert_memory_equal(msg_bin(a, field), msg_bin(b, field), len);
            break;
        case MT_INTS:
            if (len) assert_memory_equal(msg_ints(a, field), msg_ints(b, field), len * 8);
            break;
        case MT_LIST:
            for (size_t i = 0; i < len; i++)
                s_assert_equal(msg_row(a, field, i), msg_row(b, field, i));
            assert_null(msg_row(b, field, len));
            break;
        }
    }
}

//  Encodes, decodes, checks equality and that re-encoding gives the same bytes.
static void s_round_trip(const msg_t *msg) {
    uint8_t *data, *again;
    size_t size, again_size;
    assert_int_equal(msg_encode(msg, &data, &size), 0);
    msg_err_t err = MSG_E_SHAPE;
    msg_field_t field = F_USER_ID;
    msg_t *copy = msg_decode(data, size, &err, &field);
    assert_string_equal(msg_err_str(err), "ok");
    assert_int_equal(field, F_COUNT_);
    assert_non_null(copy);
    free(data); //  the copy owns its values
    assert_true(msg_corr(copy) == msg_corr(msg));
    s_assert_equal(msg, copy);
    assert_int_equal(msg_encode(copy, &again, &again_size), 0);
    assert_int_equal(again_size, size);
    msg_destroy(&copy);
    assert_null(copy);
    msg_destroy(&copy); //  safe twice
    free(again);
}

//  A frame built by hand: [kind, 42, {keys...}]
typedef struct {
    msgpack_sbuffer sbuf;
    msgpack_packer pk;
} frame_t;

static msgpack_packer *s_frame(frame_t *frame, uint64_t kind, uint32_t keys) {
    msgpack_sbuffer_init(&frame->sbuf);
    msgpack_packer_init(&frame->pk, &frame->sbuf, msgpack_sbuffer_write);
    msgpack_pack_array(&frame->pk, 3);
    msgpack_pack_uint64(&frame->pk, kind);
    msgpack_pack_uint64(&frame->pk, 42);
    msgpack_pack_map(&frame->pk, keys);
    return &frame->pk;
}

static msgpack_packer *s_raw(frame_t *frame) {
    msgpack_sbuffer_init(&frame->sbuf);
    msgpack_packer_init(&frame->pk, &frame->sbuf, msgpack_sbuffer_write);
    return &frame->pk;
}

static void s_key(msgpack_packer *pk, const char *key) {
    msgpack_pack_str_with_body(pk, key, strlen(key));
}

static void s_str(msgpack_packer *pk, const char *value, size_t len) {
    msgpack_pack_str_with_body(pk, value, len);
}

static void s_expect_bytes(const void *data, size_t size, msg_err_t expected,
                           msg_field_t expected_field) {
    msg_err_t err = MSG_OK;
    msg_field_t field = F_USER_ID;
    msg_t *msg = msg_decode(data, size, &err, &field);
    assert_string_equal(msg_err_str(err), msg_err_str(expected));
    assert_string_equal(msg_field_name(field), msg_field_name(expected_field));
    if (expected == MSG_OK)
        assert_non_null(msg);
    else
        assert_null(msg);
    msg_destroy(&msg);
}

static void s_expect(frame_t *frame, msg_err_t expected, msg_field_t expected_field) {
    s_expect_bytes(frame->sbuf.data, frame->sbuf.size, expected, expected_field);
    msgpack_sbuffer_destroy(&frame->sbuf);
}

//  --------------------------------------------------------------------------

static void test_tables(void **state) {
    (void)state;
    assert_string_equal(msg_kind_name(MSG_K_ORDER_PLACE), "order_place");
    assert_string_equal(msg_kind_name(MSG_K_NONE), "?");
    assert_string_equal(msg_kind_name(MSG_K_COUNT_), "?");
    assert_string_equal(msg_kind_name(-3), "?");
    assert_string_equal(msg_field_name(F_JOB_IDS), "job_ids");
    assert_string_equal(msg_field_name(F_COUNT_), "?");
    assert_int_equal(msg_field_type(F_JOBS), MT_LIST);
    assert_int_equal(msg_field_max(F_LANG), 8);
    assert_true(msg_kind_has_field(MSG_K_ERROR, F_CODE, false));
    assert_false(msg_kind_has_field(MSG_K_ERROR, F_CODE, true));
    assert_true(msg_kind_has_field(MSG_K_ERROR, F_DETAIL, true));
    assert_false(msg_kind_has_field(MSG_K_ERROR, F_DETAIL, false));
    assert_false(msg_kind_has_field(MSG_K_ERROR, F_USER_ID, true));
    assert_false(msg_kind_has_field(MSG_K_NONE, F_CODE, false));
    assert_false(msg_kind_has_field(MSG_K_COUNT_, F_CODE, false));
    assert_false(msg_kind_has_field(MSG_K_ERROR, F_COUNT_, false));
    for (int e = MSG_OK; e <= MSG_E_TOO_BIG; e++)
        assert_string_not_equal(msg_err_str(e), "?");
    //  Names are unique
    for (int a = 0; a < F_COUNT_; a++)
        for (int b = a + 1; b < F_COUNT_; b++)
            assert_string_not_equal(msg_field_name(a), msg_field_name(b));
    for (int a = 1; a < MSG_K_COUNT_; a++)
        for (int b = a + 1; b < MSG_K_COUNT_; b++)
            assert_string_not_equal(msg_kind_name(a), msg_kind_name(b));
}

static void test_round_trip_every_kind(void **state) {
    (void)state;
    for (int kind = MSG_K_NONE + 1; kind < MSG_K_COUNT_; kind++) {
        if (s_is_row_kind(kind)) continue;
        for (unsigned seed = 0; seed < 30; seed++) {
            msg_t *msg = msg_new(kind, seed * 0x0123456789abcdefull);
            s_fill(msg, seed, false, seed % 4);
            s_round_trip(msg);
            msg_destroy(&msg);
        }
        msg_t *msg = msg_new(kind, UINT64_MAX);
        s_fill(msg, 3, true, 3);
        s_round_trip(msg);
        msg_destroy(&msg);
    }
}

static void test_round_trip_required_only(void **state) {
    (void)state;
    for (int kind = MSG_K_NONE + 1; kind < MSG_K_COUNT_; kind++) {
        if (s_is_row_kind(kind)) continue;
        msg_t *msg = msg_new(kind, 0);
        for (int f = 0; f < F_COUNT_; f++) {
            if (!msg_kind_has_field(kind, f, false)) continue;
            switch (msg_field_type(f)) {
            case MT_INT:
                msg_set_int(msg, f, -7);
                break;
            case MT_BOOL:
                msg_set_bool(msg, f, false);
                break;
            case MT_STR:
                assert_int_equal(msg_set_str(msg, f, ""), 0);
                break;
            case MT_BIN:
                assert_int_equal(msg_set_bin(msg, f, NULL, 0), 0);
                break;
            case MT_INTS:
                assert_int_equal(msg_set_ints(msg, f, NULL, 0), 0);
                break;
            case MT_LIST:
                break; //  present and empty from msg_new
            }
        }
        s_round_trip(msg);
        msg_destroy(&msg);
    }
}

static void test_getters_absent(void **state) {
    (void)state;
    msg_t *msg = msg_new(MSG_K_USER, 1);
    assert_false(msg_has(msg, F_LANG));
    assert_null(msg_str(msg, F_LANG));
    assert_int_equal(msg_len(msg, F_LANG), 0);
    assert_true(msg_int(msg, F_BALANCE) == 0);
    assert_false(msg_bool(msg, F_CREATED));
    assert_null(msg_ints(msg, F_JOB_IDS)); //  not declared for user: absent
    assert_null(msg_bin(msg, F_SESSION));
    assert_null(msg_row(msg, F_JOBS, 0));
    assert_int_equal(msg_kind(msg), MSG_K_USER);
    msg_set_corr(msg, 99);
    assert_true(msg_corr(msg) == 99);
    msg_destroy(&msg);

    //  A required list starts present and empty, an optional one absent
    msg = msg_new(MSG_K_JOB_LIST, 1);
    assert_int_equal(msg_has(msg, F_JOBS), msg_kind_has_field(MSG_K_JOB_LIST, F_JOBS, false));
    assert_int_equal(msg_len(msg, F_JOBS), 0);
    assert_null(msg_row(msg, F_JOBS, 0));
    msg_destroy(&msg);
}

static void test_setters(void **state) {
    (void)state;
    msg_t *msg = msg_new(MSG_K_ORDER_PLACE, 1);
    char big[MSG_MAX_TEXT + 2];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    assert_int_equal(msg_set_str(msg, F_PARAMS, big), -1); //  max + 1
    assert_false(msg_has(msg, F_PARAMS));
    assert_int_equal(msg_set_strn(msg, F_PARAMS, big, MSG_MAX_TEXT), 0);
    assert_int_equal(msg_len(msg, F_PARAMS), MSG_MAX_TEXT);
    //  Over max leaves the previous value
    assert_int_equal(msg_set_str(msg, F_PARAMS, big), -1);
    assert_int_equal(msg_len(msg, F_PARAMS), MSG_MAX_TEXT);
    //  Replace: shorter, longer, and from a pointer into the current value
    assert_int_equal(msg_set_str(msg, F_MODEL, "sora-2"), 0);
    assert_int_equal(msg_set_str(msg, F_MODEL, "v"), 0);
    assert_string_equal(msg_str(msg, F_MODEL), "v");
    assert_int_equal(msg_set_str(msg, F_MODEL, "sora-2-image-to-video"), 0);
    assert_string_equal(msg_str(msg, F_MODEL), "sora-2-image-to-video");
    assert_int_equal(msg_set_str(msg, F_MODEL, msg_str(msg, F_MODEL) + 7), 0);
    assert_string_equal(msg_str(msg, F_MODEL), "image-to-video");
    //  Strings the decoder would refuse are refused
    assert_int_equal(msg_set_str(msg, F_STATE, "bad\xff"), -1);
    assert_int_equal(msg_set_strn(msg, F_STATE, "a\0b", 3), -1);
    assert_false(msg_has(msg, F_STATE));
    char token[MSG_MAX_TOKEN + 1];
    memset(token, 't', MSG_MAX_TOKEN);
    assert_int_equal(msg_set_strn(msg, F_ORDER_TOKEN, token, MSG_MAX_TOKEN + 1), -1);
    assert_int_equal(msg_set_strn(msg, F_ORDER_TOKEN, token, MSG_MAX_TOKEN), 0);
    //  Bin over max
    uint8_t *session = calloc(1, MSG_MAX_SESSION + 1);
    assert_int_equal(msg_set_bin(msg, F_SESSION, session, MSG_MAX_SESSION + 1), -1);
    assert_false(msg_has(msg, F_SESSION));
    assert_int_equal(msg_set_bin(msg, F_SESSION, session, MSG_MAX_SESSION), 0);
    assert_int_equal(msg_set_bin(msg, F_SESSION, "\0\1", 2), 0);
    assert_int_equal(msg_len(msg, F_SESSION), 2);
    assert_memory_equal(msg_bin(msg, F_SESSION), "\0\1", 2);
    free(session);
    msg_set_int(msg, F_PRICE, 5);
    msg_set_int(msg, F_PRICE, -6);
    assert_true(msg_int(msg, F_PRICE) == -6);
    msg_destroy(&msg);

    //  Ints over max, and replacing them
    msg = msg_new(MSG_K_ORDER, 1);
    int64_t ids[MSG_MAX_IDS + 1] = {0};
    assert_int_equal(msg_set_ints(msg, F_JOB_IDS, ids, MSG_MAX_IDS + 1), -1);
    assert_false(msg_has(msg, F_JOB_IDS));
    assert_int_equal(msg_set_ints(msg, F_JOB_IDS, ids, MSG_MAX_IDS), 0);
    int64_t three[] = {1, -2, INT64_MIN};
    assert_int_equal(msg_set_ints(msg, F_JOB_IDS, three, 3), 0);
    assert_int_equal(msg_len(msg, F_JOB_IDS), 3);
    assert_true(msg_ints(msg, F_JOB_IDS)[2] == INT64_MIN);
    msg_destroy(&msg);

    //  Rows: up to the max, then NULL
    msg = msg_new(MSG_K_ENTRY_LIST, 1);
    for (size_t i = 0; i < MSG_MAX_ROWS; i++) {
        msg_t *row = msg_add_row(msg, F_ENTRIES);
        assert_non_null(row);
        assert_int_equal(msg_kind(row), MSG_K_ENTRY_ROW);
        s_fill(row, (unsigned)i, false, 0);
    }
    assert_null(msg_add_row(msg, F_ENTRIES));
    assert_int_equal(msg_len(msg, F_ENTRIES), MSG_MAX_ROWS);
    s_round_trip(msg);
    msg_destroy(&msg);
}

static void test_encode_failures(void **state) {
    (void)state;
    uint8_t *data = NULL;
    size_t size = 0;
    msg_t *msg = msg_new(MSG_K_BALANCE_GET, 1);
    assert_int_equal(msg_encode(msg, &data, &size), -1); //  user_id missing
    msg_set_int(msg, F_USER_ID, 1);
    assert_int_equal(msg_encode(msg, &data, &size), 0);
    free(data);
    msg_destroy(&msg);

    //  A row missing a required field
    msg = msg_new(MSG_K_JOB_LIST, 1);
    s_fill(msg_add_row(msg, F_JOBS), 1, false, 0);
    msg_t *row = msg_add_row(msg, F_JOBS);
    assert_int_equal(msg_encode(msg, &data, &size), -1);
    s_fill(row, 2, false, 0);
    assert_int_equal(msg_encode(msg, &data, &size), 0);
    free(data);
    msg_destroy(&msg);

    //  Over MSG_MAX_FRAME: 200 jobs at max size
    msg = msg_new(MSG_K_JOB_LIST, 1);
    for (size_t i = 0; i < MSG_MAX_ROWS; i++)
        s_fill(msg_add_row(msg, F_JOBS), (unsigned)i, true, 0);
    assert_int_equal(msg_encode(msg, &data, &size), -1);
    msg_destroy(&msg);
}

static void test_decode_shape(void **state) {
    (void)state;
    frame_t frame;
    msgpack_packer *pk;
    s_expect_bytes("", 0, MSG_E_TRUNCATED, F_COUNT_);
    s_expect_bytes("\x93\x01", 2, MSG_E_TRUNCATED, F_COUNT_);
    s_expect_bytes("\xc1", 1, MSG_E_TRUNCATED, F_COUNT_);
    //  Trailing bytes
    pk = s_frame(&frame, MSG_K_OFFSET_LOAD, 0);
    msgpack_pack_nil(pk);
    s_expect(&frame, MSG_E_TRUNCATED, F_COUNT_);
    //  Two objects back to back
    pk = s_frame(&frame, MSG_K_OFFSET_LOAD, 0);
    msgpack_pack_array(pk, 3);
    msgpack_pack_uint64(pk, MSG_K_OFFSET_LOAD);
    msgpack_pack_uint64(pk, 1);
    msgpack_pack_map(pk, 0);
    s_expect(&frame, MSG_E_TRUNCATED, F_COUNT_);

    s_frame(&frame, MSG_K_OFFSET_LOAD, 0);
    s_expect(&frame, MSG_OK, F_COUNT_);
    //  Not an array, or not of 3
    pk = s_raw(&frame);
    msgpack_pack_map(pk, 0);
    s_expect(&frame, MSG_E_SHAPE, F_COUNT_);
    pk = s_raw(&frame);
    msgpack_pack_array(pk, 2);
    msgpack_pack_uint64(pk, MSG_K_OFFSET_LOAD);
    msgpack_pack_uint64(pk, 1);
    s_expect(&frame, MSG_E_SHAPE, F_COUNT_);
    pk = s_raw(&frame);
    msgpack_pack_array(pk, 4);
    msgpack_pack_uint64(pk, MSG_K_OFFSET_LOAD);
    msgpack_pack_uint64(pk, 1);
    msgpack_pack_map(pk, 0);
    msgpack_pack_nil(pk);
    s_expect(&frame, MSG_E_SHAPE, F_COUNT_);
    //  Kind or corr_id negative / not an int, body not a map
    for (int which = 0; which < 6; which++) {
        pk = s_raw(&frame);
        msgpack_pack_array(pk, 3);
        if (which == 0)
            msgpack_pack_int64(pk, -1);
        else if (which == 1)
            s_str(pk, "ok", 2);
        else
            msgpack_pack_uint64(pk, MSG_K_OFFSET_LOAD);
        if (which == 2)
            msgpack_pack_int64(pk, -42);
        else if (which == 3)
            msgpack_pack_double(pk, 1.0);
        else
            msgpack_pack_uint64(pk, 42);
        if (which == 4)
            msgpack_pack_array(pk, 0);
        else if (which == 5)
            msgpack_pack_nil(pk);
        else
            msgpack_pack_map(pk, 0);
        s_expect(&frame, MSG_E_SHAPE, F_COUNT_);
    }
    //  Non-string keys
    pk = s_frame(&frame, MSG_K_BALANCE_GET, 1);
    msgpack_pack_uint64(pk, F_USER_ID);
    msgpack_pack_int64(pk, 1);
    s_expect(&frame, MSG_E_SHAPE, F_COUNT_);
    pk = s_frame(&frame, MSG_K_BALANCE_GET, 1);
    msgpack_pack_bin_with_body(pk, "user_id", 7);
    msgpack_pack_int64(pk, 1);
    s_expect(&frame, MSG_E_SHAPE, F_COUNT_);
    //  corr_id: all 64 bits
    pk = s_raw(&frame);
    msgpack_pack_array(pk, 3);
    msgpack_pack_uint64(pk, MSG_K_OFFSET_LOAD);
    msgpack_pack_uint64(pk, UINT64_MAX);
    msgpack_pack_map(pk, 0);
    msg_t *msg = msg_decode((uint8_t *)frame.sbuf.data, frame.sbuf.size, NULL, NULL);
    assert_non_null(msg);
    assert_true(msg_corr(msg) == UINT64_MAX);
    msg_destroy(&msg);
    msgpack_sbuffer_destroy(&frame.sbuf);
}

static void test_decode_kind(void **state) {
    (void)state;
    frame_t frame;
    uint64_t bad[] = {0, MSG_K_COUNT_, 1000, UINT64_MAX, MSG_K_JOB_ROW, MSG_K_ENTRY_ROW};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        s_frame(&frame, bad[i], 0);
        s_expect(&frame, MSG_E_UNKNOWN_KIND, F_COUNT_);
    }
    //  A complete job row sent as a top-level message is still refused
    msg_t *list = msg_new(MSG_K_JOB_LIST, 1);
    s_fill(msg_add_row(list, F_JOBS), 1, false, 0);
    uint8_t *data;
    size_t size;
    assert_int_equal(msg_encode(list, &data, &size), 0);
    data[1] = MSG_K_JOB_ROW; //  fixint kind, body stays a job_list body
    s_expect_bytes(data, size, MSG_E_UNKNOWN_KIND, F_COUNT_);
    free(data);
    msg_destroy(&list);
}

static void test_decode_fields(void **state) {
    (void)state;
    frame_t frame;
    msgpack_packer *pk;
    //  Unknown name, and a name declared for another kind
    pk = s_frame(&frame, MSG_K_BALANCE_GET, 2);
    s_key(pk, "user_id");
    msgpack_pack_int64(pk, 1);
    s_key(pk, "nope");
    msgpack_pack_int64(pk, 1);
    s_expect(&frame, MSG_E_UNKNOWN_FIELD, F_COUNT_);
    pk = s_frame(&frame, MSG_K_BALANCE_GET, 2);
    s_key(pk, "user_id");
    msgpack_pack_int64(pk, 1);
    s_key(pk, "job_id");
    msgpack_pack_int64(pk, 1);
    s_expect(&frame, MSG_E_UNKNOWN_FIELD, F_JOB_ID);
    pk = s_frame(&frame, MSG_K_BALANCE_GET, 1);
    s_key(pk, "user_id_and_then_a_much_longer_tail");
    msgpack_pack_int64(pk, 1);
    s_expect(&frame, MSG_E_UNKNOWN_FIELD, F_COUNT_);
    pk = s_frame(&frame, MSG_K_BALANCE_GET, 1);
    s_key(pk, "");
    msgpack_pack_int64(pk, 1);
    s_expect(&frame, MSG_E_UNKNOWN_FIELD, F_COUNT_);
    pk = s_frame(&frame, MSG_K_BALANCE_GET, 1);
    s_str(pk, "user_id\0", 8);
    msgpack_pack_int64(pk, 1);
    s_expect(&frame, MSG_E_UNKNOWN_FIELD, F_COUNT_);
    //  Missing required
    s_frame(&frame, MSG_K_BALANCE_GET, 0);
    s_expect(&frame, MSG_E_MISSING_FIELD, F_USER_ID);
    pk = s_frame(&frame, MSG_K_JOBS_CLAIM, 1);
    s_key(pk, "max_n");
    msgpack_pack_int64(pk, 4);
    s_expect(&frame, MSG_E_MISSING_FIELD, F_KEY_ID);
    //  Duplicate
    pk = s_frame(&frame, MSG_K_BALANCE_GET, 2);
    s_key(pk, "user_id");
    msgpack_pack_int64(pk, 1);
    s_key(pk, "user_id");
    msgpack_pack_int64(pk, 1);
    s_expect(&frame, MSG_E_DUPLICATE_FIELD, F_USER_ID);
    //  Optional fields may be absent; order of keys is free
    pk = s_frame(&frame, MSG_K_USER_TOUCH, 2);
    s_key(pk, "lang");
    s_str(pk, "ru", 2);
    s_key(pk, "user_id");
    msgpack_pack_int64(pk, 7);
    s_expect(&frame, MSG_OK, F_COUNT_);
}

//  One BALANCE_GET / USER_TOUCH / ORDER / SESSION_SAVE frame whose field
//  holds what pack_value packs.
typedef void(s_pack_fn)(msgpack_packer *pk, const void *arg);

static void s_expect_value(msg_field_t field, s_pack_fn *pack_value, const void *arg,
                           msg_err_t expected) {
    frame_t frame;
    msgpack_packer *pk;
    switch (field) {
    case F_USER_ID:
        pk = s_frame(&frame, MSG_K_BALANCE_GET, 1);
        break;
    case F_LANG:
        pk = s_frame(&frame, MSG_K_USER_TOUCH, 2);
        s_key(pk, "user_id");
        msgpack_pack_int64(pk, 1);
        break;
    case F_BLOCKED:
        pk = s_frame(&frame, MSG_K_USER_BLOCKED, 2);
        s_key(pk, "user_id");
        msgpack_pack_int64(pk, 1);
        break;
    case F_JOB_IDS:
        pk = s_frame(&frame, MSG_K_ORDER, 4);
        s_key(pk, "duplicate");
        msgpack_pack_false(pk);
        s_key(pk, "balance");
        msgpack_pack_int64(pk, 1);
        s_key(pk, "held");
        msgpack_pack_int64(pk, 1);
        break;
    case F_SESSION:
        pk = s_frame(&frame, MSG_K_SESSION_SAVE, 3);
        s_key(pk, "user_id");
        msgpack_pack_int64(pk, 1);
        s_key(pk, "state");
        s_str(pk, "idle", 4);
        break;
    default:
        fail();
        return;
    }
    s_key(pk, msg_field_name(field));
    pack_value(pk, arg);
    s_expect(&frame, expected, expected == MSG_OK ? F_COUNT_ : field);
}

static void s_pack_int(msgpack_packer *pk, const void *arg) {
    msgpack_pack_int64(pk, *(const int64_t *)arg);
}
static void s_pack_uint(msgpack_packer *pk, const void *arg) {
    msgpack_pack_uint64(pk, *(const uint64_t *)arg);
}
static void s_pack_double(msgpack_packer *pk, const void *arg) {
    (void)arg;
    msgpack_pack_double(pk, 1.0);
}
static void s_pack_nil(msgpack_packer *pk, const void *arg) {
    (void)arg;
    msgpack_pack_nil(pk);
}
static void s_pack_umax(msgpack_packer *pk, const void *arg) {
    (void)arg;
    msgpack_pack_uint64(pk, UINT64_MAX);
}
static void s_pack_true(msgpack_packer *pk, const void *arg) {
    (void)arg;
    msgpack_pack_true(pk);
}
static void s_pack_cstr(msgpack_packer *pk, const void *arg) {
    s_str(pk, arg, strlen(arg));
}
static void s_pack_bin(msgpack_packer *pk, const void *arg) {
    msgpack_pack_bin_with_body(pk, arg, strlen(arg));
}
static void s_pack_ext(msgpack_packer *pk, const void *arg) {
    (void)arg;
    msgpack_pack_ext_with_body(pk, "1234", 4, 5);
}
typedef struct {
    const char *bytes;
    size_t len;
} s_span_t;
static void s_pack_span(msgpack_packer *pk, const void *arg) {
    const s_span_t *span = arg;
    s_str(pk, span->bytes, span->len);
}
static void s_pack_nstr(msgpack_packer *pk, const void *arg) {
    size_t len = *(const size_t *)arg;
    char *text = malloc(len + 1);
    memset(text, 'b', len);
    s_str(pk, text, len);
    free(text);
}
static void s_pack_nbin(msgpack_packer *pk, const void *arg) {
    size_t len = *(const size_t *)arg;
    char *data = calloc(1, len + 1);
    msgpack_pack_bin_with_body(pk, data, len);
    free(data);
}
static void s_pack_nints(msgpack_packer *pk, const void *arg) {
    size_t n = *(const size_t *)arg;
    msgpack_pack_array(pk, n);
    for (size_t i = 0; i < n; i++)
        msgpack_pack_int64(pk, -(int64_t)i);
}
//  [1, <what *arg packs>, 3]
static void s_pack_ints_with(msgpack_packer *pk, const void *arg) {
    s_pack_fn *const *middle = arg;
    msgpack_pack_array(pk, 3);
    msgpack_pack_int64(pk, 1);
    (*middle)(pk, NULL);
    msgpack_pack_int64(pk, 3);
}

static void test_decode_types(void **state) {
    (void)state;
    int64_t values[] = {0, -1, INT64_MIN, INT64_MAX, -33};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
        s_expect_value(F_USER_ID, s_pack_int, &values[i], MSG_OK);
    uint64_t over = (uint64_t)INT64_MAX + 1, top = UINT64_MAX;
    s_expect_value(F_USER_ID, s_pack_uint, &over, MSG_E_WRONG_TYPE);
    s_expect_value(F_USER_ID, s_pack_uint, &top, MSG_E_WRONG_TYPE);
    s_expect_value(F_USER_ID, s_pack_double, NULL, MSG_E_WRONG_TYPE);
    s_expect_value(F_USER_ID, s_pack_cstr, "1", MSG_E_WRONG_TYPE);
    s_expect_value(F_USER_ID, s_pack_nil, NULL, MSG_E_WRONG_TYPE);
    s_expect_value(F_USER_ID, s_pack_true, NULL, MSG_E_WRONG_TYPE);
    s_expect_value(F_USER_ID, s_pack_ext, NULL, MSG_E_WRONG_TYPE);
    //  bool
    s_expect_value(F_BLOCKED, s_pack_true, NULL, MSG_OK);
    s_expect_value(F_BLOCKED, s_pack_int, &values[0], MSG_E_WRONG_TYPE);
    s_expect_value(F_BLOCKED, s_pack_nil, NULL, MSG_E_WRONG_TYPE);
    //  str: type, UTF-8, NUL, max
    s_expect_value(F_LANG, s_pack_cstr, "", MSG_OK);
    s_expect_value(F_LANG, s_pack_cstr, "\xe6\x97\xa5\xf0\x9f\x8e\x89", MSG_OK); //  7 bytes
    s_expect_value(F_LANG, s_pack_bin, "ru", MSG_E_WRONG_TYPE);
    s_expect_value(F_LANG, s_pack_int, &values[1], MSG_E_WRONG_TYPE);
    const char *invalid[] = {
        "\xff",             //  never in UTF-8
        "a\x80",            //  lone continuation
        "\xc0\x80",         //  overlong NUL
        "\xc1\xbf",         //  overlong
        "\xe0\x80\xaf",     //  overlong
        "\xed\xa0\x80",     //  surrogate
        "\xf4\x90\x80\x80", //  over U+10FFFF
        "\xf5\x80\x80\x80", //  never in UTF-8
        "\xe2\x82",         //  cut short
        "ab\xc3",           //  cut short at the end
        "\xc3\x28",         //  bad continuation
    };
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
        s_expect_value(F_LANG, s_pack_cstr, invalid[i], MSG_E_WRONG_TYPE);
    s_span_t nul = {"r\0u", 3};
    s_expect_value(F_LANG, s_pack_span, &nul, MSG_E_WRONG_TYPE);
    //  Long strings: fast path, NUL and bad byte deep inside
    char text[MSG_MAX_TEXT];
    memset(text, 'a', sizeof(text));
    s_span_t deep = {text, sizeof(text)};
    msg_t *msg = msg_new(MSG_K_ORDER_PLACE, 1);
    assert_int_equal(msg_set_strn(msg, F_PARAMS, text, sizeof(text)), 0);
    text[9000] = 0;
    assert_int_equal(msg_set_strn(msg, F_PARAMS, text, sizeof(text)), -1);
    text[9000] = (char)0xfe;
    assert_int_equal(msg_set_strn(msg, F_PARAMS, text, sizeof(text)), -1);
    msg_destroy(&msg);
    deep.len = 8;
    s_expect_value(F_LANG, s_pack_span, &deep, MSG_OK);
    size_t n = 8;
    s_expect_value(F_LANG, s_pack_nstr, &n, MSG_OK);
    n = 9;
    s_expect_value(F_LANG, s_pack_nstr, &n, MSG_E_TOO_LONG);
    //  bin
    n = MSG_MAX_SESSION;
    s_expect_value(F_SESSION, s_pack_nbin, &n, MSG_OK);
    n = MSG_MAX_SESSION + 1;
    s_expect_value(F_SESSION, s_pack_nbin, &n, MSG_E_TOO_LONG);
    s_expect_value(F_SESSION, s_pack_cstr, "abc", MSG_E_WRONG_TYPE);
    //  ints
    n = MSG_MAX_IDS;
    s_expect_value(F_JOB_IDS, s_pack_nints, &n, MSG_OK);
    n = MSG_MAX_IDS + 1;
    s_expect_value(F_JOB_IDS, s_pack_nints, &n, MSG_E_TOO_LONG);
    s_expect_value(F_JOB_IDS, s_pack_int, &values[0], MSG_E_WRONG_TYPE);
    s_pack_fn *const middles[] = {s_pack_double, s_pack_nil, s_pack_true, s_pack_umax};
    for (size_t i = 0; i < sizeof(middles) / sizeof(middles[0]); i++)
        s_expect_value(F_JOB_IDS, s_pack_ints_with, &middles[i], MSG_E_WRONG_TYPE);
}

//  Packs a complete job row, leaving out the field named skip (if any) and
//  adding one extra key/value when extra is set.
static void s_pack_job_row(msgpack_packer *pk, const char *skip, const char *extra) {
    size_t keys = 0;
    for (int f = 0; f < F_COUNT_; f++)
        if (msg_kind_has_field(MSG_K_JOB_ROW, f, false) &&
            (!skip || strcmp(skip, msg_field_name(f))))
            keys++;
    msgpack_pack_map(pk, keys + (extra != NULL));
    for (int f = 0; f < F_COUNT_; f++) {
        if (!msg_kind_has_field(MSG_K_JOB_ROW, f, false) ||
            (skip && !strcmp(skip, msg_field_name(f))))
            continue;
        s_key(pk, msg_field_name(f));
        if (msg_field_type(f) == MT_INT)
            msgpack_pack_int64(pk, 3);
        else
            s_str(pk, "s", 1);
    }
    if (extra) {
        s_key(pk, extra);
        msgpack_pack_int64(pk, 1);
    }
}

static void test_decode_rows(void **state) {
    (void)state;
    frame_t frame;
    msgpack_packer *pk;
    //  Good rows
    pk = s_frame(&frame, MSG_K_JOB_LIST, 1);
    s_key(pk, "jobs");
    msgpack_pack_array(pk, 2);
    s_pack_job_row(pk, NULL, NULL);
    s_pack_job_row(pk, NULL, "progress");
    s_expect(&frame, MSG_OK, F_COUNT_);
    //  A row missing job_id
    pk = s_frame(&frame, MSG_K_JOB_LIST, 1);
    s_key(pk, "jobs");
    msgpack_pack_array(pk, 2);
    s_pack_job_row(pk, NULL, NULL);
    s_pack_job_row(pk, "job_id", NULL);
    s_expect(&frame, MSG_E_MISSING_FIELD, F_JOB_ID);
    //  A row with a field of another kind, a duplicate, a wrong type
    pk = s_frame(&frame, MSG_K_JOB_LIST, 1);
    s_key(pk, "jobs");
    msgpack_pack_array(pk, 1);
    s_pack_job_row(pk, NULL, "code");
    s_expect(&frame, MSG_E_UNKNOWN_FIELD, F_CODE);
    pk = s_frame(&frame, MSG_K_JOB_LIST, 1);
    s_key(pk, "jobs");
    msgpack_pack_array(pk, 1);
    s_pack_job_row(pk, NULL, "job_id");
    s_expect(&frame, MSG_E_DUPLICATE_FIELD, F_JOB_ID);
    pk = s_frame(&frame, MSG_K_JOB_LIST, 1);
    s_key(pk, "jobs");
    msgpack_pack_array(pk, 1);
    s_pack_job_row(pk, NULL, "model"); //  an int where a str goes, after a dup check
    s_expect(&frame, MSG_E_DUPLICATE_FIELD, F_MODEL);
    pk = s_frame(&frame, MSG_K_JOB_LIST, 1);
    s_key(pk, "jobs");
    msgpack_pack_array(pk, 1);
    s_pack_job_row(pk, "model", "model");
    s_expect(&frame, MSG_E_WRONG_TYPE, F_MODEL);
    //  A row that is not a map, a list that is not an array
    pk = s_frame(&frame, MSG_K_JOB_LIST, 1);
    s_key(pk, "jobs");
    msgpack_pack_array(pk, 1);
    msgpack_pack_array(pk, 0);
    s_expect(&frame, MSG_E_WRONG_TYPE, F_JOBS);
    pk = s_frame(&frame, MSG_K_JOB_LIST, 1);
    s_key(pk, "jobs");
    msgpack_pack_map(pk, 0);
    s_expect(&frame, MSG_E_WRONG_TYPE, F_JOBS);
    //  Empty list, a list at the max, one over
    pk = s_frame(&frame, MSG_K_JOB_LIST, 1);
    s_key(pk, "jobs");
    msgpack_pack_array(pk, 0);
    s_expect(&frame, MSG_OK, F_COUNT_);
    pk = s_frame(&frame, MSG_K_JOB_LIST, 1);
    s_key(pk, "jobs");
    msgpack_pack_array(pk, MSG_MAX_ROWS);
    for (int i = 0; i < MSG_MAX_ROWS; i++)
        s_pack_job_row(pk, NULL, NULL);
    s_expect(&frame, MSG_OK, F_COUNT_);
    pk = s_frame(&frame, MSG_K_JOB_LIST, 1);
    s_key(pk, "jobs");
    msgpack_pack_array(pk, MSG_MAX_ROWS + 1);
    for (int i = 0; i < MSG_MAX_ROWS + 1; i++)
        s_pack_job_row(pk, NULL, NULL);
    s_expect(&frame, MSG_E_TOO_LONG, F_JOBS);
    //  A missing list
    s_frame(&frame, MSG_K_ENTRY_LIST, 0);
    if (msg_kind_has_field(MSG_K_ENTRY_LIST, F_ENTRIES, false))
        s_expect(&frame, MSG_E_MISSING_FIELD, F_ENTRIES);
    else
        s_expect(&frame, MSG_OK, F_COUNT_);
}

static void test_decode_hostile_sizes(void **state) {
    (void)state;
    //  Frames over the max, whatever they hold
    size_t size = MSG_MAX_FRAME + 1;
    uint8_t *big = calloc(1, size);
    s_expect_bytes(big, size, MSG_E_TOO_BIG, F_COUNT_);
    s_expect_bytes(big, MSG_MAX_FRAME, MSG_E_TRUNCATED, F_COUNT_); //  0x00: trailing bytes
    //  Headers claiming billions of items / bytes must not allocate them
#define S_SPAN(literal)                                                                            \
    { literal, sizeof(literal) - 1 }
    const s_span_t claims[] = {
        S_SPAN("\x93\x01\x00\xdf\xff\xff\xff\xff"),
        S_SPAN("\x93\x01\x00\xdd\xff\xff\xff\xff"),
        S_SPAN("\xdd\xff\xff\xff\xff\x01\x00\x80"),
        S_SPAN("\x93\x0b\x00\x81\xa4jobs\xdd\xff\xff\xff\xf0"),
        S_SPAN("\x93\x0b\x00\x81\xa4lang\xdb\xff\xff\xff\xf0"),
        S_SPAN("\x93\x0b\x00\x81\xa4lang\xc6\xff\xff\xff\xf0"),
        S_SPAN("\x93\x0b\x00\x81\xa4lang\xc9\xff\xff\xff\xf0\x01"),
    };
    for (size_t i = 0; i < sizeof(claims) / sizeof(claims[0]); i++)
        s_expect_bytes(claims[i].bytes, claims[i].len, MSG_E_TRUNCATED, F_COUNT_);
    //  Deep nesting: an error, not a crash
    size_t depth = 200000;
    memcpy(big, "\x93\x01\x00\x81\xa7user_id", 12);
    memset(big + 12, 0x91, depth);
    big[12 + depth] = 0;
    msg_err_t err;
    assert_null(msg_decode(big, 13 + depth, &err, NULL));
    assert_int_not_equal(err, MSG_OK);
    free(big);
}

static msg_t *s_sample(int which) {
    msg_t *msg;
    switch (which % 3) {
    case 0:
        msg = msg_new(MSG_K_ORDER_PLACE, 77);
        s_fill(msg, 5, false, 0);
        break;
    case 1:
        msg = msg_new(MSG_K_JOB_LIST, 78);
        s_fill(msg, 6, false, 2);
        break;
    default:
        msg = msg_new(MSG_K_ENTRY_LIST, 79);
        s_fill(msg, 7, false, 2);
        break;
    }
    return msg;
}

static void test_truncation(void **state) {
    (void)state;
    for (int which = 0; which < 3; which++) {
        msg_t *msg = s_sample(which);
        uint8_t *data;
        size_t size;
        assert_int_equal(msg_encode(msg, &data, &size), 0);
        msg_destroy(&msg);
        for (size_t len = 0; len < size; len++) {
            //  A private copy of each prefix so ASan sees any overread
            uint8_t *prefix = malloc(len ? len : 1);
            memcpy(prefix, data, len);
            msg_err_t err = MSG_OK;
            assert_null(msg_decode(prefix, len, &err, NULL));
            assert_int_not_equal(err, MSG_OK);
            free(prefix);
        }
        uint8_t *longer = malloc(size + 1);
        memcpy(longer, data, size);
        longer[size] = 0xc0;
        s_expect_bytes(longer, size + 1, MSG_E_TRUNCATED, F_COUNT_);
        free(longer);
        free(data);
    }
}

static uint64_t s_rand_state = 0x9e3779b97f4a7c15ull;
static uint64_t s_rand(void) {
    s_rand_state ^= s_rand_state >> 12;
    s_rand_state ^= s_rand_state << 25;
    s_rand_state ^= s_rand_state >> 27;
    return s_rand_state * 0x2545f4914f6cdd1dull;
}

static void test_fuzz(void **state) {
    (void)state;
    static const uint8_t interesting[] = {0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0,
                                          0xc1, 0xc2, 0xc3, 0xc4, 0xc6, 0xc9, 0xcb, 0xcf, 0xd3,
                                          0xd8, 0xd9, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff};
    uint8_t *samples[3];
    size_t sizes[3];
    for (int i = 0; i < 3; i++) {
        msg_t *msg = s_sample(i);
        assert_int_equal(msg_encode(msg, &samples[i], &sizes[i]), 0);
        msg_destroy(&msg);
    }
    const char *scale = getenv("GENBOT_TEST_SCALE");
    size_t rounds = 200000 / (scale && atoi(scale) > 1 ? (size_t)atoi(scale) : 1);
    size_t decoded = 0;
    uint8_t *buf = malloc(4096);
    for (size_t round = 0; round < rounds; round++) {
        size_t size;
        if (round % 8 == 0) {
            //  Random bytes, often starting like a frame
            size = s_rand() % 48;
            for (size_t i = 0; i < size; i++)
                buf[i] = (uint8_t)s_rand();
            if (size && s_rand() % 2) buf[0] = 0x93;
        } else {
            int which = (int)(s_rand() % 3);
            size = sizes[which];
            assert_true(size + 64 < 4096);
            memcpy(buf, samples[which], size);
            size_t edits = 1 + s_rand() % 4;
            for (size_t e = 0; e < edits; e++) {
                if (size == 0) break;
                size_t at = s_rand() % size;
                switch (s_rand() % 6) {
                case 0:
                    buf[at] ^= (uint8_t)(1u << (s_rand() % 8));
                    break;
                case 1:
                    buf[at] = (uint8_t)s_rand();
                    break;
                case 2:
                    buf[at] = interesting[s_rand() % sizeof(interesting)];
                    break;
                case 3: //  insert a byte
                    memmove(buf + at + 1, buf + at, size - at);
                    buf[at] = interesting[s_rand() % sizeof(interesting)];
                    size++;
                    break;
                case 4: //  delete a byte
                    memmove(buf + at, buf + at + 1, size - at - 1);
                    size--;
                    break;
                default:
                    size = at;
                    break; //  cut
                }
            }
        }
        //  Decode from an exact-size copy so ASan catches any overread
        uint8_t *frame = malloc(size ? size : 1);
        memcpy(frame, buf, size);
        msg_err_t err = MSG_E_SHAPE;
        msg_field_t field = F_USER_ID;
        msg_t *msg = msg_decode(frame, size, &err, &field);
        free(frame);
        assert_true(err >= MSG_OK && err <= MSG_E_TOO_BIG);
        assert_true((unsigned)field <= F_COUNT_);
        if (msg) {
            //  What decodes, encodes and decodes again to the same
            decoded++;
            assert_int_equal(err, MSG_OK);
            uint8_t *data;
            size_t data_size;
            assert_int_equal(msg_encode(msg, &data, &data_size), 0);
            msg_t *again = msg_decode(data, data_size, &err, NULL);
            assert_non_null(again);
            s_assert_equal(msg, again);
            msg_destroy(&again);
            free(data);
            msg_destroy(&msg);
        } else
            assert_int_not_equal(err, MSG_OK);
    }
    assert_true(decoded > 0); //  the fuzz also explores valid frames
    free(buf);
    for (int i = 0; i < 3; i++)
        free(samples[i]);
}

static void test_docs_current(void **state) {
    (void)state;
    char *generated = NULL;
    size_t generated_size = 0;
    FILE *out = open_memstream(&generated, &generated_size);
    assert_non_null(out);
    msg_print_docs(out);
    fclose(out);
    FILE *file = fopen("docs/messages.md", "rb");
    if (!file) fail_msg("docs/messages.md missing (run from the repo root)");
    char *stored = malloc(generated_size + 2);
    size_t stored_size = fread(stored, 1, generated_size + 1, file);
    fclose(file);
    stored[stored_size] = 0;
    if (stored_size != generated_size || memcmp(stored, generated, generated_size))
        fail_msg("docs/messages.md is stale: regenerate it with msg_print_docs()");
    assert_non_null(strstr(generated, "| `order_place` |"));
    assert_non_null(strstr(generated, "| `jobs` | list of `job_row` | 200 |"));
    free(stored);
    free(generated);
}

static void test_sockets(void **state) {
    (void)state;
    zsock_t *server = zsock_new_router("inproc://test-msg");
    zsock_t *client = zsock_new_dealer("inproc://test-msg");
    assert_non_null(server);
    assert_non_null(client);
    zsock_set_rcvtimeo(server, 2000);
    zsock_set_rcvtimeo(client, 2000);

    msg_t *request = msg_new(MSG_K_BALANCE_GET, 5);
    msg_set_int(request, F_USER_ID, 1234);
    assert_int_equal(msg_send(&request, client), 0);
    assert_null(request);

    zframe_t *routing_id = zframe_recv(server);
    assert_non_null(routing_id);
    msg_err_t err = MSG_E_SHAPE;
    msg_t *got = msg_recv(server, &err);
    assert_non_null(got);
    assert_int_equal(err, MSG_OK);
    assert_int_equal(msg_kind(got), MSG_K_BALANCE_GET);
    assert_true(msg_int(got, F_USER_ID) == 1234);
    //  Two replies with the same routing id: the caller keeps it
    for (int i = 0; i < 2; i++) {
        msg_t *reply = msg_new(MSG_K_USER, msg_corr(got));
        msg_set_int(reply, F_USER_ID, 1234);
        msg_set_int(reply, F_BALANCE, 10 + i);
        msg_set_int(reply, F_HELD, 0);
        assert_int_equal(msg_send_to(&reply, server, routing_id), 0);
        assert_null(reply);
    }
    msg_destroy(&got);
    for (int i = 0; i < 2; i++) {
        got = msg_recv(client, &err);
        assert_non_null(got);
        assert_true(msg_corr(got) == 5);
        assert_true(msg_int(got, F_BALANCE) == 10 + i);
        msg_destroy(&got);
    }
    //  A message that cannot be encoded is destroyed and nothing is sent
    msg_t *incomplete = msg_new(MSG_K_BALANCE_GET, 6);
    assert_int_equal(msg_send_to(&incomplete, server, routing_id), -1);
    assert_null(incomplete);
    zframe_destroy(&routing_id);

    //  A malformed frame, then two frames where one is expected, then a good one
    zstr_send(client, "not msgpack");
    zstr_sendm(client, "two");
    zstr_send(client, "frames");
    msg_t *good = msg_new(MSG_K_OFFSET_LOAD, 9);
    assert_int_equal(msg_send(&good, client), 0);
    routing_id = zframe_recv(server);
    assert_null(msg_recv(server, &err));
    assert_int_equal(err, MSG_E_TRUNCATED);
    zframe_destroy(&routing_id);
    routing_id = zframe_recv(server);
    assert_null(msg_recv(server, &err));
    assert_int_equal(err, MSG_E_SHAPE);
    zframe_destroy(&routing_id);
    routing_id = zframe_recv(server);
    got = msg_recv(server, &err);
    assert_non_null(got);
    assert_true(msg_corr(got) == 9);
    msg_destroy(&got);
    zframe_destroy(&routing_id);
    //  Nothing to receive: NULL and MSG_OK
    zsock_set_rcvtimeo(client, 10);
    err = MSG_E_SHAPE;
    assert_null(msg_recv(client, &err));
    assert_int_equal(err, MSG_OK);
    zsock_destroy(&client);
    zsock_destroy(&server);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tables),
        cmocka_unit_test(test_round_trip_every_kind),
        cmocka_unit_test(test_round_trip_required_only),
        cmocka_unit_test(test_getters_absent),
        cmocka_unit_test(test_setters),
        cmocka_unit_test(test_encode_failures),
        cmocka_unit_test(test_decode_shape),
        cmocka_unit_test(test_decode_kind),
        cmocka_unit_test(test_decode_fields),
        cmocka_unit_test(test_decode_types),
        cmocka_unit_test(test_decode_rows),
        cmocka_unit_test(test_decode_hostile_sizes),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_fuzz),
        cmocka_unit_test(test_docs_current),
        cmocka_unit_test(test_sockets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
