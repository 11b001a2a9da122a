/*
 * test_control_status: `tmdbq status`, in JSON and text.
 *
 * Set up: two consumers (3 workers) that complete one operation, schedule another's retry
 * 5 minutes ahead (one message in retry.5m) and dead-letter two garbage messages (two in
 * dead); a stale consumer row and two reapers (a leader with a recorded sweep and
 * cleanup, and a follower) inserted by SQL; then `tmdbq pause`, 5 more operations, and
 * this test taking 2 of their messages without acking them. status must show: paused;
 * the 3 live workers with their pids and the stale one apart; the leader with its last
 * sweep and cleanup; the counts; the work queue with 3 ready, 2 unacked and 1 consumer,
 * retry.5m with 1, dead with 2.
 * Then: the management API given by TMDBQ_AMQP_MANAGEMENT_URL, right (its address shown)
 * and with a wrong password (unacked unknown, exit 0, the password nowhere); the broker
 * unreachable (exit 1, the database part still printed, the password nowhere).
 */
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "check.h"
#include "mq.h"
#include "support.h"

static const char *const cargs2[] = {"--concurrency", "2", "--prefetch", "4", NULL};
static const char *const cargs1[] = {"--concurrency", "1", "--prefetch", "4", NULL};

#define BASE_MS (5LL * 60 * 1000)
#define CAP_MS (60LL * 60 * 1000)

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

static json_t *status_json(struct ts_env *env, const char *const *extra, int want,
                           struct ts_result *keep)
{
    struct ts_result r = {0};
    json_t *v = NULL;

    ts_run(env, extra, NULL, &r, "status", "--json", NULL);
    if (r.status != want)
        ts_result_dump("status --json", &r);
    else
        v = ts_json_parse(r.out);
    if (keep != NULL)
        *keep = r;
    else
        ts_result_free(&r);
    return v;
}

static const json_t *path(const json_t *v, const char *a, const char *b)
{
    const json_t *x = json_object_get(v, a);

    return b != NULL ? json_object_get(x, b) : x;
}

/* The sum of "processed" over the live consumers. */
static long long processed_sum(const json_t *st)
{
    const json_t *arr = json_object_get(st, "consumers"), *c;
    long long sum = 0;
    size_t i;

    json_array_foreach(arr, i, c) sum += ts_json_int(c, "processed", 0);
    return sum;
}

/* Poll status until the work queue shows 3 ready, 2 unacked, 1 consumer and the live
 * consumers have reported a processed operation (the broker samples its statistics
 * every few seconds, consumers report every 5). */
static json_t *wait_settled(struct ts_env *env, long within_ms)
{
    long long end = ts_now_ms() + within_ms;
    json_t *st = NULL;

    for (;;) {
        const json_t *work;

        json_decref(st);
        st = status_json(env, NULL, 0, NULL);
        work = path(path(st, "broker", NULL), "work", NULL);
        if (ts_json_int(work, "ready", -1) == 3 &&
            ts_json_int(work, "unacked", -1) == 2 &&
            ts_json_int(work, "consumers", -1) == 1 && processed_sum(st) >= 1)
            return st;
        if (ts_now_ms() >= end) {
            fprintf(stderr, "status did not settle within %ld ms\n", within_ms);
            return st;
        }
        ts_sleep_ms(500);
    }
}

/* TMDBQ_AMQP_URL as the nodes of a cluster (here the one node, twice, the first with
 * an unreachable port): status reaches the broker through the node that answers and the
 * management API of the first URL's host, so the counts are as with one URL. */
static void check_node_list(struct ts_env *env)
{
    const char *at = strrchr(env->amqp_url, '@');
    char list[600], e_url[640];
    const char *extra[] = {e_url, NULL};
    json_t *st;
    const json_t *work;

    /* env's URL is amqp://user:pass@host:port/vhost: the same with port 1 first. */
    snprintf(list, sizeof list, "amqp://guest:guest@127.0.0.1:1%s,%s",
             at != NULL ? strchr(at, '/') : "/%2f", env->amqp_url);
    snprintf(e_url, sizeof e_url, "TMDBQ_AMQP_URL=%s", list);
    st = status_json(env, extra, 0, NULL);
    work = path(path(st, "broker", NULL), "work", NULL);
    CHECK_EQ_INT(ts_json_bool(path(st, "broker", NULL), "reachable"), 1);
    CHECK_EQ_INT(ts_json_int(work, "ready", -1), 3);
    CHECK_EQ_INT(ts_json_int(work, "unacked", -1), 2);
    json_decref(st);
}

static void check_consumers(const json_t *st, const struct ts_proc *cons)
{
    const json_t *live = json_object_get(st, "consumers"),
                 *stale = json_object_get(st, "stale_consumers"), *c;
    int per_pid[2] = {0, 0};
    size_t i;

    CHECK_EQ_INT(json_array_size(live), 3);
    json_array_foreach(live, i, c)
    {
        long long pid = ts_json_int(c, "pid", -1);

        CHECK_EQ_INT(ts_json_bool(c, "live"), 1);
        CHECK(ts_json_str(c, "host") != NULL);
        CHECK(ts_json_str(c, "started_at") != NULL);
        CHECK(ts_json_str(c, "last_seen_at") != NULL);
        CHECK(ts_json_int(c, "in_flight", -1) >= 0);
        CHECK(ts_json_int(c, "failed", -1) >= 0);
        if (pid == cons[0].pid)
            per_pid[0]++;
        else if (pid == cons[1].pid)
            per_pid[1]++;
        else
            CHECK(!"a live consumer with an unknown pid");
    }
    CHECK_EQ_INT(per_pid[0], 2);
    CHECK_EQ_INT(per_pid[1], 1);
    CHECK_EQ_INT(json_array_size(stale), 1);
    c = json_array_get(stale, 0);
    CHECK_STR_EQ(ts_json_str(c, "consumer_id"), "ghost:1:0");
    CHECK_EQ_INT(ts_json_bool(c, "live"), 0);
    CHECK_EQ_INT(ts_json_int(c, "processed", -1), 7);
}

static void check_reaper(const json_t *st)
{
    const json_t *reaper = json_object_get(st, "reaper");
    const json_t *leader = json_object_get(reaper, "leader");
    const json_t *all = json_object_get(reaper, "reapers");
    const json_t *sweep = json_object_get(leader, "last_sweep");

    CHECK_STR_EQ(ts_json_str(leader, "reaper_id"), "reaper-a");
    CHECK_STR_EQ(ts_json_str(leader, "host"), "host-a");
    CHECK_EQ_INT(ts_json_int(leader, "pid", -1), 4242);
    CHECK_EQ_INT(ts_json_bool(leader, "leader"), 1);
    CHECK_EQ_INT(ts_json_bool(leader, "live"), 1);
    CHECK(ts_json_str(leader, "last_sweep_at") != NULL);
    CHECK(ts_json_str(leader, "last_cleanup_at") != NULL);
    CHECK_EQ_INT(ts_json_int(sweep, "relayed", -1), 3);
    CHECK_EQ_INT(ts_json_int(sweep, "rescued", -1), 1);
    CHECK_EQ_INT(json_array_size(all), 2);
    CHECK_STR_EQ(ts_json_str(json_array_get(all, 1), "reaper_id"), "reaper-b");
    CHECK_EQ_INT(ts_json_bool(json_array_get(all, 1), "leader"), 0);
    CHECK(ts_json_is_null(json_array_get(all, 1), "last_sweep"));
}

static void check_broker(const json_t *st, const char *prefix)
{
    const json_t *broker = json_object_get(st, "broker");
    const json_t *work = json_object_get(broker, "work");
    const json_t *dead = json_object_get(broker, "dead");
    const json_t *retry = json_object_get(broker, "retry");
    const json_t *mgmt = json_object_get(broker, "management");
    const json_t *r5 = json_array_get(retry, 0);
    char name[160];

    CHECK_EQ_INT(ts_json_bool(broker, "reachable"), 1);
    CHECK(ts_json_is_null(broker, "error"));
    snprintf(name, sizeof name, "%s.work", prefix);
    CHECK_STR_EQ(ts_json_str(work, "name"), name);
    CHECK_EQ_INT(ts_json_int(work, "ready", -1), 3);
    CHECK_EQ_INT(ts_json_int(work, "unacked", -1), 2);
    CHECK_EQ_INT(ts_json_int(work, "consumers", -1), 1);
    /* 5m, 10m, 20m, 40m, 1h */
    CHECK_EQ_INT(json_array_size(retry), 5);
    snprintf(name, sizeof name, "%s.retry.5m", prefix);
    CHECK_STR_EQ(ts_json_str(r5, "name"), name);
    CHECK_STR_EQ(ts_json_str(r5, "delay"), "5m");
    CHECK_EQ_INT(ts_json_int(r5, "delay_ms", -1), BASE_MS);
    CHECK_EQ_INT(ts_json_int(r5, "ready", -1), 1);
    CHECK_EQ_INT(ts_json_int(json_array_get(retry, 1), "ready", -1), 0);
    snprintf(name, sizeof name, "%s.dead", prefix);
    CHECK_STR_EQ(ts_json_str(dead, "name"), name);
    CHECK_EQ_INT(ts_json_int(dead, "ready", -1), 2);
    CHECK_EQ_INT(ts_json_bool(mgmt, "reachable"), 1);
    CHECK(ts_json_is_null(mgmt, "error"));
    CHECK(ts_json_str(mgmt, "url") != NULL);
}

static void check_text(struct ts_env *env, const struct ts_proc *cons)
{
    struct ts_result r = {0};
    char want[200];

    CHECK_EQ_INT(ts_run(env, NULL, NULL, &r, "status", NULL), 0);
    CHECK_CONTAINS(r.out, "queue:      PAUSED since ");
    CHECK_CONTAINS(r.out, "operations: 6 pending, 0 processing, 1 completed, 0 failed, "
                          "0 cancelled (7 in all)");
    CHECK_CONTAINS(r.out, "consumers:  3 live");
    snprintf(want, sizeof want, " %ld ", cons[0].pid);
    CHECK_CONTAINS(r.out, want);
    snprintf(want, sizeof want, " %ld ", cons[1].pid);
    CHECK_CONTAINS(r.out, want);
    CHECK_CONTAINS(r.out, "stale consumers (not seen for 15s; stopped or stuck): 1");
    CHECK_CONTAINS(r.out, "ghost:1:0");
    CHECK_CONTAINS(r.out, "reapers:    2 registered");
    CHECK_CONTAINS(r.out, "reaper-a [leader] on host-a (pid 4242)");
    CHECK_CONTAINS(r.out, "last sweep:   ");
    CHECK_CONTAINS(r.out, "\"relayed\": 3");
    CHECK_CONTAINS(r.out, "last cleanup: ");
    CHECK_CONTAINS(r.out, "reaper-b on host-b");
    snprintf(want, sizeof want, "%s.work ", env->prefix);
    CHECK_CONTAINS(r.out, want);
    snprintf(want, sizeof want, "%s.retry.5m ", env->prefix);
    CHECK_CONTAINS(r.out, want);
    snprintf(want, sizeof want, "%s.dead ", env->prefix);
    CHECK_CONTAINS(r.out, want);
    CHECK_CONTAINS(r.out, "unacked from the management API at http://");
    if (check_failures)
        fprintf(stderr, "---- status ----\n%s----\n", r.out);
    else
        printf("%s", r.out);
    ts_result_free(&r);
}

/* Other management endpoints and a broker that cannot be reached. */
static void check_degraded(struct ts_env *env)
{
    char mgmt_ok[128], mgmt_bad[128], amqp_bad[160];
    const char *ok_env[] = {mgmt_ok, NULL}, *bad_env[] = {mgmt_bad, NULL},
               *down_env[] = {amqp_bad, NULL};
    struct ts_result r = {0};
    const json_t *mgmt, *work;
    json_t *st;
    int port = ts_free_port();

    snprintf(mgmt_ok, sizeof mgmt_ok,
             "TMDBQ_AMQP_MANAGEMENT_URL=http://127.0.0.1:15672/");
    snprintf(mgmt_bad, sizeof mgmt_bad,
             "TMDBQ_AMQP_MANAGEMENT_URL=http://guest:wr0ng-pw@127.0.0.1:15672");
    snprintf(amqp_bad, sizeof amqp_bad,
             "TMDBQ_AMQP_URL=amqp://guest:s3cr3t-pw@127.0.0.1:%d/%%2f", port);

    st = status_json(env, ok_env, 0, NULL);
    mgmt = path(path(st, "broker", NULL), "management", NULL);
    CHECK_EQ_INT(ts_json_bool(mgmt, "reachable"), 1);
    CHECK_STR_EQ(ts_json_str(mgmt, "url"), "http://127.0.0.1:15672");
    json_decref(st);

    st = status_json(env, bad_env, 0, &r);
    mgmt = path(path(st, "broker", NULL), "management", NULL);
    work = path(path(st, "broker", NULL), "work", NULL);
    CHECK_EQ_INT(ts_json_bool(mgmt, "reachable"), 0);
    CHECK_CONTAINS(ts_json_str(mgmt, "error"), "refused user \"guest\"");
    CHECK(ts_json_is_null(work, "unacked"));
    CHECK_EQ_INT(ts_json_int(work, "ready", -1), 3);
    CHECK(strstr(r.out, "wr0ng-pw") == NULL);
    CHECK(strstr(r.err, "wr0ng-pw") == NULL);
    json_decref(st);
    ts_result_free(&r);

    st = status_json(env, down_env, 1, &r);
    CHECK(st != NULL);
    CHECK_EQ_INT(ts_json_bool(path(st, "broker", NULL), "reachable"), 0);
    CHECK_CONTAINS(ts_json_str(path(st, "broker", NULL), "error"), "127.0.0.1");
    CHECK(ts_json_is_null(path(path(st, "broker", NULL), "work", NULL), "ready"));
    CHECK_EQ_INT(ts_json_int(path(st, "stats", NULL), "total", -1), 7);
    CHECK_EQ_INT(json_array_size(json_object_get(st, "consumers")), 3);
    CHECK_EQ_INT(ts_json_bool(st, "paused"), 1);
    CHECK_CONTAINS(r.err, "the broker is unreachable");
    CHECK(strstr(r.out, "s3cr3t-pw") == NULL);
    CHECK(strstr(r.err, "s3cr3t-pw") == NULL);
    json_decref(st);
    ts_result_free(&r);

    CHECK_EQ_INT(ts_run(env, down_env, NULL, &r, "status", NULL), 1);
    CHECK_CONTAINS(r.out, "broker:     UNREACHABLE: ");
    CHECK_CONTAINS(r.out, "operations: 6 pending");
    CHECK(strstr(r.out, "s3cr3t-pw") == NULL);
    CHECK(strstr(r.err, "s3cr3t-pw") == NULL);
    ts_result_free(&r);
}

int main(void)
{
    static const long none[] = {0};
    static const char *const garbage[] = {"not an id", "neither-is-this"};
    struct backoff_policy policy = {5, BASE_MS, CAP_MS};
    struct ts_env env;
    struct ts_fake fake;
    struct ts_proc cons[2];
    struct mq *mq = NULL;
    struct mq_delivery d;
    struct ts_result r = {0};
    struct err e = {0};
    json_t *st = NULL, *ops = NULL;
    char *lines = NULL;
    int rc, i;

    ts_procs_init(cons, 2);
    rc = ts_setup_with_fake(&env, &fake, "control_status", 5, BASE_MS, CAP_MS);
    if (rc != 0)
        return rc;
    CHECK_EQ_INT(ts_user(&env, &fake, 1, "sess-status-1", NULL), 0);
    CHECK_EQ_INT(ts_fake_list(&fake, 8501, 1, none, 0), 0);
    CHECK_EQ_INT(ts_fake_list(&fake, 8502, 1, none, 0), 0);
    CHECK_EQ_INT(ts_consumer_start(&env, &fake, NULL, cargs2, &cons[0]), 0);
    CHECK_EQ_INT(ts_consumer_start(&env, &fake, NULL, cargs1, &cons[1]), 0);

    /* One completed, one waiting 5 minutes for its retry, two dead-lettered. */
    CHECK_EQ_INT(ts_fake_faults(&fake, "{\"fail_first\":1,\"fail_status\":503,"
                                       "\"path_contains\":\"/3/list/8502/\"}"),
                 0);
    CHECK_EQ_INT(ts_enqueue_lines(&env,
                                  "{\"type\":\"add_movie\",\"user\":1,\"list\":8501,"
                                  "\"movie\":550}\n"
                                  "{\"type\":\"add_movie\",\"user\":1,\"list\":8502,"
                                  "\"movie\":551}\n",
                                  NULL),
                 2);
    CHECK_EQ_INT(ts_publish_ids(&env, garbage, 2), 0);
    CHECK_EQ_INT(ts_wait_completed(&env, 1, 15000), 1);
    CHECK_EQ_INT(ts_queue_depth(&env, "retry.5m", 1, 15000), 1);
    CHECK_EQ_INT(ts_queue_depth(&env, "dead", 2, 15000), 2);

    /* The registry rows a reaper (and a consumer that died) would leave. */
    CHECK_EQ_INT(
        ts_sql_exec(
            &env, "INSERT INTO tmdbq_consumers (consumer_id, host, pid, started_at,"
                  " last_seen_at, processed, failed, in_flight) VALUES ('ghost:1:0',"
                  " 'ghost', 1, now() - interval '2 hours', now() - interval '1 minute',"
                  " 7, 2, 1)"),
        0);
    CHECK_EQ_INT(
        ts_sql_exec(
            &env, "INSERT INTO tmdbq_reapers (reaper_id, host, pid, started_at,"
                  " last_seen_at, is_leader, last_sweep_at, last_sweep, last_cleanup_at)"
                  " VALUES ('reaper-a', 'host-a', 4242, now() - interval '1 day', now(),"
                  " true, now() - interval '10 seconds',"
                  " '{\"relayed\":3,\"rescued\":1,\"deleted\":0,\"ms\":12}',"
                  " now() - interval '1 hour'),"
                  " ('reaper-b', 'host-b', 4343, now() - interval '1 day', now(), false,"
                  " NULL, NULL, NULL)"),
        0);

    /* Paused, 5 more operations: 3 wait in the queue, 2 are held by us unacked. */
    CHECK_EQ_INT(ts_run(&env, NULL, NULL, &r, "pause", NULL), 0);
    ts_result_free(&r);
    CHECK(wait_log(&cons[0], "the queue is paused", 10000));
    CHECK(wait_log(&cons[1], "the queue is paused", 10000));
    ts_sleep_ms(1500); /* every worker checks the switch at least once a second */
    for (i = 0; i < 5; i++)
        ts_appendf(&lines,
                   "{\"type\":\"create_list\",\"user\":1,\"name\":\"status %d\"}\n", i);
    CHECK_EQ_INT(ts_enqueue_lines(&env, lines, &ops), 5);
    CHECK_EQ_INT(ts_queue_depth(&env, "work", 5, 10000), 5);
    if (mq_open(env.amqp_url, env.prefix, &policy, 5000, &mq, &e) != ST_OK ||
        mq_consume_start(mq, 2, &e) != ST_OK) {
        fprintf(stderr, "could not consume: %s\n", e.msg);
        CHECK(!"consuming the work queue");
        goto out;
    }
    for (i = 0; i < 2; i++)
        CHECK_EQ_INT(mq_consume_next(mq, 5000, &d, &e), ST_OK);

    st = wait_settled(&env, 30000);
    CHECK(st != NULL);
    if (st == NULL)
        goto out;
    CHECK_EQ_INT(ts_json_bool(st, "paused"), 1);
    CHECK(ts_json_str(st, "since") != NULL);
    CHECK_EQ_INT(ts_json_int(path(st, "stats", NULL), "pending", -1), 6);
    CHECK_EQ_INT(ts_json_int(path(st, "stats", NULL), "completed", -1), 1);
    CHECK_EQ_INT(ts_json_int(path(st, "stats", NULL), "total", -1), 7);
    check_consumers(st, cons);
    check_reaper(st);
    check_broker(st, env.prefix);
    check_node_list(&env);
    check_text(&env, cons);
    check_degraded(&env);

    mq_close(mq);
    mq = NULL;
    CHECK_EQ_INT(ts_run(&env, NULL, NULL, &r, "resume", NULL), 0);
    ts_result_free(&r);
    CHECK_EQ_INT(ts_wait_completed(&env, 6, 20000), 6);
    CHECK_EQ_INT(ts_proc_stop(&cons[0], 15000), 0);
    CHECK_EQ_INT(ts_proc_stop(&cons[1], 15000), 0);
out:
    if (check_failures) {
        if (st != NULL) {
            char *dump = json_dumps(st, JSON_INDENT(1));
            fprintf(stderr, "---- last status ----\n%s\n----\n", dump ? dump : "");
            free(dump);
        }
        ts_dump_rows(&env, 20);
        ts_proc_dump(&cons[0], 3000);
        ts_proc_dump(&cons[1], 3000);
    }
    mq_close(mq);
    ts_proc_stop(&cons[0], 5000);
    ts_proc_stop(&cons[1], 5000);
    free(lines);
    json_decref(ops);
    json_decref(st);
    ts_teardown(&env);
    return check_exit();
}
