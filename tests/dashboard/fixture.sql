-- The queue test_http_dashboard shows in the browser (and docs/dashboard.png): an hour of
-- finished work, failed operations to act on, pending ones, a registry of consumers and
-- reapers, and TMDB's request budget with a few 429s. Every time is relative to now().
-- The test keeps the registry and the budget fresh while the browser runs (heartbeat).

-- An hour of completed operations, a wave of 12 to 31 a minute (minutes 1 to 58 ago).
INSERT INTO queued_list_operations (operation_type, tmdb_user_id, tmdb_list_id,
                                    operation_data, status, result, inserted_at,
                                    updated_at, published_at)
SELECT CASE WHEN i % 7 = 0 THEN 'remove_movie' ELSE 'add_movie' END, 40 + (i % 9),
       7000 + (i % 37), jsonb_build_object('movie_id', 500 + k * 40 + i), 'completed',
       '{}'::jsonb, t - interval '2 seconds', t, t - interval '2 seconds'
  FROM generate_series(1, 58) k,
       LATERAL generate_series(1, 12 + (k * 7) % 20) i,
       LATERAL (SELECT date_trunc('minute', now()) - k * interval '1 minute'
                       + (i % 55) * interval '1 second' AS t) x;

-- Failures scattered over the older half hour (one or two a minute, every ninth minute).
INSERT INTO queued_list_operations (operation_type, tmdb_user_id, tmdb_list_id,
                                    operation_data, status, retry_count, error_kind,
                                    error_message, inserted_at, updated_at, published_at)
SELECT 'add_movie', 60 + k, 8000 + k, jsonb_build_object('movie_id', 900 + k * 3 + i),
       'failed', 5, 'transient',
       'gave up after 5 retries: TMDB answered 500 Internal Server Error',
       t - interval '20 minutes', t, t - interval '20 minutes'
  FROM generate_series(45, 58) k, LATERAL generate_series(1, 1 + k % 2) i,
       LATERAL (SELECT date_trunc('minute', now()) - k * interval '1 minute'
                       + i * interval '7 seconds' AS t) x
 WHERE k % 9 = 0;

-- The failed operations a person must act on, newest first in the list.
INSERT INTO queued_list_operations (operation_type, tmdb_user_id, tmdb_list_id,
                                    operation_data, status, retry_count, error_kind,
                                    error_message, inserted_at, updated_at, published_at)
VALUES
  ('add_movie', 42, 7, '{"movie_id": 603}', 'failed', 0, 'permanent',
   'TMDB refused it for good: The resource you requested could not be found. (HTTP 404, status_code 34)',
   now() - interval '2 minutes 30 seconds', now() - interval '2 minutes',
   now() - interval '2 minutes 30 seconds'),
  ('remove_movie', 77, 12, '{"movie_id": 155}', 'failed', 5, 'transient',
   'gave up after 5 retries: TMDB answered 503 Service Unavailable',
   now() - interval '50 minutes', now() - interval '6 minutes', now() - interval '50 minutes'),
  ('update_list', 42, 7, '{"name": "Noir", "description": "Shadows and rain"}', 'failed', 0,
   'credentials', 'no v4 access token stored for user 42 (tmdbq session set --access-token)',
   now() - interval '12 minutes', now() - interval '11 minutes', now() - interval '12 minutes'),
  ('add_movie', 91, 30, '{"movie_id": 27205}', 'failed', 0, 'credentials',
   'TMDB refused the session of user 91: Authentication failed: You do not have permissions to access the service. (HTTP 401, status_code 3)',
   now() - interval '20 minutes', now() - interval '19 minutes', now() - interval '20 minutes'),
  ('create_list', 77, NULL, '{"name": "Summer 2024", "description": "", "public": true}',
   'failed', 0, 'permanent', 'TMDB refused it for good: Invalid parameters (HTTP 422, status_code 22)',
   now() - interval '28 minutes', now() - interval '27 minutes', now() - interval '28 minutes'),
  ('clear_list', 12, 44, '{}', 'failed', 5, 'transient',
   'abandoned: the consumer holding it stopped before finishing and no retries are left (5 of 5 spent); last holder: api-3:3131:1',
   now() - interval '70 minutes', now() - interval '41 minutes', now() - interval '70 minutes');

-- Cancelled by an operator.
INSERT INTO queued_list_operations (operation_type, tmdb_user_id, tmdb_list_id,
                                    operation_data, status, inserted_at, updated_at,
                                    published_at)
VALUES
  ('add_movie', 42, 9, '{"movie_id": 11}', 'cancelled', now() - interval '40 minutes',
   now() - interval '33 minutes', now() - interval '40 minutes'),
  ('remove_movie', 12, 44, '{"movie_id": 12}', 'cancelled', now() - interval '30 minutes',
   now() - interval '24 minutes', now() - interval '30 minutes'),
  ('add_movie', 91, 30, '{"movie_id": 13}', 'cancelled', now() - interval '20 minutes',
   now() - interval '14 minutes', now() - interval '20 minutes');

-- One operation in a consumer's hands, under a long lease.
INSERT INTO queued_list_operations (operation_type, tmdb_user_id, tmdb_list_id,
                                    operation_data, status, claimed_by, lease_expires_at,
                                    inserted_at, updated_at, published_at)
VALUES ('add_movie', 42, 9, '{"movie_id": 680}', 'processing', 'api-1:4242:1',
        now() + interval '10 minutes', now() - interval '40 seconds',
        now() - interval '2 seconds', now() - interval '40 seconds');

-- Pending work (published by the test with `tmdbq process --all`), one retry waiting.
INSERT INTO queued_list_operations (operation_type, tmdb_user_id, tmdb_list_id,
                                    operation_data, status, retry_count, error_kind,
                                    error_message, scheduled_for, inserted_at, updated_at)
VALUES
  ('add_movie', 42, 7, '{"movie_id": 550}', 'pending', 0, NULL, NULL, NULL,
   now() - interval '7 minutes 12 seconds', now() - interval '7 minutes 12 seconds'),
  ('add_movie', 42, 7, '{"movie_id": 551}', 'pending', 0, NULL, NULL, NULL,
   now() - interval '6 minutes', now() - interval '6 minutes'),
  ('remove_movie', 42, 8, '{"movie_id": 120}', 'pending', 0, NULL, NULL, NULL,
   now() - interval '3 minutes', now() - interval '3 minutes'),
  ('clear_list', 77, 14, '{}', 'pending', 0, NULL, NULL, NULL,
   now() - interval '5 minutes', now() - interval '5 minutes'),
  ('add_movie', 77, 13, '{"movie_id": 99}', 'pending', 2, 'transient',
   'TMDB answered 503 Service Unavailable', now() + interval '3 minutes',
   now() - interval '4 minutes', now() - interval '1 minute');

-- TMDB's budget: the scope's row and an hour of 10-second buckets (29 to 38 requests a
-- second), with 429s in a few of them (none near the hour's edge, which moves while the
-- test runs).
INSERT INTO tmdbq_rate (scope, rate, next_slot, updated_at)
VALUES ('queue', 40, now(), now());
INSERT INTO tmdbq_rate_stats (scope, bucket, requests, limited)
SELECT 'queue', to_timestamp(floor(extract(epoch FROM now()) / 10) * 10) - b * interval '10 seconds',
       290 + (b * 37) % 90,
       CASE WHEN b = 2 THEN 2 WHEN b % 23 = 5 AND b < 330 THEN 1 + b % 4 ELSE 0 END
  FROM generate_series(1, 355) b;

-- Two consumer processes of two workers each, one that went silent; two reapers.
INSERT INTO tmdbq_consumers (consumer_id, host, pid, started_at, last_seen_at, processed,
                             failed, in_flight)
VALUES
  ('api-1:4242:1', 'api-1', 4242, now() - interval '3 hours', now(), 812, 9, 1),
  ('api-1:4242:2', 'api-1', 4242, now() - interval '3 hours', now(), 790, 7, 0),
  ('api-2:5151:1', 'api-2', 5151, now() - interval '2 hours', now(), 655, 4, 0),
  ('api-2:5151:2', 'api-2', 5151, now() - interval '2 hours', now(), 640, 6, 0),
  ('api-3:3131:1', 'api-3', 3131, now() - interval '5 hours', now() - interval '9 minutes',
   120, 2, 1);
INSERT INTO tmdbq_reapers (reaper_id, host, pid, started_at, last_seen_at, is_leader,
                           last_sweep_at, last_sweep, last_cleanup_at)
VALUES
  ('api-1:4243', 'api-1', 4243, now() - interval '3 hours', now(), true,
   now() - interval '20 seconds',
   '{"rescued": 0, "abandoned": 0, "relayed": 0, "overdue": 0, "cleaned": 0}',
   now() - interval '40 minutes'),
  ('api-2:5152', 'api-2', 5152, now() - interval '2 hours', now(), false, NULL, NULL, NULL);
