-- The reaper's side (tmdbq-reaper): the outbox relay's candidates, the rescue of rows whose
-- lease expired, and the batched cleanup of finished rows. Only the leading reaper calls
-- them; the leader is whoever holds the session advisory lock 7451283304722002 (the
-- one-bigint key space, which never meets the two-int list locks), so leadership needs no
-- SQL here. Every change of a row's status takes the list's advisory lock (the key
-- tmdbq_enqueue_batch, tmdbq_claim and tmdbq_finish use) before the row lock.

-- Pending operations to publish, in seq order after p_after_seq (the caller pages through
-- them), at most p_limit: never published (or no longer, after a hand-on or a retry whose
-- publish failed), due, and unchanged for p_settle_ms, since whoever just changed one
-- (an enqueue, a consumer, a command) is publishing it right now. A row that is not due yet
-- waits until it is: a retry whose publish failed is relayed when its time comes.
-- Left out: a row with an earlier active operation on its list. Its message would only be
-- dropped as blocked, and that earlier operation hands it on when it ends (or, if that one
-- is itself stuck, the relay or the rescue moves it first).
CREATE FUNCTION tmdbq_relay_unpublished(p_after_seq BIGINT, p_settle_ms BIGINT,
                                        p_limit INTEGER)
RETURNS TABLE (op_id UUID, op_seq BIGINT)
LANGUAGE sql STABLE AS $$
  SELECT q.id, q.seq
    FROM queued_list_operations q
   WHERE q.status = 'pending' AND q.published_at IS NULL AND q.seq > p_after_seq
     AND (q.scheduled_for IS NULL OR q.scheduled_for <= now())
     AND q.updated_at < now() - p_settle_ms * INTERVAL '1 millisecond'
     AND NOT EXISTS (SELECT 1 FROM queued_list_operations e
                      WHERE e.tmdb_list_id = q.tmdb_list_id AND e.seq < q.seq
                        AND e.status IN ('pending', 'processing'))
   ORDER BY q.seq
   LIMIT p_limit
$$;

-- Pending operations that were published but whose message has probably been lost (a
-- classic retry queue's dead-lettering is at-most-once when the broker restarts; a queue
-- purged by hand): due, and both the due time (scheduled_for, else the publish) and the
-- last publish older than p_grace_ms, so one row is republished at most once per grace
-- period. Same paging and the same exclusion of blocked rows as tmdbq_relay_unpublished.
CREATE FUNCTION tmdbq_relay_overdue(p_after_seq BIGINT, p_grace_ms BIGINT, p_limit INTEGER)
RETURNS TABLE (op_id UUID, op_seq BIGINT)
LANGUAGE sql STABLE AS $$
  SELECT q.id, q.seq
    FROM queued_list_operations q
   WHERE q.status = 'pending' AND q.published_at IS NOT NULL AND q.seq > p_after_seq
     AND q.published_at < now() - p_grace_ms * INTERVAL '1 millisecond'
     AND coalesce(q.scheduled_for, q.published_at)
         < now() - p_grace_ms * INTERVAL '1 millisecond'
     AND NOT EXISTS (SELECT 1 FROM queued_list_operations e
                      WHERE e.tmdb_list_id = q.tmdb_list_id AND e.seq < q.seq
                        AND e.status IN ('pending', 'processing'))
   ORDER BY q.seq
   LIMIT p_limit
$$;

-- Record that the broker confirmed the relay's publishes of p_ids. Rows that another
-- transaction holds right now are skipped rather than waited for (no lock wait, no
-- deadlock with a claim or finish): one left unmarked is only relayed again. Returns how
-- many were marked.
CREATE FUNCTION tmdbq_relay_mark(p_ids UUID[]) RETURNS INTEGER
LANGUAGE sql AS $$
  WITH c AS (SELECT q.id FROM queued_list_operations q
              WHERE q.id = ANY (p_ids) AND q.status = 'pending'
                FOR UPDATE SKIP LOCKED),
       u AS (UPDATE queued_list_operations q SET published_at = now()
               FROM c WHERE q.id = c.id RETURNING 1)
  SELECT count(*)::INTEGER FROM u
$$;

-- Rescue up to p_limit processing rows whose lease expired (or that have none), oldest
-- lease first: the consumer holding each died, and that attempt counts. A row whose
-- retries allow it goes back to pending with retry_count + 1 and published_at NULL, for
-- the caller to publish ('rescued'); one out of retries ends failed with error_kind
-- transient ('abandoned', worded as tmdbq_claim words it), and next_id names its list's
-- operation waiting for a hand-on (tmdbq_next_unpublished), for the caller to publish.
-- claimed_by becomes p_reaper, so a late finish of the holder presumed dead never matches
-- (see tmdbq_finish). The lists' locks are all taken first, in sorted order (the order
-- tmdbq_enqueue_batch uses), then each row is locked and checked again: a consumer may
-- have finished or taken it over in between. One transaction for the batch: p_limit keeps
-- it short.
CREATE FUNCTION tmdbq_rescue_expired(p_reaper TEXT, p_max_retries INTEGER, p_limit INTEGER)
RETURNS TABLE (op_id UUID, outcome TEXT, next_id UUID)
LANGUAGE plpgsql AS $$
DECLARE
  v_ids UUID[];
  v_key TEXT;
  v_id UUID;
  v_row queued_list_operations%ROWTYPE;
  v_now TIMESTAMP WITH TIME ZONE;
BEGIN
  IF p_reaper IS NULL OR p_max_retries IS NULL OR p_max_retries < 0 OR p_limit IS NULL
     OR p_limit < 1 THEN
    RAISE EXCEPTION 'tmdbq_rescue_expired: reaper id, max retries >= 0 and limit >= 1 '
                    'are required';
  END IF;
  SELECT array_agg(c.id ORDER BY c.lease_expires_at NULLS FIRST, c.seq) INTO v_ids
    FROM (SELECT q.id, q.lease_expires_at, q.seq FROM queued_list_operations q
           WHERE q.status = 'processing'
             AND (q.lease_expires_at IS NULL OR q.lease_expires_at < clock_timestamp())
           ORDER BY q.lease_expires_at NULLS FIRST, q.seq
           LIMIT p_limit) c;
  IF v_ids IS NULL THEN
    RETURN;
  END IF;
  -- A row's list never changes, so the keys may be read before the locks.
  FOR v_key IN
    SELECT DISTINCT 'l:' || q.tmdb_list_id FROM queued_list_operations q
     WHERE q.id = ANY (v_ids) AND q.tmdb_list_id IS NOT NULL
     ORDER BY 1
  LOOP
    PERFORM pg_advisory_xact_lock(1952542578, hashtext(v_key));
  END LOOP;

  FOREACH v_id IN ARRAY v_ids LOOP
    SELECT * INTO v_row FROM queued_list_operations q WHERE q.id = v_id FOR UPDATE;
    v_now := clock_timestamp();
    -- Finished, taken over, or its lease renewed since the candidates were read.
    CONTINUE WHEN NOT FOUND OR v_row.status <> 'processing'
                  OR coalesce(v_row.lease_expires_at > v_now, FALSE);
    op_id := v_id;
    next_id := NULL;
    IF v_row.retry_count + 1 > p_max_retries THEN
      UPDATE queued_list_operations q
         SET status = 'failed', error_kind = 'transient', lease_expires_at = NULL,
             claimed_by = p_reaper, updated_at = v_now,
             error_message = format('abandoned: the consumer holding it stopped before '
                                    'finishing and no retries are left (%s of %s spent)',
                                    v_row.retry_count, p_max_retries)
                             || coalesce('; last holder: ' || v_row.claimed_by, '')
                             -- a TMDB error is worth keeping; our own rescue note is not
                             || CASE WHEN v_row.error_message LIKE 'rescued: %' THEN ''
                                     ELSE coalesce('; last error: ' || v_row.error_message,
                                                   '') END
       WHERE q.id = v_id;
      IF v_row.tmdb_list_id IS NOT NULL THEN
        next_id := tmdbq_next_unpublished(v_row.tmdb_list_id);
      END IF;
      outcome := 'abandoned';
    ELSE
      -- error_message says what happened to the attempt, like a retry's does; the
      -- holder stays named for whoever looks at the row.
      UPDATE queued_list_operations q
         SET status = 'pending', retry_count = q.retry_count + 1, last_retry_at = v_now,
             lease_expires_at = NULL, claimed_by = p_reaper, published_at = NULL,
             updated_at = v_now, error_kind = 'transient',
             error_message = format('rescued: the consumer holding it (%s) stopped before '
                                    'finishing and its lease expired',
                                    coalesce(v_row.claimed_by, 'unknown'))
       WHERE q.id = v_id;
      outcome := 'rescued';
    END IF;
    RETURN NEXT;
  END LOOP;
END
$$;

-- Delete up to p_limit completed or cancelled rows whose updated_at is older than
-- p_retention_ms, oldest first, skipping rows another transaction holds; returns how many.
-- Failed, pending and processing rows are never deleted by age. The caller repeats it,
-- one short transaction per batch, until it deletes fewer than p_limit: no statement
-- holds many row locks for long.
CREATE FUNCTION tmdbq_cleanup_batch(p_retention_ms BIGINT, p_limit INTEGER)
RETURNS INTEGER
LANGUAGE sql AS $$
  -- The ids as an array: whatever the plan's guess at p_limit, the delete then goes by the
  -- primary key, never by a scan of the table.
  WITH d AS (
    DELETE FROM queued_list_operations q
     WHERE q.id = ANY (ARRAY(
             SELECT c.id FROM queued_list_operations c
              WHERE c.status IN ('completed', 'cancelled')
                AND c.updated_at < now() - p_retention_ms * INTERVAL '1 millisecond'
              ORDER BY c.updated_at
              LIMIT p_limit
                FOR UPDATE SKIP LOCKED))
    RETURNING 1)
  SELECT count(*)::INTEGER FROM d
$$;
