//! Fresh databases on a PostgreSQL server, for tests and benchmarks: each gets one of its own,
//! dropped again when it is done with.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The PostgreSQL this machine runs (trust auth), where tests create their databases by default.
pub const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The server tests create databases on: `RAPPORT_TEST_POSTGRES_URL`, or [`DEFAULT_SERVER`].
pub fn server_url() -> String {
    std::env::var("RAPPORT_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_SERVER.into())
}

/// A database created for one test or run; dropped (with any connections still open) on drop.
pub struct ScratchDatabase {
    /// Its `postgres://` URL.
    pub url: String,
    server: String,
    name: String,
}

impl ScratchDatabase {
    /// Creates `<prefix>_<pid>_<n>` on the server at `server` (a URL of any database there).
    pub async fn create(server: &str, prefix: &str) -> Result<ScratchDatabase, String> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "{prefix}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        admin(server, &format!("CREATE DATABASE {name}")).await?;
        Ok(ScratchDatabase {
            url: with_database(server, &name),
            server: server.to_owned(),
            name,
        })
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let (server, sql) = (
            self.server.clone(),
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
        // On a thread of its own: drop cannot wait, and the caller's runtime may be ending.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                if let Err(e) = rt.block_on(admin(&server, &sql)) {
                    tracing::warn!(error = %e, "could not drop a scratch database");
                }
            }
        })
        .join();
    }
}

/// `url` with its database replaced by `name` (options kept).
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let server = match base[after_scheme..].find('/') {
        Some(i) => &base[..after_scheme + i],
        None => base,
    };
    format!("{server}/{name}{query}")
}

/// Runs statements (no parameters) on the database at `url`.
pub async fn admin(url: &str, sql: &str) -> Result<(), String> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|e| format!("PostgreSQL at {url} cannot be reached: {e}"))?;
    let driver = tokio::spawn(connection);
    let result = client
        .batch_execute(sql)
        .await
        .map_err(|e| format!("{sql}: {e}"));
    drop(client);
    let _ = driver.await;
    result
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_and_keeps_options() {
        assert_eq!(
            with_database("postgres://u@h:5432/test?pgbouncer=true", "x"),
            "postgres://u@h:5432/x?pgbouncer=true"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }
}
