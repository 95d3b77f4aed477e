-- Service keys of the community's own applications: a name, the scopes granted (space-separated)
-- and the SHA-256 of the secret, which is shown once and never stored. Ids are never reused: a
-- new key must not inherit a revoked one's replayed answers or audit trail.
CREATE TABLE service_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    secret_hash BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER
);

-- The ids members carry in other systems: the community's own member ids (issuer '') and the
-- subjects of OpenID providers (issuer = the provider's issuer URL). Erased with the account.
CREATE TABLE external_ids (
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    member_id INTEGER NOT NULL REFERENCES members (id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (issuer, subject)
) WITHOUT ROWID;
CREATE INDEX external_ids_by_member ON external_ids (member_id);
