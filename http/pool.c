/*
 * pool: bounded libtmdbq handles for the request threads (see pool.h).
 *
 * A mutex, a condition variable on the monotonic clock, and a stack of idle handles.
 * Opening a handle (a PostgreSQL connect, bounded by TMDBQ_CONNECT_TIMEOUT) happens
 * outside the mutex with its place reserved, so one slow connect never holds up the
 * requests that only need an idle handle.
 */
#include "pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tmdbq.h"

struct pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int size;
    int64_t wait_ms;
    struct tmdbq **idle; /* size places */
    int n_idle;
    int open; /* idle, lent out, or being opened */
    int busy;
    int64_t waits, timeouts, opened;
};

enum status pool_new(int size, int64_t wait_ms, struct pool **out, struct err *e)
{
    struct pool *p = calloc(1, sizeof *p);
    pthread_condattr_t attr;

    *out = NULL;
    if (p == NULL || (p->idle = calloc((size_t)size, sizeof *p->idle)) == NULL) {
        free(p);
        return err_set(e, ST_NOMEM, "out of memory");
    }
    p->size = size;
    p->wait_ms = wait_ms;
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &attr);
    pthread_condattr_destroy(&attr);
    *out = p;
    return ST_OK;
}

void pool_free(struct pool *p)
{
    if (p == NULL)
        return;
    for (int i = 0; i < p->n_idle; i++)
        tmdbq_close(p->idle[i]);
    free(p->idle);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

static void deadline_after(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

enum status pool_get(struct pool *p, struct tmdbq **out, bool *fresh, struct err *e)
{
    struct timespec deadline;
    struct tmdbq *h = NULL;
    bool waited = false;
    int rc;

    *out = NULL;
    *fresh = false;
    deadline_after(&deadline, p->wait_ms);
    pthread_mutex_lock(&p->mu);
    while (p->n_idle == 0 && p->open >= p->size) {
        if (!waited) {
            p->waits++;
            waited = true;
        }
        rc = pthread_cond_timedwait(&p->cv, &p->mu, &deadline);
        if (rc == ETIMEDOUT && p->n_idle == 0 && p->open >= p->size) {
            p->timeouts++;
            pthread_mutex_unlock(&p->mu);
            return err_set(e, ST_TIMEOUT,
                           "all %d database handles stayed busy for %lldms; try again",
                           p->size, (long long)p->wait_ms);
        }
    }
    if (p->n_idle > 0) {
        *out = p->idle[--p->n_idle];
        p->busy++;
        pthread_mutex_unlock(&p->mu);
        return ST_OK;
    }
    p->open++; /* the place is ours while we connect */
    p->opened++;
    pthread_mutex_unlock(&p->mu);

    rc = tmdbq_open(NULL, NULL, &h);
    if (rc != TMDBQ_OK) {
        enum status st =
            err_set(e, rc == TMDBQ_EINVAL ? ST_INVALID : ST_DB, "%s", tmdbq_errmsg(h));

        tmdbq_close(h);
        pthread_mutex_lock(&p->mu);
        p->open--;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
        return st;
    }
    pthread_mutex_lock(&p->mu);
    p->busy++;
    pthread_mutex_unlock(&p->mu);
    *out = h;
    *fresh = true;
    return ST_OK;
}

void pool_put(struct pool *p, struct tmdbq *h, bool broken)
{
    if (h == NULL)
        return;
    if (broken)
        tmdbq_close(h); /* outside the mutex: closing may wait on the network */
    pthread_mutex_lock(&p->mu);
    p->busy--;
    if (broken)
        p->open--;
    else
        p->idle[p->n_idle++] = h;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void pool_stats(struct pool *p, struct pool_stats *out)
{
    pthread_mutex_lock(&p->mu);
    out->size = p->size;
    out->open = p->open;
    out->busy = p->busy;
    out->waits = p->waits;
    out->timeouts = p->timeouts;
    out->opened = p->opened;
    pthread_mutex_unlock(&p->mu);
}
