//! standing

use super::*;
use crate::*;

pub(super) async fn active_restriction(
    s: &PgStore,
    member: MemberId,
    now: Timestamp,
) -> StoreResult<Option<RestrictionRecord>> {
    todo_port!()
}

pub(super) async fn restrict(
    s: &PgStore,
    member: MemberId,
    until: Timestamp,
    at: Timestamp,
) -> StoreResult<()> {
    todo_port!()
}

pub(super) async fn lift_restriction(
    s: &PgStore,
    member: MemberId,
    at: Timestamp,
) -> StoreResult<bool> {
    todo_port!()
}

pub(super) async fn open_reports(s: &PgStore, limit: u32) -> StoreResult<Vec<ReportRecord>> {
    todo_port!()
}

pub(super) async fn resolve_report(
    s: &PgStore,
    id: i64,
    action: Resolution,
    by: MemberId,
    at: Timestamp,
) -> StoreResult<()> {
    todo_port!()
}

pub(super) async fn end_restrictions(s: &PgStore, now: Timestamp) -> StoreResult<u64> {
    todo_port!()
}
