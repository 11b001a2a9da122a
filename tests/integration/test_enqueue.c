/*
 * test_enqueue: `tmdbq enqueue` and `tmdbq show` end to end, against real PostgreSQL and
 * RabbitMQ.
 *
 * Invalid input exits 2, names the offending field and writes nothing. Each of the six
 * operation types lands as a pending row whose id really is in the work queue. With the
 * broker down the enqueue still succeeds (the row is its own outbox); with the database
 * down it fails with status 1. Neither failure may print a password.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "support.h"

#define MAX_ARGS 16

struct invalid_case {
    const char *what;
    const char *args[MAX_ARGS];
    const char *field; /* the stderr message must name it */
};

static const struct invalid_case invalid_cases[] = {
    {"unknown type",
     {"enqueue", "frobnicate", "--user", "1", "--list", "7"},
     "frobnicate"},
    {"missing --user", {"enqueue", "add_movie", "--list", "7", "--movie", "550"}, "user"},
    {"--user 0",
     {"enqueue", "add_movie", "--user", "0", "--list", "7", "--movie", "550"},
     "user"},
    {"--user abc",
     {"enqueue", "add_movie", "--user", "abc", "--list", "7", "--movie", "550"},
     "user"},
    {"add_movie without --list",
     {"enqueue", "add_movie", "--user", "1", "--movie", "550"},
     "list"},
    {"add_movie without --movie",
     {"enqueue", "add_movie", "--user", "1", "--list", "7"},
     "movie"},
    {"--movie -5",
     {"enqueue", "add_movie", "--user", "1", "--list", "7", "--movie", "-5"},
     "movie"},
    {"create_list without --name", {"enqueue", "create_list", "--user", "1"}, "name"},
    {"create_list --name \"\"",
     {"enqueue", "create_list", "--user", "1", "--name", ""},
     "name"},
    {"update_list with no field",
     {"enqueue", "update_list", "--user", "1", "--list", "7"},
     "name"},
    {"--public maybe",
     {"enqueue", "update_list", "--user", "1", "--list", "7", "--public", "maybe"},
     "public"},
    {"--data [1]",
     {"enqueue", "add_movie", "--user", "1", "--list", "7", "--data", "[1]"},
     "data"},
    {"--data with an unknown key",
     {"enqueue", "add_movie", "--user", "1", "--list", "7", "--movie", "550", "--data",
      "{\"foo\":1}"},
     "foo"},
    {"create_list with --list",
     {"enqueue", "create_list", "--user", "1", "--name", "x", "--list", "7"},
     "list"},
};

struct valid_case {
    const char *args[MAX_ARGS];
    const char *type;
    long user;
    long list; /* 0: tmdb_list_id must be null */
    const char *data;
};

static const struct valid_case valid_cases[] = {
    {{"enqueue", "create_list", "--user", "1", "--name", "My list", "--description",
      "films I like", "--public", "true"},
     "create_list",
     1,
     0,
     "{\"name\":\"My list\",\"description\":\"films I like\",\"public\":true}"},
    {{"enqueue", "update_list", "--user", "1", "--list", "10", "--name", "Renamed"},
     "update_list",
     1,
     10,
     "{\"name\":\"Renamed\"}"},
    {{"enqueue", "delete_list", "--user", "1", "--list", "11"},
     "delete_list",
     1,
     11,
     "{}"},
    {{"enqueue", "clear_list", "--user", "1", "--list", "12"}, "clear_list", 1, 12, "{}"},
    {{"enqueue", "add_movie", "--user", "1", "--list", "13", "--movie", "550"},
     "add_movie",
     1,
     13,
     "{\"movie_id\":550}"},
    {{"enqueue", "remove_movie", "--user", "1", "--list", "14", "--movie", "551"},
     "remove_movie",
     1,
     14,
     "{\"movie_id\":551}"},
    {{"enqueue", "add_movie", "--user", "2", "--list", "15", "--data",
      "{\"movie_id\":600}"},
     "add_movie",
     2,
     15,
     "{\"movie_id\":600}"},
};

#define NVALID (sizeof valid_cases / sizeof valid_cases[0])

/* docs/cli.md fixes the key order of an enqueued operation. */
static const char *const enqueue_keys[] = {
    "id",          "operation_type", "tmdb_user_id", "tmdb_list_id",  "operation_data",
    "retry_count", "last_retry_at",  "status",       "error_message", "scheduled_for",
    "inserted_at", "updated_at",     "result",       "published",     "duplicate",
};

/* Run args plus --json; the parsed stdout (new reference) or NULL. */
static json_t *run_json(struct ts_env *env, const char *const *extra_env,
                        const char *const *args, struct ts_result *r)
{
    const char *argv[MAX_ARGS + 2];
    size_t i;

    for (i = 0; i < MAX_ARGS && args[i] != NULL; i++)
        argv[i] = args[i];
    argv[i++] = "--json";
    argv[i] = NULL;
    ts_runv(env, extra_env, NULL, r, argv);
    return r->status == 0 ? ts_json_parse(r->out) : NULL;
}

static void check_invalid(struct ts_env *env)
{
    struct ts_result r;
    size_t i;

    for (i = 0; i < sizeof invalid_cases / sizeof invalid_cases[0]; i++) {
        const struct invalid_case *c = &invalid_cases[i];

        run_json(env, NULL, c->args, &r);
        CHECK_EQ_INT(r.status, 2);
        CHECK_CONTAINS(r.err, c->field);
        if (r.status != 2 || strstr(r.err, c->field) == NULL)
            ts_result_dump(c->what, &r);
        ts_result_free(&r);
    }
    CHECK_EQ_INT(ts_sql_long(env, "SELECT count(*) FROM queued_list_operations"), 0);
}

static void check_key_order(const json_t *op)
{
    const char *key;
    json_t *value;
    size_t i = 0, n = sizeof enqueue_keys / sizeof enqueue_keys[0];

    CHECK_EQ_INT(json_object_size(op), n);
    json_object_foreach((json_t *)op, key, value)
    {
        (void)value;
        if (i < n)
            CHECK_STR_EQ(key, enqueue_keys[i]);
        i++;
    }
}

/* Enqueue each valid case; ids (caller's NVALID x 40) receive the new ids. */
static void check_valid(struct ts_env *env, char ids[][40])
{
    struct ts_result r;
    json_t *op;
    char sql[512], *v;
    size_t i;

    for (i = 0; i < NVALID; i++) {
        const struct valid_case *c = &valid_cases[i];

        ids[i][0] = '\0';
        op = run_json(env, NULL, c->args, &r);
        CHECK_EQ_INT(r.status, 0);
        CHECK(json_is_object(op));
        if (op == NULL) {
            ts_result_dump(c->type, &r);
            ts_result_free(&r);
            continue;
        }
        if (i == 0)
            check_key_order(op);
        CHECK(ts_json_str(op, "id") != NULL && strlen(ts_json_str(op, "id")) == 36);
        snprintf(ids[i], 40, "%s", ts_json_str(op, "id") ? ts_json_str(op, "id") : "");
        CHECK_STR_EQ(ts_json_str(op, "status"), "pending");
        CHECK_STR_EQ(ts_json_str(op, "operation_type"), c->type);
        CHECK_EQ_INT(ts_json_bool(op, "published"), 1);
        CHECK_EQ_INT(ts_json_bool(op, "duplicate"), 0);
        CHECK_EQ_INT(ts_json_int(op, "tmdb_user_id", -1), c->user);
        if (c->list == 0)
            CHECK(ts_json_is_null(op, "tmdb_list_id"));
        else
            CHECK_EQ_INT(ts_json_int(op, "tmdb_list_id", -1), c->list);
        CHECK(ts_json_member_equals(op, "operation_data", c->data));
        CHECK_EQ_INT(ts_json_int(op, "retry_count", -1), 0);
        CHECK(ts_json_is_null(op, "error_message"));
        CHECK(ts_json_is_null(op, "last_retry_at"));
        /* ISO 8601 UTC, e.g. 2026-11-24T06:25:27.123Z */
        CHECK(ts_json_str(op, "inserted_at") != NULL &&
              strlen(ts_json_str(op, "inserted_at")) >= 20 &&
              ts_json_str(op, "inserted_at")[10] == 'T' &&
              ts_json_str(
                  op, "inserted_at")[strlen(ts_json_str(op, "inserted_at")) - 1] == 'Z');

        /* The row says the same, and the broker confirmed it. */
        snprintf(
            sql, sizeof sql,
            "SELECT operation_type || ' ' || status || ' ' || operation_data::text "
            "FROM queued_list_operations WHERE id = '%s' AND published_at IS NOT NULL",
            ids[i]);
        v = ts_sql_value(env, sql);
        CHECK(v != NULL && strncmp(v, c->type, strlen(c->type)) == 0);
        CHECK_CONTAINS(v, " pending ");
        free(v);
        json_decref(op);
        ts_result_free(&r);
    }
    CHECK_EQ_INT(ts_sql_long(env, "SELECT count(*) FROM queued_list_operations"), NVALID);
    /* Every published operation is one message in the work queue. */
    CHECK_EQ_INT(ts_queue_depth(env, "work", NVALID, 2000), NVALID);
}

static void check_broker_down(struct ts_env *env)
{
    static const char *const broker_down[] = {
        "TMDBQ_AMQP_URL=amqp://guest:guest@127.0.0.1:1/%2f", NULL};
    const char *args[] = {"enqueue", "add_movie", "--user", "1", "--list",
                          "16",      "--movie",   "700",    NULL};
    struct ts_result r;
    json_t *op;
    char sql[512];

    op = run_json(env, broker_down, args, &r);
    CHECK_EQ_INT(r.status, 0);
    CHECK_EQ_INT(ts_json_bool(op, "published"), 0);
    CHECK_EQ_INT(ts_json_bool(op, "duplicate"), 0);
    CHECK_STR_EQ(ts_json_str(op, "status"), "pending");
    CHECK_CONTAINS(r.err, "RabbitMQ");
    CHECK(strstr(r.err, "guest:guest") == NULL);
    if (r.status != 0 || strstr(r.err, "RabbitMQ") == NULL)
        ts_result_dump("enqueue with the broker down", &r);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM queued_list_operations WHERE id = '%s' AND "
             "status = 'pending' AND published_at IS NULL AND tmdb_list_id = 16",
             ts_json_str(op, "id") ? ts_json_str(op, "id")
                                   : "00000000-0000-0000-0000-000000000000");
    CHECK_EQ_INT(ts_sql_long(env, sql), 1);
    /* Nothing reached the work queue. */
    CHECK_EQ_INT(ts_queue_depth(env, "work", NVALID, 0), NVALID);
    json_decref(op);
    ts_result_free(&r);
}

static void check_database_down(struct ts_env *env)
{
    static const char *const db_down[] = {
        "TMDBQ_DATABASE_URL=postgresql://tmdbq:secretpw@127.0.0.1:1/nope", NULL};
    const char *args[] = {"enqueue", "add_movie", "--user", "1", "--list",
                          "17",      "--movie",   "701",    NULL};
    struct ts_result r;

    run_json(env, db_down, args, &r);
    CHECK_EQ_INT(r.status, 1);
    CHECK_CONTAINS(r.err, "PostgreSQL");
    CHECK(strstr(r.err, "secretpw") == NULL && strstr(r.out, "secretpw") == NULL);
    if (r.status != 1)
        ts_result_dump("enqueue with the database down", &r);
    ts_result_free(&r);
    CHECK_EQ_INT(ts_sql_long(env, "SELECT count(*) FROM queued_list_operations WHERE "
                                  "tmdb_list_id = 17"),
                 0);
}

static void check_show(struct ts_env *env, const char *id)
{
    struct ts_result r;
    json_t *op;

    CHECK_EQ_INT(ts_run(env, NULL, NULL, &r, "show", id, "--json", (const char *)NULL),
                 0);
    op = ts_json_parse(r.out);
    CHECK_STR_EQ(ts_json_str(op, "id"), id);
    CHECK_STR_EQ(ts_json_str(op, "status"), "pending");
    CHECK_STR_EQ(ts_json_str(op, "operation_type"), valid_cases[4].type);
    CHECK_EQ_INT(ts_json_int(op, "tmdb_list_id", -1), valid_cases[4].list);
    CHECK(ts_json_member_equals(op, "operation_data", valid_cases[4].data));
    CHECK_EQ_INT(ts_json_bool(op, "published"), 1);
    json_decref(op);
    ts_result_free(&r);

    /* Without --json: readable key: value lines, still naming the id. */
    CHECK_EQ_INT(ts_run(env, NULL, NULL, &r, "show", id, (const char *)NULL), 0);
    CHECK_CONTAINS(r.out, id);
    CHECK_CONTAINS(r.out, "pending");
    ts_result_free(&r);

    CHECK_EQ_INT(
        ts_run(env, NULL, NULL, &r, "show", "not-a-uuid", "--json", (const char *)NULL),
        2);
    ts_result_free(&r);
    CHECK_EQ_INT(ts_run(env, NULL, NULL, &r, "show",
                        "00000000-0000-4000-8000-000000000000", "--json",
                        (const char *)NULL),
                 3);
    ts_result_free(&r);
}

int main(void)
{
    struct ts_env env;
    char ids[NVALID][40];
    int rc;

    rc = ts_setup(&env, "enqueue");
    if (rc != 0)
        goto out;
    check_invalid(&env);
    check_valid(&env, ids);
    check_broker_down(&env);
    check_database_down(&env);
    check_show(&env, ids[4]);
    rc = check_exit();
out:
    ts_teardown(&env);
    return rc;
}
