/*
 * ft_http: the HTTP/1.1 half of fake-tmdb. Parses one request out of a connection's input
 * buffer (Content-Length bodies only, hard limits on header and body size) and formats
 * responses. It keeps no state between calls: the event loop owns the buffers.
 */
#ifndef FT_HTTP_H
#define FT_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* A request head larger than this answers 431; a body larger than FT_MAX_BODY answers
 * 413. */
#define FT_MAX_HEAD (16 * 1024)
#define FT_MAX_BODY (64 * 1024)

/* A growable byte buffer. Zero-initialised is empty; ft_buf_free releases it. */
struct ft_buf {
    char *data;
    size_t len;
    size_t cap;
};

/* Appends n bytes; returns 0, or -1 when memory ran out (the buffer is unchanged). */
int ft_buf_append(struct ft_buf *b, const void *p, size_t n);
/* Appends a NUL-terminated string; same contract as ft_buf_append. */
int ft_buf_puts(struct ft_buf *b, const char *s);
/* Drops the first n bytes (n <= len). */
void ft_buf_consume(struct ft_buf *b, size_t n);
void ft_buf_free(struct ft_buf *b);

enum ft_parse_status {
    FT_PARSE_OK,           /* a whole request is in *req */
    FT_PARSE_INCOMPLETE,   /* read more; req->expect_continue tells whether to send 100 */
    FT_PARSE_BAD,          /* 400, then close */
    FT_PARSE_HEAD_TOO_BIG, /* 431, then close */
    FT_PARSE_BODY_TOO_BIG, /* 413, then close */
    FT_PARSE_CHUNKED,      /* Transfer-Encoding is not supported: 411, then close */
    FT_PARSE_NO_MEMORY,    /* 500, then close */
};

/* One parsed request. Every pointer is owned by the struct; ft_request_cleanup frees
 * them. */
struct ft_request {
    char method[16];
    char *path;         /* target before '?', not percent-decoded */
    char *query_raw;    /* target after '?', "" when absent */
    json_t *query;      /* object: decoded name -> decoded string value (last one wins) */
    char *content_type; /* NULL when absent */
    char *authorization;
    int has_content_length;
    char *body; /* NUL-terminated copy, body_len bytes (an empty string when no body) */
    size_t body_len;
    int http10;
    int keep_alive;
    int expect_continue;
    size_t consumed; /* bytes of the input buffer this request used */
};

/*
 * Parses the request at the start of buf[0..len). Always call ft_request_cleanup
 * afterwards, whatever the result. Never blocks.
 */
enum ft_parse_status ft_http_parse(const char *buf, size_t len, struct ft_request *req);
void ft_request_cleanup(struct ft_request *req);

/* The decoded query value for name, or NULL. Borrowed: lives as long as req. */
const char *ft_request_query(const struct ft_request *req, const char *name);

/* The token of "Authorization: Bearer T", or NULL. Borrowed: lives as long as req. */
const char *ft_request_bearer(const struct ft_request *req);

/*
 * Appends a full response (status line, headers, body) to out. retry_after < 0 sends no
 * Retry-After header. Returns 0 or -1 on out of memory.
 */
int ft_http_format(struct ft_buf *out, int status, const char *body, size_t body_len,
                   int keep_alive, int retry_after);

/* The standard reason phrase for an HTTP status ("Unknown" for others). */
const char *ft_http_reason(int status);

#endif
