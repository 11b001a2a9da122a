/*
 * backoff: the retry policy as numbers.
 *
 * Retry n (1-based) waits base * 2^(n-1), never more than cap. With the defaults that is
 * 30s, 60s, 120s, 240s, 480s. The broker has one delayed-retry queue per distinct delay,
 * so the same numbers name the queues.
 */
#ifndef TMDBQ_BACKOFF_H
#define TMDBQ_BACKOFF_H

#include <stddef.h>
#include <stdint.h>

#include "cfg.h"

struct backoff_policy {
    int max_retries; /* retries after the first attempt */
    int64_t base_ms; /* delay of the first retry */
    int64_t cap_ms;  /* no delay is longer */
};

/* The policy of the configuration: TMDBQ_MAX_RETRIES, TMDBQ_BACKOFF_BASE and _CAP. */
struct backoff_policy backoff_policy_of(const struct cfg *c);

/* Delay before retry n (n >= 1), in ms: min(base * 2^(n-1), cap), without overflow. */
int64_t backoff_delay_ms(const struct backoff_policy *p, int n);

/* The distinct delays of retries 1..max_retries, ascending, written to out (at most max);
 * returns how many there are (which may exceed max: then only max were written). */
size_t backoff_distinct_delays(const struct backoff_policy *p, int64_t *out, size_t max);

/* The smallest distinct delay that is >= want_ms, or the largest one when none is; 0 when
 * the policy has no retries. Used to honour a Retry-After. */
int64_t backoff_queue_delay_ms(const struct backoff_policy *p, int64_t want_ms);

#endif
