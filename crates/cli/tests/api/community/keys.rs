//! Service keys: made, listed, used, revoked, and the routes each scope opens.

use super::*;

#[tokio::test]
async fn a_key_is_shown_once_listed_without_its_secret_marked_when_used_and_revoked_at_once() {
    // The secret is in the creation's answer only; using the key marks it used; once revoked,
    // the very next request made with it is refused.
    let app = TestApp::spawn().await;
    let admin = admin(&app).await;
    let body = json!({"name": "alumni site", "scopes": ["network:read", "members:read"]});
    let r = app
        .request(Method::POST, "/api/v1/admin/keys", &admin.token, Some(body))
        .await;
    let created = expect_json(r, 201).await;
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("rsk_") && secret.len() > 30, "{created}");
    assert_eq!(created["name"], "alumni site");
    assert_eq!(created["scopes"], json!(["members:read", "network:read"]));
    assert!(created["created_at"].is_string(), "{created}");
    let id = created["id"].as_str().unwrap().to_owned();

    let r = app
        .request(Method::GET, "/api/v1/admin/keys", &admin.token, None)
        .await;
    let text = r.text().await.unwrap();
    assert!(!text.contains(&secret), "the list shows the secret: {text}");
    assert!(!text.contains("rsk_"), "the list shows a secret: {text}");
    let listed: Value = serde_json::from_str(&text).unwrap();
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{listed}");
    let mut fields: Vec<&str> = items[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["created_at", "id", "last_used_at", "name", "scopes"]
    );
    assert_eq!(items[0]["id"], id.as_str());
    assert_eq!(items[0]["last_used_at"], Value::Null, "never used yet");

    // A use: an unknown community id is not found, which the key may ask.
    let r = app
        .request(Method::GET, &by_external_id("nobody"), &secret, None)
        .await;
    expect_problem(r, 404, "not_found").await;
    // The use is recorded off the request: wait for it, briefly.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listed = listed_keys(&app, &admin).await;
        if listed["items"][0]["last_used_at"].is_string() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "last_used_at never set: {listed}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let path = format!("/api/v1/admin/keys/{id}");
    expect_empty(
        app.request(Method::DELETE, &path, &admin.token, None).await,
        204,
    )
    .await;
    let r = app
        .request(Method::GET, &by_external_id("nobody"), &secret, None)
        .await;
    expect_problem(r, 401, "unauthenticated").await;
    assert_eq!(listed_keys(&app, &admin).await["items"], json!([]));
    let r = app.request(Method::DELETE, &path, &admin.token, None).await;
    expect_problem(r, 404, "not_found").await;
    let r = app
        .request(Method::DELETE, "/api/v1/admin/keys/abc", &admin.token, None)
        .await;
    expect_problem(r, 404, "not_found").await;
    // A secret nobody issued is no key either.
    let r = app
        .request(
            Method::GET,
            &by_external_id("nobody"),
            "rsk_made-up-secret-of-some-length",
            None,
        )
        .await;
    expect_problem(r, 401, "unauthenticated").await;
}

#[tokio::test]
async fn only_a_signed_in_administrator_manages_keys_and_moderates() {
    // No member who is not an administrator, and no key whatever its scopes, creates, lists or
    // revokes keys, or does what only administrators do.
    let app = TestApp::spawn().await;
    let admin = admin(&app).await;
    let member = app.signup_member("Mia").await;
    let every = key(&app, &admin, &ALL_SCOPES).await;
    let revoke = format!("/api/v1/admin/keys/{}", every.id);
    let body = json!({"name": "mine", "scopes": ["network:read"]});
    for token in [member.token.as_str(), every.secret.as_str()] {
        let r = app
            .request(
                Method::POST,
                "/api/v1/admin/keys",
                token,
                Some(body.clone()),
            )
            .await;
        expect_problem(r, 403, "forbidden").await;
        let r = app
            .request(Method::GET, "/api/v1/admin/keys", token, None)
            .await;
        expect_problem(r, 403, "forbidden").await;
        let r = app.request(Method::DELETE, &revoke, token, None).await;
        expect_problem(r, 403, "forbidden").await;
    }
    let r = app
        .request(Method::GET, "/api/v1/admin/keys", ANONYMOUS, None)
        .await;
    expect_problem(r, 401, "unauthenticated").await;

    // Moderation and roles: never a key's.
    let member_path = format!("/api/v1/admin/members/{}", member.id);
    let restriction = format!("{member_path}/restriction");
    let attempts = [
        (
            Method::PATCH,
            member_path.as_str(),
            Some(json!({"role": "admin"})),
        ),
        (
            Method::PUT,
            restriction.as_str(),
            Some(json!({"until": "2030-01-01T00:00:00Z"})),
        ),
        (Method::DELETE, restriction.as_str(), None),
        (Method::GET, "/api/v1/admin/reports", None),
    ];
    for (method, path, body) in attempts {
        let r = app.request(method, path, &every.secret, body).await;
        expect_problem(r, 403, "forbidden").await;
    }
    let me = expect_json(app.me(&member.token).await, 200).await;
    assert_eq!(me["role"], "member");
    assert_eq!(me["restriction"], Value::Null);
    // The key still exists: nothing it tried did anything.
    assert_eq!(
        listed_keys(&app, &admin).await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_key_needs_a_name_and_known_scopes() {
    // A key without a name, without scopes or with a scope that is not one is refused, and
    // nothing is created.
    let app = TestApp::spawn().await;
    let admin = admin(&app).await;
    for body in [
        json!({"name": "", "scopes": ["network:read"]}),
        json!({"name": "  ", "scopes": ["network:read"]}),
        json!({"name": "x".repeat(101), "scopes": ["network:read"]}),
        json!({"name": "site", "scopes": []}),
        json!({"name": "site", "scopes": ["admin"]}),
        json!({"name": "site", "scopes": ["network:read", "network:write"]}),
    ] {
        let r = app
            .request(
                Method::POST,
                "/api/v1/admin/keys",
                &admin.token,
                Some(body.clone()),
            )
            .await;
        expect_problem(r, 422, "validation_failed").await;
    }
    for body in [
        json!({"name": "site"}),
        json!({"name": "site", "scopes": "network:read"}),
        json!({"name": "site", "scopes": ["network:read"], "admin": true}),
    ] {
        let r = app
            .request(Method::POST, "/api/v1/admin/keys", &admin.token, Some(body))
            .await;
        expect_problem(r, 400, "malformed").await;
    }
    assert_eq!(listed_keys(&app, &admin).await["items"], json!([]));
}

/// One request a scope opens: the scope, the request, and the status it succeeds with.
struct Opened {
    scope: &'static str,
    method: Method,
    path: String,
    body: Option<Value>,
    acts: bool,
    status: u16,
}

#[tokio::test]
async fn each_scope_opens_its_own_routes_and_no_other() {
    // A key with one scope gets its routes; on every other route its scope does not open it is
    // `403 insufficient_scope`, naming the scope it lacks. Administrators may do all of it.
    let app = TestApp::spawn().await;
    let admin = admin(&app).await;
    let ann = provision_new(&app, &admin.token, "u-ann", "Ann").await;
    provision_new(&app, &admin.token, "u-ben", "Ben").await;
    let hook = json!({"url": "http://127.0.0.1:9/hook", "events": ["invitation.sent"]});
    let r = app
        .request(
            Method::POST,
            "/api/v1/admin/webhooks",
            &admin.token,
            Some(hook.clone()),
        )
        .await;
    let webhook = expect_json(r, 201).await["id"].as_str().unwrap().to_owned();
    let ann_again = json!({"email": "u-ann@community.example", "name": "Ann"});
    let opened = |scope, method, path: &str, body: Option<Value>, status| Opened {
        scope,
        method,
        path: path.to_owned(),
        body,
        acts: scope == "invitations:act",
        status,
    };
    let routes = [
        opened(
            "members:read",
            Method::GET,
            &by_external_id("u-ann"),
            None,
            200,
        ),
        opened(
            "members:write",
            Method::PUT,
            &by_external_id("u-ann"),
            Some(ann_again),
            200,
        ),
        opened(
            "network:read",
            Method::GET,
            "/api/v1/admin/relationship?from=ext:u-ann&to=ext:u-ben",
            None,
            200,
        ),
        opened(
            "webhooks:manage",
            Method::GET,
            "/api/v1/admin/webhooks",
            None,
            200,
        ),
        opened(
            "webhooks:manage",
            Method::POST,
            "/api/v1/admin/webhooks",
            Some(hook),
            201,
        ),
        opened(
            "webhooks:manage",
            Method::GET,
            &format!("/api/v1/admin/webhooks/{webhook}/deliveries"),
            None,
            200,
        ),
        opened("invitations:act", Method::GET, "/api/v1/me", None, 200),
        opened(
            "invitations:act",
            Method::GET,
            "/api/v1/invitations/received",
            None,
            200,
        ),
        opened(
            "invitations:act",
            Method::GET,
            "/api/v1/connections",
            None,
            200,
        ),
    ];
    for scope in ALL_SCOPES {
        let k = key(&app, &admin, &[scope]).await;
        for route in &routes {
            // Member routes are asked acting for Ann, as a key must; administrators' routes
            // take no Rapport-Act-As.
            let headers: &[(&str, &str)] = if route.acts {
                &[(ACT_AS, ann.as_str())]
            } else {
                &[]
            };
            let r = app
                .request_with(
                    route.method.clone(),
                    &route.path,
                    &k.secret,
                    headers,
                    route.body.clone(),
                )
                .await;
            let at = format!("key {scope}: {} {}", route.method, route.path);
            if route.scope == scope {
                let status = r.status().as_u16();
                let text = r.text().await.unwrap();
                assert_eq!(status, route.status, "{at}: {text}");
            } else {
                let v = expect_problem(r, 403, "insufficient_scope").await;
                let detail = v["detail"].as_str().unwrap();
                assert!(detail.contains(route.scope), "{at}: {v}");
            }
        }
    }
    // Administrators, signed in, may do everything the scopes open (acting aside: they act as
    // themselves).
    for route in routes.iter().filter(|r| !r.acts) {
        let r = app
            .request(
                route.method.clone(),
                &route.path,
                &admin.token,
                route.body.clone(),
            )
            .await;
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        assert_eq!(
            status, route.status,
            "admin: {} {}: {text}",
            route.method, route.path
        );
    }
    // The one route that deletes: the webhooks key may, the others may not.
    let path = format!("/api/v1/admin/webhooks/{webhook}");
    for scope in [
        "members:read",
        "members:write",
        "network:read",
        "invitations:act",
    ] {
        let k = key(&app, &admin, &[scope]).await;
        let r = app.request(Method::DELETE, &path, &k.secret, None).await;
        expect_problem(r, 403, "insufficient_scope").await;
    }
    let k = key(&app, &admin, &["webhooks:manage"]).await;
    expect_empty(
        app.request(Method::DELETE, &path, &k.secret, None).await,
        204,
    )
    .await;
}
