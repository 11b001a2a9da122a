/*
 * tmdbq-consumer: take operation ids from RabbitMQ, apply them to TMDB, record the
 * outcome in PostgreSQL. main parses the flags, loads the configuration, starts the
 * supervisor (consumer.c) and maps its result to the exit status: 0 after a clean stop, 2
 * for bad usage or configuration, 1 when the workers could not be set up.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "sig.h"
#include "cfg.h"
#include "consumer.h"
#include "err.h"
#include "log.h"

#define PROGRAM "tmdbq-consumer"
#define ID_MAX 200

/* clang-format off */
#define USAGE                                                                            \
    "usage: " PROGRAM " [--concurrency N] [--prefetch N] [--grace D] [--drain]\n"        \
    "                      [--once] [--id NAME] [--help] [--version]\n"                  \
    "\n"                                                                                 \
    "  --concurrency N  worker threads, 1 to 64 (default 4)\n"                           \
    "  --prefetch N     unacknowledged messages per worker, 1 to 1000 (default 8)\n"     \
    "  --grace D        after SIGTERM/SIGINT, how long work in flight may take\n"        \
    "                   (default 30s; e.g. 500ms, 10s, 2m)\n"                            \
    "  --drain          exit once the work and retry queues are empty and\n"             \
    "                   nothing is in flight\n"                                          \
    "  --once           one worker: handle at most one message (or none\n"               \
    "                   within 2s), then exit\n"                                         \
    "  --id NAME        consumer ids are NAME:<pid>:<worker#> (default NAME:\n"          \
    "                   the host name)\n"                                                \
    "\n"                                                                                 \
    "Configuration comes from the environment (TMDBQ_DATABASE_URL,\n"                    \
    "TMDBQ_AMQP_URL, TMDBQ_AMQP_PREFIX, TMDB_API_URL, TMDB_API_KEY or\n"                 \
    "TMDB_ACCESS_TOKEN, ...). It runs until SIGTERM or SIGINT; a second\n"               \
    "signal exits at once. Exit status: 0 stopped cleanly, 1 could not\n"                \
    "start, 2 bad usage or configuration.\n"
/* clang-format on */

static int usage_error(const char *fmt, const char *arg)
{
    fputs(PROGRAM ": ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n" USAGE, stderr);
    return 2;
}

static bool parse_int(const char *s, long lo, long hi, int *out)
{
    char *end = NULL;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return false;
    *out = (int)v;
    return true;
}

/* A consumer id part is shown in `tmdbq status` and logs: printable, no spaces. */
static bool id_valid(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] <= ' ' || s[i] >= 0x7f)
            return false;
    }
    return true;
}

/* Returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, struct consumer_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *eq = strchr(arg, '=');
        char flag[32];
        const char *value = NULL;
        bool takes_value;

        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fputs(USAGE, stdout);
            return 0;
        }
        if (strcmp(arg, "--version") == 0) {
            printf(PROGRAM " %s\n", TMDBQ_VERSION);
            return 0;
        }
        if (strncmp(arg, "--", 2) != 0)
            return usage_error("unexpected argument \"%s\"", arg);
        snprintf(flag, sizeof flag, "%.*s", eq ? (int)(eq - arg) : (int)strlen(arg), arg);
        takes_value = strcmp(flag, "--concurrency") == 0 ||
                      strcmp(flag, "--prefetch") == 0 || strcmp(flag, "--grace") == 0 ||
                      strcmp(flag, "--id") == 0;
        if (!takes_value) {
            if (eq == NULL && strcmp(arg, "--drain") == 0) {
                o->drain = true;
                continue;
            }
            if (eq == NULL && strcmp(arg, "--once") == 0) {
                o->once = true;
                continue;
            }
            return usage_error("unknown option \"%s\"", arg);
        }
        if (eq != NULL)
            value = eq + 1;
        else if (i + 1 < argc)
            value = argv[++i];
        else
            return usage_error("%s needs a value", flag);

        if (strcmp(flag, "--concurrency") == 0) {
            if (!parse_int(value, 1, CONSUMER_CONCURRENCY_MAX, &o->concurrency))
                return usage_error("--concurrency: \"%s\" is not an integer from 1 to 64",
                                   value);
        } else if (strcmp(flag, "--prefetch") == 0) {
            if (!parse_int(value, 1, CONSUMER_PREFETCH_MAX, &o->prefetch))
                return usage_error("--prefetch: \"%s\" is not an integer from 1 to 1000",
                                   value);
        } else if (strcmp(flag, "--grace") == 0) {
            if (cfg_parse_duration(value, &o->grace_ms, NULL) != ST_OK)
                return usage_error(
                    "--grace: invalid duration \"%s\" (use e.g. 500ms, 30s, "
                    "2m)",
                    value);
        } else {
            if (!id_valid(value))
                return usage_error("--id: \"%s\" must be 1 to 200 printable characters "
                                   "without spaces",
                                   value);
            o->id = value;
        }
    }
    return -1;
}

int main(int argc, char **argv)
{
    struct consumer_opts o = {
        .concurrency = 4,
        .prefetch = 8,
        .grace_ms = 30 * 1000,
    };
    struct cfg cfg;
    struct err e = {0};
    char grace[32];
    bool abandoned = false;
    enum status st;
    int rc;

    rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    if (cfg_load(&cfg, &e) != ST_OK) {
        fprintf(stderr, PROGRAM ": %s\n", e.msg);
        return 2;
    }
    /* A delete makes two TMDB requests, each bounded by the TMDB timeout: a lease no
     * longer than both could run out under a slow call, and another consumer would then
     * take the row over and make the call again. */
    if (cfg.tmdb_timeout_ms >= cfg.lease_ms / 2 + cfg.lease_ms % 2) {
        char lease[32], timeout[32];

        cfg_format_duration(cfg.lease_ms, lease, sizeof lease);
        cfg_format_duration(cfg.tmdb_timeout_ms, timeout, sizeof timeout);
        fprintf(stderr,
                PROGRAM ": TMDBQ_LEASE (%s) must be more than twice TMDBQ_TMDB_TIMEOUT "
                        "(%s): a delete makes two TMDB requests, and a call that "
                        "outlives its lease is taken over and repeated by another "
                        "consumer\n",
                lease, timeout);
        return 2;
    }
    if (cfg.tmdb_api_key == NULL && cfg.tmdb_access_token == NULL) {
        fprintf(stderr,
                PROGRAM ": no TMDB application credential: set TMDB_API_KEY (v3 API "
                        "key) or TMDB_ACCESS_TOKEN (read access token)\n");
        return 2;
    }
    if (o.once) {
        o.concurrency = 1;
        o.prefetch = 1;
    }

    /* Order: logging, then libcurl's global state (before any thread exists, as libcurl
     * requires), then signals, then the workers. */
    log_init(PROGRAM, cfg.log_level, cfg.log_format);
    cfg_log_summary(&cfg, TMDBQ_VERSION);
    cfg_format_duration(o.grace_ms, grace, sizeof grace);
    log_info("consumer: %d worker(s), prefetch %d, grace %s%s%s%s%s", o.concurrency,
             o.prefetch, grace, o.drain ? ", --drain" : "", o.once ? ", --once" : "",
             o.id != NULL ? ", id " : "", o.id != NULL ? o.id : "");
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_error("could not initialise libcurl");
        return 1;
    }
    sig_install();

    st = consumer_run(&cfg, &o, &abandoned, &e);
    if (st != ST_OK) {
        log_error("%s", e.msg);
        curl_global_cleanup();
        return status_exit_code(st) == 2 ? 2 : 1;
    }
    if (abandoned) {
        /* A worker is still inside a TMDB call: tearing libcurl down under it, or running
         * atexit handlers, could crash a clean stop into a core dump. */
        log_info("stopped");
        fflush(stderr);
        _exit(0);
    }
    curl_global_cleanup();
    log_info("stopped");
    return 0;
}
