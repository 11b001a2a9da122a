-- The operator's side: `tmdbq retry`, `cancel`, `process`, `pause` and `resume`. Each
-- change of an operation is one call of a function here (one round trip, one transaction)
-- that takes the list's advisory lock (the key tmdbq_enqueue_batch, tmdbq_claim and
-- tmdbq_finish use) before any row lock, so it serialises with enqueue, claim and finish
-- on that list and cannot deadlock with them. Times come from clock_timestamp() taken after
-- the locks, as in migration 003.
-- The output columns are named `outcome`, never after a table column, so that no name in
-- the bodies is ambiguous between a column and a PL/pgSQL variable.

-- The row p_id, locked for a change of its status after its list's advisory lock (the
-- order every status change uses; a row's list never changes, so it may be read before
-- the locks). All fields NULL when there is no such row.
CREATE FUNCTION tmdbq_lock_op(p_id UUID) RETURNS queued_list_operations
LANGUAGE plpgsql AS $$
DECLARE
  v_list INTEGER;
  v_row queued_list_operations%ROWTYPE;
BEGIN
  SELECT q.tmdb_list_id INTO v_list FROM queued_list_operations q WHERE q.id = p_id;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  IF v_list IS NOT NULL THEN
    PERFORM pg_advisory_xact_lock(1952542578, hashtext('l:' || v_list));
  END IF;
  SELECT * INTO v_row FROM queued_list_operations q WHERE q.id = p_id FOR UPDATE;
  RETURN v_row;
END
$$;

-- Retry p_id: only a failed operation, which goes back to pending with a full retry budget
-- (retry_count 0; error, error kind, schedule and last retry cleared), unpublished so that
-- the caller publishes it (and, should the caller die first, the reaper's relay does). It
-- takes a new seq: a retry is a new request, so it takes effect after every operation of
-- its list enqueued before it, and the list's ordering (a claim waits for every
-- lower-seq active operation) keeps holding even when later operations of the list are
-- running right now. outcome: 'unknown' (no such row; op NULL), 'refused' (op is the
-- unchanged row, whose status says why) or 'done' (op is the row after the change).
CREATE FUNCTION tmdbq_retry_op(p_id UUID)
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
  UPDATE queued_list_operations q
     SET status = 'pending', retry_count = 0, error_message = NULL, error_kind = NULL,
         scheduled_for = NULL, last_retry_at = NULL, published_at = NULL, handoff = FALSE,
         lease_expires_at = NULL, claimed_by = NULL, seq = DEFAULT,
         updated_at = clock_timestamp()
   WHERE q.id = p_id
  RETURNING * INTO v_row;
  outcome := 'done';
  op := v_row;
  RETURN NEXT;
END
$$;

-- Cancel p_id: only a pending operation. A consumer that receives its message later finds
-- it cancelled and drops it. Under the same lock, next_id names the list's operation that
-- waited behind it and now needs a message (tmdbq_next_unpublished: it is marked
-- unpublished, and the caller publishes it and marks it published). outcome as for
-- tmdbq_retry_op; next_id only with 'done'.
CREATE FUNCTION tmdbq_cancel_op(p_id UUID)
RETURNS TABLE (outcome TEXT, next_id UUID, op queued_list_operations)
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
  IF v_row.status <> 'pending' THEN
    outcome := 'refused';
    op := v_row;
    RETURN NEXT;
    RETURN;
  END IF;
  UPDATE queued_list_operations q
     SET status = 'cancelled', handoff = FALSE, lease_expires_at = NULL,
         updated_at = clock_timestamp()
   WHERE q.id = p_id
  RETURNING * INTO v_row;
  IF v_row.tmdb_list_id IS NOT NULL THEN
    next_id := tmdbq_next_unpublished(v_row.tmdb_list_id);
  END IF;
  outcome := 'done';
  op := v_row;
  RETURN NEXT;
END
$$;

-- Process p_id now: only a pending operation. A retry scheduled for later becomes due now
-- (scheduled_for = now when it was later; an unscheduled row keeps NULL), and the row is
-- marked unpublished for the caller to publish (the relay covers a caller that dies). An
-- earlier active operation of its list still goes first: a claim of this one waits for it.
-- outcome as for tmdbq_retry_op.
CREATE FUNCTION tmdbq_process_op(p_id UUID)
RETURNS TABLE (outcome TEXT, op queued_list_operations)
LANGUAGE plpgsql AS $$
DECLARE
  v_row queued_list_operations%ROWTYPE;
  v_now TIMESTAMP WITH TIME ZONE;
BEGIN
  v_row := tmdbq_lock_op(p_id);
  IF v_row.id IS NULL THEN
    outcome := 'unknown';
    RETURN NEXT;
    RETURN;
  END IF;
  IF v_row.status <> 'pending' THEN
    outcome := 'refused';
    op := v_row;
    RETURN NEXT;
    RETURN;
  END IF;
  v_now := clock_timestamp();
  UPDATE queued_list_operations q
     SET scheduled_for = CASE WHEN q.scheduled_for > v_now THEN v_now
                              ELSE q.scheduled_for END,
         published_at = NULL, updated_at = v_now
   WHERE q.id = p_id
  RETURNING * INTO v_row;
  outcome := 'done';
  op := v_row;
  RETURN NEXT;
END
$$;

-- tmdbq_process_op for every pending operation of user p_user: the rows after the change.
-- The lists' locks are taken up front in sorted key order, the order tmdbq_enqueue_batch
-- uses, so this cannot deadlock with a batch; an operation enqueued meanwhile on a list
-- not locked here is left alone (its enqueue publishes it anyway).
CREATE FUNCTION tmdbq_process_user(p_user INTEGER)
RETURNS SETOF queued_list_operations
LANGUAGE plpgsql AS $$
DECLARE
  v_key TEXT;
  v_keys TEXT[] := '{}';
  v_now TIMESTAMP WITH TIME ZONE;
BEGIN
  FOR v_key IN
    SELECT DISTINCT 'l:' || q.tmdb_list_id
      FROM queued_list_operations q
     WHERE q.tmdb_user_id = p_user AND q.status = 'pending' AND q.tmdb_list_id IS NOT NULL
     ORDER BY 1
  LOOP
    PERFORM pg_advisory_xact_lock(1952542578, hashtext(v_key));
    v_keys := v_keys || v_key;
  END LOOP;
  v_now := clock_timestamp();
  RETURN QUERY
    UPDATE queued_list_operations q
       SET scheduled_for = CASE WHEN q.scheduled_for > v_now THEN v_now
                                ELSE q.scheduled_for END,
           published_at = NULL, updated_at = v_now
     WHERE q.tmdb_user_id = p_user AND q.status = 'pending'
       AND (q.tmdb_list_id IS NULL OR 'l:' || q.tmdb_list_id = ANY (v_keys))
    RETURNING q.*;
END
$$;

-- Set the pause switch (its one row is made if missing). changed_at moves only when the
-- state changes, so it always says since when the queue is paused or running; calling it
-- again is harmless. outcome_changed says whether this call changed it.
CREATE FUNCTION tmdbq_set_paused(p_paused BOOLEAN)
RETURNS TABLE (outcome_paused BOOLEAN, outcome_since TIMESTAMP WITH TIME ZONE,
               outcome_changed BOOLEAN)
LANGUAGE plpgsql AS $$
DECLARE
  v_old BOOLEAN;
BEGIN
  IF p_paused IS NULL THEN
    RAISE EXCEPTION 'tmdbq_set_paused: paused must be true or false';
  END IF;
  INSERT INTO tmdbq_control (id) VALUES (TRUE) ON CONFLICT (id) DO NOTHING;
  SELECT c.paused INTO v_old FROM tmdbq_control c WHERE c.id FOR UPDATE;
  outcome_changed := v_old IS DISTINCT FROM p_paused;
  IF outcome_changed THEN
    UPDATE tmdbq_control c SET paused = p_paused, changed_at = clock_timestamp()
     WHERE c.id;
  END IF;
  SELECT c.paused, c.changed_at INTO outcome_paused, outcome_since
    FROM tmdbq_control c WHERE c.id;
  RETURN NEXT;
END
$$;
