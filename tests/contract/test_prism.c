/*
 * contract.prism: every request the TMDB client (common/tmdb.c) sends for the six list
 * operations must pass Prism's request validation against TMDB's list API as
 * tests/contract/tmdb-lists-mock.openapi.json describes it.
 *
 * Prism runs as a child in its own process group on a free loopback port. Between the
 * client and Prism sits a relay, a thread of this program: it records each request with
 * Prism's status line and sl-violations header, and can add "Prefer: code=N" to chosen
 * requests. That is how Prism is made to answer the delete quirk (500, status_code 11)
 * and then the confirming GET (404), or a 429; tmdb.c itself is used untouched, the relay
 * only adds Prefer and "Connection: close" (one request a connection keeps it simple).
 *
 * A request passes when Prism neither answers 422 (schema violation) or another error of
 * its own (415 wrong Content-Type, 404 no such path) nor reports any violation in
 * sl-violations (it does so for a missing credential, with a 401), and the client's
 * outcome is the one the documented success example means. Two deliberately
 * broken requests prove the check can fail: a string media_id must get a 422, a request
 * without any credential a 401 with sl-violations.
 *
 * usage: test_prism PRISM_BIN SPEC_FILE
 * Exit 0 pass, 1 fail, 77 skip (Prism is not installed and CI is not set; under CI a
 * missing Prism is a failure: scripts/prism.sh installs it).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "check.h"
#include "op.h"
#include "tmdb.h"

/* Fake credentials: Prism checks only that they are present, never their value. */
#define API_KEY "contract-api-key"
#define READ_TOKEN "contract-read-token"
#define SESSION "contract-session-id"
#define ACCESS_TOKEN "contract-v4-user-token"

/* The ids the mock's examples use, so the answers read naturally. */
#define LIST_ID 8504581
#define MOVIE_ID 550

#define PRISM_START_MS 60000
#define PRISM_STOP_MS 10000
#define IO_WAIT_MS 15000
#define REQ_MAX (64 * 1024)
#define RESP_MAX (1024 * 1024)
#define MAX_EXCHANGES 8
#define MAX_RULES 4

/* ---- the relay -------------------------------------------------------------------- */

/* One request as the client sent it and what Prism answered. */
struct exchange {
    char method[16];
    char target[1024];     /* path and query */
    char body[1024];       /* request body, cut to fit */
    int status;            /* Prism's HTTP status; 0 when Prism could not be reached */
    char violations[2048]; /* Prism's sl-violations header, empty when none */
    char answer[2048];     /* Prism's body, cut to fit */
};

/* Answer requests of this method whose path (without query) ends in path_suffix with
 * status code (Prism's "Prefer: code=N"). */
struct rule {
    char method[16];
    char path_suffix[64];
    int code;
};

struct relay {
    int lfd;
    int port;
    int upstream_port;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu; /* guards everything below */
    bool stop;
    struct rule rules[MAX_RULES];
    int nrules;
    struct exchange ex[MAX_EXCHANGES];
    int nex;
    int dropped; /* exchanges past MAX_EXCHANGES */
};

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

static void set_io_timeout(int fd)
{
    struct timeval tv = {.tv_sec = IO_WAIT_MS / 1000, .tv_usec = 0};

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* Value of header name (e.g. "content-length") in head (header lines, CRLF separated,
 * ending before the blank line) into out; false when absent. */
static bool header_get(const char *head, size_t head_len, const char *name, char *out,
                       size_t n)
{
    size_t nlen = strlen(name);
    const char *p = head, *end = head + head_len;

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = eol != NULL ? eol : end;

        if ((size_t)(line_end - p) > nlen && strncasecmp(p, name, nlen) == 0 &&
            p[nlen] == ':') {
            const char *v = p + nlen + 1;
            size_t vlen;

            while (v < line_end && (*v == ' ' || *v == '\t'))
                v++;
            vlen = (size_t)(line_end - v);
            while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == ' '))
                vlen--;
            if (vlen >= n)
                vlen = n - 1;
            memcpy(out, v, vlen);
            out[vlen] = '\0';
            return true;
        }
        p = line_end + 1;
    }
    return false;
}

static void copy_cut(char *dst, size_t n, const char *src, size_t len)
{
    if (len >= n)
        len = n - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

/* Read a whole HTTP request (head and Content-Length body) into buf; its length, or 0. */
static size_t read_request(int fd, char *buf, size_t cap, size_t *head_len)
{
    size_t len = 0, want = 0;

    *head_len = 0;
    for (;;) {
        ssize_t r;

        if (*head_len == 0) {
            char *eoh;

            buf[len] = '\0';
            eoh = strstr(buf, "\r\n\r\n");
            if (eoh != NULL) {
                char cl[32];
                char *end;
                long v = 0;

                *head_len = (size_t)(eoh - buf) + 4;
                if (header_get(buf, *head_len, "content-length", cl, sizeof cl)) {
                    v = strtol(cl, &end, 10);
                    if (end == cl || *end != '\0' || v < 0 || (size_t)v > cap - *head_len)
                        return 0;
                }
                want = *head_len + (size_t)v;
            }
        }
        if (*head_len != 0 && len >= want)
            return want;
        if (len + 1 >= cap)
            return 0;
        r = recv(fd, buf + len, cap - 1 - len, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return 0;
        len += (size_t)r;
    }
}

static int connect_loopback(int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    set_io_timeout(fd);
    return fd;
}

/* Forward one request to Prism and its answer back; record both. */
static void relay_one(struct relay *rl, int cfd)
{
    static char req[REQ_MAX], fwd[REQ_MAX + 256], resp[RESP_MAX + 1];
    struct exchange ex;
    size_t req_len, head_len, resp_len = 0, fwd_len;
    const char *line_end, *p, *sp1, *sp2, *path_end;
    int ufd = -1, prefer = 0, i, n;

    memset(&ex, 0, sizeof ex);
    set_io_timeout(cfd);
    req_len = read_request(cfd, req, sizeof req, &head_len);
    if (req_len == 0)
        return;

    /* Request line: METHOD SP TARGET SP VERSION CRLF */
    line_end = strstr(req, "\r\n");
    sp1 = memchr(req, ' ', (size_t)(line_end - req));
    sp2 = sp1 != NULL ? memchr(sp1 + 1, ' ', (size_t)(line_end - sp1 - 1)) : NULL;
    if (sp1 == NULL || sp2 == NULL)
        return;
    copy_cut(ex.method, sizeof ex.method, req, (size_t)(sp1 - req));
    copy_cut(ex.target, sizeof ex.target, sp1 + 1, (size_t)(sp2 - sp1 - 1));
    copy_cut(ex.body, sizeof ex.body, req + head_len, req_len - head_len);
    path_end = strchr(ex.target, '?');
    if (path_end == NULL)
        path_end = ex.target + strlen(ex.target);

    pthread_mutex_lock(&rl->mu);
    for (i = 0; i < rl->nrules; i++) {
        size_t sl = strlen(rl->rules[i].path_suffix);
        size_t pl = (size_t)(path_end - ex.target);

        if (strcmp(rl->rules[i].method, ex.method) == 0 && pl >= sl &&
            memcmp(path_end - sl, rl->rules[i].path_suffix, sl) == 0) {
            prefer = rl->rules[i].code;
            break;
        }
    }
    pthread_mutex_unlock(&rl->mu);

    /* The request line and every header but Connection, Keep-Alive and Prefer, then
     * ours, then the body, byte for byte. */
    fwd_len = (size_t)(line_end + 2 - req);
    memcpy(fwd, req, fwd_len);
    for (p = line_end + 2; p < req + head_len - 2;) {
        const char *eol = strstr(p, "\r\n");
        size_t l = (size_t)(eol + 2 - p);

        if (strncasecmp(p, "connection:", 11) != 0 &&
            strncasecmp(p, "keep-alive:", 11) != 0 && strncasecmp(p, "prefer:", 7) != 0) {
            memcpy(fwd + fwd_len, p, l);
            fwd_len += l;
        }
        p = eol + 2;
    }
    if (prefer != 0)
        fwd_len += (size_t)snprintf(fwd + fwd_len, sizeof fwd - fwd_len,
                                    "Prefer: code=%d\r\n", prefer);
    fwd_len += (size_t)snprintf(fwd + fwd_len, sizeof fwd - fwd_len,
                                "Connection: close\r\n\r\n");
    memcpy(fwd + fwd_len, req + head_len, req_len - head_len);
    fwd_len += req_len - head_len;

    ufd = connect_loopback(rl->upstream_port);
    if (ufd >= 0 && send_all(ufd, fwd, fwd_len)) {
        /* Prism honours Connection: close, so its answer ends at EOF. */
        for (;;) {
            ssize_t r = recv(ufd, resp + resp_len, RESP_MAX - resp_len, 0);

            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            resp_len += (size_t)r;
            if (resp_len == RESP_MAX)
                break;
        }
    }
    resp[resp_len] = '\0';
    if (resp_len > 12 && strncmp(resp, "HTTP/1.", 7) == 0) {
        char *eoh = strstr(resp, "\r\n\r\n");
        char *end;
        long st = strtol(resp + 9, &end, 10);

        ex.status = (end != resp + 9 && st >= 100 && st <= 599) ? (int)st : 0;
        if (eoh != NULL) {
            header_get(resp, (size_t)(eoh - resp) + 2, "sl-violations", ex.violations,
                       sizeof ex.violations);
            copy_cut(ex.answer, sizeof ex.answer, eoh + 4, strlen(eoh + 4));
        }
    } else {
        snprintf(ex.answer, sizeof ex.answer, "(Prism did not answer the relay)");
    }
    if (ufd >= 0)
        close(ufd);

    /* Record before answering: once the client has its answer, the test reads this. */
    pthread_mutex_lock(&rl->mu);
    n = rl->nex;
    if (n < MAX_EXCHANGES) {
        rl->ex[n] = ex;
        rl->nex = n + 1;
    } else {
        rl->dropped++;
    }
    pthread_mutex_unlock(&rl->mu);

    if (ex.status != 0) {
        send_all(cfd, resp, resp_len);
    } else {
        static const char bad[] =
            "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

        send_all(cfd, bad, sizeof bad - 1);
    }
}

static void *relay_main(void *arg)
{
    struct relay *rl = arg;

    for (;;) {
        struct pollfd pfd = {.fd = rl->lfd, .events = POLLIN};
        bool stop;
        int cfd;

        pthread_mutex_lock(&rl->mu);
        stop = rl->stop;
        pthread_mutex_unlock(&rl->mu);
        if (stop)
            break;
        /* A short poll so that relay_stop is seen within a fifth of a second. */
        if (poll(&pfd, 1, 200) <= 0)
            continue;
        cfd = accept(rl->lfd, NULL, NULL);
        if (cfd < 0)
            continue;
        relay_one(rl, cfd);
        close(cfd);
    }
    return NULL;
}

/* Listen on a free loopback port; 0 on success. */
static int listen_loopback(int *port)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

static bool relay_start(struct relay *rl, int upstream_port)
{
    memset(rl, 0, sizeof *rl);
    pthread_mutex_init(&rl->mu, NULL);
    rl->upstream_port = upstream_port;
    rl->lfd = listen_loopback(&rl->port);
    if (rl->lfd < 0)
        return false;
    if (pthread_create(&rl->thread, NULL, relay_main, rl) != 0) {
        close(rl->lfd);
        rl->lfd = -1;
        return false;
    }
    rl->started = true;
    return true;
}

static void relay_stop(struct relay *rl)
{
    if (rl->started) {
        pthread_mutex_lock(&rl->mu);
        rl->stop = true;
        pthread_mutex_unlock(&rl->mu);
        pthread_join(rl->thread, NULL);
        rl->started = false;
    }
    if (rl->lfd >= 0)
        close(rl->lfd);
    rl->lfd = -1;
    pthread_mutex_destroy(&rl->mu);
}

/* Forget the recorded exchanges and set the rules for what comes next (NULL, 0: none). */
static void relay_reset(struct relay *rl, const struct rule *rules, int nrules)
{
    pthread_mutex_lock(&rl->mu);
    rl->nex = 0;
    rl->dropped = 0;
    rl->nrules = 0;
    for (; nrules > 0 && rl->nrules < MAX_RULES; nrules--)
        rl->rules[rl->nrules++] = *rules++;
    pthread_mutex_unlock(&rl->mu);
}

/* Copy the recorded exchanges out; their number. */
static int relay_take(struct relay *rl, struct exchange *out)
{
    int n;

    pthread_mutex_lock(&rl->mu);
    n = rl->nex;
    memcpy(out, rl->ex, sizeof rl->ex[0] * (size_t)n);
    if (rl->dropped > 0) {
        fprintf(stderr, "relay: %d more exchanges than the %d recorded\n", rl->dropped,
                MAX_EXCHANGES);
        check_failures++;
    }
    pthread_mutex_unlock(&rl->mu);
    return n;
}

/* ---- Prism ------------------------------------------------------------------------ */

struct prism {
    pid_t pid; /* also its process group; 0 when not running */
    int port;
    char log_path[64];
};

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* The last bytes of Prism's log on stderr: what it said about the failing request. */
static void prism_log_tail(const struct prism *p, long bytes)
{
    char buf[4096];
    FILE *f = fopen(p->log_path, "r");
    size_t n;

    if (f == NULL)
        return;
    if (fseek(f, 0, SEEK_END) == 0 && ftell(f) > bytes)
        fseek(f, -bytes, SEEK_END);
    else
        fseek(f, 0, SEEK_SET);
    fprintf(stderr, "---- last lines of Prism's log (%s) ----\n", p->log_path);
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, n, stderr);
    fprintf(stderr, "---- end of Prism's log ----\n");
    fclose(f);
}

/* A port that was free a moment ago (Prism binds it itself). */
static int free_port(void)
{
    int port = 0, fd = listen_loopback(&port);

    if (fd < 0)
        return -1;
    close(fd);
    return port;
}

/* Does anything answer HTTP on the port yet? Any status will do. */
static bool prism_answers(int port)
{
    char url[128];
    CURL *h = curl_easy_init();
    long status = 0;
    bool ok = false;

    if (h == NULL)
        return false;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/3/list/%d?api_key=%s", port, LIST_ID,
             API_KEY);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 2000L);
    if (curl_easy_perform(h) == CURLE_OK &&
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status > 0)
        ok = true;
    curl_easy_cleanup(h);
    return ok;
}

static void prism_stop(struct prism *p)
{
    int64_t deadline;
    int wst;

    if (p->pid <= 0)
        return;
    /* The whole group: Prism is node, and node may have children of its own. */
    kill(-p->pid, SIGTERM);
    deadline = now_ms() + PRISM_STOP_MS;
    while (waitpid(p->pid, &wst, WNOHANG) == 0) {
        if (now_ms() > deadline) {
            kill(-p->pid, SIGKILL);
            waitpid(p->pid, &wst, 0);
            break;
        }
        sleep_ms(100);
    }
    /* Anything of the group that outlived its leader. */
    kill(-p->pid, SIGKILL);
    p->pid = 0;
}

static bool prism_start(struct prism *p, const char *bin, const char *spec)
{
    char port_s[16];
    int64_t deadline;
    pid_t parent = getpid();
    int fd, wst;

    memset(p, 0, sizeof *p);
    snprintf(p->log_path, sizeof p->log_path, "/tmp/tmdbq-prism-XXXXXX");
    fd = mkstemp(p->log_path);
    if (fd < 0) {
        fprintf(stderr, "could not create Prism's log file: %s\n", strerror(errno));
        return false;
    }
    p->port = free_port();
    if (p->port < 0) {
        fprintf(stderr, "could not find a free loopback port\n");
        close(fd);
        return false;
    }
    snprintf(port_s, sizeof port_s, "%d", p->port);

    p->pid = fork();
    if (p->pid < 0) {
        fprintf(stderr, "could not fork: %s\n", strerror(errno));
        p->pid = 0;
        close(fd);
        return false;
    }
    if (p->pid == 0) {
        /* Own process group, so that one kill stops Prism and its children; and if this
         * test dies (ctest's timeout kills it), Prism is told to stop too. */
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(127);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
        execl(bin, "prism", "mock", "-h", "127.0.0.1", "-p", port_s, spec, (char *)NULL);
        fprintf(stderr, "could not run %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    setpgid(p->pid, p->pid); /* also here: no race with the kill in prism_stop */
    close(fd);

    deadline = now_ms() + PRISM_START_MS;
    for (;;) {
        if (waitpid(p->pid, &wst, WNOHANG) == p->pid) {
            fprintf(stderr, "Prism exited before it answered (status %d)\n",
                    WIFEXITED(wst) ? WEXITSTATUS(wst) : 128 + WTERMSIG(wst));
            p->pid = 0;
            prism_log_tail(p, 4000);
            return false;
        }
        if (prism_answers(p->port))
            return true;
        if (now_ms() > deadline) {
            fprintf(stderr, "Prism did not answer on 127.0.0.1:%d within %d s\n", p->port,
                    PRISM_START_MS / 1000);
            prism_log_tail(p, 4000);
            prism_stop(p);
            return false;
        }
        sleep_ms(250);
    }
}

/* ---- the checks ------------------------------------------------------------------- */

static const char *outcome_name(enum tmdb_outcome o)
{
    switch (o) {
    case TMDB_DONE:
        return "DONE";
    case TMDB_GOAL_HOLDS:
        return "GOAL_HOLDS";
    case TMDB_TRANSIENT:
        return "TRANSIENT";
    case TMDB_PERMANENT:
        return "PERMANENT";
    case TMDB_DEPLOYMENT:
        return "DEPLOYMENT";
    case TMDB_RATE_LIMITED:
        return "RATE_LIMITED";
    case TMDB_NOT_SENT:
        return "NOT_SENT";
    }
    return "?";
}

/* One request tmdb_execute is expected to send, and Prism's expected answer. */
struct expect {
    const char *method;
    const char *path; /* without query */
    int status;
};

/* Check the recorded exchanges against want (n of them); print one line each. A request
 * that Prism rejected is stated with Prism's own words. */
static void check_exchanges(const char *what, const struct exchange *ex, int nex,
                            const struct expect *want, int n)
{
    int i;

    if (nex != n) {
        fprintf(stderr, "%s: the client sent %d request(s), expected %d\n", what, nex, n);
        check_failures++;
    }
    for (i = 0; i < nex; i++) {
        const struct exchange *e = &ex[i];
        size_t plen = strcspn(e->target, "?");
        /* 422 is a schema violation; Prism's own error documents (415 for a wrong
         * Content-Type, 404 for no such path, 405...) and sl-violations say the same. */
        bool rejected = e->status == 422 || e->violations[0] != '\0' ||
                        strstr(e->answer, "stoplight.io/prism/errors#") != NULL;

        printf("  %-13s %s %s -> %d%s%s\n", what, e->method, e->target, e->status,
               rejected ? " REJECTED " : " ok", e->violations);
        if (rejected) {
            fprintf(stderr,
                    "%s: Prism rejected the client's request %s %s (HTTP %d)\n"
                    "  request body: %s\n  sl-violations: %s\n  Prism's answer: %s\n",
                    what, e->method, e->target, e->status,
                    e->body[0] ? e->body : "(none)",
                    e->violations[0] ? e->violations : "(none)", e->answer);
            check_failures++;
        }
        if (i >= n)
            continue;
        if (strcmp(e->method, want[i].method) != 0 || strlen(want[i].path) != plen ||
            strncmp(e->target, want[i].path, plen) != 0) {
            fprintf(stderr, "%s: request %d was %s %.*s, expected %s %s\n", what, i + 1,
                    e->method, (int)plen, e->target, want[i].method, want[i].path);
            check_failures++;
        }
        if (!rejected && e->status != want[i].status) {
            fprintf(stderr, "%s: Prism answered %s %s with %d, expected %d: %s\n", what,
                    e->method, e->target, e->status, want[i].status, e->answer);
            check_failures++;
        }
    }
}

struct op_case {
    enum op_type type;
    int32_t list_id;
    const char *data_json;
    struct expect req;
    int tmdb_code;          /* status_code of the documented success example */
    const char *result_has; /* expected in result_json */
};

static const struct op_case cases[] = {
    {OP_CREATE_LIST,
     0,
     "{\"description\":\"Films to see this winter\",\"name\":\"Winter \\u00e9migr\\u00e9 "
     "films\",\"public\":true}",
     {"POST", "/3/list", 201},
     1,
     "\"list_id\":8504581"},
    /* No description: the client must still send one (a string). */
    {OP_CREATE_LIST,
     0,
     "{\"name\":\"Contract test list\"}",
     {"POST", "/3/list", 201},
     1,
     "\"list_id\":8504581"},
    {OP_UPDATE_LIST,
     LIST_ID,
     "{\"description\":\"Renamed by the contract test\",\"name\":\"Renamed list\","
     "\"public\":false}",
     {"PUT", "/4/list/8504581", 201},
     12,
     "\"status_code\":12"},
    {OP_UPDATE_LIST,
     LIST_ID,
     "{\"public\":true}",
     {"PUT", "/4/list/8504581", 201},
     12,
     "\"status_code\":12"},
    {OP_DELETE_LIST,
     LIST_ID,
     "{}",
     {"DELETE", "/3/list/8504581", 200},
     13,
     "\"status_code\":13"},
    {OP_CLEAR_LIST,
     LIST_ID,
     "{}",
     {"POST", "/3/list/8504581/clear", 201},
     12,
     "\"status_code\":12"},
    {OP_ADD_MOVIE,
     LIST_ID,
     "{\"movie_id\":550}",
     {"POST", "/3/list/8504581/add_item", 201},
     12,
     "\"status_code\":12"},
    {OP_REMOVE_MOVIE,
     LIST_ID,
     "{\"movie_id\":550}",
     {"POST", "/3/list/8504581/remove_item", 200},
     13,
     "\"status_code\":13"},
};

static const struct tmdb_creds creds = {SESSION, ACCESS_TOKEN};

/* Run one operation through the relay; the exchanges land in ex, their count returned. */
static int run_op(struct tmdb_client *c, struct relay *rl, const struct rule *rules,
                  int nrules, enum op_type type, int32_t list_id, const char *data,
                  struct tmdb_result *r, struct exchange *ex)
{
    relay_reset(rl, rules, nrules);
    tmdb_execute(c, type, list_id, data, &creds, r);
    return relay_take(rl, ex);
}

static void run_six(struct tmdb_client *c, struct relay *rl, const char *mode)
{
    static struct exchange ex[MAX_EXCHANGES];
    char what[64];
    size_t i;

    printf("%s:\n", mode);
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct op_case *k = &cases[i];
        struct tmdb_result r;
        int nex = run_op(c, rl, NULL, 0, k->type, k->list_id, k->data_json, &r, ex);

        snprintf(what, sizeof what, "%s", op_type_name(k->type));
        check_exchanges(what, ex, nex, &k->req, 1);
        if (r.outcome != TMDB_DONE)
            fprintf(stderr, "%s (%s): outcome %s, expected DONE: %s\n", what, mode,
                    outcome_name(r.outcome), r.message);
        CHECK_EQ_INT(r.outcome, TMDB_DONE);
        CHECK_EQ_INT(r.http_status, k->req.status);
        CHECK_EQ_INT(r.tmdb_code, k->tmdb_code);
        CHECK_EQ_INT(r.requests, 1);
        CHECK_CONTAINS(r.result_json, k->result_has);
        tmdb_result_cleanup(&r);
    }
}

/* TMDB's delete quirk, made by Prism: 500 / status_code 11 on the DELETE, then the
 * confirming GET, which must pass validation too. */
static void run_delete_quirk(struct tmdb_client *c, struct relay *rl)
{
    static struct exchange ex[MAX_EXCHANGES];
    static const struct rule gone[] = {{"DELETE", "/3/list/8504581", 500},
                                       {"GET", "/3/list/8504581", 404}};
    static const struct expect want_gone[] = {{"DELETE", "/3/list/8504581", 500},
                                              {"GET", "/3/list/8504581", 404}};
    static const struct expect want_there[] = {{"DELETE", "/3/list/8504581", 500},
                                               {"GET", "/3/list/8504581", 200}};
    struct tmdb_result r;
    int nex;

    printf("delete quirk (Prefer: code=500 on the DELETE):\n");
    nex = run_op(c, rl, gone, 2, OP_DELETE_LIST, LIST_ID, "{}", &r, ex);
    check_exchanges("delete_list", ex, nex, want_gone, 2);
    CHECK_EQ_INT(r.outcome, TMDB_GOAL_HOLDS);
    CHECK_EQ_INT(r.requests, 2);
    CHECK_EQ_INT(r.tmdb_code, 11);
    CHECK_CONTAINS(r.result_json, "\"confirmed_deleted\":true");
    tmdb_result_cleanup(&r);

    /* The GET finds the list: not deleted after all, try again later. */
    nex = run_op(c, rl, gone, 1, OP_DELETE_LIST, LIST_ID, "{}", &r, ex);
    check_exchanges("delete_list", ex, nex, want_there, 2);
    CHECK_EQ_INT(r.outcome, TMDB_TRANSIENT);
    CHECK_EQ_INT(r.requests, 2);
    tmdb_result_cleanup(&r);
}

/* Prism's documented 429 (status_code 25, Retry-After: 2). */
static void run_rate_limit(struct tmdb_client *c, struct relay *rl)
{
    static struct exchange ex[MAX_EXCHANGES];
    static const struct rule limited[] = {{"POST", "/add_item", 429}};
    static const struct expect want[] = {{"POST", "/3/list/8504581/add_item", 429}};
    struct tmdb_result r;
    int nex;

    printf("rate limit (Prefer: code=429):\n");
    nex = run_op(c, rl, limited, 1, OP_ADD_MOVIE, LIST_ID, "{\"movie_id\":550}", &r, ex);
    check_exchanges("add_movie", ex, nex, want, 1);
    CHECK_EQ_INT(r.outcome, TMDB_RATE_LIMITED);
    CHECK_EQ_INT(r.http_status, 429);
    CHECK_EQ_INT(r.tmdb_code, 25);
    CHECK_EQ_INT(r.retry_after_ms, 2000);
    tmdb_result_cleanup(&r);
}

/* Send one hand-made request through the relay; Prism's status, 0 on no answer. */
static long raw_request(int port, const char *method, const char *target,
                        const char *body)
{
    char url[512];
    struct curl_slist *h = NULL;
    CURL *c = curl_easy_init();
    long status = 0;
    FILE *sink = fopen("/dev/null", "w");

    if (c == NULL || sink == NULL)
        goto out;
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, target);
    h = curl_slist_append(h, "Content-Type: application/json;charset=utf-8");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)IO_WAIT_MS);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, sink);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    if (curl_easy_perform(c) != CURLE_OK ||
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
        status = 0;
out:
    if (sink != NULL)
        fclose(sink);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status;
}

/* Prism's validation is live: broken requests are refused, and the relay sees it. */
static void run_negative(struct relay *rl)
{
    static struct exchange ex[MAX_EXCHANGES];
    long st;
    int nex;

    printf("deliberately invalid requests:\n");
    relay_reset(rl, NULL, 0);
    st = raw_request(rl->port, "POST",
                     "/3/list/8504581/add_item?api_key=" API_KEY "&session_id=" SESSION,
                     "{\"media_id\":\"550\"}");
    nex = relay_take(rl, ex);
    printf("  string media_id: POST add_item {\"media_id\":\"550\"} -> %ld\n", st);
    CHECK_EQ_INT(st, 422);
    CHECK_EQ_INT(nex, 1);
    if (nex == 1) {
        CHECK_EQ_INT(ex[0].status, 422);
        CHECK_CONTAINS(ex[0].answer, "media_id must be integer");
    }

    relay_reset(rl, NULL, 0);
    st = raw_request(rl->port, "DELETE", "/3/list/8504581?session_id=" SESSION, NULL);
    nex = relay_take(rl, ex);
    printf(
        "  no credential: DELETE /3/list/8504581 without api_key or Bearer -> %ld %s\n",
        st, nex == 1 ? ex[0].violations : "");
    CHECK_EQ_INT(st, 401);
    CHECK_EQ_INT(nex, 1);
    if (nex == 1)
        CHECK_CONTAINS(ex[0].violations, "security");
}

static bool ci_strict(void)
{
    const char *ci = getenv("CI");

    return ci != NULL && ci[0] != '\0' && strcmp(ci, "false") != 0 &&
           strcmp(ci, "0") != 0;
}

int main(int argc, char **argv)
{
    struct prism prism;
    struct relay relay;
    struct tmdb_client *by_key = NULL, *by_token = NULL;
    struct tmdb_config cfg;
    struct err e;
    char base[64];
    bool curl_up = false, relay_up = false;
    int rc = 1;

    memset(&prism, 0, sizeof prism);
    memset(&relay, 0, sizeof relay);
    relay.lfd = -1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc != 3) {
        fprintf(stderr, "usage: %s PRISM_BIN SPEC_FILE\n", argv[0]);
        return 2;
    }
    if (access(argv[2], R_OK) != 0) {
        fprintf(stderr, "cannot read the spec %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    if (access(argv[1], X_OK) != 0) {
        if (ci_strict()) {
            fprintf(stderr,
                    "Prism is not installed at %s, and CI requires the contract test: "
                    "run scripts/prism.sh\n",
                    argv[1]);
            return 1;
        }
        printf("skip: Prism is not installed at %s (scripts/prism.sh installs it)\n",
               argv[1]);
        return 77;
    }

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "curl_global_init failed\n");
        return 1;
    }
    curl_up = true;
    if (!prism_start(&prism, argv[1], argv[2]))
        goto out;
    printf("Prism is answering on 127.0.0.1:%d (log %s)\n", prism.port, prism.log_path);
    if (!relay_start(&relay, prism.port)) {
        fprintf(stderr, "could not start the relay\n");
        goto out;
    }
    relay_up = true;
    snprintf(base, sizeof base, "http://127.0.0.1:%d", relay.port);

    /* The two ways tmdbq can carry the application's credential on v3 requests. */
    memset(&cfg, 0, sizeof cfg);
    cfg.base_url = base;
    cfg.api_key = API_KEY;
    cfg.connect_timeout_ms = 5000;
    cfg.timeout_ms = IO_WAIT_MS;
    if (tmdb_client_new(&cfg, &by_key, &e) != ST_OK) {
        fprintf(stderr, "tmdb_client_new: %s\n", e.msg);
        goto out;
    }
    cfg.api_key = NULL;
    cfg.read_token = READ_TOKEN;
    if (tmdb_client_new(&cfg, &by_token, &e) != ST_OK) {
        fprintf(stderr, "tmdb_client_new: %s\n", e.msg);
        goto out;
    }

    run_six(by_key, &relay, "application credential: api_key in the query");
    run_six(by_token, &relay, "application credential: read-access token (Bearer)");
    run_delete_quirk(by_key, &relay);
    run_rate_limit(by_key, &relay);
    run_negative(&relay);
    rc = check_exit();
    if (rc != 0)
        prism_log_tail(&prism, 6000);
out:
    tmdb_client_free(by_key);
    tmdb_client_free(by_token);
    if (relay_up)
        relay_stop(&relay);
    prism_stop(&prism);
    if (prism.log_path[0] != '\0') {
        if (rc == 0)
            unlink(prism.log_path);
        else
            fprintf(stderr, "Prism's log is kept in %s\n", prism.log_path);
    }
    if (curl_up)
        curl_global_cleanup();
    printf("contract.prism: %s\n", rc == 0 ? "passed" : "FAILED");
    return rc;
}
