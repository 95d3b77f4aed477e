//! Notifications and the live stream of what concerns the signed-in member.

use crate::api::invitations::ListParams;
use crate::error::{ApiResult, Problem};
use crate::extract::{Auth, OptionalJsonBody, QueryParams};
use crate::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::stream::{self, Stream};
use rapport_app::views::NotificationPage;
use rapport_app::PageRequest;
use serde::Deserialize;
use std::convert::Infallible;
use std::time::Duration;
use utoipa::ToSchema;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/notifications", get(list))
        .route("/notifications/read", post(mark_read))
        .route("/events", get(events))
}

/// How often an idle stream sends a comment, so proxies keep it open and a dead client is noticed.
const HEARTBEAT: Duration = Duration::from_secs(15);

/// Your notifications, newest first, with how many are unread.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications", security(("bearer" = [])),
    params(ListParams),
    responses(
        (status = 200, body = NotificationPage),
        (status = 400, description = "malformed: a query parameter of the wrong type", body = Problem),
        (status = 401, description = "unauthenticated", body = Problem),
        (status = 422, description = "validation_failed: a cursor this list did not give out", body = Problem),
    ))]
pub async fn list(
    State(s): State<AppState>,
    Auth(id): Auth,
    QueryParams(p): QueryParams<ListParams>,
) -> ApiResult<Json<NotificationPage>> {
    let page = PageRequest {
        cursor: p.cursor,
        limit: p.limit,
    };
    Ok(Json(s.app.notifications(id, page).await?))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadRequest {
    /// The notifications to mark read; leave out to mark them all.
    pub ids: Option<Vec<String>>,
}

/// Mark notifications read: some, or all.
#[utoipa::path(post, path = "/api/v1/notifications/read", tag = "notifications", security(("bearer" = [])),
    request_body(content = Option<ReadRequest>, description = "optional"),
    responses(
        (status = 204),
        (status = 400, description = "malformed", body = Problem),
        (status = 401, description = "unauthenticated", body = Problem),
        (status = 422, description = "validation_failed", body = Problem),
    ))]
pub async fn mark_read(
    State(s): State<AppState>,
    Auth(id): Auth,
    OptionalJsonBody(r): OptionalJsonBody<ReadRequest>,
) -> ApiResult<StatusCode> {
    s.app.mark_read(id, r.ids).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Live updates as Server-Sent Events: `invitation.received`, `invitation.removed`,
/// `invitation.accepted` and `notification.created`. Event ids are integers, strictly increasing
/// on every stream: reconnect with `Last-Event-ID` to be sent exactly what followed that event.
/// A replayed event says what happened as it happened: `invitation.received` carries the
/// invitation as it arrived (`pending`), whatever became of it since.
///
/// Each event's `data` is one line of JSON: `invitation.received` `{"invitation": Invitation}`;
/// `invitation.removed` `{"invitation_id": string, "unread": integer}` (withdrawn, expired or
/// cancelled: it does not say which); `invitation.accepted` `{"invitation_id": string,
/// "connection": Connection}`; `notification.created` `{"notification": Notification,
/// "unread": integer}`. A comment line every 15 s keeps the connection open.
#[utoipa::path(get, path = "/api/v1/events", tag = "notifications", security(("bearer" = [])),
    responses(
        (status = 200, description = "Server-Sent Events, one per change, and a comment line as a heartbeat", content_type = "text/event-stream", body = String),
        (status = 401, description = "unauthenticated", body = Problem),
        (status = 429, description = "rate_limited: too many open streams", body = Problem),
    ))]
pub async fn events(
    State(s): State<AppState>,
    Auth(id): Auth,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|v| *v >= 0);
    let mut sub = s.app.subscribe(id, last).await?;
    let backlog = std::mem::take(&mut sub.backlog);
    let to_event = |e: rapport_app::LiveEvent| {
        Event::default()
            .id(e.id.to_string())
            .event(e.event)
            .data(e.data.to_string())
    };
    let replay = stream::iter(backlog.into_iter().map(move |e| Ok(to_event(e))));
    let live = stream::unfold(sub, move |mut sub| async move {
        let e = sub.next().await?;
        Some((Ok(to_event(e)), sub))
    });
    Ok(Sse::new(futures_util::StreamExt::chain(replay, live))
        .keep_alive(KeepAlive::new().interval(HEARTBEAT)))
}
