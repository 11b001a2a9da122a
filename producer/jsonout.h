/*
 * jsonout: the JSON libtmdbq prints, built as jansson values; not installed.
 *
 * A caller builds an object with json_pack ("o" steals the values made here) and hands it
 * to jsonout_dump. The values follow common/codec's rules, so a thing prints the same
 * wherever it appears: text that is not UTF-8 gets U+FFFD instead of losing the whole
 * object (codec_json_quote), an operation is exactly codec_op_to_json's object. Every
 * function here returns a new reference, or NULL only when out of memory, which json_pack
 * then turns into a failed pack (never into a silent null).
 */
#ifndef TMDBQ_JSONOUT_H
#define TMDBQ_JSONOUT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "tmdbq.h"

/* A string for s, or null when s is NULL. */
json_t *jsonout_text(const char *s);

/* JSON text as PostgreSQL printed it (a jsonb column) as a value; null when s is NULL,
 * a string when it does not parse, so a bad row can still be shown. */
json_t *jsonout_stored(const char *s);

/* A figure that may be unknown: the number, or null when v is negative. */
json_t *jsonout_count(int64_t v);

/* v as "%g" would show it, or v rounded to decimals places ("%.*f"), as a JSON number:
 * an integer when that is whole (40, not 40.0). Print these with JSONOUT_REAL_FLAGS. */
json_t *jsonout_g(double v);
json_t *jsonout_fixed(double v, int decimals);

/* The operation as tmdbq_op_to_json prints it. */
json_t *jsonout_op(const struct tmdbq_op *op);

/* The counts as tmdbq_stats_to_json prints them. */
json_t *jsonout_stats(const struct tmdbq_stats *s);

/* Flags for jsonout_dump when v holds numbers from jsonout_g or jsonout_fixed: enough
 * digits to print them as they were rounded (38.4, not 38.399999999999999). */
#define JSONOUT_REAL_FLAGS JSON_REAL_PRECISION(15)

/* v as one line of compact JSON, keys in insertion order, in a buffer from malloc (free
 * it with free(), whatever allocator an application gave jansson). flags add to
 * JSON_COMPACT | JSON_PRESERVE_ORDER (0, or JSONOUT_REAL_FLAGS). Takes v's reference in
 * every case; NULL when v is NULL or out of memory. */
char *jsonout_dump(json_t *v, size_t flags);

#endif
