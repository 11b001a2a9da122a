/*
 * test_cli_refuse: what the command line must refuse, with exit 2, a message that names
 * the flag, and nothing written.
 *
 * A flag given twice; a flag and --data that disagree on a field (which of them was meant
 * is not ours to guess; the same value in both is fine); numbers with spaces or a sign;
 * control characters in a name or a description (a description keeps tab and line
 * breaks); a session id or access token with a space or a control character. The rules
 * live in libtmdbq (codec for operations, tmdbq_session_set for credentials), so the
 * HTTP server gets them too: the last part calls the library directly.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "support.h"
#include "tmdbq.h"

#define MAX_ARGS 16

struct refused {
    const char *what;
    const char *args[MAX_ARGS];
    const char *says[2]; /* what stderr must contain (the flag's name) */
};

static const struct refused refused[] = {
    /* Repeated flags (refused before this test was written: it keeps them so). */
    {"--movie twice",
     {"enqueue", "add_movie", "--user", "1", "--list", "2", "--movie", "3", "--movie",
      "4"},
     {"--movie given twice"}},
    {"--name twice, once with =",
     {"enqueue", "create_list", "--user", "1", "--name", "a", "--name=b"},
     {"--name given twice"}},
    {"--session-id twice",
     {"session", "set", "--user", "5", "--session-id", "a", "--session-id", "b"},
     {"--session-id given twice"}},

    /* A flag and --data disagree. */
    {"--movie and another movie_id in --data",
     {"enqueue", "add_movie", "--user", "1", "--list", "2", "--movie", "550", "--data",
      "{\"movie_id\":551}"},
     {"\"movie\" (550) and \"movie_id\" in \"data\" (551) differ"}},
    {"--movie and a movie_id of another type in --data",
     {"enqueue", "remove_movie", "--user", "1", "--list", "2", "--movie", "550", "--data",
      "{\"movie_id\":\"550\"}"},
     {"\"movie\" and \"movie_id\" in \"data\" differ"}},
    {"--name and another name in --data",
     {"enqueue", "create_list", "--user", "1", "--name", "new", "--data",
      "{\"name\":\"old\"}"},
     {"\"name\" and \"name\" in \"data\" differ"}},
    {"--description and another description in --data",
     {"enqueue", "update_list", "--user", "1", "--list", "2", "--description", "a",
      "--data", "{\"description\":\"b\"}"},
     {"\"description\" and \"description\" in \"data\" differ"}},
    {"--public and another public in --data",
     {"enqueue", "update_list", "--user", "1", "--list", "2", "--public", "true",
      "--data", "{\"public\":false}"},
     {"\"public\" and \"public\" in \"data\" differ"}},

    /* Numbers: digits only. */
    {"--user with a leading space",
     {"enqueue", "delete_list", "--user", " 5", "--list", "2"},
     {"--user", "not an integer"}},
    {"--user with a trailing space",
     {"enqueue", "delete_list", "--user", "5 ", "--list", "2"},
     {"--user", "not an integer"}},
    {"--user with a plus sign",
     {"enqueue", "delete_list", "--user", "+5", "--list", "2"},
     {"--user", "not an integer"}},
    {"--list with a leading tab",
     {"enqueue", "delete_list", "--user", "5", "--list", "\t2"},
     {"--list", "not an integer"}},
    {"--movie with a leading newline",
     {"enqueue", "add_movie", "--user", "5", "--list", "2", "--movie", "\n550"},
     {"--movie", "not an integer"}},
    {"--limit with a leading space", {"failed", "--limit", " 5"}, {"--limit"}},
    {"pending --user with a leading space", {"pending", "--user", " 5"}, {"--user"}},
    {"session rm --user with a leading space",
     {"session", "rm", "--user", " 5"},
     {"--user"}},

    /* Control characters in names and descriptions. */
    {"a newline in --name",
     {"enqueue", "create_list", "--user", "1", "--name", "two\nlines"},
     {"\"name\" must not contain control characters", "U+000A at character 4"}},
    {"a tab in --name",
     {"enqueue", "create_list", "--user", "1", "--name", "a\tb"},
     {"\"name\"", "U+0009"}},
    {"an escape sequence in --name",
     {"enqueue", "create_list", "--user", "1", "--name", "\x1b[31mred"},
     {"\"name\"", "U+001B at character 1"}},
    {"DEL in --name",
     {"enqueue", "update_list", "--user", "1", "--list", "2", "--name", "x\x7f"},
     {"\"name\"", "U+007F"}},
    {"a C1 control (NEL) in --name",
     {"enqueue", "create_list", "--user", "1", "--name", "caf\xc3\xa9\xc2\x85"},
     {"\"name\"", "U+0085 at character 5"}},
    {"a control character in --description",
     {"enqueue", "create_list", "--user", "1", "--name", "n", "--description",
      "bell\x07"},
     {"\"description\" must not contain control characters", "U+0007"}},
    {"a control character in --data's name",
     {"enqueue", "create_list", "--user", "1", "--data", "{\"name\":\"a\\u0001b\"}"},
     {"\"name\"", "U+0001"}},
    {"a control character in --data's description",
     {"enqueue", "update_list", "--user", "1", "--list", "3", "--data",
      "{\"description\":\"a\\u001bb\"}"},
     {"\"description\"", "U+001B"}},

    /* Credentials with spaces or control characters. */
    {"a space in --session-id",
     {"session", "set", "--user", "5", "--session-id", "abc def"},
     {"--session-id", "a space"}},
    {"a newline in --session-id",
     {"session", "set", "--user", "5", "--session-id", "abc\n"},
     {"--session-id", "a control character"}},
    {"a leading space in --session-id",
     {"session", "set", "--user", "5", "--session-id", " abc"},
     {"--session-id", "byte 1"}},
    {"a space in --access-token",
     {"session", "set", "--user", "5", "--session-id", "abc", "--access-token", "tok en"},
     {"--access-token", "a space"}},
    {"CR LF in --access-token",
     {"session", "set", "--user", "5", "--session-id", "abc", "--access-token",
      "tok\r\nX-Injected: 1"},
     {"--access-token", "a control character"}},
    {"a non-ASCII --session-id",
     {"session", "set", "--user", "5", "--session-id", "caf\xc3\xa9"},
     {"--session-id", "not ASCII"}},
};

/* Accepted: equal values in a flag and --data; a description's tab and line breaks. */
struct accepted {
    const char *what;
    const char *args[MAX_ARGS];
    const char *data; /* operation_data as stored */
};

static const struct accepted accepted[] = {
    {"--movie and the same movie_id in --data",
     {"enqueue", "add_movie", "--user", "1", "--list", "40", "--movie", "550", "--data",
      "{\"movie_id\":550}"},
     "{\"movie_id\": 550}"},
    {"--name and the same name in --data",
     {"enqueue", "create_list", "--user", "1", "--name", "same", "--data",
      "{\"name\":\"same\"}"},
     "{\"name\": \"same\"}"},
    {"a description with lines and a tab",
     {"enqueue", "update_list", "--user", "1", "--list", "41", "--description",
      "line one\nline two\r\n\tindented"},
     "{\"description\": \"line one\\nline two\\r\\n\\tindented\"}"},
    {"a plain delete_list",
     {"enqueue", "delete_list", "--user", "1", "--list", "42"},
     "{}"},
};

static void check_refused(struct ts_env *env)
{
    struct ts_result r;

    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        const struct refused *c = &refused[i];
        bool ok;

        ts_runv(env, NULL, NULL, &r, c->args);
        ok = r.status == 2;
        CHECK_EQ_INT(r.status, 2);
        for (size_t j = 0; j < 2 && c->says[j] != NULL; j++) {
            CHECK_CONTAINS(r.err, c->says[j]);
            ok = ok && strstr(r.err, c->says[j]) != NULL;
        }
        if (!ok)
            ts_result_dump(c->what, &r);
        ts_result_free(&r);
    }
    CHECK_EQ_INT(ts_sql_long(env, "SELECT count(*) FROM queued_list_operations"), 0);
    CHECK_EQ_INT(ts_sql_long(env, "SELECT count(*) FROM tmdb_user_credentials"), 0);
}

static void check_accepted(struct ts_env *env)
{
    struct ts_result r;
    char *data;

    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
        const struct accepted *c = &accepted[i];

        CHECK_EQ_INT(ts_runv(env, NULL, NULL, &r, c->args), 0);
        if (r.status != 0)
            ts_result_dump(c->what, &r);
        ts_result_free(&r);
    }
    CHECK_EQ_INT(ts_sql_long(env, "SELECT count(*) FROM queued_list_operations"), 4);
    data = ts_sql_value(env, "SELECT operation_data::text FROM queued_list_operations "
                             "WHERE tmdb_list_id = 41");
    CHECK_STR_EQ(data, accepted[2].data);
    free(data);
    /* A minus sign passes the parse and meets the range check, which names the field. */
    {
        static const char *const args[] = {"enqueue", "delete_list", "--user", "-5",
                                           "--list",  "2",           NULL};

        CHECK_EQ_INT(ts_runv(env, NULL, NULL, &r, args), 2);
        CHECK_CONTAINS(r.err, "\"user\" must be a positive integer");
        ts_result_free(&r);
    }
}

/* The same rules through libtmdbq, which tmdbq-http calls. */
static void check_library(struct ts_env *env)
{
    struct tmdbq *h = NULL;
    struct tmdbq_request req = tmdbq_request_init();
    struct tmdbq_op *op = NULL;

    CHECK_EQ_INT(tmdbq_open(env->db_url, env->amqp_url, &h), TMDBQ_OK);
    if (h == NULL)
        return;
    CHECK_EQ_INT(tmdbq_session_set(h, 6, "abc def", NULL, NULL), TMDBQ_EINVAL);
    CHECK_CONTAINS(tmdbq_errmsg(h), "session_id");
    CHECK(strstr(tmdbq_errmsg(h), "abc def") == NULL);
    CHECK_EQ_INT(tmdbq_session_set(h, 6, "abc", "line\nbreak", NULL), TMDBQ_EINVAL);
    CHECK_CONTAINS(tmdbq_errmsg(h), "access_token");
    CHECK(strstr(tmdbq_errmsg(h), "line") == NULL);

    req.type = "add_movie";
    req.user = 6;
    req.has_user = true;
    req.list = 50;
    req.has_list = true;
    req.movie = 550;
    req.has_movie = true;
    req.data_json = "{\"movie_id\":551}";
    CHECK_EQ_INT(tmdbq_enqueue(h, &req, &op), TMDBQ_EINVAL);
    CHECK_CONTAINS(tmdbq_errmsg(h), "differ");
    CHECK(op == NULL);
    tmdbq_op_free(op);

    req = tmdbq_request_init();
    req.type = "create_list";
    req.user = 6;
    req.has_user = true;
    req.name = "tab\there";
    CHECK_EQ_INT(tmdbq_enqueue(h, &req, &op), TMDBQ_EINVAL);
    CHECK_CONTAINS(tmdbq_errmsg(h), "control characters");
    tmdbq_op_free(op);
    tmdbq_close(h);
    CHECK_EQ_INT(ts_sql_long(env, "SELECT count(*) FROM tmdb_user_credentials"), 0);
    CHECK_EQ_INT(ts_sql_long(env, "SELECT count(*) FROM queued_list_operations WHERE "
                                  "tmdb_user_id = 6"),
                 0);
}

int main(void)
{
    struct ts_env env;
    int rc;

    rc = ts_setup(&env, "cli_refuse");
    if (rc != 0)
        goto out;
    check_refused(&env);
    check_accepted(&env);
    check_library(&env);
    rc = check_exit();
out:
    ts_teardown(&env);
    return rc;
}
