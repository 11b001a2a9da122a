/*
 * test_rate_drain: a backlog drains at TMDB's ceiling, with no operation failed.
 *
 * The fake TMDB enforces 40 requests in any second (429 with Retry-After above it), as
 * real TMDB does. 1,500 add_movie over 20 lists of 4 users, three consumer processes at
 * their defaults (TMDBQ_TMDB_RATE 40, one budget for the queue); a fourth consumer joins
 * after a third of the backlog and one of the first three stops after two thirds. Every
 * operation completes, none spends a retry, 429s are at most 2% of the requests, and the
 * drain takes at most 1.2 times 1,500 / 40 s: the budget is shared, not fought over, and
 * not wasted when consumers come and go. `tmdbq status --json` shows the budget in use.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "support.h"

#define NOPS 1500
#define NLISTS 20
#define NUSERS 4
#define FIRST_LIST 7001
#define CEILING 40
#define NCONSUMERS 4

/* Print the figures for the log and check them. */
static void check_requests(const json_t *reqs, double drain_s)
{
    size_t i, total = 0, limited = 0;
    json_t *rec;

    json_array_foreach(reqs, i, rec)
    {
        const char *path = ts_json_str(rec, "path");

        if (path == NULL || strncmp(path, "/3/", 3) != 0)
            continue;
        total++;
        if (ts_json_int(rec, "status", 0) == 429)
            limited++;
    }
    printf("rate_drain: %zu TMDB requests, %zu answered 429 (%.2f%%), drained in %.1f s "
           "(%.1f ops/s; the ceiling is %d/s, the bound %.1f s)\n",
           total, limited, total ? 100.0 * (double)limited / (double)total : 0.0, drain_s,
           NOPS / drain_s, CEILING, 1.2 * NOPS / CEILING);
    CHECK(total >= NOPS);
    CHECK(limited * 50 <= total);
}

int main(void)
{
    /* Unset: the consumers run at the default budget, not the tests' 1000/s. */
    static const char *const defaults[] = {"TMDBQ_TMDB_RATE", "TMDBQ_TMDB_RATE_SCOPE",
                                           NULL};
    struct ts_proc cons[NCONSUMERS];
    struct ts_env env;
    struct ts_fake fake;
    struct ts_result r;
    json_t *ops = NULL, *reqs = NULL, *st = NULL;
    char *lines = NULL;
    long long t0, t_done;
    long left;
    int rc, i;

    ts_procs_init(cons, NCONSUMERS);
    rc = ts_setup(&env, "rate_drain");
    if (rc != 0) {
        ts_teardown(&env);
        return rc;
    }
    if (ts_fake_start(&env, &fake, NULL, NULL) != 0) {
        CHECK(!"fake TMDB started");
        goto out;
    }
    for (i = 1; i <= NUSERS; i++) {
        char sess[32];

        snprintf(sess, sizeof sess, "sess-rate-%d", i);
        CHECK_EQ_INT(ts_user(&env, &fake, i, sess, NULL), 0);
    }
    for (i = 0; i < NLISTS; i++)
        CHECK_EQ_INT(ts_fake_list(&fake, FIRST_LIST + i, i % NUSERS + 1, NULL, 0), 0);
    CHECK_EQ_INT(ts_fake_faults(&fake, "{\"rate_limit\":40,\"rate_window_ms\":1000}"), 0);

    /* Round-robin over the lists, as an import of several users would come. */
    for (i = 0; i < NOPS; i++)
        ts_appendf(&lines,
                   "{\"type\":\"add_movie\",\"user\":%d,\"list\":%d,\"movie\":%d}\n",
                   i % NLISTS % NUSERS + 1, FIRST_LIST + i % NLISTS, 100 + i / NLISTS);
    CHECK_EQ_INT(ts_enqueue_lines(&env, lines, &ops), NOPS);

    t0 = ts_now_ms();
    CHECK_EQ_INT(ts_consumers_start(&env, &fake, defaults, NULL, cons, 3), 0);
    CHECK(ts_wait_completed(&env, NOPS / 3, 60000) >= NOPS / 3);
    CHECK_EQ_INT(ts_consumer_start(&env, &fake, defaults, NULL, &cons[3]), 0);
    CHECK(ts_wait_completed(&env, 2 * NOPS / 3, 60000) >= 2 * NOPS / 3);
    CHECK_EQ_INT(ts_proc_stop(&cons[0], 15000), 0);

    /* While it runs: the budget as `tmdbq status` shows it. */
    ts_run(&env, NULL, NULL, &r, "status", "--json", (const char *)NULL);
    CHECK_EQ_INT(r.status, 0);
    st = ts_json_parse(r.out);
    {
        json_t *b = json_object_get(st, "tmdb_budget");
        json_t *s0 = json_array_get(json_object_get(b, "scopes"), 0);

        CHECK(json_real_value(json_object_get(b, "configured_rate")) == 40.0 ||
              json_integer_value(json_object_get(b, "configured_rate")) == 40);
        CHECK_STR_EQ(ts_json_str(s0, "scope"), "queue");
        CHECK(json_number_value(json_object_get(s0, "rate")) == 40.0);
        CHECK(json_number_value(json_object_get(s0, "sent_per_s")) > 10.0);
        CHECK(json_number_value(json_object_get(s0, "sent_per_s")) <= 41.0);
        if (check_failures)
            ts_result_dump("status", &r);
    }
    ts_result_free(&r);

    left = ts_wait_final_while(&env, cons + 1, NCONSUMERS - 1, 120000);
    t_done = ts_now_ms();
    CHECK_EQ_INT(left, 0);
    CHECK_EQ_INT(ts_count_status(&env, "completed"), NOPS);
    CHECK_EQ_INT(ts_count_status(&env, "failed"), 0);
    CHECK_EQ_INT(ts_sql_long(&env, "SELECT count(*) FROM queued_list_operations"
                                   " WHERE retry_count > 0"),
                 0);
    CHECK((double)(t_done - t0) <= 1.2 * 1000.0 * NOPS / CEILING);

    reqs = ts_fake_requests(&fake);
    CHECK(reqs != NULL);
    if (reqs != NULL)
        check_requests(reqs, (double)(t_done - t0) / 1000.0);
    CHECK_EQ_INT(ts_procs_stop(cons + 1, NCONSUMERS - 1, 15000), 0);
out:
    ts_procs_end(&env, cons, NCONSUMERS, check_failures != 0, 20, 3000);
    json_decref(st);
    json_decref(reqs);
    json_decref(ops);
    free(lines);
    ts_teardown(&env);
    return check_exit();
}
