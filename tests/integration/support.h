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
#include <libpq-fe.h>

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
    /* Retry policy passed to every child (TMDBQ_MAX_RETRIES, TMDBQ_BACKOFF_BASE,
     * TMDBQ_BACKOFF_CAP) once ts_set_policy set it; teardown deletes its retry queues. */
    bool has_policy;
    int max_retries;
    long long backoff_base_ms;
    long long backoff_cap_ms;
    char work_dir[256]; /* logs of background processes; "" until ts_work_dir made it */
    int nprocs;         /* background processes started, for their labels */
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

/* Stop (SIGKILL) every background process still running (ts_proc_start and what uses
 * it), drop the database (WITH (FORCE)) and delete the prefix's queues and exchanges, and
 * remove the work directory. With TMDBQ_TEST_KEEP set, keeps the database, queues and
 * work directory and prints their names instead (for a post-mortem). */
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

/* A libpq connection to conninfo (a URL or key=value string), its connect bounded by
 * connect_timeout_s (a server may be unreachable or restarting), NOTICEs silenced. The
 * caller checks PQstatus and calls PQfinish in every case. */
PGconn *ts_pg_connect(const char *conninfo, int connect_timeout_s);

/* Run sql in the test database, connecting as ts_pg_connect does: the result when it
 * succeeded, else NULL (printed). *conn gets the connection, which the caller closes
 * with PQfinish in every case (after PQclear of the result). The ts_sql_* helpers above
 * use it with a 5 s connect; it is for callers that read more than one value. */
PGresult *ts_sql_query(const struct ts_env *env, const char *sql, int connect_timeout_s,
                       PGconn **conn);

/* ts_sql_long without printing anything and with a 2 s connect, for polling a database
 * whose server may be restarting: -1 on any error. */
long ts_sql_long_quiet(const struct ts_env *env, const char *sql);

/* A connection of the test's own that holds list's advisory lock, the one every claim
 * and finish of the list takes (migration 008), so a worker's tmdbq_finish_claim that
 * touches the list waits inside its statement; NULL printed. PQfinish releases it. */
PGconn *ts_hold_list_lock(const struct ts_env *env, long list);

/* Poll (every 10 ms, at most within_ms) until a tmdbq_finish_claim statement waits on a
 * lock; returns how many do (0 when none did in time, -1 on error). */
long ts_wait_finish_claim_blocked(const struct ts_env *env, long within_ms);

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

/* ==== consumer tests: background processes, the fake TMDB, private services ==========
 *
 * Everything here is bounded in time and stopped by its PID or node name at the end: a
 * process still running at exit (or at ts_teardown) is killed by an atexit handler, and a
 * private PostgreSQL or RabbitMQ is stopped the same way, so a failed check never leaves
 * anything behind. Long-running children also die with the test (PR_SET_PDEATHSIG). */

/* Pass this retry policy to every child from now on (ts_run, consumers): max_retries,
 * base and cap in ms. Teardown then also deletes the retry queues of this policy. */
void ts_set_policy(struct ts_env *env, int max_retries, long long base_ms,
                   long long cap_ms);

/* The test's work directory (made on first call, mode 0755, under TMPDIR): logs of
 * background processes live there. NULL when it cannot be made (printed). */
const char *ts_work_dir(struct ts_env *env);

/* Milliseconds on the monotonic clock, and a sleep; for polling loops. */
long long ts_now_ms(void);
void ts_sleep_ms(long ms);

/* A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0 and released);
 * -1 on error. */
int ts_free_port(void);

struct ts_proc {
    long pid;           /* -1 when not started or already reaped */
    int status;         /* once reaped: exit status, 128+signal when killed; else -1 */
    char label[48];     /* e.g. "c1", used in file names and messages */
    char out_path[320]; /* its stdout and stderr, kept until teardown */
    char err_path[320];
};

/* Start bin with argv (argv[0] included, NULL-terminated) in the background; stdout and
 * stderr go to <work_dir>/<label>.out and .err. Its environment is the test's, then
 * set_env on top ("K=V" sets, a bare "K" unsets; NULL-terminated; may be NULL). The child
 * dies when the test does. 0 when started, -1 after printing why. */
int ts_proc_start(struct ts_env *env, const char *bin, const char *const *argv,
                  const char *const *set_env, const char *label, struct ts_proc *p);

/* Send sig to the process; 0 ok, -1 when it is not running. */
int ts_proc_signal(const struct ts_proc *p, int sig);

/* Whether it is still running (reaps it and sets p->status when it has exited). */
bool ts_proc_running(struct ts_proc *p);

/* Wait up to within_ms for it to exit; returns p->status, or -1 when it is still running
 * (it is left running). */
int ts_proc_wait(struct ts_proc *p, long within_ms);

/* SIGTERM, wait up to within_ms, then SIGKILL; returns p->status (-1 if never started).
 */
int ts_proc_stop(struct ts_proc *p, long within_ms);

/* Its stderr so far, malloc'd, NUL-terminated, never NULL; the caller frees. */
char *ts_proc_stderr(const struct ts_proc *p);

/* Print its label, status and the last tail_bytes of its stderr to our stderr. */
void ts_proc_dump(const struct ts_proc *p, size_t tail_bytes);

/* Start bin (a tmdbq-http, which the test's build names) labelled label, as
 * ts_proc_start does, with the test's database, prefix and broker (TMDBQ_DATABASE_URL,
 * TMDBQ_AMQP_PREFIX, TMDBQ_AMQP_URL) and TMDBQ_HTTP_LISTEN=127.0.0.1:0, then extra_env
 * on top (may be NULL); its arguments are "--port-file <work dir>/<label>.port" and then
 * args (NULL-terminated, may be NULL). Waits at most 10 s for the port it writes there.
 * Returns the port, or -1 after printing why (and the end of its stderr). */
int ts_http_start(struct ts_env *env, const char *bin, const char *label,
                  const char *const *args, const char *const *extra_env,
                  struct ts_proc *p);

/* A curl write (or header) callback: appends the data to the malloc'd, NUL-terminated
 * string *(char **)arg (NULL to start one), which the caller frees. Returns 0 (curl then
 * fails the transfer) when out of memory. */
size_t ts_curl_append(char *data, size_t size, size_t n, void *arg);

/* ---- the fake TMDB (tests/fake_tmdb, FAKE_TMDB_BIN) ---- */

struct ts_fake {
    struct ts_proc proc;
    int port;
    char url[64];        /* http://127.0.0.1:PORT, for TMDB_API_URL */
    char api_key[64];    /* what it accepts as ?api_key= */
    char read_token[64]; /* what it accepts as application Bearer */
};

/* Start a fake on a free port with this api key and read token (NULL: the fake's
 * defaults), wait until it answers /__control/health (bounded: 10 s). 0 ok, -1 after
 * printing why. Stopped by ts_fake_stop, or by teardown / exit. */
int ts_fake_start(struct ts_env *env, struct ts_fake *f, const char *api_key,
                  const char *read_token);
void ts_fake_stop(struct ts_fake *f);

/* One request to the fake (control API or TMDB): returns the HTTP status, -1 when there
 * was no answer (printed). *body (may be NULL) gets the answer, malloc'd; the caller
 * frees. json_body may be NULL (no body). */
int ts_fake_call(const struct ts_fake *f, const char *method, const char *path,
                 const char *json_body, char **body);

/* Set a user's credentials on the fake (access_token may be NULL). 0 ok, -1 printed. */
int ts_fake_user(const struct ts_fake *f, long user_id, const char *session_id,
                 const char *access_token);

/* Create (or replace) list id (> 0) owned by owner with these items (may be 0 of them).
 * 0 ok, -1 printed. */
int ts_fake_list(const struct ts_fake *f, long id, long owner, const long *items,
                 size_t nitems);

/* Merge this JSON object into the fake's faults ("{}" clears them). 0 ok, -1 printed. */
int ts_fake_faults(const struct ts_fake *f, const char *json);

/* The items of list id into items[0..max), in the fake's order; returns their number
 * (which may exceed max), -2 when the list does not exist, -1 on error (printed). */
long ts_fake_list_items(const struct ts_fake *f, long id, long *items, size_t max);

/* Every TMDB request the fake recorded (a new JSON array, oldest first); NULL printed. */
json_t *ts_fake_requests(const struct ts_fake *f);

/* Number of records in reqs with this method and exact path. */
long ts_fake_count(const json_t *reqs, const char *method, const char *path);

/* The t_ms of the records with this method and exact path, oldest first, into
 * t[0..max); returns how many there are (which may exceed max). */
size_t ts_fake_times(const json_t *reqs, const char *method, const char *path,
                     long long *t, size_t max);

/* The write key of a recorded request ("POST /3/list/7/add_item 550",
 * "POST /3/list name=N", "PUT /4/list/7", "DELETE /3/list/7"); "" for a GET. */
void ts_fake_request_key(const json_t *rec, char *key, size_t n);

/* The write key an operation (a row as `tmdbq show --json` prints it) should produce. */
void ts_op_key(const json_t *op, char *key, size_t n);

/* Compare the writes the fake saw with the operations (one write each): *missing gets
 * the operations without their write, *extra the writes beyond one per operation (those
 * that match no operation included). Prints each missing or extra key, up to a few.
 * 0 ok, -1 on bad input. */
/* The requests of reqs (ts_fake_requests) that TMDB applied: those answered with a 2xx.
 * An injected failure is an attempt, not a write. A new array (borrowing the records). */
json_t *ts_fake_applied(const json_t *reqs);

int ts_fake_compare_writes(const json_t *reqs, const json_t *ops, long *missing,
                           long *extra);

/* ---- operations and consumers ---- */

/* Append printf-formatted text to the malloc'd string *buf (NULL to start one); aborts
 * when out of memory. The caller frees *buf. */
void ts_appendf(char **buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The start of a test with consumers: ts_setup(env, test_name), then the retry policy
 * (ts_set_policy: max_retries, base_ms, cap_ms), then a fake TMDB with its defaults
 * (ts_fake_start into f). Returns 0 when ready; else, after ts_teardown, what the test
 * exits with: 77 or 1 as ts_setup says, 1 when the fake did not start (printed). */
int ts_setup_with_fake(struct ts_env *env, struct ts_fake *f, const char *test_name,
                       int max_retries, long long base_ms, long long cap_ms);

struct ts_pg;
/* ts_setup_with_fake in a PostgreSQL cluster of the test's own: ts_pg_start(pg) first
 * (pg and env are zeroed here), and the test's database made in it. Returns 0 when
 * ready; else, everything released (ts_pg_destroy included), what the test exits with. */
int ts_setup_on_pg(struct ts_env *env, struct ts_fake *f, struct ts_pg *pg,
                   const char *test_name, int max_retries, long long base_ms,
                   long long cap_ms);

/* Give user_id these credentials both on the fake and in the test database (`tmdbq
 * session set`); access_token may be NULL. 0 ok, -1 printed. */
int ts_user(struct ts_env *env, const struct ts_fake *f, long user_id,
            const char *session_id, const char *access_token);

/* `tmdbq enqueue --file - --json` with these JSON lines; the operations go to *ops (a
 * new array, in line order) when ops is not NULL. Returns how many were enqueued as new
 * operations, -1 when the command failed or a line was refused or a duplicate (printed).
 */
long ts_enqueue_lines(struct ts_env *env, const char *lines, json_t **ops);

/* Publish these strings to the work exchange of the test's prefix as operation ids
 * (mq_publish_work; garbage is allowed, to test the dead-letter path), through env->mq.
 * 0 when the broker confirmed all, -1 printed. */
int ts_publish_ids(struct ts_env *env, const char *const *ids, size_t n);

/* Start one tmdbq-consumer (TMDBQ_CONSUMER_BIN) for the test's database, prefix, broker
 * (env->amqp_url) and policy, pointed at fake f (TMDB_API_URL, TMDB_API_KEY), with
 * TMDBQ_LEASE=3s, TMDBQ_TMDB_TIMEOUT=1s, TMDBQ_CONNECT_TIMEOUT=2s and
 * TMDBQ_LOG_LEVEL=debug, then extra_env on top (may be NULL); args
 * (NULL-terminated, may be NULL) follow "--id <label>". 0 ok, -1 printed. */
int ts_consumer_start(struct ts_env *env, const struct ts_fake *f,
                      const char *const *extra_env, const char *const *args,
                      struct ts_proc *p);

/* Rows of the test database with this status; -1 on error (quietly: the server may be
 * restarting). */
long ts_count_status(const struct ts_env *env, const char *status);

/* Poll (every 100 ms, at most within_ms) until no row is pending or processing. Returns
 * the number of such rows left: 0 when every row is final; -1 when the database could
 * not be read at the end. Connection failures while polling are tolerated (a server may
 * be restarting). */
long ts_wait_final(const struct ts_env *env, long within_ms);

/* ts_wait_final, but give up early (printed) once none of procs[0..n) runs: the
 * consumers that should do the work have exited. */
long ts_wait_final_while(const struct ts_env *env, struct ts_proc *procs, size_t n,
                         long within_ms);

/* Poll until at least n rows are completed (or within_ms passed); returns the count. */
long ts_wait_completed(const struct ts_env *env, long n, long within_ms);

/* Print a summary of the rows by status, and the rows that are not completed (at most
 * limit), to stderr. */
void ts_dump_rows(const struct ts_env *env, int limit);

/* Zero procs[0..n) and mark them not started (pid -1), so that the end of a test can
 * stop and dump them whether or not they were started. */
void ts_procs_init(struct ts_proc *procs, size_t n);

/* Start procs[0..n) as consumers, each as ts_consumer_start starts one. Returns how many
 * could not be started (each printed): 0 when all run. */
int ts_consumers_start(struct ts_env *env, const struct ts_fake *f,
                       const char *const *extra_env, const char *const *args,
                       struct ts_proc *procs, size_t n);

/* Stop procs[0..n) as ts_proc_stop does (SIGTERM, within_ms, then SIGKILL). Returns how
 * many did not exit with status 0 (each printed with its status). */
int ts_procs_stop(struct ts_proc *procs, size_t n, long within_ms);

/* The end of a test with background processes (consumers, reapers): when failed, print
 * the rows (ts_dump_rows, at most rows) and the last tail bytes of the stderr of each of
 * procs[0..n) that was started; then stop every one still running (5 s each, then
 * SIGKILL). */
void ts_procs_end(const struct ts_env *env, struct ts_proc *procs, size_t n, bool failed,
                  int rows, size_t tail);

/* ---- the adds workload of the restart, crash and cluster tests ---- */

/* nlists lists on the fake, ids first_list, first_list + 1, ..., empty and owned in
 * turn by users 1 and 2, and per_list adds to each (movies first_movie, first_movie + 1,
 * ...), enqueued round-robin over the lists so that every list is busy at once. */
struct ts_adds {
    const char *tag; /* the test's short name: sessions "sess-<tag>-<user>", and the
                        start of the lines ts_adds_check prints */
    long first_list;
    int nlists;
    int per_list;
    long first_movie;
    json_t *ops; /* the enqueued operations, in order (ts_adds_load); freed by
                    ts_adds_free */
};

/* Give the fake the two users (and the test database their sessions: ts_user) and the
 * lists, merge faults into the fake's (a JSON object, as ts_fake_faults), and enqueue
 * the adds. Returns 0 when all of it was done and every add was enqueued, else how many
 * steps failed (each printed); a test should not go on to start consumers then. */
int ts_adds_load(struct ts_env *env, const struct ts_fake *f, struct ts_adds *w,
                 const char *faults);

/* Once every operation is final: check that each completed, that the writes the fake
 * recorded (with applied_only, only those it answered with a 2xx: ts_fake_applied)
 * include each operation's (ts_fake_compare_writes), and that each list holds its
 * per_list movies. Prints "<tag>: duplicate TMDB writes: N; missing: M" and each failed
 * check; *extra (may be NULL) gets the duplicates, -1 when unknown. Returns how many
 * checks failed: 0 when all held. */
int ts_adds_check(const struct ts_env *env, const struct ts_fake *f,
                  const struct ts_adds *w, bool applied_only, long *extra);

/* Release what ts_adds_load kept (w->ops); accepts a workload never loaded. */
void ts_adds_free(struct ts_adds *w);

/* ---- the conflict workload of the finish-claim and stale-statistics tests ---- */

/* nlists lists on the fake, ids first_list, first_list + 1, ..., empty and owned in
 * turn by users 1 and 2 (the test gives them sessions), and per_list operations on each,
 * round-robin over the lists: first an add, a remove and an add of conflict_movie (they
 * conflict, so their order counts), then adds of first_movie + 3, first_movie + 4, ... */
struct ts_conflict {
    long first_list;
    int nlists;
    int per_list;
    long conflict_movie;
    long first_movie;
};

/* Make the lists on the fake and append the operations' lines (for ts_enqueue_lines)
 * to *lines. Returns how many lists the fake refused (0: all made). */
int ts_conflict_load(const struct ts_fake *f, const struct ts_conflict *w, char **lines);

/* Whether every list holds what the enqueue order gives: its per_list - 3 distinct adds
 * and conflict_movie (add, remove, add). Returns how many lists do not (each printed). */
int ts_conflict_check(const struct ts_fake *f, const struct ts_conflict *w);

/* ---- private services, for the restart tests ---- */

/* A PostgreSQL cluster of the test's own (initdb with trust auth and superuser tmdbq,
 * listening on 127.0.0.1:port only, socket in its directory). Run as the postgres user
 * when we are root. */
struct ts_pg {
    char dir[256]; /* temporary directory: data/, log, socket */
    int port;
    char admin_url[256]; /* postgresql://tmdbq@127.0.0.1:PORT/postgres */
    bool running;
    int watchdog_fd; /* see ts_pg_start */
};

/* initdb (first call only) and start; 0 ok, 77 initdb/pg_ctl missing and CI not set
 * ("skipped" printed), 1 failure (printed). Bounded: 60 s. The first call also starts a
 * detached watchdog process that stops the cluster and removes its directory if this
 * process dies without ts_pg_destroy (killed by ctest's timeout, a crash). */
int ts_pg_start(struct ts_pg *pg);
/* pg_ctl stop with mode "fast" or "immediate"; 0 ok, -1 printed. */
int ts_pg_stop(struct ts_pg *pg, const char *mode);
/* Stop it if running and remove its directory (kept with TMDBQ_TEST_KEEP). */
void ts_pg_destroy(struct ts_pg *pg);

/* A RabbitMQ node of the test's own: node tmdbqt<pid>@localhost on 127.0.0.1:port, its
 * own mnesia, logs, plugins (none) and config. Run as the rabbitmq user when root. */
struct ts_rabbit {
    char dir[256];
    char node[64];
    int port;
    int dist_port;
    char url[128]; /* amqp://guest:guest@127.0.0.1:PORT/%2f */
    bool running;
    int watchdog_fd; /* see ts_rabbit_start */
};

/* Start (fresh on the first call, the same data and ports after) and wait until it runs
 * and accepts AMQP connections; 0 ok, 77 missing rabbitmq-server outside CI, 1 failure
 * (printed). Bounded: 90 s. Like ts_pg_start, the first call starts a watchdog that stops
 * the node if this process dies without ts_rabbit_destroy. */
int ts_rabbit_start(struct ts_rabbit *rb);
/* rabbitmqctl stop (bounded: 60 s, then the node's OS process is killed). 0 ok. */
int ts_rabbit_stop(struct ts_rabbit *rb);
/* Stop it if running and remove its directory (kept with TMDBQ_TEST_KEEP). */
void ts_rabbit_destroy(struct ts_rabbit *rb);

/* rabbitmqctl -n <node> args... (NULL-terminated) as the node's user, bounded; its
 * output into out (may be NULL). 0 ok, -1 (printed). */
int ts_rabbit_ctl(const struct ts_rabbit *rb, const char *const *args, char *out,
                  size_t n);

/* Start n private nodes (zeroed structs) and join nodes 1..n-1 to node 0's cluster; urls
 * gets their AMQP URLs separated by commas, as TMDBQ_AMQP_URL takes them. 0 ok, else as
 * ts_rabbit_start. Destroy every node in every case. */
int ts_rabbit_cluster_start(struct ts_rabbit *nodes, int n, char *urls, size_t urls_n);

/* A streaming standby of primary (pg_basebackup -R, asynchronous replication) on a port
 * of its own, started. 0 ok, else as ts_pg_start; destroy it in every case. */
int ts_pg_standby_start(const struct ts_pg *primary, struct ts_pg *standby);
/* pg_ctl promote: the standby becomes a primary. 0 ok, -1 printed. */
int ts_pg_promote(struct ts_pg *pg);

/* ---- reaper tests (tmdbq-reaper) ---- */

/* Path of the tmdbq-reaper binary: TMDBQ_REAPER_BIN when the build defines it, else next
 * to the consumer's build directory (<build>/reaper/tmdbq-reaper). */
const char *ts_reaper_bin(void);

/* Start one tmdbq-reaper for the test's database, prefix, broker (env->amqp_url) and
 * policy, with TMDBQ_SWEEP_INTERVAL=1s, TMDBQ_CONNECT_TIMEOUT=2s and
 * TMDBQ_LOG_LEVEL=debug, then extra_env on top (may be NULL); args (NULL-terminated, may
 * be NULL) follow the program name. Label "r<n>". 0 ok, -1 printed. */
int ts_reaper_start(struct ts_env *env, const char *const *extra_env,
                    const char *const *args, struct ts_proc *p);

/* Run `tmdbq-reaper --once` as ts_reaper_start would start it and wait for it (at most
 * 60 s, then it is killed). Returns its exit status (-1 when it could not start); *err
 * (may be NULL) gets its stderr, malloc'd, which the caller frees. */
int ts_reaper_once(struct ts_env *env, const char *const *extra_env, char **err);

/* Rows of the test database marked published (published_at set) among those with this
 * status; -1 on error. */
long ts_count_published(const struct ts_env *env, const char *status);

/* ts_enqueue_lines with extra_env for the `tmdbq enqueue` run (e.g. a TMDBQ_AMQP_URL
 * nobody listens on, to enqueue while the broker is "down"). */
long ts_enqueue_lines_env(struct ts_env *env, const char *const *extra_env,
                          const char *lines, json_t **ops);

/* "TMDBQ_AMQP_URL=amqp://guest:guest@127.0.0.1:PORT/%2f" with a port nobody listens on,
 * into buf (size n). 0 ok, -1 when no free port was found. */
int ts_dead_amqp_env(char *buf, size_t n);

/* How many sweeps a reaper has logged so far ("sweep: " lines in its stderr). */
long ts_reaper_sweeps(const struct ts_proc *p);

/* Poll (every 50 ms, at most within_ms) until the reaper has logged at least n sweeps;
 * returns the count seen last. */
long ts_reaper_wait_sweeps(const struct ts_proc *p, long n, long within_ms);

#endif
