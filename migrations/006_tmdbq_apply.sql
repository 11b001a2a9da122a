-- `tmdbq apply`: the first step of a direct attempt, in one call (one round trip, one
-- transaction). Under the target's advisory lock (the key tmdbq_enqueue_batch uses, so it
-- serialises with enqueue, claim, finish and the control functions and cannot deadlock
-- with them) it deduplicates exactly as an enqueue does, then decides whether the
-- operation may go to TMDB now: only when nothing else of its list is pending or
-- processing (per-list order) and the queue is not paused (pause stops every TMDB write
-- that tmdbq makes, not only the consumers'). If so the row is inserted already
-- `processing`, claimed by p_consumer under a lease: the caller calls TMDB and records the
-- outcome with tmdbq_finish like a consumer; should it die first, the reaper's rescue
-- returns the row to pending when the lease ends. Otherwise the row is inserted `pending`,
-- an ordinary enqueue that the caller publishes.
-- The output columns are named so that none is a table column (see migration 005).

-- outcome: 'direct' (op is the new row, processing, claimed by p_consumer; user_session
-- and user_token are the user's credentials, NULL when there are none), 'queued' (op is a
-- new pending row; why says 'list_busy' or 'paused') or 'duplicate' (op is the pending
-- row this request duplicates; nothing was inserted).
CREATE FUNCTION tmdbq_apply_begin(p_type TEXT, p_user INTEGER, p_list INTEGER, p_data JSONB,
                                  p_consumer TEXT, p_lease_ms BIGINT)
RETURNS TABLE (outcome TEXT, why TEXT, user_session TEXT, user_token TEXT,
               op queued_list_operations)
LANGUAGE plpgsql AS $$
DECLARE
  v_key TEXT;
  v_latest RECORD;
  v_found BOOLEAN;
  v_direct BOOLEAN;
  v_now TIMESTAMP WITH TIME ZONE;
  v_row queued_list_operations%ROWTYPE;
BEGIN
  IF p_lease_ms IS NULL OR p_lease_ms < 1 OR p_consumer IS NULL OR p_consumer = '' THEN
    RAISE EXCEPTION 'tmdbq_apply_begin: lease must be positive and consumer not empty';
  END IF;
  IF p_type = 'create_list' THEN
    v_key := 'c:' || p_user || ':' || coalesce(p_data ->> 'name', '');
    p_list := NULL;
  ELSE
    v_key := 'l:' || p_list;
  END IF;
  PERFORM pg_advisory_xact_lock(1952542578, hashtext(v_key));

  -- The latest active operation on the target, as tmdbq_enqueue_batch finds it.
  IF p_type = 'create_list' THEN
    SELECT q.id, q.status, q.operation_type, q.tmdb_user_id, q.operation_data INTO v_latest
      FROM queued_list_operations q
     WHERE q.operation_type = 'create_list' AND q.tmdb_user_id = p_user
       AND q.operation_data ->> 'name' = p_data ->> 'name'
       AND q.status IN ('pending', 'processing')
     ORDER BY q.seq DESC LIMIT 1;
  ELSE
    SELECT q.id, q.status, q.operation_type, q.tmdb_user_id, q.operation_data INTO v_latest
      FROM queued_list_operations q
     WHERE q.tmdb_list_id = p_list AND q.status IN ('pending', 'processing')
     ORDER BY q.seq DESC LIMIT 1;
  END IF;
  v_found := FOUND;
  IF v_found AND v_latest.status = 'pending' AND v_latest.operation_type = p_type
     AND v_latest.tmdb_user_id = p_user
     AND tmdbq_same_operation(p_type, v_latest.operation_data, p_data) THEN
    SELECT * INTO v_row FROM queued_list_operations q WHERE q.id = v_latest.id;
    outcome := 'duplicate';
    op := v_row;
    RETURN NEXT;
    RETURN;
  END IF;

  -- create_list has no list to keep in order; any other type waits behind whatever of
  -- its list is active.
  v_direct := p_type = 'create_list' OR NOT v_found;
  IF EXISTS (SELECT 1 FROM tmdbq_control c WHERE c.paused) THEN
    v_direct := FALSE;
    why := 'paused';
  ELSIF NOT v_direct THEN
    why := 'list_busy';
  END IF;
  v_now := clock_timestamp();
  INSERT INTO queued_list_operations (operation_type, tmdb_user_id, tmdb_list_id,
                                      operation_data, status, claimed_by, lease_expires_at,
                                      inserted_at, updated_at)
  VALUES (p_type, p_user, p_list, p_data,
          CASE WHEN v_direct THEN 'processing' ELSE 'pending' END,
          CASE WHEN v_direct THEN p_consumer END,
          CASE WHEN v_direct THEN v_now + p_lease_ms * INTERVAL '1 millisecond' END,
          v_now, v_now)
  RETURNING * INTO v_row;
  IF v_direct THEN
    SELECT c.session_id, c.access_token INTO user_session, user_token
      FROM tmdb_user_credentials c WHERE c.tmdb_user_id = p_user;
    outcome := 'direct';
  ELSE
    outcome := 'queued';
  END IF;
  op := v_row;
  RETURN NEXT;
END
$$;
