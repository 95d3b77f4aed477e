//! Two real `rapport serve` replicas over one PostgreSQL database, as a deployment runs them: an
//! account and a token made on one count on the other at once; a token revoked on one (logout,
//! password change, suspension, deactivation) is refused by the other within a second, though the
//! other cached it, and a replica that stops hearing the other's revocations drops its token
//! cache; an invitation sent through
//! one reaches a live stream open on the other; the weekly limit and the accept/withdraw race hold
//! across both; each one's graph index follows the other's writes; a replica killed with SIGKILL
//! mid-workload loses no write it acknowledged; and the background work runs on one replica only
//! and moves to the other when its holder dies.
//!
//! Always PostgreSQL, whatever `RAPPORT_TEST_BACKEND` says: a fresh database per test on the server
//! at `RAPPORT_TEST_POSTGRES_URL` (default: 127.0.0.1:5432), dropped at the end. A PostgreSQL that
//! cannot be reached fails the test; it never skips it. Nothing waits on timing beyond bounded waits
//! for conditions that must become true.

use crate::backend::fresh_postgres;
use crate::crash::Server;
use crate::helpers::*;
use crate::sse::Events;
use futures_util::future::join_all;
use rand::{Rng, SeedableRng};
use rapport_store::postgres::scratch::ScratchDatabase;
use reqwest::Method;
use serde_json::{json, Value};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_postgres::types::ToSql;

/// A bound on waits for what should happen within a second or so; never a measurement.
const PATIENCE: Duration = Duration::from_secs(10);
/// How long one replica's graph index may take to follow another's write (it follows in ~200 ms).
const GRAPH_PATIENCE: Duration = Duration::from_secs(5);
/// How long the background work may take to move when its holder dies: the lease runs 10 s unless
/// renewed, and the other replicas try to take it every 3 s.
const LEASE_PATIENCE: Duration = Duration::from_secs(15);
/// The lease the background work runs under (crates/app/src/lib.rs).
const WORK_LEASE: &str = "background-work";

// ----- the shared database --------------------------------------------------------------------

/// A fresh PostgreSQL database for one test (`backend::fresh_postgres`), dropped `WITH (FORCE)`
/// when the test is done.
struct SharedDatabase {
    url: String,
    _scratch: ScratchDatabase,
}

impl SharedDatabase {
    async fn create() -> SharedDatabase {
        let scratch = fresh_postgres().await;
        SharedDatabase {
            url: scratch.url.clone(),
            _scratch: scratch,
        }
    }

    /// Runs one query on the test's database, as the replicas see it.
    async fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Vec<tokio_postgres::Row> {
        let (client, connection) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {} cannot be reached: {e}", self.url));
        let driver = tokio::spawn(connection);
        let rows = client
            .query(sql, params)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        drop(client);
        let _ = driver.await;
        rows
    }

    /// A query whose answer is one `bigint`.
    async fn count(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> i64 {
        self.query(sql, params).await[0].get(0)
    }

    /// Who holds the background-work lease now (an unexpired row), if anyone.
    async fn lease_holder(&self) -> Option<String> {
        self.query(
            "SELECT holder FROM leases WHERE name = $1 AND expires_at > now()",
            &[&WORK_LEASE],
        )
        .await
        .first()
        .map(|r| r.get(0))
    }
}

// ----- the replicas ---------------------------------------------------------------------------

/// One running `rapport serve` over the shared database, with a data directory (and so a mail
/// outbox) of its own; killed when dropped (the crash test's `Server`), so a failing test leaves no
/// process behind.
struct Replica {
    server: Server,
    dir: tempfile::TempDir,
}

impl Replica {
    fn start(api: Api, database_url: &str, settings: &[(&str, &str)]) -> Replica {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut settings = settings.to_vec();
        settings.push(("RAPPORT_DATABASE_URL", database_url));
        Replica {
            server: Server::start_on(dir.path(), &settings, api),
            dir,
        }
    }

    /// Does the lease holder `holder` (`host:pid:random`) name this process?
    fn is(&self, holder: &str) -> bool {
        holder
            .rsplit(':')
            .nth(1)
            .is_some_and(|pid| pid == self.server.pid().to_string())
    }

    /// The mails this replica wrote to its outbox (`<data dir>/outbox/*.eml`), as text.
    fn outbox(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.dir.path().join("outbox")) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .collect()
    }

    /// How many mails this replica wrote to `email`.
    fn mails_to(&self, email: &str) -> usize {
        let to = format!("<{email}>");
        self.outbox()
            .iter()
            .filter(|m| m.contains(&to) || m.contains(&format!("To: {email}")))
            .count()
    }
}

/// Replicas A and B over one fresh database. The replicas are dropped (killed) before the database.
struct Cluster {
    a: Replica,
    b: Replica,
    db: SharedDatabase,
}

impl Cluster {
    async fn start() -> Cluster {
        Self::start_with(&[]).await
    }

    /// Both replicas started together (they migrate the new database once between them), with
    /// the same extra settings, and ready.
    async fn start_with(settings: &[(&str, &str)]) -> Cluster {
        let db = SharedDatabase::create().await;
        // One client and one email counter for both, so members signed up anywhere are unique.
        let api_a = Api::new(format!("http://127.0.0.1:{}", free_port()));
        let mut api_b = api_a.clone();
        api_b.address = format!("http://127.0.0.1:{}", free_port());
        let mut a = Replica::start(api_a, &db.url, settings);
        let mut b = Replica::start(api_b, &db.url, settings);
        a.server.wait_ready().await;
        b.server.wait_ready().await;
        Cluster { a, b, db }
    }

    /// Replica A for even `i`, B for odd: spreads work over both.
    fn either(&self, i: usize) -> &Api {
        if i.is_multiple_of(2) {
            &self.a.server.api
        } else {
            &self.b.server.api
        }
    }

    fn both(&self) -> [(&'static str, &Api); 2] {
        [("A", &self.a.server.api), ("B", &self.b.server.api)]
    }

    /// `n` members signed up concurrently, alternately through A and B.
    async fn members(&self, prefix: &str, n: usize) -> Vec<TestMember> {
        join_all((0..n).map(|i| {
            let name = format!("{prefix} {i}");
            async move { self.either(i).signup_member(&name).await }
        }))
        .await
    }
}

// ----- waiting and reading --------------------------------------------------------------------

/// Polls `check` until it answers `Ok`, for at most `wait`; fails with `what` and the last `Err`.
async fn eventually<T, F, Fut>(wait: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + wait;
    loop {
        match check().await {
            Ok(v) => return v,
            Err(last) if Instant::now() >= deadline => {
                panic!("{what}: not within {wait:?}; last seen: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// A status and JSON body (`Null` when the body is not JSON).
async fn answer(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.expect("a body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// How `token`'s member relates to member `other`, read through `api`.
async fn relationship(api: &Api, token: &str, other: &str) -> Value {
    expect_json(api.member(token, other).await, 200).await["relationship"].clone()
}

/// Waits until `viewer`'s relationship with `other` through `api` is `state` at `degree`.
async fn relationship_becomes(
    api: &Api,
    token: &str,
    other: &str,
    state: &str,
    degree: Value,
    what: &str,
) -> Value {
    eventually(GRAPH_PATIENCE, what, || async {
        let rel = relationship(api, token, other).await;
        if rel["state"] == state && rel["degree"] == degree {
            Ok(rel)
        } else {
            Err(rel.to_string())
        }
    })
    .await
}

// ----- 1. accounts ----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_and_its_tokens_count_on_every_replica_at_once() {
    let c = Cluster::start().await;
    let ada = c.a.server.api.signup_member("Ada Replicas").await;

    // The token A issued works on B; signing in on B works, and its token works on A.
    let me = expect_json(c.b.server.api.me(&ada.token).await, 200).await;
    assert_eq!(me["id"], ada.id.as_str());
    let signed_in = expect_json(c.b.server.api.login(&ada.email, PASSWORD).await, 200).await;
    assert_eq!(signed_in["member"]["id"], ada.id.as_str());
    let token_b = signed_in["token"].as_str().expect("token").to_owned();
    let me = expect_json(c.a.server.api.me(&token_b).await, 200).await;
    assert_eq!(me["id"], ada.id.as_str());

    // A logout on A revokes the token on A at once and on B (which has just used it, and so
    // cached it) within a second; the other token stays good everywhere. And the other way round.
    expect_json(c.b.server.api.me(&ada.token).await, 200).await;
    expect_empty(c.a.server.api.logout(&ada.token).await, 204).await;
    expect_problem(c.a.server.api.me(&ada.token).await, 401, "unauthenticated").await;
    refused_on(
        &c.b.server.api,
        &ada.token,
        "B refuses a token logged out on A",
    )
    .await;
    for (_, api) in c.both() {
        expect_json(api.me(&token_b).await, 200).await;
    }
    expect_empty(c.b.server.api.logout(&token_b).await, 204).await;
    expect_problem(c.b.server.api.me(&token_b).await, 401, "unauthenticated").await;
    refused_on(
        &c.a.server.api,
        &token_b,
        "A refuses a token logged out on B",
    )
    .await;

    // An email is taken on every replica, even when both sign it up at the same moment.
    let r =
        c.b.server
            .api
            .signup(json!({"email": ada.email, "password": PASSWORD, "name": "Ada 2"}));
    expect_problem(r.await, 409, "email_taken").await;
    for round in 0..5 {
        let body = json!({"email": format!("both.{round}@example.com"), "password": PASSWORD, "name": "Both"});
        let (ra, rb) = tokio::join!(
            c.a.server.api.signup(body.clone()),
            c.b.server.api.signup(body.clone())
        );
        let mut statuses = [ra.status().as_u16(), rb.status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(
            statuses,
            [201, 409],
            "round {round}: one signup wins, one is email_taken"
        );
    }
}

// ----- 1b. revocations and the token caches ---------------------------------------------------

/// How long a revocation on one replica may take to reach another's token cache (a `NOTIFY`, well
/// under a second): a bound on a wait, never a measurement.
const REVOCATION_PATIENCE: Duration = Duration::from_secs(2);

/// How many requests `api` authenticated from its token cache (`from="cache"`) or the store.
async fn token_lookups(api: &Api, from: &str) -> u64 {
    let r = api.request(Method::GET, "/metrics", ANONYMOUS, None).await;
    let text = r.text().await.expect("a body");
    let series = format!("rapport_token_lookups_total{{from=\"{from}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .map_or(0, |n| n.trim().parse().expect("a count"))
}

/// Uses `token` on `api` until that replica answers it from its token cache, so that a revocation
/// made elsewhere has something to undo there.
async fn cached_on(api: &Api, token: &str, what: &str) {
    eventually(PATIENCE, what, || async {
        let before = token_lookups(api, "cache").await;
        expect_json(api.me(token).await, 200).await;
        let after = token_lookups(api, "cache").await;
        if after > before {
            Ok(())
        } else {
            Err(format!("{after} answers from the cache"))
        }
    })
    .await
}

/// Polls `api` with `token` (short attempts, for at most [`REVOCATION_PATIENCE`]) until it is
/// refused as unauthenticated.
async fn refused_on(api: &Api, token: &str, what: &str) {
    eventually(REVOCATION_PATIENCE, what, || async {
        let r = api.me(token).await;
        match r.status().as_u16() {
            401 => Ok(()),
            other => Err(format!("answered {other}")),
        }
    })
    .await;
    expect_problem(api.me(token).await, 401, "unauthenticated").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_cached_on_one_replica_is_refused_there_within_a_second_of_its_revocation_on_the_other(
) {
    let c = Cluster::start().await;
    let (a, b) = (&c.a.server.api, &c.b.server.api);

    // A logout.
    let ada = a.signup_member("Ada Logout").await;
    cached_on(b, &ada.token, "Ada's token cached on B").await;
    expect_empty(a.logout(&ada.token).await, 204).await;
    refused_on(
        b,
        &ada.token,
        "B refuses Ada's token once she logged out on A",
    )
    .await;

    // A password change ends every other token of the member; the new one works everywhere.
    let bob = a.signup_member("Bob Password").await;
    let signed_in = expect_json(b.login(&bob.email, PASSWORD).await, 200).await;
    let bob_on_b = signed_in["token"].as_str().expect("a token").to_owned();
    cached_on(b, &bob.token, "Bob's first token cached on B").await;
    cached_on(b, &bob_on_b, "Bob's second token cached on B").await;
    let changed = a
        .request(
            Method::POST,
            "/api/v1/me/password",
            &bob.token,
            Some(json!({"current_password": PASSWORD, "new_password": "a new long password"})),
        )
        .await;
    let new_token = expect_json(changed, 200).await["token"]
        .as_str()
        .expect("a token")
        .to_owned();
    refused_on(
        b,
        &bob.token,
        "B refuses Bob's first token after his password change on A",
    )
    .await;
    refused_on(
        b,
        &bob_on_b,
        "B refuses Bob's own token after his password change on A",
    )
    .await;
    expect_json(b.me(&new_token).await, 200).await;

    // A suspension by an administrator.
    let admin = a.signup_member("Admin Suspender").await;
    let admin_id: i64 = admin.id.parse().expect("a numeric id");
    c.db.query(
        "UPDATE members SET role = 'admin' WHERE id = $1",
        &[&admin_id],
    )
    .await;
    let cy = a.signup_member("Cy Suspended").await;
    cached_on(b, &cy.token, "Cy's token cached on B").await;
    let suspended = a
        .request(
            Method::PATCH,
            &format!("/api/v1/admin/members/{}", cy.id),
            &admin.token,
            Some(json!({"suspended": true})),
        )
        .await;
    assert_eq!(expect_json(suspended, 200).await["status"], "suspended");
    refused_on(
        b,
        &cy.token,
        "B refuses Cy's token once Cy is suspended on A",
    )
    .await;

    // A deactivation, by the member on B, reaches A's cache the other way.
    let dee = b.signup_member("Dee Deactivated").await;
    cached_on(a, &dee.token, "Dee's token cached on A").await;
    let r = b
        .request(Method::POST, "/api/v1/me/deactivate", &dee.token, None)
        .await;
    expect_empty(r, 204).await;
    refused_on(
        a,
        &dee.token,
        "A refuses Dee's token once she deactivated on B",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_loses_its_listening_connection_empties_its_token_cache() {
    let c = Cluster::start().await;
    let b = &c.b.server.api;
    let ada = c.a.server.api.signup_member("Ada Unheard").await;
    cached_on(b, &ada.token, "Ada's token cached on B").await;

    // The database ends both replicas' listening connections: until a replica listens again it
    // may miss revocations, so it must drop what it cached. The next use of the token on B is
    // looked up in the store, however soon B listens again.
    let ended =
        c.db.count(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
              WHERE datname = current_database() AND query LIKE 'LISTEN%'",
            &[],
        )
        .await;
    // B's is among them: it caches only while it listens.
    assert!(ended >= 1, "the replicas listen");
    eventually(
        PATIENCE,
        "B looks Ada's token up in the store again",
        || async {
            let before = token_lookups(b, "store").await;
            expect_json(b.me(&ada.token).await, 200).await;
            let after = token_lookups(b, "store").await;
            if after > before {
                Ok(())
            } else {
                Err("answered from the cache".to_owned())
            }
        },
    )
    .await;

    // Listening again, B caches again, and hears revocations again.
    cached_on(
        b,
        &ada.token,
        "Ada's token cached on B once it listens again",
    )
    .await;
    expect_empty(c.a.server.api.logout(&ada.token).await, 204).await;
    refused_on(
        b,
        &ada.token,
        "B refuses Ada's token once she logged out on A",
    )
    .await;
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

// ----- 6. a replica killed mid-workload -------------------------------------------------------

/// A write a replica answered with a 2xx, and how to find it again as the member who made it.
#[derive(Debug, Clone)]
enum Ack {
    /// `201 Invitation`: the sender can read it.
    Invitation { id: String, sender_token: String },
    /// `200 Connection` (a mutual invitation or an accept): connected to `other`.
    Connection { other: String, token: String },
    /// `204` withdraw: the sender reads it as withdrawn.
    Withdrawn { id: String, sender_token: String },
    /// `201` signup: the token works and names this member.
    Member { id: String, token: String },
}

#[derive(Clone, Copy, Debug)]
enum Role {
    Send,
    Accept,
    Withdraw,
    SignUp,
}

/// One writer through one replica, until stopped or its replica is gone.
struct Writer {
    api: Api,
    replica: &'static str,
    members: Arc<Vec<TestMember>>,
    pairs: Arc<Vec<(usize, usize)>>,
    walk: Arc<AtomicUsize>,
    signups: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    acks: mpsc::UnboundedSender<(&'static str, Ack)>,
}

/// A request's status and JSON body, or `None` once the replica is gone (killed mid-request).
async fn call(req: reqwest::RequestBuilder) -> Option<(u16, Value)> {
    let resp = req.send().await.ok()?;
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.ok()?;
    Some((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

impl Writer {
    fn post(&self, path: &str, token: &str) -> reqwest::RequestBuilder {
        let url = format!("{}{path}", self.api.address);
        self.api.client.post(url).bearer_auth(token)
    }

    fn get(&self, path: &str, token: &str) -> reqwest::RequestBuilder {
        let url = format!("{}{path}", self.api.address);
        self.api.client.get(url).bearer_auth(token)
    }

    /// Writes until stopped (`Ok`) or until its replica stops answering (`Err`, with why).
    async fn run(self, role: Role, seed: u64) -> Result<(), String> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        while !self.stop.load(Ordering::SeqCst) {
            let ack = match role {
                Role::Send => self.send().await,
                Role::Accept => self.accept(&mut rng).await,
                Role::Withdraw => self.withdraw(&mut rng).await,
                Role::SignUp => self.sign_up(seed).await,
            };
            match ack {
                Err(why) => return Err(why),
                Ok(None) => {}
                Ok(Some(ack)) => {
                    let _ = self.acks.send((self.replica, ack));
                }
            }
        }
        Ok(())
    }

    fn gone(&self, what: &str) -> String {
        format!("replica {} stopped answering ({what})", self.replica)
    }

    fn unexpected(&self, what: &str, status: u16, body: &Value) -> ! {
        panic!("replica {}: {what} answered {status}: {body}", self.replica)
    }

    async fn send(&self) -> Result<Option<Ack>, String> {
        let (s, r) = self.pairs[self.walk.fetch_add(1, Ordering::SeqCst) % self.pairs.len()];
        let (sender, recipient) = (&self.members[s], &self.members[r]);
        let body = json!({"recipient_id": recipient.id});
        let req = self.post("/api/v1/invitations", &sender.token).json(&body);
        let (status, v) = call(req).await.ok_or_else(|| self.gone("send"))?;
        Ok(match status {
            201 => Some(Ack::Invitation {
                id: v["id"].as_str().expect("id").to_owned(),
                sender_token: sender.token.clone(),
            }),
            200 => Some(Ack::Connection {
                other: recipient.id.clone(),
                token: sender.token.clone(),
            }),
            // Already connected or pending, cooling down after a withdrawal, over a limit.
            409 | 429 => None,
            other => self.unexpected("a send", other, &v),
        })
    }

    /// Accepts the newest invitation a member received.
    async fn accept(&self, rng: &mut impl Rng) -> Result<Option<Ack>, String> {
        let me = &self.members[rng.gen_range(0..self.members.len())];
        let req = self.get("/api/v1/invitations/received?limit=5", &me.token);
        let (status, page) = call(req).await.ok_or_else(|| self.gone("received"))?;
        if status != 200 {
            self.unexpected("received", status, &page);
        }
        let Some(inv) = page["items"].as_array().and_then(|items| items.first()) else {
            return Ok(None);
        };
        let id = inv["id"].as_str().expect("id");
        let req = self.post(&format!("/api/v1/invitations/{id}/accept"), &me.token);
        let (status, v) = call(req).await.ok_or_else(|| self.gone("accept"))?;
        Ok(match status {
            200 => Some(Ack::Connection {
                other: inv["sender"]["id"].as_str().expect("sender.id").to_owned(),
                token: me.token.clone(),
            }),
            // Withdrawn or accepted through the other replica in the meantime.
            404 | 409 => None,
            other => self.unexpected("an accept", other, &v),
        })
    }

    /// Withdraws the oldest invitation a member has pending.
    async fn withdraw(&self, rng: &mut impl Rng) -> Result<Option<Ack>, String> {
        let me = &self.members[rng.gen_range(0..self.members.len())];
        let req = self.get("/api/v1/invitations/sent?limit=100", &me.token);
        let (status, page) = call(req).await.ok_or_else(|| self.gone("sent"))?;
        if status != 200 {
            self.unexpected("sent", status, &page);
        }
        let Some(inv) = page["items"].as_array().and_then(|items| items.last()) else {
            return Ok(None);
        };
        let id = inv["id"].as_str().expect("id").to_owned();
        let req = self.post(&format!("/api/v1/invitations/{id}/withdraw"), &me.token);
        let (status, v) = call(req).await.ok_or_else(|| self.gone("withdraw"))?;
        Ok(match status {
            204 => Some(Ack::Withdrawn {
                id,
                sender_token: me.token.clone(),
            }),
            // Accepted or withdrawn through the other replica in the meantime.
            409 => None,
            other => self.unexpected("a withdraw", other, &v),
        })
    }

    async fn sign_up(&self, writer: u64) -> Result<Option<Ack>, String> {
        let n = self.signups.fetch_add(1, Ordering::SeqCst);
        let body = json!({
            "email": format!("late.{writer}.{n}@example.com"),
            "password": PASSWORD,
            "name": format!("Late {n}"),
        });
        let req = self
            .api
            .client
            .post(format!("{}/api/v1/auth/signup", self.api.address))
            .json(&body);
        let (status, v) = call(req).await.ok_or_else(|| self.gone("signup"))?;
        if status != 201 {
            self.unexpected("a signup", status, &v);
        }
        Ok(Some(Ack::Member {
            id: v["member"]["id"].as_str().expect("member.id").to_owned(),
            token: v["token"].as_str().expect("token").to_owned(),
        }))
    }
}

/// The rules, read straight from the shared tables: each query counts the rows that break one
/// rule, and every count must be 0.
const INVARIANTS: &[(&str, &str)] = &[
    (
        "a connection without an accepted invitation between the two",
        "SELECT count(*) FROM connections c WHERE NOT EXISTS (SELECT 1 FROM invitations i
           WHERE i.state = 'accepted' AND ((i.sender_id = c.member_id AND i.recipient_id = c.other_id)
              OR (i.sender_id = c.other_id AND i.recipient_id = c.member_id)))",
    ),
    (
        "a connection stored in one direction only",
        "SELECT count(*) FROM connections c WHERE NOT EXISTS
           (SELECT 1 FROM connections d WHERE d.member_id = c.other_id AND d.other_id = c.member_id)",
    ),
    (
        "two pending invitations between one pair",
        "SELECT count(*) FROM (SELECT 1 FROM invitations WHERE state = 'pending'
           GROUP BY LEAST(sender_id, recipient_id), GREATEST(sender_id, recipient_id)
           HAVING count(*) > 1) p",
    ),
    (
        "a pending invitation between connected members",
        "SELECT count(*) FROM invitations i JOIN connections c
           ON c.member_id = i.sender_id AND c.other_id = i.recipient_id WHERE i.state = 'pending'",
    ),
    (
        "an accepted invitation whose members are not connected",
        "SELECT count(*) FROM invitations i WHERE i.state = 'accepted' AND NOT EXISTS
           (SELECT 1 FROM connections c WHERE c.member_id = i.sender_id AND c.other_id = i.recipient_id)",
    ),
    (
        "a notification or mail left for a withdrawn invitation",
        "SELECT (SELECT count(*) FROM notifications n JOIN invitations i ON i.id = n.invitation_id
                  WHERE i.state = 'withdrawn')
              + (SELECT count(*) FROM mail_queue q JOIN invitations i ON i.id = q.invitation_id
                  WHERE i.state = 'withdrawn')",
    ),
    (
        "an invitation decided without a time, or pending with one",
        "SELECT count(*) FROM invitations WHERE (state = 'pending') <> (decided_at IS NULL)",
    ),
    (
        "a member whose pending_sent disagrees with their pending invitations",
        "SELECT count(*) FROM members m WHERE m.status = 'active' AND m.pending_sent <>
           (SELECT count(*) FROM invitations i WHERE i.sender_id = m.id AND i.state = 'pending')",
    ),
    (
        "a member whose connection_count disagrees with their connections",
        "SELECT count(*) FROM members m WHERE m.connection_count <>
           (SELECT count(*) FROM connections c WHERE c.member_id = m.id)",
    ),
];

async fn check_invariants(db: &SharedDatabase, when: &str) {
    for (rule, sql) in INVARIANTS {
        let broken = db.count(sql, &[]).await;
        assert_eq!(broken, 0, "{when}: {broken} rows break the rule: no {rule}");
    }
}

/// Checks every acknowledged write through `api`.
async fn verify(api: &Api, acked: &[(&'static str, Ack)]) {
    for (by, ack) in acked {
        match ack {
            Ack::Invitation { id, sender_token } => {
                let r = api.invitation(sender_token, id).await;
                assert_eq!(r.status(), 200, "invitation {id} acknowledged by {by} lost");
            }
            Ack::Withdrawn { id, sender_token } => {
                let v = expect_json(api.invitation(sender_token, id).await, 200).await;
                assert_eq!(
                    v["state"], "withdrawn",
                    "withdrawal of {id} acknowledged by {by} lost"
                );
            }
            Ack::Connection { other, token } => {
                assert!(
                    api.connection_ids(token).await.contains(other),
                    "connection with {other} acknowledged by {by} lost"
                );
                let what = format!("connection with {other} acknowledged by {by}, in the index");
                relationship_becomes(api, token, other, "connected", json!(1), &what).await;
            }
            Ack::Member { id, token } => {
                let v = expect_json(api.me(token).await, 200).await;
                assert_eq!(v["id"], id.as_str(), "member signed up through {by} lost");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_a_replica_killed_mid_workload() {
    let mut c = Cluster::start().await;
    let members = Arc::new(c.members("Busy", 16).await);
    let pairs: Arc<Vec<(usize, usize)>> = Arc::new(
        (0..members.len())
            .flat_map(|s| (0..members.len()).map(move |r| (s, r)))
            .filter(|(s, r)| s != r)
            .collect(),
    );
    let walk = Arc::new(AtomicUsize::new(0));
    let signups = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let roles = [
        Role::Send,
        Role::Send,
        Role::Accept,
        Role::Withdraw,
        Role::SignUp,
    ];
    let mut writers = Vec::new();
    for (replica, api) in c.both() {
        for (w, role) in roles.iter().enumerate() {
            let writer = Writer {
                api: api.clone(),
                replica,
                members: members.clone(),
                pairs: pairs.clone(),
                walk: walk.clone(),
                signups: signups.clone(),
                stop: stop.clone(),
                acks: tx.clone(),
            };
            let seed = (writers.len() * 1000 + w) as u64;
            writers.push((replica, *role, tokio::spawn(writer.run(*role, seed))));
        }
    }
    drop(tx);

    // Kill A once 40 writes have been acknowledged, 10 of them by A, every writer still going.
    let mut acked: Vec<(&'static str, Ack)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.len() < 40 || acked.iter().filter(|(r, _)| *r == "A").count() < 10 {
        let ack = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("the writers acknowledge 40 writes")
            .expect("the writers are running");
        acked.push(ack);
    }
    c.a.server.kill();

    // B goes on taking writes without A.
    let mut after = 0;
    let deadline = Instant::now() + PATIENCE * 3;
    while after < 10 {
        let ack = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("B acknowledges writes after A died")
            .expect("B's writers are running");
        if ack.0 == "B" {
            after += 1;
        }
        acked.push(ack);
    }
    stop.store(true, Ordering::SeqCst);
    for (replica, role, w) in writers {
        let ended = w.await.expect("a writer panicked");
        if replica == "B" {
            ended.unwrap_or_else(|why| panic!("B's {role:?} writer: {why}"));
        }
    }
    while let Ok(ack) = rx.try_recv() {
        acked.push(ack);
    }

    verify(&c.b.server.api, &acked).await;
    check_invariants(&c.db, "after A was killed").await;
    // Each quota, as the survivor reports it, agrees with the invitations stored.
    for m in members.iter() {
        let id: i64 = m.id.parse().expect("a numeric id");
        let sent =
            c.db.count(
                "SELECT count(*) FROM invitations WHERE sender_id = $1",
                &[&id],
            )
            .await;
        let me = expect_json(c.b.server.api.me(&m.token).await, 200).await;
        assert_eq!(me["quota"]["used"], sent, "{}: {}", m.name, me["quota"]);
    }
    let by_a = acked.iter().filter(|(r, _)| *r == "A").count();
    println!(
        "replicas: acknowledged writes checked on the survivor={} (through A {by_a}, through B {}) lost=0",
        acked.len(),
        acked.len() - by_a
    );
    assert!(by_a > 0, "A acknowledged nothing before it was killed");
}

// ----- 7. background work ---------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_work_runs_on_one_replica_and_moves_when_it_dies() {
    let mut c = Cluster::start().await;

    // One replica takes the lease.
    let holder = eventually(LEASE_PATIENCE, "a replica takes the lease", || async {
        c.db.lease_holder()
            .await
            .ok_or_else(|| "no holder".to_owned())
    })
    .await;
    let a_holds = c.a.is(&holder);
    assert!(
        a_holds || c.b.is(&holder),
        "the holder {holder} is neither A (pid {}) nor B (pid {})",
        c.a.server.pid(),
        c.b.server.pid()
    );

    // Mail, which only the holder sends: an invitation sent through the other replica is mailed by
    // the holder, once, and the other writes nothing.
    let ada = c.a.server.api.signup_member("Ada Lease").await;
    let bob = c.b.server.api.signup_member("Bob Lease").await;
    let (holding, other) = if a_holds { (&c.a, &c.b) } else { (&c.b, &c.a) };
    let to_bob = other.server.api.invite_ok(&ada, &bob).await;
    let to_bob_id: i64 = to_bob.parse().expect("a numeric id");
    eventually(PATIENCE, "the holder mails Bob", || async {
        let queued =
            c.db.count(
                "SELECT count(*) FROM mail_queue WHERE invitation_id = $1",
                &[&to_bob_id],
            )
            .await;
        match holding.mails_to(&bob.email) {
            1 if queued == 0 => Ok(()),
            n => Err(format!("{n} mails in the holder's outbox, {queued} queued")),
        }
    })
    .await;
    assert_eq!(
        other.mails_to(&bob.email),
        0,
        "the replica without the lease mailed too"
    );

    // The holder dies; the other takes the lease over and the work with it.
    let (survivor, holder_name) = if a_holds {
        c.a.server.kill();
        (&c.b, "A")
    } else {
        c.b.server.kill();
        (&c.a, "B")
    };
    let taken = eventually(
        LEASE_PATIENCE,
        "the survivor takes the lease over",
        || async {
            match c.db.lease_holder().await {
                Some(h) if survivor.is(&h) => Ok(h),
                h => Err(format!("holder {h:?}")),
            }
        },
    )
    .await;
    assert_ne!(
        taken, holder,
        "killed {holder_name}: the lease is a new holder's"
    );

    let cy = survivor.server.api.signup_member("Cy Lease").await;
    survivor.server.api.invite_ok(&ada, &cy).await;
    eventually(PATIENCE, "the survivor mails Cy", || async {
        match survivor.mails_to(&cy.email) {
            1 => Ok(()),
            n => Err(format!("{n} mails to Cy")),
        }
    })
    .await;
    // Bob's mail, sent before the kill, is not sent again.
    assert_eq!(survivor.mails_to(&bob.email), 0, "Bob was mailed twice");
}
