/*
 * outcome: the retry/fail policy of every caller of TMDB, in one switch.
 *
 * Given a claimed operation and what TMDB answered (or that the user has no credentials
 * for it), decide what to record on the row: completed, failed (and of which kind), or a
 * retry after which delay. Pure functions of their inputs: no I/O, no clock, so every
 * branch is unit-tested (tests/unit/test_outcome.c).
 */
#ifndef TMDBQ_OUTCOME_H
#define TMDBQ_OUTCOME_H

#include <stdbool.h>
#include <stdint.h>

#include "backoff.h"
#include "db.h"
#include "log.h"
#include "op.h"
#include "tmdb.h"

/* Consecutive deployment faults beyond this do not lengthen the wait further (the
 * policy's cap already bounds it; this only keeps the count small). */
#define OUTCOME_DEPLOYMENT_STREAK_MAX 30

/* Who decides: a consumer, or the direct attempt of `tmdbq apply`, which spends no retry
 * whatever happens (its short timeout is the user's patience, not a fair try: the
 * consumers start with the full budget), is queued at once or after TMDB's Retry-After,
 * and fails "permanent" even for credentials (its caller is told it failed, so nothing
 * revives it later). */
enum outcome_caller { OUTCOME_CONSUMER, OUTCOME_DIRECT };

/* A decision. rec is what db_finish records; its error_message points into message and
 * its result_json is borrowed from the tmdb_result the decision was made from (keep that
 * alive until the outcome is recorded). */
struct outcome {
    struct db_outcome rec;
    int64_t queue_ms;     /* RETRY: the delayed-retry queue to publish to (one of the
                             policy's delays, <= rec.delay_ms); 0 when there are none,
                             and for NOT_SENT, which goes back to the work queue */
    char message[512];    /* error text for the row and the log; "" for completed */
    const char *name;     /* "completed", "failed" or "retry": for the log line */
    enum log_level level; /* info for completed, warn for a retry, error for a failure */
    bool deployment;      /* TMDB rejected the application's credential */
    bool called_tmdb;     /* false when decided before any TMDB call (no credentials) */
};

/* Before calling TMDB: when the claim lacks the user credential that op's type needs (a
 * v3 session for all; a v4 access token for update_list), fill *out with a FAILED outcome
 * of kind "credentials" whose message tells how to set one, and return true. Otherwise
 * return false and leave *out untouched. session_id and access_token are only tested for
 * NULL or empty, never copied. */
bool outcome_check_creds(const struct op *op, const char *session_id,
                         const char *access_token, enum outcome_caller caller,
                         struct outcome *out);

/* After calling TMDB: map r and op's retry state to *out.
 *   DONE, GOAL_HOLDS -> COMPLETED with r->result_json.
 *   PERMANENT        -> FAILED, kind "credentials" when r->credentials (a rejected
 * session or token), else "permanent". TRANSIENT        -> FAILED, kind "transient"
 * ("gave up after N retries: ...") once op->retry_count >= policy->max_retries; else
 * RETRY that counts, wanting the delay of retry retry_count + 1 raised to
 *                       r->retry_after_ms.
 *   RATE_LIMITED     -> RETRY that does not count, kind "rate_limit", wanting
 *                       r->retry_after_ms (at least 1 s).
 *   NOT_SENT         -> RETRY that does not count, kind "rate_limit", delay 0 and
 *                       queue_ms 0: the work queue again at once.
 *   DEPLOYMENT       -> RETRY that does not count, kind "deployment", wanting the delay
 *                       of retry deployment_streak (this worker's consecutive deployment
 *                       faults including this one, 1-based, capped) but no more than the
 *                       longest queue: once the deployment is fixed, waits stay short.
 * A RETRY's queue_ms is the delayed-retry queue for the wanted delay (the smallest one at
 * least as long, else the longest) and rec.delay_ms, how long the row waits, is the
 * longer of the two: a Retry-After beyond every queue is still honoured, the message then
 * comes back early and the consumer publishes it again for the time left. When the policy
 * has no retry queues (max_retries 0) queue_ms is 0, rec.delay_ms the wanted delay, and
 * outcome_has_retry_queue says so. For OUTCOME_DIRECT, every RETRY neither counts nor
 * backs off: due after TMDB's Retry-After (at once without one), queue_ms 0. */
void outcome_decide(const struct tmdb_result *r, const struct op *op,
                    const struct backoff_policy *policy, int deployment_streak,
                    enum outcome_caller caller, struct outcome *out);

/* Whether the policy has delayed-retry queues (so a RETRY can be published to one). */
bool outcome_has_retry_queue(const struct backoff_policy *policy);

#endif
