/*
 * test_http_openapi: http/openapi.json checked against what tmdbq-http really answers.
 *
 * Prism (`prism proxy`, tests/contract's pinned install) sits between this test and a
 * real tmdbq-http on the real services, and validates every request and every response
 * against the document; each violation comes back in the sl-violations header. Every
 * endpoint is called for every status the test can make it answer (200, 201, 202, 400,
 * 401, 404, 409, 413, 422; 503 through a second server whose PostgreSQL is missing). A
 * case passes when the status is the expected one and Prism reports no violation of the
 * response (nor of the request, for requests meant to be valid). The document served at
 * GET /v1/openapi.json must be byte for byte the file Prism checked. The dashboard's
 * files (/ and /ui/...) go through Prism too (their content types, 404). Two deliberate
 * mismatches prove the check can fail: a spec edited to call a required field by another
 * name must produce a response violation.
 *
 * Prism is looked for where scripts/prism.sh installs it (<build>/prism). Missing: skip
 * (77) by hand, failure under CI.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "check.h"
#include "support.h"

#ifndef TMDBQ_HTTP_BIN
#error "TMDBQ_HTTP_BIN must name the tmdbq-http binary (http/CMakeLists.txt defines it)"
#endif

#define TOKEN "openapi-token-0123456789abcdef"

/* ---- processes --------------------------------------------------------------------- */

/* Start tmdbq-http (ts_http_start) with this test's token and bounds, extra on top; its
 * port, -1 printed. */
static int server_start(struct ts_env *env, const char *label, const char *const *extra,
                        struct ts_proc *p)
{
    const char *set_env[16];
    size_t n = 0;

    set_env[n++] = "TMDBQ_HTTP_TOKEN=" TOKEN;
    set_env[n++] = "TMDBQ_CONNECT_TIMEOUT=2s";
    set_env[n++] = "TMDBQ_TMDB_RATE=0";
    for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 15; i++)
        set_env[n++] = extra[i];
    set_env[n] = NULL;
    return ts_http_start(env, TMDBQ_HTTP_BIN, label, NULL, set_env, p);
}

struct resp {
    long status;
    char *body;
    char *violations; /* the sl-violations header, "" when none */
};

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct resp *r = arg;
    size_t len = size * n;

    if (len > 15 && strncasecmp(p, "sl-violations:", 14) == 0) {
        free(r->violations);
        r->violations = strndup(p + 14, len - 14);
    }
    return len;
}

static long req(int port, const char *method, const char *path, const char *token,
                const char *body, struct resp *r)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hs = NULL;
    char url[1024], auth[300];

    memset(r, 0, sizeof *r);
    r->status = -1;
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        hs = curl_slist_append(hs, "Content-Type: application/json");
    }
    if (token != NULL) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        hs = curl_slist_append(hs, auth);
    }
    hs = curl_slist_append(hs, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ts_curl_append);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    if (r->body == NULL)
        r->body = strdup("");
    if (r->violations == NULL)
        r->violations = strdup("");
    curl_slist_free_all(hs);
    curl_easy_cleanup(c);
    return r->status;
}

static void resp_free(struct resp *r)
{
    free(r->body);
    free(r->violations);
}

/* Start `prism proxy SPEC http://127.0.0.1:UPSTREAM` on a free port and wait until it
 * forwards (/healthz answers through it). Its port, -1 printed. */
static int prism_start(struct ts_env *env, const char *bin, const char *spec,
                       int upstream, const char *label, struct ts_proc *p)
{
    char up[64], port_s[16];
    int port = ts_free_port();
    const char *argv[] = {"prism",     "proxy", spec,   up,  "-h",
                          "127.0.0.1", "-p",    port_s, NULL};
    const char *set_env[] = {"NODE_ENV", NULL};
    long long end;
    struct resp r;

    snprintf(up, sizeof up, "http://127.0.0.1:%d", upstream);
    snprintf(port_s, sizeof port_s, "%d", port);
    if (port < 0 || ts_proc_start(env, bin, argv, set_env, label, p) != 0)
        return -1;
    end = ts_now_ms() + 60000;
    while (ts_now_ms() < end && ts_proc_running(p)) {
        long st = req(port, "GET", "/healthz", NULL, NULL, &r);
        resp_free(&r);
        if (st > 0)
            return port;
        ts_sleep_ms(200);
    }
    fprintf(stderr, "%s did not start\n", label);
    ts_proc_dump(p, 4000);
    return -1;
}

/* ---- the cases -----------------------------------------------------------------------
 */

/* Whether violations (Prism's JSON array) hold one whose location starts with where. */
static bool violated(const char *violations, const char *where)
{
    json_t *v = violations[0] != '\0' ? json_loads(violations, 0, NULL) : NULL;
    size_t i;
    json_t *x;
    bool found = false;

    if (violations[0] != '\0' && v == NULL)
        return true; /* "Too many violations!..." */
    json_array_foreach(v, i, x)
    {
        json_t *loc = json_array_get(json_object_get(x, "location"), 0);
        if (json_is_string(loc) && strcmp(json_string_value(loc), where) == 0)
            found = true;
    }
    json_decref(v);
    return found;
}

/* One case through Prism: the status, and no violation of the response (nor of the
 * request when valid_request). The body is returned (malloc'd) for chaining. */
static char *expect(int port, const char *method, const char *path, const char *token,
                    const char *body, long want, bool valid_request)
{
    struct resp r;
    char *out;

    req(port, method, path, token, body, &r);
    if (r.status != want || violated(r.violations, "response") ||
        (valid_request && violated(r.violations, "request"))) {
        fprintf(stderr,
                "%s %s: want %ld without violations, got %ld\n  body: %.400s\n"
                "  sl-violations: %s\n",
                method, path, want, r.status, r.body, r.violations);
        check_failures++;
    }
    out = r.body;
    r.body = NULL;
    resp_free(&r);
    return out;
}

static void run_cases(struct ts_env *env, int port, const struct ts_fake *f)
{
    char *body, id[40] = "", path[200];
    json_t *v;
    const char *op = "{\"type\":\"add_movie\",\"user\":42,\"list\":7,\"movie\":550}";
    char *big;

    free(expect(port, "GET", "/healthz", NULL, NULL, 200, true));
    free(expect(port, "GET", "/v1/stats", NULL, NULL, 401, false));
    free(expect(port, "GET", "/v1/stats", "wrong-token", NULL, 401, false));

    body = expect(port, "POST", "/v1/operations", TOKEN, op, 201, true);
    v = json_loads(body, 0, NULL);
    if (v != NULL)
        snprintf(id, sizeof id, "%s", ts_json_str(v, "id") ? ts_json_str(v, "id") : "");
    json_decref(v);
    free(body);
    free(expect(port, "POST", "/v1/operations", TOKEN, op, 200, true));
    free(expect(port, "POST", "/v1/operations", TOKEN,
                "{\"operations\":[{\"type\":\"clear_list\",\"user\":42,\"list\":8},"
                "{\"type\":\"add_movie\",\"user\":42}]}",
                200, true));
    free(expect(port, "POST", "/v1/operations", TOKEN,
                "{\"type\":\"add_movie\",\"user\":42}", 400, true));
    free(expect(port, "POST", "/v1/operations", TOKEN, "{\"type\":\"add_movie\",\"x\":1}",
                400, false));
    /* Over 1 MiB in a string, which Prism forwards as it is (it re-serialises JSON, so
     * padding with blanks would shrink). */
    big = malloc(1100000);
    if (big != NULL) {
        memset(big, 'a', 1099999);
        memcpy(big, "{\"name\":\"", 9);
        memcpy(big + 1099999 - 2, "\"}", 2);
        big[1099999] = '\0';
        free(expect(port, "POST", "/v1/operations", TOKEN, big, 413, false));
        free(big);
    }

    snprintf(path, sizeof path, "/v1/operations/%s", id);
    free(expect(port, "GET", path, TOKEN, NULL, 200, true));
    free(expect(port, "GET", "/v1/operations/00000000-0000-4000-8000-000000000000", TOKEN,
                NULL, 404, true));
    free(expect(port, "GET", "/v1/operations/nope", TOKEN, NULL, 400, true));
    snprintf(path, sizeof path, "/v1/operations/%s/process", id);
    free(expect(port, "POST", path, TOKEN, NULL, 200, true));
    snprintf(path, sizeof path, "/v1/operations/%s/retry", id);
    free(expect(port, "POST", path, TOKEN, NULL, 409, true));
    snprintf(path, sizeof path, "/v1/operations/%s/cancel", id);
    free(expect(port, "POST", path, TOKEN, NULL, 200, true));
    free(expect(port, "POST",
                "/v1/operations/00000000-0000-4000-8000-000000000000/cancel", TOKEN, NULL,
                404, true));
    if (ts_sql_exec(env, "UPDATE queued_list_operations SET status = 'failed', "
                         "error_message = 'x', error_kind = 'permanent' "
                         "WHERE status = 'cancelled'") == 0) {
        snprintf(path, sizeof path, "/v1/operations/%s/retry", id);
        free(expect(port, "POST", path, TOKEN, NULL, 200, true));
    }
    CHECK_EQ_INT(ts_sql_exec(env, "UPDATE queued_list_operations SET status = 'failed', "
                                  "error_message = 'gone', error_kind = 'permanent' "
                                  "WHERE tmdb_list_id = 8"),
                 0);

    free(expect(port, "GET", "/v1/users/42/pending", TOKEN, NULL, 200, true));
    free(expect(port, "GET", "/v1/users/abc/pending", TOKEN, NULL, 400, false));
    free(expect(port, "GET", "/v1/failed?limit=5", TOKEN, NULL, 200, true));
    free(expect(port, "GET", "/v1/failed", TOKEN, NULL, 200, true));
    free(expect(port, "GET", "/v1/failed?limit=0", TOKEN, NULL, 400, false));
    free(expect(port, "GET", "/v1/stats", TOKEN, NULL, 200, true));
    free(expect(port, "GET", "/v1/history", TOKEN, NULL, 200, true));
    {
        /* A failed operation can be cancelled (given up for good). */
        char *failed = ts_sql_value(env, "SELECT id FROM queued_list_operations WHERE "
                                         "status = 'failed' LIMIT 1");
        CHECK(failed != NULL);
        snprintf(path, sizeof path, "/v1/operations/%s/cancel", failed ? failed : "x");
        free(expect(port, "POST", path, TOKEN, NULL, 200, true));
        free(failed);
    }
    free(expect(port, "GET", "/", NULL, NULL, 200, true));
    free(expect(port, "GET", "/ui/app.js", NULL, NULL, 200, true));
    free(expect(port, "GET", "/ui/app.css", NULL, NULL, 200, true));
    free(expect(port, "GET", "/ui/icon.svg", NULL, NULL, 200, true));
    free(expect(port, "GET", "/ui/nope.js", NULL, NULL, 404, true));
    free(expect(port, "POST", "/v1/pause", TOKEN, NULL, 200, true));
    free(expect(port, "POST", "/v1/resume", TOKEN, NULL, 200, true));
    free(expect(port, "PUT", "/v1/users/42/session", TOKEN,
                "{\"session_id\":\"s-42\",\"access_token\":\"t-42\"}", 200, true));
    free(expect(port, "PUT", "/v1/users/42/session", TOKEN, "{\"session_id\":5}", 400,
                false));
    free(expect(port, "DELETE", "/v1/users/42/session", TOKEN, NULL, 200, true));
    free(expect(port, "DELETE", "/v1/users/42/session", TOKEN, NULL, 404, true));

    if (ts_user(env, f, 50, "s-50", NULL) == 0 &&
        ts_fake_list(f, 500, 50, NULL, 0) == 0) {
        free(expect(port, "POST", "/v1/apply", TOKEN,
                    "{\"type\":\"add_movie\",\"user\":50,\"list\":500,\"movie\":1}", 200,
                    true));
        free(expect(port, "POST", "/v1/apply", TOKEN,
                    "{\"type\":\"add_movie\",\"user\":50,\"list\":404,\"movie\":1}", 422,
                    true));
        CHECK_EQ_INT(ts_fake_faults(f, "{\"fail_first\":1,\"fail_status\":503}"), 0);
        free(expect(port, "POST", "/v1/apply", TOKEN,
                    "{\"type\":\"add_movie\",\"user\":50,\"list\":500,\"movie\":2}", 202,
                    true));
        free(expect(port, "POST", "/v1/apply", TOKEN,
                    "{\"type\":\"add_movie\",\"user\":50}", 400, true));
    } else {
        check_failures++;
    }
    /* Last: the status then holds a budget scope, queues, and pending work. */
    free(expect(port, "GET", "/v1/status", TOKEN, NULL, 200, true));
    free(expect(port, "GET", "/metrics", NULL, NULL, 200, true));
}

/* The served document is the file Prism checks. */
static void check_served(int port, const char *spec)
{
    struct resp r;
    FILE *f = fopen(spec, "rb");
    char *file = NULL;
    long len = -1;

    if (f != NULL && fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) > 0 &&
        fseek(f, 0, SEEK_SET) == 0 && (file = calloc(1, (size_t)len + 1)) != NULL &&
        fread(file, 1, (size_t)len, f) != (size_t)len)
        len = -1;
    if (f != NULL)
        fclose(f);
    req(port, "GET", "/v1/openapi.json", TOKEN, NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK(len > 0 && file != NULL && strcmp(r.body, file) == 0);
    resp_free(&r);
    free(file);
}

/* A copy of the spec where the Operation schema requires a field the server never sends:
 * Prism must see the response as a violation. */
static int write_broken_spec(const char *spec, const char *out)
{
    json_t *doc = json_load_file(spec, 0, NULL), *req_fields;
    int rc = -1;

    req_fields = json_object_get(
        json_object_get(json_object_get(json_object_get(doc, "components"), "schemas"),
                        "Operation"),
        "required");
    if (json_is_array(req_fields) &&
        json_array_append_new(req_fields, json_string("priority")) == 0 &&
        json_dump_file(doc, out, JSON_INDENT(1)) == 0)
        rc = 0;
    json_decref(doc);
    return rc;
}

int main(void)
{
    struct ts_env env;
    struct ts_fake fake;
    struct ts_proc server, server2, prism, dead, prism2, broken_prism;
    char url[120], key[120], dead_db[200], broken[400];
    const char *spec = TMDBQ_HTTP_OPENAPI, *bin = TMDBQ_HTTP_PRISM_BIN;
    const char *extra[] = {url, key, "TMDBQ_APPLY_TIMEOUT=3s", NULL};
    const char *dead_extra[] = {dead_db, NULL};
    int rc, sport, pport;
    struct stat sb;

    if (stat(bin, &sb) != 0) {
        if (getenv("CI") != NULL) {
            fprintf(stderr,
                    "Prism is not installed at %s (scripts/prism.sh installs it)\n", bin);
            return 1;
        }
        printf(
            "skipped: Prism is not installed at %s (bash scripts/prism.sh BUILD_DIR)\n",
            bin);
        return 77;
    }
    rc = ts_setup(&env, "http_openapi");
    if (rc != 0) {
        ts_teardown(&env);
        return rc;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (ts_fake_start(&env, &fake, NULL, NULL) != 0)
        goto fail;
    snprintf(url, sizeof url, "TMDB_API_URL=%s", fake.url);
    snprintf(key, sizeof key, "TMDB_API_KEY=%s", fake.api_key);
    sport = server_start(&env, "http", extra, &server);
    if (sport < 0)
        goto fail;
    check_served(sport, spec);
    pport = prism_start(&env, bin, spec, sport, "prism", &prism);
    if (pport < 0)
        goto fail;
    run_cases(&env, pport, &fake);

    /* 503s: a server whose PostgreSQL is not there. */
    snprintf(dead_db, sizeof dead_db,
             "TMDBQ_DATABASE_URL=postgresql://tmdbq:tmdbq@127.0.0.1:%d/nothing",
             ts_free_port());
    sport = server_start(&env, "dead", dead_extra, &dead);
    pport = sport > 0 ? prism_start(&env, bin, spec, sport, "prism2", &prism2) : -1;
    if (pport < 0)
        goto fail;
    free(expect(pport, "GET", "/healthz", NULL, NULL, 503, true));
    free(expect(pport, "GET", "/v1/stats", TOKEN, NULL, 503, true));
    free(expect(pport, "GET", "/v1/history", TOKEN, NULL, 503, true));
    free(expect(pport, "POST", "/v1/operations", TOKEN,
                "{\"type\":\"add_movie\",\"user\":1,\"list\":2,\"movie\":3}", 503, true));
    free(expect(pport, "GET", "/metrics", NULL, NULL, 503, true));
    ts_proc_stop(&prism2, 5000);

    /* The check can fail: a spec that wants a field the server never sends. */
    snprintf(broken, sizeof broken, "%s/broken.openapi.json", ts_work_dir(&env));
    if (write_broken_spec(spec, broken) != 0) {
        check_failures++;
    } else {
        struct resp r;
        sport = server_start(&env, "http2", extra, &server2);
        pport = sport > 0 ? prism_start(&env, bin, broken, sport, "prism3", &broken_prism)
                          : -1;
        if (pport < 0)
            goto fail;
        req(pport, "GET", "/v1/users/42/pending", TOKEN, NULL, &r);
        CHECK_EQ_INT(r.status, 200);
        CHECK(violated(r.violations, "response"));
        CHECK_CONTAINS(r.violations, "priority");
        resp_free(&r);
    }
    goto out;
fail:
    check_failures++;
out:
    curl_global_cleanup();
    ts_teardown(&env);
    return check_exit();
}
