/*
 * fuzz_tmdb_classify_answer: tmdb_classify_answer, the pure classification of one TMDB
 * answer (HTTP status and body) that tmdb_execute applies. The input is a type byte, two
 * bytes of HTTP status (mod 1000) and the body, handed over in a buffer of exactly its
 * size and not NUL-terminated, as tmdb.h allows, so AddressSanitizer sees a read past it.
 *
 * Properties: the outcome is one an answer can have, and the function is pure; done only
 * for a 2xx whose body is the one TMDB documents for a success (a JSON object,
 * status_code 1, 12 or 13, success not false, and create_list's list_id); outside 2xx the
 * body's status_code decides as tmdb_classify says.
 */
#include <jansson.h>

#include "fuzz.h"
#include "op.h"
#include "tmdb.h"

/* The body's TMDB status_code as tmdb.c reads it: an integer from 1 to 9999, else 0. */
static int body_code(const json_t *obj)
{
    const json_t *v = json_object_get(obj, "status_code");

    if (!json_is_integer(v) || json_integer_value(v) <= 0 ||
        json_integer_value(v) >= 10000)
        return 0;
    return (int)json_integer_value(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    enum op_type type = (enum op_type)(fuzz_u8(&in) % OP_TYPE_COUNT);
    long http = (long)(fuzz_bits(&in, 2) % 1000);
    char *body = in.n > 0 ? malloc(in.n) : NULL;
    json_t *obj;
    enum tmdb_outcome o;
    int code;

    if (in.n > 0 && body == NULL)
        abort();
    if (in.n > 0)
        memcpy(body, in.p, in.n);
    o = tmdb_classify_answer(type, http, body, in.n);
    FUZZ_CHECK(o == TMDB_DONE || o == TMDB_GOAL_HOLDS || o == TMDB_TRANSIENT ||
                   o == TMDB_RATE_LIMITED || o == TMDB_PERMANENT || o == TMDB_DEPLOYMENT,
               "outcome %d", (int)o);
    FUZZ_CHECK(tmdb_classify_answer(type, http, body, in.n) == o, "not pure");

    obj = body != NULL ? json_loadb(body, in.n, 0, NULL) : NULL;
    if (!json_is_object(obj)) {
        json_decref(obj);
        obj = NULL;
    }
    code = obj != NULL ? body_code(obj) : 0;
    if (o == TMDB_DONE) {
        const json_t *success = obj != NULL ? json_object_get(obj, "success") : NULL;
        const json_t *id = obj != NULL ? json_object_get(obj, "list_id") : NULL;

        FUZZ_CHECK(http >= 200 && http < 300, "done on HTTP %ld", http);
        FUZZ_CHECK(obj != NULL,
                   "%s done on HTTP %ld with a body that is not a JSON object",
                   op_type_name(type), http);
        FUZZ_CHECK(code == 1 || code == 12 || code == 13, "%s done with status_code %d",
                   op_type_name(type), code);
        FUZZ_CHECK(!json_is_false(success), "%s done with success false",
                   op_type_name(type));
        FUZZ_CHECK(type != OP_CREATE_LIST || json_is_integer(id) || json_is_string(id),
                   "create_list done without a list_id");
    }
    if (http < 200 || http >= 300) {
        enum tmdb_outcome want = tmdb_classify(type, http, code);

        /* The delete quirk's 500 with status_code 11 is transient without the GET. */
        FUZZ_CHECK(o == want, "%s HTTP %ld status_code %d: %d, tmdb_classify says %d",
                   op_type_name(type), http, code, (int)o, (int)want);
    }
    json_decref(obj);
    free(body);
    return 0;
}
