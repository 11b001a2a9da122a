/*
 * tmdbq-http: the queue over HTTP and JSON for applications in any language, Prometheus
 * metrics, and a dashboard for people in a browser (at /). main reads the configuration,
 * starts the parts in order, waits for SIGTERM or SIGINT and stops them: exit 0 after a
 * clean stop, 2 for bad usage or configuration (TMDBQ_HTTP_TOKEN missing included), 1
 * when it could not start (the address cannot be bound, out of memory).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cfg.h"
#include "clock.h"
#include "daemon.h"
#include "log.h"
#include "openapi.h"
#include "pool.h"
#include "scrape.h"
#include "server.h"
#include "settings.h"
#include "sig.h"
#include "tmdbq.h"

#define PROGRAM "tmdbq-http"
/* How often the main loop looks at the stop flag. */
#define LOOP_MS 100

/* clang-format off */
#define USAGE                                                                            \
    "usage: " PROGRAM " [--grace D] [--port-file FILE] [--help] [--version]\n"           \
    "\n"                                                                                 \
    "  --grace D         after SIGTERM/SIGINT, how long requests in progress may\n"      \
    "                    take (default 10s; e.g. 500ms, 30s)\n"                          \
    "  --port-file FILE  write the port it listens on to FILE once it listens\n"        \
    "                    (for TMDBQ_HTTP_LISTEN=host:0)\n"                               \
    "\n"                                                                                 \
    "Configuration comes from the environment: TMDBQ_HTTP_LISTEN (host:port,\n"          \
    "default 127.0.0.1:8080), TMDBQ_HTTP_TOKEN (required: the bearer token of\n"         \
    "every /v1 request), TMDBQ_HTTP_POOL (database handles, default 8),\n"               \
    "TMDBQ_HTTP_POOL_WAIT (default 2s), TMDBQ_HTTP_MAX_CONNECTIONS (default\n"           \
    "256), and what every tmdbq program reads (TMDBQ_DATABASE_URL,\n"                    \
    "TMDBQ_AMQP_URL, TMDBQ_AMQP_PREFIX, TMDB_API_KEY for POST /v1/apply, ...).\n"       \
    "The dashboard, a page for a browser, is at / (it asks for the token).\n"            \
    "It runs until SIGTERM or SIGINT; a second signal exits at once.\n"                  \
    "Exit status: 0 stopped cleanly, 1 could not start, 2 bad usage or\n"                \
    "configuration.\n"
/* clang-format on */

struct opts {
    int64_t grace_ms;
    const char *port_file;
};

static int usage_error(const char *fmt, const char *arg)
{
    fputs(PROGRAM ": ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n" USAGE, stderr);
    return 2;
}

/* Returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, struct opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];

        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fputs(USAGE, stdout);
            return 0;
        }
        if (strcmp(arg, "--version") == 0) {
            printf(PROGRAM " %s\n", TMDBQ_VERSION);
            return 0;
        }
        if (strcmp(arg, "--grace") == 0 || strcmp(arg, "--port-file") == 0) {
            if (i + 1 >= argc)
                return usage_error("%s needs a value", arg);
            if (arg[2] == 'g') {
                /* server_stop adds it to the clock: at most 1d, as the consumer's. */
                if (cfg_parse_duration(argv[++i], &o->grace_ms, NULL) != ST_OK ||
                    o->grace_ms > 24LL * 3600 * 1000)
                    return usage_error(
                        "--grace: invalid duration \"%s\" (use e.g. 500ms, "
                        "30s, 2m; at most 1d)",
                        argv[i]);
            } else {
                o->port_file = argv[++i];
            }
            continue;
        }
        return usage_error("unknown argument \"%s\"", arg);
    }
    return -1;
}

/* tmdbq-http's own settings, read as part of the configuration. */
static enum status load_settings(const struct cfg *cfg, void *set, struct err *e)
{
    return settings_load(cfg, set, e);
}

/* Written to a temporary name and renamed, so a reader never sees half a number. */
static enum status write_port_file(const char *path, int port, struct err *e)
{
    char tmp[4096];
    FILE *f;

    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    f = fopen(tmp, "w");
    if (f == NULL || fprintf(f, "%d\n", port) < 0 || fclose(f) != 0 ||
        rename(tmp, path) != 0)
        return err_set(e, ST_IO, "could not write the port to \"%s\": %s", path,
                       strerror(errno));
    return ST_OK;
}

int main(int argc, char **argv)
{
    struct opts o = {.grace_ms = 10000, .port_file = NULL};
    struct cfg cfg;
    struct settings set;
    struct err e = {0};
    struct pool *pool = NULL;
    struct api *api = NULL;
    struct scrape *scrape = NULL;
    struct server *srv = NULL;
    char pool_wait[32];
    int rc, code = 1;

    rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    /* Order: configuration and logging; libcurl's global state (tmdbq_status and
     * tmdbq_apply use it) before any thread exists; signals; the pool, the endpoints and
     * the monitoring connection (nothing connects yet: a PostgreSQL that is still
     * starting only makes /healthz say 503); and last the listener, which starts the
     * threads. */
    if (!daemon_start(PROGRAM, &cfg, load_settings, &set))
        return 2;
    if (tmdbq_global_init() != TMDBQ_OK) {
        log_error("could not initialise libcurl");
        return 1;
    }
    sig_install();
    if (pool_new(set.pool_size, set.pool_wait_ms, &pool, &e) != ST_OK ||
        api_new(pool, cfg.tmdb_api_key != NULL || cfg.tmdb_access_token != NULL,
                openapi_json, openapi_json_len, &api, &e) != ST_OK ||
        scrape_new(cfg.database_url, cfg.connect_timeout_ms, pool, &scrape, &e) !=
            ST_OK ||
        server_start(&set, api, scrape, &srv, &e) != ST_OK) {
        log_error("%s", e.msg);
        goto out;
    }
    cfg_format_duration(set.pool_wait_ms, pool_wait, sizeof pool_wait);
    log_info("listening on %s:%d: token set (%zu characters), %d database handle(s) "
             "(wait %s), %d connection(s), bodies up to %d bytes, apply %s",
             set.host, server_port(srv), set.token_len, set.pool_size, pool_wait,
             set.max_connections, SERVER_BODY_MAX,
             cfg.tmdb_api_key != NULL || cfg.tmdb_access_token != NULL
                 ? "enabled"
                 : "disabled (no TMDB_API_KEY / TMDB_ACCESS_TOKEN)");
    log_info("dashboard: http://%s%s%s:%d/ (the page asks for TMDBQ_HTTP_TOKEN)",
             strchr(set.host, ':') != NULL ? "[" : "", set.host,
             strchr(set.host, ':') != NULL ? "]" : "", server_port(srv));
    if (o.port_file != NULL &&
        write_port_file(o.port_file, server_port(srv), &e) != ST_OK) {
        log_error("%s", e.msg);
        goto out;
    }

    while (!sig_stop_requested())
        clock_sleep_ms(LOOP_MS);
    log_info("stopping: no new connections; requests in progress may finish");
    code = 0;
out:
    server_stop(srv, o.grace_ms);
    scrape_free(scrape);
    api_free(api);
    pool_free(pool);
    tmdbq_global_cleanup();
    if (code == 0)
        log_info("stopped");
    return code;
}
