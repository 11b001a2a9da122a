/*
 * consumer: the supervisor (see consumer.h).
 *
 * Signals are handled the Redis way: the handler sets a volatile sig_atomic_t and nothing
 * else, or on the second signal calls _exit. Worker threads block SIGINT and SIGTERM, so
 * the main thread takes them and the workers' blocking calls are never interrupted. The
 * main thread wakes every 100 ms to turn the flag into the workers' atomic stop flags, to
 * run the drain check and to watch the grace period.
 *
 * Stop modes:
 *   stopping  workers take no new delivery, close their consuming channel (what was
 *             prefetched returns to the queue) and finish the one in flight;
 *   aborting  the grace period is over: workers stop waiting for services; one still
 *             inside a TMDB call is abandoned (its row's lease expires, the row is tried
 *             again by another consumer).
 */
#include "consumer.h"
#include "clock.h"
#include "sig.h"

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backoff.h"
#include "log.h"
#include "mq.h"
#include "reconnect.h"
#include "worker.h"

#define TICK_MS 100
#define DRAIN_CHECK_MS 300
/* Consecutive idle observations that make a drain done. */
#define DRAIN_IDLE_NEEDED 2
/* After the grace period, how long workers get to leave their waits. */
#define ABORT_MS 1000
/* More distinct retry delays than any policy cfg accepts can have. */
#define DELAYS_MAX 128

/* The drain check's own broker handle and the queues it watches. */
struct drain {
    const struct cfg *cfg;
    const struct backoff_policy *policy;
    struct mq *mq;
    struct reconnect rc;
    char suffixes[DELAYS_MAX + 1][48]; /* "work", "retry.30s", ... */
    size_t n;
    int idle_seen;
};

static void drain_init(struct drain *d, const struct cfg *cfg,
                       const struct backoff_policy *policy)
{
    int64_t delays[DELAYS_MAX];
    size_t n;

    memset(d, 0, sizeof *d);
    d->cfg = cfg;
    d->policy = policy;
    reconnect_reset(&d->rc);
    snprintf(d->suffixes[d->n++], sizeof d->suffixes[0], "work");
    n = backoff_distinct_delays(policy, delays, DELAYS_MAX);
    if (n > DELAYS_MAX)
        n = DELAYS_MAX;
    for (size_t i = 0; i < n; i++)
        mq_retry_suffix(delays[i], d->suffixes[d->n++], sizeof d->suffixes[0]);
}

/* One observation: true when every watched queue is empty. false when it is not, or when
 * the broker cannot say (then the handle reconnects with backoff). */
static bool drain_queues_empty(struct drain *d)
{
    struct err e = {0};
    uint32_t messages = 0, consumers = 0;

    if (d->mq == NULL) {
        if (!reconnect_due(&d->rc))
            return false;
        if (mq_open(d->cfg->amqp_url, d->cfg->amqp_prefix, d->policy,
                    d->cfg->connect_timeout_ms, &d->mq, &e) != ST_OK) {
            log_debug("drain check: %s", e.msg);
            reconnect_failed(&d->rc);
            return false;
        }
        reconnect_reset(&d->rc);
    }
    for (size_t i = 0; i < d->n; i++) {
        if (mq_queue_depth(d->mq, d->suffixes[i], &messages, &consumers, &e) != ST_OK) {
            log_debug("drain check: %s", e.msg);
            mq_close(d->mq);
            d->mq = NULL;
            return false;
        }
        if (messages > 0)
            return false;
    }
    return true;
}

static bool any_busy(struct worker **w, int n)
{
    for (int i = 0; i < n; i++) {
        if (worker_busy(w[i]))
            return true;
    }
    return false;
}

static bool all_finished(struct worker **w, int n)
{
    for (int i = 0; i < n; i++) {
        if (!worker_finished(w[i]))
            return false;
    }
    return true;
}

/* Drain: idle means no worker holds anything and every queue is empty, seen
 * DRAIN_IDLE_NEEDED times in a row: one look could fall between a message leaving a queue
 * and a worker taking it. */
static bool drain_done(struct drain *d, struct worker **w, int n)
{
    bool idle = !any_busy(w, n) && drain_queues_empty(d) && !any_busy(w, n);

    d->idle_seen = idle ? d->idle_seen + 1 : 0;
    return d->idle_seen >= DRAIN_IDLE_NEEDED;
}

static void fill_identity(struct worker_shared *sh, const struct consumer_opts *o)
{
    if (gethostname(sh->host, sizeof sh->host) != 0 || sh->host[0] == '\0')
        snprintf(sh->host, sizeof sh->host, "unknown");
    sh->host[sizeof sh->host - 1] = '\0';
    sh->pid = (int)getpid();
    /* The pid makes ids unique per process even when two consumers are started with the
     * same --id: a claim by our own id is taken for one whose reply was lost (see
     * db_claim), so two live processes must never share one. */
    if (o->id != NULL)
        snprintf(sh->id_prefix, sizeof sh->id_prefix, "%s:%d", o->id, sh->pid);
    else
        snprintf(sh->id_prefix, sizeof sh->id_prefix, "%s:%d", sh->host, sh->pid);
}

/* Start every worker with SIGINT and SIGTERM blocked, so they inherit that mask. */
static enum status start_workers(struct worker **w, int n, struct err *e)
{
    sigset_t block, old;
    enum status st = ST_OK;

    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    for (int i = 0; i < n && st == ST_OK; i++)
        st = worker_start(w[i], e);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return st;
}

enum status consumer_run(const struct cfg *cfg, const struct consumer_opts *o,
                         bool *abandoned, struct err *e)
{
    struct worker_shared *sh = NULL;
    struct worker *workers[CONSUMER_CONCURRENCY_MAX] = {0};
    struct drain drain;
    int n = o->once ? 1 : o->concurrency;
    int64_t grace_end = 0, abort_end = 0, next_drain = 0;
    bool stopping = false, aborting = false;
    enum status st = ST_OK;
    char grace[32];

    *abandoned = false;
    if (n < 1 || n > CONSUMER_CONCURRENCY_MAX)
        return err_set(e, ST_INVALID, "concurrency must be 1 to %d",
                       CONSUMER_CONCURRENCY_MAX);
    sh = calloc(1, sizeof *sh);
    if (sh == NULL)
        return err_set(e, ST_NOMEM, "out of memory");
    sh->cfg = cfg;
    sh->policy = backoff_policy_of(cfg);
    /* --once takes one delivery: prefetching more would only bounce them back. */
    sh->prefetch = o->once ? 1 : o->prefetch;
    sh->once = o->once;
    atomic_init(&sh->stopping, false);
    atomic_init(&sh->aborting, false);
    atomic_init(&sh->db_down, false);
    atomic_init(&sh->mq_down, false);
    atomic_init(&sh->db_failing, false);
    atomic_init(&sh->schema_missing, false);
    atomic_init(&sh->paused, false);
    pthread_mutex_init(&sh->faults_lock, NULL);
    fill_identity(sh, o);
    st = rate_scope_new(cfg, sh->host, &sh->rate, e);
    if (st == ST_OK)
        st = metrics_new(&sh->metrics, e);
    if (st != ST_OK)
        goto out;
    drain_init(&drain, cfg, &sh->policy);
    cfg_format_duration(o->grace_ms, grace, sizeof grace);

    for (int i = 0; i < n; i++) {
        st = worker_new(sh, i + 1, &workers[i], e);
        if (st != ST_OK)
            goto out;
    }
    st = start_workers(workers, n, e);
    if (st != ST_OK) {
        /* The ones that did start must not outlive this call. */
        atomic_store(&sh->stopping, true);
        atomic_store(&sh->aborting, true);
        for (int i = 0; i < n; i++)
            worker_join(workers[i]);
        goto out;
    }

    for (;;) {
        int64_t now;

        clock_sleep_ms(TICK_MS);
        now = clock_now_ms();
        if (all_finished(workers, n))
            break;
        if (!stopping && sig_stop_requested()) {
            log_info("stopping: finishing the work in flight (grace %s; a second signal "
                     "exits at once)",
                     grace);
            stopping = true;
        }
        if (!stopping && o->drain && now >= next_drain) {
            next_drain = now + DRAIN_CHECK_MS;
            if (drain_done(&drain, workers, n)) {
                log_info("drained: the work and retry queues of %s are empty and nothing "
                         "is in flight",
                         cfg->amqp_prefix);
                stopping = true;
            }
        }
        if (stopping && grace_end == 0) {
            grace_end = now + o->grace_ms;
            atomic_store(&sh->stopping, true);
        }
        if (stopping && !aborting && now >= grace_end) {
            log_warn("the grace period (%s) is over: abandoning the work still in flight "
                     "(its lease expires and it is tried again)",
                     grace);
            aborting = true;
            abort_end = now + ABORT_MS;
            atomic_store(&sh->aborting, true);
        }
        if (aborting && now >= abort_end)
            break;
    }

    for (int i = 0; i < n; i++) {
        if (worker_finished(workers[i])) {
            worker_join(workers[i]);
            worker_free(workers[i]);
        } else {
            *abandoned = true;
        }
        workers[i] = NULL;
    }
    mq_close(drain.mq);
    if (*abandoned)
        return ST_OK; /* sh stays: abandoned threads still read it */
    rate_free(sh->rate);
    metrics_free(sh->metrics);
    pthread_mutex_destroy(&sh->faults_lock);
    free(sh);
    return ST_OK;

out:
    for (int i = 0; i < n; i++)
        worker_free(workers[i]);
    rate_free(sh->rate);
    metrics_free(sh->metrics);
    pthread_mutex_destroy(&sh->faults_lock);
    free(sh);
    return st;
}
