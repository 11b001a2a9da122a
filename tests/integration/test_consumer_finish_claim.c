/*
 * test_consumer_finish_claim: under a backlog a worker records an outcome and claims its
 * next delivery in one transaction (tmdbq_finish_claim, migration 014), and that changes
 * nothing of what is applied.
 *
 * 400 operations wait on 8 lists before one consumer (--concurrency 2, --prefetch 8)
 * starts with --drain: on every list an add, a remove and an add of one movie (they
 * conflict, so their order counts), and adds of distinct movies. When it has exited:
 * - every operation is completed, TMDB saw each write exactly once, and every list holds
 *   what the enqueue order gives (the conflicting movie present: add, remove, add);
 * - most claims went with the finish before them (the consumer's debug line for each),
 *   and the database committed fewer than 1.5 transactions per operation (a claim and a
 *   finish apart make 2; pg_stat_database counts them, heartbeats and metrics included).
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "support.h"

#define NLISTS 8
#define PER_LIST 50
#define NOPS (NLISTS * PER_LIST)
#define FIRST_LIST 7401
#define CONFLICT_MOVIE 777

/* How many times needle occurs in hay. */
static long count_in(const char *hay, const char *needle)
{
    long n = 0;

    for (const char *p = hay; p != NULL && (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static long commits(const struct ts_env *env)
{
    return ts_sql_long(env, "SELECT xact_commit FROM pg_stat_database"
                            " WHERE datname = current_database()");
}

int main(void)
{
    static const struct ts_conflict w = {FIRST_LIST, NLISTS, PER_LIST, CONFLICT_MOVIE,
                                         40000};
    static const char *const cargs[] = {"--concurrency", "2", "--prefetch", "8",
                                        "--drain",       NULL};
    struct ts_proc cons = {.pid = -1};
    struct ts_env env;
    struct ts_fake fake;
    json_t *ops = NULL, *reqs = NULL;
    char *lines = NULL, *err = NULL;
    long n, missing = -1, extra = -1, before, after, together;
    int rc;

    rc = ts_setup_with_fake(&env, &fake, "consumer_finish_claim", 5, 100, 2000);
    if (rc != 0)
        return rc;
    CHECK_EQ_INT(ts_user(&env, &fake, 1, "sess-fc-1", NULL), 0);
    CHECK_EQ_INT(ts_user(&env, &fake, 2, "sess-fc-2", NULL), 0);
    CHECK_EQ_INT(ts_conflict_load(&fake, &w, &lines), 0);
    n = ts_enqueue_lines(&env, lines, &ops);
    CHECK_EQ_INT(n, NOPS);
    if (n != NOPS)
        goto out;

    before = commits(&env);
    CHECK_EQ_INT(ts_consumer_start(&env, &fake, NULL, cargs, &cons), 0);
    /* --drain: it exits once the queue is empty and its workers idle. */
    CHECK_EQ_INT(ts_proc_wait(&cons, 120000), 0);
    CHECK_EQ_INT(ts_count_status(&env, "completed"), NOPS);

    reqs = ts_fake_requests(&fake);
    CHECK(reqs != NULL);
    CHECK_EQ_INT(ts_fake_compare_writes(reqs, ops, &missing, &extra), 0);
    CHECK_EQ_INT(missing, 0);
    CHECK_EQ_INT(extra, 0);
    /* 47 distinct adds and the conflicting movie, added last. */
    CHECK_EQ_INT(ts_conflict_check(&fake, &w), 0);

    err = ts_proc_stderr(&cons);
    together = count_in(err, "with the finish of");
    /* The backend's counters reach pg_stat_database when its session ends: the
     * consumer's have, and the reading session's own do not count yet. */
    after = commits(&env);
    printf("finish_claim: %ld of %d claims with the finish before them; %ld commits for "
           "%d operations (%.2f each)\n",
           together, NOPS, after - before, NOPS, (double)(after - before) / NOPS);
    CHECK(together >= NOPS / 2);
    CHECK(before > 0 && after - before < NOPS * 3 / 2);
out:
    if (check_failures) {
        ts_dump_rows(&env, 20);
        ts_proc_dump(&cons, 4000);
    }
    ts_proc_stop(&cons, 5000);
    free(err);
    json_decref(reqs);
    json_decref(ops);
    free(lines);
    ts_teardown(&env);
    return check_exit();
}
