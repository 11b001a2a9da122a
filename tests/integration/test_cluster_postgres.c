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
    static const char *const cargs[] = {"--concurrency", "4", "--prefetch", "4", NULL};
    static const char *const cenv[] = {"TMDBQ_TMDB_RATE=50", NULL};
    struct ts_adds adds = {"pgfailover", FIRST_LIST, NLISTS, PER_LIST, 40000, NULL};
    struct ts_proc cons[NCONSUMERS], reaper;
    struct ts_pg primary, standby;
    struct ts_env env;
    struct ts_fake fake;
    long extra = -1, at_stop;
    long long t_stop, t_promoted;
    size_t i;
    int rc;

    memset(&primary, 0, sizeof primary);
    memset(&standby, 0, sizeof standby);
    memset(&env, 0, sizeof env);
    ts_procs_init(cons, NCONSUMERS);
    ts_procs_init(&reaper, 1);
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
    if (ts_adds_load(&env, &fake, &adds, "{\"latency_ms\":10}") != 0) {
        CHECK(!"workload loaded");
        goto out;
    }

    CHECK_EQ_INT(ts_consumers_start(&env, &fake, cenv, cargs, cons, NCONSUMERS), 0);
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
    CHECK_EQ_INT(ts_adds_check(&env, &fake, &adds, true, &extra), 0);
    CHECK(extra <= 2 * NCONSUMERS * CONCURRENCY);
    /* The reaper leads again, on the new primary. */
    CHECK(ts_sql_long(&env, "SELECT count(*) FROM tmdbq_reapers WHERE is_leader") >= 1);
    CHECK_EQ_INT(ts_procs_stop(cons, NCONSUMERS, 15000), 0);
    CHECK_EQ_INT(ts_proc_stop(&reaper, 15000), 0);
out:
    ts_procs_end(&env, cons, NCONSUMERS, check_failures != 0, 40, 5000);
    if (check_failures)
        ts_proc_dump(&reaper, 5000);
    ts_proc_stop(&reaper, 5000);
    ts_adds_free(&adds);
    ts_teardown(&env);
out_servers:
    ts_pg_destroy(&standby);
    ts_pg_destroy(&primary);
    return rc != 0 ? rc : check_exit();
}
