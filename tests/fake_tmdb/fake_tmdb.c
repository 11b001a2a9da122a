/*
 * fake-tmdb: a stateful fake of TMDB's list API for tmdbq's integration tests and
 * benchmark. One thread, one poll() loop over non-blocking sockets on 127.0.0.1 (or the
 * IPv4 address given by --listen, for a compose stack), HTTP/1.1
 * keep-alive; every request is answered from memory, so the fake is never the bottleneck.
 * The latency fault holds a connection's response in its buffer until a deadline instead
 * of sleeping, so other connections keep flowing.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "ft_http.h"
#include "ft_routes.h"
#include "ft_state.h"

/* poll() wakes at least this often so a signal is seen promptly. */
#define FT_POLL_MS 200
/* Stop parsing a connection's pipelined requests while this much output is unsent. */
#define FT_OUT_HIGH_WATER (256 * 1024)
#define FT_MAX_CONNS_DEFAULT 4096
/* How long a connection we are closing may take to read our last answer. */
#define FT_LINGER_MS 2000

static volatile sig_atomic_t g_stop;

struct conn {
    int fd;
    struct ft_buf in;
    struct ft_buf out;
    size_t out_off;
    int64_t hold_until;   /* latency fault: no write before this monotonic ms */
    int continue_sent;    /* "100 Continue" already sent for the request being read */
    int close_after;      /* close once out is flushed; read no further requests */
    int eof;              /* the peer closed its side */
    int64_t linger_until; /* after our last answer: discard input until EOF or then */
    int dead;
};

struct server {
    int listen_fd;
    struct conn **conns;
    size_t n_conns;
    size_t max_conns;
    struct pollfd *pfds;
    struct ft_state *st;
    int verbose;
};

struct options {
    long port;
    const char *listen_addr; /* dotted IPv4; default 127.0.0.1 */
    const char *port_file;
    const char *api_key;
    const char *read_token;
    int verbose;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_signal(int sig)
{
    (void)sig;
    /* A second signal means the loop is stuck or the user is impatient: exit now. */
    if (g_stop)
        _exit(1);
    g_stop = 1;
}

static void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void log_line(const char *fmt, ...)
{
    va_list ap;
    char stamp[32];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "%s.%03ldZ info fake-tmdb: ", stamp, ts.tv_nsec / 1000000);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* Copies a raw query into out with every credential value replaced by "***". */
static void mask_query(const char *q, char *out, size_t out_size)
{
    static const char *const SECRET[] = {"api_key", "session_id", "access_token",
                                         "request_token", "guest_session_id"};
    size_t o = 0;
    out[0] = '\0';
    while (*q && o + 1 < out_size) {
        size_t n = strcspn(q, "&");
        size_t k = strcspn(q, "=&");
        int secret = 0;
        for (size_t i = 0; i < sizeof SECRET / sizeof SECRET[0]; i++) {
            if (strlen(SECRET[i]) == k && strncmp(q, SECRET[i], k) == 0)
                secret = 1;
        }
        int w;
        if (secret)
            w = snprintf(out + o, out_size - o, "%s%.*s=***", o ? "&" : "", (int)k, q);
        else
            w = snprintf(out + o, out_size - o, "%s%.*s", o ? "&" : "", (int)n, q);
        if (w < 0 || (size_t)w >= out_size - o)
            break;
        o += (size_t)w;
        q += n;
        if (*q == '&')
            q++;
    }
}

static void log_request(const struct ft_request *req, int status, int64_t delay)
{
    char query[512];
    mask_query(req->query_raw, query, sizeof query);
    log_line("%s %.300s%s%s -> %d%s", req->method, req->path, query[0] ? "?" : "", query,
             status, delay > 0 ? " (delayed)" : "");
}

static void conn_free(struct conn *c)
{
    if (!c)
        return;
    if (c->fd >= 0)
        close(c->fd);
    ft_buf_free(&c->in);
    ft_buf_free(&c->out);
    free(c);
}

static int conn_queue(struct conn *c, int status, const char *body, size_t len,
                      int keep_alive, int retry_after)
{
    if (ft_http_format(&c->out, status, body, len, keep_alive, retry_after) != 0) {
        c->dead = 1;
        return -1;
    }
    return 0;
}

/* Queues a TMDB-shaped error for a request that could not be parsed, then closes. */
static void conn_reject(struct conn *c, int status, const char *message)
{
    struct ft_response resp;
    ft_response_init(&resp);
    ft_response_error(&resp, status, message);
    conn_queue(c, resp.status, resp.body.data, resp.body.len, 0, -1);
    ft_response_cleanup(&resp);
    c->close_after = 1;
}

/* Answers every complete request in c->in, in order, until one is held or incomplete. */
static void conn_serve(struct server *srv, struct conn *c, int64_t now)
{
    while (!c->dead && !c->close_after && c->hold_until <= now &&
           c->out.len - c->out_off < FT_OUT_HIGH_WATER && c->in.len > 0) {
        struct ft_request req;
        enum ft_parse_status ps = ft_http_parse(c->in.data, c->in.len, &req);
        switch (ps) {
        case FT_PARSE_OK:
            break;
        case FT_PARSE_INCOMPLETE:
            if (req.expect_continue && !c->continue_sent) {
                static const char CONT[] = "HTTP/1.1 100 Continue\r\n\r\n";
                if (ft_buf_append(&c->out, CONT, sizeof CONT - 1) != 0)
                    c->dead = 1;
                c->continue_sent = 1;
            }
            ft_request_cleanup(&req);
            return;
        case FT_PARSE_BAD:
            conn_reject(c, 400, "The input is not valid: malformed HTTP request.");
            break;
        case FT_PARSE_HEAD_TOO_BIG:
            conn_reject(c, 431, "The input is not valid: request head too large.");
            break;
        case FT_PARSE_BODY_TOO_BIG:
            conn_reject(c, 413, "The input is not valid: request body too large.");
            break;
        case FT_PARSE_CHUNKED:
            conn_reject(c, 411, "The input is not valid: send a Content-Length body.");
            break;
        case FT_PARSE_NO_MEMORY:
            conn_reject(c, 500, "Internal error: out of memory.");
            break;
        }
        if (ps != FT_PARSE_OK) {
            if (srv->verbose)
                log_line("rejected a malformed or oversized request");
            ft_request_cleanup(&req);
            return;
        }

        struct ft_response resp;
        ft_response_init(&resp);
        ft_route(srv->st, &req, &resp, now);
        if (srv->verbose)
            log_request(&req, resp.drop ? 0 : resp.status, resp.delay_ms);
        if (resp.drop) {
            /* The refuse fault: the client sees the connection close with no answer. */
            c->dead = 1;
        } else {
            conn_queue(c, resp.status, resp.body.data, resp.body.len, req.keep_alive,
                       resp.retry_after);
            if (resp.delay_ms > 0)
                c->hold_until = now + resp.delay_ms;
            if (!req.keep_alive)
                c->close_after = 1;
        }
        ft_buf_consume(&c->in, req.consumed);
        c->continue_sent = 0;
        ft_response_cleanup(&resp);
        ft_request_cleanup(&req);
    }
}

static void conn_read(struct conn *c)
{
    char chunk[16384];
    if (c->linger_until) {
        /* Closing with unread input would send a RST that can destroy our last answer
         * before the client reads it; drain until the client closes instead. */
        for (;;) {
            ssize_t n = recv(c->fd, chunk, sizeof chunk, 0);
            if (n > 0)
                continue;
            if (n < 0 && errno == EINTR)
                continue;
            if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
                c->dead = 1;
            return;
        }
    }
    /* Reading stops at one maximal request; the parser rejects anything larger. */
    while (c->in.len < FT_MAX_HEAD + FT_MAX_BODY + 1) {
        ssize_t n = recv(c->fd, chunk, sizeof chunk, 0);
        if (n > 0) {
            if (ft_buf_append(&c->in, chunk, (size_t)n) != 0) {
                c->dead = 1;
                return;
            }
            continue;
        }
        if (n == 0) {
            c->eof = 1;
            return;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            c->dead = 1;
        return;
    }
}

static void conn_write(struct conn *c, int64_t now)
{
    if (c->hold_until > now)
        return;
    while (c->out_off < c->out.len) {
        ssize_t n =
            send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        c->dead = 1;
        return;
    }
    c->out.len = 0;
    c->out_off = 0;
    if (c->close_after && !c->linger_until) {
        shutdown(c->fd, SHUT_WR);
        c->linger_until = now + FT_LINGER_MS;
    }
}

static void server_accept(struct server *srv)
{
    while (srv->n_conns < srv->max_conns) {
        int fd = accept(srv->listen_fd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            /* EAGAIN ends the batch; EMFILE and the like are retried on the next wake. */
            return;
        }
        int flags = fcntl(fd, F_GETFL, 0);
        int one = 1;
        struct conn *c = calloc(1, sizeof *c);
        if (!c || flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
            close(fd);
            free(c);
            continue;
        }
        /* Responses are written whole; Nagle would only add delay to keep-alive clients.
         */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->fd = fd;
        srv->conns[srv->n_conns++] = c;
    }
}

static int server_listen(struct server *srv, const char *listen_addr, long port,
                         uint16_t *bound)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fprintf(stderr, "fake-tmdb: could not create socket: %s\n", strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    /* Loopback unless told otherwise: the fake accepts any client that knows its fixed
     * credentials, and its control API has no auth at all. parse_options checked it. */
    if (inet_pton(AF_INET, listen_addr, &addr.sin_addr) != 1)
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(fd, SOMAXCONN) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
        fprintf(stderr, "fake-tmdb: could not listen on %s:%ld: %s\n", listen_addr, port,
                strerror(errno));
        close(fd);
        return -1;
    }
    srv->listen_fd = fd;
    *bound = ntohs(addr.sin_port);
    return 0;
}

/* Writes the port through a temporary file and rename(), so a reader never sees it half
 * written. */
static int write_port_file(const char *path, uint16_t port)
{
    char tmp[4096];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp)
        return -1;
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    int bad = fprintf(f, "%u\n", (unsigned)port) < 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static void server_loop(struct server *srv)
{
    while (!g_stop) {
        int64_t now = now_ms();
        int timeout = FT_POLL_MS;
        srv->pfds[0].fd = srv->n_conns < srv->max_conns ? srv->listen_fd : -1;
        srv->pfds[0].events = POLLIN;
        srv->pfds[0].revents = 0;
        for (size_t i = 0; i < srv->n_conns; i++) {
            struct conn *c = srv->conns[i];
            short ev = 0;
            int held = c->hold_until > now;
            if (held && c->hold_until - now < timeout)
                timeout = (int)(c->hold_until - now);
            if (c->linger_until)
                ev |= POLLIN;
            else if (!c->eof && !c->close_after &&
                     c->in.len < FT_MAX_HEAD + FT_MAX_BODY + 1)
                ev |= POLLIN;
            if (!held && c->out_off < c->out.len)
                ev |= POLLOUT;
            srv->pfds[i + 1].fd = c->fd;
            srv->pfds[i + 1].events = ev;
            srv->pfds[i + 1].revents = 0;
        }
        int rc = poll(srv->pfds, srv->n_conns + 1, timeout);
        if (rc < 0 && errno != EINTR) {
            fprintf(stderr, "fake-tmdb: poll failed: %s\n", strerror(errno));
            return;
        }
        now = now_ms();
        /* Every connection is visited each turn: a held response may have come due. */
        size_t n = srv->n_conns;
        for (size_t i = 0; i < n; i++) {
            struct conn *c = srv->conns[i];
            short re = rc > 0 ? srv->pfds[i + 1].revents : 0;
            if (re & (POLLIN | POLLHUP | POLLERR))
                conn_read(c);
            conn_serve(srv, c, now);
            conn_write(c, now);
            /* POLLHUP means both directions are gone: nothing more can be delivered. */
            if (re & (POLLHUP | POLLERR))
                c->dead = 1;
            /* A peer that hung up gets its pending answers, then the socket closes. */
            if (c->eof && c->out_off >= c->out.len && c->hold_until <= now)
                c->dead = 1;
            if (c->linger_until && c->linger_until <= now)
                c->dead = 1;
        }
        if (rc > 0 && (srv->pfds[0].revents & POLLIN))
            server_accept(srv);
        size_t kept = 0;
        for (size_t i = 0; i < srv->n_conns; i++) {
            if (srv->conns[i]->dead)
                conn_free(srv->conns[i]);
            else
                srv->conns[kept++] = srv->conns[i];
        }
        srv->n_conns = kept;
    }
}

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: fake-tmdb --port N [--listen ADDR] [--port-file PATH] [--api-key K] "
        "[--read-token T] [--verbose]\n"
        "  --port N        port to listen on; 0 picks a free one\n"
        "  --listen ADDR   IPv4 address to listen on (default 127.0.0.1; 0.0.0.0 in a\n"
        "                  container, so other containers reach it)\n"
        "  --port-file P   write the bound port to P once listening\n"
        "  --api-key K     v3 api_key to accept (default test-api-key)\n"
        "  --read-token T  v3 Bearer read token to accept (default test-read-token)\n"
        "  --verbose       one line per request on stderr (credentials masked)\n");
}

/* Returns 0, or 2 after printing why the arguments are unusable. */
static int parse_options(int argc, char **argv, struct options *opt)
{
    opt->port = -1;
    opt->listen_addr = "127.0.0.1";
    opt->api_key = "test-api-key";
    opt->read_token = "test-read-token";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
            opt->verbose = 1;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        if (!val) {
            fprintf(stderr, "fake-tmdb: unknown option or missing value: \"%s\"\n", a);
            usage(stderr);
            return 2;
        }
        i++;
        if (strcmp(a, "--port") == 0) {
            char *end = NULL;
            errno = 0;
            long p = strtol(val, &end, 10);
            if (errno != 0 || end == val || *end != '\0' || p < 0 || p > 65535) {
                fprintf(stderr, "fake-tmdb: invalid --port \"%s\": want 0..65535\n", val);
                return 2;
            }
            opt->port = p;
        } else if (strcmp(a, "--listen") == 0) {
            struct in_addr probe;
            if (inet_pton(AF_INET, val, &probe) != 1) {
                fprintf(
                    stderr,
                    "fake-tmdb: invalid --listen \"%s\": want an IPv4 address such as "
                    "127.0.0.1 or 0.0.0.0\n",
                    val);
                return 2;
            }
            opt->listen_addr = val;
        } else if (strcmp(a, "--port-file") == 0) {
            opt->port_file = val;
        } else if (strcmp(a, "--api-key") == 0) {
            opt->api_key = val;
        } else if (strcmp(a, "--read-token") == 0) {
            opt->read_token = val;
        } else {
            fprintf(stderr, "fake-tmdb: unknown option \"%s\"\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (opt->port < 0) {
        fprintf(stderr, "fake-tmdb: --port is required (0 picks a free port)\n");
        usage(stderr);
        return 2;
    }
    return 0;
}

/* As many connections as file descriptors allow, minus a few for stdio and the listener.
 */
static size_t max_connections(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return FT_MAX_CONNS_DEFAULT;
    if (rl.rlim_cur < 32)
        return 16;
    return rl.rlim_cur - 16 < FT_MAX_CONNS_DEFAULT ? (size_t)rl.rlim_cur - 16
                                                   : FT_MAX_CONNS_DEFAULT;
}

int main(int argc, char **argv)
{
    struct options opt;
    struct server srv;
    int status = 1;
    uint16_t port = 0;

    memset(&opt, 0, sizeof opt);
    memset(&srv, 0, sizeof srv);
    srv.listen_fd = -1;
    if (parse_options(argc, argv, &opt) != 0)
        return 2;
    srv.verbose = opt.verbose;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    /* Writes use MSG_NOSIGNAL; this also covers stderr going away. */
    signal(SIGPIPE, SIG_IGN);

    srv.max_conns = max_connections();
    srv.conns = calloc(srv.max_conns, sizeof *srv.conns);
    srv.pfds = calloc(srv.max_conns + 1, sizeof *srv.pfds);
    srv.st = ft_state_new(opt.api_key, opt.read_token, now_ms());
    if (!srv.conns || !srv.pfds || !srv.st) {
        fprintf(stderr, "fake-tmdb: out of memory at start\n");
        goto out;
    }
    if (server_listen(&srv, opt.listen_addr, opt.port, &port) != 0)
        goto out;
    if (opt.port_file && write_port_file(opt.port_file, port) != 0) {
        fprintf(stderr, "fake-tmdb: could not write port file \"%s\": %s\n",
                opt.port_file, strerror(errno));
        goto out;
    }
    /* Credentials are never printed: only whether they are the defaults. */
    fprintf(stderr,
            "fake-tmdb: listening on %s:%u (api key %s, read token %s, "
            "max %zu connections, verbose %s)\n",
            opt.listen_addr, (unsigned)port,
            strcmp(opt.api_key, "test-api-key") == 0 ? "default" : "custom",
            strcmp(opt.read_token, "test-read-token") == 0 ? "default" : "custom",
            srv.max_conns, opt.verbose ? "on" : "off");

    server_loop(&srv);
    if (g_stop) {
        fprintf(stderr, "fake-tmdb: stopping on signal\n");
        status = 0;
    }
out:
    if (opt.port_file && port != 0)
        unlink(opt.port_file);
    for (size_t i = 0; i < srv.n_conns; i++)
        conn_free(srv.conns[i]);
    if (srv.listen_fd >= 0)
        close(srv.listen_fd);
    free(srv.conns);
    free(srv.pfds);
    ft_state_free(srv.st);
    return status;
}
