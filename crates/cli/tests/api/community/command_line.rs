//! `rapport import` and `rapport keys` on the store a test server serves.

use super::*;

/// `rapport` over the store a test server serves (SQLite or PostgreSQL, as the run's).
fn rapport_on(app: &TestApp) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rapport"));
    c.env("RAPPORT_DATA_DIR", app.data_dir())
        .env("RAPPORT_CONFIG", app.data_dir().join("none.toml"))
        .env("RAPPORT_LOG", "warn")
        .env("RAPPORT_DATABASE_URL", app.database_url());
    c
}

/// Runs a command off the test's runtime, which goes on serving the test server meanwhile (the
/// command may wait on a lock a request of that server holds).
trait Run {
    fn run(&mut self) -> tokio::task::JoinHandle<Output>;
}

impl Run for Command {
    fn run(&mut self) -> tokio::task::JoinHandle<Output> {
        let mut c = std::mem::replace(self, Command::new("true"));
        tokio::task::spawn_blocking(move || c.output().expect("the command runs"))
    }
}

/// Runs `rapport import FILE` over `app`'s store.
async fn import(app: &TestApp, file: &std::path::Path) -> Output {
    rapport_on(app).arg("import").arg(file).run().await.unwrap()
}

/// The numbers of the lines an import's stderr reports refused, in order.
fn refused_lines(out: &Output) -> Vec<u64> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| l.strip_prefix("line ")?.split_once(": refused: "))
        .map(|(n, _)| n.parse().unwrap())
        .collect()
}

/// The reason an import's stderr gives for refusing line `n`.
fn refusal(out: &Output, n: u64) -> String {
    let prefix = format!("line {n}: refused: ");
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .find_map(|l| l.strip_prefix(&prefix).map(str::to_owned))
        .unwrap_or_else(|| panic!("no refusal of line {n}: {}", stderr(out)))
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The member with this community id, as `token` reads them.
async fn provisioned(app: &TestApp, token: &str, external_id: &str) -> Response {
    app.request(Method::GET, &by_external_id(external_id), token, None)
        .await
}

/// Provisions a member who must be created.
async fn put_member(app: &TestApp, token: &str, external_id: &str, body: Value) {
    expect_json(provision(app, token, external_id, body).await, 201).await;
}

#[tokio::test]
async fn import_applies_json_lines_one_by_one_reports_each_refusal_and_changes_nothing_twice() {
    // Good lines are applied whatever the lines around them; each refused line is named with its
    // number and reason and the exit status says so; the same file again changes nothing.
    let app = TestApp::spawn().await;
    let admin = admin(&app).await.token;
    let sam = app.signup_member("Sam").await;
    put_member(
        &app,
        &admin,
        "u-old",
        json!({"email": "old@community.example", "name": "Old Name"}),
    )
    .await;
    put_member(
        &app,
        &admin,
        "u-same",
        json!({"email": "same@community.example", "name": "Same", "headline": "Kept"}),
    )
    .await;
    put_member(
        &app,
        &admin,
        "u-other",
        json!({"email": "taken@community.example", "name": "Other"}),
    )
    .await;
    let lines = [
        r#"{"external_id": "u-1", "email": "ann@community.example", "name": "Ann", "headline": "Engineer", "company": "Acme", "location": "Paris"}"#.to_owned(),
        r#"{"external_id": "u-2", "email": "ben@community.example", "name": "Ben", "status": "deactivated"}"#.to_owned(),
        r#"{"external_id": "u-old", "email": "old@community.example", "name": "New Name"}"#.to_owned(),
        r#"{"external_id": "u-same", "email": "same@community.example", "name": "Same", "headline": "Kept"}"#.to_owned(),
        json!({"external_id": "u-sam", "email": sam.email, "name": "Sam"}).to_string(),
        String::new(),
        r#"{"external_id": "u-3", "email":"#.to_owned(),
        r#"{"external_id": 3, "email": "x@community.example", "name": "X"}"#.to_owned(),
        r#"{"external_id": "u-4", "email": "y@community.example", "name": "Y", "nickname": "Why"}"#.to_owned(),
        r#"{"external_id": "u-5", "email": "not-an-email", "name": "Z"}"#.to_owned(),
        r#"{"external_id": "u-1", "email": "ann2@community.example", "name": "Ann Again"}"#.to_owned(),
        r#"{"external_id": "u-6", "email": "taken@community.example", "name": "Taker"}"#.to_owned(),
    ];
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("members.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();

    let out = import(&app, &file).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        "created 2, updated 1, unchanged 1, refused 7",
        "{}",
        stderr(&out)
    );
    assert_eq!(refused_lines(&out), [5, 7, 8, 9, 10, 11, 12]);
    // Sam signed up with a password: provisioning does not take the account over.
    assert!(
        refusal(&out, 5).contains("another member has this address"),
        "{}",
        stderr(&out)
    );
    assert!(refusal(&out, 9).contains("nickname"), "{}", stderr(&out));
    assert!(refusal(&out, 10).contains("email"), "{}", stderr(&out));
    assert!(refusal(&out, 11).contains("line 1"), "{}", stderr(&out));
    assert!(
        refusal(&out, 12).contains("another member has this address"),
        "{}",
        stderr(&out)
    );

    // What the server reads now.
    let ann = expect_json(provisioned(&app, &admin, "u-1").await, 200).await;
    assert_eq!(
        (
            &ann["email"],
            &ann["name"],
            &ann["headline"],
            &ann["company"],
            &ann["location"]
        ),
        (
            &json!("ann@community.example"),
            &json!("Ann"),
            &json!("Engineer"),
            &json!("Acme"),
            &json!("Paris")
        )
    );
    let ben = expect_json(provisioned(&app, &admin, "u-2").await, 200).await;
    assert_eq!(ben["status"], "deactivated");
    let old = expect_json(provisioned(&app, &admin, "u-old").await, 200).await;
    assert_eq!(old["name"], "New Name");
    for refused in ["u-sam", "u-3", "u-4", "u-5", "u-6"] {
        expect_problem(provisioned(&app, &admin, refused).await, 404, "not_found").await;
    }

    let again = import(&app, &file).await;
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
    assert_eq!(
        stdout(&again).trim(),
        "created 0, updated 0, unchanged 4, refused 7",
        "{}",
        stderr(&again)
    );
    assert_eq!(refused_lines(&again), [5, 7, 8, 9, 10, 11, 12]);
}

#[tokio::test]
async fn import_reads_csv_with_a_header_row_and_exits_zero_when_nothing_is_refused() {
    // Empty cells are "not given"; quoted cells may hold commas; a row of the wrong shape, a bad
    // address or status, an empty id and a repeated id are refused with their line numbers.
    let app = TestApp::spawn().await;
    let admin = admin(&app).await.token;
    put_member(
        &app,
        &admin,
        "c-old",
        json!({"email": "old@community.example", "name": "Old"}),
    )
    .await;
    let csv = "\
external_id,email,name,headline,company,location,status
c-1,cat@community.example,Cat,Designer,,Lyon,
c-old,old@community.example,New Old,,,,
c-1,cat2@community.example,Cat Again,,,,
c-2,dog@community.example
c-3,not-an-email,Eel,,,,
c-4,fox@community.example,Fox,,,,maybe
,gnu@community.example,Gnu,,,,
\"c-5\",\"hen@community.example\",\"Hen, the Second\",,,,active
";
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("members.csv");
    std::fs::write(&file, csv).unwrap();

    let out = import(&app, &file).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        "created 2, updated 1, unchanged 0, refused 5",
        "{}",
        stderr(&out)
    );
    assert_eq!(refused_lines(&out), [4, 5, 6, 7, 8]);
    assert!(refusal(&out, 4).contains("line 2"), "{}", stderr(&out));
    assert!(refusal(&out, 6).contains("email"), "{}", stderr(&out));
    assert!(refusal(&out, 7).contains("status"), "{}", stderr(&out));
    assert!(refusal(&out, 8).contains("external_id"), "{}", stderr(&out));
    let cat = expect_json(provisioned(&app, &admin, "c-1").await, 200).await;
    assert_eq!(
        (
            &cat["name"],
            &cat["headline"],
            &cat["company"],
            &cat["location"]
        ),
        (
            &json!("Cat"),
            &json!("Designer"),
            &json!(""),
            &json!("Lyon")
        )
    );
    let hen = expect_json(provisioned(&app, &admin, "c-5").await, 200).await;
    assert_eq!(hen["name"], "Hen, the Second");
    let old = expect_json(provisioned(&app, &admin, "c-old").await, 200).await;
    assert_eq!(old["name"], "New Old");

    let again = import(&app, &file).await;
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
    assert_eq!(
        stdout(&again).trim(),
        "created 0, updated 0, unchanged 3, refused 5"
    );
    assert_eq!(refused_lines(&again), [4, 5, 6, 7, 8]);

    // A file without a refusal exits 0, the first time and the next.
    let clean = dir.path().join("clean.csv");
    std::fs::write(
        &clean,
        "external_id,email,name\nc-9,ivy@community.example,Ivy\nc-1,cat@community.example,Cat\n",
    )
    .unwrap();
    let out = import(&app, &clean).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Cat's headline and location are not in this file: she keeps them.
    assert_eq!(
        stdout(&out).trim(),
        "created 1, updated 0, unchanged 1, refused 0"
    );
    let out = import(&app, &clean).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        "created 0, updated 0, unchanged 2, refused 0"
    );
    assert_eq!(stderr(&out).trim(), "");
}

#[tokio::test]
async fn keys_made_on_the_command_line_work_on_the_server_within_their_scope_until_revoked() {
    // `rapport keys create` prints a secret the server takes at once, for what its scope opens
    // only; `list` never prints it; `revoke` stops it on the next request.
    let app = TestApp::spawn().await;
    let ada = app.signup_member("Ada").await;
    let bob = app.signup_member("Bob").await;
    app.connect(&ada, &bob).await;
    let out = rapport_on(&app)
        .args(["keys", "create", "--name", "crm", "--scope", "network:read"])
        .run()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stdout(&out);
    let secret = said
        .lines()
        .find_map(|l| l.strip_prefix("secret: "))
        .unwrap_or_else(|| panic!("no secret printed: {said}"))
        .trim()
        .to_owned();
    assert!(secret.starts_with("rsk_"), "{said}");
    let id = said
        .lines()
        .find_map(|l| l.strip_prefix("key ")?.split_once(" (crm): network:read"))
        .unwrap_or_else(|| panic!("no key line: {said}"))
        .0
        .to_owned();

    let path = format!("/api/v1/admin/relationship?from={}&to={}", ada.id, bob.id);
    let r = app.request(Method::GET, &path, &secret, None).await;
    let rel = expect_json(r, 200).await;
    assert_eq!(
        (&rel["state"], &rel["degree"]),
        (&json!("connected"), &json!(1))
    );
    let r = app
        .request(
            Method::PUT,
            "/api/v1/admin/members/by-external-id/u-1",
            &secret,
            Some(json!({"email": "u-1@community.example", "name": "U"})),
        )
        .await;
    expect_problem(r, 403, "insufficient_scope").await;
    let r = app
        .request(Method::GET, "/api/v1/admin/keys", &secret, None)
        .await;
    expect_problem(r, 403, "forbidden").await;

    let out = rapport_on(&app).args(["keys", "list"]).run().await.unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let listed = stdout(&out);
    assert!(
        !listed.contains("rsk_"),
        "the list prints a secret: {listed}"
    );
    let row: Vec<&str> = listed
        .lines()
        .next()
        .unwrap_or_default()
        .split('\t')
        .collect();
    assert_eq!(row[..3], [id.as_str(), "crm", "network:read"], "{listed}");

    let out = rapport_on(&app)
        .args(["keys", "revoke", &id])
        .run()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&format!("key {id} revoked")));
    let r = app.request(Method::GET, &path, &secret, None).await;
    expect_problem(r, 401, "unauthenticated").await;
    let out = rapport_on(&app).args(["keys", "list"]).run().await.unwrap();
    assert!(stdout(&out).starts_with("no keys"), "{}", stdout(&out));

    // Revoking again, or a scope that is not one: refused, with what to do.
    let out = rapport_on(&app)
        .args(["keys", "revoke", &id])
        .run()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("there is no key"), "{}", stderr(&out));
    let out = rapport_on(&app)
        .args(["keys", "create", "--name", "crm", "--scope", "admin"])
        .run()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("\"admin\" is not a scope"),
        "{}",
        stderr(&out)
    );
    let out = rapport_on(&app).args(["keys", "list"]).run().await.unwrap();
    assert!(stdout(&out).starts_with("no keys"), "{}", stdout(&out));
}
