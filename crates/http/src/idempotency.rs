//! `Idempotency-Key` on POST: the same key with the same request within 24 hours replays the first
//! successful answer (with `Idempotent-Replayed: true`); the same key with another request is
//! `422 idempotency_key_reused`. Keys belong to the member who used them. Two requests with one key
//! at once run one after the other, never both.
//!
//! Only answers that did something (2xx) are kept, as Stripe does: a refusal changed nothing, so a
//! retry with the same key is simply evaluated again, and a client that waited for `Retry-After`
//! is not handed the stale refusal for a day. Sign-up and sign-in are left out: their answers carry
//! a bearer token, and only a token's hash may ever be stored.

use crate::error::ApiError;
use crate::extract::bearer;
use crate::AppState;
use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rapport_domain::MemberId;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const BODY_LIMIT: usize = 64 * 1024;
const MAX_KEY_LEN: usize = 255;

/// Held while a request with a given key runs.
type KeyLock = Arc<tokio::sync::Mutex<()>>;

/// One async lock per key in use, so that concurrent retries with one key are serialised.
#[derive(Default)]
pub struct KeyLocks {
    locks: Mutex<HashMap<(MemberId, String), KeyLock>>,
}

impl KeyLocks {
    fn get(&self, member: MemberId, key: &str) -> KeyLock {
        let mut map = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, l| Arc::strong_count(l) > 1);
        map.entry((member, key.to_owned())).or_default().clone()
    }
}

pub async fn layer(State(s): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST || req.uri().path().contains("/auth/") {
        return next.run(req).await;
    }
    let Some(raw_key) = req.headers().get("idempotency-key") else {
        return next.run(req).await;
    };
    match handle(s, raw_key.clone(), req, next).await {
        Ok(r) | Err(r) => r,
    }
}

async fn handle(
    s: AppState,
    raw_key: HeaderValue,
    req: Request,
    next: Next,
) -> Result<Response, Response> {
    let key = raw_key
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= MAX_KEY_LEN)
        .ok_or_else(|| {
            ApiError::Malformed("Idempotency-Key must be 1 to 255 visible ASCII characters".into())
                .into_response()
        })?
        .to_owned();
    let member = match bearer(req.headers()) {
        Some(token) => s
            .app
            .authenticate(token)
            .await
            .map_err(|e| ApiError::from(e).into_response())?,
        // Without a member there is nothing to do once: the route answers 401 itself.
        None => return Ok(next.run(req).await),
    };
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, BODY_LIMIT)
        .await
        .map_err(|_| ApiError::BodyTooLarge.into_response())?;
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str());
    hasher.update([0]);
    hasher.update(parts.uri.path());
    hasher.update([0]);
    hasher.update(&bytes);
    let request_hash = hasher.finalize().to_vec();

    let lock = s.idempotency.get(member, &key);
    let _held = lock.lock().await;
    let earlier = s
        .app
        .idempotent_replay(member, &key)
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    if let Some(earlier) = earlier {
        if earlier.request_hash != request_hash {
            return Err(ApiError::IdempotencyKeyReused.into_response());
        }
        return Ok(replay(earlier.status, earlier.body));
    }

    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    if !response.status().is_success() {
        return Ok(response);
    }
    let (resp_parts, resp_body) = response.into_parts();
    let resp_bytes = to_bytes(resp_body, usize::MAX).await.map_err(|_| {
        ApiError::App(rapport_app::AppError::Internal("response body".into())).into_response()
    })?;
    if let Err(e) = s
        .app
        .idempotent_store(
            member,
            &key,
            request_hash,
            resp_parts.status.as_u16(),
            resp_bytes.to_vec(),
        )
        .await
    {
        tracing::warn!(error = %e, "could not keep an idempotent response");
    }
    Ok(Response::from_parts(resp_parts, Body::from(resp_bytes)))
}

fn replay(status: u16, body: Vec<u8>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut resp = (status, body).into_response();
    let content_type = if status.is_client_error() {
        "application/problem+json"
    } else {
        "application/json"
    };
    if status != StatusCode::NO_CONTENT {
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    resp.headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    resp
}
