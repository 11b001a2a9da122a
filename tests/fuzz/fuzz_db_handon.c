/*
 * fuzz_db_handon: db_copy_handon, the reader of the hand-on list PostgreSQL returns with
 * a claim or a finish (a uuid[] as text, "{id,id,...}"), the ids the consumer then
 * publishes. The text comes from our own SQL, so this is defence in depth: whatever the
 * column holds, the reader must stay inside it and hand on only valid ids. The input is
 * a flag byte (bit 0: the column is NULL) and the column's text; the PGresult is built
 * with libpq's own constructors, no server needed (db_internal.h is included for the
 * reader's prototype only).
 *
 * Properties: at most DB_HANDON_MAX ids, each one op_id_valid and found in the text in
 * the order given.
 */
#include "db_internal.h"
#include "fuzz.h"
#include "op.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    bool null = fuzz_u8(&in) & 1;
    PGresAttDesc col = {.name = (char *)"next",
                        .format = 0,
                        .typid = 2951,
                        .typlen = -1,
                        .atttypmod = -1};
    PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    struct db_handon h;
    const char *text, *at;

    if (res == NULL || !PQsetResultAttrs(res, 1, &col) ||
        !PQsetvalue(res, 0, 0, null ? NULL : (char *)in.p, null ? -1 : (int)in.n))
        abort();
    memset(&h, 0x55, sizeof h);
    db_copy_handon(&h, res, 0, 0);
    text = PQgetvalue(res, 0, 0);
    FUZZ_CHECK(h.n <= DB_HANDON_MAX, "%zu ids", h.n);
    at = text;
    for (size_t i = 0; i < h.n; i++) {
        FUZZ_CHECK(op_id_valid(h.ids[i]), "id %zu \"%.36s\" is not valid", i, h.ids[i]);
        at = strstr(at, h.ids[i]);
        FUZZ_CHECK(at != NULL, "id %zu %s is not in the text, in order: %s", i, h.ids[i],
                   text);
        at += 36;
    }
    PQclear(res);
    return 0;
}
