//! Rapport over a primary PostgreSQL 15 with a synchronous streaming standby, both named in one
//! multi-host URL with `target_session_attrs=read-write` (as README tells operators): the primary
//! is killed, the standby promoted, and rapport goes on by itself on the new primary.

use super::standby::Replication;
use super::*;
use crate::crash::Server;

/// The database rapport runs on, in the test's own clusters.
const DATABASE: &str = "rapport";

/// The answer to a request while no primary takes writes: `503 unavailable`, never a 500.
async fn assert_unavailable(what: &str, r: reqwest::Response) {
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 503, "{what} with no primary: {body}");
    assert_eq!(body["code"], "unavailable", "{what}: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_to_a_promoted_standby_loses_no_acknowledged_write() {
    let pg = Replication::start().await;
    // Synchronous: a commit is acknowledged once the standby has it, so the standby promoted after
    // the primary dies has every write rapport acknowledged.
    let admin = pg.primary.url("postgres");
    for sql in [
        "ALTER SYSTEM SET synchronous_standby_names = '*'",
        "SELECT pg_reload_conf()",
    ] {
        simple(&admin, sql).await.unwrap_or_else(|e| panic!("{e}"));
    }
    eventually(PATIENCE, "the standby is synchronous", || async {
        let rows = simple(&admin, "SELECT sync_state FROM pg_stat_replication").await?;
        match rows.first().and_then(|r| r[0].as_deref()) {
            Some("sync") => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    simple(&admin, &format!("CREATE DATABASE {DATABASE}"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let url = format!(
        "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/{DATABASE}?target_session_attrs=read-write",
        pg.primary.port, pg.standby.port
    );
    let data = tempfile::tempdir().expect("a temporary directory");
    let mut server = Server::start_with(data.path(), &[("RAPPORT_DATABASE_URL", url.as_str())]);
    server.wait_ready().await;
    let api = server.api.clone();

    // Acknowledged before the failover: members, invitations, a connection.
    let ada = api.signup_member("Ada").await;
    let mut others = Vec::new();
    for i in 0..8 {
        others.push(api.signup_member(&format!("Member {i}")).await);
    }
    let mut acknowledged = Vec::new();
    for m in &others[..4] {
        acknowledged.push(api.invite_ok(&ada, m).await);
    }
    api.connect(&others[6], &others[7]).await;

    let mut pg = pg;
    pg.primary.kill();
    // No primary: the standby refuses writes (target_session_attrs), the old primary is gone.
    assert_unavailable("an invitation", api.invite(&ada, &others[4]).await).await;
    assert_unavailable("GET /me", api.me(&ada.token).await).await;
    let ready = api.readyz().await.expect("/readyz answers");
    assert_eq!(ready.status(), 503, "/readyz with no primary");

    pg.standby.promote();

    // rapport finds the new primary by itself: no restart, no new setting.
    let id = eventually(
        PATIENCE,
        "rapport writes to the promoted standby",
        || async {
            let r = api.invite(&ada, &others[4]).await;
            match r.status().as_u16() {
                201 => {
                    let v: Value = r.json().await.map_err(|e| e.to_string())?;
                    Ok(v["id"].as_str().unwrap_or_default().to_owned())
                }
                other => Err(format!("an invitation: {other}")),
            }
        },
    )
    .await;
    acknowledged.push(id);
    acknowledged.push(api.invite_ok(&ada, &others[5]).await);
    // Every acknowledged write is there.
    for (m, id) in others.iter().zip(&acknowledged) {
        let v = get(&api, &m.token, &format!("/api/v1/invitations/{id}")).await;
        assert_eq!(v["state"], "pending", "{v}");
    }
    assert_eq!(
        api.connection_ids(&others[6].token).await,
        vec![others[7].id.clone()]
    );
    expect_json(api.accept(&others[0].token, &acknowledged[0]).await, 200).await;
    // 503 while there was no primary, and never a 500.
    assert_never_500(&api).await;
    drop(server);
}
