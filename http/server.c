/*
 * server: libmicrohttpd, the checks every request passes, and the request log (see
 * server.h).
 *
 * libmicrohttpd calls the access handler several times per request: first with the
 * headers (then we decide everything that needs no body: route, token, declared size),
 * then once per piece of the body (kept, up to SERVER_BODY_MAX), then once more with no
 * data (then the handler runs). A response queued early ends the request there; the
 * connection is closed after it when a body was left unread.
 */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "api.h"
#include "clock.h"
#include "log.h"
#include "scrape.h"
#include "settings.h"
#include "ui.h"

#define CONTENT_JSON "application/json"
#define CONTENT_PROMETHEUS "text/plain; version=0.0.4; charset=utf-8"
/* An idle keep-alive connection is closed after this long (seconds). */
#define IDLE_TIMEOUT_S 60
/* A body over the limit that announced no size is read to its end (to answer 413) for
 * at most this much more; beyond, its connection is closed. */
#define DROP_MAX (8 * SERVER_BODY_MAX)
/* Parts of the path shown in the log line. */
#define PATH_SHOW_MAX 200

struct server {
    struct MHD_Daemon *daemon;
    const struct settings *settings;
    struct api *api;
    struct scrape *scrape;
    int port;
    atomic_int in_flight; /* requests begun and not yet completed */
};

enum kind { KIND_API, KIND_HEALTH, KIND_METRICS, KIND_UI };

/* One request, from its headers to its log line. */
struct request {
    int64_t t0_ms;
    enum kind kind;
    char method[16];
    char path[PATH_SHOW_MAX + 1];
    char peer[INET6_ADDRSTRLEN];
    bool answered; /* a response was queued: ignore the rest */
    int status;
    char op[40];
    char *body;
    size_t len, cap;
    bool too_big;
    size_t dropped; /* bytes of a body over the limit, read and thrown away */
};

/* ---- responses -----------------------------------------------------------------------
 */

/* Queue a response; body (malloc'd, may be NULL) is handed to libmicrohttpd, which frees
 * it. The headers are name/value pairs, NULL-terminated. */
static enum MHD_Result respond(struct MHD_Connection *c, struct request *rq, int status,
                               char *body, const char *content_type, ...)
{
    struct MHD_Response *r;
    enum MHD_Result res;
    va_list ap;
    const char *name, *value;

    if (body != NULL)
        r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    else
        r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    va_start(ap, content_type);
    while ((name = va_arg(ap, const char *)) != NULL) {
        value = va_arg(ap, const char *);
        if (value != NULL && value[0] != '\0')
            MHD_add_response_header(r, name, value);
    }
    va_end(ap);
    res = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    rq->answered = true;
    rq->status = status;
    return res;
}

static enum MHD_Result respond_error(struct MHD_Connection *c, struct request *rq,
                                     int status, const char *header, const char *value,
                                     const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static enum MHD_Result respond_error(struct MHD_Connection *c, struct request *rq,
                                     int status, const char *header, const char *value,
                                     const char *fmt, ...)
{
    struct api_reply rp;
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memset(&rp, 0, sizeof rp);
    api_error(&rp, status, "%s", msg);
    return respond(c, rq, status, rp.body, CONTENT_JSON, header, value, NULL);
}

/* ---- checks before the body -----------------------------------------------------------
 */

/* Whether the Authorization header carries the token. Constant time in the token: every
 * byte of the configured token is compared whatever the header holds, so the time taken
 * says nothing about how much of a guess was right. */
static bool token_ok(const struct settings *s, const char *header)
{
    const unsigned char *given;
    size_t glen;
    volatile unsigned char diff;

    if (header == NULL || strncasecmp(header, "Bearer ", 7) != 0)
        return false;
    given = (const unsigned char *)header + 7;
    while (*given == ' ')
        given++;
    glen = strlen((const char *)given);
    diff = glen != s->token_len;
    for (size_t i = 0; i < s->token_len; i++)
        diff |= (unsigned char)((i < glen ? given[i] : 0) ^ (unsigned char)s->token[i]);
    return diff == 0;
}

static bool is_get(const char *method)
{
    return strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
           strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
}

enum declared { DECLARED_OK, DECLARED_DROP, DECLARED_REFUSE };

/* What the declared body size asks for: DECLARED_OK within the limit (or none declared);
 * DECLARED_DROP over it but within DROP_MAX more, read and dropped, and answered 413 at
 * its end (a client still sending when the server answered and closed would meet a
 * broken pipe, not the 413: seen with a proxy under load); DECLARED_REFUSE beyond that,
 * or a bad Content-Length: 413 at once, and the connection closed. */
static enum declared declared_size(struct MHD_Connection *c)
{
    const char *v =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    char *end = NULL;
    unsigned long long n;

    if (v == NULL)
        return DECLARED_OK;
    errno = 0;
    n = strtoull(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' ||
        n > (unsigned long long)SERVER_BODY_MAX + DROP_MAX)
        return DECLARED_REFUSE;
    return n > SERVER_BODY_MAX ? DECLARED_DROP : DECLARED_OK;
}

static void client_address(struct MHD_Connection *c, char *buf, size_t n)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;

    snprintf(buf, n, "?");
    if (sa == NULL)
        return;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf,
                  (socklen_t)n);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
                  buf, (socklen_t)n);
}

/* First call: everything that needs no body. Returns true when a response was queued
 * (*res says how that went). */
static bool check_headers(struct server *srv, struct MHD_Connection *c,
                          struct request *rq, const char *url, const char *method,
                          enum MHD_Result *res)
{
    const char *allow = NULL;

    if (strcmp(url, "/healthz") == 0 || strcmp(url, "/metrics") == 0) {
        rq->kind = url[1] == 'h' ? KIND_HEALTH : KIND_METRICS;
        if (!is_get(method)) {
            *res = respond_error(c, rq, 405, MHD_HTTP_HEADER_ALLOW, "GET, HEAD",
                                 "%s takes GET", url);
            return true;
        }
        return false;
    }
    if (ui_owns(url)) {
        struct ui_file f;

        rq->kind = KIND_UI;
        if (!is_get(method)) {
            *res = respond_error(c, rq, 405, MHD_HTTP_HEADER_ALLOW, "GET, HEAD",
                                 "%.200s takes GET", url);
            return true;
        }
        if (!ui_find(url, &f)) {
            *res = respond_error(c, rq, 404, NULL, NULL, "no such file: %.200s", url);
            return true;
        }
        return false;
    }
    rq->kind = KIND_API;
    if (strncmp(url, "/v1/", 4) != 0) {
        *res = respond_error(c, rq, 404, NULL, NULL, "no such endpoint: %.200s", url);
        return true;
    }
    if (!token_ok(srv->settings,
                  MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                              MHD_HTTP_HEADER_AUTHORIZATION))) {
        *res = respond_error(c, rq, 401, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                             "Bearer realm=\"tmdbq\"",
                             "missing or wrong bearer token (Authorization: Bearer "
                             "<TMDBQ_HTTP_TOKEN>)");
        return true;
    }
    switch (api_match(method, url, &allow)) {
    case API_FOUND:
        break;
    case API_NO_PATH:
        *res = respond_error(c, rq, 404, NULL, NULL, "no such endpoint: %.200s", url);
        return true;
    case API_NO_METHOD:
        *res = respond_error(c, rq, 405, MHD_HTTP_HEADER_ALLOW, allow,
                             "%.200s takes %s, not %.16s", url, allow, method);
        return true;
    }
    switch (declared_size(c)) {
    case DECLARED_OK:
        break;
    case DECLARED_DROP:
        rq->too_big = true; /* read, dropped, and answered at its end */
        break;
    case DECLARED_REFUSE:
        *res = respond_error(c, rq, 413, NULL, NULL, "the body is larger than %d bytes",
                             SERVER_BODY_MAX);
        return true;
    }
    return false;
}

/* ---- the handler
 * ----------------------------------------------------------------------- */

static const char *query_arg(void *arg, const char *key)
{
    return MHD_lookup_connection_value(arg, MHD_GET_ARGUMENT_KIND, key);
}

/* Keep a piece of the body; false once the limit is passed (nothing more is kept). */
static bool keep_body(struct request *rq, const char *data, size_t n)
{
    if (rq->too_big || n > SERVER_BODY_MAX - rq->len) {
        rq->too_big = true;
        free(rq->body); /* it will not be read */
        rq->body = NULL;
        rq->len = rq->cap = 0;
        return false;
    }
    if (rq->len + n > rq->cap) {
        size_t want = rq->cap == 0 ? 4096 : rq->cap;
        char *p;

        while (want < rq->len + n)
            want *= 2;
        p = realloc(rq->body, want);
        if (p == NULL) {
            rq->too_big = true; /* cannot keep it: refuse it the same way */
            return false;
        }
        rq->body = p;
        rq->cap = want;
    }
    memcpy(rq->body + rq->len, data, n);
    rq->len += n;
    return true;
}

/* A file of the dashboard (check_headers found it), with the headers that keep the page
 * to this server's own files and API (ui.h). */
static enum MHD_Result serve_ui(struct MHD_Connection *c, struct request *rq,
                                const char *url)
{
    struct ui_file f;
    char *copy;

    if (!ui_find(url, &f))
        return respond_error(c, rq, 404, NULL, NULL, "no such file: %.200s", url);
    copy = malloc(f.len + 1);
    if (copy == NULL)
        return respond(c, rq, 500, NULL, CONTENT_JSON, NULL);
    memcpy(copy, f.data, f.len + 1);
    return respond(c, rq, 200, copy, f.content_type, "Content-Security-Policy", UI_CSP,
                   "X-Content-Type-Options", "nosniff", "Referrer-Policy", "no-referrer",
                   NULL);
}

static enum MHD_Result serve(struct server *srv, struct MHD_Connection *c,
                             struct request *rq, const char *url, const char *method)
{
    struct api_reply rp;
    struct api_request arq;
    char *body = NULL;
    int status = 500;

    if (rq->kind == KIND_HEALTH) {
        scrape_health(srv->scrape, &status, &body);
        return respond(c, rq, status, body, CONTENT_JSON, NULL);
    }
    if (rq->kind == KIND_METRICS) {
        scrape_metrics(srv->scrape, &status, &body);
        return respond(c, rq, status, body, CONTENT_PROMETHEUS, NULL);
    }
    if (rq->kind == KIND_UI)
        return serve_ui(c, rq, url);
    memset(&arq, 0, sizeof arq);
    arq.method = method;
    arq.path = url;
    arq.body = rq->body;
    arq.body_len = rq->len;
    arq.query = query_arg;
    arq.query_arg = c;
    api_handle(srv->api, &arq, &rp);
    snprintf(rq->op, sizeof rq->op, "%s", rp.op);
    return respond(c, rq, rp.status, rp.body, CONTENT_JSON, MHD_HTTP_HEADER_LOCATION,
                   rp.location, MHD_HTTP_HEADER_RETRY_AFTER, rp.retry_after ? "1" : NULL,
                   NULL);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct server *srv = cls;
    struct request *rq = *con_cls;
    enum MHD_Result res = MHD_YES;

    (void)version;
    if (rq == NULL) {
        rq = calloc(1, sizeof *rq);
        if (rq == NULL)
            return MHD_NO; /* libmicrohttpd closes the connection */
        *con_cls = rq;
        atomic_fetch_add(&srv->in_flight, 1);
        rq->t0_ms = clock_now_ms();
        snprintf(rq->method, sizeof rq->method, "%s", method);
        snprintf(rq->path, sizeof rq->path, "%s", url);
        client_address(c, rq->peer, sizeof rq->peer);
        check_headers(srv, c, rq, url, method, &res);
        return res;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;

        *upload_data_size = 0; /* taken (or dropped) */
        if (rq->answered || keep_body(rq, upload_data, n))
            return MHD_YES;
        /* Over the limit (announced so, or a chunked body that grew past it). This
         * libmicrohttpd cannot answer in the middle of a body, so the rest is read and
         * dropped and the 413 comes at its end; a body that goes on far beyond the limit
         * has its connection closed without an answer. */
        rq->dropped += n;
        if (rq->dropped > DROP_MAX) {
            log_warn("%s %s from %s: the body goes on past %d bytes: connection closed",
                     rq->method, rq->path, rq->peer, DROP_MAX + SERVER_BODY_MAX);
            return MHD_NO;
        }
        return MHD_YES;
    }
    if (rq->too_big && !rq->answered)
        return respond_error(c, rq, 413, NULL, NULL, "the body is larger than %d bytes",
                             SERVER_BODY_MAX);
    if (rq->answered)
        return MHD_YES;
    return serve(srv, c, rq, url, method);
}

/* The request is over: its log line, then its memory. */
static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct server *srv = cls;
    struct request *rq = *con_cls;
    int64_t ms;

    (void)c;
    if (rq == NULL)
        return;
    ms = clock_now_ms() - rq->t0_ms;
    if (rq->answered && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK) {
        log_write(LOG_LEVEL_INFO, rq->op[0] != '\0' ? rq->op : NULL,
                  "%s %s %d %lldms from %s", rq->method, rq->path, rq->status,
                  (long long)ms, rq->peer);
        scrape_count_request(srv->scrape, rq->status);
    } else {
        log_write(LOG_LEVEL_INFO, rq->op[0] != '\0' ? rq->op : NULL,
                  "%s %s %d %lldms from %s (not delivered: %s)", rq->method, rq->path,
                  rq->answered ? rq->status : 0, (long long)ms, rq->peer,
                  toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED   ? "idle timeout"
                  : toe == MHD_REQUEST_TERMINATED_CLIENT_ABORT    ? "client closed"
                  : toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN ? "server stopping"
                  : toe == MHD_REQUEST_TERMINATED_READ_ERROR      ? "read error"
                                                                  : "error");
    }
    free(rq->body);
    free(rq);
    *con_cls = NULL;
    atomic_fetch_sub(&srv->in_flight, 1);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n;

    (void)cls;
    vsnprintf(msg, sizeof msg, fmt, ap);
    n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    log_warn("libmicrohttpd: %s", msg);
}

/* ---- start and stop -------------------------------------------------------------------
 */

enum status server_start(const struct settings *s, struct api *api, struct scrape *scrape,
                         struct server **out, struct err *e)
{
    struct addrinfo hints, *ai = NULL;
    struct server *srv = NULL;
    const union MHD_DaemonInfo *info;
    char port[16];
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_ERROR_LOG | MHD_USE_ITC;
    enum status st = ST_OK;
    int rc;

    *out = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(port, sizeof port, "%d", s->port);
    rc = getaddrinfo(s->host, port, &hints, &ai);
    if (rc != 0 || ai == NULL) {
        st = err_set(e, ST_IO, "TMDBQ_HTTP_LISTEN: cannot resolve \"%s\": %s", s->host,
                     gai_strerror(rc));
        goto out;
    }
    srv = calloc(1, sizeof *srv);
    if (srv == NULL) {
        st = err_set(e, ST_NOMEM, "out of memory");
        goto out;
    }
    srv->settings = s;
    srv->api = api;
    srv->scrape = scrape;
    atomic_init(&srv->in_flight, 0);
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* The logger first: libmicrohttpd logs with its own until it has seen it. */
    srv->daemon = MHD_start_daemon(
        flags, (uint16_t)s->port, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER,
        on_mhd_log, NULL, MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)s->max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)IDLE_TIMEOUT_S, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_END);
    if (srv->daemon == NULL) {
        st = err_set(e, ST_IO,
                     "could not listen on %s:%d (TMDBQ_HTTP_LISTEN): address in use, not "
                     "ours, or not allowed",
                     s->host, s->port);
        goto out;
    }
    info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info != NULL ? info->port : s->port;
    *out = srv;
    srv = NULL;
out:
    if (ai != NULL)
        freeaddrinfo(ai);
    free(srv);
    return st;
}

int server_port(const struct server *srv) { return srv->port; }

void server_stop(struct server *srv, int64_t grace_ms)
{
    MHD_socket lfd;
    int64_t deadline = clock_now_ms() + grace_ms;
    int left;

    if (srv == NULL)
        return;
    /* Refuse new connections at once; what is in progress may finish. */
    lfd = MHD_quiesce_daemon(srv->daemon);
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd);
    while ((left = atomic_load(&srv->in_flight)) > 0 && clock_now_ms() < deadline)
        clock_sleep_ms(50);
    if (left > 0)
        log_warn("stopping with %d request(s) still in progress", left);
    MHD_stop_daemon(srv->daemon);
    free(srv);
}
