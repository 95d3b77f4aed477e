//! The network around a member: degrees that route around hidden members, mutual connection
//! lists, member search and people you may know, and the graph index agreeing with the store.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};

async fn get(app: &TestApp, who: &TestMember, path: &str) -> reqwest::Response {
    app.request(Method::GET, path, &who.token, None).await
}

async fn get_ok(app: &TestApp, who: &TestMember, path: &str) -> Value {
    expect_json(get(app, who, path).await, 200).await
}

fn names(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a list: {page}"))
        .iter()
        .map(|m| m["name"].as_str().expect("name").to_owned())
        .collect()
}

async fn profile(app: &TestApp, m: &TestMember, headline: &str, company: &str) {
    let body = json!({"headline": headline, "company": company});
    expect_json(app.update_me(&m.token, body).await, 200).await;
}

#[tokio::test]
async fn no_degree_or_mutual_count_runs_through_a_blocked_member() {
    // Ada - Bob - Cy - Dee in a line, and Bob - Eve - Cy beside it.
    let app = TestApp::spawn().await;
    let ada = app.signup_member("Ada").await;
    let bob = app.signup_member("Bob").await;
    let cy = app.signup_member("Cy").await;
    let dee = app.signup_member("Dee").await;
    let eve = app.signup_member("Eve").await;
    for (a, b) in [
        (&ada, &bob),
        (&bob, &cy),
        (&cy, &dee),
        (&bob, &eve),
        (&eve, &cy),
    ] {
        app.connect(a, b).await;
    }
    let rel = app.relationship(&ada, &cy.id).await;
    assert_eq!(
        (rel["degree"].clone(), rel["mutual_connections"].clone()),
        (json!(2), json!(1))
    );
    assert_eq!(app.relationship(&ada, &dee.id).await["degree"], 3);
    assert_eq!(
        app.relationship(&bob, &cy.id).await["mutual_connections"],
        1
    );

    // Bob blocks Ada: for Ada, no path runs through Bob any more.
    let block = format!("/api/v1/blocks/{}", ada.id);
    expect_empty(
        app.request(Method::PUT, &block, &bob.token, None).await,
        204,
    )
    .await;
    let rel = app.relationship(&ada, &cy.id).await;
    assert_eq!(rel["degree"], Value::Null, "{rel}");
    assert_eq!(rel["mutual_connections"], 0);
    assert_eq!(app.relationship(&ada, &dee.id).await["degree"], Value::Null);

    // Cy blocks Eve: Bob and Cy are still connected, but Eve is no longer a mutual connection
    // for Cy, while Bob, who blocked nobody, still sees her.
    let block = format!("/api/v1/blocks/{}", eve.id);
    expect_empty(app.request(Method::PUT, &block, &cy.token, None).await, 204).await;
    assert_eq!(
        app.relationship(&cy, &bob.id).await["mutual_connections"],
        0
    );
    let path = format!("/api/v1/members/{}/mutual-connections", bob.id);
    assert_eq!(get_ok(&app, &cy, &path).await["total"], 0);
    // (The block removed the Eve - Cy connection too, so Bob sees none either.)
    assert_eq!(
        app.relationship(&bob, &cy.id).await["mutual_connections"],
        0
    );
}

#[tokio::test]
async fn received_invitations_show_mutual_names_without_hidden_or_deactivated_members() {
    let app = TestApp::spawn().await;
    let ada = app.signup_member("Ada").await;
    let zed = app.signup_member("Zed").await;
    let mut friends = Vec::new();
    for name in ["F1", "F2", "F3", "F4"] {
        let f = app.signup_member(name).await;
        app.connect(&ada, &f).await;
        app.connect(&zed, &f).await;
        friends.push(f);
    }
    app.invite_ok(&zed, &ada).await;
    let card = |v: &Value| v["items"][0].clone();
    let inbox = expect_json(app.received(&ada.token, "").await, 200).await;
    assert_eq!(card(&inbox)["mutual_connections"], 4);
    assert_eq!(card(&inbox)["mutual_preview"].as_array().unwrap().len(), 3);

    // F1 deactivates and F2 blocks Ada: two mutual connections are left, both shown.
    expect_empty(
        app.request(
            Method::POST,
            "/api/v1/me/deactivate",
            &friends[0].token,
            None,
        )
        .await,
        204,
    )
    .await;
    let block = format!("/api/v1/blocks/{}", ada.id);
    expect_empty(
        app.request(Method::PUT, &block, &friends[1].token, None)
            .await,
        204,
    )
    .await;
    let inbox = expect_json(app.received(&ada.token, "").await, 200).await;
    assert_eq!(card(&inbox)["mutual_connections"], 2);
    let preview = json!({"items": card(&inbox)["mutual_preview"].clone()});
    assert_eq!(names(&preview), ["F3", "F4"]);
}

#[tokio::test]
async fn the_mutual_connection_list_pages_with_a_total_and_hides_what_it_must() {
    let app = TestApp::spawn().await;
    let ada = app.signup_member("Ada").await;
    let zed = app.signup_member("Zed").await;
    let stranger = app.signup_member("Stranger").await;
    for i in 0..5 {
        let f = app.signup_member(&format!("Friend {i}")).await;
        app.connect(&ada, &f).await;
        app.connect(&zed, &f).await;
    }
    let path = format!("/api/v1/members/{}/mutual-connections?limit=2", zed.id);
    let first = get_ok(&app, &ada, &path).await;
    assert_eq!(first["total"], 5);
    assert_eq!(names(&first), ["Friend 0", "Friend 1"]);
    let keys: Vec<&String> = first["items"][0].as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 4, "MemberSummary: {keys:?}");
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let second = get_ok(&app, &ada, &format!("{path}&cursor={cursor}")).await;
    assert_eq!(names(&second), ["Friend 2", "Friend 3"]);
    let cursor = second["next_cursor"]
        .as_str()
        .expect("a last page")
        .to_owned();
    let last = get_ok(&app, &ada, &format!("{path}&cursor={cursor}")).await;
    assert_eq!(names(&last), ["Friend 4"]);
    assert_eq!(last["next_cursor"], Value::Null);

    // With a stranger there is nothing in common; an unknown or blocked member is not found,
    // alike; a cursor that is not one is refused first, whoever the path names.
    let path = format!("/api/v1/members/{}/mutual-connections", stranger.id);
    assert_eq!(get_ok(&app, &ada, &path).await["total"], 0);
    let unknown = expect_problem(
        get(&app, &ada, "/api/v1/members/999999/mutual-connections").await,
        404,
        "not_found",
    )
    .await;
    let block = format!("/api/v1/blocks/{}", ada.id);
    expect_empty(
        app.request(Method::PUT, &block, &zed.token, None).await,
        204,
    )
    .await;
    let path = format!("/api/v1/members/{}/mutual-connections", zed.id);
    let blocked = expect_problem(get(&app, &ada, &path).await, 404, "not_found").await;
    assert_eq!(unknown["detail"], blocked["detail"]);
    expect_problem(
        get(
            &app,
            &ada,
            "/api/v1/members/999999/mutual-connections?cursor=nope",
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
}

#[tokio::test]
async fn search_ranks_name_matches_then_degree_then_mutual_connections() {
    let app = TestApp::spawn().await;
    let me = app.signup_member("Viewer").await;
    let friend = app.signup_member("Friend").await;
    let friend2 = app.signup_member("Other Friend").await;
    app.connect(&me, &friend).await;
    app.connect(&me, &friend2).await;
    // Three Rustaceans by name at 1st, 2nd (two mutual) and 2nd (one mutual) degree, one out of
    // network, and one whose headline only mentions Rust.
    let near = app.signup_member("Rusty Near").await;
    app.connect(&me, &near).await;
    let two = app.signup_member("Rusty Two").await;
    app.connect(&friend, &two).await;
    app.connect(&friend2, &two).await;
    let one = app.signup_member("Rusty One").await;
    app.connect(&friend, &one).await;
    let far = app.signup_member("Rusty Far").await;
    let by_headline = app.signup_member("Hedda Line").await;
    profile(&app, &by_headline, "Rust engineer", "Ferrous").await;
    app.connect(&me, &by_headline).await;

    let found = get_ok(&app, &me, "/api/v1/members?q=rust").await;
    assert_eq!(
        names(&found),
        [
            "Rusty Near",
            "Rusty Two",
            "Rusty One",
            "Rusty Far",
            "Hedda Line"
        ]
    );
    let degrees: Vec<Value> = found["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["relationship"]["degree"].clone())
        .collect();
    assert_eq!(
        degrees,
        [json!(1), json!(2), json!(2), Value::Null, json!(1)]
    );
    assert_eq!(found["items"][1]["relationship"]["mutual_connections"], 2);
    assert_eq!(found["items"][0]["relationship"]["state"], "connected");

    // A degree filter keeps that degree; a company word finds by company; prefixes match.
    let second = get_ok(&app, &me, "/api/v1/members?q=rusty&degree=2").await;
    assert_eq!(names(&second), ["Rusty Two", "Rusty One"]);
    assert_eq!(
        names(&get_ok(&app, &me, "/api/v1/members?q=ferr").await),
        ["Hedda Line"]
    );
    // Without words, degree 1 lists connections and degree 2 the 2nd degree, by mutual count.
    let firsts = get_ok(&app, &me, "/api/v1/members?degree=1").await;
    assert_eq!(firsts["items"].as_array().unwrap().len(), 4);
    let seconds = get_ok(&app, &me, "/api/v1/members?degree=2").await;
    assert_eq!(names(&seconds), ["Rusty Two", "Rusty One"]);

    // A pending invitation shows in the relationship; oneself is never found.
    let inv = app.invite_ok(&me, &far).await;
    let found = get_ok(&app, &me, "/api/v1/members?q=far").await;
    assert_eq!(
        found["items"][0]["relationship"]["state"],
        "invitation_sent"
    );
    assert_eq!(
        found["items"][0]["relationship"]["invitation_id"],
        inv.as_str()
    );
    assert!(names(&get_ok(&app, &me, "/api/v1/members?q=viewer").await).is_empty());

    // A renamed member is found by the new name at once, and no longer by the old one.
    expect_json(
        app.update_me(&far.token, json!({"name": "Ferris Crab"}))
            .await,
        200,
    )
    .await;
    assert_eq!(
        names(&get_ok(&app, &me, "/api/v1/members?q=crab").await),
        ["Ferris Crab"]
    );
    assert!(!names(&get_ok(&app, &me, "/api/v1/members?q=rusty").await)
        .contains(&"Rusty Far".to_owned()));
}

#[tokio::test]
async fn search_never_shows_hidden_or_inactive_members_and_refuses_bad_input() {
    let app = TestApp::spawn().await;
    let me = app.signup_member("Viewer").await;
    let blocker = app.signup_member("Jordan Blocker").await;
    let gone = app.signup_member("Jordan Gone").await;
    let shown = app.signup_member("Jordan Shown").await;
    let block = format!("/api/v1/blocks/{}", me.id);
    expect_empty(
        app.request(Method::PUT, &block, &blocker.token, None).await,
        204,
    )
    .await;
    expect_empty(
        app.request(Method::POST, "/api/v1/me/deactivate", &gone.token, None)
            .await,
        204,
    )
    .await;
    let found = get_ok(&app, &me, "/api/v1/members?q=jordan").await;
    assert_eq!(names(&found), ["Jordan Shown"]);
    assert_eq!(found["items"][0]["id"], shown.id.as_str());

    // FTS syntax is only text; words without letters find nothing; bad input says what to fix.
    for q in ["%22jordan%22%20OR%20*", "NEAR(jordan)", "jordan%20-", "%22"] {
        let r = get(&app, &me, &format!("/api/v1/members?q={q}")).await;
        expect_json(r, 200).await;
    }
    assert!(names(&get_ok(&app, &me, "/api/v1/members?q=%21%21").await).is_empty());
    for (query, field) in [
        ("?q=jordan&degree=4", "degree"),
        ("?degree=first", "degree"),
        ("", "q"),
        ("?degree=3", "q"),
        ("?q=jordan&cursor=zzz", "cursor"),
    ] {
        let r = get(&app, &me, &format!("/api/v1/members{query}")).await;
        let p = expect_problem(r, 422, "validation_failed").await;
        assert!(
            p["detail"].as_str().unwrap().contains(field),
            "{query}: {p}"
        );
    }
    let long = "a".repeat(101);
    let r = get(&app, &me, &format!("/api/v1/members?q={long}")).await;
    expect_problem(r, 422, "validation_failed").await;
    let r = app
        .request(Method::GET, "/api/v1/members?q=jordan", "", None)
        .await;
    expect_problem(r, 401, "unauthenticated").await;
}

#[tokio::test]
async fn suggestions_are_second_degree_by_mutual_count_without_the_ones_to_leave_out() {
    let app = TestApp::spawn().await;
    let me = app.signup_member("Viewer").await;
    let f1 = app.signup_member("F1").await;
    let f2 = app.signup_member("F2").await;
    app.connect(&me, &f1).await;
    app.connect(&me, &f2).await;
    let mut second = Vec::new();
    for name in [
        "Two Mutual",
        "One Mutual",
        "Pending Out",
        "Pending In",
        "Ignored",
        "Spammer",
        "Blocked",
        "Plain Ignored",
    ] {
        let m = app.signup_member(name).await;
        app.connect(&f1, &m).await;
        if name == "Two Mutual" {
            app.connect(&f2, &m).await;
        }
        second.push(m);
    }
    let [_, _, pending_out, pending_in, ignored, spammer, blocked, plain] = &second[..] else {
        unreachable!()
    };
    app.invite_ok(&me, pending_out).await;
    app.invite_ok(pending_in, &me).await;
    let id = app.invite_ok(ignored, &me).await;
    expect_empty(
        app.ignore(&me.token, &id, Some(json!({"reason": "dont_know"})))
            .await,
        204,
    )
    .await;
    let id = app.invite_ok(spammer, &me).await;
    expect_empty(
        app.ignore(&me.token, &id, Some(json!({"reason": "spam"})))
            .await,
        204,
    )
    .await;
    let id = app.invite_ok(plain, &me).await;
    expect_empty(app.ignore(&me.token, &id, None).await, 204).await;
    let block = format!("/api/v1/blocks/{}", blocked.id);
    expect_empty(app.request(Method::PUT, &block, &me.token, None).await, 204).await;

    let s = get_ok(&app, &me, "/api/v1/members/suggestions").await;
    assert_eq!(names(&s), ["Two Mutual", "One Mutual", "Plain Ignored"]);
    assert_eq!(s["items"][0]["relationship"]["mutual_connections"], 2);
    assert_eq!(s["items"][0]["relationship"]["degree"], 2);
    assert_eq!(s["items"][0]["relationship"]["state"], "none");

    // Paging: one at a time, then nothing more.
    let page = get_ok(&app, &me, "/api/v1/members/suggestions?limit=2").await;
    let cursor = page["next_cursor"].as_str().expect("more").to_owned();
    let rest = get_ok(
        &app,
        &me,
        &format!("/api/v1/members/suggestions?limit=2&cursor={cursor}"),
    )
    .await;
    assert_eq!(names(&rest), ["Plain Ignored"]);
    assert_eq!(rest["next_cursor"], Value::Null);

    // Once connected, a suggestion is gone; a member with no connections gets none.
    app.connect(&me, &second[0]).await;
    assert_eq!(
        names(&get_ok(&app, &me, "/api/v1/members/suggestions").await),
        ["One Mutual", "Plain Ignored"]
    );
    let lonely = app.signup_member("Lonely").await;
    assert!(names(&get_ok(&app, &lonely, "/api/v1/members/suggestions").await).is_empty());
}

#[tokio::test]
async fn after_random_network_changes_the_graph_index_matches_a_rebuild_from_the_store() {
    // Connections made, removed, blocked away, hidden by deactivation and back by signing in,
    // and closed for good: the live index must equal one rebuilt from the store.
    let app = TestApp::spawn().await;
    let mut members = Vec::new();
    for i in 0..12 {
        members.push(app.signup_member(&format!("M{i}")).await);
    }
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let mut closed = vec![false; members.len()];
    for _ in 0..80 {
        let (a, b) = (next(members.len()), next(members.len()));
        if a == b || closed[a] || closed[b] {
            continue;
        }
        let (ma, mb) = (&members[a], &members[b]);
        match next(10) {
            0..=4 => {
                // Invite and accept; refusals (already connected, blocked, hidden) are fine.
                let r = app.invite(ma, mb).await;
                if r.status() == 201 {
                    let inv: Value = r.json().await.unwrap();
                    let _ = app.accept(&mb.token, inv["id"].as_str().unwrap()).await;
                }
            }
            5 | 6 => {
                let _ = app.remove_connection(&ma.token, &mb.id).await;
            }
            7 => {
                let path = format!("/api/v1/blocks/{}", mb.id);
                let _ = app.request(Method::PUT, &path, &ma.token, None).await;
            }
            8 => {
                let _ = app
                    .request(Method::POST, "/api/v1/me/deactivate", &ma.token, None)
                    .await;
                // Signing in again reactivates the account and brings its connections back.
                if next(2) == 0 {
                    let login = app.login(&ma.email, PASSWORD).await;
                    let v = expect_json(login, 200).await;
                    members[a].token = v["token"].as_str().unwrap().to_owned();
                }
            }
            _ => {
                if next(4) == 0 {
                    let body = json!({"password": PASSWORD});
                    let r = app
                        .request(Method::DELETE, "/api/v1/me", &ma.token, Some(body))
                        .await;
                    if r.status() == 204 {
                        closed[a] = true;
                    }
                }
            }
        }
    }
    let check = app.app.verify_graph().await.expect("verify");
    assert!(check.agrees, "{check:?}");
    assert!(check.connections > 0, "the run made connections: {check:?}");
}

#[tokio::test]
async fn a_word_half_the_network_shares_still_finds_the_viewers_own_people_first() {
    // 1,200 members named Smith: more than the 1,000 candidates the search ranks, so it takes the
    // viewer's 1st and 2nd degree first and adds the others unranked. The Smiths the viewer knows
    // come first, by degree then mutual connections; a Smith whose name does not match but whose
    // company does comes after every name match; the hidden and the blocked never appear.
    let app = TestApp::spawn().await;
    let me = app.signup_member("Viewer").await;
    let seeded: Vec<rapport_app::SeedMember> = (0..1_200)
        .map(|i| rapport_app::SeedMember {
            email: format!("smith.{i}@example.com"),
            name: format!("Pat Smith {i}"),
            headline: String::new(),
            company: String::new(),
            location: String::new(),
        })
        .collect();
    let smiths = app.app.seed_members(seeded, PASSWORD).await.unwrap();
    let smith = |i: usize| TestMember {
        id: smiths[i].0.to_string(),
        token: smiths[i].1.clone(),
        email: format!("smith.{i}@example.com"),
        name: format!("Pat Smith {i}"),
    };
    // The newest Smiths (highest ids, last in id order) are the ones the viewer knows.
    let (first, second, blocked) = (smith(1_199), smith(1_198), smith(1_197));
    app.connect(&me, &first).await;
    let friend = app.signup_member("Friend").await;
    app.connect(&me, &friend).await;
    app.connect(&friend, &second).await;
    app.connect(&friend, &blocked).await;
    let path = format!("/api/v1/blocks/{}", blocked.id);
    expect_empty(app.request(Method::PUT, &path, &me.token, None).await, 204).await;
    let by_company = app.signup_member("Kim Lee").await;
    profile(&app, &by_company, "", "Smith & Sons").await;
    app.connect(&me, &by_company).await;

    let found = get_ok(&app, &me, "/api/v1/members?q=smith&limit=100").await;
    let got = names(&found);
    assert_eq!(got[..2], ["Pat Smith 1199", "Pat Smith 1198"], "{got:?}");
    assert_eq!(found["items"][0]["relationship"]["degree"], 1);
    assert_eq!(found["items"][1]["relationship"]["degree"], 2);
    assert!(!got.contains(&"Pat Smith 1197".to_owned()), "{got:?}");
    assert!(
        !got.contains(&"Kim Lee".to_owned()),
        "a company match after 100 name matches"
    );
    assert_eq!(got.len(), 100);
    // Only Smiths the viewer knows are within 2nd degree; filtering by it finds exactly those.
    let near = get_ok(&app, &me, "/api/v1/members?q=smith&degree=2").await;
    assert_eq!(names(&near), ["Pat Smith 1198"]);
}
