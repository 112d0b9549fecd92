/*  kiesim_callback.c — tasks finishing on their own, and KIE's callbacks:
    one POST to a task's callBackUrl when it finishes, from one thread,
    best effort (one attempt, no retry: KIE's retry policy is undocumented),
    optionally signed.

    Finish times are fixed at creation, so every task that will finish sits
    in a min-heap by finish time. ks_settle pops the ones due at now, does
    the bookkeeping of their end (failed ones refunded) and queues their
    callbacks; the thread settles every few ms (the clock may be a test's,
    moved by hand) and sends what is queued. Credit calls and inspection
    settle first too, so balances never lag behind the clock.

    Also here: SHA-256 and HMAC-SHA256 (FIPS 180-4, RFC 2104; libcrypto is
    not on genbot's link line) and base64, which uploads use too.
*/
#define _GNU_SOURCE //  asprintf
#include "kiesim_internal.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WAKE_MS         5
#define SHA256_BLOCK    64
#define SHA256_DIGEST   32
#define SIGNATURE_CHARS 44 //  base64 of a SHA-256 digest

typedef struct {
    uint32_t state[8];
    uint64_t length; //  bytes hashed so far
    unsigned char block[SHA256_BLOCK];
    size_t used;
} sha256_t;

static void *s_callback_thread(void *arg);
static int s_post(kiesim_t *self, CURL *curl, const char *url, const char *body,
                  const char *timestamp, const char *signature);
static size_t s_discard(char *data, size_t size, size_t count, void *arg);
static void s_deadline(struct timespec *ts, int64_t ms);
static void s_sha256_init(sha256_t *sha);
static void s_sha256_update(sha256_t *sha, const unsigned char *data, size_t size);
static void s_sha256_final(sha256_t *sha, unsigned char digest[SHA256_DIGEST]);
static void s_sha256_block(sha256_t *sha, const unsigned char *block);
static void s_hmac_sha256(const char *key, const char *message, unsigned char mac[SHA256_DIGEST]);

//  --------------------------------------------------------------------------

int ks_callback_start(kiesim_t *self) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (pthread_create(&self->callback_thread, NULL, s_callback_thread, self) != 0) {
        curl_global_cleanup();
        return -1;
    }
    self->callback_started = true;
    return 0;
}

void ks_callback_stop(kiesim_t *self) {
    if (!self->callback_started) return;
    pthread_mutex_lock(&self->lock);
    self->stopping = true;
    pthread_cond_broadcast(&self->callback_wake);
    pthread_mutex_unlock(&self->lock);
    pthread_join(self->callback_thread, NULL);
    self->callback_started = false;
    curl_global_cleanup();
}

void ks_finish_schedule(kiesim_t *self, ks_task_t *task) {
    if (ks_grow(&self->due, &self->due_alloc, self->due_count, sizeof *self->due))
        return; //  then it is settled when polled, as before
    size_t at = self->due_count++;
    ks_due_t item = {task->created + task->duration, task};
    while (at > 0 && self->due[(at - 1) / 2].due > item.due) {
        self->due[at] = self->due[(at - 1) / 2];
        at = (at - 1) / 2;
    }
    self->due[at] = item;
}

void ks_settle(kiesim_t *self, int64_t now) {
    while (self->due_count && self->due[0].due <= now) {
        ks_task_t *task = self->due[0].task;
        ks_due_t last = self->due[--self->due_count];
        size_t at = 0;
        while (2 * at + 1 < self->due_count) {
            size_t child = 2 * at + 1;
            if (child + 1 < self->due_count && self->due[child + 1].due < self->due[child].due)
                child++;
            if (last.due <= self->due[child].due) break;
            self->due[at] = self->due[child];
            at = child;
        }
        if (self->due_count) self->due[at] = last;
        ks_task_eval(self, task, now, NULL);
        if (task->callback_url &&
            ks_grow(&self->outbox, &self->outbox_alloc, self->outbox_count, sizeof task) == 0)
            self->outbox[self->outbox_count++] = task;
    }
}

int kiesim_flush_callbacks(kiesim_t *self, int timeout_ms) {
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int rc = 0;
    pthread_mutex_lock(&self->lock);
    ks_settle(self, ks_now(self));
    while (self->callback_busy || self->outbox_head < self->outbox_count) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 >=
            timeout_ms) {
            rc = -1;
            break;
        }
        pthread_cond_signal(&self->callback_wake);
        struct timespec slice;
        s_deadline(&slice, WAKE_MS);
        pthread_cond_timedwait(&self->callback_done, &self->lock, &slice);
    }
    pthread_mutex_unlock(&self->lock);
    return rc;
}

char *kiesim_webhook_signature(const char *hmac_key, const char *task_id, const char *timestamp,
                               char *out, size_t size) {
    char *message = NULL;
    if (size == 0) return out;
    out[0] = '\0';
    if (asprintf(&message, "%s.%s", task_id, timestamp) < 0) return out;
    unsigned char mac[SHA256_DIGEST];
    s_hmac_sha256(hmac_key, message, mac);
    free(message);
    ks_base64_encode(mac, sizeof mac, out, size);
    return out;
}

size_t ks_base64_encode(const unsigned char *data, size_t size, char *out, size_t out_size) {
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t needed = (size + 2) / 3 * 4;
    if (out_size < needed + 1) {
        if (out_size) out[0] = '\0';
        return 0;
    }
    size_t n = 0;
    for (size_t i = 0; i < size; i += 3) {
        uint32_t group = (uint32_t)data[i] << 16;
        if (i + 1 < size) group |= (uint32_t)data[i + 1] << 8;
        if (i + 2 < size) group |= data[i + 2];
        out[n++] = alphabet[(group >> 18) & 63];
        out[n++] = alphabet[(group >> 12) & 63];
        out[n++] = i + 1 < size ? alphabet[(group >> 6) & 63] : '=';
        out[n++] = i + 2 < size ? alphabet[group & 63] : '=';
    }
    out[n] = '\0';
    return n;
}

unsigned char *ks_base64_decode(const char *text, size_t length, size_t *size_p) {
    unsigned char *out = malloc(length / 4 * 3 + 3);
    if (!out) return NULL;
    uint32_t group = 0;
    size_t bits = 0;
    size_t n = 0;
    size_t padding = 0;
    for (size_t i = 0; i < length; i++) {
        char c = text[i];
        int value;
        if (c >= 'A' && c <= 'Z')
            value = c - 'A';
        else if (c >= 'a' && c <= 'z')
            value = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            value = c - '0' + 52;
        else if (c == '+' || c == '-')
            value = 62;
        else if (c == '/' || c == '_')
            value = 63;
        else if (c == '=') {
            padding++;
            continue;
        } else if (c == '\r' || c == '\n' || c == ' ')
            continue;
        else {
            free(out);
            return NULL;
        }
        if (padding) { //  data after '='
            free(out);
            return NULL;
        }
        group = (group << 6) | (uint32_t)value;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(group >> bits);
        }
    }
    if (padding > 2 || bits >= 6) {
        free(out);
        return NULL;
    }
    *size_p = n;
    return out;
}

//  --------------------------------------------------------------------------

static void *s_callback_thread(void *arg) {
    kiesim_t *self = arg;
    CURL *curl = curl_easy_init();
    pthread_mutex_lock(&self->lock);
    while (!self->stopping) {
        int64_t now = ks_now(self);
        ks_settle(self, now);
        if (self->outbox_head == self->outbox_count) {
            self->outbox_head = self->outbox_count = 0;
            struct timespec wake;
            s_deadline(&wake, WAKE_MS);
            pthread_cond_timedwait(&self->callback_wake, &self->lock, &wake);
            continue;
        }
        ks_task_t *task = self->outbox[self->outbox_head++];
        bool success = ks_task_eval(self, task, now, NULL) == KIESIM_STATE_SUCCESS;
        json_t *body = json_pack("{s:i, s:s, s:o}", "code", success ? 200 : 501, "msg",
                                 success ? "Playground task completed successfully."
                                         : "Playground task failed.",
                                 "data", ks_task_record(self, task, now, true));
        char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
        json_decref(body);
        char *url = strdup(task->callback_url);
        char timestamp[24];
        char signature[SIGNATURE_CHARS + 1] = "";
        snprintf(timestamp, sizeof timestamp, "%lld", (long long)(ks_unix_ms(self, now) / 1000));
        if (self->hmac_key)
            kiesim_webhook_signature(self->hmac_key, task->id, timestamp, signature,
                                     sizeof signature);
        self->callback_busy = true;
        pthread_mutex_unlock(&self->lock);

        int rc = curl && text && url
                     ? s_post(self, curl, url, text, timestamp, signature[0] ? signature : NULL)
                     : -1;
        free(text);
        free(url);

        pthread_mutex_lock(&self->lock);
        self->callback_busy = false;
        if (rc == 0)
            self->stats.callbacks_sent++;
        else
            self->stats.callbacks_failed++;
        pthread_cond_broadcast(&self->callback_done);
    }
    pthread_mutex_unlock(&self->lock);
    if (curl) curl_easy_cleanup(curl);
    return NULL;
}

//  0 when the receiver answered 2xx.
static int s_post(kiesim_t *self, CURL *curl, const char *url, const char *body,
                  const char *timestamp, const char *signature) {
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    char line[128];
    if (signature) {
        snprintf(line, sizeof line, "X-Webhook-Timestamp: %s", timestamp);
        headers = curl_slist_append(headers, line);
        snprintf(line, sizeof line, "X-Webhook-Signature: %s", signature);
        headers = curl_slist_append(headers, line);
    }
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)self->callback_timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, s_discard);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    long status = 0;
    CURLcode rc = curl_easy_perform(curl);
    if (rc == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    return rc == CURLE_OK && status >= 200 && status < 300 ? 0 : -1;
}

static size_t s_discard(char *data, size_t size, size_t count, void *arg) {
    (void)data;
    (void)arg;
    return size * count;
}

//  Now + ms on CLOCK_REALTIME (what pthread_cond_timedwait measures).
static void s_deadline(struct timespec *ts, int64_t ms) {
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

//  --------------------------------------------------------------------------
//  SHA-256 (FIPS 180-4) and HMAC (RFC 2104).

static const uint32_t s_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void s_sha256_init(sha256_t *sha) {
    static const uint32_t initial[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                        0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(sha->state, initial, sizeof initial);
    sha->length = 0;
    sha->used = 0;
}

static void s_sha256_update(sha256_t *sha, const unsigned char *data, size_t size) {
    sha->length += size;
    while (size > 0) {
        size_t n = SHA256_BLOCK - sha->used < size ? SHA256_BLOCK - sha->used : size;
        memcpy(sha->block + sha->used, data, n);
        sha->used += n;
        data += n;
        size -= n;
        if (sha->used == SHA256_BLOCK) {
            s_sha256_block(sha, sha->block);
            sha->used = 0;
        }
    }
}

static void s_sha256_final(sha256_t *sha, unsigned char digest[SHA256_DIGEST]) {
    uint64_t bits = sha->length * 8;
    unsigned char pad = 0x80;
    s_sha256_update(sha, &pad, 1);
    pad = 0;
    while (sha->used != SHA256_BLOCK - 8)
        s_sha256_update(sha, &pad, 1);
    unsigned char length[8];
    for (int i = 0; i < 8; i++)
        length[i] = (unsigned char)(bits >> (56 - 8 * i));
    s_sha256_update(sha, length, 8);
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 4; j++)
            digest[4 * i + j] = (unsigned char)(sha->state[i] >> (24 - 8 * j));
}

static void s_sha256_block(sha256_t *sha, const unsigned char *block) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)block[4 * i] << 24 | (uint32_t)block[4 * i + 1] << 16 |
               (uint32_t)block[4 * i + 2] << 8 | block[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROTR(w[i - 15], 7) ^ ROTR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROTR(w[i - 2], 17) ^ ROTR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = sha->state[0], b = sha->state[1], c = sha->state[2], d = sha->state[3];
    uint32_t e = sha->state[4], f = sha->state[5], g = sha->state[6], h = sha->state[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 =
            h + (ROTR(e, 6) ^ ROTR(e, 11) ^ ROTR(e, 25)) + ((e & f) ^ (~e & g)) + s_k[i] + w[i];
        uint32_t t2 = (ROTR(a, 2) ^ ROTR(a, 13) ^ ROTR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    sha->state[0] += a;
    sha->state[1] += b;
    sha->state[2] += c;
    sha->state[3] += d;
    sha->state[4] += e;
    sha->state[5] += f;
    sha->state[6] += g;
    sha->state[7] += h;
}

static void s_hmac_sha256(const char *key, const char *message, unsigned char mac[SHA256_DIGEST]) {
    unsigned char block[SHA256_BLOCK] = {0};
    size_t key_length = strlen(key);
    sha256_t sha;
    if (key_length > SHA256_BLOCK) {
        s_sha256_init(&sha);
        s_sha256_update(&sha, (const unsigned char *)key, key_length);
        s_sha256_final(&sha, block);
    } else
        memcpy(block, key, key_length);
    unsigned char pad[SHA256_BLOCK];
    unsigned char inner[SHA256_DIGEST];
    for (int i = 0; i < SHA256_BLOCK; i++)
        pad[i] = block[i] ^ 0x36;
    s_sha256_init(&sha);
    s_sha256_update(&sha, pad, sizeof pad);
    s_sha256_update(&sha, (const unsigned char *)message, strlen(message));
    s_sha256_final(&sha, inner);
    for (int i = 0; i < SHA256_BLOCK; i++)
        pad[i] = block[i] ^ 0x5c;
    s_sha256_init(&sha);
    s_sha256_update(&sha, pad, sizeof pad);
    s_sha256_update(&sha, inner, sizeof inner);
    s_sha256_final(&sha, mac);
}
