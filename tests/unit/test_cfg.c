/*
 * test_cfg: configuration from the environment, duration parsing and formatting, and the
 * startup summary. Needs no services.
 *
 * Every case starts from a cleared environment, so the defaults checked here are the ones
 * DESIGN.md promises and a variable set by the caller's shell cannot leak in.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "check.h"
#include "err.h"
#include "log.h"

static const char *const all_vars[] = {
    "TMDBQ_DATABASE_URL",
    "TMDBQ_AMQP_URL",
    "TMDBQ_AMQP_MANAGEMENT_URL",
    "TMDBQ_AMQP_PREFIX",
    "TMDB_API_URL",
    "TMDB_API_KEY",
    "TMDB_ACCESS_TOKEN",
    "TMDBQ_MAX_RETRIES",
    "TMDBQ_BACKOFF_BASE",
    "TMDBQ_BACKOFF_CAP",
    "TMDBQ_LEASE",
    "TMDBQ_SWEEP_INTERVAL",
    "TMDBQ_RETENTION",
    "TMDBQ_CONNECT_TIMEOUT",
    "TMDBQ_TMDB_TIMEOUT",
    "TMDBQ_LOG_LEVEL",
    "TMDBQ_LOG_FORMAT",
    "TMDBQ_APPLY_TIMEOUT",
    "TMDBQ_TMDB_RATE",
    "TMDBQ_TMDB_RATE_SCOPE",
    "TMDBQ_HTTP_LISTEN",
    "TMDBQ_HTTP_TOKEN",
    "TMDBQ_HTTP_POOL",
    "TMDBQ_HTTP_POOL_WAIT",
    "TMDBQ_HTTP_MAX_CONNECTIONS",
};

static void clear_env(void)
{
    size_t i;

    for (i = 0; i < sizeof all_vars / sizeof all_vars[0]; i++)
        unsetenv(all_vars[i]);
}

static void check_duration_ok(const char *s, int64_t want)
{
    struct err e = {0};
    int64_t ms = -1;

    CHECK_EQ_INT(cfg_parse_duration(s, &ms, &e), ST_OK);
    CHECK_EQ_INT(ms, want);
}

static void check_duration_bad(const char *s)
{
    struct err e = {0};
    int64_t ms = 12345;

    CHECK_EQ_INT(cfg_parse_duration(s, &ms, &e), ST_INVALID);
    CHECK_EQ_INT(e.code, ST_INVALID);
    CHECK(e.msg[0] != '\0');
    /* A rejected value leaves the output alone. */
    CHECK_EQ_INT(ms, 12345);
}

static void test_parse_duration(void)
{
    struct err e = {0};
    int64_t ms;

    check_duration_ok("250ms", 250);
    check_duration_ok("30s", 30000);
    check_duration_ok("2m", 120000);
    check_duration_ok("1h", 3600000);
    check_duration_ok("30d", 30LL * 86400000);
    check_duration_ok("0", 0);
    check_duration_ok("0s", 0);
    check_duration_ok("1ms", 1);

    check_duration_bad("");
    check_duration_bad("30");
    check_duration_bad("-1s");
    check_duration_bad("+1s");
    check_duration_bad("1.5s");
    check_duration_bad("30x");
    check_duration_bad(" 30s");
    check_duration_bad("30s ");
    check_duration_bad("30 s");
    check_duration_bad("s");
    check_duration_bad("ms");
    check_duration_bad("30S");
    check_duration_bad("30sec");
    check_duration_bad("99999999999999999d");
    check_duration_bad("9223372036854775807s");
    check_duration_bad("99999999999999999999999ms");
    check_duration_bad(NULL);

    /* The largest value that fits is still accepted. */
    check_duration_ok("9223372036854775807ms", INT64_MAX);

    CHECK_EQ_INT(cfg_parse_duration("30x", &ms, &e), ST_INVALID);
    CHECK_STR_EQ(e.msg, "invalid duration \"30x\" (use e.g. 250ms, 30s, 2m, 1h, 30d)");
    CHECK_EQ_INT(cfg_parse_duration("99999999999999999d", &ms, &e), ST_INVALID);
    CHECK_CONTAINS(e.msg, "too large");

    /* A NULL err is allowed. */
    CHECK_EQ_INT(cfg_parse_duration("bad", &ms, NULL), ST_INVALID);
}

static void check_format(int64_t ms, const char *want)
{
    char buf[32];

    cfg_format_duration(ms, buf, sizeof buf);
    CHECK_STR_EQ(buf, want);
}

static void test_format_duration(void)
{
    char small[3];
    int64_t back = -1;
    char buf[32];

    check_format(30000, "30s");
    check_format(3600000, "1h");
    check_format(250, "250ms");
    check_format(90000, "90s");
    check_format(86400000, "1d");
    check_format(120000, "2m");
    check_format(30LL * 86400000, "30d");
    check_format(1001, "1001ms");
    check_format(0, "0");

    /* What is formatted parses back to the same value. */
    cfg_format_duration(5400000, buf, sizeof buf);
    CHECK_STR_EQ(buf, "90m");
    CHECK_EQ_INT(cfg_parse_duration(buf, &back, NULL), ST_OK);
    CHECK_EQ_INT(back, 5400000);

    memset(small, 'x', sizeof small);
    cfg_format_duration(250, small, sizeof small);
    CHECK_STR_EQ(small, "25");
}

static void test_defaults(void)
{
    struct cfg c;
    struct err e = {0};

    clear_env();
    memset(&c, 0xab, sizeof c);
    CHECK_EQ_INT(cfg_load(&c, &e), ST_OK);
    CHECK_STR_EQ(c.database_url, "postgresql://tmdbq:tmdbq@localhost:5432/tmdbq");
    CHECK_STR_EQ(c.amqp_url, "amqp://guest:guest@localhost:5672/%2f");
    CHECK(c.amqp_management_url == NULL);
    CHECK_STR_EQ(c.amqp_prefix, "tmdbq");
    CHECK_STR_EQ(c.tmdb_api_url, "https://api.themoviedb.org");
    CHECK(c.tmdb_api_key == NULL);
    CHECK(c.tmdb_access_token == NULL);
    CHECK_EQ_INT(c.max_retries, 5);
    CHECK_EQ_INT(c.backoff_base_ms, 30000);
    CHECK_EQ_INT(c.backoff_cap_ms, 3600000);
    CHECK_EQ_INT(c.lease_ms, 120000);
    CHECK_EQ_INT(c.sweep_interval_ms, 60000);
    CHECK_EQ_INT(c.retention_ms, 30LL * 86400000);
    CHECK_EQ_INT(c.connect_timeout_ms, 5000);
    CHECK_EQ_INT(c.tmdb_timeout_ms, 30000);
    CHECK_EQ_INT(c.apply_timeout_ms, 5000);
    CHECK(c.tmdb_rate == 40.0);
    CHECK_EQ_INT(c.tmdb_rate_scope, CFG_RATE_SCOPE_QUEUE);
    CHECK_EQ_INT(c.log_level, LOG_LEVEL_INFO);
    CHECK_EQ_INT(c.log_format, LOG_FORMAT_TEXT);
}

/* tmdbq-http's settings are rows of the same table. */
static void test_http(void)
{
    struct cfg c;
    struct err e = {0};

    clear_env();
    CHECK_EQ_INT(cfg_load(&c, &e), ST_OK);
    CHECK_STR_EQ(c.http_listen, "127.0.0.1:8080");
    CHECK(c.http_token == NULL);
    CHECK_EQ_INT(c.http_pool, 8);
    CHECK_EQ_INT(c.http_pool_wait_ms, 2000);
    CHECK_EQ_INT(c.http_max_connections, 256);
    setenv("TMDBQ_HTTP_POOL", "0", 1);
    CHECK_EQ_INT(cfg_load(&c, &e), ST_INVALID);
    CHECK_CONTAINS(e.msg, "TMDBQ_HTTP_POOL");
    clear_env();
    setenv("TMDBQ_HTTP_POOL_WAIT", "2m", 1);
    CHECK_EQ_INT(cfg_load(&c, &e), ST_INVALID);
    CHECK_CONTAINS(e.msg, "TMDBQ_HTTP_POOL_WAIT");
    clear_env();
}

/* TMDBQ_TMDB_RATE: requests per second, 0 for none; the scope: queue or host. */
static void test_rate(void)
{
    struct cfg c;
    struct err e = {0};

    clear_env();
    setenv("TMDBQ_TMDB_RATE", "2.5", 1);
    setenv("TMDBQ_TMDB_RATE_SCOPE", "host", 1);
    CHECK_EQ_INT(cfg_load(&c, &e), ST_OK);
    CHECK(c.tmdb_rate == 2.5);
    CHECK_EQ_INT(c.tmdb_rate_scope, CFG_RATE_SCOPE_HOST);
    setenv("TMDBQ_TMDB_RATE", "0", 1);
    setenv("TMDBQ_TMDB_RATE_SCOPE", "queue", 1);
    CHECK_EQ_INT(cfg_load(&c, &e), ST_OK);
    CHECK(c.tmdb_rate == 0.0);
    CHECK_EQ_INT(c.tmdb_rate_scope, CFG_RATE_SCOPE_QUEUE);
    setenv("TMDBQ_TMDB_RATE", "100000", 1);
    CHECK_EQ_INT(cfg_load(&c, &e), ST_OK);
    CHECK(c.tmdb_rate == 100000.0);
}

static void test_overrides(void)
{
    struct cfg c;
    struct err e = {0};

    clear_env();
    setenv("TMDBQ_DATABASE_URL", "host=db dbname=x", 1);
    setenv("TMDBQ_AMQP_URL", "amqp://u:p@mq:5672/v", 1);
    setenv("TMDBQ_AMQP_MANAGEMENT_URL", "https://admin:pw@mq:15671/api-root", 1);
    setenv("TMDBQ_AMQP_PREFIX", "test_1.a-B", 1);
    setenv("TMDB_API_URL", "http://127.0.0.1:9999", 1);
    setenv("TMDB_API_KEY", "k123", 1);
    setenv("TMDB_ACCESS_TOKEN", "tok", 1);
    setenv("TMDBQ_MAX_RETRIES", "0", 1);
    setenv("TMDBQ_BACKOFF_BASE", "100ms", 1);
    setenv("TMDBQ_BACKOFF_CAP", "2s", 1);
    setenv("TMDBQ_LEASE", "3s", 1);
    setenv("TMDBQ_SWEEP_INTERVAL", "500ms", 1);
    setenv("TMDBQ_RETENTION", "0", 1);
    setenv("TMDBQ_CONNECT_TIMEOUT", "1s", 1);
    setenv("TMDBQ_APPLY_TIMEOUT", "750ms", 1);
    setenv("TMDBQ_LOG_LEVEL", "debug", 1);
    setenv("TMDBQ_LOG_FORMAT", "json", 1);
    CHECK_EQ_INT(cfg_load(&c, &e), ST_OK);
    CHECK_STR_EQ(c.database_url, "host=db dbname=x");
    CHECK_STR_EQ(c.amqp_url, "amqp://u:p@mq:5672/v");
    CHECK_STR_EQ(c.amqp_management_url, "https://admin:pw@mq:15671/api-root");
    CHECK_STR_EQ(c.amqp_prefix, "test_1.a-B");
    CHECK_STR_EQ(c.tmdb_api_url, "http://127.0.0.1:9999");
    CHECK_STR_EQ(c.tmdb_api_key, "k123");
    CHECK_STR_EQ(c.tmdb_access_token, "tok");
    CHECK_EQ_INT(c.max_retries, 0);
    CHECK_EQ_INT(c.backoff_base_ms, 100);
    CHECK_EQ_INT(c.backoff_cap_ms, 2000);
    CHECK_EQ_INT(c.lease_ms, 3000);
    CHECK_EQ_INT(c.sweep_interval_ms, 500);
    CHECK_EQ_INT(c.retention_ms, 0);
    CHECK_EQ_INT(c.connect_timeout_ms, 1000);
    CHECK_EQ_INT(c.apply_timeout_ms, 750);
    CHECK_EQ_INT(c.log_level, LOG_LEVEL_DEBUG);
    CHECK_EQ_INT(c.log_format, LOG_FORMAT_JSON);

    setenv("TMDBQ_MAX_RETRIES", "100", 1);
    setenv("TMDBQ_LOG_LEVEL", "warning", 1);
    CHECK_EQ_INT(cfg_load(&c, &e), ST_OK);
    CHECK_EQ_INT(c.max_retries, 100);
    CHECK_EQ_INT(c.log_level, LOG_LEVEL_WARN);

    /* Names are taken in any case, as log levels always were. */
    setenv("TMDBQ_LOG_LEVEL", "ERROR", 1);
    setenv("TMDBQ_LOG_FORMAT", "Json", 1);
    setenv("TMDBQ_TMDB_RATE_SCOPE", "HOST", 1);
    CHECK_EQ_INT(cfg_load(&c, &e), ST_OK);
    CHECK_EQ_INT(c.log_level, LOG_LEVEL_ERROR);
    CHECK_EQ_INT(c.log_format, LOG_FORMAT_JSON);
    CHECK_EQ_INT(c.tmdb_rate_scope, CFG_RATE_SCOPE_HOST);
}

static void test_empty_is_unset(void)
{
    struct cfg c;
    struct err e = {0};

    clear_env();
    setenv("TMDB_API_URL", "", 1);
    setenv("TMDBQ_AMQP_MANAGEMENT_URL", "", 1);
    setenv("TMDB_API_KEY", "", 1);
    setenv("TMDBQ_BACKOFF_BASE", "", 1);
    setenv("TMDBQ_MAX_RETRIES", "", 1);
    setenv("TMDBQ_LOG_LEVEL", "", 1);
    CHECK_EQ_INT(cfg_load(&c, &e), ST_OK);
    CHECK_STR_EQ(c.tmdb_api_url, "https://api.themoviedb.org");
    CHECK(c.amqp_management_url == NULL);
    CHECK(c.tmdb_api_key == NULL);
    CHECK_EQ_INT(c.backoff_base_ms, 30000);
    CHECK_EQ_INT(c.max_retries, 5);
    CHECK_EQ_INT(c.log_level, LOG_LEVEL_INFO);
}

/* Issue 15, defect 6: the settings that say which stack a process belongs to refuse an
 * empty value (a setting gone missing), which would silently mean another stack's
 * database, broker or queues. */
static void test_empty_refused(void)
{
    static const char *const names[] = {"TMDBQ_AMQP_PREFIX", "TMDBQ_DATABASE_URL",
                                        "TMDBQ_AMQP_URL"};
    struct cfg c;
    struct err e = {0};
    size_t i;

    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        clear_env();
        setenv(names[i], "", 1);
        memset(&e, 0, sizeof e);
        CHECK_EQ_INT(cfg_load(&c, &e), ST_INVALID);
        CHECK_EQ_INT(e.code, ST_INVALID);
        CHECK(strncmp(e.msg, names[i], strlen(names[i])) == 0);
        CHECK_CONTAINS(e.msg, " is set but empty: unset it for the default ");
        /* The default's password is masked like any URL's. */
        CHECK(strstr(e.msg, "guest:guest") == NULL);
        CHECK(strstr(e.msg, "tmdbq:tmdbq") == NULL);
    }
    clear_env();
    setenv("TMDBQ_AMQP_PREFIX", "", 1);
    CHECK_EQ_INT(cfg_load(&c, &e), ST_INVALID);
    CHECK_STR_EQ(e.msg,
                 "TMDBQ_AMQP_PREFIX is set but empty: unset it for the default "
                 "\"tmdbq\", or give a value (an empty value is refused, since the "
                 "default may be another stack's)");
    /* Unset is the default, as always. */
    clear_env();
    CHECK_EQ_INT(cfg_load(&c, &e), ST_OK);
    CHECK_STR_EQ(c.amqp_prefix, "tmdbq");
}

/* Issue 15, defect 5: a service URL that its library cannot parse is refused at start
 * (exit 2) instead of being retried forever like an unreachable server; the message names
 * the variable and never shows a password, not even one that breaks the URL. */
static void check_bad_url(const char *name, const char *value, const char *want,
                          const char *secret)
{
    struct cfg c;
    struct err e = {0};

    clear_env();
    setenv(name, value, 1);
    CHECK_EQ_INT(cfg_load(&c, &e), ST_INVALID);
    CHECK(strncmp(e.msg, name, strlen(name)) == 0);
    CHECK_CONTAINS(e.msg, want);
    if (secret != NULL && strstr(e.msg, secret) != NULL) {
        fprintf(stderr, "%s:%d: \"%s\" shows \"%s\"\n", __FILE__, __LINE__, e.msg,
                secret);
        check_failures++;
    }
}

static void test_service_urls(void)
{
    static const char *const good_db[] = {
        "postgresql://tmdbq:pw@db:5432/tmdbq",
        "postgres://db/tmdbq?sslmode=disable&connect_timeout=3",
        "postgresql:///tmdbq?host=/var/run/postgresql",
        "postgresql://u:p@[::1]:5432/db",
        "host=db port=5432 dbname=x user=u password='a b'",
        "host=a,b port=5432,5433 dbname=x",
        "host=a,b port=,5433 dbname=x",
    };
    static const char *const good_mq[] = {
        "amqp://guest:guest@localhost:5672/%2f",
        "amqp://mq",
        "amqp://u:p@mq:5672",
        "amqp://u:p%2Fq@[::1]:5672/v",
        /* The nodes of a cluster; a ',' inside a password stays in it. */
        "amqp://u:p@mq1:5672/v,amqp://u:p@mq2:5672/v,amqp://u:p,q@mq3:5672/v",
    };
    struct cfg c;
    struct err e = {0};
    size_t i;

    for (i = 0; i < sizeof good_db / sizeof good_db[0]; i++) {
        clear_env();
        setenv("TMDBQ_DATABASE_URL", good_db[i], 1);
        memset(&e, 0, sizeof e);
        CHECK_EQ_INT(cfg_load(&c, &e), ST_OK);
        if (e.msg[0] != '\0')
            fprintf(stderr, "%s: %s\n", good_db[i], e.msg);
    }
    for (i = 0; i < sizeof good_mq / sizeof good_mq[0]; i++) {
        clear_env();
        setenv("TMDBQ_AMQP_URL", good_mq[i], 1);
        memset(&e, 0, sizeof e);
        CHECK_EQ_INT(cfg_load(&c, &e), ST_OK);
        if (e.msg[0] != '\0')
            fprintf(stderr, "%s: %s\n", good_mq[i], e.msg);
    }

    check_bad_url("TMDBQ_DATABASE_URL", "db:5432/tmdbq", ": not a connection string (use",
                  NULL);
    check_bad_url("TMDBQ_DATABASE_URL", "postgresql://u:dbsecret@[::1/db",
                  ": invalid connection string: end of string reached", "dbsecret");
    check_bad_url("TMDBQ_DATABASE_URL", "host=db password=db secret",
                  ": invalid connection string: missing \"=\"", "secret");
    check_bad_url("TMDBQ_DATABASE_URL", "postgresql://u:dbsecret@db/x?sslmod=require",
                  ": invalid connection string: invalid URI query parameter", "dbsecret");
    check_bad_url("TMDBQ_DATABASE_URL", "host=db dbname='x", "unterminated quoted string",
                  NULL);
    check_bad_url("TMDBQ_DATABASE_URL", "host=db colour=blue",
                  "invalid connection option", NULL);
    check_bad_url("TMDBQ_DATABASE_URL", "postgresql://u:dbsecret@db:54x32/tmdbq",
                  ": invalid connection string: the port is not a number from 1 to 65535",
                  "dbsecret");
    check_bad_url("TMDBQ_DATABASE_URL", "host=db port=65536", "the port is not a number",
                  NULL);
    check_bad_url("TMDBQ_DATABASE_URL", "host=a,b port=5432,x",
                  "the port is not a number", NULL);

    check_bad_url("TMDBQ_AMQP_URL", "amqp://guest:mqsecret@mq:56x72/%2f",
                  ": invalid URL \"amqp://guest:***@mq:56x72/%2f\" (use "
                  "amqp://user:password@host:port/vhost",
                  "mqsecret");
    check_bad_url("TMDBQ_AMQP_URL", "amqp://mq:99999/", ": invalid URL", NULL);
    check_bad_url("TMDBQ_AMQP_URL", "amqp://mq/v/extra", ": invalid URL", NULL);
    check_bad_url("TMDBQ_AMQP_URL", "amqp://mq/%zz", ": invalid URL", NULL);
    check_bad_url("TMDBQ_AMQP_URL", "amqp://[::1/", ": invalid URL", NULL);
    /* A password with an unencoded '/' or '@' breaks the URL; it is still hidden. */
    check_bad_url("TMDBQ_AMQP_URL", "amqp://guest:mq/secret@mq:5672/%2f",
                  ": invalid URL \"amqp://guest:***@mq:5672/%2f\"", "secret");
    check_bad_url("TMDBQ_AMQP_URL", "amqp://guest:mq@secret@mq:x/%2f",
                  ": invalid URL \"amqp://guest:***@mq:x/%2f\"", "secret");
    /* One bad node of a list, masked; an empty node. */
    check_bad_url("TMDBQ_AMQP_URL", "amqp://g:pw1@mq1/%2f,amqp://g:pw2@mq2:x/%2f",
                  ": invalid URL \"amqp://g:***@mq2:x/%2f\"", "pw");
    check_bad_url("TMDBQ_AMQP_URL", "amqp://g:pw1@mq1/%2f,", ": an empty node URL",
                  "pw1");
    /* librabbitmq parses amqps, but tmdbq does not speak TLS to RabbitMQ. */
    check_bad_url("TMDBQ_AMQP_URL", "amqps://guest:mqsecret@mq:5671/%2f",
                  "TMDBQ_AMQP_URL: invalid URL \"amqps://guest:***@mq:5671/%2f\" (use "
                  "amqp://)",
                  "mqsecret");
}

/* Load with one variable set to a bad value: ST_INVALID, a message naming the variable,
 * and never the API key or access token, which are set to recognisable values. */
static void check_bad(const char *name, const char *value)
{
    struct cfg c;
    struct err e = {0};

    clear_env();
    setenv("TMDB_API_KEY", "SEKRETKEY42", 1);
    setenv("TMDB_ACCESS_TOKEN", "SEKRETTOKEN42", 1);
    setenv(name, value, 1);
    CHECK_EQ_INT(cfg_load(&c, &e), ST_INVALID);
    CHECK_EQ_INT(e.code, ST_INVALID);
    CHECK_CONTAINS(e.msg, name);
    CHECK(strstr(e.msg, "SEKRETKEY42") == NULL);
    CHECK(strstr(e.msg, "SEKRETTOKEN42") == NULL);
}

static void test_bad_values(void)
{
    struct cfg c;
    struct err e = {0};

    check_bad("TMDBQ_BACKOFF_BASE", "30x");
    check_bad("TMDBQ_BACKOFF_BASE", "0");
    check_bad("TMDBQ_BACKOFF_CAP", "1h30m");
    check_bad("TMDBQ_LEASE", "2x");
    check_bad("TMDBQ_LEASE", "0");
    check_bad("TMDBQ_SWEEP_INTERVAL", "1");
    check_bad("TMDBQ_RETENTION", "-30d");
    check_bad("TMDBQ_CONNECT_TIMEOUT", "5");
    check_bad("TMDBQ_TMDB_TIMEOUT", "0s");
    check_bad("TMDBQ_APPLY_TIMEOUT", "0s");
    check_bad("TMDBQ_APPLY_TIMEOUT", "5 s");
    check_bad("TMDBQ_TMDB_RATE", "-1");
    check_bad("TMDBQ_TMDB_RATE", "abc");
    check_bad("TMDBQ_TMDB_RATE", " 40");
    check_bad("TMDBQ_TMDB_RATE", "40/s");
    check_bad("TMDBQ_TMDB_RATE", "1e3");
    check_bad("TMDBQ_TMDB_RATE", "inf");
    check_bad("TMDBQ_TMDB_RATE", "0x10");
    check_bad("TMDBQ_TMDB_RATE", "100001");
    check_bad("TMDBQ_TMDB_RATE_SCOPE", "cluster");
    check_bad("TMDBQ_MAX_RETRIES", "abc");
    check_bad("TMDBQ_MAX_RETRIES", "-1");
    check_bad("TMDBQ_MAX_RETRIES", "101");
    check_bad("TMDBQ_MAX_RETRIES", "5x");
    check_bad("TMDBQ_MAX_RETRIES", " 5");
    check_bad("TMDBQ_MAX_RETRIES", "99999999999999999999999");
    check_bad("TMDBQ_AMQP_PREFIX", "a b");
    check_bad("TMDBQ_AMQP_PREFIX", "a/b");
    /* 65 characters, one too many. */
    check_bad("TMDBQ_AMQP_PREFIX",
              "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    check_bad("TMDBQ_LOG_LEVEL", "verbose");
    check_bad("TMDBQ_LOG_FORMAT", "xml");
    check_bad("TMDBQ_AMQP_URL", "http://mq:5672/");
    check_bad("TMDBQ_AMQP_URL", "mq:5672");
    check_bad("TMDBQ_AMQP_URL", "amqp://");
    check_bad("TMDBQ_AMQP_URL", "amqp://mq /v");
    check_bad("TMDBQ_AMQP_MANAGEMENT_URL", "ftp://mq:15672");
    check_bad("TMDBQ_AMQP_MANAGEMENT_URL", "mq:15672");
    check_bad("TMDB_API_URL", "api.themoviedb.org");
    check_bad("TMDB_API_URL", "HTTPS://api.themoviedb.org");

    /* A rejected URL is quoted with its password masked. */
    clear_env();
    setenv("TMDBQ_AMQP_URL", "amqq://guest:mqsecret@mq:5672/%2f", 1);
    CHECK_EQ_INT(cfg_load(&c, &e), ST_INVALID);
    CHECK_STR_EQ(e.msg, "TMDBQ_AMQP_URL: invalid URL \"amqq://guest:***@mq:5672/%2f\" "
                        "(use amqp://)");
    clear_env();
    setenv("TMDBQ_AMQP_MANAGEMENT_URL", "htp://admin:mgmtsecret@mq:15672", 1);
    CHECK_EQ_INT(cfg_load(&c, &e), ST_INVALID);
    CHECK_CONTAINS(e.msg, "TMDBQ_AMQP_MANAGEMENT_URL: invalid URL");
    CHECK_CONTAINS(e.msg, "(use http:// or https://)");
    CHECK(strstr(e.msg, "mgmtsecret") == NULL);

    /* The messages of the other types. */
    clear_env();
    setenv("TMDBQ_MAX_RETRIES", "101", 1);
    CHECK_EQ_INT(cfg_load(&c, &e), ST_INVALID);
    CHECK_STR_EQ(
        e.msg,
        "TMDBQ_MAX_RETRIES: invalid number \"101\" (use an integer from 0 to 100)");
    clear_env();
    setenv("TMDBQ_TMDB_RATE_SCOPE", "cluster", 1);
    CHECK_EQ_INT(cfg_load(&c, &e), ST_INVALID);
    CHECK_STR_EQ(e.msg,
                 "TMDBQ_TMDB_RATE_SCOPE: unknown value \"cluster\" (use queue, host)");
    clear_env();
    setenv("TMDBQ_LOG_LEVEL", "verbose", 1);
    CHECK_EQ_INT(cfg_load(&c, &e), ST_INVALID);
    /* An alias (warning) is accepted but not offered. */
    CHECK_STR_EQ(
        e.msg,
        "TMDBQ_LOG_LEVEL: unknown value \"verbose\" (use debug, info, warn, error)");
    clear_env();
    setenv("TMDBQ_TMDB_RATE", "1e3", 1);
    CHECK_EQ_INT(cfg_load(&c, &e), ST_INVALID);
    CHECK_STR_EQ(e.msg, "TMDBQ_TMDB_RATE: invalid rate \"1e3\" (use requests per second, "
                        "a decimal number from 0 to 100000)");
    clear_env();
    setenv("TMDBQ_AMQP_PREFIX", "a b", 1);
    CHECK_EQ_INT(cfg_load(&c, &e), ST_INVALID);
    CHECK_STR_EQ(
        e.msg,
        "TMDBQ_AMQP_PREFIX: invalid name \"a b\" (use 1 to 64 of A-Z a-z 0-9 _ . -)");

    /* The exact shape of a duration message. */
    clear_env();
    setenv("TMDBQ_LEASE", "2x", 1);
    CHECK_EQ_INT(cfg_load(&c, &e), ST_INVALID);
    CHECK_STR_EQ(e.msg, "TMDBQ_LEASE: invalid duration \"2x\" "
                        "(use e.g. 250ms, 30s, 2m, 1h, 30d)");

    /* 64 characters is the longest prefix allowed. */
    clear_env();
    setenv("TMDBQ_AMQP_PREFIX",
           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 1);
    CHECK_EQ_INT(cfg_load(&c, &e), ST_OK);
    CHECK_EQ_INT(strlen(c.amqp_prefix), 64);

    /* The cap may equal the base but not be below it; the message names the cap. */
    clear_env();
    setenv("TMDBQ_BACKOFF_BASE", "10m", 1);
    setenv("TMDBQ_BACKOFF_CAP", "10m", 1);
    CHECK_EQ_INT(cfg_load(&c, &e), ST_OK);
    setenv("TMDBQ_BACKOFF_CAP", "5m", 1);
    e.msg[0] = '\0';
    CHECK_EQ_INT(cfg_load(&c, &e), ST_INVALID);
    CHECK_CONTAINS(e.msg, "TMDBQ_BACKOFF_CAP");
    /* The default cap (1h) is below a base above it. */
    clear_env();
    setenv("TMDBQ_BACKOFF_BASE", "2h", 1);
    CHECK_EQ_INT(cfg_load(&c, &e), ST_INVALID);
    CHECK_CONTAINS(e.msg, "TMDBQ_BACKOFF_CAP");

    /* A NULL err is allowed. */
    clear_env();
    setenv("TMDBQ_LEASE", "nope", 1);
    CHECK_EQ_INT(cfg_load(&c, NULL), ST_INVALID);
}

/* Each duration's range: the bounds themselves are accepted, one step past is not, and
 * neither is anything past what PostgreSQL's interval or int64 milliseconds hold
 * (issue 15, defect 4: TMDBQ_LEASE=99999999999h was accepted, then every claim failed):
 * each is refused with the variable's bound. */
static void test_duration_ranges(void)
{
    static const struct {
        const char *name, *lo, *hi, *above, *max;
    } cases[] = {
        {"TMDBQ_BACKOFF_BASE", "1ms", "1d", "86400001ms", "1d"},
        {"TMDBQ_BACKOFF_CAP", "1d", "7d", "169h", "7d"},
        {"TMDBQ_LEASE", "1ms", "1d", "25h", "1d"},
        {"TMDBQ_SWEEP_INTERVAL", "1ms", "1d", "2d", "1d"},
        {"TMDBQ_RETENTION", "0", "3650d", "3651d", "3650d"},
        {"TMDBQ_CONNECT_TIMEOUT", "1ms", "5m", "301s", "5m"},
        {"TMDBQ_TMDB_TIMEOUT", "1ms", "10m", "11m", "10m"},
        {"TMDBQ_APPLY_TIMEOUT", "1ms", "5m", "1h", "5m"},
        {"TMDBQ_HTTP_POOL_WAIT", "1ms", "1m", "61s", "1m"},
    };
    /* Past any bound; the last three overflow int64 milliseconds. */
    static const char *const huge[] = {
        "99999999999h",          "178956971d",
        "9223372036854775807ms", "9223372036854775807s",
        "99999999999999999999d", "9223372036854775808ms",
    };
    struct cfg c;
    struct err e = {0};
    char want[160];
    size_t i, j;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        clear_env();
        /* Room for the largest base, and a base below the smallest cap. */
        if (strcmp(cases[i].name, "TMDBQ_BACKOFF_CAP") == 0)
            setenv("TMDBQ_BACKOFF_BASE", "1ms", 1);
        else
            setenv("TMDBQ_BACKOFF_CAP", "7d", 1);
        setenv(cases[i].name, cases[i].lo, 1);
        CHECK_EQ_INT(cfg_load(&c, &e), ST_OK);
        setenv(cases[i].name, cases[i].hi, 1);
        CHECK_EQ_INT(cfg_load(&c, &e), ST_OK);
        check_bad(cases[i].name, cases[i].above);
        for (j = 0; j < sizeof huge / sizeof huge[0]; j++) {
            clear_env();
            setenv(cases[i].name, huge[j], 1);
            memset(&e, 0, sizeof e);
            CHECK_EQ_INT(cfg_load(&c, &e), ST_INVALID);
            snprintf(want, sizeof want, "%s: duration \"%s\" is too long (at most %s)",
                     cases[i].name, huge[j], cases[i].max);
            CHECK_STR_EQ(e.msg, want);
        }
    }
    /* Every duration of the table is one of the cases above, so a new one cannot come
     * without its bounds checked. */
    {
        char table[16384], *line, *save = NULL;
        FILE *f = tmpfile();
        size_t got = 0, seen = 0;

        CHECK(f != NULL);
        if (f != NULL) {
            cfg_print_table(f);
            rewind(f);
            got = fread(table, 1, sizeof table - 1, f);
            fclose(f);
        }
        table[got] = '\0';
        for (line = strtok_r(table, "\n", &save); line != NULL;
             line = strtok_r(NULL, "\n", &save)) {
            bool known = false;

            if (strstr(line, " | duration, ") == NULL)
                continue;
            seen++;
            for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                snprintf(want, sizeof want, "| `%s` |", cases[i].name);
                known = known || strncmp(line, want, strlen(want)) == 0;
            }
            if (!known) {
                fprintf(stderr, "%s:%d: a duration without a range case: %s\n", __FILE__,
                        __LINE__, line);
                check_failures++;
            }
        }
        CHECK_EQ_INT(seen, sizeof cases / sizeof cases[0]);
    }
    clear_env();
    setenv("TMDBQ_BACKOFF_BASE", "1d", 1);
    setenv("TMDBQ_BACKOFF_CAP", "7d", 1);
    CHECK_EQ_INT(cfg_load(&c, &e), ST_OK);
    CHECK_EQ_INT(c.backoff_cap_ms, 7LL * 86400000);
    setenv("TMDBQ_BACKOFF_CAP", "8d", 1);
    CHECK_EQ_INT(cfg_load(&c, &e), ST_INVALID);
    CHECK_STR_EQ(e.msg, "TMDBQ_BACKOFF_CAP: duration \"8d\" is too long (at most 7d)");
    clear_env();
    setenv("TMDBQ_LEASE", "0", 1);
    CHECK_EQ_INT(cfg_load(&c, &e), ST_INVALID);
    CHECK_STR_EQ(e.msg, "TMDBQ_LEASE: duration \"0\" is too short (at least 1ms)");
}

/* Run cfg_log_summary with stderr sent to a temporary file; returns what was written. */
static void capture_summary(const struct cfg *c, char *out, size_t n)
{
    char path[] = "/tmp/ta_test_cfg_XXXXXX";
    int fd = mkstemp(path);
    int saved = dup(STDERR_FILENO);
    FILE *f;
    size_t got;

    out[0] = '\0';
    CHECK(fd >= 0);
    CHECK(saved >= 0);
    if (fd < 0 || saved < 0)
        return;
    fflush(stderr);
    dup2(fd, STDERR_FILENO);
    cfg_log_summary(c, "9.9.9");
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fd);
    f = fopen(path, "r");
    CHECK(f != NULL);
    if (f != NULL) {
        got = fread(out, 1, n - 1, f);
        out[got] = '\0';
        fclose(f);
    }
    unlink(path);
}

static void test_summary(void)
{
    struct cfg c;
    struct err e = {0};
    char out[8192];

    clear_env();
    setenv("TMDBQ_DATABASE_URL", "postgresql://tmdbq:dbsecret@db:5432/tmdbq", 1);
    setenv("TMDBQ_AMQP_URL", "amqp://guest:mqsecret@mq:5672/%2f", 1);
    setenv("TMDB_API_KEY", "SEKRETKEY42", 1);
    CHECK_EQ_INT(cfg_load(&c, &e), ST_OK);
    log_init("tmdbq", LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
    capture_summary(&c, out, sizeof out);
    CHECK_CONTAINS(out, " INFO tmdbq: ");
    CHECK_CONTAINS(out, "9.9.9");
    CHECK_CONTAINS(out, "postgresql://tmdbq:***@db:5432/tmdbq");
    CHECK_CONTAINS(out, "amqp://guest:***@mq:5672/%2f");
    CHECK_CONTAINS(out, "prefix=tmdbq");
    CHECK_CONTAINS(out, "https://api.themoviedb.org");
    CHECK_CONTAINS(out, "api_key=set");
    CHECK_CONTAINS(out, "access_token=unset");
    CHECK_CONTAINS(out, "retries=5");
    CHECK_CONTAINS(out, "30s");
    CHECK_CONTAINS(out, "1h");
    CHECK_CONTAINS(out, "lease=2m");
    CHECK_CONTAINS(out, "sweep=1m");
    CHECK_CONTAINS(out, "retention=30d");
    CHECK_CONTAINS(out, "tmdb_rate=40/s per queue");
    CHECK_CONTAINS(out, "info");
    CHECK_CONTAINS(out, "text");
    CHECK_CONTAINS(out, "amqp_management=unset");
    CHECK_CONTAINS(out, "backoff=30s..1h");
    CHECK_CONTAINS(out, "connect_timeout=5s tmdb_timeout=30s apply_timeout=5s");
    CHECK_CONTAINS(out, "log=info/text");
    CHECK(strstr(out, "dbsecret") == NULL);
    CHECK(strstr(out, "mqsecret") == NULL);
    CHECK(strstr(out, "SEKRETKEY42") == NULL);
    /* One line. */
    CHECK(strchr(out, '\n') != NULL && strchr(out, '\n')[1] == '\0');

    /* A management URL is masked too; a zero rate is no budget. */
    setenv("TMDBQ_AMQP_MANAGEMENT_URL", "http://admin:mgmtsecret@mq:15672", 1);
    setenv("TMDB_ACCESS_TOKEN", "SEKRETTOKEN42", 1);
    setenv("TMDBQ_TMDB_RATE", "0", 1);
    setenv("TMDBQ_TMDB_RATE_SCOPE", "host", 1);
    setenv("TMDBQ_LOG_LEVEL", "warning", 1);
    CHECK_EQ_INT(cfg_load(&c, &e), ST_OK);
    capture_summary(&c, out, sizeof out);
    CHECK_CONTAINS(out, "amqp_management=http://admin:***@mq:15672");
    CHECK_CONTAINS(out, "access_token=set");
    CHECK_CONTAINS(out, "tmdb_rate=unlimited per host");
    CHECK_CONTAINS(out, "log=warn/text");
    CHECK(strstr(out, "mgmtsecret") == NULL);
    CHECK(strstr(out, "SEKRETTOKEN42") == NULL);
}

/* cfg_print_table: a Markdown table with one row per variable, the same as the summary's.
 * That it matches README.md is test_cfg_readme's business. */
static void test_print_table(void)
{
    char buf[16384];
    FILE *f = tmpfile();
    size_t got, i, rows = 0;
    const char *p;

    CHECK(f != NULL);
    if (f == NULL)
        return;
    cfg_print_table(f);
    rewind(f);
    got = fread(buf, 1, sizeof buf - 1, f);
    buf[got] = '\0';
    fclose(f);
    CHECK(strncmp(buf, "| variable | default | values | meaning |\n|---|---|---|---|\n",
                  60) == 0);
    for (i = 0; i < sizeof all_vars / sizeof all_vars[0]; i++) {
        char cell[64];

        snprintf(cell, sizeof cell, "\n| `%s` | ", all_vars[i]);
        CHECK_CONTAINS(buf, cell);
    }
    for (p = buf; *p != '\0'; p++)
        rows += *p == '\n';
    CHECK_EQ_INT(rows, 2 + sizeof all_vars / sizeof all_vars[0]);
    CHECK_CONTAINS(buf, "| `TMDBQ_LEASE` | `2m` | duration, 1ms to 1d | ");
    CHECK_CONTAINS(buf, "| `TMDBQ_RETENTION` | `30d` | duration, 0 to 3650d | ");
    CHECK_CONTAINS(buf, "| `TMDBQ_MAX_RETRIES` | `5` | integer, 0 to 100 | ");
    CHECK_CONTAINS(buf, "| `TMDBQ_TMDB_RATE` | `40` | decimal, 0 to 100000 | ");
    CHECK_CONTAINS(buf,
                   "| `TMDBQ_LOG_LEVEL` | `info` | `debug`, `info`, `warn`, `error` | ");
    CHECK_CONTAINS(buf, "| `TMDB_API_KEY` | none | text, never shown | ");
    CHECK_CONTAINS(buf, "| `TMDBQ_AMQP_URL` | `amqp://guest:guest@localhost:5672/%2f` | "
                        "`amqp://` URL | ");
    CHECK_CONTAINS(buf, "| `TMDBQ_AMQP_MANAGEMENT_URL` | "
                        "`http://<host of TMDBQ_AMQP_URL>:15672` | ");
}

/* err is what cfg reports through; its contract is checked here rather than in a test
 * of its own. */
static void test_err(void)
{
    struct err e = {0};
    char long_ctx[600];

    CHECK_EQ_INT(err_set(&e, ST_DB, "could not connect: %s", "refused"), ST_DB);
    CHECK_EQ_INT(e.code, ST_DB);
    CHECK_STR_EQ(e.msg, "could not connect: refused");
    err_prefix(&e, "enqueue %d", 7);
    CHECK_STR_EQ(e.msg, "enqueue 7: could not connect: refused");
    CHECK_EQ_INT(e.code, ST_DB);
    CHECK_EQ_INT(err_set(NULL, ST_MQ, "x"), ST_MQ);
    err_prefix(NULL, "x");

    /* Too long for the buffer: cut short, still terminated. */
    memset(long_ctx, 'a', sizeof long_ctx - 1);
    long_ctx[sizeof long_ctx - 1] = '\0';
    err_set(&e, ST_IO, "%s", long_ctx);
    CHECK_EQ_INT(strlen(e.msg), sizeof e.msg - 1);
    err_prefix(&e, "%s", "ctx");
    CHECK_EQ_INT(strlen(e.msg), sizeof e.msg - 1);
    CHECK(strncmp(e.msg, "ctx: aaa", 8) == 0);

    CHECK_EQ_INT(status_exit_code(ST_OK), 0);
    CHECK_EQ_INT(status_exit_code(ST_INVALID), 2);
    CHECK_EQ_INT(status_exit_code(ST_NOT_FOUND), 3);
    CHECK_EQ_INT(status_exit_code(ST_CONFLICT), 4);
    CHECK_EQ_INT(status_exit_code(ST_DB), 1);
    CHECK_EQ_INT(status_exit_code(ST_MQ), 1);
    CHECK_EQ_INT(status_exit_code(ST_NOMEM), 1);
    CHECK_EQ_INT(status_exit_code(ST_IO), 1);
    CHECK_EQ_INT(status_exit_code(ST_TIMEOUT), 1);
    CHECK_STR_EQ(status_name(ST_DB), "database error");
    CHECK_STR_EQ(status_name(ST_OK), "ok");
    CHECK_STR_EQ(status_name(ST_NOT_FOUND), "not found");
}

int main(void)
{
    test_err();
    test_parse_duration();
    test_format_duration();
    test_defaults();
    test_rate();
    test_http();
    test_overrides();
    test_empty_is_unset();
    test_empty_refused();
    test_service_urls();
    test_bad_values();
    test_duration_ranges();
    test_summary();
    test_print_table();
    clear_env();
    return check_exit();
}
