//! Blocking, deactivating, closing, suspending, administrators, and expiry.

use crate::fixtures::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

const DAY: Duration = Duration::from_secs(86_400);

#[tokio::test]
async fn a_block_ends_everything_between_two_members_and_hides_each_from_the_other() {
    // Pending invitations end, the connection goes, and each reads as unknown to the other,
    // byte for byte; unblocking restores nothing but the possibility.
    let app = TestApp::spawn().await;
    let (ada, bob, cleo) = (
        app.member("Ada").await,
        app.member("Bob").await,
        app.member("Cleo").await,
    );
    app.connect(&ada, &bob).await;
    let from_cleo = app.invite_ok(&cleo, &ada).await;
    let unknown = app.profile(&ada, "987654").await.text().await.unwrap();

    assert_eq!(
        app.raw(
            Method::PUT,
            &format!("/api/v1/blocks/{}", bob.id),
            Some(&ada.token),
            None
        )
        .await
        .status(),
        204
    );
    assert_eq!(
        app.raw(
            Method::PUT,
            &format!("/api/v1/blocks/{}", cleo.id),
            Some(&ada.token),
            None
        )
        .await
        .status(),
        204
    );
    assert_eq!(
        app.raw(
            Method::PUT,
            &format!("/api/v1/blocks/{}", cleo.id),
            Some(&ada.token),
            None
        )
        .await
        .status(),
        204,
        "idempotent"
    );
    assert!(
        app.inbox_ids(&ada).await.is_empty(),
        "the blocked member's invitation is gone"
    );
    // Even her own invitation to Ada now reads as unknown to Cleo: nothing passes between them.
    assert_problem(app.invitation(&cleo, &from_cleo).await, 404, "not_found").await;
    assert_eq!(
        app.connections(&ada, "")
            .await
            .json::<Value>()
            .await
            .unwrap()["total"],
        0
    );
    for (viewer, other) in [(&ada, &bob), (&bob, &ada)] {
        let r = app.profile(viewer, &other.id).await;
        assert_eq!(r.status(), 404);
        let body = r.text().await.unwrap();
        assert_eq!(body, unknown);
        assert_problem(app.invite(viewer, other, None).await, 404, "not_found").await;
    }
    // The blocked one cannot block back or otherwise tell the block from a missing member.
    let r = app
        .raw(
            Method::PUT,
            &format!("/api/v1/blocks/{}", ada.id),
            Some(&bob.token),
            None,
        )
        .await;
    assert_problem(r, 404, "not_found").await;

    let list: Value = app
        .get("/api/v1/blocks", &ada.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 2);
    assert_eq!(
        app.raw(
            Method::DELETE,
            &format!("/api/v1/blocks/{}", bob.id),
            Some(&ada.token),
            None
        )
        .await
        .status(),
        204
    );
    assert_eq!(
        app.raw(
            Method::DELETE,
            &format!("/api/v1/blocks/{}", bob.id),
            Some(&ada.token),
            None
        )
        .await
        .status(),
        404
    );
    let p: Value = app.profile(&ada, &bob.id).await.json().await.unwrap();
    assert_eq!(
        p["relationship"]["state"], "none",
        "unblocking does not reconnect"
    );
    assert_eq!(app.invite(&bob, &ada, None).await.status(), 201);
    let me = app
        .raw(
            Method::PUT,
            &format!("/api/v1/blocks/{}", ada.id),
            Some(&ada.token),
            None,
        )
        .await;
    assert_problem(me, 422, "validation_failed").await;
}

#[tokio::test]
async fn a_deactivated_member_is_hidden_until_they_sign_in_again() {
    // Deactivation cancels pending invitations both ways, hides the member and their connections,
    // and revokes tokens; signing in brings the account and its connections back.
    let app = TestApp::spawn().await;
    let (ada, bob, cleo, dan) = (
        app.member("Ada").await,
        app.member("Bob").await,
        app.member("Cleo").await,
        app.member("Dan").await,
    );
    app.connect(&ada, &bob).await;
    app.connect(&bob, &dan).await;
    let sent = app.invite_ok(&ada, &cleo).await;
    app.invite_ok(&dan, &ada).await;

    assert_eq!(
        app.raw(
            Method::POST,
            "/api/v1/me/deactivate",
            Some(&ada.token),
            None
        )
        .await
        .status(),
        204
    );
    assert_problem(app.me(&ada.token).await, 401, "unauthenticated").await;
    assert_problem(app.profile(&bob, &ada.id).await, 404, "not_found").await;
    assert!(
        app.inbox_ids(&cleo).await.is_empty(),
        "her pending invitation ended silently"
    );
    assert_eq!(
        app.connections(&bob, "")
            .await
            .json::<Value>()
            .await
            .unwrap()["total"],
        1,
        "only Dan shows"
    );
    let p: Value = app.profile(&dan, &bob.id).await.json().await.unwrap();
    assert_eq!(
        p["relationship"]["mutual_connections"], 0,
        "Ada no longer counts as a mutual connection"
    );
    assert_problem(app.invite(&bob, &ada, None).await, 404, "not_found").await;

    let r = app.login(&ada.email, "correct horse battery").await;
    assert_eq!(r.status(), 200);
    let ada_token = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.me(&ada_token).await.json::<Value>().await.unwrap()["status"],
        "active"
    );
    assert_eq!(
        app.connections(&bob, "")
            .await
            .json::<Value>()
            .await
            .unwrap()["total"],
        2
    );
    let p: Value = app.profile(&dan, &ada.id).await.json().await.unwrap();
    assert_eq!(p["relationship"]["degree"], 2);
    let ada_again = Member {
        token: ada_token,
        ..ada.clone()
    };
    assert_eq!(
        app.invitation(&ada_again, &sent)
            .await
            .json::<Value>()
            .await
            .unwrap()["state"],
        "closed"
    );
}

#[tokio::test]
async fn closing_an_account_needs_the_password_and_erases_it() {
    // Connections go, the profile is gone, and the email may sign up again.
    let app = TestApp::spawn().await;
    let (ada, bob) = (app.member("Ada").await, app.member("Bob").await);
    app.connect(&ada, &bob).await;
    let wrong = app
        .raw(
            Method::DELETE,
            "/api/v1/me",
            Some(&ada.token),
            Some(json!({"password": "not my password"})),
        )
        .await;
    assert_problem(wrong, 401, "invalid_credentials").await;
    let r = app
        .raw(
            Method::DELETE,
            "/api/v1/me",
            Some(&ada.token),
            Some(json!({"password": "correct horse battery"})),
        )
        .await;
    assert_eq!(r.status(), 204);
    assert_problem(app.me(&ada.token).await, 401, "unauthenticated").await;
    assert_problem(app.profile(&bob, &ada.id).await, 404, "not_found").await;
    assert_eq!(
        app.connections(&bob, "")
            .await
            .json::<Value>()
            .await
            .unwrap()["total"],
        0
    );
    assert_eq!(
        app.login(&ada.email, "correct horse battery")
            .await
            .status(),
        401
    );
    let again = app
        .signup(json!({"email": ada.email, "password": "a new password", "name": "Ada"}))
        .await;
    assert_eq!(again.status(), 201);
}

#[tokio::test]
async fn only_administrators_change_members_and_suspension_locks_the_member_out() {
    // A member made admin from the command line can set tiers and suspend; others get 403.
    let app = TestApp::spawn().await;
    let (ada, bob, cleo) = (
        app.member("Ada").await,
        app.member("Bob").await,
        app.member("Cleo").await,
    );
    let path = format!("/api/v1/admin/members/{}", bob.id);
    let r = app
        .raw(
            Method::PATCH,
            &path,
            Some(&ada.token),
            Some(json!({"tier": "premium"})),
        )
        .await;
    assert_problem(r, 403, "forbidden").await;

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rapport"))
        .args([
            "admin", "set-role", "--email", &ada.email, "--role", "admin",
        ])
        .env("RAPPORT_DATA_DIR", app.data_dir())
        .env("RAPPORT_CONFIG", app.data_dir().join("none.toml"))
        .env("RAPPORT_LOG", "warn")
        .env("RAPPORT_DATABASE_URL", app.database.url())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let unknown = std::process::Command::new(env!("CARGO_BIN_EXE_rapport"))
        .args([
            "admin",
            "set-tier",
            "--email",
            "nobody@example.com",
            "--tier",
            "premium",
        ])
        .env("RAPPORT_DATA_DIR", app.data_dir())
        .env("RAPPORT_CONFIG", app.data_dir().join("none.toml"))
        .env("RAPPORT_DATABASE_URL", app.database.url())
        .output()
        .unwrap();
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no member has the email"));

    let r = app
        .raw(
            Method::PATCH,
            &path,
            Some(&ada.token),
            Some(json!({"tier": "premium"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["tier"].as_str(), v["quota"]["weekly_limit"].as_u64()),
        (Some("premium"), Some(200))
    );
    let bad = app
        .raw(
            Method::PATCH,
            &path,
            Some(&ada.token),
            Some(json!({"tier": "gold"})),
        )
        .await;
    assert_problem(bad, 422, "validation_failed").await;

    let pending = app.invite_ok(&bob, &cleo).await;
    let r = app
        .raw(
            Method::PATCH,
            &path,
            Some(&ada.token),
            Some(json!({"suspended": true})),
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "suspended");
    assert_problem(app.me(&bob.token).await, 401, "unauthenticated").await;
    assert_problem(
        app.login(&bob.email, "correct horse battery").await,
        401,
        "invalid_credentials",
    )
    .await;
    assert!(app.inbox_ids(&cleo).await.is_empty());
    assert_problem(app.invitation(&cleo, &pending).await, 404, "not_found").await;
    let r = app
        .raw(
            Method::PATCH,
            &path,
            Some(&ada.token),
            Some(json!({"suspended": false})),
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "active");
    assert_eq!(
        app.login(&bob.email, "correct horse battery")
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn pending_invitations_expire_silently_after_the_expiry() {
    // After 180 days the sweeper expires what is still pending: gone for the recipient, closed for
    // the sender, and its count no longer holds the sender's outstanding cap. A second sweep finds nothing.
    let app = TestApp::spawn_with(|c| c.outstanding_limit = 1).await;
    let (ada, grace, alan) = (
        app.member("Ada").await,
        app.member("Grace").await,
        app.member("Alan").await,
    );
    let id = app.invite_ok(&ada, &grace).await;
    app.advance(179 * DAY);
    assert_eq!(app.app.sweep().await.unwrap().expired, 0);
    assert_eq!(app.inbox_ids(&grace).await, vec![id.clone()]);
    app.advance(2 * DAY);
    assert_eq!(app.app.sweep().await.unwrap().expired, 1);
    assert_eq!(app.app.sweep().await.unwrap().expired, 0);
    assert!(app.inbox_ids(&grace).await.is_empty());
    assert_problem(app.invitation(&grace, &id).await, 404, "not_found").await;
    assert_eq!(
        app.invitation(&ada, &id)
            .await
            .json::<Value>()
            .await
            .unwrap()["state"],
        "closed"
    );
    assert_eq!(app.invite(&ada, &alan, None).await.status(), 201);
}

#[tokio::test]
async fn a_member_sees_their_history_and_can_download_everything() {
    // Stats count what the sender may know (ignored reads closed); the export holds the profile,
    // both directions of invitations, connections and blocks, and nobody else's email.
    let app = TestApp::spawn().await;
    let (ada, bob, cleo, dan, eve) = (
        app.member("Ada").await,
        app.member("Bob").await,
        app.member("Cleo").await,
        app.member("Dan").await,
        app.member("Eve").await,
    );
    let to_bob = app.invite_ok(&ada, &bob).await;
    app.accept(&bob, &to_bob).await;
    let to_cleo = app.invite_ok(&ada, &cleo).await;
    app.ignore(&cleo, &to_cleo, None).await;
    let to_dan = app.invite_ok(&ada, &dan).await;
    app.withdraw(&ada, &to_dan).await;
    app.invite_ok(&eve, &ada).await;
    app.raw(
        Method::PUT,
        &format!("/api/v1/blocks/{}", dan.id),
        Some(&ada.token),
        None,
    )
    .await;

    let s: Value = app
        .get("/api/v1/me/stats", &ada.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            s["sent"].as_u64(),
            s["accepted"].as_u64(),
            s["closed"].as_u64(),
            s["withdrawn"].as_u64()
        ),
        (Some(3), Some(1), Some(1), Some(1))
    );
    assert_eq!(s["acceptance_rate"], 0.5);
    assert_eq!(s["weeks"].as_array().unwrap().len(), 12);
    assert_eq!(s["weeks"][11]["sent"], 3);

    let r = app.get("/api/v1/me/export", &ada.token).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    let text = r.text().await.unwrap();
    let e: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(e["profile"]["email"], ada.email.as_str());
    assert_eq!(e["invitations_sent"].as_array().unwrap().len(), 3);
    assert_eq!(e["invitations_received"].as_array().unwrap().len(), 1);
    assert_eq!(e["connections"][0]["member"]["id"], bob.id.as_str());
    assert_eq!(e["blocks"][0]["id"], dan.id.as_str());
    for other in [&bob, &cleo, &dan, &eve] {
        assert!(
            !text.contains(other.email.as_str()),
            "{} leaked into the export",
            other.email
        );
    }
}
