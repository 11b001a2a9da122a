/*
 * test_consumer_quirks: what TMDB does that is not plain success or failure.
 *
 * - 429 with Retry-After: 1 s, under a policy whose first retry is 100 ms: the next
 *   attempt comes no earlier than the Retry-After, and the add ends completed.
 * - The delete quirk: DELETE answers 500/11 although the list is gone; a GET confirms it
 *   and the delete ends completed after one DELETE.
 * - An add of a movie already on the list (403/8) and a remove of a movie not on it
 *   (200/21): the goal already holds, completed.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "support.h"

#define RETRY_AFTER_MS 1000
/* The fake stamps requests with its own monotonic clock; allow rounding of a few ms. */
#define JITTER_MS 15

static char *op_value(struct ts_env *env, const char *id, const char *column)
{
    char sql[256];

    snprintf(sql, sizeof sql,
             "SELECT %s::text FROM queued_list_operations WHERE id = '%s'", column, id);
    return ts_sql_value(env, sql);
}

static void check_completed(struct ts_env *env, const char *what, const char *id,
                            long retries)
{
    char *status = op_value(env, id, "status"), *result = op_value(env, id, "result");
    char *count = op_value(env, id, "retry_count");
    char want[16];

    printf("quirks: %s: status %s, retry_count %s, result %s\n", what,
           status ? status : "(null)", count ? count : "(null)",
           result ? result : "(null)");
    CHECK_STR_EQ(status, "completed");
    snprintf(want, sizeof want, "%ld", retries);
    CHECK_STR_EQ(count, want);
    free(status);
    free(result);
    free(count);
}

int main(void)
{
    static const long l1[] = {100};
    static const long l3[] = {550, 600};
    static const char *const cargs[] = {"--concurrency", "2", "--prefetch", "4", NULL};
    struct ts_env env;
    struct ts_fake fake;
    struct ts_proc cons;
    json_t *ops = NULL, *reqs = NULL;
    long long t[4];
    long items[8];
    size_t n;
    int rc;

    ts_procs_init(&cons, 1);
    rc = ts_setup_with_fake(&env, &fake, "consumer_quirks", 5, 100, 2000);
    if (rc != 0)
        return rc;
    CHECK_EQ_INT(ts_user(&env, &fake, 1, "sess-quirks", "tok-quirks"), 0);
    CHECK_EQ_INT(ts_fake_list(&fake, 9001, 1, l1, 1), 0);
    CHECK_EQ_INT(ts_fake_list(&fake, 9002, 1, l1, 1), 0);
    CHECK_EQ_INT(ts_fake_list(&fake, 9003, 1, l3, 2), 0);
    CHECK_EQ_INT(ts_fake_faults(&fake, "{\"rate_limit_next\":1,\"retry_after\":1,"
                                       "\"path_contains\":\"/3/list/9001/add_item\","
                                       "\"delete_quirk\":true}"),
                 0);
    CHECK_EQ_INT(
        ts_enqueue_lines(
            &env,
            "{\"type\":\"add_movie\",\"user\":1,\"list\":9001,\"movie\":550}\n"
            "{\"type\":\"delete_list\",\"user\":1,\"list\":9002}\n"
            "{\"type\":\"add_movie\",\"user\":1,\"list\":9003,\"movie\":550}\n"
            "{\"type\":\"remove_movie\",\"user\":1,\"list\":9003,\"movie\":700}\n",
            &ops),
        4);
    if (json_array_size(ops) != 4)
        goto out;
    CHECK_EQ_INT(ts_consumer_start(&env, &fake, NULL, cargs, &cons), 0);
    CHECK_EQ_INT(ts_wait_final_while(&env, &cons, 1, 20000), 0);
    reqs = ts_fake_requests(&fake);
    if (reqs == NULL) {
        CHECK(!"requests read");
        goto out;
    }

    /* 429 + Retry-After: tried again after it, and no retry spent. */
    check_completed(&env, "429 Retry-After", ts_json_str(json_array_get(ops, 0), "id"),
                    0);
    n = ts_fake_times(reqs, "POST", "/3/list/9001/add_item", t, 4);
    CHECK_EQ_INT(n, 2);
    if (n == 2) {
        printf("quirks: after a 429 with Retry-After 1 s the next attempt came %lld ms "
               "later\n",
               t[1] - t[0]);
        CHECK(t[1] - t[0] >= RETRY_AFTER_MS - JITTER_MS);
    }
    CHECK_EQ_INT(ts_fake_list_items(&fake, 9001, items, 8), 2);

    /* Delete quirk: one DELETE, confirmed by a GET, completed; the list is gone. */
    check_completed(&env, "delete quirk", ts_json_str(json_array_get(ops, 1), "id"), 0);
    CHECK_EQ_INT(ts_fake_count(reqs, "DELETE", "/3/list/9002"), 1);
    CHECK(ts_fake_count(reqs, "GET", "/3/list/9002") >= 1);
    CHECK_EQ_INT(ts_fake_list_items(&fake, 9002, items, 8), -2);

    /* Goal already holds. */
    check_completed(&env, "add of a movie already there",
                    ts_json_str(json_array_get(ops, 2), "id"), 0);
    check_completed(&env, "remove of a movie not there",
                    ts_json_str(json_array_get(ops, 3), "id"), 0);
    CHECK_EQ_INT(ts_fake_count(reqs, "POST", "/3/list/9003/add_item"), 1);
    CHECK_EQ_INT(ts_fake_count(reqs, "POST", "/3/list/9003/remove_item"), 1);
    CHECK_EQ_INT(ts_fake_list_items(&fake, 9003, items, 8), 2);

    CHECK_EQ_INT(ts_proc_stop(&cons, 15000), 0);
out:
    ts_procs_end(&env, &cons, 1, check_failures != 0, 20, 6000);
    json_decref(reqs);
    json_decref(ops);
    ts_teardown(&env);
    return check_exit();
}
