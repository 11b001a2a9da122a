-- 014: a consumer's finish and its next claim in one transaction.
--
-- A consumer spent two transactions on every operation, a claim and a finish, each
-- waiting for its own WAL flush, and the drain was bound by those commits. Under load a
-- worker already holds its next delivery when it finishes one, so it records the outcome
-- and claims the next operation in one statement: one round trip and one commit per
-- operation. The commit is synchronous, as the finish's must be: the consumer acks the
-- finished delivery only after it.
--
-- Two lists' locks are held together here, so they are taken first in the order every
-- transaction that holds several uses (the text of the key, as tmdbq_enqueue_batch and
-- tmdbq_rescue_expired do): two consumers each finishing on the list the other claims on
-- cannot deadlock. tmdbq_finish and tmdbq_claim take them again, which costs nothing.
CREATE FUNCTION tmdbq_finish_claim(p_id UUID, p_consumer TEXT, p_kind TEXT, p_result JSONB,
                                   p_error TEXT, p_error_kind TEXT, p_delay_ms BIGINT,
                                   p_count_retry BOOLEAN, p_next UUID, p_lease_ms BIGINT,
                                   p_max_retries INTEGER)
RETURNS TABLE (recorded BOOLEAN, finish_next_ids UUID[], result TEXT, wait_ms BIGINT,
               next_ids UUID[], rescued BOOLEAN, session_id TEXT, access_token TEXT,
               op queued_list_operations)
LANGUAGE plpgsql AS $$
DECLARE
  v_key TEXT;
  v_recorded BOOLEAN;
  v_next_ids UUID[];
BEGIN
  FOR v_key IN
    SELECT DISTINCT 'l:' || q.tmdb_list_id FROM queued_list_operations q
     WHERE q.id IN (p_id, p_next) AND q.tmdb_list_id IS NOT NULL
     ORDER BY 1
  LOOP
    PERFORM pg_advisory_xact_lock(1952542578, hashtext(v_key));
  END LOOP;

  SELECT f.recorded, f.next_ids INTO v_recorded, v_next_ids
    FROM tmdbq_finish(p_id, p_consumer, p_kind, p_result, p_error, p_error_kind,
                      p_delay_ms, p_count_retry) f;
  RETURN QUERY
    SELECT v_recorded, v_next_ids, c.result, c.wait_ms, c.next_ids, c.rescued,
           c.session_id, c.access_token, c.op
      FROM tmdbq_claim(p_next, p_consumer, p_lease_ms, p_max_retries) c;
END
$$;
