/*
 * fuzz_codec_out: what tmdbq prints about a row, codec_op_to_json and codec_json_quote,
 * fed with what the row holds from outside: TMDB's error text and result, the stored
 * operation_data, and fixed-size columns that need not be terminated. The input gives
 * type and status (out-of-range values included), the id and the four time columns as
 * raw bytes, flags, and NUL-separated strings for operation_data, error_message and
 * result.
 *
 * Properties: the output is one JSON object; error_message comes back as the same text
 * when it was valid UTF-8 without NUL, operation_data and result as the same JSON value
 * when they parse, and codec_json_quote's output parses back to its input.
 */
#include <jansson.h>

#include "codec.h"
#include "fuzz.h"
#include "op.h"

static void take_raw(struct fuzz_in *in, char *dst, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = (char)fuzz_u8(in);
}

/* jansson takes a string only when it is valid UTF-8: the oracle for "text". */
static bool is_text(const char *s)
{
    json_t *v = json_string(s);
    bool ok = v != NULL;

    json_decref(v);
    return ok;
}

static void check_stored(const json_t *out, const char *key, const char *stored)
{
    const json_t *got = json_object_get(out, key);
    json_t *want;

    FUZZ_CHECK(got != NULL, "no \"%s\"", key);
    if (stored == NULL) {
        FUZZ_CHECK(json_is_null(got), "\"%s\" of NULL is not null", key);
        return;
    }
    want = json_loads(stored, JSON_DECODE_ANY, NULL);
    if (want != NULL)
        FUZZ_CHECK(json_equal(got, want), "\"%s\" %s changed on the way", key, stored);
    else if (is_text(stored))
        FUZZ_CHECK(json_is_string(got) && strcmp(json_string_value(got), stored) == 0,
                   "\"%s\" text %s changed on the way", key, stored);
    else
        FUZZ_CHECK(json_is_string(got), "\"%s\" bad text is not a string", key);
    json_decref(want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    struct op o;
    struct codec_op_extra extra = {false, false};
    uint8_t flags;
    char *data_json, *error_message, *result_json, *text, *quoted;
    json_t *out, *back;
    json_error_t jerr;

    memset(&o, 0, sizeof o);
    o.type = (enum op_type)(fuzz_u8(&in) % (OP_TYPE_COUNT + 2));
    o.status = (enum op_status)(fuzz_u8(&in) % (OP_STATUS_COUNT + 2));
    o.user_id = (int32_t)fuzz_bits(&in, 4);
    o.list_id = (int32_t)fuzz_bits(&in, 4);
    o.retry_count = (int)fuzz_bits(&in, 4);
    flags = fuzz_u8(&in);
    o.published = flags & 1;
    extra.with_enqueue = flags & 2;
    extra.duplicate = flags & 4;
    take_raw(&in, o.id, sizeof o.id);
    take_raw(&in, o.last_retry_at, sizeof o.last_retry_at);
    take_raw(&in, o.scheduled_for, sizeof o.scheduled_for);
    take_raw(&in, o.inserted_at, sizeof o.inserted_at);
    take_raw(&in, o.updated_at, sizeof o.updated_at);
    data_json = fuzz_str(&in);
    error_message = fuzz_str(&in);
    result_json = fuzz_str(&in);
    o.data_json = (flags & 8) ? NULL : data_json;
    o.error_message = (flags & 16) ? NULL : error_message;
    o.result_json = (flags & 32) ? NULL : result_json;

    text = codec_op_to_json(&o, &extra);
    FUZZ_CHECK(text != NULL, "codec_op_to_json gave NULL");
    out = json_loads(text, 0, &jerr);
    FUZZ_CHECK(json_is_object(out), "not one JSON object (%s): %s", jerr.text, text);
    check_stored(out, "operation_data", o.data_json);
    check_stored(out, "result", o.result_json);
    if (o.error_message != NULL && is_text(o.error_message)) {
        const json_t *got = json_object_get(out, "error_message");

        FUZZ_CHECK(json_is_string(got) &&
                       strcmp(json_string_value(got), o.error_message) == 0,
                   "error_message changed on the way: %s", text);
    }
    FUZZ_CHECK((json_object_get(out, "duplicate") != NULL) == extra.with_enqueue,
               "\"duplicate\" present %d, with_enqueue %d",
               json_object_get(out, "duplicate") != NULL, (int)extra.with_enqueue);
    json_decref(out);
    free(text);

    quoted = codec_json_quote(error_message);
    FUZZ_CHECK(quoted != NULL, "codec_json_quote gave NULL");
    back = json_loads(quoted, JSON_DECODE_ANY, &jerr);
    FUZZ_CHECK(json_is_string(back), "quote %s does not parse as a string", quoted);
    if (is_text(error_message))
        FUZZ_CHECK(strcmp(json_string_value(back), error_message) == 0,
                   "quote %s does not give its input back", quoted);
    json_decref(back);
    free(quoted);

    free(data_json);
    free(error_message);
    free(result_json);
    return 0;
}
