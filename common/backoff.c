/*
 * backoff: retry delays as exponential steps from a base, capped.
 *
 * Delays are computed by repeated doubling that stops at the cap, so no retry number,
 * however large, can overflow int64_t. Because doubling a positive delay always grows it
 * until the cap is reached, the sequence is strictly increasing and then flat: the first
 * repeat means every later delay equals the cap, which bounds every loop here.
 */
#include "backoff.h"

struct backoff_policy backoff_policy_of(const struct cfg *c)
{
    struct backoff_policy p = {c->max_retries, c->backoff_base_ms, c->backoff_cap_ms};

    return p;
}

int64_t backoff_delay_ms(const struct backoff_policy *p, int n)
{
    int64_t d;
    int i;

    if (p == NULL || p->base_ms <= 0 || p->cap_ms <= 0)
        return 0;
    if (n < 1)
        n = 1;
    d = p->base_ms;
    for (i = 1; i < n && d < p->cap_ms; i++) {
        if (d > INT64_MAX / 2)
            return p->cap_ms;
        d *= 2;
    }
    return d < p->cap_ms ? d : p->cap_ms;
}

size_t backoff_distinct_delays(const struct backoff_policy *p, int64_t *out, size_t max)
{
    size_t count = 0;
    int64_t prev = -1;
    int n;

    if (p == NULL)
        return 0;
    for (n = 1; n <= p->max_retries; n++) {
        int64_t d = backoff_delay_ms(p, n);

        if (d == prev)
            break;
        if (out != NULL && count < max)
            out[count] = d;
        count++;
        prev = d;
    }
    return count;
}

int64_t backoff_queue_delay_ms(const struct backoff_policy *p, int64_t want_ms)
{
    /* Doubling from 1 ms reaches any int64_t cap within 64 distinct delays. */
    int64_t delays[64];
    size_t n = backoff_distinct_delays(p, delays, 64);

    if (n > 64)
        n = 64;
    for (size_t i = 0; i < n; i++) {
        if (delays[i] >= want_ms)
            return delays[i];
    }
    /* No queue is long enough: the longest one is the best the broker can do. */
    return n > 0 ? delays[n - 1] : 0;
}
