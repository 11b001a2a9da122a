/*
 * fuzz_codec_build: the command line's way in, codec_request_build: flags (--user,
 * --list, --movie, --name, --description, --public) laid over --data. The input is read
 * as: a byte choosing the type (one of the six names, none, or a string from the input),
 * a byte of which flags are given, user, list and movie as 8 bytes each, a byte for
 * --public, then NUL-separated strings: the type (when chosen so), name, description,
 * and the rest is --data. The properties are fuzz_codec.h's.
 */
#include "codec.h"
#include "fuzz.h"
#include "fuzz_codec.h"
#include "op.h"

enum {
    HAS_USER = 1,
    HAS_LIST = 2,
    HAS_MOVIE = 4,
    HAS_NAME = 8,
    HAS_DESC = 16,
    HAS_PUBLIC = 32,
    HAS_DATA = 64
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    struct op_input oi = {.public_flag = -1};
    struct op_request r;
    struct err e = {0};
    uint8_t pick = fuzz_u8(&in), flags = fuzz_u8(&in), pub;
    char *type = NULL, *name = NULL, *desc = NULL, *json = NULL;
    enum status st;

    oi.user = fuzz_i64(&in);
    oi.list = fuzz_i64(&in);
    oi.movie = fuzz_i64(&in);
    pub = fuzz_u8(&in);
    oi.has_user = flags & HAS_USER;
    oi.has_list = flags & HAS_LIST;
    oi.has_movie = flags & HAS_MOVIE;
    /* Mostly false or true; now and then a value no flag parser would produce. */
    if (flags & HAS_PUBLIC)
        oi.public_flag = pub < 250 ? pub & 1 : (int)(int8_t)pub;

    pick %= OP_TYPE_COUNT + 2;
    if (pick < OP_TYPE_COUNT) {
        oi.type = op_type_name((enum op_type)pick);
    } else if (pick == OP_TYPE_COUNT + 1) {
        type = fuzz_str(&in);
        oi.type = type;
    }
    name = fuzz_str(&in);
    desc = fuzz_str(&in);
    json = fuzz_cstring(in.p, in.n);
    if (flags & HAS_NAME)
        oi.name = name;
    if (flags & HAS_DESC)
        oi.description = desc;
    if (flags & HAS_DATA)
        oi.data_json = json;

    st = codec_request_build(&oi, &r, &e);
    if (st == ST_OK)
        fuzz_check_request(&r);
    else
        fuzz_check_refusal(st, &e);
    op_request_cleanup(&r);
    free(type);
    free(name);
    free(desc);
    free(json);
    return 0;
}
