/*
 * fuzz_log_write: log_write, which puts foreign text into log lines: TMDB's status
 * messages, libcurl's and libpq's errors, configuration values, operation data. The
 * input is a flag byte (bit 0: JSON format, bit 1: with an operation id, bits 2-3: the
 * level) and the message (a NUL ends it; it is passed as a "%s" argument).
 *
 * Properties: one event is one line, whatever the message holds (STYLE.md: one log line
 * per event); in text format no control character but the final newline; in JSON format
 * the line is one JSON object (so a log collector can read every line), and its "msg" is
 * the message itself when that is UTF-8 and short enough not to be cut.
 */
#include <jansson.h>

#include "fuzz.h"
#include "fuzz_capture.h"
#include "log.h"

#define OP_ID "1b4e28ba-2fa1-11d2-883f-0016d3cca427"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    uint8_t flags = fuzz_u8(&in);
    bool json_format = flags & 1;
    const char *op = (flags & 2) ? OP_ID : NULL;
    enum log_level level = (enum log_level)((flags >> 2) & 3);
    char *msg = fuzz_cstring(in.p, in.n), *line;
    size_t len;
    int saved;

    log_init("fuzz", LOG_LEVEL_DEBUG, json_format ? LOG_FORMAT_JSON : LOG_FORMAT_TEXT);
    saved = fuzz_capture_begin();
    log_write(level, op, "%s", msg);
    line = fuzz_capture_end(saved);
    log_init("fuzz", LOG_LEVEL_ERROR, LOG_FORMAT_TEXT);

    len = strlen(line);
    FUZZ_CHECK(len > 0 && line[len - 1] == '\n' && strchr(line, '\n') == line + len - 1,
               "not one line: %s", line);
    if (!json_format) {
        for (size_t i = 0; i + 1 < len; i++)
            FUZZ_CHECK((unsigned char)line[i] >= 0x20 && line[i] != 0x7f,
                       "control byte 0x%02x at %zu: %s", (unsigned char)line[i], i, line);
    } else {
        json_error_t jerr;
        json_t *v = json_loads(line, 0, &jerr);
        json_t *want = json_string(msg);

        FUZZ_CHECK(json_is_object(v), "not one JSON object (%s at %d): %.300s", jerr.text,
                   jerr.position, line);
        if (want != NULL && strlen(msg) < 4000)
            FUZZ_CHECK(json_equal(json_object_get(v, "msg"), want), "msg changed: %.300s",
                       line);
        json_decref(want);
        json_decref(v);
    }
    free(line);
    free(msg);
    return 0;
}
