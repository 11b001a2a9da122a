/*
 * rate: one process's share of TMDB's request ceiling (TMDBQ_TMDB_RATE), and the shared
 * cool-down after a 429.
 *
 * The budget of a scope (every consumer of the queue, or of one host) lives in
 * PostgreSQL as the time of its next free request slot (migration 008). A process leases
 * a few slots at a time, spaced 1/rate apart and never more than a second ahead, and
 * hands them to its threads one by one at their times: whoever asks gets slots, so an
 * idle process holds none and a new one gets its share at its first lease. One lease
 * statement serves several requests. A slot not used within RATE_SLOT_GRACE_MS of its
 * time is dropped, and slots are spaced (1000 + RATE_SLOT_SLACK_MS) / rate ms apart, so
 * the requests that leave every process together stay under rate in any one-second
 * window even when a request leaves up to RATE_SLOT_SLACK_MS - RATE_SLOT_GRACE_MS behind
 * its slot's schedule (a lease's round trip, a busy machine). A 429 stops this process's
 * requests at once and sets a cool-down for the whole scope that no slot is granted
 * inside.
 *
 * Thread-safe: one struct rate per process, shared by its threads. Each caller passes its
 * own PostgreSQL handle for the statements it may run.
 */
#ifndef TMDBQ_RATE_H
#define TMDBQ_RATE_H

#include <stdbool.h>
#include <stdint.h>

#include "cfg.h"
#include "db.h"
#include "err.h"

/* A slot more than this late is dropped, and slots are this much further apart than
 * 1000 / rate, so that a request sent late, or a process whose clock reading of a lease
 * is off by part of the lease's round trip, still keeps the scope under the rate. */
#define RATE_SLOT_GRACE_MS 10
#define RATE_SLOT_SLACK_MS 30
/* Slots are never leased further ahead of now than this. */
#define RATE_HORIZON_MS 1000
/* A lease asks for at most this long a run of slots (and at least one). */
#define RATE_LEASE_SPAN_MS 250

struct rate;

/* rate: requests per second for the whole scope, 0 for no budget (requests go at once; a
 * 429 still holds this process for its Retry-After). scope is copied: "queue" or
 * "host:<name>". */
enum status rate_new(double rate, const char *scope, struct rate **out, struct err *e);
/* rate_new for the configuration's TMDBQ_TMDB_RATE and TMDBQ_TMDB_RATE_SCOPE; host names
 * this host for the host scope. */
enum status rate_scope_new(const struct cfg *cfg, const char *host, struct rate **out,
                           struct err *e);
void rate_free(struct rate *r);

/* Wait until this process may send one TMDB request: through a cool-down, then for the
 * next leased slot, leasing more through db when none is left (one thread leases while
 * the others wait). quit(arg) is asked at least every 100 ms; when it says true the call
 * returns ST_TIMEOUT and nothing may be sent. ST_DB when the lease failed (e says why):
 * the caller mends its connection and calls again. ST_OK: send now. */
enum status rate_take(struct rate *r, struct db *db, bool (*quit)(void *), void *arg,
                      struct err *e);

/* After TMDB answered: limited is true for a 429 (or status_code 25), retry_after_ms its
 * wait. A 429 stops this process's requests for retry_after_ms at once, drops its leased
 * slots, and tells the scope through db (one statement; a failure only delays that to the
 * next lease). db may be NULL. */
void rate_note(struct rate *r, struct db *db, bool limited, int64_t retry_after_ms);

/* Report the requests and 429s not reported yet (one statement when there are any; a
 * failure is only logged): when now is true, or when the last report is 5 s old. For a
 * heartbeat, so an idle process's last requests are counted too, and for the exit. */
void rate_flush(struct rate *r, struct db *db, bool now);

/* What is left of the cool-down this process knows of, in ms (0 when none). */
int64_t rate_cooldown_left_ms(struct rate *r);

/* Requests per second and scope, as configured. */
double rate_per_second(const struct rate *r);

#endif
