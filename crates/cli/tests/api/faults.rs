//! When what Rapport depends on fails: the embedded store's disk fills up. Writes are refused with
//! `503 storage_full` (problem+json, `Retry-After`) and an ERROR line tells the operator what to do,
//! reads go on, and nothing acknowledged is lost. (PostgreSQL going away is in `deploy::restart`.)
//!
//! The "disk" is filled with SQLite's own size limit, `RAPPORT_SQLITE_MAX_SIZE`: the writer sees
//! the very error a full file system gives it (`SQLITE_FULL`).

use crate::crash::Server;
use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};

/// Writes tried before the test gives up on filling the database (each adds a few hundred bytes
/// to a 1 MB database).
const MOST_WRITES: usize = 20_000;

/// An acknowledged invitation, and the state its sender reads once every acknowledged write is in.
struct Acked {
    id: String,
    state: &'static str,
}

/// The answer's status, and its body when it is JSON.
async fn answer(r: reqwest::Response) -> (u16, Option<String>, Value) {
    let status = r.status().as_u16();
    let retry_after = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let kind = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    if status >= 500 {
        assert_eq!(kind, "application/problem+json", "{status}: {body}");
    }
    (status, retry_after, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_and_keeps_reads() {
    let data = tempfile::tempdir().expect("a temporary directory");
    let log = data.path().join("rapport.log");
    let full = [
        ("RAPPORT_SQLITE_MAX_SIZE", "1MB"),
        ("RAPPORT_WEEKLY_INVITATION_LIMIT", "1000000"),
        ("RAPPORT_REINVITE_COOLDOWN", "0s"),
    ];
    let mut server = Server::start_logged(data.path(), &full, &log);
    server.wait_ready().await;
    let api = server.api.clone();
    let ada = api.signup_member("Ada").await;
    let bob = api.signup_member("Bob").await;
    let note = "n".repeat(300);

    // Invite, accept and remove the connection, over and over, until the database has no room
    // left.
    let mut acked: Vec<Acked> = Vec::new();
    let mut connected = false;
    let refusal = 'fill: {
        for _ in 0..MOST_WRITES {
            let r = api
                .send_invitation(&ada.token, json!({"recipient_id": bob.id, "note": note}))
                .await;
            let (status, retry, body) = answer(r).await;
            if status != 201 {
                break 'fill (status, retry, body);
            }
            let id = body["id"].as_str().expect("invitation id").to_owned();
            acked.push(Acked {
                id: id.clone(),
                state: "pending",
            });
            let (status, retry, body) = answer(api.accept(&bob.token, &id).await).await;
            if status != 200 {
                break 'fill (status, retry, body);
            }
            connected = true;
            if let Some(last) = acked.last_mut() {
                last.state = "accepted";
            }
            let r = api.remove_connection(&ada.token, &bob.id).await;
            let (status, retry, body) = answer(r).await;
            if status != 204 {
                break 'fill (status, retry, body);
            }
            connected = false;
        }
        panic!("{MOST_WRITES} invitations fit in 1MB");
    };
    let (status, retry, body) = refusal;
    assert_eq!(status, 503, "a write on a full disk: {body}");
    assert_eq!(body["code"], "storage_full", "{body}");
    assert!(
        retry.is_some_and(|s| s.parse::<u64>().is_ok_and(|s| s >= 1)),
        "a full disk's 503 says when to try again"
    );
    assert!(acked.len() > 10, "only {} writes fitted", acked.len());

    // A write that needs room is refused alike; a small one may still fit in a page with room
    // left (then it is acknowledged like any other). Never a 500. Every read answers.
    let r = api.invite(&bob, &ada).await;
    let (status, _, body) = answer(r).await;
    assert!(
        status == 503 && body["code"] == "storage_full",
        "another invitation: {status} {body}"
    );
    let r = api
        .signup(json!({"email": "cy@example.com", "password": PASSWORD, "name": "Cy"}))
        .await;
    let (status, _, body) = answer(r).await;
    let cy = match status {
        201 => body["token"].as_str().map(str::to_owned),
        503 if body["code"] == "storage_full" => None,
        _ => panic!("a sign-up on a full disk: {status} {body}"),
    };
    expect_json(api.me(&ada.token).await, 200).await;
    expect_json(api.me(&bob.token).await, 200).await;
    expect_json(api.received(&bob.token, "").await, 200).await;
    expect_json(api.sent(&ada.token, "").await, 200).await;
    expect_json(api.invitation(&ada.token, &acked[0].id).await, 200).await;
    expect_json(api.connections(&ada.token, "").await, 200).await;
    let r = api
        .request(Method::GET, "/api/v1/notifications", &bob.token, None)
        .await;
    expect_json(r, 200).await;

    let said = std::fs::read_to_string(&log).expect("the server's log");
    assert!(
        said.lines().any(|l| l.contains("ERROR")
            && l.contains("embedded database is full")
            && l.contains("free disk space")
            && l.contains("resume by themselves")),
        "no ERROR line tells the operator what to do:\n{said}"
    );
    // A log written to a file carries no colour escapes.
    assert!(
        !said.contains('\u{1b}'),
        "ANSI escapes in a log file:\n{said}"
    );

    // Room again (a larger limit, as an operator would set after freeing space): every
    // acknowledged write is there, and writes go on.
    server.kill();
    let roomy = [
        ("RAPPORT_SQLITE_MAX_SIZE", "100MB"),
        ("RAPPORT_WEEKLY_INVITATION_LIMIT", "1000000"),
        ("RAPPORT_REINVITE_COOLDOWN", "0s"),
    ];
    let mut server = Server::start_with(data.path(), &roomy);
    server.wait_ready().await;
    let api = server.api.clone();
    for a in &acked {
        let v = expect_json(api.invitation(&ada.token, &a.id).await, 200).await;
        assert_eq!(v["state"], a.state, "acknowledged invitation {}", a.id);
    }
    if let Some(token) = &cy {
        expect_json(api.me(token).await, 200).await;
    }
    let connections = api.connection_ids(&ada.token).await;
    assert_eq!(connections.contains(&bob.id), connected, "{connections:?}");
    if connected {
        expect_empty(api.remove_connection(&ada.token, &bob.id).await, 204).await;
    }
    if acked.last().is_some_and(|a| a.state == "pending") {
        let last = &acked[acked.len() - 1].id;
        expect_json(api.accept(&bob.token, last).await, 200).await;
    } else {
        api.invite_ok(&ada, &bob).await;
    }
}
