/*
 * test_consumer_pgkill_grouped: PostgreSQL crashes (pg_ctl stop -m immediate) while a
 * worker holds outcomes it committed without waiting for the disk (a grouped flush, see
 * "What each commit waits for" in the README), and nothing is lost: the crash undoes
 * some of them, their deliveries were not acked, and each is done again.
 *
 * On a private cluster (its own port), one consumer with one worker and prefetch 8 (acks
 * sent four at a time) takes four adds on list A and then one on list B. The first claim
 * and the first three outcomes commit without waiting, each outcome with the next claim;
 * the fourth outcome, which fills the batch of acks, must wait for the disk, and the test
 * holds list B's lock, so it waits inside its statement. The cluster's WAL writer is
 * stopped (SIGSTOP) before the consumer starts, so what was committed without waiting
 * stays in PostgreSQL's memory (as it may for up to 600 ms with the defaults) instead of
 * reaching the operating system at the next page of WAL. The consumer is stopped too,
 * PostgreSQL crashes (the postmaster kills the stopped WAL writer after 5 s) and starts
 * again, and the test reads what survived: none of the four claims and outcomes. Then the
 * consumer goes on, with no reaper running: every operation must complete (an ack sent
 * before its outcome was durable would lose the operation for good), and TMDB sees a
 * second write of exactly the four operations the crash undid, and one of every other.
 */
#include <libpq-fe.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "check.h"
#include "support.h"

#define LIST_A 8101
#define LIST_B 8102
#define NOPS 12
#define FIRST_MOVIE 700

/* The writes of add (list, movie) the fake recorded. */
static long writes_of(const json_t *reqs, long list, long movie)
{
    char key[256], want[256];
    size_t i;
    long n = 0;

    snprintf(want, sizeof want, "POST /3/list/%ld/add_item %ld", list, movie);
    for (i = 0; i < json_array_size(reqs); i++) {
        ts_fake_request_key(json_array_get(reqs, i), key, sizeof key);
        n += strcmp(key, want) == 0 ? 1 : 0;
    }
    return n;
}

int main(void)
{
    static const long none[] = {0};
    static const char *const cargs[] = {"--concurrency", "1", "--prefetch", "8", NULL};
    /* No request budget: its leases are commits that wait, and would flush the rest. */
    static const char *const cenv[] = {"TMDBQ_TMDB_RATE=0", NULL};
    struct ts_proc cons = {.pid = -1};
    struct ts_pg pg;
    struct ts_env env;
    struct ts_fake fake;
    json_t *ops = NULL, *reqs = NULL;
    char *lines = NULL, *status = NULL, sql[256];
    bool undone[NOPS] = {false};
    PGconn *holder = NULL;
    PGresult *res;
    long n, waiting = 0, w, lost_async = 0, walwriter = -1;
    int rc, k;

    rc = ts_setup_on_pg(&env, &fake, &pg, "consumer_pgkill_grouped", 5, 100, 2000);
    if (rc != 0)
        return rc;
    CHECK_EQ_INT(ts_user(&env, &fake, 1, "sess-grouped-1", NULL), 0);
    CHECK_EQ_INT(ts_fake_list(&fake, LIST_A, 1, none, 0), 0);
    CHECK_EQ_INT(ts_fake_list(&fake, LIST_B, 1, none, 0), 0);
    /* Four on A, then the rest on B: the fourth finish claims the first of B. */
    for (k = 0; k < NOPS; k++)
        ts_appendf(&lines,
                   "{\"type\":\"add_movie\",\"user\":1,\"list\":%d,\"movie\":%d}\n",
                   k < 4 ? LIST_A : LIST_B, FIRST_MOVIE + k);
    n = ts_enqueue_lines(&env, lines, &ops);
    CHECK_EQ_INT(n, NOPS);
    if (n != NOPS)
        goto out;

    holder = ts_hold_list_lock(&env, LIST_B);
    CHECK(holder != NULL);

    /* Its pid is visible to every role. */
    walwriter = ts_sql_long_quiet(&env, "SELECT pid FROM pg_stat_activity"
                                        " WHERE backend_type = 'walwriter'");
    CHECK(walwriter > 0);
    if (walwriter <= 0)
        goto out;
    CHECK_EQ_INT(kill((pid_t)walwriter, SIGSTOP), 0);

    CHECK_EQ_INT(ts_consumer_start(&env, &fake, cenv, cargs, &cons), 0);
    waiting = ts_wait_finish_claim_blocked(&env, 8000);
    CHECK_EQ_INT(waiting, 1);
    if (waiting != 1)
        goto out;
    CHECK_EQ_INT(ts_proc_signal(&cons, SIGSTOP), 0);
    res = PQexec(holder, "SELECT pg_current_wal_insert_lsn(), pg_current_wal_lsn(),"
                         " pg_current_wal_flush_lsn()");
    if (PQresultStatus(res) == PGRES_TUPLES_OK)
        printf("pgkill_grouped: WAL inserted to %s, written to %s, flushed to %s\n",
               PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2));
    PQclear(res);
    CHECK_EQ_INT(ts_pg_stop(&pg, "immediate"), 0);
    PQfinish(holder);
    holder = NULL;
    /* TMDB applied the four adds of A, and nothing of B. */
    reqs = ts_fake_requests(&fake);
    CHECK(reqs != NULL);
    for (k = 0; k < NOPS; k++)
        CHECK_EQ_INT(writes_of(reqs, k < 4 ? LIST_A : LIST_B, FIRST_MOVIE + k),
                     k < 4 ? 1 : 0);
    json_decref(reqs);
    reqs = NULL;

    walwriter = -1; /* gone with the cluster */
    ts_sleep_ms(500);
    CHECK_EQ_INT(ts_pg_start(&pg), 0);
    /* What the crash kept of the first four outcomes, read while the consumer is
     * stopped. The fourth was never committed. */
    for (k = 0; k < 4; k++) {
        snprintf(sql, sizeof sql,
                 "SELECT status FROM queued_list_operations WHERE id = '%s'",
                 ts_json_str(json_array_get(ops, (size_t)k), "id"));
        free(status);
        status = ts_sql_value(&env, sql);
        CHECK(status != NULL && strcmp(status, "pending") == 0);
        undone[k] = status == NULL || strcmp(status, "completed") != 0;
        printf("pgkill_grouped: after the crash, add %d is %s\n", k + 1,
               status != NULL ? status : "(unknown)");
        if (k < 3 && undone[k])
            lost_async++;
    }
    CHECK(undone[3]);
    /* The three outcomes that did not wait for the disk are gone, with their claims:
     * the rows are pending again. */
    CHECK_EQ_INT(lost_async, 3);
    CHECK_EQ_INT(ts_proc_signal(&cons, SIGCONT), 0);
    printf(
        "pgkill_grouped: PostgreSQL crashed holding %ld outcome(s) that had not waited "
        "for the disk, and is back\n",
        lost_async);

    /* No reaper runs: an operation whose delivery was acked too early stays pending. */
    CHECK_EQ_INT(ts_wait_final_while(&env, &cons, 1, 45000), 0);
    CHECK_EQ_INT(ts_count_status(&env, "completed"), NOPS);
    reqs = ts_fake_requests(&fake);
    CHECK(reqs != NULL);
    for (k = 0; k < NOPS && reqs != NULL; k++) {
        w = writes_of(reqs, k < 4 ? LIST_A : LIST_B, FIRST_MOVIE + k);
        /* Twice for an operation the crash undid (a repeat inside the crash window,
         * which TMDB answers "already on the list"), else once. */
        CHECK_EQ_INT(w, k < 4 && undone[k] ? 2 : 1);
    }
    CHECK_EQ_INT(ts_fake_list_items(&fake, LIST_A, NULL, 0), 4);
    CHECK_EQ_INT(ts_fake_list_items(&fake, LIST_B, NULL, 0), NOPS - 4);
    CHECK_EQ_INT(ts_proc_stop(&cons, 15000), 0);
out:
    if (check_failures) {
        ts_dump_rows(&env, 30);
        ts_proc_dump(&cons, 6000);
    }
    if (walwriter > 0)
        kill((pid_t)walwriter, SIGCONT);
    if (cons.pid > 0)
        ts_proc_signal(&cons, SIGCONT);
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
