//! The one error type of the HTTP layer. Every failure, from a malformed body to a rule's refusal,
//! leaves as `application/problem+json` (RFC 9457) with the stable `code` word of API.md.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rapport_app::AppError;
use rapport_domain::{RuleError, Timestamp};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug)]
pub enum ApiError {
    App(AppError),
    /// The body or query is not what this endpoint takes.
    Malformed(String),
    BodyTooLarge,
    Forbidden,
    IdempotencyKeyReused,
    RouteNotFound,
    MethodNotAllowed,
    /// A cookie-authenticated change without the session's CSRF token.
    Csrf,
    /// More requests at once than the server answers; try again at `retry_at`.
    Overloaded {
        retry_at: Timestamp,
    },
    /// The request, its body included, took longer than this.
    RequestTimeout(std::time::Duration),
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        ApiError::App(e)
    }
}

impl From<RuleError> for ApiError {
    fn from(e: RuleError) -> Self {
        ApiError::App(AppError::Rule(e))
    }
}

/// An error as clients receive it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    #[schema(example = "https://rapport.dev/problems/not_found")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The stable machine word: `malformed`, `not_found`, `not_pending`, ...
    #[schema(example = "not_found")]
    pub code: &'static str,
    /// For `429` and `503 overloaded`: when to try again (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<String>,
    /// For `403 restricted`: when the restriction ends (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

/// When a refused request may be tried again: `Retry-After` (seconds), and for refusals that end
/// at a known time, that time (`retry_at`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retry {
    pub at: Option<Timestamp>,
    pub after_secs: u64,
}

impl Retry {
    fn at(at: Timestamp, after_secs: u64) -> Option<Retry> {
        Some(Retry {
            at: Some(at),
            after_secs,
        })
    }

    fn after(after_secs: u64) -> Option<Retry> {
        Some(Retry {
            at: None,
            after_secs,
        })
    }
}

/// `Retry-After` while the database cannot be reached: a restart or a failover takes seconds.
const UNAVAILABLE_RETRY_SECS: u64 = 2;
/// `Retry-After` while the database is full: space comes back when an operator frees it.
const STORAGE_FULL_RETRY_SECS: u64 = 30;

impl ApiError {
    pub(crate) fn parts(&self) -> (StatusCode, &'static str, String, Option<Retry>) {
        use StatusCode as S;
        match self {
            ApiError::Csrf => (
                S::FORBIDDEN,
                "csrf",
                "this form is out of date or came from another site: reload the page and try again (API clients: send X-CSRF-Token with the session cookie, or use a bearer token)".into(),
                None,
            ),
            ApiError::Overloaded { retry_at }
            | ApiError::App(AppError::Overloaded { retry_at }) => (
                S::SERVICE_UNAVAILABLE,
                "overloaded",
                "the server is busy answering other requests; try again in a second".into(),
                Retry::at(*retry_at, 1),
            ),
            ApiError::App(AppError::WritesQueued(m)) => {
                tracing::debug!(error = %m, "write refused: the writer is behind");
                (
                    S::SERVICE_UNAVAILABLE,
                    "overloaded",
                    "the server is busy answering other requests; try again in a second".into(),
                    Retry::after(1),
                )
            }
            ApiError::App(AppError::Unavailable(m)) => {
                tracing::warn!(error = %m, "the database cannot be reached");
                (
                    S::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "Rapport is briefly unavailable; try again in a moment".into(),
                    Retry::after(UNAVAILABLE_RETRY_SECS),
                )
            }
            // The store has told the operator what to do, once rather than for every request.
            ApiError::App(AppError::StorageFull(m)) => {
                tracing::debug!(error = %m, "the database is full");
                (
                    S::SERVICE_UNAVAILABLE,
                    "storage_full",
                    "Rapport cannot save changes right now because its storage is full; reading works, and saving works again once space is freed: try again later".into(),
                    Retry::after(STORAGE_FULL_RETRY_SECS),
                )
            }
            ApiError::RequestTimeout(limit) => (
                S::REQUEST_TIMEOUT,
                "request_timeout",
                format!(
                    "the request took longer than {} s to arrive and be answered; send it again",
                    limit.as_secs()
                ),
                None,
            ),
            ApiError::Malformed(d) => (S::BAD_REQUEST, "malformed", d.clone(), None),
            ApiError::BodyTooLarge => (
                S::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "the request body is larger than 64 KiB".into(),
                None,
            ),
            ApiError::Forbidden | ApiError::App(AppError::Forbidden) => (
                S::FORBIDDEN,
                "forbidden",
                "you are not allowed to do that: it needs an administrator".into(),
                None,
            ),
            ApiError::App(AppError::InsufficientScope(scope)) => (
                S::FORBIDDEN,
                "insufficient_scope",
                format!("this key lacks the scope {scope}; create a key that has it"),
                None,
            ),
            ApiError::App(AppError::Refused(why)) => (S::FORBIDDEN, "forbidden", why.clone(), None),
            ApiError::IdempotencyKeyReused => (
                S::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this Idempotency-Key was used with a different request; use a new key".into(),
                None,
            ),
            ApiError::RouteNotFound => (
                S::NOT_FOUND,
                "not_found",
                "there is nothing at this address".into(),
                None,
            ),
            ApiError::MethodNotAllowed => (
                S::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this address does not take that method".into(),
                None,
            ),
            ApiError::App(AppError::Unauthenticated) => (
                S::UNAUTHORIZED,
                "unauthenticated",
                "sign in first: send Authorization: Bearer <token>".into(),
                None,
            ),
            ApiError::App(AppError::RateLimited {
                retry_at,
                retry_after,
            }) => (
                S::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many attempts; try again later".into(),
                Retry::at(*retry_at, *retry_after),
            ),
            ApiError::App(AppError::Internal(m)) => {
                tracing::error!(error = %m, "internal error");
                (
                    S::INTERNAL_SERVER_ERROR,
                    "internal",
                    "something went wrong on our side; try again".into(),
                    None,
                )
            }
            ApiError::App(AppError::Rule(r)) => {
                let mut retry = None;
                let (status, code) = match r {
                    RuleError::Validation { .. } => (S::UNPROCESSABLE_ENTITY, "validation_failed"),
                    RuleError::NoteTooLong { .. } => (S::UNPROCESSABLE_ENTITY, "note_too_long"),
                    RuleError::SelfInvitation => (S::UNPROCESSABLE_ENTITY, "self_invitation"),
                    RuleError::NotFound => (S::NOT_FOUND, "not_found"),
                    RuleError::WrongParty => (S::FORBIDDEN, "wrong_party"),
                    RuleError::AlreadyConnected => (S::CONFLICT, "already_connected"),
                    RuleError::InvitationPending => (S::CONFLICT, "invitation_pending"),
                    RuleError::NotPending => (S::CONFLICT, "not_pending"),
                    RuleError::EmailTaken => (S::CONFLICT, "email_taken"),
                    RuleError::InvalidCredentials => (S::UNAUTHORIZED, "invalid_credentials"),
                    RuleError::InvitationsClosed => (S::FORBIDDEN, "invitations_closed"),
                    RuleError::Restricted { .. } => (S::FORBIDDEN, "restricted"),
                    RuleError::EmailRequired => (S::FORBIDDEN, "email_required"),
                    RuleError::ConnectionLimit => (S::FORBIDDEN, "connection_limit"),
                    RuleError::OutstandingLimit => (S::TOO_MANY_REQUESTS, "outstanding_limit"),
                    RuleError::QuotaExceeded {
                        retry_at,
                        retry_after,
                    } => {
                        retry = Retry::at(*retry_at, *retry_after);
                        (S::TOO_MANY_REQUESTS, "quota_exceeded")
                    }
                    RuleError::CooldownActive {
                        retry_at,
                        retry_after,
                    } => {
                        retry = Retry::at(*retry_at, *retry_after);
                        (S::TOO_MANY_REQUESTS, "cooldown_active")
                    }
                };
                let mut detail = r.to_string();
                if let Some(Retry { at: Some(at), .. }) = retry {
                    detail = format!("{detail} (from {})", at.to_rfc3339());
                }
                (status, code, detail, retry)
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, detail, retry) = self.parts();
        let problem = Problem {
            kind: format!("https://rapport.dev/problems/{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            code,
            retry_at: retry.and_then(|r| r.at).map(|at| at.to_rfc3339()),
            until: match &self {
                ApiError::App(AppError::Rule(RuleError::Restricted { until })) => {
                    Some(until.to_rfc3339())
                }
                _ => None,
            },
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut resp = (status, body).into_response();
        let headers = resp.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(r) = retry {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(r.after_secs.max(1)));
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
