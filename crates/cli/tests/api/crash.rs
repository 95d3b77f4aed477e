//! The real `rapport serve` process is killed with SIGKILL at random moments while ten writers are
//! busy sending, accepting, withdrawing and signing up; after each kill SQLite finds the database
//! intact and the rules hold in the raw tables, and after each restart on the same data directory
//! every write the server acknowledged is there and every quota agrees with the invitations. 20
//! cycles by default, each adding to what must survive; `RAPPORT_CRASH_CYCLES=200` for the long run
//! (scripts/reliability --long). A second run does the same with the server checkpointing without
//! pause, so that kills land while the log is copied into the database or started again.

use crate::helpers::*;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// A running `rapport serve`; killed when dropped, so a failing test leaves no process behind.
pub struct Server {
    child: Child,
    pub api: Api,
}

impl Server {
    /// Starts `rapport serve` on `dir` with extra settings.
    pub fn start_with(dir: &Path, settings: &[(&str, &str)]) -> Server {
        let api = Api::new(format!("http://127.0.0.1:{}", free_port()));
        Self::start_on(dir, settings, api)
    }

    /// The same, listening where `api` points (so that servers can share one client).
    pub fn start_on(dir: &Path, settings: &[(&str, &str)], api: Api) -> Server {
        Self::spawn(dir, settings, api, None)
    }

    /// [`Server::start_with`], with what the server prints (its log) appended to `log`.
    pub fn start_logged(dir: &Path, settings: &[(&str, &str)], log: &Path) -> Server {
        let api = Api::new(format!("http://127.0.0.1:{}", free_port()));
        Self::spawn(dir, settings, api, Some(log))
    }

    fn spawn(dir: &Path, settings: &[(&str, &str)], api: Api, log: Option<&Path>) -> Server {
        let listen = api
            .address
            .strip_prefix("http://")
            .expect("an http address")
            .to_owned();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rapport"));
        for (name, _) in std::env::vars() {
            if name.starts_with("RAPPORT_") {
                cmd.env_remove(name);
            }
        }
        cmd.envs(settings.iter().copied());
        if let Some(log) = log {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .expect("the server's log file opens");
            cmd.stdout(file.try_clone().expect("a file handle"))
                .stderr(file);
        }
        let child = cmd
            .arg("serve")
            .env("RAPPORT_DATA_DIR", dir)
            .env("RAPPORT_LISTEN", listen)
            .env("RAPPORT_LOG", "warn")
            // The tests' webhook receivers listen on 127.0.0.1.
            .env("RAPPORT_WEBHOOK_ALLOW_PRIVATE", "true")
            // Every test member signs up from 127.0.0.1.
            .env("RAPPORT_SIGNUPS_PER_ADDRESS", "1000000")
            .env("RAPPORT_CONFIG", dir.join("no-such-rapport.toml"))
            .spawn()
            .expect("rapport serve starts");
        Server { child, api }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Polls `/readyz` a bounded number of times; fails at once if the process has exited.
    pub async fn wait_ready(&mut self) {
        for _ in 0..1500 {
            if let Some(status) = self.child.try_wait().expect("process status") {
                panic!("rapport serve exited before it was ready: {status}");
            }
            if let Ok(r) = self.api.readyz().await {
                if r.status() == 200 {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("rapport serve never became ready");
    }

    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL"); // std's kill is SIGKILL on Unix
        self.child.wait().expect("reaped");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A write the server answered with a 2xx, and how to find it again as the member who made it.
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

fn integrity_check(db: &Path) -> String {
    let conn = rusqlite::Connection::open(db).expect("the database opens");
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check runs")
}

/// The rules, read straight from the tables of the killed server's database: each query counts
/// the rows that break one rule, and every count must be 0.
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
           GROUP BY min(sender_id, recipient_id), max(sender_id, recipient_id) HAVING count(*) > 1)",
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
        "SELECT count(*) FROM invitations
           WHERE (state = 'pending') <> (decided_at IS NULL)",
    ),
];

fn check_invariants(db: &Path, cycle: usize) {
    let conn = rusqlite::Connection::open(db).expect("the database opens");
    for (rule, sql) in INVARIANTS {
        let broken: i64 = conn
            .query_row(sql, [], |r| r.get(0))
            .unwrap_or_else(|e| panic!("{rule}: {e}"));
        assert_eq!(
            broken, 0,
            "cycle {cycle}: {broken} rows break the rule: no {rule}"
        );
    }
}

/// Each member's weekly quota as the restarted server reports it agrees with the invitations the
/// database holds for them (all sent this week; withdrawn ones still count).
async fn check_quotas(api: &Api, db: &Path, members: &[TestMember], cycle: usize) {
    let conn = rusqlite::Connection::open(db).expect("the database opens");
    for m in members {
        let sent: i64 = conn
            .query_row(
                "SELECT count(*) FROM invitations WHERE sender_id = ?1",
                [m.id.parse::<i64>().expect("a numeric id")],
                |r| r.get(0),
            )
            .expect("counts");
        let me = expect_json(api.me(&m.token).await, 200).await;
        let quota = &me["quota"];
        assert_eq!(quota["used"], sent, "cycle {cycle}: {quota}");
        assert_eq!(
            quota["remaining"].as_i64().unwrap() + sent,
            quota["weekly_limit"].as_i64().unwrap(),
            "cycle {cycle}: {quota}"
        );
    }
}

/// What one writer does, over and over, until stopped or the server is gone.
#[derive(Clone, Copy)]
enum Role {
    Send,
    Accept,
    Withdraw,
    SignUp,
}

struct Workload {
    api: Api,
    members: Arc<Vec<TestMember>>,
    pairs: Arc<Vec<(usize, usize)>>,
    walk: Arc<AtomicUsize>,
    signups: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    acks: mpsc::UnboundedSender<Ack>,
}

/// A request's status and JSON body, or `None` once the server is gone (killed mid-request).
async fn call(req: reqwest::RequestBuilder) -> Option<(u16, Value)> {
    let resp = req.send().await.ok()?;
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.ok()?;
    Some((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

impl Workload {
    fn post(&self, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.api
            .client
            .post(format!("{}{path}", self.api.address))
            .bearer_auth(token)
    }

    fn get(&self, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.api
            .client
            .get(format!("{}{path}", self.api.address))
            .bearer_auth(token)
    }

    /// A member of the network, hot ones (low numbers) more often.
    fn someone(&self, rng: &mut impl Rng) -> &TestMember {
        let n = self.members.len();
        &self.members[rng.gen_range(0..n).min(rng.gen_range(0..n))]
    }

    async fn run(self, role: Role, seed: u64) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        while !self.stop.load(Ordering::SeqCst) {
            let ack = match role {
                Role::Send => self.send().await,
                Role::Accept => self.accept(&mut rng).await,
                Role::Withdraw => self.withdraw(&mut rng).await,
                Role::SignUp => self.sign_up(seed).await,
            };
            match ack {
                None => return,
                Some(None) => continue,
                Some(Some(ack)) => {
                    let _ = self.acks.send(ack);
                }
            }
        }
    }

    /// Sends along the shared walk over all ordered pairs.
    async fn send(&self) -> Option<Option<Ack>> {
        let (s, r) = self.pairs[self.walk.fetch_add(1, Ordering::SeqCst) % self.pairs.len()];
        let (sender, recipient) = (&self.members[s], &self.members[r]);
        let body = serde_json::json!({"recipient_id": recipient.id});
        let (status, v) = call(self.post("/api/v1/invitations", &sender.token).json(&body)).await?;
        Some(match status {
            201 => Some(Ack::Invitation {
                id: v["id"].as_str()?.to_owned(),
                sender_token: sender.token.clone(),
            }),
            200 => Some(Ack::Connection {
                other: recipient.id.clone(),
                token: sender.token.clone(),
            }),
            // Already connected or pending, cooling down after a withdrawal, over a limit.
            409 | 429 => None,
            other => panic!("a send answered {other}: {v}"),
        })
    }

    /// Accepts the newest invitation someone received.
    async fn accept(&self, rng: &mut impl Rng) -> Option<Option<Ack>> {
        let me = self.someone(rng);
        let (status, page) =
            call(self.get("/api/v1/invitations/received?limit=5", &me.token)).await?;
        assert_eq!(status, 200, "received: {page}");
        let Some(inv) = page["items"].as_array().and_then(|items| items.first()) else {
            return Some(None);
        };
        let id = inv["id"].as_str()?;
        let path = format!("/api/v1/invitations/{id}/accept");
        let (status, v) = call(self.post(&path, &me.token)).await?;
        Some(match status {
            200 => Some(Ack::Connection {
                other: inv["sender"]["id"].as_str()?.to_owned(),
                token: me.token.clone(),
            }),
            // Withdrawn in the meantime.
            404 | 409 => None,
            other => panic!("an accept answered {other}: {v}"),
        })
    }

    /// Withdraws the oldest invitation someone has pending.
    async fn withdraw(&self, rng: &mut impl Rng) -> Option<Option<Ack>> {
        let me = self.someone(rng);
        let (status, page) =
            call(self.get("/api/v1/invitations/sent?limit=100", &me.token)).await?;
        assert_eq!(status, 200, "sent: {page}");
        let Some(inv) = page["items"].as_array().and_then(|items| items.last()) else {
            return Some(None);
        };
        let id = inv["id"].as_str()?.to_owned();
        let path = format!("/api/v1/invitations/{id}/withdraw");
        let (status, v) = call(self.post(&path, &me.token)).await?;
        Some(match status {
            204 => Some(Ack::Withdrawn {
                id,
                sender_token: me.token.clone(),
            }),
            // Accepted in the meantime.
            409 => None,
            other => panic!("a withdraw answered {other}: {v}"),
        })
    }

    async fn sign_up(&self, writer: u64) -> Option<Option<Ack>> {
        let n = self.signups.fetch_add(1, Ordering::SeqCst);
        let body = serde_json::json!({
            "email": format!("late.{writer}.{n}@example.com"),
            "password": PASSWORD,
            "name": format!("Late {n}"),
        });
        let req = self
            .api
            .client
            .post(format!("{}/api/v1/auth/signup", self.api.address))
            .json(&body);
        let (status, v) = call(req).await?;
        assert_eq!(status, 201, "signup: {v}");
        Some(Some(Ack::Member {
            id: v["member"]["id"].as_str()?.to_owned(),
            token: v["token"].as_str()?.to_owned(),
        }))
    }
}

/// Checks every acknowledged write through the API of a freshly started server. An invitation
/// acknowledged as sent may since have been accepted or withdrawn (also acknowledged, or not):
/// it must still be there for its sender, in whatever state.
async fn verify(api: &Api, acked: &[Ack], cycle: usize) {
    for ack in acked {
        match ack {
            Ack::Invitation { id, sender_token } => {
                let r = api.invitation(sender_token, id).await;
                assert_eq!(
                    r.status(),
                    200,
                    "cycle {cycle}: acknowledged invitation {id} lost"
                );
            }
            Ack::Withdrawn { id, sender_token } => {
                let v = expect_json(api.invitation(sender_token, id).await, 200).await;
                assert_eq!(
                    v["state"], "withdrawn",
                    "cycle {cycle}: acknowledged withdrawal of {id} lost"
                );
            }
            Ack::Connection { other, token } => {
                let v = expect_json(api.member(token, other).await, 200).await;
                assert_eq!(
                    v["relationship"]["state"], "connected",
                    "cycle {cycle}: acknowledged connection with {other} lost"
                );
            }
            Ack::Member { id, token } => {
                let v = expect_json(api.me(token).await, 200).await;
                assert_eq!(v["id"], id.as_str(), "cycle {cycle}: signed-up member lost");
            }
        }
    }
}

fn cycles() -> usize {
    std::env::var("RAPPORT_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

/// A number from the server's `/metrics` text: the sum of every series named `name` exactly (all
/// label sets).
async fn metric(api: &Api, name: &str) -> f64 {
    let text = api
        .client
        .get(format!("{}/metrics", api.address))
        .send()
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// What one crash run found.
struct Survived {
    acked: Vec<Ack>,
    /// Final checkpoint passes and log restarts the servers reported just before they were killed,
    /// summed over the cycles.
    final_passes: f64,
    restarts: f64,
}

/// Starts `rapport serve` with `settings`, then `cycles` times: writes until a random moment, kills
/// it, checks the database and restarts it on the same data directory.
async fn kill_and_restart(settings: &[(&str, &str)], cycles: usize, seed: u64) -> Survived {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("rapport.db");
    let mut server = Server::start_with(dir.path(), settings);
    server.wait_ready().await;
    let mut members = Vec::new();
    for i in 0..30 {
        members.push(server.api.signup_member(&format!("Crash {i}")).await);
    }
    let members = Arc::new(members);
    let pairs: Arc<Vec<(usize, usize)>> = Arc::new(
        (0..members.len())
            .flat_map(|s| (0..members.len()).map(move |r| (s, r)))
            .filter(|(s, r)| s != r)
            .collect(),
    );
    let walk = Arc::new(AtomicUsize::new(0));
    let signups = Arc::new(AtomicUsize::new(0));
    let mut acked: Vec<Ack> = Vec::new();
    let (mut final_passes, mut restarts) = (0.0, 0.0);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let roles = [
        Role::Send,
        Role::Send,
        Role::Send,
        Role::Send,
        Role::Accept,
        Role::Accept,
        Role::Withdraw,
        Role::Withdraw,
        Role::SignUp,
        Role::SignUp,
    ];

    for cycle in 0..cycles {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut writers = Vec::new();
        for (w, role) in roles.iter().enumerate() {
            let load = Workload {
                api: server.api.clone(),
                members: members.clone(),
                pairs: pairs.clone(),
                walk: walk.clone(),
                signups: signups.clone(),
                stop: stop.clone(),
                acks: tx.clone(),
            };
            writers.push(tokio::spawn(
                load.run(*role, (cycle * roles.len() + w) as u64),
            ));
        }
        drop(tx);

        // Kill at a random moment: after 1 to 40 acknowledged writes this cycle, then 0 to 20 ms
        // more, with every writer still going.
        let kill_after = rng.gen_range(1..=40);
        for _ in 0..kill_after {
            let ack = rx.recv().await.expect("the writers acknowledge writes");
            acked.push(ack);
        }
        final_passes += metric(
            &server.api,
            "rapport_store_checkpoint_seconds_count{pass=\"final\"}",
        )
        .await;
        restarts += metric(&server.api, "rapport_store_wal_restarts_total").await;
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..=20))).await;
        server.kill();
        stop.store(true, Ordering::SeqCst);
        for w in writers {
            w.await.expect("a writer panicked");
        }
        while let Ok(ack) = rx.try_recv() {
            acked.push(ack);
        }

        assert_eq!(integrity_check(&db), "ok", "cycle {cycle}");
        check_invariants(&db, cycle);

        server = Server::start_with(dir.path(), settings);
        server.wait_ready().await;
        verify(&server.api, &acked, cycle).await;
        check_quotas(&server.api, &db, &members, cycle).await;
    }
    server.kill();
    Survived {
        acked,
        final_passes,
        restarts,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_kill_9_and_the_database_stays_intact() {
    let cycles = cycles();
    let acked = kill_and_restart(&[], cycles, 20261123).await.acked;
    let count = |f: fn(&Ack) -> bool| acked.iter().filter(|a| f(a)).count();
    let (sent, connected, withdrawn, joined) = (
        count(|a| matches!(a, Ack::Invitation { .. })),
        count(|a| matches!(a, Ack::Connection { .. })),
        count(|a| matches!(a, Ack::Withdrawn { .. })),
        count(|a| matches!(a, Ack::Member { .. })),
    );
    // Quoted by RELIABILITY.md.
    println!(
        "reliability: crash cycles={cycles} acknowledged writes checked={} (sent {sent}, connected \
         {connected}, withdrawn {withdrawn}, signed up {joined}) lost=0 integrity=ok invariants={} quotas=consistent",
        acked.len(),
        INVARIANTS.len()
    );
    // Sign-ups hash a password (argon2, tens of milliseconds on a busy host), so on a slow machine
    // a kill can land before any completes; what matters is that every cycle had writes to lose.
    assert!(
        sent > 0 && acked.len() >= cycles,
        "the workload wrote too little: {acked:?}"
    );
}

/// The same, with the server checkpointing without pause: a background pass as soon as the last
/// one ends and the log started again every 64KiB (16 pages), so that most kills land while a
/// checkpoint copies pages into the database or the writer restarts the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_kill_9_during_checkpoints() {
    let cycles = cycles().div_ceil(2);
    let settings = [
        ("RAPPORT_SQLITE_CHECKPOINT_INTERVAL", "0ms"),
        ("RAPPORT_SQLITE_WAL_RESTART_SIZE", "64KiB"),
    ];
    let survived = kill_and_restart(&settings, cycles, 20261203).await;
    println!(
        "reliability: kills during checkpoints cycles={cycles} acknowledged writes checked={} \
         final passes={} log restarts={} lost=0 integrity=ok",
        survived.acked.len(),
        survived.final_passes,
        survived.restarts
    );
    assert!(
        survived.acked.len() >= cycles,
        "the workload wrote too little"
    );
    assert!(
        survived.final_passes > 0.0 && survived.restarts > 0.0,
        "the server never checkpointed: {} final passes, {} restarts",
        survived.final_passes,
        survived.restarts
    );
}
