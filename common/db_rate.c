/*
 * db_rate: the TMDB request budget's statements (migration 008): lease request slots of a
 * scope, report requests and 429s, hold a claimed row through a rate-limit cool-down, and
 * read every scope's budget for `tmdbq status`.
 *
 * Each call is one statement, one round trip. A lease serves several TMDB requests (see
 * rate.c), so the budget costs the database a fraction of a statement per request.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "db_internal.h"

enum status db_rate_lease(struct db *db, const struct db_rate_ask *a,
                          struct db_rate_grant *out, struct err *e)
{
    char rate[32], iv[32], want[16], horizon[32], sent[16], limited[16], cool[32];
    const char *p[8] = {a->scope, rate, iv, want, horizon, sent, limited, cool};
    PGresult *res = NULL;
    enum status st;

    memset(out, 0, sizeof *out);
    if (a->scope == NULL || a->scope[0] == '\0' || a->rate <= 0 || a->interval_ms <= 0 ||
        a->want < 0)
        return err_set(e, ST_INVALID, "cannot lease TMDB request slots: bad arguments");
    snprintf(rate, sizeof rate, "%.6f", a->rate);
    snprintf(iv, sizeof iv, "%.6f", a->interval_ms);
    snprintf(want, sizeof want, "%d", a->want);
    snprintf(horizon, sizeof horizon, "%" PRId64, a->horizon_ms);
    snprintf(sent, sizeof sent, "%d", a->sent);
    snprintf(limited, sizeof limited, "%d", a->limited);
    snprintf(cool, sizeof cool, "%" PRId64, a->cooldown_ms);
    st = db_query_row(db,
                      "SELECT granted, first_ms, wait_ms, cooldown_ms FROM"
                      " tmdbq_rate_lease($1, $2::float8, $3::float8, $4::integer,"
                      " $5::bigint, $6::integer, $7::integer, $8::bigint)",
                      8, p, &res, "lease TMDB request slots", e);
    if (st != ST_OK)
        return st;
    out->granted = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
    out->first_ms = strtod(PQgetvalue(res, 0, 1), NULL);
    out->wait_ms = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
    out->cooldown_ms = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
    PQclear(res);
    return ST_OK;
}

enum status db_hold(struct db *db, const char *id, const char *consumer_id,
                    int64_t lease_ms, const char *message, bool *held, struct err *e)
{
    char lease[32], v[8];
    const char *p[4] = {id, consumer_id, lease, message};
    enum status st;

    *held = false;
    if (!op_id_valid(id) || lease_ms < 1)
        return err_set(e, ST_INVALID, "cannot hold \"%.40s\": bad arguments", id);
    snprintf(lease, sizeof lease, "%" PRId64, lease_ms);
    st = db_query_value(db, "SELECT tmdbq_hold($1::uuid, $2, $3::bigint, $4)", 4, p,
                        "hold the operation", v, sizeof v, e);
    *held = strcmp(v, "t") == 0;
    return st;
}

void db_rate_scopes_free(struct db_rate_scopes *l)
{
    if (l != NULL)
        db_items_free((void **)&l->items, &l->n);
}

static bool rate_scope_from_row(PGresult *res, int r, void *item)
{
    struct db_rate_scope *it = item;

    snprintf(it->scope, sizeof it->scope, "%s", PQgetvalue(res, r, 0));
    it->rate = strtod(PQgetvalue(res, r, 1), NULL);
    it->sent_per_s = strtod(PQgetvalue(res, r, 2), NULL);
    it->requests_1m = strtoll(PQgetvalue(res, r, 3), NULL, 10);
    it->limited_1m = strtoll(PQgetvalue(res, r, 4), NULL, 10);
    db_copy_time(it->cooldown_until, res, r, 5);
    db_copy_time(it->seen_at, res, r, 6);
    return true;
}

enum status db_rate_status(struct db *db, struct db_rate_scopes *out, struct err *e)
{
    return db_query_rows(
        db,
        "SELECT scope, rate, sent_per_s, requests_1m, limited_1m, " ISO(
            "cooldown_until") ", " ISO("seen_at") " FROM tmdbq_rate_status()",
        0, NULL, "read the TMDB request budget", sizeof *out->items, (void **)&out->items,
        &out->n, rate_scope_from_row, e);
}
