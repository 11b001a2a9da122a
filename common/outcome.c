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
    int64_t want, longest;
    int n;

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
                     "TMDB rejects the application's credential (TMDB_API_KEY / "
                     "TMDB_ACCESS_TOKEN): %s",
                     r->message);
            set_direct_retry(out, r->retry_after_ms, "deployment");
            out->deployment = true;
            return;
        }
        n = deployment_streak;
        if (n < 1)
            n = 1;
        if (n > OUTCOME_DEPLOYMENT_STREAK_MAX)
            n = OUTCOME_DEPLOYMENT_STREAK_MAX;
        snprintf(
            out->message, sizeof out->message,
            "TMDB rejects the application's credential (TMDB_API_KEY / "
            "TMDB_ACCESS_TOKEN): %s; the operation waits until the deployment is fixed",
            r->message);
        want = backoff_delay_ms(policy, n);
        /* Every operation waits out a deployment fault: when it is fixed they should
         * resume within the longest queue's delay, not the policy's cap. */
        longest = backoff_queue_delay_ms(policy, INT64_MAX);
        if (longest > 0 && want > longest)
            want = longest;
        set_retry(out, policy, want, "deployment", false);
        out->deployment = true;
        return;
    }
    /* An outcome this switch does not know is a programming error; failing the operation
     * with a clear message beats retrying it forever. */
    snprintf(out->message, sizeof out->message, "unknown TMDB outcome %d: %s",
             (int)r->outcome, r->message);
    set_failed(out, "permanent");
}
