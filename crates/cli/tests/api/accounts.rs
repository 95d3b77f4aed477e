//! Accounts: signup, login, logout, the signed-in member's profile, and the login rate limit.

use crate::helpers::*;
use serde_json::json;

#[tokio::test]
async fn signup_answers_201_with_a_token_and_the_private_profile() {
    // A new account is signed in at once and sees its own email, tier, role and full quota.
    let app = TestApp::spawn().await;
    let r = app
        .signup(json!({
            "email": "  Ada.Lovelace@Example.COM ",
            "password": PASSWORD,
            "name": "Ada Lovelace",
            "headline": "Analyst",
            "company": "Engines Ltd",
            "location": "London",
        }))
        .await;
    let v = expect_json(r, 201).await;
    let token = v["token"].as_str().expect("a token");
    assert!(!token.is_empty());
    let me = &v["member"];
    assert!(me["id"].is_string(), "{me}");
    assert_eq!(me["email"], "ada.lovelace@example.com");
    assert_eq!(me["name"], "Ada Lovelace");
    assert_eq!(me["headline"], "Analyst");
    assert_eq!(me["company"], "Engines Ltd");
    assert_eq!(me["location"], "London");
    assert_eq!(me["tier"], "free");
    assert_eq!(me["role"], "member");
    assert_eq!(me["status"], "active");
    assert_eq!(me["restriction"], serde_json::Value::Null);
    assert_eq!(me["settings"]["invitations_from"], "everyone");
    assert_eq!(me["created_at"], START.to_rfc3339());
    assert_eq!(
        me["relationship"],
        json!({"state": "self", "degree": null, "mutual_connections": 0, "invitation_id": null})
    );
    assert_eq!(
        me["quota"],
        json!({"weekly_limit": 100, "used": 0, "remaining": 100, "next_available_at": null})
    );

    // The token works, and GET /me answers the same member.
    let again = expect_json(app.me(token).await, 200).await;
    assert_eq!(again["id"], me["id"]);
    assert_eq!(again["email"], "ada.lovelace@example.com");
}

#[tokio::test]
async fn signup_with_a_taken_email_is_409_email_taken_whatever_its_case_or_spacing() {
    // An email is one account however it is typed.
    let app = TestApp::spawn().await;
    let ada = app.signup_member("Ada").await;
    for email in [
        ada.email.clone(),
        ada.email.to_uppercase(),
        format!("  {}\t", ada.email),
    ] {
        let r = app
            .signup(json!({"email": email, "password": PASSWORD, "name": "Someone Else"}))
            .await;
        expect_problem(r, 409, "email_taken").await;
    }
}

#[tokio::test]
async fn signup_with_invalid_fields_is_422_validation_failed_naming_the_field() {
    // Short passwords, non-emails and blank names are refused, and `detail` says which field.
    let app = TestApp::spawn().await;
    let cases = [
        (
            "password",
            json!({"email": "a@example.com", "password": "123456789", "name": "Ada"}),
        ),
        (
            "email",
            json!({"email": "not-an-email", "password": PASSWORD, "name": "Ada"}),
        ),
        (
            "email",
            json!({"email": "ada@localhost", "password": PASSWORD, "name": "Ada"}),
        ),
        (
            "email",
            json!({"email": "", "password": PASSWORD, "name": "Ada"}),
        ),
        (
            "name",
            json!({"email": "a@example.com", "password": PASSWORD, "name": ""}),
        ),
        (
            "name",
            json!({"email": "a@example.com", "password": PASSWORD, "name": "   "}),
        ),
        (
            "name",
            json!({"email": "a@example.com", "password": PASSWORD, "name": "Ada\u{7}"}),
        ),
    ];
    for (field, body) in cases {
        let p = expect_problem(app.signup(body.clone()).await, 422, "validation_failed").await;
        let detail = p["detail"].as_str().unwrap();
        assert!(
            detail.contains(field),
            "{body}: detail {detail:?} should name {field}"
        );
    }
    // Nothing was created by the refusals: the address is still free.
    expect_json(
        app.signup(json!({"email": "a@example.com", "password": PASSWORD, "name": "Ada"}))
            .await,
        201,
    )
    .await;
}

#[tokio::test]
async fn login_with_the_right_password_returns_a_new_working_token() {
    // Signing in answers the member and a fresh token that authenticates.
    let app = TestApp::spawn().await;
    let ada = app.signup_member("Ada").await;
    let v = expect_json(app.login(&ada.email.to_uppercase(), PASSWORD).await, 200).await;
    assert_eq!(v["member"]["id"], ada.id.as_str());
    assert_eq!(v["member"]["email"], ada.email.as_str());
    let token = v["token"].as_str().unwrap();
    assert_ne!(token, ada.token, "each sign-in has its own token");
    let me = expect_json(app.me(token).await, 200).await;
    assert_eq!(me["id"], ada.id.as_str());
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_byte_identical_401_answers() {
    // Login never tells whether an email is registered.
    let app = TestApp::spawn().await;
    let ada = app.signup_member("Ada").await;
    let wrong_password = app.login(&ada.email, "not the password at all").await;
    let unknown_email = app
        .login("nobody@example.com", "not the password at all")
        .await;
    assert_eq!(wrong_password.status(), 401);
    assert_eq!(unknown_email.status(), 401);
    assert_eq!(
        header(&wrong_password, "content-type"),
        header(&unknown_email, "content-type")
    );
    let (a, b) = (
        wrong_password.bytes().await.unwrap(),
        unknown_email.bytes().await.unwrap(),
    );
    assert_eq!(a, b, "the two refusals must be the same bytes");
    let v: serde_json::Value = serde_json::from_slice(&a).unwrap();
    assert_eq!(v["code"], "invalid_credentials");
    assert_eq!(v["status"], 401);
    // A malformed email is refused the same way.
    let c = app.login("not an email", "not the password at all").await;
    assert_eq!(c.bytes().await.unwrap(), a);
}

#[tokio::test]
async fn logout_makes_that_token_stop_working() {
    // After logout the token is refused as unauthenticated; another session is untouched.
    let app = TestApp::spawn().await;
    let ada = app.signup_member("Ada").await;
    let other = expect_json(app.login(&ada.email, PASSWORD).await, 200).await;
    let other_token = other["token"].as_str().unwrap();
    expect_empty(app.logout(&ada.token).await, 204).await;
    expect_problem(app.me(&ada.token).await, 401, "unauthenticated").await;
    expect_problem(app.logout(&ada.token).await, 401, "unauthenticated").await;
    expect_json(app.me(other_token).await, 200).await;
}

#[tokio::test]
async fn profile_update_changes_the_given_fields_and_refuses_invalid_ones() {
    // PATCH /me changes only what it names, trims, and refuses bad values without changing anything.
    let app = TestApp::spawn().await;
    let ada = app.signup_member("Ada").await;
    let v = expect_json(
        app.update_me(
            &ada.token,
            json!({"name": "  Ada King ", "headline": "Countess", "company": "Analytical"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(v["name"], "Ada King");
    assert_eq!(v["headline"], "Countess");
    assert_eq!(v["company"], "Analytical");
    assert_eq!(v["location"], "");
    assert_eq!(v["email"], ada.email.as_str());

    let v = expect_json(
        app.update_me(&ada.token, json!({"location": "Paris"}))
            .await,
        200,
    )
    .await;
    assert_eq!(v["name"], "Ada King", "fields not named are kept");
    assert_eq!(v["location"], "Paris");

    for (field, body) in [
        ("name", json!({"name": ""})),
        ("name", json!({"name": "x".repeat(101)})),
        ("headline", json!({"headline": "x".repeat(201)})),
        ("company", json!({"company": "tab\there"})),
        ("location", json!({"location": "line\nbreak"})),
    ] {
        let p = expect_problem(
            app.update_me(&ada.token, body.clone()).await,
            422,
            "validation_failed",
        )
        .await;
        assert!(p["detail"].as_str().unwrap().contains(field), "{body}: {p}");
    }
    // The email is not a profile field: naming it is not the JSON this endpoint takes.
    expect_problem(
        app.update_me(&ada.token, json!({"email": "new@example.com"}))
            .await,
        400,
        "malformed",
    )
    .await;
    expect_problem(
        app.update_me(&ada.token, json!({"name": 42})).await,
        400,
        "malformed",
    )
    .await;

    let me = expect_json(app.me(&ada.token).await, 200).await;
    assert_eq!(me["name"], "Ada King");
    assert_eq!(me["location"], "Paris");
    assert_eq!(me["email"], ada.email.as_str());
}

#[tokio::test]
async fn eleven_failed_logins_for_one_email_are_rate_limited_until_the_window_passes() {
    // Ten failures are 401; the eleventh attempt, even with the right password, is 429 with
    // Retry-After and retry_at; once the clock passes retry_at, the right password works again.
    let app = TestApp::spawn().await;
    let ada = app.signup_member("Ada").await;
    for attempt in 1..=10 {
        let r = app.login(&ada.email, "wrong password!").await;
        assert_eq!(r.status(), 401, "attempt {attempt}");
    }
    for password in ["wrong password!", PASSWORD] {
        let r = app.login(&ada.email, password).await;
        let retry_after = header(&r, "retry-after");
        let p = expect_problem(r, 429, "rate_limited").await;
        let secs: u64 = retry_after.parse().expect("Retry-After in seconds");
        assert!((1..=15 * 60).contains(&secs), "Retry-After {secs}");
        let retry_at = p["retry_at"].as_str().expect("retry_at");
        let at = rapport_domain::Timestamp::parse_rfc3339(retry_at).expect("RFC 3339");
        assert!(at > START, "{retry_at}");
        assert_eq!(at.0 - START.0, secs as i64 * 1000, "the two agree");
    }
    // Another email is not affected.
    let grace = app.signup_member("Grace").await;
    expect_json(app.login(&grace.email, PASSWORD).await, 200).await;

    app.advance(std::time::Duration::from_secs(15 * 60));
    expect_json(app.login(&ada.email, PASSWORD).await, 200).await;
}

#[tokio::test]
async fn an_unknown_email_is_rate_limited_exactly_like_a_registered_one() {
    // The limit itself must not reveal which addresses have accounts.
    let app = TestApp::spawn().await;
    let ada = app.signup_member("Ada").await;
    for _ in 0..10 {
        app.login(&ada.email, "wrong password!").await;
        app.login("nobody@example.com", "wrong password!").await;
    }
    let known = app.login(&ada.email, "wrong password!").await;
    let unknown = app.login("nobody@example.com", "wrong password!").await;
    assert_eq!(
        header(&known, "retry-after"),
        header(&unknown, "retry-after")
    );
    assert_eq!(known.status(), 429);
    assert_eq!(known.bytes().await.unwrap(), unknown.bytes().await.unwrap());
}
