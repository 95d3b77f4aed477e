//! `TestApp`: a real server on `127.0.0.1:0` over a temporary SQLite store, with a clock the test
//! drives by hand, and `Api`: one method per endpoint. `Api` is the only place that knows the
//! contract's paths; the crash test points it at the real binary instead of an in-process server.
//!
//! A little over 600 lines: one method per endpoint of the contract, kept in one place so that
//! the tests name no path themselves.

use rapport_app::{App, Config};
use rapport_domain::{ManualClock, Timestamp};
use reqwest::{Client, Method, Response};
use serde_json::{json, Value};
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Where every test's clock starts: 2027-01-15T08:00:00Z.
pub const START: Timestamp = Timestamp(1_800_000_000_000);

/// Every test member's password.
pub const PASSWORD: &str = "correct horse battery staple";

/// Passed as a token: the request carries no `Authorization` header at all.
pub const ANONYMOUS: &str = "";

pub const DAY: Duration = Duration::from_secs(86_400);

/// Token lifetimes no test outlives: tests move the clock by months and keep their members signed
/// in. The token tests (`tokens.rs`) set the real ones back.
pub const LASTING_TOKENS: rapport_domain::TokenLifetime = rapport_domain::TokenLifetime {
    absolute: Duration::from_secs(100 * 365 * 86_400),
    idle: Duration::from_secs(100 * 365 * 86_400),
};

/// A member signed up through the API.
#[derive(Clone, Debug)]
pub struct TestMember {
    pub id: String,
    pub token: String,
    pub email: String,
    pub name: String,
}

/// A client of one running server: one method per endpoint of API.md.
#[derive(Clone)]
pub struct Api {
    pub address: String,
    pub client: Client,
    /// Makes every signed-up email unique within one server.
    next_email: Arc<AtomicUsize>,
}

/// A server of its own for one test.
pub struct TestApp {
    api: Api,
    pub clock: Arc<ManualClock>,
    /// The app the server serves, for what only the inside can check.
    pub app: App,
    /// Kept so that the store outlives the server.
    dir: tempfile::TempDir,
    database: crate::backend::TestDatabase,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Deref for TestApp {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

impl TestApp {
    /// Opens an app over a fresh temporary store with the default settings and serves it.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// The server's data directory (its file outbox is `outbox/`).
    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The same, with settings adjusted first.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
        Self::spawn_at(0, adjust).await
    }

    /// The same, listening on `port` of 127.0.0.1 (0: any free one), for settings that name the
    /// server's own address (`base_url`).
    pub async fn spawn_at(port: u16, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut config = Config::defaults();
        // The tests' webhook receivers listen on 127.0.0.1.
        config.webhook_allow_private = true;
        // Every test member signs up from 127.0.0.1; the per-address limit has tests of its own.
        config.signups_per_address = u32::MAX;
        config.data_dir = dir.path().to_owned();
        config.token_lifetime = crate::helpers::LASTING_TOKENS;
        // Tests fire bursts of writes on debug builds and slow hosts; refusing them is the
        // writer's unit test's to check (`sqlite::writer::tests`), not every test's risk.
        config.write_queue_budget = None;
        let database = crate::backend::TestDatabase::create(dir.path()).await;
        config.database = database.database.clone();
        adjust(&mut config);
        let clock = Arc::new(ManualClock::new(START));
        let app = App::open(config, clock.clone())
            .await
            .expect("the app opens");
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("binds 127.0.0.1");
        let address = format!("http://{}", listener.local_addr().expect("local address"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(rapport_http::serve(listener, app.clone(), async {
            let _ = rx.await;
        }));
        TestApp {
            api: Api::new(address),
            clock,
            app,
            dir,
            database,
            shutdown: Some(tx),
        }
    }

    /// Makes the member with `email` an administrator, as `rapport admin set-role` does.
    pub async fn make_admin(&self, email: &str) {
        let update = rapport_app::AdminUpdate {
            role: Some("admin".into()),
            ..Default::default()
        };
        self.app
            .admin_update_by_email(email, update)
            .await
            .expect("the member is made an administrator");
    }

    pub fn advance(&self, d: Duration) {
        self.clock.advance(d);
    }

    /// The server's store as `RAPPORT_DATABASE_URL` names it, for the real binary run on it.
    pub fn database_url(&self) -> String {
        self.database.url()
    }

    /// The SQLite file the server writes.
    pub fn db_path(&self) -> std::path::PathBuf {
        self.dir.path().join("rapport.db")
    }

    /// Gives member `id` the community id `external_id` straight in the store, as an operator's
    /// data migration would (provisioning never takes over a member who has a password).
    pub async fn link_community_id(&self, id: &str, external_id: &str) {
        let sql = format!(
            "INSERT INTO external_ids (issuer, subject, member_id, created_at)
             VALUES ('', '{external_id}', {id}, 0)"
        );
        match &self.database.database {
            rapport_app::Database::Sqlite(path) => {
                rusqlite::Connection::open(path)
                    .and_then(|c| c.execute(&sql, []))
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
            rapport_app::Database::Postgres(url) => {
                pg_client(url)
                    .await
                    .execute(&sql, &[])
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
        }
    }

    /// What `query` (a `SELECT count(*) …` that both SQLite and PostgreSQL read the same way)
    /// counts in the server's store, whichever store this run uses.
    pub async fn count(&self, query: &str) -> i64 {
        match &self.database.database {
            rapport_app::Database::Sqlite(path) => rusqlite::Connection::open(path)
                .and_then(|c| c.query_row(query, [], |r| r.get(0)))
                .unwrap_or_else(|e| panic!("{query}: {e}")),
            rapport_app::Database::Postgres(url) => pg_client(url)
                .await
                .query_one(query, &[])
                .await
                .unwrap_or_else(|e| panic!("{query}: {e}"))
                .get(0),
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Api {
    pub fn new(address: String) -> Api {
        Api {
            address,
            client: Client::new(),
            next_email: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Any request; `token` may be [`ANONYMOUS`].
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Response {
        self.request_with(method, path, token, &[], body).await
    }

    /// Any request with extra headers (`Rapport-Act-As`, `Idempotency-Key`, ...); `token` may be
    /// [`ANONYMOUS`].
    pub async fn request_with(
        &self,
        method: Method,
        path: &str,
        token: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Response {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.address));
        if !token.is_empty() {
            req = req.bearer_auth(token);
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.expect("the request was answered")
    }

    /// A request with a body sent exactly as given, with `Content-Type: application/json`.
    pub async fn request_raw(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: impl Into<reqwest::Body>,
    ) -> Response {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.address))
            .header("content-type", "application/json")
            .body(body);
        if !token.is_empty() {
            req = req.bearer_auth(token);
        }
        req.send().await.expect("the request was answered")
    }

    /// Every route that needs a signed-in member, with a placeholder id where the path takes one.
    pub fn member_routes() -> Vec<(Method, &'static str)> {
        vec![
            (Method::POST, "/api/v1/auth/logout"),
            (Method::GET, "/api/v1/me"),
            (Method::PATCH, "/api/v1/me"),
            (Method::DELETE, "/api/v1/me"),
            (Method::PATCH, "/api/v1/me/settings"),
            (Method::POST, "/api/v1/me/deactivate"),
            (Method::POST, "/api/v1/invitations"),
            (Method::GET, "/api/v1/invitations/received"),
            (Method::GET, "/api/v1/invitations/sent"),
            (Method::POST, "/api/v1/invitations/sent/withdraw"),
            (Method::GET, "/api/v1/invitations/1"),
            (Method::POST, "/api/v1/invitations/1/accept"),
            (Method::POST, "/api/v1/invitations/1/ignore"),
            (Method::POST, "/api/v1/invitations/1/withdraw"),
            (Method::GET, "/api/v1/members/1"),
            (Method::GET, "/api/v1/connections"),
            (Method::DELETE, "/api/v1/connections/1"),
            (Method::GET, "/api/v1/blocks"),
            (Method::PUT, "/api/v1/blocks/1"),
            (Method::DELETE, "/api/v1/blocks/1"),
            (Method::PATCH, "/api/v1/admin/members/1"),
        ]
    }

    // ----- operations -------------------------------------------------------------------------

    pub async fn readyz(&self) -> Result<Response, reqwest::Error> {
        self.client
            .get(format!("{}/readyz", self.address))
            .send()
            .await
    }

    pub async fn openapi(&self) -> Value {
        let r = self
            .request(Method::GET, "/api/openapi.json", ANONYMOUS, None)
            .await;
        expect_json(r, 200).await
    }

    // ----- accounts ---------------------------------------------------------------------------

    pub async fn signup(&self, body: Value) -> Response {
        self.request(Method::POST, "/api/v1/auth/signup", ANONYMOUS, Some(body))
            .await
    }

    /// Signs up with a body that is exactly `body`, JSON or not.
    pub async fn signup_raw(&self, body: impl Into<reqwest::Body>) -> Response {
        self.request_raw(Method::POST, "/api/v1/auth/signup", ANONYMOUS, body)
            .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        let body = json!({"email": email, "password": password});
        self.request(Method::POST, "/api/v1/auth/login", ANONYMOUS, Some(body))
            .await
    }

    pub async fn logout(&self, token: &str) -> Response {
        self.request(Method::POST, "/api/v1/auth/logout", token, None)
            .await
    }

    pub async fn me(&self, token: &str) -> Response {
        self.request(Method::GET, "/api/v1/me", token, None).await
    }

    pub async fn update_me(&self, token: &str, body: Value) -> Response {
        self.request(Method::PATCH, "/api/v1/me", token, Some(body))
            .await
    }

    pub async fn update_settings(&self, token: &str, body: Value) -> Response {
        self.request(Method::PATCH, "/api/v1/me/settings", token, Some(body))
            .await
    }

    /// Signs in with an `Idempotency-Key`.
    pub async fn login_with_key(&self, key: &str, email: &str, password: &str) -> Response {
        self.client
            .post(format!("{}/api/v1/auth/login", self.address))
            .header("idempotency-key", key)
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .expect("the request was answered")
    }

    /// A POST with an `Idempotency-Key`, as `token`'s member.
    pub async fn post_with_key(&self, path: &str, token: &str, key: &str, body: Value) -> Response {
        self.client
            .post(format!("{}{path}", self.address))
            .bearer_auth(token)
            .header("idempotency-key", key)
            .json(&body)
            .send()
            .await
            .expect("the request was answered")
    }

    /// Signs up with an `Idempotency-Key`.
    pub async fn signup_with_key(&self, key: &str, body: Value) -> Response {
        self.client
            .post(format!("{}/api/v1/auth/signup", self.address))
            .header("idempotency-key", key)
            .json(&body)
            .send()
            .await
            .expect("the request was answered")
    }

    /// Signs up a member called `name` with a unique email, and returns them signed in.
    pub async fn signup_member(&self, name: &str) -> TestMember {
        let n = self.next_email.fetch_add(1, Ordering::SeqCst);
        let slug: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '.'
                }
            })
            .collect();
        let email = format!("{slug}.{n}@example.com");
        let body = json!({"email": email, "password": PASSWORD, "name": name});
        // Many sign-ups at once fill the password-hashing queue, which turns the rest away with
        // `503 overloaded` and `Retry-After` (`hashing`'s own test checks that): a client tries
        // again then, as this one does.
        let mut r = self.signup(body.clone()).await;
        for _ in 0..30 {
            if r.status() != 503 {
                break;
            }
            let wait = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(1);
            tokio::time::sleep(std::time::Duration::from_secs(wait.min(2))).await;
            r = self.signup(body.clone()).await;
        }
        let v = expect_json(r, 201).await;
        TestMember {
            id: v["member"]["id"].as_str().expect("member.id").to_owned(),
            token: v["token"].as_str().expect("token").to_owned(),
            email,
            name: name.to_owned(),
        }
    }

    // ----- invitations ------------------------------------------------------------------------

    pub async fn send_invitation(&self, token: &str, body: Value) -> Response {
        self.request(Method::POST, "/api/v1/invitations", token, Some(body))
            .await
    }

    /// `from` invites `to` without a note.
    pub async fn invite(&self, from: &TestMember, to: &TestMember) -> Response {
        self.send_invitation(&from.token, json!({"recipient_id": to.id}))
            .await
    }

    /// `from` invites `to`, which must create an invitation; returns its id.
    pub async fn invite_ok(&self, from: &TestMember, to: &TestMember) -> String {
        let v = expect_json(self.invite(from, to).await, 201).await;
        v["id"].as_str().expect("invitation id").to_owned()
    }

    pub async fn received(&self, token: &str, query: &str) -> Response {
        let path = format!("/api/v1/invitations/received{query}");
        self.request(Method::GET, &path, token, None).await
    }

    pub async fn sent(&self, token: &str, query: &str) -> Response {
        let path = format!("/api/v1/invitations/sent{query}");
        self.request(Method::GET, &path, token, None).await
    }

    pub async fn invitation(&self, token: &str, id: &str) -> Response {
        let path = format!("/api/v1/invitations/{id}");
        self.request(Method::GET, &path, token, None).await
    }

    pub async fn accept(&self, token: &str, id: &str) -> Response {
        let path = format!("/api/v1/invitations/{id}/accept");
        self.request(Method::POST, &path, token, None).await
    }

    /// Ignores an invitation; `body` `None` sends no body at all.
    pub async fn ignore(&self, token: &str, id: &str, body: Option<Value>) -> Response {
        let path = format!("/api/v1/invitations/{id}/ignore");
        self.request(Method::POST, &path, token, body).await
    }

    pub async fn withdraw(&self, token: &str, id: &str) -> Response {
        let path = format!("/api/v1/invitations/{id}/withdraw");
        self.request(Method::POST, &path, token, None).await
    }

    pub async fn bulk_withdraw(&self, token: &str, body: Value) -> Response {
        self.request(
            Method::POST,
            "/api/v1/invitations/sent/withdraw",
            token,
            Some(body),
        )
        .await
    }

    /// Sends an invitation with an `Idempotency-Key`.
    pub async fn send_invitation_with_key(&self, token: &str, key: &str, body: Value) -> Response {
        self.client
            .post(format!("{}/api/v1/invitations", self.address))
            .bearer_auth(token)
            .header("idempotency-key", key)
            .json(&body)
            .send()
            .await
            .expect("the request was answered")
    }

    /// Sends an invitation whose body is exactly `body`, JSON or not.
    pub async fn send_invitation_raw(
        &self,
        token: &str,
        body: impl Into<reqwest::Body>,
    ) -> Response {
        self.request_raw(Method::POST, "/api/v1/invitations", token, body)
            .await
    }

    /// The ids of every pending invitation `token`'s member received, newest first.
    pub async fn received_ids(&self, token: &str) -> Vec<String> {
        ids(&expect_json(self.received(token, "?limit=100").await, 200).await)
    }

    /// The ids of every pending invitation `token`'s member sent, newest first.
    pub async fn sent_ids(&self, token: &str) -> Vec<String> {
        ids(&expect_json(self.sent(token, "?limit=100").await, 200).await)
    }

    // ----- network ----------------------------------------------------------------------------

    pub async fn member(&self, token: &str, id: &str) -> Response {
        let path = format!("/api/v1/members/{id}");
        self.request(Method::GET, &path, token, None).await
    }

    /// How `viewer` relates to member `id`: the `relationship` object of their profile.
    pub async fn relationship(&self, viewer: &TestMember, id: &str) -> Value {
        expect_json(self.member(&viewer.token, id).await, 200).await["relationship"].clone()
    }

    pub async fn connections(&self, token: &str, query: &str) -> Response {
        let path = format!("/api/v1/connections{query}");
        self.request(Method::GET, &path, token, None).await
    }

    /// The member ids of `token`'s member's connections (first 100), newest first.
    pub async fn connection_ids(&self, token: &str) -> Vec<String> {
        let v = expect_json(self.connections(token, "?limit=100").await, 200).await;
        v["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|c| c["member"]["id"].as_str().expect("member.id").to_owned())
            .collect()
    }

    pub async fn remove_connection(&self, token: &str, member_id: &str) -> Response {
        let path = format!("/api/v1/connections/{member_id}");
        self.request(Method::DELETE, &path, token, None).await
    }

    /// Connects `a` and `b` through an invitation `b` accepts.
    pub async fn connect(&self, a: &TestMember, b: &TestMember) {
        let id = self.invite_ok(a, b).await;
        expect_json(self.accept(&b.token, &id).await, 200).await;
    }
}

/// The ids of a list answer's items.
/// A port nobody listens on right now, for a server started as a process.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

pub fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a list answer: {page}"))
        .iter()
        .map(|i| i["id"].as_str().expect("item id").to_owned())
        .collect()
}

/// Asserts the status and returns the JSON body (the body is shown when the status is wrong).
pub async fn expect_json(r: Response, status: u16) -> Value {
    let got = r.status().as_u16();
    let text = r.text().await.expect("a body");
    assert_eq!(got, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Asserts an answer with this status and no body.
pub async fn expect_empty(r: Response, status: u16) {
    let got = r.status().as_u16();
    let text = r.text().await.expect("a body");
    assert_eq!(got, status, "unexpected status; body: {text}");
    assert_eq!(text, "", "a {status} carries no body");
}

/// Asserts a problem+json answer (RFC 9457) with this status and `code`; returns its body.
pub async fn expect_problem(r: Response, status: u16, code: &str) -> Value {
    let got = r.status().as_u16();
    let content_type = header(&r, "content-type");
    let text = r.text().await.expect("a body");
    assert_eq!(got, status, "expected {status} {code}; body: {text}");
    assert_eq!(content_type, "application/problem+json", "body: {text}");
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    assert_eq!(v["code"], code, "{v}");
    assert_eq!(v["status"], status, "{v}");
    for field in ["type", "title", "detail"] {
        assert!(v[field].is_string(), "the problem lacks {field}: {v}");
    }
    v
}

/// A header's value, or "" when it is absent.
pub fn header(r: &Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// A connection to the test's PostgreSQL database, its driver running on the test's runtime.
async fn pg_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("the test database answers");
    tokio::spawn(connection);
    client
}
