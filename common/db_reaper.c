/*
 * db_reaper: the reaper's SQL (see db_reaper.h). The statements that change operations
 * are calls of migration 004's functions, which take the lists' advisory locks; what is
 * left here is the registry, the leader's lock and the plumbing of ids.
 */
#include "db_reaper.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_internal.h"

enum status db_reaper_schema_check(struct db *db, struct err *e)
{
    return db_schema_has(
        db,
        "to_regprocedure('tmdbq_rescue_expired(text, integer, integer)') IS NOT NULL"
        " AND to_regprocedure('tmdbq_relay_unpublished(bigint, bigint, integer)')"
        " IS NOT NULL AND to_regprocedure('tmdbq_cleanup_batch(bigint, integer)')"
        " IS NOT NULL AND to_regclass('tmdbq_reapers') IS NOT NULL",
        "reaper", "tmdbq_rescue_expired, tmdbq_relay_unpublished or tmdbq_cleanup_batch",
        e);
}

enum status db_reaper_session_limits(struct db *db, int64_t lock_timeout_ms,
                                     int64_t statement_timeout_ms, struct err *e)
{
    char lock[32], stmt[32];
    const char *p[2] = {lock, stmt};

    snprintf(lock, sizeof lock, "%" PRId64, lock_timeout_ms);
    snprintf(stmt, sizeof stmt, "%" PRId64, statement_timeout_ms);
    /* set_config takes parameters, SET does not; false: for the session. The server's
     * TCP keepalives matter for the leader: its session lock is freed only when the
     * server notices the connection is gone, which by the kernel's default takes two
     * hours if the leader's host vanished; with these, about a minute. */
    return db_exec_params(db,
                          "SELECT set_config('lock_timeout', $1, false),"
                          " set_config('statement_timeout', $2, false),"
                          " set_config('tcp_keepalives_idle', '30', false),"
                          " set_config('tcp_keepalives_interval', '10', false),"
                          " set_config('tcp_keepalives_count', '3', false)",
                          2, p, PGRES_TUPLES_OK, NULL, "bound the session's waits", e);
}

/* ---- leadership and registry ------------------------------------------------------- */

enum status db_reaper_register(struct db *db, const char *reaper_id, const char *host,
                               int pid, struct err *e)
{
    char pidtext[16];
    const char *p[3] = {reaper_id, host, pidtext};

    snprintf(pidtext, sizeof pidtext, "%d", pid);
    /* A restarted reaper may reuse its id (same host, a recycled pid): the row then
     * describes the new process; its last sweep and cleanup stay for the record. */
    return db_exec_params(
        db,
        "INSERT INTO tmdbq_reapers (reaper_id, host, pid) VALUES ($1, $2, $3)"
        " ON CONFLICT (reaper_id) DO UPDATE SET host = EXCLUDED.host,"
        " pid = EXCLUDED.pid, started_at = now(), last_seen_at = now(),"
        " is_leader = false",
        3, p, PGRES_COMMAND_OK, NULL, "register the reaper", e);
}

enum status db_reaper_try_lead(struct db *db, bool *leader, struct err *e)
{
    char v[8];
    enum status st =
        db_query_value(db, "SELECT pg_try_advisory_lock(" DB_REAPER_LEADER_KEY ")", 0,
                       NULL, "try the reaper leader's lock", v, sizeof v, e);

    *leader = strcmp(v, "t") == 0;
    return st;
}

enum status db_reaper_heartbeat(struct db *db, const char *reaper_id, bool leader,
                                struct err *e)
{
    const char *p[2] = {reaper_id, leader ? "t" : "f"};
    PGresult *res = NULL;
    bool found = false;
    enum status st;

    /* One statement: the leader's own row and everyone else's flag together. */
    st = db_exec_params(
        db,
        "UPDATE tmdbq_reapers SET"
        " last_seen_at = CASE WHEN reaper_id = $1 THEN now() ELSE last_seen_at END,"
        " is_leader = CASE WHEN reaper_id = $1 THEN $2::boolean ELSE false END"
        " WHERE reaper_id = $1 OR ($2::boolean AND is_leader)"
        " RETURNING reaper_id = $1",
        2, p, PGRES_TUPLES_OK, &res, "record the reaper's heartbeat", e);
    if (st != ST_OK)
        return st;
    for (int r = 0; r < PQntuples(res); r++)
        found = found || strcmp(PQgetvalue(res, r, 0), "t") == 0;
    PQclear(res);
    if (!found)
        return err_set(e, ST_NOT_FOUND, "reaper \"%s\" is not registered", reaper_id);
    return ST_OK;
}

enum status db_reaper_retire(struct db *db, const char *reaper_id, struct err *e)
{
    const char *p[1] = {reaper_id};

    return db_exec_params(
        db, "UPDATE tmdbq_reapers SET is_leader = false WHERE reaper_id = $1", 1, p,
        PGRES_COMMAND_OK, NULL, "leave the reaper registry", e);
}

enum status db_reaper_record_sweep(struct db *db, const char *reaper_id,
                                   const char *sweep_json, bool cleaned, struct err *e)
{
    const char *p[3] = {reaper_id, sweep_json, cleaned ? "t" : "f"};

    return db_exec_params(
        db,
        "UPDATE tmdbq_reapers SET last_sweep_at = now(), last_sweep = $2::jsonb,"
        " last_seen_at = now(),"
        " last_cleanup_at = CASE WHEN $3::boolean THEN now() ELSE last_cleanup_at END"
        " WHERE reaper_id = $1",
        3, p, PGRES_COMMAND_OK, NULL, "record the sweep", e);
}

enum status db_reaper_cleanup_age(struct db *db, int64_t *age_ms, struct err *e)
{
    char v[32];
    enum status st =
        db_query_value(db,
                       "SELECT floor(extract(epoch FROM now()"
                       " - max(last_cleanup_at)) * 1000)::bigint"
                       " FROM tmdbq_reapers",
                       0, NULL, "read the last cleanup's time", v, sizeof v, e);

    *age_ms = -1;
    if (v[0] != '\0') {
        *age_ms = strtoll(v, NULL, 10);
        if (*age_ms < 0) /* another server's clock: treat as just done */
            *age_ms = 0;
    }
    return st;
}

enum status db_reaper_purge_registry(struct db *db, const char *reaper_id,
                                     int64_t stale_ms, int64_t *consumers,
                                     int64_t *reapers, struct err *e)
{
    char stale[32];
    const char *p[2] = {stale, reaper_id};
    PGresult *res = NULL;
    enum status st;

    *consumers = 0;
    *reapers = 0;
    snprintf(stale, sizeof stale, "%" PRId64, stale_ms);
    st =
        db_exec_params(db,
                       "WITH c AS (DELETE FROM tmdbq_consumers WHERE last_seen_at"
                       " < now() - $1::bigint * INTERVAL '1 millisecond' RETURNING 1),"
                       " r AS (DELETE FROM tmdbq_reapers WHERE reaper_id <> $2"
                       " AND last_seen_at < now() - $1::bigint * INTERVAL '1 millisecond'"
                       " RETURNING 1)"
                       " SELECT (SELECT count(*) FROM c), (SELECT count(*) FROM r)",
                       2, p, PGRES_TUPLES_OK, &res, "purge the registries", e);
    if (st != ST_OK)
        return st;
    if (PQntuples(res) == 1) {
        *consumers = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        *reapers = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    }
    PQclear(res);
    return ST_OK;
}

/* ---- rescue ------------------------------------------------------------------------ */

void db_rescue_items_free(struct db_rescue_items *l)
{
    if (l != NULL)
        db_items_free((void **)&l->items, &l->n);
}

static bool rescue_from_row(PGresult *res, int r, void *item)
{
    struct db_rescue_item *it = item;

    db_copy_id(it->id, res, r, 0);
    it->abandoned = strcmp(PQgetvalue(res, r, 1), "abandoned") == 0;
    db_copy_handon(&it->next, res, r, 2);
    return true;
}

enum status db_reaper_rescue(struct db *db, const char *reaper_id, int max_retries,
                             int limit, struct db_rescue_items *out, struct err *e)
{
    char retries[16], lim[16];
    const char *p[3] = {reaper_id, retries, lim};

    out->items = NULL;
    out->n = 0;
    if (max_retries < 0 || limit < 1)
        return err_set(e, ST_INVALID, "cannot rescue: max retries %d, limit %d",
                       max_retries, limit);
    snprintf(retries, sizeof retries, "%d", max_retries);
    snprintf(lim, sizeof lim, "%d", limit);
    /* Committed already: should the rows not fit in memory, they wait unpublished for
     * the relay. */
    return db_query_rows(db,
                         "SELECT op_id::text, outcome, next_ids::text"
                         " FROM tmdbq_rescue_expired($1, $2::integer, $3::integer)",
                         3, p, "rescue expired leases", sizeof *out->items,
                         (void **)&out->items, &out->n, rescue_from_row, e);
}

/* ---- relay ------------------------------------------------------------------------- */

enum status db_reaper_relay_candidates(struct db *db, enum db_relay_kind kind,
                                       int64_t after_seq, int64_t age_ms, int limit,
                                       struct db_ids *out, int64_t *last_seq,
                                       struct err *e)
{
    char after[32], age[32], lim[16];
    const char *p[3] = {after, age, lim};
    const char *sql;
    PGresult *res = NULL;
    enum status st;

    out->ids = NULL;
    out->n = 0;
    *last_seq = after_seq;
    if (limit < 1)
        return err_set(e, ST_INVALID, "cannot look for relay work: limit %d", limit);
    switch (kind) {
    case DB_RELAY_UNPUBLISHED:
        sql = "SELECT op_id::text, op_seq FROM tmdbq_relay_unpublished($1::bigint,"
              " $2::bigint, $3::integer)";
        break;
    case DB_RELAY_OVERDUE:
        sql = "SELECT op_id::text, op_seq FROM tmdbq_relay_overdue($1::bigint,"
              " $2::bigint, $3::integer)";
        break;
    default:
        return err_set(e, ST_INVALID, "unknown relay kind %d", (int)kind);
    }
    snprintf(after, sizeof after, "%" PRId64, after_seq);
    snprintf(age, sizeof age, "%" PRId64, age_ms);
    snprintf(lim, sizeof lim, "%d", limit);
    st = db_exec_params(db, sql, 3, p, PGRES_TUPLES_OK, &res, "look for relay work", e);
    if (st != ST_OK)
        return st;
    st = db_rows_to_ids(res, out, e);
    if (out->n > 0)
        *last_seq = strtoll(PQgetvalue(res, (int)out->n - 1, 1), NULL, 10);
    PQclear(res);
    return st;
}

/* ---- cleanup ----------------------------------------------------------------------- */

enum status db_reaper_cleanup_batch(struct db *db, int64_t retention_ms, int limit,
                                    int64_t *deleted, struct err *e)
{
    char retention[32], lim[16], v[32];
    const char *p[2] = {retention, lim};
    enum status st;

    *deleted = 0;
    if (retention_ms < 0 || limit < 1)
        return err_set(e, ST_INVALID,
                       "cannot clean up: retention %" PRId64 " ms, limit %d",
                       retention_ms, limit);
    snprintf(retention, sizeof retention, "%" PRId64, retention_ms);
    snprintf(lim, sizeof lim, "%d", limit);
    st = db_query_value(db, "SELECT tmdbq_cleanup_batch($1::bigint, $2::integer)", 2, p,
                        "delete old finished operations", v, sizeof v, e);
    *deleted = strtoll(v, NULL, 10);
    return st;
}
