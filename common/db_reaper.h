/*
 * db_reaper: the reaper's side of the db module (tmdbq-reaper): leadership and the reaper
 * registry, the rescue of rows whose lease expired, the outbox relay's candidates and
 * marks, and the batched cleanup of finished rows. Migration 004 holds the SQL functions.
 *
 * Leadership is a session advisory lock on the one-bigint key DB_REAPER_LEADER_KEY, held
 * by the leader's own connection: it ends with that connection (a crash, a network cut, a
 * server restart), so another reaper can take it at its next try. Advisory locks belong
 * to one database, so each database has its own leader.
 *
 * All calls block for their round trips; a failed statement is ST_DB, and db_connected
 * tells a lost connection from an SQL error.
 */
#ifndef TMDBQ_DB_REAPER_H
#define TMDBQ_DB_REAPER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "err.h"

/* The leader's session advisory lock (the migration lock is ...001). */
#define DB_REAPER_LEADER_KEY "7451283304722002"

/* Whether the database holds the reaper's schema (migration 004): ST_OK; ST_NOT_FOUND
 * with a message that says to run `tmdbq migrate`; ST_DB when the question failed. */
enum status db_reaper_schema_check(struct db *db, struct err *e);

/* Bound this session's waits: lock_timeout and statement_timeout (ms, > 0), so no
 * statement of the reaper can block for longer. */
enum status db_reaper_session_limits(struct db *db, int64_t lock_timeout_ms,
                                     int64_t statement_timeout_ms, struct err *e);

/* ---- leadership and registry (table tmdbq_reapers) ---- */

/* Upsert this reaper's row: host, pid, started_at and last_seen_at now, not leader. */
enum status db_reaper_register(struct db *db, const char *reaper_id, const char *host,
                               int pid, struct err *e);

/* Try to take the leader's lock without waiting: *leader true when this session holds it
 * now. Call it only while not leading: the lock is reentrant, and each success adds a
 * hold to the session. */
enum status db_reaper_try_lead(struct db *db, bool *leader, struct err *e);

/* last_seen_at now and is_leader = leader on this reaper's row; a leader also clears
 * is_leader on every other row (a leader that died cannot). ST_NOT_FOUND when the row is
 * gone (removed as stale while we were away): register again. */
enum status db_reaper_heartbeat(struct db *db, const char *reaper_id, bool leader,
                                struct err *e);

/* Leave: is_leader false on this reaper's row, which stays (with its last sweep and
 * cleanup, for `tmdbq status`) until the registry purge removes it. */
enum status db_reaper_retire(struct db *db, const char *reaper_id, struct err *e);

/* Record a finished sweep on this reaper's row: last_sweep_at now, last_sweep =
 * sweep_json (a JSON object's text), and last_cleanup_at now when cleaned. */
enum status db_reaper_record_sweep(struct db *db, const char *reaper_id,
                                   const char *sweep_json, bool cleaned, struct err *e);

/* Milliseconds since the last cleanup any registered reaper recorded; -1 when none did.
 */
enum status db_reaper_cleanup_age(struct db *db, int64_t *age_ms, struct err *e);

/* Delete consumer and reaper rows not seen for stale_ms (never this reaper's own);
 * *consumers and *reapers get how many. */
enum status db_reaper_purge_registry(struct db *db, const char *reaper_id,
                                     int64_t stale_ms, int64_t *consumers,
                                     int64_t *reapers, struct err *e);

/* ---- rescue ---- */

struct db_rescue_item {
    char id[37];
    bool abandoned; /* failed, out of retries; else rescued: pending, retry_count + 1 */
    struct db_handon next; /* abandoned only: the list's operations to publish now */
};
struct db_rescue_items {
    struct db_rescue_item *items;
    size_t n;
};
void db_rescue_items_free(struct db_rescue_items *l);

/* Rescue up to limit processing rows whose lease expired, in one transaction
 * (tmdbq_rescue_expired): each goes back to pending with retry_count + 1 and no publish,
 * or, when that exceeds max_retries, ends failed ("abandoned: ...", error_kind
 * transient) and names its list's next operation. claimed_by becomes reaper_id. *out
 * (free with db_rescue_items_free; empty when nothing was due) lists what changed; the
 * caller publishes the rescued ids and the next ids and marks them
 * (outbox_publish); should it fail to, the relay finds them unpublished. Fewer
 * than limit items means no expired lease is left. */
enum status db_reaper_rescue(struct db *db, const char *reaper_id, int max_retries,
                             int limit, struct db_rescue_items *out, struct err *e);

/* ---- relay ---- */

enum db_relay_kind {
    /* pending, unpublished, due, unchanged for age_ms (tmdbq_relay_unpublished) */
    DB_RELAY_UNPUBLISHED,
    /* pending, published, due and published more than age_ms ago (tmdbq_relay_overdue) */
    DB_RELAY_OVERDUE,
};

/* Up to limit candidates of kind with seq > after_seq, in seq order, into *out (free with
 * db_ids_free); *last_seq is the seq of the last one (after_seq when none), for the next
 * page. Rows that an earlier active operation of their list blocks are left out. */
enum status db_reaper_relay_candidates(struct db *db, enum db_relay_kind kind,
                                       int64_t after_seq, int64_t age_ms, int limit,
                                       struct db_ids *out, int64_t *last_seq,
                                       struct err *e);

/* ---- cleanup ---- */

/* One cleanup batch in its own transaction (tmdbq_cleanup_batch): delete up to limit
 * completed or cancelled rows whose updated_at is older than retention_ms; *deleted gets
 * how many. Fewer than limit means none is left. */
enum status db_reaper_cleanup_batch(struct db *db, int64_t retention_ms, int limit,
                                    int64_t *deleted, struct err *e);

#endif
