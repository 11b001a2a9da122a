/*
 * consumer: the supervisor of tmdbq-consumer. It starts the worker threads, turns signals
 * into a stop, detects when a --drain run is done, and gives the work in flight a grace
 * period to finish before abandoning it.
 */
#ifndef TMDBQ_CONSUMER_CONSUMER_H
#define TMDBQ_CONSUMER_CONSUMER_H

#include <stdbool.h>
#include <stdint.h>

#include "cfg.h"
#include "err.h"

#define CONSUMER_CONCURRENCY_MAX 64
#define CONSUMER_PREFETCH_MAX 1000

struct consumer_opts {
    int concurrency;  /* worker threads, 1..CONSUMER_CONCURRENCY_MAX (1 with once) */
    int prefetch;     /* unacked deliveries per worker, 1..CONSUMER_PREFETCH_MAX */
    int64_t grace_ms; /* after a stop, how long the work in flight may take */
    bool drain;       /* stop once the work and retry queues are empty and nothing runs */
    bool once;        /* one worker, at most one delivery, or none within 2 s */
    const char *id;   /* consumer ids are "<id>:<pid>:<worker#>"; NULL: <id> is <host> */
};

/* Run the workers until a signal, a finished drain, or (once) the single delivery.
 * Blocks. ST_OK on a stop; *abandoned is then true when some worker was still busy when
 * the grace period ended: its thread still runs, so the caller must leave with _exit and
 * not clean up libraries under it. Other statuses (with e) when the workers could not be
 * set up (ST_INVALID for an unusable TMDB configuration, ST_NOMEM). Services being down
 * is not an error: workers reconnect until stopped. */
enum status consumer_run(const struct cfg *cfg, const struct consumer_opts *o,
                         bool *abandoned, struct err *e);

#endif
