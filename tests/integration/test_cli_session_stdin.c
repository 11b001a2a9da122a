/*
 * test_cli_session_stdin: `tmdbq session set --user N --stdin`, the way to give a user's
 * TMDB credentials without putting them on the command line, where every local user
 * reads them (ps, /proc/PID/cmdline).
 *
 * Standard input holds one JSON object {"session_id": "...", "access_token": "..."}
 * (access_token optional or null), at most 64 KiB. The credentials are stored as with the
 * flags and never printed back, not even in an error message about malformed input.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "support.h"

#define SECRET_SESSION "stdin-session-5f2b9c"
#define SECRET_TOKEN "stdin-token-a81d7e"

static bool leaks(const struct ts_result *r, const char *secret)
{
    return strstr(r->out, secret) != NULL || strstr(r->err, secret) != NULL;
}

static char *stored(const struct ts_env *env, int user)
{
    char sql[200];

    snprintf(sql, sizeof sql,
             "SELECT session_id || ' ' || coalesce(access_token, '(null)') FROM "
             "tmdb_user_credentials WHERE tmdb_user_id = %d",
             user);
    return ts_sql_value(env, sql);
}

static void check_set(struct ts_env *env)
{
    struct ts_result r;
    json_t *out;
    char *v;

    ts_run(env, NULL,
           "{\"session_id\": \"" SECRET_SESSION "\",\n \"access_token\": \"" SECRET_TOKEN
           "\"}\n",
           &r, "session", "set", "--user", "5", "--stdin", "--json", (const char *)NULL);
    CHECK_EQ_INT(r.status, 0);
    CHECK(!leaks(&r, SECRET_SESSION) && !leaks(&r, SECRET_TOKEN));
    out = ts_json_parse(r.out);
    CHECK_EQ_INT(ts_json_int(out, "tmdb_user_id", -1), 5);
    CHECK_STR_EQ(ts_json_str(out, "session_id"), "set");
    CHECK_STR_EQ(ts_json_str(out, "access_token"), "set");
    CHECK_EQ_INT(ts_json_int(out, "retried", -1), 0);
    if (r.status != 0)
        ts_result_dump("session set --stdin", &r);
    json_decref(out);
    ts_result_free(&r);
    v = stored(env, 5);
    CHECK_STR_EQ(v, SECRET_SESSION " " SECRET_TOKEN);
    free(v);

    /* Without an access token, and with a null one: stored as none. */
    CHECK_EQ_INT(ts_run(env, NULL, "{\"session_id\":\"only-session\"}", &r, "session",
                        "set", "--user", "6", "--stdin", (const char *)NULL),
                 0);
    CHECK(!leaks(&r, "only-session"));
    CHECK_CONTAINS(r.out, "stored TMDB credentials for user 6 (session id)");
    ts_result_free(&r);
    v = stored(env, 6);
    CHECK_STR_EQ(v, "only-session (null)");
    free(v);
    CHECK_EQ_INT(ts_run(env, NULL,
                        "{\"session_id\":\"" SECRET_SESSION "\",\"access_token\":null}",
                        &r, "session", "set", "--user", "5", "--stdin", "--json",
                        (const char *)NULL),
                 0);
    out = ts_json_parse(r.out);
    CHECK_STR_EQ(ts_json_str(out, "access_token"), "unset");
    json_decref(out);
    ts_result_free(&r);
    v = stored(env, 5);
    CHECK_STR_EQ(v, SECRET_SESSION " (null)");
    free(v);
}

/* Credential failures are revived as with the flags. */
static void check_revives(struct ts_env *env)
{
    struct ts_result r;
    json_t *out;

    CHECK_EQ_INT(ts_run(env, NULL, NULL, &r, "enqueue", "add_movie", "--user", "7",
                        "--list", "70", "--movie", "1", (const char *)NULL),
                 0);
    ts_result_free(&r);
    CHECK_EQ_INT(ts_sql_exec(env, "UPDATE queued_list_operations SET status = 'failed', "
                                  "error_kind = 'credentials', error_message = 'no "
                                  "session' WHERE tmdb_user_id = 7"),
                 0);
    CHECK_EQ_INT(ts_run(env, NULL, "{\"session_id\":\"s7\"}", &r, "session", "set",
                        "--user", "7", "--stdin", "--json", (const char *)NULL),
                 0);
    out = ts_json_parse(r.out);
    CHECK_EQ_INT(ts_json_int(out, "retried", -1), 1);
    json_decref(out);
    ts_result_free(&r);
    CHECK_EQ_INT(ts_sql_long(env, "SELECT count(*) FROM queued_list_operations WHERE "
                                  "tmdb_user_id = 7 AND status = 'pending'"),
                 1);
}

struct bad {
    const char *what;
    const char *stdin_text; /* NULL: empty */
    const char *says;
};

static void check_refused(struct ts_env *env)
{
    static const struct bad bad[] = {
        {"empty input", NULL, "not valid JSON"},
        {"not JSON, with a secret in it", "{\"session_id\": " SECRET_SESSION "}",
         "not valid JSON (line 1, column"},
        {"an unterminated string", "{\"session_id\": \"" SECRET_SESSION,
         "not valid JSON"},
        {"not an object", "[\"" SECRET_SESSION "\"]", "must be a JSON object"},
        {"no session_id", "{\"access_token\":\"" SECRET_TOKEN "\"}",
         "\"session_id\" is required"},
        {"a null session_id", "{\"session_id\":null}", "\"session_id\" must be a string"},
        {"a number", "{\"session_id\":5}", "\"session_id\" must be a string"},
        {"an unknown field",
         "{\"session_id\":\"" SECRET_SESSION "\",\"password\":\"" SECRET_TOKEN "\"}",
         "unknown field \"password\""},
        {"a duplicate key",
         "{\"session_id\":\"" SECRET_SESSION "\",\"session_id\":\"" SECRET_TOKEN "\"}",
         "not valid JSON"},
        {"a space in the session id", "{\"session_id\":\"stdin session\"}",
         "the session id (\"session_id\", --session-id) must be printable ASCII"},
        {"a newline in the access token",
         "{\"session_id\":\"s\",\"access_token\":\"tok\\nen\"}",
         "the access token (\"access_token\", --access-token)"},
        {"an empty session id", "{\"session_id\":\"\"}", "must not be empty"},
    };
    struct ts_result r;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ts_run(env, NULL, bad[i].stdin_text, &r, "session", "set", "--user", "8",
               "--stdin", (const char *)NULL);
        CHECK_EQ_INT(r.status, 2);
        CHECK_CONTAINS(r.err, bad[i].says);
        CHECK(!leaks(&r, SECRET_SESSION) && !leaks(&r, SECRET_TOKEN));
        if (r.status != 2 || strstr(r.err, bad[i].says) == NULL)
            ts_result_dump(bad[i].what, &r);
        ts_result_free(&r);
    }

    /* More than 64 KiB: refused without being parsed. */
    {
        size_t n = 64 * 1024 + 64;
        char *big = malloc(n + 1);

        CHECK(big != NULL);
        if (big != NULL) {
            memset(big, ' ', n);
            memcpy(big, "{\"session_id\":\"s\"}", 18);
            big[n] = '\0';
            ts_run(env, NULL, big, &r, "session", "set", "--user", "8", "--stdin",
                   (const char *)NULL);
            CHECK_EQ_INT(r.status, 2);
            CHECK_CONTAINS(r.err, "--stdin: standard input is longer than 65536 bytes");
            ts_result_free(&r);
            free(big);
        }
    }

    /* --stdin with the flags it replaces, and --stdin elsewhere. */
    ts_run(env, NULL, "{\"session_id\":\"s\"}", &r, "session", "set", "--user", "8",
           "--stdin", "--session-id", "s", (const char *)NULL);
    CHECK_EQ_INT(r.status, 2);
    CHECK_CONTAINS(r.err, "give neither --session-id nor --access-token");
    ts_result_free(&r);
    ts_run(env, NULL, "{\"session_id\":\"s\"}", &r, "session", "set", "--user", "8",
           "--access-token", "t", "--stdin", (const char *)NULL);
    CHECK_EQ_INT(r.status, 2);
    ts_result_free(&r);
    ts_run(env, NULL, "{\"session_id\":\"s\"}", &r, "session", "rm", "--user", "8",
           "--stdin", (const char *)NULL);
    CHECK_EQ_INT(r.status, 2);
    CHECK_CONTAINS(r.err, "--stdin goes with session set");
    ts_result_free(&r);
    ts_run(env, NULL, NULL, &r, "session", "set", "--user", "8", (const char *)NULL);
    CHECK_EQ_INT(r.status, 2);
    CHECK_CONTAINS(r.err, "session set needs --stdin or --session-id S");
    ts_result_free(&r);

    CHECK_EQ_INT(ts_sql_long(env, "SELECT count(*) FROM tmdb_user_credentials WHERE "
                                  "tmdb_user_id = 8"),
                 0);
}

int main(void)
{
    struct ts_env env;
    int rc;

    rc = ts_setup(&env, "cli_session_stdin");
    if (rc != 0)
        goto out;
    check_set(&env);
    check_revives(&env);
    check_refused(&env);
    rc = check_exit();
out:
    ts_teardown(&env);
    return rc;
}
