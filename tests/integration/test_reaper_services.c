/*
 * test_reaper_services: the reaper never exits because a service is down, and stops
 * cleanly on SIGTERM.
 *
 * With its broker URL pointing at a closed port it still leads and sweeps (rescue and
 * cleanup need only PostgreSQL), says broker=down, and leaves the unpublished rows for
 * later; `--once` in that state exits 1 after doing what it could. With its database URL
 * pointing at a closed port it keeps trying with backoff and is not the leader. Both stop
 * with status 0 on SIGTERM.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "support.h"

int main(void)
{
    struct ts_proc no_mq, no_db;
    struct ts_env env;
    char dead[128], dead_db[200], *err = NULL;
    const char *offline[2] = {dead, NULL};
    const char *db_gone[2] = {dead_db, NULL};
    long sweeps;
    long long t0;
    int rc;

    memset(&no_mq, 0, sizeof no_mq);
    memset(&no_db, 0, sizeof no_db);
    no_mq.pid = no_db.pid = -1;
    rc = ts_setup(&env, "reaper_services");
    if (rc != 0) {
        ts_teardown(&env);
        return rc;
    }
    if (ts_dead_amqp_env(dead, sizeof dead) != 0) {
        CHECK(!"a dead broker URL made");
        goto out;
    }
    snprintf(dead_db, sizeof dead_db,
             "TMDBQ_DATABASE_URL=postgresql://tmdbq:tmdbq@127.0.0.1:%d/tmdbq",
             ts_free_port());
    CHECK_EQ_INT(ts_enqueue_lines_env(&env, offline,
                                      "{\"type\":\"add_movie\",\"user\":1,\"list\":7701,"
                                      "\"movie\":1}\n",
                                      NULL),
                 1);
    CHECK_EQ_INT(ts_sql_exec(&env,
                             "UPDATE queued_list_operations SET updated_at = now() -"
                             " interval '1 minute'"),
                 0);

    /* --once without a broker: what needs only PostgreSQL is done, then exit 1. */
    CHECK_EQ_INT(ts_reaper_once(&env, offline, &err), 1);
    CHECK_CONTAINS(err, "broker=down");
    CHECK_CONTAINS(err, "RabbitMQ was not available");
    CHECK_CONTAINS(err, "cleanup_batches=1");
    free(err);
    err = NULL;

    CHECK_EQ_INT(ts_reaper_start(&env, offline, NULL, &no_mq), 0);
    CHECK_EQ_INT(ts_reaper_start(&env, db_gone, NULL, &no_db), 0);
    CHECK(ts_reaper_wait_sweeps(&no_mq, 3, 15000) >= 3);
    CHECK(ts_proc_running(&no_mq));
    CHECK(ts_proc_running(&no_db));
    CHECK_EQ_INT(ts_count_published(&env, "pending"), 0);
    err = ts_proc_stderr(&no_mq);
    CHECK_CONTAINS(err, "broker=down");
    CHECK_CONTAINS(err, "publishing waits for the broker");
    free(err);
    err = ts_proc_stderr(&no_db);
    CHECK_CONTAINS(err, "could not connect to PostgreSQL at 127.0.0.1");
    CHECK(strstr(err, "leading:") == NULL);
    CHECK_EQ_INT(ts_reaper_sweeps(&no_db), 0);
    free(err);
    err = NULL;

    t0 = ts_now_ms();
    CHECK_EQ_INT(ts_proc_stop(&no_db, 5000), 0);
    CHECK_EQ_INT(ts_proc_stop(&no_mq, 5000), 0);
    printf("services: both stopped %lld ms after SIGTERM\n", ts_now_ms() - t0);
    /* The one that led left the registry's lead; the lock went with its connection. */
    CHECK_EQ_INT(ts_sql_long(&env, "SELECT count(*) FROM tmdbq_reapers WHERE is_leader"),
                 0);
    sweeps = ts_sql_long(&env, "SELECT count(*) FROM tmdbq_reapers WHERE last_sweep->>"
                               "'broker' = 'down'");
    CHECK(sweeps >= 1);
out:
    if (check_failures) {
        ts_dump_rows(&env, 10);
        ts_proc_dump(&no_mq, 5000);
        ts_proc_dump(&no_db, 5000);
    }
    ts_proc_stop(&no_mq, 5000);
    ts_proc_stop(&no_db, 5000);
    free(err);
    ts_teardown(&env);
    return check_exit();
}
