/*
 * test_control_process: `tmdbq process` against a real consumer, with retries 5 minutes
 * apart (so that anything done within seconds was done because of the command).
 *
 * - An add fails once (503) and waits for its retry, 5 minutes ahead; `tmdbq process ID`
 *   makes it due and publishes it, and the consumer completes it within seconds.
 *   Refusals: a completed operation is exit 4 naming its status, an unknown id 3, a
 *   malformed one 2, no target or two targets 2.
 * - `--user N --wait`: two of the user's adds wait for their retries; the command returns
 *   once both are completed and prints them so.
 * - `--wait --timeout 1s` with no consumer running: exit 1 after about a second, "timed
 *   out" on stderr, the row (still pending) on stdout.
 * - `--all`: a row enqueued while the broker was unreachable was never published; no
 *   consumer would ever see it. `tmdbq process --all --wait` publishes every due row and
 *   returns when all are completed.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "support.h"

static const char *const cargs[] = {"--concurrency", "2", "--prefetch", "4", NULL};

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

/* Wait until the operation is pending with this retry_count (its retry scheduled). */
static bool wait_retrying(struct ts_env *env, const char *id, int retries, long within_ms)
{
    char sql[320];

    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM queued_list_operations WHERE id = '%s'"
             " AND status = 'pending' AND retry_count = %d"
             " AND scheduled_for > now() + interval '1 minute'",
             id, retries);
    return wait_long(env, sql, 1, within_ms);
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

static char *enqueue_add(struct ts_env *env, long user, long list, long movie)
{
    char line[160];
    json_t *ops = NULL;
    char *id = NULL;

    snprintf(line, sizeof line,
             "{\"type\":\"add_movie\",\"user\":%ld,\"list\":%ld,\"movie\":%ld}\n", user,
             list, movie);
    if (ts_enqueue_lines(env, line, &ops) == 1 &&
        ts_json_str(json_array_get(ops, 0), "id"))
        id = strdup(ts_json_str(json_array_get(ops, 0), "id"));
    json_decref(ops);
    return id;
}

static void check_exit_msg(struct ts_env *env, const char *const *args, int code,
                           const char *needle)
{
    struct ts_result r = {0};

    CHECK_EQ_INT(ts_runv(env, NULL, NULL, &r, args), code);
    CHECK_CONTAINS(r.err, needle);
    CHECK_STR_EQ(r.out, "");
    if (r.status != code)
        ts_result_dump(args[0], &r);
    ts_result_free(&r);
}

/* Whether the JSON array arr holds an object with this id and status. */
static bool array_has(const json_t *arr, const char *id, const char *status)
{
    size_t i;
    json_t *v;

    json_array_foreach(arr, i, v)
    {
        const char *vid = ts_json_str(v, "id"), *st = ts_json_str(v, "status");
        if (vid != NULL && strcmp(vid, id) == 0)
            return st != NULL && strcmp(st, status) == 0;
    }
    return false;
}

static void test_process_one(struct ts_env *env, struct ts_fake *fake)
{
    static const long none[] = {0};
    struct ts_result r = {0};
    json_t *row = NULL;
    char *id = NULL, msg[200], sql[256];
    long long t0;

    CHECK_EQ_INT(ts_fake_list(fake, 8101, 1, none, 0), 0);
    CHECK_EQ_INT(ts_fake_faults(fake, "{\"fail_first\":1,\"fail_status\":503,"
                                      "\"path_contains\":\"/3/list/8101/\"}"),
                 0);
    id = enqueue_add(env, 1, 8101, 550);
    CHECK(id != NULL);
    if (id == NULL)
        return;
    CHECK(wait_retrying(env, id, 1, 15000));
    CHECK_EQ_INT(ts_queue_depth(env, "retry.5m", 1, 5000), 1);

    t0 = ts_now_ms();
    CHECK_EQ_INT(ts_run(env, NULL, NULL, &r, "process", id, "--json", NULL), 0);
    row = ts_json_parse(r.out);
    CHECK(row != NULL);
    if (row != NULL) {
        CHECK_STR_EQ(ts_json_str(row, "id"), id);
        CHECK_EQ_INT(ts_json_bool(row, "published"), 1);
        CHECK_EQ_INT(ts_json_int(row, "retry_count", -1), 1);
    }
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM queued_list_operations WHERE id = '%s'"
             " AND (status <> 'pending' OR scheduled_for <= now())",
             id);
    CHECK_EQ_INT(ts_sql_long(env, sql), 1);
    CHECK(wait_status(env, id, "completed", 15000));
    printf("process: a retry due in 5 minutes completed %lld ms after tmdbq process\n",
           ts_now_ms() - t0);
    snprintf(sql, sizeof sql,
             "SELECT retry_count FROM queued_list_operations WHERE id = '%s'", id);
    CHECK_EQ_INT(ts_sql_long(env, sql), 1);

    snprintf(msg, sizeof msg,
             "operation %s is completed; only a pending operation can be processed now",
             id);
    {
        const char *args[] = {"process", id, "--json", NULL};
        check_exit_msg(env, args, 4, msg);
    }
    {
        const char *args[] = {"process", "7d1f5c1e-0000-4000-8000-000000000002", NULL};
        check_exit_msg(env, args, 3, "no operation");
    }
    {
        const char *args[] = {"process", "x-y-z", NULL};
        check_exit_msg(env, args, 2, "not an operation id");
    }
    {
        const char *args[] = {"process", NULL};
        check_exit_msg(env, args, 2, "exactly one of");
    }
    {
        const char *args[] = {"process", id, "--all", NULL};
        check_exit_msg(env, args, 2, "exactly one of");
    }
    {
        const char *args[] = {"process", "--all", "--timeout", "5s", NULL};
        check_exit_msg(env, args, 2, "--timeout goes with --wait");
    }
    {
        const char *args[] = {"process", "--all", "--wait", "--timeout", "5x", NULL};
        check_exit_msg(env, args, 2, "--timeout");
    }
    json_decref(row);
    ts_result_free(&r);
    free(id);
}

static void test_process_user_wait(struct ts_env *env, struct ts_fake *fake)
{
    static const long none[] = {0};
    struct ts_result r = {0};
    json_t *arr = NULL;
    char *a = NULL, *b = NULL;
    long long t0;

    CHECK_EQ_INT(ts_fake_list(fake, 8201, 2, none, 0), 0);
    CHECK_EQ_INT(ts_fake_list(fake, 8202, 2, none, 0), 0);
    CHECK_EQ_INT(ts_fake_faults(fake, "{\"fail_first\":2,\"fail_status\":503,"
                                      "\"path_contains\":\"/3/list/820\"}"),
                 0);
    a = enqueue_add(env, 2, 8201, 551);
    b = enqueue_add(env, 2, 8202, 552);
    CHECK(a != NULL && b != NULL);
    if (a == NULL || b == NULL)
        goto out;
    CHECK(wait_retrying(env, a, 1, 15000));
    CHECK(wait_retrying(env, b, 1, 15000));

    t0 = ts_now_ms();
    CHECK_EQ_INT(ts_run(env, NULL, NULL, &r, "process", "--user", "2", "--wait",
                        "--timeout", "30s", "--json", NULL),
                 0);
    printf("process --user --wait: returned after %lld ms\n", ts_now_ms() - t0);
    arr = ts_json_parse(r.out);
    CHECK(json_is_array(arr));
    CHECK_EQ_INT(json_array_size(arr), 2);
    CHECK(array_has(arr, a, "completed"));
    CHECK(array_has(arr, b, "completed"));
    if (r.status != 0)
        ts_result_dump("process --user --wait", &r);
    json_decref(arr);
    arr = NULL;
    ts_result_free(&r);

    /* Nothing pending for the user any more: an empty list, exit 0. */
    CHECK_EQ_INT(ts_run(env, NULL, NULL, &r, "process", "--user", "2", "--json", NULL),
                 0);
    CHECK_STR_EQ(r.out, "[]\n");
out:
    json_decref(arr);
    ts_result_free(&r);
    free(a);
    free(b);
}

/* No consumer runs. */
static void test_wait_timeout(struct ts_env *env, char **pending_id)
{
    struct ts_result r = {0};
    json_t *row = NULL;
    char *id = NULL;
    long long t0, took;

    id = enqueue_add(env, 3, 8301, 553);
    CHECK(id != NULL);
    if (id == NULL)
        return;
    t0 = ts_now_ms();
    CHECK_EQ_INT(ts_run(env, NULL, NULL, &r, "process", id, "--wait", "--timeout", "1s",
                        "--json", NULL),
                 1);
    took = ts_now_ms() - t0;
    printf("process --wait --timeout 1s: exit %d after %lld ms\n", r.status, took);
    CHECK(took >= 1000 && took < 15000);
    CHECK_CONTAINS(r.err, "timed out after 1s");
    row = ts_json_parse(r.out);
    CHECK(row != NULL);
    if (row != NULL) {
        CHECK_STR_EQ(ts_json_str(row, "id"), id);
        CHECK_STR_EQ(ts_json_str(row, "status"), "pending");
    }
    json_decref(row);
    ts_result_free(&r);
    *pending_id = id;
}

static void test_process_all(struct ts_env *env, struct ts_fake *fake,
                             struct ts_proc *cons, const char *pending_id)
{
    static const long none[] = {0};
    static const char *const broker_down[] = {
        "TMDBQ_AMQP_URL=amqp://guest:guest@127.0.0.1:1/%2f", NULL};
    struct ts_result r = {0};
    json_t *row = NULL, *arr = NULL;
    char *lost = NULL, sql[256];

    CHECK_EQ_INT(ts_fake_list(fake, 8301, 3, none, 0), 0);
    CHECK_EQ_INT(ts_fake_list(fake, 8302, 3, none, 0), 0);
    /* On a list of its own: on 8301 the finish of the operation ahead would hand it on.
     */
    CHECK_EQ_INT(ts_run(env, broker_down, NULL, &r, "enqueue", "add_movie", "--user", "3",
                        "--list", "8302", "--movie", "554", "--json", NULL),
                 0);
    row = ts_json_parse(r.out);
    CHECK(row != NULL);
    if (row != NULL && ts_json_str(row, "id") != NULL) {
        lost = strdup(ts_json_str(row, "id"));
        CHECK_EQ_INT(ts_json_bool(row, "published"), 0);
    }
    ts_result_free(&r);
    if (lost == NULL)
        goto out;

    /* A consumer drains what was published (the operation of test_wait_timeout); the
     * unpublished one stays pending: no message names it. */
    CHECK_EQ_INT(ts_consumer_start(env, fake, NULL, cargs, cons), 0);
    if (pending_id != NULL)
        CHECK(wait_status(env, pending_id, "completed", 15000));
    CHECK_EQ_INT(ts_queue_depth(env, "work", 0, 10000), 0);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM queued_list_operations WHERE id = '%s'"
             " AND status = 'pending' AND published_at IS NULL",
             lost);
    CHECK_EQ_INT(ts_sql_long(env, sql), 1);

    CHECK_EQ_INT(ts_run(env, NULL, NULL, &r, "process", "--all", "--wait", "--timeout",
                        "30s", "--json", NULL),
                 0);
    arr = ts_json_parse(r.out);
    CHECK(json_is_array(arr));
    CHECK_EQ_INT(json_array_size(arr), 1);
    CHECK(array_has(arr, lost, "completed"));
    if (r.status != 0)
        ts_result_dump("process --all --wait", &r);
    CHECK_EQ_INT(ts_count_status(env, "pending"), 0);
out:
    json_decref(row);
    json_decref(arr);
    ts_result_free(&r);
    free(lost);
}

int main(void)
{
    struct ts_env env;
    struct ts_fake fake;
    struct ts_proc cons;
    char *pending_id = NULL;
    int rc;

    ts_procs_init(&cons, 1);
    rc = ts_setup(&env, "control_process");
    if (rc != 0) {
        ts_teardown(&env);
        return rc;
    }
    /* Retries 5, 10, 20, 40 minutes, then 1 hour apart. */
    ts_set_policy(&env, 5, 5LL * 60 * 1000, 60LL * 60 * 1000);
    if (ts_fake_start(&env, &fake, NULL, NULL) != 0) {
        CHECK(!"fake TMDB started");
        goto out;
    }
    CHECK_EQ_INT(ts_user(&env, &fake, 1, "sess-process-1", NULL), 0);
    CHECK_EQ_INT(ts_user(&env, &fake, 2, "sess-process-2", NULL), 0);
    CHECK_EQ_INT(ts_user(&env, &fake, 3, "sess-process-3", NULL), 0);

    CHECK_EQ_INT(ts_consumer_start(&env, &fake, NULL, cargs, &cons), 0);
    test_process_one(&env, &fake);
    test_process_user_wait(&env, &fake);
    CHECK_EQ_INT(ts_proc_stop(&cons, 15000), 0);

    test_wait_timeout(&env, &pending_id);
    test_process_all(&env, &fake, &cons, pending_id);
    CHECK_EQ_INT(ts_proc_stop(&cons, 15000), 0);
out:
    ts_procs_end(&env, &cons, 1, check_failures != 0, 20, 6000);
    free(pending_id);
    ts_teardown(&env);
    return check_exit();
}
