/*
 * ft_state: fake-tmdb's memory. Credentials live in jansson objects (string-keyed hash
 * tables we already link); lists live in a fixed-size chained hash because deletes are
 * frequent in tests and ids are integers.
 */
#include "ft_state.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FT_BUCKETS 65536
#define FT_FIRST_LIST_ID 1000

static char *dup_or_null(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d)
        memcpy(d, s, n + 1);
    return d;
}

static void list_free(struct ft_list *l)
{
    if (!l)
        return;
    free(l->name);
    free(l->description);
    free(l->language);
    free(l->items);
    free(l);
}

void ft_faults_clear(struct ft_faults *f)
{
    free(f->path_contains);
    free(f->method);
    free(f->rate_times);
    memset(f, 0, sizeof *f);
    f->fail_status = 503;
    f->retry_after = 1;
    f->rng = 1;
    f->rate_window_ms = FT_DEFAULT_RATE_WINDOW_MS;
}

static void lists_clear(struct ft_state *st)
{
    for (size_t i = 0; i < st->n_buckets; i++) {
        struct ft_list *l = st->buckets[i];
        while (l) {
            struct ft_list *next = l->next;
            list_free(l);
            l = next;
        }
        st->buckets[i] = NULL;
    }
    st->n_lists = 0;
    st->next_list_id = FT_FIRST_LIST_ID;
}

void ft_records_clear(struct ft_state *st)
{
    if (st->records) {
        for (size_t i = 0; i < FT_MAX_RECORDS; i++) {
            free(st->records[i]);
            st->records[i] = NULL;
        }
    }
    st->n_records = 0;
}

void ft_state_reset(struct ft_state *st)
{
    json_object_clear(st->users);
    json_object_clear(st->sessions);
    json_object_clear(st->tokens);
    lists_clear(st);
    ft_faults_clear(&st->faults);
    ft_records_clear(st);
    st->n_limited = 0;
}

struct ft_state *ft_state_new(const char *api_key, const char *read_token, int64_t now_ms)
{
    struct ft_state *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->api_key = dup_or_null(api_key);
    st->read_token = dup_or_null(read_token);
    st->users = json_object();
    st->sessions = json_object();
    st->tokens = json_object();
    st->n_buckets = FT_BUCKETS;
    st->buckets = calloc(st->n_buckets, sizeof *st->buckets);
    st->records = calloc(FT_MAX_RECORDS, sizeof *st->records);
    if (!st->api_key || !st->read_token || !st->users || !st->sessions || !st->tokens ||
        !st->buckets || !st->records) {
        ft_state_free(st);
        return NULL;
    }
    st->start_ms = now_ms;
    st->next_list_id = FT_FIRST_LIST_ID;
    ft_faults_clear(&st->faults);
    return st;
}

void ft_state_free(struct ft_state *st)
{
    if (!st)
        return;
    if (st->buckets)
        lists_clear(st);
    ft_records_clear(st);
    ft_faults_clear(&st->faults);
    free(st->buckets);
    free(st->records);
    json_decref(st->users);
    json_decref(st->sessions);
    json_decref(st->tokens);
    free(st->api_key);
    free(st->read_token);
    free(st);
}

int64_t ft_user_by_session(const struct ft_state *st, const char *session_id)
{
    if (!session_id)
        return 0;
    return json_integer_value(json_object_get(st->sessions, session_id));
}

int64_t ft_user_by_token(const struct ft_state *st, const char *access_token)
{
    if (!access_token)
        return 0;
    return json_integer_value(json_object_get(st->tokens, access_token));
}

/* Removes a credential from its index and from the record of the user that held it. */
static void credential_forget(struct ft_state *st, json_t *index, const char *field,
                              const char *value)
{
    json_int_t holder = json_integer_value(json_object_get(index, value));
    if (holder) {
        char key[32];
        snprintf(key, sizeof key, "%" JSON_INTEGER_FORMAT, holder);
        json_object_del(json_object_get(st->users, key), field);
        json_object_del(index, value);
    }
}

int ft_user_set(struct ft_state *st, int64_t user_id, const char *session_id,
                const char *access_token)
{
    char key[32];
    snprintf(key, sizeof key, "%" PRId64, user_id);
    json_t *user = json_object_get(st->users, key);
    if (user) {
        const char *old = json_string_value(json_object_get(user, "session_id"));
        if (old)
            json_object_del(st->sessions, old);
        old = json_string_value(json_object_get(user, "access_token"));
        if (old)
            json_object_del(st->tokens, old);
        json_object_clear(user);
    } else {
        user = json_object();
        if (!user || json_object_set_new(st->users, key, user) != 0)
            return -1;
    }
    /* A credential moves to the newest holder, as if the old session had been revoked. */
    if (session_id) {
        credential_forget(st, st->sessions, "session_id", session_id);
        if (json_object_set_new(user, "session_id", json_string(session_id)) != 0 ||
            json_object_set_new(st->sessions, session_id, json_integer(user_id)) != 0)
            return -1;
    }
    if (access_token) {
        credential_forget(st, st->tokens, "access_token", access_token);
        if (json_object_set_new(user, "access_token", json_string(access_token)) != 0 ||
            json_object_set_new(st->tokens, access_token, json_integer(user_id)) != 0)
            return -1;
    }
    return 0;
}

static size_t bucket_of(const struct ft_state *st, int64_t id)
{
    return (size_t)((uint64_t)id * 0x9E3779B97F4A7C15ULL >> 32) % st->n_buckets;
}

struct ft_list *ft_list_find(const struct ft_state *st, int64_t id)
{
    for (struct ft_list *l = st->buckets[bucket_of(st, id)]; l; l = l->next) {
        if (l->id == id)
            return l;
    }
    return NULL;
}

struct ft_list *ft_list_create(struct ft_state *st, int64_t id, int64_t owner,
                               const char *name, const char *description,
                               const char *language, int public)
{
    if (id <= 0) {
        while (ft_list_find(st, st->next_list_id))
            st->next_list_id++;
        id = st->next_list_id;
    } else if (ft_list_find(st, id)) {
        return NULL;
    }
    struct ft_list *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->id = id;
    l->owner = owner;
    l->public = public;
    l->name = dup_or_null(name ? name : "");
    l->description = dup_or_null(description ? description : "");
    l->language = dup_or_null(language ? language : "en");
    if (!l->name || !l->description || !l->language) {
        list_free(l);
        return NULL;
    }
    size_t b = bucket_of(st, id);
    l->next = st->buckets[b];
    st->buckets[b] = l;
    st->n_lists++;
    /* Lists made by tests with explicit ids must not collide with later creates. */
    if (id >= st->next_list_id)
        st->next_list_id = id + 1;
    return l;
}

void ft_list_delete(struct ft_state *st, int64_t id)
{
    struct ft_list **pp = &st->buckets[bucket_of(st, id)];
    while (*pp) {
        if ((*pp)->id == id) {
            struct ft_list *dead = *pp;
            *pp = dead->next;
            list_free(dead);
            st->n_lists--;
            return;
        }
        pp = &(*pp)->next;
    }
}

int ft_list_has(const struct ft_list *l, int64_t movie)
{
    for (size_t i = 0; i < l->n_items; i++) {
        if (l->items[i] == movie)
            return 1;
    }
    return 0;
}

int ft_list_add(struct ft_list *l, int64_t movie)
{
    if (l->n_items == l->cap_items) {
        size_t cap = l->cap_items ? l->cap_items * 2 : 16;
        int64_t *items = realloc(l->items, cap * sizeof *items);
        if (!items)
            return -1;
        l->items = items;
        l->cap_items = cap;
    }
    l->items[l->n_items++] = movie;
    return 0;
}

int ft_list_remove(struct ft_list *l, int64_t movie)
{
    for (size_t i = 0; i < l->n_items; i++) {
        if (l->items[i] == movie) {
            /* Keep insertion order: lists are shown in the order items were added. */
            memmove(&l->items[i], &l->items[i + 1],
                    (l->n_items - i - 1) * sizeof *l->items);
            l->n_items--;
            return 1;
        }
    }
    return 0;
}

int ft_list_set_string(char **field, const char *value)
{
    char *d = dup_or_null(value);
    if (!d)
        return -1;
    free(*field);
    *field = d;
    return 0;
}

void ft_list_each(const struct ft_state *st, void (*fn)(const struct ft_list *, void *),
                  void *arg)
{
    for (size_t i = 0; i < st->n_buckets; i++) {
        for (const struct ft_list *l = st->buckets[i]; l; l = l->next)
            fn(l, arg);
    }
}

uint64_t ft_record_next_seq(const struct ft_state *st) { return st->n_records + 1; }

uint64_t ft_record_add(struct ft_state *st, char *json_text)
{
    uint64_t seq = ++st->n_records;
    size_t slot = (size_t)(seq % FT_MAX_RECORDS);
    free(st->records[slot]);
    st->records[slot] = json_text;
    return seq;
}

const char *ft_record_get(const struct ft_state *st, uint64_t seq)
{
    if (seq == 0 || seq > st->n_records || st->n_records - seq >= FT_MAX_RECORDS)
        return NULL;
    return st->records[seq % FT_MAX_RECORDS];
}

double ft_faults_random(struct ft_faults *f)
{
    /* splitmix64: tiny, fast and good enough to pick which requests fail. */
    uint64_t z = (f->rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

/*
 * The rate_limit window is a ring of the arrival times of the last rate_limit accepted
 * requests, not a pruned queue: the ceiling is reached exactly when the oldest of the
 * last N accepted requests is still inside the window, so nothing ever needs removing.
 */
int ft_rate_set_limit(struct ft_faults *f, int64_t limit)
{
    if (limit == f->rate_limit)
        return 0;
    int64_t *ring = NULL;
    size_t keep = 0;
    if (limit > 0) {
        ring = malloc((size_t)limit * sizeof *ring);
        if (!ring)
            return -1;
        keep = f->rate_count < (size_t)limit ? f->rate_count : (size_t)limit;
        for (size_t i = 0; i < keep; i++) {
            size_t from =
                (f->rate_head + f->rate_count - keep + i) % (size_t)f->rate_limit;
            ring[i] = f->rate_times[from];
        }
    }
    free(f->rate_times);
    f->rate_times = ring;
    f->rate_limit = limit;
    f->rate_head = 0;
    f->rate_count = keep;
    return 0;
}

int ft_rate_full(const struct ft_faults *f, int64_t now_ms, int *retry_after_s)
{
    if (f->rate_limit <= 0 || f->rate_count < (size_t)f->rate_limit)
        return 0;
    int64_t left_ms = f->rate_times[f->rate_head] + f->rate_window_ms - now_ms;
    if (left_ms <= 0)
        return 0;
    int64_t secs = (left_ms + 999) / 1000;
    *retry_after_s = (int)(secs < 1 ? 1 : secs);
    return 1;
}

void ft_rate_accept(struct ft_faults *f, int64_t now_ms)
{
    if (f->rate_limit <= 0)
        return;
    size_t cap = (size_t)f->rate_limit;
    if (f->rate_count < cap) {
        f->rate_times[(f->rate_head + f->rate_count) % cap] = now_ms;
        f->rate_count++;
    } else {
        /* Full: the newest time replaces the oldest. */
        f->rate_times[f->rate_head] = now_ms;
        f->rate_head = (f->rate_head + 1) % cap;
    }
}

size_t ft_rate_in_window(const struct ft_faults *f, int64_t now_ms)
{
    size_t n = 0;
    if (f->rate_limit <= 0)
        return 0;
    /* Times are in arrival order, so count back from the newest until one is too old. */
    while (n < f->rate_count) {
        size_t i = (f->rate_head + f->rate_count - 1 - n) % (size_t)f->rate_limit;
        if (now_ms - f->rate_times[i] >= f->rate_window_ms)
            break;
        n++;
    }
    return n;
}
