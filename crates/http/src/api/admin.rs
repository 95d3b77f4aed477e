//! What administrators do: members' tier, role and suspension.

use crate::error::{ApiResult, Problem};
use crate::extract::{Auth, JsonBody};
use crate::AppState;
use axum::extract::{Path, State};
use axum::routing::patch;
use axum::{Json, Router};
use rapport_app::views::Me;
use rapport_app::AdminUpdate;
use serde::Deserialize;
use utoipa::ToSchema;

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/members/{id}", patch(update_member))
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
    Auth(admin): Auth,
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
