//! Each consequence of a send or an action, as the plan states it.

use super::*;
use crate::{Action, Email, InvitationsFrom, RuleError, SendDecision};
use std::time::Duration;

const NOW: Timestamp = Timestamp(1_800_000_000_000);
const ADA: MemberId = MemberId(1);
const BOB: MemberId = MemberId(2);
const DAY: Duration = Duration::from_secs(86_400);

fn member() -> MemberFacts {
    MemberFacts {
        active: true,
        email: "bob@example.com".into(),
        premium: false,
        invitations_from: InvitationsFrom::Everyone,
        pending_sent: 0,
        connections: 0,
        prefs: NotificationPrefs::default(),
    }
}

fn send() -> SendInvitation {
    SendInvitation {
        sender: ADA,
        recipient: BOB,
        note: None,
        recipient_email: None,
        shares_connection: false,
        policy: SendPolicy {
            weekly_free: 100,
            weekly_premium: 200,
            outstanding: 2_500,
            max_connections: 30_000,
            first_reminder: Some(7 * DAY),
        },
        at: NOW,
    }
}

fn facts() -> SendFacts {
    SendFacts {
        sender: member(),
        recipient: Some(member()),
        blocked: false,
        connected: false,
        pending: None,
        pair: PairFacts::default(),
        recipient_barred: false,
        nth_newest: [None, None],
        restricted_until: None,
        review: None,
        guesses: None,
    }
}

fn act_facts(state: InvitationState) -> ActFacts {
    ActFacts {
        invitation: InvitationFacts {
            id: InvitationId(9),
            sender: ADA,
            recipient: BOB,
            state,
            created_at: NOW.minus(DAY),
        },
        sender_connections: 0,
        recipient_connections: 0,
        blocked: false,
        sender_prefs: NotificationPrefs::default(),
        recipient_prefs: NotificationPrefs::default(),
        restricted_until: None,
        review: None,
    }
}

fn policy(notice: WithdrawalNotice) -> ActPolicy {
    ActPolicy {
        max_connections: 30_000,
        reinvite_cooldown: 21 * DAY,
        withdrawal_notice: notice,
    }
}

fn has(plan: &Plan, f: impl Fn(&Effect) -> bool) -> bool {
    plan.effects.iter().any(f)
}

#[test]
fn a_send_creates_the_invitation_counts_it_sets_the_reminder_and_tells_the_recipient() {
    let p = plan_send(&send(), &facts()).unwrap();
    assert_eq!(p.decision, SendDecision::Create);
    assert_eq!(
        p.plan.effects,
        vec![
            Effect::CreateInvitation {
                sender: ADA,
                recipient: BOB,
                note: None,
                next_reminder_at: Some(NOW.plus(7 * DAY)),
            },
            Effect::PendingSent {
                member: ADA,
                delta: 1
            },
            Effect::Emit {
                notice: Some(Notice {
                    member: BOB,
                    kind: NotificationKind::InvitationReceived,
                    actor: Some(ADA),
                    invitation: Some(InvitationRef::New),
                    channels: NotificationPrefs::default()
                        .get(NotificationKind::InvitationReceived),
                }),
                event: EventPlan::invitation("invitation.sent", InvitationRef::New, ADA, BOB),
            },
        ]
    );
}

#[test]
fn a_recipient_who_chose_no_channel_gets_the_event_but_no_notice() {
    let mut f = facts();
    let mut prefs = NotificationPrefs::default();
    prefs.set(
        NotificationKind::InvitationReceived,
        Channels {
            in_app: false,
            email: EmailCadence::Off,
        },
    );
    f.recipient.as_mut().unwrap().prefs = prefs;
    let p = plan_send(&send(), &f).unwrap();
    assert!(has(
        &p.plan,
        |e| matches!(e, Effect::Emit { notice: None, event } if event.kind == "invitation.sent")
    ));
}

#[test]
fn inviting_someone_lifts_the_bar_they_were_under_towards_you() {
    let mut f = facts();
    f.recipient_barred = true;
    let p = plan_send(&send(), &f).unwrap();
    assert_eq!(
        p.plan.effects[0],
        Effect::LiftBar {
            sender: BOB,
            recipient: ADA
        }
    );
}

#[test]
fn a_refused_send_plans_nothing() {
    let mut f = facts();
    f.blocked = true;
    assert_eq!(plan_send(&send(), &f), Err(RuleError::NotFound));
    let mut f = facts();
    f.pair.barred = true;
    assert_eq!(plan_send(&send(), &f), Err(RuleError::InvitationsClosed));
}

#[test]
fn inviting_someone_who_invited_you_accepts_theirs_and_connects_you() {
    let mut f = facts();
    f.pending = Some(PendingFacts {
        id: InvitationId(5),
        sender: BOB,
    });
    let p = plan_send(&send(), &f).unwrap();
    assert_eq!(p.decision, SendDecision::AcceptReverse(InvitationId(5)));
    assert!(has(&p.plan, |e| *e
        == Effect::Decide {
            invitation: InvitationId(5),
            state: InvitationState::Accepted,
            reason: None
        }));
    assert!(has(&p.plan, |e| *e
        == Effect::PendingSent {
            member: BOB,
            delta: -1
        }));
    assert!(has(&p.plan, |e| *e == Effect::Connect { a: ADA, b: BOB }));
    assert_eq!(
        p.plan.event_kinds(),
        vec!["invitation.accepted", "connection.created"]
    );
    assert!(!has(&p.plan, |e| matches!(
        e,
        Effect::CreateInvitation { .. }
    )));
}

#[test]
fn the_weekly_limit_uses_the_senders_tier() {
    let mut f = facts();
    // The 100th newest send was an hour ago: a free sender is at the limit, a premium one is not.
    f.nth_newest = [Some(NOW.minus(Duration::from_secs(3600))), None];
    assert!(matches!(
        plan_send(&send(), &f),
        Err(RuleError::QuotaExceeded { .. })
    ));
    f.sender.premium = true;
    assert!(plan_send(&send(), &f).is_ok());
}

/// Facts of a send to someone Ada withdrew three invitations from, after `restrictions_before`
/// restrictions.
fn resend_after_three_withdrawals(restrictions_before: u32) -> SendFacts {
    let mut f = facts();
    f.pair.withdrawals = 3;
    f.review = Some(ReviewFacts {
        standing: Standing {
            withdrawals_to_one_person: 3,
            ..Default::default()
        },
        restrictions_before,
    });
    f
}

#[test]
fn a_third_resend_after_withdrawals_restricts_the_sender_and_tells_them() {
    let p = plan_send(&send(), &resend_after_three_withdrawals(1)).unwrap();
    assert!(has(&p.plan, |e| *e
        == Effect::Restrict {
            member: ADA,
            level: 2,
            reason: RestrictionReason::RepeatedResends,
            source: "automatic",
            until: NOW.plus(7 * DAY),
        }));
    assert_eq!(
        p.plan.event_kinds(),
        vec!["member.restricted", "invitation.sent"]
    );
}

#[test]
fn no_second_restriction_while_one_is_in_force() {
    let mut f = resend_after_three_withdrawals(0);
    // Restricted, but the sender supplied the recipient's email, which a restriction allows.
    f.restricted_until = Some(NOW.plus(DAY));
    let mut cmd = send();
    cmd.recipient_email = Some(Email::parse("bob@example.com").unwrap());
    let p = plan_send(&cmd, &f).unwrap();
    assert!(!has(&p.plan, |e| matches!(e, Effect::Restrict { .. })));
}

/// A send to a member who needs their address, with the address `typed` and `wrong_emails`
/// wrong ones given before.
fn guess(typed: &str, wrong_emails: u32) -> (SendInvitation, SendFacts) {
    let mut cmd = send();
    cmd.recipient_email = Some(Email::parse(typed).unwrap());
    let mut f = facts();
    if let Some(r) = f.recipient.as_mut() {
        r.invitations_from = InvitationsFrom::EmailRequired;
    }
    f.guesses = Some(GuessFacts {
        wrong_emails,
        restrictions_before: 0,
    });
    (cmd, f)
}

#[test]
fn a_wrong_address_counts_against_the_sender_and_the_tenth_restricts_them() {
    let (cmd, f) = guess("someone@example.com", 0);
    let refused = plan_send(&cmd, &f).unwrap_err();
    assert_eq!(refused, RuleError::EmailRequired);
    let p = plan_refused_send(&cmd, &f, &refused).expect("the wrong address is counted");
    assert_eq!(
        p.effects,
        vec![Effect::WrongEmail {
            sender: ADA,
            recipient: BOB
        }]
    );
    let (cmd, f) = guess("someone@example.com", 9);
    let refused = plan_send(&cmd, &f).unwrap_err();
    let p = plan_refused_send(&cmd, &f, &refused).unwrap();
    assert!(has(&p, |e| *e
        == Effect::Restrict {
            member: ADA,
            level: 1,
            reason: RestrictionReason::WrongEmails,
            source: "automatic",
            until: NOW.plus(DAY),
        }));
    // A restricted sender who gets an address wrong is counted too, and restricted no further.
    let (mut cmd, mut f) = guess("someone@example.com", 12);
    f.recipient.as_mut().unwrap().invitations_from = InvitationsFrom::Everyone;
    f.restricted_until = Some(NOW.plus(DAY));
    let refused = plan_send(&cmd, &f).unwrap_err();
    assert!(matches!(refused, RuleError::Restricted { .. }));
    let p = plan_refused_send(&cmd, &f, &refused).unwrap();
    assert_eq!(p.effects.len(), 1);
    // Where the address decided nothing, nothing is counted: a limit, or no address at all.
    f.restricted_until = None;
    f.nth_newest = [Some(NOW.minus(DAY)), None];
    let refused = plan_send(&cmd, &f).unwrap_err();
    assert!(matches!(refused, RuleError::QuotaExceeded { .. }));
    assert_eq!(plan_refused_send(&cmd, &f, &refused), None);
    cmd.recipient_email = None;
    f.nth_newest = [None, None];
    f.recipient.as_mut().unwrap().invitations_from = InvitationsFrom::EmailRequired;
    let refused = plan_send(&cmd, &f).unwrap_err();
    assert_eq!(plan_refused_send(&cmd, &f, &refused), None);
}

#[test]
fn a_guesser_is_not_let_through_by_a_right_address_until_the_wrong_ones_age_out() {
    let (cmd, f) = guess("bob@example.com", 9);
    assert!(
        plan_send(&cmd, &f).is_ok(),
        "nine wrong ones: a right one still counts"
    );
    let (cmd, mut f) = guess("bob@example.com", 10);
    let refused = plan_send(&cmd, &f).unwrap_err();
    assert_eq!(refused, RuleError::EmailRequired);
    assert_eq!(
        plan_refused_send(&cmd, &f, &refused),
        None,
        "a right address is never counted as wrong"
    );
    f.recipient.as_mut().unwrap().invitations_from = InvitationsFrom::Everyone;
    f.restricted_until = Some(NOW.plus(DAY));
    assert!(matches!(
        plan_send(&cmd, &f),
        Err(RuleError::Restricted { .. })
    ));
}

#[test]
fn accepting_connects_tells_the_sender_and_takes_the_invitation_off_their_count() {
    let p = plan_act(
        BOB,
        Action::Accept,
        &policy(WithdrawalNotice::Silent),
        &act_facts(InvitationState::Pending),
        NOW,
    )
    .unwrap();
    assert_eq!(p.state, InvitationState::Accepted);
    assert!(has(&p.plan, |e| *e == Effect::Connect { a: BOB, b: ADA }));
    assert!(has(&p.plan, |e| *e
        == Effect::PendingSent {
            member: ADA,
            delta: -1
        }));
    assert!(has(
        &p.plan,
        |e| matches!(e, Effect::Emit { notice: Some(n), .. } if n.member == ADA && n.kind == NotificationKind::InvitationAccepted)
    ));
    assert_eq!(
        p.plan.event_kinds(),
        vec!["invitation.accepted", "connection.created"]
    );
}

#[test]
fn accepting_at_the_connection_cap_is_refused() {
    let mut f = act_facts(InvitationState::Pending);
    f.sender_connections = 30_000;
    let refused = plan_act(
        BOB,
        Action::Accept,
        &policy(WithdrawalNotice::Silent),
        &f,
        NOW,
    );
    assert_eq!(refused, Err(RuleError::ConnectionLimit));
}

#[test]
fn a_stranger_cannot_act_and_a_decided_invitation_cannot_be_decided_again() {
    let p = policy(WithdrawalNotice::Silent);
    let f = act_facts(InvitationState::Pending);
    assert_eq!(
        plan_act(MemberId(3), Action::Accept, &p, &f, NOW),
        Err(RuleError::NotFound)
    );
    let f = act_facts(InvitationState::Accepted);
    assert_eq!(
        plan_act(BOB, Action::Accept, &p, &f, NOW),
        Err(RuleError::NotPending)
    );
}

#[test]
fn withdrawing_is_silent_by_default_erases_the_recipients_traces_and_starts_the_cooldown() {
    let p = plan_act(
        ADA,
        Action::Withdraw,
        &policy(WithdrawalNotice::Silent),
        &act_facts(InvitationState::Pending),
        NOW,
    )
    .unwrap();
    assert_eq!(
        p.plan.effects,
        vec![
            Effect::Decide {
                invitation: InvitationId(9),
                state: InvitationState::Withdrawn,
                reason: None
            },
            Effect::PendingSent {
                member: ADA,
                delta: -1
            },
            Effect::ForgetForRecipient(InvitationId(9)),
            Effect::Emit {
                notice: None,
                event: EventPlan::invitation(
                    "invitation.withdrawn",
                    InvitationRef::Existing(InvitationId(9)),
                    ADA,
                    BOB
                ),
            },
            Effect::Withdrawal {
                sender: ADA,
                recipient: BOB,
                cooldown_until: NOW.plus(21 * DAY)
            },
        ]
    );
}

#[test]
fn withdrawal_notice_policy_notify_tells_the_recipient() {
    let p = plan_act(
        ADA,
        Action::Withdraw,
        &policy(WithdrawalNotice::Notify),
        &act_facts(InvitationState::Pending),
        NOW,
    )
    .unwrap();
    assert!(has(
        &p.plan,
        |e| matches!(e, Effect::Emit { notice: Some(n), .. } if n.member == BOB && n.kind == NotificationKind::InvitationWithdrawn)
    ));
}

#[test]
fn ignoring_as_spam_bars_the_sender_files_a_report_and_keeps_the_recipients_notification() {
    let mut f = act_facts(InvitationState::Pending);
    f.review = Some(ReviewFacts::default());
    let p = plan_act(
        BOB,
        Action::Ignore(Some(IgnoreReason::Spam)),
        &policy(WithdrawalNotice::Silent),
        &f,
        NOW,
    )
    .unwrap();
    assert!(has(&p.plan, |e| *e
        == Effect::Bar {
            sender: ADA,
            recipient: BOB
        }));
    assert!(has(&p.plan, |e| *e
        == Effect::Report {
            invitation: InvitationId(9),
            reporter: BOB,
            reported: ADA
        }));
    assert!(!has(&p.plan, |e| matches!(
        e,
        Effect::ForgetForRecipient(_)
    )));
    assert_eq!(p.plan.event_kinds(), vec!["invitation.ignored"]);
}

#[test]
fn a_plain_ignore_neither_bars_nor_reports() {
    let mut f = act_facts(InvitationState::Pending);
    f.review = Some(ReviewFacts::default());
    let p = plan_act(
        BOB,
        Action::Ignore(None),
        &policy(WithdrawalNotice::Silent),
        &f,
        NOW,
    )
    .unwrap();
    assert!(!has(&p.plan, |e| matches!(
        e,
        Effect::Bar { .. } | Effect::Report { .. } | Effect::Restrict { .. }
    )));
}

/// Bob ignores, as someone he does not know, an invitation Ada sent at `sent`, after four of her
/// invitations were ignored so.
fn fifth_ignore_as_unknown(sent: Timestamp) -> ActPlan {
    let mut f = act_facts(InvitationState::Pending);
    f.invitation.created_at = sent;
    f.review = Some(ReviewFacts {
        standing: Standing {
            ignored_with_reason: 4,
            decided: 4,
            ..Default::default()
        },
        restrictions_before: 0,
    });
    plan_act(
        BOB,
        Action::Ignore(Some(IgnoreReason::DontKnow)),
        &policy(WithdrawalNotice::Silent),
        &f,
        NOW,
    )
    .unwrap()
}

#[test]
fn the_fifth_ignore_as_unknown_counts_itself_and_restricts_the_sender() {
    let p = fifth_ignore_as_unknown(NOW.minus(DAY));
    assert!(has(
        &p.plan,
        |e| matches!(e, Effect::Restrict { member, level: 1, reason: RestrictionReason::IgnoredAsUnknown, .. } if *member == ADA)
    ));
    assert_eq!(
        p.plan.event_kinds(),
        vec!["invitation.ignored", "member.restricted"]
    );
}

#[test]
fn an_ignore_of_an_invitation_older_than_the_window_does_not_count() {
    let p = fifth_ignore_as_unknown(NOW.minus(standing::WINDOW));
    assert!(!has(&p.plan, |e| matches!(e, Effect::Restrict { .. })));
}

fn withdrawing(id: i64, blocked: bool) -> Withdrawing {
    Withdrawing {
        invitation: ClosedInvitation {
            id: InvitationId(id),
            sender: ADA,
            recipient: BOB,
        },
        blocked,
        recipient_prefs: NotificationPrefs::default(),
    }
}

#[test]
fn a_bulk_withdrawal_is_an_ordinary_withdrawal_of_each_invitation() {
    let p = policy(WithdrawalNotice::Silent);
    let plan = plan_withdraw_all(&[withdrawing(4, false), withdrawing(5, false)], &p, NOW);
    let decided: Vec<_> = plan
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::Decide {
                invitation,
                state: InvitationState::Withdrawn,
                ..
            } => Some(invitation.0),
            _ => None,
        })
        .collect();
    assert_eq!(decided, vec![4, 5]);
    let cooldowns = plan
        .effects
        .iter()
        .filter(|e| {
            **e == Effect::Withdrawal {
                sender: ADA,
                recipient: BOB,
                cooldown_until: NOW.plus(21 * DAY),
            }
        })
        .count();
    assert_eq!(cooldowns, 2);
    assert!(plan
        .effects
        .contains(&Effect::ForgetForRecipient(InvitationId(5))));
}

#[test]
fn a_bulk_withdrawal_tells_recipients_as_the_policy_says_but_never_across_a_block() {
    let p = policy(WithdrawalNotice::Notify);
    let plan = plan_withdraw_all(&[withdrawing(4, false), withdrawing(5, true)], &p, NOW);
    let told: Vec<bool> = plan
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::Emit { notice, .. } => Some(notice.is_some()),
            _ => None,
        })
        .collect();
    assert_eq!(told, vec![true, false]);
}
