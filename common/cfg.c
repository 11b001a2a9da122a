/*
 * cfg: configuration from the environment, one table for every program.
 *
 * The table `vars` below is the only place a variable is named. Each row says where the
 * value goes in struct cfg, its type and range, its default and what it means; cfg_load,
 * cfg_log_summary and cfg_print_table (the README's table) are loops over it, so a
 * variable cannot be read without being documented, or documented with another default.
 *
 * Every variable is read the same way: unset means the default, anything else must parse
 * or cfg_load stops with a message naming the variable. An empty value counts as unset,
 * except for the three that say which stack a process belongs to (its database, its
 * broker, its queues' prefix): there an empty value is far more likely a setting that
 * went missing than a wish for the defaults, and the defaults may well be another
 * stack's. The service URLs are also parsed as libpq and librabbitmq will parse them
 * (db_url_valid, mq_url_valid), so a malformed one stops the program at start instead of
 * being retried forever like an unreachable server. Defaults are written as an operator
 * would write them and go through the same parser. Values are quoted in messages so an
 * operator sees exactly what was read, URLs with their password masked; secrets are never
 * validated and so never appear in a message.
 */
#include "cfg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "db.h"
#include "mq.h"

#define DURATION_HINT "(use e.g. 250ms, 30s, 2m, 1h, 30d)"
/* Values are quoted in messages only up to this many bytes, to keep messages readable. */
#define QUOTE_MAX 64
/* The summary line stays below log.c's message limit. */
#define SUMMARY_MAX 3072

#define SECOND_MS 1000LL
#define MINUTE_MS (60 * SECOND_MS)
#define DAY_MS (24 * 60 * MINUTE_MS)

/* What a value must look like, and how it is shown. */
enum cfg_type {
    CFG_STRING,   /* any text; shown through log_mask_url (it may hold a password) */
    CFG_SECRET,   /* any text, never shown: the summary says set or unset */
    CFG_URL,      /* scheme://..., the scheme one of `schemes`; shown masked */
    CFG_NAME,     /* 1 to max of A-Z a-z 0-9 _ . -: needs no quoting anywhere */
    CFG_DURATION, /* cfg_parse_duration, min..max ms */
    CFG_INT,      /* a decimal integer, min..max */
    CFG_RATE,     /* requests per second, a plain decimal number, min..max */
    CFG_ENUM,     /* one of `choices`, case-insensitive */
};

/* A name an enum variable accepts. Several names may share a value (an alias); the first
 * one is the name shown and documented. */
struct cfg_choice {
    const char *name;
    int value;
};

struct cfg_var {
    const char *name;
    enum cfg_type type;
    size_t field; /* offsetof(struct cfg, ...); its C type follows from `type` */
    /* Read exactly like a value from the environment. NULL (strings only): the field is
     * NULL when the variable is unset, and `unset` says in the README what that means. */
    const char *dflt;
    const char *unset;
    /* CFG_DURATION (ms), CFG_INT, CFG_RATE; CFG_NAME: the longest length */
    int64_t min, max;
    const char *schemes[2]; /* CFG_URL; a NULL slot is unused */
    /* Set but empty is refused instead of read as unset (see the file comment). */
    bool empty_refused;
    /* A further check of a string or URL by the module that will use it; false with e
     * set (ST_INVALID, without the variable's name or a password) when it does not pass.
     */
    bool (*check)(const char *s, struct err *e);
    const struct cfg_choice *choices; /* CFG_ENUM, up to a NULL name */
    /* Text before the value in the startup summary: " key=", or a joint that makes one
     * item of two values (backoff=30s..1h, tmdb_rate=40/s per queue, log=info/text). */
    const char *label;
    const char *meaning; /* the README's meaning column (Markdown) */
};

/* The enum fields are written through an int. */
_Static_assert(sizeof(enum log_level) == sizeof(int), "enum log_level is an int");
_Static_assert(sizeof(enum log_format) == sizeof(int), "enum log_format is an int");
_Static_assert(sizeof(enum cfg_rate_scope) == sizeof(int),
               "enum cfg_rate_scope is an int");

static const struct cfg_choice level_choices[] = {
    {"debug", LOG_LEVEL_DEBUG},  {"info", LOG_LEVEL_INFO},   {"warn", LOG_LEVEL_WARN},
    {"warning", LOG_LEVEL_WARN}, {"error", LOG_LEVEL_ERROR}, {NULL, 0},
};

static const struct cfg_choice format_choices[] = {
    {"text", LOG_FORMAT_TEXT},
    {"json", LOG_FORMAT_JSON},
    {NULL, 0},
};

static const struct cfg_choice scope_choices[] = {
    {"queue", CFG_RATE_SCOPE_QUEUE},
    {"host", CFG_RATE_SCOPE_HOST},
    {NULL, 0},
};

#define FIELD(f) offsetof(struct cfg, f)

/* In the order of the summary line and of the README's table. A zero base, lease or
 * timeout would mean retry storms, instant lease loss or calls that cannot succeed, so
 * their minimum is 1ms; a zero retention is allowed and means finished rows go at the
 * next cleanup. The maxima catch a wrong unit (30d for 30s) and keep every duration
 * within what its users can hold: the largest backoff is a RabbitMQ message TTL (under
 * 2^32 ms). */
static const struct cfg_var vars[] = {
    {
        .name = "TMDBQ_DATABASE_URL",
        .type = CFG_STRING,
        .field = FIELD(database_url),
        .dflt = "postgresql://tmdbq:tmdbq@localhost:5432/tmdbq",
        .empty_refused = true,
        .check = db_url_valid,
        .label = " database=",
        .meaning = "PostgreSQL: a libpq connection string (URI or `key=value` pairs); "
                   "a primary and its standbys as "
                   "`postgresql://h1,h2/db?target_session_attrs=read-write`; "
                   "set but empty is refused",
    },
    {
        .name = "TMDBQ_AMQP_URL",
        .type = CFG_URL,
        .field = FIELD(amqp_url),
        .dflt = "amqp://guest:guest@localhost:5672/%2f",
        /* librabbitmq parses amqps, but mq.c speaks plain TCP only. */
        .schemes = {"amqp", NULL},
        .empty_refused = true,
        .check = mq_url_valid,
        .label = " amqp=",
        .meaning = "RabbitMQ broker (`amqp://user:password@host:port/vhost`, the vhost "
                   "URL-encoded), or the nodes of a cluster as URLs separated by commas "
                   "(at most 16); set but empty is refused",
    },
    {
        .name = "TMDBQ_AMQP_MANAGEMENT_URL",
        .type = CFG_URL,
        .field = FIELD(amqp_management_url),
        .unset = "`http://<host of TMDBQ_AMQP_URL>:15672`",
        .schemes = {"http", "https"},
        .label = " amqp_management=",
        .meaning = "RabbitMQ's management HTTP API, read by `tmdbq status` for "
                   "unacknowledged counts (`http[s]://[user:password@]host:port[/path]`; "
                   "without a user, `TMDBQ_AMQP_URL`'s user and password are used)",
    },
    {
        .name = "TMDBQ_AMQP_PREFIX",
        .type = CFG_NAME,
        .field = FIELD(amqp_prefix),
        .dflt = "tmdbq",
        .max = 64,
        .empty_refused = true,
        .label = " prefix=",
        .meaning =
            "prefix of every exchange and queue name, so stacks can share a broker; "
            "set but empty is refused",
    },
    {
        .name = "TMDB_API_URL",
        .type = CFG_URL,
        .field = FIELD(tmdb_api_url),
        .dflt = "https://api.themoviedb.org",
        .schemes = {"http", "https"},
        .label = " tmdb_api=",
        .meaning = "TMDB base URL (tests point it at the fake)",
    },
    {
        .name = "TMDB_API_KEY",
        .type = CFG_SECRET,
        .field = FIELD(tmdb_api_key),
        .unset = "none",
        .label = " api_key=",
        .meaning =
            "application credential: a TMDB v3 API key (the consumer needs this or "
            "`TMDB_ACCESS_TOKEN`)",
    },
    {
        .name = "TMDB_ACCESS_TOKEN",
        .type = CFG_SECRET,
        .field = FIELD(tmdb_access_token),
        .unset = "none",
        .label = " access_token=",
        .meaning = "application credential: a TMDB read-access token (the consumer needs "
                   "this or `TMDB_API_KEY`)",
    },
    {
        .name = "TMDBQ_MAX_RETRIES",
        .type = CFG_INT,
        .field = FIELD(max_retries),
        .dflt = "5",
        .min = 0,
        .max = 100,
        .label = " retries=",
        .meaning = "retry policy: retries after an operation's first attempt",
    },
    {
        .name = "TMDBQ_BACKOFF_BASE",
        .type = CFG_DURATION,
        .field = FIELD(backoff_base_ms),
        .dflt = "30s",
        .min = 1,
        .max = DAY_MS,
        .label = " backoff=",
        .meaning = "retry policy: delay of the first retry, doubled for each one after",
    },
    {
        .name = "TMDBQ_BACKOFF_CAP",
        .type = CFG_DURATION,
        .field = FIELD(backoff_cap_ms),
        .dflt = "1h",
        .min = 1,
        .max = 7 * DAY_MS,
        .label = "..",
        .meaning = "retry policy: no delay is longer (at least `TMDBQ_BACKOFF_BASE`)",
    },
    {
        .name = "TMDBQ_LEASE",
        .type = CFG_DURATION,
        .field = FIELD(lease_ms),
        .dflt = "2m",
        .min = 1,
        .max = DAY_MS,
        .label = " lease=",
        .meaning = "how long a claim on an operation lasts: when a consumer dies, its "
                   "operation is taken over after this (more than twice "
                   "`TMDBQ_TMDB_TIMEOUT`)",
    },
    {
        .name = "TMDBQ_SWEEP_INTERVAL",
        .type = CFG_DURATION,
        .field = FIELD(sweep_interval_ms),
        .dflt = "1m",
        .min = 1,
        .max = DAY_MS,
        .label = " sweep=",
        .meaning =
            "reaper: time between two sweeps (rescue of expired leases, publish of "
            "lost messages)",
    },
    {
        .name = "TMDBQ_RETENTION",
        .type = CFG_DURATION,
        .field = FIELD(retention_ms),
        .dflt = "30d",
        .min = 0,
        .max = 3650 * DAY_MS,
        .label = " retention=",
        .meaning = "reaper: completed and cancelled operations older than this are "
                   "deleted, once a day (`0`: at the next cleanup)",
    },
    {
        .name = "TMDBQ_CONNECT_TIMEOUT",
        .type = CFG_DURATION,
        .field = FIELD(connect_timeout_ms),
        .dflt = "5s",
        .min = 1,
        .max = 5 * MINUTE_MS,
        .label = " connect_timeout=",
        .meaning = "bound on every wait for PostgreSQL or RabbitMQ (connect, handshake, "
                   "confirms)",
    },
    {
        .name = "TMDBQ_TMDB_TIMEOUT",
        .type = CFG_DURATION,
        .field = FIELD(tmdb_timeout_ms),
        .dflt = "30s",
        .min = 1,
        .max = 10 * MINUTE_MS,
        .label = " tmdb_timeout=",
        .meaning =
            "bound on one whole TMDB request (the consumer and `apply`); connecting "
            "is bounded by `TMDBQ_CONNECT_TIMEOUT`",
    },
    {
        .name = "TMDBQ_APPLY_TIMEOUT",
        .type = CFG_DURATION,
        .field = FIELD(apply_timeout_ms),
        .dflt = "5s",
        .min = 1,
        .max = 5 * MINUTE_MS,
        .label = " apply_timeout=",
        .meaning =
            "bounds the whole direct TMDB call of `tmdbq apply` (connect included); "
            "when it runs out the operation is queued instead",
    },
    {
        .name = "TMDBQ_TMDB_RATE",
        .type = CFG_RATE,
        .field = FIELD(tmdb_rate),
        .dflt = "40",
        .min = 0,
        .max = 100000,
        .label = " tmdb_rate=",
        .meaning =
            "requests per second that all consumers of the queue (every process on "
            "every host using the same database, and `tmdbq apply`) send to TMDB "
            "together; `0` = no budget (benchmarks against a local fake). See "
            "\"TMDB's request budget\"",
    },
    {
        .name = "TMDBQ_TMDB_RATE_SCOPE",
        .type = CFG_ENUM,
        .field = FIELD(tmdb_rate_scope),
        .dflt = "queue",
        .choices = scope_choices,
        .label = " per ",
        .meaning = "`queue`: one budget for every consumer of the queue; `host`: the "
                   "consumers of each host share a budget of their own (for hosts that "
                   "reach TMDB through different addresses)",
    },
    {
        .name = "TMDBQ_HTTP_LISTEN",
        .type = CFG_STRING,
        .field = FIELD(http_listen),
        .dflt = "127.0.0.1:8080",
        .label = " http_listen=",
        .meaning =
            "tmdbq-http: `host:port` to listen on (IPv6 as `[::1]:8080`; port 0: any "
            "free one)",
    },
    {
        .name = "TMDBQ_HTTP_TOKEN",
        .type = CFG_SECRET,
        .field = FIELD(http_token),
        .unset = "none",
        .label = " http_token=",
        .meaning =
            "tmdbq-http: the bearer token every `/v1` request must carry, 16 to 512 "
            "visible ASCII characters; required by tmdbq-http (exit 2 without)",
    },
    {
        .name = "TMDBQ_HTTP_POOL",
        .type = CFG_INT,
        .field = FIELD(http_pool),
        .dflt = "8",
        .min = 1,
        .max = 256,
        .label = " http_pool=",
        .meaning = "tmdbq-http: PostgreSQL handles (libtmdbq handles) at most; requests "
                   "beyond them wait",
    },
    {
        .name = "TMDBQ_HTTP_POOL_WAIT",
        .type = CFG_DURATION,
        .field = FIELD(http_pool_wait_ms),
        .dflt = "2s",
        .min = 1,
        .max = MINUTE_MS,
        .label = " http_pool_wait=",
        .meaning = "tmdbq-http: how long a request waits for a handle before it gets 503",
    },
    {
        .name = "TMDBQ_HTTP_MAX_CONNECTIONS",
        .type = CFG_INT,
        .field = FIELD(http_max_connections),
        .dflt = "256",
        .min = 1,
        .max = 10000,
        .label = " http_max_connections=",
        .meaning = "tmdbq-http: open client connections at most (one thread each)",
    },
    {
        .name = "TMDBQ_LOG_LEVEL",
        .type = CFG_ENUM,
        .field = FIELD(log_level),
        .dflt = "info",
        .choices = level_choices,
        .label = " log=",
        .meaning = "the least severe level logged (`warning` is taken for `warn`)",
    },
    {
        .name = "TMDBQ_LOG_FORMAT",
        .type = CFG_ENUM,
        .field = FIELD(log_format),
        .dflt = "text",
        .choices = format_choices,
        .label = "/",
        .meaning = "`json` gives one JSON object a line",
    },
};

#define NVARS (sizeof vars / sizeof vars[0])

enum dur_parse { DUR_OK, DUR_INVALID, DUR_TOO_LARGE };

/* cfg_parse_duration without the messages: load_duration words an overflow as the
 * variable's bound, which is what an operator needs to know. */
static enum dur_parse parse_duration(const char *s, int64_t *out_ms)
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
        return DUR_INVALID;
    /* strtoll alone would accept leading spaces and a sign; the first-digit check above
     * rules them out. */
    errno = 0;
    v = strtoll(s, &end, 10);
    if (end == s)
        return DUR_INVALID;
    for (i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].suffix) == 0)
            break;
    }
    /* A bare number has no unit; only zero means the same in every unit. */
    if (*end == '\0' && errno == 0 && v == 0) {
        *out_ms = 0;
        return DUR_OK;
    }
    if (i == sizeof units / sizeof units[0])
        return DUR_INVALID;
    if (errno == ERANGE || v > INT64_MAX / units[i].ms)
        return DUR_TOO_LARGE;
    *out_ms = (int64_t)v * units[i].ms;
    return DUR_OK;
}

enum status cfg_parse_duration(const char *s, int64_t *out_ms, struct err *e)
{
    switch (parse_duration(s, out_ms)) {
    case DUR_OK:
        return ST_OK;
    case DUR_TOO_LARGE:
        return err_set(e, ST_INVALID, "duration \"%.*s\" is too large", QUOTE_MAX, s);
    case DUR_INVALID:
        break;
    }
    return err_set(e, ST_INVALID, "invalid duration \"%.*s\" " DURATION_HINT, QUOTE_MAX,
                   s != NULL ? s : "");
}

void cfg_format_duration(int64_t ms, char *buf, size_t n)
{
    static const struct {
        const char *suffix;
        int64_t ms;
    } units[] = {
        {"d", 86400000},
        {"h", 3600000},
        {"m", 60000},
        {"s", 1000},
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

static void *field_of(struct cfg *c, const struct cfg_var *v)
{
    return (char *)c + v->field;
}

static const void *cfield_of(const struct cfg *c, const struct cfg_var *v)
{
    return (const char *)c + v->field;
}

/* The first name of value x, the one shown; "unknown" when none has it. */
static const char *choice_name(const struct cfg_choice *ch, int x)
{
    for (; ch->name != NULL; ch++) {
        if (ch->value == x)
            return ch->name;
    }
    return "unknown";
}

/* "a, b, c" (the shown names, each once), in quotes when md is set ("`a`, `b`"). */
static void choice_list(const struct cfg_choice *choices, bool md, char *buf, size_t n)
{
    const struct cfg_choice *ch;
    size_t len = 0;

    buf[0] = '\0';
    for (ch = choices; ch->name != NULL; ch++) {
        if (strcmp(choice_name(choices, ch->value), ch->name) != 0)
            continue; /* an alias */
        snprintf(buf + len, n - len, "%s%s%s%s", len > 0 ? ", " : "", md ? "`" : "",
                 ch->name, md ? "`" : "");
        len += strlen(buf + len);
    }
}

/* "http:// or https://", in quotes when md is set. */
static void scheme_list(const struct cfg_var *v, bool md, char *buf, size_t n)
{
    const char *q = md ? "`" : "";

    if (v->schemes[1] != NULL)
        snprintf(buf, n, "%s%s://%s or %s%s://%s", q, v->schemes[0], q, q, v->schemes[1],
                 q);
    else
        snprintf(buf, n, "%s%s://%s", q, v->schemes[0], q);
}

static bool name_valid(const char *s, int64_t max)
{
    size_t i;

    for (i = 0; s[i] != '\0'; i++) {
        char c = s[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                  (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';

        if (!ok || (int64_t)i >= max)
            return false;
    }
    return i > 0;
}

static bool url_valid(const struct cfg_var *v, const char *s)
{
    const char *rest = NULL;
    size_t i;

    for (i = 0; i < 2 && v->schemes[i] != NULL; i++) {
        size_t n = strlen(v->schemes[i]);

        if (strncmp(s, v->schemes[i], n) == 0 && strncmp(s + n, "://", 3) == 0)
            rest = s + n + 3;
    }
    if (rest == NULL || rest[0] == '\0' || rest[0] == '/')
        return false;
    for (; *rest != '\0'; rest++) {
        if ((unsigned char)*rest <= ' ' || *rest == 0x7f)
            return false;
    }
    return true;
}

static enum status load_duration(const struct cfg_var *v, const char *s, int64_t *out,
                                 struct err *e)
{
    char bound[32];
    int64_t ms = 0;

    switch (parse_duration(s, &ms)) {
    case DUR_OK:
        break;
    case DUR_TOO_LARGE:
        /* Past what int64 milliseconds hold is past every bound: say which. */
        ms = INT64_MAX;
        break;
    case DUR_INVALID:
        return err_set(e, ST_INVALID, "%s: invalid duration \"%.*s\" " DURATION_HINT,
                       v->name, QUOTE_MAX, s);
    }
    if (ms < v->min) {
        cfg_format_duration(v->min, bound, sizeof bound);
        return err_set(e, ST_INVALID, "%s: duration \"%.*s\" is too short (at least %s)",
                       v->name, QUOTE_MAX, s, bound);
    }
    if (ms > v->max) {
        cfg_format_duration(v->max, bound, sizeof bound);
        return err_set(e, ST_INVALID, "%s: duration \"%.*s\" is too long (at most %s)",
                       v->name, QUOTE_MAX, s, bound);
    }
    *out = ms;
    return ST_OK;
}

static enum status load_int(const struct cfg_var *v, const char *s, int *out,
                            struct err *e)
{
    char *end = NULL;
    long n;

    /* Digits only: strtol would also take leading spaces and a sign. */
    if (s[0] < '0' || s[0] > '9')
        goto invalid;
    errno = 0;
    n = strtol(s, &end, 10);
    if (errno == ERANGE || *end != '\0' || n < v->min || n > v->max)
        goto invalid;
    *out = (int)n;
    return ST_OK;
invalid:
    return err_set(e, ST_INVALID,
                   "%s: invalid number \"%.*s\" (use an integer from %lld to %lld)",
                   v->name, QUOTE_MAX, s, (long long)v->min, (long long)v->max);
}

static enum status load_rate(const struct cfg_var *v, const char *s, double *out,
                             struct err *e)
{
    char *end = NULL;
    double r;

    /* Digits first: strtod would also take spaces, a sign, "inf", "nan" and hex. */
    if (s[0] < '0' || s[0] > '9' || strpbrk(s, "xXeE") != NULL)
        goto invalid;
    errno = 0;
    r = strtod(s, &end);
    if (errno == ERANGE || *end != '\0' || !(r >= (double)v->min) || r > (double)v->max)
        goto invalid;
    *out = r;
    return ST_OK;
invalid:
    return err_set(e, ST_INVALID,
                   "%s: invalid rate \"%.*s\" (use requests per second, a decimal number "
                   "from %lld to %lld)",
                   v->name, QUOTE_MAX, s, (long long)v->min, (long long)v->max);
}

static enum status load_enum(const struct cfg_var *v, const char *s, int *out,
                             struct err *e)
{
    const struct cfg_choice *ch;
    char names[128];

    for (ch = v->choices; ch->name != NULL; ch++) {
        if (strcasecmp(s, ch->name) == 0) {
            *out = ch->value;
            return ST_OK;
        }
    }
    choice_list(v->choices, false, names, sizeof names);
    return err_set(e, ST_INVALID, "%s: unknown value \"%.*s\" (use %s)", v->name,
                   QUOTE_MAX, s, names);
}

/* Parse s (a value from the environment, or the default; NULL only for a string without
 * a default) into v's field of c. */
static enum status load_var(const struct cfg_var *v, const char *s, struct cfg *c,
                            struct err *e)
{
    void *field = field_of(c, v);
    char shown[256], hint[64];

    if (s == NULL && v->type != CFG_STRING && v->type != CFG_SECRET && v->type != CFG_URL)
        return err_set(e, ST_INVALID, "%s: no value and no default", v->name);
    switch (v->type) {
    case CFG_STRING:
    case CFG_SECRET:
        break;
    case CFG_URL:
        if (s != NULL && !url_valid(v, s)) {
            /* A URL may carry a password: show it as the summary would. */
            log_mask_url(s, shown, sizeof shown);
            scheme_list(v, false, hint, sizeof hint);
            return err_set(e, ST_INVALID, "%s: invalid URL \"%.*s\" (use %s)", v->name,
                           QUOTE_MAX, shown, hint);
        }
        break;
    case CFG_NAME:
        if (!name_valid(s, v->max))
            return err_set(
                e, ST_INVALID,
                "%s: invalid name \"%.*s\" (use 1 to %lld of A-Z a-z 0-9 _ . -)", v->name,
                QUOTE_MAX, s, (long long)v->max);
        *(const char **)field = s;
        return ST_OK;
    case CFG_DURATION:
        return load_duration(v, s, field, e);
    case CFG_INT:
        return load_int(v, s, field, e);
    case CFG_RATE:
        return load_rate(v, s, field, e);
    case CFG_ENUM:
        return load_enum(v, s, field, e);
    default:
        return err_set(e, ST_INVALID, "%s: unknown type", v->name);
    }
    /* A string or URL: the module that will use it has the last word. */
    if (s != NULL && v->check != NULL && !v->check(s, e)) {
        err_prefix(e, "%s", v->name);
        return ST_INVALID;
    }
    *(const char **)field = s;
    return ST_OK;
}

/* The value of v in the environment, NULL for unset (an empty value too, unless v
 * refuses it: then *empty is set). */
static const char *env_value(const struct cfg_var *v, bool *empty)
{
    const char *s = getenv(v->name);

    *empty = false;
    if (s == NULL || s[0] != '\0')
        return s;
    *empty = v->empty_refused;
    return NULL;
}

/* A refused empty value: what to do instead. */
static enum status empty_refused(const struct cfg_var *v, struct err *e)
{
    char shown[256];

    log_mask_url(v->dflt, shown, sizeof shown);
    return err_set(e, ST_INVALID,
                   "%s is set but empty: unset it for the default \"%s\", or give a "
                   "value (an empty value is refused, since the default may be another "
                   "stack's)",
                   v->name, shown);
}

enum status cfg_load(struct cfg *c, struct err *e)
{
    enum status st;
    size_t i;

    for (i = 0; i < NVARS; i++) {
        bool empty;
        const char *s = env_value(&vars[i], &empty);

        if (empty)
            return empty_refused(&vars[i], e);
        st = load_var(&vars[i], s != NULL ? s : vars[i].dflt, c, e);
        if (st != ST_OK)
            return st;
    }
    if (c->backoff_cap_ms < c->backoff_base_ms) {
        char cap[32], base[32];

        cfg_format_duration(c->backoff_cap_ms, cap, sizeof cap);
        cfg_format_duration(c->backoff_base_ms, base, sizeof base);
        return err_set(e, ST_INVALID,
                       "TMDBQ_BACKOFF_CAP: %s is less than TMDBQ_BACKOFF_BASE %s", cap,
                       base);
    }
    return ST_OK;
}

/* v's value in c as the summary shows it: secrets as set or unset, URLs masked. */
static void format_value(const struct cfg_var *v, const struct cfg *c, char *buf,
                         size_t n)
{
    const void *field = cfield_of(c, v);
    const char *s;
    double r;

    switch (v->type) {
    case CFG_STRING:
    case CFG_URL:
        s = *(const char *const *)field;
        if (s == NULL)
            snprintf(buf, n, "unset");
        else
            log_mask_url(s, buf, n);
        return;
    case CFG_SECRET:
        snprintf(buf, n, "%s", *(const char *const *)field != NULL ? "set" : "unset");
        return;
    case CFG_NAME:
        snprintf(buf, n, "%s", *(const char *const *)field);
        return;
    case CFG_DURATION:
        cfg_format_duration(*(const int64_t *)field, buf, n);
        return;
    case CFG_INT:
        snprintf(buf, n, "%d", *(const int *)field);
        return;
    case CFG_RATE:
        r = *(const double *)field;
        if (r > 0)
            snprintf(buf, n, "%g/s", r);
        else
            snprintf(buf, n, "unlimited");
        return;
    case CFG_ENUM:
        snprintf(buf, n, "%s", choice_name(v->choices, *(const int *)field));
        return;
    }
    snprintf(buf, n, "?");
}

void cfg_log_summary(const struct cfg *c, const char *version)
{
    char line[SUMMARY_MAX], value[512];
    size_t len = 0, i;

    line[0] = '\0';
    for (i = 0; i < NVARS && len < sizeof line - 1; i++) {
        format_value(&vars[i], c, value, sizeof value);
        snprintf(line + len, sizeof line - len, "%s%s", vars[i].label, value);
        len += strlen(line + len);
    }
    log_info("tmdbq %s:%s", version != NULL ? version : "unknown", line);
}

/* The README's values column: the type and range cfg_load enforces. */
static void format_values(const struct cfg_var *v, char *buf, size_t n)
{
    char lo[32], hi[32];

    switch (v->type) {
    case CFG_STRING:
        snprintf(buf, n, "text");
        return;
    case CFG_SECRET:
        snprintf(buf, n, "text, never shown");
        return;
    case CFG_URL:
        scheme_list(v, true, lo, sizeof lo);
        snprintf(buf, n, "%s URL", lo);
        return;
    case CFG_NAME:
        snprintf(buf, n, "1 to %lld of `A-Z a-z 0-9 _ . -`", (long long)v->max);
        return;
    case CFG_DURATION:
        cfg_format_duration(v->min, lo, sizeof lo);
        cfg_format_duration(v->max, hi, sizeof hi);
        snprintf(buf, n, "duration, %s to %s", lo, hi);
        return;
    case CFG_INT:
        snprintf(buf, n, "integer, %lld to %lld", (long long)v->min, (long long)v->max);
        return;
    case CFG_RATE:
        snprintf(buf, n, "decimal, %lld to %lld", (long long)v->min, (long long)v->max);
        return;
    case CFG_ENUM:
        choice_list(v->choices, true, buf, n);
        return;
    }
    snprintf(buf, n, "?");
}

void cfg_print_table(FILE *out)
{
    char values[128];
    size_t i;

    fputs("| variable | default | values | meaning |\n", out);
    fputs("|---|---|---|---|\n", out);
    for (i = 0; i < NVARS; i++) {
        format_values(&vars[i], values, sizeof values);
        if (vars[i].dflt != NULL)
            fprintf(out, "| `%s` | `%s` | %s | %s |\n", vars[i].name, vars[i].dflt,
                    values, vars[i].meaning);
        else
            fprintf(out, "| `%s` | %s | %s | %s |\n", vars[i].name, vars[i].unset, values,
                    vars[i].meaning);
    }
}
