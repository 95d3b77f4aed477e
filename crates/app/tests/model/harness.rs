//! Running a case: the app under test, its clock, and each step done against the app and the model.

use super::*;

// ----- running a case ------------------------------------------------------------------------------

/// The app under test, its clock, and what the case learned of its ids.
pub(crate) struct Harness {
    pub(crate) app: App,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) ids: [MemberId; N],
    pub(crate) tokens: [String; N],
    /// The app's id of each invitation of the model, in the same order.
    pub(crate) invitation_ids: Vec<String>,
    pub(crate) _dir: tempfile::TempDir,
    /// With `RAPPORT_TEST_BACKEND=postgres`, the fresh database the app runs on.
    pub(crate) _postgres: Option<rapport_store::postgres::scratch::ScratchDatabase>,
}

/// What happened in all the cases run, for the closing line.
#[derive(Default)]
pub(crate) struct Tally {
    pub(crate) cases: AtomicU64,
    pub(crate) steps: AtomicU64,
    pub(crate) failures: AtomicU64,
    pub(crate) outcomes: Mutex<BTreeMap<String, u64>>,
}

impl Tally {
    pub(crate) fn outcome(&self, op: &Op, result: &Result<impl std::fmt::Debug, RuleError>) {
        let name = format!("{op:?}");
        let op_name = name.split([' ', '{']).next().unwrap_or("?").to_owned();
        let what = match result {
            Ok(v) => format!("{v:?}"),
            Err(e) => code(e).to_owned(),
        };
        let mut outcomes = self.outcomes.lock().expect("the tally is never poisoned");
        *outcomes.entry(format!("{op_name} {what}")).or_default() += 1;
    }
}

/// The stable word API.md gives each refusal.
pub(crate) fn code(e: &RuleError) -> &'static str {
    match e {
        RuleError::Validation { .. } => "validation_failed",
        RuleError::NoteTooLong { .. } => "note_too_long",
        RuleError::SelfInvitation => "self_invitation",
        RuleError::NotFound => "not_found",
        RuleError::WrongParty => "wrong_party",
        RuleError::AlreadyConnected => "already_connected",
        RuleError::InvitationPending => "invitation_pending",
        RuleError::NotPending => "not_pending",
        RuleError::EmailTaken => "email_taken",
        RuleError::InvalidCredentials => "invalid_credentials",
        RuleError::InvitationsClosed => "invitations_closed",
        RuleError::EmailRequired => "email_required",
        RuleError::ConnectionLimit => "connection_limit",
        RuleError::QuotaExceeded { .. } => "quota_exceeded",
        RuleError::Restricted { .. } => "restricted",
        RuleError::OutstandingLimit => "outstanding_limit",
        RuleError::CooldownActive { .. } => "cooldown_active",
    }
}

pub(crate) fn fail(msg: impl Into<String>) -> TestCaseError {
    TestCaseError::fail(msg.into())
}

/// A refusal of a rule, as the model states refusals; anything else fails the case.
pub(crate) fn rule<T>(
    what: &str,
    r: Result<T, AppError>,
) -> Result<Result<T, RuleError>, TestCaseError> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(AppError::Rule(e)) => Ok(Err(normal(e))),
        Err(other) => Err(fail(format!("{what}: the app failed: {other:?}"))),
    }
}

/// The app's answer and the model's must agree: both successes, or the same refusal.
pub(crate) fn agree<A: std::fmt::Debug, E: std::fmt::Debug>(
    what: &str,
    actual: &Result<A, RuleError>,
    expected: &Result<E, RuleError>,
) -> Result<(), TestCaseError> {
    let same = match (actual, expected) {
        (Ok(_), Ok(_)) => true,
        (Err(a), Err(e)) => a == e,
        _ => false,
    };
    if same {
        Ok(())
    } else {
        Err(fail(format!(
            "{what}: the app answered {actual:?}, the model expected {expected:?}"
        )))
    }
}

impl Harness {
    pub(crate) async fn open() -> Harness {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let clock = Arc::new(ManualClock::new(Timestamp(START)));
        let mut config = config(dir.path());
        // The same model checks the PostgreSQL store when asked (scripts/test does).
        let postgres = if std::env::var("RAPPORT_TEST_BACKEND").is_ok_and(|b| b == "postgres") {
            use rapport_store::postgres::scratch::{server_url, ScratchDatabase};
            let db = ScratchDatabase::create(&server_url(), "rapport_model")
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            config.database = Database::Postgres(db.url.clone());
            Some(db)
        } else {
            None
        };
        let app = App::open(config, clock.clone())
            .await
            .expect("the app opens");
        let members = (0..N)
            .map(|m| SeedMember {
                email: email(m),
                name: NAMES[m].into(),
                ..Default::default()
            })
            .collect();
        let seeded = app
            .seed_members(members, PASSWORD)
            .await
            .expect("members are seeded");
        let ids: [MemberId; N] = std::array::from_fn(|m| seeded[m].0);
        let tokens: [String; N] = std::array::from_fn(|m| seeded[m].1.clone());
        Harness {
            app,
            clock,
            ids,
            tokens,
            invitation_ids: Vec::new(),
            _dir: dir,
            _postgres: postgres,
        }
    }

    pub(crate) fn id(&self, m: usize) -> String {
        self.ids[m].to_string()
    }

    pub(crate) fn member_of(&self, id: &str) -> Option<usize> {
        (0..N).find(|&m| self.id(m) == id)
    }

    /// The model's invitation that `pick` names, if the case made any.
    pub(crate) fn pick(&self, model: &Model, pick: Pick) -> Option<usize> {
        let all = model.invitations.len();
        match pick {
            _ if all == 0 => None,
            Pick::Pending(ix) => {
                let pending: Vec<usize> = (0..all)
                    .filter(|&i| model.invitations[i].state == InvitationState::Pending)
                    .collect();
                if pending.is_empty() {
                    Some(ix.of(all))
                } else {
                    Some(pending[ix.of(pending.len())])
                }
            }
            Pick::Any(ix) => Some(ix.of(all)),
        }
    }

    /// Signs `who` in: a deactivated account comes back, connections and all.
    pub(crate) async fn sign_in(
        &mut self,
        model: &mut Model,
        who: usize,
        what: &str,
    ) -> Result<(), TestCaseError> {
        let (me, token) = self
            .app
            .login(&email(who), PASSWORD, std::net::Ipv4Addr::LOCALHOST.into())
            .await
            .map_err(|e| fail(format!("{what}: {} cannot sign in: {e:?}", NAMES[who])))?;
        model.active[who] = true;
        model.signed_in(who);
        if me.status != "active" {
            return Err(fail(format!(
                "{what}: {} signed in as {}",
                NAMES[who], me.status
            )));
        }
        self.tokens[who] = token;
        Ok(())
    }

    /// A deactivated member has no token to act with: they sign in first, which reactivates them.
    pub(crate) async fn reactivate_to_act(
        &mut self,
        model: &mut Model,
        who: usize,
        tally: &Tally,
    ) -> Result<(), TestCaseError> {
        if !model.active[who] {
            self.sign_in(model, who, "signing in to act").await?;
            tally.outcome(
                &Op::Login { who },
                &Ok::<_, RuleError>("reactivated to act"),
            );
        }
        Ok(())
    }

    /// Runs one operation on both sides and compares the answers.
    pub(crate) async fn step(
        &mut self,
        model: &mut Model,
        op: &Op,
        tally: &Tally,
    ) -> Result<(), TestCaseError> {
        let what = format!("{op:?}");
        match *op {
            Op::Send {
                from,
                to,
                note,
                email: with_email,
            } => {
                self.reactivate_to_act(model, from, tally).await?;
                let recipient_email = match with_email {
                    EmailKind::None => None,
                    EmailKind::Right => Some(email(to)),
                    EmailKind::Wrong => Some("someone.else@model.test".to_owned()),
                };
                let actual = rule(
                    &what,
                    self.app
                        .send_invitation(
                            self.ids[from],
                            SendInput {
                                recipient_id: self.id(to),
                                note: note.raw(),
                                recipient_email,
                            },
                        )
                        .await,
                )?;
                let expected = model.send(from, to, note, with_email);
                tally.outcome(op, &expected);
                agree(&what, &actual, &expected)?;
                match (actual, expected) {
                    (Ok(Sent::Invitation(v)), Ok(SendDone::Created)) => {
                        let inv = model.invitations.last().expect("the model made one");
                        if v.state != "pending"
                            || v.sender.id != self.id(from)
                            || v.recipient.id != self.id(to)
                            || v.note != inv.note
                            || self.invitation_ids.contains(&v.id)
                        {
                            return Err(fail(format!("{what}: the new invitation reads {v:?}")));
                        }
                        self.invitation_ids.push(v.id.clone());
                    }
                    (Ok(Sent::Connected(c)), Ok(SendDone::Connected)) => {
                        if c.member.id != self.id(to) {
                            return Err(fail(format!("{what}: connected to {c:?}")));
                        }
                    }
                    (Ok(sent), expected) => {
                        return Err(fail(format!(
                            "{what}: the app answered {sent:?}, the model expected {expected:?}"
                        )))
                    }
                    (Err(_), _) => {}
                }
            }
            Op::Accept { by, pick } => {
                return self.act(model, by, pick, Action::Accept, op, tally).await
            }
            Op::Ignore { by, pick, reason } => {
                return self
                    .act(model, by, pick, Action::Ignore(reason), op, tally)
                    .await
            }
            Op::Withdraw { by, pick } => {
                return self.act(model, by, pick, Action::Withdraw, op, tally).await
            }
            Op::BulkWithdraw {
                who,
                older_than_hours,
                dry_run,
            } => {
                self.reactivate_to_act(model, who, tally).await?;
                let actual = rule(
                    &what,
                    self.app
                        .bulk_withdraw(self.ids[who], &format!("{older_than_hours}h"), dry_run)
                        .await,
                )?;
                let expected =
                    model.bulk_withdraw(who, i64::from(older_than_hours) * HOUR, dry_run);
                tally.outcome(op, &Ok::<_, RuleError>(expected));
                match actual {
                    Ok(c) if c.count == expected => {}
                    other => {
                        return Err(fail(format!(
                            "{what}: the app answered {other:?}, the model expected a count of {expected}"
                        )))
                    }
                }
            }
            Op::Block { who, other } => {
                self.reactivate_to_act(model, who, tally).await?;
                let actual = rule(&what, self.app.block(self.ids[who], &self.id(other)).await)?;
                let expected = model.block(who, other);
                tally.outcome(op, &expected);
                agree(&what, &actual, &expected)?;
            }
            Op::Unblock { .. } | Op::LiftBlock { .. } => {
                let (who, other) = match *op {
                    Op::Unblock { who, other } => (who, other),
                    Op::LiftBlock { nth } if !model.blocks.is_empty() => {
                        let blocks: Vec<&(usize, usize)> = model.blocks.iter().collect();
                        *blocks[nth.of(blocks.len())]
                    }
                    _ => (0, 1),
                };
                let what = format!("{what}: {} unblocks {}", NAMES[who], NAMES[other]);
                self.reactivate_to_act(model, who, tally).await?;
                let actual = rule(
                    &what,
                    self.app.unblock(self.ids[who], &self.id(other)).await,
                )?;
                let expected = model.unblock(who, other);
                tally.outcome(op, &expected);
                agree(&what, &actual, &expected)?;
            }
            Op::Deactivate { who } => {
                self.reactivate_to_act(model, who, tally).await?;
                let actual = rule(&what, self.app.deactivate(self.ids[who]).await)?;
                model.deactivate(who);
                tally.outcome(op, &Ok::<_, RuleError>(()));
                agree(&what, &actual, &Ok::<(), RuleError>(()))?;
            }
            Op::Login { who } => {
                let outcome = if model.active[who] {
                    "signed in"
                } else {
                    "reactivated"
                };
                self.sign_in(model, who, &what).await?;
                tally.outcome(op, &Ok::<_, RuleError>(outcome));
            }
            Op::RemoveConnection { who, other } => {
                self.reactivate_to_act(model, who, tally).await?;
                let actual = rule(
                    &what,
                    self.app
                        .remove_connection(self.ids[who], &self.id(other))
                        .await,
                )?;
                let expected = model.remove_connection(who, other);
                tally.outcome(op, &expected);
                agree(&what, &actual, &expected)?;
            }
            Op::SetInvitationsFrom { who, from } => {
                self.reactivate_to_act(model, who, tally).await?;
                let me = self
                    .app
                    .update_settings(self.ids[who], Some(from.as_str()), None)
                    .await
                    .map_err(|e| fail(format!("{what}: {e:?}")))?;
                model.invitations_from[who] = from;
                tally.outcome(op, &Ok::<_, RuleError>(()));
                if me.settings.invitations_from != from.as_str() {
                    return Err(fail(format!("{what}: settings read {:?}", me.settings)));
                }
            }
            Op::Advance { minutes } => {
                let by = i64::from(minutes) * MINUTE;
                self.clock.advance(millis(by));
                let swept = self
                    .app
                    .sweep()
                    .await
                    .map_err(|e| fail(format!("{what}: the sweep failed: {e:?}")))?;
                let expired = model.advance(by);
                tally.outcome(op, &Ok::<_, RuleError>(()));
                if swept.expired != expired {
                    return Err(fail(format!(
                        "{what}: the sweep expired {}, the model {expired}",
                        swept.expired
                    )));
                }
            }
        }
        Ok(())
    }

    pub(crate) async fn act(
        &mut self,
        model: &mut Model,
        by: By,
        pick: Pick,
        action: Action,
        op: &Op,
        tally: &Tally,
    ) -> Result<(), TestCaseError> {
        let what = format!("{op:?}");
        let picked = self.pick(model, pick);
        let actor = match (by, picked) {
            (By::Member(m), _) => m,
            // With no invitation yet, the would-be party acts on an id that names nothing.
            (_, None) => 0,
            (By::Sender, Some(i)) => model.invitations[i].sender,
            (By::Recipient, Some(i)) => model.invitations[i].recipient,
        };
        self.reactivate_to_act(model, actor, tally).await?;
        let id = picked.map_or_else(|| "424242".to_owned(), |i| self.invitation_ids[i].clone());
        let (actor_id, app) = (self.ids[actor], &self.app);
        let (actual, connected_to) = match action {
            Action::Accept => {
                let r = rule(&what, app.accept(actor_id, &id).await)?;
                let other = r.as_ref().ok().map(|c| c.member.id.clone());
                (r.map(|_| ()), other)
            }
            Action::Ignore(reason) => (rule(&what, app.ignore(actor_id, &id, reason).await)?, None),
            Action::Withdraw => (rule(&what, app.withdraw(actor_id, &id).await)?, None),
        };
        let expected = match picked {
            Some(i) => model.act(actor, i, action),
            None => Err(RuleError::NotFound),
        };
        tally.outcome(op, &expected);
        agree(&what, &actual, &expected)?;
        if let (Some(other), Some(i)) = (connected_to, picked) {
            if Some(model.invitations[i].sender) != self.member_of(&other) {
                return Err(fail(format!(
                    "{what}: accepting connected to member {other}"
                )));
            }
        }
        Ok(())
    }
}
