/*
 * test_rate_cooldown: a 429 is TMDB's word on the rate, not on the operation.
 *
 * Two consumer processes work through 30 add_movie on three lists. The fake answers the
 * first add to list 7101 with 429 and Retry-After: 3. Then:
 * - while the cool-down holds, the row says so: still processing, error_kind rate_limit,
 *   an error_message that says it waits and spends no retry, retry_count 0;
 * - every consumer holds its requests: after the 429 no TMDB request of either process
 *   arrives before the Retry-After is over (but for the slots a process had already
 *   leased when it happened, at most a second's worth at the default rate);
 * - `tmdbq status --json` shows the 429 and the cool-down;
 * - the operation is tried again after Retry-After, not after the 30 s backoff, and every
 *   operation completes with retry_count 0;
 * - a consumer with a bad TMDBQ_TMDB_RATE or TMDBQ_TMDB_RATE_SCOPE exits 2 at start.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "support.h"

#define NOPS 30
#define RETRY_AFTER_MS 3000
/* Slots leased before the 429 was known may still go out this long after it. */
#define LEASED_MS 1300
#define JITTER_MS 150

int main(void)
{
    static const char *const defaults[] = {"TMDBQ_TMDB_RATE", NULL};
    struct ts_proc cons[2];
    struct ts_env env;
    struct ts_fake fake;
    struct ts_result r;
    json_t *ops = NULL, *reqs = NULL, *st = NULL, *rec;
    char *lines = NULL, *v = NULL, sql[256];
    long long t429 = -1, after = -1;
    size_t i, early = 0;
    int rc, k;
    bool seen_waiting = false;

    ts_procs_init(cons, 2);
    rc = ts_setup_with_fake(&env, &fake, "rate_cooldown", 5, 30000, 3600000);
    if (rc != 0)
        return rc;
    CHECK_EQ_INT(ts_user(&env, &fake, 1, "sess-cool", NULL), 0);
    for (k = 0; k < 3; k++)
        CHECK_EQ_INT(ts_fake_list(&fake, 7100 + k, 1, NULL, 0), 0);
    /* The first operation enqueued is the one that meets the 429. */
    ts_appendf(&lines,
               "{\"type\":\"add_movie\",\"user\":1,\"list\":7101,\"movie\":550}\n");
    for (k = 1; k < NOPS; k++)
        ts_appendf(&lines,
                   "{\"type\":\"add_movie\",\"user\":1,\"list\":%d,\"movie\":%d}\n",
                   7100 + k % 3, 600 + k);
    CHECK_EQ_INT(ts_enqueue_lines(&env, lines, &ops), NOPS);
    CHECK_EQ_INT(ts_fake_faults(&fake, "{\"rate_limit_next\":1,\"retry_after\":3,"
                                       "\"path_contains\":\"/3/list/7101/add_item\","
                                       "\"media_id\":550}"),
                 0);
    for (k = 0; k < 2; k++)
        CHECK_EQ_INT(ts_consumer_start(&env, &fake, defaults, NULL, &cons[k]), 0);

    /* The waiting row, looked at during the cool-down. */
    snprintf(
        sql, sizeof sql,
        "SELECT status || '|' || coalesce(error_kind, '') || '|' || retry_count || '|'"
        " || coalesce(error_message, '') FROM queued_list_operations WHERE id = '%s'",
        ts_json_str(json_array_get(ops, 0), "id"));
    for (k = 0; k < 40 && !seen_waiting; k++) {
        free(v);
        v = ts_sql_value(&env, sql);
        seen_waiting = v != NULL && strncmp(v, "processing|rate_limit|0|", 24) == 0;
        if (!seen_waiting)
            ts_sleep_ms(50);
    }
    CHECK(seen_waiting);
    if (seen_waiting) {
        printf("rate_cooldown: while waiting: %s\n", v);
        CHECK(strstr(v, "TMDB rate limit (HTTP 429") != NULL);
        CHECK(strstr(v, "waiting with every consumer until") != NULL);
        CHECK(strstr(v, "no retry spent") != NULL);

        ts_run(&env, NULL, NULL, &r, "status", "--json", (const char *)NULL);
        CHECK_EQ_INT(r.status, 0);
        st = ts_json_parse(r.out);
        {
            json_t *s0 = json_array_get(
                json_object_get(json_object_get(st, "tmdb_budget"), "scopes"), 0);

            CHECK_EQ_INT(ts_json_int(s0, "rate_limited_last_minute", -1), 1);
            CHECK(!ts_json_is_null(s0, "cooldown_until"));
            if (check_failures)
                ts_result_dump("status", &r);
        }
        ts_result_free(&r);
    }

    CHECK_EQ_INT(ts_wait_final_while(&env, cons, 2, 30000), 0);
    CHECK_EQ_INT(ts_count_status(&env, "completed"), NOPS);
    CHECK_EQ_INT(ts_sql_long(&env, "SELECT count(*) FROM queued_list_operations"
                                   " WHERE retry_count > 0"),
                 0);

    reqs = ts_fake_requests(&fake);
    CHECK(reqs != NULL);
    json_array_foreach(reqs, i, rec)
    {
        const char *path = ts_json_str(rec, "path");
        long long t = ts_json_int(rec, "t_ms", -1);

        if (path == NULL || strncmp(path, "/3/", 3) != 0)
            continue;
        if (t429 < 0 && ts_json_int(rec, "status", 0) == 429) {
            t429 = t;
            continue;
        }
        if (t429 < 0)
            continue;
        if (t < t429 + RETRY_AFTER_MS - JITTER_MS && t >= t429 + LEASED_MS)
            early++;
        if (after < 0 && strcmp(path, "/3/list/7101/add_item") == 0 &&
            ts_json_int(rec, "status", 0) == 201) {
            json_t *body = json_object_get(rec, "body");

            if (json_integer_value(json_object_get(body, "media_id")) == 550)
                after = t;
        }
    }
    CHECK(t429 >= 0);
    CHECK(after >= 0);
    printf("rate_cooldown: 429 at %lld ms; requests inside the cool-down after the "
           "leased slots: %zu; the operation tried again %lld ms after the 429\n",
           t429, early, after - t429);
    CHECK_EQ_INT(early, 0);
    CHECK(after - t429 >= RETRY_AFTER_MS - JITTER_MS);
    CHECK(after - t429 < 15000);
    for (k = 0; k < 2; k++)
        CHECK_EQ_INT(ts_proc_stop(&cons[k], 15000), 0);

    /* Bad budgets are refused at start, naming the variable: exit 2. */
    {
        static const char *const bad[][2] = {
            {"TMDBQ_TMDB_RATE=-1", "TMDBQ_TMDB_RATE"},
            {"TMDBQ_TMDB_RATE=abc", "TMDBQ_TMDB_RATE"},
            {"TMDBQ_TMDB_RATE_SCOPE=cluster", "TMDBQ_TMDB_RATE_SCOPE"}};

        for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
            const char *const extra[] = {bad[b][0], NULL};
            struct ts_proc p;
            char *err;

            memset(&p, 0, sizeof p);
            p.pid = -1;
            CHECK_EQ_INT(ts_consumer_start(&env, &fake, extra, NULL, &p), 0);
            CHECK_EQ_INT(ts_proc_wait(&p, 10000), 2);
            err = ts_proc_stderr(&p);
            CHECK_CONTAINS(err, bad[b][1]);
            free(err);
            ts_proc_stop(&p, 2000);
        }
    }
    if (check_failures) {
        ts_dump_rows(&env, 20);
        for (k = 0; k < 2; k++)
            ts_proc_dump(&cons[k], 3000);
    }
    for (k = 0; k < 2; k++)
        ts_proc_stop(&cons[k], 5000);
    free(v);
    json_decref(st);
    json_decref(reqs);
    json_decref(ops);
    free(lines);
    ts_teardown(&env);
    return check_exit();
}
