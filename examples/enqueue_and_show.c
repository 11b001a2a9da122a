/*
 * enqueue_and_show: a small application of libtmdbq, the C API of tmdbq (tmdbq.h).
 *
 * Opens a handle configured from the environment (TMDBQ_DATABASE_URL, TMDBQ_AMQP_URL,
 * TMDBQ_AMQP_PREFIX, ...: the variables the tmdbq command reads), enqueues three list
 * edits for one user, then prints the queue's counts and the first operation as stored.
 *
 *   enqueue_and_show [USER_ID]          USER_ID defaults to 42
 *
 * Exit status: that of the first call that failed, which is also what the tmdbq command
 * would exit with (1 PostgreSQL or RabbitMQ failed, 2 invalid input or configuration,
 * ...), 0 when everything worked. The database must be migrated first (`tmdbq migrate`);
 * a consumer (tmdbq-consumer) then applies the edits to TMDB, and without one they stay
 * pending. Run again, it finds the create_list still pending and reports it as a
 * duplicate, but enqueues the two add_movie anew: an operation is a duplicate only of the
 * latest pending operation on the same list, since add 550, add 680, add 550 is not the
 * same as add 550, add 680.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <tmdbq.h>

#define PROGRAM "enqueue_and_show"

/* The one place that turns a failed call into a message; returns its status. */
static int report(const struct tmdbq *h, const char *what, int rc)
{
    fprintf(stderr, "%s: %s: %s\n", PROGRAM, what, tmdbq_errmsg(h));
    return rc;
}

static int parse_user(const char *s, int64_t *out)
{
    char *end = NULL;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v <= 0)
        return TMDBQ_EINVAL;
    *out = (int64_t)v;
    return TMDBQ_OK;
}

/* Enqueue req and print one line about it; the operation's id goes to id (size n). */
static int enqueue_one(struct tmdbq *h, const struct tmdbq_request *req, char *id,
                       size_t n)
{
    struct tmdbq_op *op = NULL;
    int rc = tmdbq_enqueue(h, req, &op);

    if (rc != TMDBQ_OK)
        return report(h, "could not enqueue", rc);
    printf("enqueued %s %s %s%s\n", tmdbq_op_id(op), tmdbq_op_type(op),
           tmdbq_op_status(op), tmdbq_op_duplicate(op) ? " (duplicate)" : "");
    /* Not an error: the row is durable and the reaper publishes it later. */
    if (!tmdbq_op_published(op))
        fprintf(stderr, "%s: warning: %s is stored but not published yet: %s\n", PROGRAM,
                tmdbq_op_id(op), tmdbq_errmsg(h));
    snprintf(id, n, "%s", tmdbq_op_id(op));
    tmdbq_op_free(op);
    return TMDBQ_OK;
}

int main(int argc, char **argv)
{
    struct tmdbq *h = NULL;
    struct tmdbq_op *op = NULL;
    struct tmdbq_stats stats;
    struct tmdbq_request req;
    char first_id[64] = "", id[64];
    char *text = NULL;
    int64_t user = 42;
    int rc;

    if (argc > 2 || (argc == 2 && parse_user(argv[1], &user) != TMDBQ_OK)) {
        fprintf(stderr, "usage: %s [USER_ID]   (a positive integer)\n", PROGRAM);
        return TMDBQ_EINVAL;
    }

    /* NULL, NULL: the URLs come from TMDBQ_DATABASE_URL and TMDBQ_AMQP_URL. The handle is
     * set even when opening fails, so that tmdbq_errmsg can say why. */
    rc = tmdbq_open(NULL, NULL, &h);
    if (rc != TMDBQ_OK) {
        report(h, "could not open the queue", rc);
        goto out;
    }

    req = tmdbq_request_init();
    req.type = "create_list";
    req.user = user;
    req.has_user = true;
    req.name = "Weekend watchlist";
    req.description = "made by examples/enqueue_and_show";
    req.public_flag = 0;
    rc = enqueue_one(h, &req, first_id, sizeof first_id);
    if (rc != TMDBQ_OK)
        goto out;

    /* Two edits of one list: consumers apply them in this order. */
    req = tmdbq_request_init();
    req.type = "add_movie";
    req.user = user;
    req.has_user = true;
    req.list = 7;
    req.has_list = true;
    req.movie = 550;
    req.has_movie = true;
    rc = enqueue_one(h, &req, id, sizeof id);
    if (rc != TMDBQ_OK)
        goto out;
    req.movie = 680;
    rc = enqueue_one(h, &req, id, sizeof id);
    if (rc != TMDBQ_OK)
        goto out;

    rc = tmdbq_stats(h, &stats);
    if (rc != TMDBQ_OK) {
        report(h, "could not read the counts", rc);
        goto out;
    }
    printf("stats: pending %" PRId64 ", processing %" PRId64 ", completed %" PRId64
           ", failed %" PRId64 ", cancelled %" PRId64 ", total %" PRId64 "\n",
           stats.pending, stats.processing, stats.completed, stats.failed,
           stats.cancelled, stats.total);

    rc = tmdbq_show(h, first_id, &op);
    if (rc != TMDBQ_OK) {
        report(h, "could not show the operation", rc);
        goto out;
    }
    text = tmdbq_op_to_text(op);
    if (text == NULL) {
        fprintf(stderr, "%s: out of memory\n", PROGRAM);
        rc = TMDBQ_ESERVICE;
        goto out;
    }
    printf("operation %s:\n%s", first_id, text);
out:
    free(text);
    tmdbq_op_free(op);
    tmdbq_close(h);
    return rc;
}
