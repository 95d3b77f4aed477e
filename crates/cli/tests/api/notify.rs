//! Notifications in-app, by mail (file outbox and real SMTP), live over Server-Sent Events, and
//! signed webhooks: each reaches the right member on the right channel, and a withdrawal under the
//! default `silent` policy reaches nobody.

use crate::fixtures::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const DAY: Duration = Duration::from_secs(86_400);
/// How long a test waits for something that should happen within a second. Only a bound on a
/// failure, never a measurement.
const PATIENCE: Duration = Duration::from_secs(10);

async fn notifications(app: &TestApp, who: &Member) -> Value {
    let r = app.get("/api/v1/notifications", &who.token).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

fn kinds(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap().to_owned())
        .collect()
}

/// The `.eml` files in the outbox, as text.
fn outbox(app: &TestApp) -> Vec<String> {
    let dir = app.data_dir().join("outbox");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut mails: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    mails.sort();
    mails
}

fn mails_to<'a>(mails: &'a [String], who: &Member) -> Vec<&'a String> {
    mails.iter().filter(|m| m.contains(&who.email)).collect()
}

async fn settings(app: &TestApp, who: &Member, body: Value) -> reqwest::Response {
    app.raw(
        Method::PATCH,
        "/api/v1/me/settings",
        Some(&who.token),
        Some(body),
    )
    .await
}

#[tokio::test]
async fn notifications_follow_the_invitation_and_withdrawal_leaves_no_trace() {
    let app = TestApp::spawn().await;
    let ada = app.member("Ada").await;
    let bob = app.member("Bob").await;
    let cy = app.member("Cy").await;

    let id = app.invite_ok(&ada, &bob).await;
    let page = notifications(&app, &bob).await;
    assert_eq!(kinds(&page), ["invitation_received"]);
    assert_eq!(page["unread"], 1);
    assert_eq!(page["items"][0]["actor"]["id"], ada.id.as_str());
    assert_eq!(page["items"][0]["invitation_id"], id.as_str());
    assert_eq!(page["items"][0]["read"], false);

    // Withdrawn: gone from the inbox and from the notifications at once, and no mail goes out.
    assert_eq!(app.withdraw(&ada, &id).await.status(), 204);
    let page = notifications(&app, &bob).await;
    assert_eq!(kinds(&page), Vec::<String>::new());
    assert_eq!(page["unread"], 0);
    app.app.deliver_mail().await.unwrap();
    assert!(mails_to(&outbox(&app), &bob).is_empty());

    // Accepting tells the sender; ignoring never does.
    let id = app.invite_ok(&cy, &ada).await;
    assert_eq!(app.accept(&ada, &id).await.status(), 200);
    let page = notifications(&app, &cy).await;
    assert_eq!(kinds(&page), ["invitation_accepted"]);
    let id = app.invite_ok(&bob, &cy).await;
    assert_eq!(app.ignore(&cy, &id, None).await.status(), 204);
    let page = notifications(&app, &bob).await;
    assert_eq!(kinds(&page), Vec::<String>::new());

    // Marking read: someone else's ids change nothing and reveal nothing; no ids marks all.
    let dee = app.member("Dee").await;
    app.invite_ok(&dee, &bob).await;
    let theirs = notifications(&app, &bob).await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .post(
            "/api/v1/notifications/read",
            &cy.token,
            json!({"ids": [theirs]}),
        )
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(notifications(&app, &bob).await["unread"], 1);
    let r = app
        .post(
            "/api/v1/notifications/read",
            &bob.token,
            json!({"ids": [theirs]}),
        )
        .await;
    assert_eq!(r.status(), 204);
    let page = notifications(&app, &bob).await;
    assert_eq!(page["unread"], 0);
    assert_eq!(page["items"][0]["read"], true);
    let r = app
        .raw(
            Method::POST,
            "/api/v1/notifications/read",
            Some(&cy.token),
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(notifications(&app, &cy).await["unread"], 0);

    // Bad input is refused clearly.
    let r = app
        .post(
            "/api/v1/notifications/read",
            &bob.token,
            json!({"ids": "all"}),
        )
        .await;
    assert_problem(r, 400, "malformed").await;
    let r = app
        .post(
            "/api/v1/notifications/read",
            &bob.token,
            json!({"ids": ["x"]}),
        )
        .await;
    assert_problem(r, 422, "validation_failed").await;
    let r = app.get("/api/v1/notifications", "not-a-token").await;
    assert_problem(r, 401, "unauthenticated").await;
}

#[tokio::test]
async fn preferences_decide_each_channel() {
    let app = TestApp::spawn().await;
    let ada = app.member("Ada").await;
    let bob = app.member("Bob").await;
    let cy = app.member("Cy").await;

    // The defaults: everything in-app and mailed at once.
    let me: Value = app.me(&bob.token).await.json().await.unwrap();
    assert_eq!(
        me["settings"]["notifications"]["invitation_received"],
        json!({"in_app": true, "email": "immediate"})
    );

    // Bob wants received invitations by mail only; Cy wants neither.
    let r = settings(
        &app,
        &bob,
        json!({"notifications": {"invitation_received": {"in_app": false}}}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let me: Value = r.json().await.unwrap();
    assert_eq!(
        me["settings"]["notifications"]["invitation_received"],
        json!({"in_app": false, "email": "immediate"})
    );
    let r = settings(
        &app,
        &cy,
        json!({"notifications": {"invitation_received": {"in_app": false, "email": "off"}}}),
    )
    .await;
    assert_eq!(r.status(), 200);

    app.invite_ok(&ada, &bob).await;
    app.invite_ok(&ada, &cy).await;
    assert_eq!(
        kinds(&notifications(&app, &bob).await),
        Vec::<String>::new()
    );
    assert_eq!(kinds(&notifications(&app, &cy).await), Vec::<String>::new());
    assert_eq!(app.app.deliver_mail().await.unwrap(), 1);
    let mails = outbox(&app);
    let to_bob = mails_to(&mails, &bob);
    assert_eq!(to_bob.len(), 1);
    assert!(
        to_bob[0].contains("Ada invited you to connect"),
        "{}",
        to_bob[0]
    );
    assert!(to_bob[0].contains("List-Unsubscribe: <"), "{}", to_bob[0]);
    assert!(to_bob[0].contains("unsubscribe=invitation_received"));
    assert!(to_bob[0].contains("text/html"));
    assert!(
        !to_bob[0].contains(&ada.email),
        "another member's email leaked"
    );
    assert!(mails_to(&mails, &cy).is_empty());

    // Wrong settings are refused whole, and change nothing.
    for body in [
        json!({"notifications": {"invitation_sent": {"in_app": false}}}),
        json!({"notifications": {"invitation_received": {"email": "hourly"}}}),
        json!({"invitations_from": "nobody", "notifications": {"nope": {}}}),
    ] {
        let r = settings(&app, &bob, body).await;
        assert_problem(r, 422, "validation_failed").await;
    }
    let r = settings(
        &app,
        &bob,
        json!({"notifications": {"invitation_received": {"in_app": "yes"}}}),
    )
    .await;
    assert_problem(r, 400, "malformed").await;
    let me: Value = app.me(&bob.token).await.json().await.unwrap();
    assert_eq!(me["settings"]["invitations_from"], "everyone");
}

#[tokio::test]
async fn digests_gather_what_waited_and_skip_what_was_withdrawn() {
    let app = TestApp::spawn().await;
    let bob = app.member("Bob").await;
    let r = settings(
        &app,
        &bob,
        json!({"notifications": {"invitation_received": {"email": "daily"}}}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let ada = app.member("Ada").await;
    let cy = app.member("Cy").await;
    let dee = app.member("Dee").await;
    app.invite_ok(&ada, &bob).await;
    app.invite_ok(&cy, &bob).await;
    let gone = app.invite_ok(&dee, &bob).await;
    assert_eq!(app.withdraw(&dee, &gone).await.status(), 204);

    assert_eq!(app.app.deliver_mail().await.unwrap(), 0, "not yet a day");
    app.advance(DAY);
    assert_eq!(app.app.deliver_mail().await.unwrap(), 1);
    let mails = outbox(&app);
    let digest = mails_to(&mails, &bob);
    assert_eq!(digest.len(), 1);
    assert!(digest[0].contains("2 updates"), "{}", digest[0]);
    assert!(digest[0].contains("Ada invited you") && digest[0].contains("Cy invited you"));
    assert!(
        !digest[0].contains("Dee"),
        "a withdrawn invitation was mailed"
    );
    assert_eq!(app.app.deliver_mail().await.unwrap(), 0, "sent once");
}

#[tokio::test]
async fn reminders_come_twice_and_stop_when_the_invitation_does() {
    let app = TestApp::spawn().await;
    let ada = app.member("Ada").await;
    let bob = app.member("Bob").await;
    let cy = app.member("Cy").await;
    app.invite_ok(&ada, &bob).await;
    let withdrawn = app.invite_ok(&ada, &cy).await;
    assert_eq!(app.withdraw(&ada, &withdrawn).await.status(), 204);

    let reminders = |page: &Value| {
        kinds(page)
            .into_iter()
            .filter(|k| k == "invitation_reminder")
            .count()
    };
    app.advance(6 * DAY);
    app.app.sweep().await.unwrap();
    assert_eq!(reminders(&notifications(&app, &bob).await), 0);
    app.advance(DAY);
    app.app.sweep().await.unwrap();
    assert_eq!(reminders(&notifications(&app, &bob).await), 1);
    app.advance(14 * DAY);
    app.app.sweep().await.unwrap();
    app.app.sweep().await.unwrap();
    assert_eq!(reminders(&notifications(&app, &bob).await), 2);
    app.advance(60 * DAY);
    app.app.sweep().await.unwrap();
    assert_eq!(
        reminders(&notifications(&app, &bob).await),
        2,
        "at most two"
    );
    assert_eq!(reminders(&notifications(&app, &cy).await), 0);
    app.app.deliver_mail().await.unwrap();
    let mails = outbox(&app);
    assert_eq!(
        mails_to(&mails, &bob)
            .iter()
            .filter(|m| m.contains("is waiting for your answer"))
            .count(),
        2
    );
    assert!(mails_to(&mails, &cy).is_empty());
}

#[tokio::test]
async fn the_notify_policy_tells_the_recipient_and_digest_only_mentions_it() {
    let app = TestApp::spawn_with(|c| {
        c.withdrawal_notice = rapport_app::WithdrawalNotice::Notify;
    })
    .await;
    let ada = app.member("Ada").await;
    let bob = app.member("Bob").await;
    let id = app.invite_ok(&ada, &bob).await;
    assert_eq!(app.withdraw(&ada, &id).await.status(), 204);
    assert_eq!(
        kinds(&notifications(&app, &bob).await),
        ["invitation_withdrawn"]
    );
    app.app.deliver_mail().await.unwrap();
    let mails = outbox(&app);
    let to_bob = mails_to(&mails, &bob);
    assert_eq!(to_bob.len(), 1, "only the withdrawal, not the invitation");
    assert!(to_bob[0].contains("Ada withdrew their invitation"));

    let app = TestApp::spawn_with(|c| {
        c.withdrawal_notice = rapport_app::WithdrawalNotice::Digest;
    })
    .await;
    let ada = app.member("Ada").await;
    let bob = app.member("Bob").await;
    let id = app.invite_ok(&ada, &bob).await;
    assert_eq!(app.withdraw(&ada, &id).await.status(), 204);
    assert_eq!(
        kinds(&notifications(&app, &bob).await),
        Vec::<String>::new()
    );
    app.app.deliver_mail().await.unwrap();
    assert!(mails_to(&outbox(&app), &bob).is_empty());
    app.advance(DAY);
    app.app.deliver_mail().await.unwrap();
    let mails = outbox(&app);
    let to_bob = mails_to(&mails, &bob);
    assert_eq!(to_bob.len(), 1);
    assert!(to_bob[0].contains("digest") && to_bob[0].contains("Ada withdrew"));
}

/// A Server-Sent Events client reading one response.
struct Stream {
    response: reqwest::Response,
    buffer: String,
}

#[derive(Debug)]
struct Sse {
    id: String,
    event: String,
    data: Value,
}

impl Stream {
    async fn open(app: &TestApp, who: &Member, last_event_id: Option<&str>) -> Stream {
        let mut req = app
            .client
            .get(format!("{}/api/v1/events", app.base))
            .bearer_auth(&who.token);
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id);
        }
        let response = req.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
        Stream {
            response,
            buffer: String::new(),
        }
    }

    /// The next event (heartbeat comments skipped), or `None` when none comes in `wait`.
    async fn next(&mut self, wait: Duration) -> Option<Sse> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(e) = crate::sse::take_event(&mut self.buffer) {
                return Some(Sse {
                    id: e.id,
                    event: e.event,
                    data: serde_json::from_str(&e.data).unwrap(),
                });
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .ok()?
                .ok()??;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

#[tokio::test]
async fn live_streams_show_arrivals_and_silent_removals() {
    let app = TestApp::spawn().await;
    let ada = app.member("Ada").await;
    let bob = app.member("Bob").await;
    let mut stream = Stream::open(&app, &bob, None).await;

    let id = app.invite_ok(&ada, &bob).await;
    let e = stream.next(PATIENCE).await.expect("invitation.received");
    assert_eq!(e.event, "invitation.received");
    assert_eq!(e.data["invitation"]["id"], id.as_str());
    assert_eq!(e.data["invitation"]["state"], "pending");
    let e = stream.next(PATIENCE).await.expect("notification.created");
    assert_eq!(e.event, "notification.created");
    assert_eq!(e.data["unread"], 1);
    assert_eq!(e.data["notification"]["kind"], "invitation_received");
    let seen = e.id.clone();

    assert_eq!(app.withdraw(&ada, &id).await.status(), 204);
    let e = stream.next(PATIENCE).await.expect("invitation.removed");
    assert_eq!(e.event, "invitation.removed");
    assert_eq!(e.data["invitation_id"], id.as_str());
    assert_eq!(e.data["unread"], 0);
    let text = e.data.to_string();
    assert!(!text.contains("withdr"), "the removal says why: {text}");
    assert!(stream.next(Duration::from_millis(300)).await.is_none());

    // An acceptance reaches the sender's stream.
    let mut ada_stream = Stream::open(&app, &ada, None).await;
    let eve = app.member("Eve").await;
    let to_eve = app.invite_ok(&ada, &eve).await;
    assert_eq!(app.accept(&eve, &to_eve).await.status(), 200);
    let e = ada_stream
        .next(PATIENCE)
        .await
        .expect("invitation.accepted");
    assert_eq!(e.event, "invitation.accepted");
    assert_eq!(e.data["connection"]["member"]["id"], eve.id.as_str());
    let e = ada_stream
        .next(PATIENCE)
        .await
        .expect("notification.created");
    assert_eq!(e.data["notification"]["kind"], "invitation_accepted");

    // Reconnecting with Last-Event-ID replays what was missed, in order.
    drop(stream);
    let dee = app.member("Dee").await;
    let id = app.invite_ok(&dee, &bob).await;
    assert_eq!(app.accept(&bob, &id).await.status(), 200);
    let mut again = Stream::open(&app, &bob, Some(&seen)).await;
    let e = again.next(PATIENCE).await.expect("replayed removal");
    assert_eq!(e.event, "invitation.removed");
    let e = again.next(PATIENCE).await.expect("replayed arrival");
    assert_eq!(e.event, "invitation.received");
    assert_eq!(e.data["invitation"]["id"], id.as_str());
    assert_eq!(e.data["invitation"]["state"], "accepted");

    // A cap on streams per member.
    let mut open = Vec::new();
    for _ in 0..4 {
        open.push(Stream::open(&app, &ada, None).await);
    }
    let r = app.get("/api/v1/events", &ada.token).await;
    assert_problem(r, 429, "rate_limited").await;
    drop(open);
    let r = app.get("/api/v1/events", "nope").await;
    assert_problem(r, 401, "unauthenticated").await;
}

/// A mail server of the test's own: just enough SMTP to take messages.
async fn smtp_server() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(Mutex::new(Vec::new()));
    let store = received.clone();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let store = store.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 test ESMTP\r\n").await.unwrap();
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(body) = data.as_mut() {
                        if line == "." {
                            store.lock().unwrap().push(data.take().unwrap());
                            write.write_all(b"250 queued\r\n").await.unwrap();
                        } else {
                            body.push_str(&line);
                            body.push('\n');
                        }
                        continue;
                    }
                    let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
                    let answer: &[u8] = match verb.as_str() {
                        "EHLO" => b"250-test\r\n250 8BITMIME\r\n",
                        "HELO" | "MAIL" | "RCPT" | "RSET" | "NOOP" => b"250 ok\r\n",
                        "DATA" => {
                            data = Some(String::new());
                            b"354 go on\r\n"
                        }
                        "QUIT" => {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            return;
                        }
                        _ => b"502 no\r\n",
                    };
                    write.write_all(answer).await.unwrap();
                }
            });
        }
    });
    (port, received)
}

#[tokio::test]
async fn mail_goes_through_real_smtp_when_configured() {
    let (port, received) = smtp_server().await;
    let app = TestApp::spawn_with(|c| {
        c.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
    })
    .await;
    let ada = app.member("Ada").await;
    let bob = app.member("Bob").await;
    app.invite_ok(&ada, &bob).await;
    assert_eq!(app.app.deliver_mail().await.unwrap(), 1);
    let mails = received.lock().unwrap().clone();
    assert_eq!(mails.len(), 1);
    assert!(mails[0].contains(&bob.email));
    assert!(mails[0].contains("Ada invited you to connect"));
    assert!(outbox(&app).is_empty(), "SMTP replaces the file outbox");
}

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

#[tokio::test]
async fn members_are_told_when_a_restriction_starts_and_ends() {
    let app = TestApp::spawn().await;
    let admin = app.member("Admin").await;
    make_admin(&app, &admin).await;
    let ada = app.member("Ada").await;
    let until = rapport_domain::Timestamp(START.0 + 86_400_000).to_rfc3339();
    let r = app
        .raw(
            Method::PUT,
            &format!("/api/v1/admin/members/{}/restriction", ada.id),
            Some(&admin.token),
            Some(json!({"until": until, "reason": "spam"})),
        )
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(
        kinds(&notifications(&app, &ada).await),
        ["restriction_applied"]
    );
    // It runs out: the sweeper tells her, once.
    app.advance(DAY + Duration::from_secs(1));
    assert_eq!(app.app.sweep().await.unwrap().restrictions_ended, 1);
    assert_eq!(app.app.sweep().await.unwrap().restrictions_ended, 0);
    assert_eq!(
        kinds(&notifications(&app, &ada).await),
        ["restriction_lifted", "restriction_applied"]
    );
    // Lifted by a moderator: told at once, and not again when its time would have come.
    let until = rapport_domain::Timestamp(app.app.now().0 + 86_400_000).to_rfc3339();
    let path = format!("/api/v1/admin/members/{}/restriction", ada.id);
    let r = app
        .raw(
            Method::PUT,
            &path,
            Some(&admin.token),
            Some(json!({"until": until})),
        )
        .await;
    assert_eq!(r.status(), 204);
    let r = app
        .raw(Method::DELETE, &path, Some(&admin.token), None)
        .await;
    assert_eq!(r.status(), 204);
    app.advance(2 * DAY);
    assert_eq!(app.app.sweep().await.unwrap().restrictions_ended, 0);
    assert_eq!(
        kinds(&notifications(&app, &ada).await)[..2],
        ["restriction_lifted", "restriction_applied"]
    );
    assert_eq!(notifications(&app, &ada).await["unread"], 4);
}
