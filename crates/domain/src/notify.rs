//! Who is told what, and how: notification kinds, each member's channel preferences, and the
//! operator's withdrawal notice policy.
//!
//! The store asks these rules inside the transaction that changes state, so a notification exists
//! exactly when its cause does (a withdrawal removes the "invitation received" notification in the
//! same commit that withdraws the invitation).

const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotificationKind {
    InvitationReceived,
    InvitationAccepted,
    InvitationReminder,
    InvitationWithdrawn,
    RestrictionApplied,
    RestrictionLifted,
}

impl NotificationKind {
    pub const ALL: [NotificationKind; 6] = [
        Self::InvitationReceived,
        Self::InvitationAccepted,
        Self::InvitationReminder,
        Self::InvitationWithdrawn,
        Self::RestrictionApplied,
        Self::RestrictionLifted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvitationReceived => "invitation_received",
            Self::InvitationAccepted => "invitation_accepted",
            Self::InvitationReminder => "invitation_reminder",
            Self::InvitationWithdrawn => "invitation_withdrawn",
            Self::RestrictionApplied => "restriction_applied",
            Self::RestrictionLifted => "restriction_lifted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    fn index(self) -> usize {
        Self::ALL
            .iter()
            .position(|k| *k == self)
            .unwrap_or_default()
    }

    /// Kinds that point at an invitation the recipient can only see while it is still theirs to
    /// answer: they vanish (notification and unsent mail) when it is withdrawn, expires or is
    /// cancelled.
    pub fn about_pending_invitation(self) -> bool {
        matches!(self, Self::InvitationReceived | Self::InvitationReminder)
    }
}

/// How a kind reaches a member by email.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailCadence {
    Off,
    Immediate,
    Daily,
    Weekly,
}

impl EmailCadence {
    /// Every value, in the order the API documents them.
    pub const ALL: [EmailCadence; 4] = [Self::Off, Self::Immediate, Self::Daily, Self::Weekly];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Immediate => "immediate",
            Self::Daily => "daily",
            Self::Weekly => "weekly",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// How long after the first item a digest of this cadence goes out (zero: at once).
    pub fn delay_ms(self) -> i64 {
        match self {
            Self::Off | Self::Immediate => 0,
            Self::Daily => DAY_MS,
            Self::Weekly => 7 * DAY_MS,
        }
    }

    fn code(self) -> char {
        match self {
            Self::Off => 'o',
            Self::Immediate => 'i',
            Self::Daily => 'd',
            Self::Weekly => 'w',
        }
    }

    fn from_code(c: char) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.code() == c)
    }
}

/// One kind's channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Channels {
    pub in_app: bool,
    pub email: EmailCadence,
}

/// A member's preferences, one [`Channels`] per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotificationPrefs([Channels; 6]);

impl Default for NotificationPrefs {
    /// Everything in-app; mail at once for what a member acts on or must know, and reminders,
    /// which exist to be mailed.
    fn default() -> Self {
        let on = Channels {
            in_app: true,
            email: EmailCadence::Immediate,
        };
        NotificationPrefs([on; 6])
    }
}

impl NotificationPrefs {
    pub fn get(&self, kind: NotificationKind) -> Channels {
        self.0[kind.index()]
    }

    pub fn set(&mut self, kind: NotificationKind, channels: Channels) {
        self.0[kind.index()] = channels;
    }

    /// The compact form the store keeps: two characters per kind, in [`NotificationKind::ALL`]
    /// order (`1`/`0` for in-app, then `o`, `i`, `d` or `w`).
    pub fn encode(&self) -> String {
        self.0
            .iter()
            .flat_map(|c| [if c.in_app { '1' } else { '0' }, c.email.code()])
            .collect()
    }

    /// Reads [`Self::encode`]'s form; anything else (or nothing) reads as the defaults.
    pub fn decode(s: Option<&str>) -> NotificationPrefs {
        let mut prefs = NotificationPrefs::default();
        let Some(s) = s else { return prefs };
        let chars: Vec<char> = s.chars().collect();
        if chars.len() != 12 {
            return prefs;
        }
        for (i, pair) in chars.chunks(2).enumerate() {
            if let Some(email) = EmailCadence::from_code(pair[1]) {
                prefs.0[i] = Channels {
                    in_app: pair[0] == '1',
                    email,
                };
            }
        }
        prefs
    }
}

/// What a mail's one-click unsubscribe (RFC 8058) turns off: the mail of one kind, or a whole
/// digest (every kind mailed at that cadence). In-app notifications stay as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailList {
    Kind(NotificationKind),
    Digest(EmailCadence),
}

impl MailList {
    /// The list a mail of `kind` sent at `cadence` belongs to.
    pub fn of(kind: NotificationKind, cadence: EmailCadence) -> MailList {
        match cadence {
            EmailCadence::Daily | EmailCadence::Weekly => MailList::Digest(cadence),
            EmailCadence::Off | EmailCadence::Immediate => MailList::Kind(kind),
        }
    }

    /// As it appears in an unsubscribe link: the kind, or `digest_daily` / `digest_weekly`.
    pub fn as_str(self) -> &'static str {
        match self {
            MailList::Kind(k) => k.as_str(),
            MailList::Digest(EmailCadence::Weekly) => "digest_weekly",
            MailList::Digest(_) => "digest_daily",
        }
    }

    pub fn parse(s: &str) -> Option<MailList> {
        match s {
            "digest_daily" => Some(MailList::Digest(EmailCadence::Daily)),
            "digest_weekly" => Some(MailList::Digest(EmailCadence::Weekly)),
            other => NotificationKind::parse(other).map(MailList::Kind),
        }
    }
}

impl NotificationPrefs {
    /// These preferences with the mail of `list` turned off.
    pub fn unsubscribed(mut self, list: MailList) -> NotificationPrefs {
        for kind in NotificationKind::ALL {
            let channels = self.get(kind);
            let stops = match list {
                MailList::Kind(k) => k == kind,
                MailList::Digest(cadence) => channels.email == cadence,
            };
            if stops {
                self.set(
                    kind,
                    Channels {
                        email: EmailCadence::Off,
                        ..channels
                    },
                );
            }
        }
        self
    }
}

#[cfg(test)]
mod unsubscribe_tests {
    use super::*;

    #[test]
    fn unsubscribing_turns_off_that_mail_only() {
        let mut prefs = NotificationPrefs::default();
        let weekly = Channels {
            in_app: true,
            email: EmailCadence::Weekly,
        };
        prefs.set(NotificationKind::InvitationAccepted, weekly);
        prefs.set(NotificationKind::RestrictionLifted, weekly);
        let off = |k: NotificationKind, p: &NotificationPrefs| p.get(k).email == EmailCadence::Off;

        let one = prefs.unsubscribed(MailList::Kind(NotificationKind::InvitationReceived));
        assert!(off(NotificationKind::InvitationReceived, &one));
        assert!(one.get(NotificationKind::InvitationReceived).in_app);
        assert!(!off(NotificationKind::InvitationReminder, &one));

        let digest = prefs.unsubscribed(MailList::Digest(EmailCadence::Weekly));
        assert!(off(NotificationKind::InvitationAccepted, &digest));
        assert!(off(NotificationKind::RestrictionLifted, &digest));
        assert!(!off(NotificationKind::InvitationReceived, &digest));

        for list in [
            MailList::Kind(NotificationKind::InvitationReminder),
            MailList::Digest(EmailCadence::Daily),
            MailList::Digest(EmailCadence::Weekly),
        ] {
            assert_eq!(MailList::parse(list.as_str()), Some(list));
        }
        assert_eq!(MailList::parse("everything"), None);
    }
}

/// What the recipient learns when an invitation to them is withdrawn: the operator's choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WithdrawalNotice {
    /// No trace anywhere (the default).
    #[default]
    Silent,
    /// A notification, in-app and by email, per the recipient's preferences.
    Notify,
    /// A line in the recipient's next digest, and nothing else.
    Digest,
}

impl WithdrawalNotice {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "silent" => Some(Self::Silent),
            "notify" => Some(Self::Notify),
            "digest" => Some(Self::Digest),
            _ => None,
        }
    }

    /// How a withdrawal reaches a recipient with these preferences: `(in_app, email)`. Under
    /// `digest` the mail joins the digest they chose for received invitations, or the daily one
    /// when they take those at once or not at all.
    pub fn channels(self, prefs: &NotificationPrefs) -> Option<Channels> {
        match self {
            Self::Silent => None,
            Self::Notify => Some(prefs.get(NotificationKind::InvitationWithdrawn)),
            Self::Digest => {
                let email = match prefs.get(NotificationKind::InvitationReceived).email {
                    EmailCadence::Weekly => EmailCadence::Weekly,
                    _ => EmailCadence::Daily,
                };
                Some(Channels {
                    in_app: false,
                    email,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preferences_survive_their_stored_form() {
        let mut p = NotificationPrefs::default();
        p.set(
            NotificationKind::InvitationReminder,
            Channels {
                in_app: false,
                email: EmailCadence::Weekly,
            },
        );
        let back = NotificationPrefs::decode(Some(&p.encode()));
        assert_eq!(back, p);
        assert_eq!(
            NotificationPrefs::decode(Some("garbage")),
            NotificationPrefs::default()
        );
        assert_eq!(
            NotificationPrefs::decode(None),
            NotificationPrefs::default()
        );
    }

    #[test]
    fn silent_withdrawal_reaches_nobody_and_digest_never_in_app() {
        let p = NotificationPrefs::default();
        assert_eq!(WithdrawalNotice::Silent.channels(&p), None);
        let d = WithdrawalNotice::Digest.channels(&p).expect("digest line");
        assert!(!d.in_app);
        assert_eq!(d.email, EmailCadence::Daily);
        assert_eq!(
            WithdrawalNotice::Notify.channels(&p),
            Some(p.get(NotificationKind::InvitationWithdrawn))
        );
    }

    #[test]
    fn kinds_round_trip() {
        for k in NotificationKind::ALL {
            assert_eq!(NotificationKind::parse(k.as_str()), Some(k));
        }
        assert!(NotificationKind::InvitationReceived.about_pending_invitation());
        assert!(!NotificationKind::InvitationAccepted.about_pending_invitation());
    }
}
