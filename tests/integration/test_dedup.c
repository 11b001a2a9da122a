/*
 * test_dedup: deduplication of enqueues, as docs/design.md fixes it.
 *
 * An operation identical to the latest pending one on its target (same user, type, list;
 * same movie_id; same name for create_list) returns that one and inserts nothing, even
 * when many processes enqueue it at the same moment. Anything else is a new operation:
 * another movie, another user, an intervening opposite operation (add, remove, add is
 * three), or a target whose latest operation is no longer pending.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "support.h"

#define RACERS 8

struct enq {
    int status;
    int duplicate; /* 1, 0, -1 when the output said neither */
    char id[40];
};

static struct enq from_result(struct ts_result *r, const char *what)
{
    struct enq e = {r->status, -1, ""};
    json_t *op = r->status == 0 ? ts_json_parse(r->out) : NULL;

    if (op != NULL) {
        e.duplicate = ts_json_bool(op, "duplicate");
        snprintf(e.id, sizeof e.id, "%s",
                 ts_json_str(op, "id") ? ts_json_str(op, "id") : "");
    } else {
        ts_result_dump(what, r);
    }
    json_decref(op);
    ts_result_free(r);
    return e;
}

static struct enq enqueue_movie(struct ts_env *env, const char *type, int user, int list,
                                int movie)
{
    char u[16], l[16], m[16];
    struct ts_result r;

    snprintf(u, sizeof u, "%d", user);
    snprintf(l, sizeof l, "%d", list);
    snprintf(m, sizeof m, "%d", movie);
    ts_run(env, NULL, NULL, &r, "enqueue", type, "--user", u, "--list", l, "--movie", m,
           "--json", (const char *)NULL);
    return from_result(&r, type);
}

static struct enq enqueue_create(struct ts_env *env, int user, const char *name)
{
    char u[16];
    struct ts_result r;

    snprintf(u, sizeof u, "%d", user);
    ts_run(env, NULL, NULL, &r, "enqueue", "create_list", "--user", u, "--name", name,
           "--json", (const char *)NULL);
    return from_result(&r, "create_list");
}

static long rows_on_list(struct ts_env *env, int list)
{
    char sql[128];

    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM queued_list_operations WHERE "
             "tmdb_list_id = %d",
             list);
    return ts_sql_long(env, sql);
}

static void check_simple_duplicate(struct ts_env *env)
{
    struct enq a = enqueue_movie(env, "add_movie", 1, 7, 550);
    struct enq b = enqueue_movie(env, "add_movie", 1, 7, 550);
    struct enq c;
    char sql[160];

    CHECK_EQ_INT(a.status, 0);
    CHECK_EQ_INT(b.status, 0);
    CHECK_EQ_INT(a.duplicate, 0);
    CHECK_EQ_INT(b.duplicate, 1);
    CHECK(a.id[0] != '\0');
    CHECK_STR_EQ(b.id, a.id);
    CHECK_EQ_INT(rows_on_list(env, 7), 1);

    /* Once the operation is no longer pending, the same request is new work. */
    snprintf(sql, sizeof sql,
             "UPDATE queued_list_operations SET status = 'completed' "
             "WHERE id = '%s'",
             a.id);
    CHECK_EQ_INT(ts_sql_exec(env, sql), 0);
    c = enqueue_movie(env, "add_movie", 1, 7, 550);
    CHECK_EQ_INT(c.status, 0);
    CHECK_EQ_INT(c.duplicate, 0);
    CHECK(strcmp(c.id, a.id) != 0);
    CHECK_EQ_INT(rows_on_list(env, 7), 2);
}

/* The work queue's depth once it stopped changing: the broker counts asynchronously, and
 * here no exact count is known in advance to wait for. */
static long settled_depth(struct ts_env *env)
{
    long prev = -2, d = -1;
    int i;

    for (i = 0; i < 10; i++) {
        /* want -1 never matches: this reads the depth after 200 ms. */
        d = ts_queue_depth(env, "work", -1, 200);
        if (d == prev)
            break;
        prev = d;
    }
    return d;
}

/* Returns how many messages the race added to the work queue, for the final count. */
static long check_race(struct ts_env *env)
{
    struct ts_result r[RACERS];
    struct enq e[RACERS];
    long before, after;
    int i, inserted = 0;

    before = ts_queue_depth(env, "work",
                            ts_sql_long(env, "SELECT count(*) FROM "
                                             "queued_list_operations"),
                            2000);
    memset(r, 0, sizeof r);
    CHECK_EQ_INT(ts_run_many(env, NULL, RACERS, r, "enqueue", "add_movie", "--user", "3",
                             "--list", "9", "--movie", "42", "--json",
                             (const char *)NULL),
                 0);
    for (i = 0; i < RACERS; i++) {
        e[i] = from_result(&r[i], "racing enqueue");
        CHECK_EQ_INT(e[i].status, 0);
        CHECK(e[i].id[0] != '\0');
        CHECK_STR_EQ(e[i].id, e[0].id);
        if (e[i].duplicate == 0)
            inserted++;
    }
    /* Exactly one process inserted; the other seven found its row. */
    CHECK_EQ_INT(inserted, 1);
    CHECK_EQ_INT(rows_on_list(env, 9), 1);
    CHECK_EQ_INT(ts_sql_long(env, "SELECT count(*) FROM queued_list_operations WHERE "
                                  "tmdb_list_id = 9 AND published_at IS NOT NULL"),
                 1);
    /* A racer that finds the row not yet published publishes it too (the row is its own
     * outbox; consumers drop a second delivery at the claim), so the race may add up to
     * one message per racer, but never none. */
    after = settled_depth(env);
    CHECK(after - before >= 1 && after - before <= RACERS);
    return after - before;
}

static void check_add_remove_add(struct ts_env *env)
{
    struct enq a = enqueue_movie(env, "add_movie", 1, 11, 550);
    struct enq b = enqueue_movie(env, "remove_movie", 1, 11, 550);
    struct enq c = enqueue_movie(env, "add_movie", 1, 11, 550);
    struct enq d = enqueue_movie(env, "add_movie", 1, 11, 550);

    CHECK(a.duplicate == 0 && b.duplicate == 0 && c.duplicate == 0);
    CHECK(strcmp(a.id, b.id) != 0 && strcmp(b.id, c.id) != 0 && strcmp(a.id, c.id) != 0);
    /* The fourth is identical to the latest pending one: the third. */
    CHECK_EQ_INT(d.duplicate, 1);
    CHECK_STR_EQ(d.id, c.id);
    CHECK_EQ_INT(rows_on_list(env, 11), 3);
}

static void check_not_duplicates(struct ts_env *env)
{
    struct enq a = enqueue_movie(env, "add_movie", 1, 12, 550);
    struct enq b = enqueue_movie(env, "add_movie", 1, 12, 551);
    struct enq c, d, e;
    char sql[160];

    /* Another movie on the same list. */
    CHECK_EQ_INT(b.status, 0);
    CHECK_EQ_INT(b.duplicate, 0);
    CHECK(strcmp(a.id, b.id) != 0);
    CHECK_EQ_INT(rows_on_list(env, 12), 2);

    /* The same target for another user. */
    c = enqueue_movie(env, "add_movie", 1, 13, 550);
    d = enqueue_movie(env, "add_movie", 2, 13, 550);
    CHECK_EQ_INT(d.status, 0);
    CHECK_EQ_INT(d.duplicate, 0);
    CHECK(strcmp(c.id, d.id) != 0);
    CHECK_EQ_INT(rows_on_list(env, 13), 2);

    /* A processing operation is already under way: the same request is new work. */
    snprintf(sql, sizeof sql,
             "UPDATE queued_list_operations SET status = 'processing' "
             "WHERE id = '%s'",
             d.id);
    CHECK_EQ_INT(ts_sql_exec(env, sql), 0);
    e = enqueue_movie(env, "add_movie", 2, 13, 550);
    CHECK_EQ_INT(e.status, 0);
    CHECK_EQ_INT(e.duplicate, 0);
    CHECK(strcmp(e.id, d.id) != 0);
    CHECK_EQ_INT(rows_on_list(env, 13), 3);
}

static void check_create_list(struct ts_env *env)
{
    struct enq a = enqueue_create(env, 5, "Watchlist");
    struct enq b = enqueue_create(env, 5, "Watchlist");
    struct enq c = enqueue_create(env, 5, "Other");
    struct enq d = enqueue_create(env, 6, "Watchlist");

    CHECK_EQ_INT(a.status, 0);
    CHECK_EQ_INT(a.duplicate, 0);
    CHECK_EQ_INT(b.duplicate, 1);
    CHECK_STR_EQ(b.id, a.id);
    CHECK_EQ_INT(c.duplicate, 0);
    CHECK(strcmp(c.id, a.id) != 0);
    CHECK_EQ_INT(d.duplicate, 0);
    CHECK(strcmp(d.id, a.id) != 0);
    CHECK_EQ_INT(ts_sql_long(env,
                             "SELECT count(*) FROM queued_list_operations WHERE "
                             "operation_type = 'create_list' AND tmdb_user_id = 5 AND "
                             "operation_data->>'name' = 'Watchlist'"),
                 1);
    CHECK_EQ_INT(ts_sql_long(env, "SELECT count(*) FROM queued_list_operations WHERE "
                                  "operation_type = 'create_list'"),
                 3);
}

int main(void)
{
    struct ts_env env;
    long rows, race_messages;
    int rc;

    rc = ts_setup(&env, "dedup");
    if (rc != 0)
        goto out;
    check_simple_duplicate(&env);
    race_messages = check_race(&env);
    check_add_remove_add(&env);
    check_not_duplicates(&env);
    check_create_list(&env);
    /* Outside the race every row was published once and a duplicate of a published row
     * publishes nothing: one message per row, plus what the race added for its one row.
     */
    rows = ts_sql_long(&env, "SELECT count(*) FROM queued_list_operations");
    CHECK_EQ_INT(ts_queue_depth(&env, "work", rows - 1 + race_messages, 2000),
                 rows - 1 + race_messages);
    rc = check_exit();
out:
    ts_teardown(&env);
    return rc;
}
