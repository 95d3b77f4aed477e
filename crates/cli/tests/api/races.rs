//! Races over real HTTP on a multi-threaded runtime: concurrent requests that contend for one
//! invitation or one pair of members must leave exactly one outcome, never a 5xx.

use crate::helpers::*;
use reqwest::Response;
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::Barrier;

/// Status and body of an answer, with the body parsed when it is JSON.
async fn outcome(r: Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_identical_sends_at_once_create_exactly_one_invitation() {
    // One 201; every other answer is 409 invitation_pending; one invitation in the inbox.
    let app = Arc::new(TestApp::spawn().await);
    let (ada, bob) = (
        app.signup_member("Ada").await,
        app.signup_member("Bob").await,
    );
    let start = Arc::new(Barrier::new(50));
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (app, ada, bob, start) = (app.clone(), ada.clone(), bob.clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            outcome(app.invite(&ada, &bob).await).await
        }));
    }
    let mut created = Vec::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            201 => created.push(body["id"].as_str().unwrap().to_owned()),
            409 => assert_eq!(body["code"], "invitation_pending", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(created.len(), 1, "exactly one send wins");
    assert_eq!(app.received_ids(&bob.token).await, created);
    assert_eq!(app.sent_ids(&ada.token).await, created);
    let me = expect_json(app.me(&ada.token).await, 200).await;
    assert_eq!(me["quota"]["used"], 1, "refused sends use no quota");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn accept_racing_withdraw_has_exactly_one_winner() {
    // 200 rounds of the recipient accepting while the sender withdraws: exactly one succeeds, and
    // when the withdrawal wins there is no connection.
    let app = Arc::new(TestApp::spawn().await);
    let mut pool = Vec::new();
    for i in 0..6 {
        pool.push(app.signup_member(&format!("Member {i}")).await);
    }
    let pairs: Vec<(usize, usize)> = (0..pool.len())
        .flat_map(|s| (0..pool.len()).map(move |r| (s, r)))
        .filter(|(s, r)| s != r)
        .collect();
    let (mut accepted, mut withdrawn) = (0, 0);
    for round in 0..200 {
        let (s, r) = pairs[round % pairs.len()];
        let (sender, recipient) = (pool[s].clone(), pool[r].clone());
        let id = app.invite_ok(&sender, &recipient).await;
        let start = Arc::new(Barrier::new(2));
        let accept = {
            let (app, token, id, start) = (
                app.clone(),
                recipient.token.clone(),
                id.clone(),
                start.clone(),
            );
            tokio::spawn(async move {
                start.wait().await;
                outcome(app.accept(&token, &id).await).await
            })
        };
        let withdraw = {
            let (app, token, id, start) = (app.clone(), sender.token.clone(), id.clone(), start);
            tokio::spawn(async move {
                start.wait().await;
                outcome(app.withdraw(&token, &id).await).await
            })
        };
        let (a, w) = (accept.await.unwrap(), withdraw.await.unwrap());
        let connected = app
            .connection_ids(&recipient.token)
            .await
            .contains(&sender.id);
        match (a.0, w.0) {
            (200, 409) => {
                assert_eq!(w.1["code"], "not_pending", "round {round}: {}", w.1);
                assert!(connected, "round {round}: accepted but not connected");
                let inv = expect_json(app.invitation(&sender.token, &id).await, 200).await;
                assert_eq!(inv["state"], "accepted");
                accepted += 1;
                expect_empty(
                    app.remove_connection(&sender.token, &recipient.id).await,
                    204,
                )
                .await;
            }
            (404, 204) => {
                assert_eq!(a.1["code"], "not_found", "round {round}: {}", a.1);
                assert!(
                    !connected,
                    "round {round}: a withdrawn invitation made a connection"
                );
                assert!(!app
                    .connection_ids(&sender.token)
                    .await
                    .contains(&recipient.id));
                let inv = expect_json(app.invitation(&sender.token, &id).await, 200).await;
                assert_eq!(inv["state"], "withdrawn");
                withdrawn += 1;
            }
            _ => panic!("round {round}: accept {a:?}, withdraw {w:?}: not exactly one winner"),
        }
        // Past the re-invite cooldown a withdrawal starts, so the pair can be used again.
        app.advance(22 * DAY);
    }
    assert_eq!(accepted + withdrawn, 200);
    println!("accept won {accepted} rounds, withdraw won {withdrawn}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn members_inviting_each_other_at_once_are_connected_exactly_once() {
    // 50 rounds of simultaneous mutual invitations: one 201 and one 200, one connection, and no
    // invitation left pending between them.
    let app = Arc::new(TestApp::spawn().await);
    let (ada, bob) = (
        app.signup_member("Ada").await,
        app.signup_member("Bob").await,
    );
    for round in 0..50 {
        let start = Arc::new(Barrier::new(2));
        let mut tasks = Vec::new();
        for (from, to) in [(ada.clone(), bob.clone()), (bob.clone(), ada.clone())] {
            let (app, start) = (app.clone(), start.clone());
            tasks.push(tokio::spawn(async move {
                start.wait().await;
                outcome(app.invite(&from, &to).await).await
            }));
        }
        let mut answers = Vec::new();
        for t in tasks {
            answers.push(t.await.unwrap());
        }
        let mut statuses: Vec<u16> = answers.iter().map(|(s, _)| *s).collect();
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 201], "round {round}: {answers:?}");
        let (_, invitation) = answers.iter().find(|(s, _)| *s == 201).unwrap();
        let (_, connection) = answers.iter().find(|(s, _)| *s == 200).unwrap();
        // The 200 names the member whose invitation it accepted: the sender of the 201.
        assert_eq!(connection["member"]["id"], invitation["sender"]["id"]);

        for m in [&ada, &bob] {
            assert!(app.received_ids(&m.token).await.is_empty(), "round {round}");
            assert!(app.sent_ids(&m.token).await.is_empty(), "round {round}");
        }
        let page = expect_json(app.connections(&ada.token, "").await, 200).await;
        assert_eq!(page["total"], 1, "round {round}: {page}");
        assert_eq!(app.connection_ids(&bob.token).await, [ada.id.as_str()]);
        let id = invitation["id"].as_str().unwrap();
        let inv = expect_json(app.invitation(&ada.token, id).await, 200).await;
        assert_eq!(inv["state"], "accepted", "round {round}");
        expect_empty(app.remove_connection(&bob.token, &ada.id).await, 204).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_signups_with_one_email_create_one_account() {
    // Ten signups for one address at once: one 201, nine 409 email_taken, never a 500.
    let app = Arc::new(TestApp::spawn().await);
    let start = Arc::new(Barrier::new(10));
    let mut tasks = Vec::new();
    for i in 0..10 {
        let (app, start) = (app.clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let body = serde_json::json!({
                "email": if i % 2 == 0 { "race@example.com" } else { " RACE@example.com" },
                "password": PASSWORD,
                "name": format!("Racer {i}"),
            });
            outcome(app.signup(body).await).await
        }));
    }
    let mut created = 0;
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            201 => created += 1,
            409 => assert_eq!(body["code"], "email_taken", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(created, 1);
    expect_json(app.login("race@example.com", PASSWORD).await, 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_accepts_of_one_invitation_at_once_connect_once() {
    // A double (or twentyfold) click: one 200, the rest 409 not_pending, one connection.
    let app = Arc::new(TestApp::spawn().await);
    let (ada, bob) = (
        app.signup_member("Ada").await,
        app.signup_member("Bob").await,
    );
    let id = app.invite_ok(&ada, &bob).await;
    let start = Arc::new(Barrier::new(20));
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (app, token, id, start) = (app.clone(), bob.token.clone(), id.clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            outcome(app.accept(&token, &id).await).await
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            200 => accepted += 1,
            409 => assert_eq!(body["code"], "not_pending", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(accepted, 1);
    let page = expect_json(app.connections(&ada.token, "").await, 200).await;
    assert_eq!(page["total"], 1);
    assert_eq!(app.connection_ids(&bob.token).await, [ada.id.as_str()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bulk_withdraw_racing_accept_agree_on_what_happened() {
    // 60 rounds of a bulk withdrawal racing the recipient's accept: either the count includes the
    // invitation and there is no connection, or the count is 0 and they are connected.
    let app = Arc::new(TestApp::spawn().await);
    let mut pool = Vec::new();
    for i in 0..5 {
        pool.push(app.signup_member(&format!("Member {i}")).await);
    }
    let pairs: Vec<(usize, usize)> = (0..pool.len())
        .flat_map(|s| (0..pool.len()).map(move |r| (s, r)))
        .filter(|(s, r)| s != r)
        .collect();
    for round in 0..60 {
        let (s, r) = pairs[round % pairs.len()];
        let (sender, recipient) = (pool[s].clone(), pool[r].clone());
        let id = app.invite_ok(&sender, &recipient).await;
        app.advance(22 * DAY); // old enough for the bulk withdrawal
        let start = Arc::new(Barrier::new(2));
        let accept = {
            let (app, token, id, start) = (
                app.clone(),
                recipient.token.clone(),
                id.clone(),
                start.clone(),
            );
            tokio::spawn(async move {
                start.wait().await;
                outcome(app.accept(&token, &id).await).await
            })
        };
        let bulk = {
            let (app, token, start) = (app.clone(), sender.token.clone(), start);
            tokio::spawn(async move {
                start.wait().await;
                let body = serde_json::json!({"older_than": "21d"});
                outcome(app.bulk_withdraw(&token, body).await).await
            })
        };
        let (a, b) = (accept.await.unwrap(), bulk.await.unwrap());
        assert_eq!(b.0, 200, "round {round}: {b:?}");
        let connected = app
            .connection_ids(&sender.token)
            .await
            .contains(&recipient.id);
        match (a.0, b.1["count"].as_u64()) {
            (200, Some(0)) => {
                assert!(connected, "round {round}");
                expect_empty(
                    app.remove_connection(&recipient.token, &sender.id).await,
                    204,
                )
                .await;
            }
            (404, Some(1)) => {
                assert_eq!(a.1["code"], "not_found");
                assert!(
                    !connected,
                    "round {round}: a withdrawn invitation made a connection"
                );
            }
            _ => panic!("round {round}: accept {a:?}, bulk withdraw {b:?} disagree"),
        }
        app.advance(22 * DAY); // past any re-invite cooldown
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sends_at_the_quota_boundary_never_pass_the_weekly_limit() {
    // A limit of 5 and 30 sends to 30 different members at once: exactly 5 are sent, the other 25
    // are 429 quota_exceeded with a time to try again, and the quota reads 5 used.
    let app = Arc::new(TestApp::spawn_with(|c| c.weekly_invitation_limit = 5).await);
    let ada = app.signup_member("Ada").await;
    let mut others = Vec::new();
    for i in 0..30 {
        others.push(app.signup_member(&format!("Member {i}")).await);
    }
    let start = Arc::new(Barrier::new(others.len()));
    let mut tasks = Vec::new();
    for other in others {
        let (app, ada, start) = (app.clone(), ada.clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            outcome(app.invite(&ada, &other).await).await
        }));
    }
    let (mut sent, mut refused) = (0, 0);
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            201 => sent += 1,
            429 => {
                assert_eq!(body["code"], "quota_exceeded", "{body}");
                assert!(body["retry_at"].is_string(), "{body}");
                refused += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!((sent, refused), (5, 25));
    let me = expect_json(app.me(&ada.token).await, 200).await;
    assert_eq!(me["quota"]["used"], 5);
    assert_eq!(me["quota"]["remaining"], 0);
    assert_eq!(app.sent_ids(&ada.token).await.len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_block_racing_an_accept_never_leaves_blocked_members_connected() {
    // 100 rounds of the sender blocking the recipient while the recipient accepts. Whatever the
    // order, the end is the same: not connected, nothing pending, each invisible to the other.
    let app = Arc::new(TestApp::spawn().await);
    let mut accepted_first = 0;
    for round in 0..100 {
        let sender = app.signup_member(&format!("Sender {round}")).await;
        let recipient = app.signup_member(&format!("Recipient {round}")).await;
        let id = app.invite_ok(&sender, &recipient).await;
        let start = Arc::new(Barrier::new(2));
        let accept = {
            let (app, token, id, start) = (
                app.clone(),
                recipient.token.clone(),
                id.clone(),
                start.clone(),
            );
            tokio::spawn(async move {
                start.wait().await;
                outcome(app.accept(&token, &id).await).await
            })
        };
        let block = {
            let (app, token, other, start) = (
                app.clone(),
                sender.token.clone(),
                recipient.id.clone(),
                start,
            );
            tokio::spawn(async move {
                start.wait().await;
                let path = format!("/api/v1/blocks/{other}");
                outcome(app.request(reqwest::Method::PUT, &path, &token, None).await).await
            })
        };
        let (a, b) = (accept.await.unwrap(), block.await.unwrap());
        assert_eq!(b.0, 204, "round {round}: block answered {b:?}");
        match a.0 {
            200 => accepted_first += 1,
            404 => assert_eq!(a.1["code"], "not_found", "round {round}: {a:?}"),
            _ => panic!("round {round}: accept answered {a:?}"),
        }
        assert!(
            app.connection_ids(&sender.token).await.is_empty(),
            "round {round}"
        );
        assert!(
            app.connection_ids(&recipient.token).await.is_empty(),
            "round {round}"
        );
        assert!(
            app.received_ids(&recipient.token).await.is_empty(),
            "round {round}"
        );
        assert!(
            app.sent_ids(&sender.token).await.is_empty(),
            "round {round}"
        );
        expect_problem(
            app.member(&recipient.token, &sender.id).await,
            404,
            "not_found",
        )
        .await;
        expect_problem(
            app.member(&sender.token, &recipient.id).await,
            404,
            "not_found",
        )
        .await;
    }
    println!("accept came first in {accepted_first} of 100 rounds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_writers_never_see_a_busy_database() {
    // 50 writers at once, each a different kind of write in turn (send, accept, withdraw, profile,
    // settings, block, signup): every answer is a rule's answer, never a 5xx such as a "database
    // is locked" leaking out of SQLite.
    let app = Arc::new(TestApp::spawn().await);
    let mut members = Vec::new();
    for i in 0..50 {
        members.push(app.signup_member(&format!("Writer {i}")).await);
    }
    let members = Arc::new(members);
    let start = Arc::new(Barrier::new(50));
    let mut tasks = Vec::new();
    for w in 0..50 {
        let (app, members, start) = (app.clone(), members.clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let me = &members[w];
            let mut statuses = Vec::new();
            for step in 0..20 {
                let other = &members[(w + step * 7 + 1) % 50];
                let r = match (w + step) % 7 {
                    0 | 1 => app.invite(me, other).await,
                    2 => match app.received_ids(&me.token).await.first() {
                        Some(id) => app.accept(&me.token, id).await,
                        None => app.me(&me.token).await,
                    },
                    3 => match app.sent_ids(&me.token).await.last() {
                        Some(id) => app.withdraw(&me.token, id).await,
                        None => app.me(&me.token).await,
                    },
                    4 => {
                        let body = serde_json::json!({"headline": format!("Step {step}")});
                        app.update_me(&me.token, body).await
                    }
                    5 => {
                        let body = serde_json::json!({"invitations_from": "everyone"});
                        app.update_settings(&me.token, body).await
                    }
                    _ if step % 5 == 0 => {
                        let path = format!("/api/v1/blocks/{}", other.id);
                        app.request(reqwest::Method::PUT, &path, &me.token, None)
                            .await
                    }
                    _ => {
                        app.signup(serde_json::json!({
                            "email": format!("late.{w}.{step}@example.com"),
                            "password": PASSWORD,
                            "name": "Late",
                        }))
                        .await
                    }
                };
                statuses.push(outcome(r).await);
            }
            statuses
        }));
    }
    let mut answers = 0;
    for t in tasks {
        for (status, body) in t.await.unwrap() {
            answers += 1;
            // Sign-ups past the password-hashing queue are turned away on purpose (503
            // overloaded, with Retry-After): back-pressure, not a busy database.
            if status == 503 && body["code"] == "overloaded" {
                continue;
            }
            assert!(status < 500, "a writer got {status}: {body}");
            let text = body.to_string().to_lowercase();
            assert!(!text.contains("locked") && !text.contains("busy"), "{body}");
        }
    }
    assert_eq!(answers, 1000);
}
