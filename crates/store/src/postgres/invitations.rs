//! invitations

use super::*;
use crate::*;

pub(super) async fn sent_since(
    s: &PgStore,
    member: MemberId,
    since: Timestamp,
    cap: u32,
) -> StoreResult<SentWindow> {
    todo_port!()
}

pub(super) async fn send_invitation(s: &PgStore, cmd: SendInvitation) -> StoreResult<SendOutcome> {
    todo_port!()
}

pub(super) async fn invitation(
    s: &PgStore,
    id: InvitationId,
) -> StoreResult<Option<InvitationRecord>> {
    todo_port!()
}

pub(super) async fn act(
    s: &PgStore,
    id: InvitationId,
    actor: MemberId,
    action: Action,
    policy: ActPolicy,
    at: Timestamp,
) -> StoreResult<Acted> {
    todo_port!()
}

pub(super) async fn received(
    s: &PgStore,
    member: MemberId,
    before: Option<InvitationId>,
    limit: u32,
) -> StoreResult<Vec<InvitationRecord>> {
    todo_port!()
}

pub(super) async fn sent(
    s: &PgStore,
    member: MemberId,
    created_by: Option<Timestamp>,
    before: Option<InvitationId>,
    limit: u32,
) -> StoreResult<Vec<InvitationRecord>> {
    todo_port!()
}

pub(super) async fn withdraw_older(
    s: &PgStore,
    sender: MemberId,
    created_by: Timestamp,
    dry_run: bool,
    policy: ActPolicy,
    at: Timestamp,
) -> StoreResult<u64> {
    todo_port!()
}

pub(super) async fn pending_between(
    s: &PgStore,
    a: MemberId,
    b: MemberId,
) -> StoreResult<Option<InvitationRecord>> {
    todo_port!()
}

pub(super) async fn pending_with(
    s: &PgStore,
    viewer: MemberId,
    others: Vec<MemberId>,
) -> StoreResult<Vec<InvitationRecord>> {
    todo_port!()
}

pub(super) async fn not_to_suggest(s: &PgStore, viewer: MemberId) -> StoreResult<Vec<MemberId>> {
    todo_port!()
}

pub(super) async fn all_sent(s: &PgStore, member: MemberId) -> StoreResult<Vec<InvitationRecord>> {
    todo_port!()
}

pub(super) async fn all_received(
    s: &PgStore,
    member: MemberId,
) -> StoreResult<Vec<InvitationRecord>> {
    todo_port!()
}

pub(super) async fn expire_pending(
    s: &PgStore,
    created_by: Timestamp,
    at: Timestamp,
) -> StoreResult<u64> {
    todo_port!()
}

pub(super) async fn send_reminders(
    s: &PgStore,
    offsets: Vec<std::time::Duration>,
    now: Timestamp,
) -> StoreResult<u64> {
    todo_port!()
}
