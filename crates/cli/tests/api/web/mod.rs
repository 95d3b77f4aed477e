//! The web pages over real HTTP, as a browser without JavaScript uses them: forms, redirects,
//! the session cookie, CSRF tokens, escaping, and the security headers.
//!
//! A little over 600 lines: the `Browser` helper and the end-to-end journeys through the pages it
//! drives belong together; the session and cookie attacks are in [`sessions`].

use crate::helpers::*;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{redirect, Client, Method, Response};

mod keys;
mod sessions;

/// A browser of one member: keeps their session cookie (and the pre-session cookie the sign-in
/// forms set), follows no redirect by itself.
struct Browser {
    base: String,
    client: Client,
    cookie: Option<String>,
    presession: Option<String>,
}

/// The CSRF token in a page's first form.
fn form_csrf(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token")
        + 19;
    html[at..at + html[at..].find('"').unwrap()].to_owned()
}

impl Browser {
    fn new(app: &TestApp) -> Browser {
        Browser {
            base: app.address.clone(),
            client: Client::builder()
                .redirect(redirect::Policy::none())
                .build()
                .unwrap(),
            cookie: None,
            presession: None,
        }
    }

    /// The `Cookie` header this browser sends, if any.
    fn cookies(&self) -> Option<String> {
        let all: Vec<&str> = [&self.presession, &self.cookie]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        (!all.is_empty()).then(|| all.join("; "))
    }

    /// Keeps what the answer's `Set-Cookie` headers set (an empty value deletes).
    fn keep_cookies(&mut self, r: &Response) {
        for set in r.headers().get_all(SET_COOKIE) {
            let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
            let value = (!pair.ends_with('=')).then_some(pair.clone());
            if pair.contains("rapport_presession=") {
                self.presession = value;
            } else {
                self.cookie = value;
            }
        }
    }

    async fn get(&self, path: &str) -> Response {
        let mut req = self.client.get(format!("{}{path}", self.base));
        if let Some(c) = self.cookies() {
            req = req.header(COOKIE, c);
        }
        req.send().await.unwrap()
    }

    async fn page(&self, path: &str) -> String {
        let r = self.get(path).await;
        assert_eq!(r.status(), 200, "GET {path}");
        r.text().await.unwrap()
    }

    /// Posts a form. Sign-in and sign-up forms are opened first, as a browser does, for their
    /// pre-session cookie and CSRF token (unless the test sends its own `csrf`).
    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Response {
        let mut form: Vec<(String, String)> = form
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if (path == "/login" || path == "/signup") && !form.iter().any(|(k, _)| k == "csrf") {
            let r = self.get(path).await;
            self.keep_cookies(&r);
            form.push(("csrf".into(), form_csrf(&r.text().await.unwrap())));
        }
        self.post_as_is(path, &form).await
    }

    /// Posts a form exactly as given.
    async fn post_as_is(&mut self, path: &str, form: &[(String, String)]) -> Response {
        let mut req = self.client.post(format!("{}{path}", self.base)).form(form);
        if let Some(c) = self.cookies() {
            req = req.header(COOKIE, c);
        }
        let r = req.send().await.unwrap();
        self.keep_cookies(&r);
        r
    }

    /// The CSRF token a page's forms carry.
    async fn csrf(&self) -> String {
        form_csrf(&self.page("/").await)
    }

    async fn signup(app: &TestApp, name: &str, email: &str) -> Browser {
        let mut b = Browser::new(app);
        let r = b
            .post(
                "/signup",
                &[
                    ("name", name),
                    ("email", email),
                    ("password", PASSWORD),
                    ("headline", ""),
                    ("company", ""),
                ],
            )
            .await;
        assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
        b
    }
}

/// `text` as the pages' templates escape it.
fn escaped(text: &str) -> String {
    text.replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

fn location(r: &Response) -> String {
    r.headers()[LOCATION].to_str().unwrap().to_owned()
}

/// The id of the first invitation card of a list page.
fn first_invitation(html: &str) -> String {
    let at = html.find("data-invitation-id=\"").expect("a card") + 20;
    html[at..at + html[at..].find('"').unwrap()].to_owned()
}

fn member_id(html: &str) -> String {
    let at = html.find("class=\"me\" href=\"/in/").unwrap() + 21;
    html[at..at + html[at..].find('"').unwrap()].to_owned()
}

#[tokio::test]
async fn signing_up_on_the_page_starts_a_safe_session_and_every_page_is_locked_down() {
    let app = TestApp::spawn().await;
    let mut ada = Browser::new(&app);
    let r = ada
        .post(
            "/signup",
            &[
                ("name", "Ada Lovelace"),
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("headline", "Analyst"),
                ("company", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/");
    let cookie = r.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    for flag in ["rapport_session=", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http here: {cookie}");

    let home = ada.get("/").await;
    let csp = header(&home, "content-security-policy");
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(header(&home, "x-content-type-options"), "nosniff");
    assert_eq!(header(&home, "referrer-policy"), "same-origin");
    let html = home.text().await.unwrap();
    assert!(html.contains("Ada Lovelace") && html.contains("People you may know"));
    assert!(!html.contains("<script>"), "no inline script");

    // Without a session a page sends to sign-in and back; a foreign `next` is ignored.
    let stranger = Browser::new(&app);
    let r = stranger.get("/invitations/sent").await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/login?next=/invitations/sent");
    let mut again = Browser::new(&app);
    let r = again
        .post(
            "/login",
            &[
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("next", "//evil.example/x"),
            ],
        )
        .await;
    assert_eq!(location(&r), "/");
    let mut wrong = Browser::new(&app);
    let r = wrong
        .post(
            "/login",
            &[
                ("email", "ada@example.com"),
                ("password", "not the password"),
                ("next", "/"),
            ],
        )
        .await;
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("role=\"alert\""));

    // Signing out ends the session: the old cookie opens nothing.
    let csrf = ada.csrf().await;
    let old = ada.cookie.clone();
    let r = ada.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(location(&r), "/login");
    ada.cookie = old;
    assert_eq!(ada.get("/").await.status(), 303);
}

#[tokio::test]
async fn invite_accept_and_withdraw_through_the_pages_with_notes_shown_as_text() {
    let app = TestApp::spawn().await;
    let mut ada = Browser::signup(&app, "Ada", "ada@example.com").await;
    let mut bob = Browser::signup(&app, "Bob", "bob@example.com").await;
    let mut cy = Browser::signup(&app, "Cy", "cy@example.com").await;
    let bob_id = member_id(&bob.page("/").await);
    let cy_id = member_id(&cy.page("/").await);
    let ada_csrf = ada.csrf().await;

    // Ada connects with Bob, with a note that tries to run a script.
    let profile = ada.page(&format!("/in/{bob_id}")).await;
    assert!(profile.contains("Connect") && profile.contains("maxlength=\"300\""));
    let note = "Hi <script>alert(1)</script> & welcome";
    let r = ada
        .post(
            &format!("/in/{bob_id}/connect"),
            &[("csrf", &ada_csrf), ("note", note)],
        )
        .await;
    assert_eq!(location(&r), format!("/in/{bob_id}?done=sent"));
    assert!(ada.page(&location(&r)).await.contains("Invitation sent."));

    let inbox = bob.page("/invitations").await;
    assert!(inbox.contains(&escaped(note)), "{inbox}");
    assert!(
        !inbox.contains("<script>alert"),
        "the note is text, never markup"
    );
    assert!(inbox.contains("I don't know this person"));
    assert!(inbox.contains("Report as spam"));
    let inv = first_invitation(&inbox);

    // A form without the session's token is refused and changes nothing.
    let r = bob
        .post(&format!("/invitations/{inv}/accept"), &[("csrf", "forged")])
        .await;
    assert_eq!(r.status(), 403);
    assert!(bob
        .page("/invitations")
        .await
        .contains(&format!("data-invitation-id=\"{inv}\"")));
    let bob_csrf = bob.csrf().await;
    let r = bob
        .post(
            &format!("/invitations/{inv}/accept"),
            &[("csrf", &bob_csrf)],
        )
        .await;
    assert_eq!(location(&r), "/invitations?done=accepted");
    assert!(bob
        .page("/invitations?done=accepted")
        .await
        .contains("You are now connected"));
    assert!(ada
        .page(&format!("/in/{bob_id}"))
        .await
        .contains("Connected"));
    assert!(ada.page("/network").await.contains("1 connection"));
    // Cy connects with Bob too: Cy's view of Ada links their mutual connection, listed in full.
    let cy_csrf = cy.csrf().await;
    cy.post(
        &format!("/in/{bob_id}/connect"),
        &[("csrf", &cy_csrf), ("note", "")],
    )
    .await;
    let inv = first_invitation(&bob.page("/invitations").await);
    bob.post(
        &format!("/invitations/{inv}/accept"),
        &[("csrf", &bob_csrf)],
    )
    .await;
    let ada_id = member_id(&ada.page("/").await);
    let profile = cy.page(&format!("/in/{ada_id}")).await;
    let link = format!("href=\"/in/{ada_id}/mutual\">1 mutual connection</a>: Bob");
    assert!(profile.contains(&link), "{profile}");
    let mutual = cy.page(&format!("/in/{ada_id}/mutual")).await;
    assert!(
        mutual.contains("1 mutual connection with") && mutual.contains(&format!("/in/{bob_id}"))
    );

    // Ada invites Cy, then withdraws after reading what it means; Cy's inbox has nothing.
    ada.post(
        &format!("/in/{cy_id}/connect"),
        &[("csrf", &ada_csrf), ("note", "")],
    )
    .await;
    assert!(cy.page("/invitations").await.contains("data-invitation-id"));
    let sent = ada.page("/invitations/sent").await;
    assert!(sent.contains("Sent just now"), "{sent}");
    let inv = first_invitation(&sent);
    let confirm = ada.page(&format!("/invitations/sent/{inv}/withdraw")).await;
    for words in ["won't be told", "for 3 weeks", "not given back"] {
        assert!(confirm.contains(words), "{words}: {confirm}");
    }
    let r = ada
        .post(
            &format!("/invitations/sent/{inv}/withdraw"),
            &[("csrf", &ada_csrf)],
        )
        .await;
    assert_eq!(location(&r), "/invitations/sent?done=withdrawn");
    assert!(!cy.page("/invitations").await.contains("data-invitation-id"));
    // The cooldown shows on the profile as a refusal in plain words when Ada tries again.
    let r = ada
        .post(
            &format!("/in/{cy_id}/connect"),
            &[("csrf", &ada_csrf), ("note", "")],
        )
        .await;
    assert_eq!(r.status(), 429);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Not right now") && html.contains("You can try again on "),
        "{html}"
    );
}

#[tokio::test]
async fn ignoring_as_spam_bulk_withdrawal_search_and_notifications_work_from_the_pages() {
    let app = TestApp::spawn().await;
    let mut ada = Browser::signup(&app, "Ada", "ada@example.com").await;
    let mut bob = Browser::signup(&app, "Bob Builder", "bob@example.com").await;
    let cy = app.signup_member("Cy Builder").await;
    let bob_id = member_id(&bob.page("/").await);
    let ada_csrf = ada.csrf().await;
    ada.post(
        &format!("/in/{bob_id}/connect"),
        &[("csrf", &ada_csrf), ("note", "")],
    )
    .await;
    ada.post(
        &format!("/in/{}/connect", cy.id),
        &[("csrf", &ada_csrf), ("note", "")],
    )
    .await;

    // Bob sees a notification, and reports Ada's invitation as spam.
    assert!(bob
        .page("/notifications")
        .await
        .contains("Ada invited you to connect"));
    let inbox = bob.page("/invitations").await;
    let inv = first_invitation(&inbox);
    let bob_csrf = bob.csrf().await;
    let r = bob
        .post(
            &format!("/invitations/{inv}/ignore"),
            &[("csrf", &bob_csrf), ("reason", "spam")],
        )
        .await;
    assert_eq!(location(&r), "/invitations?done=reported");
    let r = bob
        .post("/notifications/read", &[("csrf", &bob_csrf)])
        .await;
    assert_eq!(location(&r), "/notifications?done=read");

    // Ada's bulk withdrawal says how many first; nothing is older than a week yet.
    let review = ada
        .page("/invitations/sent/withdraw-older?older_than=7d")
        .await;
    assert!(
        review.contains("Withdraw 0 invitations sent more than 7 days ago?"),
        "{review}"
    );
    app.advance(8 * DAY);
    let review = ada
        .page("/invitations/sent/withdraw-older?older_than=7d")
        .await;
    assert!(
        review.contains("Withdraw 1 invitation sent more than 7 days ago?"),
        "{review}"
    );
    let r = ada
        .post(
            "/invitations/sent/withdraw-older",
            &[("csrf", &ada_csrf), ("older_than", "7d")],
        )
        .await;
    assert_eq!(location(&r), "/invitations/sent?done=withdrawn_many");
    assert!(!ada
        .page("/invitations/sent")
        .await
        .contains("data-invitation-id"));

    // Search finds by name; a query with markup is shown back as text.
    let found = ada.page("/search?q=builder").await;
    assert!(found.contains("Bob Builder") && found.contains("Cy Builder"));
    let odd = ada.page("/search?q=%3Cb%3Ebold%3C%2Fb%3E").await;
    let shown = format!("value=\"{}\"", escaped("<b>bold</b>"));
    assert!(odd.contains(&shown), "the query is escaped");
}

#[tokio::test]
async fn settings_stats_and_account_life_cycle_from_the_pages() {
    let app = TestApp::spawn().await;
    let mut ada = Browser::signup(&app, "Ada", "ada@example.com").await;
    let bob = app.signup_member("Bob").await;
    let csrf = ada.csrf().await;

    // Profile, privacy and notification preferences are saved and shown again.
    let r = ada
        .post(
            "/settings/profile",
            &[
                ("csrf", &csrf),
                ("name", "Ada King"),
                ("headline", "Analyst <b>"),
                ("company", "Engines"),
                ("location", "London"),
            ],
        )
        .await;
    assert_eq!(location(&r), "/settings?done=saved");
    let r = ada
        .post(
            "/settings/privacy",
            &[("csrf", &csrf), ("invitations_from", "second_degree")],
        )
        .await;
    assert_eq!(location(&r), "/settings?done=saved");
    let r = ada
        .post(
            "/settings/notifications",
            &[
                ("csrf", &csrf),
                ("invitation_received.email", "weekly"),
                ("invitation_accepted.in_app", "on"),
                ("invitation_accepted.email", "off"),
            ],
        )
        .await;
    assert_eq!(location(&r), "/settings?done=saved");
    let me = expect_json(
        app.request(Method::GET, "/api/v1/me", &login_token(&app).await, None)
            .await,
        200,
    )
    .await;
    assert_eq!(me["name"], "Ada King");
    assert_eq!(me["settings"]["invitations_from"], "second_degree");
    assert_eq!(
        me["settings"]["notifications"]["invitation_received"]["email"],
        "weekly"
    );
    assert_eq!(
        me["settings"]["notifications"]["invitation_received"]["in_app"],
        false
    );
    let page = ada.page("/settings").await;
    assert!(
        page.contains(&escaped("Analyst <b>")) && page.contains("value=\"second_degree\" checked")
    );
    // A bad choice is refused in plain words, and nothing changes.
    let r = ada
        .post(
            "/settings/privacy",
            &[("csrf", &csrf), ("invitations_from", "friends")],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("must be everyone, second_degree"));

    // Block and unblock from the pages.
    let r = ada
        .post(&format!("/in/{}/block", bob.id), &[("csrf", &csrf)])
        .await;
    assert_eq!(location(&r), "/network?done=blocked");
    assert!(ada.page("/settings").await.contains("Bob"));
    let r = ada
        .post(&format!("/settings/unblock/{}", bob.id), &[("csrf", &csrf)])
        .await;
    assert_eq!(location(&r), "/settings?done=unblocked");

    // Stats: numbers and a chart drawn on the server.
    ada.post(
        &format!("/in/{}/connect", bob.id),
        &[("csrf", &csrf), ("note", "")],
    )
    .await;
    let stats = ada.page("/stats").await;
    assert!(
        stats.contains("<svg class=\"chart\"") && stats.contains("1 sent</title>"),
        "{stats}"
    );

    // Deactivating signs out; signing in again comes back.
    let r = ada.post("/settings/deactivate", &[("csrf", &csrf)]).await;
    assert_eq!(location(&r), "/login?done=deactivated");
    assert!(ada.cookie.is_none());
    assert!(ada
        .page("/login?done=deactivated")
        .await
        .contains("Sign in again to reactivate"));
    let r = ada
        .post(
            "/login",
            &[
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("next", "/"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let csrf = ada.csrf().await;
    // Closing needs the password.
    let r = ada
        .post(
            "/settings/close",
            &[("csrf", &csrf), ("password", "wrong password")],
        )
        .await;
    assert_eq!(r.status(), 401);
    let r = ada
        .post(
            "/settings/close",
            &[("csrf", &csrf), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(location(&r), "/login?done=closed");
    let r = ada
        .post(
            "/login",
            &[
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("next", "/"),
            ],
        )
        .await;
    assert_eq!(r.status(), 401);
}

/// A bearer token for ada@example.com, to read through the API what the pages wrote.
async fn login_token(app: &TestApp) -> String {
    let v = expect_json(app.login("ada@example.com", PASSWORD).await, 200).await;
    v["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_admin_page_is_for_administrators_and_acts_on_reports_members_and_webhooks() {
    let app = TestApp::spawn().await;
    let mut boss = Browser::signup(&app, "Boss", "boss@example.com").await;
    let spammer = app.signup_member("Spammer").await;
    let victim = app.signup_member("Victim").await;
    // Not an administrator yet: the page refuses.
    let r = boss.get("/admin").await;
    assert_eq!(r.status(), 403);
    app.make_admin("boss@example.com").await;
    let inv = app.invite_ok(&spammer, &victim).await;
    let body = serde_json::json!({"reason": "spam"});
    expect_empty(app.ignore(&victim.token, &inv, Some(body)).await, 204).await;

    let page = boss.page("/admin").await;
    assert!(
        page.contains("Spammer") && page.contains("reported by Victim"),
        "{page}"
    );
    let at = page.find("/admin/reports/").unwrap() + 15;
    let report = page[at..at + page[at..].find('"').unwrap()].to_owned();
    let csrf = boss.csrf().await;
    let r = boss
        .post(
            &format!("/admin/reports/{report}"),
            &[("csrf", &csrf), ("action", "restrict")],
        )
        .await;
    assert_eq!(location(&r), "/admin?done=resolved");
    assert!(boss.page("/admin").await.contains("No open reports."));
    let r = app
        .invite(&spammer, &app.signup_member("Other").await)
        .await;
    expect_problem(r, 403, "restricted").await;

    let r = boss
        .post(
            "/admin/members",
            &[
                ("csrf", &csrf),
                ("member_id", &victim.id),
                ("tier", "premium"),
                ("role", ""),
                ("suspended", ""),
            ],
        )
        .await;
    assert_eq!(location(&r), "/admin?done=admin_saved");
    let r = boss
        .post(
            "/admin/webhooks",
            &[
                ("csrf", &csrf),
                ("url", "http://127.0.0.1:9/hook"),
                ("events", "invitation.sent"),
            ],
        )
        .await;
    assert_eq!(r.status(), 201);
    let html = r.text().await.unwrap();
    assert!(html.contains("whsec_") && html.contains("http://127.0.0.1:9/hook"));
    assert!(
        !boss.page("/admin").await.contains("whsec_"),
        "the secret is shown once"
    );
}
