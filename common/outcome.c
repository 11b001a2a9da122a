/*
 * outcome: the one switch that turns a TMDB answer into what the row records.
 *
 * The tmdb module has already said what an answer means (done, goal holds, transient,
 * permanent, deployment fault); this file adds the operation's side: its retry budget,
 * the retry delay and the delayed-retry queue that carries it, and the error kind that
 * decides who can fix a failure (`tmdbq session set` for credentials, an operator for the
 * rest).
 */
#include "outcome.h"

#include <stdio.h>
#include <string.h>

static const char *const SESSION_HINT = "tmdbq session set --user %d --session-id S";

bool outcome_has_retry_queue(const struct backoff_policy *policy)
{
    return backoff_queue_delay_ms(policy, 0) > 0;
}

static void set_failed(struct outcome *out, const char *kind)
{
    out->rec.kind = DB_OUT_FAILED;
    out->rec.result_json = NULL;
    out->rec.error_message = out->message;
    out->rec.error_kind = kind;
    out->rec.delay_ms = 0;
    out->rec.count_retry = false;
    out->queue_ms = 0;
    out->name = "failed";
    out->level = LOG_LEVEL_ERROR;
}

/* A retry waiting at least want_ms, carried by the delayed-retry queue nearest to it. The
 * row waits for whichever is longer: the queue's delay (it must not become due before its
 * message returns, or the message finds it early) or want_ms (a message back before then
 * is published again for the rest).
 */
static void set_retry(struct outcome *out, const struct backoff_policy *policy,
                      int64_t want_ms, const char *kind, bool count_retry)
{
    int64_t queue_ms = backoff_queue_delay_ms(policy, want_ms);

    out->rec.kind = DB_OUT_RETRY;
    out->rec.result_json = NULL;
    out->rec.error_message = out->message;
    out->rec.error_kind = kind;
    out->rec.delay_ms = queue_ms > want_ms ? queue_ms : want_ms;
    out->rec.count_retry = count_retry;
    out->queue_ms = queue_ms;
    out->name = "retry";
    out->level = LOG_LEVEL_WARN;
}

/* The direct attempt's retry: no retry spent, due after want_ms (0: at once), carried by
 * the work queue (a claim before it is due publishes it again for the time left). */
static void set_direct_retry(struct outcome *out, int64_t want_ms, const char *kind)
{
    out->rec.kind = DB_OUT_RETRY;
    out->rec.result_json = NULL;
    out->rec.error_message = out->message;
    out->rec.error_kind = kind;
    out->rec.delay_ms = want_ms;
    out->rec.count_retry = false;
    out->queue_ms = 0;
    out->name = "retry";
    out->level = LOG_LEVEL_WARN;
}

/* How long a deployment fault makes an operation wait at this streak: the delay of that
 * retry, but no more than the longest queue's, so that once the deployment is fixed every
 * operation resumes within it rather than the policy's cap. */
static int64_t deployment_wait_ms(const struct backoff_policy *policy, int streak)
{
    int64_t want, longest;

    if (streak < 1)
        streak = 1;
    if (streak > OUTCOME_DEPLOYMENT_STREAK_MAX)
        streak = OUTCOME_DEPLOYMENT_STREAK_MAX;
    want = backoff_delay_ms(policy, streak);
    longest = backoff_queue_delay_ms(policy, INT64_MAX);
    if (longest > 0 && want > longest)
        want = longest;
    return want;
}

bool outcome_check_creds(const struct op *op, const char *session_id,
                         const char *access_token, enum outcome_caller caller,
                         struct outcome *out)
{
    char hint[128];

    snprintf(hint, sizeof hint, SESSION_HINT, (int)op->user_id);
    if (session_id == NULL || session_id[0] == '\0') {
        memset(out, 0, sizeof *out);
        snprintf(out->message, sizeof out->message,
                 "no TMDB session for user %d (set one with: %s)", (int)op->user_id,
                 hint);
    } else if (op->type == OP_UPDATE_LIST &&
               (access_token == NULL || access_token[0] == '\0')) {
        memset(out, 0, sizeof *out);
        snprintf(
            out->message, sizeof out->message,
            "no TMDB v4 access token for user %d (update_list needs one; set it with: "
            "%s --access-token T)",
            (int)op->user_id, hint);
    } else {
        return false;
    }
    /* The caller of a direct attempt is told it failed: nothing revives it later. */
    set_failed(out, caller == OUTCOME_DIRECT ? "permanent" : "credentials");
    out->called_tmdb = false;
    return true;
}

void outcome_decide(const struct tmdb_result *r, const struct op *op,
                    const struct backoff_policy *policy, int deployment_streak,
                    enum outcome_caller caller, struct outcome *out)
{
    bool direct = caller == OUTCOME_DIRECT;
    int64_t want;

    memset(out, 0, sizeof *out);
    out->called_tmdb = true;
    switch (r->outcome) {
    case TMDB_DONE:
    case TMDB_GOAL_HOLDS:
        out->rec.kind = DB_OUT_COMPLETED;
        out->rec.result_json = r->result_json;
        out->name = "completed";
        out->level = LOG_LEVEL_INFO;
        return;
    case TMDB_PERMANENT:
        if (r->credentials && !direct) {
            char hint[128];

            /* The tmdb module says what TMDB rejected; the user, and the command that
             * stores new credentials for them, are this side's to add. */
            snprintf(hint, sizeof hint, SESSION_HINT, (int)op->user_id);
            snprintf(out->message, sizeof out->message,
                     "%s (user %d: set new credentials with: %s%s)", r->message,
                     (int)op->user_id, hint,
                     op->type == OP_UPDATE_LIST ? " --access-token T" : "");
            set_failed(out, "credentials");
        } else {
            snprintf(out->message, sizeof out->message, "%s", r->message);
            set_failed(out, "permanent");
        }
        return;
    case TMDB_TRANSIENT:
        if (direct) {
            /* Its short timeout is the user's patience, not a fair try: the consumers
             * start with the full budget. */
            snprintf(out->message, sizeof out->message, "direct attempt: %s", r->message);
            set_direct_retry(out, r->retry_after_ms, "transient");
            return;
        }
        if (op->retry_count >= policy->max_retries) {
            snprintf(out->message, sizeof out->message, "gave up after %d retries: %s",
                     op->retry_count, r->message);
            set_failed(out, "transient");
            return;
        }
        want = backoff_delay_ms(policy, op->retry_count + 1);
        if (r->retry_after_ms > want)
            want = r->retry_after_ms;
        snprintf(out->message, sizeof out->message, "%s", r->message);
        set_retry(out, policy, want, "transient", true);
        return;
    case TMDB_RATE_LIMITED:
        /* The server's word on the rate, not on the operation: no retry is spent, and the
         * wait is TMDB's, not the backoff's. */
        want = r->retry_after_ms > 1000 ? r->retry_after_ms : 1000;
        snprintf(out->message, sizeof out->message, "%s%s; no retry spent",
                 direct ? "direct attempt: " : "", r->message);
        if (direct)
            set_direct_retry(out, want, "rate_limit");
        else
            set_retry(out, policy, want, "rate_limit", false);
        return;
    case TMDB_NOT_SENT:
        /* Nothing happened: back to the work queue at once, for another consumer. */
        snprintf(out->message, sizeof out->message, "%s%s; no retry spent",
                 direct ? "direct attempt: " : "", r->message);
        set_direct_retry(out, 0, "rate_limit");
        out->called_tmdb = false;
        return;
    case TMDB_DEPLOYMENT:
        if (direct) {
            snprintf(out->message, sizeof out->message,
                     "direct attempt: deployment fault: %s", r->message);
            set_direct_retry(out, r->retry_after_ms, "deployment");
            out->deployment = true;
            return;
        }
        snprintf(out->message, sizeof out->message,
                 "deployment fault: %s; the operation waits until it is fixed (no retry "
                 "spent)",
                 r->message);
        set_retry(out, policy, deployment_wait_ms(policy, deployment_streak),
                  "deployment", false);
        out->deployment = true;
        return;
    }
    /* An outcome this switch does not know is a programming error; failing the operation
     * with a clear message beats retrying it forever. */
    snprintf(out->message, sizeof out->message, "unknown TMDB outcome %d: %s",
             (int)r->outcome, r->message);
    set_failed(out, "permanent");
}

/* ---- deployment faults, per process ----------------------------------------------- */

int64_t outcome_faults_quiet_ms(const struct backoff_policy *policy)
{
    return 2 * deployment_wait_ms(policy, OUTCOME_DEPLOYMENT_STREAK_MAX);
}

/* A streak that saw no fault for the quiet interval is over. */
static void faults_expire(struct outcome_faults *f, const struct backoff_policy *policy,
                          int64_t now_ms)
{
    if (f->streak > 0 && now_ms - f->last_fault_ms > outcome_faults_quiet_ms(policy)) {
        f->streak = 0;
        f->faulted_types = 0;
    }
}

/* The log slot of r's fault: its own, else a free one (logged_ms 0: a used slot has
 * been logged), else the one logged longest ago (its count of lines not written is lost;
 * its next line comes at once). */
static struct outcome_fault_log *fault_slot(struct outcome_faults *f,
                                            const struct tmdb_result *r, bool *fresh)
{
    struct outcome_fault_log *pick = &f->log[0];

    for (size_t i = 0; i < OUTCOME_FAULT_SLOTS; i++) {
        struct outcome_fault_log *l = &f->log[i];

        if (l->logged_ms != 0 && l->http_status == r->http_status &&
            l->tmdb_code == r->tmdb_code) {
            *fresh = false;
            return l;
        }
        if (l->logged_ms < pick->logged_ms)
            pick = l;
    }
    memset(pick, 0, sizeof *pick);
    pick->http_status = r->http_status;
    pick->tmdb_code = r->tmdb_code;
    *fresh = true;
    return pick;
}

int outcome_faults_met(struct outcome_faults *f, enum op_type type,
                       const struct tmdb_result *r, const struct backoff_policy *policy,
                       int64_t now_ms, bool *log_due, long *suppressed)
{
    struct outcome_fault_log *l;
    bool fresh;

    faults_expire(f, policy, now_ms);
    /* One step per wait the fault outlasts: the operations that met it at the start of a
     * wait come back at its end, and meet it again only if it is still there. */
    if (f->streak == 0) {
        f->streak = 1;
        f->grown_ms = now_ms;
    } else if (f->streak < OUTCOME_DEPLOYMENT_STREAK_MAX &&
               now_ms - f->grown_ms >= deployment_wait_ms(policy, f->streak)) {
        f->streak++;
        f->grown_ms = now_ms;
    }
    if ((unsigned)type < OP_TYPE_COUNT)
        f->faulted_types |= 1u << (unsigned)type;
    f->last_fault_ms = now_ms;

    l = fault_slot(f, r, &fresh);
    *suppressed = 0;
    *log_due = fresh || now_ms - l->logged_ms >= OUTCOME_FAULT_LOG_MS;
    if (*log_due) {
        *suppressed = l->suppressed;
        l->suppressed = 0;
        /* A slot logged at time 0 must still read as used. */
        l->logged_ms = now_ms != 0 ? now_ms : 1;
    } else {
        l->suppressed++;
    }
    return f->streak;
}

bool outcome_faults_answered(struct outcome_faults *f, enum op_type type,
                             const struct tmdb_result *r,
                             const struct backoff_policy *policy, int64_t now_ms)
{
    faults_expire(f, policy, now_ms);
    if (f->streak == 0 || (r->outcome != TMDB_DONE && r->outcome != TMDB_GOAL_HOLDS))
        return false;
    if ((unsigned)type < OP_TYPE_COUNT)
        f->faulted_types &= ~(1u << (unsigned)type);
    if (f->faulted_types != 0)
        return false;
    f->streak = 0;
    return true;
}
