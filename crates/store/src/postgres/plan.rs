//! The PostgreSQL store's half of a plan: the facts of a send or an action read in one call that
//! first takes the members' row locks (`rapport_send_facts`, `rapport_act_facts`), and the
//! [`Plan`] the domain made of them written in one call (`rapport_apply`, which takes the plan as
//! JSON). The functions are in `migrations/postgres/0002_plans.sql`; they read and write, and
//! decide nothing. So a send, accept, ignore or withdrawal is BEGIN, read, write, COMMIT.

use super::*;
use crate::{InvitationRecord, SendInvitation};
use rapport_domain::plan::{
    ActFacts, Effect, GuessFacts, InvitationRef, MemberFacts, PairFacts, PendingFacts, ReviewFacts,
    SendFacts,
};
use rapport_domain::standing::{self, Standing};
use rapport_domain::{Action, EmailCadence, InvitationsFrom, Plan};
use serde_json::{json, Value};

/// A stored count that may be NULL (not read), as the rules read it.
fn count(n: Option<i64>) -> u32 {
    super::rules::count_u32(n.unwrap_or(0))
}

/// The member columns `rapport_send_facts` returns from `o` on (active, email, premium, who may
/// invite, pending sent, connections, preferences).
fn member_facts(r: &Row, o: usize) -> MemberFacts {
    MemberFacts {
        active: r.get::<_, Option<bool>>(o).unwrap_or(false),
        email: r.get::<_, Option<String>>(o + 1).unwrap_or_default(),
        premium: r.get::<_, Option<bool>>(o + 2).unwrap_or(false),
        invitations_from: r
            .get::<_, Option<&str>>(o + 3)
            .and_then(InvitationsFrom::parse)
            .unwrap_or_default(),
        pending_sent: count(r.get(o + 4)),
        connections: count(r.get(o + 5)),
        prefs: NotificationPrefs::decode(r.get::<_, Option<&str>>(o + 6)),
    }
}

/// The standing counts from `o` on (ignored with a reason, decided, accepted), and the number of
/// past restrictions at `restrictions`; `None` when they were not read.
fn review_facts(r: &Row, o: usize, restrictions: usize, withdrawn_to: u32) -> Option<ReviewFacts> {
    let ignored: Option<i64> = r.get(o);
    ignored.map(|ignored| ReviewFacts {
        standing: Standing {
            ignored_with_reason: count(Some(ignored)),
            decided: count(r.get(o + 1)),
            accepted: count(r.get(o + 2)),
            withdrawals_to_one_person: withdrawn_to,
        },
        restrictions_before: count(r.get(restrictions)),
    })
}

/// Locks sender and recipient and reads the facts of a send, and the pending invitation between
/// them; `None` when the sender does not exist.
pub(super) async fn send_facts(
    tx: &Tx,
    cmd: &SendInvitation,
) -> TxResult<Option<(SendFacts, Option<InvitationRecord>)>> {
    let [free, premium] = cmd.weekly_limits();
    let Some(r) = tx
        .query_opt(
            "SELECT * FROM rapport_send_facts($1, $2, $3, $4, $5, $6, $7)",
            &[
                &cmd.sender.0,
                &cmd.recipient.0,
                &i64::from(free),
                &i64::from(premium),
                &cmd.at.0,
                &cmd.at.minus(standing::WINDOW).0,
                &i64::from(standing::RESENDS),
            ],
        )
        .await?
    else {
        return Ok(None);
    };
    let pending = match r.get::<_, Option<i64>>(17) {
        Some(id) => {
            let state: &str = r.get(21);
            Some(InvitationRecord {
                id: InvitationId(id),
                sender: MemberId(r.get(18)),
                recipient: MemberId(r.get(19)),
                note: r.get(20),
                state: InvitationState::parse(state).ok_or_else(|| {
                    Failure::Internal(format!("unknown invitation state {state}"))
                })?,
                ignore_reason: r.get::<_, Option<&str>>(22).and_then(IgnoreReason::parse),
                created_at: Timestamp(r.get(23)),
                decided_at: r.get::<_, Option<i64>>(24).map(Timestamp),
            })
        }
        None => None,
    };
    let at = |i: usize| r.get::<_, Option<i64>>(i).map(Timestamp);
    let facts = SendFacts {
        sender: member_facts(&r, 0),
        recipient: r.get::<_, bool>(7).then(|| member_facts(&r, 8)),
        blocked: r.get(15),
        connected: r.get(16),
        pending: pending.as_ref().map(|p| PendingFacts {
            id: p.id,
            sender: p.sender,
        }),
        pair: PairFacts {
            barred: r.get(25),
            cooldown_until: at(26),
            withdrawals: count(r.get(27)),
        },
        recipient_barred: r.get(28),
        nth_newest: [at(29), at(30)],
        restricted_until: at(31),
        review: review_facts(&r, 32, 36, count(r.get(35))),
        guesses: match cmd.recipient_email {
            Some(_) => Some(guess_facts(tx, cmd.sender, cmd.at).await?),
            None => None,
        },
    };
    Ok(Some((facts, pending)))
}

/// The wrong addresses the sender gave in the standing window, and their past restrictions:
/// one more round trip, for sends with an address only.
async fn guess_facts(tx: &Tx, sender: MemberId, now: Timestamp) -> TxResult<GuessFacts> {
    let r = tx
        .query_one(
            "SELECT (SELECT count(*) FROM wrong_emails WHERE sender_id = $1 AND at > $2),
                    (SELECT count(*) FROM restrictions WHERE member_id = $1)",
            &[&sender.0, &now.minus(standing::WINDOW).0],
        )
        .await?;
    Ok(GuessFacts {
        wrong_emails: count(r.get(0)),
        restrictions_before: count(r.get(1)),
    })
}

/// Locks the members of invitation `id`, then the invitation, and reads the facts of `action`
/// on it; `None` when there is no such invitation.
pub(super) async fn act_facts(
    tx: &Tx,
    id: InvitationId,
    action: Action,
    now: Timestamp,
) -> TxResult<Option<(ActFacts, InvitationRecord)>> {
    let review = rapport_domain::plan::act_needs_review(action);
    let Some(r) = tx
        .query_opt(
            "SELECT * FROM rapport_act_facts($1, $2, $3, $4)",
            &[&id.0, &now.0, &now.minus(standing::WINDOW).0, &review],
        )
        .await?
    else {
        return Ok(None);
    };
    let inv = invitation_row(&r)?;
    let prefs = |i: usize| NotificationPrefs::decode(r.get::<_, Option<&str>>(i));
    let facts = ActFacts {
        invitation: inv.facts(),
        sender_connections: count(r.get(8)),
        recipient_connections: count(r.get(10)),
        blocked: r.get(12),
        sender_prefs: prefs(9),
        recipient_prefs: prefs(11),
        restricted_until: r.get::<_, Option<i64>>(13).map(Timestamp),
        review: review_facts(&r, 14, 17, 0),
    };
    Ok(Some((facts, inv)))
}

/// An invitation reference as `rapport_apply` reads it: 0 is the one the plan creates.
fn invitation_ref(r: Option<InvitationRef>) -> Value {
    match r {
        None => Value::Null,
        Some(InvitationRef::New) => json!(0),
        Some(InvitationRef::Existing(id)) => json!(id.0),
    }
}

/// The plan as the JSON `rapport_apply` carries out (all but the effects [`execute`] writes
/// itself).
fn plan_json(plan: &Plan) -> String {
    let at = plan.at;
    let effects: Vec<Value> = plan
        .effects
        .iter()
        .filter(|e| !written_apart(e))
        .map(|e| match e {
            Effect::WrongEmail { .. } => Value::Null,
            Effect::CreateInvitation {
                sender,
                recipient,
                note,
                next_reminder_at,
            } => json!({"op": "create_invitation", "sender": sender.0, "recipient": recipient.0,
                         "note": note, "reminder": next_reminder_at.map(|t| t.0)}),
            Effect::Decide {
                invitation,
                state,
                reason,
            } => json!({"op": "decide", "invitation": invitation.0, "state": state.as_str(),
                         "reason": reason.map(IgnoreReason::as_str)}),
            Effect::PendingSent { member, delta } => {
                json!({"op": "pending_sent", "member": member.0, "delta": delta})
            }
            Effect::LiftBar { sender, recipient } => {
                json!({"op": "lift_bar", "sender": sender.0, "recipient": recipient.0})
            }
            Effect::Bar { sender, recipient } => {
                json!({"op": "bar", "sender": sender.0, "recipient": recipient.0})
            }
            Effect::Withdrawal {
                sender,
                recipient,
                cooldown_until,
            } => json!({"op": "withdrawal", "sender": sender.0, "recipient": recipient.0,
                         "until": cooldown_until.0}),
            Effect::Connect { a, b } => json!({"op": "connect", "a": a.0, "b": b.0}),
            Effect::Report {
                invitation,
                reporter,
                reported,
            } => json!({"op": "report", "invitation": invitation.0, "reporter": reporter.0,
                         "reported": reported.0}),
            Effect::ForgetForRecipient(id) => json!({"op": "forget", "invitation": id.0}),
            Effect::Restrict {
                member,
                level,
                reason,
                source,
                until,
            } => json!({"op": "restrict", "member": member.0, "level": level,
                         "reason": reason.as_str(), "source": source, "until": until.0}),
            Effect::LiftRestrictions { member } => {
                json!({"op": "lift_restrictions", "member": member.0})
            }
            Effect::ResolveReport {
                report,
                resolution,
                by,
            } => json!({"op": "resolve_report", "report": report, "status": resolution.status(),
                         "by": by.0}),
            Effect::SetStatus { member, status } => {
                json!({"op": "set_status", "member": member.0, "status": status.as_str()})
            }
            Effect::RevokeTokens { member } => json!({"op": "revoke_tokens", "member": member.0}),
            Effect::GraphVisibility { member, others, .. } => {
                let others: Vec<i64> = others.iter().map(|m| m.0).collect();
                json!({"op": "graph_visibility", "member": member.0, "others": others})
            }
            Effect::Disconnect { a, b } => json!({"op": "disconnect", "a": a.0, "b": b.0}),
            Effect::Block { blocker, blocked } => {
                json!({"op": "block", "blocker": blocker.0, "blocked": blocked.0})
            }
            Effect::EraseAccount { member } => json!({"op": "erase_account", "member": member.0}),
            Effect::NextReminder {
                invitation,
                sent,
                next,
            } => json!({"op": "next_reminder", "invitation": invitation.0,
                         "sent": i64::from(*sent), "next": next.map(|t| t.0)}),
            Effect::RestrictionEndNoticed { restriction } => {
                json!({"op": "restriction_end_noticed", "restriction": restriction})
            }
            Effect::SetPassword { member, hash } => {
                json!({"op": "set_password", "member": member.0, "hash": hash.0})
            }
            Effect::DeleteToken { hash } => {
                let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
                json!({"op": "delete_token", "hash": hex})
            }
            Effect::Emit { notice, event } => {
                let notice = notice.map(|n| {
                    let mail = n.channels.email != EmailCadence::Off;
                    json!({"member": n.member.0, "kind": n.kind.as_str(),
                           "actor": n.actor.map(|m| m.0),
                           "invitation": invitation_ref(n.invitation),
                           "in_app": n.channels.in_app,
                           "cadence": mail.then(|| n.channels.email.as_str()),
                           "due": n.mail_due(at).0})
                });
                json!({"op": "emit", "notice": notice, "kind": event.kind,
                       "invitation": invitation_ref(event.invitation),
                       "a": event.a.map(|m| m.0), "b": event.b.map(|m| m.0),
                       "data": event.data})
            }
        })
        .collect();
    Value::Array(effects).to_string()
}

/// Effects newer than `rapport_apply` (migrations/postgres/0002_plans.sql), written by a
/// statement of their own: only refused sends have them, so no hot path pays a round trip.
fn written_apart(e: &Effect) -> bool {
    matches!(e, Effect::WrongEmail { .. })
}

/// Carries out `plan` in one call, and notes what the commit must report: the graph changes of
/// its connections and of members shown or hidden, the member rows it changed, and that it
/// appended events. Returns the id of the invitation it created.
pub(super) async fn execute(tx: &mut Tx, plan: &Plan) -> TxResult<Option<InvitationId>> {
    for e in &plan.effects {
        match e {
            Effect::WrongEmail { sender, recipient } => {
                tx.execute(
                    "INSERT INTO wrong_emails (sender_id, at, recipient_id) VALUES ($1, $2, $3)",
                    &[&sender.0, &plan.at.0, &recipient.0],
                )
                .await?;
            }
            // The ids the member carried elsewhere go with the account (`rapport_apply` predates
            // them; closing an account is rare enough for a statement of its own).
            Effect::EraseAccount { member } => {
                tx.execute(
                    "DELETE FROM external_ids WHERE member_id = $1",
                    &[&member.0],
                )
                .await?;
            }
            _ => {}
        }
    }
    if plan.effects.iter().all(written_apart) {
        return Ok(None);
    }
    let created: Option<i64> = tx
        .query_one(
            "SELECT rapport_apply($1::text::jsonb, $2)",
            &[&plan_json(plan), &plan.at.0],
        )
        .await?
        .get(0);
    for e in &plan.effects {
        match e {
            Effect::Connect { a, b } => tx.record(Change::Connected(*a, *b)),
            Effect::Disconnect { a, b } => tx.record(Change::Disconnected(*a, *b)),
            Effect::GraphVisibility {
                member,
                others,
                shown,
            } => {
                for change in Change::visibility(*member, others, *shown) {
                    tx.record(change);
                }
            }
            Effect::SetStatus { member, .. } | Effect::EraseAccount { member } => {
                super::accounts::saved_member(tx, *member).await?;
            }
            Effect::Restrict {
                member,
                reason,
                level,
                ..
            } => {
                tracing::info!(member = %member, reason = reason.as_str(), level, "sender restricted")
            }
            _ => {}
        }
    }
    if plan.emits() {
        tx.wrote_events();
    }
    Ok(created.map(InvitationId))
}
