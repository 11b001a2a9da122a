/*
 * test_migrate: `tmdbq migrate` against real PostgreSQL databases.
 *
 * A fresh database gets every migration once and the spec's table with its four indexes;
 * a second run changes nothing; concurrent runs on another fresh database serialise (each
 * migration applied by exactly one of them); an applied file whose checksum no longer
 * matches is refused by name, since silently running on a schema that differs from the
 * files is how data gets lost.
 *
 * Issue 11: migrations 002, 003 and 005 were edited after they had landed. A database is
 * built the way each such version of the tree left it (the earlier texts are fixtures in
 * fixtures/landed/, recorded with their checksums as db_migrate records them), then
 * migrated: it must succeed and end with the schema of a fresh database, compared from
 * the catalogs (columns by name: a column added late cannot move up the table).
 */
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "migrations.h"
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
    /* PostgreSQL's checksum of each text is the SHA-256 of the file that
     * migrations/checksums.txt lists, so the manifest's earlier checksums are the ones
     * an older tmdbq recorded. */
    for (i = 0; i < migrations_count; i++) {
        char *sum;

        snprintf(sql, sizeof sql,
                 "SELECT checksum FROM tmdbq_schema_migrations WHERE version = %d AND "
                 "name = '%s'",
                 migrations[i].version, migrations[i].name);
        sum = ts_sql_value(env, sql);
        CHECK_STR_EQ(sum, migrations[i].sha256);
        free(sum);
    }

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
    /* Every file once, the numbers not necessarily contiguous. */
    CHECK_EQ_INT(ts_sql_long(env, "SELECT count(*) FROM tmdbq_schema_migrations"),
                 migrations_count);
    CHECK_EQ_INT(version, migrations[migrations_count - 1].version);
    CHECK_EQ_INT(ts_sql_long(env, "SELECT count(*) FROM pg_indexes WHERE indexname = "
                                  "'idx_queued_operations_type_list_status'"),
                 1);
}

static void check_changed_file_refused(struct ts_env *env)
{
    struct ts_result r = {0, NULL, NULL};
    char sql[256];

    /* An earlier landed checksum counts for its own file only: 002's on 001. */
    CHECK(migrations_count > 1 && migrations[1].earlier[0] != NULL);
    if (migrations_count > 1 && migrations[1].earlier[0] != NULL) {
        snprintf(sql, sizeof sql,
                 "UPDATE tmdbq_schema_migrations SET checksum = '%s' WHERE version = 1",
                 migrations[1].earlier[0]);
        CHECK_EQ_INT(ts_sql_exec(env, sql), 0);
        CHECK_EQ_INT(ts_run(env, NULL, NULL, &r, "migrate", "--json", (const char *)NULL),
                     1);
        CHECK_CONTAINS(r.err, "001_");
        ts_result_free(&r);
    }

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

    /* A number that ran as another file: the message names that file. */
    CHECK_EQ_INT(ts_sql_exec(env, "UPDATE tmdbq_schema_migrations SET name = "
                                  "'001_renamed.sql' WHERE version = 1"),
                 0);
    CHECK_EQ_INT(ts_run(env, NULL, NULL, &r, "migrate", "--json", (const char *)NULL), 1);
    CHECK_CONTAINS(r.err, "001_renamed.sql");
    CHECK_CONTAINS(r.err, "001_create_queued_list_operations.sql");
    ts_result_free(&r);
}

/* ---- databases of earlier landed texts -----------------------------------------------
 */

/* The catalog's view of the schema, one row per object, in strcmp order: relations,
 * columns (by name, with type, nullability, default, identity; not their position),
 * constraints, indexes, whole function definitions, triggers and types. */
#define SCHEMA_SQL                                                                       \
    "SELECT l FROM ("                                                                    \
    " SELECT 'relation ' || c.relname || ' ' || c.relkind::text AS l FROM pg_class c"    \
    "  WHERE c.relnamespace = current_schema()::regnamespace"                            \
    " UNION ALL"                                                                         \
    " SELECT 'column ' || c.relname || '.' || a.attname || ' '"                          \
    "        || format_type(a.atttypid, a.atttypmod)"                                    \
    "        || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END"                     \
    "        || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')"            \
    "        || CASE WHEN a.attidentity <> '' THEN ' identity ' || a.attidentity::text"  \
    "                ELSE '' END"                                                        \
    "        || CASE WHEN a.attgenerated <> ''"                                          \
    "                THEN ' generated ' || a.attgenerated::text ELSE '' END"             \
    "   FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"                       \
    "   LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"         \
    "  WHERE c.relnamespace = current_schema()::regnamespace AND a.attnum > 0"           \
    "    AND NOT a.attisdropped"                                                         \
    " UNION ALL"                                                                         \
    " SELECT 'constraint ' || x.conrelid::regclass || ' ' || x.conname || ' '"           \
    "        || pg_get_constraintdef(x.oid) FROM pg_constraint x"                        \
    "  WHERE x.connamespace = current_schema()::regnamespace"                            \
    " UNION ALL"                                                                         \
    " SELECT 'index ' || pg_get_indexdef(i.indexrelid) FROM pg_index i"                  \
    "   JOIN pg_class c ON c.oid = i.indexrelid"                                         \
    "  WHERE c.relnamespace = current_schema()::regnamespace"                            \
    " UNION ALL"                                                                         \
    " SELECT 'function ' || pg_get_functiondef(p.oid) FROM pg_proc p"                    \
    "  WHERE p.pronamespace = current_schema()::regnamespace"                            \
    "    AND p.prokind IN ('f', 'p')"                                                    \
    " UNION ALL"                                                                         \
    " SELECT 'trigger ' || pg_get_triggerdef(g.oid) FROM pg_trigger g"                   \
    "   JOIN pg_class c ON c.oid = g.tgrelid"                                            \
    "  WHERE c.relnamespace = current_schema()::regnamespace AND NOT g.tgisinternal"     \
    " UNION ALL"                                                                         \
    " SELECT 'type ' || y.typname || ' ' || y.typtype::text FROM pg_type y"              \
    "  WHERE y.typnamespace = current_schema()::regnamespace"                            \
    ") s ORDER BY l COLLATE \"C\""

/* A database as an earlier tree left it: the files applied in order, each either a
 * migration's file name (today's text, as this build embeds it) or a fixture of
 * fixtures/landed/, NNN_name.<commit>.sql, an earlier landed text of migration NNN. */
struct landed_db {
    const char *test_name; /* its database: tmdbq_t_<test_name>_<pid> */
    const char *tree;      /* the history it stands for, for messages */
    const char *files[10]; /* NULL-terminated */
    /* The last file is applied by itself and must not change the schema (007 on today's
     * texts). */
    bool last_is_noop;
    /* Operations are queued before migrating and cancelled and retried after. */
    bool rows;
};

static const struct landed_db landed_dbs[] = {
    {"migrate_at_a105f54",
     "a105f54 (002 before its error_kind)",
     {"001_create_queued_list_operations.sql", "002_tmdbq_core.a105f54.sql", NULL},
     false,
     true},
    {"migrate_at_10a5af4",
     "10a5af4..40717ed^ (003 before handoff)",
     {"001_create_queued_list_operations.sql", "002_tmdbq_core.sql",
      "003_tmdbq_consumer.10a5af4.sql", NULL},
     false,
     true},
    /* 005 landed before 004: a database of that time had no 004 until a later run. */
    {"migrate_at_87f617f",
     "87f617f (005 before tmdbq_lock_op, no 004 yet)",
     {"001_create_queued_list_operations.sql", "002_tmdbq_core.sql",
      "003_tmdbq_consumer.sql", "005_tmdbq_control.87f617f.sql", NULL},
     false,
     false},
    {"migrate_at_263ceaf",
     "263ceaf..fd74fb9^ (005 before tmdbq_lock_op, 004 and 006 applied)",
     {"001_create_queued_list_operations.sql", "002_tmdbq_core.sql",
      "003_tmdbq_consumer.sql", "004_tmdbq_reaper.sql", "005_tmdbq_control.87f617f.sql",
      "006_tmdbq_apply.sql", NULL},
     false,
     true},
    /* No tree had all three (002 changed before 003 landed), but 007 must cope with any
     * mix. */
    {"migrate_all_earlier",
     "every earlier text at once",
     {"001_create_queued_list_operations.sql", "002_tmdbq_core.a105f54.sql",
      "003_tmdbq_consumer.10a5af4.sql", "004_tmdbq_reaper.sql",
      "005_tmdbq_control.87f617f.sql", "006_tmdbq_apply.sql", NULL},
     false,
     true},
    {"migrate_007_today",
     "today's 001-006, then 007",
     {"001_create_queued_list_operations.sql", "002_tmdbq_core.sql",
      "003_tmdbq_consumer.sql", "004_tmdbq_reaper.sql", "005_tmdbq_control.sql",
      "006_tmdbq_apply.sql", "007_tmdbq_landed.sql", NULL},
     true,
     false},
};

/* The migration whose file is name, or whose number name starts with (a fixture). */
static const struct migration *migration_of(const char *name, bool *earlier)
{
    long v = strtol(name, NULL, 10);

    *earlier = true;
    for (unsigned i = 0; i < migrations_count; i++) {
        if (strcmp(migrations[i].name, name) == 0) {
            *earlier = false;
            return &migrations[i];
        }
    }
    for (unsigned i = 0; i < migrations_count; i++) {
        if (migrations[i].version == v)
            return &migrations[i];
    }
    return NULL;
}

/* The fixture's text, malloc'd; NULL after printing why. The fixtures live next to this
 * file in the source tree (CMake compiles it by its absolute path). */
static char *fixture_text(const char *file)
{
    const char *slash = strrchr(__FILE__, '/');
    char path[512];
    char *text = NULL, *more;
    size_t len = 0, cap = 0, got;
    FILE *f;

    snprintf(path, sizeof path, "%.*s/fixtures/landed/%s",
             slash ? (int)(slash - __FILE__) : 1, slash ? __FILE__ : ".", file);
    f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "test_migrate: could not open %s\n", path);
        return NULL;
    }
    do {
        if (cap - len < 4096) {
            cap = cap ? 2 * cap : 65536;
            more = realloc(text, cap);
            if (more == NULL) {
                free(text);
                fclose(f);
                return NULL;
            }
            text = more;
        }
        got = fread(text + len, 1, cap - len - 1, f);
        len += got;
    } while (got > 0);
    fclose(f);
    text[len] = '\0';
    return text;
}

static PGconn *connect_db(const struct ts_env *env)
{
    PGconn *c = PQconnectdb(env->db_url);

    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "test_migrate: could not connect to %s: %s", env->db_name,
                PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    /* "relation already exists, skipping" and the like. */
    PQclear(PQexec(c, "SET client_min_messages = warning"));
    return c;
}

/* One or more statements, or one with parameters (n > 0); 0 ok, -1 printed. */
static int exec_sql(PGconn *c, const char *sql, int n, const char *const *p,
                    const char *what)
{
    /* PQexec takes several statements; PQexecParams takes parameters. */
    PGresult *res =
        n == 0 ? PQexec(c, sql) : PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    int rc = 0;

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        fprintf(stderr, "test_migrate: %s: %s", what, PQerrorMessage(c));
        rc = -1;
    }
    PQclear(res);
    return rc;
}

/* Apply text as migration m and record it the way db_migrate does (one transaction; the
 * checksum is PostgreSQL's SHA-256 of the text). */
static int apply_recorded(PGconn *c, const struct migration *m, const char *text,
                          const char *file)
{
    char version[16];
    const char *p[3] = {version, m->name, text};
    int rc;

    snprintf(version, sizeof version, "%d", m->version);
    rc = exec_sql(c, "BEGIN", 0, NULL, "begin");
    if (rc == 0)
        rc = exec_sql(c, text, 0, NULL, file);
    if (rc == 0)
        rc = exec_sql(
            c,
            "INSERT INTO tmdbq_schema_migrations (version, name, checksum) VALUES "
            "($1, $2, encode(sha256(convert_to($3, 'UTF8')), 'hex'))",
            3, p, "record a migration");
    if (rc == 0)
        rc = exec_sql(c, "COMMIT", 0, NULL, "commit");
    if (rc != 0)
        PQclear(PQexec(c, "ROLLBACK"));
    return rc;
}

/* The schema's rows (SCHEMA_SQL), a new result the caller clears; NULL printed. */
static PGresult *schema_rows(const struct ts_env *env)
{
    PGconn *c = connect_db(env);
    PGresult *res = NULL;

    if (c == NULL)
        return NULL;
    res = PQexec(c, SCHEMA_SQL);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "test_migrate: read the schema: %s", PQerrorMessage(c));
        PQclear(res);
        res = NULL;
    }
    PQfinish(c);
    return res;
}

/* How many rows are in one of want and got but not the other; prints the first few. */
static int schema_diff(const PGresult *want, const PGresult *got, const char *what)
{
    int i = 0, j = 0, nw = PQntuples(want), ng = PQntuples(got), diffs = 0;

    while (i < nw || j < ng) {
        const char *w = i < nw ? PQgetvalue(want, i, 0) : NULL;
        const char *g = j < ng ? PQgetvalue(got, j, 0) : NULL;
        int cmp = w == NULL ? 1 : g == NULL ? -1 : strcmp(w, g);

        if (cmp == 0) {
            i++;
            j++;
            continue;
        }
        if (diffs++ < 6)
            fprintf(stderr, "%s: %s:\n%.600s\n", what, cmp < 0 ? "missing" : "unexpected",
                    cmp < 0 ? w : g);
        if (cmp < 0)
            i++;
        else
            j++;
    }
    return diffs;
}

/* Queue a pending and a failed operation with the columns every text of 002 has. */
static void add_rows(PGconn *c)
{
    CHECK_EQ_INT(
        exec_sql(c,
                 "INSERT INTO queued_list_operations (operation_type, tmdb_user_id,"
                 " tmdb_list_id, operation_data, status, error_message) VALUES"
                 " ('add_movie', 1, 7, '{\"movie_id\": 550}', 'pending', NULL),"
                 " ('add_movie', 1, 8, '{\"movie_id\": 551}', 'failed', 'boom')",
                 0, NULL, "queue operations"),
        0);
}

/* The operations queued before the migration are whole, and the control functions of
 * today (tmdbq_lock_op underneath) work on them. */
static void check_rows(struct ts_env *env)
{
    struct ts_result r = {0, NULL, NULL};
    char *pending, *failed;

    CHECK_EQ_INT(ts_sql_long(env, "SELECT count(*) FROM queued_list_operations"
                                  " WHERE NOT handoff AND error_kind IS NULL"),
                 2);
    pending = ts_sql_value(env, "SELECT id FROM queued_list_operations"
                                " WHERE status = 'pending'");
    failed = ts_sql_value(env, "SELECT id FROM queued_list_operations"
                               " WHERE status = 'failed'");
    CHECK(pending != NULL && failed != NULL);
    if (pending != NULL && failed != NULL) {
        CHECK_EQ_INT(ts_run(env, NULL, NULL, &r, "cancel", pending, "--json", NULL), 0);
        if (r.status != 0)
            ts_result_dump("cancel after the migration", &r);
        ts_result_free(&r);
        CHECK_EQ_INT(ts_run(env, NULL, NULL, &r, "retry", failed, "--json", NULL), 0);
        if (r.status != 0)
            ts_result_dump("retry after the migration", &r);
        ts_result_free(&r);
        CHECK_EQ_INT(ts_sql_long(env, "SELECT count(*) FROM queued_list_operations"
                                      " WHERE status IN ('cancelled', 'pending')"),
                     2);
    }
    free(pending);
    free(failed);
}

/* Each file's record: the checksum of the text that ran (an earlier one stays as it
 * was), and one of the texts the manifest lists for that file. */
static void check_records(struct ts_env *env, const struct landed_db *d)
{
    char sql[256];

    CHECK_EQ_INT(ts_sql_long(env, "SELECT count(*) FROM tmdbq_schema_migrations"),
                 migrations_count);
    for (size_t k = 0; d->files[k] != NULL; k++) {
        bool earlier;
        const struct migration *m = migration_of(d->files[k], &earlier);
        char *sum;
        bool listed = false;

        if (m == NULL)
            continue;
        snprintf(sql, sizeof sql,
                 "SELECT checksum FROM tmdbq_schema_migrations WHERE version = %d",
                 m->version);
        sum = ts_sql_value(env, sql);
        for (const char *const *x = m->earlier; sum != NULL && *x != NULL; x++)
            listed = listed || strcmp(sum, *x) == 0;
        if (earlier)
            CHECK(listed);
        else
            CHECK_STR_EQ(sum, m->sha256);
        free(sum);
    }
}

static void check_landed_db(const struct landed_db *d, const PGresult *fresh,
                            long long fresh_version)
{
    struct ts_env env;
    struct ts_result r = {0, NULL, NULL};
    PGconn *c = NULL;
    PGresult *before = NULL, *after = NULL;
    json_t *out = NULL;
    size_t nfiles = 0;
    char what[160];

    snprintf(what, sizeof what, "database as at %s, against a fresh one", d->tree);
    if (ts_setup_ex(&env, d->test_name, TS_NO_MIGRATE) != 0) {
        fprintf(stderr, "%s: could not set up its database\n", what);
        check_failures++;
        goto out;
    }
    c = connect_db(&env);
    CHECK(c != NULL);
    if (c == NULL)
        goto out;
    /* The table as every tmdbq so far has made it (db.c). */
    CHECK_EQ_INT(exec_sql(c,
                          "CREATE TABLE IF NOT EXISTS tmdbq_schema_migrations ("
                          " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                          " checksum TEXT NOT NULL,"
                          " applied_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW())",
                          0, NULL, "create the migrations table"),
                 0);
    for (nfiles = 0; d->files[nfiles] != NULL; nfiles++) {
        bool earlier;
        const struct migration *m = migration_of(d->files[nfiles], &earlier);
        char *text = NULL;
        int rc;

        CHECK(m != NULL);
        if (m == NULL)
            goto out;
        text = earlier ? fixture_text(d->files[nfiles]) : strdup(m->sql);
        CHECK(text != NULL);
        if (text == NULL)
            goto out;
        if (d->last_is_noop && d->files[nfiles + 1] == NULL)
            before = schema_rows(&env);
        rc = apply_recorded(c, m, text, d->files[nfiles]);
        free(text);
        CHECK_EQ_INT(rc, 0);
        if (rc != 0) {
            fprintf(stderr, "%s: could not apply %s\n", what, d->files[nfiles]);
            goto out;
        }
    }
    if (before != NULL) {
        after = schema_rows(&env);
        CHECK(after != NULL);
        if (after != NULL)
            CHECK_EQ_INT(
                schema_diff(before, after, "007 on today's schema, against before it"),
                0);
    }
    if (d->rows)
        add_rows(c);
    PQfinish(c);
    c = NULL;

    /* Migrated forward, and again: the second run finds nothing to do. */
    CHECK_EQ_INT(ts_run(&env, NULL, NULL, &r, "migrate", "--json", (const char *)NULL),
                 0);
    if (r.status != 0) {
        ts_result_dump(what, &r);
        ts_result_free(&r);
        goto out;
    }
    out = ts_json_parse(r.out);
    CHECK_EQ_INT(ts_json_int(out, "applied", -1), (long long)(migrations_count - nfiles));
    CHECK_EQ_INT(ts_json_int(out, "version", -1), fresh_version);
    json_decref(out);
    ts_result_free(&r);
    CHECK_EQ_INT(ts_run(&env, NULL, NULL, &r, "migrate", "--json", (const char *)NULL),
                 0);
    out = ts_json_parse(r.out);
    CHECK_EQ_INT(ts_json_int(out, "applied", -1), 0);
    json_decref(out);
    ts_result_free(&r);

    PQclear(after);
    after = schema_rows(&env);
    CHECK(after != NULL);
    if (after != NULL)
        CHECK_EQ_INT(schema_diff(fresh, after, what), 0);
    check_records(&env, d);
    if (d->rows)
        check_rows(&env);
out:
    PQfinish(c);
    PQclear(before);
    PQclear(after);
    ts_teardown(&env);
}

int main(void)
{
    struct ts_env env, race;
    PGresult *fresh = NULL;
    long long version;
    int rc;

    memset(&race, 0, sizeof race);
    rc = ts_setup_ex(&env, "migrate", TS_NO_MIGRATE);
    if (rc != 0)
        goto out;
    rc = ts_setup_ex(&race, "migrate_race", TS_NO_MIGRATE);
    if (rc != 0)
        goto out;

    check_fresh_and_again(&env);
    fresh = schema_rows(&env);
    CHECK(fresh != NULL);
    check_concurrent(&race);
    check_changed_file_refused(&env);
    version = ts_sql_long(&race, "SELECT max(version) FROM tmdbq_schema_migrations");
    for (size_t i = 0; fresh != NULL && i < sizeof landed_dbs / sizeof landed_dbs[0]; i++)
        check_landed_db(&landed_dbs[i], fresh, version);
    rc = check_exit();
out:
    PQclear(fresh);
    ts_teardown(&race);
    ts_teardown(&env);
    return rc;
}
