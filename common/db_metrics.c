/*
 * db_metrics: the SQL of the metrics (migration 009) and of what /metrics and /healthz
 * read. Counters are sent as three array parameters of one function call, so a flush of
 * any size is one statement and one round trip.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_internal.h"
#include "metrics.h"

/* Append s to the growing buffer *buf (length *len, capacity *cap). false on OOM. */
static bool buf_append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t want = (*cap == 0 ? 256 : *cap * 2);
        char *p;

        while (want < *len + n + 1)
            want *= 2;
        p = realloc(*buf, want);
        if (p == NULL)
            return false;
        *buf = p;
        *cap = want;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
    return true;
}

/* Close the array literal in buf (ok: everything before went in): buf, or NULL (buf
 * freed) when anything ran out of memory. */
static char *array_end(char *buf, size_t len, size_t cap, bool ok)
{
    if (ok)
        ok = buf_append(&buf, &len, &cap, "}", 1);
    if (!ok) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* A text[] literal of the n strings: {"a","b\"c"}, each element quoted, so any text
 * (commas, braces, quotes, NULL-looking words) arrives as it is. */
static char *text_array(const char *const *v, size_t n)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    bool ok = buf_append(&buf, &len, &cap, "{", 1);

    for (size_t i = 0; ok && i < n; i++) {
        ok = buf_append(&buf, &len, &cap, i == 0 ? "\"" : ",\"", i == 0 ? 1 : 2);
        for (const char *s = v[i]; ok && *s; s++) {
            if (*s == '"' || *s == '\\')
                ok = buf_append(&buf, &len, &cap, "\\", 1);
            if (ok)
                ok = buf_append(&buf, &len, &cap, s, 1);
        }
        if (ok)
            ok = buf_append(&buf, &len, &cap, "\"", 1);
    }
    return array_end(buf, len, cap, ok);
}

static char *bigint_array(const int64_t *v, size_t n)
{
    char *buf = NULL, num[32];
    size_t len = 0, cap = 0;
    bool ok = buf_append(&buf, &len, &cap, "{", 1);

    for (size_t i = 0; ok && i < n; i++) {
        int k = snprintf(num, sizeof num, "%s%" PRId64, i == 0 ? "" : ",", v[i]);
        ok = buf_append(&buf, &len, &cap, num, (size_t)k);
    }
    return array_end(buf, len, cap, ok);
}

enum status db_metrics_add(struct db *db, const char *const *names,
                           const char *const *labels, const int64_t *deltas, size_t n,
                           struct err *e)
{
    char *p[3] = {NULL, NULL, NULL};
    enum status st;

    if (n == 0)
        return ST_OK;
    for (size_t i = 0; i < n; i++) {
        if (names[i] == NULL || names[i][0] == '\0' || labels[i] == NULL || deltas[i] < 0)
            return err_set(e, ST_INVALID,
                           "metrics: counter %zu needs a name, a label and a delta >= 0",
                           i);
    }
    p[0] = text_array(names, n);
    p[1] = text_array(labels, n);
    p[2] = bigint_array(deltas, n);
    if (p[0] == NULL || p[1] == NULL || p[2] == NULL) {
        st = err_set(e, ST_NOMEM, "out of memory");
        goto out;
    }
    st = db_exec_params(
        db, "SELECT tmdbq_metrics_add($1::text[], $2::text[], $3::bigint[])", 3,
        (const char *const *)p, PGRES_TUPLES_OK, NULL, "add to the metrics' counters", e);
out:
    free(p[0]);
    free(p[1]);
    free(p[2]);
    return st;
}

void db_metrics_free(struct db_metrics *l)
{
    if (l != NULL)
        db_items_free((void **)&l->items, &l->n);
}

static bool metric_from_row(PGresult *res, int r, void *item)
{
    struct db_metric *m = item;

    snprintf(m->name, sizeof m->name, "%s", PQgetvalue(res, r, 0));
    snprintf(m->label, sizeof m->label, "%s", PQgetvalue(res, r, 1));
    m->value = strtoll(PQgetvalue(res, r, 2), NULL, 10);
    return true;
}

enum status db_metrics_read(struct db *db, struct db_metrics *out, struct err *e)
{
    return db_query_rows(
        db, "SELECT name, label, value FROM tmdbq_metrics ORDER BY name, label", 0, NULL,
        "read the metrics' counters", sizeof *out->items, (void **)&out->items, &out->n,
        metric_from_row, e);
}

enum status db_metrics_oldest_pending(struct db *db, double *age_s, bool *any,
                                      struct err *e)
{
    char v[64];
    /* (status, inserted_at) is indexed (migration 001): the minimum is one probe. */
    enum status st =
        db_query_value(db,
                       "SELECT extract(epoch FROM now() - min(inserted_at))::float8 "
                       "FROM queued_list_operations WHERE status = 'pending'",
                       0, NULL, "read the oldest pending operation", v, sizeof v, e);

    *any = v[0] != '\0';
    *age_s = *any ? strtod(v, NULL) : 0;
    return st;
}

enum status db_ping(struct db *db, struct err *e)
{
    return db_exec_params(db, "SELECT 1", 0, NULL, PGRES_TUPLES_OK, NULL,
                          "ask PostgreSQL whether it answers", e);
}
