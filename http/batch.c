/*
 * batch: rounds of single enqueues (see batch.h).
 *
 * The waiting requests form a FIFO list under one mutex. A request adds itself, then
 * loops: when its operation is done it returns; when operations wait and fewer than
 * BATCH_ROUNDS rounds run, it takes up to BATCH_MAX of them (its own, or others' that
 * came before it) and writes them as one round, outside the mutex; otherwise it sleeps
 * on the condition variable until a round ends. Every request is served by some round,
 * since whoever ends a round wakes the others and one of them leads the next.
 */
#include "batch.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "tmdbq.h"

struct job {
    const char *line;
    struct batch_result *res;
    bool done;
    struct job *next;
};

struct batch {
    struct pool *pool;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a round ended */
    struct job *head, *tail;
    int running;
};

enum status batch_new(struct pool *pool, struct batch **out, struct err *e)
{
    struct batch *b = calloc(1, sizeof *b);

    *out = NULL;
    if (b == NULL)
        return err_set(e, ST_NOMEM, "out of memory");
    b->pool = pool;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    *out = b;
    return ST_OK;
}

void batch_free(struct batch *b)
{
    if (b == NULL)
        return;
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

void batch_result_cleanup(struct batch_result *r)
{
    free(r->json);
    free(r->error);
    r->json = NULL;
    r->error = NULL;
}

static void fail(struct batch_result *r, int rc, const char *why)
{
    r->rc = rc;
    free(r->error);
    r->error = strdup(why);
}

/* The stream reports line N of the round: job N-1. */
struct round {
    struct job **jobs;
    size_t n;
};

static void on_line(void *ctx, const struct tmdbq_line_result *lr)
{
    struct round *rd = ctx;
    struct batch_result *r;

    if (lr->line < 1 || (size_t)lr->line > rd->n)
        return;
    r = rd->jobs[lr->line - 1]->res;
    r->rc = lr->status;
    if (lr->status == TMDBQ_OK) {
        r->duplicate = tmdbq_op_duplicate(lr->op);
        snprintf(r->id, sizeof r->id, "%s", tmdbq_op_id(lr->op));
        r->json = tmdbq_op_to_json(lr->op);
    } else {
        r->error = strdup(lr->error != NULL ? lr->error : "invalid operation");
    }
}

/* Write one round: the lines joined by newlines, through one tmdbq_enqueue_stream. */
static void run_round(struct batch *b, struct job **jobs, size_t n)
{
    struct round rd = {jobs, n};
    struct tmdbq *h = NULL;
    struct err e = {0};
    char *text = NULL;
    size_t len = 0;
    FILE *f = NULL;
    bool fresh, ok;
    int rc;

    for (size_t i = 0; i < n; i++)
        jobs[i]->res->rc = -1; /* not reported yet */
    f = open_memstream(&text, &len);
    ok = f != NULL;
    for (size_t i = 0; ok && i < n; i++)
        ok = fprintf(f, "%s\n", jobs[i]->line) >= 0;
    if (f != NULL && fclose(f) != 0)
        ok = false;
    f = NULL;
    if (!ok) {
        for (size_t i = 0; i < n; i++)
            fail(jobs[i]->res, TMDBQ_ESERVICE, "out of memory");
        goto out;
    }
    if (pool_get(b->pool, &h, &fresh, &e) != ST_OK) {
        for (size_t i = 0; i < n; i++)
            fail(jobs[i]->res, TMDBQ_ESERVICE, e.msg);
        goto out;
    }
    f = fmemopen(text, len, "r");
    if (f == NULL) {
        pool_put(b->pool, h, false);
        for (size_t i = 0; i < n; i++)
            fail(jobs[i]->res, TMDBQ_ESERVICE, "out of memory");
        goto out;
    }
    rc = tmdbq_enqueue_stream(h, f, on_line, &rd);
    /* A failed round reports none of its lines: each gets the round's error. */
    for (size_t i = 0; i < n; i++) {
        if (jobs[i]->res->rc == -1)
            fail(jobs[i]->res, TMDBQ_ESERVICE,
                 rc == TMDBQ_ESERVICE ? tmdbq_errmsg(h)
                                      : "the operation was not reported");
    }
    pool_put(b->pool, h, rc == TMDBQ_ESERVICE);
out:
    if (f != NULL)
        fclose(f);
    free(text);
}

void batch_enqueue(struct batch *b, const char *line, struct batch_result *out)
{
    struct job self = {line, out, false, NULL};
    struct job *round[BATCH_MAX];
    size_t n;

    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&b->mu);
    if (b->tail != NULL)
        b->tail->next = &self;
    else
        b->head = &self;
    b->tail = &self;
    while (!self.done) {
        if (b->head == NULL || b->running >= BATCH_ROUNDS) {
            pthread_cond_wait(&b->cv, &b->mu);
            continue;
        }
        for (n = 0; n < BATCH_MAX && b->head != NULL; n++) {
            round[n] = b->head;
            b->head = b->head->next;
        }
        if (b->head == NULL)
            b->tail = NULL;
        b->running++;
        pthread_mutex_unlock(&b->mu);

        run_round(b, round, n);

        pthread_mutex_lock(&b->mu);
        for (size_t i = 0; i < n; i++)
            round[i]->done = true;
        b->running--;
        pthread_cond_broadcast(&b->cv);
    }
    pthread_mutex_unlock(&b->mu);
}
