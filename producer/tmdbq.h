/*
 * tmdbq.h: the C API of tmdbq, the durable queue for TMDB list operations.
 *
 * An application opens a handle, enqueues operations (each is written to PostgreSQL
 * first, then its id is published to RabbitMQ) and inspects the queue. The `tmdbq`
 * command is a thin shell over exactly this API.
 *
 * Conventions:
 * - Every fallible function returns an int that is also the `tmdbq` command's exit
 *   status: TMDBQ_OK 0, TMDBQ_ESERVICE 1 (PostgreSQL or RabbitMQ failed), TMDBQ_EINVAL 2
 *   (invalid input), TMDBQ_ENOTFOUND 3 (no such operation), TMDBQ_ESTATE 4 (the
 *   operation's status does not allow it), and for tmdbq_apply only TMDBQ_EREJECTED 5
 *   (TMDB refused the operation for good). tmdbq_errmsg() then says what and why, for
 *   people.
 * - Threads: a handle is not thread-safe. Use one handle per thread, or serialise every
 *   call on it (tmdbq_close included). Different handles may be used by different threads
 *   at once. A program that uses tmdbq_status or tmdbq_apply calls tmdbq_global_init
 *   once, before any other thread starts.
 * - Blocking: every call that talks to PostgreSQL, RabbitMQ or TMDB blocks the calling
 *   thread. Each wait is bounded by TMDBQ_CONNECT_TIMEOUT (default 5 s), a TMDB request
 *   of tmdbq_apply by TMDBQ_APPLY_TIMEOUT, tmdbq_wait by its timeout_ms; one call may
 *   make several such waits (connect, query, publish). No call installs a signal handler.
 * - fork(): a child must neither use nor close a handle its parent opened (closing it
 *   would end the parent's connections); it opens its own.
 * - Ownership: `T **out` hands ownership to the caller, who frees it with the matching
 *   _free function (or free() where the comment says so); every free function accepts
 *   NULL. A borrowed result is const and its comment says how long it lives. Input
 *   strings are only read during the call, except tmdbq_open's URLs.
 * - Logging: the library writes warnings as log lines on stderr (program "tmdbq"), e.g.
 *   when an operation is stored but not yet published.
 * - Configuration comes from the environment (see the README); nothing is read from
 *   files.
 * - No secret (API key, session id, access token, password) ever appears in an error
 *   message or in the log.
 */
#ifndef TMDBQ_H
#define TMDBQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    TMDBQ_OK = 0,
    TMDBQ_ESERVICE = 1,
    TMDBQ_EINVAL = 2,
    TMDBQ_ENOTFOUND = 3,
    TMDBQ_ESTATE = 4,
    TMDBQ_EREJECTED = 5, /* tmdbq_apply only: TMDB refused the operation for good */
};

struct tmdbq;
struct tmdbq_op;
struct tmdbq_op_list;

/* Open a handle with configuration from the environment; database_url and amqp_url, when
 * not NULL, override TMDBQ_DATABASE_URL and TMDBQ_AMQP_URL. Connects to PostgreSQL now
 * and to RabbitMQ when first needed. *out is set whenever memory allows, even on failure,
 * so tmdbq_errmsg can say why; close it in every case. Returns TMDBQ_EINVAL for a bad
 * configuration value, TMDBQ_ESERVICE when PostgreSQL cannot be reached.
 * database_url and amqp_url are borrowed, not copied: they must stay valid until
 * tmdbq_close. So is the configuration read from the environment (getenv's strings): do
 * not change the TMDBQ_* and TMDB_* variables while a handle is open. */
int tmdbq_open(const char *database_url, const char *amqp_url, struct tmdbq **out);

/* Close connections and free the handle; accepts NULL. */
void tmdbq_close(struct tmdbq *h);

/* What the last failed call on h was about. Borrowed: valid until the next call on h.
 * h may be NULL (tmdbq_open could not allocate the handle): then "out of memory". */
const char *tmdbq_errmsg(const struct tmdbq *h);

/* Apply the schema migrations not yet applied (safe to run from many processes at once).
 * applied and version may be NULL. */
int tmdbq_migrate(struct tmdbq *h, int *applied, int *version);

/* Bring RabbitMQ's queues to what this version declares, moving any queue an older tmdbq
 * declared with other arguments (the delayed-retry queues became quorum queues, the work
 * queue gained an explicit delivery limit) without losing a message: they wait in a
 * holding queue while the queue is declared anew (a message that cannot name an operation
 * is dropped and counted). Run with the consumers stopped; safe to run again, and
 * finishes a move a crash interrupted. queues and messages (moved) and dropped may be
 * NULL. TMDBQ_ESERVICE when RabbitMQ failed; *queues is -1 when no node answered. */
int tmdbq_migrate_broker(struct tmdbq *h, int *queues, long *messages, long *dropped);

/* One operation as a user asks for it. Unset numbers have their has_ flag false; unset
 * strings are NULL; public_flag is -1 when not given, else 0 or 1. data_json is an
 * optional JSON object of operation_data fields; an explicit field that it also holds
 * must have the same value there (movie and "movie_id", name, description, public), or
 * the request is invalid. A name may hold no control character, a description none but
 * tab, LF and CR. */
struct tmdbq_request {
    const char *type; /* create_list, update_list, delete_list, clear_list, add_movie,
                         remove_movie */
    int64_t user;
    bool has_user;
    int64_t list;
    bool has_list;
    int64_t movie;
    bool has_movie;
    const char *name;
    const char *description;
    int public_flag;
    const char *data_json;
};

/* A request with nothing set (public_flag -1). */
struct tmdbq_request tmdbq_request_init(void);

/* Validate and enqueue one operation. Unless an identical operation is already pending
 * (then that one is returned and tmdbq_op_duplicate says so), the row is inserted, then
 * its id is published with a publisher confirm. If RabbitMQ cannot take it, this still
 * returns TMDBQ_OK with tmdbq_op_published false: the row is durable and the reaper
 * publishes it later (tmdbq_errmsg holds the broker's failure for a warning). */
int tmdbq_enqueue(struct tmdbq *h, const struct tmdbq_request *req,
                  struct tmdbq_op **out);

/* ---- apply: direct to TMDB when it answers, queued when it does not ---------------- */

enum tmdbq_apply_outcome {
    TMDBQ_APPLIED, /* TMDB performed it (or its goal already held); the row is
                      completed */
    TMDBQ_QUEUED,  /* it is a pending operation now, which a consumer performs in its
                      turn */
    TMDBQ_FAILED,  /* TMDB refused it for good; the row is failed; nothing is queued */
};

/* Why an apply answered TMDBQ_QUEUED. */
enum tmdbq_queued_reason {
    TMDBQ_QUEUED_NONE,      /* not queued */
    TMDBQ_QUEUED_LIST_BUSY, /* the list had pending or processing operations: it waits
                               behind them, TMDB was not called */
    TMDBQ_QUEUED_DUPLICATE, /* an identical operation was pending: that one is returned */
    TMDBQ_QUEUED_PAUSED,    /* the queue is paused (tmdbq pause): TMDB was not called */
    TMDBQ_QUEUED_UNAVAILABLE, /* the direct attempt failed transiently (timeout, refused
                                 connection, 429, 5xx) or TMDB rejected the application's
                                 credential */
};

/* What tmdbq_apply did; free with tmdbq_apply_result_free. Strings are borrowed from
 * it. */
struct tmdbq_apply_result {
    enum tmdbq_apply_outcome outcome;
    enum tmdbq_queued_reason reason; /* TMDBQ_QUEUED only */
    struct tmdbq_op *op; /* the row afterwards (completed, pending or failed); owned */
    const char *result;  /* TMDBQ_APPLIED: TMDB's result as JSON, e.g. {"list_id":123}
                            for create_list; else NULL */
    const char *error;   /* TMDBQ_FAILED, and QUEUED_UNAVAILABLE: why, for people;
                            else NULL */
    bool tmdb_called;    /* a request went to TMDB */
    long http_status;    /* TMDB's HTTP status, 0 when none (no call, no answer) */
    int tmdb_code;       /* TMDB's status_code, 0 when none */
};

/* Perform one operation against TMDB now, when that keeps per-list order, and record it;
 * queue it when TMDB does not answer. Needs TMDB_API_KEY or TMDB_ACCESS_TOKEN
 * (TMDBQ_EINVAL, nothing written, without either). Steps:
 *  1. Validate (as tmdbq_enqueue; TMDBQ_EINVAL, nothing written). In one transaction
 *     under the list's lock: an identical pending operation is returned as
 *     QUEUED_DUPLICATE; when the list has pending or processing operations, or the
 *     queue is paused, the operation is inserted pending and published as an enqueue is
 *     (QUEUED_LIST_BUSY, QUEUED_PAUSED); else it is inserted processing, claimed by
 *     "apply:<host>:<pid>" under a lease (TMDBQ_LEASE). create_list has no list: it
 *     goes direct unless paused.
 *  2. Call TMDB with the user's stored credentials, the whole call bounded by
 *     TMDBQ_APPLY_TIMEOUT (default 5 s; twice that for delete_list when TMDB's delete
 *     quirk needs a confirming GET). A user without a session (or, for update_list, a v4
 *     access token) fails at once, without a call.
 *  3. Success or "the goal already holds": the row is completed with TMDB's result:
 *     TMDBQ_APPLIED. Timeout, connection error, 429, 5xx, or a rejected application
 *     credential: the row goes back to pending, due at once (or after TMDB's
 *     Retry-After), and is published: TMDBQ_QUEUED (QUEUED_UNAVAILABLE). The direct
 *     attempt spends no retry: the queued operation keeps its full retry budget.
 *     Permanent (no session, session rejected, list not found, not permitted, invalid
 *     data): the row is failed with the message (error_kind "permanent", so a later
 *     `tmdbq session set` does not revive it) and TMDBQ_FAILED; nothing is queued.
 *  4. If the process dies in step 2 or 3 the row stays processing until its lease ends;
 *     the reaper then returns it to pending like any consumer's (an attempt counted).
 * Returns TMDBQ_OK for APPLIED and QUEUED (a broker that cannot take a queued operation
 * costs a warning and tmdbq_op_published false, as for an enqueue), TMDBQ_EREJECTED for
 * FAILED, with *out set in these cases; TMDBQ_EINVAL for an invalid request or missing
 * application credential and TMDBQ_ESERVICE when PostgreSQL failed, with *out NULL. If
 * PostgreSQL fails after TMDB answered, the outcome is recorded after one reconnect; if
 * that fails too, TMDBQ_ESERVICE says TMDB's answer was not recorded (the row is rescued
 * when its lease ends, and the operation runs again: at-least-once). Blocks for a few
 * database round trips, the TMDB call and a publish. */
int tmdbq_apply(struct tmdbq *h, const struct tmdbq_request *req,
                struct tmdbq_apply_result **out);

/* The result as one JSON object on one line:
 *   {"outcome":"applied","result":{..},"operation":{..}}
 *   {"outcome":"queued","reason":"list_busy"|"duplicate"|"paused"|"tmdb_unavailable",
 *    ["error":".."],"operation":{..}}
 *   {"outcome":"failed","error":"..","http_status":N|null,"tmdb_status_code":N|null,
 *    "operation":{..}}
 * (operation as tmdbq_op_to_json after an enqueue). Caller frees with free(); NULL when
 * out of memory. */
char *tmdbq_apply_result_to_json(const struct tmdbq_apply_result *r);
/* The result as lines for people. Caller frees with free(); NULL when out of memory. */
char *tmdbq_apply_result_to_text(const struct tmdbq_apply_result *r);
/* Accepts NULL. */
void tmdbq_apply_result_free(struct tmdbq_apply_result *r);

/* The result of one line of a bulk enqueue, handed to the callback. Borrowed: valid
 * during the callback only. */
struct tmdbq_line_result {
    long line;                 /* 1-based line number in the input */
    int status;                /* TMDBQ_OK or TMDBQ_EINVAL */
    const char *error;         /* when status != TMDBQ_OK */
    const struct tmdbq_op *op; /* when status == TMDBQ_OK */
};

/* Read one JSON operation a line from in ({"type":..,"user":..,"list":..,"data":{..}}),
 * validate each, insert them in batches and publish with pipelined confirms; call emit
 * once per non-blank line, in input order. A bad line is reported and does not stop the
 * others. A line that holds a NUL byte or is longer than 1 MiB (its newline not counted)
 * is bad; of a long line only the first 1 MiB is ever held in memory, the rest is read
 * and dropped. Returns TMDBQ_OK when every line was good, TMDBQ_EINVAL when some line was
 * not, or TMDBQ_ESERVICE when PostgreSQL failed or in could not be read (lines of the
 * failed batch are not reported as enqueued). */
/* A line result as one JSON object: {"line":N,"ok":true,"operation":{..}} or
 * {"line":N,"ok":false,"error":".."}. Caller frees with free(); NULL when out of
 * memory. */
char *tmdbq_line_result_to_json(const struct tmdbq_line_result *r);

int tmdbq_enqueue_stream(struct tmdbq *h, FILE *in,
                         void (*emit)(void *ctx, const struct tmdbq_line_result *r),
                         void *ctx);

/* The operation with this id (TMDBQ_EINVAL when id is not a UUID, TMDBQ_ENOTFOUND when no
 * such operation exists). */
int tmdbq_show(struct tmdbq *h, const char *id, struct tmdbq_op **out);

struct tmdbq_stats {
    int64_t pending, processing, completed, failed, cancelled, total;
};
int tmdbq_stats(struct tmdbq *h, struct tmdbq_stats *out);
/* The counts as one JSON object: {"pending":N,"processing":N,"completed":N,"failed":N,
 * "cancelled":N,"total":N}. Caller frees with free(); NULL when out of memory. */
char *tmdbq_stats_to_json(const struct tmdbq_stats *s);

/* The user's pending and processing operations, oldest first. */
int tmdbq_pending(struct tmdbq *h, int64_t user, struct tmdbq_op_list **out);
/* Failed operations, newest first; limit 1..10000. */
int tmdbq_failed(struct tmdbq *h, int limit, struct tmdbq_op_list **out);

/* Store a user's TMDB credentials (the v3 session id and, for update_list, the v4 access
 * token; may be NULL). Each must be 1 to 4096 bytes of printable ASCII: no space, no
 * control character (TMDBQ_EINVAL otherwise; the message never quotes them). They are
 * kept in PostgreSQL and never printed. The user's
 * operations that failed for lack of valid credentials (error_kind "credentials") go back
 * to pending with a full retry budget and are published; *retried (may be NULL) says how
 * many. A broker that cannot be reached only delays them (the reaper publishes them). */
int tmdbq_session_set(struct tmdbq *h, int64_t user, const char *session_id,
                      const char *access_token, size_t *retried);
/* Remove them; TMDBQ_ENOTFOUND when the user had none. */
int tmdbq_session_rm(struct tmdbq *h, int64_t user);

/* ---- control: retry, cancel, process now, pause, resume, status ----
 *
 * Every change of an operation runs in one transaction under its list's lock (the lock
 * enqueue and the consumers take), so it cannot race a consumer's claim or finish. What
 * needs a message afterwards is published at once, as an enqueue is (commit, publish with
 * a confirm, mark published): a broker that cannot take it costs a warning in the log and
 * tmdbq_op_published false, never an error; the row is durable and the reaper publishes
 * it. A malformed id is TMDBQ_EINVAL, an unknown one TMDBQ_ENOTFOUND, an operation whose
 * status does not allow the change TMDBQ_ESTATE, with a message that names that status,
 * e.g. "operation X is completed; only a failed operation can be retried". */

/* Retry a failed operation: back to pending with a full retry budget (retry_count 0;
 * error, error kind, scheduled time and last retry time cleared) and published. It takes
 * effect after the operations of its list that were enqueued before the retry (it goes to
 * the back of its list's order, as a new request would). *out: the row afterwards. */
int tmdbq_retry(struct tmdbq *h, const char *id, struct tmdbq_op **out);

/* Cancel a pending operation: *out shows it cancelled. A consumer that receives its
 * message later drops it. When an operation of the same list was waiting behind it, that
 * one is published now (a consumer takes it next). A failed operation can be cancelled
 * too: it is given up for good (it leaves the failed list, and tmdbq_session_set no
 * longer revives it). */
int tmdbq_cancel(struct tmdbq *h, const char *id, struct tmdbq_op **out);

/* Process a pending operation now: a retry scheduled for later becomes due at once, and
 * the id is published. An earlier active operation of its list still goes first. *out:
 * the row afterwards. */
int tmdbq_process(struct tmdbq *h, const char *id, struct tmdbq_op **out);

/* tmdbq_process for every pending operation of the user (none is not an error: an empty
 * list). In enqueue order. */
int tmdbq_process_user(struct tmdbq *h, int64_t user, struct tmdbq_op_list **out);

/* Publish every pending operation that is due now (the reaper's relay, on demand: it
 * covers messages that were lost); rows are not changed but for being marked published.
 * In enqueue order. */
int tmdbq_process_all(struct tmdbq *h, struct tmdbq_op_list **out);

/* Wait until none of the n operations ids[] is pending or processing, polling PostgreSQL
 * every 200 ms, for at most timeout_ms; then *out holds their rows (in enqueue order; ids
 * that name no row are left out). TMDBQ_OK when all are done (completed, failed or
 * cancelled). When the time runs out: TMDBQ_ESERVICE with *timed_out true (may be NULL),
 * tmdbq_errmsg saying how many are still active, and *out holding the rows as they are
 * now. Any other failure: *out NULL. */
int tmdbq_wait(struct tmdbq *h, const char *const *ids, size_t n, int64_t timeout_ms,
               struct tmdbq_op_list **out, bool *timed_out);

/* The pause switch, shared by all consumers through PostgreSQL (survives restarts). */
struct tmdbq_pause_state {
    bool paused;
    char since[40]; /* ISO 8601 UTC: when it last changed (paused or resumed) */
    double age_s;   /* seconds since then */
    bool changed;   /* tmdbq_pause / tmdbq_resume: this call changed it */
};

/* Pause: every consumer stops taking new operations within about a second (each checks
 * the switch at every claim and once a second while idle); operations in flight finish.
 * Operations enqueued meanwhile wait. Idempotent: pausing a paused queue changes nothing
 * (out->changed false, since unchanged). out may be NULL. */
int tmdbq_pause(struct tmdbq *h, struct tmdbq_pause_state *out);
/* Resume: consumers take work again within about a second. Idempotent like pause. */
int tmdbq_resume(struct tmdbq *h, struct tmdbq_pause_state *out);
/* The switch as one JSON object: {"paused":B,"since":"...","changed":B}. Caller frees
 * with free(); NULL when out of memory. */
char *tmdbq_pause_state_to_json(const struct tmdbq_pause_state *s);

/* A consumer worker as it reports itself (table tmdbq_consumers; one row per worker
 * thread). live: seen within the last 15 s (consumers report every 5 s). */
struct tmdbq_consumer {
    const char *id; /* <host>:<pid>:<worker>, or NAME:<pid>:<worker> */
    const char *host;
    int pid;
    const char *started_at; /* ISO 8601 UTC */
    const char *last_seen_at;
    double last_seen_age_s;
    int64_t processed; /* outcomes recorded since it started */
    int64_t failed;    /* of which failed */
    int in_flight;
    bool live;
    const char *amqp_node; /* RabbitMQ node "host:port" it consumes from; NULL: unknown */
};

/* A reaper (table tmdbq_reapers). live: seen within the last 15 s (reapers report every
 * 5 s). leader: it holds the leader's lock (a stale leader died holding it; its lock went
 * with its connection). The optional times are NULL when there is none yet. */
struct tmdbq_reaper {
    const char *id;
    const char *host;
    int pid;
    const char *started_at;
    const char *last_seen_at;
    double last_seen_age_s;
    bool leader;
    bool live;
    const char *last_sweep_at;
    /* the leader's account of its last sweep (a JSON object), or NULL */
    const char *last_sweep_json;
    const char *last_cleanup_at;
};

/* A queue as the broker sees it; -1 for a figure that is unknown. ready and consumers
 * come from AMQP (passive queue.declare, exact); unacked from the management HTTP API
 * (sampled by the broker every few seconds), unknown when that API does not answer. */
struct tmdbq_queue {
    const char *name; /* the full name, e.g. "tmdbq.retry.30s" */
    int64_t delay_ms; /* retry queues: their delay; else 0 */
    int64_t ready;
    int64_t unacked;
    int64_t consumers;
};

/* TMDB's request budget of one scope (TMDBQ_TMDB_RATE_SCOPE: "queue", or "host:<name>"
 * for each host), as its consumers last reported it. */
struct tmdbq_budget {
    const char *scope;
    double rate;                /* requests/s its consumers are configured to */
    double sent_per_s;          /* requests sent over the last minute, per second */
    int64_t requests_1m;        /* requests sent over the last minute */
    int64_t limited_1m;         /* of which TMDB answered 429 */
    const char *cooldown_until; /* ISO 8601 UTC: no request goes out before then; NULL
                                   when no cool-down holds */
    const char *seen_at;        /* the last lease or report */
};

/* Everything `tmdbq status` shows. Borrowed pointers live as long as the status. */
struct tmdbq_status {
    struct tmdbq_pause_state pause;
    struct tmdbq_stats stats;
    const struct tmdbq_consumer *consumers; /* live ones first */
    size_t n_consumers;
    const struct tmdbq_reaper *reapers; /* leaders first, then the latest seen */
    size_t n_reapers;
    bool broker_reachable;
    const char *broker_error; /* NULL when reachable */
    struct tmdbq_queue work;  /* the work queue */
    /* the delayed-retry queues of the retry policy in effect, shortest delay first */
    const struct tmdbq_queue *retry;
    size_t n_retry;
    struct tmdbq_queue dead; /* the dead-letter queue */
    bool management_reachable;
    const char *management_url;   /* the API's address, without credentials */
    const char *management_error; /* NULL when it answered */
    double configured_rate;       /* this process's TMDBQ_TMDB_RATE (0: no budget) */
    const char *rate_scope; /* this process's TMDBQ_TMDB_RATE_SCOPE: "queue" or "host" */
    const struct tmdbq_budget *budgets; /* every scope used so far, by name */
    size_t n_budgets;
};

/* Read the status: the pause switch, the consumers and reapers, the operation counts from
 * PostgreSQL; the queues from RabbitMQ (AMQP) and its management HTTP API (at
 * http://<host of TMDBQ_AMQP_URL>:15672 with that URL's user and password, or at
 * TMDBQ_AMQP_MANAGEMENT_URL). TMDBQ_OK whenever PostgreSQL answered: a broker that cannot
 * be reached shows as broker_reachable false (the figures -1), a management API that does
 * not answer as management_reachable false (unacked -1). TMDBQ_ESERVICE (and *out NULL)
 * when PostgreSQL failed. Blocks for a few round trips, each bounded by
 * TMDBQ_CONNECT_TIMEOUT. Free *out with tmdbq_status_free. */
int tmdbq_status(struct tmdbq *h, struct tmdbq_status **out);
/* The status as one JSON object (see docs/cli.md), or as lines for people. Caller frees
 * with free(); NULL when out of memory. */
char *tmdbq_status_to_json(const struct tmdbq_status *s);
char *tmdbq_status_to_text(const struct tmdbq_status *s);
void tmdbq_status_free(struct tmdbq_status *s);

/* ---- history: the last hour, minute by minute ---- */

/* One minute of the last hour. */
struct tmdbq_minute {
    const char *minute; /* its start, ISO 8601 UTC, e.g. "2026-12-03T09:59:00.000Z" */
    /* Operations whose status is completed, failed or cancelled now and whose last change
     * fell in this minute: a row counts once, in the status it holds now (one that
     * failed, was retried and then completed counts as completed, when it completed). */
    int64_t completed;
    int64_t failed;
    int64_t cancelled;
    int64_t tmdb_requests; /* requests sent to TMDB in this minute, every scope together
                              (as the consumers reported them: up to 5 s behind) */
    int64_t tmdb_rate_limited; /* of which TMDB answered 429 */
};

/* What the queue did over the last hour, and how old its backlog is now. Borrowed
 * pointers live as long as the history. */
struct tmdbq_history {
    const char *now; /* the database server's time of the reading, ISO 8601 UTC */
    /* The 60 minutes up to now, oldest first; the last is the current minute, so far. */
    const struct tmdbq_minute *minutes;
    size_t n_minutes;
    bool any_pending;
    double oldest_pending_age_s; /* the oldest pending operation's age since its enqueue;
                                    0 when nothing is pending */
};

/* Read the last hour from PostgreSQL: one statement, whose cost follows the rows of the
 * last hour (index ranges), not the size of the table. TMDBQ_ESERVICE when PostgreSQL
 * failed (*out NULL). Free *out with tmdbq_history_free. */
int tmdbq_history(struct tmdbq *h, struct tmdbq_history **out);
/* The history as one JSON object:
 *   {"now":"..","oldest_pending_age_s":12.5|null,"minutes":[{"minute":"..",
 *    "completed":N,"failed":N,"cancelled":N,"tmdb_requests":N,"tmdb_rate_limited":N},..]}
 * Caller frees with free(); NULL when out of memory. */
char *tmdbq_history_to_json(const struct tmdbq_history *x);
/* Accepts NULL. */
void tmdbq_history_free(struct tmdbq_history *x);

/* Set up and tear down libcurl's global state, which tmdbq_status and tmdbq_apply use
 * (libcurl's rule: once per program, before any other thread starts). tmdbq_global_init
 * returns TMDBQ_ESERVICE when libcurl cannot start. */
int tmdbq_global_init(void);
void tmdbq_global_cleanup(void);

/* Accessors of an operation. Strings are borrowed from op. */
const char *tmdbq_op_id(const struct tmdbq_op *op);
const char *tmdbq_op_type(const struct tmdbq_op *op);
const char *tmdbq_op_status(const struct tmdbq_op *op);
bool tmdbq_op_published(const struct tmdbq_op *op);
int tmdbq_op_retry_count(const struct tmdbq_op *op);
/* ISO 8601 UTC, e.g. "2026-11-24T06:25:27.123Z". */
const char *tmdbq_op_inserted_at(const struct tmdbq_op *op);
/* The last error, NULL when there is none. */
const char *tmdbq_op_error(const struct tmdbq_op *op);
/* TMDB's result as JSON (e.g. {"list_id":123}), NULL when there is none. */
const char *tmdbq_op_result(const struct tmdbq_op *op);
bool tmdbq_op_duplicate(const struct tmdbq_op *op);
/* The operation as one JSON object (the table's columns, result, published and, after an
 * enqueue, duplicate). Caller frees with free(); NULL when out of memory. */
char *tmdbq_op_to_json(const struct tmdbq_op *op);
/* The operation as aligned "key: value" lines for people. Caller frees with free(). */
char *tmdbq_op_to_text(const struct tmdbq_op *op);
void tmdbq_op_free(struct tmdbq_op *op);

size_t tmdbq_op_list_count(const struct tmdbq_op_list *l);
/* Borrowed from l; i < count. */
const struct tmdbq_op *tmdbq_op_list_get(const struct tmdbq_op_list *l, size_t i);
/* The list as one JSON array of operations as tmdbq_op_to_json prints them ([] when
 * empty). Caller frees with free(); NULL when out of memory. */
char *tmdbq_op_list_to_json(const struct tmdbq_op_list *l);
void tmdbq_op_list_free(struct tmdbq_op_list *l);

#ifdef __cplusplus
}
#endif

#endif
