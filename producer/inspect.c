/*
 * inspect: the read side of the queue (show, stats, pending, failed) and the users' TMDB
 * credentials (session set, session rm).
 *
 * Reads are single queries. session set is the one write here: it stores the
 * credentials, then revives the user's operations that failed for lack of them and
 * publishes those through the outbox, as an enqueue would.
 */
#include "tmdbq_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonout.h"
#include "log.h"

/* TMDB's session ids are 40 characters and its access tokens a few hundred; far more is
 * not a credential. */
#define CREDENTIAL_MAX_BYTES 4096

int tmdbq_show(struct tmdbq *h, const char *id, struct tmdbq_op **out)
{
    struct tmdbq_op *op = NULL;
    enum status st;

    call_begin(h);
    *out = NULL;
    if (id == NULL || !op_id_valid(id)) {
        st = err_set(&h->call.err, ST_INVALID, "\"%s\" is not an operation id (a UUID)",
                     id ? id : "");
        goto out;
    }
    st = call_calloc(h, 1, sizeof *op, (void **)&op);
    if (st != ST_OK)
        goto out;
    st = db_get_op(h->db, id, &op->op, &h->call.err);
    if (st != ST_OK)
        goto out;
    *out = op;
    op = NULL;
out:
    free(op);
    return public_code(st);
}

enum status stats_read(struct tmdbq *h, struct tmdbq_stats *out)
{
    struct db_stats s;
    enum status st = db_stats(h->db, &s, &h->call.err);

    memset(out, 0, sizeof *out);
    if (st != ST_OK)
        return st;
    out->pending = s.count[OP_PENDING];
    out->processing = s.count[OP_PROCESSING];
    out->completed = s.count[OP_COMPLETED];
    out->failed = s.count[OP_FAILED];
    out->cancelled = s.count[OP_CANCELLED];
    out->total = s.total;
    return ST_OK;
}

int tmdbq_stats(struct tmdbq *h, struct tmdbq_stats *out)
{
    call_begin(h);
    return public_code(stats_read(h, out));
}

char *tmdbq_stats_to_json(const struct tmdbq_stats *s)
{
    return jsonout_dump(jsonout_stats(s), 0);
}

int tmdbq_pending(struct tmdbq *h, int64_t user, struct tmdbq_op_list **out)
{
    struct db_ops rows = {0};
    enum status st;

    call_begin(h);
    *out = NULL;
    st = check_user(h, user);
    if (st == ST_OK)
        st = db_list_pending(h->db, (int32_t)user, &rows, &h->call.err);
    if (st == ST_OK)
        st = list_from_db(h, &rows, out);
    return public_code(st);
}

int tmdbq_failed(struct tmdbq *h, int limit, struct tmdbq_op_list **out)
{
    struct db_ops rows = {0};
    enum status st = ST_OK;

    call_begin(h);
    *out = NULL;
    if (limit < 1 || limit > 10000)
        st = err_set(&h->call.err, ST_INVALID, "\"limit\" must be between 1 and 10000");
    if (st == ST_OK)
        st = db_list_failed(h->db, limit, &rows, &h->call.err);
    if (st == ST_OK)
        st = list_from_db(h, &rows, out);
    return public_code(st);
}

/* ---- sessions ------------------------------------------------------------------------
 */

/* A credential rides in a URL's query (the session id) or a header (the access token):
 * a space, a line break or any other control character would end or split it, and TMDB
 * issues only printable ASCII. name is how the caller spells it (the API's field and the
 * command's flag); the value is a secret, so no message quotes it. */
static enum status check_credential(struct tmdbq *h, const char *name, const char *s)
{
    size_t n = strlen(s);

    if (n == 0)
        return err_set(&h->call.err, ST_INVALID, "%s must not be empty", name);
    if (n > CREDENTIAL_MAX_BYTES)
        return err_set(&h->call.err, ST_INVALID, "%s is longer than %d bytes", name,
                       CREDENTIAL_MAX_BYTES);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c <= 0x20 || c >= 0x7F)
            return err_set(&h->call.err, ST_INVALID,
                           "%s must be printable ASCII without spaces (byte %zu is %s)",
                           name, i + 1,
                           c == ' '    ? "a space"
                           : c >= 0x80 ? "not ASCII"
                                       : "a control character");
    }
    return ST_OK;
}

int tmdbq_session_set(struct tmdbq *h, int64_t user, const char *session_id,
                      const char *access_token, size_t *retried)
{
    struct db_ids revived = {0};
    enum status st;

    call_begin(h);
    if (retried != NULL)
        *retried = 0;
    st = check_user(h, user);
    if (st == ST_OK && session_id == NULL)
        st = err_set(&h->call.err, ST_INVALID,
                     "the session id (\"session_id\", --session-id) is required");
    if (st == ST_OK)
        st = check_credential(h, "the session id (\"session_id\", --session-id)",
                              session_id);
    if (st == ST_OK && access_token != NULL)
        st = check_credential(h, "the access token (\"access_token\", --access-token)",
                              access_token);
    if (st == ST_OK)
        st = db_session_set(h->db, (int32_t)user, session_id, access_token, &h->call.err);
    if (st != ST_OK)
        goto out;
    /* The credentials are stored: a failure from here on is reported, but they stay. */
    st = db_retry_credential_failures(h->db, (int32_t)user, &revived, &h->call.err);
    if (st != ST_OK || revived.n == 0)
        goto out;
    log_info("user %" PRId64 ": %zu operation(s) that failed for lack of valid TMDB "
             "credentials are pending again",
             user, revived.n);
    if (retried != NULL)
        *retried = revived.n;
    /* The operations session set revived: pending again, never published. */
    st = publish_pending_ids(h, (const char(*)[37])revived.ids, revived.n, false);
out:
    db_ids_free(&revived);
    return public_code(st);
}

int tmdbq_session_rm(struct tmdbq *h, int64_t user)
{
    enum status st;

    call_begin(h);
    st = check_user(h, user);
    if (st == ST_OK)
        st = db_session_rm(h->db, (int32_t)user, &h->call.err);
    return public_code(st);
}
