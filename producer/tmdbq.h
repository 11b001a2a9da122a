/*
 * tmdbq.h: the C API of tmdbq, the durable queue for TMDB list operations.
 *
 * An application opens a handle, enqueues operations (each is written to PostgreSQL first,
 * then its id is published to RabbitMQ) and inspects the queue. The `tmdbq` command is a
 * thin shell over exactly this API.
 *
 * Conventions:
 * - Every fallible function returns an int that is also the `tmdbq` command's exit status:
 *   TMDBQ_OK 0, TMDBQ_ESERVICE 1 (PostgreSQL or RabbitMQ failed), TMDBQ_EINVAL 2 (invalid
 *   input), TMDBQ_ENOTFOUND 3 (no such operation), TMDBQ_ESTATE 4 (the operation's status
 *   does not allow it). tmdbq_errmsg() then says what and why, for people.
 * - A handle is used by one thread at a time. Calls block on the network, each wait bounded
 *   by TMDBQ_CONNECT_TIMEOUT (default 5 s).
 * - `T **out` hands ownership to the caller, who frees it with the matching _free function.
 * - Configuration comes from the environment (see the README); nothing is read from files.
 * - No secret (API key, session id, access token, password) ever appears in an error
 *   message or in the log.
 */
#ifndef TMDBQ_H
#define TMDBQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    TMDBQ_OK = 0,
    TMDBQ_ESERVICE = 1,
    TMDBQ_EINVAL = 2,
    TMDBQ_ENOTFOUND = 3,
    TMDBQ_ESTATE = 4,
};

struct tmdbq;
struct tmdbq_op;
struct tmdbq_op_list;

/* Open a handle with configuration from the environment; database_url and amqp_url, when not
 * NULL, override TMDBQ_DATABASE_URL and TMDBQ_AMQP_URL. Connects to PostgreSQL now and to
 * RabbitMQ when first needed. *out is set whenever memory allows, even on failure, so
 * tmdbq_errmsg can say why; close it in every case. Returns TMDBQ_EINVAL for a bad
 * configuration value, TMDBQ_ESERVICE when PostgreSQL cannot be reached. */
int tmdbq_open(const char *database_url, const char *amqp_url, struct tmdbq **out);

/* Close connections and free the handle; accepts NULL. */
void tmdbq_close(struct tmdbq *h);

/* What the last failed call on h was about. Borrowed: valid until the next call on h. */
const char *tmdbq_errmsg(const struct tmdbq *h);

/* Apply the schema migrations not yet applied (safe to run from many processes at once).
 * applied and version may be NULL. */
int tmdbq_migrate(struct tmdbq *h, int *applied, int *version);

/* One operation as a user asks for it. Unset numbers have their has_ flag false; unset
 * strings are NULL; public_flag is -1 when not given, else 0 or 1. data_json is an optional
 * JSON object of operation_data fields, overridden by the explicit fields. */
struct tmdbq_request {
    const char *type; /* create_list, update_list, delete_list, clear_list, add_movie,
                         remove_movie */
    int64_t user;
    bool has_user;
    int64_t list;
    bool has_list;
    int64_t movie;
    bool has_movie;
    const char *name;
    const char *description;
    int public_flag;
    const char *data_json;
};

/* A request with nothing set (public_flag -1). */
struct tmdbq_request tmdbq_request_init(void);

/* Validate and enqueue one operation. Unless an identical operation is already pending
 * (then that one is returned and tmdbq_op_duplicate says so), the row is inserted, then its
 * id is published with a publisher confirm. If RabbitMQ cannot take it, this still returns
 * TMDBQ_OK with tmdbq_op_published false: the row is durable and the reaper publishes it
 * later (tmdbq_errmsg holds the broker's failure for a warning). */
int tmdbq_enqueue(struct tmdbq *h, const struct tmdbq_request *req, struct tmdbq_op **out);

/* The result of one line of a bulk enqueue, handed to the callback. Borrowed: valid during
 * the callback only. */
struct tmdbq_line_result {
    long line;               /* 1-based line number in the input */
    int status;              /* TMDBQ_OK or TMDBQ_EINVAL */
    const char *error;       /* when status != TMDBQ_OK */
    const struct tmdbq_op *op; /* when status == TMDBQ_OK */
};

/* Read one JSON operation a line from in ({"type":..,"user":..,"list":..,"data":{..}}),
 * validate each, insert them in batches and publish with pipelined confirms; call emit once
 * per non-blank line, in input order. A bad line is reported and does not stop the others.
 * Returns TMDBQ_OK when every line was good, TMDBQ_EINVAL when some line was not, or
 * TMDBQ_ESERVICE when PostgreSQL failed (lines of the failed batch are not reported as
 * enqueued). */
/* A line result as one JSON object: {"line":N,"ok":true,"operation":{..}} or
 * {"line":N,"ok":false,"error":".."}. Caller frees with free(); NULL when out of memory. */
char *tmdbq_line_result_to_json(const struct tmdbq_line_result *r);

int tmdbq_enqueue_stream(struct tmdbq *h, FILE *in,
                         void (*emit)(void *ctx, const struct tmdbq_line_result *r),
                         void *ctx);

/* The operation with this id (TMDBQ_EINVAL when id is not a UUID, TMDBQ_ENOTFOUND when no
 * such operation exists). */
int tmdbq_show(struct tmdbq *h, const char *id, struct tmdbq_op **out);

struct tmdbq_stats {
    int64_t pending, processing, completed, failed, cancelled, total;
};
int tmdbq_stats(struct tmdbq *h, struct tmdbq_stats *out);

/* The user's pending and processing operations, oldest first. */
int tmdbq_pending(struct tmdbq *h, int64_t user, struct tmdbq_op_list **out);
/* Failed operations, newest first; limit 1..10000. */
int tmdbq_failed(struct tmdbq *h, int limit, struct tmdbq_op_list **out);

/* Store a user's TMDB credentials (the v3 session id and, for update_list, the v4 access
 * token; may be NULL). They are kept in PostgreSQL and never printed. The user's operations
 * that failed for lack of valid credentials (error_kind "credentials") go back to pending
 * with a full retry budget and are published; *retried (may be NULL) says how many. A
 * broker that cannot be reached only delays them (the reaper publishes them). */
int tmdbq_session_set(struct tmdbq *h, int64_t user, const char *session_id,
                      const char *access_token, size_t *retried);
/* Remove them; TMDBQ_ENOTFOUND when the user had none. */
int tmdbq_session_rm(struct tmdbq *h, int64_t user);

/* Accessors of an operation. Strings are borrowed from op. */
const char *tmdbq_op_id(const struct tmdbq_op *op);
const char *tmdbq_op_type(const struct tmdbq_op *op);
const char *tmdbq_op_status(const struct tmdbq_op *op);
bool tmdbq_op_published(const struct tmdbq_op *op);
int tmdbq_op_retry_count(const struct tmdbq_op *op);
/* ISO 8601 UTC, e.g. "2026-11-24T06:25:27.123Z". */
const char *tmdbq_op_inserted_at(const struct tmdbq_op *op);
/* The last error, NULL when there is none. */
const char *tmdbq_op_error(const struct tmdbq_op *op);
bool tmdbq_op_duplicate(const struct tmdbq_op *op);
/* The operation as one JSON object (the table's columns, result, published and, after an
 * enqueue, duplicate). Caller frees with free(); NULL when out of memory. */
char *tmdbq_op_to_json(const struct tmdbq_op *op);
/* The operation as aligned "key: value" lines for people. Caller frees with free(). */
char *tmdbq_op_to_text(const struct tmdbq_op *op);
void tmdbq_op_free(struct tmdbq_op *op);

size_t tmdbq_op_list_count(const struct tmdbq_op_list *l);
/* Borrowed from l; i < count. */
const struct tmdbq_op *tmdbq_op_list_get(const struct tmdbq_op_list *l, size_t i);
void tmdbq_op_list_free(struct tmdbq_op_list *l);

#ifdef __cplusplus
}
#endif

#endif
