//! The real `rapport serve` process is killed with SIGKILL while eight writers are busy; after a
//! restart on the same data directory every write it acknowledged is there, and SQLite finds the
//! database intact. Three cycles, each adding to what must survive.

use crate::helpers::*;
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
    fn start(dir: &Path) -> Server {
        Self::start_with(dir, &[])
    }

    /// Starts `rapport serve` on `dir` with extra settings.
    pub fn start_with(dir: &Path, settings: &[(&str, &str)]) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rapport"));
        for (name, _) in std::env::vars() {
            if name.starts_with("RAPPORT_") {
                cmd.env_remove(name);
            }
        }
        cmd.envs(settings.iter().copied());
        let child = cmd
            .arg("serve")
            .env("RAPPORT_DATA_DIR", dir)
            .env("RAPPORT_LISTEN", format!("127.0.0.1:{port}"))
            .env("RAPPORT_LOG", "warn")
            .env("RAPPORT_CONFIG", dir.join("no-such-rapport.toml"))
            .spawn()
            .expect("rapport serve starts");
        Server {
            child,
            api: Api::new(format!("http://127.0.0.1:{port}")),
        }
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
    /// `200 Connection`: the sender is connected to `other`.
    Connection { other: String, sender_token: String },
    /// `201` signup: the token works and names this member.
    Member { id: String, token: String },
}

fn integrity_check(db: &Path) -> String {
    let conn = rusqlite::Connection::open(db).expect("the database opens");
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check runs")
}

/// Sends invitations along the shared walk over all ordered pairs until stopped or refused.
async fn sender(
    api: Api,
    members: Arc<Vec<TestMember>>,
    pairs: Arc<Vec<(usize, usize)>>,
    walk: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    acks: mpsc::UnboundedSender<Ack>,
) {
    while !stop.load(Ordering::SeqCst) {
        let (s, r) = pairs[walk.fetch_add(1, Ordering::SeqCst) % pairs.len()];
        let body = serde_json::json!({"recipient_id": members[r].id});
        let Ok(resp) = api
            .client
            .post(format!("{}/api/v1/invitations", api.address))
            .bearer_auth(&members[s].token)
            .json(&body)
            .send()
            .await
        else {
            return; // the server is gone
        };
        let status = resp.status().as_u16();
        let Ok(v) = resp.json::<Value>().await else {
            return;
        };
        let sender_token = members[s].token.clone();
        let ack = match status {
            201 => Ack::Invitation {
                id: v["id"].as_str().unwrap_or_default().to_owned(),
                sender_token,
            },
            200 => Ack::Connection {
                other: v["member"]["id"].as_str().unwrap_or_default().to_owned(),
                sender_token,
            },
            409 => continue,
            other => panic!("a send answered {other}: {v}"),
        };
        let _ = acks.send(ack);
    }
}

/// Signs up new members until stopped or refused.
async fn signer(
    api: Api,
    writer: usize,
    counter: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    acks: mpsc::UnboundedSender<Ack>,
) {
    while !stop.load(Ordering::SeqCst) {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        let body = serde_json::json!({
            "email": format!("late.{writer}.{n}@example.com"),
            "password": PASSWORD,
            "name": format!("Late {n}"),
        });
        let Ok(resp) = api
            .client
            .post(format!("{}/api/v1/auth/signup", api.address))
            .json(&body)
            .send()
            .await
        else {
            return;
        };
        let status = resp.status().as_u16();
        let Ok(v) = resp.json::<Value>().await else {
            return;
        };
        assert_eq!(status, 201, "signup: {v}");
        let _ = acks.send(Ack::Member {
            id: v["member"]["id"].as_str().unwrap_or_default().to_owned(),
            token: v["token"].as_str().unwrap_or_default().to_owned(),
        });
    }
}

/// Checks every acknowledged write through the API of a freshly started server.
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
            Ack::Connection {
                other,
                sender_token,
            } => {
                let v = expect_json(api.member(sender_token, other).await, 200).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_kill_9_and_the_database_stays_intact() {
    // Three cycles of: eight concurrent writers, SIGKILL mid-stream, integrity_check, restart, and
    // every acknowledged invitation, connection and signup found again.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut server = Server::start(dir.path());
    server.wait_ready().await;
    let mut members = Vec::new();
    for i in 0..20 {
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

    for cycle in 0..3 {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut writers = Vec::new();
        for w in 0..8 {
            let (api, stop, tx) = (server.api.clone(), stop.clone(), tx.clone());
            writers.push(if w < 6 {
                tokio::spawn(sender(
                    api,
                    members.clone(),
                    pairs.clone(),
                    walk.clone(),
                    stop,
                    tx,
                ))
            } else {
                tokio::spawn(signer(api, w, signups.clone(), stop, tx))
            });
        }
        drop(tx);

        // Kill once this cycle has 25 acknowledged writes, with the writers still going.
        let mut this_cycle = 0;
        while this_cycle < 25 {
            let ack = rx.recv().await.expect("the writers acknowledge writes");
            acked.push(ack);
            this_cycle += 1;
        }
        server.kill();
        stop.store(true, Ordering::SeqCst);
        for w in writers {
            w.await.expect("a writer panicked");
        }
        while let Ok(ack) = rx.try_recv() {
            acked.push(ack);
        }
        println!("cycle {cycle}: {} writes acknowledged so far", acked.len());

        assert_eq!(
            integrity_check(&dir.path().join("rapport.db")),
            "ok",
            "cycle {cycle}"
        );

        server = Server::start(dir.path());
        server.wait_ready().await;
        verify(&server.api, &acked, cycle).await;
    }
    let invitations = acked
        .iter()
        .filter(|a| matches!(a, Ack::Invitation { .. }))
        .count();
    assert!(invitations > 0, "no invitation was acknowledged: {acked:?}");
    assert!(acked.len() >= 75);
    server.kill();
}
