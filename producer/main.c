/*
 * tmdbq: enqueue, inspect and control TMDB list operations. All the work is in cli.c and
 * the library; main only maps the result to the exit status.
 */
#include "cli.h"

int main(int argc, char **argv)
{
    return cli_main(argc, argv);
}
