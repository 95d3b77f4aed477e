//! Accounts: signup, login, logout and the signed-in member's own profile.

use crate::error::{ApiResult, Problem};
use crate::extract::{bearer, session_cookie, Auth, ClientAddr, JsonBody};
use crate::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use rapport_app::views::{Export, Me, Stats};
use rapport_app::{ProfileInput, SignedUp, SignupInput};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/signup", post(signup))
        .route("/auth/signup/confirm", post(confirm_signup))
        .route("/auth/login", post(login))
        .route("/auth/logout", post(logout))
        .route("/me", get(me).patch(update_me).delete(close))
        .route("/me/deactivate", post(deactivate))
        .route("/me/password", post(change_password))
        .route("/me/stats", get(stats))
        .route("/me/export", get(export))
        .route("/me/settings", patch(update_settings))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    #[schema(example = "ada@example.com", format = Email)]
    pub email: String,
    /// 10 to 256 characters.
    #[schema(min_length = 10, max_length = 256)]
    pub password: String,
    pub name: String,
    pub headline: Option<String>,
    pub company: Option<String>,
    pub location: Option<String>,
}

/// The token of a mailed sign-up link (its `token` query parameter).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmSignupRequest {
    pub token: String,
}

/// A sign-up waiting for its address to be confirmed.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckMail {
    /// What the person signing up should do next.
    #[schema(example = "Check your mail: a link there finishes signing up (within 24 hours).")]
    pub detail: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuthResponse {
    pub member: Me,
    /// Send it as `Authorization: Bearer <token>`.
    pub token: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileUpdate {
    pub name: Option<String>,
    pub headline: Option<String>,
    pub company: Option<String>,
    pub location: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsUpdate {
    /// Who may invite you: `everyone`, `second_degree` (people who share a connection with you),
    /// `email_required` (people who know your email address) or `nobody`.
    #[schema(example = "second_degree")]
    pub invitations_from: Option<String>,
    /// Per notification kind (`invitation_received`, `invitation_accepted`,
    /// `invitation_reminder`, `invitation_withdrawn`, `restriction_applied`,
    /// `restriction_lifted`): what to change of its channels.
    pub notifications: Option<std::collections::BTreeMap<String, ChannelsUpdate>>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelsUpdate {
    pub in_app: Option<bool>,
    /// `off`, `immediate`, `daily` or `weekly`.
    #[schema(example = "daily")]
    pub email: Option<String>,
}

/// Create an account and sign in; or, with `RAPPORT_SIGNUP_CONFIRMATION=email`, mail the address a
/// link that does (`202`, the same answer whether the address is new or taken).
#[utoipa::path(post, path = "/api/v1/auth/signup", tag = "accounts", request_body = SignupRequest,
    responses(
        (status = 201, body = AuthResponse, links(
            ("profile" = (operation_id = "member", parameters(("id" = "$response.body#/member/id")),
                description = "The new member's profile")),
            ("invite" = (operation_id = "send", request_body = json!({"recipient_id": "$response.body#/member/id"}),
                description = "Invite the new member")),
        )),
        (status = 202, description = "a link to finish signing up was mailed (with confirmation by email)", body = CheckMail),
        (status = 400, description = "malformed", body = Problem),
        (status = 409, description = "email_taken (without confirmation by email)", body = Problem),
        (status = 422, description = "validation_failed", body = Problem),
        (status = 429, description = "rate_limited", body = Problem),
        (status = 503, description = "unavailable: the mail server did not take the link", body = Problem),
    ))]
pub async fn signup(
    State(s): State<AppState>,
    ClientAddr(client): ClientAddr,
    JsonBody(r): JsonBody<SignupRequest>,
) -> ApiResult<Response> {
    let input = SignupInput {
        email: r.email,
        password: r.password,
        name: r.name,
        headline: r.headline,
        company: r.company,
        location: r.location,
    };
    Ok(match s.app.signup(input, client).await? {
        SignedUp::In { me, token } => (
            StatusCode::CREATED,
            Json(AuthResponse { member: *me, token }),
        )
            .into_response(),
        SignedUp::CheckMail => (
            StatusCode::ACCEPTED,
            Json(CheckMail {
                detail: CHECK_MAIL.into(),
            }),
        )
            .into_response(),
    })
}

/// What a sign-up waiting for its address tells the person signing up.
pub const CHECK_MAIL: &str = "Check your mail: a link there finishes signing up (within 24 hours).";

/// Finish a sign-up through the token of its mailed link: the account is created and signed in.
#[utoipa::path(post, path = "/api/v1/auth/signup/confirm", tag = "accounts", request_body = ConfirmSignupRequest,
    responses(
        (status = 201, body = AuthResponse),
        (status = 400, description = "malformed", body = Problem),
        (status = 404, description = "not_found: the link is unknown, used, or older than a day", body = Problem),
        (status = 409, description = "email_taken: the address has an account already", body = Problem),
        (status = 422, description = "validation_failed", body = Problem),
    ))]
pub async fn confirm_signup(
    State(s): State<AppState>,
    JsonBody(r): JsonBody<ConfirmSignupRequest>,
) -> ApiResult<(StatusCode, Json<AuthResponse>)> {
    let (member, token) = s.app.confirm_signup(&r.token).await?;
    Ok((StatusCode::CREATED, Json(AuthResponse { member, token })))
}

/// Sign in with email and password. A wrong password and an unknown email get the same answer.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "accounts", request_body = LoginRequest,
    responses(
        (status = 200, body = AuthResponse),
        (status = 400, description = "malformed", body = Problem),
        (status = 401, description = "invalid_credentials", body = Problem),
        (status = 429, description = "rate_limited", body = Problem),
    ))]
pub async fn login(
    State(s): State<AppState>,
    ClientAddr(client): ClientAddr,
    JsonBody(r): JsonBody<LoginRequest>,
) -> ApiResult<Json<AuthResponse>> {
    let (member, token) = s.app.login(&r.email, &r.password, client).await?;
    Ok(Json(AuthResponse { member, token }))
}

/// Sign out: the token (or the session cookie) the request carries stops working.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "accounts", security(("bearer" = [])),
    responses((status = 204), (status = 401, description = "unauthenticated", body = Problem)))]
pub async fn logout(
    State(s): State<AppState>,
    _auth: Auth,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    // The token the request signed in with: the bearer, or the web session's cookie (the Auth
    // extractor has checked that session's CSRF token), so a page's session ends here too.
    if let Some(token) = bearer(&headers).or_else(|| session_cookie(&headers, s.secure())) {
        s.app.logout(token).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in member.
#[utoipa::path(get, path = "/api/v1/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, description = "unauthenticated", body = Problem)))]
pub async fn me(State(s): State<AppState>, Auth(id): Auth) -> ApiResult<Json<Me>> {
    Ok(Json(s.app.me(id).await?))
}

/// Change one's profile.
#[utoipa::path(patch, path = "/api/v1/me", tag = "accounts", security(("bearer" = [])), request_body = ProfileUpdate,
    responses(
        (status = 200, body = Me),
        (status = 400, description = "malformed", body = Problem),
        (status = 401, description = "unauthenticated", body = Problem),
        (status = 422, description = "validation_failed", body = Problem),
    ))]
pub async fn update_me(
    State(s): State<AppState>,
    Auth(id): Auth,
    JsonBody(r): JsonBody<ProfileUpdate>,
) -> ApiResult<Json<Me>> {
    let input = ProfileInput {
        name: r.name,
        headline: r.headline,
        company: r.company,
        location: r.location,
    };
    Ok(Json(s.app.update_me(id, input).await?))
}

/// Change your settings: who may invite you, and how you are notified.
#[utoipa::path(patch, path = "/api/v1/me/settings", tag = "accounts", security(("bearer" = [])), request_body = SettingsUpdate,
    responses(
        (status = 200, body = Me),
        (status = 400, description = "malformed", body = Problem),
        (status = 401, description = "unauthenticated", body = Problem),
        (status = 422, description = "validation_failed", body = Problem),
    ))]
pub async fn update_settings(
    State(s): State<AppState>,
    Auth(id): Auth,
    JsonBody(r): JsonBody<SettingsUpdate>,
) -> ApiResult<Json<Me>> {
    let notifications = r.notifications.map(|n| {
        n.into_iter()
            .map(|(kind, c)| {
                (
                    kind,
                    rapport_app::notifications::ChannelsInput {
                        in_app: c.in_app,
                        email: c.email,
                    },
                )
            })
            .collect()
    });
    Ok(Json(
        s.app
            .update_settings(id, r.invitations_from.as_deref(), notifications.as_ref())
            .await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseRequest {
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    /// 10 to 256 characters.
    #[schema(min_length = 10, max_length = 256)]
    pub new_password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// The only token that works from now on: every other session was signed out.
    pub token: String,
}

/// Change your password. Every other session and token stops working; the answer carries the one
/// new token. An `Idempotency-Key` is ignored here, as on sign-up and sign-in: an answer that
/// carries a token is never kept, so a retry runs again (and, the password having changed, is
/// refused).
#[utoipa::path(post, path = "/api/v1/me/password", tag = "accounts", security(("bearer" = [])), request_body = PasswordChange,
    responses(
        (status = 200, body = TokenResponse),
        (status = 400, description = "malformed", body = Problem),
        (status = 401, description = "unauthenticated, invalid_credentials (the current password is wrong)", body = Problem),
        (status = 403, description = "forbidden: the member signs in through a provider and has no password", body = Problem),
        (status = 422, description = "validation_failed (new_password)", body = Problem),
        (status = 429, description = "rate_limited: too many wrong passwords (with Retry-After and retry_at)", body = Problem),
    ))]
pub async fn change_password(
    State(s): State<AppState>,
    Auth(id): Auth,
    ClientAddr(client): ClientAddr,
    JsonBody(r): JsonBody<PasswordChange>,
) -> ApiResult<Json<TokenResponse>> {
    let token = s
        .app
        .change_password(id, &r.current_password, &r.new_password, client)
        .await?;
    Ok(Json(TokenResponse { token }))
}

/// Deactivate your account: you are hidden and your pending invitations end; your connections wait
/// for you. Signing in again reactivates it.
#[utoipa::path(post, path = "/api/v1/me/deactivate", tag = "accounts", security(("bearer" = [])),
    responses((status = 204), (status = 401, description = "unauthenticated", body = Problem)))]
pub async fn deactivate(State(s): State<AppState>, Auth(id): Auth) -> ApiResult<StatusCode> {
    s.app.deactivate(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Close your account for good: invitations end, connections are removed, your data is erased.
#[utoipa::path(delete, path = "/api/v1/me", tag = "accounts", security(("bearer" = [])), request_body = CloseRequest,
    responses(
        (status = 204),
        (status = 400, description = "malformed", body = Problem),
        (status = 401, description = "unauthenticated, invalid_credentials", body = Problem),
        (status = 403, description = "forbidden: a member without a password must have signed in within ten minutes", body = Problem),
        (status = 429, description = "rate_limited: too many wrong passwords (with Retry-After and retry_at)", body = Problem),
    ))]
pub async fn close(
    State(s): State<AppState>,
    Auth(id): Auth,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    JsonBody(r): JsonBody<CloseRequest>,
) -> ApiResult<StatusCode> {
    let token = bearer(&headers).or_else(|| session_cookie(&headers, s.secure()));
    s.app.close(id, &r.password, token, client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Your invitation history: totals, acceptance rate and the last twelve weeks.
#[utoipa::path(get, path = "/api/v1/me/stats", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = Stats), (status = 401, description = "unauthenticated", body = Problem)))]
pub async fn stats(State(s): State<AppState>, Auth(id): Auth) -> ApiResult<Json<Stats>> {
    Ok(Json(s.app.stats(id).await?))
}

/// Download everything Rapport keeps about you, as a JSON file.
#[utoipa::path(get, path = "/api/v1/me/export", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = Export, description = "a JSON attachment"), (status = 401, description = "unauthenticated", body = Problem)))]
pub async fn export(
    State(s): State<AppState>,
    Auth(id): Auth,
) -> ApiResult<impl axum::response::IntoResponse> {
    let export = s.app.export(id).await?;
    Ok((
        [(
            axum::http::header::CONTENT_DISPOSITION,
            "attachment; filename=\"rapport-export.json\"",
        )],
        Json(export),
    ))
}
