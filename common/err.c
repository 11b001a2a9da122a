/*
 * err: status codes and the message that goes with them.
 *
 * Messages are formatted into the fixed buffer inside struct err, so reporting an error
 * never allocates and never fails; a message too long for the buffer is cut short.
 */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum status err_set(struct err *e, enum status code, const char *fmt, ...)
{
    va_list ap;

    if (e == NULL)
        return code;
    e->code = code;
    va_start(ap, fmt);
    /* A negative result means an encoding error; leave an empty message, not garbage. */
    if (vsnprintf(e->msg, sizeof e->msg, fmt, ap) < 0)
        e->msg[0] = '\0';
    va_end(ap);
    return code;
}

void err_prefix(struct err *e, const char *fmt, ...)
{
    char ctx[sizeof e->msg];
    char old[sizeof e->msg];
    va_list ap;

    if (e == NULL)
        return;
    va_start(ap, fmt);
    if (vsnprintf(ctx, sizeof ctx, fmt, ap) < 0)
        ctx[0] = '\0';
    va_end(ap);
    /* Copy first: the old message is both source and destination of the rewrite. */
    memcpy(old, e->msg, sizeof old);
    old[sizeof old - 1] = '\0';
    /* Truncation is expected and fine; only an encoding error needs handling. */
    if (snprintf(e->msg, sizeof e->msg, old[0] == '\0' ? "%s%s" : "%s: %s", ctx, old) < 0)
        e->msg[0] = '\0';
}

int status_exit_code(enum status code)
{
    switch (code) {
    case ST_OK:
        return 0;
    case ST_INVALID:
        return 2;
    case ST_NOT_FOUND:
        return 3;
    case ST_CONFLICT:
        return 4;
    case ST_DB:
    case ST_MQ:
    case ST_NOMEM:
    case ST_IO:
    case ST_TIMEOUT:
        break;
    }
    return 1;
}

const char *status_name(enum status code)
{
    switch (code) {
    case ST_OK:
        return "ok";
    case ST_INVALID:
        return "invalid input";
    case ST_DB:
        return "database error";
    case ST_MQ:
        return "broker error";
    case ST_NOT_FOUND:
        return "not found";
    case ST_CONFLICT:
        return "conflict";
    case ST_NOMEM:
        return "out of memory";
    case ST_IO:
        return "i/o error";
    case ST_TIMEOUT:
        return "timeout";
    }
    return "unknown error";
}
