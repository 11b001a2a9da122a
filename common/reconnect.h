/*
 * reconnect: the backoff of one connection to PostgreSQL or RabbitMQ, for every program.
 *
 * A failed try waits the current delay before the next one; the delay starts at
 * RECONNECT_FIRST_MS and doubles up to RECONNECT_MAX_MS. A success resets it. Plain
 * values, no I/O: the caller owns the connection and asks reconnect_due before a try.
 */
#ifndef TMDBQ_RECONNECT_H
#define TMDBQ_RECONNECT_H

#include <stdbool.h>
#include <stdint.h>

#define RECONNECT_FIRST_MS 100
#define RECONNECT_MAX_MS 5000

struct reconnect {
    int64_t delay_ms; /* the wait after the next failure */
    int64_t next_ms;  /* monotonic time of the next try; 0 means now */
};

/* Fresh: the next try at once, the first delay after a failure. */
void reconnect_reset(struct reconnect *rc);

/* A try failed: the next one waits the current delay, which then doubles (capped). */
void reconnect_failed(struct reconnect *rc);

/* Whether a try may be made now. */
bool reconnect_due(const struct reconnect *rc);

/* Whether nothing has failed since the last reset (the delay is still the first). */
bool reconnect_fresh(const struct reconnect *rc);

#endif
