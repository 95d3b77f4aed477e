//! One handler per page and per form. Pages read through the same use cases as the API; forms
//! check the CSRF token, act, and answer with a redirect (post, redirect, get), so a reload never
//! repeats an action.

use super::{ago, degree_label, encode_component, render, Session, WebResult};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use rapport_app::views::{Invitation, Me, Member, MemberSummary};
use rapport_app::{App, PageRequest, SendInput};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/in/{id}", get(profile))
        .route("/in/{id}/mutual", get(mutual))
        .route("/in/{id}/connect", post(connect))
        .route("/in/{id}/remove", post(remove))
        .route("/in/{id}/block", post(block))
        .route("/search", get(search))
        .route("/network", get(network))
        .route("/notifications", get(notifications))
        .route("/notifications/read", post(read_all))
}

/// What every signed-in page shows around its content, and the member it is for.
pub struct Chrome {
    pub me: Me,
    pub csrf: String,
    pub unread: u64,
    pub pending: usize,
    /// Which tab is open.
    pub tab: &'static str,
}

impl Chrome {
    /// "99+" past 99.
    pub fn pending_badge(&self) -> String {
        badge(self.pending as u64)
    }

    pub fn unread_badge(&self) -> String {
        badge(self.unread)
    }

    pub fn admin(&self) -> bool {
        rapport_domain::Role::parse(&self.me.role) == Some(rapport_domain::Role::Admin)
    }
}

fn badge(n: u64) -> String {
    if n > 99 {
        "99+".into()
    } else {
        n.to_string()
    }
}

pub(super) async fn chrome(app: &App, s: &Session, tab: &'static str) -> WebResult<Chrome> {
    Ok(Chrome {
        me: app.me(s.member).await?,
        csrf: s.csrf.clone(),
        unread: app.notifications(s.member, page(1)).await?.unread,
        pending: app.pending_received_count(s.member, 100).await?,
        tab,
    })
}

/// Whether a form's CSRF field is its session's token (compared in constant time): else 403
/// `csrf`.
pub(super) fn check_csrf(s: &Session, sent: &str) -> WebResult<()> {
    use subtle::ConstantTimeEq;
    super::check_csrf_field(bool::from(sent.as_bytes().ct_eq(s.csrf.as_bytes())))
}

pub(super) fn page(n: u32) -> PageRequest {
    PageRequest {
        cursor: None,
        limit: Some(n),
    }
}

/// A notice shown after a form redirected back: only these words, never text from the address.
pub(super) fn notice(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "accepted" => "Invitation accepted. You are now connected.",
        "ignored" => "Invitation ignored. They won't be told.",
        "reported" => "Invitation ignored and reported. Thank you: reports keep the network safe.",
        "withdrawn" => "Invitation withdrawn. They won't be told.",
        "withdrawn_many" => "Invitations withdrawn. They won't be told.",
        "sent" => "Invitation sent.",
        "connected" => "You had an invitation from them too: you are now connected.",
        "removed" => "Connection removed. They won't be told.",
        "blocked" => "Blocked. You won't see each other anywhere on the network.",
        "read" => "All notifications marked as read.",
        "saved" => "Saved.",
        "password" => "Password changed. Every other session was signed out.",
        "unblocked" => "Unblocked. Nothing the block ended comes back.",
        "deactivated" => {
            "Your account is deactivated: nobody sees it. Sign in again to reactivate it."
        }
        "closed" => "Your account is closed and your profile is gone.",
        "resolved" => "Report resolved.",
        "admin_saved" => "Member updated.",
        "key_revoked" => "Key revoked: requests made with it are refused from now on.",
        _ => return None,
    })
}

#[derive(Deserialize)]
pub struct Done {
    pub(super) done: Option<String>,
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub(super) csrf: String,
}

/// A card of the Received or Sent list.
pub struct Card {
    pub id: String,
    pub other_id: String,
    pub other_name: String,
    pub other_headline: String,
    pub degree: &'static str,
    pub mutual: u32,
    pub mutual_names: String,
    pub note: Option<String>,
    pub ago: String,
}

/// The cards of a list of invitations, each about the party who is not the viewer, with that
/// member's degree from the graph index.
pub(super) async fn cards(
    app: &App,
    s: &Session,
    viewer_id: &str,
    items: &[Invitation],
) -> WebResult<Vec<Card>> {
    let others: Vec<&MemberSummary> = items
        .iter()
        .map(|i| {
            if i.sender.id == viewer_id {
                &i.recipient
            } else {
                &i.sender
            }
        })
        .collect();
    let ids: Vec<String> = others.iter().map(|o| o.id.clone()).collect();
    let degrees = app.degrees(s.member, &ids).await?;
    let now = app.now();
    Ok(items
        .iter()
        .zip(others)
        .zip(degrees)
        .map(|((inv, other), degree)| Card {
            id: inv.id.clone(),
            other_id: other.id.clone(),
            other_name: other.name.clone(),
            other_headline: other.headline.clone(),
            degree: degree_label(degree),
            mutual: inv.mutual_connections,
            mutual_names: inv
                .mutual_preview
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            note: inv.note.clone(),
            ago: ago(&inv.created_at, now),
        })
        .collect())
}

/// A member in a list (search, suggestions, network).
pub struct Person {
    pub id: String,
    pub name: String,
    pub headline: String,
    pub location: String,
    pub degree: &'static str,
    pub mutual: u32,
    pub state: &'static str,
}

fn person(m: &Member) -> Person {
    Person {
        id: m.id.clone(),
        name: m.name.clone(),
        headline: m.headline.clone(),
        location: m.location.clone(),
        degree: degree_label(m.relationship.degree),
        mutual: m.relationship.mutual_connections,
        state: m.relationship.state,
    }
}

// ----- home -------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "web/home.html")]
struct HomePage {
    chrome: Option<Chrome>,
    pending: usize,
    quota_remaining: u32,
    quota_limit: u32,
    next_available: Option<String>,
    restricted_until: Option<String>,
    suggestions: Vec<Person>,
}

async fn home(State(s): State<AppState>, session: Session) -> WebResult<Response> {
    let chrome = chrome(&s.app, &session, "home").await?;
    let quota = chrome.me.quota.clone();
    let restriction = chrome.me.restriction.clone();
    let suggestions = s.app.suggestions(session.member, page(12)).await?;
    let page = HomePage {
        pending: chrome.pending,
        chrome: Some(chrome),
        quota_remaining: quota.remaining,
        quota_limit: quota.weekly_limit,
        next_available: quota.next_available_at.map(|t| day(&t)),
        restricted_until: restriction.map(|r| day(&r.until)),
        suggestions: suggestions.items.iter().map(person).collect(),
    };
    Ok(render(StatusCode::OK, &page))
}

/// An RFC 3339 time as a day a person reads ("23 Nov 2026").
pub(super) fn day(rfc3339: &str) -> String {
    let fmt = time::macros::format_description!("[day padding:none] [month repr:short] [year]");
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .ok()
        .and_then(|t| t.format(fmt).ok())
        .unwrap_or_else(|| rfc3339.to_owned())
}

// ----- profiles ---------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "web/profile.html")]
struct ProfilePage {
    chrome: Option<Chrome>,
    csrf: String,
    notice: Option<&'static str>,
    member: Member,
    degree: &'static str,
    mutual_names: String,
    note_max: usize,
    cooldown: String,
    quota_remaining: u32,
}

async fn profile(
    State(s): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Query(q): Query<Done>,
) -> WebResult<Response> {
    let chrome = chrome(&s.app, &session, "").await?;
    let member = s.app.member(session.member, &id).await?;
    let mutual = s
        .app
        .mutual_connections(session.member, &id, page(3))
        .await
        .map(|p| {
            p.items
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let page = ProfilePage {
        quota_remaining: chrome.me.quota.remaining,
        csrf: session.csrf.clone(),
        chrome: Some(chrome),
        notice: notice(q.done.as_deref()),
        degree: degree_label(member.relationship.degree),
        member,
        mutual_names: mutual,
        note_max: s.app.config().note_max_chars,
        cooldown: super::invitations::cooldown_words(&s.app),
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Template)]
#[template(path = "web/mutual.html")]
struct MutualPage {
    chrome: Option<Chrome>,
    member: Member,
    total: u64,
    people: Vec<rapport_app::views::MemberSummary>,
}

/// Every connection the viewer shares with a member.
async fn mutual(
    State(s): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> WebResult<Response> {
    let chrome = chrome(&s.app, &session, "").await?;
    let member = s.app.member(session.member, &id).await?;
    let list = s
        .app
        .mutual_connections(session.member, &id, page(100))
        .await?;
    let page = MutualPage {
        chrome: Some(chrome),
        member,
        total: list.total.unwrap_or(0),
        people: list.items,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub struct ConnectForm {
    #[serde(default)]
    csrf: String,
    note: Option<String>,
    email: Option<String>,
}

async fn connect(
    State(s): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Form(f): Form<ConnectForm>,
) -> WebResult<Redirect> {
    check_csrf(&session, &f.csrf)?;
    let sent = s
        .app
        .send_invitation(
            session.member,
            SendInput {
                recipient_id: id.clone(),
                note: f.note.filter(|n| !n.trim().is_empty()),
                recipient_email: f.email.filter(|e| !e.trim().is_empty()),
            },
        )
        .await?;
    let done = match sent {
        rapport_app::views::Sent::Invitation(_) => "sent",
        rapport_app::views::Sent::Connected(_) => "connected",
    };
    Ok(Redirect::to(&format!(
        "/in/{}?done={done}",
        encode_component(&id)
    )))
}

async fn remove(
    State(s): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> WebResult<Redirect> {
    check_csrf(&session, &f.csrf)?;
    s.app.remove_connection(session.member, &id).await?;
    Ok(Redirect::to(&format!(
        "/in/{}?done=removed",
        encode_component(&id)
    )))
}

async fn block(
    State(s): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> WebResult<Redirect> {
    check_csrf(&session, &f.csrf)?;
    s.app.block(session.member, &id).await?;
    Ok(Redirect::to("/network?done=blocked"))
}

// ----- search and network -----------------------------------------------------------------------

#[derive(Template)]
#[template(path = "web/search.html")]
struct SearchPage {
    chrome: Option<Chrome>,
    q: String,
    degree: String,
    people: Vec<Person>,
    searched: bool,
}

#[derive(Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
    degree: Option<String>,
}

async fn search(
    State(s): State<AppState>,
    session: Session,
    Query(q): Query<SearchQuery>,
) -> WebResult<Response> {
    let chrome = chrome(&s.app, &session, "search").await?;
    let text = q.q.unwrap_or_default();
    let degree = q.degree.unwrap_or_default();
    let searched = !text.trim().is_empty() || matches!(degree.as_str(), "1" | "2");
    let people = if searched {
        let d = Some(degree.as_str()).filter(|d| !d.is_empty());
        s.app
            .search(session.member, Some(text.as_str()), d, page(50))
            .await?
            .items
            .iter()
            .map(person)
            .collect()
    } else {
        Vec::new()
    };
    let page = SearchPage {
        chrome: Some(chrome),
        q: text,
        degree,
        people,
        searched,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Template)]
#[template(path = "web/network.html")]
struct NetworkPage {
    chrome: Option<Chrome>,
    csrf: String,
    notice: Option<&'static str>,
    q: String,
    total: u64,
    people: Vec<(String, String, String, String)>,
}

#[derive(Deserialize)]
pub struct NetworkQuery {
    q: Option<String>,
    done: Option<String>,
}

async fn network(
    State(s): State<AppState>,
    session: Session,
    Query(q): Query<NetworkQuery>,
) -> WebResult<Response> {
    let chrome = chrome(&s.app, &session, "network").await?;
    let text = q.q.unwrap_or_default();
    let filter = Some(text.as_str()).filter(|t| !t.trim().is_empty());
    let list = s.app.connections(session.member, filter, page(100)).await?;
    let now = s.app.now();
    let page = NetworkPage {
        csrf: session.csrf.clone(),
        chrome: Some(chrome),
        notice: notice(q.done.as_deref()),
        q: text,
        total: list.total.unwrap_or(0),
        people: list
            .items
            .iter()
            .map(|c| {
                (
                    c.member.id.clone(),
                    c.member.name.clone(),
                    c.member.headline.clone(),
                    ago(&c.connected_at, now),
                )
            })
            .collect(),
    };
    Ok(render(StatusCode::OK, &page))
}

// ----- notifications ----------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "web/notifications.html")]
struct NotificationsPage {
    chrome: Option<Chrome>,
    csrf: String,
    notice: Option<&'static str>,
    items: Vec<(bool, String, String)>,
}

/// A notification in words, and where it leads.
fn notification_words(n: &rapport_app::views::Notification) -> (String, String) {
    let who = n.actor.as_ref().map_or("Someone", |a| a.name.as_str());
    let link = n
        .actor
        .as_ref()
        .map_or("/".to_owned(), |a| format!("/in/{}", a.id));
    let text = match n.kind {
        "invitation_received" => format!("{who} invited you to connect"),
        "invitation_accepted" => format!("{who} accepted your invitation"),
        "invitation_reminder" => format!("{who} is still waiting for your answer"),
        "invitation_withdrawn" => format!("{who} withdrew an invitation"),
        "restriction_applied" => "Sending invitations is paused for your account".into(),
        "restriction_lifted" => "You can send invitations again".into(),
        other => other.replace('_', " "),
    };
    let link = match n.kind {
        "invitation_received" | "invitation_reminder" => "/invitations".into(),
        "restriction_applied" | "restriction_lifted" => "/".into(),
        _ => link,
    };
    (text, link)
}

async fn notifications(
    State(s): State<AppState>,
    session: Session,
    Query(q): Query<Done>,
) -> WebResult<Response> {
    let chrome = chrome(&s.app, &session, "notifications").await?;
    let list = s.app.notifications(session.member, page(50)).await?;
    let now = s.app.now();
    let items = list
        .items
        .iter()
        .map(|n| {
            let (text, link) = notification_words(n);
            (
                n.read,
                format!("{text} · {}", ago(&n.created_at, now)),
                link,
            )
        })
        .collect();
    let page = NotificationsPage {
        csrf: session.csrf.clone(),
        chrome: Some(chrome),
        notice: notice(q.done.as_deref()),
        items,
    };
    Ok(render(StatusCode::OK, &page))
}

async fn read_all(
    State(s): State<AppState>,
    session: Session,
    Form(f): Form<CsrfForm>,
) -> WebResult<Redirect> {
    check_csrf(&session, &f.csrf)?;
    s.app.mark_read(session.member, None).await?;
    Ok(Redirect::to("/notifications?done=read"))
}
