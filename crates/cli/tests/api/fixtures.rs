//! A second `TestApp` for the platform-rule tests: a real server on 127.0.0.1:0 over a temporary
//! store, with a clock the test drives, handing out members as values (see main.rs).

use rapport_app::{App, Config};
use rapport_domain::{ManualClock, Timestamp};
use reqwest::{Client, Method, Response};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

pub const START: Timestamp = Timestamp(1_800_000_000_000);

pub struct TestApp {
    pub base: String,
    pub client: Client,
    pub clock: Arc<ManualClock>,
    pub app: App,
    /// Kept so the store outlives the server.
    dir: tempfile::TempDir,
    pub database: crate::backend::TestDatabase,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    /// Stops the live feed when the test ends (the other workers are run by the tests, by hand).
    _stop_feed: tokio::sync::watch::Sender<bool>,
}

/// A member signed up through the API.
#[derive(Clone, Debug)]
pub struct Member {
    pub id: String,
    pub token: String,
    pub email: String,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
        let dir = tempfile::tempdir().expect("tempdir");
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
        let app = App::open(config, clock.clone()).await.expect("app opens");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(rapport_http::serve(listener, app.clone(), async {
            let _ = rx.await;
        }));
        let (stop_feed, feed_stopped) = tokio::sync::watch::channel(false);
        let feed = app.clone();
        tokio::spawn(async move { feed.run_feed(feed_stopped).await });
        TestApp {
            base,
            client: Client::new(),
            clock,
            app,
            dir,
            database,
            shutdown: Some(tx),
            _stop_feed: stop_feed,
        }
    }

    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    pub fn advance(&self, d: Duration) {
        self.clock.advance(d);
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("request sent")
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.raw(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Response {
        self.raw(Method::POST, path, Some(token), Some(body)).await
    }

    // ----- accounts -----

    pub async fn signup(&self, body: Value) -> Response {
        self.raw(Method::POST, "/api/v1/auth/signup", None, Some(body))
            .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.raw(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": email, "password": password})),
        )
        .await
    }

    pub async fn me(&self, token: &str) -> Response {
        self.get("/api/v1/me", token).await
    }

    /// Signs up a member named `name` (email derived from it) and returns it.
    pub async fn member(&self, name: &str) -> Member {
        let email = format!("{}@example.com", name.to_lowercase().replace(' ', "."));
        let r = self
            .signup(json!({"email": email, "password": "correct horse battery", "name": name}))
            .await;
        assert_eq!(r.status(), 201, "signup of {name}");
        let v: Value = r.json().await.expect("json");
        Member {
            id: v["member"]["id"].as_str().expect("id").to_owned(),
            token: v["token"].as_str().expect("token").to_owned(),
            email,
        }
    }

    // ----- invitations -----

    pub async fn invite(&self, from: &Member, to: &Member, note: Option<&str>) -> Response {
        let mut body = json!({"recipient_id": to.id});
        if let Some(n) = note {
            body["note"] = json!(n);
        }
        self.post("/api/v1/invitations", &from.token, body).await
    }

    /// Sends an invitation that must be created, and returns its id.
    pub async fn invite_ok(&self, from: &Member, to: &Member) -> String {
        let r = self.invite(from, to, None).await;
        assert_eq!(r.status(), 201);
        r.json::<Value>().await.expect("json")["id"]
            .as_str()
            .expect("id")
            .to_owned()
    }

    pub async fn invitation(&self, who: &Member, id: &str) -> Response {
        self.get(&format!("/api/v1/invitations/{id}"), &who.token)
            .await
    }

    pub async fn accept(&self, who: &Member, id: &str) -> Response {
        self.raw(
            Method::POST,
            &format!("/api/v1/invitations/{id}/accept"),
            Some(&who.token),
            None,
        )
        .await
    }

    pub async fn ignore(&self, who: &Member, id: &str, body: Option<Value>) -> Response {
        self.raw(
            Method::POST,
            &format!("/api/v1/invitations/{id}/ignore"),
            Some(&who.token),
            body,
        )
        .await
    }

    pub async fn withdraw(&self, who: &Member, id: &str) -> Response {
        self.raw(
            Method::POST,
            &format!("/api/v1/invitations/{id}/withdraw"),
            Some(&who.token),
            None,
        )
        .await
    }

    pub async fn received(&self, who: &Member, query: &str) -> Response {
        self.get(&format!("/api/v1/invitations/received{query}"), &who.token)
            .await
    }

    /// Ids of the pending invitations `who` received, newest first (first page).
    pub async fn inbox_ids(&self, who: &Member) -> Vec<String> {
        let v: Value = self
            .received(who, "?limit=100")
            .await
            .json()
            .await
            .expect("json");
        ids(&v)
    }

    // ----- network -----

    pub async fn profile(&self, viewer: &Member, id: &str) -> Response {
        self.get(&format!("/api/v1/members/{id}"), &viewer.token)
            .await
    }

    pub async fn connections(&self, who: &Member, query: &str) -> Response {
        self.get(&format!("/api/v1/connections{query}"), &who.token)
            .await
    }

    pub async fn remove_connection(&self, who: &Member, other: &str) -> Response {
        self.raw(
            Method::DELETE,
            &format!("/api/v1/connections/{other}"),
            Some(&who.token),
            None,
        )
        .await
    }

    /// Makes `a` and `b` connected through an accepted invitation.
    pub async fn connect(&self, a: &Member, b: &Member) {
        let id = self.invite_ok(a, b).await;
        assert_eq!(self.accept(b, &id).await.status(), 200);
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Makes a member an administrator, as `rapport admin set-role` does.
pub async fn make_admin(app: &TestApp, m: &Member) {
    let update = rapport_app::AdminUpdate {
        role: Some("admin".into()),
        ..Default::default()
    };
    app.app
        .admin_update_by_email(&m.email, update)
        .await
        .unwrap();
}

/// The ids of a list answer's items.
pub fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_owned())
        .collect()
}

/// Asserts a problem+json answer with this status and code, and returns its body.
pub async fn assert_problem(r: Response, status: u16, code: &str) -> Value {
    assert_eq!(r.status(), status, "status for expected code {code}");
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or("").to_owned())
        .unwrap_or_default();
    assert_eq!(ct, "application/problem+json");
    let v: Value = r.json().await.expect("problem json");
    assert_eq!(v["code"], code, "{v}");
    assert_eq!(v["status"], status);
    for field in ["type", "title", "detail"] {
        assert!(v[field].is_string(), "problem lacks {field}: {v}");
    }
    v
}
