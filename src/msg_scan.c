/*  msg_scan.c — the codec's checks on raw bytes: the pre-scan of a frame
    before msgpack-c sees it, and the UTF-8 validation of strings.

    Decoding hands the frame to msgpack-c (msg.c). A pre-scan walks the raw
    bytes first because msgpack-c allocates an array or map as soon as it reads
    the header: five bytes claiming 2^32 items make it ask for 96 GB. The scan
    rejects any container that claims more items than bytes are left, which
    also bounds msgpack-c's object tree to 24 bytes per frame byte.
*/
#include "msg_internal.h"

#include <string.h>

static uint64_t s_read_be(const uint8_t *p, size_t n) {
    uint64_t value = 0;
    for (size_t i = 0; i < n; i++)
        value = value << 8 | p[i];
    return value;
}

//  The msgpack formats c0..df, for msgi_scan.
enum { S_PLAIN, S_BYTES, S_EXT, S_ARRAY, S_MAP, S_INVALID };
typedef struct {
    uint8_t len_bytes; //  bytes of the length that follows the type byte
    uint8_t fixed;     //  payload bytes when there is no length
    uint8_t what;
} s_format_t;

static const s_format_t s_formats[] = {
    {0, 0, S_PLAIN},  {0, 0, S_INVALID}, {0, 0, S_PLAIN}, {0, 0, S_PLAIN}, //  nil, -, bool
    {1, 0, S_BYTES},  {2, 0, S_BYTES},   {4, 0, S_BYTES},                  //  bin 8/16/32
    {1, 0, S_EXT},    {2, 0, S_EXT},     {4, 0, S_EXT},                    //  ext 8/16/32
    {0, 4, S_PLAIN},  {0, 8, S_PLAIN},                                     //  float 32/64
    {0, 1, S_PLAIN},  {0, 2, S_PLAIN},   {0, 4, S_PLAIN}, {0, 8, S_PLAIN}, //  uint
    {0, 1, S_PLAIN},  {0, 2, S_PLAIN},   {0, 4, S_PLAIN}, {0, 8, S_PLAIN}, //  int
    {0, 2, S_PLAIN},  {0, 3, S_PLAIN},   {0, 5, S_PLAIN}, {0, 9, S_PLAIN}, //  fixext
    {0, 17, S_PLAIN},                                                      //  fixext 16
    {1, 0, S_BYTES},  {2, 0, S_BYTES},   {4, 0, S_BYTES},                  //  str 8/16/32
    {2, 0, S_ARRAY},  {4, 0, S_ARRAY},   {2, 0, S_MAP},   {4, 0, S_MAP},   //  array, map
};

_Static_assert(sizeof(s_formats) / sizeof(s_formats[0]) == 32, "one row per format c0..df");

//  Checks that data is exactly one complete msgpack object and that no
//  container claims more items than bytes are left (each item takes one).
msg_err_t msgi_scan(const uint8_t *data, size_t size) {
    const uint8_t *p = data, *end = data + size;
    uint64_t pending = 1; //  objects still to read
    while (pending) {
        if (pending > (uint64_t)(end - p)) return MSG_E_TRUNCATED;
        pending--;
        uint8_t byte = *p++;
        size_t left = (size_t)(end - p);
        uint64_t skip = 0, items = 0;
        if (byte <= 0x7f || byte >= 0xe0)
            continue; //  fixint
        else if (byte <= 0x8f)
            items = 2 * (uint64_t)(byte & 0x0f);
        else if (byte <= 0x9f)
            items = byte & 0x0f;
        else if (byte <= 0xbf)
            skip = byte & 0x1f;
        else {
            //  c0..df: a length of len_bytes bytes follows, or fixed bytes
            const s_format_t *format = &s_formats[byte & 0x1f];
            if (format->what == S_INVALID) return MSG_E_TRUNCATED; //  c1: not msgpack
            if (format->len_bytes > left) return MSG_E_TRUNCATED;
            uint64_t len = s_read_be(p, format->len_bytes);
            p += format->len_bytes;
            left -= format->len_bytes;
            skip = format->what == S_BYTES ? len : format->what == S_EXT ? len + 1 : format->fixed;
            items = format->what == S_ARRAY ? len : format->what == S_MAP ? 2 * len : 0;
        }
        if (skip > left || items > left) return MSG_E_TRUNCATED;
        p += skip;
        pending += items;
    }
    return p == end ? MSG_OK : MSG_E_TRUNCATED;
}

//  Valid UTF-8 (no overlongs, surrogates or code points over U+10FFFF) and
//  no NUL byte: msg_str hands out C strings.
bool msgi_utf8_valid(const char *text, size_t len) {
    const uint8_t *s = (const uint8_t *)text;
    size_t i = 0;
    while (i < len) {
        if (len - i >= 8) {
            uint64_t word;
            memcpy(&word, s + i, 8);
            uint64_t zero = (word - 0x0101010101010101ull) & ~word & 0x8080808080808080ull;
            if (!((word & 0x8080808080808080ull) | zero)) {
                i += 8;
                continue;
            }
        }
        uint8_t c = s[i];
        if (c < 0x80) {
            if (c == 0) return false;
            i++;
            continue;
        }
        size_t n;
        uint32_t cp, min;
        if (c >= 0xc2 && c <= 0xdf)
            n = 1, cp = c & 0x1f, min = 0x80;
        else if ((c & 0xf0) == 0xe0)
            n = 2, cp = c & 0x0f, min = 0x800;
        else if (c >= 0xf0 && c <= 0xf4)
            n = 3, cp = c & 0x07, min = 0x10000;
        else
            return false;
        if (len - i <= n) return false;
        for (size_t j = 1; j <= n; j++) {
            if ((s[i + j] & 0xc0) != 0x80) return false;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += n + 1;
    }
    return true;
}
