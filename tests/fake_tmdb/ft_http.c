/*
 * ft_http: request parsing and response formatting for fake-tmdb. The parser is re-run
 * from the start of the buffer whenever more bytes arrive; requests are small (bounded by
 * FT_MAX_HEAD + FT_MAX_BODY), so re-scanning is cheaper than keeping a parser state.
 */
#include "ft_http.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int ft_buf_append(struct ft_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *data = realloc(b->data, cap);
        if (!data)
            return -1;
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    /* Keep a terminator so a buffer can be handed to string functions. */
    b->data[b->len] = '\0';
    return 0;
}

int ft_buf_puts(struct ft_buf *b, const char *s)
{
    return ft_buf_append(b, s, strlen(s));
}

void ft_buf_consume(struct ft_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
    } else {
        memmove(b->data, b->data + n, b->len - n);
        b->len -= n;
    }
    if (b->data)
        b->data[b->len] = '\0';
}

void ft_buf_free(struct ft_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void ft_request_cleanup(struct ft_request *req)
{
    free(req->path);
    free(req->query_raw);
    json_decref(req->query);
    free(req->content_type);
    free(req->authorization);
    free(req->body);
    memset(req, 0, sizeof *req);
}

const char *ft_request_query(const struct ft_request *req, const char *name)
{
    return json_string_value(json_object_get(req->query, name));
}

const char *ft_request_bearer(const struct ft_request *req)
{
    const char *a = req->authorization;
    if (!a || strncasecmp(a, "Bearer ", 7) != 0)
        return NULL;
    a += 7;
    while (*a == ' ')
        a++;
    return *a ? a : NULL;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes %XX and '+' in s[0..n) into a new string; a broken %-escape is kept as is. */
static char *url_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '%' && i + 2 < n && hex_value(s[i + 1]) >= 0 &&
                   hex_value(s[i + 2]) >= 0) {
            out[o++] = (char)(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

/* Splits "a=1&b=2" into a JSON object. Values that are not UTF-8 are skipped (jansson
 * only holds UTF-8), which no client of ours sends. Returns 0 or -1 on out of memory. */
static int parse_query(const char *q, json_t *obj)
{
    while (*q) {
        const char *amp = strchr(q, '&');
        size_t n = amp ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', n);
        size_t klen = eq ? (size_t)(eq - q) : n;
        if (klen > 0) {
            char *k = url_decode(q, klen);
            char *v = eq ? url_decode(eq + 1, n - klen - 1) : url_decode("", 0);
            if (!k || !v) {
                free(k);
                free(v);
                return -1;
            }
            json_t *js = json_string(v);
            if (js)
                json_object_set_new(obj, k, js);
            free(k);
            free(v);
        }
        q += n;
        if (*q == '&')
            q++;
    }
    return 0;
}

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* True when the comma-separated header value contains token (case-insensitive). */
static int has_token(const char *v, size_t n, const char *token)
{
    size_t tl = strlen(token);
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t start = i;
        while (i < n && v[i] != ',')
            i++;
        size_t end = i;
        while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
            end--;
        if (end - start == tl && strncasecmp(v + start, token, tl) == 0)
            return 1;
    }
    return 0;
}

static const char *find_head_end(const char *buf, size_t len)
{
    for (size_t i = 0; i + 3 < len; i++) {
        if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' &&
            buf[i + 3] == '\n')
            return buf + i;
    }
    return NULL;
}

static enum ft_parse_status parse_request_line(const char *line, size_t n,
                                               struct ft_request *req)
{
    const char *sp1 = memchr(line, ' ', n);
    if (!sp1 || sp1 == line || (size_t)(sp1 - line) >= sizeof req->method)
        return FT_PARSE_BAD;
    for (const char *p = line; p < sp1; p++) {
        if (!isupper((unsigned char)*p))
            return FT_PARSE_BAD;
    }
    memcpy(req->method, line, (size_t)(sp1 - line));
    req->method[sp1 - line] = '\0';

    const char *target = sp1 + 1;
    size_t rest = n - (size_t)(target - line);
    const char *sp2 = memchr(target, ' ', rest);
    if (!sp2 || sp2 == target || *target != '/')
        return FT_PARSE_BAD;
    const char *version = sp2 + 1;
    size_t vlen = n - (size_t)(version - line);
    if (vlen == 8 && memcmp(version, "HTTP/1.1", 8) == 0)
        req->http10 = 0;
    else if (vlen == 8 && memcmp(version, "HTTP/1.0", 8) == 0)
        req->http10 = 1;
    else
        return FT_PARSE_BAD;

    size_t tlen = (size_t)(sp2 - target);
    const char *qmark = memchr(target, '?', tlen);
    size_t plen = qmark ? (size_t)(qmark - target) : tlen;
    req->path = dup_n(target, plen);
    req->query_raw = qmark ? dup_n(qmark + 1, tlen - plen - 1) : dup_n("", 0);
    req->query = json_object();
    if (!req->path || !req->query_raw || !req->query)
        return FT_PARSE_NO_MEMORY;
    if (parse_query(req->query_raw, req->query) != 0)
        return FT_PARSE_NO_MEMORY;
    return FT_PARSE_OK;
}

/* Parses a Content-Length value: digits only, no sign, no overflow. */
static int parse_length(const char *v, size_t n, size_t *out)
{
    if (n == 0 || n > 18)
        return -1;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)v[i]))
            return -1;
        total = total * 10 + (size_t)(v[i] - '0');
    }
    *out = total;
    return 0;
}

enum ft_parse_status ft_http_parse(const char *buf, size_t len, struct ft_request *req)
{
    memset(req, 0, sizeof *req);
    const char *head_end = find_head_end(buf, len);
    if (!head_end)
        return len > FT_MAX_HEAD ? FT_PARSE_HEAD_TOO_BIG : FT_PARSE_INCOMPLETE;
    size_t head_len = (size_t)(head_end - buf) + 4;
    if (head_len > FT_MAX_HEAD)
        return FT_PARSE_HEAD_TOO_BIG;

    /* A NUL in the head is malformed; without one, the strstr calls below stay inside the
     * head because it ends with CRLF CRLF. */
    if (memchr(buf, '\0', head_len))
        return FT_PARSE_BAD;
    const char *line_end = strstr(buf, "\r\n");
    enum ft_parse_status st = parse_request_line(buf, (size_t)(line_end - buf), req);
    if (st != FT_PARSE_OK)
        return st;

    int conn_close = 0, conn_keep = 0, chunked = 0;
    size_t content_length = 0;
    const char *p = line_end + 2;
    while (p < head_end) {
        const char *eol = strstr(p, "\r\n");
        size_t n = (size_t)(eol - p);
        const char *colon = memchr(p, ':', n);
        if (!colon || colon == p || *p == ' ' || *p == '\t')
            return FT_PARSE_BAD;
        size_t name_len = (size_t)(colon - p);
        const char *v = colon + 1;
        const char *vend = eol;
        while (v < vend && (*v == ' ' || *v == '\t'))
            v++;
        while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
            vend--;
        size_t vlen = (size_t)(vend - v);

#define NAME_IS(s) (name_len == sizeof(s) - 1 && strncasecmp(p, s, name_len) == 0)
        if (NAME_IS("Content-Length")) {
            size_t cl;
            if (parse_length(v, vlen, &cl) != 0)
                return FT_PARSE_BAD;
            if (req->has_content_length && cl != content_length)
                return FT_PARSE_BAD;
            req->has_content_length = 1;
            content_length = cl;
        } else if (NAME_IS("Transfer-Encoding")) {
            chunked = 1;
        } else if (NAME_IS("Content-Type")) {
            free(req->content_type);
            req->content_type = dup_n(v, vlen);
            if (!req->content_type)
                return FT_PARSE_NO_MEMORY;
        } else if (NAME_IS("Authorization")) {
            free(req->authorization);
            req->authorization = dup_n(v, vlen);
            if (!req->authorization)
                return FT_PARSE_NO_MEMORY;
        } else if (NAME_IS("Connection")) {
            conn_close |= has_token(v, vlen, "close");
            conn_keep |= has_token(v, vlen, "keep-alive");
        } else if (NAME_IS("Expect")) {
            req->expect_continue = has_token(v, vlen, "100-continue");
        }
#undef NAME_IS
        p = eol + 2;
    }

    if (chunked)
        return FT_PARSE_CHUNKED;
    if (content_length > FT_MAX_BODY)
        return FT_PARSE_BODY_TOO_BIG;
    /* HTTP/1.0 clients such as ab -k ask for keep-alive explicitly. */
    req->keep_alive = req->http10 ? (conn_keep && !conn_close) : !conn_close;

    if (len - head_len < content_length)
        return FT_PARSE_INCOMPLETE;
    req->body = dup_n(buf + head_len, content_length);
    if (!req->body)
        return FT_PARSE_NO_MEMORY;
    req->body_len = content_length;
    req->consumed = head_len + content_length;
    return FT_PARSE_OK;
}

const char *ft_http_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Unknown";
    }
}

int ft_http_format(struct ft_buf *out, int status, const char *body, size_t body_len,
                   int keep_alive, int retry_after)
{
    char head[512];
    char retry[64] = "";
    if (retry_after >= 0)
        snprintf(retry, sizeof retry, "Retry-After: %d\r\n", retry_after);
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\n"
                     "Server: fake-tmdb\r\n"
                     "Content-Type: application/json;charset=utf-8\r\n"
                     "Content-Length: %zu\r\n"
                     "Connection: %s\r\n"
                     "%s"
                     "\r\n",
                     status, ft_http_reason(status), body_len,
                     keep_alive ? "keep-alive" : "close", retry);
    if (n < 0 || (size_t)n >= sizeof head)
        return -1;
    size_t old_len = out->len;
    if (ft_buf_append(out, head, (size_t)n) != 0 ||
        ft_buf_append(out, body, body_len) != 0) {
        out->len = old_len;
        return -1;
    }
    return 0;
}
