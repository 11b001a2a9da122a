/*
 * test_consumer_scale: three tmdbq-consumer processes work off 300 operations over ten
 * lists of four users (adds and removes of distinct movies, some updates, clears and
 * creates). Every operation ends completed, the fake TMDB saw each write exactly once,
 * and every list ends holding exactly what the operations, applied in order, leave on it.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "support.h"

#define NLISTS 10
#define NUSERS 4
#define NCONSUMERS 3
#define FIRST_LIST 1001
#define MAX_ITEMS 64

struct list_model {
    long id;
    long owner;
    long items[MAX_ITEMS];
    size_t n;
};

static void model_add(struct list_model *l, long movie)
{
    size_t i;

    for (i = 0; i < l->n; i++) {
        if (l->items[i] == movie)
            return;
    }
    if (l->n < MAX_ITEMS)
        l->items[l->n++] = movie;
}

static void model_remove(struct list_model *l, long movie)
{
    size_t i;

    for (i = 0; i < l->n; i++) {
        if (l->items[i] == movie) {
            l->items[i] = l->items[--l->n];
            return;
        }
    }
}

static int long_cmp(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;

    return x < y ? -1 : x > y;
}

/* The operations of list i, in order, as bulk lines appended to *lines at step s; the
 * model follows. Returns false when list i has no operation at step s. */
static bool list_step(struct list_model *l, size_t i, int s, char **lines)
{
    long movie;

    if (s < 10) { /* adds */
        movie = 2000 + (long)i * 100 + s;
        model_add(l, movie);
    } else if (s == 10 && i < 5) {
        ts_appendf(lines,
                   "{\"type\":\"update_list\",\"user\":%ld,\"list\":%ld,"
                   "\"data\":{\"name\":\"renamed %ld\"}}\n",
                   l->owner, l->id, l->id);
        return true;
    } else if (s == 10) {
        return false;
    } else if (s < 15) { /* removes of what the list held at the start */
        movie = 100 + (s - 11);
        model_remove(l, movie);
        ts_appendf(lines,
                   "{\"type\":\"remove_movie\",\"user\":%ld,\"list\":%ld,"
                   "\"data\":{\"movie_id\":%ld}}\n",
                   l->owner, l->id, movie);
        return true;
    } else if (s < 25) {
        movie = 2000 + (long)i * 100 + (s - 5);
        model_add(l, movie);
    } else if (s < 29) {
        movie = 100 + (s - 21);
        model_remove(l, movie);
        ts_appendf(lines,
                   "{\"type\":\"remove_movie\",\"user\":%ld,\"list\":%ld,"
                   "\"data\":{\"movie_id\":%ld}}\n",
                   l->owner, l->id, movie);
        return true;
    } else if (s == 29) {
        movie = 5000 + (long)i;
        model_add(l, movie);
    } else if (s == 30 && i >= 8) {
        l->n = 0;
        ts_appendf(lines, "{\"type\":\"clear_list\",\"user\":%ld,\"list\":%ld}\n",
                   l->owner, l->id);
        return true;
    } else {
        return false;
    }
    ts_appendf(lines,
               "{\"type\":\"add_movie\",\"user\":%ld,\"list\":%ld,"
               "\"data\":{\"movie_id\":%ld}}\n",
               l->owner, l->id, movie);
    return true;
}

static void check_created(const struct ts_fake *fake, const char *name, long owner)
{
    char *body = NULL;
    json_t *all = NULL, *l;
    size_t i;
    int found = 0;

    CHECK_EQ_INT(ts_fake_call(fake, "GET", "/__control/lists", NULL, &body), 200);
    all = ts_json_parse(body);
    json_array_foreach(json_object_get(all, "lists"), i, l)
    {
        const char *n = ts_json_str(l, "name");

        if (n != NULL && strcmp(n, name) == 0 && ts_json_int(l, "owner", -1) == owner)
            found++;
    }
    if (found != 1)
        fprintf(stderr, "list \"%s\" of user %ld: found %d times\n", name, owner, found);
    CHECK_EQ_INT(found, 1);
    json_decref(all);
    free(body);
}

int main(void)
{
    static const long initial[] = {100, 101, 102, 103, 104, 105, 106, 107, 108, 109};
    static const char *const cargs[] = {"--concurrency", "4", "--prefetch", "8", NULL};
    struct list_model model[NLISTS];
    struct ts_proc cons[NCONSUMERS];
    struct ts_env env;
    struct ts_fake fake;
    char *lines = NULL, sess[32], tok[32];
    json_t *ops = NULL, *reqs = NULL;
    long got[MAX_ITEMS], n, missing = -1, extra = -1, left;
    long long t0, t1;
    size_t i, k;
    int rc, s;
    bool any;

    ts_procs_init(cons, NCONSUMERS);
    rc = ts_setup_with_fake(&env, &fake, "consumer_scale", 5, 100, 2000);
    if (rc != 0)
        return rc;
    for (i = 1; i <= NUSERS; i++) {
        snprintf(sess, sizeof sess, "sess-u%zu", i);
        snprintf(tok, sizeof tok, "tok-u%zu", i);
        CHECK_EQ_INT(ts_user(&env, &fake, (long)i, sess, tok), 0);
    }
    for (i = 0; i < NLISTS; i++) {
        model[i].id = FIRST_LIST + (long)i;
        model[i].owner = (long)(i % NUSERS) + 1;
        model[i].n = 0;
        for (k = 0; k < sizeof initial / sizeof initial[0]; k++)
            model_add(&model[i], initial[k]);
        CHECK_EQ_INT(ts_fake_list(&fake, model[i].id, model[i].owner, initial,
                                  sizeof initial / sizeof initial[0]),
                     0);
    }

    /* Three creates first, then the lists' operations round-robin, so every list is busy
     * at once and its own operations stay in order. */
    ts_appendf(&lines,
               "{\"type\":\"create_list\",\"user\":1,\"name\":\"scale new a\"}\n");
    ts_appendf(&lines,
               "{\"type\":\"create_list\",\"user\":2,\"name\":\"scale new b\"}\n");
    ts_appendf(&lines,
               "{\"type\":\"create_list\",\"user\":3,\"name\":\"scale new c\"}\n");
    for (s = 0, any = true; any; s++) {
        any = false;
        for (i = 0; i < NLISTS; i++)
            any = list_step(&model[i], i, s, &lines) || any;
    }
    n = ts_enqueue_lines(&env, lines, &ops);
    CHECK_EQ_INT(n, 300);
    if (n != 300)
        goto out;

    t0 = ts_now_ms();
    CHECK_EQ_INT(ts_consumers_start(&env, &fake, NULL, cargs, cons, NCONSUMERS), 0);
    left = ts_wait_final_while(&env, cons, NCONSUMERS, 45000);
    t1 = ts_now_ms();
    CHECK_EQ_INT(left, 0);
    printf("scale: 300 operations, %d consumers: all final after %lld ms\n", NCONSUMERS,
           t1 - t0);
    CHECK_EQ_INT(ts_count_status(&env, "completed"), 300);

    reqs = ts_fake_requests(&fake);
    CHECK(reqs != NULL);
    CHECK_EQ_INT(ts_fake_compare_writes(reqs, ops, &missing, &extra), 0);
    printf("scale: writes missing %ld, duplicated %ld\n", missing, extra);
    CHECK_EQ_INT(missing, 0);
    CHECK_EQ_INT(extra, 0);

    for (i = 0; i < NLISTS; i++) {
        n = ts_fake_list_items(&fake, model[i].id, got, MAX_ITEMS);
        CHECK_EQ_INT(n, (long)model[i].n);
        if (n != (long)model[i].n || n < 0)
            continue;
        qsort(got, (size_t)n, sizeof got[0], long_cmp);
        qsort(model[i].items, model[i].n, sizeof got[0], long_cmp);
        for (k = 0; k < model[i].n; k++) {
            if (got[k] != model[i].items[k]) {
                fprintf(stderr, "list %ld: item %zu is %ld, expected %ld\n", model[i].id,
                        k, got[k], model[i].items[k]);
                CHECK(!"list contents as expected");
                break;
            }
        }
    }
    check_created(&fake, "scale new a", 1);
    check_created(&fake, "scale new b", 2);
    check_created(&fake, "scale new c", 3);

    /* A stop after the work: each exits 0 on SIGTERM. */
    CHECK_EQ_INT(ts_procs_stop(cons, NCONSUMERS, 15000), 0);

out:
    ts_procs_end(&env, cons, NCONSUMERS, check_failures != 0, 20, 4000);
    json_decref(reqs);
    json_decref(ops);
    free(lines);
    ts_teardown(&env);
    return check_exit();
}
