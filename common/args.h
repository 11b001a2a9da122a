/*
 * args: what the programs' command lines share around getopt_long.
 *
 * getopt_long takes any unambiguous prefix of a long option (--conc for --concurrency);
 * tmdbq's programs refuse them, so that a command line reads like the usage text and a
 * new flag never changes the meaning of an old command line.
 */
#ifndef TMDBQ_ARGS_H
#define TMDBQ_ARGS_H

#include <getopt.h>
#include <stdbool.h>

/* The option of opts (ended by an all-zero entry) whose val is val; NULL when none. */
const struct option *args_option(const struct option *opts, int val);

/* Whether arg ("--name" or "--name=value") spells name out in full. */
bool args_whole_name(const char *arg, const char *name);

/* Print "<program>: " fmt (with arg) and the usage text on stderr; returns 2, the exit
 * status of bad usage. */
int args_refuse(const char *program, const char *usage, const char *fmt, const char *arg);

/* args_next's answers other than an option: the options ran out; it refused the command
 * line (and said why); it answered --help or --version (and printed the answer). */
#define ARGS_END (-1)
#define ARGS_REFUSED (-2)
#define ARGS_ANSWERED (-3)

/* The val of a daemon's --version in its opts: above any character, below the daemons'
 * own option values (which start at 256). */
#define ARGS_VERSION 255

/* The next option of a daemon's command line (tmdbq-consumer, tmdbq-reaper), which has
 * options and no other words: getopt_long over opts (ended by an all-zero entry; 'h' is
 * -h) with tmdbq's refusals, each told by args_refuse: an unknown or abbreviated option,
 * a missing value, a value for an option that takes none, an option given twice (seen:
 * one flag per option of opts, false at first), a word that is not an option. --help
 * ('h') prints usage on stdout, --version (ARGS_VERSION) prints "<program> <version>".
 * Returns the option's val (its value in optarg), ARGS_END after the last one,
 * ARGS_REFUSED or ARGS_ANSWERED. */
int args_next(int argc, char **argv, const struct option *opts, bool *seen,
              const char *program, const char *usage);

/* What a daemon's argument parser returns for args_next's answer c (< 0): -1 to go on
 * (ARGS_END), else the exit status: 0 (ARGS_ANSWERED) or 2 (ARGS_REFUSED). */
int args_exit_status(int c);

#endif
