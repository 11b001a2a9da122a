/*
 * sig: the stop signals of the long-running programs (tmdbq-consumer, tmdbq-reaper).
 *
 * The first SIGTERM or SIGINT only sets a flag that the program's loop reads (every
 * blocking call there is bounded, so it is seen within a second); a second one exits at
 * once with status 1. SIGPIPE is ignored: a peer that closed a socket is an error return,
 * never a dead process.
 */
#ifndef TMDBQ_SIG_H
#define TMDBQ_SIG_H

#include <stdbool.h>

/* Install the handlers; call once from main before any thread starts. */
void sig_install(void);

/* Whether a stop signal has arrived. Async-signal-safe to read from any thread. */
bool sig_stop_requested(void);

#endif
