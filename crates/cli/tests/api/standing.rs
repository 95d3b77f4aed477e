//! Restrictions for abusive senders, explained to them, and the moderation queue.

use crate::fixtures::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

const DAY: Duration = Duration::from_secs(86_400);

async fn send_with_email(app: &TestApp, from: &Member, to: &Member) -> reqwest::Response {
    app.post(
        "/api/v1/invitations",
        &from.token,
        json!({"recipient_id": to.id, "recipient_email": to.email}),
    )
    .await
}

#[tokio::test]
async fn five_people_saying_they_dont_know_you_restrict_you_for_a_day_then_a_week() {
    // The member sees why and until when; they can still invite someone whose email they know;
    // the next restriction is longer.
    let app = TestApp::spawn().await;
    let ada = app.member("Ada").await;
    let mut others = Vec::new();
    for i in 0..8 {
        others.push(app.member(&format!("Other {i}")).await);
    }
    for o in &others[..5] {
        let id = app.invite_ok(&ada, o).await;
        assert_eq!(
            app.ignore(o, &id, Some(json!({"reason": "dont_know"})))
                .await
                .status(),
            204
        );
    }
    let me: Value = app.me(&ada.token).await.json().await.unwrap();
    assert_eq!(me["restriction"]["level"], 1);
    assert_eq!(me["restriction"]["until"], "2027-01-16T08:00:00Z");
    assert!(me["restriction"]["reason"]
        .as_str()
        .unwrap()
        .contains("don't know you"));

    let v = assert_problem(app.invite(&ada, &others[5], None).await, 403, "restricted").await;
    assert_eq!(v["until"], "2027-01-16T08:00:00Z");
    assert_eq!(send_with_email(&app, &ada, &others[5]).await.status(), 201);

    app.advance(DAY);
    assert_eq!(
        app.me(&ada.token).await.json::<Value>().await.unwrap()["restriction"],
        Value::Null
    );
    let id = app.invite_ok(&ada, &others[6]).await;
    app.ignore(&others[6], &id, Some(json!({"reason": "spam"})))
        .await;
    let me: Value = app.me(&ada.token).await.json().await.unwrap();
    assert_eq!(me["restriction"]["level"], 2);
    assert_eq!(me["restriction"]["until"], "2027-01-23T08:00:00Z");
}

#[tokio::test]
async fn withdrawing_and_resending_to_one_person_three_times_restricts() {
    // Three withdraw-and-resend cycles to the same person within 90 days.
    let app = TestApp::spawn().await;
    let (ada, grace, alan) = (
        app.member("Ada").await,
        app.member("Grace").await,
        app.member("Alan").await,
    );
    for _ in 0..3 {
        let id = app.invite_ok(&ada, &grace).await;
        assert_eq!(app.withdraw(&ada, &id).await.status(), 204);
        app.advance(22 * DAY);
    }
    assert_eq!(
        app.invite(&ada, &grace, None).await.status(),
        201,
        "the re-send itself goes out"
    );
    assert_problem(app.invite(&ada, &alan, None).await, 403, "restricted").await;
    let me: Value = app.me(&ada.token).await.json().await.unwrap();
    assert!(me["restriction"]["reason"]
        .as_str()
        .unwrap()
        .contains("re-sent"));
}

#[tokio::test]
async fn a_spam_report_reaches_the_moderators_who_can_restrict_or_suspend() {
    // Ignoring as spam files a report with the note; only admins see and resolve the queue.
    let app = TestApp::spawn().await;
    let (ada, grace, mod_) = (
        app.member("Ada").await,
        app.member("Grace").await,
        app.member("Moderator").await,
    );
    make_admin(&app, &mod_).await;
    let id = app
        .invite(&ada, &grace, Some("Buy cheap followers"))
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.ignore(&grace, &id, Some(json!({"reason": "spam"})))
        .await;

    assert_problem(
        app.get("/api/v1/admin/reports", &grace.token).await,
        403,
        "forbidden",
    )
    .await;
    let queue: Value = app
        .get("/api/v1/admin/reports", &mod_.token)
        .await
        .json()
        .await
        .unwrap();
    let report = &queue["items"][0];
    assert_eq!(report["reported"]["id"], ada.id.as_str());
    assert_eq!(report["reporter"]["id"], grace.id.as_str());
    assert_eq!(report["note"], "Buy cheap followers");
    let rid = report["id"].as_str().unwrap().to_owned();

    let resolve_path = format!("/api/v1/admin/reports/{rid}/resolve");
    let resolve = |action: &str| app.post(&resolve_path, &mod_.token, json!({"action": action}));
    assert_problem(resolve("ban").await, 422, "validation_failed").await;
    assert_eq!(resolve("restrict").await.status(), 204);
    assert_problem(resolve("dismiss").await, 404, "not_found").await;
    let me: Value = app.me(&ada.token).await.json().await.unwrap();
    assert!(me["restriction"]["reason"]
        .as_str()
        .unwrap()
        .contains("moderator"));
    assert!(app
        .get("/api/v1/admin/reports", &mod_.token)
        .await
        .json::<Value>()
        .await
        .unwrap()["items"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn moderators_set_and_lift_restrictions() {
    // A restriction until a given time, lifted early.
    let app = TestApp::spawn().await;
    let (ada, grace, mod_) = (
        app.member("Ada").await,
        app.member("Grace").await,
        app.member("Moderator").await,
    );
    make_admin(&app, &mod_).await;
    let path = format!("/api/v1/admin/members/{}/restriction", ada.id);
    let r = app
        .raw(
            Method::PUT,
            &path,
            Some(&ada.token),
            Some(json!({"until": "2027-03-01T00:00:00Z"})),
        )
        .await;
    assert_problem(r, 403, "forbidden").await;
    let past = app
        .raw(
            Method::PUT,
            &path,
            Some(&mod_.token),
            Some(json!({"until": "2020-01-01T00:00:00Z"})),
        )
        .await;
    assert_problem(past, 422, "validation_failed").await;
    let bad = app
        .raw(
            Method::PUT,
            &path,
            Some(&mod_.token),
            Some(json!({"until": "next tuesday"})),
        )
        .await;
    assert_problem(bad, 422, "validation_failed").await;
    let ok = app
        .raw(
            Method::PUT,
            &path,
            Some(&mod_.token),
            Some(json!({"until": "2027-03-01T00:00:00Z", "reason": "bulk invites"})),
        )
        .await;
    assert_eq!(ok.status(), 204);
    let v = assert_problem(app.invite(&ada, &grace, None).await, 403, "restricted").await;
    assert_eq!(v["until"], "2027-03-01T00:00:00Z");
    assert_eq!(
        app.raw(Method::DELETE, &path, Some(&mod_.token), None)
            .await
            .status(),
        204
    );
    assert_eq!(
        app.raw(Method::DELETE, &path, Some(&mod_.token), None)
            .await
            .status(),
        404
    );
    assert_eq!(app.invite(&ada, &grace, None).await.status(), 201);
}

#[tokio::test]
async fn invitations_left_to_expire_count_against_the_acceptance_rate() {
    // With an expiry shorter than the 90-day window, fifty invitations nobody answered expire and
    // the sweeper's review restricts their sender for a low acceptance rate.
    let app = TestApp::spawn_with(|c| c.invitation_expiry = 10 * DAY).await;
    let ada = app.member("Ada").await;
    for i in 0..50 {
        let other = app.member(&format!("Member {i}")).await;
        app.invite_ok(&ada, &other).await;
    }
    let me: Value = app.me(&ada.token).await.json().await.unwrap();
    assert!(me["restriction"].is_null(), "{me}");
    app.advance(11 * DAY);
    assert_eq!(app.app.sweep().await.unwrap().expired, 50);
    let me: Value = app.me(&ada.token).await.json().await.unwrap();
    assert_eq!(me["restriction"]["level"], 1, "{me}");
    assert!(
        me["restriction"]["reason"]
            .as_str()
            .unwrap()
            .contains("were accepted"),
        "{me}"
    );
}

#[tokio::test]
async fn guessing_a_members_address_restricts_the_guesser() {
    // Grace accepts invitations only from people who know her address. Eve tries addresses: each
    // wrong one counts against her, the tenth restricts her (and says why), and from then on
    // even the right address no longer tells her anything.
    let app = TestApp::spawn().await;
    let (grace, eve, bob) = (
        app.member("Grace").await,
        app.member("Eve").await,
        app.member("Bob").await,
    );
    app.raw(
        Method::PATCH,
        "/api/v1/me/settings",
        Some(&grace.token),
        Some(json!({"invitations_from": "email_required"})),
    )
    .await;
    let guess = |email: String| {
        app.post(
            "/api/v1/invitations",
            &eve.token,
            json!({"recipient_id": grace.id, "recipient_email": email}),
        )
    };
    for n in 0..9 {
        assert_problem(
            guess(format!("grace{n}@example.com")).await,
            403,
            "email_required",
        )
        .await;
    }
    let me: Value = app.me(&eve.token).await.json().await.unwrap();
    assert_eq!(me["restriction"], Value::Null, "nine wrong ones: {me}");
    let wrong = guess("grace9@example.com".into())
        .await
        .text()
        .await
        .unwrap();
    let right = guess(grace.email.clone()).await.text().await.unwrap();
    assert_eq!(
        wrong, right,
        "a guesser cannot tell the right address from a wrong one"
    );
    let me: Value = app.me(&eve.token).await.json().await.unwrap();
    assert_eq!(me["restriction"]["level"], 1);
    assert!(
        me["restriction"]["reason"]
            .as_str()
            .unwrap()
            .contains("email addresses you gave"),
        "{me}"
    );
    // Restricted: an address does not get her past the restriction either.
    assert_problem(send_with_email(&app, &eve, &bob).await, 403, "restricted").await;
    // A day later she may invite again, but not through an address until the wrong ones age out.
    app.advance(DAY);
    assert_eq!(app.invite(&eve, &bob, None).await.status(), 201);
    assert_problem(guess(grace.email.clone()).await, 403, "email_required").await;
    app.advance(90 * DAY);
    let signed_in: Value = app
        .login(&eve.email, "correct horse battery")
        .await
        .json()
        .await
        .unwrap();
    let r = app
        .post(
            "/api/v1/invitations",
            signed_in["token"].as_str().unwrap(),
            json!({"recipient_id": grace.id, "recipient_email": grace.email}),
        )
        .await;
    assert_eq!(r.status(), 201, "the wrong ones are older than 90 days");
}
