/*
 * test_http_dashboard: the dashboard tmdbq-http serves at /, in a real headless Chromium,
 * and GET /v1/history, the figures of its chart.
 *
 * The test database gets a known queue (tests/dashboard/fixture.sql: an hour of finished
 * operations, failed ones, pending ones, a registry of consumers and reapers, TMDB's
 * budget with 429s); `tmdbq process --all` publishes the pending ones. Against a real
 * tmdbq-http, the test first checks over HTTP what needs no browser:
 * - the page and its files: served without a token, byte for byte the files of http/ui/,
 *   with their content types and a Content-Security-Policy that allows this origin only;
 *   none of them names another host (the page works with no internet); 404 for an
 *   unknown file, 405 for POST, HEAD;
 * - /v1/history: 60 consecutive minutes ending with the current one, every minute's
 *   completed, failed and cancelled counts and TMDB requests and 429s equal to what the
 *   tables hold, and the oldest pending operation's age; 401 without the token.
 * Then tests/dashboard/dashboard.py drives Chromium through the page (see its header:
 * sign-in, counts, chart, failed list, Retry seen pending on the page and in the
 * database, Cancel, a user's pending operations, pause and resume, phone width, no
 * console error, no outside request, screenshots into <build>/dashboard/). Meanwhile the
 * test keeps the fixture's consumers and reapers alive (heartbeats every 2 s) and TMDB's
 * budget current. Afterwards it checks the database itself.
 *
 * Chromium, chromedriver and Debian's python3-selenium (scripts/setup.sh installs them
 * from http/packages-dev.txt) missing: skip (77) by hand, failure under CI.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "check.h"
#include "support.h"

#ifndef TMDBQ_HTTP_BIN
#error "TMDBQ_HTTP_BIN must name the tmdbq-http binary (http/CMakeLists.txt defines it)"
#endif
#ifndef TMDBQ_DASHBOARD_SCRIPT
#error                                                                                   \
    "TMDBQ_DASHBOARD_SCRIPT must name tests/dashboard/dashboard.py (http/CMakeLists.txt)"
#endif

#define TOKEN "dashboard-token-0123456789abcdef"
/* Debian's interpreter, whatever python3 comes first on PATH: selenium is Debian's. */
#define PYTHON "/usr/bin/python3"
#define CHROMIUM "/usr/bin/chromium"
#define CHROMEDRIVER "/usr/bin/chromedriver"
/* The browser part takes about 15 s; this bounds a hung browser. */
#define BROWSER_MAX_MS 240000

/* ---- HTTP ------------------------------------------------------------------------- */

struct resp {
    long status;
    char *body;
    size_t len;
    char *headers;
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct resp *r = arg;
    size_t add = size * n;
    char *q = realloc(r->body, r->len + add + 1);

    if (q == NULL)
        return 0;
    memcpy(q + r->len, p, add);
    r->len += add;
    q[r->len] = '\0';
    r->body = q;
    return add;
}

static void resp_free(struct resp *r)
{
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof *r);
}

/* One request (token NULL: none); the status, -1 when there was no answer. */
static long req(int port, const char *method, const char *path, const char *token,
                struct resp *r)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hs = NULL;
    char url[512], auth[300];

    memset(r, 0, sizeof *r);
    r->status = -1;
    if (c == NULL)
        return -1;
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (token != NULL) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        hs = curl_slist_append(hs, auth);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
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

/* The value of header name (case-insensitive) in a response, into buf; "" when absent. */
static const char *header(const struct resp *r, const char *name, char *buf, size_t n)
{
    size_t len = strlen(name);
    const char *p = r->headers;

    buf[0] = '\0';
    while (p != NULL && *p != '\0') {
        const char *eol = strstr(p, "\r\n");
        size_t line = eol != NULL ? (size_t)(eol - p) : strlen(p);

        if (line > len && strncasecmp(p, name, len) == 0 && p[len] == ':') {
            const char *v = p + len + 1;
            while (*v == ' ')
                v++;
            snprintf(buf, n, "%.*s", (int)(line - (size_t)(v - p)), v);
            return buf;
        }
        p = eol != NULL ? eol + 2 : NULL;
    }
    return buf;
}

/* A whole file, malloc'd and NUL-terminated (its length in *len); NULL printed. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0 || (buf = malloc((size_t)n + 1)) == NULL ||
        fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "could not read %s: %s\n", path, strerror(errno));
        free(buf);
        buf = NULL;
    } else {
        buf[n] = '\0';
        *len = (size_t)n;
    }
    if (f != NULL)
        fclose(f);
    return buf;
}

/* ---- processes --------------------------------------------------------------------- */

static int server_start(struct ts_env *env, struct ts_proc *p)
{
    static const char *const args[] = {"--grace", "2s", NULL};
    static const char *const set_env[] = {"TMDBQ_HTTP_TOKEN=" TOKEN,
                                          "TMDBQ_CONNECT_TIMEOUT=2s",
                                          "TMDBQ_TMDB_RATE=40", NULL};

    return ts_http_start(env, TMDBQ_HTTP_BIN, "http", args, set_env, p);
}

/* Whether the browser's tools are installed: a missing one is named in why. */
static bool browser_ready(char *why, size_t n)
{
    const char *need[] = {PYTHON, CHROMIUM, CHROMEDRIVER};
    int status;

    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
        if (access(need[i], X_OK) != 0) {
            snprintf(why, n, "%s is not installed", need[i]);
            return false;
        }
    }
    status = system(PYTHON " -c 'import selenium' 2>/dev/null");
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(why, n, "Debian's python3-selenium is not installed");
        return false;
    }
    return true;
}

/* ---- the fixture ------------------------------------------------------------------- */

static int load_fixture(struct ts_env *env)
{
    size_t len = 0;
    char *sql = read_file(TMDBQ_DASHBOARD_FIXTURE, &len);
    struct ts_result r;
    int rc = -1;

    if (sql == NULL)
        return -1;
    if (ts_sql_exec(env, sql) != 0)
        goto out;
    /* Publish the due pending operations, as the reaper's relay would (and declare the
     * topology, so the page has queues to show). */
    if (ts_run(env, NULL, NULL, &r, "process", "--all", NULL) != 0) {
        ts_result_dump("tmdbq process --all", &r);
        ts_result_free(&r);
        goto out;
    }
    ts_result_free(&r);
    rc = 0;
out:
    free(sql);
    return rc;
}

/* What keeps the fixture's registry and budget current while the browser looks. */
static const char heartbeat_sql[] =
    "UPDATE tmdbq_consumers SET last_seen_at = now() WHERE host <> 'api-3';"
    "UPDATE tmdbq_reapers SET last_seen_at = now();"
    "UPDATE tmdbq_reapers SET last_sweep_at = now() - interval '20 seconds'"
    " WHERE is_leader AND last_sweep_at < now() - interval '50 seconds';"
    "UPDATE tmdbq_rate SET updated_at = now();"
    "INSERT INTO tmdbq_rate_stats (scope, bucket, requests, limited)"
    " VALUES ('queue', to_timestamp(floor(extract(epoch FROM now()) / 10) * 10), 335, 0)"
    " ON CONFLICT DO NOTHING";

/* ---- the page's files ----------------------------------------------------------------
 */

/* Every occurrence of "http:" or "https:" in text is the SVG namespace, which names no
 * resource: the page asks nothing of another host. */
static bool names_no_host(const char *text)
{
    static const char ns[] = "http://www.w3.org/2000/svg";
    const char *p = text;

    while ((p = strstr(p, "http")) != NULL) {
        if (strncmp(p, "http:", 5) == 0 || strncmp(p, "https:", 6) == 0) {
            if (strncmp(p, ns, sizeof ns - 1) != 0) {
                fprintf(stderr, "names another host: %.60s\n", p);
                return false;
            }
        }
        p += 4;
    }
    return !strstr(text, "//cdn") && !strstr(text, "@import");
}

static void check_files(int port)
{
    static const struct {
        const char *path, *file, *type;
    } files[] = {
        {"/", "index.html", "text/html; charset=utf-8"},
        {"/ui/app.js", "app.js", "text/javascript; charset=utf-8"},
        {"/ui/app.css", "app.css", "text/css; charset=utf-8"},
        {"/ui/icon.svg", "icon.svg", "image/svg+xml"},
    };
    char hv[512];
    struct resp r;

    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[400];
        size_t len = 0;
        char *want;

        snprintf(path, sizeof path, "%s/%s", TMDBQ_UI_DIR, files[i].file);
        want = read_file(path, &len);
        req(port, "GET", files[i].path, NULL, &r);
        CHECK_EQ_INT(r.status, 200);
        CHECK(want != NULL && r.len == len && memcmp(r.body, want, len) == 0);
        CHECK_STR_EQ(header(&r, "Content-Type", hv, sizeof hv), files[i].type);
        CHECK_CONTAINS(header(&r, "Content-Security-Policy", hv, sizeof hv),
                       "default-src 'none'; script-src 'self'");
        CHECK_CONTAINS(hv, "connect-src 'self'");
        CHECK_STR_EQ(header(&r, "X-Content-Type-Options", hv, sizeof hv), "nosniff");
        CHECK(names_no_host(r.body));
        resp_free(&r);
        free(want);
    }
    CHECK_EQ_INT(req(port, "HEAD", "/", NULL, &r), 200);
    resp_free(&r);
    CHECK_EQ_INT(req(port, "GET", "/ui/nope.js", NULL, &r), 404);
    resp_free(&r);
    CHECK_EQ_INT(req(port, "POST", "/", NULL, &r), 405);
    CHECK_STR_EQ(header(&r, "Allow", hv, sizeof hv), "GET, HEAD");
    resp_free(&r);
    CHECK_EQ_INT(req(port, "GET", "/index.html", NULL, &r), 404);
    resp_free(&r);
}

/* ---- /v1/history ---------------------------------------------------------------------
 */

#define CURRENT_MINUTE                                                                   \
    "SELECT to_char(date_trunc('minute', now()) AT TIME ZONE 'UTC', "                    \
    "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* What the tables hold for the minute that starts at minute (ISO 8601), as
 * "completed:failed:cancelled:requests:limited"; malloc'd, NULL printed. */
static char *minute_in_tables(struct ts_env *env, const char *minute)
{
    char sql[1200];

    snprintf(
        sql, sizeof sql,
        "WITH w AS (SELECT '%s'::timestamptz AS a,"
        "                  '%s'::timestamptz + interval '1 minute' AS b)"
        " SELECT concat_ws(':',"
        "  (SELECT count(*) FROM queued_list_operations q, w"
        "    WHERE q.status = 'completed' AND q.updated_at >= w.a AND q.updated_at < "
        "w.b),"
        "  (SELECT count(*) FROM queued_list_operations q, w"
        "    WHERE q.status = 'failed' AND q.updated_at >= w.a AND q.updated_at < w.b),"
        "  (SELECT count(*) FROM queued_list_operations q, w"
        "    WHERE q.status = 'cancelled' AND q.updated_at >= w.a AND q.updated_at < "
        "w.b),"
        "  (SELECT coalesce(sum(requests), 0) FROM tmdbq_rate_stats s, w"
        "    WHERE s.bucket >= w.a AND s.bucket < w.b),"
        "  (SELECT coalesce(sum(limited), 0) FROM tmdbq_rate_stats s, w"
        "    WHERE s.bucket >= w.a AND s.bucket < w.b))",
        minute, minute);
    return ts_sql_value(env, sql);
}

static void check_history(struct ts_env *env, int port)
{
    struct resp r;
    json_t *h = NULL, *minutes;
    long long prev = 0;
    long sums[5] = {0, 0, 0, 0, 0};
    char *before = NULL, *after = NULL;
    const char *last;
    double want_age;

    CHECK_EQ_INT(req(port, "GET", "/v1/history", NULL, &r), 401);
    resp_free(&r);
    before = ts_sql_value(env, CURRENT_MINUTE);
    CHECK_EQ_INT(req(port, "GET", "/v1/history", TOKEN, &r), 200);
    h = ts_json_parse(r.body);
    resp_free(&r);
    after = ts_sql_value(env, CURRENT_MINUTE);
    CHECK_EQ_INT(req(port, "HEAD", "/v1/history", TOKEN, &r), 200);
    resp_free(&r);
    CHECK_EQ_INT(req(port, "POST", "/v1/history", TOKEN, &r), 405);
    resp_free(&r);
    minutes = json_object_get(h, "minutes");
    CHECK(json_is_array(minutes) && json_array_size(minutes) == 60);
    if (!json_is_array(minutes) || json_array_size(minutes) != 60)
        goto out;

    /* 60 minutes a minute apart, the last the current one by the server's clock (which
     * may turn while the request runs). */
    last = ts_json_str(json_array_get(minutes, 59), "minute");
    CHECK(last != NULL && before != NULL && after != NULL &&
          (strcmp(last, before) == 0 || strcmp(last, after) == 0));
    for (size_t i = 0; i < 60; i++) {
        json_t *m = json_array_get(minutes, i);
        const char *minute = ts_json_str(m, "minute");
        char sql[200], got[120], *want;
        long long t;

        CHECK(minute != NULL);
        if (minute == NULL)
            continue;
        snprintf(sql, sizeof sql, "SELECT extract(epoch FROM '%s'::timestamptz)::bigint",
                 minute);
        t = ts_sql_long(env, sql);
        CHECK(i == 0 || t - prev == 60);
        prev = t;
        /* Every figure of the minute against the tables (nothing writes to them until
         * the browser's heartbeats start). */
        snprintf(got, sizeof got, "%lld:%lld:%lld:%lld:%lld",
                 ts_json_int(m, "completed", -1), ts_json_int(m, "failed", -1),
                 ts_json_int(m, "cancelled", -1), ts_json_int(m, "tmdb_requests", -1),
                 ts_json_int(m, "tmdb_rate_limited", -1));
        want = minute_in_tables(env, minute);
        CHECK_STR_EQ(got, want);
        free(want);
        sums[0] += (long)ts_json_int(m, "completed", 0);
        sums[1] += (long)ts_json_int(m, "failed", 0);
        sums[2] += (long)ts_json_int(m, "cancelled", 0);
        sums[3] += (long)ts_json_int(m, "tmdb_requests", 0);
        sums[4] += (long)ts_json_int(m, "tmdb_rate_limited", 0);
    }
    /* The fixture's hour: every finished row is inside it, and so are the 429s. */
    CHECK_EQ_INT(sums[0], ts_count_status(env, "completed"));
    CHECK_EQ_INT(sums[1], ts_count_status(env, "failed"));
    CHECK_EQ_INT(sums[2], ts_count_status(env, "cancelled"));
    CHECK(sums[3] > 100000);
    CHECK_EQ_INT(sums[4], ts_sql_long(env, "SELECT sum(limited) FROM tmdbq_rate_stats"));

    /* The oldest pending operation: 7 min 12 s old at the fixture's load. */
    want_age =
        (double)ts_sql_long(env, "SELECT extract(epoch FROM now() - "
                                 "min(inserted_at))::bigint FROM "
                                 "queued_list_operations WHERE status = 'pending'");
    {
        json_t *age = json_object_get(h, "oldest_pending_age_s");
        CHECK(json_is_number(age) && json_number_value(age) > 430 &&
              json_number_value(age) - want_age < 5 &&
              want_age - json_number_value(age) < 5);
    }
    CHECK(ts_json_str(h, "now") != NULL && strlen(ts_json_str(h, "now")) == 24);
out:
    free(before);
    free(after);
    json_decref(h);
}

/* ---- the browser ---------------------------------------------------------------------
 */

static int run_browser(struct ts_env *env, int port, const char *retry_id,
                       const char *cancel_id)
{
    char url[80], db[300], retry[120], cancel[120], out[600];
    const char *argv[] = {"python3", TMDBQ_DASHBOARD_SCRIPT, NULL};
    const char *set_env[] = {url,
                             "TMDBQ_DASHBOARD_TOKEN=" TOKEN,
                             db,
                             out,
                             retry,
                             cancel,
                             "TMDBQ_DASHBOARD_USER=42",
                             "PYTHONDONTWRITEBYTECODE=1",
                             NULL};
    struct ts_proc p;
    long long end = ts_now_ms() + BROWSER_MAX_MS, next_beat = 0;
    int status;

    snprintf(url, sizeof url, "TMDBQ_DASHBOARD_URL=http://127.0.0.1:%d/", port);
    snprintf(db, sizeof db, "TMDBQ_DATABASE_URL=%s", env->db_url);
    snprintf(out, sizeof out, "TMDBQ_DASHBOARD_OUT=%s", TMDBQ_DASHBOARD_OUT);
    snprintf(retry, sizeof retry, "TMDBQ_DASHBOARD_RETRY=%s", retry_id);
    snprintf(cancel, sizeof cancel, "TMDBQ_DASHBOARD_CANCEL=%s", cancel_id);
    if (ts_proc_start(env, PYTHON, argv, set_env, "browser", &p) != 0)
        return -1;
    while (ts_proc_running(&p) && ts_now_ms() < end) {
        if (ts_now_ms() >= next_beat) {
            ts_sql_exec(env, heartbeat_sql);
            next_beat = ts_now_ms() + 2000;
        }
        ts_sleep_ms(100);
    }
    /* SIGTERM first: the script then closes Chromium. */
    status = ts_proc_running(&p) ? ts_proc_stop(&p, 15000) : p.status;
    {
        size_t len = 0;
        char *text = read_file(p.out_path, &len);
        if (text != NULL)
            fputs(text, stderr);
        free(text);
    }
    if (status != 0)
        ts_proc_dump(&p, 6000);
    return status;
}

/* The PNG files the script left, each a real image. */
static void check_screenshots(void)
{
    static const char *const names[] = {
        "dashboard-1366x768.png", "dashboard-1366-full.png", "dashboard-390x844.png",
        "dashboard-390-full.png"};

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[600];
        size_t len = 0;
        char *png;

        snprintf(path, sizeof path, "%s/%s", TMDBQ_DASHBOARD_OUT, names[i]);
        png = read_file(path, &len);
        CHECK(png != NULL && len > 10000 && memcmp(png, "\x89PNG\r\n\x1a\n", 8) == 0);
        free(png);
    }
}

int main(void)
{
    struct ts_env env;
    struct ts_proc server;
    char why[200], *retry_id = NULL, *cancel_id = NULL;
    int rc, port;

    if (!browser_ready(why, sizeof why)) {
        if (getenv("CI") != NULL) {
            fprintf(stderr, "%s (scripts/setup.sh installs http/packages-dev.txt)\n",
                    why);
            return 1;
        }
        printf("skipped: %s (bash scripts/setup.sh installs it)\n", why);
        return 77;
    }
    rc = ts_setup(&env, "http_dashboard");
    if (rc != 0) {
        ts_teardown(&env);
        return rc;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    mkdir(TMDBQ_DASHBOARD_OUT, 0755);
    if (load_fixture(&env) != 0)
        goto fail;
    port = server_start(&env, &server);
    if (port < 0)
        goto fail;
    check_files(port);
    check_history(&env, port);

    /* The newest failed operation is retried from the page, the next one cancelled. */
    retry_id = ts_sql_value(&env, "SELECT id FROM queued_list_operations WHERE status = "
                                  "'failed' ORDER BY updated_at DESC LIMIT 1");
    cancel_id = ts_sql_value(&env, "SELECT id FROM queued_list_operations WHERE status = "
                                   "'failed' ORDER BY updated_at DESC OFFSET 1 LIMIT 1");
    if (retry_id == NULL || cancel_id == NULL)
        goto fail;
    CHECK_EQ_INT(run_browser(&env, port, retry_id, cancel_id), 0);

    /* What the page did, as the database holds it. */
    {
        char sql[300];

        snprintf(
            sql, sizeof sql,
            "SELECT status || ':' || retry_count || ':' || (published_at IS NOT NULL) "
            "FROM queued_list_operations WHERE id = '%s'",
            retry_id);
        char *v = ts_sql_value(&env, sql);
        CHECK_STR_EQ(v, "pending:0:true");
        free(v);
        snprintf(sql, sizeof sql,
                 "SELECT status FROM queued_list_operations WHERE id = '%s'", cancel_id);
        v = ts_sql_value(&env, sql);
        CHECK_STR_EQ(v, "cancelled");
        free(v);
        CHECK_EQ_INT(ts_sql_long(&env, "SELECT paused::int FROM tmdbq_control"), 0);
    }
    /* The retry published the operation: the 4 due pending ids and it. */
    CHECK_EQ_INT(ts_queue_depth(&env, "work", 5, 5000), 5);
    check_screenshots();
    CHECK_EQ_INT(ts_proc_stop(&server, 5000), 0);
    goto out;
fail:
    check_failures++;
out:
    free(retry_id);
    free(cancel_id);
    curl_global_cleanup();
    ts_teardown(&env);
    return check_exit();
}
