//! The PostgreSQL store hears the other stores on its database: every deleted sign-in token reaches
//! every store's [`Peers::revoked`], and a lost listening connection shows in [`Peers::listening`]
//! until another one listens.
//!
//! On a fresh database of the PostgreSQL at `RAPPORT_TEST_POSTGRES_URL` (default: 127.0.0.1:5432),
//! dropped at the end; a PostgreSQL that cannot be reached fails the test. Every wait is a bounded
//! wait for a notification, never a sleep.

use rapport_domain::{Email, Timestamp};
use rapport_store::postgres::scratch::{server_url, ScratchDatabase};
use rapport_store::postgres::PgStore;
use rapport_store::*;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

const T0: Timestamp = Timestamp(1_800_000_000_000);

/// A bound on waits for what should happen within a second or so.
const PATIENCE: Duration = Duration::from_secs(10);

async fn database() -> ScratchDatabase {
    ScratchDatabase::create(&server_url(), "rapport_peers")
        .await
        .unwrap_or_else(|e| panic!("{e}; the PostgreSQL tests need it"))
}

async fn open(db: &ScratchDatabase) -> PgStore {
    PgStore::open(&db.url, None, Arc::new(|_: &[Change]| {}))
        .await
        .expect("the store opens")
}

async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: not within {PATIENCE:?}"))
}

/// Waits until `peers` listens, and says on which connection.
async fn listening(peers: &mut Peers) -> u64 {
    within(
        "the store listens",
        peers.listening.wait_for(Option::is_some),
    )
    .await
    .expect("the store is open")
    .expect("listening")
}

async fn member(store: &PgStore, i: usize) -> rapport_domain::MemberId {
    store
        .create_member(NewMember {
            email: Email::parse(&format!("m{i}@example.com")).expect("email"),
            password_hash: "x".into(),
            name: format!("Member {i}"),
            headline: String::new(),
            company: String::new(),
            location: String::new(),
            at: T0,
        })
        .await
        .expect("created")
        .id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_deleted_through_one_store_is_heard_by_another_on_the_same_database() {
    let db = database().await;
    let (a, b) = (open(&db).await, open(&db).await);
    let mut heard = b.peers().expect("a shared store has peers");
    listening(&mut heard).await;

    // A logout: the one token.
    let ada = member(&a, 1).await;
    a.insert_token([1; 32], ada, T0).await.expect("inserted");
    a.insert_token([2; 32], ada, T0).await.expect("inserted");
    a.delete_token([1; 32], T0).await.expect("deleted");
    let hash = within("the logout is heard", heard.revoked.recv()).await;
    assert_eq!(hash.expect("a revocation"), [1; 32]);

    // A password change: every token the member still has.
    a.set_password(ada, "y".into(), T0).await.expect("changed");
    let hash = within("the password change is heard", heard.revoked.recv()).await;
    assert_eq!(hash.expect("a revocation"), [2; 32]);
    assert!(
        heard.revoked.is_empty(),
        "nothing else was revoked: {:?}",
        heard.revoked.try_recv()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_loses_its_listening_connection_says_so_until_it_listens_on_another() {
    let db = database().await;
    let store = open(&db).await;
    let mut peers = store.peers().expect("a shared store has peers");
    let first = listening(&mut peers).await;

    let (client, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .expect("connects");
    let driver = tokio::spawn(connection);
    let ended: i64 = client
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
              WHERE datname = current_database() AND query LIKE 'LISTEN%'",
            &[],
        )
        .await
        .expect("terminated")
        .get(0);
    assert_eq!(ended, 1, "the store listens on one connection");
    drop(client);
    let _ = driver.await;

    within(
        "the lost connection shows",
        peers.listening.wait_for(Option::is_none),
    )
    .await
    .expect("the store is open");
    let second = listening(&mut peers).await;
    assert_ne!(first, second, "a new connection has a new number");

    // And revocations are heard again on it.
    let ada = member(&store, 1).await;
    store
        .insert_token([7; 32], ada, T0)
        .await
        .expect("inserted");
    store.delete_token([7; 32], T0).await.expect("deleted");
    let hash = within("the logout is heard", peers.revoked.recv()).await;
    assert_eq!(hash.expect("a revocation"), [7; 32]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_store_has_no_peers() {
    let dir = tempfile::tempdir().expect("a directory");
    let store = rapport_store::sqlite::SqliteStore::open(
        &dir.path().join("rapport.db"),
        Arc::new(|_: &[Change]| {}),
    )
    .expect("opens");
    assert!(store.peers().is_none());
}
