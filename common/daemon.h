/*
 * daemon: how tmdbq's long-running programs (tmdbq-consumer, tmdbq-reaper, tmdbq-http)
 * start and how their run maps to an exit status, so that the three read alike: the
 * configuration is checked in full before anything is logged, then one startup line.
 */
#ifndef TMDBQ_DAEMON_H
#define TMDBQ_DAEMON_H

#include <stdbool.h>

#include "cfg.h"
#include "err.h"

/* Load the configuration into cfg (cfg_load, then check when not NULL: the program's own
 * rules on it, arg passed through, a status other than ST_OK with e's text refusing it)
 * and start logging as program with the startup line (version and effective
 * configuration, secrets masked). Returns true; false after printing "<program>: <why>"
 * on stderr, when the program should exit with status 2 (bad configuration). */
bool daemon_start(const char *program, struct cfg *cfg,
                  enum status (*check)(const struct cfg *cfg, void *arg, struct err *e),
                  void *arg);

/* The exit status for how a daemon's run ended (e: its error text): 0 after logging
 * "stopped" for ST_OK; else e is logged and the status is 2 for bad usage or
 * configuration, 1 for anything else. */
int daemon_exit(enum status st, const struct err *e);

#endif
