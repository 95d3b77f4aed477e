//! A real OpenID Connect provider for the sign-in tests: panva's certified `oidc-provider`
//! (pinned, installed by scripts/test, found through `RAPPORT_OIDC_PROVIDER_MODULES`), run by
//! `scripts/oidc-provider/provider.mjs` under Node.js on a free port of 127.0.0.1, with one
//! confidential client (`CLIENT_ID`, `CLIENT_SECRET`, one redirect URI), the authorization code
//! flow with PKCE (S256, required), RS256 ID tokens, and any login name accepted: `sub` is the
//! login as typed, `email` the login when it holds an `@` (else `<login>@example.test`),
//! `email_verified` true unless the login starts with `unverified`, `name` the part before the
//! `@`, capitalised.
//!
//! `sign_in_at_provider` walks the provider's login and consent pages as a browser would, with a
//! reqwest client that does not follow redirects, and hands back the redirect to the RP.
//!
//! A little over 600 lines: the provider's process, and a browser's walk of its forms with its
//! own cookie jar (reqwest here has no cookie store), belong together.

// Not every test uses every helper here.
#![allow(dead_code)]

use reqwest::header::{HeaderMap, COOKIE, LOCATION, SET_COOKIE};
use reqwest::Url;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The test client's id at the provider.
pub const CLIENT_ID: &str = "rapport-test";

/// The test client's secret at the provider (`client_secret_basic`; `client_secret_post` works
/// too).
pub const CLIENT_SECRET: &str = "rapport-test-secret";

/// How long the provider may take to start (Node.js loads oidc-provider in well under a second).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Requests `sign_in_at_provider` makes at most before it gives up (a sign-in takes seven).
const MAX_STEPS: usize = 16;

/// A running provider, killed when dropped.
pub struct OidcProvider {
    child: Option<Child>,
    port: u16,
    redirect_uri: String,
    script: PathBuf,
    modules: PathBuf,
    /// Seconds the provider's clock runs ahead of the real one (negative: behind).
    clock_offset: i64,
    /// Holds the key file and the provider's log.
    dir: tempfile::TempDir,
}

impl OidcProvider {
    /// Starts a provider on a free port of 127.0.0.1 whose one client may redirect to
    /// `redirect_uri`, with a new signing key. Fails (never skips) when Node.js or oidc-provider
    /// is missing.
    pub async fn start(redirect_uri: &str) -> OidcProvider {
        Self::start_with_offset(redirect_uri, 0).await
    }

    /// The same, with the provider's clock (the `iat`, `exp` and `auth_time` it stamps) set to
    /// `now_unix_seconds` at start and running on from there, e.g. to the test's manual clock,
    /// `helpers::START.0 / 1000`. It keeps that offset across `rotate_keys`.
    pub async fn start_with_clock(redirect_uri: &str, now_unix_seconds: i64) -> OidcProvider {
        Self::start_with_offset(redirect_uri, now_unix_seconds - unix_now()).await
    }

    async fn start_with_offset(redirect_uri: &str, clock_offset: i64) -> OidcProvider {
        let modules = std::env::var_os("RAPPORT_OIDC_PROVIDER_MODULES").map(PathBuf::from);
        let Some(modules) = modules else {
            panic!(
                "RAPPORT_OIDC_PROVIDER_MODULES is not set: run the tests through scripts/test, \
                 which installs oidc-provider (pinned) and sets it to that install's node_modules"
            );
        };
        if !modules.join("oidc-provider").join("package.json").is_file() {
            panic!(
                "RAPPORT_OIDC_PROVIDER_MODULES ({}) holds no oidc-provider: run scripts/test, \
                 which installs it",
                modules.display()
            );
        }
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/oidc-provider/provider.mjs");
        assert!(
            script.is_file(),
            "the provider script is missing: {}",
            script.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("binds 127.0.0.1:0")
            .local_addr()
            .expect("a local address")
            .port();
        let mut provider = OidcProvider {
            child: None,
            port,
            redirect_uri: redirect_uri.to_owned(),
            script,
            modules,
            clock_offset,
            dir: tempfile::tempdir().expect("a temporary directory"),
        };
        provider.launch("").await;
        provider
    }

    /// The issuer, `http://127.0.0.1:PORT`: its discovery document is at
    /// `/.well-known/openid-configuration`.
    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn client_id(&self) -> &'static str {
        CLIENT_ID
    }

    pub fn client_secret(&self) -> &'static str {
        CLIENT_SECRET
    }

    /// The one redirect URI the client has registered.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The private JWKS the provider signs with (its first key signs).
    pub fn keys_file(&self) -> PathBuf {
        self.dir.path().join("keys.json")
    }

    /// The `kid`s of the provider's keys, the signing key first, as its JWKS publishes them.
    pub fn key_ids(&self) -> Vec<String> {
        let text = std::fs::read_to_string(self.keys_file()).expect("the key file reads");
        let jwks: serde_json::Value = serde_json::from_str(&text).expect("the key file is JSON");
        jwks["keys"]
            .as_array()
            .expect("the key file holds keys")
            .iter()
            .map(|key| key["kid"].as_str().expect("every key has a kid").to_owned())
            .collect()
    }

    /// What the provider wrote on stderr (its warnings and every error it answered with).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_file()).unwrap_or_default()
    }

    /// Restarts the provider on the same port with a new signing key: with `keep_old`, the old
    /// keys stay published after it (a rotation RPs can follow with tokens of the old key still
    /// verifiable), without, the new key replaces them. Every session, grant, code and token the
    /// provider held is gone (they live in its memory).
    pub async fn rotate_keys(&mut self, keep_old: bool) {
        self.stop();
        self.launch(if keep_old { "1" } else { "replace" }).await;
    }

    fn log_file(&self) -> PathBuf {
        self.dir.path().join("provider.log")
    }

    /// Starts provider.mjs and waits for its `listening <issuer>` line.
    async fn launch(&mut self, rotate: &str) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_file())
            .expect("the provider's log file opens");
        let mut child = Command::new("node")
            .arg(&self.script)
            .env("OIDC_PROVIDER_MODULES", &self.modules)
            .env("OIDC_PORT", self.port.to_string())
            .env("OIDC_CLIENT_ID", CLIENT_ID)
            .env("OIDC_CLIENT_SECRET", CLIENT_SECRET)
            .env("OIDC_REDIRECT_URI", &self.redirect_uri)
            .env("OIDC_KEYS_FILE", self.keys_file())
            .env("OIDC_ROTATE", rotate)
            .env("OIDC_CLOCK_OFFSET_SECONDS", self.clock_offset.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("node does not start ({e}): scripts/test installs Node.js with npm")
            });
        let stdout = child.stdout.take().expect("the provider's stdout is piped");
        self.child = Some(child);

        // Reads the provider's stdout to its end (so that it never writes into a closed pipe),
        // passing on the first `listening` line.
        let (tx, rx) = tokio::sync::oneshot::channel::<String>();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(issuer) = line.strip_prefix("listening ") {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(issuer.to_owned());
                    }
                }
            }
        });
        match tokio::time::timeout(START_TIMEOUT, rx).await {
            Ok(Ok(issuer)) => assert_eq!(
                issuer,
                self.issuer(),
                "the provider listens under another issuer"
            ),
            Ok(Err(_)) => panic!(
                "the OpenID provider exited before it listened; its log:\n{}",
                self.log()
            ),
            Err(_) => panic!(
                "the OpenID provider did not listen within {START_TIMEOUT:?}; its log:\n{}",
                self.log()
            ),
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        self.stop();
    }
}

fn unix_now() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is past 1970");
    i64::try_from(since.as_secs()).expect("seconds fit an i64")
}

/// A reqwest client for `sign_in_at_provider`: it follows no redirects (the walk does, keeping
/// the provider's cookies itself, and stops at the one to the RP).
pub fn no_redirect_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a reqwest client")
}

/// Signs `login` in at the provider as a browser would: from `start_url` (the provider's
/// authorization endpoint, where the RP redirected the browser) through the login form and the
/// consent form, and returns the redirect to the RP's redirect URI (with `code`, `state` and
/// `iss`, or `error`), without following it. `client` must not follow redirects
/// (`no_redirect_client`); the provider's cookies are kept here, one jar per call, so that every
/// call is a browser that has not signed in at the provider before. Panics on anything else the
/// provider answers, with its page.
pub async fn sign_in_at_provider(client: &reqwest::Client, start_url: &str, login: &str) -> String {
    let start = Url::parse(start_url)
        .unwrap_or_else(|e| panic!("the authorization URL {start_url} does not parse: {e}"));
    let provider = start.origin();
    let mut jar = CookieJar::default();
    let mut next = Request::Get(start);
    for _ in 0..MAX_STEPS {
        let (url, response) = match next {
            Request::Get(url) => {
                let mut request = client.get(url.clone());
                if let Some(cookies) = jar.header(&url) {
                    request = request.header(COOKIE, cookies);
                }
                let response = request
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("GET {url}: {e}"));
                (url, response)
            }
            Request::Post(url, fields) => {
                let mut request = client.post(url.clone()).form(&fields);
                if let Some(cookies) = jar.header(&url) {
                    request = request.header(COOKIE, cookies);
                }
                let response = request
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("POST {url}: {e}"));
                (url, response)
            }
        };
        assert!(
            response.url().origin() == provider,
            "the client followed a redirect away from the provider, to {}: build it with \
             reqwest::redirect::Policy::none() (no_redirect_client)",
            response.url()
        );
        jar.store(&url, response.headers());
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .unwrap_or_else(|| panic!("{url} answered {status} without a Location"))
                .to_owned();
            let target = url
                .join(&location)
                .unwrap_or_else(|e| panic!("{url} redirected to {location}, which is no URL: {e}"));
            if target.origin() != provider {
                return target.to_string();
            }
            next = Request::Get(target);
            continue;
        }
        let page = response
            .text()
            .await
            .unwrap_or_else(|e| panic!("the page at {url} does not read: {e}"));
        assert!(
            status.is_success(),
            "the provider answered {url} with {status}:\n{page}"
        );
        let Some(form) = forms(&page).into_iter().next() else {
            panic!("the provider's page at {url} holds no form:\n{page}");
        };
        next = form.submit(&url, login);
    }
    panic!("the sign-in at the provider took more than {MAX_STEPS} requests, from {start_url}");
}

enum Request {
    Get(Url),
    Post(Url, Vec<(String, String)>),
}

/// An HTML form: its action, method and controls, each control's attributes.
struct Form {
    action: String,
    method: String,
    controls: Vec<Vec<(String, String)>>,
}

impl Form {
    /// What a browser sends when a person types `login` into the form's text field (and a
    /// password into a password field, if there is one) and presses its first submit button.
    fn submit(&self, page: &Url, login: &str) -> Request {
        let mut fields = Vec::new();
        let texts = self
            .controls
            .iter()
            .filter(|c| matches!(kind(c).as_str(), "text" | "email"))
            .count();
        let mut pressed = false;
        for control in &self.controls {
            let Some(name) = attribute(control, "name") else {
                continue;
            };
            let value = attribute(control, "value").unwrap_or_default();
            match kind(control).as_str() {
                "text" | "email" if name == "login" || texts == 1 => {
                    fields.push((name, login.to_owned()));
                }
                "password" => fields.push((name, "password".to_owned())),
                "checkbox" | "radio" => {
                    if attribute(control, "checked").is_some() {
                        fields.push((
                            name,
                            if value.is_empty() {
                                "on".to_owned()
                            } else {
                                value
                            },
                        ));
                    }
                }
                "submit" => {
                    if !pressed {
                        pressed = true;
                        fields.push((name, value));
                    }
                }
                "button" | "reset" | "image" | "file" => {}
                _ => fields.push((name, value)),
            }
        }
        let mut action = page
            .join(&self.action)
            .unwrap_or_else(|e| panic!("the form's action {} is no URL: {e}", self.action));
        if self.method.eq_ignore_ascii_case("post") {
            Request::Post(action, fields)
        } else {
            action.query_pairs_mut().clear().extend_pairs(&fields);
            Request::Get(action)
        }
    }
}

/// A control's type as a browser reads it: `<button>` without a type is a submit button,
/// `<input>` without one a text field.
fn kind(control: &[(String, String)]) -> String {
    let default = match attribute(control, "<tag>").as_deref() {
        Some("button") => "submit",
        _ => "text",
    };
    attribute(control, "type")
        .unwrap_or_else(|| default.to_owned())
        .to_ascii_lowercase()
}

fn attribute(control: &[(String, String)], name: &str) -> Option<String> {
    control
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.clone())
}

/// The forms of a page, with their `<input>`s and named `<button>`s in order. Enough HTML for
/// the provider's pages (and most hand-written ones): no comments, scripts or nested quotes.
fn forms(html: &str) -> Vec<Form> {
    // ASCII lowercasing keeps every byte offset, so offsets found in `lower` index `html`.
    let lower = html.to_ascii_lowercase();
    let mut forms = Vec::new();
    let mut at = 0;
    while let Some(start) = lower[at..].find("<form").map(|i| at + i) {
        let Some(open_end) = lower[start..].find('>').map(|i| start + i) else {
            break;
        };
        let form = attributes(&html[start + "<form".len()..open_end]);
        let end = lower[open_end..]
            .find("</form")
            .map_or(html.len(), |i| open_end + i);
        let mut controls = Vec::new();
        let mut i = open_end;
        while let Some((tag, tag_start)) = next_control(&lower[..end], i) {
            let Some(tag_end) = lower[tag_start..end].find('>').map(|j| tag_start + j) else {
                break;
            };
            let mut control = attributes(&html[tag_start + 1 + tag.len()..tag_end]);
            control.push(("<tag>".to_owned(), tag.to_owned()));
            controls.push(control);
            i = tag_end;
        }
        forms.push(Form {
            action: attribute(&form, "action").unwrap_or_default(),
            method: attribute(&form, "method").unwrap_or_else(|| "get".to_owned()),
            controls,
        });
        at = end;
    }
    forms
}

/// The next `<input` or `<button` at or after `from`: its tag name and offset.
fn next_control(lower: &str, from: usize) -> Option<(&'static str, usize)> {
    ["input", "button"]
        .into_iter()
        .filter_map(|tag| {
            lower[from..]
                .find(&format!("<{tag}"))
                .map(|i| (tag, from + i))
        })
        .min_by_key(|(_, offset)| *offset)
}

/// The attributes of a tag's inside (what follows its name), names lowercased, values unescaped;
/// a bare attribute (`required`) has an empty value.
fn attributes(tag: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = tag;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '/');
        if rest.is_empty() {
            break;
        }
        let name_end = rest
            .find(|c: char| c.is_whitespace() || c == '=' || c == '/')
            .unwrap_or(rest.len());
        if name_end == 0 {
            // A stray `=`.
            rest = &rest[1..];
            continue;
        }
        let name = rest[..name_end].to_ascii_lowercase();
        rest = rest[name_end..].trim_start();
        let mut value = String::new();
        if let Some(after) = rest.strip_prefix('=') {
            let after = after.trim_start();
            match after.chars().next() {
                Some(quote @ ('"' | '\'')) => {
                    let inner = &after[1..];
                    let close = inner.find(quote).unwrap_or(inner.len());
                    value = unescape(&inner[..close]);
                    rest = inner.get(close + 1..).unwrap_or("");
                }
                _ => {
                    let end = after.find(char::is_whitespace).unwrap_or(after.len());
                    value = unescape(&after[..end]);
                    rest = &after[end..];
                }
            }
        }
        found.push((name, value));
    }
    found
}

/// Decodes HTML character references: the five named ones and numeric ones.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let decoded = rest.find(';').filter(|end| *end <= 10).and_then(|end| {
            let c = match &rest[1..end] {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                entity => entity
                    .strip_prefix('#')
                    .and_then(|n| match n.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok(),
                        None => n.parse().ok(),
                    })
                    .and_then(char::from_u32),
            };
            c.map(|c| (c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The provider's cookies, kept as a browser keeps them for one host: by name and path, sent back
/// on requests to that host whose path is under the cookie's.
#[derive(Default)]
struct CookieJar {
    cookies: Vec<Cookie>,
}

struct Cookie {
    host: String,
    path: String,
    name: String,
    value: String,
}

impl CookieJar {
    fn store(&mut self, url: &Url, headers: &HeaderMap) {
        let host = url.host_str().unwrap_or_default().to_owned();
        for header in headers.get_all(SET_COOKIE) {
            let Ok(text) = header.to_str() else { continue };
            let mut parts = text.split(';');
            let Some((name, value)) = parts.next().and_then(|pair| pair.split_once('=')) else {
                continue;
            };
            let name = name.trim().to_owned();
            let value = value.trim().trim_matches('"').to_owned();
            let mut path = "/".to_owned();
            // oidc-provider clears a cookie with an empty value that expired in 1970.
            let mut expired = value.is_empty();
            for part in parts {
                let (key, val) = part.split_once('=').unwrap_or((part, ""));
                let (key, val) = (key.trim().to_ascii_lowercase(), val.trim());
                if key == "path" && val.starts_with('/') {
                    path = val.to_owned();
                } else if (key == "max-age" && val.parse::<i64>().is_ok_and(|s| s <= 0))
                    || (key == "expires" && val.contains(" 1970 "))
                {
                    expired = true;
                }
            }
            self.cookies
                .retain(|c| c.host != host || c.path != path || c.name != name);
            if !expired {
                self.cookies.push(Cookie {
                    host: host.clone(),
                    path,
                    name,
                    value,
                });
            }
        }
    }

    /// The Cookie header for a request to `url`, if any cookie goes with it.
    fn header(&self, url: &Url) -> Option<String> {
        let host = url.host_str().unwrap_or_default();
        let path = url.path();
        let pairs: Vec<String> = self
            .cookies
            .iter()
            .filter(|c| c.host == host && path_matches(path, &c.path))
            .map(|c| format!("{}={}", c.name, c.value))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }
}

/// RFC 6265's path-match: the cookie's path is the request's, or a prefix of it ending at a `/`.
fn path_matches(request: &str, cookie: &str) -> bool {
    request
        .strip_prefix(cookie)
        .is_some_and(|rest| rest.is_empty() || cookie.ends_with('/') || rest.starts_with('/'))
}
