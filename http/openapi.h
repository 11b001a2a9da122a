/*
 * openapi: the OpenAPI 3 description of tmdbq-http's API (http/openapi.json), embedded
 * into the binary at build time (embed.cmake) and served at GET /v1/openapi.json, so the
 * document a client reads always belongs to the server that answers it.
 */
#ifndef TMDBQ_HTTP_OPENAPI_H
#define TMDBQ_HTTP_OPENAPI_H

#include <stddef.h>

extern const char openapi_json[];     /* NUL-terminated */
extern const size_t openapi_json_len; /* without the NUL */

#endif
