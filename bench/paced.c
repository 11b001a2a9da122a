/*
 * paced: enqueue N add_movie operations through libtmdbq, one tmdbq_enqueue call each, at
 * RATE a second (bench/latency.sh builds and runs it).
 *
 *   paced N RATE LISTS FIRST_LIST FIRST_MOVIE
 *
 * Operation i goes to list FIRST_LIST + i % LISTS (user 1), movie FIRST_MOVIE + i. For
 * each it prints "<id> <start> <end>": the wall clock in microseconds just before the
 * call and when it returned (the row committed and the id published with a confirm).
 * Configuration comes from the environment, as for every tmdbq program.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tmdbq.h"

/* argv's text as a positive number, or 0 when it is not one. */
static long positive(const char *s)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 1)
        return 0;
    return v;
}

static int64_t wall_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int main(int argc, char **argv)
{
    struct tmdbq *h = NULL;
    long n, rate, lists, first_list, first_movie;
    int64_t t0;

    if (argc != 6) {
        fprintf(stderr, "usage: paced N RATE LISTS FIRST_LIST FIRST_MOVIE\n");
        return 2;
    }
    n = positive(argv[1]);
    rate = positive(argv[2]);
    lists = positive(argv[3]);
    first_list = positive(argv[4]);
    first_movie = positive(argv[5]);
    if (n == 0 || rate == 0 || lists == 0 || first_list == 0 || first_movie == 0) {
        fprintf(stderr, "paced: every argument must be a positive integer\n");
        return 2;
    }
    if (tmdbq_open(NULL, NULL, &h) != TMDBQ_OK) {
        fprintf(stderr, "paced: %s\n", tmdbq_errmsg(h));
        tmdbq_close(h);
        return 1;
    }
    t0 = wall_us();
    for (long i = 0; i < n; i++) {
        struct tmdbq_request req = tmdbq_request_init();
        struct tmdbq_op *op = NULL;
        int64_t due = t0 + i * 1000000 / rate, start, end;

        for (int64_t left = due - wall_us(); left > 0; left = due - wall_us()) {
            struct timespec s = {(time_t)(left / 1000000), (long)(left % 1000000) * 1000};

            nanosleep(&s, NULL);
        }
        req.type = "add_movie";
        req.user = 1;
        req.has_user = true;
        req.list = first_list + i % lists;
        req.has_list = true;
        req.movie = first_movie + i;
        req.has_movie = true;
        start = wall_us();
        if (tmdbq_enqueue(h, &req, &op) != TMDBQ_OK) {
            fprintf(stderr, "paced: enqueue %ld: %s\n", i, tmdbq_errmsg(h));
            tmdbq_close(h);
            return 1;
        }
        end = wall_us();
        printf("%s %" PRId64 " %" PRId64 "\n", tmdbq_op_id(op), start, end);
        tmdbq_op_free(op);
    }
    tmdbq_close(h);
    return 0;
}
