-- A failed operation can be cancelled: the operator gives it up for good. It leaves the
-- failed list (`tmdbq failed`, the dashboard) as cancelled, and `tmdbq session set` no
-- longer revives it when it failed for lack of credentials. A failed operation holds up
-- nothing of its list (only pending and processing ones do, tmdbq_blocked), so there is
-- nothing to hand on. Pending operations are cancelled as in migration 008.
CREATE OR REPLACE FUNCTION tmdbq_cancel_op(p_id UUID)
RETURNS TABLE (outcome TEXT, next_ids UUID[], op queued_list_operations)
LANGUAGE plpgsql AS $$
DECLARE
  v_row queued_list_operations%ROWTYPE;
  v_was TEXT;
BEGIN
  v_row := tmdbq_lock_op(p_id);
  IF v_row.id IS NULL THEN
    outcome := 'unknown';
    RETURN NEXT;
    RETURN;
  END IF;
  IF v_row.status NOT IN ('pending', 'failed') THEN
    outcome := 'refused';
    op := v_row;
    RETURN NEXT;
    RETURN;
  END IF;
  v_was := v_row.status;
  UPDATE queued_list_operations q
     SET status = 'cancelled', handoff = FALSE, lease_expires_at = NULL,
         updated_at = clock_timestamp()
   WHERE q.id = p_id
  RETURNING * INTO v_row;
  IF v_was = 'pending' AND v_row.tmdb_list_id IS NOT NULL THEN
    next_ids := tmdbq_handon(v_row.tmdb_list_id);
  END IF;
  outcome := 'done';
  op := v_row;
  RETURN NEXT;
END
$$;
