use crate::helpers::*;
use serde_json::Value;

#[tokio::test]
async fn degrees_and_mutual_connections_are_shown_to_the_viewer() {
    // Ada-Bob and Bob-Cleo are connected: Cleo is 2nd degree to Ada with Bob in common, and Cleo's
    // invitation to Ada shows that mutual connection by name.
    let app = TestApp::spawn().await;
    let (ada, bob, cleo, dan) = (
        app.member("Ada").await,
        app.member("Bob").await,
        app.member("Cleo").await,
        app.member("Dan").await,
    );
    app.connect(&ada, &bob).await;
    app.connect(&bob, &cleo).await;
    app.connect(&cleo, &dan).await;
    let p: Value = app.profile(&ada, &cleo.id).await.json().await.unwrap();
    assert_eq!(p["relationship"]["degree"], 2);
    assert_eq!(p["relationship"]["mutual_connections"], 1);
    let p: Value = app.profile(&ada, &dan.id).await.json().await.unwrap();
    assert_eq!(p["relationship"]["degree"], 3);
    assert_eq!(p["relationship"]["mutual_connections"], 0);
    let me: Value = app.profile(&ada, &ada.id).await.json().await.unwrap();
    assert_eq!(me["relationship"]["state"], "self");

    app.invite_ok(&cleo, &ada).await;
    let inbox: Value = app.received(&ada, "").await.json().await.unwrap();
    assert_eq!(inbox["items"][0]["mutual_connections"], 1);
    assert_eq!(inbox["items"][0]["mutual_preview"][0]["name"], "Bob");
    assert!(inbox["items"][0]["mutual_preview"][0]
        .get("email")
        .is_none());
}

#[tokio::test]
async fn connections_are_listed_filtered_and_removed_silently() {
    // The list carries a total and filters by name (wildcards are literal); removal works from
    // either side and a second removal is not found.
    let app = TestApp::spawn().await;
    let ada = app.member("Ada").await;
    let names = ["Grace Hopper", "Alan Turing", "Grace_Kelly", "Percy 100%"];
    let mut others = Vec::new();
    for n in names {
        let m = app.member(n).await;
        app.connect(&ada, &m).await;
        others.push(m);
    }
    let all: Value = app.connections(&ada, "").await.json().await.unwrap();
    assert_eq!(all["total"], 4);
    let grace: Value = app
        .connections(&ada, "?q=grace")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(grace["total"], 2);
    let literal: Value = app.connections(&ada, "?q=e_K").await.json().await.unwrap();
    assert_eq!(literal["total"], 1);
    let percent: Value = app
        .connections(&ada, "?q=100%25")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(percent["total"], 1);
    let paged: Value = app
        .connections(&ada, "?limit=3")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(paged["items"].as_array().unwrap().len(), 3);
    let cursor = paged["next_cursor"].as_str().unwrap();
    let rest: Value = app
        .connections(&ada, &format!("?limit=3&cursor={cursor}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);

    let alan = &others[1];
    assert_eq!(app.remove_connection(alan, &ada.id).await.status(), 204);
    assert_eq!(
        app.connections(&ada, "")
            .await
            .json::<Value>()
            .await
            .unwrap()["total"],
        3
    );
    assert_eq!(
        app.connections(alan, "")
            .await
            .json::<Value>()
            .await
            .unwrap()["total"],
        0
    );
    assert_problem(
        app.remove_connection(&ada, &alan.id).await,
        404,
        "not_found",
    )
    .await;
    let p: Value = app.profile(&ada, &alan.id).await.json().await.unwrap();
    assert_eq!(p["relationship"]["state"], "none");
    assert_eq!(
        app.invite(&ada, alan, None).await.status(),
        201,
        "they can connect again"
    );
}

#[tokio::test]
async fn unknown_members_are_not_found() {
    // Any id that names nobody reads the same.
    let app = TestApp::spawn().await;
    let ada = app.member("Ada").await;
    let a = app.profile(&ada, "424242").await;
    let b = app.profile(&ada, "not-an-id").await;
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (404, 404));
    assert_eq!(a.text().await.unwrap(), b.text().await.unwrap());
}
