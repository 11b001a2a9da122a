-- One definition for each step of an operation's life that was written twice.
--
-- Failed -> pending: `tmdbq retry` (tmdbq_retry_op, migration 005) took the list's lock
-- and gave the row a new seq; the revival of a user's credential failures by `tmdbq
-- session set` did neither, so a revived row kept its old seq and could be claimed while
-- a later operation of its list that it conflicts with was still running. Both now go
-- through tmdbq_requeue_failed, under the list's lock, with a new seq: a revived or
-- retried operation is a new request, made now, after everything enqueued before it.
--
-- Marking rows published: the producer and the consumers marked with one statement, the
-- reaper's relay with another (tmdbq_relay_mark). tmdbq_mark_published is the one outbox
-- mark for all of them.

-- Back to pending with a full retry budget (retry_count 0; error, error kind, schedule,
-- last retry, hand-on and lease cleared), unpublished, with a new seq. The caller holds the
-- list's advisory lock and has checked the row is failed. Returns the row after the change.
CREATE FUNCTION tmdbq_requeue_failed(p_id UUID) RETURNS queued_list_operations
LANGUAGE plpgsql AS $$
DECLARE
  v_row queued_list_operations%ROWTYPE;
BEGIN
  UPDATE queued_list_operations q
     SET status = 'pending', retry_count = 0, error_message = NULL, error_kind = NULL,
         scheduled_for = NULL, last_retry_at = NULL, published_at = NULL, handoff = FALSE,
         lease_expires_at = NULL, claimed_by = NULL, seq = DEFAULT,
         updated_at = clock_timestamp()
   WHERE q.id = p_id
  RETURNING * INTO v_row;
  RETURN v_row;
END
$$;

-- As in migration 005, on tmdbq_requeue_failed.
CREATE OR REPLACE FUNCTION tmdbq_retry_op(p_id UUID)
RETURNS TABLE (outcome TEXT, op queued_list_operations)
LANGUAGE plpgsql AS $$
DECLARE
  v_row queued_list_operations%ROWTYPE;
BEGIN
  v_row := tmdbq_lock_op(p_id);
  IF v_row.id IS NULL THEN
    outcome := 'unknown';
    RETURN NEXT;
    RETURN;
  END IF;
  IF v_row.status <> 'failed' THEN
    outcome := 'refused';
    op := v_row;
    RETURN NEXT;
    RETURN;
  END IF;
  outcome := 'done';
  op := tmdbq_requeue_failed(p_id);
  RETURN NEXT;
END
$$;

-- After `tmdbq session set`: the user's failed operations whose error_kind is
-- 'credentials' go back to pending through tmdbq_requeue_failed, in their old seq order
-- (so they keep their order among themselves), each list's lock taken first, in sorted
-- key order (the order tmdbq_enqueue_batch uses, so this cannot deadlock with it).
-- Returns their ids in their new seq order, for the caller to publish.
CREATE FUNCTION tmdbq_retry_credentials(p_user INTEGER) RETURNS SETOF UUID
LANGUAGE plpgsql AS $$
DECLARE
  v_key TEXT;
  v_id UUID;
BEGIN
  FOR v_key IN
    SELECT DISTINCT 'l:' || q.tmdb_list_id FROM queued_list_operations q
     WHERE q.tmdb_user_id = p_user AND q.status = 'failed'
       AND q.error_kind = 'credentials' AND q.tmdb_list_id IS NOT NULL
     ORDER BY 1
  LOOP
    PERFORM pg_advisory_xact_lock(1952542578, hashtext(v_key));
  END LOOP;
  FOR v_id IN
    SELECT q.id FROM queued_list_operations q
     WHERE q.tmdb_user_id = p_user AND q.status = 'failed'
       AND q.error_kind = 'credentials'
     ORDER BY q.seq
       FOR UPDATE
  LOOP
    PERFORM tmdbq_requeue_failed(v_id);
    RETURN NEXT v_id;
  END LOOP;
END
$$;

-- The outbox's mark: the broker confirmed a publish of these ids. Pending rows among them
-- get published_at = now(); rows another transaction holds right now are skipped rather
-- than waited for (their holder, a claim or a finish naming them for hand-on, takes the
-- list lock first, and waiting here in id order could deadlock); a row left unmarked
-- costs at most one more publish by the relay. Returns how many were marked.
CREATE FUNCTION tmdbq_mark_published(p_ids UUID[]) RETURNS INTEGER
-- plpgsql, so that a session plans it once (it runs after every publish).
LANGUAGE plpgsql AS $$
DECLARE
  v_marked INTEGER;
BEGIN
  WITH c AS (SELECT q.id FROM queued_list_operations q
              WHERE q.id = ANY (p_ids) AND q.status = 'pending'
                FOR UPDATE SKIP LOCKED),
       u AS (UPDATE queued_list_operations q SET published_at = now()
               FROM c WHERE q.id = c.id RETURNING 1)
  SELECT count(*)::INTEGER INTO v_marked FROM u;
  RETURN v_marked;
END
$$;

DROP FUNCTION tmdbq_relay_mark(UUID[]);
