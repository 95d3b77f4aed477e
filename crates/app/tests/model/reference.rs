//! The reference model: a few plain structs that say, in the words of PRODUCT.md and API.md,
//! what every operation must answer and what every member must then see.
//!
//! A little over 600 lines on purpose: the whole reference model is read side by side with
//! PRODUCT.md, and splitting it would scatter one rule's answer and its consequences.

use super::*;

// ----- the reference model -------------------------------------------------------------------------

/// An invitation as the model keeps it. Its index in [`Model::invitations`] is its place in time:
/// a later invitation has a larger index (and a larger id in the app).
#[derive(Debug, Clone)]
pub(crate) struct Inv {
    pub(crate) sender: usize,
    pub(crate) recipient: usize,
    pub(crate) note: Option<String>,
    pub(crate) state: InvitationState,
    pub(crate) reason: Option<IgnoreReason>,
    pub(crate) created_at: i64,
    pub(crate) decided_at: Option<i64>,
}

/// What one member's past with another decides about their next invitation.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PairRule {
    /// After a withdrawal: no new invitation before this.
    pub(crate) cooldown_until: Option<i64>,
    /// Ignored as "don't know" or spam, and the recipient has not invited the sender since.
    pub(crate) barred: bool,
    /// Every withdrawal ever, sender to this recipient.
    pub(crate) withdrawals: usize,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Restriction {
    pub(crate) until: i64,
    pub(crate) level: u8,
    pub(crate) reason: RestrictionReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Party {
    Sender,
    Recipient,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Accept,
    Ignore(Option<IgnoreReason>),
    Withdraw,
}

/// What a successful send did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendDone {
    /// A new pending invitation (the last of [`Model::invitations`]).
    Created,
    /// The recipient had invited the sender: that invitation is accepted and they are connected.
    Connected,
}

/// The reference model: everything the rules read, in plain collections, and each rule written
/// out once as PRODUCT.md states it. No clever indexing: five members and a few dozen invitations
/// are scanned whole.
#[derive(Debug, Clone)]
pub(crate) struct Model {
    pub(crate) now: i64,
    pub(crate) active: [bool; N],
    pub(crate) invitations_from: [InvitationsFrom; N],
    pub(crate) invitations: Vec<Inv>,
    /// Connections as `(smaller, larger)`. Kept while a member is deactivated (only hidden).
    pub(crate) connections: BTreeSet<(usize, usize)>,
    /// `(blocker, blocked)`.
    pub(crate) blocks: BTreeSet<(usize, usize)>,
    pub(crate) pairs: HashMap<(usize, usize), PairRule>,
    pub(crate) restrictions: [Vec<Restriction>; N],
    /// When each member gave a wrong email address that decided a refusal.
    pub(crate) wrong_emails: [Vec<i64>; N],
    /// Each member's current token: when it was issued, and its last recorded use.
    pub(crate) tokens: [TokenTimes; N],
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct TokenTimes {
    pub(crate) issued: i64,
    pub(crate) used: i64,
}

pub(crate) fn edge(a: usize, b: usize) -> (usize, usize) {
    (a.min(b), a.max(b))
}

impl Model {
    pub(crate) fn new() -> Model {
        Model {
            now: START,
            active: [true; N],
            invitations_from: [InvitationsFrom::Everyone; N],
            invitations: Vec::new(),
            connections: BTreeSet::new(),
            blocks: BTreeSet::new(),
            pairs: HashMap::new(),
            restrictions: Default::default(),
            wrong_emails: Default::default(),
            tokens: [TokenTimes {
                issued: START,
                used: START,
            }; N],
        }
    }

    // --- sign-in tokens ---

    /// Does the member's token work: not revoked (by a deactivation), younger than its lifetime,
    /// and used within its idle lifetime?
    pub(crate) fn token_works(&self, m: usize) -> bool {
        let t = self.tokens[m];
        self.active[m]
            && t.issued > self.now - TOKEN_LIFETIME
            && t.used > self.now - TOKEN_IDLE_LIFETIME
    }

    /// Every member presented their token: a working one's use is recorded, once a minute at
    /// most.
    pub(crate) fn tokens_presented(&mut self) {
        for m in 0..N {
            if self.token_works(m) && self.now - self.tokens[m].used >= TOKEN_USE_GRANULARITY {
                self.tokens[m].used = self.now;
            }
        }
    }

    /// Signing in gives a new token.
    pub(crate) fn signed_in(&mut self, m: usize) {
        self.tokens[m] = TokenTimes {
            issued: self.now,
            used: self.now,
        };
    }

    // --- what the rules read ---

    pub(crate) fn connected(&self, a: usize, b: usize) -> bool {
        self.connections.contains(&edge(a, b))
    }

    /// Connections count towards the cap while the other side is deactivated: they come back.
    pub(crate) fn connection_count(&self, m: usize) -> usize {
        self.connections
            .iter()
            .filter(|&&(a, b)| a == m || b == m)
            .count()
    }

    pub(crate) fn blocked_either_way(&self, a: usize, b: usize) -> bool {
        self.blocks.contains(&(a, b)) || self.blocks.contains(&(b, a))
    }

    /// Hidden from `viewer`: blocked either way, or deactivated. Hidden members read as unknown.
    pub(crate) fn hidden(&self, viewer: usize, other: usize) -> bool {
        other != viewer && (self.blocked_either_way(viewer, other) || !self.active[other])
    }

    pub(crate) fn pending_between(&self, a: usize, b: usize) -> Option<usize> {
        self.invitations.iter().position(|i| {
            i.state == InvitationState::Pending && edge(i.sender, i.recipient) == edge(a, b)
        })
    }

    /// What `m` sent that is still pending, newest first (the Sent list).
    pub(crate) fn pending_sent(&self, m: usize) -> Vec<usize> {
        (0..self.invitations.len())
            .rev()
            .filter(|&i| {
                self.invitations[i].sender == m
                    && self.invitations[i].state == InvitationState::Pending
            })
            .collect()
    }

    /// What `m` received that is still pending, newest first (the inbox).
    pub(crate) fn pending_received(&self, m: usize) -> Vec<usize> {
        (0..self.invitations.len())
            .rev()
            .filter(|&i| {
                self.invitations[i].recipient == m
                    && self.invitations[i].state == InvitationState::Pending
            })
            .collect()
    }

    /// Creation times of what `m` sent within the rolling week, oldest first.
    pub(crate) fn sent_this_week(&self, m: usize) -> Vec<i64> {
        self.invitations
            .iter()
            .filter(|i| i.sender == m && i.created_at > self.now - WEEK)
            .map(|i| i.created_at)
            .collect()
    }

    pub(crate) fn active_restriction(&self, m: usize) -> Option<Restriction> {
        self.restrictions[m]
            .iter()
            .copied()
            .filter(|r| r.until > self.now)
            .max_by_key(|r| r.until)
    }

    /// Active members connected to both (the graph holds active members only).
    pub(crate) fn share_a_connection(&self, a: usize, b: usize) -> bool {
        (0..N).any(|m| {
            m != a && m != b && self.active[m] && self.connected(a, m) && self.connected(m, b)
        })
    }

    /// How `viewer` may see invitation `i`: `None` when it is gone for them (not theirs; withdrawn,
    /// expired or cancelled for the recipient; the other party hidden), else its state in the words
    /// that party may know (ignored, expired and cancelled all read `closed` to the sender).
    pub(crate) fn seen(&self, viewer: usize, i: usize) -> Option<(Party, &'static str)> {
        let inv = &self.invitations[i];
        let (party, other) = if viewer == inv.sender {
            (Party::Sender, inv.recipient)
        } else if viewer == inv.recipient {
            (Party::Recipient, inv.sender)
        } else {
            return None;
        };
        use InvitationState as S;
        let state = match (party, inv.state) {
            (_, S::Pending) => "pending",
            (_, S::Accepted) => "accepted",
            (Party::Sender, S::Withdrawn) => "withdrawn",
            (Party::Sender, S::Ignored | S::Expired | S::Cancelled) => "closed",
            (Party::Recipient, S::Ignored) => "ignored",
            (Party::Recipient, S::Withdrawn | S::Expired | S::Cancelled) => return None,
        };
        if self.hidden(viewer, other) {
            return None;
        }
        Some((party, state))
    }

    /// Degrees as the viewer sees them: paths over active members that are not hidden from the
    /// viewer, up to 3 steps.
    pub(crate) fn degrees(&self, viewer: usize) -> [Option<u8>; N] {
        let mut degree = [None; N];
        let mut frontier = vec![viewer];
        let mut seen = [false; N];
        seen[viewer] = true;
        for d in 1..=3u8 {
            let mut next = Vec::new();
            for &a in &frontier {
                for b in 0..N {
                    if !seen[b] && self.connected(a, b) && !self.hidden(viewer, b) {
                        seen[b] = true;
                        degree[b] = Some(d);
                        next.push(b);
                    }
                }
            }
            frontier = next;
        }
        degree
    }

    /// Connections the two share, leaving out members hidden from the viewer.
    pub(crate) fn mutual_count(&self, viewer: usize, other: usize) -> u32 {
        (0..N)
            .filter(|&m| {
                m != viewer
                    && m != other
                    && !self.hidden(viewer, m)
                    && self.connected(viewer, m)
                    && self.connected(m, other)
            })
            .count() as u32
    }

    // --- operations: each returns what the app must answer, and changes the model only on success
    // (but for a wrong email address, which counts even when refused) ---

    /// PRODUCT.md "Send", in the order API.md fixes: the request (422), visibility (404), state
    /// (409), privacy and standing (403), limits (429). Within 403 and within 429 the contract
    /// fixes no order; the model follows the one of `decide_send`.
    pub(crate) fn send(
        &mut self,
        from: usize,
        to: usize,
        note: NoteKind,
        email: EmailKind,
    ) -> Result<SendDone, RuleError> {
        let note = match note.raw() {
            None => None,
            Some(raw)
                if raw
                    .chars()
                    .any(|c| c.is_control() && c != '\n' && c != '\r') =>
            {
                return Err(validation("note"))
            }
            Some(raw) if raw.trim().chars().count() > NOTE_MAX_CHARS => {
                return Err(RuleError::NoteTooLong {
                    max: NOTE_MAX_CHARS,
                })
            }
            Some(raw) => Some(raw.trim().to_owned()).filter(|n| !n.is_empty()),
        };
        if from == to {
            return Err(RuleError::SelfInvitation);
        }
        if self.hidden(from, to) {
            return Err(RuleError::NotFound);
        }
        if self.connected(from, to) {
            return Err(RuleError::AlreadyConnected);
        }
        let at_cap = self.connection_count(from) >= MAX_CONNECTIONS
            || self.connection_count(to) >= MAX_CONNECTIONS;
        if let Some(theirs) = self.pending_between(from, to) {
            if self.invitations[theirs].sender == to {
                // Both invite each other: theirs is accepted at once, whatever else would apply,
                // as long as both have room for one more connection.
                if at_cap {
                    return Err(RuleError::ConnectionLimit);
                }
                self.lift_bar(from, to);
                self.decide(theirs, InvitationState::Accepted, None);
                self.connections.insert(edge(from, to));
                return Ok(SendDone::Connected);
            }
            return Err(RuleError::InvitationPending);
        }
        let rule = self.pairs.get(&(from, to)).copied().unwrap_or_default();
        // A sender who gave ten wrong addresses in 90 days is not let through by a right one.
        let guessing = self.wrong_emails_recent(from) >= WRONG_EMAILS_LIMIT;
        let email_matches = matches!(email, EmailKind::Right) && !guessing;
        let email_supplied = !matches!(email, EmailKind::None);
        if rule.barred {
            return Err(RuleError::InvitationsClosed);
        }
        // PRODUCT.md: a wrong or missing address reveals nothing. So when an address was given,
        // it decides only after every limit of the sender (who, at a limit, hears the limit
        // whether the address is right or wrong).
        let needs_email = self.invitations_from[to] == InvitationsFrom::EmailRequired;
        let restricted = self.active_restriction(from);
        match self.invitations_from[to] {
            InvitationsFrom::Nobody => return Err(RuleError::InvitationsClosed),
            InvitationsFrom::SecondDegree if !self.share_a_connection(from, to) => {
                return Err(RuleError::InvitationsClosed)
            }
            InvitationsFrom::EmailRequired if !email_supplied => {
                return Err(RuleError::EmailRequired)
            }
            _ => {}
        }
        if let Some(r) = restricted.filter(|_| !email_supplied) {
            return Err(RuleError::Restricted {
                until: Timestamp(r.until),
            });
        }
        if at_cap {
            return Err(RuleError::ConnectionLimit);
        }
        if let Some(until) = rule.cooldown_until.filter(|&u| u > self.now) {
            let (retry_at, retry_after) = retry(self.now, until);
            return Err(RuleError::CooldownActive {
                retry_at,
                retry_after,
            });
        }
        if self.pending_sent(from).len() >= OUTSTANDING_LIMIT {
            return Err(RuleError::OutstandingLimit);
        }
        let week = self.sent_this_week(from);
        if week.len() >= WEEKLY_LIMIT as usize {
            // The next one is possible when the oldest send of the week leaves the window.
            let (retry_at, retry_after) = retry(self.now, week[0] + WEEK);
            return Err(RuleError::QuotaExceeded {
                retry_at,
                retry_after,
            });
        }
        if !email_matches {
            // A restricted sender may still invite someone whose email they supply.
            let refused = if needs_email {
                Some(RuleError::EmailRequired)
            } else {
                restricted.map(|r| RuleError::Restricted {
                    until: Timestamp(r.until),
                })
            };
            if let Some(refused) = refused {
                // The address decided the answer: a wrong one counts against the sender.
                if matches!(email, EmailKind::Wrong) {
                    self.wrong_email(from);
                }
                return Err(refused);
            }
        }
        self.lift_bar(from, to);
        self.invitations.push(Inv {
            sender: from,
            recipient: to,
            note,
            state: InvitationState::Pending,
            reason: None,
            created_at: self.now,
            decided_at: None,
        });
        if rule.withdrawals >= RESENDS_LIMIT {
            // Withdrawn and re-sent to the same person: count the withdrawals of the last 90 days.
            let recent = self
                .invitations
                .iter()
                .filter(|i| {
                    i.sender == from
                        && i.recipient == to
                        && i.state == InvitationState::Withdrawn
                        && i.decided_at.is_some_and(|d| d > self.now - STANDING_WINDOW)
                })
                .count();
            self.review_standing(from, recent);
        }
        Ok(SendDone::Created)
    }

    /// "Unless the recipient invites first": inviting someone lifts their bar towards you.
    pub(crate) fn lift_bar(&mut self, inviter: usize, other: usize) {
        if let Some(r) = self.pairs.get_mut(&(other, inviter)) {
            r.barred = false;
        }
    }

    pub(crate) fn decide(
        &mut self,
        i: usize,
        state: InvitationState,
        reason: Option<IgnoreReason>,
    ) {
        let inv = &mut self.invitations[i];
        inv.state = state;
        inv.reason = reason;
        inv.decided_at = Some(self.now);
    }

    /// Accept, ignore or withdraw invitation `i`. An invitation the actor cannot see (not theirs,
    /// gone for them, or the other party hidden) is not found, before any question of state.
    pub(crate) fn act(&mut self, actor: usize, i: usize, action: Action) -> Result<(), RuleError> {
        let Some((party, _)) = self.seen(actor, i) else {
            return Err(RuleError::NotFound);
        };
        let inv = self.invitations[i].clone();
        if inv.state != InvitationState::Pending {
            return Err(RuleError::NotPending);
        }
        match (action, party) {
            (Action::Accept | Action::Ignore(_), Party::Recipient) => {}
            (Action::Withdraw, Party::Sender) => {}
            _ => return Err(RuleError::WrongParty),
        }
        match action {
            Action::Accept => {
                if self.connection_count(inv.sender) >= MAX_CONNECTIONS
                    || self.connection_count(inv.recipient) >= MAX_CONNECTIONS
                {
                    return Err(RuleError::ConnectionLimit);
                }
                self.decide(i, InvitationState::Accepted, None);
                self.connections.insert(edge(inv.sender, inv.recipient));
            }
            Action::Ignore(reason) => {
                self.decide(i, InvitationState::Ignored, reason);
                if reason.is_some() {
                    self.pairs
                        .entry((inv.sender, inv.recipient))
                        .or_default()
                        .barred = true;
                }
                self.review_standing(inv.sender, 0);
            }
            Action::Withdraw => self.withdrawn(i),
        }
        Ok(())
    }

    /// A withdrawal: the cooldown starts, and it counts towards the withdraw-and-resend rule.
    /// The quota is not given back (it counts sends).
    pub(crate) fn withdrawn(&mut self, i: usize) {
        self.decide(i, InvitationState::Withdrawn, None);
        let inv = &self.invitations[i];
        let rule = self.pairs.entry((inv.sender, inv.recipient)).or_default();
        rule.cooldown_until = Some(self.now + REINVITE_COOLDOWN);
        rule.withdrawals += 1;
    }

    pub(crate) fn bulk_withdraw(&mut self, who: usize, older_than: i64, dry_run: bool) -> u64 {
        let cutoff = self.now - older_than;
        let old: Vec<usize> = self
            .pending_sent(who)
            .into_iter()
            .filter(|&i| self.invitations[i].created_at <= cutoff)
            .collect();
        if !dry_run {
            for &i in &old {
                self.withdrawn(i);
            }
        }
        old.len() as u64
    }

    /// PRODUCT.md "Restrictions": over the last 90 days, 5 ignored as "don't know" or spam; or at
    /// least 50 decided with under 20% accepted; or 3 withdraw-and-resend cycles to one person.
    /// Never a second restriction while one is in force; 1 day, then 7, then 30.
    pub(crate) fn review_standing(&mut self, sender: usize, withdrawals_to_one_person: usize) {
        let recent: Vec<&Inv> = self
            .invitations
            .iter()
            .filter(|i| i.sender == sender && i.created_at > self.now - STANDING_WINDOW)
            .collect();
        let ignored_with_reason = recent.iter().filter(|i| i.reason.is_some()).count();
        let decided = recent
            .iter()
            .filter(|i| {
                matches!(
                    i.state,
                    InvitationState::Accepted | InvitationState::Ignored | InvitationState::Expired
                )
            })
            .count();
        let accepted = recent
            .iter()
            .filter(|i| i.state == InvitationState::Accepted)
            .count();
        let reason = if ignored_with_reason >= IGNORED_AS_UNKNOWN_LIMIT {
            RestrictionReason::IgnoredAsUnknown
        } else if decided >= LOW_ACCEPTANCE_MIN_DECIDED && accepted * 5 < decided {
            RestrictionReason::LowAcceptance
        } else if withdrawals_to_one_person >= RESENDS_LIMIT {
            RestrictionReason::RepeatedResends
        } else {
            return;
        };
        self.restrict(sender, reason);
    }

    /// An automatic restriction at the next level: 1 day, then 7, then 30; none while one is in
    /// force.
    fn restrict(&mut self, sender: usize, reason: RestrictionReason) {
        if self.active_restriction(sender).is_some() {
            return;
        }
        let previous = self.restrictions[sender].len();
        self.restrictions[sender].push(Restriction {
            until: self.now + RESTRICTION_LENGTHS[previous.min(2)],
            level: previous.min(2) as u8 + 1,
            reason,
        });
    }

    fn wrong_emails_recent(&self, m: usize) -> usize {
        let since = self.now - STANDING_WINDOW;
        self.wrong_emails[m].iter().filter(|&&t| t > since).count()
    }

    /// A wrong address counted; the tenth in 90 days restricts the sender.
    fn wrong_email(&mut self, sender: usize) {
        self.wrong_emails[sender].push(self.now);
        if self.wrong_emails_recent(sender) >= WRONG_EMAILS_LIMIT {
            self.restrict(sender, RestrictionReason::WrongEmails);
        }
    }

    /// Ends every pending invitation between the two, removes their connection, hides each from
    /// the other. Blocking again is a no-op; a member already hidden cannot be blocked.
    pub(crate) fn block(&mut self, who: usize, other: usize) -> Result<(), RuleError> {
        if who == other {
            return Err(validation("member_id"));
        }
        if self.blocks.contains(&(who, other)) {
            return Ok(());
        }
        if self.hidden(who, other) {
            return Err(RuleError::NotFound);
        }
        self.blocks.insert((who, other));
        if let Some(i) = self.pending_between(who, other) {
            self.decide(i, InvitationState::Cancelled, None);
        }
        self.connections.remove(&edge(who, other));
        Ok(())
    }

    /// Restores nothing but the possibility.
    pub(crate) fn unblock(&mut self, who: usize, other: usize) -> Result<(), RuleError> {
        if self.blocks.remove(&(who, other)) {
            Ok(())
        } else {
            Err(RuleError::NotFound)
        }
    }

    /// Hidden; every pending invitation sent or received is cancelled; connections are kept.
    pub(crate) fn deactivate(&mut self, who: usize) {
        self.active[who] = false;
        for i in 0..self.invitations.len() {
            let inv = &self.invitations[i];
            if inv.state == InvitationState::Pending && (inv.sender == who || inv.recipient == who)
            {
                self.decide(i, InvitationState::Cancelled, None);
            }
        }
    }

    pub(crate) fn remove_connection(&mut self, who: usize, other: usize) -> Result<(), RuleError> {
        if who == other || self.hidden(who, other) || !self.connections.remove(&edge(who, other)) {
            return Err(RuleError::NotFound);
        }
        Ok(())
    }

    /// Time passes; the sweeper then expires what is pending since the expiry (silently), and
    /// each sender whose invitation expired has their standing reviewed.
    pub(crate) fn advance(&mut self, by: i64) -> u64 {
        self.now += by;
        let cutoff = self.now - INVITATION_EXPIRY;
        let mut senders = BTreeSet::new();
        let mut expired = 0;
        for i in 0..self.invitations.len() {
            let inv = &self.invitations[i];
            if inv.state == InvitationState::Pending && inv.created_at <= cutoff {
                senders.insert(inv.sender);
                self.decide(i, InvitationState::Expired, None);
                expired += 1;
            }
        }
        for s in senders {
            self.review_standing(s, 0);
        }
        expired
    }
}

pub(crate) fn validation(field: &'static str) -> RuleError {
    RuleError::Validation {
        field,
        message: String::new(),
    }
}

/// A 429's retry time, and the same in whole seconds from now (at least one).
pub(crate) fn retry(now: i64, at: i64) -> (Timestamp, u64) {
    (
        Timestamp(at),
        ((at - now).max(1_000) as u64).div_ceil(1_000),
    )
}

/// Validation messages are prose: compare only the field they name.
pub(crate) fn normal(e: RuleError) -> RuleError {
    match e {
        RuleError::Validation { field, .. } => validation(field),
        other => other,
    }
}
