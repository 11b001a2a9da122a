/*
 * chaos: the harness of the chaos tests (test_chaos_*.c), scenarios under load checked
 * against a ledger.
 *
 * A scenario runs in a database and AMQP prefix of its own on private servers (shared by
 * the scenarios of one test), with consumers, reapers and a fake TMDB of its own. It is
 * loaded with a backlog enqueued before the consumers start and a paced stream enqueued
 * by a thread while the scenario's disruptions run (kills, restarts, faults). Then the
 * queue is left to settle and every operation is checked against what the fake saw:
 *
 * - final status: completed iff the fake answered one of its writes with a 2xx (it took
 *   effect), failed iff none did; nothing pending or processing once settled;
 * - the fake's final lists hold what the completed operations say (adds present unless
 *   removed later, removes absent, the last update's name, a list per create);
 * - order: every write of an operation reaches the fake before any write of a later
 *   operation it conflicts with (README, "Order where it matters");
 * - messages: the work queue, as the reapers' sweeps see it, never holds more than twice
 *   as many messages as there are operations (a delivery must not beget deliveries);
 * - a repeat is a write of an operation sent after its first effective one. A trigger on
 *   queued_list_operations records every change of status or holder (claimed_by) with
 *   clock_timestamp(), which gives each operation's holds: [claim, end of the claim],
 *   ended by the holder's own finish or by a takeover (lease expired: another consumer's
 *   claim, or the reaper's rescue). Each TMDB write is placed in the hold during which it
 *   reached the fake (the fake's clock is calibrated against ours by a probe request).
 *   An operation's repeats are allowed when the hold that sent its effective write ended
 *   without its outcome: taken over after its holder was SIGKILLed during the hold
 *   ("kill"), or taken over after a connection cut overlapped the hold (PostgreSQL or
 *   broker restart, backend kill: "cut"; or the hold itself undone by a crash of
 *   PostgreSQL soon after, see ts_chaos_crash), or finished by its holder as a retry
 * because no TMDB answer reached it although TMDB had applied the write (a timeout:
 * "tmdb"). Any other repeat is unattributed, and fails the scenario.
 */
#ifndef TMDBQ_TEST_CHAOS_H
#define TMDBQ_TEST_CHAOS_H

#include <stdbool.h>
#include <stddef.h>

#include "support.h"

/* Whether the long form was asked for: TMDBQ_CHAOS=long (bench/chaos.sh sets it). */
bool ts_chaos_long(void);

/* Whether scenario name is to run: TMDBQ_CHAOS_ONLY unset or empty, or a list of names
 * (separated by spaces or commas) that holds it. */
bool ts_chaos_selected(const char *name);

/* The private PostgreSQL and RabbitMQ that the scenarios of one test share. */
struct ts_chaos_servers {
    struct ts_pg pg;
    struct ts_rabbit rb;
};

/* Start both, point ts_setup at them (TMDBQ_TEST_ADMIN_URL, TMDBQ_AMQP_URL) and create
 * the role the consumers connect as (so their backends can be told apart). 0 ok; 77 or
 * 1 as ts_pg_start / ts_rabbit_start say. Call ts_chaos_servers_destroy in every case. */
int ts_chaos_servers_start(struct ts_chaos_servers *s);
void ts_chaos_servers_destroy(struct ts_chaos_servers *s);

struct ts_chaos_opts {
    int consumers;         /* consumer processes (1..8) */
    int concurrency;       /* --concurrency of each */
    int reapers;           /* reaper processes (0..4) */
    long backlog;          /* operations enqueued before the consumers start */
    long stream_per_s;     /* operations enqueued per second while the scenario runs */
    int unpublished_every; /* every Nth stream batch is enqueued with the broker
                              unreachable, for the reaper's relay (0: none) */
    int latency_ms;        /* the fake's latency, kept when faults are cleared */
};

/* One scenario's line of the table. */
struct ts_chaos_row {
    char name[40];
    long ops;         /* operations in the database (backlog and stream) */
    long refused;     /* stream operations whose enqueue failed and left no row */
    long unacked;     /* rows whose enqueue failed (exit 1) although they committed */
    long unpublished; /* enqueued while the broker was unreachable */
    long relayed;     /* messages the reapers published (their sweeps' relayed=) */
    long peak_ready;  /* most messages ready in the work queue a reaper's sweep saw */
    long completed;
    long failed; /* of which expected (a list of another user): failed_expected */
    long failed_expected;
    long lost;       /* acknowledged and missing, not final, or completed without
                        its effect at the fake */
    long mismatched; /* final status or list state contradicting what TMDB saw, writes
                        of no operation, and order violations (counted below too) */
    long order_violations; /* a write before one of an earlier conflicting operation */
    long repeats;          /* writes sent after an operation's effective one */
    long rep_kill, rep_cut, rep_tmdb, rep_unattributed;
    long outside_holds;    /* writes that reached the fake outside every hold */
    long undone_holds;     /* ... excused: a crash of PostgreSQL soon after (see
                              ts_chaos_crash) undid the claim and its record */
    long lost_holds;       /* claims ended by a takeover (lease expired) */
    long lost_unexplained; /* ... of which with no kill or cut of their holder */
    long requests;         /* TMDB requests the fake saw */
    long http_429, http_5xx;
    long events;     /* disruptions */
    double chaos_s;  /* length of the disruption phase */
    double settle_s; /* from its end until the last operation was final */
};

struct ts_chaos;

/* Set a scenario up on s: database, prefix and policy (10 retries, 100 ms to 1 s), a
 * fake TMDB (4 users, 24 lists and a list of another user), the ledger's trigger, the
 * backlog, the consumers and reapers, and start the stream. NULL after printing why. */
struct ts_chaos *ts_chaos_begin(struct ts_chaos_servers *s, const char *name,
                                const struct ts_chaos_opts *o);

/* The scenario's test environment and fake TMDB (borrowed, live until
 * ts_chaos_finish). */
struct ts_env *ts_chaos_env(struct ts_chaos *c);
const struct ts_fake *ts_chaos_fake(const struct ts_chaos *c);

/* SIGKILL consumer slot i (0-based), note it, and start a fresh one in its place. 0 ok.
 */
int ts_chaos_kill_consumer(struct ts_chaos *c, int i);

/* SIGKILL the reaper that leads (or slot 0 when none is known), note it, and start a
 * fresh one in its place. Returns the slot killed, -1 on error. */
int ts_chaos_kill_reaper(struct ts_chaos *c);

/* pg_terminate_backend of every session of the consumers' role in the scenario's
 * database, noted as a cut. Returns how many were terminated, -1 on error. */
long ts_chaos_kill_backends(struct ts_chaos *c);

/* Note the start and the end of a cut of every connection (a server restart). */
void ts_chaos_cut_begin(struct ts_chaos *c);
/* Note that PostgreSQL crashes now (pg_ctl stop -m immediate, with ts_chaos_cut_begin):
 * what was committed without waiting for the disk shortly before may be undone, an
 * outcome, or a claim with the trigger's record of its hold (README, "What each commit
 * waits for"). A write that reached TMDB outside every hold at most CHAOS_ASYNC_MS
 * before a crash is counted apart (undone_holds), and the repeats of an operation whose
 * effective write came that shortly before a crash count as the cut's. */
void ts_chaos_crash(struct ts_chaos *c);
void ts_chaos_cut_end(struct ts_chaos *c);

/* Merge JSON into the fake's faults (ts_fake_faults). 0 ok. */
int ts_chaos_faults(struct ts_chaos *c, const char *json);

/* Stop the stream, clear the faults (the latency stays), wait until every operation is
 * final (at most settle_limit_ms), stop everything, check the ledger, print its line and
 * the reasons of any violation, fill *row, and tear the scenario down (c is freed).
 * Returns the number of violations: 0 when the ledger holds. */
int ts_chaos_finish(struct ts_chaos *c, long settle_limit_ms, struct ts_chaos_row *row);

/* Print rows as a Markdown table (the form bench/chaos.sh collects) on stdout. */
void ts_chaos_print_table(const struct ts_chaos_row *rows, size_t n);

/* One scenario of a chaos test: its name as TMDBQ_CHAOS_ONLY names it, and the function
 * that runs it on the shared servers (ts_chaos_begin ... ts_chaos_finish into *row,
 * with its own checks), in the long form or not. */
struct ts_chaos_scenario {
    const char *name;
    void (*run)(struct ts_chaos_servers *s, bool long_form, struct ts_chaos_row *row);
};

/* The body of a chaos test's main: start the servers, run the selected ones of
 * scenarios[0..n) in order (ts_chaos_selected), print their table and destroy the
 * servers. Returns 0 when the scenarios ran (the test then returns check_exit()), else
 * 77 or 1 as ts_chaos_servers_start said. */
int ts_chaos_main(const struct ts_chaos_scenario *scenarios, size_t n);

#endif
