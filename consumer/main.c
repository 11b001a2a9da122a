/*
 * tmdbq-consumer: take operation ids from RabbitMQ, apply them to TMDB, record the
 * outcome in PostgreSQL. main parses the flags, loads the configuration, starts the
 * supervisor (consumer.c) and maps its result to the exit status: 0 after a clean stop, 2
 * for bad usage or configuration, 1 when the workers could not be set up.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "args.h"
#include "cfg.h"
#include "consumer.h"
#include "daemon.h"
#include "err.h"
#include "log.h"
#include "sig.h"

#define PROGRAM "tmdbq-consumer"
#define ID_MAX 200
/* The grace period is added to a clock reading: far beyond any use, far within int64. */
#define GRACE_MAX_MS (24LL * 3600 * 1000)

/* clang-format off */
#define USAGE                                                                            \
    "usage: " PROGRAM " [--concurrency N] [--prefetch N] [--grace D] [--drain]\n"        \
    "                      [--once] [--id NAME] [--help] [--version]\n"                  \
    "\n"                                                                                 \
    "  --concurrency N  worker threads, 1 to 64 (default 4)\n"                           \
    "  --prefetch N     unacknowledged messages per worker, 1 to 1000 (default 16)\n"     \
    "  --grace D        after SIGTERM/SIGINT, how long work in flight may take\n"        \
    "                   (default 30s; e.g. 500ms, 10s, 2m; at most 1d)\n"                \
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
    return args_refuse(PROGRAM, USAGE, fmt, arg);
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

enum {
    OPT_CONCURRENCY = 256,
    OPT_PREFETCH,
    OPT_GRACE,
    OPT_DRAIN,
    OPT_ONCE,
    OPT_ID,
};

static const struct option options[] = {
    {"concurrency", required_argument, NULL, OPT_CONCURRENCY},
    {"prefetch", required_argument, NULL, OPT_PREFETCH},
    {"grace", required_argument, NULL, OPT_GRACE},
    {"drain", no_argument, NULL, OPT_DRAIN},
    {"once", no_argument, NULL, OPT_ONCE},
    {"id", required_argument, NULL, OPT_ID},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, ARGS_VERSION},
    {NULL, 0, NULL, 0},
};

#define NOPTIONS (sizeof options / sizeof options[0] - 1)

/* Returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, struct consumer_opts *o)
{
    bool seen[NOPTIONS] = {false};
    for (;;) {
        int c = args_next(argc, argv, options, seen, PROGRAM, USAGE);

        if (c < 0)
            return args_exit_status(c);
        switch (c) {
        case OPT_DRAIN:
            o->drain = true;
            break;
        case OPT_ONCE:
            o->once = true;
            break;
        case OPT_CONCURRENCY:
            if (!parse_int(optarg, 1, CONSUMER_CONCURRENCY_MAX, &o->concurrency))
                return usage_error("--concurrency: \"%s\" is not an integer from 1 to 64",
                                   optarg);
            break;
        case OPT_PREFETCH:
            if (!parse_int(optarg, 1, CONSUMER_PREFETCH_MAX, &o->prefetch))
                return usage_error("--prefetch: \"%s\" is not an integer from 1 to 1000",
                                   optarg);
            break;
        case OPT_GRACE:
            if (cfg_parse_duration(optarg, &o->grace_ms, NULL) != ST_OK ||
                o->grace_ms > GRACE_MAX_MS)
                return usage_error(
                    "--grace: invalid duration \"%s\" (use e.g. 500ms, 30s, "
                    "2m; at most 1d)",
                    optarg);
            break;
        case OPT_ID:
            if (!id_valid(optarg))
                return usage_error("--id: \"%s\" must be 1 to 200 printable characters "
                                   "without spaces",
                                   optarg);
            o->id = optarg;
            break;
        }
    }
}

/* The consumer's own rules on the configuration, beyond cfg_load's. */
static enum status config_check(const struct cfg *cfg, void *arg, struct err *e)
{
    (void)arg;
    /* A delete makes two TMDB requests, each bounded by the TMDB timeout: a lease no
     * longer than both could run out under a slow call, and another consumer would then
     * take the row over and make the call again. */
    if (cfg->tmdb_timeout_ms >= cfg->lease_ms / 2 + cfg->lease_ms % 2) {
        char lease[32], timeout[32];

        cfg_format_duration(cfg->lease_ms, lease, sizeof lease);
        cfg_format_duration(cfg->tmdb_timeout_ms, timeout, sizeof timeout);
        return err_set(
            e, ST_INVALID,
            "TMDBQ_LEASE (%s) must be more than twice TMDBQ_TMDB_TIMEOUT (%s): "
            "a delete makes two TMDB requests, and a call that outlives its "
            "lease is taken over and repeated by another consumer",
            lease, timeout);
    }
    if (cfg->tmdb_api_key == NULL && cfg->tmdb_access_token == NULL)
        return err_set(e, ST_INVALID,
                       "no TMDB application credential: set TMDB_API_KEY (v3 API key) or "
                       "TMDB_ACCESS_TOKEN (read access token)");
    return ST_OK;
}

int main(int argc, char **argv)
{
    struct consumer_opts o = {
        .concurrency = 4,
        .prefetch = 16,
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
    if (o.once) {
        o.concurrency = 1;
        o.prefetch = 1;
    }

    /* Order: configuration and logging, then libcurl's global state (before any thread
     * exists, as libcurl requires), then signals, then the workers. */
    if (!daemon_start(PROGRAM, &cfg, config_check, NULL))
        return 2;
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
    if (st == ST_OK && abandoned) {
        /* A worker is still inside a TMDB call: tearing libcurl down under it, or running
         * atexit handlers, could crash a clean stop into a core dump. */
        log_info("stopped");
        fflush(stderr);
        _exit(0);
    }
    curl_global_cleanup();
    return daemon_exit(st, &e);
}
