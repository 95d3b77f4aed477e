//! The operators' page: the spam reports queue, a member's tier, role, suspension and
//! restriction, webhooks and service keys. Every action is the API's admin use case, so a member who is not an
//! administrator gets the same refusal here as there.

use super::pages::{check_csrf, chrome, notice, Chrome, CsrfForm};
use super::{ago, render, Session, WebResult};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use rapport_app::keys::{NewServiceKey, Operator, ServiceKey};
use rapport_app::views::Report;
use rapport_app::webhooks::{Webhook, EVENT_TYPES};
use rapport_app::AdminUpdate;
use rapport_domain::identity::Scope;
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(admin))
        .route("/admin/reports/{id}", post(resolve))
        .route("/admin/members", post(update_member))
        .route("/admin/restrictions", post(restrict))
        .route("/admin/webhooks", post(create_webhook))
        .route("/admin/webhooks/{id}/delete", post(delete_webhook))
        .route("/admin/keys", post(create_key))
        .route("/admin/keys/{id}/revoke", post(revoke_key))
}

#[derive(Template)]
#[template(path = "web/admin.html")]
struct AdminPage {
    chrome: Option<Chrome>,
    csrf: String,
    notice: Option<&'static str>,
    reports: Vec<(Report, String)>,
    webhooks: Vec<Webhook>,
    event_types: Vec<&'static str>,
    new_secret: Option<String>,
    keys: Vec<ServiceKey>,
    scopes: Vec<&'static str>,
    /// A key just created: its secret, shown only on this page.
    new_key: Option<NewServiceKey>,
}

#[derive(Deserialize)]
pub struct AdminQuery {
    done: Option<String>,
}

/// The admin page: open reports, webhooks, and (after creating one) its secret.
async fn admin_page(
    s: &AppState,
    session: &Session,
    notice: Option<&'static str>,
    new_secret: Option<String>,
) -> WebResult<AdminPage> {
    let chrome = chrome(&s.app, session, "admin").await?;
    let now = s.app.now();
    let reports = s
        .app
        .admin_reports(session.member)
        .await?
        .items
        .into_iter()
        .map(|r| {
            let when = ago(&r.created_at, now);
            (r, when)
        })
        .collect();
    Ok(AdminPage {
        csrf: session.csrf.clone(),
        chrome: Some(chrome),
        notice,
        reports,
        webhooks: s
            .app
            .admin_webhooks(&Operator::Member(session.member))
            .await?,
        event_types: EVENT_TYPES.to_vec(),
        new_secret,
        keys: s.app.admin_keys(Some(session.member)).await?,
        scopes: Scope::ALL.iter().map(|sc| sc.as_str()).collect(),
        new_key: None,
    })
}

async fn admin(
    State(s): State<AppState>,
    session: Session,
    Query(q): Query<AdminQuery>,
) -> WebResult<Response> {
    let page = admin_page(&s, &session, notice(q.done.as_deref()), None).await?;
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub struct ResolveForm {
    #[serde(default)]
    csrf: String,
    action: String,
}

async fn resolve(
    State(s): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Form(f): Form<ResolveForm>,
) -> WebResult<Redirect> {
    check_csrf(&session, &f.csrf)?;
    s.app
        .admin_resolve_report(session.member, &id, &f.action)
        .await?;
    Ok(Redirect::to("/admin?done=resolved"))
}

#[derive(Deserialize)]
pub struct MemberForm {
    #[serde(default)]
    csrf: String,
    member_id: String,
    tier: String,
    role: String,
    suspended: String,
}

/// Empty selects leave a field as it is.
fn chosen(v: String) -> Option<String> {
    Some(v).filter(|v| !v.is_empty())
}

async fn update_member(
    State(s): State<AppState>,
    session: Session,
    Form(f): Form<MemberForm>,
) -> WebResult<Redirect> {
    check_csrf(&session, &f.csrf)?;
    let update = AdminUpdate {
        tier: chosen(f.tier),
        role: chosen(f.role),
        suspended: match f.suspended.as_str() {
            "yes" => Some(true),
            "no" => Some(false),
            _ => None,
        },
    };
    s.app
        .admin_update_member(session.member, f.member_id.trim(), update)
        .await?;
    Ok(Redirect::to("/admin?done=admin_saved"))
}

#[derive(Deserialize)]
pub struct RestrictForm {
    #[serde(default)]
    csrf: String,
    member_id: String,
    /// A date (`2026-12-31`); empty lifts the restriction.
    until: String,
}

async fn restrict(
    State(s): State<AppState>,
    session: Session,
    Form(f): Form<RestrictForm>,
) -> WebResult<Redirect> {
    check_csrf(&session, &f.csrf)?;
    let id = f.member_id.trim();
    if f.until.trim().is_empty() {
        s.app.admin_lift_restriction(session.member, id).await?;
    } else {
        let until = format!("{}T00:00:00Z", f.until.trim());
        s.app.admin_restrict(session.member, id, &until).await?;
    }
    Ok(Redirect::to("/admin?done=admin_saved"))
}

/// The first value of a form's field `name` (empty when absent), for forms with repeated fields.
fn field<'f>(form: &'f [(String, String)], name: &str) -> &'f str {
    form.iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// Every value of a repeated field (checkboxes).
fn values(form: &[(String, String)], name: &str) -> Vec<String> {
    form.iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .collect()
}

async fn create_webhook(
    State(s): State<AppState>,
    session: Session,
    Form(f): Form<Vec<(String, String)>>,
) -> WebResult<Response> {
    check_csrf(&session, field(&f, "csrf"))?;
    let events = values(&f, "events");
    let created = s
        .app
        .admin_create_webhook(
            &Operator::Member(session.member),
            field(&f, "url").trim(),
            &events,
        )
        .await?;
    // The signing secret is shown once, on the page that answers the creation.
    let page = admin_page(&s, &session, None, created.secret).await?;
    Ok(render(StatusCode::CREATED, &page))
}

async fn delete_webhook(
    State(s): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> WebResult<Redirect> {
    check_csrf(&session, &f.csrf)?;
    s.app
        .admin_delete_webhook(&Operator::Member(session.member), &id)
        .await?;
    Ok(Redirect::to("/admin?done=admin_saved"))
}

async fn create_key(
    State(s): State<AppState>,
    session: Session,
    Form(f): Form<Vec<(String, String)>>,
) -> WebResult<Response> {
    check_csrf(&session, field(&f, "csrf"))?;
    let scopes = values(&f, "scopes");
    let created = s
        .app
        .admin_create_key(Some(session.member), field(&f, "name"), &scopes)
        .await?;
    // The secret is shown once, on the page that answers the creation.
    let mut page = admin_page(&s, &session, None, None).await?;
    page.new_key = Some(created);
    Ok(render(StatusCode::CREATED, &page))
}

async fn revoke_key(
    State(s): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> WebResult<Redirect> {
    check_csrf(&session, &f.csrf)?;
    s.app.admin_revoke_key(Some(session.member), &id).await?;
    Ok(Redirect::to("/admin?done=key_revoked"))
}
