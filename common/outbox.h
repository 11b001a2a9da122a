/*
 * outbox: the row is its own outbox. Publishing an operation's id is one step for every
 * program (the library's enqueue, the consumer's retries and hand-ons, the reaper's
 * relay): publish to the broker with its confirm, then mark in PostgreSQL what the broker
 * confirmed (tmdbq_mark_published, migration 010).
 *
 * Marking is best effort by design: a confirmed publish left unmarked only makes the
 * reaper's relay publish the id once more, a duplicate message that a claim drops.
 */
#ifndef TMDBQ_OUTBOX_H
#define TMDBQ_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "err.h"
#include "mq.h"

/* How the marking went: st ST_OK, or the failure in err (ST_DB: the caller decides
 * whether its connection is lost). */
struct outbox_mark {
    enum status st;
    struct err err;
};

/* Publish ids[0..n) to the work queue (delay_ms 0) or to the delayed-retry queue of
 * delay_ms (one of the policy's delays), waiting for the broker's confirms; confirmed
 * (caller's array of n, may be NULL) says which the broker took. Then mark those
 * published through db (NULL: not marked, mark->st ST_DB). Returns the publish's status:
 * ST_OK when all were confirmed; ST_MQ when the broker failed (close the handle and keep
 * the rest); another status for an id the broker refused. mark may be NULL. Blocks up to
 * the broker handle's timeout and one statement. */
enum status outbox_publish(struct mq *mq, struct db *db, const char *const *ids, size_t n,
                           int64_t delay_ms, bool *confirmed, struct outbox_mark *mark,
                           struct err *e);

#endif
