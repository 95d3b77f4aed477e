//! Rapport deployed the way operators run it, with the real parts from Debian's packages and the
//! real `rapport serve` binary:
//!
//! 1. two replicas behind PgBouncer 1.18 in transaction pooling mode (`?pgbouncer=true` on the
//!    database URL), with fewer server connections than rapport's pools, so that consecutive
//!    transactions of one rapport connection land on different server connections: a whole
//!    member flow across both (sign-up, invitation, a live stream on the other replica, accept,
//!    connections, the graph, notifications, search, block and unblock) answers without a single
//!    5xx, and the schema was migrated through the bouncer;
//! 2. over a primary PostgreSQL 15 cluster of the test's own with a streaming hot standby
//!    (`pg_basebackup -R`) as its read replica (`RAPPORT_DATABASE_READ_URL`): search answers from
//!    the standby (a member the paused standby has not replayed cannot be found; found once it
//!    replays), a restarted rapport loads its graph index from the standby (degree and mutual
//!    views right after the restart; the standby's own statistics count the scan), a graph loaded
//!    from a lagging standby catches up from the primary, and every write went to the primary
//!    (the standby stays in recovery, read-only, while every write was acknowledged).
//!
//! Always PostgreSQL, whatever `RAPPORT_TEST_BACKEND` says. A missing part fails the test, never
//! skips it: PgBouncer (`pgbouncer`, installed by scripts/test), the PostgreSQL 15 server binaries
//! (`/usr/lib/postgresql/15/bin`, or `RAPPORT_TEST_PG_BINDIR`), and the PostgreSQL at
//! `RAPPORT_TEST_POSTGRES_URL` (default 127.0.0.1:5432) that test 1 puts the bouncer in front of.
//! PostgreSQL and PgBouncer refuse to run as root, so when the tests run as root (CI) those
//! processes run as the `postgres` user (`setpriv`), in temporary directories handed to it.
//! Every wait is bounded and waits for a condition that must become true; nothing is timed.

use crate::backend::fresh_postgres;
use crate::crash::Server;
use crate::helpers::*;
use crate::sse::Events;
use reqwest::Method;
use serde_json::{json, Value};
use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::time::Instant;

/// A bound on waits for what happens within a second or so (a server starting, a standby
/// replaying a commit); never a measurement.
const PATIENCE: Duration = Duration::from_secs(30);
/// A bound on one server tool (`initdb`, `pg_ctl`, `pg_basebackup`) running to its end.
const TOOL_PATIENCE: Duration = Duration::from_secs(120);
/// Where Debian's `postgresql-15` puts the server binaries.
const PG_BINDIR: &str = "/usr/lib/postgresql/15/bin";

// ----- processes of the postgres user ---------------------------------------------------------

/// Do the tests run as root (then the servers run as `postgres`)?
fn as_root() -> bool {
    std::fs::metadata("/proc/self").expect("/proc/self").uid() == 0
}

/// The `postgres` user's uid and gid, which Debian's PostgreSQL packages create.
fn postgres_user() -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .expect("id runs");
        assert!(
            out.status.success(),
            "there is no postgres user ({}); install Debian's postgresql-15",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("a numeric id")
    };
    (id("-u"), id("-g"))
}

/// A temporary directory the server processes may write: handed to `postgres` when the tests
/// run as root. Removed when dropped (stop what runs in it first).
fn server_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("rapport-deploy-")
        .tempdir()
        .expect("a temporary directory");
    if as_root() {
        let (uid, gid) = postgres_user();
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
            .expect("the directory is handed to postgres");
    }
    dir
}

/// `program` run as the `postgres` user when the tests run as root (PostgreSQL and PgBouncer
/// refuse root), as the tests' own user otherwise; in `dir`, with none of the caller's `PG*`
/// variables.
fn as_postgres(program: &Path, dir: &Path) -> Command {
    let mut cmd = if as_root() {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "--",
        ])
        .arg(program);
        c
    } else {
        Command::new(program)
    };
    for (var, _) in std::env::vars() {
        if var.starts_with("PG") {
            cmd.env_remove(var);
        }
    }
    cmd.current_dir(dir).env("HOME", dir).stdin(Stdio::null());
    cmd
}

/// Runs `cmd` to its end within `wait`, and returns its output; fails the test, showing that
/// output, when it fails, cannot start or does not end in time (then it is killed).
fn run(mut cmd: Command, what: &str, wait: Duration) -> String {
    let mut log = tempfile::tempfile().expect("a temporary file");
    cmd.stdout(log.try_clone().expect("a file handle"))
        .stderr(log.try_clone().expect("a file handle"));
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: {cmd:?} cannot start: {e}"));
    let deadline = std::time::Instant::now() + wait;
    let status = loop {
        if let Some(status) = child.try_wait().expect("process status") {
            break Some(status);
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut output = String::new();
    log.seek(SeekFrom::Start(0)).expect("rewinds");
    let _ = log.read_to_string(&mut output);
    match status {
        Some(s) if s.success() => output,
        Some(s) => panic!("{what} failed ({s}): {cmd:?}\n{output}"),
        None => panic!("{what} did not end within {wait:?}: {cmd:?}\n{output}"),
    }
}

/// Appends `lines` to a file of a server's (it keeps its owner).
fn append(path: &Path, lines: &str) {
    OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(format!("\n{lines}\n").as_bytes()))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| format!("({}: {e})", path.display()))
}

// ----- talking to the databases directly ------------------------------------------------------

/// Runs `sql` (simple protocol: several statements, PgBouncer's admin console too) on the
/// database at `url`; the rows of every statement, each as its columns' text.
async fn simple(url: &str, sql: &str) -> Result<Vec<Vec<Option<String>>>, String> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|e| format!("{url} cannot be reached: {e}"))?;
    let driver = tokio::spawn(connection);
    let result = client.simple_query(sql).await;
    drop(client);
    let _ = driver.await;
    let messages = result.map_err(|e| match e.as_db_error() {
        Some(db) => format!("{sql}: {} (SQLSTATE {})", db.message(), db.code().code()),
        None => format!("{sql}: {e}"),
    })?;
    Ok(messages
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).map(str::to_owned))
                    .collect(),
            ),
            _ => None,
        })
        .collect())
}

/// The first column of the first row of `sql`'s answer, which must be there.
async fn scalar(url: &str, sql: &str) -> String {
    let rows = simple(url, sql).await.unwrap_or_else(|e| panic!("{e}"));
    rows.first()
        .and_then(|r| r.first().cloned().flatten())
        .unwrap_or_else(|| panic!("{sql}: no value"))
}

/// A PgBouncer admin-console answer as one map per row, column name to text.
async fn bouncer_show(url: &str, what: &str) -> Vec<std::collections::HashMap<String, String>> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("the PgBouncer admin console at {url}: {e}"));
    let driver = tokio::spawn(connection);
    let messages = client
        .simple_query(what)
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    drop(client);
    let _ = driver.await;
    messages
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                row.columns()
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (c.name().to_owned(), row.get(i).unwrap_or("").to_owned()))
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

/// The migrations this binary carries (`crates/store/migrations/postgres/*.sql`).
fn migration_count() -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../store/migrations/postgres");
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "sql"))
        .count()
}

// ----- waiting and reading the API ------------------------------------------------------------

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

async fn get(api: &Api, token: &str, path: &str) -> Value {
    expect_json(api.request(Method::GET, path, token, None).await, 200).await
}

/// The ids of the members `token`'s member finds with `query` (`GET /members?q=`).
async fn search(api: &Api, token: &str, query: &str) -> Vec<String> {
    ids(&get(api, token, &format!("/api/v1/members?q={query}&limit=100")).await)
}

/// Fails when the server counted any 5xx answer (`rapport_http_requests_total`, readiness probes
/// aside).
async fn assert_no_server_errors(api: &Api, what: &str) {
    let r = api.request(Method::GET, "/metrics", ANONYMOUS, None).await;
    assert_eq!(r.status(), 200, "{what}: /metrics");
    let text = r.text().await.expect("the metrics");
    let errors: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("rapport_http_requests_total{"))
        .filter(|l| l.contains("status=\"5") && !l.contains("route=\"/readyz\""))
        .collect();
    assert!(
        errors.is_empty(),
        "{what}: the server answered with 5xx: {errors:#?}"
    );
    assert!(
        text.contains("rapport_http_requests_total{"),
        "{what}: the server counted no requests at all"
    );
}

// ----- 1. PgBouncer in transaction pooling mode -----------------------------------------------

/// Rapport's pool holds up to 16 connections; the bouncer gives them 4 server connections, so
/// that transactions of one client connection run on different server connections, as they do
/// in production.
const BOUNCER_POOL: u32 = 4;

/// A PgBouncer (Debian's, as the `postgres` user) in front of one database of the test server,
/// in transaction pooling mode with trust auth; killed when dropped.
struct PgBouncer {
    child: Child,
    port: u16,
    user: String,
    dir: tempfile::TempDir,
}

impl PgBouncer {
    /// Starts it in front of the database at `upstream` and waits until it passes a query on.
    async fn start(upstream: &str) -> PgBouncer {
        let config: tokio_postgres::Config = upstream.parse().expect("a PostgreSQL URL");
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            other => panic!("the test PostgreSQL must be reached over TCP, not {other:?}"),
        };
        let upstream_port = config.get_ports().first().copied().unwrap_or(5432);
        let user = config.get_user().unwrap_or("postgres").to_owned();
        let database = config.get_dbname().expect("a database").to_owned();
        let program = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .unwrap_or_else(|| {
                panic!("pgbouncer is not installed: apt-get install pgbouncer (scripts/test does)")
            });
        let dir = server_dir();
        let port = free_port();
        let d = dir.path().display();
        std::fs::write(
            dir.path().join("userlist.txt"),
            format!("\"{user}\" \"\"\n"),
        )
        .expect("writes the auth file");
        std::fs::write(
            dir.path().join("pgbouncer.ini"),
            format!(
                "[databases]\n\
                 {database} = host={host} port={upstream_port} dbname={database}\n\
                 [pgbouncer]\n\
                 listen_addr = 127.0.0.1\n\
                 listen_port = {port}\n\
                 unix_socket_dir = {d}\n\
                 auth_type = trust\n\
                 auth_file = {d}/userlist.txt\n\
                 admin_users = {user}\n\
                 pool_mode = transaction\n\
                 default_pool_size = {BOUNCER_POOL}\n\
                 max_client_conn = 200\n"
            ),
        )
        .expect("writes the configuration");
        let log = File::create(dir.path().join("pgbouncer.log")).expect("a log file");
        let child = as_postgres(&program, dir.path())
            .arg(dir.path().join("pgbouncer.ini"))
            .stdout(log.try_clone().expect("a file handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{} cannot start: {e}", program.display()));
        let mut bouncer = PgBouncer {
            child,
            port,
            user,
            dir,
        };
        let url = bouncer.url(&database, "");
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = bouncer.child.try_wait().expect("process status") {
                panic!("pgbouncer exited ({status}):\n{}", bouncer.log());
            }
            match simple(&url, "SELECT 1").await {
                Ok(_) => break,
                Err(e) if Instant::now() >= deadline => {
                    panic!("pgbouncer never passed a query on: {e}\n{}", bouncer.log())
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        bouncer
    }

    /// The URL of `database` through the bouncer, with `options` (`?…`).
    fn url(&self, database: &str, options: &str) -> String {
        format!(
            "postgres://{}@127.0.0.1:{}/{database}{options}",
            self.user, self.port
        )
    }

    fn log(&self) -> String {
        read_log(&self.dir.path().join("pgbouncer.log"))
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rapport_serves_a_whole_member_flow_behind_pgbouncer_in_transaction_mode() {
    let db = fresh_postgres().await;
    let database = db
        .url
        .rsplit('/')
        .next()
        .expect("a database name")
        .to_owned();
    let bouncer = PgBouncer::start(&db.url).await;
    let through_bouncer = bouncer.url(&database, "");
    // Two replicas, as a deployment runs them, started together: both migrate (once between
    // them) through the bouncer.
    let url = bouncer.url(&database, "?pgbouncer=true");
    let settings = [("RAPPORT_DATABASE_URL", url.as_str())];
    let (data_one, data_two) = (
        tempfile::tempdir().expect("a temporary directory"),
        tempfile::tempdir().expect("a temporary directory"),
    );
    let mut one = Server::start_with(data_one.path(), &settings);
    let mut two = Server::start_with(data_two.path(), &settings);
    one.wait_ready().await;
    two.wait_ready().await;
    let api = one.api.clone();
    let other = two.api.clone();

    // The schema was migrated through the bouncer: rapport knows no other address, and the
    // database was empty.
    let version = scalar(
        &through_bouncer,
        "SELECT coalesce(max(version), 0) FROM rapport_schema",
    )
    .await;
    assert_eq!(
        version,
        migration_count().to_string(),
        "the migrations did not all run through the bouncer"
    );

    // Sign-ups, concurrently: more at once than the bouncer has server connections.
    let names = ["Ada Pooler", "Boris Pooler", "Cleo Pooler", "Dmitri Pooler"];
    let members: Vec<TestMember> =
        futures_util::future::join_all(names.iter().map(|n| api.signup_member(n))).await;
    let [ada, boris, cleo, dmitri] = &members[..] else {
        unreachable!()
    };
    for m in &members {
        let me = get(&api, &m.token, "/api/v1/me").await;
        assert_eq!(me["id"], m.id.as_str());
    }

    // An invitation sent through one replica reaches the recipient's live stream on the other.
    // The bouncer passes no NOTIFY on to a LISTEN, so this is rapport's polling at work.
    let mut boris_events = Events::open(&other, &boris.token).await;
    let r = api
        .send_invitation(
            &ada.token,
            json!({"recipient_id": boris.id, "note": "Met at the pooling talk"}),
        )
        .await;
    let invitation = expect_json(r, 201).await;
    let invitation_id = invitation["id"].as_str().expect("an id").to_owned();
    boris_events
        .expect("invitation.received", PATIENCE, |d| {
            d["invitation"]["id"] == invitation_id.as_str()
        })
        .await;
    assert_eq!(
        other.received_ids(&boris.token).await,
        vec![invitation_id.clone()]
    );
    assert_eq!(api.sent_ids(&ada.token).await, vec![invitation_id.clone()]);
    let seen = get(
        &other,
        &boris.token,
        &format!("/api/v1/invitations/{invitation_id}"),
    )
    .await;
    assert_eq!(seen["state"], "pending");
    assert_eq!(seen["note"], "Met at the pooling talk");

    // Accepted on the other replica: both see the connection on both, and the first replica's
    // graph index follows.
    let connection = expect_json(other.accept(&boris.token, &invitation_id).await, 200).await;
    assert_eq!(connection["member"]["id"], ada.id.as_str());
    for server in [&api, &other] {
        assert_eq!(
            server.connection_ids(&ada.token).await,
            vec![boris.id.clone()]
        );
        assert_eq!(
            server.connection_ids(&boris.token).await,
            vec![ada.id.clone()]
        );
    }
    let page = get(&api, &ada.token, "/api/v1/connections").await;
    assert_eq!(page["total"], 1, "{page}");
    eventually(
        PATIENCE,
        "the first replica's graph follows the accept",
        || async {
            let rel = api.relationship(ada, &boris.id).await;
            if rel["state"] == "connected" && rel["degree"] == 1 {
                Ok(())
            } else {
                Err(rel.to_string())
            }
        },
    )
    .await;

    // More of the network, concurrently: Cleo and Dmitri each connect with Boris.
    futures_util::future::join_all([api.connect(cleo, boris), api.connect(dmitri, boris)]).await;
    let rel = api.relationship(ada, &cleo.id).await;
    assert_eq!(rel["degree"], 2, "{rel}");
    assert_eq!(rel["mutual_connections"], 1, "{rel}");
    let mutual = get(
        &api,
        &ada.token,
        &format!("/api/v1/members/{}/mutual-connections", cleo.id),
    )
    .await;
    assert_eq!(ids(&mutual), vec![boris.id.clone()], "{mutual}");
    let found = search(&api, &ada.token, "Cleo").await;
    assert_eq!(found, vec![cleo.id.clone()]);

    // Notifications: Boris was invited, Ada's invitation was accepted.
    let kinds = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|n| n["kind"].as_str().expect("a kind").to_owned())
            .collect()
    };
    let boris_notes = get(&api, &boris.token, "/api/v1/notifications").await;
    assert!(
        kinds(&boris_notes).contains(&"invitation_received".to_owned()),
        "{boris_notes}"
    );
    let ada_notes = get(&api, &ada.token, "/api/v1/notifications").await;
    assert!(
        kinds(&ada_notes).contains(&"invitation_accepted".to_owned()),
        "{ada_notes}"
    );
    assert!(
        ada_notes["unread"].as_i64().expect("unread") >= 1,
        "{ada_notes}"
    );
    let r = api
        .request(
            Method::POST,
            "/api/v1/notifications/read",
            &ada.token,
            Some(json!({})),
        )
        .await;
    expect_empty(r, 204).await;
    let ada_notes = get(&api, &ada.token, "/api/v1/notifications").await;
    assert_eq!(ada_notes["unread"], 0, "{ada_notes}");

    // Block and unblock: the connection ends and each is hidden from the other, then neither.
    let block = format!("/api/v1/blocks/{}", boris.id);
    expect_empty(
        api.request(Method::PUT, &block, &ada.token, None).await,
        204,
    )
    .await;
    assert_eq!(
        ids(&get(&api, &ada.token, "/api/v1/blocks").await),
        vec![boris.id.clone()]
    );
    expect_problem(api.member(&ada.token, &boris.id).await, 404, "not_found").await;
    expect_problem(api.member(&boris.token, &ada.id).await, 404, "not_found").await;
    assert!(api.connection_ids(&ada.token).await.is_empty());
    let rel = api.relationship(ada, &cleo.id).await;
    assert_eq!(
        rel["degree"],
        Value::Null,
        "no path runs through a blocked member: {rel}"
    );
    expect_empty(
        api.request(Method::DELETE, &block, &ada.token, None).await,
        204,
    )
    .await;
    assert!(ids(&get(&api, &ada.token, "/api/v1/blocks").await).is_empty());
    let rel = api.relationship(ada, &boris.id).await;
    assert_eq!(rel["state"], "none", "{rel}");

    // Two invitations of one sender, sent in parallel, both land.
    let sent =
        futures_util::future::join_all([api.invite(ada, cleo), api.invite(ada, dmitri)]).await;
    for r in sent {
        expect_json(r, 201).await;
    }
    assert_eq!(api.sent_ids(&ada.token).await.len(), 2);

    assert_no_server_errors(&api, "replica one behind PgBouncer").await;
    assert_no_server_errors(&other, "replica two behind PgBouncer").await;

    // The bouncer did the pooling: rapport's database pooled in transaction mode, its
    // transactions counted there.
    let admin = bouncer.url("pgbouncer", "");
    let pools = bouncer_show(&admin, "SHOW POOLS").await;
    let pool = pools
        .iter()
        .find(|p| p["database"] == database)
        .unwrap_or_else(|| panic!("no pool for {database}: {pools:?}"));
    assert_eq!(pool["pool_mode"], "transaction", "{pool:?}");
    let stats = bouncer_show(&admin, "SHOW STATS").await;
    let stat = stats
        .iter()
        .find(|s| s["database"] == database)
        .unwrap_or_else(|| panic!("no stats for {database}: {stats:?}"));
    let transactions: u64 = stat["total_xact_count"].parse().expect("a count");
    assert!(transactions > 0, "{stat:?}");

    drop((one, two));
    drop(bouncer);
    drop(db);
}

// ----- 2. a streaming read replica ------------------------------------------------------------

/// The directory of the PostgreSQL server binaries.
fn pg_bindir() -> PathBuf {
    let dir = PathBuf::from(
        std::env::var("RAPPORT_TEST_PG_BINDIR").unwrap_or_else(|_| PG_BINDIR.to_owned()),
    );
    assert!(
        dir.join("initdb").exists() && dir.join("pg_basebackup").exists(),
        "the PostgreSQL server binaries are not in {} (install Debian's postgresql-15, or set \
         RAPPORT_TEST_PG_BINDIR)",
        dir.display()
    );
    dir
}

/// A PostgreSQL cluster of the test's own, started with `pg_ctl`; stopped with
/// `pg_ctl stop -m immediate` when dropped.
struct Cluster {
    name: &'static str,
    bin: PathBuf,
    base: PathBuf,
    data: PathBuf,
    port: u16,
    running: bool,
}

impl Cluster {
    fn new(name: &'static str, bin: &Path, base: &Path) -> Cluster {
        Cluster {
            name,
            bin: bin.to_owned(),
            base: base.to_owned(),
            data: base.join(name),
            port: free_port(),
            running: false,
        }
    }

    fn tool(&self, tool: &str) -> Command {
        as_postgres(&self.bin.join(tool), &self.base)
    }

    fn log_path(&self) -> PathBuf {
        self.base.join(format!("{}.log", self.name))
    }

    /// Its own settings, after whatever `postgresql.conf` already says (the last one wins).
    fn configure(&self) {
        append(
            &self.data.join("postgresql.conf"),
            &format!(
                "port = {}\n\
                 listen_addresses = '127.0.0.1'\n\
                 unix_socket_directories = '{}'\n\
                 wal_level = replica\n\
                 max_wal_senders = 4\n\
                 hot_standby = on\n\
                 fsync = off\n",
                self.port,
                self.base.display()
            ),
        );
    }

    fn start(&mut self) {
        let mut cmd = self.tool("pg_ctl");
        cmd.arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(self.log_path())
            .args(["-w", "-t", "60", "start"]);
        self.running = true;
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("pg_ctl cannot start: {e}"));
        let deadline = std::time::Instant::now() + TOOL_PATIENCE;
        let status = loop {
            if let Some(s) = child.try_wait().expect("process status") {
                break s;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the {} never started:\n{}",
                self.name,
                read_log(&self.log_path())
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(
            status.success(),
            "the {} did not start ({status}):\n{}",
            self.name,
            read_log(&self.log_path())
        );
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// `sql` on `database` of this cluster; the first column of the first row.
    async fn scalar(&self, database: &str, sql: &str) -> String {
        scalar(&self.url(database), sql).await
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.running {
            let mut cmd = self.tool("pg_ctl");
            cmd.arg("-D")
                .arg(&self.data)
                .args(["-m", "immediate", "-w", "-t", "60", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let _ = cmd.status();
        }
    }
}

/// A primary cluster and a hot standby streaming from it, in one temporary directory that is
/// removed after both are stopped (fields drop in order).
struct Replication {
    standby: Cluster,
    primary: Cluster,
    _dir: tempfile::TempDir,
}

impl Replication {
    /// `initdb` a primary, start it, `pg_basebackup -R` a standby from it and start that; returns
    /// once the standby streams.
    async fn start() -> Replication {
        let bin = pg_bindir();
        let dir = server_dir();
        let mut primary = Cluster::new("primary", &bin, dir.path());
        let mut standby = Cluster::new("standby", &bin, dir.path());

        let mut initdb = primary.tool("initdb");
        initdb.arg("-D").arg(&primary.data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "--no-locale",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        run(initdb, "initdb", TOOL_PATIENCE);
        primary.configure();
        append(
            &primary.data.join("pg_hba.conf"),
            "host replication postgres 127.0.0.1/32 trust",
        );
        primary.start();

        let mut basebackup = primary.tool("pg_basebackup");
        basebackup
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &primary.port.to_string(),
                "-U",
                "postgres",
            ])
            .arg("-D")
            .arg(&standby.data)
            .args(["-R", "-X", "stream", "-c", "fast"]);
        run(basebackup, "pg_basebackup", TOOL_PATIENCE);
        assert!(
            standby.data.join("standby.signal").exists(),
            "pg_basebackup -R wrote no standby.signal"
        );
        standby.configure();
        standby.start();

        let pair = Replication {
            standby,
            primary,
            _dir: dir,
        };
        assert_eq!(
            pair.standby
                .scalar("postgres", "SELECT pg_is_in_recovery()")
                .await,
            "t"
        );
        eventually(PATIENCE, "the standby streams from the primary", || async {
            let rows = simple(
                &pair.primary.url("postgres"),
                "SELECT state FROM pg_stat_replication",
            )
            .await?;
            match rows.first().and_then(|r| r[0].as_deref()) {
                Some("streaming") => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
        pair
    }

    /// Waits until the standby has replayed everything the primary has written so far.
    async fn caught_up(&self) {
        let lsn = self
            .primary
            .scalar("postgres", "SELECT pg_current_wal_lsn()")
            .await;
        let sql = format!("SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn");
        eventually(
            PATIENCE,
            "the standby replays the primary's writes",
            || async {
                match self.standby.scalar("postgres", &sql).await.as_str() {
                    "t" => Ok(()),
                    other => Err(other.to_owned()),
                }
            },
        )
        .await;
    }

    /// Stops (or resumes) replaying on the standby; returns once it has.
    async fn pause_replay(&self, pause: bool) {
        let (call, state) = if pause {
            ("pg_wal_replay_pause()", "paused")
        } else {
            ("pg_wal_replay_resume()", "not paused")
        };
        let url = self.standby.url("postgres");
        simple(&url, &format!("SELECT {call}"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        eventually(PATIENCE, &format!("replay {state}"), || async {
            match scalar(&url, "SELECT pg_get_wal_replay_pause_state()")
                .await
                .as_str()
            {
                s if s == state => Ok(()),
                other => Err(other.to_owned()),
            }
        })
        .await;
    }

    /// rapport's connections to the standby's database (the test's own aside).
    async fn standby_backends(&self) -> i64 {
        self.standby
            .scalar(
                "postgres",
                &format!(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = '{DATABASE}'
                       AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
                ),
            )
            .await
            .parse()
            .expect("a count")
    }

    /// How often the `connections` table was read on the standby itself (its own statistics,
    /// which replayed writes do not touch): the graph index's full loads.
    async fn standby_connection_scans(&self) -> i64 {
        self.standby
            .scalar(
                DATABASE,
                "SELECT coalesce(sum(coalesce(seq_scan, 0) + coalesce(idx_scan, 0)), 0)
                   FROM pg_stat_user_tables WHERE relname = 'connections'",
            )
            .await
            .parse()
            .expect("a count")
    }
}

/// The database rapport runs on, in the test's own clusters.
const DATABASE: &str = "rapport";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rapport_reads_from_a_streaming_standby_and_writes_to_the_primary() {
    let pg = Replication::start().await;
    simple(
        &pg.primary.url("postgres"),
        &format!("CREATE DATABASE {DATABASE}"),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let (primary_url, standby_url) = (pg.primary.url(DATABASE), pg.standby.url(DATABASE));
    let settings = [
        ("RAPPORT_DATABASE_URL", primary_url.as_str()),
        ("RAPPORT_DATABASE_READ_URL", standby_url.as_str()),
    ];
    let data = tempfile::tempdir().expect("a temporary directory");

    // As an operator deploys: the schema first, on the primary; rapport serves once the standby
    // has replayed it. rapport reads its graph from the standby as it starts, and a standby
    // without the schema yet fails that start ("relation connections does not exist").
    let mut migrate = Command::new(env!("CARGO_BIN_EXE_rapport"));
    for (var, _) in std::env::vars() {
        if var.starts_with("RAPPORT_") {
            migrate.env_remove(var);
        }
    }
    migrate
        .arg("migrate")
        .env("RAPPORT_DATABASE_URL", &primary_url)
        .env("RAPPORT_DATA_DIR", data.path())
        .env("RAPPORT_CONFIG", data.path().join("no-such-rapport.toml"))
        .env("RAPPORT_LOG", "warn");
    run(migrate, "rapport migrate", TOOL_PATIENCE);
    pg.caught_up().await;

    let mut server = Server::start_with(data.path(), &settings);
    server.wait_ready().await;
    let api = server.api.clone();

    // A chain Alma – Bruno – Cora – Dario, and Elio on his own.
    let names = [
        "Alma Quillfeather",
        "Bruno Marchetti",
        "Cora Vandersloot",
        "Dario Okonkwo",
        "Elio Brightwater",
    ];
    let mut members = Vec::new();
    for name in names {
        members.push(api.signup_member(name).await);
    }
    let [alma, bruno, cora, dario, elio] = &members[..] else {
        unreachable!()
    };
    api.connect(alma, bruno).await;
    api.connect(bruno, cora).await;
    api.connect(cora, dario).await;

    // Search answers (from the standby, once it has replayed the sign-ups).
    eventually(PATIENCE, "search finds Cora", || async {
        let found = search(&api, &alma.token, "Vandersloot").await;
        if found == vec![cora.id.clone()] {
            Ok(())
        } else {
            Err(format!("{found:?}"))
        }
    })
    .await;
    let found = search(&api, &alma.token, "Brightwater").await;
    assert_eq!(found, vec![elio.id.clone()]);

    // Search reads the standby, not the primary: while its replay is paused, a member who signed
    // up since (on the primary) cannot be found; once it replays, she is.
    pg.pause_replay(true).await;
    let fiona = api.signup_member("Fiona Lagrangia").await;
    assert!(
        search(&api, &alma.token, "Lagrangia").await.is_empty(),
        "search found a member the paused standby has not replayed: it read the primary"
    );
    pg.pause_replay(false).await;
    eventually(PATIENCE, "search finds Fiona once replayed", || async {
        let found = search(&api, &alma.token, "Lagrangia").await;
        if found == vec![fiona.id.clone()] {
            Ok(())
        } else {
            Err(format!("{found:?}"))
        }
    })
    .await;
    assert_no_server_errors(&api, "first server").await;

    // rapport's connections to the standby are there to see.
    assert!(
        pg.standby_backends().await > 0,
        "rapport holds no connection to the standby"
    );

    // A restart loads the graph from the standby: once it has replayed every connection, the
    // restarted server shows degrees and mutual connections at once, and the standby's own
    // statistics count one more scan of `connections` (which nothing else reads there: search
    // reads `members`, and the graph follower the primary). The count is taken once the first
    // server's backends on the standby have ended, which flushes their statistics.
    pg.caught_up().await;
    server.kill();
    eventually(
        PATIENCE,
        "the killed server's standby backends end",
        || async {
            match pg.standby_backends().await {
                0 => Ok(()),
                n => Err(format!("{n} backends")),
            }
        },
    )
    .await;
    let scans_before = pg.standby_connection_scans().await;
    let mut server = Server::start_with(data.path(), &settings);
    server.wait_ready().await;
    let api = server.api.clone();
    let degree = |rel: &Value| rel["degree"].clone();
    assert_eq!(degree(&api.relationship(alma, &bruno.id).await), 1);
    let to_cora = api.relationship(alma, &cora.id).await;
    assert_eq!(
        (degree(&to_cora), to_cora["mutual_connections"].clone()),
        (json!(2), json!(1)),
        "{to_cora}"
    );
    assert_eq!(degree(&api.relationship(alma, &dario.id).await), 3);
    assert_eq!(degree(&api.relationship(alma, &elio.id).await), Value::Null);
    let mutual = get(
        &api,
        &alma.token,
        &format!("/api/v1/members/{}/mutual-connections", cora.id),
    )
    .await;
    assert_eq!(ids(&mutual), vec![bruno.id.clone()], "{mutual}");
    let second = ids(&get(&api, &alma.token, "/api/v1/members?q=Vandersloot&degree=2").await);
    assert_eq!(second, vec![cora.id.clone()]);
    eventually(
        PATIENCE,
        "the restart's graph load counted on the standby",
        || async {
            let n = pg.standby_connection_scans().await;
            if n > scans_before {
                Ok(())
            } else {
                Err(format!("{n} scans, {scans_before} before the restart"))
            }
        },
    )
    .await;

    // A graph loaded from a lagging standby catches up from the primary: with replay paused,
    // Alma and Fiona connect, and a server restarted then still comes to show it.
    pg.pause_replay(true).await;
    api.connect(alma, &fiona).await;
    assert_no_server_errors(&api, "second server").await;
    server.kill();
    let mut server = Server::start_with(data.path(), &settings);
    server.wait_ready().await;
    let api = server.api.clone();
    eventually(
        PATIENCE,
        "the restarted graph follows the primary",
        || async {
            let rel = api.relationship(alma, &fiona.id).await;
            if rel["state"] == "connected" && rel["degree"] == 1 {
                Ok(())
            } else {
                Err(rel.to_string())
            }
        },
    )
    .await;
    pg.pause_replay(false).await;
    pg.caught_up().await;

    // Every write went to the primary: all were acknowledged, and the standby never left
    // recovery, so it could not have taken one (it refuses writes). The primary holds them all,
    // and the standby has them by replication only.
    assert_eq!(
        pg.standby
            .scalar("postgres", "SELECT pg_is_in_recovery()")
            .await,
        "t"
    );
    assert_eq!(
        pg.primary
            .scalar("postgres", "SELECT pg_is_in_recovery()")
            .await,
        "f"
    );
    for (cluster, url) in [("primary", &primary_url), ("standby", &standby_url)] {
        let counts = scalar(
            url,
            "SELECT (SELECT count(*) FROM members) || ' ' || (SELECT count(*) FROM connections)",
        )
        .await;
        assert_eq!(
            counts, "6 8",
            "{cluster}: members and connections (both ways)"
        );
    }
    let refused = simple(&standby_url, "CREATE TABLE written_on_the_standby (x int)").await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.contains("SQLSTATE 25006")),
        "the standby took a write: {refused:?}"
    );
    assert_no_server_errors(&api, "third server").await;

    drop(server);
    drop(pg);
}
