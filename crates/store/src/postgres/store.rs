//! The [`Store`] trait over PostgreSQL: each method is written in the module of its area.

use super::*;
use crate::*;
use async_trait::async_trait;
use rapport_domain::{
    Action, Email, InvitationId, InvitationsFrom, MemberId, NotificationPrefs, Timestamp,
};
use std::sync::Arc;

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> StoreResult<()> {
        accounts::ping(self).await
    }
    async fn create_member(&self, m: NewMember) -> StoreResult<Arc<MemberRecord>> {
        accounts::create_member(self, m).await
    }
    async fn login_lookup(&self, email: &Email) -> StoreResult<Option<(MemberId, String)>> {
        accounts::login_lookup(self, email).await
    }
    async fn insert_token(
        &self,
        hash: TokenHash,
        member: MemberId,
        at: Timestamp,
    ) -> StoreResult<()> {
        accounts::insert_token(self, hash, member, at).await
    }
    async fn token_member(&self, hash: TokenHash) -> StoreResult<Option<MemberId>> {
        accounts::token_member(self, hash).await
    }
    async fn delete_token(&self, hash: TokenHash, at: Timestamp) -> StoreResult<()> {
        accounts::delete_token(self, hash, at).await
    }
    async fn set_password(
        &self,
        member: MemberId,
        password_hash: String,
        at: Timestamp,
    ) -> StoreResult<()> {
        accounts::set_password(self, member, password_hash, at).await
    }
    async fn member(&self, id: MemberId) -> StoreResult<Option<Arc<MemberRecord>>> {
        accounts::member(self, id).await
    }
    async fn members(&self, ids: &[MemberId]) -> StoreResult<Vec<Arc<MemberRecord>>> {
        accounts::members(self, ids).await
    }
    async fn update_profile(
        &self,
        id: MemberId,
        patch: ProfilePatch,
    ) -> StoreResult<Arc<MemberRecord>> {
        accounts::update_profile(self, id, patch).await
    }
    async fn set_invitations_from(
        &self,
        id: MemberId,
        from: InvitationsFrom,
    ) -> StoreResult<Arc<MemberRecord>> {
        accounts::set_invitations_from(self, id, from).await
    }
    async fn sent_since(
        &self,
        member: MemberId,
        since: Timestamp,
        cap: u32,
    ) -> StoreResult<SentWindow> {
        invitations::sent_since(self, member, since, cap).await
    }
    async fn send_invitation(&self, cmd: SendInvitation) -> StoreResult<SendOutcome> {
        invitations::send_invitation(self, cmd).await
    }
    async fn invitation(&self, id: InvitationId) -> StoreResult<Option<InvitationRecord>> {
        invitations::invitation(self, id).await
    }
    async fn act(
        &self,
        id: InvitationId,
        actor: MemberId,
        action: Action,
        policy: ActPolicy,
        at: Timestamp,
    ) -> StoreResult<Acted> {
        invitations::act(self, id, actor, action, policy, at).await
    }
    async fn received(
        &self,
        member: MemberId,
        before: Option<InvitationId>,
        limit: u32,
    ) -> StoreResult<Vec<InvitationRecord>> {
        invitations::received(self, member, before, limit).await
    }
    async fn sent(
        &self,
        member: MemberId,
        created_by: Option<Timestamp>,
        before: Option<InvitationId>,
        limit: u32,
    ) -> StoreResult<Vec<InvitationRecord>> {
        invitations::sent(self, member, created_by, before, limit).await
    }
    async fn withdraw_older(
        &self,
        sender: MemberId,
        created_by: Timestamp,
        dry_run: bool,
        policy: ActPolicy,
        at: Timestamp,
    ) -> StoreResult<u64> {
        invitations::withdraw_older(self, sender, created_by, dry_run, policy, at).await
    }
    async fn pending_between(
        &self,
        a: MemberId,
        b: MemberId,
    ) -> StoreResult<Option<InvitationRecord>> {
        invitations::pending_between(self, a, b).await
    }
    async fn connections(
        &self,
        member: MemberId,
        query: ConnectionQuery,
    ) -> StoreResult<ConnectionPage> {
        network::connections(self, member, query).await
    }
    async fn remove_connection(
        &self,
        a: MemberId,
        b: MemberId,
        at: Timestamp,
    ) -> StoreResult<bool> {
        network::remove_connection(self, a, b, at).await
    }
    async fn scan_connections(
        &self,
        sink: &mut (dyn FnMut(MemberId, MemberId) + Send),
    ) -> StoreResult<()> {
        network::scan_connections(self, sink).await
    }
    async fn search_members(
        &self,
        query: String,
        within: Option<Vec<MemberId>>,
        limit: u32,
    ) -> StoreResult<Vec<SearchHit>> {
        network::search_members(self, query, within, limit).await
    }
    async fn search_members_unranked(
        &self,
        query: String,
        limit: u32,
    ) -> StoreResult<Vec<SearchHit>> {
        network::search_members_unranked(self, query, limit).await
    }
    async fn pending_with(
        &self,
        viewer: MemberId,
        others: Vec<MemberId>,
    ) -> StoreResult<Vec<InvitationRecord>> {
        invitations::pending_with(self, viewer, others).await
    }
    async fn not_to_suggest(&self, viewer: MemberId) -> StoreResult<Vec<MemberId>> {
        invitations::not_to_suggest(self, viewer).await
    }
    async fn seed_connections(
        &self,
        pairs: Vec<(MemberId, MemberId)>,
        at: Timestamp,
    ) -> StoreResult<u64> {
        network::seed_connections(self, pairs, at).await
    }
    async fn all_sent(&self, member: MemberId) -> StoreResult<Vec<InvitationRecord>> {
        invitations::all_sent(self, member).await
    }
    async fn all_received(&self, member: MemberId) -> StoreResult<Vec<InvitationRecord>> {
        invitations::all_received(self, member).await
    }
    async fn block(&self, blocker: MemberId, blocked: MemberId, at: Timestamp) -> StoreResult<()> {
        network::block(self, blocker, blocked, at).await
    }
    async fn unblock(&self, blocker: MemberId, blocked: MemberId) -> StoreResult<bool> {
        network::unblock(self, blocker, blocked).await
    }
    async fn blocked_by(&self, blocker: MemberId) -> StoreResult<Vec<Arc<MemberRecord>>> {
        network::blocked_by(self, blocker).await
    }
    async fn hidden_from(&self, viewer: MemberId) -> StoreResult<Vec<MemberId>> {
        network::hidden_from(self, viewer).await
    }
    async fn set_status(
        &self,
        id: MemberId,
        status: AccountStatus,
        at: Timestamp,
    ) -> StoreResult<Arc<MemberRecord>> {
        network::set_status(self, id, status, at).await
    }
    async fn close_member(&self, id: MemberId, at: Timestamp) -> StoreResult<()> {
        network::close_member(self, id, at).await
    }
    async fn set_tier_role(
        &self,
        id: MemberId,
        tier: Option<String>,
        role: Option<String>,
    ) -> StoreResult<Arc<MemberRecord>> {
        accounts::set_tier_role(self, id, tier, role).await
    }
    async fn member_by_email(&self, email: &Email) -> StoreResult<Option<Arc<MemberRecord>>> {
        accounts::member_by_email(self, email).await
    }
    async fn expire_pending(&self, created_by: Timestamp, at: Timestamp) -> StoreResult<u64> {
        invitations::expire_pending(self, created_by, at).await
    }
    async fn active_restriction(
        &self,
        member: MemberId,
        now: Timestamp,
    ) -> StoreResult<Option<RestrictionRecord>> {
        standing::active_restriction(self, member, now).await
    }
    async fn restrict(&self, member: MemberId, until: Timestamp, at: Timestamp) -> StoreResult<()> {
        standing::restrict(self, member, until, at).await
    }
    async fn lift_restriction(&self, member: MemberId, at: Timestamp) -> StoreResult<bool> {
        standing::lift_restriction(self, member, at).await
    }
    async fn open_reports(&self, limit: u32) -> StoreResult<Vec<ReportRecord>> {
        standing::open_reports(self, limit).await
    }
    async fn resolve_report(
        &self,
        id: i64,
        action: Resolution,
        by: MemberId,
        at: Timestamp,
    ) -> StoreResult<()> {
        standing::resolve_report(self, id, action, by, at).await
    }
    async fn notifications(
        &self,
        member: MemberId,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<NotificationRecord>> {
        outbox::notifications(self, member, before, limit).await
    }
    async fn notification(&self, id: i64) -> StoreResult<Option<NotificationRecord>> {
        outbox::notification(self, id).await
    }
    async fn unread_count(&self, member: MemberId) -> StoreResult<u64> {
        outbox::unread_count(self, member).await
    }
    async fn mark_read(
        &self,
        member: MemberId,
        ids: Option<Vec<i64>>,
        at: Timestamp,
    ) -> StoreResult<()> {
        outbox::mark_read(self, member, ids, at).await
    }
    async fn set_notification_prefs(
        &self,
        member: MemberId,
        prefs: NotificationPrefs,
    ) -> StoreResult<Arc<MemberRecord>> {
        accounts::set_notification_prefs(self, member, prefs).await
    }
    async fn send_reminders(
        &self,
        offsets: Vec<std::time::Duration>,
        now: Timestamp,
    ) -> StoreResult<u64> {
        invitations::send_reminders(self, offsets, now).await
    }
    async fn end_restrictions(&self, now: Timestamp) -> StoreResult<u64> {
        standing::end_restrictions(self, now).await
    }
    async fn events_after(&self, seq: i64, limit: u32) -> StoreResult<Vec<EventRecord>> {
        outbox::events_after(self, seq, limit).await
    }
    async fn last_event_seq(&self) -> StoreResult<i64> {
        outbox::last_event_seq(self).await
    }
    async fn consumer_position(&self, name: &str) -> StoreResult<i64> {
        outbox::consumer_position(self, name).await
    }
    async fn prune_events(&self, before: Timestamp) -> StoreResult<u64> {
        outbox::prune_events(self, before).await
    }
    async fn due_mail(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<MailItem>> {
        outbox::due_mail(self, now, limit).await
    }
    async fn mail_done(&self, ids: Vec<i64>) -> StoreResult<()> {
        outbox::mail_done(self, ids).await
    }
    async fn mail_queue_depth(&self) -> StoreResult<u64> {
        outbox::mail_queue_depth(self).await
    }
    async fn create_webhook(
        &self,
        url: String,
        events: Vec<String>,
        secret: String,
        at: Timestamp,
    ) -> StoreResult<WebhookRecord> {
        outbox::create_webhook(self, url, events, secret, at).await
    }
    async fn webhooks(&self) -> StoreResult<Vec<WebhookRecord>> {
        outbox::webhooks(self).await
    }
    async fn webhook(&self, id: i64) -> StoreResult<Option<WebhookRecord>> {
        outbox::webhook(self, id).await
    }
    async fn delete_webhook(&self, id: i64, at: Timestamp) -> StoreResult<bool> {
        outbox::delete_webhook(self, id, at).await
    }
    async fn deliveries(
        &self,
        webhook: i64,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        outbox::deliveries(self, webhook, before, limit).await
    }
    async fn queue_deliveries(
        &self,
        consumer: String,
        seq: i64,
        deliveries: Vec<NewDelivery>,
        at: Timestamp,
    ) -> StoreResult<()> {
        outbox::queue_deliveries(self, consumer, seq, deliveries, at).await
    }
    async fn delivery_heads(&self) -> StoreResult<Vec<DeliveryRecord>> {
        outbox::delivery_heads(self).await
    }
    async fn record_attempt(&self, id: i64, attempt: Attempt, at: Timestamp) -> StoreResult<()> {
        outbox::record_attempt(self, id, attempt, at).await
    }
    async fn pending_deliveries(&self) -> StoreResult<u64> {
        outbox::pending_deliveries(self).await
    }
    async fn idempotent_get(
        &self,
        member: MemberId,
        key: &str,
    ) -> StoreResult<Option<StoredResponse>> {
        accounts::idempotent_get(self, member, key).await
    }
    async fn idempotent_put(
        &self,
        member: MemberId,
        key: &str,
        response: StoredResponse,
        at: Timestamp,
    ) -> StoreResult<()> {
        accounts::idempotent_put(self, member, key, response, at).await
    }

    async fn lease(&self, name: &str, holder: &str, ttl: std::time::Duration) -> StoreResult<bool> {
        leases::lease(self, name, holder, ttl).await
    }
    async fn release(&self, name: &str, holder: &str) -> StoreResult<()> {
        leases::release(self, name, holder).await
    }
    fn shared(&self) -> bool {
        true
    }
    fn peers(&self) -> Option<Peers> {
        Some(Peers {
            listening: self.inner.listening.subscribe(),
            revoked: self.inner.revoked.subscribe(),
        })
    }
}
