/*
 * fuzz_cfg_duration: cfg_parse_duration, the parser of every duration variable
 * (TMDBQ_LEASE, TMDBQ_BACKOFF_BASE, ...), and cfg_format_duration, which prints them in
 * the startup summary and in messages. The input is the text (a NUL ends it); its first
 * byte also sizes the buffer given to cfg_format_duration.
 *
 * Properties: what is accepted has the documented grammar, digits then ms, s, m, h or d,
 * or a bare 0 (a bound may refuse more, never accept less), and its value is exactly the
 * number times the unit; printing an accepted value and parsing the print gives the value
 * back; printing never writes past the buffer and always terminates it; a refusal has a
 * message.
 */
#include <errno.h>
#include <inttypes.h>

#include "cfg.h"
#include "fuzz.h"

/* The grammar, read independently: ST_OK and *ms when s is digits + unit with no
 * overflow, else false. */
static bool ref_duration(const char *s, int64_t *ms)
{
    static const struct {
        const char *suffix;
        int64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    uint64_t v = 0;
    size_t i = 0;

    while (s[i] >= '0' && s[i] <= '9') {
        if (v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
        i++;
    }
    if (i == 0)
        return false;
    if (s[i] == '\0') {
        *ms = 0;
        return v == 0;
    }
    for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
        if (strcmp(s + i, units[u].suffix) == 0) {
            if (v > (uint64_t)(INT64_MAX / units[u].ms))
                return false;
            *ms = (int64_t)v * units[u].ms;
            return true;
        }
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstring(data, size);
    struct err e = {0};
    int64_t ms = -1, want = -1, again = -1;
    enum status st = cfg_parse_duration(s, &ms, &e);
    bool grammar = ref_duration(s, &want);
    size_t n = size > 0 ? data[0] % 40 + 1 : 1;
    char *small = malloc(n), buf[64];
    int64_t any = 0;

    if (st == ST_OK) {
        FUZZ_CHECK(grammar, "\"%s\" accepted as %" PRId64 " ms", s, ms);
        FUZZ_CHECK(ms == want, "\"%s\" is %" PRId64 " ms, not %" PRId64, s, ms, want);
        cfg_format_duration(ms, buf, sizeof buf);
        FUZZ_CHECK(cfg_parse_duration(buf, &again, &e) == ST_OK && again == ms,
                   "\"%s\" = %" PRId64 " ms prints as \"%s\", read back as %" PRId64, s,
                   ms, buf, again);
    } else {
        FUZZ_CHECK(st == ST_INVALID, "status %d", (int)st);
        FUZZ_CHECK(e.msg[0] != '\0' && memchr(e.msg, '\0', sizeof e.msg) != NULL,
                   "refusal of \"%s\" without a message", s);
    }

    /* Any value into a buffer of any size: exactly n bytes, so ASan sees an overrun. */
    if (small == NULL)
        abort();
    memcpy(&any, data + (size > 8 ? size - 8 : 0), size >= 8 ? 8 : 0);
    cfg_format_duration(any, small, n);
    FUZZ_CHECK(memchr(small, '\0', n) != NULL, "%" PRId64 " in %zu bytes unterminated",
               any, n);
    free(small);
    free(s);
    return 0;
}
