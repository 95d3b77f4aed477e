//! Authorisation: who may call what, and what one member may learn about another.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn every_member_route_refuses_anonymous_callers_with_401_unauthenticated() {
    // No token, an unknown token or another scheme: every route that needs a member says so.
    let app = TestApp::spawn().await;
    for (method, path) in Api::member_routes() {
        for token in [ANONYMOUS, "rap_not-a-token-this-server-gave-out"] {
            let r = app.request(method.clone(), path, token, None).await;
            let label = format!("{method} {path} with token {token:?}");
            let status = r.status();
            let text = r.text().await.unwrap();
            assert_eq!(status, 401, "{label}: {text}");
            let v: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(v["code"], "unauthenticated", "{label}: {v}");
        }
        let r = app
            .client
            .request(method.clone(), format!("{}{path}", app.address))
            .header("authorization", "Basic YWRhOnBhc3N3b3Jk")
            .send()
            .await
            .unwrap();
        expect_problem(r, 401, "unauthenticated").await;
    }
}

#[tokio::test]
async fn every_signed_in_operation_of_the_openapi_document_refuses_anonymous_callers() {
    // Whatever routes are added later, each one the document marks as needing a token answers 401
    // to an anonymous caller.
    let app = TestApp::spawn().await;
    let doc = app.openapi().await;
    let paths = doc["paths"].as_object().expect("paths");
    let mut checked = 0;
    for (path, ops) in paths {
        for (method, op) in ops.as_object().expect("operations") {
            let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
            if !secured {
                continue;
            }
            let concrete: String = path
                .split('/')
                .map(|seg| if seg.starts_with('{') { "1" } else { seg })
                .collect::<Vec<_>>()
                .join("/");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = app
                .request(method.clone(), &concrete, ANONYMOUS, None)
                .await;
            let status = r.status();
            let text = r.text().await.unwrap();
            assert_eq!(status, 401, "{method} {concrete}: {text}");
            assert!(
                text.contains("\"unauthenticated\""),
                "{method} {concrete}: {text}"
            );
            checked += 1;
        }
    }
    assert!(
        checked >= Api::member_routes().len(),
        "the document marks only {checked} operations as signed-in"
    );
}

#[tokio::test]
async fn a_member_who_is_not_a_party_gets_404_for_someone_elses_invitation() {
    // To a third member, another pair's invitation does not exist: the same bytes as an id that
    // names nothing, for reading and for every action; and the invitation is untouched.
    let app = TestApp::spawn().await;
    let (ada, bob, eve) = (
        app.signup_member("Ada").await,
        app.signup_member("Bob").await,
        app.signup_member("Eve").await,
    );
    let id = app.invite_ok(&ada, &bob).await;
    let unknown = "987654321";
    let pairs = [
        (
            app.invitation(&eve.token, &id).await,
            app.invitation(&eve.token, unknown).await,
        ),
        (
            app.accept(&eve.token, &id).await,
            app.accept(&eve.token, unknown).await,
        ),
        (
            app.ignore(&eve.token, &id, Some(json!({"reason": "spam"})))
                .await,
            app.ignore(&eve.token, unknown, Some(json!({"reason": "spam"})))
                .await,
        ),
        (
            app.withdraw(&eve.token, &id).await,
            app.withdraw(&eve.token, unknown).await,
        ),
    ];
    for (theirs, nothing) in pairs {
        let url = theirs.url().path().to_owned();
        assert_eq!(nothing.status(), 404);
        let nothing = nothing.bytes().await.unwrap();
        let theirs = expect_problem(theirs, 404, "not_found").await;
        assert_eq!(
            serde_json::to_vec(&theirs).unwrap(),
            serde_json::to_vec(&serde_json::from_slice::<Value>(&nothing).unwrap()).unwrap(),
            "{url}"
        );
    }
    let inv = expect_json(app.invitation(&bob.token, &id).await, 200).await;
    assert_eq!(inv["state"], "pending");
    assert!(app.connection_ids(&eve.token).await.is_empty());
    assert!(app.connection_ids(&bob.token).await.is_empty());
}

#[tokio::test]
async fn no_answer_to_another_member_contains_their_email() {
    // Email is private: whatever Bob reads about Ada, in any answer or refusal, has no trace of her
    // address.
    let app = TestApp::spawn().await;
    let (ada, bob, cy) = (
        app.signup_member("Ada").await,
        app.signup_member("Bob").await,
        app.signup_member("Cy").await,
    );
    app.connect(&ada, &cy).await;
    app.connect(&bob, &cy).await;
    let mut seen_by_bob: Vec<(String, String)> = Vec::new();
    let mut keep = |label: &str, text: String| seen_by_bob.push((label.to_owned(), text));

    let id = app.invite_ok(&ada, &bob).await;
    keep(
        "profile",
        app.member(&bob.token, &ada.id).await.text().await.unwrap(),
    );
    keep(
        "mutual's profile",
        app.member(&bob.token, &cy.id).await.text().await.unwrap(),
    );
    keep(
        "inbox",
        app.received(&bob.token, "").await.text().await.unwrap(),
    );
    keep(
        "invitation",
        app.invitation(&bob.token, &id).await.text().await.unwrap(),
    );
    keep(
        "reverse send",
        app.invite(&bob, &ada).await.text().await.unwrap(),
    );
    keep(
        "connections",
        app.connections(&bob.token, "").await.text().await.unwrap(),
    );
    keep(
        "already connected",
        app.invite(&bob, &ada).await.text().await.unwrap(),
    );
    keep(
        "not pending",
        app.accept(&bob.token, &id).await.text().await.unwrap(),
    );
    let dana = app.signup_member("Dana").await;
    let to_dana = app.invite(&bob, &dana).await.text().await.unwrap();
    keep("sent invitation", to_dana);
    keep("sent", app.sent(&bob.token, "").await.text().await.unwrap());
    let id3 = app.invite_ok(&ada, &dana).await;
    keep(
        "not a party",
        app.invitation(&bob.token, &id3).await.text().await.unwrap(),
    );

    for (label, text) in &seen_by_bob {
        for secret in [&ada.email, &cy.email, &dana.email] {
            assert!(
                !text.to_lowercase().contains(secret),
                "{label} shows an email to Bob: {text}"
            );
        }
        assert!(
            !text.contains("\"email\""),
            "{label} has an email field: {text}"
        );
    }
    // And the reverse send did connect them, so the answers above covered a connection too.
    assert_eq!(app.relationship(&bob, &ada.id).await["state"], "connected");
}

#[tokio::test]
async fn a_blocked_member_gets_exactly_the_answer_for_a_member_who_does_not_exist() {
    // After Bob blocks Ada, every route that names Bob answers Ada as it answers a made-up id,
    // byte for byte once the id itself is set aside; and no notification passes between them.
    let app = TestApp::spawn().await;
    let ada = app.signup_member("Ada").await;
    let bob = app.signup_member("Bob").await;
    let pending = app.invite_ok(&bob, &ada).await;
    let r = app
        .request(
            Method::PUT,
            &format!("/api/v1/blocks/{}", ada.id),
            &bob.token,
            None,
        )
        .await;
    assert_eq!(r.status(), 204, "Bob blocks Ada");
    let ghost = "999999";
    let routes = |id: &str| {
        vec![
            (Method::GET, format!("/api/v1/members/{id}"), None),
            (Method::DELETE, format!("/api/v1/connections/{id}"), None),
            (Method::PUT, format!("/api/v1/blocks/{id}"), None),
            (
                Method::POST,
                "/api/v1/invitations".to_owned(),
                Some(json!({"recipient_id": id})),
            ),
        ]
    };
    // Ada, the blocked one, asks about Bob, and about a member who does not exist.
    for ((method, real, body), (_, fake, fake_body)) in
        routes(&bob.id).into_iter().zip(routes(ghost))
    {
        let a = app.request(method.clone(), &real, &ada.token, body).await;
        let (sa, ta) = (a.status(), a.text().await.unwrap());
        let b = app
            .request(method.clone(), &fake, &ada.token, fake_body)
            .await;
        let (sb, tb) = (b.status(), b.text().await.unwrap());
        assert_eq!(sa, sb, "{method} {real}: {ta} vs {tb}");
        assert_eq!(
            ta.replace(&bob.id, "ID"),
            tb.replace(ghost, "ID"),
            "{method} {real}"
        );
    }
    // The invitation between them is gone for both.
    let r = app.invitation(&ada.token, &pending).await;
    expect_problem(r, 404, "not_found").await;
    let notes: Value = app
        .request(Method::GET, "/api/v1/notifications", &ada.token, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(notes["unread"], 0, "{notes}");
}

#[tokio::test]
async fn every_admin_route_refuses_members_with_403_forbidden() {
    let app = TestApp::spawn().await;
    let ada = app.signup_member("Ada").await;
    let routes = [
        (Method::GET, "/api/v1/admin/reports".to_owned(), None),
        (
            Method::POST,
            "/api/v1/admin/reports/1/resolve".to_owned(),
            Some(json!({"action": "dismiss"})),
        ),
        (
            Method::PATCH,
            format!("/api/v1/admin/members/{}", ada.id),
            Some(json!({"tier": "premium"})),
        ),
        (
            Method::PUT,
            format!("/api/v1/admin/members/{}/restriction", ada.id),
            Some(json!({"until": "2030-01-01T00:00:00Z"})),
        ),
        (
            Method::DELETE,
            format!("/api/v1/admin/members/{}/restriction", ada.id),
            None,
        ),
        (
            Method::POST,
            "/api/v1/admin/webhooks".to_owned(),
            Some(json!({"url": "http://127.0.0.1:1/", "events": ["invitation.sent"]})),
        ),
        (Method::GET, "/api/v1/admin/webhooks".to_owned(), None),
        (Method::DELETE, "/api/v1/admin/webhooks/1".to_owned(), None),
        (
            Method::GET,
            "/api/v1/admin/webhooks/1/deliveries".to_owned(),
            None,
        ),
    ];
    for (method, path, body) in routes {
        let r = app.request(method.clone(), &path, &ada.token, body).await;
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        assert_eq!(status, 403, "{method} {path}: {v}");
        assert_eq!(v["code"], "forbidden", "{method} {path}");
    }
}
