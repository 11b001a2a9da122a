/*
 * test_consumer_deadletter: a message that names no operation goes to <prefix>.dead, and
 * the consumer keeps working.
 *
 * Two bodies are published to the work exchange behind the producer's back: text that is
 * not a UUID, and one longer than any id. Both land in the dead-letter queue. A UUID that
 * names no row may be dropped or dead-lettered (both keep the queue clean; which one is
 * printed), but it does not stay in the work queue. An operation enqueued afterwards is
 * completed by the same consumer, which then stops cleanly.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "support.h"

int main(void)
{
    static const long none[] = {0};
    static const char *const garbage[] = {
        "not-a-uuid",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
        "-far-too-long-to-be-an-operation-id",
    };
    static const char *const unknown[] = {"4f1c2a3b-9d8e-4c7b-a6f5-0e1d2c3b4a59"};
    struct ts_env env;
    struct ts_fake fake;
    struct ts_proc cons;
    json_t *ops = NULL;
    long dead, work;
    char *status = NULL, sql[160];
    int rc;

    ts_procs_init(&cons, 1);
    rc = ts_setup_with_fake(&env, &fake, "consumer_deadletter", 5, 100, 2000);
    if (rc != 0)
        return rc;
    CHECK_EQ_INT(ts_user(&env, &fake, 1, "sess-dead", NULL), 0);
    CHECK_EQ_INT(ts_fake_list(&fake, 5101, 1, none, 0), 0);
    CHECK_EQ_INT(ts_consumer_start(&env, &fake, NULL, NULL, &cons), 0);

    CHECK_EQ_INT(ts_publish_ids(&env, garbage, 2), 0);
    dead = ts_queue_depth(&env, "dead", 2, 15000);
    printf("deadletter: %ld message(s) in the dead-letter queue\n", dead);
    CHECK_EQ_INT(dead, 2);
    CHECK_EQ_INT(ts_publish_ids(&env, unknown, 1), 0);
    work = ts_queue_depth(&env, "work", 0, 10000);
    CHECK_EQ_INT(work, 0);
    /* Give the consumer a moment to dead-letter it, if that is what it does. */
    dead = ts_queue_depth(&env, "dead", 3, 3000);
    printf("deadletter: a UUID that names no row was %s\n",
           dead == 3 ? "dead-lettered" : "dropped");
    CHECK(dead == 2 || dead == 3);
    CHECK(ts_proc_running(&cons));

    CHECK_EQ_INT(ts_enqueue_lines(&env,
                                  "{\"type\":\"add_movie\",\"user\":1,\"list\":5101,"
                                  "\"movie\":550}\n",
                                  &ops),
                 1);
    CHECK_EQ_INT(ts_wait_final_while(&env, &cons, 1, 15000), 0);
    if (json_array_size(ops) == 1) {
        snprintf(sql, sizeof sql,
                 "SELECT status FROM queued_list_operations WHERE id = '%s'",
                 ts_json_str(json_array_get(ops, 0), "id"));
        status = ts_sql_value(&env, sql);
        CHECK_STR_EQ(status, "completed");
    }
    /* The good operation did not go to the dead-letter queue. */
    CHECK_EQ_INT(ts_queue_depth(&env, "dead", dead, 0), dead);
    CHECK_EQ_INT(ts_proc_stop(&cons, 15000), 0);
    ts_procs_end(&env, &cons, 1, check_failures != 0, 20, 6000);
    free(status);
    json_decref(ops);
    ts_teardown(&env);
    return check_exit();
}
