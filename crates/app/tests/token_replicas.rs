//! Replicas over one PostgreSQL database share the tokens table, and each caches the tokens it
//! saw: a token kept alive by its use on one replica still works on another whose cache last saw it
//! long ago, and a token idle everywhere is refused everywhere. Always on PostgreSQL (the server of
//! `RAPPORT_TEST_POSTGRES_URL`); it fails when that cannot be reached.

use rapport_app::{App, AppError, Config, Database, SeedMember};
use rapport_domain::{ManualClock, Timestamp};
use rapport_store::postgres::count_statements;
use rapport_store::postgres::scratch::{server_url, ScratchDatabase};
use std::sync::Arc;
use std::time::Duration;

const DAY: Duration = Duration::from_secs(86_400);

struct Replica {
    app: App,
    _stop: tokio::sync::watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

/// A replica as `rapport serve` runs one, workers and all (among them the following of the other
/// replicas' revocations, without which it caches no token).
async fn replica(url: &str, clock: Arc<ManualClock>) -> Replica {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut config = Config::defaults();
    config.data_dir = dir.path().to_owned();
    config.database = Database::Postgres(url.to_owned());
    let app = App::open(config, clock).await.expect("the app opens");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(app.clone().run_workers(stopped));
    Replica {
        app,
        _stop: stop,
        _dir: dir,
    }
}

/// Authenticates until the replica's cache serves the token (it caches once it listens for
/// revocations, which it starts in the background), a bounded number of times.
async fn cached_on(replica: &Replica, token: &str) {
    for _ in 0..500 {
        let (member, statements) = count_statements(replica.app.authenticate(token)).await;
        member.expect("the token works");
        if statements == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the token cache never served the token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_used_on_one_replica_lives_on_every_replica_and_dies_on_every_one() {
    let db = ScratchDatabase::create(&server_url(), "rapport_token_replicas")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let clock = Arc::new(ManualClock::new(Timestamp(1_800_000_000_000)));
    let (a, b) = (
        replica(&db.url, clock.clone()).await,
        replica(&db.url, clock.clone()).await,
    );
    let member = SeedMember {
        email: "ada@example.com".into(),
        name: "Ada".into(),
        ..Default::default()
    };
    let seeded = a
        .app
        .seed_members(vec![member], "correct horse battery")
        .await
        .expect("seeded");
    let token = seeded[0].1.clone();
    cached_on(&a, &token).await;
    cached_on(&b, &token).await;

    // Used on B only, for 8 days: A's cache last saw it unused for longer than the idle lifetime.
    clock.advance(6 * DAY);
    b.app.authenticate(&token).await.expect("alive on B");
    // A sweep waits for B's own writes of last uses: B's use is in the store from here on.
    b.app.sweep().await.expect("B sweeps");
    clock.advance(2 * DAY);
    a.app
        .authenticate(&token)
        .await
        .expect("alive on A too: the store knows B's use");

    // Then unused everywhere for the idle lifetime: refused on both, whatever each cached.
    clock.advance(7 * DAY);
    for replica in [&a, &b] {
        assert!(matches!(
            replica.app.authenticate(&token).await,
            Err(AppError::Unauthenticated)
        ));
    }
}
