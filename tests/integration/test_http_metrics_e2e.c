/*
 * test_http_metrics_e2e: the counters of /metrics fed by a real consumer, end to end.
 *
 * 20 add_movie operations are enqueued through tmdbq-http and drained by one
 * tmdbq-consumer against the fake TMDB; the consumer is then stopped with SIGTERM (its
 * last flush), and /metrics must show at least 20 completed outcomes, at least 20 TMDB
 * requests with a 2xx status, and a duration histogram that counted them: the figures
 * come from the consumer through PostgreSQL, not from the HTTP server, which is
 * restarted before the scrape to prove it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "check.h"
#include "support.h"

#ifndef TMDBQ_HTTP_BIN
#error "TMDBQ_HTTP_BIN must name the tmdbq-http binary (http/CMakeLists.txt defines it)"
#endif

#define TOKEN "e2e-token-0123456789abcdefgh"
#define N 20

/* POST body (or GET when NULL) to path; the answer's body (malloc'd) and *status. */
static char *call(int port, const char *path, const char *body, long *status)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hs = curl_slist_append(NULL, "Authorization: Bearer " TOKEN);
    char url[300], *out = NULL;

    *status = -1;
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (body != NULL)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ts_curl_append);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(hs);
    curl_easy_cleanup(c);
    return out != NULL ? out : strdup("");
}

static int http_start(struct ts_env *env, const char *label, struct ts_proc *p)
{
    static const char *const set_env[] = {"TMDBQ_HTTP_TOKEN=" TOKEN, NULL};

    return ts_http_start(env, TMDBQ_HTTP_BIN, label, NULL, set_env, p);
}

/* Sum of the samples of family name whose labels contain match ("" for all). */
static double prom_sum(const char *page, const char *name, const char *match)
{
    double sum = 0;
    size_t nl = strlen(name);

    for (const char *p = page; p != NULL && *p; p = strchr(p, '\n'), p = p ? p + 1 : p) {
        if (strncmp(p, name, nl) != 0 || (p[nl] != '{' && p[nl] != ' '))
            continue;
        const char *sp = strchr(p, ' '), *eol = strchr(p, '\n');
        if (sp == NULL || (eol != NULL && sp > eol))
            continue;
        if (match[0] != '\0') {
            const char *m = strstr(p, match);
            if (m == NULL || m > sp)
                continue;
        }
        sum += strtod(sp + 1, NULL);
    }
    return sum;
}

int main(void)
{
    struct ts_env env;
    struct ts_fake fake;
    struct ts_proc http, consumer;
    const char *extra[] = {"TMDBQ_TMDB_RATE=0", NULL};
    int rc = ts_setup(&env, "http_metrics_e2e"), port;
    char body[200], *page = NULL;
    long status;

    if (rc != 0) {
        ts_teardown(&env);
        return rc;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (ts_fake_start(&env, &fake, NULL, NULL) != 0 ||
        ts_user(&env, &fake, 7, "e2e-session", NULL) != 0 ||
        ts_fake_list(&fake, 70, 7, NULL, 0) != 0)
        goto fail;
    port = http_start(&env, "http", &http);
    if (port < 0)
        goto fail;
    for (int i = 0; i < N; i++) {
        snprintf(body, sizeof body,
                 "{\"type\":\"add_movie\",\"user\":7,\"list\":70,\"movie\":%d}",
                 1000 + i);
        free(call(port, "/v1/operations", body, &status));
        CHECK_EQ_INT(status, 201);
    }
    if (ts_consumer_start(&env, &fake, extra, NULL, &consumer) != 0)
        goto fail;
    CHECK_EQ_INT(ts_wait_final(&env, 60000), 0);
    CHECK_EQ_INT(ts_count_status(&env, "completed"), N);
    CHECK_EQ_INT(ts_proc_stop(&consumer, 30000), 0);

    /* A new server: whatever it shows, it did not count itself. */
    CHECK_EQ_INT(ts_proc_stop(&http, 10000), 0);
    port = http_start(&env, "http2", &http);
    if (port < 0)
        goto fail;
    page = call(port, "/metrics", NULL, &status);
    CHECK_EQ_INT(status, 200);
    if (prom_sum(page, "tmdbq_operations_finished_total", "outcome=\"completed\"") < N ||
        prom_sum(page, "tmdbq_tmdb_requests_total", "code=\"2") < N ||
        prom_sum(page, "tmdbq_tmdb_request_duration_seconds_count", "") < N) {
        fprintf(stderr,
                "/metrics does not show the consumer's %d outcomes and TMDB requests "
                "(docs/http.md, \"Where the counters come from\"):\n%s\n",
                N, page);
        check_failures++;
    }
    goto out;
fail:
    check_failures++;
out:
    free(page);
    curl_global_cleanup();
    ts_teardown(&env);
    return check_exit();
}
