//! What keeps the server standing under abuse and overload: at most `max_in_flight` requests are
//! answered at once (past that, `503 overloaded` with `Retry-After`, at once, instead of a queue
//! that grows memory and latency without bound); a request that takes longer than
//! `request_timeout`, its body included, is answered `408`; a connection that does not send its
//! headers within `header_timeout` is dropped (slowloris); at most [`MAX_SOCKETS`] connections are
//! open at once (more wait in the kernel's accept queue).
//!
//! Health checks and metrics are never shed, so that operators can see an overloaded server.
//! A live stream (SSE) holds its slot only until its first byte: streams are capped per member
//! by the live hub instead.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Open connections at most; the rest wait in the listen backlog.
pub const MAX_SOCKETS: usize = 10_000;

/// Admission of requests.
pub struct Limits {
    in_flight: Arc<Semaphore>,
    request_timeout: Duration,
}

impl Limits {
    pub fn new(max_in_flight: usize, request_timeout: Duration) -> Limits {
        Limits {
            in_flight: Arc::new(Semaphore::new(max_in_flight)),
            request_timeout,
        }
    }
}

fn never_shed(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}

pub(crate) async fn admit(State(s): State<AppState>, req: Request, next: Next) -> Response {
    if never_shed(req.uri().path()) {
        return next.run(req).await;
    }
    let Ok(_slot) = s.limits.in_flight.clone().try_acquire_owned() else {
        metrics::counter!("rapport_http_shed_total").increment(1);
        return ApiError::Overloaded {
            retry_at: s.app.now().plus(Duration::from_secs(1)),
        }
        .into_response();
    };
    match tokio::time::timeout(s.limits.request_timeout, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => {
            metrics::counter!("rapport_http_timeouts_total").increment(1);
            ApiError::RequestTimeout(s.limits.request_timeout).into_response()
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then drains the requests in flight.
/// axum's own `serve` has no header timeout, so connections are run here with hyper's.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;

    let sockets = Arc::new(Semaphore::new(MAX_SOCKETS));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let socket = tokio::select! {
            () = &mut shutdown => break,
            permit = sockets.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait, as axum does, rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        // Every request of the connection carries its peer's address (see `ClientAddr`).
        let service = tower::ServiceExt::map_request(
            router.clone(),
            move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                req
            },
        );
        let conn = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(socket);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
