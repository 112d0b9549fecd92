/*  backoff.c — retry delays, key cooldowns, poll schedule, token bucket.

    Everything here is arithmetic on values the caller passes; see backoff.h
    for the formulas. Integer overflow is the one hazard: doublings stop at
    the cap before they can overflow, and the bucket clamps elapsed time to
    what fills it.
*/
#include "backoff.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>

struct bucket_s {
    //  Fixed point: one token is period_ms units and every millisecond adds
    //  rate units, so refilling is exact integer arithmetic.
    int64_t rate;
    int64_t period_ms;
    int64_t burst;
    int64_t level;   //  units, 0..burst * period_ms
    int64_t last_ms; //  the latest now_ms seen
};

static int64_t s_doubled(int64_t base, int64_t doublings, int64_t cap);
static int64_t s_level_at(const bucket_t *self, int64_t now_ms);
static uint64_t s_elapsed(int64_t from_ms, int64_t to_ms);

//  --------------------------------------------------------------------------

int64_t backoff_delay_ms(int64_t base_ms, int64_t attempt, int64_t cap_ms, backoff_jitter_t jitter,
                         double random) {
    if (base_ms <= 0 || cap_ms <= 0 || attempt < 0) return -1;
    if (!(random >= 0.0 && random < 1.0)) return -1; //  also rejects NaN
    int64_t delay = s_doubled(base_ms, attempt, cap_ms);
    int64_t spread;
    switch (jitter) {
    case BACKOFF_JITTER_NONE:
        return delay;
    case BACKOFF_JITTER_FULL:
        spread = (int64_t)floor(random * (double)delay);
        //  random * delay can round up to delay for very large delays.
        return spread < delay ? spread : delay - 1;
    case BACKOFF_JITTER_EQUAL: {
        int64_t half = delay / 2;
        int64_t rest = delay - half;
        spread = (int64_t)floor(random * (double)rest);
        if (spread >= rest) spread = rest - 1;
        return half + spread;
    }
    }
    return -1;
}

//  --------------------------------------------------------------------------

int64_t backoff_cooldown_ms(int64_t strikes, int64_t base_ms, int64_t cap_ms) {
    if (strikes < 1 || base_ms <= 0 || cap_ms < base_ms) return -1;
    return s_doubled(base_ms, strikes - 1, cap_ms);
}

int64_t backoff_cooldown_hit(backoff_cooldown_t *self, int64_t now_ms, int64_t base_ms,
                             int64_t cap_ms) {
    assert(self);
    if (base_ms <= 0 || cap_ms < base_ms) return -1;
    if (backoff_cooldown_active(self, now_ms)) return self->until_ms;
    int64_t strikes = self->strikes < 1 ? 1 : self->strikes;
    if (self->strikes >= 1 && strikes < INT64_MAX) strikes++;
    int64_t length = backoff_cooldown_ms(strikes, base_ms, cap_ms);
    self->strikes = strikes;
    self->until_ms = now_ms > INT64_MAX - length ? INT64_MAX : now_ms + length;
    return self->until_ms;
}

void backoff_cooldown_success(backoff_cooldown_t *self) {
    assert(self);
    self->strikes = 0;
    self->until_ms = 0;
}

bool backoff_cooldown_active(const backoff_cooldown_t *self, int64_t now_ms) {
    assert(self);
    return now_ms < self->until_ms;
}

//  --------------------------------------------------------------------------

int64_t backoff_poll_ms(int64_t age_ms, int64_t poll_ms, int64_t poll_max_ms) {
    if (poll_ms <= 0 || poll_max_ms < poll_ms) return -1;
    if (age_ms < 0) age_ms = 0;
    //  poll_ms * FAST_POLLS cannot overflow: compare by division instead.
    if (age_ms / BACKOFF_POLL_FAST_POLLS < poll_ms) return poll_ms;
    int64_t delay = age_ms / BACKOFF_POLL_AGE_DIVISOR;
    if (delay < poll_ms) return poll_ms;
    return delay > poll_max_ms ? poll_max_ms : delay;
}

bool backoff_expired(int64_t started_ms, int64_t now_ms, int64_t max_ms) {
    if (max_ms <= 0) return true;
    if (now_ms <= started_ms) return false;
    return s_elapsed(started_ms, now_ms) >= (uint64_t)max_ms;
}

//  --------------------------------------------------------------------------

bucket_t *bucket_new(int64_t rate, int64_t period_ms, int64_t burst, int64_t now_ms) {
    if (rate < 1 || rate > BUCKET_MAX_RATE) return NULL;
    if (period_ms < 1 || period_ms > BUCKET_MAX_PERIOD) return NULL;
    if (burst < 1 || burst > BUCKET_MAX_BURST) return NULL;
    bucket_t *self = calloc(1, sizeof(bucket_t));
    if (!self) return NULL;
    self->rate = rate;
    self->period_ms = period_ms;
    self->burst = burst;
    self->level = burst * period_ms;
    self->last_ms = now_ms;
    return self;
}

void bucket_destroy(bucket_t **self_p) {
    assert(self_p);
    free(*self_p);
    *self_p = NULL;
}

int bucket_take(bucket_t *self, int64_t now_ms, int64_t n) {
    assert(self);
    self->level = s_level_at(self, now_ms);
    if (now_ms > self->last_ms) self->last_ms = now_ms;
    if (n < 1 || n > self->burst) return -1;
    int64_t cost = n * self->period_ms;
    if (self->level < cost) return -1;
    self->level -= cost;
    return 0;
}

int64_t bucket_wait_ms(const bucket_t *self, int64_t now_ms, int64_t n) {
    assert(self);
    if (n < 1 || n > self->burst) return -1;
    int64_t missing = n * self->period_ms - s_level_at(self, now_ms);
    if (missing <= 0) return 0;
    return (missing + self->rate - 1) / self->rate;
}

int64_t bucket_tokens(const bucket_t *self, int64_t now_ms) {
    assert(self);
    return s_level_at(self, now_ms) / self->period_ms;
}

//  --------------------------------------------------------------------------
//  base * 2^doublings, at most cap (cap >= 1). Stops doubling once the value
//  reaches half the cap, so it never overflows.

static int64_t s_doubled(int64_t base, int64_t doublings, int64_t cap) {
    int64_t value = base < cap ? base : cap;
    for (int64_t i = 0; i < doublings && value < cap; i++)
        value = value > cap / 2 ? cap : value * 2;
    return value;
}

//  The bucket's level at now_ms, without changing it.
static int64_t s_level_at(const bucket_t *self, int64_t now_ms) {
    int64_t capacity = self->burst * self->period_ms;
    if (now_ms <= self->last_ms) return self->level;
    //  A bucket is full after capacity / rate ms: clamping the elapsed time
    //  to that keeps elapsed * rate from overflowing.
    uint64_t fill_ms = (uint64_t)((capacity - self->level) / self->rate + 1);
    uint64_t elapsed = s_elapsed(self->last_ms, now_ms);
    if (elapsed >= fill_ms) return capacity;
    int64_t level = self->level + (int64_t)elapsed * self->rate;
    return level < capacity ? level : capacity;
}

//  to - from for to >= from, exact even when the signed difference overflows.
static uint64_t s_elapsed(int64_t from_ms, int64_t to_ms) {
    return (uint64_t)to_ms - (uint64_t)from_ms;
}
