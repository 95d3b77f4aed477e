-- Blocks: each side of a block is hidden from the other everywhere.
CREATE TABLE blocks (
    blocker_id INTEGER NOT NULL REFERENCES members (id),
    blocked_id INTEGER NOT NULL REFERENCES members (id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (blocker_id, blocked_id)
) WITHOUT ROWID;
CREATE INDEX blocks_by_blocked ON blocks (blocked_id, blocker_id);

-- Expiry walks pending invitations by age.
CREATE INDEX invitations_pending_by_age ON invitations (created_at) WHERE state = 'pending';

-- Everything a member received, for their export and the erasure of a closed account.
CREATE INDEX invitations_by_recipient ON invitations (recipient_id);
