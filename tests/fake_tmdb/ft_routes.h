/*
 * ft_routes: what fake-tmdb answers. The TMDB v3/v4 list endpoints (with auth, ownership
 * and the injected faults) and the /__control/ API that tests use to set state up, inject
 * faults and read back every TMDB request received.
 */
#ifndef FT_ROUTES_H
#define FT_ROUTES_H

#include <stdint.h>

#include "ft_http.h"
#include "ft_state.h"

struct ft_response {
    int status;
    struct ft_buf body;
    int retry_after;  /* -1: no Retry-After header */
    int64_t delay_ms; /* hold the response this long (latency fault) */
    int drop;         /* close the connection without answering (refuse fault) */
    int tmdb;         /* 1 for TMDB requests, 0 for control requests */
};

void ft_response_init(struct ft_response *resp);
void ft_response_cleanup(struct ft_response *resp);

/*
 * Answers one request into resp (initialised by the caller) and, for TMDB requests,
 * appends it to the request log. Never fails: running out of memory answers 500.
 */
void ft_route(struct ft_state *st, const struct ft_request *req, struct ft_response *resp,
              int64_t now_ms);

/* A TMDB-shaped error body for failures found before routing (413, 431, 400...). */
void ft_response_error(struct ft_response *resp, int http_status, const char *message);

#endif
