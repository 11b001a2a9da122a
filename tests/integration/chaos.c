/*
 * chaos: the chaos tests' harness (see chaos.h).
 *
 * The stream runs on a thread of its own (it only spawns `tmdbq enqueue` and reads its
 * output; everything else stays on the main thread), so a blocking restart of a server
 * does not pause the load. The ledger is computed once, at the end, from three records
 * that each survive the disruptions: the rows, the trigger's table of holds (written in
 * the transactions that change the rows) and the fake's request log.
 */
#include "chaos.h"

#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#define CHAOS_LISTS 24
#define CHAOS_USERS 4
#define CHAOS_FIRST_LIST 70001
#define CHAOS_FOREIGN_LIST 79999 /* owned by a user of no operation: writes fail, 38 */
#define CHAOS_FOREIGN_OWNER 99
#define CHAOS_PROBE_LIST 79998 /* never created: the calibration's GET is a 404 */
#define CHAOS_FIRST_MOVIE 1000000
#define CHAOS_STACK 16
#define CHAOS_MAX_PROCS 8
#define CHAOS_TICK_MS 200
#define CHAOS_KEY_LEN 160
#define CHAOS_CONSUMER_ROLE "chaos_consumer"
#define CHAOS_SHOW_MAX 8      /* operations printed per kind of violation */
#define CHAOS_AMPLIFICATION 2 /* messages ready per operation, at most */

enum chaos_event_kind { CHAOS_KILL, CHAOS_CUT, CHAOS_CRASH, CHAOS_OTHER };

/* How long before a crash of PostgreSQL a commit that did not wait may be undone: three
 * rounds of the WAL writer at its default wal_writer_delay (200 ms), and a margin. */
#define CHAOS_ASYNC_MS 1000

struct chaos_event {
    enum chaos_event_kind kind;
    char holder[128]; /* CHAOS_KILL: its --id, what its claimed_by starts with */
    long long t0, t1; /* wall-clock ms: PostgreSQL's clock_timestamp() is on this clock */
};

/* The operations' generator: distinct movies and names, so every operation has a write
 * key of its own and nothing is a duplicate. */
struct chaos_gen {
    long next;
    long added[CHAOS_LISTS][CHAOS_STACK]; /* added and not yet removed, per list */
    int nadded[CHAOS_LISTS];
};

struct ts_chaos {
    struct ts_env env;
    struct ts_fake fake;
    struct ts_chaos_opts o;
    struct ts_proc cons[CHAOS_MAX_PROCS];
    struct ts_proc reap[CHAOS_MAX_PROCS];
    char cons_env[400]; /* TMDBQ_DATABASE_URL of the consumers (their own role) */
    char dead_amqp[160];
    struct chaos_gen gen;
    struct chaos_event *events;
    size_t nevents, events_cap;
    long disruptions;
    long long probe_offset[2]; /* wall-clock ms minus the fake's t_ms */
    long long probe_err[2];    /* half the probe's round trip */
    long long t_start;         /* wall-clock ms when the disruption phase began */
    /* The stream: written by its thread only while it runs, read after the join. */
    pthread_t feeder;
    bool feeder_running;
    atomic_int stop;
    json_t *acked; /* ids that `tmdbq enqueue` reported */
    long attempted, failed_batches, unpublished;
};

static long long real_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Connect timeout (s) of the harness's own statements: a server may be restarting. */
#define CHAOS_CONNECT_S 2

/* The whole file, malloc'd and NUL-terminated ("" when it cannot be read); the caller
 * frees. Aborts when out of memory. */
static char *chaos_file_text(const char *path)
{
    FILE *f = fopen(path, "r");
    char *text = NULL, chunk[8192];
    size_t n;

    ts_appendf(&text, "%s", "");
    for (;;) {
        n = f != NULL ? fread(chunk, 1, sizeof chunk, f) : 0;
        if (n == 0)
            break;
        ts_appendf(&text, "%.*s", (int)n, chunk);
    }
    if (f != NULL)
        fclose(f);
    return text;
}

static bool chaos_rec_is(const json_t *rec, const char *method, const char *path)
{
    const char *m = ts_json_str(rec, "method"), *p = ts_json_str(rec, "path");

    return m != NULL && p != NULL && strcmp(m, method) == 0 && strcmp(p, path) == 0;
}

bool ts_chaos_long(void)
{
    const char *v = getenv("TMDBQ_CHAOS");

    return v != NULL && strcmp(v, "long") == 0;
}

bool ts_chaos_selected(const char *name)
{
    const char *v = getenv("TMDBQ_CHAOS_ONLY"), *p;
    size_t n = strlen(name), len;

    if (v == NULL || v[0] == '\0')
        return true;
    for (p = v; *p != '\0'; p += len) {
        p += strspn(p, " ,");
        len = strcspn(p, " ,");
        if (len == n && strncmp(p, name, n) == 0)
            return true;
    }
    return false;
}

int ts_chaos_servers_start(struct ts_chaos_servers *s)
{
    char sql[128];
    PGconn *admin = NULL;
    PGresult *res = NULL;
    int rc;

    rc = ts_pg_start(&s->pg);
    if (rc != 0)
        return rc;
    rc = ts_rabbit_start(&s->rb);
    if (rc != 0)
        return rc;
    setenv("TMDBQ_TEST_ADMIN_URL", s->pg.admin_url, 1);
    setenv("TMDBQ_AMQP_URL", s->rb.url, 1);
    /* The consumers connect as a role of their own: their backends are the ones a
     * backend kill terminates, not the reaper's or the stream's. */
    admin = ts_pg_connect(s->pg.admin_url, CHAOS_CONNECT_S);
    snprintf(sql, sizeof sql, "CREATE ROLE %s LOGIN SUPERUSER", CHAOS_CONSUMER_ROLE);
    res = PQstatus(admin) == CONNECTION_OK ? PQexec(admin, sql) : NULL;
    rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : 1;
    if (rc != 0)
        fprintf(stderr, "chaos: could not create the consumers' role: %s",
                PQerrorMessage(admin));
    PQclear(res);
    PQfinish(admin);
    return rc;
}

void ts_chaos_servers_destroy(struct ts_chaos_servers *s)
{
    ts_rabbit_destroy(&s->rb);
    ts_pg_destroy(&s->pg);
}

struct ts_env *ts_chaos_env(struct ts_chaos *c) { return &c->env; }

const struct ts_fake *ts_chaos_fake(const struct ts_chaos *c) { return &c->fake; }

/* ---- the load ---- */

/* A 64-bit mix (splitmix64's finaliser): the operation mix, the same for every run. */
static unsigned long long chaos_mix(unsigned long long x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* Append the next operation's JSON line to *buf. Of every 100: 3 adds to the list of
 * another user (they fail for good), 2 creates, 2 updates (barriers of their list),
 * 13 removes of a movie added earlier on the same list (ordered after that add), and
 * the rest adds. create_only: a create, which belongs to no list, so no consumer's
 * hand-on publishes it when it was enqueued unpublished: only the reapers' relay can. */
static void chaos_gen_line(struct chaos_gen *g, const char *tag, bool create_only,
                           char **buf)
{
    long i = g->next++;
    int li = (int)(i % CHAOS_LISTS), k;
    long list = CHAOS_FIRST_LIST + li, user = 1 + li % CHAOS_USERS;
    long movie = CHAOS_FIRST_MOVIE + i;
    unsigned long long h = chaos_mix((unsigned long long)i);
    unsigned pick = create_only ? 3 : (unsigned)(h % 100);

    if (pick < 3) {
        ts_appendf(buf,
                   "{\"type\":\"add_movie\",\"user\":%ld,\"list\":%d,\"movie\":%ld}\n",
                   user, CHAOS_FOREIGN_LIST, movie);
    } else if (pick < 5) {
        ts_appendf(buf,
                   "{\"type\":\"create_list\",\"user\":%ld,\"name\":\"chaos %s %ld\","
                   "\"description\":\"\"}\n",
                   user, tag, i);
    } else if (pick < 7) {
        ts_appendf(buf,
                   "{\"type\":\"update_list\",\"user\":%ld,\"list\":%ld,"
                   "\"name\":\"list %ld v%ld\"}\n",
                   user, list, list, i);
    } else if (pick < 20 && g->nadded[li] > 0) {
        k = (int)((h >> 8) % (unsigned long long)g->nadded[li]);
        movie = g->added[li][k];
        g->added[li][k] = g->added[li][--g->nadded[li]];
        ts_appendf(
            buf, "{\"type\":\"remove_movie\",\"user\":%ld,\"list\":%ld,\"movie\":%ld}\n",
            user, list, movie);
    } else {
        if (g->nadded[li] == CHAOS_STACK) {
            memmove(&g->added[li][0], &g->added[li][1],
                    (CHAOS_STACK - 1) * sizeof g->added[li][0]);
            g->nadded[li]--;
        }
        g->added[li][g->nadded[li]++] = movie;
        ts_appendf(buf,
                   "{\"type\":\"add_movie\",\"user\":%ld,\"list\":%ld,\"movie\":%ld}\n",
                   user, list, movie);
    }
}

/* The ids of the lines `tmdbq enqueue --file - --json` accepted, appended to acked;
 * returns how many of them the broker did not take (published false). */
static long chaos_collect_ids(const char *out, json_t *acked)
{
    json_t *line, *op;
    json_error_t jerr;
    const char *p = out, *nl, *id;
    size_t len;
    long unpublished = 0;

    while (*p != '\0') {
        nl = strchr(p, '\n');
        len = nl != NULL ? (size_t)(nl - p) : strlen(p);
        line = len > 0 ? json_loadb(p, len, 0, &jerr) : NULL;
        op = json_object_get(line, "operation");
        id = ts_json_str(op, "id");
        if (ts_json_bool(line, "ok") == 1 && id != NULL) {
            json_array_append_new(acked, json_string(id));
            unpublished += ts_json_bool(op, "published") == 0 ? 1 : 0;
        }
        json_decref(line);
        p += len;
        if (*p == '\n')
            p++;
    }
    return unpublished;
}

static void *chaos_feeder(void *arg)
{
    struct ts_chaos *c = arg;
    long per_tick = c->o.stream_per_s * CHAOS_TICK_MS / 1000, batch = 0, k;
    const char *extra[3] = {"TMDBQ_CONNECT_TIMEOUT=2s", NULL, NULL};
    struct ts_result r;
    long long next = ts_now_ms(), now;
    char *lines;
    bool dead;

    if (per_tick < 1)
        per_tick = 1;
    while (!atomic_load(&c->stop)) {
        lines = NULL;
        batch++;
        dead = c->o.unpublished_every > 0 && batch % c->o.unpublished_every == 0;
        for (k = 0; k < per_tick; k++)
            chaos_gen_line(&c->gen, c->env.name, dead, &lines);
        extra[1] = dead ? c->dead_amqp : NULL;
        ts_run(&c->env, extra, lines, &r, "enqueue", "--file", "-", "--json",
               (const char *)NULL);
        c->unpublished += chaos_collect_ids(r.out, c->acked);
        c->attempted += per_tick;
        if (r.status != 0)
            c->failed_batches++;
        ts_result_free(&r);
        free(lines);
        next += CHAOS_TICK_MS;
        now = ts_now_ms();
        if (next > now)
            ts_sleep_ms((long)(next - now));
        else
            next = now; /* behind (a restart): no burst to catch up */
    }
    return NULL;
}

/* ---- events ---- */

static void chaos_note(struct ts_chaos *c, enum chaos_event_kind kind, const char *holder,
                       long long t0, long long t1)
{
    struct chaos_event *ev;

    c->disruptions++;
    if (c->nevents == c->events_cap) {
        size_t cap = c->events_cap ? c->events_cap * 2 : 64;
        struct chaos_event *ne = realloc(c->events, cap * sizeof *ne);

        if (ne == NULL) {
            fprintf(stderr, "chaos: out of memory\n");
            abort();
        }
        c->events = ne;
        c->events_cap = cap;
    }
    ev = &c->events[c->nevents++];
    memset(ev, 0, sizeof *ev);
    ev->kind = kind;
    snprintf(ev->holder, sizeof ev->holder, "%s", holder != NULL ? holder : "");
    ev->t0 = t0;
    ev->t1 = t1;
}

/* The consumers' and reapers' log level: info, or TMDBQ_CHAOS_LOG (debug, for a
 * post-mortem with TMDBQ_TEST_KEEP). */
static const char *chaos_log_level(void)
{
    const char *v = getenv("TMDBQ_CHAOS_LOG");

    if (v != NULL && strcmp(v, "debug") == 0)
        return "TMDBQ_LOG_LEVEL=debug";
    return "TMDBQ_LOG_LEVEL=info";
}

static int chaos_start_consumer(struct ts_chaos *c, int i)
{
    char conc[16];
    const char *args[] = {"--concurrency", conc, "--prefetch", "4", NULL};
    const char *extra[] = {c->cons_env, chaos_log_level(), NULL};

    snprintf(conc, sizeof conc, "%d", c->o.concurrency);
    return ts_consumer_start(&c->env, &c->fake, extra, args, &c->cons[i]);
}

static int chaos_start_reaper(struct ts_chaos *c, int i)
{
    const char *extra[] = {chaos_log_level(), NULL};

    return ts_reaper_start(&c->env, extra, NULL, &c->reap[i]);
}

int ts_chaos_kill_consumer(struct ts_chaos *c, int i)
{
    char holder[128];
    long long t;
    int st;

    if (i < 0 || i >= c->o.consumers || c->cons[i].pid <= 0)
        return -1;
    /* ts_consumer_start names it --id <test>-<label> (labels are never reused); its
     * workers claim as <id>:<pid>:<n>. */
    snprintf(holder, sizeof holder, "%s-%s", c->env.name, c->cons[i].label);
    t = real_ms();
    ts_proc_signal(&c->cons[i], SIGKILL);
    chaos_note(c, CHAOS_KILL, holder, t, t);
    st = ts_proc_wait(&c->cons[i], 5000);
    if (st != 128 + SIGKILL) {
        fprintf(stderr, "chaos: %s: after SIGKILL, status %d\n", holder, st);
        return -1;
    }
    return chaos_start_consumer(c, i);
}

int ts_chaos_kill_reaper(struct ts_chaos *c)
{
    char sql[160];
    long long t;
    int i, slot = -1;

    for (i = 0; i < c->o.reapers && slot < 0; i++) {
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM tmdbq_reapers WHERE pid = %ld AND is_leader",
                 c->reap[i].pid);
        if (c->reap[i].pid > 0 && ts_sql_long_quiet(&c->env, sql) == 1)
            slot = i;
    }
    if (slot < 0)
        slot = 0;
    if (c->reap[slot].pid <= 0)
        return -1;
    t = real_ms();
    ts_proc_signal(&c->reap[slot], SIGKILL);
    chaos_note(c, CHAOS_OTHER, NULL, t, t);
    if (ts_proc_wait(&c->reap[slot], 5000) != 128 + SIGKILL)
        return -1;
    return chaos_start_reaper(c, slot) == 0 ? slot : -1;
}

long ts_chaos_kill_backends(struct ts_chaos *c)
{
    long long t0 = real_ms();
    long n = ts_sql_long_quiet(&c->env,
                               "SELECT count(pg_terminate_backend(pid)) FROM "
                               "pg_stat_activity WHERE usename = '" CHAOS_CONSUMER_ROLE
                               "' AND datname = current_database()");

    chaos_note(c, CHAOS_CUT, NULL, t0, real_ms());
    return n;
}

void ts_chaos_cut_begin(struct ts_chaos *c)
{
    chaos_note(c, CHAOS_CUT, NULL, real_ms(), -1);
}

void ts_chaos_crash(struct ts_chaos *c)
{
    long long t = real_ms();

    chaos_note(c, CHAOS_CRASH, NULL, t, t);
    c->disruptions--; /* counted with its cut */
}

void ts_chaos_cut_end(struct ts_chaos *c)
{
    size_t i;

    for (i = c->nevents; i > 0; i--) {
        if (c->events[i - 1].kind == CHAOS_CUT && c->events[i - 1].t1 < 0) {
            c->events[i - 1].t1 = real_ms();
            return;
        }
    }
}

int ts_chaos_faults(struct ts_chaos *c, const char *json)
{
    c->disruptions++;
    return ts_fake_faults(&c->fake, json);
}

/* The fake's t_ms against our wall clock: a GET of a list that does not exist, timed
 * from here, then found in the fake's log. */
static int chaos_calibrate(struct ts_chaos *c, int which)
{
    char path[160], want[64];
    json_t *reqs = NULL, *rec;
    long long a, b, t = -1;
    size_t i;
    int st;

    snprintf(path, sizeof path, "/3/list/%d?api_key=%s", CHAOS_PROBE_LIST,
             c->fake.api_key);
    snprintf(want, sizeof want, "/3/list/%d", CHAOS_PROBE_LIST);
    a = real_ms();
    st = ts_fake_call(&c->fake, "GET", path, NULL, NULL);
    b = real_ms();
    reqs = ts_fake_requests(&c->fake);
    json_array_foreach(reqs, i, rec)
    {
        if (chaos_rec_is(rec, "GET", want))
            t = ts_json_int(rec, "t_ms", -1);
    }
    json_decref(reqs);
    if (st != 404 || t < 0) {
        fprintf(stderr, "chaos: the fake's clock could not be calibrated\n");
        return -1;
    }
    c->probe_offset[which] = (a + b) / 2 - t;
    c->probe_err[which] = (b - a) / 2 + 1;
    return 0;
}

/* Every change of status or holder, in the transaction that makes it: the holds. */
static const char chaos_trigger_sql[] =
    "CREATE TABLE chaos_transitions ("
    " n BIGSERIAL PRIMARY KEY, op_id UUID NOT NULL,"
    " at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT clock_timestamp(),"
    " old_status TEXT, new_status TEXT, old_holder TEXT, new_holder TEXT,"
    " error_message TEXT);"
    "CREATE FUNCTION chaos_note() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    " INSERT INTO chaos_transitions (op_id, old_status, new_status, old_holder,"
    " new_holder, error_message) VALUES (NEW.id, OLD.status::text, NEW.status::text,"
    " OLD.claimed_by, NEW.claimed_by, left(NEW.error_message, 200));"
    " RETURN NULL; END $$;"
    "CREATE TRIGGER chaos_note AFTER UPDATE ON queued_list_operations FOR EACH ROW"
    " WHEN (OLD.status IS DISTINCT FROM NEW.status"
    " OR OLD.claimed_by IS DISTINCT FROM NEW.claimed_by)"
    " EXECUTE FUNCTION chaos_note()";

struct ts_chaos *ts_chaos_begin(struct ts_chaos_servers *s, const char *name,
                                const struct ts_chaos_opts *o)
{
    static const long none[] = {0};
    struct ts_chaos *c = calloc(1, sizeof *c);
    char sess[32], tok[32], faults[64], *lines = NULL;
    json_t *ops = NULL, *op;
    long n, i;
    size_t k;
    int rc;

    if (c == NULL)
        return NULL;
    c->o = *o;
    if (c->o.consumers < 1 || c->o.consumers > CHAOS_MAX_PROCS || c->o.reapers < 0 ||
        c->o.reapers > CHAOS_MAX_PROCS || c->o.concurrency < 1) {
        fprintf(stderr, "chaos: bad options for %s\n", name);
        free(c);
        return NULL;
    }
    for (i = 0; i < CHAOS_MAX_PROCS; i++) {
        c->cons[i].pid = c->reap[i].pid = -1;
        c->cons[i].status = c->reap[i].status = -1;
    }
    c->acked = json_array();
    atomic_init(&c->stop, 0);
    rc = ts_setup(&c->env, name);
    if (rc != 0)
        goto fail;
    ts_set_policy(&c->env, 10, 100, 1000);
    snprintf(c->cons_env, sizeof c->cons_env,
             "TMDBQ_DATABASE_URL=postgresql://%s@127.0.0.1:%d/%s", CHAOS_CONSUMER_ROLE,
             s->pg.port, c->env.db_name);
    if (ts_dead_amqp_env(c->dead_amqp, sizeof c->dead_amqp) != 0 ||
        ts_sql_exec(&c->env, chaos_trigger_sql) != 0 ||
        ts_fake_start(&c->env, &c->fake, NULL, NULL) != 0)
        goto fail;
    for (i = 1; i <= CHAOS_USERS; i++) {
        snprintf(sess, sizeof sess, "sess-chaos-%ld", i);
        snprintf(tok, sizeof tok, "tok-chaos-%ld", i);
        if (ts_user(&c->env, &c->fake, i, sess, tok) != 0)
            goto fail;
    }
    for (i = 0; i < CHAOS_LISTS; i++) {
        if (ts_fake_list(&c->fake, CHAOS_FIRST_LIST + i, 1 + i % CHAOS_USERS, none, 0) !=
            0)
            goto fail;
    }
    if (ts_fake_list(&c->fake, CHAOS_FOREIGN_LIST, CHAOS_FOREIGN_OWNER, none, 0) != 0 ||
        chaos_calibrate(c, 0) != 0)
        goto fail;
    snprintf(faults, sizeof faults, "{\"latency_ms\":%d}", c->o.latency_ms);
    if (ts_fake_faults(&c->fake, faults) != 0)
        goto fail;
    for (i = 0; i < c->o.backlog; i++)
        chaos_gen_line(&c->gen, c->env.name, false, &lines);
    if (c->o.backlog > 0) {
        n = ts_enqueue_lines(&c->env, lines, &ops);
        if (n != c->o.backlog)
            goto fail;
        json_array_foreach(ops, k, op)
        {
            const char *id = ts_json_str(op, "id");

            json_array_append_new(c->acked, json_string(id != NULL ? id : ""));
            c->unpublished += ts_json_bool(op, "published") == 0 ? 1 : 0;
        }
    }
    for (i = 0; i < c->o.consumers; i++) {
        if (chaos_start_consumer(c, (int)i) != 0)
            goto fail;
    }
    for (i = 0; i < c->o.reapers; i++) {
        if (chaos_start_reaper(c, (int)i) != 0)
            goto fail;
    }
    c->t_start = real_ms();
    if (pthread_create(&c->feeder, NULL, chaos_feeder, c) != 0) {
        fprintf(stderr, "chaos: could not start the stream\n");
        goto fail;
    }
    c->feeder_running = true;
    json_decref(ops);
    free(lines);
    return c;
fail:
    fprintf(stderr, "chaos: scenario %s could not be set up\n", name);
    json_decref(ops);
    free(lines);
    ts_teardown(&c->env);
    json_decref(c->acked);
    free(c);
    return NULL;
}

/* ---- the ledger ---- */

struct chaos_write {
    char key[CHAOS_KEY_LEN];
    long seq;
    int status;
    long long t; /* wall-clock ms */
};

enum chaos_end { END_OPEN, END_OWN, END_TAKEN };

struct chaos_hold {
    char holder[128];
    long long t0, t1; /* t1: LLONG_MAX while open */
    enum chaos_end end;
    char end_status[16];
    char end_error[208];
};

struct chaos_op {
    char id[40];
    char type[16];
    long list; /* 0 for create_list */
    long movie;
    char name[128];
    char status[16];
    char key[CHAOS_KEY_LEN];
    bool acked; /* `tmdbq enqueue` reported it (a failed enqueue may still commit) */
    struct chaos_hold *holds;
    size_t nholds, holds_cap;
    size_t w0, nw; /* its writes: a range of the sorted writes */
};

struct chaos_list {
    long id;
    char name[128];
    long *items;
    size_t nitems;
};

struct chaos_ledger {
    struct chaos_op *ops;
    size_t nops;
    struct chaos_op **by_id, **by_key;
    struct chaos_write *w;
    size_t nw;
    struct chaos_list *lists;
    size_t nlists;
    long long slack; /* ms of doubt placing a write in a hold */
    long requests, http_429, http_5xx;
    long orphans;  /* writes of no operation */
    long dup_keys; /* operations sharing a write key: the load is broken */
};

static int chaos_op_id_cmp(const void *a, const void *b)
{
    return strcmp((*(struct chaos_op *const *)a)->id, (*(struct chaos_op *const *)b)->id);
}

static int chaos_op_key_cmp(const void *a, const void *b)
{
    return strcmp((*(struct chaos_op *const *)a)->key,
                  (*(struct chaos_op *const *)b)->key);
}

static int chaos_write_cmp(const void *a, const void *b)
{
    const struct chaos_write *x = a, *y = b;
    int c = strcmp(x->key, y->key);

    return c != 0 ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

static struct chaos_op *chaos_find_id(const struct chaos_ledger *l, const char *id)
{
    struct chaos_op probe, *pp = &probe, **hit;

    snprintf(probe.id, sizeof probe.id, "%s", id);
    hit = bsearch(&pp, l->by_id, l->nops, sizeof *l->by_id, chaos_op_id_cmp);
    return hit != NULL ? *hit : NULL;
}

static struct chaos_op *chaos_find_key(const struct chaos_ledger *l, const char *key)
{
    struct chaos_op probe, *pp = &probe, **hit;

    snprintf(probe.key, sizeof probe.key, "%s", key);
    hit = bsearch(&pp, l->by_key, l->nops, sizeof *l->by_key, chaos_op_key_cmp);
    return hit != NULL ? *hit : NULL;
}

/* The write key of an operation, as chaos_request_key gives it for its request. */
static void chaos_op_key(struct chaos_op *op)
{
    if (strcmp(op->type, "add_movie") == 0)
        snprintf(op->key, sizeof op->key, "POST /3/list/%ld/add_item %ld", op->list,
                 op->movie);
    else if (strcmp(op->type, "remove_movie") == 0)
        snprintf(op->key, sizeof op->key, "POST /3/list/%ld/remove_item %ld", op->list,
                 op->movie);
    else if (strcmp(op->type, "create_list") == 0)
        snprintf(op->key, sizeof op->key, "POST /3/list name=%s", op->name);
    else if (strcmp(op->type, "update_list") == 0)
        snprintf(op->key, sizeof op->key, "PUT /4/list/%ld name=%s", op->list, op->name);
    else
        snprintf(op->key, sizeof op->key, "%s %ld", op->type, op->list);
}

/* ts_fake_request_key, with the name of an update (one list has many updates). */
static void chaos_request_key(const json_t *rec, char *key, size_t n)
{
    const char *m = ts_json_str(rec, "method"), *name;
    size_t len;

    ts_fake_request_key(rec, key, n);
    if (m != NULL && strcmp(m, "PUT") == 0) {
        name = ts_json_str(json_object_get(rec, "body"), "name");
        len = strlen(key);
        snprintf(key + len, n - len, " name=%s", name != NULL ? name : "");
    }
}

static void chaos_ledger_free(struct chaos_ledger *l)
{
    size_t i;

    for (i = 0; i < l->nops; i++)
        free(l->ops[i].holds);
    for (i = 0; i < l->nlists; i++)
        free(l->lists[i].items);
    free(l->ops);
    free(l->by_id);
    free(l->by_key);
    free(l->w);
    free(l->lists);
    memset(l, 0, sizeof *l);
}

static void *chaos_calloc(size_t n, size_t size)
{
    void *p = calloc(n > 0 ? n : 1, size);

    if (p == NULL) {
        fprintf(stderr, "chaos: out of memory\n");
        abort();
    }
    return p;
}

static void chaos_add_hold(struct chaos_op *op, const char *holder, long long t)
{
    struct chaos_hold *h;

    if (op->nholds == op->holds_cap) {
        op->holds_cap = op->holds_cap ? op->holds_cap * 2 : 4;
        op->holds = realloc(op->holds, op->holds_cap * sizeof *op->holds);
        if (op->holds == NULL) {
            fprintf(stderr, "chaos: out of memory\n");
            abort();
        }
    }
    h = &op->holds[op->nholds++];
    memset(h, 0, sizeof *h);
    snprintf(h->holder, sizeof h->holder, "%s", holder);
    h->t0 = t;
    h->t1 = LLONG_MAX;
    h->end = END_OPEN;
}

/* Rows, holds (from the trigger's table), the fake's writes and lists. 0 ok. */
static int chaos_ledger_load(struct ts_chaos *c, struct chaos_ledger *l)
{
    PGconn *conn = NULL;
    PGresult *res = NULL;
    json_t *reqs = NULL, *data, *rec, *body = NULL, *arr, *v;
    json_error_t jerr;
    char *text = NULL;
    const char *name;
    long long offset;
    size_t i, j, k;
    int rc = -1;

    res = ts_sql_query(
        &c->env,
        "SELECT id, operation_type, coalesce(tmdb_list_id, 0), operation_data::text,"
        " status FROM queued_list_operations ORDER BY seq",
        CHAOS_CONNECT_S, &conn);
    if (res == NULL)
        goto out;
    l->nops = (size_t)PQntuples(res);
    l->ops = chaos_calloc(l->nops, sizeof *l->ops);
    l->by_id = chaos_calloc(l->nops, sizeof *l->by_id);
    l->by_key = chaos_calloc(l->nops, sizeof *l->by_key);
    for (i = 0; i < l->nops; i++) {
        struct chaos_op *op = &l->ops[i];

        snprintf(op->id, sizeof op->id, "%s", PQgetvalue(res, (int)i, 0));
        snprintf(op->type, sizeof op->type, "%s", PQgetvalue(res, (int)i, 1));
        op->list = strtol(PQgetvalue(res, (int)i, 2), NULL, 10);
        data = json_loads(PQgetvalue(res, (int)i, 3), 0, &jerr);
        op->movie = (long)ts_json_int(data, "movie_id", 0);
        name = ts_json_str(data, "name");
        snprintf(op->name, sizeof op->name, "%s", name != NULL ? name : "");
        json_decref(data);
        snprintf(op->status, sizeof op->status, "%s", PQgetvalue(res, (int)i, 4));
        chaos_op_key(op);
        l->by_id[i] = l->by_key[i] = op;
    }
    PQclear(res);
    PQfinish(conn);
    res = NULL;
    conn = NULL;
    qsort(l->by_id, l->nops, sizeof *l->by_id, chaos_op_id_cmp);
    qsort(l->by_key, l->nops, sizeof *l->by_key, chaos_op_key_cmp);
    for (i = 1; i < l->nops; i++) {
        if (strcmp(l->by_key[i - 1]->key, l->by_key[i]->key) == 0 && l->dup_keys++ < 3)
            fprintf(stderr, "chaos %s: two operations write \"%s\"\n", c->env.name,
                    l->by_key[i]->key);
    }

    /* The holds: a claim opens one (status becomes processing, or the holder changes
     * while processing); the next change closes it, by the holder itself or by another
     * (a consumer's takeover, the reaper's rescue). */
    res = ts_sql_query(&c->env,
                       "SELECT op_id, (extract(epoch FROM at) * 1000)::bigint,"
                       " coalesce(old_status, ''), coalesce(new_status, ''),"
                       " coalesce(old_holder, ''), coalesce(new_holder, ''),"
                       " coalesce(error_message, '') FROM chaos_transitions ORDER BY n",
                       CHAOS_CONNECT_S, &conn);
    if (res == NULL)
        goto out;
    for (i = 0; i < (size_t)PQntuples(res); i++) {
        struct chaos_op *op = chaos_find_id(l, PQgetvalue(res, (int)i, 0));
        long long at = strtoll(PQgetvalue(res, (int)i, 1), NULL, 10);
        const char *old_st = PQgetvalue(res, (int)i, 2),
                   *new_st = PQgetvalue(res, (int)i, 3);
        const char *new_h = PQgetvalue(res, (int)i, 5);
        struct chaos_hold *h;

        if (op == NULL)
            continue;
        h = op->nholds > 0 ? &op->holds[op->nholds - 1] : NULL;
        if (h != NULL && h->end == END_OPEN && strcmp(old_st, "processing") == 0) {
            h->t1 = at;
            h->end = strcmp(new_h, h->holder) == 0 ? END_OWN : END_TAKEN;
            snprintf(h->end_status, sizeof h->end_status, "%s", new_st);
            snprintf(h->end_error, sizeof h->end_error, "%s", PQgetvalue(res, (int)i, 6));
        }
        if (strcmp(new_st, "processing") == 0)
            chaos_add_hold(op, new_h, at);
    }
    PQclear(res);
    PQfinish(conn);
    res = NULL;
    conn = NULL;

    /* The writes, on our clock (the second probe, taken by ts_chaos_finish, says how
     * far the two clocks drifted apart meanwhile). */
    offset = c->probe_offset[0];
    l->slack = (c->probe_err[0] > c->probe_err[1] ? c->probe_err[0] : c->probe_err[1]) +
               llabs(c->probe_offset[1] - c->probe_offset[0]) + 20;
    reqs = ts_fake_requests(&c->fake);
    if (reqs == NULL)
        goto out;
    l->w = chaos_calloc(json_array_size(reqs), sizeof *l->w);
    json_array_foreach(reqs, i, rec)
    {
        struct chaos_write *w = &l->w[l->nw];
        long long st = ts_json_int(rec, "status", 0);

        l->requests++;
        l->http_429 += st == 429 ? 1 : 0;
        l->http_5xx += st >= 500 ? 1 : 0;
        chaos_request_key(rec, w->key, sizeof w->key);
        if (w->key[0] == '\0')
            continue;
        w->seq = (long)ts_json_int(rec, "seq", 0);
        w->status = (int)ts_json_int(rec, "status", 0);
        w->t = ts_json_int(rec, "t_ms", 0) + offset;
        l->nw++;
    }
    qsort(l->w, l->nw, sizeof *l->w, chaos_write_cmp);
    for (i = 0; i < l->nw; i = j) {
        struct chaos_op *op = chaos_find_key(l, l->w[i].key);

        for (j = i; j < l->nw && strcmp(l->w[j].key, l->w[i].key) == 0; j++)
            ;
        if (op != NULL) {
            op->w0 = i;
            op->nw = j - i;
        } else {
            l->orphans += (long)(j - i);
            fprintf(stderr, "chaos %s: TMDB got %zu write(s) \"%s\" of no operation\n",
                    c->env.name, j - i, l->w[i].key);
        }
    }

    /* The fake's lists as they are now. */
    if (ts_fake_call(&c->fake, "GET", "/__control/lists", NULL, &text) != 200)
        goto out;
    body = ts_json_parse(text);
    arr = json_object_get(body, "lists");
    if (!json_is_array(arr))
        goto out;
    l->lists = chaos_calloc(json_array_size(arr), sizeof *l->lists);
    json_array_foreach(arr, i, rec)
    {
        struct chaos_list *li = &l->lists[l->nlists++];
        json_t *items = json_object_get(rec, "items");

        li->id = (long)ts_json_int(rec, "id", 0);
        snprintf(li->name, sizeof li->name, "%s",
                 ts_json_str(rec, "name") ? ts_json_str(rec, "name") : "");
        li->items = chaos_calloc(json_array_size(items), sizeof *li->items);
        json_array_foreach(items, k, v)
        {
            li->items[li->nitems++] = (long)json_integer_value(v);
        }
    }
    rc = 0;
out:
    PQclear(res);
    PQfinish(conn);
    json_decref(reqs);
    json_decref(body);
    free(text);
    return rc;
}

static const struct chaos_list *chaos_list_get(const struct chaos_ledger *l, long id)
{
    size_t i;

    for (i = 0; i < l->nlists; i++) {
        if (l->lists[i].id == id)
            return &l->lists[i];
    }
    return NULL;
}

static bool chaos_list_has(const struct chaos_list *li, long movie)
{
    size_t i;

    for (i = 0; li != NULL && i < li->nitems; i++) {
        if (li->items[i] == movie)
            return true;
    }
    return false;
}

static long chaos_lists_named(const struct chaos_ledger *l, const char *name)
{
    long n = 0;
    size_t i;

    for (i = 0; i < l->nlists; i++)
        n += strcmp(l->lists[i].name, name) == 0 ? 1 : 0;
    return n;
}

/* The hold of op during which a write reached the fake at t; NULL when none. */
static const struct chaos_hold *chaos_hold_at(const struct chaos_op *op, long long t,
                                              long long slack)
{
    const struct chaos_hold *near = NULL;
    size_t i;

    for (i = 0; i < op->nholds; i++) {
        const struct chaos_hold *h = &op->holds[i];

        if (t >= h->t0 && t <= h->t1)
            return h;
        if (t >= h->t0 - slack && (h->t1 == LLONG_MAX || t <= h->t1 + slack))
            near = h;
    }
    return near;
}

/* Whether the holder's process was SIGKILLed during the hold. */
static bool chaos_killed(const struct ts_chaos *c, const struct chaos_hold *h,
                         long long slack)
{
    size_t i, n;

    for (i = 0; i < c->nevents; i++) {
        const struct chaos_event *ev = &c->events[i];

        n = strlen(ev->holder);
        if (ev->kind == CHAOS_KILL && n > 0 && strncmp(ev->holder, h->holder, n) == 0 &&
            h->holder[n] == ':' && ev->t0 >= h->t0 - slack && ev->t0 <= h->t1 + slack)
            return true;
    }
    return false;
}

/* Whether a cut of every connection overlapped [t0, t1]. */
static bool chaos_cut(const struct ts_chaos *c, const struct chaos_hold *h,
                      long long slack)
{
    size_t i;

    for (i = 0; i < c->nevents; i++) {
        const struct chaos_event *ev = &c->events[i];
        long long e1 = ev->t1 < 0 ? LLONG_MAX : ev->t1;

        if (ev->kind == CHAOS_CUT && ev->t0 <= h->t1 + slack && e1 >= h->t0 - slack)
            return true;
    }
    return false;
}

/* Whether PostgreSQL crashed within CHAOS_ASYNC_MS after t (see ts_chaos_crash). */
static bool chaos_crash_after(const struct ts_chaos *c, long long t, long long slack)
{
    size_t i;

    for (i = 0; i < c->nevents; i++) {
        const struct chaos_event *ev = &c->events[i];

        if (ev->kind == CHAOS_CRASH && ev->t0 >= t - slack &&
            ev->t0 <= t + CHAOS_ASYNC_MS + slack)
            return true;
    }
    return false;
}

/* One operation and why it breaks the ledger: its writes (seq:status@ms after the
 * scenario began) and holds (holder from..to how it ended). */
static void chaos_show(const struct ts_chaos *c, const struct chaos_ledger *l,
                       const struct chaos_op *op, const char *why, long *shown)
{
    size_t i;

    if ((*shown)++ >= CHAOS_SHOW_MAX)
        return;
    fprintf(stderr, "chaos %s: %s: op=%s %s \"%s\" status=%s\n", c->env.name, why,
            op != NULL ? op->id : "?", op != NULL ? op->type : "?",
            op != NULL ? op->key : "?", op != NULL ? op->status : "?");
    if (op == NULL)
        return;
    for (i = 0; i < op->nw; i++) {
        const struct chaos_write *w = &l->w[op->w0 + i];

        fprintf(stderr, "    write seq=%ld HTTP %d at +%lld ms\n", w->seq, w->status,
                w->t - c->t_start);
    }
    for (i = 0; i < op->nholds; i++) {
        const struct chaos_hold *h = &op->holds[i];

        fprintf(stderr, "    hold by %s from +%lld to +%lld ms: %s%s%s%s\n", h->holder,
                h->t0 - c->t_start, h->t1 == LLONG_MAX ? -1LL : h->t1 - c->t_start,
                h->end == END_OPEN  ? "open"
                : h->end == END_OWN ? "finished by its holder as "
                                    : "taken over, then ",
                h->end_status, h->end_error[0] != '\0' ? ": " : "", h->end_error);
    }
}

/* Whether every write of a (enqueued first) reached the fake before every write of b. */
static bool chaos_before(const struct chaos_ledger *l, const struct chaos_op *a,
                         const struct chaos_op *b)
{
    return a->nw == 0 || b->nw == 0 || l->w[a->w0 + a->nw - 1].seq < l->w[b->w0].seq;
}

/* The pairs that conflict: an update and anything else of its list (it is a barrier),
 * a remove and the add of the same movie before it. Returns the violations, shown. */
static long chaos_check_order(const struct ts_chaos *c, const struct chaos_ledger *l)
{
    char key[CHAOS_KEY_LEN];
    long bad = 0, shown = 0;
    size_t i, j;

    for (i = 0; i < l->nops; i++) {
        const struct chaos_op *u = &l->ops[i], *a;

        if (strcmp(u->type, "update_list") == 0) {
            /* l->ops is in enqueue (seq) order. */
            for (j = 0; j < l->nops; j++) {
                const struct chaos_op *x = &l->ops[j];

                if (j == i || x->list != u->list)
                    continue;
                if (j < i ? chaos_before(l, x, u) : chaos_before(l, u, x))
                    continue;
                bad++;
                chaos_show(c, l, j < i ? x : u, "out of order with", &shown);
                chaos_show(c, l, j < i ? u : x, "... this later operation", &shown);
            }
        } else if (strcmp(u->type, "remove_movie") == 0) {
            snprintf(key, sizeof key, "POST /3/list/%ld/add_item %ld", u->list, u->movie);
            a = chaos_find_key(l, key);
            if (a != NULL && a < u && !chaos_before(l, a, u)) {
                bad++;
                chaos_show(c, l, a, "out of order with", &shown);
                chaos_show(c, l, u, "... this later operation", &shown);
            }
        }
    }
    return bad;
}

/* Apply the ledger's rules; fills the counts of row. */
static void chaos_check(struct ts_chaos *c, struct chaos_ledger *l,
                        struct ts_chaos_row *row)
{
    const struct chaos_op **last_update = chaos_calloc(CHAOS_LISTS, sizeof *last_update);
    long shown_lost = 0, shown_mis = 0, shown_rep = 0, shown_out = 0, expected;
    char key[CHAOS_KEY_LEN];
    const char *id;
    size_t i, j;
    json_t *v;

    json_array_foreach(c->acked, i, v)
    {
        struct chaos_op *op;

        id = json_string_value(v);
        op = id != NULL ? chaos_find_id(l, id) : NULL;
        if (op == NULL) {
            row->lost++;
            fprintf(stderr,
                    "chaos %s: acknowledged by tmdbq enqueue, not in the database: %s\n",
                    c->env.name, id != NULL ? id : "?");
        } else {
            op->acked = true;
        }
    }
    row->ops = (long)l->nops;
    expected = c->o.backlog + c->attempted;
    row->refused = expected > row->ops ? expected - row->ops : 0;

    for (i = 0; i < l->nops; i++) {
        struct chaos_op *op = &l->ops[i];
        const struct chaos_write *w = &l->w[op->w0];
        bool foreign = op->list == CHAOS_FOREIGN_LIST;
        long eff = -1, reps;
        const struct chaos_hold *h;

        row->unacked += op->acked ? 0 : 1;
        for (j = 0; j < op->nw && eff < 0; j++) {
            if (w[j].status >= 200 && w[j].status < 300)
                eff = (long)j;
        }
        if (strcmp(op->status, "completed") == 0) {
            row->completed++;
            if (eff < 0) {
                row->lost++;
                chaos_show(c, l, op, "completed, but no write of it took effect",
                           &shown_lost);
            } else if (foreign) {
                row->mismatched++;
                chaos_show(c, l, op, "completed on another user's list", &shown_mis);
            }
            if (strcmp(op->type, "update_list") == 0 && op->list >= CHAOS_FIRST_LIST &&
                op->list < CHAOS_FIRST_LIST + CHAOS_LISTS)
                last_update[op->list - CHAOS_FIRST_LIST] = op;
        } else if (strcmp(op->status, "failed") == 0) {
            row->failed++;
            if (foreign)
                row->failed_expected++;
            if (eff >= 0) {
                row->mismatched++;
                chaos_show(c, l, op, "failed, but a write of it took effect", &shown_mis);
            }
        } else if (strcmp(op->status, "pending") == 0 ||
                   strcmp(op->status, "processing") == 0) {
            row->lost++;
            chaos_show(c, l, op, "not final after the settle time", &shown_lost);
        } else {
            row->mismatched++;
            chaos_show(c, l, op, "unexpected status", &shown_mis);
        }

        /* Repeats, attributed by the hold that sent the effective write. */
        reps = eff >= 0 ? (long)op->nw - eff - 1 : 0;
        if (reps > 0) {
            row->repeats += reps;
            h = chaos_hold_at(op, w[eff].t, l->slack);
            if (h != NULL && h->end == END_TAKEN && chaos_killed(c, h, l->slack)) {
                row->rep_kill += reps;
            } else if (h != NULL && h->end == END_TAKEN && chaos_cut(c, h, l->slack)) {
                row->rep_cut += reps;
            } else if (chaos_crash_after(c, w[eff].t, l->slack)) {
                /* The crash may have undone the outcome (and the claim, with its
                 * record), which had not waited for the disk: done again. */
                row->rep_cut += reps;
            } else if (h != NULL && h->end == END_OWN &&
                       strcmp(h->end_status, "pending") == 0 &&
                       (strstr(h->end_error, "could not reach TMDB") != NULL ||
                        strstr(h->end_error, "timed out") != NULL)) {
                row->rep_tmdb += reps;
            } else {
                row->rep_unattributed += reps;
                chaos_show(c, l, op, "repeated outside a crash window", &shown_rep);
            }
        }
        for (j = 0; j < op->nw; j++) {
            if (chaos_hold_at(op, w[j].t, l->slack) == NULL &&
                chaos_crash_after(c, w[j].t, l->slack)) {
                row->undone_holds++;
            } else if (chaos_hold_at(op, w[j].t, l->slack) == NULL) {
                row->outside_holds++;
                chaos_show(c, l, op, "a write reached TMDB outside every hold",
                           &shown_out);
            }
        }
        for (j = 0; j < op->nholds; j++) {
            if (op->holds[j].end != END_TAKEN)
                continue;
            row->lost_holds++;
            if (!chaos_killed(c, &op->holds[j], l->slack) &&
                !chaos_cut(c, &op->holds[j], l->slack))
                row->lost_unexplained++;
        }
    }

    /* What the completed operations say the lists hold. */
    for (i = 0; i < l->nops; i++) {
        struct chaos_op *op = &l->ops[i];
        const struct chaos_list *li = chaos_list_get(l, op->list);
        const struct chaos_op *rm;
        bool done = strcmp(op->status, "completed") == 0, has;

        if (strcmp(op->type, "add_movie") == 0) {
            snprintf(key, sizeof key, "POST /3/list/%ld/remove_item %ld", op->list,
                     op->movie);
            rm = chaos_find_key(l, key);
            has = chaos_list_has(li, op->movie);
            if (done && !has && (rm == NULL || strcmp(rm->status, "completed") != 0)) {
                row->lost++;
                chaos_show(c, l, op, "completed, but the movie is not on the list",
                           &shown_lost);
            } else if (!done && has) {
                row->mismatched++;
                chaos_show(c, l, op, "not completed, but the movie is on the list",
                           &shown_mis);
            }
        } else if (strcmp(op->type, "remove_movie") == 0 && done &&
                   chaos_list_has(li, op->movie)) {
            row->lost++;
            chaos_show(c, l, op, "completed, but the movie is still on the list",
                       &shown_lost);
        } else if (strcmp(op->type, "create_list") == 0) {
            if (done && chaos_lists_named(l, op->name) < 1) {
                row->lost++;
                chaos_show(c, l, op, "completed, but TMDB has no list of that name",
                           &shown_lost);
            } else if (!done && chaos_lists_named(l, op->name) > 0) {
                row->mismatched++;
                chaos_show(c, l, op, "not completed, but TMDB has the list", &shown_mis);
            }
        }
    }
    for (i = 0; i < CHAOS_LISTS; i++) {
        const struct chaos_list *li = chaos_list_get(l, CHAOS_FIRST_LIST + (long)i);

        if (last_update[i] != NULL &&
            (li == NULL || strcmp(li->name, last_update[i]->name) != 0)) {
            row->lost++;
            chaos_show(c, l, last_update[i],
                       "the list's name is not that of its last completed update",
                       &shown_lost);
        }
    }
    /* Order where it matters (README, "Order where it matters"): every write of an
     * operation reaches TMDB before any write of a later one it conflicts with. */
    row->order_violations = chaos_check_order(c, l);
    row->mismatched += row->order_violations;

    /* Nothing on a list that no completed add explains. */
    for (i = 0; i < l->nlists; i++) {
        const struct chaos_list *li = &l->lists[i];

        for (j = 0; j < li->nitems; j++) {
            const struct chaos_op *add;

            snprintf(key, sizeof key, "POST /3/list/%ld/add_item %ld", li->id,
                     li->items[j]);
            add = chaos_find_key(l, key);
            if (add == NULL) {
                row->mismatched++;
                fprintf(stderr,
                        "chaos %s: list %ld holds movie %ld, which no operation adds\n",
                        c->env.name, li->id, li->items[j]);
            }
        }
    }
    free(last_update);
}

/* Why a scenario did not settle: the rows by state, the broker's work queue, the live
 * consumers' registry rows and the ends of the live processes' logs. */
static void chaos_diagnose(struct ts_chaos *c)
{
    static const char *const queries[] = {
        "SELECT status || ' published=' || (published_at IS NOT NULL) || ' handoff=' || "
        "handoff || ' due=' || (coalesce(scheduled_for, now()) <= now()) || ' retries=' "
        "|| retry_count || ': ' || count(*) || ' (oldest seq ' || min(seq) || ', last "
        "change ' || round(extract(epoch FROM now() - max(updated_at))) || ' s ago)' "
        "FROM queued_list_operations GROUP BY status, published_at IS NOT NULL, "
        "handoff, coalesce(scheduled_for, now()) <= now(), retry_count ORDER BY 1",
        "SELECT consumer_id || ': processed ' || processed || ', in flight ' || "
        "in_flight "
        "|| ', seen ' || round(extract(epoch FROM now() - last_seen_at)) || ' s ago' "
        "FROM "
        "tmdbq_consumers WHERE last_seen_at > now() - interval '30 seconds' ORDER BY 1",
        "SELECT 'paused: ' || paused FROM tmdbq_control",
    };
    PGconn *conn = NULL;
    PGresult *res;
    long depth;
    size_t q;
    int i;

    for (q = 0; q < sizeof queries / sizeof queries[0]; q++) {
        res = ts_sql_query(&c->env, queries[q], CHAOS_CONNECT_S, &conn);
        for (i = 0; res != NULL && i < PQntuples(res); i++)
            fprintf(stderr, "chaos %s: diagnose: %s\n", c->env.name,
                    PQgetvalue(res, i, 0));
        PQclear(res);
        PQfinish(conn);
        conn = NULL;
    }
    /* want -1: no depth is waited for, the first answer is printed. */
    depth = ts_queue_depth(&c->env, "work", -1, 0);
    fprintf(stderr, "chaos %s: diagnose: work queue: %ld ready\n", c->env.name, depth);
    for (i = 0; i < c->o.consumers; i++)
        ts_proc_dump(&c->cons[i], 4000);
    for (i = 0; i < c->o.reapers; i++)
        ts_proc_dump(&c->reap[i], 2000);
}

/* From every reaper's log (<work_dir>/r<n>.err), killed ones included: what they
 * published (the sum of their sweeps' relayed=) into row->relayed, and the most messages
 * one of their sweeps saw ready in the work queue (overdue_check=skipped(work queue has N
 * ready)) into row->peak_ready. */
static void chaos_reaper_logs(const struct ts_chaos *c, struct ts_chaos_row *row)
{
    static const char relayed[] = " sweep: relayed=", ready[] = "(work queue has ";
    char path[600], *text;
    const char *at;
    struct dirent *de;
    DIR *d = opendir(c->env.work_dir);
    long n;
    size_t len;

    for (;;) {
        de = d != NULL ? readdir(d) : NULL;
        if (de == NULL)
            break;
        len = strlen(de->d_name);
        if (de->d_name[0] != 'r' || len < 5 || strcmp(de->d_name + len - 4, ".err") != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", c->env.work_dir, de->d_name);
        text = chaos_file_text(path);
        for (at = strstr(text, relayed); at != NULL; at = strstr(at + 1, relayed))
            row->relayed += strtol(at + strlen(relayed), NULL, 10);
        for (at = strstr(text, ready); at != NULL; at = strstr(at + 1, ready)) {
            n = strtol(at + strlen(ready), NULL, 10);
            row->peak_ready = n > row->peak_ready ? n : row->peak_ready;
        }
        free(text);
    }
    if (d != NULL)
        closedir(d);
}

int ts_chaos_finish(struct ts_chaos *c, long settle_limit_ms, struct ts_chaos_row *row)
{
    struct chaos_ledger l;
    char faults[64];
    long long t_end, last;
    long left = -1, violations = 0;
    int i, st;

    memset(row, 0, sizeof *row);
    memset(&l, 0, sizeof l);
    snprintf(row->name, sizeof row->name, "%.39s",
             strncmp(c->env.name, "chaos_", 6) == 0 ? c->env.name + 6 : c->env.name);
    atomic_store(&c->stop, 1);
    if (c->feeder_running)
        pthread_join(c->feeder, NULL);
    c->feeder_running = false;
    /* The second probe while no latency holds its answer (the first was taken so). */
    snprintf(faults, sizeof faults, "{\"latency_ms\":%d}", c->o.latency_ms);
    if (ts_fake_faults(&c->fake, "{}") != 0 || chaos_calibrate(c, 1) != 0 ||
        ts_fake_faults(&c->fake, faults) != 0)
        violations++;
    t_end = real_ms();
    row->chaos_s = (double)(t_end - c->t_start) / 1000.0;
    row->events = c->disruptions;

    left = ts_wait_final(&c->env, settle_limit_ms);
    last = ts_sql_long_quiet(
        &c->env, "SELECT (extract(epoch FROM max(updated_at)) * 1000)::bigint "
                 "FROM queued_list_operations");
    row->settle_s = left != 0      ? -1.0
                    : last > t_end ? (double)(last - t_end) / 1000.0
                                   : 0.0;
    if (left != 0)
        chaos_diagnose(c);
    /* A process that exited by itself, or not cleanly on SIGTERM, is a failure too. */
    for (i = 0; i < c->o.consumers + c->o.reapers; i++) {
        struct ts_proc *p =
            i < c->o.consumers ? &c->cons[i] : &c->reap[i - c->o.consumers];

        if (!ts_proc_running(p)) {
            fprintf(stderr, "chaos %s: %s exited by itself (status %d)\n", c->env.name,
                    p->label, p->status);
            ts_proc_dump(p, 3000);
            violations++;
            continue;
        }
        st = ts_proc_stop(p, 15000);
        if (st != 0) {
            fprintf(stderr, "chaos %s: %s: status %d after SIGTERM\n", c->env.name,
                    p->label, st);
            ts_proc_dump(p, 3000);
            violations++;
        }
    }
    row->unpublished = c->unpublished;
    chaos_reaper_logs(c, row);
    if (chaos_ledger_load(c, &l) != 0) {
        fprintf(stderr, "chaos %s: the ledger could not be read\n", c->env.name);
        violations++;
    } else {
        chaos_check(c, &l, row);
        row->mismatched += l.orphans + l.dup_keys;
        row->requests = l.requests;
        row->http_429 = l.http_429;
        row->http_5xx = l.http_5xx;
    }
    violations +=
        row->lost + row->mismatched + row->rep_unattributed + row->outside_holds;
    if (row->ops == 0)
        violations++;
    /* Each operation has one live message at a time, give or take the duplicates that
     * a relay or a reconnect may publish (their claim drops them): far more messages
     * than operations means that deliveries beget deliveries. */
    if (row->peak_ready > CHAOS_AMPLIFICATION * row->ops + 100) {
        fprintf(stderr,
                "chaos %s: %ld messages ready in the work queue for %ld operations: "
                "messages multiply\n",
                c->env.name, row->peak_ready, row->ops);
        violations++;
    }
    printf("chaos %s: %ld operations (%ld refused, %ld unpublished at enqueue, %ld "
           "committed though their enqueue failed; the reapers published %ld), %ld "
           "completed, %ld failed "
           "(%ld expected), lost %ld, mismatched %ld (order %ld), repeats %ld (kill %ld, "
           "cut %ld, "
           "tmdb %ld, unattributed %ld), writes outside holds %ld (and %ld whose hold a "
           "crash undid), takeovers %ld (%ld "
           "unexplained), %ld TMDB requests (%ld 429, %ld 5xx), at most %ld messages "
           "ready in the work queue, %ld disruptions in %.1f s, settled %.1f s after%s\n",
           row->name, row->ops, row->refused, row->unpublished, row->unacked,
           row->relayed, row->completed, row->failed, row->failed_expected, row->lost,
           row->mismatched, row->order_violations, row->repeats, row->rep_kill,
           row->rep_cut, row->rep_tmdb, row->rep_unattributed, row->outside_holds,
           row->undone_holds, row->lost_holds, row->lost_unexplained, row->requests,
           row->http_429, row->http_5xx, row->peak_ready, row->events, row->chaos_s,
           row->settle_s, left != 0 ? " (NOT SETTLED)" : "");
    if (violations > 0)
        ts_dump_rows(&c->env, 20);
    fflush(stdout);
    chaos_ledger_free(&l);
    ts_teardown(&c->env);
    json_decref(c->acked);
    free(c->events);
    free(c);
    return violations > INT_MAX ? INT_MAX : (int)violations;
}

void ts_chaos_print_table(const struct ts_chaos_row *rows, size_t n)
{
    size_t i;

    printf(
        "\n| scenario | operations | lost | repeats (kill / cut / tmdb / unattributed) "
        "| settle (s) | completed | failed (expected) | mismatched | refused / "
        "unpublished at enqueue | reapers' publishes | peak work queue | takeovers "
        "(unexplained) | TMDB requests (429 / 5xx) | disruptions | chaos (s) |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (i = 0; i < n; i++) {
        const struct ts_chaos_row *r = &rows[i];

        printf("| %s | %ld | %ld | %ld (%ld / %ld / %ld / %ld) | ", r->name, r->ops,
               r->lost, r->repeats, r->rep_kill, r->rep_cut, r->rep_tmdb,
               r->rep_unattributed);
        if (r->settle_s < 0)
            printf("not settled");
        else
            printf("%.1f", r->settle_s);
        printf(
            " | %ld | %ld (%ld) | %ld | %ld / %ld | %ld | %ld | %ld (%ld) | %ld (%ld / "
            "%ld) | %ld | %.1f |\n",
            r->completed, r->failed, r->failed_expected, r->mismatched, r->refused,
            r->unpublished, r->relayed, r->peak_ready, r->lost_holds, r->lost_unexplained,
            r->requests, r->http_429, r->http_5xx, r->events, r->chaos_s);
    }
    fflush(stdout);
}

int ts_chaos_main(const struct ts_chaos_scenario *scenarios, size_t n)
{
    struct ts_chaos_servers s;
    struct ts_chaos_row *rows = chaos_calloc(n, sizeof *rows);
    bool long_form = ts_chaos_long();
    size_t i, ran = 0;
    int rc;

    memset(&s, 0, sizeof s);
    rc = ts_chaos_servers_start(&s);
    if (rc != 0)
        goto out;
    printf("chaos: %s form\n", long_form ? "long" : "short");
    for (i = 0; i < n; i++)
        if (ts_chaos_selected(scenarios[i].name))
            scenarios[i].run(&s, long_form, &rows[ran++]);
    ts_chaos_print_table(rows, ran);
out:
    ts_chaos_servers_destroy(&s);
    free(rows);
    return rc;
}
