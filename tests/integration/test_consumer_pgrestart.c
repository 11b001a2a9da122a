/*
 * test_consumer_pgrestart: PostgreSQL restarts in the middle of a run and nothing is
 * lost.
 *
 * The test owns a private PostgreSQL cluster (initdb in a temporary directory, its own
 * port), so stopping it disturbs no other test. Three consumers work off 300 adds over 6
 * lists with the fake TMDB answering after 20 ms; once a fifth is done the cluster is
 * stopped (pg_ctl stop -m fast: sessions are cut off mid-transaction), left down a
 * moment, and started again. The consumers reconnect by themselves; every operation ends
 * completed and every list holds its movies. Writes repeated because an outcome could not
 * be recorded are printed (duplicates).
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "support.h"

#define NLISTS 6
#define PER_LIST 50
#define NOPS (NLISTS * PER_LIST)
#define NCONSUMERS 3
#define FIRST_LIST 7201

int main(void)
{
    static const char *const cargs[] = {"--concurrency", "4", "--prefetch", "4", NULL};
    struct ts_adds adds = {"pgrestart", FIRST_LIST, NLISTS, PER_LIST, 30000, NULL};
    struct ts_proc cons[NCONSUMERS];
    struct ts_pg pg;
    struct ts_env env;
    struct ts_fake fake;
    long at_stop, seen;
    long long t0, t_stop, t_up;
    size_t i;
    int rc;

    ts_procs_init(cons, NCONSUMERS);
    rc = ts_setup_on_pg(&env, &fake, &pg, "consumer_pgrestart", 5, 100, 2000);
    if (rc != 0)
        return rc;
    if (ts_adds_load(&env, &fake, &adds, "{\"latency_ms\":20}") != 0) {
        CHECK(!"workload loaded");
        goto out;
    }

    t0 = ts_now_ms();
    CHECK_EQ_INT(ts_consumers_start(&env, &fake, NULL, cargs, cons, NCONSUMERS), 0);
    at_stop = ts_wait_completed(&env, NOPS / 5, 30000);
    CHECK(at_stop >= NOPS / 5);
    t_stop = ts_now_ms();
    CHECK_EQ_INT(ts_pg_stop(&pg, "fast"), 0);
    printf("pgrestart: stopped PostgreSQL after %lld ms with %ld of %d completed\n",
           t_stop - t0, at_stop, NOPS);
    ts_sleep_ms(1500); /* the scenario: a database that stays down a while */
    CHECK_EQ_INT(ts_pg_start(&pg), 0);
    t_up = ts_now_ms();
    seen = ts_count_status(&env, "completed");
    printf("pgrestart: PostgreSQL back after %lld ms, %ld completed\n", t_up - t_stop,
           seen);
    CHECK(seen < NOPS);
    for (i = 0; i < NCONSUMERS; i++)
        CHECK(ts_proc_running(&cons[i]));

    CHECK_EQ_INT(ts_wait_final_while(&env, cons, NCONSUMERS, 45000), 0);
    printf("pgrestart: all final %lld ms after the database was back\n",
           ts_now_ms() - t_up);
    CHECK_EQ_INT(ts_adds_check(&env, &fake, &adds, false, NULL), 0);
    CHECK_EQ_INT(ts_procs_stop(cons, NCONSUMERS, 15000), 0);
out:
    ts_procs_end(&env, cons, NCONSUMERS, check_failures != 0, 40, 5000);
    ts_adds_free(&adds);
    ts_teardown(&env);
    ts_pg_destroy(&pg);
    return check_exit();
}
