/*
 * metrics: a process's counters for Prometheus, added to PostgreSQL in one statement.
 *
 * A consumer counts what it did (outcomes recorded, TMDB requests by HTTP status and
 * their durations) in memory, and every few seconds one of its threads flushes the deltas
 * into table tmdbq_metrics (migration 009). The totals live in PostgreSQL, so they
 * survive every process's restart, and whoever serves /metrics (tmdbq-http) reads them
 * from there: counters summed over every consumer that ever ran.
 *
 * Thread-safe: one struct metrics per process, shared by its threads. Counting takes a
 * mutex for a few additions and never blocks on I/O. A flush takes the deltas out under
 * the mutex and sends them without it; when the statement fails they are put back, so
 * nothing is lost to a database outage (but a statement that committed and whose reply
 * was lost is counted twice: these are monitoring figures, not accounts).
 *
 * The db side (db_metrics.c, the only SQL here) is declared below as well: the flush
 * statement, and what a reader needs (the totals, the age of the oldest pending
 * operation, a liveness probe).
 */
#ifndef TMDBQ_METRICS_H
#define TMDBQ_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "err.h"

/* Counter names in tmdbq_metrics (see migration 009). */
#define METRICS_OUTCOMES "operations_finished"
#define METRICS_TMDB_REQUESTS "tmdb_requests"
#define METRICS_TMDB_BUCKET "tmdb_request_duration_bucket"
#define METRICS_TMDB_SUM_US "tmdb_request_duration_sum_us"
/* The label of a TMDB request that got no HTTP answer (timeout, connection error). */
#define METRICS_CODE_NONE "none"

/* The TMDB request duration histogram's upper bounds in seconds, as written in the
 * label ("0.1"), ascending; the last bucket, "+Inf", comes after them. */
#define METRICS_BUCKETS 11
extern const char *const metrics_bucket_labels[METRICS_BUCKETS];
extern const int64_t metrics_bucket_us[METRICS_BUCKETS];

struct metrics;

/* A new set of counters, all zero. ST_NOMEM. Free with metrics_free (accepts NULL). */
enum status metrics_new(struct metrics **out, struct err *e);
void metrics_free(struct metrics *m);

/* Count one outcome recorded on a row: DB_OUT_COMPLETED, DB_OUT_FAILED or DB_OUT_RETRY
 * (label completed, failed, retry). m may be NULL (nothing is counted). */
void metrics_count_outcome(struct metrics *m, enum db_outcome_kind kind);

/* Count one HTTP request sent to TMDB: its status (0 when no answer came: label "none";
 * otherwise 100..599, anything else counts as "none") and how long it took, into the
 * histogram (a negative duration counts as 0). m may be NULL. */
void metrics_count_tmdb_request(struct metrics *m, long http_status, int64_t duration_us);

/* Whether anything was counted since the last flush. */
bool metrics_pending(struct metrics *m);

/* Add everything counted since the last flush to tmdbq_metrics through db, in one
 * statement (db_metrics_add), and start counting from zero. Nothing counted: no
 * statement, ST_OK. When the statement fails (ST_DB: db_connected tells a lost
 * connection from an SQL error such as a missing migration 009), the deltas are kept for
 * the next flush. Blocks for one round trip. Any thread may call it, several at once. */
enum status metrics_flush(struct metrics *m, struct db *db, struct err *e);

/* ---- db side (db_metrics.c) ---- */

/* tmdbq_metrics_add: add deltas[i] to counter (names[i], labels[i]) for i < n, in one
 * statement. n == 0 does nothing. Names and labels are plain text (any bytes but NUL);
 * deltas must be >= 0 (ST_INVALID otherwise, without asking the database). */
enum status db_metrics_add(struct db *db, const char *const *names,
                           const char *const *labels, const int64_t *deltas, size_t n,
                           struct err *e);

/* One counter as stored. */
struct db_metric {
    char name[64];
    char label[64];
    int64_t value;
};
struct db_metrics {
    struct db_metric *items;
    size_t n;
};
/* Every counter of tmdbq_metrics, ordered by name and label (names or labels longer than
 * the fields are cut). Free with db_metrics_free (accepts an empty list). */
enum status db_metrics_read(struct db *db, struct db_metrics *out, struct err *e);
void db_metrics_free(struct db_metrics *l);

/* The age in seconds of the oldest pending operation (since it was enqueued); *any false
 * and *age_s 0 when nothing is pending. One index probe. */
enum status db_metrics_oldest_pending(struct db *db, double *age_s, bool *any,
                                      struct err *e);

/* A round trip that proves the server answers (SELECT 1). */
enum status db_ping(struct db *db, struct err *e);

#endif
