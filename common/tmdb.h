/*
 * tmdb: the six list operations against TMDB, and what their answers mean for tmdbq.
 *
 * One client per worker thread: one reused libcurl easy handle (keep-alive), connect and
 * total timeouts, a hard cap on the response size. The classification of every answer
 * (success, goal already holds, transient, permanent, deployment fault) happens here, in
 * one switch, so the consumer only acts on an outcome.
 */
#ifndef TMDBQ_TMDB_H
#define TMDBQ_TMDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "op.h"

struct tmdb_client;

struct tmdb_config {
    const char *base_url; /* e.g. https://api.themoviedb.org (no trailing slash needed) */
    const char *api_key;  /* v3 api_key, or NULL */
    const char *read_token; /* application read-access token (Bearer for v3), or NULL */
    int64_t connect_timeout_ms;
    int64_t timeout_ms; /* whole request */
};

/* A user's credentials, borrowed for one call. */
struct tmdb_creds {
    const char *session_id;   /* v3 writes */
    const char *access_token; /* v4 writes (update_list); may be NULL */
};

enum tmdb_outcome {
    TMDB_DONE,       /* applied: completed */
    TMDB_GOAL_HOLDS, /* TMDB says the goal already holds (already on the list, not on it,
                        list already gone): completed */
    TMDB_TRANSIENT,  /* timeout, connection error, 5xx: retry later */
    TMDB_RATE_LIMITED, /* 429 or status_code 25: TMDB's word on the rate, not on the
                          operation; wait retry_after_ms (>= 1 s), spend no retry */
    TMDB_NOT_SENT,     /* the pacer held the request back (the caller is stopping):
                          nothing was sent */
    TMDB_PERMANENT,  /* session rejected, not found, not permitted, invalid: failed now */
    TMDB_DEPLOYMENT, /* the deployment is at fault, not the operation (the application's
                        API key or read token rejected, a redirect, an answer that is not
                        TMDB's): wait, shout */
};

struct tmdb_result {
    enum tmdb_outcome outcome;
    long http_status;       /* 0 when no answer */
    int tmdb_code;          /* TMDB's status_code, 0 when none */
    int64_t retry_after_ms; /* RATE_LIMITED: Retry-After (absent or 0 is 1 s); a
                               TRANSIENT answer's Retry-After; else 0 */
    char message[300];      /* for people: "TMDB list 7 not found (status_code 34)";
                               never contains a secret */
    char *result_json;      /* on success, what to keep on the row, e.g. {"list_id":123}
                               for create_list, {"status_code":12} otherwise; owned */
    int requests;     /* HTTP requests made (2 when the delete quirk was confirmed) */
    bool credentials; /* PERMANENT because TMDB rejected the user's session or v4
                         token: new credentials (tmdbq session set) mend it */
};

/* What one HTTP request to TMDB came to, for the pacer's after. */
struct tmdb_sent {
    long http_status;       /* 0 when there was no answer (timeout, refused, cut short) */
    int64_t duration_us;    /* from sending to the end of the answer (or the failure) */
    bool limited;           /* HTTP 429 or status_code 25 */
    int64_t retry_after_ms; /* limited: the wait it asks for, >= 1000; else 0 */
};

/* A request budget and meter for the client, optional (see rate.h, metrics.h).
 * before(arg) is called before every HTTP request and may block; false means do not
 * send it (the caller is stopping): tmdb_execute then reports TMDB_NOT_SENT, or for the
 * delete quirk's confirming GET TMDB_TRANSIENT. after(arg, sent) is called after every
 * request that was sent, answered or not. */
struct tmdb_pacer {
    bool (*before)(void *arg);
    void (*after)(void *arg, const struct tmdb_sent *sent);
    void *arg;
};

/* cfg is copied. Returns ST_INVALID when there is neither api_key nor read_token. */
enum status tmdb_client_new(const struct tmdb_config *cfg, struct tmdb_client **out,
                            struct err *e);
void tmdb_client_free(struct tmdb_client *c);
/* Use p (copied; NULL removes it) for every request from now on. */
void tmdb_client_set_pacer(struct tmdb_client *c, const struct tmdb_pacer *p);

/* Perform operation `type` on list_id (ignored for create_list) with operation_data
 * data_json and the user's credentials; fill *out (clean with tmdb_result_cleanup).
 * Blocks up to the configured timeouts (twice for the delete quirk's confirming GET). */
void tmdb_execute(struct tmdb_client *c, enum op_type type, int32_t list_id,
                  const char *data_json, const struct tmdb_creds *creds,
                  struct tmdb_result *out);
void tmdb_result_cleanup(struct tmdb_result *r);

/* The classification by status alone (exposed for unit tests): what an answer with this
 * HTTP status and TMDB status_code (0 when absent) means for an operation of this type,
 * before its body is looked at (see tmdb_classify_answer: a 2xx it calls TMDB_DONE is a
 * success only with TMDB's answer in the body). */
enum tmdb_outcome tmdb_classify(enum op_type type, long http_status, int tmdb_code);

/* The classification of a whole answer (exposed for tests and fuzzing): what HTTP status
 * http_status with this body (len bytes, need not be NUL-terminated; NULL for none) means
 * for an operation of type, as tmdb_execute decides it from one answer. A 2xx is
 * TMDB_DONE only with the body TMDB documents for a success of type (a JSON object with
 * status_code 1, 12 or 13, success not false, and create_list's list_id); any other 2xx
 * is TMDB_PERMANENT when TMDB's JSON says success false, else TMDB_DEPLOYMENT (not
 * TMDB's answer: a proxy, a captive portal, a wrong TMDB_API_URL). The delete quirk's
 * confirming GET is tmdb_execute's: a 500 with status_code 11 is TMDB_TRANSIENT here. */
enum tmdb_outcome tmdb_classify_answer(enum op_type type, long http_status,
                                       const char *body, size_t len);

/* Whether such an answer rejects the user's credential (session, or for update_list the
 * v4 token) rather than the operation: what tmdb_result.credentials says. */
bool tmdb_rejects_user_credential(enum op_type type, long http_status, int tmdb_code);

#endif
