//! Sessions from the pages' side: the API takes a session cookie only with its CSRF token, signing
//! out through the API ends the page's session, another site cannot sign a visitor in, and behind
//! https only the `__Host-` cookie counts, and a mailed sign-up link makes an account only from
//! its button.

use super::*;
use reqwest::Method;

#[tokio::test]
async fn the_api_takes_a_session_cookie_only_with_its_csrf_token() {
    let app = TestApp::spawn().await;
    let ada = Browser::signup(&app, "Ada", "ada@example.com").await;
    let bob = app.signup_member("Bob").await;
    let cookie = ada.cookie.clone().unwrap();
    let csrf = ada.csrf().await;
    let body = serde_json::json!({"recipient_id": bob.id});
    let client = Client::new();
    let url = format!("{}/api/v1/invitations", app.address);
    // Reading with the cookie is fine; changing needs the token.
    let r = client
        .request(Method::GET, format!("{}/api/v1/me", app.address))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client
        .post(&url)
        .header(COOKIE, &cookie)
        .json(&body)
        .send()
        .await
        .unwrap();
    expect_problem(r, 403, "csrf").await;
    let r = client
        .post(&url)
        .header(COOKIE, &cookie)
        .header("x-csrf-token", "wrong")
        .json(&body)
        .send()
        .await
        .unwrap();
    expect_problem(r, 403, "csrf").await;
    let r = client
        .post(&url)
        .header(COOKIE, &cookie)
        .header("x-csrf-token", &csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    expect_json(r, 201).await;
}

/// Signing out through the API with the session cookie (and its CSRF token) ends that session, as
/// signing out with a bearer token ends that token.
#[tokio::test]
async fn a_session_signed_out_through_the_api_with_its_cookie_is_over() {
    let app = TestApp::spawn().await;
    let ada = Browser::signup(&app, "Ada", "ada@example.com").await;
    let cookie = ada.cookie.clone().unwrap();
    let csrf = ada.csrf().await;
    let client = Client::new();
    let r = client
        .post(format!("{}/api/v1/auth/logout", app.address))
        .header(COOKIE, &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = client
        .get(format!("{}/api/v1/me", app.address))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    expect_problem(r, 401, "unauthenticated").await;
}

/// Login CSRF: another site cannot post a visitor into the attacker's account, because the sign-in
/// and sign-up forms carry a token signed for the visitor's own pre-session cookie. A form without
/// its CSRF field is 403 `csrf`, never a 422 about a missing field.
#[tokio::test]
async fn another_site_cannot_sign_a_visitor_into_its_account() {
    let app = TestApp::spawn().await;
    Browser::signup(&app, "Mallory", "mallory@example.com").await;
    let login = |csrf: Option<&str>| {
        let mut form = vec![
            ("email".to_owned(), "mallory@example.com".to_owned()),
            ("password".to_owned(), PASSWORD.to_owned()),
        ];
        if let Some(c) = csrf {
            form.push(("csrf".into(), c.to_owned()));
        }
        form
    };
    let forbidden = |r: Response| async move {
        let status = r.status();
        let cookie = r.headers().get(SET_COOKIE).cloned();
        let html = r.text().await.unwrap();
        assert_eq!(status, 403, "{html}");
        assert!(cookie.is_none(), "no session started");
        assert!(html.contains("This form has expired"), "{html}");
    };

    // A cross-site form post: no pre-session cookie (SameSite=Lax keeps it home), with or without
    // a token the attacker got from their own visit.
    let mut attacker = Browser::new(&app);
    let r = attacker.get("/login").await;
    attacker.keep_cookies(&r);
    let attackers_token = form_csrf(&r.text().await.unwrap());
    let mut victim = Browser::new(&app);
    forbidden(victim.post_as_is("/login", &login(None)).await).await;
    forbidden(
        victim
            .post_as_is("/login", &login(Some(&attackers_token)))
            .await,
    )
    .await;
    // The victim has a pre-session of their own: the attacker's token is not its signature.
    let r = victim.get("/login").await;
    victim.keep_cookies(&r);
    assert!(victim.presession.is_some(), "the form sets a pre-session");
    forbidden(
        victim
            .post_as_is("/login", &login(Some(&attackers_token)))
            .await,
    )
    .await;
    forbidden(victim.post_as_is("/login", &login(None)).await).await;
    let signup = [
        ("name".to_owned(), "Eve".to_owned()),
        ("email".to_owned(), "eve@example.com".to_owned()),
        ("password".to_owned(), PASSWORD.to_owned()),
    ];
    forbidden(victim.post_as_is("/signup", &signup).await).await;
    // The attacker's own form, from their own browser, works.
    let r = attacker
        .post_as_is("/login", &login(Some(&attackers_token)))
        .await;
    assert_eq!(r.status(), 303);

    // A signed-in form posted without its CSRF field: 403 csrf as well.
    let r = attacker.post_as_is("/logout", &[]).await;
    assert_eq!(r.status(), 403, "{}", r.text().await.unwrap());
}

/// Behind https a cookie of the plain name (which a sibling subdomain or a plain-http page could
/// have planted) opens nothing: only the `__Host-` cookie does. Every page tells the browser to
/// stay on https.
#[tokio::test]
async fn behind_https_only_the_host_cookie_counts_and_hsts_is_sent() {
    let app = TestApp::spawn_with(|c| c.base_url = "https://rapport.example".into()).await;
    let mut ada = Browser::new(&app);
    let r = ada
        .post(
            "/signup",
            &[
                ("name", "Ada"),
                ("email", "ada@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let session = ada.cookie.clone().expect("a session");
    assert!(session.starts_with("__Host-rapport_session="), "{session}");
    let token = session.split_once('=').unwrap().1.to_owned();
    let home = ada.get("/").await;
    assert_eq!(home.status(), 200);
    assert_eq!(
        header(&home, "strict-transport-security"),
        "max-age=31536000; includeSubDomains"
    );
    // The same token under the plain name: signed out, on the pages and in the API.
    ada.cookie = Some(format!("rapport_session={token}"));
    assert_eq!(ada.get("/").await.status(), 303);
    let r = ada.get("/api/v1/me").await;
    assert_eq!(r.status(), 401);
}

/// A mailed sign-up link opened in a browser: the GET (which mail scanners send too) creates
/// nothing; its button, with the pre-session's CSRF token, creates the account and signs in; a
/// post without the token, or a second one, does not.
#[tokio::test]
async fn a_mailed_sign_up_link_makes_the_account_only_from_its_button() {
    let app =
        TestApp::spawn_with(|c| c.signup_confirmation = rapport_app::SignupConfirmation::Email)
            .await;
    let mut ada = Browser::new(&app);
    let r = ada
        .post(
            "/signup",
            &[
                ("name", "Ada"),
                ("email", "ada@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Check your mail"));
    let mail = std::fs::read_dir(app.data_dir().join("outbox"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .find(|m| m.contains("To: ada@example.com"))
        .expect("a mail to Ada");
    let token = crate::signup::link_token(&mail).expect("the link");
    let link = format!("/signup/confirm?token={token}");

    let r = ada.get(&link).await;
    ada.keep_cookies(&r);
    let html = r.text().await.unwrap();
    assert!(html.contains("Create my account"), "{html}");
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status(),
        401,
        "opening the link made nothing"
    );
    let form = |csrf: Option<String>| {
        let mut f = vec![("token".to_owned(), token.clone())];
        f.extend(csrf.map(|c| ("csrf".to_owned(), c)));
        f
    };
    assert_eq!(
        ada.post_as_is("/signup/confirm", &form(None))
            .await
            .status(),
        403
    );
    let r = ada
        .post_as_is("/signup/confirm", &form(Some(form_csrf(&html))))
        .await;
    assert_eq!(r.status(), 303);
    assert!(ada.page("/").await.contains("Ada"), "signed in");
    let r = ada
        .post_as_is("/signup/confirm", &form(Some(form_csrf(&html))))
        .await;
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("does not work any more"));
}
