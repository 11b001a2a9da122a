/*
 * fuzz_op_id: the check a consumer makes on an AMQP delivery body before it claims
 * anything. mq.c (mq_consume_next) copies at most 63 bytes of the body into struct
 * mq_delivery, NUL terminates it and sets too_long past that; the worker
 * (consumer/worker.c, handle_delivery) rejects the delivery unless mq_delivery_names_op
 * says it names an operation. The copy sits inside the AMQP frame loop, so it is rebuilt
 * here and must be kept as it is there; mq_delivery_names_op and op_id_valid are the
 * production functions themselves. The input is the whole body.
 *
 * Properties: op_id_valid agrees with a reference reading of its contract (36 characters,
 * 8-4-4-4-12 hex, either case, then the end of the string); and a delivery is accepted
 * exactly when its body, all of its bytes, is such an id: a body that is anything else
 * names no operation and must be dead-lettered, not claimed.
 */
#include <stdbool.h>

#include "fuzz.h"
#include "mq.h"
#include "op.h"

static bool ref_uuid(const uint8_t *s, size_t n)
{
    if (n != 36)
        return false;
    for (size_t i = 0; i < 36; i++) {
        uint8_t c = s[i];
        bool hex =
            (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');

        if ((i == 8 || i == 13 || i == 18 || i == 23) ? c != '-' : !hex)
            return false;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mq_delivery d;
    char *s = fuzz_cstring(data, size);
    bool accepted;

    /* op_id_valid on its own: a C string. */
    FUZZ_CHECK(op_id_valid(s) == ref_uuid((const uint8_t *)s, strlen(s)),
               "op_id_valid(\"%s\") = %d", s, (int)op_id_valid(s));
    free(s);

    /* As mq.c fills a delivery and the worker judges it. */
    memset(&d, 0, sizeof d);
    d.len = size;
    d.too_long = size > sizeof d.body - 1;
    memcpy(d.body, data, d.too_long ? sizeof d.body - 1 : size);
    d.body[d.too_long ? sizeof d.body - 1 : d.len] = '\0';
    accepted = mq_delivery_names_op(&d);
    FUZZ_CHECK(accepted == ref_uuid(data, size),
               "a body of %zu bytes starting \"%.36s\" is %s", size, d.body,
               accepted ? "accepted as an operation id" : "rejected");
    return 0;
}
