/*
 * settings: what tmdbq-http makes of its TMDBQ_HTTP_* variables (see settings.h). They
 * are read, with their defaults and ranges, in common/cfg.c's one table like every other
 * variable; this file splits the listen address and checks the token's form.
 */
#include "settings.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"

#define QUOTE_MAX 64

static enum status parse_int(const char *name, const char *v, long lo, long hi, int *out,
                             struct err *e)
{
    char *end = NULL;
    long n;

    errno = 0;
    n = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || v[0] < '0' || v[0] > '9' || n < lo ||
        n > hi)
        return err_set(e, ST_INVALID,
                       "%s: \"%.*s\" is not a whole number from %ld to %ld", name,
                       QUOTE_MAX, v, lo, hi);
    *out = (int)n;
    return ST_OK;
}

/* host:port or [v6]:port. An empty host (":8080") is refused, so that no one opens every
 * interface by accident: listening on all of them is written 0.0.0.0 or [::]. */
static enum status parse_listen(const char *v, struct settings *s, struct err *e)
{
    const char *colon, *host = v;
    size_t host_len;

    if (v[0] == '[') {
        const char *close = strchr(v, ']');
        if (close == NULL || close[1] != ':')
            goto bad;
        host = v + 1;
        host_len = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = strrchr(v, ':');
        if (colon == NULL || strchr(v, ':') != colon)
            goto bad;
        host_len = (size_t)(colon - v);
    }
    if (host_len == 0 || host_len >= sizeof s->host)
        goto bad;
    memcpy(s->host, host, host_len);
    s->host[host_len] = '\0';
    if (parse_int("TMDBQ_HTTP_LISTEN", colon + 1, 0, 65535, &s->port, e) != ST_OK)
        goto bad;
    return ST_OK;
bad:
    return err_set(e, ST_INVALID,
                   "TMDBQ_HTTP_LISTEN: \"%.*s\" is not host:port (e.g. 127.0.0.1:8080, "
                   "0.0.0.0:8080, [::1]:8080; port 0..65535)",
                   QUOTE_MAX, v);
}

enum status settings_load(const struct cfg *c, struct settings *s, struct err *e)
{
    enum status st;

    memset(s, 0, sizeof *s);
    s->pool_size = c->http_pool;
    s->pool_wait_ms = c->http_pool_wait_ms;
    s->max_connections = c->http_max_connections;
    st = parse_listen(c->http_listen, s, e);
    if (st != ST_OK)
        return st;

    /* The token is a secret: its value never appears in a message. It travels in a
     * header, so it is limited to visible ASCII. */
    s->token = c->http_token;
    if (s->token == NULL)
        return err_set(e, ST_INVALID,
                       "TMDBQ_HTTP_TOKEN is required: the bearer token every /v1 request "
                       "must carry (at least %d characters, e.g. from `openssl rand -hex "
                       "32`)",
                       SETTINGS_TOKEN_MIN);
    s->token_len = strlen(s->token);
    if (s->token_len < SETTINGS_TOKEN_MIN || s->token_len > SETTINGS_TOKEN_MAX)
        return err_set(e, ST_INVALID,
                       "TMDBQ_HTTP_TOKEN: must be %d to %d characters long (it is %zu)",
                       SETTINGS_TOKEN_MIN, SETTINGS_TOKEN_MAX, s->token_len);
    for (size_t i = 0; i < s->token_len; i++) {
        if (s->token[i] <= ' ' || s->token[i] >= 0x7f)
            return err_set(e, ST_INVALID,
                           "TMDBQ_HTTP_TOKEN: only visible ASCII characters are allowed "
                           "(no spaces)");
    }
    return ST_OK;
}
