//! What the load is made of: the scenarios, the operations they cycle through, and who does
//! what — which token holder acts (skewed towards the busiest), whose profile they look at, what
//! they search for, which pending invitation they accept or withdraw.

use super::client::Conn;
use hyper::Method;
use rand::rngs::StdRng;
use rand::Rng;
use rapport_synth::Network;
use serde::{Deserialize, Serialize};
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Scenario {
    Noop,
    Send,
    Accept,
    Withdraw,
    Inbox,
    Mixed,
    Profile,
    Search,
}

impl Scenario {
    pub(crate) fn name(self) -> String {
        format!("{self:?}").to_lowercase()
    }

    /// The operations a run of this scenario cycles through.
    pub(crate) fn ops(self) -> &'static [Op] {
        match self {
            Scenario::Noop => &[Op::Noop],
            Scenario::Send => &[Op::Send],
            Scenario::Accept => &[Op::Accept],
            Scenario::Withdraw => &[Op::Withdraw],
            Scenario::Inbox => &[Op::Inbox],
            Scenario::Mixed => &MIXED,
            Scenario::Profile => &[Op::Profile],
            Scenario::Search => &[Op::Search],
        }
    }

    /// Whether it acts on invitations a run of sends left pending.
    pub(crate) fn acts_on_pending(self) -> bool {
        matches!(self, Scenario::Accept | Scenario::Withdraw)
    }
}

pub(crate) const DEFAULT_SCENARIOS: [Scenario; 8] = [
    Scenario::Noop,
    Scenario::Mixed,
    Scenario::Inbox,
    Scenario::Send,
    Scenario::Accept,
    Scenario::Withdraw,
    Scenario::Profile,
    Scenario::Search,
];

pub(crate) const GROWTH_SCENARIOS: [Scenario; 4] = [
    Scenario::Mixed,
    Scenario::Inbox,
    Scenario::Profile,
    Scenario::Search,
];

#[derive(Debug, Clone, Copy)]
pub(crate) enum Op {
    Noop,
    Send,
    Accept,
    Withdraw,
    Inbox,
    Profile,
    Search,
}

/// The 12-operation cycle of the mixed workload: 5 send, 2 accept, 1 withdraw, 4 inbox reads.
pub(crate) const MIXED: [Op; 12] = [
    Op::Send,
    Op::Inbox,
    Op::Send,
    Op::Accept,
    Op::Inbox,
    Op::Send,
    Op::Withdraw,
    Op::Send,
    Op::Inbox,
    Op::Accept,
    Op::Send,
    Op::Inbox,
];

/// What all workers share.
pub(crate) struct World {
    /// host:port of each server; worker k connects to `addrs[k % addrs.len()]`.
    pub addrs: Vec<String>,
    /// The token holders: their tokens, member ids (as the API writes them) and network nodes.
    pub tokens: Vec<String>,
    pub ids: Vec<String>,
    pub nodes: Vec<u32>,
    /// The seeded network, for choosing whose profile to look at.
    pub net: Network,
    /// Search queries, URL-encoded, drawn from the seeded profiles (common words come up often).
    pub queries: Vec<String>,
    pub skew: f64,
    /// Pending invitations this run created: (invitation id, sender index, recipient index).
    pub pending: Mutex<Vec<(String, usize, usize)>>,
    /// The embedded store's write-ahead log, watched during each run (none on PostgreSQL).
    pub wal: Option<std::path::PathBuf>,
}

impl World {
    /// The server worker `w` talks to.
    pub(crate) fn addr(&self, w: usize) -> &str {
        &self.addrs[w % self.addrs.len()]
    }

    /// Invitations sent and not yet accepted or withdrawn.
    pub(crate) fn pending(&self) -> usize {
        self.pending.lock().map(|p| p.len()).unwrap_or(0)
    }

    /// A token holder, skewed towards the first ones.
    fn actor(&self, rng: &mut StdRng) -> usize {
        let n = self.tokens.len();
        let u: f64 = rng.gen();
        ((u.powf(self.skew) * n as f64) as usize).min(n - 1)
    }

    /// Whose profile `viewer` looks at: a connection (1 in 4), someone two steps away (1 in 2, as
    /// people browse their 2nd degree) or anyone (1 in 4); never themself.
    fn profile_of(&self, viewer: u32, rng: &mut StdRng) -> u32 {
        let n = self.net.members() as u32;
        let r: f64 = rng.gen();
        let steps = if r < 0.25 {
            1
        } else if r < 0.75 {
            2
        } else {
            0
        };
        let mut at = viewer;
        for _ in 0..steps {
            let next = self.net.neighbours(at);
            if next.is_empty() {
                break;
            }
            at = next[rng.gen_range(0..next.len())];
        }
        while at == viewer {
            at = rng.gen_range(0..n);
        }
        at
    }

    /// Sends one request as token holder `m`; its status, or `None` on a transport error.
    async fn ask(
        &self,
        c: &mut Conn,
        method: Method,
        path: &str,
        m: usize,
        body: Option<String>,
    ) -> Option<(u16, bytes::Bytes)> {
        c.request(method, path, Some(&self.tokens[m]), body).await
    }

    /// One operation; the HTTP status, or `None` on a transport error.
    pub(crate) async fn one(&self, c: &mut Conn, op: Op, rng: &mut StdRng) -> Option<u16> {
        match op {
            Op::Noop => c
                .request(Method::GET, "/healthz", None, None)
                .await
                .map(|(s, _)| s),
            Op::Inbox => self.read_inbox(c, rng).await,
            Op::Send => {
                let a = self.actor(rng);
                let mut b = self.actor(rng);
                while b == a {
                    b = self.actor(rng);
                }
                let body = format!(
                    r#"{{"recipient_id":"{}","note":"Hello from the load test"}}"#,
                    self.ids[b]
                );
                let (status, bytes) = self
                    .ask(c, Method::POST, "/api/v1/invitations", a, Some(body))
                    .await?;
                if status == 201 {
                    if let Some(id) = sent_id(&bytes) {
                        if let Ok(mut p) = self.pending.lock() {
                            p.push((id, a, b));
                        }
                    }
                }
                Some(status)
            }
            Op::Accept | Op::Withdraw => {
                let taken = self.pending.lock().ok().and_then(|mut p| {
                    if p.is_empty() {
                        None
                    } else {
                        let i = rng.gen_range(0..p.len());
                        Some(p.swap_remove(i))
                    }
                });
                let Some((id, sender, recipient)) = taken else {
                    // Nothing to act on yet: read the inbox instead of spinning.
                    return self.read_inbox(c, rng).await;
                };
                let (who, verb) = if matches!(op, Op::Accept) {
                    (recipient, "accept")
                } else {
                    (sender, "withdraw")
                };
                let path = format!("/api/v1/invitations/{id}/{verb}");
                self.ask(c, Method::POST, &path, who, None)
                    .await
                    .map(|(s, _)| s)
            }
            Op::Profile => {
                let m = self.actor(rng);
                let other = self.profile_of(self.nodes[m], rng);
                let path = format!("/api/v1/members/{}", other + 1);
                self.ask(c, Method::GET, &path, m, None)
                    .await
                    .map(|(s, _)| s)
            }
            Op::Search => {
                let m = self.actor(rng);
                let q = &self.queries[rng.gen_range(0..self.queries.len())];
                let path = format!("/api/v1/members?q={q}&limit=20");
                self.ask(c, Method::GET, &path, m, None)
                    .await
                    .map(|(s, _)| s)
            }
        }
    }

    /// The first page of a member's received invitations.
    async fn read_inbox(&self, c: &mut Conn, rng: &mut StdRng) -> Option<u16> {
        let m = self.actor(rng);
        let path = "/api/v1/invitations/received?limit=20";
        self.ask(c, Method::GET, path, m, None)
            .await
            .map(|(s, _)| s)
    }
}

/// Of the Invitation a send answers with, the id an accept or withdraw names (the rest is left
/// unread).
#[derive(Deserialize)]
struct Sent {
    id: String,
}

/// The id of the invitation in a send's answer, whatever the order of its fields.
fn sent_id(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<Sent>(body)
        .ok()
        .map(|sent| sent.id)
}

/// 4,096 search queries from random profiles, a third each: a full name, a surname, the first word
/// of a company. Drawn from profiles, so common words come up as often as they are common.
pub(crate) fn search_queries(net: &Network, rng: &mut StdRng) -> Vec<String> {
    (0..4096)
        .map(|i| {
            let p = &net.profiles[rng.gen_range(0..net.members())];
            let q = match i % 3 {
                0 => p.name(),
                1 => p
                    .name()
                    .split(' ')
                    .next_back()
                    .unwrap_or_default()
                    .to_owned(),
                _ => p.company().split(' ').next().unwrap_or_default().to_owned(),
            };
            // Profile words are ASCII letters; only the space needs encoding in a query string.
            q.replace(' ', "%20")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::sent_id;

    #[test]
    fn the_sent_invitation_id_is_read_wherever_the_server_writes_it() {
        // Reading the answer as JSON, not as bytes that begin `{"id":"`, survives a change in the
        // order of the fields.
        let first = br#"{"id":"42","note":null,"sender":{"id":"7","name":"Ada"}}"#;
        let later = br#"{"sender":{"id":"7","name":"Ada"},"state":"pending","id":"42"}"#;
        assert_eq!(sent_id(first).as_deref(), Some("42"));
        assert_eq!(sent_id(later).as_deref(), Some("42"));
        assert_eq!(sent_id(br#"{"type":"about:blank","status":409}"#), None);
    }
}
