/*
 * test_cli_bulk_lines: the lines `tmdbq enqueue --file` must refuse without harm.
 *
 * A line longer than the limit (1 MiB) is refused with its line number, and reading it
 * costs no more memory than the limit: the peak RSS of a run fed a 50 MB line through
 * stdin stays close to that of a run fed a short one (wait4's rusage of the child). A
 * line holding a NUL byte is refused too, instead of being cut at the NUL and enqueued.
 * Either way the lines around it are still enqueued and the exit status is 2.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "support.h"

#define LIMIT (1024 * 1024)
#define HUGE_LINE (50L * 1024 * 1024)
/* How much more the huge run may take than the short one: the limit's buffer, stdio's,
 * and noise; the huge line itself is 50 times that. */
#define RSS_SLACK_KB (8 * 1024)

/* The tmdbq binary: the build puts it at <build>/producer/tmdbq, and this test at
 * <build>/tests/. support.c knows it as TMDBQ_BIN, a definition of its own build. */
static const char *tmdbq_bin(void)
{
    static char path[1024];
    char self[900];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    char *slash;

    if (n <= 0)
        return NULL;
    self[n] = '\0';
    slash = strrchr(self, '/');
    if (slash == NULL)
        return NULL;
    *slash = '\0';
    snprintf(path, sizeof path, "%s/../producer/tmdbq", self);
    return access(path, X_OK) == 0 ? path : NULL;
}

/* Run tmdbq --json enqueue --file - with the file at in_path as its standard input, and
 * return its peak RSS in kB (-1 when it could not run); *status gets its exit status and
 * *out its stdout (malloc'd, the caller frees). posix_spawn (vfork-like on glibc) gives
 * the child no copy of this process's pages, and wait4 reports the child alone, so the
 * figure is what tmdbq itself used. */
static long run_measured(const struct ts_env *env, const char *in_path, int *status,
                         char **out)
{
    extern char **environ;
    const char *bin = tmdbq_bin();
    char *argv[] = {"tmdbq", "--json", "enqueue", "--file", "-", NULL};
    char e_db[300], e_prefix[128], out_path[] = "/tmp/tmdbq_test_out_XXXXXX";
    char **envp = NULL;
    posix_spawn_file_actions_t fa;
    struct rusage ru;
    size_t n = 0, k = 0, cap = 4096, len = 0;
    long rss = -1;
    pid_t pid;
    int ws = 0, out_fd;
    FILE *f;

    *status = -1;
    *out = NULL;
    if (bin == NULL) {
        fprintf(stderr, "the tmdbq binary is not next to this test's build directory\n");
        return -1;
    }
    out_fd = mkstemp(out_path);
    if (out_fd < 0)
        return -1;
    close(out_fd);
    while (environ[n] != NULL)
        n++;
    envp = calloc(n + 3, sizeof *envp);
    if (envp == NULL)
        goto out;
    snprintf(e_db, sizeof e_db, "TMDBQ_DATABASE_URL=%s", env->db_url);
    snprintf(e_prefix, sizeof e_prefix, "TMDBQ_AMQP_PREFIX=%s", env->prefix);
    for (size_t i = 0; i < n; i++) {
        if (strncmp(environ[i], "TMDBQ_DATABASE_URL=", 19) != 0 &&
            strncmp(environ[i], "TMDBQ_AMQP_PREFIX=", 18) != 0)
            envp[k++] = environ[i];
    }
    envp[k++] = e_db;
    envp[k++] = e_prefix;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, in_path, O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_TRUNC, 0);
    if (posix_spawn(&pid, bin, &fa, NULL, argv, envp) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        goto out;
    }
    posix_spawn_file_actions_destroy(&fa);
    while (wait4(pid, &ws, 0, &ru) < 0) {
        if (errno != EINTR)
            goto out;
    }
    *status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    rss = ru.ru_maxrss;
    f = fopen(out_path, "r");
    *out = malloc(cap);
    while (f != NULL && *out != NULL) {
        size_t got = fread(*out + len, 1, cap - len - 1, f);

        len += got;
        if (got == 0)
            break;
        if (len + 1 == cap) {
            char *more = realloc(*out, cap * 2);
            if (more == NULL)
                break;
            *out = more;
            cap *= 2;
        }
    }
    if (*out != NULL)
        (*out)[len] = '\0';
    if (f != NULL)
        fclose(f);
out:
    free(envp);
    unlink(out_path);
    return rss;
}

/* Write lines to a new temporary file, line 2 being a create_list whose name makes it
 * huge bytes long (its newline not counted), written in pieces: the test itself never
 * holds it. 0 ok. */
static int write_input(char *path, const char *first, long huge, const char *last)
{
    static const char start[] = "{\"type\":\"create_list\",\"user\":1,\"name\":\"";
    char chunk[65536];
    long left;
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    int rc = 0;

    if (f == NULL)
        return -1;
    memset(chunk, 'x', sizeof chunk);
    fputs(first, f);
    if (huge > 0) {
        fputs(start, f);
        for (left = huge - (long)(sizeof start - 1) - 2; left > 0;
             left -= (long)sizeof chunk)
            fwrite(chunk, 1, left < (long)sizeof chunk ? (size_t)left : sizeof chunk, f);
        fputs("\"}\n", f);
    }
    fputs(last, f);
    if (ferror(f))
        rc = -1;
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}

static long rows_of_list(const struct ts_env *env, int list)
{
    char sql[160];

    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM queued_list_operations WHERE tmdb_list_id = %d", list);
    return ts_sql_long(env, sql);
}

/* A 50 MB line between two good ones, through stdin. */
static void check_huge_line(struct ts_env *env)
{
    static const char first[] = "{\"type\":\"clear_list\",\"user\":1,\"list\":101}\n";
    static const char last[] = "{\"type\":\"clear_list\",\"user\":1,\"list\":102}\n";
    char small_path[] = "/tmp/tmdbq_test_small_XXXXXX";
    char huge_path[] = "/tmp/tmdbq_test_huge_XXXXXX";
    long small_kb, huge_kb;
    int status = -1;
    char *out = NULL;
    json_t *lines;

    CHECK_EQ_INT(write_input(small_path, first, 0, ""), 0);
    CHECK_EQ_INT(write_input(huge_path, first, HUGE_LINE, last), 0);

    small_kb = run_measured(env, small_path, &status, &out);
    CHECK_EQ_INT(status, 0);
    free(out);
    huge_kb = run_measured(env, huge_path, &status, &out);
    CHECK_EQ_INT(status, 2);
    unlink(small_path);
    unlink(huge_path);
    fprintf(stderr, "peak RSS: %ld kB for one short line, %ld kB with a %ld MB line\n",
            small_kb, huge_kb, HUGE_LINE / (1024 * 1024));
    CHECK(small_kb > 0 && huge_kb > 0);
    CHECK(huge_kb < small_kb + RSS_SLACK_KB);

    lines = out != NULL ? ts_json_lines(out) : NULL;
    CHECK_EQ_INT(json_array_size(lines), 3);
    CHECK_EQ_INT(ts_json_int(json_array_get(lines, 0), "line", -1), 1);
    CHECK_EQ_INT(ts_json_bool(json_array_get(lines, 0), "ok"), 1);
    CHECK_EQ_INT(ts_json_int(json_array_get(lines, 1), "line", -1), 2);
    CHECK_EQ_INT(ts_json_bool(json_array_get(lines, 1), "ok"), 0);
    CHECK_CONTAINS(ts_json_str(json_array_get(lines, 1), "error"),
                   "longer than 1048576 bytes");
    CHECK_EQ_INT(ts_json_int(json_array_get(lines, 2), "line", -1), 3);
    CHECK_EQ_INT(ts_json_bool(json_array_get(lines, 2), "ok"), 1);
    if (status != 2 || json_array_size(lines) != 3)
        fprintf(stderr, "a 50 MB line: status %d, stdout:\n%s\n", status,
                out ? out : "(none)");
    json_decref(lines);
    free(out);
    /* Line 1 twice (the short run and the huge one): one row, the second a duplicate. */
    CHECK_EQ_INT(rows_of_list(env, 101), 1);
    CHECK_EQ_INT(rows_of_list(env, 102), 1);
    CHECK_EQ_INT(ts_sql_long(env, "SELECT count(*) FROM queued_list_operations WHERE "
                                  "operation_type = 'create_list'"),
                 0);
}

/* A line of exactly the limit (its newline not counted) is read; one byte more is not.
 * The last line of the input has no newline and is too long: it is still reported. */
static void check_limit_edges(struct ts_env *env)
{
    static const char op[] = "{\"type\":\"delete_list\",\"user\":1,\"list\":%d}";
    size_t n = 3 * (LIMIT + 2) + 1, at = 0;
    char *text = malloc(n), head[96];
    struct ts_result r;
    json_t *lines;
    int len;

    if (text == NULL) {
        CHECK(text != NULL);
        return;
    }
    /* Lines 1 and 2: JSON padded with spaces to LIMIT and LIMIT + 1 bytes; line 3: LIMIT
     * + 1 bytes and the end of the input. */
    for (int i = 0; i < 3; i++) {
        size_t want = i == 0 ? LIMIT : LIMIT + 1;

        len = snprintf(head, sizeof head, op, 201 + i);
        memcpy(text + at, head, (size_t)len);
        memset(text + at + len, ' ', want - (size_t)len);
        at += want;
        if (i < 2)
            text[at++] = '\n';
    }
    text[at] = '\0';
    ts_run(env, NULL, text, &r, "enqueue", "--file", "-", "--json", (const char *)NULL);
    free(text);
    CHECK_EQ_INT(r.status, 2);
    lines = ts_json_lines(r.out);
    CHECK_EQ_INT(json_array_size(lines), 3);
    CHECK_EQ_INT(ts_json_bool(json_array_get(lines, 0), "ok"), 1);
    CHECK_EQ_INT(ts_json_bool(json_array_get(lines, 1), "ok"), 0);
    CHECK_CONTAINS(ts_json_str(json_array_get(lines, 1), "error"), "longer than");
    CHECK_EQ_INT(ts_json_int(json_array_get(lines, 2), "line", -1), 3);
    CHECK_EQ_INT(ts_json_bool(json_array_get(lines, 2), "ok"), 0);
    CHECK_CONTAINS(ts_json_str(json_array_get(lines, 2), "error"), "longer than");
    if (r.status != 2 || json_array_size(lines) != 3)
        ts_result_dump("lines at the limit", &r);
    json_decref(lines);
    ts_result_free(&r);
    CHECK_EQ_INT(rows_of_list(env, 201), 1);
    CHECK_EQ_INT(rows_of_list(env, 202) + rows_of_list(env, 203), 0);
}

/* Lines with NUL bytes, in a file (a C string cannot carry them through stdin here). */
static void check_nul_bytes(struct ts_env *env)
{
    static const char input[] =
        /* 1: a good operation, then a NUL and garbage: cut at the NUL it would pass */
        "{\"type\":\"delete_list\",\"user\":1,\"list\":301}\0garbage\n"
        /* 2: good */
        "{\"type\":\"delete_list\",\"user\":1,\"list\":302}\n"
        /* 3: a NUL inside a string */
        "{\"type\":\"create_list\",\"user\":1,\"name\":\"a\0b\"}\n"
        /* 4: nothing but a NUL */
        "\0\n"
        /* 5: good, the last line, no newline */
        "{\"type\":\"delete_list\",\"user\":1,\"list\":305}";
    static const int ok[] = {0, 1, 0, 0, 1};
    char path[] = "/tmp/tmdbq_test_nul_XXXXXX";
    struct ts_result r;
    json_t *lines;
    int fd = mkstemp(path);

    CHECK(fd >= 0);
    if (fd < 0)
        return;
    CHECK(write(fd, input, sizeof input - 1) == (ssize_t)(sizeof input - 1));
    close(fd);

    ts_run(env, NULL, NULL, &r, "enqueue", "--file", path, "--json", (const char *)NULL);
    CHECK_EQ_INT(r.status, 2);
    lines = ts_json_lines(r.out);
    CHECK_EQ_INT(json_array_size(lines), 5);
    for (size_t i = 0; i < 5 && i < json_array_size(lines); i++) {
        const json_t *line = json_array_get(lines, i);

        CHECK_EQ_INT(ts_json_int(line, "line", -1), (long long)i + 1);
        CHECK_EQ_INT(ts_json_bool(line, "ok"), ok[i]);
        if (!ok[i])
            CHECK_CONTAINS(ts_json_str(line, "error"), "NUL byte");
    }
    CHECK_CONTAINS(ts_json_str(json_array_get(lines, 0), "error"), "at byte 43");
    if (r.status != 2 || json_array_size(lines) != 5)
        ts_result_dump("NUL bytes", &r);
    json_decref(lines);
    ts_result_free(&r);
    CHECK_EQ_INT(rows_of_list(env, 301), 0);
    CHECK_EQ_INT(rows_of_list(env, 302), 1);
    CHECK_EQ_INT(rows_of_list(env, 305), 1);

    /* For people: the line is named. */
    ts_run(env, NULL, NULL, &r, "enqueue", "--file", path, (const char *)NULL);
    CHECK_EQ_INT(r.status, 2);
    CHECK_CONTAINS(r.out, "line 1: error: line has a NUL byte");
    CHECK_CONTAINS(r.out, "line 4: error: line has a NUL byte");
    ts_result_free(&r);
    unlink(path);
}

int main(void)
{
    struct ts_env env;
    int rc;

    rc = ts_setup(&env, "cli_bulk_lines");
    if (rc != 0)
        goto out;
    check_huge_line(&env);
    check_limit_edges(&env);
    check_nul_bytes(&env);
    rc = check_exit();
out:
    ts_teardown(&env);
    return rc;
}
