/*
 * test_control_pause: `tmdbq pause` and `tmdbq resume` with real consumers.
 *
 * One consumer runs, the queue is paused (twice: the second changes nothing), then 200
 * operations are enqueued (100 create_list, and 100 add_movie spread over 10 lists) and a
 * second consumer starts, while paused. For 4 seconds nothing may happen: no row leaves
 * pending and the fake TMDB receives no request; all 200 messages sit ready in the work
 * queue; both consumers say in their logs that the queue is paused. After `tmdbq resume`
 * all 200 complete, and the fake saw exactly one write per operation: nothing was lost or
 * done twice.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "support.h"

#define NCREATE 100
#define NLISTS 10
#define PER_LIST 10
#define TOTAL (NCREATE + NLISTS * PER_LIST)
#define FIRST_LIST 8401
#define QUIET_MS 4000

static const char *const cargs[] = {"--concurrency", "4", "--prefetch", "8", NULL};

/* Poll a process's stderr (at most within_ms) until it contains needle. */
static bool wait_log(const struct ts_proc *p, const char *needle, long within_ms)
{
    long long end = ts_now_ms() + within_ms;

    for (;;) {
        char *log = ts_proc_stderr(p);
        bool found = strstr(log, needle) != NULL;

        free(log);
        if (found)
            return true;
        if (ts_now_ms() >= end) {
            fprintf(stderr, "%s: no \"%s\" in its log within %ld ms\n", p->label, needle,
                    within_ms);
            return false;
        }
        ts_sleep_ms(100);
    }
}

static json_t *run_json(struct ts_env *env, int want, const char *cmd)
{
    struct ts_result r = {0};
    json_t *v = NULL;

    CHECK_EQ_INT(ts_run(env, NULL, NULL, &r, cmd, "--json", NULL), want);
    if (r.status != want)
        ts_result_dump(cmd, &r);
    else
        v = ts_json_parse(r.out);
    ts_result_free(&r);
    return v;
}

int main(void)
{
    static const long none[] = {0};
    struct ts_env env;
    struct ts_fake fake;
    struct ts_proc cons[2];
    json_t *ops = NULL, *reqs = NULL, *p1 = NULL, *p2 = NULL, *res = NULL, *st = NULL;
    char *lines = NULL;
    long n, missing = -1, extra = -1;
    long long t0, end;
    int rc, i, k;

    ts_procs_init(cons, 2);
    rc = ts_setup_with_fake(&env, &fake, "control_pause", 5, 100, 2000);
    if (rc != 0)
        return rc;
    CHECK_EQ_INT(ts_user(&env, &fake, 1, "sess-pause-1", NULL), 0);
    for (i = 0; i < NLISTS; i++)
        CHECK_EQ_INT(ts_fake_list(&fake, FIRST_LIST + i, 1, none, 0), 0);

    CHECK_EQ_INT(ts_consumer_start(&env, &fake, NULL, cargs, &cons[0]), 0);
    CHECK(wait_log(&cons[0], "ready: consuming", 10000));

    p1 = run_json(&env, 0, "pause");
    CHECK_EQ_INT(ts_json_bool(p1, "paused"), 1);
    CHECK_EQ_INT(ts_json_bool(p1, "changed"), 1);
    p2 = run_json(&env, 0, "pause");
    CHECK_EQ_INT(ts_json_bool(p2, "paused"), 1);
    CHECK_EQ_INT(ts_json_bool(p2, "changed"), 0);
    CHECK_STR_EQ(ts_json_str(p2, "since"), ts_json_str(p1, "since"));

    for (i = 0; i < NCREATE; i++)
        ts_appendf(&lines,
                   "{\"type\":\"create_list\",\"user\":1,\"name\":\"paused %d\"}\n", i);
    for (k = 0; k < PER_LIST; k++) {
        for (i = 0; i < NLISTS; i++)
            ts_appendf(&lines,
                       "{\"type\":\"add_movie\",\"user\":1,\"list\":%d,\"movie\":%d}\n",
                       FIRST_LIST + i, 600 + k);
    }
    n = ts_enqueue_lines(&env, lines, &ops);
    CHECK_EQ_INT(n, TOTAL);
    if (n != TOTAL)
        goto out;
    /* Started while paused: it must stay paused. */
    CHECK_EQ_INT(ts_consumer_start(&env, &fake, NULL, cargs, &cons[1]), 0);

    /* Nothing may be taken while paused. */
    t0 = ts_now_ms();
    end = t0 + QUIET_MS;
    while (ts_now_ms() < end) {
        long moved = ts_sql_long(&env, "SELECT count(*) FROM queued_list_operations"
                                       " WHERE status <> 'pending'");
        CHECK_EQ_INT(moved, 0);
        if (moved != 0)
            break;
        ts_sleep_ms(200);
    }
    reqs = ts_fake_requests(&fake);
    CHECK_EQ_INT(json_array_size(reqs), 0);
    json_decref(reqs);
    reqs = NULL;
    CHECK_EQ_INT(ts_queue_depth(&env, "work", TOTAL, 10000), TOTAL);
    CHECK(wait_log(&cons[0], "the queue is paused", 5000));
    CHECK(wait_log(&cons[1], "the queue is paused", 5000));
    CHECK(ts_proc_running(&cons[0]));
    CHECK(ts_proc_running(&cons[1]));
    st = run_json(&env, 0, "status");
    CHECK_EQ_INT(ts_json_bool(st, "paused"), 1);
    printf("pause: %d operations stayed pending for %d ms with 2 consumers running\n",
           TOTAL, QUIET_MS);

    res = run_json(&env, 0, "resume");
    CHECK_EQ_INT(ts_json_bool(res, "paused"), 0);
    CHECK_EQ_INT(ts_json_bool(res, "changed"), 1);
    t0 = ts_now_ms();
    CHECK_EQ_INT(ts_wait_final_while(&env, cons, 2, 90000), 0);
    CHECK_EQ_INT(ts_count_status(&env, "completed"), TOTAL);
    printf("resume: %d operations completed in %lld ms\n", TOTAL, ts_now_ms() - t0);
    CHECK(wait_log(&cons[0], "resumed", 5000));
    CHECK(wait_log(&cons[1], "resumed", 5000));
    reqs = ts_fake_requests(&fake);
    CHECK_EQ_INT(ts_fake_compare_writes(reqs, ops, &missing, &extra), 0);
    CHECK_EQ_INT(missing, 0);
    CHECK_EQ_INT(extra, 0);

    CHECK_EQ_INT(ts_proc_stop(&cons[0], 15000), 0);
    CHECK_EQ_INT(ts_proc_stop(&cons[1], 15000), 0);
out:
    ts_procs_end(&env, cons, 2, check_failures != 0, 20, 4000);
    free(lines);
    json_decref(ops);
    json_decref(reqs);
    json_decref(p1);
    json_decref(p2);
    json_decref(res);
    json_decref(st);
    ts_teardown(&env);
    return check_exit();
}
