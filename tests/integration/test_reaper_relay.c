/*
 * test_reaper_relay: operations committed while the broker was down are published by the
 * reaper and completed by a consumer.
 *
 * 10 add_movie operations on 10 lists, 4 on one more list and a create_list are enqueued
 * with TMDBQ_AMQP_URL pointing at a closed port: the enqueue succeeds and nothing is
 * published. A reaper (sweep every second) publishes the 12 that can run now: each first
 * operation of a list and the create_list. The 3 that wait behind the first of their list
 * stay unpublished (a message would only be dropped as blocked): the list's hand-on
 * publishes them. Then a consumer applies all 15, the shared list in enqueue order, and
 * the work queue has seen no duplicate.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "support.h"

#define NSINGLE 10
#define FIRST_LIST 7101
#define SHARED_LIST 7200
#define NSHARED 4
#define NOPS (NSINGLE + NSHARED + 1)
#define RELAYABLE (NSINGLE + 1 + 1)

int main(void)
{
    static const long none[] = {0};
    struct ts_proc reaper, cons;
    struct ts_env env;
    struct ts_fake fake;
    char dead[128], *err = NULL, *lines = NULL;
    const char *offline[2] = {dead, NULL};
    json_t *ops = NULL;
    long n, items[NSHARED + 4];
    long long t0;
    int rc, i;

    memset(&reaper, 0, sizeof reaper);
    memset(&cons, 0, sizeof cons);
    reaper.pid = cons.pid = -1;
    rc = ts_setup(&env, "reaper_relay");
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
    CHECK_EQ_INT(ts_user(&env, &fake, 1, "sess-relay-1", NULL), 0);
    for (i = 0; i < NSINGLE; i++)
        CHECK_EQ_INT(ts_fake_list(&fake, FIRST_LIST + i, 1, none, 0), 0);
    CHECK_EQ_INT(ts_fake_list(&fake, SHARED_LIST, 1, none, 0), 0);

    for (i = 0; i < NSINGLE; i++)
        ts_appendf(&lines,
                   "{\"type\":\"add_movie\",\"user\":1,\"list\":%d,\"movie\":%d}\n",
                   FIRST_LIST + i, 500 + i);
    for (i = 0; i < NSHARED; i++)
        ts_appendf(&lines,
                   "{\"type\":\"add_movie\",\"user\":1,\"list\":%d,\"movie\":%d}\n",
                   SHARED_LIST, 900 + i);
    ts_appendf(&lines, "{\"type\":\"create_list\",\"user\":1,\"name\":\"Offline\"}\n");
    n = ts_enqueue_lines_env(&env, offline, lines, &ops);
    CHECK_EQ_INT(n, NOPS);
    if (n != NOPS)
        goto out;
    CHECK_EQ_INT(ts_count_published(&env, "pending"), 0);
    CHECK_EQ_INT(ts_queue_depth(&env, "work", 0, 0), 0);

    /* The reaper publishes what can run now, a few seconds after the enqueue (it leaves
     * rows changed in the last 5 s to whoever changed them). */
    t0 = ts_now_ms();
    CHECK_EQ_INT(ts_reaper_start(&env, NULL, NULL, &reaper), 0);
    for (n = 0; ts_now_ms() - t0 < 20000; ts_sleep_ms(100)) {
        n = ts_count_published(&env, "pending");
        if (n >= RELAYABLE)
            break;
    }
    printf("relay: %ld of %d published by the reaper after %lld ms\n", n, NOPS,
           ts_now_ms() - t0);
    CHECK_EQ_INT(n, RELAYABLE);
    CHECK_EQ_INT(ts_queue_depth(&env, "work", RELAYABLE, 5000), RELAYABLE);
    /* Two more sweeps: nothing is published twice, the blocked ones stay unpublished. */
    n = ts_reaper_sweeps(&reaper);
    CHECK(ts_reaper_wait_sweeps(&reaper, n + 2, 10000) >= n + 2);
    CHECK_EQ_INT(ts_queue_depth(&env, "work", RELAYABLE, 1000), RELAYABLE);
    CHECK_EQ_INT(ts_sql_long(&env, "SELECT count(*) FROM queued_list_operations WHERE "
                                   "tmdb_list_id = 7200 AND published_at IS NULL"),
                 NSHARED - 1);

    /* A consumer does the rest; the shared list's hand-ons publish its waiting ones. */
    CHECK_EQ_INT(ts_consumer_start(&env, &fake, NULL, NULL, &cons), 0);
    CHECK_EQ_INT(ts_wait_final_while(&env, &cons, 1, 30000), 0);
    CHECK_EQ_INT(ts_count_status(&env, "completed"), NOPS);
    CHECK_EQ_INT(ts_fake_list_items(&fake, SHARED_LIST, items, NSHARED + 4), NSHARED);
    for (i = 0; i < NSHARED; i++)
        CHECK_EQ_INT(items[i], 900 + i);
    CHECK_EQ_INT(ts_queue_depth(&env, "work", 0, 5000), 0);

    err = ts_proc_stderr(&reaper);
    CHECK_CONTAINS(err, "leading: this reaper");
    CHECK_CONTAINS(err, " sweep: relayed=");
    CHECK_EQ_INT(ts_proc_stop(&cons, 15000), 0);
    CHECK_EQ_INT(ts_proc_stop(&reaper, 10000), 0);
    /* It left the registry's lead on its way out; its record stays. */
    CHECK_EQ_INT(ts_sql_long(&env, "SELECT count(*) FROM tmdbq_reapers WHERE is_leader"),
                 0);
    CHECK_EQ_INT(ts_sql_long(&env,
                             "SELECT count(*) FROM tmdbq_reapers WHERE "
                             "last_sweep_at IS NOT NULL AND last_sweep ? 'relayed'"),
                 1);
out:
    if (check_failures) {
        ts_dump_rows(&env, 40);
        ts_proc_dump(&reaper, 6000);
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
