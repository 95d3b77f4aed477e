//! `Idempotency-Key`: a retried POST replays its first answer instead of acting twice.

use crate::helpers::*;
use futures_util::future::join_all;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn the_same_key_and_body_replay_the_first_answer_and_act_once() {
    // A retry gets the same status and the same bytes, marked as replayed; one invitation exists.
    let app = TestApp::spawn().await;
    let (ada, bob) = (
        app.signup_member("Ada").await,
        app.signup_member("Bob").await,
    );
    let body = json!({"recipient_id": bob.id, "note": "hello"});
    let first = app
        .send_invitation_with_key(&ada.token, "retry-me-1", body.clone())
        .await;
    assert_eq!(first.status(), 201);
    assert_eq!(header(&first, "content-type"), "application/json");
    let first_body = first.bytes().await.unwrap();
    app.advance(Duration::from_secs(60));
    for _ in 0..2 {
        let again = app
            .send_invitation_with_key(&ada.token, "retry-me-1", body.clone())
            .await;
        assert_eq!(again.status(), 201);
        assert_eq!(header(&again, "idempotent-replayed"), "true");
        assert_eq!(header(&again, "content-type"), "application/json");
        assert_eq!(again.bytes().await.unwrap(), first_body);
    }
    assert_eq!(app.received_ids(&bob.token).await.len(), 1);
    assert_eq!(app.sent_ids(&ada.token).await.len(), 1);
    let me = expect_json(app.me(&ada.token).await, 200).await;
    assert_eq!(me["quota"]["used"], 1, "a replay is not another send");

    // Without the key, the same request acts again (and is refused: one is pending).
    expect_problem(
        app.send_invitation(&ada.token, body).await,
        409,
        "invitation_pending",
    )
    .await;
}

#[tokio::test]
async fn the_same_key_with_another_body_is_422_idempotency_key_reused() {
    // A key names one request; reusing it for another acts on nothing.
    let app = TestApp::spawn().await;
    let ada = app.signup_member("Ada").await;
    let (bob, cy) = (
        app.signup_member("Bob").await,
        app.signup_member("Cy").await,
    );
    let key = "one-key";
    expect_json(
        app.send_invitation_with_key(&ada.token, key, json!({"recipient_id": bob.id}))
            .await,
        201,
    )
    .await;
    for body in [
        json!({"recipient_id": cy.id}),
        json!({"recipient_id": bob.id, "note": "a note this time"}),
    ] {
        expect_problem(
            app.send_invitation_with_key(&ada.token, key, body).await,
            422,
            "idempotency_key_reused",
        )
        .await;
    }
    assert!(app.received_ids(&cy.token).await.is_empty());
    assert_eq!(app.sent_ids(&ada.token).await.len(), 1);
}

#[tokio::test]
async fn keys_belong_to_the_member_who_used_them() {
    // Another member's identical key is their own request, not a replay of someone else's answer.
    let app = TestApp::spawn().await;
    let (ada, bob, cy) = (
        app.signup_member("Ada").await,
        app.signup_member("Bob").await,
        app.signup_member("Cy").await,
    );
    let body = json!({"recipient_id": cy.id});
    let a = expect_json(
        app.send_invitation_with_key(&ada.token, "shared", body.clone())
            .await,
        201,
    )
    .await;
    let b = app
        .send_invitation_with_key(&bob.token, "shared", body)
        .await;
    assert_eq!(header(&b, "idempotent-replayed"), "");
    let b = expect_json(b, 201).await;
    assert_ne!(a["id"], b["id"]);
    assert_eq!(b["sender"]["id"], bob.id.as_str());
    assert_eq!(app.received_ids(&cy.token).await.len(), 2);
}

#[tokio::test]
async fn a_key_replays_for_24_hours_only() {
    // After a day the key is forgotten: the request runs again (and meets the pending invitation).
    let app = TestApp::spawn().await;
    let (ada, bob) = (
        app.signup_member("Ada").await,
        app.signup_member("Bob").await,
    );
    let body = json!({"recipient_id": bob.id});
    expect_json(
        app.send_invitation_with_key(&ada.token, "daily", body.clone())
            .await,
        201,
    )
    .await;
    app.advance(Duration::from_secs(23 * 3600));
    expect_json(
        app.send_invitation_with_key(&ada.token, "daily", body.clone())
            .await,
        201,
    )
    .await;
    app.advance(Duration::from_secs(2 * 3600));
    expect_problem(
        app.send_invitation_with_key(&ada.token, "daily", body)
            .await,
        409,
        "invitation_pending",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_retries_with_one_key_act_once_and_all_get_the_first_answer() {
    // Ten copies of one keyed request at once: one invitation, ten identical 201 answers.
    let app = TestApp::spawn().await;
    let (ada, bob) = (
        app.signup_member("Ada").await,
        app.signup_member("Bob").await,
    );
    let body = json!({"recipient_id": bob.id});
    let answers =
        join_all((0..10).map(|_| app.send_invitation_with_key(&ada.token, "burst", body.clone())))
            .await;
    let mut bodies = Vec::new();
    for r in answers {
        assert_eq!(r.status(), 201);
        bodies.push(r.bytes().await.unwrap());
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(app.received_ids(&bob.token).await.len(), 1);
}

#[tokio::test]
async fn a_refusal_is_not_replayed_so_a_retry_after_retry_after_succeeds() {
    // Only successful answers are kept for a key: a keyed request refused with 429 and retried with
    // the same key is evaluated afresh, still says when to come back, and goes through once that
    // time has passed instead of replaying the stale refusal for a day.
    let app = TestApp::spawn_with(|c| c.weekly_invitation_limit = 1).await;
    let (ada, bob, cleo) = (
        app.signup_member("Ada").await,
        app.signup_member("Bob").await,
        app.signup_member("Cleo").await,
    );
    expect_json(
        app.send_invitation(&ada.token, json!({"recipient_id": bob.id}))
            .await,
        201,
    )
    .await;
    let body = json!({"recipient_id": cleo.id});
    let first = app
        .send_invitation_with_key(&ada.token, "retry", body.clone())
        .await;
    assert!(!header(&first, "retry-after").is_empty());
    expect_problem(first, 429, "quota_exceeded").await;
    let again = app
        .send_invitation_with_key(&ada.token, "retry", body.clone())
        .await;
    assert!(
        header(&again, "idempotent-replayed").is_empty(),
        "a refusal is never replayed"
    );
    assert!(!header(&again, "retry-after").is_empty());
    expect_problem(again, 429, "quota_exceeded").await;
    app.advance(Duration::from_secs(7 * 86_400));
    expect_json(
        app.send_invitation_with_key(&ada.token, "retry", body)
            .await,
        201,
    )
    .await;
}

/// Every text or blob value of every table of the SQLite file at `db`, as bytes.
fn every_stored_value(db: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut out = Vec::new();
    for table in tables {
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
        let columns = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for i in 0..columns {
                let bytes = match row.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                        t.to_vec()
                    }
                    _ => continue,
                };
                out.push((table.clone(), bytes));
            }
        }
    }
    out
}

#[tokio::test]
async fn no_bearer_token_is_stored_in_clear() {
    // Only a token's SHA-256 is kept (crates/app/src/auth.rs); an Idempotency-Key on signup or
    // login must not leave a working token readable in the database for 24 hours.
    let app = TestApp::spawn().await;
    let body = json!({"email": "ada@example.com", "password": PASSWORD, "name": "Ada"});
    let signed_up = expect_json(app.signup_with_key("signup-1", body).await, 201).await;
    let logged_in = expect_json(
        app.login_with_key("login-1", "ada@example.com", PASSWORD)
            .await,
        200,
    )
    .await;
    let tokens = [&signed_up["token"], &logged_in["token"]].map(|t| t.as_str().unwrap().to_owned());
    for token in &tokens {
        expect_json(app.me(token).await, 200).await;
    }
    for (table, value) in every_stored_value(&app.db_path()) {
        let text = String::from_utf8_lossy(&value);
        for token in &tokens {
            assert!(
                !text.contains(token.as_str()),
                "table {table} holds a live bearer token in clear"
            );
        }
    }
}

#[tokio::test]
async fn a_password_change_answer_is_never_stored() {
    // Whoever can send a keyed password change again (a retry queue, a logged request) must not be
    // handed the member's new token: that answer is never kept, so the replay runs again, and is
    // refused, the password having changed.
    let app = TestApp::spawn().await;
    let ada = app.signup_member("Ada").await;
    let path = "/api/v1/me/password";
    let body = json!({"current_password": PASSWORD, "new_password": "a brand new passphrase"});
    let first = app
        .post_with_key(path, &ada.token, "pw-1", body.clone())
        .await;
    let token = expect_json(first, 200).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.count("SELECT count(*) FROM idempotency_keys").await, 0);

    for bearer in [&token, &ada.token] {
        let again = app.post_with_key(path, bearer, "pw-1", body.clone()).await;
        assert_eq!(header(&again, "idempotent-replayed"), "");
        let status = again.status();
        let text = again.text().await.unwrap();
        assert!(
            !text.contains(&token),
            "a replay handed the token out: {text}"
        );
        assert_eq!(status, 401, "{text}");
    }
    expect_json(app.me(&token).await, 200).await;
}

#[tokio::test]
async fn kept_answers_are_deleted_after_their_24_hours() {
    // The sweeper deletes every kept answer once its replay window has passed, and only those.
    let app = TestApp::spawn().await;
    let ada = app.signup_member("Ada").await;
    let read = "/api/v1/notifications/read";
    expect_empty(
        app.post_with_key(read, &ada.token, "old", json!({})).await,
        204,
    )
    .await;
    app.advance(Duration::from_secs(12 * 3600));
    expect_empty(
        app.post_with_key(read, &ada.token, "recent", json!({}))
            .await,
        204,
    )
    .await;
    assert_eq!(app.app.sweep().await.unwrap().replays_pruned, 0);
    app.advance(Duration::from_secs(12 * 3600));
    assert_eq!(app.app.sweep().await.unwrap().replays_pruned, 1);
    let kept = |key: &str| format!("SELECT count(*) FROM idempotency_keys WHERE key = '{key}'");
    assert_eq!(app.count(&kept("old")).await, 0);
    assert_eq!(app.count(&kept("recent")).await, 1);
}

#[tokio::test]
async fn a_member_flooding_keys_keeps_only_the_newest() {
    // Past the bound of kept answers per member (3 here; 10,000 by default), each new one deletes
    // that member's oldest, so no member can grow the table without bound; others keep theirs.
    let app = TestApp::spawn_with(|c| c.idempotency_keys_per_member = 3).await;
    let (ada, bob) = (
        app.signup_member("Ada").await,
        app.signup_member("Bob").await,
    );
    let read = "/api/v1/notifications/read";
    expect_empty(
        app.post_with_key(read, &bob.token, "bob-1", json!({}))
            .await,
        204,
    )
    .await;
    for i in 1..=5 {
        app.advance(Duration::from_secs(60));
        let key = format!("ada-{i}");
        expect_empty(
            app.post_with_key(read, &ada.token, &key, json!({})).await,
            204,
        )
        .await;
    }
    let of = |id: &str| format!("SELECT count(*) FROM idempotency_keys WHERE member_id = {id}");
    assert_eq!(app.count(&of(&ada.id)).await, 3);
    assert_eq!(app.count(&of(&bob.id)).await, 1);
    let gone = "SELECT count(*) FROM idempotency_keys WHERE key IN ('ada-1', 'ada-2')";
    assert_eq!(app.count(gone).await, 0);
    let newest = app
        .post_with_key(read, &ada.token, "ada-5", json!({}))
        .await;
    assert_eq!(header(&newest, "idempotent-replayed"), "true");
}
