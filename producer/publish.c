/*
 * publish: the outbox's second step, shared by every call that makes work.
 *
 * A row is committed first (PostgreSQL is the truth), then its id is published with a
 * publisher confirm, then the row is marked published. A broker that is down costs
 * nothing but a warning: the row stays unpublished and the reaper's relay publishes it.
 * Within one call the broker is given one chance (h->call.mq_down), so a call that
 * publishes several times does not wait out the connect timeout for each.
 */
#include "tmdbq_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mq.h"
#include "outbox.h"

enum status publish_ops(struct tmdbq *h, struct tmdbq_op *ops, size_t n)
{
    const char **ids = NULL;
    bool *confirmed = NULL;
    size_t *which = NULL;
    size_t m = 0, nconf = 0;
    struct err e = {0};
    struct outbox_mark mark;
    enum status st = ST_OK;

    if (n == 0 || h->call.mq_down)
        return ST_OK;
    ids = calloc(n, sizeof *ids);
    confirmed = calloc(n, sizeof *confirmed);
    which = calloc(n, sizeof *which);
    if (ids == NULL || confirmed == NULL || which == NULL) {
        st = err_set(&h->call.err, ST_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        /* A duplicate inside one batch names the same row twice: publish it once. */
        bool seen = false;
        for (size_t k = 0; k < m && ops[i].duplicate; k++)
            seen = seen || strcmp(ids[k], ops[i].op.id) == 0;
        if (ops[i].op.published || ops[i].op.status != OP_PENDING || seen)
            continue;
        ids[m] = ops[i].op.id;
        which[m++] = i;
    }
    if (m == 0)
        goto out;
    if (broker_connect(h, &e) != ST_OK)
        goto broker_down;
    if (outbox_publish(h->mq, h->db, ids, m, 0, confirmed, &mark, &e) != ST_OK) {
        mq_close(h->mq);
        h->mq = NULL;
    }
    for (size_t k = 0; k < m; k++) {
        ops[which[k]].op.published = confirmed[k];
        nconf += confirmed[k];
    }
    /* The broker has these ids now; a failure to record that only means the reaper may
     * publish them once more, which consumers shrug off. Not worth failing the call. */
    if (mark.st != ST_OK)
        log_warn("could not record %zu confirmed publish(es): %s", nconf, mark.err.msg);
    for (size_t i = 0; i < n; i++) {
        /* A duplicate later in the batch shares the row of the one just published. */
        for (size_t k = 0; k < m && ops[i].duplicate && !ops[i].op.published; k++)
            ops[i].op.published = confirmed[k] && strcmp(ids[k], ops[i].op.id) == 0;
    }
    if (nconf == m)
        goto out;
broker_down:
    h->call.mq_down = true;
    log_warn(
        "%zu operation(s) not published: %s; they are stored and stay pending, and the "
        "reaper will publish them",
        m - nconf, e.msg);
out:
    free(ids);
    free(confirmed);
    free(which);
    return st;
}

enum status publish_pending_ids(struct tmdbq *h, const char (*ids)[37], size_t n,
                                bool handon)
{
    struct tmdbq_op *ops;
    enum status st;

    if (n == 0)
        return ST_OK;
    st = call_calloc(h, n, sizeof *ops, (void **)&ops);
    if (st != ST_OK)
        return st;
    /* Only the ids matter to publish_ops; they are all pending. */
    for (size_t i = 0; i < n; i++) {
        snprintf(ops[i].op.id, sizeof ops[i].op.id, "%s", ids[i]);
        ops[i].op.status = OP_PENDING;
    }
    st = publish_ops(h, ops, n);
    for (size_t i = 0; i < n && st == ST_OK && handon; i++) {
        if (ops[i].op.published)
            log_info("published %s, which waited behind operation of its list", ids[i]);
    }
    free(ops);
    return st;
}

enum status publish_handon(struct tmdbq *h, const struct db_handon *next)
{
    return publish_pending_ids(h, next->ids, next->n, true);
}
