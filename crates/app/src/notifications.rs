//! In-app notifications and the preferences that decide who is told what, on which channel.

use crate::views::{ChannelSettings, Notification, NotificationPage};
use crate::{cursor, summary, App, AppResult, PageRequest};
use rapport_domain::{
    Channels, EmailCadence, MailList, MemberId, NotificationKind, NotificationPrefs, RuleError,
};
use rapport_store::NotificationRecord;
use std::collections::{BTreeMap, HashMap};

/// A change to one kind's channels; what is left out stays as it is.
#[derive(Debug, Clone, Default)]
pub struct ChannelsInput {
    pub in_app: Option<bool>,
    pub email: Option<String>,
}

/// The preferences as the API shows them.
pub fn settings_view(prefs: &NotificationPrefs) -> BTreeMap<&'static str, ChannelSettings> {
    NotificationKind::ALL
        .into_iter()
        .map(|k| {
            let c = prefs.get(k);
            (
                k.as_str(),
                ChannelSettings {
                    in_app: c.in_app,
                    email: c.email.as_str(),
                },
            )
        })
        .collect()
}

/// Applies a settings change to `prefs`, refusing the whole change if any part is wrong.
pub fn apply_changes(
    mut prefs: NotificationPrefs,
    changes: &BTreeMap<String, ChannelsInput>,
) -> Result<NotificationPrefs, RuleError> {
    for (kind, change) in changes {
        let kind = NotificationKind::parse(kind).ok_or_else(|| {
            RuleError::validation(
                "notifications",
                format!(
                    "{kind:?} is not a notification kind (one of {})",
                    NotificationKind::ALL.map(|k| k.as_str()).join(", ")
                ),
            )
        })?;
        let mut channels: Channels = prefs.get(kind);
        if let Some(in_app) = change.in_app {
            channels.in_app = in_app;
        }
        if let Some(email) = &change.email {
            channels.email = EmailCadence::parse(email).ok_or_else(|| {
                RuleError::validation(
                    "notifications",
                    format!(
                        "email for {} must be off, immediate, daily or weekly",
                        kind.as_str()
                    ),
                )
            })?;
        }
        prefs.set(kind, channels);
    }
    Ok(prefs)
}

impl App {
    /// The member's notifications, newest first, and how many are unread.
    pub async fn notifications(
        &self,
        viewer: MemberId,
        page: PageRequest,
    ) -> AppResult<NotificationPage> {
        let before = cursor::before(page.cursor.as_deref())?;
        let limit = page.limit();
        let records = self.store().notifications(viewer, before, limit).await?;
        let next_cursor = cursor::after(&records, limit, |r| r.id);
        let items = self.notification_views(records).await?;
        Ok(NotificationPage {
            items,
            next_cursor,
            unread: self.store().unread_count(viewer).await?,
        })
    }

    pub(crate) async fn notification_views(
        &self,
        records: Vec<NotificationRecord>,
    ) -> AppResult<Vec<Notification>> {
        let mut actors: Vec<MemberId> = records.iter().filter_map(|r| r.actor).collect();
        actors.sort_unstable();
        actors.dedup();
        let members: HashMap<MemberId, _> = self
            .store()
            .members(&actors)
            .await?
            .into_iter()
            .map(|m| (m.id, m))
            .collect();
        Ok(records
            .into_iter()
            .map(|r| Notification {
                id: r.id.to_string(),
                kind: r.kind.as_str(),
                created_at: r.created_at.to_rfc3339(),
                read: r.read,
                actor: r
                    .actor
                    .and_then(|a| members.get(&a))
                    .filter(|m| !m.status.is_closed())
                    .map(|m| summary(m)),
                invitation_id: r.invitation.map(|i| i.to_string()),
            })
            .collect())
    }

    /// Marks notifications read: the given ones (ids that are not the member's are ignored, and
    /// reveal nothing), or all of them.
    pub async fn mark_read(&self, viewer: MemberId, ids: Option<Vec<String>>) -> AppResult<()> {
        let ids = match ids {
            None => None,
            Some(ids) => {
                if ids.len() > 1000 {
                    return Err(RuleError::validation("ids", "at most 1000 at a time").into());
                }
                Some(
                    ids.iter()
                        .map(|i| {
                            i.parse::<i64>().map_err(|_| {
                                RuleError::validation(
                                    "ids",
                                    format!("{i:?} is not a notification id"),
                                )
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                )
            }
        };
        self.store().mark_read(viewer, ids, self.now()).await?;
        Ok(())
    }
}

/// What an unsubscribe link's signature is made for.
const UNSUBSCRIBE: &str = "unsubscribe";

/// What a one-click unsubscribe link is signed over: that member and that list, nothing else.
fn unsubscribe_message(member: MemberId, list: MailList) -> String {
    format!("{}:{}", member.0, list.as_str())
}

impl App {
    /// The one-click unsubscribe link (RFC 8058) of `member`'s mail of `list`.
    pub(crate) fn unsubscribe_url(&self, member: MemberId, list: MailList) -> String {
        let signature = self
            .signer()
            .sign(UNSUBSCRIBE, &unsubscribe_message(member, list));
        format!(
            "{}/unsubscribe?m={}&l={}&s={signature}",
            self.inner.config.base_url,
            member.0,
            list.as_str()
        )
    }

    /// One-click unsubscribe, without signing in: turns off the mail of `list` for `member` when
    /// `signature` was made for exactly that member and list. Anything else is `NotFound`, which
    /// says nothing about who exists. Repeating it changes nothing more.
    pub async fn unsubscribe(
        &self,
        member: &str,
        list: &str,
        signature: &str,
    ) -> AppResult<MailList> {
        let (Ok(id), Some(list)) = (member.parse::<i64>(), MailList::parse(list)) else {
            return Err(RuleError::NotFound.into());
        };
        let member = MemberId(id);
        if !self
            .signer()
            .verify(UNSUBSCRIBE, &unsubscribe_message(member, list), signature)
        {
            return Err(RuleError::NotFound.into());
        }
        let current = self
            .store()
            .member(member)
            .await?
            .ok_or(RuleError::NotFound)?;
        let prefs = current.notification_prefs.unsubscribed(list);
        if prefs != current.notification_prefs {
            self.store().set_notification_prefs(member, prefs).await?;
        }
        Ok(list)
    }
}
