-- Sign-ups waiting for their address to be confirmed (RAPPORT_SIGNUP_CONFIRMATION=email): the
-- account as it will be created, under the hash of the link's token. One per address (a new
-- sign-up replaces the last); confirmed ones become members, the rest are pruned after a day.
CREATE TABLE pending_signups (
    token_hash bytea PRIMARY KEY,
    email text NOT NULL UNIQUE,
    password_hash text NOT NULL,
    name text NOT NULL,
    headline text NOT NULL,
    company text NOT NULL,
    location text NOT NULL,
    created_at bigint NOT NULL
);
CREATE INDEX pending_signups_by_time ON pending_signups (created_at);
