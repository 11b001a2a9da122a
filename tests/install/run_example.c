/*
 * run_example: runs examples/enqueue_and_show (the binary named by argv[1]) against the
 * real PostgreSQL and RabbitMQ, in a database and AMQP prefix of its own, and checks what
 * an application developer is promised: the three operations are stored and published,
 * the output shows them, the counts and the first one; a second run finds the duplicate;
 * a failure comes out as the tmdbq exit status (2 bad input or configuration, 1 service).
 *
 * The same driver serves the example built by the project (ctest examples.*) and the one
 * built from an installed tree with pkg-config only (tests/install/install_test.sh).
 *
 *   run_example BINARY TEST_NAME
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "support.h"

/* The example's run: its exit status, stdout and stderr (malloc'd). */
struct run {
    int status;
    char *out;
    char *err;
};

/* The whole file, malloc'd and NUL-terminated; "" when it cannot be read. */
static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0;
    long size = -1;

    if (f == NULL)
        return strdup("");
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (size >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)size + 1);
        if (buf != NULL)
            len = fread(buf, 1, (size_t)size, f);
    }
    fclose(f);
    if (buf == NULL)
        return strdup("");
    buf[len] = '\0';
    return buf;
}

/* Run bin with one argument (may be NULL) and the test's database and prefix, then
 * extra (one "K=V" or NULL) on top. Bounded: 60 s, then it is killed. */
static void run_example(struct ts_env *env, const char *bin, const char *arg,
                        const char *extra, struct run *r)
{
    static int n;
    char e_db[320], e_prefix[128], e_amqp[300], label[32];
    /* The default retry policy, which ts_teardown deletes the queues of, whatever the
     * environment of the test says. */
    const char *set_env[] = {e_db,
                             e_prefix,
                             e_amqp,
                             "TMDBQ_MAX_RETRIES=5",
                             "TMDBQ_BACKOFF_BASE=30s",
                             "TMDBQ_BACKOFF_CAP=1h",
                             "TMDBQ_CONNECT_TIMEOUT=3s",
                             extra,
                             NULL};
    const char *argv[] = {bin, arg, NULL};
    struct ts_proc p;

    snprintf(e_db, sizeof e_db, "TMDBQ_DATABASE_URL=%s", env->db_url);
    snprintf(e_prefix, sizeof e_prefix, "TMDBQ_AMQP_PREFIX=%s", env->prefix);
    snprintf(e_amqp, sizeof e_amqp, "TMDBQ_AMQP_URL=%s", env->amqp_url);
    snprintf(label, sizeof label, "example%d", ++n);
    r->status = -1;
    r->out = NULL;
    r->err = NULL;
    if (ts_proc_start(env, bin, argv, set_env, label, &p) != 0) {
        r->out = strdup("");
        r->err = strdup("");
        return;
    }
    r->status = ts_proc_wait(&p, 60000);
    if (r->status < 0)
        r->status = ts_proc_stop(&p, 1000);
    r->out = read_file(p.out_path);
    r->err = ts_proc_stderr(&p);
    if (r->status != 0)
        fprintf(stderr, "run_example: %s %s exited %d\n--- stdout\n%s--- stderr\n%s---\n",
                bin, arg ? arg : "", r->status, r->out, r->err);
}

static void run_free(struct run *r)
{
    free(r->out);
    free(r->err);
}

static int count_lines_with(const char *text, const char *needle)
{
    int n = 0;
    const char *p = text;

    while ((p = strstr(p, needle)) != NULL) {
        n++;
        p += strlen(needle);
    }
    return n;
}

int main(int argc, char **argv)
{
    struct ts_env env;
    struct run r = {0, NULL, NULL};
    char e_dead[128], sql[256], *first_id = NULL;
    int port, rc;

    if (argc != 3) {
        fprintf(stderr, "usage: run_example BINARY TEST_NAME\n");
        return 2;
    }
    rc = ts_setup(&env, argv[2]);
    if (rc != 0) {
        ts_teardown(&env);
        return rc;
    }

    /* A first run: three new operations, stored, published, shown. */
    run_example(&env, argv[1], "42", NULL, &r);
    CHECK_EQ_INT(r.status, 0);
    CHECK_EQ_INT(count_lines_with(r.out, "enqueued "), 3);
    CHECK_EQ_INT(count_lines_with(r.out, "(duplicate)"), 0);
    CHECK_CONTAINS(r.out, " create_list pending\n");
    CHECK_CONTAINS(r.out, "stats: pending 3, processing 0, completed 0, failed 0, "
                          "cancelled 0, total 3\n");
    CHECK_CONTAINS(r.out, "type:           create_list\n");
    CHECK_CONTAINS(r.out, "user:           42\n");
    CHECK(strstr(r.err, "warning") == NULL);
    run_free(&r);
    CHECK_EQ_INT(ts_sql_long(&env, "SELECT count(*) FROM queued_list_operations "
                                   "WHERE status = 'pending' AND tmdb_user_id = 42"),
                 3);
    /* The one shown is the create_list, the first enqueued. */
    first_id = ts_sql_value(&env, "SELECT id FROM queued_list_operations "
                                  "WHERE operation_type = 'create_list'");
    CHECK(first_id != NULL);
    /* Every id went to the broker with a confirm (the consumers keep the per-list order
     * when they claim). */
    CHECK_EQ_INT(ts_count_published(&env, "pending"), 3);
    CHECK_EQ_INT(ts_queue_depth(&env, "work", 3, 10000), 3);

    /* A second run: the create_list is a duplicate of the pending one; the add_movie are
     * not, since each is not the latest pending operation on list 7 when it comes. */
    run_example(&env, argv[1], "42", NULL, &r);
    CHECK_EQ_INT(r.status, 0);
    CHECK_EQ_INT(count_lines_with(r.out, " create_list pending (duplicate)\n"), 1);
    CHECK_EQ_INT(count_lines_with(r.out, "(duplicate)"), 1);
    if (first_id != NULL) {
        snprintf(sql, sizeof sql, "operation %s:\n", first_id);
        CHECK_CONTAINS(r.out, sql);
    }
    CHECK_CONTAINS(r.out, "stats: pending 5, processing 0, completed 0, failed 0, "
                          "cancelled 0, total 5\n");
    run_free(&r);

    /* Errors come out as the exit status, with a message on stderr and nothing enqueued.
     */
    run_example(&env, argv[1], "not-a-user", NULL, &r);
    CHECK_EQ_INT(r.status, 2);
    CHECK_CONTAINS(r.err, "usage: ");
    run_free(&r);

    run_example(&env, argv[1], "42", "TMDBQ_CONNECT_TIMEOUT=soon", &r);
    CHECK_EQ_INT(r.status, 2);
    CHECK_CONTAINS(r.err, "TMDBQ_CONNECT_TIMEOUT");
    CHECK_STR_EQ(r.out, "");
    run_free(&r);

    port = ts_free_port();
    CHECK(port > 0);
    snprintf(e_dead, sizeof e_dead,
             "TMDBQ_DATABASE_URL=postgresql://tmdbq:tmdbq@127.0.0.1:%d/nowhere", port);
    run_example(&env, argv[1], "42", e_dead, &r);
    CHECK_EQ_INT(r.status, 1);
    CHECK_CONTAINS(r.err, "could not open the queue");
    CHECK(strstr(r.err, ":tmdbq@") == NULL); /* no password in the message */
    CHECK_STR_EQ(r.out, "");
    run_free(&r);

    CHECK_EQ_INT(ts_sql_long(&env, "SELECT count(*) FROM queued_list_operations"), 5);

    free(first_id);
    ts_teardown(&env);
    return check_exit();
}
