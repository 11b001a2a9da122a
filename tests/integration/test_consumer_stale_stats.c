/*
 * test_consumer_stale_stats: a backlog that arrives after the table was analyzed with
 * no pending row costs each finish the same, not time in proportion to the backlog
 * (migration 015).
 *
 * 3,000 finished rows of history, VACUUM ANALYZE (the statistics now say no row is
 * pending), then 600 operations on 6 lists wait before one consumer starts with --drain:
 * on every list an add, a remove and an add of one movie (they conflict, so the finish
 * of each hands the next on), then adds of distinct movies. When it has exited:
 * - every operation is completed and every list holds what the enqueue order gives;
 * - the consumer's statements read fewer entries of the (status, inserted_at) index than
 *   there were operations. Planned from the stale statistics, the hand-on searched the
 *   pending rows through that index and read the whole backlog at every finish (about
 *   300 entries an operation here); pg_stat_user_indexes counts what was read.
 */
#include <stdlib.h>

#include "check.h"
#include "support.h"

#define NLISTS 6
#define PER_LIST 100
#define NOPS (NLISTS * PER_LIST)
#define HISTORY 3000
#define FIRST_LIST 7501
#define CONFLICT_MOVIE 778

/* Entries read from the status index so far; the counters of a session reach the view
 * when it ends, so the consumer's are in once it has exited. */
static long status_index_reads(const struct ts_env *env)
{
    return ts_sql_long(env,
                       "SELECT idx_tup_read FROM pg_stat_user_indexes"
                       " WHERE indexrelname = 'idx_queued_operations_status_inserted'");
}

int main(void)
{
    static const struct ts_conflict w = {FIRST_LIST, NLISTS, PER_LIST, CONFLICT_MOVIE,
                                         50000};
    static const char *const cargs[] = {"--concurrency", "2", "--drain", NULL};
    struct ts_proc cons = {.pid = -1};
    struct ts_env env;
    struct ts_fake fake;
    json_t *ops = NULL;
    char *lines = NULL, sql[512];
    long n, before, after;
    int rc;

    rc = ts_setup_with_fake(&env, &fake, "consumer_stale_stats", 5, 100, 2000);
    if (rc != 0)
        return rc;
    CHECK_EQ_INT(ts_user(&env, &fake, 1, "sess-ss-1", NULL), 0);
    CHECK_EQ_INT(ts_user(&env, &fake, 2, "sess-ss-2", NULL), 0);
    CHECK_EQ_INT(ts_conflict_load(&fake, &w, &lines), 0);

    snprintf(sql, sizeof sql,
             "INSERT INTO queued_list_operations (operation_type, tmdb_user_id,"
             " tmdb_list_id, operation_data, status, inserted_at, updated_at)"
             " SELECT 'add_movie', 1 + g %% 2, 9000 + g %% 50,"
             " jsonb_build_object('movie_id', g), 'completed',"
             " now() - interval '1 day', now() - interval '1 day'"
             " FROM generate_series(1, %d) g",
             HISTORY);
    CHECK_EQ_INT(ts_sql_exec(&env, sql), 0);
    CHECK_EQ_INT(ts_sql_exec(&env, "VACUUM ANALYZE queued_list_operations"), 0);
    CHECK_EQ_INT(ts_sql_long(&env, "SELECT count(*) FROM pg_stats WHERE tablename ="
                                   " 'queued_list_operations' AND attname = 'status'"
                                   " AND most_common_vals::text = '{completed}'"),
                 1);

    n = ts_enqueue_lines(&env, lines, &ops);
    CHECK_EQ_INT(n, NOPS);
    if (n != NOPS)
        goto out;

    before = status_index_reads(&env);
    CHECK_EQ_INT(ts_consumer_start(&env, &fake, NULL, cargs, &cons), 0);
    CHECK_EQ_INT(ts_proc_wait(&cons, 120000), 0);
    after = status_index_reads(&env);
    printf("stale_stats: the consumer read %ld entries of the status index for %d "
           "operations\n",
           after - before, NOPS);
    CHECK(before >= 0 && after >= before);
    CHECK(after - before < NOPS);

    CHECK_EQ_INT(ts_count_status(&env, "completed"), NOPS + HISTORY);
    CHECK_EQ_INT(ts_conflict_check(&fake, &w), 0);
out:
    if (check_failures) {
        ts_dump_rows(&env, 20);
        ts_proc_dump(&cons, 4000);
    }
    ts_proc_stop(&cons, 5000);
    json_decref(ops);
    free(lines);
    ts_teardown(&env);
    return check_exit();
}
