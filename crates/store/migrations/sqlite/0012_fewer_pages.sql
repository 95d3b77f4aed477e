-- Fewer pages per write. Every index a write touches is one more page in the write-ahead log:
-- written, fsynced and copied back by a checkpoint (crates/store/tests/sqlite_pages.rs counts
-- them). These indexes answered nothing another did not, or held rows no query looks for.

-- One index for what a member received, instead of two: all of them (export, suggestions) and the
-- pending ones (the inbox, newest first) are both a range of (recipient, state, id). A send adds
-- one entry instead of two; a decision moves the entry within the recipient's range.
DROP INDEX invitations_received_pending;
DROP INDEX invitations_by_recipient;
CREATE INDEX invitations_to ON invitations (recipient_id, state, id);

-- Only the traces an invitation leaves its recipient are ever looked up by invitation (to remove
-- them when it is withdrawn, expires or is refused): an acceptance's notification and mail, about
-- an older invitation, need no entry.
DROP INDEX notifications_by_invitation;
CREATE INDEX notifications_by_invitation ON notifications (invitation_id)
    WHERE kind IN ('invitation_received', 'invitation_reminder');
DROP INDEX mail_queue_by_invitation;
CREATE INDEX mail_queue_by_invitation ON mail_queue (invitation_id)
    WHERE kind IN ('invitation_received', 'invitation_reminder');

-- Digests are gathered by member; mail sent at once (the default) is found by its due time only.
DROP INDEX mail_queue_by_member;
CREATE INDEX mail_queue_digests ON mail_queue (member_id, cadence) WHERE cadence <> 'immediate';
