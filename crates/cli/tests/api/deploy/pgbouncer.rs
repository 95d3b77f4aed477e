//! Two replicas behind PgBouncer in transaction pooling mode, with fewer server connections than
//! rapport's pools: a whole member flow across both answers without a single 5xx, the schema was
//! migrated through the bouncer, and the bouncer did the pooling.

use super::*;
use crate::backend::fresh_postgres;
use crate::crash::Server;
use crate::sse::Events;
use serde_json::json;
use std::fs::File;
use std::path::PathBuf;
use std::process::Child;

// ----- 1. PgBouncer in transaction pooling mode -----------------------------------------------

/// A PgBouncer admin-console answer as one map per row, column name to text.
async fn bouncer_show(url: &str, what: &str) -> Vec<std::collections::HashMap<String, String>> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("the PgBouncer admin console at {url}: {e}"));
    let driver = tokio::spawn(connection);
    let messages = client
        .simple_query(what)
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    drop(client);
    let _ = driver.await;
    messages
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                row.columns()
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (c.name().to_owned(), row.get(i).unwrap_or("").to_owned()))
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

/// The migrations this binary carries (`crates/store/migrations/postgres/*.sql`).
fn migration_count() -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../store/migrations/postgres");
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "sql"))
        .count()
}

/// Rapport's pool holds up to 16 connections; the bouncer gives them 4 server connections, so
/// that transactions of one client connection run on different server connections, as they do
/// in production.
const BOUNCER_POOL: u32 = 4;

/// A PgBouncer (Debian's, as the `postgres` user) in front of one database of the test server,
/// in transaction pooling mode with trust auth; killed when dropped.
struct PgBouncer {
    child: Child,
    port: u16,
    user: String,
    dir: tempfile::TempDir,
}

impl PgBouncer {
    /// Starts it in front of the database at `upstream` and waits until it passes a query on.
    async fn start(upstream: &str) -> PgBouncer {
        let config: tokio_postgres::Config = upstream.parse().expect("a PostgreSQL URL");
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            other => panic!("the test PostgreSQL must be reached over TCP, not {other:?}"),
        };
        let upstream_port = config.get_ports().first().copied().unwrap_or(5432);
        let user = config.get_user().unwrap_or("postgres").to_owned();
        let database = config.get_dbname().expect("a database").to_owned();
        let program = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .unwrap_or_else(|| {
                panic!("pgbouncer is not installed: apt-get install pgbouncer (scripts/test does)")
            });
        let dir = server_dir();
        let port = free_port();
        let d = dir.path().display();
        std::fs::write(
            dir.path().join("userlist.txt"),
            format!("\"{user}\" \"\"\n"),
        )
        .expect("writes the auth file");
        std::fs::write(
            dir.path().join("pgbouncer.ini"),
            format!(
                "[databases]\n\
                 {database} = host={host} port={upstream_port} dbname={database}\n\
                 [pgbouncer]\n\
                 listen_addr = 127.0.0.1\n\
                 listen_port = {port}\n\
                 unix_socket_dir = {d}\n\
                 auth_type = trust\n\
                 auth_file = {d}/userlist.txt\n\
                 admin_users = {user}\n\
                 pool_mode = transaction\n\
                 default_pool_size = {BOUNCER_POOL}\n\
                 max_client_conn = 200\n"
            ),
        )
        .expect("writes the configuration");
        let log = File::create(dir.path().join("pgbouncer.log")).expect("a log file");
        let child = as_postgres(&program, dir.path())
            .arg(dir.path().join("pgbouncer.ini"))
            .stdout(log.try_clone().expect("a file handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{} cannot start: {e}", program.display()));
        let mut bouncer = PgBouncer {
            child,
            port,
            user,
            dir,
        };
        let url = bouncer.url(&database, "");
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = bouncer.child.try_wait().expect("process status") {
                panic!("pgbouncer exited ({status}):\n{}", bouncer.log());
            }
            match simple(&url, "SELECT 1").await {
                Ok(_) => break,
                Err(e) if Instant::now() >= deadline => {
                    panic!("pgbouncer never passed a query on: {e}\n{}", bouncer.log())
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        bouncer
    }

    /// The URL of `database` through the bouncer, with `options` (`?…`).
    fn url(&self, database: &str, options: &str) -> String {
        format!(
            "postgres://{}@127.0.0.1:{}/{database}{options}",
            self.user, self.port
        )
    }

    fn log(&self) -> String {
        read_log(&self.dir.path().join("pgbouncer.log"))
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rapport_serves_a_whole_member_flow_behind_pgbouncer_in_transaction_mode() {
    let db = fresh_postgres().await;
    let database = db
        .url
        .rsplit('/')
        .next()
        .expect("a database name")
        .to_owned();
    let bouncer = PgBouncer::start(&db.url).await;
    let through_bouncer = bouncer.url(&database, "");
    // Two replicas, as a deployment runs them, started together: both migrate (once between
    // them) through the bouncer.
    let url = bouncer.url(&database, "?pgbouncer=true");
    let settings = [("RAPPORT_DATABASE_URL", url.as_str())];
    let (data_one, data_two) = (
        tempfile::tempdir().expect("a temporary directory"),
        tempfile::tempdir().expect("a temporary directory"),
    );
    let mut one = Server::start_with(data_one.path(), &settings);
    let mut two = Server::start_with(data_two.path(), &settings);
    one.wait_ready().await;
    two.wait_ready().await;
    let api = one.api.clone();
    let other = two.api.clone();

    // The schema was migrated through the bouncer: rapport knows no other address, and the
    // database was empty.
    let version = scalar(
        &through_bouncer,
        "SELECT coalesce(max(version), 0) FROM rapport_schema",
    )
    .await;
    assert_eq!(
        version,
        migration_count().to_string(),
        "the migrations did not all run through the bouncer"
    );

    // Sign-ups, concurrently: more at once than the bouncer has server connections.
    let names = ["Ada Pooler", "Boris Pooler", "Cleo Pooler", "Dmitri Pooler"];
    let members: Vec<TestMember> =
        futures_util::future::join_all(names.iter().map(|n| api.signup_member(n))).await;
    let [ada, boris, cleo, dmitri] = &members[..] else {
        unreachable!()
    };
    for m in &members {
        let me = get(&api, &m.token, "/api/v1/me").await;
        assert_eq!(me["id"], m.id.as_str());
    }

    // An invitation sent through one replica reaches the recipient's live stream on the other.
    // The bouncer passes no NOTIFY on to a LISTEN, so this is rapport's polling at work.
    let mut boris_events = Events::open(&other, &boris.token).await;
    let r = api
        .send_invitation(
            &ada.token,
            json!({"recipient_id": boris.id, "note": "Met at the pooling talk"}),
        )
        .await;
    let invitation = expect_json(r, 201).await;
    let invitation_id = invitation["id"].as_str().expect("an id").to_owned();
    boris_events
        .expect("invitation.received", PATIENCE, |d| {
            d["invitation"]["id"] == invitation_id.as_str()
        })
        .await;
    assert_eq!(
        other.received_ids(&boris.token).await,
        vec![invitation_id.clone()]
    );
    assert_eq!(api.sent_ids(&ada.token).await, vec![invitation_id.clone()]);
    let seen = get(
        &other,
        &boris.token,
        &format!("/api/v1/invitations/{invitation_id}"),
    )
    .await;
    assert_eq!(seen["state"], "pending");
    assert_eq!(seen["note"], "Met at the pooling talk");

    // Accepted on the other replica: both see the connection on both, and the first replica's
    // graph index follows.
    let connection = expect_json(other.accept(&boris.token, &invitation_id).await, 200).await;
    assert_eq!(connection["member"]["id"], ada.id.as_str());
    for server in [&api, &other] {
        assert_eq!(
            server.connection_ids(&ada.token).await,
            vec![boris.id.clone()]
        );
        assert_eq!(
            server.connection_ids(&boris.token).await,
            vec![ada.id.clone()]
        );
    }
    let page = get(&api, &ada.token, "/api/v1/connections").await;
    assert_eq!(page["total"], 1, "{page}");
    eventually(
        PATIENCE,
        "the first replica's graph follows the accept",
        || async {
            let rel = api.relationship(ada, &boris.id).await;
            if rel["state"] == "connected" && rel["degree"] == 1 {
                Ok(())
            } else {
                Err(rel.to_string())
            }
        },
    )
    .await;

    // More of the network, concurrently: Cleo and Dmitri each connect with Boris.
    futures_util::future::join_all([api.connect(cleo, boris), api.connect(dmitri, boris)]).await;
    let rel = api.relationship(ada, &cleo.id).await;
    assert_eq!(rel["degree"], 2, "{rel}");
    assert_eq!(rel["mutual_connections"], 1, "{rel}");
    let mutual = get(
        &api,
        &ada.token,
        &format!("/api/v1/members/{}/mutual-connections", cleo.id),
    )
    .await;
    assert_eq!(ids(&mutual), vec![boris.id.clone()], "{mutual}");
    let found = search(&api, &ada.token, "Cleo").await;
    assert_eq!(found, vec![cleo.id.clone()]);

    // Notifications: Boris was invited, Ada's invitation was accepted.
    let kinds = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|n| n["kind"].as_str().expect("a kind").to_owned())
            .collect()
    };
    let boris_notes = get(&api, &boris.token, "/api/v1/notifications").await;
    assert!(
        kinds(&boris_notes).contains(&"invitation_received".to_owned()),
        "{boris_notes}"
    );
    let ada_notes = get(&api, &ada.token, "/api/v1/notifications").await;
    assert!(
        kinds(&ada_notes).contains(&"invitation_accepted".to_owned()),
        "{ada_notes}"
    );
    assert!(
        ada_notes["unread"].as_i64().expect("unread") >= 1,
        "{ada_notes}"
    );
    let r = api
        .request(
            Method::POST,
            "/api/v1/notifications/read",
            &ada.token,
            Some(json!({})),
        )
        .await;
    expect_empty(r, 204).await;
    let ada_notes = get(&api, &ada.token, "/api/v1/notifications").await;
    assert_eq!(ada_notes["unread"], 0, "{ada_notes}");

    // Block and unblock: the connection ends and each is hidden from the other, then neither.
    let block = format!("/api/v1/blocks/{}", boris.id);
    expect_empty(
        api.request(Method::PUT, &block, &ada.token, None).await,
        204,
    )
    .await;
    assert_eq!(
        ids(&get(&api, &ada.token, "/api/v1/blocks").await),
        vec![boris.id.clone()]
    );
    expect_problem(api.member(&ada.token, &boris.id).await, 404, "not_found").await;
    expect_problem(api.member(&boris.token, &ada.id).await, 404, "not_found").await;
    assert!(api.connection_ids(&ada.token).await.is_empty());
    let rel = api.relationship(ada, &cleo.id).await;
    assert_eq!(
        rel["degree"],
        Value::Null,
        "no path runs through a blocked member: {rel}"
    );
    expect_empty(
        api.request(Method::DELETE, &block, &ada.token, None).await,
        204,
    )
    .await;
    assert!(ids(&get(&api, &ada.token, "/api/v1/blocks").await).is_empty());
    let rel = api.relationship(ada, &boris.id).await;
    assert_eq!(rel["state"], "none", "{rel}");

    // Two invitations of one sender, sent in parallel, both land.
    let sent =
        futures_util::future::join_all([api.invite(ada, cleo), api.invite(ada, dmitri)]).await;
    for r in sent {
        expect_json(r, 201).await;
    }
    assert_eq!(api.sent_ids(&ada.token).await.len(), 2);

    assert_no_server_errors(&api, "replica one behind PgBouncer").await;
    assert_no_server_errors(&other, "replica two behind PgBouncer").await;

    // The bouncer did the pooling: rapport's database pooled in transaction mode, its
    // transactions counted there.
    let admin = bouncer.url("pgbouncer", "");
    let pools = bouncer_show(&admin, "SHOW POOLS").await;
    let pool = pools
        .iter()
        .find(|p| p["database"] == database)
        .unwrap_or_else(|| panic!("no pool for {database}: {pools:?}"));
    assert_eq!(pool["pool_mode"], "transaction", "{pool:?}");
    let stats = bouncer_show(&admin, "SHOW STATS").await;
    let stat = stats
        .iter()
        .find(|s| s["database"] == database)
        .unwrap_or_else(|| panic!("no stats for {database}: {stats:?}"));
    let transactions: u64 = stat["total_xact_count"].parse().expect("a count");
    assert!(transactions > 0, "{stat:?}");

    drop((one, two));
    drop(bouncer);
    drop(db);
}
