/*
 * db_history: the last hour of the queue, minute by minute, in one statement (see
 * db_history.h).
 *
 * Each source is read by a range on its own index, bounded below by the window's first
 * minute, so the cost follows the rows of the last hour, not the table: finished rows by
 * the partial indexes on updated_at of migration 002 (the status conditions are written
 * as those indexes' predicates, so the planner can use them), pending rows by (status,
 * inserted_at), rate buckets by their time. The 60 minutes come from generate_series, so
 * a quiet minute is a row of zeros rather than a gap.
 */
#include "db_history.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_internal.h"

/* The window's first minute, as an expression of now() (stable within the statement). */
#define FIRST_MINUTE "date_trunc('minute', now()) - interval '59 minutes'"
#define MINUTE_ISO ISO("minutes.m")
#define NOW_ISO ISO("now()")

static const char history_sql[] =
    "WITH minutes AS ("
    "  SELECT generate_series(" FIRST_MINUTE ", date_trunc('minute', now()),"
    "                         interval '1 minute') AS m),"
    " finished AS ("
    "  SELECT date_trunc('minute', q.updated_at) AS m, q.status"
    "    FROM queued_list_operations q"
    "   WHERE q.status IN ('completed', 'cancelled') AND q.updated_at >= " FIRST_MINUTE
    "  UNION ALL"
    "  SELECT date_trunc('minute', q.updated_at), q.status"
    "    FROM queued_list_operations q"
    "   WHERE q.status = 'failed' AND q.updated_at >= " FIRST_MINUTE "),"
    " ops AS ("
    "  SELECT f.m, count(*) FILTER (WHERE f.status = 'completed') AS completed,"
    "         count(*) FILTER (WHERE f.status = 'cancelled') AS cancelled,"
    "         count(*) FILTER (WHERE f.status = 'failed') AS failed"
    "    FROM finished f GROUP BY f.m),"
    " rate AS ("
    "  SELECT date_trunc('minute', s.bucket) AS m, sum(s.requests) AS requests,"
    "         sum(s.limited) AS limited"
    "    FROM tmdbq_rate_stats s WHERE s.bucket >= " FIRST_MINUTE " GROUP BY 1)"
    " SELECT " MINUTE_ISO ", coalesce(ops.completed, 0), coalesce(ops.cancelled, 0),"
    "        coalesce(ops.failed, 0), coalesce(rate.requests, 0),"
    "        coalesce(rate.limited, 0), " NOW_ISO ","
    "        (SELECT extract(epoch FROM now() - min(p.inserted_at))::float8"
    "           FROM queued_list_operations p WHERE p.status = 'pending')"
    "   FROM minutes LEFT JOIN ops ON ops.m = minutes.m"
    "   LEFT JOIN rate ON rate.m = minutes.m"
    "  ORDER BY minutes.m";

/* A count column; the statement never yields NULL or text that is not a number. */
static int64_t count_at(PGresult *res, int row, int col)
{
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

enum status db_history_read(struct db *db, struct db_history *out, struct err *e)
{
    PGresult *res = NULL;
    enum status st;
    int rows;

    memset(out, 0, sizeof *out);
    st = db_exec_params(db, history_sql, 0, NULL, PGRES_TUPLES_OK, &res,
                        "read the last hour of the queue", e);
    if (st != ST_OK)
        return st;
    /* now() is fixed for the statement, so generate_series gives exactly 60 rows. */
    rows = PQntuples(res);
    if (rows > DB_HISTORY_MINUTES)
        rows = DB_HISTORY_MINUTES;
    for (int r = 0; r < rows; r++) {
        struct db_history_minute *m = &out->minutes[r];

        db_copy_time(m->minute, res, r, 0);
        m->completed = count_at(res, r, 1);
        m->cancelled = count_at(res, r, 2);
        m->failed = count_at(res, r, 3);
        m->requests = count_at(res, r, 4);
        m->limited = count_at(res, r, 5);
    }
    out->n = (size_t)rows;
    if (rows > 0) {
        db_copy_time(out->now, res, 0, 6);
        if (!PQgetisnull(res, 0, 7)) {
            out->any_pending = true;
            /* A row stamped with clock_timestamp() after this statement's now() would
             * be a few milliseconds younger than nothing. */
            out->oldest_pending_age_s = strtod(PQgetvalue(res, 0, 7), NULL);
            if (out->oldest_pending_age_s < 0)
                out->oldest_pending_age_s = 0;
        }
    }
    PQclear(res);
    return ST_OK;
}
