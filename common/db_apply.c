/*
 * db_apply: the SQL of `tmdbq apply` (see db_apply.h for the contract).
 *
 * tmdbq_apply_begin returns the row as one composite column, expanded under the alias q
 * (as db_control does) so that OP_COLUMNS and db_row_to_op read it like any other row.
 */
#include "db_apply.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_internal.h"

enum status db_apply_begin(struct db *db, const struct op_request *req,
                           const char *consumer_id, int64_t lease_ms,
                           enum db_apply_start *how, struct db_claim *out, struct err *e)
{
    char user[16], list[16], lease[24];
    const char *p[6] = {op_type_name(req->type), user,        list,
                        req->data_json,          consumer_id, lease};
    PGresult *res = NULL;
    const char *outcome, *why;
    enum status st;

    memset(out, 0, sizeof *out);
    *how = DB_APPLY_QUEUED_BUSY;
    if (lease_ms < 1 || consumer_id == NULL || consumer_id[0] == '\0')
        return err_set(e, ST_INVALID,
                       "apply: the lease must be positive and the consumer "
                       "id not empty");
    snprintf(user, sizeof user, "%" PRId32, req->user_id);
    snprintf(list, sizeof list, "%" PRId32, req->list_id);
    snprintf(lease, sizeof lease, "%" PRId64, lease_ms);
    st = db_query_row(db,
                      "SELECT a.outcome, a.why, a.user_session, a.user_token, " OP_COLUMNS
                      " FROM tmdbq_apply_begin($1, $2::integer, nullif($3::integer, 0),"
                      " $4::jsonb, $5, $6::bigint) a, LATERAL (SELECT (a.op).*) q",
                      6, p, &res, "start the apply", e);
    if (st != ST_OK)
        return st;
    outcome = PQgetvalue(res, 0, 0);
    why = PQgetvalue(res, 0, 1);
    if (strcmp(outcome, "direct") == 0)
        *how = DB_APPLY_DIRECT;
    else if (strcmp(outcome, "duplicate") == 0)
        *how = DB_APPLY_DUPLICATE;
    else if (strcmp(outcome, "queued") == 0)
        *how = strcmp(why, "paused") == 0 ? DB_APPLY_QUEUED_PAUSED : DB_APPLY_QUEUED_BUSY;
    else {
        st = err_set(e, ST_DB, "could not start the apply: unknown outcome \"%s\"",
                     outcome);
        goto out;
    }
    st = db_row_to_op(res, 0, 4, &out->op, e);
    if (st != ST_OK)
        goto out;
    out->session_id = db_dup_or_null(res, 0, 2);
    out->access_token = db_dup_or_null(res, 0, 3);
    if ((out->session_id == NULL && !PQgetisnull(res, 0, 2)) ||
        (out->access_token == NULL && !PQgetisnull(res, 0, 3))) {
        db_claim_cleanup(out);
        st = err_set(e, ST_NOMEM, "out of memory");
    }
out:
    PQclear(res);
    return st;
}
