/*
 * db_apply: the SQL of `tmdbq apply`'s first step (migration 006, tmdbq_apply_begin).
 *
 * The later steps reuse the consumer's calls: db_finish records the outcome of the direct
 * attempt under the same consumer id, and db_get_op reads the row afterwards.
 */
#ifndef TMDBQ_DB_APPLY_H
#define TMDBQ_DB_APPLY_H

#include <stdint.h>

#include "db.h"
#include "err.h"
#include "op.h"

/* What the first step of an apply decided. */
enum db_apply_start {
    /* the row was inserted processing, claimed by the caller: call TMDB now */
    DB_APPLY_DIRECT,
    /* the row was inserted pending behind an active operation of its list: publish it */
    DB_APPLY_QUEUED_BUSY,
    /* the row was inserted pending because the queue is paused: publish it */
    DB_APPLY_QUEUED_PAUSED,
    /* an identical operation is pending (see deduplication in db.h): nothing inserted,
     * *out holds that row */
    DB_APPLY_DUPLICATE,
};

/* Insert the validated request req in one round trip (tmdbq_apply_begin, one
 * transaction, under the target's advisory lock, taken before any row lock like every
 * other writer), deduplicating like db_enqueue; when nothing of the list is pending or
 * processing (create_list: always) and the queue is not paused, the new row is
 * processing, claimed_by consumer_id, with a lease of lease_ms, and out->session_id /
 * out->access_token hold the user's credentials (NULL when none; secrets, never log
 * them). out->rescued is always false. *out is always initialised, so db_claim_cleanup is
 * safe after any return; on ST_OK it owns the row and the credentials. lease_ms < 1 or
 * an empty consumer_id is ST_INVALID without asking the database; any failure of the
 * statement is ST_DB (db_connected tells a lost connection from an SQL error). Blocks for
 * the round trip and the lock. */
enum status db_apply_begin(struct db *db, const struct op_request *req,
                           const char *consumer_id, int64_t lease_ms,
                           enum db_apply_start *how, struct db_claim *out, struct err *e);

#endif
