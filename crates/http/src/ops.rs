//! What operators and load balancers call: health, readiness, Prometheus metrics, the OpenAPI
//! document.

use crate::error::Problem;
use crate::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/openapi.json", get(openapi))
}

/// The process is up. Touches nothing else: it is also the no-op ceiling of the benchmarks.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "up")))]
pub async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// The store answers.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "ready"), (status = 503, description = "store unreachable", body = Problem)))]
pub async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    match s.app.ready().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ready"}))),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable"})),
            )
        }
    }
}

/// Prometheus metrics; with `RAPPORT_METRICS_TOKEN` set, only for a scraper that sends it as a
/// bearer token (compared in constant time).
async fn metrics(State(s): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    if let Some(wanted) = &s.app.config().metrics_token {
        use subtle::ConstantTimeEq;
        let sent = crate::extract::bearer(&headers).unwrap_or_default();
        if !bool::from(sent.as_bytes().ct_eq(wanted.as_bytes())) {
            return crate::error::ApiError::App(rapport_app::AppError::Unauthenticated)
                .into_response();
        }
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
        .into_response()
}

async fn openapi() -> impl IntoResponse {
    Json(crate::openapi::document())
}
