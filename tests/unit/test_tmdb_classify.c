/*
 * test_tmdb_classify: the whole answer table of docs/tmdb.md through
 * tmdb_classify, for every operation type. Needs no services.
 *
 * Each row says: with this HTTP status and TMDB status_code, an operation of this type is
 * done, already holds, transient, permanent or a deployment fault. Rows that depend on
 * the type (8, 21, 34, 7 and a bare 401) are checked for every type. Then whole answers
 * through tmdb_classify_answer: a 2xx is done only with TMDB's own body.
 */
#include <string.h>

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

#define CHECK_ANSWER(type, http, body, want)                                             \
    do {                                                                                 \
        const char *body_ = (body);                                                      \
        enum tmdb_outcome got_ =                                                         \
            tmdb_classify_answer((type), (http), body_, body_ ? strlen(body_) : 0);      \
        if (got_ != (want)) {                                                            \
            fprintf(stderr, "%s:%d: %s HTTP %ld body %s: got %s, want %s\n", __FILE__,   \
                    __LINE__, op_type_name(type), (long)(http),                          \
                    body_ ? body_ : "(none)", outcome_name(got_), outcome_name(want));   \
            check_failures++;                                                            \
        }                                                                                \
    } while (0)

/* Issue 15, defect 1: a 2xx counts as done only with the body TMDB documents for a
 * success; anything else that is not TMDB saying it failed is a deployment fault. */
static void test_answer_bodies(void)
{
    static const char *const not_tmdbs[] = {
        NULL,
        "",
        "<html><body>Sign in</body></html>",
        "{\"success\":true,\"status_code\":12",
        "[12]",
        "\"ok\"",
        "{}",
        "{\"success\":true}",
        "{\"status_code\":\"12\",\"success\":true}",
        "{\"status_code\":40,\"success\":true}",
        "{\"status_code\":0,\"success\":true}",
    };
    int t;

    for (t = 0; t < OP_TYPE_COUNT; t++) {
        for (size_t i = 0; i < sizeof not_tmdbs / sizeof not_tmdbs[0]; i++) {
            CHECK_ANSWER(t, 200, not_tmdbs[i], TMDB_DEPLOYMENT);
            CHECK_ANSWER(t, 201, not_tmdbs[i], TMDB_DEPLOYMENT);
            CHECK_ANSWER(t, 204, not_tmdbs[i], TMDB_DEPLOYMENT);
        }
        /* TMDB's own word that it did not apply stays permanent. */
        CHECK_ANSWER(t, 200, "{\"success\":false,\"status_code\":40}", TMDB_PERMANENT);
        CHECK_ANSWER(t, 200, "{\"success\":false}", TMDB_PERMANENT);
        /* Other statuses are decided as before, whatever the body. */
        CHECK_ANSWER(t, 503, "<html>busy</html>", TMDB_TRANSIENT);
        CHECK_ANSWER(t, 429, NULL, TMDB_RATE_LIMITED);
        CHECK_ANSWER(t, 302, "", TMDB_DEPLOYMENT);
        CHECK_ANSWER(t, 401, "{\"success\":false,\"status_code\":7}",
                     t == OP_UPDATE_LIST ? TMDB_PERMANENT : TMDB_DEPLOYMENT);
        CHECK_ANSWER(t, 0, NULL, TMDB_TRANSIENT);
    }
    for (t = 0; t < OP_TYPE_COUNT; t++) {
        enum tmdb_outcome done = t == OP_CREATE_LIST ? TMDB_DEPLOYMENT : TMDB_DONE;

        /* create_list needs its list_id; the others any success code. */
        CHECK_ANSWER(t, 201, "{\"success\":true,\"status_code\":12}", done);
        CHECK_ANSWER(t, 200, "{\"success\":true,\"status_code\":13}", done);
        CHECK_ANSWER(t, 201, "{\"status_code\":12,\"status_message\":\"ok\"}", done);
        CHECK_ANSWER(t, 201, "{\"success\":true,\"status_code\":1}", done);
    }
    CHECK_ANSWER(OP_CREATE_LIST, 201,
                 "{\"success\":true,\"status_code\":1,\"list_id\":8}", TMDB_DONE);
    CHECK_ANSWER(
        OP_CREATE_LIST, 201,
        "{\"success\":true,\"status_code\":1,\"list_id\":\"509ec17b19c2950a0600050d\"}",
        TMDB_DONE);
    CHECK_ANSWER(OP_CREATE_LIST, 201,
                 "{\"success\":true,\"status_code\":1,\"list_id\":0}", TMDB_DEPLOYMENT);
    CHECK_ANSWER(OP_CREATE_LIST, 201,
                 "{\"success\":true,\"status_code\":1,\"list_id\":\"my list\"}",
                 TMDB_DEPLOYMENT);
    CHECK_ANSWER(OP_CREATE_LIST, 201,
                 "{\"success\":true,\"status_code\":1,\"list_id\":1.5}", TMDB_DEPLOYMENT);
    /* The goal-holds answers are TMDB's JSON by construction. */
    CHECK_ANSWER(OP_REMOVE_MOVIE, 200, "{\"success\":false,\"status_code\":21}",
                 TMDB_GOAL_HOLDS);
    CHECK_ANSWER(OP_ADD_MOVIE, 403, "{\"success\":false,\"status_code\":8}",
                 TMDB_GOAL_HOLDS);
    /* The delete quirk without its confirming GET. */
    CHECK_ANSWER(OP_DELETE_LIST, 500, "{\"success\":false,\"status_code\":11}",
                 TMDB_TRANSIENT);
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
    test_answer_bodies();
    return check_exit();
}
