/*
 * test_reaper_relay: operations committed while the broker was down are published by the
 * reaper and completed by a consumer.
 *
 * 10 add_movie operations on 10 lists, 4 on one more list (add 900, add 901, remove 900,
 * add 900) and a create_list are enqueued with TMDBQ_AMQP_URL pointing at a closed port:
 * the enqueue succeeds and nothing is published. A reaper (sweep every second) publishes
 * the 13 that can run now: the operations no earlier one of their list conflicts with
 * (order only where it matters: the add of 901 does not wait for the add of 900) and the
 * create_list. The removal and the second add of 900, which wait for the earlier
 * operation of that movie, stay unpublished (a message would only be dropped as
 * blocked): the list's hand-ons publish them. Then a consumer applies all 15, movie 900
 * in enqueue order, and the work queue has seen no duplicate.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "support.h"

#define NSINGLE 10
#define FIRST_LIST 7101
#define SHARED_LIST 7200
#define NSHARED 4
#define NSHARED_BLOCKED 2
#define NOPS (NSINGLE + NSHARED + 1)
#define RELAYABLE (NOPS - NSHARED_BLOCKED)

/* The shared list's operations, in enqueue order: the last NSHARED_BLOCKED conflict with
 * an earlier one (the same movie). */
static const struct {
    const char *type;
    int movie;
} shared_ops[NSHARED] = {
    {"add_movie", 900}, {"add_movie", 901}, {"remove_movie", 900}, {"add_movie", 900}};

/* The write keys of movie 900 on the shared list that reqs holds, in order, joined by
 * "; " into out. */
static void writes_of_900(const json_t *reqs, char *out, size_t n)
{
    char key[160];
    size_t i, len = 0;
    json_t *rec;

    out[0] = '\0';
    json_array_foreach(reqs, i, rec)
    {
        ts_fake_request_key(rec, key, sizeof key);
        if (strstr(key, "/3/list/7200/") == NULL || strstr(key, " 900") == NULL)
            continue;
        if (len >= n)
            break;
        len += (size_t)snprintf(out + len, n - len, "%s%s", len > 0 ? "; " : "", key);
    }
}

int main(void)
{
    static const long none[] = {0};
    struct ts_proc reaper, cons;
    struct ts_env env;
    struct ts_fake fake;
    char dead[128], *err = NULL, *lines = NULL;
    const char *offline[2] = {dead, NULL};
    json_t *ops = NULL;
    long n, items[NSHARED + 4];
    long long t0;
    int rc, i;

    memset(&reaper, 0, sizeof reaper);
    memset(&cons, 0, sizeof cons);
    reaper.pid = cons.pid = -1;
    rc = ts_setup(&env, "reaper_relay");
    if (rc != 0) {
        ts_teardown(&env);
        return rc;
    }
    ts_set_policy(&env, 5, 100, 2000);
    if (ts_fake_start(&env, &fake, NULL, NULL) != 0 ||
        ts_dead_amqp_env(dead, sizeof dead)) {
        CHECK(!"fake TMDB started and a dead broker URL made");
        goto out;
    }
    CHECK_EQ_INT(ts_user(&env, &fake, 1, "sess-relay-1", NULL), 0);
    for (i = 0; i < NSINGLE; i++)
        CHECK_EQ_INT(ts_fake_list(&fake, FIRST_LIST + i, 1, none, 0), 0);
    CHECK_EQ_INT(ts_fake_list(&fake, SHARED_LIST, 1, none, 0), 0);

    for (i = 0; i < NSINGLE; i++)
        ts_appendf(&lines,
                   "{\"type\":\"add_movie\",\"user\":1,\"list\":%d,\"movie\":%d}\n",
                   FIRST_LIST + i, 500 + i);
    for (i = 0; i < NSHARED; i++)
        ts_appendf(&lines, "{\"type\":\"%s\",\"user\":1,\"list\":%d,\"movie\":%d}\n",
                   shared_ops[i].type, SHARED_LIST, shared_ops[i].movie);
    ts_appendf(&lines, "{\"type\":\"create_list\",\"user\":1,\"name\":\"Offline\"}\n");
    n = ts_enqueue_lines_env(&env, offline, lines, &ops);
    CHECK_EQ_INT(n, NOPS);
    if (n != NOPS)
        goto out;
    CHECK_EQ_INT(ts_count_published(&env, "pending"), 0);
    CHECK_EQ_INT(ts_queue_depth(&env, "work", 0, 0), 0);

    /* The reaper publishes what can run now, a few seconds after the enqueue (it leaves
     * rows changed in the last 5 s to whoever changed them). */
    t0 = ts_now_ms();
    CHECK_EQ_INT(ts_reaper_start(&env, NULL, NULL, &reaper), 0);
    for (n = 0; ts_now_ms() - t0 < 20000; ts_sleep_ms(100)) {
        n = ts_count_published(&env, "pending");
        if (n >= RELAYABLE)
            break;
    }
    printf("relay: %ld of %d published by the reaper after %lld ms\n", n, NOPS,
           ts_now_ms() - t0);
    CHECK_EQ_INT(n, RELAYABLE);
    CHECK_EQ_INT(ts_queue_depth(&env, "work", RELAYABLE, 5000), RELAYABLE);
    /* Two more sweeps: nothing is published twice, the blocked ones stay unpublished. */
    n = ts_reaper_sweeps(&reaper);
    CHECK(ts_reaper_wait_sweeps(&reaper, n + 2, 10000) >= n + 2);
    CHECK_EQ_INT(ts_queue_depth(&env, "work", RELAYABLE, 1000), RELAYABLE);
    CHECK_EQ_INT(ts_sql_long(&env, "SELECT count(*) FROM queued_list_operations WHERE "
                                   "tmdb_list_id = 7200 AND published_at IS NULL"),
                 NSHARED_BLOCKED);
    CHECK_EQ_INT(ts_sql_long(&env, "SELECT count(*) FROM queued_list_operations WHERE "
                                   "tmdb_list_id = 7200 AND published_at IS NULL AND "
                                   "operation_data->>'movie_id' = '900'"),
                 NSHARED_BLOCKED);

    /* A consumer does the rest; the shared list's hand-ons publish its waiting ones. */
    CHECK_EQ_INT(ts_consumer_start(&env, &fake, NULL, NULL, &cons), 0);
    CHECK_EQ_INT(ts_wait_final_while(&env, &cons, 1, 30000), 0);
    CHECK_EQ_INT(ts_count_status(&env, "completed"), NOPS);
    /* 901 and 900 are on the list (in either order: the add of 901 may come anywhere),
     * and the writes of 900 came in enqueue order, each once. */
    CHECK_EQ_INT(ts_fake_list_items(&fake, SHARED_LIST, items, NSHARED + 4), 2);
    CHECK((items[0] == 900 && items[1] == 901) || (items[0] == 901 && items[1] == 900));
    {
        json_t *reqs = ts_fake_requests(&fake);
        char got[600];

        writes_of_900(reqs, got, sizeof got);
        CHECK_STR_EQ(got, "POST /3/list/7200/add_item 900; "
                          "POST /3/list/7200/remove_item 900; "
                          "POST /3/list/7200/add_item 900");
        json_decref(reqs);
    }
    CHECK_EQ_INT(ts_queue_depth(&env, "work", 0, 5000), 0);

    err = ts_proc_stderr(&reaper);
    CHECK_CONTAINS(err, "leading: this reaper");
    CHECK_CONTAINS(err, " sweep: relayed=");
    CHECK_EQ_INT(ts_proc_stop(&cons, 15000), 0);
    CHECK_EQ_INT(ts_proc_stop(&reaper, 10000), 0);
    /* It left the registry's lead on its way out; its record stays. */
    CHECK_EQ_INT(ts_sql_long(&env, "SELECT count(*) FROM tmdbq_reapers WHERE is_leader"),
                 0);
    CHECK_EQ_INT(ts_sql_long(&env,
                             "SELECT count(*) FROM tmdbq_reapers WHERE "
                             "last_sweep_at IS NOT NULL AND last_sweep ? 'relayed'"),
                 1);
out:
    if (check_failures) {
        ts_dump_rows(&env, 40);
        ts_proc_dump(&reaper, 6000);
        ts_proc_dump(&cons, 4000);
    }
    ts_proc_stop(&cons, 5000);
    ts_proc_stop(&reaper, 5000);
    free(err);
    free(lines);
    json_decref(ops);
    ts_teardown(&env);
    return check_exit();
}
