-- TMDB's real ceiling: one request budget shared by every consumer, 429s that spend no
-- retry, and order only where it matters.
--
-- Order. Two operations on one list conflict only when their order can change the
-- result: add_movie and remove_movie of the same movie, and any pair in which one is
-- list-wide (create_list, update_list, clear_list, delete_list: a barrier that waits for
-- every earlier operation of its list, and that every later one waits for). A claim waits
-- only for an earlier active operation it conflicts with (tmdbq_blocked); when an
-- operation ends, every operation of its list that was waiting for it and is now free is
-- handed on (tmdbq_handon), not only the next one. The list's advisory lock still
-- serialises enqueue, claim, finish and the control functions, which is what makes the
-- hand-on airtight (see migration 003).
--
-- Budget. One row of tmdbq_rate per scope ('queue', or 'host:<name>' for per-host budgets)
-- holds the next free request slot. A consumer process leases a few slots at a time
-- (tmdbq_rate_lease: one statement for several TMDB requests), spaced at the caller's
-- interval, never more than a horizon ahead of now; a 429 anywhere sets a cool-down that
-- no slot is granted inside. Counts of requests and 429s per 10 s bucket, kept for an
-- hour, feed `tmdbq status`.

-- A consumer waiting out TMDB's rate limit keeps its claim; the row says so.
ALTER TABLE queued_list_operations
  DROP CONSTRAINT queued_list_operations_error_kind_check,
  ADD CONSTRAINT queued_list_operations_error_kind_check
    CHECK (error_kind IN ('transient', 'permanent', 'credentials', 'deployment',
                          'rate_limit'));

-- The two questions tmdbq_blocked asks, each answered from an index: an earlier active
-- barrier of the list, an earlier active add or remove of the same movie on the list.
CREATE INDEX idx_queued_operations_list_barriers ON queued_list_operations (tmdb_list_id, seq)
  WHERE status IN ('pending', 'processing')
    AND operation_type NOT IN ('add_movie', 'remove_movie');
CREATE INDEX idx_queued_operations_list_movie
  ON queued_list_operations (tmdb_list_id, (operation_data ->> 'movie_id'), seq)
  WHERE status IN ('pending', 'processing')
    AND operation_type IN ('add_movie', 'remove_movie');
-- The hand-on's candidates: pending rows of a list that wait for one or have no message.
CREATE INDEX idx_queued_operations_list_handon ON queued_list_operations (tmdb_list_id, seq)
  WHERE status = 'pending' AND (handoff OR published_at IS NULL);

-- Whether an operation of type p_type with data p_data at p_seq on list p_list must wait:
-- an earlier (lower seq) pending or processing operation of the list conflicts with it.
-- create_list (no list) never waits.
CREATE FUNCTION tmdbq_blocked(p_list INTEGER, p_seq BIGINT, p_type TEXT, p_data JSONB)
RETURNS BOOLEAN
-- plpgsql, not sql: a session keeps its plans, where an SQL function's body would be
-- planned again at every call of the claim (a third of the claim's cost).
LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF p_list IS NULL THEN
    RETURN FALSE;
  END IF;
  IF p_type IN ('add_movie', 'remove_movie') THEN
    RETURN EXISTS (SELECT 1 FROM queued_list_operations e
                    WHERE e.tmdb_list_id = p_list AND e.seq < p_seq
                      AND e.status IN ('pending', 'processing')
                      AND e.operation_type NOT IN ('add_movie', 'remove_movie'))
        OR EXISTS (SELECT 1 FROM queued_list_operations e
                    WHERE e.tmdb_list_id = p_list
                      AND (e.operation_data ->> 'movie_id') = (p_data ->> 'movie_id')
                      AND e.seq < p_seq
                      AND e.status IN ('pending', 'processing')
                      AND e.operation_type IN ('add_movie', 'remove_movie'));
  END IF;
  RETURN EXISTS (SELECT 1 FROM queued_list_operations e
                  WHERE e.tmdb_list_id = p_list AND e.seq < p_seq
                    AND e.status IN ('pending', 'processing'));
END
$$;

-- The operations of list p_list to publish now that one of its operations ended (or was
-- cancelled): pending, due, waiting for a hand-on (a blocked delivery dropped their
-- message) or without a message, and no longer blocked; at most 64, in seq order (the
-- relay publishes any beyond). They get published_at = NULL: no message of them is live
-- until the caller publishes and marks them, and should the caller die first the reaper's
-- relay finds them (handoff stays set until a claim succeeds). Called under the list's
-- advisory lock.
CREATE FUNCTION tmdbq_handon(p_list INTEGER) RETURNS UUID[]
LANGUAGE plpgsql AS $$
DECLARE
  v_ids UUID[];
BEGIN
  SELECT array_agg(c.id ORDER BY c.seq) INTO v_ids
    FROM (SELECT q.id, q.seq FROM queued_list_operations q
           WHERE q.tmdb_list_id = p_list AND q.status = 'pending'
             AND (q.handoff OR q.published_at IS NULL)
             AND (q.scheduled_for IS NULL OR q.scheduled_for <= clock_timestamp())
             AND NOT tmdbq_blocked(q.tmdb_list_id, q.seq, q.operation_type,
                                   q.operation_data)
           ORDER BY q.seq
           LIMIT 64) c;
  IF v_ids IS NOT NULL THEN
    UPDATE queued_list_operations q SET published_at = NULL
     WHERE q.id = ANY (v_ids) AND q.published_at IS NOT NULL;
  END IF;
  RETURN coalesce(v_ids, '{}');
END
$$;

-- Functions whose hand-on was one id now return them all (next_ids): dropped and made
-- again with that output. Their bodies are those of migrations 003, 004 and 005 but for
-- the hand-on and the conflict rule of the claim.
DROP FUNCTION tmdbq_claim(UUID, TEXT, BIGINT, INTEGER);
DROP FUNCTION tmdbq_finish(UUID, TEXT, TEXT, JSONB, TEXT, TEXT, BIGINT, BOOLEAN);
DROP FUNCTION tmdbq_cancel_op(UUID);
DROP FUNCTION tmdbq_rescue_expired(TEXT, INTEGER, INTEGER);
DROP FUNCTION tmdbq_next_unpublished(INTEGER);

-- As in migration 003, but 'blocked' only by an earlier conflicting operation, and
-- next_ids (the list's operations to publish) on 'gone' and 'abandoned'.
CREATE FUNCTION tmdbq_claim(p_id UUID, p_consumer TEXT, p_lease_ms BIGINT,
                            p_max_retries INTEGER)
RETURNS TABLE (result TEXT, wait_ms BIGINT, next_ids UUID[], rescued BOOLEAN,
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

  SELECT q.tmdb_list_id INTO v_list FROM queued_list_operations q WHERE q.id = p_id;
  IF NOT FOUND THEN
    result := 'unknown';
    RETURN NEXT;
    RETURN;
  END IF;
  IF v_list IS NOT NULL THEN
    PERFORM pg_advisory_xact_lock(1952542578, hashtext('l:' || v_list));
  END IF;
  SELECT * INTO v_row FROM queued_list_operations q WHERE q.id = p_id FOR UPDATE;
  IF NOT FOUND OR v_row.status IN ('completed', 'failed', 'cancelled') THEN
    -- Most often the redelivery of a consumer that died after recording the outcome and
    -- before handing on: name the list's waiting operations again.
    IF FOUND AND v_list IS NOT NULL THEN
      next_ids := tmdbq_handon(v_list);
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
    -- Our own claim, whose reply was lost with the connection (see migration 003).
    NULL;
  ELSIF v_row.status = 'processing' THEN
    IF v_row.lease_expires_at > v_now THEN
      result := 'leased';
      wait_ms := greatest(1, ceil(extract(epoch FROM v_row.lease_expires_at - v_now)
                                  * 1000))::BIGINT;
      RETURN NEXT;
      RETURN;
    END IF;
    IF v_row.retry_count + 1 > p_max_retries THEN
      UPDATE queued_list_operations q
         SET status = 'failed', error_kind = 'transient', lease_expires_at = NULL,
             claimed_by = p_consumer, updated_at = v_now,
             error_message = format('abandoned: the consumer holding it stopped before '
                                    'finishing and no retries are left (%s of %s spent)',
                                    v_row.retry_count, p_max_retries)
                             || coalesce('; last error: ' || v_row.error_message, '')
       WHERE q.id = p_id;
      IF v_list IS NOT NULL THEN
        next_ids := tmdbq_handon(v_list);
      END IF;
      result := 'abandoned';
      RETURN NEXT;
      RETURN;
    END IF;
    rescued := TRUE;
  ELSE
    IF v_row.scheduled_for > v_now + INTERVAL '50 milliseconds' THEN
      result := 'early';
      wait_ms := greatest(1, ceil(extract(epoch FROM v_row.scheduled_for - v_now)
                                  * 1000))::BIGINT;
      RETURN NEXT;
      RETURN;
    END IF;
    IF tmdbq_blocked(v_list, v_row.seq, v_row.operation_type, v_row.operation_data) THEN
      -- No live message any more (the caller drops it): the finish of the last earlier
      -- operation it conflicts with hands this row on.
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

-- As in migration 003, with next_ids.
CREATE FUNCTION tmdbq_finish(p_id UUID, p_consumer TEXT, p_kind TEXT, p_result JSONB,
                             p_error TEXT, p_error_kind TEXT, p_delay_ms BIGINT,
                             p_count_retry BOOLEAN)
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
   WHERE q.id = p_id AND q.status = 'processing' AND q.claimed_by = p_consumer;
  recorded := FOUND;
  IF NOT recorded THEN
    SELECT * INTO v_row FROM queued_list_operations q WHERE q.id = p_id;
    recorded := coalesce(FOUND AND v_row.claimed_by = p_consumer
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

-- As in migration 005, with next_ids.
CREATE FUNCTION tmdbq_cancel_op(p_id UUID)
RETURNS TABLE (outcome TEXT, next_ids UUID[], op queued_list_operations)
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
    next_ids := tmdbq_handon(v_row.tmdb_list_id);
  END IF;
  outcome := 'done';
  op := v_row;
  RETURN NEXT;
END
$$;

-- As in migration 004, with next_ids for an abandoned row.
CREATE FUNCTION tmdbq_rescue_expired(p_reaper TEXT, p_max_retries INTEGER, p_limit INTEGER)
RETURNS TABLE (op_id UUID, outcome TEXT, next_ids UUID[])
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
    CONTINUE WHEN NOT FOUND OR v_row.status <> 'processing'
                  OR coalesce(v_row.lease_expires_at > v_now, FALSE);
    op_id := v_id;
    next_ids := NULL;
    IF v_row.retry_count + 1 > p_max_retries THEN
      UPDATE queued_list_operations q
         SET status = 'failed', error_kind = 'transient', lease_expires_at = NULL,
             claimed_by = p_reaper, updated_at = v_now,
             error_message = format('abandoned: the consumer holding it stopped before '
                                    'finishing and no retries are left (%s of %s spent)',
                                    v_row.retry_count, p_max_retries)
                             || coalesce('; last holder: ' || v_row.claimed_by, '')
                             || CASE WHEN v_row.error_message LIKE 'rescued: %' THEN ''
                                     ELSE coalesce('; last error: ' || v_row.error_message,
                                                   '') END
       WHERE q.id = v_id;
      IF v_row.tmdb_list_id IS NOT NULL THEN
        next_ids := tmdbq_handon(v_row.tmdb_list_id);
      END IF;
      outcome := 'abandoned';
    ELSE
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

-- The relay's candidates as in migration 004, leaving out only rows that are blocked by
-- the conflict rule.
CREATE OR REPLACE FUNCTION tmdbq_relay_unpublished(p_after_seq BIGINT, p_settle_ms BIGINT,
                                                   p_limit INTEGER)
RETURNS TABLE (op_id UUID, op_seq BIGINT)
LANGUAGE sql STABLE AS $$
  SELECT q.id, q.seq
    FROM queued_list_operations q
   WHERE q.status = 'pending' AND q.published_at IS NULL AND q.seq > p_after_seq
     AND (q.scheduled_for IS NULL OR q.scheduled_for <= now())
     AND q.updated_at < now() - p_settle_ms * INTERVAL '1 millisecond'
     AND NOT tmdbq_blocked(q.tmdb_list_id, q.seq, q.operation_type, q.operation_data)
   ORDER BY q.seq
   LIMIT p_limit
$$;

CREATE OR REPLACE FUNCTION tmdbq_relay_overdue(p_after_seq BIGINT, p_grace_ms BIGINT,
                                               p_limit INTEGER)
RETURNS TABLE (op_id UUID, op_seq BIGINT)
LANGUAGE sql STABLE AS $$
  SELECT q.id, q.seq
    FROM queued_list_operations q
   WHERE q.status = 'pending' AND q.published_at IS NOT NULL AND q.seq > p_after_seq
     AND q.published_at < now() - p_grace_ms * INTERVAL '1 millisecond'
     AND coalesce(q.scheduled_for, q.published_at)
         < now() - p_grace_ms * INTERVAL '1 millisecond'
     AND NOT tmdbq_blocked(q.tmdb_list_id, q.seq, q.operation_type, q.operation_data)
   ORDER BY q.seq
   LIMIT p_limit
$$;

-- `tmdbq apply` goes to TMDB directly unless the queue is paused or an active operation
-- of its list conflicts with it (before: any active operation of its list). Otherwise as
-- in migration 006.
CREATE OR REPLACE FUNCTION tmdbq_apply_begin(p_type TEXT, p_user INTEGER, p_list INTEGER,
                                             p_data JSONB, p_consumer TEXT,
                                             p_lease_ms BIGINT)
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

  -- The new row takes the highest seq, so "blocked" means: any active operation of the
  -- list that conflicts with it.
  v_direct := p_type = 'create_list'
              OR NOT tmdbq_blocked(p_list, 9223372036854775807, p_type, p_data);
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

-- A consumer that met TMDB's rate limit keeps its claim and waits out the cool-down:
-- the row says so (error_message, error_kind 'rate_limit', retry_count untouched) and its
-- lease is renewed to p_lease_ms from now, so the wait is never taken for a dead
-- consumer. Only while processing under p_consumer; returns whether the row was held.
CREATE FUNCTION tmdbq_hold(p_id UUID, p_consumer TEXT, p_lease_ms BIGINT, p_message TEXT)
RETURNS BOOLEAN
LANGUAGE sql AS $$
  WITH u AS (
    UPDATE queued_list_operations q
       SET error_message = p_message, error_kind = 'rate_limit',
           lease_expires_at = clock_timestamp() + p_lease_ms * INTERVAL '1 millisecond',
           updated_at = clock_timestamp()
     WHERE q.id = p_id AND q.status = 'processing' AND q.claimed_by = p_consumer
    RETURNING 1)
  SELECT EXISTS (SELECT 1 FROM u)
$$;

-- The request budget of a scope: the next slot nobody holds, the cool-down after a 429,
-- the rate the last lease asked for, and how many statements the budget has cost (every
-- call of tmdbq_rate_lease; the benchmark divides them by the TMDB requests).
CREATE TABLE tmdbq_rate (
  scope TEXT PRIMARY KEY CHECK (scope <> ''),
  rate DOUBLE PRECISION NOT NULL CHECK (rate > 0),
  next_slot TIMESTAMP WITH TIME ZONE NOT NULL,
  cooldown_until TIMESTAMP WITH TIME ZONE,
  statements BIGINT NOT NULL DEFAULT 0,
  updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
);

-- TMDB requests and 429s per scope and 10-second bucket, for the last hour.
CREATE TABLE tmdbq_rate_stats (
  scope TEXT NOT NULL,
  bucket TIMESTAMP WITH TIME ZONE NOT NULL,
  requests BIGINT NOT NULL DEFAULT 0,
  limited BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (scope, bucket)
);

-- Lease up to p_want request slots of scope p_scope, p_interval_ms apart, starting at the
-- scope's next free slot (never before now, nor inside a cool-down), unless that start is
-- more than p_horizon_ms ahead: then nothing is granted and wait_ms says when to ask
-- again. p_want 0 leases nothing (a report only). p_sent and p_limited are the caller's
-- requests and 429s since its last report; p_cooldown_ms > 0 reports a 429's Retry-After,
-- which holds every slot of the scope until then. first_ms: the first granted slot, in ms
-- from the server's now; cooldown_ms: what is left of the cool-down (0 when none).
CREATE FUNCTION tmdbq_rate_lease(p_scope TEXT, p_rate DOUBLE PRECISION,
                                 p_interval_ms DOUBLE PRECISION, p_want INTEGER,
                                 p_horizon_ms BIGINT, p_sent INTEGER, p_limited INTEGER,
                                 p_cooldown_ms BIGINT)
RETURNS TABLE (granted INTEGER, first_ms DOUBLE PRECISION, wait_ms BIGINT,
               cooldown_ms BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
  v_now TIMESTAMP WITH TIME ZONE;
  v_row tmdbq_rate%ROWTYPE;
  v_start TIMESTAMP WITH TIME ZONE;
  v_bucket TIMESTAMP WITH TIME ZONE;
BEGIN
  IF p_scope IS NULL OR p_scope = '' OR p_rate IS NULL OR p_rate <= 0
     OR p_interval_ms IS NULL OR p_interval_ms <= 0 OR p_want IS NULL OR p_want < 0
     OR p_horizon_ms IS NULL OR p_horizon_ms < 0 THEN
    RAISE EXCEPTION 'tmdbq_rate_lease: scope, positive rate and interval, want >= 0 and '
                    'horizon >= 0 are required';
  END IF;
  INSERT INTO tmdbq_rate (scope, rate, next_slot) VALUES (p_scope, p_rate, clock_timestamp())
  ON CONFLICT (scope) DO NOTHING;
  SELECT * INTO v_row FROM tmdbq_rate r WHERE r.scope = p_scope FOR UPDATE;
  v_now := clock_timestamp();
  IF coalesce(p_cooldown_ms, 0) > 0 THEN
    v_row.cooldown_until := greatest(v_row.cooldown_until,
                                     v_now + p_cooldown_ms * INTERVAL '1 millisecond');
  END IF;
  v_start := greatest(v_row.next_slot, v_now, v_row.cooldown_until);
  granted := 0;
  first_ms := 0;
  wait_ms := 0;
  cooldown_ms := greatest(0, ceil(coalesce(extract(epoch FROM v_row.cooldown_until - v_now),
                                           0) * 1000))::BIGINT;
  IF p_want > 0 THEN
    IF v_start > v_now + p_horizon_ms * INTERVAL '1 millisecond' THEN
      wait_ms := greatest(1, ceil(extract(epoch FROM v_start - v_now) * 1000
                                  - p_horizon_ms))::BIGINT;
    ELSE
      granted := p_want;
      first_ms := extract(epoch FROM v_start - v_now) * 1000;
      v_row.next_slot := v_start + p_want * p_interval_ms * INTERVAL '1 millisecond';
    END IF;
  END IF;
  UPDATE tmdbq_rate r
     SET rate = p_rate, next_slot = v_row.next_slot, cooldown_until = v_row.cooldown_until,
         statements = r.statements + 1, updated_at = v_now
   WHERE r.scope = p_scope;
  IF coalesce(p_sent, 0) > 0 OR coalesce(p_limited, 0) > 0 THEN
    v_bucket := to_timestamp(floor(extract(epoch FROM v_now) / 10) * 10);
    INSERT INTO tmdbq_rate_stats AS s (scope, bucket, requests, limited)
    VALUES (p_scope, v_bucket, greatest(p_sent, 0), greatest(p_limited, 0))
    ON CONFLICT (scope, bucket) DO UPDATE
      SET requests = s.requests + excluded.requests, limited = s.limited + excluded.limited;
    DELETE FROM tmdbq_rate_stats s
     WHERE s.scope = p_scope AND s.bucket < v_now - INTERVAL '1 hour';
  END IF;
  RETURN NEXT;
END
$$;

-- The budget of every scope for `tmdbq status`: the rate its consumers ask for, what was
-- sent and refused with 429 over the last minute (requests per second over the buckets of
-- the last 60 s), and the cool-down in force (NULL when none).
CREATE FUNCTION tmdbq_rate_status()
RETURNS TABLE (scope TEXT, rate DOUBLE PRECISION, sent_per_s DOUBLE PRECISION,
               requests_1m BIGINT, limited_1m BIGINT,
               cooldown_until TIMESTAMP WITH TIME ZONE, seen_at TIMESTAMP WITH TIME ZONE)
LANGUAGE sql STABLE AS $$
  SELECT r.scope, r.rate,
         coalesce(sum(s.requests), 0)::DOUBLE PRECISION / 60,
         coalesce(sum(s.requests), 0)::BIGINT, coalesce(sum(s.limited), 0)::BIGINT,
         CASE WHEN r.cooldown_until > now() THEN r.cooldown_until END, r.updated_at
    FROM tmdbq_rate r
    LEFT JOIN tmdbq_rate_stats s
      ON s.scope = r.scope AND s.bucket > now() - INTERVAL '60 seconds'
   GROUP BY r.scope, r.rate, r.cooldown_until, r.updated_at
   ORDER BY r.scope
$$;
