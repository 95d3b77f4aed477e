//! Extractors that turn every bad input into a clear `ApiError` instead of axum's plain-text
//! rejections: a body that is not the JSON an endpoint takes, a query string of the wrong shape,
//! a missing or unknown token.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method, StatusCode};
use bytes::Bytes;
use rapport_app::keys::{Operator, KEY_PREFIX};
use rapport_domain::identity::Scope;
use rapport_domain::MemberId;
use serde::de::DeserializeOwned;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// A JSON body. Any `Content-Type` is read as JSON; an empty body is malformed.
pub struct JsonBody<T>(pub T);

/// A JSON body that may be left out entirely (then it is `T::default()`).
pub struct OptionalJsonBody<T>(pub T);

async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::BodyTooLarge
        } else {
            ApiError::Malformed(format!("the body could not be read: {}", e.body_text()))
        }
    })
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every body this API takes is an object, but serde also reads a struct from an array of its
    // fields in order (`[null, null]`), which no client means.
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        return Err(ApiError::Malformed(
            "the body is not the JSON this endpoint takes: send a JSON object".into(),
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::Malformed(format!("the body is not the JSON this endpoint takes: {e}"))
    })
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = body_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::Malformed(
                "the body is empty; send a JSON object".into(),
            ));
        }
        parse_json(&bytes).map(JsonBody)
    }
}

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = body_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJsonBody(T::default()));
        }
        parse_json(&bytes).map(OptionalJsonBody)
    }
}

/// Query parameters; a value of the wrong type is `400 malformed`.
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(t)| QueryParams(t))
            .map_err(|e| {
                ApiError::Malformed(format!(
                    "the query string is not what this endpoint takes: {}",
                    e.body_text()
                ))
            })
    }
}

/// The signed-in member, from `Authorization: Bearer <token>` or the web pages' session cookie.
#[derive(Debug, Clone, Copy)]
pub struct Auth(pub MemberId);

/// The bearer token of a request, if it carries one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The cookie the web pages sign in with.
pub const SESSION_COOKIE: &str = "rapport_session";
/// Its name behind https, where the `__Host-` prefix makes browsers insist on `Secure`.
pub const SECURE_SESSION_COOKIE: &str = "__Host-rapport_session";

/// The session token of a request's cookie, if it carries one. Behind https (`secure`) only the
/// `__Host-` cookie counts: a cookie of the plain name can be planted by a sibling subdomain or
/// over plain http, and would sign the visitor into someone else's session.
pub fn session_cookie(headers: &HeaderMap, secure: bool) -> Option<&str> {
    cookie(
        headers,
        if secure {
            SECURE_SESSION_COOKIE
        } else {
            SESSION_COOKIE
        },
    )
}

/// The value of the request's cookie named exactly `name`, if it has one that is not empty.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty())
}

/// The CSRF token of a session: a signature of the session token under the server's secret
/// (pages show it, scripts of other sites cannot read it, and nothing needs storing).
pub fn csrf_token(app: &rapport_app::App, session: &str) -> String {
    app.signer().sign(CSRF, session)
}

/// Whether `sent` is the CSRF token of `session` (compared in constant time).
pub fn csrf_valid(app: &rapport_app::App, session: &str, sent: &str) -> bool {
    app.signer().verify(CSRF, session, sent)
}

/// What a CSRF token is signed for.
const CSRF: &str = "csrf";

/// Whether the request's `X-CSRF-Token` header is this session's.
fn csrf_matches(app: &rapport_app::App, headers: &HeaderMap, session: &str) -> bool {
    headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| csrf_valid(app, session, v))
}

/// The header a service key names the member it acts for with: a member id, or `ext:` and the
/// community's id of them.
pub const ACT_AS: &str = "rapport-act-as";

fn act_as_header(parts: &Parts) -> Result<Option<&str>, ApiError> {
    match parts.headers.get(ACT_AS) {
        None => Ok(None),
        Some(v) => v.to_str().map(|v| Some(v.trim())).map_err(|_| {
            ApiError::Malformed("Rapport-Act-As must be a member id or ext:<external id>".into())
        }),
    }
}

/// What a key acting for a member may not do: what ends, hands over or secures the member's
/// account is the member's own doing.
/// Paths under `/api/v1` (the API's router is nested there, and sees them without it).
const NOT_FOR_KEYS: &[(Method, &str)] = &[
    (Method::POST, "/auth/logout"),
    (Method::POST, "/me/password"),
    (Method::POST, "/me/deactivate"),
    (Method::DELETE, "/me"),
    (Method::GET, "/me/export"),
];

/// Who a request comes from, before any route's rule: a service key, or a signed-in member (by
/// bearer token, or by the session cookie with its CSRF token on changes).
async fn caller(parts: &Parts, state: &AppState) -> Result<Operator, ApiError> {
    let token = match bearer(&parts.headers) {
        Some(t) if t.starts_with(KEY_PREFIX) => {
            return Ok(Operator::Key(state.app.authenticate_key(t).await?));
        }
        Some(t) => t,
        None => {
            let t = session_cookie(&parts.headers, state.secure())
                .ok_or(rapport_app::AppError::Unauthenticated)?;
            // A browser sends the cookie with any site's request: a change needs the token
            // only pages of this site know.
            if !parts.method.is_safe() && !csrf_matches(&state.app, &parts.headers, t) {
                return Err(ApiError::Csrf);
            }
            t
        }
    };
    Ok(Operator::Member(state.app.authenticate(token).await?))
}

impl<S: Send + Sync> FromRequestParts<S> for Auth
where
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    /// A member's routes: a signed-in member, or a service key with `invitations:act` acting for
    /// the member `Rapport-Act-As` names (every rule applies as if the member acted; the audit
    /// log records the key and the member).
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if let Some(auth) = parts.extensions.get::<Auth>() {
            return Ok(*auth);
        }
        let state = AppState::from_ref(state);
        let act_as = act_as_header(parts)?;
        let member = match caller(parts, &state).await? {
            Operator::Member(_) if act_as.is_some() => {
                return Err(ApiError::Malformed(
                    "Rapport-Act-As is for service keys; a member acts for themselves".into(),
                ));
            }
            Operator::Member(m) => m,
            Operator::Key(key) => {
                let Some(who) = act_as else {
                    if !key.allows(Scope::InvitationsAct) {
                        return Err(rapport_app::AppError::InsufficientScope(
                            Scope::InvitationsAct.as_str(),
                        )
                        .into());
                    }
                    return Err(ApiError::Malformed(
                        "a service key acts for a member here: send Rapport-Act-As: <member id> or ext:<external id>".into(),
                    ));
                };
                let path = parts.uri.path();
                let path = path.strip_prefix("/api/v1").unwrap_or(path);
                if NOT_FOR_KEYS
                    .iter()
                    .any(|(m, p)| parts.method == *m && path == *p)
                {
                    return Err(rapport_app::AppError::Refused(
                        "a service key does not sign members out, deactivate, close or export their account, or change their password".into(),
                    )
                    .into());
                }
                let member = state.app.act_as(&key, who).await?;
                tracing::info!(target: "rapport::audit", key = key.id, key_name = %key.name,
                    member = %member, method = %parts.method, path = %parts.uri.path(),
                    "service key acts for a member");
                member
            }
        };
        parts.extensions.insert(Auth(member));
        Ok(Auth(member))
    }
}

/// Who calls an administrators' route that a key's scope may open: a signed-in member (the route
/// checks they are an administrator) or a service key (the route checks its scope).
pub struct Caller(pub Operator);

impl<S: Send + Sync> FromRequestParts<S> for Caller
where
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let state = AppState::from_ref(state);
        if act_as_header(parts)?.is_some() {
            return Err(ApiError::Malformed(
                "administrators' routes do not take Rapport-Act-As".into(),
            ));
        }
        caller(parts, &state).await.map(Caller)
    }
}

/// A signed-in member on what only administrators do (moderation, roles, keys): no service key
/// opens these, whatever its scopes or whom it acts for.
#[derive(Debug, Clone, Copy)]
pub struct Admin(pub MemberId);

impl<S: Send + Sync> FromRequestParts<S> for Admin
where
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Caller::from_request_parts(parts, state).await?.0 {
            Operator::Member(m) => Ok(Admin(m)),
            Operator::Key(_) => Err(rapport_app::AppError::Refused(
                "only an administrator, signed in, can do this: no service key can".into(),
            )
            .into()),
        }
    }
}

/// The address of the client a request came from: the peer's, or, when the peer is one of
/// `RAPPORT_TRUSTED_PROXIES`, the right-most `X-Forwarded-For` entry that is not a trusted proxy
/// (entries further left were written by the client and prove nothing). Sign-in and sign-up are
/// limited per client address.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr
where
    AppState: FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        Ok(ClientAddr(client_address(
            peer,
            &parts.headers,
            &state.app.config().trusted_proxies,
        )))
    }
}

/// See [`ClientAddr`].
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(&ip));
    if !is_trusted(peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(ip) {
                    break;
                }
            }
            // A hop that is not an address: stop at the last one a trusted proxy vouched for.
            Err(_) => break,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            "1.1.1.1, 203.0.113.9, 10.0.0.2".parse().unwrap(),
        );
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let stranger: IpAddr = "198.51.100.7".parse().unwrap();
        // The right-most untrusted hop, not the left-most (which the client wrote itself).
        assert_eq!(
            client_address(proxy, &h, &trusted),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_address(stranger, &h, &trusted), stranger);
        assert_eq!(client_address(proxy, &h, &[]), proxy);
        let mut bad = HeaderMap::new();
        bad.insert("x-forwarded-for", "nonsense, 10.0.0.3".parse().unwrap());
        assert_eq!(
            client_address(proxy, &bad, &trusted),
            "10.0.0.3".parse::<IpAddr>().unwrap()
        );
    }
}
