//! The rules of sending, over HTTP with the clock under the test's control: weekly limit, the
//! outstanding and connection caps, the re-invite cooldown, the bar after "I don't know this
//! person", and who may invite whom.

use crate::fixtures::*;
use futures_util::future::join_all;
use serde_json::{json, Value};
use std::time::Duration;

const DAY: Duration = Duration::from_secs(86_400);

async fn many(app: &TestApp, prefix: &str, n: usize) -> Vec<Member> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(app.member(&format!("{prefix} {i}")).await);
    }
    out
}

#[tokio::test]
async fn the_weekly_limit_counts_sends_and_withdrawing_never_refunds() {
    // Three sends allowed a week: the fourth waits until the first leaves the window, and a
    // withdrawal does not give one back. The member sees their quota.
    let app = TestApp::spawn_with(|c| c.weekly_invitation_limit = 3).await;
    let ada = app.member("Ada").await;
    let others = many(&app, "Other", 5).await;
    let first = app.invite_ok(&ada, &others[0]).await;
    app.advance(DAY);
    app.invite_ok(&ada, &others[1]).await;
    app.invite_ok(&ada, &others[2]).await;
    assert_eq!(app.withdraw(&ada, &first).await.status(), 204);

    let r = app.invite(&ada, &others[3], None).await;
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        retry_after,
        6 * 86_400,
        "the first send leaves the window in six days"
    );
    let v = assert_problem(r, 429, "quota_exceeded").await;
    assert_eq!(v["retry_at"], "2027-01-22T08:00:00Z");
    let me: Value = app.me(&ada.token).await.json().await.unwrap();
    assert_eq!(
        me["quota"],
        json!({"weekly_limit": 3, "used": 3, "remaining": 0, "next_available_at": "2027-01-22T08:00:00Z"})
    );

    app.advance(6 * DAY);
    assert_eq!(app.invite(&ada, &others[3], None).await.status(), 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_parallel_sends_with_five_left_make_exactly_five() {
    // The weekly limit holds under a race: it is checked inside the write transaction.
    let app = TestApp::spawn_with(|c| c.weekly_invitation_limit = 5).await;
    let ada = app.member("Ada").await;
    let others = many(&app, "Other", 30).await;
    let answers = join_all(others.iter().map(|o| app.invite(&ada, o, None))).await;
    let mut statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
    statuses.sort();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 5);
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 25);
}

#[tokio::test]
async fn the_outstanding_cap_counts_pending_sent_invitations() {
    // With two pending the third waits; an answered invitation makes room.
    let app = TestApp::spawn_with(|c| c.outstanding_limit = 2).await;
    let ada = app.member("Ada").await;
    let o = many(&app, "Other", 3).await;
    let first = app.invite_ok(&ada, &o[0]).await;
    app.invite_ok(&ada, &o[1]).await;
    assert_problem(
        app.invite(&ada, &o[2], None).await,
        429,
        "outstanding_limit",
    )
    .await;
    assert_eq!(app.accept(&o[0], &first).await.status(), 200);
    assert_eq!(app.invite(&ada, &o[2], None).await.status(), 201);
}

#[tokio::test]
async fn a_member_at_the_connection_cap_can_neither_invite_nor_accept() {
    // With a cap of one connection, Ada connected to Bob can send no invitation, cannot be
    // invited, and cannot accept one that was pending; removing Bob makes room again.
    let app = TestApp::spawn_with(|c| c.max_connections = 1).await;
    let (ada, bob, cleo, dan) = (
        app.member("Ada").await,
        app.member("Bob").await,
        app.member("Cleo").await,
        app.member("Dan").await,
    );
    let from_cleo = app.invite_ok(&cleo, &ada).await;
    app.connect(&ada, &bob).await;
    assert_problem(app.invite(&ada, &dan, None).await, 403, "connection_limit").await;
    assert_problem(app.invite(&dan, &ada, None).await, 403, "connection_limit").await;
    assert_problem(app.accept(&ada, &from_cleo).await, 403, "connection_limit").await;
    assert_eq!(app.remove_connection(&ada, &bob.id).await.status(), 204);
    assert_eq!(app.accept(&ada, &from_cleo).await.status(), 200);
}

#[tokio::test]
async fn reinviting_after_a_withdrawal_waits_for_the_cooldown() {
    // 21 days after a withdrawal the sender may invite the same person again; before, 429 with the date.
    let app = TestApp::spawn().await;
    let (ada, grace) = (app.member("Ada").await, app.member("Grace").await);
    let id = app.invite_ok(&ada, &grace).await;
    assert_eq!(app.withdraw(&ada, &id).await.status(), 204);
    app.advance(20 * DAY);
    let r = app.invite(&ada, &grace, None).await;
    assert_eq!(r.headers()["retry-after"], "86400");
    let v = assert_problem(r, 429, "cooldown_active").await;
    assert_eq!(v["retry_at"], "2027-02-05T08:00:00Z");
    assert_eq!(
        app.invite(&grace, &ada, None).await.status(),
        201,
        "the cooldown binds only the one who withdrew"
    );
    let app2 = TestApp::spawn().await;
    let (a, g) = (app2.member("Ada").await, app2.member("Grace").await);
    let id = app2.invite_ok(&a, &g).await;
    app2.withdraw(&a, &id).await;
    app2.advance(21 * DAY);
    assert_eq!(app2.invite(&a, &g, None).await.status(), 201);
}

#[tokio::test]
async fn after_i_dont_know_this_person_the_sender_cannot_invite_again_unless_invited() {
    // The bar does not wear off with time; it lifts when the recipient invites the sender.
    let app = TestApp::spawn().await;
    let (ada, grace) = (app.member("Ada").await, app.member("Grace").await);
    let id = app.invite_ok(&ada, &grace).await;
    assert_eq!(
        app.ignore(&grace, &id, Some(json!({"reason": "dont_know"})))
            .await
            .status(),
        204
    );
    app.advance(400 * DAY);
    assert_problem(
        app.invite(&ada, &grace, None).await,
        403,
        "invitations_closed",
    )
    .await;
    let back = app.invite_ok(&grace, &ada).await;
    assert_eq!(app.withdraw(&grace, &back).await.status(), 204);
    assert_eq!(app.invite(&ada, &grace, None).await.status(), 201);
}

#[tokio::test]
async fn who_can_invite_me_is_the_recipients_choice() {
    // nobody, second_degree and email_required each refuse the right senders, and a wrong email
    // reads exactly like a missing one.
    let app = TestApp::spawn().await;
    let (grace, bob, ada, eve) = (
        app.member("Grace").await,
        app.member("Bob").await,
        app.member("Ada").await,
        app.member("Eve").await,
    );
    app.connect(&grace, &bob).await;
    app.connect(&bob, &ada).await;
    let settings = |from: &str| json!({"invitations_from": from});

    let r = app
        .raw(
            reqwest::Method::PATCH,
            "/api/v1/me/settings",
            Some(&grace.token),
            Some(settings("nobody")),
        )
        .await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["settings"]["invitations_from"],
        "nobody"
    );
    assert_problem(
        app.invite(&ada, &grace, None).await,
        403,
        "invitations_closed",
    )
    .await;

    app.raw(
        reqwest::Method::PATCH,
        "/api/v1/me/settings",
        Some(&grace.token),
        Some(settings("second_degree")),
    )
    .await;
    assert_problem(
        app.invite(&eve, &grace, None).await,
        403,
        "invitations_closed",
    )
    .await;
    let id = app.invite_ok(&ada, &grace).await;
    app.withdraw(&ada, &id).await;

    app.raw(
        reqwest::Method::PATCH,
        "/api/v1/me/settings",
        Some(&grace.token),
        Some(settings("email_required")),
    )
    .await;
    let send = |email: Option<&str>| {
        let mut body = json!({"recipient_id": grace.id});
        if let Some(e) = email {
            body["recipient_email"] = json!(e);
        }
        app.post("/api/v1/invitations", &eve.token, body)
    };
    let missing = send(None).await.text().await.unwrap();
    let wrong = send(Some("someone@else.io")).await.text().await.unwrap();
    let malformed = send(Some("not an email")).await.text().await.unwrap();
    assert_eq!(missing, wrong);
    assert_eq!(missing, malformed);
    assert!(missing.contains("\"email_required\""));
    assert_eq!(send(Some(" GRACE@example.com ")).await.status(), 201);

    let bad = app
        .raw(
            reqwest::Method::PATCH,
            "/api/v1/me/settings",
            Some(&grace.token),
            Some(settings("friends")),
        )
        .await;
    assert_problem(bad, 422, "validation_failed").await;
}
