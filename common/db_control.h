/*
 * db_control: the operator's side of the db module (`tmdbq retry`, `cancel`, `process`,
 * `pause`, `resume`, `status`).
 *
 * Every change of an operation is one call of an SQL function of migration 005 (one round
 * trip, one transaction), which takes the list's advisory lock before the row lock, as
 * enqueue, claim and finish do. Refusals are ST_CONFLICT with a message that names the
 * operation's status, unknown ids ST_NOT_FOUND, malformed ids ST_INVALID (without asking
 * the database). All calls block for their round trips; a failed statement is ST_DB.
 */
#ifndef TMDBQ_DB_CONTROL_H
#define TMDBQ_DB_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "err.h"
#include "op.h"

/* Retry a failed operation: back to pending with retry_count 0; error_message,
 * error_kind, scheduled_for, last_retry_at and the lease cleared; unpublished (the caller
 * publishes it and calls db_mark_published); a new seq, so it takes effect after the
 * operations of its list enqueued before the retry. *out (zeroed first; op_cleanup it
 * after ST_OK) is the row after the change. ST_CONFLICT ("operation X is completed; only
 * a failed operation can be retried") for any other status. */
enum status db_retry_op(struct db *db, const char *id, struct op *out, struct err *e);

/* Cancel a pending or failed operation (status cancelled; a failed one is given up for
 * good, migration 011). *out as for db_retry_op. *next is always set: the list's
 * operations that waited behind this one and now need a message (see db_finish: they are
 * marked unpublished, the caller publishes them and calls db_mark_published; none for a
 * failed one, which held up nothing). ST_CONFLICT for any other status. */
enum status db_cancel_op(struct db *db, const char *id, struct op *out,
                         struct db_handon *next, struct err *e);

/* Make a pending operation due now (scheduled_for = now when it was later) and mark it
 * unpublished for the caller to publish. ST_CONFLICT for any status but pending. */
enum status db_process_op(struct db *db, const char *id, struct op *out, struct err *e);

/* db_process_op for every pending operation of user_id, in one transaction; their rows
 * after the change, in enqueue (seq) order, in *out (free with db_ops_free; empty when
 * the user has none). */
enum status db_process_user(struct db *db, int32_t user_id, struct db_ops *out,
                            struct err *e);

/* Every pending operation that is due (scheduled_for NULL or past), in seq order. Read
 * only: the caller publishes them (what the reaper's relay does, on demand). */
enum status db_list_due(struct db *db, struct db_ops *out, struct err *e);

/* The rows with these ids (op_id_valid each, else ST_INVALID), in seq order; ids that no
 * row has are left out. */
enum status db_get_ops(struct db *db, const char *const *ids, size_t n,
                       struct db_ops *out, struct err *e);

/* How many of these ids are pending or processing. */
enum status db_count_active(struct db *db, const char *const *ids, size_t n,
                            int64_t *active, struct err *e);

/* The pause switch (tmdbq_control). */
struct db_pause_state {
    bool paused;
    char since[OP_TIME_LEN]; /* changed_at: when it last changed; "" when the row is
                                missing (then paused is false) */
    double age_s;            /* seconds since then */
    bool changed;            /* db_set_paused: this call changed it */
};

/* Set it (idempotent: changed_at moves only when the state changes). */
enum status db_set_paused(struct db *db, bool paused, struct db_pause_state *out,
                          struct err *e);
/* Read it. */
enum status db_pause_state(struct db *db, struct db_pause_state *out, struct err *e);

/* What both registries (tmdbq_consumers, tmdbq_reapers) hold of a process. Strings
 * owned (db_consumers_free, db_reapers_free). */
struct db_process {
    char *id; /* consumer_id, reaper_id */
    char *host;
    int pid;
    char started_at[OP_TIME_LEN];
    char last_seen_at[OP_TIME_LEN];
    double last_seen_age_s;
    bool live; /* last seen within live_ms */
};

/* One row of tmdbq_consumers. */
struct db_consumer_row {
    struct db_process proc;
    int64_t processed;
    int64_t failed;
    int in_flight;
    char *amqp_node; /* the RabbitMQ node it consumes from, NULL when unknown */
};
struct db_consumers {
    struct db_consumer_row *items;
    size_t n;
};
void db_consumers_free(struct db_consumers *l);

/* Every registered consumer, live ones first, then by host and id; live means seen
 * within live_ms (> 0). */
enum status db_list_consumers(struct db *db, int64_t live_ms, struct db_consumers *out,
                              struct err *e);

/* One row of tmdbq_reapers. Strings owned (db_reapers_free). */
struct db_reaper_row {
    struct db_process proc;
    bool leader;
    char last_sweep_at[OP_TIME_LEN];   /* "" when none */
    char *last_sweep_json;             /* the leader's account of its last sweep (a JSON
                                          value as text), NULL when none */
    char last_cleanup_at[OP_TIME_LEN]; /* "" when none */
};
struct db_reapers {
    struct db_reaper_row *items;
    size_t n;
};
void db_reapers_free(struct db_reapers *l);

/* Every registered reaper: leaders first, then the most recently seen. */
enum status db_list_reapers(struct db *db, int64_t live_ms, struct db_reapers *out,
                            struct err *e);

#endif
