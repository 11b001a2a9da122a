-- 015: plans that stay right when the table's statistics are stale.
--
-- A queue table's status column changes faster than ANALYZE samples it. After a burst of
-- enqueues onto a table whose statistics show no pending rows (autovacuum analyzes it a
-- minute later at best), the planner took the specification's (status, inserted_at)
-- index for two statements of every finish, as it looked the more selective:
-- - the hand-on's search for the list's waiting operations read every pending row of the
--   table, so each finish cost time in proportion to the backlog (bench/peers: a backlog
--   of 20,000 drained at 870 operations a second, PostgreSQL at ~1.8 ms of CPU per
--   operation, 92,000 index entries read per operation);
-- - the finish's update found its row among every processing one, not by its id;
-- - marking published ids (after every publish of the producer, and of a consumer's
--   retries and hand-ons) read every pending row, not the ids' own.
--
-- The hand-on's index now names the pending status by what it is not: no index can
-- search on an inequality, so the (status, inserted_at) index cannot serve the search,
-- while the predicate is proven from the same words in the query (the index holds the
-- same rows as before: the status check admits five values). The mark says pending the
-- same way, so only the primary key serves it. The finish reads its row by id alone and
-- decides in PL/pgSQL.
CREATE INDEX idx_queued_operations_list_waiting
    ON queued_list_operations (tmdb_list_id, seq)
 WHERE status NOT IN ('processing', 'completed', 'failed', 'cancelled')
   AND (handoff OR published_at IS NULL);
DROP INDEX idx_queued_operations_list_handon;

-- As in migration 013, but the pending status spelled as idx_queued_operations_list_waiting
-- spells it.
CREATE OR REPLACE FUNCTION tmdbq_handon(p_list INTEGER) RETURNS UUID[]
LANGUAGE plpgsql AS $$
DECLARE
  v_ids UUID[];
BEGIN
  SELECT array_agg(c.id ORDER BY c.seq) INTO v_ids
    FROM (SELECT q.id, q.seq FROM queued_list_operations q
           WHERE q.tmdb_list_id = p_list
             AND q.status NOT IN ('processing', 'completed', 'failed', 'cancelled')
             AND (q.handoff OR q.published_at IS NULL)
             AND (q.scheduled_for IS NULL OR q.scheduled_for <= clock_timestamp())
             AND NOT tmdbq_blocked(q.tmdb_list_id, q.seq, q.operation_type,
                                   q.operation_data)
           ORDER BY q.seq
           LIMIT 64) c;
  IF v_ids IS NOT NULL THEN
    UPDATE queued_list_operations q SET published_at = NULL, handoff = FALSE
     WHERE q.id = ANY (v_ids) AND (q.published_at IS NOT NULL OR q.handoff);
  END IF;
  RETURN coalesce(v_ids, '{}');
END
$$;

-- As in migration 008, but the row is locked and read by its id alone, and whether it is
-- still ours is decided here rather than in the update's WHERE.
CREATE OR REPLACE FUNCTION tmdbq_finish(p_id UUID, p_consumer TEXT, p_kind TEXT,
                                        p_result JSONB, p_error TEXT, p_error_kind TEXT,
                                        p_delay_ms BIGINT, p_count_retry BOOLEAN)
RETURNS TABLE (recorded BOOLEAN, next_ids UUID[])
LANGUAGE plpgsql AS $$
DECLARE
  v_list INTEGER;
  v_final BOOLEAN := p_kind IN ('completed', 'failed');
  v_now TIMESTAMP WITH TIME ZONE;
  v_row queued_list_operations%ROWTYPE;
BEGIN
  IF p_kind IS NULL OR p_kind NOT IN ('completed', 'failed', 'retry') THEN
    RAISE EXCEPTION 'tmdbq_finish: unknown outcome "%"', p_kind;
  END IF;
  recorded := FALSE;
  SELECT q.tmdb_list_id INTO v_list FROM queued_list_operations q WHERE q.id = p_id;
  IF NOT FOUND THEN
    RETURN NEXT;
    RETURN;
  END IF;
  IF v_list IS NOT NULL THEN
    PERFORM pg_advisory_xact_lock(1952542578, hashtext('l:' || v_list));
  END IF;
  SELECT * INTO v_row FROM queued_list_operations q WHERE q.id = p_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN NEXT;
    RETURN;
  END IF;
  IF v_row.status = 'processing' AND v_row.claimed_by = p_consumer THEN
    v_now := clock_timestamp();
    UPDATE queued_list_operations q
       SET status = CASE WHEN v_final THEN p_kind ELSE 'pending' END,
           result = CASE WHEN p_kind = 'completed' THEN p_result ELSE q.result END,
           error_message = CASE WHEN p_kind = 'completed' THEN NULL ELSE p_error END,
           error_kind = CASE WHEN p_kind = 'completed' THEN NULL ELSE p_error_kind END,
           retry_count = q.retry_count
                         + CASE WHEN NOT v_final AND p_count_retry THEN 1 ELSE 0 END,
           last_retry_at = CASE WHEN v_final THEN q.last_retry_at ELSE v_now END,
           scheduled_for = CASE WHEN v_final THEN q.scheduled_for
                                ELSE v_now + greatest(coalesce(p_delay_ms, 0), 0)
                                             * INTERVAL '1 millisecond' END,
           published_at = CASE WHEN v_final THEN q.published_at END,
           lease_expires_at = NULL,
           updated_at = v_now
     WHERE q.id = p_id;
    recorded := TRUE;
  ELSE
    -- Recorded already: the reply of an earlier try was lost with the connection.
    recorded := coalesce(v_row.claimed_by = p_consumer
                         AND v_row.lease_expires_at IS NULL
                         AND v_row.status
                             = CASE WHEN v_final THEN p_kind ELSE 'pending' END,
                         FALSE);
  END IF;
  IF recorded AND v_final AND v_list IS NOT NULL THEN
    next_ids := tmdbq_handon(v_list);
  END IF;
  RETURN NEXT;
END
$$;

-- As in migration 010, but pending spelled so that only the primary key can serve it.
CREATE OR REPLACE FUNCTION tmdbq_mark_published(p_ids UUID[]) RETURNS INTEGER
LANGUAGE plpgsql AS $$
DECLARE
  v_marked INTEGER;
BEGIN
  WITH c AS (SELECT q.id FROM queued_list_operations q
              WHERE q.id = ANY (p_ids)
                AND q.status NOT IN ('processing', 'completed', 'failed', 'cancelled')
                FOR UPDATE SKIP LOCKED),
       u AS (UPDATE queued_list_operations q SET published_at = now()
               FROM c WHERE q.id = c.id RETURNING 1)
  SELECT count(*)::INTEGER INTO v_marked FROM u;
  RETURN v_marked;
END
$$;
