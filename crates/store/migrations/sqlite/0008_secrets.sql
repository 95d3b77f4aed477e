-- Secrets the server signs with (CSRF tokens, unsubscribe links): made on first start, kept with
-- the data so that every restart signs alike.
CREATE TABLE secrets (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
