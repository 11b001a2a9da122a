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

/* A deployment streak beyond this does not lengthen the wait further (the longest queue
 * already bounds it; this only keeps the count small). */
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
 *                       of retry deployment_streak (outcome_faults_met's, 1-based,
 *                       capped) but no more than the longest queue: once the deployment
 *                       is fixed, waits stay short.
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

/* ---- deployment faults, per process ----------------------------------------------
 *
 * A deployment fault (the application's credential rejected, a redirect, an answer that
 * is not TMDB's) hits every operation alike, so what one process learns from it is kept
 * once for all its workers: the streak that lengthens the wait of every operation that
 * meets the fault, and when each fault was last logged.
 *
 * The streak grows by one each time the fault outlasts the wait it set (a burst of
 * operations meeting it at once is one step, not a hundred, so a short outage costs short
 * waits), and is not ended by the success of an operation the fault does not touch (it
 * may hit one kind of request only, such as a proxy rule on one path): it ends when every
 * kind of request that met it has succeeded since, or when no fault has been seen for
 * twice the longest wait (outcome_faults_quiet_ms), by which time every operation still
 * waiting on it would have met it again. Each fault (an HTTP status and TMDB code) is
 * logged at most once per OUTCOME_FAULT_LOG_MS, the line saying how many were not. Pure
 * functions of their arguments: the caller passes the clock and serialises access to
 * the struct, which starts zeroed. */

#define OUTCOME_FAULT_LOG_MS 60000
#define OUTCOME_FAULT_SLOTS 4

struct outcome_fault_log {
    long http_status; /* the fault's identity */
    int tmdb_code;
    int64_t logged_ms; /* when its last line was written; 0: a free slot */
    long suppressed;   /* met since then and not logged */
};

struct outcome_faults {
    int streak;             /* 0: no streak; else what outcome_decide gets */
    int64_t grown_ms;       /* when the streak last grew */
    unsigned faulted_types; /* bit 1 << op_type: met the fault, no success since */
    int64_t last_fault_ms;  /* when a fault was last met */
    struct outcome_fault_log log[OUTCOME_FAULT_SLOTS];
};

/* How long without a fault ends a streak: twice the longest a deployment fault makes an
 * operation wait under policy. */
int64_t outcome_faults_quiet_ms(const struct backoff_policy *policy);

/* An operation of type met the deployment fault r at now_ms. Returns the streak to pass
 * to outcome_decide (1 for a first fault, then one more each time the fault outlasts the
 * wait of the current streak). *log_due is set when this fault's ERROR line is due (it is
 * new, or OUTCOME_FAULT_LOG_MS have passed since its last line), and *suppressed to how
 * many times it was met since that last line without a line (0 when not due). */
int outcome_faults_met(struct outcome_faults *f, enum op_type type,
                       const struct tmdb_result *r, const struct backoff_policy *policy,
                       int64_t now_ms, bool *log_due, long *suppressed);

/* An operation of type got answer r, not a deployment fault, at now_ms: a success (done,
 * goal holds) clears type from the types that met the fault; the streak ends when none
 * is left, or when no fault was met for outcome_faults_quiet_ms. Returns true when this
 * success ended a streak (the fault is over: worth a line). */
bool outcome_faults_answered(struct outcome_faults *f, enum op_type type,
                             const struct tmdb_result *r,
                             const struct backoff_policy *policy, int64_t now_ms);

#endif
