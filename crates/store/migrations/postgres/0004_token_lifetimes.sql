-- Tokens expire on the server: each keeps its last use (written at most once a minute), and the
-- sweeper deletes those past their absolute or idle lifetime, found through these indexes. A token
-- issued before this migration counts as last used when it was issued.
ALTER TABLE tokens ADD COLUMN last_used_at BIGINT;
UPDATE tokens SET last_used_at = created_at;
ALTER TABLE tokens ALTER COLUMN last_used_at SET NOT NULL;
CREATE INDEX tokens_by_age ON tokens (created_at);
CREATE INDEX tokens_by_last_use ON tokens (last_used_at);

-- Kept Idempotency-Key answers go after their 24 hours (the sweeper, by age) and past a bound per
-- member (at each insert, the member's oldest first).
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
CREATE INDEX idempotency_keys_by_member_age ON idempotency_keys (member_id, created_at, key);
