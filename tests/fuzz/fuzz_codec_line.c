/*
 * fuzz_codec_line: one line of `tmdbq enqueue --file` (and of the HTTP API's bulk body)
 * through codec_request_from_line. The input is the line; a NUL ends it, as it ends the
 * C string the producer hands over. An accepted line must give a valid request whose
 * canonical form is a fixed point (fuzz_codec.h); a refused one a status and a message.
 */
#include "codec.h"
#include "fuzz.h"
#include "fuzz_codec.h"
#include "op.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *line = fuzz_cstring(data, size);
    struct op_request r;
    struct err e = {0};
    enum status st;

    st = codec_request_from_line(line, &r, &e);
    if (st == ST_OK)
        fuzz_check_request(&r);
    else
        fuzz_check_refusal(st, &e);
    op_request_cleanup(&r);
    free(line);
    return 0;
}
