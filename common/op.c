/*
 * op: names of operation types and statuses, and the cleanup of owned fields.
 *
 * The name tables are indexed by the enums, so a new type or status is one line here and
 * the parse functions follow from the same table.
 */
#include "op.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_names[OP_TYPE_COUNT] = {
    [OP_CREATE_LIST] = "create_list", [OP_UPDATE_LIST] = "update_list",
    [OP_DELETE_LIST] = "delete_list", [OP_CLEAR_LIST] = "clear_list",
    [OP_ADD_MOVIE] = "add_movie",     [OP_REMOVE_MOVIE] = "remove_movie",
};

static const char *const status_names[OP_STATUS_COUNT] = {
    [OP_PENDING] = "pending",     [OP_PROCESSING] = "processing",
    [OP_COMPLETED] = "completed", [OP_FAILED] = "failed",
    [OP_CANCELLED] = "cancelled",
};

const char *op_type_name(enum op_type t)
{
    /* Compare as unsigned so a negative value from a bad cast is out of range too. */
    if ((unsigned)t >= OP_TYPE_COUNT)
        return "unknown";
    return type_names[t];
}

const char *op_status_name(enum op_status s)
{
    if ((unsigned)s >= OP_STATUS_COUNT)
        return "unknown";
    return status_names[s];
}

/* The index of s among the n names, -1 when it is none of them (or NULL). */
static int name_index(const char *const *names, int n, const char *s)
{
    for (int i = 0; s != NULL && i < n; i++) {
        if (strcmp(s, names[i]) == 0)
            return i;
    }
    return -1;
}

bool op_type_parse(const char *s, enum op_type *out)
{
    int i = name_index(type_names, OP_TYPE_COUNT, s);

    if (i >= 0 && out != NULL)
        *out = (enum op_type)i;
    return i >= 0;
}

bool op_status_parse(const char *s, enum op_status *out)
{
    int i = name_index(status_names, OP_STATUS_COUNT, s);

    if (i >= 0 && out != NULL)
        *out = (enum op_status)i;
    return i >= 0;
}

bool op_type_needs_list(enum op_type t)
{
    return t != OP_CREATE_LIST && (unsigned)t < OP_TYPE_COUNT;
}

void op_request_cleanup(struct op_request *r)
{
    if (r == NULL)
        return;
    free(r->data_json);
    r->data_json = NULL;
}

void op_cleanup(struct op *o)
{
    if (o == NULL)
        return;
    free(o->data_json);
    o->data_json = NULL;
    free(o->error_message);
    o->error_message = NULL;
    free(o->result_json);
    o->result_json = NULL;
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool op_id_valid(const char *s)
{
    size_t i;

    if (s == NULL)
        return false;
    for (i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!is_hex(s[i])) {
            /* Also stops at the terminator of a short string. */
            return false;
        }
    }
    return s[36] == '\0';
}
