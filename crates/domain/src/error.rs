//! The refusals a rule can give. Each maps to one HTTP status and one stable `code` word (API.md);
//! the mapping lives in the HTTP layer, the meaning lives here.

/// A refusal by a rule of the product. Never carries another member's private data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("{field}: {message}")]
    Validation {
        field: &'static str,
        message: String,
    },
    #[error("the note is longer than {max} characters")]
    NoteTooLong { max: usize },
    #[error("you cannot invite yourself")]
    SelfInvitation,
    #[error("not found")]
    NotFound,
    #[error("only the other party can do that")]
    WrongParty,
    #[error("you are already connected")]
    AlreadyConnected,
    #[error("an invitation between you is already pending")]
    InvitationPending,
    #[error("the invitation is no longer pending")]
    NotPending,
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("this member does not accept invitations from you")]
    InvitationsClosed,
    #[error("this member accepts invitations only from people who know their email address: add it as recipient_email")]
    EmailRequired,
    #[error("one of you has reached the maximum number of connections")]
    ConnectionLimit,
    #[error("you have reached your weekly invitation limit")]
    QuotaExceeded {
        retry_at: crate::Timestamp,
        retry_after: u64,
    },
    /// The sender is restricted; they may still invite someone whose email they supply.
    #[error("your invitations are restricted for now; you can still invite someone whose email address you know")]
    Restricted { until: crate::Timestamp },
    #[error("you have too many pending invitations; withdraw some before sending more")]
    OutstandingLimit,
    #[error("you withdrew an invitation to this member recently; you can invite them again later")]
    CooldownActive {
        retry_at: crate::Timestamp,
        retry_after: u64,
    },
}

impl RuleError {
    pub fn validation(field: &'static str, message: impl Into<String>) -> Self {
        RuleError::Validation {
            field,
            message: message.into(),
        }
    }
}
