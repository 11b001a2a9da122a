/*
 * test_consumer_sigterm: SIGTERM stops a consumer cleanly, and no secret reaches a log.
 *
 * One consumer (--grace 5s) works off 160 operations over 4 lists while the fake TMDB
 * answers after 40 ms. Once 40 are done it gets SIGTERM: it exits 0 within the grace
 * period, and no row is left processing (each is completed or pending, none failed). A
 * second consumer, started afterwards with --drain and the read-access token instead of
 * the API key, finishes the rest and exits 0 by itself.
 *
 * Then every line both consumers logged (at debug level) is searched for the session
 * ids, the users' v4 access tokens, the API key and the read-access token in use.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "support.h"

#define NLISTS 4
#define PER_LIST 38
#define NUSERS 2
#define FIRST_LIST 9101
#define API_KEY "SECRET-apikey-7f3a9"
#define READ_TOKEN "SECRET-readtoken-c41d"
#define GRACE_MS 5000

static const char *const secrets[] = {
    API_KEY,
    READ_TOKEN,
    "SECRET-sess-u1-2b7e",
    "SECRET-sess-u2-9a0c",
    "SECRET-tok-u1-5d21",
    "SECRET-tok-u2-e8f4",
};

static void check_no_secret(const struct ts_proc *p)
{
    char *log = ts_proc_stderr(p);
    size_t i;

    CHECK(strlen(log) > 0);
    for (i = 0; i < sizeof secrets / sizeof secrets[0]; i++) {
        const char *hit = strstr(log, secrets[i]);

        if (hit != NULL) {
            const char *line = hit;

            while (line > log && line[-1] != '\n')
                line--;
            fprintf(stderr, "%s logged a secret: %.*s\n", p->label,
                    (int)strcspn(line, "\n"), line);
        }
        CHECK(hit == NULL);
    }
    free(log);
}

/* Whether some recorded request carried this credential: the secrets searched for in
 * the logs were really in use. */
static bool sent(const json_t *reqs, const char *where, const char *value)
{
    const json_t *rec;
    char bearer[128];
    size_t i;

    snprintf(bearer, sizeof bearer, "Bearer %s", value);
    json_array_foreach(reqs, i, rec)
    {
        const char *v = strcmp(where, "auth") == 0
                            ? ts_json_str(rec, "auth")
                            : ts_json_str(json_object_get(rec, "query"), where);

        if (v != NULL && strcmp(v, strcmp(where, "auth") == 0 ? bearer : value) == 0)
            return true;
    }
    return false;
}

int main(void)
{
    static const long none[] = {0};
    static const char *const args1[] = {"--concurrency", "4",  "--prefetch", "4",
                                        "--grace",       "5s", NULL};
    static const char *const args2[] = {"--concurrency", "4", "--prefetch", "4",
                                        "--drain",       NULL};
    static const char *const env2[] = {"TMDB_API_KEY", "TMDB_ACCESS_TOKEN=" READ_TOKEN,
                                       NULL};
    struct ts_proc c1, c2;
    struct ts_env env;
    struct ts_fake fake;
    json_t *reqs = NULL;
    char *lines = NULL;
    long n, at_term, processing, completed, pending, items[PER_LIST + 8];
    long long t_term, t_exit, t_drain;
    size_t i;
    int rc, k, st;

    memset(&c1, 0, sizeof c1);
    memset(&c2, 0, sizeof c2);
    c1.pid = c2.pid = -1;
    rc = ts_setup(&env, "consumer_sigterm");
    if (rc != 0) {
        ts_teardown(&env);
        return rc;
    }
    ts_set_policy(&env, 5, 100, 2000);
    if (ts_fake_start(&env, &fake, API_KEY, READ_TOKEN) != 0) {
        CHECK(!"fake TMDB started");
        goto out;
    }
    CHECK_EQ_INT(ts_user(&env, &fake, 1, secrets[2], secrets[4]), 0);
    CHECK_EQ_INT(ts_user(&env, &fake, 2, secrets[3], secrets[5]), 0);
    for (i = 0; i < NLISTS; i++)
        CHECK_EQ_INT(
            ts_fake_list(&fake, FIRST_LIST + (long)i, (long)(i % NUSERS) + 1, none, 0),
            0);
    CHECK_EQ_INT(ts_fake_faults(&fake, "{\"latency_ms\":40}"), 0);
    /* Adds, with a v4 update per list (the access tokens) and a create (a session). */
    for (k = 0; k < PER_LIST; k++) {
        for (i = 0; i < NLISTS; i++) {
            long user = (long)(i % NUSERS) + 1, list = FIRST_LIST + (long)i;

            if (k == PER_LIST / 2)
                ts_appendf(&lines,
                           "{\"type\":\"update_list\",\"user\":%ld,\"list\":%ld,"
                           "\"name\":\"renamed %ld\"}\n",
                           user, list, list);
            else
                ts_appendf(&lines,
                           "{\"type\":\"add_movie\",\"user\":%ld,\"list\":%ld,"
                           "\"movie\":%ld}\n",
                           user, list, 40000L + k);
        }
    }
    ts_appendf(&lines,
               "{\"type\":\"create_list\",\"user\":1,\"name\":\"sigterm new\"}\n");
    ts_appendf(&lines,
               "{\"type\":\"create_list\",\"user\":2,\"name\":\"sigterm new\"}\n");
    n = ts_enqueue_lines(&env, lines, NULL);
    CHECK_EQ_INT(n, NLISTS * PER_LIST + 2);
    if (n != NLISTS * PER_LIST + 2)
        goto out;

    CHECK_EQ_INT(ts_consumer_start(&env, &fake, NULL, args1, &c1), 0);
    at_term = ts_wait_completed(&env, 40, 30000);
    CHECK(at_term >= 40);
    t_term = ts_now_ms();
    CHECK_EQ_INT(ts_proc_signal(&c1, SIGTERM), 0);
    st = ts_proc_wait(&c1, GRACE_MS + 5000);
    t_exit = ts_now_ms();
    printf("sigterm: SIGTERM with %ld of %ld completed; exit status %d after %lld ms "
           "(grace %d ms)\n",
           at_term, n, st, t_exit - t_term, GRACE_MS);
    CHECK_EQ_INT(st, 0);
    CHECK(t_exit - t_term <= GRACE_MS + 1000);

    processing = ts_count_status(&env, "processing");
    completed = ts_count_status(&env, "completed");
    pending = ts_count_status(&env, "pending");
    printf("sigterm: after the stop: %ld completed, %ld pending, %ld processing\n",
           completed, pending, processing);
    CHECK_EQ_INT(processing, 0);
    CHECK_EQ_INT(completed + pending, n);
    CHECK(pending > 0);

    t_drain = ts_now_ms();
    CHECK_EQ_INT(ts_consumer_start(&env, &fake, env2, args2, &c2), 0);
    st = ts_proc_wait(&c2, 40000);
    printf("sigterm: the --drain consumer exited with %d after %lld ms\n", st,
           ts_now_ms() - t_drain);
    CHECK_EQ_INT(st, 0);
    CHECK_EQ_INT(ts_count_status(&env, "completed"), n);
    for (i = 0; i < NLISTS; i++)
        CHECK_EQ_INT(ts_fake_list_items(&fake, FIRST_LIST + (long)i, items, PER_LIST + 8),
                     PER_LIST - 1);

    reqs = ts_fake_requests(&fake);
    CHECK(sent(reqs, "api_key", API_KEY));
    CHECK(sent(reqs, "auth", READ_TOKEN));
    CHECK(sent(reqs, "session_id", secrets[2]));
    CHECK(sent(reqs, "session_id", secrets[3]));
    CHECK(sent(reqs, "auth", secrets[4]));
    CHECK(sent(reqs, "auth", secrets[5]));
    check_no_secret(&c1);
    check_no_secret(&c2);
out:
    if (check_failures) {
        ts_dump_rows(&env, 40);
        ts_proc_dump(&c1, 5000);
        ts_proc_dump(&c2, 5000);
    }
    ts_proc_stop(&c1, 5000);
    ts_proc_stop(&c2, 5000);
    json_decref(reqs);
    free(lines);
    ts_teardown(&env);
    return check_exit();
}
