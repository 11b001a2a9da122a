/*
 * batch: single enqueues of concurrent requests, written together.
 *
 * Each POST /v1/operations of one operation costs PostgreSQL a transaction (insert under
 * the list's lock, commit), RabbitMQ a confirmed publish and PostgreSQL another commit
 * (marked published). Requests that arrive while others are being written wait a moment
 * and go together in the next round: one tmdbq_enqueue_stream call for all of them, which
 * is one insert statement, one round of pipelined publisher confirms and one update, the
 * same path as `tmdbq enqueue --file` and with the same result per operation (a
 * duplicate, an invalid one, the row). Group commit, done where the requests meet: a
 * lone request goes at once, alone; under load the rounds grow and the cost per request
 * falls.
 *
 * Nothing is held back on a timer. A request waits only while BATCH_ROUNDS rounds are
 * already running; whoever finds room leads the next round with everything waiting, in
 * arrival order, at most BATCH_MAX operations.
 */
#ifndef TMDBQ_HTTP_BATCH_H
#define TMDBQ_HTTP_BATCH_H

#include <stdbool.h>

#include "err.h"

/* Operations per round: tmdbq_enqueue_stream's own batch. */
#define BATCH_MAX 1000
/* Rounds running at once, each on its own database handle: while one waits on
 * PostgreSQL's commit, another waits on RabbitMQ's confirms. */
#define BATCH_ROUNDS 2

struct pool;
struct batch;

enum status batch_new(struct pool *pool, struct batch **out, struct err *e);
/* Every enqueue must have returned. Accepts NULL. */
void batch_free(struct batch *b);

/* What happened to one operation. */
struct batch_result {
    int rc;         /* TMDBQ_OK, TMDBQ_EINVAL (this operation is invalid), or
                       TMDBQ_ESERVICE (PostgreSQL failed, or no handle came free) */
    bool duplicate; /* TMDBQ_OK: an identical pending operation was returned */
    char id[40];    /* TMDBQ_OK: the operation's id */
    char *json;     /* TMDBQ_OK: the operation as tmdbq_op_to_json prints it (malloc'd;
                       NULL when out of memory) */
    char *error;    /* otherwise: why, for people (malloc'd; NULL when out of memory) */
};
/* Free the strings of r (not r). */
void batch_result_cleanup(struct batch_result *r);

/* Enqueue the operation that line holds (one JSON object on one line, as `tmdbq enqueue
 * --file` reads it) in a round with whatever else is waiting, and fill *out. Blocks
 * until its round is written (a few round trips; more while BATCH_ROUNDS rounds are
 * ahead of it, and up to the pool's wait for a handle). Any thread, any number at once.
 */
void batch_enqueue(struct batch *b, const char *line, struct batch_result *out);

#endif
