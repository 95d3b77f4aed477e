//! An outbox event before either store writes it: what happened, to whom, and the notification it
//! created.

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

impl<'a> Event<'a> {
    /// An event about invitation `id`, from `sender` to `recipient`.
    pub fn invitation(
        kind: &'a str,
        id: InvitationId,
        sender: MemberId,
        recipient: MemberId,
    ) -> Self {
        Event {
            kind,
            invitation: Some(id),
            a: Some(sender),
            b: Some(recipient),
            notification: None,
            data: None,
        }
    }

    /// An event about one member, or a pair of them (connections).
    pub fn members(kind: &'a str, a: MemberId, b: Option<MemberId>) -> Self {
        Event {
            kind,
            invitation: None,
            a: Some(a),
            b,
            notification: None,
            data: None,
        }
    }

    /// Points the event at the notification it created, if any.
    pub fn notifying(mut self, n: Option<(i64, MemberId)>) -> Self {
        self.notification = n;
        self
    }
}
