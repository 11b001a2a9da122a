/*
 * test_consumer_transient: transient TMDB failures go through the delayed-retry queues.
 *
 * With retries at 100ms, 200ms, 400ms, 800ms, 1600ms: an add that fails 3 times (503)
 * ends completed with retry_count 3, and the fake saw its 4 requests with gaps that grow:
 * each is at least the policy's delay for that retry (the broker's TTL may only add to
 * it; a load-delayed early gap may exceed a later one, so the order of gaps is not
 * checked). An add that always fails ends failed after 5 retries (6 requests), with the
 * last error kept in error_message and error_kind transient.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "support.h"

/* The broker's TTL and the claim run on other clocks than the fake's: a gap may fall
 * short of the delay by a few ms of rounding, never more. */
#define JITTER_MS 15

static const long long delays[] = {100, 200, 400, 800, 1600};

static char *op_field(struct ts_env *env, const char *id, const char *column)
{
    char sql[256];

    snprintf(sql, sizeof sql,
             "SELECT %s::text FROM queued_list_operations WHERE id = '%s'", column, id);
    return ts_sql_value(env, sql);
}

static long op_long(struct ts_env *env, const char *id, const char *column)
{
    char sql[256];

    snprintf(sql, sizeof sql, "SELECT %s FROM queued_list_operations WHERE id = '%s'",
             column, id);
    return ts_sql_long(env, sql);
}

static void check_gaps(const long long *t, size_t n)
{
    size_t i;

    for (i = 1; i < n; i++) {
        long long gap = t[i] - t[i - 1];

        printf("transient: gap before retry %zu: %lld ms (policy %lld ms)\n", i, gap,
               delays[i - 1]);
        if (gap < delays[i - 1] - JITTER_MS)
            fprintf(stderr, "retry %zu came after %lld ms, before its delay %lld ms\n", i,
                    gap, delays[i - 1]);
        CHECK(gap >= delays[i - 1] - JITTER_MS);
    }
}

int main(void)
{
    static const long none[] = {0};
    static const char *const cargs[] = {"--concurrency", "2", "--prefetch", "4", NULL};
    struct ts_env env;
    struct ts_fake fake;
    struct ts_proc cons;
    json_t *ops = NULL, *reqs = NULL;
    long long t[8];
    char *v = NULL, *kind = NULL;
    const char *id;
    size_t n;
    int rc;

    ts_procs_init(&cons, 1);
    rc = ts_setup_with_fake(&env, &fake, "consumer_transient", 5, 100, 2000);
    if (rc != 0)
        return rc;
    CHECK_EQ_INT(ts_user(&env, &fake, 1, "sess-transient", "tok-transient"), 0);
    CHECK_EQ_INT(ts_fake_list(&fake, 7001, 1, none, 0), 0);
    CHECK_EQ_INT(ts_fake_list(&fake, 7002, 1, none, 0), 0);
    CHECK_EQ_INT(ts_consumer_start(&env, &fake, NULL, cargs, &cons), 0);

    /* 1: three failures, then success. */
    CHECK_EQ_INT(ts_fake_faults(&fake, "{\"fail_first\":3,\"fail_status\":503,"
                                       "\"path_contains\":\"/3/list/7001/add_item\"}"),
                 0);
    CHECK_EQ_INT(ts_enqueue_lines(&env,
                                  "{\"type\":\"add_movie\",\"user\":1,\"list\":7001,"
                                  "\"data\":{\"movie_id\":550}}\n",
                                  &ops),
                 1);
    id = ts_json_str(json_array_get(ops, 0), "id");
    if (id == NULL)
        goto out;
    CHECK_EQ_INT(ts_wait_final_while(&env, &cons, 1, 20000), 0);
    v = op_field(&env, id, "status");
    CHECK_STR_EQ(v, "completed");
    CHECK_EQ_INT(op_long(&env, id, "retry_count"), 3);
    reqs = ts_fake_requests(&fake);
    n = ts_fake_times(reqs, "POST", "/3/list/7001/add_item", t, 8);
    CHECK_EQ_INT(n, 4);
    if (n == 4)
        check_gaps(t, n);
    json_decref(reqs);
    reqs = NULL;
    json_decref(ops);
    ops = NULL;
    free(v);
    v = NULL;

    /* 2: always 503: failed after the 5 retries, 6 requests. */
    CHECK_EQ_INT(ts_fake_faults(&fake, "{\"fail_first\":1000,\"fail_status\":503,"
                                       "\"path_contains\":\"/3/list/7002/add_item\"}"),
                 0);
    CHECK_EQ_INT(ts_enqueue_lines(&env,
                                  "{\"type\":\"add_movie\",\"user\":1,\"list\":7002,"
                                  "\"data\":{\"movie_id\":680}}\n",
                                  &ops),
                 1);
    id = ts_json_str(json_array_get(ops, 0), "id");
    if (id == NULL)
        goto out;
    CHECK_EQ_INT(ts_wait_final_while(&env, &cons, 1, 30000), 0);
    v = op_field(&env, id, "status");
    CHECK_STR_EQ(v, "failed");
    CHECK_EQ_INT(op_long(&env, id, "retry_count"), 5);
    free(v);
    v = op_field(&env, id, "error_message");
    CHECK_CONTAINS(v, "503");
    kind = op_field(&env, id, "error_kind");
    CHECK_STR_EQ(kind, "transient");
    printf("transient: always failing: error_message \"%s\"\n", v != NULL ? v : "(null)");
    reqs = ts_fake_requests(&fake);
    n = ts_fake_times(reqs, "POST", "/3/list/7002/add_item", t, 8);
    CHECK_EQ_INT(n, 6);
    if (n == 6)
        check_gaps(t, n);

    CHECK_EQ_INT(ts_proc_stop(&cons, 15000), 0);
out:
    ts_procs_end(&env, &cons, 1, check_failures != 0, 20, 6000);
    free(v);
    free(kind);
    json_decref(reqs);
    json_decref(ops);
    ts_teardown(&env);
    return check_exit();
}
