/*
 * clock: monotonic milliseconds and a bounded sleep, for deadlines and backoff.
 *
 * Monotonic so that a wall-clock step (NTP, an operator) never stretches or cuts a wait.
 */
#ifndef TMDBQ_CLOCK_H
#define TMDBQ_CLOCK_H

#include <stdint.h>

/* Milliseconds on the monotonic clock (an arbitrary origin: only differences mean
 * anything). */
int64_t clock_now_ms(void);

/* Microseconds on the same clock, for durations too short for milliseconds. */
int64_t clock_now_us(void);

/* Microseconds since the epoch on the wall clock: only for timestamps that other
 * processes and PostgreSQL compare (a benchmark's breakdown), never for waits. */
int64_t clock_wall_us(void);

/* Sleep ms milliseconds (nothing when ms <= 0). A signal cuts it short, which is what the
 * programs' loops want: they check their stop flag right after. */
void clock_sleep_ms(int64_t ms);

#endif
