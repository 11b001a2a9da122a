/*
 * test_op: operation type and status names, their parsing, and operation ids. Needs no
 * services.
 *
 * The names are stored in PostgreSQL and printed to users, so they are checked literally,
 * not only for round-tripping.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "op.h"

static void test_types(void)
{
    static const char *const names[OP_TYPE_COUNT] = {
        "create_list", "update_list", "delete_list",
        "clear_list",  "add_movie",   "remove_movie",
    };
    enum op_type t;
    int i;

    for (i = 0; i < OP_TYPE_COUNT; i++) {
        CHECK_STR_EQ(op_type_name((enum op_type)i), names[i]);
        t = OP_TYPE_COUNT;
        CHECK(op_type_parse(names[i], &t));
        CHECK_EQ_INT(t, i);
    }
    t = OP_ADD_MOVIE;
    CHECK(!op_type_parse("add-movie", &t));
    CHECK(!op_type_parse("ADD_MOVIE", &t));
    CHECK(!op_type_parse("add_movie ", &t));
    CHECK(!op_type_parse("", &t));
    CHECK(!op_type_parse(NULL, &t));
    CHECK(!op_type_parse("pending", &t));
    CHECK_EQ_INT(t, OP_ADD_MOVIE);
    CHECK_STR_EQ(op_type_name(OP_TYPE_COUNT), "unknown");

    CHECK(!op_type_needs_list(OP_CREATE_LIST));
    CHECK(op_type_needs_list(OP_UPDATE_LIST));
    CHECK(op_type_needs_list(OP_DELETE_LIST));
    CHECK(op_type_needs_list(OP_CLEAR_LIST));
    CHECK(op_type_needs_list(OP_ADD_MOVIE));
    CHECK(op_type_needs_list(OP_REMOVE_MOVIE));
}

static void test_statuses(void)
{
    static const char *const names[OP_STATUS_COUNT] = {
        "pending", "processing", "completed", "failed", "cancelled",
    };
    enum op_status s;
    int i;

    for (i = 0; i < OP_STATUS_COUNT; i++) {
        CHECK_STR_EQ(op_status_name((enum op_status)i), names[i]);
        s = OP_STATUS_COUNT;
        CHECK(op_status_parse(names[i], &s));
        CHECK_EQ_INT(s, i);
    }
    s = OP_FAILED;
    CHECK(!op_status_parse("canceled", &s));
    CHECK(!op_status_parse("Pending", &s));
    CHECK(!op_status_parse("", &s));
    CHECK(!op_status_parse(NULL, &s));
    CHECK_EQ_INT(s, OP_FAILED);
    CHECK_STR_EQ(op_status_name(OP_STATUS_COUNT), "unknown");
}

static void test_ids(void)
{
    CHECK(op_id_valid("0b9c2f4e-1a2b-4c3d-8e9f-0123456789ab"));
    CHECK(op_id_valid("0B9C2F4E-1A2B-4C3D-8E9F-0123456789AB"));
    CHECK(op_id_valid("00000000-0000-0000-0000-000000000000"));
    CHECK(!op_id_valid(NULL));
    CHECK(!op_id_valid(""));
    CHECK(!op_id_valid("0b9c2f4e-1a2b-4c3d-8e9f-0123456789a"));   /* short */
    CHECK(!op_id_valid("0b9c2f4e-1a2b-4c3d-8e9f-0123456789abc")); /* long */
    CHECK(!op_id_valid("0b9c2f4e1a2b-4c3d-8e9f-0123456789abc"));  /* dash moved */
    CHECK(!op_id_valid("0b9c2f4e-1a2b-4c3d-8e9f_0123456789ab"));
    CHECK(!op_id_valid("0b9c2f4g-1a2b-4c3d-8e9f-0123456789ab")); /* not hex */
    CHECK(!op_id_valid(" 0b9c2f4e-1a2b-4c3d-8e9f-0123456789a"));
    CHECK(!op_id_valid("{0b9c2f4e-1a2b-4c3d-8e9f-0123456789ab}"));
    CHECK(!op_id_valid("0b9c2f4e1a2b4c3d8e9f0123456789ab"));
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);

    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

static void test_cleanup(void)
{
    struct op o;
    struct op_request r;

    memset(&o, 0, sizeof o);
    o.data_json = dup_str("{}");
    o.error_message = dup_str("boom");
    o.result_json = dup_str("{\"list_id\":1}");
    op_cleanup(&o);
    CHECK(o.data_json == NULL);
    CHECK(o.error_message == NULL);
    CHECK(o.result_json == NULL);
    /* Twice is harmless, and NULL is accepted. */
    op_cleanup(&o);
    op_cleanup(NULL);

    memset(&r, 0, sizeof r);
    r.data_json = dup_str("{\"movie_id\":550}");
    op_request_cleanup(&r);
    CHECK(r.data_json == NULL);
    op_request_cleanup(&r);
    op_request_cleanup(NULL);
}

int main(void)
{
    test_types();
    test_statuses();
    test_ids();
    test_cleanup();
    return check_exit();
}
