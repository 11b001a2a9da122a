/*
 * test_codec: validation of every operation type into its canonical operation_data, bulk
 * lines, and an operation row as JSON. Needs no services.
 *
 * Canonical output is compared byte for byte: deduplication relies on equal requests
 * giving equal text, so a change in key order or spacing must fail here.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "codec.h"

static struct op_input input(const char *type, int64_t user)
{
    struct op_input in;

    memset(&in, 0, sizeof in);
    in.type = type;
    in.user = user;
    in.has_user = true;
    in.public_flag = -1;
    return in;
}

static struct op_input input_list(const char *type, int64_t user, int64_t list)
{
    struct op_input in = input(type, user);

    in.list = list;
    in.has_list = true;
    return in;
}

/* Build in and expect success with exactly data_json. */
static void expect_ok(int line, const struct op_input *in, const char *data_json)
{
    struct op_request r;
    struct err e = {0};
    enum status st = codec_request_build(in, &r, &e);

    if (st != ST_OK)
        fprintf(stderr, "line %d: unexpected error: %s\n", line, e.msg);
    CHECK_EQ_INT(st, ST_OK);
    CHECK_STR_EQ(r.data_json, data_json);
    op_request_cleanup(&r);
}

/* Build in and expect ST_INVALID with a message containing want and out left clean. */
static void expect_invalid(int line, const struct op_input *in, const char *want)
{
    struct op_request r;
    struct err e = {0};
    enum status st;

    memset(&r, 0x5a, sizeof r);
    st = codec_request_build(in, &r, &e);
    if (st != ST_INVALID)
        fprintf(stderr, "line %d: expected ST_INVALID, got %d\n", line, (int)st);
    CHECK_EQ_INT(st, ST_INVALID);
    CHECK_EQ_INT(e.code, ST_INVALID);
    CHECK(r.data_json == NULL);
    CHECK_CONTAINS(e.msg, want);
    if (strstr(e.msg, want) == NULL)
        fprintf(stderr, "  (from line %d)\n", line);
    op_request_cleanup(&r);
}

static void expect_line_ok(int line, const char *text, enum op_type type, int32_t user,
                           int32_t list, const char *data_json)
{
    struct op_request r;
    struct err e = {0};
    enum status st = codec_request_from_line(text, &r, &e);

    if (st != ST_OK)
        fprintf(stderr, "line %d: unexpected error: %s\n", line, e.msg);
    CHECK_EQ_INT(st, ST_OK);
    CHECK_EQ_INT(r.type, type);
    CHECK_EQ_INT(r.user_id, user);
    CHECK_EQ_INT(r.list_id, list);
    CHECK_STR_EQ(r.data_json, data_json);
    op_request_cleanup(&r);
}

static void expect_line_invalid(int line, const char *text, const char *want)
{
    struct op_request r;
    struct err e = {0};
    enum status st;

    memset(&r, 0x5a, sizeof r);
    st = codec_request_from_line(text, &r, &e);
    if (st != ST_INVALID)
        fprintf(stderr, "line %d: expected ST_INVALID, got %d\n", line, (int)st);
    CHECK_EQ_INT(st, ST_INVALID);
    CHECK(r.data_json == NULL);
    CHECK_CONTAINS(e.msg, want);
    if (strstr(e.msg, want) == NULL)
        fprintf(stderr, "  (from line %d)\n", line);
    op_request_cleanup(&r);
}

static void test_canonical_each_type(void)
{
    struct op_input in;
    struct op_request r;
    struct err e = {0};

    in = input("create_list", 42);
    in.name = "Best";
    in.public_flag = 1;
    expect_ok(__LINE__, &in, "{\"name\":\"Best\",\"public\":true}");

    in = input("create_list", 42);
    in.name = "Best";
    in.description = "my favourites";
    in.public_flag = 0;
    expect_ok(__LINE__, &in,
              "{\"description\":\"my favourites\",\"name\":\"Best\",\"public\":false}");

    in = input_list("update_list", 42, 7);
    in.description = "new";
    expect_ok(__LINE__, &in, "{\"description\":\"new\"}");

    in = input_list("delete_list", 42, 7);
    expect_ok(__LINE__, &in, "{}");

    in = input_list("clear_list", 42, 7);
    expect_ok(__LINE__, &in, "{}");

    in = input_list("add_movie", 42, 7);
    in.movie = 550;
    in.has_movie = true;
    expect_ok(__LINE__, &in, "{\"movie_id\":550}");

    in = input_list("remove_movie", 42, 7);
    in.movie = 2147483647;
    in.has_movie = true;
    expect_ok(__LINE__, &in, "{\"movie_id\":2147483647}");

    /* The request carries the ids, and create_list has no list. */
    in = input_list("add_movie", 42, 7);
    in.movie = 550;
    in.has_movie = true;
    CHECK_EQ_INT(codec_request_build(&in, &r, &e), ST_OK);
    CHECK_EQ_INT(r.type, OP_ADD_MOVIE);
    CHECK_EQ_INT(r.user_id, 42);
    CHECK_EQ_INT(r.list_id, 7);
    op_request_cleanup(&r);

    in = input("create_list", 2147483647);
    in.name = "x";
    CHECK_EQ_INT(codec_request_build(&in, &r, &e), ST_OK);
    CHECK_EQ_INT(r.type, OP_CREATE_LIST);
    CHECK_EQ_INT(r.user_id, 2147483647);
    CHECK_EQ_INT(r.list_id, 0);
    op_request_cleanup(&r);
}

static void test_data_and_flags(void)
{
    struct op_input in;

    /* --data alone, key order and spacing normalised. */
    in = input_list("add_movie", 1, 2);
    in.data_json = "  { \"movie_id\" : 550 }  ";
    expect_ok(__LINE__, &in, "{\"movie_id\":550}");

    in = input("create_list", 1);
    in.data_json = "{\"public\":false,\"name\":\"Zed\",\"description\":\"d\"}";
    expect_ok(__LINE__, &in, "{\"description\":\"d\",\"name\":\"Zed\",\"public\":false}");

    /* A flag and --data may both give a field when they agree. */
    in = input_list("add_movie", 1, 2);
    in.data_json = "{\"movie_id\":550}";
    in.movie = 550;
    in.has_movie = true;
    expect_ok(__LINE__, &in, "{\"movie_id\":550}");

    in = input("create_list", 1);
    in.data_json = "{\"name\":\"same\",\"public\":false,\"description\":\"d\"}";
    in.name = "same";
    in.description = "d";
    in.public_flag = 0;
    expect_ok(__LINE__, &in,
              "{\"description\":\"d\",\"name\":\"same\",\"public\":false}");

    /* A flag can satisfy what --data lacks. */
    in = input("create_list", 1);
    in.data_json = "{\"description\":\"d\"}";
    in.name = "n";
    expect_ok(__LINE__, &in, "{\"description\":\"d\",\"name\":\"n\"}");

    /* Non-ASCII stays UTF-8 and special characters are escaped. */
    in = input("create_list", 1);
    in.name = "Caf\xc3\xa9 \"quoted\"";
    expect_ok(__LINE__, &in, "{\"name\":\"Caf\xc3\xa9 \\\"quoted\\\"\"}");

    in = input_list("update_list", 1, 2);
    in.data_json = "{\"public\":true}";
    expect_ok(__LINE__, &in, "{\"public\":true}");
}

/* A flag and --data that disagree: neither silently wins. */
static void test_flag_data_conflicts(void)
{
    struct op_input in;

    in = input_list("add_movie", 1, 2);
    in.data_json = "{\"movie_id\":1}";
    in.movie = 550;
    in.has_movie = true;
    expect_invalid(__LINE__, &in,
                   "add_movie: \"movie\" (550) and \"movie_id\" in \"data\" (1) differ");

    /* Another type is another value. */
    in = input_list("remove_movie", 1, 2);
    in.data_json = "{\"movie_id\":\"550\"}";
    in.movie = 550;
    in.has_movie = true;
    expect_invalid(__LINE__, &in,
                   "remove_movie: \"movie\" and \"movie_id\" in \"data\" differ");

    in = input("create_list", 1);
    in.data_json = "{\"name\":\"old\"}";
    in.name = "new";
    expect_invalid(__LINE__, &in,
                   "create_list: \"name\" and \"name\" in \"data\" differ");

    in = input_list("update_list", 1, 2);
    in.data_json = "{\"description\":\"a\"}";
    in.description = "b";
    expect_invalid(__LINE__, &in,
                   "\"description\" and \"description\" in \"data\" differ");

    in = input_list("update_list", 1, 2);
    in.data_json = "{\"public\":true}";
    in.public_flag = 0;
    expect_invalid(__LINE__, &in, "\"public\" and \"public\" in \"data\" differ");

    /* The same for a bulk line's top-level keys. */
    expect_line_invalid(__LINE__,
                        "{\"type\":\"add_movie\",\"user\":1,\"list\":2,\"movie\":550,"
                        "\"data\":{\"movie_id\":551}}",
                        "\"movie\" (550) and \"movie_id\" in \"data\" (551) differ");
    expect_line_ok(__LINE__,
                   "{\"type\":\"add_movie\",\"user\":1,\"list\":2,\"movie\":550,"
                   "\"data\":{\"movie_id\":550}}",
                   OP_ADD_MOVIE, 1, 2, "{\"movie_id\":550}");
}

/* Names hold no control character; descriptions none but tab and line breaks. */
static void test_control_characters(void)
{
    static const struct {
        const char *name;
        const char *want;
    } bad_names[] = {
        {"a\nb", "U+000A at character 2"},
        {"a\tb", "U+0009 at character 2"},
        {"\rx", "U+000D at character 1"},
        {"\x1b[2J", "U+001B at character 1"},
        {"x\x7f", "U+007F at character 2"},
        /* C1 controls, after a multibyte character: positions count characters. */
        {"\xc3\xa9\xc2\x85", "U+0085 at character 2"},
        {"\xc2\x9b"
         "31m",
         "U+009B at character 1"},
    };
    struct op_input in;

    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        in = input("create_list", 1);
        in.name = bad_names[i].name;
        expect_invalid(__LINE__, &in,
                       "create_list: \"name\" must not contain control characters");
        expect_invalid(__LINE__, &in, bad_names[i].want);
    }
    in = input_list("update_list", 1, 2);
    in.data_json = "{\"name\":\"a\\u0000b\"}";
    expect_invalid(__LINE__, &in, "\"data\" must be a JSON object: invalid JSON");
    in = input_list("update_list", 1, 2);
    in.data_json = "{\"name\":\"a\\u0007b\"}";
    expect_invalid(__LINE__, &in, "U+0007 at character 2");

    in = input("create_list", 1);
    in.name = "n";
    in.description = "ding\x07";
    expect_invalid(__LINE__, &in,
                   "create_list: \"description\" must not contain control characters but "
                   "tab and line breaks (U+0007 at character 5)");
    in = input("create_list", 1);
    in.name = "n";
    in.description = "\xc2\x80";
    expect_invalid(__LINE__, &in, "U+0080 at character 1");
    in = input("create_list", 1);
    in.name = "n";
    in.description = "x\x7f";
    expect_invalid(__LINE__, &in, "U+007F");

    /* What stays valid: a description's lines, printable non-ASCII, U+00A0 and up. */
    in = input("create_list", 1);
    in.name = "Caf\xc3\xa9\xc2\xa0\xe2\x80\x94 \xf0\x9f\x8e\xac";
    in.description = "one\ntwo\r\n\tthree";
    expect_ok(
        __LINE__, &in,
        "{\"description\":\"one\\ntwo\\r\\n\\tthree\",\"name\":\"Caf\xc3\xa9\xc2\xa0"
        "\xe2\x80\x94 \xf0\x9f\x8e\xac\"}");

    expect_line_invalid(__LINE__,
                        "{\"type\":\"create_list\",\"user\":1,\"name\":\"a\\u001fb\"}",
                        "\"name\" must not contain control characters");
}

static void expect_credentials(int line, const char *text, const char *session,
                               const char *token)
{
    struct codec_credentials c;
    struct err e = {0};
    enum status st = codec_credentials_from_json(text, strlen(text), &c, &e);

    if (st != ST_OK)
        fprintf(stderr, "line %d: unexpected error: %s\n", line, e.msg);
    CHECK_EQ_INT(st, ST_OK);
    CHECK_STR_EQ(c.session_id, session);
    if (token == NULL)
        CHECK(c.access_token == NULL);
    else
        CHECK_STR_EQ(c.access_token, token);
    codec_credentials_cleanup(&c);
    CHECK(c.session_id == NULL && c.access_token == NULL);
}

static void expect_credentials_invalid(int line, const char *text, const char *want)
{
    struct codec_credentials c;
    struct err e = {0};
    enum status st = codec_credentials_from_json(text, strlen(text), &c, &e);

    if (st != ST_INVALID)
        fprintf(stderr, "line %d: expected ST_INVALID, got %d\n", line, (int)st);
    CHECK_EQ_INT(st, ST_INVALID);
    CHECK_CONTAINS(e.msg, want);
    /* The text holds secrets: no message quotes it. */
    CHECK(strstr(e.msg, "s3cr3t") == NULL);
    codec_credentials_cleanup(&c);
}

/* session set --stdin's input. */
static void test_credentials(void)
{
    expect_credentials(__LINE__, "{\"session_id\":\"s\",\"access_token\":\"t\"}", "s",
                       "t");
    expect_credentials(__LINE__, "  {\"access_token\": \"t\", \"session_id\": \"s\"}\n",
                       "s", "t");
    expect_credentials(__LINE__, "{\"session_id\":\"s\"}", "s", NULL);
    expect_credentials(__LINE__, "{\"session_id\":\"s\",\"access_token\":null}", "s",
                       NULL);
    /* Values are tmdbq_session_set's to check: the shape is all here. */
    expect_credentials(__LINE__, "{\"session_id\":\"a b\"}", "a b", NULL);

    expect_credentials_invalid(__LINE__, "", "not valid JSON (line 1, column");
    expect_credentials_invalid(__LINE__, "{\"session_id\": s3cr3t}", "not valid JSON");
    expect_credentials_invalid(__LINE__, "s3cr3t", "not valid JSON");
    expect_credentials_invalid(__LINE__, "{\"session_id\":\"s3cr3t\"} s3cr3t",
                               "not valid JSON");
    expect_credentials_invalid(__LINE__, "[\"s3cr3t\"]", "must be a JSON object");
    expect_credentials_invalid(__LINE__, "{}", "\"session_id\" is required");
    expect_credentials_invalid(__LINE__, "{\"access_token\":\"s3cr3t\"}",
                               "\"session_id\" is required");
    expect_credentials_invalid(__LINE__, "{\"session_id\":null}",
                               "\"session_id\" must be a string");
    expect_credentials_invalid(__LINE__, "{\"session_id\":\"s\",\"access_token\":1}",
                               "\"access_token\" must be a string");
    expect_credentials_invalid(
        __LINE__, "{\"session_id\":\"s\",\"pass\":\"s3cr3t\"}",
        "unknown field \"pass\" (expected session_id, access_token)");
    expect_credentials_invalid(
        __LINE__, "{\"session_id\":\"s\",\"session_id\":\"s3cr3t\"}", "not valid JSON");
    expect_credentials_invalid(__LINE__, "{\"session_id\":\"a\\u0000b\"}",
                               "not valid JSON");
}

static void test_type_user_list_errors(void)
{
    struct op_input in;

    in = input(NULL, 1);
    expect_invalid(__LINE__, &in, "\"type\" is required");

    in = input("add_film", 1);
    expect_invalid(__LINE__, &in,
                   "unknown operation type \"add_film\" (expected one of create_list, "
                   "update_list, delete_list, clear_list, add_movie, remove_movie)");

    in = input("create_list", 1);
    in.has_user = false;
    in.name = "n";
    expect_invalid(__LINE__, &in, "\"user\" is required");

    in = input("create_list", 0);
    in.name = "n";
    expect_invalid(__LINE__, &in, "\"user\" must be a positive integer");

    in = input("create_list", -3);
    in.name = "n";
    expect_invalid(__LINE__, &in, "\"user\"");

    in = input("create_list", 2147483648LL);
    in.name = "n";
    expect_invalid(__LINE__, &in, "\"user\" must be a positive integer");

    in = input("add_movie", 1);
    in.movie = 550;
    in.has_movie = true;
    expect_invalid(__LINE__, &in, "add_movie: \"list\" is required");

    in = input("delete_list", 1);
    expect_invalid(__LINE__, &in, "delete_list: \"list\" is required");

    in = input_list("clear_list", 1, 0);
    expect_invalid(__LINE__, &in, "clear_list: \"list\" must be a positive integer");

    in = input_list("clear_list", 1, 2147483648LL);
    expect_invalid(__LINE__, &in, "clear_list: \"list\" must be a positive integer");

    in = input_list("create_list", 1, 7);
    in.name = "n";
    expect_invalid(__LINE__, &in, "create_list: \"list\" must not be given");

    /* Type is checked before anything else. */
    in = input("nope", 0);
    in.has_user = false;
    expect_invalid(__LINE__, &in, "unknown operation type \"nope\"");
}

static void test_data_errors(void)
{
    struct op_input in;
    char long_name[300];
    char *long_desc;

    in = input_list("add_movie", 1, 2);
    expect_invalid(__LINE__, &in, "add_movie: \"movie_id\" is required");

    in = input_list("remove_movie", 1, 2);
    expect_invalid(__LINE__, &in, "remove_movie: \"movie_id\" is required");

    in = input_list("add_movie", 1, 2);
    in.movie = 0;
    in.has_movie = true;
    expect_invalid(__LINE__, &in, "add_movie: \"movie_id\" must be a positive integer");

    in = input_list("add_movie", 1, 2);
    in.movie = 2147483648LL;
    in.has_movie = true;
    expect_invalid(__LINE__, &in, "add_movie: \"movie_id\" must be a positive integer");

    in = input_list("add_movie", 1, 2);
    in.data_json = "{\"movie_id\":\"550\"}";
    expect_invalid(__LINE__, &in, "add_movie: \"movie_id\" must be a positive integer");

    in = input_list("add_movie", 1, 2);
    in.data_json = "{\"movie_id\":550.0}";
    expect_invalid(__LINE__, &in, "add_movie: \"movie_id\" must be a positive integer");

    in = input_list("add_movie", 1, 2);
    in.data_json = "{\"movie_id\":550,\"foo\":1}";
    expect_invalid(__LINE__, &in, "add_movie: unknown field \"foo\"");

    /* A misspelt key is named, rather than the missing one. */
    in = input_list("add_movie", 1, 2);
    in.data_json = "{\"movie\":550}";
    expect_invalid(__LINE__, &in, "add_movie: unknown field \"movie\"");

    in = input_list("delete_list", 1, 2);
    in.data_json = "{\"name\":\"x\"}";
    expect_invalid(__LINE__, &in, "delete_list: unknown field \"name\"");

    /* Flags that do not belong to the type are named by their key. */
    in = input("create_list", 1);
    in.name = "n";
    in.movie = 550;
    in.has_movie = true;
    expect_invalid(__LINE__, &in, "create_list: unknown field \"movie_id\"");

    in = input_list("add_movie", 1, 2);
    in.movie = 550;
    in.has_movie = true;
    in.name = "n";
    expect_invalid(__LINE__, &in, "add_movie: unknown field \"name\"");

    in = input_list("clear_list", 1, 2);
    in.public_flag = 1;
    expect_invalid(__LINE__, &in, "clear_list: unknown field \"public\"");

    in = input_list("remove_movie", 1, 2);
    in.movie = 5;
    in.has_movie = true;
    in.description = "d";
    expect_invalid(__LINE__, &in, "remove_movie: unknown field \"description\"");

    in = input("create_list", 1);
    expect_invalid(__LINE__, &in, "create_list: \"name\" is required");

    in = input("create_list", 1);
    in.name = "";
    expect_invalid(__LINE__, &in, "create_list: \"name\" must not be empty");

    in = input("create_list", 1);
    in.data_json = "{\"name\":5}";
    expect_invalid(__LINE__, &in, "create_list: \"name\" must be a string");

    in = input("create_list", 1);
    in.data_json = "{\"name\":\"n\",\"public\":\"yes\"}";
    expect_invalid(__LINE__, &in, "create_list: \"public\" must be true or false");

    in = input("create_list", 1);
    in.data_json = "{\"name\":\"n\",\"public\":1}";
    expect_invalid(__LINE__, &in, "create_list: \"public\" must be true or false");

    in = input("create_list", 1);
    in.data_json = "{\"name\":\"n\",\"description\":null}";
    expect_invalid(__LINE__, &in, "create_list: \"description\" must be a string");

    in = input_list("update_list", 1, 2);
    expect_invalid(
        __LINE__, &in,
        "update_list: at least one of \"name\", \"description\", \"public\" is "
        "required");

    in = input_list("update_list", 1, 2);
    in.data_json = "{}";
    expect_invalid(__LINE__, &in, "update_list: at least one of");

    in = input_list("update_list", 1, 2);
    in.name = "";
    expect_invalid(__LINE__, &in, "update_list: \"name\" must not be empty");

    /* Name: 255 characters pass, 256 do not; counted in characters, not bytes. */
    memset(long_name, 'a', 255);
    long_name[255] = '\0';
    in = input("create_list", 1);
    in.name = long_name;
    {
        struct op_request r;
        struct err e = {0};
        CHECK_EQ_INT(codec_request_build(&in, &r, &e), ST_OK);
        op_request_cleanup(&r);
    }
    long_name[255] = 'a';
    long_name[256] = '\0';
    expect_invalid(__LINE__, &in, "create_list: \"name\" is longer than 255 characters");
    {
        /* 150 two-byte characters: 300 bytes but 150 characters, so accepted. */
        char wide[301];
        for (int i = 0; i < 150; i++)
            memcpy(wide + 2 * i, "\xc3\xa9", 2);
        wide[300] = '\0';
        in = input("create_list", 1);
        in.name = wide;
        struct op_request r;
        struct err e = {0};
        CHECK_EQ_INT(codec_request_build(&in, &r, &e), ST_OK);
        op_request_cleanup(&r);
    }

    long_desc = malloc(10002);
    CHECK(long_desc != NULL);
    if (long_desc != NULL) {
        memset(long_desc, 'd', 10000);
        long_desc[10000] = '\0';
        in = input("create_list", 1);
        in.name = "n";
        in.description = long_desc;
        {
            struct op_request r;
            struct err e = {0};
            CHECK_EQ_INT(codec_request_build(&in, &r, &e), ST_OK);
            op_request_cleanup(&r);
        }
        long_desc[10000] = 'd';
        long_desc[10001] = '\0';
        expect_invalid(__LINE__, &in,
                       "create_list: \"description\" is longer than 10000");
        free(long_desc);
    }

    /* Bad UTF-8 from argv and inside --data. */
    in = input("create_list", 1);
    in.name = "bad \xff byte";
    expect_invalid(__LINE__, &in, "create_list: \"name\" is not valid UTF-8");

    in = input("create_list", 1);
    in.name = "n";
    in.description = "\xed\xa0\x80"; /* a UTF-16 surrogate */
    expect_invalid(__LINE__, &in, "\"description\" is not valid UTF-8");

    in = input("create_list", 1);
    in.data_json = "{\"name\":\"bad \xc0\xaf\"}";
    expect_invalid(__LINE__, &in, "\"data\" must be a JSON object");

    in = input("create_list", 1);
    in.name = "n";
    in.public_flag = 2;
    expect_invalid(__LINE__, &in, "create_list: \"public\" must be true or false");
}

static void test_data_shape_errors(void)
{
    struct op_input in;

    in = input_list("add_movie", 1, 2);
    in.data_json = "[1]";
    expect_invalid(__LINE__, &in, "\"data\" must be a JSON object");

    in = input_list("add_movie", 1, 2);
    in.data_json = "550";
    expect_invalid(__LINE__, &in, "\"data\" must be a JSON object");

    in = input_list("add_movie", 1, 2);
    in.data_json = "{\"movie_id\":550";
    expect_invalid(__LINE__, &in, "\"data\" must be a JSON object: invalid JSON:");

    in = input_list("add_movie", 1, 2);
    in.data_json = "{\"movie_id\":550} trailing";
    expect_invalid(__LINE__, &in, "\"data\" must be a JSON object");

    in = input_list("add_movie", 1, 2);
    in.data_json = "{\"movie_id\":550,\"movie_id\":551}";
    expect_invalid(__LINE__, &in, "duplicate");
}

static void test_lines(void)
{
    expect_line_ok(__LINE__,
                   "{\"type\":\"add_movie\",\"user\":42,\"list\":7,"
                   "\"data\":{\"movie_id\":550}}",
                   OP_ADD_MOVIE, 42, 7, "{\"movie_id\":550}");
    expect_line_ok(__LINE__,
                   "{\"type\":\"remove_movie\",\"user\":42,\"list\":7,\"movie\":550}",
                   OP_REMOVE_MOVIE, 42, 7, "{\"movie_id\":550}");
    expect_line_ok(
        __LINE__,
        "{\"public\":true,\"name\":\"Best\",\"user\":3,\"type\":\"create_list\"}",
        OP_CREATE_LIST, 3, 0, "{\"name\":\"Best\",\"public\":true}");
    expect_line_ok(__LINE__,
                   "{\"type\":\"update_list\",\"user\":3,\"list\":9,"
                   "\"data\":{\"name\":\"b\"},\"name\":\"b\",\"description\":\"c\"}",
                   OP_UPDATE_LIST, 3, 9, "{\"description\":\"c\",\"name\":\"b\"}");
    expect_line_invalid(__LINE__,
                        "{\"type\":\"update_list\",\"user\":3,\"list\":9,"
                        "\"data\":{\"name\":\"a\"},\"name\":\"b\"}",
                        "update_list: \"name\" and \"name\" in \"data\" differ");
    expect_line_ok(__LINE__, "{\"type\":\"delete_list\",\"user\":3,\"list\":9}",
                   OP_DELETE_LIST, 3, 9, "{}");
    expect_line_ok(__LINE__,
                   "{\"type\":\"clear_list\",\"user\":3,\"list\":9,\"data\":{}}",
                   OP_CLEAR_LIST, 3, 9, "{}");

    expect_line_invalid(__LINE__, "{\"type\":\"add_movie\",\"user\":42,",
                        "invalid JSON: ");
    expect_line_invalid(__LINE__, "{\"type\":\"add_movie\",\"user\":42,", " at column ");
    expect_line_invalid(__LINE__, "", "invalid JSON: ");
    expect_line_invalid(__LINE__, "[1,2]", "JSON object");
    expect_line_invalid(__LINE__,
                        "{\"type\":\"add_movie\",\"user\":\"42\",\"list\":7,\"movie\":1}",
                        "\"user\" must be an integer");
    expect_line_invalid(__LINE__,
                        "{\"type\":\"add_movie\",\"user\":42,\"list\":\"7\",\"movie\":1}",
                        "\"list\" must be an integer");
    expect_line_invalid(__LINE__,
                        "{\"type\":\"add_movie\",\"user\":42,\"list\":7,\"movie\":1.5}",
                        "\"movie\" must be an integer");
    expect_line_invalid(__LINE__, "{\"type\":7,\"user\":42}",
                        "\"type\" must be a string");
    expect_line_invalid(__LINE__, "{\"type\":\"create_list\",\"user\":42,\"name\":5}",
                        "\"name\" must be a string");
    expect_line_invalid(__LINE__,
                        "{\"type\":\"create_list\",\"user\":42,\"name\":\"n\","
                        "\"public\":\"true\"}",
                        "\"public\" must be true or false");
    expect_line_invalid(__LINE__,
                        "{\"type\":\"clear_list\",\"user\":42,\"list\":1,\"data\":3}",
                        "\"data\" must be a JSON object");
    expect_line_invalid(
        __LINE__, "{\"type\":\"clear_list\",\"user\":42,\"list\":1,\"color\":\"red\"}",
        "unknown field \"color\"");
    expect_line_invalid(__LINE__, "{\"user\":42,\"list\":1}", "\"type\" is required");
    expect_line_invalid(__LINE__, "{\"type\":\"clear_list\",\"list\":1}",
                        "\"user\" is required");
    expect_line_invalid(__LINE__, "{\"type\":\"add_movie\",\"user\":42,\"list\":7}",
                        "add_movie: \"movie_id\" is required");
    expect_line_invalid(__LINE__,
                        "{\"type\":\"add_movie\",\"user\":42,\"list\":7,"
                        "\"data\":{\"movie_id\":550,\"x\":1}}",
                        "add_movie: unknown field \"x\"");
    expect_line_invalid(__LINE__,
                        "{\"type\":\"create_list\",\"user\":42,\"list\":7,"
                        "\"name\":\"n\"}",
                        "create_list: \"list\" must not be given");
    expect_line_invalid(__LINE__,
                        "{\"type\":\"add_movie\",\"user\":0,\"list\":7,\"movie\":1}",
                        "\"user\" must be a positive integer");
    expect_line_invalid(__LINE__, "{\"type\":\"add_movie\",\"user\":1,\"user\":2}",
                        "duplicate");
    expect_line_invalid(__LINE__, "{\"type\":\"bogus\",\"user\":1}",
                        "unknown operation type \"bogus\"");
}

static void test_op_to_json(void)
{
    struct op o;
    struct codec_op_extra extra = {.with_enqueue = true, .duplicate = false};
    char *s;

    memset(&o, 0, sizeof o);
    snprintf(o.id, sizeof o.id, "%s", "0b6f5c1e-8a39-4c47-9f3e-5d2a1c9e7b10");
    o.type = OP_ADD_MOVIE;
    o.status = OP_FAILED;
    o.user_id = 42;
    o.list_id = 7;
    o.retry_count = 5;
    o.data_json = strdup("{\"movie_id\":550}");
    o.error_message = strdup("tmdb: 503 \"Service Unavailable\"");
    o.result_json = strdup("{\"status_code\":12,\"success\":true}");
    snprintf(o.last_retry_at, sizeof o.last_retry_at, "%s", "2026-11-24T06:25:27.123Z");
    snprintf(o.scheduled_for, sizeof o.scheduled_for, "%s", "2026-11-24T06:33:27.123Z");
    snprintf(o.inserted_at, sizeof o.inserted_at, "%s", "2026-11-24T06:00:00.000Z");
    snprintf(o.updated_at, sizeof o.updated_at, "%s", "2026-11-24T06:25:27.500Z");
    o.published = true;

    s = codec_op_to_json(&o, &extra);
    CHECK_STR_EQ(s, "{\"id\":\"0b6f5c1e-8a39-4c47-9f3e-5d2a1c9e7b10\","
                    "\"operation_type\":\"add_movie\",\"tmdb_user_id\":42,"
                    "\"tmdb_list_id\":7,\"operation_data\":{\"movie_id\":550},"
                    "\"retry_count\":5,\"last_retry_at\":\"2026-11-24T06:25:27.123Z\","
                    "\"status\":\"failed\","
                    "\"error_message\":\"tmdb: 503 \\\"Service Unavailable\\\"\","
                    "\"scheduled_for\":\"2026-11-24T06:33:27.123Z\","
                    "\"inserted_at\":\"2026-11-24T06:00:00.000Z\","
                    "\"updated_at\":\"2026-11-24T06:25:27.500Z\","
                    "\"result\":{\"status_code\":12,\"success\":true},"
                    "\"published\":true,\"duplicate\":false}");
    free(s);

    /* Without the enqueue extra no "duplicate"; operation_data keeps the stored order. */
    free(o.data_json);
    o.data_json = strdup("{\"name\":\"Best\",\"description\":\"d\"}");
    extra.duplicate = true;
    s = codec_op_to_json(&o, NULL);
    CHECK(s != NULL && strstr(s, "duplicate") == NULL);
    CHECK_CONTAINS(s, "\"operation_data\":{\"name\":\"Best\",\"description\":\"d\"}");
    free(s);
    s = codec_op_to_json(&o, &extra);
    CHECK_CONTAINS(s, ",\"published\":true,\"duplicate\":true}");
    free(s);
    op_cleanup(&o);

    /* NULLs: no list, no retry, no error, no result, not yet published. */
    memset(&o, 0, sizeof o);
    snprintf(o.id, sizeof o.id, "%s", "11111111-2222-3333-4444-555555555555");
    o.type = OP_CREATE_LIST;
    o.status = OP_PENDING;
    o.user_id = 3;
    o.data_json = strdup("{\"name\":\"Best\"}");
    snprintf(o.scheduled_for, sizeof o.scheduled_for, "%s", "2026-11-24T06:00:00.000Z");
    snprintf(o.inserted_at, sizeof o.inserted_at, "%s", "2026-11-24T06:00:00.000Z");
    s = codec_op_to_json(&o, NULL);
    CHECK_STR_EQ(s, "{\"id\":\"11111111-2222-3333-4444-555555555555\","
                    "\"operation_type\":\"create_list\",\"tmdb_user_id\":3,"
                    "\"tmdb_list_id\":null,\"operation_data\":{\"name\":\"Best\"},"
                    "\"retry_count\":0,\"last_retry_at\":null,\"status\":\"pending\","
                    "\"error_message\":null,"
                    "\"scheduled_for\":\"2026-11-24T06:00:00.000Z\","
                    "\"inserted_at\":\"2026-11-24T06:00:00.000Z\",\"updated_at\":null,"
                    "\"result\":null,\"published\":false}");
    free(s);

    /* Stored text that is not JSON is shown as a string; bad UTF-8 is replaced. */
    free(o.data_json);
    o.data_json = strdup("not json");
    o.error_message = strdup("bad \xff byte");
    s = codec_op_to_json(&o, NULL);
    CHECK_CONTAINS(s, "\"operation_data\":\"not json\",");
    CHECK_CONTAINS(s, "\"error_message\":\"bad \xef\xbf\xbd byte\",");
    free(s);
    op_cleanup(&o);
}

static void test_json_quote(void)
{
    char *s;

    s = codec_json_quote("a\"b\\c\n");
    CHECK_STR_EQ(s, "\"a\\\"b\\\\c\\n\"");
    free(s);
    s = codec_json_quote("");
    CHECK_STR_EQ(s, "\"\"");
    free(s);
    s = codec_json_quote("caf\xc3\xa9");
    CHECK_STR_EQ(s, "\"caf\xc3\xa9\"");
    free(s);
    s = codec_json_quote(NULL);
    CHECK_STR_EQ(s, "null");
    free(s);
}

int main(void)
{
    test_canonical_each_type();
    test_data_and_flags();
    test_flag_data_conflicts();
    test_control_characters();
    test_credentials();
    test_type_user_list_errors();
    test_data_errors();
    test_data_shape_errors();
    test_lines();
    test_op_to_json();
    test_json_quote();
    return check_exit();
}
