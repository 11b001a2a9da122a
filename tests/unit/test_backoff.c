/*
 * test_backoff: retry delays, their distinct values (which name the delayed-retry queues)
 * and the choice of queue for a wanted delay. Needs no services.
 */
#include <stdint.h>

#include "backoff.h"
#include "check.h"

static void test_defaults(void)
{
    struct backoff_policy p = {5, 30000, 3600000};
    int64_t want[] = {30000, 60000, 120000, 240000, 480000};
    int64_t got[8] = {0};
    size_t i, n;

    for (i = 0; i < 5; i++)
        CHECK_EQ_INT(backoff_delay_ms(&p, (int)i + 1), want[i]);
    n = backoff_distinct_delays(&p, got, 8);
    CHECK_EQ_INT(n, 5);
    for (i = 0; i < 5; i++)
        CHECK_EQ_INT(got[i], want[i]);
    /* Retry numbers below 1 count as the first retry. */
    CHECK_EQ_INT(backoff_delay_ms(&p, 0), 30000);
    /* Past the configured retries the cap still holds. */
    CHECK_EQ_INT(backoff_delay_ms(&p, 8), 3600000);
}

static void test_cap(void)
{
    struct backoff_policy p = {5, 30000, 100000};
    int64_t got[8] = {0};

    CHECK_EQ_INT(backoff_delay_ms(&p, 1), 30000);
    CHECK_EQ_INT(backoff_delay_ms(&p, 2), 60000);
    CHECK_EQ_INT(backoff_delay_ms(&p, 3), 100000);
    CHECK_EQ_INT(backoff_delay_ms(&p, 5), 100000);
    CHECK_EQ_INT(backoff_distinct_delays(&p, got, 8), 3);
    CHECK_EQ_INT(got[0], 30000);
    CHECK_EQ_INT(got[1], 60000);
    CHECK_EQ_INT(got[2], 100000);
}

static void test_small_base(void)
{
    struct backoff_policy p = {5, 100, 3600000};
    int64_t want[] = {100, 200, 400, 800, 1600};
    int i;

    for (i = 0; i < 5; i++)
        CHECK_EQ_INT(backoff_delay_ms(&p, i + 1), want[i]);
}

static void test_dedupe(void)
{
    struct backoff_policy p = {5, 1800000, 3600000};
    int64_t got[8] = {0};
    int64_t one[1] = {0};

    CHECK_EQ_INT(backoff_distinct_delays(&p, got, 8), 2);
    CHECK_EQ_INT(got[0], 1800000);
    CHECK_EQ_INT(got[1], 3600000);

    /* More delays than room: the count is still the full one, only max are written. */
    CHECK_EQ_INT(backoff_distinct_delays(&p, one, 1), 2);
    CHECK_EQ_INT(one[0], 1800000);
    CHECK_EQ_INT(backoff_distinct_delays(&p, NULL, 0), 2);

    /* base == cap: one queue. */
    p.base_ms = 3600000;
    CHECK_EQ_INT(backoff_distinct_delays(&p, got, 8), 1);
    CHECK_EQ_INT(got[0], 3600000);
}

static void test_overflow(void)
{
    struct backoff_policy p = {200, 30000, 3600000};
    struct backoff_policy huge = {200, 1, INT64_MAX};
    int64_t got[100];
    size_t n, i;

    CHECK_EQ_INT(backoff_delay_ms(&p, 200), 3600000);
    CHECK_EQ_INT(backoff_delay_ms(&p, INT32_MAX), 3600000);
    CHECK_EQ_INT(backoff_delay_ms(&huge, 63), INT64_C(1) << 62);
    CHECK_EQ_INT(backoff_delay_ms(&huge, 64), INT64_MAX);
    CHECK_EQ_INT(backoff_delay_ms(&huge, 200), INT64_MAX);
    n = backoff_distinct_delays(&huge, got, 100);
    CHECK_EQ_INT(n, 64);
    for (i = 1; i < n && i < 100; i++)
        CHECK(got[i] > got[i - 1]);
}

static void test_queue_delay(void)
{
    struct backoff_policy p = {5, 30000, 3600000};
    struct backoff_policy none = {0, 30000, 3600000};

    CHECK_EQ_INT(backoff_queue_delay_ms(&p, 0), 30000);
    CHECK_EQ_INT(backoff_queue_delay_ms(&p, 30000), 30000);
    CHECK_EQ_INT(backoff_queue_delay_ms(&p, 30001), 60000);
    CHECK_EQ_INT(backoff_queue_delay_ms(&p, 90000), 120000);
    CHECK_EQ_INT(backoff_queue_delay_ms(&p, 480000), 480000);
    /* Longer than any queue: the longest. */
    CHECK_EQ_INT(backoff_queue_delay_ms(&p, 480001), 480000);
    CHECK_EQ_INT(backoff_queue_delay_ms(&p, INT64_MAX), 480000);
    CHECK_EQ_INT(backoff_queue_delay_ms(&none, 1000), 0);

    p.base_ms = 1800000;
    CHECK_EQ_INT(backoff_queue_delay_ms(&p, 2000000), 3600000);
    CHECK_EQ_INT(backoff_queue_delay_ms(&p, 7200000), 3600000);
}

int main(void)
{
    test_defaults();
    test_cap();
    test_small_base();
    test_dedupe();
    test_overflow();
    test_queue_delay();
    return check_exit();
}
