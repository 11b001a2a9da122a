/*
 * cfg: configuration from the environment, one table for every program.
 *
 * Every variable is read the same way: unset or empty means the default, anything else
 * must parse or cfg_load stops with a message naming the variable. Values are quoted in
 * messages so an operator sees exactly what was read, except for the variables that hold
 * secrets, which are never validated and so never appear in a message.
 */
#include "cfg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DURATION_HINT "(use e.g. 250ms, 30s, 2m, 1h, 30d)"
#define PREFIX_MAX 64
#define MAX_RETRIES_LIMIT 100
/* Values are quoted in messages only up to this many bytes, to keep messages readable. */
#define QUOTE_MAX 64
#define RATE_LIMIT_MAX 100000

/* An empty variable counts as unset, so `VAR= cmd` falls back to the default. */
static const char *env(const char *name)
{
    const char *v = getenv(name);

    return (v != NULL && v[0] != '\0') ? v : NULL;
}

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = env(name);

    return v != NULL ? v : dflt;
}

enum status cfg_parse_duration(const char *s, int64_t *out_ms, struct err *e)
{
    static const struct {
        const char *suffix;
        int64_t ms;
    } units[] = {
        {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000},
    };
    char *end = NULL;
    long long v;
    size_t i;

    if (s == NULL || s[0] < '0' || s[0] > '9')
        goto invalid;
    /* strtoll alone would accept leading spaces and a sign; the first-digit check above
     * rules them out. */
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno == ERANGE)
        goto too_large;
    if (end == s)
        goto invalid;
    if (*end == '\0') {
        /* A bare number has no unit; only zero means the same in every unit. */
        if (v != 0)
            goto invalid;
        *out_ms = 0;
        return ST_OK;
    }
    for (i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].suffix) == 0) {
            if (v > INT64_MAX / units[i].ms)
                goto too_large;
            *out_ms = (int64_t)v * units[i].ms;
            return ST_OK;
        }
    }
invalid:
    return err_set(e, ST_INVALID, "invalid duration \"%.*s\" " DURATION_HINT, QUOTE_MAX,
                   s != NULL ? s : "");
too_large:
    return err_set(e, ST_INVALID, "duration \"%.*s\" is too large", QUOTE_MAX, s);
}

void cfg_format_duration(int64_t ms, char *buf, size_t n)
{
    static const struct {
        const char *suffix;
        int64_t ms;
    } units[] = {
        {"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000},
    };
    size_t i;

    if (buf == NULL || n == 0)
        return;
    if (ms == 0) {
        snprintf(buf, n, "0");
        return;
    }
    for (i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (ms % units[i].ms == 0) {
            snprintf(buf, n, "%lld%s", (long long)(ms / units[i].ms), units[i].suffix);
            return;
        }
    }
    snprintf(buf, n, "%lldms", (long long)ms);
}

/* A duration variable; min_ms is the smallest value that makes sense for it. */
static enum status load_duration(const char *name, int64_t min_ms, int64_t *out,
                                 struct err *e)
{
    const char *v = env(name);
    int64_t ms = 0;
    enum status st;

    if (v == NULL)
        return ST_OK;
    st = cfg_parse_duration(v, &ms, e);
    if (st != ST_OK) {
        err_prefix(e, "%s", name);
        return st;
    }
    if (ms < min_ms) {
        char min[32];

        cfg_format_duration(min_ms, min, sizeof min);
        return err_set(e, ST_INVALID, "%s: duration \"%.*s\" is too short (at least %s)",
                       name, QUOTE_MAX, v, min);
    }
    *out = ms;
    return ST_OK;
}

static enum status load_max_retries(int *out, struct err *e)
{
    const char *name = "TMDBQ_MAX_RETRIES";
    const char *v = env(name);
    char *end = NULL;
    long n;

    if (v == NULL)
        return ST_OK;
    /* Digits only: strtol would also take leading spaces and a sign. */
    if (v[0] < '0' || v[0] > '9')
        goto invalid;
    errno = 0;
    n = strtol(v, &end, 10);
    if (errno == ERANGE || *end != '\0' || n < 0 || n > MAX_RETRIES_LIMIT)
        goto invalid;
    *out = (int)n;
    return ST_OK;
invalid:
    return err_set(e, ST_INVALID,
                   "%s: invalid number \"%.*s\" (use an integer from 0 to %d)", name,
                   QUOTE_MAX, v, MAX_RETRIES_LIMIT);
}

/* TMDBQ_TMDB_RATE: requests per second, a plain decimal number from 0 (no budget) to
 * RATE_LIMIT_MAX, e.g. "40" or "2.5". */
static enum status load_rate(double *out, struct err *e)
{
    const char *name = "TMDBQ_TMDB_RATE";
    const char *v = env(name);
    char *end = NULL;
    double r;

    if (v == NULL)
        return ST_OK;
    /* Digits first: strtod would also take spaces, a sign, "inf", "nan" and hex. */
    if (v[0] < '0' || v[0] > '9' || strpbrk(v, "xXeE") != NULL)
        goto invalid;
    errno = 0;
    r = strtod(v, &end);
    if (errno == ERANGE || *end != '\0' || !(r >= 0) || r > RATE_LIMIT_MAX)
        goto invalid;
    *out = r;
    return ST_OK;
invalid:
    return err_set(e, ST_INVALID,
                   "%s: invalid rate \"%.*s\" (use requests per second, a number from 0 "
                   "to %d; 0 means no budget)",
                   name, QUOTE_MAX, v, RATE_LIMIT_MAX);
}

/* The prefix becomes part of exchange and queue names, so it is kept to characters that
 * need no quoting anywhere (management UI, URLs, shell). */
static bool prefix_valid(const char *s)
{
    size_t i;

    for (i = 0; s[i] != '\0'; i++) {
        char c = s[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                  (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';

        if (!ok || i >= PREFIX_MAX)
            return false;
    }
    return i > 0;
}

static const char *level_name(enum log_level l)
{
    switch (l) {
    case LOG_LEVEL_DEBUG:
        return "debug";
    case LOG_LEVEL_INFO:
        return "info";
    case LOG_LEVEL_WARN:
        return "warn";
    case LOG_LEVEL_ERROR:
        return "error";
    }
    return "unknown";
}

static const char *format_name(enum log_format f)
{
    return f == LOG_FORMAT_JSON ? "json" : "text";
}

enum status cfg_load(struct cfg *c, struct err *e)
{
    const char *v;
    enum status st;

    c->database_url = env_or("TMDBQ_DATABASE_URL",
                             "postgresql://tmdbq:tmdbq@localhost:5432/tmdbq");
    c->amqp_url = env_or("TMDBQ_AMQP_URL", "amqp://guest:guest@localhost:5672/%2f");
    c->amqp_prefix = env_or("TMDBQ_AMQP_PREFIX", "tmdbq");
    c->tmdb_api_url = env_or("TMDB_API_URL", "https://api.themoviedb.org");
    c->tmdb_api_key = env("TMDB_API_KEY");
    c->tmdb_access_token = env("TMDB_ACCESS_TOKEN");
    c->max_retries = 5;
    c->backoff_base_ms = 30 * 1000;
    c->backoff_cap_ms = 60 * 60 * 1000;
    c->lease_ms = 2 * 60 * 1000;
    c->sweep_interval_ms = 60 * 1000;
    c->retention_ms = 30LL * 24 * 60 * 60 * 1000;
    c->connect_timeout_ms = 5 * 1000;
    c->tmdb_timeout_ms = 30 * 1000;
    c->apply_timeout_ms = 5 * 1000;
    c->tmdb_rate = 40;
    c->tmdb_rate_scope = CFG_RATE_SCOPE_QUEUE;
    c->log_level = LOG_LEVEL_INFO;
    c->log_format = LOG_FORMAT_TEXT;

    if (!prefix_valid(c->amqp_prefix))
        return err_set(e, ST_INVALID,
                       "TMDBQ_AMQP_PREFIX: invalid prefix \"%.*s\" (use 1 to %d of "
                       "A-Z a-z 0-9 _ . -)",
                       QUOTE_MAX, c->amqp_prefix, PREFIX_MAX);
    st = load_max_retries(&c->max_retries, e);
    if (st != ST_OK)
        return st;
    /* A zero base or lease would mean retry storms and instant lease loss; a zero
     * retention is allowed and means completed rows go at the next cleanup. */
    st = load_duration("TMDBQ_BACKOFF_BASE", 1, &c->backoff_base_ms, e);
    if (st != ST_OK)
        return st;
    st = load_duration("TMDBQ_BACKOFF_CAP", 1, &c->backoff_cap_ms, e);
    if (st != ST_OK)
        return st;
    st = load_duration("TMDBQ_LEASE", 1, &c->lease_ms, e);
    if (st != ST_OK)
        return st;
    st = load_duration("TMDBQ_SWEEP_INTERVAL", 1, &c->sweep_interval_ms, e);
    if (st != ST_OK)
        return st;
    st = load_duration("TMDBQ_RETENTION", 0, &c->retention_ms, e);
    if (st != ST_OK)
        return st;
    st = load_duration("TMDBQ_CONNECT_TIMEOUT", 1, &c->connect_timeout_ms, e);
    if (st != ST_OK)
        return st;
    st = load_duration("TMDBQ_TMDB_TIMEOUT", 1, &c->tmdb_timeout_ms, e);
    if (st != ST_OK)
        return st;
    st = load_duration("TMDBQ_APPLY_TIMEOUT", 1, &c->apply_timeout_ms, e);
    if (st != ST_OK)
        return st;
    st = load_rate(&c->tmdb_rate, e);
    if (st != ST_OK)
        return st;
    v = env("TMDBQ_TMDB_RATE_SCOPE");
    if (v != NULL && strcmp(v, "queue") == 0)
        c->tmdb_rate_scope = CFG_RATE_SCOPE_QUEUE;
    else if (v != NULL && strcmp(v, "host") == 0)
        c->tmdb_rate_scope = CFG_RATE_SCOPE_HOST;
    else if (v != NULL)
        return err_set(e, ST_INVALID,
                       "TMDBQ_TMDB_RATE_SCOPE: unknown scope \"%.*s\" (use queue: one "
                       "budget for every consumer of the queue, or host: one per host)",
                       QUOTE_MAX, v);
    if (c->backoff_cap_ms < c->backoff_base_ms) {
        char cap[32], base[32];

        cfg_format_duration(c->backoff_cap_ms, cap, sizeof cap);
        cfg_format_duration(c->backoff_base_ms, base, sizeof base);
        return err_set(e, ST_INVALID,
                       "TMDBQ_BACKOFF_CAP: %s is less than TMDBQ_BACKOFF_BASE %s", cap,
                       base);
    }

    v = env("TMDBQ_LOG_LEVEL");
    if (v != NULL && !log_level_parse(v, &c->log_level))
        return err_set(e, ST_INVALID,
                       "TMDBQ_LOG_LEVEL: unknown level \"%.*s\" (use debug, info, warn, "
                       "error)",
                       QUOTE_MAX, v);
    v = env("TMDBQ_LOG_FORMAT");
    if (v != NULL && !log_format_parse(v, &c->log_format))
        return err_set(e, ST_INVALID,
                       "TMDBQ_LOG_FORMAT: unknown format \"%.*s\" (use text, json)",
                       QUOTE_MAX, v);
    return ST_OK;
}

void cfg_log_summary(const struct cfg *c, const char *version)
{
    char db[512], amqp[512], api[512];
    char base[32], cap[32], lease[32], sweep[32], retention[32], timeout[32], tmdb[32];
    char apply[32], rate[32];

    log_mask_url(c->database_url, db, sizeof db);
    log_mask_url(c->amqp_url, amqp, sizeof amqp);
    log_mask_url(c->tmdb_api_url, api, sizeof api);
    cfg_format_duration(c->backoff_base_ms, base, sizeof base);
    cfg_format_duration(c->backoff_cap_ms, cap, sizeof cap);
    cfg_format_duration(c->lease_ms, lease, sizeof lease);
    cfg_format_duration(c->sweep_interval_ms, sweep, sizeof sweep);
    cfg_format_duration(c->retention_ms, retention, sizeof retention);
    cfg_format_duration(c->connect_timeout_ms, timeout, sizeof timeout);
    cfg_format_duration(c->tmdb_timeout_ms, tmdb, sizeof tmdb);
    cfg_format_duration(c->apply_timeout_ms, apply, sizeof apply);
    if (c->tmdb_rate > 0)
        snprintf(rate, sizeof rate, "%g/s", c->tmdb_rate);
    else
        snprintf(rate, sizeof rate, "unlimited");
    log_info("tmdbq %s: database=%s amqp=%s prefix=%s tmdb_api=%s api_key=%s "
             "access_token=%s retries=%d backoff=%s..%s lease=%s sweep=%s retention=%s "
             "connect_timeout=%s tmdb_timeout=%s apply_timeout=%s tmdb_rate=%s per %s "
             "log=%s/%s",
             version != NULL ? version : "unknown", db, amqp, c->amqp_prefix, api,
             c->tmdb_api_key != NULL ? "set" : "unset",
             c->tmdb_access_token != NULL ? "set" : "unset", c->max_retries, base, cap,
             lease, sweep, retention, timeout, tmdb, apply, rate,
             c->tmdb_rate_scope == CFG_RATE_SCOPE_HOST ? "host" : "queue",
             level_name(c->log_level),
             format_name(c->log_format));
}
