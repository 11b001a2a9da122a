/*
 * worker: one consumer thread and its loop (see worker.h for the contract).
 *
 * The loop, per delivery: check the body names an operation (else dead-letter it), claim
 * the row, call TMDB, let outcome.c decide, record the decision, publish what follows
 * from it (the retry, or the list's next operation that a blocked delivery dropped), ack.
 * Only after the decision is recorded is the delivery acked, so a crash at any point
 * leaves either an unacked message or a row whose lease expires: nothing is lost.
 *
 * Main design choice: a worker holds its consuming channel open only while PostgreSQL and
 * the publishing channel are up. When either breaks, the consuming channel is closed
 * first, so its prefetched messages go back to the queue for a healthy worker (and are
 * visible to the drain check) instead of waiting behind a dead service. The one exception
 * is the delivery in flight once TMDB has been called: its outcome is kept and recorded
 * after reconnecting, never by calling TMDB again.
 *
 * A failed statement is not always a lost connection: a missing function or a refused
 * permission fails every try on a perfectly good one. db_connected tells them apart. A
 * lost connection is reconnected (at once the first time, then with backoff); an SQL
 * error keeps the connection and backs off (the consuming channel closed meanwhile, the
 * delivery requeued). Either way the backoff starts afresh only after a claim or finish
 * went through, never on a mere reconnect, so no failure can loop hot.
 */
#include "worker.h"
#include "clock.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "log.h"
#include "metrics.h"
#include "mq.h"
#include "op.h"
#include "outbox.h"
#include "outcome.h"
#include "rate.h"
#include "reconnect.h"
#include "tmdb.h"

#define WORKER_BACKLOG_MAX 256
/* Every wait is cut into slices this long, so a stop is seen within one. */
#define SLICE_MS 100
/* How long one wait for a delivery lasts: the stop flag is looked at in between. */
#define CONSUME_WAIT_MS 500
#define PAUSE_CHECK_MS 1000
#define HEARTBEAT_MS 5000
#define ONCE_IDLE_MS 2000
/* TMDB calls of one claim that may meet its rate limit before the operation is handed
 * back to the queue (no retry spent either way). */
#define RATE_TRIES_PER_CLAIM 10
/* The part of a rejected body that is shown in the log. */
#define BODY_SHOW_MAX 64

/* An id whose publish failed, kept to publish after reconnecting. */
struct backlog_item {
    char id[37];
    int64_t delay_ms; /* 0: the work queue; else the delayed-retry queue of this delay */
};

struct worker {
    struct worker_shared *sh;
    int index;
    char id[400]; /* consumer_id */
    pthread_t thread;
    bool started;
    atomic_bool busy;     /* a delivery in flight or a non-empty backlog */
    atomic_bool finished; /* the thread returned */

    struct tmdb_client *tmdb;
    struct db *db;
    struct mq *in;  /* consuming */
    struct mq *out; /* publishing */
    /* For PostgreSQL db_rc also holds back statements on a live connection after an SQL
     * error. */
    struct reconnect db_rc, in_rc, out_rc;
    bool announced; /* the "ready" line was logged */

    bool paused;
    int64_t next_pause_check_ms;
    int64_t next_heartbeat_ms;
    int64_t processed; /* outcomes recorded */
    int64_t failed;    /* of which failed */

    struct backlog_item backlog[WORKER_BACKLOG_MAX];
    size_t n_backlog;
    /* Ids to publish before the next acks go (see defer_publish). */
    struct backlog_item to_publish[WORKER_BACKLOG_MAX];
    size_t n_to_publish;

    /* The next delivery, taken from the consuming channel while the one before was being
     * finished, and claimed in the same transaction when claimed is set (see
     * finish_outcome). gen is the channel's in_gen when it was taken: a channel closed
     * since gave it back to the queue, and its tag means nothing on another channel. */
    struct {
        bool valid;
        bool claimed;
        unsigned gen;
        struct mq_delivery d;
        struct db_claim_answer a;
        int64_t claimed_us;
        unsigned db_gen;
    } ahead;
    unsigned in_gen;    /* raised whenever the consuming channel is closed */
    int64_t claimed_us; /* when the claim in hand was answered, clock_wall_us */
    /* db_gen is raised whenever the PostgreSQL connection is lost; claim_db_gen is its
     * value when the claim in hand was taken, and sent_in_claim counts the requests sent
     * to TMDB under it (see pace_before). */
    unsigned db_gen, claim_db_gen;
    int sent_in_claim;
    bool settle_stale; /* the delivery in hand came from a channel since closed */
    /* Acks held back to be sent as one (see settle): how many, and the last tag. */
    int acks_held;
    uint64_t ack_tag;
    /* Outcomes committed on this connection without waiting for the disk since its last
     * commit that waited (see finish_outcome): the held acks wait for durable_now. */
    int not_durable;

    /* --once: give up waiting for a delivery at this time; 0 until consuming starts */
    int64_t once_deadline_ms;
    bool once_done;
};

/* Whether to stop what the worker is doing. holding: it keeps an outcome that must be
 * recorded, which only the end of the grace period gives up. */
static bool should_quit(const struct worker *w, bool holding)
{
    if (atomic_load(&w->sh->aborting))
        return true;
    return !holding && atomic_load(&w->sh->stopping);
}

/* Sleep until until_ms or until should_quit says so. */
static void wait_until(const struct worker *w, int64_t until_ms, bool holding)
{
    int64_t left;

    while (!should_quit(w, holding)) {
        left = until_ms - clock_now_ms();
        if (left <= 0)
            return;
        clock_sleep_ms(left < SLICE_MS ? left : SLICE_MS);
    }
}

/* Wait until rc's next connection attempt is due; false when the worker should quit
 * first. */
static bool attempt_due(const struct worker *w, const struct reconnect *rc, bool holding)
{
    while (!should_quit(w, holding)) {
        if (clock_now_ms() >= rc->next_ms)
            return true;
        wait_until(w, rc->next_ms, holding);
    }
    return false;
}

static void update_busy(struct worker *w, bool in_flight)
{
    /* Held acks do not count: their operations are done, and the close of the
     * consuming channel sends them. Ids still to publish do: a retry among them is work
     * that comes back. */
    atomic_store(&w->busy,
                 in_flight || w->n_backlog > 0 || w->n_to_publish > 0 || w->ahead.valid);
}

/* ---- connections ------------------------------------------------------------------- */

/* A service failed. The first worker to see it in a streak warns; the others, and later
 * tries, only say so at debug level. A failed connect waits the backoff before the next
 * try; a connection lost in use is retried at once (a server restart usually means the
 * first reconnect fails anyway, and then the backoff applies). */
static void service_failed(struct worker *w, atomic_bool *down, struct reconnect *rc,
                           bool connecting, const struct err *e)
{
    if (!atomic_exchange(down, true))
        log_warn("%s (reconnecting with backoff)", e->msg);
    else
        log_debug("worker %d: %s", w->index, e->msg);
    if (connecting)
        reconnect_failed(rc);
    else
        rc->next_ms = 0;
}

static void service_ok(atomic_bool *down, struct reconnect *rc, const char *what)
{
    if (atomic_exchange(down, false))
        log_info("%s answers again", what);
    reconnect_reset(rc);
}

static void flush_publishes(struct worker *w);
static void db_failed(struct worker *w, const struct err *e);

/* The RabbitMQ node this worker's deliveries come from, for the registry. */
static const char *node_of(const struct worker *w)
{
    return w->in != NULL ? mq_where(w->in) : NULL;
}

/* Report to the consumer registry: the heartbeat, or a registration should the reaper
 * have removed the row as stale while we were away. Either writes a row, and commits as
 * the session says (waiting for the disk, by default). */
static enum status report(struct worker *w, bool in_flight, struct err *e)
{
    enum status st = db_consumer_heartbeat(w->db, w->id, w->processed, w->failed,
                                           in_flight ? 1 : 0, node_of(w), e);

    if (st == ST_NOT_FOUND) {
        memset(e, 0, sizeof *e);
        st = db_consumer_register(w->db, w->id, w->sh->host, w->sh->pid, node_of(w), e);
    }
    return st;
}

/* Make every outcome this worker committed without waiting durable, before their acks
 * go: one commit that waits for the disk on the same connection, which flushes WAL up to
 * itself and so every commit before it. That commit is the worker's report to the
 * registry (it writes a row, so the commit is logged and waited for). false when it
 * failed: the held deliveries must then go back unacked. */
static bool durable_now(struct worker *w)
{
    struct err e = {0};
    enum status st = ST_DB;

    if (w->not_durable == 0)
        return true;
    if (w->db != NULL)
        st = report(w, false, &e);
    w->not_durable = 0;
    if (st == ST_OK) {
        w->next_heartbeat_ms = clock_now_ms() + HEARTBEAT_MS;
        return true;
    }
    /* None of the held acks may go, and the channel must close (a later ack of a higher
     * tag would cover them): the caller closes it. */
    w->acks_held = 0;
    if (w->db != NULL)
        db_failed(w, &e);
    return false;
}

static void close_in(struct worker *w)
{
    struct err e = {0};
    bool ack = w->in != NULL && w->acks_held > 0 && durable_now(w);

    /* What follows from the held deliveries is published (or kept) before they are
     * acked, and the held acks go before the closing (should that fail, the closing
     * hands their deliveries back, and each finds its operation done). When their
     * outcomes could not be made durable they go back unacked. */
    flush_publishes(w);
    if (ack && w->in != NULL)
        (void)mq_ack_upto(w->in, w->ack_tag, &e);
    w->acks_held = 0;
    w->not_durable = 0;
    mq_close(w->in);
    w->in = NULL;
    w->in_gen++;
    /* Given back to the queue by the closing; a claimed one is in flight and stays. */
    if (w->ahead.valid && !w->ahead.claimed)
        w->ahead.valid = false;
}

/* The PostgreSQL connection is gone. The first loss after statements went through is
 * reconnected at once (a restart usually fails that try, and then the backoff applies);
 * a loss while the backoff is still growing waits it, so a server that takes connections
 * and drops them cannot make a hot loop. */
static void db_lost(struct worker *w, const struct err *e)
{
    bool first = reconnect_fresh(&w->db_rc);

    db_close(w->db);
    w->db = NULL;
    w->db_gen++;
    /* A crash of PostgreSQL may have undone the outcomes that did not wait for the disk,
     * and no commit on another connection can tell: their deliveries go back unacked
     * (each then finds its operation done, or claims it again). */
    if (w->not_durable > 0)
        close_in(w);
    if (!atomic_exchange(&w->sh->db_down, true))
        log_warn("%s (reconnecting with backoff)", e->msg);
    else
        log_debug("worker %d: %s", w->index, e->msg);
    reconnect_failed(&w->db_rc);
    if (first)
        w->db_rc.next_ms = 0;
}

/* A statement failed on a connection that is fine (an SQL error: the schema, a
 * permission). Reconnecting would not mend it and trying again at once would loop: back
 * off, keep the connection, one error line per streak for the whole process. */
static void query_failed(struct worker *w, const struct err *e)
{
    if (!atomic_exchange(&w->sh->db_failing, true))
        log_error("%s (trying again with backoff)", e->msg);
    else
        log_debug("worker %d: %s", w->index, e->msg);
    reconnect_failed(&w->db_rc);
}

/* Any ST_DB from a statement. */
static void db_failed(struct worker *w, const struct err *e)
{
    if (db_connected(w->db))
        query_failed(w, e);
    else
        db_lost(w, e);
}

/* A claim or finish went through: PostgreSQL works, the backoff starts afresh. */
static void db_query_ok(struct worker *w)
{
    if (atomic_exchange(&w->sh->db_failing, false))
        log_info("PostgreSQL statements succeed again");
    reconnect_reset(&w->db_rc);
}

/* Whether statements are held back after an SQL error (the connection is up). */
static bool db_holding_back(const struct worker *w)
{
    return w->db != NULL && clock_now_ms() < w->db_rc.next_ms;
}

static void out_lost(struct worker *w, const struct err *e)
{
    mq_close(w->out);
    w->out = NULL;
    service_failed(w, &w->sh->mq_down, &w->out_rc, false, e);
}

static void in_lost(struct worker *w, const struct err *e)
{
    close_in(w);
    service_failed(w, &w->sh->mq_down, &w->in_rc, false, e);
}

/* Connect PostgreSQL (and register this consumer) unless connected, retrying with
 * backoff; false when told to quit first. */
static bool connect_db(struct worker *w, bool holding)
{
    const struct cfg *cfg = w->sh->cfg;
    struct err e;
    enum status st;

    while (w->db == NULL) {
        if (!attempt_due(w, &w->db_rc, holding))
            return false;
        memset(&e, 0, sizeof e);
        st = db_open(cfg->database_url, cfg->connect_timeout_ms, &w->db, &e);
        if (st == ST_OK)
            st = db_consumer_schema_check(w->db, &e);
        if (st == ST_NOT_FOUND) {
            /* PostgreSQL answers; the schema is what is missing, and only an operator
             * can add it: say so once, then look again with backoff. */
            if (atomic_exchange(&w->sh->db_down, false))
                log_info("PostgreSQL answers again");
            if (!atomic_exchange(&w->sh->schema_missing, true))
                log_error("%s", e.msg);
            db_close(w->db);
            w->db = NULL;
            reconnect_failed(&w->db_rc);
            continue;
        }
        if (st == ST_OK)
            st = db_consumer_register(w->db, w->id, w->sh->host, w->sh->pid, node_of(w),
                                      &e);
        if (st != ST_OK) {
            db_close(w->db);
            w->db = NULL;
            service_failed(w, &w->sh->db_down, &w->db_rc, true, &e);
            continue;
        }
        if (atomic_exchange(&w->sh->db_down, false))
            log_info("PostgreSQL answers again");
        if (atomic_exchange(&w->sh->schema_missing, false))
            log_info("the consumer schema is in place now");
        /* The backoff delay stays until a claim or finish goes through (db_query_ok). */
        w->db_rc.next_ms = 0;
        w->next_heartbeat_ms = clock_now_ms() + HEARTBEAT_MS;
        w->next_pause_check_ms = 0;
    }
    return true;
}

static enum status open_mq(struct worker *w, struct mq **out, struct err *e)
{
    const struct cfg *cfg = w->sh->cfg;

    return mq_open(cfg->amqp_url, cfg->amqp_prefix, &w->sh->policy,
                   cfg->connect_timeout_ms, out, e);
}

static void flush_backlog(struct worker *w);

/* Connect the publishing handle unless connected, then publish the backlog. */
static bool connect_out(struct worker *w)
{
    struct err e;

    while (w->out == NULL) {
        if (!attempt_due(w, &w->out_rc, false))
            return false;
        memset(&e, 0, sizeof e);
        if (open_mq(w, &w->out, &e) != ST_OK) {
            service_failed(w, &w->sh->mq_down, &w->out_rc, true, &e);
            continue;
        }
        service_ok(&w->sh->mq_down, &w->out_rc, "RabbitMQ");
    }
    if (w->n_backlog > 0)
        flush_backlog(w);
    return w->out != NULL;
}

/* Connect the consuming handle unless connected and start consuming. */
static bool connect_in(struct worker *w)
{
    struct err e;
    enum status st;

    while (w->in == NULL) {
        if (!attempt_due(w, &w->in_rc, false))
            return false;
        memset(&e, 0, sizeof e);
        st = open_mq(w, &w->in, &e);
        if (st == ST_OK) {
            st = mq_consume_start(w->in, (uint16_t)w->sh->prefetch, &e);
            if (st != ST_OK)
                close_in(w);
        }
        if (st != ST_OK) {
            service_failed(w, &w->sh->mq_down, &w->in_rc, true, &e);
            continue;
        }
        service_ok(&w->sh->mq_down, &w->in_rc, "RabbitMQ");
        if (!w->announced) {
            log_info("worker %d ready: consuming %s.work as %s (prefetch %d)", w->index,
                     w->sh->cfg->amqp_prefix, w->id, w->sh->prefetch);
            w->announced = true;
        }
        if (w->sh->once && w->once_deadline_ms == 0)
            w->once_deadline_ms = clock_now_ms() + ONCE_IDLE_MS;
    }
    return true;
}

/* ---- small steps ------------------------------------------------------------------- */

static void heartbeat(struct worker *w, bool in_flight)
{
    struct err e = {0};
    enum status st;

    if (w->db == NULL || clock_now_ms() < w->next_heartbeat_ms)
        return;
    w->next_heartbeat_ms = clock_now_ms() + HEARTBEAT_MS;
    rate_flush(w->sh->rate, w->db, false);
    if (metrics_flush(w->sh->metrics, w->db, &e) != ST_OK)
        log_debug("worker %d: could not add to the metrics: %s (kept for the next "
                  "heartbeat)",
                  w->index, e.msg);
    memset(&e, 0, sizeof e);
    st = report(w, in_flight, &e);
    /* An SQL error here is only the registry's (at most one line per heartbeat): the
     * work itself is not held back for it. */
    if (st == ST_DB && !db_connected(w->db))
        db_lost(w, &e);
    else if (st != ST_OK)
        log_warn("worker %d: could not report to the consumer registry: %s", w->index,
                 e.msg);
}

enum settle { SETTLE_ACK, SETTLE_REQUEUE, SETTLE_REJECT };

/* How many acks a worker holds back before sending them as one: half its prefetch. */
static int ack_batch(const struct worker *w) { return (w->sh->prefetch + 1) / 2; }

/* Ack, requeue or reject a delivery. When the consuming handle is already closed the
 * broker has taken the delivery back, and there is nothing to do. */
/* Send the acks settle held back, as one frame. */
static void flush_acks(struct worker *w)
{
    struct err e = {0};
    enum status st;

    if (w->acks_held > 0 && !durable_now(w)) {
        close_in(w); /* publishes what follows, and hands the held deliveries back */
        return;
    }
    flush_publishes(w);
    if (w->in == NULL || w->acks_held == 0)
        return;
    st = mq_ack_upto(w->in, w->ack_tag, &e);
    w->acks_held = 0;
    if (st != ST_OK)
        in_lost(w, &e);
}

/* Settle delivery d. An ack is held back and sent with the next ones as one frame
 * (mq_ack_upto): when half the prefetch is held, and before the worker waits for a
 * delivery (so an idle worker holds none). A worker settles its deliveries in the order
 * they came, each either held for that ack or settled at once, so an ack up to the last
 * held tag covers exactly the held ones. Held acks are safe: each was sent after its
 * outcome was committed, and one lost with the connection only brings back a delivery
 * whose operation is done. Requeue and reject go at once. */
static void settle(struct worker *w, const struct mq_delivery *d, enum settle how)
{
    struct err e = {0};
    enum status st;

    if (w->in == NULL || w->settle_stale)
        return;
    if (how == SETTLE_ACK) {
        w->ack_tag = d->tag;
        if (++w->acks_held >= ack_batch(w))
            flush_acks(w);
        return;
    }
    if (how == SETTLE_REQUEUE)
        st = mq_requeue(w->in, d->tag, &e);
    else
        st = mq_reject(w->in, d->tag, &e);
    if (st != ST_OK)
        in_lost(w, &e);
}

static void enter_pause(struct worker *w)
{
    close_in(w); /* the prefetched messages go back to the queue */
    w->paused = true;
    w->next_pause_check_ms = clock_now_ms() + PAUSE_CHECK_MS;
    if (!atomic_exchange(&w->sh->paused, true))
        log_info(
            "the queue is paused (tmdbq pause): no new work is taken until tmdbq resume");
}

/* Ask PostgreSQL whether the pause switch is on, at most once a second. */
static void check_pause(struct worker *w)
{
    struct err e = {0};
    bool paused = false;

    if (w->db == NULL || clock_now_ms() < w->next_pause_check_ms)
        return;
    w->next_pause_check_ms = clock_now_ms() + PAUSE_CHECK_MS;
    if (db_is_paused(w->db, &paused, &e) != ST_OK) {
        db_failed(w, &e);
        return;
    }
    if (paused && !w->paused) {
        enter_pause(w);
    } else if (!paused && w->paused) {
        w->paused = false;
        if (atomic_exchange(&w->sh->paused, false))
            log_info("the queue is resumed: taking work again");
    }
}

/* Publish ids[0..n) to the work queue (delay_ms 0) or to the delayed-retry queue of
 * delay_ms, then mark them published (the outbox); confirmed[i] says which the broker
 * took. ST_MQ (and the handle closed) when the broker failed: keep the others. A row
 * left unmarked is only published again by the reaper's relay, a duplicate message that
 * a claim drops: a failed mark is worth a note. */
static enum status publish(struct worker *w, const char *const *ids, size_t n,
                           int64_t delay_ms, bool *confirmed)
{
    struct err e = {0};
    struct outbox_mark mark;
    enum status st;

    for (size_t i = 0; i < n; i++)
        confirmed[i] = false;
    if (w->out == NULL)
        return ST_MQ;
    st = outbox_publish(w->out, w->db, ids, n, delay_ms, confirmed, &mark, &e);
    if (st == ST_MQ) {
        out_lost(w, &e);
        return ST_MQ;
    }
    if (st != ST_OK) {
        for (size_t i = 0; i < n; i++) {
            if (!confirmed[i])
                log_write(LOG_LEVEL_WARN, ids[i],
                          "could not publish it: %s (the reaper's relay will publish it)",
                          e.msg);
        }
        return st;
    }
    if (mark.st != ST_OK) {
        log_write(LOG_LEVEL_DEBUG, ids[0], "published; not marked: %s", mark.err.msg);
        if (mark.st == ST_DB && w->db != NULL)
            db_failed(w, &mark.err);
    }
    return ST_OK;
}

static void backlog_add(struct worker *w, const char *id, int64_t delay_ms)
{
    struct backlog_item *it;

    if (w->n_backlog == WORKER_BACKLOG_MAX) {
        log_write(LOG_LEVEL_WARN, id,
                  "could not publish it and the worker's backlog is full: the reaper's "
                  "relay will publish it");
        return;
    }
    it = &w->backlog[w->n_backlog++];
    snprintf(it->id, sizeof it->id, "%s", id);
    it->delay_ms = delay_ms;
    log_write(LOG_LEVEL_DEBUG, id, "kept to publish after reconnecting (%zu kept)",
              w->n_backlog);
}

/* Publish id before the worker's next acks go (flush_publishes, from flush_acks and
 * close_in), together with the others of its delay: their confirms are awaited once,
 * and one statement marks them, where each publish waited for its own confirm and mark
 * (a retry cost a consumer about 2 ms more than a success). A delivery is still acked
 * only after what follows from it was published or kept, and an idle worker holds
 * none, as it holds no ack. */
static void defer_publish(struct worker *w, const char *id, int64_t delay_ms)
{
    struct backlog_item *it;

    if (w->n_to_publish == WORKER_BACKLOG_MAX)
        flush_publishes(w);
    it = &w->to_publish[w->n_to_publish++];
    snprintf(it->id, sizeof it->id, "%s", id);
    it->delay_ms = delay_ms;
}

/* Publish what defer_publish gathered, one batch per delay; what the broker did not
 * take for its failure is kept to publish after reconnecting. */
static void flush_publishes(struct worker *w)
{
    const char *ids[WORKER_BACKLOG_MAX];
    bool confirmed[WORKER_BACKLOG_MAX], taken[WORKER_BACKLOG_MAX] = {false};
    size_t i, j, n;
    int64_t delay;

    for (i = 0; i < w->n_to_publish; i++) {
        if (taken[i])
            continue;
        delay = w->to_publish[i].delay_ms;
        n = 0;
        for (j = i; j < w->n_to_publish; j++) {
            if (!taken[j] && w->to_publish[j].delay_ms == delay) {
                taken[j] = true;
                ids[n++] = w->to_publish[j].id;
            }
        }
        if (publish(w, ids, n, delay, confirmed) != ST_MQ)
            continue;
        for (j = 0; j < n; j++) {
            if (!confirmed[j])
                backlog_add(w, ids[j], delay);
        }
    }
    w->n_to_publish = 0;
}

static void publish_handon(struct worker *w, const struct db_handon *next)
{
    for (size_t i = 0; i < next->n; i++)
        defer_publish(w, next->ids[i], 0);
}

static void flush_backlog(struct worker *w)
{
    size_t done = 0;

    while (done < w->n_backlog && w->out != NULL) {
        const struct backlog_item *it = &w->backlog[done];
        const char *id = it->id;
        bool confirmed;

        if (publish(w, &id, 1, it->delay_ms, &confirmed) == ST_MQ)
            break;
        done++;
    }
    if (done > 0) {
        memmove(w->backlog, w->backlog + done,
                (w->n_backlog - done) * sizeof *w->backlog);
        w->n_backlog -= done;
        log_debug("worker %d: published %zu kept id(s), %zu left", w->index, done,
                  w->n_backlog);
    }
}

/* body as printable ASCII with \" \\ and \xNN escapes, at most BODY_SHOW_MAX bytes of it.
 */
static void escape_body(const char *body, size_t len, char *out, size_t n)
{
    size_t o = 0;

    for (size_t i = 0; i < len && i < BODY_SHOW_MAX && o + 5 < n; i++) {
        unsigned char c = (unsigned char)body[i];

        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c >= 0x20 && c < 0x7f) {
            out[o++] = (char)c;
        } else {
            o += (size_t)snprintf(out + o, n - o, "\\x%02x", c);
        }
    }
    out[o] = '\0';
}

/* ---- one delivery ------------------------------------------------------------------ */

/* Record o for the claimed row, reconnecting PostgreSQL and backing off after SQL errors
 * as often as needed: TMDB is never called twice for one claim. A try whose reply was
 * lost is repeated safely (db_finish is idempotent). false when the grace period ran out
 * first (or the database refused the outcome as invalid, which no retry mends). */
static bool record(struct worker *w, const char *id, const struct outcome *o,
                   bool *recorded, struct db_handon *next)
{
    struct err e;
    enum status st;

    for (;;) {
        if (should_quit(w, true) || !connect_db(w, true))
            return false;
        if (db_holding_back(w)) {
            wait_until(w, w->db_rc.next_ms, true);
            continue;
        }
        memset(&e, 0, sizeof e);
        st = db_finish(w->db, id, w->id, &o->rec, recorded, next, &e);
        if (st == ST_OK) {
            db_query_ok(w); /* a commit that waited: the earlier ones are durable too */
            w->not_durable = 0;
            return true;
        }
        if (st != ST_DB) {
            log_write(LOG_LEVEL_ERROR, id, "could not record its outcome: %s", e.msg);
            return false;
        }
        db_failed(w, &e);
    }
}

/* Take the next delivery ahead, when one is already there (no wait): false when there is
 * none, or it cannot be claimed with a finish (it names no operation, or the worker is
 * stopping, pausing, or has a claimed one in hand already). */
static bool take_ahead(struct worker *w)
{
    struct err e = {0};
    enum status st;

    if (w->ahead.valid)
        return !w->ahead.claimed && mq_delivery_names_op(&w->ahead.d);
    if (w->sh->once || w->in == NULL || w->db == NULL || w->paused ||
        db_holding_back(w) || should_quit(w, false))
        return false;
    st = mq_consume_next(w->in, 0, &w->ahead.d, &e);
    if (st == ST_TIMEOUT)
        return false;
    if (st != ST_OK) {
        in_lost(w, &e);
        return false;
    }
    w->ahead.valid = true;
    w->ahead.claimed = false;
    w->ahead.gen = w->in_gen;
    return mq_delivery_names_op(&w->ahead.d);
}

/* Record the outcome of id (see record). Under load the worker's next delivery is
 * usually there already: it is claimed in the same transaction (db_finish_claim), one
 * commit for the two, and handled next (handle_ahead). When that statement fails, the
 * outcome is recorded alone and the delivery claimed as usual.
 *
 * Grouped flushes: that commit waits for the disk only when this delivery's ack will be
 * sent at once (it fills the batch of held acks, see settle); the others commit without
 * waiting, and their acks wait for the one that does (WAL is flushed in order), or for
 * durable_now when the worker sends its acks before the batch is full. So a busy worker
 * waits for one flush per batch, not per operation, and no delivery is acked before its
 * outcome is durable. A worker without a next delivery in hand records as it did,
 * waiting, so a lone operation is not delayed by a second statement. */
static bool finish_outcome(struct worker *w, const char *id, const struct outcome *o,
                           bool *recorded, struct db_handon *next)
{
    const struct cfg *cfg = w->sh->cfg;
    struct err e = {0};
    enum status st;
    bool durable;

    if (take_ahead(w)) {
        durable = w->acks_held + 1 >= ack_batch(w);
        st = db_finish_claim(w->db, id, w->id, &o->rec, recorded, next, w->ahead.d.body,
                             cfg->lease_ms, cfg->max_retries, durable, &w->ahead.a, &e);
        if (st == ST_OK) {
            db_query_ok(w);
            w->not_durable = durable ? 0 : w->not_durable + 1;
            w->ahead.claimed = true;
            w->ahead.claimed_us = clock_wall_us();
            w->ahead.db_gen = w->db_gen;
            log_write(LOG_LEVEL_DEBUG, w->ahead.d.body,
                      "claim answered %s with the finish of %s (one transaction)",
                      db_claim_result_name(w->ahead.a.result), id);
            return true;
        }
        db_claim_cleanup(&w->ahead.a.claim);
        if (st == ST_DB)
            db_failed(w, &e);
        else
            log_write(LOG_LEVEL_ERROR, id,
                      "could not record its outcome with the next claim: %s", e.msg);
    }
    return record(w, id, o, recorded, next);
}

static void log_outcome(const struct worker *w, const struct db_claim *c,
                        const struct outcome *o, const struct tmdb_result *r, int64_t ms)
{
    const struct op *op = &c->op;
    char list[16], delay[32];

    if (op->type == OP_CREATE_LIST)
        snprintf(list, sizeof list, "new");
    else
        snprintf(list, sizeof list, "%d", (int)op->list_id);
    switch (o->rec.kind) {
    case DB_OUT_COMPLETED:
        /* create_list's result is the new list's id, which a person will look for. */
        log_write(o->level, op->id,
                  "type=%s list=%s outcome=completed http=%ld ms=%" PRId64 "%s%s%s",
                  op_type_name(op->type), list, r->http_status, ms,
                  r->outcome == TMDB_GOAL_HOLDS ? " goal_already_held=true" : "",
                  op->type == OP_CREATE_LIST && r->result_json != NULL ? " result=" : "",
                  op->type == OP_CREATE_LIST && r->result_json != NULL ? r->result_json
                                                                       : "");
        break;
    case DB_OUT_RETRY:
        cfg_format_duration(o->rec.delay_ms, delay, sizeof delay);
        if (o->rec.count_retry)
            log_write(o->level, op->id,
                      "type=%s list=%s outcome=retry http=%ld ms=%" PRId64
                      " retry=%d/%d delay=%s kind=%s error=\"%s\"",
                      op_type_name(op->type), list, r->http_status, ms,
                      op->retry_count + 1, w->sh->policy.max_retries, delay,
                      o->rec.error_kind, o->rec.error_message);
        else
            log_write(o->level, op->id,
                      "type=%s list=%s outcome=retry http=%ld ms=%" PRId64
                      " delay=%s kind=%s error=\"%s\"",
                      op_type_name(op->type), list, r->http_status, ms, delay,
                      o->rec.error_kind, o->rec.error_message);
        break;
    case DB_OUT_FAILED:
        log_write(o->level, op->id,
                  "type=%s list=%s outcome=failed http=%ld ms=%" PRId64
                  " kind=%s error=\"%s\"",
                  op_type_name(op->type), list, r->http_status, ms, o->rec.error_kind,
                  o->rec.error_message);
        break;
    }
}

/* ---- TMDB's request budget ----------------------------------------------------------
 */

static bool quit_before_sending(void *arg) { return should_quit(arg, false); }

/* The TMDB client's pacer: wait for a slot of the shared request budget. A stop before
 * the request is sent hands the operation back unsent (false), and so does a claim whose
 * connection was lost before its first request. */
static bool pace_before(void *arg)
{
    struct worker *w = arg;
    struct err e;
    enum status st;

    for (;;) {
        if (!connect_db(w, false))
            return false;
        if (w->sent_in_claim == 0 && w->claim_db_gen != w->db_gen) {
            /* The claim committed without waiting for the disk, and the connection was
             * lost since: a crash of PostgreSQL may have undone it, and another consumer
             * may hold the row now. Nothing is sent under it; the operation goes back
             * (recorded as not sent when the row is still ours). */
            log_debug("worker %d: PostgreSQL was lost after the claim: not sent under it",
                      w->index);
            return false;
        }
        if (db_holding_back(w)) {
            wait_until(w, w->db_rc.next_ms, false);
            if (should_quit(w, false))
                return false;
            continue;
        }
        memset(&e, 0, sizeof e);
        st = rate_take(w->sh->rate, w->db, quit_before_sending, w, &e);
        if (st == ST_OK)
            return true;
        if (st == ST_TIMEOUT)
            return false;
        if (st == ST_DB)
            db_failed(w, &e);
        else
            log_error("worker %d: %s", w->index, e.msg);
    }
}

static void pace_after(void *arg, const struct tmdb_sent *sent)
{
    struct worker *w = arg;

    w->sent_in_claim++;
    metrics_count_tmdb_request(w->sh->metrics, sent->http_status, sent->duration_us);
    rate_note(w->sh->rate, w->db, sent->limited, sent->retry_after_ms);
}

/* TMDB answered 429: the row says so and keeps its claim (the lease renewed past the
 * cool-down), and the next try waits in the pacer with every other request. false when
 * the row is no longer ours. */
static bool hold_for_rate_limit(struct worker *w, const char *id,
                                const struct tmdb_result *r, int tries)
{
    char msg[512], until[32];
    time_t t = time(NULL) + (time_t)((r->retry_after_ms + 999) / 1000);
    struct tm tm;
    struct err e = {0};
    bool held = true;

    gmtime_r(&t, &tm);
    strftime(until, sizeof until, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(msg, sizeof msg,
             "%s: waiting with every consumer until %s (try %d of %d in this claim); no "
             "retry spent",
             r->message, until, tries, RATE_TRIES_PER_CLAIM);
    log_write(LOG_LEVEL_INFO, id, "rate limited: %s", msg);
    if (w->db != NULL &&
        db_hold(w->db, id, w->id, w->sh->cfg->lease_ms + r->retry_after_ms, msg, &held,
                &e) != ST_OK) {
        /* Only the note failed: the claim stands until its lease, and the outcome is
         * recorded after a reconnect. */
        if (e.code == ST_DB)
            db_failed(w, &e);
        held = true;
    }
    return held;
}

/* TMDB's answer r to an operation of type, as the process's memory of deployment faults
 * sees it (outcome.h): returns the streak for outcome_decide, and writes the fault's
 * ERROR line when one is due, or a line when a fault is over. */
static int note_answer(struct worker *w, enum op_type type, const struct tmdb_result *r)
{
    struct worker_shared *sh = w->sh;
    bool log_due = false, over = false;
    long suppressed = 0;
    int streak = 0;

    if (r->outcome == TMDB_NOT_SENT)
        return 0;
    pthread_mutex_lock(&sh->faults_lock);
    if (r->outcome == TMDB_DEPLOYMENT)
        streak = outcome_faults_met(&sh->faults, type, r, &sh->policy, clock_now_ms(),
                                    &log_due, &suppressed);
    else
        over = outcome_faults_answered(&sh->faults, type, r, &sh->policy, clock_now_ms());
    pthread_mutex_unlock(&sh->faults_lock);
    if (log_due && suppressed > 0)
        log_error("deployment fault (operations wait, spending no retry, until it is "
                  "fixed; met %ld more time(s) since the last line, one a minute): %s",
                  suppressed, r->message);
    else if (log_due)
        log_error("deployment fault (operations wait, spending no retry, until it is "
                  "fixed; logged once a minute while it lasts): %s",
                  r->message);
    if (over)
        log_info("deployment fault over: every kind of request that met it succeeds "
                 "again (the last: %s)",
                 op_type_name(type));
    return streak;
}

/* A claimed row: call TMDB (unless the user lacks credentials), record, publish, ack. */
static void execute(struct worker *w, const struct mq_delivery *d,
                    const struct db_claim *c)
{
    struct tmdb_result r;
    struct outcome o;
    struct tmdb_creds creds = {c->session_id, c->access_token};
    const char *id = c->op.id;
    struct db_handon next = {0};
    bool recorded = false;
    int64_t t0, ms = 0, called_us, recorded_us;

    memset(&r, 0, sizeof r);
    if (c->rescued)
        log_write(LOG_LEVEL_WARN, id,
                  "taken over: the consumer that held it stopped before finishing (that "
                  "attempt counts: retry %d of %d)",
                  c->op.retry_count, w->sh->policy.max_retries);
    if (!outcome_check_creds(&c->op, c->session_id, c->access_token, OUTCOME_CONSUMER,
                             &o)) {
        heartbeat(w, true);
        w->sent_in_claim = 0;
        for (int tries = 1;; tries++) {
            t0 = clock_now_ms();
            tmdb_execute(w->tmdb, c->op.type, c->op.list_id, c->op.data_json, &creds, &r);
            ms = clock_now_ms() - t0;
            if (r.outcome != TMDB_RATE_LIMITED || tries >= RATE_TRIES_PER_CLAIM ||
                !hold_for_rate_limit(w, id, &r, tries))
                break;
            tmdb_result_cleanup(&r);
        }
        outcome_decide(&r, &c->op, &w->sh->policy, note_answer(w, c->op.type, &r),
                       OUTCOME_CONSUMER, &o);
    }
    called_us = clock_wall_us();

    if (!finish_outcome(w, id, &o, &recorded, &next)) {
        log_write(
            LOG_LEVEL_WARN, id,
            "its outcome (%s) was not recorded before the stop: its lease expires and "
            "it is tried again",
            o.name);
        settle(w, d, SETTLE_REQUEUE);
        goto out;
    }
    if (!recorded) {
        /* Taken over after our lease expired (the holder has a message of its own: ours
         * comes back, finds it leased or finished, and goes), or the claim itself was
         * lost with a crash of PostgreSQL (it commits without waiting for the disk, see
         * db.c): then the row is pending again and this delivery is its message. */
        log_write(LOG_LEVEL_WARN, id,
                  "outcome %s not recorded: the row is no longer ours (its lease expired "
                  "and it was taken over, or a crash of PostgreSQL lost the claim): "
                  "handed back to the queue",
                  o.name);
        settle(w, d, SETTLE_REQUEUE);
        goto out;
    }
    recorded_us = clock_wall_us();
    log_outcome(w, c, &o, &r, ms);
    if (r.outcome != TMDB_NOT_SENT) {
        w->processed++;
        metrics_count_outcome(w->sh->metrics, o.rec.kind);
    }
    if (o.rec.kind == DB_OUT_FAILED)
        w->failed++;
    if (o.rec.kind == DB_OUT_RETRY) {
        if (o.queue_ms == 0 && o.rec.delay_ms == 0)
            defer_publish(w, id, 0); /* not sent: straight back to the work queue */
        else if (outcome_has_retry_queue(&w->sh->policy))
            defer_publish(w, id, o.queue_ms);
        else
            log_write(LOG_LEVEL_DEBUG, id,
                      "no delayed-retry queue (TMDBQ_MAX_RETRIES=0): the reaper's relay "
                      "publishes it when due");
    } else {
        publish_handon(w, &next);
    }
    settle(w, d, SETTLE_ACK);
    /* Where an operation's time went, for bench/latency.sh. */
    log_write(LOG_LEVEL_DEBUG, id,
              "timing (wall clock, us): received=%" PRId64 " claimed=%" PRId64
              " called=%" PRId64 " recorded=%" PRId64 " acked=%" PRId64,
              d->received_us, w->claimed_us, called_us, recorded_us, clock_wall_us());
out:
    tmdb_result_cleanup(&r);
}

/* Publish the delivery's id again, to come back in about wait_ms, then ack it. LEASED
 * (processing under someone else's live lease): back when the lease ends, so a row whose
 * holder died is taken over without waiting for the reaper. EARLY (not due yet): back
 * when due, or after the longest queue's delay and then again for the rest, so an early
 * message is never lost. Without delayed-retry queues (TMDBQ_MAX_RETRIES=0) it is
 * dropped: the reaper publishes a row that is overdue or whose lease ran out. */
static void republish_later(struct worker *w, const struct mq_delivery *d,
                            enum db_claim_result res, int64_t wait_ms)
{
    const char *why = res == DB_CLAIM_LEASED ? "held by another consumer" : "not due";
    struct err e = {0};
    int64_t used = 0;
    enum status st = ST_MQ;

    if (w->out != NULL)
        st = mq_publish_delayed(w->out, d->body, wait_ms, &used, &e);
    if (st == ST_OK) {
        log_write(LOG_LEVEL_DEBUG, d->body,
                  "%s for %" PRId64 "ms: looked at again in %" PRId64 "ms", why, wait_ms,
                  used);
        settle(w, d, SETTLE_ACK);
    } else if (st == ST_MQ) {
        if (w->out != NULL)
            out_lost(w, &e);
        settle(w, d, SETTLE_REQUEUE);
    } else {
        log_write(LOG_LEVEL_DEBUG, d->body,
                  "%s for %" PRId64 "ms; dropped (%s): the reaper publishes it again "
                  "when it is due or its holder died",
                  why, wait_ms, e.msg);
        settle(w, d, SETTLE_ACK);
    }
}

/* What a claim of delivery d answered, acted on; a owns the claim, which this releases.
 */
static void dispatch(struct worker *w, const struct mq_delivery *d,
                     struct db_claim_answer *a)
{
    const struct cfg *cfg = w->sh->cfg;

    switch (a->result) {
    case DB_CLAIM_GONE:
    case DB_CLAIM_BLOCKED:
        log_write(LOG_LEVEL_DEBUG, d->body, "dropped: %s",
                  a->result == DB_CLAIM_GONE ? "no longer pending"
                                             : "an earlier conflicting operation on its "
                                               "list is active");
        /* A finished row's message may be the redelivery of a consumer that died before
         * handing on the list's next operations: the claim names them again. */
        publish_handon(w, &a->next);
        settle(w, d, SETTLE_ACK);
        break;
    case DB_CLAIM_UNKNOWN:
        log_write(LOG_LEVEL_WARN, d->body,
                  "rejecting a message for an operation that does not exist "
                  "(dead-lettered to %s.dead)",
                  cfg->amqp_prefix);
        settle(w, d, SETTLE_REJECT);
        break;
    case DB_CLAIM_EARLY:
    case DB_CLAIM_LEASED:
        republish_later(w, d, a->result, a->wait_ms);
        break;
    case DB_CLAIM_PAUSED:
        settle(w, d, SETTLE_REQUEUE);
        enter_pause(w);
        break;
    case DB_CLAIM_ABANDONED:
        log_write(
            LOG_LEVEL_ERROR, d->body,
            "outcome=failed kind=transient error=\"abandoned: the consumer holding it "
            "stopped before finishing and no retries are left\"");
        w->processed++;
        w->failed++;
        metrics_count_outcome(w->sh->metrics, DB_OUT_FAILED);
        publish_handon(w, &a->next);
        settle(w, d, SETTLE_ACK);
        break;
    case DB_CLAIMED:
        execute(w, d, &a->claim);
        break;
    }
    db_claim_cleanup(&a->claim);
}

static void handle_delivery(struct worker *w, const struct mq_delivery *d)
{
    const struct cfg *cfg = w->sh->cfg;
    struct db_claim_answer a;
    struct err e = {0};
    enum status st;

    if (!mq_delivery_names_op(d)) {
        char shown[BODY_SHOW_MAX * 4 + 1];
        size_t have = d->too_long ? sizeof d->body - 1 : d->len;

        escape_body(d->body, have, shown, sizeof shown);
        log_warn(
            "rejecting a message that names no operation (dead-lettered to %s.dead): "
            "\"%s\"%s (%zu bytes)",
            cfg->amqp_prefix, shown, d->len > have || have > BODY_SHOW_MAX ? "..." : "",
            d->len);
        settle(w, d, SETTLE_REJECT);
        return;
    }
    st = db_claim(w->db, d->body, w->id, cfg->lease_ms, cfg->max_retries, &a.result,
                  &a.claim, &a.wait_ms, &a.next, &e);
    if (st != ST_OK) {
        /* Nothing was done for it: hand it back for after the reconnect or the backoff
         * (the main loop closes the consuming channel meanwhile). */
        if (st == ST_DB)
            db_failed(w, &e);
        else
            log_write(LOG_LEVEL_ERROR, d->body, "could not claim it: %s", e.msg);
        settle(w, d, SETTLE_REQUEUE);
        db_claim_cleanup(&a.claim);
        return;
    }
    db_query_ok(w);
    w->claimed_us = clock_wall_us();
    w->claim_db_gen = w->db_gen;
    dispatch(w, d, &a);
}

/* The delivery taken ahead (see finish_outcome). A claimed one is in flight: handled
 * even during a stop, from a closed channel too (its outcome is recorded; its message,
 * given back by the closing, then finds the row leased or finished), and left to its
 * lease only by an abort. One not claimed is handled like any delivery while its channel
 * is open and the worker goes on; else the closing gave it back. false when nothing was
 * handled. */
static bool handle_ahead(struct worker *w)
{
    struct mq_delivery d = w->ahead.d;
    struct db_claim_answer a = w->ahead.a;
    bool claimed = w->ahead.claimed, stale = w->ahead.gen != w->in_gen;

    w->ahead.valid = false;
    w->ahead.claimed = false;
    if (claimed && atomic_load(&w->sh->aborting)) {
        db_claim_cleanup(&a.claim);
        update_busy(w, false);
        return false;
    }
    if (!claimed && !stale &&
        (should_quit(w, false) || w->db == NULL || w->out == NULL || w->paused ||
         db_holding_back(w))) {
        close_in(w); /* it goes back to the queue, as in the main loop */
        stale = true;
    }
    if (!claimed && stale) {
        update_busy(w, false);
        return false;
    }
    update_busy(w, true);
    if (claimed) {
        w->settle_stale = stale;
        w->claimed_us = w->ahead.claimed_us;
        w->claim_db_gen = w->ahead.db_gen;
        dispatch(w, &d, &a);
        w->settle_stale = false;
    } else {
        handle_delivery(w, &d);
    }
    update_busy(w, false);
    return true;
}

/* ---- the thread -------------------------------------------------------------------- */

static void shut_down(struct worker *w)
{
    struct err e = {0};

    close_in(w); /* first: what was prefetched goes back to the queue at once */
    if (w->out != NULL && w->n_backlog > 0)
        flush_backlog(w);
    if (w->n_backlog > 0)
        log_warn("worker %d: %zu id(s) left unpublished: the reaper's relay will publish "
                 "them",
                 w->index, w->n_backlog);
    w->n_backlog = 0;
    if (w->db != NULL) {
        /* The last requests and outcomes count in `tmdbq status` and /metrics. */
        rate_flush(w->sh->rate, w->db, true);
        if (metrics_flush(w->sh->metrics, w->db, &e) != ST_OK)
            log_debug("worker %d: could not add to the metrics: %s", w->index, e.msg);
        memset(&e, 0, sizeof e);
    }
    if (w->db != NULL && db_consumer_unregister(w->db, w->id, &e) != ST_OK)
        log_debug("worker %d: could not leave the consumer registry: %s", w->index,
                  e.msg);
    mq_close(w->out);
    w->out = NULL;
    db_close(w->db);
    w->db = NULL;
    log_debug("worker %d stopped (%" PRId64 " processed, %" PRId64 " failed)", w->index,
              w->processed, w->failed);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct mq_delivery d;
    struct err e;
    enum status st;

    while (!w->once_done) {
        if (w->ahead.valid && handle_ahead(w))
            continue;
        if (should_quit(w, false))
            break;
        /* Consume only while everything a delivery needs is up (see the file comment). */
        if (w->in != NULL &&
            (w->db == NULL || w->out == NULL || w->paused || db_holding_back(w)))
            close_in(w);
        if (!connect_db(w, false))
            break;
        heartbeat(w, false);
        if (w->db == NULL)
            continue;
        if (db_holding_back(w)) {
            wait_until(w, w->db_rc.next_ms, false);
            continue;
        }
        if (w->once_deadline_ms != 0 && clock_now_ms() >= w->once_deadline_ms) {
            log_info("--once: no delivery within %dms", ONCE_IDLE_MS);
            break;
        }
        if (w->paused) {
            wait_until(w, w->next_pause_check_ms, false);
            check_pause(w);
            continue;
        }
        if (!connect_out(w) || !connect_in(w))
            break;
        /* Publishing the backlog may have found PostgreSQL gone. */
        if (w->db == NULL)
            continue;
        memset(&e, 0, sizeof e);
        st = ST_TIMEOUT;
        if (w->acks_held > 0 || w->n_to_publish > 0) {
            /* Before waiting, the held acks go (and what is to be published before
             * them): unless a delivery is there already. */
            st = mq_consume_next(w->in, 0, &d, &e);
            if (st == ST_TIMEOUT)
                flush_acks(w);
        }
        if (st == ST_TIMEOUT && w->in != NULL) {
            /* Nothing in hand before the wait: what was to be published (the gathered
             * ids, the backlog after a reconnect) has gone or is kept. */
            update_busy(w, false);
            st = mq_consume_next(w->in, CONSUME_WAIT_MS, &d, &e);
        }
        if (st == ST_TIMEOUT) {
            check_pause(w);
            continue;
        }
        if (st != ST_OK) {
            in_lost(w, &e);
            continue;
        }
        update_busy(w, true);
        handle_delivery(w, &d);
        update_busy(w, false);
        if (w->sh->once)
            w->once_done = true;
    }
    shut_down(w);
    update_busy(w, false);
    atomic_store(&w->finished, true);
    return NULL;
}

/* ---- lifetime ---------------------------------------------------------------------- */

enum status worker_new(struct worker_shared *sh, int index, struct worker **out,
                       struct err *e)
{
    const struct cfg *cfg = sh->cfg;
    struct tmdb_config tc = {
        .base_url = cfg->tmdb_api_url,
        .api_key = cfg->tmdb_api_key,
        .read_token = cfg->tmdb_access_token,
        .connect_timeout_ms = cfg->connect_timeout_ms,
        .timeout_ms = cfg->tmdb_timeout_ms,
    };
    struct tmdb_pacer pacer = {pace_before, pace_after, NULL};
    struct worker *w;
    enum status st;

    *out = NULL;
    w = calloc(1, sizeof *w);
    if (w == NULL)
        return err_set(e, ST_NOMEM, "out of memory");
    w->sh = sh;
    w->index = index;
    snprintf(w->id, sizeof w->id, "%s:%d", sh->id_prefix, index);
    atomic_init(&w->busy, false);
    atomic_init(&w->finished, false);
    reconnect_reset(&w->db_rc);
    reconnect_reset(&w->in_rc);
    reconnect_reset(&w->out_rc);
    st = tmdb_client_new(&tc, &w->tmdb, e);
    if (st != ST_OK) {
        free(w);
        return st;
    }
    pacer.arg = w;
    tmdb_client_set_pacer(w->tmdb, &pacer);
    *out = w;
    return ST_OK;
}

enum status worker_start(struct worker *w, struct err *e)
{
    int rc = pthread_create(&w->thread, NULL, worker_main, w);

    if (rc != 0)
        return err_set(e, ST_NOMEM, "could not start worker %d: %s", w->index,
                       strerror(rc));
    w->started = true;
    return ST_OK;
}

bool worker_busy(const struct worker *w)
{
    return atomic_load(&((struct worker *)w)->busy);
}

bool worker_finished(const struct worker *w)
{
    return atomic_load(&((struct worker *)w)->finished);
}

void worker_join(struct worker *w)
{
    if (w != NULL && w->started) {
        pthread_join(w->thread, NULL);
        w->started = false;
    }
}

void worker_free(struct worker *w)
{
    if (w == NULL)
        return;
    tmdb_client_free(w->tmdb);
    free(w);
}
