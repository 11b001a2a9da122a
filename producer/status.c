/*
 * status: everything `tmdbq status` shows, read from PostgreSQL, RabbitMQ and its
 * management API, and printed as JSON or as text for people.
 *
 * PostgreSQL is the one source that must answer: the pause switch, the counts, the
 * consumers, reapers and TMDB budgets. The broker's figures are extras: a broker or
 * management API that does not answer makes them unknown (-1, null in JSON), never the
 * call's failure. The public struct borrows its strings from a store freed with it.
 */
#include "tmdbq_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "jsonout.h"
#include "log.h"
#include "mq.h"
#include "mqadmin.h"

/* Consumers and reapers report every 5 s (a reaper with a shorter sweep interval more
 * often): three missed reports make one stale. */
#define LIVE_MS 15000

/* The public status and the storage its pointers borrow from (pub first, so a pointer to
 * the one is a pointer to the other). */
struct status_store {
    struct tmdbq_status pub;
    struct db_consumers consumers;
    struct db_reapers reapers;
    struct tmdbq_consumer *cons;
    struct tmdbq_reaper *reaps;
    struct tmdbq_queue *retry;
    char (*retry_names)[160];
    char work_name[160];
    char dead_name[160];
    char broker_error[512];
    char management_url[512];
    char management_error[512];
    struct db_rate_scopes rate_scopes;
    struct tmdbq_budget *budgets;
};

static void queue_init(struct tmdbq_queue *q, const char *name, int64_t delay_ms)
{
    q->name = name;
    q->delay_ms = delay_ms;
    q->ready = q->unacked = q->consumers = -1;
}

/* Name the queues of this prefix and retry policy. */
static enum status status_queues(struct tmdbq *h, struct status_store *s)
{
    struct backoff_policy policy = backoff_policy_of(&h->cfg);
    size_t n = backoff_distinct_delays(&policy, NULL, 0);
    int64_t *delays = NULL;
    char suffix[64];

    snprintf(s->work_name, sizeof s->work_name, "%s.work", h->cfg.amqp_prefix);
    snprintf(s->dead_name, sizeof s->dead_name, "%s.dead", h->cfg.amqp_prefix);
    queue_init(&s->pub.work, s->work_name, 0);
    queue_init(&s->pub.dead, s->dead_name, 0);
    if (n == 0)
        return ST_OK;
    delays = calloc(n, sizeof *delays);
    s->retry = calloc(n, sizeof *s->retry);
    s->retry_names = calloc(n, sizeof *s->retry_names);
    if (delays == NULL || s->retry == NULL || s->retry_names == NULL) {
        free(delays);
        return err_set(&h->call.err, ST_NOMEM, "out of memory");
    }
    n = backoff_distinct_delays(&policy, delays, n);
    for (size_t i = 0; i < n; i++) {
        /* Named as the mq module names them. */
        mq_retry_suffix(delays[i], suffix, sizeof suffix);
        snprintf(s->retry_names[i], sizeof s->retry_names[i], "%s.%s", h->cfg.amqp_prefix,
                 suffix);
        queue_init(&s->retry[i], s->retry_names[i], delays[i]);
    }
    s->pub.retry = s->retry;
    s->pub.n_retry = n;
    free(delays);
    return ST_OK;
}

/* The queue's name without "<prefix>.", as mq_queue_depth wants it. */
static const char *queue_suffix(const struct tmdbq *h, const struct tmdbq_queue *q)
{
    return q->name + strlen(h->cfg.amqp_prefix) + 1;
}

/* Fill what AMQP and the management API say; failures only make figures unknown. */
static void status_broker(struct tmdbq *h, struct status_store *s)
{
    struct tmdbq_queue *all[2 + 64];
    size_t nq = 0;
    struct mqadmin *admin = NULL;
    struct err e = {0};
    const char *murl = h->cfg.amqp_management_url;

    all[nq++] = &s->pub.work;
    for (size_t i = 0; i < s->pub.n_retry && nq < sizeof all / sizeof all[0] - 1; i++)
        all[nq++] = &s->retry[i];
    all[nq++] = &s->pub.dead;

    if (broker_connect(h, &e) != ST_OK) {
        snprintf(s->broker_error, sizeof s->broker_error, "%s", e.msg);
        s->pub.broker_reachable = false;
        s->pub.broker_error = s->broker_error;
        s->pub.management_error = "not asked: the broker is unreachable";
        return;
    }
    s->pub.broker_reachable = true;
    for (size_t i = 0; i < nq; i++) {
        uint32_t ready = 0, consumers = 0;

        memset(&e, 0, sizeof e);
        if (mq_queue_depth(h->mq, queue_suffix(h, all[i]), &ready, &consumers, &e) !=
            ST_OK) {
            log_warn("%s", e.msg);
            continue;
        }
        all[i]->ready = ready;
        all[i]->consumers = consumers;
    }

    memset(&e, 0, sizeof e);
    if (mqadmin_open(h->cfg.amqp_url, murl, h->cfg.connect_timeout_ms, &admin, &e) !=
        ST_OK) {
        snprintf(s->management_error, sizeof s->management_error, "%s", e.msg);
        s->pub.management_error = s->management_error;
        return;
    }
    snprintf(s->management_url, sizeof s->management_url, "%s", mqadmin_where(admin));
    s->pub.management_url = s->management_url;
    s->pub.management_reachable = true;
    for (size_t i = 0; i < nq; i++) {
        struct mqadmin_queue mqa;
        enum status st;

        memset(&e, 0, sizeof e);
        st = mqadmin_queue(admin, all[i]->name, &mqa, &e);
        if (st == ST_NOT_FOUND)
            continue;
        if (st != ST_OK) {
            /* One failure tells enough: never wait out the timeout once per queue. */
            snprintf(s->management_error, sizeof s->management_error, "%s", e.msg);
            s->pub.management_error = s->management_error;
            s->pub.management_reachable = false;
            break;
        }
        all[i]->unacked = mqa.unacked;
    }
    mqadmin_close(admin);
}

static enum status status_budgets(struct tmdbq *h, struct status_store *s)
{
    enum status st = db_rate_status(h->db, &s->rate_scopes, &h->call.err);

    s->pub.configured_rate = h->cfg.tmdb_rate;
    s->pub.rate_scope = h->cfg.tmdb_rate_scope == CFG_RATE_SCOPE_HOST ? "host" : "queue";
    if (st != ST_OK || s->rate_scopes.n == 0)
        return st;
    st = call_calloc(h, s->rate_scopes.n, sizeof *s->budgets, (void **)&s->budgets);
    if (st != ST_OK)
        return st;
    for (size_t i = 0; i < s->rate_scopes.n; i++) {
        const struct db_rate_scope *r = &s->rate_scopes.items[i];

        s->budgets[i] = (struct tmdbq_budget){
            .scope = r->scope,
            .rate = r->rate,
            .sent_per_s = r->sent_per_s,
            .requests_1m = r->requests_1m,
            .limited_1m = r->limited_1m,
            .cooldown_until = r->cooldown_until[0] ? r->cooldown_until : NULL,
            .seen_at = r->seen_at,
        };
    }
    s->pub.budgets = s->budgets;
    s->pub.n_budgets = s->rate_scopes.n;
    return ST_OK;
}

/* The fields struct tmdbq_consumer and struct tmdbq_reaper take from a registry row's
 * struct db_process (borrowed: they live as long as the status). */
#define PROCESS_FIELDS(p)                                                                \
    .id = (p).id, .host = (p).host, .pid = (p).pid, .started_at = (p).started_at,        \
    .last_seen_at = (p).last_seen_at, .last_seen_age_s = (p).last_seen_age_s,            \
    .live = (p).live

int tmdbq_status(struct tmdbq *h, struct tmdbq_status **out)
{
    struct status_store *s = calloc(1, sizeof *s);
    struct db_pause_state pause;
    enum status st;

    call_begin(h);
    *out = NULL;
    if (s == NULL)
        return public_code(err_set(&h->call.err, ST_NOMEM, "out of memory"));
    st = db_pause_state(h->db, &pause, &h->call.err);
    if (st != ST_OK)
        goto out;
    pause_state_from_db(&pause, &s->pub.pause);
    st = stats_read(h, &s->pub.stats);
    if (st == ST_OK)
        st = db_list_consumers(h->db, LIVE_MS, &s->consumers, &h->call.err);
    if (st == ST_OK)
        st = db_list_reapers(h->db, LIVE_MS, &s->reapers, &h->call.err);
    if (st == ST_OK)
        st = call_calloc(h, s->consumers.n, sizeof *s->cons, (void **)&s->cons);
    if (st == ST_OK)
        st = call_calloc(h, s->reapers.n, sizeof *s->reaps, (void **)&s->reaps);
    if (st != ST_OK)
        goto out;
    for (size_t i = 0; i < s->consumers.n; i++) {
        const struct db_consumer_row *r = &s->consumers.items[i];
        s->cons[i] = (struct tmdbq_consumer){
            PROCESS_FIELDS(r->proc),   .processed = r->processed, .failed = r->failed,
            .in_flight = r->in_flight, .amqp_node = r->amqp_node,
        };
    }
    s->pub.consumers = s->cons;
    s->pub.n_consumers = s->consumers.n;
    for (size_t i = 0; i < s->reapers.n; i++) {
        const struct db_reaper_row *r = &s->reapers.items[i];
        s->reaps[i] = (struct tmdbq_reaper){
            PROCESS_FIELDS(r->proc),
            .leader = r->leader,
            .last_sweep_at = r->last_sweep_at[0] ? r->last_sweep_at : NULL,
            .last_sweep_json = r->last_sweep_json,
            .last_cleanup_at = r->last_cleanup_at[0] ? r->last_cleanup_at : NULL,
        };
    }
    s->pub.reapers = s->reaps;
    s->pub.n_reapers = s->reapers.n;
    st = status_budgets(h, s);
    if (st != ST_OK)
        goto out;
    st = status_queues(h, s);
    if (st != ST_OK)
        goto out;
    status_broker(h, s);
out:
    if (st == ST_OK)
        *out = &s->pub;
    else
        tmdbq_status_free(&s->pub);
    return public_code(st);
}

void tmdbq_status_free(struct tmdbq_status *pub)
{
    struct status_store *s = (struct status_store *)pub;

    if (s == NULL)
        return;
    db_consumers_free(&s->consumers);
    db_reapers_free(&s->reapers);
    free(s->cons);
    free(s->reaps);
    free(s->retry);
    free(s->retry_names);
    db_rate_scopes_free(&s->rate_scopes);
    free(s->budgets);
    free(s);
}

/* The live leader, else NULL. */
static const struct tmdbq_reaper *live_leader(const struct tmdbq_status *s)
{
    for (size_t i = 0; i < s->n_reapers; i++) {
        if (s->reapers[i].leader && s->reapers[i].live)
            return &s->reapers[i];
    }
    return NULL;
}

/* ---- JSON ----------------------------------------------------------------------------
 */

static json_t *queue_json(const struct tmdbq_queue *q, bool with_delay)
{
    char d[32];

    if (!with_delay)
        return json_pack("{s:o, s:o, s:o, s:o}", "name", jsonout_text(q->name), "ready",
                         jsonout_count(q->ready), "unacked", jsonout_count(q->unacked),
                         "consumers", jsonout_count(q->consumers));
    cfg_format_duration(q->delay_ms, d, sizeof d);
    return json_pack("{s:o, s:s, s:I, s:o, s:o, s:o}", "name", jsonout_text(q->name),
                     "delay", d, "delay_ms", (json_int_t)q->delay_ms, "ready",
                     jsonout_count(q->ready), "unacked", jsonout_count(q->unacked),
                     "consumers", jsonout_count(q->consumers));
}

static json_t *consumer_json(const struct tmdbq_consumer *c)
{
    return json_pack("{s:o, s:o, s:i, s:o, s:o, s:I, s:I, s:i, s:b, s:o}", "consumer_id",
                     jsonout_text(c->id), "host", jsonout_text(c->host), "pid", c->pid,
                     "started_at", jsonout_text(c->started_at), "last_seen_at",
                     jsonout_text(c->last_seen_at), "processed", (json_int_t)c->processed,
                     "failed", (json_int_t)c->failed, "in_flight", c->in_flight, "live",
                     c->live, "amqp_node", jsonout_text(c->amqp_node));
}

static json_t *reaper_json(const struct tmdbq_reaper *r)
{
    return json_pack("{s:o, s:o, s:i, s:o, s:o, s:b, s:b, s:o, s:o, s:o}", "reaper_id",
                     jsonout_text(r->id), "host", jsonout_text(r->host), "pid", r->pid,
                     "started_at", jsonout_text(r->started_at), "last_seen_at",
                     jsonout_text(r->last_seen_at), "leader", r->leader, "live", r->live,
                     "last_sweep_at", jsonout_text(r->last_sweep_at), "last_sweep",
                     jsonout_stored(r->last_sweep_json), "last_cleanup_at",
                     jsonout_text(r->last_cleanup_at));
}

/* Append v to *arr; v is stolen. When v is NULL or memory runs out, *arr is released
 * and set to NULL, which fails the json_pack it goes into. */
static void append(json_t **arr, json_t *v)
{
    if (json_array_append_new(*arr, v) != 0) {
        json_decref(*arr);
        *arr = NULL;
    }
}

/* The live consumers, or the stale ones. */
static json_t *consumers_json(const struct tmdbq_status *s, bool live)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr != NULL && i < s->n_consumers; i++) {
        if (s->consumers[i].live == live)
            append(&arr, consumer_json(&s->consumers[i]));
    }
    return arr;
}

static json_t *reapers_json(const struct tmdbq_status *s)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr != NULL && i < s->n_reapers; i++)
        append(&arr, reaper_json(&s->reapers[i]));
    return arr;
}

static json_t *broker_json(const struct tmdbq_status *s)
{
    json_t *retry = json_array();

    for (size_t i = 0; retry != NULL && i < s->n_retry; i++)
        append(&retry, queue_json(&s->retry[i], true));
    return json_pack("{s:b, s:o, s:o, s:o, s:o, s:{s:b, s:o, s:o}}", "reachable",
                     s->broker_reachable, "error", jsonout_text(s->broker_error), "work",
                     queue_json(&s->work, false), "retry", retry, "dead",
                     queue_json(&s->dead, false), "management", "reachable",
                     s->management_reachable, "url", jsonout_text(s->management_url),
                     "error", jsonout_text(s->management_error));
}

static json_t *budget_json(const struct tmdbq_budget *b)
{
    return json_pack(
        "{s:o, s:o, s:o, s:I, s:I, s:o, s:o}", "scope", jsonout_text(b->scope), "rate",
        jsonout_g(b->rate), "sent_per_s", jsonout_fixed(b->sent_per_s, 2),
        "requests_last_minute", (json_int_t)b->requests_1m, "rate_limited_last_minute",
        (json_int_t)b->limited_1m, "cooldown_until", jsonout_text(b->cooldown_until),
        "seen_at", jsonout_text(b->seen_at));
}

static json_t *budgets_json(const struct tmdbq_status *s)
{
    json_t *scopes = json_array();

    for (size_t i = 0; scopes != NULL && i < s->n_budgets; i++)
        append(&scopes, budget_json(&s->budgets[i]));
    return json_pack("{s:o, s:o, s:o}", "configured_rate", jsonout_g(s->configured_rate),
                     "scope", jsonout_text(s->rate_scope), "scopes", scopes);
}

char *tmdbq_status_to_json(const struct tmdbq_status *s)
{
    const struct tmdbq_reaper *leader = live_leader(s);
    json_t *v;

    v = json_pack(
        "{s:b, s:o, s:o, s:o, s:o, s:{s:o, s:o}, s:o, s:o}", "paused", s->pause.paused,
        "since", jsonout_text(s->pause.since[0] ? s->pause.since : NULL), "stats",
        jsonout_stats(&s->stats), "consumers", consumers_json(s, true), "stale_consumers",
        consumers_json(s, false), "reaper", "leader",
        leader != NULL ? reaper_json(leader) : json_null(), "reapers", reapers_json(s),
        "broker", broker_json(s), "tmdb_budget", budgets_json(s));
    return jsonout_dump(v, JSONOUT_REAL_FLAGS);
}

/* ---- text
 * ------------------------------------------------------------------------------ */

/* An age for people: "4s", "3m12s", "5h3m", "2d4h". */
static void format_age(double secs, char *buf, size_t n)
{
    long long s = secs < 0 ? 0 : (long long)secs;

    if (s < 60)
        snprintf(buf, n, "%llds", s);
    else if (s < 3600)
        snprintf(buf, n, "%lldm%llds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, n, "%lldh%lldm", s / 3600, s % 3600 / 60);
    else
        snprintf(buf, n, "%lldd%lldh", s / 86400, s % 86400 / 3600);
}

/* A figure for people: the number, or "?" when unknown. */
static const char *count_text(int64_t v, char *buf, size_t n)
{
    if (v < 0)
        snprintf(buf, n, "?");
    else
        snprintf(buf, n, "%" PRId64, v);
    return buf;
}

static void text_queue(FILE *f, const struct tmdbq_queue *q)
{
    char r[24], u[24], c[24];

    fprintf(f, "  %-40s %10s %10s %10s\n", q->name, count_text(q->ready, r, sizeof r),
            count_text(q->unacked, u, sizeof u), count_text(q->consumers, c, sizeof c));
}

static void text_consumers(FILE *f, const struct tmdbq_status *s, bool live)
{
    char age[32];

    fprintf(f, "  %-32s %-16s %8s  %-24s %12s %9s %7s %9s  %s\n", "ID", "HOST", "PID",
            "STARTED", "LAST SEEN", "PROCESSED", "FAILED", "IN FLIGHT", "RABBITMQ NODE");
    for (size_t i = 0; i < s->n_consumers; i++) {
        const struct tmdbq_consumer *c = &s->consumers[i];
        if (c->live != live)
            continue;
        format_age(c->last_seen_age_s, age, sizeof age);
        fprintf(f, "  %-32s %-16s %8d  %-24s %8s ago %9" PRId64 " %7" PRId64 " %9d  %s\n",
                c->id, c->host, c->pid, c->started_at, age, c->processed, c->failed,
                c->in_flight, c->amqp_node != NULL ? c->amqp_node : "-");
    }
}

static void text_reaper(FILE *f, const struct tmdbq_reaper *r)
{
    char age[32];

    format_age(r->last_seen_age_s, age, sizeof age);
    fprintf(f, "  %s%s on %s (pid %d), last seen %s ago%s\n", r->id,
            r->leader ? " [leader]" : "", r->host, r->pid, age,
            r->live ? "" : " (stale)");
    if (r->leader) {
        fprintf(f, "    last sweep:   %s%s%s\n",
                r->last_sweep_at ? r->last_sweep_at : "none yet",
                r->last_sweep_json ? "  " : "",
                r->last_sweep_json ? r->last_sweep_json : "");
        fprintf(f, "    last cleanup: %s\n",
                r->last_cleanup_at ? r->last_cleanup_at : "none yet");
    }
}

static void text_budgets(FILE *f, const struct tmdbq_status *s)
{
    if (s->configured_rate > 0)
        fprintf(f, "\nTMDB budget: %g requests/s per %s (TMDBQ_TMDB_RATE)\n",
                s->configured_rate, s->rate_scope);
    else
        fprintf(f, "\nTMDB budget: none here (TMDBQ_TMDB_RATE=0)\n");
    if (s->n_budgets == 0) {
        fprintf(f, "  no consumer has used it yet\n");
        return;
    }
    fprintf(f, "  %-28s %8s %14s %14s  %s\n", "SCOPE", "RATE", "SENT/S (1 MIN)",
            "429s (1 MIN)", "COOL-DOWN");
    for (size_t i = 0; i < s->n_budgets; i++) {
        const struct tmdbq_budget *b = &s->budgets[i];

        fprintf(f, "  %-28s %8g %14.1f %14" PRId64 "  %s%s\n", b->scope, b->rate,
                b->sent_per_s, b->limited_1m, b->cooldown_until ? "until " : "none",
                b->cooldown_until ? b->cooldown_until : "");
    }
}

char *tmdbq_status_to_text(const struct tmdbq_status *s)
{
    char *text = NULL;
    size_t len = 0, live = 0, stale = 0;
    FILE *f = open_memstream(&text, &len);
    char age[32];

    if (f == NULL)
        return NULL;
    format_age(s->pause.age_s, age, sizeof age);
    if (s->pause.since[0])
        fprintf(f, "queue:      %s since %s (%s ago)\n",
                s->pause.paused ? "PAUSED" : "running", s->pause.since, age);
    else
        fprintf(f, "queue:      %s\n", s->pause.paused ? "PAUSED" : "running");
    fprintf(f,
            "operations: %" PRId64 " pending, %" PRId64 " processing, %" PRId64
            " completed, %" PRId64 " failed, %" PRId64 " cancelled (%" PRId64
            " in all)\n",
            s->stats.pending, s->stats.processing, s->stats.completed, s->stats.failed,
            s->stats.cancelled, s->stats.total);
    for (size_t i = 0; i < s->n_consumers; i++) {
        if (s->consumers[i].live)
            live++;
        else
            stale++;
    }
    fprintf(f, "\nconsumers:  %zu live\n", live);
    if (live > 0)
        text_consumers(f, s, true);
    if (stale > 0) {
        fprintf(f, "\nstale consumers (not seen for %ds; stopped or stuck): %zu\n",
                LIVE_MS / 1000, stale);
        text_consumers(f, s, false);
    }
    if (live_leader(s) == NULL)
        fprintf(f, "\nreapers:    %zu registered, no live leader\n", s->n_reapers);
    else
        fprintf(f, "\nreapers:    %zu registered\n", s->n_reapers);
    for (size_t i = 0; i < s->n_reapers; i++)
        text_reaper(f, &s->reapers[i]);

    if (!s->broker_reachable) {
        fprintf(f, "\nbroker:     UNREACHABLE: %s\n",
                s->broker_error ? s->broker_error : "");
    } else {
        fprintf(f, "\nbroker:\n  %-40s %10s %10s %10s\n", "QUEUE", "READY", "UNACKED",
                "CONSUMERS");
        text_queue(f, &s->work);
        for (size_t i = 0; i < s->n_retry; i++)
            text_queue(f, &s->retry[i]);
        text_queue(f, &s->dead);
        if (s->management_reachable)
            fprintf(f,
                    "  (unacked from the management API at %s, sampled every few "
                    "seconds)\n",
                    s->management_url);
        else
            fprintf(f, "  (unacked unknown: %s)\n",
                    s->management_error ? s->management_error : "no management API");
    }
    text_budgets(f, s);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}
