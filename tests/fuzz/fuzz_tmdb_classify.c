/*
 * fuzz_tmdb_classify: tmdb_classify and tmdb_rejects_user_credential over any operation
 * type, HTTP status and TMDB status_code, including values no server sends (negative,
 * huge). The input is a type byte, 8 bytes of HTTP status and 4 of status_code.
 *
 * Properties: the outcome is one an answer can have (never TMDB_NOT_SENT, which only the
 * pacer gives); an answer that rejects the user's credential is permanent (the consumer
 * marks it failed with credentials set); a named TMDB code decides whatever the HTTP
 * status; without a code, 429 is rate limited and 5xx transient; and both
 * functions are pure.
 */
#include "fuzz.h"
#include "op.h"
#include "tmdb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    enum op_type type = (enum op_type)(fuzz_u8(&in) % OP_TYPE_COUNT);
    long http = (long)fuzz_i64(&in);
    int code = (int)(int32_t)fuzz_bits(&in, 4);
    enum tmdb_outcome o = tmdb_classify(type, http, code);
    bool cred = tmdb_rejects_user_credential(type, http, code);

    FUZZ_CHECK(o == TMDB_DONE || o == TMDB_GOAL_HOLDS || o == TMDB_TRANSIENT ||
                   o == TMDB_RATE_LIMITED || o == TMDB_PERMANENT || o == TMDB_DEPLOYMENT,
               "outcome %d for %s HTTP %ld code %d", (int)o, op_type_name(type), http,
               code);
    FUZZ_CHECK(!cred || o == TMDB_PERMANENT,
               "%s HTTP %ld code %d rejects the credential but is outcome %d",
               op_type_name(type), http, code, (int)o);
    FUZZ_CHECK(tmdb_classify(type, http, code) == o, "not pure");
    FUZZ_CHECK(tmdb_rejects_user_credential(type, http, code) == cred, "not pure");
    /* A code the table names decides alone: the same code under another status. */
    if (code != 0 && tmdb_classify(type, 200, code) != TMDB_DONE)
        FUZZ_CHECK(tmdb_classify(type, 503, code) == tmdb_classify(type, 200, code),
                   "%s code %d depends on the HTTP status", op_type_name(type), code);
    if (code == 0) {
        if (http == 429)
            FUZZ_CHECK(o == TMDB_RATE_LIMITED, "HTTP 429: %d", (int)o);
        if (http >= 500 && http < 600)
            FUZZ_CHECK(o == TMDB_TRANSIENT, "HTTP %ld: %d", http, (int)o);
    }
    return 0;
}
