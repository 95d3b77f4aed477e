//! The authorisation matrix: every operation of the OpenAPI document (so a new route is covered
//! the day it is added) × five callers: anonymous, a deactivated member, a stranger, a member the
//! target blocked, and an administrator. Each operation points at a real target (Olivia, her
//! pending invitation to Tom with a private note, a webhook, a spam report), and, where it names
//! a member or an invitation, also at an id that names nothing and at a hidden (deactivated)
//! member.
//!
//! What must hold for every cell: no 5xx; anonymous and deactivated callers get `401`; members get
//! `403 forbidden` on admin routes; no answer to a non-admin carries Olivia's or Dora's email or
//! the note; no answer to anyone names Dora, who is hidden; no answer to the blocked member names
//! Olivia; and the blocked member's answers about Olivia are byte for byte the answers about a
//! made-up id and about a hidden member, as are the stranger's about the made-up id and the hidden
//! member.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};

const OLIVIA: &str = "Olivia Quintessence";
const DORA: &str = "Dora Hiddenfield";
const NOTE: &str = "a private note only Tom may read";
const GHOST: &str = "999999";
const WRONG: &str = "not the password at all";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Role {
    Anonymous,
    Deactivated,
    Stranger,
    Blocked,
    Admin,
}

/// What a path parameter or a body's id stands for.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Target {
    /// The real thing: Olivia, her invitation, the webhook, the report.
    Real,
    /// An id that names nothing.
    Ghost,
    /// Dora, who deactivated her account (members only).
    Hidden,
}

struct World {
    olivia: TestMember,
    dora: TestMember,
    invitation: String,
    webhook: String,
    report: String,
}

impl World {
    fn member(&self, t: Target) -> &str {
        match t {
            Target::Real => &self.olivia.id,
            Target::Ghost => GHOST,
            Target::Hidden => &self.dora.id,
        }
    }
}

/// The kind of thing a path names, read from the path itself.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Names {
    Nothing,
    Member,
    Invitation,
    Webhook,
    Report,
}

fn names(path: &str) -> Names {
    if path.contains("/webhooks/{") {
        Names::Webhook
    } else if path.contains("/reports/{") {
        Names::Report
    } else if path.contains("/invitations/{") {
        Names::Invitation
    } else if path.contains('{') || path == "/api/v1/invitations" {
        // `POST /invitations` names its member in the body.
        Names::Member
    } else {
        Names::Nothing
    }
}

/// The operation's request for `target`: concrete path and body.
fn request(
    world: &World,
    method: &Method,
    path: &str,
    role: Role,
    target: Target,
) -> (String, Option<Value>) {
    let id = match names(path) {
        Names::Member | Names::Nothing => world.member(target).to_owned(),
        Names::Invitation if target == Target::Real => world.invitation.clone(),
        Names::Webhook if target == Target::Real => world.webhook.clone(),
        Names::Report if target == Target::Real => world.report.clone(),
        _ => GHOST.to_owned(),
    };
    let concrete: String = path
        .split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                id.as_str()
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/");
    let query = match path {
        "/api/v1/members" | "/api/v1/connections" => "?q=Quintessence",
        _ => "",
    };
    let body = match (method.as_str(), path) {
        ("POST", "/api/v1/auth/signup") => Some(json!({
            "email": format!("matrix.{role:?}@example.com").to_lowercase(),
            "password": PASSWORD,
            "name": "Matrix",
        })),
        ("POST", "/api/v1/auth/login") => {
            Some(json!({"email": world.olivia.email, "password": WRONG}))
        }
        ("POST", "/api/v1/invitations") => Some(json!({"recipient_id": id})),
        ("POST", "/api/v1/invitations/sent/withdraw") => {
            Some(json!({"older_than": "1d", "dry_run": true}))
        }
        ("POST", "/api/v1/invitations/{id}/ignore") => Some(json!({"reason": "dont_know"})),
        ("PATCH", "/api/v1/me") => Some(json!({"headline": "Matrix"})),
        ("DELETE", "/api/v1/me") => Some(json!({"password": WRONG})),
        ("PATCH", "/api/v1/me/settings") => Some(json!({"invitations_from": "everyone"})),
        ("POST", "/api/v1/me/password") => Some(json!({
            "current_password": WRONG,
            "new_password": "another long passphrase",
        })),
        ("POST", "/api/v1/notifications/read") => Some(json!({})),
        ("PATCH", "/api/v1/admin/members/{id}") => Some(json!({"tier": "premium"})),
        ("PUT", "/api/v1/admin/members/{id}/restriction") => {
            Some(json!({"until": "2030-01-01T00:00:00Z", "reason": "matrix"}))
        }
        ("POST", "/api/v1/admin/reports/{id}/resolve") => Some(json!({"action": "dismiss"})),
        ("POST", "/api/v1/admin/webhooks") => {
            Some(json!({"url": "http://127.0.0.1:9/hook", "events": ["invitation.sent"]}))
        }
        _ => None,
    };
    (format!("{concrete}{query}"), body)
}

/// Operations that end the caller's own session run last, deletions after everything else.
fn order(method: &Method, path: &str) -> u8 {
    match path {
        "/api/v1/me/deactivate" | "/api/v1/auth/logout" => 3,
        _ if method == Method::DELETE => 2,
        _ => 1,
    }
}

struct Answer {
    status: u16,
    text: String,
}

async fn call(
    app: &TestApp,
    method: &Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Answer {
    let r = app.request(method.clone(), path, token, body).await;
    let status = r.status().as_u16();
    // A live stream never ends: its status and headers are the answer.
    let text = if path.starts_with("/api/v1/events") && status == 200 {
        String::new()
    } else {
        r.text().await.unwrap()
    };
    Answer { status, text }
}

async fn set_up(app: &TestApp) -> (World, Vec<(Role, String)>) {
    let admin = app.signup_member("Admin").await;
    app.make_admin(&admin.email).await;
    let olivia = app.signup_member(OLIVIA).await;
    let tom = app.signup_member("Tom").await;
    let dora = app.signup_member(DORA).await;
    let stranger = app.signup_member("Stranger").await;
    let blocked = app.signup_member("Blocked").await;
    let leaver = app.signup_member("Leaver").await;
    let mallory = app.signup_member("Mallory").await;

    let r = app
        .send_invitation(&olivia.token, json!({"recipient_id": tom.id, "note": NOTE}))
        .await;
    let invitation = expect_json(r, 201).await["id"].as_str().unwrap().to_owned();
    // Olivia and Dora share a connection with the blocked member's network: Tom.
    app.connect(&tom, &blocked).await;
    app.connect(&olivia, &dora).await;
    let block = format!("/api/v1/blocks/{}", blocked.id);
    expect_empty(
        app.request(Method::PUT, &block, &olivia.token, None).await,
        204,
    )
    .await;
    // A spam report for the admins: Mallory's invitation to Tom.
    let spam = app.invite_ok(&mallory, &tom).await;
    let r = app
        .ignore(&tom.token, &spam, Some(json!({"reason": "spam"})))
        .await;
    expect_empty(r, 204).await;
    let reports = expect_json(
        app.request(Method::GET, "/api/v1/admin/reports", &admin.token, None)
            .await,
        200,
    )
    .await;
    let report = reports["items"][0]["id"].as_str().unwrap().to_owned();
    let hook = json!({"url": "http://127.0.0.1:9/hook", "events": ["invitation.sent"]});
    let r = app
        .request(
            Method::POST,
            "/api/v1/admin/webhooks",
            &admin.token,
            Some(hook),
        )
        .await;
    let webhook = expect_json(r, 201).await["id"].as_str().unwrap().to_owned();
    for hidden in [&dora, &leaver] {
        let r = app
            .request(Method::POST, "/api/v1/me/deactivate", &hidden.token, None)
            .await;
        expect_empty(r, 204).await;
    }
    let callers = vec![
        (Role::Anonymous, ANONYMOUS.to_owned()),
        (Role::Deactivated, leaver.token.clone()),
        (Role::Stranger, stranger.token.clone()),
        (Role::Blocked, blocked.token.clone()),
        (Role::Admin, admin.token.clone()),
    ];
    let world = World {
        olivia,
        dora,
        invitation,
        webhook,
        report,
    };
    (world, callers)
}

#[tokio::test]
async fn every_route_for_every_kind_of_caller_leaks_nothing_and_answers_hidden_like_unknown() {
    let app = TestApp::spawn().await;
    let (world, callers) = set_up(&app).await;
    let doc = app.openapi().await;
    let mut ops: Vec<(Method, String, bool)> = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("operations") {
            let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            ops.push((method, path.clone(), secured));
        }
    }
    ops.sort_by_key(|(m, p, _)| (order(m, p), p.clone(), m.to_string()));
    assert!(
        ops.len() >= 40,
        "only {} operations in the document",
        ops.len()
    );

    let secrets = [world.olivia.email.as_str(), world.dora.email.as_str(), NOTE];
    let mut cells = 0;
    let mut requests = 0;
    for (role, token) in &callers {
        for (method, path, secured) in &ops {
            let label = format!("{role:?} {method} {path}");
            let kind = names(path);
            let targets: &[Target] = match kind {
                Names::Member => &[Target::Real, Target::Ghost, Target::Hidden],
                Names::Nothing => &[Target::Real],
                _ => &[Target::Real, Target::Ghost],
            };
            let mut answers = Vec::new();
            for &target in targets {
                let (concrete, body) = request(&world, method, path, *role, target);
                let a = call(&app, method, &concrete, token, body).await;
                requests += 1;
                let at = format!("{label} ({target:?}: {concrete})");
                assert!(a.status < 500, "{at}: {} {}", a.status, a.text);
                if *role != Role::Admin {
                    for secret in secrets {
                        assert!(
                            !a.text.contains(secret),
                            "{at} leaks {secret:?}: {}",
                            a.text
                        );
                    }
                }
                // Admins manage every account, hidden ones included.
                let managing = *role == Role::Admin && path.starts_with("/api/v1/admin/");
                if !managing {
                    assert!(
                        !a.text.contains(DORA),
                        "{at} names a hidden member: {}",
                        a.text
                    );
                }
                if *role == Role::Blocked {
                    assert!(
                        !a.text.contains(OLIVIA),
                        "{at} names who blocked them: {}",
                        a.text
                    );
                }
                if *secured && matches!(role, Role::Anonymous | Role::Deactivated) {
                    assert_eq!(a.status, 401, "{at}: {}", a.text);
                    assert!(a.text.contains("\"unauthenticated\""), "{at}: {}", a.text);
                }
                if path.starts_with("/api/v1/admin/")
                    && matches!(role, Role::Stranger | Role::Blocked)
                {
                    assert_eq!(a.status, 403, "{at}: {}", a.text);
                    assert!(a.text.contains("\"forbidden\""), "{at}: {}", a.text);
                }
                // The id itself, where an answer repeats it, is set aside.
                let id = format!("\"{}\"", world.member(target));
                answers.push((target, a.status, a.text.replace(&id, "\"ID\"")));
            }
            // Hidden reads as unknown, for the stranger and the blocked member alike; and for
            // the blocked member, so does the one who blocked them.
            if matches!(role, Role::Stranger | Role::Blocked) && kind != Names::Nothing {
                let compared: Vec<_> = answers
                    .iter()
                    .filter(|(t, _, _)| *role == Role::Blocked || *t != Target::Real)
                    .collect();
                for pair in compared.windows(2) {
                    assert_eq!(
                        (pair[0].1, &pair[0].2),
                        (pair[1].1, &pair[1].2),
                        "{label}: {:?} and {:?} answer differently",
                        pair[0].0,
                        pair[1].0
                    );
                }
            }
            cells += 1;
        }
    }
    // Quoted by RELIABILITY.md.
    println!(
        "reliability: authorisation matrix operations={} callers={} cells={cells} requests={requests} leaked=0 5xx=0",
        ops.len(),
        callers.len()
    );
}
