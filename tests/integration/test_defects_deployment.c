/*
 * test_defects_deployment: issue 15, defect 9. A deployment fault used to write an ERROR
 * line on every attempt (4 waiting operations, 222 lines in 25 s), and the streak that
 * lengthens their wait was reset by any other operation's success, so the wait never
 * grew. Now a process writes one ERROR line per fault per minute, and the wait of the
 * operations that meet the fault grows until it is fixed.
 *
 * Two scenarios, each against the fake TMDB with a policy of 200 ms doubling to 3.2 s:
 *   key:     the fake's invalid_api_key fault (every request 401/7), four add_movie
 *            operations, four workers;
 *   partial: only add_item is refused (401/7, as a proxy rule on one path would), one
 *            add_movie waits while a stream of remove_movie operations (one enqueued
 *            every 150 ms) succeeds on one worker between its attempts.
 * For about 7 s the test samples every waiting row's delay (scheduled_for - updated_at,
 * which tmdbq_finish sets together) each time it is recorded, then checks that each
 * operation's delays never shrink and end at least four times the first, and that the
 * consumer wrote exactly one ERROR line. Then the fault is lifted and every operation
 * completes, the consumer saying the fault is over.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "support.h"

#define MAX_OPS 8
#define MAX_SAMPLES 64
#define WATCH_MS 7000

struct trace {
    char id[40];
    char updated[40];             /* updated_at of the last sample */
    long long delay[MAX_SAMPLES]; /* each recorded retry's delay, in order */
    int n;
};

static struct trace *trace_of(struct trace *t, int *nt, const char *id)
{
    for (int i = 0; i < *nt; i++) {
        if (strcmp(t[i].id, id) == 0)
            return &t[i];
    }
    if (*nt == MAX_OPS)
        return NULL;
    memset(&t[*nt], 0, sizeof t[*nt]);
    snprintf(t[*nt].id, sizeof t[*nt].id, "%s", id);
    return &t[(*nt)++];
}

/* Called between samples, to add work while watching; may be NULL. */
typedef void (*feed_fn)(struct ts_env *env, long long now_ms);

/* Sample the waiting rows every 20 ms for within_ms: a new updated_at is a new retry. */
static int watch(struct ts_env *env, const char *type, struct trace *t, long within_ms,
                 feed_fn feed)
{
    long long end = ts_now_ms() + within_ms;
    char sql[512];
    int nt = 0;

    snprintf(sql, sizeof sql,
             "SELECT string_agg(id || ' ' || updated_at::text || ' ' || "
             "(extract(epoch FROM scheduled_for - updated_at) * 1000)::bigint, ';') "
             "FROM queued_list_operations WHERE status = 'pending' AND error_kind = "
             "'deployment' AND operation_type = '%s'",
             type);
    while (ts_now_ms() < end) {
        char *rows = ts_sql_value(env, sql), *save = NULL;

        for (char *row = rows ? strtok_r(rows, ";", &save) : NULL; row != NULL;
             row = strtok_r(NULL, ";", &save)) {
            char id[40], day[16], tod[32];
            long long delay;
            struct trace *tr;

            /* updated_at::text is "2026-12-03 11:40:57.681+00". */
            if (sscanf(row, "%39s %15s %31s %lld", id, day, tod, &delay) != 4)
                continue;
            tr = trace_of(t, &nt, id);
            if (tr == NULL || strcmp(tr->updated, tod) == 0 || tr->n == MAX_SAMPLES)
                continue;
            snprintf(tr->updated, sizeof tr->updated, "%s", tod);
            tr->delay[tr->n++] = delay;
        }
        free(rows);
        if (feed != NULL)
            feed(env, ts_now_ms());
        ts_sleep_ms(20);
    }
    return nt;
}

static void check_growth(const char *scenario, const struct trace *t, int nt,
                         int want_ops)
{
    CHECK_EQ_INT(nt, want_ops);
    for (int i = 0; i < nt; i++) {
        bool shrank = false;

        printf("%s: %s delays:", scenario, t[i].id);
        for (int k = 0; k < t[i].n; k++) {
            printf(" %lld", t[i].delay[k]);
            shrank = shrank || (k > 0 && t[i].delay[k] < t[i].delay[k - 1]);
        }
        printf(" ms\n");
        if (t[i].n < 3 || shrank || t[i].delay[t[i].n - 1] < 4 * t[i].delay[0]) {
            fprintf(stderr, "%s: %s: the delays do not grow (%d samples)\n", scenario,
                    t[i].id, t[i].n);
            check_failures++;
        }
    }
}

static long count_lines(const char *text, const char *what)
{
    long n = 0;

    for (const char *p = strstr(text, what); p != NULL; p = strstr(p + 1, what))
        n++;
    return n;
}

/* Stop the consumer and check its ERROR lines: one, about the fault. */
static void check_one_error(const char *scenario, struct ts_proc *c)
{
    char *err = ts_proc_stderr(c);
    long errors = count_lines(err, " ERROR ");

    printf("%s: %ld ERROR line(s), %ld attempt(s) logged\n", scenario, errors,
           count_lines(err, "kind=deployment"));
    CHECK_EQ_INT(errors, 1);
    CHECK_CONTAINS(err, " ERROR tmdbq-consumer: deployment fault (operations wait, "
                        "spending no retry, until it is fixed; logged once a minute "
                        "while it lasts): TMDB rejected the application's API key "
                        "(status_code 7)");
    if (errors != 1)
        ts_proc_dump(c, 3000);
    free(err);
}

/* Lift the fault: every operation completes, and the consumer says the fault is over. */
static void check_recovery(struct ts_env *env, const struct ts_fake *f, struct ts_proc *c,
                           long ops)
{
    char *err;

    CHECK_EQ_INT(ts_fake_faults(f, "{}"), 0);
    CHECK_EQ_INT(ts_wait_final(env, 15000), 0);
    CHECK_EQ_INT(ts_count_status(env, "completed"), ops);
    CHECK_EQ_INT(ts_sql_long(env, "SELECT count(*) FROM queued_list_operations WHERE "
                                  "retry_count <> 0"),
                 0);
    err = ts_proc_stderr(c);
    CHECK_CONTAINS(err, "deployment fault over: every kind of request that met it "
                        "succeeds again");
    free(err);
    CHECK_EQ_INT(ts_proc_stop(c, 10000), 0);
}

static int scenario_key(void)
{
    struct ts_env env;
    struct ts_fake fake;
    struct ts_proc c;
    struct trace t[MAX_OPS];
    char *lines = NULL;
    int rc, nt;

    rc = ts_setup(&env, "defects_deploy_key");
    if (rc != 0)
        goto out;
    ts_set_policy(&env, 5, 200, 3200);
    if (ts_fake_start(&env, &fake, NULL, NULL) != 0 ||
        ts_user(&env, &fake, 1, "s1", NULL))
        goto fail;
    for (long l = 101; l <= 104; l++) {
        CHECK_EQ_INT(ts_fake_list(&fake, l, 1, NULL, 0), 0);
        ts_appendf(&lines,
                   "{\"type\":\"add_movie\",\"user\":1,\"list\":%ld,"
                   "\"data\":{\"movie_id\":550}}\n",
                   l);
    }
    CHECK_EQ_INT(ts_fake_faults(&fake, "{\"invalid_api_key\":true}"), 0);
    CHECK_EQ_INT(ts_enqueue_lines(&env, lines, NULL), 4);
    CHECK_EQ_INT(ts_consumer_start(&env, &fake, NULL, NULL, &c), 0);

    nt = watch(&env, "add_movie", t, WATCH_MS, NULL);
    check_growth("key", t, nt, 4);
    CHECK_EQ_INT(ts_count_status(&env, "completed"), 0);
    check_one_error("key", &c);
    check_recovery(&env, &fake, &c, 4);
    goto out;
fail:
    rc = 1;
out:
    free(lines);
    ts_teardown(&env);
    return rc;
}

/* One remove_movie of a movie not on list 202 every 150 ms: each completes (status_code
 * 21, goal holds) soon after, so the queue stays short and successes fall between the
 * waiting add's attempts. */
static long fed;

static void feed_removes(struct ts_env *env, long long now_ms)
{
    static long long next;
    char line[160];

    if (now_ms < next)
        return;
    next = now_ms + 150;
    snprintf(line, sizeof line,
             "{\"type\":\"remove_movie\",\"user\":1,\"list\":202,"
             "\"data\":{\"movie_id\":%ld}}\n",
             ++fed);
    CHECK_EQ_INT(ts_enqueue_lines(env, line, NULL), 1);
}

static int scenario_partial(void)
{
    struct ts_env env;
    struct ts_fake fake;
    struct ts_proc c;
    struct trace t[MAX_OPS];
    const char *one[] = {"--concurrency", "1", NULL};
    char *lines = NULL;
    int rc, nt;

    rc = ts_setup(&env, "defects_deploy_partial");
    if (rc != 0)
        goto out;
    ts_set_policy(&env, 5, 200, 3200);
    if (ts_fake_start(&env, &fake, NULL, NULL) != 0 ||
        ts_user(&env, &fake, 1, "s1", NULL))
        goto fail;
    CHECK_EQ_INT(ts_fake_list(&fake, 201, 1, NULL, 0), 0);
    CHECK_EQ_INT(ts_fake_list(&fake, 202, 1, NULL, 0), 0);
    ts_appendf(&lines, "{\"type\":\"add_movie\",\"user\":1,\"list\":201,"
                       "\"data\":{\"movie_id\":550}}\n");
    CHECK_EQ_INT(ts_fake_faults(&fake, "{\"fail_first\":1000000,\"fail_status\":401,"
                                       "\"fail_code\":7,\"path_contains\":\"add_item\","
                                       "\"latency_ms\":80}"),
                 0);
    CHECK_EQ_INT(ts_enqueue_lines(&env, lines, NULL), 1);
    CHECK_EQ_INT(ts_consumer_start(&env, &fake, NULL, one, &c), 0);

    nt = watch(&env, "add_movie", t, WATCH_MS, feed_removes);
    check_growth("partial", t, nt, 1);
    /* The stream of successes went on meanwhile. */
    printf("partial: %ld remove_movie enqueued, %ld completed while the add waited\n",
           fed, ts_count_status(&env, "completed"));
    CHECK(ts_count_status(&env, "completed") >= 20);
    check_one_error("partial", &c);
    check_recovery(&env, &fake, &c, fed + 1);
    goto out;
fail:
    rc = 1;
out:
    free(lines);
    ts_teardown(&env);
    return rc;
}

int main(void)
{
    int rc = scenario_key();

    if (rc == 0)
        rc = scenario_partial();
    if (rc != 0)
        return rc;
    return check_exit();
}
