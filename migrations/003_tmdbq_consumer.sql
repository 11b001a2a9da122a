-- The consumer's side: claim an operation under a lease, and record how it ended, each in
-- one call (one round trip, one transaction). Both take the list's advisory lock, the key
-- tmdbq_enqueue_batch uses, before any row lock, so a claim, a finish and an enqueue on one
-- list serialise and cannot deadlock. That lock is also what makes per-list ordering
-- airtight: a claim that finds an earlier active operation marks itself for hand-on
-- (handoff), and the earlier one's finish, which cannot run in between, sees that mark
-- and hands it on.
-- Times come from clock_timestamp() taken after the locks: now() would be the moment the
-- call started, before any wait for a lock, and leases are measured in milliseconds.

-- A blocked claim dropped this row's message: the list's earlier operation, when it ends,
-- names it to be published again. A flag of its own rather than published_at = NULL:
-- the producer marks a row published only after the broker's confirm, and that mark may
-- land after the blocked claim (which then saw the very message it confirms); it must not
-- hide the row from its hand-on. Cleared by a successful claim.
ALTER TABLE queued_list_operations
  ADD COLUMN handoff BOOLEAN NOT NULL DEFAULT FALSE;

-- The operation to publish after an operation on list p_list ended: the lowest-seq active
-- one, when it is pending and either waits for a hand-on (a blocked delivery dropped it)
-- or is unpublished; else NULL. The row named gets published_at = NULL: no message of it
-- is live until the caller publishes and marks it, and should the caller die first the
-- reaper's relay finds it (handoff stays set until a claim succeeds).
CREATE FUNCTION tmdbq_next_unpublished(p_list INTEGER) RETURNS UUID
LANGUAGE plpgsql AS $$
DECLARE
  v_id UUID;
BEGIN
  SELECT CASE WHEN q.status = 'pending' AND (q.handoff OR q.published_at IS NULL)
              THEN q.id END INTO v_id
    FROM queued_list_operations q
   WHERE q.tmdb_list_id = p_list AND q.status IN ('pending', 'processing')
   ORDER BY q.seq
   LIMIT 1;
  IF v_id IS NOT NULL THEN
    UPDATE queued_list_operations q SET published_at = NULL WHERE q.id = v_id;
  END IF;
  RETURN v_id;
END
$$;

-- Try to claim p_id for p_consumer with a lease of p_lease_ms. One row: result is
-- 'unknown' (no such row: the message names nothing this database holds), 'gone'
-- (completed, failed or cancelled; next_id maybe set), 'paused', 'leased' (wait_ms: the lease left),
-- 'early' (wait_ms: the time until it is due), 'abandoned' (next_id maybe set),
-- 'blocked' or 'claimed' (op is the row after the claim, with the user's credentials and
-- rescued). Only 'claimed', 'abandoned' and 'blocked' change the row.
CREATE FUNCTION tmdbq_claim(p_id UUID, p_consumer TEXT, p_lease_ms BIGINT,
                            p_max_retries INTEGER)
RETURNS TABLE (result TEXT, wait_ms BIGINT, next_id UUID, rescued BOOLEAN,
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
  wait_ms := 0;
  rescued := FALSE;

  -- A row's list never changes, so it may be read before the locks; taking the list lock
  -- before the row lock is the order enqueue and finish use.
  SELECT q.tmdb_list_id INTO v_list FROM queued_list_operations q WHERE q.id = p_id;
  IF NOT FOUND THEN
    result := 'unknown';
    RETURN NEXT;
    RETURN;
  END IF;
  IF v_list IS NOT NULL THEN
    PERFORM pg_advisory_xact_lock(1952542578, hashtext('l:' || v_list));
  END IF;
  -- Not found now: deleted in between, which only the cleanup of finished rows does.
  SELECT * INTO v_row FROM queued_list_operations q WHERE q.id = p_id FOR UPDATE;
  IF NOT FOUND OR v_row.status IN ('completed', 'failed', 'cancelled') THEN
    -- A finished row whose message comes again: most often the redelivery of a consumer
    -- that died after recording the outcome and before acking, so perhaps also before
    -- publishing the hand-on. Name the list's waiting operation again (a duplicate
    -- message is harmless: only one claim succeeds).
    IF FOUND AND v_list IS NOT NULL THEN
      next_id := tmdbq_next_unpublished(v_list);
    END IF;
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

  IF v_row.status = 'processing' AND v_row.claimed_by = p_consumer THEN
    -- Our own claim, whose reply was lost with the connection: consumer ids are unique
    -- per process and worker, and a worker runs one operation at a time, so nothing of
    -- ours is executing it. Claimed again with a fresh lease; no attempt was made, so
    -- nothing is counted, and like a rescue it skips the checks below.
    NULL;
  ELSIF v_row.status = 'processing' THEN
    IF v_row.lease_expires_at > v_now THEN
      result := 'leased';
      wait_ms := greatest(1, ceil(extract(epoch FROM v_row.lease_expires_at - v_now)
                                  * 1000))::BIGINT;
      RETURN NEXT;
      RETURN;
    END IF;
    -- The holder died (or a row was left processing without a lease): that attempt counts.
    IF v_row.retry_count + 1 > p_max_retries THEN
      -- claimed_by names who failed it, so the dead holder's late finish is not taken
      -- for its own (see tmdbq_finish).
      UPDATE queued_list_operations q
         SET status = 'failed', error_kind = 'transient', lease_expires_at = NULL,
             claimed_by = p_consumer, updated_at = v_now,
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
    -- A delayed message comes back when its queue's TTL ends, which starts after the
    -- row's scheduled_for was set: only clock skew makes it early. 50 ms absorbs
    -- rounding; a message earlier than that is published again for the time left
    -- (wait_ms).
    IF v_row.scheduled_for > v_now + INTERVAL '50 milliseconds' THEN
      result := 'early';
      wait_ms := greatest(1, ceil(extract(epoch FROM v_row.scheduled_for - v_now)
                                  * 1000))::BIGINT;
      RETURN NEXT;
      RETURN;
    END IF;
    IF v_list IS NOT NULL AND EXISTS (
         SELECT 1 FROM queued_list_operations q
          WHERE q.tmdb_list_id = v_list AND q.seq < v_row.seq
            AND q.status IN ('pending', 'processing')) THEN
      -- No live message any more (the caller drops it): the earlier one's finish hands
      -- this row on.
      UPDATE queued_list_operations q SET handoff = TRUE WHERE q.id = p_id;
      result := 'blocked';
      RETURN NEXT;
      RETURN;
    END IF;
  END IF;

  UPDATE queued_list_operations q
     SET status = 'processing', claimed_by = p_consumer, handoff = FALSE,
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
-- overwritten: recorded false). Idempotent: when the row already shows this outcome under
-- p_consumer with its lease cleared, the call is a repeat of one that committed but whose
-- reply was lost (PostgreSQL restarted), and it answers as that one did, recorded true
-- and next_id computed again, so the caller still publishes the retry or the hand-on.
-- next_id: see tmdbq_next_unpublished; only for a final outcome, which is what unblocks
-- the list's next operation.
CREATE FUNCTION tmdbq_finish(p_id UUID, p_consumer TEXT, p_kind TEXT, p_result JSONB,
                             p_error TEXT, p_error_kind TEXT, p_delay_ms BIGINT,
                             p_count_retry BOOLEAN)
RETURNS TABLE (recorded BOOLEAN, next_id UUID)
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
  IF NOT recorded THEN
    -- What the first call left: this outcome's status under p_consumer, lease cleared. A
    -- rescue or an abandonment names its new consumer in claimed_by, so a late finish
    -- of a holder presumed dead never matches.
    SELECT * INTO v_row FROM queued_list_operations q WHERE q.id = p_id;
    recorded := coalesce(FOUND AND v_row.claimed_by = p_consumer
                         AND v_row.lease_expires_at IS NULL
                         AND v_row.status
                             = CASE WHEN v_final THEN p_kind ELSE 'pending' END,
                         FALSE);
  END IF;
  IF recorded AND v_final AND v_list IS NOT NULL THEN
    next_id := tmdbq_next_unpublished(v_list);
  END IF;
  RETURN NEXT;
END
$$;
