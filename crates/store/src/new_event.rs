//! An outbox event before the embedded store writes it: what happened, to whom, and the
//! notification it created (the plan's `Emit`, its references resolved).

use rapport_domain::{InvitationId, MemberId};

/// One outbox event before it is written.
pub(crate) struct Event<'a> {
    pub kind: &'a str,
    pub invitation: Option<InvitationId>,
    pub a: Option<MemberId>,
    pub b: Option<MemberId>,
    /// The notification this event created, and whose it is.
    pub notification: Option<(i64, MemberId)>,
    pub data: Option<String>,
}
