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

/* What the readings of a string hide: a flag per byte (hide[i]), and a flag per position
 * where an empty secret ("u:@h", "password=&") shows as a mask (empty[i]). Every reading
 * adds to it, and the string is written once, each hidden run of bytes as one "***", so
 * what any reading takes for a secret is hidden, wherever readings overlap. */
struct url_mask {
    const char *url;
    bool *hide;
    bool *empty;
};

static void hide_range(struct url_mask *m, const char *from, const char *to)
{
    if (from == to) {
        m->empty[from - m->url] = true;
        return;
    }
    for (const char *p = from; p < to; p++)
        m->hide[p - m->url] = true;
}

/* Hide the values of the secret parameters of the query s..end. */
static void hide_query(struct url_mask *m, const char *s, const char *end)
{
    while (s < end) {
        const char *amp = memchr(s, '&', (size_t)(end - s));
        const char *pend = amp != NULL ? amp : end;
        const char *eq = memchr(s, '=', (size_t)(pend - s));

        if (eq != NULL && is_secret_name(s, (size_t)(eq - s)))
            hide_range(m, eq + 1, pend);
        if (amp == NULL)
            break;
        s = amp + 1;
    }
}

/* The first (last false) or last '@' of s..s+n, NULL when none. */
static const char *find_at(const char *s, size_t n, bool last)
{
    const char *at = NULL;

    for (const char *p = s; p < s + n; p++) {
        if (*p == '@') {
            at = p;
            if (!last)
                break;
        }
    }
    return at;
}

/* Hide the password of a userinfo that runs from auth to at (none when at is NULL):
 * from the first ':' in it. */
static void hide_userinfo(struct url_mask *m, const char *auth, const char *at)
{
    const char *colon = at != NULL ? memchr(auth, ':', (size_t)(at - auth)) : NULL;

    if (colon != NULL)
        hide_range(m, colon + 1, at);
}

/* One reading of a URL: its userinfo runs from auth to at (NULL: none); its query from
 * the first '?' after at (or auth) to the first '#', or to the end when stop_at_hash is
 * false. */
static void hide_reading(struct url_mask *m, const char *auth, const char *at,
                         bool stop_at_hash)
{
    const char *q = strchr(at != NULL ? at : auth, '?');

    hide_userinfo(m, auth, at);
    if (q != NULL)
        hide_query(m, q + 1, stop_at_hash ? q + strcspn(q, "#") : q + strlen(q));
}

/* One URL (its scheme scheme_len bytes with "://"), read three ways; in a well-formed URL
 * they agree, and an unencoded '?', '#' or '@' in a password is hidden too:
 * - libpq ends the userinfo at the first '@' before the first '/', and its query, from
 *   the first '?' after that, runs to the end (libpq knows no fragment: "?password=a#b"
 *   is the password "a#b");
 * - RFC 3986 parsers (libcurl) end the authority at the first '/', '?' or '#', the
 *   userinfo at the last '@' before it, and the query at '#';
 * - and the widest: the userinfo up to the last '@' before the first '/', the query
 *   from the first '?' after it. */
static void hide_url(struct url_mask *m, const char *url, size_t scheme_len)
{
    const char *auth = url + scheme_len;
    size_t auth_len = strcspn(auth, "/");
    bool libpq = strncmp(url, "postgresql://", scheme_len) == 0 ||
                 strncmp(url, "postgres://", scheme_len) == 0;

    hide_reading(m, auth, find_at(auth, auth_len, true), !libpq);
    hide_reading(m, auth, find_at(auth, strcspn(auth, "/?#"), true), true);
    if (libpq)
        hide_reading(m, auth, find_at(auth, auth_len, false), false);
}

/* libpq keyword/value: key = value pairs separated by spaces; a value may be
 * single-quoted with backslash escapes. Anything that does not parse is left as is. */
static void hide_keywords(struct url_mask *m, const char *s)
{
    while (*s != '\0') {
        const char *key = s;
        const char *p;
        size_t key_len;

        if (isspace((unsigned char)*s)) {
            s++;
            continue;
        }
        while (*s != '\0' && *s != '=' && !isspace((unsigned char)*s))
            s++;
        key_len = (size_t)(s - key);
        p = s;
        while (isspace((unsigned char)*p))
            p++;
        if (*p != '=')
            continue;
        p++;
        while (isspace((unsigned char)*p))
            p++;
        s = p;
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
        if (is_secret_name(key, key_len))
            hide_range(m, s, p);
        s = p;
    }
}

/* A URL, a list of URLs (the nodes of a cluster, split at a ',' that starts another URL
 * of the same scheme, each read on its own) or a libpq keyword/value string. */
static void hide_any(struct url_mask *m)
{
    const char *url = m->url;
    size_t scheme_len = url_scheme_len(url);

    if (scheme_len == 0) {
        hide_keywords(m, url);
        return;
    }
    for (;;) {
        const char *next = url;
        struct url_mask one;

        while ((next = strchr(next + 1, ',')) != NULL &&
               strncmp(next + 1, url, scheme_len) != 0)
            ;
        if (next == NULL) {
            hide_url(m, url, scheme_len);
            return;
        }
        /* The node alone, with the flags of its own bytes. */
        one.url = strndup(url, (size_t)(next - url));
        if (one.url == NULL) {
            hide_range(m, url, url + strlen(url));
            return;
        }
        one.hide = m->hide + (url - m->url);
        one.empty = m->empty + (url - m->url);
        hide_url(&one, one.url, scheme_len);
        free((char *)one.url);
        url = next + 1;
    }
}

/* The password of every "://user:password@" anywhere in the string: a URL after a typo
 * (a leading space or quote), a node of a list in another scheme, a URL inside a
 * keyword's or a parameter's value. cfg quotes exactly such strings when it refuses a
 * malformed URL. */
static void hide_embedded(struct url_mask *m)
{
    for (const char *sep = strstr(m->url, "://"); sep != NULL;
         sep = strstr(sep + 1, "://")) {
        const char *auth = sep + 3;

        hide_userinfo(m, auth, find_at(auth, strcspn(auth, "/"), true));
    }
}

void log_mask_url(const char *url, char *out, size_t n)
{
    struct sbuf b;
    size_t len;
    struct url_mask m;

    if (out == NULL || n == 0)
        return;
    sbuf_init(&b, out, n);
    if (url == NULL)
        return;
    len = strlen(url);
    m.url = url;
    m.hide = calloc(len + 1, sizeof(bool));
    m.empty = calloc(len + 1, sizeof(bool));
    if (m.hide == NULL || m.empty == NULL) {
        sbuf_puts(&b, "***");
        goto out;
    }
    hide_any(&m);
    hide_embedded(&m);
    for (size_t i = 0; i <= len && !b.full;) {
        if (i < len && m.hide[i]) {
            sbuf_puts(&b, "***");
            while (i < len && m.hide[i])
                i++;
            continue;
        }
        if (m.empty[i] && (i == 0 || !m.hide[i - 1]))
            sbuf_puts(&b, "***");
        if (i < len)
            sbuf_putn(&b, url + i, 1);
        i++;
    }
out:
    free(m.hide);
    free(m.empty);
}
