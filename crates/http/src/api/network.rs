//! The network: member profiles with the viewer's relationship, and one's connections.

use crate::error::{ApiResult, Problem};
use crate::extract::{Auth, QueryParams};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, put};
use axum::{Json, Router};
use rapport_app::views::{Connection, Member, MemberSummary, Page};
use rapport_app::PageRequest;
use serde::Deserialize;
use utoipa::IntoParams;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/members", get(search))
        .route("/members/suggestions", get(suggestions))
        .route("/members/{id}", get(member))
        .route("/members/{id}/mutual-connections", get(mutual_connections))
        .route("/connections", get(connections))
        .route("/connections/{member_id}", delete(remove_connection))
        .route("/blocks", get(blocks))
        .route("/blocks/{member_id}", put(block).delete(unblock))
}

/// Query parameters (not path parameters, which `IntoParams` assumes without `parameter_in`).
/// Leaving one out is the way to not give it: none of them is `null`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Words to find in names, headlines and companies (each word matches as a prefix).
    #[param(nullable = false)]
    pub q: Option<String>,
    /// Only members of this degree: 1, 2 or 3.
    #[param(nullable = false)]
    pub degree: Option<String>,
    /// How many items a page holds: 1 to 100, 20 by default (0 reads as 1, more than 100 as 100).
    #[param(nullable = false, format = Int64, minimum = 0, maximum = 4294967295_u64)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[param(nullable = false)]
    pub cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// How many items a page holds: 1 to 100, 20 by default (0 reads as 1, more than 100 as 100).
    #[param(nullable = false, format = Int64, minimum = 0, maximum = 4294967295_u64)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[param(nullable = false)]
    pub cursor: Option<String>,
}

impl PageParams {
    fn page(self) -> PageRequest {
        PageRequest {
            cursor: self.cursor,
            limit: self.limit,
        }
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConnectionParams {
    /// Part of a connection's name.
    #[param(nullable = false)]
    pub q: Option<String>,
    /// How many items a page holds: 1 to 100, 20 by default (0 reads as 1, more than 100 as 100).
    #[param(nullable = false, format = Int64, minimum = 0, maximum = 4294967295_u64)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[param(nullable = false)]
    pub cursor: Option<String>,
}

/// A member, with how they relate to you (degree, mutual connections, pending invitation).
#[utoipa::path(get, path = "/api/v1/members/{id}", tag = "network", security(("bearer" = [])),
    params(("id" = String, Path, description = "member id")),
    responses(
        (status = 200, body = Member),
        (status = 401, description = "unauthenticated", body = Problem),
        (status = 404, description = "not_found: unknown or hidden", body = Problem),
    ))]
pub async fn member(
    State(s): State<AppState>,
    Auth(me): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Member>> {
    Ok(Json(s.app.member(me, &id).await?))
}

/// Search members by name, headline and company. Members whose name matches come first, then
/// by degree, then by mutual connections. Without `q`, `degree=1` or `degree=2` lists those
/// members, most mutual connections first.
#[utoipa::path(get, path = "/api/v1/members", tag = "network", security(("bearer" = [])),
    params(SearchParams),
    responses(
        (status = 200, body = Page<Member>),
        (status = 400, description = "malformed", body = Problem),
        (status = 401, description = "unauthenticated", body = Problem),
        (status = 422, description = "validation_failed: q or degree", body = Problem),
    ))]
pub async fn search(
    State(s): State<AppState>,
    Auth(me): Auth,
    QueryParams(p): QueryParams<SearchParams>,
) -> ApiResult<Json<Page<Member>>> {
    let page = PageRequest {
        cursor: p.cursor,
        limit: p.limit,
    };
    Ok(Json(
        s.app
            .search(me, p.q.as_deref(), p.degree.as_deref(), page)
            .await?,
    ))
}

/// People you may know: 2nd-degree members, most mutual connections first, without anyone you
/// have a pending invitation with or who was ignored with a reason.
#[utoipa::path(get, path = "/api/v1/members/suggestions", tag = "network", security(("bearer" = [])),
    params(PageParams),
    responses(
        (status = 200, body = Page<Member>),
        (status = 400, description = "malformed: a query parameter of the wrong type", body = Problem),
        (status = 401, description = "unauthenticated", body = Problem),
        (status = 422, description = "validation_failed: cursor", body = Problem),
    ))]
pub async fn suggestions(
    State(s): State<AppState>,
    Auth(me): Auth,
    QueryParams(p): QueryParams<PageParams>,
) -> ApiResult<Json<Page<Member>>> {
    Ok(Json(s.app.suggestions(me, p.page()).await?))
}

/// The connections you and a member share, with their `total`.
#[utoipa::path(get, path = "/api/v1/members/{id}/mutual-connections", tag = "network", security(("bearer" = [])),
    params(("id" = String, Path, description = "member id"), PageParams),
    responses(
        (status = 200, body = Page<MemberSummary>),
        (status = 400, description = "malformed: a query parameter of the wrong type", body = Problem),
        (status = 401, description = "unauthenticated", body = Problem),
        (status = 404, description = "not_found: unknown or hidden", body = Problem),
        (status = 422, description = "validation_failed: cursor", body = Problem),
    ))]
pub async fn mutual_connections(
    State(s): State<AppState>,
    Auth(me): Auth,
    Path(id): Path<String>,
    QueryParams(p): QueryParams<PageParams>,
) -> ApiResult<Json<Page<MemberSummary>>> {
    Ok(Json(s.app.mutual_connections(me, &id, p.page()).await?))
}

/// Your connections, newest first, with their `total`.
#[utoipa::path(get, path = "/api/v1/connections", tag = "network", security(("bearer" = [])),
    params(ConnectionParams),
    responses(
        (status = 200, body = Page<Connection>),
        (status = 400, description = "malformed", body = Problem),
        (status = 401, description = "unauthenticated", body = Problem),
        (status = 422, description = "validation_failed", body = Problem),
    ))]
pub async fn connections(
    State(s): State<AppState>,
    Auth(me): Auth,
    QueryParams(p): QueryParams<ConnectionParams>,
) -> ApiResult<Json<Page<Connection>>> {
    let page = PageRequest {
        cursor: p.cursor,
        limit: p.limit,
    };
    Ok(Json(s.app.connections(me, p.q.as_deref(), page).await?))
}

/// Remove a connection. The other member is not told.
#[utoipa::path(delete, path = "/api/v1/connections/{member_id}", tag = "network", security(("bearer" = [])),
    params(("member_id" = String, Path, description = "the connection's member id")),
    responses(
        (status = 204),
        (status = 401, description = "unauthenticated", body = Problem),
        (status = 404, description = "not_found: not a connection", body = Problem),
    ))]
pub async fn remove_connection(
    State(s): State<AppState>,
    Auth(me): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.app.remove_connection(me, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The members you blocked.
#[utoipa::path(get, path = "/api/v1/blocks", tag = "network", security(("bearer" = [])),
    responses((status = 200, body = Page<MemberSummary>), (status = 401, description = "unauthenticated", body = Problem)))]
pub async fn blocks(
    State(s): State<AppState>,
    Auth(me): Auth,
) -> ApiResult<Json<Page<MemberSummary>>> {
    Ok(Json(s.app.blocks(me).await?))
}

/// Block a member: pending invitations between you end, your connection is removed, and each of
/// you is not found to the other.
#[utoipa::path(put, path = "/api/v1/blocks/{member_id}", tag = "network", security(("bearer" = [])),
    params(("member_id" = String, Path, description = "member id")),
    responses(
        (status = 204),
        (status = 401, description = "unauthenticated", body = Problem),
        (status = 404, description = "not_found", body = Problem),
        (status = 422, description = "validation_failed: yourself", body = Problem),
    ))]
pub async fn block(
    State(s): State<AppState>,
    Auth(me): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.app.block(me, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lift a block. Nothing that the block ended comes back.
#[utoipa::path(delete, path = "/api/v1/blocks/{member_id}", tag = "network", security(("bearer" = [])),
    params(("member_id" = String, Path, description = "member id")),
    responses(
        (status = 204),
        (status = 401, description = "unauthenticated", body = Problem),
        (status = 404, description = "not_found: no such block", body = Problem),
    ))]
pub async fn unblock(
    State(s): State<AppState>,
    Auth(me): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.app.unblock(me, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
