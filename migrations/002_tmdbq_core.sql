-- What the whole system needs beyond the specification's table: the outbox marker, the
-- enqueue order, the consumer's lease, TMDB's result, integrity checks, the per-user TMDB
-- credentials, the pause switch, the registry of live consumers and reapers, and the
-- race-free deduplicating enqueue.

ALTER TABLE queued_list_operations
  ALTER COLUMN retry_count SET NOT NULL,
  ALTER COLUMN status SET NOT NULL,
  -- enqueue order: operations on one list take effect in seq order
  ADD COLUMN seq BIGINT GENERATED ALWAYS AS IDENTITY,
  -- set once the broker confirmed a publish; NULL rows are the reaper's relay work
  ADD COLUMN published_at TIMESTAMP WITH TIME ZONE,
  -- TMDB's answer on success (e.g. {"list_id":123} for create_list)
  ADD COLUMN result JSONB,
  -- a processing row belongs to claimed_by until lease_expires_at
  ADD COLUMN lease_expires_at TIMESTAMP WITH TIME ZONE,
  ADD COLUMN claimed_by TEXT,
  -- what kind of error error_message describes, so a fix can target it: `credentials`
  -- failures of a user are retried when `tmdbq session set` gives new ones
  ADD COLUMN error_kind TEXT,
  ADD CONSTRAINT queued_list_operations_status_check
    CHECK (status IN ('pending', 'processing', 'completed', 'failed', 'cancelled')),
  ADD CONSTRAINT queued_list_operations_type_check
    CHECK (operation_type IN ('create_list', 'update_list', 'delete_list', 'clear_list',
                              'add_movie', 'remove_movie')),
  ADD CONSTRAINT queued_list_operations_list_check
    CHECK (operation_type = 'create_list' OR tmdb_list_id IS NOT NULL),
  ADD CONSTRAINT queued_list_operations_data_check
    CHECK (jsonb_typeof(operation_data) = 'object'),
  ADD CONSTRAINT queued_list_operations_retry_check CHECK (retry_count >= 0),
  ADD CONSTRAINT queued_list_operations_error_kind_check
    CHECK (error_kind IN ('transient', 'permanent', 'credentials', 'deployment'));

-- Active operations of a list in order: deduplication and per-list ordering.
CREATE INDEX idx_queued_operations_list_active ON queued_list_operations (tmdb_list_id, seq)
  WHERE status IN ('pending', 'processing');
-- Active create_list operations of a user by name: their deduplication.
CREATE INDEX idx_queued_operations_create_active
  ON queued_list_operations (tmdb_user_id, (operation_data ->> 'name'), seq)
  WHERE operation_type = 'create_list' AND status IN ('pending', 'processing');
-- The relay: pending rows never confirmed by the broker.
CREATE INDEX idx_queued_operations_unpublished ON queued_list_operations (seq)
  WHERE status = 'pending' AND published_at IS NULL;
-- The rescue: processing rows by lease.
CREATE INDEX idx_queued_operations_lease ON queued_list_operations (lease_expires_at)
  WHERE status = 'processing';
-- `tmdbq failed` (newest first) and the cleanup of finished rows, both by updated_at.
CREATE INDEX idx_queued_operations_failed ON queued_list_operations (updated_at)
  WHERE status = 'failed';
CREATE INDEX idx_queued_operations_finished ON queued_list_operations (updated_at)
  WHERE status IN ('completed', 'cancelled');

-- Per-user TMDB credentials, filled by `tmdbq session set`. Secrets: never printed.
CREATE TABLE tmdb_user_credentials (
  tmdb_user_id INTEGER PRIMARY KEY CHECK (tmdb_user_id > 0),
  session_id TEXT NOT NULL CHECK (session_id <> ''),
  access_token TEXT CHECK (access_token <> ''),
  created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
);

-- One row: the pause switch that every consumer follows (it survives restarts).
CREATE TABLE tmdbq_control (
  id BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
  paused BOOLEAN NOT NULL DEFAULT FALSE,
  changed_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
);
INSERT INTO tmdbq_control DEFAULT VALUES;

-- Live consumers report here (heartbeat); `tmdbq status` reads it.
CREATE TABLE tmdbq_consumers (
  consumer_id TEXT PRIMARY KEY,
  host TEXT NOT NULL,
  pid INTEGER NOT NULL,
  started_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  last_seen_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  processed BIGINT NOT NULL DEFAULT 0,
  failed BIGINT NOT NULL DEFAULT 0,
  in_flight INTEGER NOT NULL DEFAULT 0
);

-- Reapers report here; the leader holds an advisory lock and records its sweeps.
CREATE TABLE tmdbq_reapers (
  reaper_id TEXT PRIMARY KEY,
  host TEXT NOT NULL,
  pid INTEGER NOT NULL,
  started_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  last_seen_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  is_leader BOOLEAN NOT NULL DEFAULT FALSE,
  last_sweep_at TIMESTAMP WITH TIME ZONE,
  last_sweep JSONB,
  last_cleanup_at TIMESTAMP WITH TIME ZONE
);

-- Whether b is the same operation as the pending a, given the same type, user and target.
-- update_list compares all its data, so a different update is never swallowed.
CREATE FUNCTION tmdbq_same_operation(p_type TEXT, a JSONB, b JSONB) RETURNS BOOLEAN
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE p_type
    WHEN 'add_movie' THEN a -> 'movie_id' = b -> 'movie_id'
    WHEN 'remove_movie' THEN a -> 'movie_id' = b -> 'movie_id'
    WHEN 'create_list' THEN a -> 'name' = b -> 'name'
    WHEN 'update_list' THEN a = b
    ELSE TRUE
  END
$$;

-- Enqueue a batch: p_ops is a JSON array of {"type","user","list","data"} already validated
-- by the client. Returns, per element in order, the id of the new row or of the pending row
-- it duplicates. An operation duplicates only the LATEST active (pending or processing)
-- operation on its target (the list; for create_list the user's list name), and only when
-- that one is still pending: add 550, remove 550, add 550 stays three operations.
-- Race-free: each target's check and insert run under a transaction-scoped advisory lock,
-- so concurrent identical enqueues from many processes serialise and yield one row. The
-- locks are taken in sorted order up front, so two batches cannot deadlock.
CREATE FUNCTION tmdbq_enqueue_batch(p_ops JSONB)
RETURNS TABLE (ord INTEGER, op_id UUID, duplicate BOOLEAN)
LANGUAGE plpgsql AS $$
DECLARE
  v_key TEXT;
  v_elem JSONB;
  v_ord BIGINT;
  v_type TEXT;
  v_user INTEGER;
  v_list INTEGER;
  v_data JSONB;
  v_latest RECORD;
BEGIN
  FOR v_key IN
    SELECT DISTINCT CASE WHEN e ->> 'type' = 'create_list'
                         THEN 'c:' || (e ->> 'user') || ':' || coalesce(e -> 'data' ->> 'name', '')
                         ELSE 'l:' || (e ->> 'list') END
    FROM jsonb_array_elements(p_ops) AS e
    ORDER BY 1
  LOOP
    PERFORM pg_advisory_xact_lock(1952542578, hashtext(v_key));
  END LOOP;

  FOR v_elem, v_ord IN SELECT e, n FROM jsonb_array_elements(p_ops) WITH ORDINALITY AS t(e, n)
  LOOP
    v_type := v_elem ->> 'type';
    v_user := (v_elem ->> 'user')::INTEGER;
    v_list := (v_elem ->> 'list')::INTEGER;
    v_data := v_elem -> 'data';
    IF v_type = 'create_list' THEN
      SELECT q.id, q.status, q.operation_type, q.tmdb_user_id, q.operation_data INTO v_latest
        FROM queued_list_operations q
       WHERE q.operation_type = 'create_list' AND q.tmdb_user_id = v_user
         AND q.operation_data ->> 'name' = v_data ->> 'name'
         AND q.status IN ('pending', 'processing')
       ORDER BY q.seq DESC LIMIT 1;
    ELSE
      SELECT q.id, q.status, q.operation_type, q.tmdb_user_id, q.operation_data INTO v_latest
        FROM queued_list_operations q
       WHERE q.tmdb_list_id = v_list AND q.status IN ('pending', 'processing')
       ORDER BY q.seq DESC LIMIT 1;
    END IF;
    ord := v_ord::INTEGER;
    IF FOUND AND v_latest.status = 'pending' AND v_latest.operation_type = v_type
       AND v_latest.tmdb_user_id = v_user
       AND tmdbq_same_operation(v_type, v_latest.operation_data, v_data) THEN
      op_id := v_latest.id;
      duplicate := TRUE;
    ELSE
      INSERT INTO queued_list_operations (operation_type, tmdb_user_id, tmdb_list_id,
                                          operation_data)
      VALUES (v_type, v_user, v_list, v_data)
      RETURNING id INTO op_id;
      duplicate := FALSE;
    END IF;
    RETURN NEXT;
  END LOOP;
END
$$;
