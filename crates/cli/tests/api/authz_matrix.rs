//! The authorisation matrix: every operation of the OpenAPI document (so a new route is covered
//! the day it is added) × every kind of caller: anonymous, a deactivated member, a revoked service
//! key, a stranger, a member the target blocked, a service key of each scope and one with them all
//! (acting, on the members' routes, for a member of its own through `Rapport-Act-As`), and an
//! administrator. Each operation points at a real target (Olivia, her pending invitation to Tom
//! with a private note, a webhook, a spam report, a service key, Olivia's community id), and,
//! where it names a member or an invitation, also at an id that names nothing and at a hidden
//! (deactivated) member.
//!
//! What must hold for every cell: no 5xx; anonymous and deactivated callers and revoked keys get
//! `401`; members get `403 forbidden` on admin routes; keys get `403 forbidden` on what only
//! administrators do, `403 insufficient_scope` wherever their scopes do not reach, and, where they
//! do, no refusal of the key itself (and each scope answers 2xx somewhere); no answer to a
//! non-admin carries Olivia's or Dora's email or the note, unless it is a key reading members by
//! their community ids; no answer to anyone names Dora, who is hidden, except to those who manage
//! members; no answer to the blocked member names Olivia; and the blocked member's answers about
//! Olivia are byte for byte the answers about a made-up id and about a hidden member, as are the
//! stranger's and every key's about the made-up id and the hidden member (the community's own ids
//! aside: its systems read the members they deactivated).
//!
//! A little over 600 lines: the routes' access, the targets and callers, and the checks of each
//! cell are one table read together; splitting them would scatter the rule a cell is held to.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};

const OLIVIA: &str = "Olivia Quintessence";
const DORA: &str = "Dora Hiddenfield";
const NOTE: &str = "a private note only Tom may read";
const GHOST: &str = "999999";
const WRONG: &str = "not the password at all";
const OLIVIA_EXT: &str = "olivia-community-id";
const DORA_EXT: &str = "dora-community-id";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Role {
    Anonymous,
    Deactivated,
    RevokedKey,
    Stranger,
    Blocked,
    /// A service key with these scopes.
    Key(Scopes),
    Admin,
}

impl Role {
    /// The role as letters and digits only (for an email address).
    fn slug(self) -> String {
        format!("{self:?}")
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_lowercase()
    }
}

/// The scopes of a key caller: one each, or all of them.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Scopes {
    MembersRead,
    MembersWrite,
    InvitationsAct,
    NetworkRead,
    WebhooksManage,
    All,
}

impl Scopes {
    const EVERY: [Scopes; 6] = [
        Scopes::MembersRead,
        Scopes::MembersWrite,
        Scopes::InvitationsAct,
        Scopes::NetworkRead,
        Scopes::WebhooksManage,
        Scopes::All,
    ];

    fn names(self) -> Vec<&'static str> {
        match self {
            Scopes::MembersRead => vec!["members:read"],
            Scopes::MembersWrite => vec!["members:write"],
            Scopes::InvitationsAct => vec!["invitations:act"],
            Scopes::NetworkRead => vec!["network:read"],
            Scopes::WebhooksManage => vec!["webhooks:manage"],
            Scopes::All => vec![
                "members:read",
                "members:write",
                "invitations:act",
                "network:read",
                "webhooks:manage",
            ],
        }
    }

    fn open(self, scope: &str) -> bool {
        self.names().contains(&scope)
    }
}

/// Who may call an operation, as far as service keys are concerned.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Access {
    /// Anyone (sign-up, sign-in, health).
    Public,
    /// A signed-in member, or a key with `invitations:act` acting for one.
    Member,
    /// A signed-in member's own (signing out, deactivating, closing, exporting, the password):
    /// a key acting for them is refused, whatever its scopes.
    OwnAccount,
    /// An administrator, or a key with this scope.
    Scope(&'static str),
    /// A signed-in administrator only: no key, whatever its scopes.
    AdminOnly,
}

/// Who may call `method path`. A new administrators' route is `AdminOnly` until a scope is said
/// to open it here.
fn access(method: &Method, path: &str, secured: bool) -> Access {
    if !secured {
        Access::Public
    } else if path.starts_with("/api/v1/admin/webhooks") {
        Access::Scope("webhooks:manage")
    } else if path.starts_with("/api/v1/admin/members/by-external-id/") {
        Access::Scope(if method == Method::GET {
            "members:read"
        } else {
            "members:write"
        })
    } else if path == "/api/v1/admin/relationship" {
        Access::Scope("network:read")
    } else if path.starts_with("/api/v1/admin/") {
        Access::AdminOnly
    } else if matches!(
        (method.as_str(), path),
        ("POST", "/api/v1/auth/logout")
            | ("POST", "/api/v1/me/password")
            | ("POST", "/api/v1/me/deactivate")
            | ("DELETE", "/api/v1/me")
            | ("GET", "/api/v1/me/export")
    ) {
        Access::OwnAccount
    } else {
        Access::Member
    }
}

/// One caller of the matrix: who, the bearer they send, and for a key, the member it acts for on
/// the members' routes.
struct Caller {
    role: Role,
    token: String,
    acts_for: Option<String>,
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
    tom: TestMember,
    invitation: String,
    webhook: String,
    report: String,
    key: String,
}

impl World {
    fn member(&self, t: Target) -> &str {
        match t {
            Target::Real => &self.olivia.id,
            Target::Ghost => GHOST,
            Target::Hidden => &self.dora.id,
        }
    }

    /// The community's id of the member `t` stands for.
    fn external(&self, t: Target) -> &str {
        match t {
            Target::Real => OLIVIA_EXT,
            Target::Ghost => GHOST,
            Target::Hidden => DORA_EXT,
        }
    }
}

/// The kind of thing a path names, read from the path itself.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Names {
    Nothing,
    Member,
    /// A member, by the community's id of them.
    External,
    Invitation,
    Webhook,
    Report,
    Key,
}

fn names(path: &str) -> Names {
    if path.contains("/webhooks/{") {
        Names::Webhook
    } else if path.contains("/reports/{") {
        Names::Report
    } else if path.contains("/invitations/{") {
        Names::Invitation
    } else if path.contains("/keys/{") {
        Names::Key
    } else if path.contains("/by-external-id/{") {
        Names::External
    } else if path.contains('{')
        || path == "/api/v1/invitations"
        || path == "/api/v1/admin/relationship"
    {
        // `POST /invitations` names its member in the body, the relationship in its query.
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
        Names::External => world.external(target).to_owned(),
        Names::Invitation if target == Target::Real => world.invitation.clone(),
        Names::Webhook if target == Target::Real => world.webhook.clone(),
        Names::Report if target == Target::Real => world.report.clone(),
        Names::Key if target == Target::Real => world.key.clone(),
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
        "/api/v1/members" | "/api/v1/connections" => "?q=Quintessence".to_owned(),
        // How Tom stands to the member.
        "/api/v1/admin/relationship" => format!("?from={}&to={id}", world.tom.id),
        _ => String::new(),
    };
    let body = match (method.as_str(), path) {
        ("POST", "/api/v1/auth/signup") => Some(json!({
            "email": format!("matrix.{}@example.com", role.slug()),
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
        ("POST", "/api/v1/admin/keys") => {
            Some(json!({"name": "matrix", "scopes": ["network:read"]}))
        }
        // Olivia as she is: unchanged under her own id, her address taken under any other.
        ("PUT", "/api/v1/admin/members/by-external-id/{external_id}") => {
            Some(json!({"email": world.olivia.email, "name": OLIVIA}))
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
    acts_for: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let headers: Vec<(&str, &str)> = acts_for
        .map(|who| ("rapport-act-as", who))
        .into_iter()
        .collect();
    let r = app
        .request_with(method.clone(), path, token, &headers, body)
        .await;
    let status = r.status().as_u16();
    // A live stream never ends: its status and headers are the answer.
    let text = if path.starts_with("/api/v1/events") && status == 200 {
        String::new()
    } else {
        r.text().await.unwrap()
    };
    Answer { status, text }
}

/// `admin` creates a service key with `scopes`; returns its id and secret.
async fn create_key(app: &TestApp, admin: &TestMember, scopes: &[&str]) -> (String, String) {
    let body = json!({"name": "matrix", "scopes": scopes});
    let r = app
        .request(Method::POST, "/api/v1/admin/keys", &admin.token, Some(body))
        .await;
    let v = expect_json(r, 201).await;
    (
        v["id"].as_str().unwrap().to_owned(),
        v["secret"].as_str().unwrap().to_owned(),
    )
}

async fn set_up(app: &TestApp) -> (World, Vec<Caller>) {
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
    // Olivia and Dora carry community ids (given in the store: provisioning never takes over a
    // member who signed up with a password).
    for (ext, m) in [(OLIVIA_EXT, &olivia), (DORA_EXT, &dora)] {
        app.link_community_id(&m.id, ext).await;
    }
    // A key for administrators to revoke, and one revoked already.
    let (key, _) = create_key(app, &admin, &["network:read"]).await;
    let (revoked, revoked_secret) = create_key(app, &admin, &["members:read"]).await;
    let path = format!("/api/v1/admin/keys/{revoked}");
    expect_empty(
        app.request(Method::DELETE, &path, &admin.token, None).await,
        204,
    )
    .await;
    // Every key caller acts for a member of its own, a stranger to Olivia (whether it may act at
    // all is its scopes' to say).
    let mut keys = Vec::new();
    for scopes in Scopes::EVERY {
        let role = Role::Key(scopes);
        let (_, secret) = create_key(app, &admin, &scopes.names()).await;
        let agent = app.signup_member(&format!("Agent {}", role.slug())).await;
        keys.push(Caller {
            role,
            token: secret,
            acts_for: Some(agent.id),
        });
    }
    for hidden in [&dora, &leaver] {
        let r = app
            .request(Method::POST, "/api/v1/me/deactivate", &hidden.token, None)
            .await;
        expect_empty(r, 204).await;
    }
    let member = |role, token: &str| Caller {
        role,
        token: token.to_owned(),
        acts_for: None,
    };
    let mut callers = vec![
        member(Role::Anonymous, ANONYMOUS),
        member(Role::Deactivated, &leaver.token),
        member(Role::RevokedKey, &revoked_secret),
        member(Role::Stranger, &stranger.token),
        member(Role::Blocked, &blocked.token),
    ];
    callers.extend(keys);
    callers.push(member(Role::Admin, &admin.token));
    let world = World {
        olivia,
        dora,
        tom,
        invitation,
        webhook,
        report,
        key,
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
    // (key caller, scope): a 2xx the scope opened, so that the matrix shows keys at work and not
    // only refused.
    let mut worked = std::collections::HashSet::new();
    for caller in &callers {
        let role = caller.role;
        for (method, path, secured) in &ops {
            let label = format!("{role:?} {method} {path}");
            let kind = names(path);
            let access = access(method, path, *secured);
            // A key names the member it acts for on the members' routes only: administrators'
            // routes refuse the header.
            let acts_for = caller
                .acts_for
                .as_deref()
                .filter(|_| matches!(access, Access::Member | Access::OwnAccount));
            // Keys reading or provisioning members by their community ids manage them: emails
            // and deactivated members are theirs to read.
            let manages_members = match (role, access) {
                (Role::Key(scopes), Access::Scope(scope)) => {
                    scopes.open(scope) && path.contains("/by-external-id/")
                }
                _ => false,
            };
            let targets: &[Target] = match kind {
                Names::Member | Names::External => &[Target::Real, Target::Ghost, Target::Hidden],
                Names::Nothing => &[Target::Real],
                _ => &[Target::Real, Target::Ghost],
            };
            let mut answers = Vec::new();
            for &target in targets {
                let (concrete, body) = request(&world, method, path, role, target);
                let a = call(&app, method, &concrete, &caller.token, acts_for, body).await;
                requests += 1;
                let at = format!("{label} ({target:?}: {concrete})");
                assert!(a.status < 500, "{at}: {} {}", a.status, a.text);
                if role != Role::Admin && !manages_members {
                    for secret in secrets {
                        assert!(
                            !a.text.contains(secret),
                            "{at} leaks {secret:?}: {}",
                            a.text
                        );
                    }
                }
                // Admins manage every account, hidden ones included.
                let managing =
                    (role == Role::Admin && path.starts_with("/api/v1/admin/")) || manages_members;
                if !managing {
                    assert!(
                        !a.text.contains(DORA),
                        "{at} names a hidden member: {}",
                        a.text
                    );
                }
                if role == Role::Blocked {
                    assert!(
                        !a.text.contains(OLIVIA),
                        "{at} names who blocked them: {}",
                        a.text
                    );
                }
                if *secured
                    && matches!(role, Role::Anonymous | Role::Deactivated | Role::RevokedKey)
                {
                    assert_eq!(a.status, 401, "{at}: {}", a.text);
                    assert!(a.text.contains("\"unauthenticated\""), "{at}: {}", a.text);
                }
                if path.starts_with("/api/v1/admin/")
                    && matches!(role, Role::Stranger | Role::Blocked)
                {
                    assert_eq!(a.status, 403, "{at}: {}", a.text);
                    assert!(a.text.contains("\"forbidden\""), "{at}: {}", a.text);
                }
                if let Role::Key(scopes) = role {
                    check_key_cell(&at, scopes, access, &a);
                    match scope_needed(access) {
                        Some(scope) if scopes.open(scope) && (200..300).contains(&a.status) => {
                            worked.insert((format!("{role:?}"), scope));
                        }
                        _ => {}
                    }
                }
                // The id itself, where an answer repeats it, is set aside.
                let id = format!("\"{}\"", world.member(target));
                answers.push((target, a.status, a.text.replace(&id, "\"ID\"")));
            }
            // Hidden reads as unknown, for the stranger and the blocked member alike; and for
            // the blocked member, so does the one who blocked them. Keys, acting for a member or
            // reading the network, read hidden as unknown too.
            let compares = match role {
                Role::Stranger | Role::Blocked => true,
                Role::Key(_) => !manages_members,
                _ => false,
            };
            if compares && kind != Names::Nothing {
                let compared: Vec<_> = answers
                    .iter()
                    .filter(|(t, _, _)| role == Role::Blocked || *t != Target::Real)
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
    for caller in &callers {
        if let Role::Key(scopes) = caller.role {
            for scope in scopes.names() {
                let role = format!("{:?}", caller.role);
                assert!(
                    worked.contains(&(role.clone(), scope)),
                    "{role}: no route answered 2xx to its scope {scope}"
                );
            }
        }
    }
    // Quoted by RELIABILITY.md.
    println!(
        "reliability: authorisation matrix operations={} callers={} cells={cells} requests={requests} leaked=0 5xx=0",
        ops.len(),
        callers.len()
    );
}

/// The scope a key needs for an operation (`None`: anyone, or no key, may call it).
fn scope_needed(access: Access) -> Option<&'static str> {
    match access {
        Access::Member => Some("invitations:act"),
        Access::Scope(scope) => Some(scope),
        Access::Public | Access::AdminOnly | Access::OwnAccount => None,
    }
}

/// What a service key with `scopes` must get: `403 forbidden` on what only administrators do,
/// `403 insufficient_scope` where its scopes do not reach, and, where they do, no refusal of the
/// key itself (`unauthenticated`, `forbidden`, `insufficient_scope`, or `malformed` for its
/// `Rapport-Act-As`).
fn check_key_cell(at: &str, scopes: Scopes, access: Access, a: &Answer) {
    let opened = match access {
        Access::Public => return,
        Access::AdminOnly | Access::OwnAccount => {
            assert_eq!(
                a.status, 403,
                "{at}: a key on an administrators' route or a member's own: {}",
                a.text
            );
            assert!(a.text.contains("\"forbidden\""), "{at}: {}", a.text);
            return;
        }
        Access::Member => scopes.open("invitations:act"),
        Access::Scope(scope) => scopes.open(scope),
    };
    if opened {
        // (A 401 may still come from the route itself: a wrong current password.)
        for refusal in [
            "\"unauthenticated\"",
            "\"insufficient_scope\"",
            "\"forbidden\"",
            "\"malformed\"",
        ] {
            assert!(!a.text.contains(refusal), "{at}: {}", a.text);
        }
    } else {
        assert_eq!(a.status, 403, "{at}: {}", a.text);
        assert!(
            a.text.contains("\"insufficient_scope\""),
            "{at}: {}",
            a.text
        );
    }
}
