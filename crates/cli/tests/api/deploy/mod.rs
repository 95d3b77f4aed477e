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
//!    (the standby stays in recovery, read-only, while every write was acknowledged);
//! 3. over a PostgreSQL 15 cluster of the test's own that is stopped and started again under a
//!    running rapport: while it is down every request that needs it answers `503 unavailable`
//!    with `Retry-After`, never a 500, and rapport recovers by itself once it is back, with every
//!    acknowledged write there;
//! 4. over that primary with its standby synchronous, both named in one multi-host URL with
//!    `target_session_attrs=read-write`: the primary is killed and the standby promoted, and
//!    rapport goes on by itself on the new primary, with every acknowledged write there.
//!
//! Always PostgreSQL, whatever `RAPPORT_TEST_BACKEND` says. A missing part fails the test, never
//! skips it: PgBouncer (`pgbouncer`, installed by scripts/test), the PostgreSQL 15 server binaries
//! (`/usr/lib/postgresql/15/bin`, or `RAPPORT_TEST_PG_BINDIR`), and the PostgreSQL at
//! `RAPPORT_TEST_POSTGRES_URL` (default 127.0.0.1:5432) that test 1 puts the bouncer in front of.
//! PostgreSQL and PgBouncer refuse to run as root, so when the tests run as root (CI) those
//! processes run as the `postgres` user (`setpriv`), in temporary directories handed to it.
//! Every wait is bounded and waits for a condition that must become true; nothing is timed.

mod failover;
mod pgbouncer;
mod restart;
mod standby;

use crate::helpers::*;
use reqwest::Method;
use serde_json::Value;
use std::fs::OpenOptions;
use std::future::Future;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use tokio::time::Instant;

/// A bound on waits for what happens within a second or so (a server starting, a standby
/// replaying a commit); never a measurement.
const PATIENCE: Duration = Duration::from_secs(30);
/// A bound on one server tool (`initdb`, `pg_ctl`, `pg_basebackup`) running to its end.
const TOOL_PATIENCE: Duration = Duration::from_secs(120);

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

// ----- a PostgreSQL cluster of the test's own ---------------------------------------------------

/// Where Debian's `postgresql-15` puts the server binaries.
const PG_BINDIR: &str = "/usr/lib/postgresql/15/bin";

/// The directory of the PostgreSQL server binaries.
pub(super) fn pg_bindir() -> PathBuf {
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
pub(super) struct Cluster {
    pub(super) name: &'static str,
    pub(super) bin: PathBuf,
    pub(super) base: PathBuf,
    pub(super) data: PathBuf,
    pub(super) port: u16,
    pub(super) running: bool,
}

impl Cluster {
    pub(super) fn new(name: &'static str, bin: &Path, base: &Path) -> Cluster {
        Cluster {
            name,
            bin: bin.to_owned(),
            base: base.to_owned(),
            data: base.join(name),
            port: free_port(),
            running: false,
        }
    }

    pub(super) fn tool(&self, tool: &str) -> Command {
        as_postgres(&self.bin.join(tool), &self.base)
    }

    pub(super) fn log_path(&self) -> PathBuf {
        self.base.join(format!("{}.log", self.name))
    }

    /// `initdb` of its data directory: one `postgres` superuser, trusted.
    pub(super) fn init(&self) {
        let mut initdb = self.tool("initdb");
        initdb.arg("-D").arg(&self.data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "--no-locale",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        run(initdb, "initdb", TOOL_PATIENCE);
    }

    /// `pg_ctl stop -m fast`: the server ends every session and shuts down cleanly; returns once
    /// it has.
    pub(super) fn stop_fast(&mut self) {
        let mut cmd = self.tool("pg_ctl");
        cmd.arg("-D")
            .arg(&self.data)
            .args(["-m", "fast", "-w", "-t", "60", "stop"]);
        run(cmd, "pg_ctl stop", TOOL_PATIENCE);
        self.running = false;
    }

    /// `pg_ctl stop -m immediate`: the server dies at once, as in a crash (it recovers from its
    /// log when started again); returns once it is gone.
    pub(super) fn kill(&mut self) {
        let mut cmd = self.tool("pg_ctl");
        cmd.arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "-t", "60", "stop"]);
        run(cmd, "pg_ctl stop -m immediate", TOOL_PATIENCE);
        self.running = false;
    }

    /// `pg_ctl promote`: a standby becomes a primary that takes writes; returns once it does.
    pub(super) fn promote(&self) {
        let mut cmd = self.tool("pg_ctl");
        cmd.arg("-D")
            .arg(&self.data)
            .args(["-w", "-t", "60", "promote"]);
        run(cmd, "pg_ctl promote", TOOL_PATIENCE);
    }

    /// Its own settings, after whatever `postgresql.conf` already says (the last one wins).
    pub(super) fn configure(&self) {
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

    pub(super) fn start(&mut self) {
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

    pub(super) fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// `sql` on `database` of this cluster; the first column of the first row.
    pub(super) async fn scalar(&self, database: &str, sql: &str) -> String {
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
/// The server never answered 500 (a 503 while a database was away is what it should say).
async fn assert_never_500(api: &Api) {
    let r = api.request(Method::GET, "/metrics", ANONYMOUS, None).await;
    let metrics = r.text().await.expect("the metrics");
    let internal: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("rapport_http_requests_total{") && l.contains("status=\"500\""))
        .collect();
    assert!(internal.is_empty(), "500s were answered: {internal:#?}");
}

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
