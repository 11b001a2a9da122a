/*
 * tmdbq-reaper: the maintenance process (outbox relay, rescue of expired leases, cleanup
 * of old finished rows). main parses the flags, loads the configuration, starts the loop
 * (reaper.c) and maps its result to the exit status: 0 after a clean stop (or a --once
 * sweep that ran through), 1 when a --once sweep could not get through because a service
 * failed, 2 for bad usage or configuration.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "sig.h"
#include "cfg.h"
#include "err.h"
#include "log.h"
#include "reaper.h"

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

/* Returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, bool *once)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(USAGE, stdout);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf(PROGRAM " %s\n", TMDBQ_VERSION);
            return 0;
        }
        if (strcmp(argv[i], "--once") == 0) {
            *once = true;
            continue;
        }
        fprintf(stderr, PROGRAM ": %s \"%s\"\n%s",
                strncmp(argv[i], "--", 2) == 0 ? "unknown option" : "unexpected argument",
                argv[i], USAGE);
        return 2;
    }
    return -1;
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
    if (cfg_load(&cfg, &e) != ST_OK) {
        fprintf(stderr, PROGRAM ": %s\n", e.msg);
        return 2;
    }

    /* Order: logging, then signals, then the loop. */
    log_init(PROGRAM, cfg.log_level, cfg.log_format);
    cfg_log_summary(&cfg, TMDBQ_VERSION);
    sig_install();

    st = reaper_run(&cfg, once, &e);
    if (st != ST_OK) {
        log_error("%s", e.msg);
        return status_exit_code(st) == 2 ? 2 : 1;
    }
    log_info("stopped");
    return 0;
}
