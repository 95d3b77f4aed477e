//! What a community's own applications use: service keys (administrators manage them), members
//! provisioned and read by the community's ids, and the relationship of any two members.

use crate::error::{ApiResult, Problem};
use crate::extract::{Admin, Caller, JsonBody, QueryParams};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use rapport_app::keys::{NewServiceKey, ServiceKey};
use rapport_app::views::Page;
use rapport_app::{PairRelationship, ProvisionInput, ProvisionedMember};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/keys", post(create_key).get(keys))
        .route("/admin/keys/{id}", delete(revoke_key))
        .route(
            "/admin/members/by-external-id/{external_id}",
            get(external_member).put(provision),
        )
        .route("/admin/relationship", get(relationship))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyRequest {
    /// What the key is for, e.g. the application that holds it (1 to 100 characters).
    #[schema(example = "alumni site")]
    pub name: String,
    /// Any of `members:read`, `members:write`, `invitations:act`, `network:read`,
    /// `webhooks:manage`.
    #[schema(example = json!(["network:read", "invitations:act"]))]
    pub scopes: Vec<String>,
}

/// Create a service key (administrators only). The answer holds its secret; it is never shown
/// again.
#[utoipa::path(post, path = "/api/v1/admin/keys", tag = "admin", security(("bearer" = [])),
    request_body = KeyRequest,
    responses(
        (status = 201, body = NewServiceKey),
        (status = 400, description = "malformed", body = Problem),
        (status = 401, description = "unauthenticated", body = Problem),
        (status = 403, description = "forbidden: not an administrator (no key creates keys)", body = Problem),
        (status = 422, description = "validation_failed: no name, or a scope that is not one", body = Problem),
    ))]
pub async fn create_key(
    State(s): State<AppState>,
    Admin(admin): Admin,
    JsonBody(r): JsonBody<KeyRequest>,
) -> ApiResult<(StatusCode, Json<NewServiceKey>)> {
    let k = s
        .app
        .admin_create_key(Some(admin), &r.name, &r.scopes)
        .await?;
    Ok((StatusCode::CREATED, Json(k)))
}

/// Service keys, oldest first, without their secrets (administrators only).
#[utoipa::path(get, path = "/api/v1/admin/keys", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, body = Page<ServiceKey>),
        (status = 401, description = "unauthenticated", body = Problem),
        (status = 403, description = "forbidden", body = Problem),
    ))]
pub async fn keys(
    State(s): State<AppState>,
    Admin(admin): Admin,
) -> ApiResult<Json<Page<ServiceKey>>> {
    Ok(Json(Page {
        items: s.app.admin_keys(Some(admin)).await?,
        next_cursor: None,
        total: None,
    }))
}

/// Revoke a service key: the next request made with it is refused, on every replica
/// (administrators only).
#[utoipa::path(delete, path = "/api/v1/admin/keys/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "key id")),
    responses(
        (status = 204),
        (status = 401, description = "unauthenticated", body = Problem),
        (status = 403, description = "forbidden", body = Problem),
        (status = 404, description = "not_found", body = Problem),
    ))]
pub async fn revoke_key(
    State(s): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.app.admin_revoke_key(Some(admin), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProvisionRequest {
    #[schema(example = "ada@example.com")]
    pub email: String,
    #[schema(example = "Ada Lovelace")]
    pub name: String,
    pub headline: Option<String>,
    pub company: Option<String>,
    pub location: Option<String>,
    /// `active` or `deactivated` (as the member's own deactivation); left out, unchanged.
    #[schema(example = "active")]
    pub status: Option<String>,
}

/// Create or update the member with this community id (an administrator, or a key with
/// `members:write`). A member made so has no password: they sign in through the community's
/// provider. A member who signed up by themselves with this address is linked to the id.
#[utoipa::path(put, path = "/api/v1/admin/members/by-external-id/{external_id}", tag = "admin", security(("bearer" = [])),
    params(("external_id" = String, Path, description = "the community's id of the member")),
    request_body = ProvisionRequest,
    responses(
        (status = 200, description = "updated or unchanged", body = ProvisionedMember),
        (status = 201, description = "created", body = ProvisionedMember),
        (status = 400, description = "malformed", body = Problem),
        (status = 401, description = "unauthenticated", body = Problem),
        (status = 403, description = "forbidden, or insufficient_scope", body = Problem),
        (status = 409, description = "email_taken: another member has the address", body = Problem),
        (status = 422, description = "validation_failed", body = Problem),
    ))]
pub async fn provision(
    State(s): State<AppState>,
    Caller(by): Caller,
    Path(external_id): Path<String>,
    JsonBody(r): JsonBody<ProvisionRequest>,
) -> ApiResult<(StatusCode, Json<ProvisionedMember>)> {
    let input = ProvisionInput {
        email: r.email,
        name: r.name,
        headline: r.headline,
        company: r.company,
        location: r.location,
        status: r.status,
    };
    let p = s.app.provision_member(&by, &external_id, input).await?;
    let status = if p.outcome == "created" {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(p.member)))
}

/// The member with this community id (an administrator, or a key with `members:read`).
#[utoipa::path(get, path = "/api/v1/admin/members/by-external-id/{external_id}", tag = "admin", security(("bearer" = [])),
    params(("external_id" = String, Path, description = "the community's id of the member")),
    responses(
        (status = 200, body = ProvisionedMember),
        (status = 401, description = "unauthenticated", body = Problem),
        (status = 403, description = "forbidden, or insufficient_scope", body = Problem),
        (status = 404, description = "not_found", body = Problem),
    ))]
pub async fn external_member(
    State(s): State<AppState>,
    Caller(by): Caller,
    Path(external_id): Path<String>,
) -> ApiResult<Json<ProvisionedMember>> {
    Ok(Json(s.app.external_member_view(&by, &external_id).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RelationshipParams {
    /// Whose view: a member id, or `ext:` and the community's id.
    #[param(example = "ext:u-1001")]
    pub from: String,
    /// Of whom: a member id, or `ext:` and the community's id.
    #[param(example = "ext:u-1002")]
    pub to: String,
}

/// How one member stands to another, as `from` would see it on `to`'s profile: what a host site
/// needs to draw "2nd · 14 mutual" and the right button (an administrator, or a key with
/// `network:read`). Members `from` may not see are `not_found`.
#[utoipa::path(get, path = "/api/v1/admin/relationship", tag = "admin", security(("bearer" = [])),
    params(RelationshipParams),
    responses(
        (status = 200, body = PairRelationship),
        (status = 400, description = "malformed: from or to missing", body = Problem),
        (status = 401, description = "unauthenticated", body = Problem),
        (status = 403, description = "forbidden, or insufficient_scope", body = Problem),
        (status = 404, description = "not_found", body = Problem),
    ))]
pub async fn relationship(
    State(s): State<AppState>,
    Caller(by): Caller,
    QueryParams(p): QueryParams<RelationshipParams>,
) -> ApiResult<Json<PairRelationship>> {
    Ok(Json(s.app.relationship_between(&by, &p.from, &p.to).await?))
}
