/*
 * test_chaos_kill: processes and sessions killed under load, checked against the ledger.
 *
 * Three scenarios on private servers (chaos.h), each with a backlog and a paced stream
 * of operations, then left to settle and checked against the ledger: every operation
 * final and as the fake TMDB saw it, nothing lost, in order where it matters, repeats
 * only inside crash windows.
 *
 * - kill_consumers: a consumer is SIGKILLed every second (in turn; in the long form
 *   sometimes two at once) and a fresh one started in its place. What it held waits for
 *   its lease and is taken over; its writes that TMDB applied are repeated ("kill").
 * - kill_reapers: two reapers, the leader SIGKILLed every 1.5 s and replaced, while
 *   every third batch of the stream is creates enqueued with the broker unreachable:
 *   they belong to no list, so no consumer's hand-on publishes them, only the reapers'
 *   relay. No consumer is disturbed: no repeat is allowed.
 * - kill_backends: every 800 ms, pg_terminate_backend of every session of the consumers'
 *   role. The consumers reconnect and record what they hold; a repeat is allowed only for
 *   a claim that the cut made them lose ("cut").
 *
 * TMDBQ_CHAOS=long (bench/chaos.sh) runs each for a minute with a bigger load.
 */
#include "chaos.h"
#include "check.h"

static void kill_consumers(struct ts_chaos_servers *s, bool long_form,
                           struct ts_chaos_row *row)
{
    struct ts_chaos_opts o = {3, 2, 1, long_form ? 5000 : 500, long_form ? 60 : 30,
                              0, 50};
    long chaos_ms = long_form ? 60000 : 8000, kills = 0;
    struct ts_chaos *c = ts_chaos_begin(s, "chaos_kill_consumers", &o);
    long long t0 = ts_now_ms();
    int k = 0;

    CHECK(c != NULL);
    if (c == NULL)
        return;
    while (ts_now_ms() - t0 < chaos_ms) {
        ts_sleep_ms(1000);
        CHECK_EQ_INT(ts_chaos_kill_consumer(c, k % o.consumers), 0);
        kills++;
        /* Now and then two at once: what both held is taken over by the third. */
        if (long_form && k % 5 == 4) {
            CHECK_EQ_INT(ts_chaos_kill_consumer(c, (k + 1) % o.consumers), 0);
            kills++;
        }
        k++;
    }
    CHECK_EQ_INT(ts_chaos_finish(c, long_form ? 180000 : 60000, row), 0);
    CHECK(kills >= 5);
}

static void kill_reapers(struct ts_chaos_servers *s, bool long_form,
                         struct ts_chaos_row *row)
{
    struct ts_chaos_opts o = {2, 2, 2, long_form ? 1000 : 100, long_form ? 60 : 30,
                              3, 10};
    long chaos_ms = long_form ? 60000 : 8000, kills = 0;
    struct ts_chaos *c = ts_chaos_begin(s, "chaos_kill_reapers", &o);
    long long t0 = ts_now_ms();

    CHECK(c != NULL);
    if (c == NULL)
        return;
    while (ts_now_ms() - t0 < chaos_ms) {
        ts_sleep_ms(1500);
        CHECK(ts_chaos_kill_reaper(c) >= 0);
        kills++;
    }
    CHECK_EQ_INT(ts_chaos_finish(c, long_form ? 180000 : 60000, row), 0);
    CHECK(kills >= 4);
    CHECK_EQ_INT(row->repeats, 0);
    CHECK(row->unpublished > 0 && row->relayed > 0);
}

static void kill_backends(struct ts_chaos_servers *s, bool long_form,
                          struct ts_chaos_row *row)
{
    struct ts_chaos_opts o = {3, 2, 1, long_form ? 5000 : 500, long_form ? 60 : 30,
                              0, 50};
    long chaos_ms = long_form ? 60000 : 8000, killed = 0, n;
    struct ts_chaos *c = ts_chaos_begin(s, "chaos_kill_backends", &o);
    long long t0 = ts_now_ms();

    CHECK(c != NULL);
    if (c == NULL)
        return;
    while (ts_now_ms() - t0 < chaos_ms) {
        ts_sleep_ms(800);
        n = ts_chaos_kill_backends(c);
        CHECK(n >= 0);
        killed += n > 0 ? n : 0;
    }
    printf("kill_backends: %ld consumer sessions terminated\n", killed);
    CHECK_EQ_INT(ts_chaos_finish(c, long_form ? 180000 : 60000, row), 0);
    CHECK(killed >= 6);
}

int main(void)
{
    static const struct ts_chaos_scenario scenarios[] = {
        {"kill_consumers", kill_consumers},
        {"kill_reapers", kill_reapers},
        {"kill_backends", kill_backends},
    };
    int rc = ts_chaos_main(scenarios, sizeof scenarios / sizeof scenarios[0]);

    return rc != 0 ? rc : check_exit();
}
