//! Rapport's pure rules: the values a request may carry, the invitation state machine, and for
//! every write the plan of what follows (`plan`), made from the facts a store read and carried
//! out by that store inside one transaction.
//!
//! Nothing here does I/O and nothing reads the clock: time is passed in, so every rule can be tested
//! (and model-checked) with time under the test's control.

pub mod clock;
pub mod error;
pub mod identity;
pub mod ids;
pub mod invitation;
pub mod member;
pub mod notify;
pub mod plan;
pub mod send;
pub mod standing;
pub mod token;
pub mod values;

pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use error::RuleError;
pub use ids::{InvitationId, MemberId};
pub use invitation::{Action, IgnoreReason, InvitationState, Party, SeenState};
pub use member::{AccountStatus, Role, Tier};
pub use notify::{
    Channels, EmailCadence, MailList, NotificationKind, NotificationPrefs, WithdrawalNotice,
};
pub use plan::{ActPolicy, Effect, Plan, SendInvitation, SendPolicy};
pub use send::{decide_send, InvitationsFrom, SendContext, SendDecision, SendLimits};
pub use standing::{RestrictionReason, Standing};
pub use token::{TokenCutoffs, TokenLifetime};
pub use values::{Email, Note, Password, ProfileField};
