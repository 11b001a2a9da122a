/*
 * db_history: the SQL of what the queue did over the last hour, minute by minute (GET
 * /v1/history, the dashboard's chart), and how old its backlog is now.
 *
 * No table of its own: finished operations are counted from queued_list_operations by
 * updated_at (the time of their last change), each status through its own partial index
 * (migration 002: idx_queued_operations_finished for completed and cancelled,
 * idx_queued_operations_failed for failed), and TMDB requests and 429s come from the
 * 10-second buckets of tmdbq_rate_stats (migration 008), which are kept for an hour. So a
 * row counts once, in the status it holds now, in the minute it got it: an operation that
 * failed and was then retried and completed counts as completed, when it completed.
 */
#ifndef TMDBQ_DB_HISTORY_H
#define TMDBQ_DB_HISTORY_H

#include <stdbool.h>
#include <stdint.h>

#include "db.h"
#include "err.h"
#include "op.h"

/* Minutes in the window: the current one and the 59 before it. */
#define DB_HISTORY_MINUTES 60

struct db_history_minute {
    char minute[OP_TIME_LEN]; /* its start, ISO 8601 UTC ("2026-12-03T09:59:00.000Z") */
    /* Rows whose status is completed, cancelled or failed now and whose last change
     * (updated_at) fell in this minute. */
    int64_t completed;
    int64_t cancelled;
    int64_t failed;
    int64_t requests; /* TMDB requests sent in this minute, every scope together */
    int64_t limited;  /* of which TMDB answered 429 */
};

struct db_history {
    char now[OP_TIME_LEN]; /* the server's time of the reading */
    struct db_history_minute minutes[DB_HISTORY_MINUTES]; /* oldest first */
    size_t n;                                             /* DB_HISTORY_MINUTES */
    bool any_pending;
    double oldest_pending_age_s; /* since its enqueue; 0 when nothing is pending */
};

/* Read the last hour into *out (zeroed first). One statement: four index range scans
 * (the two partial indexes of finished rows, the pending rows' (status, inserted_at) and
 * the rate buckets), then grouping in memory. ST_DB when it failed. Blocks for one round
 * trip. */
enum status db_history_read(struct db *db, struct db_history *out, struct err *e);

#endif
