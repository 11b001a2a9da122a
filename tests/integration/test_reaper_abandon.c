/*
 * test_reaper_abandon: an operation that kills every consumer that takes it ends failed
 * instead of looping, and the operation waiting behind it on its list is handed on.
 *
 * The crashes are simulated in SQL, which is exact and quick: A is set processing under a
 * dead consumer's lease that has already expired, and `tmdbq-reaper --once` runs; three
 * times with TMDBQ_MAX_RETRIES=2. The first two rescue it (pending, retry_count 1 then 2,
 * published); the third finds no retry left: failed, error_kind transient, "abandoned:
 * ...". B, enqueued after A on the same list and marked for hand-on (as a blocked
 * delivery leaves it), is then published by that same sweep, and a consumer completes it.
 * A late answer of a dead holder is not recorded, and a row under a live lease is never
 * touched.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "support.h"

#define LIST 7501
#define LIVE_LIST 7502

int main(void)
{
    static const long none[] = {0};
    struct ts_proc cons;
    struct ts_env env;
    struct ts_fake fake;
    char dead[128], sql[512], *err = NULL, *lines = NULL, *msg = NULL;
    const char *offline[2] = {dead, NULL};
    json_t *ops = NULL;
    const char *a_id = NULL;
    long n;
    int rc, round;

    ts_procs_init(&cons, 1);
    rc = ts_setup(&env, "reaper_abandon");
    if (rc != 0) {
        ts_teardown(&env);
        return rc;
    }
    ts_set_policy(&env, 2, 100, 2000);
    if (ts_fake_start(&env, &fake, NULL, NULL) != 0 ||
        ts_dead_amqp_env(dead, sizeof dead)) {
        CHECK(!"fake TMDB started and a dead broker URL made");
        goto out;
    }
    CHECK_EQ_INT(ts_user(&env, &fake, 1, "sess-abandon-1", NULL), 0);
    CHECK_EQ_INT(ts_fake_list(&fake, LIST, 1, none, 0), 0);
    CHECK_EQ_INT(ts_fake_list(&fake, LIVE_LIST, 1, none, 0), 0);
    ts_appendf(&lines,
               "{\"type\":\"add_movie\",\"user\":1,\"list\":%d,\"movie\":1}\n"
               "{\"type\":\"add_movie\",\"user\":1,\"list\":%d,\"movie\":2}\n"
               "{\"type\":\"add_movie\",\"user\":1,\"list\":%d,\"movie\":3}\n",
               LIST, LIST, LIVE_LIST);
    n = ts_enqueue_lines_env(&env, offline, lines, &ops);
    CHECK_EQ_INT(n, 3);
    if (n != 3)
        goto out;
    a_id = ts_json_str(json_array_get(ops, 0), "id");
    CHECK(a_id != NULL);
    if (a_id == NULL)
        goto out;
    /* B: its delivery was dropped as blocked, so it waits for A's hand-on. C: held under
     * a live lease. */
    CHECK_EQ_INT(ts_sql_exec(&env,
                             "UPDATE queued_list_operations SET handoff = true,"
                             " published_at = now() WHERE operation_data->>'movie_id'"
                             " = '2'"),
                 0);
    CHECK_EQ_INT(ts_sql_exec(&env, "UPDATE queued_list_operations SET status = "
                                   "'processing', claimed_by = 'live-consumer:1:1',"
                                   " lease_expires_at = now() + interval '1 hour',"
                                   " published_at = now() WHERE tmdb_list_id = 7502"),
                 0);

    for (round = 1; round <= 3; round++) {
        snprintf(sql, sizeof sql,
                 "UPDATE queued_list_operations SET status = 'processing',"
                 " claimed_by = 'dead-consumer:%d:1', published_at = now(),"
                 " lease_expires_at = now() - interval '1 second' WHERE id = '%s'",
                 round, a_id);
        CHECK_EQ_INT(ts_sql_exec(&env, sql), 0);
        free(err);
        CHECK_EQ_INT(ts_reaper_once(&env, NULL, &err), 0);
        if (round < 3) {
            CHECK_CONTAINS(err, "rescued=1 abandoned=0");
            snprintf(sql, sizeof sql,
                     "SELECT count(*) FROM queued_list_operations WHERE id = '%s' AND "
                     "status = 'pending' AND retry_count = %d AND published_at IS NOT "
                     "NULL AND lease_expires_at IS NULL",
                     a_id, round);
            CHECK_EQ_INT(ts_sql_long(&env, sql), 1);
            /* One message per rescue: B is not touched while A is active. */
            CHECK_EQ_INT(ts_queue_depth(&env, "work", round, 5000), round);
        }
    }
    CHECK_CONTAINS(err, "rescued=0 abandoned=1");
    CHECK_CONTAINS(err, "relayed=1 "); /* B, handed on */
    snprintf(sql, sizeof sql,
             "SELECT status || ' | ' || error_kind || ' | ' || retry_count || ' | ' || "
             "error_message FROM queued_list_operations WHERE id = '%s'",
             a_id);
    msg = ts_sql_value(&env, sql);
    CHECK_CONTAINS(msg,
                   "failed | transient | 2 | abandoned: the consumer holding it "
                   "stopped before finishing and no retries are left (2 of 2 spent)");
    printf("abandon: %s\n", msg ? msg : "(null)");
    CHECK_EQ_INT(ts_queue_depth(&env, "work", 3, 5000), 3);
    CHECK_EQ_INT(ts_sql_long(&env, "SELECT count(*) FROM queued_list_operations WHERE "
                                   "operation_data->>'movie_id' = '2' AND status = "
                                   "'pending' AND published_at IS NOT NULL"),
                 1);
    /* The live lease was left alone. */
    CHECK_EQ_INT(ts_sql_long(&env,
                             "SELECT count(*) FROM queued_list_operations WHERE "
                             "tmdb_list_id = 7502 AND status = 'processing' AND "
                             "retry_count = 0 AND claimed_by = 'live-consumer:1:1'"),
                 1);
    /* A dead holder's late answer does not overwrite the outcome. */
    snprintf(sql, sizeof sql,
             "SELECT recorded::text FROM tmdbq_finish('%s', 'dead-consumer:3:1', "
             "'completed', NULL, NULL, NULL, 0, true)",
             a_id);
    free(msg);
    msg = ts_sql_value(&env, sql);
    CHECK_STR_EQ(msg, "false");

    /* A consumer completes B; A's leftover messages are dropped. */
    CHECK_EQ_INT(ts_consumer_start(&env, &fake, NULL, NULL, &cons), 0);
    CHECK_EQ_INT(ts_wait_completed(&env, 1, 20000), 1);
    CHECK_EQ_INT(ts_sql_long(&env, "SELECT count(*) FROM queued_list_operations WHERE "
                                   "operation_data->>'movie_id' = '2' AND status = "
                                   "'completed'"),
                 1);
    CHECK_EQ_INT(ts_queue_depth(&env, "work", 0, 10000), 0);
    CHECK_EQ_INT(ts_count_status(&env, "failed"), 1);
    CHECK_EQ_INT(ts_proc_stop(&cons, 15000), 0);
out:
    if (check_failures) {
        ts_dump_rows(&env, 40);
        fprintf(stderr, "---- last reaper --once ----\n%s\n", err ? err : "");
        ts_proc_dump(&cons, 4000);
    }
    ts_proc_stop(&cons, 5000);
    free(err);
    free(msg);
    free(lines);
    json_decref(ops);
    ts_teardown(&env);
    return check_exit();
}
