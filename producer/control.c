/*
 * control: retry, cancel and process operations, wait for them, pause and resume.
 *
 * Each change of an operation is one SQL function (migration 005) that runs in one
 * transaction under its list's lock, so it cannot race a consumer's claim or finish;
 * what needs a message afterwards is published through the outbox (publish.c), so a
 * broker that cannot take it costs a warning, never an error. The pause switch is a row
 * in PostgreSQL that every consumer reads.
 */
#include "tmdbq_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "jsonout.h"
#include "log.h"

/* How often tmdbq_wait looks at the rows. */
#define WAIT_POLL_MS 200

int tmdbq_retry(struct tmdbq *h, const char *id, struct tmdbq_op **out)
{
    struct op row;
    enum status st;

    call_begin(h);
    *out = NULL;
    st = db_retry_op(h->db, id, &row, &h->call.err);
    if (st == ST_OK)
        st = op_from_row(h, &row, out);
    if (st != ST_OK)
        goto out;
    log_info("operation %s is pending again with a full retry budget", id);
    st = publish_ops(h, *out, 1);
out:
    return public_code(st);
}

int tmdbq_cancel(struct tmdbq *h, const char *id, struct tmdbq_op **out)
{
    struct op row;
    struct db_handon next;
    enum status st;

    call_begin(h);
    *out = NULL;
    st = db_cancel_op(h->db, id, &row, &next, &h->call.err);
    if (st == ST_OK)
        st = op_from_row(h, &row, out);
    /* The cancel is committed: the hand-on is the outbox's business from here, and the
     * relay covers it if the broker cannot take it now. */
    if (st == ST_OK)
        st = publish_handon(h, &next);
    return public_code(st);
}

int tmdbq_process(struct tmdbq *h, const char *id, struct tmdbq_op **out)
{
    struct op row;
    enum status st;

    call_begin(h);
    *out = NULL;
    st = db_process_op(h->db, id, &row, &h->call.err);
    if (st == ST_OK)
        st = op_from_row(h, &row, out);
    if (st == ST_OK)
        st = publish_ops(h, *out, 1);
    return public_code(st);
}

/* Publish every row of l (whatever its published flag said: the caller wants a new
 * message), a batch of confirms at a time. */
static enum status publish_list(struct tmdbq *h, struct tmdbq_op_list *l)
{
    enum status st = ST_OK;

    for (size_t i = 0; i < l->n; i++)
        l->items[i].op.published = false;
    for (size_t i = 0; i < l->n && st == ST_OK && !h->call.mq_down; i += BATCH_MAX) {
        size_t m = l->n - i < BATCH_MAX ? l->n - i : BATCH_MAX;
        st = publish_ops(h, l->items + i, m);
    }
    return st;
}

int tmdbq_process_user(struct tmdbq *h, int64_t user, struct tmdbq_op_list **out)
{
    struct db_ops rows = {0};
    enum status st;

    call_begin(h);
    *out = NULL;
    st = check_user(h, user);
    if (st == ST_OK)
        st = db_process_user(h->db, (int32_t)user, &rows, &h->call.err);
    if (st == ST_OK)
        st = list_from_db(h, &rows, out);
    if (st == ST_OK)
        st = publish_list(h, *out);
    return public_code(st);
}

int tmdbq_process_all(struct tmdbq *h, struct tmdbq_op_list **out)
{
    struct db_ops rows = {0};
    enum status st;

    call_begin(h);
    *out = NULL;
    st = db_list_due(h->db, &rows, &h->call.err);
    if (st == ST_OK)
        st = list_from_db(h, &rows, out);
    if (st == ST_OK)
        st = publish_list(h, *out);
    return public_code(st);
}

/* ---- wait ----------------------------------------------------------------------------
 */

int tmdbq_wait(struct tmdbq *h, const char *const *ids, size_t n, int64_t timeout_ms,
               struct tmdbq_op_list **out, bool *timed_out)
{
    int64_t deadline = clock_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    struct db_ops rows = {0};
    int64_t active = 0;
    enum status st;
    char took[32];

    call_begin(h);
    *out = NULL;
    if (timed_out != NULL)
        *timed_out = false;
    for (;;) {
        st = db_count_active(h->db, ids, n, &active, &h->call.err);
        if (st != ST_OK)
            goto out;
        if (active == 0 || clock_now_ms() >= deadline)
            break;
        clock_sleep_ms(deadline - clock_now_ms() < WAIT_POLL_MS
                           ? deadline - clock_now_ms()
                           : WAIT_POLL_MS);
    }
    st = db_get_ops(h->db, ids, n, &rows, &h->call.err);
    if (st == ST_OK)
        st = list_from_db(h, &rows, out);
    if (st != ST_OK || active == 0)
        goto out;
    /* Out of time: the rows as they stand go back with the failure. */
    if (timed_out != NULL)
        *timed_out = true;
    cfg_format_duration(timeout_ms, took, sizeof took);
    st = err_set(&h->call.err, ST_TIMEOUT,
                 "timed out after %s: %" PRId64 " of %zu operation(s) still pending or "
                 "processing",
                 took, active, n);
out:
    return public_code(st);
}

/* ---- pause ---------------------------------------------------------------------------
 */

void pause_state_from_db(const struct db_pause_state *in, struct tmdbq_pause_state *out)
{
    memset(out, 0, sizeof *out);
    out->paused = in->paused;
    snprintf(out->since, sizeof out->since, "%s", in->since);
    out->age_s = in->age_s;
    out->changed = in->changed;
}

static enum status set_paused(struct tmdbq *h, bool paused, struct tmdbq_pause_state *out)
{
    struct db_pause_state s;
    enum status st = db_set_paused(h->db, paused, &s, &h->call.err);

    if (st != ST_OK)
        return st;
    if (s.changed)
        log_info("%s", paused ? "paused: consumers stop taking new operations"
                              : "resumed: consumers take operations again");
    if (out != NULL)
        pause_state_from_db(&s, out);
    return ST_OK;
}

int tmdbq_pause(struct tmdbq *h, struct tmdbq_pause_state *out)
{
    call_begin(h);
    return public_code(set_paused(h, true, out));
}

int tmdbq_resume(struct tmdbq *h, struct tmdbq_pause_state *out)
{
    call_begin(h);
    return public_code(set_paused(h, false, out));
}

char *tmdbq_pause_state_to_json(const struct tmdbq_pause_state *s)
{
    return jsonout_dump(json_pack("{s:b, s:o, s:b}", "paused", s->paused, "since",
                                  jsonout_text(s->since), "changed", s->changed),
                        0);
}
