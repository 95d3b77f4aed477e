//! network

use super::*;
use crate::*;

pub(super) async fn connections(
    s: &PgStore,
    member: MemberId,
    query: ConnectionQuery,
) -> StoreResult<ConnectionPage> {
    todo_port!()
}

pub(super) async fn remove_connection(
    s: &PgStore,
    a: MemberId,
    b: MemberId,
    at: Timestamp,
) -> StoreResult<bool> {
    todo_port!()
}

pub(super) async fn scan_connections(
    s: &PgStore,
    sink: &mut (dyn FnMut(MemberId, MemberId) + Send),
) -> StoreResult<()> {
    s.scan_graph(sink).await
}

pub(super) async fn search_members(
    s: &PgStore,
    query: String,
    within: Option<Vec<MemberId>>,
    limit: u32,
) -> StoreResult<Vec<SearchHit>> {
    todo_port!()
}

pub(super) async fn search_members_unranked(
    s: &PgStore,
    query: String,
    limit: u32,
) -> StoreResult<Vec<SearchHit>> {
    todo_port!()
}

pub(super) async fn seed_connections(
    s: &PgStore,
    pairs: Vec<(MemberId, MemberId)>,
    at: Timestamp,
) -> StoreResult<u64> {
    todo_port!()
}

pub(super) async fn block(
    s: &PgStore,
    blocker: MemberId,
    blocked: MemberId,
    at: Timestamp,
) -> StoreResult<()> {
    todo_port!()
}

pub(super) async fn unblock(
    s: &PgStore,
    blocker: MemberId,
    blocked: MemberId,
) -> StoreResult<bool> {
    todo_port!()
}

pub(super) async fn blocked_by(
    s: &PgStore,
    blocker: MemberId,
) -> StoreResult<Vec<Arc<MemberRecord>>> {
    todo_port!()
}

pub(super) async fn hidden_from(s: &PgStore, viewer: MemberId) -> StoreResult<Vec<MemberId>> {
    todo_port!()
}

pub(super) async fn set_status(
    s: &PgStore,
    id: MemberId,
    status: AccountStatus,
    at: Timestamp,
) -> StoreResult<Arc<MemberRecord>> {
    todo_port!()
}

pub(super) async fn close_member(s: &PgStore, id: MemberId, at: Timestamp) -> StoreResult<()> {
    todo_port!()
}
