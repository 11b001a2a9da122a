/*
 * outbox: publish ids with the broker's confirm, then mark them published (see
 * outbox.h). The mark follows the confirm, never the other way round: a row marked
 * published must have a message.
 */
#include "outbox.h"

#include <stdlib.h>
#include <string.h>

enum status outbox_publish(struct mq *mq, struct db *db, const char *const *ids, size_t n,
                           int64_t delay_ms, bool *confirmed, struct outbox_mark *mark,
                           struct err *e)
{
    bool *ok = confirmed, *own = NULL;
    const char **done = NULL;
    size_t ndone = 0;
    enum status st = ST_OK;
    struct outbox_mark m = {ST_OK, {0}};

    if (n == 0)
        goto out;
    if (ok == NULL) {
        ok = own = calloc(n, sizeof *own);
        if (own == NULL) {
            st = err_set(e, ST_NOMEM, "out of memory");
            goto out;
        }
    }
    memset(ok, 0, n * sizeof *ok);
    if (delay_ms > 0)
        st = mq_publish_retries(mq, ids, n, delay_ms, ok, e);
    else
        st = mq_publish_work(mq, ids, n, ok, e);
    done = calloc(n, sizeof *done);
    if (done == NULL) {
        m.st = err_set(&m.err, ST_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (ok[i])
            done[ndone++] = ids[i];
    }
    if (ndone == 0)
        goto out;
    if (db == NULL)
        m.st = err_set(&m.err, ST_DB, "PostgreSQL is away");
    else
        m.st = db_mark_published(db, done, ndone, &m.err);
out:
    if (mark != NULL)
        *mark = m;
    free(done);
    free(own);
    return st;
}
