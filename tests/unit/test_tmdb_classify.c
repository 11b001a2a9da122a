/*
 * test_tmdb_classify: the whole answer table of docs/tmdb.md through
 * tmdb_classify, for every operation type. Needs no services.
 *
 * Each row says: with this HTTP status and TMDB status_code, an operation of this type is
 * done, already holds, transient, permanent or a deployment fault. Rows that depend on
 * the type (8, 21, 34, 7 and a bare 401) are checked for every type.
 */
#include "check.h"
#include "op.h"
#include "tmdb.h"

static const char *outcome_name(enum tmdb_outcome o)
{
    switch (o) {
    case TMDB_DONE:
        return "done";
    case TMDB_GOAL_HOLDS:
        return "goal_holds";
    case TMDB_TRANSIENT:
        return "transient";
    case TMDB_PERMANENT:
        return "permanent";
    case TMDB_DEPLOYMENT:
        return "deployment";
    case TMDB_RATE_LIMITED:
        return "rate_limited";
    case TMDB_NOT_SENT:
        return "not_sent";
    }
    return "?";
}

#define CHECK_OUTCOME(type, http, code, want)                                            \
    do {                                                                                 \
        enum tmdb_outcome got_ = tmdb_classify((type), (http), (code));                  \
        if (got_ != (want)) {                                                            \
            fprintf(stderr, "%s:%d: %s HTTP %ld status_code %d: got %s, want %s\n",      \
                    __FILE__, __LINE__, op_type_name(type), (long)(http), (int)(code),   \
                    outcome_name(got_), outcome_name(want));                             \
            check_failures++;                                                            \
        }                                                                                \
    } while (0)

static void test_success(void)
{
    int t;

    for (t = 0; t < OP_TYPE_COUNT; t++) {
        CHECK_OUTCOME(t, 201, 1, TMDB_DONE);
        CHECK_OUTCOME(t, 201, 12, TMDB_DONE);
        CHECK_OUTCOME(t, 200, 13, TMDB_DONE);
        CHECK_OUTCOME(t, 200, 0, TMDB_DONE);
        CHECK_OUTCOME(t, 204, 0, TMDB_DONE);
        /* A code the table does not name decides nothing: the 2xx does. */
        CHECK_OUTCOME(t, 200, 40, TMDB_DONE);
    }
}

static void test_deployment(void)
{
    int t;

    for (t = 0; t < OP_TYPE_COUNT; t++) {
        CHECK_OUTCOME(t, 401, 10, TMDB_DEPLOYMENT);
        if (t == OP_UPDATE_LIST) {
            /* v4 update carries only the user's token: its rejection is the user's. */
            CHECK_OUTCOME(t, 401, 7, TMDB_PERMANENT);
            CHECK_OUTCOME(t, 401, 0, TMDB_PERMANENT);
        } else {
            CHECK_OUTCOME(t, 401, 7, TMDB_DEPLOYMENT);
            /* An unlabelled 401 is not TMDB's: a proxy or a wrong URL, for everyone. */
            CHECK_OUTCOME(t, 401, 0, TMDB_DEPLOYMENT);
        }
        /* The code decides, whatever the HTTP status around it. */
        CHECK_OUTCOME(t, 200, 10, TMDB_DEPLOYMENT);
        /* Redirects are never followed: a final 3xx means TMDB_API_URL is wrong. */
        CHECK_OUTCOME(t, 301, 0, TMDB_DEPLOYMENT);
        CHECK_OUTCOME(t, 302, 0, TMDB_DEPLOYMENT);
        CHECK_OUTCOME(t, 100, 0, TMDB_DEPLOYMENT);
    }
}

static void test_session(void)
{
    static const int codes[] = {3, 14, 17, 30, 31, 32, 33, 35, 37};
    size_t i;
    int t;

    for (t = 0; t < OP_TYPE_COUNT; t++) {
        for (i = 0; i < sizeof codes / sizeof codes[0]; i++) {
            CHECK_OUTCOME(t, 401, codes[i], TMDB_PERMANENT);
            CHECK_OUTCOME(t, 404, codes[i], TMDB_PERMANENT);
        }
    }
}

static void test_goal_holds(void)
{
    int t;

    for (t = 0; t < OP_TYPE_COUNT; t++) {
        CHECK_OUTCOME(t, 403, 8, t == OP_ADD_MOVIE ? TMDB_GOAL_HOLDS : TMDB_PERMANENT);
        /* 21 comes in an HTTP 200 with success false. */
        CHECK_OUTCOME(t, 200, 21,
                      t == OP_REMOVE_MOVIE ? TMDB_GOAL_HOLDS : TMDB_PERMANENT);
        CHECK_OUTCOME(t, 404, 34, t == OP_DELETE_LIST ? TMDB_GOAL_HOLDS : TMDB_PERMANENT);
    }
}

static void test_permanent(void)
{
    static const int codes[] = {36, 38, 39, 5, 18, 20, 22, 23, 29, 47};
    size_t i;
    int t;

    for (t = 0; t < OP_TYPE_COUNT; t++) {
        for (i = 0; i < sizeof codes / sizeof codes[0]; i++) {
            CHECK_OUTCOME(t, 401, codes[i], TMDB_PERMANENT);
            CHECK_OUTCOME(t, 400, codes[i], TMDB_PERMANENT);
            CHECK_OUTCOME(t, 422, codes[i], TMDB_PERMANENT);
        }
        /* Any other 4xx, with or without a code the table does not name. */
        CHECK_OUTCOME(t, 400, 0, TMDB_PERMANENT);
        CHECK_OUTCOME(t, 403, 0, TMDB_PERMANENT);
        CHECK_OUTCOME(t, 404, 0, TMDB_PERMANENT);
        CHECK_OUTCOME(t, 404, 6, TMDB_PERMANENT);
        CHECK_OUTCOME(t, 405, 0, TMDB_PERMANENT);
        CHECK_OUTCOME(t, 422, 0, TMDB_PERMANENT);
        CHECK_OUTCOME(t, 413, 0, TMDB_PERMANENT);
    }
}

static void test_transient(void)
{
    static const int codes[] = {9, 11, 15, 24, 43, 46};
    size_t i;
    int t;

    for (t = 0; t < OP_TYPE_COUNT; t++) {
        /* TMDB's rate limit is its own outcome: HTTP 429, or status_code 25 under any
         * HTTP status. */
        CHECK_OUTCOME(t, 429, 25, TMDB_RATE_LIMITED);
        CHECK_OUTCOME(t, 429, 0, TMDB_RATE_LIMITED);
        CHECK_OUTCOME(t, 200, 25, TMDB_RATE_LIMITED);
        CHECK_OUTCOME(t, 503, 25, TMDB_RATE_LIMITED);
        for (i = 0; i < sizeof codes / sizeof codes[0]; i++) {
            CHECK_OUTCOME(t, 500, codes[i], TMDB_TRANSIENT);
            CHECK_OUTCOME(t, 503, codes[i], TMDB_TRANSIENT);
        }
        CHECK_OUTCOME(t, 500, 0, TMDB_TRANSIENT);
        CHECK_OUTCOME(t, 502, 0, TMDB_TRANSIENT);
        CHECK_OUTCOME(t, 503, 0, TMDB_TRANSIENT);
        CHECK_OUTCOME(t, 504, 0, TMDB_TRANSIENT);
        CHECK_OUTCOME(t, 599, 0, TMDB_TRANSIENT);
        /* No answer at all: timeout, connection refused, cut short. */
        CHECK_OUTCOME(t, 0, 0, TMDB_TRANSIENT);
    }
    /* The delete quirk's first answer is transient on its own; tmdb_execute confirms it
     * with a GET before calling it done. */
    CHECK_OUTCOME(OP_DELETE_LIST, 500, 11, TMDB_TRANSIENT);
}

/* A code from the table wins over an HTTP status that says otherwise. */
static void test_code_wins(void)
{
    CHECK_OUTCOME(OP_ADD_MOVIE, 500, 8, TMDB_GOAL_HOLDS);
    CHECK_OUTCOME(OP_ADD_MOVIE, 201, 3, TMDB_PERMANENT);
    CHECK_OUTCOME(OP_ADD_MOVIE, 404, 11, TMDB_TRANSIENT);
    CHECK_OUTCOME(OP_ADD_MOVIE, 429, 7, TMDB_DEPLOYMENT);
    CHECK_OUTCOME(OP_CLEAR_LIST, 503, 34, TMDB_PERMANENT);
}

/* Which answers reject the user's credential rather than the operation. */
static void test_user_credential(void)
{
    static const int yes[] = {3, 14, 17, 30, 31, 32, 33, 35, 37};
    static const int no[] = {0, 1, 5, 7, 8, 10, 11, 21, 25, 29, 34, 36, 38, 39};
    int t;

    for (t = 0; t < OP_TYPE_COUNT; t++) {
        for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
            CHECK(tmdb_rejects_user_credential(t, 401, yes[i]));
        for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
            /* update_list's only credential is the user's token: 7 and a bare 401 are
             * about it. */
            bool want = t == OP_UPDATE_LIST && no[i] == 7;

            CHECK(tmdb_rejects_user_credential(t, 400, no[i]) == want);
        }
        CHECK(tmdb_rejects_user_credential(t, 401, 0) == (t == OP_UPDATE_LIST));
    }
}

int main(void)
{
    test_user_credential();
    test_success();
    test_deployment();
    test_session();
    test_goal_holds();
    test_permanent();
    test_transient();
    test_code_wins();
    return check_exit();
}
