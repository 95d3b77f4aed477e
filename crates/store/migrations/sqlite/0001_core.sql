-- Members, API tokens, invitations, connections and idempotent replays.
-- Times are Unix milliseconds (UTC). Ids are row ids; clients see them as opaque strings.

CREATE TABLE members (
    id               INTEGER PRIMARY KEY,
    email            TEXT    NOT NULL UNIQUE,
    password_hash    TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    headline         TEXT    NOT NULL DEFAULT '',
    company          TEXT    NOT NULL DEFAULT '',
    location         TEXT    NOT NULL DEFAULT '',
    tier             TEXT    NOT NULL DEFAULT 'free'     CHECK (tier IN ('free', 'premium')),
    role             TEXT    NOT NULL DEFAULT 'member'   CHECK (role IN ('member', 'admin')),
    status           TEXT    NOT NULL DEFAULT 'active'   CHECK (status IN ('active', 'deactivated', 'closed', 'suspended')),
    invitations_from TEXT    NOT NULL DEFAULT 'everyone' CHECK (invitations_from IN ('everyone', 'second_degree', 'email_required', 'nobody')),
    created_at       INTEGER NOT NULL
);

-- Only the SHA-256 of a token is kept: a copy of the database signs nobody in.
CREATE TABLE tokens (
    hash       BLOB    PRIMARY KEY,
    member_id  INTEGER NOT NULL REFERENCES members (id),
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX tokens_member ON tokens (member_id);

CREATE TABLE invitations (
    id            INTEGER PRIMARY KEY,
    sender_id     INTEGER NOT NULL REFERENCES members (id),
    recipient_id  INTEGER NOT NULL REFERENCES members (id),
    note          TEXT,
    state         TEXT    NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'accepted', 'ignored', 'withdrawn', 'expired', 'cancelled')),
    ignore_reason TEXT    CHECK (ignore_reason IN ('dont_know', 'spam')),
    created_at    INTEGER NOT NULL,
    decided_at    INTEGER,
    CHECK (sender_id <> recipient_id)
);
-- The rule "at most one pending invitation between two members", whoever sent it, held by the
-- database itself and not only by the code that checks it first.
CREATE UNIQUE INDEX invitations_one_pending_per_pair
    ON invitations (min(sender_id, recipient_id), max(sender_id, recipient_id)) WHERE state = 'pending';
CREATE INDEX invitations_received_pending ON invitations (recipient_id, id) WHERE state = 'pending';
-- Over columns that never change, so accepting, ignoring or withdrawing never rewrites it. It serves
-- the Sent list (newest first) and the weekly count, which reads only the newest `limit` entries.
CREATE INDEX invitations_by_sender ON invitations (sender_id, id, created_at);

-- Both directions are stored, so "my connections" is one index range.
CREATE TABLE connections (
    member_id  INTEGER NOT NULL REFERENCES members (id),
    other_id   INTEGER NOT NULL REFERENCES members (id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (member_id, other_id)
) WITHOUT ROWID;
CREATE INDEX connections_by_time ON connections (member_id, created_at, other_id);

CREATE TABLE idempotency_keys (
    member_id    INTEGER NOT NULL,
    key          TEXT    NOT NULL,
    request_hash BLOB    NOT NULL,
    status       INTEGER NOT NULL,
    body         BLOB    NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (member_id, key)
) WITHOUT ROWID;
