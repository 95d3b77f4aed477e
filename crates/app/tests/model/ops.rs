//! The operations a case is made of, and the strategies that generate them.

use super::*;

// ----- operations --------------------------------------------------------------------------------

/// One step of a case. Members are indexes into [`NAMES`] and invitations are picked among those
/// the case made so far, so a shrunk sequence still reads as a story.
#[derive(Debug, Clone)]
pub(crate) enum Op {
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
pub(crate) enum NoteKind {
    None,
    Text,
    /// Only spaces: no note.
    Blank,
    TooLong,
    Control,
}

impl NoteKind {
    pub(crate) fn raw(self) -> Option<String> {
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
pub(crate) enum EmailKind {
    None,
    Right,
    Wrong,
}

/// Who acts on the picked invitation.
#[derive(Debug, Clone, Copy)]
pub(crate) enum By {
    Sender,
    Recipient,
    Member(usize),
}

/// Which invitation: one of the pending ones (any one when none is), or any one at all.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Pick {
    Pending(Nth),
    Any(Nth),
}

/// The n-th of a list (counted round it: any n names one element of a list that is not empty).
/// Shrinks towards the first.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Nth(pub(crate) u16);

impl Nth {
    pub(crate) fn of(self, len: usize) -> usize {
        usize::from(self.0) % len
    }
}

pub(crate) fn nth() -> impl Strategy<Value = Nth> {
    any::<u16>().prop_map(Nth)
}

/// Three kinds of case, written in the same operations, so that each rule comes into play within
/// a short sequence: everyone acting alike; Ada inviting people who do not want her (the bar after
/// "don't know", privacy, the limits, restriction for being ignored); Ada withdrawing and
/// re-sending to Ben (the cooldown, restriction for repeated re-sends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mix {
    Everyone,
    UnwantedAda,
    ResendingAda,
}

/// How often each operation comes up in a mix (relative weights, at least 1).
pub(crate) struct Weights {
    pub(crate) ada_sends: u32,
    pub(crate) ben_receives: u32,
    pub(crate) accept: u32,
    pub(crate) ignore: u32,
    /// Of the ignores, how many give a reason.
    pub(crate) ignore_with_reason: u32,
    pub(crate) withdraw: u32,
    pub(crate) advance: u32,
}

impl Mix {
    pub(crate) fn weights(self) -> Weights {
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
pub(crate) fn member() -> impl Strategy<Value = usize> {
    prop::sample::select(vec![0usize, 0, 0, 1, 1, 1, 2, 2, 3, 4])
}

/// Ada (0) with weight `w` against any member with weight 1; likewise Ben (1).
pub(crate) fn favouring(m: usize, w: u32) -> BoxedStrategy<usize> {
    if w == 0 {
        member().boxed()
    } else {
        prop_oneof![w => Just(m), 1 => member()].boxed()
    }
}

/// Two different members, except now and then the same one twice.
pub(crate) fn pair(
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

pub(crate) fn by(right: By) -> impl Strategy<Value = By> {
    prop_oneof![
        8 => Just(right),
        1 => Just(match right {
            By::Sender => By::Recipient,
            _ => By::Sender,
        }),
        1 => member().prop_map(By::Member),
    ]
}

pub(crate) fn pick() -> impl Strategy<Value = Pick> {
    prop_oneof![
        4 => nth().prop_map(Pick::Pending),
        1 => nth().prop_map(Pick::Any),
    ]
}

pub(crate) fn op(mix: Mix) -> impl Strategy<Value = Op> {
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
pub(crate) fn case(max_steps: usize) -> impl Strategy<Value = (Mix, Vec<Op>)> {
    prop_oneof![
        2 => Just(Mix::Everyone),
        1 => Just(Mix::UnwantedAda),
        1 => Just(Mix::ResendingAda),
    ]
    .prop_flat_map(move |mix| (Just(mix), prop::collection::vec(op(mix), 1..=max_steps)))
}
