-- What the sending rules need, kept so that checking them costs point look-ups only.

-- Running counts, maintained in the same transactions that change what they count.
ALTER TABLE members ADD COLUMN pending_sent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE members ADD COLUMN connection_count INTEGER NOT NULL DEFAULT 0;
UPDATE members SET
    pending_sent = (SELECT count(*) FROM invitations WHERE sender_id = members.id AND state = 'pending'),
    connection_count = (SELECT count(*) FROM connections WHERE member_id = members.id);

-- What one member's past with another decides about their next invitation: the re-invite cooldown
-- after a withdrawal, and the bar after the recipient ignored them as "don't know" or spam. Written
-- only when someone withdraws or ignores with a reason, so a send only reads it.
CREATE TABLE pair_rules (
    sender_id      INTEGER NOT NULL REFERENCES members (id),
    recipient_id   INTEGER NOT NULL REFERENCES members (id),
    cooldown_until INTEGER,
    barred         INTEGER NOT NULL DEFAULT 0,
    withdrawals    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (sender_id, recipient_id)
) WITHOUT ROWID;
