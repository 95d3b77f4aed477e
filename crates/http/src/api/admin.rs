//! What administrators do: members' tier, role and suspension.

use crate::api::invitations::ListParams;
use crate::error::{ApiResult, Problem};
use crate::extract::{Admin, Caller, JsonBody, QueryParams};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, patch, post, put};
use axum::{Json, Router};
use rapport_app::views::{Me, Page, Report};
use rapport_app::webhooks::{Delivery, Webhook};
use rapport_app::{AdminUpdate, PageRequest};
use serde::Deserialize;
use utoipa::ToSchema;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/members/{id}", patch(update_member))
        .route(
            "/admin/members/{id}/restriction",
            put(restrict).delete(lift_restriction),
        )
        .route("/admin/reports", get(reports))
        .route("/admin/reports/{id}/resolve", post(resolve_report))
        .route("/admin/webhooks", post(create_webhook).get(webhooks))
        .route("/admin/webhooks/{id}", delete(delete_webhook))
        .route("/admin/webhooks/{id}/deliveries", get(deliveries))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    /// Where events are POSTed: any http:// or https:// URL.
    #[schema(example = "https://hooks.example.com/rapport")]
    pub url: String,
    /// The events wanted, e.g. `["invitation.sent", "invitation.accepted"]`.
    pub events: Vec<String>,
}

/// Register a webhook endpoint (administrators only). The answer holds the signing secret; it is
/// never shown again.
#[utoipa::path(post, path = "/api/v1/admin/webhooks", tag = "admin", security(("bearer" = [])),
    request_body = WebhookRequest,
    responses(
        (status = 201, body = Webhook),
        (status = 400, description = "malformed", body = Problem),
        (status = 401, description = "unauthenticated", body = Problem),
        (status = 403, description = "forbidden", body = Problem),
        (status = 422, description = "validation_failed: bad URL or unknown event", body = Problem),
    ))]
pub async fn create_webhook(
    State(s): State<AppState>,
    Caller(by): Caller,
    JsonBody(r): JsonBody<WebhookRequest>,
) -> ApiResult<(StatusCode, Json<Webhook>)> {
    let w = s.app.admin_create_webhook(&by, &r.url, &r.events).await?;
    Ok((StatusCode::CREATED, Json(w)))
}

/// Registered webhook endpoints (administrators only).
#[utoipa::path(get, path = "/api/v1/admin/webhooks", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, body = Page<Webhook>),
        (status = 401, description = "unauthenticated", body = Problem),
        (status = 403, description = "forbidden", body = Problem),
    ))]
pub async fn webhooks(
    State(s): State<AppState>,
    Caller(by): Caller,
) -> ApiResult<Json<Page<Webhook>>> {
    Ok(Json(Page {
        items: s.app.admin_webhooks(&by).await?,
        next_cursor: None,
        total: None,
    }))
}

/// Remove a webhook endpoint; its pending deliveries are dropped (administrators only).
#[utoipa::path(delete, path = "/api/v1/admin/webhooks/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "webhook id")),
    responses(
        (status = 204),
        (status = 401, description = "unauthenticated", body = Problem),
        (status = 403, description = "forbidden", body = Problem),
        (status = 404, description = "not_found", body = Problem),
    ))]
pub async fn delete_webhook(
    State(s): State<AppState>,
    Caller(by): Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.app.admin_delete_webhook(&by, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An endpoint's delivery log, newest first (administrators only).
#[utoipa::path(get, path = "/api/v1/admin/webhooks/{id}/deliveries", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "webhook id"), ListParams),
    responses(
        (status = 200, body = Page<Delivery>),
        (status = 400, description = "malformed: a query parameter of the wrong type", body = Problem),
        (status = 401, description = "unauthenticated", body = Problem),
        (status = 403, description = "forbidden", body = Problem),
        (status = 404, description = "not_found", body = Problem),
        (status = 422, description = "validation_failed: a cursor this list did not give out", body = Problem),
    ))]
pub async fn deliveries(
    State(s): State<AppState>,
    Caller(by): Caller,
    Path(id): Path<String>,
    QueryParams(p): QueryParams<ListParams>,
) -> ApiResult<Json<Page<Delivery>>> {
    let page = PageRequest {
        cursor: p.cursor,
        limit: p.limit,
    };
    Ok(Json(s.app.admin_deliveries(&by, &id, page).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestrictionRequest {
    /// When the restriction ends (RFC 3339).
    #[schema(example = "2027-02-01T00:00:00Z")]
    pub until: String,
    /// Why, for the moderators' log; the member is told that a moderator restricted them.
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    /// `dismiss`, `restrict` (the reported sender's next restriction level) or `suspend`.
    #[schema(example = "restrict")]
    pub action: String,
}

/// Restrict a member's invitations until a time (administrators only).
#[utoipa::path(put, path = "/api/v1/admin/members/{id}/restriction", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "member id")),
    request_body = RestrictionRequest,
    responses(
        (status = 204),
        (status = 400, description = "malformed", body = Problem),
        (status = 401, description = "unauthenticated", body = Problem),
        (status = 403, description = "forbidden", body = Problem),
        (status = 404, description = "not_found", body = Problem),
        (status = 422, description = "validation_failed", body = Problem),
    ))]
pub async fn restrict(
    State(s): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
    JsonBody(r): JsonBody<RestrictionRequest>,
) -> ApiResult<StatusCode> {
    if let Some(reason) = r.reason.as_deref() {
        tracing::info!(reason, "moderator's reason");
    }
    s.app.admin_restrict(admin, &id, &r.until).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lift a member's restriction (administrators only).
#[utoipa::path(delete, path = "/api/v1/admin/members/{id}/restriction", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "member id")),
    responses(
        (status = 204),
        (status = 401, description = "unauthenticated", body = Problem),
        (status = 403, description = "forbidden", body = Problem),
        (status = 404, description = "not_found: no restriction in force", body = Problem),
    ))]
pub async fn lift_restriction(
    State(s): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.app.admin_lift_restriction(admin, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Open spam reports, oldest first (administrators only).
#[utoipa::path(get, path = "/api/v1/admin/reports", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, body = Page<Report>),
        (status = 401, description = "unauthenticated", body = Problem),
        (status = 403, description = "forbidden", body = Problem),
    ))]
pub async fn reports(
    State(s): State<AppState>,
    Admin(admin): Admin,
) -> ApiResult<Json<Page<Report>>> {
    Ok(Json(s.app.admin_reports(admin).await?))
}

/// Resolve a spam report (administrators only).
#[utoipa::path(post, path = "/api/v1/admin/reports/{id}/resolve", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "report id")),
    request_body = ResolveRequest,
    responses(
        (status = 204),
        (status = 400, description = "malformed", body = Problem),
        (status = 401, description = "unauthenticated", body = Problem),
        (status = 403, description = "forbidden", body = Problem),
        (status = 404, description = "not_found: no such open report", body = Problem),
        (status = 422, description = "validation_failed", body = Problem),
    ))]
pub async fn resolve_report(
    State(s): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
    JsonBody(r): JsonBody<ResolveRequest>,
) -> ApiResult<StatusCode> {
    s.app.admin_resolve_report(admin, &id, &r.action).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberUpdate {
    /// `free` or `premium`.
    pub tier: Option<String>,
    /// `member` or `admin`.
    pub role: Option<String>,
    /// Suspended members cannot sign in; their pending invitations end.
    pub suspended: Option<bool>,
}

/// Change a member's tier, role or suspension (administrators only).
#[utoipa::path(patch, path = "/api/v1/admin/members/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "member id")),
    request_body = MemberUpdate,
    responses(
        (status = 200, body = Me),
        (status = 400, description = "malformed", body = Problem),
        (status = 401, description = "unauthenticated", body = Problem),
        (status = 403, description = "forbidden: not an administrator", body = Problem),
        (status = 404, description = "not_found", body = Problem),
        (status = 422, description = "validation_failed", body = Problem),
    ))]
pub async fn update_member(
    State(s): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
    JsonBody(r): JsonBody<MemberUpdate>,
) -> ApiResult<Json<Me>> {
    let update = AdminUpdate {
        tier: r.tier,
        role: r.role,
        suspended: r.suspended,
    };
    Ok(Json(s.app.admin_update_member(admin, &id, update).await?))
}
