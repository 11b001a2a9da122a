/*
 * support: the harness of the integration tests that drive the `tmdbq` command.
 *
 * Each test gets a database and an AMQP prefix of its own (tmdbq_t_<name>_<pid>), so
 * tests run in parallel against one PostgreSQL and one RabbitMQ, and runs the real binary
 * (TMDBQ_BIN) as a child process, the way an operator or a script would. Output is
 * captured through unlinked temporary files rather than pipes, so a child that writes a
 * lot while its stdin is still being fed can never deadlock against the test.
 *
 * Missing services: a test skips (77) when run by hand, but under CI (the CI variable is
 * set) a missing PostgreSQL or RabbitMQ is a failure, never a silent skip.
 */
#ifndef TMDBQ_TEST_SUPPORT_H
#define TMDBQ_TEST_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct mq;

struct ts_env {
    char name[64];    /* the test's name, [a-z0-9_] */
    char db_name[96]; /* tmdbq_t_<name>_<pid> */
    char db_url[256]; /* libpq connection string of that database */
    char prefix[96];  /* AMQP prefix, the same text as db_name */
    char admin_url[256];
    char amqp_url[256];
    bool created;  /* the database exists and teardown must drop it */
    struct mq *mq; /* opened on first use by ts_queue_depth; closed by teardown */
};

/* ts_setup_ex flags. */
enum { TS_NO_MIGRATE = 1 };

/* Create a fresh database and prefix for test_name (lowercase letters, digits, '_', at
 * most 32 characters), check that RabbitMQ answers on its port, and run `tmdbq migrate`
 * in the new database. Returns 0 when ready; 77 (ctest's skip code) when a service is
 * unreachable and CI is not set, after printing "skipped: ..."; 1 for any other failure
 * (or a missing service under CI), after printing why. Call ts_teardown in every case. */
int ts_setup(struct ts_env *env, const char *test_name);

/* ts_setup with flags: TS_NO_MIGRATE leaves the database empty. */
int ts_setup_ex(struct ts_env *env, const char *test_name, int flags);

/* Drop the database (WITH (FORCE)) and delete the prefix's queues and exchanges. With
 * TMDBQ_TEST_KEEP set, keeps both and prints their names instead (for a post-mortem). */
void ts_teardown(struct ts_env *env);

struct ts_result {
    int status; /* exit status; 128+signal when killed; -1 when it could not run */
    char *out;  /* all of stdout, NUL-terminated, never NULL after ts_run */
    char *err;  /* all of stderr, likewise */
};

/* Run TMDBQ_BIN with the arguments that follow r (NULL-terminated) and wait for it.
 * Its environment is the test's, plus TMDBQ_DATABASE_URL=env->db_url and
 * TMDBQ_AMQP_PREFIX=env->prefix, then extra_env on top ("K=V" sets, a bare "K" unsets;
 * NULL-terminated; may be NULL). stdin_text (may be NULL: empty stdin) is its standard
 * input. Blocks at most 60 s: then the child is killed (status 128+9). Returns r->status;
 * the caller frees r with ts_result_free. */
int ts_run(const struct ts_env *env, const char *const *extra_env, const char *stdin_text,
           struct ts_result *r, ...);

/* ts_run with the arguments as an array (NULL-terminated), for table-driven tests. */
int ts_runv(const struct ts_env *env, const char *const *extra_env,
            const char *stdin_text, struct ts_result *r, const char *const *args);

/* Run n copies of the same command (arguments as for ts_run, NULL-terminated) released at
 * the same moment: all n are forked and wait on a shared gate, which opens once the last
 * is ready. results is the caller's array of n. Returns 0 when every child could be
 * started, -1 otherwise. */
int ts_run_many(const struct ts_env *env, const char *const *extra_env, size_t n,
                struct ts_result *results, ...);

/* Free the captured output; accepts NULL and a zeroed result. */
void ts_result_free(struct ts_result *r);

/* Print a run's status and output to stderr (for a failed check's context). */
void ts_result_dump(const char *what, const struct ts_result *r);

/* First column of the first row of sql in the test database, as a malloc'd string the
 * caller frees; NULL for SQL NULL, no row or an error (an error is printed). */
char *ts_sql_value(const struct ts_env *env, const char *sql);

/* ts_sql_value as a number; -1 for NULL, no row, an error or a non-integer. */
long ts_sql_long(const struct ts_env *env, const char *sql);

/* Run a statement that returns nothing (UPDATE, INSERT); 0 ok, -1 after printing why. */
int ts_sql_exec(const struct ts_env *env, const char *sql);

/* Depth (ready messages) of queue <prefix>.<suffix>, e.g. "work". The broker counts
 * asynchronously, so this polls until the depth equals want or within_ms passed, and
 * returns the last depth seen; -1 when the queue cannot be inspected. */
long ts_queue_depth(struct ts_env *env, const char *suffix, long want, long within_ms);

/* Parse text as one JSON value; a new reference, or NULL after printing why (with the
 * text). */
json_t *ts_json_parse(const char *text);

/* Parse every non-empty line of text as JSON into a new array; NULL when a line is not
 * JSON (printed). */
json_t *ts_json_lines(const char *text);

/* obj[key] as a string, borrowed from obj (lives as long as obj); NULL when obj is not an
 * object or the member is missing or not a string. */
const char *ts_json_str(const json_t *obj, const char *key);

/* obj[key] as an integer; fallback when missing or not an integer. */
long long ts_json_int(const json_t *obj, const char *key, long long fallback);

/* obj[key] as a boolean: 1 true, 0 false, -1 missing or not a boolean. */
int ts_json_bool(const json_t *obj, const char *key);

/* Whether obj[key] exists and is JSON null. */
bool ts_json_is_null(const json_t *obj, const char *key);

/* Whether obj[key] equals the JSON value written in expected_text (object members
 * compare regardless of order). Prints both sides when they differ. */
bool ts_json_member_equals(const json_t *obj, const char *key, const char *expected_text);

/* Write text to a new temporary file; its path goes to path (size n). 0 ok, -1 on error.
 * The caller unlinks it. */
int ts_write_temp(const char *text, char *path, size_t n);

#endif
