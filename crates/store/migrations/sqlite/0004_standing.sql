-- Restrictions on sending, automatic or set by a moderator, and spam reports.
CREATE TABLE restrictions (
    id         INTEGER PRIMARY KEY,
    member_id  INTEGER NOT NULL REFERENCES members (id),
    level      INTEGER NOT NULL,
    reason     TEXT    NOT NULL,
    source     TEXT    NOT NULL CHECK (source IN ('automatic', 'moderator')),
    starts_at  INTEGER NOT NULL,
    until      INTEGER NOT NULL,
    lifted_at  INTEGER
);
CREATE INDEX restrictions_by_member ON restrictions (member_id, until);

CREATE TABLE reports (
    id            INTEGER PRIMARY KEY,
    invitation_id INTEGER NOT NULL REFERENCES invitations (id),
    reporter_id   INTEGER NOT NULL REFERENCES members (id),
    reported_id   INTEGER NOT NULL REFERENCES members (id),
    created_at    INTEGER NOT NULL,
    status        TEXT    NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'dismissed', 'restricted', 'suspended')),
    resolved_at   INTEGER,
    resolved_by   INTEGER REFERENCES members (id)
);
CREATE INDEX reports_open ON reports (id) WHERE status = 'open';
