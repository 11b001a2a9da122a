/*
 * test_tmdb_client: real HTTP exchanges between the tmdb client and a tiny loopback HTTP
 * server written here, which answers canned responses and records every raw request.
 *
 * It checks what goes on the wire (method, path, query, headers, JSON body), what each
 * answer becomes (outcome, status, Retry-After, result_json, message), the delete quirk's
 * confirming GET, keep-alive, and the failure paths (refused, slow, oversize). Needs no
 * PostgreSQL, RabbitMQ or fake TMDB, so it never skips.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "check.h"
#include "tmdb.h"

/* Every secret carries SECRET, so one strstr proves a message leaks none of them. */
#define API_KEY "k3y-SECRET-api"
#define READ_TOKEN "READ-SECRET-token"
#define SESSION "s/e ss+SECRET"
#define SESSION_ESC "s%2Fe%20ss%2BSECRET"
#define ACCESS_TOKEN "v4-SECRET-user-token"
#define JSON_CT "application/json;charset=utf-8"

#define MAX_CANNED 8
#define IO_WAIT_MS 5000

struct canned {
    char *response; /* raw bytes, owned */
    size_t filler;  /* then this many bytes of 'x' (oversize bodies) */
    int delay_ms;   /* wait before answering; ends early when the client hangs up */
};

struct recorded {
    char method[16];
    char target[2048];
    char head[8192]; /* header lines after the request line */
    char body[8192];
    size_t body_len;
};

struct server {
    int lfd;
    int port;
    pthread_t thread;
    bool started;
    struct canned canned[MAX_CANNED];
    size_t ncanned;
    struct recorded req[MAX_CANNED];
    size_t nreq;
    int connections;
};

/* ---- the loopback server ---------------------------------------------------------- */

static bool wait_readable(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};

    return poll(&p, 1, ms) > 0;
}

static bool send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static bool header_get(const struct recorded *rec, const char *name, char *out, size_t n);

/* Read one request into rec; false on EOF, timeout or garbage. */
static bool read_request(int fd, struct recorded *rec)
{
    char buf[32768];
    size_t len = 0, head_len, want = 0;
    char *end, *line_end;
    char cl[32];

    memset(rec, 0, sizeof *rec);
    for (;;) {
        ssize_t n;

        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (end != NULL)
            break;
        if (len >= sizeof buf - 1 || !wait_readable(fd, IO_WAIT_MS))
            return false;
        n = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (n <= 0)
            return false;
        len += (size_t)n;
    }
    head_len = (size_t)(end - buf) + 4;
    line_end = strstr(buf, "\r\n");
    *line_end = '\0';
    if (sscanf(buf, "%15s %2047s", rec->method, rec->target) != 2)
        return false;
    snprintf(rec->head, sizeof rec->head, "%.*s", (int)(end + 2 - (line_end + 2)),
             line_end + 2);
    if (header_get(rec, "Content-Length", cl, sizeof cl))
        want = strtoul(cl, NULL, 10);
    if (want >= sizeof rec->body)
        return false;
    rec->body_len = len - head_len;
    memcpy(rec->body, buf + head_len, rec->body_len);
    while (rec->body_len < want) {
        ssize_t n;

        if (!wait_readable(fd, IO_WAIT_MS))
            return false;
        n = recv(fd, rec->body + rec->body_len, want - rec->body_len, 0);
        if (n <= 0)
            return false;
        rec->body_len += (size_t)n;
    }
    rec->body[rec->body_len] = '\0';
    return true;
}

static void *server_main(void *arg)
{
    struct server *s = arg;
    size_t served = 0;

    while (served < s->ncanned && wait_readable(s->lfd, IO_WAIT_MS)) {
        int fd = accept(s->lfd, NULL, NULL);
        bool keep = true;

        if (fd < 0)
            continue;
        s->connections++;
        while (keep && served < s->ncanned && s->nreq < MAX_CANNED &&
               read_request(fd, &s->req[s->nreq])) {
            const struct canned *cn = &s->canned[served++];
            char fill[65536];
            size_t left = cn->filler;

            s->nreq++;
            if (cn->delay_ms > 0)
                wait_readable(fd, cn->delay_ms);
            keep = send_all(fd, cn->response, strlen(cn->response));
            memset(fill, 'x', sizeof fill);
            while (keep && left > 0) {
                size_t chunk = left < sizeof fill ? left : sizeof fill;

                keep = send_all(fd, fill, chunk);
                left -= chunk;
            }
            if (strstr(cn->response, "Connection: close") != NULL)
                keep = false;
        }
        close(fd);
    }
    return NULL;
}

static void server_init(struct server *s)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    int one = 1;

    memset(s, 0, sizeof *s);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(s->lfd >= 0);
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    CHECK(bind(s->lfd, (struct sockaddr *)&a, sizeof a) == 0);
    CHECK(listen(s->lfd, 8) == 0);
    CHECK(getsockname(s->lfd, (struct sockaddr *)&a, &alen) == 0);
    s->port = ntohs(a.sin_port);
}

/* Queue an answer: status line, JSON content type, Content-Length, extra header lines
 * (each ending in \r\n), body. */
static void server_add(struct server *s, int status, const char *extra, const char *body,
                       int delay_ms)
{
    char *r;
    size_t n;

    CHECK(s->ncanned < MAX_CANNED);
    n = strlen(body) + (extra ? strlen(extra) : 0) + 200;
    r = malloc(n);
    snprintf(r, n,
             "HTTP/1.1 %d X\r\nContent-Type: application/json;charset=utf-8\r\n"
             "Content-Length: %zu\r\n%s\r\n%s",
             status, strlen(body), extra ? extra : "", body);
    s->canned[s->ncanned].response = r;
    s->canned[s->ncanned].delay_ms = delay_ms;
    s->ncanned++;
}

static void server_add_raw(struct server *s, const char *head, size_t filler)
{
    CHECK(s->ncanned < MAX_CANNED);
    s->canned[s->ncanned].response = strdup(head);
    s->canned[s->ncanned].filler = filler;
    s->ncanned++;
}

static void server_start(struct server *s)
{
    CHECK(pthread_create(&s->thread, NULL, server_main, s) == 0);
    s->started = true;
}

static void server_stop(struct server *s)
{
    size_t i;

    if (s->started)
        pthread_join(s->thread, NULL);
    close(s->lfd);
    for (i = 0; i < s->ncanned; i++)
        free(s->canned[i].response);
}

/* ---- helpers ---------------------------------------------------------------------- */

/* Value of header name in rec (trimmed) into out; false when absent. */
static bool header_get(const struct recorded *rec, const char *name, char *out, size_t n)
{
    const char *p = rec->head;
    size_t nl = strlen(name);

    while (*p != '\0') {
        const char *eol = strstr(p, "\r\n");
        size_t ll = eol ? (size_t)(eol - p) : strlen(p);

        if (ll > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;

            while (*v == ' ')
                v++;
            snprintf(out, n, "%.*s", (int)(ll - (size_t)(v - p)), v);
            return true;
        }
        if (eol == NULL)
            break;
        p = eol + 2;
    }
    return false;
}

#define CHECK_HEADER(rec, name, want)                                                    \
    do {                                                                                 \
        char hv_[1024] = "";                                                             \
        CHECK(header_get((rec), (name), hv_, sizeof hv_));                               \
        CHECK_STR_EQ(hv_, (want));                                                       \
    } while (0)

#define CHECK_NO_HEADER(rec, name)                                                       \
    do {                                                                                 \
        char hv_[1024] = "";                                                             \
        if (header_get((rec), (name), hv_, sizeof hv_)) {                                \
            fprintf(stderr, "%s:%d: unexpected header %s: %s\n", __FILE__, __LINE__,     \
                    (name), hv_);                                                        \
            check_failures++;                                                            \
        }                                                                                \
    } while (0)

/* The message and result of every answer are for people and rows: never a secret. */
static void check_no_secret(const struct tmdb_result *r, int line)
{
    if (strstr(r->message, "SECRET") != NULL ||
        (r->result_json != NULL && strstr(r->result_json, "SECRET") != NULL)) {
        fprintf(stderr, "%s:%d: a secret leaked: \"%s\"\n", __FILE__, line, r->message);
        check_failures++;
    }
    if (r->message[0] == '\0') {
        fprintf(stderr, "%s:%d: empty message\n", __FILE__, line);
        check_failures++;
    }
}

static struct tmdb_client *client_make(int port, const char *api_key,
                                       const char *read_token, int64_t timeout_ms)
{
    struct tmdb_config cfg;
    struct tmdb_client *c = NULL;
    struct err e = {0};
    char url[64];

    /* A trailing slash: the client must not produce "//3/list". */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    cfg.base_url = url;
    cfg.api_key = api_key;
    cfg.read_token = read_token;
    cfg.connect_timeout_ms = 2000;
    cfg.timeout_ms = timeout_ms;
    CHECK_EQ_INT(tmdb_client_new(&cfg, &c, &e), ST_OK);
    CHECK(c != NULL);
    return c;
}

static const struct tmdb_creds creds_full = {SESSION, ACCESS_TOKEN};
static const struct tmdb_creds creds_v3 = {SESSION, NULL};

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- what goes on the wire --------------------------------------------------------- */

static void test_create_add_keepalive(void)
{
    struct server s;
    struct tmdb_client *c;
    struct tmdb_result r;

    server_init(&s);
    server_add(
        &s, 201, NULL,
        "{\"success\":true,\"status_code\":1,\"status_message\":\"The item/record was "
        "created successfully.\",\"list_id\":8123}",
        0);
    server_add(
        &s, 403, NULL,
        "{\"success\":false,\"status_code\":8,\"status_message\":\"Duplicate entry: "
        "The data you tried to submit already exists.\"}",
        0);
    server_start(&s);
    c = client_make(s.port, API_KEY, NULL, 5000);

    tmdb_execute(c, OP_CREATE_LIST, 0,
                 "{\"description\":null,\"name\":\"My \\\"list\\\"\",\"public\":false}",
                 &creds_full, &r);
    CHECK_EQ_INT(r.outcome, TMDB_DONE);
    CHECK_EQ_INT(r.http_status, 201);
    CHECK_EQ_INT(r.tmdb_code, 1);
    CHECK_EQ_INT(r.requests, 1);
    CHECK_EQ_INT(r.retry_after_ms, 0);
    CHECK_STR_EQ(r.result_json, "{\"list_id\":8123}");
    CHECK_STR_EQ(r.message, "TMDB created list 8123 (status_code 1)");
    check_no_secret(&r, __LINE__);
    tmdb_result_cleanup(&r);

    tmdb_execute(c, OP_ADD_MOVIE, 7, "{\"movie_id\":550}", &creds_full, &r);
    CHECK_EQ_INT(r.outcome, TMDB_GOAL_HOLDS);
    CHECK_EQ_INT(r.http_status, 403);
    CHECK_EQ_INT(r.tmdb_code, 8);
    CHECK_STR_EQ(r.result_json, "{\"status_code\":8,\"goal_already_held\":true}");
    CHECK_STR_EQ(r.message, "movie 550 is already on TMDB list 7 (status_code 8)");
    check_no_secret(&r, __LINE__);
    tmdb_result_cleanup(&r);

    tmdb_client_free(c);
    server_stop(&s);

    CHECK_EQ_INT(s.nreq, 2);
    CHECK_STR_EQ(s.req[0].method, "POST");
    CHECK_STR_EQ(s.req[0].target, "/3/list?api_key=" API_KEY "&session_id=" SESSION_ESC);
    CHECK_HEADER(&s.req[0], "Content-Type", JSON_CT);
    CHECK_NO_HEADER(&s.req[0], "Authorization");
    /* description is always a string; public does not exist in v3 create. */
    CHECK_STR_EQ(s.req[0].body, "{\"name\":\"My \\\"list\\\"\",\"description\":\"\","
                                "\"language\":\"en\"}");

    CHECK_STR_EQ(s.req[1].method, "POST");
    CHECK_STR_EQ(s.req[1].target,
                 "/3/list/7/add_item?api_key=" API_KEY "&session_id=" SESSION_ESC);
    CHECK_HEADER(&s.req[1], "Content-Type", JSON_CT);
    CHECK_STR_EQ(s.req[1].body, "{\"media_id\":550}");

    /* One handle, reused: both requests on one connection. */
    CHECK_EQ_INT(s.connections, 1);
}

static void test_remove_delete_clear(void)
{
    struct server s;
    struct tmdb_client *c;
    struct tmdb_result r;
    char hv[64];

    server_init(&s);
    /* 21 arrives with HTTP 200 and success false. */
    server_add(
        &s, 200, NULL,
        "{\"success\":false,\"status_code\":21,\"status_message\":\"The item you are "
        "trying to edit cannot be found.\"}",
        0);
    server_add(
        &s, 200, NULL,
        "{\"success\":true,\"status_code\":13,\"status_message\":\"The item/record was "
        "deleted successfully.\"}",
        0);
    server_add(
        &s, 201, NULL,
        "{\"success\":true,\"status_code\":12,\"status_message\":\"The item/record was "
        "updated successfully.\"}",
        0);
    server_start(&s);
    c = client_make(s.port, API_KEY, NULL, 5000);

    tmdb_execute(c, OP_REMOVE_MOVIE, 7, "{\"movie_id\":550}", &creds_v3, &r);
    CHECK_EQ_INT(r.outcome, TMDB_GOAL_HOLDS);
    CHECK_EQ_INT(r.http_status, 200);
    CHECK_EQ_INT(r.tmdb_code, 21);
    CHECK_STR_EQ(r.message, "movie 550 is not on TMDB list 7 (status_code 21)");
    CHECK_STR_EQ(r.result_json, "{\"status_code\":21,\"goal_already_held\":true}");
    check_no_secret(&r, __LINE__);
    tmdb_result_cleanup(&r);

    tmdb_execute(c, OP_DELETE_LIST, 7, "{}", &creds_v3, &r);
    CHECK_EQ_INT(r.outcome, TMDB_DONE);
    CHECK_EQ_INT(r.requests, 1);
    CHECK_STR_EQ(r.result_json, "{\"status_code\":13}");
    check_no_secret(&r, __LINE__);
    tmdb_result_cleanup(&r);

    tmdb_execute(c, OP_CLEAR_LIST, 7, NULL, &creds_v3, &r);
    CHECK_EQ_INT(r.outcome, TMDB_DONE);
    CHECK_EQ_INT(r.http_status, 201);
    CHECK_STR_EQ(r.result_json, "{\"status_code\":12}");
    check_no_secret(&r, __LINE__);
    tmdb_result_cleanup(&r);

    tmdb_client_free(c);
    server_stop(&s);

    CHECK_EQ_INT(s.nreq, 3);
    CHECK_STR_EQ(s.req[0].method, "POST");
    CHECK_STR_EQ(s.req[0].target,
                 "/3/list/7/remove_item?api_key=" API_KEY "&session_id=" SESSION_ESC);
    CHECK_HEADER(&s.req[0], "Content-Type", JSON_CT);
    CHECK_STR_EQ(s.req[0].body, "{\"media_id\":550}");

    CHECK_STR_EQ(s.req[1].method, "DELETE");
    CHECK_STR_EQ(s.req[1].target,
                 "/3/list/7?api_key=" API_KEY "&session_id=" SESSION_ESC);
    CHECK_NO_HEADER(&s.req[1], "Content-Type");
    CHECK_EQ_INT(s.req[1].body_len, 0);

    /* confirm in the query, no body, and above all not labelled form-encoded. */
    CHECK_STR_EQ(s.req[2].method, "POST");
    CHECK_STR_EQ(s.req[2].target, "/3/list/7/clear?api_key=" API_KEY
                                  "&session_id=" SESSION_ESC "&confirm=true");
    CHECK_NO_HEADER(&s.req[2], "Content-Type");
    CHECK(header_get(&s.req[2], "Content-Length", hv, sizeof hv));
    CHECK_STR_EQ(hv, "0");
    CHECK_EQ_INT(s.req[2].body_len, 0);
    CHECK_EQ_INT(s.connections, 1);
}

static void test_update_list_v4(void)
{
    struct server s;
    struct tmdb_client *c;
    struct tmdb_result r;
    json_t *body;
    json_error_t jerr;

    server_init(&s);
    server_add(
        &s, 201, NULL,
        "{\"success\":true,\"status_code\":12,\"status_message\":\"The item/record was "
        "updated successfully.\"}",
        0);
    server_add(
        &s, 401, NULL,
        "{\"success\":false,\"status_code\":36,\"status_message\":\"This token hasn't "
        "been granted write permission by the user.\"}",
        0);
    server_start(&s);
    c = client_make(s.port, API_KEY, NULL, 5000);

    tmdb_execute(c, OP_UPDATE_LIST, 7,
                 "{\"description\":\"new text\",\"name\":\"Renamed\",\"public\":false}",
                 &creds_full, &r);
    CHECK_EQ_INT(r.outcome, TMDB_DONE);
    CHECK_EQ_INT(r.http_status, 201);
    CHECK_STR_EQ(r.result_json, "{\"status_code\":12}");
    check_no_secret(&r, __LINE__);
    tmdb_result_cleanup(&r);

    tmdb_execute(c, OP_UPDATE_LIST, 7, "{\"public\":true}", &creds_full, &r);
    CHECK_EQ_INT(r.outcome, TMDB_PERMANENT);
    CHECK_CONTAINS(r.message, "no write permission (status_code 36)");
    CHECK(r.result_json == NULL);
    check_no_secret(&r, __LINE__);
    tmdb_result_cleanup(&r);

    tmdb_client_free(c);
    server_stop(&s);

    CHECK_EQ_INT(s.nreq, 2);
    CHECK_STR_EQ(s.req[0].method, "PUT");
    /* v4 write: the user's token as Bearer, neither api_key nor session_id. */
    CHECK_STR_EQ(s.req[0].target, "/4/list/7");
    CHECK_HEADER(&s.req[0], "Authorization", "Bearer " ACCESS_TOKEN);
    CHECK_HEADER(&s.req[0], "Content-Type", JSON_CT);
    body = json_loads(s.req[0].body, 0, &jerr);
    CHECK(json_is_object(body));
    CHECK_EQ_INT(json_object_size(body), 3);
    CHECK_STR_EQ(json_string_value(json_object_get(body, "name")), "Renamed");
    CHECK_STR_EQ(json_string_value(json_object_get(body, "description")), "new text");
    CHECK(json_is_false(json_object_get(body, "public")));
    json_decref(body);
    CHECK_STR_EQ(s.req[1].body, "{\"public\":true}");
}

static void test_read_token_bearer(void)
{
    struct server s;
    struct tmdb_client *c;
    struct tmdb_result r;

    server_init(&s);
    server_add(&s, 201, NULL,
               "{\"success\":true,\"status_code\":12,\"status_message\":\"ok\"}", 0);
    server_add(
        &s, 404, NULL,
        "{\"success\":false,\"status_code\":34,\"status_message\":\"The resource you "
        "requested could not be found.\"}",
        0);
    server_add(
        &s, 401, NULL,
        "{\"success\":false,\"status_code\":7,\"status_message\":\"Invalid API key: "
        "You must be granted a valid key.\"}",
        0);
    server_start(&s);
    c = client_make(s.port, NULL, READ_TOKEN, 5000);

    tmdb_execute(c, OP_ADD_MOVIE, 7, "{\"movie_id\":603}", &creds_v3, &r);
    CHECK_EQ_INT(r.outcome, TMDB_DONE);
    check_no_secret(&r, __LINE__);
    tmdb_result_cleanup(&r);

    /* The confirming GET of the quirk is not involved: a plain 404/34 on delete. */
    tmdb_execute(c, OP_DELETE_LIST, 9, "{}", &creds_v3, &r);
    CHECK_EQ_INT(r.outcome, TMDB_GOAL_HOLDS);
    CHECK_EQ_INT(r.requests, 1);
    CHECK_STR_EQ(r.message, "TMDB list 9 is already gone (status_code 34)");
    CHECK_STR_EQ(r.result_json, "{\"status_code\":34,\"goal_already_held\":true}");
    check_no_secret(&r, __LINE__);
    tmdb_result_cleanup(&r);

    tmdb_execute(c, OP_CLEAR_LIST, 9, "{}", &creds_v3, &r);
    CHECK_EQ_INT(r.outcome, TMDB_DEPLOYMENT);
    CHECK_STR_EQ(r.message,
                 "TMDB rejected the application's read-access token (status_code 7)");
    check_no_secret(&r, __LINE__);
    tmdb_result_cleanup(&r);

    tmdb_client_free(c);
    server_stop(&s);

    CHECK_EQ_INT(s.nreq, 3);
    CHECK_STR_EQ(s.req[0].target, "/3/list/7/add_item?session_id=" SESSION_ESC);
    CHECK_HEADER(&s.req[0], "Authorization", "Bearer " READ_TOKEN);
    CHECK_STR_EQ(s.req[0].body, "{\"media_id\":603}");
    CHECK_STR_EQ(s.req[1].target, "/3/list/9?session_id=" SESSION_ESC);
    CHECK_HEADER(&s.req[1], "Authorization", "Bearer " READ_TOKEN);
}

/* ---- answers ------------------------------------------------------------------------
 */

static void test_retry_after(void)
{
    struct server s;
    struct tmdb_client *c;
    struct tmdb_result r;
    char extra[128], date[64];
    struct tm tm;
    time_t t = time(NULL) + 5;
    static const char *rate = "{\"success\":false,\"status_code\":25,\"status_message\":"
                              "\"Your request count (#) is "
                              "over the allowed limit of (40).\"}";

    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    snprintf(extra, sizeof extra, "Retry-After: %s\r\n", date);

    server_init(&s);
    server_add(&s, 429, "Retry-After: 2\r\n", rate, 0);
    server_add(&s, 429, "retry-after: 0\r\n", rate, 0);
    server_add(&s, 429, extra, rate, 0);
    server_add(&s, 429, NULL, rate, 0);
    server_start(&s);
    c = client_make(s.port, API_KEY, NULL, 5000);

    tmdb_execute(c, OP_ADD_MOVIE, 7, "{\"movie_id\":550}", &creds_v3, &r);
    CHECK_EQ_INT(r.outcome, TMDB_RATE_LIMITED);
    CHECK_EQ_INT(r.http_status, 429);
    CHECK_EQ_INT(r.tmdb_code, 25);
    CHECK_EQ_INT(r.retry_after_ms, 2000);
    CHECK_STR_EQ(r.message,
                 "TMDB rate limit (HTTP 429, status_code 25), retry after 2 s");
    CHECK(r.result_json == NULL);
    check_no_secret(&r, __LINE__);
    tmdb_result_cleanup(&r);

    /* TMDB has sent 0: wait at least a second. */
    tmdb_execute(c, OP_ADD_MOVIE, 7, "{\"movie_id\":550}", &creds_v3, &r);
    CHECK_EQ_INT(r.outcome, TMDB_RATE_LIMITED);
    CHECK_EQ_INT(r.retry_after_ms, 1000);
    CHECK_STR_EQ(r.message,
                 "TMDB rate limit (HTTP 429, status_code 25), retry after 1 s");
    tmdb_result_cleanup(&r);

    /* An HTTP-date five seconds ahead. */
    tmdb_execute(c, OP_ADD_MOVIE, 7, "{\"movie_id\":550}", &creds_v3, &r);
    CHECK_EQ_INT(r.outcome, TMDB_RATE_LIMITED);
    CHECK(r.retry_after_ms >= 3000 && r.retry_after_ms <= 6000);
    tmdb_result_cleanup(&r);

    /* No header: a 429 still means wait, at least a second. */
    tmdb_execute(c, OP_ADD_MOVIE, 7, "{\"movie_id\":550}", &creds_v3, &r);
    CHECK_EQ_INT(r.outcome, TMDB_RATE_LIMITED);
    CHECK_EQ_INT(r.retry_after_ms, 1000);
    CHECK_STR_EQ(r.message,
                 "TMDB rate limit (HTTP 429, status_code 25), retry after 1 s");
    tmdb_result_cleanup(&r);

    tmdb_client_free(c);
    server_stop(&s);
    CHECK_EQ_INT(s.nreq, 4);
}

/* The pacer sees every request before it goes and every answer after: a 429 as limited
 * with its Retry-After; a request it holds back is never sent. */
struct pacer_log {
    int before, after, limited;
    int64_t retry_after_ms;
    bool allow;
    long last_status;
    int64_t last_us;
};

static bool pacer_before(void *arg)
{
    struct pacer_log *p = arg;

    p->before++;
    return p->allow;
}

static void pacer_after(void *arg, const struct tmdb_sent *sent)
{
    struct pacer_log *p = arg;

    p->after++;
    p->last_status = sent->http_status;
    p->last_us = sent->duration_us;
    if (sent->limited) {
        p->limited++;
        p->retry_after_ms = sent->retry_after_ms;
    }
}

static void test_pacer(void)
{
    struct server s;
    struct tmdb_client *c;
    struct tmdb_result r;
    struct pacer_log log = {0, 0, 0, 0, true, 0, -1};
    struct tmdb_pacer pacer = {pacer_before, pacer_after, &log};

    server_init(&s);
    server_add(&s, 429, "Retry-After: 3\r\n",
               "{\"success\":false,\"status_code\":25,\"status_message\":\"x\"}", 0);
    server_add(&s, 201, NULL,
               "{\"success\":true,\"status_code\":12,\"status_message\":\"ok\"}", 0);
    server_start(&s);
    c = client_make(s.port, API_KEY, NULL, 5000);
    tmdb_client_set_pacer(c, &pacer);

    tmdb_execute(c, OP_ADD_MOVIE, 7, "{\"movie_id\":550}", &creds_v3, &r);
    CHECK_EQ_INT(r.outcome, TMDB_RATE_LIMITED);
    CHECK_EQ_INT(log.before, 1);
    CHECK_EQ_INT(log.after, 1);
    CHECK_EQ_INT(log.limited, 1);
    CHECK_EQ_INT(log.retry_after_ms, 3000);
    CHECK_EQ_INT(log.last_status, 429);
    CHECK(log.last_us >= 0);
    tmdb_result_cleanup(&r);

    /* Held back: nothing reaches the server, the outcome says so. */
    log.allow = false;
    tmdb_execute(c, OP_ADD_MOVIE, 7, "{\"movie_id\":550}", &creds_v3, &r);
    CHECK_EQ_INT(r.outcome, TMDB_NOT_SENT);
    CHECK_EQ_INT(r.requests, 0);
    CHECK_EQ_INT(log.before, 2);
    CHECK_EQ_INT(log.after, 1);
    tmdb_result_cleanup(&r);

    log.allow = true;
    tmdb_execute(c, OP_ADD_MOVIE, 7, "{\"movie_id\":550}", &creds_v3, &r);
    CHECK_EQ_INT(r.outcome, TMDB_DONE);
    CHECK_EQ_INT(log.after, 2);
    CHECK_EQ_INT(log.last_status, 201);
    CHECK_EQ_INT(log.limited, 1);
    tmdb_result_cleanup(&r);

    tmdb_client_free(c);
    server_stop(&s);
    CHECK_EQ_INT(s.nreq, 2);
}

static void test_delete_quirk(void)
{
    struct server s;
    struct tmdb_client *c;
    struct tmdb_result r;
    static const char *quirk = "{\"success\":false,\"status_code\":11,\"status_message\":"
                               "\"Internal error: Something "
                               "went wrong, contact TMDb.\"}";

    server_init(&s);
    server_add(&s, 500, NULL, quirk, 0);
    server_add(
        &s, 404, NULL,
        "{\"success\":false,\"status_code\":34,\"status_message\":\"The resource you "
        "requested could not be found.\"}",
        0);
    /* Second round: the list is still there, so the DELETE must be retried. */
    server_add(&s, 500, NULL, quirk, 0);
    server_add(&s, 200, NULL,
               "{\"id\":\"7\",\"name\":\"x\",\"items\":[],\"item_count\":0}", 0);
    server_start(&s);
    c = client_make(s.port, API_KEY, NULL, 5000);

    tmdb_execute(c, OP_DELETE_LIST, 7, "{}", &creds_v3, &r);
    CHECK_EQ_INT(r.outcome, TMDB_GOAL_HOLDS);
    CHECK_EQ_INT(r.requests, 2);
    CHECK_EQ_INT(r.http_status, 500);
    CHECK_EQ_INT(r.tmdb_code, 11);
    CHECK_STR_EQ(r.result_json, "{\"status_code\":11,\"confirmed_deleted\":true}");
    CHECK_CONTAINS(r.message, "a GET confirmed the list is gone");
    check_no_secret(&r, __LINE__);
    tmdb_result_cleanup(&r);

    tmdb_execute(c, OP_DELETE_LIST, 7, "{}", &creds_v3, &r);
    CHECK_EQ_INT(r.outcome, TMDB_TRANSIENT);
    CHECK_EQ_INT(r.requests, 2);
    CHECK(r.result_json == NULL);
    CHECK_CONTAINS(r.message, "the confirming GET answered HTTP 200");
    check_no_secret(&r, __LINE__);
    tmdb_result_cleanup(&r);

    tmdb_client_free(c);
    server_stop(&s);

    CHECK_EQ_INT(s.nreq, 4);
    CHECK_STR_EQ(s.req[0].method, "DELETE");
    CHECK_STR_EQ(s.req[0].target,
                 "/3/list/7?api_key=" API_KEY "&session_id=" SESSION_ESC);
    CHECK_STR_EQ(s.req[1].method, "GET");
    CHECK_STR_EQ(s.req[1].target,
                 "/3/list/7?api_key=" API_KEY "&session_id=" SESSION_ESC);
    CHECK_NO_HEADER(&s.req[1], "Content-Type");
    CHECK_EQ_INT(s.req[1].body_len, 0);
    CHECK_STR_EQ(s.req[2].method, "DELETE");
    CHECK_STR_EQ(s.req[3].method, "GET");
}

static void test_error_answers(void)
{
    struct server s;
    struct tmdb_client *c;
    struct tmdb_result r;

    server_init(&s);
    server_add(
        &s, 401, NULL,
        "{\"success\":false,\"status_code\":7,\"status_message\":\"Invalid API key: "
        "You must be granted a valid key.\"}",
        0);
    server_add(&s, 401, NULL,
               "{\"success\":false,\"status_code\":3,\"status_message\":\"Authentication "
               "failed: You do not have permissions to access the service.\"}",
               0);
    server_add(
        &s, 404, NULL,
        "{\"success\":false,\"status_code\":34,\"status_message\":\"The resource you "
        "requested could not be found.\"}",
        0);
    server_add(
        &s, 503, NULL,
        "{\"success\":false,\"status_code\":9,\"status_message\":\"Service offline: "
        "This service is temporarily offline, try again later.\"}",
        0);
    /* Another body shape entirely. */
    server_add(&s, 422, NULL, "{\"errors\":[\"name is missing\"]}", 0);
    /* Not JSON at all, from a proxy. */
    server_add(&s, 502, NULL, "<html><body>Bad Gateway</body></html>", 0);
    /* TMDB's text echoing credentials must not reach the message. */
    server_add(
        &s, 400, NULL,
        "{\"success\":false,\"status_code\":5,\"status_message\":\"Invalid parameters: "
        "session s/e ss+SECRET, key k3y-SECRET-api\\nnext line\"}",
        0);
    /* A 2xx that says it failed, with a code the table does not name. */
    server_add(&s, 200, NULL,
               "{\"success\":false,\"status_code\":40,\"status_message\":\"Nothing to "
               "update.\"}",
               0);
    server_start(&s);
    c = client_make(s.port, API_KEY, NULL, 5000);

    tmdb_execute(c, OP_ADD_MOVIE, 7, "{\"movie_id\":550}", &creds_v3, &r);
    CHECK_EQ_INT(r.outcome, TMDB_DEPLOYMENT);
    CHECK_STR_EQ(r.message, "TMDB rejected the application's API key (status_code 7)");
    check_no_secret(&r, __LINE__);
    tmdb_result_cleanup(&r);

    tmdb_execute(c, OP_ADD_MOVIE, 7, "{\"movie_id\":550}", &creds_v3, &r);
    CHECK_EQ_INT(r.outcome, TMDB_PERMANENT);
    CHECK_STR_EQ(r.message, "TMDB rejected the session of this user (status_code 3)");
    CHECK(r.credentials);
    check_no_secret(&r, __LINE__);
    tmdb_result_cleanup(&r);

    tmdb_execute(c, OP_ADD_MOVIE, 7, "{\"movie_id\":550}", &creds_v3, &r);
    CHECK_EQ_INT(r.outcome, TMDB_PERMANENT);
    CHECK_STR_EQ(r.message, "TMDB list 7 not found (status_code 34)");
    check_no_secret(&r, __LINE__);
    tmdb_result_cleanup(&r);

    tmdb_execute(c, OP_ADD_MOVIE, 7, "{\"movie_id\":550}", &creds_v3, &r);
    CHECK_EQ_INT(r.outcome, TMDB_TRANSIENT);
    CHECK_STR_EQ(r.message, "TMDB unavailable: HTTP 503 (status_code 9)");
    check_no_secret(&r, __LINE__);
    tmdb_result_cleanup(&r);

    tmdb_execute(c, OP_CREATE_LIST, 0, "{\"name\":\"x\"}", &creds_v3, &r);
    CHECK_EQ_INT(r.outcome, TMDB_PERMANENT);
    CHECK_EQ_INT(r.http_status, 422);
    CHECK_EQ_INT(r.tmdb_code, 0);
    CHECK_STR_EQ(r.message, "TMDB refused create_list: HTTP 422");
    check_no_secret(&r, __LINE__);
    tmdb_result_cleanup(&r);

    tmdb_execute(c, OP_ADD_MOVIE, 7, "{\"movie_id\":550}", &creds_v3, &r);
    CHECK_EQ_INT(r.outcome, TMDB_TRANSIENT);
    CHECK_EQ_INT(r.http_status, 502);
    CHECK_STR_EQ(r.message, "TMDB unavailable: HTTP 502");
    check_no_secret(&r, __LINE__);
    tmdb_result_cleanup(&r);

    tmdb_execute(c, OP_ADD_MOVIE, 7, "{\"movie_id\":550}", &creds_v3, &r);
    CHECK_EQ_INT(r.outcome, TMDB_PERMANENT);
    CHECK_EQ_INT(r.tmdb_code, 5);
    CHECK_CONTAINS(r.message, "TMDB refused add_movie: HTTP 400 (status_code 5: Invalid");
    CHECK(strchr(r.message, '\n') == NULL);
    check_no_secret(&r, __LINE__);
    tmdb_result_cleanup(&r);

    tmdb_execute(c, OP_UPDATE_LIST, 7, "{\"name\":\"y\"}", &creds_full, &r);
    CHECK_EQ_INT(r.outcome, TMDB_PERMANENT);
    CHECK_CONTAINS(r.message, "TMDB answered HTTP 200 but did not apply update_list");
    check_no_secret(&r, __LINE__);
    tmdb_result_cleanup(&r);

    tmdb_client_free(c);
    server_stop(&s);
    CHECK_EQ_INT(s.nreq, 8);
}

/* Issue 15, defect 1: a 2xx that is not TMDB's answer (a proxy's or captive portal's
 * page, truncated JSON, an empty 204, JSON without TMDB's fields) never counts as done:
 * it is a deployment fault (the operation waits, no retry spent), its message says what
 * came back and never the body itself, and nothing is kept as a result. */
static void check_not_tmdbs(struct tmdb_client *c, enum op_type type, const char *data,
                            long http, const char *why, int line)
{
    struct tmdb_result r;
    char want[160];

    tmdb_execute(c, type, 7, data, &creds_full, &r);
    snprintf(want, sizeof want, "not TMDB's answer: HTTP %ld to %s with %s (", http,
             op_type_name(type), why);
    if (r.outcome != TMDB_DEPLOYMENT || strstr(r.message, want) == NULL ||
        r.result_json != NULL || r.http_status != http) {
        fprintf(
            stderr,
            "%s:%d: %s: outcome %d (want %d), HTTP %ld, message \"%s\" (want \"%s\"), "
            "result %s\n",
            __FILE__, line, op_type_name(type), (int)r.outcome, (int)TMDB_DEPLOYMENT,
            r.http_status, r.message, want, r.result_json ? r.result_json : "none");
        check_failures++;
    }
    CHECK_CONTAINS(r.message, "check TMDB_API_URL and any proxy in between");
    CHECK_EQ_INT(r.retry_after_ms, 0);
    CHECK(!r.credentials);
    check_no_secret(&r, line);
    tmdb_result_cleanup(&r);
}

static void test_not_tmdbs_answer(void)
{
    struct server s;
    struct tmdb_client *c;
    struct tmdb_result r;

    server_init(&s);
    /* A captive portal's page; it even echoes the query (and so the API key). */
    server_add_raw(&s,
                   "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                   "Content-Length: 66\r\n\r\n"
                   "<html><body>Sign in to Wi-Fi ?api_key=" API_KEY "</body></html>",
                   0);
    /* Truncated JSON. */
    server_add(&s, 201, NULL, "{\"success\":true,\"status_code\":1,\"list_id\":81", 0);
    /* An empty 204 from a proxy. */
    server_add_raw(&s, "HTTP/1.1 204 No Content\r\n\r\n", 0);
    /* JSON, but not TMDB's. */
    server_add(&s, 200, NULL, "{\"ok\":true}", 0);
    server_add(&s, 200, NULL, "[12]", 0);
    server_add(&s, 201, NULL, "{\"success\":true,\"status_code\":99}", 0);
    /* TMDB's shape without the new list's id. */
    server_add(&s, 201, NULL,
               "{\"success\":true,\"status_code\":1,\"status_message\":\"The item/record "
               "was created successfully.\",\"list_id\":null}",
               0);
    server_add(&s, 201, NULL, "{\"success\":true,\"status_code\":1,\"list_id\":\"\"}", 0);
    server_start(&s);
    c = client_make(s.port, API_KEY, NULL, 5000);

    check_not_tmdbs(c, OP_ADD_MOVIE, "{\"movie_id\":550}", 200, "a body that is not JSON",
                    __LINE__);
    check_not_tmdbs(c, OP_CREATE_LIST, "{\"name\":\"n\"}", 201, "a body that is not JSON",
                    __LINE__);
    check_not_tmdbs(c, OP_DELETE_LIST, "{}", 204, "an empty body", __LINE__);
    check_not_tmdbs(c, OP_REMOVE_MOVIE, "{\"movie_id\":550}", 200,
                    "JSON without a TMDB status_code", __LINE__);
    check_not_tmdbs(c, OP_CLEAR_LIST, "{}", 200, "JSON that is not an object", __LINE__);
    check_not_tmdbs(c, OP_UPDATE_LIST, "{\"name\":\"n\"}", 201,
                    "status_code 99, which is not a success", __LINE__);
    check_not_tmdbs(c, OP_CREATE_LIST, "{\"name\":\"n\"}", 201,
                    "no list_id for the new list", __LINE__);
    check_not_tmdbs(c, OP_CREATE_LIST, "{\"name\":\"n\"}", 201,
                    "no list_id for the new list", __LINE__);
    tmdb_client_free(c);
    server_stop(&s);
    CHECK_EQ_INT(s.nreq, 8);

    /* What TMDB documents still succeeds: success may be missing (the published schema
     * does not require it), the delete code may be 12 or 13, an old list id is hex. */
    server_init(&s);
    server_add(&s, 201, NULL,
               "{\"status_code\":12,\"status_message\":\"The item/record was updated "
               "successfully.\"}",
               0);
    server_add(&s, 200, NULL, "{\"success\":true,\"status_code\":12}", 0);
    server_add(
        &s, 201, NULL,
        "{\"success\":true,\"status_code\":1,\"list_id\":\"509ec17b19c2950a0600050d\"}",
        0);
    server_add(
        &s, 200, NULL,
        "{\"success\":true,\"status_code\":13,\"status_message\":\"The item/record "
        "was deleted successfully.\"}",
        0);
    server_start(&s);
    c = client_make(s.port, API_KEY, NULL, 5000);

    tmdb_execute(c, OP_ADD_MOVIE, 7, "{\"movie_id\":550}", &creds_v3, &r);
    CHECK_EQ_INT(r.outcome, TMDB_DONE);
    CHECK_STR_EQ(r.result_json, "{\"status_code\":12}");
    tmdb_result_cleanup(&r);
    tmdb_execute(c, OP_DELETE_LIST, 7, "{}", &creds_v3, &r);
    CHECK_EQ_INT(r.outcome, TMDB_DONE);
    tmdb_result_cleanup(&r);
    tmdb_execute(c, OP_CREATE_LIST, 0, "{\"name\":\"n\"}", &creds_v3, &r);
    CHECK_EQ_INT(r.outcome, TMDB_DONE);
    CHECK_STR_EQ(r.result_json, "{\"list_id\":\"509ec17b19c2950a0600050d\"}");
    CHECK_STR_EQ(r.message, "TMDB created list 509ec17b19c2950a0600050d (status_code 1)");
    tmdb_result_cleanup(&r);
    tmdb_execute(c, OP_REMOVE_MOVIE, 7, "{\"movie_id\":550}", &creds_v3, &r);
    CHECK_EQ_INT(r.outcome, TMDB_DONE);
    tmdb_result_cleanup(&r);
    tmdb_client_free(c);
    server_stop(&s);
    CHECK_EQ_INT(s.nreq, 4);
}

/* ---- failures before or around the exchange -----------------------------------------
 */

static void test_refused_before_sending(void)
{
    struct tmdb_client *c;
    struct tmdb_result r;
    struct tmdb_config cfg = {"http://127.0.0.1:9", NULL, NULL, 1000, 1000};
    struct err e = {0};

    CHECK_EQ_INT(tmdb_client_new(&cfg, &c, &e), ST_INVALID);
    CHECK(c == NULL);
    cfg.base_url = "ftp://127.0.0.1/";
    cfg.api_key = API_KEY;
    CHECK_EQ_INT(tmdb_client_new(&cfg, &c, &e), ST_INVALID);
    CHECK(strstr(e.msg, "SECRET") == NULL);

    /* Nothing listens on port 9 of loopback here; the checks below never connect. */
    cfg.base_url = "http://127.0.0.1:9";
    CHECK_EQ_INT(tmdb_client_new(&cfg, &c, &e), ST_OK);

    tmdb_execute(c, OP_UPDATE_LIST, 7, "{\"name\":\"x\"}", &creds_v3, &r);
    CHECK_EQ_INT(r.outcome, TMDB_PERMANENT);
    CHECK_EQ_INT(r.requests, 0);
    CHECK_EQ_INT(r.http_status, 0);
    CHECK_STR_EQ(r.message,
                 "no TMDB v4 access token for this user: update_list needs one "
                 "(tmdbq session set --access-token)");
    tmdb_result_cleanup(&r);

    tmdb_execute(c, OP_ADD_MOVIE, 7, "{\"movie_id\":550}", NULL, &r);
    CHECK_EQ_INT(r.outcome, TMDB_PERMANENT);
    CHECK_EQ_INT(r.requests, 0);
    CHECK_CONTAINS(r.message, "no TMDB session for this user");
    tmdb_result_cleanup(&r);

    tmdb_execute(c, OP_ADD_MOVIE, 7, "{\"movie_id\":\"550\"}", &creds_v3, &r);
    CHECK_EQ_INT(r.outcome, TMDB_PERMANENT);
    CHECK_EQ_INT(r.requests, 0);
    CHECK_CONTAINS(r.message, "\"movie_id\" must be a positive integer");
    tmdb_result_cleanup(&r);

    tmdb_execute(c, OP_CREATE_LIST, 0, "{\"description\":\"d\"}", &creds_v3, &r);
    CHECK_EQ_INT(r.outcome, TMDB_PERMANENT);
    CHECK_EQ_INT(r.requests, 0);
    tmdb_result_cleanup(&r);

    tmdb_execute(c, OP_UPDATE_LIST, 7, "{\"public\":\"yes\"}", &creds_full, &r);
    CHECK_EQ_INT(r.outcome, TMDB_PERMANENT);
    CHECK_EQ_INT(r.requests, 0);
    tmdb_result_cleanup(&r);

    tmdb_execute(c, OP_DELETE_LIST, 0, "{}", &creds_v3, &r);
    CHECK_EQ_INT(r.outcome, TMDB_PERMANENT);
    CHECK_EQ_INT(r.requests, 0);
    tmdb_result_cleanup(&r);

    tmdb_client_free(c);
}

static void test_connection_refused(void)
{
    struct server s;
    struct tmdb_client *c;
    struct tmdb_result r;
    char want[96];
    int port;
    int64_t t0;

    /* A port that was just free and now has nothing listening. */
    server_init(&s);
    port = s.port;
    server_stop(&s);

    c = client_make(port, API_KEY, NULL, 5000);
    t0 = now_ms();
    tmdb_execute(c, OP_ADD_MOVIE, 7, "{\"movie_id\":550}", &creds_v3, &r);
    CHECK(now_ms() - t0 < 1500);
    CHECK_EQ_INT(r.outcome, TMDB_TRANSIENT);
    CHECK_EQ_INT(r.http_status, 0);
    CHECK_EQ_INT(r.requests, 1);
    snprintf(want, sizeof want, "could not reach TMDB at 127.0.0.1:%d: ", port);
    CHECK_CONTAINS(r.message, want);
    CHECK(r.result_json == NULL);
    check_no_secret(&r, __LINE__);
    tmdb_result_cleanup(&r);
    tmdb_client_free(c);
}

static void test_slow_server(void)
{
    struct server s;
    struct tmdb_client *c;
    struct tmdb_result r;
    int64_t t0, dt;

    server_init(&s);
    server_add(&s, 201, NULL, "{\"success\":true,\"status_code\":12}", 3000);
    server_start(&s);
    c = client_make(s.port, API_KEY, NULL, 300);

    t0 = now_ms();
    tmdb_execute(c, OP_ADD_MOVIE, 7, "{\"movie_id\":550}", &creds_v3, &r);
    dt = now_ms() - t0;
    CHECK(dt >= 250 && dt < 2000);
    CHECK_EQ_INT(r.outcome, TMDB_TRANSIENT);
    CHECK_EQ_INT(r.http_status, 0);
    CHECK_CONTAINS(r.message, "could not reach TMDB at 127.0.0.1:");
    CHECK_CONTAINS(r.message, "timed out");
    check_no_secret(&r, __LINE__);
    tmdb_result_cleanup(&r);

    tmdb_client_free(c);
    server_stop(&s);
}

static void test_oversize(void)
{
    struct server s;
    struct tmdb_client *c;
    struct tmdb_result r;
    size_t big = 2u * 1024 * 1024;
    char head[256];

    /* Announced: refused from the Content-Length. */
    snprintf(head, sizeof head,
             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
             "%zu\r\n\r\n",
             big);
    server_init(&s);
    server_add_raw(&s, head, big);
    server_start(&s);
    c = client_make(s.port, API_KEY, NULL, 5000);
    tmdb_execute(c, OP_ADD_MOVIE, 7, "{\"movie_id\":550}", &creds_v3, &r);
    CHECK_EQ_INT(r.outcome, TMDB_TRANSIENT);
    CHECK_EQ_INT(r.http_status, 0);
    CHECK_CONTAINS(r.message, "TMDB answer too large");
    check_no_secret(&r, __LINE__);
    tmdb_result_cleanup(&r);
    tmdb_client_free(c);
    server_stop(&s);

    /* Unannounced (read until close): cut at the cap by the write callback. */
    server_init(&s);
    server_add_raw(
        &s,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
        "\r\n",
        big);
    server_start(&s);
    c = client_make(s.port, API_KEY, NULL, 5000);
    tmdb_execute(c, OP_ADD_MOVIE, 7, "{\"movie_id\":550}", &creds_v3, &r);
    CHECK_EQ_INT(r.outcome, TMDB_TRANSIENT);
    CHECK_EQ_INT(r.http_status, 0);
    CHECK_CONTAINS(r.message, "TMDB answer too large");
    check_no_secret(&r, __LINE__);
    tmdb_result_cleanup(&r);
    tmdb_client_free(c);
    server_stop(&s);
}

int main(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "curl_global_init failed\n");
        return 1;
    }
    test_create_add_keepalive();
    test_remove_delete_clear();
    test_update_list_v4();
    test_read_token_bearer();
    test_retry_after();
    test_pacer();
    test_delete_quirk();
    test_error_answers();
    test_not_tmdbs_answer();
    test_refused_before_sending();
    test_connection_refused();
    test_slow_server();
    test_oversize();
    curl_global_cleanup();
    return check_exit();
}
