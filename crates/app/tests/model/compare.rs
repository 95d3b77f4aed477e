//! After each step, everything each member can see, compared with the model.

use super::*;

impl Harness {
    /// Everything each member can see, against what the model says they must see.
    pub(crate) async fn compare(&self, model: &Model, after: &str) -> Result<(), TestCaseError> {
        let app = &self.app;
        let err = |what: String| move |e: AppError| fail(format!("after {after}: {what}: {e:?}"));
        let page = || PageRequest {
            cursor: None,
            limit: Some(100),
        };
        macro_rules! same {
            ($actual:expr, $expected:expr, $($what:tt)+) => {{
                let (a, e) = ($actual, $expected);
                if a != e {
                    return Err(fail(format!(
                        "after {after}: {}: the app shows {a:?}, the model {e:?}",
                        format!($($what)+)
                    )));
                }
            }};
        }
        for (v, name) in NAMES.iter().enumerate() {
            let vid = self.ids[v];
            // A deactivated member's tokens stop working, and so does one past its lifetimes;
            // signing in gives a new one.
            let auth = app.authenticate(&self.tokens[v]).await.ok();
            same!(auth, model.token_works(v).then_some(vid), "{name}'s token");

            let me = app.me(vid).await.map_err(err(format!("{name}'s me")))?;
            let status = if model.active[v] {
                "active"
            } else {
                "deactivated"
            };
            same!(me.status.as_str(), status, "{name}'s status");
            same!(
                me.settings.invitations_from.as_str(),
                model.invitations_from[v].as_str(),
                "{name}'s invitations_from"
            );
            let week = model.sent_this_week(v);
            let used = week.len().min(WEEKLY_LIMIT as usize) as u32;
            same!(
                (
                    me.quota.used,
                    me.quota.remaining,
                    me.quota.next_available_at.clone()
                ),
                (
                    used,
                    WEEKLY_LIMIT - used,
                    (used >= WEEKLY_LIMIT).then(|| rfc3339(week[0] + WEEK))
                ),
                "{name}'s quota (used, remaining, next available)"
            );
            same!(
                me.restriction
                    .as_ref()
                    .map(|r| (r.until.clone(), r.level, r.reason.clone())),
                model.active_restriction(v).map(|r| (
                    rfc3339(r.until),
                    r.level,
                    r.reason.explain().to_owned()
                )),
                "{name}'s restriction"
            );

            let stats = app
                .stats(vid)
                .await
                .map_err(err(format!("{name}'s stats")))?;
            let mine: Vec<&Inv> = model.invitations.iter().filter(|i| i.sender == v).collect();
            let count = |f: &dyn Fn(InvitationState) -> bool| {
                mine.iter().filter(|i| f(i.state)).count() as u32
            };
            use InvitationState as S;
            same!(
                (
                    stats.sent,
                    stats.pending,
                    stats.accepted,
                    stats.withdrawn,
                    stats.closed
                ),
                (
                    mine.len() as u32,
                    count(&|s| s == S::Pending),
                    count(&|s| s == S::Accepted),
                    count(&|s| s == S::Withdrawn),
                    count(&|s| matches!(s, S::Ignored | S::Expired | S::Cancelled)),
                ),
                "{name}'s stats (sent, pending, accepted, withdrawn, closed)"
            );

            let received = app
                .received(vid, page())
                .await
                .map_err(err(format!("{name}'s received")))?;
            same!(
                ids(&received.items),
                self.ids_of(&model.pending_received(v)),
                "{name}'s received invitations, newest first"
            );
            let sent = app
                .sent(vid, None, page())
                .await
                .map_err(err(format!("{name}'s sent")))?;
            same!(
                ids(&sent.items),
                self.ids_of(&model.pending_sent(v)),
                "{name}'s sent invitations, newest first"
            );

            let connections = app
                .connections(vid, None, page())
                .await
                .map_err(err(format!("{name}'s connections")))?;
            let listed: BTreeSet<String> = connections
                .items
                .iter()
                .map(|c| c.member.id.clone())
                .collect();
            let shown: BTreeSet<String> = (0..N)
                .filter(|&o| model.connected(v, o) && model.active[o])
                .map(|o| self.id(o))
                .collect();
            same!(
                (connections.total, listed),
                (Some(shown.len() as u64), shown),
                "{name}'s connections (deactivated ones hidden)"
            );

            let blocks = app
                .blocks(vid)
                .await
                .map_err(err(format!("{name}'s blocks")))?;
            same!(
                blocks
                    .items
                    .iter()
                    .map(|b| b.id.clone())
                    .collect::<BTreeSet<_>>(),
                (0..N)
                    .filter(|&o| model.blocks.contains(&(v, o)))
                    .map(|o| self.id(o))
                    .collect::<BTreeSet<_>>(),
                "{name}'s blocks"
            );

            if !model.active[v] {
                continue; // a deactivated member cannot look at anything else
            }
            let degrees = model.degrees(v);
            for o in (0..N).filter(|&o| o != v) {
                let seen = app.member(vid, &self.id(o)).await;
                let seen = rule(&format!("{name} views {}", NAMES[o]), seen)?;
                let expected = if model.hidden(v, o) {
                    Err(RuleError::NotFound)
                } else {
                    let pending = model.pending_between(v, o);
                    let state = if degrees[o] == Some(1) {
                        "connected"
                    } else {
                        match pending {
                            Some(i) if model.invitations[i].sender == v => "invitation_sent",
                            Some(_) => "invitation_received",
                            None => "none",
                        }
                    };
                    let invitation_id = pending
                        .filter(|_| state != "connected")
                        .map(|i| self.invitation_ids[i].clone());
                    Ok((state, degrees[o], model.mutual_count(v, o), invitation_id))
                };
                let actual = seen.map(|m| {
                    let r = m.relationship;
                    (r.state, r.degree, r.mutual_connections, r.invitation_id)
                });
                same!(
                    actual,
                    expected,
                    "{name} views {}: (state, degree, mutual, invitation)",
                    NAMES[o]
                );
            }

            for (i, inv) in model.invitations.iter().enumerate() {
                let id = &self.invitation_ids[i];
                let actual = rule(
                    &format!("{name} views invitation {i}"),
                    app.invitation(vid, id).await,
                )?;
                let view = |state| {
                    (
                        state,
                        self.id(inv.sender),
                        self.id(inv.recipient),
                        inv.note.clone(),
                    )
                };
                let actual = actual
                    .map(|x| (x.state, x.sender.id, x.recipient.id, x.note))
                    .ok();
                let expected = model.seen(v, i).map(|(_, state)| view(state));
                same!(
                    actual,
                    expected,
                    "{name} views invitation {i} ({} to {}, {:?}): (state, sender, recipient, note)",
                    NAMES[inv.sender],
                    NAMES[inv.recipient],
                    inv.state
                );
            }
        }
        Ok(())
    }

    pub(crate) fn ids_of(&self, invitations: &[usize]) -> Vec<String> {
        invitations
            .iter()
            .map(|&i| self.invitation_ids[i].clone())
            .collect()
    }
}
