//! The server under abuse: load shedding past its in-flight limit, slow bodies and slow headers,
//! the cap on live streams per member, and the life of tokens (new at every sign-in, revoked at
//! logout, password change, suspension and deactivation).

use crate::helpers::*;
use reqwest::Method;
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A connection that sends a request's headers and the start of a body, then nothing more.
async fn stalled_upload(app: &TestApp, path: &str) -> TcpStream {
    let addr = app.address.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"email\":"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s
}

/// Everything the server sends until it closes the connection, or `None` if it has not closed it
/// within 30 s (a bound far above every timeout these tests set).
async fn read_to_close(s: &mut TcpStream) -> Option<String> {
    let mut out = Vec::new();
    match tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut out)).await {
        Ok(_) => Some(String::from_utf8_lossy(&out).into_owned()),
        Err(_) => None,
    }
}

#[tokio::test]
async fn past_its_in_flight_limit_the_server_sheds_load_with_503_and_retry_after() {
    let app = TestApp::spawn_with(|c| c.max_in_flight = 2).await;
    let m = app.signup_member("Ada").await;
    // Two uploads that never finish hold both slots.
    let mut slow = vec![
        stalled_upload(&app, "/api/v1/auth/login").await,
        stalled_upload(&app, "/api/v1/auth/login").await,
    ];
    let mut shed = None;
    for _ in 0..500 {
        let r = app.me(&m.token).await;
        if r.status() == 503 {
            shed = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let r = shed.expect("a request past the limit is shed");
    assert_eq!(header(&r, "retry-after"), "1");
    let p = expect_problem(r, 503, "overloaded").await;
    assert!(p["retry_at"].is_string(), "{p}");
    // Health and metrics are never shed: operators can see what is going on.
    assert_eq!(app.readyz().await.unwrap().status(), 200);
    let metrics = app
        .request(Method::GET, "/metrics", ANONYMOUS, None)
        .await
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("rapport_http_shed_total"), "{metrics}");
    // The slow clients go away; their slots come back and nothing was lost.
    slow.clear();
    let mut answered = None;
    for _ in 0..500 {
        let r = app.me(&m.token).await;
        if r.status() != 503 {
            answered = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    expect_json(answered.expect("answers again"), 200).await;
}

#[tokio::test]
async fn a_body_that_never_arrives_is_answered_408_and_frees_its_slot() {
    let app = TestApp::spawn_with(|c| {
        c.max_in_flight = 1;
        c.request_timeout = Duration::from_secs(1);
    })
    .await;
    let mut s = stalled_upload(&app, "/api/v1/auth/login").await;
    let answer = read_to_close(&mut s)
        .await
        .expect("the server answers and closes");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
    // Its one slot is free again.
    expect_problem(
        app.login("nobody@example.com", "wrong password").await,
        401,
        "invalid_credentials",
    )
    .await;
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let app = TestApp::spawn_with(|c| c.header_timeout = Duration::from_secs(1)).await;
    let addr = app.address.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let answer = read_to_close(&mut s)
        .await
        .expect("the server closes a connection that never finishes its headers");
    // Closed (hyper may say 408 first); never a 200 to a request that did not arrive.
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    // The server goes on answering everyone else.
    assert_eq!(app.readyz().await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_member_may_hold_five_live_streams_and_a_sixth_is_refused_until_one_closes() {
    let app = TestApp::spawn().await;
    let m = app.signup_member("Ada").await;
    let open = || app.request(Method::GET, "/api/v1/events", &m.token, None);
    let mut streams = Vec::new();
    for _ in 0..5 {
        let r = open().await;
        assert_eq!(r.status(), 200);
        streams.push(r);
    }
    let r = open().await;
    assert!(!header(&r, "retry-after").is_empty());
    expect_problem(r, 429, "rate_limited").await;
    // Another member is not affected.
    let other = app.signup_member("Grace").await;
    let r = app
        .request(Method::GET, "/api/v1/events", &other.token, None)
        .await;
    assert_eq!(r.status(), 200);
    // Closing one makes room (the server notices the closed stream on its next write or
    // heartbeat, so allow it a moment).
    streams.pop();
    let mut reopened = false;
    for _ in 0..300 {
        let r = open().await;
        if r.status() == 200 {
            reopened = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reopened, "a closed stream's place is given back");
}

#[tokio::test]
async fn every_sign_in_gets_its_own_token_and_logout_revokes_only_that_one() {
    let app = TestApp::spawn().await;
    let m = app.signup_member("Ada").await;
    let second = expect_json(app.login(&m.email, PASSWORD).await, 200).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(second, m.token);
    expect_empty(app.logout(&second).await, 204).await;
    expect_problem(app.me(&second).await, 401, "unauthenticated").await;
    expect_json(app.me(&m.token).await, 200).await;
}

async fn change_password(
    app: &TestApp,
    token: &str,
    current: &str,
    new: &str,
) -> reqwest::Response {
    app.request(
        Method::POST,
        "/api/v1/me/password",
        token,
        Some(json!({"current_password": current, "new_password": new})),
    )
    .await
}

#[tokio::test]
async fn changing_the_password_signs_out_every_other_session() {
    let app = TestApp::spawn().await;
    let m = app.signup_member("Ada").await;
    let phone = expect_json(app.login(&m.email, PASSWORD).await, 200).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    // Both sessions are in the token cache.
    expect_json(app.me(&phone).await, 200).await;
    expect_json(app.me(&m.token).await, 200).await;

    let p = expect_problem(
        change_password(&app, &m.token, "not my password", "a brand new passphrase").await,
        401,
        "invalid_credentials",
    )
    .await;
    assert!(!p.to_string().contains(&m.email));
    let p = expect_problem(
        change_password(&app, &m.token, PASSWORD, "short").await,
        422,
        "validation_failed",
    )
    .await;
    assert!(
        p["detail"].as_str().unwrap().contains("new_password"),
        "{p}"
    );
    expect_json(app.me(&phone).await, 200).await;

    let v = expect_json(
        change_password(&app, &m.token, PASSWORD, "a brand new passphrase").await,
        200,
    )
    .await;
    let fresh = v["token"].as_str().unwrap();
    expect_problem(app.me(&m.token).await, 401, "unauthenticated").await;
    expect_problem(app.me(&phone).await, 401, "unauthenticated").await;
    expect_json(app.me(fresh).await, 200).await;
    expect_problem(
        app.login(&m.email, PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    expect_json(app.login(&m.email, "a brand new passphrase").await, 200).await;
}

#[tokio::test]
async fn guessing_the_current_password_with_a_stolen_token_is_rate_limited() {
    let app = TestApp::spawn().await;
    let m = app.signup_member("Ada").await;
    for _ in 0..10 {
        let r = change_password(&app, &m.token, "a wrong guess", "a brand new passphrase").await;
        expect_problem(r, 401, "invalid_credentials").await;
    }
    let r = change_password(&app, &m.token, PASSWORD, "a brand new passphrase").await;
    assert!(!header(&r, "retry-after").is_empty());
    expect_problem(r, 429, "rate_limited").await;
    // Sign-in for that email is held back too: the same guesses, the same limit.
    expect_problem(app.login(&m.email, PASSWORD).await, 429, "rate_limited").await;
    app.advance(Duration::from_secs(16 * 60));
    expect_json(
        change_password(&app, &m.token, PASSWORD, "a brand new passphrase").await,
        200,
    )
    .await;
}

#[tokio::test]
async fn suspension_and_deactivation_revoke_every_token_of_the_member() {
    let app = TestApp::spawn().await;
    let admin = app.signup_member("Admin").await;
    app.make_admin(&admin.email).await;
    let m = app.signup_member("Mallory").await;
    expect_json(app.me(&m.token).await, 200).await;
    let r = app
        .request(
            Method::PATCH,
            &format!("/api/v1/admin/members/{}", m.id),
            &admin.token,
            Some(json!({"suspended": true})),
        )
        .await;
    expect_json(r, 200).await;
    expect_problem(app.me(&m.token).await, 401, "unauthenticated").await;
    expect_problem(
        app.login(&m.email, PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;

    let d = app.signup_member("Dora").await;
    expect_json(app.me(&d.token).await, 200).await;
    expect_empty(
        app.request(Method::POST, "/api/v1/me/deactivate", &d.token, None)
            .await,
        204,
    )
    .await;
    expect_problem(app.me(&d.token).await, 401, "unauthenticated").await;
}

/// With the default settings, an administrator cannot point a webhook at the machine itself, the
/// private network or the cloud metadata service: the address is refused when it is registered
/// (a host name is checked again when it is resolved, at every delivery).
#[tokio::test]
async fn webhook_to_metadata_address_is_refused() {
    let app = TestApp::spawn_with(|c| c.webhook_allow_private = false).await;
    let admin = app.signup_member("Admin").await;
    app.make_admin(&admin.email).await;
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:9/",
        "http://[::1]/",
        "http://10.0.0.7/hook",
        "http://localhost:8080/hook",
        "http://[::ffff:169.254.169.254]/",
    ] {
        let r = app
            .request(
                Method::POST,
                "/api/v1/admin/webhooks",
                &admin.token,
                Some(json!({"url": url, "events": ["invitation.sent"]})),
            )
            .await;
        let problem = expect_problem(r, 422, "validation_failed").await;
        assert!(
            problem["detail"].as_str().unwrap_or("").contains("public"),
            "{url}: {problem}"
        );
    }
}

/// A sign-in attempt from `client`, as a trusted proxy on 127.0.0.1 forwards it.
async fn login_from(app: &TestApp, client: &str, email: &str, password: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/api/v1/auth/login", app.address))
        .header("x-forwarded-for", client)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
}

fn behind_a_proxy(c: &mut rapport_app::Config) {
    c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
}

/// Failures from one address lock that address out of the account, not the member: from her own
/// address her password still works.
#[tokio::test]
async fn a_stranger_cannot_lock_out_a_member() {
    let app = TestApp::spawn_with(behind_a_proxy).await;
    let ada = app.signup_member("Ada").await;
    for _ in 0..10 {
        let r = login_from(&app, "203.0.113.66", &ada.email, "a wrong guess!").await;
        expect_problem(r, 401, "invalid_credentials").await;
    }
    let r = login_from(&app, "203.0.113.66", &ada.email, PASSWORD).await;
    expect_problem(r, 429, "rate_limited").await;
    let r = login_from(&app, "198.51.100.7", &ada.email, PASSWORD).await;
    expect_json(r, 200).await;
    // The forwarded address is believed only from a trusted proxy: without one, every attempt
    // above would have come from 127.0.0.1, and the 429 would have followed it here.
}

/// One address trying one password over many accounts is refused after the configured number of
/// failures, whatever the emails; other addresses are not.
#[tokio::test]
async fn password_spraying_from_one_address_is_refused() {
    let app = TestApp::spawn_with(|c| {
        behind_a_proxy(c);
        c.login_failures_per_address = 5;
    })
    .await;
    let ada = app.signup_member("Ada").await;
    for i in 0..5 {
        let r = login_from(
            &app,
            "203.0.113.66",
            &format!("m{i}@example.com"),
            "Summer2026!",
        )
        .await;
        expect_problem(r, 401, "invalid_credentials").await;
    }
    let r = login_from(&app, "203.0.113.66", &ada.email, PASSWORD).await;
    assert!(!header(&r, "retry-after").is_empty());
    expect_problem(r, 429, "rate_limited").await;
    expect_json(
        login_from(&app, "198.51.100.7", &ada.email, PASSWORD).await,
        200,
    )
    .await;
}

/// Sign-up answers which addresses are taken (409), so it is limited per client address.
#[tokio::test]
async fn sign_up_cannot_be_used_to_list_members() {
    let app = TestApp::spawn_with(|c| {
        behind_a_proxy(c);
        c.signups_per_address = 3;
    })
    .await;
    let client = reqwest::Client::new();
    let signup = |from: &'static str, email: &'static str| {
        client
            .post(format!("{}/api/v1/auth/signup", app.address))
            .header("x-forwarded-for", from)
            .json(&json!({"email": email, "password": PASSWORD, "name": "Probe"}))
            .send()
    };
    expect_json(signup("203.0.113.66", "a@example.com").await.unwrap(), 201).await;
    let r = signup("203.0.113.66", "a@example.com").await.unwrap();
    expect_problem(r, 409, "email_taken").await;
    expect_json(signup("203.0.113.66", "b@example.com").await.unwrap(), 201).await;
    let r = signup("203.0.113.66", "c@example.com").await.unwrap();
    assert!(!header(&r, "retry-after").is_empty());
    expect_problem(r, 429, "rate_limited").await;
    expect_json(signup("198.51.100.7", "c@example.com").await.unwrap(), 201).await;
}

/// A client inventing HTTP methods cannot make the metrics grow without bound: every method outside
/// the standard ones is one label value, `other`.
#[tokio::test]
async fn invented_methods_are_one_metrics_label() {
    let app = TestApp::spawn().await;
    for invented in ["FROBNICATE", "XYZZY1", "XYZZY2"] {
        let method = Method::from_bytes(invented.as_bytes()).unwrap();
        let r = app.request(method, "/api/v1/me", ANONYMOUS, None).await;
        assert!(r.status().is_client_error(), "{invented}: {}", r.status());
    }
    let metrics = app
        .request(Method::GET, "/metrics", ANONYMOUS, None)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !metrics.contains("FROBNICATE") && !metrics.contains("XYZZY"),
        "{metrics}"
    );
    assert!(metrics.contains("method=\"other\""), "{metrics}");
}

/// With `RAPPORT_METRICS_TOKEN` set, the metrics (which name routes, counts and timings) are for the
/// scraper that has it, not for anyone who finds the port.
#[tokio::test]
async fn metrics_behind_a_token_answer_only_the_scraper() {
    let token = "scrape-0123456789abcdef";
    let app = TestApp::spawn_with(|c| c.metrics_token = Some(token.into())).await;
    for sent in [ANONYMOUS, "scrape-0123456789abcdeX", "a-member-token"] {
        let r = app.request(Method::GET, "/metrics", sent, None).await;
        expect_problem(r, 401, "unauthenticated").await;
    }
    let r = app.request(Method::GET, "/metrics", token, None).await;
    assert_eq!(r.status(), 200);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("rapport_http_requests_total"));
    // Health stays open for load balancers.
    assert_eq!(app.readyz().await.unwrap().status(), 200);
}
