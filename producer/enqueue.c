/*
 * enqueue: one operation (tmdbq_enqueue) and a stream of them (tmdbq_enqueue_stream).
 *
 * Enqueue is an outbox: the row is inserted (or an identical pending one found), then
 * publish.c publishes it. A stream is read a line at a time and done in batches of
 * BATCH_MAX good lines: one insert statement and one pipelined round of confirms per
 * batch, then every line of the batch is reported in input order. A bad line is reported
 * and does not stop the others.
 */
#include "tmdbq_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "codec.h"
#include "jsonout.h"
#include "log.h"

/* A line longer than this is refused rather than buffered (it cannot be an operation). */
#define LINE_MAX_BYTES (1024 * 1024)

int tmdbq_enqueue(struct tmdbq *h, const struct tmdbq_request *req, struct tmdbq_op **out)
{
    struct op_request r = {0};
    struct tmdbq_op *op = NULL;
    bool dup = false;
    enum status st;

    call_begin(h);
    *out = NULL;
    st = request_build(req, &r, &h->call.err);
    if (st != ST_OK)
        goto out;
    op = calloc(1, sizeof *op);
    if (op == NULL) {
        st = err_set(&h->call.err, ST_NOMEM, "out of memory");
        goto out;
    }
    st = db_enqueue(h->db, &r, 1, &op->op, &dup, &h->call.err);
    if (st != ST_OK) {
        free(op);
        op = NULL;
        goto out;
    }
    op->duplicate = dup;
    op->from_enqueue = true;
    st = publish_ops(h, op, 1);
    if (st != ST_OK)
        goto out;
    log_debug("enqueued %s%s", op->op.id, dup ? " (duplicate)" : "");
    *out = op;
    op = NULL;
out:
    tmdbq_op_free(op);
    op_request_cleanup(&r);
    return public_code(st);
}

/* ---- bulk ----------------------------------------------------------------------------
 */

struct line_entry {
    long line;
    char *error; /* NULL: the line is the batch's request number req */
    size_t req;
};

struct batch {
    struct line_entry entries[2 * BATCH_MAX];
    size_t n_entries;
    struct op_request reqs[BATCH_MAX];
    size_t n_reqs;
    struct tmdbq_op ops[BATCH_MAX];
};

static void batch_reset(struct batch *b)
{
    for (size_t i = 0; i < b->n_entries; i++)
        free(b->entries[i].error);
    for (size_t i = 0; i < b->n_reqs; i++) {
        op_request_cleanup(&b->reqs[i]);
        op_cleanup(&b->ops[i].op);
    }
    b->n_entries = 0;
    b->n_reqs = 0;
}

/* Insert and publish the batch's good lines: one statement, one round of confirms. */
static enum status batch_enqueue(struct tmdbq *h, struct batch *b)
{
    struct op *rows = NULL;
    bool *dup = NULL;
    enum status st = ST_OK;

    if (b->n_reqs == 0)
        return ST_OK;
    rows = calloc(b->n_reqs, sizeof *rows);
    dup = calloc(b->n_reqs, sizeof *dup);
    if (rows == NULL || dup == NULL) {
        st = err_set(&h->call.err, ST_NOMEM, "out of memory");
        goto out;
    }
    st = db_enqueue(h->db, b->reqs, b->n_reqs, rows, dup, &h->call.err);
    if (st != ST_OK)
        goto out;
    for (size_t i = 0; i < b->n_reqs; i++) {
        /* The row's owned strings move into the wrapper. */
        b->ops[i].op = rows[i];
        b->ops[i].duplicate = dup[i];
        b->ops[i].from_enqueue = true;
    }
    st = publish_ops(h, b->ops, b->n_reqs);
out:
    free(rows);
    free(dup);
    return st;
}

/* Enqueue the batch, then report every line of it in input order. */
static enum status batch_emit(struct tmdbq *h, struct batch *b,
                              void (*emit)(void *, const struct tmdbq_line_result *),
                              void *ctx)
{
    enum status st = batch_enqueue(h, b);

    if (st != ST_OK)
        return st;
    for (size_t i = 0; i < b->n_entries; i++) {
        struct tmdbq_line_result r = {.line = b->entries[i].line};
        if (b->entries[i].error) {
            r.status = TMDBQ_EINVAL;
            r.error = b->entries[i].error;
        } else {
            r.status = TMDBQ_OK;
            r.op = &b->ops[b->entries[i].req];
        }
        emit(ctx, &r);
    }
    batch_reset(b);
    return ST_OK;
}

static bool line_blank(const char *s)
{
    for (; *s; s++) {
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
            return false;
    }
    return true;
}

int tmdbq_enqueue_stream(struct tmdbq *h, FILE *in,
                         void (*emit)(void *ctx, const struct tmdbq_line_result *r),
                         void *ctx)
{
    struct batch *b = NULL;
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    bool any_invalid = false;
    enum status st = ST_OK;

    call_begin(h);
    b = calloc(1, sizeof *b);
    if (b == NULL)
        return public_code(err_set(&h->call.err, ST_NOMEM, "out of memory"));
    for (;;) {
        ssize_t len = getline(&line, &cap, in);
        struct line_entry *le;
        struct err e = {0};

        if (len < 0)
            break;
        lineno++;
        if (line_blank(line))
            continue;
        le = &b->entries[b->n_entries++];
        le->line = lineno;
        le->error = NULL;
        if (len > LINE_MAX_BYTES)
            err_set(&e, ST_INVALID, "line is longer than %d bytes", LINE_MAX_BYTES);
        else
            codec_request_from_line(line, &b->reqs[b->n_reqs], &e);
        if (e.code != ST_OK) {
            le->error = strdup(e.msg);
            any_invalid = true;
            if (le->error == NULL) {
                st = err_set(&h->call.err, ST_NOMEM, "out of memory");
                goto out;
            }
        } else {
            le->req = b->n_reqs++;
        }
        if (b->n_reqs == BATCH_MAX || b->n_entries == 2 * BATCH_MAX) {
            st = batch_emit(h, b, emit, ctx);
            if (st != ST_OK)
                goto out;
        }
    }
    if (ferror(in)) {
        st = err_set(&h->call.err, ST_IO, "could not read the input after line %ld",
                     lineno);
        goto out;
    }
    st = batch_emit(h, b, emit, ctx);
    if (st == ST_OK && any_invalid)
        st = err_set(
            &h->call.err, ST_INVALID,
            "some lines were invalid (see their results); the others were enqueued");
out:
    batch_reset(b);
    free(b);
    free(line);
    return public_code(st);
}

char *tmdbq_line_result_to_json(const struct tmdbq_line_result *r)
{
    json_t *v;

    if (r->status == TMDBQ_OK)
        v = json_pack("{s:I, s:b, s:o}", "line", (json_int_t)r->line, "ok", 1,
                      "operation", jsonout_op(r->op));
    else
        v = json_pack("{s:I, s:b, s:o}", "line", (json_int_t)r->line, "ok", 0, "error",
                      jsonout_text(r->error ? r->error : ""));
    return jsonout_dump(v, 0);
}
