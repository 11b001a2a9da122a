/*
 * test_consumer_order: operations that conflict (an add and a remove of one movie on one
 * list) take effect in enqueue order, however many consumers run.
 *
 * On each of four lists, for movies 550, 551 and 552: add, remove, add (three operations
 * each, not deduplicated). Three consumers with several workers each race for them; the
 * fake answers after a few ms so that a wrong order would have room to show. At the end
 * every movie is on every list, and the writes the fake saw for each movie of each list
 * are exactly the enqueued ones, in enqueue order (writes of different movies may
 * interleave: they do not conflict).
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "support.h"

static bool ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), t = strlen(tail);

    return n >= t && strcmp(s + n - t, tail) == 0;
}

#define NLISTS 4
#define NMOVIES 3
#define NCONSUMERS 3
#define FIRST_LIST 4001
#define PER_LIST (NMOVIES * 3)

int main(void)
{
    static const long none[] = {0};
    static const char *const cargs[] = {"--concurrency", "4", "--prefetch", "8", NULL};
    struct ts_proc cons[NCONSUMERS];
    struct ts_env env;
    struct ts_fake fake;
    json_t *ops = NULL, *reqs = NULL, *rec;
    char *lines = NULL, prefix[64], key[160];
    char want[NLISTS][PER_LIST][160], got[NLISTS][PER_LIST + 8][160];
    size_t nwant[NLISTS] = {0}, ngot[NLISTS] = {0}, i, k, r;
    long items[16], n;
    long long t0;
    int rc, m, round;

    ts_procs_init(cons, NCONSUMERS);
    rc = ts_setup_with_fake(&env, &fake, "consumer_order", 5, 100, 2000);
    if (rc != 0)
        return rc;
    CHECK_EQ_INT(ts_user(&env, &fake, 1, "sess-order-1", NULL), 0);
    CHECK_EQ_INT(ts_user(&env, &fake, 2, "sess-order-2", NULL), 0);
    for (i = 0; i < NLISTS; i++)
        CHECK_EQ_INT(
            ts_fake_list(&fake, FIRST_LIST + (long)i, (long)(i % 2) + 1, none, 0), 0);
    CHECK_EQ_INT(ts_fake_faults(&fake, "{\"latency_ms\":5}"), 0);

    /* Round-robin over the lists, so all lists are in play at once. */
    for (m = 0; m < NMOVIES; m++) {
        for (round = 0; round < 3; round++) {
            for (i = 0; i < NLISTS; i++) {
                long list = FIRST_LIST + (long)i, user = (long)(i % 2) + 1,
                     movie = 550 + m;
                const char *type = round == 1 ? "remove_movie" : "add_movie";

                ts_appendf(&lines,
                           "{\"type\":\"%s\",\"user\":%ld,\"list\":%ld,\"movie\":%ld}\n",
                           type, user, list, movie);
                snprintf(want[i][nwant[i]++], 160, "POST /3/list/%ld/%s %ld", list,
                         round == 1 ? "remove_item" : "add_item", movie);
            }
        }
    }
    n = ts_enqueue_lines(&env, lines, &ops);
    CHECK_EQ_INT(n, NLISTS * PER_LIST);
    if (n != NLISTS * PER_LIST)
        goto out;

    t0 = ts_now_ms();
    CHECK_EQ_INT(ts_consumers_start(&env, &fake, NULL, cargs, cons, NCONSUMERS), 0);
    CHECK_EQ_INT(ts_wait_final_while(&env, cons, NCONSUMERS, 30000), 0);
    printf("order: %ld operations on %d lists, %d consumers: final after %lld ms\n", n,
           NLISTS, NCONSUMERS, ts_now_ms() - t0);
    CHECK_EQ_INT(ts_count_status(&env, "completed"), n);

    reqs = ts_fake_requests(&fake);
    CHECK(reqs != NULL);
    json_array_foreach(reqs, r, rec)
    {
        ts_fake_request_key(rec, key, sizeof key);
        if (key[0] == '\0')
            continue;
        for (i = 0; i < NLISTS; i++) {
            snprintf(prefix, sizeof prefix, "POST /3/list/%ld/", FIRST_LIST + (long)i);
            if (strncmp(key, prefix, strlen(prefix)) == 0 && ngot[i] < PER_LIST + 8)
                snprintf(got[i][ngot[i]++], 160, "%s", key);
        }
    }
    for (i = 0; i < NLISTS; i++) {
        bool same = ngot[i] == nwant[i];

        /* Per movie: the writes of that movie, in the order TMDB saw them. */
        for (m = 0; same && m < NMOVIES; m++) {
            char tail[16];
            size_t g = 0, w = 0;

            snprintf(tail, sizeof tail, " %d", 550 + m);
            for (;;) {
                while (g < ngot[i] && !ends_with(got[i][g], tail))
                    g++;
                while (w < nwant[i] && !ends_with(want[i][w], tail))
                    w++;
                if (g == ngot[i] || w == nwant[i]) {
                    same = g == ngot[i] && w == nwant[i];
                    break;
                }
                if (strcmp(got[i][g++], want[i][w++]) != 0) {
                    same = false;
                    break;
                }
            }
        }
        if (!same) {
            fprintf(stderr, "list %ld: writes seen by TMDB, in order:\n",
                    FIRST_LIST + (long)i);
            for (k = 0; k < ngot[i]; k++)
                fprintf(stderr, "  %s\n", got[i][k]);
            fprintf(stderr, "expected:\n");
            for (k = 0; k < nwant[i]; k++)
                fprintf(stderr, "  %s\n", want[i][k]);
        }
        CHECK(same);
        n = ts_fake_list_items(&fake, FIRST_LIST + (long)i, items, 16);
        CHECK_EQ_INT(n, NMOVIES);
    }
    CHECK_EQ_INT(ts_procs_stop(cons, NCONSUMERS, 15000), 0);
out:
    ts_procs_end(&env, cons, NCONSUMERS, check_failures != 0, 40, 4000);
    json_decref(reqs);
    json_decref(ops);
    free(lines);
    ts_teardown(&env);
    return check_exit();
}
