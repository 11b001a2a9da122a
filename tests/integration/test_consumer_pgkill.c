/*
 * test_consumer_pgkill: PostgreSQL crashes (pg_ctl stop -m immediate) while a worker's
 * finish and next claim stand in one transaction, and nothing is lost or applied twice.
 *
 * On a private cluster (its own port), one consumer with one worker takes an add on list
 * A and then one on list B (20 more follow on both). The test holds list B's lock (the
 * advisory lock every claim and finish of the list takes), so the worker, having called
 * TMDB for the first add, waits inside tmdbq_finish_claim: the first add's outcome is not
 * committed. Then PostgreSQL is stopped with -m immediate (a crash: no checkpoint, the
 * open transaction gone), and started again a second later. The worker must keep the
 * outcome it had and record it after reconnecting, never call TMDB for it again, and go
 * on: every operation completed, each write seen by TMDB exactly once, the first add
 * with no retry spent.
 */
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "support.h"

#define LIST_A 7501
#define LIST_B 7502
#define NOPS 22

int main(void)
{
    static const long none[] = {0};
    static const char *const cargs[] = {"--concurrency", "1", "--prefetch", "8", NULL};
    struct ts_proc cons = {.pid = -1};
    struct ts_pg pg;
    struct ts_env env;
    struct ts_fake fake;
    json_t *ops = NULL, *reqs = NULL;
    char *lines = NULL, *status = NULL, sql[256];
    const char *first;
    PGconn *holder = NULL;
    long n, missing = -1, extra = -1, waiting = 0, writes;
    int rc, k;

    rc = ts_setup_on_pg(&env, &fake, &pg, "consumer_pgkill", 5, 100, 2000);
    if (rc != 0)
        return rc;
    CHECK_EQ_INT(ts_user(&env, &fake, 1, "sess-pgkill-1", NULL), 0);
    CHECK_EQ_INT(ts_fake_list(&fake, LIST_A, 1, none, 0), 0);
    CHECK_EQ_INT(ts_fake_list(&fake, LIST_B, 1, none, 0), 0);
    for (k = 0; k < NOPS; k++)
        ts_appendf(&lines,
                   "{\"type\":\"add_movie\",\"user\":1,\"list\":%d,\"movie\":%d}\n",
                   k % 2 == 0 ? LIST_A : LIST_B, 600 + k);
    n = ts_enqueue_lines(&env, lines, &ops);
    CHECK_EQ_INT(n, NOPS);
    if (n != NOPS)
        goto out;
    first = ts_json_str(json_array_get(ops, 0), "id");
    CHECK(first != NULL);
    if (first == NULL)
        goto out;

    holder = ts_hold_list_lock(&env, LIST_B);
    CHECK(holder != NULL);

    CHECK_EQ_INT(ts_consumer_start(&env, &fake, NULL, cargs, &cons), 0);
    waiting = ts_wait_finish_claim_blocked(&env, 20000);
    CHECK_EQ_INT(waiting, 1);
    if (waiting != 1)
        goto out;
    /* TMDB applied the first add; its outcome waits on the lock, uncommitted. */
    reqs = ts_fake_requests(&fake);
    writes = ts_fake_count(reqs, "POST", "/3/list/7501/add_item");
    CHECK_EQ_INT(writes, 1);
    json_decref(reqs);
    reqs = NULL;
    snprintf(sql, sizeof sql, "SELECT status FROM queued_list_operations WHERE id = '%s'",
             first);
    status = ts_sql_value(&env, sql);
    CHECK(status != NULL && strcmp(status, "processing") == 0);
    /* The claim committed without waiting for the disk: the WAL writer has flushed it
     * within a second. */
    ts_sleep_ms(1000);

    CHECK_EQ_INT(ts_pg_stop(&pg, "immediate"), 0);
    PQfinish(holder);
    holder = NULL;
    ts_sleep_ms(1000);
    CHECK_EQ_INT(ts_pg_start(&pg), 0);
    printf(
        "pgkill: PostgreSQL crashed with the first outcome uncommitted, and is back\n");

    CHECK_EQ_INT(ts_wait_final_while(&env, &cons, 1, 45000), 0);
    CHECK_EQ_INT(ts_count_status(&env, "completed"), NOPS);
    snprintf(sql, sizeof sql,
             "SELECT retry_count FROM queued_list_operations WHERE id = '%s'", first);
    CHECK_EQ_INT(ts_sql_long(&env, sql), 0);
    reqs = ts_fake_requests(&fake);
    CHECK(reqs != NULL);
    CHECK_EQ_INT(ts_fake_compare_writes(reqs, ops, &missing, &extra), 0);
    printf("pgkill: duplicate TMDB writes: %ld; missing: %ld\n", extra, missing);
    CHECK_EQ_INT(missing, 0);
    CHECK_EQ_INT(extra, 0);
    CHECK_EQ_INT(ts_proc_stop(&cons, 15000), 0);
out:
    if (check_failures) {
        ts_dump_rows(&env, 30);
        ts_proc_dump(&cons, 6000);
    }
    ts_proc_stop(&cons, 5000);
    PQfinish(holder);
    free(status);
    json_decref(reqs);
    json_decref(ops);
    free(lines);
    ts_teardown(&env);
    ts_pg_destroy(&pg);
    return check_exit();
}
