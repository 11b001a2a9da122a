/*
 * test_mq: the mq module against a real RabbitMQ (TMDBQ_AMQP_URL, default the local one).
 *
 * Everything lives under a prefix of its own (tmdbq_test_mq_<pid>), so runs can overlap,
 * and is deleted at the end. Delays are 100ms-based so the retry path is observable in a
 * test. Without a broker the test skips (77), unless CI is set: then that is a failure.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "mq.h"

#define TIMEOUT_MS 5000
#define BULK 2000

static char bulk_ids[BULK][40];
static const char *bulk_ptrs[BULK];
static bool bulk_ok[BULK];

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static void make_id(char *buf, size_t n, unsigned i)
{
    snprintf(buf, n, "00000000-0000-4000-8000-%012u", i);
}

/* The broker updates queue counts asynchronously: poll until want or within_ms passes.
 * Returns the last count seen, or -1 when the queue could not be inspected. */
static long wait_depth(struct mq *mq, const char *suffix, uint32_t want,
                       int64_t within_ms)
{
    int64_t deadline = now_ms() + within_ms;
    uint32_t messages = 0, consumers = 0;
    struct err e = {0};

    for (;;) {
        if (mq_queue_depth(mq, suffix, &messages, &consumers, &e) != ST_OK) {
            fprintf(stderr, "queue depth of %s: %s\n", suffix, e.msg);
            return -1;
        }
        if (messages == want || now_ms() >= deadline)
            return (long)messages;
        sleep_ms(20);
    }
}

static bool all_true(const bool *v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (!v[i])
            return false;
    }
    return true;
}

int main(void)
{
    const char *url = getenv("TMDBQ_AMQP_URL");
    struct backoff_policy policy = {5, 100, 60000};
    struct backoff_policy other = {3, 250, 60000};
    struct mq *mq = NULL, *same = NULL, *diff = NULL, *again = NULL, *bad = NULL;
    char prefix[64], ids3[3][40], one[40];
    const char *ptrs3[3];
    bool ok3[3] = {false, false, false}, ok1[1] = {false};
    const char *one_ptr[1];
    struct err e = {0};
    uint32_t messages = 0;
    enum status st;
    int64_t t0;
    unsigned i;

    if (url == NULL || url[0] == '\0')
        url = "amqp://guest:guest@localhost:5672/%2f";
    snprintf(prefix, sizeof prefix, "tmdbq_test_mq_%ld", (long)getpid());

    st = mq_open(url, prefix, &policy, TIMEOUT_MS, &mq, &e);
    if (st != ST_OK && strstr(e.msg, "could not connect") != NULL) {
        if (getenv("CI") != NULL) {
            fprintf(stderr, "test_mq: RabbitMQ is required under CI: %s\n", e.msg);
            return 1;
        }
        printf("skipped: RabbitMQ not reachable (%s)\n", e.msg);
        return 77;
    }
    CHECK_EQ_INT(st, ST_OK);
    if (st != ST_OK) {
        fprintf(stderr, "test_mq: mq_open: %s\n", e.msg);
        return check_exit();
    }

    /* A batch lands in the work queue. */
    for (i = 0; i < 3; i++) {
        make_id(ids3[i], sizeof ids3[i], i);
        ptrs3[i] = ids3[i];
    }
    st = mq_publish_work(mq, ptrs3, 3, ok3, &e);
    CHECK_EQ_INT(st, ST_OK);
    CHECK(ok3[0] && ok3[1] && ok3[2]);
    CHECK_EQ_INT(wait_depth(mq, "work", 3, 2000), 3);
    CHECK_EQ_INT(wait_depth(mq, "dead", 0, 0), 0);

    /* A retry waits out its TTL in P.retry.100ms, then dead-letters to the work queue. */
    make_id(one, sizeof one, 100);
    st = mq_publish_retry(mq, one, 100, &e);
    CHECK_EQ_INT(st, ST_OK);
    CHECK_EQ_INT(wait_depth(mq, "work", 4, 3000), 4);
    CHECK_EQ_INT(wait_depth(mq, "retry.100ms", 0, 1000), 0);
    CHECK_EQ_INT(wait_depth(mq, "retry.1600ms", 0, 0), 0);

    /* Only the policy's delays have queues. */
    st = mq_publish_retry(mq, one, 150, &e);
    CHECK_EQ_INT(st, ST_INVALID);
    CHECK_CONTAINS(e.msg, "150ms");

    /* Declaring is idempotent, and another policy only adds queues. */
    st = mq_open(url, prefix, &policy, TIMEOUT_MS, &same, &e);
    CHECK_EQ_INT(st, ST_OK);
    if (st != ST_OK)
        fprintf(stderr, "second handle: %s\n", e.msg);
    st = mq_open(url, prefix, &other, TIMEOUT_MS, &diff, &e);
    CHECK_EQ_INT(st, ST_OK);
    if (st != ST_OK)
        fprintf(stderr, "handle with another policy: %s\n", e.msg);
    if (diff != NULL) {
        CHECK_EQ_INT(wait_depth(diff, "retry.250ms", 0, 0), 0);
        CHECK_EQ_INT(wait_depth(diff, "retry.1s", 0, 0), 0);
        CHECK_EQ_INT(wait_depth(diff, "work", 4, 0), 4);
    }

    /* Bad prefixes never reach the broker. */
    st = mq_open(url, "no spaces", &policy, TIMEOUT_MS, &bad, &e);
    CHECK_EQ_INT(st, ST_INVALID);
    CHECK(bad == NULL);

    /* Nothing listens on port 1: a quick ST_MQ that names where, not the password. */
    t0 = now_ms();
    st = mq_open("amqp://guest:guest@127.0.0.1:1/%2f", prefix, &policy, TIMEOUT_MS, &bad,
                 &e);
    CHECK_EQ_INT(st, ST_MQ);
    CHECK(bad == NULL);
    CHECK(now_ms() - t0 < 2000);
    CHECK_CONTAINS(e.msg, "could not connect to RabbitMQ at 127.0.0.1:1");
    CHECK(strstr(e.msg, "guest:guest") == NULL);

    st = mq_open("amqp://guest:wrongpw@127.0.0.1:5672/%2f", prefix, &policy, TIMEOUT_MS,
                 &bad, &e);
    CHECK_EQ_INT(st, ST_MQ);
    CHECK(bad == NULL);
    CHECK_CONTAINS(e.msg, "\"guest\"");
    CHECK_CONTAINS(e.msg, "127.0.0.1:5672");
    CHECK(strstr(e.msg, "wrongpw") == NULL);
    printf("wrong password: %s\n", e.msg);

    /* A missing queue closes the channel on the broker; the handle must survive it. */
    st = mq_queue_depth(mq, "nope", &messages, NULL, &e);
    CHECK_EQ_INT(st, ST_MQ);
    CHECK_CONTAINS(e.msg, "does not exist");
    CHECK_CONTAINS(e.msg, "_mq_");
    make_id(one, sizeof one, 101);
    one_ptr[0] = one;
    st = mq_publish_work(mq, one_ptr, 1, ok1, &e);
    CHECK_EQ_INT(st, ST_OK);
    CHECK(ok1[0]);
    CHECK_EQ_INT(wait_depth(mq, "work", 5, 2000), 5);

    /* A large pipelined batch is confirmed in full. */
    for (i = 0; i < BULK; i++) {
        make_id(bulk_ids[i], sizeof bulk_ids[i], 1000 + i);
        bulk_ptrs[i] = bulk_ids[i];
    }
    st = mq_publish_work(mq, bulk_ptrs, BULK, bulk_ok, &e);
    CHECK_EQ_INT(st, ST_OK);
    if (st != ST_OK)
        fprintf(stderr, "bulk publish: %s\n", e.msg);
    CHECK(all_true(bulk_ok, BULK));
    CHECK_EQ_INT(wait_depth(mq, "work", 5 + BULK, 3000), 5 + BULK);

    /* Deleting the topology removes the bindings of P.retry too: once another handle
     * redeclares the exchange, a retry to a delay nobody bound comes back unroutable. */
    if (diff != NULL) {
        CHECK_EQ_INT(mq_delete_topology(diff, &e), ST_OK);
        st = mq_open(url, prefix, &other, TIMEOUT_MS, &again, &e);
        CHECK_EQ_INT(st, ST_OK);
        make_id(one, sizeof one, 102);
        st = mq_publish_retry(mq, one, 100, &e);
        CHECK_EQ_INT(st, ST_MQ);
        CHECK_CONTAINS(e.msg, "route");
        /* The channel survives a return. */
        CHECK_EQ_INT(wait_depth(mq, "work", 0, 0), 0);
        CHECK_EQ_INT(mq_delete_topology(again, &e), ST_OK);
    }

    /* Cleanup, then a publish to the deleted exchange is refused by the broker. */
    st = mq_delete_topology(mq, &e);
    CHECK_EQ_INT(st, ST_OK);
    if (st != ST_OK)
        fprintf(stderr, "delete topology: %s\n", e.msg);
    st = mq_queue_depth(mq, "work", &messages, NULL, &e);
    CHECK_EQ_INT(st, ST_MQ);
    st = mq_publish_work(mq, one_ptr, 1, ok1, &e);
    CHECK_EQ_INT(st, ST_MQ);
    CHECK(!ok1[0]);
    CHECK_CONTAINS(e.msg, "NOT_FOUND");
    /* Deleting twice is fine. */
    CHECK_EQ_INT(mq_delete_topology(same, &e), ST_OK);

    mq_close(again);
    mq_close(diff);
    mq_close(same);
    mq_close(mq);
    mq_close(NULL);
    return check_exit();
}
