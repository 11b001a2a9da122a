/*
 * fuzz_codec: the property both request targets check on a request codec accepted: its
 * canonical form is a fixed point. The line {"type":..,"user":..,"list":..,"data":D} made
 * from the request must be accepted again and give the same request, byte for byte.
 */
#ifndef TMDBQ_FUZZ_CODEC_H
#define TMDBQ_FUZZ_CODEC_H

#include <string.h>

#include "codec.h"
#include "fuzz.h"
#include "op.h"

static inline void fuzz_check_request(const struct op_request *r)
{
    struct op_request again;
    struct err e = {0};
    enum status st;
    size_t n;
    char *line;

    FUZZ_CHECK(r->type >= 0 && r->type < OP_TYPE_COUNT, "type %d", (int)r->type);
    FUZZ_CHECK(r->user_id > 0, "user_id %d", (int)r->user_id);
    FUZZ_CHECK(op_type_needs_list(r->type) ? r->list_id > 0 : r->list_id == 0,
               "list_id %d for %s", (int)r->list_id, op_type_name(r->type));
    FUZZ_CHECK(r->data_json != NULL && r->data_json[0] == '{', "data_json %s",
               r->data_json ? r->data_json : "(null)");

    n = strlen(r->data_json) + 128;
    line = malloc(n);
    if (line == NULL)
        abort();
    if (op_type_needs_list(r->type))
        snprintf(line, n, "{\"type\":\"%s\",\"user\":%d,\"list\":%d,\"data\":%s}",
                 op_type_name(r->type), (int)r->user_id, (int)r->list_id, r->data_json);
    else
        snprintf(line, n, "{\"type\":\"%s\",\"user\":%d,\"data\":%s}",
                 op_type_name(r->type), (int)r->user_id, r->data_json);
    st = codec_request_from_line(line, &again, &e);
    FUZZ_CHECK(st == ST_OK, "canonical line %s refused: %s", line, e.msg);
    FUZZ_CHECK(again.type == r->type && again.user_id == r->user_id &&
                   again.list_id == r->list_id,
               "canonical line %s changed type, user or list", line);
    FUZZ_CHECK(strcmp(again.data_json, r->data_json) == 0,
               "canonical data %s came back as %s", r->data_json, again.data_json);
    op_request_cleanup(&again);
    free(line);
}

/* A refusal says something, within the buffer. */
static inline void fuzz_check_refusal(enum status st, const struct err *e)
{
    FUZZ_CHECK(st == ST_INVALID || st == ST_NOMEM, "status %d", (int)st);
    FUZZ_CHECK(memchr(e->msg, '\0', sizeof e->msg) != NULL, "message not terminated");
    FUZZ_CHECK(e->msg[0] != '\0', "empty message for status %d", (int)st);
}

#endif
