/*
 * metrics: a process's counters, and their flush into PostgreSQL (see metrics.h).
 *
 * The counters are plain arrays under one mutex: an outcome, an HTTP status (indexed by
 * the status itself, so there is nothing to look up or overflow) and a histogram bucket
 * are a few additions each. A flush swaps the arrays out under the mutex and sends only
 * the non-zero ones.
 */
#include "metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CODE_MAX 600 /* HTTP statuses 100..599; index 0 is "no answer" */
#define N_OUTCOMES 3

const char *const metrics_bucket_labels[METRICS_BUCKETS] = {
    "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30"};
const int64_t metrics_bucket_us[METRICS_BUCKETS] = {10000,   25000,    50000,   100000,
                                                    250000,  500000,   1000000, 2500000,
                                                    5000000, 10000000, 30000000};

static const char *const outcome_labels[N_OUTCOMES] = {"completed", "failed", "retry"};

struct counts {
    int64_t outcomes[N_OUTCOMES];
    int64_t codes[CODE_MAX];
    int64_t buckets[METRICS_BUCKETS + 1]; /* the last one is +Inf */
    int64_t sum_us;
    bool any;
};

struct metrics {
    pthread_mutex_t mu;
    struct counts c; /* since the last flush */
};

enum status metrics_new(struct metrics **out, struct err *e)
{
    struct metrics *m = calloc(1, sizeof *m);

    *out = NULL;
    if (m == NULL)
        return err_set(e, ST_NOMEM, "out of memory");
    pthread_mutex_init(&m->mu, NULL);
    *out = m;
    return ST_OK;
}

void metrics_free(struct metrics *m)
{
    if (m == NULL)
        return;
    pthread_mutex_destroy(&m->mu);
    free(m);
}

void metrics_count_outcome(struct metrics *m, enum db_outcome_kind kind)
{
    int i;

    if (m == NULL)
        return;
    switch (kind) {
    case DB_OUT_COMPLETED:
        i = 0;
        break;
    case DB_OUT_FAILED:
        i = 1;
        break;
    case DB_OUT_RETRY:
        i = 2;
        break;
    default:
        return;
    }
    pthread_mutex_lock(&m->mu);
    m->c.outcomes[i]++;
    m->c.any = true;
    pthread_mutex_unlock(&m->mu);
}

void metrics_count_tmdb_request(struct metrics *m, long http_status, int64_t duration_us)
{
    size_t code = http_status >= 100 && http_status < CODE_MAX ? (size_t)http_status : 0;
    size_t b = 0;

    if (m == NULL)
        return;
    if (duration_us < 0)
        duration_us = 0;
    while (b < METRICS_BUCKETS && duration_us > metrics_bucket_us[b])
        b++;
    pthread_mutex_lock(&m->mu);
    m->c.codes[code]++;
    m->c.buckets[b]++;
    m->c.sum_us += duration_us;
    m->c.any = true;
    pthread_mutex_unlock(&m->mu);
}

bool metrics_pending(struct metrics *m)
{
    bool any;

    pthread_mutex_lock(&m->mu);
    any = m->c.any;
    pthread_mutex_unlock(&m->mu);
    return any;
}

/* Put deltas that could not be sent back, on top of what was counted meanwhile. */
static void counts_add(struct counts *to, const struct counts *from)
{
    for (size_t i = 0; i < N_OUTCOMES; i++)
        to->outcomes[i] += from->outcomes[i];
    for (size_t i = 0; i < CODE_MAX; i++)
        to->codes[i] += from->codes[i];
    for (size_t i = 0; i <= METRICS_BUCKETS; i++)
        to->buckets[i] += from->buckets[i];
    to->sum_us += from->sum_us;
    to->any = to->any || from->any;
}

enum status metrics_flush(struct metrics *m, struct db *db, struct err *e)
{
    /* At most every outcome, every code, every bucket and the sum. */
    enum { MAX_ROWS = N_OUTCOMES + CODE_MAX + METRICS_BUCKETS + 2 };
    struct counts *taken = NULL;
    const char **names = NULL, **labels = NULL;
    int64_t *deltas = NULL;
    char(*codes)[8] = NULL;
    size_t n = 0;
    enum status st = ST_OK;

    taken = calloc(1, sizeof *taken);
    names = calloc(MAX_ROWS, sizeof *names);
    labels = calloc(MAX_ROWS, sizeof *labels);
    deltas = calloc(MAX_ROWS, sizeof *deltas);
    codes = calloc(CODE_MAX, sizeof *codes);
    if (taken == NULL || names == NULL || labels == NULL || deltas == NULL ||
        codes == NULL) {
        st = err_set(e, ST_NOMEM, "out of memory");
        goto out;
    }
    pthread_mutex_lock(&m->mu);
    *taken = m->c;
    memset(&m->c, 0, sizeof m->c);
    pthread_mutex_unlock(&m->mu);
    if (!taken->any)
        goto out;

    for (size_t i = 0; i < N_OUTCOMES; i++) {
        if (taken->outcomes[i] == 0)
            continue;
        names[n] = METRICS_OUTCOMES;
        labels[n] = outcome_labels[i];
        deltas[n++] = taken->outcomes[i];
    }
    for (size_t i = 0; i < CODE_MAX; i++) {
        if (taken->codes[i] == 0)
            continue;
        if (i == 0)
            snprintf(codes[i], sizeof codes[i], "%s", METRICS_CODE_NONE);
        else
            snprintf(codes[i], sizeof codes[i], "%zu", i);
        names[n] = METRICS_TMDB_REQUESTS;
        labels[n] = codes[i];
        deltas[n++] = taken->codes[i];
    }
    for (size_t i = 0; i <= METRICS_BUCKETS; i++) {
        if (taken->buckets[i] == 0)
            continue;
        names[n] = METRICS_TMDB_BUCKET;
        labels[n] = i < METRICS_BUCKETS ? metrics_bucket_labels[i] : "+Inf";
        deltas[n++] = taken->buckets[i];
    }
    if (taken->sum_us > 0) {
        names[n] = METRICS_TMDB_SUM_US;
        labels[n] = "";
        deltas[n++] = taken->sum_us;
    }
    st = db_metrics_add(db, names, labels, deltas, n, e);
    if (st != ST_OK) {
        pthread_mutex_lock(&m->mu);
        counts_add(&m->c, taken);
        pthread_mutex_unlock(&m->mu);
    }
out:
    free(taken);
    free(names);
    free(labels);
    free(deltas);
    free(codes);
    return st;
}
