//! The `rapport` binary as operators run it: configuration errors, `migrate`, clean shutdown.

use std::process::Command;
use std::time::Instant;

fn rapport(dir: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rapport"));
    c.env("RAPPORT_DATA_DIR", dir)
        .env("RAPPORT_CONFIG", dir.join("rapport.toml"))
        .env("RAPPORT_LOG", "warn")
        .env_remove("RAPPORT_DATABASE_URL");
    c
}

#[test]
fn a_bad_setting_stops_the_start_with_a_message_that_names_it() {
    // The operator learns which variable is wrong and what it takes; nothing starts.
    let dir = tempfile::tempdir().unwrap();
    let out = rapport(dir.path())
        .arg("serve")
        .env("RAPPORT_REINVITE_COOLDOWN", "soon")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("RAPPORT_REINVITE_COOLDOWN") && err.contains("21d"),
        "{err}"
    );
}

#[test]
fn the_config_file_is_read_and_the_environment_wins() {
    // A typo'd value in rapport.toml is reported like an environment variable's.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rapport.toml"),
        "withdrawal_notice = \"loud\"\n",
    )
    .unwrap();
    let out = rapport(dir.path()).arg("migrate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("withdrawal_notice"));
    let out = rapport(dir.path())
        .arg("migrate")
        .env("RAPPORT_WITHDRAWAL_NOTICE", "digest")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn migrate_creates_the_schema_once() {
    // The first run applies the migrations; the second has nothing to do.
    let dir = tempfile::tempdir().unwrap();
    let first = rapport(dir.path()).arg("migrate").output().unwrap();
    assert!(first.status.success());
    let said = String::from_utf8_lossy(&first.stdout).to_string();
    assert!(
        said.contains("migration(s) applied") && !said.contains(" 0 migration"),
        "{said}"
    );
    let second = rapport(dir.path()).arg("migrate").output().unwrap();
    assert!(String::from_utf8_lossy(&second.stdout).contains("0 migration(s) applied"));
    let conn = rusqlite::Connection::open(dir.path().join("rapport.db")).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn sigterm_stops_the_server_cleanly() {
    // On SIGTERM the server stops accepting, finishes, and exits with success.
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = rapport(dir.path())
        .arg("serve")
        .env("RAPPORT_LISTEN", format!("127.0.0.1:{port}"))
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..200 {
        if let Ok(r) = client
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
        {
            ready = r.status() == 200;
            if ready {
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(ready, "the server never became ready");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
}

#[tokio::test]
async fn a_seeded_network_signs_in_matches_its_index_and_refuses_a_second_seed() {
    // `rapport seed` writes around the writer: what it writes must read like what the app writes.
    let dir = tempfile::tempdir().unwrap();
    let seed = |members: &str| {
        rapport(dir.path())
            .args([
                "seed",
                "--members",
                members,
                "--avg-connections",
                "12",
                "--seed",
                "3",
            ])
            .output()
            .unwrap()
    };
    let out = seed("400");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("members            400"), "{stdout}");
    assert!(stdout.contains("member400@example.com"), "{stdout}");

    let mut config = rapport_app::Config::defaults();
    config.data_dir = dir.path().to_owned();
    config.database = rapport_app::Database::Sqlite(dir.path().join("rapport.db"));
    let app = rapport_app::App::open(config, std::sync::Arc::new(rapport_domain::SystemClock))
        .await
        .unwrap();
    // Read from the seeded store (the index is built from the same store, so their agreement would
    // say nothing): the seeded connections are there.
    let check = app.verify_graph().await.unwrap();
    assert!(check.connections > 400, "{check:?}");
    let (me, _) = app
        .login(
            "member7@example.com",
            "seeded-member-password",
            std::net::Ipv4Addr::LOCALHOST.into(),
        )
        .await
        .unwrap();
    let me_id: rapport_domain::MemberId = me.id.parse().unwrap();
    let page = rapport_app::PageRequest::default();
    let suggestions = app.suggestions(me_id, page.clone()).await.unwrap();
    assert!(
        !suggestions.items.is_empty(),
        "a seeded member has people to meet"
    );
    let found = app.search(me_id, Some("at"), None, page).await.unwrap();
    assert!(
        !found.items.is_empty(),
        "headlines read '<title> at <company>'"
    );
    drop(app);

    // A second seed into the same store is refused with what to do, and changes nothing.
    let out = seed("10");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("already holds 400 members") && err.contains("--data-dir"),
        "{err}"
    );
}

#[tokio::test]
async fn a_backup_taken_while_serving_restores_every_acknowledged_write() {
    // The server keeps running and writing while `rapport backup` copies its store; the copy
    // opens as a store of its own with everything that was acknowledged before the copy began.
    let app = crate::helpers::TestApp::spawn().await;
    let ada = app.signup_member("Ada").await;
    let bob = app.signup_member("Bob").await;
    app.connect(&ada, &bob).await;
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.db");
    // Each acknowledged write, with when its answer came: removing the connection, inviting
    // again, accepting. Every answer is checked, none dropped.
    let (acked_tx, mut acked) = tokio::sync::mpsc::unbounded_channel();
    let writer = {
        let (a, b) = (ada.clone(), bob.clone());
        let api = crate::helpers::Api::new(app.address.clone());
        tokio::spawn(async move {
            for _ in 0..20 {
                let removed = api.remove_connection(&a.token, &b.id).await;
                assert_eq!(removed.status(), 204, "the connection is removed");
                let id = api.invite_ok(&a, &b).await;
                let _ = acked_tx.send((Instant::now(), id.clone(), "pending"));
                let accepted = api.accept(&b.token, &id).await;
                assert_eq!(accepted.status(), 200, "the invitation is accepted");
                let _ = acked_tx.send((Instant::now(), id, "accepted"));
            }
        })
    };
    // Some writes are acknowledged before the copy begins.
    let mut answers = Vec::new();
    for _ in 0..4 {
        answers.push(acked.recv().await.expect("the writer acknowledges writes"));
    }
    let began = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_rapport"))
        .args(["backup", copy.to_str().unwrap()])
        .env(
            "RAPPORT_DATABASE_URL",
            format!("sqlite://{}", app.db_path().display()),
        )
        .env("RAPPORT_CONFIG", dir.path().join("none.toml"))
        .env("RAPPORT_LOG", "warn")
        .output()
        .unwrap();
    writer.await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("integrity check ok"));

    // Restore: a data directory holding the copy as its store serves Ada again.
    let restored = tempfile::tempdir().unwrap();
    std::fs::copy(&copy, restored.path().join("rapport.db")).unwrap();
    let mut config = rapport_app::Config::defaults();
    config.data_dir = restored.path().to_owned();
    config.database = rapport_app::Database::Sqlite(restored.path().join("rapport.db"));
    let back = rapport_app::App::open(config, std::sync::Arc::new(rapport_domain::SystemClock))
        .await
        .unwrap();
    let (me, _) = back
        .login(
            &ada.email,
            crate::helpers::PASSWORD,
            std::net::Ipv4Addr::LOCALHOST.into(),
        )
        .await
        .unwrap();
    assert_eq!(me.name, "Ada");

    // Every write acknowledged before the copy began is in it: each invitation exists, and each
    // accept is there (a later write may have moved the copy further, never back).
    let ada_id: rapport_domain::MemberId = ada.id.parse().unwrap();
    acked.close();
    while let Some(answer) = acked.recv().await {
        answers.push(answer);
    }
    assert_eq!(
        answers.len(),
        40,
        "every write of the writer was acknowledged"
    );
    let before: Vec<_> = answers
        .into_iter()
        .filter(|(at, _, _)| *at < began)
        .map(|(_, id, state)| (id, state))
        .collect();
    assert!(
        before.len() >= 4,
        "{} writes acknowledged before the copy",
        before.len()
    );
    for (id, state) in before {
        let inv = back
            .invitation(ada_id, &id)
            .await
            .unwrap_or_else(|e| panic!("invitation {id}, acknowledged before the copy: {e:?}"));
        if state == "accepted" {
            assert_eq!(inv.state, "accepted", "invitation {id}");
        }
    }

    // A second backup to the same file is refused rather than overwriting it.
    let out = Command::new(env!("CARGO_BIN_EXE_rapport"))
        .args(["backup", copy.to_str().unwrap()])
        .env(
            "RAPPORT_DATABASE_URL",
            format!("sqlite://{}", app.db_path().display()),
        )
        .env("RAPPORT_CONFIG", dir.path().join("none.toml"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
}
