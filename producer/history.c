/*
 * history: what the queue did over the last hour, minute by minute, and the age of its
 * backlog (tmdbq_history), for the dashboard of tmdbq-http and for monitors.
 *
 * One statement of common/db_history; the public struct borrows its strings from a store
 * freed with it, as tmdbq_status does.
 */
#include "tmdbq_internal.h"

#include <stdlib.h>

#include "db_history.h"
#include "jsonout.h"

/* The public history and the storage its pointers borrow from (pub first, so a pointer to
 * the one is a pointer to the other). */
struct history_store {
    struct tmdbq_history pub;
    struct db_history rows;
    struct tmdbq_minute minutes[DB_HISTORY_MINUTES];
};

int tmdbq_history(struct tmdbq *h, struct tmdbq_history **out)
{
    struct history_store *s = calloc(1, sizeof *s);
    enum status st;

    call_begin(h);
    *out = NULL;
    if (s == NULL)
        return public_code(err_set(&h->call.err, ST_NOMEM, "out of memory"));
    st = db_history_read(h->db, &s->rows, &h->call.err);
    if (st != ST_OK) {
        free(s);
        return public_code(st);
    }
    for (size_t i = 0; i < s->rows.n; i++) {
        const struct db_history_minute *m = &s->rows.minutes[i];

        s->minutes[i] = (struct tmdbq_minute){
            .minute = m->minute,
            .completed = m->completed,
            .failed = m->failed,
            .cancelled = m->cancelled,
            .tmdb_requests = m->requests,
            .tmdb_rate_limited = m->limited,
        };
    }
    s->pub.now = s->rows.now;
    s->pub.minutes = s->minutes;
    s->pub.n_minutes = s->rows.n;
    s->pub.any_pending = s->rows.any_pending;
    s->pub.oldest_pending_age_s = s->rows.oldest_pending_age_s;
    *out = &s->pub;
    return TMDBQ_OK;
}

void tmdbq_history_free(struct tmdbq_history *x) { free((struct history_store *)x); }

/* Append v to *arr; v is stolen. When v is NULL or memory runs out, *arr is released
 * and set to NULL, which fails the json_pack it goes into. */
static void append(json_t **arr, json_t *v)
{
    if (json_array_append_new(*arr, v) != 0) {
        json_decref(*arr);
        *arr = NULL;
    }
}

char *tmdbq_history_to_json(const struct tmdbq_history *x)
{
    json_t *minutes = json_array();

    for (size_t i = 0; minutes != NULL && i < x->n_minutes; i++) {
        const struct tmdbq_minute *m = &x->minutes[i];

        append(&minutes,
               json_pack("{s:o, s:I, s:I, s:I, s:I, s:I}", "minute",
                         jsonout_text(m->minute), "completed", (json_int_t)m->completed,
                         "failed", (json_int_t)m->failed, "cancelled",
                         (json_int_t)m->cancelled, "tmdb_requests",
                         (json_int_t)m->tmdb_requests, "tmdb_rate_limited",
                         (json_int_t)m->tmdb_rate_limited));
    }
    return jsonout_dump(
        json_pack("{s:o, s:o, s:o}", "now", jsonout_text(x->now), "oldest_pending_age_s",
                  x->any_pending ? jsonout_fixed(x->oldest_pending_age_s, 3)
                                 : json_null(),
                  "minutes", minutes),
        JSONOUT_REAL_FLAGS);
}
