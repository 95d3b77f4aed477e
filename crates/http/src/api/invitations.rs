//! Invitations: send, read, accept, ignore, withdraw, and the Received and Sent lists.

use crate::error::{ApiResult, Problem};
use crate::extract::{Auth, JsonBody, OptionalJsonBody, QueryParams};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rapport_app::views::{Connection, Count, Invitation, Page, Sent};
use rapport_app::{PageRequest, SendInput};
use rapport_domain::IgnoreReason;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/invitations", post(send))
        .route("/invitations/received", get(received))
        .route("/invitations/sent", get(sent))
        .route("/invitations/sent/withdraw", post(bulk_withdraw))
        .route("/invitations/{id}", get(show))
        .route("/invitations/{id}/accept", post(accept))
        .route("/invitations/{id}/ignore", post(ignore))
        .route("/invitations/{id}/withdraw", post(withdraw))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    pub recipient_id: String,
    /// Plain text, at most 300 characters by default; line breaks allowed.
    pub note: Option<String>,
    /// The recipient's email, for members who accept invitations only from people who know it.
    pub recipient_email: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IgnoreReasonBody {
    DontKnow,
    Spam,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IgnoreRequest {
    /// `dont_know`: "I don't know this person"; `spam`: also reports the sender.
    pub reason: Option<IgnoreReasonBody>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkWithdrawRequest {
    /// A duration such as `21d`: every pending invitation sent longer ago than this.
    #[schema(example = "21d")]
    pub older_than: String,
    /// Only count, withdraw nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// Query parameters (not path parameters, which `IntoParams` assumes without `parameter_in`).
/// Leaving one out is the way to not give it: none of them is `null`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// How many items a page holds: 1 to 100, 20 by default (0 reads as 1, more than 100 as 100).
    #[param(nullable = false, format = Int64, minimum = 0, maximum = 4294967295_u64)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[param(nullable = false)]
    pub cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SentParams {
    /// Only invitations sent longer ago than this duration, e.g. `21d`.
    #[param(nullable = false)]
    pub older_than: Option<String>,
    /// How many items a page holds: 1 to 100, 20 by default (0 reads as 1, more than 100 as 100).
    #[param(nullable = false, format = Int64, minimum = 0, maximum = 4294967295_u64)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[param(nullable = false)]
    pub cursor: Option<String>,
}

/// Invite a member. When they had already invited you, you are connected at once (`200 Connection`).
#[utoipa::path(post, path = "/api/v1/invitations", tag = "invitations", security(("bearer" = [])),
    request_body = SendRequest,
    responses(
        (status = 201, description = "invitation sent", body = Invitation),
        (status = 200, description = "they had invited you: now connected", body = Connection),
        (status = 400, description = "malformed", body = Problem),
        (status = 401, description = "unauthenticated", body = Problem),
        (status = 404, description = "not_found: unknown or hidden member", body = Problem),
        (status = 409, description = "already_connected, invitation_pending", body = Problem),
        (status = 403, description = "invitations_closed, email_required, connection_limit", body = Problem),
        (status = 422, description = "validation_failed, note_too_long, self_invitation", body = Problem),
        (status = 429, description = "quota_exceeded, outstanding_limit, cooldown_active (with Retry-After and retry_at)", body = Problem),
    ))]
pub async fn send(
    State(s): State<AppState>,
    Auth(me): Auth,
    JsonBody(r): JsonBody<SendRequest>,
) -> ApiResult<Response> {
    let input = SendInput {
        recipient_id: r.recipient_id,
        note: r.note,
        recipient_email: r.recipient_email,
    };
    Ok(match s.app.send_invitation(me, input).await? {
        Sent::Invitation(inv) => (StatusCode::CREATED, Json(*inv)).into_response(),
        Sent::Connected(c) => (StatusCode::OK, Json(c)).into_response(),
    })
}

/// Pending invitations you received, newest first.
#[utoipa::path(get, path = "/api/v1/invitations/received", tag = "invitations", security(("bearer" = [])),
    params(ListParams),
    responses(
        (status = 200, body = Page<Invitation>),
        (status = 400, description = "malformed", body = Problem),
        (status = 401, description = "unauthenticated", body = Problem),
        (status = 422, description = "validation_failed: bad cursor", body = Problem),
    ))]
pub async fn received(
    State(s): State<AppState>,
    Auth(me): Auth,
    QueryParams(p): QueryParams<ListParams>,
) -> ApiResult<Json<Page<Invitation>>> {
    Ok(Json(
        s.app
            .received(
                me,
                PageRequest {
                    cursor: p.cursor,
                    limit: p.limit,
                },
            )
            .await?,
    ))
}

/// Pending invitations you sent, newest first; `older_than` keeps the old ones.
#[utoipa::path(get, path = "/api/v1/invitations/sent", tag = "invitations", security(("bearer" = [])),
    params(SentParams),
    responses(
        (status = 200, body = Page<Invitation>),
        (status = 400, description = "malformed", body = Problem),
        (status = 401, description = "unauthenticated", body = Problem),
        (status = 422, description = "validation_failed: bad duration or cursor", body = Problem),
    ))]
pub async fn sent(
    State(s): State<AppState>,
    Auth(me): Auth,
    QueryParams(p): QueryParams<SentParams>,
) -> ApiResult<Json<Page<Invitation>>> {
    let page = PageRequest {
        cursor: p.cursor,
        limit: p.limit,
    };
    Ok(Json(s.app.sent(me, p.older_than.as_deref(), page).await?))
}

/// Withdraw every pending invitation older than a duration; with `dry_run`, only count them.
#[utoipa::path(post, path = "/api/v1/invitations/sent/withdraw", tag = "invitations", security(("bearer" = [])),
    request_body = BulkWithdrawRequest,
    responses(
        (status = 200, body = Count),
        (status = 400, description = "malformed", body = Problem),
        (status = 401, description = "unauthenticated", body = Problem),
        (status = 422, description = "validation_failed: bad duration", body = Problem),
    ))]
pub async fn bulk_withdraw(
    State(s): State<AppState>,
    Auth(me): Auth,
    JsonBody(r): JsonBody<BulkWithdrawRequest>,
) -> ApiResult<Json<Count>> {
    Ok(Json(
        s.app.bulk_withdraw(me, &r.older_than, r.dry_run).await?,
    ))
}

/// One invitation, as you are allowed to see it.
#[utoipa::path(get, path = "/api/v1/invitations/{id}", tag = "invitations", security(("bearer" = [])),
    params(("id" = String, Path, description = "invitation id")),
    responses(
        (status = 200, body = Invitation),
        (status = 401, description = "unauthenticated", body = Problem),
        (status = 404, description = "not_found", body = Problem),
    ))]
pub async fn show(
    State(s): State<AppState>,
    Auth(me): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Invitation>> {
    Ok(Json(s.app.invitation(me, &id).await?))
}

/// Accept an invitation you received: you are connected.
#[utoipa::path(post, path = "/api/v1/invitations/{id}/accept", tag = "invitations", security(("bearer" = [])),
    params(("id" = String, Path, description = "invitation id")),
    responses(
        (status = 200, body = Connection),
        (status = 401, description = "unauthenticated", body = Problem),
        (status = 403, description = "wrong_party, connection_limit", body = Problem),
        (status = 404, description = "not_found", body = Problem),
        (status = 409, description = "not_pending", body = Problem),
    ))]
pub async fn accept(
    State(s): State<AppState>,
    Auth(me): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Connection>> {
    Ok(Json(s.app.accept(me, &id).await?))
}

/// Ignore an invitation you received. The sender is never told.
#[utoipa::path(post, path = "/api/v1/invitations/{id}/ignore", tag = "invitations", security(("bearer" = [])),
    params(("id" = String, Path, description = "invitation id")),
    request_body(content = Option<IgnoreRequest>, description = "optional"),
    responses(
        (status = 204),
        (status = 400, description = "malformed", body = Problem),
        (status = 401, description = "unauthenticated", body = Problem),
        (status = 403, description = "wrong_party", body = Problem),
        (status = 404, description = "not_found", body = Problem),
        (status = 409, description = "not_pending", body = Problem),
    ))]
pub async fn ignore(
    State(s): State<AppState>,
    Auth(me): Auth,
    Path(id): Path<String>,
    OptionalJsonBody(r): OptionalJsonBody<IgnoreRequest>,
) -> ApiResult<StatusCode> {
    let reason = r.reason.map(|r| match r {
        IgnoreReasonBody::DontKnow => IgnoreReason::DontKnow,
        IgnoreReasonBody::Spam => IgnoreReason::Spam,
    });
    s.app.ignore(me, &id, reason).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Withdraw an invitation you sent (pending only; irreversible; they are not told).
#[utoipa::path(post, path = "/api/v1/invitations/{id}/withdraw", tag = "invitations", security(("bearer" = [])),
    params(("id" = String, Path, description = "invitation id")),
    responses(
        (status = 204),
        (status = 401, description = "unauthenticated", body = Problem),
        (status = 403, description = "wrong_party", body = Problem),
        (status = 404, description = "not_found", body = Problem),
        (status = 409, description = "not_pending", body = Problem),
    ))]
pub async fn withdraw(
    State(s): State<AppState>,
    Auth(me): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.app.withdraw(me, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
