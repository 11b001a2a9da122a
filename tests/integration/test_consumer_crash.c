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
    static const char *const cargs[] = {"--concurrency", "4", "--prefetch", "4", NULL};
    struct ts_adds adds = {"crash", FIRST_LIST, NLISTS, PER_LIST, 10000, NULL};
    struct ts_proc cons[NCONSUMERS];
    struct ts_env env;
    struct ts_fake fake;
    long extra = -1, at_kill;
    long long t0, t_kill;
    int rc;

    ts_procs_init(cons, NCONSUMERS);
    rc = ts_setup_with_fake(&env, &fake, "consumer_crash", 5, 100, 2000);
    if (rc != 0)
        return rc;
    if (ts_adds_load(&env, &fake, &adds, "{\"latency_ms\":20}") != 0) {
        CHECK(!"workload loaded");
        goto out;
    }

    t0 = ts_now_ms();
    CHECK_EQ_INT(ts_consumers_start(&env, &fake, NULL, cargs, cons, NCONSUMERS), 0);
    at_kill = ts_wait_completed(&env, NOPS / 3, 30000);
    CHECK(at_kill >= NOPS / 3 && at_kill < NOPS);
    CHECK_EQ_INT(ts_proc_signal(&cons[1], SIGKILL), 0);
    t_kill = ts_now_ms();
    CHECK_EQ_INT(ts_proc_wait(&cons[1], 5000), 128 + SIGKILL);
    printf("crash: killed %s after %lld ms with %ld of %d completed\n", cons[1].label,
           t_kill - t0, at_kill, NOPS);

    CHECK_EQ_INT(ts_wait_final_while(&env, cons, NCONSUMERS, 45000), 0);
    printf("crash: all final %lld ms after the kill\n", ts_now_ms() - t_kill);
    CHECK_EQ_INT(ts_adds_check(&env, &fake, &adds, false, &extra), 0);
    printf("crash: duplicates bound %d = workers %d x prefetch %d\n", WORKERS * PREFETCH,
           WORKERS, PREFETCH);
    CHECK(extra >= 0 && extra <= WORKERS * PREFETCH);
    CHECK_EQ_INT(ts_proc_stop(&cons[0], 15000), 0);
    CHECK_EQ_INT(ts_proc_stop(&cons[2], 15000), 0);
out:
    ts_procs_end(&env, cons, NCONSUMERS, check_failures != 0, 40, 5000);
    ts_adds_free(&adds);
    ts_teardown(&env);
    return check_exit();
}
