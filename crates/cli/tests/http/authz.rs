use crate::helpers::*;
use reqwest::Method;
use serde_json::json;

/// Every route of the API that needs a member.
const MEMBER_ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/v1/auth/logout"),
    ("GET", "/api/v1/me"),
    ("PATCH", "/api/v1/me"),
    ("POST", "/api/v1/invitations"),
    ("GET", "/api/v1/invitations/received"),
    ("GET", "/api/v1/invitations/sent"),
    ("POST", "/api/v1/invitations/sent/withdraw"),
    ("GET", "/api/v1/invitations/1"),
    ("POST", "/api/v1/invitations/1/accept"),
    ("POST", "/api/v1/invitations/1/ignore"),
    ("POST", "/api/v1/invitations/1/withdraw"),
    ("GET", "/api/v1/members/1"),
    ("GET", "/api/v1/connections"),
    ("DELETE", "/api/v1/connections/1"),
    ("PATCH", "/api/v1/me/settings"),
    ("POST", "/api/v1/me/deactivate"),
    ("DELETE", "/api/v1/me"),
    ("GET", "/api/v1/blocks"),
    ("PUT", "/api/v1/blocks/1"),
    ("DELETE", "/api/v1/blocks/1"),
    ("PATCH", "/api/v1/admin/members/1"),
    ("GET", "/api/v1/me/stats"),
    ("PUT", "/api/v1/admin/members/1/restriction"),
    ("DELETE", "/api/v1/admin/members/1/restriction"),
    ("GET", "/api/v1/admin/reports"),
    ("POST", "/api/v1/admin/reports/1/resolve"),
    ("GET", "/api/v1/me/export"),
];

#[tokio::test]
async fn every_member_route_refuses_anonymous_and_bad_tokens() {
    // Without a valid bearer token every route is 401 unauthenticated, before reading the body.
    let app = TestApp::spawn().await;
    app.member("Ada").await;
    for (method, path) in MEMBER_ROUTES {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let anonymous = app.raw(method.clone(), path, None, Some(json!({}))).await;
        assert_problem(anonymous, 401, "unauthenticated").await;
        let forged = app
            .raw(method, path, Some("rap_forged"), Some(json!({})))
            .await;
        assert_problem(forged, 401, "unauthenticated").await;
    }
}

#[tokio::test]
async fn a_member_who_is_not_a_party_finds_nothing() {
    // Someone else's invitation is not found, whatever one tries to do with it, and reads exactly
    // like an invitation that does not exist.
    let app = TestApp::spawn().await;
    let (ada, grace, eve) = (
        app.member("Ada").await,
        app.member("Grace").await,
        app.member("Eve").await,
    );
    let id = app.invite_ok(&ada, &grace).await;
    let missing = app.invitation(&eve, "999999").await.text().await.unwrap();
    let r = app.invitation(&eve, &id).await;
    assert_eq!(r.status(), 404);
    assert_eq!(r.text().await.unwrap(), missing);
    assert_problem(app.accept(&eve, &id).await, 404, "not_found").await;
    assert_problem(app.ignore(&eve, &id, None).await, 404, "not_found").await;
    assert_problem(app.withdraw(&eve, &id).await, 404, "not_found").await;
    assert_problem(app.remove_connection(&eve, &ada.id).await, 404, "not_found").await;
    assert_eq!(app.inbox_ids(&grace).await, vec![id]);
}

#[tokio::test]
async fn no_answer_to_another_member_contains_an_email_address() {
    // Emails are private: profiles, invitations, lists and connections never carry them.
    let app = TestApp::spawn().await;
    let (ada, grace, bob) = (
        app.member("Ada").await,
        app.member("Grace").await,
        app.member("Bob").await,
    );
    app.connect(&ada, &bob).await;
    app.connect(&grace, &bob).await;
    let id = app.invite_ok(&ada, &grace).await;
    let texts = [
        app.profile(&grace, &ada.id).await.text().await.unwrap(),
        app.invitation(&grace, &id).await.text().await.unwrap(),
        app.received(&grace, "").await.text().await.unwrap(),
        app.sent(&ada, "").await.text().await.unwrap(),
        app.connections(&bob, "").await.text().await.unwrap(),
        app.accept(&grace, &id).await.text().await.unwrap(),
    ];
    for text in texts {
        for email in [&ada.email, &grace.email, &bob.email] {
            assert!(!text.contains(email.as_str()), "{email} leaked in {text}");
        }
        assert!(!text.contains("@example.com"), "{text}");
    }
}
