//! Sign-up confirmed by mail (`RAPPORT_SIGNUP_CONFIRMATION=email`): sign-up cannot tell who is
//! registered, and only the link mailed to an address makes an account for it.

use crate::fixtures::*;
use rapport_app::SignupConfirmation;
use serde_json::{json, Value};
use std::time::Duration;

const PASSWORD: &str = "correct horse battery";

async fn confirming() -> TestApp {
    TestApp::spawn_with(|c| c.signup_confirmation = SignupConfirmation::Email).await
}

/// Every mail in the file outbox.
fn mails(app: &TestApp) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(app.data_dir().join("outbox")) else {
        return Vec::new();
    };
    let mut mails: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    mails.sort();
    mails
}

fn mails_to(app: &TestApp, email: &str) -> Vec<String> {
    mails(app)
        .into_iter()
        .filter(|m| m.contains(&format!("To: {email}")))
        .collect()
}

/// A mail's text as a mail client shows it: quoted-printable soft line breaks joined, `=XX`
/// decoded (the link line is longer than 76 characters, so it is encoded).
pub fn decoded(mail: &str) -> String {
    let joined = mail.replace("=\r\n", "").replace("=\n", "");
    let mut out = Vec::new();
    let bytes = joined.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The token of the sign-up link in a mail, if it has one.
pub fn link_token(mail: &str) -> Option<String> {
    let mail = decoded(mail);
    let at = mail.find("/signup/confirm?token=")? + "/signup/confirm?token=".len();
    Some(
        mail[at..]
            .chars()
            .take_while(|c| !c.is_whitespace())
            .collect(),
    )
}

async fn sign_up(app: &TestApp, email: &str, name: &str) -> reqwest::Response {
    app.signup(json!({"email": email, "password": PASSWORD, "name": name}))
        .await
}

async fn confirm(app: &TestApp, token: &str) -> reqwest::Response {
    app.raw(
        reqwest::Method::POST,
        "/api/v1/auth/signup/confirm",
        None,
        Some(json!({"token": token})),
    )
    .await
}

#[tokio::test]
async fn signing_up_cannot_tell_who_is_registered() {
    let app = confirming().await;
    // Ada signs up: nothing exists yet but a mail with a link, which makes her account.
    let r = sign_up(&app, "ada@example.com", "Ada").await;
    assert_eq!(r.status(), 202);
    let new_answer = r.text().await.unwrap();
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status(),
        401,
        "no account before the link is followed"
    );
    let to_ada = mails_to(&app, "ada@example.com");
    assert_eq!(to_ada.len(), 1);
    let token = link_token(&to_ada[0]).expect("the mail has the link");
    let r = confirm(&app, &token).await;
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["member"]["name"], "Ada");
    assert_eq!(app.me(v["token"].as_str().unwrap()).await.status(), 200);
    assert_eq!(app.login("ada@example.com", PASSWORD).await.status(), 200);
    assert_problem(confirm(&app, &token).await, 404, "not_found").await;

    // Someone signs up with Ada's address: the same answer, byte for byte, as for a new one;
    // Ada is told someone tried, with no link; her account is untouched.
    let taken = sign_up(&app, " ADA@example.com", "Mallory").await;
    assert_eq!(taken.status(), 202);
    assert_eq!(taken.text().await.unwrap(), new_answer);
    let to_ada = mails_to(&app, "ada@example.com");
    assert_eq!(to_ada.len(), 2);
    let tried = to_ada
        .iter()
        .find(|m| m.contains("Someone tried"))
        .expect("Ada is told");
    assert_eq!(link_token(tried), None, "no link for a taken address");
    assert_eq!(app.login("ada@example.com", PASSWORD).await.status(), 200);
    let r = sign_up(&app, "bob@example.com", "Bob").await;
    assert_eq!(r.text().await.unwrap(), new_answer);

    // Malformed input is still told at once: nothing about anyone's address is in it.
    let p = assert_problem(
        sign_up(&app, "not an address", "X").await,
        422,
        "validation_failed",
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("email"), "{p}");
}

#[tokio::test]
async fn a_sign_up_link_works_once_for_a_day_and_only_the_newest() {
    let app = confirming().await;
    assert_problem(confirm(&app, "rap_made_up").await, 404, "not_found").await;
    sign_up(&app, "cy@example.com", "Cy").await;
    sign_up(&app, "cy@example.com", "Cy Again").await;
    let link_for = |name: &str| {
        mails_to(&app, "cy@example.com")
            .iter()
            .find(|m| m.contains(&format!("Hello {name},")))
            .and_then(|m| link_token(m))
            .unwrap()
    };
    let (first, newest) = (link_for("Cy"), link_for("Cy Again"));
    // Only the newest sign-up of an address stands.
    assert_problem(confirm(&app, &first).await, 404, "not_found").await;
    let v: Value = confirm(&app, &newest).await.json().await.unwrap();
    assert_eq!(v["member"]["name"], "Cy Again");

    sign_up(&app, "dee@example.com", "Dee").await;
    let token = link_token(&mails_to(&app, "dee@example.com")[0]).unwrap();
    app.advance(Duration::from_secs(24 * 3600 + 1));
    assert_problem(confirm(&app, &token).await, 404, "not_found").await;
    // The sweeper deletes the sign-ups nobody confirmed.
    app.app.sweep().await.unwrap();
    sign_up(&app, "dee@example.com", "Dee").await;
    let fresh = mails_to(&app, "dee@example.com")
        .iter()
        .filter_map(|m| link_token(m))
        .find(|t| *t != token)
        .unwrap();
    assert_eq!(confirm(&app, &fresh).await.status(), 201);
}
