-- Wrong email addresses a sender gave where the address decided the answer: guessing counts
-- against their standing (domain `standing::WRONG_EMAILS`). Kept for the standing window, then
-- pruned by the sweeper.
CREATE TABLE wrong_emails (
    sender_id INTEGER NOT NULL REFERENCES members (id),
    at INTEGER NOT NULL,
    recipient_id INTEGER NOT NULL REFERENCES members (id)
);
CREATE INDEX wrong_emails_by_sender ON wrong_emails (sender_id, at);
CREATE INDEX wrong_emails_by_time ON wrong_emails (at);
