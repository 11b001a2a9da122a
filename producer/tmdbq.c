/*
 * tmdbq.c: the library behind tmdbq.h.
 *
 * Enqueue is an outbox: the row is committed first (PostgreSQL is the truth), then its id
 * is published with a publisher confirm, then the row is marked published. A broker that
 * is down costs nothing but a warning: the row stays unpublished and the reaper's relay
 * publishes it. Bulk enqueue does the same per batch, with one insert statement and one
 * pipelined round of confirms per batch. The control calls (retry, cancel, process) follow
 * the same pattern: change the row in one transaction, then publish what needs a message.
 */
#include "tmdbq.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backoff.h"
#include "cfg.h"
#include "codec.h"
#include "db.h"
#include "db_apply.h"
#include "db_control.h"
#include "err.h"
#include "log.h"
#include "mq.h"
#include "mqadmin.h"
#include "clock.h"
#include "op.h"
#include "rate.h"
#include "tmdb.h"

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

/* ---- control ----------------------------------------------------------------------- */

/* How often tmdbq_wait looks at the rows. */
#define WAIT_POLL_MS 200
/* Consumers and reapers report every 5 s (a reaper with a shorter sweep interval more
 * often): three missed reports make one stale. */
#define LIVE_MS 15000
/* Publishes of tmdbq_process_all per round of confirms, as for a bulk enqueue. */
#define PROCESS_BATCH BATCH_MAX

/* Wrap one row (its owned strings move) as a tmdbq_op. */
static int op_from_row(struct tmdbq *h, struct op *row, struct tmdbq_op **out)
{
    struct tmdbq_op *op = calloc(1, sizeof *op);

    if (op == NULL) {
        op_cleanup(row);
        return public_code(err_set(&h->err, ST_NOMEM, "out of memory"));
    }
    op->op = *row;
    memset(row, 0, sizeof *row);
    *out = op;
    return TMDBQ_OK;
}

/* Publish one id that is not in hand as a row (a hand-on), by the outbox's rules. */
/* Publish a hand-on: the list's operations that waited behind one that ended or was
 * cancelled. Only the ids matter to publish_ops; they are all pending. */
static enum status publish_handon(struct tmdbq *h, const struct db_handon *next)
{
    struct tmdbq_op *ops;
    enum status st;

    if (next->n == 0)
        return ST_OK;
    ops = calloc(next->n, sizeof *ops);
    if (ops == NULL)
        return err_set(&h->err, ST_NOMEM, "out of memory");
    for (size_t i = 0; i < next->n; i++) {
        snprintf(ops[i].op.id, sizeof ops[i].op.id, "%s", next->ids[i]);
        ops[i].op.status = OP_PENDING;
    }
    st = publish_ops(h, ops, next->n);
    for (size_t i = 0; i < next->n && st == ST_OK; i++) {
        if (ops[i].op.published)
            log_info("published %s, which waited behind operation of its list",
                     next->ids[i]);
    }
    free(ops);
    return st;
}

int tmdbq_retry(struct tmdbq *h, const char *id, struct tmdbq_op **out)
{
    struct op row;
    enum status st;
    int rc;

    *out = NULL;
    h->mq_down = false;
    st = db_retry_op(h->db, id, &row, &h->err);
    if (st != ST_OK)
        return public_code(st);
    rc = op_from_row(h, &row, out);
    if (rc != TMDBQ_OK)
        return rc;
    log_info("operation %s is pending again with a full retry budget", id);
    st = publish_ops(h, *out, 1);
    return public_code(st);
}

int tmdbq_cancel(struct tmdbq *h, const char *id, struct tmdbq_op **out)
{
    struct op row;
    struct db_handon next;
    enum status st;
    int rc;

    *out = NULL;
    h->mq_down = false;
    st = db_cancel_op(h->db, id, &row, &next, &h->err);
    if (st != ST_OK)
        return public_code(st);
    rc = op_from_row(h, &row, out);
    if (rc != TMDBQ_OK)
        return rc;
    /* The cancel is committed: the hand-on is the outbox's business from here, and the
     * relay covers it if the broker cannot take it now. */
    st = publish_handon(h, &next);
    return public_code(st);
}

int tmdbq_process(struct tmdbq *h, const char *id, struct tmdbq_op **out)
{
    struct op row;
    enum status st;
    int rc;

    *out = NULL;
    h->mq_down = false;
    st = db_process_op(h->db, id, &row, &h->err);
    if (st != ST_OK)
        return public_code(st);
    rc = op_from_row(h, &row, out);
    if (rc != TMDBQ_OK)
        return rc;
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
    for (size_t i = 0; i < l->n && st == ST_OK && !h->mq_down; i += PROCESS_BATCH) {
        size_t m = l->n - i < PROCESS_BATCH ? l->n - i : PROCESS_BATCH;
        st = publish_ops(h, l->items + i, m);
    }
    return st;
}

int tmdbq_process_user(struct tmdbq *h, int64_t user, struct tmdbq_op_list **out)
{
    struct db_ops rows = {0};
    enum status st = check_user(h, user);
    int rc;

    *out = NULL;
    h->mq_down = false;
    if (st == ST_OK)
        st = db_process_user(h->db, (int32_t)user, &rows, &h->err);
    if (st != ST_OK)
        return public_code(st);
    rc = list_from_db(h, &rows, out);
    if (rc != TMDBQ_OK)
        return rc;
    return public_code(publish_list(h, *out));
}

int tmdbq_process_all(struct tmdbq *h, struct tmdbq_op_list **out)
{
    struct db_ops rows = {0};
    enum status st;
    int rc;

    *out = NULL;
    h->mq_down = false;
    st = db_list_due(h->db, &rows, &h->err);
    if (st != ST_OK)
        return public_code(st);
    rc = list_from_db(h, &rows, out);
    if (rc != TMDBQ_OK)
        return rc;
    return public_code(publish_list(h, *out));
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts;

    if (ms <= 0)
        return;
    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

int tmdbq_wait(struct tmdbq *h, const char *const *ids, size_t n, int64_t timeout_ms,
               struct tmdbq_op_list **out, bool *timed_out)
{
    int64_t deadline = monotonic_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    struct db_ops rows = {0};
    int64_t active = 0;
    enum status st;
    char took[32];
    int rc;

    *out = NULL;
    if (timed_out != NULL)
        *timed_out = false;
    for (;;) {
        st = db_count_active(h->db, ids, n, &active, &h->err);
        if (st != ST_OK)
            return public_code(st);
        if (active == 0 || monotonic_ms() >= deadline)
            break;
        sleep_ms(deadline - monotonic_ms() < WAIT_POLL_MS ? deadline - monotonic_ms()
                                                          : WAIT_POLL_MS);
    }
    st = db_get_ops(h->db, ids, n, &rows, &h->err);
    if (st != ST_OK)
        return public_code(st);
    rc = list_from_db(h, &rows, out);
    if (rc != TMDBQ_OK || active == 0)
        return rc;
    if (timed_out != NULL)
        *timed_out = true;
    cfg_format_duration(timeout_ms, took, sizeof took);
    return public_code(err_set(&h->err, ST_TIMEOUT,
                               "timed out after %s: %" PRId64 " of %zu operation(s) still "
                               "pending or processing",
                               took, active, n));
}

static void pause_public(const struct db_pause_state *in, struct tmdbq_pause_state *out)
{
    memset(out, 0, sizeof *out);
    out->paused = in->paused;
    snprintf(out->since, sizeof out->since, "%s", in->since);
    out->age_s = in->age_s;
    out->changed = in->changed;
}

static int set_paused(struct tmdbq *h, bool paused, struct tmdbq_pause_state *out)
{
    struct db_pause_state s;
    enum status st = db_set_paused(h->db, paused, &s, &h->err);

    if (st != ST_OK)
        return public_code(st);
    if (s.changed)
        log_info("%s", paused ? "paused: consumers stop taking new operations"
                              : "resumed: consumers take operations again");
    if (out != NULL)
        pause_public(&s, out);
    return TMDBQ_OK;
}

int tmdbq_pause(struct tmdbq *h, struct tmdbq_pause_state *out)
{
    return set_paused(h, true, out);
}

int tmdbq_resume(struct tmdbq *h, struct tmdbq_pause_state *out)
{
    return set_paused(h, false, out);
}

/* ---- status ------------------------------------------------------------------------ */

/* The public status and the storage its pointers borrow from (pub first, so a pointer to
 * the one is a pointer to the other). */
struct status_store {
    struct tmdbq_status pub;
    struct db_consumers consumers;
    struct db_reapers reapers;
    struct tmdbq_consumer *cons;
    struct tmdbq_reaper *reaps;
    struct tmdbq_queue *retry;
    char (*retry_names)[160];
    char work_name[160];
    char dead_name[160];
    char broker_error[512];
    char management_url[512];
    char management_error[512];
    struct db_rate_scopes rate_scopes;
    struct tmdbq_budget *budgets;
};

static void queue_init(struct tmdbq_queue *q, const char *name, int64_t delay_ms)
{
    q->name = name;
    q->delay_ms = delay_ms;
    q->ready = q->unacked = q->consumers = -1;
}

/* Name the queues of this prefix and retry policy. */
static enum status status_queues(struct tmdbq *h, struct status_store *s)
{
    struct backoff_policy policy = {h->cfg.max_retries, h->cfg.backoff_base_ms,
                                    h->cfg.backoff_cap_ms};
    size_t n = backoff_distinct_delays(&policy, NULL, 0);
    int64_t *delays = NULL;
    char d[32];

    snprintf(s->work_name, sizeof s->work_name, "%s.work", h->cfg.amqp_prefix);
    snprintf(s->dead_name, sizeof s->dead_name, "%s.dead", h->cfg.amqp_prefix);
    queue_init(&s->pub.work, s->work_name, 0);
    queue_init(&s->pub.dead, s->dead_name, 0);
    if (n == 0)
        return ST_OK;
    delays = calloc(n, sizeof *delays);
    s->retry = calloc(n, sizeof *s->retry);
    s->retry_names = calloc(n, sizeof *s->retry_names);
    if (delays == NULL || s->retry == NULL || s->retry_names == NULL) {
        free(delays);
        return err_set(&h->err, ST_NOMEM, "out of memory");
    }
    n = backoff_distinct_delays(&policy, delays, n);
    for (size_t i = 0; i < n; i++) {
        cfg_format_duration(delays[i], d, sizeof d);
        snprintf(s->retry_names[i], sizeof s->retry_names[i], "%s.retry.%s",
                 h->cfg.amqp_prefix, d);
        queue_init(&s->retry[i], s->retry_names[i], delays[i]);
    }
    s->pub.retry = s->retry;
    s->pub.n_retry = n;
    free(delays);
    return ST_OK;
}

/* The queue's name without "<prefix>.", as mq_queue_depth wants it. */
static const char *queue_suffix(const struct tmdbq *h, const struct tmdbq_queue *q)
{
    return q->name + strlen(h->cfg.amqp_prefix) + 1;
}

/* Fill what AMQP and the management API say; failures only make figures unknown. */
static void status_broker(struct tmdbq *h, struct status_store *s)
{
    struct tmdbq_queue *all[2 + 64];
    size_t nq = 0;
    struct mqadmin *admin = NULL;
    struct err e = {0};
    const char *murl = getenv("TMDBQ_AMQP_MANAGEMENT_URL");

    all[nq++] = &s->pub.work;
    for (size_t i = 0; i < s->pub.n_retry && nq < sizeof all / sizeof all[0] - 1; i++)
        all[nq++] = &s->retry[i];
    all[nq++] = &s->pub.dead;

    if (h->mq == NULL) {
        struct backoff_policy policy = {h->cfg.max_retries, h->cfg.backoff_base_ms,
                                        h->cfg.backoff_cap_ms};
        if (mq_open(h->cfg.amqp_url, h->cfg.amqp_prefix, &policy,
                    h->cfg.connect_timeout_ms, &h->mq, &e) != ST_OK) {
            snprintf(s->broker_error, sizeof s->broker_error, "%s", e.msg);
            s->pub.broker_reachable = false;
            s->pub.broker_error = s->broker_error;
            s->pub.management_error = "not asked: the broker is unreachable";
            return;
        }
    }
    s->pub.broker_reachable = true;
    for (size_t i = 0; i < nq; i++) {
        uint32_t ready = 0, consumers = 0;

        memset(&e, 0, sizeof e);
        if (mq_queue_depth(h->mq, queue_suffix(h, all[i]), &ready, &consumers, &e) !=
            ST_OK) {
            log_warn("%s", e.msg);
            continue;
        }
        all[i]->ready = ready;
        all[i]->consumers = consumers;
    }

    memset(&e, 0, sizeof e);
    if (mqadmin_open(h->cfg.amqp_url, murl, h->cfg.connect_timeout_ms, &admin, &e) !=
        ST_OK) {
        snprintf(s->management_error, sizeof s->management_error, "%s", e.msg);
        s->pub.management_error = s->management_error;
        return;
    }
    snprintf(s->management_url, sizeof s->management_url, "%s", mqadmin_where(admin));
    s->pub.management_url = s->management_url;
    s->pub.management_reachable = true;
    for (size_t i = 0; i < nq; i++) {
        struct mqadmin_queue mqa;
        enum status st;

        memset(&e, 0, sizeof e);
        st = mqadmin_queue(admin, all[i]->name, &mqa, &e);
        if (st == ST_NOT_FOUND)
            continue;
        if (st != ST_OK) {
            /* One failure tells enough: never wait out the timeout once per queue. */
            snprintf(s->management_error, sizeof s->management_error, "%s", e.msg);
            s->pub.management_error = s->management_error;
            s->pub.management_reachable = false;
            break;
        }
        all[i]->unacked = mqa.unacked;
    }
    mqadmin_close(admin);
}

static enum status status_budgets(struct tmdbq *h, struct status_store *s)
{
    enum status st = db_rate_status(h->db, &s->rate_scopes, &h->err);

    s->pub.configured_rate = h->cfg.tmdb_rate;
    s->pub.rate_scope = h->cfg.tmdb_rate_scope == CFG_RATE_SCOPE_HOST ? "host" : "queue";
    if (st != ST_OK || s->rate_scopes.n == 0)
        return st;
    s->budgets = calloc(s->rate_scopes.n, sizeof *s->budgets);
    if (s->budgets == NULL)
        return err_set(&h->err, ST_NOMEM, "out of memory");
    for (size_t i = 0; i < s->rate_scopes.n; i++) {
        const struct db_rate_scope *r = &s->rate_scopes.items[i];

        s->budgets[i] = (struct tmdbq_budget){
            .scope = r->scope,
            .rate = r->rate,
            .sent_per_s = r->sent_per_s,
            .requests_1m = r->requests_1m,
            .limited_1m = r->limited_1m,
            .cooldown_until = r->cooldown_until[0] ? r->cooldown_until : NULL,
            .seen_at = r->seen_at,
        };
    }
    s->pub.budgets = s->budgets;
    s->pub.n_budgets = s->rate_scopes.n;
    return ST_OK;
}

int tmdbq_status(struct tmdbq *h, struct tmdbq_status **out)
{
    struct status_store *s = calloc(1, sizeof *s);
    struct db_pause_state pause;
    enum status st;
    int rc;

    *out = NULL;
    h->mq_down = false;
    if (s == NULL)
        return public_code(err_set(&h->err, ST_NOMEM, "out of memory"));
    st = db_pause_state(h->db, &pause, &h->err);
    if (st != ST_OK)
        goto out;
    pause_public(&pause, &s->pub.pause);
    rc = tmdbq_stats(h, &s->pub.stats);
    if (rc != TMDBQ_OK) {
        st = h->err.code;
        goto out;
    }
    st = db_list_consumers(h->db, LIVE_MS, &s->consumers, &h->err);
    if (st == ST_OK)
        st = db_list_reapers(h->db, LIVE_MS, &s->reapers, &h->err);
    if (st != ST_OK)
        goto out;
    if (s->consumers.n > 0 &&
        (s->cons = calloc(s->consumers.n, sizeof *s->cons)) == NULL) {
        st = err_set(&h->err, ST_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < s->consumers.n; i++) {
        const struct db_consumer_row *r = &s->consumers.items[i];
        s->cons[i] = (struct tmdbq_consumer){
            .id = r->consumer_id,
            .host = r->host,
            .pid = r->pid,
            .started_at = r->started_at,
            .last_seen_at = r->last_seen_at,
            .last_seen_age_s = r->last_seen_age_s,
            .processed = r->processed,
            .failed = r->failed,
            .in_flight = r->in_flight,
            .live = r->live,
        };
    }
    s->pub.consumers = s->cons;
    s->pub.n_consumers = s->consumers.n;
    if (s->reapers.n > 0 && (s->reaps = calloc(s->reapers.n, sizeof *s->reaps)) == NULL) {
        st = err_set(&h->err, ST_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < s->reapers.n; i++) {
        const struct db_reaper_row *r = &s->reapers.items[i];
        s->reaps[i] = (struct tmdbq_reaper){
            .id = r->reaper_id,
            .host = r->host,
            .pid = r->pid,
            .started_at = r->started_at,
            .last_seen_at = r->last_seen_at,
            .last_seen_age_s = r->last_seen_age_s,
            .leader = r->leader,
            .live = r->live,
            .last_sweep_at = r->last_sweep_at[0] ? r->last_sweep_at : NULL,
            .last_sweep_json = r->last_sweep_json,
            .last_cleanup_at = r->last_cleanup_at[0] ? r->last_cleanup_at : NULL,
        };
    }
    s->pub.reapers = s->reaps;
    s->pub.n_reapers = s->reapers.n;
    st = status_budgets(h, s);
    if (st != ST_OK)
        goto out;
    st = status_queues(h, s);
    if (st != ST_OK)
        goto out;
    status_broker(h, s);
out:
    if (st != ST_OK) {
        tmdbq_status_free(&s->pub);
        return public_code(st);
    }
    *out = &s->pub;
    return TMDBQ_OK;
}

void tmdbq_status_free(struct tmdbq_status *pub)
{
    struct status_store *s = (struct status_store *)pub;

    if (s == NULL)
        return;
    db_consumers_free(&s->consumers);
    db_reapers_free(&s->reapers);
    free(s->cons);
    free(s->reaps);
    free(s->retry);
    free(s->retry_names);
    db_rate_scopes_free(&s->rate_scopes);
    free(s->budgets);
    free(s);
}

/* ---- status output ---- */

/* A JSON string literal for s, or null; appended to f. false when out of memory. */
static bool json_str(FILE *f, const char *s)
{
    char *q;

    if (s == NULL) {
        fputs("null", f);
        return true;
    }
    q = codec_json_quote(s);
    if (q == NULL)
        return false;
    fputs(q, f);
    free(q);
    return true;
}

/* A figure that may be unknown (-1): the number or null. */
static void json_count(FILE *f, int64_t v)
{
    if (v < 0)
        fputs("null", f);
    else
        fprintf(f, "%" PRId64, v);
}

static bool json_queue(FILE *f, const struct tmdbq_queue *q, bool with_delay)
{
    char d[32];
    bool ok;

    fputs("{\"name\":", f);
    ok = json_str(f, q->name);
    if (with_delay) {
        cfg_format_duration(q->delay_ms, d, sizeof d);
        fprintf(f, ",\"delay\":\"%s\",\"delay_ms\":%" PRId64, d, q->delay_ms);
    }
    fputs(",\"ready\":", f);
    json_count(f, q->ready);
    fputs(",\"unacked\":", f);
    json_count(f, q->unacked);
    fputs(",\"consumers\":", f);
    json_count(f, q->consumers);
    fputc('}', f);
    return ok;
}

static bool json_consumer(FILE *f, const struct tmdbq_consumer *c)
{
    bool ok;

    fputs("{\"consumer_id\":", f);
    ok = json_str(f, c->id);
    fputs(",\"host\":", f);
    ok = json_str(f, c->host) && ok;
    fprintf(
        f,
        ",\"pid\":%d,\"started_at\":\"%s\",\"last_seen_at\":\"%s\",\"processed\":%" PRId64
        ",\"failed\":%" PRId64 ",\"in_flight\":%d,\"live\":%s}",
        c->pid, c->started_at, c->last_seen_at, c->processed, c->failed, c->in_flight,
        c->live ? "true" : "false");
    return ok;
}

static bool json_reaper(FILE *f, const struct tmdbq_reaper *r)
{
    bool ok;

    fputs("{\"reaper_id\":", f);
    ok = json_str(f, r->id);
    fputs(",\"host\":", f);
    ok = json_str(f, r->host) && ok;
    fprintf(f,
            ",\"pid\":%d,\"started_at\":\"%s\",\"last_seen_at\":\"%s\",\"leader\":%s,"
            "\"live\":%s,\"last_sweep_at\":",
            r->pid, r->started_at, r->last_seen_at, r->leader ? "true" : "false",
            r->live ? "true" : "false");
    ok = json_str(f, r->last_sweep_at) && ok;
    /* PostgreSQL printed it from jsonb: valid JSON as it stands. */
    fprintf(f, ",\"last_sweep\":%s,\"last_cleanup_at\":",
            r->last_sweep_json ? r->last_sweep_json : "null");
    ok = json_str(f, r->last_cleanup_at) && ok;
    fputc('}', f);
    return ok;
}

/* The live leader, else NULL. */
static const struct tmdbq_reaper *live_leader(const struct tmdbq_status *s)
{
    for (size_t i = 0; i < s->n_reapers; i++) {
        if (s->reapers[i].leader && s->reapers[i].live)
            return &s->reapers[i];
    }
    return NULL;
}

/* Close a memstream and hand over its text (*text is only final after fclose), or NULL
 * when anything failed. */
static char *memstream_done(FILE *f, char **text, bool ok)
{
    if (fclose(f) != 0 || !ok) {
        free(*text);
        return NULL;
    }
    return *text;
}

char *tmdbq_status_to_json(const struct tmdbq_status *s)
{
    const struct tmdbq_reaper *leader = live_leader(s);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    bool ok = true, first;

    if (f == NULL)
        return NULL;
    fprintf(f, "{\"paused\":%s,\"since\":", s->pause.paused ? "true" : "false");
    ok = json_str(f, s->pause.since[0] ? s->pause.since : NULL) && ok;
    fprintf(f,
            ",\"stats\":{\"pending\":%" PRId64 ",\"processing\":%" PRId64
            ",\"completed\":%" PRId64 ",\"failed\":%" PRId64 ",\"cancelled\":%" PRId64
            ",\"total\":%" PRId64 "}",
            s->stats.pending, s->stats.processing, s->stats.completed, s->stats.failed,
            s->stats.cancelled, s->stats.total);
    for (int live = 1; live >= 0; live--) {
        fputs(live ? ",\"consumers\":[" : ",\"stale_consumers\":[", f);
        first = true;
        for (size_t i = 0; i < s->n_consumers; i++) {
            if (s->consumers[i].live != (live == 1))
                continue;
            if (!first)
                fputc(',', f);
            first = false;
            ok = json_consumer(f, &s->consumers[i]) && ok;
        }
        fputc(']', f);
    }
    fputs(",\"reaper\":{\"leader\":", f);
    if (leader != NULL)
        ok = json_reaper(f, leader) && ok;
    else
        fputs("null", f);
    fputs(",\"reapers\":[", f);
    for (size_t i = 0; i < s->n_reapers; i++) {
        if (i > 0)
            fputc(',', f);
        ok = json_reaper(f, &s->reapers[i]) && ok;
    }
    fprintf(f, "]},\"broker\":{\"reachable\":%s,\"error\":",
            s->broker_reachable ? "true" : "false");
    ok = json_str(f, s->broker_error) && ok;
    fputs(",\"work\":", f);
    ok = json_queue(f, &s->work, false) && ok;
    fputs(",\"retry\":[", f);
    for (size_t i = 0; i < s->n_retry; i++) {
        if (i > 0)
            fputc(',', f);
        ok = json_queue(f, &s->retry[i], true) && ok;
    }
    fputs("],\"dead\":", f);
    ok = json_queue(f, &s->dead, false) && ok;
    fprintf(f, ",\"management\":{\"reachable\":%s,\"url\":",
            s->management_reachable ? "true" : "false");
    ok = json_str(f, s->management_url) && ok;
    fputs(",\"error\":", f);
    ok = json_str(f, s->management_error) && ok;
    fprintf(f, "}},\"tmdb_budget\":{\"configured_rate\":%g,\"scope\":",
            s->configured_rate);
    ok = json_str(f, s->rate_scope) && ok;
    fputs(",\"scopes\":[", f);
    for (size_t i = 0; i < s->n_budgets; i++) {
        const struct tmdbq_budget *b = &s->budgets[i];

        fputs(i > 0 ? ",{\"scope\":" : "{\"scope\":", f);
        ok = json_str(f, b->scope) && ok;
        fprintf(f,
                ",\"rate\":%g,\"sent_per_s\":%.2f,\"requests_last_minute\":%" PRId64
                ",\"rate_limited_last_minute\":%" PRId64 ",\"cooldown_until\":",
                b->rate, b->sent_per_s, b->requests_1m, b->limited_1m);
        ok = json_str(f, b->cooldown_until) && ok;
        fputs(",\"seen_at\":", f);
        ok = json_str(f, b->seen_at) && ok;
        fputc('}', f);
    }
    fputs("]}}", f);
    return memstream_done(f, &text, ok);
}

/* An age for people: "4s", "3m12s", "5h3m", "2d4h". */
static void format_age(double secs, char *buf, size_t n)
{
    long long s = secs < 0 ? 0 : (long long)secs;

    if (s < 60)
        snprintf(buf, n, "%llds", s);
    else if (s < 3600)
        snprintf(buf, n, "%lldm%llds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, n, "%lldh%lldm", s / 3600, s % 3600 / 60);
    else
        snprintf(buf, n, "%lldd%lldh", s / 86400, s % 86400 / 3600);
}

/* A figure for people: the number, or "?" when unknown. */
static const char *count_text(int64_t v, char *buf, size_t n)
{
    if (v < 0)
        snprintf(buf, n, "?");
    else
        snprintf(buf, n, "%" PRId64, v);
    return buf;
}

static void text_queue(FILE *f, const struct tmdbq_queue *q)
{
    char r[24], u[24], c[24];

    fprintf(f, "  %-40s %10s %10s %10s\n", q->name, count_text(q->ready, r, sizeof r),
            count_text(q->unacked, u, sizeof u), count_text(q->consumers, c, sizeof c));
}

static void text_consumers(FILE *f, const struct tmdbq_status *s, bool live)
{
    char age[32];

    fprintf(f, "  %-32s %-16s %8s  %-24s %12s %9s %7s %9s\n", "ID", "HOST", "PID",
            "STARTED", "LAST SEEN", "PROCESSED", "FAILED", "IN FLIGHT");
    for (size_t i = 0; i < s->n_consumers; i++) {
        const struct tmdbq_consumer *c = &s->consumers[i];
        if (c->live != live)
            continue;
        format_age(c->last_seen_age_s, age, sizeof age);
        fprintf(f, "  %-32s %-16s %8d  %-24s %8s ago %9" PRId64 " %7" PRId64 " %9d\n",
                c->id, c->host, c->pid, c->started_at, age, c->processed, c->failed,
                c->in_flight);
    }
}

static void text_reaper(FILE *f, const struct tmdbq_reaper *r)
{
    char age[32];

    format_age(r->last_seen_age_s, age, sizeof age);
    fprintf(f, "  %s%s on %s (pid %d), last seen %s ago%s\n", r->id,
            r->leader ? " [leader]" : "", r->host, r->pid, age,
            r->live ? "" : " (stale)");
    if (r->leader) {
        fprintf(f, "    last sweep:   %s%s%s\n",
                r->last_sweep_at ? r->last_sweep_at : "none yet",
                r->last_sweep_json ? "  " : "",
                r->last_sweep_json ? r->last_sweep_json : "");
        fprintf(f, "    last cleanup: %s\n",
                r->last_cleanup_at ? r->last_cleanup_at : "none yet");
    }
}

static void text_budgets(FILE *f, const struct tmdbq_status *s)
{
    if (s->configured_rate > 0)
        fprintf(f, "\nTMDB budget: %g requests/s per %s (TMDBQ_TMDB_RATE)\n",
                s->configured_rate, s->rate_scope);
    else
        fprintf(f, "\nTMDB budget: none here (TMDBQ_TMDB_RATE=0)\n");
    if (s->n_budgets == 0) {
        fprintf(f, "  no consumer has used it yet\n");
        return;
    }
    fprintf(f, "  %-28s %8s %14s %14s  %s\n", "SCOPE", "RATE", "SENT/S (1 MIN)",
            "429s (1 MIN)", "COOL-DOWN");
    for (size_t i = 0; i < s->n_budgets; i++) {
        const struct tmdbq_budget *b = &s->budgets[i];

        fprintf(f, "  %-28s %8g %14.1f %14" PRId64 "  %s%s\n", b->scope, b->rate,
                b->sent_per_s, b->limited_1m, b->cooldown_until ? "until " : "none",
                b->cooldown_until ? b->cooldown_until : "");
    }
}

char *tmdbq_status_to_text(const struct tmdbq_status *s)
{
    char *text = NULL;
    size_t len = 0, live = 0, stale = 0;
    FILE *f = open_memstream(&text, &len);
    char age[32];

    if (f == NULL)
        return NULL;
    format_age(s->pause.age_s, age, sizeof age);
    if (s->pause.since[0])
        fprintf(f, "queue:      %s since %s (%s ago)\n",
                s->pause.paused ? "PAUSED" : "running", s->pause.since, age);
    else
        fprintf(f, "queue:      %s\n", s->pause.paused ? "PAUSED" : "running");
    fprintf(f,
            "operations: %" PRId64 " pending, %" PRId64 " processing, %" PRId64
            " completed, %" PRId64 " failed, %" PRId64 " cancelled (%" PRId64
            " in all)\n",
            s->stats.pending, s->stats.processing, s->stats.completed, s->stats.failed,
            s->stats.cancelled, s->stats.total);
    for (size_t i = 0; i < s->n_consumers; i++) {
        if (s->consumers[i].live)
            live++;
        else
            stale++;
    }
    fprintf(f, "\nconsumers:  %zu live\n", live);
    if (live > 0)
        text_consumers(f, s, true);
    if (stale > 0) {
        fprintf(f, "\nstale consumers (not seen for %ds; stopped or stuck): %zu\n",
                LIVE_MS / 1000, stale);
        text_consumers(f, s, false);
    }
    if (live_leader(s) == NULL)
        fprintf(f, "\nreapers:    %zu registered, no live leader\n", s->n_reapers);
    else
        fprintf(f, "\nreapers:    %zu registered\n", s->n_reapers);
    for (size_t i = 0; i < s->n_reapers; i++)
        text_reaper(f, &s->reapers[i]);

    if (!s->broker_reachable) {
        fprintf(f, "\nbroker:     UNREACHABLE: %s\n",
                s->broker_error ? s->broker_error : "");
    } else {
        fprintf(f, "\nbroker:\n  %-40s %10s %10s %10s\n", "QUEUE", "READY", "UNACKED",
                "CONSUMERS");
        text_queue(f, &s->work);
        for (size_t i = 0; i < s->n_retry; i++)
            text_queue(f, &s->retry[i]);
        text_queue(f, &s->dead);
        if (s->management_reachable)
            fprintf(f,
                    "  (unacked from the management API at %s, sampled every few "
                    "seconds)\n",
                    s->management_url);
        else
            fprintf(f, "  (unacked unknown: %s)\n",
                    s->management_error ? s->management_error : "no management API");
    }
    text_budgets(f, s);
    return memstream_done(f, &text, true);
}

int tmdbq_global_init(void)
{
    struct err e = {0};

    return mqadmin_global_init(&e) == ST_OK ? TMDBQ_OK : TMDBQ_ESERVICE;
}

void tmdbq_global_cleanup(void) { mqadmin_global_cleanup(); }

/* ---- apply ------------------------------------------------------------------------ */

/* The direct attempt keeps to the consumers' request budget: it takes a slot like they
 * do, waiting no longer than its own timeout (then it is queued, unsent), and a 429 sets
 * the cool-down for everyone. */
struct apply_pace {
    struct rate *rate;
    struct tmdbq *h; /* its db may be replaced by a reconnect */
    int64_t deadline_ms;
};

static bool apply_pace_quit(void *arg)
{
    const struct apply_pace *p = arg;

    return clock_now_ms() >= p->deadline_ms;
}

static bool apply_pace_before(void *arg)
{
    struct apply_pace *p = arg;
    struct err e = {0};
    enum status st = rate_take(p->rate, p->h->db, apply_pace_quit, p, &e);

    if (st != ST_OK)
        log_debug("the direct attempt gets no TMDB request slot: %s", e.msg);
    return st == ST_OK;
}

static void apply_pace_after(void *arg, bool limited, int64_t retry_after_ms)
{
    struct apply_pace *p = arg;

    rate_note(p->rate, p->h->db, limited, retry_after_ms);
}

/* The consumer id of a direct attempt, "apply:<host>:<pid>": a row left processing says
 * which process held it, and no consumer's id can be the same. */
static void apply_consumer_id(char *buf, size_t n)
{
    char host[256];

    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = '\0';
    snprintf(buf, n, "apply:%s:%ld", host, (long)getpid());
}

/* Before calling TMDB: the user credential that the type needs, as the consumer checks
 * it (consumer/outcome.c). Fills msg and returns false when it is missing. */
static bool apply_creds_ok(const struct op *op, const struct db_claim *c, char *msg,
                           size_t n)
{
    if (c->session_id == NULL || c->session_id[0] == '\0') {
        snprintf(msg, n,
                 "no TMDB session for user %d (set one with: tmdbq session set --user %d "
                 "--session-id S)",
                 (int)op->user_id, (int)op->user_id);
        return false;
    }
    if (op->type == OP_UPDATE_LIST &&
        (c->access_token == NULL || c->access_token[0] == '\0')) {
        snprintf(msg, n,
                 "no TMDB v4 access token for user %d (update_list needs one; set it "
                 "with: tmdbq session set --user %d --session-id S --access-token T)",
                 (int)op->user_id, (int)op->user_id);
        return false;
    }
    return true;
}

/* Record the direct attempt's outcome with the consumer's call. db_finish is idempotent,
 * so after a lost connection one reconnect and the same call again is safe: TMDB has
 * answered, and an outcome left unrecorded means the operation runs once more after its
 * lease. */
static enum status apply_record(struct tmdbq *h, const char *id, const char *consumer,
                                const struct db_outcome *o, struct db_handon *next)
{
    bool recorded = false;
    struct db *fresh = NULL;
    enum status st = db_finish(h->db, id, consumer, o, &recorded, next, &h->err);

    if (st == ST_DB && !db_connected(h->db)) {
        log_warn("op=%s could not record the outcome of the direct attempt: %s; "
                 "reconnecting once",
                 id, h->err.msg);
        if (db_open(h->cfg.database_url, h->cfg.connect_timeout_ms, &fresh, &h->err) ==
            ST_OK) {
            db_close(h->db);
            h->db = fresh;
            st = db_finish(h->db, id, consumer, o, &recorded, next, &h->err);
        }
    }
    if (st != ST_OK) {
        err_prefix(&h->err,
                   "TMDB answered but the outcome of operation %s was not recorded (it "
                   "stays processing and is performed again after its lease)",
                   id);
        return st;
    }
    if (!recorded)
        return err_set(&h->err, ST_DB,
                       "TMDB answered but operation %s was taken over before its outcome "
                       "was recorded (its lease ran out); it is performed again",
                       id);
    return ST_OK;
}

/* The direct attempt: steps 2 and 3 of tmdbq_apply. c is the claimed row. */
static enum status apply_direct(struct tmdbq *h, struct tmdb_client *client,
                                const char *consumer, struct db_claim *c,
                                struct tmdbq_apply_result *res)
{
    struct tmdb_result tr;
    struct tmdb_creds creds = {c->session_id, c->access_token};
    struct db_outcome o;
    struct db_handon next = {0};
    char msg[512];
    enum status st;

    memset(&tr, 0, sizeof tr);
    memset(&o, 0, sizeof o);
    if (!apply_creds_ok(&c->op, c, msg, sizeof msg)) {
        o.kind = DB_OUT_FAILED;
        o.error_message = msg;
        o.error_kind = "permanent";
        res->outcome = TMDBQ_FAILED;
    } else {
        tmdb_execute(client, c->op.type, c->op.list_id, c->op.data_json, &creds, &tr);
        res->tmdb_called = true;
        res->http_status = tr.http_status;
        res->tmdb_code = tr.tmdb_code;
        switch (tr.outcome) {
        case TMDB_DONE:
        case TMDB_GOAL_HOLDS:
            o.kind = DB_OUT_COMPLETED;
            o.result_json = tr.result_json;
            res->outcome = TMDBQ_APPLIED;
            break;
        case TMDB_TRANSIENT:
        case TMDB_RATE_LIMITED:
        case TMDB_NOT_SENT:
        case TMDB_DEPLOYMENT:
            /* The direct attempt spends no retry: its short timeout is the user's
             * patience, not a fair try; the consumers start with the full budget. A
             * Retry-After is honoured (a claim before then publishes it again). */
            o.kind = DB_OUT_RETRY;
            o.delay_ms = tr.retry_after_ms;
            o.count_retry = false;
            o.error_kind = tr.outcome == TMDB_DEPLOYMENT     ? "deployment"
                           : tr.outcome == TMDB_TRANSIENT ? "transient"
                                                          : "rate_limit";
            if (tr.outcome == TMDB_DEPLOYMENT)
                snprintf(msg, sizeof msg,
                         "TMDB rejects the application's credential (TMDB_API_KEY / "
                         "TMDB_ACCESS_TOKEN): %s",
                         tr.message);
            else
                snprintf(msg, sizeof msg, "direct attempt: %s", tr.message);
            o.error_message = msg;
            res->outcome = TMDBQ_QUEUED;
            res->reason = TMDBQ_QUEUED_UNAVAILABLE;
            break;
        case TMDB_PERMANENT:
        default:
            snprintf(msg, sizeof msg, "%s", tr.message);
            o.kind = DB_OUT_FAILED;
            o.error_message = msg;
            o.error_kind = "permanent";
            res->outcome = TMDBQ_FAILED;
            break;
        }
    }
    st = apply_record(h, c->op.id, consumer, &o, &next);
    if (st != ST_OK)
        goto out;
    st = db_get_op(h->db, c->op.id, &res->op->op, &h->err);
    if (st != ST_OK)
        goto out;
    if (res->outcome == TMDBQ_QUEUED) {
        log_info("op=%s TMDB unavailable (%s): queued", c->op.id, msg);
        st = publish_ops(h, res->op, 1);
    } else {
        st = publish_handon(h, &next);
    }
    if (res->outcome == TMDBQ_FAILED)
        log_debug("op=%s failed: %s", c->op.id, msg);
    else if (res->outcome == TMDBQ_APPLIED)
        log_debug("op=%s applied", c->op.id);
out:
    tmdb_result_cleanup(&tr);
    return st;
}

int tmdbq_apply(struct tmdbq *h, const struct tmdbq_request *req,
                struct tmdbq_apply_result **out)
{
    struct op_request r = {0};
    struct db_claim c;
    struct tmdb_client *client = NULL;
    struct tmdbq_apply_result *res = NULL;
    struct tmdb_config tc;
    struct apply_pace pace = {NULL, h, clock_now_ms() + h->cfg.apply_timeout_ms};
    struct tmdb_pacer pacer = {apply_pace_before, apply_pace_after, &pace};
    enum db_apply_start how;
    char consumer[320], host[256];
    int64_t lease_ms;
    enum status st;

    *out = NULL;
    memset(&c, 0, sizeof c);
    h->mq_down = false;
    st = request_build(req, &r, &h->err);
    if (st != ST_OK)
        goto out;
    if (h->cfg.tmdb_api_key == NULL && h->cfg.tmdb_access_token == NULL) {
        st = err_set(&h->err, ST_INVALID,
                     "apply calls TMDB and needs the application's credential: set "
                     "TMDB_API_KEY or TMDB_ACCESS_TOKEN (or use tmdbq enqueue)");
        goto out;
    }
    /* The client first: nothing is written unless the call can be made. */
    memset(&tc, 0, sizeof tc);
    tc.base_url = h->cfg.tmdb_api_url;
    tc.api_key = h->cfg.tmdb_api_key;
    tc.read_token = h->cfg.tmdb_access_token;
    tc.timeout_ms = h->cfg.apply_timeout_ms;
    tc.connect_timeout_ms = h->cfg.connect_timeout_ms < h->cfg.apply_timeout_ms
                                ? h->cfg.connect_timeout_ms
                                : h->cfg.apply_timeout_ms;
    st = tmdb_client_new(&tc, &client, &h->err);
    if (st != ST_OK)
        goto out;
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = '\0';
    st = rate_scope_new(&h->cfg, host, &pace.rate, &h->err);
    if (st != ST_OK)
        goto out;
    tmdb_client_set_pacer(client, &pacer);
    res = calloc(1, sizeof *res);
    if (res == NULL || (res->op = calloc(1, sizeof *res->op)) == NULL) {
        st = err_set(&h->err, ST_NOMEM, "out of memory");
        goto out;
    }
    res->op->from_enqueue = true;
    apply_consumer_id(consumer, sizeof consumer);
    /* The lease must outlive the direct attempt (two requests for a delete, and a
     * reconnect to record it), or a rescue could run the operation a second time. */
    lease_ms = 2 * h->cfg.apply_timeout_ms + h->cfg.connect_timeout_ms + 1000;
    if (lease_ms < h->cfg.lease_ms)
        lease_ms = h->cfg.lease_ms;
    st = db_apply_begin(h->db, &r, consumer, lease_ms, &how, &c, &h->err);
    if (st != ST_OK)
        goto out;
    if (how == DB_APPLY_DIRECT) {
        st = apply_direct(h, client, consumer, &c, res);
    } else {
        res->outcome = TMDBQ_QUEUED;
        res->reason = how == DB_APPLY_DUPLICATE      ? TMDBQ_QUEUED_DUPLICATE
                      : how == DB_APPLY_QUEUED_PAUSED ? TMDBQ_QUEUED_PAUSED
                                                      : TMDBQ_QUEUED_LIST_BUSY;
        res->op->op = c.op;
        memset(&c.op, 0, sizeof c.op);
        res->op->duplicate = how == DB_APPLY_DUPLICATE;
        log_debug("op=%s queued without a TMDB call (%s)", res->op->op.id,
                  how == DB_APPLY_DUPLICATE ? "duplicate"
                  : how == DB_APPLY_QUEUED_PAUSED ? "paused"
                                                  : "the list has earlier operations");
        st = publish_ops(h, res->op, 1);
    }
    if (st != ST_OK)
        goto out;
    res->result = res->outcome == TMDBQ_APPLIED ? res->op->op.result_json : NULL;
    if (res->outcome == TMDBQ_FAILED || res->reason == TMDBQ_QUEUED_UNAVAILABLE)
        res->error = res->op->op.error_message;
    if (res->outcome == TMDBQ_FAILED)
        err_set(&h->err, ST_INVALID, "operation %s failed: %s", res->op->op.id,
                res->error ? res->error : "");
    *out = res;
    res = NULL;
out:
    tmdbq_apply_result_free(res);
    db_claim_cleanup(&c);
    if (pace.rate != NULL)
        rate_flush(pace.rate, h->db);
    rate_free(pace.rate);
    tmdb_client_free(client);
    op_request_cleanup(&r);
    if (st == ST_OK && *out != NULL && (*out)->outcome == TMDBQ_FAILED)
        return TMDBQ_EREJECTED;
    return public_code(st);
}

static const char *queued_reason_name(enum tmdbq_queued_reason r)
{
    switch (r) {
    case TMDBQ_QUEUED_LIST_BUSY:
        return "list_busy";
    case TMDBQ_QUEUED_DUPLICATE:
        return "duplicate";
    case TMDBQ_QUEUED_PAUSED:
        return "paused";
    case TMDBQ_QUEUED_UNAVAILABLE:
        return "tmdb_unavailable";
    case TMDBQ_QUEUED_NONE:
        break;
    }
    return "none";
}

static const char *apply_outcome_name(enum tmdbq_apply_outcome o)
{
    return o == TMDBQ_APPLIED ? "applied" : o == TMDBQ_QUEUED ? "queued" : "failed";
}

char *tmdbq_apply_result_to_json(const struct tmdbq_apply_result *r)
{
    char *text = NULL, *op = NULL;
    size_t len = 0;
    FILE *f;
    bool ok = true;

    op = tmdbq_op_to_json(r->op);
    if (op == NULL)
        return NULL;
    f = open_memstream(&text, &len);
    if (f == NULL) {
        free(op);
        return NULL;
    }
    fprintf(f, "{\"outcome\":\"%s\"", apply_outcome_name(r->outcome));
    if (r->outcome == TMDBQ_APPLIED) {
        /* PostgreSQL printed it from jsonb: valid JSON as it stands. */
        fprintf(f, ",\"result\":%s", r->result ? r->result : "null");
    } else if (r->outcome == TMDBQ_QUEUED) {
        fprintf(f, ",\"reason\":\"%s\"", queued_reason_name(r->reason));
        if (r->error != NULL) {
            fputs(",\"error\":", f);
            ok = json_str(f, r->error);
        }
    } else {
        fputs(",\"error\":", f);
        ok = json_str(f, r->error ? r->error : "");
        fputs(",\"http_status\":", f);
        json_count(f, r->http_status > 0 ? r->http_status : -1);
        fputs(",\"tmdb_status_code\":", f);
        json_count(f, r->tmdb_code > 0 ? r->tmdb_code : -1);
    }
    fprintf(f, ",\"operation\":%s}", op);
    free(op);
    return memstream_done(f, &text, ok);
}

char *tmdbq_apply_result_to_text(const struct tmdbq_apply_result *r)
{
    char *text = NULL, *op = NULL;
    size_t len = 0;
    FILE *f;

    op = tmdbq_op_to_text(r->op);
    if (op == NULL)
        return NULL;
    f = open_memstream(&text, &len);
    if (f == NULL) {
        free(op);
        return NULL;
    }
    fprintf(f, "outcome:        %s", apply_outcome_name(r->outcome));
    if (r->outcome == TMDBQ_QUEUED)
        fprintf(f, " (%s)", queued_reason_name(r->reason));
    fputc('\n', f);
    if (r->outcome == TMDBQ_APPLIED && r->result != NULL)
        fprintf(f, "tmdb result:    %s\n", r->result);
    if (r->error != NULL)
        fprintf(f, "why:            %s\n", r->error);
    fputs(op, f);
    free(op);
    return memstream_done(f, &text, true);
}

void tmdbq_apply_result_free(struct tmdbq_apply_result *r)
{
    if (r == NULL)
        return;
    tmdbq_op_free(r->op);
    free(r);
}

/* ---- operations ----------------------------------------------------------------------
 */

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

const char *tmdbq_op_result(const struct tmdbq_op *op)
{
    return op->op.result_json;
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
