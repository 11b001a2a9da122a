/*
 * reaper: the loop of tmdbq-reaper (see reaper.h).
 *
 * One thread, one PostgreSQL connection (which also holds the leader's lock, so losing
 * the connection is losing the lead) and, for the leader, one RabbitMQ handle. The loop
 * wakes at least every 100 ms: it reconnects what is down with backoff, reports every
 * min(interval, 5 s) (and, when not leading, tries for the lock at the same pace), and
 * while leading sweeps every interval.
 *
 * A sweep, in order: rescue (rows whose consumer died go back to pending, or end failed
 * when out of retries; what they make due is published at once), relay of unpublished due
 * rows, relay of overdue rows (only while the work queue holds no ready message, so a
 * healthy backlog is never duplicated), cleanup when a day has passed since the last one,
 * purge of stale registry rows, then one log line and the record in tmdbq_reapers. Every
 * step works in bounded batches, one transaction each, and looks at the stop flag in
 * between. A broker that is down skips the publishing and nothing else: the rows stay
 * unpublished in PostgreSQL, which the next sweep relays.
 */
#include "reaper.h"
#include "clock.h"
#include "sig.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backoff.h"
#include "codec.h"
#include "db.h"
#include "db_reaper.h"
#include "log.h"
#include "mq.h"
#include "outbox.h"
#include "reconnect.h"

#define SLICE_MS 100
/* Bounds on the reaper's statements: a lock held elsewhere for longer fails the step,
 * which the next sweep does again. */
#define LOCK_TIMEOUT_MS 5000
#define RESCUE_SETTLE_MS 10000
#define STATEMENT_TIMEOUT_MS 60000

long long reaper_grace_ms(const struct cfg *cfg)
{
    long long twice =
        cfg->sweep_interval_ms > INT64_MAX / 2 ? INT64_MAX : 2 * cfg->sweep_interval_ms;

    return twice > REAPER_GRACE_MIN_MS ? twice : REAPER_GRACE_MIN_MS;
}

struct reaper {
    const struct cfg *cfg;
    struct backoff_policy policy;
    bool once;
    char host[256];
    int pid;
    char id[320]; /* host:pid */
    int64_t beat_ms;
    int64_t grace_ms;

    struct db *db;
    struct mq *mq;
    bool mq_fresh; /* opened during this sweep: a failure is not a stale idle handle */
    struct reconnect db_rc, mq_rc;
    bool leader;

    /* One warning per failure streak. */
    bool db_down;
    bool mq_down;
    bool schema_missing;
    bool sql_failing;

    int64_t next_beat_ms;
    int64_t next_sweep_ms;
    /* No rescue before this: after (re)connecting, consumers that held outcomes through
     * the same outage get RESCUE_SETTLE_MS to record them before their expired leases
     * are taken from them (their reconnect backoff is at most 5 s). */
    int64_t rescue_after_ms;
};

/* What one sweep did; its log line and the JSON in tmdbq_reapers.last_sweep. */
struct sweep {
    int64_t relayed;   /* publishes confirmed, of every kind */
    int64_t overdue;   /* of which republished as overdue */
    int64_t rescued;   /* back to pending */
    int64_t abandoned; /* failed: out of retries */
    int64_t deleted;
    int64_t cleanup_batches;
    int64_t longest_batch_ms;
    int64_t purged; /* stale registry rows */
    int64_t ms;
    bool cleanup;         /* the cleanup ran this sweep */
    bool cleaned;         /* ... and got through */
    bool overdue_skipped; /* the work queue had ready messages */
    uint32_t ready;       /* how many, then */
    bool broker_down;
    bool db_failed;
    bool interrupted;
    char error[sizeof((struct err *)0)->msg];
};

static bool stopping(void) { return sig_stop_requested(); }

/* ---- connections ------------------------------------------------------------------- */

static void close_db(struct reaper *r)
{
    db_close(r->db);
    r->db = NULL;
    if (r->leader)
        log_warn("no longer leading: the connection that held the leader's lock is gone");
    r->leader = false;
}

/* A statement failed with ST_DB: the connection is gone (reconnect; the lead went with
 * it) or the statement alone failed (an SQL error: logged once per streak). */
static void db_failed(struct reaper *r, const struct err *e)
{
    if (r->db != NULL && db_connected(r->db)) {
        if (!r->sql_failing)
            log_error("%s (trying again at the next sweep)", e->msg);
        else
            log_debug("%s", e->msg);
        r->sql_failing = true;
        return;
    }
    if (!r->db_down)
        log_warn("%s (reconnecting with backoff)", e->msg);
    r->db_down = true;
    close_db(r);
    /* The first loss after statements went through is retried at once (a restart usually
     * fails that try, and then the backoff applies); a loss while the backoff is still
     * growing waits it, so a server that takes connections and drops them cannot make a
     * hot loop. */
    {
        bool first = reconnect_fresh(&r->db_rc);

        reconnect_failed(&r->db_rc);
        if (first)
            r->db_rc.next_ms = 0;
    }
}

/* Connect, bound the session, check the schema and register; one try. true when ready. */
static bool connect_db(struct reaper *r)
{
    struct err e = {0};
    enum status st;

    st = db_open(r->cfg->database_url, r->cfg->connect_timeout_ms, &r->db, &e);
    if (st == ST_OK)
        st = db_reaper_session_limits(r->db, LOCK_TIMEOUT_MS, STATEMENT_TIMEOUT_MS, &e);
    if (st == ST_OK)
        st = db_reaper_schema_check(r->db, &e);
    if (st == ST_NOT_FOUND) {
        /* PostgreSQL answers; only an operator can add the schema. */
        if (r->db_down)
            log_info("PostgreSQL answers again");
        r->db_down = false;
        if (!r->schema_missing)
            log_error("%s", e.msg);
        r->schema_missing = true;
        goto failed;
    }
    if (st == ST_OK)
        st = db_reaper_register(r->db, r->id, r->host, r->pid, &e);
    if (st != ST_OK) {
        if (!r->db_down)
            log_warn("%s (reconnecting with backoff)", e.msg);
        else
            log_debug("%s", e.msg);
        r->db_down = true;
        goto failed;
    }
    if (r->db_down)
        log_info("PostgreSQL answers again");
    if (r->schema_missing)
        log_info("the reaper schema is in place now");
    r->db_down = false;
    r->schema_missing = false;
    /* The backoff delay stays until a heartbeat goes through (beat). */
    r->db_rc.next_ms = 0;
    r->leader = false;
    r->next_beat_ms = 0; /* try for the lead at once */
    r->rescue_after_ms = r->once ? 0 : clock_now_ms() + RESCUE_SETTLE_MS;
    return true;
failed:
    db_close(r->db);
    r->db = NULL;
    reconnect_failed(&r->db_rc);
    return false;
}

static void close_mq(struct reaper *r)
{
    mq_close(r->mq);
    r->mq = NULL;
}

static void mq_failed(struct reaper *r, const struct err *e)
{
    if (!r->mq_down)
        log_warn("%s (publishing waits for the broker; the rows stay in PostgreSQL)",
                 e->msg);
    else
        log_debug("%s", e->msg);
    r->mq_down = true;
    close_mq(r);
}

/* The broker handle, connecting when there is none and the backoff allows: true when
 * usable. */
static bool ensure_mq(struct reaper *r)
{
    struct err e = {0};

    if (r->mq != NULL)
        return true;
    if (clock_now_ms() < r->mq_rc.next_ms)
        return false;
    if (mq_open(r->cfg->amqp_url, r->cfg->amqp_prefix, &r->policy,
                r->cfg->connect_timeout_ms, &r->mq, &e) != ST_OK) {
        r->mq = NULL;
        mq_failed(r, &e);
        reconnect_failed(&r->mq_rc);
        return false;
    }
    if (r->mq_down)
        log_info("RabbitMQ answers again");
    r->mq_down = false;
    r->mq_fresh = true;
    reconnect_reset(&r->mq_rc);
    return true;
}

/* A call on the broker handle failed. A handle kept since an earlier sweep may simply
 * have died while idle: then it is closed quietly and true says "try once more with a new
 * one". Otherwise the broker is down (warned once per streak): false. */
static bool mq_call_failed(struct reaper *r, const struct err *e)
{
    if (!r->mq_fresh && r->mq != NULL) {
        log_debug(
            "the broker handle kept since the last sweep failed (%s); opening a new "
            "one",
            e->msg);
        close_mq(r);
        return true;
    }
    mq_failed(r, e);
    return false;
}

/* ---- report and lead --------------------------------------------------------------- */

/* Heartbeat, and when not leading, one try for the lead. ST_DB handled (db_failed). */
static enum status beat(struct reaper *r)
{
    struct err e = {0};
    enum status st = ST_OK;
    bool got = false;

    r->next_beat_ms = clock_now_ms() + r->beat_ms;
    if (!r->leader) {
        st = db_reaper_try_lead(r->db, &got, &e);
        if (st != ST_OK)
            goto out;
        if (got) {
            log_info("leading: this reaper (%s) holds the leader's lock (advisory "
                     "lock " DB_REAPER_LEADER_KEY ")",
                     r->id);
            r->leader = true;
            r->next_sweep_ms = 0;
        }
    }
    st = db_reaper_heartbeat(r->db, r->id, r->leader, &e);
    if (st == ST_NOT_FOUND) {
        /* Purged as stale while we were away: come back. */
        st = db_reaper_register(r->db, r->id, r->host, r->pid, &e);
        if (st == ST_OK)
            st = db_reaper_heartbeat(r->db, r->id, r->leader, &e);
    }
out:
    if (st == ST_OK)
        reconnect_reset(&r->db_rc); /* PostgreSQL works: the next loss retries at once */
    if (st == ST_DB)
        db_failed(r, &e);
    else if (st != ST_OK)
        log_warn("could not report to the reaper registry: %s", e.msg);
    return st;
}

/* During a long sweep, keep last_seen_at fresh. */
static void beat_if_due(struct reaper *r)
{
    if (r->db != NULL && clock_now_ms() >= r->next_beat_ms)
        beat(r);
}

/* ---- publishing -------------------------------------------------------------------- */

/* Publish ids[0..n) to the work queue and mark what the broker confirmed. ST_MQ when the
 * broker failed (the handle is closed; what was confirmed is marked, the rest waits for
 * the next sweep), ST_DB when marking failed (handled), ST_NOMEM. A handle left open
 * since an earlier sweep may have died quietly: then it is opened again and the rest
 * published once more. */
static enum status publish_and_mark(struct reaper *r, const char *const *ids, size_t n,
                                    struct sweep *s)
{
    const char **todo = NULL;
    bool *confirmed = NULL;
    size_t left = n, nacked;
    struct err e = {0};
    struct outbox_mark mark;
    enum status st = ST_OK;

    if (n == 0)
        return ST_OK;
    if (s->broker_down)
        return ST_MQ;
    todo = malloc(n * sizeof *todo);
    confirmed = malloc(n * sizeof *confirmed);
    if (todo == NULL || confirmed == NULL) {
        st = err_set(&e, ST_NOMEM, "out of memory");
        log_error("%s", e.msg);
        goto out;
    }
    memcpy(todo, ids, n * sizeof *todo);
    for (int attempt = 0; attempt < 2 && left > 0; attempt++) {
        if (!ensure_mq(r)) {
            st = ST_MQ;
            break;
        }
        memset(&e, 0, sizeof e);
        st = outbox_publish(r->mq, r->db, todo, left, 0, confirmed, &mark, &e);
        nacked = 0;
        for (size_t i = 0, k = 0; i < left; i++) {
            if (confirmed[i])
                nacked++;
            else
                todo[k++] = todo[i];
        }
        left -= nacked;
        s->relayed += (int64_t)nacked;
        if (nacked > 0 && mark.st != ST_OK) {
            /* Published but unmarked: the relay publishes them again (a duplicate
             * message, which a claim drops). */
            if (mark.st == ST_DB && r->db != NULL)
                db_failed(r, &mark.err);
            st = mark.st;
            break;
        }
        if (st == ST_OK)
            break;
        if (st != ST_MQ) {
            log_error("could not publish: %s", e.msg);
            break;
        }
        if (!mq_call_failed(r, &e))
            break;
    }
    if (st == ST_MQ)
        s->broker_down = true;
out:
    free(todo);
    free(confirmed);
    return st;
}

/* ---- the steps of a sweep ---------------------------------------------------------- */

static void sweep_db_error(struct reaper *r, struct sweep *s, const struct err *e)
{
    s->db_failed = true;
    snprintf(s->error, sizeof s->error, "%s", e->msg);
    db_failed(r, e);
}

/* Rescue every expired lease, in batches; publish what each batch made due. false when
 * the database failed (the sweep stops). */
static bool step_rescue(struct reaper *r, struct sweep *s)
{
    struct db_rescue_items items = {NULL, 0};
    const char **pub = NULL;
    struct err e = {0};
    bool ok = true;

    if (clock_now_ms() < r->rescue_after_ms) {
        log_debug("rescue waits %lld ms more after the reconnect",
                  (long long)(r->rescue_after_ms - clock_now_ms()));
        return true;
    }
    for (;;) {
        size_t npub = 0;

        if (stopping()) {
            s->interrupted = true;
            break;
        }
        if (db_reaper_rescue(r->db, r->id, r->cfg->max_retries, REAPER_RESCUE_BATCH,
                             &items, &e) != ST_OK) {
            sweep_db_error(r, s, &e);
            ok = false;
            break;
        }
        /* Each item publishes its own id or its list's hand-on. */
        pub = calloc(items.n * DB_HANDON_MAX + 1, sizeof *pub);
        if (pub == NULL) {
            /* Committed already: the rows wait unpublished for the relay. */
            log_error("out of memory");
            db_rescue_items_free(&items);
            ok = false;
            break;
        }
        for (size_t i = 0; i < items.n; i++) {
            const struct db_rescue_item *it = &items.items[i];

            if (it->abandoned) {
                s->abandoned++;
                log_write(
                    LOG_LEVEL_ERROR, it->id,
                    "outcome=failed kind=transient error=\"abandoned: the consumer "
                    "holding it stopped before finishing and no retries are left\"");
                for (size_t k = 0; k < it->next.n; k++)
                    pub[npub++] = it->next.ids[k];
            } else {
                s->rescued++;
                log_write(
                    LOG_LEVEL_WARN, it->id,
                    "rescued: the consumer holding it stopped before finishing (its "
                    "lease expired); back to pending, the attempt counts");
                pub[npub++] = it->id;
            }
        }
        /* A broker failure leaves them unpublished for the relay: not a reason to stop
         * rescuing. */
        if (publish_and_mark(r, pub, npub, s) == ST_DB) {
            s->db_failed = true;
            ok = false;
        }
        free(pub);
        pub = NULL;
        if (!ok || items.n < REAPER_RESCUE_BATCH) {
            db_rescue_items_free(&items);
            break;
        }
        db_rescue_items_free(&items);
        beat_if_due(r);
        if (r->db == NULL)
            return false;
    }
    return ok && r->db != NULL;
}

/* Relay one kind of candidates, page by page in seq order (so a row that stays a
 * candidate, e.g. one that could not be marked, is not met twice in a sweep). */
static bool step_relay(struct reaper *r, struct sweep *s, enum db_relay_kind kind,
                       int64_t age_ms)
{
    struct db_ids ids = {NULL, 0};
    const char **ptrs = NULL;
    int64_t after = 0, last = 0;
    struct err e = {0};
    enum status st;

    while (!s->broker_down) {
        int64_t before = s->relayed;

        if (stopping()) {
            s->interrupted = true;
            break;
        }
        if (db_reaper_relay_candidates(r->db, kind, after, age_ms, REAPER_RELAY_BATCH,
                                       &ids, &last, &e) != ST_OK) {
            sweep_db_error(r, s, &e);
            return false;
        }
        if (ids.n == 0)
            break;
        ptrs = malloc(ids.n * sizeof *ptrs);
        if (ptrs == NULL) {
            db_ids_free(&ids);
            return false;
        }
        for (size_t i = 0; i < ids.n; i++)
            ptrs[i] = ids.ids[i];
        st = publish_and_mark(r, ptrs, ids.n, s);
        if (kind == DB_RELAY_OVERDUE) {
            s->overdue += s->relayed - before;
            for (size_t i = 0; i < ids.n && st == ST_OK; i++)
                log_write(LOG_LEVEL_WARN, ids.ids[i],
                          "republished: pending and due for more than %" PRId64
                          "ms without being taken (its message was probably lost)",
                          age_ms);
        }
        free(ptrs);
        ptrs = NULL;
        if (st == ST_DB || st == ST_NOMEM || ids.n < REAPER_RELAY_BATCH) {
            db_ids_free(&ids);
            if (st == ST_DB || st == ST_NOMEM) {
                s->db_failed = s->db_failed || st == ST_DB;
                return false;
            }
            break;
        }
        db_ids_free(&ids);
        after = last;
        beat_if_due(r);
        if (r->db == NULL)
            return false;
    }
    return true;
}

/* Overdue rows, unless the work queue holds ready messages: then the rows are most likely
 * waiting their turn, and republishing would duplicate a healthy backlog. */
static bool step_overdue(struct reaper *r, struct sweep *s)
{
    struct err e = {0};
    uint32_t ready = 0, consumers = 0;

    for (int attempt = 0;; attempt++) {
        if (s->broker_down || !ensure_mq(r)) {
            s->broker_down = true;
            return true;
        }
        if (mq_queue_depth(r->mq, "work", &ready, &consumers, &e) == ST_OK)
            break;
        if (attempt > 0 || !mq_call_failed(r, &e)) {
            s->broker_down = true;
            return true;
        }
    }
    if (ready > 0) {
        s->overdue_skipped = true;
        s->ready = ready;
        return true;
    }
    return step_relay(r, s, DB_RELAY_OVERDUE, r->grace_ms);
}

/* Delete old finished rows, one short transaction per batch, timing each. */
static bool step_cleanup(struct reaper *r, struct sweep *s)
{
    struct err e = {0};
    int64_t deleted, t0, dt;

    s->cleanup = true;
    for (;;) {
        if (stopping()) {
            s->interrupted = true;
            return true;
        }
        t0 = clock_now_ms();
        if (db_reaper_cleanup_batch(r->db, r->cfg->retention_ms, REAPER_CLEANUP_BATCH,
                                    &deleted, &e) != ST_OK) {
            sweep_db_error(r, s, &e);
            return false;
        }
        dt = clock_now_ms() - t0;
        s->cleanup_batches++;
        s->deleted += deleted;
        if (dt > s->longest_batch_ms)
            s->longest_batch_ms = dt;
        if (deleted < REAPER_CLEANUP_BATCH)
            break;
        beat_if_due(r);
        if (r->db == NULL)
            return false;
    }
    s->cleaned = true;
    return true;
}

static bool cleanup_due(struct reaper *r, struct sweep *s)
{
    struct err e = {0};
    int64_t age = -1;

    if (r->once)
        return true;
    if (db_reaper_cleanup_age(r->db, &age, &e) != ST_OK) {
        sweep_db_error(r, s, &e);
        return false;
    }
    return age < 0 || age >= REAPER_CLEANUP_EVERY_MS;
}

/* The sweep's own account, stored for `tmdbq status`; malloc'd, NULL on out of memory. */
static char *sweep_json(const struct sweep *s)
{
    return codec_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:I, s:I, s:I, s:b, s:s, s:b}", "relayed",
        (long long)s->relayed, "overdue", (long long)s->overdue, "rescued",
        (long long)s->rescued, "abandoned", (long long)s->abandoned, "deleted",
        (long long)s->deleted, "ms", (long long)s->ms, "cleanup", (int)s->cleanup,
        "cleanup_batches", (long long)s->cleanup_batches, "longest_batch_ms",
        (long long)s->longest_batch_ms, "purged", (long long)s->purged, "overdue_skipped",
        (int)s->overdue_skipped, "broker", s->broker_down ? "down" : "ok", "complete",
        (int)(!s->db_failed && !s->broker_down && !s->interrupted));
}

static void sweep_log(const struct sweep *s)
{
    char cleanup[160] = "", extra[320] = "";
    size_t off = 0;

    if (s->cleanup)
        snprintf(cleanup, sizeof cleanup,
                 " cleanup_batches=%" PRId64 " longest_batch_ms=%" PRId64 "%s",
                 s->cleanup_batches, s->longest_batch_ms,
                 s->cleaned ? "" : " cleanup=partial");
    if (s->overdue_skipped)
        off +=
            (size_t)snprintf(extra + off, sizeof extra - off,
                             " overdue_check=skipped(work queue has %u ready)", s->ready);
    if (s->purged > 0 && off < sizeof extra)
        off += (size_t)snprintf(extra + off, sizeof extra - off,
                                " registry_purged=%" PRId64, s->purged);
    if (s->broker_down && off < sizeof extra)
        off += (size_t)snprintf(extra + off, sizeof extra - off, " broker=down");
    if (s->interrupted && off < sizeof extra)
        off += (size_t)snprintf(extra + off, sizeof extra - off, " stopped_early=true");
    if (s->db_failed && off < sizeof extra)
        snprintf(extra + off, sizeof extra - off, " database=failed");
    log_write(s->db_failed || s->broker_down ? LOG_LEVEL_WARN : LOG_LEVEL_INFO, NULL,
              "sweep: relayed=%" PRId64 " overdue=%" PRId64 " rescued=%" PRId64
              " abandoned=%" PRId64 " deleted=%" PRId64 " ms=%" PRId64 "%s%s",
              s->relayed, s->overdue, s->rescued, s->abandoned, s->deleted, s->ms,
              cleanup, extra);
}

/* One sweep (the caller leads). Fills *s. */
static void sweep(struct reaper *r, struct sweep *s)
{
    int64_t t0 = clock_now_ms(), purged_c = 0, purged_r = 0;
    char *json = NULL;
    struct err e = {0};
    bool ok;

    memset(s, 0, sizeof *s);
    r->mq_fresh = false;
    ok = step_rescue(r, s);
    if (ok && !s->interrupted)
        ok = step_relay(r, s, DB_RELAY_UNPUBLISHED, REAPER_SETTLE_MS);
    if (ok && !s->interrupted)
        ok = step_overdue(r, s);
    if (ok && !s->interrupted && cleanup_due(r, s))
        ok = step_cleanup(r, s);
    if (ok && !s->db_failed && !s->interrupted) {
        if (db_reaper_purge_registry(r->db, r->id, REAPER_STALE_MS, &purged_c, &purged_r,
                                     &e) != ST_OK)
            sweep_db_error(r, s, &e);
        s->purged = purged_c + purged_r;
    }
    s->ms = clock_now_ms() - t0;
    sweep_log(s);
    if (r->db != NULL && (json = sweep_json(s)) != NULL) {
        memset(&e, 0, sizeof e);
        if (db_reaper_record_sweep(r->db, r->id, json, s->cleanup && s->cleaned, &e) !=
            ST_OK)
            db_failed(r, &e);
        else if (!s->db_failed && r->sql_failing) {
            log_info("PostgreSQL statements succeed again");
            r->sql_failing = false;
        }
    }
    free(json);
}

/* ---- the loop ---------------------------------------------------------------------- */

static void identity(struct reaper *r)
{
    if (gethostname(r->host, sizeof r->host) != 0 || r->host[0] == '\0')
        snprintf(r->host, sizeof r->host, "unknown");
    r->host[sizeof r->host - 1] = '\0';
    r->pid = (int)getpid();
    snprintf(r->id, sizeof r->id, "%s:%d", r->host, r->pid);
}

static void leave(struct reaper *r)
{
    struct err e = {0};

    if (r->db != NULL && db_reaper_retire(r->db, r->id, &e) != ST_OK)
        log_debug("could not leave the reaper registry: %s", e.msg);
    /* Closing the connection releases the leader's lock. */
    r->leader = false;
    db_close(r->db);
    r->db = NULL;
    close_mq(r);
}

static enum status run_once(struct reaper *r, struct err *e)
{
    struct sweep s;
    enum status st = ST_OK;

    if (!connect_db(r))
        return err_set(e, ST_DB, "--once: could not start (see above)");
    if (beat(r) != ST_OK) {
        leave(r);
        return err_set(e, ST_DB, "--once: could not register or take the lead");
    }
    if (!r->leader) {
        log_warn("--once: another reaper leads (it holds the leader's lock): nothing "
                 "done, its sweeps do this work");
        leave(r);
        return ST_OK;
    }
    sweep(r, &s);
    if (s.interrupted)
        st = ST_OK;
    else if (s.db_failed || r->db == NULL)
        st = err_set(e, ST_DB, "--once: the sweep did not get through: %.400s",
                     s.error[0] != '\0' ? s.error : "PostgreSQL failed");
    else if (s.broker_down)
        st = err_set(e, ST_MQ,
                     "--once: RabbitMQ was not available: the unpublished rows wait for "
                     "the next sweep");
    leave(r);
    return st;
}

enum status reaper_run(const struct cfg *cfg, bool once, struct err *e)
{
    struct reaper *r;
    char every[32], retention[32], grace[32], beat_s[32];
    enum status st = ST_OK;

    r = calloc(1, sizeof *r);
    if (r == NULL)
        return err_set(e, ST_NOMEM, "out of memory");
    r->cfg = cfg;
    r->once = once;
    r->policy = backoff_policy_of(cfg);
    r->grace_ms = reaper_grace_ms(cfg);
    r->beat_ms = cfg->sweep_interval_ms < REAPER_BEAT_MAX_MS ? cfg->sweep_interval_ms
                                                             : REAPER_BEAT_MAX_MS;
    reconnect_reset(&r->db_rc);
    reconnect_reset(&r->mq_rc);
    identity(r);
    cfg_format_duration(cfg->sweep_interval_ms, every, sizeof every);
    cfg_format_duration(cfg->retention_ms, retention, sizeof retention);
    cfg_format_duration(r->grace_ms, grace, sizeof grace);
    cfg_format_duration(r->beat_ms, beat_s, sizeof beat_s);
    log_info("reaper %s: sweep every %s (when leading; leader lock tried every %s), "
             "cleanup daily of rows older than %s, overdue grace %s%s",
             r->id, every, beat_s, retention, grace, once ? ", --once" : "");

    if (once) {
        st = run_once(r, e);
        free(r);
        return st;
    }
    while (!stopping()) {
        int64_t now = clock_now_ms(), wake;

        if (r->db == NULL) {
            if (now < r->db_rc.next_ms) {
                clock_sleep_ms(r->db_rc.next_ms - now < SLICE_MS ? r->db_rc.next_ms - now
                                                                 : SLICE_MS);
                continue;
            }
            if (!connect_db(r))
                continue;
        }
        if (clock_now_ms() >= r->next_beat_ms)
            beat(r);
        if (r->db != NULL && r->leader && clock_now_ms() >= r->next_sweep_ms) {
            struct sweep s;
            int64_t started = clock_now_ms();

            sweep(r, &s);
            r->next_sweep_ms = started + cfg->sweep_interval_ms;
        }
        if (r->db == NULL)
            continue;
        wake = r->next_beat_ms;
        if (r->leader && r->next_sweep_ms < wake)
            wake = r->next_sweep_ms;
        now = clock_now_ms();
        if (wake > now)
            clock_sleep_ms(wake - now < SLICE_MS ? wake - now : SLICE_MS);
    }
    log_info("stopping");
    leave(r);
    free(r);
    return ST_OK;
}
