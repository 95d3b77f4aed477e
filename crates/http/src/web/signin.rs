//! Signing in, signing up and out. The sign-in and sign-up forms have no session to tie a CSRF
//! token to, so they get a pre-session: a random cookie (`rapport_presession`, HttpOnly,
//! SameSite=Lax; `__Host-` behind https) set with the form, whose signature under the server's
//! secret the form carries. Another site can neither read the signature nor send the cookie with
//! a cross-site POST, so it cannot sign a visitor into the attacker's account; a form without
//! the field, or with another's, answers 403 `csrf`.

use super::pages::{notice, Chrome, CsrfForm};
use super::{check_csrf_field, redirect_with_session, render, site_cookie, Session, WebResult};
use crate::error::ApiError;
use crate::extract::{cookie, ClientAddr};
use crate::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use base64::Engine;
use rapport_app::{SignedUp, SignupInput};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/signup", get(signup_page).post(signup))
        .route("/signup/confirm", get(confirm_page).post(confirm_signup))
        .route("/logout", post(logout))
}

/// The pre-session cookie's name, as the session cookie's: `__Host-` prefixed behind https.
fn presession_cookie(state: &AppState) -> &'static str {
    if state.secure() {
        "__Host-rapport_presession"
    } else {
        "rapport_presession"
    }
}

/// What a pre-session's token is signed for.
const PRESESSION: &str = "presession-csrf";

/// A visitor's pre-session: the cookie's value, and whether it is new (then it is set with the
/// answer).
struct PreSession {
    value: String,
    new: bool,
}

impl PreSession {
    /// The request's pre-session, or a new one.
    fn of(state: &AppState, headers: &HeaderMap) -> PreSession {
        match cookie(headers, presession_cookie(state)) {
            Some(value) => PreSession {
                value: value.to_owned(),
                new: false,
            },
            None => {
                use rand::RngCore;
                let mut bytes = [0u8; 18];
                rand::rngs::OsRng.fill_bytes(&mut bytes);
                PreSession {
                    value: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
                    new: true,
                }
            }
        }
    }

    /// The request's pre-session, when the form's `sent` token is its signature: else 403 `csrf`.
    fn checked(state: &AppState, headers: &HeaderMap, sent: &str) -> WebResult<PreSession> {
        let value = cookie(headers, presession_cookie(state)).unwrap_or_default();
        check_csrf_field(!value.is_empty() && state.app.signer().verify(PRESESSION, value, sent))?;
        Ok(PreSession {
            value: value.to_owned(),
            new: false,
        })
    }

    /// The token the form carries.
    fn csrf(&self, state: &AppState) -> String {
        state.app.signer().sign(PRESESSION, &self.value)
    }

    /// `resp`, setting the cookie when the pre-session is new (for a day: a form left open longer
    /// is shown again with a fresh one).
    fn keep(self, state: &AppState, mut resp: Response) -> Response {
        if self.new {
            if let Some(v) = site_cookie(state, presession_cookie(state), &self.value, 86_400) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
        }
        resp
    }
}

#[derive(Template)]
#[template(path = "web/login.html")]
pub(super) struct LoginPage {
    chrome: Option<Chrome>,
    notice: Option<&'static str>,
    csrf: String,
    next: String,
    email: String,
    error: Option<String>,
    /// The providers' buttons: (where it starts, name). Links, not forms: the policy's
    /// `form-action 'self'` would stop a form's redirect to the provider.
    providers: Vec<(String, String)>,
    /// Is the password form shown (`RAPPORT_PASSWORD_SIGN_IN`)?
    passwords: bool,
}

impl LoginPage {
    fn new(s: &AppState, csrf: String, next: String) -> LoginPage {
        let encoded: String = next
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        LoginPage {
            chrome: None,
            notice: None,
            csrf,
            next,
            email: String::new(),
            error: None,
            providers: s
                .app
                .oidc_providers()
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let start = format!("/auth/oidc/start?provider={i}&next={encoded}");
                    (start, p.name.clone())
                })
                .collect(),
            passwords: s.app.config().password_sign_in,
        }
    }

    /// The sign-in page again, telling why signing in failed (a sign-in through the provider).
    pub(super) fn failed(
        s: &AppState,
        headers: &HeaderMap,
        next: String,
        error: String,
    ) -> Response {
        let pre = PreSession::of(s, headers);
        let mut page = LoginPage::new(s, pre.csrf(s), next);
        page.error = Some(error);
        pre.keep(s, render(StatusCode::UNAUTHORIZED, &page))
    }
}

#[derive(Deserialize)]
pub struct Next {
    next: Option<String>,
    done: Option<String>,
}

/// Where to go after signing in: a path of this site only. Browsers drop tabs and newlines from
/// a URL and read `\\` as `/`, so `/\t/evil.example` would become `//evil.example`, another site:
/// any control character, whitespace or backslash, and anything that does not parse as a plain
/// path, sends home instead.
pub(super) fn safe_next(next: Option<&str>) -> String {
    let Some(n) = next else { return "/".into() };
    let plain = n.starts_with('/')
        && !n.starts_with("//")
        && !n
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '\\');
    let parses = n
        .parse::<axum::http::Uri>()
        .is_ok_and(|u| u.scheme().is_none() && u.authority().is_none() && u.path() != "");
    if plain && parses {
        n.into()
    } else {
        "/".into()
    }
}

async fn login_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<Next>,
) -> Response {
    let pre = PreSession::of(&s, &headers);
    let mut page = LoginPage::new(&s, pre.csrf(&s), safe_next(q.next.as_deref()));
    page.notice = notice(q.done.as_deref());
    pre.keep(&s, render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    email: String,
    password: String,
    next: Option<String>,
}

async fn login(
    State(s): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> WebResult<Response> {
    let pre = PreSession::checked(&s, &headers, &f.csrf)?;
    let next = safe_next(f.next.as_deref());
    Ok(match s.app.login(&f.email, &f.password, client).await {
        Ok((_, token)) => redirect_with_session(&s, Some(&token), &next),
        Err(e) => {
            let (status, _, detail, _) = ApiError::from(e).parts();
            let mut page = LoginPage::new(&s, pre.csrf(&s), next);
            page.email = f.email;
            page.error = Some(super::sentence(&detail));
            render(status, &page)
        }
    })
}

#[derive(Template)]
#[template(path = "web/signup.html")]
struct SignupPage {
    chrome: Option<Chrome>,
    csrf: String,
    form: SignupForm,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct SignupForm {
    #[serde(default)]
    csrf: String,
    email: String,
    password: String,
    name: String,
    #[serde(default)]
    headline: String,
    #[serde(default)]
    company: String,
}

async fn signup_page(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if !s.app.config().password_sign_in {
        // Members come through the community's provider: its button is on the sign-in page.
        return axum::response::Redirect::to("/login").into_response();
    }
    let pre = PreSession::of(&s, &headers);
    let page = SignupPage {
        chrome: None,
        csrf: pre.csrf(&s),
        form: SignupForm::default(),
        error: None,
    };
    pre.keep(&s, render(StatusCode::OK, &page))
}

async fn signup(
    State(s): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Form(mut f): Form<SignupForm>,
) -> WebResult<Response> {
    let pre = PreSession::checked(&s, &headers, &f.csrf)?;
    let input = SignupInput {
        email: f.email.clone(),
        password: f.password.clone(),
        name: f.name.clone(),
        headline: Some(f.headline.clone()).filter(|h| !h.trim().is_empty()),
        company: Some(f.company.clone()).filter(|c| !c.trim().is_empty()),
        location: None,
    };
    Ok(match s.app.signup(input, client).await {
        Ok(SignedUp::In { token, .. }) => redirect_with_session(&s, Some(&token), "/"),
        Ok(SignedUp::CheckMail) => {
            let page = ConfirmPage::told("Check your mail", crate::api::accounts::CHECK_MAIL);
            render(StatusCode::OK, &page)
        }
        Err(e) => {
            let (status, _, detail, _) = ApiError::from(e).parts();
            f.password.clear();
            let page = SignupPage {
                chrome: None,
                csrf: pre.csrf(&s),
                form: f,
                error: Some(super::sentence(&detail)),
            };
            render(status, &page)
        }
    })
}

/// The page of a mailed sign-up link: a button that posts it, and then what came of it.
#[derive(Template)]
#[template(path = "web/confirm_signup.html")]
struct ConfirmPage {
    chrome: Option<Chrome>,
    title: &'static str,
    message: &'static str,
    form: bool,
    csrf: String,
    token: String,
}

impl ConfirmPage {
    /// A page that only tells something.
    fn told(title: &'static str, message: &'static str) -> ConfirmPage {
        ConfirmPage {
            chrome: None,
            title,
            message,
            form: false,
            csrf: String::new(),
            token: String::new(),
        }
    }
}

#[derive(Deserialize)]
pub struct ConfirmLink {
    #[serde(default)]
    token: String,
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
}

/// Opening the mailed link shows a button: a GET (which mail scanners send too) creates nothing.
async fn confirm_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(link): Query<ConfirmLink>,
) -> Response {
    let pre = PreSession::of(&s, &headers);
    let page = ConfirmPage {
        form: true,
        csrf: pre.csrf(&s),
        token: link.token,
        ..ConfirmPage::told(
            "Finish signing up",
            "Your address is confirmed: one click and your Rapport account is ready.",
        )
    };
    pre.keep(&s, render(StatusCode::OK, &page))
}

/// The button of the mailed link: the account is created and signed in (with the pre-session's
/// CSRF check, so another site cannot sign a visitor into an account it made).
async fn confirm_signup(
    State(s): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<ConfirmForm>,
) -> WebResult<Response> {
    PreSession::checked(&s, &headers, &f.csrf)?;
    Ok(match s.app.confirm_signup(&f.token).await {
        Ok((_, token)) => redirect_with_session(&s, Some(&token), "/"),
        Err(e) => {
            let (status, code, _, _) = ApiError::from(e).parts();
            let page = if code == "email_taken" {
                ConfirmPage::told(
                    "You have an account already",
                    "This address has a Rapport account already: sign in instead.",
                )
            } else {
                ConfirmPage::told(
                    "This link does not work any more",
                    "The link is unknown, was used already, or is more than a day old. Sign up again to get a new one.",
                )
            };
            render(status, &page)
        }
    })
}

async fn logout(
    State(s): State<AppState>,
    session: Session,
    Form(f): Form<CsrfForm>,
) -> WebResult<Response> {
    super::pages::check_csrf(&session, &f.csrf)?;
    s.app.logout(&session.token).await?;
    Ok(redirect_with_session(&s, None, "/login"))
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_a_path_of_this_site_is_a_place_to_go_after_signing_in() {
        for ok in [
            "/",
            "/invitations/sent",
            "/in/42?tab=mutual",
            "/search?q=ada%20l",
        ] {
            assert_eq!(safe_next(Some(ok)), ok);
        }
        for bad in [
            "//evil.example/x",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            "/ /evil.example",
            "/\\evil.example",
            "/\u{0}/evil.example",
            "/\u{85}/evil.example",
            "https://evil.example/",
            "evil.example",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
