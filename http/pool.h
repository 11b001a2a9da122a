/*
 * pool: a bounded set of libtmdbq handles shared by the request threads.
 *
 * A libtmdbq handle (one PostgreSQL connection, and a RabbitMQ connection once it first
 * publishes) serves one thread at a time, so a request borrows one for the length of its
 * library call and gives it back. At most `size` handles exist; they are opened when
 * first needed, so the server starts (and answers /healthz with 503) while PostgreSQL is
 * still away. A request that finds every handle busy waits for one, at most `wait_ms`,
 * and then gets ST_TIMEOUT (the server answers 503): a burst beyond the pool queues for a
 * moment or is refused, it never opens more connections. A handle whose call failed with
 * a service error is closed instead of being put back: the next request opens a fresh
 * one, which is how the server rides out a PostgreSQL restart.
 */
#ifndef TMDBQ_HTTP_POOL_H
#define TMDBQ_HTTP_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct tmdbq;
struct pool;

/* A pool of at most size handles (tmdbq_open(NULL, NULL, ...): configuration from the
 * environment); none is opened yet. ST_NOMEM. */
enum status pool_new(int size, int64_t wait_ms, struct pool **out, struct err *e);

/* Close every handle; all must have been given back. Accepts NULL. */
void pool_free(struct pool *p);

/* Borrow a handle: an idle one, else a new one while fewer than size exist, else wait
 * for one to come back (at most wait_ms). *fresh says it was opened by this call.
 * ST_TIMEOUT: every handle stayed busy; ST_DB: opening one failed (e says why, without
 * secrets); ST_INVALID: the configuration in the environment is bad. Blocks. */
enum status pool_get(struct pool *p, struct tmdbq **out, bool *fresh, struct err *e);

/* Give h back; broken: it failed with a service error, close it instead. */
void pool_put(struct pool *p, struct tmdbq *h, bool broken);

/* Figures for /metrics. */
struct pool_stats {
    int size;         /* the bound */
    int open;         /* handles that exist */
    int busy;         /* of which lent out */
    int64_t waits;    /* requests that had to wait, since start */
    int64_t timeouts; /* requests refused after waiting wait_ms, since start */
    int64_t opened;   /* handles opened since start (reconnects included) */
};
void pool_stats(struct pool *p, struct pool_stats *out);

#endif
