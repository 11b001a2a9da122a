-- Cumulative counters for Prometheus (tmdbq-http's /metrics), kept in PostgreSQL so that
-- they outlive every process: the consumers count outcomes and TMDB requests in memory
-- (common/metrics.c) and add their deltas here every few seconds, and whoever serves
-- /metrics reads the totals. A restart of tmdbq-http, or of a consumer, resets nothing.
--
-- One row per counter: a metric name and one label value ('' when it has none). A
-- histogram is a set of such rows, one per bucket, each counting the observations that
-- fell into that bucket alone (not cumulative: a reader sums them up in bucket order),
-- plus a row for the sum of the observed values in microseconds.
--
-- What the consumers write (common/metrics.h names them):
--   operations_finished           label: completed, failed, retry
--   tmdb_requests                 label: the HTTP status ('200', '429', ...), 'none'
--                                 when no answer came (timeout, connection error)
--   tmdb_request_duration_bucket  label: the bucket's upper bound in seconds ('0.1',
--                                 '+Inf')
--   tmdb_request_duration_sum_us  label: ''
CREATE TABLE tmdbq_metrics (
  name TEXT NOT NULL CHECK (name <> ''),
  label TEXT NOT NULL DEFAULT '',
  value BIGINT NOT NULL DEFAULT 0 CHECK (value >= 0),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (name, label)
);

-- Add deltas to counters, creating the ones not seen before: element i of the three
-- arrays is one (name, label, delta). One statement for any number of counters, so a
-- consumer's flush is one round trip. Repeated pairs are summed first (an upsert may not
-- touch a row twice), and rows are locked in (name, label) order, so concurrent flushes
-- from any number of consumers never deadlock: they only queue on a shared row for the
-- length of one short transaction. A zero delta is skipped; a negative one is refused
-- (counters only grow). Returns the number of counters changed.
CREATE FUNCTION tmdbq_metrics_add(p_names TEXT[], p_labels TEXT[], p_deltas BIGINT[])
RETURNS INTEGER
LANGUAGE plpgsql AS $$
DECLARE
  changed INTEGER;
BEGIN
  IF coalesce(cardinality(p_names), 0) <> coalesce(cardinality(p_labels), 0)
     OR coalesce(cardinality(p_names), 0) <> coalesce(cardinality(p_deltas), 0) THEN
    RAISE EXCEPTION 'tmdbq_metrics_add: % names, % labels and % deltas: one of each per counter',
      coalesce(cardinality(p_names), 0), coalesce(cardinality(p_labels), 0),
      coalesce(cardinality(p_deltas), 0)
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF EXISTS (SELECT 1 FROM unnest(p_names, p_deltas) AS u(n, d)
              WHERE n IS NULL OR n = '' OR d IS NULL OR d < 0) THEN
    RAISE EXCEPTION 'tmdbq_metrics_add: every name must be non-empty and every delta >= 0'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  INSERT INTO tmdbq_metrics AS m (name, label, value)
  SELECT u.n, coalesce(u.l, ''), sum(u.d)
    FROM unnest(p_names, p_labels, p_deltas) AS u(n, l, d)
   WHERE u.d > 0
   GROUP BY u.n, coalesce(u.l, '')
   ORDER BY u.n, coalesce(u.l, '')
  ON CONFLICT (name, label)
  DO UPDATE SET value = m.value + excluded.value, updated_at = now();
  GET DIAGNOSTICS changed = ROW_COUNT;
  RETURN changed;
END
$$;
