//! The invitation pages: what a member received (accept, ignore with a reason), what they sent
//! (withdraw one after confirming, or every one older than a duration after seeing how many).

use super::pages::{cards, check_csrf, chrome, notice, page, Card, Chrome, CsrfForm, Done};
use super::{render, Session, WebResult};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use rapport_app::App;
use rapport_domain::IgnoreReason;
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/invitations", get(received))
        .route("/invitations/{id}/accept", post(accept))
        .route("/invitations/{id}/ignore", post(ignore))
        .route("/invitations/sent", get(sent))
        .route(
            "/invitations/sent/{id}/withdraw",
            get(withdraw_page).post(withdraw),
        )
        .route(
            "/invitations/sent/withdraw-older",
            get(withdraw_older_page).post(withdraw_older),
        )
}

#[derive(Template)]
#[template(path = "web/received.html")]
struct ReceivedPage {
    chrome: Option<Chrome>,
    tab: &'static str,
    csrf: String,
    notice: Option<&'static str>,
    cards: Vec<Card>,
}

async fn received(
    State(s): State<AppState>,
    session: Session,
    Query(q): Query<Done>,
) -> WebResult<Response> {
    let chrome = chrome(&s.app, &session, "received").await?;
    let list = s.app.received(session.member, page(100)).await?;
    let cards = cards(&s.app, &session, &chrome.me.id, &list.items).await?;
    let page = ReceivedPage {
        tab: "received",
        csrf: session.csrf.clone(),
        chrome: Some(chrome),
        notice: notice(q.done.as_deref()),
        cards,
    };
    Ok(render(StatusCode::OK, &page))
}

async fn accept(
    State(s): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> WebResult<Redirect> {
    check_csrf(&session, &f.csrf)?;
    s.app.accept(session.member, &id).await?;
    Ok(Redirect::to("/invitations?done=accepted"))
}

#[derive(Deserialize)]
pub struct IgnoreForm {
    #[serde(default)]
    csrf: String,
    reason: Option<String>,
}

async fn ignore(
    State(s): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Form(f): Form<IgnoreForm>,
) -> WebResult<Redirect> {
    check_csrf(&session, &f.csrf)?;
    let reason = match f.reason.as_deref() {
        Some("dont_know") => Some(IgnoreReason::DontKnow),
        Some("spam") => Some(IgnoreReason::Spam),
        _ => None,
    };
    s.app.ignore(session.member, &id, reason).await?;
    let done = if reason == Some(IgnoreReason::Spam) {
        "reported"
    } else {
        "ignored"
    };
    Ok(Redirect::to(&format!("/invitations?done={done}")))
}

#[derive(Template)]
#[template(path = "web/sent.html")]
struct SentPage {
    chrome: Option<Chrome>,
    tab: &'static str,
    notice: Option<&'static str>,
    cards: Vec<Card>,
}

async fn sent(
    State(s): State<AppState>,
    session: Session,
    Query(q): Query<Done>,
) -> WebResult<Response> {
    let chrome = chrome(&s.app, &session, "sent").await?;
    let list = s.app.sent(session.member, None, page(100)).await?;
    let cards = cards(&s.app, &session, &chrome.me.id, &list.items).await?;
    let page = SentPage {
        tab: "sent",
        chrome: Some(chrome),
        notice: notice(q.done.as_deref()),
        cards,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Template)]
#[template(path = "web/withdraw.html")]
struct WithdrawPage {
    chrome: Option<Chrome>,
    csrf: String,
    action: String,
    title: String,
    cooldown: String,
    count: Option<u64>,
    older_than: String,
}

/// The re-invite cooldown in words ("3 weeks").
pub(super) fn cooldown_words(app: &App) -> String {
    let days = app.config().reinvite_cooldown.as_secs() / 86_400;
    match days {
        d if d % 7 == 0 && d >= 7 => format!("{} week{}", d / 7, if d == 7 { "" } else { "s" }),
        1 => "1 day".into(),
        d => format!("{d} days"),
    }
}

async fn withdraw_page(
    State(s): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> WebResult<Response> {
    let chrome = chrome(&s.app, &session, "sent").await?;
    let inv = s.app.invitation(session.member, &id).await?;
    if inv.sender.id != chrome.me.id || inv.state != "pending" {
        return Err(rapport_domain::RuleError::NotPending.into());
    }
    let page = WithdrawPage {
        csrf: session.csrf.clone(),
        chrome: Some(chrome),
        action: format!("/invitations/sent/{}/withdraw", inv.id),
        title: format!("Withdraw your invitation to {}?", inv.recipient.name),
        cooldown: cooldown_words(&s.app),
        count: None,
        older_than: String::new(),
    };
    Ok(render(StatusCode::OK, &page))
}

async fn withdraw(
    State(s): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> WebResult<Redirect> {
    check_csrf(&session, &f.csrf)?;
    s.app.withdraw(session.member, &id).await?;
    Ok(Redirect::to("/invitations/sent?done=withdrawn"))
}

#[derive(Deserialize)]
pub struct OlderThan {
    older_than: String,
}

async fn withdraw_older_page(
    State(s): State<AppState>,
    session: Session,
    Query(q): Query<OlderThan>,
) -> WebResult<Response> {
    let chrome = chrome(&s.app, &session, "sent").await?;
    let count = s
        .app
        .bulk_withdraw(session.member, &q.older_than, true)
        .await?
        .count;
    let page = WithdrawPage {
        csrf: session.csrf.clone(),
        chrome: Some(chrome),
        action: "/invitations/sent/withdraw-older".into(),
        title: format!(
            "Withdraw {count} invitation{} sent more than {} ago?",
            if count == 1 { "" } else { "s" },
            humane_duration(&q.older_than)
        ),
        cooldown: cooldown_words(&s.app),
        count: Some(count),
        older_than: q.older_than,
    };
    Ok(render(StatusCode::OK, &page))
}

fn humane_duration(d: &str) -> String {
    let (n, unit) = d.split_at(d.len().saturating_sub(1));
    let word = match unit {
        "d" => "day",
        "w" => "week",
        "h" => "hour",
        _ => return d.to_owned(),
    };
    format!("{n} {word}{}", if n == "1" { "" } else { "s" })
}

#[derive(Deserialize)]
pub struct WithdrawOlderForm {
    #[serde(default)]
    csrf: String,
    older_than: String,
}

async fn withdraw_older(
    State(s): State<AppState>,
    session: Session,
    Form(f): Form<WithdrawOlderForm>,
) -> WebResult<Redirect> {
    check_csrf(&session, &f.csrf)?;
    s.app
        .bulk_withdraw(session.member, &f.older_than, false)
        .await?;
    Ok(Redirect::to("/invitations/sent?done=withdrawn_many"))
}
