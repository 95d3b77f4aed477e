//! Signing in through an OpenID provider (issue 19): the real `oidc-provider` for the whole flow
//! (first sign-in creates, the second finds the same member, linking by provisioned id and by
//! verified address, key rotation), and a provider of this test's own making for what a real one
//! never sends: ID tokens for another audience, expired, with another nonce or issuer, signed by
//! a key it does not publish.
//!
//! The server's `base_url` is `http://rapport.test`, the redirect URI both providers hold: the
//! test reads the code and state from the provider's redirect and brings them to the server's
//! callback itself, with the flow's cookie, as the browser would.

use crate::helpers::*;
use crate::oidc_provider::{
    no_redirect_client, sign_in_at_provider, OidcProvider, CLIENT_ID, CLIENT_SECRET,
};
use rapport_app::config::{FirstSignIn, OidcSettings};
use rapport_app::Config;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Method, Url};
use serde_json::{json, Value};

const BASE: &str = "http://rapport.test";

fn redirect_uri() -> String {
    format!("{BASE}/auth/oidc/callback")
}

fn provider_settings(issuer: &str, mode: FirstSignIn) -> OidcSettings {
    OidcSettings {
        issuer: issuer.to_owned(),
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        name: "Alumni".into(),
        scopes: vec!["openid".into(), "email".into(), "profile".into()],
        on_first_sign_in: mode,
    }
}

fn with_provider(c: &mut Config, issuer: &str, mode: FirstSignIn) {
    c.base_url = BASE.into();
    c.oidc = vec![provider_settings(issuer, mode)];
}

/// The value of the cookie `name` that `r` sets.
fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next()?.split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty())
}

/// A sign-in started at the server: the provider's address the browser is sent to, and the
/// flow's cookie.
struct Started {
    provider_url: String,
    cookie: String,
}

async fn start(app: &TestApp, client: &reqwest::Client) -> Started {
    let r = client
        .get(format!("{}/auth/oidc/start?next=/network", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        303,
        "the start sends the browser to the provider"
    );
    let cookie = set_cookie(&r, "rapport_oidc").expect("the flow's cookie is set");
    let provider_url = r.headers()[LOCATION].to_str().unwrap().to_owned();
    Started {
        provider_url,
        cookie,
    }
}

/// Brings the provider's redirect (`callback`, at `BASE`) to the server, with `cookie`.
async fn finish(
    app: &TestApp,
    client: &reqwest::Client,
    callback: &str,
    cookie: Option<&str>,
) -> reqwest::Response {
    let query = Url::parse(callback)
        .unwrap()
        .query()
        .unwrap_or_default()
        .to_owned();
    let mut req = client.get(format!("{}/auth/oidc/callback?{query}", app.address));
    if let Some(c) = cookie {
        req = req.header(COOKIE, format!("rapport_oidc={c}"));
    }
    req.send().await.unwrap()
}

/// Signs `login` in through the real provider: the session token, or the sign-in page's status
/// and text when the server refused.
async fn sign_in(app: &TestApp, login: &str) -> Result<String, (u16, String)> {
    let client = no_redirect_client();
    let started = start(app, &client).await;
    let callback = sign_in_at_provider(&client, &started.provider_url, login).await;
    assert!(
        callback.starts_with(&redirect_uri()),
        "the provider sends the browser back: {callback}"
    );
    let r = finish(app, &client, &callback, Some(&started.cookie)).await;
    if r.status() == 303 {
        assert_eq!(
            r.headers()[LOCATION],
            "/network",
            "back where sign-in began"
        );
        return Ok(set_cookie(&r, "rapport_session").expect("a session starts"));
    }
    let status = r.status().as_u16();
    Err((status, r.text().await.unwrap()))
}

/// The sign-in page's HTML.
async fn login_page(app: &TestApp) -> String {
    let r = app.client.get(format!("{}/login", app.address)).send();
    r.await.unwrap().text().await.unwrap()
}

async fn me(app: &TestApp, token: &str) -> Value {
    expect_json(app.me(token).await, 200).await
}

async fn provider_and_app(mode: FirstSignIn) -> (OidcProvider, TestApp) {
    let provider = OidcProvider::start_with_clock(&redirect_uri(), START.0 / 1000).await;
    let issuer = provider.issuer();
    let app = TestApp::spawn_with(|c| with_provider(c, &issuer, mode)).await;
    (provider, app)
}

#[tokio::test]
async fn a_first_sign_in_creates_the_member_and_the_next_finds_them() {
    let (_provider, app) = provider_and_app(FirstSignIn::Create).await;
    let token = sign_in(&app, "ada@example.com").await.expect("signed in");
    let ada = me(&app, &token).await;
    assert_eq!(ada["email"], "ada@example.com");
    assert_eq!(ada["name"], "Ada");
    let again = sign_in(&app, "ada@example.com").await.expect("signed in");
    assert_ne!(again, token, "a new session");
    assert_eq!(me(&app, &again).await["id"], ada["id"], "the same member");
    // Made by the provider, the member has no password to guess.
    expect_problem(
        app.login("ada@example.com", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    // The login page offers the provider.
    let page = login_page(&app).await;
    assert!(page.contains("Sign in with Alumni"), "{page}");
    // An address the provider does not vouch for creates nobody.
    let (status, page) = sign_in(&app, "unverified-eve@example.com")
        .await
        .expect_err("refused");
    assert_eq!(status, 401);
    assert!(page.contains("verified email"), "{page}");
}

#[tokio::test]
async fn linking_finds_provisioned_and_known_members_and_refuses_the_rest() {
    let (_provider, app) = provider_and_app(FirstSignIn::Link).await;
    // Provisioned under the provider's subject: found by it.
    let bob = app
        .app
        .provision(
            "bob",
            rapport_app::ProvisionInput {
                email: "bob.smith@example.org".into(),
                name: "Bob Smith".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let token = sign_in(&app, "bob").await.expect("the provisioned member");
    assert_eq!(me(&app, &token).await["id"], bob.member.id.as_str());
    // Signed up with a password: never handed to whoever the provider vouches for at that
    // address (it may have been registered by someone else first); Dora keeps her password.
    let dora = app.signup_member("Dora").await;
    let (status, page) = sign_in(&app, &dora.email).await.expect_err("refused");
    assert_eq!(status, 401);
    assert!(page.contains("signs in with a password"), "{page}");
    expect_json(app.login(&dora.email, PASSWORD).await, 200).await;
    // An address nobody has, and an unverified one of a member: refused, nobody created.
    let members_before = app.count("SELECT count(*) FROM members").await;
    let (status, page) = sign_in(&app, "carol@example.com")
        .await
        .expect_err("refused");
    assert_eq!(status, 401);
    assert!(page.contains("ask an administrator"), "{page}");
    // The provider marks logins starting "unverified" as unverified addresses.
    let erin = app.signup_member("unverified-erin").await;
    let (status, _) = sign_in(&app, &erin.email).await.expect_err("refused");
    assert_eq!(status, 401);
    assert_eq!(
        app.count("SELECT count(*) FROM members").await,
        members_before + 1,
        "only erin's own sign-up made a member"
    );
}

#[tokio::test]
async fn sign_in_survives_the_providers_key_rotation() {
    let (mut provider, app) = provider_and_app(FirstSignIn::Create).await;
    let first = sign_in(&app, "kim@example.com").await.expect("signed in");
    let kim = me(&app, &first).await["id"].clone();
    let before = provider.key_ids();
    // The old key stays published beside the new: then only the new one.
    provider.rotate_keys(true).await;
    assert_ne!(provider.key_ids()[0], before[0]);
    let token = sign_in(&app, "kim@example.com").await.expect("signed in");
    assert_eq!(me(&app, &token).await["id"], kim);
    provider.rotate_keys(false).await;
    assert!(!provider.key_ids().contains(&before[0]));
    let token = sign_in(&app, "kim@example.com").await.expect("signed in");
    assert_eq!(me(&app, &token).await["id"], kim);
}

#[tokio::test]
async fn a_callback_without_this_browsers_flow_signs_nobody_in() {
    let (_provider, app) = provider_and_app(FirstSignIn::Create).await;
    let client = no_redirect_client();
    let mine = start(&app, &client).await;
    let theirs = start(&app, &client).await;
    let callback = sign_in_at_provider(&client, &mine.provider_url, "mallory@example.com").await;
    // Another flow's cookie (login CSRF), no cookie, a cookie tampered with.
    for cookie in [
        Some(theirs.cookie.as_str()),
        None,
        Some(&*format!("{}x", mine.cookie)),
    ] {
        let r = finish(&app, &client, &callback, cookie).await;
        assert_eq!(r.status(), 401);
        assert!(set_cookie(&r, "rapport_session").is_none());
    }
    // The provider's refusal is shown as such.
    let r = finish(
        &app,
        &client,
        &format!("{BASE}/auth/oidc/callback?error=access_denied&error_description=nope"),
        Some(&mine.cookie),
    )
    .await;
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("did not sign you in"));
    // Past its ten minutes the flow is over.
    app.advance(std::time::Duration::from_secs(601));
    let r = finish(&app, &client, &callback, Some(&mine.cookie)).await;
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn passwords_can_be_turned_off_for_the_providers_sign_in() {
    let provider = OidcProvider::start_with_clock(&redirect_uri(), START.0 / 1000).await;
    let issuer = provider.issuer();
    let app = TestApp::spawn_with(|c| {
        with_provider(c, &issuer, FirstSignIn::Create);
        c.password_sign_in = false;
    })
    .await;
    let r = app
        .signup(json!({"email": "pat@example.com", "password": PASSWORD, "name": "Pat"}))
        .await;
    let p = expect_problem(r, 403, "forbidden").await;
    assert!(p["detail"].as_str().unwrap().contains("Alumni"), "{p}");
    expect_problem(
        app.login("pat@example.com", PASSWORD).await,
        403,
        "forbidden",
    )
    .await;
    let page = login_page(&app).await;
    assert!(page.contains("Sign in with Alumni"));
    assert!(!page.contains("type=\"password\""), "no password form");
    sign_in(&app, "pat@example.com").await.expect("signed in");
    let r = app
        .request(Method::GET, "/api/v1/me", ANONYMOUS, None)
        .await;
    expect_problem(r, 401, "unauthenticated").await;
}

mod made_up_provider {
    //! A provider of the test's own: discovery, keys and a token endpoint that answers the ID
    //! token the test wrote, signed by whichever RSA key the test chooses.

    use super::*;
    use axum::extract::State;
    use axum::routing::{get, post};
    use axum::{Json, Router};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use rsa::pkcs1v15::SigningKey;
    use rsa::sha2::Sha256;
    use rsa::signature::{SignatureEncoding, Signer};
    use rsa::traits::PublicKeyParts;
    use rsa::RsaPrivateKey;
    use std::sync::{Arc, Mutex};

    pub struct Key {
        pub kid: String,
        private: RsaPrivateKey,
    }

    impl Key {
        pub fn new(kid: &str) -> Key {
            let private = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
            Key {
                kid: kid.into(),
                private,
            }
        }

        fn jwk(&self) -> Value {
            let public = self.private.to_public_key();
            json!({
                "kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
                "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
                "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
            })
        }

        fn sign(&self, claims: &Value) -> String {
            let header = json!({"alg": "RS256", "typ": "JWT", "kid": self.kid});
            let input = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header.to_string()),
                URL_SAFE_NO_PAD.encode(claims.to_string())
            );
            let signer = SigningKey::<Sha256>::new(self.private.clone());
            let signature = signer.sign(input.as_bytes()).to_bytes();
            format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
        }
    }

    #[derive(Default)]
    pub struct Shared {
        pub published: Vec<Value>,
        pub next_token: Option<String>,
    }

    pub struct MadeUp {
        pub issuer: String,
        pub shared: Arc<Mutex<Shared>>,
    }

    impl MadeUp {
        pub async fn start() -> MadeUp {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let issuer = format!("http://{}", listener.local_addr().unwrap());
            let shared = Arc::new(Mutex::new(Shared::default()));
            let discovery = json!({
                "issuer": issuer,
                "authorization_endpoint": format!("{issuer}/authorize"),
                "token_endpoint": format!("{issuer}/token"),
                "jwks_uri": format!("{issuer}/jwks"),
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
            });
            let router = Router::new()
                .route(
                    "/.well-known/openid-configuration",
                    get(move || async move { Json(discovery) }),
                )
                .route(
                    "/jwks",
                    get(|State(s): State<Arc<Mutex<Shared>>>| async move {
                        let keys = s.lock().unwrap().published.clone();
                        Json(json!({ "keys": keys }))
                    }),
                )
                .route(
                    "/token",
                    post(|State(s): State<Arc<Mutex<Shared>>>| async move {
                        let token = s.lock().unwrap().next_token.take().unwrap_or_default();
                        Json(json!({
                            "access_token": "an-access-token", "token_type": "Bearer",
                            "expires_in": 3600, "id_token": token,
                        }))
                    }),
                )
                .with_state(shared.clone());
            tokio::spawn(async move { axum::serve(listener, router).await });
            MadeUp { issuer, shared }
        }

        pub fn publish(&self, keys: &[&Key]) {
            self.shared.lock().unwrap().published = keys.iter().map(|k| k.jwk()).collect();
        }

        pub fn answer(&self, key: &Key, claims: &Value) {
            self.shared.lock().unwrap().next_token = Some(key.sign(claims));
        }
    }
}

use made_up_provider::{Key, MadeUp};

/// Starts a sign-in, has the made-up provider answer with the claims `adjust` leaves (signed by
/// `key`), and brings the code back: the server's answer.
async fn answered(
    app: &TestApp,
    provider: &MadeUp,
    key: &Key,
    adjust: impl FnOnce(&mut Value),
) -> reqwest::Response {
    let client = no_redirect_client();
    let started = start(app, &client).await;
    let url = Url::parse(&started.provider_url).unwrap();
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("the authorization request has {name}"))
    };
    assert_eq!(param("code_challenge_method"), "S256", "PKCE");
    let now = START.0 / 1000;
    let mut claims = json!({
        "iss": provider.issuer, "sub": "subject-1", "aud": CLIENT_ID,
        "iat": now, "exp": now + 300, "nonce": param("nonce"),
        "email": "made@example.com", "email_verified": true, "name": "Made Up",
    });
    adjust(&mut claims);
    provider.answer(key, &claims);
    let callback = format!(
        "{BASE}/auth/oidc/callback?code=a-code&state={}",
        param("state")
    );
    finish(app, &client, &callback, Some(&started.cookie)).await
}

#[tokio::test]
async fn id_tokens_the_server_cannot_trust_are_refused() {
    let provider = MadeUp::start().await;
    let (old, new, stranger) = (Key::new("old"), Key::new("new"), Key::new("stranger"));
    provider.publish(&[&old]);
    let issuer = provider.issuer.clone();
    let app = TestApp::spawn_with(|c| with_provider(c, &issuer, FirstSignIn::Create)).await;
    let refused = |r: reqwest::Response| async move {
        assert_eq!(r.status(), 401, "refused");
        assert!(set_cookie(&r, "rapport_session").is_none());
        r.text().await.unwrap()
    };
    // Each claim wrong in turn.
    type Adjust = Box<dyn FnOnce(&mut Value)>;
    let cases: [(&str, Adjust); 5] = [
        ("audience", Box::new(|c| c["aud"] = json!("another-client"))),
        (
            "two audiences",
            Box::new(|c| c["aud"] = json!([CLIENT_ID, "another-client"])),
        ),
        (
            "expired",
            Box::new(|c| c["exp"] = json!(START.0 / 1000 - 60)),
        ),
        ("nonce", Box::new(|c| c["nonce"] = json!("another-nonce"))),
        (
            "issuer",
            Box::new(|c| c["iss"] = json!("http://elsewhere.example")),
        ),
    ];
    for (what, adjust) in cases {
        let page = refused(answered(&app, &provider, &old, adjust).await).await;
        assert!(page.contains("could not be verified"), "{what}: {page}");
    }
    // Signed by a key the provider does not publish, even after reading its keys again.
    refused(answered(&app, &provider, &stranger, |_| {}).await).await;
    assert_eq!(app.count("SELECT count(*) FROM members").await, 0);
    // The right token signs in; after a rotation, a token of the new key too.
    let r = answered(&app, &provider, &old, |_| {}).await;
    assert_eq!(r.status(), 303);
    provider.publish(&[&new, &old]);
    let r = answered(&app, &provider, &new, |_| {}).await;
    assert_eq!(r.status(), 303, "the new key is read once a token names it");
    assert_eq!(app.count("SELECT count(*) FROM members").await, 1);
}

#[tokio::test]
async fn a_member_without_a_password_closes_their_account_after_signing_in_again() {
    let (_provider, app) = provider_and_app(FirstSignIn::Create).await;
    let token = sign_in(&app, "lee@example.com").await.expect("signed in");
    let r = app
        .request(
            Method::POST,
            "/api/v1/me/password",
            &token,
            Some(json!({"current_password": "", "new_password": PASSWORD})),
        )
        .await;
    let p = expect_problem(r, 403, "forbidden").await;
    assert!(p["detail"].as_str().unwrap().contains("no password"), "{p}");
    // Closing needs a sign-in of the last ten minutes, in place of a password.
    app.advance(std::time::Duration::from_secs(11 * 60));
    let close = json!({"password": ""});
    let r = app
        .request(Method::DELETE, "/api/v1/me", &token, Some(close.clone()))
        .await;
    let p = expect_problem(r, 403, "forbidden").await;
    assert!(
        p["detail"].as_str().unwrap().contains("sign in again"),
        "{p}"
    );
    let fresh = sign_in(&app, "lee@example.com").await.expect("signed in");
    let r = app
        .request(Method::DELETE, "/api/v1/me", &fresh, Some(close))
        .await;
    expect_empty(r, 204).await;
    expect_problem(app.me(&fresh).await, 401, "unauthenticated").await;
    assert_eq!(
        app.count("SELECT count(*) FROM external_ids").await,
        0,
        "the provider's identity went with the account"
    );
}
