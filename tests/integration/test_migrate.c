/*
 * test_migrate: `tmdbq migrate` against real PostgreSQL databases.
 *
 * A fresh database gets every migration once and the spec's table with its four indexes;
 * a second run changes nothing; concurrent runs on another fresh database serialise (each
 * migration applied by exactly one of them); an applied file whose checksum no longer
 * matches is refused by name, since silently running on a schema that differs from the
 * files is how data gets lost.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "support.h"

#define RACERS 4

static const char *const spec_indexes[] = {
    "idx_queued_operations_status_inserted",
    "idx_queued_operations_user_id",
    "idx_queued_operations_scheduled_for",
    "idx_queued_operations_type_list_status",
};

static void check_fresh_and_again(struct ts_env *env)
{
    struct ts_result r = {0, NULL, NULL};
    json_t *out = NULL;
    long long version = -1;
    char sql[256];
    size_t i;

    /* The first run applies every file and reports the version reached. */
    CHECK_EQ_INT(ts_run(env, NULL, NULL, &r, "migrate", "--json", (const char *)NULL), 0);
    out = ts_json_parse(r.out);
    CHECK(json_is_object(out));
    CHECK(ts_json_int(out, "applied", -1) >= 2);
    version = ts_json_int(out, "version", -1);
    CHECK(version >= 2);
    CHECK_EQ_INT(version,
                 ts_sql_long(env, "SELECT max(version) FROM tmdbq_schema_migrations"));
    CHECK_EQ_INT(ts_json_int(out, "applied", -1),
                 ts_sql_long(env, "SELECT count(*) FROM tmdbq_schema_migrations"));
    if (r.status != 0 || out == NULL)
        ts_result_dump("first migrate", &r);
    json_decref(out);
    ts_result_free(&r);

    /* The second run finds nothing to do and reports the same version. */
    CHECK_EQ_INT(ts_run(env, NULL, NULL, &r, "migrate", "--json", (const char *)NULL), 0);
    out = ts_json_parse(r.out);
    CHECK_EQ_INT(ts_json_int(out, "applied", -1), 0);
    CHECK_EQ_INT(ts_json_int(out, "version", -1), version);
    json_decref(out);
    ts_result_free(&r);

    CHECK_EQ_INT(ts_sql_long(env,
                             "SELECT count(*) FROM tmdbq_schema_migrations "
                             "WHERE checksum IS NULL OR checksum = '' OR name IS NULL"),
                 0);
    CHECK_EQ_INT(ts_sql_long(env, "SELECT count(*) FROM tmdbq_schema_migrations "
                                  "WHERE name LIKE '001_%'"),
                 1);

    CHECK_EQ_INT(ts_sql_long(env, "SELECT count(*) FROM pg_tables WHERE schemaname = "
                                  "current_schema() AND tablename IN ("
                                  "'queued_list_operations', 'tmdbq_schema_migrations', "
                                  "'tmdb_user_credentials')"),
                 3);
    for (i = 0; i < sizeof spec_indexes / sizeof spec_indexes[0]; i++) {
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM pg_indexes WHERE tablename = "
                 "'queued_list_operations' AND indexname = '%s'",
                 spec_indexes[i]);
        CHECK_EQ_INT(ts_sql_long(env, sql), 1);
    }
    /* The spec's columns and the ones docs/cli.md adds are there. */
    CHECK_EQ_INT(ts_sql_long(env,
                             "SELECT count(*) FROM information_schema.columns WHERE "
                             "table_name = 'queued_list_operations' AND column_name IN ("
                             "'id', 'operation_type', 'tmdb_user_id', 'tmdb_list_id', "
                             "'operation_data', 'retry_count', 'last_retry_at', "
                             "'status', 'error_message', 'scheduled_for', "
                             "'inserted_at', 'updated_at', 'published_at', 'seq', "
                             "'result', 'lease_expires_at', 'claimed_by')"),
                 17);
}

static void check_concurrent(struct ts_env *env)
{
    struct ts_result r[RACERS];
    long long applied_sum = 0, version = -1;
    json_t *out;
    size_t i;

    memset(r, 0, sizeof r);
    CHECK_EQ_INT(
        ts_run_many(env, NULL, RACERS, r, "migrate", "--json", (const char *)NULL), 0);
    for (i = 0; i < RACERS; i++) {
        CHECK_EQ_INT(r[i].status, 0);
        out = ts_json_parse(r[i].out);
        if (r[i].status != 0 || out == NULL)
            ts_result_dump("concurrent migrate", &r[i]);
        /* Serialised runs: the first applies everything, the others find it done, so
         * the applied counts add up to the number of migrations. */
        applied_sum += ts_json_int(out, "applied", 0);
        if (version < 0)
            version = ts_json_int(out, "version", -1);
        CHECK_EQ_INT(ts_json_int(out, "version", -1), version);
        json_decref(out);
        ts_result_free(&r[i]);
    }
    CHECK(version >= 2);
    CHECK_EQ_INT(applied_sum,
                 ts_sql_long(env, "SELECT count(*) FROM tmdbq_schema_migrations"));
    CHECK_EQ_INT(ts_sql_long(env, "SELECT count(*) FROM tmdbq_schema_migrations"),
                 ts_sql_long(env, "SELECT count(DISTINCT version) FROM "
                                  "tmdbq_schema_migrations"));
    CHECK_EQ_INT(ts_sql_long(env, "SELECT count(*) FROM tmdbq_schema_migrations"),
                 version);
    CHECK_EQ_INT(ts_sql_long(env, "SELECT count(*) FROM pg_indexes WHERE indexname = "
                                  "'idx_queued_operations_type_list_status'"),
                 1);
}

static void check_changed_file_refused(struct ts_env *env)
{
    struct ts_result r = {0, NULL, NULL};

    CHECK_EQ_INT(ts_sql_exec(env, "UPDATE tmdbq_schema_migrations SET checksum = 'x' "
                                  "WHERE version = 1"),
                 0);
    CHECK_EQ_INT(ts_run(env, NULL, NULL, &r, "migrate", "--json", (const char *)NULL), 1);
    CHECK_CONTAINS(r.err, "001_");
    if (r.status != 1)
        ts_result_dump("migrate over a changed file", &r);
    ts_result_free(&r);
    /* Refusing must not have touched the record either. */
    CHECK_EQ_INT(ts_sql_long(env, "SELECT count(*) FROM tmdbq_schema_migrations "
                                  "WHERE version = 1 AND checksum = 'x'"),
                 1);
}

int main(void)
{
    struct ts_env env, race;
    int rc;

    memset(&race, 0, sizeof race);
    rc = ts_setup_ex(&env, "migrate", TS_NO_MIGRATE);
    if (rc != 0)
        goto out;
    rc = ts_setup_ex(&race, "migrate_race", TS_NO_MIGRATE);
    if (rc != 0)
        goto out;

    check_fresh_and_again(&env);
    check_concurrent(&race);
    check_changed_file_refused(&env);
    rc = check_exit();
out:
    ts_teardown(&race);
    ts_teardown(&env);
    return rc;
}
