use crate::helpers::*;
use serde_json::{json, Value};
use std::time::Duration;

const DAY: Duration = Duration::from_secs(86_400);

#[tokio::test]
async fn an_invitation_with_a_note_reaches_the_recipient_inbox() {
    // The recipient sees the sender, the note and a pending state; the sender sees the same invitation.
    let app = TestApp::spawn().await;
    let (ada, grace) = (app.member("Ada").await, app.member("Grace").await);
    let r = app
        .invite(&ada, &grace, Some("Hi Grace,\nloved your talk"))
        .await;
    assert_eq!(r.status(), 201);
    let inv: Value = r.json().await.unwrap();
    assert_eq!(inv["state"], "pending");
    assert_eq!(inv["note"], "Hi Grace,\nloved your talk");
    assert_eq!(inv["sender"]["name"], "Ada");
    assert_eq!(inv["decided_at"], Value::Null);
    let inbox: Value = app.received(&grace, "").await.json().await.unwrap();
    assert_eq!(ids(&inbox), vec![inv["id"].as_str().unwrap()]);
    assert_eq!(inbox["items"][0]["note"], "Hi Grace,\nloved your talk");
    assert_eq!(
        ids(&app.sent(&ada, "").await.json().await.unwrap()),
        vec![inv["id"].as_str().unwrap()]
    );
}

#[tokio::test]
async fn notes_are_checked_before_anything_is_sent() {
    // Too long, or with control characters: refused, and nothing was created.
    let app = TestApp::spawn().await;
    let (ada, grace) = (app.member("Ada").await, app.member("Grace").await);
    assert_problem(
        app.invite(&ada, &grace, Some(&"x".repeat(301))).await,
        422,
        "note_too_long",
    )
    .await;
    assert_problem(
        app.invite(&ada, &grace, Some("ring \u{7}")).await,
        422,
        "validation_failed",
    )
    .await;
    assert!(app.inbox_ids(&grace).await.is_empty());
    assert_eq!(
        app.invite(&ada, &grace, Some(&"é".repeat(300)))
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn nobody_can_invite_themselves_or_a_member_who_does_not_exist() {
    // Self-invitation is 422; unknown or malformed ids are 404.
    let app = TestApp::spawn().await;
    let ada = app.member("Ada").await;
    assert_problem(app.invite(&ada, &ada, None).await, 422, "self_invitation").await;
    for id in ["999999", "abc", "0", "-1", ""] {
        let r = app
            .post(
                "/api/v1/invitations",
                &ada.token,
                json!({"recipient_id": id}),
            )
            .await;
        assert_problem(r, 404, "not_found").await;
    }
}

#[tokio::test]
async fn a_second_invitation_between_the_same_pair_is_a_conflict() {
    // One pending invitation per pair, in either direction only via the mutual-accept path.
    let app = TestApp::spawn().await;
    let (ada, grace) = (app.member("Ada").await, app.member("Grace").await);
    app.invite_ok(&ada, &grace).await;
    assert_problem(
        app.invite(&ada, &grace, None).await,
        409,
        "invitation_pending",
    )
    .await;
}

#[tokio::test]
async fn inviting_someone_who_invited_you_connects_you_at_once() {
    // The second invitation accepts the first: 200 with a Connection, nothing left pending.
    let app = TestApp::spawn().await;
    let (ada, grace) = (app.member("Ada").await, app.member("Grace").await);
    let first = app.invite_ok(&ada, &grace).await;
    let r = app.invite(&grace, &ada, None).await;
    assert_eq!(r.status(), 200);
    let c: Value = r.json().await.unwrap();
    assert_eq!(c["member"]["id"], ada.id.as_str());
    assert!(app.inbox_ids(&grace).await.is_empty() && app.inbox_ids(&ada).await.is_empty());
    let seen: Value = app.invitation(&ada, &first).await.json().await.unwrap();
    assert_eq!(seen["state"], "accepted");
    assert_problem(
        app.invite(&ada, &grace, None).await,
        409,
        "already_connected",
    )
    .await;
}

#[tokio::test]
async fn accepting_connects_both_members() {
    // After accept both see each other as 1st-degree connections.
    let app = TestApp::spawn().await;
    let (ada, grace) = (app.member("Ada").await, app.member("Grace").await);
    let id = app.invite_ok(&ada, &grace).await;
    let r = app.accept(&grace, &id).await;
    assert_eq!(r.status(), 200);
    let c: Value = r.json().await.unwrap();
    assert_eq!(c["member"]["id"], ada.id.as_str());
    assert!(c["connected_at"].is_string());
    for (me, other) in [(&ada, &grace), (&grace, &ada)] {
        let p: Value = app.profile(me, &other.id).await.json().await.unwrap();
        assert_eq!(p["relationship"]["state"], "connected");
        assert_eq!(p["relationship"]["degree"], 1);
        let list: Value = app.connections(me, "").await.json().await.unwrap();
        assert_eq!(list["total"], 1);
        assert_eq!(list["items"][0]["member"]["id"], other.id.as_str());
    }
    let seen: Value = app.invitation(&ada, &id).await.json().await.unwrap();
    assert_eq!(seen["state"], "accepted");
    assert!(seen["decided_at"].is_string());
}

#[tokio::test]
async fn only_the_right_party_can_act_and_only_once() {
    // The sender cannot accept; acting twice is a conflict, never a silent success.
    let app = TestApp::spawn().await;
    let (ada, grace) = (app.member("Ada").await, app.member("Grace").await);
    let id = app.invite_ok(&ada, &grace).await;
    assert_problem(app.accept(&ada, &id).await, 403, "wrong_party").await;
    assert_problem(app.ignore(&ada, &id, None).await, 403, "wrong_party").await;
    assert_problem(app.withdraw(&grace, &id).await, 403, "wrong_party").await;
    assert_eq!(app.accept(&grace, &id).await.status(), 200);
    assert_problem(app.accept(&grace, &id).await, 409, "not_pending").await;
    assert_problem(app.withdraw(&ada, &id).await, 409, "not_pending").await;
    assert_problem(app.ignore(&grace, &id, None).await, 409, "not_pending").await;
}

#[tokio::test]
async fn an_ignored_invitation_reads_closed_to_the_sender() {
    // Ignoring is silent: the sender cannot tell it from an expiry; the recipient sees "ignored".
    let app = TestApp::spawn().await;
    let (ada, grace, alan) = (
        app.member("Ada").await,
        app.member("Grace").await,
        app.member("Alan").await,
    );
    let plain = app.invite_ok(&ada, &grace).await;
    assert_eq!(app.ignore(&grace, &plain, None).await.status(), 204);
    let seen: Value = app.invitation(&ada, &plain).await.json().await.unwrap();
    assert_eq!(seen["state"], "closed");
    assert_eq!(
        seen["decided_at"],
        Value::Null,
        "when it was ignored would say it was ignored"
    );
    let own: Value = app.invitation(&grace, &plain).await.json().await.unwrap();
    assert_eq!(own["state"], "ignored");
    assert!(
        app.sent(&ada, "").await.json::<Value>().await.unwrap()["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    for reason in ["dont_know", "spam"] {
        // A fresh sender each time: after either reason, the same sender is barred.
        let alan = app.member(&format!("Sender {reason}")).await;
        let id = app.invite_ok(&alan, &grace).await;
        assert_eq!(
            app.ignore(&grace, &id, Some(json!({"reason": reason})))
                .await
                .status(),
            204
        );
        assert_eq!(
            app.invitation(&alan, &id)
                .await
                .json::<Value>()
                .await
                .unwrap()["state"],
            "closed"
        );
    }
    let id = app.invite_ok(&ada, &alan).await;
    assert_problem(
        app.ignore(&alan, &id, Some(json!({"reason": "boring"})))
            .await,
        400,
        "malformed",
    )
    .await;
    assert_eq!(
        app.invitation(&alan, &id)
            .await
            .json::<Value>()
            .await
            .unwrap()["state"],
        "pending"
    );
}

#[tokio::test]
async fn withdrawn_invitation_disappears_from_recipient_inbox() {
    // After a withdrawal the recipient finds no trace; the sender sees "withdrawn" and Connect again.
    let app = TestApp::spawn().await;
    let (ada, grace) = (app.member("Ada").await, app.member("Grace").await);
    let id = app.invite_ok(&ada, &grace).await;
    let p: Value = app.profile(&ada, &grace.id).await.json().await.unwrap();
    assert_eq!(p["relationship"]["state"], "invitation_sent");
    assert_eq!(p["relationship"]["invitation_id"], id.as_str());
    let p: Value = app.profile(&grace, &ada.id).await.json().await.unwrap();
    assert_eq!(p["relationship"]["state"], "invitation_received");

    assert_eq!(app.withdraw(&ada, &id).await.status(), 204);
    assert!(app.inbox_ids(&grace).await.is_empty());
    assert_problem(app.invitation(&grace, &id).await, 404, "not_found").await;
    assert_problem(app.accept(&grace, &id).await, 404, "not_found").await;
    assert_eq!(
        app.invitation(&ada, &id)
            .await
            .json::<Value>()
            .await
            .unwrap()["state"],
        "withdrawn"
    );
    assert_problem(app.withdraw(&ada, &id).await, 409, "not_pending").await;
    let p: Value = app.profile(&ada, &grace.id).await.json().await.unwrap();
    assert_eq!(p["relationship"]["state"], "none");
    assert_eq!(p["relationship"]["invitation_id"], Value::Null);
}

#[tokio::test]
async fn lists_are_newest_first_and_paginate_with_cursors() {
    // Five invitations, two per page: three pages, newest first, the last with no cursor.
    let app = TestApp::spawn().await;
    let grace = app.member("Grace").await;
    let mut sent = Vec::new();
    for i in 0..5 {
        let m = app.member(&format!("Sender {i}")).await;
        sent.push(app.invite_ok(&m, &grace).await);
        app.advance(Duration::from_secs(1));
    }
    sent.reverse();
    let mut seen = Vec::new();
    let mut query = "?limit=2".to_owned();
    for _ in 0..3 {
        let page: Value = app.received(&grace, &query).await.json().await.unwrap();
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(c) => query = format!("?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, sent);
    assert_problem(
        app.received(&grace, "?cursor=bogus").await,
        422,
        "validation_failed",
    )
    .await;
    assert_problem(app.received(&grace, "?limit=abc").await, 400, "malformed").await;
    let all: Value = app
        .received(&grace, "?limit=1000")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&all).len(), 5, "limit is capped, not refused");
}

#[tokio::test]
async fn old_invitations_can_be_listed_and_withdrawn_in_bulk() {
    // A dry run counts; the real run withdraws exactly the invitations older than the age given.
    let app = TestApp::spawn().await;
    let ada = app.member("Ada").await;
    let mut old = Vec::new();
    for i in 0..3 {
        let r = app.member(&format!("Old {i}")).await;
        old.push(app.invite_ok(&ada, &r).await);
    }
    app.advance(30 * DAY);
    let fresh_recipient = app.member("Fresh").await;
    let fresh = app.invite_ok(&ada, &fresh_recipient).await;

    let listed: Value = app
        .sent(&ada, "?older_than=21d")
        .await
        .json()
        .await
        .unwrap();
    let mut listed = ids(&listed);
    listed.sort();
    let mut expected = old.clone();
    expected.sort();
    assert_eq!(listed, expected);

    let dry: Value = app
        .bulk_withdraw(&ada, json!({"older_than": "21d", "dry_run": true}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(dry["count"], 3);
    assert_eq!(
        ids(&app.sent(&ada, "").await.json().await.unwrap()).len(),
        4
    );
    let done: Value = app
        .bulk_withdraw(&ada, json!({"older_than": "3w"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(done["count"], 3);
    assert_eq!(
        ids(&app.sent(&ada, "").await.json().await.unwrap()),
        vec![fresh]
    );
    for id in &old {
        assert_eq!(
            app.invitation(&ada, id)
                .await
                .json::<Value>()
                .await
                .unwrap()["state"],
            "withdrawn"
        );
    }
    assert_problem(
        app.bulk_withdraw(&ada, json!({"older_than": "soon"})).await,
        422,
        "validation_failed",
    )
    .await;
    assert_problem(
        app.sent(&ada, "?older_than=later").await,
        422,
        "validation_failed",
    )
    .await;
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer() {
    // The same key and body answer the same and create one invitation; another body is refused.
    let app = TestApp::spawn().await;
    let (ada, grace, alan) = (
        app.member("Ada").await,
        app.member("Grace").await,
        app.member("Alan").await,
    );
    let send = |to: &str| {
        app.client
            .post(format!("{}/api/v1/invitations", app.base))
            .bearer_auth(&ada.token)
            .header("Idempotency-Key", "key-1")
            .json(&json!({"recipient_id": to}))
    };
    let first = send(&grace.id).send().await.unwrap();
    assert_eq!(first.status(), 201);
    let first_body = first.text().await.unwrap();
    let again = send(&grace.id).send().await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.text().await.unwrap(), first_body);
    assert_eq!(app.inbox_ids(&grace).await.len(), 1);
    assert_problem(
        send(&alan.id).send().await.unwrap(),
        422,
        "idempotency_key_reused",
    )
    .await;
    assert!(app.inbox_ids(&alan).await.is_empty());
}
