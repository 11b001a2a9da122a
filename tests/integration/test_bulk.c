/*
 * test_bulk: `tmdbq enqueue --file` from stdin and from a file.
 *
 * Every non-blank input line gets one output line carrying its input line number (blank
 * lines count, so an operator can find the line in an editor). Bad lines are reported and
 * make the exit status 2, but the good lines around them are enqueued all the same; a
 * large file lands in full in the table and in the work queue.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "support.h"

#define BIG 1000

static long count_rows(struct ts_env *env)
{
    return ts_sql_long(env, "SELECT count(*) FROM queued_list_operations");
}

/* Check that lines (a parsed array) reports exactly want_lines (n of them) in order, and
 * that line numbers in bad_lines are the ones with ok false. */
static void check_report(const json_t *lines, const int *want_lines, size_t n,
                         const int *bad_lines, size_t nbad)
{
    const json_t *line;
    size_t i, j;
    int bad;

    CHECK(json_is_array(lines));
    CHECK_EQ_INT(json_array_size(lines), n);
    for (i = 0; i < n && i < json_array_size(lines); i++) {
        line = json_array_get(lines, i);
        CHECK_EQ_INT(ts_json_int(line, "line", -1), want_lines[i]);
        bad = 0;
        for (j = 0; j < nbad; j++)
            bad |= bad_lines[j] == want_lines[i];
        CHECK_EQ_INT(ts_json_bool(line, "ok"), bad ? 0 : 1);
        if (bad) {
            CHECK(ts_json_str(line, "error") != NULL &&
                  ts_json_str(line, "error")[0] != '\0');
            CHECK(json_object_get(line, "operation") == NULL);
        } else {
            const json_t *op = json_object_get(line, "operation");

            CHECK(ts_json_str(op, "id") != NULL);
            CHECK_STR_EQ(ts_json_str(op, "status"), "pending");
            CHECK_EQ_INT(ts_json_bool(op, "published"), 1);
        }
    }
}

static void check_mixed_stdin(struct ts_env *env)
{
    static const char input[] =
        "{\"type\":\"add_movie\",\"user\":1,\"list\":7,\"data\":{\"movie_id\":550}}\n"
        "{\"type\":\"add_movie\",\"user\":1,\"list\":8,\"movie\":551}\n"
        "{\"type\":\"add_movie\",\"user\":1,\"list\":9,\"data\":{\"movie_id\":\"x\"}}\n"
        "\n"
        "{\"type\":\"create_list\",\"user\":1,\"name\":\"Bulk\",\"public\":false}\n"
        "{\"type\":\"remove_movie\",\"user\":2,\"list\":10,\"data\":{\"movie_id\":552}}"
        "\n";
    static const int want_lines[] = {1, 2, 3, 5, 6};
    static const int bad_lines[] = {3};
    struct ts_result r;
    json_t *lines;

    ts_run(env, NULL, input, &r, "enqueue", "--file", "-", "--json", (const char *)NULL);
    CHECK_EQ_INT(r.status, 2);
    lines = ts_json_lines(r.out);
    check_report(lines, want_lines, 5, bad_lines, 1);
    /* The error names the field. */
    CHECK_CONTAINS(ts_json_str(json_array_get(lines, 2), "error"), "movie_id");
    /* The second line used the top-level "movie" key. */
    CHECK(ts_json_member_equals(json_object_get(json_array_get(lines, 1), "operation"),
                                "operation_data", "{\"movie_id\":551}"));
    CHECK(ts_json_member_equals(json_object_get(json_array_get(lines, 3), "operation"),
                                "operation_data",
                                "{\"name\":\"Bulk\",\"public\":false}"));
    if (r.status != 2 || lines == NULL || json_array_size(lines) != 5)
        ts_result_dump("mixed bulk", &r);
    json_decref(lines);
    ts_result_free(&r);

    CHECK_EQ_INT(count_rows(env), 4);
    CHECK_EQ_INT(ts_sql_long(env, "SELECT count(*) FROM queued_list_operations WHERE "
                                  "tmdb_list_id = 9"),
                 0);
    CHECK_EQ_INT(ts_sql_long(env, "SELECT count(*) FROM queued_list_operations WHERE "
                                  "published_at IS NOT NULL AND status = 'pending'"),
                 4);
}

static void check_duplicate_in_batch(struct ts_env *env)
{
    static const char input[] =
        "{\"type\":\"add_movie\",\"user\":1,\"list\":20,\"data\":{\"movie_id\":600}}\n"
        "{\"type\":\"add_movie\",\"user\":1,\"list\":20,\"data\":{\"movie_id\":600}}\n";
    const json_t *a, *b;
    struct ts_result r;
    json_t *lines;

    CHECK_EQ_INT(ts_run(env, NULL, input, &r, "enqueue", "--file", "-", "--json",
                        (const char *)NULL),
                 0);
    lines = ts_json_lines(r.out);
    CHECK_EQ_INT(json_array_size(lines), 2);
    a = json_object_get(json_array_get(lines, 0), "operation");
    b = json_object_get(json_array_get(lines, 1), "operation");
    CHECK_EQ_INT(ts_json_bool(a, "duplicate"), 0);
    CHECK_EQ_INT(ts_json_bool(b, "duplicate"), 1);
    CHECK(ts_json_str(a, "id") != NULL);
    CHECK_STR_EQ(ts_json_str(b, "id"), ts_json_str(a, "id"));
    if (r.status != 0)
        ts_result_dump("duplicate in a batch", &r);
    json_decref(lines);
    ts_result_free(&r);
    CHECK_EQ_INT(ts_sql_long(env, "SELECT count(*) FROM queued_list_operations WHERE "
                                  "tmdb_list_id = 20"),
                 1);
}

static void check_invalid_json_line(struct ts_env *env)
{
    static const char input[] = "{\"type\":\"delete_list\",\"user\":1,\"list\":30}\n"
                                "{\"type\":\"clear_list\",\"user\":1,\"list\":\n"
                                "{\"type\":\"clear_list\",\"user\":1,\"list\":31}\n";
    static const int want_lines[] = {1, 2, 3};
    static const int bad_lines[] = {2};
    struct ts_result r;
    json_t *lines;

    ts_run(env, NULL, input, &r, "enqueue", "--file", "-", "--json", (const char *)NULL);
    CHECK_EQ_INT(r.status, 2);
    lines = ts_json_lines(r.out);
    check_report(lines, want_lines, 3, bad_lines, 1);
    if (r.status != 2 || lines == NULL)
        ts_result_dump("invalid JSON line", &r);
    json_decref(lines);
    ts_result_free(&r);
    CHECK_EQ_INT(ts_sql_long(env, "SELECT count(*) FROM queued_list_operations WHERE "
                                  "tmdb_list_id IN (30, 31)"),
                 2);
}

static void check_big_file(struct ts_env *env)
{
    char path[512], *text = NULL;
    size_t cap = (size_t)BIG * 96, len = 0;
    long before = count_rows(env), ok = 0;
    struct ts_result r = {0, NULL, NULL};
    json_t *lines = NULL;
    size_t i;

    text = malloc(cap);
    if (text == NULL) {
        CHECK(text != NULL);
        return;
    }
    /* Distinct lists, so none of the lines deduplicates against another. */
    for (i = 0; i < BIG; i++)
        len += (size_t)snprintf(text + len, cap - len,
                                "{\"type\":\"add_movie\",\"user\":4,\"list\":%zu,"
                                "\"data\":{\"movie_id\":%zu}}\n",
                                1000 + i, 1 + i);
    CHECK_EQ_INT(ts_write_temp(text, path, sizeof path), 0);
    free(text);

    ts_run(env, NULL, NULL, &r, "enqueue", "--file", path, "--json", (const char *)NULL);
    unlink(path);
    CHECK_EQ_INT(r.status, 0);
    lines = ts_json_lines(r.out);
    CHECK_EQ_INT(json_array_size(lines), BIG);
    for (i = 0; i < json_array_size(lines); i++) {
        const json_t *line = json_array_get(lines, i);

        if (ts_json_bool(line, "ok") == 1 &&
            ts_json_int(line, "line", -1) == (long)i + 1 &&
            ts_json_bool(json_object_get(line, "operation"), "published") == 1)
            ok++;
    }
    CHECK_EQ_INT(ok, BIG);
    if (r.status != 0)
        ts_result_dump("1000-line file", &r);
    json_decref(lines);
    ts_result_free(&r);

    CHECK_EQ_INT(count_rows(env) - before, BIG);
    CHECK_EQ_INT(ts_sql_long(env, "SELECT count(*) FROM queued_list_operations WHERE "
                                  "tmdb_user_id = 4 AND published_at IS NOT NULL"),
                 BIG);
    /* Every row of this test is published exactly once: the queue holds one message per
     * row, the 1000 and the earlier ones. */
    CHECK_EQ_INT(ts_queue_depth(env, "work", count_rows(env), 3000), count_rows(env));
}

int main(void)
{
    struct ts_env env;
    int rc;

    rc = ts_setup(&env, "bulk");
    if (rc != 0)
        goto out;
    check_mixed_stdin(&env);
    check_duplicate_in_batch(&env);
    check_invalid_json_line(&env);
    check_big_file(&env);
    rc = check_exit();
out:
    ts_teardown(&env);
    return rc;
}
