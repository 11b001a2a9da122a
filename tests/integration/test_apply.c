/*
 * test_apply: `tmdbq apply` against real PostgreSQL and RabbitMQ and the fake TMDB.
 *
 * Direct success (create_list gives the new list id; add_movie changes the fake's list;
 * the row is completed with TMDB's result and nothing is published); TMDB answering 503,
 * refusing connections or slower than TMDBQ_APPLY_TIMEOUT: queued (row pending, retry
 * budget untouched, published) within about the timeout; permanent errors (list not
 * found, no session): a failed row, exit 5, nothing queued; no application credential:
 * exit 2, nothing written; per-list order, only where it matters: behind an earlier
 * pending operation it conflicts with (the add of the same movie, a list-wide update)
 * apply queues and makes no TMDB request, while another movie of a list with pending
 * operations goes to TMDB directly; a pending identical operation is returned as a
 * duplicate. At the end a consumer drains the queued operations and the lists hold what
 * they should, in per-list order.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "support.h"

/* The environment of every apply: the fake, its key, a 1 s direct-attempt timeout. */
static char api_url_env[96], api_key_env[96];
static const char *apply_env[] = {api_url_env, api_key_env, "TMDB_ACCESS_TOKEN",
                                  "TMDBQ_APPLY_TIMEOUT=1s", NULL};

/* Run `tmdbq apply --json` with args (NULL-terminated, after "apply"); returns the
 * parsed stdout (NULL when it is not one JSON object) and the exit status in *status. */
static json_t *apply(struct ts_env *env, const char *const *extra, int *status,
                     long long *elapsed_ms, const char *const *args)
{
    const char *argv[24] = {"apply", "--json"};
    struct ts_result r;
    json_t *j = NULL;
    long long t0;
    size_t n = 2;

    for (size_t i = 0; args[i] != NULL && n < 23; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    t0 = ts_now_ms();
    ts_runv(env, extra ? extra : apply_env, NULL, &r, argv);
    if (elapsed_ms != NULL)
        *elapsed_ms = ts_now_ms() - t0;
    *status = r.status;
    if (r.out[0] != '\0')
        j = ts_json_parse(r.out);
    if ((j == NULL && r.status == 0) || r.status > 5)
        ts_result_dump("tmdbq apply", &r);
    ts_result_free(&r);
    return j;
}

static const char *op_id(const json_t *j)
{
    return ts_json_str(json_object_get(j, "operation"), "id");
}

/* A column of the row with this id, malloc'd (NULL for SQL NULL). */
static char *column(struct ts_env *env, const char *id, const char *col)
{
    char sql[256];

    snprintf(sql, sizeof sql,
             "SELECT (%s)::text FROM queued_list_operations WHERE id = '%s'", col,
             id ? id : "00000000-0000-0000-0000-000000000000");
    return ts_sql_value(env, sql);
}

static void check_column(struct ts_env *env, const char *id, const char *col,
                         const char *want)
{
    char *v = column(env, id, col);

    CHECK_STR_EQ(v, want);
    free(v);
}

static long writes_to(const struct ts_fake *f, const char *path)
{
    json_t *reqs = ts_fake_requests(f);
    long n = reqs ? ts_fake_count(reqs, "POST", path) : -1;

    json_decref(reqs);
    return n;
}

/* The index in reqs of the first request with this write key (ts_fake_request_key), -1
 * when there is none. */
static long first_write(const json_t *reqs, const char *key)
{
    char k[160];
    size_t i;
    json_t *rec;

    json_array_foreach(reqs, i, rec)
    {
        ts_fake_request_key(rec, k, sizeof k);
        if (strcmp(k, key) == 0)
            return (long)i;
    }
    return -1;
}

/* A queued answer after a failed direct attempt: row pending, no retry spent, published.
 */
static void check_queued(struct ts_env *env, const json_t *j, const char *reason)
{
    const char *id = op_id(j);

    CHECK_STR_EQ(ts_json_str(j, "outcome"), "queued");
    CHECK_STR_EQ(ts_json_str(j, "reason"), reason);
    CHECK_EQ_INT(ts_json_bool(json_object_get(j, "operation"), "published"), 1);
    check_column(env, id, "status", "pending");
    check_column(env, id, "retry_count", "0");
    check_column(env, id, "published_at IS NOT NULL", "true");
}

int main(void)
{
    static const long none[] = {0};
    struct ts_env env;
    struct ts_fake fake;
    struct ts_proc cons;
    json_t *j = NULL;
    char *ids[8] = {NULL};
    long items[8];
    long long ms;
    long depth = 0, writes = -1;
    int status, rc;

    ts_procs_init(&cons, 1);
    rc = ts_setup_with_fake(&env, &fake, "apply", 5, 100, 2000);
    if (rc != 0)
        return rc;
    snprintf(api_url_env, sizeof api_url_env, "TMDB_API_URL=%s", fake.url);
    snprintf(api_key_env, sizeof api_key_env, "TMDB_API_KEY=%s", fake.api_key);
    CHECK_EQ_INT(ts_user(&env, &fake, 1, "sess-apply-1", "tok-apply-1"), 0);
    for (long l = 9001; l <= 9004; l++)
        CHECK_EQ_INT(ts_fake_list(&fake, l, 1, none, 0), 0);

    /* applied: create_list answers with the new list's id, which the fake now has */
    j = apply(&env, NULL, &status, NULL,
              (const char *[]){"create_list", "--user", "1", "--name", "Apply A", NULL});
    CHECK_EQ_INT(status, 0);
    CHECK_STR_EQ(ts_json_str(j, "outcome"), "applied");
    {
        long long list_id = ts_json_int(json_object_get(j, "result"), "list_id", -1);
        char want[64];

        printf("apply: create_list applied, list_id %lld\n", list_id);
        CHECK(list_id > 0);
        CHECK_EQ_INT(ts_fake_list_items(&fake, list_id, items, 8), 0);
        snprintf(want, sizeof want, "%lld", list_id);
        ids[0] = column(&env, op_id(j), "result->>'list_id'");
        CHECK_STR_EQ(ids[0], want);
        check_column(&env, op_id(j), "status", "completed");
        check_column(&env, op_id(j), "claimed_by LIKE 'apply:%'", "true");
        check_column(&env, op_id(j), "published_at IS NULL", "true");
    }
    json_decref(j);

    /* applied: add_movie changes the fake's list; the row is completed with the result */
    j = apply(&env, NULL, &status, NULL,
              (const char *[]){"add_movie", "--user", "1", "--list", "9001", "--movie",
                               "550", NULL});
    CHECK_EQ_INT(status, 0);
    CHECK_STR_EQ(ts_json_str(j, "outcome"), "applied");
    CHECK(json_is_object(json_object_get(j, "result")));
    CHECK_EQ_INT(ts_fake_list_items(&fake, 9001, items, 8), 1);
    CHECK_EQ_INT(items[0], 550);
    check_column(&env, op_id(j), "status", "completed");
    check_column(&env, op_id(j), "result IS NOT NULL", "true");
    json_decref(j);
    CHECK_EQ_INT(ts_queue_depth(&env, "work", 0, 2000), 0);

    /* TMDB 503: queued, published, retry budget untouched */
    CHECK_EQ_INT(ts_fake_faults(&fake, "{\"fail_first\":1,\"fail_status\":503}"), 0);
    j = apply(&env, NULL, &status, NULL,
              (const char *[]){"add_movie", "--user", "1", "--list", "9002", "--movie",
                               "551", NULL});
    CHECK_EQ_INT(status, 0);
    check_queued(&env, j, "tmdb_unavailable");
    CHECK_CONTAINS(ts_json_str(j, "error"), "503");
    ids[1] = strdup(op_id(j) ? op_id(j) : "");
    json_decref(j);
    CHECK_EQ_INT(writes_to(&fake, "/3/list/9002/add_item"), 1);
    CHECK_EQ_INT(ts_queue_depth(&env, "work", ++depth, 5000), depth);

    /* TMDB refusing connections: queued */
    CHECK_EQ_INT(ts_fake_faults(&fake, "{}"), 0);
    CHECK_EQ_INT(ts_fake_faults(&fake, "{\"refuse\":true}"), 0);
    j = apply(&env, NULL, &status, NULL,
              (const char *[]){"remove_movie", "--user", "1", "--list", "9002", "--movie",
                               "551", NULL});
    CHECK_EQ_INT(status, 0);
    /* 9002 has the 503'd add of 551 pending: its removal must wait behind it, untried
     * (even a refused connection is recorded by the fake) */
    CHECK_STR_EQ(ts_json_str(j, "outcome"), "queued");
    CHECK_STR_EQ(ts_json_str(j, "reason"), "list_busy");
    check_column(&env, op_id(j), "status", "pending");
    ids[5] = strdup(op_id(j) ? op_id(j) : "");
    json_decref(j);
    CHECK_EQ_INT(writes_to(&fake, "/3/list/9002/remove_item"), 0);
    CHECK_EQ_INT(ts_queue_depth(&env, "work", ++depth, 5000), depth);
    j = apply(&env, NULL, &status, NULL,
              (const char *[]){"add_movie", "--user", "1", "--list", "9004", "--movie",
                               "553", NULL});
    CHECK_EQ_INT(status, 0);
    check_queued(&env, j, "tmdb_unavailable");
    ids[2] = strdup(op_id(j) ? op_id(j) : "");
    json_decref(j);
    CHECK_EQ_INT(ts_queue_depth(&env, "work", ++depth, 5000), depth);
    CHECK_EQ_INT(ts_fake_faults(&fake, "{}"), 0);

    /* order only where it matters: 9002 has the add and the removal of 551 pending, but
     * neither concerns 552, so its add goes to TMDB directly (the old rule queued it) */
    j = apply(&env, NULL, &status, NULL,
              (const char *[]){"add_movie", "--user", "1", "--list", "9002", "--movie",
                               "552", NULL});
    CHECK_EQ_INT(status, 0);
    CHECK_STR_EQ(ts_json_str(j, "outcome"), "applied");
    check_column(&env, op_id(j), "status", "completed");
    json_decref(j);
    CHECK_EQ_INT(writes_to(&fake, "/3/list/9002/add_item"), 2);
    CHECK_EQ_INT(ts_fake_list_items(&fake, 9002, items, 8), 1);
    CHECK_EQ_INT(items[0], 552);
    CHECK_EQ_INT(ts_queue_depth(&env, "work", depth, 1000), depth);

    /* latency above the apply timeout (1 s): queued within about the timeout */
    CHECK_EQ_INT(ts_fake_faults(&fake, "{\"latency_ms\":4000}"), 0);
    j = apply(&env, NULL, &status, &ms,
              (const char *[]){"add_movie", "--user", "1", "--list", "9003", "--movie",
                               "554", NULL});
    printf("apply: with 4 s of TMDB latency and a 1 s timeout, answered in %lld ms\n",
           ms);
    CHECK_EQ_INT(status, 0);
    check_queued(&env, j, "tmdb_unavailable");
    CHECK(ms >= 900 && ms < 3000);
    ids[3] = strdup(op_id(j) ? op_id(j) : "");
    json_decref(j);
    CHECK_EQ_INT(ts_fake_faults(&fake, "{}"), 0);
    CHECK_EQ_INT(ts_queue_depth(&env, "work", ++depth, 5000), depth);
    writes = writes_to(&fake, "/3/list/9003/add_item");
    CHECK(writes <= 1);

    /* order: an earlier pending list-wide operation (a barrier: every later operation of
     * the list waits for it); apply queues behind it, no call */
    {
        json_t *ops = NULL;

        CHECK_EQ_INT(ts_enqueue_lines(&env,
                                      "{\"type\":\"update_list\",\"user\":1,"
                                      "\"list\":9003,\"name\":\"Apply renamed\"}\n",
                                      &ops),
                     1);
        ids[6] = strdup(ts_json_str(json_array_get(ops, 0), "id")
                            ? ts_json_str(json_array_get(ops, 0), "id")
                            : "");
        json_decref(ops);
    }
    CHECK_EQ_INT(ts_queue_depth(&env, "work", ++depth, 5000), depth);
    j = apply(&env, NULL, &status, NULL,
              (const char *[]){"add_movie", "--user", "1", "--list", "9003", "--movie",
                               "556", NULL});
    CHECK_EQ_INT(status, 0);
    CHECK_STR_EQ(ts_json_str(j, "outcome"), "queued");
    CHECK_STR_EQ(ts_json_str(j, "reason"), "list_busy");
    CHECK_EQ_INT(ts_json_bool(json_object_get(j, "operation"), "duplicate"), 0);
    check_column(&env, op_id(j), "status", "pending");
    ids[4] = strdup(op_id(j) ? op_id(j) : "");
    json_decref(j);
    CHECK_EQ_INT(ts_queue_depth(&env, "work", ++depth, 5000), depth);
    /* no write to 9003 since the timed-out direct attempt of 554 */
    CHECK_EQ_INT(writes_to(&fake, "/3/list/9003/add_item"), writes);

    /* dedup: the same request again is the pending one; nothing inserted or published */
    j = apply(&env, NULL, &status, NULL,
              (const char *[]){"add_movie", "--user", "1", "--list", "9003", "--movie",
                               "556", NULL});
    CHECK_EQ_INT(status, 0);
    CHECK_STR_EQ(ts_json_str(j, "reason"), "duplicate");
    CHECK_EQ_INT(ts_json_bool(json_object_get(j, "operation"), "duplicate"), 1);
    CHECK_STR_EQ(op_id(j), ids[4]);
    json_decref(j);
    CHECK_EQ_INT(ts_sql_long(&env,
                             "SELECT count(*) FROM queued_list_operations WHERE "
                             "tmdb_list_id = 9003 AND operation_data->>'movie_id' = "
                             "'556'"),
                 1);
    CHECK_EQ_INT(writes_to(&fake, "/3/list/9003/add_item"), writes);

    /* permanent: list not found -> failed row, exit 5, nothing queued */
    j = apply(&env, NULL, &status, NULL,
              (const char *[]){"add_movie", "--user", "1", "--list", "8999", "--movie",
                               "557", NULL});
    CHECK_EQ_INT(status, 5);
    CHECK_STR_EQ(ts_json_str(j, "outcome"), "failed");
    CHECK_CONTAINS(ts_json_str(j, "error"), "not found");
    CHECK_EQ_INT(ts_json_int(j, "tmdb_status_code", -1), 34);
    CHECK_EQ_INT(ts_json_int(j, "http_status", -1), 404);
    check_column(&env, op_id(j), "status", "failed");
    check_column(&env, op_id(j), "error_kind", "permanent");
    json_decref(j);

    /* permanent: no session for user 7 -> failed without any TMDB request */
    j = apply(&env, NULL, &status, NULL,
              (const char *[]){"add_movie", "--user", "7", "--list", "9001", "--movie",
                               "558", NULL});
    CHECK_EQ_INT(status, 5);
    CHECK_STR_EQ(ts_json_str(j, "outcome"), "failed");
    CHECK_CONTAINS(ts_json_str(j, "error"), "session");
    CHECK(ts_json_is_null(j, "http_status"));
    check_column(&env, op_id(j), "status", "failed");
    json_decref(j);
    CHECK_EQ_INT(writes_to(&fake, "/3/list/9001/add_item"), 1);
    CHECK_EQ_INT(ts_queue_depth(&env, "work", depth, 1000), depth);

    /* no application credential: exit 2, nothing written */
    {
        static const char *no_key[] = {"TMDB_API_KEY", "TMDB_ACCESS_TOKEN", NULL};
        long before = ts_sql_long(&env, "SELECT count(*) FROM queued_list_operations");

        j = apply(&env, no_key, &status, NULL,
                  (const char *[]){"add_movie", "--user", "1", "--list", "9001",
                                   "--movie", "559", NULL});
        CHECK_EQ_INT(status, 2);
        CHECK(j == NULL);
        CHECK_EQ_INT(ts_sql_long(&env, "SELECT count(*) FROM queued_list_operations"),
                     before);
    }

    /* invalid input: exit 2, nothing written */
    j = apply(&env, NULL, &status, NULL,
              (const char *[]){"add_movie", "--user", "1", "--list", "9001", NULL});
    CHECK_EQ_INT(status, 2);
    CHECK(j == NULL);

    /* a consumer drains what was queued: each completes, in per-list order */
    CHECK_EQ_INT(ts_consumer_start(&env, &fake, NULL, NULL, &cons), 0);
    CHECK_EQ_INT(ts_wait_final(&env, 60000), 0);
    for (int i = 1; i <= 6; i++)
        check_column(&env, ids[i], "status", "completed");
    /* 551 added, then removed: the removal came after the add it waited for */
    CHECK_EQ_INT(ts_fake_list_items(&fake, 9002, items, 8), 1);
    CHECK_EQ_INT(items[0], 552);
    CHECK_EQ_INT(writes_to(&fake, "/3/list/9002/remove_item"), 1);
    CHECK_EQ_INT(ts_fake_list_items(&fake, 9003, items, 8), 2);
    CHECK_EQ_INT(items[0], 554);
    CHECK_EQ_INT(items[1], 556);
    /* the update waited for the add of 554 and the add of 556 for the update */
    {
        json_t *reqs = ts_fake_requests(&fake);
        long add554 = first_write(reqs, "POST /3/list/9003/add_item 554");
        long update = first_write(reqs, "PUT /4/list/9003");
        long add556 = first_write(reqs, "POST /3/list/9003/add_item 556");
        char *body = NULL;
        json_t *list = NULL;

        printf("apply: 9003 writes at %ld (554), %ld (update), %ld (556)\n", add554,
               update, add556);
        CHECK(add554 >= 0 && add554 < update && update < add556);
        json_decref(reqs);
        CHECK_EQ_INT(ts_fake_call(&fake, "GET", "/__control/lists/9003", NULL, &body),
                     200);
        list = body ? ts_json_parse(body) : NULL;
        CHECK_STR_EQ(ts_json_str(list, "name"), "Apply renamed");
        json_decref(list);
        free(body);
    }
    CHECK_EQ_INT(ts_fake_list_items(&fake, 9004, items, 8), 1);
    CHECK_EQ_INT(ts_count_status(&env, "failed"), 2);
    CHECK_EQ_INT(ts_proc_stop(&cons, 15000), 0);
    j = NULL;
    ts_procs_end(&env, &cons, 1, check_failures != 0, 20, 4000);
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        free(ids[i]);
    json_decref(j);
    ts_teardown(&env);
    return check_exit();
}
