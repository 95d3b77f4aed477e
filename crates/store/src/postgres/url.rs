//! The database URL and the pool made from it: rapport's own options (`pgbouncer=true`,
//! `pool_size=N`) are split off before the rest goes to the driver.

use super::*;

/// Connections each replica keeps to the database, unless the URL says `pool_size=N`. Fewer
/// connections than PostgreSQL has cores' worth of work queue less on each other's row locks:
/// on the 2-core benchmark machine 4 per replica served more than 8, and 8 more than 16
/// (BENCHMARKS.md).
const POOL_SIZE: usize = 8;

/// The largest `pool_size` a URL may ask for.
const MAX_POOL_SIZE: usize = 1_000;

/// A pool of connections to one server.
pub(super) fn pool(config: tokio_postgres::Config, size: usize) -> StoreResult<Pool> {
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        .wait_timeout(Some(Duration::from_secs(10)))
        .create_timeout(Some(Duration::from_secs(10)))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .map_err(|e| StoreError::Internal(e.to_string()))
}

/// A `postgres://` URL with rapport's own options split off.
pub(super) struct Url {
    pub config: tokio_postgres::Config,
    /// `pgbouncer=true` (a transaction-mode pooler sits in between) turns statement caching off.
    pub cache_statements: bool,
    /// `pool_size=N`: connections this replica keeps ([`POOL_SIZE`] by default).
    pub pool_size: usize,
}

/// Splits rapport's own options (`pgbouncer`, `pool_size`) off a `postgres://` URL and parses the
/// rest as the driver's configuration.
pub(super) fn parse_url(url: &str) -> StoreResult<Url> {
    let invalid =
        |why: String| StoreError::Internal(format!("the database URL is not valid: {why}"));
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, q),
        None => (url, ""),
    };
    let mut cache_statements = true;
    let mut pool_size = POOL_SIZE;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("pgbouncer", v)) => cache_statements = !matches!(v, "true" | "1" | "on"),
            Some(("pool_size", v)) => {
                pool_size = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_POOL_SIZE).contains(n))
                    .ok_or_else(|| {
                        invalid(format!(
                            "pool_size must be a number from 1 to {MAX_POOL_SIZE}"
                        ))
                    })?;
            }
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    let config: tokio_postgres::Config = url.parse().map_err(|e| invalid(format!("{e}")))?;
    Ok(Url {
        config,
        cache_statements,
        pool_size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rapport_options_are_split_off_the_url() {
        let url = parse_url("postgres://u@h:5/db?pgbouncer=true&pool_size=3&application_name=x")
            .expect("a valid URL");
        assert!(!url.cache_statements);
        assert_eq!(url.pool_size, 3);
        assert_eq!(url.config.get_application_name(), Some("x"));
        let plain = parse_url("postgres://u@h:5/db").expect("a valid URL");
        assert!(plain.cache_statements);
        assert_eq!(plain.pool_size, POOL_SIZE);
    }

    #[test]
    fn several_hosts_and_the_session_wanted_reach_the_driver_for_failover() {
        let url = parse_url(
            "postgres://u@db1:5432,db2:5433/rapport?target_session_attrs=read-write&pool_size=4",
        )
        .expect("a valid URL");
        let hosts: Vec<String> = url
            .config
            .get_hosts()
            .iter()
            .map(|h| match h {
                tokio_postgres::config::Host::Tcp(name) => name.clone(),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(hosts, ["db1", "db2"]);
        assert_eq!(url.config.get_ports(), [5432, 5433]);
        assert_eq!(
            url.config.get_target_session_attrs(),
            tokio_postgres::config::TargetSessionAttrs::ReadWrite
        );
        assert_eq!(url.pool_size, 4);
    }

    #[test]
    fn a_pool_size_that_is_not_one_to_a_thousand_is_refused() {
        for bad in ["0", "1001", "-1", "many", ""] {
            let url = format!("postgres://u@h/db?pool_size={bad}");
            assert!(parse_url(&url).is_err(), "pool_size={bad} was taken");
        }
    }
}
