/*
 * fuzz_cfg_env: the whole configuration as a program loads it, cfg_load over an
 * environment the input writes, then the startup summary cfg_log_summary prints. The
 * variables are the rows of cfg.c's table, read from cfg_print_table at start, so a new
 * row is fuzzed without touching this file.
 *
 * The input is a byte for the log format (text or JSON), then records: a byte choosing a
 * variable, its value up to a NUL (an empty value included). A variable the input does
 * not write is unset (the default), except the secrets and the two service URLs, which
 * hold canaries. Values are put with putenv from buffers of this file, and unset with
 * unsetenv, so the environment does not grow over millions of runs.
 *
 * Properties: cfg_load accepts or refuses with a message; what it accepts is in range
 * (durations not negative, the cap not below the base, retries 0 to 100); a variable
 * whose row says "set but empty is refused" is refused when the input sets it empty, and
 * any other empty variable reads exactly as if it were unset (a second cfg_load without
 * it gives the same status and the same struct cfg); neither the refusal nor the summary
 * holds a canary the input did not write itself; the summary is one line, and in JSON
 * format one JSON object (when the values are UTF-8 and the line is not cut:
 * fuzz_log_write checks log lines in general).
 */
#include <jansson.h>

#include "cfg.h"
#include "fuzz.h"
#include "fuzz_capture.h"
#include "log.h"

#define MAX_VARS 64
#define VALUE_MAX 4096
#define MAX_RECORDS 12

/* The secrets start with a letter no escape ends with (a JSON \u00XX ends in a hex
 * digit), so escaping a byte before a fragment of one cannot complete it. */
struct canary {
    const char *var;
    const char *value;  /* what the variable holds when the input leaves it alone */
    const char *secret; /* what must never be shown */
};

static const struct canary canaries[] = {
    {"TMDB_API_KEY", "QApiKeyCanary4801", "QApiKeyCanary4801"},
    {"TMDB_ACCESS_TOKEN", "QAccessTokenCanary4802", "QAccessTokenCanary4802"},
    {"TMDBQ_HTTP_TOKEN", "QHttpTokenCanary4803", "QHttpTokenCanary4803"},
    {"TMDBQ_DATABASE_URL", "postgresql://tmdbq:QPgPwCanary4804@localhost/tmdbq",
     "QPgPwCanary4804"},
    {"TMDBQ_AMQP_URL", "amqp://guest:QMqPwCanary4805@localhost:5672/%2f",
     "QMqPwCanary4805"},
};
#define NCANARIES (sizeof canaries / sizeof canaries[0])

static char names[MAX_VARS][64];
static char *slots[MAX_VARS]; /* "NAME=value", handed to putenv and rewritten */
static bool refuses_empty[MAX_VARS];
static size_t nvars;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char *table = NULL, *line, *save = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&table, &len);

    (void)argc;
    (void)argv;
    if (f == NULL)
        abort();
    cfg_print_table(f);
    fclose(f);
    for (line = strtok_r(table, "\n", &save); line != NULL && nvars < MAX_VARS;
         line = strtok_r(NULL, "\n", &save)) {
        const char *end;

        if (strncmp(line, "| `", 3) != 0)
            continue;
        end = strchr(line + 3, '`');
        if (end == NULL || (size_t)(end - line - 3) >= sizeof names[0])
            continue;
        memcpy(names[nvars], line + 3, (size_t)(end - line - 3));
        refuses_empty[nvars] = strstr(line, "set but empty is refused") != NULL;
        slots[nvars] = malloc(sizeof names[0] + VALUE_MAX + 2);
        if (slots[nvars] == NULL)
            abort();
        snprintf(slots[nvars], sizeof names[0] + 2, "%s=", names[nvars]);
        nvars++;
    }
    free(table);
    if (nvars == 0) {
        fprintf(stderr, "fuzz_cfg_env: no variables in cfg_print_table\n");
        abort();
    }
    return 0;
}

/* Set variable i to the n bytes at value (cut at VALUE_MAX). */
static void var_set(size_t i, const char *value, size_t n)
{
    size_t at = strlen(names[i]) + 1;

    if (n > VALUE_MAX)
        n = VALUE_MAX;
    memcpy(slots[i] + at, value, n);
    slots[i][at + n] = '\0';
    if (putenv(slots[i]) != 0)
        abort();
}

static void var_unset(size_t i)
{
    if (unsetenv(names[i]) != 0)
        abort();
}

static const char *var_value(size_t i) { return slots[i] + strlen(names[i]) + 1; }

/* The summary as it reaches stderr; malloc'd. */
static char *summary_capture(const struct cfg *c)
{
    int saved = fuzz_capture_begin();

    cfg_log_summary(c, "fuzz");
    return fuzz_capture_end(saved);
}

/* An empty value that is read as unset must change nothing: load again without them. */
static void check_empty_is_unset(const bool *written, enum status st, const struct cfg *c)
{
    struct cfg again;
    struct err e2 = {0};
    bool any = false;
    enum status st2;

    for (size_t i = 0; i < nvars; i++) {
        if (written[i] && !refuses_empty[i] && var_value(i)[0] == '\0') {
            var_unset(i);
            any = true;
        }
    }
    if (!any)
        return;
    memset(&again, 0, sizeof again);
    st2 = cfg_load(&again, &e2);
    FUZZ_CHECK(st2 == st, "status %d with empty variables, %d with them unset", (int)st,
               (int)st2);
    FUZZ_CHECK(st != ST_OK || memcmp(c, &again, sizeof again) == 0,
               "an empty variable does not read as unset");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    bool json_format = fuzz_u8(&in) & 1;
    bool written[MAX_VARS] = {false};
    struct cfg c;
    struct err e = {0};
    enum status st;
    char *summary;
    size_t i, k, records = 0;
    bool values_utf8 = true, empty_refused = false;

    for (i = 0; i < nvars; i++)
        var_unset(i);
    for (k = 0; k < NCANARIES; k++) {
        for (i = 0; i < nvars; i++) {
            if (strcmp(names[i], canaries[k].var) == 0)
                var_set(i, canaries[k].value, strlen(canaries[k].value));
        }
    }
    while (in.n > 0 && records++ < MAX_RECORDS) {
        size_t v = fuzz_u8(&in) % nvars;
        char *value = fuzz_str(&in);

        var_set(v, value, strlen(value));
        written[v] = true;
        free(value);
    }

    for (i = 0; i < nvars; i++) {
        json_t *v;

        if (getenv(names[i]) == NULL)
            continue;
        v = json_string(var_value(i));
        values_utf8 = values_utf8 && v != NULL;
        json_decref(v);
        empty_refused = empty_refused || (refuses_empty[i] && var_value(i)[0] == '\0');
    }
    memset(&c, 0, sizeof c);
    st = cfg_load(&c, &e);
    if (st != ST_OK) {
        FUZZ_CHECK(st == ST_INVALID, "status %d", (int)st);
        FUZZ_CHECK(e.msg[0] != '\0' && memchr(e.msg, '\0', sizeof e.msg) != NULL,
                   "refusal without a message");
    } else {
        FUZZ_CHECK(!empty_refused, "an empty value was accepted where it is refused");
        FUZZ_CHECK(c.backoff_base_ms >= 0 && c.backoff_cap_ms >= c.backoff_base_ms &&
                       c.lease_ms >= 0 && c.sweep_interval_ms >= 0 &&
                       c.retention_ms >= 0 && c.connect_timeout_ms >= 0 &&
                       c.tmdb_timeout_ms >= 0 && c.apply_timeout_ms >= 0,
                   "a duration out of range");
        FUZZ_CHECK(c.max_retries >= 0 && c.max_retries <= 100, "max_retries %d",
                   c.max_retries);
        FUZZ_CHECK(c.amqp_prefix != NULL && c.amqp_prefix[0] != '\0', "empty prefix");
    }

    log_init("fuzz", LOG_LEVEL_INFO, json_format ? LOG_FORMAT_JSON : LOG_FORMAT_TEXT);
    summary = st == ST_OK ? summary_capture(&c) : NULL;
    log_init("fuzz", LOG_LEVEL_ERROR, LOG_FORMAT_TEXT);

    for (k = 0; k < NCANARIES; k++) {
        bool own = false;

        /* A canary the input wrote into any value may be shown where that value is. */
        for (i = 0; i < nvars; i++)
            own = own || (written[i] && strstr(var_value(i), canaries[k].secret));
        if (own)
            continue;
        FUZZ_CHECK(strstr(e.msg, canaries[k].secret) == NULL,
                   "the refusal shows the secret of %s: %s", canaries[k].var, e.msg);
        FUZZ_CHECK(summary == NULL || strstr(summary, canaries[k].secret) == NULL,
                   "the summary shows the secret of %s: %s", canaries[k].var, summary);
    }
    if (summary != NULL) {
        size_t len = strlen(summary);

        FUZZ_CHECK(len > 0 && summary[len - 1] == '\n' &&
                       strchr(summary, '\n') == summary + len - 1,
                   "the summary is not one line: %s", summary);
        /* Bytes that are not UTF-8, and a line cut at the message limit, are
         * fuzz_log_write's business: log.c's, not the configuration's. */
        if (json_format && values_utf8 && len < 4000) {
            json_error_t jerr;
            json_t *v = json_loads(summary, 0, &jerr);

            FUZZ_CHECK(json_is_object(v), "the JSON summary does not parse (%s): %s",
                       jerr.text, summary);
            json_decref(v);
        }
    }
    free(summary);
    /* Last: it unsets variables, and the summary borrows from them. */
    check_empty_is_unset(written, st, &c);
    return 0;
}
