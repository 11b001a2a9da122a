/*
 * db: PostgreSQL through libpq.
 *
 * Every statement is parameterised (PQexecParams; the consumer's per-operation statements
 * are prepared once per connection) except the migrations, which are trusted SQL embedded
 * at build time. Rows are read through one column list (OP_COLUMNS) and one parser
 * (db_row_to_op), so every command shows an operation the same way. Times are formatted
 * by PostgreSQL as ISO 8601 UTC, so C never converts time zones.
 */
#include "db.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "migrations.h"

#include "db_internal.h"

/* libpq's messages end with a newline; ours do not. Borrowed until the next call on conn.
 */
const char *db_conn_error(PGconn *conn)
{
    static _Thread_local char buf[512];
    const char *m = conn ? PQerrorMessage(conn) : "out of memory";
    size_t len;

    snprintf(buf, sizeof buf, "%s", m && *m ? m : "unknown error");
    len = strlen(buf);
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
        buf[--len] = '\0';
    /* libpq may say "connection to server at "h" (addr), port N failed: why": keep it. */
    return buf;
}

/* SQLSTATEs of a schema this program does not find: undefined_function, undefined_table,
 * undefined_column. */
static bool schema_missing(PGresult *res)
{
    const char *code = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

    return code != NULL && (strcmp(code, "42883") == 0 || strcmp(code, "42P01") == 0 ||
                            strcmp(code, "42703") == 0);
}

enum status db_result_error(PGconn *conn, PGresult *res, const char *what, struct err *e)
{
    const char *m = res ? PQresultErrorMessage(res) : NULL;
    char msg[400];
    size_t len;

    snprintf(msg, sizeof msg, "%s", m && *m ? m : db_conn_error(conn));
    len = strlen(msg);
    while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
        msg[--len] = '\0';
    /* The usual cause is a program newer than the database it was pointed at. The
     * primary message alone (without the statement excerpt) keeps the advice in view. */
    if (schema_missing(res)) {
        const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

        return err_set(e, ST_DB,
                       "could not %s: %.200s (the database schema is missing or older "
                       "than this program: run tmdbq migrate)",
                       what, primary != NULL ? primary : msg);
    }
    return err_set(e, ST_DB, "could not %s: %s", what, msg);
}

/* snprintf(dst, n, "%s", src) without the format machinery (rows are copied field by
 * field for every claim): at most n - 1 bytes, always terminated. */
static void copy_text(char *dst, size_t n, const char *src)
{
    size_t len = strnlen(src, n - 1);

    memcpy(dst, src, len);
    dst[len] = '\0';
}

/* res, a statement's answer: ST_OK when its status is want, and then *out (may be NULL)
 * receives it; otherwise the error, naming what. res is cleared unless handed out. */
static enum status take_result(struct db *db, PGresult *res, ExecStatusType want,
                               PGresult **out, const char *what, struct err *e)
{
    if (res == NULL || PQresultStatus(res) != want) {
        enum status st = db_result_error(db->conn, res, what, e);
        PQclear(res);
        return st;
    }
    if (out)
        *out = res;
    else
        PQclear(res);
    return ST_OK;
}

enum status db_exec_params(struct db *db, const char *sql, int n, const char *const *p,
                           ExecStatusType want, PGresult **out, const char *what,
                           struct err *e)
{
    return take_result(db, PQexecParams(db->conn, sql, n, NULL, p, NULL, NULL, 0), want,
                       out, what, e);
}

enum status db_query_value(struct db *db, const char *sql, int n, const char *const *p,
                           const char *what, char *buf, size_t size, struct err *e)
{
    PGresult *res = NULL;
    enum status st = db_exec_params(db, sql, n, p, PGRES_TUPLES_OK, &res, what, e);

    copy_text(buf, size,
              st == ST_OK && PQntuples(res) > 0 && PQnfields(res) > 0 &&
                      !PQgetisnull(res, 0, 0)
                  ? PQgetvalue(res, 0, 0)
                  : "");
    PQclear(res);
    return st;
}

/* Whether res (a statement's answer) has exactly one row; ST_DB naming what if not. */
static enum status one_row(PGresult *res, const char *what, struct err *e)
{
    if (PQntuples(res) != 1)
        return err_set(e, ST_DB, "could not %s: %d rows", what, PQntuples(res));
    return ST_OK;
}

enum status db_query_row(struct db *db, const char *sql, int n, const char *const *p,
                         PGresult **out, const char *what, struct err *e)
{
    PGresult *res = NULL;
    enum status st = db_exec_params(db, sql, n, p, PGRES_TUPLES_OK, &res, what, e);

    if (st == ST_OK)
        st = one_row(res, what, e);
    if (st != ST_OK) {
        PQclear(res);
        res = NULL;
    }
    *out = res;
    return st;
}

enum status db_exec_changed(struct db *db, const char *sql, int n, const char *const *p,
                            const char *what, bool *changed, struct err *e)
{
    PGresult *res = NULL;
    enum status st = db_exec_params(db, sql, n, p, PGRES_COMMAND_OK, &res, what, e);

    *changed = st == ST_OK && strcmp(PQcmdTuples(res), "0") != 0;
    PQclear(res);
    return st;
}

/* ---- prepared statements -------------------------------------------------------------
 */

/* The statements a consumer runs for every operation are prepared once per connection, on
 * first use: parse analysis and planning cost the backend about a quarter of its CPU for
 * a claim and a finish (bench: ~200 us of ~700 us per operation), the statements' text is
 * not sent again, and the plan is the same for every call. Parameter types come from the
 * casts in the text, as with PQexecParams. The bits of struct db's prepared field. */
enum db_stmt {
    STMT_CLAIM,
    STMT_FINISH,
    STMT_FINISH_CLAIM,
    STMT_MARK_PUBLISHED,
    STMT_COUNT
};

/* The function returns the claimed row as one composite column; expanding it under the
 * alias q lets OP_COLUMNS and db_row_to_op read it like any other row. A join back to the
 * table would not do: this statement's snapshot predates the function's update.
 *
 * A claim that succeeded commits without waiting for its WAL to reach the disk
 * (synchronous_commit off for this transaction only): what a crash of PostgreSQL can lose
 * of it is only the claim, so the operation is claimed again (its delivery was not acked:
 * the consumer acks only after the finish), a repeat inside the crash window the README
 * already allows. The finish that follows commits synchronously, and WAL is flushed in
 * order, so the finish's flush makes the claim durable too. Every other answer commits as
 * the session says, since the consumer acks those deliveries at once (a blocked claim's
 * hand-on mark must not be lost). */
#define CLAIM_SQL                                                                        \
    "SELECT c.result, c.wait_ms, c.next_ids::text, c.rescued, c.session_id, "            \
    "c.access_token, " OP_COLUMNS ", set_config('synchronous_commit', CASE c.result "    \
    "WHEN 'claimed' THEN 'off' ELSE current_setting('synchronous_commit') END, true) "   \
    "FROM tmdbq_claim($1::uuid, $2, $3::bigint, $4::integer) c, "                        \
    "LATERAL (SELECT (c.op).*) q"

static const struct {
    const char *name; /* the session-wide name of the prepared statement */
    const char *sql;
    int nparams;
} stmts[STMT_COUNT] = {
    [STMT_CLAIM] = {"tmdbq_db_claim", CLAIM_SQL, 4},
    [STMT_FINISH] = {"tmdbq_db_finish",
                     "SELECT recorded, next_ids::text FROM tmdbq_finish($1::uuid, $2, $3,"
                     " $4::jsonb, $5, $6, $7::bigint, $8::boolean)",
                     8},
    /* The finish's two columns, then the claim's as in CLAIM_SQL; $12 false commits
     * without waiting for the disk (see db_finish_claim). */
    [STMT_FINISH_CLAIM] =
        {"tmdbq_db_finish_claim",
         "SELECT c.recorded, c.finish_next_ids::text, c.result, c.wait_ms,"
         " c.next_ids::text, c.rescued, c.session_id, c.access_token, " OP_COLUMNS
         ", set_config('synchronous_commit', CASE WHEN $12::boolean"
         " THEN current_setting('synchronous_commit') ELSE 'off' END, true)"
         " FROM tmdbq_finish_claim($1::uuid, $2, $3, $4::jsonb,"
         " $5, $6, $7::bigint, $8::boolean, $9::uuid, $10::bigint,"
         " $11::integer) c, LATERAL (SELECT (c.op).*) q",
         12},
    /* updated_at stays: publishing is transport, not a change of the operation (see
     * tmdbq_mark_published, migration 010). The mark commits without waiting for the
     * disk: a crash of PostgreSQL that loses it only leaves the rows unpublished, and the
     * reaper's relay publishes them again (a second message, which finds its operation
     * claimed or done); the broker has the first already. */
    [STMT_MARK_PUBLISHED] = {"tmdbq_db_mark_published",
                             "SELECT tmdbq_mark_published($1::uuid[]),"
                             " set_config('synchronous_commit', 'off', true)",
                             1},
};

/* Whether res is the failure of a prepared statement that no longer stands for its text:
 * deallocated behind our back (DEALLOCATE or DISCARD ALL run on the session:
 * invalid_sql_statement_name), or what it reads changed shape since it was prepared
 * ("cached plan must not change result type": feature_not_supported). */
static bool stmt_stale(const PGresult *res)
{
    const char *code = PQresultErrorField(res, PG_DIAG_SQLSTATE);

    return code != NULL && (strcmp(code, "26000") == 0 || strcmp(code, "0A000") == 0);
}

/* db_exec_params for statement s, prepared on first use on this connection. A failed
 * prepare is reported like a failed statement (the same message: the server's analysis
 * finds the same faults) and tried again on the next call. A stale statement is dropped
 * and this call runs the text unprepared: the failed attempt changed nothing (its
 * transaction rolled back), and the next call prepares it again. */
static enum status db_exec_stmt(struct db *db, enum db_stmt s, const char *const *p,
                                ExecStatusType want, PGresult **out, const char *what,
                                struct err *e)
{
    unsigned bit = 1u << s;
    PGresult *res;
    enum status st;

    if ((db->prepared & bit) == 0) {
        res = PQprepare(db->conn, stmts[s].name, stmts[s].sql, stmts[s].nparams, NULL);
        st = take_result(db, res, PGRES_COMMAND_OK, NULL, what, e);
        if (st != ST_OK)
            return st;
        db->prepared |= bit;
    }
    res = PQexecPrepared(db->conn, stmts[s].name, stmts[s].nparams, p, NULL, NULL, 0);
    if (res != NULL && PQresultStatus(res) != want && stmt_stale(res)) {
        char sql[64];

        PQclear(res);
        db->prepared &= ~bit;
        /* An error here (it is gone already) changes nothing. */
        snprintf(sql, sizeof sql, "DEALLOCATE %s", stmts[s].name);
        PQclear(PQexec(db->conn, sql));
        return db_exec_params(db, stmts[s].sql, stmts[s].nparams, p, want, out, what, e);
    }
    return take_result(db, res, want, out, what, e);
}

/* Server notices (e.g. "relation already exists, skipping" from an idempotent migrate)
 * are expected chatter; warnings still reach the log at debug level. */
static void notice_to_log(void *arg, const char *message)
{
    size_t n = strlen(message);

    (void)arg;
    while (n > 0 && message[n - 1] == '\n')
        n--;
    log_debug("server notice: %.*s", (int)n, message);
}

enum status db_open(const char *url, int64_t timeout_ms, struct db **out, struct err *e)
{
    /* libpq processes the arrays in order and the last value of a key wins, the
     * expanded url (dbname) included: the keepalives before it are defaults url may
     * override; connect_timeout and application_name after it are ours. Keepalives make
     * a server that vanished (host down, network cut) an error within about 25 s instead
     * of a wait for the kernel's two hours. */
    const char *keys[] = {
        "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count",
        "dbname",     "connect_timeout", "application_name",    NULL};
    const char *vals[8];
    char timeout[32];
    struct db *db = NULL;
    enum status st = ST_OK;
    int64_t secs = (timeout_ms + 999) / 1000;

    *out = NULL;
    /* libpq's connect_timeout is whole seconds, and 1 is raised to 2 by libpq itself. */
    snprintf(timeout, sizeof timeout, "%" PRId64, secs < 1 ? 1 : secs);
    vals[0] = "1";
    vals[1] = "10";
    vals[2] = "5";
    vals[3] = "3";
    vals[4] = url;
    vals[5] = timeout;
    vals[6] = "tmdbq";
    vals[7] = NULL;

    db = calloc(1, sizeof *db);
    if (db == NULL)
        return err_set(e, ST_NOMEM, "out of memory");
    /* expand_dbname=1: url may be a URI or keyword string. */
    db->conn = PQconnectdbParams(keys, vals, 1);
    if (db->conn == NULL || PQstatus(db->conn) != CONNECTION_OK) {
        const char *host = db->conn ? PQhost(db->conn) : NULL;
        const char *port = db->conn ? PQport(db->conn) : NULL;
        st = err_set(e, ST_DB, "could not connect to PostgreSQL at %s:%s: %s",
                     host && *host ? host : "?", port && *port ? port : "?",
                     db_conn_error(db->conn));
        goto out;
    }
    PQsetNoticeProcessor(db->conn, notice_to_log, NULL);
    {
        /* Times are formatted in SQL; the session zone must not leak into them. */
        st = take_result(db, PQexec(db->conn, "SET TIME ZONE 'UTC'"), PGRES_COMMAND_OK,
                         NULL, "set the session time zone", e);
    }
out:
    if (st != ST_OK) {
        db_close(db);
        return st;
    }
    *out = db;
    return ST_OK;
}

void db_close(struct db *db)
{
    if (db == NULL)
        return;
    PQfinish(db->conn);
    free(db);
}

/* libpq's words for why a connection string does not parse, with every quoted fragment
 * longer than a character (which may be the whole string, password and all, or a piece
 * of a password) replaced by "...": the quoted "=" or "]" it expected stays. */
static void conninfo_reason(const char *msg, char *out, size_t n)
{
    size_t o = 0;
    const char *p = msg;

    while (*p != '\0' && o + 8 < n) {
        const char *close = *p == '"' ? strchr(p + 1, '"') : NULL;

        if (close != NULL) {
            if (close - p > 2)
                o += (size_t)snprintf(out + o, n - o, "\"...\"");
            else
                o += (size_t)snprintf(out + o, n - o, "%.*s", (int)(close + 1 - p), p);
            p = close + 1;
        } else if (*p == '\n') {
            p++;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
}

/* Whether v is a port list as libpq reads one: comma-separated, each empty (the default)
 * or a number from 1 to 65535. */
static bool ports_valid(const char *v)
{
    while (*v != '\0') {
        size_t len = strcspn(v, ",");
        long port = 0;

        for (size_t i = 0; i < len; i++) {
            if (v[i] < '0' || v[i] > '9' || port > 65535)
                return false;
            port = port * 10 + (v[i] - '0');
        }
        if (len > 0 && (port < 1 || port > 65535))
            return false;
        v += len;
        if (*v == ',')
            v++;
    }
    return true;
}

bool db_url_valid(const char *url, struct err *e)
{
    PQconninfoOption *opts = NULL, *o;
    char *why = NULL;
    char reason[256];
    bool ok = false;

    /* libpq's own test of whether dbname is to be expanded (db_open asks it to be). */
    if (url == NULL ||
        (strncmp(url, "postgresql://", 13) != 0 && strncmp(url, "postgres://", 11) != 0 &&
         strchr(url, '=') == NULL)) {
        err_set(e, ST_INVALID,
                "not a connection string (use a URI "
                "postgresql://user:password@host:port/dbname or key=value pairs)");
        return false;
    }
    opts = PQconninfoParse(url, &why);
    if (opts == NULL) {
        conninfo_reason(why != NULL ? why : "out of memory", reason, sizeof reason);
        err_set(e, ST_INVALID, "invalid connection string: %s", reason);
        goto out;
    }
    for (o = opts; o->keyword != NULL; o++) {
        if (strcmp(o->keyword, "port") == 0 && o->val != NULL && !ports_valid(o->val)) {
            /* Not quoted: in a URI that does not say what its author meant, the "port"
             * may be a piece of a password. */
            err_set(e, ST_INVALID,
                    "invalid connection string: the port is not a number from 1 to "
                    "65535");
            goto out;
        }
    }
    ok = true;
out:
    PQconninfoFree(opts);
    PQfreemem(why);
    return ok;
}

bool db_connected(const struct db *db)
{
    /* libpq turns the status to CONNECTION_BAD when a call finds the connection lost;
     * an SQL error leaves it CONNECTION_OK. */
    return db != NULL && db->conn != NULL && PQstatus(db->conn) != CONNECTION_BAD;
}

/* ---- migrations ----------------------------------------------------------------------
 */

enum status db_exec_simple(struct db *db, const char *sql, const char *what,
                           struct err *e)
{
    PGresult *res = PQexec(db->conn, sql);
    enum status st = ST_OK;

    if (res == NULL || (PQresultStatus(res) != PGRES_COMMAND_OK &&
                        PQresultStatus(res) != PGRES_TUPLES_OK))
        st = db_result_error(db->conn, res, what, e);
    PQclear(res);
    return st;
}

static enum status migration_checksum(struct db *db, const struct migration *m, char *out,
                                      size_t n, struct err *e)
{
    const char *p[1] = {m->sql};
    PGresult *res = NULL;
    enum status st =
        db_exec_params(db, "SELECT encode(sha256(convert_to($1, 'UTF8')), 'hex')", 1, p,
                       PGRES_TUPLES_OK, &res, "checksum a migration", e);
    if (st != ST_OK)
        return st;
    snprintf(out, n, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return ST_OK;
}

/* Whether recorded, the checksum the database holds for m, is that of a text of m that
 * landed: today's (sum) or one of the manifest's earlier ones. Such a database goes on: a
 * later migration (007) brings the schema of an earlier text forward. The record stays
 * as it is, saying which text ran. */
static bool migration_landed(const struct migration *m, const char *recorded,
                             const char *sum)
{
    if (strcmp(recorded, sum) == 0)
        return true;
    for (const char *const *x = m->earlier; x != NULL && *x != NULL; x++) {
        if (strcmp(recorded, *x) == 0) {
            log_debug("migration %s was applied from an earlier landed text", m->name);
            return true;
        }
    }
    return false;
}

/* Apply one migration and record it, in one transaction. */
static enum status migration_apply(struct db *db, const struct migration *m,
                                   const char *checksum, struct err *e)
{
    char version[16];
    const char *p[3] = {version, m->name, checksum};
    enum status st;

    snprintf(version, sizeof version, "%d", m->version);
    st = db_exec_simple(db, "BEGIN", "begin a migration", e);
    if (st != ST_OK)
        return st;
    st = db_exec_simple(db, m->sql, "apply a migration", e);
    if (st == ST_OK)
        st =
            db_exec_params(db,
                           "INSERT INTO tmdbq_schema_migrations (version, name, checksum)"
                           " VALUES ($1, $2, $3)",
                           3, p, PGRES_COMMAND_OK, NULL, "record a migration", e);
    if (st == ST_OK)
        st = db_exec_simple(db, "COMMIT", "commit a migration", e);
    if (st != ST_OK) {
        err_prefix(e, "migration %s", m->name);
        PQclear(PQexec(db->conn, "ROLLBACK"));
    }
    return st;
}

enum status db_migrate(struct db *db, int *applied, int *version, struct err *e)
{
    PGresult *res = NULL;
    enum status st;
    bool locked = false;
    int newest = 0;

    *applied = 0;
    *version = 0;
    /* Several `tmdbq migrate` may start at once (one per container): the first takes the
     * lock and applies, the others wait here and then find nothing to do. */
    st = db_exec_simple(db, "SELECT pg_advisory_lock(" DB_MIGRATE_LOCK ")",
                        "take the migration lock", e);
    if (st != ST_OK)
        goto out;
    locked = true;
    st = db_exec_simple(db,
                        "CREATE TABLE IF NOT EXISTS tmdbq_schema_migrations ("
                        " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                        " checksum TEXT NOT NULL,"
                        " applied_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW())",
                        "create the migrations table", e);
    if (st != ST_OK)
        goto out;
    st = db_exec_params(db, "SELECT version, name, checksum FROM tmdbq_schema_migrations",
                        0, NULL, PGRES_TUPLES_OK, &res, "read applied migrations", e);
    if (st != ST_OK)
        goto out;

    for (unsigned i = 0; i < migrations_count; i++) {
        const struct migration *m = &migrations[i];
        char sum[80];
        int row = -1;

        st = migration_checksum(db, m, sum, sizeof sum, e);
        if (st != ST_OK)
            goto out;
        for (int r = 0; r < PQntuples(res); r++) {
            if (strtol(PQgetvalue(res, r, 0), NULL, 10) == m->version)
                row = r;
        }
        if (row >= 0) {
            const char *was = PQgetvalue(res, row, 1);

            if (migration_landed(m, PQgetvalue(res, row, 2), sum))
                continue;
            /* A file renumbered after it ran elsewhere: the version's record names
             * another file, and saying which is the useful part. */
            if (strcmp(was, m->name) != 0)
                st = err_set(e, ST_DB,
                             "migration \"%s\" differs from the one applied as version "
                             "%d, \"%.100s\": applied migrations are never edited or "
                             "renumbered; add a new numbered file instead",
                             m->name, m->version, was);
            else
                st = err_set(
                    e, ST_DB,
                    "migration \"%s\" was changed after it was applied (its checksum "
                    "differs from the one recorded): applied migrations are never "
                    "edited; add a new numbered file instead",
                    m->name);
            goto out;
        }
        st = migration_apply(db, m, sum, e);
        if (st != ST_OK)
            goto out;
        log_info("applied migration %s", m->name);
        (*applied)++;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        int v = (int)strtol(PQgetvalue(res, r, 0), NULL, 10);
        if (v > newest)
            newest = v;
    }
    for (unsigned i = 0; i < migrations_count; i++) {
        if (migrations[i].version > newest)
            newest = migrations[i].version;
    }
    if (migrations_count > 0 && newest > migrations[migrations_count - 1].version)
        log_warn("the database schema (version %d) is newer than this program's (%d)",
                 newest, migrations[migrations_count - 1].version);
    *version = newest;
out:
    PQclear(res);
    if (locked)
        PQclear(PQexec(db->conn, "SELECT pg_advisory_unlock(" DB_MIGRATE_LOCK ")"));
    return st;
}

/* ---- rows ----------------------------------------------------------------------------
 */

char *db_dup_or_null(PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return NULL;
    return strdup(PQgetvalue(res, row, col));
}

void db_copy_time(char *dst, PGresult *res, int row, int col)
{
    copy_text(dst, OP_TIME_LEN,
              PQgetisnull(res, row, col) ? "" : PQgetvalue(res, row, col));
}

/* Parse row `row` of an OP_COLUMNS result starting at column `base` into o. */
enum status db_row_to_op(PGresult *res, int row, int base, struct op *o, struct err *e)
{
    memset(o, 0, sizeof *o);
    copy_text(o->id, sizeof o->id, PQgetvalue(res, row, base + COL_ID));
    if (!op_type_parse(PQgetvalue(res, row, base + COL_TYPE), &o->type) ||
        !op_status_parse(PQgetvalue(res, row, base + COL_STATUS), &o->status))
        return err_set(e, ST_DB, "operation %s has an unknown type or status", o->id);
    o->user_id = (int32_t)strtol(PQgetvalue(res, row, base + COL_USER), NULL, 10);
    o->list_id = (int32_t)strtol(PQgetvalue(res, row, base + COL_LIST), NULL, 10);
    o->retry_count = (int)strtol(PQgetvalue(res, row, base + COL_RETRY), NULL, 10);
    o->data_json = db_dup_or_null(res, row, base + COL_DATA);
    o->error_message = db_dup_or_null(res, row, base + COL_ERROR);
    o->result_json = db_dup_or_null(res, row, base + COL_RESULT);
    db_copy_time(o->last_retry_at, res, row, base + COL_LAST_RETRY);
    db_copy_time(o->scheduled_for, res, row, base + COL_SCHEDULED);
    db_copy_time(o->inserted_at, res, row, base + COL_INSERTED);
    db_copy_time(o->updated_at, res, row, base + COL_UPDATED);
    o->published = strcmp(PQgetvalue(res, row, base + COL_PUBLISHED), "t") == 0;
    if (o->data_json == NULL) {
        op_cleanup(o);
        return err_set(e, ST_NOMEM, "out of memory");
    }
    return ST_OK;
}

enum status db_rows_calloc(PGresult *res, size_t size, void **items, int *n,
                           struct err *e)
{
    *n = PQntuples(res);
    *items = NULL;
    if (*n <= 0)
        return ST_OK;
    *items = calloc((size_t)*n, size);
    if (*items == NULL) {
        *n = 0;
        return err_set(e, ST_NOMEM, "out of memory");
    }
    return ST_OK;
}

enum status db_rows_to_ops(PGresult *res, struct db_ops *out, struct err *e)
{
    int n;
    enum status st0 =
        db_rows_calloc(res, sizeof *out->items, (void **)&out->items, &n, e);

    out->n = 0;
    if (st0 != ST_OK)
        return st0;
    for (int r = 0; r < n; r++) {
        enum status st = db_row_to_op(res, r, 0, &out->items[r], e);
        if (st != ST_OK) {
            db_ops_free(out);
            return st;
        }
        out->n++;
    }
    return ST_OK;
}

enum status db_query_rows(struct db *db, const char *sql, int n, const char *const *p,
                          const char *what, size_t size, void **items, size_t *count,
                          bool (*from_row)(PGresult *res, int row, void *item),
                          struct err *e)
{
    PGresult *res = NULL;
    enum status st = db_exec_params(db, sql, n, p, PGRES_TUPLES_OK, &res, what, e);
    int rows = 0;

    *items = NULL;
    *count = 0;
    if (st == ST_OK)
        st = db_rows_calloc(res, size, items, &rows, e);
    for (int r = 0; r < rows && st == ST_OK; r++) {
        /* Counted before it is read, so that a row read in part is freed too. */
        (*count)++;
        if (!from_row(res, r, (char *)*items + (size_t)r * size))
            st = err_set(e, ST_NOMEM, "out of memory");
    }
    PQclear(res);
    return st;
}

enum status db_query_ops(struct db *db, const char *sql, int n, const char *const *p,
                         const char *what, struct db_ops *out, struct err *e)
{
    PGresult *res = NULL;
    enum status st = db_exec_params(db, sql, n, p, PGRES_TUPLES_OK, &res, what, e);

    out->items = NULL;
    out->n = 0;
    if (st != ST_OK)
        return st;
    st = db_rows_to_ops(res, out, e);
    PQclear(res);
    return st;
}

void db_ops_free(struct db_ops *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++)
        op_cleanup(&l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

/* ---- enqueue -------------------------------------------------------------------------
 */

/* A growable string for the batch's JSON array and the id array. */
struct buf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        char *p;
        while (cap < b->len + n + 1)
            cap *= 2;
        p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s) { buf_add(b, s, strlen(s)); }

enum status db_enqueue(struct db *db, const struct op_request *reqs, size_t n,
                       struct op *ops, bool *dup, struct err *e)
{
    struct buf batch = {0};
    const char **got = NULL;
    char *ids = NULL;
    PGresult *res = NULL;
    enum status st = ST_OK;
    char num[64];
    const char *p[1];
    size_t filled = 0;

    if (n == 0)
        return ST_OK;
    /* The requests were validated by codec: type names are fixed words, ids are integers
     * and data_json is canonical JSON, so plain concatenation builds valid JSON. */
    buf_str(&batch, "[");
    for (size_t i = 0; i < n; i++) {
        snprintf(num, sizeof num,
                 "%s{\"type\":\"%s\",\"user\":%" PRId32 ",\"list\":", i ? "," : "",
                 op_type_name(reqs[i].type), reqs[i].user_id);
        buf_str(&batch, num);
        if (reqs[i].list_id > 0) {
            snprintf(num, sizeof num, "%" PRId32, reqs[i].list_id);
            buf_str(&batch, num);
        } else {
            buf_str(&batch, "null");
        }
        buf_str(&batch, ",\"data\":");
        buf_str(&batch, reqs[i].data_json);
        buf_str(&batch, "}");
    }
    buf_str(&batch, "]");
    if (batch.oom) {
        st = err_set(e, ST_NOMEM, "out of memory");
        goto out;
    }

    p[0] = batch.p;
    st = db_exec_params(
        db,
        "SELECT ord, op_id::text, duplicate FROM tmdbq_enqueue_batch($1::jsonb)"
        " ORDER BY ord",
        1, p, PGRES_TUPLES_OK, &res, "enqueue operations", e);
    if (st != ST_OK)
        goto out;
    if ((size_t)PQntuples(res) != n) {
        st = err_set(e, ST_DB,
                     "could not enqueue operations: %d results for %zu operations",
                     PQntuples(res), n);
        goto out;
    }
    got = calloc(n, sizeof *got);
    if (got == NULL) {
        st = err_set(e, ST_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        dup[i] = strcmp(PQgetvalue(res, (int)i, 2), "t") == 0;
        got[i] = PQgetvalue(res, (int)i, 1);
    }
    st = db_id_array(got, n, &ids, e);
    PQclear(res);
    res = NULL;
    if (st != ST_OK)
        goto out;

    /* A second statement: the function's own statement could not see its inserts. The
     * ordinality keeps the input order, and a duplicate inside the batch appears twice.
     */
    p[0] = ids;
    st = db_exec_params(db,
                        "SELECT " OP_COLUMNS
                        " FROM unnest($1::uuid[]) WITH ORDINALITY AS u(id, n)"
                        " JOIN queued_list_operations q ON q.id = u.id ORDER BY u.n",
                        1, p, PGRES_TUPLES_OK, &res, "read enqueued operations", e);
    if (st != ST_OK)
        goto out;
    if ((size_t)PQntuples(res) != n) {
        st = err_set(e, ST_DB, "could not read enqueued operations: %d rows for %zu",
                     PQntuples(res), n);
        goto out;
    }
    for (; filled < n; filled++) {
        st = db_row_to_op(res, (int)filled, 0, &ops[filled], e);
        if (st != ST_OK)
            goto out;
    }
out:
    if (st != ST_OK) {
        for (size_t i = 0; i < filled; i++)
            op_cleanup(&ops[i]);
    }
    PQclear(res);
    free(batch.p);
    free(got);
    free(ids);
    return st;
}

enum status db_mark_published(struct db *db, const char *const *ids, size_t n,
                              struct err *e)
{
    char *arr;
    const char *p[1];
    enum status st;

    if (n == 0)
        return ST_OK;
    st = db_id_array(ids, n, &arr, e);
    if (st != ST_OK)
        return st;
    p[0] = arr;
    st = db_exec_stmt(db, STMT_MARK_PUBLISHED, p, PGRES_TUPLES_OK, NULL,
                      "mark operations published", e);
    free(arr);
    return st;
}

/* ---- inspection ----------------------------------------------------------------------
 */

enum status db_get_op(struct db *db, const char *id, struct op *out, struct err *e)
{
    const char *p[1] = {id};
    PGresult *res = NULL;
    enum status st;

    st = db_exec_params(
        db, "SELECT " OP_COLUMNS " FROM queued_list_operations q WHERE q.id = $1", 1, p,
        PGRES_TUPLES_OK, &res, "read the operation", e);
    if (st != ST_OK)
        return st;
    if (PQntuples(res) == 0)
        st = err_set(e, ST_NOT_FOUND, "no operation with id \"%s\"", id);
    else
        st = db_row_to_op(res, 0, 0, out, e);
    PQclear(res);
    return st;
}

enum status db_stats(struct db *db, struct db_stats *out, struct err *e)
{
    PGresult *res = NULL;
    enum status st;

    memset(out, 0, sizeof *out);
    st = db_exec_params(
        db, "SELECT status, count(*) FROM queued_list_operations GROUP BY status", 0,
        NULL, PGRES_TUPLES_OK, &res, "count operations", e);
    if (st != ST_OK)
        return st;
    for (int r = 0; r < PQntuples(res); r++) {
        enum op_status s;
        int64_t c = strtoll(PQgetvalue(res, r, 1), NULL, 10);
        if (op_status_parse(PQgetvalue(res, r, 0), &s))
            out->count[s] = c;
        out->total += c;
    }
    PQclear(res);
    return ST_OK;
}

enum status db_list_pending(struct db *db, int32_t user_id, struct db_ops *out,
                            struct err *e)
{
    return db_query_user_ops(db,
                             "SELECT " OP_COLUMNS " FROM queued_list_operations q"
                             " WHERE q.tmdb_user_id = $1"
                             " AND q.status IN ('pending', 'processing') ORDER BY q.seq",
                             user_id, "list pending operations", out, e);
}

enum status db_list_failed(struct db *db, int limit, struct db_ops *out, struct err *e)
{
    char lim[16];
    const char *p[1] = {lim};

    snprintf(lim, sizeof lim, "%d", limit);
    return db_query_ops(
        db,
        "SELECT " OP_COLUMNS " FROM queued_list_operations q"
        " WHERE q.status = 'failed' ORDER BY q.updated_at DESC, q.seq DESC LIMIT $1",
        1, p, "list failed operations", out, e);
}

/* ---- credentials ---------------------------------------------------------------------
 */

enum status db_session_set(struct db *db, int32_t user_id, const char *session_id,
                           const char *access_token, struct err *e)
{
    char user[16];
    const char *p[3] = {user, session_id, access_token};

    snprintf(user, sizeof user, "%" PRId32, user_id);
    return db_exec_params(
        db,
        "INSERT INTO tmdb_user_credentials (tmdb_user_id, session_id, access_token)"
        " VALUES ($1, $2, $3) ON CONFLICT (tmdb_user_id) DO UPDATE"
        " SET session_id = EXCLUDED.session_id,"
        " access_token = EXCLUDED.access_token, updated_at = now()",
        3, p, PGRES_COMMAND_OK, NULL, "store TMDB credentials", e);
}

enum status db_session_rm(struct db *db, int32_t user_id, struct err *e)
{
    char user[16];
    const char *p[1] = {user};
    bool removed;
    enum status st;

    snprintf(user, sizeof user, "%" PRId32, user_id);
    st = db_exec_changed(db, "DELETE FROM tmdb_user_credentials WHERE tmdb_user_id = $1",
                         1, p, "remove TMDB credentials", &removed, e);
    if (st == ST_OK && !removed)
        st = err_set(e, ST_NOT_FOUND, "no TMDB credentials for user %" PRId32, user_id);
    return st;
}

enum status db_exec_ids(struct db *db, const char *sql, const char *const *ids, size_t n,
                        PGresult **out, const char *what, struct err *e)
{
    const char *p[1];
    char *arr;
    enum status st = db_id_array(ids, n, &arr, e);

    *out = NULL;
    if (st != ST_OK)
        return st;
    p[0] = arr;
    st = db_exec_params(db, sql, 1, p, PGRES_TUPLES_OK, out, what, e);
    free(arr);
    return st;
}

enum status db_query_user_ops(struct db *db, const char *sql, int32_t user_id,
                              const char *what, struct db_ops *out, struct err *e)
{
    char user[16];
    const char *p[1] = {user};

    snprintf(user, sizeof user, "%" PRId32, user_id);
    return db_query_ops(db, sql, 1, p, what, out, e);
}

/* ---- consumer side -------------------------------------------------------------------
 */

/* Copy a uuid column (or "" for NULL) into a caller's 37-byte buffer. */
void db_copy_id(char *dst, PGresult *res, int row, int col)
{
    copy_text(dst, 37, PQgetisnull(res, row, col) ? "" : PQgetvalue(res, row, col));
}

enum status db_id_array(const char *const *ids, size_t n, char **out, struct err *e)
{
    size_t cap = n * 37 + 3, len = 0;
    char *s;

    *out = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!op_id_valid(ids[i]))
            return err_set(e, ST_INVALID, "\"%.40s\" is not an operation id (a UUID)",
                           ids[i]);
    }
    s = malloc(cap);
    if (s == NULL)
        return err_set(e, ST_NOMEM, "out of memory");
    s[len++] = '{';
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            s[len++] = ',';
        memcpy(s + len, ids[i], 36);
        len += 36;
    }
    s[len++] = '}';
    s[len] = '\0';
    *out = s;
    return ST_OK;
}

void db_copy_handon(struct db_handon *h, PGresult *res, int row, int col)
{
    const char *p = PQgetisnull(res, row, col) ? "" : PQgetvalue(res, row, col);

    /* A uuid[] as text: {} or {id,id,...}; uuids are never quoted. */
    h->n = 0;
    if (*p == '{')
        p++;
    while (h->n < DB_HANDON_MAX && strlen(p) >= 36) {
        char *id = h->ids[h->n];

        memcpy(id, p, 36);
        id[36] = '\0';
        if (!op_id_valid(id))
            break;
        h->n++;
        p += 36;
        if (*p == ',')
            p++;
    }
}

void db_claim_cleanup(struct db_claim *c)
{
    if (c == NULL)
        return;
    op_cleanup(&c->op);
    free(c->session_id);
    free(c->access_token);
    memset(c, 0, sizeof *c);
}

enum status db_schema_has(struct db *db, const char *condition, const char *who,
                          const char *what, struct err *e)
{
    char sql[1024], look[128], has[8];
    enum status st;

    snprintf(sql, sizeof sql, "SELECT %s", condition);
    snprintf(look, sizeof look, "look for the %s's schema", who);
    st = db_query_value(db, sql, 0, NULL, look, has, sizeof has, e);
    if (st == ST_OK && strcmp(has, "t") != 0)
        st = err_set(
            e, ST_NOT_FOUND,
            "the database lacks the %s's schema (%s is missing): run tmdbq migrate", who,
            what);
    return st;
}

enum status db_consumer_schema_check(struct db *db, struct err *e)
{
    return db_schema_has(
        db,
        "to_regprocedure('tmdbq_claim(uuid, text, bigint, integer)') IS NOT NULL"
        " AND to_regprocedure('tmdbq_finish(uuid, text, text, jsonb, text, text, bigint,"
        " boolean)') IS NOT NULL"
        " AND to_regprocedure('tmdbq_rate_lease(text, double precision,"
        " double precision, integer, bigint, integer, integer, bigint)') IS NOT NULL"
        " AND EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name ="
        " 'tmdbq_consumers' AND column_name = 'amqp_node'"
        " AND table_schema = current_schema())"
        " AND to_regprocedure('tmdbq_finish_claim(uuid, text, text, jsonb, text, text,"
        " bigint, boolean, uuid, bigint, integer)') IS NOT NULL",
        "consumer",
        "tmdbq_claim, tmdbq_finish or tmdbq_rate_lease of migration 008, "
        "tmdbq_consumers.amqp_node of migration 012, or tmdbq_finish_claim of migration "
        "014",
        e);
}

static const struct {
    const char *name;
    enum db_claim_result result;
} claim_results[] = {
    {"claimed", DB_CLAIMED},       {"gone", DB_CLAIM_GONE},
    {"unknown", DB_CLAIM_UNKNOWN}, {"early", DB_CLAIM_EARLY},
    {"blocked", DB_CLAIM_BLOCKED}, {"leased", DB_CLAIM_LEASED},
    {"paused", DB_CLAIM_PAUSED},   {"abandoned", DB_CLAIM_ABANDONED},
};

const char *db_claim_result_name(enum db_claim_result r)
{
    for (size_t i = 0; i < sizeof claim_results / sizeof claim_results[0]; i++) {
        if (claim_results[i].result == r)
            return claim_results[i].name;
    }
    return "?";
}

/* Columns of the claim query before OP_COLUMNS, from its first. */
enum { CL_RESULT, CL_WAIT, CL_NEXT, CL_RESCUED, CL_SESSION, CL_TOKEN, CL_OP };

/* The claim's parameters (lease and retries into the caller's buffers), ST_INVALID for
 * what db_claim refuses without asking. */
static enum status claim_params(const char *id, int64_t lease_ms, int max_retries,
                                char *lease, size_t lease_size, char *retries,
                                size_t retries_size, struct err *e)
{
    if (!op_id_valid(id))
        return err_set(e, ST_INVALID, "cannot claim \"%.40s\": not an operation id", id);
    if (lease_ms < 1 || max_retries < 0)
        return err_set(e, ST_INVALID,
                       "cannot claim %s: lease %" PRId64 " ms, max retries %d", id,
                       lease_ms, max_retries);
    snprintf(lease, lease_size, "%" PRId64, lease_ms);
    snprintf(retries, retries_size, "%d", max_retries);
    return ST_OK;
}

/* The claim's answer from row 0 of res, its columns from base on, into a. */
static enum status claim_from_row(PGresult *res, int base, struct db_claim_answer *a,
                                  struct err *e)
{
    const char *name = PQgetvalue(res, 0, base + CL_RESULT);
    struct db_claim *out = &a->claim;
    enum status st;
    size_t i;

    for (i = 0; i < sizeof claim_results / sizeof claim_results[0]; i++) {
        if (strcmp(name, claim_results[i].name) == 0)
            break;
    }
    if (i == sizeof claim_results / sizeof claim_results[0])
        return err_set(e, ST_DB, "could not claim the operation: unknown result \"%s\"",
                       name);
    switch (claim_results[i].result) {
    case DB_CLAIMED:
        /* Should a copy fail, the row stays claimed but unheld: its lease runs out and it
         * is rescued, as if this consumer had died. */
        st = db_row_to_op(res, 0, base + CL_OP, &out->op, e);
        if (st != ST_OK)
            return st;
        out->session_id = db_dup_or_null(res, 0, base + CL_SESSION);
        out->access_token = db_dup_or_null(res, 0, base + CL_TOKEN);
        out->rescued = strcmp(PQgetvalue(res, 0, base + CL_RESCUED), "t") == 0;
        if ((out->session_id == NULL && !PQgetisnull(res, 0, base + CL_SESSION)) ||
            (out->access_token == NULL && !PQgetisnull(res, 0, base + CL_TOKEN))) {
            db_claim_cleanup(out);
            return err_set(e, ST_NOMEM, "out of memory");
        }
        break;
    case DB_CLAIM_LEASED:
    case DB_CLAIM_EARLY:
        a->wait_ms = strtoll(PQgetvalue(res, 0, base + CL_WAIT), NULL, 10);
        if (a->wait_ms < 1)
            a->wait_ms = 1;
        break;
    case DB_CLAIM_ABANDONED:
    case DB_CLAIM_GONE:
        db_copy_handon(&a->next, res, 0, base + CL_NEXT);
        break;
    default:
        break;
    }
    a->result = claim_results[i].result;
    return ST_OK;
}

static void claim_answer_init(struct db_claim_answer *a)
{
    memset(&a->claim, 0, sizeof a->claim);
    a->result = DB_CLAIM_GONE;
    a->wait_ms = 0;
    a->next.n = 0;
}

enum status db_claim(struct db *db, const char *id, const char *consumer_id,
                     int64_t lease_ms, int max_retries, enum db_claim_result *result,
                     struct db_claim *out, int64_t *wait_ms, struct db_handon *next,
                     struct err *e)
{
    char lease[32], retries[16];
    const char *p[4] = {id, consumer_id, lease, retries};
    struct db_claim_answer a;
    PGresult *res = NULL;
    enum status st;

    claim_answer_init(&a);
    st = claim_params(id, lease_ms, max_retries, lease, sizeof lease, retries,
                      sizeof retries, e);
    if (st == ST_OK)
        st = db_exec_stmt(db, STMT_CLAIM, p, PGRES_TUPLES_OK, &res, "claim the operation",
                          e);
    if (st == ST_OK)
        st = one_row(res, "claim the operation", e);
    if (st == ST_OK)
        st = claim_from_row(res, 0, &a, e);
    PQclear(res);
    *out = a.claim;
    *result = st == ST_OK ? a.result : DB_CLAIM_GONE;
    *wait_ms = st == ST_OK ? a.wait_ms : 0;
    *next = a.next;
    if (st != ST_OK)
        next->n = 0;
    return st;
}

static bool error_kind_valid(const char *k)
{
    static const char *const kinds[] = {"transient", "permanent", "credentials",
                                        "deployment", "rate_limit"};

    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (strcmp(k, kinds[i]) == 0)
            return true;
    }
    return false;
}

/* The finish's eight parameters into p (delay: the caller's buffer), ST_INVALID for what
 * db_finish refuses without asking. */
static enum status finish_params(const char *id, const char *consumer_id,
                                 const struct db_outcome *o, const char **p, char *delay,
                                 size_t delay_size, struct err *e)
{
    const char *kind;

    if (!op_id_valid(id))
        return err_set(e, ST_INVALID, "cannot finish \"%.40s\": not an operation id", id);
    switch (o->kind) {
    case DB_OUT_COMPLETED:
        kind = "completed";
        break;
    case DB_OUT_FAILED:
        kind = "failed";
        break;
    case DB_OUT_RETRY:
        kind = "retry";
        break;
    default:
        return err_set(e, ST_INVALID, "cannot finish %s: unknown outcome %d", id,
                       (int)o->kind);
    }
    if (o->kind != DB_OUT_COMPLETED && o->error_kind != NULL &&
        !error_kind_valid(o->error_kind))
        return err_set(e, ST_INVALID, "cannot finish %s: unknown error kind \"%.40s\"",
                       id, o->error_kind);
    snprintf(delay, delay_size, "%" PRId64, o->kind == DB_OUT_RETRY ? o->delay_ms : 0);
    p[0] = id;
    p[1] = consumer_id;
    p[2] = kind;
    p[3] = o->kind == DB_OUT_COMPLETED ? o->result_json : NULL;
    p[4] = o->kind == DB_OUT_COMPLETED ? NULL : o->error_message;
    p[5] = o->kind == DB_OUT_COMPLETED ? NULL : o->error_kind;
    p[6] = delay;
    p[7] = o->kind == DB_OUT_RETRY && !o->count_retry ? "f" : "t";
    return ST_OK;
}

enum status db_finish(struct db *db, const char *id, const char *consumer_id,
                      const struct db_outcome *o, bool *recorded, struct db_handon *next,
                      struct err *e)
{
    char delay[32];
    const char *p[8];
    PGresult *res = NULL;
    enum status st;

    *recorded = false;
    next->n = 0;
    st = finish_params(id, consumer_id, o, p, delay, sizeof delay, e);
    if (st != ST_OK)
        return st;
    st = db_exec_stmt(db, STMT_FINISH, p, PGRES_TUPLES_OK, &res, "record the outcome", e);
    if (st != ST_OK)
        return st;
    st = one_row(res, "record the outcome", e);
    if (st == ST_OK) {
        *recorded = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        db_copy_handon(next, res, 0, 1);
    }
    PQclear(res);
    return st;
}

enum status db_finish_claim(struct db *db, const char *id, const char *consumer_id,
                            const struct db_outcome *o, bool *recorded,
                            struct db_handon *next, const char *next_id, int64_t lease_ms,
                            int max_retries, bool durable, struct db_claim_answer *claim,
                            struct err *e)
{
    char delay[32], lease[32], retries[16];
    const char *p[12];
    PGresult *res = NULL;
    enum status st;

    *recorded = false;
    next->n = 0;
    claim_answer_init(claim);
    st = finish_params(id, consumer_id, o, p, delay, sizeof delay, e);
    if (st == ST_OK)
        st = claim_params(next_id, lease_ms, max_retries, lease, sizeof lease, retries,
                          sizeof retries, e);
    if (st != ST_OK)
        return st;
    p[8] = next_id;
    p[9] = lease;
    p[10] = retries;
    p[11] = durable ? "t" : "f";
    st = db_exec_stmt(db, STMT_FINISH_CLAIM, p, PGRES_TUPLES_OK, &res,
                      "record the outcome and claim the next operation", e);
    if (st == ST_OK)
        st = one_row(res, "record the outcome and claim the next operation", e);
    /* Past here the transaction committed: the finish stands whatever the claim's
     * copy says (a failed copy leaves the claim unheld, see claim_from_row). */
    if (st == ST_OK) {
        *recorded = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        db_copy_handon(next, res, 0, 1);
        if (claim_from_row(res, 2, claim, e) != ST_OK) {
            db_claim_cleanup(&claim->claim);
            claim_answer_init(claim);
            claim->result = DB_CLAIM_GONE;
        }
    }
    PQclear(res);
    return st;
}

/* ---- consumer registry and control ---------------------------------------------------
 */

enum status db_consumer_register(struct db *db, const char *consumer_id, const char *host,
                                 int pid, const char *node, struct err *e)
{
    char pidtext[16];
    const char *p[4] = {consumer_id, host, pidtext, node};

    snprintf(pidtext, sizeof pidtext, "%d", pid);
    /* A restarted consumer may reuse its id: the row then describes the new process. */
    return db_exec_params(
        db,
        "INSERT INTO tmdbq_consumers (consumer_id, host, pid, amqp_node)"
        " VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (consumer_id) DO UPDATE SET host = EXCLUDED.host,"
        " pid = EXCLUDED.pid, amqp_node = EXCLUDED.amqp_node, started_at = now(),"
        " last_seen_at = now(), processed = 0, failed = 0, in_flight = 0",
        4, p, PGRES_COMMAND_OK, NULL, "register the consumer", e);
}

enum status db_consumer_heartbeat(struct db *db, const char *consumer_id,
                                  int64_t processed, int64_t failed, int in_flight,
                                  const char *node, struct err *e)
{
    char proc[32], fail[32], infl[16];
    const char *p[5] = {consumer_id, proc, fail, infl, node};
    bool found;
    enum status st;

    snprintf(proc, sizeof proc, "%" PRId64, processed);
    snprintf(fail, sizeof fail, "%" PRId64, failed);
    snprintf(infl, sizeof infl, "%d", in_flight);
    st =
        db_exec_changed(db,
                        "UPDATE tmdbq_consumers SET last_seen_at = now(), processed = $2,"
                        " failed = $3, in_flight = $4, amqp_node = $5"
                        " WHERE consumer_id = $1",
                        5, p, "record the consumer's heartbeat", &found, e);
    if (st == ST_OK && !found)
        st = err_set(e, ST_NOT_FOUND, "consumer \"%s\" is not registered", consumer_id);
    return st;
}

enum status db_consumer_unregister(struct db *db, const char *consumer_id, struct err *e)
{
    const char *p[1] = {consumer_id};

    return db_exec_params(db, "DELETE FROM tmdbq_consumers WHERE consumer_id = $1", 1, p,
                          PGRES_COMMAND_OK, NULL, "unregister the consumer", e);
}

enum status db_is_paused(struct db *db, bool *paused, struct err *e)
{
    char v[8];
    enum status st =
        db_query_value(db, "SELECT coalesce((SELECT paused FROM tmdbq_control), false)",
                       0, NULL, "read the pause switch", v, sizeof v, e);

    *paused = strcmp(v, "t") == 0;
    return st;
}

void db_items_free(void **items, size_t *n)
{
    free(*items);
    *items = NULL;
    *n = 0;
}

void db_ids_free(struct db_ids *l)
{
    if (l != NULL)
        db_items_free((void **)&l->ids, &l->n);
}

enum status db_rows_to_ids(PGresult *res, struct db_ids *out, struct err *e)
{
    int n;
    enum status st = db_rows_calloc(res, sizeof *out->ids, (void **)&out->ids, &n, e);

    for (int r = 0; r < n; r++)
        db_copy_id(out->ids[r], res, r, 0);
    out->n = (size_t)n;
    return st;
}

enum status db_retry_credential_failures(struct db *db, int32_t user_id,
                                         struct db_ids *out, struct err *e)
{
    char user[16];
    const char *p[1] = {user};
    PGresult *res = NULL;
    enum status st;

    out->ids = NULL;
    out->n = 0;
    snprintf(user, sizeof user, "%" PRId32, user_id);
    st = db_exec_params(
        db, "SELECT id::text FROM tmdbq_retry_credentials($1::integer) id", 1, p,
        PGRES_TUPLES_OK, &res, "retry the user's credential failures", e);
    if (st != ST_OK)
        return st;
    /* Committed already: should this run out of memory, the reaper's relay publishes the
     * unpublished rows. */
    st = db_rows_to_ids(res, out, e);
    PQclear(res);
    return st;
}
