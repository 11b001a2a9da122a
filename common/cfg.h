/*
 * cfg: configuration from the environment, one table for every program.
 *
 * Every variable tmdbq reads is a row of one table in cfg.c (name, type, default, range,
 * meaning); loading, the startup summary and the README's configuration table all come
 * from it. Strings are borrowed from the environment (or static defaults) and live as
 * long as the process; a flag may override a field by pointing it at argv. A value that
 * does not parse stops the program: cfg_load returns ST_INVALID with a message naming the
 * variable, and main exits 2.
 */
#ifndef TMDBQ_CFG_H
#define TMDBQ_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"
#include "log.h"

/* Who shares one TMDB request budget. */
enum cfg_rate_scope {
    CFG_RATE_SCOPE_QUEUE, /* every consumer of the queue (of the database), on any host */
    CFG_RATE_SCOPE_HOST,  /* the consumers of one host: hosts that reach TMDB through
                             different addresses */
};

struct cfg {
    const char *database_url; /* TMDBQ_DATABASE_URL */
    const char *amqp_url;     /* TMDBQ_AMQP_URL */
    /* TMDBQ_AMQP_MANAGEMENT_URL, NULL when unset: then http://<host of amqp_url>:15672 */
    const char *amqp_management_url;
    const char *amqp_prefix;       /* TMDBQ_AMQP_PREFIX: [A-Za-z0-9_.-]{1,64} */
    const char *tmdb_api_url;      /* TMDB_API_URL */
    const char *tmdb_api_key;      /* TMDB_API_KEY, NULL when unset; a secret */
    const char *tmdb_access_token; /* TMDB_ACCESS_TOKEN, NULL when unset; a secret */
    int max_retries;               /* TMDBQ_MAX_RETRIES, 0..100, default 5 */
    int64_t backoff_base_ms;       /* TMDBQ_BACKOFF_BASE, default 30s */
    int64_t backoff_cap_ms;        /* TMDBQ_BACKOFF_CAP, default 1h */
    int64_t lease_ms;              /* TMDBQ_LEASE, default 2m */
    int64_t sweep_interval_ms;     /* TMDBQ_SWEEP_INTERVAL, default 1m */
    int64_t retention_ms;          /* TMDBQ_RETENTION, default 30d */
    /* TMDBQ_CONNECT_TIMEOUT, default 5s: PostgreSQL and RabbitMQ */
    int64_t connect_timeout_ms;
    /* TMDBQ_TMDB_TIMEOUT, default 30s: one whole TMDB request */
    int64_t tmdb_timeout_ms;
    /* TMDBQ_APPLY_TIMEOUT, default 5s: the whole direct TMDB call of `tmdbq apply`, short
     * so a user never waits long (on expiry the operation is queued) */
    int64_t apply_timeout_ms;
    /* tmdbq-http: TMDBQ_HTTP_LISTEN (host:port), TMDBQ_HTTP_TOKEN (a secret; NULL when
     * unset), TMDBQ_HTTP_POOL, TMDBQ_HTTP_POOL_WAIT, TMDBQ_HTTP_MAX_CONNECTIONS */
    const char *http_listen;
    const char *http_token;
    int http_pool;
    int64_t http_pool_wait_ms;
    int http_max_connections;
    /* TMDBQ_TMDB_RATE, requests/s to TMDB for the whole scope, default 40; 0: none */
    double tmdb_rate;
    /* TMDBQ_TMDB_RATE_SCOPE: queue (default), host */
    enum cfg_rate_scope tmdb_rate_scope;
    enum log_level log_level;   /* TMDBQ_LOG_LEVEL: debug, info, warn, error */
    enum log_format log_format; /* TMDBQ_LOG_FORMAT: text, json */
};

/* Fill c with defaults, then with whatever the environment sets (an empty variable is
 * unset, except TMDBQ_DATABASE_URL, TMDBQ_AMQP_URL and TMDBQ_AMQP_PREFIX, which refuse
 * it). On a bad value returns ST_INVALID and e names the variable and the value's
 * problem, e.g. `TMDBQ_BACKOFF_BASE: invalid duration "30x" (use e.g. 250ms, 30s, 2m, 1h,
 * 30d)`; the service URLs must parse as libpq and librabbitmq read them (db_url_valid,
 * mq_url_valid). Secrets and passwords are never copied into e. Does not connect. */
enum status cfg_load(struct cfg *c, struct err *e);

/* Parse a duration: a non-negative integer followed by ms, s, m, h or d ("250ms", "30s",
 * "2m", "1h", "30d"); a bare "0" is accepted. Result in milliseconds, overflow rejected.
 * Returns ST_OK or ST_INVALID (e gets a message without the variable name). */
enum status cfg_parse_duration(const char *s, int64_t *out_ms, struct err *e);

/* Write ms as the largest exact unit: 30000 -> "30s", 3600000 -> "1h", 250 -> "250ms",
 * 90000 -> "90s". Always NUL-terminates. */
void cfg_format_duration(int64_t ms, char *buf, size_t n);

/* Log one info line with the effective configuration (every variable of the table, in
 * its order), secrets and URL passwords masked. */
void cfg_log_summary(const struct cfg *c, const char *version);

/* Write the configuration table as Markdown: a header row, then one row per variable
 * (variable, default, values, meaning), as README.md's "## Configuration" has it. */
void cfg_print_table(FILE *out);

#endif
