/*
 * test_chaos_restart: the servers restart under load, checked against the ledger.
 *
 * Three scenarios on private servers (chaos.h), each with a backlog and a paced stream
 * of operations, then left to settle and checked against the ledger: every operation
 * final and as the fake TMDB saw it, nothing lost, in order where it matters, repeats
 * only inside crash windows.
 *
 * - restart_broker: RabbitMQ stopped (rabbitmqctl stop), left down a second, started
 *   again with its data; meanwhile enqueues succeed unpublished and the reaper relays
 *   them, and the consumers reconnect.
 * - restart_pg_fast: PostgreSQL stopped with pg_ctl -m fast (sessions cut off
 *   mid-transaction) and started again; enqueues meanwhile fail (exit 1, counted as
 *   refused, never as lost) and consumers keep the outcomes they hold until it is back.
 * - restart_pg_immediate: the same with -m immediate (no checkpoint: crash recovery),
 *   down 4 s, longer than the consumers' lease: every claim held across it expires,
 *   and its holder still records its kept outcome unless another consumer took the row
 *   over first.
 *
 * A repeat is allowed only for a claim taken over after the outage ("cut"), or, in the
 * crash, for an operation whose outcome (and maybe claim) the crash undid, neither having
 * waited for the disk (see ts_chaos_crash).
 * TMDBQ_CHAOS=long (bench/chaos.sh) restarts each server again and again for a minute or
 * more.
 */
#include <string.h>

#include "chaos.h"
#include "check.h"

static void restart_broker(struct ts_chaos_servers *s, bool long_form,
                           struct ts_chaos_row *row)
{
    struct ts_chaos_opts o = {3, 2, 1, long_form ? 5000 : 500, long_form ? 60 : 30,
                              0, 50};
    struct ts_chaos *c = ts_chaos_begin(s, "chaos_restart_broker", &o);
    int k, rounds = long_form ? 4 : 1;

    CHECK(c != NULL);
    if (c == NULL)
        return;
    for (k = 0; k < rounds; k++) {
        ts_sleep_ms(long_form ? 8000 : 2000);
        ts_chaos_cut_begin(c);
        CHECK_EQ_INT(ts_rabbit_stop(&s->rb), 0);
        ts_sleep_ms(1000); /* a broker that stays down a while */
        CHECK_EQ_INT(ts_rabbit_start(&s->rb), 0);
        ts_chaos_cut_end(c);
    }
    ts_sleep_ms(2000); /* the stream goes on against the restarted broker */
    CHECK_EQ_INT(ts_chaos_finish(c, long_form ? 180000 : 90000, row), 0);
}

static void restart_pg(struct ts_chaos_servers *s, bool long_form, const char *mode,
                       long down_ms, struct ts_chaos_row *row)
{
    struct ts_chaos_opts o = {3, 2, 1, long_form ? 5000 : 500, long_form ? 60 : 30,
                              0, 50};
    char name[64];
    struct ts_chaos *c;
    long long t0;
    long chaos_ms = long_form ? 60000 : 3000;

    snprintf(name, sizeof name, "chaos_restart_pg_%s", mode);
    c = ts_chaos_begin(s, name, &o);
    CHECK(c != NULL);
    if (c == NULL)
        return;
    t0 = ts_now_ms();
    do {
        ts_sleep_ms(long_form ? 6000 : 2000);
        ts_chaos_cut_begin(c);
        if (strcmp(mode, "immediate") == 0)
            ts_chaos_crash(c);
        CHECK_EQ_INT(ts_pg_stop(&s->pg, mode), 0);
        ts_sleep_ms(down_ms); /* a database that stays down a while */
        CHECK_EQ_INT(ts_pg_start(&s->pg), 0);
        ts_chaos_cut_end(c);
    } while (ts_now_ms() - t0 < chaos_ms);
    ts_sleep_ms(2000);
    CHECK_EQ_INT(ts_chaos_finish(c, long_form ? 180000 : 90000, row), 0);
}

static void restart_pg_fast(struct ts_chaos_servers *s, bool long_form,
                            struct ts_chaos_row *row)
{
    restart_pg(s, long_form, "fast", 1500, row);
}

/* Down longer than the consumers' lease (3 s): the holds expire meanwhile. */
static void restart_pg_immediate(struct ts_chaos_servers *s, bool long_form,
                                 struct ts_chaos_row *row)
{
    restart_pg(s, long_form, "immediate", 4000, row);
}

int main(void)
{
    static const struct ts_chaos_scenario scenarios[] = {
        {"restart_broker", restart_broker},
        {"restart_pg_fast", restart_pg_fast},
        {"restart_pg_immediate", restart_pg_immediate},
    };
    int rc = ts_chaos_main(scenarios, sizeof scenarios / sizeof scenarios[0]);

    return rc != 0 ? rc : check_exit();
}
