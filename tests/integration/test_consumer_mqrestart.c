/*
 * test_consumer_mqrestart: RabbitMQ restarts in the middle of a run and nothing is lost.
 *
 * The test owns a private RabbitMQ node (its own name, ports and data directory), so
 * stopping it disturbs no other test. Three consumers work off 300 adds over 6 lists at
 * 30 requests a second, with the fake TMDB answering after 50 ms; once a tenth is done
 * the node is stopped (which itself takes a second or two, while the consumers go on with
 * what they hold), left down a moment, and started again with the same data. The
 * consumers reconnect by themselves; every operation ends completed and every list holds
 * its movies. Writes repeated because an outcome could not be acknowledged are printed
 * (duplicates).
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "support.h"

#define NLISTS 6
#define PER_LIST 50
#define NOPS (NLISTS * PER_LIST)
#define NCONSUMERS 3
#define FIRST_LIST 7101

int main(void)
{
    static const long none[] = {0};
    static const char *const cargs[] = {"--concurrency", "4", "--prefetch", "4", NULL};
    /* Paced, so the run outlasts the broker's stop: a node stops its quorum queues one by
     * one (seconds under load), and the consumers work on meanwhile; at full speed they
     * finished all 300 before the node was down, and the restart met no work. */
    static const char *const cenv[] = {"TMDBQ_TMDB_RATE=30", NULL};
    struct ts_proc cons[NCONSUMERS];
    struct ts_rabbit rb;
    struct ts_env env;
    struct ts_fake fake;
    json_t *ops = NULL, *reqs = NULL;
    char *lines = NULL;
    long n, missing = -1, extra = -1, items[PER_LIST + 8], at_stop, after_stop;
    long long t0, t_stop, t_up;
    size_t i;
    int rc, k;

    memset(&rb, 0, sizeof rb);
    memset(&env, 0, sizeof env);
    memset(cons, 0, sizeof cons);
    for (i = 0; i < NCONSUMERS; i++)
        cons[i].pid = -1;
    rc = ts_rabbit_start(&rb);
    if (rc != 0) {
        ts_rabbit_destroy(&rb);
        return rc;
    }
    /* Everything this test runs talks to the private node. */
    setenv("TMDBQ_AMQP_URL", rb.url, 1);
    rc = ts_setup(&env, "consumer_mqrestart");
    if (rc != 0) {
        ts_teardown(&env);
        ts_rabbit_destroy(&rb);
        return rc;
    }
    ts_set_policy(&env, 5, 100, 2000);
    if (ts_fake_start(&env, &fake, NULL, NULL) != 0) {
        CHECK(!"fake TMDB started");
        goto out;
    }
    CHECK_EQ_INT(ts_user(&env, &fake, 1, "sess-mq-1", NULL), 0);
    CHECK_EQ_INT(ts_user(&env, &fake, 2, "sess-mq-2", NULL), 0);
    for (i = 0; i < NLISTS; i++)
        CHECK_EQ_INT(
            ts_fake_list(&fake, FIRST_LIST + (long)i, (long)(i % 2) + 1, none, 0), 0);
    CHECK_EQ_INT(ts_fake_faults(&fake, "{\"latency_ms\":50}"), 0);
    for (k = 0; k < PER_LIST; k++)
        for (i = 0; i < NLISTS; i++)
            ts_appendf(&lines,
                       "{\"type\":\"add_movie\",\"user\":%ld,\"list\":%ld,"
                       "\"movie\":%ld}\n",
                       (long)(i % 2) + 1, FIRST_LIST + (long)i, 20000L + k);
    n = ts_enqueue_lines(&env, lines, &ops);
    CHECK_EQ_INT(n, NOPS);
    if (n != NOPS)
        goto out;

    t0 = ts_now_ms();
    for (i = 0; i < NCONSUMERS; i++)
        CHECK_EQ_INT(ts_consumer_start(&env, &fake, cenv, cargs, &cons[i]), 0);
    at_stop = ts_wait_completed(&env, NOPS / 10, 30000);
    CHECK(at_stop >= NOPS / 10);
    t_stop = ts_now_ms();
    CHECK_EQ_INT(ts_rabbit_stop(&rb), 0);
    after_stop = ts_count_status(&env, "completed");
    printf("mqrestart: stopping RabbitMQ after %lld ms with %ld of %d completed; it was "
           "down %lld ms later, with %ld completed\n",
           t_stop - t0, at_stop, NOPS, ts_now_ms() - t_stop, after_stop);
    CHECK(after_stop < NOPS);
    ts_sleep_ms(1000); /* the scenario: a broker that stays down a while */
    CHECK_EQ_INT(ts_rabbit_start(&rb), 0);
    t_up = ts_now_ms();
    printf("mqrestart: RabbitMQ back after %lld ms\n", t_up - t_stop);
    for (i = 0; i < NCONSUMERS; i++)
        CHECK(ts_proc_running(&cons[i]));

    CHECK_EQ_INT(ts_wait_final_while(&env, cons, NCONSUMERS, 45000), 0);
    printf("mqrestart: all final %lld ms after the broker was back\n",
           ts_now_ms() - t_up);
    CHECK_EQ_INT(ts_count_status(&env, "completed"), NOPS);
    reqs = ts_fake_requests(&fake);
    CHECK(reqs != NULL);
    CHECK_EQ_INT(ts_fake_compare_writes(reqs, ops, &missing, &extra), 0);
    printf("mqrestart: duplicate TMDB writes: %ld; missing: %ld\n", extra, missing);
    CHECK_EQ_INT(missing, 0);
    for (i = 0; i < NLISTS; i++)
        CHECK_EQ_INT(ts_fake_list_items(&fake, FIRST_LIST + (long)i, items, PER_LIST + 8),
                     PER_LIST);
    for (i = 0; i < NCONSUMERS; i++)
        CHECK_EQ_INT(ts_proc_stop(&cons[i], 15000), 0);
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
    ts_rabbit_destroy(&rb);
    return check_exit();
}
