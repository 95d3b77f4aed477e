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
}

impl RuleError {
    pub fn validation(field: &'static str, message: impl Into<String>) -> Self {
        RuleError::Validation {
            field,
            message: message.into(),
        }
    }
}
