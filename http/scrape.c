/*
 * scrape: /metrics and /healthz (see scrape.h).
 *
 * The page is written top to bottom into a memory stream, one metric family at a time
 * (# HELP, # TYPE, samples), from three reads: tmdbq_status through a pooled handle, the
 * counters and the oldest pending operation through the monitoring connection. A figure
 * that is unknown (RabbitMQ unreachable, the management API silent) is left out rather
 * than written as a made-up number; tmdbq_broker_up says why it is missing.
 */
#include "scrape.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "db.h"
#include "metrics.h"
#include "pool.h"
#include "tmdbq.h"

#define CODE_MAX 600

struct scrape {
    const char *database_url;
    int64_t connect_timeout_ms;
    struct pool *pool;
    pthread_mutex_t mu; /* guards db */
    struct db *db;      /* the monitoring connection; NULL until needed or after a loss */
    atomic_llong requests[CODE_MAX];
};

enum status scrape_new(const char *database_url, int64_t connect_timeout_ms,
                       struct pool *pool, struct scrape **out, struct err *e)
{
    struct scrape *s = calloc(1, sizeof *s);

    *out = NULL;
    if (s == NULL)
        return err_set(e, ST_NOMEM, "out of memory");
    s->database_url = database_url;
    s->connect_timeout_ms = connect_timeout_ms;
    s->pool = pool;
    pthread_mutex_init(&s->mu, NULL);
    for (size_t i = 0; i < CODE_MAX; i++)
        atomic_init(&s->requests[i], 0);
    *out = s;
    return ST_OK;
}

void scrape_free(struct scrape *s)
{
    if (s == NULL)
        return;
    db_close(s->db);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

void scrape_count_request(struct scrape *s, int status)
{
    if (status >= 100 && status < CODE_MAX)
        atomic_fetch_add(&s->requests[status], 1);
}

/* ---- the monitoring connection ------------------------------------------------------
 */

/* With s->mu held: the connection, opened when missing. */
static enum status monitor_db(struct scrape *s, struct err *e)
{
    if (s->db != NULL)
        return ST_OK;
    return db_open(s->database_url, s->connect_timeout_ms, &s->db, e);
}

/* With s->mu held: after a failed statement, drop a connection that was lost, so the
 * next use opens a new one. Whether to try again now is the caller's choice. */
static bool monitor_lost(struct scrape *s, enum status st)
{
    if (st != ST_DB || s->db == NULL || db_connected(s->db))
        return false;
    db_close(s->db);
    s->db = NULL;
    return true;
}

static char *json_text(json_t *v)
{
    char *text = v != NULL ? json_dumps(v, JSON_COMPACT) : NULL;

    json_decref(v);
    return text;
}

void scrape_health(struct scrape *s, int *status, char **body)
{
    struct err e = {0};
    enum status st = ST_DB;

    pthread_mutex_lock(&s->mu);
    /* A connection that died while idle fails its first statement: one more try on a
     * new one tells a restarted server (healthy) from a missing one. */
    for (int attempt = 0; attempt < 2; attempt++) {
        memset(&e, 0, sizeof e);
        st = monitor_db(s, &e);
        if (st == ST_OK)
            st = db_ping(s->db, &e);
        if (st == ST_OK || !monitor_lost(s, st))
            break;
    }
    pthread_mutex_unlock(&s->mu);
    if (st == ST_OK) {
        *status = 200;
        *body = json_text(json_pack("{s:s}", "status", "ok"));
    } else {
        *status = 503;
        *body =
            json_text(json_pack("{s:s,s:s}", "status", "unavailable", "error", e.msg));
        if (*body == NULL) /* a message that is not UTF-8 */
            *body = strdup("{\"status\":\"unavailable\"}");
    }
}

/* ---- the page -----------------------------------------------------------------------
 */

/* A label value, escaped as the text format wants (backslash, quote, newline). */
static void put_label(FILE *f, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            fputc('\\', f);
        if (*v == '\n')
            fputs("\\n", f);
        else
            fputc(*v, f);
    }
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample_int(FILE *f, const char *name, int64_t v)
{
    fprintf(f, "%s %" PRId64 "\n", name, v);
}

static void sample_num(FILE *f, const char *name, double v)
{
    fprintf(f, "%s %.6f\n", name, v);
}

/* name{key="value"} v, with one label. */
static void sample_label(FILE *f, const char *name, const char *key, const char *value,
                         double v, bool integer)
{
    fprintf(f, "%s{%s=\"", name, key);
    put_label(f, value);
    if (integer)
        fprintf(f, "\"} %.0f\n", v);
    else
        fprintf(f, "\"} %.6f\n", v);
}

/* Seconds from now to an ISO 8601 UTC time ("2026-11-30T12:00:00.123Z"); 0 when it is
 * past or does not parse. */
static double seconds_until(const char *iso)
{
    struct tm tm;
    struct timespec now;
    int ms = 0;
    double t;

    if (iso == NULL)
        return 0;
    memset(&tm, 0, sizeof tm);
    if (sscanf(iso, "%4d-%2d-%2dT%2d:%2d:%2d.%3d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) < 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    t = (double)timegm(&tm) + ms / 1000.0;
    clock_gettime(CLOCK_REALTIME, &now);
    t -= (double)now.tv_sec + (double)now.tv_nsec / 1e9;
    return t > 0 ? t : 0;
}

static void put_queue(FILE *f, const struct tmdbq_queue *q, const char *state, int64_t v)
{
    if (v < 0)
        return;
    fputs("tmdbq_queue_messages{queue=\"", f);
    put_label(f, q->name);
    fprintf(f, "\",state=\"%s\"} %" PRId64 "\n", state, v);
}

static void put_queues(FILE *f, const struct tmdbq_status *st)
{
    family(
        f, "tmdbq_broker_up", "gauge",
        "1 when RabbitMQ answered this scrape over AMQP, else 0 (queue figures are then "
        "missing)");
    sample_int(f, "tmdbq_broker_up", st->broker_reachable ? 1 : 0);
    family(
        f, "tmdbq_broker_management_up", "gauge",
        "1 when RabbitMQ's management API answered this scrape (unacked counts come from "
        "it), else 0");
    sample_int(f, "tmdbq_broker_management_up", st->management_reachable ? 1 : 0);
    family(f, "tmdbq_queue_messages", "gauge",
           "Messages in each queue by state: ready (exact, AMQP, at scrape time) and "
           "unacked "
           "(delivered, not yet acknowledged; the management API's sample, a few seconds "
           "old)");
    put_queue(f, &st->work, "ready", st->work.ready);
    put_queue(f, &st->work, "unacked", st->work.unacked);
    for (size_t i = 0; i < st->n_retry; i++) {
        put_queue(f, &st->retry[i], "ready", st->retry[i].ready);
        put_queue(f, &st->retry[i], "unacked", st->retry[i].unacked);
    }
    put_queue(f, &st->dead, "ready", st->dead.ready);
    put_queue(f, &st->dead, "unacked", st->dead.unacked);
    family(f, "tmdbq_queue_consumers", "gauge",
           "AMQP consumers attached to each queue (exact, at scrape time)");
    if (st->work.consumers >= 0)
        sample_label(f, "tmdbq_queue_consumers", "queue", st->work.name,
                     (double)st->work.consumers, true);
}

static void put_registry(FILE *f, const struct tmdbq_status *st)
{
    int64_t live = 0, stale = 0, reapers = 0, leader = 0, in_flight = 0;

    for (size_t i = 0; i < st->n_consumers; i++) {
        if (st->consumers[i].live) {
            live++;
            in_flight += st->consumers[i].in_flight;
        } else {
            stale++;
        }
    }
    for (size_t i = 0; i < st->n_reapers; i++) {
        reapers += st->reapers[i].live ? 1 : 0;
        leader += st->reapers[i].live && st->reapers[i].leader ? 1 : 0;
    }
    family(f, "tmdbq_consumers_live", "gauge",
           "Consumer workers (threads of tmdbq-consumer) that reported within the last "
           "15 s; "
           "they report every 5 s");
    sample_int(f, "tmdbq_consumers_live", live);
    family(f, "tmdbq_consumers_stale", "gauge",
           "Consumer workers registered but silent for more than 15 s (stopped without "
           "unregistering, or stuck)");
    sample_int(f, "tmdbq_consumers_stale", stale);
    family(f, "tmdbq_consumers_in_flight", "gauge",
           "Operations the live consumer workers were executing at their last report");
    sample_int(f, "tmdbq_consumers_in_flight", in_flight);
    family(f, "tmdbq_reapers_live", "gauge",
           "Reapers that reported within the last 15 s");
    sample_int(f, "tmdbq_reapers_live", reapers);
    family(f, "tmdbq_reaper_leader_live", "gauge",
           "1 when a live reaper holds the lead (rescue, relay and cleanup run), else 0");
    sample_int(f, "tmdbq_reaper_leader_live", leader > 0 ? 1 : 0);
}

static void put_budgets(FILE *f, const struct tmdbq_status *st)
{
    static const struct {
        const char *name, *help;
    } fams[] = {
        {"tmdbq_tmdb_budget_rate", "TMDB requests per second the scope's consumers are "
                                   "configured to (TMDBQ_TMDB_RATE; 0: no budget)"},
        {"tmdbq_tmdb_budget_sent_per_second",
         "TMDB requests per second the scope sent over the last minute"},
        {"tmdbq_tmdb_budget_requests_last_minute",
         "TMDB requests the scope sent over the last minute (10 s buckets)"},
        {"tmdbq_tmdb_budget_rate_limited_last_minute", "Of those, answered 429 by TMDB"},
        {"tmdbq_tmdb_budget_cooldown_seconds",
         "Seconds left of the scope's cool-down after a 429 (no request goes out "
         "before), 0 "
         "when none holds"},
    };

    for (size_t k = 0; k < sizeof fams / sizeof fams[0]; k++) {
        family(f, fams[k].name, "gauge", fams[k].help);
        for (size_t i = 0; i < st->n_budgets; i++) {
            const struct tmdbq_budget *b = &st->budgets[i];
            double v = k == 0   ? b->rate
                       : k == 1 ? b->sent_per_s
                       : k == 2 ? (double)b->requests_1m
                       : k == 3 ? (double)b->limited_1m
                                : seconds_until(b->cooldown_until);
            sample_label(f, fams[k].name, "scope", b->scope, v, k == 2 || k == 3);
        }
    }
}

/* Bucket bounds as stored (labels of METRICS_TMDB_BUCKET) with their counts. */
struct bucket {
    double le;
    const char *label;
    int64_t count;
};

static int bucket_cmp(const void *a, const void *b)
{
    const struct bucket *x = a, *y = b;

    return (x->le > y->le) - (x->le < y->le);
}

static void put_counters(FILE *f, const struct db_metrics *m)
{
    static const char *const outcomes[] = {"completed", "failed", "retry"};
    struct bucket buckets[METRICS_BUCKETS + 32];
    size_t nb = 0;
    int64_t total = 0, sum_us = 0;

    family(
        f, "tmdbq_operations_finished_total", "counter",
        "Outcomes the consumers recorded: completed, failed, or retry (back to pending "
        "with a delay); every consumer adds its counts to PostgreSQL every 5 s");
    for (size_t k = 0; k < 3; k++) {
        int64_t v = 0;
        for (size_t i = 0; i < m->n; i++) {
            if (strcmp(m->items[i].name, METRICS_OUTCOMES) == 0 &&
                strcmp(m->items[i].label, outcomes[k]) == 0)
                v = m->items[i].value;
        }
        sample_label(f, "tmdbq_operations_finished_total", "outcome", outcomes[k],
                     (double)v, true);
    }
    family(
        f, "tmdbq_tmdb_requests_total", "counter",
        "HTTP requests the consumers sent to TMDB, by TMDB's HTTP status (\"none\": no "
        "answer, a timeout or connection error); added every 5 s");
    for (size_t i = 0; i < m->n; i++) {
        if (strcmp(m->items[i].name, METRICS_TMDB_REQUESTS) == 0)
            sample_label(f, "tmdbq_tmdb_requests_total", "code", m->items[i].label,
                         (double)m->items[i].value, true);
    }

    /* Every standard bound appears, counted or not, so the histogram keeps its shape;
     * bounds stored by another version of the consumers are kept too. */
    for (size_t k = 0; k < METRICS_BUCKETS; k++) {
        buckets[nb].le = (double)metrics_bucket_us[k] / 1e6;
        buckets[nb].label = metrics_bucket_labels[k];
        buckets[nb++].count = 0;
    }
    for (size_t i = 0; i < m->n; i++) {
        const struct db_metric *r = &m->items[i];
        char *end = NULL;
        double le;
        size_t k;

        if (strcmp(r->name, METRICS_TMDB_SUM_US) == 0) {
            sum_us += r->value;
            continue;
        }
        if (strcmp(r->name, METRICS_TMDB_BUCKET) != 0)
            continue;
        total += r->value;
        if (strcmp(r->label, "+Inf") == 0)
            continue; /* in the total only */
        le = strtod(r->label, &end);
        if (end == r->label || *end != '\0')
            continue; /* not a bound: counted in +Inf's total only */
        for (k = 0; k < nb && buckets[k].le != le; k++)
            ;
        if (k == nb) {
            if (nb == sizeof buckets / sizeof buckets[0])
                continue;
            buckets[nb].le = le;
            buckets[nb].label = r->label;
            buckets[nb++].count = 0;
        }
        buckets[k].count += r->value;
    }
    qsort(buckets, nb, sizeof buckets[0], bucket_cmp);
    family(f, "tmdbq_tmdb_request_duration_seconds", "histogram",
           "Duration of the consumers' HTTP requests to TMDB; added every 5 s");
    {
        int64_t cum = 0;
        for (size_t k = 0; k < nb; k++) {
            cum += buckets[k].count;
            fprintf(f,
                    "tmdbq_tmdb_request_duration_seconds_bucket{le=\"%s\"} %" PRId64 "\n",
                    buckets[k].label, cum);
        }
    }
    fprintf(f, "tmdbq_tmdb_request_duration_seconds_bucket{le=\"+Inf\"} %" PRId64 "\n",
            total);
    fprintf(f, "tmdbq_tmdb_request_duration_seconds_sum %.6f\n", (double)sum_us / 1e6);
    fprintf(f, "tmdbq_tmdb_request_duration_seconds_count %" PRId64 "\n", total);
}

static void put_self(FILE *f, struct scrape *s)
{
    struct pool_stats ps;
    char code[16];

    pool_stats(s->pool, &ps);
    family(f, "tmdbq_http_pool_handles", "gauge",
           "This tmdbq-http's database handles: busy (lent to a request) and idle");
    fprintf(f, "tmdbq_http_pool_handles{state=\"busy\"} %d\n", ps.busy);
    fprintf(f, "tmdbq_http_pool_handles{state=\"idle\"} %d\n", ps.open - ps.busy);
    family(f, "tmdbq_http_pool_size", "gauge",
           "TMDBQ_HTTP_POOL: the most handles it opens");
    sample_int(f, "tmdbq_http_pool_size", ps.size);
    family(f, "tmdbq_http_pool_timeouts_total", "counter",
           "Requests of this process answered 503 because no handle came free within "
           "TMDBQ_HTTP_POOL_WAIT (since it started)");
    sample_int(f, "tmdbq_http_pool_timeouts_total", ps.timeouts);
    family(f, "tmdbq_http_requests_total", "counter",
           "HTTP requests this process answered, by status (since it started)");
    for (int i = 0; i < CODE_MAX; i++) {
        long long n = atomic_load(&s->requests[i]);
        if (n == 0)
            continue;
        snprintf(code, sizeof code, "%d", i);
        sample_label(f, "tmdbq_http_requests_total", "code", code, (double)n, true);
    }
}

static void fail(int *status, char **body, const char *what, const char *why)
{
    size_t n = strlen(what) + strlen(why) + 32;

    *status = 503;
    *body = malloc(n);
    if (*body != NULL)
        snprintf(*body, n, "# tmdbq: %s: %s\n", what, why);
}

void scrape_metrics(struct scrape *s, int *status, char **body)
{
    struct tmdbq_status *st = NULL;
    struct db_metrics counters = {0};
    struct tmdbq *h = NULL;
    struct err e = {0};
    double oldest = 0;
    bool fresh, any = false;
    char *text = NULL;
    size_t len = 0;
    FILE *f = NULL;
    int rc;

    *body = NULL;
    if (pool_get(s->pool, &h, &fresh, &e) != ST_OK) {
        fail(status, body, "no database handle", e.msg);
        return;
    }
    rc = tmdbq_status(h, &st);
    if (rc == TMDBQ_ESERVICE && !fresh) {
        /* The handle's connection died while idle: once more on a new one. */
        pool_put(s->pool, h, true);
        h = NULL;
        if (pool_get(s->pool, &h, &fresh, &e) != ST_OK) {
            fail(status, body, "no database handle", e.msg);
            return;
        }
        rc = tmdbq_status(h, &st);
    }
    if (rc != TMDBQ_OK) {
        fail(status, body, "could not read the status", tmdbq_errmsg(h));
        pool_put(s->pool, h, rc == TMDBQ_ESERVICE);
        return;
    }
    pool_put(s->pool, h, false);

    pthread_mutex_lock(&s->mu);
    for (int attempt = 0; attempt < 2; attempt++) {
        enum status dst;

        memset(&e, 0, sizeof e);
        dst = monitor_db(s, &e);
        if (dst == ST_OK)
            dst = db_metrics_read(s->db, &counters, &e);
        if (dst == ST_OK)
            dst = db_metrics_oldest_pending(s->db, &oldest, &any, &e);
        if (dst == ST_OK || !monitor_lost(s, dst))
            break;
        db_metrics_free(&counters);
    }
    pthread_mutex_unlock(&s->mu);
    if (e.code != ST_OK) {
        fail(status, body, "could not read the counters", e.msg);
        goto out;
    }

    f = open_memstream(&text, &len);
    if (f == NULL)
        goto out;
    family(f, "tmdbq_operations", "gauge",
           "Operations in PostgreSQL by status (counted at scrape time)");
    sample_label(f, "tmdbq_operations", "status", "pending", (double)st->stats.pending,
                 true);
    sample_label(f, "tmdbq_operations", "status", "processing",
                 (double)st->stats.processing, true);
    sample_label(f, "tmdbq_operations", "status", "completed",
                 (double)st->stats.completed, true);
    sample_label(f, "tmdbq_operations", "status", "failed", (double)st->stats.failed,
                 true);
    sample_label(f, "tmdbq_operations", "status", "cancelled",
                 (double)st->stats.cancelled, true);
    family(f, "tmdbq_oldest_pending_age_seconds", "gauge",
           "Age of the oldest pending operation since it was enqueued, 0 when none is "
           "pending (at scrape time)");
    sample_num(f, "tmdbq_oldest_pending_age_seconds", any ? oldest : 0);
    family(f, "tmdbq_paused", "gauge", "1 while tmdbq pause holds the consumers, else 0");
    sample_int(f, "tmdbq_paused", st->pause.paused ? 1 : 0);
    put_counters(f, &counters);
    put_registry(f, st);
    put_queues(f, st);
    put_budgets(f, st);
    put_self(f, s);
    if (fclose(f) != 0) {
        free(text);
        text = NULL;
    }
    *status = text != NULL ? 200 : 500;
    *body = text;
out:
    db_metrics_free(&counters);
    tmdbq_status_free(st);
}
