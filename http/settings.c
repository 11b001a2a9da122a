/*
 * settings: TMDBQ_HTTP_* from the environment (see settings.h). An unset or empty
 * variable means its default, as everywhere in tmdbq; the token has none.
 */
#include "settings.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"

#define QUOTE_MAX 64

static const char *env(const char *name)
{
    const char *v = getenv(name);

    return (v != NULL && v[0] != '\0') ? v : NULL;
}

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

enum status settings_load(struct settings *s, struct err *e)
{
    const char *v;
    enum status st;

    memset(s, 0, sizeof *s);
    snprintf(s->host, sizeof s->host, "127.0.0.1");
    s->port = 8080;
    s->pool_size = 8;
    s->pool_wait_ms = 2000;
    s->max_connections = 256;

    if ((v = env("TMDBQ_HTTP_LISTEN")) != NULL && (st = parse_listen(v, s, e)) != ST_OK)
        return st;
    if ((v = env("TMDBQ_HTTP_POOL")) != NULL &&
        (st = parse_int("TMDBQ_HTTP_POOL", v, 1, 256, &s->pool_size, e)) != ST_OK)
        return st;
    if ((v = env("TMDBQ_HTTP_MAX_CONNECTIONS")) != NULL &&
        (st = parse_int("TMDBQ_HTTP_MAX_CONNECTIONS", v, 1, 10000, &s->max_connections,
                        e)) != ST_OK)
        return st;
    if ((v = env("TMDBQ_HTTP_POOL_WAIT")) != NULL) {
        st = cfg_parse_duration(v, &s->pool_wait_ms, e);
        if (st != ST_OK) {
            err_prefix(e, "TMDBQ_HTTP_POOL_WAIT");
            return st;
        }
        if (s->pool_wait_ms > 60000)
            return err_set(e, ST_INVALID, "TMDBQ_HTTP_POOL_WAIT: at most 1m");
    }

    /* The token is a secret: its value never appears in a message. It travels in a
     * header, so it is limited to visible ASCII. */
    s->token = env("TMDBQ_HTTP_TOKEN");
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
