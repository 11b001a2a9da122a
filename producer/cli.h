/*
 * cli: the `tmdbq` command line (see docs/cli.md for the contract).
 */
#ifndef TMDBQ_CLI_H
#define TMDBQ_CLI_H

/* Run the command line; returns the exit status (0..4). Prints results on stdout and
 * messages on stderr. */
int cli_main(int argc, char **argv);

#endif
