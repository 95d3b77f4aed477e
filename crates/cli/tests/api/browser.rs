//! The pages in a real browser: headless Debian `chromium` driven through `chromedriver`
//! (`scripts/test` installs both when missing), at a desktop and a phone size. Two members, each
//! in a browser session of their own: the recipient's open Received page follows the sender's
//! actions live. Screenshots of each page at both sizes go to `target/browser-screenshots/` (or
//! `RAPPORT_SCREENSHOTS`), for a person to look at, and axe-core (pinned, installed by
//! scripts/test; `RAPPORT_AXE_JS`) checks each of those pages: any fault of impact moderate or
//! higher fails the test, with every page's faults listed.

use crate::helpers::*;
use base64::Engine;
use serde_json::{json, Value};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const SIZES: [(&str, u32, u32); 2] = [("desktop", 1280, 800), ("phone", 390, 844)];

/// A chromedriver of this test's own, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    /// Kills chromedriver's whole process group: the browsers it started too, even when a
    /// failed assertion left their sessions open.
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let killed = Command::new("kill")
            .args(["-KILL", "--", &group])
            .status()
            .is_ok_and(|s| s.success());
        if !killed {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

async fn driver() -> Driver {
    let bin = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect(
            "chromedriver is missing: apt-get install chromium chromium-driver (scripts/test does)",
        );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let driver = Driver {
        child: Command::new(bin)
            .arg(format!("--port={port}"))
            // A group of its own, so that dropping the driver can end the browsers with it.
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts"),
        url: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..100 {
        if reqwest::get(format!("{}/status", driver.url)).await.is_ok() {
            return driver;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not answer on {}", driver.url);
}

/// A browser session over the W3C WebDriver protocol: the handful of commands these tests use,
/// spoken directly with reqwest (the WebDriver client crates pull a second TLS stack and a C
/// build for a connection that is plain HTTP on loopback).
struct Client {
    http: reqwest::Client,
    session: String,
}

/// A found element.
struct Element<'a> {
    client: &'a Client,
    id: String,
}

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Client {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let url = format!("{}{path}", self.session);
        let mut req = self.http.request(method, url);
        req = req.json(&body.unwrap_or_else(|| json!({})));
        let r = req.send().await.map_err(|e| e.to_string())?;
        let ok = r.status().is_success();
        let v: Value = r.json().await.map_err(|e| e.to_string())?;
        if ok {
            Ok(v["value"].clone())
        } else {
            Err(v["value"]["message"]
                .as_str()
                .unwrap_or("webdriver error")
                .to_owned())
        }
    }

    async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await
            .unwrap_or_else(|e| panic!("goto {url}: {e}"));
    }

    async fn find(&self, css: &str) -> Result<Element<'_>, String> {
        let v = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await?;
        Ok(Element {
            client: self,
            id: v[ELEMENT_KEY]
                .as_str()
                .ok_or_else(|| format!("no element in {v}"))?
                .to_owned(),
        })
    }

    async fn execute(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
        .await
        .unwrap_or_else(|e| panic!("script: {e}"))
    }

    /// Runs an asynchronous script: it ends by calling its last argument with the result.
    async fn execute_async(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/async",
            Some(json!({ "script": script, "args": [] })),
        )
        .await
        .unwrap_or_else(|e| panic!("script: {e}"))
    }

    async fn screenshot(&self) -> Vec<u8> {
        let v = self
            .call(reqwest::Method::GET, "/screenshot", None)
            .await
            .expect("a screenshot");
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .expect("base64")
    }

    async fn close(self) {
        let _ = self.call(reqwest::Method::DELETE, "", None).await;
    }
}

impl Element<'_> {
    async fn act(&self, what: &str, body: Option<Value>) -> Result<Value, String> {
        let m = if body.is_some() || what == "/click" {
            reqwest::Method::POST
        } else {
            reqwest::Method::GET
        };
        self.client
            .call(m, &format!("/element/{}{what}", self.id), body)
            .await
    }

    async fn click(&self) {
        self.act("/click", None).await.expect("click");
    }

    async fn send_keys(&self, text: &str) {
        self.act("/value", Some(json!({ "text": text })))
            .await
            .expect("typing");
    }

    async fn text(&self) -> String {
        self.act("/text", None)
            .await
            .expect("text")
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn attr(&self, name: &str) -> Option<String> {
        self.act(&format!("/attribute/{name}"), None)
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
    }

    async fn is_displayed(&self) -> bool {
        self.act("/displayed", None)
            .await
            .ok()
            .and_then(|v| v.as_bool())
            == Some(true)
    }
}

async fn browser(driver: &Driver, width: u32, height: u32) -> Client {
    let http = reqwest::Client::new();
    let caps = json!({ "capabilities": { "alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     format!("--window-size={width},{height}")]
        }
    }}});
    let r = http
        .post(format!("{}/session", driver.url))
        .json(&caps)
        .send()
        .await
        .expect("chromedriver answers");
    let v: Value = r.json().await.expect("a session");
    let id = v["value"]["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("no session: {v}"))
        .to_owned();
    let c = Client {
        http,
        session: format!("{}/session/{id}", driver.url),
    };
    c.call(
        reqwest::Method::POST,
        "/window/rect",
        Some(json!({ "width": width, "height": height })),
    )
    .await
    .expect("window size");
    c
}

fn shots_dir() -> PathBuf {
    let dir = std::env::var_os("RAPPORT_SCREENSHOTS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/browser-screenshots"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Saves a screenshot of the page, and checks it with axe-core: what it finds of impact moderate
/// or higher is kept in [`FINDINGS`], which the test requires empty at its end (so one run lists
/// every page's faults).
async fn shot(c: &Client, size: &str, page: &str) {
    let png = c.screenshot().await;
    std::fs::write(shots_dir().join(format!("{size}-{page}.png")), png).unwrap();
    for finding in axe(c).await {
        FINDINGS
            .lock()
            .unwrap()
            .push(format!("{size} {page}: {finding}"));
    }
}

/// Accessibility faults found so far (see [`shot`]).
static FINDINGS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// axe-core's script: `RAPPORT_AXE_JS`, which scripts/test sets after installing the pinned
/// version into its cache of test tools; else the one that cache holds (so that a plain
/// `cargo test` works once scripts/test has run).
fn axe_source() -> &'static str {
    static SOURCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SOURCE.get_or_init(|| {
        let path = std::env::var("RAPPORT_AXE_JS").unwrap_or_else(|_| {
            let tools = std::env::var("RAPPORT_TOOLS_DIR").unwrap_or_else(|_| {
                format!(
                    "{}/.cache/rapport-test-tools",
                    std::env::var("HOME").unwrap_or_default()
                )
            });
            std::fs::read_dir(&tools)
                .into_iter()
                .flatten()
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("axe-core-"))
                })
                .max()
                .map(|dir| format!("{}/node_modules/axe-core/axe.min.js", dir.display()))
                .unwrap_or_else(|| format!("{tools}/axe-core-*"))
        });
        std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("axe-core is missing at {path} ({e}): scripts/test installs it, or set RAPPORT_AXE_JS")
        })
    })
}

/// The page's accessibility faults of impact moderate or higher, one line each.
async fn axe(c: &Client) -> Vec<String> {
    c.execute(&format!("{}\n;return true;", axe_source())).await;
    let found = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, {resultTypes: ['violations']})
               .then(r => done(r.violations
                 .filter(v => ['moderate', 'serious', 'critical'].includes(v.impact))
                 .map(v => v.impact + ' ' + v.id + ': ' + v.help + ' at '
                   + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '))))
               .catch(e => done(['axe failed: ' + e]));",
        )
        .await;
    found
        .as_array()
        .expect("axe's findings")
        .iter()
        .map(|f| f.as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Whether the page is wider than the window (a horizontal scroll bar).
async fn scrolls_sideways(c: &Client) -> bool {
    c.execute("return document.documentElement.scrollWidth > window.innerWidth;")
        .await
        .as_bool()
        .unwrap_or(true)
}

async fn fill(c: &Client, css: &str, text: &str) {
    c.find(css)
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .send_keys(text)
        .await;
}

async fn click(c: &Client, css: &str) {
    c.find(css)
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await;
}

async fn sign_up(c: &Client, base: &str, name: &str, email: &str) -> String {
    c.goto(&format!("{base}/signup")).await;
    fill(c, "#name", name).await;
    fill(c, "#email", email).await;
    fill(c, "#password", PASSWORD).await;
    click(c, "form button[type=submit]").await;
    until(c, "a.me", true).await;
    let href = c.find("a.me").await.unwrap().attr("href").await;
    href.expect("a profile link")
        .trim_start_matches("/in/")
        .to_owned()
}

/// Waits (up to 15 s) until `css` matches, or until it no longer does.
async fn until(c: &Client, css: &str, present: bool) {
    for _ in 0..150 {
        if c.find(css).await.is_ok() == present {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "{css} never became {}",
        if present { "present" } else { "absent" }
    );
}

#[tokio::test]
async fn members_invite_see_it_live_withdraw_and_block_in_a_real_browser_on_desktop_and_phone() {
    let app = TestApp::spawn().await;
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let feed = app.app.clone();
    tokio::spawn(async move { feed.run_feed(stopped).await });
    let base = app.address.clone();
    let driver = driver().await;

    for (size, width, height) in SIZES {
        let ada = browser(&driver, width, height).await;
        let bob = browser(&driver, width, height).await;
        let ada_id = sign_up(
            &ada,
            &base,
            "Ada Lovelace",
            &format!("ada.{size}@example.com"),
        )
        .await;
        let bob_id = sign_up(
            &bob,
            &base,
            "Bob Builder",
            &format!("bob.{size}@example.com"),
        )
        .await;
        // Ada administers the network too, so the admin page is looked at as well.
        app.make_admin(&format!("ada.{size}@example.com")).await;
        shot(&bob, size, "home").await;

        // Bob keeps Received open; the live script connects to the event stream.
        bob.goto(&format!("{base}/invitations")).await;
        until(&bob, "html[data-live-ready]", true).await;
        shot(&bob, size, "received-empty").await;

        // Ada invites Bob from his profile, with a note that tries to run a script.
        ada.goto(&format!("{base}/in/{bob_id}")).await;
        let note = "Hello <script>window.pwned = 1</script> Bob";
        fill(&ada, "#note", note).await;
        let counter = ada.find("#note-count").await.unwrap().text().await;
        assert_eq!(counter, format!("{} / 300", note.chars().count()));
        shot(&ada, size, "profile-connect").await;
        click(&ada, "form.connect button[type=submit]").await;
        until(&ada, "p.notice", true).await;

        // It appears on Bob's open page without a reload, the note as text.
        until(&bob, "[data-invitation-id]", true).await;
        let shown = bob.find(".note").await.unwrap().text().await;
        assert_eq!(shown, note);
        let pwned = bob.execute("return window.pwned === undefined;").await;
        assert_eq!(pwned.as_bool(), Some(true), "the note ran nothing");
        let badge = bob.find("#pending-badge").await.unwrap().text().await;
        assert_eq!(badge, "1");
        shot(&bob, size, "received").await;

        // Ada withdraws, confirming what it means; it vanishes from Bob's open page.
        ada.goto(&format!("{base}/invitations/sent")).await;
        shot(&ada, size, "sent").await;
        click(&ada, ".card a.button").await;
        let text = ada.find("ul.consequences").await.unwrap().text().await;
        assert!(
            text.contains("won't be told") && text.contains("3 weeks"),
            "{text}"
        );
        shot(&ada, size, "withdraw-confirm").await;
        click(&ada, "button.danger").await;
        until(&ada, "p.notice", true).await;
        until(&bob, "[data-invitation-id]", false).await;
        let empty = bob.find("#received-empty").await.unwrap();
        assert!(empty.is_displayed().await);

        // Someone Bob does not know invites him; his open page shows it; he ignores it, saying so.
        let cy = app.signup_member(&format!("Cy {size}")).await;
        let body = serde_json::json!({ "recipient_id": bob_id });
        expect_json(app.send_invitation(&cy.token, body).await, 201).await;
        until(&bob, "[data-invitation-id]", true).await;
        click(&bob, ".card details.menu summary").await;
        shot(&bob, size, "received-ignore-menu").await;
        click(&bob, ".card button[value=dont_know]").await;
        until(&bob, "p.notice", true).await;

        // Ada invites Cy; three weeks later she withdraws everything older, after seeing how many.
        ada.goto(&format!("{base}/in/{}", cy.id)).await;
        click(&ada, "form.connect button[type=submit]").await;
        until(&ada, "p.notice", true).await;
        app.advance(22 * DAY);
        ada.goto(&format!("{base}/invitations/sent")).await;
        click(&ada, ".bulk button").await;
        until(&ada, "ul.consequences", true).await;
        let title = ada.find("h1").await.unwrap().text().await;
        assert_eq!(title, "Withdraw 1 invitation sent more than 21 days ago?");
        shot(&ada, size, "withdraw-older").await;
        click(&ada, "button.danger").await;
        until(&ada, "p.notice", true).await;
        assert!(ada.find("[data-invitation-id]").await.is_err());

        // Bob invites Ada instead; she accepts; then he blocks her from her profile.
        bob.goto(&format!("{base}/in/{ada_id}")).await;
        click(&bob, "form.connect button[type=submit]").await;
        until(&bob, "p.notice", true).await;
        ada.goto(&format!("{base}/invitations")).await;
        click(&ada, ".card form button.primary").await;
        until(&ada, "p.notice", true).await;
        ada.goto(&format!("{base}/network")).await;
        shot(&ada, size, "network").await;
        ada.goto(&format!("{base}/search?q=bob")).await;
        shot(&ada, size, "search").await;
        ada.goto(&format!("{base}/notifications")).await;
        shot(&ada, size, "notifications").await;
        bob.goto(&format!("{base}/in/{ada_id}")).await;
        click(&bob, "details.block summary").await;
        click(&bob, "details.block button.danger").await;
        until(&bob, "p.notice", true).await;
        ada.goto(&format!("{base}/in/{bob_id}")).await;
        let title = ada.find("h1").await.unwrap().text().await;
        assert_eq!(title, "Not found", "blocked: Bob is gone for Ada");

        // No page scrolls sideways at this size.
        for (path, name) in [
            ("/settings", "settings"),
            ("/stats", "stats"),
            ("/admin", "admin"),
            ("/nothing-here", "not-found"),
        ] {
            ada.goto(&format!("{base}{path}")).await;
            shot(&ada, size, name).await;
        }
        for path in [
            "/settings",
            "/stats",
            "/admin",
            "/",
            "/invitations",
            "/invitations/sent",
            "/network",
            "/search?q=a",
            "/notifications",
        ] {
            ada.goto(&format!("{base}{path}")).await;
            assert!(
                !scrolls_sideways(&ada).await,
                "{path} scrolls sideways at {width}px"
            );
        }
        ada.goto(&format!("{base}/login")).await;
        shot(&ada, size, "login").await;
        ada.close().await;
        bob.close().await;
    }
    eprintln!("screenshots in {}", shots_dir().display());
    let findings = FINDINGS.lock().unwrap().clone();
    assert!(
        findings.is_empty(),
        "axe-core found accessibility faults:\n{}",
        findings.join("\n")
    );
}

#[tokio::test]
async fn a_member_signs_in_through_the_communitys_provider_in_a_real_browser() {
    use crate::oidc_provider::{OidcProvider, CLIENT_ID, CLIENT_SECRET};
    // The provider must know the callback's address before the server starts: a port chosen now.
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let callback = format!("{base}/auth/oidc/callback");
    let provider = OidcProvider::start_with_clock(&callback, START.0 / 1000).await;
    let issuer = provider.issuer();
    let app = TestApp::spawn_at(port, |c| {
        c.base_url = base.clone();
        c.oidc = vec![rapport_app::config::OidcSettings {
            issuer,
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            name: "Alumni".into(),
            scopes: vec!["openid".into(), "email".into(), "profile".into()],
            on_first_sign_in: rapport_app::config::FirstSignIn::Create,
        }];
    })
    .await;
    let driver = driver().await;
    let (size, width, height) = SIZES[1];
    let c = browser(&driver, width, height).await;
    c.goto(&format!("{base}/login")).await;
    until(&c, "#oidc-0", true).await;
    shot(&c, size, "login-with-provider").await;
    let faults = axe(&c).await;
    assert!(faults.is_empty(), "accessibility: {faults:#?}");
    click(&c, "#oidc-0").await;
    // The provider's own pages: its login form, then its consent.
    until(&c, "input[name=login]", true).await;
    fill(&c, "input[name=login]", "grace@example.com").await;
    click(&c, "#submit").await;
    until(&c, "form[action$=confirm] #submit", true).await;
    click(&c, "#submit").await;
    // Back on Rapport, signed in as the member the provider vouched for.
    until(&c, "a.me", true).await;
    let at = c.execute("return location.href;").await;
    assert!(
        at.as_str().unwrap().starts_with(&base),
        "back at Rapport: {at}"
    );
    let id = c.find("a.me").await.unwrap().attr("href").await.unwrap();
    let id = id.trim_start_matches("/in/");
    let m = app.app.me(id.parse().unwrap()).await.unwrap();
    assert_eq!(m.email, "grace@example.com");
    c.close().await;
    drop(app);
}
