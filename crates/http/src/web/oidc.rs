//! Signing in through the community's OpenID provider: `/auth/oidc/start` sends the browser to
//! the provider with the flow's cookie, `/auth/oidc/callback` brings it back signed in (or to the
//! sign-in page, saying why not). The flow itself is `rapport_app::oidc`.

use super::signin::{safe_next, LoginPage};
use super::{redirect_with_session, site_cookie, WebResult};
use crate::error::ApiError;
use crate::extract::cookie;
use crate::AppState;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/oidc/start", get(start))
        .route("/auth/oidc/callback", get(callback))
}

/// The flow cookie's name: `__Host-` prefixed behind https, like the session's.
fn flow_cookie(state: &AppState) -> &'static str {
    if state.secure() {
        "__Host-rapport_oidc"
    } else {
        "rapport_oidc"
    }
}

#[derive(Deserialize)]
pub struct StartParams {
    provider: Option<usize>,
    next: Option<String>,
}

async fn start(State(s): State<AppState>, Query(q): Query<StartParams>) -> WebResult<Response> {
    let next = safe_next(q.next.as_deref());
    let started = s.app.oidc_start(q.provider.unwrap_or(0), &next).await?;
    let max_age = rapport_app::oidc::FLOW_LIFETIME.as_secs() as u32;
    let cookie = site_cookie(&s, flow_cookie(&s), &started.cookie, max_age)
        .ok_or_else(|| ApiError::Malformed("the sign-in could not start".into()))?;
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to(&started.url)).into_response())
}

#[derive(Deserialize)]
pub struct CallbackParams {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

async fn callback(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<CallbackParams>,
) -> Response {
    let failed = |why: String| LoginPage::failed(&s, &headers, "/".into(), why);
    if let Some(error) = q.error {
        // Only the provider's error code, and only when it is one (anyone can write this URL:
        // a description would put their words on this site's page).
        let code = Some(error)
            .filter(|e| e.len() <= 40 && e.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
            .map_or(String::new(), |e| format!(" ({e})"));
        return failed(format!(
            "The provider did not sign you in{code}. Try again, or ask your community's administrators."
        ));
    }
    let (Some(code), Some(state)) = (q.code, q.state) else {
        return failed("The provider's answer was incomplete. Sign in again.".into());
    };
    match s
        .app
        .oidc_finish(cookie(&headers, flow_cookie(&s)), &code, &state)
        .await
    {
        Ok(signed_in) => {
            let mut resp = redirect_with_session(&s, Some(&signed_in.token), &signed_in.next);
            // The flow is over: its cookie goes.
            if let Some(gone) = site_cookie(&s, flow_cookie(&s), "", 0) {
                resp.headers_mut().append(header::SET_COOKIE, gone);
            }
            resp
        }
        Err(e) => {
            let (_, _, detail, _) = ApiError::from(e).parts();
            failed(super::sentence(&detail))
        }
    }
}
