//! Accounts and tokens across the two replicas: an account and a token made on one count on the
//! other at once, and an email is taken on both; a token revoked on one (logout, password change,
//! suspension, deactivation) is refused by the other within a second, though the other cached it;
//! and a replica that stops hearing the other's revocations empties its token cache.

use super::*;
use reqwest::Method;
use serde_json::json;

// ----- 1. accounts ----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_and_its_tokens_count_on_every_replica_at_once() {
    let c = Cluster::start().await;
    let ada = c.a.server.api.signup_member("Ada Replicas").await;

    // The token A issued works on B; signing in on B works, and its token works on A.
    let me = expect_json(c.b.server.api.me(&ada.token).await, 200).await;
    assert_eq!(me["id"], ada.id.as_str());
    let signed_in = expect_json(c.b.server.api.login(&ada.email, PASSWORD).await, 200).await;
    assert_eq!(signed_in["member"]["id"], ada.id.as_str());
    let token_b = signed_in["token"].as_str().expect("token").to_owned();
    let me = expect_json(c.a.server.api.me(&token_b).await, 200).await;
    assert_eq!(me["id"], ada.id.as_str());

    // A logout on A revokes the token on A at once and on B (which has just used it, and so
    // cached it) within a second; the other token stays good everywhere. And the other way round.
    expect_json(c.b.server.api.me(&ada.token).await, 200).await;
    expect_empty(c.a.server.api.logout(&ada.token).await, 204).await;
    expect_problem(c.a.server.api.me(&ada.token).await, 401, "unauthenticated").await;
    refused_on(
        &c.b.server.api,
        &ada.token,
        "B refuses a token logged out on A",
    )
    .await;
    for (_, api) in c.both() {
        expect_json(api.me(&token_b).await, 200).await;
    }
    expect_empty(c.b.server.api.logout(&token_b).await, 204).await;
    expect_problem(c.b.server.api.me(&token_b).await, 401, "unauthenticated").await;
    refused_on(
        &c.a.server.api,
        &token_b,
        "A refuses a token logged out on B",
    )
    .await;

    // An email is taken on every replica, even when both sign it up at the same moment.
    let r =
        c.b.server
            .api
            .signup(json!({"email": ada.email, "password": PASSWORD, "name": "Ada 2"}));
    expect_problem(r.await, 409, "email_taken").await;
    for round in 0..5 {
        let body = json!({"email": format!("both.{round}@example.com"), "password": PASSWORD, "name": "Both"});
        let (ra, rb) = tokio::join!(
            c.a.server.api.signup(body.clone()),
            c.b.server.api.signup(body.clone())
        );
        let mut statuses = [ra.status().as_u16(), rb.status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(
            statuses,
            [201, 409],
            "round {round}: one signup wins, one is email_taken"
        );
    }
}

// ----- 1b. revocations and the token caches ---------------------------------------------------

/// How long a revocation on one replica may take to reach another's token cache (a `NOTIFY`, well
/// under a second): a bound on a wait, never a measurement.
const REVOCATION_PATIENCE: Duration = Duration::from_secs(2);

/// How many requests `api` authenticated from its token cache (`from="cache"`) or the store.
async fn token_lookups(api: &Api, from: &str) -> u64 {
    let r = api.request(Method::GET, "/metrics", ANONYMOUS, None).await;
    let text = r.text().await.expect("a body");
    let series = format!("rapport_token_lookups_total{{from=\"{from}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .map_or(0, |n| n.trim().parse().expect("a count"))
}

/// Uses `token` on `api` until that replica answers it from its token cache, so that a revocation
/// made elsewhere has something to undo there.
async fn cached_on(api: &Api, token: &str, what: &str) {
    eventually(PATIENCE, what, || async {
        let before = token_lookups(api, "cache").await;
        expect_json(api.me(token).await, 200).await;
        let after = token_lookups(api, "cache").await;
        if after > before {
            Ok(())
        } else {
            Err(format!("{after} answers from the cache"))
        }
    })
    .await
}

/// Polls `api` with `token` (short attempts, for at most [`REVOCATION_PATIENCE`]) until it is
/// refused as unauthenticated.
async fn refused_on(api: &Api, token: &str, what: &str) {
    eventually(REVOCATION_PATIENCE, what, || async {
        let r = api.me(token).await;
        match r.status().as_u16() {
            401 => Ok(()),
            other => Err(format!("answered {other}")),
        }
    })
    .await;
    expect_problem(api.me(token).await, 401, "unauthenticated").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_cached_on_one_replica_is_refused_there_within_a_second_of_its_revocation_on_the_other(
) {
    let c = Cluster::start().await;
    let (a, b) = (&c.a.server.api, &c.b.server.api);

    // A logout.
    let ada = a.signup_member("Ada Logout").await;
    cached_on(b, &ada.token, "Ada's token cached on B").await;
    expect_empty(a.logout(&ada.token).await, 204).await;
    refused_on(
        b,
        &ada.token,
        "B refuses Ada's token once she logged out on A",
    )
    .await;

    // A password change ends every other token of the member; the new one works everywhere.
    let bob = a.signup_member("Bob Password").await;
    let signed_in = expect_json(b.login(&bob.email, PASSWORD).await, 200).await;
    let bob_on_b = signed_in["token"].as_str().expect("a token").to_owned();
    cached_on(b, &bob.token, "Bob's first token cached on B").await;
    cached_on(b, &bob_on_b, "Bob's second token cached on B").await;
    let changed = a
        .request(
            Method::POST,
            "/api/v1/me/password",
            &bob.token,
            Some(json!({"current_password": PASSWORD, "new_password": "a new long password"})),
        )
        .await;
    let new_token = expect_json(changed, 200).await["token"]
        .as_str()
        .expect("a token")
        .to_owned();
    refused_on(
        b,
        &bob.token,
        "B refuses Bob's first token after his password change on A",
    )
    .await;
    refused_on(
        b,
        &bob_on_b,
        "B refuses Bob's own token after his password change on A",
    )
    .await;
    expect_json(b.me(&new_token).await, 200).await;

    // A suspension by an administrator.
    let admin = a.signup_member("Admin Suspender").await;
    let admin_id: i64 = admin.id.parse().expect("a numeric id");
    c.db.query(
        "UPDATE members SET role = 'admin' WHERE id = $1",
        &[&admin_id],
    )
    .await;
    let cy = a.signup_member("Cy Suspended").await;
    cached_on(b, &cy.token, "Cy's token cached on B").await;
    let suspended = a
        .request(
            Method::PATCH,
            &format!("/api/v1/admin/members/{}", cy.id),
            &admin.token,
            Some(json!({"suspended": true})),
        )
        .await;
    assert_eq!(expect_json(suspended, 200).await["status"], "suspended");
    refused_on(
        b,
        &cy.token,
        "B refuses Cy's token once Cy is suspended on A",
    )
    .await;

    // A deactivation, by the member on B, reaches A's cache the other way.
    let dee = b.signup_member("Dee Deactivated").await;
    cached_on(a, &dee.token, "Dee's token cached on A").await;
    let r = b
        .request(Method::POST, "/api/v1/me/deactivate", &dee.token, None)
        .await;
    expect_empty(r, 204).await;
    refused_on(
        a,
        &dee.token,
        "A refuses Dee's token once she deactivated on B",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_loses_its_listening_connection_empties_its_token_cache() {
    let c = Cluster::start().await;
    let b = &c.b.server.api;
    let ada = c.a.server.api.signup_member("Ada Unheard").await;
    cached_on(b, &ada.token, "Ada's token cached on B").await;

    // The database ends both replicas' listening connections: until a replica listens again it
    // may miss revocations, so it must drop what it cached. The next use of the token on B is
    // looked up in the store, however soon B listens again.
    let ended =
        c.db.count(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
              WHERE datname = current_database() AND query LIKE 'LISTEN%'",
            &[],
        )
        .await;
    // B's is among them: it caches only while it listens.
    assert!(ended >= 1, "the replicas listen");
    eventually(
        PATIENCE,
        "B looks Ada's token up in the store again",
        || async {
            let before = token_lookups(b, "store").await;
            expect_json(b.me(&ada.token).await, 200).await;
            let after = token_lookups(b, "store").await;
            if after > before {
                Ok(())
            } else {
                Err("answered from the cache".to_owned())
            }
        },
    )
    .await;

    // Listening again, B caches again, and hears revocations again.
    cached_on(
        b,
        &ada.token,
        "Ada's token cached on B once it listens again",
    )
    .await;
    expect_empty(c.a.server.api.logout(&ada.token).await, 204).await;
    refused_on(
        b,
        &ada.token,
        "B refuses Ada's token once she logged out on A",
    )
    .await;
}

/// Guessing a password over two replicas gains nothing: they count the same failures, so ten
/// wrong guesses from one address, five on each, lock that address out of the account on both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spreading_password_guesses_over_replicas_gains_nothing() {
    let c = Cluster::start().await;
    let ada = c.a.server.api.signup_member("Ada Guessed").await;
    for guess in 0..10 {
        let api = if guess % 2 == 0 {
            &c.a.server.api
        } else {
            &c.b.server.api
        };
        let r = api.login(&ada.email, &format!("wrong guess {guess}")).await;
        expect_problem(r, 401, "invalid_credentials").await;
    }
    for (_, api) in c.both() {
        let r = api.login(&ada.email, PASSWORD).await;
        expect_problem(r, 429, "rate_limited").await;
    }
    // The address is refused for Ada's account only: ten failures are far below the limit per
    // address, so another account is answered as usual.
    let r =
        c.a.server
            .api
            .login("someone.else@example.com", PASSWORD)
            .await;
    expect_problem(r, 401, "invalid_credentials").await;
}
