//! Bad requests: every one is answered in problem+json with its stable code, never with a 500.

use crate::helpers::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn malformed_json_is_400_malformed_in_problem_json() {
    // Broken, empty, non-UTF-8 and absurdly nested bodies are all "not the JSON this endpoint takes".
    let app = TestApp::spawn().await;
    let ada = app.signup_member("Ada").await;
    let deep = "[".repeat(10_000);
    let bodies: Vec<Vec<u8>> = vec![
        b"{not json".to_vec(),
        b"".to_vec(),
        b"   ".to_vec(),
        b"null".to_vec(),
        b"\"a string\"".to_vec(),
        vec![0xff, 0xfe, b'{', b'}'],
        deep.into_bytes(),
    ];
    for body in bodies {
        let shown = String::from_utf8_lossy(&body)
            .chars()
            .take(20)
            .collect::<String>();
        let r = app.send_invitation_raw(&ada.token, body.clone()).await;
        let p = expect_problem(r, 400, "malformed").await;
        assert_eq!(
            p["type"], "https://rapport.dev/problems/malformed",
            "{shown}"
        );
        expect_problem(app.signup_raw(body).await, 400, "malformed").await;
    }
    // No body at all is malformed too.
    let r = app
        .request(Method::POST, "/api/v1/invitations", &ada.token, None)
        .await;
    expect_problem(r, 400, "malformed").await;
}

#[tokio::test]
async fn a_field_of_the_wrong_type_is_400_malformed() {
    // Numbers for strings, arrays for notes, a missing required field: all 400.
    let app = TestApp::spawn().await;
    let (ada, bob) = (
        app.signup_member("Ada").await,
        app.signup_member("Bob").await,
    );
    let bob_number: i64 = bob.id.parse().unwrap();
    for body in [
        json!({"recipient_id": bob_number}),
        json!({"recipient_id": bob.id, "note": ["hi"]}),
        json!({"recipient_id": null}),
        json!({"note": "hi"}),
        json!([bob.id]),
    ] {
        expect_problem(
            app.send_invitation(&ada.token, body.clone()).await,
            400,
            "malformed",
        )
        .await;
    }
    expect_problem(
        app.signup(json!({"email": "x@example.com", "password": 12345678901_i64, "name": "X"}))
            .await,
        400,
        "malformed",
    )
    .await;
    expect_problem(
        app.signup(json!({"email": "x@example.com", "password": PASSWORD}))
            .await,
        400,
        "malformed",
    )
    .await;
    // A body written as an array of the fields (which serde would read as the struct) is not the
    // object the API takes, whatever the endpoint.
    expect_problem(
        app.update_settings(&ada.token, json!([null, null])).await,
        400,
        "malformed",
    )
    .await;
    let login = json!([ada.email, PASSWORD]);
    expect_problem(
        app.request(Method::POST, "/api/v1/auth/login", ANONYMOUS, Some(login))
            .await,
        400,
        "malformed",
    )
    .await;
    assert!(app.received_ids(&bob.token).await.is_empty());
}

#[tokio::test]
async fn an_unknown_field_is_400_malformed() {
    // A misspelt or extra field is refused rather than silently dropped.
    let app = TestApp::spawn().await;
    let (ada, bob) = (
        app.signup_member("Ada").await,
        app.signup_member("Bob").await,
    );
    let r = app
        .send_invitation(
            &ada.token,
            json!({"recipient_id": bob.id, "note": "hi", "urgent": true}),
        )
        .await;
    let p = expect_problem(r, 400, "malformed").await;
    assert!(p["detail"].as_str().unwrap().contains("urgent"), "{p}");
    let r = app
        .send_invitation(&ada.token, json!({"recipient": bob.id}))
        .await;
    expect_problem(r, 400, "malformed").await;
    let r = app
        .signup(
            json!({"email": "x@example.com", "password": PASSWORD, "name": "X", "role": "admin"}),
        )
        .await;
    expect_problem(r, 400, "malformed").await;
    assert!(app.received_ids(&bob.token).await.is_empty());
}

#[tokio::test]
async fn a_body_over_64_kib_is_413_body_too_large() {
    // The size limit answers before anything else, with or without an idempotency key, signed in
    // or not.
    let app = TestApp::spawn().await;
    let (ada, bob) = (
        app.signup_member("Ada").await,
        app.signup_member("Bob").await,
    );
    let big = json!({"recipient_id": bob.id, "note": "x".repeat(70 * 1024)});
    expect_problem(
        app.send_invitation(&ada.token, big.clone()).await,
        413,
        "body_too_large",
    )
    .await;
    expect_problem(
        app.send_invitation_with_key(&ada.token, "big-1", big).await,
        413,
        "body_too_large",
    )
    .await;
    let big_signup =
        json!({"email": "x@example.com", "password": PASSWORD, "name": "x".repeat(70 * 1024)});
    expect_problem(app.signup(big_signup).await, 413, "body_too_large").await;
    // Just under the limit is read (and then refused by the note rule, not the size limit).
    let under = json!({"recipient_id": bob.id, "note": "x".repeat(60 * 1024)});
    expect_problem(
        app.send_invitation(&ada.token, under).await,
        422,
        "note_too_long",
    )
    .await;
    assert!(app.received_ids(&bob.token).await.is_empty());
}

#[tokio::test]
async fn an_unknown_route_is_404_not_found_in_problem_json() {
    // Anywhere under /api/, signed in or not.
    let app = TestApp::spawn().await;
    let ada = app.signup_member("Ada").await;
    for path in [
        "/api/v1/nothing-here",
        "/api/v1/invitations/1/frobnicate",
        "/api/v2/me",
    ] {
        expect_problem(
            app.request(Method::GET, path, &ada.token, None).await,
            404,
            "not_found",
        )
        .await;
        expect_problem(
            app.request(Method::GET, path, ANONYMOUS, None).await,
            404,
            "not_found",
        )
        .await;
    }
}

/// A person following a stale link outside the API reads a page of the site, not JSON.
#[tokio::test]
async fn an_unknown_page_is_a_404_page_with_the_site_layout() {
    let app = TestApp::spawn().await;
    let ada = app.signup_member("Ada").await;
    for token in [ada.token.as_str(), ANONYMOUS] {
        let r = app.request(Method::GET, "/nothing-here", token, None).await;
        assert_eq!(r.status(), 404);
        let kind = r.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(kind.starts_with("text/html"), "{kind}");
        let html = r.text().await.unwrap();
        for part in [
            "<html lang=\"en\"",
            "<title>Not found",
            "<main",
            "<h1>Not found</h1>",
        ] {
            assert!(html.contains(part), "{part} in {html}");
        }
    }
}

#[tokio::test]
async fn a_wrong_method_is_405_in_problem_json_with_allow() {
    // A known path with a method it does not take says so, and which methods it does take.
    let app = TestApp::spawn().await;
    let ada = app.signup_member("Ada").await;
    for (method, path) in [
        (Method::PUT, "/api/v1/me"),
        (Method::GET, "/api/v1/auth/login"),
        (Method::DELETE, "/api/v1/invitations/1"),
        (Method::GET, "/api/v1/invitations/1/accept"),
        (Method::POST, "/api/v1/connections"),
    ] {
        let r = app.request(method.clone(), path, &ada.token, None).await;
        let allow = header(&r, "allow");
        expect_problem(r, 405, "method_not_allowed").await;
        assert!(!allow.is_empty(), "{method} {path}: 405 without Allow");
        assert!(
            !allow.contains(method.as_str()),
            "{method} {path}: Allow {allow}"
        );
    }
}

#[tokio::test]
async fn the_openapi_document_is_served_and_names_the_core_routes() {
    // Clients can read the contract from the server itself.
    let app = TestApp::spawn().await;
    let doc = app.openapi().await;
    assert!(
        doc["openapi"]
            .as_str()
            .unwrap_or_default()
            .starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    for path in [
        "/api/v1/auth/signup",
        "/api/v1/auth/login",
        "/api/v1/invitations",
        "/api/v1/invitations/{id}/accept",
        "/api/v1/invitations/sent/withdraw",
        "/api/v1/connections",
        "/api/v1/members/{id}",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is missing");
    }
}
