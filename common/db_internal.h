/*
 * db_internal: what the db module's source files share (db.c, and the files that hold
 * the SQL of one program each). Not for use outside common/db*.c: the libpq types stay in
 * the db module.
 */
#ifndef TMDBQ_DB_INTERNAL_H
#define TMDBQ_DB_INTERNAL_H

#include <libpq-fe.h>

#include "db.h"
#include "err.h"

struct db {
    PGconn *conn;
    /* Statements of db.c prepared on conn, one bit each (db.c's enum db_stmt). A prepared
     * statement lives as long as its session: a new connection is a new struct db, so
     * this starts at 0 and everything is prepared again on first use. */
    unsigned prepared;
};

/* Session advisory lock key of `tmdbq migrate` (one bigint; the enqueue locks use the
 * two-int form, a separate key space). */
#define DB_MIGRATE_LOCK "7451283304722001"

#define ISO(col)                                                                         \
    "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
#define OP_COLUMNS                                                                       \
    "q.id::text, q.operation_type, q.status, q.tmdb_user_id, coalesce(q.tmdb_list_id, "  \
    "0), "                                                                               \
    "q.retry_count, q.operation_data::text, q.error_message, q.result::text, " ISO(      \
        "q."                                                                             \
        "las"                                                                            \
        "t_"                                                                             \
        "ret"                                                                            \
        "ry_"                                                                            \
        "at") ", " ISO("q.scheduled_for") ", " ISO("q.inserted_at") ", " ISO("q."        \
                                                                             "updated_"  \
                                                                             "at") ", "  \
                                                                                   "q."  \
                                                                                   "pub" \
                                                                                   "lis" \
                                                                                   "he"  \
                                                                                   "d_"  \
                                                                                   "at " \
                                                                                   "IS " \
                                                                                   "NOT" \
                                                                                   " NU" \
                                                                                   "LL"
enum {
    COL_ID,
    COL_TYPE,
    COL_STATUS,
    COL_USER,
    COL_LIST,
    COL_RETRY,
    COL_DATA,
    COL_ERROR,
    COL_RESULT,
    COL_LAST_RETRY,
    COL_SCHEDULED,
    COL_INSERTED,
    COL_UPDATED,
    COL_PUBLISHED,
    COL_COUNT
};

/* libpq's last error on conn without its trailing newline; thread-local, borrowed until
 * the next call. */
const char *db_conn_error(PGconn *conn);
/* Turn a failed result into ST_DB with "could not <what>: <why>" (a missing relation or
 * function adds "run tmdbq migrate"). Does not clear res. */
enum status db_result_error(PGconn *conn, PGresult *res, const char *what, struct err *e);
/* PQexecParams with n text parameters; ST_OK when the result status is want. *out (may be
 * NULL) receives the result, which the caller PQclears. */
enum status db_exec_params(struct db *db, const char *sql, int n, const char *const *p,
                           ExecStatusType want, PGresult **out, const char *what,
                           struct err *e);
/* db_exec_params for a statement whose answer is one value (row 0, column 0): buf gets
 * its text, "" when there is no row or the value is SQL NULL (and on failure). */
enum status db_query_value(struct db *db, const char *sql, int n, const char *const *p,
                           const char *what, char *buf, size_t size, struct err *e);
/* db_exec_params for a statement that returns exactly one row: *out gets it (the caller
 * PQclears); ST_DB "could not <what>: <n> rows" for any other count. */
enum status db_query_row(struct db *db, const char *sql, int n, const char *const *p,
                         PGresult **out, const char *what, struct err *e);
/* db_exec_params for an INSERT, UPDATE or DELETE: *changed says whether it touched a
 * row (false on failure). */
enum status db_exec_changed(struct db *db, const char *sql, int n, const char *const *p,
                            const char *what, bool *changed, struct err *e);
/* A statement without parameters or rows. */
enum status db_exec_simple(struct db *db, const char *sql, const char *what,
                           struct err *e);
/* The value at (row, col) as a new string, NULL for SQL NULL. */
char *db_dup_or_null(PGresult *res, int row, int col);
/* Copy a time column (OP_TIME_LEN buffer); "" for NULL. */
void db_copy_time(char *dst, PGresult *res, int row, int col);
/* Copy a uuid column into a 37-byte buffer; "" for NULL. */
void db_copy_id(char *dst, PGresult *res, int row, int col);
/* A uuid[] parameter "{id,id,...}" of n ids into *out (malloc'd; the caller frees).
 * ST_INVALID (naming it) when an id is not op_id_valid, ST_NOMEM. */
enum status db_id_array(const char *const *ids, size_t n, char **out, struct err *e);
/* db_exec_params for a statement whose one parameter ($1) is the uuid[] of ids. */
enum status db_exec_ids(struct db *db, const char *sql, const char *const *ids, size_t n,
                        PGresult **out, const char *what, struct err *e);
/* db_query_ops for a statement whose one parameter ($1) is a TMDB user id. */
enum status db_query_user_ops(struct db *db, const char *sql, int32_t user_id,
                              const char *what, struct db_ops *out, struct err *e);
/* A uuid[] column (text form) into h: at most DB_HANDON_MAX ids; NULL or {} is empty. */
void db_copy_handon(struct db_handon *h, PGresult *res, int row, int col);
/* Fill o from the OP_COLUMNS of row, starting at column base. */
enum status db_row_to_op(PGresult *res, int row, int base, struct op *o, struct err *e);
/* Whether the database holds a program's schema: condition is an SQL boolean over
 * to_regprocedure/to_regclass. ST_NOT_FOUND with "the database lacks the <who>'s schema
 * (<what> is missing): run tmdbq migrate"; ST_DB when the question failed. */
enum status db_schema_has(struct db *db, const char *condition, const char *who,
                          const char *what, struct err *e);
/* *items: PQntuples(res) zeroed elements of size bytes (NULL when there are none), *n
 * their number. ST_NOMEM (then *n is 0). */
enum status db_rows_calloc(PGresult *res, size_t size, void **items, int *n,
                           struct err *e);
/* Column 0 of every row of res (uuids) into out. ST_NOMEM (then out is empty). */
enum status db_rows_to_ids(PGresult *res, struct db_ids *out, struct err *e);
/* Free a list's items and empty it: *items (a malloc'd array) and *n; the db_*_free of
 * lists whose items own nothing. */
void db_items_free(void **items, size_t *n);
/* Every row of res (OP_COLUMNS from column 0) into out. */
enum status db_rows_to_ops(PGresult *res, struct db_ops *out, struct err *e);
/* db_exec_params for a statement that returns rows, each read by from_row into a new
 * zeroed element of size bytes of *items (malloc'd, NULL when there are none); from_row
 * returns false when out of memory (ST_NOMEM). *count is the number of elements read, one
 * read in part included, so that the caller's free releases what they own. */
enum status db_query_rows(struct db *db, const char *sql, int n, const char *const *p,
                          const char *what, size_t size, void **items, size_t *count,
                          bool (*from_row)(PGresult *res, int row, void *item),
                          struct err *e);
/* db_exec_params for a statement that returns OP_COLUMNS rows, read into out. */
enum status db_query_ops(struct db *db, const char *sql, int n, const char *const *p,
                         const char *what, struct db_ops *out, struct err *e);

#endif
