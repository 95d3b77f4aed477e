//! One-click unsubscribe (RFC 8058). Every mail's `List-Unsubscribe` link is signed for its member
//! and its kind of mail (or digest); a POST to it, which mail providers send when the member clicks
//! "unsubscribe" (`List-Unsubscribe=One-Click`), turns that mail off without signing in. Opening
//! the link in a browser (a GET, which link scanners send too) only shows a button that posts.
//! A link that was not signed for exactly that member and list is a 404, like an unknown page.

use super::{render, WebResult};
use crate::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use rapport_domain::{MailList, RuleError};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new().route("/unsubscribe", get(confirm).post(unsubscribe))
}

/// The link's query: member, list, signature. Missing parts read as empty, and so as a 404.
#[derive(Deserialize)]
pub struct Link {
    #[serde(default)]
    m: String,
    #[serde(default)]
    l: String,
    #[serde(default)]
    s: String,
}

#[derive(Template)]
#[template(path = "web/unsubscribe.html")]
struct UnsubscribePage {
    chrome: Option<super::pages::Chrome>,
    title: &'static str,
    message: String,
    confirm: bool,
    action: String,
}

/// What a list is, in words.
fn described(list: MailList) -> &'static str {
    use rapport_domain::{EmailCadence, NotificationKind as K};
    match list {
        MailList::Kind(K::InvitationReceived) => "emails about invitations you receive",
        MailList::Kind(K::InvitationAccepted) => "emails about accepted invitations",
        MailList::Kind(K::InvitationReminder) => "reminders of invitations waiting for you",
        MailList::Kind(K::InvitationWithdrawn) => "emails about withdrawn invitations",
        MailList::Kind(K::RestrictionApplied) | MailList::Kind(K::RestrictionLifted) => {
            "emails about your account's restrictions"
        }
        MailList::Digest(EmailCadence::Weekly) => "your weekly digest",
        MailList::Digest(_) => "your daily digest",
    }
}

async fn confirm(Query(link): Query<Link>) -> WebResult<Response> {
    let list = MailList::parse(&link.l).ok_or(RuleError::NotFound)?;
    let page = UnsubscribePage {
        chrome: None,
        title: "Unsubscribe",
        message: format!(
            "Stop {}? Notifications in Rapport stay as they are.",
            described(list)
        ),
        confirm: true,
        action: format!(
            "/unsubscribe?m={}&l={}&s={}",
            super::encode_component(&link.m),
            super::encode_component(&link.l),
            super::encode_component(&link.s)
        ),
    };
    Ok(render(StatusCode::OK, &page))
}

async fn unsubscribe(State(s): State<AppState>, Query(link): Query<Link>) -> WebResult<Response> {
    let list = s.app.unsubscribe(&link.m, &link.l, &link.s).await?;
    let page = UnsubscribePage {
        chrome: None,
        title: "You are unsubscribed",
        message: format!("Rapport will not send you {} any more.", described(list)),
        confirm: false,
        action: String::new(),
    };
    Ok(render(StatusCode::OK, &page))
}
