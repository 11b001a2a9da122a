/*
 * api: the /v1 endpoints over libtmdbq (see api.h).
 *
 * Every handler has the same shape: read the path's ids and the body, borrow a handle,
 * make one libtmdbq call, turn its int into an HTTP status (one switch, http_status_of)
 * and its result into JSON, give the handle back. The JSON of operations, of an apply's
 * result and of the status is libtmdbq's own (tmdbq_*_to_json), so the HTTP API prints
 * exactly what `tmdbq --json` prints. Validation of operations is libtmdbq's too: the
 * body's fields are only checked for their JSON type here, the values there. The bulk
 * form goes through tmdbq_enqueue_stream, one compact JSON line per item, so it is the
 * same batched insert and pipelined publish as `tmdbq enqueue --file`.
 *
 * A read-only request (GET) whose reused handle fails with a service error is tried
 * once more on a new handle: after a PostgreSQL restart every idle handle holds a dead
 * connection, and a read can be repeated without harm. A write is never repeated here
 * (it may have been committed): the client gets 503 and decides.
 */
#include "api.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "batch.h"
#include "pool.h"
#include "tmdbq.h"

#define MAX_CAPTURES 2

struct api {
    struct pool *pool;
    struct batch *batch;
    bool apply_ok;
    const char *openapi;
    size_t openapi_len;
};

enum status api_new(struct pool *pool, bool apply_ok, const char *openapi, size_t len,
                    struct api **out, struct err *e)
{
    struct api *a = calloc(1, sizeof *a);
    enum status st;

    *out = NULL;
    if (a == NULL)
        return err_set(e, ST_NOMEM, "out of memory");
    st = batch_new(pool, &a->batch, e);
    if (st != ST_OK) {
        free(a);
        return st;
    }
    a->pool = pool;
    a->apply_ok = apply_ok;
    a->openapi = openapi;
    a->openapi_len = len;
    *out = a;
    return ST_OK;
}

void api_free(struct api *a)
{
    if (a == NULL)
        return;
    batch_free(a->batch);
    free(a);
}

/* ---- replies ------------------------------------------------------------------------
 */

/* s with every byte that is not part of valid UTF-8 replaced by '?', in place. */
static void utf8_sanitize(char *s)
{
    unsigned char *p = (unsigned char *)s;

    while (*p) {
        size_t need = 0;

        if (*p < 0x80)
            need = 0;
        else if ((*p & 0xe0) == 0xc0 && *p >= 0xc2)
            need = 1;
        else if ((*p & 0xf0) == 0xe0)
            need = 2;
        else if ((*p & 0xf8) == 0xf0 && *p <= 0xf4)
            need = 3;
        else {
            *p++ = '?';
            continue;
        }
        size_t k = 1;
        while (k <= need && (p[k] & 0xc0) == 0x80)
            k++;
        if (k <= need) {
            *p++ = '?';
            continue;
        }
        p += need + 1;
    }
}

void api_error(struct api_reply *rp, int status, const char *fmt, ...)
{
    char msg[1024];
    json_t *o;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    utf8_sanitize(msg);
    free(rp->body);
    rp->status = status;
    o = json_pack("{s:s}", "error", msg);
    rp->body = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
}

/* printf into a new string; NULL when out of memory. */
static char *format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *format(const char *fmt, ...)
{
    va_list ap;
    char *s;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || (s = malloc((size_t)n + 1)) == NULL)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* Take ownership of a malloc'd JSON text as the body; NULL (out of memory) is a 500. */
static void reply_json(struct api_reply *rp, int status, char *json)
{
    free(rp->body);
    rp->body = json;
    rp->status = json != NULL ? status : 500;
}

/* A jansson value as the body (stolen). */
static void reply_value(struct api_reply *rp, int status, json_t *v)
{
    reply_json(rp, status, v != NULL ? json_dumps(v, JSON_COMPACT) : NULL);
    json_decref(v);
}

/* The one mapping of libtmdbq's results to HTTP statuses. */
static int http_status_of(int rc)
{
    switch (rc) {
    case TMDBQ_OK:
        return 200;
    case TMDBQ_ESERVICE:
        return 503;
    case TMDBQ_EINVAL:
        return 400;
    case TMDBQ_ENOTFOUND:
        return 404;
    case TMDBQ_ESTATE:
        return 409;
    case TMDBQ_EREJECTED:
        return 422;
    default:
        return 500;
    }
}

/* A failed call: its status and tmdbq_errmsg (read before the handle goes back). */
static void reply_failure(struct api_reply *rp, struct tmdbq *h, int rc)
{
    api_error(rp, http_status_of(rc), "%s", tmdbq_errmsg(h));
    rp->retry_after = rc == TMDBQ_ESERVICE;
}

static void reply_op(struct api_reply *rp, int status, const struct tmdbq_op *op)
{
    snprintf(rp->op, sizeof rp->op, "%s", tmdbq_op_id(op));
    reply_json(rp, status, tmdbq_op_to_json(op));
}

/* A list of operations as a JSON array, as `tmdbq pending --json` prints it. */
static void reply_op_list(struct api_reply *rp, const struct tmdbq_op_list *l)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    bool ok = f != NULL;

    if (ok)
        ok = fputc('[', f) != EOF;
    for (size_t i = 0; ok && i < tmdbq_op_list_count(l); i++) {
        char *one = tmdbq_op_to_json(tmdbq_op_list_get(l, i));
        ok = one != NULL && fprintf(f, "%s%s", i == 0 ? "" : ",", one) >= 0;
        free(one);
    }
    if (ok)
        ok = fputc(']', f) != EOF;
    if (f != NULL && fclose(f) != 0)
        ok = false;
    if (!ok) {
        free(text);
        text = NULL;
    }
    reply_json(rp, 200, text);
}

/* ---- handles ------------------------------------------------------------------------
 */

/* Borrow a handle, or fill rp with why not (503 and Retry-After when busy or the
 * database is away; 500 when the configuration is bad). */
static bool borrow(struct api *a, struct api_reply *rp, struct tmdbq **h, bool *fresh)
{
    struct err e = {0};
    enum status st = pool_get(a->pool, h, fresh, &e);

    if (st == ST_OK)
        return true;
    api_error(rp, st == ST_INVALID ? 500 : 503, "%s", e.msg);
    rp->retry_after = st != ST_INVALID;
    return false;
}

static void give_back(struct api *a, struct tmdbq *h, int rc)
{
    pool_put(a->pool, h, rc == TMDBQ_ESERVICE);
}

/* Whether a read that failed with rc on a handle (fresh: just opened) is worth one more
 * try on another handle. */
static bool read_again(int rc, bool fresh, int attempt)
{
    return rc == TMDBQ_ESERVICE && !fresh && attempt == 0;
}

/* ---- request bodies ------------------------------------------------------------------
 */

/* Parse the body as one JSON value (duplicate keys refused, as the CLI's bulk lines).
 * NULL after filling rp with a 400. */
static json_t *parse_body(const struct api_request *rq, struct api_reply *rp)
{
    json_error_t jerr;
    json_t *v;

    if (rq->body_len == 0) {
        api_error(rp, 400, "the request needs a JSON body");
        return NULL;
    }
    v = json_loadb(rq->body, rq->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (v == NULL)
        api_error(rp, 400, "invalid JSON: %s at line %d, column %d", jerr.text, jerr.line,
                  jerr.column);
    return v;
}

/* The body's object as a tmdbq_request: the same fields, with the same JSON types, as a
 * line of `tmdbq enqueue --file` (type, user, list, movie, name, description, public,
 * data). Strings are borrowed from root; *data_json (the data object as text) is the
 * caller's to free. Values are not checked here: libtmdbq does, with messages that name
 * the field. false with msg filled when the shape is wrong. */
static bool request_from_json(json_t *root, struct tmdbq_request *r, char **data_json,
                              char *msg, size_t n)
{
    const char *key;
    json_t *v;

    *r = tmdbq_request_init();
    *data_json = NULL;
    if (!json_is_object(root)) {
        snprintf(msg, n, "an operation must be a JSON object");
        return false;
    }
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "type") == 0 || strcmp(key, "name") == 0 ||
            strcmp(key, "description") == 0) {
            if (!json_is_string(v)) {
                snprintf(msg, n, "\"%s\" must be a string", key);
                return false;
            }
            if (key[0] == 't')
                r->type = json_string_value(v);
            else if (key[0] == 'n')
                r->name = json_string_value(v);
            else
                r->description = json_string_value(v);
        } else if (strcmp(key, "user") == 0 || strcmp(key, "list") == 0 ||
                   strcmp(key, "movie") == 0) {
            if (!json_is_integer(v)) {
                snprintf(msg, n, "\"%s\" must be an integer", key);
                return false;
            }
            if (key[0] == 'u') {
                r->user = json_integer_value(v);
                r->has_user = true;
            } else if (key[0] == 'l') {
                r->list = json_integer_value(v);
                r->has_list = true;
            } else {
                r->movie = json_integer_value(v);
                r->has_movie = true;
            }
        } else if (strcmp(key, "public") == 0) {
            if (!json_is_boolean(v)) {
                snprintf(msg, n, "\"public\" must be true or false");
                return false;
            }
            r->public_flag = json_is_true(v) ? 1 : 0;
        } else if (strcmp(key, "data") == 0) {
            if (!json_is_object(v)) {
                snprintf(msg, n, "\"data\" must be a JSON object");
                return false;
            }
            free(*data_json);
            *data_json = json_dumps(v, JSON_COMPACT);
            if (*data_json == NULL) {
                snprintf(msg, n, "out of memory");
                return false;
            }
        } else {
            snprintf(
                msg, n,
                "unknown field \"%s\" (expected type, user, list, data, movie, name, "
                "description, public)",
                key);
            free(*data_json);
            *data_json = NULL;
            return false;
        }
    }
    if (r->type == NULL) {
        snprintf(msg, n, "\"type\" is required");
        free(*data_json);
        *data_json = NULL;
        return false;
    }
    r->data_json = *data_json;
    return true;
}

/* ---- path arguments ------------------------------------------------------------------
 */

/* A user id from the path: digits only; the range is libtmdbq's to check. */
static bool path_user(const char *s, int64_t *out, struct api_reply *rp)
{
    char *end = NULL;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || errno != 0 || *end != '\0') {
        api_error(rp, 400, "user id \"%.64s\" must be a positive integer", s);
        return false;
    }
    *out = v;
    return true;
}

/* ---- handlers ------------------------------------------------------------------------
 */

/* One result of the bulk form, as the emit callback of tmdbq_enqueue_stream sees it. */
struct bulk {
    FILE *out; /* the results array, comma-separated */
    size_t n;
    int64_t enqueued, duplicates, invalid;
    bool oom;
};

static void bulk_emit(void *ctx, const struct tmdbq_line_result *r)
{
    struct bulk *b = ctx;
    const char *sep = b->n++ == 0 ? "" : ",";

    if (r->status == TMDBQ_OK) {
        char *op = tmdbq_op_to_json(r->op);

        if (tmdbq_op_duplicate(r->op))
            b->duplicates++;
        else
            b->enqueued++;
        if (op == NULL ||
            fprintf(b->out, "%s{\"index\":%ld,\"ok\":true,\"operation\":%s}", sep,
                    r->line - 1, op) < 0)
            b->oom = true;
        free(op);
    } else {
        json_t *o = json_pack("{s:I,s:b,s:s}", "index", (json_int_t)(r->line - 1), "ok",
                              0, "error", r->error != NULL ? r->error : "invalid");
        char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

        b->invalid++;
        if (text == NULL || fprintf(b->out, "%s%s", sep, text) < 0)
            b->oom = true;
        free(text);
        json_decref(o);
    }
}

/* {"operations":[...]}: every item as one line of `tmdbq enqueue --file`. 200 with one
 * result per item, in order (the valid ones are enqueued even when others are not, as
 * with the CLI); 503 when PostgreSQL failed, with the results of the batches that went
 * in before it. */
static void enqueue_bulk(struct api *a, json_t *items, struct api_reply *rp)
{
    struct bulk b = {0};
    char *lines = NULL, *results = NULL, *body = NULL, *quoted = NULL;
    char failure[600] = "";
    size_t lines_len = 0, results_len = 0;
    FILE *in = NULL, *lf = NULL;
    struct tmdbq *h = NULL;
    bool fresh, ok = true;
    size_t i;
    json_t *item, *msg;
    int rc = TMDBQ_OK;

    lf = open_memstream(&lines, &lines_len);
    b.out = open_memstream(&results, &results_len);
    if (lf == NULL || b.out == NULL)
        goto oom;
    json_array_foreach(items, i, item)
    {
        /* Compact: one line per item, whatever newlines the client's JSON had. */
        char *line = json_dumps(item, JSON_COMPACT | JSON_ENCODE_ANY);
        ok = line != NULL && fprintf(lf, "%s\n", line) >= 0;
        free(line);
        if (!ok)
            goto oom;
    }
    ok = fclose(lf) == 0;
    lf = NULL;
    if (!ok)
        goto oom;
    if (lines_len > 0) {
        in = fmemopen(lines, lines_len, "r");
        if (in == NULL)
            goto oom;
        if (!borrow(a, rp, &h, &fresh))
            goto out;
        rc = tmdbq_enqueue_stream(h, in, bulk_emit, &b);
        if (rc == TMDBQ_ESERVICE)
            snprintf(failure, sizeof failure, "%s", tmdbq_errmsg(h));
        give_back(a, h, rc);
    }
    ok = fclose(b.out) == 0 && !b.oom;
    b.out = NULL;
    if (!ok)
        goto oom;
    if (rc == TMDBQ_ESERVICE) {
        utf8_sanitize(failure);
        msg = json_string(failure);
        quoted = msg != NULL ? json_dumps(msg, JSON_ENCODE_ANY) : NULL;
        json_decref(msg);
        body = quoted != NULL ? format("{\"error\":%s,\"results\":[%s]}", quoted,
                                       results != NULL ? results : "")
                              : NULL;
        reply_json(rp, 503, body);
        rp->retry_after = true;
        goto out;
    }
    body = format("{\"results\":[%s],\"enqueued\":%" PRId64 ",\"duplicates\":%" PRId64
                  ",\"invalid\":%" PRId64 "}",
                  results != NULL ? results : "", b.enqueued, b.duplicates, b.invalid);
    reply_json(rp, 200, body);
    goto out;
oom:
    api_error(rp, 500, "out of memory");
out:
    if (lf != NULL)
        fclose(lf);
    if (b.out != NULL)
        fclose(b.out);
    if (in != NULL)
        fclose(in);
    free(lines);
    free(results);
    free(quoted);
}

/* POST /v1/operations: one operation, or {"operations":[...]}. One operation goes into
 * a round with the other requests of the moment (batch.h). */
static void h_enqueue(struct api *a, const struct api_request *rq, char **cap,
                      struct api_reply *rp)
{
    json_t *root = parse_body(rq, rp), *items;
    struct batch_result res = {0};
    char *line = NULL;

    (void)cap;
    if (root == NULL)
        return;
    items = json_object_get(root, "operations");
    if (items != NULL) {
        if (!json_is_array(items) || json_object_size(root) != 1)
            api_error(rp, 400,
                      "the bulk form is {\"operations\": [...]}: an array of operations "
                      "and nothing else");
        else
            enqueue_bulk(a, items, rp);
        goto out;
    }
    if (!json_is_object(root)) {
        api_error(rp, 400,
                  "the body must be a JSON object: one operation, or {\"operations\": "
                  "[...]}");
        goto out;
    }
    /* Compact: one line, as `tmdbq enqueue --file` reads it. */
    line = json_dumps(root, JSON_COMPACT);
    if (line == NULL) {
        api_error(rp, 500, "out of memory");
        goto out;
    }
    batch_enqueue(a->batch, line, &res);
    if (res.rc == TMDBQ_OK) {
        snprintf(rp->op, sizeof rp->op, "%s", res.id);
        reply_json(rp, res.duplicate ? 200 : 201, res.json);
        res.json = NULL;
        if (!res.duplicate)
            snprintf(rp->location, sizeof rp->location, "/v1/operations/%s", res.id);
    } else {
        api_error(rp, http_status_of(res.rc), "%s",
                  res.error != NULL ? res.error : "out of memory");
        rp->retry_after = res.rc == TMDBQ_ESERVICE;
    }
out:
    batch_result_cleanup(&res);
    free(line);
    json_decref(root);
}

/* POST /v1/apply */
static void h_apply(struct api *a, const struct api_request *rq, char **cap,
                    struct api_reply *rp)
{
    json_t *root;
    struct tmdbq_request r;
    struct tmdbq_apply_result *res = NULL;
    struct tmdbq *h = NULL;
    char *data = NULL, msg[300];
    bool fresh;
    int rc, status;

    (void)cap;
    if (!a->apply_ok) {
        api_error(
            rp, 503,
            "apply calls TMDB, and tmdbq-http has no application credential: start "
            "it with TMDB_API_KEY or TMDB_ACCESS_TOKEN (or use POST /v1/operations)");
        return;
    }
    root = parse_body(rq, rp);
    if (root == NULL)
        return;
    if (!request_from_json(root, &r, &data, msg, sizeof msg)) {
        api_error(rp, 400, "%s", msg);
        goto out;
    }
    if (!borrow(a, rp, &h, &fresh))
        goto out;
    rc = tmdbq_apply(h, &r, &res);
    if (res != NULL) {
        status = res->outcome == TMDBQ_APPLIED  ? 200
                 : res->outcome == TMDBQ_QUEUED ? 202
                                                : 422;
        if (res->op != NULL)
            snprintf(rp->op, sizeof rp->op, "%s", tmdbq_op_id(res->op));
        reply_json(rp, status, tmdbq_apply_result_to_json(res));
    } else {
        reply_failure(rp, h, rc);
    }
    give_back(a, h, rc);
out:
    tmdbq_apply_result_free(res);
    free(data);
    json_decref(root);
}

/* One libtmdbq call on a borrowed handle: makes the call with arg, fills rp when it
 * succeeds and returns its result (a failure is call's to answer). */
typedef int (*call_fn)(struct tmdbq *h, const void *arg, struct api_reply *rp);

/* Borrow a handle, make the call, answer its failure (tmdbq_errmsg, read before the
 * handle goes back), give the handle back. A read that failed on a reused handle is
 * made once more on a new one (see the file comment); a write never is. Returns the
 * call's result, TMDBQ_ESERVICE when no handle could be had (rp says why). */
static int call(struct api *a, bool read, call_fn fn, const void *arg,
                struct api_reply *rp)
{
    struct tmdbq *h;
    bool fresh;
    int rc;

    for (int attempt = 0;; attempt++) {
        if (!borrow(a, rp, &h, &fresh))
            return TMDBQ_ESERVICE;
        rc = fn(h, arg, rp);
        if (rc != TMDBQ_OK)
            reply_failure(rp, h, rc);
        give_back(a, h, rc);
        if (!read || !read_again(rc, fresh, attempt))
            return rc;
    }
}

/* One operation by id, GET /v1/operations/{id} and POST /v1/operations/{id}/retry,
 * /cancel, /process: the libtmdbq call of the same name. */
struct op_call {
    const char *id;
    int (*fn)(struct tmdbq *, const char *, struct tmdbq_op **);
};

static int call_op(struct tmdbq *h, const void *arg, struct api_reply *rp)
{
    const struct op_call *c = arg;
    struct tmdbq_op *op = NULL;
    int rc = c->fn(h, c->id, &op);

    if (rc == TMDBQ_OK)
        reply_op(rp, 200, op);
    tmdbq_op_free(op);
    return rc;
}

static void h_show(struct api *a, const struct api_request *rq, char **cap,
                   struct api_reply *rp)
{
    struct op_call c = {cap[0], tmdbq_show};

    (void)rq;
    call(a, true, call_op, &c, rp);
}

/* The path's last segment says which control. */
static void h_control(struct api *a, const struct api_request *rq, char **cap,
                      struct api_reply *rp)
{
    const char *verb = strrchr(rq->path, '/') + 1;
    struct op_call c = {cap[0], tmdbq_process};

    if (strcmp(verb, "retry") == 0)
        c.fn = tmdbq_retry;
    else if (strcmp(verb, "cancel") == 0)
        c.fn = tmdbq_cancel;
    snprintf(rp->op, sizeof rp->op, "%.36s", c.id);
    call(a, false, call_op, &c, rp);
}

/* GET /v1/users/{id}/pending and GET /v1/failed: a list of operations */
struct list_query {
    bool failed; /* tmdbq_failed(limit), else tmdbq_pending(user) */
    int64_t user;
    int limit;
};

static int call_list(struct tmdbq *h, const void *arg, struct api_reply *rp)
{
    const struct list_query *q = arg;
    struct tmdbq_op_list *l = NULL;
    int rc = q->failed ? tmdbq_failed(h, q->limit, &l) : tmdbq_pending(h, q->user, &l);

    if (rc == TMDBQ_OK)
        reply_op_list(rp, l);
    tmdbq_op_list_free(l);
    return rc;
}

static void h_pending(struct api *a, const struct api_request *rq, char **cap,
                      struct api_reply *rp)
{
    struct list_query q = {.failed = false};

    (void)rq;
    if (path_user(cap[0], &q.user, rp))
        call(a, true, call_list, &q, rp);
}

/* GET /v1/failed?limit=N (default 50, as the CLI) */
static void h_failed(struct api *a, const struct api_request *rq, char **cap,
                     struct api_reply *rp)
{
    const char *s = rq->query(rq->query_arg, "limit");
    struct list_query q = {.failed = true, .limit = 50};

    (void)cap;
    if (s != NULL) {
        char *end = NULL;
        long limit;

        errno = 0;
        limit = strtol(s, &end, 10);
        if (s[0] < '0' || s[0] > '9' || errno != 0 || *end != '\0' || limit > 10000 ||
            limit < 1) {
            api_error(rp, 400, "\"limit\" must be between 1 and 10000 (got \"%.32s\")",
                      s);
            return;
        }
        q.limit = (int)limit;
    }
    call(a, true, call_list, &q, rp);
}

/* The documents without an argument: GET /v1/stats (as `tmdbq stats --json`),
 * /v1/status (as `tmdbq status --json`; 200 also when RabbitMQ is unreachable: the
 * body says so in broker.reachable, as the CLI prints it), /v1/history (the last hour,
 * minute by minute: the dashboard's chart); POST /v1/pause, /v1/resume (as `tmdbq pause
 * --json`). The path's last segment says which. */
static int call_document(struct tmdbq *h, const void *arg, struct api_reply *rp)
{
    const char *which = arg;
    struct tmdbq_status *status = NULL;
    struct tmdbq_history *history = NULL;
    struct tmdbq_pause_state ps;
    struct tmdbq_stats s;
    int rc;

    if (strcmp(which, "status") == 0) {
        rc = tmdbq_status(h, &status);
        if (rc == TMDBQ_OK)
            reply_json(rp, 200, tmdbq_status_to_json(status));
        tmdbq_status_free(status);
    } else if (strcmp(which, "history") == 0) {
        rc = tmdbq_history(h, &history);
        if (rc == TMDBQ_OK)
            reply_json(rp, 200, tmdbq_history_to_json(history));
        tmdbq_history_free(history);
    } else if (strcmp(which, "stats") == 0) {
        rc = tmdbq_stats(h, &s);
        if (rc == TMDBQ_OK)
            reply_value(rp, 200,
                        json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "pending",
                                  (json_int_t)s.pending, "processing",
                                  (json_int_t)s.processing, "completed",
                                  (json_int_t)s.completed, "failed", (json_int_t)s.failed,
                                  "cancelled", (json_int_t)s.cancelled, "total",
                                  (json_int_t)s.total));
    } else {
        rc = strcmp(which, "pause") == 0 ? tmdbq_pause(h, &ps) : tmdbq_resume(h, &ps);
        if (rc == TMDBQ_OK)
            reply_value(rp, 200,
                        json_pack("{s:b,s:s,s:b}", "paused", ps.paused, "since", ps.since,
                                  "changed", ps.changed));
    }
    return rc;
}

static void h_document(struct api *a, const struct api_request *rq, char **cap,
                       struct api_reply *rp)
{
    (void)cap;
    call(a, strcmp(rq->method, "POST") != 0, call_document, strrchr(rq->path, '/') + 1,
         rp);
}

/* PUT /v1/users/{id}/session {"session_id":"..","access_token":".."|null}. The secrets
 * are stored and never echoed: the reply says only whether each one is set. */
struct session {
    int64_t user;
    const char *session, *token;
};

static int call_session_set(struct tmdbq *h, const void *arg, struct api_reply *rp)
{
    const struct session *s = arg;
    size_t retried = 0;
    int rc = tmdbq_session_set(h, s->user, s->session, s->token, &retried);

    if (rc == TMDBQ_OK)
        reply_value(rp, 200,
                    json_pack("{s:I,s:s,s:s,s:I}", "tmdb_user_id", (json_int_t)s->user,
                              "session_id", "set", "access_token",
                              s->token != NULL ? "set" : "unset", "retried",
                              (json_int_t)retried));
    return rc;
}

static void h_session_set(struct api *a, const struct api_request *rq, char **cap,
                          struct api_reply *rp)
{
    struct session s = {0};
    json_t *root = NULL, *v;
    const char *key;

    if (!path_user(cap[0], &s.user, rp))
        return;
    root = parse_body(rq, rp);
    if (root == NULL)
        return;
    if (!json_is_object(root)) {
        api_error(rp, 400,
                  "the body must be a JSON object: {\"session_id\": \"...\", "
                  "\"access_token\": \"...\"}");
        goto out;
    }
    json_object_foreach(root, key, v)
    {
        bool is_session = strcmp(key, "session_id") == 0;

        if (!is_session && strcmp(key, "access_token") != 0) {
            api_error(rp, 400,
                      "unknown field \"%.64s\" (expected session_id, access_token)", key);
            goto out;
        }
        if (json_is_null(v) && !is_session)
            continue;
        if (!json_is_string(v)) {
            api_error(rp, 400, "\"%s\" must be a string", key);
            goto out;
        }
        if (is_session)
            s.session = json_string_value(v);
        else
            s.token = json_string_value(v);
    }
    if (s.session == NULL) {
        api_error(rp, 400, "\"session_id\" is required");
        goto out;
    }
    call(a, false, call_session_set, &s, rp);
out:
    json_decref(root);
}

/* DELETE /v1/users/{id}/session */
static int call_session_rm(struct tmdbq *h, const void *arg, struct api_reply *rp)
{
    const int64_t *user = arg;
    int rc = tmdbq_session_rm(h, *user);

    if (rc == TMDBQ_OK)
        reply_value(
            rp, 200,
            json_pack("{s:I,s:b}", "tmdb_user_id", (json_int_t)*user, "removed", 1));
    return rc;
}

static void h_session_rm(struct api *a, const struct api_request *rq, char **cap,
                         struct api_reply *rp)
{
    int64_t user;

    (void)rq;
    if (!path_user(cap[0], &user, rp))
        return;
    if (call(a, false, call_session_rm, &user, rp) == TMDBQ_ENOTFOUND)
        api_error(rp, 404, "no TMDB credentials stored for user %" PRId64, user);
}

/* GET /v1/openapi.json */
static void h_openapi(struct api *a, const struct api_request *rq, char **cap,
                      struct api_reply *rp)
{
    char *copy = malloc(a->openapi_len + 1);

    (void)rq;
    (void)cap;
    if (copy != NULL) {
        memcpy(copy, a->openapi, a->openapi_len);
        copy[a->openapi_len] = '\0';
    }
    reply_json(rp, 200, copy);
}

/* ---- routes -------------------------------------------------------------------------
 */

typedef void (*handler_fn)(struct api *, const struct api_request *, char **,
                           struct api_reply *);

/* A pattern is a path whose "*" segments match any one non-empty segment (captured). */
static const struct route {
    const char *method;
    const char *pattern;
    handler_fn fn;
    const char *allow; /* every method the pattern takes, for 405 */
} routes[] = {
    {"POST", "/v1/operations", h_enqueue, "POST"},
    {"GET", "/v1/operations/*", h_show, "GET, HEAD"},
    {"POST", "/v1/operations/*/retry", h_control, "POST"},
    {"POST", "/v1/operations/*/cancel", h_control, "POST"},
    {"POST", "/v1/operations/*/process", h_control, "POST"},
    {"POST", "/v1/apply", h_apply, "POST"},
    {"GET", "/v1/users/*/pending", h_pending, "GET, HEAD"},
    {"PUT", "/v1/users/*/session", h_session_set, "PUT, DELETE"},
    {"DELETE", "/v1/users/*/session", h_session_rm, "PUT, DELETE"},
    {"GET", "/v1/failed", h_failed, "GET, HEAD"},
    {"GET", "/v1/stats", h_document, "GET, HEAD"},
    {"GET", "/v1/status", h_document, "GET, HEAD"},
    {"GET", "/v1/history", h_document, "GET, HEAD"},
    {"POST", "/v1/pause", h_document, "POST"},
    {"POST", "/v1/resume", h_document, "POST"},
    {"GET", "/v1/openapi.json", h_openapi, "GET, HEAD"},
};
#define N_ROUTES (sizeof routes / sizeof routes[0])

/* Whether path matches pattern; the "*" segments go to cap (copies, the caller frees). */
static bool path_matches(const char *pattern, const char *path, char **cap)
{
    size_t ncap = 0;

    for (;;) {
        const char *pe, *se;
        size_t plen, slen;

        if (*pattern != '/' || *path != '/')
            goto no;
        pattern++;
        path++;
        pe = strchr(pattern, '/');
        se = strchr(path, '/');
        plen = pe != NULL ? (size_t)(pe - pattern) : strlen(pattern);
        slen = se != NULL ? (size_t)(se - path) : strlen(path);
        if (plen == 1 && pattern[0] == '*') {
            if (slen == 0 || ncap == MAX_CAPTURES)
                goto no;
            if (cap != NULL && (cap[ncap] = strndup(path, slen)) == NULL)
                goto no;
            ncap++;
        } else if (plen != slen || memcmp(pattern, path, plen) != 0) {
            goto no;
        }
        pattern += plen;
        path += slen;
        if (*pattern == '\0' && *path == '\0')
            return true;
    }
no:
    for (size_t i = 0; cap != NULL && i < ncap; i++) {
        free(cap[i]);
        cap[i] = NULL;
    }
    return false;
}

static bool method_is(const struct route *r, const char *method)
{
    return strcmp(r->method, method) == 0 ||
           (strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0);
}

enum api_match api_match(const char *method, const char *path, const char **allow)
{
    bool path_known = false;

    *allow = NULL;
    for (size_t i = 0; i < N_ROUTES; i++) {
        if (!path_matches(routes[i].pattern, path, NULL))
            continue;
        if (method_is(&routes[i], method))
            return API_FOUND;
        path_known = true;
        *allow = routes[i].allow;
    }
    return path_known ? API_NO_METHOD : API_NO_PATH;
}

void api_handle(struct api *a, const struct api_request *rq, struct api_reply *rp)
{
    char *cap[MAX_CAPTURES] = {NULL, NULL};

    rp->status = 500;
    rp->body = NULL;
    rp->location[0] = '\0';
    rp->retry_after = false;
    rp->op[0] = '\0';
    for (size_t i = 0; i < N_ROUTES; i++) {
        if (!method_is(&routes[i], rq->method) ||
            !path_matches(routes[i].pattern, rq->path, cap))
            continue;
        routes[i].fn(a, rq, cap, rp);
        for (size_t k = 0; k < MAX_CAPTURES; k++)
            free(cap[k]);
        return;
    }
    api_error(rp, 404, "no such endpoint: %.200s %.200s", rq->method, rq->path);
}
