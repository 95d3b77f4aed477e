//! Invitations: sending and its refusals, accept, ignore, withdraw, what each party sees, the
//! Received and Sent lists with their cursors, and bulk withdrawal.
//!
//! A little over 600 lines: the life cycle of one invitation is tested from both parties' sides,
//! and the list tests reuse its fixtures.

use crate::helpers::*;
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test]
async fn sending_answers_201_with_the_pending_invitation_and_its_note() {
    // A new invitation carries both parties' summaries and the note, line breaks kept.
    let app = TestApp::spawn().await;
    let (ada, bob) = (
        app.signup_member("Ada").await,
        app.signup_member("Bob").await,
    );
    let note = "Hello Bob,\nwe met at the conference.\r\nLet's connect!";
    let r = app
        .send_invitation(&ada.token, json!({"recipient_id": bob.id, "note": note}))
        .await;
    let inv = expect_json(r, 201).await;
    let id = inv["id"].as_str().expect("id");
    assert_eq!(
        inv["sender"],
        json!({"id": ada.id, "name": "Ada", "headline": "", "company": ""})
    );
    assert_eq!(
        inv["recipient"],
        json!({"id": bob.id, "name": "Bob", "headline": "", "company": ""})
    );
    assert_eq!(inv["note"], note);
    assert_eq!(inv["state"], "pending");
    assert_eq!(inv["created_at"], START.to_rfc3339());
    assert_eq!(inv["decided_at"], Value::Null);
    assert_eq!(inv["mutual_connections"], 0);
    assert_eq!(inv["mutual_preview"], json!([]));

    assert_eq!(app.received_ids(&bob.token).await, [id]);
    assert_eq!(app.sent_ids(&ada.token).await, [id]);
    let seen_by_bob = expect_json(app.invitation(&bob.token, id).await, 200).await;
    assert_eq!(seen_by_bob["note"], note);
    assert_eq!(seen_by_bob["state"], "pending");
    let me = expect_json(app.me(&ada.token).await, 200).await;
    assert_eq!(me["quota"]["used"], 1);
    assert_eq!(me["quota"]["remaining"], 99);
}

#[tokio::test]
async fn a_note_over_300_characters_is_422_note_too_long() {
    // The limit counts characters, not bytes: 300 accented letters pass, 301 do not.
    let app = TestApp::spawn().await;
    let (ada, bob) = (
        app.signup_member("Ada").await,
        app.signup_member("Bob").await,
    );
    let r = app
        .send_invitation(
            &ada.token,
            json!({"recipient_id": bob.id, "note": "é".repeat(301)}),
        )
        .await;
    let p = expect_problem(r, 422, "note_too_long").await;
    assert!(p["detail"].as_str().unwrap().contains("300"), "{p}");
    assert!(app.received_ids(&bob.token).await.is_empty());
    let r = app
        .send_invitation(
            &ada.token,
            json!({"recipient_id": bob.id, "note": "é".repeat(300)}),
        )
        .await;
    expect_json(r, 201).await;
}

#[tokio::test]
async fn a_note_with_a_control_character_is_422_validation_failed() {
    // Plain text only: a bell or a tab is refused, and no invitation is made.
    let app = TestApp::spawn().await;
    let (ada, bob) = (
        app.signup_member("Ada").await,
        app.signup_member("Bob").await,
    );
    for note in ["ding\u{0007}", "a\ttab", "nul\u{0000}", "esc\u{001b}[31m"] {
        let r = app
            .send_invitation(&ada.token, json!({"recipient_id": bob.id, "note": note}))
            .await;
        let p = expect_problem(r, 422, "validation_failed").await;
        assert!(p["detail"].as_str().unwrap().contains("note"), "{p}");
    }
    assert!(app.received_ids(&bob.token).await.is_empty());
}

#[tokio::test]
async fn inviting_yourself_is_422_self_invitation() {
    // A member cannot invite themself, however the id is written.
    let app = TestApp::spawn().await;
    let ada = app.signup_member("Ada").await;
    for id in [ada.id.clone(), format!(" {} ", ada.id)] {
        let r = app
            .send_invitation(&ada.token, json!({"recipient_id": id}))
            .await;
        expect_problem(r, 422, "self_invitation").await;
    }
    assert!(app.sent_ids(&ada.token).await.is_empty());
}

#[tokio::test]
async fn an_unknown_or_garbage_recipient_is_404_not_found() {
    // Ids that name nobody all read as not found, never as a validation error or a 500.
    let app = TestApp::spawn().await;
    let ada = app.signup_member("Ada").await;
    for id in [
        "999999",
        "0",
        "-1",
        "abc",
        "",
        "1e3",
        "99999999999999999999999",
        "../1",
    ] {
        let r = app
            .send_invitation(&ada.token, json!({"recipient_id": id}))
            .await;
        expect_problem(r, 404, "not_found").await;
    }
}

#[tokio::test]
async fn a_second_invitation_to_the_same_member_is_409_invitation_pending() {
    // One pending invitation per pair.
    let app = TestApp::spawn().await;
    let (ada, bob) = (
        app.signup_member("Ada").await,
        app.signup_member("Bob").await,
    );
    let id = app.invite_ok(&ada, &bob).await;
    expect_problem(app.invite(&ada, &bob).await, 409, "invitation_pending").await;
    assert_eq!(app.received_ids(&bob.token).await, [id]);
}

#[tokio::test]
async fn inviting_someone_who_already_invited_you_connects_you_at_once() {
    // B invited A; A inviting B answers 200 with a Connection, accepts B's invitation, and leaves
    // nothing pending between them.
    let app = TestApp::spawn().await;
    let (ada, bob) = (
        app.signup_member("Ada").await,
        app.signup_member("Bob").await,
    );
    let bobs = app.invite_ok(&bob, &ada).await;
    let c = expect_json(app.invite(&ada, &bob).await, 200).await;
    assert_eq!(
        c["member"],
        json!({"id": bob.id, "name": "Bob", "headline": "", "company": ""})
    );
    assert_eq!(c["connected_at"], START.to_rfc3339());

    for m in [&ada, &bob] {
        assert!(app.received_ids(&m.token).await.is_empty());
        assert!(app.sent_ids(&m.token).await.is_empty());
    }
    assert_eq!(app.connection_ids(&ada.token).await, [bob.id.as_str()]);
    assert_eq!(app.connection_ids(&bob.token).await, [ada.id.as_str()]);
    let inv = expect_json(app.invitation(&bob.token, &bobs).await, 200).await;
    assert_eq!(inv["state"], "accepted");
    let rel = app.relationship(&ada, &bob.id).await;
    assert_eq!(rel["state"], "connected");
    assert_eq!(rel["degree"], 1);
}

#[tokio::test]
async fn accepting_connects_both_members() {
    // Accept answers a Connection with the sender; each then sees the other as a 1st-degree
    // connection, and the invitation reads accepted to both.
    let app = TestApp::spawn().await;
    let (ada, bob) = (
        app.signup_member("Ada").await,
        app.signup_member("Bob").await,
    );
    let id = app.invite_ok(&ada, &bob).await;
    app.advance(Duration::from_secs(3600));
    let c = expect_json(app.accept(&bob.token, &id).await, 200).await;
    assert_eq!(c["member"]["id"], ada.id.as_str());
    assert_eq!(c["member"]["name"], ada.name.as_str());
    let decided = START.plus(Duration::from_secs(3600)).to_rfc3339();
    assert_eq!(c["connected_at"], decided);

    assert_eq!(app.connection_ids(&ada.token).await, [bob.id.as_str()]);
    assert_eq!(app.connection_ids(&bob.token).await, [ada.id.as_str()]);
    for (viewer, other) in [(&ada, &bob), (&bob, &ada)] {
        assert_eq!(
            app.relationship(viewer, &other.id).await,
            json!({"state": "connected", "degree": 1, "mutual_connections": 0, "invitation_id": null})
        );
        let inv = expect_json(app.invitation(&viewer.token, &id).await, 200).await;
        assert_eq!(inv["state"], "accepted");
        assert_eq!(inv["decided_at"], decided);
    }
    assert!(app.received_ids(&bob.token).await.is_empty());
    assert!(app.sent_ids(&ada.token).await.is_empty());
}

#[tokio::test]
async fn the_sender_accepting_their_own_invitation_is_403_wrong_party() {
    // Only the recipient accepts; the invitation stays pending.
    let app = TestApp::spawn().await;
    let (ada, bob) = (
        app.signup_member("Ada").await,
        app.signup_member("Bob").await,
    );
    let id = app.invite_ok(&ada, &bob).await;
    expect_problem(app.accept(&ada.token, &id).await, 403, "wrong_party").await;
    expect_problem(app.ignore(&ada.token, &id, None).await, 403, "wrong_party").await;
    expect_problem(app.withdraw(&bob.token, &id).await, 403, "wrong_party").await;
    assert_eq!(app.received_ids(&bob.token).await, [id]);
}

#[tokio::test]
async fn acting_on_an_accepted_invitation_again_is_409_not_pending() {
    // Accept twice, ignore after accept, withdraw after accept: all clear conflicts.
    let app = TestApp::spawn().await;
    let (ada, bob) = (
        app.signup_member("Ada").await,
        app.signup_member("Bob").await,
    );
    let id = app.invite_ok(&ada, &bob).await;
    expect_json(app.accept(&bob.token, &id).await, 200).await;
    expect_problem(app.accept(&bob.token, &id).await, 409, "not_pending").await;
    expect_problem(app.ignore(&bob.token, &id, None).await, 409, "not_pending").await;
    expect_problem(app.withdraw(&ada.token, &id).await, 409, "not_pending").await;
    assert_eq!(app.connection_ids(&ada.token).await, [bob.id.as_str()]);
}

#[tokio::test]
async fn an_ignored_invitation_reads_closed_to_the_sender_and_ignored_to_the_recipient() {
    // With no body, an empty object, or either reason, ignoring is 204 and silent: the sender
    // sees only "closed", the recipient "ignored", and it leaves both lists.
    let app = TestApp::spawn().await;
    let bob = app.signup_member("Bob").await;
    let bodies = [
        None,
        Some(json!({})),
        Some(json!({"reason": null})),
        Some(json!({"reason": "dont_know"})),
        Some(json!({"reason": "spam"})),
    ];
    for body in bodies {
        let sender = app.signup_member("Sender").await;
        let id = app.invite_ok(&sender, &bob).await;
        expect_empty(app.ignore(&bob.token, &id, body.clone()).await, 204).await;

        let to_sender = expect_json(app.invitation(&sender.token, &id).await, 200).await;
        assert_eq!(to_sender["state"], "closed", "{body:?}");
        assert!(!to_sender.to_string().contains("ignored"), "{to_sender}");
        // When it was closed would tell the sender when the recipient acted.
        assert_eq!(to_sender["decided_at"], Value::Null, "{to_sender}");
        let to_bob = expect_json(app.invitation(&bob.token, &id).await, 200).await;
        assert_eq!(to_bob["state"], "ignored", "{body:?}");
        assert!(app.sent_ids(&sender.token).await.is_empty());
        assert!(!app.received_ids(&bob.token).await.contains(&id));
        expect_problem(app.accept(&bob.token, &id).await, 409, "not_pending").await;
        expect_problem(app.ignore(&bob.token, &id, None).await, 409, "not_pending").await;
        expect_problem(app.withdraw(&sender.token, &id).await, 409, "not_pending").await;
        assert!(app.connection_ids(&bob.token).await.is_empty());
    }
}

#[tokio::test]
async fn ignoring_with_an_unknown_reason_is_400_malformed() {
    // Only dont_know and spam are reasons; a refused request leaves the invitation pending.
    let app = TestApp::spawn().await;
    let (ada, bob) = (
        app.signup_member("Ada").await,
        app.signup_member("Bob").await,
    );
    let id = app.invite_ok(&ada, &bob).await;
    for body in [
        json!({"reason": "boring"}),
        json!({"reason": 1}),
        json!({"why": "spam"}),
        json!([]),
    ] {
        expect_problem(
            app.ignore(&bob.token, &id, Some(body)).await,
            400,
            "malformed",
        )
        .await;
    }
    assert_eq!(app.received_ids(&bob.token).await, [id.as_str()]);
    let inv = expect_json(app.invitation(&ada.token, &id).await, 200).await;
    assert_eq!(inv["state"], "pending");
}

#[tokio::test]
async fn withdrawn_invitation_disappears_from_recipient_inbox() {
    // Withdrawal is 204; the recipient can no longer find or act on it; the sender sees
    // "withdrawn" and cannot withdraw it twice; the quota is not given back.
    let app = TestApp::spawn().await;
    let (ada, bob) = (
        app.signup_member("Ada").await,
        app.signup_member("Bob").await,
    );
    let id = app.invite_ok(&ada, &bob).await;
    expect_empty(app.withdraw(&ada.token, &id).await, 204).await;

    assert!(app.received_ids(&bob.token).await.is_empty());
    assert!(app.sent_ids(&ada.token).await.is_empty());
    expect_problem(app.invitation(&bob.token, &id).await, 404, "not_found").await;
    let inv = expect_json(app.invitation(&ada.token, &id).await, 200).await;
    assert_eq!(inv["state"], "withdrawn");
    assert_eq!(inv["decided_at"], START.to_rfc3339());

    expect_problem(app.accept(&bob.token, &id).await, 404, "not_found").await;
    expect_problem(app.ignore(&bob.token, &id, None).await, 404, "not_found").await;
    expect_problem(app.withdraw(&ada.token, &id).await, 409, "not_pending").await;

    let none =
        json!({"state": "none", "degree": null, "mutual_connections": 0, "invitation_id": null});
    assert_eq!(app.relationship(&ada, &bob.id).await, none);
    assert_eq!(app.relationship(&bob, &ada.id).await, none);
    assert!(app.connection_ids(&bob.token).await.is_empty());
    let me = expect_json(app.me(&ada.token).await, 200).await;
    assert_eq!(me["quota"]["used"], 1, "withdrawing never refunds quota");
}

#[tokio::test]
async fn a_pending_invitation_shows_in_both_members_relationship() {
    // The sender sees invitation_sent, the recipient invitation_received, both with its id.
    let app = TestApp::spawn().await;
    let (ada, bob) = (
        app.signup_member("Ada").await,
        app.signup_member("Bob").await,
    );
    let none =
        json!({"state": "none", "degree": null, "mutual_connections": 0, "invitation_id": null});
    assert_eq!(app.relationship(&ada, &bob.id).await, none);
    let id = app.invite_ok(&ada, &bob).await;
    assert_eq!(
        app.relationship(&ada, &bob.id).await,
        json!({"state": "invitation_sent", "degree": null, "mutual_connections": 0, "invitation_id": id})
    );
    assert_eq!(
        app.relationship(&bob, &ada.id).await,
        json!({"state": "invitation_received", "degree": null, "mutual_connections": 0, "invitation_id": id})
    );
    let profile = expect_json(app.member(&bob.token, &ada.id).await, 200).await;
    assert_eq!(profile["id"], ada.id.as_str());
    assert_eq!(profile["name"], "Ada");
    assert_eq!(profile["location"], "");
    assert_eq!(
        app.relationship(&ada, &ada.id).await,
        json!({"state": "self", "degree": null, "mutual_connections": 0, "invitation_id": null})
    );
}

/// Walks a list with `limit=2`, returning each page's ids and whether it had a next cursor.
async fn walk(app: &TestApp, token: &str, sent: bool) -> Vec<(Vec<String>, bool)> {
    let mut pages = Vec::new();
    let mut query = "?limit=2".to_owned();
    loop {
        let r = if sent {
            app.sent(token, &query).await
        } else {
            app.received(token, &query).await
        };
        let page = expect_json(r, 200).await;
        let next = page["next_cursor"].as_str().map(str::to_owned);
        pages.push((ids(&page), next.is_some()));
        match next {
            Some(cursor) => query = format!("?limit=2&cursor={cursor}"),
            None => return pages,
        }
        assert!(pages.len() < 10, "the cursor never ends: {pages:?}");
    }
}

#[tokio::test]
async fn the_received_list_is_newest_first_and_pages_with_a_cursor() {
    // Five invitations, two a page: 2 + 2 + 1, newest first, and no cursor after the last page.
    let app = TestApp::spawn().await;
    let bob = app.signup_member("Bob").await;
    let mut sent = Vec::new();
    for i in 0..5 {
        let sender = app.signup_member(&format!("Sender {i}")).await;
        sent.push(app.invite_ok(&sender, &bob).await);
        app.advance(Duration::from_secs(60));
    }
    let newest_first: Vec<String> = sent.iter().rev().cloned().collect();
    let pages = walk(&app, &bob.token, false).await;
    assert_eq!(
        pages,
        vec![
            (newest_first[0..2].to_vec(), true),
            (newest_first[2..4].to_vec(), true),
            (newest_first[4..5].to_vec(), false),
        ]
    );
    let all = expect_json(app.received(&bob.token, "").await, 200).await;
    assert_eq!(ids(&all), newest_first);
    assert_eq!(all["next_cursor"], Value::Null);
    let times: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["created_at"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] > w[1]), "{times:?}");
}

#[tokio::test]
async fn the_sent_list_is_newest_first_and_pages_with_a_cursor() {
    // The same paging over what one member sent.
    let app = TestApp::spawn().await;
    let ada = app.signup_member("Ada").await;
    let mut sent = Vec::new();
    for i in 0..5 {
        let recipient = app.signup_member(&format!("Recipient {i}")).await;
        sent.push(app.invite_ok(&ada, &recipient).await);
        app.advance(Duration::from_secs(60));
    }
    let newest_first: Vec<String> = sent.iter().rev().cloned().collect();
    let pages = walk(&app, &ada.token, true).await;
    assert_eq!(
        pages,
        vec![
            (newest_first[0..2].to_vec(), true),
            (newest_first[2..4].to_vec(), true),
            (newest_first[4..5].to_vec(), false),
        ]
    );
}

#[tokio::test]
async fn a_bad_cursor_is_422_validation_failed_and_a_bad_limit_is_400_malformed() {
    // A cursor this server did not give out is a validation error; a non-numeric limit is not the
    // query the endpoint takes.
    let app = TestApp::spawn().await;
    let ada = app.signup_member("Ada").await;
    for cursor in ["garbage!", "bm90IG51bWJlcnM", "MQ.MQ", &"A".repeat(300)] {
        let q = format!("?cursor={cursor}");
        let p = expect_problem(app.received(&ada.token, &q).await, 422, "validation_failed").await;
        assert!(p["detail"].as_str().unwrap().contains("cursor"), "{p}");
        expect_problem(app.sent(&ada.token, &q).await, 422, "validation_failed").await;
        expect_problem(
            app.connections(&ada.token, &q).await,
            422,
            "validation_failed",
        )
        .await;
    }
    for q in ["?limit=abc", "?limit=-1", "?limit=1.5"] {
        expect_problem(app.received(&ada.token, q).await, 400, "malformed").await;
        expect_problem(app.sent(&ada.token, q).await, 400, "malformed").await;
        expect_problem(app.connections(&ada.token, q).await, 400, "malformed").await;
    }
}

#[tokio::test]
async fn sent_older_than_lists_only_invitations_sent_longer_ago() {
    // With the clock moved on 22 days, `older_than=21d` keeps the first invitation only.
    let app = TestApp::spawn().await;
    let ada = app.signup_member("Ada").await;
    let (bob, cy) = (
        app.signup_member("Bob").await,
        app.signup_member("Cy").await,
    );
    let old = app.invite_ok(&ada, &bob).await;
    app.advance(22 * DAY);
    let recent = app.invite_ok(&ada, &cy).await;
    let page = expect_json(app.sent(&ada.token, "?older_than=21d").await, 200).await;
    assert_eq!(ids(&page), [old.as_str()]);
    let page = expect_json(app.sent(&ada.token, "?older_than=3w").await, 200).await;
    assert_eq!(ids(&page), [old.as_str()]);
    let page = expect_json(app.sent(&ada.token, "?older_than=30d").await, 200).await;
    assert!(ids(&page).is_empty());
    assert_eq!(app.sent_ids(&ada.token).await, [recent, old]);
}

#[tokio::test]
async fn bulk_withdraw_dry_run_counts_then_the_real_run_withdraws_exactly_those() {
    // The dry run changes nothing; the real run withdraws the old ones and only them.
    let app = TestApp::spawn().await;
    let ada = app.signup_member("Ada").await;
    let mut old = Vec::new();
    for i in 0..3 {
        let r = app.signup_member(&format!("Old {i}")).await;
        old.push((app.invite_ok(&ada, &r).await, r));
    }
    app.advance(22 * DAY);
    let fresh_member = app.signup_member("Fresh").await;
    let fresh = app.invite_ok(&ada, &fresh_member).await;

    let body = json!({"older_than": "21d", "dry_run": true});
    let v = expect_json(app.bulk_withdraw(&ada.token, body).await, 200).await;
    assert_eq!(v, json!({"count": 3}));
    assert_eq!(
        app.sent_ids(&ada.token).await.len(),
        4,
        "a dry run withdraws nothing"
    );
    for (id, r) in &old {
        assert_eq!(app.received_ids(&r.token).await, [id.as_str()]);
    }

    let body = json!({"older_than": "21d"});
    let v = expect_json(app.bulk_withdraw(&ada.token, body).await, 200).await;
    assert_eq!(v, json!({"count": 3}));
    assert_eq!(app.sent_ids(&ada.token).await, [fresh.as_str()]);
    for (id, r) in &old {
        assert!(app.received_ids(&r.token).await.is_empty());
        expect_problem(app.invitation(&r.token, id).await, 404, "not_found").await;
        let inv = expect_json(app.invitation(&ada.token, id).await, 200).await;
        assert_eq!(inv["state"], "withdrawn");
    }
    assert_eq!(app.received_ids(&fresh_member.token).await, [fresh]);

    let body = json!({"older_than": "21d", "dry_run": false});
    let v = expect_json(app.bulk_withdraw(&ada.token, body).await, 200).await;
    assert_eq!(v, json!({"count": 0}), "nothing old is left");
}

#[tokio::test]
async fn a_duration_that_is_not_one_is_422_validation_failed() {
    // older_than takes durations like 21d; anything else names the field.
    let app = TestApp::spawn().await;
    let (ada, bob) = (
        app.signup_member("Ada").await,
        app.signup_member("Bob").await,
    );
    let id = app.invite_ok(&ada, &bob).await;
    for bad in ["soon", "", "-3d", "21", "21 parsecs"] {
        let body = json!({"older_than": bad, "dry_run": false});
        let p = expect_problem(
            app.bulk_withdraw(&ada.token, body).await,
            422,
            "validation_failed",
        )
        .await;
        assert!(p["detail"].as_str().unwrap().contains("older_than"), "{p}");
    }
    for bad in ["soon", "-3d", "21%20parsecs"] {
        let q = format!("?older_than={bad}");
        expect_problem(app.sent(&ada.token, &q).await, 422, "validation_failed").await;
    }
    expect_problem(
        app.bulk_withdraw(&ada.token, json!({"dry_run": true}))
            .await,
        400,
        "malformed",
    )
    .await;
    assert_eq!(app.received_ids(&bob.token).await, [id]);
}

#[tokio::test]
async fn a_blank_note_is_no_note_and_markup_is_kept_as_plain_text() {
    // Whitespace alone is no note; angle brackets and ampersands come back exactly as written.
    let app = TestApp::spawn().await;
    let ada = app.signup_member("Ada").await;
    let (bob, cy) = (
        app.signup_member("Bob").await,
        app.signup_member("Cy").await,
    );
    let blank = app
        .send_invitation(
            &ada.token,
            json!({"recipient_id": bob.id, "note": "  \n  "}),
        )
        .await;
    assert_eq!(expect_json(blank, 201).await["note"], Value::Null);
    let markup = "<script>alert('hi')</script> & <b>\"bold\"</b>";
    let r = app
        .send_invitation(&ada.token, json!({"recipient_id": cy.id, "note": markup}))
        .await;
    let id = expect_json(r, 201).await["id"].as_str().unwrap().to_owned();
    let seen = expect_json(app.invitation(&cy.token, &id).await, 200).await;
    assert_eq!(seen["note"], markup);
}

#[tokio::test]
async fn refusals_come_in_the_contracts_order() {
    // When several refusals apply, the request itself (422) answers before visibility (404),
    // visibility before state (409), and state before privacy (403).
    let app = TestApp::spawn().await;
    let ada = app.signup_member("Ada").await;
    let (bob, cy) = (
        app.signup_member("Bob").await,
        app.signup_member("Cy").await,
    );
    app.connect(&ada, &bob).await;
    let pending = app.invite_ok(&ada, &cy).await;
    for m in [&bob, &cy] {
        let r = app
            .update_settings(&m.token, json!({"invitations_from": "nobody"}))
            .await;
        assert_eq!(
            expect_json(r, 200).await["settings"]["invitations_from"],
            "nobody"
        );
    }
    let long = "x".repeat(301);

    // 422 before 404: an unknown recipient with a note that is too long.
    let r = app
        .send_invitation(&ada.token, json!({"recipient_id": "999999", "note": long}))
        .await;
    expect_problem(r, 422, "note_too_long").await;
    // 422 before 409: a connection, with a note that has a control character.
    let r = app
        .send_invitation(&ada.token, json!({"recipient_id": bob.id, "note": "\u{7}"}))
        .await;
    expect_problem(r, 422, "validation_failed").await;
    // 409 before 403: connected, or already pending, to members who take no invitations.
    expect_problem(app.invite(&ada, &bob).await, 409, "already_connected").await;
    expect_problem(app.invite(&ada, &cy).await, 409, "invitation_pending").await;
    // With nothing between them, the privacy setting answers.
    let dee = app.signup_member("Dee").await;
    let r = app
        .update_settings(&dee.token, json!({"invitations_from": "nobody"}))
        .await;
    expect_json(r, 200).await;
    expect_problem(app.invite(&ada, &dee).await, 403, "invitations_closed").await;
    assert_eq!(app.sent_ids(&ada.token).await, [pending]);
}
