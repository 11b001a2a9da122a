-- The consumer's side: claim an operation under a lease, and record how it ended, each in
-- one call (one round trip, one transaction). Both take the list's advisory lock, the key
-- tmdbq_enqueue_batch uses, before any row lock, so a claim, a finish and an enqueue on one
-- list serialise and cannot deadlock. That lock is also what makes per-list ordering
-- airtight: a claim that finds an earlier active operation marks itself unpublished, and the
-- earlier one's finish, which cannot run in between, sees that mark and hands it on.
-- Times come from clock_timestamp() taken after the locks: now() would be the moment the
-- call started, before any wait for a lock, and leases are measured in milliseconds.

-- The operation to publish after an operation on list p_list ended: the lowest-seq active
-- one, when it is pending and unpublished (a blocked delivery dropped it); else NULL.
CREATE FUNCTION tmdbq_next_unpublished(p_list INTEGER) RETURNS UUID
LANGUAGE sql AS $$
  SELECT CASE WHEN q.status = 'pending' AND q.published_at IS NULL THEN q.id END
    FROM queued_list_operations q
   WHERE q.tmdb_list_id = p_list AND q.status IN ('pending', 'processing')
   ORDER BY q.seq
   LIMIT 1
$$;

-- Try to claim p_id for p_consumer with a lease of p_lease_ms. One row: result is 'gone',
-- 'paused', 'leased' (lease_left_ms set), 'abandoned' (next_id maybe set), 'early',
-- 'blocked' or 'claimed' (op is the row after the claim, with the user's credentials and
-- rescued). Only 'claimed', 'abandoned' and 'blocked' change the row.
CREATE FUNCTION tmdbq_claim(p_id UUID, p_consumer TEXT, p_lease_ms BIGINT,
                            p_max_retries INTEGER)
RETURNS TABLE (result TEXT, lease_left_ms BIGINT, next_id UUID, rescued BOOLEAN,
               session_id TEXT, access_token TEXT, op queued_list_operations)
LANGUAGE plpgsql AS $$
DECLARE
  v_list INTEGER;
  v_row queued_list_operations%ROWTYPE;
  v_now TIMESTAMP WITH TIME ZONE;
BEGIN
  IF p_lease_ms IS NULL OR p_lease_ms < 1 OR p_max_retries IS NULL OR p_max_retries < 0 THEN
    RAISE EXCEPTION 'tmdbq_claim: lease must be positive and max retries not negative';
  END IF;
  lease_left_ms := 0;
  rescued := FALSE;

  -- A row's list never changes, so it may be read before the locks; taking the list lock
  -- before the row lock is the order enqueue and finish use.
  SELECT q.tmdb_list_id INTO v_list FROM queued_list_operations q WHERE q.id = p_id;
  IF NOT FOUND THEN
    result := 'gone';
    RETURN NEXT;
    RETURN;
  END IF;
  IF v_list IS NOT NULL THEN
    PERFORM pg_advisory_xact_lock(1952542578, hashtext('l:' || v_list));
  END IF;
  SELECT * INTO v_row FROM queued_list_operations q WHERE q.id = p_id FOR UPDATE;
  IF NOT FOUND OR v_row.status IN ('completed', 'failed', 'cancelled') THEN
    result := 'gone';
    RETURN NEXT;
    RETURN;
  END IF;
  IF EXISTS (SELECT 1 FROM tmdbq_control c WHERE c.paused) THEN
    result := 'paused';
    RETURN NEXT;
    RETURN;
  END IF;
  v_now := clock_timestamp();

  IF v_row.status = 'processing' THEN
    IF v_row.lease_expires_at > v_now THEN
      result := 'leased';
      lease_left_ms := greatest(1, ceil(extract(epoch FROM v_row.lease_expires_at - v_now)
                                        * 1000))::BIGINT;
      RETURN NEXT;
      RETURN;
    END IF;
    -- The holder died (or a row was left processing without a lease): that attempt counts.
    IF v_row.retry_count + 1 > p_max_retries THEN
      UPDATE queued_list_operations q
         SET status = 'failed', error_kind = 'transient', lease_expires_at = NULL,
             updated_at = v_now,
             error_message = format('abandoned: the consumer holding it stopped before '
                                    'finishing and no retries are left (%s of %s spent)',
                                    v_row.retry_count, p_max_retries)
                             || coalesce('; last error: ' || v_row.error_message, '')
       WHERE q.id = p_id;
      IF v_list IS NOT NULL THEN
        next_id := tmdbq_next_unpublished(v_list);
      END IF;
      result := 'abandoned';
      RETURN NEXT;
      RETURN;
    END IF;
    -- It was claimed once already, so it is due and no earlier operation is active: the
    -- checks below do not apply.
    rescued := TRUE;
  ELSE
    IF v_row.scheduled_for > v_now + INTERVAL '1 second' THEN
      result := 'early';
      RETURN NEXT;
      RETURN;
    END IF;
    IF v_list IS NOT NULL AND EXISTS (
         SELECT 1 FROM queued_list_operations q
          WHERE q.tmdb_list_id = v_list AND q.seq < v_row.seq
            AND q.status IN ('pending', 'processing')) THEN
      -- No live message any more (the caller drops it): the earlier one's finish
      -- publishes this row, and until then the reaper's relay may too.
      UPDATE queued_list_operations q SET published_at = NULL WHERE q.id = p_id;
      result := 'blocked';
      RETURN NEXT;
      RETURN;
    END IF;
  END IF;

  UPDATE queued_list_operations q
     SET status = 'processing', claimed_by = p_consumer,
         lease_expires_at = v_now + p_lease_ms * INTERVAL '1 millisecond',
         retry_count = q.retry_count + CASE WHEN rescued THEN 1 ELSE 0 END,
         updated_at = v_now
   WHERE q.id = p_id
  RETURNING * INTO v_row;
  SELECT c.session_id, c.access_token INTO session_id, access_token
    FROM tmdb_user_credentials c WHERE c.tmdb_user_id = v_row.tmdb_user_id;
  op := v_row;
  result := 'claimed';
  RETURN NEXT;
END
$$;

-- Record the outcome p_kind ('completed', 'failed' or 'retry') of p_id, only while it is
-- processing under p_consumer (a row rescued and reclaimed by another consumer is not
-- overwritten: recorded false). next_id: see tmdbq_next_unpublished; only for a final
-- outcome, which is what unblocks the list's next operation.
CREATE FUNCTION tmdbq_finish(p_id UUID, p_consumer TEXT, p_kind TEXT, p_result JSONB,
                             p_error TEXT, p_error_kind TEXT, p_delay_ms BIGINT,
                             p_count_retry BOOLEAN)
RETURNS TABLE (recorded BOOLEAN, next_id UUID)
LANGUAGE plpgsql AS $$
DECLARE
  v_list INTEGER;
  v_final BOOLEAN := p_kind IN ('completed', 'failed');
  v_now TIMESTAMP WITH TIME ZONE;
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
         -- the retry needs a new message, which the caller publishes and marks
         published_at = CASE WHEN v_final THEN q.published_at END,
         lease_expires_at = NULL,
         updated_at = v_now
   WHERE q.id = p_id AND q.status = 'processing' AND q.claimed_by = p_consumer;
  recorded := FOUND;
  IF recorded AND v_final AND v_list IS NOT NULL THEN
    next_id := tmdbq_next_unpublished(v_list);
  END IF;
  RETURN NEXT;
END
$$;
