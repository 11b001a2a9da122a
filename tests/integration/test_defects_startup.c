/*
 * test_defects_startup: issue 15, defects 4, 5 and 6, as an operator meets them. A
 * configuration that can never work stops tmdbq-consumer and tmdbq-reaper at start with
 * exit status 2 and a message naming the variable, the password never shown: a malformed
 * TMDBQ_AMQP_URL or TMDBQ_DATABASE_URL (they used to retry it forever, as if the server
 * were away), an empty TMDBQ_AMQP_PREFIX or service URL (it used to mean the defaults,
 * which may be another stack's), a duration past what PostgreSQL's interval or int64
 * milliseconds hold, and a --grace that overflows the consumer's clock. A broker that is
 * only unreachable is still waited for.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "support.h"

/* How long a process may take to refuse its configuration. */
#define REFUSE_MS 10000

struct bad_start {
    const char *var;    /* the variable the message must name */
    const char *env;    /* VAR=value given to the process */
    const char *secret; /* what the message must not show; NULL: nothing */
};

static const struct bad_start cases[] = {
    /* Defect 5: malformed service URLs. */
    {"TMDBQ_AMQP_URL", "TMDBQ_AMQP_URL=amqp://guest:mqSECRET@127.0.0.1:56x72/%2f",
     "mqSECRET"},
    {"TMDBQ_AMQP_URL", "TMDBQ_AMQP_URL=amqp://guest:mq/SECRET@127.0.0.1:5672/%2f",
     "SECRET"},
    {"TMDBQ_AMQP_URL", "TMDBQ_AMQP_URL=amqp://guest:mqSECRET@127.0.0.1:5672/a/b",
     "mqSECRET"},
    {"TMDBQ_AMQP_URL", "TMDBQ_AMQP_URL=amqps://guest:mqSECRET@127.0.0.1:5671/%2f",
     "mqSECRET"},
    {"TMDBQ_DATABASE_URL", "TMDBQ_DATABASE_URL=postgresql://tmdbq:dbSECRET@[::1/tmdbq",
     "dbSECRET"},
    {"TMDBQ_DATABASE_URL", "TMDBQ_DATABASE_URL=host=127.0.0.1 password=db SECRET",
     "SECRET"},
    {"TMDBQ_DATABASE_URL",
     "TMDBQ_DATABASE_URL=postgresql://tmdbq:dbSECRET@127.0.0.1:5432/t?sslmod=disable",
     "dbSECRET"},
    {"TMDBQ_DATABASE_URL",
     "TMDBQ_DATABASE_URL=postgresql://tmdbq:dbSECRET@127.0.0.1:5x/t", "dbSECRET"},
    {"TMDBQ_DATABASE_URL", "TMDBQ_DATABASE_URL=127.0.0.1:5432/tmdbq", NULL},
    /* Defect 6: empty stack identity. */
    {"TMDBQ_AMQP_PREFIX", "TMDBQ_AMQP_PREFIX=", NULL},
    {"TMDBQ_DATABASE_URL", "TMDBQ_DATABASE_URL=", NULL},
    {"TMDBQ_AMQP_URL", "TMDBQ_AMQP_URL=", NULL},
    /* Defect 4: durations past every bound. */
    {"TMDBQ_LEASE", "TMDBQ_LEASE=99999999999h", NULL},
    {"TMDBQ_LEASE", "TMDBQ_LEASE=99999999999999999999d", NULL},
    {"TMDBQ_SWEEP_INTERVAL", "TMDBQ_SWEEP_INTERVAL=9223372036854775807s", NULL},
    {"TMDBQ_RETENTION", "TMDBQ_RETENTION=99999999999h", NULL},
};

/* Start the program with one bad setting; it must exit 2 within REFUSE_MS, naming the
 * variable in its one line on stderr, without the secret. */
static void check_refused(struct ts_env *env, const struct ts_fake *f, bool consumer,
                          const struct bad_start *c, const char *const *args)
{
    const char *extra[] = {c->env, NULL};
    struct ts_proc p;
    char *err;
    int st;

    if (consumer)
        CHECK_EQ_INT(ts_consumer_start(env, f, extra, args, &p), 0);
    else
        CHECK_EQ_INT(ts_reaper_start(env, extra, args, &p), 0);
    st = ts_proc_wait(&p, REFUSE_MS);
    err = ts_proc_stderr(&p);
    if (st != 2 || strstr(err, c->var) == NULL ||
        (c->secret != NULL && strstr(err, c->secret) != NULL)) {
        fprintf(stderr, "%s with %s%s%s: status %d (want 2), stderr: %s\n",
                consumer ? "tmdbq-consumer" : "tmdbq-reaper", c->env,
                args != NULL ? " " : "", args != NULL ? args[0] : "", st, err);
        check_failures++;
    }
    free(err);
    ts_proc_stop(&p, 2000);
}

int main(void)
{
    struct ts_env env;
    struct ts_fake fake;
    struct ts_proc p;
    char dead[160];
    const char *dead_env[] = {dead, NULL};
    const char *grace[] = {"--grace", "99999999999h", NULL};
    size_t i;
    int rc;

    rc = ts_setup(&env, "defects_startup");
    if (rc != 0) {
        ts_teardown(&env);
        return rc;
    }
    /* The consumer is pointed at a TMDB that is never called: no operation is queued. */
    memset(&fake, 0, sizeof fake);
    snprintf(fake.url, sizeof fake.url, "http://127.0.0.1:9");
    snprintf(fake.api_key, sizeof fake.api_key, "unused-key");

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        check_refused(&env, &fake, true, &cases[i], NULL);
        check_refused(&env, &fake, false, &cases[i], NULL);
    }
    /* A --grace past a day would overflow the clock it is added to. */
    {
        const struct bad_start g = {"--grace", "TMDBQ_LOG_LEVEL=info", NULL};

        check_refused(&env, &fake, true, &g, grace);
    }

    /* Unreachable is not malformed: both keep waiting for the broker. */
    CHECK_EQ_INT(ts_dead_amqp_env(dead, sizeof dead), 0);
    CHECK_EQ_INT(ts_consumer_start(&env, &fake, dead_env, NULL, &p), 0);
    CHECK_EQ_INT(ts_proc_wait(&p, 3000), -1);
    CHECK_EQ_INT(ts_proc_stop(&p, 10000), 0);
    CHECK_EQ_INT(ts_reaper_start(&env, dead_env, NULL, &p), 0);
    CHECK_EQ_INT(ts_proc_wait(&p, 3000), -1);
    CHECK_EQ_INT(ts_proc_stop(&p, 10000), 0);

    ts_teardown(&env);
    return check_exit();
}
