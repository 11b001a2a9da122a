/*
 * scrape: GET /metrics (Prometheus text format 0.0.4) and GET /healthz.
 *
 * Both read PostgreSQL through a monitoring connection of their own (not the request
 * pool), so a health check is answered even while every pooled handle is busy. /metrics
 * also borrows one pooled handle for tmdbq_status (counts, consumers, queues, the TMDB
 * budget). Counters (finished outcomes, TMDB requests and their durations) are the
 * consumers' totals from table tmdbq_metrics (migration 009), so they survive this
 * server's restarts; this process adds only figures about itself (tmdbq_http_*).
 */
#ifndef TMDBQ_HTTP_SCRAPE_H
#define TMDBQ_HTTP_SCRAPE_H

#include <stdint.h>

#include "err.h"

struct pool;
struct scrape;

/* database_url and its connect timeout for the monitoring connection (borrowed for the
 * scrape's life); pool for tmdbq_status. Nothing is opened yet. */
enum status scrape_new(const char *database_url, int64_t connect_timeout_ms,
                       struct pool *pool, struct scrape **out, struct err *e);
void scrape_free(struct scrape *s);

/* Count one answered HTTP request of this server by its status (for
 * tmdbq_http_requests_total). */
void scrape_count_request(struct scrape *s, int status);

/* GET /healthz: *status 200 with {"status":"ok"} when PostgreSQL answers a query, else
 * 503 with {"status":"unavailable","error":"..."}. *body is malloc'd (NULL when out of
 * memory). Blocks for a round trip, or a reconnect bounded by TMDBQ_CONNECT_TIMEOUT. */
void scrape_health(struct scrape *s, int *status, char **body);

/* GET /metrics: *status 200 with the page, or 503 with a one-line reason when PostgreSQL
 * failed or no pooled handle came free. *body is malloc'd. Blocks for a few round trips
 * (tmdbq_status asks RabbitMQ and its management API too). */
void scrape_metrics(struct scrape *s, int *status, char **body);

#endif
