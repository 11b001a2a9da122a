/*
 * mq: the RabbitMQ side of tmdbq, through librabbitmq 0.11 (one connection, one channel).
 *
 * The channel is in publisher-confirm mode and every publish is mandatory, so a message
 * counts only when the broker has routed it to a queue and acked it. Publishes are
 * pipelined: a batch is written in one go and its confirms are read afterwards, which is
 * what makes the reaper's and the producer's bulk publishes fast. librabbitmq 0.11 has no
 * confirm-wait helper, so this file reads the ack/nack/return frames itself; every wait
 * is bounded by the handle's timeout (socket connect, handshake, RPCs, confirm frames).
 * No librabbitmq type leaves this file.
 */
#include "mq.h"
#include "clock.h"

#include <amqp.h>
#include <amqp_tcp_socket.h>

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "log.h"
#include "op.h"

/* Bounds of names we build: AMQP short strings hold 255 bytes; prefixes are validated
 * against cfg's rule ([A-Za-z0-9_.-]{1,64}) so every derived name fits. */
#define MQ_PREFIX_MAX 64
#define MQ_NAME_MAX 128
#define MQ_DELAY_NAME_MAX 32
#define MQ_WHERE_MAX 300
#define MQ_ID_MAX 255
#define MQ_TAG_MAX 200
/* Node URLs in TMDBQ_AMQP_URL at most. */
#define MQ_NODES_MAX 16

/* Confirms are read back every this many publishes while a batch is being written, so a
 * huge batch cannot fill the socket buffers with acks nobody reads. */
#define MQ_DRAIN_EVERY 256

/* Per publish of a batch: resolved by an ack or a nack, and whether it came back. */
enum {
    PUB_ACKED = 1,
    PUB_NACKED = 2,
    PUB_RETURNED = 4,
};

struct mq {
    amqp_connection_state_t conn;
    amqp_channel_t channel;
    bool conn_ok;      /* false once the connection is gone: no polite close then */
    bool channel_ok;   /* false once the broker closed the channel */
    uint64_t next_tag; /* delivery tag of the next publish on this channel */
    int64_t timeout_ms;
    char prefix[MQ_PREFIX_MAX + 1];
    char where[MQ_WHERE_MAX]; /* "host:port", for messages */
    int64_t *delays;          /* the policy's distinct retry delays, ascending */
    size_t ndelays;
    struct backoff_policy policy;
    bool consuming; /* a consumer is active on the current channel */
    bool cancelled; /* the broker cancelled it (basic.cancel) */
    char consumer_tag[MQ_TAG_MAX];
    bool no_declare; /* mq_migrate: open without declaring the topology */
};

/* One pipelined batch whose confirms are being awaited. */
struct batch {
    const char *const *ids;
    size_t n;
    uint64_t first_tag;
    unsigned char *state; /* n PUB_* bit sets */
    size_t resolved;      /* publishes acked or nacked so far */
    size_t low;           /* every index below this one is resolved */
};

static struct timeval ms_to_timeval(int64_t ms)
{
    struct timeval tv;

    if (ms < 0)
        ms = 0;
    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
    return tv;
}

static bool prefix_valid(const char *p)
{
    size_t i, len;

    if (p == NULL)
        return false;
    len = strlen(p);
    if (len == 0 || len > MQ_PREFIX_MAX)
        return false;
    for (i = 0; i < len; i++) {
        char c = p[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                  (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';

        if (!ok)
            return false;
    }
    return true;
}

void mq_retry_suffix(int64_t delay_ms, char *buf, size_t n)
{
    char delay[MQ_DELAY_NAME_MAX];

    cfg_format_duration(delay_ms, delay, sizeof delay);
    snprintf(buf, n, "retry.%s", delay);
}

/* "<prefix>.<suffix>"; suffixes are short and the prefix is bounded, so this never
 * truncates for names we build ourselves. */
static void make_name(const struct mq *mq, const char *suffix, char *buf, size_t n)
{
    snprintf(buf, n, "%s.%s", mq->prefix, suffix);
}

/*
 * The broker closed the channel or the connection (method is channel.close or
 * connection.close). Answer with close-ok as the protocol asks, record what is left of
 * the handle, and write the broker's reason ("NOT_FOUND - no queue ...") into why.
 * Returns the broker's reply code.
 */
static int on_server_close(struct mq *mq, amqp_channel_t channel,
                           const amqp_method_t *method, char *why, size_t n)
{
    int code = 0;

    if (method->id == AMQP_CONNECTION_CLOSE_METHOD) {
        const amqp_connection_close_t *m = method->decoded;
        amqp_connection_close_ok_t ok = {0};

        code = m->reply_code;
        snprintf(why, n, "%.*s", (int)m->reply_text.len,
                 (const char *)m->reply_text.bytes);
        amqp_send_method(mq->conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
        mq->conn_ok = false;
        mq->channel_ok = false;
    } else if (method->id == AMQP_CHANNEL_CLOSE_METHOD) {
        const amqp_channel_close_t *m = method->decoded;
        amqp_channel_close_ok_t ok = {0};

        code = m->reply_code;
        snprintf(why, n, "%.*s", (int)m->reply_text.len,
                 (const char *)m->reply_text.bytes);
        amqp_send_method(mq->conn, channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
        if (channel == mq->channel)
            mq->channel_ok = false;
    } else {
        snprintf(why, n, "unexpected method 0x%08x", (unsigned)method->id);
    }
    return code;
}

/* Whether method frame f closes the connection or our channel. If so it is answered as
 * on_server_close does, *which says "connection" or "channel" and why the broker's
 * reason. */
static bool server_closed(struct mq *mq, const amqp_frame_t *f, const char **which,
                          char *why, size_t n)
{
    const amqp_method_t *m = &f->payload.method;

    if (m->id != AMQP_CONNECTION_CLOSE_METHOD &&
        (m->id != AMQP_CHANNEL_CLOSE_METHOD || f->channel != mq->channel))
        return false;
    on_server_close(mq, f->channel, m, why, n);
    *which = m->id == AMQP_CONNECTION_CLOSE_METHOD ? "connection" : "channel";
    return true;
}

/*
 * The one place an RPC reply is judged: ST_OK, or ST_MQ with the reason in why and the
 * broker's reply code (404, 406, 403...) in *code, 0 for a library failure. A library
 * failure (socket error, or a timeout: librabbitmq closes the connection on an RPC
 * timeout) leaves the connection unusable; a server exception closed the channel or the
 * connection and has been answered.
 */
static enum status rpc_reason(struct mq *mq, amqp_rpc_reply_t r, int *code, char *why,
                              size_t n)
{
    char text[300];
    int c = 0;

    if (r.reply_type == AMQP_RESPONSE_NORMAL) {
        *code = 0;
        return ST_OK;
    }
    switch (r.reply_type) {
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        snprintf(why, n, "%s", amqp_error_string2(r.library_error));
        mq->conn_ok = false;
        mq->channel_ok = false;
        break;
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        c = on_server_close(mq, mq->channel, &r.reply, text, sizeof text);
        snprintf(why, n, "%s%s",
                 r.reply.id == AMQP_CONNECTION_CLOSE_METHOD ? "connection closed: " : "",
                 text);
        break;
    default:
        snprintf(why, n, "no reply from the library");
        mq->conn_ok = false;
        mq->channel_ok = false;
        break;
    }
    *code = c;
    return ST_MQ;
}

/* rpc_reason with e = "<what>: <reason>", what printf-formatted by the caller; code may
 * be NULL. */
static enum status rpc_check(struct mq *mq, amqp_rpc_reply_t r, int *code, struct err *e,
                             const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static enum status rpc_check(struct mq *mq, amqp_rpc_reply_t r, int *code, struct err *e,
                             const char *fmt, ...)
{
    char what[MQ_NAME_MAX + MQ_WHERE_MAX];
    char why[400];
    va_list ap;
    int c;

    if (rpc_reason(mq, r, &c, why, sizeof why) == ST_OK) {
        if (code != NULL)
            *code = 0;
        return ST_OK;
    }
    if (code != NULL)
        *code = c;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return err_set(e, ST_MQ, "%s: %s", what, why);
}

/* Open a fresh channel in confirm mode; delivery tags restart at 1. It takes the next
 * number, so a late frame of the closed one is not mistaken for ours; numbers wrap at
 * the negotiated maximum (every earlier channel is closed by then). */
static enum status channel_open(struct mq *mq, struct err *e)
{
    enum status st;
    int max = amqp_get_channel_max(mq->conn);

    if (max <= 0 || max > 65535)
        max = 65535;
    mq->channel = mq->channel >= max ? 1 : (amqp_channel_t)(mq->channel + 1);
    amqp_channel_open(mq->conn, mq->channel);
    st = rpc_check(mq, amqp_get_rpc_reply(mq->conn), NULL, e,
                   "could not open a channel to RabbitMQ at %s", mq->where);
    if (st != ST_OK)
        return st;
    mq->channel_ok = true;
    /* A consumer lives and dies with its channel: after a reopen there is none. */
    mq->consuming = false;
    amqp_confirm_select(mq->conn, mq->channel);
    st = rpc_check(mq, amqp_get_rpc_reply(mq->conn), NULL, e,
                   "could not select confirm mode on RabbitMQ at %s", mq->where);
    if (st != ST_OK)
        return st;
    mq->next_tag = 1;
    return ST_OK;
}

/* Judge a declare's reply. A failure closed the channel (mq_open then drops the handle);
 * an exchange or queue that exists with other arguments gets its own message, since it
 * needs an operator. */
static enum status declare_check(struct mq *mq, const char *kind, const char *name,
                                 struct err *e)
{
    char why[400];
    int code;

    if (rpc_reason(mq, amqp_get_rpc_reply(mq->conn), &code, why, sizeof why) == ST_OK)
        return ST_OK;
    if (code == AMQP_PRECONDITION_FAILED)
        return err_set(
            e, ST_MQ,
            "%s \"%s\" already exists on RabbitMQ at %s and its arguments differ "
            "(declared by an older tmdbq: `tmdbq migrate` moves it; else delete it or "
            "use "
            "another prefix): %s",
            kind, name, mq->where, why);
    return err_set(e, ST_MQ, "could not declare %s \"%s\" on RabbitMQ at %s: %s", kind,
                   name, mq->where, why);
}

static enum status exchange_declare(struct mq *mq, const char *suffix, const char *type,
                                    struct err *e)
{
    char name[MQ_NAME_MAX];

    make_name(mq, suffix, name, sizeof name);
    amqp_exchange_declare(mq->conn, mq->channel, amqp_cstring_bytes(name),
                          amqp_cstring_bytes(type), 0, 1, 0, 0, amqp_empty_table);
    return declare_check(mq, "exchange", name, e);
}

/* Declare queue <prefix>.<suffix> with args; bind it to exchange <prefix>.<exchange>. */
static enum status queue_declare_bind(struct mq *mq, const char *suffix,
                                      amqp_table_t args, const char *exchange,
                                      const char *key, struct err *e)
{
    char name[MQ_NAME_MAX], xname[MQ_NAME_MAX];
    enum status st;

    make_name(mq, suffix, name, sizeof name);
    make_name(mq, exchange, xname, sizeof xname);
    amqp_queue_declare(mq->conn, mq->channel, amqp_cstring_bytes(name), 0, 1, 0, 0, args);
    st = declare_check(mq, "queue", name, e);
    if (st != ST_OK)
        return st;
    amqp_queue_bind(mq->conn, mq->channel, amqp_cstring_bytes(name),
                    amqp_cstring_bytes(xname), amqp_cstring_bytes(key), amqp_empty_table);
    return rpc_check(mq, amqp_get_rpc_reply(mq->conn), NULL, e,
                     "could not bind queue \"%s\" to exchange \"%s\"", name, xname);
}

static amqp_table_entry_t entry_str(const char *key, const char *value)
{
    amqp_table_entry_t t;

    t.key = amqp_cstring_bytes(key);
    t.value.kind = AMQP_FIELD_KIND_UTF8;
    t.value.value.bytes = amqp_cstring_bytes(value);
    return t;
}

static amqp_table_entry_t entry_i64(const char *key, int64_t value)
{
    amqp_table_entry_t t;

    t.key = amqp_cstring_bytes(key);
    t.value.kind = AMQP_FIELD_KIND_I64;
    t.value.value.i64 = value;
    return t;
}

/* A delivery limit no operation reaches: RabbitMQ 4 gives quorum queues a default of
 * 20, and pauses, shutdowns and lost connections requeue deliveries. What bounds an
 * operation's attempts is its row (retry_count), never the broker; a message that did
 * reach the limit would go to P.dead, and the reaper would publish its row again. */
#define MQ_DELIVERY_LIMIT 1000000
#define MQ_ARGS_MAX 6

/* One queue of the topology: P.<suffix>, bound to exchange P.<exchange> with key, and
 * the arguments it is declared with (pointing into the struct's own strings). */
struct queue_spec {
    char suffix[MQ_DELAY_NAME_MAX + 8];
    const char *exchange;
    char key[MQ_DELAY_NAME_MAX];
    char dead_x[MQ_NAME_MAX], work_x[MQ_NAME_MAX];
    amqp_table_entry_t entries[MQ_ARGS_MAX];
    amqp_table_t args;
};

/* How many queues the topology has: dead, work, and one per distinct retry delay. */
static size_t queue_count(const struct mq *mq) { return 2 + mq->ndelays; }

/* Queue i of the topology, in the order it is declared (dead first, so the work queue's
 * dead-letter exchange exists when it is). Every queue is a quorum queue, replicated
 * over the cluster's nodes, so none of the work it holds is lost with one node. */
static void queue_spec(const struct mq *mq, size_t i, struct queue_spec *q)
{
    size_t n = 0;

    make_name(mq, "dead", q->dead_x, sizeof q->dead_x);
    make_name(mq, "work", q->work_x, sizeof q->work_x);
    q->entries[n++] = entry_str("x-queue-type", "quorum");
    if (i == 0) {
        snprintf(q->suffix, sizeof q->suffix, "dead");
        q->exchange = "dead";
        q->key[0] = '\0';
    } else if (i == 1) {
        snprintf(q->suffix, sizeof q->suffix, "work");
        q->exchange = "work";
        snprintf(q->key, sizeof q->key, "work");
        q->entries[n++] = entry_str("x-dead-letter-exchange", q->dead_x);
        q->entries[n++] = entry_i64("x-delivery-limit", MQ_DELIVERY_LIMIT);
    } else {
        int64_t delay = mq->delays[i - 2];

        mq_retry_suffix(delay, q->suffix, sizeof q->suffix);
        q->exchange = "retry";
        cfg_format_duration(delay, q->key, sizeof q->key);
        /* Messages only wait out their TTL here, and TTL expiry dead-letters them to the
         * work exchange, which is the whole delay mechanism. At least once: the message
         * leaves this queue only when the work queue has confirmed it, so a retry is not
         * lost when a node dies mid-way (this needs overflow reject-publish). */
        q->entries[n++] = entry_i64("x-message-ttl", delay);
        q->entries[n++] = entry_str("x-dead-letter-exchange", q->work_x);
        q->entries[n++] = entry_str("x-dead-letter-routing-key", "work");
        q->entries[n++] = entry_str("x-dead-letter-strategy", "at-least-once");
        q->entries[n++] = entry_str("x-overflow", "reject-publish");
    }
    q->args.num_entries = (int)n;
    q->args.entries = q->entries;
}

/* The three exchanges, declared before any queue. */
static enum status declare_exchanges(struct mq *mq, struct err *e)
{
    static const char *const exchanges[][2] = {
        {"dead", "fanout"}, {"work", "direct"}, {"retry", "direct"}};
    enum status st = ST_OK;
    size_t i;

    for (i = 0; i < sizeof exchanges / sizeof exchanges[0] && st == ST_OK; i++)
        st = exchange_declare(mq, exchanges[i][0], exchanges[i][1], e);
    return st;
}

static enum status declare_topology(struct mq *mq, struct err *e)
{
    struct queue_spec q;
    enum status st = declare_exchanges(mq, e);
    size_t i;

    for (i = 0; i < queue_count(mq) && st == ST_OK; i++) {
        queue_spec(mq, i, &q);
        st = queue_declare_bind(mq, q.suffix, q.args, q.exchange, q.key, e);
    }
    return st;
}

/* url for a message about a URL that may not parse: everything from the first ':' after
 * "scheme://" to the last '@' is masked, so a password is hidden even when an unencoded
 * '/', '?' or '@' in it would fool a parser (log_mask_url reads the URL as it should
 * be). */
static void mask_strict(const char *url, char *out, size_t n)
{
    const char *sep = strstr(url, "://");
    const char *auth = sep != NULL ? sep + 3 : url;
    const char *at = strrchr(auth, '@');
    const char *colon = strchr(auth, ':');

    if (at == NULL || colon == NULL || colon > at)
        snprintf(out, n, "%s", url);
    else
        snprintf(out, n, "%.*s***%s", (int)(colon + 1 - url), url, at);
}

size_t mq_url_len(const char *list)
{
    const char *p = list;

    while ((p = strchr(p, ',')) != NULL) {
        if (strncmp(p + 1, "amqp://", 7) == 0 || strncmp(p + 1, "amqps://", 8) == 0)
            return (size_t)(p - list);
        p++;
    }
    return strlen(list);
}

/* One node's URL (len bytes of url). */
static bool node_url_valid(const char *url, size_t len, struct err *e)
{
    struct amqp_connection_info info;
    char masked[256];
    char *copy;
    int rc;

    /* amqp_parse_url writes into its argument. */
    copy = strndup(url, len);
    if (copy == NULL) {
        err_set(e, ST_NOMEM, "out of memory");
        return false;
    }
    mask_strict(copy, masked, sizeof masked);
    if (len == 0 || copy[len - 1] == ',') {
        free(copy);
        err_set(e, ST_INVALID,
                "an empty node URL in \"%.96s\" (separate nodes with a ',')", masked);
        return false;
    }
    amqp_default_connection_info(&info);
    rc = amqp_parse_url(copy, &info);
    free(copy);
    if (rc != AMQP_STATUS_OK) {
        err_set(e, ST_INVALID,
                "invalid URL \"%.96s\" (use amqp://user:password@host:port/vhost: a "
                "numeric port, the vhost one segment URL-encoded, %%2f for \"/\")",
                masked);
        return false;
    }
    if (info.ssl) {
        err_set(e, ST_INVALID,
                "\"%.96s\": amqps (TLS) is not supported, use amqp:// (a TLS proxy or "
                "tunnel can carry it)",
                masked);
        return false;
    }
    return true;
}

bool mq_url_valid(const char *list, struct err *e)
{
    size_t n = 0, len;

    if (list == NULL || list[0] == '\0') {
        err_set(e, ST_INVALID, "no RabbitMQ URL");
        return false;
    }
    for (;; list += len + 1) {
        len = mq_url_len(list);
        if (++n > MQ_NODES_MAX) {
            err_set(e, ST_INVALID, "more than %d node URLs", MQ_NODES_MAX);
            return false;
        }
        if (!node_url_valid(list, len, e))
            return false;
        if (list[len] == '\0')
            return true;
    }
}

static enum status connect_login(struct mq *mq, const char *url, struct err *e)
{
    struct amqp_connection_info info;
    struct timeval tv = ms_to_timeval(mq->timeout_ms);
    amqp_table_entry_t cap_entry, props_entry;
    amqp_table_t caps, props;
    amqp_socket_t *sock;
    amqp_rpc_reply_t r;
    char *copy = NULL;
    enum status st = ST_OK;
    int rc;

    /* amqp_parse_url writes into its argument and points info at the pieces. */
    copy = strdup(url);
    if (copy == NULL) {
        st = err_set(e, ST_NOMEM, "out of memory");
        goto out;
    }
    amqp_default_connection_info(&info);
    rc = amqp_parse_url(copy, &info);
    if (rc != AMQP_STATUS_OK || info.ssl) {
        /* cfg refuses such a URL at start (mq_url_valid); this is for other callers. */
        mq_url_valid(url, e);
        st = ST_INVALID;
        goto out;
    }
    snprintf(mq->where, sizeof mq->where, strchr(info.host, ':') ? "[%s]:%d" : "%s:%d",
             info.host, info.port);

    mq->conn = amqp_new_connection();
    if (mq->conn == NULL) {
        st = err_set(e, ST_NOMEM, "out of memory");
        goto out;
    }
    sock = amqp_tcp_socket_new(mq->conn);
    if (sock == NULL) {
        st = err_set(e, ST_NOMEM, "out of memory");
        goto out;
    }
    rc = amqp_socket_open_noblock(sock, info.host, info.port, &tv);
    if (rc != AMQP_STATUS_OK) {
        st = err_set(e, ST_MQ, "could not connect to RabbitMQ at %s: %s", mq->where,
                     amqp_error_string2(rc));
        goto out;
    }
    /* Without these librabbitmq waits forever for a broker that accepted the TCP
     * connection but never answers. */
    amqp_set_handshake_timeout(mq->conn, &tv);
    amqp_set_rpc_timeout(mq->conn, &tv);

    /* Heartbeats off: librabbitmq only sends them from inside its own calls, so a handle
     * that idles between sweeps would be dropped by the broker; dead connections are
     * found instead by the bounded waits of the next call. */
    /* consumer_cancel_notify makes the broker tell a consumer whose queue was deleted
     * (basic.cancel) instead of leaving it waiting on nothing; librabbitmq merges this
     * capability into its default client properties. */
    cap_entry.key = amqp_cstring_bytes("consumer_cancel_notify");
    cap_entry.value.kind = AMQP_FIELD_KIND_BOOLEAN;
    cap_entry.value.value.boolean = 1;
    caps.num_entries = 1;
    caps.entries = &cap_entry;
    props_entry.key = amqp_cstring_bytes("capabilities");
    props_entry.value.kind = AMQP_FIELD_KIND_TABLE;
    props_entry.value.value.table = caps;
    props.num_entries = 1;
    props.entries = &props_entry;
    r = amqp_login_with_properties(mq->conn, info.vhost, 0, 131072, 0, &props,
                                   AMQP_SASL_METHOD_PLAIN, info.user, info.password);
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION) {
        char why[400];

        on_server_close(mq, 0, &r.reply, why, sizeof why);
        mq->conn_ok = false;
        st = err_set(e, ST_MQ,
                     "RabbitMQ refused login for user \"%s\" at %s (vhost \"%s\"): %s",
                     info.user, mq->where, info.vhost, why);
        goto out;
    }
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        /* Brokers that do not announce authentication_failure_close just drop the
         * socket on bad credentials, which looks like this. */
        st = err_set(
            e, ST_MQ,
            "could not log in to RabbitMQ at %s as user \"%s\" (vhost \"%s\"): %s",
            mq->where, info.user, info.vhost,
            r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION
                ? amqp_error_string2(r.library_error)
                : "no reply");
        goto out;
    }
    mq->conn_ok = true;
out:
    free(copy);
    return st;
}

/* Forget the connection (after a failed open on one node), politely when it still
 * listens. */
static void drop_connection(struct mq *mq)
{
    if (mq->conn != NULL) {
        /* Polite close only while the broker still listens; both are bounded RPCs. */
        if (mq->conn_ok && mq->channel_ok)
            amqp_channel_close(mq->conn, mq->channel, AMQP_REPLY_SUCCESS);
        if (mq->conn_ok)
            amqp_connection_close(mq->conn, AMQP_REPLY_SUCCESS);
        amqp_destroy_connection(mq->conn);
    }
    mq->conn = NULL;
    mq->conn_ok = false;
    mq->channel_ok = false;
    mq->next_tag = 0;
}

/* Connect to one node (len bytes of url), open the channel, declare the topology. */
static enum status open_node(struct mq *mq, const char *url, size_t len, struct err *e)
{
    char *node = strndup(url, len);
    enum status st;

    if (node == NULL)
        return err_set(e, ST_NOMEM, "out of memory");
    st = connect_login(mq, node, e);
    free(node);
    if (st == ST_OK)
        st = channel_open(mq, e);
    if (st == ST_OK && !mq->no_declare)
        st = declare_topology(mq, e);
    return st;
}

/*
 * Open on the first node of the list that answers, starting at a node that differs from
 * one open to the next (a process-wide turn, begun at the pid): the consumers of a host,
 * and the two connections of each worker, spread over the nodes, and a reconnect after a
 * node went away tries the next node first.
 */
static enum status open_any_node(struct mq *mq, const char *list, struct err *e)
{
    static atomic_uint turn;
    static atomic_bool seeded;
    const char *urls[MQ_NODES_MAX];
    size_t lens[MQ_NODES_MAX], n = 0, first, k;
    enum status st = ST_INVALID;
    const char *p = list;

    for (;;) {
        if (n == MQ_NODES_MAX)
            return err_set(e, ST_INVALID, "more than %d node URLs", MQ_NODES_MAX);
        urls[n] = p;
        lens[n] = mq_url_len(p);
        p += lens[n];
        n++;
        if (*p == '\0')
            break;
        p++;
    }
    if (n == 1)
        return open_node(mq, urls[0], lens[0], e);
    if (!atomic_exchange(&seeded, true))
        atomic_fetch_add(&turn, (unsigned)getpid());
    first = atomic_fetch_add(&turn, 1u) % n;
    for (k = 0; k < n; k++) {
        size_t i = (first + k) % n;

        st = open_node(mq, urls[i], lens[i], e);
        if (st == ST_OK || st == ST_NOMEM || st == ST_INVALID)
            break;
        drop_connection(mq);
        if (k + 1 < n)
            log_debug("RabbitMQ node %s did not answer (%s); trying the next", mq->where,
                      e != NULL ? e->msg : "");
    }
    if (st != ST_OK && st != ST_NOMEM && st != ST_INVALID)
        err_prefix(e, "none of the %zu RabbitMQ nodes answered; the last", n);
    return st;
}

/* A handle for prefix and policy, not yet connected. */
static enum status handle_new(const char *prefix, const struct backoff_policy *policy,
                              int64_t timeout_ms, struct mq **out, struct err *e)
{
    struct mq *mq;
    size_t count;

    *out = NULL;
    if (!prefix_valid(prefix))
        return err_set(e, ST_INVALID,
                       "invalid AMQP prefix \"%.64s\" (use [A-Za-z0-9_.-]{1,%d})",
                       prefix ? prefix : "", MQ_PREFIX_MAX);
    mq = calloc(1, sizeof *mq);
    if (mq == NULL)
        return err_set(e, ST_NOMEM, "out of memory");
    mq->timeout_ms = timeout_ms;
    mq->policy = *policy;
    snprintf(mq->prefix, sizeof mq->prefix, "%s", prefix);
    count = backoff_distinct_delays(policy, NULL, 0);
    if (count > 0) {
        mq->delays = calloc(count, sizeof *mq->delays);
        if (mq->delays == NULL) {
            mq_close(mq);
            return err_set(e, ST_NOMEM, "out of memory");
        }
        mq->ndelays = backoff_distinct_delays(policy, mq->delays, count);
    }
    *out = mq;
    return ST_OK;
}

enum status mq_open(const char *url, const char *prefix,
                    const struct backoff_policy *policy, int64_t timeout_ms,
                    struct mq **out, struct err *e)
{
    struct mq *mq = NULL;
    enum status st;

    if (out != NULL)
        *out = NULL;
    if (url == NULL || policy == NULL || out == NULL || timeout_ms <= 0)
        return err_set(e, ST_INVALID,
                       "mq_open: missing argument or non-positive timeout");
    st = handle_new(prefix, policy, timeout_ms, &mq, e);
    if (st == ST_OK)
        st = open_any_node(mq, url, e);
    if (st == ST_OK) {
        *out = mq;
        mq = NULL;
    }
    mq_close(mq);
    return st;
}

const char *mq_where(const struct mq *mq) { return mq->where; }

void mq_close(struct mq *mq)
{
    if (mq == NULL)
        return;
    drop_connection(mq);
    free(mq->delays);
    free(mq);
}

static enum status usable(struct mq *mq, struct err *e)
{
    if (!mq->conn_ok)
        return err_set(e, ST_MQ, "the connection to RabbitMQ at %s is closed", mq->where);
    if (!mq->channel_ok)
        return channel_open(mq, e);
    return ST_OK;
}

/* Mark tag (or, when multiple, every unresolved tag up to it) with how it resolved. Tags
 * outside the batch belong to an earlier, abandoned batch and are ignored. */
static void batch_resolve(struct batch *b, uint64_t tag, bool multiple, unsigned char how)
{
    size_t i, last;

    if (tag < b->first_tag || tag - b->first_tag >= b->n)
        return;
    last = (size_t)(tag - b->first_tag);
    for (i = multiple ? b->low : last; i <= last; i++) {
        if ((b->state[i] & (PUB_ACKED | PUB_NACKED)) == 0) {
            b->state[i] |= how;
            b->resolved++;
        }
    }
    while (b->low < b->n && (b->state[b->low] & (PUB_ACKED | PUB_NACKED)) != 0)
        b->low++;
}

/* Wait for one frame until deadline. Returns an AMQP status. */
static int wait_frame(struct mq *mq, amqp_frame_t *f, int64_t deadline)
{
    int64_t left = deadline - clock_now_ms();
    struct timeval tv = ms_to_timeval(left);

    return amqp_simple_wait_frame_noblock(mq->conn, f, &tv);
}

/*
 * A basic.return was read: its header and body frames follow. The broker sends the
 * return before the ack of the same publish, so marking it here is enough to keep it
 * from counting as confirmed. The publish is found by its message_id.
 */
static enum status read_return(struct mq *mq, struct batch *b, int64_t deadline,
                               struct err *e)
{
    amqp_frame_t f;
    uint64_t body_size, got = 0;
    size_t i;
    int rc;

    rc = wait_frame(mq, &f, deadline);
    if (rc != AMQP_STATUS_OK)
        goto fail;
    if (f.frame_type != AMQP_FRAME_HEADER || f.channel != mq->channel)
        return err_set(e, ST_MQ, "unexpected frame from RabbitMQ at %s after a return",
                       mq->where);
    body_size = f.payload.properties.body_size;
    {
        const amqp_basic_properties_t *p = f.payload.properties.decoded;

        if (p != NULL && (p->_flags & AMQP_BASIC_MESSAGE_ID_FLAG) != 0) {
            for (i = 0; i < b->n; i++) {
                if ((b->state[i] & PUB_RETURNED) == 0 &&
                    strlen(b->ids[i]) == p->message_id.len &&
                    memcmp(b->ids[i], p->message_id.bytes, p->message_id.len) == 0) {
                    b->state[i] |= PUB_RETURNED;
                    break;
                }
            }
        }
    }
    while (got < body_size) {
        rc = wait_frame(mq, &f, deadline);
        if (rc != AMQP_STATUS_OK)
            goto fail;
        if (f.frame_type != AMQP_FRAME_BODY || f.channel != mq->channel)
            return err_set(e, ST_MQ, "unexpected frame from RabbitMQ at %s in a return",
                           mq->where);
        got += f.payload.body_fragment.len;
    }
    return ST_OK;
fail:
    if (rc != AMQP_STATUS_TIMEOUT)
        mq->conn_ok = false;
    return err_set(e, ST_MQ, "could not read a returned message from RabbitMQ at %s: %s",
                   mq->where, amqp_error_string2(rc));
}

/* Act on one frame received while confirms are outstanding. */
static enum status handle_frame(struct mq *mq, struct batch *b, const amqp_frame_t *f,
                                int64_t deadline, struct err *e)
{
    const amqp_method_t *m = &f->payload.method;
    const char *which;
    char why[400];

    /* Stray content frames (of a return we failed to match) carry nothing for us. */
    if (f->frame_type != AMQP_FRAME_METHOD)
        return ST_OK;
    if (server_closed(mq, f, &which, why, sizeof why))
        return err_set(e, ST_MQ, "could not publish to RabbitMQ at %s: %s closed: %s",
                       mq->where, which, why);
    /* Anything else off our channel (connection.blocked included: publishes then stall
     * until the deadline) needs no answer. */
    if (f->channel != mq->channel)
        return ST_OK;
    switch (m->id) {
    case AMQP_BASIC_ACK_METHOD: {
        const amqp_basic_ack_t *a = m->decoded;

        batch_resolve(b, a->delivery_tag, a->multiple, PUB_ACKED);
        break;
    }
    case AMQP_BASIC_NACK_METHOD: {
        const amqp_basic_nack_t *nk = m->decoded;

        batch_resolve(b, nk->delivery_tag, nk->multiple, PUB_NACKED);
        break;
    }
    case AMQP_BASIC_RETURN_METHOD:
        return read_return(mq, b, deadline, e);
    default:
        break;
    }
    return ST_OK;
}

/* Read every frame that is already there, without blocking. */
static enum status drain(struct mq *mq, struct batch *b, int64_t deadline, struct err *e)
{
    amqp_frame_t f;
    struct timeval zero = {0, 0};
    enum status st;
    int rc;

    for (;;) {
        rc = amqp_simple_wait_frame_noblock(mq->conn, &f, &zero);
        if (rc == AMQP_STATUS_TIMEOUT)
            return ST_OK;
        if (rc != AMQP_STATUS_OK) {
            mq->conn_ok = false;
            return err_set(e, ST_MQ, "lost the connection to RabbitMQ at %s: %s",
                           mq->where, amqp_error_string2(rc));
        }
        st = handle_frame(mq, b, &f, deadline, e);
        amqp_maybe_release_buffers(mq->conn);
        if (st != ST_OK)
            return st;
    }
}

/* Say how many publishes failed and why, naming the first one. */
static enum status batch_outcome(const struct batch *b, struct err *e)
{
    size_t i, bad = 0, first = 0;

    for (i = 0; i < b->n; i++) {
        if (b->state[i] != PUB_ACKED) {
            if (bad == 0)
                first = i;
            bad++;
        }
    }
    if (bad == 0)
        return ST_OK;
    return err_set(e, ST_MQ,
                   "could not publish %zu of %zu operations (the first is \"%s\"): %s",
                   bad, b->n, b->ids[first],
                   (b->state[first] & PUB_RETURNED) != 0
                       ? "RabbitMQ could not route it to a queue (topology deleted?)"
                       : "RabbitMQ nacked it");
}

/*
 * Publish ids[0..n) to exchange <prefix>.<exchange> with routing key, pipelined, and wait
 * until the broker has acked or nacked every one, or the deadline passes.
 */
static enum status publish_batch(struct mq *mq, const char *exchange, const char *key,
                                 const char *const *ids, size_t n, bool *confirmed,
                                 struct err *e)
{
    int64_t deadline = clock_now_ms() + mq->timeout_ms;
    char xname[MQ_NAME_MAX];
    struct batch b = {0};
    amqp_frame_t f;
    enum status st;
    size_t i;
    int rc;

    for (i = 0; confirmed != NULL && i < n; i++)
        confirmed[i] = false;
    if (n == 0)
        return ST_OK;
    for (i = 0; i < n; i++) {
        if (ids[i] == NULL || ids[i][0] == '\0' || strlen(ids[i]) > MQ_ID_MAX)
            return err_set(e, ST_INVALID,
                           "operation id %zu of the batch is empty or too long", i);
    }
    st = usable(mq, e);
    if (st != ST_OK)
        return st;
    b.ids = ids;
    b.n = n;
    b.first_tag = mq->next_tag;
    b.state = calloc(n, 1);
    if (b.state == NULL)
        return err_set(e, ST_NOMEM, "out of memory");
    if (exchange != NULL)
        make_name(mq, exchange, xname, sizeof xname);
    else
        xname[0] = '\0'; /* the default exchange: key is a queue's name */

    for (i = 0; i < n; i++) {
        amqp_basic_properties_t props;
        amqp_bytes_t id = amqp_cstring_bytes(ids[i]);

        props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
                       AMQP_BASIC_MESSAGE_ID_FLAG;
        props.content_type = amqp_cstring_bytes("text/plain");
        props.delivery_mode = 2;
        props.message_id = id;
        /* Mandatory: a message no queue takes is returned, not silently acked. */
        rc = amqp_basic_publish(mq->conn, mq->channel, amqp_cstring_bytes(xname),
                                amqp_cstring_bytes(key), 1, 0, &props, id);
        if (rc != AMQP_STATUS_OK) {
            mq->conn_ok = false;
            st = err_set(e, ST_MQ,
                         "could not publish operation \"%s\" to RabbitMQ at %s: %s",
                         ids[i], mq->where, amqp_error_string2(rc));
            goto out;
        }
        mq->next_tag++;
        if ((i + 1) % MQ_DRAIN_EVERY == 0) {
            st = drain(mq, &b, deadline, e);
            if (st != ST_OK)
                goto out;
        }
    }

    while (b.resolved < n) {
        if (clock_now_ms() >= deadline) {
            st = err_set(
                e, ST_MQ,
                "timed out after %lldms waiting for RabbitMQ at %s to confirm %zu of "
                "%zu publishes",
                (long long)mq->timeout_ms, mq->where, n - b.resolved, n);
            goto out;
        }
        rc = wait_frame(mq, &f, deadline);
        if (rc == AMQP_STATUS_TIMEOUT)
            continue;
        if (rc != AMQP_STATUS_OK) {
            mq->conn_ok = false;
            st = err_set(e, ST_MQ, "lost the connection to RabbitMQ at %s: %s", mq->where,
                         amqp_error_string2(rc));
            goto out;
        }
        st = handle_frame(mq, &b, &f, deadline, e);
        amqp_maybe_release_buffers(mq->conn);
        if (st != ST_OK)
            goto out;
    }
    st = batch_outcome(&b, e);
out:
    /* On failure too: whatever the broker acked is safely queued. */
    for (i = 0; confirmed != NULL && i < n; i++)
        confirmed[i] = b.state[i] == PUB_ACKED;
    free(b.state);
    return st;
}

enum status mq_publish_work(struct mq *mq, const char *const *ids, size_t n,
                            bool *confirmed, struct err *e)
{
    if (mq == NULL || (n > 0 && (ids == NULL || confirmed == NULL)))
        return err_set(e, ST_INVALID, "mq_publish_work: missing argument");
    return publish_batch(mq, "work", "work", ids, n, confirmed, e);
}

enum status mq_publish_retries(struct mq *mq, const char *const *ids, size_t n,
                               int64_t delay_ms, bool *confirmed, struct err *e)
{
    char delay[MQ_DELAY_NAME_MAX];
    bool known = false;
    size_t i;

    if (mq == NULL || (n > 0 && ids == NULL))
        return err_set(e, ST_INVALID, "mq_publish_retries: missing argument");
    for (i = 0; i < mq->ndelays; i++)
        known = known || mq->delays[i] == delay_ms;
    cfg_format_duration(delay_ms, delay, sizeof delay);
    if (!known)
        return err_set(e, ST_INVALID,
                       "no retry queue for a delay of %s (use backoff_queue_delay_ms)",
                       delay);
    return publish_batch(mq, "retry", delay, ids, n, confirmed, e);
}

enum status mq_publish_retry(struct mq *mq, const char *id, int64_t delay_ms,
                             struct err *e)
{
    if (id == NULL)
        return err_set(e, ST_INVALID, "mq_publish_retry: missing argument");
    return mq_publish_retries(mq, &id, 1, delay_ms, NULL, e);
}

enum status mq_queue_depth(struct mq *mq, const char *suffix, uint32_t *messages,
                           uint32_t *consumers, struct err *e)
{
    amqp_queue_declare_ok_t *ok;
    char name[MQ_NAME_MAX];
    enum status st;
    int code;

    if (mq == NULL || suffix == NULL || suffix[0] == '\0' ||
        strlen(suffix) > MQ_NAME_MAX - MQ_PREFIX_MAX - 2)
        return err_set(e, ST_INVALID, "mq_queue_depth: missing or too long queue name");
    st = usable(mq, e);
    if (st != ST_OK)
        return st;
    make_name(mq, suffix, name, sizeof name);
    ok = amqp_queue_declare(mq->conn, mq->channel, amqp_cstring_bytes(name), 1, 0, 0, 0,
                            amqp_empty_table);
    st = rpc_check(mq, amqp_get_rpc_reply(mq->conn), &code, e,
                   "could not inspect queue \"%s\"", name);
    if (st != ST_OK) {
        if (code == AMQP_NOT_FOUND) {
            /* The broker closed the channel for the failed passive declare; reopen it so
             * the handle stays usable. */
            st = channel_open(mq, e);
            if (st == ST_OK)
                st = err_set(e, ST_MQ, "queue \"%s\" does not exist", name);
        }
        return st;
    }
    if (messages != NULL)
        *messages = ok->message_count;
    if (consumers != NULL)
        *consumers = ok->consumer_count;
    return ST_OK;
}

enum status mq_delete_topology(struct mq *mq, struct err *e)
{
    char name[MQ_NAME_MAX], suffix[MQ_DELAY_NAME_MAX + 8];
    static const char *const fixed[] = {"work", "dead"};
    static const char *const exchanges[] = {"work", "retry", "dead"};
    enum status st = ST_OK;
    size_t i;
    int code;

    if (mq == NULL)
        return err_set(e, ST_INVALID, "mq_delete_topology: missing handle");
    for (i = 0; i < sizeof fixed / sizeof fixed[0] + mq->ndelays; i++) {
        if (i < sizeof fixed / sizeof fixed[0]) {
            snprintf(suffix, sizeof suffix, "%s", fixed[i]);
        } else {
            mq_retry_suffix(mq->delays[i - sizeof fixed / sizeof fixed[0]], suffix,
                            sizeof suffix);
        }
        st = usable(mq, e);
        if (st != ST_OK)
            goto out;
        make_name(mq, suffix, name, sizeof name);
        amqp_queue_delete(mq->conn, mq->channel, amqp_cstring_bytes(name), 0, 0);
        st = rpc_check(mq, amqp_get_rpc_reply(mq->conn), &code, e,
                       "could not delete queue \"%s\"", name);
        if (st != ST_OK && code != AMQP_NOT_FOUND)
            goto out;
    }
    for (i = 0; i < sizeof exchanges / sizeof exchanges[0]; i++) {
        st = usable(mq, e);
        if (st != ST_OK)
            goto out;
        make_name(mq, exchanges[i], name, sizeof name);
        amqp_exchange_delete(mq->conn, mq->channel, amqp_cstring_bytes(name), 0);
        st = rpc_check(mq, amqp_get_rpc_reply(mq->conn), &code, e,
                       "could not delete exchange \"%s\"", name);
        if (st != ST_OK && code != AMQP_NOT_FOUND)
            goto out;
    }
    /* A not-found on the last step leaves the channel closed; reopen it now. */
    st = usable(mq, e);
out:
    return st;
}

/* ---- consuming ---- */

/*
 * Deliveries are read frame by frame with amqp_simple_wait_frame_noblock rather than with
 * amqp_consume_message: in librabbitmq 0.11 the latter reads a delivery's header and body
 * frames without any time limit (amqp_read_message), so a broker that stalls mid-message
 * would hang the consumer. Reading the frames here keeps every wait bounded, and lets the
 * few other methods a consumer can see (confirms, returns, cancel, close) be judged in
 * one place. The body is copied into the caller's fixed buffer, never allocated, so a
 * huge message costs nothing but the frames librabbitmq already holds.
 */

/* The consumer's channel must still be the one the deliveries came on: never reopen it
 * here, since a tag of the old channel means nothing (or something else) on a new one. */
static enum status consumer_usable(struct mq *mq, const char *what, struct err *e)
{
    if (!mq->conn_ok)
        return err_set(e, ST_MQ,
                       "could not %s: the connection to RabbitMQ at %s is closed", what,
                       mq->where);
    if (!mq->channel_ok)
        return err_set(e, ST_MQ, "could not %s: the channel to RabbitMQ at %s is closed",
                       what, mq->where);
    return ST_OK;
}

enum status mq_consume_start(struct mq *mq, uint16_t prefetch, struct err *e)
{
    char queue[MQ_NAME_MAX], host[64];
    enum status st;

    if (mq == NULL)
        return err_set(e, ST_INVALID, "mq_consume_start: missing handle");
    /* Prefetch 0 means unlimited in AMQP: a consumer could then hoard the whole queue. */
    if (prefetch == 0)
        return err_set(e, ST_INVALID, "mq_consume_start: prefetch must be at least 1");
    if (mq->consuming)
        return err_set(e, ST_INVALID,
                       "mq_consume_start: this handle is already consuming");
    st = usable(mq, e);
    if (st != ST_OK)
        return st;
    make_name(mq, "work", queue, sizeof queue);

    amqp_basic_qos(mq->conn, mq->channel, 0, prefetch, 0);
    st = rpc_check(mq, amqp_get_rpc_reply(mq->conn), NULL, e,
                   "could not set prefetch %u on RabbitMQ at %s", (unsigned)prefetch,
                   mq->where);
    if (st != ST_OK)
        return st;

    /* A tag an operator can trace back to the process in the management UI. */
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = '\0';
    snprintf(mq->consumer_tag, sizeof mq->consumer_tag, "tmdbq-consumer@%s:%ld/%u", host,
             (long)getpid(), (unsigned)mq->channel);
    amqp_basic_consume(mq->conn, mq->channel, amqp_cstring_bytes(queue),
                       amqp_cstring_bytes(mq->consumer_tag), 0, 0, 0, amqp_empty_table);
    st = rpc_check(mq, amqp_get_rpc_reply(mq->conn), NULL, e,
                   "could not consume from queue \"%s\" on RabbitMQ at %s", queue,
                   mq->where);
    if (st != ST_OK)
        return st;
    mq->consuming = true;
    mq->cancelled = false;
    return ST_OK;
}

/* A frame could not be read: the stream is gone, or (timeout) out of step. */
static enum status read_failed(struct mq *mq, int rc, const char *what, struct err *e)
{
    mq->conn_ok = false;
    mq->channel_ok = false;
    mq->consuming = false;
    return err_set(e, ST_MQ, "%s from RabbitMQ at %s: %s", what, mq->where,
                   amqp_error_string2(rc));
}

/*
 * A frame that is not part of the delivery being read: a close of the connection or of
 * our channel ends the consumer (ST_MQ); anything else off our channel (a late frame of a
 * closed channel, connection.blocked) needs no answer and is skipped (ST_OK).
 */
static enum status foreign_frame(struct mq *mq, const amqp_frame_t *f, struct err *e)
{
    const char *which;
    char why[400];

    if (f->frame_type != AMQP_FRAME_METHOD ||
        !server_closed(mq, f, &which, why, sizeof why))
        return ST_OK;
    mq->consuming = false;
    return err_set(e, ST_MQ, "RabbitMQ at %s closed the %s: %s", mq->where, which, why);
}

/*
 * The basic.deliver was read; its header and body frames follow on our channel. They are
 * ours whatever the caller's timeout says (the delivery is already counted against the
 * prefetch), so they get the handle's own timeout. A failure here leaves the stream out
 * of step: the handle is marked dead and the broker redelivers once it is closed.
 */
static enum status read_delivery(struct mq *mq, const amqp_basic_deliver_t *d,
                                 struct mq_delivery *out, struct err *e)
{
    int64_t deadline = clock_now_ms() + mq->timeout_ms;
    uint64_t body_size, got = 0;
    bool have_header = false;
    amqp_frame_t f;
    enum status st;
    int rc;

    out->tag = d->delivery_tag;
    out->redelivered = d->redelivered != 0;
    out->received_us = clock_wall_us();
    body_size = 0;
    while (!have_header || got < body_size) {
        rc = wait_frame(mq, &f, deadline);
        if (rc != AMQP_STATUS_OK)
            return read_failed(mq, rc, "could not read a delivery", e);
        if (f.channel != mq->channel || f.frame_type == AMQP_FRAME_METHOD) {
            st = foreign_frame(mq, &f, e);
            if (st != ST_OK)
                return st;
            if (f.channel != mq->channel)
                continue;
            /* A method of our channel in the middle of a message: the broker broke the
             * protocol, nothing after it can be trusted. */
            mq->conn_ok = false;
            mq->consuming = false;
            return err_set(
                e, ST_MQ, "RabbitMQ at %s sent method 0x%08x in the middle of a delivery",
                mq->where, (unsigned)f.payload.method.id);
        }
        if (!have_header) {
            if (f.frame_type != AMQP_FRAME_HEADER) {
                mq->conn_ok = false;
                mq->consuming = false;
                return err_set(e, ST_MQ,
                               "RabbitMQ at %s sent a delivery without a content header",
                               mq->where);
            }
            body_size = f.payload.properties.body_size;
            have_header = true;
            continue;
        }
        if (f.frame_type != AMQP_FRAME_BODY ||
            f.payload.body_fragment.len > body_size - got) {
            mq->conn_ok = false;
            mq->consuming = false;
            return err_set(e, ST_MQ, "RabbitMQ at %s sent a malformed delivery body",
                           mq->where);
        }
        if (got < sizeof out->body - 1) {
            size_t room = sizeof out->body - 1 - (size_t)got;
            size_t take =
                f.payload.body_fragment.len < room ? f.payload.body_fragment.len : room;

            memcpy(out->body + got, f.payload.body_fragment.bytes, take);
        }
        got += f.payload.body_fragment.len;
    }
    out->len = body_size > SIZE_MAX ? SIZE_MAX : (size_t)body_size;
    out->too_long = body_size > sizeof out->body - 1;
    out->body[out->too_long ? sizeof out->body - 1 : out->len] = '\0';
    return ST_OK;
}

/* Judge one method frame of our channel while waiting for a delivery; *got is set when it
 * was one (and out is filled). */
static enum status consumer_method(struct mq *mq, const amqp_frame_t *f,
                                   struct mq_delivery *out, bool *got, struct err *e)
{
    const amqp_method_t *m = &f->payload.method;

    switch (m->id) {
    case AMQP_BASIC_DELIVER_METHOD:
        *got = true;
        return read_delivery(mq, m->decoded, out, e);
    case AMQP_BASIC_ACK_METHOD:
    case AMQP_BASIC_NACK_METHOD:
        /* Confirms of publishes on this channel; the consumer handle does not wait for
         * them. */
        return ST_OK;
    case AMQP_BASIC_RETURN_METHOD:
        /* Its header and body follow and are skipped as stray content frames. */
        return ST_OK;
    case AMQP_BASIC_CANCEL_METHOD:
        /* The queue was deleted (or, on a quorum queue, lost its leader for good). */
        mq->consuming = false;
        mq->cancelled = true;
        return err_set(
            e, ST_MQ,
            "RabbitMQ at %s cancelled the consumer of queue \"%s.work\" (queue "
            "deleted?)",
            mq->where, mq->prefix);
    case AMQP_CHANNEL_CLOSE_METHOD:
        return foreign_frame(mq, f, e);
    default:
        return err_set(e, ST_MQ, "RabbitMQ at %s sent an unexpected method 0x%08x",
                       mq->where, (unsigned)m->id);
    }
}

enum status mq_consume_next(struct mq *mq, int64_t timeout_ms, struct mq_delivery *out,
                            struct err *e)
{
    int64_t deadline = clock_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    amqp_frame_t f;
    enum status st;
    bool got = false;
    int rc;

    if (mq == NULL || out == NULL)
        return err_set(e, ST_INVALID, "mq_consume_next: missing argument");
    memset(out, 0, sizeof *out);
    if (mq->consumer_tag[0] == '\0')
        return err_set(e, ST_INVALID, "mq_consume_next: mq_consume_start was not called");
    st = consumer_usable(mq, "wait for a delivery", e);
    if (st != ST_OK)
        return st;
    if (!mq->consuming)
        return err_set(
            e, ST_MQ, "the consumer on RabbitMQ at %s is gone (%s); reconnect", mq->where,
            mq->cancelled ? "cancelled by the broker" : "its channel was reopened");

    /* The previous delivery was copied out: its frames' memory can go back to the pool.
     */
    amqp_maybe_release_buffers(mq->conn);
    for (;;) {
        rc = wait_frame(mq, &f, deadline);
        if (rc == AMQP_STATUS_TIMEOUT) {
            /* select() may wake a little early; the contract is "not before timeout". */
            if (clock_now_ms() < deadline)
                continue;
            return err_set(e, ST_TIMEOUT, "no delivery from RabbitMQ at %s within %lldms",
                           mq->where, (long long)timeout_ms);
        }
        if (rc != AMQP_STATUS_OK)
            return read_failed(mq, rc, "could not wait for a delivery", e);
        if (f.frame_type != AMQP_FRAME_METHOD || f.channel != mq->channel) {
            st = foreign_frame(mq, &f, e);
        } else {
            st = consumer_method(mq, &f, out, &got, e);
        }
        if (st != ST_OK) {
            memset(out, 0, sizeof *out);
            return st;
        }
        if (got)
            return ST_OK;
        amqp_maybe_release_buffers(mq->conn);
    }
}

/* How a delivery is settled: basic.ack (of one, or of every one up to it),
 * basic.reject, basic.nack with requeue. */
enum settle_kind { SETTLE_ACK, SETTLE_ACK_UPTO, SETTLE_REJECT, SETTLE_REQUEUE };

/* Settle delivery tag. The broker answers a bad tag by closing the channel, which the
 * next mq_consume_next reports. */
static enum status settle(struct mq *mq, uint64_t tag, enum settle_kind k, struct err *e)
{
    static const struct {
        const char *fn, *verb, *what;
    } kinds[] = {
        [SETTLE_ACK] = {"mq_ack", "acknowledge", "acknowledge a delivery"},
        [SETTLE_ACK_UPTO] = {"mq_ack_upto", "acknowledge up to",
                             "acknowledge deliveries"},
        [SETTLE_REJECT] = {"mq_reject", "reject", "reject a delivery"},
        [SETTLE_REQUEUE] = {"mq_requeue", "requeue", "requeue a delivery"},
    };
    enum status st;
    int rc;

    if (mq == NULL)
        return err_set(e, ST_INVALID, "%s: missing handle", kinds[k].fn);
    st = consumer_usable(mq, kinds[k].what, e);
    if (st != ST_OK)
        return st;
    if (k == SETTLE_ACK || k == SETTLE_ACK_UPTO)
        rc = amqp_basic_ack(mq->conn, mq->channel, tag, k == SETTLE_ACK_UPTO);
    else if (k == SETTLE_REJECT)
        /* No requeue: the work queue's x-dead-letter-exchange takes it to P.dead. */
        rc = amqp_basic_reject(mq->conn, mq->channel, tag, 0);
    else
        rc = amqp_basic_nack(mq->conn, mq->channel, tag, 0, 1);
    if (rc == AMQP_STATUS_OK)
        return ST_OK;
    mq->conn_ok = false;
    mq->channel_ok = false;
    mq->consuming = false;
    return err_set(e, ST_MQ, "could not %s delivery %llu on RabbitMQ at %s: %s",
                   kinds[k].verb, (unsigned long long)tag, mq->where,
                   amqp_error_string2(rc));
}

bool mq_delivery_names_op(const struct mq_delivery *d)
{
    return !d->too_long && d->len == strlen(d->body) && op_id_valid(d->body);
}

enum status mq_ack(struct mq *mq, uint64_t tag, struct err *e)
{
    return settle(mq, tag, SETTLE_ACK, e);
}

enum status mq_ack_upto(struct mq *mq, uint64_t tag, struct err *e)
{
    return settle(mq, tag, SETTLE_ACK_UPTO, e);
}

enum status mq_reject(struct mq *mq, uint64_t tag, struct err *e)
{
    return settle(mq, tag, SETTLE_REJECT, e);
}

enum status mq_requeue(struct mq *mq, uint64_t tag, struct err *e)
{
    return settle(mq, tag, SETTLE_REQUEUE, e);
}

enum status mq_publish_delayed(struct mq *mq, const char *id, int64_t delay_ms,
                               int64_t *used_ms, struct err *e)
{
    int64_t used;

    if (used_ms != NULL)
        *used_ms = 0;
    if (mq == NULL || id == NULL)
        return err_set(e, ST_INVALID, "mq_publish_delayed: missing argument");
    used = backoff_queue_delay_ms(&mq->policy, delay_ms);
    if (used <= 0)
        return err_set(
            e, ST_INVALID,
            "could not delay operation \"%.64s\": the retry policy has no retries", id);
    if (used_ms != NULL)
        *used_ms = used;
    return mq_publish_retry(mq, id, used, e);
}

/* ---- moving queues an older tmdbq declared ------------------------------------------
 */

/* Messages moved per round of mq_migrate: got, published with confirms, then acked. */
#define MQ_MOVE_BATCH 256

/* Whether queue name exists (a passive declare; a not-found closes the channel, which
 * the next call reopens). */
static enum status queue_exists(struct mq *mq, const char *name, bool *exists,
                                struct err *e)
{
    enum status st = usable(mq, e);
    int code;

    if (st != ST_OK)
        return st;
    amqp_queue_declare(mq->conn, mq->channel, amqp_cstring_bytes(name), 1, 0, 0, 0,
                       amqp_empty_table);
    st = rpc_check(mq, amqp_get_rpc_reply(mq->conn), &code, e,
                   "could not inspect queue \"%s\"", name);
    *exists = st == ST_OK;
    return code == AMQP_NOT_FOUND ? ST_OK : st;
}

/* Get up to MQ_MOVE_BATCH messages of queue from without acking them: their bodies into
 * bodies, the last delivery tag into *tag. Bodies that cannot be an operation id (empty,
 * or longer than any id) are counted in *foreign and left out: the next round acks them
 * with the rest, as a consumer would dead-letter them. */
static enum status get_batch(struct mq *mq, const char *from,
                             char bodies[][MQ_ID_MAX + 1], size_t *n, uint64_t *tag,
                             size_t *foreign, struct err *e)
{
    amqp_rpc_reply_t r;
    amqp_message_t msg;
    enum status st;

    *n = 0;
    *tag = 0;
    while (*n < MQ_MOVE_BATCH) {
        r = amqp_basic_get(mq->conn, mq->channel, amqp_cstring_bytes(from), 0);
        st = rpc_check(mq, r, NULL, e, "could not get a message from queue \"%s\"", from);
        if (st != ST_OK)
            return st;
        if (r.reply.id == AMQP_BASIC_GET_EMPTY_METHOD)
            break;
        *tag = ((const amqp_basic_get_ok_t *)r.reply.decoded)->delivery_tag;
        r = amqp_read_message(mq->conn, mq->channel, &msg, 0);
        st = rpc_check(mq, r, NULL, e, "could not read a message of queue \"%s\"", from);
        if (st != ST_OK)
            return st;
        if (msg.body.len == 0 || msg.body.len > MQ_ID_MAX ||
            memchr(msg.body.bytes, '\0', msg.body.len) != NULL) {
            (*foreign)++;
        } else {
            memcpy(bodies[*n], msg.body.bytes, msg.body.len);
            bodies[*n][msg.body.len] = '\0';
            (*n)++;
        }
        amqp_destroy_message(&msg);
    }
    return ST_OK;
}

/* Move every message of queue from into queue to (full names), a batch at a time:
 * published to `to` with confirms before they are acked in `from`, so each message is in
 * one queue or, after a crash, in both (a duplicate id, which a claim tolerates), never
 * in neither. */
static enum status move_messages(struct mq *mq, const char *from, const char *to,
                                 size_t *moved, size_t *foreign_out, struct err *e)
{
    char(*bodies)[MQ_ID_MAX + 1] = calloc(MQ_MOVE_BATCH, sizeof *bodies);
    const char *ids[MQ_MOVE_BATCH];
    bool confirmed[MQ_MOVE_BATCH];
    size_t n, i, foreign = 0;
    uint64_t tag;
    enum status st = ST_OK;
    int rc;

    if (bodies == NULL)
        return err_set(e, ST_NOMEM, "out of memory");
    for (;;) {
        st = usable(mq, e);
        if (st == ST_OK)
            st = get_batch(mq, from, bodies, &n, &tag, &foreign, e);
        if (st != ST_OK || tag == 0)
            break;
        for (i = 0; i < n; i++)
            ids[i] = bodies[i];
        st = publish_batch(mq, NULL, to, ids, n, confirmed, e);
        if (st != ST_OK)
            break; /* the unacked ones go back to `from` with the channel */
        rc = amqp_basic_ack(mq->conn, mq->channel, tag, 1);
        if (rc != AMQP_STATUS_OK) {
            mq->conn_ok = false;
            st = err_set(e, ST_MQ, "could not acknowledge moved messages on %s: %s",
                         mq->where, amqp_error_string2(rc));
            break;
        }
        *moved += n;
    }
    *foreign_out += foreign;
    free(bodies);
    return st;
}

/* Delete queue name when it is empty: *deleted false when it is not (a publisher added
 * to it since it was emptied: move again). Quorum queues refuse queue.delete's if-empty,
 * so emptiness is read first: a publish that lands between the read and the delete is
 * lost with the queue, and its row is published again by the reaper (stop the producers
 * too for a move without even that). */
static enum status delete_if_empty(struct mq *mq, const char *name, bool *deleted,
                                   struct err *e)
{
    amqp_queue_declare_ok_t *ok;
    enum status st = usable(mq, e);
    int code;

    *deleted = false;
    if (st != ST_OK)
        return st;
    ok = amqp_queue_declare(mq->conn, mq->channel, amqp_cstring_bytes(name), 1, 0, 0, 0,
                            amqp_empty_table);
    st = rpc_check(mq, amqp_get_rpc_reply(mq->conn), &code, e,
                   "could not inspect queue \"%s\"", name);
    if (st != ST_OK || ok->message_count > 0) {
        *deleted = code == AMQP_NOT_FOUND;
        return *deleted ? ST_OK : st;
    }
    amqp_queue_delete(mq->conn, mq->channel, amqp_cstring_bytes(name), 0, 0);
    st = rpc_check(mq, amqp_get_rpc_reply(mq->conn), &code, e,
                   "could not delete queue \"%s\"", name);
    *deleted = st == ST_OK || code == AMQP_NOT_FOUND;
    return *deleted ? ST_OK : st;
}

/* Empty queue from into queue to, then delete it; again while publishers add to it. */
static enum status drain_and_delete(struct mq *mq, const char *from, const char *to,
                                    size_t *moved, size_t *foreign, struct err *e)
{
    bool deleted = false;
    enum status st = ST_OK;

    while (st == ST_OK && !deleted) {
        st = move_messages(mq, from, to, moved, foreign, e);
        if (st == ST_OK)
            st = delete_if_empty(mq, from, &deleted, e);
    }
    return st;
}

/* Queue q as this tmdbq declares it, moving it when an older tmdbq declared it with other
 * arguments (or finishing a move a crash interrupted). */
static enum status migrate_queue(struct mq *mq, struct queue_spec *q,
                                 struct mq_migration *report, struct err *e)
{
    char name[MQ_NAME_MAX], holding[MQ_NAME_MAX], hsuffix[sizeof q->suffix + 10];
    amqp_table_entry_t quorum = entry_str("x-queue-type", "quorum");
    amqp_table_t hargs = {1, &quorum};
    bool held = false;
    size_t aside = 0; /* moved into the holding queue (counted on their way back) */
    enum status st;
    int code;

    make_name(mq, q->suffix, name, sizeof name);
    snprintf(hsuffix, sizeof hsuffix, "%s.migrating", q->suffix);
    make_name(mq, hsuffix, holding, sizeof holding);

    st = usable(mq, e);
    if (st != ST_OK)
        return st;
    amqp_queue_declare(mq->conn, mq->channel, amqp_cstring_bytes(name), 0, 1, 0, 0,
                       q->args);
    st = rpc_check(mq, amqp_get_rpc_reply(mq->conn), &code, e,
                   "could not declare queue \"%s\"", name);
    if (st != ST_OK && code != AMQP_PRECONDITION_FAILED)
        return st;
    if (st != ST_OK) {
        /* An older declaration: move its messages aside, and declare it anew. */
        log_info("queue \"%s\" was declared with other arguments: moving it", name);
        report->queues++;
        st = usable(mq, e);
        if (st != ST_OK)
            return st;
        amqp_queue_declare(mq->conn, mq->channel, amqp_cstring_bytes(holding), 0, 1, 0, 0,
                           hargs);
        st = rpc_check(mq, amqp_get_rpc_reply(mq->conn), NULL, e,
                       "could not declare queue \"%s\"", holding);
        if (st == ST_OK)
            st = drain_and_delete(mq, name, holding, &aside, &report->foreign, e);
        if (st != ST_OK)
            return st;
        held = true;
        /* A fresh channel: one that got from the old queue keeps state of its type, and
         * RabbitMQ 3.10 fails the channel (INTERNAL_ERROR) when it then publishes to a
         * queue of another type under the same name. */
        if (mq->channel_ok) {
            amqp_rpc_reply_t r =
                amqp_channel_close(mq->conn, mq->channel, AMQP_REPLY_SUCCESS);

            mq->channel_ok = false;
            if (r.reply_type != AMQP_RESPONSE_NORMAL)
                mq->conn_ok = false;
        }
    } else {
        st = queue_exists(mq, holding, &held, e);
        if (st != ST_OK)
            return st;
    }
    st = usable(mq, e);
    if (st == ST_OK)
        st = queue_declare_bind(mq, q->suffix, q->args, q->exchange, q->key, e);
    if (st == ST_OK && held)
        st = drain_and_delete(mq, holding, name, &report->messages, &report->foreign, e);
    return st;
}

enum status mq_migrate(const char *url, const char *prefix,
                       const struct backoff_policy *policy, int64_t timeout_ms,
                       struct mq_migration *report, struct err *e)
{
    struct mq *mq = NULL;
    struct queue_spec q;
    enum status st;
    size_t i;

    memset(report, 0, sizeof *report);
    if (url == NULL || policy == NULL || timeout_ms <= 0)
        return err_set(e, ST_INVALID, "mq_migrate: missing argument");
    st = handle_new(prefix, policy, timeout_ms, &mq, e);
    if (st != ST_OK)
        return st;
    mq->no_declare = true;
    st = open_any_node(mq, url, e);
    report->reached = st == ST_OK;
    if (st == ST_OK)
        st = declare_exchanges(mq, e);
    for (i = 0; i < queue_count(mq) && st == ST_OK; i++) {
        queue_spec(mq, i, &q);
        st = migrate_queue(mq, &q, report, e);
    }
    mq_close(mq);
    return st;
}
