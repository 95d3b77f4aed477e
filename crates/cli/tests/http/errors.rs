use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn bodies_that_are_not_the_expected_json_are_malformed() {
    // Broken JSON, wrong types, unknown fields and empty bodies are 400 problems, never 500s.
    let app = TestApp::spawn().await;
    let ada = app.member("Ada").await;
    let url = format!("{}/api/v1/invitations", app.base);
    for body in [
        "{",
        "[]",
        "null",
        "",
        "{\"recipient_id\": 5}",
        "{\"recipient_id\": \"1\", \"extra\": 1}",
        "\u{0}",
    ] {
        let r = app
            .client
            .post(&url)
            .bearer_auth(&ada.token)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_problem(r, 400, "malformed").await;
    }
    let r = app.signup(json!({"email": "a@x.io"})).await;
    assert_problem(r, 400, "malformed").await;
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    // A body over 64 KiB is 413, on any endpoint.
    let app = TestApp::spawn().await;
    let ada = app.member("Ada").await;
    let big = json!({"recipient_id": "1", "note": "x".repeat(70 * 1024)});
    assert_problem(
        app.post("/api/v1/invitations", &ada.token, big.clone())
            .await,
        413,
        "body_too_large",
    )
    .await;
    assert_problem(app.signup(big).await, 413, "body_too_large").await;
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_problem_json() {
    // Clients always get the same error shape.
    let app = TestApp::spawn().await;
    let ada = app.member("Ada").await;
    assert_problem(
        app.get("/api/v1/nothing-here", &ada.token).await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        app.raw(Method::PUT, "/api/v1/me", Some(&ada.token), None)
            .await,
        405,
        "method_not_allowed",
    )
    .await;
}

#[tokio::test]
async fn the_openapi_document_covers_every_route() {
    // Generated from the handlers: OpenAPI 3.1 with every path of the router.
    let app = TestApp::spawn().await;
    let doc: Value = app
        .client
        .get(format!("{}/api/openapi.json", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/api/v1/auth/signup",
        "/api/v1/auth/login",
        "/api/v1/auth/logout",
        "/api/v1/me",
        "/api/v1/invitations",
        "/api/v1/invitations/received",
        "/api/v1/invitations/sent",
        "/api/v1/invitations/sent/withdraw",
        "/api/v1/invitations/{id}",
        "/api/v1/invitations/{id}/accept",
        "/api/v1/invitations/{id}/ignore",
        "/api/v1/invitations/{id}/withdraw",
        "/api/v1/members/{id}",
        "/api/v1/connections",
        "/api/v1/connections/{member_id}",
        "/healthz",
        "/readyz",
        "/api/v1/me/settings",
        "/api/v1/me/deactivate",
        "/api/v1/blocks",
        "/api/v1/blocks/{member_id}",
        "/api/v1/admin/members/{id}",
        "/api/v1/me/stats",
        "/api/v1/me/export",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["schemas"].get("Problem").is_some());
}

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    // Operators' endpoints need no token.
    let app = TestApp::spawn().await;
    for path in ["/healthz", "/readyz"] {
        assert_eq!(
            app.client
                .get(format!("{}{path}", app.base))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    app.member("Ada").await;
    let metrics = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("rapport_http_requests_total"), "{metrics}");
}
