/*
 * log: one line per event on stderr, as text or as JSON.
 *
 * Each line is built in a bounded buffer and handed to stderr with a single fwrite, so
 * lines from many processes sharing a terminal or a file do not interleave mid-line. A
 * message longer than the buffer is cut short rather than allocated for: logging must not
 * fail. Text lines turn control characters into spaces to stay one line per event; JSON
 * lines escape them. log_mask_url lives here because masking is what makes a URL safe to
 * log: it copies character by character and only ever writes "***" where a secret was.
 */
#include "log.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define LOG_MSG_MAX 4096
/* Room for a message in which every byte became a six-byte \u00XX escape. */
#define LOG_LINE_MAX (LOG_MSG_MAX * 6 + 512)

static const char *log_program = "tmdbq";
static enum log_level log_min_level = LOG_LEVEL_INFO;
static enum log_format log_fmt = LOG_FORMAT_TEXT;

void log_init(const char *program, enum log_level level, enum log_format format)
{
    if (program != NULL && program[0] != '\0')
        log_program = program;
    log_min_level = level;
    log_fmt = format;
}

/* The names of the levels, by value: for JSON lines and for text lines. */
static const char *const level_names[] = {
    [LOG_LEVEL_DEBUG] = "debug",
    [LOG_LEVEL_INFO] = "info",
    [LOG_LEVEL_WARN] = "warn",
    [LOG_LEVEL_ERROR] = "error",
};
static const char *const level_upper_names[] = {
    [LOG_LEVEL_DEBUG] = "DEBUG",
    [LOG_LEVEL_INFO] = "INFO",
    [LOG_LEVEL_WARN] = "WARN",
    [LOG_LEVEL_ERROR] = "ERROR",
};

/* A bounded string builder: appends stop at the end; the text stays NUL-terminated. */
struct sbuf {
    char *p;
    size_t len;
    size_t cap; /* bytes available, including the terminator; > 0 */
    bool full;
};

static void sbuf_init(struct sbuf *b, char *p, size_t cap)
{
    b->p = p;
    b->len = 0;
    b->cap = cap;
    b->full = false;
    p[0] = '\0';
}

static void sbuf_putn(struct sbuf *b, const char *s, size_t n)
{
    size_t room = b->cap - 1 - b->len;

    if (n > room) {
        n = room;
        b->full = true;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sbuf_puts(struct sbuf *b, const char *s) { sbuf_putn(b, s, strlen(s)); }

/* Append s whole or not at all; after the first miss nothing more is appended. JSON
 * syntax goes through here so that a cut line never ends inside a key. */
static void sbuf_lit(struct sbuf *b, const char *s)
{
    size_t n = strlen(s);

    if (b->full || n > b->cap - 1 - b->len) {
        b->full = true;
        return;
    }
    sbuf_putn(b, s, n);
}

/* The length of the well-formed UTF-8 sequence at s (1 to 4 bytes, RFC 3629), 0 when s
 * does not start one. Stops at a NUL. */
static size_t utf8_len(const unsigned char *s)
{
    size_t n, i;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        n = 2;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF)
        n = 3;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4)
        n = 4;
    else
        return 0;
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    }
    /* No overlong forms, surrogates or code points past U+10FFFF. */
    if ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] > 0x9F) ||
        (s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] > 0x8F))
        return 0;
    return n;
}

/* Append s as the inside of a JSON string. An escape that does not fit is dropped whole,
 * so truncation never leaves half an escape that would make the line invalid JSON. JSON
 * is UTF-8: a byte that is not part of a well-formed sequence (Latin-1 text from a
 * server, a sequence the message limit cut) becomes U+FFFD. */
static void sbuf_put_json(struct sbuf *b, const char *s)
{
    for (; *s != '\0' && !b->full; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        size_t n;

        if (c >= 0x80) {
            n = utf8_len((const unsigned char *)s);
            if (n == 0) {
                sbuf_lit(b, "\\ufffd");
                continue;
            }
            if (n > b->cap - 1 - b->len) {
                b->full = true;
                break;
            }
            sbuf_putn(b, s, n);
            s += n - 1;
            continue;
        }

        switch (c) {
        case '"':
            n = (size_t)snprintf(esc, sizeof esc, "\\\"");
            break;
        case '\\':
            n = (size_t)snprintf(esc, sizeof esc, "\\\\");
            break;
        case '\n':
            n = (size_t)snprintf(esc, sizeof esc, "\\n");
            break;
        case '\r':
            n = (size_t)snprintf(esc, sizeof esc, "\\r");
            break;
        case '\t':
            n = (size_t)snprintf(esc, sizeof esc, "\\t");
            break;
        default:
            if (c < 0x20 || c == 0x7f)
                n = (size_t)snprintf(esc, sizeof esc, "\\u%04x", c);
            else
                n = (size_t)snprintf(esc, sizeof esc, "%c", c);
            break;
        }
        if (n > b->cap - 1 - b->len) {
            b->full = true;
            break;
        }
        sbuf_putn(b, esc, n);
    }
}

/* level's name; an unknown value is named as an error. */
static const char *level_name(const char *const *names, enum log_level l)
{
    return (unsigned)l < sizeof level_names / sizeof level_names[0]
               ? names[l]
               : names[LOG_LEVEL_ERROR];
}

/* UTC with milliseconds: 2026-11-24T06:25:27.123Z. */
static void format_time(char *buf, size_t n)
{
    struct timespec ts;
    struct tm tm;
    char secs[32];

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || gmtime_r(&ts.tv_sec, &tm) == NULL ||
        strftime(secs, sizeof secs, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
        snprintf(buf, n, "1970-01-01T00:00:00.000Z");
        return;
    }
    snprintf(buf, n, "%s.%03dZ", secs, (int)((ts.tv_nsec / 1000000) % 1000));
}

/* Control characters would split one event over lines (libpq messages end in '\n'). */
static void flatten_text(char *s)
{
    size_t len;

    for (char *p = s; *p != '\0'; p++) {
        if (iscntrl((unsigned char)*p))
            *p = ' ';
    }
    len = strlen(s);
    while (len > 0 && s[len - 1] == ' ')
        s[--len] = '\0';
}

void log_write(enum log_level level, const char *op, const char *fmt, ...)
{
    char msg[LOG_MSG_MAX];
    char line[LOG_LINE_MAX];
    char ts[64];
    struct sbuf b;
    va_list ap;

    if (level < log_min_level)
        return;
    va_start(ap, fmt);
    if (vsnprintf(msg, sizeof msg, fmt, ap) < 0)
        snprintf(msg, sizeof msg, "(unformattable log message)");
    va_end(ap);
    format_time(ts, sizeof ts);

    if (log_fmt == LOG_FORMAT_JSON) {
        /* Keep room for the closing quote and brace and the newline, so a cut line is
         * still one valid JSON object. */
        sbuf_init(&b, line, sizeof line - 3);
        sbuf_lit(&b, "{\"ts\":\"");
        sbuf_lit(&b, ts);
        sbuf_lit(&b, "\",\"level\":\"");
        sbuf_lit(&b, level_name(level_names, level));
        sbuf_lit(&b, "\",\"program\":\"");
        sbuf_put_json(&b, log_program);
        sbuf_lit(&b, "\",\"msg\":\"");
        sbuf_put_json(&b, msg);
        if (op != NULL) {
            sbuf_lit(&b, "\",\"op\":\"");
            sbuf_put_json(&b, op);
        }
        b.cap += 2;
        b.full = false;
        sbuf_lit(&b, "\"}");
    } else {
        /* Keep the last byte for the newline. */
        sbuf_init(&b, line, sizeof line - 1);
        flatten_text(msg);
        sbuf_puts(&b, ts);
        sbuf_puts(&b, " ");
        sbuf_puts(&b, level_name(level_upper_names, level));
        sbuf_puts(&b, " ");
        sbuf_puts(&b, log_program);
        sbuf_puts(&b, ": ");
        sbuf_puts(&b, msg);
        if (op != NULL) {
            sbuf_puts(&b, " op=");
            sbuf_puts(&b, op);
        }
    }
    line[b.len] = '\n';
    fwrite(line, 1, b.len + 1, stderr);
}

/* Query parameters and keywords whose values are secrets. */
static bool is_secret_name(const char *name, size_t n)
{
    static const char *const names[] = {"api_key",  "session_id", "access_token",
                                        "password", "token",      "sslpassword"};
    size_t i;

    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strlen(names[i]) == n && strncasecmp(name, names[i], n) == 0)
            return true;
    }
    return false;
}

/* The length of `scheme "://"`, scheme being ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
 * as in RFC 3986; 0 when s does not start with one. */
static size_t url_scheme_len(const char *s)
{
    size_t i = 0;

    if (!isalpha((unsigned char)s[0]))
        return 0;
    while (isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.')
        i++;
    if (strncmp(s + i, "://", 3) != 0)
        return 0;
    return i + 3;
}

/* Copy the query (or fragment-free remainder) s..end, masking secret parameter values. */
static void mask_query(struct sbuf *b, const char *s, const char *end)
{
    while (s < end) {
        const char *amp = memchr(s, '&', (size_t)(end - s));
        const char *pend = amp != NULL ? amp : end;
        const char *eq = memchr(s, '=', (size_t)(pend - s));

        if (eq != NULL && is_secret_name(s, (size_t)(eq - s))) {
            sbuf_putn(b, s, (size_t)(eq - s) + 1);
            sbuf_puts(b, "***");
        } else {
            sbuf_putn(b, s, (size_t)(pend - s));
        }
        if (amp == NULL)
            break;
        sbuf_putn(b, "&", 1);
        s = amp + 1;
    }
}

/* The widest reading wins, so a password is hidden whichever parser reads the URL. libpq
 * ends the userinfo at the first '@' before the first '/', RFC 3986 parsers (libcurl) at
 * the last '@' before the first '/', '?' or '#': masking up to the last '@' before the
 * first '/' covers both, and an unencoded '?', '#' or '@' in a password. The query starts
 * at the first '?' after the userinfo; in a libpq URI it runs to the end (libpq knows no
 * fragment: "?password=a#b" is the password "a#b"), elsewhere to the first '#'. */
static void mask_url(struct sbuf *b, const char *url, size_t scheme_len)
{
    const char *auth = url + scheme_len;
    size_t auth_len = strcspn(auth, "/");
    bool libpq = strncmp(url, "postgresql://", scheme_len) == 0 ||
                 strncmp(url, "postgres://", scheme_len) == 0;
    const char *at = NULL;
    const char *rest;
    const char *q;
    const char *end;

    sbuf_putn(b, url, scheme_len);
    for (const char *p = auth; p < auth + auth_len; p++) {
        if (*p == '@')
            at = p;
    }
    if (at != NULL) {
        const char *colon = memchr(auth, ':', (size_t)(at - auth));

        if (colon != NULL) {
            sbuf_putn(b, auth, (size_t)(colon - auth) + 1);
            sbuf_puts(b, "***");
        } else {
            sbuf_putn(b, auth, (size_t)(at - auth));
        }
        rest = at;
    } else {
        rest = auth;
    }

    q = strchr(rest, '?');
    if (q == NULL) {
        sbuf_puts(b, rest);
        return;
    }
    sbuf_putn(b, rest, (size_t)(q - rest) + 1);
    end = libpq ? q + strlen(q) : q + strcspn(q, "#");
    mask_query(b, q + 1, end);
    sbuf_puts(b, end);
}

/* libpq keyword/value: key = value pairs separated by spaces; a value may be
 * single-quoted with backslash escapes. Anything that does not parse is copied as is. */
static void mask_keywords(struct sbuf *b, const char *s)
{
    while (*s != '\0') {
        const char *key = s;
        const char *p;
        size_t key_len;
        const char *val;
        bool secret;

        if (isspace((unsigned char)*s)) {
            sbuf_putn(b, s, 1);
            s++;
            continue;
        }
        while (*s != '\0' && *s != '=' && !isspace((unsigned char)*s))
            s++;
        key_len = (size_t)(s - key);
        p = s;
        while (isspace((unsigned char)*p))
            p++;
        if (*p != '=') {
            sbuf_putn(b, key, key_len);
            continue;
        }
        p++;
        while (isspace((unsigned char)*p))
            p++;
        /* key, spaces, '=', spaces */
        sbuf_putn(b, key, (size_t)(p - key));
        val = p;
        if (*p == '\'') {
            p++;
            while (*p != '\0' && *p != '\'') {
                if (*p == '\\' && p[1] != '\0')
                    p++;
                p++;
            }
            if (*p == '\'')
                p++;
        } else {
            /* libpq takes a backslash escape here too ("a\\ b" is one value). */
            while (*p != '\0' && !isspace((unsigned char)*p)) {
                if (*p == '\\' && p[1] != '\0')
                    p++;
                p++;
            }
        }
        secret = is_secret_name(key, key_len);
        if (secret)
            sbuf_puts(b, "***");
        else
            sbuf_putn(b, val, (size_t)(p - val));
        s = p;
    }
}

/* url masked as a URL, a list of URLs or a libpq keyword/value string, into b. */
static void mask_any(struct sbuf *b, const char *url)
{
    size_t scheme_len = url_scheme_len(url);

    if (scheme_len == 0) {
        mask_keywords(b, url);
        return;
    }
    /* A list of URLs (the nodes of a cluster): each URL masked on its own, split at a ','
     * that starts another URL of the same scheme. */
    for (;;) {
        const char *next = url;
        char *one;

        while ((next = strchr(next + 1, ',')) != NULL &&
               strncmp(next + 1, url, scheme_len) != 0)
            ;
        if (next == NULL) {
            mask_url(b, url, scheme_len);
            return;
        }
        one = strndup(url, (size_t)(next - url));
        if (one == NULL) {
            sbuf_puts(b, "***");
            return;
        }
        mask_url(b, one, scheme_len);
        free(one);
        sbuf_putn(b, ",", 1);
        url = next + 1;
    }
}

/* Copy s, masking the password of every "://user:password@" still in it: a URL after a
 * typo (a leading space or quote), a node of a list in another scheme, a URL inside a
 * keyword's value. cfg quotes exactly such strings when it refuses a malformed URL. */
static void mask_embedded(struct sbuf *b, const char *s)
{
    const char *sep;

    while ((sep = strstr(s, "://")) != NULL) {
        const char *auth = sep + 3;
        size_t auth_len = strcspn(auth, "/");
        const char *at = NULL;
        const char *colon;

        for (const char *p = auth; p < auth + auth_len; p++) {
            if (*p == '@')
                at = p;
        }
        colon = at != NULL ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        /* No password, or one mask_url masked already. */
        if (colon == NULL || (at - colon == 4 && strncmp(colon + 1, "***", 3) == 0)) {
            sbuf_putn(b, s, (size_t)(auth - s));
            s = auth;
            continue;
        }
        sbuf_putn(b, s, (size_t)(colon + 1 - s));
        sbuf_puts(b, "***");
        s = at;
    }
    sbuf_puts(b, s);
}

void log_mask_url(const char *url, char *out, size_t n)
{
    struct sbuf b, whole;
    size_t cap;
    char *first;

    if (out == NULL || n == 0)
        return;
    sbuf_init(&b, out, n);
    if (url == NULL)
        return;
    /* Whole first (a mask may be longer than what it hides), then cut to n. */
    cap = strlen(url) * 4 + 8;
    first = malloc(cap);
    if (first == NULL) {
        sbuf_puts(&b, "***");
        return;
    }
    sbuf_init(&whole, first, cap);
    mask_any(&whole, url);
    mask_embedded(&b, first);
    free(first);
}
