/*
 * mqadmin: RabbitMQ's management HTTP API, read only, for `tmdbq status`.
 *
 * AMQP's passive queue.declare tells ready messages and consumers, but not the messages
 * delivered and not yet acknowledged; only the management plugin knows those. It is an
 * optional extra: callers treat every failure here as "unknown", never as a failed
 * command. One reused libcurl handle per mqadmin; every request is bounded in time and
 * its answer in size. Credentials are never put in a message (mqadmin_where shows the
 * endpoint without them).
 *
 * libcurl's global state is the program's business: mqadmin_global_init at start, before
 * any thread, and mqadmin_global_cleanup at exit.
 */
#ifndef TMDBQ_MQADMIN_H
#define TMDBQ_MQADMIN_H

#include <stdint.h>

#include "err.h"

struct mqadmin;

/* libcurl's global set-up and tear-down (curl_global_init / curl_global_cleanup), for a
 * program that has no other reason to call libcurl itself. ST_NOMEM when libcurl cannot
 * start. Not thread-safe: call from main. */
enum status mqadmin_global_init(struct err *e);
void mqadmin_global_cleanup(void);

/* Prepare a client for the broker of amqp_url (amqp://user:password@host:port/vhost, as
 * TMDBQ_AMQP_URL; of a list of nodes, the first): the API at http://host:15672, with the
 * URL's user and password (guest and guest when it has none) and its vhost ("/" when it
 * has none). management_url, when not NULL or "", replaces the endpoint
 * (http[s]://[user:password@]host:port[/path]; its user and password, when it has them,
 * replace the AMQP URL's). timeout_ms bounds each request, connecting included. Nothing
 * is sent yet. ST_INVALID for a URL that does not parse (the message shows it with the
 * password masked); *out owns the client (mqadmin_close). */
enum status mqadmin_open(const char *amqp_url, const char *management_url,
                         int64_t timeout_ms, struct mqadmin **out, struct err *e);
void mqadmin_close(struct mqadmin *a);

/* "http://host:port" (and path) of the API, without credentials; borrowed from a. */
const char *mqadmin_where(const struct mqadmin *a);

/* A queue as the management API reports it; -1 where the answer had no such figure (the
 * broker has not yet collected statistics for a new queue). The plugin samples its
 * statistics every few seconds (collect_statistics_interval, default 5 s), so these may
 * be that old. */
struct mqadmin_queue {
    int64_t ready;
    int64_t unacked;
    int64_t consumers;
};

/* GET /api/queues/<vhost>/<name> (name is the whole queue name) and fill *out. ST_MQ when
 * the API does not answer, refuses the credentials, or answers anything but the queue
 * (the message says which); ST_NOT_FOUND when the broker has no such queue. Blocks up to
 * the timeout. */
enum status mqadmin_queue(struct mqadmin *a, const char *name, struct mqadmin_queue *out,
                          struct err *e);

#endif
