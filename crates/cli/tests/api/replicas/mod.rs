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

mod consistency;
mod kill;
mod lease;
mod tokens;

use crate::backend::fresh_postgres;
use crate::crash::Server;
use crate::helpers::*;
use futures_util::future::join_all;
use rapport_store::postgres::scratch::ScratchDatabase;
use serde_json::Value;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;
use tokio_postgres::types::ToSql;

/// A bound on waits for what should happen within a second or so; never a measurement.
const PATIENCE: Duration = Duration::from_secs(10);
/// How long one replica's graph index may take to follow another's write (it follows in ~200 ms).
const GRAPH_PATIENCE: Duration = Duration::from_secs(5);
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

// ----- the rules, read from the shared tables -------------------------------------------------

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
