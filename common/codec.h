/*
 * codec: JSON in and out (jansson stays inside codec.c).
 *
 * In: validation of an operation into its canonical operation_data, bulk lines, and a
 * user's credentials.
 * Out: an operation row as one JSON object with the table's columns.
 */
#ifndef TMDBQ_CODEC_H
#define TMDBQ_CODEC_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "op.h"

/* Validate in as docs/design.md fixes it and fill out (caller cleans up with
 * op_request_cleanup). The flags (movie, name, description, public) are laid over the
 * --data object; a flag whose field --data also holds with another value is refused
 * (`add_movie: "movie" (550) and "movie_id" in "data" (551) differ; ...`). A name must
 * hold no control character, a description none but tab, LF and CR. On failure returns
 * ST_INVALID with a message that names the field, e.g. `add_movie: "movie_id" must be a
 * positive integer` or `unknown operation type "foo"`. */
enum status codec_request_build(const struct op_input *in, struct op_request *out,
                                struct err *e);

/* Parse one bulk line {"type":..,"user":..,"list":..,"data":{..}} and validate it like
 * codec_request_build. "movie", "name", "description", "public" at the top level are
 * accepted as the flags would be. */
enum status codec_request_from_line(const char *line, struct op_request *out,
                                    struct err *e);

/* A user's TMDB credentials as `tmdbq session set --stdin` reads them. */
struct codec_credentials {
    char *session_id;   /* owned; NULL only after a failure */
    char *access_token; /* owned; NULL when not given (absent or null) */
};

/* Parse n bytes of text, one JSON object {"session_id": "...", "access_token": "..."}
 * (access_token may be missing or null), into out. Only the shape is checked here
 * (tmdbq_session_set checks the values). ST_INVALID with a message that never quotes the
 * text, which holds secrets; ST_NOMEM. The caller cleans out up in every case. */
enum status codec_credentials_from_json(const char *text, size_t n,
                                        struct codec_credentials *out, struct err *e);

/* Overwrite the secrets with zeros and free them; accepts NULL. */
void codec_credentials_cleanup(struct codec_credentials *c);

/* Extra fields printed after the columns. */
struct codec_op_extra {
    bool with_enqueue; /* add "duplicate" and "published" */
    bool duplicate;
};

/* The row as one compact JSON object (keys in table order: id, operation_type,
 * tmdb_user_id, tmdb_list_id, operation_data, retry_count, last_retry_at, status,
 * error_message, scheduled_for, inserted_at, updated_at, result, then published and, for
 * enqueue, duplicate). NULLs print as null. Returns a malloc'd string (free), NULL on out
 * of memory. */
char *codec_op_to_json(const struct op *o, const struct codec_op_extra *extra);

/* One compact JSON value built by jansson's json_pack from fmt and its arguments (see
 * jansson's "Building values": "{s:I, s:b, s:s?}" with long long (jansson's json_int_t),
 * int and const char *), object keys in the order given. Returns a malloc'd string
 * (free), NULL on out of memory or a format error. For everything the programs print or
 * store as JSON: no JSON is assembled with printf. */
char *codec_pack(const char *fmt, ...);

/* s as a JSON string literal with its quotes ("a\"b"). Caller frees; NULL on OOM. */
char *codec_json_quote(const char *s);

#endif
