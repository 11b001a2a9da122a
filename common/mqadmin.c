/*
 * mqadmin: RabbitMQ's management HTTP API, read only (see mqadmin.h for the contract).
 *
 * The AMQP URL is taken apart with libcurl's URL parser (which accepts any scheme when
 * asked), not librabbitmq's, so that this module needs nothing from the mq module. The
 * user and password travel only as libcurl options (HTTP basic auth), never in the URL
 * that messages show. Answers are capped at MQADMIN_BODY_MAX bytes: one queue's JSON is a
 * few KiB, plus about half a KiB per consumer.
 */
#include "mqadmin.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "log.h"
#include "mq.h"

#define MQADMIN_BODY_MAX (1024 * 1024)
#define MQADMIN_DEFAULT_PORT "15672"
#define MQADMIN_USER_AGENT "tmdbq/1"

struct mqadmin {
    CURL *curl;
    char where[512]; /* scheme://host:port[/path], no credentials, no trailing slash */
    char *user;
    char *password; /* a secret: only ever handed to libcurl */
    char *vhost;
    int64_t timeout_ms;
    char errbuf[CURL_ERROR_SIZE];
};

struct body {
    char *p;
    size_t len;
    bool too_big;
};

enum status mqadmin_global_init(struct err *e)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return err_set(e, ST_NOMEM, "could not initialise libcurl");
    return ST_OK;
}

void mqadmin_global_cleanup(void) { curl_global_cleanup(); }

/* A part of a parsed URL, decoded, as a new string; NULL when the URL has no such part
 * (or out of memory: the caller checks what it needs). */
static char *url_part(CURLU *u, CURLUPart part, unsigned flags)
{
    char *v = NULL, *copy;

    if (curl_url_get(u, part, &v, flags) != CURLUE_OK)
        return NULL;
    copy = strdup(v);
    curl_free(v);
    return copy;
}

static enum status bad_url(const char *what, const char *url, struct err *e)
{
    char masked[256];

    log_mask_url(url, masked, sizeof masked);
    return err_set(e, ST_INVALID, "invalid %s \"%s\"", what, masked);
}

/* Replace *slot with v when v is not NULL (v is then owned by *slot). */
static void take(char **slot, char *v)
{
    if (v == NULL)
        return;
    free(*slot);
    *slot = v;
}

/* Fill a->where (and, when the URL carries them, user and password) from management_url.
 */
static enum status endpoint_from(struct mqadmin *a, const char *url, struct err *e)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *clean = NULL;
    enum status st = ST_OK;
    size_t len;

    if (u == NULL)
        return err_set(e, ST_NOMEM, "out of memory");
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
        st = bad_url("TMDBQ_AMQP_MANAGEMENT_URL", url, e);
        goto out;
    }
    scheme = url_part(u, CURLUPART_SCHEME, 0);
    if (scheme == NULL || (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
        st = bad_url("TMDBQ_AMQP_MANAGEMENT_URL (use http or https)", url, e);
        goto out;
    }
    take(&a->user, url_part(u, CURLUPART_USER, CURLU_URLDECODE));
    take(&a->password, url_part(u, CURLUPART_PASSWORD, CURLU_URLDECODE));
    curl_url_set(u, CURLUPART_USER, NULL, 0);
    curl_url_set(u, CURLUPART_PASSWORD, NULL, 0);
    curl_url_set(u, CURLUPART_QUERY, NULL, 0);
    curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0);
    clean = url_part(u, CURLUPART_URL, 0);
    if (clean == NULL) {
        st = bad_url("TMDBQ_AMQP_MANAGEMENT_URL", url, e);
        goto out;
    }
    snprintf(a->where, sizeof a->where, "%s", clean);
    len = strlen(a->where);
    while (len > 0 && a->where[len - 1] == '/')
        a->where[--len] = '\0';
out:
    free(scheme);
    free(clean);
    curl_url_cleanup(u);
    return st;
}

enum status mqadmin_open(const char *amqp_url, const char *management_url,
                         int64_t timeout_ms, struct mqadmin **out, struct err *e)
{
    struct mqadmin *a = NULL;
    CURLU *u = NULL;
    char *host = NULL, *path = NULL, *first = NULL;
    enum status st = ST_OK;

    *out = NULL;
    if (amqp_url == NULL || timeout_ms <= 0)
        return err_set(e, ST_INVALID,
                       "mqadmin_open: missing URL or non-positive timeout");
    a = calloc(1, sizeof *a);
    u = curl_url();
    if (a == NULL || u == NULL) {
        st = err_set(e, ST_NOMEM, "out of memory");
        goto out;
    }
    a->timeout_ms = timeout_ms;
    /* The nodes of a cluster: the first one's management API shows the whole cluster. */
    first = strndup(amqp_url, mq_url_len(amqp_url));
    if (first == NULL) {
        st = err_set(e, ST_NOMEM, "out of memory");
        goto out;
    }
    if (curl_url_set(u, CURLUPART_URL, first, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
        st = bad_url("RabbitMQ URL", first, e);
        goto out;
    }
    host = url_part(u, CURLUPART_HOST, 0);
    if (host == NULL) {
        st = bad_url("RabbitMQ URL", first, e);
        goto out;
    }
    /* librabbitmq's defaults for what the URL leaves out. */
    a->user = url_part(u, CURLUPART_USER, CURLU_URLDECODE);
    a->password = url_part(u, CURLUPART_PASSWORD, CURLU_URLDECODE);
    path = url_part(u, CURLUPART_PATH, CURLU_URLDECODE);
    a->vhost = strdup(path != NULL && path[0] == '/' && path[1] != '\0' ? path + 1 : "/");
    if (a->user == NULL)
        a->user = strdup("guest");
    if (a->password == NULL)
        a->password = strdup("guest");
    if (a->vhost == NULL || a->user == NULL || a->password == NULL) {
        st = err_set(e, ST_NOMEM, "out of memory");
        goto out;
    }
    if (management_url != NULL && management_url[0] != '\0')
        st = endpoint_from(a, management_url, e);
    else
        snprintf(a->where, sizeof a->where, "http://%s:" MQADMIN_DEFAULT_PORT, host);
    if (st != ST_OK)
        goto out;
    a->curl = curl_easy_init();
    if (a->curl == NULL) {
        st = err_set(e, ST_NOMEM, "could not start libcurl");
        goto out;
    }
    *out = a;
    a = NULL;
out:
    free(first);
    free(host);
    free(path);
    curl_url_cleanup(u);
    mqadmin_close(a);
    return st;
}

void mqadmin_close(struct mqadmin *a)
{
    if (a == NULL)
        return;
    if (a->curl != NULL)
        curl_easy_cleanup(a->curl);
    free(a->user);
    free(a->password);
    free(a->vhost);
    free(a);
}

const char *mqadmin_where(const struct mqadmin *a) { return a->where; }

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct body *b = arg;
    size_t n = size * nmemb;
    char *p;

    if (b->len + n > MQADMIN_BODY_MAX) {
        b->too_big = true;
        return 0; /* libcurl stops with CURLE_WRITE_ERROR */
    }
    p = realloc(b->p, b->len + n + 1);
    if (p == NULL)
        return 0;
    memcpy(p + b->len, data, n);
    b->p = p;
    b->len += n;
    b->p[b->len] = '\0';
    return n;
}

static int64_t member_int(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

/* Set every option of one GET (the handle is reset first, so nothing leaks between
 * requests; live connections survive the reset). */
static CURLcode prepare(struct mqadmin *a, const char *url, struct body *b)
{
    CURLcode rc;

    curl_easy_reset(a->curl);
    a->errbuf[0] = '\0';
    rc = curl_easy_setopt(a->curl, CURLOPT_ERRORBUFFER, a->errbuf);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(a->curl, CURLOPT_URL, url);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(a->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(a->curl, CURLOPT_NOSIGNAL, 1L);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(a->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)a->timeout_ms);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(a->curl, CURLOPT_TIMEOUT_MS, (long)a->timeout_ms);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(a->curl, CURLOPT_USERAGENT, MQADMIN_USER_AGENT);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(a->curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(a->curl, CURLOPT_USERNAME, a->user);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(a->curl, CURLOPT_PASSWORD, a->password);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(a->curl, CURLOPT_WRITEFUNCTION, on_body);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(a->curl, CURLOPT_WRITEDATA, b);
    return rc;
}

enum status mqadmin_queue(struct mqadmin *a, const char *name, struct mqadmin_queue *out,
                          struct err *e)
{
    struct body b = {0};
    char *vhost = NULL, *qname = NULL;
    char url[1024];
    json_t *root = NULL;
    json_error_t jerr;
    enum status st = ST_OK;
    CURLcode rc;
    long code = 0;

    out->ready = out->unacked = out->consumers = -1;
    vhost = curl_easy_escape(a->curl, a->vhost, 0);
    qname = curl_easy_escape(a->curl, name, 0);
    if (vhost == NULL || qname == NULL) {
        st = err_set(e, ST_NOMEM, "out of memory");
        goto out;
    }
    /* No ?columns=: this endpoint answers [] to it (RabbitMQ 3.10). */
    snprintf(url, sizeof url, "%s/api/queues/%s/%s", a->where, vhost, qname);
    rc = prepare(a, url, &b);
    if (rc == CURLE_OK)
        rc = curl_easy_perform(a->curl);
    if (rc != CURLE_OK) {
        st = err_set(e, ST_MQ, "the RabbitMQ management API at %s did not answer: %s",
                     a->where,
                     b.too_big      ? "answer too large"
                     : a->errbuf[0] ? a->errbuf
                                    : curl_easy_strerror(rc));
        goto out;
    }
    curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, &code);
    if (code == 404) {
        st = err_set(e, ST_NOT_FOUND,
                     "the RabbitMQ management API at %s knows no queue "
                     "\"%s\" in vhost \"%s\"",
                     a->where, name, a->vhost);
        goto out;
    }
    if (code == 401 || code == 403) {
        st = err_set(e, ST_MQ,
                     "the RabbitMQ management API at %s refused user \"%s\" (HTTP %ld; "
                     "the user needs the monitoring or management tag)",
                     a->where, a->user, code);
        goto out;
    }
    if (code != 200) {
        st = err_set(e, ST_MQ, "the RabbitMQ management API at %s answered HTTP %ld",
                     a->where, code);
        goto out;
    }
    root = b.p != NULL ? json_loadb(b.p, b.len, 0, &jerr) : NULL;
    if (!json_is_object(root)) {
        st = err_set(e, ST_MQ,
                     "the RabbitMQ management API at %s answered something that is not a "
                     "queue",
                     a->where);
        goto out;
    }
    out->ready = member_int(root, "messages_ready");
    out->unacked = member_int(root, "messages_unacknowledged");
    out->consumers = member_int(root, "consumers");
out:
    json_decref(root);
    curl_free(vhost);
    curl_free(qname);
    free(b.p);
    return st;
}
