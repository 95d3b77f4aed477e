use crate::helpers::*;
use serde_json::{json, Value};

#[tokio::test]
async fn signup_returns_a_token_and_the_private_view_of_oneself() {
    // A new member gets a working token and sees their own email, tier, role and quota.
    let app = TestApp::spawn().await;
    let r = app
        .signup(json!({"email": " Ada@Example.com ", "password": "correct horse", "name": "Ada", "headline": "Analyst"}))
        .await;
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    let me = &v["member"];
    assert_eq!(me["email"], "ada@example.com");
    assert_eq!(
        (
            me["tier"].as_str(),
            me["role"].as_str(),
            me["status"].as_str()
        ),
        (Some("free"), Some("member"), Some("active"))
    );
    assert_eq!(
        me["quota"],
        json!({"weekly_limit": 100, "used": 0, "remaining": 100, "next_available_at": null})
    );
    assert_eq!(me["relationship"]["state"], "self");
    assert_eq!(me["restriction"], Value::Null);
    let token = v["token"].as_str().unwrap();
    assert_eq!(
        app.me(token).await.json::<Value>().await.unwrap()["headline"],
        "Analyst"
    );
}

#[tokio::test]
async fn an_email_can_sign_up_once_whatever_its_case() {
    // The same address in another case or with spaces is the same account.
    let app = TestApp::spawn().await;
    app.member("Ada").await;
    let r = app
        .signup(json!({"email": "ADA@example.com ", "password": "correct horse", "name": "Other"}))
        .await;
    assert_problem(r, 409, "email_taken").await;
}

#[tokio::test]
async fn signup_validates_each_field() {
    // Short passwords, malformed emails and empty names are refused with the field named.
    let app = TestApp::spawn().await;
    for (body, field) in [
        (
            json!({"email": "a@x.io", "password": "short", "name": "A"}),
            "password",
        ),
        (
            json!({"email": "not-an-email", "password": "long enough pw", "name": "A"}),
            "email",
        ),
        (
            json!({"email": "a@x.io", "password": "long enough pw", "name": "   "}),
            "name",
        ),
        (
            json!({"email": "a@x.io", "password": "long enough pw", "name": "A", "headline": "x".repeat(201)}),
            "headline",
        ),
    ] {
        let v = assert_problem(app.signup(body).await, 422, "validation_failed").await;
        assert!(v["detail"].as_str().unwrap().starts_with(field), "{v}");
    }
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_identical_answers() {
    // Login never reveals whether an email is registered.
    let app = TestApp::spawn().await;
    let ada = app.member("Ada").await;
    let a = app.login(&ada.email, "wrong password!").await;
    let b = app.login("nobody@example.com", "wrong password!").await;
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (401, 401));
    assert_eq!(a.text().await.unwrap(), b.text().await.unwrap());
    let ok = app.login(&ada.email, "correct horse battery").await;
    assert_eq!(ok.status(), 200);
    let token = ok.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(token, ada.token, "a new token at each sign-in");
}

#[tokio::test]
async fn logout_makes_the_token_stop_working() {
    // After logout the same token is unauthenticated; other tokens of the member still work.
    let app = TestApp::spawn().await;
    let ada = app.member("Ada").await;
    let second = app
        .login(&ada.email, "correct horse battery")
        .await
        .json::<Value>()
        .await
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.logout(&ada.token).await.status(), 204);
    assert_problem(app.me(&ada.token).await, 401, "unauthenticated").await;
    assert_eq!(app.me(&second).await.status(), 200);
}

#[tokio::test]
async fn repeated_failed_logins_are_rate_limited() {
    // After ten failures for one email, the eleventh attempt is refused with a time to retry.
    let app = TestApp::spawn().await;
    let ada = app.member("Ada").await;
    for _ in 0..10 {
        assert_eq!(app.login(&ada.email, "wrong password!").await.status(), 401);
    }
    let r = app.login(&ada.email, "correct horse battery").await;
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after > 0 && retry_after <= 15 * 60);
    let v = assert_problem(r, 429, "rate_limited").await;
    assert!(v["retry_at"].is_string());
    app.advance(std::time::Duration::from_secs(15 * 60));
    assert_eq!(
        app.login(&ada.email, "correct horse battery")
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_member_updates_their_profile() {
    // PATCH /me changes only the fields given and validates them.
    let app = TestApp::spawn().await;
    let ada = app.member("Ada").await;
    let r = app
        .patch_me(
            &ada.token,
            json!({"headline": "Mathematician", "company": "Analytical Engines"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["name"].as_str(), v["headline"].as_str()),
        (Some("Ada"), Some("Mathematician"))
    );
    assert_problem(
        app.patch_me(&ada.token, json!({"name": ""})).await,
        422,
        "validation_failed",
    )
    .await;
    assert_problem(
        app.patch_me(&ada.token, json!({"email": "x@y.io"})).await,
        400,
        "malformed",
    )
    .await;
}
