-- Notifications, the transactional outbox and what is delivered from it: mail and webhooks.

-- NULL: the defaults (NotificationPrefs::encode's form otherwise).
ALTER TABLE members ADD COLUMN notification_prefs TEXT;

-- When the recipient is next reminded of a pending invitation, and how many reminders went out.
ALTER TABLE invitations ADD COLUMN next_reminder_at INTEGER;
ALTER TABLE invitations ADD COLUMN reminders_sent INTEGER NOT NULL DEFAULT 0;
CREATE INDEX invitations_reminders ON invitations (next_reminder_at) WHERE next_reminder_at IS NOT NULL;

-- A restriction whose end the member has been told about (ended by time or lifted).
ALTER TABLE restrictions ADD COLUMN end_noticed INTEGER NOT NULL DEFAULT 0;
CREATE INDEX restrictions_unended ON restrictions (until) WHERE end_noticed = 0;

-- In-app notifications. Written in the transaction of their cause, removed in the transaction
-- that takes the cause away (a withdrawal removes "invitation received").
CREATE TABLE notifications (
    id            INTEGER PRIMARY KEY,
    member_id     INTEGER NOT NULL REFERENCES members (id),
    kind          TEXT    NOT NULL,
    actor_id      INTEGER,
    invitation_id INTEGER,
    created_at    INTEGER NOT NULL,
    read_at       INTEGER
);
CREATE INDEX notifications_by_member ON notifications (member_id, id);
CREATE INDEX notifications_unread ON notifications (member_id) WHERE read_at IS NULL;
CREATE INDEX notifications_by_invitation ON notifications (invitation_id) WHERE invitation_id IS NOT NULL;

-- Mail to send: at once (`immediate`) or gathered into a digest. A row is deleted once its mail
-- went out; rows about an invitation that stopped being pending are deleted with the change.
CREATE TABLE mail_queue (
    id            INTEGER PRIMARY KEY,
    member_id     INTEGER NOT NULL REFERENCES members (id),
    kind          TEXT    NOT NULL,
    cadence       TEXT    NOT NULL CHECK (cadence IN ('immediate', 'daily', 'weekly')),
    actor_id      INTEGER,
    invitation_id INTEGER,
    created_at    INTEGER NOT NULL,
    due_at        INTEGER NOT NULL
);
CREATE INDEX mail_queue_due ON mail_queue (due_at);
CREATE INDEX mail_queue_by_member ON mail_queue (member_id, cadence);
CREATE INDEX mail_queue_by_invitation ON mail_queue (invitation_id) WHERE invitation_id IS NOT NULL;

-- The transactional outbox: every state change appends its events in its own transaction.
-- `seq` only grows (AUTOINCREMENT never reuses a number), so it is the SSE event id and each
-- consumer's resume point.
CREATE TABLE events (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    type            TEXT    NOT NULL,
    invitation_id   INTEGER,
    -- For invitation events the sender and recipient; for connection events the two members; for
    -- member events the member (in a).
    a_id            INTEGER,
    b_id            INTEGER,
    -- The notification this event created, and for whom.
    notification_id INTEGER,
    notified_id     INTEGER,
    data            TEXT,
    created_at      INTEGER NOT NULL
);

-- How far each consumer of the outbox has got.
CREATE TABLE consumers (
    name TEXT PRIMARY KEY,
    seq  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE webhooks (
    id              INTEGER PRIMARY KEY,
    url             TEXT    NOT NULL,
    events          TEXT    NOT NULL,
    secret          TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    disabled_at     INTEGER,
    disabled_reason TEXT,
    deleted_at      INTEGER
);

CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY,
    webhook_id      INTEGER NOT NULL REFERENCES webhooks (id),
    event_seq       INTEGER NOT NULL,
    msg_id          TEXT    NOT NULL,
    type            TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    finished_at     INTEGER
);
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (webhook_id, id) WHERE status = 'pending';
