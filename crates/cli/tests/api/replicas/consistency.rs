//! Writes through one replica as the other sees them: an invitation reaches a live stream open on
//! the other, the weekly limit holds under sends split over both, an accept on one racing a
//! withdrawal on the other has exactly one winner, and each replica's graph index follows the
//! connections made through the other.

use super::*;
use crate::sse::Events;
use serde_json::json;

/// A status and JSON body (`Null` when the body is not JSON).
async fn answer(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.expect("a body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

// ----- 2. live updates ------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitation_sent_through_one_replica_reaches_a_stream_on_the_other() {
    let c = Cluster::start().await;
    let ada = c.a.server.api.signup_member("Ada Live").await;
    let bob = c.b.server.api.signup_member("Bob Live").await;

    // Bob watches on B (and on A); Ada sends through A.
    let mut bob_on_b = Events::open(&c.b.server.api, &bob.token).await;
    let mut bob_on_a = Events::open(&c.a.server.api, &bob.token).await;
    let id = c.a.server.api.invite_ok(&ada, &bob).await;
    for (name, stream) in [("B", &mut bob_on_b), ("A", &mut bob_on_a)] {
        let e = stream
            .expect("invitation.received", PATIENCE, |d| {
                d["invitation"]["id"] == id.as_str()
            })
            .await;
        assert_eq!(
            e["invitation"]["sender"]["id"],
            ada.id.as_str(),
            "on {name}"
        );
        assert_eq!(e["invitation"]["state"], "pending", "on {name}");
    }

    // Bob accepts through B; Ada's stream on A hears of it.
    let mut ada_on_a = Events::open(&c.a.server.api, &ada.token).await;
    expect_json(c.b.server.api.accept(&bob.token, &id).await, 200).await;
    let e = ada_on_a
        .expect("invitation.accepted", PATIENCE, |d| {
            d["invitation_id"] == id.as_str()
        })
        .await;
    assert_eq!(e["connection"]["member"]["id"], bob.id.as_str());

    // A withdrawal through B takes an invitation out of a stream on A.
    let cy = c.b.server.api.signup_member("Cy Live").await;
    let mut cy_on_a = Events::open(&c.a.server.api, &cy.token).await;
    let to_cy = c.b.server.api.invite_ok(&ada, &cy).await;
    cy_on_a
        .expect("invitation.received", PATIENCE, |d| {
            d["invitation"]["id"] == to_cy.as_str()
        })
        .await;
    expect_empty(c.b.server.api.withdraw(&ada.token, &to_cy).await, 204).await;
    cy_on_a
        .expect("invitation.removed", PATIENCE, |d| {
            d["invitation_id"] == to_cy.as_str()
        })
        .await;
}

// ----- 3. the weekly limit --------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_weekly_limit_holds_across_replicas_under_parallel_sends() {
    let c = Cluster::start_with(&[("RAPPORT_WEEKLY_INVITATION_LIMIT", "5")]).await;
    let sender = c.a.server.api.signup_member("Eager Sender").await;
    let recipients = c.members("Recipient", 30).await;

    let (cluster, sender) = (&c, &sender);
    let answers = join_all(recipients.iter().enumerate().map(|(i, r)| async move {
        let resp = cluster.either(i).invite(sender, r).await;
        let retry_after = header(&resp, "retry-after");
        let (status, body) = answer(resp).await;
        (i, status, body, retry_after)
    }))
    .await;

    let mut created = 0;
    for (i, status, body, retry_after) in &answers {
        match status {
            201 => created += 1,
            429 => {
                assert_eq!(body["code"], "quota_exceeded", "send {i}: {body}");
                assert!(
                    !retry_after.is_empty(),
                    "send {i}: a 429 without Retry-After"
                );
                assert!(body["retry_at"].is_string(), "send {i}: {body}");
            }
            409 => assert!(body["code"].is_string(), "send {i}: {body}"),
            other => panic!("send {i} answered {other}: {body}"),
        }
    }
    assert_eq!(
        created, 5,
        "exactly the weekly limit is created: {answers:#?}"
    );

    let sender_id: i64 = sender.id.parse().expect("a numeric id");
    let stored =
        c.db.count(
            "SELECT count(*) FROM invitations WHERE sender_id = $1",
            &[&sender_id],
        )
        .await;
    assert_eq!(stored, 5, "invitations in the database");
    for (name, api) in c.both() {
        let me = expect_json(api.me(&sender.token).await, 200).await;
        assert_eq!(me["quota"]["used"], 5, "on {name}: {}", me["quota"]);
        assert_eq!(me["quota"]["remaining"], 0, "on {name}: {}", me["quota"]);
        assert_eq!(api.sent_ids(&sender.token).await.len(), 5, "on {name}");
    }
}

// ----- 4. accept racing withdraw --------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_on_one_replica_racing_withdraw_on_the_other_has_one_winner() {
    let c = Cluster::start().await;
    let sender = c.a.server.api.signup_member("Racing Sender").await;
    let recipients = c.members("Racing Recipient", 20).await;
    let sender_id: i64 = sender.id.parse().expect("a numeric id");

    let (mut accepted, mut withdrawn) = (0, 0);
    for (round, r) in recipients.iter().enumerate() {
        let id = c.either(round).invite_ok(&sender, r).await;
        let (acc, wd) = tokio::join!(
            c.a.server.api.accept(&r.token, &id),
            c.b.server.api.withdraw(&sender.token, &id)
        );
        let (acc, wd) = (answer(acc).await, answer(wd).await);
        let won_accept = match (&acc, &wd) {
            ((200, _), (409, w)) => {
                assert_eq!(w["code"], "not_pending", "round {round}: {w}");
                true
            }
            ((404, a), (204, _)) => {
                assert_eq!(a["code"], "not_found", "round {round}: {a}");
                false
            }
            _ => panic!("round {round}: not exactly one winner: accept {acc:?}, withdraw {wd:?}"),
        };
        if won_accept {
            accepted += 1;
        } else {
            withdrawn += 1;
        }

        // The same end state through both replicas, and in the database.
        let (state, recipient_status) = if won_accept {
            ("accepted", 200)
        } else {
            ("withdrawn", 404)
        };
        let invitation_id: i64 = id.parse().expect("a numeric id");
        let rows =
            c.db.query(
                "SELECT state FROM invitations WHERE id = $1",
                &[&invitation_id],
            )
            .await;
        assert_eq!(rows[0].get::<_, String>(0), state, "round {round}");
        let recipient_id: i64 = r.id.parse().expect("a numeric id");
        let stored_connections =
            c.db.count(
                "SELECT count(*) FROM connections WHERE member_id = $1 AND other_id = $2",
                &[&sender_id, &recipient_id],
            )
            .await;
        assert_eq!(stored_connections, i64::from(won_accept), "round {round}");
        for (name, api) in c.both() {
            let v = expect_json(api.invitation(&sender.token, &id).await, 200).await;
            assert_eq!(v["state"], state, "round {round} on {name}");
            let seen = api.invitation(&r.token, &id).await.status();
            assert_eq!(seen, recipient_status, "round {round} on {name}");
            let listed = api.connection_ids(&sender.token).await.contains(&r.id);
            assert_eq!(listed, won_accept, "round {round} on {name}: connections");
            if won_accept {
                let what = format!("round {round}: connected on {name}");
                relationship_becomes(api, &sender.token, &r.id, "connected", json!(1), &what).await;
            } else {
                let rel = relationship(api, &sender.token, &r.id).await;
                assert_eq!(rel["state"], "none", "round {round} on {name}: {rel}");
            }
        }
    }
    println!("replicas: accept/withdraw races: accept won {accepted}, withdraw won {withdrawn}");
    check_invariants(&c.db, "after the races").await;
}

// ----- 5. the graph index follows -------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_replicas_graph_index_follows_connections_made_on_the_other() {
    let c = Cluster::start().await;
    let ada = c.a.server.api.signup_member("Ada Graph").await;
    let bob = c.a.server.api.signup_member("Bob Graph").await;
    let cy = c.b.server.api.signup_member("Cy Graph").await;

    // Ada–Bob and Bob–Cy, both through A.
    c.a.server.api.connect(&ada, &bob).await;
    c.a.server.api.connect(&bob, &cy).await;

    // On B: Ada and Bob are 1st degree; Cy sees Ada at the 2nd, through Bob.
    relationship_becomes(
        &c.b.server.api,
        &ada.token,
        &bob.id,
        "connected",
        json!(1),
        "Ada–Bob on B",
    )
    .await;
    let rel = relationship_becomes(
        &c.b.server.api,
        &cy.token,
        &ada.id,
        "none",
        json!(2),
        "Cy sees Ada on B",
    )
    .await;
    assert_eq!(rel["mutual_connections"], 1, "{rel}");
    let page = expect_json(
        c.b.server
            .api
            .request(
                reqwest::Method::GET,
                "/api/v1/members?degree=2",
                &cy.token,
                None,
            )
            .await,
        200,
    )
    .await;
    assert!(ids(&page).contains(&ada.id), "Cy's 2nd degree on B: {page}");

    // A connection made through B shows on A; one removed through A goes on B.
    let dee = c.b.server.api.signup_member("Dee Graph").await;
    c.b.server.api.connect(&cy, &dee).await;
    relationship_becomes(
        &c.a.server.api,
        &dee.token,
        &bob.id,
        "none",
        json!(2),
        "Dee sees Bob on A",
    )
    .await;
    expect_empty(
        c.a.server.api.remove_connection(&bob.token, &cy.id).await,
        204,
    )
    .await;
    relationship_becomes(
        &c.b.server.api,
        &bob.token,
        &cy.id,
        "none",
        Value::Null,
        "Bob–Cy gone on B",
    )
    .await;
    relationship_becomes(
        &c.b.server.api,
        &cy.token,
        &ada.id,
        "none",
        Value::Null,
        "Ada out of Cy's network on B",
    )
    .await;
}
