/*
 * settings: tmdbq-http's own configuration (TMDBQ_HTTP_*), from the environment.
 *
 * Everything else (the database, the broker, TMDB, timeouts, logging) is the common
 * configuration of every tmdbq program (common/cfg.h), read by libtmdbq itself.
 */
#ifndef TMDBQ_HTTP_SETTINGS_H
#define TMDBQ_HTTP_SETTINGS_H

#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "err.h"

/* The longest token accepted; the shortest is SETTINGS_TOKEN_MIN. */
#define SETTINGS_TOKEN_MIN 16
#define SETTINGS_TOKEN_MAX 512

struct settings {
    char host[256];    /* TMDBQ_HTTP_LISTEN's host: an IPv4 or IPv6 address or a
                          name; default 127.0.0.1 */
    int port;          /* its port, 0..65535 (0: any free port); default 8080 */
    const char *token; /* TMDBQ_HTTP_TOKEN, required; a secret: never logged */
    size_t token_len;
    int pool_size;        /* TMDBQ_HTTP_POOL: database handles, 1..256, default 8 */
    int64_t pool_wait_ms; /* TMDBQ_HTTP_POOL_WAIT: how long a request waits for a
                             handle before 503, default 2s */
    int max_connections;  /* TMDBQ_HTTP_MAX_CONNECTIONS: open client connections
                             (one thread each), 1..10000, default 256 */
};

/* Fill s from the environment. ST_INVALID with a message naming the variable when a value
 * is bad or TMDBQ_HTTP_TOKEN is missing (the token itself never appears in a message).
 * Strings are borrowed from the environment. */
enum status settings_load(const struct cfg *c, struct settings *s, struct err *e);

#endif
