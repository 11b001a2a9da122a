/*
 * test_reaper_rescue: a consumer SIGKILLed while it holds a row; the reaper rescues the
 * row after its lease and a new consumer completes it.
 *
 * The fake TMDB holds every answer 1.5 s, so the consumer (TMDB timeout 2 s, lease 5 s)
 * is caught in the middle of its call: the row is processing when it is killed. No other
 * consumer runs, so nothing but the reaper can take the row over: once the lease has
 * expired, the reaper puts it back to pending with the crash counted (retry_count 1),
 * claimed_by naming the reaper, and publishes it. A consumer started afterwards completes
 * it, and the movie is on the list.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "support.h"

#define LIST 7301

int main(void)
{
    static const long none[] = {0};
    static const char *const one[] = {"--concurrency", "1", "--prefetch", "1", NULL};
    static const char *const slow[] = {"TMDBQ_TMDB_TIMEOUT=2s", "TMDBQ_LEASE=5s", NULL};
    struct ts_proc reaper, c1, c2;
    struct ts_env env;
    struct ts_fake fake;
    char *err = NULL, *claimed = NULL, *lease_left = NULL, *lease_end = NULL, sql[300];
    long n, items[4];
    long long t0, t_kill;
    int rc;

    memset(&reaper, 0, sizeof reaper);
    memset(&c1, 0, sizeof c1);
    memset(&c2, 0, sizeof c2);
    reaper.pid = c1.pid = c2.pid = -1;
    rc = ts_setup_with_fake(&env, &fake, "reaper_rescue", 5, 100, 2000);
    if (rc != 0)
        return rc;
    CHECK_EQ_INT(ts_user(&env, &fake, 1, "sess-rescue-1", NULL), 0);
    CHECK_EQ_INT(ts_fake_list(&fake, LIST, 1, none, 0), 0);
    CHECK_EQ_INT(ts_fake_faults(&fake, "{\"latency_ms\":1500}"), 0);
    n = ts_enqueue_lines(&env,
                         "{\"type\":\"add_movie\",\"user\":1,\"list\":7301,"
                         "\"movie\":550}\n",
                         NULL);
    CHECK_EQ_INT(n, 1);
    if (n != 1)
        goto out;

    /* Catch the consumer inside its TMDB call and kill it. */
    CHECK_EQ_INT(ts_consumer_start(&env, &fake, slow, one, &c1), 0);
    t0 = ts_now_ms();
    for (n = 0; ts_now_ms() - t0 < 15000; ts_sleep_ms(10)) {
        n = ts_count_status(&env, "processing");
        if (n == 1)
            break;
    }
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(ts_proc_signal(&c1, SIGKILL), 0);
    t_kill = ts_now_ms();
    CHECK_EQ_INT(ts_proc_wait(&c1, 5000), 128 + SIGKILL);
    CHECK_EQ_INT(ts_count_status(&env, "processing"), 1);
    lease_left = ts_sql_value(&env, "SELECT floor(extract(epoch FROM lease_expires_at - "
                                    "now()) * 1000) FROM queued_list_operations");
    lease_end = ts_sql_value(&env, "SELECT lease_expires_at::text FROM "
                                   "queued_list_operations");
    printf("rescue: killed the consumer mid-call; lease left %s ms\n",
           lease_left ? lease_left : "?");
    CHECK(lease_end != NULL);

    /* The reaper takes it back once the lease is over, not before. */
    CHECK_EQ_INT(ts_reaper_start(&env, NULL, NULL, &reaper), 0);
    for (n = 0; ts_now_ms() - t_kill < 20000; ts_sleep_ms(50)) {
        n = ts_sql_long(&env, "SELECT count(*) FROM queued_list_operations WHERE "
                              "status = 'pending' AND retry_count = 1");
        if (n == 1)
            break;
    }
    CHECK_EQ_INT(n, 1);
    printf("rescue: back to pending %lld ms after the kill\n", ts_now_ms() - t_kill);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM queued_list_operations WHERE last_retry_at >= '%s' "
             "AND lease_expires_at IS NULL",
             lease_end != NULL ? lease_end : "infinity");
    CHECK_EQ_INT(ts_sql_long(&env, sql), 1);
    /* claimed_by names the reaper now, so the dead holder's late answer never counts. */
    CHECK_EQ_INT(ts_sql_long(&env, "SELECT count(*) FROM queued_list_operations q JOIN "
                                   "tmdbq_reapers r ON r.reaper_id = q.claimed_by"),
                 1);
    claimed = ts_sql_value(&env, "SELECT error_message || ' | ' || error_kind FROM "
                                 "queued_list_operations");
    CHECK_CONTAINS(claimed, "rescued: the consumer holding it (reaper_rescue-c");
    CHECK_CONTAINS(claimed, "| transient");
    /* Published by the reaper: the killed consumer's delivery went back to the queue
     * too, so two messages wait; a claim drops the second. */
    for (n = 0, t0 = ts_now_ms(); ts_now_ms() - t0 < 5000; ts_sleep_ms(50)) {
        n = ts_count_published(&env, "pending");
        if (n == 1)
            break;
    }
    CHECK_EQ_INT(n, 1);
    err = ts_proc_stderr(&reaper);
    CHECK_CONTAINS(err, "rescued=1");
    CHECK_CONTAINS(err, "rescued: the consumer holding it stopped before finishing");

    CHECK_EQ_INT(ts_fake_faults(&fake, "{\"latency_ms\":0}"), 0);
    CHECK_EQ_INT(ts_consumer_start(&env, &fake, slow, one, &c2), 0);
    CHECK_EQ_INT(ts_wait_final_while(&env, &c2, 1, 20000), 0);
    CHECK_EQ_INT(ts_count_status(&env, "completed"), 1);
    CHECK_EQ_INT(ts_sql_long(&env, "SELECT retry_count FROM queued_list_operations"), 1);
    CHECK_EQ_INT(ts_fake_list_items(&fake, LIST, items, 4), 1);
    CHECK_EQ_INT(items[0], 550);
    CHECK_EQ_INT(ts_proc_stop(&c2, 15000), 0);
    CHECK_EQ_INT(ts_proc_stop(&reaper, 10000), 0);
out:
    if (check_failures) {
        ts_dump_rows(&env, 40);
        ts_proc_dump(&reaper, 6000);
        ts_proc_dump(&c1, 3000);
        ts_proc_dump(&c2, 3000);
    }
    ts_proc_stop(&c2, 5000);
    ts_proc_stop(&reaper, 5000);
    free(err);
    free(claimed);
    free(lease_left);
    free(lease_end);
    ts_teardown(&env);
    return check_exit();
}
