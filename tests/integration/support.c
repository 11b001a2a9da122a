/*
 * support: the integration test harness (see support.h).
 *
 * Children write to unlinked temporary files, not pipes: the harness then needs no poll
 * loop, cannot deadlock on a full pipe, and reads everything once the child has exited.
 * The only bounded wait is the child itself: past 60 s it is killed, so a hung binary
 * fails its test instead of hanging ctest until its own timeout.
 */
#include "support.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
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
/* libpq connect timeouts (s): the harness's own statements, and polls of a database
 * whose server may be restarting (those must not wait long on a dead one). */
#define TS_PG_CONNECT_S 5
#define TS_PG_POLL_CONNECT_S 2
#define TS_MQ_TIMEOUT_MS 5000

/* The policy the binary runs with by default (docs/design.md: 5 retries, 30 s, 1 h); the
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

/* A service is missing: by hand that is a skip, under CI a failure (docs/design.md). */
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
    char dur[32];

    setenv("TMDBQ_DATABASE_URL", env->db_url, 1);
    setenv("TMDBQ_AMQP_PREFIX", env->prefix, 1);
    if (env->has_policy) {
        snprintf(dur, sizeof dur, "%d", env->max_retries);
        setenv("TMDBQ_MAX_RETRIES", dur, 1);
        snprintf(dur, sizeof dur, "%lldms", env->backoff_base_ms);
        setenv("TMDBQ_BACKOFF_BASE", dur, 1);
        snprintf(dur, sizeof dur, "%lldms", env->backoff_cap_ms);
        setenv("TMDBQ_BACKOFF_CAP", dur, 1);
    }
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

PGconn *ts_pg_connect(const char *conninfo, int connect_timeout_s)
{
    char timeout[16];
    const char *keys[] = {"dbname", "connect_timeout", NULL};
    const char *values[] = {conninfo, timeout, NULL};
    PGconn *conn;

    snprintf(timeout, sizeof timeout, "%d", connect_timeout_s);
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
    admin = ts_pg_connect(env->admin_url, TS_PG_CONNECT_S);
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

static void bg_kill_all(void);
static void work_dir_remove(struct ts_env *env);
static void delete_policy_topology(struct ts_env *env);

void ts_teardown(struct ts_env *env)
{
    char sql[256];
    struct err e = {0};
    PGconn *admin = NULL;

    if (env->name[0] == '\0')
        return;
    /* A consumer left running would reconnect to a dropped database and hold queues. */
    bg_kill_all();
    if (getenv("TMDBQ_TEST_KEEP") != NULL) {
        fprintf(stderr, "support: kept database \"%s\" and AMQP prefix \"%s\"\n",
                env->db_name, env->prefix);
        if (env->work_dir[0] != '\0')
            fprintf(stderr, "support: kept work directory %s\n", env->work_dir);
        goto out;
    }
    /* Only a test that got as far as its database can have made queues. */
    if (env->created) {
        if (env->mq == NULL && mq_open(env->amqp_url, env->prefix, &ts_policy,
                                       TS_MQ_TIMEOUT_MS, &env->mq, &e) != ST_OK)
            fprintf(stderr, "support: teardown: %s\n", e.msg);
        if (env->mq != NULL && mq_delete_topology(env->mq, &e) != ST_OK)
            fprintf(stderr, "support: teardown: %s\n", e.msg);
        delete_policy_topology(env);
        admin = ts_pg_connect(env->admin_url, TS_PG_CONNECT_S);
        snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)",
                 env->db_name);
        if (PQstatus(admin) != CONNECTION_OK)
            fprintf(stderr, "support: teardown: %s", PQerrorMessage(admin));
        else
            admin_exec(admin, sql);
        env->created = false;
    }
    work_dir_remove(env);
out:
    mq_close(env->mq);
    env->mq = NULL;
    PQfinish(admin);
}

PGresult *ts_sql_query(const struct ts_env *env, const char *sql, int connect_timeout_s,
                       PGconn **conn)
{
    PGresult *res;
    ExecStatusType st;

    *conn = ts_pg_connect(env->db_url, connect_timeout_s);
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
    PGresult *res = ts_sql_query(env, sql, TS_PG_CONNECT_S, &conn);
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
    PGresult *res = ts_sql_query(env, sql, TS_PG_CONNECT_S, &conn);
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

/* ==== consumer tests: background processes, the fake TMDB, private services ==========
 */

#ifndef TMDBQ_CONSUMER_BIN
#error "compile with -DTMDBQ_CONSUMER_BIN=\"path of the tmdbq-consumer binary\""
#endif
#ifndef FAKE_TMDB_BIN
#error "compile with -DFAKE_TMDB_BIN=\"path of the fake-tmdb binary\""
#endif

#define TS_BG_MAX 64
#define TS_FAKE_START_MS 10000
#define TS_FAKE_CALL_MS 15000
#define TS_CMD_LOG_MAX 320
#define TS_PG_BINDIR "/usr/lib/postgresql/15/bin"
#define TS_PG_CMD_MS 60000
#define TS_RABBIT_CMD_MS 90000
#define TS_RABBIT_STOP_MS 60000

/*
 * What this process started and must stop even when a check fails or main returns early:
 * the PIDs of background children, and the private servers. The harness is
 * single-threaded and these live for the whole process, so file-level state is the
 * simplest correct owner; an atexit handler walks it.
 */
static pid_t bg_pids[TS_BG_MAX];
#define TS_LIVE_MAX 4
static struct ts_pg *live_pg[TS_LIVE_MAX];
static struct ts_rabbit *live_rabbit[TS_LIVE_MAX];
static bool atexit_set;

/* Note p in set (once), or forget it. */
static void live_note(void **set, void *p, bool live)
{
    int i, free_slot = -1;

    for (i = 0; i < TS_LIVE_MAX; i++) {
        if (set[i] == p) {
            if (!live)
                set[i] = NULL;
            return;
        }
        if (set[i] == NULL && free_slot < 0)
            free_slot = i;
    }
    if (live && free_slot >= 0)
        set[free_slot] = p;
}

static void cleanup_at_exit(void)
{
    int i;

    bg_kill_all();
    for (i = 0; i < TS_LIVE_MAX; i++) {
        if (live_pg[i] != NULL)
            ts_pg_destroy(live_pg[i]);
        if (live_rabbit[i] != NULL)
            ts_rabbit_destroy(live_rabbit[i]);
    }
}

static void ensure_atexit(void)
{
    if (!atexit_set && atexit(cleanup_at_exit) == 0)
        atexit_set = true;
}

static void bg_add(pid_t pid)
{
    size_t i;

    ensure_atexit();
    for (i = 0; i < TS_BG_MAX; i++) {
        if (bg_pids[i] == 0) {
            bg_pids[i] = pid;
            return;
        }
    }
    fprintf(stderr, "support: more than %d background processes\n", TS_BG_MAX);
}

static void bg_forget(pid_t pid)
{
    size_t i;

    for (i = 0; i < TS_BG_MAX; i++) {
        if (bg_pids[i] == pid)
            bg_pids[i] = 0;
    }
}

static void bg_kill_all(void)
{
    size_t i;

    for (i = 0; i < TS_BG_MAX; i++) {
        if (bg_pids[i] > 0) {
            kill(bg_pids[i], SIGKILL);
            while (waitpid(bg_pids[i], NULL, 0) < 0 && errno == EINTR)
                ;
            bg_pids[i] = 0;
        }
    }
}

long long ts_now_ms(void) { return now_ms(); }

void ts_sleep_ms(long ms) { sleep_ms(ms); }

int ts_free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd, port = -1;

    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

void ts_set_policy(struct ts_env *env, int max_retries, long long base_ms,
                   long long cap_ms)
{
    env->has_policy = true;
    env->max_retries = max_retries;
    env->backoff_base_ms = base_ms;
    env->backoff_cap_ms = cap_ms;
}

/* The retry queues of the test's own policy are not those of ts_policy: delete them too.
 */
static void delete_policy_topology(struct ts_env *env)
{
    struct backoff_policy p;
    struct mq *mq = NULL;
    struct err e = {0};

    if (!env->has_policy)
        return;
    p.max_retries = env->max_retries;
    p.base_ms = env->backoff_base_ms;
    p.cap_ms = env->backoff_cap_ms;
    if (mq_open(env->amqp_url, env->prefix, &p, TS_MQ_TIMEOUT_MS, &mq, &e) != ST_OK ||
        mq_delete_topology(mq, &e) != ST_OK)
        fprintf(stderr, "support: teardown: %s\n", e.msg);
    mq_close(mq);
}

/* Apply "K=V" / "K" entries to our environment (in a child, before exec). */
static void apply_env(const char *const *set_env)
{
    char key[256];
    const char *eq;
    size_t i, klen;

    for (i = 0; set_env != NULL && set_env[i] != NULL; i++) {
        eq = strchr(set_env[i], '=');
        klen = eq != NULL ? (size_t)(eq - set_env[i]) : strlen(set_env[i]);
        if (klen == 0 || klen >= sizeof key)
            continue;
        memcpy(key, set_env[i], klen);
        key[klen] = '\0';
        if (eq != NULL)
            setenv(key, eq + 1, 1);
        else
            unsetenv(key);
    }
}

/*
 * Run a short command (initdb, pg_ctl, rabbitmqctl, rm) and wait at most timeout_ms; its
 * output is appended to log_path (or discarded when NULL). It runs in a process group of
 * its own from cwd (or "/"), so a command past its time is killed with everything it
 * forked. Returns its exit status, or -1 when it could not run or was killed.
 */
static int run_cmd(const char *const *argv, const char *const *set_env, const char *cwd,
                   long timeout_ms, const char *log_path)
{
    long long deadline = now_ms() + timeout_ms;
    int wstatus = 0, fd;
    pid_t pid, p;

    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        fprintf(stderr, "support: fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        fd = log_path != NULL ? open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644)
                              : open("/dev/null", O_WRONLY);
        if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(127);
        close(fd);
        fd = open("/dev/null", O_RDONLY);
        if (fd >= 0) {
            dup2(fd, 0);
            close(fd);
        }
        if (chdir(cwd != NULL ? cwd : "/") != 0)
            _exit(127);
        apply_env(set_env);
        execvp(argv[0], (char *const *)argv);
        dprintf(2, "support: could not execute %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    for (;;) {
        p = waitpid(pid, &wstatus, WNOHANG);
        if (p == pid)
            break;
        if (p < 0 && errno != EINTR)
            return -1;
        if (now_ms() >= deadline) {
            fprintf(stderr, "support: %s still running after %ld ms, killing it\n",
                    argv[0], timeout_ms);
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
                ;
            return -1;
        }
        sleep_ms(10);
    }
    return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
}

static void remove_tree(const char *dir)
{
    const char *argv[] = {"rm", "-rf", "--", dir, NULL};

    if (dir[0] != '\0' && run_cmd(argv, NULL, NULL, 60000, NULL) != 0)
        fprintf(stderr, "support: could not remove %s\n", dir);
}

const char *ts_work_dir(struct ts_env *env)
{
    if (env->work_dir[0] != '\0')
        return env->work_dir;
    snprintf(env->work_dir, sizeof env->work_dir, "%s/tmdbq_t_%s_%ld_XXXXXX",
             env_or("TMPDIR", "/tmp"), env->name[0] != '\0' ? env->name : "x",
             (long)getpid());
    if (mkdtemp(env->work_dir) == NULL) {
        fprintf(stderr, "support: mkdtemp %s: %s\n", env->work_dir, strerror(errno));
        env->work_dir[0] = '\0';
        return NULL;
    }
    chmod(env->work_dir, 0755);
    return env->work_dir;
}

static void work_dir_remove(struct ts_env *env)
{
    if (env->work_dir[0] == '\0')
        return;
    remove_tree(env->work_dir);
    env->work_dir[0] = '\0';
}

int ts_proc_start(struct ts_env *env, const char *bin, const char *const *argv,
                  const char *const *set_env, const char *label, struct ts_proc *p)
{
    const char *dir = ts_work_dir(env);
    int out_fd = -1, err_fd = -1, in_fd = -1, rc = -1;
    pid_t parent = getpid(), pid;

    memset(p, 0, sizeof *p);
    p->pid = -1;
    p->status = -1;
    snprintf(p->label, sizeof p->label, "%s", label);
    if (dir == NULL)
        return -1;
    snprintf(p->out_path, sizeof p->out_path, "%s/%s.out", dir, label);
    snprintf(p->err_path, sizeof p->err_path, "%s/%s.err", dir, label);
    out_fd = open(p->out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    err_fd = open(p->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    in_fd = open("/dev/null", O_RDONLY);
    if (out_fd < 0 || err_fd < 0 || in_fd < 0) {
        fprintf(stderr, "support: could not open the log files of %s: %s\n", label,
                strerror(errno));
        goto out;
    }
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        fprintf(stderr, "support: fork: %s\n", strerror(errno));
        goto out;
    }
    if (pid == 0) {
        /* Die with the test, even when the test itself is killed (ctest's timeout). */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
            _exit(127);
        close(in_fd);
        close(out_fd);
        close(err_fd);
        apply_env(set_env);
        execv(bin, (char *const *)argv);
        dprintf(2, "support: could not execute %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    p->pid = pid;
    bg_add(pid);
    rc = 0;
out:
    if (in_fd >= 0)
        close(in_fd);
    if (out_fd >= 0)
        close(out_fd);
    if (err_fd >= 0)
        close(err_fd);
    return rc;
}

int ts_proc_signal(const struct ts_proc *p, int sig)
{
    if (p->pid <= 0)
        return -1;
    return kill((pid_t)p->pid, sig) == 0 ? 0 : -1;
}

/* Reap without blocking; true when it has exited (p->status set). */
static bool proc_reap(struct ts_proc *p)
{
    int wstatus = 0;
    pid_t r;

    if (p->pid <= 0)
        return true;
    do {
        r = waitpid((pid_t)p->pid, &wstatus, WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == 0)
        return false;
    if (r == (pid_t)p->pid) {
        if (WIFEXITED(wstatus))
            p->status = WEXITSTATUS(wstatus);
        else if (WIFSIGNALED(wstatus))
            p->status = 128 + WTERMSIG(wstatus);
    }
    bg_forget((pid_t)p->pid);
    p->pid = -1;
    return true;
}

bool ts_proc_running(struct ts_proc *p) { return !proc_reap(p); }

int ts_proc_wait(struct ts_proc *p, long within_ms)
{
    long long deadline = now_ms() + within_ms;

    for (;;) {
        if (proc_reap(p))
            return p->status;
        if (now_ms() >= deadline)
            return -1;
        sleep_ms(10);
    }
}

int ts_proc_stop(struct ts_proc *p, long within_ms)
{
    if (p->pid <= 0)
        return p->status;
    ts_proc_signal(p, SIGTERM);
    if (ts_proc_wait(p, within_ms) == -1 && p->pid > 0) {
        fprintf(stderr, "support: %s did not exit within %ld ms of SIGTERM, killing it\n",
                p->label, within_ms);
        ts_proc_signal(p, SIGKILL);
        ts_proc_wait(p, 10000);
    }
    return p->status;
}

static char *file_text(const char *path)
{
    int fd = open(path, O_RDONLY);
    char *text;

    if (fd < 0)
        return strdup("");
    text = read_all(fd);
    close(fd);
    return text;
}

char *ts_proc_stderr(const struct ts_proc *p) { return file_text(p->err_path); }

void ts_proc_dump(const struct ts_proc *p, size_t tail_bytes)
{
    char *text = ts_proc_stderr(p);
    size_t len = strlen(text);
    const char *from = len > tail_bytes ? text + len - tail_bytes : text;

    fprintf(
        stderr, "---- %s (pid %ld, status %d), stderr%s ----\n%s\n---- end of %s ----\n",
        p->label, p->pid, p->status, len > tail_bytes ? " (tail)" : "", from, p->label);
    free(text);
}

int ts_http_start(struct ts_env *env, const char *bin, const char *label,
                  const char *const *args, const char *const *extra_env,
                  struct ts_proc *p)
{
    char port_file[400], db[300], prefix[120], amqp[300];
    const char *argv[TS_ARGS_MAX], *set_env[TS_ARGS_MAX];
    const char *dir = ts_work_dir(env);
    size_t na = 0, ne = 0, i;
    long long end = now_ms() + 10000;
    int port = -1, ok;
    FILE *f;

    if (dir == NULL)
        return -1;
    snprintf(port_file, sizeof port_file, "%s/%s.port", dir, label);
    unlink(port_file);
    argv[na++] = "tmdbq-http";
    argv[na++] = "--port-file";
    argv[na++] = port_file;
    for (i = 0; args != NULL && args[i] != NULL && na < TS_ARGS_MAX - 1; i++)
        argv[na++] = args[i];
    argv[na] = NULL;
    snprintf(db, sizeof db, "TMDBQ_DATABASE_URL=%s", env->db_url);
    snprintf(prefix, sizeof prefix, "TMDBQ_AMQP_PREFIX=%s", env->prefix);
    snprintf(amqp, sizeof amqp, "TMDBQ_AMQP_URL=%s", env->amqp_url);
    set_env[ne++] = db;
    set_env[ne++] = prefix;
    set_env[ne++] = amqp;
    set_env[ne++] = "TMDBQ_HTTP_LISTEN=127.0.0.1:0";
    for (i = 0; extra_env != NULL && extra_env[i] != NULL && ne < TS_ARGS_MAX - 1; i++)
        set_env[ne++] = extra_env[i];
    set_env[ne] = NULL;
    if (ts_proc_start(env, bin, argv, set_env, label, p) != 0)
        return -1;
    while (now_ms() < end) {
        f = fopen(port_file, "r");
        if (f != NULL) {
            ok = fscanf(f, "%d", &port);
            fclose(f);
            if (ok == 1 && port > 0)
                return port;
        }
        if (!ts_proc_running(p))
            break;
        sleep_ms(20);
    }
    fprintf(stderr, "support: %s did not start listening\n", label);
    ts_proc_dump(p, 4000);
    return -1;
}

size_t ts_curl_append(char *data, size_t size, size_t n, void *arg)
{
    char **buf = arg;
    size_t have = *buf != NULL ? strlen(*buf) : 0, add = size * n;
    char *q = realloc(*buf, have + add + 1);

    if (q == NULL)
        return 0;
    memcpy(q + have, data, add);
    q[have + add] = '\0';
    *buf = q;
    return add;
}

/* ---- the fake TMDB ---- */

struct body_buf {
    char *p;
    size_t n;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct body_buf *b = ud;
    size_t add = size * nmemb;
    char *np = realloc(b->p, b->n + add + 1);

    if (np == NULL)
        return 0;
    memcpy(np + b->n, data, add);
    b->n += add;
    np[b->n] = '\0';
    b->p = np;
    return add;
}

int ts_fake_call(const struct ts_fake *f, const char *method, const char *path,
                 const char *json_body, char **body)
{
    static bool curl_ready;
    struct body_buf b = {NULL, 0};
    struct curl_slist *hdr = NULL;
    char url[512];
    long code = -1;
    CURLcode cc;
    CURL *h;

    if (body != NULL)
        *body = NULL;
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return -1;
        curl_ready = true;
    }
    h = curl_easy_init();
    if (h == NULL)
        return -1;
    snprintf(url, sizeof url, "%s%s", f->url, path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)TS_FAKE_CALL_MS);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    if (json_body != NULL || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
        hdr = curl_slist_append(hdr, "Content-Type: application/json;charset=utf-8");
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, json_body != NULL ? json_body : "");
    }
    cc = curl_easy_perform(h);
    if (cc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    else
        fprintf(stderr, "support: fake TMDB %s %s: %s\n", method, path,
                curl_easy_strerror(cc));
    curl_easy_cleanup(h);
    curl_slist_free_all(hdr);
    if (body != NULL && cc == CURLE_OK)
        *body = b.p != NULL ? b.p : strdup("");
    else
        free(b.p);
    return cc == CURLE_OK ? (int)code : -1;
}

/* A control call that must answer want_status; -1 (printed with the answer) otherwise. */
static int fake_expect(const struct ts_fake *f, const char *method, const char *path,
                       const char *json_body, int want_status)
{
    char *body = NULL;
    int st = ts_fake_call(f, method, path, json_body, &body);

    if (st != want_status) {
        fprintf(stderr, "support: fake TMDB %s %s %s: HTTP %d, expected %d: %s\n", method,
                path, json_body != NULL ? json_body : "", st, want_status,
                body != NULL ? body : "");
        free(body);
        return -1;
    }
    free(body);
    return 0;
}

/* The positive number (at most max) that the file holds, or -1 (missing, partial). */
static long read_number_file(const char *path, long max)
{
    char *text = file_text(path), *end = NULL;
    long v = -1;

    errno = 0;
    if (text[0] != '\0') {
        v = strtol(text, &end, 10);
        if (errno != 0 || end == text || (*end != '\0' && *end != '\n') || v <= 0 ||
            v > max)
            v = -1;
    }
    free(text);
    return v;
}

int ts_fake_start(struct ts_env *env, struct ts_fake *f, const char *api_key,
                  const char *read_token)
{
    char port_file[320], label[48];
    const char *dir = ts_work_dir(env);
    const char *argv[12];
    long long deadline = now_ms() + TS_FAKE_START_MS;
    long port = -1;
    int argc = 0;

    memset(f, 0, sizeof *f);
    f->proc.pid = -1;
    if (dir == NULL)
        return -1;
    if (access(FAKE_TMDB_BIN, X_OK) != 0) {
        fprintf(stderr, "support: %s is not executable: %s\n", FAKE_TMDB_BIN,
                strerror(errno));
        return -1;
    }
    snprintf(f->api_key, sizeof f->api_key, "%s",
             api_key != NULL ? api_key : "test-api-key");
    snprintf(f->read_token, sizeof f->read_token, "%s",
             read_token != NULL ? read_token : "test-read-token");
    snprintf(label, sizeof label, "fake%d", ++env->nprocs);
    snprintf(port_file, sizeof port_file, "%s/%s.port", dir, label);
    argv[argc++] = "fake-tmdb";
    argv[argc++] = "--port";
    argv[argc++] = "0";
    argv[argc++] = "--port-file";
    argv[argc++] = port_file;
    argv[argc++] = "--api-key";
    argv[argc++] = f->api_key;
    argv[argc++] = "--read-token";
    argv[argc++] = f->read_token;
    argv[argc++] = "--verbose";
    argv[argc] = NULL;
    if (ts_proc_start(env, FAKE_TMDB_BIN, argv, NULL, label, &f->proc) != 0)
        return -1;
    while (port < 0) {
        if (!ts_proc_running(&f->proc) || now_ms() >= deadline) {
            fprintf(stderr, "support: the fake TMDB did not start\n");
            ts_proc_dump(&f->proc, 2000);
            ts_fake_stop(f);
            return -1;
        }
        port = read_number_file(port_file, 65535);
        if (port < 0)
            sleep_ms(10);
    }
    f->port = (int)port;
    snprintf(f->url, sizeof f->url, "http://127.0.0.1:%d", f->port);
    if (fake_expect(f, "GET", "/__control/health", NULL, 200) != 0) {
        ts_fake_stop(f);
        return -1;
    }
    return 0;
}

void ts_fake_stop(struct ts_fake *f) { ts_proc_stop(&f->proc, 5000); }

int ts_fake_user(const struct ts_fake *f, long user_id, const char *session_id,
                 const char *access_token)
{
    json_t *o = json_pack("{s:I, s:s, s:s?}", "user_id", (json_int_t)user_id,
                          "session_id", session_id, "access_token", access_token);
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    int rc = text != NULL ? fake_expect(f, "POST", "/__control/users", text, 200) : -1;

    free(text);
    json_decref(o);
    return rc;
}

int ts_fake_list(const struct ts_fake *f, long id, long owner, const long *items,
                 size_t nitems)
{
    json_t *arr = json_array(), *o;
    char name[64], *text;
    size_t i;
    int rc;

    for (i = 0; i < nitems; i++)
        json_array_append_new(arr, json_integer(items[i]));
    snprintf(name, sizeof name, "list %ld", id);
    o = json_pack("{s:I, s:I, s:s, s:s, s:b, s:o}", "id", (json_int_t)id, "owner",
                  (json_int_t)owner, "name", name, "description", "", "public", 1,
                  "items", arr);
    text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    rc = text != NULL ? fake_expect(f, "POST", "/__control/lists", text, 201) : -1;
    free(text);
    json_decref(o);
    return rc;
}

int ts_fake_faults(const struct ts_fake *f, const char *json)
{
    return fake_expect(f, "POST", "/__control/faults", json, 200);
}

long ts_fake_list_items(const struct ts_fake *f, long id, long *items, size_t max)
{
    char path[64], *body = NULL;
    json_t *o = NULL, *arr, *v;
    long n = -1;
    size_t i;
    int st;

    snprintf(path, sizeof path, "/__control/lists/%ld", id);
    st = ts_fake_call(f, "GET", path, NULL, &body);
    if (st == 404) {
        n = -2;
        goto out;
    }
    if (st != 200) {
        fprintf(stderr, "support: fake TMDB GET %s: HTTP %d\n", path, st);
        goto out;
    }
    o = ts_json_parse(body);
    arr = json_object_get(o, "items");
    if (!json_is_array(arr)) {
        fprintf(stderr, "support: fake TMDB GET %s: no items: %s\n", path, body);
        goto out;
    }
    json_array_foreach(arr, i, v)
    {
        if (i < max)
            items[i] = (long)json_integer_value(v);
    }
    n = (long)json_array_size(arr);
out:
    json_decref(o);
    free(body);
    return n;
}

json_t *ts_fake_requests(const struct ts_fake *f)
{
    char *body = NULL;
    json_t *v = NULL;
    int st = ts_fake_call(f, "GET", "/__control/requests", NULL, &body);

    if (st != 200)
        fprintf(stderr, "support: fake TMDB GET /__control/requests: HTTP %d\n", st);
    else
        v = ts_json_parse(body);
    if (v != NULL && !json_is_array(v)) {
        fprintf(stderr, "support: fake TMDB requests: not an array\n");
        json_decref(v);
        v = NULL;
    }
    free(body);
    return v;
}

static bool rec_is(const json_t *rec, const char *method, const char *path)
{
    const char *m = ts_json_str(rec, "method"), *p = ts_json_str(rec, "path");

    return m != NULL && p != NULL && strcmp(m, method) == 0 && strcmp(p, path) == 0;
}

long ts_fake_count(const json_t *reqs, const char *method, const char *path)
{
    const json_t *rec;
    size_t i;
    long n = 0;

    json_array_foreach(reqs, i, rec)
    {
        if (rec_is(rec, method, path))
            n++;
    }
    return n;
}

size_t ts_fake_times(const json_t *reqs, const char *method, const char *path,
                     long long *t, size_t max)
{
    const json_t *rec;
    size_t i, n = 0;

    json_array_foreach(reqs, i, rec)
    {
        if (!rec_is(rec, method, path))
            continue;
        if (n < max)
            t[n] = ts_json_int(rec, "t_ms", -1);
        n++;
    }
    return n;
}

void ts_fake_request_key(const json_t *rec, char *key, size_t n)
{
    const char *m = ts_json_str(rec, "method"), *p = ts_json_str(rec, "path");
    const json_t *body = json_object_get(rec, "body");
    const json_t *media = json_is_object(body) ? json_object_get(body, "media_id") : NULL;
    const char *name = ts_json_str(body, "name");

    key[0] = '\0';
    if (m == NULL || p == NULL || strcmp(m, "GET") == 0)
        return;
    if (json_is_integer(media))
        snprintf(key, n, "%s %s %" JSON_INTEGER_FORMAT, m, p, json_integer_value(media));
    else if (strcmp(m, "POST") == 0 && strcmp(p, "/3/list") == 0)
        snprintf(key, n, "%s %s name=%s", m, p, name != NULL ? name : "");
    else
        snprintf(key, n, "%s %s", m, p);
}

void ts_op_key(const json_t *op, char *key, size_t n)
{
    const char *type = ts_json_str(op, "operation_type");
    const json_t *data = json_object_get(op, "operation_data");
    long long list = ts_json_int(op, "tmdb_list_id", 0);
    long long movie = ts_json_int(data, "movie_id", 0);
    const char *name = ts_json_str(data, "name");

    key[0] = '\0';
    if (type == NULL)
        return;
    if (strcmp(type, "add_movie") == 0)
        snprintf(key, n, "POST /3/list/%lld/add_item %lld", list, movie);
    else if (strcmp(type, "remove_movie") == 0)
        snprintf(key, n, "POST /3/list/%lld/remove_item %lld", list, movie);
    else if (strcmp(type, "clear_list") == 0)
        snprintf(key, n, "POST /3/list/%lld/clear", list);
    else if (strcmp(type, "delete_list") == 0)
        snprintf(key, n, "DELETE /3/list/%lld", list);
    else if (strcmp(type, "update_list") == 0)
        snprintf(key, n, "PUT /4/list/%lld", list);
    else if (strcmp(type, "create_list") == 0)
        snprintf(key, n, "POST /3/list name=%s", name != NULL ? name : "");
}

#define TS_KEY_LEN 160

static int key_cmp(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

json_t *ts_fake_applied(const json_t *reqs)
{
    json_t *out = json_array(), *r;
    size_t i;

    json_array_foreach(reqs, i, r)
    {
        json_int_t st = json_integer_value(json_object_get(r, "status"));

        if (st >= 200 && st < 300)
            json_array_append(out, r);
    }
    return out;
}

int ts_fake_compare_writes(const json_t *reqs, const json_t *ops, long *missing,
                           long *extra)
{
    size_t nreq = json_array_size(reqs), nops = json_array_size(ops), i, j, ne = 0,
           na = 0, ei, ai;
    char(*exp)[TS_KEY_LEN] = calloc(nops + 1, TS_KEY_LEN);
    char(*act)[TS_KEY_LEN] = calloc(nreq + 1, TS_KEY_LEN);
    int printed = 0, rc = -1;
    long ce, ca;

    *missing = *extra = 0;
    if (exp == NULL || act == NULL || !json_is_array(reqs) || !json_is_array(ops))
        goto out;
    for (i = 0; i < nops; i++) {
        ts_op_key(json_array_get(ops, i), exp[ne], TS_KEY_LEN);
        if (exp[ne][0] != '\0')
            ne++;
    }
    for (i = 0; i < nreq; i++) {
        ts_fake_request_key(json_array_get(reqs, i), act[na], TS_KEY_LEN);
        if (act[na][0] != '\0')
            na++;
    }
    qsort(exp, ne, TS_KEY_LEN, key_cmp);
    qsort(act, na, TS_KEY_LEN, key_cmp);
    ei = ai = 0;
    while (ei < ne || ai < na) {
        const char *k;
        int c;

        if (ei < ne && ai < na)
            c = strcmp(exp[ei], act[ai]);
        else
            c = ei < ne ? -1 : 1;
        k = c <= 0 ? exp[ei] : act[ai];
        for (ce = 0, j = ei; j < ne && strcmp(exp[j], k) == 0; j++)
            ce++;
        ei = j;
        for (ca = 0, j = ai; j < na && strcmp(act[j], k) == 0; j++)
            ca++;
        ai = j;
        if (ce != ca && printed++ < 20)
            fprintf(stderr, "support: write \"%s\": %ld operation(s), %ld request(s)\n",
                    k, ce, ca);
        if (ca < ce)
            *missing += ce - ca;
        else
            *extra += ca - ce;
    }
    rc = 0;
out:
    free(exp);
    free(act);
    return rc;
}

/* ---- operations and consumers ---- */

void ts_appendf(char **buf, const char *fmt, ...)
{
    size_t old = *buf != NULL ? strlen(*buf) : 0;
    va_list ap;
    char *nb;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    nb = n >= 0 ? realloc(*buf, old + (size_t)n + 1) : NULL;
    if (nb == NULL) {
        fprintf(stderr, "support: out of memory\n");
        abort();
    }
    va_start(ap, fmt);
    vsnprintf(nb + old, (size_t)n + 1, fmt, ap);
    va_end(ap);
    *buf = nb;
}

int ts_setup_with_fake(struct ts_env *env, struct ts_fake *f, const char *test_name,
                       int max_retries, long long base_ms, long long cap_ms)
{
    int rc = ts_setup(env, test_name);

    if (rc == 0) {
        ts_set_policy(env, max_retries, base_ms, cap_ms);
        if (ts_fake_start(env, f, NULL, NULL) != 0) {
            fprintf(stderr, "support: %s: the fake TMDB did not start\n", test_name);
            rc = 1;
        }
    }
    if (rc != 0)
        ts_teardown(env);
    return rc;
}

int ts_setup_on_pg(struct ts_env *env, struct ts_fake *f, struct ts_pg *pg,
                   const char *test_name, int max_retries, long long base_ms,
                   long long cap_ms)
{
    int rc;

    memset(pg, 0, sizeof *pg);
    memset(env, 0, sizeof *env);
    rc = ts_pg_start(pg);
    if (rc == 0) {
        /* The test's database is made in the private cluster. */
        setenv("TMDBQ_TEST_ADMIN_URL", pg->admin_url, 1);
        rc = ts_setup_with_fake(env, f, test_name, max_retries, base_ms, cap_ms);
    }
    if (rc != 0)
        ts_pg_destroy(pg);
    return rc;
}

int ts_user(struct ts_env *env, const struct ts_fake *f, long user_id,
            const char *session_id, const char *access_token)
{
    struct ts_result r = {0, NULL, NULL};
    char user[32];
    int rc = -1;

    if (ts_fake_user(f, user_id, session_id, access_token) != 0)
        return -1;
    snprintf(user, sizeof user, "%ld", user_id);
    if (access_token != NULL)
        ts_run(env, NULL, NULL, &r, "session", "set", "--user", user, "--session-id",
               session_id, "--access-token", access_token, "--json", (const char *)NULL);
    else
        ts_run(env, NULL, NULL, &r, "session", "set", "--user", user, "--session-id",
               session_id, "--json", (const char *)NULL);
    if (r.status == 0)
        rc = 0;
    else
        ts_result_dump("tmdbq session set", &r);
    ts_result_free(&r);
    return rc;
}

long ts_enqueue_lines(struct ts_env *env, const char *lines, json_t **ops)
{
    return ts_enqueue_lines_env(env, NULL, lines, ops);
}

int ts_publish_ids(struct ts_env *env, const char *const *ids, size_t n)
{
    bool confirmed[16];
    struct err e = {0};

    if (n > sizeof confirmed / sizeof confirmed[0])
        return -1;
    if (env->mq == NULL && mq_open(env->amqp_url, env->prefix, &ts_policy,
                                   TS_MQ_TIMEOUT_MS, &env->mq, &e) != ST_OK) {
        fprintf(stderr, "support: publish: %s\n", e.msg);
        return -1;
    }
    if (mq_publish_work(env->mq, ids, n, confirmed, &e) != ST_OK) {
        fprintf(stderr, "support: publish: %s\n", e.msg);
        mq_close(env->mq);
        env->mq = NULL;
        return -1;
    }
    return 0;
}

int ts_consumer_start(struct ts_env *env, const struct ts_fake *f,
                      const char *const *extra_env, const char *const *args,
                      struct ts_proc *p)
{
    char e_db[320], e_prefix[128], e_amqp[300], e_url[128], e_key[128], e_max[48],
        e_base[48], e_cap[48], label[48], id[128];
    const char *envv[TS_ARGS_MAX], *argv[TS_ARGS_MAX];
    size_t ne = 0, na = 0, i;

    if (access(TMDBQ_CONSUMER_BIN, X_OK) != 0) {
        fprintf(stderr, "support: %s is not executable: %s\n", TMDBQ_CONSUMER_BIN,
                strerror(errno));
        memset(p, 0, sizeof *p);
        p->pid = -1;
        p->status = -1;
        return -1;
    }
    snprintf(e_db, sizeof e_db, "TMDBQ_DATABASE_URL=%s", env->db_url);
    snprintf(e_prefix, sizeof e_prefix, "TMDBQ_AMQP_PREFIX=%s", env->prefix);
    snprintf(e_amqp, sizeof e_amqp, "TMDBQ_AMQP_URL=%s", env->amqp_url);
    snprintf(e_url, sizeof e_url, "TMDB_API_URL=%s", f->url);
    snprintf(e_key, sizeof e_key, "TMDB_API_KEY=%s", f->api_key);
    envv[ne++] = e_db;
    envv[ne++] = e_prefix;
    envv[ne++] = e_amqp;
    envv[ne++] = e_url;
    envv[ne++] = e_key;
    envv[ne++] = "TMDB_ACCESS_TOKEN";
    if (env->has_policy) {
        snprintf(e_max, sizeof e_max, "TMDBQ_MAX_RETRIES=%d", env->max_retries);
        snprintf(e_base, sizeof e_base, "TMDBQ_BACKOFF_BASE=%lldms",
                 env->backoff_base_ms);
        snprintf(e_cap, sizeof e_cap, "TMDBQ_BACKOFF_CAP=%lldms", env->backoff_cap_ms);
        envv[ne++] = e_max;
        envv[ne++] = e_base;
        envv[ne++] = e_cap;
    }
    envv[ne++] = "TMDBQ_LEASE=3s";
    /* The request budget is on (leases, slots) but far above what the fake needs; the
     * rate tests ask for TMDB's real ceiling. */
    envv[ne++] = "TMDBQ_TMDB_RATE=1000";
    envv[ne++] = "TMDBQ_LOG_LEVEL=debug";
    envv[ne++] = "TMDBQ_CONNECT_TIMEOUT=2s";
    /* The consumer refuses a lease shorter than two TMDB calls (a delete makes two). */
    envv[ne++] = "TMDBQ_TMDB_TIMEOUT=1s";
    for (i = 0; extra_env != NULL && extra_env[i] != NULL && ne < TS_ARGS_MAX - 1; i++)
        envv[ne++] = extra_env[i];
    envv[ne] = NULL;

    snprintf(label, sizeof label, "c%d", ++env->nprocs);
    snprintf(id, sizeof id, "%s-%s", env->name, label);
    argv[na++] = "tmdbq-consumer";
    argv[na++] = "--id";
    argv[na++] = id;
    for (i = 0; args != NULL && args[i] != NULL && na < TS_ARGS_MAX - 1; i++)
        argv[na++] = args[i];
    argv[na] = NULL;
    return ts_proc_start(env, TMDBQ_CONSUMER_BIN, argv, envv, label, p);
}

long ts_sql_long_quiet(const struct ts_env *env, const char *sql)
{
    PGconn *conn = ts_pg_connect(env->db_url, TS_PG_POLL_CONNECT_S);
    PGresult *res = NULL;
    char *end = NULL;
    long n = -1;

    if (PQstatus(conn) != CONNECTION_OK)
        goto out;
    res = PQexec(conn, sql);
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
        !PQgetisnull(res, 0, 0)) {
        errno = 0;
        n = strtol(PQgetvalue(res, 0, 0), &end, 10);
        if (errno != 0 || *end != '\0')
            n = -1;
    }
out:
    PQclear(res);
    PQfinish(conn);
    return n;
}

PGconn *ts_hold_list_lock(const struct ts_env *env, long list)
{
    PGconn *holder = ts_pg_connect(env->db_url, 5);
    PGresult *res = NULL;
    char sql[128];

    snprintf(sql, sizeof sql, "SELECT pg_advisory_lock(1952542578, hashtext('l:%ld'))",
             list);
    if (PQstatus(holder) == CONNECTION_OK)
        res = PQexec(holder, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "support: could not hold the lock of list %ld: %s", list,
                PQerrorMessage(holder));
        PQclear(res);
        PQfinish(holder);
        return NULL;
    }
    PQclear(res);
    return holder;
}

long ts_wait_finish_claim_blocked(const struct ts_env *env, long within_ms)
{
    long long t0 = ts_now_ms();
    long n;

    do {
        n = ts_sql_long_quiet(env, "SELECT count(*) FROM pg_stat_activity"
                                   " WHERE wait_event_type = 'Lock'"
                                   " AND query LIKE '%tmdbq_finish_claim%'");
        if (n != 0)
            return n;
        ts_sleep_ms(10);
    } while (ts_now_ms() - t0 < within_ms);
    return 0;
}

long ts_count_status(const struct ts_env *env, const char *status)
{
    char sql[160];

    if (!name_valid(status))
        return -1;
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM queued_list_operations WHERE status = '%s'", status);
    return ts_sql_long_quiet(env, sql);
}

long ts_wait_final(const struct ts_env *env, long within_ms)
{
    long long deadline = now_ms() + within_ms;
    long n, last = -1;

    for (;;) {
        n = ts_sql_long_quiet(env, "SELECT count(*) FROM queued_list_operations "
                                   "WHERE status IN ('pending', 'processing')");
        if (n >= 0)
            last = n;
        if (n == 0 || now_ms() >= deadline)
            return last;
        sleep_ms(100);
    }
}

long ts_wait_final_while(const struct ts_env *env, struct ts_proc *procs, size_t n,
                         long within_ms)
{
    long long deadline = now_ms() + within_ms;
    long c, last = -1;
    size_t i, alive;

    for (;;) {
        c = ts_sql_long_quiet(env, "SELECT count(*) FROM queued_list_operations "
                                   "WHERE status IN ('pending', 'processing')");
        if (c >= 0)
            last = c;
        if (c == 0 || now_ms() >= deadline)
            return last;
        for (i = 0, alive = 0; i < n; i++)
            alive += ts_proc_running(&procs[i]) ? 1 : 0;
        if (alive == 0) {
            fprintf(stderr,
                    "support: no consumer is running any more (%ld rows not final)\n",
                    last);
            return last;
        }
        sleep_ms(100);
    }
}

long ts_wait_completed(const struct ts_env *env, long n, long within_ms)
{
    long long deadline = now_ms() + within_ms;
    long c, last = -1;

    for (;;) {
        c = ts_count_status(env, "completed");
        if (c >= 0)
            last = c;
        if (c >= n || now_ms() >= deadline)
            return last;
        sleep_ms(20);
    }
}

void ts_dump_rows(const struct ts_env *env, int limit)
{
    char sql[1024];
    PGconn *conn = NULL;
    PGresult *res;
    int i;

    res = ts_sql_query(env,
                       "SELECT status, count(*) FROM queued_list_operations GROUP BY "
                       "status ORDER BY status",
                       TS_PG_CONNECT_S, &conn);
    for (i = 0; res != NULL && i < PQntuples(res); i++)
        fprintf(stderr, "rows: %s %s\n", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
    PQclear(res);
    PQfinish(conn);
    snprintf(
        sql, sizeof sql,
        "SELECT id, operation_type, tmdb_list_id, operation_data, status, retry_count, "
        "coalesce(error_kind, '-'), coalesce(error_message, '-'), "
        "coalesce(scheduled_for::text, '-'), published_at IS NOT NULL, "
        "coalesce(claimed_by, '-'), seq FROM queued_list_operations "
        "WHERE status <> 'completed' ORDER BY seq LIMIT %d",
        limit);
    res = ts_sql_query(env, sql, TS_PG_CONNECT_S, &conn);
    for (i = 0; res != NULL && i < PQntuples(res); i++)
        fprintf(stderr,
                "row: seq=%s %s %s list=%s %s %s retries=%s kind=%s error=\"%s\" "
                "scheduled_for=%s published=%s claimed_by=%s\n",
                PQgetvalue(res, i, 11), PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
                PQgetvalue(res, i, 2), PQgetvalue(res, i, 3), PQgetvalue(res, i, 4),
                PQgetvalue(res, i, 5), PQgetvalue(res, i, 6), PQgetvalue(res, i, 7),
                PQgetvalue(res, i, 8), PQgetvalue(res, i, 9), PQgetvalue(res, i, 10));
    PQclear(res);
    PQfinish(conn);
}

void ts_procs_init(struct ts_proc *procs, size_t n)
{
    size_t i;

    memset(procs, 0, n * sizeof *procs);
    for (i = 0; i < n; i++)
        procs[i].pid = -1;
}

int ts_consumers_start(struct ts_env *env, const struct ts_fake *f,
                       const char *const *extra_env, const char *const *args,
                       struct ts_proc *procs, size_t n)
{
    size_t i;
    int failed = 0;

    for (i = 0; i < n; i++)
        if (ts_consumer_start(env, f, extra_env, args, &procs[i]) != 0)
            failed++;
    return failed;
}

int ts_procs_stop(struct ts_proc *procs, size_t n, long within_ms)
{
    size_t i;
    int st, failed = 0;

    for (i = 0; i < n; i++) {
        st = ts_proc_stop(&procs[i], within_ms);
        if (st != 0) {
            fprintf(stderr, "support: %s: exit status %d on SIGTERM, expected 0\n",
                    procs[i].label[0] != '\0' ? procs[i].label : "(not started)", st);
            failed++;
        }
    }
    return failed;
}

void ts_procs_end(const struct ts_env *env, struct ts_proc *procs, size_t n, bool failed,
                  int rows, size_t tail)
{
    size_t i;

    if (failed) {
        ts_dump_rows(env, rows);
        for (i = 0; i < n; i++)
            if (procs[i].label[0] != '\0')
                ts_proc_dump(&procs[i], tail);
    }
    for (i = 0; i < n; i++)
        ts_proc_stop(&procs[i], 5000);
}

/* ---- the adds workload ---- */

int ts_adds_load(struct ts_env *env, const struct ts_fake *f, struct ts_adds *w,
                 const char *faults)
{
    char sess[64], *lines = NULL;
    long n, user;
    int i, k, failed = 0;

    for (user = 1; user <= 2; user++) {
        snprintf(sess, sizeof sess, "sess-%s-%ld", w->tag, user);
        if (ts_user(env, f, user, sess, NULL) != 0)
            failed++;
    }
    for (i = 0; i < w->nlists; i++)
        if (ts_fake_list(f, w->first_list + i, (long)(i % 2) + 1, NULL, 0) != 0)
            failed++;
    if (ts_fake_faults(f, faults) != 0)
        failed++;
    for (k = 0; k < w->per_list; k++)
        for (i = 0; i < w->nlists; i++)
            ts_appendf(&lines,
                       "{\"type\":\"add_movie\",\"user\":%ld,\"list\":%ld,"
                       "\"movie\":%ld}\n",
                       (long)(i % 2) + 1, w->first_list + i, w->first_movie + k);
    n = ts_enqueue_lines(env, lines, &w->ops);
    if (n != (long)w->nlists * w->per_list) {
        fprintf(stderr, "support: %s: %ld of %d adds enqueued\n", w->tag, n,
                w->nlists * w->per_list);
        failed++;
    }
    free(lines);
    return failed;
}

int ts_adds_check(const struct ts_env *env, const struct ts_fake *f,
                  const struct ts_adds *w, bool applied_only, long *extra)
{
    long nops = (long)w->nlists * w->per_list, completed, missing = -1, dup = -1, got;
    long *items;
    size_t max = (size_t)w->per_list + 8;
    json_t *reqs = NULL, *done = NULL;
    int i, failed = 0;

    completed = ts_count_status(env, "completed");
    if (completed != nops) {
        fprintf(stderr, "support: %s: %ld of %ld operations completed\n", w->tag,
                completed, nops);
        failed++;
    }
    reqs = ts_fake_requests(f);
    done = reqs != NULL && applied_only ? ts_fake_applied(reqs) : json_incref(reqs);
    if (done == NULL || ts_fake_compare_writes(done, w->ops, &missing, &dup) != 0) {
        fprintf(stderr, "support: %s: could not compare the fake's writes\n", w->tag);
        failed++;
    }
    printf("%s: duplicate TMDB writes: %ld; missing: %ld\n", w->tag, dup, missing);
    if (missing != 0) {
        fprintf(stderr, "support: %s: %ld operations without their TMDB write\n", w->tag,
                missing);
        failed++;
    }
    items = calloc(max, sizeof *items);
    if (items == NULL)
        abort();
    for (i = 0; i < w->nlists; i++) {
        got = ts_fake_list_items(f, w->first_list + i, items, max);
        if (got != w->per_list) {
            fprintf(stderr, "support: %s: list %ld holds %ld movies, expected %d\n",
                    w->tag, w->first_list + i, got, w->per_list);
            failed++;
        }
    }
    free(items);
    json_decref(done);
    json_decref(reqs);
    if (extra != NULL)
        *extra = dup;
    return failed;
}

void ts_adds_free(struct ts_adds *w)
{
    json_decref(w->ops);
    w->ops = NULL;
}

int ts_conflict_load(const struct ts_fake *f, const struct ts_conflict *w, char **lines)
{
    static const long none[] = {0};
    int failed = 0;

    for (int i = 0; i < w->nlists; i++)
        failed += ts_fake_list(f, w->first_list + i, i % 2 + 1, none, 0) != 0;
    for (int k = 0; k < w->per_list; k++) {
        for (int i = 0; i < w->nlists; i++) {
            int user = i % 2 + 1;
            long list = w->first_list + i;

            if (k < 3)
                ts_appendf(
                    lines, "{\"type\":\"%s\",\"user\":%d,\"list\":%ld,\"movie\":%ld}\n",
                    k == 1 ? "remove_movie" : "add_movie", user, list, w->conflict_movie);
            else
                ts_appendf(lines,
                           "{\"type\":\"add_movie\",\"user\":%d,\"list\":%ld,"
                           "\"movie\":%ld}\n",
                           user, list, w->first_movie + k);
        }
    }
    return failed;
}

int ts_conflict_check(const struct ts_fake *f, const struct ts_conflict *w)
{
    long *items = calloc((size_t)w->per_list + 8, sizeof *items);
    int failed = 0;

    if (items == NULL)
        return w->nlists;
    for (int i = 0; i < w->nlists; i++) {
        long list = w->first_list + i;
        long got = ts_fake_list_items(f, list, items, (size_t)w->per_list + 8);
        bool has_conflict = false;

        for (long j = 0; j < got; j++)
            has_conflict = has_conflict || items[j] == w->conflict_movie;
        if (got != w->per_list - 3 + 1 || !has_conflict) {
            fprintf(stderr, "list %ld holds %ld movies (expected %d), movie %ld %s\n",
                    list, got, w->per_list - 3 + 1, w->conflict_movie,
                    has_conflict ? "among them" : "missing");
            failed++;
        }
    }
    free(items);
    return failed;
}

/* ---- private services ---- */

/* The prefix that runs a command as user when we are root ("runuser -u USER --"), or
 * nothing; returns how many argv slots it took. */
static size_t as_user(const char *user, const char **argv)
{
    if (geteuid() != 0)
        return 0;
    argv[0] = "runuser";
    argv[1] = "-u";
    argv[2] = user;
    argv[3] = "--";
    return 4;
}

/* Give dir (and what is in it) to user when we are root, so the server can write. */
static int give_to(const char *user, const char *dir)
{
    const char *argv[] = {"chown", "-R", user, "--", dir, NULL};
    struct passwd *pw;

    if (geteuid() != 0)
        return 0;
    pw = getpwnam(user);
    if (pw == NULL) {
        fprintf(stderr, "support: no user \"%s\" on this machine\n", user);
        return -1;
    }
    return run_cmd(argv, NULL, NULL, 30000, NULL) == 0 ? 0 : -1;
}

static int make_service_dir(const char *kind, char *dir, size_t n)
{
    snprintf(dir, n, "%s/tmdbq_%s_%ld_XXXXXX", env_or("TMPDIR", "/tmp"), kind,
             (long)getpid());
    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "support: mkdtemp %s: %s\n", dir, strerror(errno));
        dir[0] = '\0';
        return -1;
    }
    chmod(dir, 0755);
    return 0;
}

static void print_file_tail(const char *what, const char *path, size_t tail)
{
    char *text = file_text(path);
    size_t len = strlen(text);

    fprintf(stderr, "---- %s (%s) ----\n%s\n----\n", what, path,
            len > tail ? text + len - tail : text);
    free(text);
}

/*
 * A watchdog for a private server: a detached grandchild (its own session, so it outlives
 * us and whatever kills our process tree) that blocks reading a pipe only we can write.
 * End of file means we died without cleaning up: it runs stop(arg) and exits. A normal
 * teardown writes one byte first, which tells it to exit without doing anything. Returns
 * the pipe's write end (close-on-exec, so no other child holds it open), or -1.
 */
static int watchdog_start(void (*stop)(void *), void *arg)
{
    int fds[2], fd;
    pid_t pid, p;
    char b;
    ssize_t n;

    if (pipe(fds) != 0)
        return -1;
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        setsid();
        p = fork();
        if (p != 0)
            _exit(p < 0 ? 1 : 0);
        /* Hold nothing of the test's: sockets kept open here would outlive their close.
         */
        for (fd = 3; fd < 1024; fd++) {
            if (fd != fds[0])
                close(fd);
        }
        fd = open("/dev/null", O_RDWR);
        if (fd >= 0) {
            dup2(fd, 0);
            dup2(fd, 1);
            dup2(fd, 2);
            if (fd > 2)
                close(fd);
        }
        do {
            n = read(fds[0], &b, 1);
        } while (n < 0 && errno == EINTR);
        if (n == 0)
            stop(arg);
        _exit(0);
    }
    close(fds[0]);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    return fds[1];
}

/* Tell the watchdog that teardown was done here: it exits without acting. */
static void watchdog_release(int *fd)
{
    if (*fd < 0)
        return;
    if (write(*fd, "x", 1) != 1)
        fprintf(stderr, "support: could not release a watchdog: %s\n", strerror(errno));
    close(*fd);
    *fd = -1;
}

static void pg_watchdog_stop(void *arg)
{
    struct ts_pg *pg = arg;

    pg->running = true;
    ts_pg_stop(pg, "immediate");
    remove_tree(pg->dir);
}

static void rabbit_watchdog_stop(void *arg)
{
    struct ts_rabbit *rb = arg;

    rb->running = true;
    ts_rabbit_stop(rb);
    remove_tree(rb->dir);
}

static const char *pg_bin(const char *tool, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%s", env_or("TMDBQ_PG_BINDIR", TS_PG_BINDIR), tool);
    return buf;
}

int ts_pg_start(struct ts_pg *pg)
{
    char initdb[320], pg_ctl[320], data[300], log[300], opts[400], why[512];
    const char *argv[24];
    size_t k;
    long long deadline;
    PGconn *c;

    pg_bin("initdb", initdb, sizeof initdb);
    pg_bin("pg_ctl", pg_ctl, sizeof pg_ctl);
    if (access(initdb, X_OK) != 0 || access(pg_ctl, X_OK) != 0) {
        snprintf(why, sizeof why, "%s: %s (set TMDBQ_PG_BINDIR)", initdb,
                 strerror(errno));
        return unavailable("a private PostgreSQL", why);
    }
    ensure_atexit();
    if (pg->dir[0] == '\0') {
        memset(pg, 0, sizeof *pg);
        pg->watchdog_fd = -1;
        if (make_service_dir("pg", pg->dir, sizeof pg->dir) != 0 ||
            give_to("postgres", pg->dir) != 0)
            return 1;
        pg->port = ts_free_port();
        snprintf(pg->admin_url, sizeof pg->admin_url,
                 "postgresql://tmdbq@127.0.0.1:%d/postgres", pg->port);
        snprintf(data, sizeof data, "%s/data", pg->dir);
        snprintf(log, sizeof log, "%s/initdb.log", pg->dir);
        k = as_user("postgres", argv);
        argv[k++] = initdb;
        argv[k++] = "-D";
        argv[k++] = data;
        argv[k++] = "-U";
        argv[k++] = "tmdbq";
        argv[k++] = "--auth=trust";
        argv[k++] = "-E";
        argv[k++] = "UTF8";
        argv[k++] = "--no-sync";
        argv[k] = NULL;
        live_note((void **)live_pg, pg, true);
        pg->watchdog_fd = watchdog_start(pg_watchdog_stop, pg);
        if (run_cmd(argv, NULL, pg->dir, TS_PG_CMD_MS, log) != 0) {
            fprintf(stderr, "support: initdb failed\n");
            print_file_tail("initdb", log, 3000);
            return 1;
        }
    }
    snprintf(data, sizeof data, "%s/data", pg->dir);
    snprintf(log, sizeof log, "%s/server.log", pg->dir);
    /* fsync off: the machine does not crash in these tests, only the server restarts. */
    snprintf(
        opts, sizeof opts,
        "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100",
        pg->port, pg->dir);
    k = as_user("postgres", argv);
    argv[k++] = pg_ctl;
    argv[k++] = "-D";
    argv[k++] = data;
    argv[k++] = "-o";
    argv[k++] = opts;
    argv[k++] = "-l";
    argv[k++] = log;
    argv[k++] = "-w";
    argv[k++] = "-t";
    argv[k++] = "50";
    argv[k++] = "start";
    argv[k] = NULL;
    live_note((void **)live_pg, pg, true);
    if (run_cmd(argv, NULL, pg->dir, TS_PG_CMD_MS, NULL) != 0) {
        fprintf(stderr, "support: pg_ctl start failed\n");
        print_file_tail("private PostgreSQL", log, 3000);
        return 1;
    }
    pg->running = true;
    /* pg_ctl -w has seen it accept connections; check the URL the tests will use. */
    deadline = now_ms() + 10000;
    for (;;) {
        c = ts_pg_connect(pg->admin_url, TS_PG_CONNECT_S);
        if (PQstatus(c) == CONNECTION_OK) {
            PQfinish(c);
            return 0;
        }
        if (now_ms() >= deadline) {
            fprintf(stderr, "support: private PostgreSQL: %s", PQerrorMessage(c));
            PQfinish(c);
            return 1;
        }
        PQfinish(c);
        sleep_ms(50);
    }
}

int ts_pg_stop(struct ts_pg *pg, const char *mode)
{
    char pg_ctl[320], data[300], log[300];
    const char *argv[16];
    size_t k;

    if (!pg->running)
        return 0;
    pg_bin("pg_ctl", pg_ctl, sizeof pg_ctl);
    snprintf(data, sizeof data, "%s/data", pg->dir);
    snprintf(log, sizeof log, "%s/pg_ctl.log", pg->dir);
    k = as_user("postgres", argv);
    argv[k++] = pg_ctl;
    argv[k++] = "-D";
    argv[k++] = data;
    argv[k++] = "-m";
    argv[k++] = mode;
    argv[k++] = "-w";
    argv[k++] = "-t";
    argv[k++] = "50";
    argv[k++] = "stop";
    argv[k] = NULL;
    if (run_cmd(argv, NULL, pg->dir, TS_PG_CMD_MS, log) != 0) {
        fprintf(stderr, "support: pg_ctl stop -m %s failed\n", mode);
        print_file_tail("pg_ctl", log, 2000);
        return -1;
    }
    pg->running = false;
    return 0;
}

void ts_pg_destroy(struct ts_pg *pg)
{
    if (pg->dir[0] == '\0')
        return;
    if (pg->running)
        ts_pg_stop(pg, "immediate");
    if (getenv("TMDBQ_TEST_KEEP") != NULL)
        fprintf(stderr, "support: kept private PostgreSQL directory %s\n", pg->dir);
    else
        remove_tree(pg->dir);
    watchdog_release(&pg->watchdog_fd);
    pg->dir[0] = '\0';
    live_note((void **)live_pg, pg, false);
}

/* The RabbitMQ scripts: Debian's real ones (the /usr/sbin wrappers refuse to run as
 * anyone but root or rabbitmq and drop our environment), else whatever PATH has. */
static const char *rabbit_tool(const char *tool, char *buf, size_t n)
{
    snprintf(buf, n, "/usr/lib/rabbitmq/bin/%s", tool);
    if (access(buf, X_OK) != 0)
        snprintf(buf, n, "%s", tool);
    return buf;
}

/* The environment every rabbitmq-server / rabbitmqctl call of this node gets, as argv
 * entries for env(1) into argv from slot k; returns the new k. bufs holds the strings. */
static size_t rabbit_env(const struct ts_rabbit *rb, const char **argv, size_t k,
                         char bufs[][320])
{
    const struct passwd *pw = geteuid() == 0 ? getpwnam("rabbitmq") : NULL;
    int b = 0;

    argv[k++] = "env";
    if (pw != NULL) {
        snprintf(bufs[b], 320, "HOME=%s", pw->pw_dir);
        argv[k++] = bufs[b++];
    }
    snprintf(bufs[b], 320, "RABBITMQ_NODENAME=%s", rb->node);
    argv[k++] = bufs[b++];
    argv[k++] = "RABBITMQ_NODE_IP_ADDRESS=127.0.0.1";
    snprintf(bufs[b], 320, "RABBITMQ_NODE_PORT=%d", rb->port);
    argv[k++] = bufs[b++];
    snprintf(bufs[b], 320, "RABBITMQ_DIST_PORT=%d", rb->dist_port);
    argv[k++] = bufs[b++];
    snprintf(bufs[b], 320, "RABBITMQ_MNESIA_BASE=%s/mnesia", rb->dir);
    argv[k++] = bufs[b++];
    snprintf(bufs[b], 320, "RABBITMQ_LOG_BASE=%s/log", rb->dir);
    argv[k++] = bufs[b++];
    snprintf(bufs[b], 320, "RABBITMQ_ENABLED_PLUGINS_FILE=%s/enabled_plugins", rb->dir);
    argv[k++] = bufs[b++];
    snprintf(bufs[b], 320, "RABBITMQ_CONFIG_FILE=%s/rabbitmq.conf", rb->dir);
    argv[k++] = bufs[b++];
    snprintf(bufs[b], 320, "RABBITMQ_ADVANCED_CONFIG_FILE=%s/advanced.config", rb->dir);
    argv[k++] = bufs[b++];
    snprintf(bufs[b], 320, "RABBITMQ_CONF_ENV_FILE=%s/rabbitmq-env.conf", rb->dir);
    argv[k++] = bufs[b++];
    snprintf(bufs[b], 320, "RABBITMQ_PID_FILE=%s/pid", rb->dir);
    argv[k++] = bufs[b++];
    /* Erlang distribution on loopback only, like everything else here. */
    argv[k++] = "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface "
                "{127,0,0,1}";
    return k;
}

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644), rc;

    if (fd < 0)
        return -1;
    rc = write_all(fd, text, strlen(text));
    if (close(fd) != 0)
        rc = -1;
    return rc;
}

static int rabbit_nodes; /* private nodes this process has made */

int ts_rabbit_start(struct ts_rabbit *rb)
{
    char server[320], ctl[320], bufs[16][320], path[320], log[320], why[512], host[32],
        port[16], nodelog[400];
    const char *argv[48];
    long long deadline;
    size_t k;

    rabbit_tool("rabbitmq-server", server, sizeof server);
    rabbit_tool("rabbitmqctl", ctl, sizeof ctl);
    if (server[0] != '/' || ctl[0] != '/') {
        /* Not the Debian layout: the tools must be on PATH; a failed start says so. */
        if (run_cmd((const char *[]){"sh", "-c", "command -v rabbitmq-server", NULL},
                    NULL, NULL, 10000, NULL) != 0) {
            snprintf(why, sizeof why, "rabbitmq-server is not installed");
            return unavailable("a private RabbitMQ", why);
        }
    }
    ensure_atexit();
    if (rb->dir[0] == '\0') {
        memset(rb, 0, sizeof *rb);
        rb->watchdog_fd = -1;
        if (make_service_dir("rmq", rb->dir, sizeof rb->dir) != 0)
            return 1;
        snprintf(path, sizeof path, "%s/enabled_plugins", rb->dir);
        if (write_file(path, "[].\n") != 0)
            return 1;
        snprintf(path, sizeof path, "%s/rabbitmq.conf", rb->dir);
        if (write_file(path, "") != 0)
            return 1;
        snprintf(path, sizeof path, "%s/rabbitmq-env.conf", rb->dir);
        if (write_file(path, "") != 0)
            return 1;
        if (give_to("rabbitmq", rb->dir) != 0)
            return 1;
        /* One name per node of this process: a cluster's nodes are started by one test.
         */
        snprintf(rb->node, sizeof rb->node, "tmdbqt%ldn%d@localhost", (long)getpid(),
                 ++rabbit_nodes);
        rb->port = ts_free_port();
        do {
            rb->dist_port = ts_free_port();
        } while (rb->dist_port == rb->port);
        snprintf(rb->url, sizeof rb->url, "amqp://guest:guest@127.0.0.1:%d/%%2f",
                 rb->port);
        rb->watchdog_fd = watchdog_start(rabbit_watchdog_stop, rb);
    }
    snprintf(log, sizeof log, "%s/start.log", rb->dir);
    snprintf(path, sizeof path, "%s/pid", rb->dir);
    unlink(path);
    live_note((void **)live_rabbit, rb, true);

    k = as_user("rabbitmq", argv);
    k = rabbit_env(rb, argv, k, bufs);
    argv[k++] = server;
    argv[k++] = "-detached";
    argv[k] = NULL;
    rb->running = true; /* from here on, stop it at the end whatever happens */
    if (run_cmd(argv, NULL, rb->dir, 30000, log) != 0) {
        fprintf(stderr, "support: rabbitmq-server -detached failed\n");
        print_file_tail("rabbitmq-server", log, 3000);
        return 1;
    }
    k = as_user("rabbitmq", argv);
    k = rabbit_env(rb, argv, k, bufs);
    argv[k++] = ctl;
    argv[k++] = "-n";
    argv[k++] = rb->node;
    argv[k++] = "wait";
    argv[k++] = path;
    argv[k++] = "--timeout";
    argv[k++] = "80";
    argv[k] = NULL;
    if (run_cmd(argv, NULL, rb->dir, TS_RABBIT_CMD_MS, log) != 0) {
        fprintf(stderr, "support: private RabbitMQ %s did not start\n", rb->node);
        print_file_tail("rabbitmqctl wait", log, 3000);
        snprintf(nodelog, sizeof nodelog, "%s/log/%s.log", rb->dir, rb->node);
        print_file_tail("node log", nodelog, 4000);
        return 1;
    }
    snprintf(host, sizeof host, "127.0.0.1");
    snprintf(port, sizeof port, "%d", rb->port);
    deadline = now_ms() + 15000;
    while (!tcp_reachable(host, port, why, sizeof why)) {
        if (now_ms() >= deadline) {
            fprintf(stderr, "support: private RabbitMQ: %s\n", why);
            return 1;
        }
        sleep_ms(50);
    }
    return 0;
}

/* The node's OS pid from its pid file, or -1. */
static long rabbit_pid(const struct ts_rabbit *rb)
{
    char path[320];

    snprintf(path, sizeof path, "%s/pid", rb->dir);
    return read_number_file(path, 0x7fffffffL);
}

int ts_rabbit_stop(struct ts_rabbit *rb)
{
    char ctl[320], bufs[16][320], path[320], log[320];
    const char *argv[48];
    long pid;
    size_t k;
    int rc;

    if (!rb->running)
        return 0;
    rabbit_tool("rabbitmqctl", ctl, sizeof ctl);
    snprintf(path, sizeof path, "%s/pid", rb->dir);
    snprintf(log, sizeof log, "%s/stop.log", rb->dir);
    pid = rabbit_pid(rb);
    k = as_user("rabbitmq", argv);
    k = rabbit_env(rb, argv, k, bufs);
    argv[k++] = ctl;
    argv[k++] = "-n";
    argv[k++] = rb->node;
    argv[k++] = "stop";
    argv[k++] = path; /* wait until the OS process is gone */
    argv[k] = NULL;
    rc = run_cmd(argv, NULL, rb->dir, TS_RABBIT_STOP_MS, log);
    if (pid <= 0) /* it was still booting: the pid file may be there now */
        pid = rabbit_pid(rb);
    if (pid > 0 && kill((pid_t)pid, 0) == 0) {
        if (rc != 0)
            fprintf(stderr, "support: rabbitmqctl stop failed; killing node pid %ld\n",
                    pid);
        else
            sleep_ms(500);
        if (kill((pid_t)pid, 0) == 0)
            kill((pid_t)pid, SIGKILL);
        rc = rc == 0 ? 0 : -1;
    }
    if (rc != 0)
        print_file_tail("rabbitmqctl stop", log, 2000);
    rb->running = false;
    return rc == 0 ? 0 : -1;
}

void ts_rabbit_destroy(struct ts_rabbit *rb)
{
    if (rb->dir[0] == '\0')
        return;
    if (rb->running)
        ts_rabbit_stop(rb);
    if (getenv("TMDBQ_TEST_KEEP") != NULL)
        fprintf(stderr, "support: kept private RabbitMQ directory %s\n", rb->dir);
    else
        remove_tree(rb->dir);
    watchdog_release(&rb->watchdog_fd);
    rb->dir[0] = '\0';
    live_note((void **)live_rabbit, rb, false);
}

int ts_rabbit_ctl(const struct ts_rabbit *rb, const char *const *args, char *out,
                  size_t n)
{
    char ctl[320], bufs[16][320], log[320];
    const char *argv[64];
    size_t k, i;
    int rc;

    rabbit_tool("rabbitmqctl", ctl, sizeof ctl);
    snprintf(log, sizeof log, "%s/ctl.log", rb->dir);
    k = as_user("rabbitmq", argv);
    k = rabbit_env(rb, argv, k, bufs);
    argv[k++] = ctl;
    argv[k++] = "-n";
    argv[k++] = rb->node;
    for (i = 0; args[i] != NULL && k < sizeof argv / sizeof argv[0] - 1; i++)
        argv[k++] = args[i];
    argv[k] = NULL;
    rc = run_cmd(argv, NULL, rb->dir, TS_RABBIT_CMD_MS, log);
    if (out != NULL && n > 0) {
        FILE *f = fopen(log, "r");
        size_t got = f != NULL ? fread(out, 1, n - 1, f) : 0;

        out[got] = '\0';
        if (f != NULL)
            fclose(f);
    }
    if (rc != 0) {
        fprintf(stderr, "support: rabbitmqctl -n %s %s failed\n", rb->node, args[0]);
        print_file_tail("rabbitmqctl", log, 2000);
    }
    return rc == 0 ? 0 : -1;
}

int ts_rabbit_cluster_start(struct ts_rabbit *nodes, int n, char *urls, size_t urls_n)
{
    const char *stop_app[] = {"stop_app", NULL}, *start_app[] = {"start_app", NULL};
    const char *join[] = {"join_cluster", nodes[0].node, NULL};
    size_t len = 0;
    int i, rc;

    for (i = 0; i < n; i++) {
        rc = ts_rabbit_start(&nodes[i]);
        if (rc != 0)
            return rc;
    }
    for (i = 1; i < n; i++) {
        join[1] = nodes[0].node;
        if (ts_rabbit_ctl(&nodes[i], stop_app, NULL, 0) != 0 ||
            ts_rabbit_ctl(&nodes[i], join, NULL, 0) != 0 ||
            ts_rabbit_ctl(&nodes[i], start_app, NULL, 0) != 0)
            return 1;
    }
    urls[0] = '\0';
    for (i = 0; i < n; i++)
        len += (size_t)snprintf(urls + len, len < urls_n ? urls_n - len : 0, "%s%s",
                                i > 0 ? "," : "", nodes[i].url);
    return len < urls_n ? 0 : 1;
}

int ts_pg_standby_start(const struct ts_pg *primary, struct ts_pg *standby)
{
    char basebackup[320], data[300], log[300], port[16];
    const char *argv[24];
    size_t k;

    pg_bin("pg_basebackup", basebackup, sizeof basebackup);
    ensure_atexit();
    memset(standby, 0, sizeof *standby);
    standby->watchdog_fd = -1;
    if (make_service_dir("pg", standby->dir, sizeof standby->dir) != 0 ||
        give_to("postgres", standby->dir) != 0)
        return 1;
    standby->port = ts_free_port();
    snprintf(standby->admin_url, sizeof standby->admin_url,
             "postgresql://tmdbq@127.0.0.1:%d/postgres", standby->port);
    snprintf(data, sizeof data, "%s/data", standby->dir);
    snprintf(log, sizeof log, "%s/basebackup.log", standby->dir);
    snprintf(port, sizeof port, "%d", primary->port);
    live_note((void **)live_pg, standby, true);
    standby->watchdog_fd = watchdog_start(pg_watchdog_stop, standby);
    /* A streaming standby (-R writes primary_conninfo and standby.signal): asynchronous
     * replication, PostgreSQL's default. */
    k = as_user("postgres", argv);
    argv[k++] = basebackup;
    argv[k++] = "-D";
    argv[k++] = data;
    argv[k++] = "-h";
    argv[k++] = "127.0.0.1";
    argv[k++] = "-p";
    argv[k++] = port;
    argv[k++] = "-U";
    argv[k++] = "tmdbq";
    argv[k++] = "-X";
    argv[k++] = "stream";
    argv[k++] = "-R";
    argv[k++] = "--no-sync";
    argv[k] = NULL;
    if (run_cmd(argv, NULL, standby->dir, TS_PG_CMD_MS, log) != 0) {
        fprintf(stderr, "support: pg_basebackup failed\n");
        print_file_tail("pg_basebackup", log, 3000);
        return 1;
    }
    return ts_pg_start(standby);
}

int ts_pg_promote(struct ts_pg *pg)
{
    char pg_ctl[320], data[300], log[300];
    const char *argv[16];
    size_t k;

    pg_bin("pg_ctl", pg_ctl, sizeof pg_ctl);
    snprintf(data, sizeof data, "%s/data", pg->dir);
    snprintf(log, sizeof log, "%s/promote.log", pg->dir);
    k = as_user("postgres", argv);
    argv[k++] = pg_ctl;
    argv[k++] = "-D";
    argv[k++] = data;
    argv[k++] = "-w";
    argv[k++] = "-t";
    argv[k++] = "50";
    argv[k++] = "promote";
    argv[k] = NULL;
    if (run_cmd(argv, NULL, pg->dir, TS_PG_CMD_MS, log) != 0) {
        fprintf(stderr, "support: pg_ctl promote failed\n");
        print_file_tail("pg_ctl promote", log, 2000);
        return -1;
    }
    return 0;
}

/* ---- reaper tests ---- */

const char *ts_reaper_bin(void)
{
#ifdef TMDBQ_REAPER_BIN
    return TMDBQ_REAPER_BIN;
#else
    /* The build puts every program under its source directory's name: <build>/consumer/
     * tmdbq-consumer, <build>/reaper/tmdbq-reaper. */
    static char path[1024];
    const char *consumer = TMDBQ_CONSUMER_BIN;
    const char *tail = "consumer/tmdbq-consumer";
    size_t n = strlen(consumer), t = strlen(tail);

    if (path[0] == '\0') {
        if (n >= t && strcmp(consumer + n - t, tail) == 0)
            snprintf(path, sizeof path, "%.*sreaper/tmdbq-reaper", (int)(n - t),
                     consumer);
        else
            snprintf(path, sizeof path, "tmdbq-reaper");
    }
    return path;
#endif
}

int ts_reaper_start(struct ts_env *env, const char *const *extra_env,
                    const char *const *args, struct ts_proc *p)
{
    char e_db[320], e_prefix[128], e_amqp[300], e_max[48], e_base[48], e_cap[48],
        label[48];
    const char *envv[TS_ARGS_MAX], *argv[TS_ARGS_MAX];
    const char *bin = ts_reaper_bin();
    size_t ne = 0, na = 0, i;

    if (access(bin, X_OK) != 0) {
        fprintf(stderr, "support: %s is not executable: %s\n", bin, strerror(errno));
        memset(p, 0, sizeof *p);
        p->pid = -1;
        p->status = -1;
        return -1;
    }
    snprintf(e_db, sizeof e_db, "TMDBQ_DATABASE_URL=%s", env->db_url);
    snprintf(e_prefix, sizeof e_prefix, "TMDBQ_AMQP_PREFIX=%s", env->prefix);
    snprintf(e_amqp, sizeof e_amqp, "TMDBQ_AMQP_URL=%s", env->amqp_url);
    envv[ne++] = e_db;
    envv[ne++] = e_prefix;
    envv[ne++] = e_amqp;
    if (env->has_policy) {
        snprintf(e_max, sizeof e_max, "TMDBQ_MAX_RETRIES=%d", env->max_retries);
        snprintf(e_base, sizeof e_base, "TMDBQ_BACKOFF_BASE=%lldms",
                 env->backoff_base_ms);
        snprintf(e_cap, sizeof e_cap, "TMDBQ_BACKOFF_CAP=%lldms", env->backoff_cap_ms);
        envv[ne++] = e_max;
        envv[ne++] = e_base;
        envv[ne++] = e_cap;
    }
    envv[ne++] = "TMDBQ_SWEEP_INTERVAL=1s";
    envv[ne++] = "TMDBQ_CONNECT_TIMEOUT=2s";
    envv[ne++] = "TMDBQ_LOG_LEVEL=debug";
    for (i = 0; extra_env != NULL && extra_env[i] != NULL && ne < TS_ARGS_MAX - 1; i++)
        envv[ne++] = extra_env[i];
    envv[ne] = NULL;

    snprintf(label, sizeof label, "r%d", ++env->nprocs);
    argv[na++] = "tmdbq-reaper";
    for (i = 0; args != NULL && args[i] != NULL && na < TS_ARGS_MAX - 1; i++)
        argv[na++] = args[i];
    argv[na] = NULL;
    return ts_proc_start(env, bin, argv, envv, label, p);
}

int ts_reaper_once(struct ts_env *env, const char *const *extra_env, char **err)
{
    static const char *const once[] = {"--once", NULL};
    struct ts_proc p;
    int status;

    if (err != NULL)
        *err = NULL;
    if (ts_reaper_start(env, extra_env, once, &p) != 0)
        return -1;
    status = ts_proc_wait(&p, TS_RUN_LIMIT_MS);
    if (status == -1 && p.pid > 0) {
        fprintf(stderr,
                "support: tmdbq-reaper --once still running after %d ms, killing it\n",
                TS_RUN_LIMIT_MS);
        ts_proc_signal(&p, SIGKILL);
        status = ts_proc_wait(&p, 10000);
    }
    if (err != NULL)
        *err = ts_proc_stderr(&p);
    return status;
}

long ts_count_published(const struct ts_env *env, const char *status)
{
    char sql[200];

    if (!name_valid(status))
        return -1;
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM queued_list_operations WHERE status = '%s' AND "
             "published_at IS NOT NULL",
             status);
    return ts_sql_long_quiet(env, sql);
}

long ts_enqueue_lines_env(struct ts_env *env, const char *const *extra_env,
                          const char *lines, json_t **ops)
{
    struct ts_result r = {0, NULL, NULL};
    json_t *out = NULL, *all = json_array(), *line;
    long n = -1;
    size_t i;

    if (ops != NULL)
        *ops = NULL;
    ts_run(env, extra_env, lines, &r, "enqueue", "--file", "-", "--json",
           (const char *)NULL);
    if (r.status != 0) {
        ts_result_dump("tmdbq enqueue --file -", &r);
        goto out;
    }
    out = ts_json_lines(r.out);
    if (out == NULL)
        goto out;
    json_array_foreach(out, i, line)
    {
        json_t *op = json_object_get(line, "operation");

        if (ts_json_bool(line, "ok") != 1 || !json_is_object(op)) {
            fprintf(stderr, "support: enqueue refused a line: %s\n",
                    ts_json_str(line, "error") ? ts_json_str(line, "error") : "?");
            goto out;
        }
        if (ts_json_bool(op, "duplicate") == 1) {
            fprintf(stderr, "support: enqueue line %lld was a duplicate\n",
                    ts_json_int(line, "line", -1));
            goto out;
        }
        json_array_append(all, op);
    }
    n = (long)json_array_size(all);
    if (ops != NULL) {
        *ops = all;
        all = NULL;
    }
out:
    json_decref(all);
    json_decref(out);
    ts_result_free(&r);
    return n;
}

int ts_dead_amqp_env(char *buf, size_t n)
{
    int port = ts_free_port();

    if (port <= 0) {
        fprintf(stderr, "support: no free port for a dead broker URL\n");
        return -1;
    }
    snprintf(buf, n, "TMDBQ_AMQP_URL=amqp://guest:guest@127.0.0.1:%d/%%2f", port);
    return 0;
}

long ts_reaper_sweeps(const struct ts_proc *p)
{
    char *text = ts_proc_stderr(p);
    const char *at = text;
    long n = 0;

    while ((at = strstr(at, " sweep: ")) != NULL) {
        n++;
        at++;
    }
    free(text);
    return n;
}

long ts_reaper_wait_sweeps(const struct ts_proc *p, long n, long within_ms)
{
    long long deadline = now_ms() + within_ms;
    long seen;

    for (;;) {
        seen = ts_reaper_sweeps(p);
        if (seen >= n || now_ms() >= deadline)
            return seen;
        sleep_ms(50);
    }
}
