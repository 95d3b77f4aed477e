//! Which store the suite runs on. By default each server gets a temporary SQLite file; with
//! `RAPPORT_TEST_BACKEND=postgres` each gets a fresh database of its own on the PostgreSQL at
//! `RAPPORT_TEST_POSTGRES_URL` (default: the one on this machine, 127.0.0.1:5432, database `test`),
//! dropped again when the server is. The same tests then check both stores: the conformance suite.
//! A PostgreSQL that cannot be reached fails the test; it never skips it.

use rapport_app::Database;
use rapport_store::postgres::scratch::{self, ScratchDatabase};
use std::path::Path;

/// Does this run use PostgreSQL?
pub fn postgres() -> bool {
    std::env::var("RAPPORT_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

/// A fresh PostgreSQL database (whatever the backend of this run), failing the test when the
/// server cannot be reached.
pub async fn fresh_postgres() -> ScratchDatabase {
    ScratchDatabase::create(&scratch::server_url(), "rapport_t")
        .await
        .unwrap_or_else(|e| {
            panic!("{e}; the PostgreSQL tests need it (set RAPPORT_TEST_POSTGRES_URL)")
        })
}

/// A store for one server, kept for as long as the server runs.
pub struct TestDatabase {
    pub database: Database,
    _postgres: Option<ScratchDatabase>,
}

impl TestDatabase {
    /// A new store: a SQLite file in `dir`, or a fresh PostgreSQL database.
    pub async fn create(dir: &Path) -> TestDatabase {
        if !postgres() {
            return TestDatabase {
                database: Database::Sqlite(dir.join("rapport.db")),
                _postgres: None,
            };
        }
        let db = fresh_postgres().await;
        TestDatabase {
            database: Database::Postgres(db.url.clone()),
            _postgres: Some(db),
        }
    }
}

impl TestDatabase {
    /// The store as `RAPPORT_DATABASE_URL` names it, for the real binary run on the same store.
    pub fn url(&self) -> String {
        match &self.database {
            Database::Sqlite(path) => format!("sqlite://{}", path.display()),
            Database::Postgres(url) => url.clone(),
        }
    }
}

/// Runs statements on the test server's own database.
pub async fn admin(sql: &str) {
    scratch::admin(&scratch::server_url(), sql)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// `url` with its database replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    scratch::with_database(url, name)
}

/// The server tests create databases on.
pub fn postgres_url() -> String {
    scratch::server_url()
}
