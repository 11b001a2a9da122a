/*
 * fuzz_log_mask_url: log_mask_url, which makes the configured URLs safe to print (the
 * startup summary, the refusal of a bad URL, tmdbq-http's settings page). The input's
 * first byte sizes the output buffer; the rest is the URL or libpq keyword/value string
 * (a NUL ends it).
 *
 * Properties: the output is terminated inside the buffer, which is exactly its size so
 * AddressSanitizer sees any overrun. And the parsers that read these strings are the
 * oracles for what is secret in them:
 * - libpq (PQconninfoParse), which reads TMDBQ_DATABASE_URL: when it accepts the string,
 *   it must accept the masked form too (masking only replaces secret values with "***",
 *   so a masked form libpq refuses means the masker cut a value elsewhere than libpq
 *   does, and the rest of it shows; except where the masker hides more than libpq's
 *   password, see masks_more), and the password and sslpassword it reads from the masked
 *   form must not be the real ones;
 * - libcurl's URL parser (curl_url, any scheme), which reads TMDB_API_URL and
 *   TMDBQ_AMQP_MANAGEMENT_URL and reads an amqp:// URL as RFC 3986 says: for a
 *   scheme://authority URL, the password it reads from the masked form must not be the
 *   real one.
 * Either way, a password of 4 bytes or more that appears once in the input, spelt as the
 * input spells it, must not appear in the output; and so for every URL the string holds
 * (a list of nodes, or one after a typo: libcurl reads each from its scheme on).
 */
#include <ctype.h>

#include <curl/curl.h>
#include <libpq-fe.h>

#include "fuzz.h"
#include "log.h"

#define OUT_MAX 1024

/* The value of keyword in opts, NULL when absent. */
static const char *opt(const PQconninfoOption *opts, const char *keyword)
{
    for (const PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (strcmp(o->keyword, keyword) == 0)
            return o->val;
    }
    return NULL;
}

/* Whether s is only asterisks (the mask itself, or empty). */
static bool is_mask(const char *s) { return strspn(s, "*") == strlen(s); }

/* A secret seen verbatim exactly once in the input may not be seen in the output. The
 * secret must be as the input spells it, not decoded: the caller makes sure (libpq
 * decodes %XX, backslashes and quotes, so its values are used only when the input has
 * none; libcurl's are not decoded). */
static void check_not_shown(const char *secret, const char *url, const char *shown,
                            const char *what)
{
    const char *first;

    /* With a '*' it could be made of the mask and what surrounds it. */
    if (secret == NULL || strlen(secret) < 4 || strchr(secret, '*') != NULL)
        return;
    first = strstr(url, secret);
    if (first == NULL || strstr(first + 1, secret) != NULL)
        return;
    FUZZ_CHECK(strstr(shown, secret) == NULL, "%s \"%s\" of \"%s\" is shown: \"%s\"",
               what, secret, url, shown);
}

static void check_secret(const PQconninfoOption *in, const PQconninfoOption *masked,
                         const char *keyword, const char *url, const char *shown)
{
    const char *real = opt(in, keyword), *seen = opt(masked, keyword);

    if (real == NULL || real[0] == '\0' || is_mask(real))
        return;
    FUZZ_CHECK(seen == NULL || strcmp(seen, real) != 0,
               "libpq reads %s \"%s\" from \"%s\" and from its masked form \"%s\"",
               keyword, real, url, shown);
    if (strpbrk(url, "%\\'") == NULL)
        check_not_shown(real, url, shown, keyword);
}

/* Whether libpq reads s as a URI, not as keyword/value pairs. */
static bool libpq_uri(const char *s)
{
    return strncmp(s, "postgresql://", 13) == 0 || strncmp(s, "postgres://", 11) == 0;
}

/* Whether log_mask_url may hide more than libpq's secrets, so that the masked form need
 * not parse: when the authority of a libpq URI (up to the first '/') holds more than one
 * '@' (libpq ends the userinfo at the first, log_mask_url at the last, as RFC 3986
 * parsers do), or when "://" appears past a URI's scheme or anywhere in keyword/value
 * pairs (log_mask_url hides what looks like a URL's password wherever it is), or when a
 * '?' comes before libpq's '@' (an RFC 3986 parser ends the authority there and reads a
 * query, whose secrets log_mask_url hides too). */
static bool masks_more(const char *url)
{
    const char *auth = strstr(url, "://"), *at;

    if (auth == NULL)
        return false;
    if (!libpq_uri(url))
        return true;
    auth += 3;
    if (strstr(auth, "://") != NULL)
        return true;
    at = memchr(auth, '@', strcspn(auth, "/"));
    if (at == NULL)
        return false;
    /* A '?' before libpq's '@': an RFC 3986 parser reads a query there. */
    return memchr(at + 1, '@', strcspn(at + 1, "/")) != NULL ||
           memchr(auth, '?', (size_t)(at - auth)) != NULL;
}

/* libpq keyword/value: libpq needs no space after a quoted value ("password='x'host=h"),
 * but the mask that replaced it is not quoted and runs into the next keyword, which then
 * reads as part of the value. Parse the masked form with a space after every mask (the
 * caller makes sure every "***" in it is one: the input has no '*'); should that not
 * parse (a mask inside a value: "dbname=postgresql://u:***@h"), as it is. */
static PQconninfoOption *parse_spaced(const char *shown)
{
    char *spaced = malloc(strlen(shown) * 2 + 1), *o = spaced;
    PQconninfoOption *opts;

    if (spaced == NULL)
        abort();
    for (const char *p = shown; *p != '\0';) {
        if (strncmp(p, "***", 3) == 0) {
            memcpy(o, "*** ", 4);
            o += 4;
            p += 3;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    opts = PQconninfoParse(spaced, NULL);
    free(spaced);
    return opts != NULL ? opts : PQconninfoParse(shown, NULL);
}

static void check_libpq(const char *url, const char *shown)
{
    PQconninfoOption *in = PQconninfoParse(url, NULL), *masked;

    if (in == NULL)
        return;
    if (libpq_uri(url)) {
        masked = PQconninfoParse(shown, NULL);
    } else if (strchr(url, '*') == NULL) {
        masked = parse_spaced(shown);
    } else {
        PQconninfoFree(in);
        return;
    }
    if (masked == NULL && masks_more(url)) {
        if (strpbrk(url, "%\\'") == NULL) {
            check_not_shown(opt(in, "password"), url, shown, "password");
            check_not_shown(opt(in, "sslpassword"), url, shown, "sslpassword");
        }
        PQconninfoFree(in);
        return;
    }
    FUZZ_CHECK(masked != NULL,
               "libpq reads \"%s\" but refuses its masked form \"%s\": a value was cut "
               "elsewhere than libpq cuts it",
               url, shown);
    check_secret(in, masked, "password", url, shown);
    check_secret(in, masked, "sslpassword", url, shown);
    PQconninfoFree(masked);
    PQconninfoFree(in);
}

/* The password libcurl reads from s (curl_free), NULL when none or s does not parse. */
static char *curl_password(const char *s)
{
    CURLU *u = curl_url();
    char *pw = NULL;

    if (u == NULL)
        abort();
    if (curl_url_set(u, CURLUPART_URL, s, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PASSWORD, &pw, 0) != CURLUE_OK)
        pw = NULL;
    curl_url_cleanup(u);
    return pw;
}

/* Whether s starts scheme://authority, the only shape of URL tmdbq takes (cfg.c): libcurl
 * also reads "scheme:/x" and "scheme:///x", where it finds a password nothing else would.
 */
static bool authority_url(const char *s)
{
    size_t i = 0;

    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return false;
    while ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
           (s[i] >= '0' && s[i] <= '9') || s[i] == '+' || s[i] == '-' || s[i] == '.')
        i++;
    return strncmp(s + i, "://", 3) == 0 && s[i + 3] != '/' && s[i + 3] != '\0';
}

static void check_curl(const char *url, const char *shown)
{
    char *real, *seen;

    if (!authority_url(url))
        return;
    real = curl_password(url);
    if (real == NULL)
        return;
    if (real[0] != '\0' && !is_mask(real)) {
        seen = curl_password(shown);
        FUZZ_CHECK(seen == NULL || strcmp(seen, real) != 0,
                   "libcurl reads the password \"%s\" from \"%s\" and from its masked "
                   "form \"%s\"",
                   real, url, shown);
        curl_free(seen);
        check_not_shown(real, url, shown, "password");
    }
    curl_free(real);
}

/* Every URL in the string, wherever it starts (a list of nodes, as TMDBQ_AMQP_URL may
 * be; a URL after a typo, which cfg quotes when it refuses it): its password is not
 * shown either. */
static void check_curl_embedded(const char *url, const char *shown)
{
    for (const char *sep = strstr(url, "://"); sep != NULL;
         sep = strstr(sep + 1, "://")) {
        const char *start = sep;
        char *real;

        while (start > url && (isalnum((unsigned char)start[-1]) || start[-1] == '+' ||
                               start[-1] == '-' || start[-1] == '.'))
            start--;
        if (start == url || !authority_url(start))
            continue;
        real = curl_password(start);
        check_not_shown(real, url, shown, "password");
        curl_free(real);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t n = size > 0 ? (size_t)data[0] * 4 + 1 : 1;
    char *url = fuzz_cstring(size > 0 ? data + 1 : data, size > 0 ? size - 1 : 0);
    char *out = malloc(n), *full = malloc(OUT_MAX);

    if (out == NULL || full == NULL)
        abort();
    log_mask_url(url, out, n);
    FUZZ_CHECK(memchr(out, '\0', n) != NULL, "output not terminated in %zu bytes", n);

    /* Whole, so the oracles see all of it. */
    if (strlen(url) < OUT_MAX / 2) {
        log_mask_url(url, full, OUT_MAX);
        check_libpq(url, full);
        check_curl(url, full);
        check_curl_embedded(url, full);
    }
    free(full);
    free(out);
    free(url);
    return 0;
}
