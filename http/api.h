/*
 * api: the /v1 endpoints, JSON in and out, each one call of libtmdbq (tmdbq.h).
 *
 * Nothing here speaks HTTP on the wire (server.c does) or SQL (libtmdbq does): a request
 * is a method, a path, a body and its query arguments; a reply is a status, a JSON body
 * and a few headers. The route table is the one place that says which paths and methods
 * exist, so 404 and 405 are decided here too, before any body is read.
 *
 * Statuses: 200 ok (201 a new operation, 202 an apply that was queued), 400 invalid input
 * (nothing written), 404 no such operation or credentials, 409 the operation's status
 * does not allow it, 422 TMDB refused an apply for good, 503 PostgreSQL failed or every
 * database handle stayed busy (with Retry-After). Errors are {"error":"..."}.
 */
#ifndef TMDBQ_HTTP_API_H
#define TMDBQ_HTTP_API_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

struct pool;
struct api;

/* Handlers borrow handles from pool. apply_ok: TMDB_API_KEY or TMDB_ACCESS_TOKEN is set,
 * so POST /v1/apply can call TMDB (else it answers 503 saying so). openapi (len bytes,
 * borrowed for the api's life) is what GET /v1/openapi.json serves. */
enum status api_new(struct pool *pool, bool apply_ok, const char *openapi, size_t len,
                    struct api **out, struct err *e);
void api_free(struct api *a);

enum api_match {
    API_FOUND,     /* a route takes this method on this path */
    API_NO_PATH,   /* 404 */
    API_NO_METHOD, /* 405: *allow lists the methods the path takes */
};

/* Which route, if any, serves method on path (the path without its query). HEAD is
 * served wherever GET is. *allow (static storage) is set for API_NO_METHOD, e.g.
 * "GET, HEAD". */
enum api_match api_match(const char *method, const char *path, const char **allow);

struct api_request {
    const char *method;
    const char *path;
    const char *body; /* may be NULL when len is 0; not NUL-terminated */
    size_t body_len;
    /* A query argument's value (NULL when absent); arg is query_arg. */
    const char *(*query)(void *arg, const char *key);
    void *query_arg;
};

struct api_reply {
    int status;
    char *body;        /* JSON, malloc'd: the caller frees it (NULL: no body) */
    char location[96]; /* Location header, "" for none */
    bool retry_after;  /* add Retry-After: 1 (a 503 that is worth retrying soon) */
    char op[40];       /* the operation this request was about, for the log; "" */
};

/* Serve one request that api_match found. Blocks for the libtmdbq call (database
 * round trips, a publish, for apply a TMDB request) and, when every handle is busy, for
 * at most the pool's wait. rp is always filled; out of memory is a 500 without a body. */
void api_handle(struct api *a, const struct api_request *rq, struct api_reply *rp);

/* Fill rp with status and {"error": message}. Invalid UTF-8 in the message is replaced,
 * so the body is always valid JSON. */
void api_error(struct api_reply *rp, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
