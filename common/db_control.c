/*
 * db_control: the SQL of `tmdbq retry`, `cancel`, `process`, `pause`, `resume` and
 * `status` (see db_control.h for the contracts).
 *
 * The functions of migration 005 return the changed row as one composite column; it is
 * expanded under the alias q (LATERAL (SELECT (c.op).*) q), so OP_COLUMNS and
 * db_row_to_op read it like any other row. A join back to the table would not do: the
 * statement's snapshot predates the function's update.
 */
#include "db_control.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_internal.h"

/* An operation-changing function of migration 005: the statement that calls it, and the
 * words of its refusal. */
struct change {
    const char *sql;   /* outcome, next_ids (a cancel's hand-on only), OP_COLUMNS; $1
                          is the operation's id */
    const char *verb;  /* "retried", "cancelled", "processed now" */
    const char *needs; /* the status it needs */
};

static const struct change retry = {
    .sql = "SELECT c.outcome, " OP_COLUMNS " FROM tmdbq_retry_op($1::uuid) c,"
           " LATERAL (SELECT (c.op).*) q",
    .verb = "retried",
    .needs = "failed",
};

static const struct change cancel = {
    .sql = "SELECT c.outcome, c.next_ids::text, " OP_COLUMNS
           " FROM tmdbq_cancel_op($1::uuid) c, LATERAL (SELECT (c.op).*) q",
    .verb = "cancelled",
    .needs = "pending or failed",
};

static const struct change process = {
    .sql = "SELECT c.outcome, " OP_COLUMNS " FROM tmdbq_process_op($1::uuid) c,"
           " LATERAL (SELECT (c.op).*) q",
    .verb = "processed now",
    .needs = "pending",
};

/* Read row 0 of a tmdbq_*_op result: outcome in column 0, OP_COLUMNS from column base. */
static enum status change_result(PGresult *res, int base, const char *id,
                                 const struct change *c, struct op *out, struct err *e)
{
    const char *outcome;
    enum status st;

    if (PQntuples(res) != 1)
        return err_set(e, ST_DB, "could not change operation %s: %d rows", id,
                       PQntuples(res));
    outcome = PQgetvalue(res, 0, 0);
    if (strcmp(outcome, "unknown") == 0)
        return err_set(e, ST_NOT_FOUND, "no operation with id \"%s\"", id);
    st = db_row_to_op(res, 0, base, out, e);
    if (st != ST_OK)
        return st;
    if (strcmp(outcome, "refused") == 0) {
        st = err_set(e, ST_CONFLICT, "operation %s is %s; only a %s operation can be %s",
                     id, op_status_name(out->status), c->needs, c->verb);
        op_cleanup(out);
        return st;
    }
    if (strcmp(outcome, "done") != 0) {
        op_cleanup(out);
        return err_set(e, ST_DB, "could not change operation %s: unknown outcome \"%s\"",
                       id, outcome);
    }
    return ST_OK;
}

/* Run change c on operation id; next (a cancel's) gets the operations it hands on to. */
static enum status change_op(struct db *db, const struct change *c, const char *id,
                             struct op *out, struct db_handon *next, struct err *e)
{
    const char *p[1] = {id};
    PGresult *res = NULL;
    enum status st;

    memset(out, 0, sizeof *out);
    if (next != NULL)
        next->n = 0;
    if (id == NULL || !op_id_valid(id))
        return err_set(e, ST_INVALID, "\"%.40s\" is not an operation id (a UUID)",
                       id ? id : "");
    st = db_exec_params(db, c->sql, 1, p, PGRES_TUPLES_OK, &res, "change the operation",
                        e);
    if (st != ST_OK)
        return st;
    st = change_result(res, next != NULL ? 2 : 1, id, c, out, e);
    if (st == ST_OK && next != NULL)
        db_copy_handon(next, res, 0, 1);
    PQclear(res);
    return st;
}

enum status db_retry_op(struct db *db, const char *id, struct op *out, struct err *e)
{
    return change_op(db, &retry, id, out, NULL, e);
}

enum status db_cancel_op(struct db *db, const char *id, struct op *out,
                         struct db_handon *next, struct err *e)
{
    return change_op(db, &cancel, id, out, next, e);
}

enum status db_process_op(struct db *db, const char *id, struct op *out, struct err *e)
{
    return change_op(db, &process, id, out, NULL, e);
}

enum status db_process_user(struct db *db, int32_t user_id, struct db_ops *out,
                            struct err *e)
{
    return db_query_user_ops(db,
                             "SELECT " OP_COLUMNS
                             " FROM tmdbq_process_user($1::integer) q"
                             " ORDER BY q.seq",
                             user_id, "process the user's operations", out, e);
}

enum status db_list_due(struct db *db, struct db_ops *out, struct err *e)
{
    return db_query_ops(db,
                        "SELECT " OP_COLUMNS " FROM queued_list_operations q"
                        " WHERE q.status = 'pending'"
                        " AND (q.scheduled_for IS NULL OR q.scheduled_for <= now())"
                        " ORDER BY q.seq",
                        0, NULL, "list due operations", out, e);
}

enum status db_get_ops(struct db *db, const char *const *ids, size_t n,
                       struct db_ops *out, struct err *e)
{
    PGresult *res;
    enum status st;

    out->items = NULL;
    out->n = 0;
    if (n == 0)
        return ST_OK;
    st = db_exec_ids(db,
                     "SELECT " OP_COLUMNS " FROM queued_list_operations q"
                     " WHERE q.id = ANY ($1::uuid[]) ORDER BY q.seq",
                     ids, n, &res, "read the operations", e);
    if (st == ST_OK)
        st = db_rows_to_ops(res, out, e);
    PQclear(res);
    return st;
}

enum status db_count_active(struct db *db, const char *const *ids, size_t n,
                            int64_t *active, struct err *e)
{
    PGresult *res;
    enum status st;

    *active = 0;
    if (n == 0)
        return ST_OK;
    st = db_exec_ids(db,
                     "SELECT count(*) FROM queued_list_operations q"
                     " WHERE q.id = ANY ($1::uuid[])"
                     " AND q.status IN ('pending', 'processing')",
                     ids, n, &res, "count the active operations", e);
    if (st == ST_OK)
        *active = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return st;
}

/* ---- pause ----------------------------------------------------------------------------
 */

/* The pause switch's row from sql (columns: paused, since (ISO), age in seconds,
 * changed) into out. set: sql sets the switch, and its row must come back; else no row
 * leaves out all false. */
static enum status pause_read(struct db *db, const char *sql, int n, const char *const *p,
                              const char *what, bool set, struct db_pause_state *out,
                              struct err *e)
{
    PGresult *res = NULL;
    enum status st;

    memset(out, 0, sizeof *out);
    st = db_exec_params(db, sql, n, p, PGRES_TUPLES_OK, &res, what, e);
    if (st != ST_OK)
        return st;
    if (PQntuples(res) == 1) {
        out->paused = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        db_copy_time(out->since, res, 0, 1);
        out->age_s = PQgetisnull(res, 0, 2) ? 0 : strtod(PQgetvalue(res, 0, 2), NULL);
        out->changed = strcmp(PQgetvalue(res, 0, 3), "t") == 0;
    } else if (set) {
        st = err_set(e, ST_DB, "could not set the pause switch: %d rows", PQntuples(res));
    }
    PQclear(res);
    return st;
}

enum status db_set_paused(struct db *db, bool paused, struct db_pause_state *out,
                          struct err *e)
{
    const char *p[1] = {paused ? "t" : "f"};

    return pause_read(
        db,
        "SELECT s.outcome_paused, " ISO(
            "s.outcome_since") ","
                               " extract(epoch FROM now() - s.outcome_since),"
                               " s.outcome_changed FROM tmdbq_set_paused($1::boolean) s",
        1, p, paused ? "pause the queue" : "resume the queue", true, out, e);
}

enum status db_pause_state(struct db *db, struct db_pause_state *out, struct err *e)
{
    /* The row always exists (migration 002 makes it); should it not, the queue runs, as
     * tmdbq_claim and db_is_paused assume. */
    return pause_read(
        db,
        "SELECT c.paused, " ISO(
            "c.changed_at") ","
                            " extract(epoch FROM now() - c.changed_at), false"
                            " FROM tmdbq_control c WHERE c.id",
        0, NULL, "read the pause switch", false, out, e);
}

/* ---- registries ----------------------------------------------------------------------
 */

/* The columns both registries start with ($1 is the liveness window in ms), in the order
 * process_from_row reads them, then the table's own from column PROCESS_NCOLS.
 * clang-format would break the macro arguments apart, so these few lines are left as
 * written. */
/* clang-format off */
#define PROCESS_COLUMNS(t, id)                                                           \
    t "." id ", " t ".host, " t ".pid, " ISO(t ".started_at") ", "                        \
    ISO(t ".last_seen_at") ", extract(epoch FROM now() - " t ".last_seen_at), "           \
    t ".last_seen_at > now() - $1::bigint * interval '1 millisecond' AS live"
#define CONSUMER_COLUMNS                                                                 \
    PROCESS_COLUMNS("c", "consumer_id") ", c.processed, c.failed, c.in_flight, "     \
    "c.amqp_node"
#define REAPER_COLUMNS                                                                   \
    PROCESS_COLUMNS("r", "reaper_id") ", r.is_leader, " ISO("r.last_sweep_at") ", "      \
    "r.last_sweep::text, " ISO("r.last_cleanup_at")
/* clang-format on */
#define PROCESS_NCOLS 7

/* Row r's PROCESS_COLUMNS into p; false when out of memory (p then holds what it got). */
static bool process_from_row(PGresult *res, int r, struct db_process *p)
{
    p->id = db_dup_or_null(res, r, 0);
    p->host = db_dup_or_null(res, r, 1);
    p->pid = (int)strtol(PQgetvalue(res, r, 2), NULL, 10);
    db_copy_time(p->started_at, res, r, 3);
    db_copy_time(p->last_seen_at, res, r, 4);
    p->last_seen_age_s = strtod(PQgetvalue(res, r, 5), NULL);
    p->live = strcmp(PQgetvalue(res, r, 6), "t") == 0;
    return p->id != NULL && p->host != NULL;
}

/* A column that may be NULL, copied; false when out of memory. */
static bool dup_nullable(PGresult *res, int r, int col, char **out)
{
    *out = db_dup_or_null(res, r, col);
    return *out != NULL || PQgetisnull(res, r, col);
}

static bool consumer_from_row(PGresult *res, int r, void *item)
{
    struct db_consumer_row *c = item;
    bool ok = process_from_row(res, r, &c->proc);

    c->processed = strtoll(PQgetvalue(res, r, PROCESS_NCOLS), NULL, 10);
    c->failed = strtoll(PQgetvalue(res, r, PROCESS_NCOLS + 1), NULL, 10);
    c->in_flight = (int)strtol(PQgetvalue(res, r, PROCESS_NCOLS + 2), NULL, 10);
    return dup_nullable(res, r, PROCESS_NCOLS + 3, &c->amqp_node) && ok;
}

static void consumer_cleanup(void *item)
{
    struct db_consumer_row *c = item;

    free(c->amqp_node);
}

static bool reaper_from_row(PGresult *res, int r, void *item)
{
    struct db_reaper_row *x = item;
    bool ok = process_from_row(res, r, &x->proc);

    x->leader = strcmp(PQgetvalue(res, r, PROCESS_NCOLS), "t") == 0;
    db_copy_time(x->last_sweep_at, res, r, PROCESS_NCOLS + 1);
    db_copy_time(x->last_cleanup_at, res, r, PROCESS_NCOLS + 3);
    return dup_nullable(res, r, PROCESS_NCOLS + 2, &x->last_sweep_json) && ok;
}

static void reaper_cleanup(void *item)
{
    struct db_reaper_row *x = item;

    free(x->last_sweep_json);
}

/* A registry and its rows' type, which starts with struct db_process. */
struct registry {
    const char *sql;  /* PROCESS_COLUMNS first; $1 is the liveness window in ms */
    const char *what; /* for "could not <what>" */
    size_t size;      /* of a row */
    /* Row r into item; false when out of memory. */
    bool (*from_row)(PGresult *res, int r, void *item);
    /* Free what item owns beyond its struct db_process. */
    void (*cleanup)(void *item);
};

static const struct registry consumers = {
    .sql = "SELECT " CONSUMER_COLUMNS " FROM tmdbq_consumers c"
           " ORDER BY live DESC, c.host, c.consumer_id",
    .what = "list the consumers",
    .size = sizeof(struct db_consumer_row),
    .from_row = consumer_from_row,
    .cleanup = consumer_cleanup,
};

static const struct registry reapers = {
    .sql = "SELECT " REAPER_COLUMNS " FROM tmdbq_reapers r"
           " ORDER BY r.is_leader DESC, r.last_seen_at DESC, r.reaper_id",
    .what = "list the reapers",
    .size = sizeof(struct db_reaper_row),
    .from_row = reaper_from_row,
    .cleanup = reaper_cleanup,
};

/* Free the n rows of *items and empty the list. */
static void registry_free(const struct registry *reg, void **items, size_t *n)
{
    for (size_t i = 0; i < *n; i++) {
        struct db_process *p = (struct db_process *)((char *)*items + i * reg->size);

        free(p->id);
        free(p->host);
        reg->cleanup(p);
    }
    db_items_free(items, n);
}

/* reg's rows into *items and *n; on failure the list is empty. */
static enum status registry_list(struct db *db, const struct registry *reg,
                                 int64_t live_ms, void **items, size_t *n, struct err *e)
{
    char live[32];
    const char *p[1] = {live};
    enum status st;

    snprintf(live, sizeof live, "%" PRId64, live_ms);
    st = db_query_rows(db, reg->sql, 1, p, reg->what, reg->size, items, n, reg->from_row,
                       e);
    if (st != ST_OK)
        registry_free(reg, items, n);
    return st;
}

void db_consumers_free(struct db_consumers *l)
{
    if (l != NULL)
        registry_free(&consumers, (void **)&l->items, &l->n);
}

void db_reapers_free(struct db_reapers *l)
{
    if (l != NULL)
        registry_free(&reapers, (void **)&l->items, &l->n);
}

enum status db_list_consumers(struct db *db, int64_t live_ms, struct db_consumers *out,
                              struct err *e)
{
    return registry_list(db, &consumers, live_ms, (void **)&out->items, &out->n, e);
}

enum status db_list_reapers(struct db *db, int64_t live_ms, struct db_reapers *out,
                            struct err *e)
{
    return registry_list(db, &reapers, live_ms, (void **)&out->items, &out->n, e);
}
