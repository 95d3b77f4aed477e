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
