//! Connections and the network around them: the list with its total and name filter, removal,
//! degrees and mutual connections.

use crate::helpers::*;
use serde_json::json;

#[tokio::test]
async fn the_connection_list_has_a_total_and_filters_by_name_literally() {
    // `q` matches part of a name; `%` and `_` are letters there, not wildcards.
    let app = TestApp::spawn().await;
    let ada = app.signup_member("Ada").await;
    let names = [
        "Grace Hopper",
        "Alan Turing",
        "Ten% Tim",
        "Under_Score",
        "UnderXScore",
        "Lee\\Yin",
    ];
    let mut members = Vec::new();
    for name in names {
        let m = app.signup_member(name).await;
        app.connect(&ada, &m).await;
        members.push(m);
    }

    let all = expect_json(app.connections(&ada.token, "").await, 200).await;
    assert_eq!(all["total"], 6);
    assert_eq!(all["items"].as_array().unwrap().len(), 6);
    assert_eq!(all["next_cursor"], serde_json::Value::Null);
    let first = &all["items"][0];
    assert!(first["connected_at"].is_string(), "{first}");
    let mut keys: Vec<&String> = first["member"].as_object().unwrap().keys().collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["company", "headline", "id", "name"],
        "a MemberSummary"
    );

    let cases: [(&str, &[&str]); 7] = [
        ("Turing", &["Alan Turing"]),
        ("a", &["Grace Hopper", "Alan Turing"]),
        ("%25", &["Ten% Tim"]),
        ("_", &["Under_Score"]),
        ("r_S", &["Under_Score"]),
        ("%5C", &["Lee\\Yin"]),
        ("nobody", &[]),
    ];
    for (q, expected) in cases {
        let page = expect_json(app.connections(&ada.token, &format!("?q={q}")).await, 200).await;
        let mut got: Vec<&str> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["member"]["name"].as_str().unwrap())
            .collect();
        got.sort_unstable();
        let mut want = expected.to_vec();
        want.sort_unstable();
        assert_eq!(got, want, "q={q}");
        assert_eq!(
            page["total"],
            got.len(),
            "q={q}: total counts the filtered list"
        );
    }
}

#[tokio::test]
async fn removing_a_connection_is_204_and_takes_it_from_both_lists() {
    // Either side removes; then neither lists the other, the profile reads "none", and removing
    // again is 404 not_found.
    let app = TestApp::spawn().await;
    let (ada, bob) = (
        app.signup_member("Ada").await,
        app.signup_member("Bob").await,
    );
    app.connect(&ada, &bob).await;
    expect_empty(app.remove_connection(&bob.token, &ada.id).await, 204).await;
    for m in [&ada, &bob] {
        let page = expect_json(app.connections(&m.token, "").await, 200).await;
        assert_eq!(page["total"], 0);
        assert_eq!(page["items"], json!([]));
    }
    assert_eq!(
        app.relationship(&ada, &bob.id).await,
        json!({"state": "none", "degree": null, "mutual_connections": 0, "invitation_id": null})
    );
    expect_problem(
        app.remove_connection(&bob.token, &ada.id).await,
        404,
        "not_found",
    )
    .await;
    expect_problem(
        app.remove_connection(&ada.token, &bob.id).await,
        404,
        "not_found",
    )
    .await;
    expect_problem(
        app.remove_connection(&ada.token, "999999").await,
        404,
        "not_found",
    )
    .await;
    expect_problem(
        app.remove_connection(&ada.token, "abc").await,
        404,
        "not_found",
    )
    .await;
    // They may connect again.
    app.connect(&bob, &ada).await;
    assert_eq!(app.connection_ids(&ada.token).await, [bob.id.as_str()]);
}

#[tokio::test]
async fn inviting_a_connection_is_409_already_connected() {
    // After an accept, neither side can invite the other.
    let app = TestApp::spawn().await;
    let (ada, bob) = (
        app.signup_member("Ada").await,
        app.signup_member("Bob").await,
    );
    app.connect(&ada, &bob).await;
    expect_problem(app.invite(&ada, &bob).await, 409, "already_connected").await;
    expect_problem(app.invite(&bob, &ada).await, 409, "already_connected").await;
}

#[tokio::test]
async fn a_connection_of_a_connection_is_second_degree_with_one_mutual() {
    // A-B and B-C connected: A sees C at degree 2 with one mutual connection; C's invitation to A
    // shows that mutual connection and B in its preview.
    let app = TestApp::spawn().await;
    let ada = app.signup_member("Ada").await;
    let bob = app.signup_member("Bob").await;
    let cy = app.signup_member("Cy").await;
    let r = app
        .update_me(&bob.token, json!({"headline": "Bridge", "company": "Acme"}))
        .await;
    expect_json(r, 200).await;
    app.connect(&ada, &bob).await;
    app.connect(&bob, &cy).await;

    assert_eq!(
        app.relationship(&ada, &cy.id).await,
        json!({"state": "none", "degree": 2, "mutual_connections": 1, "invitation_id": null})
    );
    let rel = app.relationship(&ada, &bob.id).await;
    assert_eq!(rel["degree"], 1);

    let id = app.invite_ok(&cy, &ada).await;
    let bob_summary = json!({"id": bob.id, "name": "Bob", "headline": "Bridge", "company": "Acme"});
    let inbox = expect_json(app.received(&ada.token, "").await, 200).await;
    let inv = &inbox["items"][0];
    assert_eq!(inv["id"], id.as_str());
    assert_eq!(inv["mutual_connections"], 1);
    assert_eq!(inv["mutual_preview"], json!([bob_summary.clone()]));
    let shown = expect_json(app.invitation(&ada.token, &id).await, 200).await;
    assert_eq!(shown["mutual_connections"], 1);
    assert_eq!(shown["mutual_preview"], json!([bob_summary]));
    assert_eq!(
        app.relationship(&ada, &cy.id).await,
        json!({"state": "invitation_received", "degree": 2, "mutual_connections": 1, "invitation_id": id})
    );
}

#[tokio::test]
async fn a_third_degree_member_has_no_mutual_connections() {
    // A-B-C-D in a line: A sees D at degree 3, with nobody in common.
    let app = TestApp::spawn().await;
    let mut line = Vec::new();
    for name in ["A", "B", "C", "D"] {
        line.push(app.signup_member(name).await);
    }
    for w in line.windows(2) {
        app.connect(&w[0], &w[1]).await;
    }
    let rel = app.relationship(&line[0], &line[3].id).await;
    assert_eq!(rel["degree"], 3);
    assert_eq!(rel["mutual_connections"], 0);
    assert_eq!(rel["state"], "none");
}
