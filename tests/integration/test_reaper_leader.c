/*
 * test_reaper_leader: two reapers at once. One leads, the pair publishes no row twice,
 * and killing the leader hands the lead over within a sweep interval.
 *
 * 200 operations on 200 lists are enqueued while the broker is down. Two reapers start
 * together (sweep every second). Exactly one holds the leader's advisory lock and is
 * marked is_leader; the work queue ends with exactly 200 messages and still 200 after
 * three more sweeps. The leader is then SIGKILLed: the other takes the lock at its next
 * try (every second), clears the dead leader's flag, and relays 50 more operations
 * enqueued offline; the queue holds exactly 250.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "support.h"

#define FIRST 200
#define MORE 50
#define FIRST_LIST 8001
#define INTERVAL_MS 1000

/* How many sessions of the test database hold the leader's lock. */
static long lock_holders(const struct ts_env *env)
{
    return ts_sql_long(env, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                            " AND granted AND objsubid = 1"
                            " AND ((classid::bigint << 32) | objid::bigint)"
                            " = 7451283304722002 AND database = (SELECT oid FROM"
                            " pg_database WHERE datname = current_database())");
}

static long enqueue_offline(struct ts_env *env, const char *dead, int from, int n)
{
    const char *offline[2] = {dead, NULL};
    char *lines = NULL;
    long got;
    int i;

    for (i = 0; i < n; i++)
        ts_appendf(&lines,
                   "{\"type\":\"add_movie\",\"user\":1,\"list\":%d,\"movie\":%d}\n",
                   FIRST_LIST + from + i, 100 + from + i);
    got = ts_enqueue_lines_env(env, offline, lines, NULL);
    free(lines);
    return got;
}

int main(void)
{
    struct ts_proc r[2];
    struct ts_env env;
    char dead[128], sql[256], *leader_id = NULL;
    struct ts_proc *leader = NULL, *other = NULL;
    long n, sweeps;
    long long t0, t_kill, handover = -1;
    int rc, i;

    ts_procs_init(r, 2);
    rc = ts_setup(&env, "reaper_leader");
    if (rc != 0) {
        ts_teardown(&env);
        return rc;
    }
    if (ts_dead_amqp_env(dead, sizeof dead) != 0) {
        CHECK(!"a dead broker URL made");
        goto out;
    }
    CHECK_EQ_INT(enqueue_offline(&env, dead, 0, FIRST), FIRST);
    CHECK_EQ_INT(ts_queue_depth(&env, "work", 0, 0), 0);

    t0 = ts_now_ms();
    for (i = 0; i < 2; i++)
        CHECK_EQ_INT(ts_reaper_start(&env, NULL, NULL, &r[i]), 0);
    for (n = 0; ts_now_ms() - t0 < 20000; ts_sleep_ms(100)) {
        n = ts_count_published(&env, "pending");
        if (n >= FIRST)
            break;
    }
    CHECK_EQ_INT(n, FIRST);
    printf("leader: %ld published %lld ms after two reapers started\n", n,
           ts_now_ms() - t0);
    CHECK_EQ_INT(ts_queue_depth(&env, "work", FIRST, 5000), FIRST);
    CHECK_EQ_INT(lock_holders(&env), 1);
    CHECK_EQ_INT(ts_sql_long(&env, "SELECT count(*) FROM tmdbq_reapers"), 2);
    CHECK_EQ_INT(ts_sql_long(&env, "SELECT count(*) FROM tmdbq_reapers WHERE is_leader"),
                 1);
    leader_id = ts_sql_value(&env, "SELECT reaper_id FROM tmdbq_reapers WHERE is_leader");
    for (i = 0; i < 2 && leader_id != NULL; i++) {
        const char *colon = strrchr(leader_id, ':');

        if (colon != NULL && strtol(colon + 1, NULL, 10) == r[i].pid) {
            leader = &r[i];
            other = &r[1 - i];
        }
    }
    CHECK(leader != NULL);
    if (leader == NULL)
        goto out;
    printf("leader: %s leads (%s)\n", leader->label, leader_id);
    /* Only the leader sweeps. */
    CHECK(ts_reaper_sweeps(leader) >= 1);
    CHECK_EQ_INT(ts_reaper_sweeps(other), 0);

    /* Three more sweeps: still exactly one message per row. */
    sweeps = ts_reaper_sweeps(leader);
    CHECK(ts_reaper_wait_sweeps(leader, sweeps + 3, 10000) >= sweeps + 3);
    CHECK_EQ_INT(ts_queue_depth(&env, "work", FIRST, 1000), FIRST);
    CHECK_EQ_INT(ts_reaper_sweeps(other), 0);

    /* Kill the leader: the other takes over at its next try. */
    CHECK_EQ_INT(ts_proc_signal(leader, SIGKILL), 0);
    t_kill = ts_now_ms();
    CHECK_EQ_INT(ts_proc_wait(leader, 5000), 128 + SIGKILL);
    snprintf(
        sql, sizeof sql,
        "SELECT count(*) FROM tmdbq_reapers WHERE is_leader AND reaper_id LIKE '%%:%ld'",
        other->pid);
    while (ts_now_ms() - t_kill < 10000) {
        if (ts_sql_long(&env, sql) == 1) {
            handover = ts_now_ms() - t_kill;
            break;
        }
        ts_sleep_ms(20);
    }
    printf("leader: %s took over %lld ms after the leader was killed (interval %d ms)\n",
           other->label, handover, INTERVAL_MS);
    CHECK(handover >= 0);
    /* Within one interval of its tries, plus the time to notice and report. */
    CHECK(handover <= INTERVAL_MS + 1500);
    CHECK_EQ_INT(lock_holders(&env), 1);
    CHECK_EQ_INT(ts_sql_long(&env, "SELECT count(*) FROM tmdbq_reapers WHERE is_leader"),
                 1);

    CHECK_EQ_INT(enqueue_offline(&env, dead, FIRST, MORE), MORE);
    t0 = ts_now_ms();
    for (n = 0; ts_now_ms() - t0 < 20000; ts_sleep_ms(100)) {
        n = ts_count_published(&env, "pending");
        if (n >= FIRST + MORE)
            break;
    }
    CHECK_EQ_INT(n, FIRST + MORE);
    sweeps = ts_reaper_sweeps(other);
    CHECK(ts_reaper_wait_sweeps(other, sweeps + 2, 10000) >= sweeps + 2);
    CHECK_EQ_INT(ts_queue_depth(&env, "work", FIRST + MORE, 5000), FIRST + MORE);
    CHECK_EQ_INT(ts_proc_stop(other, 10000), 0);
    CHECK_EQ_INT(lock_holders(&env), 0);
out:
    ts_procs_end(&env, r, 2, check_failures != 0, 10, 5000);
    free(leader_id);
    ts_teardown(&env);
    return check_exit();
}
