/*
 * test_history_json: tmdbq_history_to_json, the body of GET /v1/history, byte for byte.
 * Needs no services: the history is built here as tmdbq_history would fill it.
 *
 * Compared byte for byte because the dashboard and monitors read it: the keys in this
 * order, counts as integers, the age rounded to milliseconds and null when nothing is
 * pending.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tmdbq.h"

int main(void)
{
    struct tmdbq_minute minutes[2] = {
        {.minute = "2026-12-03T09:58:00.000Z",
         .completed = 18,
         .failed = 1,
         .cancelled = 0,
         .tmdb_requests = 2025,
         .tmdb_rate_limited = 3},
        {.minute = "2026-12-03T09:59:00.000Z"},
    };
    struct tmdbq_history x = {
        .now = "2026-12-03T09:59:12.345Z",
        .minutes = minutes,
        .n_minutes = 2,
        .any_pending = true,
        .oldest_pending_age_s = 436.5894,
    };
    char *json;

    json = tmdbq_history_to_json(&x);
    CHECK_STR_EQ(json,
                 "{\"now\":\"2026-12-03T09:59:12.345Z\",\"oldest_pending_age_s\":436.589,"
                 "\"minutes\":[{\"minute\":\"2026-12-03T09:58:00.000Z\",\"completed\":18,"
                 "\"failed\":1,\"cancelled\":0,\"tmdb_requests\":2025,"
                 "\"tmdb_rate_limited\":3},{\"minute\":\"2026-12-03T09:59:00.000Z\","
                 "\"completed\":0,\"failed\":0,\"cancelled\":0,\"tmdb_requests\":0,"
                 "\"tmdb_rate_limited\":0}]}");
    free(json);

    /* Nothing pending: null, not 0 (a backlog of age 0 would be one just enqueued). */
    x.any_pending = false;
    x.oldest_pending_age_s = 0;
    x.n_minutes = 0;
    json = tmdbq_history_to_json(&x);
    CHECK_STR_EQ(json,
                 "{\"now\":\"2026-12-03T09:59:12.345Z\",\"oldest_pending_age_s\":null,"
                 "\"minutes\":[]}");
    free(json);

    /* A whole age prints as an integer, as the other figures of libtmdbq do. */
    x.any_pending = true;
    x.oldest_pending_age_s = 7.0;
    json = tmdbq_history_to_json(&x);
    CHECK(json != NULL && strstr(json, "\"oldest_pending_age_s\":7,") != NULL);
    free(json);

    tmdbq_history_free(NULL);
    return check_exit();
}
