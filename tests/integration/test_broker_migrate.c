/*
 * test_broker_migrate: `tmdbq migrate` moves the queues an older tmdbq declared, keeping
 * every message.
 *
 * An older tmdbq declared its delayed-retry queues as classic queues and its work queue
 * without a delivery limit; declaring them with today's arguments fails (406), so every
 * program would be refused until they are moved. The test builds that older topology
 * with librabbitmq itself (100 ids in the work queue, an empty message that names
 * nothing, 50 ids waiting in an hour-long retry queue), checks that opening the broker is
 * refused with a message that names `tmdbq migrate`, runs it, and finds the queues
 * declared anew with every id in its queue. A second run has nothing to move. Then a move
 * a crash interrupted (ids left in the holding queue) is finished by the next run.
 */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mq.h"
#include "support.h"

#define IN_WORK 100
#define IN_RETRY 50
#define HELD 10

/* The policy of this test: one retry an hour later, so one delayed-retry queue whose
 * messages stay put while they are moved. */
static const struct backoff_policy policy = {1, 3600000, 3600000};

struct raw {
    amqp_connection_state_t conn;
    bool ok;
};

static bool reply_ok(struct raw *r, const char *what)
{
    amqp_rpc_reply_t rep = amqp_get_rpc_reply(r->conn);

    if (rep.reply_type == AMQP_RESPONSE_NORMAL)
        return true;
    fprintf(stderr, "raw AMQP: %s failed (reply type %d)\n", what, (int)rep.reply_type);
    r->ok = false;
    return false;
}

static bool raw_open(struct raw *r, const char *url)
{
    struct amqp_connection_info info;
    amqp_socket_t *sock;
    char *copy = strdup(url);

    r->ok = false;
    r->conn = amqp_new_connection();
    sock = amqp_tcp_socket_new(r->conn);
    amqp_default_connection_info(&info);
    if (copy == NULL || amqp_parse_url(copy, &info) != AMQP_STATUS_OK ||
        amqp_socket_open(sock, info.host, info.port) != AMQP_STATUS_OK) {
        free(copy);
        return false;
    }
    if (amqp_login(r->conn, info.vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, info.user,
                   info.password)
            .reply_type != AMQP_RESPONSE_NORMAL) {
        free(copy);
        return false;
    }
    free(copy);
    amqp_channel_open(r->conn, 1);
    r->ok = true;
    return reply_ok(r, "channel.open");
}

static void raw_close(struct raw *r)
{
    if (r->conn == NULL)
        return;
    if (r->ok) {
        amqp_channel_close(r->conn, 1, AMQP_REPLY_SUCCESS);
        amqp_connection_close(r->conn, AMQP_REPLY_SUCCESS);
    }
    amqp_destroy_connection(r->conn);
}

static amqp_table_entry_t str_entry(const char *key, const char *value)
{
    amqp_table_entry_t t;

    t.key = amqp_cstring_bytes(key);
    t.value.kind = AMQP_FIELD_KIND_UTF8;
    t.value.value.bytes = amqp_cstring_bytes(value);
    return t;
}

static amqp_table_entry_t i64_entry(const char *key, int64_t value)
{
    amqp_table_entry_t t;

    t.key = amqp_cstring_bytes(key);
    t.value.kind = AMQP_FIELD_KIND_I64;
    t.value.value.i64 = value;
    return t;
}

static bool declare(struct raw *r, const char *name, amqp_table_entry_t *args, int n)
{
    amqp_table_t t = {n, args};

    amqp_queue_declare(r->conn, 1, amqp_cstring_bytes(name), 0, 1, 0, 0, t);
    return reply_ok(r, name);
}

/* Publish ids straight into queue name (the default exchange), persistent. */
static void put(struct raw *r, const char *name, int from, int count)
{
    amqp_basic_properties_t props;

    props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
    props.delivery_mode = 2;
    for (int i = from; i < from + count; i++) {
        char id[40];

        snprintf(id, sizeof id, "00000000-0000-4000-8000-%012d", i);
        CHECK_EQ_INT(amqp_basic_publish(r->conn, 1, amqp_cstring_bytes(""),
                                        amqp_cstring_bytes(name), 0, 0, &props,
                                        amqp_cstring_bytes(id)),
                     AMQP_STATUS_OK);
    }
}

/* The topology as tmdbq declared it before the retry queues became quorum queues. */
static bool old_topology(struct raw *r, const char *prefix)
{
    char work[160], dead[160], retry[160], work_x[160], dead_x[160];
    amqp_table_entry_t a[3];
    amqp_basic_properties_t props;

    snprintf(work, sizeof work, "%s.work", prefix);
    snprintf(dead, sizeof dead, "%s.dead", prefix);
    snprintf(retry, sizeof retry, "%s.retry.1h", prefix);
    snprintf(work_x, sizeof work_x, "%s.work", prefix);
    snprintf(dead_x, sizeof dead_x, "%s.dead", prefix);
    a[0] = str_entry("x-queue-type", "quorum");
    if (!declare(r, dead, a, 1))
        return false;
    a[1] = str_entry("x-dead-letter-exchange", dead_x);
    if (!declare(r, work, a, 2))
        return false;
    a[0] = i64_entry("x-message-ttl", 3600000);
    a[1] = str_entry("x-dead-letter-exchange", work_x);
    a[2] = str_entry("x-dead-letter-routing-key", "work");
    if (!declare(r, retry, a, 3))
        return false;
    put(r, work, 0, IN_WORK);
    put(r, retry, 1000, IN_RETRY);
    props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
    props.delivery_mode = 2;
    /* An empty message names no operation: dropped by the move, and counted. */
    CHECK_EQ_INT(amqp_basic_publish(r->conn, 1, amqp_cstring_bytes(""),
                                    amqp_cstring_bytes(work), 0, 0, &props,
                                    amqp_cstring_bytes("")),
                 AMQP_STATUS_OK);
    return r->ok;
}

/* Run tmdbq migrate --json; its "broker" object, or NULL. */
static json_t *migrate(struct ts_env *env)
{
    static const char *const penv[] = {"TMDBQ_MAX_RETRIES=1", "TMDBQ_BACKOFF_BASE=1h",
                                       "TMDBQ_BACKOFF_CAP=1h", NULL};
    struct ts_result r;
    json_t *out, *broker = NULL;

    CHECK_EQ_INT(ts_run(env, penv, NULL, &r, "migrate", "--json", (const char *)NULL), 0);
    out = ts_json_parse(r.out);
    if (out != NULL)
        broker = json_incref(json_object_get(out, "broker"));
    if (!json_is_object(broker))
        fprintf(stderr, "migrate: %s / %s\n", r.out, r.err);
    json_decref(out);
    ts_result_free(&r);
    return broker;
}

static long field(const json_t *o, const char *key)
{
    return (long)json_integer_value(json_object_get(o, key));
}

int main(void)
{
    struct ts_env env;
    struct raw raw = {0};
    struct mq *mq = NULL;
    struct err e = {0};
    json_t *b;
    char holding[160];
    int rc;

    rc = ts_setup(&env, "broker_migrate");
    if (rc != 0)
        goto out;
    /* ts_setup's migrate declared today's topology: start from the older one instead. */
    CHECK_EQ_INT(mq_open(env.amqp_url, env.prefix, &policy, 5000, &mq, &e), ST_OK);
    if (mq != NULL)
        CHECK_EQ_INT(mq_delete_topology(mq, &e), ST_OK);
    mq_close(mq);
    mq = NULL;
    CHECK(raw_open(&raw, env.amqp_url));
    CHECK(old_topology(&raw, env.prefix));

    /* Every program is refused, and told what to run. */
    CHECK(mq_open(env.amqp_url, env.prefix, &policy, 5000, &mq, &e) != ST_OK);
    CHECK(mq == NULL);
    CHECK_CONTAINS(e.msg, "tmdbq migrate");

    b = migrate(&env);
    CHECK(b != NULL);
    CHECK_EQ_INT(field(b, "queues_moved"), 2);
    CHECK_EQ_INT(field(b, "messages_moved"), IN_WORK + IN_RETRY);
    CHECK_EQ_INT(field(b, "dropped"), 1);
    json_decref(b);
    /* Declared as today's tmdbq declares them (mq_open would be refused otherwise), with
     * every id where it was. */
    memset(&e, 0, sizeof e);
    CHECK_EQ_INT(mq_open(env.amqp_url, env.prefix, &policy, 5000, &mq, &e), ST_OK);
    if (e.msg[0] != '\0')
        fprintf(stderr, "mq_open: %s\n", e.msg);
    mq_close(mq);
    mq = NULL;
    CHECK_EQ_INT(ts_queue_depth(&env, "work", IN_WORK, 5000), IN_WORK);
    CHECK_EQ_INT(ts_queue_depth(&env, "retry.1h", IN_RETRY, 5000), IN_RETRY);

    /* Nothing left to move. */
    b = migrate(&env);
    CHECK(b != NULL);
    CHECK_EQ_INT(field(b, "queues_moved"), 0);
    CHECK_EQ_INT(field(b, "messages_moved"), 0);
    json_decref(b);

    /* A move that a crash interrupted: ids wait in the holding queue. */
    snprintf(holding, sizeof holding, "%s.retry.1h.migrating", env.prefix);
    {
        amqp_table_entry_t q = str_entry("x-queue-type", "quorum");

        CHECK(declare(&raw, holding, &q, 1));
    }
    put(&raw, holding, 2000, HELD);
    b = migrate(&env);
    CHECK(b != NULL);
    CHECK_EQ_INT(field(b, "queues_moved"), 0);
    CHECK_EQ_INT(field(b, "messages_moved"), HELD);
    json_decref(b);
    CHECK_EQ_INT(ts_queue_depth(&env, "retry.1h", IN_RETRY + HELD, 5000),
                 IN_RETRY + HELD);
    {
        amqp_queue_declare(raw.conn, 1, amqp_cstring_bytes(holding), 1, 0, 0, 0,
                           amqp_empty_table);
        /* The passive declare fails: the holding queue is gone. */
        CHECK(amqp_get_rpc_reply(raw.conn).reply_type != AMQP_RESPONSE_NORMAL);
        raw.ok = false;
    }

    /* The test's own queues: today's, for this policy. */
    CHECK_EQ_INT(mq_open(env.amqp_url, env.prefix, &policy, 5000, &mq, &e), ST_OK);
    if (mq != NULL)
        mq_delete_topology(mq, &e);
    mq_close(mq);
out:
    raw_close(&raw);
    ts_teardown(&env);
    return rc != 0 ? rc : check_exit();
}
