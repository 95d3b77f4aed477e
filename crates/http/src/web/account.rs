//! The member's own pages: settings (profile, who can invite me, notifications, blocked members,
//! deactivate, close) and stats (numbers and a weekly chart drawn on the server as SVG).

use super::pages::{check_csrf, chrome, notice, Chrome, CsrfForm, Done};
use super::{redirect_with_session, render, Session, WebResult};
use crate::extract::ClientAddr;
use crate::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use rapport_app::notifications::ChannelsInput;
use rapport_app::views::{Me, MemberSummary};
use rapport_app::ProfileInput;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/settings", get(settings))
        .route("/settings/profile", post(save_profile))
        .route("/settings/privacy", post(save_privacy))
        .route("/settings/notifications", post(save_notifications))
        .route("/settings/unblock/{id}", post(unblock))
        .route("/settings/password", post(change_password))
        .route("/settings/deactivate", post(deactivate))
        .route("/settings/close", post(close))
        .route("/stats", get(stats))
}

/// One notification kind's row of the settings form.
pub struct KindRow {
    pub key: &'static str,
    pub label: &'static str,
    pub in_app: bool,
    pub email: &'static str,
}

fn kind_label(kind: &str) -> &'static str {
    match kind {
        "invitation_received" => "Someone invites me",
        "invitation_accepted" => "Someone accepts my invitation",
        "invitation_reminder" => "Reminders of invitations waiting for me",
        "invitation_withdrawn" => "An invitation to me is withdrawn (when the network tells)",
        "restriction_applied" => "Sending is paused for my account",
        "restriction_lifted" => "Sending is possible again",
        _ => "Other",
    }
}

#[derive(Template)]
#[template(path = "web/settings.html")]
struct SettingsPage {
    chrome: Option<Chrome>,
    csrf: String,
    notice: Option<&'static str>,
    me: Me,
    kinds: Vec<KindRow>,
    blocked: Vec<MemberSummary>,
}

async fn settings(
    State(s): State<AppState>,
    session: Session,
    Query(q): Query<Done>,
) -> WebResult<Response> {
    let chrome = chrome(&s.app, &session, "settings").await?;
    let me = chrome.me.clone();
    let kinds = me
        .settings
        .notifications
        .iter()
        .map(|(k, c)| KindRow {
            key: k,
            label: kind_label(k),
            in_app: c.in_app,
            email: c.email,
        })
        .collect();
    let blocked = s.app.blocks(session.member).await?.items;
    let page = SettingsPage {
        csrf: session.csrf.clone(),
        chrome: Some(chrome),
        notice: notice(q.done.as_deref()),
        me,
        kinds,
        blocked,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub struct ProfileForm {
    #[serde(default)]
    csrf: String,
    name: String,
    headline: String,
    company: String,
    location: String,
}

async fn save_profile(
    State(s): State<AppState>,
    session: Session,
    Form(f): Form<ProfileForm>,
) -> WebResult<Redirect> {
    check_csrf(&session, &f.csrf)?;
    s.app
        .update_me(
            session.member,
            ProfileInput {
                name: Some(f.name),
                headline: Some(f.headline),
                company: Some(f.company),
                location: Some(f.location),
            },
        )
        .await?;
    Ok(Redirect::to("/settings?done=saved"))
}

#[derive(Deserialize)]
pub struct PrivacyForm {
    #[serde(default)]
    csrf: String,
    invitations_from: String,
}

async fn save_privacy(
    State(s): State<AppState>,
    session: Session,
    Form(f): Form<PrivacyForm>,
) -> WebResult<Redirect> {
    check_csrf(&session, &f.csrf)?;
    s.app
        .update_settings(session.member, Some(&f.invitations_from), None)
        .await?;
    Ok(Redirect::to("/settings?done=saved"))
}

/// `<kind>.email` selects and `<kind>.in_app` checkboxes (absent when unticked).
async fn save_notifications(
    State(s): State<AppState>,
    session: Session,
    Form(f): Form<HashMap<String, String>>,
) -> WebResult<Redirect> {
    check_csrf(&session, f.get("csrf").map_or("", String::as_str))?;
    let mut changes: BTreeMap<String, ChannelsInput> = BTreeMap::new();
    for (field, value) in &f {
        if let Some(kind) = field.strip_suffix(".email") {
            changes.insert(
                kind.to_owned(),
                ChannelsInput {
                    in_app: Some(f.contains_key(&format!("{kind}.in_app"))),
                    email: Some(value.clone()),
                },
            );
        }
    }
    s.app
        .update_settings(session.member, None, Some(&changes))
        .await?;
    Ok(Redirect::to("/settings?done=saved"))
}

async fn unblock(
    State(s): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> WebResult<Redirect> {
    check_csrf(&session, &f.csrf)?;
    s.app.unblock(session.member, &id).await?;
    Ok(Redirect::to("/settings?done=unblocked"))
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    current_password: String,
    new_password: String,
}

/// Changes the password; this browser gets the new session, every other one is signed out.
async fn change_password(
    State(s): State<AppState>,
    session: Session,
    ClientAddr(client): ClientAddr,
    Form(f): Form<PasswordForm>,
) -> WebResult<Response> {
    check_csrf(&session, &f.csrf)?;
    let token = s
        .app
        .change_password(session.member, &f.current_password, &f.new_password, client)
        .await?;
    Ok(redirect_with_session(
        &s,
        Some(&token),
        "/settings?done=password",
    ))
}

async fn deactivate(
    State(s): State<AppState>,
    session: Session,
    Form(f): Form<CsrfForm>,
) -> WebResult<Response> {
    check_csrf(&session, &f.csrf)?;
    s.app.deactivate(session.member).await?;
    let _ = s.app.logout(&session.token).await;
    Ok(redirect_with_session(&s, None, "/login?done=deactivated"))
}

#[derive(Deserialize)]
pub struct CloseForm {
    #[serde(default)]
    csrf: String,
    password: String,
}

async fn close(
    State(s): State<AppState>,
    session: Session,
    ClientAddr(client): ClientAddr,
    Form(f): Form<CloseForm>,
) -> WebResult<Response> {
    check_csrf(&session, &f.csrf)?;
    s.app
        .close(session.member, &f.password, Some(&session.token), client)
        .await?;
    Ok(redirect_with_session(&s, None, "/login?done=closed"))
}

// ----- stats ------------------------------------------------------------------------------------

/// One bar of the weekly chart, in SVG user units.
pub struct Bar {
    pub x: u32,
    pub y: u32,
    pub height: u32,
    pub class: &'static str,
    pub title: String,
}

pub struct WeekLabel {
    pub x: u32,
    pub text: String,
}

#[derive(Template)]
#[template(path = "web/stats.html")]
struct StatsPage {
    chrome: Option<Chrome>,
    sent: u32,
    accepted: u32,
    closed: u32,
    withdrawn: u32,
    pending: u32,
    rate: String,
    bars: Vec<Bar>,
    labels: Vec<WeekLabel>,
    max: u32,
}

const CHART_HEIGHT: u32 = 160;
const BAR_WIDTH: u32 = 6;
const WEEK_WIDTH: u32 = 32;

async fn stats(State(s): State<AppState>, session: Session) -> WebResult<Response> {
    let chrome = chrome(&s.app, &session, "stats").await?;
    let st = s.app.stats(session.member).await?;
    let max = st
        .weeks
        .iter()
        .flat_map(|w| [w.sent, w.accepted, w.closed, w.withdrawn])
        .max()
        .unwrap_or(0)
        .max(1);
    let mut bars = Vec::new();
    let mut labels = Vec::new();
    for (i, w) in st.weeks.iter().enumerate() {
        let x0 = 40 + i as u32 * WEEK_WIDTH;
        for (j, (value, class, what)) in [
            (w.sent, "sent", "sent"),
            (w.accepted, "accepted", "accepted"),
            (w.closed, "closed", "closed"),
            (w.withdrawn, "withdrawn", "withdrawn"),
        ]
        .into_iter()
        .enumerate()
        {
            let height = value * CHART_HEIGHT / max;
            bars.push(Bar {
                x: x0 + j as u32 * BAR_WIDTH,
                y: 10 + CHART_HEIGHT - height,
                height,
                class,
                title: format!("week of {}: {value} {what}", w.week_start),
            });
        }
        if i % 2 == 0 {
            labels.push(WeekLabel {
                x: x0,
                text: w.week_start.get(5..10).unwrap_or_default().to_owned(),
            });
        }
    }
    let page = StatsPage {
        chrome: Some(chrome),
        sent: st.sent,
        accepted: st.accepted,
        closed: st.closed,
        withdrawn: st.withdrawn,
        pending: st.pending,
        rate: st
            .acceptance_rate
            .map_or("—".into(), |r| format!("{:.0} %", r * 100.0)),
        bars,
        labels,
        max,
    };
    Ok(render(StatusCode::OK, &page))
}
