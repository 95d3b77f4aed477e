-- Replicas hear of each other's writes through NOTIFY. Triggers send the notifications, so that
-- every write sends them whatever code path made it, and PostgreSQL delivers them only when (and
-- as soon as) the writing transaction commits. Notifications with the same payload in one
-- transaction are folded into one.

-- Pairs were logged for the graph index: every replica's follower reads graph_changes now, rather
-- than at its next safety-net poll.
CREATE FUNCTION rapport_notify_graph() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('rapport_graph', '');
    RETURN NULL;
END $$;

CREATE TRIGGER graph_changes_notify AFTER INSERT ON graph_changes
    FOR EACH STATEMENT EXECUTE FUNCTION rapport_notify_graph();

-- A sign-in token was deleted (a logout, a password change, an account suspended, deactivated or
-- closed): every replica drops it from its token cache. The payload is the token's hash, in hex.
CREATE FUNCTION rapport_notify_revocation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('rapport_revocations', encode(OLD.hash, 'hex'));
    RETURN NULL;
END $$;

CREATE TRIGGER tokens_notify_revocation AFTER DELETE ON tokens
    FOR EACH ROW EXECUTE FUNCTION rapport_notify_revocation();

-- One pass of the sequencer (postgres/sequencer.rs) in one statement: under an advisory lock held
-- to the end of the calling transaction (the statement itself, run on its own), number the
-- unnumbered events in id order after the last number given, announce them, and say whether more
-- are waiting past the limit. The lock comes first and the numbering reads with a snapshot taken
-- after it, so a pass sees every event the previous pass could not, and numbers only ever appear
-- in increasing order.
CREATE FUNCTION rapport_number_events(p_limit bigint, OUT numbered bigint, OUT waiting boolean)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(72617002);
    WITH todo AS (
        SELECT id, row_number() OVER (ORDER BY id) AS n
          FROM (SELECT id FROM events WHERE seq IS NULL ORDER BY id LIMIT p_limit) AS unnumbered),
    bump AS (
        UPDATE event_sequence SET last_seq = last_seq + (SELECT count(*) FROM todo)
         WHERE EXISTS (SELECT 1 FROM todo)
        RETURNING last_seq - (SELECT count(*) FROM todo) AS base),
    done AS (
        UPDATE events e SET seq = bump.base + todo.n FROM todo, bump WHERE e.id = todo.id RETURNING 1)
    SELECT count(*) INTO numbered FROM done;
    IF numbered > 0 THEN
        PERFORM pg_notify('rapport_events', '');
    END IF;
    waiting := EXISTS (SELECT 1 FROM events WHERE seq IS NULL ORDER BY id LIMIT 1);
END $$;
