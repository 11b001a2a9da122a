/*
 * test_outcome: the consumer's retry/fail policy (consumer/outcome.c), every branch: the
 * credential checks before a TMDB call, and each TMDB outcome against the retry budget,
 * Retry-After, the delayed-retry queues and a deployment fault streak. Needs no services.
 *
 * The unit tests link only tmdbq_lib, so outcome.c is compiled into this test directly;
 * it is a pure module with no other consumer dependency.
 */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "outcome.h"

static const struct backoff_policy DEFAULTS = {5, 30000, 3600000};

static struct op make_op(enum op_type type, int retry_count)
{
    struct op op;

    memset(&op, 0, sizeof op);
    snprintf(op.id, sizeof op.id, "3c70cd97-ac32-4781-b3c4-1e876c3f4597");
    op.type = type;
    op.status = OP_PROCESSING;
    op.user_id = 42;
    op.list_id = type == OP_CREATE_LIST ? 0 : 7;
    op.retry_count = retry_count;
    return op;
}

static struct tmdb_result make_result(enum tmdb_outcome outcome, long http, int code,
                                      const char *message)
{
    struct tmdb_result r;

    memset(&r, 0, sizeof r);
    r.outcome = outcome;
    r.http_status = http;
    r.tmdb_code = code;
    snprintf(r.message, sizeof r.message, "%s", message);
    r.requests = 1;
    return r;
}

static void test_check_creds(void)
{
    struct outcome o;
    struct op add = make_op(OP_ADD_MOVIE, 0);
    struct op upd = make_op(OP_UPDATE_LIST, 0);

    /* No session at all: failed, credentials, with the command that fixes it. */
    memset(&o, 0x5a, sizeof o);
    CHECK(outcome_check_creds(&add, NULL, NULL, OUTCOME_CONSUMER, &o));
    CHECK_EQ_INT(o.rec.kind, DB_OUT_FAILED);
    CHECK_STR_EQ(o.rec.error_kind, "credentials");
    CHECK_CONTAINS(o.rec.error_message, "no TMDB session for user 42");
    CHECK_CONTAINS(o.rec.error_message, "tmdbq session set --user 42");
    CHECK(o.rec.error_message == o.message);
    CHECK(o.rec.result_json == NULL);
    CHECK(!o.called_tmdb);
    CHECK(!o.deployment);
    CHECK_STR_EQ(o.name, "failed");
    CHECK_EQ_INT(o.level, LOG_LEVEL_ERROR);

    /* An empty session counts as none. */
    CHECK(outcome_check_creds(&add, "", "tok", OUTCOME_CONSUMER, &o));
    CHECK_CONTAINS(o.message, "no TMDB session for user 42");

    /* A session is all add_movie needs. */
    memset(&o, 0, sizeof o);
    CHECK(!outcome_check_creds(&add, "sess", NULL, OUTCOME_CONSUMER, &o));
    CHECK(o.name == NULL); /* untouched */

    /* update_list needs the v4 token too. */
    CHECK(outcome_check_creds(&upd, "sess", NULL, OUTCOME_CONSUMER, &o));
    CHECK_EQ_INT(o.rec.kind, DB_OUT_FAILED);
    CHECK_STR_EQ(o.rec.error_kind, "credentials");
    CHECK_CONTAINS(o.message, "no TMDB v4 access token for user 42");
    CHECK_CONTAINS(o.message, "--access-token");
    CHECK(outcome_check_creds(&upd, "sess", "", OUTCOME_CONSUMER, &o));
    CHECK_CONTAINS(o.message, "no TMDB v4 access token");
    /* Without any credentials, the session is what is reported first. */
    CHECK(outcome_check_creds(&upd, NULL, NULL, OUTCOME_CONSUMER, &o));
    CHECK_CONTAINS(o.message, "no TMDB session for user 42");
    memset(&o, 0, sizeof o);
    CHECK(!outcome_check_creds(&upd, "sess", "tok", OUTCOME_CONSUMER, &o));

    /* Secrets are never copied into the message. */
    CHECK(outcome_check_creds(&upd, "secret-session", NULL, OUTCOME_CONSUMER, &o));
    CHECK(strstr(o.message, "secret-session") == NULL);
}

static void test_completed(void)
{
    struct op op = make_op(OP_CREATE_LIST, 3);
    struct tmdb_result r = make_result(TMDB_DONE, 201, 1, "");
    char result[] = "{\"list_id\":1000}";
    struct outcome o;

    r.result_json = result;
    outcome_decide(&r, &op, &DEFAULTS, 0, OUTCOME_CONSUMER, &o);
    CHECK_EQ_INT(o.rec.kind, DB_OUT_COMPLETED);
    CHECK(o.rec.result_json == result); /* borrowed, not copied */
    CHECK(o.rec.error_message == NULL);
    CHECK(o.rec.error_kind == NULL);
    CHECK_STR_EQ(o.name, "completed");
    CHECK_EQ_INT(o.level, LOG_LEVEL_INFO);
    CHECK(o.called_tmdb);
    CHECK(!o.deployment);

    r = make_result(TMDB_GOAL_HOLDS, 403, 8, "already on the list");
    op = make_op(OP_ADD_MOVIE, 0);
    outcome_decide(&r, &op, &DEFAULTS, 0, OUTCOME_CONSUMER, &o);
    CHECK_EQ_INT(o.rec.kind, DB_OUT_COMPLETED);
    CHECK(o.rec.result_json == NULL);
    CHECK_STR_EQ(o.name, "completed");
}

static void test_permanent(void)
{
    struct op op = make_op(OP_ADD_MOVIE, 0);
    struct tmdb_result r = make_result(TMDB_PERMANENT, 404, 34,
                                       "TMDB list 7 not found "
                                       "(status_code 34)");
    struct outcome o;

    outcome_decide(&r, &op, &DEFAULTS, 0, OUTCOME_CONSUMER, &o);
    CHECK_EQ_INT(o.rec.kind, DB_OUT_FAILED);
    CHECK_STR_EQ(o.rec.error_kind, "permanent");
    CHECK_STR_EQ(o.rec.error_message, "TMDB list 7 not found (status_code 34)");
    CHECK_STR_EQ(o.name, "failed");
    CHECK_EQ_INT(o.level, LOG_LEVEL_ERROR);
    CHECK(o.called_tmdb);

    /* Not permitted is the operation's problem too, not the session's. */
    r = make_result(TMDB_PERMANENT, 401, 38, "not your list");
    outcome_decide(&r, &op, &DEFAULTS, 0, OUTCOME_CONSUMER, &o);
    CHECK_STR_EQ(o.rec.error_kind, "permanent");

    /* A rejected session (the tmdb module's flag, not the message, says so):
     * credentials, so `tmdbq session set` retries it, and the message says how. */
    r = make_result(TMDB_PERMANENT, 401, 3, "TMDB rejected the session (status_code 3)");
    r.credentials = true;
    outcome_decide(&r, &op, &DEFAULTS, 0, OUTCOME_CONSUMER, &o);
    CHECK_EQ_INT(o.rec.kind, DB_OUT_FAILED);
    CHECK_STR_EQ(o.rec.error_kind, "credentials");
    CHECK_STR_EQ(o.message,
                 "TMDB rejected the session (status_code 3) (user 42: set new "
                 "credentials with: tmdbq session set --user 42 --session-id S)");
    CHECK(strstr(o.message, "--access-token") == NULL);

    /* The same code without the flag is no credential failure: the flag decides. */
    r.credentials = false;
    outcome_decide(&r, &op, &DEFAULTS, 0, OUTCOME_CONSUMER, &o);
    CHECK_STR_EQ(o.rec.error_kind, "permanent");

    /* A rejected v4 token on update_list: the hint names the token. */
    op = make_op(OP_UPDATE_LIST, 0);
    r = make_result(TMDB_PERMANENT, 401, 35, "TMDB rejected the token (status_code 35)");
    r.credentials = true;
    outcome_decide(&r, &op, &DEFAULTS, 0, OUTCOME_CONSUMER, &o);
    CHECK_STR_EQ(o.rec.error_kind, "credentials");
    CHECK_CONTAINS(o.message, "--access-token");
}

static void test_transient(void)
{
    struct op op = make_op(OP_ADD_MOVIE, 0);
    struct tmdb_result r = make_result(TMDB_TRANSIENT, 503, 9, "TMDB answered 503");
    struct outcome o;

    /* First failure: retry 1 after base, by the queue of that delay. */
    outcome_decide(&r, &op, &DEFAULTS, 0, OUTCOME_CONSUMER, &o);
    CHECK_EQ_INT(o.rec.kind, DB_OUT_RETRY);
    CHECK_EQ_INT(o.rec.delay_ms, 30000);
    CHECK_EQ_INT(o.queue_ms, 30000);
    CHECK(o.rec.count_retry);
    CHECK_STR_EQ(o.rec.error_kind, "transient");
    CHECK_STR_EQ(o.rec.error_message, "TMDB answered 503");
    CHECK_STR_EQ(o.name, "retry");
    CHECK_EQ_INT(o.level, LOG_LEVEL_WARN);
    CHECK(!o.deployment);

    /* Two retries spent: the third waits 120 s. */
    op.retry_count = 2;
    outcome_decide(&r, &op, &DEFAULTS, 0, OUTCOME_CONSUMER, &o);
    CHECK_EQ_INT(o.rec.kind, DB_OUT_RETRY);
    CHECK_EQ_INT(o.rec.delay_ms, 120000);
    CHECK_EQ_INT(o.queue_ms, 120000);

    /* The last retry still allowed. */
    op.retry_count = 4;
    outcome_decide(&r, &op, &DEFAULTS, 0, OUTCOME_CONSUMER, &o);
    CHECK_EQ_INT(o.rec.kind, DB_OUT_RETRY);
    CHECK_EQ_INT(o.rec.delay_ms, 480000);

    /* Retries spent: failed, naming the count and the last error. */
    op.retry_count = 5;
    outcome_decide(&r, &op, &DEFAULTS, 0, OUTCOME_CONSUMER, &o);
    CHECK_EQ_INT(o.rec.kind, DB_OUT_FAILED);
    CHECK_EQ_INT(o.queue_ms, 0);
    CHECK_STR_EQ(o.rec.error_kind, "transient");
    CHECK_STR_EQ(o.message, "gave up after 5 retries: TMDB answered 503");
    CHECK_STR_EQ(o.name, "failed");
    CHECK_EQ_INT(o.level, LOG_LEVEL_ERROR);

    /* More than the budget (a rescue raised it): failed too. */
    op.retry_count = 6;
    outcome_decide(&r, &op, &DEFAULTS, 0, OUTCOME_CONSUMER, &o);
    CHECK_EQ_INT(o.rec.kind, DB_OUT_FAILED);
}

static void test_retry_after(void)
{
    struct op op = make_op(OP_ADD_MOVIE, 0);
    struct tmdb_result r = make_result(TMDB_TRANSIENT, 503, 9, "TMDB answered 503");
    struct outcome o;

    /* Retry-After 45 s beats the 30 s backoff; the queue that carries it is 60 s, and the
     * row waits as long (its message must not find it early). */
    r.retry_after_ms = 45000;
    outcome_decide(&r, &op, &DEFAULTS, 0, OUTCOME_CONSUMER, &o);
    CHECK_EQ_INT(o.rec.kind, DB_OUT_RETRY);
    CHECK_EQ_INT(o.rec.delay_ms, 60000);
    CHECK_EQ_INT(o.queue_ms, 60000);
    CHECK(o.rec.count_retry);

    /* A Retry-After below the backoff changes nothing. */
    r.retry_after_ms = 1000;
    outcome_decide(&r, &op, &DEFAULTS, 0, OUTCOME_CONSUMER, &o);
    CHECK_EQ_INT(o.rec.delay_ms, 30000);
    CHECK_EQ_INT(o.queue_ms, 30000);

    /* Beyond every queue: still honoured. The row waits the whole 2 h; its message goes
     * to the longest queue, comes back early and is published again for the rest. */
    r.retry_after_ms = 2 * 3600000;
    outcome_decide(&r, &op, &DEFAULTS, 0, OUTCOME_CONSUMER, &o);
    CHECK_EQ_INT(o.rec.kind, DB_OUT_RETRY);
    CHECK_EQ_INT(o.rec.delay_ms, 2 * 3600000);
    CHECK_EQ_INT(o.queue_ms, 480000);

    /* Just beyond the longest queue. */
    r.retry_after_ms = 480001;
    outcome_decide(&r, &op, &DEFAULTS, 0, OUTCOME_CONSUMER, &o);
    CHECK_EQ_INT(o.rec.delay_ms, 480001);
    CHECK_EQ_INT(o.queue_ms, 480000);

    /* Exactly a queue's delay. */
    r.retry_after_ms = 240000;
    outcome_decide(&r, &op, &DEFAULTS, 0, OUTCOME_CONSUMER, &o);
    CHECK_EQ_INT(o.rec.delay_ms, 240000);
    CHECK_EQ_INT(o.queue_ms, 240000);

    /* The last retry allowed, with a long Retry-After: still a retry, honoured. */
    op.retry_count = 4;
    r.retry_after_ms = 3 * 3600000;
    outcome_decide(&r, &op, &DEFAULTS, 0, OUTCOME_CONSUMER, &o);
    CHECK_EQ_INT(o.rec.kind, DB_OUT_RETRY);
    CHECK_EQ_INT(o.rec.delay_ms, 3 * 3600000);
    CHECK_EQ_INT(o.queue_ms, 480000);
}

static void test_small_base(void)
{
    const struct backoff_policy p = {5, 100, 3600000};
    struct op op = make_op(OP_CLEAR_LIST, 1);
    struct tmdb_result r = make_result(TMDB_TRANSIENT, 0, 0, "connection refused");
    struct outcome o;

    outcome_decide(&r, &op, &p, 0, OUTCOME_CONSUMER, &o);
    CHECK_EQ_INT(o.rec.kind, DB_OUT_RETRY);
    CHECK_EQ_INT(o.rec.delay_ms, 200);
    CHECK_EQ_INT(o.queue_ms, 200);
    /* Retry-After 1 s (TMDB's 0 becomes 1 s) lands in the 1.6 s queue. */
    r.retry_after_ms = 1000;
    outcome_decide(&r, &op, &p, 0, OUTCOME_CONSUMER, &o);
    CHECK_EQ_INT(o.rec.delay_ms, 1600);
    CHECK_EQ_INT(o.queue_ms, 1600);
    /* Retry-After 2 s is past the longest queue (1.6 s): the row waits 2 s. */
    r.retry_after_ms = 2000;
    outcome_decide(&r, &op, &p, 0, OUTCOME_CONSUMER, &o);
    CHECK_EQ_INT(o.rec.delay_ms, 2000);
    CHECK_EQ_INT(o.queue_ms, 1600);
}

static void test_no_retries(void)
{
    const struct backoff_policy p = {0, 30000, 3600000};
    struct op op = make_op(OP_ADD_MOVIE, 0);
    struct tmdb_result r = make_result(TMDB_TRANSIENT, 500, 11, "TMDB answered 500");
    struct outcome o;

    CHECK(!outcome_has_retry_queue(&p));
    CHECK(outcome_has_retry_queue(&DEFAULTS));
    outcome_decide(&r, &op, &p, 0, OUTCOME_CONSUMER, &o);
    CHECK_EQ_INT(o.rec.kind, DB_OUT_FAILED);
    CHECK_STR_EQ(o.message, "gave up after 0 retries: TMDB answered 500");

    /* A deployment fault still waits, with no queue: the policy's own delay. */
    r = make_result(TMDB_DEPLOYMENT, 401, 7, "invalid API key");
    outcome_decide(&r, &op, &p, 1, OUTCOME_CONSUMER, &o);
    CHECK_EQ_INT(o.rec.kind, DB_OUT_RETRY);
    CHECK_EQ_INT(o.rec.delay_ms, 30000);
    CHECK_EQ_INT(o.queue_ms, 0);
    CHECK(!o.rec.count_retry);
    /* ... and its streak is not held to a queue that does not exist. */
    outcome_decide(&r, &op, &p, 3, OUTCOME_CONSUMER, &o);
    CHECK_EQ_INT(o.rec.delay_ms, 120000);
    CHECK_EQ_INT(o.queue_ms, 0);
}

static void test_deployment(void)
{
    struct op op = make_op(OP_ADD_MOVIE, 5); /* no retries left: still not failed */
    struct tmdb_result r = make_result(TMDB_DEPLOYMENT, 401, 7, "Invalid API key");
    struct outcome o;

    outcome_decide(&r, &op, &DEFAULTS, 1, OUTCOME_CONSUMER, &o);
    CHECK_EQ_INT(o.rec.kind, DB_OUT_RETRY);
    CHECK(!o.rec.count_retry);
    CHECK_STR_EQ(o.rec.error_kind, "deployment");
    CHECK_EQ_INT(o.rec.delay_ms, 30000);
    CHECK(o.deployment);
    CHECK_STR_EQ(o.message, "deployment fault: Invalid API key; the operation waits "
                            "until it is fixed (no retry spent)");
    CHECK_STR_EQ(o.name, "retry");

    /* The streak lengthens the wait. */
    outcome_decide(&r, &op, &DEFAULTS, 3, OUTCOME_CONSUMER, &o);
    CHECK_EQ_INT(o.rec.delay_ms, 120000);
    /* A streak below 1 counts as the first. */
    outcome_decide(&r, &op, &DEFAULTS, 0, OUTCOME_CONSUMER, &o);
    CHECK_EQ_INT(o.rec.delay_ms, 30000);
    /* A long streak stays at the longest queue (not the 1 h cap): once the deployment is
     * fixed, operations resume within minutes. */
    outcome_decide(&r, &op, &DEFAULTS, 1000, OUTCOME_CONSUMER, &o);
    CHECK_EQ_INT(o.rec.delay_ms, 480000);
    CHECK_EQ_INT(o.queue_ms, 480000);
    CHECK_EQ_INT(o.rec.kind, DB_OUT_RETRY);
}

/* Issue 15, defect 9: one process's memory of deployment faults. The streak grows one
 * step each time the fault outlasts the wait it set (a burst is one step), is not ended
 * by successes of requests the fault does not touch, and ends when every kind of request
 * that met it succeeded since, or after a quiet interval; each fault is logged once a
 * minute with the count of lines not written. */
static void test_faults(void)
{
    struct outcome_faults f;
    struct tmdb_result key = make_result(TMDB_DEPLOYMENT, 401, 7, "bad key");
    struct tmdb_result redirect = make_result(TMDB_DEPLOYMENT, 302, 0, "302");
    struct tmdb_result done = make_result(TMDB_DONE, 201, 12, "ok");
    struct tmdb_result failed = make_result(TMDB_PERMANENT, 404, 34, "no list");
    int64_t t = 1000000, quiet = outcome_faults_quiet_ms(&DEFAULTS);
    bool log_due;
    long suppressed;
    struct outcome o;
    struct op op = make_op(OP_UPDATE_LIST, 0);

    /* Twice the longest queue (8 m): every waiting operation has met it again by then. */
    CHECK_EQ_INT(quiet, 2 * 480000);

    memset(&f, 0, sizeof f);
    /* A burst of 100 operations meeting the fault at once: one step, one line. */
    for (int i = 0; i < 100; i++) {
        CHECK_EQ_INT(outcome_faults_met(&f, OP_ADD_MOVIE, &key, &DEFAULTS, t + i,
                                        &log_due, &suppressed),
                     1);
        CHECK(log_due == (i == 0));
        CHECK_EQ_INT(suppressed, 0);
    }
    /* Successes of a kind of request the fault never touched do not end it... */
    for (int i = 0; i < 10; i++)
        CHECK(!outcome_faults_answered(&f, OP_REMOVE_MOVIE, &done, &DEFAULTS, t + 200));
    /* ... and when it outlasts the first wait (30 s), the next wait is longer, and so on:
     * 30 s, 1 m, 2 m, 4 m, then the longest queue's 8 m. */
    t += 30000;
    CHECK_EQ_INT(
        outcome_faults_met(&f, OP_ADD_MOVIE, &key, &DEFAULTS, t, &log_due, &suppressed),
        2);
    CHECK(!log_due);
    t += 59999;
    CHECK_EQ_INT(
        outcome_faults_met(&f, OP_ADD_MOVIE, &key, &DEFAULTS, t, &log_due, &suppressed),
        2);
    /* A minute after its line: the next line, with the count of those not written. */
    CHECK(log_due);
    CHECK_EQ_INT(suppressed, 100);
    t += 1;
    CHECK_EQ_INT(
        outcome_faults_met(&f, OP_ADD_MOVIE, &key, &DEFAULTS, t, &log_due, &suppressed),
        3);
    CHECK(!log_due);
    for (int step = 4; step <= 8; step++) {
        t += 480000;
        CHECK_EQ_INT(outcome_faults_met(&f, OP_ADD_MOVIE, &key, &DEFAULTS, t, &log_due,
                                        &suppressed),
                     step);
        outcome_decide(&key, &op, &DEFAULTS, step, OUTCOME_CONSUMER, &o);
    }
    CHECK_EQ_INT(o.rec.delay_ms, 480000);
    /* Another fault gets its own line at once. */
    outcome_faults_met(&f, OP_CLEAR_LIST, &redirect, &DEFAULTS, t, &log_due, &suppressed);
    CHECK(log_due);
    CHECK_EQ_INT(suppressed, 0);
    /* A failure is not a success; a success of one kind that met it is not enough while
     * another kind that met it has not succeeded. */
    CHECK(!outcome_faults_answered(&f, OP_ADD_MOVIE, &failed, &DEFAULTS, t));
    CHECK(!outcome_faults_answered(&f, OP_ADD_MOVIE, &done, &DEFAULTS, t));
    CHECK_EQ_INT(f.streak, 8);
    CHECK(outcome_faults_answered(&f, OP_CLEAR_LIST, &done, &DEFAULTS, t + 1));
    CHECK_EQ_INT(f.streak, 0);
    /* Over: the next fault starts again at the first wait. */
    CHECK_EQ_INT(outcome_faults_met(&f, OP_CLEAR_LIST, &key, &DEFAULTS, t + 2, &log_due,
                                    &suppressed),
                 1);

    /* A quiet interval ends a streak that no success ended (its operations were
     * cancelled, or succeeded in another process). */
    t += 2;
    outcome_faults_met(&f, OP_CLEAR_LIST, &key, &DEFAULTS, t + 30000, &log_due,
                       &suppressed);
    CHECK_EQ_INT(f.streak, 2);
    t += 30000;
    /* Just within the interval: the same streak, one step on. */
    CHECK_EQ_INT(outcome_faults_met(&f, OP_ADD_MOVIE, &key, &DEFAULTS, t + quiet,
                                    &log_due, &suppressed),
                 3);
    CHECK_EQ_INT(outcome_faults_met(&f, OP_ADD_MOVIE, &key, &DEFAULTS, t + 2 * quiet + 1,
                                    &log_due, &suppressed),
                 1);
    CHECK(!outcome_faults_answered(&f, OP_REMOVE_MOVIE, &done, &DEFAULTS,
                                   t + 3 * quiet + 2));
    CHECK_EQ_INT(f.streak, 0);

    /* More faults than slots: the one logged longest ago makes room, and its line comes
     * at once when it is back. */
    memset(&f, 0, sizeof f);
    for (int i = 0; i < OUTCOME_FAULT_SLOTS + 1; i++) {
        struct tmdb_result r = make_result(TMDB_DEPLOYMENT, 300 + i, 0, "3xx");

        outcome_faults_met(&f, OP_ADD_MOVIE, &r, &DEFAULTS, t + i, &log_due, &suppressed);
        CHECK(log_due);
    }
    {
        struct tmdb_result r = make_result(TMDB_DEPLOYMENT, 300, 0, "3xx");

        outcome_faults_met(&f, OP_ADD_MOVIE, &r, &DEFAULTS, t + 10, &log_due,
                           &suppressed);
        CHECK(log_due);
        r.http_status = 304;
        outcome_faults_met(&f, OP_ADD_MOVIE, &r, &DEFAULTS, t + 11, &log_due,
                           &suppressed);
        CHECK(!log_due);
    }
}

static void test_unknown_outcome(void)
{
    struct op op = make_op(OP_ADD_MOVIE, 0);
    struct tmdb_result r = make_result((enum tmdb_outcome)99, 200, 0, "odd");
    struct outcome o;

    outcome_decide(&r, &op, &DEFAULTS, 0, OUTCOME_CONSUMER, &o);
    CHECK_EQ_INT(o.rec.kind, DB_OUT_FAILED);
    CHECK_STR_EQ(o.rec.error_kind, "permanent");
    CHECK_CONTAINS(o.message, "unknown TMDB outcome 99");
}

/* A 429 spends no retry, even with none left, and waits TMDB's Retry-After (at least
 * 1 s), carried by the nearest delayed-retry queue. */
static void test_rate_limited(void)
{
    struct op op = make_op(OP_ADD_MOVIE, 5);
    struct tmdb_result r = make_result(TMDB_RATE_LIMITED, 429, 25, "TMDB rate limit");
    struct outcome o;

    r.retry_after_ms = 2000;
    outcome_decide(&r, &op, &DEFAULTS, 0, OUTCOME_CONSUMER, &o);
    CHECK_EQ_INT(o.rec.kind, DB_OUT_RETRY);
    CHECK(!o.rec.count_retry);
    CHECK_STR_EQ(o.rec.error_kind, "rate_limit");
    CHECK_EQ_INT(o.queue_ms, 30000);
    CHECK_EQ_INT(o.rec.delay_ms, 30000);
    CHECK_STR_EQ(o.message, "TMDB rate limit; no retry spent");

    r.retry_after_ms = 0;
    outcome_decide(&r, &op, &DEFAULTS, 0, OUTCOME_CONSUMER, &o);
    CHECK_EQ_INT(o.rec.kind, DB_OUT_RETRY);
    CHECK(o.rec.delay_ms >= 1000);

    /* Not sent at all: straight back to the work queue, nothing spent. */
    r = make_result(TMDB_NOT_SENT, 0, 0, "not sent");
    outcome_decide(&r, &op, &DEFAULTS, 0, OUTCOME_CONSUMER, &o);
    CHECK_EQ_INT(o.rec.kind, DB_OUT_RETRY);
    CHECK(!o.rec.count_retry);
    CHECK_EQ_INT(o.rec.delay_ms, 0);
    CHECK_EQ_INT(o.queue_ms, 0);
    CHECK(!o.called_tmdb);
}

/* The direct attempt of `tmdbq apply`: no retry spent whatever happens, queued at once or
 * after Retry-After by the work queue, and a credential failure is plain permanent (its
 * caller was told it failed). */
static void test_direct(void)
{
    struct op op = make_op(OP_ADD_MOVIE, 0);
    struct tmdb_result r = make_result(TMDB_TRANSIENT, 503, 9, "TMDB answered 503");
    struct outcome o;

    outcome_decide(&r, &op, &DEFAULTS, 0, OUTCOME_DIRECT, &o);
    CHECK_EQ_INT(o.rec.kind, DB_OUT_RETRY);
    CHECK(!o.rec.count_retry);
    CHECK_EQ_INT(o.rec.delay_ms, 0);
    CHECK_EQ_INT(o.queue_ms, 0);
    CHECK_STR_EQ(o.rec.error_kind, "transient");
    CHECK_STR_EQ(o.message, "direct attempt: TMDB answered 503");

    r = make_result(TMDB_RATE_LIMITED, 429, 25, "TMDB rate limit");
    r.retry_after_ms = 3000;
    outcome_decide(&r, &op, &DEFAULTS, 0, OUTCOME_DIRECT, &o);
    CHECK_EQ_INT(o.rec.delay_ms, 3000);
    CHECK_EQ_INT(o.queue_ms, 0);
    CHECK_STR_EQ(o.rec.error_kind, "rate_limit");

    r = make_result(TMDB_DEPLOYMENT, 401, 7, "bad key");
    outcome_decide(&r, &op, &DEFAULTS, 3, OUTCOME_DIRECT, &o);
    CHECK_EQ_INT(o.rec.kind, DB_OUT_RETRY);
    CHECK_EQ_INT(o.rec.delay_ms, 0);
    CHECK(o.deployment);
    CHECK_STR_EQ(o.message, "direct attempt: deployment fault: bad key");

    r = make_result(TMDB_PERMANENT, 401, 3, "TMDB rejected the session (status_code 3)");
    r.credentials = true;
    outcome_decide(&r, &op, &DEFAULTS, 0, OUTCOME_DIRECT, &o);
    CHECK_EQ_INT(o.rec.kind, DB_OUT_FAILED);
    CHECK_STR_EQ(o.rec.error_kind, "permanent");
    CHECK_STR_EQ(o.message, "TMDB rejected the session (status_code 3)");

    CHECK(outcome_check_creds(&op, NULL, NULL, OUTCOME_DIRECT, &o));
    CHECK_STR_EQ(o.rec.error_kind, "permanent");
    CHECK_CONTAINS(o.message, "no TMDB session for user 42");
}

int main(void)
{
    test_check_creds();
    test_completed();
    test_permanent();
    test_transient();
    test_retry_after();
    test_rate_limited();
    test_direct();
    test_small_base();
    test_no_retries();
    test_deployment();
    test_faults();
    test_unknown_outcome();
    return check_exit();
}
