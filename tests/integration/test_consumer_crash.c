/*
 * test_consumer_crash: a consumer killed with SIGKILL in the middle of a run loses
 * nothing.
 *
 * Three consumers work off 300 adds over 6 lists while the fake TMDB holds every answer
 * 20 ms, so the run lasts seconds. Once a third is done, one consumer is killed. Its
 * unacknowledged deliveries go back to the queue; the rows it was executing wait for
 * their lease (3 s) and are rescued. Every operation ends completed and every list holds
 * its 50 movies. A write can be repeated only for what the killed consumer was executing,
 * so the duplicates (requests beyond one per operation) are printed and bounded by its
 * in-flight bound, workers * prefetch.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "support.h"

#define NLISTS 6
#define PER_LIST 50
#define NOPS (NLISTS * PER_LIST)
#define NCONSUMERS 3
#define WORKERS 4
#define PREFETCH 4
#define FIRST_LIST 6001

int main(void)
{
    static const long none[] = {0};
    static const char *const cargs[] = {"--concurrency", "4", "--prefetch", "4", NULL};
    struct ts_proc cons[NCONSUMERS];
    struct ts_env env;
    struct ts_fake fake;
    json_t *ops = NULL, *reqs = NULL;
    char *lines = NULL;
    long n, missing = -1, extra = -1, items[PER_LIST + 8], at_kill;
    long long t0, t_kill;
    size_t i;
    int rc, k;

    memset(cons, 0, sizeof cons);
    for (i = 0; i < NCONSUMERS; i++)
        cons[i].pid = -1;
    rc = ts_setup(&env, "consumer_crash");
    if (rc != 0) {
        ts_teardown(&env);
        return rc;
    }
    ts_set_policy(&env, 5, 100, 2000);
    if (ts_fake_start(&env, &fake, NULL, NULL) != 0) {
        CHECK(!"fake TMDB started");
        goto out;
    }
    CHECK_EQ_INT(ts_user(&env, &fake, 1, "sess-crash-1", NULL), 0);
    CHECK_EQ_INT(ts_user(&env, &fake, 2, "sess-crash-2", NULL), 0);
    for (i = 0; i < NLISTS; i++)
        CHECK_EQ_INT(
            ts_fake_list(&fake, FIRST_LIST + (long)i, (long)(i % 2) + 1, none, 0), 0);
    CHECK_EQ_INT(ts_fake_faults(&fake, "{\"latency_ms\":20}"), 0);
    for (k = 0; k < PER_LIST; k++)
        for (i = 0; i < NLISTS; i++)
            ts_appendf(&lines,
                       "{\"type\":\"add_movie\",\"user\":%ld,\"list\":%ld,"
                       "\"movie\":%ld}\n",
                       (long)(i % 2) + 1, FIRST_LIST + (long)i, 10000L + k);
    n = ts_enqueue_lines(&env, lines, &ops);
    CHECK_EQ_INT(n, NOPS);
    if (n != NOPS)
        goto out;

    t0 = ts_now_ms();
    for (i = 0; i < NCONSUMERS; i++)
        CHECK_EQ_INT(ts_consumer_start(&env, &fake, NULL, cargs, &cons[i]), 0);
    at_kill = ts_wait_completed(&env, NOPS / 3, 30000);
    CHECK(at_kill >= NOPS / 3 && at_kill < NOPS);
    CHECK_EQ_INT(ts_proc_signal(&cons[1], SIGKILL), 0);
    t_kill = ts_now_ms();
    CHECK_EQ_INT(ts_proc_wait(&cons[1], 5000), 128 + SIGKILL);
    printf("crash: killed %s after %lld ms with %ld of %d completed\n", cons[1].label,
           t_kill - t0, at_kill, NOPS);

    CHECK_EQ_INT(ts_wait_final_while(&env, cons, NCONSUMERS, 45000), 0);
    printf("crash: all final %lld ms after the kill\n", ts_now_ms() - t_kill);
    CHECK_EQ_INT(ts_count_status(&env, "completed"), NOPS);

    reqs = ts_fake_requests(&fake);
    CHECK(reqs != NULL);
    CHECK_EQ_INT(ts_fake_compare_writes(reqs, ops, &missing, &extra), 0);
    printf("crash: duplicate TMDB writes: %ld (bound %d = workers %d x prefetch %d); "
           "missing: %ld\n",
           extra, WORKERS * PREFETCH, WORKERS, PREFETCH, missing);
    CHECK_EQ_INT(missing, 0);
    CHECK(extra >= 0 && extra <= WORKERS * PREFETCH);
    for (i = 0; i < NLISTS; i++)
        CHECK_EQ_INT(ts_fake_list_items(&fake, FIRST_LIST + (long)i, items, PER_LIST + 8),
                     PER_LIST);
    CHECK_EQ_INT(ts_proc_stop(&cons[0], 15000), 0);
    CHECK_EQ_INT(ts_proc_stop(&cons[2], 15000), 0);
out:
    if (check_failures) {
        ts_dump_rows(&env, 40);
        for (i = 0; i < NCONSUMERS; i++)
            ts_proc_dump(&cons[i], 5000);
    }
    for (i = 0; i < NCONSUMERS; i++)
        ts_proc_stop(&cons[i], 5000);
    json_decref(reqs);
    json_decref(ops);
    free(lines);
    ts_teardown(&env);
    return check_exit();
}
