/*  test_backoff.c — retry delays, key cooldowns, the poll schedule, task
    deadlines and the token bucket, with injected random values and times.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "backoff.h"

#define SECOND 1000
#define MINUTE (60 * SECOND)

static void test_delay_exact(void **state) {
    (void)state;
    const struct {
        int64_t base, attempt, cap, expected;
    } rows[] = {
        {10000, 0, 120000, 10000},
        {10000, 1, 120000, 20000},
        {10000, 2, 120000, 40000},
        {10000, 3, 120000, 80000},
        {10000, 4, 120000, 120000},
        {10000, 5, 120000, 120000},
        {10000, 62, 120000, 120000},
        {10000, INT64_MAX, 120000, 120000},
        {1, 62, INT64_MAX, INT64_C(1) << 62},
        {1, 63, INT64_MAX, INT64_MAX},
        {500, 0, 100, 100}, //  a cap below the base wins
        {3, 1, 5, 5},
        {3, 0, 5, 3},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int64_t got =
            backoff_delay_ms(rows[i].base, rows[i].attempt, rows[i].cap, BACKOFF_JITTER_NONE, 0.5);
        if (got != rows[i].expected)
            fail_msg("row %zu: base %lld attempt %lld cap %lld: %lld, expected %lld", i,
                     (long long)rows[i].base, (long long)rows[i].attempt, (long long)rows[i].cap,
                     (long long)got, (long long)rows[i].expected);
    }
}

static void test_delay_jitter(void **state) {
    (void)state;
    //  Full: random * d, in [0, d).
    assert_int_equal(backoff_delay_ms(1000, 0, 60000, BACKOFF_JITTER_FULL, 0.0), 0);
    assert_int_equal(backoff_delay_ms(1000, 0, 60000, BACKOFF_JITTER_FULL, 0.5), 500);
    assert_int_equal(backoff_delay_ms(1000, 2, 60000, BACKOFF_JITTER_FULL, 0.25), 1000);
    assert_int_equal(backoff_delay_ms(1000, 0, 60000, BACKOFF_JITTER_FULL, 0.999999), 999);
    //  Equal: d/2 + random * d/2, in [d/2, d).
    assert_int_equal(backoff_delay_ms(1000, 0, 60000, BACKOFF_JITTER_EQUAL, 0.0), 500);
    assert_int_equal(backoff_delay_ms(1000, 0, 60000, BACKOFF_JITTER_EQUAL, 0.5), 750);
    assert_int_equal(backoff_delay_ms(1000, 1, 60000, BACKOFF_JITTER_EQUAL, 0.999999), 1999);
    assert_int_equal(backoff_delay_ms(1, 0, 60000, BACKOFF_JITTER_EQUAL, 0.999), 0);
    //  The largest random below 1 never reaches the delay, even a huge one.
    double below_one = nextafter(1.0, 0.0);
    assert_true(backoff_delay_ms(1, 70, INT64_MAX, BACKOFF_JITTER_FULL, below_one) < INT64_MAX);
    assert_true(backoff_delay_ms(1, 70, INT64_MAX, BACKOFF_JITTER_EQUAL, below_one) < INT64_MAX);
    //  Every attempt and random stays within its bounds.
    for (int64_t attempt = 0; attempt < 40; attempt++)
        for (int r = 0; r < 100; r++) {
            double random = r / 100.0;
            int64_t d = backoff_delay_ms(250, attempt, 30000, BACKOFF_JITTER_NONE, random);
            int64_t full = backoff_delay_ms(250, attempt, 30000, BACKOFF_JITTER_FULL, random);
            int64_t equal = backoff_delay_ms(250, attempt, 30000, BACKOFF_JITTER_EQUAL, random);
            assert_true(d >= 250 && d <= 30000);
            assert_true(full >= 0 && full < d);
            assert_true(equal >= d / 2 && equal < d);
        }
}

static void test_delay_bad_input(void **state) {
    (void)state;
    assert_int_equal(backoff_delay_ms(0, 0, 1000, BACKOFF_JITTER_NONE, 0.5), -1);
    assert_int_equal(backoff_delay_ms(-5, 0, 1000, BACKOFF_JITTER_NONE, 0.5), -1);
    assert_int_equal(backoff_delay_ms(10, 0, 0, BACKOFF_JITTER_NONE, 0.5), -1);
    assert_int_equal(backoff_delay_ms(10, -1, 1000, BACKOFF_JITTER_NONE, 0.5), -1);
    assert_int_equal(backoff_delay_ms(10, 0, 1000, BACKOFF_JITTER_FULL, 1.0), -1);
    assert_int_equal(backoff_delay_ms(10, 0, 1000, BACKOFF_JITTER_FULL, -0.1), -1);
    assert_int_equal(backoff_delay_ms(10, 0, 1000, BACKOFF_JITTER_FULL, NAN), -1);
    assert_int_equal(backoff_delay_ms(10, 0, 1000, BACKOFF_JITTER_FULL, INFINITY), -1);
    assert_int_equal(backoff_delay_ms(10, 0, 1000, (backoff_jitter_t)7, 0.5), -1);
}

static void test_cooldown(void **state) {
    (void)state;
    backoff_cooldown_t key = {0};
    int64_t now = 1700000000000;
    const int64_t base = 60 * SECOND, cap = BACKOFF_COOLDOWN_CAP_MS;
    assert_false(backoff_cooldown_active(&key, now));

    //  Doubling: 1, 2, 4, 8, 16, 32 min, then the one-hour cap.
    int64_t expected[] = {1, 2, 4, 8, 16, 32, 60, 60, 60};
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        int64_t until = backoff_cooldown_hit(&key, now, base, cap);
        assert_int_equal(until, now + expected[i] * MINUTE);
        assert_int_equal(key.strikes, (int64_t)i + 1);
        assert_true(backoff_cooldown_active(&key, now));
        assert_true(backoff_cooldown_active(&key, until - 1));
        assert_false(backoff_cooldown_active(&key, until));
        //  Answers to requests already in flight hit the cooling key: no
        //  further strike.
        assert_int_equal(backoff_cooldown_hit(&key, until - 1, base, cap), until);
        assert_int_equal(key.strikes, (int64_t)i + 1);
        now = until;
    }
    //  A success resets it: the next hit is short again.
    backoff_cooldown_success(&key);
    assert_int_equal(key.strikes, 0);
    assert_false(backoff_cooldown_active(&key, now));
    assert_int_equal(backoff_cooldown_hit(&key, now, base, cap), now + MINUTE);
    assert_int_equal(key.strikes, 1);

    //  A fixed cooldown (billing: base = cap = 24 h).
    backoff_cooldown_t billing = {0};
    const int64_t day = 86400 * SECOND;
    assert_int_equal(backoff_cooldown_hit(&billing, now, day, day), now + day);
    assert_int_equal(backoff_cooldown_hit(&billing, now + day, day, day), now + 2 * day);

    //  Bad input changes nothing.
    backoff_cooldown_t fresh = {0};
    assert_int_equal(backoff_cooldown_hit(&fresh, now, 0, cap), -1);
    assert_int_equal(backoff_cooldown_hit(&fresh, now, 5000, 4000), -1);
    assert_int_equal(fresh.strikes, 0);
    assert_int_equal(fresh.until_ms, 0);

    //  Lengths and saturation.
    assert_int_equal(backoff_cooldown_ms(1, 1000, 5000), 1000);
    assert_int_equal(backoff_cooldown_ms(3, 1000, 5000), 4000);
    assert_int_equal(backoff_cooldown_ms(4, 1000, 5000), 5000);
    assert_int_equal(backoff_cooldown_ms(INT64_MAX, 1000, 5000), 5000);
    assert_int_equal(backoff_cooldown_ms(0, 1000, 5000), -1);
    backoff_cooldown_t worn = {.strikes = INT64_MAX, .until_ms = 0};
    assert_int_equal(backoff_cooldown_hit(&worn, now, 1000, 5000), now + 5000);
    assert_int_equal(worn.strikes, INT64_MAX);
    //  until_ms saturates instead of overflowing.
    backoff_cooldown_t late = {0};
    assert_int_equal(backoff_cooldown_hit(&late, INT64_MAX - 10, 1000, 5000), INT64_MAX);
}

static void test_poll_schedule(void **state) {
    (void)state;
    const int64_t poll = 2 * SECOND, max = 30 * SECOND;
    //  The reference's pace: 2 s for 30 s, 5-10 s up to 2 min, 15-30 s after.
    assert_int_equal(backoff_poll_ms(0, poll, max), 2 * SECOND);
    assert_int_equal(backoff_poll_ms(29999, poll, max), 2 * SECOND);
    assert_int_equal(backoff_poll_ms(30 * SECOND, poll, max), 3 * SECOND);
    assert_int_equal(backoff_poll_ms(MINUTE, poll, max), 6 * SECOND);
    assert_int_equal(backoff_poll_ms(2 * MINUTE, poll, max), 12 * SECOND);
    assert_int_equal(backoff_poll_ms(5 * MINUTE, poll, max), 30 * SECOND);
    assert_int_equal(backoff_poll_ms(30 * MINUTE, poll, max), 30 * SECOND);
    assert_int_equal(backoff_poll_ms(INT64_MAX, poll, max), 30 * SECOND);
    assert_int_equal(backoff_poll_ms(-5000, poll, max), 2 * SECOND); //  clock stepped back

    //  Simulate a task: monotone, bounded, and the number of polls in 15
    //  minutes stays small.
    int64_t age = 0, previous = 0;
    int polls = 0;
    int64_t in_first_half_minute = 0, in_second_minute = 0;
    while (age < 15 * MINUTE) {
        int64_t delay = backoff_poll_ms(age, poll, max);
        assert_true(delay >= poll && delay <= max);
        assert_true(delay >= previous);
        if (age < 30 * SECOND) assert_int_equal(delay, poll);
        if (age >= 30 * SECOND && age < MINUTE) in_first_half_minute++;
        if (age >= MINUTE && age < 2 * MINUTE) {
            assert_true(delay >= 5 * SECOND && delay <= 12 * SECOND);
            in_second_minute++;
        }
        if (age >= 3 * MINUTE) assert_true(delay >= 15 * SECOND);
        previous = delay;
        age += delay;
        polls++;
    }
    assert_true(in_first_half_minute > 0 && in_second_minute > 0);
    assert_true(polls > 30 && polls < 70); //  about one a second at first, one per 30 s at the end

    //  Monotone over every age for other settings too (tests use ms).
    const int64_t settings[][2] = {{10, 100}, {1, 1}, {2000, 30000}, {500, 600}};
    for (size_t s = 0; s < sizeof settings / sizeof settings[0]; s++) {
        previous = 0;
        for (int64_t a = 0; a < 400000; a += 7) {
            int64_t delay = backoff_poll_ms(a, settings[s][0], settings[s][1]);
            assert_true(delay >= settings[s][0] && delay <= settings[s][1]);
            assert_true(delay >= previous);
            previous = delay;
        }
    }
    //  Scaled down for tests: 10 ms polls for 150 ms.
    assert_int_equal(backoff_poll_ms(149, 10, 100), 10);
    assert_int_equal(backoff_poll_ms(1000, 10, 100), 100);

    assert_int_equal(backoff_poll_ms(0, 0, 100), -1);
    assert_int_equal(backoff_poll_ms(0, 100, 99), -1);
}

static void test_expired(void **state) {
    (void)state;
    const int64_t start = 1700000000000, max = 1800 * SECOND;
    assert_false(backoff_expired(start, start, max));
    assert_false(backoff_expired(start, start + max - 1, max));
    assert_true(backoff_expired(start, start + max, max));
    assert_true(backoff_expired(start, start + 10 * max, max));
    assert_false(backoff_expired(start, start - 5000, max)); //  clock stepped back
    assert_true(backoff_expired(start, start, 0));
    assert_true(backoff_expired(INT64_MIN, INT64_MAX, max)); //  no overflow
    assert_true(backoff_expired(INT64_MIN, INT64_MAX, INT64_MAX));
    assert_false(backoff_expired(0, INT64_MAX - 1, INT64_MAX));
}

static void test_bucket_burst_and_refill(void **state) {
    (void)state;
    int64_t now = 1000;
    //  20 per 10 s, burst 20.
    bucket_t *bucket = bucket_new(20, 10 * SECOND, 20, now);
    assert_non_null(bucket);
    assert_int_equal(bucket_tokens(bucket, now), 20);
    for (int i = 0; i < 20; i++)
        assert_int_equal(bucket_take(bucket, now, 1), 0);
    assert_int_equal(bucket_take(bucket, now, 1), -1);
    assert_int_equal(bucket_tokens(bucket, now), 0);
    //  One token every 500 ms.
    assert_int_equal(bucket_wait_ms(bucket, now, 1), 500);
    assert_int_equal(bucket_wait_ms(bucket, now, 4), 2000);
    assert_int_equal(bucket_take(bucket, now + 499, 1), -1);
    assert_int_equal(bucket_wait_ms(bucket, now + 499, 1), 1);
    assert_int_equal(bucket_take(bucket, now + 500, 1), 0);
    assert_int_equal(bucket_take(bucket, now + 500, 1), -1);
    //  Partial tokens accumulate exactly: 250 ms + 250 ms = one token.
    assert_int_equal(bucket_take(bucket, now + 750, 1), -1);
    assert_int_equal(bucket_take(bucket, now + 1000, 1), 0);
    //  Never more than the burst, however long it rests.
    assert_int_equal(bucket_tokens(bucket, now + 3600 * SECOND), 20);
    assert_int_equal(bucket_take(bucket, now + 3600 * SECOND, 20), 0);
    assert_int_equal(bucket_take(bucket, now + 3600 * SECOND, 1), -1);
    bucket_destroy(&bucket);
    assert_null(bucket);
    bucket_destroy(&bucket); //  twice is fine
}

static void test_bucket_rate_over_time(void **state) {
    (void)state;
    //  Taking greedily every ms for 60 s admits burst + rate * 60 s / period.
    int64_t now = 0;
    bucket_t *bucket = bucket_new(16, 10 * SECOND, 4, now);
    int64_t taken = 0;
    for (int64_t t = 0; t <= 60 * SECOND; t++)
        taken += bucket_take(bucket, t, 1) == 0;
    assert_int_equal(taken, 4 + 16 * 6);
    //  And any 10 s window holds at most burst + rate = 20 (KIE's limit).
    bucket_destroy(&bucket);
    bucket = bucket_new(16, 10 * SECOND, 4, 0);
    int64_t times[200];
    size_t count = 0;
    for (int64_t t = 0; t <= 60 * SECOND && count < 200; t += 10)
        if (bucket_take(bucket, t, 1) == 0) times[count++] = t;
    for (size_t i = 0; i < count; i++) {
        size_t in_window = 0;
        for (size_t j = i; j < count && times[j] < times[i] + 10 * SECOND; j++)
            in_window++;
        assert_true(in_window <= 20);
    }
    bucket_destroy(&bucket);

    //  Telegram: 30 per second overall.
    bucket = bucket_new(30, SECOND, 30, 0);
    taken = 0;
    for (int64_t t = 0; t < 10 * SECOND; t += 5)
        taken += bucket_take(bucket, t, 1) == 0;
    assert_true(taken >= 30 * 10 && taken <= 30 * 10 + 30);
    bucket_destroy(&bucket);
}

static void test_bucket_edges(void **state) {
    (void)state;
    bucket_t *bucket = bucket_new(1, SECOND, 3, 5000);
    //  n out of range.
    assert_int_equal(bucket_take(bucket, 5000, 0), -1);
    assert_int_equal(bucket_take(bucket, 5000, -2), -1);
    assert_int_equal(bucket_take(bucket, 5000, 4), -1);
    assert_int_equal(bucket_wait_ms(bucket, 5000, 4), -1);
    assert_int_equal(bucket_wait_ms(bucket, 5000, 0), -1);
    assert_int_equal(bucket_tokens(bucket, 5000), 3);
    //  Taking several at once is all or nothing.
    assert_int_equal(bucket_take(bucket, 5000, 2), 0);
    assert_int_equal(bucket_take(bucket, 5000, 2), -1);
    assert_int_equal(bucket_tokens(bucket, 5000), 1);
    assert_int_equal(bucket_wait_ms(bucket, 5000, 3), 2000);
    //  A clock stepping back adds nothing and breaks nothing.
    assert_int_equal(bucket_take(bucket, 1000, 1), 0);
    assert_int_equal(bucket_tokens(bucket, 1000), 0);
    assert_int_equal(bucket_tokens(bucket, 5999), 0);
    assert_int_equal(bucket_tokens(bucket, 6000), 1);
    //  An absurd jump forward fills it without overflow.
    assert_int_equal(bucket_tokens(bucket, INT64_MAX), 3);
    assert_int_equal(bucket_take(bucket, INT64_MAX, 3), 0);
    bucket_destroy(&bucket);
    bucket = bucket_new(BUCKET_MAX_RATE, BUCKET_MAX_PERIOD, BUCKET_MAX_BURST, INT64_MIN);
    assert_non_null(bucket);
    assert_int_equal(bucket_take(bucket, INT64_MIN, BUCKET_MAX_BURST), 0);
    assert_int_equal(bucket_tokens(bucket, INT64_MAX), BUCKET_MAX_BURST);
    bucket_destroy(&bucket);

    //  Bad parameters.
    assert_null(bucket_new(0, SECOND, 1, 0));
    assert_null(bucket_new(1, 0, 1, 0));
    assert_null(bucket_new(1, SECOND, 0, 0));
    assert_null(bucket_new(BUCKET_MAX_RATE + 1, SECOND, 1, 0));
    assert_null(bucket_new(1, BUCKET_MAX_PERIOD + 1, 1, 0));
    assert_null(bucket_new(1, SECOND, BUCKET_MAX_BURST + 1, 0));
    assert_null(bucket_new(-1, SECOND, 1, 0));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delay_exact),
        cmocka_unit_test(test_delay_jitter),
        cmocka_unit_test(test_delay_bad_input),
        cmocka_unit_test(test_cooldown),
        cmocka_unit_test(test_poll_schedule),
        cmocka_unit_test(test_expired),
        cmocka_unit_test(test_bucket_burst_and_refill),
        cmocka_unit_test(test_bucket_rate_over_time),
        cmocka_unit_test(test_bucket_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
