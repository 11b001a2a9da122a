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
    static const char *const cargs[] = {"--concurrency", "4", "--prefetch", "4", NULL};
    /* Paced, so the run outlasts the broker's stop: a node stops its quorum queues one by
     * one (seconds under load), and the consumers work on meanwhile; at full speed they
     * finished all 300 before the node was down, and the restart met no work. */
    static const char *const cenv[] = {"TMDBQ_TMDB_RATE=30", NULL};
    struct ts_adds adds = {"mqrestart", FIRST_LIST, NLISTS, PER_LIST, 20000, NULL};
    struct ts_proc cons[NCONSUMERS];
    struct ts_rabbit rb;
    struct ts_env env;
    struct ts_fake fake;
    long at_stop, after_stop;
    long long t0, t_stop, t_up;
    size_t i;
    int rc;

    memset(&rb, 0, sizeof rb);
    memset(&env, 0, sizeof env);
    ts_procs_init(cons, NCONSUMERS);
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
    if (ts_adds_load(&env, &fake, &adds, "{\"latency_ms\":50}") != 0) {
        CHECK(!"workload loaded");
        goto out;
    }

    t0 = ts_now_ms();
    CHECK_EQ_INT(ts_consumers_start(&env, &fake, cenv, cargs, cons, NCONSUMERS), 0);
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
    CHECK_EQ_INT(ts_adds_check(&env, &fake, &adds, false, NULL), 0);
    CHECK_EQ_INT(ts_procs_stop(cons, NCONSUMERS, 15000), 0);
out:
    ts_procs_end(&env, cons, NCONSUMERS, check_failures != 0, 40, 5000);
    ts_adds_free(&adds);
    ts_teardown(&env);
    ts_rabbit_destroy(&rb);
    return check_exit();
}
