/*
 * test_mq_consume: the consuming half of the mq module against a real RabbitMQ.
 *
 * Publishing and consuming use separate handles (separate connections), as the consumer
 * does. Each scenario opens its own consumer and leaves nothing unacked behind it, so the
 * next one starts from an empty work queue. The retry policy is 100ms-based (100, 200,
 * 400ms) so a delayed retry is observable within a test. Every wait is bounded.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "mq.h"
#include "support.h"

#define TIMEOUT_MS 5000
#define MANY 50
#define HELD 15
#define PREFETCH 10
#define REQUEUES 25

static const struct backoff_policy policy = {3, 100, 1000};

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void make_id(char *buf, size_t n, unsigned scenario, unsigned i)
{
    snprintf(buf, n, "00000000-0000-4000-%04u-%012u", scenario, i);
}

static struct mq *open_handle(struct ts_env *env)
{
    struct mq *mq = NULL;
    struct err e = {0};

    if (mq_open(env->amqp_url, env->prefix, &policy, TIMEOUT_MS, &mq, &e) != ST_OK)
        fprintf(stderr, "mq_open: %s\n", e.msg);
    return mq;
}

static struct mq *open_consumer(struct ts_env *env, uint16_t prefetch)
{
    struct mq *mq = open_handle(env);
    struct err e = {0};

    if (mq != NULL && mq_consume_start(mq, prefetch, &e) != ST_OK) {
        fprintf(stderr, "mq_consume_start: %s\n", e.msg);
        mq_close(mq);
        mq = NULL;
    }
    return mq;
}

static bool publish(struct mq *pub, char (*ids)[40], size_t n)
{
    const char *ptrs[MANY];
    bool ok[MANY];
    struct err e = {0};
    size_t i;

    for (i = 0; i < n && i < MANY; i++)
        ptrs[i] = ids[i];
    if (mq_publish_work(pub, ptrs, n, ok, &e) != ST_OK) {
        fprintf(stderr, "mq_publish_work: %s\n", e.msg);
        return false;
    }
    return true;
}

/* Index of body in ids, or -1. */
static int find_id(char (*ids)[40], size_t n, const char *body)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (strcmp(ids[i], body) == 0)
            return (int)i;
    }
    return -1;
}

/* Next delivery within TIMEOUT_MS; false (after printing why) when there was none. */
static bool next(struct mq *c, struct mq_delivery *d)
{
    struct err e = {0};
    enum status st = mq_consume_next(c, TIMEOUT_MS, d, &e);

    if (st != ST_OK) {
        fprintf(stderr, "mq_consume_next: %s (%s)\n", e.msg, status_name(st));
        return false;
    }
    return true;
}

static void ack(struct mq *c, const struct mq_delivery *d)
{
    struct err e = {0};

    if (mq_ack(c, d->tag, &e) != ST_OK) {
        fprintf(stderr, "mq_ack: %s\n", e.msg);
        CHECK(!"ack failed");
    }
}

/* 50 ids through a prefetch of 10: only possible when acks free the window again. */
static void check_consume_all(struct ts_env *env, struct mq *pub)
{
    static char ids[MANY][40];
    int seen[MANY] = {0};
    struct mq_delivery d;
    struct mq *c = open_consumer(env, PREFETCH);
    size_t i, got = 0;

    CHECK(c != NULL);
    if (c == NULL)
        return;
    for (i = 0; i < MANY; i++)
        make_id(ids[i], sizeof ids[i], 1, (unsigned)i);
    CHECK(publish(pub, ids, MANY));
    while (got < MANY && next(c, &d)) {
        int k = find_id(ids, MANY, d.body);

        CHECK(k >= 0);
        CHECK(!d.too_long);
        CHECK(!d.redelivered);
        CHECK_EQ_INT(d.len, 36);
        if (k >= 0)
            seen[k]++;
        ack(c, &d);
        got++;
    }
    CHECK_EQ_INT(got, MANY);
    for (i = 0; i < MANY; i++) {
        if (seen[i] != 1)
            fprintf(stderr, "id %s seen %d times\n", ids[i], seen[i]);
        CHECK_EQ_INT(seen[i], 1);
    }
    CHECK_EQ_INT(ts_queue_depth(env, "work", 0, TIMEOUT_MS), 0);
    mq_close(c);
}

/* Nothing queued: ST_TIMEOUT, not before the timeout and not much after it. */
static void check_timeout(struct ts_env *env)
{
    struct mq_delivery d;
    struct err e = {0};
    struct mq *c = open_consumer(env, PREFETCH);
    int64_t t0, elapsed;
    enum status st;

    CHECK(c != NULL);
    if (c == NULL)
        return;
    t0 = now_ms();
    st = mq_consume_next(c, 1000, &d, &e);
    elapsed = now_ms() - t0;
    CHECK_EQ_INT(st, ST_TIMEOUT);
    CHECK(elapsed >= 1000);
    CHECK(elapsed < 3000);
    if (elapsed < 1000 || elapsed >= 3000)
        fprintf(stderr, "timeout of 1000ms took %lldms\n", (long long)elapsed);
    /* A timeout leaves the handle usable. */
    st = mq_consume_next(c, 0, &d, &e);
    CHECK_EQ_INT(st, ST_TIMEOUT);
    mq_close(c);
}

/* Reject without requeue: the work queue dead-letters it to P.dead. */
static void check_reject(struct ts_env *env, struct mq *pub)
{
    char ids[1][40];
    struct mq_delivery d;
    struct err e = {0};
    struct mq *c = open_consumer(env, PREFETCH);

    CHECK(c != NULL);
    if (c == NULL)
        return;
    make_id(ids[0], sizeof ids[0], 3, 0);
    CHECK(publish(pub, ids, 1));
    if (next(c, &d)) {
        CHECK_STR_EQ(d.body, ids[0]);
        CHECK_EQ_INT(mq_reject(c, d.tag, &e), ST_OK);
    } else {
        CHECK(!"no delivery to reject");
    }
    CHECK_EQ_INT(ts_queue_depth(env, "dead", 1, TIMEOUT_MS), 1);
    CHECK_EQ_INT(ts_queue_depth(env, "work", 0, TIMEOUT_MS), 0);
    mq_close(c);
}

/* Requeue: the same message comes back, marked redelivered. */
static void check_requeue(struct ts_env *env, struct mq *pub)
{
    char ids[1][40];
    struct mq_delivery d;
    struct err e = {0};
    struct mq *c = open_consumer(env, PREFETCH);

    CHECK(c != NULL);
    if (c == NULL)
        return;
    make_id(ids[0], sizeof ids[0], 4, 0);
    CHECK(publish(pub, ids, 1));
    if (next(c, &d)) {
        CHECK_STR_EQ(d.body, ids[0]);
        CHECK(!d.redelivered);
        /* Requeued more often than RabbitMQ 4's default delivery limit (20) allows: the
         * work queue's explicit limit keeps it coming back, never dead-lettered. */
        for (int k = 0; k < REQUEUES; k++) {
            CHECK_EQ_INT(mq_requeue(c, d.tag, &e), ST_OK);
            if (!next(c, &d)) {
                CHECK(!"no redelivery after requeue");
                break;
            }
            CHECK_STR_EQ(d.body, ids[0]);
            CHECK(d.redelivered);
        }
        ack(c, &d);
    } else {
        CHECK(!"no delivery to requeue");
    }
    CHECK_EQ_INT(ts_queue_depth(env, "work", 0, TIMEOUT_MS), 0);
    mq_close(c);
}

/* A consumer that dies holding deliveries: prefetch caps what it holds, and another
 * consumer gets them all, the held ones marked redelivered. */
static void check_close_unacked(struct ts_env *env, struct mq *pub)
{
    static char ids[HELD][40];
    int held[HELD] = {0}, seen[HELD] = {0};
    struct mq_delivery d;
    struct err e = {0};
    struct mq *c1 = open_consumer(env, PREFETCH), *c2 = NULL;
    size_t i, got = 0;

    CHECK(c1 != NULL);
    if (c1 == NULL)
        return;
    for (i = 0; i < HELD; i++)
        make_id(ids[i], sizeof ids[i], 5, (unsigned)i);
    CHECK(publish(pub, ids, HELD));
    while (got < PREFETCH && next(c1, &d)) {
        int k = find_id(ids, HELD, d.body);

        CHECK(k >= 0);
        if (k >= 0)
            held[k] = 1;
        got++;
    }
    CHECK_EQ_INT(got, PREFETCH);
    /* The window is full: no eleventh delivery while the ten are unacked. */
    CHECK_EQ_INT(mq_consume_next(c1, 300, &d, &e), ST_TIMEOUT);
    mq_close(c1);

    c2 = open_consumer(env, PREFETCH);
    CHECK(c2 != NULL);
    if (c2 == NULL)
        return;
    got = 0;
    while (got < HELD && next(c2, &d)) {
        int k = find_id(ids, HELD, d.body);

        CHECK(k >= 0);
        if (k >= 0) {
            seen[k]++;
            if (held[k] && !d.redelivered)
                fprintf(stderr, "id %s was held but is not marked redelivered\n", ids[k]);
            CHECK(!held[k] || d.redelivered);
        }
        ack(c2, &d);
        got++;
    }
    CHECK_EQ_INT(got, HELD);
    for (i = 0; i < HELD; i++)
        CHECK_EQ_INT(seen[i], 1);
    CHECK_EQ_INT(mq_consume_next(c2, 300, &d, &e), ST_TIMEOUT);
    mq_close(c2);
}

/* Six deliveries; one requeued at once, then one ack up to the fifth: the five (the
 * requeued one among them, settled already) are done, and after the handle closes only
 * the sixth and the requeued one come back. */
static void check_ack_upto(struct ts_env *env, struct mq *pub)
{
    static char ids[6][40];
    int back[6] = {0};
    struct mq_delivery d, kept[6];
    struct err e = {0};
    struct mq *c1 = open_consumer(env, PREFETCH), *c2 = NULL;
    size_t i, got = 0;

    CHECK(c1 != NULL);
    if (c1 == NULL)
        return;
    for (i = 0; i < 6; i++)
        make_id(ids[i], sizeof ids[i], 8, (unsigned)i);
    CHECK(publish(pub, ids, 6));
    while (got < 6 && next(c1, &kept[got]))
        got++;
    CHECK_EQ_INT(got, 6);
    if (got != 6) {
        mq_close(c1);
        return;
    }
    CHECK_EQ_INT(mq_requeue(c1, kept[2].tag, &e), ST_OK);
    /* The requeued one comes straight back to this handle: take it, leave it unacked. */
    CHECK(next(c1, &d));
    CHECK_EQ_INT(find_id(ids, 6, d.body), 2);
    CHECK_EQ_INT(mq_ack_upto(c1, kept[4].tag, &e), ST_OK);
    mq_close(c1);

    c2 = open_consumer(env, PREFETCH);
    CHECK(c2 != NULL);
    if (c2 == NULL)
        return;
    for (got = 0; got < 2 && next(c2, &d); got++) {
        int k = find_id(ids, 6, d.body);

        CHECK(k >= 0);
        if (k >= 0)
            back[k]++;
        ack(c2, &d);
    }
    CHECK_EQ_INT(got, 2);
    CHECK_EQ_INT(back[2], 1);
    CHECK_EQ_INT(back[5], 1);
    CHECK_EQ_INT(mq_consume_next(c2, 300, &d, &e), ST_TIMEOUT);
    mq_close(c2);
}

/* 150ms is rounded up to the 200ms queue, and the id comes back no sooner. */
static void check_delayed(struct ts_env *env, struct mq *pub)
{
    char id[40];
    struct mq_delivery d;
    struct err e = {0};
    struct mq *c = open_consumer(env, PREFETCH);
    int64_t used = -1, t0, elapsed;

    CHECK(c != NULL);
    if (c == NULL)
        return;
    make_id(id, sizeof id, 6, 0);
    t0 = now_ms();
    CHECK_EQ_INT(mq_publish_delayed(pub, id, 150, &used, &e), ST_OK);
    CHECK_EQ_INT(used, 200);
    if (next(c, &d)) {
        elapsed = now_ms() - t0;
        CHECK_STR_EQ(d.body, id);
        /* The broker stamps expiry in whole milliseconds: allow it a little rounding. */
        CHECK(elapsed >= 190);
        if (elapsed < 190)
            fprintf(stderr, "a 200ms retry came back after %lldms\n", (long long)elapsed);
        ack(c, &d);
    } else {
        CHECK(!"the delayed id never came back");
    }
    CHECK_EQ_INT(ts_queue_depth(env, "retry.200ms", 0, TIMEOUT_MS), 0);

    /* A wish beyond every queue (a long Retry-After) takes the largest one. */
    make_id(id, sizeof id, 6, 1);
    CHECK_EQ_INT(mq_publish_delayed(pub, id, 60000, &used, &e), ST_OK);
    CHECK_EQ_INT(used, 400);
    if (next(c, &d)) {
        CHECK_STR_EQ(d.body, id);
        ack(c, &d);
    } else {
        CHECK(!"the 400ms-delayed id never came back");
    }
    mq_close(c);
}

/* A body longer than 63 bytes is truncated and flagged, and its real length reported. */
static void check_too_long(struct ts_env *env, struct mq *pub)
{
    char ids[1][40];
    char longid[101];
    const char *ptrs[1];
    bool ok[1];
    struct mq_delivery d;
    struct err e = {0};
    struct mq *c = open_consumer(env, PREFETCH);

    CHECK(c != NULL);
    if (c == NULL)
        return;
    memset(longid, 'x', 100);
    longid[100] = '\0';
    memcpy(longid, "too-long-", 9);
    ptrs[0] = longid;
    CHECK_EQ_INT(mq_publish_work(pub, ptrs, 1, ok, &e), ST_OK);
    if (next(c, &d)) {
        CHECK(d.too_long);
        CHECK_EQ_INT(d.len, 100);
        CHECK_EQ_INT(strlen(d.body), 63);
        CHECK(strncmp(d.body, longid, 63) == 0);
        ack(c, &d);
    } else {
        CHECK(!"no delivery of the long body");
    }
    /* And an ordinary one right after it is intact. */
    make_id(ids[0], sizeof ids[0], 7, 0);
    CHECK(publish(pub, ids, 1));
    if (next(c, &d)) {
        CHECK(!d.too_long);
        CHECK_STR_EQ(d.body, ids[0]);
        ack(c, &d);
    }
    mq_close(c);
}

/* Deleting the queue under a consumer: the broker cancels it and next says ST_MQ at
 * once, not after the timeout. Deletes this test's topology, so it runs last. */
static void check_cancel(struct ts_env *env, struct mq *pub)
{
    struct mq_delivery d;
    struct err e = {0};
    struct mq *c = open_consumer(env, PREFETCH);
    int64_t t0;

    CHECK(c != NULL);
    if (c == NULL)
        return;
    CHECK_EQ_INT(mq_delete_topology(pub, &e), ST_OK);
    t0 = now_ms();
    CHECK_EQ_INT(mq_consume_next(c, TIMEOUT_MS, &d, &e), ST_MQ);
    CHECK(now_ms() - t0 < TIMEOUT_MS);
    CHECK_CONTAINS(e.msg, "cancelled");
    /* And stays so: the handle must be replaced. */
    CHECK_EQ_INT(mq_consume_next(c, 100, &d, &e), ST_MQ);
    mq_close(c);
}

int main(void)
{
    struct ts_env env;
    struct mq *pub = NULL;
    struct err e = {0};
    int rc;

    rc = ts_setup(&env, "mq_consume");
    if (rc != 0)
        goto out;
    pub = open_handle(&env);
    CHECK(pub != NULL);
    if (pub == NULL)
        goto done;
    check_consume_all(&env, pub);
    check_timeout(&env);
    check_reject(&env, pub);
    check_requeue(&env, pub);
    check_close_unacked(&env, pub);
    check_ack_upto(&env, pub);
    check_delayed(&env, pub);
    check_too_long(&env, pub);
    CHECK_EQ_INT(ts_queue_depth(&env, "work", 0, TIMEOUT_MS), 0);
    CHECK_EQ_INT(ts_queue_depth(&env, "dead", 1, TIMEOUT_MS), 1);
    check_cancel(&env, pub);
    /* The teardown handle knows only the default policy's retry queues: delete ours. */
    if (mq_delete_topology(pub, &e) != ST_OK)
        fprintf(stderr, "cleanup: %s\n", e.msg);
done:
    mq_close(pub);
    rc = check_exit();
out:
    ts_teardown(&env);
    return rc;
}
