/*
 * fuzz_tmdb_answer: TMDB's answer (status, headers, body) through the whole client path,
 * tmdb_execute, so what is fuzzed is what the consumer runs: libcurl's reading of the
 * answer, the Retry-After parser, the body parser, the classification, the message and
 * the result kept on the row. common/tmdb.c has no pure entry point for an answer, so a
 * server thread on loopback answers every request with the canned answer the input
 * describes:
 *
 *   byte 0      operation type (mod 6)
 *   byte 1      bit 0: the client authenticates with a read token, not an API key
 *               bit 1: add a correct Content-Length (else the body ends at close)
 *               bit 2: first an ordinary exchange (200, JSON, a TMDB body) on the same
 *               client, which reuses one libcurl handle as a consumer's worker does:
 *               what a previous answer left in the handle meets this one, and a single
 *               input still reproduces it
 *   bytes 2-3   HTTP status, 100 + value mod 900
 *   then        header lines up to a NUL byte (split at \n, \r dropped, empty lines
 *               skipped), then the body: the rest
 *
 * Properties: the outcome is one an answer can have; the message is terminated and never
 * holds a secret the client knows (tmdb.h's promise: its API key or read token, the
 * session id and v4 token, raw or URL-escaped: the canaries below, which the dictionary
 * and the seeds carry); a result is kept only for done or goal-holds and is a JSON
 * object; Retry-After lands in [1 s, 1 day] when rate limited and in [0, 1 day] when
 * transient, 0 otherwise; one request, or two for the delete quirk; and done only for the
 * answer tmdb_classify_answer calls done (a 2xx that is not TMDB's JSON never counts as
 * a success), whenever the client read the input's own status and body (the input's
 * headers do not frame the body, and the status is not 1xx).
 *
 * TMDBQ_FUZZ_VERBOSE=1 prints each outcome (for replaying an input by hand).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "fuzz.h"
#include "log.h"
#include "op.h"
#include "tmdb.h"

#define API_KEY "fuzzApiKeyCanary4711"
#define READ_TOKEN "fuzz/ReadToken+Canary=4712"
#define SESSION_ID "fuzz/SessionCanary+4713"
#define ACCESS_TOKEN "fuzzAccessTokenCanary4714"
#define IO_WAIT_MS 2000

/* The secrets each client knows: its application credential, and the user's. */
static const char *const key_secrets[] = {
    API_KEY, SESSION_ID, "fuzz%2FSessionCanary%2B4713", ACCESS_TOKEN, NULL,
};
static const char *const token_secrets[] = {
    READ_TOKEN,   "fuzz%2FReadToken%2BCanary%3D4712",
    SESSION_ID,   "fuzz%2FSessionCanary%2B4713",
    ACCESS_TOKEN, NULL,
};

static const char *const data_of[OP_TYPE_COUNT] = {
    [OP_CREATE_LIST] = "{\"description\":\"d\",\"name\":\"n\"}",
    [OP_UPDATE_LIST] = "{\"name\":\"n\",\"public\":true}",
    [OP_DELETE_LIST] = "{}",
    [OP_CLEAR_LIST] = "{}",
    [OP_ADD_MOVIE] = "{\"movie_id\":550}",
    [OP_REMOVE_MOVIE] = "{\"movie_id\":550}",
};

static int listen_fd = -1;
static struct tmdb_client *client_key, *client_token;
static bool verbose;

/* The canned answer, written by the fuzzing thread between calls, read by the server. */
static pthread_mutex_t answer_lock = PTHREAD_MUTEX_INITIALIZER;
static char *answer;
static size_t answer_len;

static bool wait_fd(int fd, short events, int ms)
{
    struct pollfd p = {fd, events, 0};
    int rc;

    do
        rc = poll(&p, 1, ms);
    while (rc < 0 && errno == EINTR);
    return rc > 0;
}

/* Read one request, head and Content-Length body, so closing leaves nothing unread (an
 * unread byte turns the close into a reset that can beat the answer). */
static bool read_request(int fd)
{
    char buf[16384];
    size_t have = 0, want = 0;
    char *end = NULL;

    while (end == NULL) {
        ssize_t n;

        if (have == sizeof buf - 1 || !wait_fd(fd, POLLIN, IO_WAIT_MS))
            return false;
        n = recv(fd, buf + have, sizeof buf - 1 - have, 0);
        if (n <= 0)
            return false;
        have += (size_t)n;
        buf[have] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    for (char *line = strstr(buf, "\r\n"); line != NULL && line < end;
         line = strstr(line + 2, "\r\n")) {
        if (strncasecmp(line + 2, "Content-Length:", 15) == 0)
            want = strtoul(line + 17, NULL, 10);
    }
    want += (size_t)(end + 4 - buf);
    while (have < want) {
        ssize_t n;

        if (!wait_fd(fd, POLLIN, IO_WAIT_MS))
            return false;
        n = recv(fd, buf, want - have < sizeof buf ? want - have : sizeof buf, 0);
        if (n <= 0)
            return false;
        have += (size_t)n;
    }
    return true;
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void *serve(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept(listen_fd, NULL, NULL);

        if (fd < 0)
            continue;
        if (read_request(fd)) {
            pthread_mutex_lock(&answer_lock);
            send_all(fd, answer, answer_len);
            pthread_mutex_unlock(&answer_lock);
        }
        close(fd);
    }
    return NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    struct tmdb_config cfg = {NULL, NULL, NULL, 1000, 2000};
    char url[64];
    struct err e = {0};
    pthread_t t;
    const char *s = getenv("TMDBQ_FUZZ_VERBOSE");

    (void)argc;
    (void)argv;
    verbose = s != NULL && strcmp(s, "1") == 0;
    log_init("fuzz", LOG_LEVEL_ERROR, LOG_FORMAT_TEXT);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        abort();
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(listen_fd, 16) != 0 ||
        getsockname(listen_fd, (struct sockaddr *)&a, &alen) != 0) {
        perror("fuzz_tmdb_answer: loopback listener");
        abort();
    }
    snprintf(url, sizeof url, "http://127.0.0.1:%d", (int)ntohs(a.sin_port));
    cfg.base_url = url;
    cfg.api_key = API_KEY;
    if (tmdb_client_new(&cfg, &client_key, &e) != ST_OK)
        goto fail;
    cfg.api_key = NULL;
    cfg.read_token = READ_TOKEN;
    if (tmdb_client_new(&cfg, &client_token, &e) != ST_OK)
        goto fail;
    if (pthread_create(&t, NULL, serve, NULL) != 0)
        abort();
    pthread_detach(t);
    return 0;
fail:
    fprintf(stderr, "fuzz_tmdb_answer: %s\n", e.msg);
    abort();
}

/* Status line, the input's header lines, framing, blank line, body. */
static void answer_build(int status, const char *headers, const uint8_t *body, size_t n,
                         bool length)
{
    size_t cap = strlen(headers) * 2 + n + 128, used;
    char *buf = malloc(cap);
    const char *line = headers;

    if (buf == NULL)
        abort();
    used = (size_t)snprintf(buf, cap, "HTTP/1.1 %d X\r\n", status);
    while (*line != '\0') {
        size_t len = strcspn(line, "\n"), kept = 0;

        for (size_t i = 0; i < len; i++) {
            if (line[i] != '\r')
                buf[used + kept++] = line[i];
        }
        if (kept > 0) {
            used += kept;
            memcpy(buf + used, "\r\n", 2);
            used += 2;
        }
        line += len;
        if (*line == '\n')
            line++;
    }
    if (length)
        used += (size_t)snprintf(buf + used, cap - used, "Content-Length: %zu\r\n", n);
    used += (size_t)snprintf(buf + used, cap - used, "Connection: close\r\n\r\n");
    if (n > 0)
        memcpy(buf + used, body, n);
    used += n;

    pthread_mutex_lock(&answer_lock);
    free(answer);
    answer = buf;
    answer_len = used;
    pthread_mutex_unlock(&answer_lock);
}

static void check_no_secret(const char *const *secrets, const char *what, const char *s)
{
    for (size_t i = 0; secrets[i] != NULL; i++)
        FUZZ_CHECK(strstr(s, secrets[i]) == NULL, "%s holds the secret %s: %s", what,
                   secrets[i], s);
}

/* Whether the input's headers frame the body themselves: then the client may have read
 * another body than the input's (as after a 1xx status, when the body holds the next
 * answer). */
static bool frames_body(const char *headers)
{
    size_t n = strlen(headers);
    char *low = malloc(n + 1);
    bool framed;

    if (low == NULL)
        abort();
    for (size_t i = 0; i <= n; i++)
        low[i] = (char)tolower((unsigned char)headers[i]);
    framed =
        strstr(low, "content-length") != NULL || strstr(low, "transfer-encoding") != NULL;
    free(low);
    return framed;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    enum op_type type = (enum op_type)(fuzz_u8(&in) % OP_TYPE_COUNT);
    uint8_t flags = fuzz_u8(&in);
    int status = 100 + (int)(fuzz_bits(&in, 2) % 900);
    char *headers = fuzz_str(&in);
    struct tmdb_creds creds = {SESSION_ID, ACCESS_TOKEN};
    struct tmdb_client *client = (flags & 1) ? client_token : client_key;
    struct tmdb_result r;
    int64_t ra;

    if (flags & 4) {
        static const char ordinary[] = "{\"status_code\":12,\"success\":true}";

        answer_build(200, "Content-Type: application/json;charset=utf-8",
                     (const uint8_t *)ordinary, sizeof ordinary - 1, true);
        tmdb_execute(client, type, 7, data_of[type], &creds, &r);
        tmdb_result_cleanup(&r);
    }
    answer_build(status, headers, in.p, in.n, flags & 2);
    tmdb_execute(client, type, 7, data_of[type], &creds, &r);
    if (verbose)
        fprintf(stderr,
                "fuzz_tmdb_answer: %s, HTTP %d: outcome %d, HTTP %ld, code %d: %s\n",
                op_type_name(type), status, (int)r.outcome, r.http_status, r.tmdb_code,
                r.message);

    FUZZ_CHECK(r.outcome == TMDB_DONE || r.outcome == TMDB_GOAL_HOLDS ||
                   r.outcome == TMDB_TRANSIENT || r.outcome == TMDB_RATE_LIMITED ||
                   r.outcome == TMDB_PERMANENT || r.outcome == TMDB_DEPLOYMENT,
               "outcome %d", (int)r.outcome);
    FUZZ_CHECK(memchr(r.message, '\0', sizeof r.message) != NULL,
               "message not terminated");
    FUZZ_CHECK(r.message[0] != '\0', "empty message");
    check_no_secret((flags & 1) ? token_secrets : key_secrets, "message", r.message);
    FUZZ_CHECK(r.requests == 1 || (r.requests == 2 && type == OP_DELETE_LIST),
               "%d requests for %s", r.requests, op_type_name(type));
    ra = r.retry_after_ms;
    if (r.outcome == TMDB_RATE_LIMITED)
        FUZZ_CHECK(ra >= 1000 && ra <= 86400000, "rate limited, retry after %lld ms",
                   (long long)ra);
    else if (r.outcome == TMDB_TRANSIENT)
        FUZZ_CHECK(ra >= 0 && ra <= 86400000, "transient, retry after %lld ms",
                   (long long)ra);
    else
        FUZZ_CHECK(ra == 0, "outcome %d with retry after %lld ms", (int)r.outcome,
                   (long long)ra);
    if (r.result_json != NULL) {
        json_t *v = json_loads(r.result_json, 0, NULL);

        FUZZ_CHECK(r.outcome == TMDB_DONE || r.outcome == TMDB_GOAL_HOLDS,
                   "a result for outcome %d: %s", (int)r.outcome, r.result_json);
        FUZZ_CHECK(json_is_object(v), "result is not a JSON object: %s", r.result_json);
        json_decref(v);
    }
    if (r.outcome == TMDB_DONE && status >= 200 && !frames_body(headers)) {
        enum tmdb_outcome want =
            tmdb_classify_answer(type, r.http_status, (const char *)in.p, in.n);

        FUZZ_CHECK(r.http_status == status && want == TMDB_DONE,
                   "%s done on HTTP %ld (sent %d) with a body (%zu bytes) "
                   "tmdb_classify_answer calls %d: %s",
                   op_type_name(type), r.http_status, status, in.n, (int)want, r.message);
    }

    tmdb_result_cleanup(&r);
    free(headers);
    return 0;
}
