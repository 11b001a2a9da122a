/*
 * test_reaper_overdue: the relay of rows whose message was lost, and of a retry whose
 * publish failed, without duplicating a healthy backlog.
 *
 * Three operations on three lists, enqueued while the broker is down, then arranged by
 * SQL: A  marked published 10 minutes ago, but no message exists (lost): overdue; B
 * unpublished and scheduled 10 s ahead (a retry whose publish failed): left until due; C
 * marked published just now, no message: not overdue yet. The reaper (sweep every second,
 * so a grace of 30 s) republishes A and re-stamps it. Then C is made overdue too; while
 * A's message waits ready in the work queue the reaper skips the overdue check, so C is
 * not republished and A not twice. A consumer then takes A; with the queue empty the
 * reaper republishes C, and B once it is due; everything completes.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "support.h"

#define LIST_A 7401
#define LIST_B 7402
#define LIST_C 7403

int main(void)
{
    static const long none[] = {0};
    struct ts_proc reaper, cons;
    struct ts_env env;
    struct ts_fake fake;
    char dead[128], *err = NULL, *lines = NULL;
    const char *offline[2] = {dead, NULL};
    json_t *ops = NULL;
    long n, sweeps;
    long long t0;
    int rc;

    memset(&reaper, 0, sizeof reaper);
    memset(&cons, 0, sizeof cons);
    reaper.pid = cons.pid = -1;
    rc = ts_setup(&env, "reaper_overdue");
    if (rc != 0) {
        ts_teardown(&env);
        return rc;
    }
    ts_set_policy(&env, 5, 100, 2000);
    if (ts_fake_start(&env, &fake, NULL, NULL) != 0 ||
        ts_dead_amqp_env(dead, sizeof dead)) {
        CHECK(!"fake TMDB started and a dead broker URL made");
        goto out;
    }
    CHECK_EQ_INT(ts_user(&env, &fake, 1, "sess-overdue-1", NULL), 0);
    CHECK_EQ_INT(ts_fake_list(&fake, LIST_A, 1, none, 0), 0);
    CHECK_EQ_INT(ts_fake_list(&fake, LIST_B, 1, none, 0), 0);
    CHECK_EQ_INT(ts_fake_list(&fake, LIST_C, 1, none, 0), 0);
    ts_appendf(&lines,
               "{\"type\":\"add_movie\",\"user\":1,\"list\":%d,\"movie\":11}\n"
               "{\"type\":\"add_movie\",\"user\":1,\"list\":%d,\"movie\":12}\n"
               "{\"type\":\"add_movie\",\"user\":1,\"list\":%d,\"movie\":13}\n",
               LIST_A, LIST_B, LIST_C);
    n = ts_enqueue_lines_env(&env, offline, lines, &ops);
    CHECK_EQ_INT(n, 3);
    if (n != 3)
        goto out;
    CHECK_EQ_INT(ts_sql_exec(&env, "UPDATE queued_list_operations SET"
                                   " published_at = now() - interval '10 minutes',"
                                   " updated_at = now() - interval '10 minutes'"
                                   " WHERE tmdb_list_id = 7401"),
                 0);
    CHECK_EQ_INT(ts_sql_exec(&env, "UPDATE queued_list_operations SET"
                                   " scheduled_for = now() + interval '10 seconds',"
                                   " retry_count = 1, last_retry_at = now(),"
                                   " updated_at = now() - interval '1 minute'"
                                   " WHERE tmdb_list_id = 7402"),
                 0);
    CHECK_EQ_INT(ts_sql_exec(&env,
                             "UPDATE queued_list_operations SET published_at = now(),"
                             " updated_at = now() - interval '1 minute'"
                             " WHERE tmdb_list_id = 7403"),
                 0);
    CHECK_EQ_INT(ts_queue_depth(&env, "work", 0, 0), 0);

    t0 = ts_now_ms();
    CHECK_EQ_INT(ts_reaper_start(&env, NULL, NULL, &reaper), 0);
    CHECK_EQ_INT(ts_queue_depth(&env, "work", 1, 10000), 1);
    for (n = 0; ts_now_ms() - t0 < 10000; ts_sleep_ms(50)) {
        n = ts_sql_long(&env, "SELECT count(*) FROM queued_list_operations WHERE "
                              "tmdb_list_id = 7401 AND published_at > now() - interval "
                              "'1 minute'");
        if (n == 1)
            break;
    }
    CHECK_EQ_INT(n, 1);
    printf("overdue: A republished %lld ms after the reaper started\n", ts_now_ms() - t0);
    err = ts_proc_stderr(&reaper);
    CHECK_CONTAINS(err, "overdue=1");
    CHECK_CONTAINS(err, "republished: pending and due for more than 30000ms");
    free(err);
    err = NULL;

    /* C is overdue now too, but A's message is still waiting in the work queue. */
    CHECK_EQ_INT(ts_sql_exec(&env, "UPDATE queued_list_operations SET"
                                   " published_at = now() - interval '10 minutes'"
                                   " WHERE tmdb_list_id = 7403"),
                 0);
    sweeps = ts_reaper_sweeps(&reaper);
    CHECK(ts_reaper_wait_sweeps(&reaper, sweeps + 2, 10000) >= sweeps + 2);
    CHECK_EQ_INT(ts_queue_depth(&env, "work", 1, 1000), 1);
    CHECK_EQ_INT(ts_sql_long(&env, "SELECT count(*) FROM queued_list_operations WHERE "
                                   "tmdb_list_id = 7403 AND published_at < now() - "
                                   "interval '5 minutes'"),
                 1);
    /* B is not due yet: still unpublished. */
    CHECK_EQ_INT(ts_sql_long(&env, "SELECT count(*) FROM queued_list_operations WHERE "
                                   "tmdb_list_id = 7402 AND published_at IS NULL AND "
                                   "scheduled_for > now()"),
                 1);
    err = ts_proc_stderr(&reaper);
    CHECK_CONTAINS(err, "overdue_check=skipped(work queue has 1 ready)");
    free(err);
    err = NULL;

    /* A consumer empties the queue; C is republished, B relayed once due. */
    CHECK_EQ_INT(ts_consumer_start(&env, &fake, NULL, NULL, &cons), 0);
    CHECK_EQ_INT(ts_wait_final_while(&env, &cons, 1, 40000), 0);
    CHECK_EQ_INT(ts_count_status(&env, "completed"), 3);
    /* B ran no earlier than it was due. */
    CHECK_EQ_INT(ts_sql_long(&env, "SELECT count(*) FROM queued_list_operations WHERE "
                                   "tmdb_list_id = 7402 AND updated_at >= scheduled_for"),
                 1);
    err = ts_proc_stderr(&reaper);
    {
        const char *at = err;
        long overdue = 0;

        while ((at = strstr(at, "overdue=1 ")) != NULL) {
            overdue++;
            at++;
        }
        CHECK_EQ_INT(overdue, 2); /* A, then C: each once */
    }
    CHECK_EQ_INT(ts_proc_stop(&cons, 15000), 0);
    CHECK_EQ_INT(ts_proc_stop(&reaper, 10000), 0);
out:
    if (check_failures) {
        ts_dump_rows(&env, 40);
        ts_proc_dump(&reaper, 8000);
        ts_proc_dump(&cons, 4000);
    }
    ts_proc_stop(&cons, 5000);
    ts_proc_stop(&reaper, 5000);
    free(err);
    free(lines);
    json_decref(ops);
    ts_teardown(&env);
    return check_exit();
}
