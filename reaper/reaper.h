/*
 * reaper: the loop of tmdbq-reaper. Every reaper registers in tmdbq_reapers and tries for
 * the leader's lock (db_reaper_try_lead); the one that holds it sweeps every
 * TMDBQ_SWEEP_INTERVAL: rescue of expired leases, relay of unpublished and overdue rows,
 * cleanup of old finished rows once a day, purge of stale registry rows. The others only
 * report and try for the lock, so a dead leader is replaced within one interval.
 */
#ifndef TMDBQ_REAPER_REAPER_H
#define TMDBQ_REAPER_REAPER_H

#include <stdbool.h>

#include "cfg.h"
#include "err.h"

/* Fixed rules of the reaper (README, "The reaper"). */
#define REAPER_RELAY_BATCH 500    /* ids per publish batch (one confirm wait each) */
#define REAPER_RESCUE_BATCH 100   /* rows per rescue transaction */
#define REAPER_CLEANUP_BATCH 1000 /* rows per cleanup transaction */
#define REAPER_SETTLE_MS 5000     /* the relay leaves rows changed this recently alone */
#define REAPER_GRACE_MIN_MS 30000 /* overdue grace: max(2 x interval, this) */
#define REAPER_CLEANUP_EVERY_MS (24LL * 60 * 60 * 1000)
#define REAPER_STALE_MS (60LL * 60 * 1000) /* registry rows not seen this long go */
#define REAPER_BEAT_MAX_MS 5000 /* heartbeat and leader tries: min(interval, this) */

/* The grace period after which a published, due, pending row counts as lost. */
long long reaper_grace_ms(const struct cfg *cfg);

/* Run until a stop signal. Blocks. Services being down is not an error: it reconnects
 * with backoff (100 ms doubling to 5 s) and is not the leader while PostgreSQL is away.
 * Returns ST_OK after a stop; ST_NOMEM and the like only when it cannot run at all.
 *
 * once: connect (one try each, bounded by TMDBQ_CONNECT_TIMEOUT), take the lead and run
 * one sweep including the cleanup, then leave. ST_OK when the sweep ran through, or when
 * another reaper leads (then nothing is done: a second sweep would race the leader's; a
 * warning says so), or when a signal stopped it; ST_DB or ST_MQ (with e) when a service
 * failed, after whatever could be done was done. */
enum status reaper_run(const struct cfg *cfg, bool once, struct err *e);

#endif
