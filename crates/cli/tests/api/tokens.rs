//! Sign-in tokens die on the server, whatever the cookie or the client keeps: at their absolute
//! lifetime however often they are used, and once left unused for their idle lifetime; the sweeper
//! then deletes them. The in-process token cache checks both at every hit, with the app's clock.

use crate::helpers::*;
use rapport_app::Config;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const MINUTE: Duration = Duration::from_secs(60);

/// A server with the token lifetimes of a real deployment (30 days, 7 idle): the other tests keep
/// their members signed in while they move the clock by months.
async fn with_real_lifetimes(adjust: impl FnOnce(&mut Config)) -> TestApp {
    TestApp::spawn_with(|c| {
        c.token_lifetime = Config::defaults().token_lifetime;
        adjust(c);
    })
    .await
}

#[tokio::test]
async fn stolen_token_expires() {
    // A thief who uses a stolen token every day, so that it never idles, still loses it 30 days
    // after it was issued: 401 unauthenticated, from the cache as from the store.
    let app = with_real_lifetimes(|_| {}).await;
    let ada = app.signup_member("Ada").await;
    for _ in 0..29 {
        app.advance(DAY);
        expect_json(app.me(&ada.token).await, 200).await;
    }
    app.advance(DAY - MINUTE);
    expect_json(app.me(&ada.token).await, 200).await;
    app.advance(MINUTE);
    expect_problem(app.me(&ada.token).await, 401, "unauthenticated").await;
    expect_problem(app.me(&ada.token).await, 401, "unauthenticated").await;
    // The member signs in again and has a token that works.
    let fresh = expect_json(app.login(&ada.email, PASSWORD).await, 200).await;
    expect_json(app.me(fresh["token"].as_str().unwrap()).await, 200).await;
}

#[tokio::test]
async fn an_idle_token_expires() {
    // A token left unused for 7 days stops working, well before its 30 days; each use within the
    // window keeps it alive; and it dies no later than 7 days after its real last use, even when
    // that use was not written (uses are written once a minute).
    let app = with_real_lifetimes(|_| {}).await;
    let (ada, bob) = (
        app.signup_member("Ada").await,
        app.signup_member("Bob").await,
    );
    app.advance(6 * DAY);
    expect_json(app.me(&ada.token).await, 200).await;
    app.advance(6 * DAY);
    expect_json(app.me(&ada.token).await, 200).await;
    app.advance(Duration::from_secs(30));
    expect_json(app.me(&ada.token).await, 200).await;
    expect_problem(app.me(&bob.token).await, 401, "unauthenticated").await;

    app.advance(7 * DAY);
    expect_problem(app.me(&ada.token).await, 401, "unauthenticated").await;
}

#[tokio::test]
async fn the_sweeper_deletes_dead_tokens_and_only_those() {
    // Dead tokens are refused at once; the sweeper then deletes their rows: idle ones, and ones
    // past their absolute lifetime (10 days here) however recently used.
    let app = with_real_lifetimes(|c| c.token_lifetime.absolute = 10 * DAY).await;
    let (ada, bob) = (
        app.signup_member("Ada").await,
        app.signup_member("Bob").await,
    );
    app.advance(6 * DAY);
    expect_json(app.me(&bob.token).await, 200).await;
    app.advance(2 * DAY);
    assert_eq!(app.app.sweep().await.unwrap().tokens_pruned, 1);
    assert_eq!(app.count("SELECT count(*) FROM tokens").await, 1);
    expect_json(app.me(&bob.token).await, 200).await;
    expect_problem(app.me(&ada.token).await, 401, "unauthenticated").await;

    app.advance(2 * DAY);
    assert_eq!(app.app.sweep().await.unwrap().tokens_pruned, 1);
    assert_eq!(app.count("SELECT count(*) FROM tokens").await, 0);
    expect_problem(app.me(&bob.token).await, 401, "unauthenticated").await;
    assert_eq!(app.app.sweep().await.unwrap().tokens_pruned, 0);
}

/// Everything logged on this thread, for [`no_token_is_ever_logged`].
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_token_is_ever_logged() {
    // Everything the server logs, at every level, while tokens are issued, used, replaced (with an
    // Idempotency-Key), replayed, revoked and found dead, holds none of them. The server runs on
    // this test's thread, so this thread's subscriber hears all of it.
    let log = Log::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(
            "rapport_app=trace,rapport_http=trace,rapport_store=trace,tower_http=trace,axum=trace",
        )
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _logging = tracing::subscriber::set_default(subscriber);

    let app = with_real_lifetimes(|_| {}).await;
    let body = json!({"email": "ada@example.com", "password": PASSWORD, "name": "Ada"});
    let signed_up = expect_json(app.signup_with_key("signup-1", body).await, 201).await;
    let logged_in = expect_json(
        app.login_with_key("login-1", "ada@example.com", PASSWORD)
            .await,
        200,
    )
    .await;
    let mut tokens = vec![signed_up["token"].clone(), logged_in["token"].clone()];
    let path = "/api/v1/me/password";
    let change = json!({"current_password": PASSWORD, "new_password": "a brand new passphrase"});
    let token = tokens[1].as_str().unwrap().to_owned();
    let changed = expect_json(
        app.post_with_key(path, &token, "pw-1", change.clone())
            .await,
        200,
    )
    .await["token"]
        .clone();
    tokens.push(changed.clone());
    let changed = changed.as_str().unwrap();
    app.post_with_key(path, changed, "pw-1", change).await;
    expect_json(app.me(changed).await, 200).await;
    app.advance(8 * DAY);
    expect_problem(app.me(changed).await, 401, "unauthenticated").await;
    app.app.sweep().await.unwrap();
    app.logout(changed).await;

    let text = String::from_utf8_lossy(&log.0.lock().unwrap()).into_owned();
    assert!(
        text.contains("password changed"),
        "the log was heard: {text}"
    );
    for token in &tokens {
        let token = token.as_str().unwrap();
        assert!(!text.contains(token), "a token was logged: {text}");
    }
}
