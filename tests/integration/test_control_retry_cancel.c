/*
 * test_control_retry_cancel: `tmdbq retry` and `tmdbq cancel` against a real consumer.
 *
 * retry: an add to a list TMDB does not have fails for good; once the list exists,
 * `tmdbq retry` makes it pending again with a full retry budget, publishes it, and the
 * consumer completes it. A completed or pending operation is refused with exit 4 and a
 * message naming its status; an unknown id is 3, a malformed one 2.
 * cancel: a pending operation (no consumer running) is cancelled, and a consumer started
 * afterwards drops its message without calling TMDB; cancelling it again, or a completed
 * operation, is exit 4 naming the status.
 * Hand-on: on one list, A (add of movie 1) waits for a retry scheduled an hour ahead and
 * B (removal of movie 1), enqueued after it, was dropped by the consumer as blocked
 * (handoff set, no message left), while C (add of movie 2), which does not conflict with
 * A, completes. Cancelling A publishes B, and the consumer completes it.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "support.h"

#define LIST_OK 8001
#define LIST_LATER 8002
#define LIST_ORDER 8003

static const char *const cargs[] = {"--concurrency", "2", "--prefetch", "4", NULL};

static char *op_text(struct ts_env *env, const char *id, const char *column)
{
    char sql[256];

    snprintf(sql, sizeof sql,
             "SELECT %s::text FROM queued_list_operations WHERE id = '%s'", column, id);
    return ts_sql_value(env, sql);
}

static bool op_status_is(struct ts_env *env, const char *id, const char *want)
{
    char *v = op_text(env, id, "status");
    bool same = v != NULL && strcmp(v, want) == 0;

    if (!same)
        fprintf(stderr, "operation %s is %s, expected %s\n", id, v ? v : "(null)", want);
    free(v);
    return same;
}

/* Poll (every 100 ms, at most within_ms) until the value of sql is want. */
static bool wait_long(struct ts_env *env, const char *sql, long want, long within_ms)
{
    long long end = ts_now_ms() + within_ms;
    long v;

    for (;;) {
        v = ts_sql_long(env, sql);
        if (v == want)
            return true;
        if (ts_now_ms() >= end) {
            fprintf(stderr, "waited %ld ms for %ld from: %s (last %ld)\n", within_ms,
                    want, sql, v);
            return false;
        }
        ts_sleep_ms(100);
    }
}

static bool wait_status(struct ts_env *env, const char *id, const char *status,
                        long within_ms)
{
    char sql[256];

    snprintf(
        sql, sizeof sql,
        "SELECT count(*) FROM queued_list_operations WHERE id = '%s' AND status = '%s'",
        id, status);
    return wait_long(env, sql, 1, within_ms);
}

/* Enqueue one add_movie or remove_movie (type); its id (malloc'd) or NULL. */
static char *enqueue_movie(struct ts_env *env, const char *type, long user, long list,
                           long movie)
{
    char line[160];
    json_t *ops = NULL;
    char *id = NULL;

    snprintf(line, sizeof line,
             "{\"type\":\"%s\",\"user\":%ld,\"list\":%ld,\"movie\":%ld}\n", type, user,
             list, movie);
    if (ts_enqueue_lines(env, line, &ops) == 1 &&
        ts_json_str(json_array_get(ops, 0), "id"))
        id = strdup(ts_json_str(json_array_get(ops, 0), "id"));
    json_decref(ops);
    return id;
}

/* `tmdbq VERB ID --json` must be refused with exit `code` and a message with `needle`;
 * nothing on stdout. */
static void check_refused(struct ts_env *env, const char *verb, const char *id, int code,
                          const char *needle)
{
    struct ts_result r = {0};

    CHECK_EQ_INT(ts_run(env, NULL, NULL, &r, verb, id, "--json", NULL), code);
    CHECK_CONTAINS(r.err, needle);
    CHECK_STR_EQ(r.out, "");
    if (r.status != code)
        ts_result_dump(verb, &r);
    ts_result_free(&r);
}

static void test_retry(struct ts_env *env, struct ts_fake *fake)
{
    static const long none[] = {0};
    struct ts_result r = {0};
    char *failed = NULL, *done = NULL, *v = NULL, msg[200];
    long seq_before;
    json_t *row = NULL;
    long items[4];
    char sql[256];

    failed = enqueue_movie(env, "add_movie", 1, LIST_LATER, 550);
    done = enqueue_movie(env, "add_movie", 1, LIST_OK, 600);
    CHECK(failed != NULL && done != NULL);
    if (failed == NULL || done == NULL)
        goto out;
    CHECK(wait_status(env, failed, "failed", 20000));
    CHECK(wait_status(env, done, "completed", 20000));
    v = op_text(env, failed, "error_message");
    printf("retry: failed for good first: %s\n", v ? v : "(null)");
    free(v);
    v = NULL;

    /* Refusals, and nothing changed by them. */
    snprintf(msg, sizeof msg,
             "operation %s is completed; only a failed operation can be retried", done);
    check_refused(env, "retry", done, 4, msg);
    check_refused(env, "retry", "not-a-uuid", 2, "not an operation id");
    check_refused(env, "retry", "7d1f5c1e-0000-4000-8000-000000000000", 3,
                  "no operation");
    CHECK(op_status_is(env, done, "completed"));

    /* The list now exists: the retry goes through. */
    CHECK_EQ_INT(ts_fake_list(fake, LIST_LATER, 1, none, 0), 0);
    snprintf(sql, sizeof sql, "SELECT seq FROM queued_list_operations WHERE id = '%s'",
             failed);
    seq_before = ts_sql_long(env, sql);
    CHECK_EQ_INT(ts_run(env, NULL, NULL, &r, "retry", failed, "--json", NULL), 0);
    row = ts_json_parse(r.out);
    CHECK(row != NULL);
    if (row != NULL) {
        CHECK_STR_EQ(ts_json_str(row, "id"), failed);
        CHECK_STR_EQ(ts_json_str(row, "status"), "pending");
        CHECK_EQ_INT(ts_json_int(row, "retry_count", -1), 0);
        CHECK(ts_json_is_null(row, "error_message"));
        CHECK(ts_json_is_null(row, "scheduled_for"));
        CHECK(ts_json_is_null(row, "last_retry_at"));
        CHECK_EQ_INT(ts_json_bool(row, "published"), 1);
    }
    /* A retry goes to the back of its list's order: a new seq. */
    CHECK(ts_sql_long(env, sql) > seq_before);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM queued_list_operations WHERE id = '%s'"
             " AND error_kind IS NULL",
             failed);
    CHECK_EQ_INT(ts_sql_long(env, sql), 1);
    CHECK(wait_status(env, failed, "completed", 20000));
    CHECK_EQ_INT(ts_fake_list_items(fake, LIST_LATER, items, 4), 1);
    CHECK_EQ_INT(items[0], 550);

    /* Completed now: a second retry is refused. */
    snprintf(msg, sizeof msg,
             "operation %s is completed; only a failed operation can be retried", failed);
    check_refused(env, "retry", failed, 4, msg);
out:
    json_decref(row);
    ts_result_free(&r);
    free(failed);
    free(done);
}

/* With no consumer running. */
static void test_cancel(struct ts_env *env, struct ts_fake *fake, struct ts_proc *cons,
                        const char *completed)
{
    struct ts_result r = {0};
    json_t *row = NULL, *reqs = NULL;
    char *id = NULL, msg[200];

    id = enqueue_movie(env, "add_movie", 1, LIST_OK, 700);
    CHECK(id != NULL);
    if (id == NULL)
        return;
    check_refused(env, "retry", id, 4,
                  "is pending; only a failed operation can be retried");
    CHECK_EQ_INT(ts_run(env, NULL, NULL, &r, "cancel", id, "--json", NULL), 0);
    row = ts_json_parse(r.out);
    CHECK(row != NULL);
    if (row != NULL) {
        CHECK_STR_EQ(ts_json_str(row, "id"), id);
        CHECK_STR_EQ(ts_json_str(row, "status"), "cancelled");
    }
    CHECK(op_status_is(env, id, "cancelled"));
    snprintf(
        msg, sizeof msg,
        "operation %s is cancelled; only a pending or failed operation can be cancelled",
        id);
    check_refused(env, "cancel", id, 4, msg);
    snprintf(
        msg, sizeof msg,
        "operation %s is completed; only a pending or failed operation can be cancelled",
        completed);
    check_refused(env, "cancel", completed, 4, msg);
    check_refused(env, "cancel", "12345", 2, "not an operation id");
    check_refused(env, "cancel", "7d1f5c1e-0000-4000-8000-000000000001", 3,
                  "no operation");

    /* Its message is still in the work queue: a consumer takes it and does nothing. */
    CHECK_EQ_INT(ts_queue_depth(env, "work", 1, 5000), 1);
    CHECK_EQ_INT(ts_consumer_start(env, fake, NULL, cargs, cons), 0);
    CHECK_EQ_INT(ts_queue_depth(env, "work", 0, 15000), 0);
    CHECK(op_status_is(env, id, "cancelled"));
    reqs = ts_fake_requests(fake);
    CHECK_EQ_INT(ts_fake_count(reqs, "POST", "/3/list/8001/add_item"), 1); /* 600 only */
    json_decref(reqs);
    json_decref(row);
    ts_result_free(&r);
    free(id);
}

static void test_cancel_hands_on(struct ts_env *env, struct ts_fake *fake,
                                 struct ts_proc *cons)
{
    static const long one[] = {1};
    struct ts_result r = {0};
    char *a = NULL, *b = NULL, *c = NULL, sql[320];
    json_t *reqs = NULL;
    long items[4];

    /* B conflicts with A (the same movie), C does not (another movie): only B waits. The
     * list holds movie 1 already, so that B's removal shows in it. */
    CHECK_EQ_INT(ts_fake_list(fake, LIST_ORDER, 1, one, 1), 0);
    a = enqueue_movie(env, "add_movie", 1, LIST_ORDER, 1);
    b = enqueue_movie(env, "remove_movie", 1, LIST_ORDER, 1);
    c = enqueue_movie(env, "add_movie", 1, LIST_ORDER, 2);
    CHECK(a != NULL && b != NULL && c != NULL);
    if (a == NULL || b == NULL || c == NULL)
        goto out;
    /* A waits for a retry an hour ahead, as after a failure with a long backoff. */
    snprintf(
        sql, sizeof sql,
        "UPDATE queued_list_operations SET retry_count = 1,"
        " scheduled_for = now() + interval '1 hour', last_retry_at = now(),"
        " error_message = 'HTTP 503 (test)', error_kind = 'transient' WHERE id = '%s'",
        a);
    CHECK_EQ_INT(ts_sql_exec(env, sql), 0);
    CHECK_EQ_INT(ts_consumer_start(env, fake, NULL, cargs, cons), 0);
    /* The consumer drops B's message as blocked behind A. */
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM queued_list_operations WHERE id = '%s' AND handoff"
             " AND status = 'pending'",
             b);
    CHECK(wait_long(env, sql, 1, 15000));
    /* Order only where it matters: A holds up no other movie of its list. */
    CHECK(wait_status(env, c, "completed", 15000));
    CHECK(op_status_is(env, a, "pending"));
    CHECK(op_status_is(env, b, "pending"));
    reqs = ts_fake_requests(fake);
    CHECK_EQ_INT(ts_fake_count(reqs, "POST", "/3/list/8003/add_item"), 1); /* C's */
    CHECK_EQ_INT(ts_fake_count(reqs, "POST", "/3/list/8003/remove_item"), 0);
    json_decref(reqs);
    reqs = NULL;
    CHECK_EQ_INT(ts_fake_list_items(fake, LIST_ORDER, items, 4), 2);

    CHECK_EQ_INT(ts_run(env, NULL, NULL, &r, "cancel", a, NULL), 0);
    CHECK_CONTAINS(r.out, "cancelled");
    CHECK(wait_status(env, b, "completed", 15000));
    CHECK(op_status_is(env, a, "cancelled"));
    reqs = ts_fake_requests(fake);
    CHECK_EQ_INT(ts_fake_count(reqs, "POST", "/3/list/8003/add_item"), 1);
    CHECK_EQ_INT(ts_fake_count(reqs, "POST", "/3/list/8003/remove_item"), 1);
    json_decref(reqs);
    CHECK_EQ_INT(ts_fake_list_items(fake, LIST_ORDER, items, 4), 1);
    CHECK_EQ_INT(items[0], 2);
out:
    ts_result_free(&r);
    free(a);
    free(b);
    free(c);
}

int main(void)
{
    static const long none[] = {0};
    struct ts_env env;
    struct ts_fake fake;
    struct ts_proc cons;
    char *completed = NULL;
    int rc;

    ts_procs_init(&cons, 1);
    rc = ts_setup_with_fake(&env, &fake, "control_retry_cancel", 5, 100, 2000);
    if (rc != 0)
        return rc;
    CHECK_EQ_INT(ts_user(&env, &fake, 1, "sess-control-1", NULL), 0);
    CHECK_EQ_INT(ts_fake_list(&fake, LIST_OK, 1, none, 0), 0);

    CHECK_EQ_INT(ts_consumer_start(&env, &fake, NULL, cargs, &cons), 0);
    test_retry(&env, &fake);
    completed = ts_sql_value(&env, "SELECT id::text FROM queued_list_operations"
                                   " WHERE status = 'completed' ORDER BY seq LIMIT 1");
    CHECK(completed != NULL);
    CHECK_EQ_INT(ts_proc_stop(&cons, 15000), 0);

    if (completed != NULL)
        test_cancel(&env, &fake, &cons, completed);
    CHECK_EQ_INT(ts_proc_stop(&cons, 15000), 0);

    test_cancel_hands_on(&env, &fake, &cons);
    CHECK_EQ_INT(ts_proc_stop(&cons, 15000), 0);
    ts_procs_end(&env, &cons, 1, check_failures != 0, 20, 6000);
    free(completed);
    ts_teardown(&env);
    return check_exit();
}
