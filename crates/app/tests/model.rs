//! Model-based tests of the invitation rules.
//!
//! Random sequences of operations by five members run against the real app (an embedded SQLite
//! store in a temporary directory, a clock the test drives) and, side by side, against [`Model`]: a
//! few plain structs that say, in the words of PRODUCT.md and API.md, what every operation must
//! answer and what every member must then see. After every step the two are compared: the answer
//! of the operation (success, or the exact refusal), then each member's received and sent lists,
//! connections, blocks, quota, restriction, stats, token, the relationship each member sees with
//! each other one, and what each member is told about each invitation.
//!
//! A second test tells two stories on purpose (withdraw-and-resend, ignored as unknown) that random
//! sequences this short seldom tell, so that every run compares the standing rules too.
//!
//! Small limits (a weekly limit of 3, at most 2 pending, 2 connections, a 2-day cooldown, a 10-day
//! expiry) make every limit reachable within a few dozen steps.
//!
//! 64 cases by default; `RAPPORT_MODEL_CASES=1000 cargo test -p rapport-app --test model -- --nocapture`
//! for a long run (`RAPPORT_MODEL_STEPS` raises the longest sequence from 40).

use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestError, TestRunner};
use rapport_app::views::{Invitation, Sent};
use rapport_app::{App, AppError, Config, Database, PageRequest, SeedMember, SendInput};
use rapport_domain::{
    IgnoreReason, InvitationState, InvitationsFrom, ManualClock, MemberId, RestrictionReason,
    RuleError, Timestamp,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// ----- the settings every case runs with -------------------------------------------------------

const NAMES: [&str; 5] = ["Ada", "Ben", "Cleo", "Dev", "Eve"];
const N: usize = NAMES.len();
const PASSWORD: &str = "correct horse battery staple";
/// 2027-01-15T08:00:00Z, as the API tests start.
const START: i64 = 1_800_000_000_000;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
const WEEK: i64 = 7 * DAY;

const WEEKLY_LIMIT: u32 = 3;
const OUTSTANDING_LIMIT: usize = 2;
const MAX_CONNECTIONS: usize = 2;
const NOTE_MAX_CHARS: usize = 300;
const REINVITE_COOLDOWN: i64 = 2 * DAY;
const INVITATION_EXPIRY: i64 = 10 * DAY;

/// The standing rules of PRODUCT.md ("Limits and standing"); they are not settings.
const STANDING_WINDOW: i64 = 90 * DAY;
const IGNORED_AS_UNKNOWN_LIMIT: usize = 5;
const LOW_ACCEPTANCE_MIN_DECIDED: usize = 50;
const RESENDS_LIMIT: usize = 3;
const RESTRICTION_LENGTHS: [i64; 3] = [DAY, 7 * DAY, 30 * DAY];

fn config(dir: &std::path::Path) -> Config {
    let mut c = Config::defaults();
    c.data_dir = dir.to_owned();
    c.database = Database::Sqlite(dir.join("rapport.db"));
    c.weekly_invitation_limit = WEEKLY_LIMIT;
    c.premium_weekly_invitation_limit = 2 * WEEKLY_LIMIT;
    c.outstanding_limit = OUTSTANDING_LIMIT as u32;
    c.max_connections = MAX_CONNECTIONS as u32;
    c.note_max_chars = NOTE_MAX_CHARS;
    c.reinvite_cooldown = millis(REINVITE_COOLDOWN);
    c.invitation_expiry = millis(INVITATION_EXPIRY);
    c
}

fn millis(ms: i64) -> Duration {
    Duration::from_millis(ms as u64)
}

fn email(m: usize) -> String {
    format!("{}@model.test", NAMES[m].to_lowercase())
}

fn rfc3339(ms: i64) -> String {
    Timestamp(ms).to_rfc3339()
}

// ----- operations --------------------------------------------------------------------------------

/// One step of a case. Members are indexes into [`NAMES`] and invitations are picked among those
/// the case made so far, so a shrunk sequence still reads as a story.
#[derive(Debug, Clone)]
enum Op {
    Send {
        from: usize,
        to: usize,
        note: NoteKind,
        email: EmailKind,
    },
    Accept {
        by: By,
        pick: Pick,
    },
    Ignore {
        by: By,
        pick: Pick,
        reason: Option<IgnoreReason>,
    },
    Withdraw {
        by: By,
        pick: Pick,
    },
    /// "Withdraw everything older than", or with `dry_run` only count it.
    BulkWithdraw {
        who: usize,
        older_than_hours: u32,
        dry_run: bool,
    },
    Block {
        who: usize,
        other: usize,
    },
    Unblock {
        who: usize,
        other: usize,
    },
    /// The blocker of one of the blocks in place lifts it (Ada unblocks Ben when there is none).
    LiftBlock {
        nth: Nth,
    },
    Deactivate {
        who: usize,
    },
    /// Signs in again: reactivates a deactivated account.
    Login {
        who: usize,
    },
    RemoveConnection {
        who: usize,
        other: usize,
    },
    SetInvitationsFrom {
        who: usize,
        from: InvitationsFrom,
    },
    /// Time passes, then the sweeper runs (expiry).
    Advance {
        minutes: u32,
    },
}

#[derive(Debug, Clone, Copy)]
enum NoteKind {
    None,
    Text,
    /// Only spaces: no note.
    Blank,
    TooLong,
    Control,
}

impl NoteKind {
    fn raw(self) -> Option<String> {
        match self {
            NoteKind::None => None,
            NoteKind::Text => Some("  Glad to connect: we met at RustConf.\n".into()),
            NoteKind::Blank => Some("   ".into()),
            NoteKind::TooLong => Some("x".repeat(NOTE_MAX_CHARS + 1)),
            NoteKind::Control => Some("hello\u{7}".into()),
        }
    }
}

/// The recipient's email address, as a sender may supply it.
#[derive(Debug, Clone, Copy)]
enum EmailKind {
    None,
    Right,
    Wrong,
}

/// Who acts on the picked invitation.
#[derive(Debug, Clone, Copy)]
enum By {
    Sender,
    Recipient,
    Member(usize),
}

/// Which invitation: one of the pending ones (any one when none is), or any one at all.
#[derive(Debug, Clone, Copy)]
enum Pick {
    Pending(Nth),
    Any(Nth),
}

/// The n-th of a list (counted round it: any n names one element of a list that is not empty).
/// Shrinks towards the first.
#[derive(Debug, Clone, Copy)]
struct Nth(u16);

impl Nth {
    fn of(self, len: usize) -> usize {
        usize::from(self.0) % len
    }
}

fn nth() -> impl Strategy<Value = Nth> {
    any::<u16>().prop_map(Nth)
}

/// Three kinds of case, written in the same operations, so that each rule comes into play within
/// a short sequence: everyone acting alike; Ada inviting people who do not want her (the bar after
/// "don't know", privacy, the limits, restriction for being ignored); Ada withdrawing and
/// re-sending to Ben (the cooldown, restriction for repeated re-sends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mix {
    Everyone,
    UnwantedAda,
    ResendingAda,
}

/// How often each operation comes up in a mix (relative weights, at least 1).
struct Weights {
    ada_sends: u32,
    ben_receives: u32,
    accept: u32,
    ignore: u32,
    /// Of the ignores, how many give a reason.
    ignore_with_reason: u32,
    withdraw: u32,
    advance: u32,
}

impl Mix {
    fn weights(self) -> Weights {
        match self {
            Mix::Everyone => Weights {
                ada_sends: 0,
                ben_receives: 0,
                accept: 8,
                ignore: 6,
                ignore_with_reason: 1,
                withdraw: 6,
                advance: 10,
            },
            Mix::UnwantedAda => Weights {
                ada_sends: 3,
                ben_receives: 0,
                accept: 2,
                ignore: 12,
                ignore_with_reason: 4,
                withdraw: 4,
                advance: 10,
            },
            Mix::ResendingAda => Weights {
                ada_sends: 20,
                ben_receives: 20,
                accept: 1,
                ignore: 1,
                ignore_with_reason: 1,
                withdraw: 14,
                advance: 14,
            },
        }
    }
}

/// Member 0 acts most and member 4 least, so that pairs meet often enough within a short sequence.
fn member() -> impl Strategy<Value = usize> {
    prop::sample::select(vec![0usize, 0, 0, 1, 1, 1, 2, 2, 3, 4])
}

/// Ada (0) with weight `w` against any member with weight 1; likewise Ben (1).
fn favouring(m: usize, w: u32) -> BoxedStrategy<usize> {
    if w == 0 {
        member().boxed()
    } else {
        prop_oneof![w => Just(m), 1 => member()].boxed()
    }
}

/// Two different members, except now and then the same one twice.
fn pair(
    first: impl Strategy<Value = usize>,
    second: impl Strategy<Value = usize>,
) -> impl Strategy<Value = (usize, usize)> {
    (first, second, 0..16u8).prop_map(|(a, b, same)| {
        if a == b && same != 0 {
            (a, (b + 1) % N)
        } else {
            (a, b)
        }
    })
}

fn by(right: By) -> impl Strategy<Value = By> {
    prop_oneof![
        8 => Just(right),
        1 => Just(match right {
            By::Sender => By::Recipient,
            _ => By::Sender,
        }),
        1 => member().prop_map(By::Member),
    ]
}

fn pick() -> impl Strategy<Value = Pick> {
    prop_oneof![
        4 => nth().prop_map(Pick::Pending),
        1 => nth().prop_map(Pick::Any),
    ]
}

fn op(mix: Mix) -> impl Strategy<Value = Op> {
    let w = mix.weights();
    let note = prop_oneof![
        12 => Just(NoteKind::None),
        6 => Just(NoteKind::Text),
        1 => Just(NoteKind::Blank),
        1 => Just(NoteKind::TooLong),
        1 => Just(NoteKind::Control),
    ];
    let email = prop_oneof![
        8 => Just(EmailKind::None),
        2 => Just(EmailKind::Right),
        1 => Just(EmailKind::Wrong),
    ];
    let reason = prop_oneof![
        3 => Just(None),
        2 * w.ignore_with_reason => Just(Some(IgnoreReason::DontKnow)),
        w.ignore_with_reason => Just(Some(IgnoreReason::Spam)),
    ];
    let privacy = prop_oneof![
        3 => Just(InvitationsFrom::Everyone),
        1 => Just(InvitationsFrom::SecondDegree),
        1 => Just(InvitationsFrom::EmailRequired),
        1 => Just(InvitationsFrom::Nobody),
    ];
    // Mostly short, so that a week holds enough sends to reach the limit; now and then long
    // enough for the cooldown, expiry, the end of a restriction, or the 90 days of standing.
    let minutes = prop_oneof![
        4 => prop::sample::select(vec![1u32, 60, 6 * 60, 24 * 60]),
        2 => prop::sample::select(vec![2 * 24 * 60, 3 * 24 * 60, 7 * 24 * 60, 10 * 24 * 60, 30 * 24 * 60]),
        1 => 1u32..=14 * 24 * 60,
    ];
    let send = pair(favouring(0, w.ada_sends), favouring(1, w.ben_receives));
    prop_oneof![
        35 => (send, note, email).prop_map(|((from, to), note, email)| Op::Send { from, to, note, email }),
        w.accept => (by(By::Recipient), pick()).prop_map(|(by, pick)| Op::Accept { by, pick }),
        w.ignore => (by(By::Recipient), pick(), reason).prop_map(|(by, pick, reason)| Op::Ignore { by, pick, reason }),
        w.withdraw => (by(By::Sender), pick()).prop_map(|(by, pick)| Op::Withdraw { by, pick }),
        2 => (favouring(0, w.ada_sends), prop::sample::select(vec![0u32, 1, 24, 72, 168]), any::<bool>())
            .prop_map(|(who, older_than_hours, dry_run)| Op::BulkWithdraw { who, older_than_hours, dry_run }),
        3 => pair(member(), member()).prop_map(|(who, other)| Op::Block { who, other }),
        1 => pair(member(), member()).prop_map(|(who, other)| Op::Unblock { who, other }),
        2 => nth().prop_map(|nth| Op::LiftBlock { nth }),
        2 => member().prop_map(|who| Op::Deactivate { who }),
        1 => member().prop_map(|who| Op::Login { who }),
        3 => pair(member(), member()).prop_map(|(who, other)| Op::RemoveConnection { who, other }),
        3 => (member(), privacy).prop_map(|(who, from)| Op::SetInvitationsFrom { who, from }),
        w.advance => minutes.prop_map(|minutes| Op::Advance { minutes }),
    ]
}

/// A case: its kind, then its operations.
fn case(max_steps: usize) -> impl Strategy<Value = (Mix, Vec<Op>)> {
    prop_oneof![
        2 => Just(Mix::Everyone),
        1 => Just(Mix::UnwantedAda),
        1 => Just(Mix::ResendingAda),
    ]
    .prop_flat_map(move |mix| (Just(mix), prop::collection::vec(op(mix), 1..=max_steps)))
}

// ----- the reference model -------------------------------------------------------------------------

/// An invitation as the model keeps it. Its index in [`Model::invitations`] is its place in time:
/// a later invitation has a larger index (and a larger id in the app).
#[derive(Debug, Clone)]
struct Inv {
    sender: usize,
    recipient: usize,
    note: Option<String>,
    state: InvitationState,
    reason: Option<IgnoreReason>,
    created_at: i64,
    decided_at: Option<i64>,
}

/// What one member's past with another decides about their next invitation.
#[derive(Debug, Clone, Copy, Default)]
struct PairRule {
    /// After a withdrawal: no new invitation before this.
    cooldown_until: Option<i64>,
    /// Ignored as "don't know" or spam, and the recipient has not invited the sender since.
    barred: bool,
    /// Every withdrawal ever, sender to this recipient.
    withdrawals: usize,
}

#[derive(Debug, Clone, Copy)]
struct Restriction {
    until: i64,
    level: u8,
    reason: RestrictionReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Party {
    Sender,
    Recipient,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Accept,
    Ignore(Option<IgnoreReason>),
    Withdraw,
}

/// What a successful send did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SendDone {
    /// A new pending invitation (the last of [`Model::invitations`]).
    Created,
    /// The recipient had invited the sender: that invitation is accepted and they are connected.
    Connected,
}

/// The reference model: everything the rules read, in plain collections, and each rule written
/// out once as PRODUCT.md states it. No clever indexing: five members and a few dozen invitations
/// are scanned whole.
#[derive(Debug, Clone)]
struct Model {
    now: i64,
    active: [bool; N],
    invitations_from: [InvitationsFrom; N],
    invitations: Vec<Inv>,
    /// Connections as `(smaller, larger)`. Kept while a member is deactivated (only hidden).
    connections: BTreeSet<(usize, usize)>,
    /// `(blocker, blocked)`.
    blocks: BTreeSet<(usize, usize)>,
    pairs: HashMap<(usize, usize), PairRule>,
    restrictions: [Vec<Restriction>; N],
}

fn edge(a: usize, b: usize) -> (usize, usize) {
    (a.min(b), a.max(b))
}

impl Model {
    fn new() -> Model {
        Model {
            now: START,
            active: [true; N],
            invitations_from: [InvitationsFrom::Everyone; N],
            invitations: Vec::new(),
            connections: BTreeSet::new(),
            blocks: BTreeSet::new(),
            pairs: HashMap::new(),
            restrictions: Default::default(),
        }
    }

    // --- what the rules read ---

    fn connected(&self, a: usize, b: usize) -> bool {
        self.connections.contains(&edge(a, b))
    }

    /// Connections count towards the cap while the other side is deactivated: they come back.
    fn connection_count(&self, m: usize) -> usize {
        self.connections
            .iter()
            .filter(|&&(a, b)| a == m || b == m)
            .count()
    }

    fn blocked_either_way(&self, a: usize, b: usize) -> bool {
        self.blocks.contains(&(a, b)) || self.blocks.contains(&(b, a))
    }

    /// Hidden from `viewer`: blocked either way, or deactivated. Hidden members read as unknown.
    fn hidden(&self, viewer: usize, other: usize) -> bool {
        other != viewer && (self.blocked_either_way(viewer, other) || !self.active[other])
    }

    fn pending_between(&self, a: usize, b: usize) -> Option<usize> {
        self.invitations.iter().position(|i| {
            i.state == InvitationState::Pending && edge(i.sender, i.recipient) == edge(a, b)
        })
    }

    /// What `m` sent that is still pending, newest first (the Sent list).
    fn pending_sent(&self, m: usize) -> Vec<usize> {
        (0..self.invitations.len())
            .rev()
            .filter(|&i| {
                self.invitations[i].sender == m
                    && self.invitations[i].state == InvitationState::Pending
            })
            .collect()
    }

    /// What `m` received that is still pending, newest first (the inbox).
    fn pending_received(&self, m: usize) -> Vec<usize> {
        (0..self.invitations.len())
            .rev()
            .filter(|&i| {
                self.invitations[i].recipient == m
                    && self.invitations[i].state == InvitationState::Pending
            })
            .collect()
    }

    /// Creation times of what `m` sent within the rolling week, oldest first.
    fn sent_this_week(&self, m: usize) -> Vec<i64> {
        self.invitations
            .iter()
            .filter(|i| i.sender == m && i.created_at > self.now - WEEK)
            .map(|i| i.created_at)
            .collect()
    }

    fn active_restriction(&self, m: usize) -> Option<Restriction> {
        self.restrictions[m]
            .iter()
            .copied()
            .filter(|r| r.until > self.now)
            .max_by_key(|r| r.until)
    }

    /// Active members connected to both (the graph holds active members only).
    fn share_a_connection(&self, a: usize, b: usize) -> bool {
        (0..N).any(|m| {
            m != a && m != b && self.active[m] && self.connected(a, m) && self.connected(m, b)
        })
    }

    /// How `viewer` may see invitation `i`: `None` when it is gone for them (not theirs; withdrawn,
    /// expired or cancelled for the recipient; the other party hidden), else its state in the words
    /// that party may know (ignored, expired and cancelled all read `closed` to the sender).
    fn seen(&self, viewer: usize, i: usize) -> Option<(Party, &'static str)> {
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
    fn degrees(&self, viewer: usize) -> [Option<u8>; N] {
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
    fn mutual_count(&self, viewer: usize, other: usize) -> u32 {
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

    // --- operations: each returns what the app must answer, and changes the model only on success ---

    /// PRODUCT.md "Send", in the order API.md fixes: the request (422), visibility (404), state
    /// (409), privacy and standing (403), limits (429). Within 403 and within 429 the contract
    /// fixes no order; the model follows the one of `decide_send`.
    fn send(
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
        let email_matches = matches!(email, EmailKind::Right);
        if rule.barred {
            return Err(RuleError::InvitationsClosed);
        }
        match self.invitations_from[to] {
            InvitationsFrom::Everyone => {}
            InvitationsFrom::Nobody => return Err(RuleError::InvitationsClosed),
            InvitationsFrom::SecondDegree if !self.share_a_connection(from, to) => {
                return Err(RuleError::InvitationsClosed)
            }
            InvitationsFrom::SecondDegree => {}
            InvitationsFrom::EmailRequired if !email_matches => {
                return Err(RuleError::EmailRequired)
            }
            InvitationsFrom::EmailRequired => {}
        }
        if let Some(r) = self.active_restriction(from) {
            // A restricted sender may still invite someone whose email they supply.
            if !email_matches {
                return Err(RuleError::Restricted {
                    until: Timestamp(r.until),
                });
            }
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
    fn lift_bar(&mut self, inviter: usize, other: usize) {
        if let Some(r) = self.pairs.get_mut(&(other, inviter)) {
            r.barred = false;
        }
    }

    fn decide(&mut self, i: usize, state: InvitationState, reason: Option<IgnoreReason>) {
        let inv = &mut self.invitations[i];
        inv.state = state;
        inv.reason = reason;
        inv.decided_at = Some(self.now);
    }

    /// Accept, ignore or withdraw invitation `i`. An invitation the actor cannot see (not theirs,
    /// gone for them, or the other party hidden) is not found, before any question of state.
    fn act(&mut self, actor: usize, i: usize, action: Action) -> Result<(), RuleError> {
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
    fn withdrawn(&mut self, i: usize) {
        self.decide(i, InvitationState::Withdrawn, None);
        let inv = &self.invitations[i];
        let rule = self.pairs.entry((inv.sender, inv.recipient)).or_default();
        rule.cooldown_until = Some(self.now + REINVITE_COOLDOWN);
        rule.withdrawals += 1;
    }

    fn bulk_withdraw(&mut self, who: usize, older_than: i64, dry_run: bool) -> u64 {
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
    fn review_standing(&mut self, sender: usize, withdrawals_to_one_person: usize) {
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

    /// Ends every pending invitation between the two, removes their connection, hides each from
    /// the other. Blocking again is a no-op; a member already hidden cannot be blocked.
    fn block(&mut self, who: usize, other: usize) -> Result<(), RuleError> {
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
    fn unblock(&mut self, who: usize, other: usize) -> Result<(), RuleError> {
        if self.blocks.remove(&(who, other)) {
            Ok(())
        } else {
            Err(RuleError::NotFound)
        }
    }

    /// Hidden; every pending invitation sent or received is cancelled; connections are kept.
    fn deactivate(&mut self, who: usize) {
        self.active[who] = false;
        for i in 0..self.invitations.len() {
            let inv = &self.invitations[i];
            if inv.state == InvitationState::Pending && (inv.sender == who || inv.recipient == who)
            {
                self.decide(i, InvitationState::Cancelled, None);
            }
        }
    }

    fn remove_connection(&mut self, who: usize, other: usize) -> Result<(), RuleError> {
        if who == other || self.hidden(who, other) || !self.connections.remove(&edge(who, other)) {
            return Err(RuleError::NotFound);
        }
        Ok(())
    }

    /// Time passes; the sweeper then expires what is pending since the expiry (silently), and
    /// each sender whose invitation expired has their standing reviewed.
    fn advance(&mut self, by: i64) -> u64 {
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

fn validation(field: &'static str) -> RuleError {
    RuleError::Validation {
        field,
        message: String::new(),
    }
}

/// A 429's retry time, and the same in whole seconds from now (at least one).
fn retry(now: i64, at: i64) -> (Timestamp, u64) {
    (
        Timestamp(at),
        ((at - now).max(1_000) as u64).div_ceil(1_000),
    )
}

/// Validation messages are prose: compare only the field they name.
fn normal(e: RuleError) -> RuleError {
    match e {
        RuleError::Validation { field, .. } => validation(field),
        other => other,
    }
}

// ----- running a case ------------------------------------------------------------------------------

/// The app under test, its clock, and what the case learned of its ids.
struct Harness {
    app: App,
    clock: Arc<ManualClock>,
    ids: [MemberId; N],
    tokens: [String; N],
    /// The app's id of each invitation of the model, in the same order.
    invitation_ids: Vec<String>,
    _dir: tempfile::TempDir,
    /// With `RAPPORT_TEST_BACKEND=postgres`, the fresh database the app runs on.
    _postgres: Option<rapport_store::postgres::scratch::ScratchDatabase>,
}

/// What happened in all the cases run, for the closing line.
#[derive(Default)]
struct Tally {
    cases: AtomicU64,
    steps: AtomicU64,
    failures: AtomicU64,
    outcomes: Mutex<BTreeMap<String, u64>>,
}

impl Tally {
    fn outcome(&self, op: &Op, result: &Result<impl std::fmt::Debug, RuleError>) {
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
fn code(e: &RuleError) -> &'static str {
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

fn fail(msg: impl Into<String>) -> TestCaseError {
    TestCaseError::fail(msg.into())
}

/// A refusal of a rule, as the model states refusals; anything else fails the case.
fn rule<T>(what: &str, r: Result<T, AppError>) -> Result<Result<T, RuleError>, TestCaseError> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(AppError::Rule(e)) => Ok(Err(normal(e))),
        Err(other) => Err(fail(format!("{what}: the app failed: {other:?}"))),
    }
}

/// The app's answer and the model's must agree: both successes, or the same refusal.
fn agree<A: std::fmt::Debug, E: std::fmt::Debug>(
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
    async fn open() -> Harness {
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

    fn id(&self, m: usize) -> String {
        self.ids[m].to_string()
    }

    fn member_of(&self, id: &str) -> Option<usize> {
        (0..N).find(|&m| self.id(m) == id)
    }

    /// The model's invitation that `pick` names, if the case made any.
    fn pick(&self, model: &Model, pick: Pick) -> Option<usize> {
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
    async fn sign_in(
        &mut self,
        model: &mut Model,
        who: usize,
        what: &str,
    ) -> Result<(), TestCaseError> {
        let (me, token) = self
            .app
            .login(&email(who), PASSWORD)
            .await
            .map_err(|e| fail(format!("{what}: {} cannot sign in: {e:?}", NAMES[who])))?;
        model.active[who] = true;
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
    async fn reactivate_to_act(
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
    async fn step(
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

    async fn act(
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

    /// Everything each member can see, against what the model says they must see.
    async fn compare(&self, model: &Model, after: &str) -> Result<(), TestCaseError> {
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
            // A deactivated member's tokens stop working; signing in gives a new one.
            let auth = app.authenticate(&self.tokens[v]).await.ok();
            same!(auth, model.active[v].then_some(vid), "{name}'s token");

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

    fn ids_of(&self, invitations: &[usize]) -> Vec<String> {
        invitations
            .iter()
            .map(|&i| self.invitation_ids[i].clone())
            .collect()
    }
}

fn ids(items: &[Invitation]) -> Vec<String> {
    items.iter().map(|i| i.id.clone()).collect()
}

/// Runs `ops` against a fresh app and a fresh model, comparing after every step; the model as it
/// ends.
async fn run_case(ops: &[Op], tally: &Tally) -> Result<Model, TestCaseError> {
    let mut h = Harness::open().await;
    let mut model = Model::new();
    h.compare(&model, "the start").await?;
    for (n, op) in ops.iter().enumerate() {
        h.step(&mut model, op, tally).await?;
        tally.steps.fetch_add(1, Ordering::Relaxed);
        h.compare(&model, &format!("step {n} {op:?}")).await?;
    }
    let mut outcomes = tally.outcomes.lock().expect("the tally is never poisoned");
    for r in model.restrictions.iter().flatten() {
        *outcomes
            .entry(format!("Restricted {:?} level {}", r.reason, r.level))
            .or_default() += 1;
    }
    drop(outcomes);
    Ok(model)
}

fn env_number(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

#[test]
fn the_app_agrees_with_the_model_on_every_step() {
    let cases = env_number("RAPPORT_MODEL_CASES", 64);
    let max_steps = env_number("RAPPORT_MODEL_STEPS", 40).max(1) as usize;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let tally = Tally::default();
    let mut runner = TestRunner::new(RunnerConfig {
        cases,
        max_shrink_iters: 2_000,
        // The failing sequence is printed below; nothing is written into the source tree.
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    let started = std::time::Instant::now();
    let result = runner.run(&case(max_steps), |(_mix, ops)| {
        tally.cases.fetch_add(1, Ordering::Relaxed);
        let r = rt.block_on(run_case(&ops, &tally));
        if r.is_err() {
            tally.failures.fetch_add(1, Ordering::Relaxed);
        }
        r.map(drop)
    });
    let outcomes = tally.outcomes.lock().expect("the tally is never poisoned");
    for (outcome, n) in outcomes.iter() {
        eprintln!("model: {n:>6}  {outcome}");
    }
    let (ran, steps, failures) = (
        tally.cases.load(Ordering::Relaxed),
        tally.steps.load(Ordering::Relaxed),
        tally.failures.load(Ordering::Relaxed),
    );
    // Straight to stderr, past the test harness's capture: RELIABILITY.md quotes this line.
    let _ = writeln!(
        std::io::stderr(),
        "model: {ran} cases, {steps} steps, {failures} mismatches ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    match result {
        Ok(()) => {}
        Err(TestError::Fail(why, (_mix, ops))) => {
            panic!("the app and the model disagree: {why}\nminimal sequence:\n{ops:#?}")
        }
        Err(e) => panic!("{e}"),
    }
}

/// The standing rules need a dozen steps in the right order, which random sequences of this
/// length seldom make: these stories make them on purpose, through the same comparison.
#[test]
fn scripted_stories_reach_the_restrictions() {
    use Op::*;
    let send = |from, to| Send {
        from,
        to,
        note: NoteKind::None,
        email: EmailKind::None,
    };
    let send_with_email = |from, to| Send {
        from,
        to,
        note: NoteKind::Text,
        email: EmailKind::Right,
    };
    // One pending invitation at a time in these stories: the first pending one is it.
    let only = Pick::Pending(Nth(0));
    let withdraw = Withdraw {
        by: By::Sender,
        pick: only,
    };
    let ignore = |reason| Ignore {
        by: By::Recipient,
        pick: only,
        reason,
    };
    let days = |d: u32| Advance {
        minutes: d * 24 * 60,
    };

    // Ada withdraws and re-sends to Ben: three cycles restrict her for a day, the next one for a
    // week, the one after for 30 days; meanwhile she can still invite someone whose email she
    // gives.
    let mut resends = Vec::new();
    for _ in 0..3 {
        resends.extend([send(0, 1), withdraw.clone(), days(3)]);
    }
    resends.extend([
        send(0, 1), // restricted: level 1, one day
        send(0, 2), // refused: restricted
        withdraw.clone(),
        days(3),
        send(0, 1), // level 2, a week
        send(0, 3), // refused: restricted
        withdraw.clone(),
        days(7),
        send(0, 1),            // level 3, 30 days
        send(0, 4),            // refused: restricted
        send_with_email(0, 4), // allowed: she knows Eve's email
        days(30),
    ]);

    // Ada is ignored as "don't know" or spam by everyone she invites; once Ben invites her, his
    // bar on her is lifted, she invites him again, and the fifth such ignore restricts her.
    let unwanted = vec![
        send(0, 1),
        ignore(Some(IgnoreReason::DontKnow)),
        send(0, 2),
        ignore(Some(IgnoreReason::Spam)),
        send(0, 3),
        ignore(Some(IgnoreReason::DontKnow)),
        send(0, 1), // refused: Ben said he does not know her
        days(7),
        send(0, 4),
        ignore(Some(IgnoreReason::Spam)),
        send(1, 0),
        ignore(None),
        send(0, 1),                           // Ben invited her since: allowed again
        ignore(Some(IgnoreReason::DontKnow)), // the fifth: restricted
        days(1),
    ];

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let tally = Tally::default();
    let stories = [
        (
            "withdraw and re-send",
            resends,
            vec![
                (RestrictionReason::RepeatedResends, 1),
                (RestrictionReason::RepeatedResends, 2),
                (RestrictionReason::RepeatedResends, 3),
            ],
        ),
        (
            "ignored as unknown",
            unwanted,
            vec![(RestrictionReason::IgnoredAsUnknown, 1)],
        ),
    ];
    for (story, ops, restrictions) in stories {
        let model = rt
            .block_on(run_case(&ops, &tally))
            .unwrap_or_else(|e| panic!("{story}: the app and the model disagree: {e}"));
        let reached: Vec<(RestrictionReason, u8)> = model.restrictions[0]
            .iter()
            .map(|r| (r.reason, r.level))
            .collect();
        assert_eq!(reached, restrictions, "{story}: Ada's restrictions");
    }
    let outcomes = tally.outcomes.lock().expect("the tally is never poisoned");
    assert!(
        outcomes.contains_key("Send restricted"),
        "a restricted sender was refused at least once: {outcomes:?}"
    );
}
