/*
 * test_claim: the consumer's side of the database (migration 003 through db.h): claim,
 * finish (and its repeat after a lost reply), the per-list ordering hand-on (also when a
 * producer's mark lands late), rescue and abandonment of dead consumers' rows, early
 * messages, the consumer registry, the pause switch, the retry of credential failures,
 * and telling an SQL error from a lost connection.
 *
 * Two db handles stand for two consumers. Rows are made with the real `tmdbq enqueue` and
 * moved with SQL where a test needs a state a consumer would leave. Races are driven by
 * threads, each with its own connection, released together by a barrier; every outcome
 * they may produce is checked, not just the likely one. Waits for a lease to run out poll
 * the database's clock (bounded), so a slow machine cannot make a check fail.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "db.h"
#include "support.h"

#define LEASE_LONG 60000

static struct ts_env env;
static struct db *c1, *c2; /* consumers "c1" and "c2" */

/* Enqueue add_movie and put its id in id (37 bytes); "" on failure (reported). */
/* Operation n of a list: an add of movie 550 when n is odd, its remove when even, so each
 * conflicts with the one before it (migration 008) and they keep the list's order. */
static void enqueue(int user, int list, int n, char *id)
{
    char u[16], l[16];
    struct ts_result r;
    json_t *op;

    snprintf(u, sizeof u, "%d", user);
    snprintf(l, sizeof l, "%d", list);
    ts_run(&env, NULL, NULL, &r, "enqueue", n % 2 ? "add_movie" : "remove_movie",
           "--user", u, "--list", l, "--movie", "550", "--json", (const char *)NULL);
    CHECK_EQ_INT(r.status, 0);
    op = ts_json_parse(r.out);
    snprintf(id, 37, "%s", ts_json_str(op, "id") ? ts_json_str(op, "id") : "");
    if (id[0] == '\0')
        ts_result_dump("enqueue", &r);
    json_decref(op);
    ts_result_free(&r);
}

/* A value of the row id (an SQL expression over its columns) as text; "" for NULL. */
static char *col(const char *id, const char *expr)
{
    static char buf[4][512];
    static int next;
    char sql[512], *v;
    char *out = buf[next++ % 4];

    snprintf(sql, sizeof sql,
             "SELECT (%s)::text FROM queued_list_operations WHERE id = '%s'", expr, id);
    v = ts_sql_value(&env, sql);
    snprintf(out, sizeof buf[0], "%s", v ? v : "");
    free(v);
    return out;
}

static long col_long(const char *id, const char *expr)
{
    char sql[512];

    snprintf(sql, sizeof sql,
             "SELECT (%s)::bigint FROM queued_list_operations WHERE id = '%s'", expr, id);
    return ts_sql_long(&env, sql);
}

static void set_cols(const char *id, const char *assignments)
{
    char sql[512];

    snprintf(sql, sizeof sql, "UPDATE queued_list_operations SET %s WHERE id = '%s'",
             assignments, id);
    CHECK_EQ_INT(ts_sql_exec(&env, sql), 0);
}

static void mark_published(const char *id)
{
    const char *ids[1] = {id};
    struct err e = {0};

    CHECK_EQ_INT(db_mark_published(c1, ids, 1, &e), ST_OK);
}

/* The hand-on as text: its ids joined by commas, "" when empty. */
#define HANDON_TEXT (37 * DB_HANDON_MAX)
static void handon_text(const struct db_handon *h, char *out)
{
    size_t o = 0;

    out[0] = '\0';
    for (size_t i = 0; i < h->n; i++)
        o += (size_t)snprintf(out + o, HANDON_TEXT - o, "%s%s", i ? "," : "", h->ids[i]);
}

/* Claim id; returns the result, or -1 on an error (printed). claimed is cleaned unless
 * keep is given. */
static int claim(struct db *db, const char *id, const char *consumer, int64_t lease_ms,
                 int max_retries, struct db_claim *keep, int64_t *left, char *next)
{
    enum db_claim_result res;
    struct db_claim c;
    struct err e = {0};
    int64_t left_ms;
    struct db_handon h;
    char next_id[HANDON_TEXT];
    enum status st;

    st = db_claim(db, id, consumer, lease_ms, max_retries, &res, &c, &left_ms, &h, &e);
    handon_text(&h, next_id);
    if (st != ST_OK) {
        fprintf(stderr, "db_claim: %s\n", e.msg);
        db_claim_cleanup(&c);
        return -1;
    }
    if (left)
        *left = left_ms;
    if (next)
        snprintf(next, HANDON_TEXT, "%s", next_id);
    if (res != DB_CLAIMED)
        CHECK(c.op.data_json == NULL && c.session_id == NULL && c.access_token == NULL);
    if (res != DB_CLAIM_LEASED && res != DB_CLAIM_EARLY)
        CHECK_EQ_INT(left_ms, 0);
    if (res != DB_CLAIM_ABANDONED && res != DB_CLAIM_GONE)
        CHECK_STR_EQ(next_id, "");
    if (keep)
        *keep = c;
    else
        db_claim_cleanup(&c);
    return (int)res;
}

static bool finish(struct db *db, const char *id, const char *consumer,
                   const struct db_outcome *o, char *next)
{
    struct err e = {0};
    bool recorded = false;
    struct db_handon h = {1, {"x"}};

    CHECK_EQ_INT(db_finish(db, id, consumer, o, &recorded, &h, &e), ST_OK);
    if (e.code != ST_OK)
        fprintf(stderr, "db_finish: %s\n", e.msg);
    if (next)
        handon_text(&h, next);
    return recorded;
}

static const struct db_outcome done = {.kind = DB_OUT_COMPLETED,
                                       .result_json = "{\"ok\":1}"};

/* Poll until the lease of id has run out by the database's clock (at most 10 s). */
static void wait_lease_expired(const char *id)
{
    struct timespec ts = {0, 20 * 1000 * 1000};

    for (int i = 0; i < 500; i++) {
        if (strcmp(col(id, "lease_expires_at < clock_timestamp()"), "true") == 0)
            return;
        nanosleep(&ts, NULL);
    }
    CHECK(!"the lease did not run out within 10 s");
}

static void test_claim_lease_finish(void)
{
    char a[37], next[HANDON_TEXT];
    struct db_handon h;
    struct db_claim c;
    struct err e = {0};
    int64_t left = -1;
    enum db_claim_result res;

    enqueue(1, 10, 1, a);
    CHECK_EQ_INT(db_session_set(c1, 1, "sess-1", "token-1", &e), ST_OK);

    CHECK_EQ_INT(claim(c1, a, "c1", LEASE_LONG, 5, &c, NULL, NULL), DB_CLAIMED);
    CHECK_STR_EQ(c.op.id, a);
    CHECK_EQ_INT(c.op.status, OP_PROCESSING);
    CHECK_EQ_INT(c.op.list_id, 10);
    CHECK_EQ_INT(c.op.retry_count, 0);
    CHECK(!c.rescued);
    CHECK_STR_EQ(c.session_id, "sess-1");
    CHECK_STR_EQ(c.access_token, "token-1");
    db_claim_cleanup(&c);
    CHECK_STR_EQ(col(a, "status"), "processing");
    CHECK_STR_EQ(col(a, "claimed_by"), "c1");
    CHECK_STR_EQ(col(a, "lease_expires_at BETWEEN now() + interval '50 s' "
                        "AND now() + interval '61 s'"),
                 "true");

    /* Another consumer finds it leased. */
    CHECK_EQ_INT(claim(c2, a, "c2", LEASE_LONG, 5, NULL, &left, NULL), DB_CLAIM_LEASED);
    CHECK(left > 50000 && left <= LEASE_LONG);

    /* The holder itself claims it again (its first reply was lost): a fresh lease, no
     * rescue, no retry spent. */
    set_cols(a, "lease_expires_at = clock_timestamp() + interval '1 s'");
    CHECK_EQ_INT(claim(c1, a, "c1", LEASE_LONG, 5, &c, NULL, NULL), DB_CLAIMED);
    CHECK(!c.rescued);
    CHECK_EQ_INT(c.op.retry_count, 0);
    CHECK_STR_EQ(c.session_id, "sess-1");
    db_claim_cleanup(&c);
    CHECK_STR_EQ(
        col(a, "claimed_by || ' ' || (lease_expires_at > now() + interval '50 s')"),
        "c1 true");

    /* Only the holder records the outcome. */
    CHECK(!finish(c2, a, "c2", &done, next));
    CHECK_STR_EQ(next, "");
    CHECK_STR_EQ(col(a, "status"), "processing");
    CHECK(finish(c1, a, "c1", &done, next));
    CHECK_STR_EQ(next, "");
    CHECK_STR_EQ(col(a, "status"), "completed");
    CHECK_STR_EQ(col(a, "result"), "{\"ok\": 1}");
    CHECK_STR_EQ(col(a, "lease_expires_at IS NULL AND error_message IS NULL "
                        "AND error_kind IS NULL"),
                 "true");
    /* The same finish again (its reply was lost) counts as recorded; another outcome or
     * another consumer does not. */
    CHECK(finish(c1, a, "c1", &done, next));
    CHECK_STR_EQ(next, "");
    {
        struct db_outcome failed = {
            .kind = DB_OUT_FAILED, .error_message = "x", .error_kind = "permanent"};
        CHECK(!finish(c1, a, "c1", &failed, next));
    }
    CHECK(!finish(c2, a, "c2", &done, next));
    CHECK_STR_EQ(col(a, "status || ' ' || result::text"), "completed {\"ok\": 1}");

    /* A finished row is gone; an id no row has is unknown. */
    CHECK_EQ_INT(claim(c2, a, "c2", LEASE_LONG, 5, NULL, NULL, NULL), DB_CLAIM_GONE);
    CHECK_EQ_INT(claim(c2, "00000000-0000-4000-8000-000000000000", "c2", LEASE_LONG, 5,
                       NULL, NULL, NULL),
                 DB_CLAIM_UNKNOWN);

    /* A user without credentials: claimed, with NULLs. */
    enqueue(2, 11, 1, a);
    CHECK_EQ_INT(claim(c1, a, "c1", LEASE_LONG, 5, &c, NULL, NULL), DB_CLAIMED);
    CHECK(c.session_id == NULL && c.access_token == NULL);
    db_claim_cleanup(&c);
    CHECK(finish(c1, a, "c1", &done, NULL));

    /* Garbage in a message is refused without a query; so is a bad outcome. */
    CHECK_EQ_INT(db_claim(c1, "not-a-uuid", "c1", 1000, 5, &res, &c, &left, &h, &e),
                 ST_INVALID);
    db_claim_cleanup(&c);
    CHECK_EQ_INT(db_claim(c1, a, "c1", 0, 5, &res, &c, &left, &h, &e), ST_INVALID);
    db_claim_cleanup(&c);
    {
        struct db_outcome bad = {
            .kind = DB_OUT_FAILED, .error_message = "x", .error_kind = "cosmic"};
        bool recorded = true;
        CHECK_EQ_INT(db_finish(c1, a, "c1", &bad, &recorded, &h, &e), ST_INVALID);
        CHECK(!recorded);
    }
}

static void test_ordering(void)
{
    char b1[37], b2[37], b3[37], cl[37], next[37];
    struct db_outcome failed = {.kind = DB_OUT_FAILED,
                                .error_message = "HTTP 404: gone",
                                .error_kind = "permanent"};
    struct ts_result r;
    json_t *op;

    enqueue(1, 20, 1, b1);
    enqueue(1, 20, 2, b2);
    enqueue(1, 20, 3, b3);
    mark_published(b2);
    CHECK_STR_EQ(col(b2, "published_at IS NOT NULL AND NOT handoff"), "true");

    /* The second is delivered first: blocked, and marked for hand-on. */
    CHECK_EQ_INT(claim(c1, b2, "c1", LEASE_LONG, 5, NULL, NULL, NULL), DB_CLAIM_BLOCKED);
    CHECK_STR_EQ(col(b2, "status"), "pending");
    CHECK_STR_EQ(col(b2, "handoff AND published_at IS NOT NULL"), "true");

    /* create_list rows have no list and no order to wait for. */
    ts_run(&env, NULL, NULL, &r, "enqueue", "create_list", "--user", "1", "--name",
           "Fresh", "--json", (const char *)NULL);
    CHECK_EQ_INT(r.status, 0);
    op = ts_json_parse(r.out);
    snprintf(cl, sizeof cl, "%s", ts_json_str(op, "id") ? ts_json_str(op, "id") : "");
    json_decref(op);
    ts_result_free(&r);
    CHECK_EQ_INT(claim(c2, cl, "c2", LEASE_LONG, 5, NULL, NULL, NULL), DB_CLAIMED);
    CHECK(finish(c2, cl, "c2", &done, next));
    CHECK_STR_EQ(next, "");

    /* The first finishes and hands on the dropped second, which has no live message
     * until the caller publishes it (so the relay would find it). */
    CHECK_EQ_INT(claim(c1, b1, "c1", LEASE_LONG, 5, NULL, NULL, NULL), DB_CLAIMED);
    CHECK(finish(c1, b1, "c1", &done, next));
    CHECK_STR_EQ(next, b2);
    CHECK_STR_EQ(col(b2, "NOT handoff AND published_at IS NULL"), "true");
    mark_published(b2);
    /* Handed on once: a later hand-on of its list (another finish, a stale delivery)
     * names it no more while its message waits (migration 013). */
    {
        char sql[256];
        char *v;

        snprintf(sql, sizeof sql,
                 "SELECT cardinality(tmdbq_handon(tmdb_list_id)) FROM "
                 "queued_list_operations WHERE id = '%s'",
                 b2);
        v = ts_sql_value(&env, sql);
        CHECK_STR_EQ(v, "0");
        free(v);
    }
    CHECK_EQ_INT(claim(c2, b2, "c2", LEASE_LONG, 5, NULL, NULL, NULL), DB_CLAIMED);
    CHECK_STR_EQ(col(b2, "handoff"), "false");

    /* The third, blocked by a processing second, then marked published (the producer's
     * mark of the very message the blocked claim dropped, landing late): the second's
     * final outcome still hands it on. */
    CHECK_EQ_INT(claim(c1, b3, "c1", LEASE_LONG, 5, NULL, NULL, NULL), DB_CLAIM_BLOCKED);
    mark_published(b3);
    CHECK(finish(c2, b2, "c2", &failed, next));
    CHECK_STR_EQ(next, b3);
    CHECK_STR_EQ(col(b2, "status"), "failed");
    CHECK_STR_EQ(col(b2, "error_message"), "HTTP 404: gone");
    CHECK_STR_EQ(col(b2, "error_kind"), "permanent");
    CHECK_STR_EQ(col(b2, "lease_expires_at IS NULL"), "true");
    CHECK_EQ_INT(claim(c1, b3, "c1", LEASE_LONG, 5, NULL, NULL, NULL), DB_CLAIMED);
    CHECK(finish(c1, b3, "c1", &done, next));
    CHECK_STR_EQ(next, "");
}

/* Finding of a review: a producer publishes a batch, waits for the confirms, then marks
 * the rows published; a consumer may get B blocked in between. B must still be handed on
 * when A ends. Also: a successor with a live message (published, never blocked) is not
 * named. */
static void test_late_mark(void)
{
    char a[37], b[37], c[37], next[37];

    enqueue(1, 25, 1, a);
    enqueue(1, 25, 2, b);
    enqueue(1, 25, 3, c);
    mark_published(c);
    CHECK_EQ_INT(claim(c1, a, "c1", LEASE_LONG, 5, NULL, NULL, NULL), DB_CLAIMED);
    CHECK_EQ_INT(claim(c2, b, "c2", LEASE_LONG, 5, NULL, NULL, NULL), DB_CLAIM_BLOCKED);
    mark_published(b);
    CHECK_STR_EQ(col(b, "published_at IS NOT NULL AND handoff"), "true");
    CHECK(finish(c1, a, "c1", &done, next));
    CHECK_STR_EQ(next, b);

    CHECK_EQ_INT(claim(c2, b, "c2", LEASE_LONG, 5, NULL, NULL, NULL), DB_CLAIMED);
    CHECK(finish(c2, b, "c2", &done, next));
    CHECK_STR_EQ(next, ""); /* c's own message is live */
    CHECK_EQ_INT(claim(c1, c, "c1", LEASE_LONG, 5, NULL, NULL, NULL), DB_CLAIMED);
    CHECK(finish(c1, c, "c1", &done, NULL));
}

/* The holder of A records its outcome and dies before publishing the hand-on of B: the
 * redelivery of A's message (it was never acked) finds A gone and names B again. */
static void test_gone_hands_on(void)
{
    char a[37], b[37], next[37];

    enqueue(1, 27, 1, a);
    enqueue(1, 27, 2, b);
    CHECK_EQ_INT(claim(c1, a, "c1", LEASE_LONG, 5, NULL, NULL, NULL), DB_CLAIMED);
    CHECK_EQ_INT(claim(c2, b, "c2", LEASE_LONG, 5, NULL, NULL, NULL), DB_CLAIM_BLOCKED);
    CHECK(finish(c1, a, "c1", &done, next));
    CHECK_STR_EQ(next, b);
    /* ...and c1 dies here. */
    CHECK_EQ_INT(claim(c2, a, "c2", LEASE_LONG, 5, NULL, NULL, next), DB_CLAIM_GONE);
    CHECK_STR_EQ(next, b);
    CHECK_EQ_INT(claim(c2, b, "c2", LEASE_LONG, 5, NULL, NULL, NULL), DB_CLAIMED);
    /* Once B runs, a further copy of A's message names nothing. */
    CHECK_EQ_INT(claim(c1, a, "c1", LEASE_LONG, 5, NULL, NULL, next), DB_CLAIM_GONE);
    CHECK_STR_EQ(next, "");
    CHECK(finish(c2, b, "c2", &done, NULL));
}

/* A finish whose reply was lost is repeated: it answers as the first did, so the caller
 * still publishes the hand-on (or the retry). */
static void test_finish_repeat(void)
{
    char a[37], b[37], next[37];
    struct db_outcome failed = {
        .kind = DB_OUT_FAILED, .error_message = "HTTP 404", .error_kind = "permanent"};
    struct db_outcome retry = {.kind = DB_OUT_RETRY,
                               .error_message = "HTTP 503",
                               .error_kind = "transient",
                               .delay_ms = 60000,
                               .count_retry = true};

    enqueue(1, 26, 1, a);
    enqueue(1, 26, 2, b);
    CHECK_EQ_INT(claim(c1, a, "c1", LEASE_LONG, 5, NULL, NULL, NULL), DB_CLAIMED);
    CHECK_EQ_INT(claim(c2, b, "c2", LEASE_LONG, 5, NULL, NULL, NULL), DB_CLAIM_BLOCKED);
    CHECK(finish(c1, a, "c1", &failed, next));
    CHECK_STR_EQ(next, b);
    CHECK(finish(c1, a, "c1", &failed, next));
    CHECK_STR_EQ(next, b);
    CHECK(!finish(c1, a, "c1", &done, next));
    CHECK_STR_EQ(next, "");
    CHECK(!finish(c2, a, "c2", &failed, next));
    CHECK_STR_EQ(col(a, "status || ' ' || error_message"), "failed HTTP 404");

    /* A retry repeated: recorded, nothing counted twice, the schedule unchanged. */
    CHECK_EQ_INT(claim(c2, b, "c2", LEASE_LONG, 5, NULL, NULL, NULL), DB_CLAIMED);
    CHECK(finish(c2, b, "c2", &retry, next));
    CHECK_STR_EQ(next, "");
    {
        char before[128];

        snprintf(before, sizeof before, "%s", col(b, "scheduled_for::text"));
        CHECK(finish(c2, b, "c2", &retry, next));
        CHECK_STR_EQ(next, "");
        CHECK_STR_EQ(col(b, "scheduled_for::text"), before);
    }
    CHECK_EQ_INT(col_long(b, "retry_count"), 1);
    CHECK_STR_EQ(col(b, "status"), "pending");
    CHECK(!finish(c1, b, "c1", &retry, NULL));
    CHECK(!finish(c2, b, "c2", &done, NULL));
}

static void test_early_and_paused(void)
{
    char a[37];
    struct err e = {0};
    bool paused = true;
    int64_t left = -1;

    enqueue(1, 30, 1, a);
    set_cols(a, "scheduled_for = now() + interval '1 hour'");
    CHECK_EQ_INT(claim(c1, a, "c1", LEASE_LONG, 5, NULL, &left, NULL), DB_CLAIM_EARLY);
    CHECK(left > 3590000 && left <= 3600000);
    CHECK_STR_EQ(col(a, "status || ' ' || (claimed_by IS NULL)::text"), "pending true");
    /* Half a second early is early, with the time left to wait. */
    set_cols(a, "scheduled_for = clock_timestamp() + interval '0.5 s'");
    CHECK_EQ_INT(claim(c1, a, "c1", LEASE_LONG, 5, NULL, &left, NULL), DB_CLAIM_EARLY);
    CHECK(left > 0 && left <= 500);
    /* Within 50 ms is due (the time only runs on between the update and the claim). */
    set_cols(a, "scheduled_for = clock_timestamp() + interval '40 ms'");
    CHECK_EQ_INT(claim(c1, a, "c1", LEASE_LONG, 5, NULL, NULL, NULL), DB_CLAIMED);
    CHECK(finish(c1, a, "c1", &done, NULL));

    enqueue(1, 31, 1, a);
    CHECK_EQ_INT(db_is_paused(c1, &paused, &e), ST_OK);
    CHECK(!paused);
    CHECK_EQ_INT(ts_sql_exec(&env, "UPDATE tmdbq_control SET paused = true"), 0);
    CHECK_EQ_INT(db_is_paused(c1, &paused, &e), ST_OK);
    CHECK(paused);
    CHECK_EQ_INT(claim(c1, a, "c1", LEASE_LONG, 5, NULL, NULL, NULL), DB_CLAIM_PAUSED);
    CHECK_STR_EQ(col(a, "status || ' ' || (claimed_by IS NULL)::text"), "pending true");
    CHECK_EQ_INT(ts_sql_exec(&env, "UPDATE tmdbq_control SET paused = false"), 0);
    CHECK_EQ_INT(claim(c1, a, "c1", LEASE_LONG, 5, NULL, NULL, NULL), DB_CLAIMED);
    CHECK(finish(c1, a, "c1", &done, NULL));
}

static void test_rescue_and_abandon(void)
{
    char a[37], f1[37], f2[37], next[37];
    struct db_claim c;

    /* The holder dies (its lease runs out); another consumer takes the row over and the
     * dead one's late outcome is not recorded. */
    enqueue(1, 50, 1, a);
    CHECK_EQ_INT(claim(c1, a, "c1", 50, 5, NULL, NULL, NULL), DB_CLAIMED);
    wait_lease_expired(a);
    CHECK_EQ_INT(claim(c2, a, "c2", LEASE_LONG, 5, &c, NULL, NULL), DB_CLAIMED);
    CHECK(c.rescued);
    CHECK_EQ_INT(c.op.retry_count, 1);
    CHECK_EQ_INT(c.op.status, OP_PROCESSING);
    db_claim_cleanup(&c);
    CHECK_STR_EQ(col(a, "claimed_by"), "c2");
    CHECK(!finish(c1, a, "c1", &done, NULL));
    CHECK(finish(c2, a, "c2", &done, NULL));
    CHECK_STR_EQ(col(a, "status"), "completed");

    /* Our own claim whose lease ran out (the reply was lost and the reconnect was slow):
     * claimed again, not a rescue, no retry spent. */
    enqueue(1, 51, 1, a);
    CHECK_EQ_INT(claim(c1, a, "c1", 50, 5, NULL, NULL, NULL), DB_CLAIMED);
    wait_lease_expired(a);
    CHECK_EQ_INT(claim(c1, a, "c1", LEASE_LONG, 5, &c, NULL, NULL), DB_CLAIMED);
    CHECK(!c.rescued);
    CHECK_EQ_INT(c.op.retry_count, 0);
    db_claim_cleanup(&c);
    CHECK(finish(c1, a, "c1", &done, NULL));

    /* No retries left: the row fails, and the list's blocked next one is handed on. */
    enqueue(1, 60, 1, f1);
    enqueue(1, 60, 2, f2);
    CHECK_EQ_INT(claim(c1, f1, "c1", 50, 0, NULL, NULL, NULL), DB_CLAIMED);
    CHECK_EQ_INT(claim(c1, f2, "c1", LEASE_LONG, 0, NULL, NULL, NULL), DB_CLAIM_BLOCKED);
    wait_lease_expired(f1);
    CHECK_EQ_INT(claim(c2, f1, "c2", LEASE_LONG, 0, NULL, NULL, next),
                 DB_CLAIM_ABANDONED);
    CHECK_STR_EQ(next, f2);
    CHECK_STR_EQ(col(f1, "status || ' ' || claimed_by"), "failed c2");
    /* The holder presumed dead comes back: its failure is not taken for a repeat. */
    {
        struct db_outcome failed = {.kind = DB_OUT_FAILED,
                                    .error_message = "HTTP 503",
                                    .error_kind = "transient"};
        CHECK(!finish(c1, f1, "c1", &failed, NULL));
    }
    CHECK_STR_EQ(col(f1, "error_kind"), "transient");
    CHECK_STR_EQ(col(f1, "error_message LIKE 'abandoned: %'"), "true");
    CHECK_STR_EQ(col(f1, "lease_expires_at IS NULL"), "true");
    CHECK_EQ_INT(col_long(f1, "retry_count"), 0);
    CHECK_EQ_INT(claim(c2, f1, "c2", LEASE_LONG, 0, NULL, NULL, NULL), DB_CLAIM_GONE);
    CHECK_EQ_INT(claim(c2, f2, "c2", LEASE_LONG, 0, NULL, NULL, NULL), DB_CLAIMED);
    CHECK(finish(c2, f2, "c2", &done, NULL));
}

static void test_retry(void)
{
    char a[37], next[37];
    int64_t left = -1;
    struct db_outcome retry = {.kind = DB_OUT_RETRY,
                               .error_message = "HTTP 503",
                               .error_kind = "transient",
                               .delay_ms = 5000,
                               .count_retry = true};
    struct db_outcome deploy = {.kind = DB_OUT_RETRY,
                                .error_message = "HTTP 401: bad key",
                                .error_kind = "deployment",
                                .delay_ms = 0,
                                .count_retry = false};

    enqueue(1, 70, 1, a);
    mark_published(a);
    CHECK_EQ_INT(claim(c1, a, "c1", LEASE_LONG, 5, NULL, NULL, NULL), DB_CLAIMED);
    CHECK(finish(c1, a, "c1", &retry, next));
    CHECK_STR_EQ(next, "");
    CHECK_STR_EQ(col(a, "status"), "pending");
    CHECK_EQ_INT(col_long(a, "retry_count"), 1);
    CHECK_STR_EQ(col(a, "error_message || ' ' || error_kind"), "HTTP 503 transient");
    CHECK_STR_EQ(col(a, "published_at IS NULL AND lease_expires_at IS NULL "
                        "AND last_retry_at IS NOT NULL"),
                 "true");
    CHECK_STR_EQ(col(a, "scheduled_for BETWEEN last_retry_at + interval '4.9 s' "
                        "AND last_retry_at + interval '5.1 s'"),
                 "true");
    /* The retry message must wait for its time. */
    CHECK_EQ_INT(claim(c1, a, "c1", LEASE_LONG, 5, NULL, &left, NULL), DB_CLAIM_EARLY);
    CHECK(left > 4000 && left <= 5000);

    /* A deployment fault spends no retry. */
    set_cols(a, "scheduled_for = now()");
    CHECK_EQ_INT(claim(c2, a, "c2", LEASE_LONG, 5, NULL, NULL, NULL), DB_CLAIMED);
    CHECK(finish(c2, a, "c2", &deploy, NULL));
    CHECK_EQ_INT(col_long(a, "retry_count"), 1);
    CHECK_STR_EQ(col(a, "status || ' ' || error_kind"), "pending deployment");
    CHECK_EQ_INT(claim(c2, a, "c2", LEASE_LONG, 5, NULL, NULL, NULL), DB_CLAIMED);
    CHECK(finish(c2, a, "c2", &done, NULL));
    CHECK_STR_EQ(col(a, "status || ' ' || (error_message IS NULL)::text"),
                 "completed true");
}

static void test_credentials(void)
{
    char h1[37], h2[37], h3[37];
    struct db_outcome cred = {.kind = DB_OUT_FAILED,
                              .error_message = "HTTP 401: session",
                              .error_kind = "credentials"};
    struct db_outcome perm = {
        .kind = DB_OUT_FAILED, .error_message = "HTTP 404", .error_kind = "permanent"};
    struct db_ids ids = {0};
    struct err e = {0};

    enqueue(3, 80, 1, h1);
    enqueue(4, 81, 1, h2);
    enqueue(3, 82, 1, h3);
    CHECK_EQ_INT(claim(c1, h1, "c1", LEASE_LONG, 5, NULL, NULL, NULL), DB_CLAIMED);
    CHECK_EQ_INT(claim(c1, h2, "c1", LEASE_LONG, 5, NULL, NULL, NULL), DB_CLAIMED);
    CHECK_EQ_INT(claim(c1, h3, "c1", LEASE_LONG, 5, NULL, NULL, NULL), DB_CLAIMED);
    CHECK(finish(c1, h1, "c1", &cred, NULL));
    CHECK(finish(c1, h2, "c1", &cred, NULL));
    CHECK(finish(c1, h3, "c1", &perm, NULL));
    set_cols(h1, "retry_count = 3, last_retry_at = now(), scheduled_for = now()");
    mark_published(h1);

    CHECK_EQ_INT(db_retry_credential_failures(c2, 3, &ids, &e), ST_OK);
    CHECK_EQ_INT(ids.n, 1);
    if (ids.n == 1)
        CHECK_STR_EQ(ids.ids[0], h1);
    db_ids_free(&ids);
    CHECK_STR_EQ(col(h1, "status"), "pending");
    CHECK_EQ_INT(col_long(h1, "retry_count"), 0);
    CHECK_STR_EQ(
        col(h1, "error_message IS NULL AND error_kind IS NULL AND scheduled_for IS NULL"
                " AND last_retry_at IS NULL AND published_at IS NULL"),
        "true");
    CHECK_STR_EQ(col(h2, "status || ' ' || error_kind"), "failed credentials");
    CHECK_STR_EQ(col(h3, "status || ' ' || error_kind"), "failed permanent");

    CHECK_EQ_INT(db_retry_credential_failures(c2, 3, &ids, &e), ST_OK);
    CHECK_EQ_INT(ids.n, 0);
    CHECK(ids.ids == NULL);
    db_ids_free(&ids);
    CHECK_EQ_INT(claim(c2, h1, "c2", LEASE_LONG, 5, NULL, NULL, NULL), DB_CLAIMED);
}

/* Finding of a review (issue 11): a credential failure revived by `tmdbq session set`
 * must go to the back of its list's order, as `tmdbq retry` sends a failed operation, or
 * it could be claimed while a later operation of its list that it conflicts with is still
 * running. Revived here while that later operation is processing: the claim waits for
 * it, and its finish hands the revived one on. (Before the fix the claim succeeded.) */
static void test_revival_keeps_order(void)
{
    char a[37], b[37], next[HANDON_TEXT];
    struct db_outcome cred = {.kind = DB_OUT_FAILED,
                              .error_message = "HTTP 401: session",
                              .error_kind = "credentials"};
    struct db_ids ids = {0};
    struct err e = {0};

    enqueue(5, 85, 1, a); /* add 550 */
    CHECK_EQ_INT(claim(c1, a, "c1", LEASE_LONG, 5, NULL, NULL, NULL), DB_CLAIMED);
    CHECK(finish(c1, a, "c1", &cred, NULL));
    enqueue(5, 85, 2, b); /* remove 550, enqueued after the add failed */
    CHECK_EQ_INT(claim(c2, b, "c2", LEASE_LONG, 5, NULL, NULL, NULL), DB_CLAIMED);

    CHECK_EQ_INT(db_retry_credential_failures(c1, 5, &ids, &e), ST_OK);
    CHECK_EQ_INT(ids.n, 1);
    db_ids_free(&ids);
    CHECK(col_long(a, "seq") > col_long(b, "seq"));
    CHECK_EQ_INT(claim(c1, a, "c1", LEASE_LONG, 5, NULL, NULL, NULL), DB_CLAIM_BLOCKED);
    CHECK(finish(c2, b, "c2", &done, next));
    CHECK_STR_EQ(next, a);
    CHECK_EQ_INT(claim(c1, a, "c1", LEASE_LONG, 5, NULL, NULL, NULL), DB_CLAIMED);
    CHECK(finish(c1, a, "c1", &done, NULL));
}

static void test_registry(void)
{
    struct err e = {0};
    char *v;

    CHECK_EQ_INT(db_consumer_register(c1, "c1", "host-a", 4242, NULL, &e), ST_OK);
    v = ts_sql_value(&env,
                     "SELECT host || ' ' || pid || ' ' || processed || ' ' || failed "
                     "|| ' ' || in_flight FROM tmdbq_consumers WHERE consumer_id = 'c1'");
    CHECK_STR_EQ(v, "host-a 4242 0 0 0");
    free(v);
    CHECK_EQ_INT(db_consumer_heartbeat(c1, "c1", 17, 3, 2, "mq2:5672", &e), ST_OK);
    v = ts_sql_value(&env, "SELECT processed || ' ' || failed || ' ' || in_flight || ' ' "
                           "|| (last_seen_at >= started_at) || ' ' || amqp_node "
                           "FROM tmdbq_consumers WHERE consumer_id = 'c1'");
    CHECK_STR_EQ(v, "17 3 2 true mq2:5672");
    free(v);
    /* A restart under the same id starts the row afresh. */
    CHECK_EQ_INT(db_consumer_register(c1, "c1", "host-b", 7, "mq1:5672", &e), ST_OK);
    v = ts_sql_value(&env, "SELECT host || ' ' || pid || ' ' || processed || ' ' || "
                           "count(*) OVER () FROM tmdbq_consumers");
    CHECK_STR_EQ(v, "host-b 7 0 1");
    free(v);
    CHECK_EQ_INT(db_consumer_unregister(c1, "c1", &e), ST_OK);
    CHECK_EQ_INT(ts_sql_long(&env, "SELECT count(*) FROM tmdbq_consumers"), 0);
    CHECK_EQ_INT(db_consumer_heartbeat(c1, "c1", 1, 0, 0, NULL, &e), ST_NOT_FOUND);
    CHECK_EQ_INT(db_consumer_unregister(c1, "c1", &e), ST_OK);
}

/* ---- races ---------------------------------------------------------------------------
 */

#define NTHREADS 8

struct racer {
    pthread_barrier_t *gate;
    struct db *db;
    const char *id;
    char consumer[16];
    int kind; /* 0: claim; 1: finish completed */
    int result;
    bool recorded;
    char next[HANDON_TEXT];
};

static void *race(void *arg)
{
    struct racer *r = arg;
    struct err e = {0};

    struct db_handon h = {0};

    pthread_barrier_wait(r->gate);
    if (r->kind == 0) {
        enum db_claim_result res;
        struct db_claim c;
        int64_t left;
        if (db_claim(r->db, r->id, r->consumer, LEASE_LONG, 5, &res, &c, &left, &h, &e) ==
            ST_OK)
            r->result = (int)res;
        else
            fprintf(stderr, "db_claim: %s\n", e.msg);
        db_claim_cleanup(&c);
    } else {
        if (db_finish(r->db, r->id, r->consumer, &done, &r->recorded, &h, &e) != ST_OK)
            fprintf(stderr, "db_finish: %s\n", e.msg);
    }
    handon_text(&h, r->next);
    return NULL;
}

/* Run n racers at once; each has its own connection. */
static void run_racers(struct racer *rs, size_t n)
{
    pthread_barrier_t gate;
    pthread_t th[NTHREADS];
    struct err e = {0};
    size_t started = 0;

    pthread_barrier_init(&gate, NULL, (unsigned)n);
    for (size_t i = 0; i < n; i++) {
        rs[i].gate = &gate;
        rs[i].result = -1;
        if (db_open(env.db_url, 5000, &rs[i].db, &e) != ST_OK) {
            fprintf(stderr, "db_open: %s\n", e.msg);
            CHECK(!"db_open");
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (rs[i].db == NULL || pthread_create(&th[i], NULL, race, &rs[i]) != 0)
            break;
        started++;
    }
    if (started == n) {
        for (size_t i = 0; i < n; i++)
            pthread_join(th[i], NULL);
    } else {
        /* The barrier can never open; nothing sane is left to do but stop here. */
        fprintf(stderr, "could not start the racers\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        db_close(rs[i].db);
    pthread_barrier_destroy(&gate);
}

static void test_races(void)
{
    struct racer rs[NTHREADS];
    char a[37], k1[37], k2[37];
    int claimed = 0, leased = 0;

    /* Eight consumers receive the same id at once: exactly one gets it. */
    enqueue(1, 90, 1, a);
    memset(rs, 0, sizeof rs);
    for (int i = 0; i < NTHREADS; i++) {
        rs[i].id = a;
        snprintf(rs[i].consumer, sizeof rs[i].consumer, "t%d", i);
    }
    run_racers(rs, NTHREADS);
    for (int i = 0; i < NTHREADS; i++) {
        claimed += rs[i].result == DB_CLAIMED;
        leased += rs[i].result == DB_CLAIM_LEASED;
    }
    CHECK_EQ_INT(claimed, 1);
    CHECK_EQ_INT(leased, NTHREADS - 1);
    CHECK_STR_EQ(col(a, "status"), "processing");

    /* The first operation of a list finishes while the second is being claimed: whichever
     * goes first, the second is never lost (claimed now, or handed on by the finish) and
     * never runs before the first ended. */
    for (int round = 0; round < 20; round++) {
        enqueue(1, 100 + round, 1, k1);
        enqueue(1, 100 + round, 2, k2);
        mark_published(k2);
        CHECK_EQ_INT(claim(c1, k1, "c1", LEASE_LONG, 5, NULL, NULL, NULL), DB_CLAIMED);
        memset(rs, 0, 2 * sizeof rs[0]);
        rs[0].id = k1;
        rs[0].kind = 1;
        snprintf(rs[0].consumer, sizeof rs[0].consumer, "c1");
        rs[1].id = k2;
        snprintf(rs[1].consumer, sizeof rs[1].consumer, "c2");
        run_racers(rs, 2);
        CHECK(rs[0].recorded);
        if (rs[1].result == DB_CLAIMED) {
            CHECK_STR_EQ(rs[0].next, "");
        } else {
            CHECK_EQ_INT(rs[1].result, DB_CLAIM_BLOCKED);
            CHECK_STR_EQ(rs[0].next, k2);
            CHECK_STR_EQ(col(k2, "status || ' ' || (published_at IS NULL)::text"),
                         "pending true");
        }
    }
}

/* A connection killed under the handle comes back as ST_DB, never as a crash or a
 * result. Runs last: it kills every tmdbq connection to the test database. */
static void test_lost_connection(void)
{
    char a[37];
    struct db_handon h;
    enum db_claim_result res;
    struct db_claim c;
    struct err e = {0};
    int64_t left;
    bool recorded = true, paused;
    struct db_ids ids = {0};

    enqueue(1, 200, 1, a);
    CHECK(ts_sql_long(&env,
                      "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                      "WHERE datname = current_database() "
                      "AND application_name = 'tmdbq' AND pid <> pg_backend_pid()") >= 2);
    CHECK(db_connected(c1));
    CHECK_EQ_INT(db_claim(c1, a, "c1", LEASE_LONG, 5, &res, &c, &left, &h, &e), ST_DB);
    CHECK(!db_connected(c1));
    db_claim_cleanup(&c);
    CHECK_EQ_INT(db_finish(c2, a, "c2", &done, &recorded, &h, &e), ST_DB);
    CHECK(!recorded);
    CHECK_EQ_INT(db_is_paused(c1, &paused, &e), ST_DB);
    CHECK_EQ_INT(db_consumer_heartbeat(c2, "c2", 0, 0, 0, NULL, &e), ST_DB);
    CHECK_EQ_INT(db_retry_credential_failures(c1, 1, &ids, &e), ST_DB);
    CHECK(ids.ids == NULL && ids.n == 0);
    CHECK(!db_connected(c2));
    CHECK(!db_connected(NULL));
}

/* An SQL error (here: the schema lacks tmdbq_claim, as before `tmdbq migrate`) is ST_DB
 * too, but the connection stays good, and the message says what to do. */
static void test_sql_error(void)
{
    char a[37];
    struct db_handon h;
    enum db_claim_result res;
    struct db_claim c;
    struct err e = {0};
    int64_t left;
    bool recorded = true;

    enqueue(1, 210, 1, a);
    CHECK_EQ_INT(db_consumer_schema_check(c1, &e), ST_OK);
    CHECK_EQ_INT(ts_sql_exec(&env, "ALTER FUNCTION tmdbq_claim(uuid, text, bigint,"
                                   " integer) RENAME TO tmdbq_claim_away"),
                 0);
    CHECK_EQ_INT(db_claim(c1, a, "c1", LEASE_LONG, 5, &res, &c, &left, &h, &e), ST_DB);
    db_claim_cleanup(&c);
    CHECK_CONTAINS(e.msg, "tmdbq_claim");
    CHECK_CONTAINS(e.msg, "run tmdbq migrate");
    CHECK(db_connected(c1));
    memset(&e, 0, sizeof e);
    CHECK_EQ_INT(db_consumer_schema_check(c1, &e), ST_NOT_FOUND);
    CHECK_CONTAINS(e.msg, "run tmdbq migrate");
    /* A finish with a malformed result is an SQL error as well (the check is SQL's). */
    {
        struct db_outcome bad = {.kind = DB_OUT_COMPLETED, .result_json = "{not json"};
        memset(&e, 0, sizeof e);
        CHECK_EQ_INT(db_finish(c2, a, "c2", &bad, &recorded, &h, &e), ST_DB);
        CHECK(!recorded);
        CHECK(db_connected(c2));
    }
    CHECK_EQ_INT(ts_sql_exec(&env, "ALTER FUNCTION tmdbq_claim_away(uuid, text, bigint,"
                                   " integer) RENAME TO tmdbq_claim"),
                 0);
    CHECK_EQ_INT(db_consumer_schema_check(c1, &e), ST_OK);
    CHECK_EQ_INT(claim(c1, a, "c1", LEASE_LONG, 5, NULL, NULL, NULL), DB_CLAIMED);
    CHECK(finish(c1, a, "c1", &done, NULL));
}

int main(void)
{
    struct err e = {0};
    int rc = ts_setup(&env, "claim");

    if (rc != 0) {
        ts_teardown(&env);
        return rc;
    }
    if (db_open(env.db_url, 5000, &c1, &e) != ST_OK ||
        db_open(env.db_url, 5000, &c2, &e) != ST_OK) {
        fprintf(stderr, "db_open: %s\n", e.msg);
        db_close(c1);
        ts_teardown(&env);
        return 1;
    }
    test_claim_lease_finish();
    test_ordering();
    test_late_mark();
    test_gone_hands_on();
    test_finish_repeat();
    test_early_and_paused();
    test_rescue_and_abandon();
    test_retry();
    test_credentials();
    test_revival_keeps_order();
    test_registry();
    test_races();
    test_sql_error();
    test_lost_connection();
    db_close(c1);
    db_close(c2);
    ts_teardown(&env);
    return check_exit();
}
