/*
 * test_consumer_permanent: permanent failures end failed at once, without retries.
 *
 * A missing list (404/34), a user without a session (no request at all), another user's
 * list (401/38), a session TMDB rejects (401/3) and invalid operation data (a row put in
 * the table behind the producer's back, movie_id 0) each end failed with retry_count 0,
 * at most one TMDB request, and an error_message that names the problem.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "support.h"

struct expect {
    const char *what;
    const char *path;  /* the TMDB path the operation writes to */
    long movie;        /* its movie */
    long max_requests; /* how many requests it may cause */
    long min_requests;
    const char *message; /* what error_message must contain */
};

static long requests_for(const json_t *reqs, const char *path, long movie)
{
    const json_t *rec, *body;
    size_t i;
    long n = 0;

    json_array_foreach(reqs, i, rec)
    {
        body = json_object_get(rec, "body");
        if (ts_json_str(rec, "path") != NULL &&
            strcmp(ts_json_str(rec, "path"), path) == 0 &&
            ts_json_int(body, "media_id", -1) == movie)
            n++;
    }
    return n;
}

static void check_op(struct ts_env *env, const json_t *reqs, const char *id,
                     const struct expect *x)
{
    char sql[256], *status, *msg, *kind;
    long retries, n;

    snprintf(sql, sizeof sql, "SELECT status FROM queued_list_operations WHERE id = '%s'",
             id);
    status = ts_sql_value(env, sql);
    snprintf(sql, sizeof sql,
             "SELECT error_message FROM queued_list_operations WHERE id = '%s'", id);
    msg = ts_sql_value(env, sql);
    snprintf(sql, sizeof sql,
             "SELECT error_kind FROM queued_list_operations WHERE id = '%s'", id);
    kind = ts_sql_value(env, sql);
    snprintf(sql, sizeof sql,
             "SELECT retry_count FROM queued_list_operations WHERE id = '%s'", id);
    retries = ts_sql_long(env, sql);
    n = requests_for(reqs, x->path, x->movie);
    printf(
        "permanent: %s: status %s, %ld request(s), error_kind %s, error_message \"%s\"\n",
        x->what, status ? status : "(null)", n, kind ? kind : "(null)",
        msg ? msg : "(null)");
    CHECK_STR_EQ(status, "failed");
    CHECK_EQ_INT(retries, 0);
    CHECK(n >= x->min_requests && n <= x->max_requests);
    CHECK_CONTAINS(msg, x->message);
    CHECK(kind != NULL && strcmp(kind, "transient") != 0);
    free(status);
    free(msg);
    free(kind);
}

int main(void)
{
    static const long none[] = {0};
    static const struct expect x[] = {
        {"list not found", "/3/list/8999/add_item", 550, 1, 1, "not found"},
        {"no session", "/3/list/8001/add_item", 551, 0, 0, "session"},
        {"not permitted", "/3/list/8002/add_item", 552, 1, 1, "status_code 38"},
        {"session rejected", "/3/list/8003/add_item", 553, 1, 1, "session"},
        {"invalid data", "/3/list/8001/add_item", 0, 1, 0, "movie_id"},
    };
    struct ts_env env;
    struct ts_fake fake;
    struct ts_proc cons;
    json_t *ops = NULL, *reqs = NULL;
    char *bad_id = NULL;
    const char *ids[5] = {NULL};
    size_t i;
    int rc;

    ts_procs_init(&cons, 1);
    rc = ts_setup_with_fake(&env, &fake, "consumer_permanent", 5, 100, 2000);
    if (rc != 0)
        return rc;
    CHECK_EQ_INT(ts_user(&env, &fake, 1, "sess-perm-1", "tok-perm-1"), 0);
    CHECK_EQ_INT(ts_user(&env, &fake, 2, "sess-perm-2", "tok-perm-2"), 0);
    /* User 4's session is in our table, but TMDB no longer knows it. */
    CHECK_EQ_INT(ts_fake_user(&fake, 4, "sess-perm-4-new", NULL), 0);
    {
        struct ts_result r;

        ts_run(&env, NULL, NULL, &r, "session", "set", "--user", "4", "--session-id",
               "sess-perm-4-stale", (const char *)NULL);
        CHECK_EQ_INT(r.status, 0);
        ts_result_free(&r);
    }
    CHECK_EQ_INT(ts_fake_list(&fake, 8001, 1, none, 0), 0);
    CHECK_EQ_INT(ts_fake_list(&fake, 8002, 2, none, 0), 0);
    CHECK_EQ_INT(ts_fake_list(&fake, 8003, 4, none, 0), 0);

    CHECK_EQ_INT(ts_enqueue_lines(
                     &env,
                     "{\"type\":\"add_movie\",\"user\":1,\"list\":8999,\"movie\":550}\n"
                     "{\"type\":\"add_movie\",\"user\":3,\"list\":8001,\"movie\":551}\n"
                     "{\"type\":\"add_movie\",\"user\":1,\"list\":8002,\"movie\":552}\n"
                     "{\"type\":\"add_movie\",\"user\":4,\"list\":8003,\"movie\":553}\n",
                     &ops),
                 4);
    /* Invalid data cannot pass the producer: put the row in the table and publish it. */
    bad_id =
        ts_sql_value(&env, "INSERT INTO queued_list_operations (operation_type, "
                           "tmdb_user_id, tmdb_list_id, operation_data) VALUES "
                           "('add_movie', 1, 8001, '{\"movie_id\": 0}') RETURNING id");
    CHECK(bad_id != NULL);
    if (json_array_size(ops) != 4 || bad_id == NULL)
        goto out;
    CHECK_EQ_INT(ts_publish_ids(&env, (const char *const *)&bad_id, 1), 0);
    for (i = 0; i < 4; i++)
        ids[i] = ts_json_str(json_array_get(ops, i), "id");
    ids[4] = bad_id;

    CHECK_EQ_INT(ts_consumer_start(&env, &fake, NULL, NULL, &cons), 0);
    CHECK_EQ_INT(ts_wait_final_while(&env, &cons, 1, 20000), 0);
    reqs = ts_fake_requests(&fake);
    CHECK(reqs != NULL);
    for (i = 0; i < 5 && reqs != NULL; i++)
        check_op(&env, reqs, ids[i], &x[i]);
    /* The user without a session caused no request at all, on any path. */
    CHECK_EQ_INT(requests_for(reqs, "/3/list/8001/add_item", 551), 0);
    CHECK_EQ_INT(ts_count_status(&env, "failed"), 5);
    CHECK_EQ_INT(ts_proc_stop(&cons, 15000), 0);
out:
    ts_procs_end(&env, &cons, 1, check_failures != 0, 20, 6000);
    free(bad_id);
    json_decref(reqs);
    json_decref(ops);
    ts_teardown(&env);
    return check_exit();
}
