/*
 * test_log: URL masking, level parsing, and the text and JSON line formats. Needs no
 * services.
 *
 * Log lines are captured by pointing stderr at a temporary file, which is how an operator
 * sees them. JSON lines are checked with a small strict parser for flat objects of string
 * values, so a missing escape or a stray quote fails the test.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "log.h"

#define CAPTURE_MAX 65536

static char captured[CAPTURE_MAX];

/* Start sending stderr to a temporary file; returns the saved descriptor. */
static int capture_begin(int *fd_out, char *path, size_t n)
{
    int saved;

    snprintf(path, n, "/tmp/ta_test_log_XXXXXX");
    *fd_out = mkstemp(path);
    CHECK(*fd_out >= 0);
    fflush(stderr);
    saved = dup(STDERR_FILENO);
    CHECK(saved >= 0);
    dup2(*fd_out, STDERR_FILENO);
    return saved;
}

/* Restore stderr and read what was written into `captured`. */
static const char *capture_end(int saved, int fd, const char *path)
{
    FILE *f;
    size_t got = 0;

    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fd);
    f = fopen(path, "r");
    CHECK(f != NULL);
    if (f != NULL) {
        got = fread(captured, 1, sizeof captured - 1, f);
        fclose(f);
    }
    captured[got] = '\0';
    unlink(path);
    return captured;
}

/* Parse a JSON string at *p (which points at the opening quote) into out, decoding
 * escapes; false on anything JSON does not allow. */
static bool json_string(const char **p, char *out, size_t n)
{
    const char *s = *p;
    size_t len = 0;

    if (*s != '"')
        return false;
    s++;
    while (*s != '"') {
        char c = *s;

        if ((unsigned char)c < 0x20)
            return false;
        if (c == '\\') {
            s++;
            switch (*s) {
            case '"':
            case '\\':
            case '/':
                c = *s;
                break;
            case 'n':
                c = '\n';
                break;
            case 'r':
                c = '\r';
                break;
            case 't':
                c = '\t';
                break;
            case 'b':
                c = '\b';
                break;
            case 'f':
                c = '\f';
                break;
            case 'u': {
                char hex[5];
                char *end;
                long v;
                int i;

                for (i = 0; i < 4; i++) {
                    if (!isxdigit((unsigned char)s[1 + i]))
                        return false;
                    hex[i] = s[1 + i];
                }
                hex[4] = '\0';
                v = strtol(hex, &end, 16);
                if (*end != '\0' || v < 1 || v > 0x7f)
                    return false; /* the logger only escapes ASCII controls */
                c = (char)v;
                s += 4;
                break;
            }
            default:
                return false;
            }
        }
        if (len + 1 >= n)
            return false;
        out[len++] = c;
        s++;
    }
    out[len] = '\0';
    *p = s + 1;
    return true;
}

#define MAX_FIELDS 8

struct fields {
    int count;
    char key[MAX_FIELDS][32];
    char val[MAX_FIELDS][8192];
};

/* Parse one line that must be exactly `{"k":"v",...}\n`. */
static bool json_line(const char *line, struct fields *f)
{
    const char *p = line;

    f->count = 0;
    if (*p++ != '{')
        return false;
    for (;;) {
        if (f->count == MAX_FIELDS)
            return false;
        if (!json_string(&p, f->key[f->count], sizeof f->key[0]))
            return false;
        if (*p++ != ':')
            return false;
        if (!json_string(&p, f->val[f->count], sizeof f->val[0]))
            return false;
        f->count++;
        if (*p == ',') {
            p++;
            continue;
        }
        break;
    }
    return p[0] == '}' && p[1] == '\n' && p[2] == '\0';
}

static const char *field(const struct fields *f, const char *key)
{
    int i;

    for (i = 0; i < f->count; i++) {
        if (strcmp(f->key[i], key) == 0)
            return f->val[i];
    }
    return NULL;
}

/* 2026-11-24T06:25:27.123Z */
static bool looks_like_time(const char *s)
{
    const char *shape = "dddd-dd-ddTdd:dd:dd.dddZ";
    size_t i;

    for (i = 0; shape[i] != '\0'; i++) {
        if (shape[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != shape[i])
            return false;
    }
    return true;
}

static void check_mask(const char *in, const char *want)
{
    char out[512];

    memset(out, 'x', sizeof out);
    log_mask_url(in, out, sizeof out);
    CHECK_STR_EQ(out, want);
}

static void test_mask(void)
{
    char small[16];
    char one[1];

    check_mask("postgresql://tmdbq:secret@localhost:5432/db",
               "postgresql://tmdbq:***@localhost:5432/db");
    check_mask("amqp://guest:pw@h:5672/%2f", "amqp://guest:***@h:5672/%2f");
    check_mask("https://api.themoviedb.org/3/list?api_key=K&session_id=S",
               "https://api.themoviedb.org/3/list?api_key=***&session_id=***");
    check_mask("https://api.themoviedb.org/3/list/7?language=en&api_key=KEY&page=2",
               "https://api.themoviedb.org/3/list/7?language=en&api_key=***&page=2");
    check_mask("http://h/x?access_token=a&token=b&password=c#frag",
               "http://h/x?access_token=***&token=***&password=***#frag");
    check_mask("postgresql://u:p@h/db?sslmode=disable&password=pw",
               "postgresql://u:***@h/db?sslmode=disable&password=***");
    /* '@' in the password: the last '@' of the authority ends the userinfo. */
    check_mask("postgresql://u:p@ss@h/db", "postgresql://u:***@h/db");
    /* Where parsers disagree, what any of them reads as a secret is hidden: libpq ends
     * the userinfo at the first '@' and reads a query after it (found by fuzzing); an
     * RFC 3986 parser ends the authority at the first '?'. */
    check_mask("postgres://u@h?password=s3cret&sslmode=x@",
               "postgres://u@h?password=***&sslmode=x@");
    check_mask("postgres://u:p@h?sslmode=a@b&password=secret",
               "postgres://u:***@b&password=***");
    check_mask("http://u?api_key=KEY@h/x", "http://u?api_key=***");
    check_mask("amqp://u:@h/", "amqp://u:***@h/");
    check_mask("host=x password=secret dbname=y", "host=x password=*** dbname=y");
    check_mask("host=x password = 'se cret\\' x' dbname=y",
               "host=x password = *** dbname=y");
    check_mask("password=secret", "password=***");
    /* The nodes of a cluster: every URL's password masked, a ',' in one kept. */
    check_mask("amqp://g:pw1@h1:5672/%2f,amqp://g:pw2@h2:5672/%2f,amqp://g:p,w3@h3/",
               "amqp://g:***@h1:5672/%2f,amqp://g:***@h2:5672/%2f,amqp://g:***@h3/");
    check_mask("postgresql://u:pw@h1:5432,h2:5432/db?target_session_attrs=read-write",
               "postgresql://u:***@h1:5432,h2:5432/db?target_session_attrs=read-write");

    /* Nothing secret: unchanged. */
    check_mask("postgresql://tmdbq@localhost:5432/tmdbq",
               "postgresql://tmdbq@localhost:5432/tmdbq");
    check_mask("https://api.themoviedb.org", "https://api.themoviedb.org");
    check_mask("https://api.themoviedb.org/3/list/1?language=en",
               "https://api.themoviedb.org/3/list/1?language=en");
    check_mask("host=localhost dbname=tmdbq", "host=localhost dbname=tmdbq");
    check_mask("", "");
    check_mask(NULL, "");
    /* A name that merely contains a secret name is not a secret. */
    check_mask("http://h/?my_token=v", "http://h/?my_token=v");

    memset(small, 'x', sizeof small);
    log_mask_url("postgresql://tmdbq:secret@localhost:5432/db", small, sizeof small);
    CHECK_EQ_INT(strlen(small), sizeof small - 1);
    CHECK_STR_EQ(small, "postgresql://tm");
    memset(small, 'x', sizeof small);
    log_mask_url("amqp://guest:pw@h/", small, sizeof small);
    CHECK_STR_EQ(small, "amqp://guest:**");
    one[0] = 'x';
    log_mask_url("amqp://guest:pw@h/", one, sizeof one);
    CHECK_EQ_INT(one[0], '\0');
    /* A zero size writes nothing. */
    log_mask_url("amqp://guest:pw@h/", small, 0);
}

static void test_json(void)
{
    static struct fields f;
    char path[64];
    const char *out;
    int fd, saved;
    const char *op = "0b9c2f4e-1a2b-4c3d-8e9f-0123456789ab";

    log_init("tmdbq-test", LOG_LEVEL_INFO, LOG_FORMAT_JSON);

    saved = capture_begin(&fd, path, sizeof path);
    log_write(LOG_LEVEL_INFO, op, "said \"hi\"\nback\\slash\ttab %d\x01", 42);
    out = capture_end(saved, fd, path);
    CHECK(json_line(out, &f));
    CHECK_CONTAINS(out, "\"level\":\"info\"");
    CHECK_CONTAINS(out, "\"program\":\"tmdbq-test\"");
    CHECK_CONTAINS(out, "\\\"hi\\\"");
    CHECK_CONTAINS(out, "\\n");
    CHECK_CONTAINS(out, "\\u0001");
    CHECK_STR_EQ(field(&f, "level"), "info");
    CHECK_STR_EQ(field(&f, "program"), "tmdbq-test");
    CHECK_STR_EQ(field(&f, "msg"), "said \"hi\"\nback\\slash\ttab 42\x01");
    CHECK_STR_EQ(field(&f, "op"), op);
    CHECK(field(&f, "ts") != NULL && looks_like_time(field(&f, "ts")));
    CHECK_EQ_INT(strlen(field(&f, "ts")), 24);

    /* No op: no op key. Debug is below info and writes nothing. */
    saved = capture_begin(&fd, path, sizeof path);
    log_debug("hidden %d", 1);
    log_error("plain");
    out = capture_end(saved, fd, path);
    CHECK(json_line(out, &f));
    CHECK(strstr(out, "hidden") == NULL);
    CHECK_STR_EQ(field(&f, "level"), "error");
    CHECK_STR_EQ(field(&f, "msg"), "plain");
    CHECK(field(&f, "op") == NULL);

    /* A message longer than the log's buffer is cut but the line stays valid JSON. */
    {
        static char big[20000];

        memset(big, '"', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        saved = capture_begin(&fd, path, sizeof path);
        log_warn("%s", big);
        out = capture_end(saved, fd, path);
        CHECK(json_line(out, &f));
        CHECK_STR_EQ(field(&f, "level"), "warn");
        CHECK(field(&f, "msg") != NULL && strlen(field(&f, "msg")) > 1000);
    }
}

static void test_text(void)
{
    char path[64];
    const char *out;
    int fd, saved;
    const char *op = "0b9c2f4e-1a2b-4c3d-8e9f-0123456789ab";

    log_init("tmdbq", LOG_LEVEL_DEBUG, LOG_FORMAT_TEXT);
    saved = capture_begin(&fd, path, sizeof path);
    log_write(LOG_LEVEL_WARN, op, "published %d", 3);
    out = capture_end(saved, fd, path);
    CHECK(looks_like_time(out));
    CHECK_STR_EQ(out + 24,
                 " WARN tmdbq: published 3 op=0b9c2f4e-1a2b-4c3d-8e9f-0123456789ab\n");

    /* Debug shows at debug level; a message's newline does not split the line. */
    saved = capture_begin(&fd, path, sizeof path);
    log_debug("could not connect: refused\n");
    out = capture_end(saved, fd, path);
    CHECK_STR_EQ(out + 24, " DEBUG tmdbq: could not connect: refused\n");

    log_init("tmdbq", LOG_LEVEL_ERROR, LOG_FORMAT_TEXT);
    saved = capture_begin(&fd, path, sizeof path);
    log_warn("hidden");
    log_info("hidden");
    log_error("shown");
    out = capture_end(saved, fd, path);
    CHECK(strstr(out, "hidden") == NULL);
    CHECK_CONTAINS(out, " ERROR tmdbq: shown\n");
}

int main(void)
{
    test_mask();
    test_json();
    test_text();
    return check_exit();
}
