//! Invitations: sending one, reading one, accepting, ignoring and withdrawing, the inbox and the
//! sent list, and the views of invitations with their mutual connections.

use crate::views::*;
use crate::{cursor, node, party_of, summary, App, AppError, AppResult, PageRequest};
use rapport_domain::{
    Action, Email, IgnoreReason, InvitationId, MemberId, Note, RuleError, SeenState, Timestamp,
};
use rapport_store::{
    ActPolicy, InvitationRecord, MemberRecord, SendInvitation, SendOutcome, SendPolicy, StoreError,
};
use std::collections::HashMap;
use std::sync::Arc;

/// What a member gives to send an invitation: the recipient, and a note and the recipient's
/// email when they give them.
#[derive(Debug, Clone, Default)]
pub struct SendInput {
    pub recipient_id: String,
    pub note: Option<String>,
    pub recipient_email: Option<String>,
}

impl App {
    fn act_policy(&self) -> ActPolicy {
        ActPolicy {
            max_connections: self.inner.config.max_connections,
            reinvite_cooldown: self.inner.config.reinvite_cooldown,
            withdrawal_notice: self.inner.config.withdrawal_notice,
        }
    }

    /// The configured limits a send is checked against.
    pub(crate) fn send_policy(&self) -> SendPolicy {
        let c = &self.inner.config;
        SendPolicy {
            weekly_free: c.weekly_invitation_limit,
            weekly_premium: c.premium_weekly_invitation_limit,
            outstanding: c.outstanding_limit,
            max_connections: c.max_connections,
            first_reminder: c.reminders.first().copied(),
        }
    }

    pub async fn send_invitation(&self, sender: MemberId, input: SendInput) -> AppResult<Sent> {
        let note = match input.note.as_deref() {
            Some(raw) => Note::parse(raw, self.inner.config.note_max_chars)?,
            None => None,
        };
        if input.recipient_id.trim() == sender.to_string() {
            return Err(RuleError::SelfInvitation.into());
        }
        // A malformed address is simply not the recipient's: it gets the answer a wrong or missing
        // one gets, so the reply never tells whether an address belongs to someone.
        let recipient_email = input
            .recipient_email
            .as_deref()
            .and_then(|raw| Email::parse(raw).ok());
        let recipient: MemberId = input
            .recipient_id
            .trim()
            .parse()
            .map_err(|_| RuleError::NotFound)?;
        let outcome = self
            .store()
            .send_invitation(SendInvitation {
                sender,
                recipient,
                note,
                recipient_email,
                shares_connection: self.graph().mutual_count(node(sender), node(recipient)) > 0,
                policy: self.send_policy(),
                at: self.now(),
            })
            .await?;
        match outcome {
            SendOutcome::Created(inv) => {
                tracing::info!(invitation = %inv.id, "invitation sent");
                let mut views = self.invitation_views(sender, vec![inv]).await?;
                views
                    .pop()
                    .map(|v| Sent::Invitation(Box::new(v)))
                    .ok_or_else(|| AppError::Internal("view".into()))
            }
            SendOutcome::Connected {
                accepted,
                connection,
            } => {
                tracing::info!(invitation = %accepted.id, "mutual invitations connected");
                Ok(Sent::Connected(
                    self.connection_view(connection.member, connection.connected_at)
                        .await?,
                ))
            }
        }
    }

    /// One invitation, as the party who asks may see it.
    pub async fn invitation(&self, viewer: MemberId, id: &str) -> AppResult<Invitation> {
        let id: InvitationId = id.parse().map_err(|_| RuleError::NotFound)?;
        let inv = self
            .store()
            .invitation(id)
            .await?
            .ok_or(RuleError::NotFound)?;
        if !self.sees(viewer, &inv).await? {
            return Err(RuleError::NotFound.into());
        }
        let mut views = self.invitation_views(viewer, vec![inv]).await?;
        views.pop().ok_or_else(|| RuleError::NotFound.into())
    }

    /// Whether `viewer` may see `inv`: they are a party to it, its state is one that party may
    /// know, and the other party is visible to them (not blocked either way, not deactivated,
    /// suspended or closed).
    async fn sees(&self, viewer: MemberId, inv: &InvitationRecord) -> AppResult<bool> {
        if party_of(inv, viewer)
            .and_then(|p| inv.state.seen_by(p))
            .is_none()
        {
            return Ok(false);
        }
        let other = if inv.sender == viewer {
            inv.recipient
        } else {
            inv.sender
        };
        match self.visible_member(viewer, other).await {
            Ok(_) => Ok(true),
            Err(AppError::Rule(RuleError::NotFound)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub async fn accept(&self, viewer: MemberId, id: &str) -> AppResult<Connection> {
        let acted = self.act(viewer, id, Action::Accept).await?;
        let c = acted
            .connection
            .ok_or_else(|| AppError::Internal("accept made no connection".into()))?;
        tracing::info!(invitation = %acted.invitation.id, "invitation accepted");
        self.connection_view(c.member, c.connected_at).await
    }

    pub async fn ignore(
        &self,
        viewer: MemberId,
        id: &str,
        reason: Option<IgnoreReason>,
    ) -> AppResult<()> {
        let acted = self.act(viewer, id, Action::Ignore(reason)).await?;
        tracing::info!(invitation = %acted.invitation.id, "invitation ignored");
        Ok(())
    }

    pub async fn withdraw(&self, viewer: MemberId, id: &str) -> AppResult<()> {
        let acted = self.act(viewer, id, Action::Withdraw).await?;
        tracing::info!(invitation = %acted.invitation.id, "invitation withdrawn");
        Ok(())
    }

    async fn act(
        &self,
        viewer: MemberId,
        id: &str,
        action: Action,
    ) -> AppResult<rapport_store::Acted> {
        let id: InvitationId = id.parse().map_err(|_| RuleError::NotFound)?;
        match self
            .store()
            .act(id, viewer, action, self.act_policy(), self.now())
            .await
        {
            // 404 comes before 409: an invitation the viewer cannot see (its other party is now
            // hidden from them) is not found, whatever its state, as reading it is.
            Err(StoreError::Rule(refusal)) if refusal != RuleError::NotFound => {
                let visible = match self.store().invitation(id).await? {
                    Some(inv) => self.sees(viewer, &inv).await?,
                    None => false,
                };
                Err(if visible {
                    refusal
                } else {
                    RuleError::NotFound
                }
                .into())
            }
            acted => Ok(acted?),
        }
    }

    pub async fn received(
        &self,
        viewer: MemberId,
        page: PageRequest,
    ) -> AppResult<Page<Invitation>> {
        let before = cursor::before(page.cursor.as_deref())?.map(InvitationId);
        let limit = page.limit();
        let records = self.store().received(viewer, before, limit).await?;
        self.invitation_page(viewer, records, limit).await
    }

    /// How many pending invitations `viewer` received, counting at most `up_to`: the badge of
    /// the pages, without building the invitations' views.
    pub async fn pending_received_count(&self, viewer: MemberId, up_to: u32) -> AppResult<usize> {
        Ok(self.store().received(viewer, None, up_to).await?.len())
    }

    pub async fn sent(
        &self,
        viewer: MemberId,
        older_than: Option<&str>,
        page: PageRequest,
    ) -> AppResult<Page<Invitation>> {
        let created_by = older_than.map(|o| self.cutoff(o)).transpose()?;
        let before = cursor::before(page.cursor.as_deref())?.map(InvitationId);
        let limit = page.limit();
        let records = self.store().sent(viewer, created_by, before, limit).await?;
        self.invitation_page(viewer, records, limit).await
    }

    /// Withdraws every pending invitation older than `older_than` (or, with `dry_run`, counts them).
    pub async fn bulk_withdraw(
        &self,
        viewer: MemberId,
        older_than: &str,
        dry_run: bool,
    ) -> AppResult<Count> {
        let created_by = self.cutoff(older_than)?;
        let count = self
            .store()
            .withdraw_older(viewer, created_by, dry_run, self.act_policy(), self.now())
            .await?;
        if !dry_run {
            tracing::info!(count, "bulk withdrawal");
        }
        Ok(Count { count })
    }

    fn cutoff(&self, older_than: &str) -> AppResult<Timestamp> {
        let d = rapport_domain::clock::parse_duration(older_than)
            .map_err(|m| RuleError::validation("older_than", m))?;
        Ok(self.now().minus(d))
    }

    async fn invitation_page(
        &self,
        viewer: MemberId,
        records: Vec<InvitationRecord>,
        limit: u32,
    ) -> AppResult<Page<Invitation>> {
        let next_cursor = cursor::after(&records, limit, |r| r.id.0);
        let items = self.invitation_views(viewer, records).await?;
        Ok(Page {
            items,
            next_cursor,
            total: None,
        })
    }

    /// Builds the views of several invitations with one look-up of every member they name.
    pub(crate) async fn invitation_views(
        &self,
        viewer: MemberId,
        records: Vec<InvitationRecord>,
    ) -> AppResult<Vec<Invitation>> {
        let hidden = self.hidden(viewer).await?;
        // Mutual connections are the same from either side: ask them from the viewer's.
        let others: Vec<MemberId> = records
            .iter()
            .map(|r| {
                if r.sender == viewer {
                    r.recipient
                } else {
                    r.sender
                }
            })
            .collect();
        let mutuals = self.mutual_page(&hidden, viewer, &others, 3);
        let mut wanted: Vec<MemberId> = records
            .iter()
            .flat_map(|r| [r.sender, r.recipient])
            .collect();
        wanted.extend(mutuals.iter().flat_map(|(_, p)| p));
        wanted.sort_unstable();
        wanted.dedup();
        let members: HashMap<MemberId, Arc<MemberRecord>> = self
            .store()
            .members(&wanted)
            .await?
            .into_iter()
            .map(|m| (m.id, m))
            .collect();
        let mut out = Vec::with_capacity(records.len());
        for (r, (mutual_connections, preview)) in records.into_iter().zip(mutuals) {
            let (Some(sender), Some(recipient)) =
                (members.get(&r.sender), members.get(&r.recipient))
            else {
                continue;
            };
            let Some(state) = party_of(&r, viewer).and_then(|p| r.state.seen_by(p)) else {
                continue;
            };
            out.push(Invitation {
                id: r.id.to_string(),
                sender: summary(sender),
                recipient: summary(recipient),
                note: r.note,
                state: state.as_str(),
                created_at: r.created_at.to_rfc3339(),
                // When a "closed" invitation was closed would tell the sender when the recipient
                // acted: ignored, expired and cancelled must read the same, so it has no date.
                decided_at: r
                    .decided_at
                    .filter(|_| state != SeenState::Closed)
                    .map(Timestamp::to_rfc3339),
                mutual_connections,
                mutual_preview: preview
                    .iter()
                    .filter_map(|id| {
                        members
                            .get(id)
                            .filter(|m| m.is_active())
                            .map(|m| summary(m))
                    })
                    .collect(),
            });
        }
        Ok(out)
    }
}
