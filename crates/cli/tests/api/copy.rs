//! `rapport copy`: a network built through the API on the embedded store, copied by the real binary
//! into a fresh PostgreSQL database, reads the same through the API there: members sign in with
//! their old passwords and tokens and see the same connections, invitations, notifications and
//! blocks, and new writes take new ids. A target that already holds a network is refused and left
//! as it was. These tests always copy from SQLite to PostgreSQL, whatever RAPPORT_TEST_BACKEND says.
//!
//! A little over 600 lines: one scenario per kind of data the copy must carry, each read back
//! through the API on the target; they share the fixtures at the top.

use crate::backend;
use crate::helpers::*;
use rapport_app::{App, Config, Database};
use rapport_domain::{ManualClock, Timestamp};
use reqwest::Method;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A server over the store given, like `TestApp`'s but with the backend chosen by the test.
struct Server {
    api: Api,
    app: App,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<()>>,
}

impl std::ops::Deref for Server {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Server {
    async fn start(database: Database, dir: &Path, clock: Arc<ManualClock>) -> Server {
        let mut config = Config::defaults();
        // The tests' webhook receivers listen on 127.0.0.1.
        config.webhook_allow_private = true;
        // Every test member signs up from 127.0.0.1; the per-address limit has tests of its own.
        config.signups_per_address = u32::MAX;
        config.data_dir = dir.to_owned();
        config.database = database;
        let app = App::open(config, clock).await.expect("the app opens");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds 127.0.0.1:0");
        let address = format!("http://{}", listener.local_addr().expect("local address"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn({
            let app = app.clone();
            async move {
                let _ = rapport_http::serve(listener, app, async {
                    let _ = rx.await;
                })
                .await;
            }
        });
        Server {
            api: Api::new(address),
            app,
            shutdown: Some(tx),
            served: Some(served),
        }
    }

    /// Stops serving and waits until the server let go of the app.
    async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(served) = self.served.take() {
            let _ = served.await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A fresh PostgreSQL database, dropped with the value.
struct FreshDatabase {
    name: String,
    url: String,
}

impl FreshDatabase {
    async fn create() -> FreshDatabase {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "rapport_copy_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        backend::admin(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
        backend::admin(&format!("CREATE DATABASE {name}")).await;
        let url = backend::with_database(&backend::postgres_url(), &name);
        FreshDatabase { name, url }
    }

    /// A connection of the test's own, to look at the tables.
    async fn client(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
            .await
            .expect("connects to the copy");
        tokio::spawn(connection);
        client
    }

    /// Every table's row count, by name.
    async fn counts(&self) -> Vec<(String, i64)> {
        let client = self.client().await;
        let mut out = Vec::new();
        for table in TABLES {
            let n: i64 = client
                .query_one(&format!("SELECT count(*) FROM {table}"), &[])
                .await
                .expect("counts")
                .get(0);
            out.push((table.to_string(), n));
        }
        let seq: i64 = client
            .query_one("SELECT last_seq FROM event_sequence", &[])
            .await
            .expect("the event counter")
            .get(0);
        out.push(("event_sequence.last_seq".into(), seq));
        out
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // On a thread of its own: Drop cannot wait, and the test's runtime may be ending.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(backend::admin(&format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )));
            }
        })
        .join();
    }
}

/// The tables `rapport copy` fills.
const TABLES: &[&str] = &[
    "members",
    "tokens",
    "invitations",
    "connections",
    "idempotency_keys",
    "pair_rules",
    "blocks",
    "restrictions",
    "wrong_emails",
    "pending_signups",
    "reports",
    "notifications",
    "mail_queue",
    "events",
    "consumers",
    "webhooks",
    "webhook_deliveries",
];

/// Runs the real `rapport copy`; returns whether it succeeded, its stdout and its stderr.
async fn run_copy(from: &str, to: &str) -> (bool, String, String) {
    let (from, to) = (from.to_owned(), to.to_owned());
    let out = tokio::task::spawn_blocking(move || {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_rapport"));
        for (name, _) in std::env::vars() {
            if name.starts_with("RAPPORT_") {
                cmd.env_remove(name);
            }
        }
        cmd.args(["copy", "--from", &from, "--to", &to])
            .env("RAPPORT_LOG", "warn")
            .env("RAPPORT_CONFIG", "/nonexistent/no-such-rapport.toml")
            .output()
            .expect("rapport copy runs")
    })
    .await
    .expect("the copy's thread");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// What a member sees of the network: each answer, by path.
async fn view(api: &Api, who: &TestMember) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for path in [
        "/api/v1/me".to_owned(),
        "/api/v1/connections?limit=100".to_owned(),
        "/api/v1/invitations/received?limit=100".to_owned(),
        "/api/v1/invitations/sent?limit=100".to_owned(),
        "/api/v1/notifications".to_owned(),
        "/api/v1/blocks".to_owned(),
        format!("/api/v1/members/{}", who.id),
    ] {
        let r = api.request(Method::GET, &path, &who.token, None).await;
        out.push((path, expect_json(r, 200).await));
    }
    out
}

/// The members of a small network with a little of everything: connections, invitations pending,
/// accepted, ignored as spam (a report, a bar) and withdrawn (a cooldown), a block, a
/// restriction, notifications read and unread, an idempotent request and a webhook.
struct Network {
    admin: TestMember,
    members: Vec<TestMember>,
    /// The invitation sent with an Idempotency-Key, and its answer.
    keyed: (String, Value),
}

async fn build_network(s: &Server, db: &Path) -> Network {
    let admin = s.signup_member("Ada Admin").await;
    let update = rapport_app::AdminUpdate {
        role: Some("admin".into()),
        ..Default::default()
    };
    s.app
        .admin_update_by_email(&admin.email, update)
        .await
        .expect("made an administrator");
    let ada = s.signup_member("Ada Lovelace").await;
    let bob = s.signup_member("Bob Brown").await;
    let cy = s.signup_member("Cy Young").await;
    let dan = s.signup_member("Dan Dare").await;
    let eve = s.signup_member("Eve Evans").await;
    let fay = s.signup_member("Fay Fenn").await;
    let r = s
        .update_me(
            &ada.token,
            json!({"headline": "Analytical engines", "company": "Babbage & Co"}),
        )
        .await;
    expect_json(r, 200).await;

    s.connect(&ada, &bob).await;
    s.connect(&cy, &ada).await;
    s.connect(&bob, &cy).await;
    s.invite_ok(&ada, &dan).await;
    s.invite_ok(&cy, &fay).await;
    let spam = s.invite_ok(&eve, &ada).await;
    expect_empty(
        s.ignore(&ada.token, &spam, Some(json!({"reason": "spam"})))
            .await,
        204,
    )
    .await;
    let withdrawn = s.invite_ok(&fay, &bob).await;
    expect_empty(s.withdraw(&fay.token, &withdrawn).await, 204).await;
    let r = s
        .request(
            Method::PUT,
            &format!("/api/v1/blocks/{}", eve.id),
            &bob.token,
            None,
        )
        .await;
    assert!(r.status().is_success(), "block: {}", r.status());
    let until = Timestamp(START.0 + 30 * 86_400_000).to_rfc3339();
    let r = s
        .request(
            Method::PUT,
            &format!("/api/v1/admin/members/{}/restriction", eve.id),
            &admin.token,
            Some(json!({"until": until, "reason": "spam"})),
        )
        .await;
    assert_eq!(r.status(), 204);
    let r = s
        .request(
            Method::POST,
            "/api/v1/admin/webhooks",
            &admin.token,
            Some(json!({"url": "http://127.0.0.1:9/hook", "events": ["invitation.sent"]})),
        )
        .await;
    assert!(r.status().is_success(), "webhook: {}", r.status());
    // Dan guesses Fay's address wrong, where it is needed: counted against him.
    let r = s
        .update_settings(&fay.token, json!({"invitations_from": "email_required"}))
        .await;
    assert!(r.status().is_success(), "settings: {}", r.status());
    let r = s
        .request(
            Method::POST,
            "/api/v1/invitations",
            &dan.token,
            Some(json!({"recipient_id": fay.id, "recipient_email": "fay@elsewhere.example"})),
        )
        .await;
    assert_eq!(r.status(), 403);
    let r = s
        .update_settings(&fay.token, json!({"invitations_from": "everyone"}))
        .await;
    assert!(r.status().is_success(), "settings: {}", r.status());
    let fay_to_ada = s.invite_ok(&fay, &ada).await;
    // The workers run a while: the webhook's consumer moves on and queues deliveries (which fail:
    // nothing listens), the mailer sends what was due.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let workers = tokio::spawn(s.app.clone().run_workers(stopped));
    let done = || -> bool {
        let c =
            rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .expect("the store opens");
        let count = |t: &str| -> i64 {
            c.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
                .expect("counts")
        };
        count("webhook_deliveries") > 0 && count("consumers") > 0
    };
    for _ in 0..500 {
        if done() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(done(), "the workers never delivered");
    let _ = stop.send(true);
    workers.await.expect("the workers stop");
    // After them: mail waiting, events no consumer has seen.
    let r = s
        .update_settings(
            &cy.token,
            json!({"notifications": {"invitation_received": {"email": "daily"}}}),
        )
        .await;
    assert!(r.status().is_success(), "settings: {}", r.status());
    s.invite_ok(&dan, &cy).await;
    expect_json(s.accept(&ada.token, &fay_to_ada).await, 200).await;
    // Bob reads his notifications; the others leave theirs unread.
    let r = s
        .request(Method::POST, "/api/v1/notifications/read", &bob.token, None)
        .await;
    assert!(r.status().is_success(), "read: {}", r.status());
    let keyed = json!({"recipient_id": fay.id, "note": "Met at the conference"});
    let r = s
        .send_invitation_with_key(&dan.token, "copy-test-key", keyed)
        .await;
    let answer = expect_json(r, 201).await;
    Network {
        admin,
        members: vec![ada, bob, cy, dan, eve, fay],
        keyed: ("copy-test-key".into(), answer),
    }
}

#[tokio::test]
async fn a_network_copied_to_postgres_reads_the_same_there() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("rapport.db");
    let clock = Arc::new(ManualClock::new(START));

    // The network, on the embedded store; then the server stops.
    let s = Server::start(Database::Sqlite(db.clone()), dir.path(), clock.clone()).await;
    let net = build_network(&s, &db).await;
    clock.advance(std::time::Duration::from_secs(3600));
    let mut everyone = net.members.clone();
    everyone.push(net.admin.clone());
    let mut before = Vec::new();
    for m in &everyone {
        before.push(view(&s, m).await);
    }
    let search_before = expect_json(
        s.request(
            Method::GET,
            "/api/v1/members?q=babbage",
            &net.members[1].token,
            None,
        )
        .await,
        200,
    )
    .await;
    s.stop().await;

    let sqlite = rusqlite::Connection::open(&db).expect("the store opens");
    // A sign-up waiting for its address (this server signs up at once, so it is written here).
    sqlite
        .execute(
            "INSERT INTO pending_signups VALUES (?1, 'gil@example.com', 'hash', 'Gil', '', '', '', ?2)",
            rusqlite::params![[7u8; 32].to_vec(), START.0],
        )
        .expect("a pending sign-up");
    let sqlite_count = |table: &str| -> i64 {
        sqlite
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .expect("counts")
    };
    for table in TABLES {
        assert!(sqlite_count(table) > 0, "the network has no {table}");
    }
    let max_seq: i64 = sqlite
        .query_row("SELECT max(seq) FROM events", [], |r| r.get(0))
        .expect("events");

    // The copy, by the real binary.
    let target = FreshDatabase::create().await;
    let (ok, stdout, stderr) = run_copy(&sqlite_url(&db), &target.url).await;
    assert!(ok, "rapport copy failed: {stderr}\n{stdout}");
    assert!(!stdout.contains("DIFFERS"), "{stdout}");
    for (table, n) in target.counts().await {
        if table == "event_sequence.last_seq" {
            assert_eq!(n, max_seq, "the event counter continues after SQLite's");
        } else {
            assert_eq!(n, sqlite_count(&table), "{table}");
            assert!(
                stdout
                    .lines()
                    .any(|l| l.starts_with(&format!("{table} ")) && l.ends_with("ok")),
                "{table} is not in the count check: {stdout}"
            );
        }
    }
    let pg = target.client().await;
    let row = pg
        .query_one(
            "SELECT count(*) FILTER (WHERE id <> seq OR seq IS NULL), max(seq) FROM events",
            &[],
        )
        .await
        .expect("events");
    assert_eq!(row.get::<_, i64>(0), 0, "every event keeps its number");
    assert_eq!(row.get::<_, Option<i64>>(1), Some(max_seq));
    let barred: i64 = pg
        .query_one("SELECT count(*) FROM pair_rules WHERE barred", &[])
        .await
        .expect("pair rules")
        .get(0);
    let sqlite_barred: i64 = sqlite
        .query_row(
            "SELECT count(*) FROM pair_rules WHERE barred = 1",
            [],
            |r| r.get(0),
        )
        .expect("pair rules");
    assert_eq!(barred, sqlite_barred);
    assert!(barred > 0, "the spam ignore bars its sender");

    // A server on the copy: the same answers, to the same tokens.
    let pg_dir = tempfile::tempdir().expect("a temporary directory");
    let p = Server::start(
        Database::Postgres(target.url.clone()),
        pg_dir.path(),
        clock.clone(),
    )
    .await;
    for (m, seen) in everyone.iter().zip(&before) {
        let now = view(&p, m).await;
        for ((path, was), (_, is)) in seen.iter().zip(&now) {
            assert_eq!(was, is, "{} {path} differs on PostgreSQL", m.name);
        }
        let r = p.login(&m.email, PASSWORD).await;
        expect_json(r, 200).await;
    }
    let search_after = expect_json(
        p.request(
            Method::GET,
            "/api/v1/members?q=babbage",
            &net.members[1].token,
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(search_before, search_after, "search finds the same members");
    assert_eq!(search_after["items"][0]["id"], net.members[0].id.as_str());
    // The idempotent request replays its answer.
    let dan = &net.members[3];
    let fay = &net.members[5];
    let (key, answer) = &net.keyed;
    let r = p
        .send_invitation_with_key(
            &dan.token,
            key,
            json!({"recipient_id": fay.id, "note": "Met at the conference"}),
        )
        .await;
    assert_eq!(&expect_json(r, 201).await, answer);

    // New writes take new ids: the sequences moved past the copied ones.
    let old_ids: Vec<&str> = everyone.iter().map(|m| m.id.as_str()).collect();
    let gus = p.signup_member("Gus Grant").await;
    assert!(!old_ids.contains(&gus.id.as_str()), "{} reused", gus.id);
    let ada = &net.members[0];
    let id = p.invite_ok(&gus, ada).await;
    assert!(p.received_ids(&ada.token).await.contains(&id));
    p.stop().await;
}

#[tokio::test]
async fn a_target_that_holds_a_network_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("rapport.db");
    let clock = Arc::new(ManualClock::new(START));
    let s = Server::start(Database::Sqlite(db.clone()), dir.path(), clock).await;
    let ada = s.signup_member("Ada").await;
    let bob = s.signup_member("Bob").await;
    s.connect(&ada, &bob).await;
    s.stop().await;

    let target = FreshDatabase::create().await;
    let (ok, stdout, stderr) = run_copy(&sqlite_url(&db), &target.url).await;
    assert!(ok, "the first copy: {stderr}\n{stdout}");
    let counts = target.counts().await;
    assert!(counts.iter().any(|(t, n)| t == "members" && *n == 2));

    let (ok, stdout, stderr) = run_copy(&sqlite_url(&db), &target.url).await;
    assert!(
        !ok,
        "a second copy into the same database must fail: {stdout}"
    );
    assert!(
        stderr.contains("already holds data") && stderr.contains("members"),
        "{stderr}"
    );
    assert_eq!(target.counts().await, counts, "nothing was written");
}

#[tokio::test]
async fn copy_says_what_is_wrong() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let missing = dir.path().join("missing.db");
    let cases = [
        (
            "mysql://x".to_owned(),
            backend::postgres_url(),
            "sqlite://PATH",
        ),
        (
            sqlite_url(&missing),
            backend::postgres_url(),
            "no SQLite store",
        ),
    ];
    for (from, to, says) in cases {
        let (ok, _, stderr) = run_copy(&from, &to).await;
        assert!(!ok, "{from} → {to}");
        assert!(stderr.contains(says), "{from} → {to}: {stderr}");
    }
    // A server that is not there, with a real store to copy.
    let db = dir.path().join("rapport.db");
    rapport_store::sqlite::migrate(&db).expect("an empty store");
    let (ok, _, stderr) = run_copy(&sqlite_url(&db), "mysql://x").await;
    assert!(!ok);
    assert!(stderr.contains("postgres://"), "{stderr}");
    let (ok, _, stderr) = run_copy(&sqlite_url(&db), "postgres://postgres@127.0.0.1:1/test").await;
    assert!(!ok);
    assert!(
        stderr.contains("cannot connect to PostgreSQL at 127.0.0.1:1/test"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_copy_while_the_server_writes_is_one_moment_of_it() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("rapport.db");
    let clock = Arc::new(ManualClock::new(START));
    let s = Server::start(Database::Sqlite(db.clone()), dir.path(), clock).await;
    let mut members = Vec::new();
    for i in 0..12 {
        members.push(s.signup_member(&format!("Member {i}")).await);
    }

    // Writers connect pairs and sign people up for as long as the copy runs: each write changes
    // several tables at once (invitations, connections, the counters on members, events).
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writes = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for w in 0..2 {
        let (api, members) = ((*s).clone(), members.clone());
        let (stop, writes) = (stop.clone(), writes.clone());
        writers.push(tokio::spawn(async move {
            let mut k = w;
            while !stop.load(Ordering::SeqCst) {
                let newcomer = api.signup_member(&format!("Newcomer {w} {k}")).await;
                api.connect(&members[k % members.len()], &newcomer).await;
                api.invite_ok(&newcomer, &members[(k + 1) % members.len()])
                    .await;
                writes.fetch_add(1, Ordering::SeqCst);
                k += 2;
            }
        }));
    }
    while writes.load(Ordering::SeqCst) < 3 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let target = FreshDatabase::create().await;
    let before = writes.load(Ordering::SeqCst);
    let (ok, stdout, stderr) = run_copy(&sqlite_url(&db), &target.url).await;
    let during = writes.load(Ordering::SeqCst) - before;
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.await.expect("a writer");
    }
    s.stop().await;
    assert!(ok, "rapport copy failed: {stderr}\n{stdout}");
    assert!(during > 0, "no write landed while the copy ran");

    // The copy is one moment: every counter agrees with the rows it counts.
    let pg = target.client().await;
    for (rule, sql) in [
        (
            "a connection stored in one direction only",
            "SELECT count(*) FROM connections c WHERE NOT EXISTS
               (SELECT 1 FROM connections d WHERE d.member_id = c.other_id AND d.other_id = c.member_id)",
        ),
        (
            "a connection count that is not the member's connections",
            "SELECT count(*) FROM members m
              WHERE connection_count <> (SELECT count(*) FROM connections WHERE member_id = m.id)",
        ),
        (
            "a pending count that is not the member's pending invitations",
            "SELECT count(*) FROM members m WHERE pending_sent <>
               (SELECT count(*) FROM invitations WHERE sender_id = m.id AND state = 'pending')",
        ),
        (
            "an accepted invitation without its connection",
            "SELECT count(*) FROM invitations i WHERE state = 'accepted' AND NOT EXISTS
               (SELECT 1 FROM connections WHERE member_id = i.sender_id AND other_id = i.recipient_id)",
        ),
        (
            "an event about an invitation that is not there",
            "SELECT count(*) FROM events e WHERE invitation_id IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM invitations WHERE id = e.invitation_id)",
        ),
    ] {
        let broken: i64 = pg.query_one(sql, &[]).await.expect(rule).get(0);
        assert_eq!(broken, 0, "{rule}");
    }
}
