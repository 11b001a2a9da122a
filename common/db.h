/*
 * db: PostgreSQL through libpq; the only module that speaks SQL.
 *
 * One connection per handle, used by one thread. Every query is parameterised. Deduplication
 * and its race-freedom live in the database (tmdbq_enqueue_batch, migration 002), so any
 * number of processes can enqueue at once. Rows come back as struct op (see op.h).
 */
#ifndef TMDBQ_DB_H
#define TMDBQ_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "op.h"

struct db;

/* Connect to url (a libpq URL or keyword string) with connect_timeout from timeout_ms.
 * On failure ST_DB with `could not connect to PostgreSQL at host:port: why`, password never
 * shown. *out owns the handle (db_close). */
enum status db_open(const char *url, int64_t timeout_ms, struct db **out, struct err *e);
void db_close(struct db *db);

/* Apply the embedded migrations not yet applied, in order, each in its own transaction, under
 * a session advisory lock so concurrent migrators serialise. Refuses (ST_DB, message names
 * the file) when an applied file's checksum differs. *applied = files applied now,
 * *version = the schema version afterwards. */
enum status db_migrate(struct db *db, int *applied, int *version, struct err *e);

/* Insert n validated requests (deduplicating, see migration 002) in one transaction and
 * return their rows in ops[0..n) (caller's array; clean each with op_cleanup) and whether
 * each was a duplicate in dup[0..n). */
enum status db_enqueue(struct db *db, const struct op_request *reqs, size_t n, struct op *ops,
                       bool *dup, struct err *e);

/* Record that the broker confirmed these ids (published_at = now() where NULL). */
enum status db_mark_published(struct db *db, const char *const *ids, size_t n,
                              struct err *e);

/* The row with this id: ST_NOT_FOUND when there is none. id must be op_id_valid. */
enum status db_get_op(struct db *db, const char *id, struct op *out, struct err *e);

struct db_stats {
    int64_t count[OP_STATUS_COUNT]; /* indexed by enum op_status */
    int64_t total;
};
enum status db_stats(struct db *db, struct db_stats *out, struct err *e);

/* A list of rows; free with db_ops_free. */
struct db_ops {
    struct op *items;
    size_t n;
};
void db_ops_free(struct db_ops *l);

/* The user's pending and processing operations, oldest first (enqueue order). */
enum status db_list_pending(struct db *db, int32_t user_id, struct db_ops *out, struct err *e);
/* Failed operations, newest updated_at first, at most limit. */
enum status db_list_failed(struct db *db, int limit, struct db_ops *out, struct err *e);

/* Store (insert or replace) a user's TMDB credentials; access_token may be NULL. */
enum status db_session_set(struct db *db, int32_t user_id, const char *session_id,
                           const char *access_token, struct err *e);
/* Remove them: ST_NOT_FOUND when the user had none. */
enum status db_session_rm(struct db *db, int32_t user_id, struct err *e);

#endif
