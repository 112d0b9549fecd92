/*  backoff.h — pure timing decisions: retry delays, key cooldowns, the poll
    schedule of a KIE task, task deadlines, and a token bucket.

    No clock and no randomness of its own: `now_ms` (any monotonic or wall
    clock in milliseconds, the caller's choice, used consistently) and the
    random value in [0, 1) are parameters, so every decision is reproducible
    in a test. Bad input (a non-positive base, a random value outside [0, 1),
    ...) is returned as -1 or NULL, never asserted: the values come from
    configuration and from the database.

    Retry delay (temporary errors):
        d = min(cap_ms, base_ms * 2^attempt)       attempt 0 = the first retry
        none:   d
        full:   floor(random * d)                   in [0, d)
        equal:  d/2 + floor(random * (d - d/2))     in [d/2, d)
    Full jitter spreads a burst of failures the most (AWS "Exponential
    backoff and jitter"); equal jitter guarantees at least half the delay.

    Key cooldown (rate_limited, billing): the first hit cools the key for
    base_ms, each further hit since the last success doubles it, up to cap_ms
    (BACKOFF_COOLDOWN_CAP_MS is one hour). A hit that arrives while the key is
    still cooling (the answers to requests that were already in flight) does
    not count again. A success clears it.

    Poll schedule (recordInfo), a function of the task's age only, so a job
    resumed after a restart polls at the right pace without saved state:
        age <  BACKOFF_POLL_FAST_POLLS * poll_ms   ->  poll_ms
        otherwise  ->  age / BACKOFF_POLL_AGE_DIVISOR, within [poll_ms, poll_max_ms]
    With the defaults (2 s, 30 s) that is 2 s for the first 30 s, then 10% of
    the age: 3 s at 30 s, 6 s at 1 min, 12 s at 2 min, 30 s from 5 min on, the
    reference's "2-3 s for 30 s, 5-10 s to 2 min, then 15-30 s". Polling at a
    fixed fraction of the age bounds the delay added to a finished task to
    about 10% of its run time. Monotone non-decreasing in age, and bounded.

    Token bucket: holds at most `burst` tokens and gains `rate` tokens per
    `period_ms`, continuously (integer arithmetic, exact: no drift). It starts
    full. Over any interval of length t it admits at most burst + rate * t /
    period_ms tokens; to stay under a provider's "L per window W" choose
    period_ms = W and burst + rate <= L (KIE's 20 createTask per 10 s per key:
    rate 16, period 10000, burst 4). Telegram: 30 per 1000 ms overall, 1 per
    1000 ms per chat.
*/
#ifndef GENBOT_BACKOFF_H
#define GENBOT_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>

#define BACKOFF_COOLDOWN_CAP_MS  3600000 //  one hour: the longest rate-limit cooldown
#define BACKOFF_POLL_FAST_POLLS  15      //  polls at poll_ms before the schedule slows
#define BACKOFF_POLL_AGE_DIVISOR 10      //  then one poll per tenth of the task's age
//  Bucket bounds: burst * period_ms and rate * period_ms stay far from overflow.
#define BUCKET_MAX_RATE   1000000
#define BUCKET_MAX_BURST  1000000
#define BUCKET_MAX_PERIOD 86400000 //  one day

typedef enum {
    BACKOFF_JITTER_NONE,  //  the exact exponential delay
    BACKOFF_JITTER_FULL,  //  uniform in [0, d)
    BACKOFF_JITTER_EQUAL, //  uniform in [d/2, d)
} backoff_jitter_t;

//  The delay before retry number `attempt` (0 = the first retry), in ms.
//  -1 when base_ms <= 0, cap_ms <= 0, attempt < 0, random is not in [0, 1)
//  or jitter is not a backoff_jitter_t. Never overflows: large attempts give
//  the capped delay.
int64_t backoff_delay_ms(int64_t base_ms, int64_t attempt, int64_t cap_ms, backoff_jitter_t jitter,
                         double random);

//  A key's cooldown. A plain value (not opaque) so that a key worker can
//  embed it and the ledger can persist it with the key's health; all zero
//  is a healthy key.
typedef struct {
    int64_t strikes;  //  hits since the last success (1 after the first)
    int64_t until_ms; //  cooling while now_ms < until_ms
} backoff_cooldown_t;

//  Records a hit at now_ms and returns the new until_ms, or -1 (nothing
//  changed) when base_ms <= 0 or cap_ms < base_ms. A hit while still cooling
//  changes nothing and returns the current until_ms.
int64_t backoff_cooldown_hit(backoff_cooldown_t *self, int64_t now_ms, int64_t base_ms,
                             int64_t cap_ms);
//  The key worked: clears strikes and the cooldown.
void backoff_cooldown_success(backoff_cooldown_t *self);
//  True while the key is cooling at now_ms.
bool backoff_cooldown_active(const backoff_cooldown_t *self, int64_t now_ms);
//  The length of the cooldown the strikes-th hit gets: base_ms * 2^(strikes-1)
//  capped at cap_ms; -1 on bad input (strikes < 1, base_ms <= 0, cap_ms < base_ms).
int64_t backoff_cooldown_ms(int64_t strikes, int64_t base_ms, int64_t cap_ms);

//  The delay before the next recordInfo poll of a task that is age_ms old
//  (a negative age, from a clock step, counts as 0). -1 when poll_ms <= 0 or
//  poll_max_ms < poll_ms.
int64_t backoff_poll_ms(int64_t age_ms, int64_t poll_ms, int64_t poll_max_ms);

//  True when a task started at started_ms has run max_ms or more at now_ms
//  (so a max_ms <= 0 has always expired: there is no "no limit" value).
bool backoff_expired(int64_t started_ms, int64_t now_ms, int64_t max_ms);

//  --------------------------------------------------------------------------
//  Token bucket

typedef struct bucket_s bucket_t;

//  A full bucket at now_ms. NULL when rate, period_ms or burst is < 1 or
//  over its BUCKET_MAX_*.
bucket_t *bucket_new(int64_t rate, int64_t period_ms, int64_t burst, int64_t now_ms);
void bucket_destroy(bucket_t **self_p);
//  Takes n tokens at now_ms: 0 when taken, -1 when fewer than n are there
//  (then nothing is taken) or n < 1. A now_ms earlier than a previous one
//  (a clock step back) adds nothing and is otherwise harmless.
int bucket_take(bucket_t *self, int64_t now_ms, int64_t n);
//  Milliseconds from now_ms until n tokens are there (0 = now); -1 when n
//  is < 1 or > burst, as it never will be.
int64_t bucket_wait_ms(const bucket_t *self, int64_t now_ms, int64_t n);
//  Whole tokens there at now_ms.
int64_t bucket_tokens(const bucket_t *self, int64_t now_ms);

#endif
