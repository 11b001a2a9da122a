/*
 * tmdb: the six list operations against TMDB over one reused libcurl easy handle, and the
 * one switch (tmdb_classify) that says what an answer means for tmdbq.
 *
 * The options every request shares (timeouts, callbacks, limits, proxy) are set once when
 * the client is made; each request sets all the others (URL, headers, method, body), so
 * none of one request leaks into the next, and drops its pointers when it ends. The
 * header lists, the escaped application credentials and the proxy choice are computed
 * once too: a request costs its own transfer and little else. Everything read from the
 * network is bounded: the body by TMDB_BODY_MAX, headers by libcurl. Messages are built
 * from our own words plus two foreign fragments (TMDB's status_message and libcurl's
 * error text); those fragments are scrubbed of every secret the client knows, so no
 * message can carry an api_key, session_id or token.
 *
 * libcurl's global state is the caller's business: the program calls
 * curl_global_init(CURL_GLOBAL_DEFAULT) once at start, before starting threads, and
 * curl_global_cleanup at exit. One client per thread; a client is not shared.
 */
#include "tmdb.h"

#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "clock.h"
#include "log.h"

/* TMDB's list answers are a few hundred bytes; a page of a list is tens of KiB. */
#define TMDB_BODY_MAX (1024 * 1024)
#define TMDB_DEFAULT_CONNECT_TIMEOUT_MS 5000
#define TMDB_DEFAULT_TIMEOUT_MS 30000
/* A Retry-After beyond a day is nonsense; clamp it rather than overflow. */
#define TMDB_RETRY_AFTER_MAX_S 86400
#define TMDB_STATUS_MESSAGE_MAX 120
#define TMDB_USER_AGENT "tmdbq/1"

struct body_buf {
    char *data; /* NUL-terminated, len bytes */
    size_t len;
    size_t cap;
    bool toobig; /* the answer passed TMDB_BODY_MAX and the transfer was aborted */
};

/* The header lists of requests made with the application's credential, by body. */
enum hdr_kind { HDR_NO_BODY, HDR_EMPTY_POST, HDR_JSON, HDR_COUNT };

struct tmdb_client {
    CURL *curl;           /* the handle of the current request, or of none (escaping) */
    CURLSH *share;        /* the connection cache the handles share: keep-alive */
    char *base_url;       /* without trailing slashes */
    char *api_key;        /* NULL when not configured */
    char *read_token;     /* NULL when not configured */
    char *api_key_esc;    /* api_key URL-escaped (for the query and scrubbing), or NULL */
    char *read_token_esc; /* read_token URL-escaped (for scrubbing), or NULL */
    struct curl_slist *hdrs[HDR_COUNT]; /* see headers_new */
    CURLcode setup_rc; /* how setting the shared options went: every request fails
                          with it when it is not CURLE_OK */
    char host[300];    /* host[:port] of base_url, for messages */
    long connect_timeout_ms;
    long timeout_ms;
    struct body_buf body;
    int64_t retry_after_ms; /* Retry-After of the last answer, 0 when none */
    char errbuf[CURL_ERROR_SIZE];
    struct tmdb_pacer pacer; /* before is NULL when there is none */
};

/* One HTTP request, as tmdb_execute prepared it. */
struct request {
    const char *method; /* "GET", "POST", "PUT", "DELETE" */
    char path[96];
    const char *session_id; /* query session_id, NULL for none */
    const char *bearer; /* user token for v4 writes; NULL: the application's credential */
    bool confirm;       /* query confirm=true */
    char *body;         /* JSON text, owned, NULL for none */
};

/* What one HTTP exchange produced. */
struct response {
    CURLcode curl_code;
    bool toobig;
    long http_status; /* 0 when there was no complete answer */
    int code;         /* TMDB status_code, 0 when absent */
    int success;      /* body's "success": -1 absent, 0 false, 1 true */
    char status_message[TMDB_STATUS_MESSAGE_MAX + 1];
    char curl_error[CURL_ERROR_SIZE];
    int64_t retry_after_ms;
    json_t *json;          /* parsed body when it was JSON, else NULL */
    size_t body_len;       /* the body's length in bytes */
    char content_type[64]; /* the answer's Content-Type, printable ASCII; "" for none */
};

/* ---- small helpers ---------------------------------------------------------------- */

static char *str_dup_or_null(const char *s)
{
    if (s == NULL || s[0] == '\0')
        return NULL;
    return strdup(s);
}

/* A credential goes into a header or a query: refuse control characters and spaces, which
 * would split a header line. */
static bool token_valid(const char *s)
{
    const unsigned char *p;

    for (p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p <= 0x20 || *p == 0x7f)
            return false;
    }
    return true;
}

/* Replace every occurrence of secret in buf (size n, NUL-terminated) with "***". */
static void scrub_one(char *buf, size_t n, const char *secret)
{
    size_t slen, at, tail;
    char *hit;

    if (secret == NULL || secret[0] == '\0')
        return;
    slen = strlen(secret);
    hit = strstr(buf, secret);
    while (hit != NULL) {
        at = (size_t)(hit - buf);
        if (at + 3 >= n) {
            /* No room for the mask: cut the text where the secret began. */
            *hit = '\0';
            return;
        }
        tail = strlen(hit + slen);
        /* A secret shorter than the mask makes the text grow: cut the tail to fit. */
        if (at + 3 + tail >= n)
            tail = n - 1 - at - 3;
        memmove(hit + 3, hit + slen, tail);
        memcpy(hit, "***", 3);
        hit[3 + tail] = '\0';
        hit = strstr(hit + 3, secret);
    }
}

/* Whether curl_easy_escape changes s: it keeps only ASCII letters, digits and "-._~". */
static bool needs_escape(const char *s)
{
    const unsigned char *p;

    for (p = (const unsigned char *)s; *p != '\0'; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' ||
              *p == '~'))
            return true;
    }
    return false;
}

/* s URL-escaped in a new string (curl_free), or NULL when escaping changes nothing or
 * there is no memory: the callers then use s itself, or report. */
static char *escape_or_null(CURL *curl, const char *s)
{
    if (s == NULL || !needs_escape(s))
        return NULL;
    return curl_easy_escape(curl, s, 0);
}

/* Scrub a foreign fragment of every secret the client knows, raw and URL-escaped (an
 * escaped form equal to the raw one has nothing left to find). */
static void scrub_secrets(struct tmdb_client *c, const struct tmdb_creds *creds,
                          char *buf, size_t n)
{
    const char *secrets[4], *escaped[2];
    size_t i;

    /* An empty fragment (no transport error: the usual case) has nothing to scrub. */
    if (n < 8 || buf[0] == '\0')
        return;
    secrets[0] = c->api_key;
    secrets[1] = c->read_token;
    secrets[2] = creds != NULL ? creds->session_id : NULL;
    secrets[3] = creds != NULL ? creds->access_token : NULL;
    escaped[0] = c->api_key_esc;
    escaped[1] = c->read_token_esc;
    for (i = 0; i < sizeof secrets / sizeof secrets[0]; i++) {
        char *esc;

        if (secrets[i] == NULL || secrets[i][0] == '\0')
            continue;
        scrub_one(buf, n, secrets[i]);
        if (i < 2) {
            scrub_one(buf, n, escaped[i]);
            continue;
        }
        esc = escape_or_null(c->curl, secrets[i]);
        if (esc != NULL) {
            scrub_one(buf, n, esc);
            curl_free(esc);
        }
    }
}

/* Copy TMDB's text for people, bounded, without control characters, not cutting a UTF-8
 * sequence in half. */
static void copy_status_message(char *dst, size_t n, const char *src)
{
    size_t len = strlen(src);
    size_t i;

    if (len > n - 1) {
        len = n - 1;
        while (len > 0 && ((unsigned char)src[len] & 0xC0) == 0x80)
            len--;
    }
    for (i = 0; i < len; i++)
        dst[i] = ((unsigned char)src[i] < 0x20 || src[i] == 0x7f) ? ' ' : src[i];
    dst[len] = '\0';
}

/* ---- libcurl callbacks ------------------------------------------------------------ */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct body_buf *b = userdata;
    size_t n = size * nmemb;

    /* Returning less than n makes libcurl abort with CURLE_WRITE_ERROR. */
    if (n > TMDB_BODY_MAX - b->len) {
        b->toobig = true;
        return 0;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        char *p;

        while (cap < b->len + n + 1)
            cap *= 2;
        if (cap > TMDB_BODY_MAX + 1)
            cap = TMDB_BODY_MAX + 1;
        p = realloc(b->data, cap);
        if (p == NULL)
            return 0;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

/* Retry-After: delta-seconds, or an HTTP-date. TMDB has sent 0: that means 1 s. */
static int64_t retry_after_parse(const char *v, size_t len)
{
    char buf[64];
    char *end;
    long long secs;

    while (len > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)v[len - 1]))
        len--;
    if (len == 0 || len >= sizeof buf)
        return 0;
    memcpy(buf, v, len);
    buf[len] = '\0';
    if (isdigit((unsigned char)buf[0])) {
        secs = strtoll(buf, &end, 10);
        if (*end != '\0')
            return 0;
        if (secs > TMDB_RETRY_AFTER_MAX_S)
            secs = TMDB_RETRY_AFTER_MAX_S;
    } else {
        time_t when = curl_getdate(buf, NULL);

        if (when == (time_t)-1)
            return 0;
        secs = (long long)difftime(when, time(NULL));
        if (secs > TMDB_RETRY_AFTER_MAX_S)
            secs = TMDB_RETRY_AFTER_MAX_S;
    }
    if (secs < 1)
        secs = 1;
    return (int64_t)secs * 1000;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct tmdb_client *c = userdata;
    size_t n = size * nmemb;
    static const char name[] = "retry-after:";

    /* A new status line (after a 100 Continue, say) starts a new set of headers. */
    if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0)
        c->retry_after_ms = 0;
    else if (n > sizeof name - 1 && strncasecmp(ptr, name, sizeof name - 1) == 0)
        c->retry_after_ms =
            retry_after_parse(ptr + sizeof name - 1, n - (sizeof name - 1));
    return n;
}

/* ---- client ----------------------------------------------------------------------- */

static long timeout_or_default(int64_t v, long dflt)
{
    if (v <= 0)
        return dflt;
    if (v > LONG_MAX)
        return LONG_MAX;
    return (long)v;
}

/* host[:port] of url into out; false when url is not an http(s) URL. */
static bool base_url_host(const char *url, char *out, size_t n)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    bool ok = false;

    if (u == NULL)
        return false;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
        goto out;
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
        goto out;
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
        goto out;
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
        goto out;
    if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK)
        snprintf(out, n, "%s:%s", host, port);
    else
        snprintf(out, n, "%s", host);
    ok = true;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return ok;
}

/* Whether the environment names a proxy that libcurl would use for http or https: it
 * reads http_proxy, https_proxy or HTTPS_PROXY, then all_proxy or ALL_PROXY (not
 * HTTP_PROXY, which is checked here all the same); an empty one means none. */
static bool proxy_in_env(void)
{
    static const char *const vars[] = {"http_proxy",  "HTTP_PROXY", "https_proxy",
                                       "HTTPS_PROXY", "all_proxy",  "ALL_PROXY"};
    const char *v;
    size_t i;

    for (i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        v = getenv(vars[i]);
        if (v != NULL && v[0] != '\0')
            return true;
    }
    return false;
}

/* A request's header lines, in this order: Accept; an empty Expect (never wait for a 100
 * Continue: TMDB bodies are tiny); for a JSON body its Content-Type, for a bodiless POST
 * an empty one (libcurl would otherwise label it form-encoded); Authorization when token
 * is not NULL. NULL on out of memory or an overlong token. */
static struct curl_slist *headers_new(enum hdr_kind kind, const char *token)
{
    struct curl_slist *h = NULL, *t;
    const char *lines[3];
    char auth[1024];
    size_t i, nl = 0;

    lines[nl++] = "Accept: application/json";
    lines[nl++] = "Expect:";
    if (kind == HDR_JSON)
        lines[nl++] = "Content-Type: application/json;charset=utf-8";
    else if (kind == HDR_EMPTY_POST)
        lines[nl++] = "Content-Type:";
    for (i = 0; i < nl; i++) {
        t = curl_slist_append(h, lines[i]);
        if (t == NULL)
            goto fail;
        h = t;
    }
    if (token != NULL) {
        int len = snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);

        if (len < 0 || (size_t)len >= sizeof auth)
            goto fail;
        t = curl_slist_append(h, auth);
        memset(auth, 0, sizeof auth);
        if (t == NULL)
            goto fail;
        h = t;
    }
    return h;
fail:
    memset(auth, 0, sizeof auth);
    curl_slist_free_all(h);
    return NULL;
}

/* Set the options every request shares, once; the first failure is kept in c->setup_rc
 * and reported by every request, as if it had set them itself. */
static void handle_setup(struct tmdb_client *c)
{
    CURL *h = c->curl;
    CURLcode rc = CURLE_OK;

    if (rc == CURLE_OK)
        rc = curl_easy_setopt(h, CURLOPT_SHARE, c->share);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(h, CURLOPT_USERAGENT, TMDB_USER_AGENT);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(h, CURLOPT_WRITEDATA, &c->body);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
    /* An announced oversize body is refused before it is read. */
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)TMDB_BODY_MAX);
    /* Without a proxy in the environment, say so: libcurl would otherwise look for one
     * (and for no_proxy) in the environment on every request. With one, libcurl reads the
     * environment as it always does. Either option failing (a libcurl without proxy
     * support, out of memory) leaves libcurl's own behaviour, which is the same. */
    if (rc == CURLE_OK && !proxy_in_env()) {
        (void)curl_easy_setopt(h, CURLOPT_PROXY, "");
        (void)curl_easy_setopt(h, CURLOPT_NOPROXY, "");
    }
    c->setup_rc = rc;
}

enum status tmdb_client_new(const struct tmdb_config *cfg, struct tmdb_client **out,
                            struct err *e)
{
    struct tmdb_client *c = NULL;
    enum status st = ST_OK;
    size_t len;

    *out = NULL;
    if (cfg == NULL || cfg->base_url == NULL || cfg->base_url[0] == '\0')
        return err_set(e, ST_INVALID, "no TMDB base URL (TMDB_API_URL)");
    if ((cfg->api_key == NULL || cfg->api_key[0] == '\0') &&
        (cfg->read_token == NULL || cfg->read_token[0] == '\0'))
        return err_set(
            e, ST_INVALID,
            "no TMDB application credential: set TMDB_API_KEY or TMDB_ACCESS_TOKEN");
    if ((cfg->api_key != NULL && !token_valid(cfg->api_key)) ||
        (cfg->read_token != NULL && !token_valid(cfg->read_token)))
        return err_set(
            e, ST_INVALID,
            "TMDB_API_KEY or TMDB_ACCESS_TOKEN contains spaces or control characters");

    c = calloc(1, sizeof *c);
    if (c == NULL)
        return err_set(e, ST_NOMEM, "could not create TMDB client: out of memory");
    if (!base_url_host(cfg->base_url, c->host, sizeof c->host)) {
        char masked[256];

        log_mask_url(cfg->base_url, masked, sizeof masked);
        st = err_set(e, ST_INVALID, "TMDB base URL \"%s\" is not an http or https URL",
                     masked);
        goto out;
    }
    c->base_url = strdup(cfg->base_url);
    if (c->base_url == NULL) {
        st = err_set(e, ST_NOMEM, "could not create TMDB client: out of memory");
        goto out;
    }
    len = strlen(c->base_url);
    while (len > 0 && c->base_url[len - 1] == '/')
        c->base_url[--len] = '\0';
    c->api_key = str_dup_or_null(cfg->api_key);
    c->read_token = str_dup_or_null(cfg->read_token);
    if ((cfg->api_key != NULL && cfg->api_key[0] != '\0' && c->api_key == NULL) ||
        (cfg->read_token != NULL && cfg->read_token[0] != '\0' &&
         c->read_token == NULL)) {
        st = err_set(e, ST_NOMEM, "could not create TMDB client: out of memory");
        goto out;
    }
    c->connect_timeout_ms =
        timeout_or_default(cfg->connect_timeout_ms, TMDB_DEFAULT_CONNECT_TIMEOUT_MS);
    c->timeout_ms = timeout_or_default(cfg->timeout_ms, TMDB_DEFAULT_TIMEOUT_MS);
    c->curl = curl_easy_init();
    c->share = curl_share_init();
    if (c->curl == NULL || c->share == NULL ||
        curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) !=
            CURLSHE_OK ||
        curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK) {
        st = err_set(e, ST_NOMEM, "could not create TMDB client: curl_easy_init failed");
        goto out;
    }
    c->api_key_esc = escape_or_null(c->curl, c->api_key);
    c->read_token_esc = escape_or_null(c->curl, c->read_token);
    if ((c->api_key_esc == NULL && c->api_key != NULL && needs_escape(c->api_key)) ||
        (c->read_token_esc == NULL && c->read_token != NULL &&
         needs_escape(c->read_token))) {
        st = err_set(e, ST_NOMEM, "could not create TMDB client: out of memory");
        goto out;
    }
    /* Should one fail, requests of that kind build their own list (see headers_for). */
    for (int k = 0; k < HDR_COUNT; k++)
        c->hdrs[k] =
            headers_new((enum hdr_kind)k, c->api_key == NULL ? c->read_token : NULL);
    handle_setup(c);
out:
    if (st != ST_OK) {
        tmdb_client_free(c);
        return st;
    }
    *out = c;
    return ST_OK;
}

void tmdb_client_free(struct tmdb_client *c)
{
    if (c == NULL)
        return;
    if (c->curl != NULL)
        curl_easy_cleanup(c->curl);
    if (c->share != NULL)
        curl_share_cleanup(c->share);
    for (int k = 0; k < HDR_COUNT; k++)
        curl_slist_free_all(c->hdrs[k]);
    curl_free(c->api_key_esc);
    curl_free(c->read_token_esc);
    free(c->base_url);
    free(c->api_key);
    free(c->read_token);
    free(c->body.data);
    free(c);
}

void tmdb_result_cleanup(struct tmdb_result *r)
{
    if (r == NULL)
        return;
    free(r->result_json);
    r->result_json = NULL;
}

/* TMDB's status codes for a rejected session or user token (docs/tmdb.md): the
 * one list of them. */
static bool is_session_code(int code)
{
    switch (code) {
    case 3:
    case 14:
    case 17:
    case 30:
    case 31:
    case 32:
    case 33:
    case 35:
    case 37:
        return true;
    default:
        return false;
    }
}

bool tmdb_rejects_user_credential(enum op_type type, long http_status, int tmdb_code)
{
    if (is_session_code(tmdb_code))
        return true;
    /* update_list's only credential is the user's v4 token. */
    return type == OP_UPDATE_LIST &&
           (tmdb_code == 7 || (http_status == 401 && tmdb_code == 0));
}

/* ---- classification --------------------------------------------------------------- */

/* The policy, in one place. TMDB's status_code decides when it names a case of the table
 * (docs/tmdb.md); otherwise the HTTP status does. */
enum tmdb_outcome tmdb_classify(enum op_type type, long http_status, int tmdb_code)
{
    if (is_session_code(tmdb_code))
        return TMDB_PERMANENT; /* the user's session or token is rejected */
    switch (tmdb_code) {
    case 7:
        /* update_list carries no application credential, only the user's v4 token: TMDB's
         * "invalid API key" there is about that token, so it is the user's problem. */
        if (type == OP_UPDATE_LIST)
            return TMDB_PERMANENT;
        return TMDB_DEPLOYMENT;
    case 10:
        return TMDB_DEPLOYMENT;
    case 8:
        return type == OP_ADD_MOVIE ? TMDB_GOAL_HOLDS : TMDB_PERMANENT;
    case 21:
        /* Arrives in an HTTP 200 with success false. */
        return type == OP_REMOVE_MOVIE ? TMDB_GOAL_HOLDS : TMDB_PERMANENT;
    case 34:
        return type == OP_DELETE_LIST ? TMDB_GOAL_HOLDS : TMDB_PERMANENT;
    case 36:
    case 38:
    case 39:
        return TMDB_PERMANENT; /* not permitted */
    case 5:
    case 18:
    case 20:
    case 22:
    case 23:
    case 29:
    case 47:
        return TMDB_PERMANENT; /* invalid parameters */
    case 25:
        return TMDB_RATE_LIMITED;
    case 9:
    case 11:
    case 15:
    case 24:
    case 43:
    case 46:
        return TMDB_TRANSIENT; /* TMDB-side failure */
    default:
        break; /* 0 (none), 1/12/13 (success), or a code the table does not name */
    }
    if (http_status == 0)
        return TMDB_TRANSIENT; /* no answer: timeout, refused, cut short */
    if (http_status == 429)
        return TMDB_RATE_LIMITED;
    if (http_status >= 500)
        return TMDB_TRANSIENT;
    if (http_status >= 200 && http_status < 300)
        return TMDB_DONE;
    if (http_status == 401 && tmdb_code == 0) {
        /* TMDB labels every 401 it sends. An unlabelled one comes from something between
         * us and TMDB (a proxy, a wrong TMDB_API_URL) and hits every operation alike, so
         * it is a deployment fault, not a reason to fail this one. update_list is the
         * exception: its only credential is the user's own token. */
        return type == OP_UPDATE_LIST ? TMDB_PERMANENT : TMDB_DEPLOYMENT;
    }
    if (http_status >= 400 && http_status < 500)
        return TMDB_PERMANENT;
    /* 1xx or 3xx as a final answer (we never follow redirects): TMDB_API_URL points at
     * the wrong place, which no operation can fix. */
    return TMDB_DEPLOYMENT;
}

/* Whether id is a list id as TMDB's create_list answers it: a positive integer (current
 * ids), or a string of hex digits (old ids were 24 of them, quirk 3). */
static bool list_id_valid(const json_t *id)
{
    const char *s = json_string_value(id);
    size_t len;

    if (json_is_integer(id))
        return json_integer_value(id) > 0;
    if (s == NULL)
        return false;
    len = strlen(s);
    return len > 0 && len <= 32 && strspn(s, "0123456789abcdefABCDEF") == len;
}

/* Whether the body of a 2xx answer is the one TMDB documents for a success of type
 * (docs/tmdb.md): a JSON object whose status_code is one of TMDB's success codes (1, 12,
 * 13: which one varies, TMDB's own examples disagree for delete), whose success is not
 * false, and for create_list with the new list's list_id. success may be absent: TMDB's
 * published schema does not require it, and older answers left it out. Anything else
 * (an HTML page, truncated JSON, an empty 204, another service's JSON) was not written by
 * TMDB's list API, and why (for people) goes into why. */
static bool success_body_ok(enum op_type type, const struct response *r, char *why,
                            size_t n)
{
    if (r->body_len == 0)
        snprintf(why, n, "an empty body");
    else if (r->json == NULL)
        snprintf(why, n, "a body that is not JSON");
    else if (!json_is_object(r->json))
        snprintf(why, n, "JSON that is not an object");
    else if (r->code == 0)
        snprintf(why, n, "JSON without a TMDB status_code");
    else if (r->code != 1 && r->code != 12 && r->code != 13)
        snprintf(why, n, "status_code %d, which is not a success", r->code);
    else if (r->success == 0)
        snprintf(why, n, "success false");
    else if (type == OP_CREATE_LIST &&
             !list_id_valid(json_object_get(r->json, "list_id")))
        snprintf(why, n, "no list_id for the new list");
    else
        return true;
    return false;
}

/* ---- requests --------------------------------------------------------------------- */

static char *json_dump_compact(json_t *v) { return json_dumps(v, JSON_COMPACT); }

/* {"key":v} exactly as json_dump_compact writes an object of one integer, without
 * building it: the usual request body and result. key must need no JSON escaping. NULL on
 * out of memory. */
static char *int_object_text(const char *key, json_int_t v)
{
    char buf[64];
    int len = snprintf(buf, sizeof buf, "{\"%s\":%" JSON_INTEGER_FORMAT "}", key, v);

    if (len < 0 || (size_t)len >= sizeof buf)
        return NULL;
    return strdup(buf);
}

/* Build the request for one operation from its operation_data. On failure, msg says what
 * is wrong, for people. */
static bool request_build(enum op_type type, int32_t list_id, const char *data_json,
                          const struct tmdb_creds *creds, struct request *req,
                          int64_t *movie_id, char *msg, size_t n)
{
    json_t *data = NULL, *body = NULL, *v;
    json_error_t jerr;
    const char *tname = op_type_name(type);
    bool ok = false;

    memset(req, 0, sizeof *req);
    *movie_id = 0;
    if ((unsigned)type >= OP_TYPE_COUNT) {
        snprintf(msg, n, "unknown operation type %d", (int)type);
        return false;
    }
    if (type != OP_CREATE_LIST && list_id <= 0) {
        snprintf(msg, n, "%s needs a TMDB list id", tname);
        return false;
    }
    if (type == OP_UPDATE_LIST) {
        if (creds == NULL || creds->access_token == NULL ||
            creds->access_token[0] == '\0') {
            snprintf(msg, n,
                     "no TMDB v4 access token for this user: update_list needs one "
                     "(tmdbq session set --access-token)");
            return false;
        }
        if (!token_valid(creds->access_token)) {
            snprintf(msg, n,
                     "the TMDB v4 access token of this user contains spaces or control "
                     "characters: set it again with tmdbq session set --access-token");
            return false;
        }
        req->bearer = creds->access_token;
    } else {
        if (creds == NULL || creds->session_id == NULL || creds->session_id[0] == '\0') {
            snprintf(msg, n,
                     "no TMDB session for this user: set one with tmdbq session set");
            return false;
        }
        req->session_id = creds->session_id;
    }

    data = json_loads(data_json != NULL ? data_json : "{}", 0, &jerr);
    if (data == NULL || !json_is_object(data)) {
        snprintf(msg, n, "invalid operation_data for %s: not a JSON object", tname);
        goto out;
    }

    switch (type) {
    case OP_CREATE_LIST: {
        const char *name, *desc = "";

        v = json_object_get(data, "name");
        name = json_string_value(v);
        if (name == NULL || name[0] == '\0') {
            snprintf(msg, n,
                     "invalid operation_data for create_list: \"name\" must be a "
                     "non-empty string");
            goto out;
        }
        v = json_object_get(data, "description");
        if (json_is_string(v))
            desc = json_string_value(v);
        /* TMDB wants description as a string even when empty. "public" is not settable
         * through v3 create (the field does not exist there), so it is ignored. */
        body = json_pack("{s:s, s:s, s:s}", "name", name, "description", desc, "language",
                         "en");
        req->method = "POST";
        snprintf(req->path, sizeof req->path, "/3/list");
        break;
    }
    case OP_UPDATE_LIST: {
        static const char *const keys[] = {"name", "description", "public"};
        size_t i;

        body = json_object();
        if (body == NULL)
            break;
        for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            v = json_object_get(data, keys[i]);
            if (v == NULL || json_is_null(v))
                continue;
            if ((i < 2 && !json_is_string(v)) || (i == 2 && !json_is_boolean(v))) {
                snprintf(msg, n,
                         "invalid operation_data for update_list: \"%s\" must be %s",
                         keys[i], i < 2 ? "a string" : "true or false");
                goto out;
            }
            if (json_object_set(body, keys[i], v) != 0) {
                json_decref(body);
                body = NULL;
                break;
            }
        }
        if (body != NULL && json_object_size(body) == 0) {
            snprintf(msg, n,
                     "invalid operation_data for update_list: nothing to change "
                     "(name, description, public)");
            goto out;
        }
        req->method = "PUT";
        snprintf(req->path, sizeof req->path, "/4/list/%" PRId32, list_id);
        break;
    }
    case OP_DELETE_LIST:
        req->method = "DELETE";
        snprintf(req->path, sizeof req->path, "/3/list/%" PRId32, list_id);
        break;
    case OP_CLEAR_LIST:
        /* No body: confirm goes in the query. */
        req->method = "POST";
        req->confirm = true;
        snprintf(req->path, sizeof req->path, "/3/list/%" PRId32 "/clear", list_id);
        break;
    case OP_ADD_MOVIE:
    case OP_REMOVE_MOVIE:
        v = json_object_get(data, "movie_id");
        if (!json_is_integer(v) || json_integer_value(v) <= 0 ||
            json_integer_value(v) > INT32_MAX) {
            snprintf(msg, n,
                     "invalid operation_data for %s: \"movie_id\" must be a positive "
                     "integer",
                     tname);
            goto out;
        }
        *movie_id = (int64_t)json_integer_value(v);
        req->body = int_object_text("media_id", (json_int_t)*movie_id);
        req->method = "POST";
        snprintf(req->path, sizeof req->path, "/3/list/%" PRId32 "/%s", list_id,
                 type == OP_ADD_MOVIE ? "add_item" : "remove_item");
        break;
    case OP_TYPE_COUNT:
        break;
    }

    if (type == OP_CREATE_LIST || type == OP_UPDATE_LIST || type == OP_ADD_MOVIE ||
        type == OP_REMOVE_MOVIE) {
        if (body != NULL && req->body == NULL)
            req->body = json_dump_compact(body);
        if (req->body == NULL) {
            snprintf(msg, n, "could not build the TMDB request for %s: out of memory",
                     tname);
            goto out;
        }
    }
    ok = true;
out:
    json_decref(body);
    json_decref(data);
    return ok;
}

static void request_cleanup(struct request *req)
{
    free(req->body);
    req->body = NULL;
}

/* base_url + path + query, with every query value URL-encoded; NULL on out of memory. */
static char *url_build(struct tmdb_client *c, const struct request *req)
{
    char *sess_esc = NULL, *url = NULL;
    const char *key = NULL, *sess = NULL;
    const char *sep = "?";
    size_t n;
    int len;

    /* The application's api_key rides in the query of v3 requests; v4 writes carry the
     * user's token instead (TMDB takes api_key on v4 only for reads). */
    if (req->bearer == NULL && c->api_key != NULL)
        key = c->api_key_esc != NULL ? c->api_key_esc : c->api_key;
    if (req->session_id != NULL) {
        sess = req->session_id;
        if (needs_escape(sess)) {
            sess_esc = curl_easy_escape(c->curl, sess, 0);
            if (sess_esc == NULL)
                goto out;
            sess = sess_esc;
        }
    }
    n = strlen(c->base_url) + strlen(req->path) + (key ? strlen(key) + 10 : 0) +
        (sess ? strlen(sess) + 13 : 0) + 16;
    url = malloc(n);
    if (url == NULL)
        goto out;
    len = snprintf(url, n, "%s%s", c->base_url, req->path);
    if (key != NULL) {
        len += snprintf(url + len, n - (size_t)len, "%sapi_key=%s", sep, key);
        sep = "&";
    }
    if (sess != NULL) {
        len += snprintf(url + len, n - (size_t)len, "%ssession_id=%s", sep, sess);
        sep = "&";
    }
    if (req->confirm)
        snprintf(url + len, n - (size_t)len, "%sconfirm=true", sep);
out:
    curl_free(sess_esc);
    return url;
}

/* The header list of req: the client's own for the application's credential, else (a
 * user's token, or a list the client could not make) a new one in *own, which the caller
 * frees after the request. NULL on out of memory. */
static struct curl_slist *headers_for(struct tmdb_client *c, const struct request *req,
                                      struct curl_slist **own)
{
    enum hdr_kind kind = HDR_NO_BODY;

    if (req->body != NULL)
        kind = HDR_JSON;
    else if (strcmp(req->method, "POST") == 0)
        kind = HDR_EMPTY_POST;
    *own = NULL;
    if (req->bearer == NULL && c->hdrs[kind] != NULL)
        return c->hdrs[kind];
    *own = headers_new(kind, req->bearer != NULL
                                 ? req->bearer
                                 : (c->api_key == NULL ? c->read_token : NULL));
    return *own;
}

/* Parse a body of len bytes into r: the JSON, and status_code, success, status_message
 * when it is a TMDB status object; any other shape leaves them unset and the HTTP status
 * decides (but see success_body_ok). */
static void body_parse(const char *data, size_t len, struct response *r)
{
    json_error_t jerr;
    json_t *v;

    r->body_len = len;
    if (len == 0)
        return;
    r->json = json_loadb(data, len, 0, &jerr);
    if (!json_is_object(r->json))
        return;
    v = json_object_get(r->json, "status_code");
    if (json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) < 10000)
        r->code = (int)json_integer_value(v);
    v = json_object_get(r->json, "success");
    if (json_is_boolean(v))
        r->success = json_is_true(v) ? 1 : 0;
    v = json_object_get(r->json, "status_message");
    if (json_is_string(v))
        copy_status_message(r->status_message, sizeof r->status_message,
                            json_string_value(v));
}

/* The answer's Content-Type into r, printable ASCII only (it goes into messages). */
static void content_type_copy(struct tmdb_client *c, struct response *r)
{
    const char *ct = NULL;
    size_t i;

    if (curl_easy_getinfo(c->curl, CURLINFO_CONTENT_TYPE, &ct) != CURLE_OK || ct == NULL)
        return;
    for (i = 0; ct[i] != '\0' && i < sizeof r->content_type - 1; i++)
        r->content_type[i] = (ct[i] > 0x20 && ct[i] < 0x7f) ? ct[i] : ' ';
    r->content_type[i] = '\0';
}

static void response_cleanup(struct response *r)
{
    json_decref(r->json);
    r->json = NULL;
}

/* Perform one request on the client's handle and fill r. Never fails silently: a local
 * failure (out of memory, a bad option) is reported like a transport error. */
static void http_perform(struct tmdb_client *c, const struct request *req,
                         struct response *r)
{
    struct curl_slist *hdrs, *own = NULL;
    char *url = NULL;
    CURLcode rc;
    CURL *fresh;
    long http = 0;

    memset(r, 0, sizeof *r);
    r->success = -1;
    /* A fresh handle for every request: libcurl before 8.1.0 keeps in the handle a
     * pointer to the last header of the previous answer, freed since, and follows it
     * when the next answer starts with a folded header line (curl issue 11101: a use
     * after free any server can trigger). The connections stay in c->share. */
    fresh = curl_easy_init();
    if (fresh == NULL) {
        r->curl_code = CURLE_OUT_OF_MEMORY;
        snprintf(r->curl_error, sizeof r->curl_error, "out of memory");
        return;
    }
    curl_easy_cleanup(c->curl);
    c->curl = fresh;
    handle_setup(c);
    rc = c->setup_rc;
    c->body.len = 0;
    c->body.toobig = false;
    if (c->body.data != NULL)
        c->body.data[0] = '\0';
    c->retry_after_ms = 0;
    c->errbuf[0] = '\0';

    url = url_build(c, req);
    hdrs = headers_for(c, req, &own);
    if (url == NULL || hdrs == NULL) {
        r->curl_code = CURLE_OUT_OF_MEMORY;
        snprintf(r->curl_error, sizeof r->curl_error, "out of memory");
        goto out;
    }

    /* The shared options are set (handle_setup); these are all the others, every time. */
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(c->curl, CURLOPT_URL, url);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);
    if (rc == CURLE_OK) {
        if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "DELETE") == 0) {
            rc = curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
            if (rc == CURLE_OK)
                rc = curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST,
                                      req->method[0] == 'D' ? "DELETE" : NULL);
        } else {
            const char *body = req->body != NULL ? req->body : "";

            rc = curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE,
                                  (curl_off_t)strlen(body));
            if (rc == CURLE_OK)
                rc = curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
            if (rc == CURLE_OK)
                rc = curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST,
                                      strcmp(req->method, "PUT") == 0 ? "PUT" : NULL);
        }
    }
    if (rc == CURLE_OK)
        rc = curl_easy_perform(c->curl);
    r->retry_after_ms = c->retry_after_ms;
    r->toobig = c->body.toobig || rc == CURLE_FILESIZE_EXCEEDED;
    r->curl_code = rc;
    if (rc != CURLE_OK) {
        snprintf(r->curl_error, sizeof r->curl_error, "%s",
                 c->errbuf[0] != '\0' ? c->errbuf : curl_easy_strerror(rc));
        goto out;
    }
    if (curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &http) != CURLE_OK)
        http = 0;
    r->http_status = http;
    content_type_copy(c, r);
    body_parse(c->body.data, c->body.len, r);
out:
    /* The handle keeps pointers to the header list and the body (it copied the URL),
     * which may be freed now: drop them. The next request sets its own. */
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, (char *)NULL);
    curl_slist_free_all(own);
    free(url);
}

/* http_perform through the pacer: false when the pacer held the request back (nothing
 * was sent, *r untouched). */
static bool paced_perform(struct tmdb_client *c, const struct request *req,
                          struct response *r)
{
    struct tmdb_sent sent = {0, 0, false, 0};
    int64_t t0;

    if (c->pacer.before != NULL && !c->pacer.before(c->pacer.arg))
        return false;
    t0 = clock_now_us();
    http_perform(c, req, r);
    if (c->pacer.after == NULL)
        return true;
    sent.duration_us = clock_now_us() - t0;
    if (r->curl_code == CURLE_OK) {
        sent.http_status = r->http_status;
        sent.limited = r->http_status == 429 || r->code == 25;
        if (sent.limited)
            sent.retry_after_ms = r->retry_after_ms > 0 ? r->retry_after_ms : 1000;
    }
    c->pacer.after(c->pacer.arg, &sent);
    return true;
}

void tmdb_client_set_pacer(struct tmdb_client *c, const struct tmdb_pacer *p)
{
    if (p != NULL)
        c->pacer = *p;
    else
        memset(&c->pacer, 0, sizeof c->pacer);
}

/* ---- messages and results --------------------------------------------------------- */

/* " (status_code N)" or " (status_code N: text)" or "" */
static void code_suffix(const struct response *r, bool with_text, char *out, size_t n)
{
    if (r->code == 0)
        out[0] = '\0';
    else if (with_text && r->status_message[0] != '\0')
        snprintf(out, n, " (status_code %d: %s)", r->code, r->status_message);
    else
        snprintf(out, n, " (status_code %d)", r->code);
}

static void describe(const struct tmdb_client *c, enum op_type type, int32_t list_id,
                     int64_t movie_id, const struct response *r, enum tmdb_outcome o,
                     char *msg, size_t n)
{
    const char *tname = op_type_name(type);
    char sfx[TMDB_STATUS_MESSAGE_MAX + 40];
    char sfx_text[TMDB_STATUS_MESSAGE_MAX + 40];

    code_suffix(r, false, sfx, sizeof sfx);

    if (r->curl_code != CURLE_OK) {
        if (r->toobig)
            snprintf(msg, n,
                     "TMDB answer too large: more than %d bytes, transfer aborted",
                     TMDB_BODY_MAX);
        else
            snprintf(msg, n, "could not reach TMDB at %.90s: %.170s", c->host,
                     r->curl_error);
        return;
    }
    switch (o) {
    case TMDB_DONE:
        if (type == OP_CREATE_LIST) {
            /* A success has a list_id (success_body_ok): a number, or an old hex id. */
            json_t *id = json_object_get(r->json, "list_id");

            if (json_is_integer(id))
                snprintf(msg, n, "TMDB created list %" JSON_INTEGER_FORMAT "%s",
                         json_integer_value(id), sfx);
            else
                snprintf(msg, n, "TMDB created list %.32s%s", json_string_value(id), sfx);
        } else
            snprintf(msg, n, "TMDB applied %s on list %" PRId32 ": HTTP %ld%s", tname,
                     list_id, r->http_status, sfx);
        return;
    case TMDB_GOAL_HOLDS:
        if (r->code == 8)
            snprintf(msg, n,
                     "movie %" PRId64 " is already on TMDB list %" PRId32
                     " (status_code 8)",
                     movie_id, list_id);
        else if (r->code == 21)
            snprintf(msg, n,
                     "movie %" PRId64 " is not on TMDB list %" PRId32 " (status_code 21)",
                     movie_id, list_id);
        else
            snprintf(msg, n, "TMDB list %" PRId32 " is already gone%s", list_id, sfx);
        return;
    case TMDB_RATE_LIMITED:
        snprintf(msg, n, "TMDB rate limit (HTTP %ld%s), retry after %" PRId64 " s",
                 r->http_status, r->code == 25 ? ", status_code 25" : "",
                 (r->retry_after_ms > 0 ? r->retry_after_ms : 1000) / 1000);
        return;
    case TMDB_NOT_SENT:
        snprintf(msg, n,
                 "not sent: held back by TMDB's request budget (a cool-down "
                 "after a 429, or the program stopping)");
        return;
    case TMDB_TRANSIENT:
        snprintf(msg, n, "TMDB unavailable: HTTP %ld%s", r->http_status, sfx);
        return;
    case TMDB_DEPLOYMENT:
        if (r->code == 7)
            snprintf(msg, n, "TMDB rejected the application's %s (status_code 7)",
                     c->api_key != NULL ? "API key" : "read-access token");
        else if (r->code == 10)
            snprintf(msg, n, "TMDB suspended the application's API key (status_code 10)");
        else if (r->http_status == 401)
            snprintf(msg, n,
                     "TMDB refused the application's credentials: HTTP 401 without a "
                     "TMDB status_code (check TMDB_API_KEY, TMDB_ACCESS_TOKEN and "
                     "TMDB_API_URL)");
        else if (r->http_status >= 200 && r->http_status < 300) {
            char why[80];

            success_body_ok(type, r, why, sizeof why);
            snprintf(msg, n,
                     "not TMDB's answer: HTTP %ld to %s with %s (%.60s, %zu bytes): "
                     "check TMDB_API_URL and any proxy in between",
                     r->http_status, tname, why,
                     r->content_type[0] != '\0' ? r->content_type : "no Content-Type",
                     r->body_len);
        } else
            snprintf(msg, n,
                     "TMDB answered HTTP %ld to %s, which tmdbq never expects: "
                     "check TMDB_API_URL",
                     r->http_status, tname);
        return;
    case TMDB_PERMANENT:
        break;
    }

    /* Permanent. */
    code_suffix(r, true, sfx_text, sizeof sfx_text);
    if (type == OP_UPDATE_LIST &&
        tmdb_rejects_user_credential(type, r->http_status, r->code))
        snprintf(msg, n, "TMDB rejected the v4 access token of this user (%s%d)",
                 r->code ? "status_code " : "HTTP ", r->code ? r->code : 401);
    else if (is_session_code(r->code))
        snprintf(msg, n, "TMDB rejected the session of this user (status_code %d)",
                 r->code);
    else if (r->code == 34 && type != OP_CREATE_LIST)
        snprintf(msg, n, "TMDB list %" PRId32 " not found (status_code 34)", list_id);
    else if (r->code == 36)
        snprintf(msg, n,
                 "the TMDB v4 access token of this user has no write permission "
                 "(status_code 36): approve a new one and set it with tmdbq session "
                 "set --access-token");
    else if (r->code == 38)
        snprintf(msg, n,
                 "TMDB list %" PRId32 " does not belong to this user (status_code 38)",
                 list_id);
    else if (r->code == 39)
        snprintf(msg, n, "TMDB list %" PRId32 " is private (status_code 39)", list_id);
    else if (r->http_status >= 200 && r->http_status < 300)
        snprintf(msg, n, "TMDB answered HTTP %ld but did not apply %s%s", r->http_status,
                 tname, sfx_text);
    else
        snprintf(msg, n, "TMDB refused %s: HTTP %ld%s", tname, r->http_status, sfx_text);
}

/* What to keep on the row; NULL on out of memory or when nothing is kept. */
static char *result_build(enum op_type type, enum tmdb_outcome o,
                          const struct response *r, bool quirk_confirmed)
{
    json_t *root = NULL, *id;
    char *text = NULL;

    if (o != TMDB_DONE && o != TMDB_GOAL_HOLDS)
        return NULL;
    if (quirk_confirmed) {
        root = json_pack("{s:i, s:b}", "status_code", r->code, "confirmed_deleted", 1);
    } else if (type == OP_CREATE_LIST && o == TMDB_DONE) {
        /* Current ids are integers; old ones were 24-hex strings: keep either (a success
         * has one, see success_body_ok). */
        id = json_object_get(r->json, "list_id");
        root = json_pack("{s:O}", "list_id", id);
    } else if (o == TMDB_GOAL_HOLDS) {
        root = json_pack("{s:i, s:b}", "status_code", r->code, "goal_already_held", 1);
    } else if (r->code != 0) {
        return int_object_text("status_code", r->code);
    } else {
        return int_object_text("http_status", (int)r->http_status);
    }
    if (root != NULL)
        text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return text;
}

/* ---- the operation ---------------------------------------------------------------- */

static enum tmdb_outcome response_outcome(enum op_type type, const struct response *r)
{
    enum tmdb_outcome o;
    char why[80];

    if (r->curl_code != CURLE_OK)
        return tmdb_classify(type, 0, 0);
    o = tmdb_classify(type, r->http_status, r->code);
    if (o != TMDB_DONE)
        return o;
    /* A 2xx that says success false without a code the table names did not apply. */
    if (r->success == 0)
        return TMDB_PERMANENT;
    /* A 2xx is a success only with TMDB's own answer. Anything else came from something
     * between us and TMDB (a proxy, a captive portal, a wrong TMDB_API_URL), which
     * answers every operation alike: a deployment fault, so operations wait without
     * spending retries (as transient they would all end failed while the fault lasts)
     * and the consumers say so. Should the garbling have been a one-off, the next attempt
     * completes the operation. */
    if (!success_body_ok(type, r, why, sizeof why))
        return TMDB_DEPLOYMENT;
    return o;
}

enum tmdb_outcome tmdb_classify_answer(enum op_type type, long http_status,
                                       const char *body, size_t len)
{
    struct response r;
    enum tmdb_outcome o;

    memset(&r, 0, sizeof r);
    r.success = -1;
    r.curl_code = CURLE_OK;
    r.http_status = http_status;
    body_parse(body, body != NULL ? len : 0, &r);
    o = response_outcome(type, &r);
    response_cleanup(&r);
    return o;
}

void tmdb_execute(struct tmdb_client *c, enum op_type type, int32_t list_id,
                  const char *data_json, const struct tmdb_creds *creds,
                  struct tmdb_result *out)
{
    struct request req;
    struct response r, confirm;
    enum tmdb_outcome o;
    int64_t movie_id = 0;
    bool quirk_confirmed = false;

    memset(out, 0, sizeof *out);
    memset(&r, 0, sizeof r);
    memset(&confirm, 0, sizeof confirm);
    out->outcome = TMDB_PERMANENT;
    if (!request_build(type, list_id, data_json, creds, &req, &movie_id, out->message,
                       sizeof out->message)) {
        request_cleanup(&req);
        return;
    }

    if (!paced_perform(c, &req, &r)) {
        out->outcome = TMDB_NOT_SENT;
        describe(c, type, list_id, movie_id, &r, TMDB_NOT_SENT, out->message,
                 sizeof out->message);
        request_cleanup(&req);
        return;
    }
    out->requests++;
    scrub_secrets(c, creds, r.status_message, sizeof r.status_message);
    scrub_secrets(c, creds, r.curl_error, sizeof r.curl_error);
    scrub_secrets(c, creds, r.content_type, sizeof r.content_type);
    o = response_outcome(type, &r);

    /* Quirk 1: TMDB answers a DELETE with 500 / status_code 11 although the list is gone.
     * Ask for the list (with the session, so a private list of this user is still seen):
     * 404 means deleted; anything else, retry the DELETE later. */
    if (type == OP_DELETE_LIST && r.curl_code == CURLE_OK && r.http_status == 500 &&
        r.code == 11) {
        struct request get;

        memset(&get, 0, sizeof get);
        get.method = "GET";
        get.session_id = req.session_id;
        snprintf(get.path, sizeof get.path, "/3/list/%" PRId32, list_id);
        if (paced_perform(c, &get, &confirm))
            out->requests++;
        else
            confirm.curl_code = CURLE_ABORTED_BY_CALLBACK;
        if (confirm.curl_code == CURLE_OK && confirm.http_status == 404) {
            o = TMDB_GOAL_HOLDS;
            quirk_confirmed = true;
        } else {
            o = TMDB_TRANSIENT;
        }
    }

    out->outcome = o;
    out->http_status = r.curl_code == CURLE_OK ? r.http_status : 0;
    out->tmdb_code = r.code;
    out->credentials = o == TMDB_PERMANENT &&
                       tmdb_rejects_user_credential(type, out->http_status, r.code);
    if (o == TMDB_TRANSIENT)
        out->retry_after_ms = r.retry_after_ms;
    else if (o == TMDB_RATE_LIMITED)
        out->retry_after_ms = r.retry_after_ms > 0 ? r.retry_after_ms : 1000;
    if (quirk_confirmed)
        snprintf(out->message, sizeof out->message,
                 "TMDB answered HTTP 500 (status_code 11) to the delete of list %" PRId32
                 ", and a GET confirmed the list is gone (HTTP 404)",
                 list_id);
    else if (type == OP_DELETE_LIST && r.http_status == 500 && r.code == 11 &&
             o == TMDB_TRANSIENT)
        snprintf(
            out->message, sizeof out->message,
            "TMDB unavailable: HTTP 500 (status_code 11) on the delete of list %" PRId32
            ", and the confirming GET %s%ld",
            list_id,
            confirm.curl_code == CURLE_OK ? "answered HTTP "
                                          : "got no answer, curl code ",
            confirm.curl_code == CURLE_OK ? confirm.http_status
                                          : (long)confirm.curl_code);
    else
        describe(c, type, list_id, movie_id, &r, o, out->message, sizeof out->message);
    out->result_json = result_build(type, o, &r, quirk_confirmed);

    response_cleanup(&confirm);
    response_cleanup(&r);
    request_cleanup(&req);
}
