/*
 * err: the status codes every fallible function returns, and the text for people.
 *
 * The code is for the program (exit status, retry, reconnect); the text in struct err is
 * for the log and the user. Codes map one-to-one onto the CLI's exit statuses where one
 * applies (see status_exit_code).
 */
#ifndef TMDBQ_ERR_H
#define TMDBQ_ERR_H

enum status {
    ST_OK = 0,
    ST_INVALID,   /* bad usage or invalid input: exit 2 */
    ST_DB,        /* PostgreSQL failed or unreachable: exit 1 */
    ST_MQ,        /* RabbitMQ failed or unreachable: exit 1 */
    ST_NOT_FOUND, /* no such operation: exit 3 */
    ST_CONFLICT,  /* the operation's status does not allow it: exit 4 */
    ST_NOMEM,     /* out of memory: exit 1 */
    ST_IO,        /* local I/O (a file, stdin): exit 1 */
    ST_TIMEOUT,   /* a bounded wait ran out: exit 1 */
};

struct err {
    enum status code;
    char msg[512];
};

/* Fill e (may be NULL) with code and a printf-style message; returns code, so a caller
 * can write `return err_set(e, ST_DB, "could not ...: %s", why);`. */
enum status err_set(struct err *e, enum status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix e->msg with more context: "ctx: old message". No-op when e is NULL. */
void err_prefix(struct err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The process exit status for a code: 0, 1, 2, 3 or 4 as docs/design.md fixes them. */
int status_exit_code(enum status code);

/* A short lowercase name for a code, e.g. "database error". Static storage. */
const char *status_name(enum status code);

#endif
