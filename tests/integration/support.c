/*
 * support: the integration test harness (see support.h).
 *
 * Children write to unlinked temporary files, not pipes: the harness then needs no poll
 * loop, cannot deadlock on a full pipe, and reads everything once the child has exited.
 * The only bounded wait is the child itself: past 60 s it is killed, so a hung binary
 * fails its test instead of hanging ctest until its own timeout.
 */
#include "support.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "backoff.h"
#include "mq.h"

#ifndef TMDBQ_BIN
#error "compile with -DTMDBQ_BIN=\"path of the tmdbq binary\""
#endif

#define TS_DEFAULT_ADMIN_URL "postgresql://tmdbq:tmdbq@localhost:5432/postgres"
#define TS_DEFAULT_AMQP_URL "amqp://guest:guest@localhost:5672/%2f"
#define TS_NAME_MAX 32
#define TS_ARGS_MAX 64
/* How long one run of the binary may take; overridable to test the harness itself. */
#ifndef TS_RUN_LIMIT_MS
#define TS_RUN_LIMIT_MS 60000
#endif
#define TS_CONNECT_TIMEOUT_MS 3000
#define TS_MQ_TIMEOUT_MS 5000

/* The policy the binary runs with by default (DESIGN.md: 5 retries, 30 s, 1 h); the
 * teardown handle must name the same retry queues to delete them. */
static const struct backoff_policy ts_policy = {5, 30000, 3600000};

struct ts_child {
    pid_t pid;
    int out_fd;
    int err_fd;
};

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);

    return v != NULL && v[0] != '\0' ? v : fallback;
}

/* A service is missing: by hand that is a skip, under CI a failure (DESIGN.md). */
static int unavailable(const char *service, const char *why)
{
    if (getenv("CI") != NULL) {
        fprintf(stderr, "%s is required under CI and is not reachable: %s\n", service,
                why);
        return 1;
    }
    printf("skipped: %s not reachable: %s\n", service, why);
    return 77;
}

/* An empty temporary file already unlinked, so nothing is left behind by a crash. */
static int temp_fd(void)
{
    char path[512];
    int fd;

    snprintf(path, sizeof path, "%s/tmdbq_test_XXXXXX", env_or("TMPDIR", "/tmp"));
    fd = mkstemp(path);
    if (fd >= 0)
        unlink(path);
    return fd;
}

static int write_all(int fd, const char *text, size_t len)
{
    ssize_t w;

    while (len > 0) {
        w = write(fd, text, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        text += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Everything the file fd holds, from its start, NUL-terminated; never NULL. */
static char *read_all(int fd)
{
    struct stat st;
    size_t cap, len = 0;
    char *buf;
    ssize_t n;

    cap = (fstat(fd, &st) == 0 && st.st_size > 0) ? (size_t)st.st_size + 1 : 1;
    buf = malloc(cap);
    if (buf == NULL) {
        fprintf(stderr, "support: out of memory\n");
        abort();
    }
    if (lseek(fd, 0, SEEK_SET) == 0) {
        while (len + 1 < cap) {
            n = read(fd, buf + len, cap - 1 - len);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            len += (size_t)n;
        }
    }
    buf[len] = '\0';
    return buf;
}

/* Collect the variadic, NULL-terminated arguments after argv[0] = "tmdbq". */
static int collect_args(va_list ap, char **argv)
{
    const char *a;
    int argc = 0;

    argv[argc++] = (char *)"tmdbq";
    for (;;) {
        a = va_arg(ap, const char *);
        if (a == NULL)
            break;
        if (argc >= TS_ARGS_MAX - 1) {
            fprintf(stderr, "support: more than %d arguments\n", TS_ARGS_MAX - 2);
            return -1;
        }
        argv[argc++] = (char *)a;
    }
    argv[argc] = NULL;
    return 0;
}

/* In the child: apply the test's environment, then extra_env on top. */
static void child_environment(const struct ts_env *env, const char *const *extra_env)
{
    char key[256];
    const char *eq;
    size_t i, klen;

    setenv("TMDBQ_DATABASE_URL", env->db_url, 1);
    setenv("TMDBQ_AMQP_PREFIX", env->prefix, 1);
    for (i = 0; extra_env != NULL && extra_env[i] != NULL; i++) {
        eq = strchr(extra_env[i], '=');
        klen = eq != NULL ? (size_t)(eq - extra_env[i]) : strlen(extra_env[i]);
        if (klen == 0 || klen >= sizeof key)
            continue;
        memcpy(key, extra_env[i], klen);
        key[klen] = '\0';
        if (eq != NULL)
            setenv(key, eq + 1, 1);
        else
            unsetenv(key);
    }
}

/*
 * Fork one child running TMDBQ_BIN argv. With gate_rd >= 0 the child first waits until
 * the gate pipe reports end of file, i.e. until the parent closed the last write end;
 * every child closes its inherited write end first, or the gate could never open.
 */
static int spawn(const struct ts_env *env, const char *const *extra_env,
                 const char *stdin_text, char **argv, int gate_rd, int gate_wr,
                 struct ts_child *c)
{
    int in_fd = -1, rc = -1;
    char b;
    ssize_t n;

    c->pid = -1;
    c->out_fd = temp_fd();
    c->err_fd = temp_fd();
    if (stdin_text != NULL) {
        in_fd = temp_fd();
        if (in_fd >= 0 && (write_all(in_fd, stdin_text, strlen(stdin_text)) != 0 ||
                           lseek(in_fd, 0, SEEK_SET) != 0)) {
            close(in_fd);
            in_fd = -1;
        }
    } else {
        in_fd = open("/dev/null", O_RDONLY);
    }
    if (c->out_fd < 0 || c->err_fd < 0 || in_fd < 0) {
        fprintf(stderr, "support: could not create temporary files: %s\n",
                strerror(errno));
        goto out;
    }
    /* Unflushed test output would otherwise be written twice, once by the child. */
    fflush(NULL);
    c->pid = fork();
    if (c->pid < 0) {
        fprintf(stderr, "support: fork: %s\n", strerror(errno));
        goto out;
    }
    if (c->pid == 0) {
        if (gate_rd >= 0) {
            close(gate_wr);
            do {
                n = read(gate_rd, &b, 1);
            } while (n < 0 && errno == EINTR);
            close(gate_rd);
        }
        if (dup2(in_fd, 0) < 0 || dup2(c->out_fd, 1) < 0 || dup2(c->err_fd, 2) < 0)
            _exit(127);
        close(in_fd);
        close(c->out_fd);
        close(c->err_fd);
        child_environment(env, extra_env);
        execv(TMDBQ_BIN, argv);
        dprintf(2, "support: could not execute %s: %s\n", TMDBQ_BIN, strerror(errno));
        _exit(127);
    }
    rc = 0;
out:
    if (in_fd >= 0)
        close(in_fd);
    if (rc != 0) {
        if (c->out_fd >= 0)
            close(c->out_fd);
        if (c->err_fd >= 0)
            close(c->err_fd);
        c->out_fd = c->err_fd = -1;
    }
    return rc;
}

/* Wait for the child until deadline (monotonic ms), then kill it; fill r. */
static void reap(struct ts_child *c, long long deadline, struct ts_result *r)
{
    int wstatus = 0;
    pid_t p;

    r->status = -1;
    if (c->pid > 0) {
        for (;;) {
            p = waitpid(c->pid, &wstatus, WNOHANG);
            if (p == c->pid)
                break;
            if (p < 0 && errno != EINTR) {
                fprintf(stderr, "support: waitpid: %s\n", strerror(errno));
                break;
            }
            if (now_ms() >= deadline) {
                fprintf(stderr, "support: tmdbq still running after %d ms, killing it\n",
                        TS_RUN_LIMIT_MS);
                kill(c->pid, SIGKILL);
                while (waitpid(c->pid, &wstatus, 0) < 0 && errno == EINTR)
                    ;
                break;
            }
            sleep_ms(2);
        }
        if (WIFEXITED(wstatus))
            r->status = WEXITSTATUS(wstatus);
        else if (WIFSIGNALED(wstatus))
            r->status = 128 + WTERMSIG(wstatus);
    }
    r->out = c->out_fd >= 0 ? read_all(c->out_fd) : strdup("");
    r->err = c->err_fd >= 0 ? read_all(c->err_fd) : strdup("");
    if (c->out_fd >= 0)
        close(c->out_fd);
    if (c->err_fd >= 0)
        close(c->err_fd);
    c->out_fd = c->err_fd = -1;
    c->pid = -1;
}

int ts_run(const struct ts_env *env, const char *const *extra_env, const char *stdin_text,
           struct ts_result *r, ...)
{
    char *argv[TS_ARGS_MAX];
    struct ts_child c = {-1, -1, -1};
    va_list ap;
    int rc;

    memset(r, 0, sizeof *r);
    va_start(ap, r);
    rc = collect_args(ap, argv);
    va_end(ap);
    if (rc == 0)
        spawn(env, extra_env, stdin_text, argv, -1, -1, &c);
    reap(&c, now_ms() + TS_RUN_LIMIT_MS, r);
    return r->status;
}

int ts_runv(const struct ts_env *env, const char *const *extra_env,
            const char *stdin_text, struct ts_result *r, const char *const *args)
{
    char *argv[TS_ARGS_MAX];
    struct ts_child c = {-1, -1, -1};
    int argc = 0;

    memset(r, 0, sizeof *r);
    argv[argc++] = (char *)"tmdbq";
    while (args[argc - 1] != NULL && argc < TS_ARGS_MAX - 1) {
        argv[argc] = (char *)args[argc - 1];
        argc++;
    }
    argv[argc] = NULL;
    if (args[argc - 1] != NULL)
        fprintf(stderr, "support: more than %d arguments\n", TS_ARGS_MAX - 2);
    else
        spawn(env, extra_env, stdin_text, argv, -1, -1, &c);
    reap(&c, now_ms() + TS_RUN_LIMIT_MS, r);
    return r->status;
}

int ts_run_many(const struct ts_env *env, const char *const *extra_env, size_t n,
                struct ts_result *results, ...)
{
    char *argv[TS_ARGS_MAX];
    struct ts_child *kids = NULL;
    int gate[2] = {-1, -1}, rc = -1;
    long long deadline;
    va_list ap;
    size_t i;

    for (i = 0; i < n; i++)
        memset(&results[i], 0, sizeof results[i]);
    va_start(ap, results);
    rc = collect_args(ap, argv);
    va_end(ap);
    kids = calloc(n, sizeof *kids);
    if (rc != 0 || kids == NULL || pipe(gate) != 0) {
        fprintf(stderr, "support: could not prepare %zu children\n", n);
        /* Still honour the promise of ts_result: a status and two strings each. */
        for (i = 0; i < n; i++) {
            struct ts_child none = {-1, -1, -1};

            reap(&none, 0, &results[i]);
        }
        rc = -1;
        goto out;
    }
    for (i = 0; i < n; i++)
        kids[i].pid = kids[i].out_fd = kids[i].err_fd = -1;
    for (i = 0; i < n; i++) {
        if (spawn(env, extra_env, NULL, argv, gate[0], gate[1], &kids[i]) != 0)
            break;
    }
    rc = i == n ? 0 : -1;
    /* Open the gate: every child waiting in read() sees end of file at once. Children
     * already forked are released even when a later fork failed, so none is left behind.
     */
    close(gate[1]);
    gate[1] = -1;
    deadline = now_ms() + TS_RUN_LIMIT_MS;
    for (i = 0; i < n; i++)
        reap(&kids[i], deadline, &results[i]);
out:
    if (gate[0] >= 0)
        close(gate[0]);
    if (gate[1] >= 0)
        close(gate[1]);
    free(kids);
    return rc;
}

void ts_result_free(struct ts_result *r)
{
    if (r == NULL)
        return;
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

void ts_result_dump(const char *what, const struct ts_result *r)
{
    fprintf(stderr, "--- %s: status %d\n--- stdout:\n%s\n--- stderr:\n%s\n---\n", what,
            r->status, r->out ? r->out : "(none)", r->err ? r->err : "(none)");
}

/* NOTICEs such as "database ... does not exist, skipping" are expected noise here. */
static void pg_quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* A libpq connection to conninfo (a URL or key=value string), bounded by a connect
 * timeout so an unreachable server fails quickly. The caller checks PQstatus and calls
 * PQfinish. */
static PGconn *pg_connect(const char *conninfo)
{
    const char *keys[] = {"dbname", "connect_timeout", NULL};
    const char *values[] = {conninfo, "5", NULL};
    PGconn *conn;

    /* expand_dbname: the dbname value is parsed as a connection string, and the later
     * connect_timeout overrides whatever it says. */
    conn = PQconnectdbParams(keys, values, 1);
    if (conn != NULL)
        PQsetNoticeProcessor(conn, pg_quiet, NULL);
    return conn;
}

/* The test database's URL: the admin URL with its database replaced. */
static void make_db_url(const char *admin, const char *db, char *out, size_t n)
{
    const char *auth, *slash, *query;

    auth = strstr(admin, "://");
    if (strncmp(admin, "postgres", 8) != 0 || auth == NULL) {
        /* key=value form: a later keyword overrides an earlier one */
        snprintf(out, n, "%s dbname=%s", admin, db);
        return;
    }
    auth += 3;
    slash = strchr(auth, '/');
    query = strchr(auth, '?');
    if (slash == NULL || (query != NULL && query < slash))
        slash = query != NULL ? query : admin + strlen(admin);
    snprintf(out, n, "%.*s/%s%s", (int)(slash - admin), admin, db,
             query != NULL ? query : "");
}

/* host and port of an amqp:// or amqps:// URL. */
static void amqp_host_port(const char *url, char *host, size_t hn, char *port, size_t pn)
{
    const char *p = strstr(url, "://"), *end, *at, *colon;
    const char *def_port = strncmp(url, "amqps", 5) == 0 ? "5671" : "5672";

    p = p != NULL ? p + 3 : url;
    end = p + strcspn(p, "/?");
    for (at = end; at > p && at[-1] != '@'; at--)
        ;
    p = at;
    if (*p == '[') {
        p++;
        colon = memchr(p, ']', (size_t)(end - p));
        if (colon == NULL)
            colon = end;
        snprintf(host, hn, "%.*s", (int)(colon - p), p);
        colon = (colon < end && colon[1] == ':') ? colon + 1 : NULL;
    } else {
        colon = memchr(p, ':', (size_t)(end - p));
        snprintf(host, hn, "%.*s", (int)((colon != NULL ? colon : end) - p), p);
    }
    if (colon != NULL && colon + 1 < end)
        snprintf(port, pn, "%.*s", (int)(end - colon - 1), colon + 1);
    else
        snprintf(port, pn, "%s", def_port);
    if (host[0] == '\0')
        snprintf(host, hn, "localhost");
}

/* Whether something accepts TCP connections at host:port within the timeout; why gets
 * the reason when not. A non-blocking connect, so a black-holed address costs seconds,
 * not the kernel's minutes. */
static bool tcp_reachable(const char *host, const char *port, char *why, size_t wn)
{
    struct addrinfo hints, *res = NULL, *ai;
    struct pollfd pfd;
    socklen_t len;
    int fd, rc, soerr = 0;
    bool ok = false;

    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        snprintf(why, wn, "could not resolve %s: %s", host, gai_strerror(rc));
        return false;
    }
    snprintf(why, wn, "nothing accepts connections at %s:%s", host, port);
    for (ai = res; ai != NULL && !ok; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0)
            continue;
        rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (rc != 0 && errno == EINPROGRESS) {
            pfd.fd = fd;
            pfd.events = POLLOUT;
            pfd.revents = 0;
            len = sizeof soerr;
            if (poll(&pfd, 1, TS_CONNECT_TIMEOUT_MS) == 1 &&
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == 0)
                rc = 0;
            else if (soerr != 0)
                snprintf(why, wn, "%s:%s: %s", host, port, strerror(soerr));
        } else if (rc != 0) {
            snprintf(why, wn, "%s:%s: %s", host, port, strerror(errno));
        }
        ok = rc == 0;
        close(fd);
    }
    freeaddrinfo(res);
    return ok;
}

static bool name_valid(const char *s)
{
    size_t i;

    if (s == NULL || s[0] == '\0' || strlen(s) > TS_NAME_MAX)
        return false;
    for (i = 0; s[i] != '\0'; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '_'))
            return false;
    }
    return true;
}

/* Run one admin statement; 0 ok, -1 after printing why. */
static int admin_exec(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    int rc = 0;

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        fprintf(stderr, "support: %s: %s", sql, PQerrorMessage(conn));
        rc = -1;
    }
    PQclear(res);
    return rc;
}

int ts_setup(struct ts_env *env, const char *test_name)
{
    return ts_setup_ex(env, test_name, 0);
}

int ts_setup_ex(struct ts_env *env, const char *test_name, int flags)
{
    char host[256], port[32], why[512], sql[256];
    struct ts_result r = {0, NULL, NULL};
    PGconn *admin = NULL;
    int rc = 1;

    memset(env, 0, sizeof *env);
    if (!name_valid(test_name)) {
        fprintf(stderr, "support: invalid test name \"%s\" (use [a-z0-9_]{1,%d})\n",
                test_name ? test_name : "", TS_NAME_MAX);
        goto out;
    }
    snprintf(env->name, sizeof env->name, "%s", test_name);
    snprintf(env->db_name, sizeof env->db_name, "tmdbq_t_%s_%ld", test_name,
             (long)getpid());
    snprintf(env->prefix, sizeof env->prefix, "%s", env->db_name);
    snprintf(env->admin_url, sizeof env->admin_url, "%s",
             env_or("TMDBQ_TEST_ADMIN_URL", TS_DEFAULT_ADMIN_URL));
    snprintf(env->amqp_url, sizeof env->amqp_url, "%s",
             env_or("TMDBQ_AMQP_URL", TS_DEFAULT_AMQP_URL));
    make_db_url(env->admin_url, env->db_name, env->db_url, sizeof env->db_url);

    /* A missing binary is a broken build, never a skip. */
    if (access(TMDBQ_BIN, X_OK) != 0) {
        fprintf(stderr, "support: %s is not executable: %s\n", TMDBQ_BIN,
                strerror(errno));
        goto out;
    }
    amqp_host_port(env->amqp_url, host, sizeof host, port, sizeof port);
    if (!tcp_reachable(host, port, why, sizeof why)) {
        rc = unavailable("RabbitMQ", why);
        goto out;
    }
    admin = pg_connect(env->admin_url);
    if (PQstatus(admin) != CONNECTION_OK) {
        snprintf(why, sizeof why, "%s", PQerrorMessage(admin));
        why[strcspn(why, "\n")] = '\0';
        rc = unavailable("PostgreSQL", why);
        goto out;
    }
    /* A database left by a crashed run of a process with the same pid is stale. */
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)",
             env->db_name);
    if (admin_exec(admin, sql) != 0)
        goto out;
    snprintf(sql, sizeof sql, "CREATE DATABASE \"%s\"", env->db_name);
    if (admin_exec(admin, sql) != 0)
        goto out;
    env->created = true;

    if (!(flags & TS_NO_MIGRATE)) {
        ts_run(env, NULL, NULL, &r, "migrate", "--json", (const char *)NULL);
        if (r.status != 0) {
            ts_result_dump("setup: tmdbq migrate", &r);
            goto out;
        }
    }
    rc = 0;
out:
    ts_result_free(&r);
    PQfinish(admin);
    return rc;
}

void ts_teardown(struct ts_env *env)
{
    char sql[256];
    struct err e = {0};
    PGconn *admin = NULL;

    if (env->name[0] == '\0')
        return;
    if (getenv("TMDBQ_TEST_KEEP") != NULL) {
        fprintf(stderr, "support: kept database \"%s\" and AMQP prefix \"%s\"\n",
                env->db_name, env->prefix);
        goto out;
    }
    /* Only a test that got as far as its database can have made queues. */
    if (env->created) {
        if (env->mq == NULL && mq_open(env->amqp_url, env->prefix, &ts_policy,
                                       TS_MQ_TIMEOUT_MS, &env->mq, &e) != ST_OK)
            fprintf(stderr, "support: teardown: %s\n", e.msg);
        if (env->mq != NULL && mq_delete_topology(env->mq, &e) != ST_OK)
            fprintf(stderr, "support: teardown: %s\n", e.msg);
        admin = pg_connect(env->admin_url);
        snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)",
                 env->db_name);
        if (PQstatus(admin) != CONNECTION_OK)
            fprintf(stderr, "support: teardown: %s", PQerrorMessage(admin));
        else
            admin_exec(admin, sql);
        env->created = false;
    }
out:
    mq_close(env->mq);
    env->mq = NULL;
    PQfinish(admin);
}

/* Run sql in the test database; the result when it succeeded, else NULL (printed). */
static PGresult *sql_run(const struct ts_env *env, const char *sql, PGconn **conn)
{
    PGresult *res;
    ExecStatusType st;

    *conn = pg_connect(env->db_url);
    if (PQstatus(*conn) != CONNECTION_OK) {
        fprintf(stderr, "support: could not connect to %s: %s", env->db_name,
                PQerrorMessage(*conn));
        return NULL;
    }
    res = PQexec(*conn, sql);
    st = PQresultStatus(res);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        fprintf(stderr, "support: %s: %s", sql, PQerrorMessage(*conn));
        PQclear(res);
        return NULL;
    }
    return res;
}

char *ts_sql_value(const struct ts_env *env, const char *sql)
{
    PGconn *conn = NULL;
    PGresult *res = sql_run(env, sql, &conn);
    char *v = NULL;

    if (res != NULL && PQntuples(res) > 0 && PQnfields(res) > 0 &&
        !PQgetisnull(res, 0, 0))
        v = strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    PQfinish(conn);
    return v;
}

long ts_sql_long(const struct ts_env *env, const char *sql)
{
    char *v = ts_sql_value(env, sql), *end = NULL;
    long n = -1;

    if (v != NULL) {
        errno = 0;
        n = strtol(v, &end, 10);
        if (errno != 0 || end == v || *end != '\0') {
            fprintf(stderr, "support: %s: not an integer: \"%s\"\n", sql, v);
            n = -1;
        }
    }
    free(v);
    return n;
}

int ts_sql_exec(const struct ts_env *env, const char *sql)
{
    PGconn *conn = NULL;
    PGresult *res = sql_run(env, sql, &conn);
    int rc = res != NULL ? 0 : -1;

    PQclear(res);
    PQfinish(conn);
    return rc;
}

long ts_queue_depth(struct ts_env *env, const char *suffix, long want, long within_ms)
{
    long long deadline = now_ms() + within_ms;
    uint32_t messages = 0, consumers = 0;
    struct err e = {0};

    if (env->mq == NULL && mq_open(env->amqp_url, env->prefix, &ts_policy,
                                   TS_MQ_TIMEOUT_MS, &env->mq, &e) != ST_OK) {
        fprintf(stderr, "support: queue depth: %s\n", e.msg);
        return -1;
    }
    for (;;) {
        if (mq_queue_depth(env->mq, suffix, &messages, &consumers, &e) != ST_OK) {
            fprintf(stderr, "support: queue depth of %s.%s: %s\n", env->prefix, suffix,
                    e.msg);
            /* The handle may be unusable now; the next call opens a fresh one. */
            mq_close(env->mq);
            env->mq = NULL;
            return -1;
        }
        if ((long)messages == want || now_ms() >= deadline)
            return (long)messages;
        sleep_ms(20);
    }
}

json_t *ts_json_parse(const char *text)
{
    json_error_t jerr;
    json_t *v;

    if (text == NULL) {
        fprintf(stderr, "support: no JSON text\n");
        return NULL;
    }
    v = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (v == NULL)
        fprintf(stderr, "support: not JSON (%s, line %d): %s\n", jerr.text, jerr.line,
                text);
    return v;
}

json_t *ts_json_lines(const char *text)
{
    json_t *arr = json_array(), *v;
    const char *p = text, *nl;
    json_error_t jerr;
    size_t len;

    if (arr == NULL || text == NULL) {
        json_decref(arr);
        return NULL;
    }
    while (*p != '\0') {
        nl = strchr(p, '\n');
        len = nl != NULL ? (size_t)(nl - p) : strlen(p);
        if (len > 0) {
            v = json_loadb(p, len, JSON_DECODE_ANY, &jerr);
            if (v == NULL) {
                fprintf(stderr, "support: line not JSON (%s): %.*s\n", jerr.text,
                        (int)len, p);
                json_decref(arr);
                return NULL;
            }
            json_array_append_new(arr, v);
        }
        p += len;
        if (*p == '\n')
            p++;
    }
    return arr;
}

const char *ts_json_str(const json_t *obj, const char *key)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

    return json_is_string(v) ? json_string_value(v) : NULL;
}

long long ts_json_int(const json_t *obj, const char *key, long long fallback)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

    return json_is_integer(v) ? (long long)json_integer_value(v) : fallback;
}

int ts_json_bool(const json_t *obj, const char *key)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

    return json_is_boolean(v) ? (json_is_true(v) ? 1 : 0) : -1;
}

bool ts_json_is_null(const json_t *obj, const char *key)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

    return json_is_null(v);
}

bool ts_json_member_equals(const json_t *obj, const char *key, const char *expected_text)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    json_t *want = ts_json_parse(expected_text);
    char *got_text = NULL;
    bool eq;

    eq = v != NULL && want != NULL && json_equal((json_t *)v, want);
    if (!eq) {
        got_text = v != NULL
                       ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS)
                       : NULL;
        fprintf(stderr, "support: member \"%s\" is %s, expected %s\n", key,
                got_text != NULL ? got_text : "(missing)", expected_text);
    }
    free(got_text);
    json_decref(want);
    return eq;
}

int ts_write_temp(const char *text, char *path, size_t n)
{
    int fd, rc = -1;

    snprintf(path, n, "%s/tmdbq_test_XXXXXX", env_or("TMPDIR", "/tmp"));
    fd = mkstemp(path);
    if (fd < 0) {
        fprintf(stderr, "support: mkstemp: %s\n", strerror(errno));
        return -1;
    }
    if (write_all(fd, text, strlen(text)) == 0)
        rc = 0;
    else
        fprintf(stderr, "support: could not write %s: %s\n", path, strerror(errno));
    if (close(fd) != 0)
        rc = -1;
    if (rc != 0)
        unlink(path);
    return rc;
}
