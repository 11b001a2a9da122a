/*
 * test_consumer_pgrestart: PostgreSQL restarts in the middle of a run and nothing is
 * lost.
 *
 * The test owns a private PostgreSQL cluster (initdb in a temporary directory, its own
 * port), so stopping it disturbs no other test. Three consumers work off 300 adds over 6
 * lists with the fake TMDB answering after 20 ms; once a fifth is done the cluster is
 * stopped (pg_ctl stop -m fast: sessions are cut off mid-transaction), left down a
 * moment, and started again. The consumers reconnect by themselves; every operation ends
 * completed and every list holds its movies. Writes repeated because an outcome could not
 * be recorded are printed (duplicates).
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "support.h"

#define NLISTS 6
#define PER_LIST 50
#define NOPS (NLISTS * PER_LIST)
#define NCONSUMERS 3
#define FIRST_LIST 7201

int main(void)
{
    static const long none[] = {0};
    static const char *const cargs[] = {"--concurrency", "4", "--prefetch", "4", NULL};
    struct ts_proc cons[NCONSUMERS];
    struct ts_pg pg;
    struct ts_env env;
    struct ts_fake fake;
    json_t *ops = NULL, *reqs = NULL;
    char *lines = NULL;
    long n, missing = -1, extra = -1, items[PER_LIST + 8], at_stop, seen;
    long long t0, t_stop, t_up;
    size_t i;
    int rc, k;

    memset(&pg, 0, sizeof pg);
    memset(&env, 0, sizeof env);
    memset(cons, 0, sizeof cons);
    for (i = 0; i < NCONSUMERS; i++)
        cons[i].pid = -1;
    rc = ts_pg_start(&pg);
    if (rc != 0) {
        ts_pg_destroy(&pg);
        return rc;
    }
    /* The test's database is made in the private cluster. */
    setenv("TMDBQ_TEST_ADMIN_URL", pg.admin_url, 1);
    rc = ts_setup(&env, "consumer_pgrestart");
    if (rc != 0) {
        ts_teardown(&env);
        ts_pg_destroy(&pg);
        return rc;
    }
    ts_set_policy(&env, 5, 100, 2000);
    if (ts_fake_start(&env, &fake, NULL, NULL) != 0) {
        CHECK(!"fake TMDB started");
        goto out;
    }
    CHECK_EQ_INT(ts_user(&env, &fake, 1, "sess-pg-1", NULL), 0);
    CHECK_EQ_INT(ts_user(&env, &fake, 2, "sess-pg-2", NULL), 0);
    for (i = 0; i < NLISTS; i++)
        CHECK_EQ_INT(
            ts_fake_list(&fake, FIRST_LIST + (long)i, (long)(i % 2) + 1, none, 0), 0);
    CHECK_EQ_INT(ts_fake_faults(&fake, "{\"latency_ms\":20}"), 0);
    for (k = 0; k < PER_LIST; k++)
        for (i = 0; i < NLISTS; i++)
            ts_appendf(&lines,
                       "{\"type\":\"add_movie\",\"user\":%ld,\"list\":%ld,"
                       "\"movie\":%ld}\n",
                       (long)(i % 2) + 1, FIRST_LIST + (long)i, 30000L + k);
    n = ts_enqueue_lines(&env, lines, &ops);
    CHECK_EQ_INT(n, NOPS);
    if (n != NOPS)
        goto out;

    t0 = ts_now_ms();
    for (i = 0; i < NCONSUMERS; i++)
        CHECK_EQ_INT(ts_consumer_start(&env, &fake, NULL, cargs, &cons[i]), 0);
    at_stop = ts_wait_completed(&env, NOPS / 5, 30000);
    CHECK(at_stop >= NOPS / 5);
    t_stop = ts_now_ms();
    CHECK_EQ_INT(ts_pg_stop(&pg, "fast"), 0);
    printf("pgrestart: stopped PostgreSQL after %lld ms with %ld of %d completed\n",
           t_stop - t0, at_stop, NOPS);
    ts_sleep_ms(1500); /* the scenario: a database that stays down a while */
    CHECK_EQ_INT(ts_pg_start(&pg), 0);
    t_up = ts_now_ms();
    seen = ts_count_status(&env, "completed");
    printf("pgrestart: PostgreSQL back after %lld ms, %ld completed\n", t_up - t_stop,
           seen);
    CHECK(seen < NOPS);
    for (i = 0; i < NCONSUMERS; i++)
        CHECK(ts_proc_running(&cons[i]));

    CHECK_EQ_INT(ts_wait_final_while(&env, cons, NCONSUMERS, 45000), 0);
    printf("pgrestart: all final %lld ms after the database was back\n",
           ts_now_ms() - t_up);
    CHECK_EQ_INT(ts_count_status(&env, "completed"), NOPS);
    reqs = ts_fake_requests(&fake);
    CHECK(reqs != NULL);
    CHECK_EQ_INT(ts_fake_compare_writes(reqs, ops, &missing, &extra), 0);
    printf("pgrestart: duplicate TMDB writes: %ld; missing: %ld\n", extra, missing);
    CHECK_EQ_INT(missing, 0);
    for (i = 0; i < NLISTS; i++)
        CHECK_EQ_INT(ts_fake_list_items(&fake, FIRST_LIST + (long)i, items, PER_LIST + 8),
                     PER_LIST);
    for (i = 0; i < NCONSUMERS; i++)
        CHECK_EQ_INT(ts_proc_stop(&cons[i], 15000), 0);
out:
    if (check_failures) {
        ts_dump_rows(&env, 40);
        for (i = 0; i < NCONSUMERS; i++)
            ts_proc_dump(&cons[i], 5000);
    }
    for (i = 0; i < NCONSUMERS; i++)
        ts_proc_stop(&cons[i], 5000);
    json_decref(reqs);
    json_decref(ops);
    free(lines);
    ts_teardown(&env);
    ts_pg_destroy(&pg);
    return check_exit();
}
