/*
 * test_defects_tmdb_body: issue 15, defect 1, end to end. Something answers for TMDB with
 * a 2xx that is not TMDB's answer (a captive portal's HTML page, then an empty 204): the
 * consumer must not mark the operations completed (create_list used to complete with
 * list_id null), and `tmdbq apply` must not print `applied`. Both treat it as a
 * deployment fault: the rows stay pending, error_kind deployment, no retry spent, no
 * result, and the consumer says so at ERROR.
 *
 * The impostor is a tiny HTTP server in this test that gives every request the same
 * answer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "support.h"

static const char *const portal =
    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 52\r\n"
    "Connection: close\r\n\r\n<html><body>Sign in to the hotel Wi-Fi</body></html>";
static const char *const no_content =
    "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";

struct impostor {
    int fd;
    int port;
    _Atomic(const char *) answer;
    atomic_long requests;
    atomic_bool stop;
    pthread_t thread;
};

/* Read a request's head and its Content-Length body; false when the client went away. */
static bool read_request(int fd)
{
    char buf[16384];
    size_t have = 0, want = 0;
    char *end = NULL, *cl;

    while (end == NULL) {
        struct pollfd p = {fd, POLLIN, 0};
        ssize_t n;

        if (have == sizeof buf - 1 || poll(&p, 1, 5000) <= 0)
            return false;
        n = recv(fd, buf + have, sizeof buf - 1 - have, 0);
        if (n <= 0)
            return false;
        have += (size_t)n;
        buf[have] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    /* libcurl writes the name so. */
    cl = strstr(buf, "\r\nContent-Length:");
    if (cl != NULL && cl < end)
        want = strtoul(cl + 17, NULL, 10);
    want += (size_t)(end + 4 - buf);
    while (have < want) {
        struct pollfd p = {fd, POLLIN, 0};
        ssize_t n;

        if (poll(&p, 1, 5000) <= 0)
            return false;
        n = recv(fd, buf, sizeof buf - 1 < want - have ? sizeof buf - 1 : want - have, 0);
        if (n <= 0)
            return false;
        have += (size_t)n;
    }
    return true;
}

static void *impostor_main(void *arg)
{
    struct impostor *s = arg;

    while (!atomic_load(&s->stop)) {
        struct pollfd p = {s->fd, POLLIN, 0};
        int c;

        if (poll(&p, 1, 100) <= 0)
            continue;
        c = accept(s->fd, NULL, NULL);
        if (c < 0)
            continue;
        if (read_request(c)) {
            const char *a = atomic_load(&s->answer);

            atomic_fetch_add(&s->requests, 1);
            (void)!send(c, a, strlen(a), MSG_NOSIGNAL);
        }
        close(c);
    }
    return NULL;
}

static int impostor_start(struct impostor *s)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof a;

    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(s->fd, 16) != 0 || getsockname(s->fd, (struct sockaddr *)&a, &alen) != 0) {
        perror("impostor");
        return -1;
    }
    s->port = ntohs(a.sin_port);
    atomic_store(&s->answer, portal);
    atomic_init(&s->requests, 0);
    atomic_init(&s->stop, false);
    return pthread_create(&s->thread, NULL, impostor_main, s) == 0 ? 0 : -1;
}

static void impostor_stop(struct impostor *s)
{
    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
    close(s->fd);
}

/* Poll until `rows` rows are pending with error_kind deployment; returns the last count.
 */
static long wait_deployment(struct ts_env *env, long rows, long within_ms)
{
    long long end = ts_now_ms() + within_ms;
    long n = -1;

    while (ts_now_ms() < end) {
        n = ts_sql_long(env, "SELECT count(*) FROM queued_list_operations WHERE status = "
                             "'pending' AND error_kind = 'deployment'");
        if (n == rows)
            break;
        ts_sleep_ms(100);
    }
    return n;
}

static void check_rows_waiting(struct ts_env *env, long rows)
{
    CHECK_EQ_INT(ts_count_status(env, "completed"), 0);
    CHECK_EQ_INT(ts_count_status(env, "failed"), 0);
    CHECK_EQ_INT(ts_sql_long(env, "SELECT count(*) FROM queued_list_operations WHERE "
                                  "result IS NOT NULL OR retry_count <> 0"),
                 0);
    CHECK_EQ_INT(ts_sql_long(env, "SELECT count(*) FROM queued_list_operations WHERE "
                                  "error_message LIKE '%not TMDB''s answer%'"),
                 rows);
}

int main(void)
{
    struct ts_env env;
    struct ts_fake fake;
    struct ts_proc consumer;
    struct impostor imp;
    struct ts_result r = {0};
    char api_url[96];
    const char *apply_env[] = {api_url, "TMDB_API_KEY=k", "TMDB_ACCESS_TOKEN",
                               "TMDBQ_APPLY_TIMEOUT=2s", NULL};
    json_t *j;
    char *err;
    int rc;

    rc = ts_setup(&env, "defects_tmdb_body");
    if (rc != 0) {
        ts_teardown(&env);
        return rc;
    }
    if (impostor_start(&imp) != 0) {
        ts_teardown(&env);
        return 1;
    }
    snprintf(api_url, sizeof api_url, "TMDB_API_URL=http://127.0.0.1:%d", imp.port);
    memset(&fake, 0, sizeof fake);
    snprintf(fake.url, sizeof fake.url, "http://127.0.0.1:%d", imp.port);
    snprintf(fake.api_key, sizeof fake.api_key, "k");
    ts_set_policy(&env, 5, 200, 1600);

    CHECK_EQ_INT(ts_run(&env, NULL, NULL, &r, "session", "set", "--user", "1",
                        "--session-id", "s1", "--access-token", "t1", NULL),
                 0);
    ts_result_free(&r);

    /* `tmdbq apply`: queued, not applied, and the row waits. */
    j = NULL;
    rc = ts_run(&env, apply_env, NULL, &r, "apply", "--json", "create_list", "--user",
                "1", "--name", "Portal list", NULL);
    CHECK_EQ_INT(rc, 0);
    j = ts_json_parse(r.out);
    CHECK_STR_EQ(ts_json_str(j, "outcome"), "queued");
    CHECK_STR_EQ(ts_json_str(j, "reason"), "tmdb_unavailable");
    CHECK_CONTAINS(ts_json_str(j, "error"), "not TMDB's answer: HTTP 200 to create_list");
    if (rc != 0 || ts_json_str(j, "outcome") == NULL ||
        strcmp(ts_json_str(j, "outcome"), "queued") != 0)
        ts_result_dump("tmdbq apply", &r);
    json_decref(j);
    ts_result_free(&r);
    CHECK_EQ_INT(ts_sql_long(&env, "SELECT count(*) FROM queued_list_operations WHERE "
                                   "status = 'pending' AND error_kind = 'deployment'"),
                 1);

    /* The consumer: every kind of operation waits, none completes. */
    CHECK_EQ_INT(ts_enqueue_lines(
                     &env,
                     "{\"type\":\"create_list\",\"user\":1,\"data\":{\"name\":\"A\"}}\n"
                     "{\"type\":\"add_movie\",\"user\":1,\"list\":7,"
                     "\"data\":{\"movie_id\":550}}\n"
                     "{\"type\":\"remove_movie\",\"user\":1,\"list\":8,"
                     "\"data\":{\"movie_id\":550}}\n"
                     "{\"type\":\"update_list\",\"user\":1,\"list\":9,"
                     "\"data\":{\"name\":\"B\"}}\n"
                     "{\"type\":\"clear_list\",\"user\":1,\"list\":10}\n"
                     "{\"type\":\"delete_list\",\"user\":1,\"list\":11}\n",
                     NULL),
                 6);
    CHECK_EQ_INT(ts_consumer_start(&env, &fake, NULL, NULL, &consumer), 0);
    /* Each has met the portal at least once (the apply's row too: it was published). */
    ts_sleep_ms(1500);
    CHECK_EQ_INT(wait_deployment(&env, 7, 15000), 7);
    check_rows_waiting(&env, 7);
    /* Now an empty 204. */
    atomic_store(&imp.answer, no_content);
    ts_sleep_ms(4000);
    CHECK_EQ_INT(wait_deployment(&env, 7, 15000), 7);
    CHECK_EQ_INT(ts_count_status(&env, "completed"), 0);
    CHECK(ts_sql_long(&env, "SELECT count(*) FROM queued_list_operations WHERE "
                            "error_message LIKE '%with an empty body%'") > 0);
    CHECK(atomic_load(&imp.requests) >= 14);
    CHECK_EQ_INT(ts_proc_stop(&consumer, 10000), 0);
    err = ts_proc_stderr(&consumer);
    CHECK_CONTAINS(err,
                   " ERROR tmdbq-consumer: deployment fault (operations wait, "
                   "spending no retry, until it is fixed; logged once a minute while "
                   "it lasts): not TMDB's answer: HTTP 200 to ");
    CHECK(strstr(err, "outcome=completed") == NULL);
    if (check_failures > 0) {
        ts_proc_dump(&consumer, 4000);
        ts_dump_rows(&env, 10);
    }
    free(err);
    printf(
        "defects_tmdb_body: %ld answers that were not TMDB's, no operation completed\n",
        atomic_load(&imp.requests));

    impostor_stop(&imp);
    ts_teardown(&env);
    return check_exit();
}
