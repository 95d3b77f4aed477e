//! How many statements each member operation sends to PostgreSQL, counted exactly (each is one
//! round trip), on a replica that has served these members before: a request that is signed in
//! with a known token costs no look-up, a send, accept,
//! ignore or withdrawal is BEGIN, one read, one write, COMMIT, and an inbox page or a profile is
//! read in at most two. The test fails when a change adds a round trip. Always on PostgreSQL (the
//! server of `RAPPORT_TEST_POSTGRES_URL`); it fails when that cannot be reached.

use rapport_app::views::Sent;
use rapport_app::{App, Config, Database, PageRequest, SeedMember, SendInput};
use rapport_domain::{IgnoreReason, MemberId, SystemClock};
use rapport_store::postgres::count_statements;
use rapport_store::postgres::scratch::{server_url, ScratchDatabase};
use std::sync::Arc;

struct Network {
    app: App,
    _stop: tokio::sync::watch::Sender<bool>,
    ids: Vec<MemberId>,
    tokens: Vec<String>,
    _db: ScratchDatabase,
    _dir: tempfile::TempDir,
}

/// Ada, Bob, Cy, Di and Eve on a fresh database; Cy is connected to Ada and Bob, so their cards
/// show a mutual connection.
async fn network() -> Network {
    let db = ScratchDatabase::create(&server_url(), "rapport_round_trips")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut config = Config::defaults();
    config.data_dir = dir.path().to_owned();
    config.database = Database::Postgres(db.url.clone());
    let app = App::open(config, Arc::new(SystemClock))
        .await
        .expect("the app opens");
    // The workers, as `rapport serve` runs them: among them the token cache's following of
    // revocations, without which a replica caches no token.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(app.clone().run_workers(stopped));
    let members = ["Ada", "Bob", "Cy", "Di", "Eve"]
        .iter()
        .map(|name| SeedMember {
            email: format!("{}@example.com", name.to_lowercase()),
            name: (*name).into(),
            ..Default::default()
        })
        .collect();
    let seeded = app
        .seed_members(members, "correct horse battery")
        .await
        .expect("members are seeded");
    let ids = seeded.iter().map(|s| s.0).collect::<Vec<_>>();
    let tokens = seeded.into_iter().map(|s| s.1).collect::<Vec<_>>();
    let net = Network {
        app,
        _stop: stop,
        ids,
        tokens,
        _db: db,
        _dir: dir,
    };
    for friend in [0, 1] {
        let id = net.invite(2, friend).await;
        net.app
            .accept(net.ids[friend], &id)
            .await
            .expect("Cy's invitation is accepted");
    }
    // Every member has signed in and read their inbox once: the replica's caches know their
    // token, their name and whom they are hidden from.
    for t in &net.tokens {
        let me = net.app.authenticate(t).await.expect("a known token");
        net.app
            .received(me, PageRequest::default())
            .await
            .expect("the inbox");
        // The replica caches tokens once it listens for revocations (it connects in the
        // background): wait for that, a bounded number of times.
        let mut cached = false;
        for _ in 0..500 {
            let (_, n) = count_statements(net.app.authenticate(t)).await;
            if n == 0 {
                cached = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(cached, "the token cache never served the token");
    }
    net
}

impl Network {
    async fn invite(&self, from: usize, to: usize) -> String {
        let sent = self
            .app
            .send_invitation(
                self.ids[from],
                SendInput {
                    recipient_id: self.ids[to].to_string(),
                    note: Some("Hello".into()),
                    recipient_email: None,
                },
            )
            .await
            .expect("the invitation is sent");
        match sent {
            Sent::Invitation(inv) => inv.id,
            Sent::Connected(_) => panic!("a new invitation was expected"),
        }
    }

    /// Runs one signed-in request of member `who` as the API does (the token first), and
    /// returns how many statements it sent.
    async fn counted<F, Fut, T>(&self, who: usize, op: F) -> u64
    where
        F: FnOnce(MemberId) -> Fut,
        Fut: std::future::Future<Output = rapport_app::AppResult<T>>,
    {
        let token = self.tokens[who].clone();
        let (result, n) = count_statements(async {
            let me = self.app.authenticate(&token).await?;
            op(me).await
        })
        .await;
        if let Err(e) = result {
            panic!("the operation failed: {e:?}");
        }
        n
    }
}

#[tokio::test]
async fn each_member_operation_costs_at_most_its_round_trips() {
    let net = network().await;
    let app = &net.app;
    let (ada, bob, di, eve) = (net.ids[0], net.ids[1], net.ids[3], net.ids[4]);

    let send = net
        .counted(0, |me| async move {
            app.send_invitation(
                me,
                SendInput {
                    recipient_id: bob.to_string(),
                    note: Some("We both know Cy".into()),
                    recipient_email: None,
                },
            )
            .await
        })
        .await;
    let inbox = net
        .counted(1, |me| async move {
            app.received(me, PageRequest::default()).await
        })
        .await;
    let profile = net
        .counted(
            1,
            |me| async move { app.member(me, &ada.to_string()).await },
        )
        .await;
    let invitation = app
        .received(bob, PageRequest::default())
        .await
        .expect("Bob's inbox")
        .items[0]
        .id
        .clone();
    let accept = net
        .counted(1, |me| async move { app.accept(me, &invitation).await })
        .await;

    let to_ignore = net.invite(0, 3).await;
    let ignore = net
        .counted(3, |me| async move {
            app.ignore(me, &to_ignore, Some(IgnoreReason::DontKnow))
                .await
        })
        .await;
    let to_withdraw = net.invite(0, 4).await;
    let withdraw = net
        .counted(0, |me| async move { app.withdraw(me, &to_withdraw).await })
        .await;
    let _ = (di, eve);

    let counts = [
        ("send", send, 4),
        ("accept", accept, 4),
        ("ignore", ignore, 4),
        ("withdraw", withdraw, 4),
        ("inbox page", inbox, 1),
        ("profile", profile, 2),
    ];
    for (op, n, _) in counts {
        println!("{op}: {n} statements");
    }
    for (op, n, most) in counts {
        assert!(
            n <= most,
            "{op} sent {n} statements, at most {most} expected"
        );
    }
}
