/*
 * jsonout: the JSON libtmdbq prints, built as jansson values.
 *
 * common/codec owns the JSON of an operation and the repair of text that is not UTF-8;
 * it hands them over as text, which is read back here into values (for valid UTF-8 a
 * string is made directly), so the objects built around them print exactly what codec
 * prints on its own.
 */
#include "jsonout.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "codec.h"

json_t *jsonout_text(const char *s)
{
    json_t *v;
    char *quoted;

    if (s == NULL)
        return json_null();
    v = json_string(s);
    if (v != NULL)
        return v;
    /* Not UTF-8: codec's repair (bad bytes become U+FFFD), read back. */
    quoted = codec_json_quote(s);
    if (quoted == NULL)
        return NULL;
    v = json_loads(quoted, JSON_DECODE_ANY, NULL);
    free(quoted);
    return v;
}

json_t *jsonout_stored(const char *s)
{
    json_t *v;

    if (s == NULL)
        return json_null();
    v = json_loads(s, JSON_DECODE_ANY, NULL);
    return v != NULL ? v : jsonout_text(s);
}

json_t *jsonout_count(int64_t v)
{
    return v < 0 ? json_null() : json_integer((json_int_t)v);
}

/* The number printf wrote as text: an integer when it is whole and exact in a double,
 * else a real; null for what JSON cannot hold (inf, nan). */
static json_t *number_from_text(const char *text)
{
    char *end = NULL;
    double v = strtod(text, &end);

    if (end == text || *end != '\0' || !isfinite(v))
        return json_null();
    if (v > -9007199254740992.0 && v < 9007199254740992.0 && v == (double)(json_int_t)v)
        return json_integer((json_int_t)v);
    return json_real(v);
}

json_t *jsonout_g(double v)
{
    char buf[64];

    snprintf(buf, sizeof buf, "%g", v);
    return number_from_text(buf);
}

json_t *jsonout_fixed(double v, int decimals)
{
    char buf[512]; /* the longest double in "%.*f" has 309 digits before the point */

    snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return number_from_text(buf);
}

json_t *jsonout_op(const struct tmdbq_op *op)
{
    char *text = tmdbq_op_to_json(op);
    json_t *v;

    if (text == NULL)
        return NULL;
    v = json_loads(text, 0, NULL);
    free(text);
    return v;
}

json_t *jsonout_stats(const struct tmdbq_stats *s)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "pending", (json_int_t)s->pending,
                     "processing", (json_int_t)s->processing, "completed",
                     (json_int_t)s->completed, "failed", (json_int_t)s->failed,
                     "cancelled", (json_int_t)s->cancelled, "total",
                     (json_int_t)s->total);
}

char *jsonout_dump(json_t *v, size_t flags)
{
    size_t all = JSON_COMPACT | JSON_PRESERVE_ORDER | flags;
    size_t n;
    char *buf = NULL;

    if (v == NULL)
        return NULL;
    n = json_dumpb(v, NULL, 0, all);
    if (n == 0)
        goto out;
    buf = malloc(n + 1);
    if (buf == NULL)
        goto out;
    if (json_dumpb(v, buf, n, all) != n) {
        free(buf);
        buf = NULL;
        goto out;
    }
    buf[n] = '\0';
out:
    json_decref(v);
    return buf;
}
