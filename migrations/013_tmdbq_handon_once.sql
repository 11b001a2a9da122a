-- 013: the hand-on names a waiting operation once.
--
-- tmdbq_handon (migration 008) named every pending, due, unblocked operation of the list
-- that was marked for hand-on (handoff) or not yet published, and handoff stayed set
-- until a claim succeeded. So an operation whose hand-on message was already waiting in
-- the queue was named again by every later finish of its list and by every stale
-- delivery of it, and under a deep queue those copies outgrew the consumers (the chaos
-- suite's long form: work-queue peaks of 83,000 to 305,000 messages). Now the hand-on
-- clears handoff on the operations it names; published_at = NULL still lets the reaper's
-- relay cover a caller that dies before publishing them. A blocked claim sets handoff
-- again, which is the only other way an operation gets named.
CREATE OR REPLACE FUNCTION tmdbq_handon(p_list INTEGER) RETURNS UUID[]
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
    UPDATE queued_list_operations q SET published_at = NULL, handoff = FALSE
     WHERE q.id = ANY (v_ids) AND (q.published_at IS NOT NULL OR q.handoff);
  END IF;
  RETURN coalesce(v_ids, '{}');
END
$$;
