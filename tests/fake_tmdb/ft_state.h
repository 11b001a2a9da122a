/*
 * ft_state: everything fake-tmdb remembers. Users and their credentials, lists (a chained
 * hash on the list id, items in insertion order), the injected faults and the log of TMDB
 * requests (a ring of serialized JSON records). Single-threaded: the event loop is the
 * only caller.
 */
#ifndef FT_STATE_H
#define FT_STATE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Records kept for GET /__control/requests; older ones are dropped, the count goes on. */
#define FT_MAX_RECORDS 200000

/* Largest rate_limit: the window keeps one arrival time per request it allows. */
#define FT_MAX_RATE_LIMIT 100000
#define FT_DEFAULT_RATE_WINDOW_MS 1000

struct ft_list {
    int64_t id;
    int64_t owner;
    char *name;
    char *description;
    char *language;
    int public;
    int64_t *items; /* movie ids in insertion order */
    size_t n_items;
    size_t cap_items;
    struct ft_list *next; /* hash chain */
};

/* Injected failures; see README.md. All zero means none. */
struct ft_faults {
    int64_t fail_first; /* answer the next N matching requests with fail_status */
    double fail_rate;   /* or answer this share of matching requests with it */
    int fail_status;    /* HTTP status of injected failures, default 503 */
    int fail_code;      /* TMDB status_code for them; 0 derives it from fail_status */
    uint64_t rng;       /* splitmix64 state, so fail_rate is reproducible */
    int64_t rate_limit_next; /* answer the next N matching requests 429 */
    int retry_after;         /* Retry-After of those 429s */
    int64_t latency_ms;      /* delay every TMDB response */
    int delete_quirk;        /* DELETE /3/list/{id} deletes, then answers 500/11 */
    int refuse;              /* close TMDB requests' connections without answering */
    int invalid_api_key;     /* answer every TMDB request 401/7 */
    char *path_contains;     /* restricts fail_* and rate_limit_next; NULL matches all */
    char *method;            /* same, on the method; NULL matches all */
    int64_t media_id;        /* same, on the JSON body's media_id; 0 matches all */
    /* TMDB's request ceiling: at most rate_limit accepted requests (answered with
     * anything but the window's own 429) in any rate_window_ms. 0 is off. */
    int64_t rate_limit;
    int64_t rate_window_ms;
    int64_t *rate_times; /* ring of the arrival times (monotonic ms) of the last
                            rate_limit accepted requests, oldest at rate_head */
    size_t rate_head;
    size_t rate_count;
};

struct ft_state {
    char *api_key;
    char *read_token;
    json_t *users;    /* "user id" -> {"session_id":..,"access_token":..} */
    json_t *sessions; /* session id -> user id (integer) */
    json_t *tokens;   /* v4 access token -> user id (integer) */
    struct ft_list **buckets;
    size_t n_buckets;
    size_t n_lists;
    int64_t next_list_id;
    struct ft_faults faults;
    char **records;     /* ring of FT_MAX_RECORDS serialized records, by seq */
    uint64_t n_records; /* seq of the newest record; records since reset */
    uint64_t n_limited; /* 429s sent by the rate_limit window since reset */
    int64_t start_ms;
};

/* Allocates the state; NULL on out of memory. Credentials are copied. */
struct ft_state *ft_state_new(const char *api_key, const char *read_token,
                              int64_t now_ms);
void ft_state_free(struct ft_state *st);

/* Forgets users, lists, faults and records (POST /__control/reset). */
void ft_state_reset(struct ft_state *st);
void ft_faults_clear(struct ft_faults *f);

/* The user owning a session id / v4 access token, or 0 when unknown. */
int64_t ft_user_by_session(const struct ft_state *st, const char *session_id);
int64_t ft_user_by_token(const struct ft_state *st, const char *access_token);

/* Replaces a user's credentials; NULL removes one. Returns 0 or -1 on out of memory. */
int ft_user_set(struct ft_state *st, int64_t user_id, const char *session_id,
                const char *access_token);

/* Borrowed lookups: valid until the list is deleted or the state reset. */
struct ft_list *ft_list_find(const struct ft_state *st, int64_t id);

/* Creates a list; id 0 takes the next free id. NULL on out of memory or id in use.
 * Strings are copied; description and language may be NULL. */
struct ft_list *ft_list_create(struct ft_state *st, int64_t id, int64_t owner,
                               const char *name, const char *description,
                               const char *language, int public);
void ft_list_delete(struct ft_state *st, int64_t id);

/* Item helpers. has: 1/0. add: 0, or -1 on out of memory. remove: 1 when it was there. */
int ft_list_has(const struct ft_list *l, int64_t movie);
int ft_list_add(struct ft_list *l, int64_t movie);
int ft_list_remove(struct ft_list *l, int64_t movie);
/* Replaces a string field (name, description, language); -1 on out of memory. */
int ft_list_set_string(char **field, const char *value);

/* Calls fn for every list, in no particular order. */
void ft_list_each(const struct ft_state *st, void (*fn)(const struct ft_list *, void *),
                  void *arg);

/* Appends one record; takes ownership of the serialized JSON text (may be NULL on OOM, in
 * which case the seq is still used). Returns the record's seq. */
uint64_t ft_record_add(struct ft_state *st, char *json_text);
/* Seq the next record will get. */
uint64_t ft_record_next_seq(const struct ft_state *st);
/* The record with this seq, or NULL when dropped or never stored. Borrowed. */
const char *ft_record_get(const struct ft_state *st, uint64_t seq);
/* Drops all records and restarts seq at 1. */
void ft_records_clear(struct ft_state *st);

/* A deterministic uniform double in [0, 1) from the faults' PRNG. */
double ft_faults_random(struct ft_faults *f);

/* Sets the rate_limit ceiling (0 turns it off), keeping the newest accepted arrival times
 * that still fit. Returns 0, or -1 on out of memory with the faults unchanged. */
int ft_rate_set_limit(struct ft_faults *f, int64_t limit);
/* 1 when a request arriving at now_ms is over the ceiling (then *retry_after_s gets the
 * whole seconds until the oldest accepted request leaves the window, at least 1), else 0.
 * Changes nothing: the caller counts the request with ft_rate_accept if it is served. */
int ft_rate_full(const struct ft_faults *f, int64_t now_ms, int *retry_after_s);
/* Counts a request accepted at now_ms in the window; no-op when rate_limit is off. */
void ft_rate_accept(struct ft_faults *f, int64_t now_ms);
/* Accepted requests whose arrival is within the window ending at now_ms. */
size_t ft_rate_in_window(const struct ft_faults *f, int64_t now_ms);

#endif
