/*
 * tmdbq: enqueue, inspect and control TMDB list operations. All the work is in cli.c and
 * the library; main only sets up libcurl's global state (the library's rule: once, before
 * anything else) and maps the result to the exit status.
 */
#include <stdio.h>

#include "cli.h"
#include "tmdbq.h"

int main(int argc, char **argv)
{
    int rc;

    if (tmdbq_global_init() != TMDBQ_OK) {
        fputs("tmdbq: could not initialise libcurl\n", stderr);
        return TMDBQ_ESERVICE;
    }
    rc = cli_main(argc, argv);
    tmdbq_global_cleanup();
    return rc;
}
