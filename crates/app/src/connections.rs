//! The member's own edges: their connections (listed, removed) and the members they blocked.

use crate::views::*;
use crate::{cursor, summary, App, AppResult, PageRequest};
use rapport_domain::{MemberId, RuleError, Timestamp};
use rapport_store::ConnectionQuery;

impl App {
    pub async fn connections(
        &self,
        viewer: MemberId,
        name: Option<&str>,
        page: PageRequest,
    ) -> AppResult<Page<Connection>> {
        let name = name.map(str::trim).filter(|n| !n.is_empty());
        if name.is_some_and(|n| n.chars().count() > 100) {
            return Err(RuleError::validation("q", "must be at most 100 characters").into());
        }
        let after = page
            .cursor
            .as_deref()
            .map(|c| cursor::decode(c, 2))
            .transpose()?
            .map(|p| (Timestamp(p[0]), MemberId(p[1])));
        let limit = page.limit();
        let result = self
            .store()
            .connections(
                viewer,
                ConnectionQuery {
                    name: name.map(str::to_owned),
                    after,
                    limit,
                },
            )
            .await?;
        let next_cursor = (result.items.len() as u32 == limit)
            .then(|| {
                result
                    .items
                    .last()
                    .map(|(c, _)| cursor::encode(&[c.connected_at.0, c.member.0]))
            })
            .flatten();
        let items = result
            .items
            .iter()
            .map(|(c, m)| Connection {
                member: summary(m),
                connected_at: c.connected_at.to_rfc3339(),
            })
            .collect();
        Ok(Page {
            items,
            next_cursor,
            total: Some(result.total),
        })
    }

    /// Removes a connection, silently for the other side.
    pub async fn remove_connection(&self, viewer: MemberId, other: &str) -> AppResult<()> {
        let other: MemberId = other.parse().map_err(|_| RuleError::NotFound)?;
        self.visible_member(viewer, other).await?;
        if !self
            .store()
            .remove_connection(viewer, other, self.now())
            .await?
        {
            return Err(RuleError::NotFound.into());
        }
        tracing::info!("connection removed");
        Ok(())
    }

    pub(crate) async fn connection_view(
        &self,
        other: MemberId,
        at: Timestamp,
    ) -> AppResult<Connection> {
        // A name for the card: from the member cache (the member was active inside the
        // transaction that connected them).
        let m = self
            .store()
            .members(&[other])
            .await?
            .pop()
            .ok_or(RuleError::NotFound)?;
        Ok(Connection {
            member: summary(&m),
            connected_at: at.to_rfc3339(),
        })
    }

    /// Blocks a member: pending invitations between the two are cancelled, their connection is
    /// removed, and from now on each is not found to the other.
    pub async fn block(&self, viewer: MemberId, other: &str) -> AppResult<()> {
        let other: MemberId = other.parse().map_err(|_| RuleError::NotFound)?;
        if other == viewer {
            return Err(RuleError::validation("member_id", "you cannot block yourself").into());
        }
        if self
            .store()
            .blocked_by(viewer)
            .await?
            .iter()
            .any(|b| b.id == other)
        {
            return Ok(()); // already blocked: blocking again changes nothing
        }
        // Someone who blocked the viewer, or is hidden for any other reason, reads as unknown.
        self.visible_member(viewer, other).await?;
        self.store().block(viewer, other, self.now()).await?;
        tracing::info!("member blocked");
        Ok(())
    }

    pub async fn unblock(&self, viewer: MemberId, other: &str) -> AppResult<()> {
        let other: MemberId = other.parse().map_err(|_| RuleError::NotFound)?;
        if !self.store().unblock(viewer, other).await? {
            return Err(RuleError::NotFound.into());
        }
        Ok(())
    }

    pub async fn blocks(&self, viewer: MemberId) -> AppResult<Page<MemberSummary>> {
        let items: Vec<MemberSummary> = self
            .store()
            .blocked_by(viewer)
            .await?
            .iter()
            .map(|m| summary(m))
            .collect();
        let total = Some(items.len() as u64);
        Ok(Page {
            items,
            next_cursor: None,
            total,
        })
    }
}
