//! The web pages members use: server-rendered HTML (askama, escaped by default), forms that work
//! without JavaScript, and one small script (`/static/live.js`) that keeps the inbox and badges
//! live over the event stream. Every page goes through the same use cases as the API.
//!
//! Sessions are the `rapport_session` cookie (HttpOnly, SameSite=Lax; `__Host-` and `Secure` when
//! the base URL is https; then only the `__Host-` cookie is read, and HSTS is sent). Every form
//! carries a CSRF token, an HMAC of the session under the server's secret (see
//! `rapport_app::signing`); a form without it (the field defaults to empty) or with another
//! answers 403 `csrf`. Sign-in and sign-up forms, which have no session yet, carry a pre-session
//! token instead: a random cookie set with the form, and its signature in the form, so that
//! nobody can post a visitor into the attacker's account. Nothing changes on GET.
//! Every answer carries a strict Content-Security-Policy with no inline script or style.

mod account;
mod admin;
mod invitations;
mod oidc;
mod pages;
mod signin;
mod unsubscribe;

use crate::error::ApiError;
use crate::extract::{csrf_token, session_cookie};
use crate::AppState;
use askama::Template;
use axum::extract::{FromRef, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use rapport_app::AppError;
use rapport_domain::{MemberId, Timestamp};

pub fn router(state: AppState) -> Router<AppState> {
    pages::routes()
        .merge(signin::routes())
        .merge(oidc::routes())
        .merge(invitations::routes())
        .merge(unsubscribe::routes())
        .merge(account::routes())
        .merge(admin::routes())
        .route("/static/app.css", get(css))
        .route("/static/live.js", get(script))
        .layer(axum::middleware::from_fn_with_state(
            state,
            security_headers,
        ))
}

const CSS: &str = include_str!("../../static/app.css");
const SCRIPT: &str = include_str!("../../static/live.js");

async fn css() -> impl IntoResponse {
    asset("text/css; charset=utf-8", CSS)
}

async fn script() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// The headers every page carries; behind https, HSTS too (a year, subdomains included), so a
/// browser never again asks for a page over plain http, where its cookie could be read or planted.
async fn security_headers(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    if state.secure() {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    let set = |h: &mut axum::http::HeaderMap, name: &'static str, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(
        h,
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, "x-content-type-options", "nosniff");
    set(h, "referrer-policy", "same-origin");
    set(h, "x-frame-options", "DENY");
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, "cache-control", "no-store");
    }
    resp
}

/// The signed-in member of a page request, with their session token and its CSRF token.
pub struct Session {
    pub member: MemberId,
    pub token: String,
    pub csrf: String,
}

/// A page asked for without a session: sign in first, then come back.
pub struct SignInFirst(String);

impl IntoResponse for SignInFirst {
    fn into_response(self) -> Response {
        let next = if self.0 == "/" {
            String::new()
        } else {
            format!("?next={}", encode_component(&self.0))
        };
        Redirect::to(&format!("/login{next}")).into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Session
where
    AppState: FromRef<S>,
{
    type Rejection = SignInFirst;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, SignInFirst> {
        let state = AppState::from_ref(state);
        let back = || {
            let path = parts.uri.path().to_owned();
            SignInFirst(if parts.method.is_safe() {
                path
            } else {
                "/".into()
            })
        };
        let Some(token) = session_cookie(&parts.headers, state.secure()).map(str::to_owned) else {
            return Err(back());
        };
        match state.app.authenticate(&token).await {
            Ok(member) => Ok(Session {
                member,
                csrf: csrf_token(&state.app, &token),
                token,
            }),
            Err(_) => Err(back()),
        }
    }
}

/// The session cookie's name: `__Host-` prefixed behind https, where the browser then insists on
/// `Secure`, `Path=/` and no `Domain`.
fn cookie_name(state: &AppState) -> &'static str {
    if state.secure() {
        crate::extract::SECURE_SESSION_COOKIE
    } else {
        crate::extract::SESSION_COOKIE
    }
}

/// A `Set-Cookie` value for one of the site's cookies: HttpOnly, SameSite=Lax, the whole site, and
/// `Secure` behind https. `max_age` 0 deletes it.
fn site_cookie(state: &AppState, name: &str, value: &str, max_age: u32) -> Option<HeaderValue> {
    let secure = if state.secure() { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .ok()
}

/// A redirect to `to` that starts a session with `token`, or (with `None`) ends the session.
fn redirect_with_session(state: &AppState, token: Option<&str>, to: &str) -> Response {
    let (value, age) = match token {
        Some(t) => (t, 2_592_000),
        None => ("", 0),
    };
    let cookie = site_cookie(state, cookie_name(state), value, age)
        .unwrap_or_else(|| HeaderValue::from_static(""));
    ([(header::SET_COOKIE, cookie)], Redirect::to(to)).into_response()
}

/// A failure on a page: shown as a page of its own, in plain words, with the status it has in the
/// API; a lost session goes to sign-in instead.
pub struct WebError(ApiError);

impl<E: Into<ApiError>> From<E> for WebError {
    fn from(e: E) -> Self {
        WebError(e.into())
    }
}

#[derive(Template)]
#[template(path = "web/message.html")]
struct MessagePage {
    chrome: Option<pages::Chrome>,
    title: String,
    message: String,
    back: String,
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        if matches!(self.0, ApiError::App(AppError::Unauthenticated)) {
            return Redirect::to("/login").into_response();
        }
        let (status, code, mut detail, retry) = self.0.parts();
        // Times in words a person reads, not RFC 3339.
        if let Some(crate::error::Retry { at: Some(at), .. }) = retry {
            let rfc = at.to_rfc3339();
            detail = detail.replace(&format!(" (from {rfc})"), "");
            detail = format!(
                "{}. You can try again on {}",
                sentence(&detail).trim_end_matches('.'),
                pages::day(&rfc)
            );
        }
        if let ApiError::App(AppError::Rule(rapport_domain::RuleError::Restricted { until })) =
            &self.0
        {
            detail = format!(
                "{}. The restriction ends on {}",
                sentence(&detail).trim_end_matches('.'),
                pages::day(&until.to_rfc3339())
            );
        }
        let title = match code {
            "not_found" => "Not found",
            "csrf" => "This form has expired",
            "unavailable" => "Rapport is briefly unavailable",
            "storage_full" => "Changes cannot be saved right now",
            c if c.ends_with("_limit") || c == "quota_exceeded" || c == "cooldown_active" => {
                "Not right now"
            }
            _ => "That didn't work",
        };
        let page = MessagePage {
            chrome: None,
            title: title.into(),
            message: sentence(&detail),
            back: "/".into(),
        };
        let mut resp = render(status, &page);
        if let Some(r) = retry {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(r.after_secs.max(1)));
        }
        resp
    }
}

pub type WebResult<T> = Result<T, WebError>;

/// `Ok` when a form's CSRF token was right, else the 403 `csrf` page.
fn check_csrf_field(right: bool) -> WebResult<()> {
    if right {
        Ok(())
    } else {
        Err(WebError(ApiError::Csrf))
    }
}

/// A detail of the API as a sentence: capital first letter, final full stop.
fn sentence(detail: &str) -> String {
    let mut chars = detail.chars();
    let mut out: String = match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => return String::new(),
    };
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page did not render");
            (StatusCode::INTERNAL_SERVER_ERROR, "the page did not render").into_response()
        }
    }
}

/// Percent-encodes a query component (for `next=` and `q=` links).
fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// How long ago an RFC 3339 time was, in the words of a professional network ("3 weeks ago").
pub fn ago(rfc3339: &str, now: Timestamp) -> String {
    let Some(then) = Timestamp::parse_rfc3339(rfc3339) else {
        return String::new();
    };
    let secs = ((now.0 - then.0) / 1000).max(0);
    let (n, unit) = match secs {
        s if s < 60 => return "just now".into(),
        s if s < 3_600 => (s / 60, "minute"),
        s if s < 86_400 => (s / 3_600, "hour"),
        s if s < 7 * 86_400 => (s / 86_400, "day"),
        s if s < 30 * 86_400 => (s / (7 * 86_400), "week"),
        s if s < 365 * 86_400 => (s / (30 * 86_400), "month"),
        s => (s / (365 * 86_400), "year"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

/// A degree as the badge shows it.
pub fn degree_label(degree: Option<u8>) -> &'static str {
    match degree {
        Some(1) => "1st",
        Some(2) => "2nd",
        Some(3) => "3rd",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_like_a_person_would_say_them() {
        let now = Timestamp::parse_rfc3339("2026-11-23T12:00:00Z").unwrap();
        for (then, said) in [
            ("2026-11-23T11:59:30Z", "just now"),
            ("2026-11-23T11:00:00Z", "1 hour ago"),
            ("2026-11-21T12:00:00Z", "2 days ago"),
            ("2026-11-02T12:00:00Z", "3 weeks ago"),
            ("2025-11-01T12:00:00Z", "1 year ago"),
        ] {
            assert_eq!(ago(then, now), said);
        }
        assert_eq!(ago("not a time", now), "");
    }

    /// The page a store failure shows: its status and `Retry-After`, and its text.
    async fn failure_page(e: AppError) -> (StatusCode, Option<String>, String) {
        let resp = WebError::from(e).into_response();
        let status = resp.status();
        let retry = resp
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .expect("the page");
        (status, retry, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn a_database_out_of_reach_or_full_reads_as_a_plain_page_to_come_back_to() {
        let (status, retry, page) =
            failure_page(AppError::Unavailable("connection refused".into())).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(retry.as_deref(), Some("2"));
        assert!(page.contains("Rapport is briefly unavailable; try again in a moment."));
        assert!(!page.contains("connection refused"), "{page}");
        let (status, retry, page) =
            failure_page(AppError::StorageFull("database or disk is full".into())).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(retry.is_some());
        assert!(page.contains("Changes cannot be saved right now"), "{page}");
        assert!(!page.contains("disk is full"), "{page}");
    }

    #[test]
    fn next_links_are_encoded_and_details_become_sentences() {
        assert_eq!(encode_component("/in/5?x=a b"), "/in/5%3Fx%3Da%20b");
        assert_eq!(
            sentence("you can send more on Monday"),
            "You can send more on Monday."
        );
    }
}
