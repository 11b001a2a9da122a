/*
 * test_order_conflicts: order only where it matters.
 *
 * 1. A retrying add of one movie does not delay the other movies of its list: the add of
 *    550 fails once (503) and waits out a 3 s backoff, while the adds of ten other movies
 *    of the same list complete meanwhile.
 * 2. A clear is a barrier both ways, raced by three consumers on six lists: on each list
 *    add A, add B, clear, add C, add D, where the add of A fails once and waits 3 s. The
 *    clear still comes after both earlier adds (it waits for the retrying one), and C and
 *    D come after the clear (they wait for it, though nothing else holds them): each list
 *    ends holding exactly C and D.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "support.h"

#define NLISTS 6
#define FIRST_LIST 7301
#define NCONSUMERS 3

/* The index in reqs of the first answered (non-5xx) write of this path and movie (0 for
 * none), -1 when there is none. */
static long first_write(const json_t *reqs, const char *path, long movie)
{
    size_t i;
    json_t *rec;

    json_array_foreach(reqs, i, rec)
    {
        const char *p = ts_json_str(rec, "path");
        long status = (long)ts_json_int(rec, "status", 0);

        if (p == NULL || strcmp(p, path) != 0 || status >= 500 || status == 0)
            continue;
        if (movie != 0 && json_integer_value(json_object_get(json_object_get(rec, "body"),
                                                             "media_id")) != movie)
            continue;
        return (long)i;
    }
    return -1;
}

static void retrying_add_does_not_block(struct ts_env *env, struct ts_fake *fake)
{
    static const char *const cargs[] = {"--concurrency", "4", NULL};
    struct ts_proc cons;
    json_t *ops = NULL;
    char *lines = NULL, sql[256];
    long long t0;
    long done, items[16];
    int k;

    cons.pid = -1;
    CHECK_EQ_INT(ts_fake_list(fake, 7201, 1, NULL, 0), 0);
    ts_appendf(&lines,
               "{\"type\":\"add_movie\",\"user\":1,\"list\":7201,\"movie\":550}\n");
    for (k = 1; k <= 10; k++)
        ts_appendf(&lines,
                   "{\"type\":\"add_movie\",\"user\":1,\"list\":7201,\"movie\":%d}\n",
                   550 + k);
    CHECK_EQ_INT(ts_enqueue_lines(env, lines, &ops), 11);
    CHECK_EQ_INT(ts_fake_faults(fake, "{\"fail_first\":1,\"fail_status\":503,"
                                      "\"media_id\":550}"),
                 0);
    t0 = ts_now_ms();
    CHECK_EQ_INT(ts_consumer_start(env, fake, NULL, cargs, &cons), 0);
    done = ts_wait_completed(env, 10, 2500);
    printf("order_conflicts: %ld of the other adds completed %lld ms after the start\n",
           done, ts_now_ms() - t0);
    CHECK_EQ_INT(done, 10);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM queued_list_operations WHERE id = '%s'"
             " AND status = 'pending' AND retry_count = 1",
             ts_json_str(json_array_get(ops, 0), "id"));
    CHECK_EQ_INT(ts_sql_long(env, sql), 1);
    CHECK_EQ_INT(ts_wait_final_while(env, &cons, 1, 20000), 0);
    CHECK_EQ_INT(ts_count_status(env, "completed"), 11);
    CHECK_EQ_INT(ts_fake_list_items(fake, 7201, items, 16), 11);
    CHECK_EQ_INT(ts_proc_stop(&cons, 15000), 0);
    if (check_failures)
        ts_proc_dump(&cons, 4000);
    ts_proc_stop(&cons, 5000);
    json_decref(ops);
    free(lines);
}

static void clear_is_a_barrier(struct ts_env *env, struct ts_fake *fake)
{
    static const long before[] = {1, 2};
    static const char *const cargs[] = {"--concurrency", "4", "--prefetch", "8", NULL};
    struct ts_proc cons[NCONSUMERS];
    json_t *ops = NULL, *reqs = NULL;
    char *lines = NULL;
    long items[8];
    int i, k;

    for (k = 0; k < NCONSUMERS; k++)
        cons[k].pid = -1;
    for (i = 0; i < NLISTS; i++) {
        long list = FIRST_LIST + i;

        CHECK_EQ_INT(ts_fake_list(fake, list, 1, before, 2), 0);
        ts_appendf(&lines,
                   "{\"type\":\"add_movie\",\"user\":1,\"list\":%ld,\"movie\":601}\n"
                   "{\"type\":\"add_movie\",\"user\":1,\"list\":%ld,\"movie\":602}\n"
                   "{\"type\":\"clear_list\",\"user\":1,\"list\":%ld}\n"
                   "{\"type\":\"add_movie\",\"user\":1,\"list\":%ld,\"movie\":603}\n"
                   "{\"type\":\"add_movie\",\"user\":1,\"list\":%ld,\"movie\":604}\n",
                   list, list, list, list, list);
    }
    CHECK_EQ_INT(ts_enqueue_lines(env, lines, &ops), 5 * NLISTS);
    /* Every add of 601 fails once: its list's clear must wait out its retry. */
    CHECK_EQ_INT(ts_fake_faults(fake, "{\"fail_first\":6,\"fail_status\":503,"
                                      "\"media_id\":601,\"latency_ms\":5}"),
                 0);
    for (k = 0; k < NCONSUMERS; k++)
        CHECK_EQ_INT(ts_consumer_start(env, fake, NULL, cargs, &cons[k]), 0);
    CHECK_EQ_INT(ts_wait_final_while(env, cons, NCONSUMERS, 30000), 0);
    CHECK_EQ_INT(ts_count_status(env, "failed"), 0);
    reqs = ts_fake_requests(fake);
    CHECK(reqs != NULL);
    for (i = 0; i < NLISTS && reqs != NULL; i++) {
        char add[64], clear[64];
        long a, b, c, d, x;

        snprintf(add, sizeof add, "/3/list/%d/add_item", FIRST_LIST + i);
        snprintf(clear, sizeof clear, "/3/list/%d/clear", FIRST_LIST + i);
        a = first_write(reqs, add, 601);
        b = first_write(reqs, add, 602);
        x = first_write(reqs, clear, 0);
        c = first_write(reqs, add, 603);
        d = first_write(reqs, add, 604);
        printf(
            "order_conflicts: list %d: add 601 #%ld, add 602 #%ld, clear #%ld, add 603 "
            "#%ld, add 604 #%ld\n",
            FIRST_LIST + i, a, b, x, c, d);
        CHECK(a >= 0 && b >= 0 && x >= 0 && c >= 0 && d >= 0);
        CHECK(a < x && b < x);
        CHECK(x < c && x < d);
        CHECK_EQ_INT(ts_fake_list_items(fake, FIRST_LIST + i, items, 8), 2);
        CHECK((items[0] == 603 && items[1] == 604) ||
              (items[0] == 604 && items[1] == 603));
    }
    for (k = 0; k < NCONSUMERS; k++)
        CHECK_EQ_INT(ts_proc_stop(&cons[k], 15000), 0);
    if (check_failures)
        for (k = 0; k < NCONSUMERS; k++)
            ts_proc_dump(&cons[k], 3000);
    for (k = 0; k < NCONSUMERS; k++)
        ts_proc_stop(&cons[k], 5000);
    json_decref(reqs);
    json_decref(ops);
    free(lines);
}

int main(void)
{
    struct ts_env env;
    struct ts_fake fake;
    int rc;

    rc = ts_setup_with_fake(&env, &fake, "order_conflicts", 5, 3000, 60000);
    if (rc != 0)
        return rc;
    CHECK_EQ_INT(ts_user(&env, &fake, 1, "sess-conflicts", NULL), 0);
    retrying_add_does_not_block(&env, &fake);
    CHECK_EQ_INT(ts_sql_exec(&env, "DELETE FROM queued_list_operations"), 0);
    CHECK_EQ_INT(ts_fake_faults(&fake, "{}"), 0);
    rc = ts_fake_call(&fake, "DELETE", "/__control/requests", NULL, NULL);
    CHECK(rc >= 200 && rc < 300);
    clear_is_a_barrier(&env, &fake);
    if (check_failures)
        ts_dump_rows(&env, 40);
    ts_teardown(&env);
    return check_exit();
}
