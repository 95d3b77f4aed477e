//! `Idempotency-Key` on POST: the same key with the same request within 24 hours replays the first
//! successful answer (with `Idempotent-Replayed: true`); the same key with another request is
//! `422 idempotency_key_reused`. Keys belong to the member who used them (a service key's to the
//! key, or, acting for a member, to that key and member). Two requests with one key
//! at once run one after the other, never both.
//!
//! Only answers that did something (2xx) are kept, as Stripe does: a refusal changed nothing, so a
//! retry with the same key is simply evaluated again, and a client that waited for `Retry-After`
//! is not handed the stale refusal for a day.
//!
//! No answer that carries a bearer token is ever kept: only a token's hash may be stored, and a
//! replay would hand a working token to whoever can present the key again. Those routes are listed
//! once, in [`CARRIES_A_TOKEN`]; there the key is ignored and the request simply runs (API.md:
//! "never for `/auth/*` or any answer that carries a token"). A test checks the list against every
//! answer of the OpenAPI document that has a `token`.

use crate::error::ApiError;
use crate::extract::{bearer, ACT_AS};
use crate::AppState;
use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rapport_app::keys::KEY_PREFIX;
use rapport_domain::MemberId;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The routes whose answers carry a bearer token, by path under `/api/v1` (one ending in `/`
/// covers every path below it): sign-up and sign-in (and so everything under `/auth/`), and the
/// password change, which answers with the member's one new token.
const CARRIES_A_TOKEN: &[&str] = &["/auth/", "/me/password"];

/// Does the answer to a request for `path` (under `/api/v1`) carry a token?
pub(crate) fn carries_a_token(path: &str) -> bool {
    CARRIES_A_TOKEN
        .iter()
        .any(|route| match route.strip_suffix('/') {
            Some(_) => path.starts_with(route),
            None => path == *route,
        })
}

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
    if req.method() != Method::POST || carries_a_token(req.uri().path()) {
        return next.run(req).await;
    }
    let Some(raw_key) = req.headers().get("idempotency-key") else {
        return next.run(req).await;
    };
    match handle(s, raw_key.clone(), req, next).await {
        Ok(r) | Err(r) => r,
    }
}

/// 1 to 255 visible ASCII characters, spaces only inside (the OpenAPI document's pattern).
fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= MAX_KEY_LEN
        && k.bytes().all(|b| (0x20..=0x7e).contains(&b))
        && !k.starts_with(' ')
        && !k.ends_with(' ')
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
        .filter(|k| valid_key(k))
        .ok_or_else(|| {
            ApiError::Malformed("Idempotency-Key must be 1 to 255 visible ASCII characters".into())
                .into_response()
        })?
        .to_owned();
    let (member, key) = match bearer(req.headers()) {
        Some(token) if token.starts_with(KEY_PREFIX) => {
            let grant = s
                .app
                .authenticate_key(token)
                .await
                .map_err(|e| ApiError::from(e).into_response())?;
            match req.headers().get(ACT_AS).map(|v| v.to_str()) {
                // Acting for a member: among that member's keys, apart from their own and from
                // other service keys' (the same key used for two members is two requests).
                Some(Ok(who)) => match s.app.act_as(&grant, who).await {
                    // A control character no member's key can hold keeps the spaces apart.
                    Ok(m) => (m, format!("rsk{}\u{1}{key}", grant.id)),
                    // The route refuses it in its own words.
                    Err(_) => return Ok(next.run(req).await),
                },
                Some(Err(_)) => return Ok(next.run(req).await),
                // The key's own requests (administrators' routes): a space of its own, below
                // every member's id.
                None => (MemberId(-grant.id), key),
            }
        }
        Some(token) => (
            s.app
                .authenticate(token)
                .await
                .map_err(|e| ApiError::from(e).into_response())?,
            key,
        ),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_what_the_document_says() {
        for ok in ["0", "a b", "order-17", &"k".repeat(255)] {
            assert!(super::valid_key(ok), "{ok:?}");
        }
        for bad in ["", " a", "a ", "a\tb", "é", &"k".repeat(256)] {
            assert!(!super::valid_key(bad), "{bad:?}");
        }
    }
    use serde_json::Value;
    use utoipa::OpenApi;

    /// The schema a `$ref` names, or the schema itself.
    fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
        match schema["$ref"].as_str() {
            Some(r) => doc
                .pointer(r.trim_start_matches('#'))
                .unwrap_or(&Value::Null),
            None => schema,
        }
    }

    #[test]
    fn every_post_answering_with_a_token_is_never_kept() {
        // A route added later that hands out a token cannot be forgotten in CARRIES_A_TOKEN.
        let doc = serde_json::to_value(crate::openapi::ApiDoc::openapi()).expect("serialises");
        let mut with_token = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            let Some(responses) = item["post"]["responses"].as_object() else {
                continue;
            };
            let carries = responses
                .iter()
                .filter(|(status, _)| status.starts_with('2'))
                .filter_map(|(_, r)| r["content"].as_object())
                .flat_map(|content| content.values())
                .any(|media| {
                    resolve(&doc, resolve(&doc, &media["schema"]))["properties"]
                        .get("token")
                        .is_some()
                });
            if carries {
                with_token.push(path.clone());
            }
        }
        assert!(
            with_token.len() >= 3,
            "sign-up, sign-in and the password change answer with a token: {with_token:?}"
        );
        for path in with_token {
            let under_api = path.strip_prefix("/api/v1").expect("an API path");
            assert!(
                carries_a_token(under_api),
                "{path} answers with a token but its answer may be kept"
            );
        }
    }

    #[test]
    fn only_the_listed_routes_are_left_out() {
        assert!(carries_a_token("/auth/login"));
        assert!(carries_a_token("/auth/signup"));
        assert!(carries_a_token("/me/password"));
        assert!(!carries_a_token("/me/password/x"));
        assert!(!carries_a_token("/me"));
        assert!(!carries_a_token("/invitations"));
    }
}
