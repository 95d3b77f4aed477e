-- Sign-ups waiting for their address to be confirmed (RAPPORT_SIGNUP_CONFIRMATION=email): the
-- account as it will be created, under the hash of the link's token. One per address (a new
-- sign-up replaces the last); confirmed ones become members, the rest are pruned after a day.
CREATE TABLE pending_signups (
    token_hash BLOB PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    name TEXT NOT NULL,
    headline TEXT NOT NULL,
    company TEXT NOT NULL,
    location TEXT NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX pending_signups_by_time ON pending_signups (created_at);
