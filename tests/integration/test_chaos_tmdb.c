/*
 * test_chaos_tmdb: TMDB misbehaves under load, checked against the ledger.
 *
 * Three scenarios on private servers (chaos.h), each with a backlog and a paced stream
 * of operations, then left to settle and checked against the ledger: every operation
 * final and as the fake TMDB saw it, nothing lost, in order where it matters, repeats
 * only inside crash windows.
 *
 * - storm_503: 30% of TMDB's answers are 503 (a seeded draw). Each is a retry with
 *   backoff (10 retries, 100 ms to 1 s); a 503 changed nothing, so nothing may repeat.
 * - burst_429: bursts of 12 answers 429 with Retry-After 1 s (every consumer then holds
 *   its requests for a second), every 2.5 s, and every other round 2.5 s of TMDB's
 *   ceiling at 20 requests a second, far below the consumers' budget. A 429 spends no
 *   retry and changes nothing: nothing may repeat.
 * - slow_tmdb: every answer held 600 ms (under the consumers' TMDBQ_TMDB_TIMEOUT of 1 s),
 *   then for 2 s held 1.5 s, past it. The fake applies a write when it arrives, so a
 *   call that timed out may have taken effect: its retry finds the goal held and counts
 *   as a repeat of the "tmdb" kind (the answer never reached the consumer). Any other
 *   repeat fails.
 *
 * TMDBQ_CHAOS=long (bench/chaos.sh) runs each for a minute with a bigger load.
 */
#include "chaos.h"
#include "check.h"

static void storm_503(struct ts_chaos_servers *s, bool long_form,
                      struct ts_chaos_row *row)
{
    struct ts_chaos_opts o = {3, 2, 1, long_form ? 5000 : 500, long_form ? 60 : 30,
                              0, 50};
    struct ts_chaos *c = ts_chaos_begin(s, "chaos_storm_503", &o);

    CHECK(c != NULL);
    if (c == NULL)
        return;
    CHECK_EQ_INT(ts_chaos_faults(c, "{\"fail_rate\":0.3,\"fail_status\":503,\"seed\":7}"),
                 0);
    ts_sleep_ms(long_form ? 60000 : 8000);
    CHECK_EQ_INT(ts_chaos_finish(c, long_form ? 180000 : 60000, row), 0);
    CHECK(row->http_5xx > 0);
    CHECK_EQ_INT(row->repeats, 0);
}

static void burst_429(struct ts_chaos_servers *s, bool long_form,
                      struct ts_chaos_row *row)
{
    struct ts_chaos_opts o = {3, 2, 1, long_form ? 2000 : 200, long_form ? 60 : 30,
                              0, 20};
    struct ts_chaos *c = ts_chaos_begin(s, "chaos_burst_429", &o);
    long chaos_ms = long_form ? 60000 : 8000;
    long long t0 = ts_now_ms();
    int k = 0;

    CHECK(c != NULL);
    if (c == NULL)
        return;
    while (ts_now_ms() - t0 < chaos_ms) {
        CHECK_EQ_INT(ts_chaos_faults(c, "{\"rate_limit_next\":12,\"retry_after\":1}"), 0);
        ts_sleep_ms(2500);
        /* Every other round, TMDB's ceiling: 20 requests a second for 2.5 s. */
        if (k++ % 2 == 1) {
            CHECK_EQ_INT(
                ts_chaos_faults(c, "{\"rate_limit\":20,\"rate_window_ms\":1000}"), 0);
            ts_sleep_ms(2500);
            CHECK_EQ_INT(ts_chaos_faults(c, "{\"rate_limit\":0}"), 0);
        }
    }
    CHECK_EQ_INT(ts_chaos_finish(c, long_form ? 180000 : 60000, row), 0);
    CHECK(row->http_429 > 0);
    CHECK_EQ_INT(row->repeats, 0);
}

static void slow_tmdb(struct ts_chaos_servers *s, bool long_form,
                      struct ts_chaos_row *row)
{
    struct ts_chaos_opts o = {3, 2, 1, long_form ? 2000 : 200, long_form ? 60 : 30,
                              0, 20};
    struct ts_chaos *c = ts_chaos_begin(s, "chaos_slow_tmdb", &o);
    int k, rounds = long_form ? 6 : 1;

    CHECK(c != NULL);
    if (c == NULL)
        return;
    for (k = 0; k < rounds; k++) {
        CHECK_EQ_INT(ts_chaos_faults(c, "{\"latency_ms\":600}"), 0);
        ts_sleep_ms(long_form ? 8000 : 5000);
        CHECK_EQ_INT(ts_chaos_faults(c, "{\"latency_ms\":1500}"), 0);
        ts_sleep_ms(2000);
        CHECK_EQ_INT(ts_chaos_faults(c, "{\"latency_ms\":20}"), 0);
        if (long_form)
            ts_sleep_ms(2000);
    }
    CHECK_EQ_INT(ts_chaos_finish(c, long_form ? 180000 : 60000, row), 0);
    CHECK_EQ_INT(row->repeats, row->rep_tmdb);
}

int main(void)
{
    static const struct ts_chaos_scenario scenarios[] = {
        {"storm_503", storm_503},
        {"burst_429", burst_429},
        {"slow_tmdb", slow_tmdb},
    };
    int rc = ts_chaos_main(scenarios, sizeof scenarios / sizeof scenarios[0]);

    return rc != 0 ? rc : check_exit();
}
