//! Rapport over a PostgreSQL 15 cluster of the test's own that stops (`pg_ctl stop -m fast`, as a
//! restart or a failover does) and starts again under a running rapport.

use super::*;
use crate::crash::Server;
use serde_json::json;

/// The database rapport runs on, in the test's own cluster.
const DATABASE: &str = "rapport";

/// A request that needs the database, answered while it is down: `503 unavailable`
/// (problem+json) with `Retry-After`.
async fn assert_unavailable(what: &str, r: reqwest::Response) {
    let status = r.status().as_u16();
    let header = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let retry_after = header("retry-after");
    let kind = header("content-type");
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 503, "{what} while PostgreSQL is down: {body}");
    assert_eq!(body["code"], "unavailable", "{what}: {body}");
    assert_eq!(kind.as_deref(), Some("application/problem+json"), "{what}");
    assert!(
        retry_after.is_some_and(|s| s.parse::<u64>().is_ok_and(|s| s >= 1)),
        "{what}: no Retry-After"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_answer_503_while_postgresql_restarts() {
    let dir = server_dir();
    let mut pg = Cluster::new("primary", &pg_bindir(), dir.path());
    pg.init();
    pg.configure();
    pg.start();
    simple(&pg.url("postgres"), &format!("CREATE DATABASE {DATABASE}"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let url = pg.url(DATABASE);
    let data = tempfile::tempdir().expect("a temporary directory");
    let mut server = Server::start_with(data.path(), &[("RAPPORT_DATABASE_URL", url.as_str())]);
    server.wait_ready().await;
    let api = server.api.clone();

    // Acknowledged writes: two members, an invitation, a connection.
    let ada = api.signup_member("Ada").await;
    let bob = api.signup_member("Bob").await;
    let cy = api.signup_member("Cy").await;
    let pending = api.invite_ok(&ada, &bob).await;
    api.connect(&ada, &cy).await;

    pg.stop_fast();

    // Whatever needs the database answers 503, not 500: reads, writes, sign-in, readiness.
    assert_unavailable("GET /me", api.me(&ada.token).await).await;
    assert_unavailable(
        "GET an invitation",
        api.invitation(&bob.token, &pending).await,
    )
    .await;
    assert_unavailable("an invitation", api.invite(&bob, &cy).await).await;
    assert_unavailable("an accept", api.accept(&bob.token, &pending).await).await;
    assert_unavailable("sign-in", api.login(&ada.email, PASSWORD).await).await;
    let r = api
        .signup(json!({"email": "dee@example.com", "password": PASSWORD, "name": "Dee"}))
        .await;
    assert_unavailable("a sign-up", r).await;
    let ready = api.readyz().await.expect("/readyz answers");
    assert_eq!(ready.status(), 503, "/readyz while PostgreSQL is down");

    pg.start();

    // rapport finds the database again by itself: no restart of rapport.
    eventually(PATIENCE, "rapport answers again", || async {
        match api.me(&ada.token).await.status().as_u16() {
            200 => Ok(()),
            other => Err(format!("GET /me: {other}")),
        }
    })
    .await;
    // Nothing acknowledged was lost, and writes go on.
    for m in [&ada, &bob, &cy] {
        let me = get(&api, &m.token, "/api/v1/me").await;
        assert_eq!(me["id"], m.id.as_str());
    }
    let v = get(&api, &bob.token, &format!("/api/v1/invitations/{pending}")).await;
    assert_eq!(v["state"], "pending");
    assert_eq!(api.connection_ids(&ada.token).await, vec![cy.id.clone()]);
    expect_json(api.accept(&bob.token, &pending).await, 200).await;
    assert_never_500(&api).await;
    drop(server);
}
