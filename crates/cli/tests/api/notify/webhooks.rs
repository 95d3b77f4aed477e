//! Signed webhooks: only admins register them, for real URLs and known events; deliveries are
//! signed, retried on a schedule and delivered in order; an endpoint that never answers is disabled
//! with the reason; and a restart in the middle of deliveries loses no event.

use super::*;
use reqwest::Method;
use serde_json::json;
use std::sync::{Arc, Mutex};

/// A webhook receiver of the test's own: fails the first `failures` requests, then records.
async fn receiver(
    failures: usize,
) -> (
    String,
    Arc<Mutex<Vec<(reqwest::header::HeaderMap, String)>>>,
) {
    use axum::routing::post;
    let got = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::new(Mutex::new(0usize));
    let state = (got.clone(), seen);
    let router = axum::Router::new().route(
        "/hook",
        post(move |headers: axum::http::HeaderMap, body: String| {
            let (got, seen) = state.clone();
            async move {
                let mut n = seen.lock().unwrap();
                *n += 1;
                if *n <= failures {
                    return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                }
                let mut copy = reqwest::header::HeaderMap::new();
                for (k, v) in headers.iter() {
                    copy.insert(k.clone(), v.clone());
                }
                got.lock().unwrap().push((copy, body));
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, got)
}

#[tokio::test]
async fn webhooks_are_signed_retried_and_delivered_in_order() {
    let app = TestApp::spawn().await;
    let admin = app.member("Admin").await;
    make_admin(&app, &admin).await;
    let (url, got) = receiver(3).await;

    // Only admins, only real URLs and known events.
    let ada = app.member("Ada").await;
    let r = app
        .post(
            "/api/v1/admin/webhooks",
            &ada.token,
            json!({"url": url, "events": ["invitation.sent"]}),
        )
        .await;
    assert_problem(r, 403, "forbidden").await;
    for body in [
        json!({"url": "ftp://x", "events": ["invitation.sent"]}),
        json!({"url": url, "events": []}),
        json!({"url": url, "events": ["invitation.read"]}),
    ] {
        let r = app.post("/api/v1/admin/webhooks", &admin.token, body).await;
        assert_problem(r, 422, "validation_failed").await;
    }

    let events = json!([
        "invitation.sent",
        "invitation.accepted",
        "invitation.withdrawn",
        "connection.created"
    ]);
    let r = app
        .post(
            "/api/v1/admin/webhooks",
            &admin.token,
            json!({"url": url, "events": events}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let hook: Value = r.json().await.unwrap();
    let secret = hook["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let listed: Value = app
        .get("/api/v1/admin/webhooks", &admin.token)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        listed["items"][0]["secret"].is_null(),
        "the secret is shown once"
    );

    let bob = app.member("Bob").await;
    let first = app.invite_ok(&ada, &bob).await;
    assert_eq!(app.withdraw(&ada, &first).await.status(), 204);
    let cy = app.member("Cy").await;
    let second = app.invite_ok(&ada, &cy).await;
    assert_eq!(app.accept(&cy, &second).await.status(), 200);
    let id = app.invite_ok(&bob, &cy).await;
    assert_eq!(app.ignore(&cy, &id, None).await.status(), 204); // not asked for

    app.app.dispatch_webhooks().await.unwrap();
    // Three failures, each retried on the schedule, then everything in order.
    for wait in [
        Duration::ZERO,
        Duration::from_secs(6),
        Duration::from_secs(6 * 60),
    ] {
        app.advance(wait);
        assert_eq!(app.app.deliver_webhooks().await.unwrap(), 0);
    }
    let hook_id = hook["id"].as_str().unwrap();
    let log: Value = app
        .get(
            &format!("/api/v1/admin/webhooks/{hook_id}/deliveries"),
            &admin.token,
        )
        .await
        .json()
        .await
        .unwrap();
    let oldest = log["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(oldest["attempts"], 3);
    assert_eq!(oldest["status"], "pending");
    assert_eq!(oldest["last_status"], 503);
    app.advance(Duration::from_secs(40 * 60));
    assert_eq!(app.app.deliver_webhooks().await.unwrap(), 6);

    let got = got.lock().unwrap().clone();
    let types: Vec<String> = got
        .iter()
        .map(|(_, body)| {
            serde_json::from_str::<Value>(body).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        types,
        [
            "invitation.sent",
            "invitation.withdrawn",
            "invitation.sent",
            "invitation.accepted",
            "connection.created",
            "invitation.sent",
        ]
    );
    let mut ids = Vec::new();
    for (headers, body) in &got {
        let id = headers["webhook-id"].to_str().unwrap();
        let ts: i64 = headers["webhook-timestamp"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let sig = headers["webhook-signature"].to_str().unwrap();
        assert_eq!(sig, rapport_app::webhooks::sign(&secret, id, ts, body));
        let v: Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["id"], id);
        assert!(v["data"].is_object() && v["created_at"].is_string());
        ids.push(id.to_owned());
    }
    assert!(got[0].1.contains(&first));
    ids.dedup();
    assert_eq!(ids.len(), 6, "one webhook-id per event");
}

#[tokio::test]
async fn an_endpoint_that_never_answers_is_disabled_and_says_why() {
    let app = TestApp::spawn_with(|c| {
        c.webhook_retries = vec![Duration::ZERO, Duration::from_secs(1)];
    })
    .await;
    let admin = app.member("Admin").await;
    make_admin(&app, &admin).await;
    let r = app
        .post(
            "/api/v1/admin/webhooks",
            &admin.token,
            json!({"url": "http://127.0.0.1:9/nothing-listens", "events": ["invitation.sent"]}),
        )
        .await;
    let hook: Value = r.json().await.unwrap();
    let ada = app.member("Ada").await;
    let bob = app.member("Bob").await;
    app.invite_ok(&ada, &bob).await;
    app.app.dispatch_webhooks().await.unwrap();
    app.app.deliver_webhooks().await.unwrap();
    app.advance(Duration::from_secs(2));
    app.app.deliver_webhooks().await.unwrap();
    let listed: Value = app
        .get("/api/v1/admin/webhooks", &admin.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"][0]["id"], hook["id"]);
    assert!(listed["items"][0]["disabled_at"].is_string());
    assert!(listed["items"][0]["disabled_reason"]
        .as_str()
        .unwrap()
        .contains("2 failed attempts"));
    let r = app
        .raw(
            Method::DELETE,
            &format!("/api/v1/admin/webhooks/{}", hook["id"].as_str().unwrap()),
            Some(&admin.token),
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    let r = app
        .get("/api/v1/admin/webhooks/999/deliveries", &admin.token)
        .await;
    assert_problem(r, 404, "not_found").await;
}

#[tokio::test]
async fn a_restart_in_the_middle_of_deliveries_loses_no_event() {
    use crate::crash::Server;
    use crate::helpers::Api;
    use std::sync::atomic::{AtomicBool, Ordering};

    // A receiver that is down until told otherwise.
    let down = Arc::new(AtomicBool::new(true));
    let got: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let router = {
        let (down, got) = (down.clone(), got.clone());
        axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let (down, got) = (down.clone(), got.clone());
                async move {
                    if down.load(Ordering::SeqCst) {
                        return axum::http::StatusCode::BAD_GATEWAY;
                    }
                    let id = headers["webhook-id"].to_str().unwrap().to_owned();
                    got.lock().unwrap().push((id, body));
                    axum::http::StatusCode::OK
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let dir = tempfile::tempdir().unwrap();
    // Retries every 100 ms, for long enough to outlast the test.
    let retries = std::iter::once("0s")
        .chain(std::iter::repeat_n("100ms", 600))
        .collect::<Vec<_>>()
        .join(",");
    let settings = [("RAPPORT_WEBHOOK_RETRIES", retries.as_str())];
    let mut server = Server::start_with(dir.path(), &settings);
    server.wait_ready().await;
    let api: &Api = &server.api;
    let admin = api.signup_member("Admin").await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rapport"))
        .args([
            "admin",
            "set-role",
            "--email",
            &admin.email,
            "--role",
            "admin",
        ])
        .env("RAPPORT_DATA_DIR", dir.path())
        .env("RAPPORT_CONFIG", dir.path().join("none.toml"))
        .env("RAPPORT_LOG", "warn")
        .env_remove("RAPPORT_DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = api
        .request(
            Method::POST,
            "/api/v1/admin/webhooks",
            &admin.token,
            Some(json!({"url": url, "events": rapport_app::webhooks::EVENT_TYPES})),
        )
        .await;
    assert_eq!(r.status(), 201);
    let hook: Value = r.json().await.unwrap();

    let ada = api.signup_member("Ada").await;
    let bob = api.signup_member("Bob").await;
    let cy = api.signup_member("Cy").await;
    let first = api.invite_ok(&ada, &bob).await;
    assert_eq!(api.accept(&bob.token, &first).await.status(), 200);
    let second = api.invite_ok(&ada, &cy).await;
    assert_eq!(api.withdraw(&ada.token, &second).await.status(), 204);
    let expected = [
        "invitation.sent",
        "invitation.accepted",
        "connection.created",
        "invitation.sent",
        "invitation.withdrawn",
    ];

    // Wait until the first delivery has failed at least twice, then kill the server mid-retry.
    let log_path = format!(
        "/api/v1/admin/webhooks/{}/deliveries",
        hook["id"].as_str().unwrap()
    );
    let mut tried = false;
    for _ in 0..500 {
        let log: Value = api
            .request(Method::GET, &log_path, &admin.token, None)
            .await
            .json()
            .await
            .unwrap();
        let items = log["items"].as_array().unwrap();
        if items.len() == expected.len() && items.last().unwrap()["attempts"].as_u64().unwrap() >= 2
        {
            tried = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(tried, "the deliveries were never attempted");
    server.kill();
    assert!(got.lock().unwrap().is_empty());

    down.store(false, Ordering::SeqCst);
    let mut server = Server::start_with(dir.path(), &settings);
    server.wait_ready().await;
    for _ in 0..1500 {
        if got.lock().unwrap().len() >= expected.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut got = got.lock().unwrap().clone();
    // At least once: a retry cut short by the kill may arrive twice, one after the other.
    got.dedup_by(|a, b| a.0 == b.0);
    let types: Vec<String> = got
        .iter()
        .map(|(_, b)| {
            serde_json::from_str::<Value>(b).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(types, expected, "every event, once and in order: {got:?}");
    drop(server);
}
