/*
 * test_cluster_rabbitmq: a three-node RabbitMQ cluster loses a node, then another, and no
 * operation is lost.
 *
 * Three private nodes (their own names, ports and data) are joined into one cluster, and
 * every program is given the three URLs. 2,000 adds over 20 lists are drained by three
 * consumers at 50 requests a second while the fake TMDB answers after 10 ms and fails 5%
 * of the calls with a 503, so that retries wait in the delayed-retry queues while nodes
 * go away:
 *
 * - once a fifth is done, the node most consumers are on is stopped: they reconnect to
 *   the others and go on, and the registry (tmdbq status) shows them moved;
 * - once half is done, that node is started again (it rejoins with its data), and then
 *   the node that leads the work queue is stopped: the queue's other two members elect a
 *   new leader (quorum queues tolerate one loss of three).
 *
 * Every operation ends completed and every list holds its movies. TMDB writes applied
 * twice are counted and printed: a node's loss can only repeat a write whose outcome a
 * consumer recorded but could not acknowledge, and the claim refuses those, so the bound
 * asserted (the workers of the consumers, per stop) is far above what is seen.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "support.h"

#define NNODES 3
#define NLISTS 20
#define PER_LIST 100
#define NOPS (NLISTS * PER_LIST)
#define NCONSUMERS 3
#define CONCURRENCY 4
#define FIRST_LIST 9301

/* The node (index) whose port the most live consumers report, -1 when none does. */
static int busiest_node(struct ts_env *env, const struct ts_rabbit *nodes)
{
    int best = -1;
    long most = 0;

    for (int i = 0; i < NNODES; i++) {
        char sql[256];
        long n;

        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM tmdbq_consumers WHERE amqp_node = '127.0.0.1:%d'",
                 nodes[i].port);
        n = ts_sql_long(env, sql);
        if (n > most) {
            most = n;
            best = i;
        }
    }
    return best;
}

/* The node (index) that leads queue name, asked of node ask; -1 when unknown. */
static int leader_of(const struct ts_rabbit *nodes, int ask, const char *name)
{
    static const char *const args[] = {"list_queues", "-q", "name", "leader", NULL};
    char out[8192], *line, *save = NULL;

    if (ts_rabbit_ctl(&nodes[ask], args, out, sizeof out) != 0)
        return -1;
    for (line = strtok_r(out, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        size_t n = strlen(name);

        if (strncmp(line, name, n) != 0 || (line[n] != '\t' && line[n] != ' '))
            continue;
        for (int i = 0; i < NNODES; i++) {
            if (strstr(line + n, nodes[i].node) != NULL)
                return i;
        }
    }
    return -1;
}

/* Wait until no live consumer reports node i (they have moved), at most within_ms. */
static bool moved_off(struct ts_env *env, const struct ts_rabbit *node, long within_ms)
{
    char sql[256];
    long long deadline = ts_now_ms() + within_ms;

    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM tmdbq_consumers WHERE amqp_node = '127.0.0.1:%d'"
             " OR amqp_node IS NULL",
             node->port);
    while (ts_now_ms() < deadline) {
        if (ts_sql_long(env, sql) == 0)
            return true;
        ts_sleep_ms(250);
    }
    return false;
}

int main(void)
{
    static const char *const cargs[] = {"--concurrency", "4", "--prefetch", "4", NULL};
    /* TMDB's pace (a little above its real ceiling): the drain lasts long enough for
     * both losses to fall inside it. */
    static const char *const cenv[] = {"TMDBQ_TMDB_RATE=50", NULL};
    static const char *const qtypes[] = {"list_queues", "-q",        "name",
                                         "type",        "arguments", NULL};
    struct ts_adds adds = {"cluster", FIRST_LIST, NLISTS, PER_LIST, 30000, NULL};
    struct ts_proc cons[NCONSUMERS];
    struct ts_rabbit nodes[NNODES];
    struct ts_env env;
    struct ts_fake fake;
    char urls[1024], work[160], retry[160], types[8192];
    long extra = -1;
    int rc, first = -1, leader = -1, k;
    size_t i;

    memset(nodes, 0, sizeof nodes);
    memset(&env, 0, sizeof env);
    ts_procs_init(cons, NCONSUMERS);
    rc = ts_rabbit_cluster_start(nodes, NNODES, urls, sizeof urls);
    if (rc != 0)
        goto out_nodes;
    /* Everything this test runs is given the three nodes. */
    setenv("TMDBQ_AMQP_URL", urls, 1);
    rc = ts_setup(&env, "cluster_rabbitmq");
    if (rc != 0)
        goto out;
    ts_set_policy(&env, 10, 100, 1000);
    snprintf(work, sizeof work, "%s.work", env.prefix);
    snprintf(retry, sizeof retry, "%s.retry.100ms", env.prefix);

    if (ts_fake_start(&env, &fake, NULL, NULL) != 0) {
        CHECK(!"fake TMDB started");
        goto out;
    }
    if (ts_adds_load(&env, &fake, &adds,
                     "{\"latency_ms\":10,\"fail_rate\":0.05,\"fail_status\":503,"
                     "\"seed\":7}") != 0) {
        CHECK(!"workload loaded");
        goto out;
    }

    CHECK_EQ_INT(ts_consumers_start(&env, &fake, cenv, cargs, cons, NCONSUMERS), 0);
    CHECK(ts_wait_completed(&env, NOPS / 5, 60000) >= NOPS / 5);
    /* The topology is quorum queues, the delayed-retry ones too (declared by the
     * consumers, which were given the test's policy). */
    CHECK_EQ_INT(ts_rabbit_ctl(&nodes[1], qtypes, types, sizeof types), 0);
    CHECK(strstr(types, retry) != NULL);
    /* The work queue's delivery limit is explicit (RabbitMQ 4 would default to 20). */
    CHECK(strstr(types, "x-delivery-limit") != NULL);
    CHECK(strstr(types, "at-least-once") != NULL);
    for (char *save = NULL, *line = strtok_r(types, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, env.prefix, strlen(env.prefix)) == 0 &&
            strstr(line, "quorum") == NULL) {
            fprintf(stderr, "not a quorum queue: %s\n", line);
            CHECK(!"every queue of the prefix is a quorum queue");
        }
    }

    /* Every worker has reported its node by now (a heartbeat every 5 s). */
    ts_sleep_ms(5500);
    first = busiest_node(&env, nodes);
    CHECK(first >= 0);
    if (first < 0)
        goto out;
    printf(
        "cluster: stopping %s, which most consumers are on, with %ld of %d completed\n",
        nodes[first].node, ts_count_status(&env, "completed"), NOPS);
    CHECK_EQ_INT(ts_rabbit_stop(&nodes[first]), 0);
    CHECK(moved_off(&env, &nodes[first], 20000));
    CHECK(ts_wait_completed(&env, NOPS / 2, 90000) >= NOPS / 2);
    printf("cluster: %ld completed with %s down; starting it again\n",
           ts_count_status(&env, "completed"), nodes[first].node);
    CHECK_EQ_INT(ts_rabbit_start(&nodes[first]), 0);

    leader = leader_of(nodes, (first + 1) % NNODES, work);
    CHECK(leader >= 0);
    if (leader < 0)
        goto out;
    printf("cluster: stopping %s, the leader of %s, with %ld completed\n",
           nodes[leader].node, work, ts_count_status(&env, "completed"));
    CHECK_EQ_INT(ts_rabbit_stop(&nodes[leader]), 0);
    k = leader_of(nodes, (leader + 1) % NNODES, work);
    printf("cluster: the new leader of %s is %s\n", work, k >= 0 ? nodes[k].node : "?");
    CHECK(k >= 0 && k != leader);

    CHECK_EQ_INT(ts_wait_final_while(&env, cons, NCONSUMERS, 120000), 0);
    CHECK_EQ_INT(ts_adds_check(&env, &fake, &adds, true, &extra), 0);
    CHECK(extra <= 2 * NCONSUMERS * CONCURRENCY);
    CHECK_EQ_INT(ts_procs_stop(cons, NCONSUMERS, 15000), 0);
out:
    ts_procs_end(&env, cons, NCONSUMERS, check_failures != 0, 40, 5000);
    ts_adds_free(&adds);
    ts_teardown(&env);
out_nodes:
    for (i = 0; i < NNODES; i++)
        ts_rabbit_destroy(&nodes[i]);
    return rc != 0 ? rc : check_exit();
}
