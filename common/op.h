/*
 * op: the domain model: operation types, statuses, a validated request and a stored row.
 *
 * A request is what a user asked for, already validated and reduced to the canonical
 * operation_data JSON text; a row is what PostgreSQL holds. Times in a row are ISO 8601
 * UTC text as PostgreSQL formatted them ("2026-11-24T06:25:27.123Z"), empty when NULL.
 */
#ifndef TMDBQ_OP_H
#define TMDBQ_OP_H

#include <stdbool.h>
#include <stdint.h>

enum op_type {
    OP_CREATE_LIST,
    OP_UPDATE_LIST,
    OP_DELETE_LIST,
    OP_CLEAR_LIST,
    OP_ADD_MOVIE,
    OP_REMOVE_MOVIE,
    OP_TYPE_COUNT
};

enum op_status {
    OP_PENDING,
    OP_PROCESSING,
    OP_COMPLETED,
    OP_FAILED,
    OP_CANCELLED,
    OP_STATUS_COUNT
};

/* Names as stored and printed ("add_movie", "pending"); static storage. */
const char *op_type_name(enum op_type t);
const char *op_status_name(enum op_status s);
/* false when s names no type / status. */
bool op_type_parse(const char *s, enum op_type *out);
bool op_status_parse(const char *s, enum op_status *out);
/* true for the types that need tmdb_list_id (all but create_list). */
bool op_type_needs_list(enum op_type t);

/* Raw input for one operation, before validation. The CLI fills it from flags, bulk
 * enqueue from a JSON line. Pointers are borrowed for the duration of
 * codec_request_build. */
struct op_input {
    const char *type; /* required */
    int64_t user;     /* has_user: the --user value */
    bool has_user;
    int64_t list;
    bool has_list;
    int64_t movie;
    bool has_movie;
    const char *name;        /* NULL when not given */
    const char *description; /* NULL when not given */
    int public_flag;         /* -1 not given, 0 false, 1 true */
    const char
        *data_json; /* --data: a JSON object merged under the flags; NULL if none */
};

/* A validated operation, ready to insert. */
struct op_request {
    enum op_type type;
    int32_t user_id; /* > 0 */
    int32_t list_id; /* > 0, or 0 for create_list */
    char *data_json; /* canonical operation_data (compact, sorted keys); owned */
};

void op_request_cleanup(struct op_request *r);

#define OP_TIME_LEN 40

/* One row of queued_list_operations as tmdbq shows it. */
struct op {
    char id[37];
    enum op_type type;
    enum op_status status;
    int32_t user_id;
    int32_t list_id; /* 0 when NULL */
    int retry_count;
    char *data_json;     /* operation_data, owned */
    char *error_message; /* owned, NULL when NULL */
    char *result_json;   /* TMDB's result, owned, NULL when none */
    char last_retry_at[OP_TIME_LEN];
    char scheduled_for[OP_TIME_LEN];
    char inserted_at[OP_TIME_LEN];
    char updated_at[OP_TIME_LEN];
    bool published; /* the broker confirmed a publish of this row */
};

void op_cleanup(struct op *o);

/* true for a string that is a UUID in canonical 8-4-4-4-12 hex form (either case). */
bool op_id_valid(const char *s);

#endif
