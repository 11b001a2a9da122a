/*
 * mq: RabbitMQ through librabbitmq, one connection and one channel per handle.
 *
 * Topology (every name starts with the prefix P, default "tmdbq"), declared idempotently
 * by mq_open so whoever connects first creates it; every queue is a durable quorum queue,
 * replicated over the nodes of a cluster:
 *   exchange P.work (direct)  --"work"-->  queue P.work (x-delivery-limit far above any
 *       requeues, dead-lettering to P.dead)
 *   exchange P.retry (direct) --"<d>"--->  queue P.retry.<d> (x-message-ttl = d,
 *       dead-lettering at least once to P.work with key "work", overflow
 *       reject-publish), one queue per distinct delay d of the retry policy, named like
 *       "30s", "2m", "1h"
 *   exchange P.dead (fanout)  ---------->  queue P.dead: messages that name no operation
 * Messages are the operation id (36-char UUID text) as body, persistent (delivery mode
 * 2), content type text/plain, message_id = the id. The channel is in confirm mode: a
 * publish counts only when the broker acked it. Every call is bounded by the handle's
 * timeout; none blocks forever.
 *
 * A URL may list the nodes of a cluster, separated by commas
 * ("amqp://u:p@h1:5672/%2f,amqp://u:p@h2:5672/%2f"): mq_open connects to the first that
 * answers, starting from a node that changes from one open to the next.
 */
#ifndef TMDBQ_MQ_H
#define TMDBQ_MQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backoff.h"
#include "err.h"

struct mq;

/* Connect to url (amqp://user:pass@host:port/vhost, vhost URL-encoded; or a list of a
 * cluster's nodes, see above), log in, open a channel, select confirm mode and declare
 * the topology for prefix and policy. timeout_ms bounds the connect to each node and
 * every later wait. On success *out owns the handle (mq_close). Errors are ST_MQ with a
 * message that names the host and port but never the password. */
enum status mq_open(const char *url, const char *prefix,
                    const struct backoff_policy *policy, int64_t timeout_ms,
                    struct mq **out, struct err *e);

/* Close the channel and connection and free; accepts NULL. */
void mq_close(struct mq *mq);

/* The node the handle is connected to, "host:port". Borrowed, as long as the handle. */
const char *mq_where(const struct mq *mq);

/* The length of the first node URL of the list s: up to a ',' that starts another
 * amqp:// or amqps:// URL (a ',' in a password stays in it), or all of s. */
size_t mq_url_len(const char *s);

/* What mq_migrate moved. */
struct mq_migration {
    size_t queues;   /* queues an older tmdbq declared, declared anew */
    size_t messages; /* messages moved out and back */
    size_t foreign;  /* messages that could not be an operation id, left out */
    bool reached;    /* a node answered (else nothing was looked at) */
};

/* Bring the topology of prefix and policy to what mq_open declares, moving every queue
 * that an older tmdbq declared with other arguments (the delayed-retry queues used to
 * be classic queues, and the work queue had no delivery limit): its messages go to a
 * holding queue P.<name>.migrating with confirms, the old queue is deleted once empty and
 * declared anew, and the messages come back. A crash part-way loses nothing: the next
 * run finishes the move. Publishes meanwhile fail or land in either queue; a retry
 * message waits its delay again from the move. Run it with the consumers stopped. */
enum status mq_migrate(const char *url, const char *prefix,
                       const struct backoff_policy *policy, int64_t timeout_ms,
                       struct mq_migration *report, struct err *e);

/* Whether url is a URL mq_open can use (each node's URL of a list, at most 16):
 * amqp://[user[:password]@]host[:port][/vhost] as librabbitmq parses it (amqp_parse_url:
 * a numeric port, one vhost segment, valid
 * %-escapes), and not amqps (this module speaks plain TCP only). When false, e (may be
 * NULL) is ST_INVALID with a message that shows the URL with everything that could be a
 * password masked. Does not connect. */
bool mq_url_valid(const char *url, struct err *e);

/* Publish n operation ids to the work exchange, pipelined: all are sent, then the
 * broker's confirms are awaited together. confirmed[i] (caller's array of n) is set true
 * for every id the broker acked. Returns ST_OK when all n were acked; otherwise ST_MQ
 * (connection lost, nack, timeout) and the handle should be closed. Blocks up to the
 * handle's timeout. */
enum status mq_publish_work(struct mq *mq, const char *const *ids, size_t n,
                            bool *confirmed, struct err *e);

/* Publish ids[0..n) to the delayed-retry queue for delay_ms (a delay that is one of the
 * policy's distinct delays, see backoff_queue_delay_ms), pipelined as mq_publish_work,
 * and wait for their confirms; confirmed (n, may be NULL) as for mq_publish_work. */
enum status mq_publish_retries(struct mq *mq, const char *const *ids, size_t n,
                               int64_t delay_ms, bool *confirmed, struct err *e);

/* mq_publish_retries of one id. */
enum status mq_publish_retry(struct mq *mq, const char *id, int64_t delay_ms,
                             struct err *e);

/* The suffix of the delayed-retry queue of delay_ms: "retry.30s" (its queue is
 * P.retry.30s). Always NUL-terminates. */
void mq_retry_suffix(int64_t delay_ms, char *buf, size_t n);

/* Passive-declare queue P.<suffix> ("work", "dead", "retry.30s") and report its ready
 * message count and consumer count. ST_MQ if it does not exist (the channel is reopened).
 */
enum status mq_queue_depth(struct mq *mq, const char *suffix, uint32_t *messages,
                           uint32_t *consumers, struct err *e);

/* Delete every queue and exchange of this prefix (tests clean up with it). */
enum status mq_delete_topology(struct mq *mq, struct err *e);

/* ---- consuming (a consumer uses one handle to consume and another to publish) ---- */

/* Start consuming queue P.work on this handle: basic.qos prefetch, manual acks. */
enum status mq_consume_start(struct mq *mq, uint16_t prefetch, struct err *e);

struct mq_delivery {
    uint64_t tag;  /* for mq_ack / mq_reject */
    char body[64]; /* the message body, NUL-terminated; truncated (and too_long set)
                      when longer than 63 bytes */
    size_t len;    /* the body's real length */
    bool too_long;
    bool redelivered;
    int64_t received_us; /* when it was read, clock_wall_us */
};

/* Wait up to timeout_ms for the next delivery. ST_OK with *out filled; ST_TIMEOUT when
 * none arrived in time; ST_MQ when the connection or channel is gone or the broker
 * cancelled the consumer (close the handle and reconnect). */
enum status mq_consume_next(struct mq *mq, int64_t timeout_ms, struct mq_delivery *out,
                            struct err *e);

/* Whether the delivery's body, all of its bytes, is an operation id: not longer than
 * the buffer, and no NUL inside it ("<id>\0junk" would read as the id but names no
 * operation). A delivery that is not must be dead-lettered, never claimed. */
bool mq_delivery_names_op(const struct mq_delivery *d);

/* Acknowledge a delivery (it is done). */
enum status mq_ack(struct mq *mq, uint64_t tag, struct err *e);

/* Acknowledge, in one frame, every delivery of this handle up to tag (tag included) that
 * is not settled yet (basic.ack with multiple): RabbitMQ settles them together. Only for
 * a caller that has settled, or means to ack, every earlier delivery. */
enum status mq_ack_upto(struct mq *mq, uint64_t tag, struct err *e);

/* Reject a delivery without requeue: the work queue dead-letters it to P.dead. */
enum status mq_reject(struct mq *mq, uint64_t tag, struct err *e);

/* Return a delivery to the queue (basic.nack requeue): used when pausing or when the
 * outcome cannot be recorded before shutdown. */
enum status mq_requeue(struct mq *mq, uint64_t tag, struct err *e);

/* Publish one id to the delayed-retry queue whose delay is the smallest distinct delay of
 * the policy >= delay_ms (or the largest), wait for its confirm, and report the delay
 * used (may be NULL). Same as mq_publish_retry with backoff_queue_delay_ms applied. */
enum status mq_publish_delayed(struct mq *mq, const char *id, int64_t delay_ms,
                               int64_t *used_ms, struct err *e);

#endif
