use crate::helpers::*;
use futures_util::future::join_all;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_identical_sends_make_exactly_one_invitation() {
    // Concurrent duplicates: one 201, every other answer 409 invitation_pending, no 5xx.
    let app = TestApp::spawn().await;
    let (ada, grace) = (app.member("Ada").await, app.member("Grace").await);
    let answers = join_all((0..50).map(|_| app.invite(&ada, &grace, Some("hi")))).await;
    let mut created = 0;
    for r in answers {
        match r.status().as_u16() {
            201 => created += 1,
            409 => assert_eq!(
                r.json::<Value>().await.unwrap()["code"],
                "invitation_pending"
            ),
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(created, 1);
    assert_eq!(app.inbox_ids(&grace).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn accept_racing_withdraw_has_exactly_one_winner() {
    // 200 rounds, each on a pair of members never used before: exactly one of accept and withdraw
    // succeeds, and a withdrawn invitation never leaves a connection behind.
    let app = TestApp::spawn().await;
    let mut members = Vec::new();
    for i in 0..21 {
        members.push(app.member(&format!("Racer {i}")).await);
    }
    let pairs: Vec<(usize, usize)> = (0..21)
        .flat_map(|i| (i + 1..21).map(move |j| (i, j)))
        .take(200)
        .collect();
    let (mut accepted, mut withdrawn) = (0, 0);
    for (i, j) in pairs {
        let (sender, recipient) = (&members[i], &members[j]);
        let id = app.invite_ok(sender, recipient).await;
        let (a, w) = tokio::join!(app.accept(recipient, &id), app.withdraw(sender, &id));
        let p: Value = app
            .profile(sender, &recipient.id)
            .await
            .json()
            .await
            .unwrap();
        let connected = p["relationship"]["state"] == "connected";
        match (a.status().as_u16(), w.status().as_u16()) {
            (200, 409) => {
                accepted += 1;
                assert!(connected);
            }
            (404, 204) => {
                withdrawn += 1;
                assert!(!connected, "a withdrawn invitation made a connection");
            }
            other => panic!("both or neither won: {other:?}"),
        }
    }
    assert_eq!(accepted + withdrawn, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn members_inviting_each_other_at_once_end_up_connected_once() {
    // 50 rounds of simultaneous mutual invitations: one 201 and one 200, one connection, and no
    // invitation left pending between them.
    let app = TestApp::spawn().await;
    let (ada, grace) = (app.member("Ada").await, app.member("Grace").await);
    for _ in 0..50 {
        let (x, y) = tokio::join!(
            app.invite(&ada, &grace, None),
            app.invite(&grace, &ada, None)
        );
        let mut statuses = [x.status().as_u16(), y.status().as_u16()];
        statuses.sort();
        assert_eq!(statuses, [200, 201]);
        assert!(app.inbox_ids(&ada).await.is_empty() && app.inbox_ids(&grace).await.is_empty());
        let c: Value = app.connections(&ada, "").await.json().await.unwrap();
        assert_eq!(c["total"], 1);
        assert_eq!(app.remove_connection(&grace, &ada.id).await.status(), 204);
    }
}
