/*  test_sendq.c — the notifier's ordering and pacing rules, with a clock
    the test moves by hand.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sendq.h"

typedef struct {
    int64_t chat;
    int seq;
    int cls;
} item_t;

typedef struct {
    int64_t chat;
    int seq;
    int cls;
    int64_t at;
} sent_t;

static const sendq_limits_t s_limits = {
    .rate_per_s = 30, .chat_rate_per_s = 1, .chat_burst = 3, .group_per_min = 20};

//  Runs the queue to empty, every send succeeding; returns the log.
static size_t s_drain(sendq_t *q, int64_t *now, sent_t *log, size_t max) {
    size_t n = 0;
    for (int guard = 0; guard < 1000000 && sendq_size(q) > 0; guard++) {
        int64_t chat;
        item_t *it = sendq_next(q, *now, &chat);
        if (!it) {
            int64_t wait = sendq_wait_ms(q, *now);
            assert_true(wait >= 0);
            *now += wait > 0 ? wait : 1;
            continue;
        }
        assert_int_equal(chat, it->chat);
        if (n < max) log[n++] = (sent_t){it->chat, it->seq, it->cls, *now};
        sendq_done(q, chat, SENDQ_SENT, 0, *now, NULL, NULL);
        free(it);
    }
    return n;
}

static item_t *s_item(int64_t chat, int seq, int cls) {
    item_t *it = malloc(sizeof *it);
    *it = (item_t){chat, seq, cls};
    return it;
}

//  No window of one second holds more than limit sends (for one chat, or
//  for all when chat == 0).
static void s_assert_rate(const sent_t *log, size_t n, int64_t chat, int limit) {
    for (size_t i = 0; i < n; i++) {
        if (chat && log[i].chat != chat) continue;
        int in_window = 0;
        for (size_t j = i; j < n && log[j].at < log[i].at + 1000; j++)
            if (!chat || log[j].chat == chat) in_window++;
        if (in_window > limit)
            fail_msg("chat %lld: %d sends in 1 s from t=%lld (limit %d)", (long long)chat,
                     in_window, (long long)log[i].at, limit);
    }
}

static void test_burst_to_many_chats_keeps_order_and_rates(void **state) {
    (void)state;
    sendq_t *q = sendq_new(&s_limits);
    int64_t now = 1000;
    enum { CHATS = 50, PER_CHAT = 10 };
    for (int i = 0; i < PER_CHAT; i++)
        for (int c = 1; c <= CHATS; c++)
            assert_null(sendq_push(q, c, SENDQ_INTERACTIVE, 0, s_item(c, i, 0), now));
    sent_t log[CHATS * PER_CHAT];
    size_t n = s_drain(q, &now, log, CHATS * PER_CHAT);
    assert_int_equal(n, CHATS * PER_CHAT);
    int next_seq[CHATS + 1] = {0};
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(log[i].seq, next_seq[log[i].chat]);
        next_seq[log[i].chat]++;
    }
    //  global 30/s (+1 for window edges), per chat the burst of 3 then 1/s
    s_assert_rate(log, n, 0, 31);
    for (int c = 1; c <= CHATS; c++)
        s_assert_rate(log, n, c, 3);
    //  and it used the budget: 500 sends at 30/s take about 16.7 s
    int64_t span = log[n - 1].at - log[0].at;
    assert_true(span >= 16000 && span <= 18000);
    sendq_destroy(&q);
}

static void test_priorities_across_chats(void **state) {
    (void)state;
    sendq_t *q = sendq_new(&s_limits);
    int64_t now = 0;
    for (int c = 1; c <= 40; c++)
        sendq_push(q, 1000 + c, SENDQ_BROADCAST, 0, s_item(1000 + c, 0, 2), now);
    for (int c = 1; c <= 20; c++)
        sendq_push(q, 2000 + c, SENDQ_PROGRESS, 0, s_item(2000 + c, 0, 1), now);
    for (int c = 1; c <= 20; c++)
        sendq_push(q, c, SENDQ_INTERACTIVE, 0, s_item(c, 0, 0), now);
    sent_t log[80];
    size_t n = s_drain(q, &now, log, 80);
    assert_int_equal(n, 80);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(log[i].cls, i < 20 ? 0 : i < 40 ? 1 : 2);
    sendq_destroy(&q);
}

static void test_within_chat_higher_class_first_fifo_within_class(void **state) {
    (void)state;
    sendq_t *q = sendq_new(&s_limits);
    int64_t now = 0;
    sendq_push(q, 7, SENDQ_PROGRESS, 11, s_item(7, 0, 1), now);
    sendq_push(q, 7, SENDQ_INTERACTIVE, 0, s_item(7, 1, 0), now);
    sendq_push(q, 7, SENDQ_INTERACTIVE, 0, s_item(7, 2, 0), now);
    sent_t log[3];
    assert_int_equal(s_drain(q, &now, log, 3), 3);
    assert_int_equal(log[0].seq, 1);
    assert_int_equal(log[1].seq, 2);
    assert_int_equal(log[2].seq, 0);
    sendq_destroy(&q);
}

static void test_edits_coalesce(void **state) {
    (void)state;
    sendq_t *q = sendq_new(&s_limits);
    int64_t now = 0;
    assert_null(sendq_push(q, 5, SENDQ_PROGRESS, 900, s_item(5, 1, 1), now));
    assert_null(sendq_push(q, 5, SENDQ_PROGRESS, 901, s_item(5, 2, 1), now));
    item_t *older = sendq_push(q, 5, SENDQ_PROGRESS, 900, s_item(5, 3, 1), now);
    assert_non_null(older);
    assert_int_equal(older->seq, 1);
    free(older);
    assert_int_equal(sendq_size(q), 2);
    sent_t log[2];
    assert_int_equal(s_drain(q, &now, log, 2), 2);
    assert_int_equal(log[0].seq, 3); //  newest edit, in the older one's place
    assert_int_equal(log[1].seq, 2);
    sendq_destroy(&q);
}

static void test_retry_after_pauses_chat_and_resends(void **state) {
    (void)state;
    sendq_t *q = sendq_new(&s_limits);
    int64_t now = 0, chat;
    sendq_push(q, 9, SENDQ_INTERACTIVE, 0, s_item(9, 0, 0), now);
    sendq_push(q, 9, SENDQ_INTERACTIVE, 0, s_item(9, 1, 0), now);
    sendq_push(q, 10, SENDQ_INTERACTIVE, 0, s_item(10, 0, 0), now);
    item_t *it = sendq_next(q, now, &chat);
    assert_int_equal(chat, 9);
    assert_null(sendq_next(q, now, &chat)); //  global pacing: one per 33 ms
    sendq_done(q, 9, SENDQ_RETRY, 5000, now, NULL, NULL);
    now += 40;
    item_t *other = sendq_next(q, now, &chat);
    assert_int_equal(chat, 10); //  chat 9 waits out its retry_after
    sendq_done(q, 10, SENDQ_SENT, 0, now, NULL, NULL);
    free(other);
    now += 40;
    assert_null(sendq_next(q, now, &chat));
    assert_true(sendq_wait_ms(q, now) >= 4900);
    now = 5001;
    item_t *again = sendq_next(q, now, &chat);
    assert_ptr_equal(again, it); //  the same call, first in line again
    sendq_done(q, 9, SENDQ_SENT, 0, now, NULL, NULL);
    free(again);
    sent_t log[1];
    assert_int_equal(s_drain(q, &now, log, 1), 1);
    assert_int_equal(log[0].seq, 1);
    sendq_destroy(&q);
}

static void test_global_retry_pauses_everyone(void **state) {
    (void)state;
    sendq_t *q = sendq_new(&s_limits);
    int64_t now = 0, chat;
    sendq_push(q, 1, SENDQ_INTERACTIVE, 0, s_item(1, 0, 0), now);
    sendq_push(q, 2, SENDQ_INTERACTIVE, 0, s_item(2, 0, 0), now);
    item_t *it = sendq_next(q, now, &chat);
    sendq_done(q, chat, SENDQ_RETRY_ALL, 3000, now, NULL, NULL);
    assert_null(sendq_next(q, 2999, &chat));
    assert_true(sendq_wait_ms(q, 100) >= 2900);
    item_t *next = sendq_next(q, 3000, &chat);
    assert_non_null(next);
    sendq_done(q, chat, SENDQ_SENT, 0, 3000, NULL, NULL);
    free(next);
    int64_t later = 3000;
    sent_t log[1];
    assert_int_equal(s_drain(q, &later, log, 1), 1); //  the retried call, freed by the drain
    (void)it;
    sendq_destroy(&q);
}

static int s_dropped;
static void s_drop(void *item, void *arg) {
    (void)arg;
    s_dropped++;
    free(item);
}

static void test_forbidden_drops_the_chat(void **state) {
    (void)state;
    sendq_t *q = sendq_new(&s_limits);
    int64_t now = 0, chat;
    for (int i = 0; i < 5; i++)
        sendq_push(q, 3, i % 2 ? SENDQ_PROGRESS : SENDQ_INTERACTIVE, 0, s_item(3, i, 0), now);
    sendq_push(q, 4, SENDQ_INTERACTIVE, 0, s_item(4, 0, 0), now);
    item_t *it = sendq_next(q, now, &chat);
    assert_int_equal(chat, 3);
    s_dropped = 0;
    sendq_done(q, 3, SENDQ_DROP_CHAT, 0, now, s_drop, NULL);
    free(it);
    assert_int_equal(s_dropped, 4);
    assert_int_equal(sendq_size(q), 1);
    assert_int_equal(sendq_class_size(q, SENDQ_PROGRESS), 0);
    sent_t log[1];
    assert_int_equal(s_drain(q, &now, log, 1), 1);
    assert_int_equal(log[0].chat, 4);
    sendq_destroy(&q);
}

static void test_group_chats_twenty_per_minute(void **state) {
    (void)state;
    sendq_t *q = sendq_new(&s_limits);
    int64_t now = 0;
    for (int i = 0; i < 25; i++)
        sendq_push(q, -100123, SENDQ_INTERACTIVE, 0, s_item(-100123, i, 0), now);
    sent_t log[25];
    assert_int_equal(s_drain(q, &now, log, 25), 25);
    for (size_t i = 0; i < 25; i++) {
        int in_minute = 0;
        for (size_t j = i; j < 25 && log[j].at < log[i].at + 60000; j++)
            in_minute++;
        assert_true(in_minute <= 20);
    }
    sendq_destroy(&q);
}

//  A million distinct chats over time must not mean a million records.
static void test_idle_chats_are_forgotten(void **state) {
    (void)state;
    sendq_limits_t fast = s_limits;
    fast.rate_per_s = 1000000;
    sendq_t *q = sendq_new(&fast);
    int64_t now = 0, chat;
    for (int i = 0; i < 200000; i++) {
        sendq_push(q, i + 1, SENDQ_INTERACTIVE, 0, s_item(i + 1, 0, 0), now);
        item_t *it = sendq_next(q, now, &chat);
        assert_non_null(it);
        sendq_done(q, chat, SENDQ_SENT, 0, now, NULL, NULL);
        free(it);
        now += 10; //  each chat's bucket is full again 3 s later
    }
    assert_int_equal(sendq_size(q), 0);
    sendq_destroy(&q);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_to_many_chats_keeps_order_and_rates),
        cmocka_unit_test(test_priorities_across_chats),
        cmocka_unit_test(test_within_chat_higher_class_first_fifo_within_class),
        cmocka_unit_test(test_edits_coalesce),
        cmocka_unit_test(test_retry_after_pauses_chat_and_resends),
        cmocka_unit_test(test_global_retry_pauses_everyone),
        cmocka_unit_test(test_forbidden_drops_the_chat),
        cmocka_unit_test(test_group_chats_twenty_per_minute),
        cmocka_unit_test(test_idle_chats_are_forgotten),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
