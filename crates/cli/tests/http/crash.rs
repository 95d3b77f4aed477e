//! The real `rapport serve` process is killed with SIGKILL while writers are busy; after a restart
//! on the same data directory every write it acknowledged is there and SQLite finds the file intact.

use reqwest::Client;
use serde_json::{json, Value};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

struct Server {
    child: Child,
    base: String,
}

fn start(dir: &std::path::Path) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_rapport"))
        .arg("serve")
        .env("RAPPORT_DATA_DIR", dir)
        .env("RAPPORT_LISTEN", format!("127.0.0.1:{port}"))
        .env("RAPPORT_LOG", "warn")
        .env("RAPPORT_CONFIG", dir.join("no-such-file.toml"))
        .env_remove("RAPPORT_DATABASE_URL")
        .spawn()
        .expect("starts rapport serve");
    Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

/// Polls readiness a bounded number of times (the process needs a moment to bind).
async fn wait_ready(client: &Client, base: &str) {
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            if r.status() == 200 {
                return;
            }
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the server never became ready");
}

async fn signup(client: &Client, base: &str, i: usize) -> (String, String) {
    let r = client
        .post(format!("{base}/api/v1/auth/signup"))
        .json(&json!({"email": format!("crash{i}@example.com"), "password": "correct horse battery", "name": format!("Crash {i}")}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    (
        v["member"]["id"].as_str().unwrap().to_owned(),
        v["token"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_kill_9() {
    // Three cycles of: concurrent sends, SIGKILL mid-stream, restart, every acknowledged send found.
    let dir = tempfile::tempdir().unwrap();
    let client = Client::new();
    let mut server = start(dir.path());
    wait_ready(&client, &server.base).await;
    let mut members = Vec::new();
    for i in 0..16 {
        members.push(signup(&client, &server.base, i).await);
    }
    let members = Arc::new(members);
    // (invitation id, sender token) of every 201 the server gave.
    let acknowledged: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let mut next_pair = 0usize;

    for cycle in 0..3 {
        let stop = Arc::new(AtomicBool::new(false));
        let acked_this_cycle = Arc::new(AtomicUsize::new(0));
        let mut writers = Vec::new();
        for w in 0..8 {
            let (client, base, members, acknowledged, stop, count) = (
                client.clone(),
                server.base.clone(),
                members.clone(),
                acknowledged.clone(),
                stop.clone(),
                acked_this_cycle.clone(),
            );
            // Each writer walks its own share of the ordered pairs, so sends rarely collide.
            let start_at = next_pair + w * 30;
            writers.push(tokio::spawn(async move {
                let n = members.len();
                let mut k = start_at;
                while !stop.load(Ordering::SeqCst) {
                    let (s, r) = (k % n, (k / n) % n);
                    k += 1;
                    if s == r {
                        continue;
                    }
                    let sent = client
                        .post(format!("{base}/api/v1/invitations"))
                        .bearer_auth(&members[s].1)
                        .json(&json!({"recipient_id": members[r].0}))
                        .send()
                        .await;
                    let Ok(resp) = sent else { break };
                    if resp.status() == 201 {
                        if let Ok(v) = resp.json::<Value>().await {
                            let id = v["id"].as_str().unwrap_or_default().to_owned();
                            acknowledged
                                .lock()
                                .unwrap()
                                .push((id, members[s].1.clone()));
                            count.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
            }));
        }
        next_pair += 8 * 30;
        // Kill once this cycle has had some writes acknowledged, with the writers still going.
        while acked_this_cycle.load(Ordering::SeqCst) < 20 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        server.child.kill().unwrap(); // SIGKILL
        server.child.wait().unwrap();
        stop.store(true, Ordering::SeqCst);
        for w in writers {
            let _ = w.await;
        }

        let conn = rusqlite::Connection::open(dir.path().join("rapport.db")).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok", "cycle {cycle}");
        drop(conn);

        server = start(dir.path());
        wait_ready(&client, &server.base).await;
        let acked = acknowledged.lock().unwrap().clone();
        for (id, token) in &acked {
            let r = client
                .get(format!("{}/api/v1/invitations/{id}", server.base))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(
                r.status(),
                200,
                "acknowledged invitation {id} lost in cycle {cycle}"
            );
        }
    }
    assert!(acknowledged.lock().unwrap().len() >= 60);
    server.child.kill().unwrap();
    let _ = server.child.wait();
}
