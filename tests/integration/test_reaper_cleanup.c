/*
 * test_reaper_cleanup: the cleanup deletes completed and cancelled rows older than the
 * retention, in batches, and keeps everything else; plus the command line.
 *
 * Rows are written by SQL on both sides of the retention boundary (TMDBQ_RETENTION 30d,
 * a minute either way): 2,500 old completed rows (three batches of at most 1,000), 2 old
 * cancelled, 3 young completed, 2 young cancelled, and failed, pending and processing
 * rows 400 days old. `tmdbq-reaper --once` deletes exactly the 2,502 old finished rows,
 * purges registry rows not seen for an hour, and records the sweep; a second run finds
 * nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "support.h"

#define OLD_COMPLETED 2500

static long tagged(const struct ts_env *env, const char *tag)
{
    char sql[200];

    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM queued_list_operations WHERE operation_data->>'tag' = "
             "'%s'",
             tag);
    return ts_sql_long(env, sql);
}

/* Insert n rows tagged tag with this status, updated age ago. */
static int insert(const struct ts_env *env, int n, const char *tag, const char *status,
                  const char *age, const char *extra_cols, const char *extra_vals)
{
    char sql[1024];

    snprintf(sql, sizeof sql,
             "INSERT INTO queued_list_operations (operation_type, tmdb_user_id, "
             "tmdb_list_id, operation_data, status, inserted_at, updated_at%s) "
             "SELECT 'add_movie', 1, 7600 + g, jsonb_build_object('movie_id', g, 'tag', "
             "'%s'), '%s', now() - interval '%s' - interval '1 day', now() - interval "
             "'%s'%s FROM generate_series(1, %d) g",
             extra_cols, tag, status, age, age, extra_vals, n);
    return ts_sql_exec(env, sql);
}

/* Run the reaper with args; its status, stderr to *err. */
static int run_reaper(struct ts_env *env, const char *const *extra_env,
                      const char *const *args, char **err)
{
    struct ts_proc p;
    int status;

    *err = NULL;
    if (ts_reaper_start(env, extra_env, args, &p) != 0)
        return -1;
    status = ts_proc_wait(&p, 30000);
    if (status == -1) {
        fprintf(stderr, "tmdbq-reaper did not exit within 30 s\n");
        ts_proc_stop(&p, 5000);
    }
    *err = ts_proc_stderr(&p);
    return status;
}

static void command_line(struct ts_env *env)
{
    static const char *const bogus[] = {"--bogus", NULL};
    static const char *const extra[] = {"--once", "now", NULL};
    static const char *const help[] = {"--help", NULL};
    static const char *const version[] = {"--version", NULL};
    static const char *const bad_retention[] = {"TMDBQ_RETENTION=forever", NULL};
    char dead_db[200], *err = NULL;
    const char *no_db[2] = {dead_db, NULL};

    CHECK_EQ_INT(run_reaper(env, NULL, bogus, &err), 2);
    CHECK_CONTAINS(err, "unknown option \"--bogus\"");
    free(err);
    CHECK_EQ_INT(run_reaper(env, NULL, extra, &err), 2);
    CHECK_CONTAINS(err, "unexpected argument \"now\"");
    free(err);
    CHECK_EQ_INT(run_reaper(env, NULL, help, &err), 0);
    free(err);
    CHECK_EQ_INT(run_reaper(env, NULL, version, &err), 0);
    free(err);
    CHECK_EQ_INT(run_reaper(env, bad_retention, NULL, &err), 2);
    CHECK_CONTAINS(err, "TMDBQ_RETENTION: invalid duration \"forever\"");
    free(err);
    /* --once with PostgreSQL unreachable: a service failed, exit 1, no password shown. */
    snprintf(dead_db, sizeof dead_db,
             "TMDBQ_DATABASE_URL=postgresql://tmdbq:secretpw@127.0.0.1:%d/x",
             ts_free_port());
    CHECK_EQ_INT(ts_reaper_once(env, no_db, &err), 1);
    CHECK_CONTAINS(err, "could not connect to PostgreSQL at 127.0.0.1");
    CHECK(err != NULL && strstr(err, "secretpw") == NULL);
    free(err);
}

int main(void)
{
    static const char *const retention[] = {"TMDBQ_RETENTION=30d", NULL};
    struct ts_env env;
    char *err = NULL, *v = NULL;
    int rc;

    rc = ts_setup(&env, "reaper_cleanup");
    if (rc != 0) {
        ts_teardown(&env);
        return rc;
    }
    command_line(&env);

    CHECK_EQ_INT(insert(&env, OLD_COMPLETED, "old_completed", "completed",
                        "30 days 1 minute", "", ""),
                 0);
    CHECK_EQ_INT(
        insert(&env, 2, "old_cancelled", "cancelled", "30 days 1 minute", "", ""), 0);
    CHECK_EQ_INT(insert(&env, 3, "young_completed", "completed",
                        "29 days 23 hours 59 minutes", "", ""),
                 0);
    CHECK_EQ_INT(insert(&env, 2, "young_cancelled", "cancelled",
                        "29 days 23 hours 59 minutes", "", ""),
                 0);
    CHECK_EQ_INT(insert(&env, 2, "old_failed", "failed", "400 days",
                        ", error_message, error_kind", ", 'gone wrong', 'permanent'"),
                 0);
    CHECK_EQ_INT(insert(&env, 1, "old_pending", "pending", "400 days", ", published_at",
                        ", now()"),
                 0);
    CHECK_EQ_INT(insert(&env, 1, "old_processing", "processing", "400 days",
                        ", published_at, claimed_by, lease_expires_at",
                        ", now(), 'live:1:1', now() + interval '1 hour'"),
                 0);
    CHECK_EQ_INT(
        ts_sql_exec(&env,
                    "INSERT INTO tmdbq_consumers (consumer_id, host, pid, last_seen_at)"
                    " VALUES ('stale-c', 'h', 1, now() - interval '2 hours'),"
                    " ('fresh-c', 'h', 2, now() - interval '10 minutes')"),
        0);
    CHECK_EQ_INT(
        ts_sql_exec(&env, "INSERT INTO tmdbq_reapers (reaper_id, host, pid, last_seen_at,"
                          " is_leader) VALUES ('stale-r', 'h', 3, now() - interval"
                          " '2 hours', true), ('fresh-r', 'h', 4, now() - interval"
                          " '10 minutes', false)"),
        0);

    CHECK_EQ_INT(ts_reaper_once(&env, retention, &err), 0);
    CHECK_CONTAINS(err, "deleted=2502 ");
    CHECK_CONTAINS(err, "cleanup_batches=3 longest_batch_ms=");
    CHECK_CONTAINS(err, "registry_purged=2");
    {
        const char *at = err != NULL ? strstr(err, "longest_batch_ms=") : NULL;

        printf("cleanup: %.*s\n", at != NULL ? (int)strcspn(at, " \n") : 0,
               at != NULL ? at : "");
    }
    CHECK_EQ_INT(tagged(&env, "old_completed"), 0);
    CHECK_EQ_INT(tagged(&env, "old_cancelled"), 0);
    CHECK_EQ_INT(tagged(&env, "young_completed"), 3);
    CHECK_EQ_INT(tagged(&env, "young_cancelled"), 2);
    CHECK_EQ_INT(tagged(&env, "old_failed"), 2);
    CHECK_EQ_INT(tagged(&env, "old_pending"), 1);
    CHECK_EQ_INT(tagged(&env, "old_processing"), 1);
    CHECK_EQ_INT(ts_count_status(&env, "processing"), 1);
    CHECK_EQ_INT(ts_sql_long(&env, "SELECT count(*) FROM tmdbq_consumers"), 1);
    CHECK_EQ_INT(
        ts_sql_long(&env,
                    "SELECT count(*) FROM tmdbq_consumers WHERE consumer_id = 'fresh-c'"),
        1);
    CHECK_EQ_INT(
        ts_sql_long(&env,
                    "SELECT count(*) FROM tmdbq_reapers WHERE reaper_id LIKE '%-r'"),
        1);
    CHECK_EQ_INT(ts_sql_long(&env, "SELECT count(*) FROM tmdbq_reapers WHERE is_leader"),
                 0);
    v = ts_sql_value(&env,
                     "SELECT (last_sweep->>'deleted') || ' ' || (last_sweep->>'cleanup')"
                     " || ' ' || (last_cleanup_at IS NOT NULL) FROM tmdbq_reapers"
                     " WHERE reaper_id NOT LIKE '%-r'");
    CHECK_STR_EQ(v, "2502 true true");
    free(v);
    v = NULL;
    free(err);

    /* Nothing left to delete. */
    CHECK_EQ_INT(ts_reaper_once(&env, retention, &err), 0);
    CHECK_CONTAINS(err, "deleted=0 ");
    CHECK_CONTAINS(err, "cleanup_batches=1 ");
    CHECK_EQ_INT(tagged(&env, "young_completed"), 3);
    CHECK_EQ_INT(ts_sql_long(&env, "SELECT count(*) FROM queued_list_operations"),
                 3 + 2 + 2 + 1 + 1);
    if (check_failures)
        fprintf(stderr, "---- last reaper --once ----\n%s\n", err ? err : "");
    free(err);
    ts_teardown(&env);
    return check_exit();
}
