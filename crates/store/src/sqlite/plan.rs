//! The embedded store's half of a plan: reading the facts a rule decides on, and carrying out the
//! [`Plan`] the domain returns, effect by effect, inside the writer's transaction. Nothing here
//! decides: every consequence is the domain's (`rapport_domain::plan`).

use super::notices;
use super::rules::{invitation_by_id, pending_between};
use super::writer::WriteTx;
use crate::*;
use rapport_domain::plan::{
    ActFacts, Effect, GuessFacts, InvitationRef, MemberFacts, Notice, PairFacts, PendingFacts,
    ReviewFacts, SendFacts,
};
use rapport_domain::standing::{self, Standing};
use rapport_domain::{IgnoreReason, InvitationsFrom, NotificationPrefs, Plan};
use rusqlite::{params, Connection, OptionalExtension};

/// What the rules read about member `id`, if it exists.
fn member_facts(c: &Connection, id: MemberId) -> rusqlite::Result<Option<MemberFacts>> {
    c.prepare_cached(
        "SELECT status = 'active', email, tier = 'premium', invitations_from, pending_sent,
                connection_count, notification_prefs
           FROM members WHERE id = ?1",
    )?
    .query_row([id.0], |r| {
        let from: String = r.get(3)?;
        Ok(MemberFacts {
            active: r.get(0)?,
            email: r.get(1)?,
            premium: r.get(2)?,
            invitations_from: InvitationsFrom::parse(&from).unwrap_or_default(),
            pending_sent: count(r.get(4)?),
            connections: count(r.get(5)?),
            prefs: NotificationPrefs::decode(r.get::<_, Option<String>>(6)?.as_deref()),
        })
    })
    .optional()
}

/// A stored count as the rules read it: never negative.
pub(super) fn count(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

pub(super) fn exists(
    c: &Connection,
    sql: &str,
    p: impl rusqlite::Params,
) -> rusqlite::Result<bool> {
    c.prepare_cached(sql)?.exists(p)
}

/// The facts of a send, and the pending invitation between the two (the one a reverse invite
/// accepts). `None` when the sender does not exist.
pub(super) fn send_facts(
    c: &Connection,
    cmd: &SendInvitation,
) -> rusqlite::Result<Option<(SendFacts, Option<InvitationRecord>)>> {
    let (s, r) = (cmd.sender.0, cmd.recipient.0);
    let Some(sender) = member_facts(c, cmd.sender)? else {
        return Ok(None);
    };
    let recipient = if s == r {
        None
    } else {
        member_facts(c, cmd.recipient)?
    };
    let pending = pending_between(c, cmd.sender, cmd.recipient)?;
    let pair = |from: i64, to: i64| {
        c.prepare_cached(
            "SELECT barred, cooldown_until, withdrawals FROM pair_rules WHERE sender_id = ?1 AND recipient_id = ?2",
        )?
        .query_row([from, to], |row| {
            Ok(PairFacts {
                barred: row.get(0)?,
                cooldown_until: row.get::<_, Option<i64>>(1)?.map(Timestamp),
                withdrawals: count(row.get(2)?),
            })
        })
        .optional()
        .map(Option::unwrap_or_default)
    };
    let forward = pair(s, r)?;
    let nth = |limit: u32| {
        c.prepare_cached(
            "SELECT created_at FROM invitations WHERE sender_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2",
        )?
        .query_row(params![s, i64::from(limit.max(1)) - 1], |row| {
            row.get(0).map(Timestamp)
        })
        .optional()
    };
    let [free, premium] = cmd.weekly_limits();
    let review = if rapport_domain::plan::send_needs_review(forward.withdrawals) {
        let mut review = review_facts(c, cmd.sender, cmd.at)?;
        review.standing.withdrawals_to_one_person = count(
            c.prepare_cached(
                "SELECT count(*) FROM invitations
                  WHERE recipient_id = ?2 AND sender_id = ?1 AND state = 'withdrawn' AND decided_at > ?3",
            )?
            .query_row(params![s, r, cmd.at.minus(standing::WINDOW).0], |row| row.get(0))?,
        );
        Some(review)
    } else {
        None
    };
    let facts = SendFacts {
        sender,
        recipient,
        blocked: exists(
            c,
            "SELECT 1 FROM blocks WHERE (blocker_id = ?1 AND blocked_id = ?2) OR (blocker_id = ?2 AND blocked_id = ?1)",
            [s, r],
        )?,
        connected: exists(
            c,
            "SELECT 1 FROM connections WHERE member_id = ?1 AND other_id = ?2",
            [s, r],
        )?,
        pending: pending.as_ref().map(|p| PendingFacts {
            id: p.id,
            sender: p.sender,
        }),
        pair: forward,
        recipient_barred: pair(r, s)?.barred,
        nth_newest: [nth(free)?, nth(premium)?],
        restricted_until: restricted_until(c, cmd.sender, cmd.at)?,
        review,
        guesses: match cmd.recipient_email {
            Some(_) => Some(guess_facts(c, cmd.sender, cmd.at)?),
            None => None,
        },
    };
    Ok(Some((facts, pending)))
}

/// The facts of an accept, ignore or withdrawal of invitation `id`, and the invitation; `None`
/// when there is no such invitation.
pub(super) fn act_facts(
    c: &Connection,
    id: InvitationId,
    action: Action,
    at: Timestamp,
) -> rusqlite::Result<Option<(ActFacts, InvitationRecord)>> {
    let Some(inv) = invitation_by_id(c, id)? else {
        return Ok(None);
    };
    let side = |m: MemberId| -> rusqlite::Result<(u32, NotificationPrefs)> {
        Ok(
            member_facts(c, m)?.map_or((0, NotificationPrefs::default()), |f| {
                (f.connections, f.prefs)
            }),
        )
    };
    let (sender_connections, sender_prefs) = side(inv.sender)?;
    let (recipient_connections, recipient_prefs) = side(inv.recipient)?;
    let review = if rapport_domain::plan::act_needs_review(action) {
        Some(review_facts(c, inv.sender, at)?)
    } else {
        None
    };
    let facts = ActFacts {
        invitation: inv.facts(),
        sender_connections,
        recipient_connections,
        blocked: exists(
            c,
            "SELECT 1 FROM blocks WHERE (blocker_id = ?1 AND blocked_id = ?2) OR (blocker_id = ?2 AND blocked_id = ?1)",
            [inv.sender.0, inv.recipient.0],
        )?,
        sender_prefs,
        recipient_prefs,
        restricted_until: restricted_until(c, inv.sender, at)?,
        review,
    };
    Ok(Some((facts, inv)))
}

/// When the member's restriction in force at `now` ends (the one lasting longest), if any.
pub(super) fn restricted_until(
    c: &Connection,
    member: MemberId,
    now: Timestamp,
) -> rusqlite::Result<Option<Timestamp>> {
    Ok(super::rules::active_restriction(c, member, now)?.map(|r| r.until))
}

/// The sender's last 90 days and past restrictions, as a standing review reads them.
pub(super) fn review_facts(
    c: &Connection,
    sender: MemberId,
    now: Timestamp,
) -> rusqlite::Result<ReviewFacts> {
    let standing = c
        .prepare_cached(
            "SELECT coalesce(sum(ignore_reason IS NOT NULL), 0),
                    coalesce(sum(state IN ('accepted', 'ignored', 'expired')), 0),
                    coalesce(sum(state = 'accepted'), 0)
               FROM invitations WHERE sender_id = ?1 AND created_at > ?2",
        )?
        .query_row(params![sender.0, now.minus(standing::WINDOW).0], |r| {
            Ok(Standing {
                ignored_with_reason: count(r.get(0)?),
                decided: count(r.get(1)?),
                accepted: count(r.get(2)?),
                withdrawals_to_one_person: 0,
            })
        })?;
    let restrictions_before = c
        .prepare_cached("SELECT count(*) FROM restrictions WHERE member_id = ?1")?
        .query_row([sender.0], |r| r.get(0))?;
    Ok(ReviewFacts {
        standing,
        restrictions_before: count(restrictions_before),
    })
}

/// The wrong addresses the sender gave in the standing window, and their past restrictions.
fn guess_facts(c: &Connection, sender: MemberId, now: Timestamp) -> rusqlite::Result<GuessFacts> {
    c.prepare_cached(
        "SELECT (SELECT count(*) FROM wrong_emails WHERE sender_id = ?1 AND at > ?2),
                (SELECT count(*) FROM restrictions WHERE member_id = ?1)",
    )?
    .query_row(params![sender.0, now.minus(standing::WINDOW).0], |r| {
        Ok(GuessFacts {
            wrong_emails: count(r.get(0)?),
            restrictions_before: count(r.get(1)?),
        })
    })
}

/// Carries out `plan`, in order, and reports the member rows it changed. Returns the id of the
/// invitation it created, if any.
pub(super) fn execute(tx: &mut WriteTx<'_>, plan: &Plan) -> StoreResult<Option<InvitationId>> {
    let at = plan.at;
    let mut created: Option<InvitationId> = None;
    // Members whose row the plan changed: read back and reported once it is carried out.
    let mut saved: Vec<MemberId> = Vec::new();
    let resolve = |r: InvitationRef, created: Option<InvitationId>| match r {
        InvitationRef::Existing(id) => Ok(id),
        InvitationRef::New => created.ok_or_else(|| {
            StoreError::Internal("a plan used its invitation before creating it".into())
        }),
    };
    for effect in &plan.effects {
        let c = tx.conn;
        match effect {
            Effect::CreateInvitation {
                sender,
                recipient,
                note,
                next_reminder_at,
            } => {
                let inserted = c
                    .prepare_cached(
                        "INSERT INTO invitations (sender_id, recipient_id, note, created_at, next_reminder_at)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                    )?
                    .execute(params![sender.0, recipient.0, note, at.0, next_reminder_at.map(|t| t.0)]);
                match inserted {
                    Ok(_) => {}
                    Err(e) if super::is_unique_violation(&e) => {
                        return Err(RuleError::InvitationPending.into())
                    }
                    Err(e) => return Err(e.into()),
                }
                created = Some(InvitationId(c.last_insert_rowid()));
            }
            Effect::Decide {
                invitation,
                state,
                reason,
            } => {
                c.prepare_cached(
                    "UPDATE invitations SET state = ?2, ignore_reason = ?3, decided_at = ?4, next_reminder_at = NULL
                      WHERE id = ?1 AND state = 'pending'",
                )?
                .execute(params![invitation.0, state.as_str(), reason.map(IgnoreReason::as_str), at.0])?;
            }
            Effect::PendingSent { member, delta } => {
                c.prepare_cached(
                    "UPDATE members SET pending_sent = pending_sent + ?2 WHERE id = ?1",
                )?
                .execute([member.0, *delta])?;
            }
            Effect::LiftBar { sender, recipient } => {
                c.prepare_cached(
                    "UPDATE pair_rules SET barred = 0 WHERE sender_id = ?1 AND recipient_id = ?2",
                )?
                .execute([sender.0, recipient.0])?;
            }
            Effect::Bar { sender, recipient } => {
                c.prepare_cached(
                    "INSERT INTO pair_rules (sender_id, recipient_id, barred) VALUES (?1, ?2, 1)
                     ON CONFLICT (sender_id, recipient_id) DO UPDATE SET barred = 1",
                )?
                .execute([sender.0, recipient.0])?;
            }
            Effect::Withdrawal {
                sender,
                recipient,
                cooldown_until,
            } => note_withdrawal(c, *sender, *recipient, *cooldown_until)?,
            Effect::Connect { a, b } => {
                super::network::connect(tx, *a, *b, at)?;
            }
            Effect::Report {
                invitation,
                reporter,
                reported,
            } => {
                c.prepare_cached(
                    "INSERT INTO reports (invitation_id, reporter_id, reported_id, created_at) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![invitation.0, reporter.0, reported.0, at.0])?;
            }
            Effect::ForgetForRecipient(id) => notices::forget_for_recipient(c, *id)?,
            Effect::WrongEmail { sender, recipient } => {
                c.prepare_cached(
                    "INSERT INTO wrong_emails (sender_id, at, recipient_id) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![sender.0, at.0, recipient.0])?;
            }
            Effect::Restrict {
                member,
                level,
                reason,
                source,
                until,
            } => {
                c.prepare_cached(
                    "INSERT INTO restrictions (member_id, level, reason, source, starts_at, until) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![member.0, level, reason.as_str(), source, at.0, until.0])?;
                tracing::info!(member = %member, reason = reason.as_str(), level, "sender restricted");
            }
            Effect::LiftRestrictions { member } => {
                c.prepare_cached(
                    "UPDATE restrictions SET lifted_at = ?2, end_noticed = 1
                      WHERE member_id = ?1 AND until > ?2 AND lifted_at IS NULL",
                )?
                .execute(params![member.0, at.0])?;
            }
            Effect::ResolveReport {
                report,
                resolution,
                by,
            } => {
                c.prepare_cached(
                    "UPDATE reports SET status = ?2, resolved_at = ?3, resolved_by = ?4 WHERE id = ?1",
                )?
                .execute(params![report, resolution.status(), at.0, by.0])?;
            }
            Effect::SetStatus { member, status } => {
                c.prepare_cached("UPDATE members SET status = ?2 WHERE id = ?1")?
                    .execute(params![member.0, status.as_str()])?;
                saved.push(*member);
            }
            Effect::RevokeTokens { member } => {
                c.prepare_cached("DELETE FROM tokens WHERE member_id = ?1")?
                    .execute([member.0])?;
            }
            Effect::GraphVisibility {
                member,
                others,
                shown,
            } => {
                for change in Change::visibility(*member, others, *shown) {
                    tx.record(change);
                }
            }
            Effect::Disconnect { a, b } => {
                let n = c
                    .prepare_cached(
                        "DELETE FROM connections
                          WHERE (member_id = ?1 AND other_id = ?2) OR (member_id = ?2 AND other_id = ?1)",
                    )?
                    .execute([a.0, b.0])?;
                if n > 0 {
                    super::network::add_connection_count(c, *a, *b, -1)?;
                    tx.record(Change::Disconnected(*a, *b));
                }
            }
            Effect::Block { blocker, blocked } => {
                c.prepare_cached(
                    "INSERT OR IGNORE INTO blocks (blocker_id, blocked_id, created_at) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![blocker.0, blocked.0, at.0])?;
            }
            Effect::EraseAccount { member } => {
                let id = member.0;
                c.prepare_cached("DELETE FROM blocks WHERE blocker_id = ?1 OR blocked_id = ?1")?
                    .execute([id])?;
                c.prepare_cached("DELETE FROM idempotency_keys WHERE member_id = ?1")?
                    .execute([id])?;
                c.prepare_cached("DELETE FROM external_ids WHERE member_id = ?1")?
                    .execute([id])?;
                c.prepare_cached(
                    "UPDATE members SET status = 'closed', email = 'closed-' || id || '@closed.invalid',
                            password_hash = '', name = 'Former member', headline = '', company = '',
                            location = '', pending_sent = 0
                      WHERE id = ?1",
                )?
                .execute([id])?;
                // Notes they wrote are personal data too.
                c.prepare_cached("UPDATE invitations SET note = NULL WHERE sender_id = ?1")?
                    .execute([id])?;
                saved.push(*member);
            }
            Effect::NextReminder {
                invitation,
                sent,
                next,
            } => {
                c.prepare_cached(
                    "UPDATE invitations SET reminders_sent = reminders_sent + ?2, next_reminder_at = ?3
                      WHERE id = ?1",
                )?
                .execute(params![invitation.0, i64::from(*sent), next.map(|t| t.0)])?;
            }
            Effect::RestrictionEndNoticed { restriction } => {
                c.prepare_cached("UPDATE restrictions SET end_noticed = 1 WHERE id = ?1")?
                    .execute([restriction])?;
            }
            Effect::SetPassword { member, hash } => {
                c.prepare_cached("UPDATE members SET password_hash = ?2 WHERE id = ?1")?
                    .execute(params![member.0, hash.0])?;
            }
            Effect::DeleteToken { hash } => {
                c.prepare_cached("DELETE FROM tokens WHERE hash = ?1")?
                    .execute([&hash[..]])?;
            }
            Effect::Emit { notice, event } => {
                let invitation = event.invitation.map(|r| resolve(r, created)).transpose()?;
                let notification = match notice {
                    Some(n) => {
                        let about = n.invitation.map(|r| resolve(r, created)).transpose()?;
                        write_notice(c, n, about, at)?.map(|id| (id, n.member))
                    }
                    None => None,
                };
                let e = notices::Event {
                    kind: event.kind,
                    invitation,
                    a: event.a,
                    b: event.b,
                    notification,
                    data: event.data.clone(),
                };
                notices::emit(tx, e, at)?;
            }
        }
    }
    for member in saved {
        super::accounts::saved_member(tx, member)?;
    }
    Ok(created)
}

/// Writes a notice: mail queued when its channel is on, and the in-app notification, whose id is
/// returned.
fn write_notice(
    c: &Connection,
    n: &Notice,
    invitation: Option<InvitationId>,
    at: Timestamp,
) -> rusqlite::Result<Option<i64>> {
    notices::deliver(c, n.member, n.kind, n.actor, invitation, n.channels, at)
}

/// Starts the re-invite cooldown of `sender` towards `recipient` after a withdrawal, and counts the
/// withdrawal (repeated withdraw-and-resend cycles weigh on the sender's standing).
fn note_withdrawal(
    c: &Connection,
    sender: MemberId,
    recipient: MemberId,
    until: Timestamp,
) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO pair_rules (sender_id, recipient_id, cooldown_until, withdrawals) VALUES (?1, ?2, ?3, 1)
         ON CONFLICT (sender_id, recipient_id)
         DO UPDATE SET cooldown_until = excluded.cooldown_until, withdrawals = withdrawals + 1",
    )?
    .execute(params![sender.0, recipient.0, until.0])?;
    Ok(())
}
