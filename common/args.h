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

#endif
