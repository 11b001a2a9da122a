/*
 * tmdbq.c: the library behind tmdbq.h.
 *
 * Enqueue is an outbox: the row is committed first (PostgreSQL is the truth), then its id
 * is published with a publisher confirm, then the row is marked published. A broker that
 * is down costs nothing but a warning: the row stays unpublished and the reaper's relay
 * publishes it. Bulk enqueue does the same per batch, with one insert statement and one
 * pipelined round of confirms per batch.
 */
#include "tmdbq.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "cfg.h"
#include "codec.h"
#include "db.h"
#include "err.h"
#include "log.h"
#include "mq.h"
#include "op.h"

/* Operations per insert statement and per round of publisher confirms in a bulk enqueue:
 * large enough that round trips vanish, small enough that one batch stays quick. */
#define BATCH_MAX 1000
/* A line longer than this is refused rather than buffered (it cannot be an operation). */
#define LINE_MAX_BYTES (1024 * 1024)

struct tmdbq {
    struct cfg cfg;
    struct db *db;
    struct mq *mq;
    bool mq_down; /* the broker failed during this call: do not wait on it again */
    struct err err;
};

struct tmdbq_op {
    struct op op;
    bool duplicate;
    bool from_enqueue;
};

struct tmdbq_op_list {
    struct tmdbq_op *items;
    size_t n;
};

/* The public result of a status: the exit status of the `tmdbq` command. */
static int public_code(enum status st)
{
    return status_exit_code(st);
}

int tmdbq_open(const char *database_url, const char *amqp_url, struct tmdbq **out)
{
    struct tmdbq *h = calloc(1, sizeof *h);
    enum status st;

    *out = h;
    if (h == NULL)
        return TMDBQ_ESERVICE;
    st = cfg_load(&h->cfg, &h->err);
    if (st != ST_OK)
        return public_code(st);
    if (database_url)
        h->cfg.database_url = database_url;
    if (amqp_url)
        h->cfg.amqp_url = amqp_url;
    st = db_open(h->cfg.database_url, h->cfg.connect_timeout_ms, &h->db, &h->err);
    return public_code(st);
}

void tmdbq_close(struct tmdbq *h)
{
    if (h == NULL)
        return;
    mq_close(h->mq);
    db_close(h->db);
    free(h);
}

const char *tmdbq_errmsg(const struct tmdbq *h)
{
    if (h == NULL)
        return "out of memory";
    return h->err.msg;
}

int tmdbq_migrate(struct tmdbq *h, int *applied, int *version)
{
    int a = 0, v = 0;
    enum status st = db_migrate(h->db, &a, &v, &h->err);

    if (applied)
        *applied = a;
    if (version)
        *version = v;
    return public_code(st);
}

struct tmdbq_request tmdbq_request_init(void)
{
    struct tmdbq_request r;

    memset(&r, 0, sizeof r);
    r.public_flag = -1;
    return r;
}

static enum status request_build(const struct tmdbq_request *req, struct op_request *out,
                                 struct err *e)
{
    struct op_input in = {
        .type = req->type,
        .user = req->user,
        .has_user = req->has_user,
        .list = req->list,
        .has_list = req->has_list,
        .movie = req->movie,
        .has_movie = req->has_movie,
        .name = req->name,
        .description = req->description,
        .public_flag = req->public_flag,
        .data_json = req->data_json,
    };
    return codec_request_build(&in, out, e);
}

/* Publish the ops that still need it (pending and never confirmed) and mark the confirmed
 * ones published. Broker trouble is a warning, never an error: the rows are safe. */
static enum status publish_ops(struct tmdbq *h, struct tmdbq_op *ops, size_t n)
{
    const char **ids = NULL, **done = NULL;
    bool *confirmed = NULL;
    size_t *which = NULL;
    size_t m = 0, nconf = 0;
    struct err e = {0}, de = {0};
    enum status st = ST_OK;

    if (n == 0 || h->mq_down)
        return ST_OK;
    ids = calloc(n, sizeof *ids);
    confirmed = calloc(n, sizeof *confirmed);
    which = calloc(n, sizeof *which);
    done = calloc(n, sizeof *done);
    if (ids == NULL || confirmed == NULL || which == NULL || done == NULL) {
        st = err_set(&h->err, ST_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        /* A duplicate inside one batch names the same row twice: publish it once. */
        bool seen = false;
        for (size_t k = 0; k < m && ops[i].duplicate; k++)
            seen = seen || strcmp(ids[k], ops[i].op.id) == 0;
        if (ops[i].op.published || ops[i].op.status != OP_PENDING || seen)
            continue;
        ids[m] = ops[i].op.id;
        which[m++] = i;
    }
    if (m == 0)
        goto out;
    if (h->mq == NULL) {
        struct backoff_policy policy = {h->cfg.max_retries, h->cfg.backoff_base_ms,
                                        h->cfg.backoff_cap_ms};
        if (mq_open(h->cfg.amqp_url, h->cfg.amqp_prefix, &policy, h->cfg.connect_timeout_ms,
                    &h->mq, &e) != ST_OK)
            goto broker_down;
    }
    if (mq_publish_work(h->mq, ids, m, confirmed, &e) != ST_OK) {
        mq_close(h->mq);
        h->mq = NULL;
    }
    for (size_t k = 0; k < m; k++) {
        if (confirmed[k])
            done[nconf++] = ids[k];
    }
    /* The broker has these ids now; a failure to record that only means the reaper may
     * publish them once more, which consumers shrug off. Not worth failing the enqueue. */
    if (db_mark_published(h->db, done, nconf, &de) != ST_OK)
        log_warn("could not record %zu confirmed publish(es): %s", nconf, de.msg);
    for (size_t k = 0; k < m; k++)
        ops[which[k]].op.published = confirmed[k];
    for (size_t i = 0; i < n; i++) {
        /* A duplicate later in the batch shares the row of the one just published. */
        for (size_t k = 0; k < m && ops[i].duplicate && !ops[i].op.published; k++)
            ops[i].op.published = confirmed[k] && strcmp(ids[k], ops[i].op.id) == 0;
    }
    if (nconf == m)
        goto out;
broker_down:
    h->mq_down = true;
    log_warn("%zu operation(s) not published: %s; they are stored and stay pending, and the "
             "reaper will publish them",
             m - nconf, e.msg);
out:
    free(ids);
    free(done);
    free(confirmed);
    free(which);
    return st;
}

int tmdbq_enqueue(struct tmdbq *h, const struct tmdbq_request *req, struct tmdbq_op **out)
{
    struct op_request r = {0};
    struct tmdbq_op *op = NULL;
    bool dup = false;
    enum status st;

    *out = NULL;
    h->mq_down = false;
    st = request_build(req, &r, &h->err);
    if (st != ST_OK)
        goto out;
    op = calloc(1, sizeof *op);
    if (op == NULL) {
        st = err_set(&h->err, ST_NOMEM, "out of memory");
        goto out;
    }
    st = db_enqueue(h->db, &r, 1, &op->op, &dup, &h->err);
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

/* ---- bulk ---------------------------------------------------------------------------- */

struct line_entry {
    long line;
    char *error;  /* NULL: the line is the batch's request number req */
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
        st = err_set(&h->err, ST_NOMEM, "out of memory");
        goto out;
    }
    st = db_enqueue(h->db, b->reqs, b->n_reqs, rows, dup, &h->err);
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
    struct batch *b = calloc(1, sizeof *b);
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    bool any_invalid = false;
    enum status st = ST_OK;

    h->mq_down = false;
    if (b == NULL)
        return public_code(err_set(&h->err, ST_NOMEM, "out of memory"));
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
                st = err_set(&h->err, ST_NOMEM, "out of memory");
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
        st = err_set(&h->err, ST_IO, "could not read the input after line %ld", lineno);
        goto out;
    }
    st = batch_emit(h, b, emit, ctx);
out:
    batch_reset(b);
    free(b);
    free(line);
    if (st == ST_OK && any_invalid) {
        err_set(&h->err, ST_INVALID,
                "some lines were invalid (see their results); the others were enqueued");
        return TMDBQ_EINVAL;
    }
    return public_code(st);
}

/* ---- inspection ---------------------------------------------------------------------- */

int tmdbq_show(struct tmdbq *h, const char *id, struct tmdbq_op **out)
{
    struct tmdbq_op *op = NULL;
    enum status st;

    *out = NULL;
    if (id == NULL || !op_id_valid(id))
        return public_code(err_set(&h->err, ST_INVALID, "\"%s\" is not an operation id (a UUID)",
                               id ? id : ""));
    op = calloc(1, sizeof *op);
    if (op == NULL)
        return public_code(err_set(&h->err, ST_NOMEM, "out of memory"));
    st = db_get_op(h->db, id, &op->op, &h->err);
    if (st != ST_OK) {
        free(op);
        return public_code(st);
    }
    *out = op;
    return TMDBQ_OK;
}

int tmdbq_stats(struct tmdbq *h, struct tmdbq_stats *out)
{
    struct db_stats s;
    enum status st = db_stats(h->db, &s, &h->err);

    memset(out, 0, sizeof *out);
    if (st != ST_OK)
        return public_code(st);
    out->pending = s.count[OP_PENDING];
    out->processing = s.count[OP_PROCESSING];
    out->completed = s.count[OP_COMPLETED];
    out->failed = s.count[OP_FAILED];
    out->cancelled = s.count[OP_CANCELLED];
    out->total = s.total;
    return TMDBQ_OK;
}

static int list_from_db(struct tmdbq *h, struct db_ops *rows, struct tmdbq_op_list **out)
{
    struct tmdbq_op_list *l = calloc(1, sizeof *l);

    if (l == NULL || (rows->n > 0 && (l->items = calloc(rows->n, sizeof *l->items)) == NULL)) {
        free(l);
        db_ops_free(rows);
        return public_code(err_set(&h->err, ST_NOMEM, "out of memory"));
    }
    for (size_t i = 0; i < rows->n; i++)
        l->items[i].op = rows->items[i];
    l->n = rows->n;
    /* The rows' owned strings now belong to l. */
    free(rows->items);
    rows->items = NULL;
    rows->n = 0;
    *out = l;
    return TMDBQ_OK;
}

static enum status check_user(struct tmdbq *h, int64_t user)
{
    if (user < 1 || user > INT32_MAX)
        return err_set(&h->err, ST_INVALID, "\"user\" must be a positive integer");
    return ST_OK;
}

int tmdbq_pending(struct tmdbq *h, int64_t user, struct tmdbq_op_list **out)
{
    struct db_ops rows = {0};
    enum status st = check_user(h, user);

    *out = NULL;
    if (st == ST_OK)
        st = db_list_pending(h->db, (int32_t)user, &rows, &h->err);
    if (st != ST_OK)
        return public_code(st);
    return list_from_db(h, &rows, out);
}

int tmdbq_failed(struct tmdbq *h, int limit, struct tmdbq_op_list **out)
{
    struct db_ops rows = {0};
    enum status st = ST_OK;

    *out = NULL;
    if (limit < 1 || limit > 10000)
        st = err_set(&h->err, ST_INVALID, "\"limit\" must be between 1 and 10000");
    if (st == ST_OK)
        st = db_list_failed(h->db, limit, &rows, &h->err);
    if (st != ST_OK)
        return public_code(st);
    return list_from_db(h, &rows, out);
}

int tmdbq_session_set(struct tmdbq *h, int64_t user, const char *session_id,
                      const char *access_token, size_t *retried)
{
    struct db_ids revived = {0};
    struct tmdbq_op *ops = NULL;
    enum status st = check_user(h, user);

    if (st == ST_OK && (session_id == NULL || *session_id == '\0'))
        st = err_set(&h->err, ST_INVALID, "\"session-id\" must not be empty");
    if (st == ST_OK && access_token != NULL && *access_token == '\0')
        st = err_set(&h->err, ST_INVALID, "\"access-token\" must not be empty when given");
    if (st == ST_OK)
        st = db_session_set(h->db, (int32_t)user, session_id, access_token, &h->err);
    if (retried != NULL)
        *retried = 0;
    if (st != ST_OK)
        return public_code(st);
    /* The credentials are stored: a failure from here on is reported, but they stay. */
    st = db_retry_credential_failures(h->db, (int32_t)user, &revived, &h->err);
    if (st != ST_OK || revived.n == 0)
        goto out;
    ops = calloc(revived.n, sizeof *ops);
    if (ops == NULL) {
        st = err_set(&h->err, ST_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < revived.n; i++) {
        snprintf(ops[i].op.id, sizeof ops[i].op.id, "%s", revived.ids[i]);
        ops[i].op.status = OP_PENDING;
    }
    log_info("user %" PRId64 ": %zu operation(s) that failed for lack of valid TMDB "
             "credentials are pending again",
             user, revived.n);
    if (retried != NULL)
        *retried = revived.n;
    st = publish_ops(h, ops, revived.n);
out:
    free(ops);
    db_ids_free(&revived);
    return public_code(st);
}

int tmdbq_session_rm(struct tmdbq *h, int64_t user)
{
    enum status st = check_user(h, user);

    if (st == ST_OK)
        st = db_session_rm(h->db, (int32_t)user, &h->err);
    return public_code(st);
}

/* ---- operations ---------------------------------------------------------------------- */

const char *tmdbq_op_id(const struct tmdbq_op *op)
{
    return op->op.id;
}

const char *tmdbq_op_type(const struct tmdbq_op *op)
{
    return op_type_name(op->op.type);
}

const char *tmdbq_op_status(const struct tmdbq_op *op)
{
    return op_status_name(op->op.status);
}

bool tmdbq_op_published(const struct tmdbq_op *op)
{
    return op->op.published;
}

bool tmdbq_op_duplicate(const struct tmdbq_op *op)
{
    return op->duplicate;
}

int tmdbq_op_retry_count(const struct tmdbq_op *op)
{
    return op->op.retry_count;
}

const char *tmdbq_op_inserted_at(const struct tmdbq_op *op)
{
    return op->op.inserted_at;
}

const char *tmdbq_op_error(const struct tmdbq_op *op)
{
    return op->op.error_message;
}

char *tmdbq_line_result_to_json(const struct tmdbq_line_result *r)
{
    char *inner = NULL, *out = NULL;
    size_t len;

    if (r->status == TMDBQ_OK)
        inner = tmdbq_op_to_json(r->op);
    else
        inner = codec_json_quote(r->error ? r->error : "");
    if (inner == NULL)
        return NULL;
    len = strlen(inner) + 64;
    out = malloc(len);
    if (out != NULL)
        snprintf(out, len, "{\"line\":%ld,\"ok\":%s,\"%s\":%s}", r->line,
                 r->status == TMDBQ_OK ? "true" : "false",
                 r->status == TMDBQ_OK ? "operation" : "error", inner);
    free(inner);
    return out;
}

char *tmdbq_op_to_json(const struct tmdbq_op *op)
{
    struct codec_op_extra extra = {op->from_enqueue, op->duplicate};

    return codec_op_to_json(&op->op, &extra);
}

char *tmdbq_op_to_text(const struct tmdbq_op *op)
{
    const struct op *o = &op->op;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    if (f == NULL)
        return NULL;
    fprintf(f, "id:             %s\n", o->id);
    fprintf(f, "type:           %s\n", op_type_name(o->type));
    fprintf(f, "status:         %s\n", op_status_name(o->status));
    fprintf(f, "user:           %" PRId32 "\n", o->user_id);
    if (o->list_id > 0)
        fprintf(f, "list:           %" PRId32 "\n", o->list_id);
    fprintf(f, "data:           %s\n", o->data_json);
    fprintf(f, "retries:        %d\n", o->retry_count);
    if (o->last_retry_at[0])
        fprintf(f, "last retry at:  %s\n", o->last_retry_at);
    if (o->scheduled_for[0])
        fprintf(f, "scheduled for:  %s\n", o->scheduled_for);
    if (o->error_message)
        fprintf(f, "error:          %s\n", o->error_message);
    if (o->result_json)
        fprintf(f, "result:         %s\n", o->result_json);
    fprintf(f, "inserted at:    %s\n", o->inserted_at);
    fprintf(f, "updated at:     %s\n", o->updated_at);
    fprintf(f, "published:      %s\n", o->published ? "yes" : "no");
    if (op->from_enqueue)
        fprintf(f, "duplicate:      %s\n", op->duplicate ? "yes" : "no");
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

void tmdbq_op_free(struct tmdbq_op *op)
{
    if (op == NULL)
        return;
    op_cleanup(&op->op);
    free(op);
}

size_t tmdbq_op_list_count(const struct tmdbq_op_list *l)
{
    return l->n;
}

const struct tmdbq_op *tmdbq_op_list_get(const struct tmdbq_op_list *l, size_t i)
{
    return &l->items[i];
}

void tmdbq_op_list_free(struct tmdbq_op_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++)
        op_cleanup(&l->items[i].op);
    free(l->items);
    free(l);
}
