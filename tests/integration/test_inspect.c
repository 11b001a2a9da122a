/*
 * test_inspect: the read side of `tmdbq` (stats, pending, failed) and `session`.
 *
 * A known mix of operations is made with enqueue and then moved to every status with SQL,
 * the way consumers would leave them, so the counts and orders are known exactly. The
 * session commands must store the user's TMDB secrets without ever printing them, and the
 * operations session set revives are published even on a library handle that saw the
 * broker fail in an earlier call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "support.h"
#include "tmdbq.h"

enum { OP_A, OP_B, OP_C, OP_D, OP_E, OP_F, OP_G, OP_H, NOPS };

/* user, list, movie of each operation, in enqueue order. */
static const int ops[NOPS][3] = {
    {1, 1, 1}, {1, 1, 2}, {1, 2, 3}, {1, 3, 4},
    {1, 4, 5}, {2, 5, 6}, {2, 6, 7}, {2, 7, 8},
};

static char ids[NOPS][40];

static int enqueue_all(struct ts_env *env)
{
    char u[16], l[16], m[16];
    struct ts_result r;
    json_t *op;
    int i, failed = 0;

    for (i = 0; i < NOPS; i++) {
        snprintf(u, sizeof u, "%d", ops[i][0]);
        snprintf(l, sizeof l, "%d", ops[i][1]);
        snprintf(m, sizeof m, "%d", ops[i][2]);
        ts_run(env, NULL, NULL, &r, "enqueue", "add_movie", "--user", u, "--list", l,
               "--movie", m, "--json", (const char *)NULL);
        CHECK_EQ_INT(r.status, 0);
        op = ts_json_parse(r.out);
        snprintf(ids[i], sizeof ids[i], "%s",
                 ts_json_str(op, "id") ? ts_json_str(op, "id") : "");
        if (ids[i][0] == '\0') {
            ts_result_dump("enqueue", &r);
            failed = 1;
        }
        json_decref(op);
        ts_result_free(&r);
    }
    return failed ? -1 : 0;
}

static int set_status(struct ts_env *env, int op, const char *status, const char *extra)
{
    char sql[512];

    snprintf(sql, sizeof sql,
             "UPDATE queued_list_operations SET status = '%s'%s WHERE id = '%s'", status,
             extra, ids[op]);
    return ts_sql_exec(env, sql);
}

/* The ids of a JSON array of operations, in order, compared with want (n of them). */
static void check_ids(const json_t *arr, const int *want, size_t n)
{
    size_t i;

    CHECK(json_is_array(arr));
    CHECK_EQ_INT(json_array_size(arr), n);
    for (i = 0; i < n && i < json_array_size(arr); i++)
        CHECK_STR_EQ(ts_json_str(json_array_get(arr, i), "id"), ids[want[i]]);
}

static void check_stats(struct ts_env *env)
{
    struct ts_result r;
    json_t *s;

    CHECK_EQ_INT(ts_run(env, NULL, NULL, &r, "stats", "--json", (const char *)NULL), 0);
    s = ts_json_parse(r.out);
    CHECK_EQ_INT(ts_json_int(s, "pending", -1), 3);
    CHECK_EQ_INT(ts_json_int(s, "processing", -1), 1);
    CHECK_EQ_INT(ts_json_int(s, "completed", -1), 1);
    CHECK_EQ_INT(ts_json_int(s, "failed", -1), 2);
    CHECK_EQ_INT(ts_json_int(s, "cancelled", -1), 1);
    CHECK_EQ_INT(ts_json_int(s, "total", -1), NOPS);
    json_decref(s);
    ts_result_free(&r);

    /* Without --json: readable text, still exit 0. */
    CHECK_EQ_INT(ts_run(env, NULL, NULL, &r, "stats", (const char *)NULL), 0);
    CHECK_CONTAINS(r.out, "pending");
    CHECK_CONTAINS(r.out, "failed");
    ts_result_free(&r);
}

static void check_pending(struct ts_env *env)
{
    static const int user1[] = {OP_A, OP_B, OP_E}; /* B is processing */
    static const int user2[] = {OP_H};
    struct ts_result r;
    json_t *arr;
    size_t i;

    CHECK_EQ_INT(ts_run(env, NULL, NULL, &r, "pending", "--user", "1", "--json",
                        (const char *)NULL),
                 0);
    arr = ts_json_parse(r.out);
    check_ids(arr, user1, 3);
    for (i = 0; i < json_array_size(arr); i++)
        CHECK_EQ_INT(ts_json_int(json_array_get(arr, i), "tmdb_user_id", -1), 1);
    CHECK_STR_EQ(ts_json_str(json_array_get(arr, 1), "status"), "processing");
    json_decref(arr);
    ts_result_free(&r);

    CHECK_EQ_INT(ts_run(env, NULL, NULL, &r, "pending", "--user", "2", "--json",
                        (const char *)NULL),
                 0);
    arr = ts_json_parse(r.out);
    check_ids(arr, user2, 1);
    json_decref(arr);
    ts_result_free(&r);

    /* A user with nothing queued gets an empty array, not an error. */
    CHECK_EQ_INT(ts_run(env, NULL, NULL, &r, "pending", "--user", "99", "--json",
                        (const char *)NULL),
                 0);
    arr = ts_json_parse(r.out);
    CHECK(json_is_array(arr) && json_array_size(arr) == 0);
    json_decref(arr);
    ts_result_free(&r);
}

static void check_failed(struct ts_env *env)
{
    static const int newest_first[] = {OP_F, OP_D};
    struct ts_result r;
    json_t *arr;

    CHECK_EQ_INT(ts_run(env, NULL, NULL, &r, "failed", "--json", (const char *)NULL), 0);
    arr = ts_json_parse(r.out);
    check_ids(arr, newest_first, 2);
    CHECK_STR_EQ(ts_json_str(json_array_get(arr, 0), "error_message"), "boom f");
    CHECK_STR_EQ(ts_json_str(json_array_get(arr, 1), "error_message"), "boom d");
    CHECK_STR_EQ(ts_json_str(json_array_get(arr, 0), "status"), "failed");
    json_decref(arr);
    ts_result_free(&r);

    CHECK_EQ_INT(ts_run(env, NULL, NULL, &r, "failed", "--limit", "1", "--json",
                        (const char *)NULL),
                 0);
    arr = ts_json_parse(r.out);
    check_ids(arr, newest_first, 1);
    json_decref(arr);
    ts_result_free(&r);

    CHECK_EQ_INT(ts_run(env, NULL, NULL, &r, "failed", "--limit", "0", "--json",
                        (const char *)NULL),
                 2);
    CHECK_CONTAINS(r.err, "limit");
    ts_result_free(&r);
    CHECK_EQ_INT(ts_run(env, NULL, NULL, &r, "failed", "--limit", "10001", "--json",
                        (const char *)NULL),
                 2);
    ts_result_free(&r);
}

static int has_secret(const struct ts_result *r)
{
    static const char *const secrets[] = {"abc123secret", "tok456secret", "newsess789",
                                          "newtok789"};
    size_t i;

    for (i = 0; i < sizeof secrets / sizeof secrets[0]; i++) {
        if (strstr(r->out, secrets[i]) != NULL || strstr(r->err, secrets[i]) != NULL)
            return 1;
    }
    return 0;
}

static void check_session(struct ts_env *env)
{
    struct ts_result r;
    json_t *out;
    char *v;

    CHECK_EQ_INT(ts_run(env, NULL, NULL, &r, "session", "set", "--user", "1",
                        "--session-id", "abc123secret", "--access-token", "tok456secret",
                        "--json", (const char *)NULL),
                 0);
    CHECK(!has_secret(&r));
    out = ts_json_parse(r.out);
    CHECK_EQ_INT(ts_json_int(out, "tmdb_user_id", -1), 1);
    CHECK_STR_EQ(ts_json_str(out, "session_id"), "set");
    CHECK_STR_EQ(ts_json_str(out, "access_token"), "set");
    json_decref(out);
    ts_result_free(&r);
    v = ts_sql_value(env, "SELECT session_id || ' ' || access_token FROM "
                          "tmdb_user_credentials WHERE tmdb_user_id = 1");
    CHECK_STR_EQ(v, "abc123secret tok456secret");
    free(v);

    /* Setting again replaces; the text output must not echo the secrets either. */
    CHECK_EQ_INT(ts_run(env, NULL, NULL, &r, "session", "set", "--user", "1",
                        "--session-id", "newsess789", "--access-token", "newtok789",
                        (const char *)NULL),
                 0);
    CHECK(!has_secret(&r));
    ts_result_free(&r);
    v = ts_sql_value(env, "SELECT session_id || ' ' || access_token FROM "
                          "tmdb_user_credentials WHERE tmdb_user_id = 1");
    CHECK_STR_EQ(v, "newsess789 newtok789");
    free(v);
    CHECK_EQ_INT(ts_sql_long(env, "SELECT count(*) FROM tmdb_user_credentials"), 1);

    CHECK_EQ_INT(ts_run(env, NULL, NULL, &r, "session", "rm", "--user", "1", "--json",
                        (const char *)NULL),
                 0);
    out = ts_json_parse(r.out);
    CHECK_EQ_INT(ts_json_int(out, "tmdb_user_id", -1), 1);
    CHECK_EQ_INT(ts_json_bool(out, "removed"), 1);
    json_decref(out);
    ts_result_free(&r);
    CHECK_EQ_INT(ts_sql_long(env, "SELECT count(*) FROM tmdb_user_credentials"), 0);

    CHECK_EQ_INT(ts_run(env, NULL, NULL, &r, "session", "rm", "--user", "1", "--json",
                        (const char *)NULL),
                 3);
    ts_result_free(&r);
}

/* session set revives the user's credential failures (and only those, only the user's)
 * and publishes them. */
static void check_session_revives(struct ts_env *env)
{
    struct ts_result r;
    json_t *out;
    char sql[256];
    long before;

    CHECK_EQ_INT(ts_run(env, NULL, NULL, &r, "enqueue", "add_movie", "--user", "77",
                        "--list", "9001", "--movie", "11", (const char *)NULL),
                 0);
    ts_result_free(&r);
    CHECK_EQ_INT(ts_run(env, NULL, NULL, &r, "enqueue", "add_movie", "--user", "77",
                        "--list", "9001", "--movie", "12", (const char *)NULL),
                 0);
    ts_result_free(&r);
    CHECK_EQ_INT(ts_run(env, NULL, NULL, &r, "enqueue", "add_movie", "--user", "78",
                        "--list", "9002", "--movie", "11", (const char *)NULL),
                 0);
    ts_result_free(&r);
    /* movie 11 of each user failed on credentials, movie 12 failed for another reason. */
    CHECK_EQ_INT(ts_sql_exec(env,
                             "UPDATE queued_list_operations SET status = 'failed', "
                             "retry_count = 3, error_kind = CASE WHEN "
                             "operation_data->>'movie_id' = '11' THEN 'credentials' "
                             "ELSE 'permanent' END, error_message = 'session rejected' "
                             "WHERE tmdb_user_id IN (77, 78)"),
                 0);
    before = ts_queue_depth(env, "work", -1, 0);

    CHECK_EQ_INT(ts_run(env, NULL, NULL, &r, "session", "set", "--user", "77",
                        "--session-id", "fresh-session-77", "--json", (const char *)NULL),
                 0);
    CHECK(!has_secret(&r));
    CHECK(strstr(r.out, "fresh-session-77") == NULL &&
          strstr(r.err, "fresh-session-77") == NULL);
    out = ts_json_parse(r.out);
    CHECK_EQ_INT(ts_json_int(out, "retried", -1), 1);
    json_decref(out);
    ts_result_free(&r);

    snprintf(
        sql, sizeof sql,
        "SELECT status || ' ' || retry_count || ' ' || (published_at IS NOT NULL) || ' ' "
        "|| coalesce(error_message, '-') FROM queued_list_operations WHERE tmdb_user_id "
        "= %d AND operation_data->>'movie_id' = '%d'",
        77, 11);
    {
        char *v = ts_sql_value(env, sql);
        CHECK_STR_EQ(v, "pending 0 true -");
        free(v);
    }
    CHECK_EQ_INT(ts_sql_long(env, "SELECT count(*) FROM queued_list_operations WHERE "
                                  "status = 'failed' AND tmdb_user_id IN (77, 78)"),
                 2);
    if (before >= 0)
        CHECK_EQ_INT(ts_queue_depth(env, "work", before + 1, 5000), before + 1);
}

/* One library handle: an enqueue while the broker cannot be reached, then, with the
 * broker back, session set. The state of the failed call must not leak into the next one:
 * the operation session set revives is published at once. The handle borrows its AMQP
 * URL, so the test points it at a closed port and back by rewriting that buffer. */
static void check_session_after_broker_failure(struct ts_env *env)
{
    static const char closed_port[] = "amqp://guest:guest@127.0.0.1:1/";
    struct tmdbq_request req = tmdbq_request_init();
    struct tmdbq *h = NULL;
    struct tmdbq_op *op = NULL;
    char amqp[sizeof env->amqp_url], sql[256];
    size_t retried = 0;
    long before;

    before = ts_queue_depth(env, "work", -1, 0);
    CHECK_EQ_INT(setenv("TMDBQ_AMQP_PREFIX", env->prefix, 1), 0);
    snprintf(amqp, sizeof amqp, "%s", closed_port);
    CHECK_EQ_INT(tmdbq_open(env->db_url, amqp, &h), TMDBQ_OK);
    if (h == NULL)
        return;

    req.type = "add_movie";
    req.user = 79;
    req.has_user = true;
    req.list = 9003;
    req.has_list = true;
    req.movie = 11;
    req.has_movie = true;
    CHECK_EQ_INT(tmdbq_enqueue(h, &req, &op), TMDBQ_OK);
    CHECK(op != NULL && !tmdbq_op_published(op));
    if (op == NULL)
        goto out;
    snprintf(
        sql, sizeof sql,
        "UPDATE queued_list_operations SET status = 'failed', retry_count = 3, "
        "error_kind = 'credentials', error_message = 'session rejected' WHERE id = '%s'",
        tmdbq_op_id(op));
    CHECK_EQ_INT(ts_sql_exec(env, sql), 0);

    snprintf(amqp, sizeof amqp, "%s", env->amqp_url);
    CHECK_EQ_INT(tmdbq_session_set(h, 79, "fresh-session-79", NULL, &retried), TMDBQ_OK);
    CHECK_EQ_INT(retried, 1);
    snprintf(
        sql, sizeof sql,
        "SELECT status || ' ' || retry_count || ' ' || (published_at IS NOT NULL) FROM "
        "queued_list_operations WHERE id = '%s'",
        tmdbq_op_id(op));
    {
        char *v = ts_sql_value(env, sql);
        CHECK_STR_EQ(v, "pending 0 true");
        free(v);
    }
    if (before >= 0)
        CHECK_EQ_INT(ts_queue_depth(env, "work", before + 1, 5000), before + 1);
out:
    tmdbq_op_free(op);
    tmdbq_close(h);
}

int main(void)
{
    struct ts_env env;
    int rc;

    rc = ts_setup(&env, "inspect");
    if (rc != 0)
        goto out;
    if (enqueue_all(&env) != 0) {
        rc = 1;
        goto out;
    }
    /* D failed two hours ago, F one hour ago: F is the newer failure. */
    CHECK_EQ_INT(set_status(&env, OP_B, "processing",
                            ", lease_expires_at = now() + interval '2 minutes'"),
                 0);
    CHECK_EQ_INT(set_status(&env, OP_C, "completed", ""), 0);
    CHECK_EQ_INT(
        set_status(&env, OP_D, "failed",
                   ", error_message = 'boom d', updated_at = now() - interval '2 "
                   "hours'"),
        0);
    CHECK_EQ_INT(
        set_status(&env, OP_F, "failed",
                   ", error_message = 'boom f', updated_at = now() - interval '1 "
                   "hour'"),
        0);
    CHECK_EQ_INT(set_status(&env, OP_G, "cancelled", ""), 0);

    check_stats(&env);
    check_pending(&env);
    check_failed(&env);
    check_session(&env);
    check_session_revives(&env);
    check_session_after_broker_failure(&env);
    rc = check_exit();
out:
    ts_teardown(&env);
    return rc;
}
