/*
 * test_http_api: tmdbq-http against the real PostgreSQL and RabbitMQ, every endpoint and
 * every error status, over loopback.
 *
 * One server (A) runs with the test's database and prefix, a fake TMDB for /v1/apply and
 * a pool of 2 handles. Its answers are compared with what the `tmdbq` command prints for
 * the same rows (show, pending, failed, stats), so the API and the CLI cannot drift.
 * Covered: configuration errors (exit 2), /healthz, auth (401 for no token, a wrong one,
 * one that differs only in its last byte, another scheme), enqueue (201 + Location, 200
 * duplicate, 400 for each kind of bad input with nothing written), the bulk form, 404,
 * 405, 413 (declared and chunked), retry / cancel / process (200, 404, 409, 400),
 * pending, failed, stats, status, pause / resume, the session (never echoed), apply
 * (200 applied, 202 queued, 422 refused), /metrics parsed as Prometheus text with its
 * values checked against what was fed (common/metrics.c's flush) and what the CLI says,
 * counters kept across a restart of the server, the request log (one line per request,
 * no token, no session), HEAD, SIGTERM.
 *
 * A second server (B) has one handle, a short pool wait and no TMDB key: apply answers
 * 503, and a request finds its only handle busy (held by a cancel that waits on a row
 * lock this test holds) and answers 503 with Retry-After. A third (C) points at a
 * PostgreSQL port nobody listens on: /healthz and /v1 answer 503, and it keeps running.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libpq-fe.h>

#include "check.h"
#include "db.h"
#include "metrics.h"
#include "support.h"

#ifndef TMDBQ_HTTP_BIN
#error "TMDBQ_HTTP_BIN must name the tmdbq-http binary (http/CMakeLists.txt defines it)"
#endif

#define TOKEN "test-token-0123456789-abcdefghij"
#define SESSION "secret-session-4f1c2a"
#define ACCESS "secret-access-9d8e7f"

/* ---- a server and a client --------------------------------------------------------- */

struct server {
    struct ts_proc proc;
    int port;
};

/* Start tmdbq-http (ts_http_start) with this test's token and bounds, extra_env on top.
 * 0 ok, -1 printed. */
static int server_start(struct ts_env *env, const char *label, const char *const *extra,
                        struct server *s)
{
    static const char *const args[] = {"--grace", "2s", NULL};
    const char *set_env[24];
    size_t n = 0;

    set_env[n++] = "TMDBQ_HTTP_TOKEN=" TOKEN;
    set_env[n++] = "TMDBQ_CONNECT_TIMEOUT=2s";
    set_env[n++] = "TMDBQ_TMDB_RATE=0";
    for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 23; i++)
        set_env[n++] = extra[i];
    set_env[n] = NULL;
    s->port = ts_http_start(env, TMDBQ_HTTP_BIN, label, args, set_env, &s->proc);
    return s->port > 0 ? 0 : -1;
}

struct resp {
    long status;
    char *body;
    char *headers;
    size_t body_len, headers_len;
};

static void resp_free(struct resp *r)
{
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof *r);
}

/* One request; token NULL sends no Authorization; header (may be NULL) is one more raw
 * header. Returns the status, -1 when there was no answer. */
static long req(int port, const char *method, const char *path, const char *token,
                const char *body, const char *header, struct resp *r)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hs = NULL;
    char url[1024], auth[600];

    memset(r, 0, sizeof *r);
    r->status = -1;
    if (c == NULL)
        return -1;
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        hs = curl_slist_append(hs, "Content-Type: application/json");
    }
    if (token != NULL) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        hs = curl_slist_append(hs, auth);
    }
    if (header != NULL)
        hs = curl_slist_append(hs, header);
    hs = curl_slist_append(hs, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ts_curl_append);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, ts_curl_append);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    if (r->body == NULL)
        r->body = strdup("");
    if (r->headers == NULL)
        r->headers = strdup("");
    curl_slist_free_all(hs);
    curl_easy_cleanup(c);
    return r->status;
}

/* The request's answer as JSON, after checking its status (printed when it differs). */
static json_t *req_json(int port, const char *method, const char *path, const char *body,
                        long want, const char *where)
{
    struct resp r;
    json_t *v = NULL;

    req(port, method, path, TOKEN, body, NULL, &r);
    if (r.status != want) {
        fprintf(stderr, "%s: %s %s: want %ld, got %ld: %s\n", where, method, path, want,
                r.status, r.body);
        check_failures++;
    } else {
        v = ts_json_parse(r.body);
    }
    resp_free(&r);
    return v;
}

/* Whether the response's headers have this line (case-insensitive name). */
static bool has_header(const struct resp *r, const char *name, const char *value)
{
    char want[300];

    snprintf(want, sizeof want, "%s: %s", name, value);
    for (const char *p = r->headers; p != NULL && *p; p = strchr(p, '\n')) {
        if (*p == '\n')
            p++;
        if (strncasecmp(p, want, strlen(want)) == 0)
            return true;
    }
    return false;
}

/* The error text of a {"error": ...} body, or "" (and a failed check) when not one. */
static void check_error_body(const struct resp *r, const char *contains)
{
    json_t *v = ts_json_parse(r->body);
    const char *msg = v != NULL ? ts_json_str(v, "error") : NULL;

    CHECK(msg != NULL);
    if (msg != NULL && contains != NULL)
        CHECK_CONTAINS(msg, contains);
    json_decref(v);
}

static void expect_status(int port, const char *method, const char *path,
                          const char *token, const char *body, long want,
                          const char *contains)
{
    struct resp r;

    req(port, method, path, token, body, NULL, &r);
    if (r.status != want) {
        fprintf(stderr, "%s %s: want %ld, got %ld: %s\n", method, path, want, r.status,
                r.body);
        check_failures++;
    } else if (want >= 400) {
        check_error_body(&r, contains);
    }
    resp_free(&r);
}

/* The CLI's JSON for the same question. */
static json_t *cli_json(struct ts_env *env, const char *const *args)
{
    struct ts_result r = {0};
    json_t *v = NULL;

    if (ts_runv(env, NULL, NULL, &r, args) == 0)
        v = ts_json_parse(r.out);
    else
        ts_result_dump(args[0], &r);
    ts_result_free(&r);
    return v;
}

static void check_same_json(json_t *a, json_t *b, const char *what)
{
    if (a == NULL || b == NULL || !json_equal(a, b)) {
        char *x = a != NULL ? json_dumps(a, JSON_COMPACT) : NULL;
        char *y = b != NULL ? json_dumps(b, JSON_COMPACT) : NULL;
        fprintf(stderr, "%s differ:\n  http: %s\n  cli:  %s\n", what, x ? x : "(null)",
                y ? y : "(null)");
        free(x);
        free(y);
        check_failures++;
    }
}

static long rows(const struct ts_env *env)
{
    return ts_sql_long(env, "SELECT count(*) FROM queued_list_operations");
}

/* ---- Prometheus text -----------------------------------------------------------------
 */

/* The value of the sample with exactly this name and label text ("" for none, else
 * e.g. `status="pending"`), or -1 when the page has none. Also checks every line of the
 * page is a comment or a well-formed sample whose family was typed before it. */
static double prom_value(const char *page, const char *name, const char *labels)
{
    char want[300];
    const char *p;

    if (labels[0] != '\0')
        snprintf(want, sizeof want, "\n%s{%s} ", name, labels);
    else
        snprintf(want, sizeof want, "\n%s ", name);
    p = strstr(page, want);
    if (p == NULL)
        return -1;
    return strtod(p + strlen(want), NULL);
}

/* Every line: "# HELP name text", "# TYPE name type", or a sample `name{k="v",...} value`
 * of a family typed above it; histograms' buckets are cumulative and end with +Inf equal
 * to _count. Returns the number of samples, -1 after printing the first bad line. */
static long prom_check(const char *page)
{
    char typed[128][96];
    size_t ntyped = 0;
    long samples = 0;
    double last_bucket = -1;
    char line[2048];

    for (const char *p = page; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
        char name[96];
        size_t k = 0;

        if (len >= sizeof line) {
            fprintf(stderr, "metrics: line too long\n");
            return -1;
        }
        memcpy(line, p, len);
        line[len] = '\0';
        p += len + (nl != NULL ? 1 : 0);
        if (len == 0)
            continue;
        if (strncmp(line, "# HELP ", 7) == 0)
            continue;
        if (strncmp(line, "# TYPE ", 7) == 0) {
            char type[32];
            if (sscanf(line + 7, "%95s %31s", typed[ntyped], type) != 2 ||
                (strcmp(type, "gauge") != 0 && strcmp(type, "counter") != 0 &&
                 strcmp(type, "histogram") != 0)) {
                fprintf(stderr, "metrics: bad TYPE line: %s\n", line);
                return -1;
            }
            if (ntyped < 127)
                ntyped++;
            last_bucket = -1;
            continue;
        }
        if (line[0] == '#') {
            fprintf(stderr, "metrics: unexpected comment: %s\n", line);
            return -1;
        }
        while (k < sizeof name - 1 &&
               (line[k] == '_' || line[k] == ':' || (line[k] >= 'a' && line[k] <= 'z') ||
                (line[k] >= 'A' && line[k] <= 'Z') ||
                (k > 0 && line[k] >= '0' && line[k] <= '9')))
            k++;
        memcpy(name, line, k);
        name[k] = '\0';
        if (k == 0 || (line[k] != ' ' && line[k] != '{')) {
            fprintf(stderr, "metrics: bad sample name: %s\n", line);
            return -1;
        }
        {
            const char *v = line + k, *end;
            char *num_end = NULL;
            bool family_ok = false;
            double value;

            if (*v == '{') {
                /* label pairs: key="value" with \\ \" \n escapes, comma-separated */
                v++;
                while (*v != '}') {
                    while ((*v >= 'a' && *v <= 'z') || *v == '_')
                        v++;
                    if (v[0] != '=' || v[1] != '"')
                        goto bad;
                    v += 2;
                    while (*v != '"') {
                        if (*v == '\0')
                            goto bad;
                        v += *v == '\\' ? 2 : 1;
                    }
                    v++;
                    if (*v == ',')
                        v++;
                    else if (*v != '}')
                        goto bad;
                }
                v++;
            }
            if (*v != ' ')
                goto bad;
            end = v + 1;
            value = strtod(end, &num_end);
            if (num_end == end || *num_end != '\0')
                goto bad;
            for (size_t i = 0; i < ntyped; i++) {
                size_t tl = strlen(typed[i]);
                if (strncmp(name, typed[i], tl) == 0 &&
                    (name[tl] == '\0' || strcmp(name + tl, "_bucket") == 0 ||
                     strcmp(name + tl, "_sum") == 0 || strcmp(name + tl, "_count") == 0))
                    family_ok = true;
            }
            if (!family_ok) {
                fprintf(stderr, "metrics: sample of an untyped family: %s\n", line);
                return -1;
            }
            if (strstr(name, "_bucket") != NULL) {
                if (value < last_bucket) {
                    fprintf(stderr, "metrics: buckets not cumulative at: %s\n", line);
                    return -1;
                }
                last_bucket = value;
            }
            samples++;
            continue;
        }
    bad:
        fprintf(stderr, "metrics: malformed sample: %s\n", line);
        return -1;
    }
    return samples;
}

/* ---- the parts -----------------------------------------------------------------------
 */

static void test_config_errors(struct ts_env *env)
{
    struct {
        const char *env[3];
        const char *says;
    } cases[] = {
        {{"TMDBQ_HTTP_TOKEN", NULL}, "TMDBQ_HTTP_TOKEN is required"},
        {{"TMDBQ_HTTP_TOKEN=short", NULL}, "TMDBQ_HTTP_TOKEN: must be"},
        {{"TMDBQ_HTTP_TOKEN=" TOKEN, "TMDBQ_HTTP_LISTEN=nowhere", NULL},
         "TMDBQ_HTTP_LISTEN"},
        {{"TMDBQ_HTTP_TOKEN=" TOKEN, "TMDBQ_HTTP_POOL=0", NULL}, "TMDBQ_HTTP_POOL"},
    };
    const char *argv[] = {"tmdbq-http", NULL};

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ts_proc p;
        char label[32], *err;

        snprintf(label, sizeof label, "cfg%zu", i);
        if (ts_proc_start(env, TMDBQ_HTTP_BIN, argv, cases[i].env, label, &p) != 0) {
            check_failures++;
            continue;
        }
        CHECK_EQ_INT(ts_proc_wait(&p, 10000), 2);
        err = ts_proc_stderr(&p);
        CHECK_CONTAINS(err, cases[i].says);
        CHECK(strstr(err, TOKEN) == NULL);
        free(err);
    }
}

static void test_auth_and_routes(int port)
{
    struct resp r;
    char almost[] = TOKEN;

    /* No token, a wrong one, one wrong only in its last byte, another scheme: 401. */
    req(port, "GET", "/v1/stats", NULL, NULL, NULL, &r);
    CHECK_EQ_INT(r.status, 401);
    CHECK(has_header(&r, "WWW-Authenticate", "Bearer"));
    check_error_body(&r, "bearer token");
    resp_free(&r);
    expect_status(port, "GET", "/v1/stats", "wrong", NULL, 401, NULL);
    almost[sizeof almost - 2] ^= 1;
    expect_status(port, "GET", "/v1/stats", almost, NULL, 401, NULL);
    expect_status(port, "GET", "/v1/stats", TOKEN "x", NULL, 401, NULL);
    req(port, "GET", "/v1/stats", NULL, NULL, "Authorization: Basic " TOKEN, &r);
    CHECK_EQ_INT(r.status, 401);
    resp_free(&r);
    /* A token is checked before the route, so an unknown /v1 path is 401 without one. */
    expect_status(port, "GET", "/v1/nope", NULL, NULL, 401, NULL);

    /* 404 and 405 (with Allow). */
    expect_status(port, "GET", "/v1/nope", TOKEN, NULL, 404, "no such endpoint");
    expect_status(port, "GET", "/nope", NULL, NULL, 404, NULL); /* "/" is the dashboard */
    expect_status(port, "GET", "/v1/operations/", TOKEN, NULL, 404, NULL);
    req(port, "GET", "/v1/operations", TOKEN, NULL, NULL, &r);
    CHECK_EQ_INT(r.status, 405);
    CHECK(has_header(&r, "Allow", "POST"));
    resp_free(&r);
    req(port, "DELETE", "/v1/stats", TOKEN, NULL, NULL, &r);
    CHECK_EQ_INT(r.status, 405);
    CHECK(has_header(&r, "Allow", "GET, HEAD"));
    resp_free(&r);
    expect_status(port, "POST", "/healthz", NULL, "{}", 405, NULL);
    expect_status(port, "PUT", "/metrics", NULL, "{}", 405, NULL);

    /* /healthz and /metrics need no token; HEAD is GET without a body. */
    expect_status(port, "GET", "/healthz", NULL, NULL, 200, NULL);
    req(port, "HEAD", "/v1/stats", TOKEN, NULL, NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK_STR_EQ(r.body, "");
    resp_free(&r);
}

static void test_enqueue(struct ts_env *env, int port)
{
    struct resp r;
    json_t *a, *b, *cli;
    long before;
    char *big;
    const char *show[] = {"show", "", "--json", NULL};
    const char *bad[][2] = {
        {"{\"type\":\"add_movie\",\"user\":42,\"list\":7}", "movie_id"},
        {"{\"type\":\"add_movie\",\"user\":42,\"list\":7,\"movie\":-3}", "movie_id"},
        {"{\"type\":\"fly\",\"user\":42}", "fly"},
        {"{\"type\":\"add_movie\",\"user\":\"42\",\"list\":7,\"movie\":5}",
         "\"user\" must be"},
        {"{\"type\":\"add_movie\",\"user\":42,\"list\":7,\"movie\":5,\"x\":1}",
         "unknown field"},
        {"{\"type\":\"add_movie\",\"user\":42,\"user\":43}", "duplicate"},
        {"{\"type\":\"add_movie\",", "invalid JSON"},
        {"[1,2]", "JSON object"},
        {"\"add_movie\"", "invalid JSON"},
        {"{\"operations\":{}}", "bulk form"},
        {"{\"operations\":[],\"type\":\"add_movie\"}", "bulk form"},
    };

    req(port, "POST", "/v1/operations", TOKEN,
        "{\"type\":\"add_movie\",\"user\":42,\"list\":7,\"movie\":550}", NULL, &r);
    CHECK_EQ_INT(r.status, 201);
    a = ts_json_parse(r.body);
    if (a != NULL) {
        char loc[200];
        snprintf(loc, sizeof loc, "/v1/operations/%s", ts_json_str(a, "id"));
        CHECK(has_header(&r, "Location", loc));
        CHECK_STR_EQ(ts_json_str(a, "status"), "pending");
        CHECK_EQ_INT(ts_json_bool(a, "duplicate"), 0);
        CHECK_EQ_INT(ts_json_bool(a, "published"), 1);
        CHECK(ts_json_member_equals(a, "operation_data", "{\"movie_id\":550}"));
    }
    resp_free(&r);
    /* The same again: the pending one, 200, duplicate. Pretty-printed JSON works too. */
    b = req_json(
        port, "POST", "/v1/operations",
        "{\n  \"type\": \"add_movie\",\n  \"user\": 42,\n  \"list\": 7,\n  \"data\": "
        "{\"movie_id\": 550}\n}",
        200, "duplicate");
    if (a != NULL && b != NULL) {
        CHECK_STR_EQ(ts_json_str(b, "id"), ts_json_str(a, "id"));
        CHECK_EQ_INT(ts_json_bool(b, "duplicate"), 1);
    }
    CHECK_EQ_INT(rows(env), 1);
    CHECK_EQ_INT(ts_queue_depth(env, "work", 1, 5000), 1);
    /* GET it: what `tmdbq show --json` prints, but for the enqueue-only duplicate. */
    if (a != NULL) {
        char path[200];
        json_t *got;

        snprintf(path, sizeof path, "/v1/operations/%s", ts_json_str(a, "id"));
        got = req_json(port, "GET", path, NULL, 200, "show");
        show[1] = ts_json_str(a, "id");
        cli = cli_json(env, show);
        check_same_json(got, cli, "GET /v1/operations/{id} and tmdbq show");
        json_decref(got);
        json_decref(cli);
    }
    json_decref(a);
    json_decref(b);

    /* Bad input: 400, nothing written. */
    before = rows(env);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_status(port, "POST", "/v1/operations", TOKEN, bad[i][0], 400, bad[i][1]);
    expect_status(port, "POST", "/v1/operations", TOKEN, "", 400, "JSON body");
    CHECK_EQ_INT(rows(env), before);

    /* 413: a body just over 1 MiB, announced (Content-Length) and not (chunked). */
    big = malloc(1024 * 1024 + 2);
    if (big != NULL) {
        memset(big, ' ', 1024 * 1024 + 1);
        big[0] = '{';
        big[1024 * 1024] = '}';
        big[1024 * 1024 + 1] = '\0';
        expect_status(port, "POST", "/v1/operations", TOKEN, big, 413, "1048576");
        req(port, "POST", "/v1/operations", TOKEN, big, "Transfer-Encoding: chunked", &r);
        CHECK_EQ_INT(r.status, 413);
        resp_free(&r);
        /* Exactly 1 MiB is accepted (and refused for what it says, not its size). */
        big[1024 * 1024 - 1] = '}';
        big[1024 * 1024] = '\0';
        expect_status(port, "POST", "/v1/operations", TOKEN, big, 400,
                      "\"type\" is required");
        free(big);
    }
    CHECK_EQ_INT(rows(env), before);
}

static void test_bulk(struct ts_env *env, int port)
{
    json_t *v, *res;
    long before = rows(env);

    v = req_json(port, "POST", "/v1/operations",
                 "{\"operations\":["
                 "{\"type\":\"add_movie\",\"user\":43,\"list\":8,\"movie\":680},"
                 "{\"type\":\"add_movie\",\"user\":43},"
                 "{\"type\":\"add_movie\",\"user\":43,\"list\":8,\"movie\":680},"
                 "{\"type\":\"clear_list\",\"user\":43,\"list\":9}]}",
                 200, "bulk");
    if (v == NULL)
        return;
    res = json_object_get(v, "results");
    CHECK_EQ_INT(json_array_size(res), 4);
    CHECK_EQ_INT(ts_json_int(v, "enqueued", -1), 2);
    CHECK_EQ_INT(ts_json_int(v, "duplicates", -1), 1);
    CHECK_EQ_INT(ts_json_int(v, "invalid", -1), 1);
    for (size_t i = 0; i < json_array_size(res); i++)
        CHECK_EQ_INT(ts_json_int(json_array_get(res, i), "index", -1), (long long)i);
    CHECK_EQ_INT(ts_json_bool(json_array_get(res, 0), "ok"), 1);
    CHECK_EQ_INT(ts_json_bool(json_array_get(res, 1), "ok"), 0);
    CHECK_CONTAINS(ts_json_str(json_array_get(res, 1), "error"), "\"list\" is required");
    CHECK_STR_EQ(ts_json_str(json_object_get(json_array_get(res, 2), "operation"), "id"),
                 ts_json_str(json_object_get(json_array_get(res, 0), "operation"), "id"));
    CHECK_EQ_INT(rows(env), before + 2);
    json_decref(v);

    v = req_json(port, "POST", "/v1/operations", "{\"operations\":[]}", 200,
                 "empty bulk");
    if (v != NULL)
        CHECK_EQ_INT(json_array_size(json_object_get(v, "results")), 0);
    json_decref(v);
}

/* Retry, cancel, process: 200 on the right status, 409 on another, 404, 400. */
static void test_control(struct ts_env *env, int port)
{
    json_t *op, *v;
    char id[40], path[200], sql[300];
    const char *unknown = "00000000-0000-4000-8000-000000000000";
    const char *verbs[] = {"retry", "cancel", "process"};

    op = req_json(port, "POST", "/v1/operations",
                  "{\"type\":\"add_movie\",\"user\":44,\"list\":10,\"movie\":11}", 201,
                  "control");
    if (op == NULL)
        return;
    snprintf(id, sizeof id, "%s", ts_json_str(op, "id"));
    json_decref(op);

    snprintf(path, sizeof path, "/v1/operations/%s/process", id);
    v = req_json(port, "POST", path, NULL, 200, "process");
    CHECK_STR_EQ(v != NULL ? ts_json_str(v, "status") : NULL, "pending");
    json_decref(v);
    snprintf(path, sizeof path, "/v1/operations/%s/retry", id);
    expect_status(port, "POST", path, TOKEN, NULL, 409, "only a failed operation");
    snprintf(path, sizeof path, "/v1/operations/%s/cancel", id);
    v = req_json(port, "POST", path, NULL, 200, "cancel");
    CHECK_STR_EQ(v != NULL ? ts_json_str(v, "status") : NULL, "cancelled");
    json_decref(v);
    expect_status(port, "POST", path, TOKEN, NULL, 409, "is cancelled");
    snprintf(path, sizeof path, "/v1/operations/%s/process", id);
    expect_status(port, "POST", path, TOKEN, NULL, 409, NULL);

    /* A failed one can be retried. */
    snprintf(sql, sizeof sql,
             "UPDATE queued_list_operations SET status = 'failed', error_message = 'x', "
             "error_kind = 'permanent' WHERE id = '%s'",
             id);
    CHECK_EQ_INT(ts_sql_exec(env, sql), 0);
    snprintf(path, sizeof path, "/v1/operations/%s/retry", id);
    v = req_json(port, "POST", path, NULL, 200, "retry");
    if (v != NULL) {
        CHECK_STR_EQ(ts_json_str(v, "status"), "pending");
        CHECK_EQ_INT(ts_json_int(v, "retry_count", -1), 0);
        CHECK(ts_json_is_null(v, "error_message"));
    }
    json_decref(v);

    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "/v1/operations/%s/%s", unknown, verbs[i]);
        expect_status(port, "POST", path, TOKEN, NULL, 404, unknown);
        snprintf(path, sizeof path, "/v1/operations/not-a-uuid/%s", verbs[i]);
        expect_status(port, "POST", path, TOKEN, NULL, 400, "not an operation id");
        snprintf(path, sizeof path, "/v1/operations/%s/%s", id, verbs[i]);
        expect_status(port, "GET", path, TOKEN, NULL, 405, NULL);
    }
    snprintf(path, sizeof path, "/v1/operations/%s", unknown);
    expect_status(port, "GET", path, TOKEN, NULL, 404, "no operation");
    expect_status(port, "GET", "/v1/operations/123", TOKEN, NULL, 400,
                  "not an operation id");
}

/* pending, failed, stats, status: the CLI's answers. */
static void test_reads(struct ts_env *env, int port)
{
    const char *pending[] = {"pending", "--user", "42", "--json", NULL};
    const char *failed[] = {"failed", "--limit", "5", "--json", NULL};
    const char *stats[] = {"stats", "--json", NULL};
    json_t *h, *c, *st;

    h = req_json(port, "GET", "/v1/users/42/pending", NULL, 200, "pending");
    c = cli_json(env, pending);
    CHECK(h != NULL && json_array_size(h) == 1);
    check_same_json(h, c, "pending");
    json_decref(h);
    json_decref(c);
    expect_status(port, "GET", "/v1/users/abc/pending", TOKEN, NULL, 400,
                  "positive integer");
    expect_status(port, "GET", "/v1/users/0/pending", TOKEN, NULL, 400,
                  "positive integer");
    expect_status(port, "GET", "/v1/users/99999999999/pending", TOKEN, NULL, 400, NULL);

    CHECK_EQ_INT(ts_sql_exec(env, "UPDATE queued_list_operations SET status = 'failed', "
                                  "error_message = 'gone', error_kind = 'permanent' "
                                  "WHERE tmdb_list_id = 9"),
                 0);
    h = req_json(port, "GET", "/v1/failed?limit=5", NULL, 200, "failed");
    c = cli_json(env, failed);
    CHECK(h != NULL && json_array_size(h) == 1);
    check_same_json(h, c, "failed");
    json_decref(h);
    json_decref(c);
    h = req_json(port, "GET", "/v1/failed", NULL, 200, "failed, default limit");
    CHECK(h != NULL && json_array_size(h) == 1);
    json_decref(h);
    expect_status(port, "GET", "/v1/failed?limit=0", TOKEN, NULL, 400, "limit");
    expect_status(port, "GET", "/v1/failed?limit=10001", TOKEN, NULL, 400, "limit");
    expect_status(port, "GET", "/v1/failed?limit=ten", TOKEN, NULL, 400, "limit");

    h = req_json(port, "GET", "/v1/stats", NULL, 200, "stats");
    c = cli_json(env, stats);
    check_same_json(h, c, "stats");
    st = req_json(port, "GET", "/v1/status", NULL, 200, "status");
    if (st != NULL) {
        check_same_json(json_object_get(st, "stats"), c, "status.stats");
        CHECK_EQ_INT(ts_json_bool(st, "paused"), 0);
        CHECK_EQ_INT(ts_json_bool(json_object_get(st, "broker"), "reachable"), 1);
    }
    json_decref(st);
    json_decref(h);
    json_decref(c);
}

static void test_pause(int port)
{
    json_t *v;

    v = req_json(port, "POST", "/v1/pause", NULL, 200, "pause");
    CHECK(v != NULL && ts_json_bool(v, "paused") == 1 && ts_json_bool(v, "changed") == 1);
    json_decref(v);
    v = req_json(port, "POST", "/v1/pause", NULL, 200, "pause again");
    CHECK(v != NULL && ts_json_bool(v, "paused") == 1 && ts_json_bool(v, "changed") == 0);
    json_decref(v);
    v = req_json(port, "GET", "/v1/status", NULL, 200, "status paused");
    CHECK(v != NULL && ts_json_bool(v, "paused") == 1);
    json_decref(v);
    v = req_json(port, "POST", "/v1/resume", NULL, 200, "resume");
    CHECK(v != NULL && ts_json_bool(v, "paused") == 0 && ts_json_bool(v, "changed") == 1);
    json_decref(v);
    expect_status(port, "GET", "/v1/pause", TOKEN, NULL, 405, NULL);
}

static void test_session(struct ts_env *env, int port)
{
    struct resp r;
    json_t *v;
    char *stored;

    /* An operation that failed for lack of credentials comes back with them. */
    CHECK_EQ_INT(ts_sql_exec(env, "UPDATE queued_list_operations SET status = 'failed', "
                                  "error_message = 'no session', error_kind = "
                                  "'credentials' WHERE tmdb_user_id = 43 AND "
                                  "status = 'pending'"),
                 0);
    req(port, "PUT", "/v1/users/43/session", TOKEN,
        "{\"session_id\":\"" SESSION "\",\"access_token\":\"" ACCESS "\"}", NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK(strstr(r.body, SESSION) == NULL && strstr(r.body, ACCESS) == NULL);
    v = ts_json_parse(r.body);
    CHECK(v != NULL && ts_json_member_equals(v, "session_id", "\"set\"") &&
          ts_json_member_equals(v, "access_token", "\"set\"") &&
          ts_json_int(v, "retried", -1) == 1 && ts_json_int(v, "tmdb_user_id", -1) == 43);
    json_decref(v);
    resp_free(&r);
    stored = ts_sql_value(env, "SELECT session_id || '/' || access_token FROM "
                               "tmdb_user_credentials WHERE tmdb_user_id = 43");
    CHECK_STR_EQ(stored, SESSION "/" ACCESS);
    free(stored);
    CHECK_EQ_INT(ts_sql_long(env, "SELECT count(*) FROM queued_list_operations WHERE "
                                  "tmdb_list_id = 8 AND status = 'pending'"),
                 1);

    v = req_json(port, "PUT", "/v1/users/43/session",
                 "{\"session_id\":\"" SESSION "\",\"access_token\":null}", 200,
                 "no token");
    CHECK(v != NULL && ts_json_member_equals(v, "access_token", "\"unset\""));
    json_decref(v);
    expect_status(port, "PUT", "/v1/users/43/session", TOKEN, "{}", 400, "session_id");
    expect_status(port, "PUT", "/v1/users/43/session", TOKEN, "{\"session_id\":\"\"}",
                  400, "empty");
    expect_status(port, "PUT", "/v1/users/43/session", TOKEN, "{\"session_id\":5}", 400,
                  "must be a string");
    expect_status(port, "PUT", "/v1/users/43/session", TOKEN,
                  "{\"session_id\":\"s\",\"password\":\"p\"}", 400, "unknown field");
    expect_status(port, "PUT", "/v1/users/x/session", TOKEN, "{\"session_id\":\"s\"}",
                  400, NULL);
    v = req_json(port, "DELETE", "/v1/users/43/session", NULL, 200, "session rm");
    CHECK(v != NULL && ts_json_bool(v, "removed") == 1);
    json_decref(v);
    expect_status(port, "DELETE", "/v1/users/43/session", TOKEN, NULL, 404,
                  "no TMDB credentials");
    expect_status(port, "GET", "/v1/users/43/session", TOKEN, NULL, 405, NULL);
}

static void test_apply(struct ts_env *env, int port, const struct ts_fake *f)
{
    json_t *v;

    if (ts_user(env, f, 50, "apply-session", NULL) != 0 ||
        ts_fake_list(f, 500, 50, NULL, 0) != 0) {
        check_failures++;
        return;
    }
    v = req_json(port, "POST", "/v1/apply",
                 "{\"type\":\"add_movie\",\"user\":50,\"list\":500,\"movie\":550}", 200,
                 "apply");
    if (v != NULL) {
        CHECK_STR_EQ(ts_json_str(v, "outcome"), "applied");
        CHECK_STR_EQ(ts_json_str(json_object_get(v, "operation"), "status"), "completed");
    }
    json_decref(v);
    v = req_json(port, "POST", "/v1/apply",
                 "{\"type\":\"add_movie\",\"user\":50,\"list\":999,\"movie\":550}", 422,
                 "apply refused");
    if (v != NULL) {
        CHECK_STR_EQ(ts_json_str(v, "outcome"), "failed");
        CHECK_EQ_INT(ts_json_int(v, "http_status", -1), 404);
        CHECK(ts_json_str(v, "error") != NULL);
    }
    json_decref(v);
    CHECK_EQ_INT(ts_fake_faults(f, "{\"fail_first\":1,\"fail_status\":503}"), 0);
    v = req_json(port, "POST", "/v1/apply",
                 "{\"type\":\"add_movie\",\"user\":50,\"list\":500,\"movie\":680}", 202,
                 "apply queued");
    if (v != NULL) {
        CHECK_STR_EQ(ts_json_str(v, "outcome"), "queued");
        CHECK_STR_EQ(ts_json_str(v, "reason"), "tmdb_unavailable");
        CHECK_STR_EQ(ts_json_str(json_object_get(v, "operation"), "status"), "pending");
    }
    json_decref(v);
    expect_status(port, "POST", "/v1/apply", TOKEN,
                  "{\"type\":\"add_movie\",\"user\":50}", 400, "\"list\" is required");
    expect_status(port, "POST", "/v1/apply", TOKEN, "{\"type\":\"add_movie\",\"zz\":1}",
                  400, "unknown field");
    expect_status(port, "POST", "/v1/apply", TOKEN, "nope", 400, "invalid JSON");
}

/* Feed the counters the way a consumer will, then read them back through /metrics. */
static void test_metrics(struct ts_env *env, struct server *a)
{
    struct metrics *m = NULL;
    struct db *db = NULL, *wrong = NULL;
    struct err e = {0};
    struct resp r;
    char labels[200];
    const char *stats[] = {"stats", "--json", NULL};
    json_t *cli;
    double v;

    if (metrics_new(&m, &e) != ST_OK || db_open(env->db_url, 5000, &db, &e) != ST_OK) {
        fprintf(stderr, "metrics setup: %s\n", e.msg);
        check_failures++;
        goto out;
    }
    metrics_count_outcome(m, DB_OUT_COMPLETED);
    metrics_count_outcome(m, DB_OUT_COMPLETED);
    metrics_count_outcome(m, DB_OUT_FAILED);
    metrics_count_outcome(m, DB_OUT_RETRY);
    metrics_count_tmdb_request(m, 200, 5000);    /* le 0.01 */
    metrics_count_tmdb_request(m, 200, 30000);   /* le 0.05 */
    metrics_count_tmdb_request(m, 201, 200000);  /* le 0.25 */
    metrics_count_tmdb_request(m, 429, 2000000); /* le 2.5 */
    metrics_count_tmdb_request(m, 0, 31000000);  /* +Inf, no answer */
    CHECK(metrics_pending(m));

    /* A flush that fails (a database without migration 009: the admin one) keeps the
     * deltas. */
    if (db_open(env->admin_url, 5000, &wrong, &e) == ST_OK) {
        CHECK_EQ_INT(metrics_flush(m, wrong, &e), ST_DB);
        CHECK_CONTAINS(e.msg, "tmdbq migrate");
        CHECK(metrics_pending(m));
    }
    db_close(wrong);
    memset(&e, 0, sizeof e);
    CHECK_EQ_INT(metrics_flush(m, db, &e), ST_OK);
    CHECK(!metrics_pending(m));
    CHECK_EQ_INT(metrics_flush(m, db, &e), ST_OK); /* nothing to send */
    CHECK_EQ_INT(ts_sql_long(env, "SELECT value FROM tmdbq_metrics WHERE name = "
                                  "'operations_finished' AND label = 'completed'"),
                 2);
    /* A second process's flush adds to the same rows. */
    metrics_count_outcome(m, DB_OUT_COMPLETED);
    metrics_count_tmdb_request(m, 200, 7000);
    CHECK_EQ_INT(metrics_flush(m, db, &e), ST_OK);
    /* The SQL refuses a negative delta and arrays of different lengths. */
    CHECK(ts_sql_exec(env, "SELECT tmdbq_metrics_add('{a}', '{b}', '{-1}')") != 0);
    CHECK(ts_sql_exec(env, "SELECT tmdbq_metrics_add('{a,b}', '{b}', '{1}')") != 0);

    /* A scope of TMDB's request budget, as a consumer's lease makes it. */
    {
        struct db_rate_ask ask = {"queue", 40, 25, 1, 1000, 3, 1, 0};
        struct db_rate_grant g;
        CHECK_EQ_INT(db_rate_lease(db, &ask, &g, &e), ST_OK);
    }

    for (int round = 0; round < 2; round++) {
        if (round == 1) {
            /* Counters live in PostgreSQL: a restarted server shows the same. */
            CHECK_EQ_INT(ts_proc_stop(&a->proc, 10000), 0);
            if (server_start(env, "a2", NULL, a) != 0) {
                check_failures++;
                break;
            }
        }
        req(a->port, "GET", "/metrics", NULL, NULL, NULL, &r);
        CHECK_EQ_INT(r.status, 200);
        CHECK(has_header(&r, "Content-Type", "text/plain; version=0.0.4"));
        CHECK(prom_check(r.body) > 40);
        CHECK_EQ_INT(prom_value(r.body, "tmdbq_operations_finished_total",
                                "outcome=\"completed\""),
                     3);
        CHECK_EQ_INT(
            prom_value(r.body, "tmdbq_operations_finished_total", "outcome=\"failed\""),
            1);
        CHECK_EQ_INT(
            prom_value(r.body, "tmdbq_operations_finished_total", "outcome=\"retry\""),
            1);
        CHECK_EQ_INT(prom_value(r.body, "tmdbq_tmdb_requests_total", "code=\"200\""), 3);
        CHECK_EQ_INT(prom_value(r.body, "tmdbq_tmdb_requests_total", "code=\"201\""), 1);
        CHECK_EQ_INT(prom_value(r.body, "tmdbq_tmdb_requests_total", "code=\"429\""), 1);
        CHECK_EQ_INT(prom_value(r.body, "tmdbq_tmdb_requests_total", "code=\"none\""), 1);
        CHECK_EQ_INT(prom_value(r.body, "tmdbq_tmdb_request_duration_seconds_bucket",
                                "le=\"0.01\""),
                     2);
        CHECK_EQ_INT(prom_value(r.body, "tmdbq_tmdb_request_duration_seconds_bucket",
                                "le=\"0.05\""),
                     3);
        CHECK_EQ_INT(prom_value(r.body, "tmdbq_tmdb_request_duration_seconds_bucket",
                                "le=\"0.25\""),
                     4);
        CHECK_EQ_INT(
            prom_value(r.body, "tmdbq_tmdb_request_duration_seconds_bucket", "le=\"1\""),
            4);
        CHECK_EQ_INT(prom_value(r.body, "tmdbq_tmdb_request_duration_seconds_bucket",
                                "le=\"2.5\""),
                     5);
        CHECK_EQ_INT(
            prom_value(r.body, "tmdbq_tmdb_request_duration_seconds_bucket", "le=\"30\""),
            5);
        CHECK_EQ_INT(prom_value(r.body, "tmdbq_tmdb_request_duration_seconds_bucket",
                                "le=\"+Inf\""),
                     6);
        CHECK_EQ_INT(prom_value(r.body, "tmdbq_tmdb_request_duration_seconds_count", ""),
                     6);
        v = prom_value(r.body, "tmdbq_tmdb_request_duration_seconds_sum", "");
        CHECK(v > 33.2419 && v < 33.2421);

        /* Gauges: what the CLI and the broker say now. */
        cli = cli_json(env, stats);
        if (cli != NULL) {
            const char *st[] = {"pending", "processing", "completed", "failed",
                                "cancelled"};
            for (size_t i = 0; i < 5; i++) {
                snprintf(labels, sizeof labels, "status=\"%s\"", st[i]);
                CHECK_EQ_INT(prom_value(r.body, "tmdbq_operations", labels),
                             ts_json_int(cli, st[i], -2));
            }
            CHECK(ts_json_int(cli, "pending", 0) > 0);
        }
        json_decref(cli);
        CHECK(prom_value(r.body, "tmdbq_oldest_pending_age_seconds", "") > 0);
        CHECK_EQ_INT(prom_value(r.body, "tmdbq_paused", ""), 0);
        CHECK_EQ_INT(prom_value(r.body, "tmdbq_consumers_live", ""), 0);
        CHECK_EQ_INT(prom_value(r.body, "tmdbq_broker_up", ""), 1);
        snprintf(labels, sizeof labels, "queue=\"%s.work\",state=\"ready\"", env->prefix);
        CHECK_EQ_INT(prom_value(r.body, "tmdbq_queue_messages", labels),
                     ts_queue_depth(
                         env, "work",
                         (long)prom_value(r.body, "tmdbq_queue_messages", labels), 3000));
        snprintf(labels, sizeof labels, "queue=\"%s.retry.30s\",state=\"ready\"",
                 env->prefix);
        CHECK_EQ_INT(prom_value(r.body, "tmdbq_queue_messages", labels), 0);
        CHECK_EQ_INT(prom_value(r.body, "tmdbq_tmdb_budget_rate", "scope=\"queue\""), 40);
        CHECK(prom_value(r.body, "tmdbq_tmdb_budget_requests_last_minute",
                         "scope=\"queue\"") >= 3);
        CHECK_EQ_INT(prom_value(r.body, "tmdbq_tmdb_budget_rate_limited_last_minute",
                                "scope=\"queue\""),
                     1);
        CHECK(prom_value(r.body, "tmdbq_http_pool_size", "") > 0);
        resp_free(&r);
    }
out:
    db_close(db);
    metrics_free(m);
}

/* Server B: one handle, a 300 ms wait for it, no TMDB key. */
struct held {
    int port;
    char path[200];
    long status;
};

static void *cancel_thread(void *arg)
{
    struct held *h = arg;
    struct resp r;

    h->status = req(h->port, "POST", h->path, TOKEN, NULL, NULL, &r);
    resp_free(&r);
    return NULL;
}

static void test_busy_pool(struct ts_env *env)
{
    const char *extra[] = {"TMDBQ_HTTP_POOL=1", "TMDBQ_HTTP_POOL_WAIT=300ms",
                           "TMDB_API_KEY", "TMDB_ACCESS_TOKEN", NULL};
    struct server b;
    struct resp r;
    struct held h = {0};
    pthread_t t;
    PGconn *pg = NULL;
    PGresult *res;
    json_t *op;
    char sql[300];

    if (server_start(env, "b", extra, &b) != 0) {
        check_failures++;
        return;
    }
    expect_status(b.port, "POST", "/v1/apply", TOKEN,
                  "{\"type\":\"add_movie\",\"user\":1,\"list\":2,\"movie\":3}", 503,
                  "TMDB_API_KEY");
    op = req_json(b.port, "POST", "/v1/operations",
                  "{\"type\":\"add_movie\",\"user\":60,\"list\":600,\"movie\":1}", 201,
                  "b");
    pg = PQconnectdb(env->db_url);
    if (op == NULL || PQstatus(pg) != CONNECTION_OK) {
        check_failures++;
        goto out;
    }
    /* Hold the row: the cancel waits on it, holding the only handle. */
    snprintf(sql, sizeof sql,
             "BEGIN; SELECT 1 FROM queued_list_operations WHERE id = '%s' FOR UPDATE",
             ts_json_str(op, "id"));
    res = PQexec(pg, sql);
    CHECK_EQ_INT(PQresultStatus(res), PGRES_TUPLES_OK);
    PQclear(res);
    h.port = b.port;
    snprintf(h.path, sizeof h.path, "/v1/operations/%s/cancel", ts_json_str(op, "id"));
    if (pthread_create(&t, NULL, cancel_thread, &h) != 0) {
        check_failures++;
        goto out;
    }
    ts_sleep_ms(500);
    req(b.port, "GET", "/v1/stats", TOKEN, NULL, NULL, &r);
    CHECK_EQ_INT(r.status, 503);
    CHECK(has_header(&r, "Retry-After", "1"));
    check_error_body(&r, "busy");
    resp_free(&r);
    /* /healthz does not use the pool: it still answers. */
    expect_status(b.port, "GET", "/healthz", NULL, NULL, 200, NULL);
    res = PQexec(pg, "COMMIT");
    PQclear(res);
    pthread_join(t, NULL);
    CHECK_EQ_INT(h.status, 200);
    expect_status(b.port, "GET", "/v1/stats", TOKEN, NULL, 200, NULL);
    {
        char *page = NULL;
        req(b.port, "GET", "/metrics", NULL, NULL, NULL, &r);
        page = r.body;
        CHECK(prom_value(page, "tmdbq_http_pool_timeouts_total", "") >= 1);
        CHECK_EQ_INT(prom_value(page, "tmdbq_http_requests_total", "code=\"503\""), 2);
        resp_free(&r);
    }
out:
    PQfinish(pg);
    json_decref(op);
    CHECK_EQ_INT(ts_proc_stop(&b.proc, 10000), 0);
}

/* Server C: PostgreSQL is not there. */
static void test_no_database(struct ts_env *env)
{
    char url[200];
    const char *extra[] = {url, NULL};
    struct server c;
    struct resp r;
    int port = ts_free_port();

    snprintf(url, sizeof url,
             "TMDBQ_DATABASE_URL=postgresql://tmdbq:tmdbq@127.0.0.1:%d/nothing", port);
    if (server_start(env, "c", extra, &c) != 0) {
        check_failures++;
        return;
    }
    req(c.port, "GET", "/healthz", NULL, NULL, NULL, &r);
    CHECK_EQ_INT(r.status, 503);
    CHECK_CONTAINS(r.body, "unavailable");
    CHECK(strstr(r.body, "tmdbq:tmdbq") == NULL);
    resp_free(&r);
    req(c.port, "GET", "/v1/stats", TOKEN, NULL, NULL, &r);
    CHECK_EQ_INT(r.status, 503);
    CHECK(has_header(&r, "Retry-After", "1"));
    check_error_body(&r, "could not connect");
    resp_free(&r);
    expect_status(c.port, "POST", "/v1/operations", TOKEN,
                  "{\"type\":\"add_movie\",\"user\":1,\"list\":2,\"movie\":3}", 503,
                  NULL);
    req(c.port, "GET", "/metrics", NULL, NULL, NULL, &r);
    CHECK_EQ_INT(r.status, 503);
    resp_free(&r);
    CHECK(ts_proc_running(&c.proc));
    CHECK_EQ_INT(ts_proc_stop(&c.proc, 10000), 0);
}

static void test_log(struct server *a)
{
    char *log = ts_proc_stderr(&a->proc);

    CHECK_CONTAINS(log, "listening on 127.0.0.1:");
    CHECK_CONTAINS(log, "GET /healthz 200 ");
    CHECK_CONTAINS(log, "POST /v1/operations 201 ");
    CHECK_CONTAINS(log, "ms from 127.0.0.1 op=");
    CHECK(strstr(log, TOKEN) == NULL);
    CHECK(strstr(log, SESSION) == NULL);
    CHECK(strstr(log, ACCESS) == NULL);
    free(log);
}

int main(void)
{
    struct ts_env env;
    struct ts_fake fake;
    struct server a = {0};
    char url[120], key[120];
    const char *extra[] = {url, key, "TMDBQ_APPLY_TIMEOUT=3s", NULL};
    int rc = ts_setup(&env, "http_api");
    char *log;

    if (rc != 0) {
        ts_teardown(&env);
        return rc;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (ts_fake_start(&env, &fake, NULL, NULL) != 0)
        goto fail;
    snprintf(url, sizeof url, "TMDB_API_URL=%s", fake.url);
    snprintf(key, sizeof key, "TMDB_API_KEY=%s", fake.api_key);

    test_config_errors(&env);
    if (server_start(&env, "a", extra, &a) != 0)
        goto fail;
    test_auth_and_routes(a.port);
    test_enqueue(&env, a.port);
    test_bulk(&env, a.port);
    test_control(&env, a.port);
    test_reads(&env, a.port);
    test_pause(a.port);
    test_session(&env, a.port);
    test_apply(&env, a.port, &fake);
    test_log(&a);
    test_metrics(&env, &a);
    test_busy_pool(&env);
    test_no_database(&env);

    /* SIGTERM: a clean stop. */
    CHECK_EQ_INT(ts_proc_stop(&a.proc, 10000), 0);
    log = ts_proc_stderr(&a.proc);
    CHECK_CONTAINS(log, "stopped");
    free(log);
    goto out;
fail:
    check_failures++;
out:
    curl_global_cleanup();
    ts_teardown(&env);
    return check_exit();
}
