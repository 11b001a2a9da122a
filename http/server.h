/*
 * server: HTTP on libmicrohttpd; the part of tmdbq-http that sees the wire.
 *
 * One thread per client connection (libmicrohttpd's thread-per-connection mode): every
 * handler blocks on PostgreSQL, RabbitMQ or TMDB through libtmdbq, and a blocked thread
 * then holds up only its own client. Connections are bounded (TMDBQ_HTTP_MAX_CONNECTIONS)
 * and so are database handles (the pool), so a flood of clients costs threads up to the
 * bound and 503s beyond the pool, never a crash.
 *
 * Before any handler runs, here: the route (404, 405), the bearer token of /v1 (401,
 * compared in constant time), the body's size (413 beyond SERVER_BODY_MAX, at the end of
 * the body, read and dropped; at once for a Content-Length far beyond it). /healthz,
 * /metrics and the dashboard's files (/ and /ui/..., ui.h) take no token. Every request
 * ends in one log line: method, path, status, milliseconds, the client's address (and
 * op=<id> when it was about one operation); never a header or a body, so never the token
 * nor a user's session.
 */
#ifndef TMDBQ_HTTP_SERVER_H
#define TMDBQ_HTTP_SERVER_H

#include <stdint.h>

#include "err.h"

#define SERVER_BODY_MAX (1024 * 1024)

struct settings;
struct api;
struct scrape;
struct server;

/* Listen on the settings' host and port and serve from now on, in libmicrohttpd's
 * threads. settings, api and scrape are borrowed until server_stop. ST_IO when the
 * address cannot be resolved or bound (e names it). */
enum status server_start(const struct settings *s, struct api *api, struct scrape *scrape,
                         struct server **out, struct err *e);

/* The port it listens on (the one the system chose when the settings said 0). */
int server_port(const struct server *srv);

/* Stop taking connections, let requests in progress finish for at most grace_ms, then
 * close every connection and free the server. Accepts NULL. Blocks. */
void server_stop(struct server *srv, int64_t grace_ms);

#endif
