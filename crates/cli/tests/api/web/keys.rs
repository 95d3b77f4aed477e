//! Service keys on the administrators' page: created with a secret shown once, listed, revoked.

use super::*;

#[tokio::test]
async fn administrators_create_and_revoke_service_keys_on_their_page() {
    let app = TestApp::spawn().await;
    let mut boss = Browser::signup(&app, "Boss", "boss@example.com").await;
    app.make_admin("boss@example.com").await;
    let csrf = boss.csrf().await;
    let r = boss
        .post(
            "/admin/keys",
            &[
                ("csrf", &csrf),
                ("name", "alumni site"),
                ("scopes", "network:read"),
                ("scopes", "invitations:act"),
            ],
        )
        .await;
    assert_eq!(r.status(), 201);
    let html = r.text().await.unwrap();
    let at = html.find("rsk_").expect("the secret is shown");
    let secret = &html[at..at + html[at..].find('<').unwrap()];
    let page = boss.page("/admin").await;
    assert!(page.contains("alumni site") && page.contains("invitations:act network:read"));
    assert!(!page.contains("rsk_"), "the secret is shown once");
    // The key works, until it is revoked.
    let mid = app.signup_member("Mid").await;
    let relationship = format!("/api/v1/admin/relationship?from={}&to={}", mid.id, mid.id);
    let r = app.request(Method::GET, &relationship, secret, None).await;
    assert_eq!(expect_json(r, 200).await["state"], "self");
    let at = page.find("/admin/keys/").unwrap();
    let action = &page[at..at + page[at..].find('"').unwrap()];
    let r = boss.post(action, &[("csrf", &csrf)]).await;
    assert_eq!(location(&r), "/admin?done=key_revoked");
    let r = app.request(Method::GET, &relationship, secret, None).await;
    expect_problem(r, 401, "unauthenticated").await;
    // A form without a scope says what to do.
    let r = boss
        .post("/admin/keys", &[("csrf", &csrf), ("name", "nothing")])
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("at least one scope"));
}
