/*
 * test_cluster_postgres: the PostgreSQL primary dies mid-drain, its streaming standby is
 * promoted, and every program finds the new primary by itself; no operation is lost.
 *
 * A private primary and a standby made from it with pg_basebackup (asynchronous
 * streaming replication, PostgreSQL's default). Every program is given both, as libpq's
 * multi-host URL with target_session_attrs=read-write, so it connects to whichever of
 * the two takes writes. 1,000 adds over 10 lists are drained by two consumers (at 50
 * requests a second) and a reaper; once a quarter is done the primary is stopped with
 * `-m immediate` (a crash: what it had not yet streamed is lost), and a second later the
 * standby is promoted. The consumers and the reaper reconnect to it without a restart;
 * every operation ends completed, every list holds its movies, and TMDB writes applied
 * twice are counted: only commits the standby never received (a finish, so the operation
 * is taken over when its lease runs out) can repeat a write, a handful at most.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "support.h"

#define NLISTS 10
#define PER_LIST 100
#define NOPS (NLISTS * PER_LIST)
#define NCONSUMERS 2
#define CONCURRENCY 4
#define FIRST_LIST 9501

int main(void)
{
    static const long none[] = {0};
    static const char *const cargs[] = {"--concurrency", "4", "--prefetch", "4", NULL};
    static const char *const cenv[] = {"TMDBQ_TMDB_RATE=50", NULL};
    struct ts_proc cons[NCONSUMERS], reaper;
    struct ts_pg primary, standby;
    struct ts_env env;
    struct ts_fake fake;
    json_t *ops = NULL, *reqs = NULL, *done = NULL;
    char *lines = NULL;
    long n, missing = -1, extra = -1, items[PER_LIST + 8], at_stop;
    long long t_stop, t_promoted;
    size_t i;
    int rc, k;

    memset(&primary, 0, sizeof primary);
    memset(&standby, 0, sizeof standby);
    memset(&env, 0, sizeof env);
    memset(cons, 0, sizeof cons);
    memset(&reaper, 0, sizeof reaper);
    reaper.pid = -1;
    for (i = 0; i < NCONSUMERS; i++)
        cons[i].pid = -1;
    rc = ts_pg_start(&primary);
    if (rc == 0)
        rc = ts_pg_standby_start(&primary, &standby);
    if (rc != 0)
        goto out_servers;
    setenv("TMDBQ_TEST_ADMIN_URL", primary.admin_url, 1);
    rc = ts_setup(&env, "cluster_postgres");
    if (rc != 0)
        goto out;
    /* From here on everything is given both servers. */
    snprintf(env.db_url, sizeof env.db_url,
             "postgresql://tmdbq@127.0.0.1:%d,127.0.0.1:%d/%s"
             "?target_session_attrs=read-write",
             primary.port, standby.port, env.db_name);
    ts_set_policy(&env, 10, 100, 1000);
    if (ts_fake_start(&env, &fake, NULL, NULL) != 0) {
        CHECK(!"fake TMDB started");
        goto out;
    }
    CHECK_EQ_INT(ts_user(&env, &fake, 1, "sess-pg-1", NULL), 0);
    CHECK_EQ_INT(ts_user(&env, &fake, 2, "sess-pg-2", NULL), 0);
    for (i = 0; i < NLISTS; i++)
        CHECK_EQ_INT(
            ts_fake_list(&fake, FIRST_LIST + (long)i, (long)(i % 2) + 1, none, 0), 0);
    CHECK_EQ_INT(ts_fake_faults(&fake, "{\"latency_ms\":10}"), 0);
    for (k = 0; k < PER_LIST; k++)
        for (i = 0; i < NLISTS; i++)
            ts_appendf(&lines,
                       "{\"type\":\"add_movie\",\"user\":%ld,\"list\":%ld,"
                       "\"movie\":%ld}\n",
                       (long)(i % 2) + 1, FIRST_LIST + (long)i, 40000L + k);
    n = ts_enqueue_lines(&env, lines, &ops);
    CHECK_EQ_INT(n, NOPS);
    if (n != NOPS)
        goto out;

    for (i = 0; i < NCONSUMERS; i++)
        CHECK_EQ_INT(ts_consumer_start(&env, &fake, cenv, cargs, &cons[i]), 0);
    CHECK_EQ_INT(ts_reaper_start(&env, NULL, NULL, &reaper), 0);
    at_stop = ts_wait_completed(&env, NOPS / 4, 60000);
    CHECK(at_stop >= NOPS / 4);
    t_stop = ts_now_ms();
    CHECK_EQ_INT(ts_pg_stop(&primary, "immediate"), 0);
    printf("pgfailover: primary crashed with %ld of %d completed\n", at_stop, NOPS);
    ts_sleep_ms(1000); /* no primary a while: the standby refuses writes */
    CHECK_EQ_INT(ts_pg_promote(&standby), 0);
    t_promoted = ts_now_ms();
    /* The teardown drops the database on the new primary. */
    snprintf(env.admin_url, sizeof env.admin_url, "%s", standby.admin_url);
    printf("pgfailover: standby promoted %lld ms after the crash\n", t_promoted - t_stop);
    for (i = 0; i < NCONSUMERS; i++)
        CHECK(ts_proc_running(&cons[i]));
    CHECK(ts_proc_running(&reaper));

    CHECK_EQ_INT(ts_wait_final_while(&env, cons, NCONSUMERS, 90000), 0);
    printf("pgfailover: all final %lld ms after the promotion\n",
           ts_now_ms() - t_promoted);
    CHECK_EQ_INT(ts_count_status(&env, "completed"), NOPS);
    reqs = ts_fake_requests(&fake);
    CHECK(reqs != NULL);
    done = ts_fake_applied(reqs);
    CHECK_EQ_INT(ts_fake_compare_writes(done, ops, &missing, &extra), 0);
    printf("pgfailover: duplicate TMDB writes: %ld; missing: %ld\n", extra, missing);
    CHECK_EQ_INT(missing, 0);
    CHECK(extra <= 2 * NCONSUMERS * CONCURRENCY);
    for (i = 0; i < NLISTS; i++)
        CHECK_EQ_INT(ts_fake_list_items(&fake, FIRST_LIST + (long)i, items, PER_LIST + 8),
                     PER_LIST);
    /* The reaper leads again, on the new primary. */
    CHECK(ts_sql_long(&env, "SELECT count(*) FROM tmdbq_reapers WHERE is_leader") >= 1);
    for (i = 0; i < NCONSUMERS; i++)
        CHECK_EQ_INT(ts_proc_stop(&cons[i], 15000), 0);
    CHECK_EQ_INT(ts_proc_stop(&reaper, 15000), 0);
out:
    if (check_failures) {
        ts_dump_rows(&env, 40);
        for (i = 0; i < NCONSUMERS; i++)
            ts_proc_dump(&cons[i], 5000);
        ts_proc_dump(&reaper, 5000);
    }
    for (i = 0; i < NCONSUMERS; i++)
        ts_proc_stop(&cons[i], 5000);
    ts_proc_stop(&reaper, 5000);
    json_decref(done);
    json_decref(reqs);
    json_decref(ops);
    free(lines);
    ts_teardown(&env);
out_servers:
    ts_pg_destroy(&standby);
    ts_pg_destroy(&primary);
    return rc != 0 ? rc : check_exit();
}
