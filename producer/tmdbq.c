/*
 * tmdbq.c: the handle of libtmdbq (tmdbq.h), the life of one call, and the operations
 * the other files hand out.
 *
 * A handle holds the configuration, a PostgreSQL connection made at open and a RabbitMQ
 * connection made when first needed. Every public call begins with call_begin and ends
 * with public_code (see tmdbq_internal.h); the subsystems live in their own files.
 */
#include "tmdbq_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "codec.h"
#include "jsonout.h"
#include "mq.h"
#include "mqadmin.h"

/* ---- the handle ----------------------------------------------------------------------
 */

int tmdbq_open(const char *database_url, const char *amqp_url, struct tmdbq **out)
{
    struct tmdbq *h = calloc(1, sizeof *h);
    enum status st;

    *out = h;
    if (h == NULL)
        return TMDBQ_ESERVICE;
    st = cfg_load(&h->cfg, &h->call.err);
    if (st != ST_OK)
        return public_code(st);
    if (database_url)
        h->cfg.database_url = database_url;
    if (amqp_url)
        h->cfg.amqp_url = amqp_url;
    st = db_open(h->cfg.database_url, h->cfg.connect_timeout_ms, &h->db, &h->call.err);
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
    return h->call.err.msg;
}

int tmdbq_migrate(struct tmdbq *h, int *applied, int *version)
{
    int a = 0, v = 0;
    enum status st;

    call_begin(h);
    st = db_migrate(h->db, &a, &v, &h->call.err);
    if (applied)
        *applied = a;
    if (version)
        *version = v;
    return public_code(st);
}

int tmdbq_migrate_broker(struct tmdbq *h, int *queues, long *messages, long *dropped)
{
    struct backoff_policy policy = backoff_policy_of(&h->cfg);
    struct mq_migration m;
    enum status st;

    call_begin(h);
    st = mq_migrate(h->cfg.amqp_url, h->cfg.amqp_prefix, &policy,
                    h->cfg.connect_timeout_ms, &m, &h->call.err);
    if (queues)
        *queues = m.reached ? (int)m.queues : -1;
    if (messages)
        *messages = (long)m.messages;
    if (dropped)
        *dropped = (long)m.foreign;
    return public_code(st);
}

int tmdbq_global_init(void)
{
    struct err e = {0};

    return public_code(mqadmin_global_init(&e));
}

void tmdbq_global_cleanup(void) { mqadmin_global_cleanup(); }

/* ---- the life of a call -------------------------------------------------------------
 */

void call_begin(struct tmdbq *h) { memset(&h->call, 0, sizeof h->call); }

enum status call_calloc(struct tmdbq *h, size_t n, size_t size, void **items)
{
    *items = n > 0 ? calloc(n, size) : NULL;
    if (n > 0 && *items == NULL)
        return err_set(&h->call.err, ST_NOMEM, "out of memory");
    return ST_OK;
}

int public_code(enum status st) { return status_exit_code(st); }

enum status broker_connect(struct tmdbq *h, struct err *e)
{
    struct backoff_policy policy = backoff_policy_of(&h->cfg);

    if (h->mq != NULL)
        return ST_OK;
    return mq_open(h->cfg.amqp_url, h->cfg.amqp_prefix, &policy,
                   h->cfg.connect_timeout_ms, &h->mq, e);
}

/* ---- requests ---------------------------------------------------------------------- */

struct tmdbq_request tmdbq_request_init(void)
{
    struct tmdbq_request r;

    memset(&r, 0, sizeof r);
    r.public_flag = -1;
    return r;
}

enum status request_build(const struct tmdbq_request *req, struct op_request *out,
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

enum status check_user(struct tmdbq *h, int64_t user)
{
    if (user < 1 || user > INT32_MAX)
        return err_set(&h->call.err, ST_INVALID, "\"user\" must be a positive integer");
    return ST_OK;
}

/* ---- operations ----------------------------------------------------------------------
 */

enum status op_from_row(struct tmdbq *h, struct op *row, struct tmdbq_op **out)
{
    struct tmdbq_op *op = calloc(1, sizeof *op);

    if (op == NULL) {
        op_cleanup(row);
        return err_set(&h->call.err, ST_NOMEM, "out of memory");
    }
    op->op = *row;
    memset(row, 0, sizeof *row);
    *out = op;
    return ST_OK;
}

enum status list_from_db(struct tmdbq *h, struct db_ops *rows, struct tmdbq_op_list **out)
{
    struct tmdbq_op_list *l = calloc(1, sizeof *l);

    if (l == NULL ||
        (rows->n > 0 && (l->items = calloc(rows->n, sizeof *l->items)) == NULL)) {
        free(l);
        db_ops_free(rows);
        return err_set(&h->call.err, ST_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < rows->n; i++)
        l->items[i].op = rows->items[i];
    l->n = rows->n;
    /* The rows' owned strings now belong to l. */
    free(rows->items);
    rows->items = NULL;
    rows->n = 0;
    *out = l;
    return ST_OK;
}

const char *tmdbq_op_id(const struct tmdbq_op *op) { return op->op.id; }

const char *tmdbq_op_type(const struct tmdbq_op *op) { return op_type_name(op->op.type); }

const char *tmdbq_op_status(const struct tmdbq_op *op)
{
    return op_status_name(op->op.status);
}

bool tmdbq_op_published(const struct tmdbq_op *op) { return op->op.published; }

bool tmdbq_op_duplicate(const struct tmdbq_op *op) { return op->duplicate; }

int tmdbq_op_retry_count(const struct tmdbq_op *op) { return op->op.retry_count; }

const char *tmdbq_op_inserted_at(const struct tmdbq_op *op) { return op->op.inserted_at; }

const char *tmdbq_op_error(const struct tmdbq_op *op) { return op->op.error_message; }

const char *tmdbq_op_result(const struct tmdbq_op *op) { return op->op.result_json; }

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

size_t tmdbq_op_list_count(const struct tmdbq_op_list *l) { return l->n; }

const struct tmdbq_op *tmdbq_op_list_get(const struct tmdbq_op_list *l, size_t i)
{
    return &l->items[i];
}

char *tmdbq_op_list_to_json(const struct tmdbq_op_list *l)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr != NULL && i < l->n; i++) {
        if (json_array_append_new(arr, jsonout_op(&l->items[i])) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return jsonout_dump(arr, 0);
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
