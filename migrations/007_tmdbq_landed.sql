-- Brings a database that ran an earlier landed text of migration 002, 003 or 005 to the
-- schema today's texts of those files define. Those three were edited after they had
-- landed (002 at ebccf8c, 003 at 40717ed, 005 at fd74fb9); `tmdbq migrate` accepts the
-- checksum of a landed text (migrations/checksums.txt), and this file makes up the
-- difference. Every statement is idempotent: on a database that ran today's texts it
-- changes nothing.
--
-- What differs, and where it is made up:
-- - 002 before ebccf8c: no error_kind column and no constraint on it (here).
-- - 003 before 40717ed: no handoff column (here); tmdbq_next_unpublished, tmdbq_claim and
--   tmdbq_finish of that time, which migration 008 drops and makes again.
-- - 005 before fd74fb9: no tmdbq_lock_op, and tmdbq_retry_op, tmdbq_cancel_op and
--   tmdbq_process_op that lock by themselves: all but tmdbq_cancel_op (which 008 drops and
--   makes again, calling tmdbq_lock_op) are made here as in today's 005.
-- The columns end up after those the table had (a column cannot be moved): rows are read
-- by column name, never by position.

ALTER TABLE queued_list_operations
  ADD COLUMN IF NOT EXISTS error_kind TEXT,
  ADD COLUMN IF NOT EXISTS handoff BOOLEAN NOT NULL DEFAULT FALSE;

-- ADD CONSTRAINT has no IF NOT EXISTS. Migration 008 drops and adds it again, wider.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_constraint c
                  WHERE c.conrelid = 'queued_list_operations'::regclass
                    AND c.conname = 'queued_list_operations_error_kind_check') THEN
    ALTER TABLE queued_list_operations
      ADD CONSTRAINT queued_list_operations_error_kind_check
        CHECK (error_kind IN ('transient', 'permanent', 'credentials', 'deployment'));
  END IF;
END
$$;

-- The functions below are those of migration 005, word for word.

CREATE OR REPLACE FUNCTION tmdbq_lock_op(p_id UUID) RETURNS queued_list_operations
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

CREATE OR REPLACE FUNCTION tmdbq_process_op(p_id UUID)
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
