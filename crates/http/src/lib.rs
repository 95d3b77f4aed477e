//! The HTTP face of Rapport: the JSON API under `/api/v1`, the OpenAPI document, health checks and
//! Prometheus metrics, with one error shape (problem+json) for every failure.
//!
//! [`router`] builds the whole service for an [`App`]; [`serve`] runs it until a shutdown future
//! completes, then stops accepting and finishes the requests in flight.

pub mod api;
pub mod error;
pub mod extract;
mod idempotency;
pub mod limits;
pub mod openapi;
mod ops;
pub mod web;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use rapport_app::App;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub app: App,
    pub metrics: PrometheusHandle,
    idempotency: Arc<idempotency::KeyLocks>,
    limits: Arc<limits::Limits>,
}

impl AppState {
    /// Whether members reach the server over https (`RAPPORT_BASE_URL`): then the session cookie
    /// is the `__Host-` one and browsers are told to stay on https.
    pub fn secure(&self) -> bool {
        self.app.config().base_url.starts_with("https://")
    }
}

/// The process-wide Prometheus recorder, installed on first use.
fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed");
            }
            handle
        })
        .clone()
}

/// The request body limit: 64 KiB is plenty for every endpoint.
pub const BODY_LIMIT: usize = 64 * 1024;

pub fn router(app: App) -> Router {
    let limits = limits::Limits::new(app.config().max_in_flight, app.config().request_timeout);
    let state = AppState {
        limits: Arc::new(limits),
        app,
        metrics: prometheus(),
        idempotency: Default::default(),
    };
    let api = api::router()
        .layer(middleware::from_fn_with_state(
            state.clone(),
            idempotency::layer,
        ))
        .fallback(|| async { error::ApiError::RouteNotFound })
        .method_not_allowed_fallback(|| async { error::ApiError::MethodNotAllowed });
    Router::new()
        .nest("/api/v1", api)
        .merge(ops::router())
        .merge(web::router(state.clone()))
        .fallback(not_found)
        .method_not_allowed_fallback(|| async { error::ApiError::MethodNotAllowed })
        .layer(middleware::from_fn(refusable_writes))
        .layer(middleware::from_fn_with_state(state.clone(), limits::admit))
        .layer(middleware::from_fn(record_metrics))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    let route = req
                        .extensions()
                        .get::<MatchedPath>()
                        .map_or("-", |p| p.as_str())
                        .to_owned();
                    tracing::info_span!("request", method = %req.method(), route)
                })
                .on_request(())
                .on_response(
                    |resp: &Response, latency: Duration, _span: &tracing::Span| {
                        tracing::debug!(
                            status = resp.status().as_u16(),
                            latency_us = latency.as_micros() as u64,
                            "answered"
                        );
                    },
                ),
        )
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("a handler panicked");
            axum::response::IntoResponse::into_response(error::ApiError::App(
                rapport_app::AppError::Internal("panic".into()),
            ))
        }))
        .with_state(state)
}

/// A member's request may be refused with `503 overloaded` when the embedded store's writer is
/// further behind than `RAPPORT_WRITE_QUEUE_BUDGET`; background work never is.
async fn refusable_writes(req: Request, next: Next) -> Response {
    rapport_app::refusable_writes(next.run(req)).await
}

/// An address no route answers: problem+json under `/api/`, where clients read JSON, and a page
/// with the site's layout everywhere else, where a person followed a stale link.
async fn not_found(uri: axum::http::Uri) -> Response {
    use axum::response::IntoResponse;
    if uri.path().starts_with("/api/") {
        error::ApiError::RouteNotFound.into_response()
    } else {
        web::WebError::from(error::ApiError::RouteNotFound).into_response()
    }
}

async fn record_metrics(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    // A fixed set of label values: a client inventing methods cannot grow the metrics.
    let method = match *req.method() {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::counter!("rapport_http_requests_total", "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("rapport_http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    resp
}

/// Serves `app` on `listener` until `shutdown` completes, then drains the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let header_timeout = app.config().header_timeout;
    limits::serve(listener, router(app), header_timeout, shutdown).await
}
