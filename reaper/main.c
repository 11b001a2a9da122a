/*
 * tmdbq-reaper: the maintenance process (outbox relay, rescue of expired leases, cleanup
 * of old finished rows). main parses the flags, loads the configuration, starts the loop
 * (reaper.c) and maps its result to the exit status: 0 after a clean stop (or a --once
 * sweep that ran through), 1 when a --once sweep could not get through because a service
 * failed, 2 for bad usage or configuration.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "cfg.h"
#include "daemon.h"
#include "err.h"
#include "reaper.h"
#include "sig.h"

#define PROGRAM "tmdbq-reaper"

/* clang-format off */
#define USAGE                                                                            \
    "usage: " PROGRAM " [--once] [--help] [--version]\n"                                 \
    "\n"                                                                                 \
    "  --once     take the lead, run one sweep including the cleanup, and exit\n"        \
    "             (0 when it ran through or another reaper leads, 1 when a service\n"    \
    "             failed)\n"                                                             \
    "\n"                                                                                 \
    "Any number of reapers may run; the one holding the leader's lock sweeps every\n"    \
    "TMDBQ_SWEEP_INTERVAL: it rescues operations whose consumer died (lease expired),\n" \
    "publishes operations whose publish was lost, and once a day deletes completed and\n"\
    "cancelled operations older than TMDBQ_RETENTION. Configuration comes from the\n"    \
    "environment (TMDBQ_DATABASE_URL, TMDBQ_AMQP_URL, TMDBQ_AMQP_PREFIX,\n"              \
    "TMDBQ_MAX_RETRIES, ...). It runs until SIGTERM or SIGINT; a second signal exits at\n"\
    "once. Exit status: 0 stopped cleanly, 1 --once failed, 2 bad usage or\n"            \
    "configuration.\n"
/* clang-format on */

enum {
    OPT_ONCE = 256,
};

static const struct option options[] = {
    {"once", no_argument, NULL, OPT_ONCE},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, ARGS_VERSION},
    {NULL, 0, NULL, 0},
};

#define NOPTIONS (sizeof options / sizeof options[0] - 1)

/* Returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, bool *once)
{
    bool seen[NOPTIONS] = {false};
    for (;;) {
        int c = args_next(argc, argv, options, seen, PROGRAM, USAGE);

        if (c < 0)
            return args_exit_status(c);
        if (c == OPT_ONCE)
            *once = true;
    }
}

int main(int argc, char **argv)
{
    struct cfg cfg;
    struct err e = {0};
    bool once = false;
    enum status st;
    int rc;

    rc = parse_args(argc, argv, &once);
    if (rc >= 0)
        return rc;

    /* Order: configuration and logging, then signals, then the loop. */
    if (!daemon_start(PROGRAM, &cfg, NULL, NULL))
        return 2;
    sig_install();

    st = reaper_run(&cfg, once, &e);
    return daemon_exit(st, &e);
}
