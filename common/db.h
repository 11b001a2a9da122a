/*
 * db: PostgreSQL through libpq; the only module that speaks SQL.
 *
 * One connection per handle, used by one thread. Every query is parameterised.
 * Deduplication and its race-freedom live in the database (tmdbq_enqueue_batch, migration
 * 002), so any number of processes can enqueue at once. Rows come back as struct op (see
 * op.h).
 */
#ifndef TMDBQ_DB_H
#define TMDBQ_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "op.h"

struct db;

/* Connect to url (a libpq URL or keyword string) with connect_timeout from timeout_ms and
 * TCP keepalives (idle 10 s, then every 5 s, 3 misses: a server that vanished without
 * closing the connection is noticed in about 25 s; url may set others). On failure ST_DB
 * with `could not connect to PostgreSQL at host:port: why`, password never shown. *out
 * owns the handle (db_close). */
enum status db_open(const char *url, int64_t timeout_ms, struct db **out, struct err *e);
void db_close(struct db *db);

/* Whether url is a connection string db_open can use: a URI (postgresql:// or
 * postgres://) or key=value pairs that libpq parses (PQconninfoParse), whose port, if
 * any, is a number from 1 to 65535. A bare word, which libpq would take for a database
 * name, is refused: a URL without its scheme looks just like one. When false, e (may be
 * NULL) is ST_INVALID with a message that never shows the value itself (a password may
 * be anywhere in a string that does not parse). Does not connect. */
bool db_url_valid(const char *url, struct err *e);

/* Whether the connection is still usable after a call failed with ST_DB: false when it
 * was lost (reconnect), true when only that statement failed (an SQL error: a missing
 * function or table, a permission, a constraint), which reconnecting does not mend.
 * false for NULL. Does not block. A statement whose error names a missing function, table
 * or column says in its message to run `tmdbq migrate`. */
bool db_connected(const struct db *db);

/* Apply the embedded migrations not yet applied, in order, each in its own transaction,
 * under a session advisory lock so concurrent migrators serialise. Refuses (ST_DB,
 * message names the file) when an applied file's checksum differs from today's text and
 * from every earlier landed text of it in the manifest (migrations/checksums.txt).
 * *applied = files applied now, *version = the schema version afterwards. */
enum status db_migrate(struct db *db, int *applied, int *version, struct err *e);

/* Insert n validated requests (deduplicating, see migration 002) in one transaction and
 * return their rows in ops[0..n) (caller's array; clean each with op_cleanup) and whether
 * each was a duplicate in dup[0..n). */
enum status db_enqueue(struct db *db, const struct op_request *reqs, size_t n,
                       struct op *ops, bool *dup, struct err *e);

/* Record that the broker confirmed these ids: published_at = now() for the pending rows
 * among them, skipping rows another transaction holds (tmdbq_mark_published, migration
 * 010); one statement, committed without waiting for the disk (a mark lost in a crash
 * only makes the relay publish the ids again). Use it through outbox_publish. */
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
enum status db_list_pending(struct db *db, int32_t user_id, struct db_ops *out,
                            struct err *e);
/* Failed operations, newest updated_at first, at most limit. */
enum status db_list_failed(struct db *db, int limit, struct db_ops *out, struct err *e);

/* Store (insert or replace) a user's TMDB credentials; access_token may be NULL. */
enum status db_session_set(struct db *db, int32_t user_id, const char *session_id,
                           const char *access_token, struct err *e);
/* Remove them: ST_NOT_FOUND when the user had none. */
enum status db_session_rm(struct db *db, int32_t user_id, struct err *e);

/* ---- consumer side (migrations 003 and 008 hold the SQL functions these call) ---- */

/* The operations of a list to publish after one of its operations ended (the hand-on):
 * those that waited only for it under the conflict rule (migration 008, tmdbq_handon),
 * in seq order, at most DB_HANDON_MAX (the reaper's relay publishes any beyond). Each is
 * marked unpublished: the caller publishes it and calls db_mark_published. */
#define DB_HANDON_MAX 64
struct db_handon {
    size_t n;
    char ids[DB_HANDON_MAX][37];
};

/* Whether the database holds the consumer's schema (migration 003: tmdbq_claim and
 * tmdbq_finish): ST_OK; ST_NOT_FOUND with a message that says to run `tmdbq migrate`
 * (a consumer started before the migration); ST_DB when the question itself failed. */
enum status db_consumer_schema_check(struct db *db, struct err *e);

/* What a claim attempt found. */
enum db_claim_result {
    /* the row is ours now: status processing, lease set */
    DB_CLAIMED,
    /* completed / failed / cancelled: drop the message */
    DB_CLAIM_GONE,
    /* no row has this id (a message from elsewhere, or of a row the cleanup deleted):
     * dead-letter it, with a warning */
    DB_CLAIM_UNKNOWN,
    /* pending but due only in *wait_ms: publish it again delayed by that much (nothing
     * else would bring it back in time) */
    DB_CLAIM_EARLY,
    /* an earlier operation on the same list is still active: drop; the row was marked for
     * hand-on and the earlier one's finish names it */
    DB_CLAIM_BLOCKED,
    /* processing under another consumer's live lease: *wait_ms says how long; republish
     * delayed so a dead holder's row is picked up */
    DB_CLAIM_LEASED,
    /* the queue is paused (tmdbq pause): do not ack, stop taking work */
    DB_CLAIM_PAUSED,
    /* it was processing under an expired lease and that rescue would exceed max_retries:
     * now failed (error_kind transient); drop the message and publish the hand-on (as
     * after db_finish) */
    DB_CLAIM_ABANDONED,
};

/* A claimed row and what the consumer needs to execute it. Clean with db_claim_cleanup.
 */
struct db_claim {
    struct op op;       /* the row after the claim (status processing) */
    char *session_id;   /* the user's credentials, NULL when the user has none; */
    char *access_token; /*   secrets: never log them */
    bool rescued;       /* it was processing under an expired lease: the previous
                           holder died; retry_count was raised for that attempt */
};
void db_claim_cleanup(struct db_claim *c);
/* The name tmdbq_claim gives r ("claimed", "gone", ...). */
const char *db_claim_result_name(enum db_claim_result r);

/* Try to claim operation id for consumer_id with a lease of lease_ms. One round trip
 * (tmdbq_claim, one transaction), which takes the list's advisory lock (the key enqueue
 * and finish use) before the row lock, so it cannot deadlock with them. The checks, in
 * order: no row: UNKNOWN; completed / failed / cancelled: GONE; tmdbq_control paused:
 * PAUSED; processing under consumer_id itself (its own claim whose reply was lost:
 * consumer ids must be unique per process and worker): claimed again with a fresh lease,
 * not rescued, without the checks below; processing under another's live lease: LEASED;
 * under an expired lease: rescued (retry_count + 1, or ABANDONED when that exceeds
 * max_retries) and claimed without the checks below; pending with scheduled_for more than
 * 50 ms ahead: EARLY; an earlier (lower seq) pending or processing operation on the same
 * list that conflicts with it (an add or remove of the same movie, or either one
 * list-wide: migration 008, tmdbq_blocked): BLOCKED, and the row is marked for hand-on
 * (handoff; create_list rows have no list and are never blocked); else CLAIMED: status
 * processing, claimed_by consumer_id, lease_expires_at now + lease_ms, handoff cleared.
 * Only CLAIMED, ABANDONED and BLOCKED change the row. *out is always initialised (zeroed
 * unless CLAIMED), so db_claim_cleanup is safe on it after any return; on DB_CLAIMED it
 * owns the row and the credentials. *wait_ms is set
 * (>= 1) on DB_CLAIM_LEASED (the lease left) and DB_CLAIM_EARLY (the time until due),
 * else 0. *next is always set: on DB_CLAIM_ABANDONED, and on DB_CLAIM_GONE (the
 * redelivery of a consumer that died between recording and handing on), the list's
 * waiting operations to publish, as db_finish gives them; else empty. An id that is not
 * op_id_valid (a garbage message), lease_ms < 1 or max_retries < 0 is ST_INVALID without
 * asking the database. Any failure of the statement is ST_DB: db_connected tells a lost
 * connection (reconnect and retry) from an SQL error. Blocks for the round trip and the
 * locks. */
enum status db_claim(struct db *db, const char *id, const char *consumer_id,
                     int64_t lease_ms, int max_retries, enum db_claim_result *result,
                     struct db_claim *out, int64_t *wait_ms, struct db_handon *next,
                     struct err *e);

/* The final or retry outcome of a claimed operation, as the consumer records it. */
enum db_outcome_kind {
    DB_OUT_COMPLETED, /* status completed, result = result_json, error cleared */
    DB_OUT_FAILED,    /* status failed, error_message and error_kind set */
    DB_OUT_RETRY,     /* status pending, retry_count + 1 (when count_retry), last_retry_at
                         now, scheduled_for now + delay_ms, error set, published_at NULL */
};
struct db_outcome {
    enum db_outcome_kind kind;
    const char *result_json;   /* COMPLETED: TMDB's result, or NULL */
    const char *error_message; /* FAILED / RETRY */
    const char *error_kind;    /* FAILED / RETRY: "transient", "permanent", "credentials",
                                  "deployment", "rate_limit" */
    int64_t delay_ms;          /* RETRY */
    bool count_retry;          /* RETRY: false for deployment faults (no retry spent) */
};

/* Record the outcome of operation id, only if it is still processing under consumer_id
 * (a rescued-and-reclaimed row is not overwritten: *recorded false). One round trip
 * (tmdbq_finish). An invalid id, kind or error_kind is ST_INVALID without asking the
 * database. For COMPLETED and FAILED, under the list's lock, *next is set to the hand-on:
 * the list's pending operations that waited for a hand-on (a blocked delivery dropped
 * them) or are unpublished, and that nothing earlier and active blocks any more; they
 * are marked unpublished, and the caller publishes them and then calls
 * db_mark_published. *next is always set (empty for RETRY and when not recorded).
 * updated_at is now and the lease is cleared in every case. Idempotent: a call repeated
 * after a lost reply (ST_DB, the first had committed) finds the row already showing this
 * outcome under consumer_id and answers as the first did: *recorded true, *next computed
 * again. So after ST_DB the caller reconnects and calls again with the same arguments. */
enum status db_finish(struct db *db, const char *id, const char *consumer_id,
                      const struct db_outcome *o, bool *recorded, struct db_handon *next,
                      struct err *e);

/* What db_claim answers, together (db_finish_claim). */
struct db_claim_answer {
    enum db_claim_result result;
    struct db_claim claim; /* owned on DB_CLAIMED: db_claim_cleanup */
    int64_t wait_ms;
    struct db_handon next;
};

/* db_finish of id and then db_claim of next_id, in one statement and one transaction
 * (tmdbq_finish_claim, migration 014): one round trip and one commit where a worker that
 * holds its next delivery would spend two of each. The finish is exactly db_finish's
 * (*recorded, *next); the claim is db_claim's of next_id with lease_ms and max_retries,
 * into *claim (always initialised: db_claim_cleanup is safe after any return). The two
 * lists' locks are taken in the order of their keys first, so two workers cannot
 * deadlock. The commit waits for the disk when durable is set; else it does not
 * (synchronous_commit off for this transaction), and the caller must not ack the finished
 * delivery before a later commit of its own waited (WAL is flushed in order: that flush
 * makes this commit durable too), nor at all when the connection was lost before that
 * (a crash of PostgreSQL may have undone this one). ST_INVALID without asking
 * the database for what either call refuses so; any failure of the statement is ST_DB,
 * after which the caller records the outcome alone (db_finish) and claims next_id later
 * as usual: should the transaction have committed before its reply was lost, both calls
 * answer again as the first time (a finish repeated is idempotent, and so is a claim by
 * the consumer that holds the row). */
enum status db_finish_claim(struct db *db, const char *id, const char *consumer_id,
                            const struct db_outcome *o, bool *recorded,
                            struct db_handon *next, const char *next_id, int64_t lease_ms,
                            int max_retries, bool durable, struct db_claim_answer *claim,
                            struct err *e);

/* ---- the TMDB request budget (migration 008; see rate.h) ---- */

/* A lease of up to want request slots of scope, interval_ms apart, no further than
 * horizon_ms ahead; with it the caller reports sent requests and limited 429s since its
 * last report, and a 429's cool-down (cooldown_ms > 0) for the whole scope. want 0 only
 * reports. rate is what the caller is configured to (shown by `tmdbq status`). */
struct db_rate_ask {
    const char *scope;
    double rate;
    double interval_ms;
    int want;
    int64_t horizon_ms;
    int sent;
    int limited;
    int64_t cooldown_ms;
};
struct db_rate_grant {
    int granted;         /* slots granted (0 or want) */
    double first_ms;     /* the first slot, in ms from the server's now (>= 0) */
    int64_t wait_ms;     /* nothing granted: ask again after this long */
    int64_t cooldown_ms; /* the scope's cool-down left, 0 when none */
};
/* One statement (tmdbq_rate_lease). ST_INVALID for bad arguments, ST_DB. */
enum status db_rate_lease(struct db *db, const struct db_rate_ask *a,
                          struct db_rate_grant *out, struct err *e);

/* A claimed row waits out TMDB's rate limit: error_message = message, error_kind
 * rate_limit, the lease renewed to lease_ms from now; only while processing under
 * consumer_id (*held says whether it was). One statement (tmdbq_hold). */
enum status db_hold(struct db *db, const char *id, const char *consumer_id,
                    int64_t lease_ms, const char *message, bool *held, struct err *e);

/* Every scope's budget (tmdbq_rate_status), for `tmdbq status`. */
struct db_rate_scope {
    char scope[280];
    double rate;         /* requests/s the scope's consumers are configured to */
    double sent_per_s;   /* requests sent over the last minute, per second */
    int64_t requests_1m; /* requests sent over the last minute */
    int64_t limited_1m;  /* of which TMDB answered 429 */
    char cooldown_until[OP_TIME_LEN]; /* ISO 8601 UTC, "" when no cool-down holds */
    char seen_at[OP_TIME_LEN];        /* the last lease or report */
};
struct db_rate_scopes {
    struct db_rate_scope *items;
    size_t n;
};
void db_rate_scopes_free(struct db_rate_scopes *l);
enum status db_rate_status(struct db *db, struct db_rate_scopes *out, struct err *e);

/* Consumer registry for `tmdbq status` (table tmdbq_consumers). register upserts this
 * consumer's row: host, pid, started_at and last_seen_at now, counters zero. heartbeat
 * sets last_seen_at now and the counters (totals since start, not deltas); ST_NOT_FOUND
 * when the row is gone (e.g. removed as stale): register again. unregister deletes the
 * row (no error when there is none) on a clean exit. */
/* node: the RabbitMQ node ("host:port") the consumer's deliveries come from, NULL when
 * it is not connected. */
enum status db_consumer_register(struct db *db, const char *consumer_id, const char *host,
                                 int pid, const char *node, struct err *e);
enum status db_consumer_heartbeat(struct db *db, const char *consumer_id,
                                  int64_t processed, int64_t failed, int in_flight,
                                  const char *node, struct err *e);
enum status db_consumer_unregister(struct db *db, const char *consumer_id, struct err *e);

/* Whether tmdbq_control says paused (false when its row is missing). */
enum status db_is_paused(struct db *db, bool *paused, struct err *e);

/* After db_session_set: the user's failed operations whose error_kind is "credentials" go
 * back to pending exactly as `tmdbq retry` sends one back (tmdbq_retry_credentials and
 * tmdbq_requeue_failed, migration 010: under their lists' locks, a full retry budget,
 * unpublished, a new seq, so a revived operation takes effect after everything of its
 * list enqueued before it), in one statement; their ids are returned in seq order in *out
 * (out->ids NULL when none; free with db_ids_free, which accepts an empty list) so the
 * caller can publish them and db_mark_published. */
struct db_ids {
    char (*ids)[37];
    size_t n;
};
void db_ids_free(struct db_ids *l);
enum status db_retry_credential_failures(struct db *db, int32_t user_id,
                                         struct db_ids *out, struct err *e);

#endif
