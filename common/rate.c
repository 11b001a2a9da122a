/*
 * rate: one process's share of TMDB's request ceiling (see rate.h for the contract).
 *
 * Main design choice: the budget is a schedule, not a counter. PostgreSQL hands out slot
 * times (the generic cell rate algorithm: the scope's next free slot moves on by one
 * interval per slot), so processes that never talk to each other still send at most
 * `rate` requests in any second together, whatever their number, and the cost is one
 * statement per lease of several slots. A process asks for about as many slots as it
 * used over the last quarter second plus the threads waiting now, so an idle process
 * leases none and a busy one leases runs that keep its threads fed.
 */
#include "rate.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"

/* Every wait is cut into slices this long, so quit is asked that often. */
#define SLICE_MS 100
/* The take times remembered for the demand estimate (also the largest lease). */
#define RECENT_MAX 64
/* Counts not yet reported are sent with a 429's report, a lease, or at most this late
 * (rate_flush). */
#define REPORT_EVERY_MS 5000

struct rate {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a lease ended, or a cool-down started */
    double rate;
    double interval_ms;
    int span_slots; /* the most slots one lease asks for */
    char scope[280];

    /* The leased slots not handed out yet: next..count-1, slot i at first_ms + i *
     * interval_ms on this process's monotonic clock. */
    double first_ms;
    int next, count;
    bool leasing;
    int waiters;
    int64_t ask_again_ms; /* a lease was refused: not before then */
    int64_t cooldown_until_ms;

    int64_t recent[RECENT_MAX]; /* take times, a ring */
    int recent_at;
    int unreported_sent, unreported_limited;
    int64_t reported_ms;
};

enum status rate_new(double rate, const char *scope, struct rate **out, struct err *e)
{
    struct rate *r;
    pthread_condattr_t ca;

    *out = NULL;
    if (!(rate >= 0) || scope == NULL || scope[0] == '\0')
        return err_set(e, ST_INVALID, "invalid TMDB request budget");
    r = calloc(1, sizeof *r);
    if (r == NULL)
        return err_set(e, ST_NOMEM, "out of memory");
    pthread_mutex_init(&r->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    r->rate = rate;
    if (rate > 0) {
        r->interval_ms = (1000.0 + RATE_SLOT_SLACK_MS) / rate;
        r->span_slots = (int)(RATE_LEASE_SPAN_MS / r->interval_ms);
        if (r->span_slots < 1)
            r->span_slots = 1;
        if (r->span_slots > RECENT_MAX)
            r->span_slots = RECENT_MAX;
    }
    snprintf(r->scope, sizeof r->scope, "%s", scope);
    r->reported_ms = clock_now_ms();
    *out = r;
    return ST_OK;
}

enum status rate_scope_new(const struct cfg *cfg, const char *host, struct rate **out,
                           struct err *e)
{
    char scope[280];

    if (cfg->tmdb_rate_scope == CFG_RATE_SCOPE_HOST)
        snprintf(scope, sizeof scope, "host:%s", host);
    else
        snprintf(scope, sizeof scope, "queue");
    return rate_new(cfg->tmdb_rate, scope, out, e);
}

void rate_free(struct rate *r)
{
    if (r == NULL)
        return;
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

double rate_per_second(const struct rate *r) { return r->rate; }

/* Wait on the condition for at most ms (the lock is held). */
static void wait_cv(struct rate *r, int64_t ms)
{
    struct timespec ts;

    if (ms > SLICE_MS)
        ms = SLICE_MS;
    if (ms < 1)
        ms = 1;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&r->cv, &r->mu, &ts);
}

/* Slots to ask for: the threads waiting now plus the takes of the last lease span. */
static int lease_want(const struct rate *r, int64_t now)
{
    int want = r->waiters;

    for (int i = 0; i < RECENT_MAX; i++) {
        if (r->recent[i] != 0 && r->recent[i] > now - RATE_LEASE_SPAN_MS)
            want++;
    }
    if (want < 1)
        want = 1;
    return want > r->span_slots ? r->span_slots : want;
}

/* Lease slots (the lock is held on entry and on return; released for the statement). */
static enum status lease(struct rate *r, struct db *db, struct err *e)
{
    struct db_rate_ask ask = {
        .scope = r->scope,
        .rate = r->rate,
        .interval_ms = r->interval_ms,
        .want = lease_want(r, clock_now_ms()),
        .horizon_ms = RATE_HORIZON_MS,
        .sent = r->unreported_sent,
        .limited = r->unreported_limited,
    };
    struct db_rate_grant g;
    enum status st;
    int64_t t0, t;

    r->leasing = true;
    r->unreported_sent = r->unreported_limited = 0;
    pthread_mutex_unlock(&r->mu);
    t0 = clock_now_ms();
    st = db_rate_lease(db, &ask, &g, e);
    t = clock_now_ms();
    pthread_mutex_lock(&r->mu);
    r->leasing = false;
    pthread_cond_broadcast(&r->cv);
    if (st != ST_OK) {
        r->unreported_sent += ask.sent;
        r->unreported_limited += ask.limited;
        return st;
    }
    r->reported_ms = t;
    if (g.cooldown_ms > 0 && t + g.cooldown_ms > r->cooldown_until_ms)
        r->cooldown_until_ms = t + g.cooldown_ms;
    if (g.granted > 0) {
        /* The server read its clock somewhere inside the round trip, before the commit
         * that ends it: timed from the middle, a process is off by at most half its
         * round trip, which the slack covers. */
        r->first_ms = (double)(t0 + t) / 2.0 + g.first_ms;
        r->next = 0;
        r->count = g.granted;
    } else {
        r->ask_again_ms = t + (g.wait_ms > 0 ? g.wait_ms : 1);
    }
    return ST_OK;
}

/* Sleep until the slot's time, asking quit every slice: false when told to quit. */
static bool sleep_until(double at_ms, bool (*quit)(void *), void *arg)
{
    int64_t at = (int64_t)at_ms;

    if ((double)at < at_ms)
        at++; /* never before the slot's time */
    for (;;) {
        int64_t left = at - clock_now_ms();

        if (left <= 0)
            return true;
        if (quit(arg))
            return false;
        clock_sleep_ms(left < SLICE_MS ? left : SLICE_MS);
    }
}

enum status rate_take(struct rate *r, struct db *db, bool (*quit)(void *), void *arg,
                      struct err *e)
{
    enum status st = ST_OK;
    double slot = 0;
    int64_t now;

    if (quit(arg))
        return err_set(e, ST_TIMEOUT, "stopping");
    pthread_mutex_lock(&r->mu);
    r->waiters++;
    for (;;) {
        now = clock_now_ms();
        if (now < r->cooldown_until_ms) {
            wait_cv(r, r->cooldown_until_ms - now);
        } else if (r->rate <= 0) {
            slot = (double)now;
            break;
        } else {
            /* Slots whose time passed unused stay unused: a late one would crowd the
             * requests of the next second. */
            while (r->next < r->count && r->first_ms + r->next * r->interval_ms <
                                             (double)(now - RATE_SLOT_GRACE_MS))
                r->next++;
            if (r->next < r->count) {
                slot = r->first_ms + r->next * r->interval_ms;
                r->next++;
                break;
            }
            if (r->leasing || now < r->ask_again_ms) {
                wait_cv(r, r->leasing ? SLICE_MS : r->ask_again_ms - now);
            } else {
                st = lease(r, db, e);
                if (st != ST_OK)
                    break;
                continue;
            }
        }
        if (quit(arg)) {
            st = err_set(e, ST_TIMEOUT, "stopping");
            break;
        }
    }
    r->waiters--;
    if (st == ST_OK) {
        r->recent[r->recent_at] = now;
        r->recent_at = (r->recent_at + 1) % RECENT_MAX;
        r->unreported_sent++;
    }
    pthread_mutex_unlock(&r->mu);
    if (st == ST_OK && !sleep_until(slot, quit, arg)) {
        /* The slot is spent unused; the count stays, as a request cannot be unsent. */
        return err_set(e, ST_TIMEOUT, "stopping");
    }
    return st;
}

/* Report the counts (and a cool-down) without leasing: the lock is held. */
static void report(struct rate *r, struct db *db, int64_t cooldown_ms)
{
    struct db_rate_ask ask = {
        .scope = r->scope,
        .rate = r->rate,
        .interval_ms = r->interval_ms,
        .want = 0,
        .horizon_ms = RATE_HORIZON_MS,
        .sent = r->unreported_sent,
        .limited = r->unreported_limited,
        .cooldown_ms = cooldown_ms,
    };
    struct db_rate_grant g;
    struct err e = {0};

    if (r->rate <= 0)
        r->unreported_sent = r->unreported_limited = 0;
    if (db == NULL || r->rate <= 0)
        return;
    r->unreported_sent = r->unreported_limited = 0;
    r->reported_ms = clock_now_ms();
    pthread_mutex_unlock(&r->mu);
    if (db_rate_lease(db, &ask, &g, &e) != ST_OK) {
        log_debug("could not report to the TMDB request budget: %s", e.msg);
        pthread_mutex_lock(&r->mu);
        r->unreported_sent += ask.sent;
        r->unreported_limited += ask.limited;
        return;
    }
    pthread_mutex_lock(&r->mu);
}

void rate_note(struct rate *r, struct db *db, bool limited, int64_t retry_after_ms)
{
    int64_t now = clock_now_ms();

    pthread_mutex_lock(&r->mu);
    if (limited) {
        if (retry_after_ms < 1000)
            retry_after_ms = 1000;
        if (now + retry_after_ms > r->cooldown_until_ms)
            r->cooldown_until_ms = now + retry_after_ms;
        r->next = r->count; /* the leased slots fall inside the cool-down */
        r->unreported_limited++;
        report(r, db, retry_after_ms);
        pthread_cond_broadcast(&r->cv);
    } else if (r->unreported_sent > 0 && now - r->reported_ms >= REPORT_EVERY_MS) {
        report(r, db, 0);
    }
    pthread_mutex_unlock(&r->mu);
}

void rate_flush(struct rate *r, struct db *db, bool now)
{
    pthread_mutex_lock(&r->mu);
    if ((r->unreported_sent > 0 || r->unreported_limited > 0) &&
        (now || clock_now_ms() - r->reported_ms >= REPORT_EVERY_MS))
        report(r, db, 0);
    pthread_mutex_unlock(&r->mu);
}

int64_t rate_cooldown_left_ms(struct rate *r)
{
    int64_t left;

    pthread_mutex_lock(&r->mu);
    left = r->cooldown_until_ms - clock_now_ms();
    pthread_mutex_unlock(&r->mu);
    return left > 0 ? left : 0;
}
