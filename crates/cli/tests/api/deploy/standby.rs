//! Rapport over a PostgreSQL 15 primary of the test's own with a streaming hot standby as its read
//! replica: search and the graph index's load read the standby, a graph loaded from a lagging
//! standby catches up from the primary, and every write goes to the primary.

use super::*;
use crate::crash::Server;
use serde_json::json;

// ----- 2. a streaming read replica ------------------------------------------------------------

/// A primary cluster and a hot standby streaming from it, in one temporary directory that is
/// removed after both are stopped (fields drop in order).
pub(super) struct Replication {
    pub(super) standby: Cluster,
    pub(super) primary: Cluster,
    _dir: tempfile::TempDir,
}

impl Replication {
    /// `initdb` a primary, start it, `pg_basebackup -R` a standby from it and start that; returns
    /// once the standby streams.
    pub(super) async fn start() -> Replication {
        let bin = pg_bindir();
        let dir = server_dir();
        let mut primary = Cluster::new("primary", &bin, dir.path());
        let mut standby = Cluster::new("standby", &bin, dir.path());

        primary.init();
        primary.configure();
        append(
            &primary.data.join("pg_hba.conf"),
            "host replication postgres 127.0.0.1/32 trust",
        );
        primary.start();

        let mut basebackup = primary.tool("pg_basebackup");
        basebackup
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &primary.port.to_string(),
                "-U",
                "postgres",
            ])
            .arg("-D")
            .arg(&standby.data)
            .args(["-R", "-X", "stream", "-c", "fast"]);
        run(basebackup, "pg_basebackup", TOOL_PATIENCE);
        assert!(
            standby.data.join("standby.signal").exists(),
            "pg_basebackup -R wrote no standby.signal"
        );
        standby.configure();
        standby.start();

        let pair = Replication {
            standby,
            primary,
            _dir: dir,
        };
        assert_eq!(
            pair.standby
                .scalar("postgres", "SELECT pg_is_in_recovery()")
                .await,
            "t"
        );
        eventually(PATIENCE, "the standby streams from the primary", || async {
            let rows = simple(
                &pair.primary.url("postgres"),
                "SELECT state FROM pg_stat_replication",
            )
            .await?;
            match rows.first().and_then(|r| r[0].as_deref()) {
                Some("streaming") => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
        pair
    }

    /// Waits until the standby has replayed everything the primary has written so far.
    pub(super) async fn caught_up(&self) {
        let lsn = self
            .primary
            .scalar("postgres", "SELECT pg_current_wal_lsn()")
            .await;
        let sql = format!("SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn");
        eventually(
            PATIENCE,
            "the standby replays the primary's writes",
            || async {
                match self.standby.scalar("postgres", &sql).await.as_str() {
                    "t" => Ok(()),
                    other => Err(other.to_owned()),
                }
            },
        )
        .await;
    }

    /// Stops (or resumes) replaying on the standby; returns once it has.
    async fn pause_replay(&self, pause: bool) {
        let (call, state) = if pause {
            ("pg_wal_replay_pause()", "paused")
        } else {
            ("pg_wal_replay_resume()", "not paused")
        };
        let url = self.standby.url("postgres");
        simple(&url, &format!("SELECT {call}"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        eventually(PATIENCE, &format!("replay {state}"), || async {
            match scalar(&url, "SELECT pg_get_wal_replay_pause_state()")
                .await
                .as_str()
            {
                s if s == state => Ok(()),
                other => Err(other.to_owned()),
            }
        })
        .await;
    }

    /// rapport's connections to the standby's database (the test's own aside).
    async fn standby_backends(&self) -> i64 {
        self.standby
            .scalar(
                "postgres",
                &format!(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = '{DATABASE}'
                       AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
                ),
            )
            .await
            .parse()
            .expect("a count")
    }

    /// How often the `connections` table was read on the standby itself (its own statistics,
    /// which replayed writes do not touch): the graph index's full loads.
    async fn standby_connection_scans(&self) -> i64 {
        self.standby
            .scalar(
                DATABASE,
                "SELECT coalesce(sum(coalesce(seq_scan, 0) + coalesce(idx_scan, 0)), 0)
                   FROM pg_stat_user_tables WHERE relname = 'connections'",
            )
            .await
            .parse()
            .expect("a count")
    }
}

/// The database rapport runs on, in the test's own clusters.
const DATABASE: &str = "rapport";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rapport_reads_from_a_streaming_standby_and_writes_to_the_primary() {
    let pg = Replication::start().await;
    simple(
        &pg.primary.url("postgres"),
        &format!("CREATE DATABASE {DATABASE}"),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let (primary_url, standby_url) = (pg.primary.url(DATABASE), pg.standby.url(DATABASE));
    let settings = [
        ("RAPPORT_DATABASE_URL", primary_url.as_str()),
        ("RAPPORT_DATABASE_READ_URL", standby_url.as_str()),
    ];
    let data = tempfile::tempdir().expect("a temporary directory");

    // As an operator deploys: the schema first, on the primary; rapport serves once the standby
    // has replayed it. rapport reads its graph from the standby as it starts, and a standby
    // without the schema yet fails that start ("relation connections does not exist").
    let mut migrate = Command::new(env!("CARGO_BIN_EXE_rapport"));
    for (var, _) in std::env::vars() {
        if var.starts_with("RAPPORT_") {
            migrate.env_remove(var);
        }
    }
    migrate
        .arg("migrate")
        .env("RAPPORT_DATABASE_URL", &primary_url)
        .env("RAPPORT_DATA_DIR", data.path())
        .env("RAPPORT_CONFIG", data.path().join("no-such-rapport.toml"))
        .env("RAPPORT_LOG", "warn");
    run(migrate, "rapport migrate", TOOL_PATIENCE);
    pg.caught_up().await;

    let mut server = Server::start_with(data.path(), &settings);
    server.wait_ready().await;
    let api = server.api.clone();

    // A chain Alma – Bruno – Cora – Dario, and Elio on his own.
    let names = [
        "Alma Quillfeather",
        "Bruno Marchetti",
        "Cora Vandersloot",
        "Dario Okonkwo",
        "Elio Brightwater",
    ];
    let mut members = Vec::new();
    for name in names {
        members.push(api.signup_member(name).await);
    }
    let [alma, bruno, cora, dario, elio] = &members[..] else {
        unreachable!()
    };
    api.connect(alma, bruno).await;
    api.connect(bruno, cora).await;
    api.connect(cora, dario).await;

    // Search answers (from the standby, once it has replayed the sign-ups).
    eventually(PATIENCE, "search finds Cora", || async {
        let found = search(&api, &alma.token, "Vandersloot").await;
        if found == vec![cora.id.clone()] {
            Ok(())
        } else {
            Err(format!("{found:?}"))
        }
    })
    .await;
    let found = search(&api, &alma.token, "Brightwater").await;
    assert_eq!(found, vec![elio.id.clone()]);

    // Search reads the standby, not the primary: while its replay is paused, a member who signed
    // up since (on the primary) cannot be found; once it replays, she is.
    pg.pause_replay(true).await;
    let fiona = api.signup_member("Fiona Lagrangia").await;
    assert!(
        search(&api, &alma.token, "Lagrangia").await.is_empty(),
        "search found a member the paused standby has not replayed: it read the primary"
    );
    pg.pause_replay(false).await;
    eventually(PATIENCE, "search finds Fiona once replayed", || async {
        let found = search(&api, &alma.token, "Lagrangia").await;
        if found == vec![fiona.id.clone()] {
            Ok(())
        } else {
            Err(format!("{found:?}"))
        }
    })
    .await;
    assert_no_server_errors(&api, "first server").await;

    // rapport's connections to the standby are there to see.
    assert!(
        pg.standby_backends().await > 0,
        "rapport holds no connection to the standby"
    );

    // A restart loads the graph from the standby: once it has replayed every connection, the
    // restarted server shows degrees and mutual connections at once, and the standby's own
    // statistics count one more scan of `connections` (which nothing else reads there: search
    // reads `members`, and the graph follower the primary). The count is taken once the first
    // server's backends on the standby have ended, which flushes their statistics.
    pg.caught_up().await;
    server.kill();
    eventually(
        PATIENCE,
        "the killed server's standby backends end",
        || async {
            match pg.standby_backends().await {
                0 => Ok(()),
                n => Err(format!("{n} backends")),
            }
        },
    )
    .await;
    let scans_before = pg.standby_connection_scans().await;
    let mut server = Server::start_with(data.path(), &settings);
    server.wait_ready().await;
    let api = server.api.clone();
    let degree = |rel: &Value| rel["degree"].clone();
    assert_eq!(degree(&api.relationship(alma, &bruno.id).await), 1);
    let to_cora = api.relationship(alma, &cora.id).await;
    assert_eq!(
        (degree(&to_cora), to_cora["mutual_connections"].clone()),
        (json!(2), json!(1)),
        "{to_cora}"
    );
    assert_eq!(degree(&api.relationship(alma, &dario.id).await), 3);
    assert_eq!(degree(&api.relationship(alma, &elio.id).await), Value::Null);
    let mutual = get(
        &api,
        &alma.token,
        &format!("/api/v1/members/{}/mutual-connections", cora.id),
    )
    .await;
    assert_eq!(ids(&mutual), vec![bruno.id.clone()], "{mutual}");
    let second = ids(&get(&api, &alma.token, "/api/v1/members?q=Vandersloot&degree=2").await);
    assert_eq!(second, vec![cora.id.clone()]);
    eventually(
        PATIENCE,
        "the restart's graph load counted on the standby",
        || async {
            let n = pg.standby_connection_scans().await;
            if n > scans_before {
                Ok(())
            } else {
                Err(format!("{n} scans, {scans_before} before the restart"))
            }
        },
    )
    .await;

    // A graph loaded from a lagging standby catches up from the primary: with replay paused,
    // Alma and Fiona connect, and a server restarted then still comes to show it.
    pg.pause_replay(true).await;
    api.connect(alma, &fiona).await;
    assert_no_server_errors(&api, "second server").await;
    server.kill();
    let mut server = Server::start_with(data.path(), &settings);
    server.wait_ready().await;
    let api = server.api.clone();
    eventually(
        PATIENCE,
        "the restarted graph follows the primary",
        || async {
            let rel = api.relationship(alma, &fiona.id).await;
            if rel["state"] == "connected" && rel["degree"] == 1 {
                Ok(())
            } else {
                Err(rel.to_string())
            }
        },
    )
    .await;
    pg.pause_replay(false).await;
    pg.caught_up().await;

    // Every write went to the primary: all were acknowledged, and the standby never left
    // recovery, so it could not have taken one (it refuses writes). The primary holds them all,
    // and the standby has them by replication only.
    assert_eq!(
        pg.standby
            .scalar("postgres", "SELECT pg_is_in_recovery()")
            .await,
        "t"
    );
    assert_eq!(
        pg.primary
            .scalar("postgres", "SELECT pg_is_in_recovery()")
            .await,
        "f"
    );
    for (cluster, url) in [("primary", &primary_url), ("standby", &standby_url)] {
        let counts = scalar(
            url,
            "SELECT (SELECT count(*) FROM members) || ' ' || (SELECT count(*) FROM connections)",
        )
        .await;
        assert_eq!(
            counts, "6 8",
            "{cluster}: members and connections (both ways)"
        );
    }
    let refused = simple(&standby_url, "CREATE TABLE written_on_the_standby (x int)").await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.contains("SQLSTATE 25006")),
        "the standby took a write: {refused:?}"
    );
    assert_no_server_errors(&api, "third server").await;

    drop(server);
    drop(pg);
}
