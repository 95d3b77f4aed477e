//! A replica killed with SIGKILL mid-workload: writers on both replicas send, accept, withdraw and
//! sign up until A dies and B goes on alone; every write either replica acknowledged is then found
//! through the survivor, and the shared tables still keep every rule.

use super::*;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

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
