/*
 * enqueue: one operation (tmdbq_enqueue) and a stream of them (tmdbq_enqueue_stream).
 *
 * Enqueue is an outbox: the row is inserted (or an identical pending one found), then
 * publish.c publishes it. A stream is read a line at a time and done in batches of
 * BATCH_MAX good lines: one insert statement and one pipelined round of confirms per
 * batch, then every line of the batch is reported in input order. A bad line is reported
 * and does not stop the others. The input is outside bytes: a line is read into a buffer
 * that never grows past LINE_MAX_BYTES, so a huge line costs its reading time, not its
 * size in memory.
 */
#include "tmdbq_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "jsonout.h"
#include "log.h"

/* A line longer than this (its newline not counted) is refused rather than buffered: it
 * cannot be an operation. */
#define LINE_MAX_BYTES (1024 * 1024)
/* The line buffer's first size; it doubles up to LINE_MAX_BYTES + 1 as lines need. */
#define LINE_FIRST_CAP 4096

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
    st = call_calloc(h, 1, sizeof *op, (void **)&op);
    if (st != ST_OK)
        goto out;
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

/* One line of the input, read by line_read. */
struct line_buf {
    char *text; /* the line without its newline, NUL-terminated; whole unless too_long */
    size_t len; /* bytes stored in text */
    size_t cap; /* size of text: at most LINE_MAX_BYTES + 1 */
    size_t total;  /* bytes of the line, its newline not counted, stored or not */
    size_t nul_at; /* 1-based offset of the line's first NUL byte, 0 when none */
    bool too_long; /* total > LINE_MAX_BYTES: text holds only its first bytes */
    bool blank;    /* every byte, stored or not, is a space, tab or CR (or none) */
};

/* Make l->text hold at least need bytes (need <= LINE_MAX_BYTES + 1). */
static bool line_reserve(struct line_buf *l, size_t need)
{
    size_t cap = l->cap == 0 ? LINE_FIRST_CAP : l->cap;
    char *text;

    if (need <= l->cap)
        return true;
    while (cap < need)
        cap *= 2;
    if (cap > LINE_MAX_BYTES + 1)
        cap = LINE_MAX_BYTES + 1;
    text = realloc(l->text, cap);
    if (text == NULL)
        return false;
    l->text = text;
    l->cap = cap;
    return true;
}

/* Count byte c into the line and store it, unless the line is past LINE_MAX_BYTES: then
 * it is only counted. false when out of memory. */
static bool line_put(struct line_buf *l, int c)
{
    l->total++;
    if (l->total > LINE_MAX_BYTES) {
        l->too_long = true;
        return true;
    }
    /* The byte and, after it, the terminator. */
    if (!line_reserve(l, l->len + 2))
        return false;
    l->text[l->len++] = (char)c;
    return true;
}

/* Read the next line of in into l (its newline dropped; a last line without one counts).
 * A NUL byte is stored like any other and its place noted: as a C string the line would
 * silently end there. A line longer than LINE_MAX_BYTES is read to its end without
 * storing what lies past the limit. Returns ST_OK with *got true for a line, *got false
 * at the end of the input; ST_IO on a read error, ST_NOMEM. */
static enum status line_read(FILE *in, struct line_buf *l, bool *got)
{
    enum status st = ST_OK;
    int c;

    l->len = 0;
    l->total = 0;
    l->nul_at = 0;
    l->too_long = false;
    l->blank = true;
    *got = false;
    if (!line_reserve(l, 1))
        return ST_NOMEM;
    flockfile(in);
    for (;;) {
        c = getc_unlocked(in);
        if (c == EOF)
            break;
        *got = true;
        if (c == '\n')
            break;
        if (c == '\0' && l->nul_at == 0)
            l->nul_at = l->total + 1;
        if (c != ' ' && c != '\t' && c != '\r')
            l->blank = false;
        if (!line_put(l, c)) {
            st = ST_NOMEM;
            break;
        }
    }
    if (st == ST_OK && ferror(in))
        st = ST_IO;
    funlockfile(in);
    l->text[l->len] = '\0';
    return st;
}

int tmdbq_enqueue_stream(struct tmdbq *h, FILE *in,
                         void (*emit)(void *ctx, const struct tmdbq_line_result *r),
                         void *ctx)
{
    struct batch *b = NULL;
    struct line_buf line = {0};
    long lineno = 0;
    bool any_invalid = false, got;
    enum status st = ST_OK;

    call_begin(h);
    b = calloc(1, sizeof *b);
    if (b == NULL)
        return public_code(err_set(&h->call.err, ST_NOMEM, "out of memory"));
    for (;;) {
        struct line_entry *le;
        struct err e = {0};

        st = line_read(in, &line, &got);
        if (st == ST_NOMEM) {
            err_set(&h->call.err, st, "out of memory");
            goto out;
        }
        if (st != ST_OK) {
            err_set(&h->call.err, st, "could not read the input after line %ld", lineno);
            goto out;
        }
        if (!got)
            break;
        lineno++;
        if (line.blank)
            continue;
        le = &b->entries[b->n_entries++];
        le->line = lineno;
        le->error = NULL;
        if (line.too_long)
            err_set(&e, ST_INVALID, "line is longer than %d bytes (%zu bytes)",
                    LINE_MAX_BYTES, line.total);
        else if (line.nul_at != 0)
            err_set(&e, ST_INVALID,
                    "line has a NUL byte (at byte %zu); a line must be JSON text",
                    line.nul_at);
        else
            codec_request_from_line(line.text, &b->reqs[b->n_reqs], &e);
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
    st = batch_emit(h, b, emit, ctx);
    if (st == ST_OK && any_invalid)
        st = err_set(
            &h->call.err, ST_INVALID,
            "some lines were invalid (see their results); the others were enqueued");
out:
    batch_reset(b);
    free(b);
    free(line.text);
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
