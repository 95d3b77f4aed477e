-- Secrets the server signs with (CSRF tokens, unsubscribe links): made by the first replica to
-- start, shared by every replica.
CREATE TABLE secrets (
    name text PRIMARY KEY,
    value bytea NOT NULL,
    created_at bigint NOT NULL
);
