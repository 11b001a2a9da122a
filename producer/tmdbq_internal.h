/*
 * tmdbq_internal: what the files of libtmdbq share; not installed.
 *
 * The library is split by subsystem: tmdbq.c (the handle, the life of one call, the
 * operations), publish.c (the outbox's publish step), enqueue.c (one operation and bulk),
 * inspect.c (show, stats, pending, failed, sessions), control.c (retry, cancel, process,
 * wait, pause, resume), status.c, apply.c and history.c (the last hour); jsonout.c
 * builds the JSON they print.
 *
 * One lifecycle per public call: it starts with call_begin, which clears everything the
 * last call left in the handle (struct call_state), so no call can see a stale error or
 * a broker-down flag. Inside, every function returns an enum status and fills
 * h->call.err; the public int code is made once, on the way out, by public_code.
 * Nothing here is named tmdbq_*: those names are the exported API.
 */
#ifndef TMDBQ_INTERNAL_H
#define TMDBQ_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "db.h"
#include "db_control.h"
#include "err.h"
#include "op.h"
#include "tmdbq.h"

/* Operations per insert statement and per round of publisher confirms (a bulk enqueue,
 * tmdbq_process_all): large enough that round trips vanish, small enough that one batch
 * stays quick. */
#define BATCH_MAX 1000

/* What one public call leaves in the handle. call_begin clears all of it, so a field
 * added here is per-call by construction. */
struct call_state {
    struct err err; /* why the call failed, for tmdbq_errmsg */
    bool mq_down;   /* the broker failed during this call: do not wait on it again */
};

struct tmdbq {
    struct cfg cfg;
    struct db *db;
    struct mq *mq; /* opened when first needed (broker_connect) */
    struct call_state call;
};

struct tmdbq_op {
    struct op op;
    bool duplicate;
    bool from_enqueue; /* printed with "duplicate" (an enqueue's or an apply's answer) */
};

struct tmdbq_op_list {
    struct tmdbq_op *items;
    size_t n;
};

/* ---- tmdbq.c: the life of a call ---- */

/* Start a public call on h: clear its per-call state. Every public function that takes
 * a handle calls this first (tmdbq_errmsg, which reads that state, excepted). */
void call_begin(struct tmdbq *h);

/* n zeroed elements of size bytes into *items (NULL when n is 0; the caller frees):
 * ST_OK, or ST_NOMEM in h->call.err when out of memory. */
enum status call_calloc(struct tmdbq *h, size_t n, size_t size, void **items);

/* The public code (TMDBQ_OK, TMDBQ_ESERVICE, ...) of an internal status: the one
 * mapping, at the API's boundary. It is also the `tmdbq` command's exit status. */
int public_code(enum status st);

/* Open h->mq when it is not open. ST_MQ with e filled when the broker cannot be reached;
 * h->call.err is left alone, since a broker that is down is often not the call's
 * failure. */
enum status broker_connect(struct tmdbq *h, struct err *e);

/* The request as codec_request_build wants it, validated into out (caller cleans up with
 * op_request_cleanup). ST_INVALID with a message that names the field. */
enum status request_build(const struct tmdbq_request *req, struct op_request *out,
                          struct err *e);

/* ST_OK when user is a TMDB user id (1..INT32_MAX), else ST_INVALID in h->call.err. */
enum status check_user(struct tmdbq *h, int64_t user);

/* Wrap one row as a new tmdbq_op; the row's owned strings move into it (row is left
 * empty, and cleaned up on failure). */
enum status op_from_row(struct tmdbq *h, struct op *row, struct tmdbq_op **out);

/* Wrap rows as a new list; their owned strings move into it (rows is left empty, and
 * freed on failure). */
enum status list_from_db(struct tmdbq *h, struct db_ops *rows,
                         struct tmdbq_op_list **out);

/* ---- publish.c: the outbox's publish step ---- */

/* Publish the ops that still need it (pending and never confirmed), with publisher
 * confirms, and mark the confirmed ones published, in the rows and in op.published.
 * Broker trouble is a warning in the log, never an error (the rows are durable; the
 * reaper publishes them), and sets h->call.mq_down so the rest of the call does not
 * wait on the broker again. Fails only when out of memory. */
enum status publish_ops(struct tmdbq *h, struct tmdbq_op *ops, size_t n);

/* Publish a hand-on: the operations of a list that waited behind one that ended or was
 * cancelled (all pending), as publish_ops does. */
enum status publish_handon(struct tmdbq *h, const struct db_handon *next);
/* Publish the pending operations named by ids[0..n) (never published, or to be published
 * anew), as publish_ops does; handon: they are a hand-on, and each one published is
 * logged as such. */
enum status publish_pending_ids(struct tmdbq *h, const char (*ids)[37], size_t n,
                                bool handon);

/* ---- shared between subsystems ---- */

/* inspect.c: the counts per status, as tmdbq_stats gives them. */
enum status stats_read(struct tmdbq *h, struct tmdbq_stats *out);

/* control.c: the pause switch as the API shows it. */
void pause_state_from_db(const struct db_pause_state *in, struct tmdbq_pause_state *out);

#endif
