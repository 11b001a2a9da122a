/*
 * worker: one consumer thread. It owns a PostgreSQL connection, two RabbitMQ handles (one
 * consuming the work queue, one publishing retries and hand-ons) and a TMDB client, none
 * shared, and runs the loop: take a delivery, claim its row, call TMDB, record the
 * outcome, publish what follows from it, ack.
 *
 * A worker never gives up because a service is down: it closes the broken handle and
 * reconnects with backoff (100 ms doubling to 5 s). A statement that fails on a good
 * PostgreSQL connection (a missing schema, a permission) backs off the same way without
 * reconnecting. It consumes only while PostgreSQL and both broker handles are up and no
 * such backoff runs, so prefetched messages are never stranded behind a dead service:
 * closing the consuming handle hands them back to the queue.
 */
#ifndef TMDBQ_CONSUMER_WORKER_H
#define TMDBQ_CONSUMER_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "backoff.h"
#include "cfg.h"
#include "err.h"
#include "metrics.h"
#include "outcome.h"
#include "rate.h"

/* What the supervisor and every worker share. The supervisor writes the flags; workers
 * read them at every step and in every wait, so a flag is seen within about 100 ms. */
struct worker_shared {
    const struct cfg *cfg;        /* borrowed, lives as long as the process */
    struct backoff_policy policy; /* from cfg */
    struct rate *rate;            /* the process's share of TMDB's request budget */
    struct metrics *metrics;      /* the process's counters, added to PostgreSQL */
    int prefetch;                 /* basic.qos per worker */
    bool once;                    /* handle at most one delivery, or none within 2 s */
    char id_prefix[300];          /* consumer ids are "<id_prefix>:<worker#>"; the prefix
                                     holds the pid, so ids are unique per process */
    char host[256];               /* for the consumer registry */
    int pid;
    atomic_bool stopping; /* take no more deliveries; finish the one in flight */
    atomic_bool aborting; /* the grace period is over: stop waiting for services */
    /* One warning per failure streak for the whole process, not one per worker and try:
     * set by the first worker that sees a service fail, cleared by the first that
     * reconnects. */
    atomic_bool db_down;
    atomic_bool mq_down;
    atomic_bool db_failing;     /* statements fail on a good connection */
    atomic_bool schema_missing; /* the consumer's schema is missing: run tmdbq migrate */
    atomic_bool paused;         /* the pause was logged */
    /* Deployment faults: one streak and one ERROR line per fault and minute for the whole
     * process, not per worker (see outcome.h), under faults_lock. */
    pthread_mutex_t faults_lock;
    struct outcome_faults faults;
};

struct worker;

/* Make worker number index (1-based) and its TMDB client; nothing connects yet.
 * ST_INVALID when the TMDB configuration is unusable, ST_NOMEM. *out is freed with
 * worker_free. */
enum status worker_new(struct worker_shared *sh, int index, struct worker **out,
                       struct err *e);

/* Start the worker's thread. The caller should have SIGINT and SIGTERM blocked, so the
 * thread inherits a mask in which only the main thread takes signals. */
enum status worker_start(struct worker *w, struct err *e);

/* Whether the worker holds something not yet finished: a delivery in flight, or ids it
 * still has to publish. Read by the supervisor's drain check; safe from any thread. */
bool worker_busy(const struct worker *w);

/* Whether the worker's thread has returned (then worker_join does not block). */
bool worker_finished(const struct worker *w);

/* Wait for the thread to return (only after worker_finished, or to block). */
void worker_join(struct worker *w);

/* Free a worker whose thread never started or has been joined; accepts NULL. */
void worker_free(struct worker *w);

#endif
