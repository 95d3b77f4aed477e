//! In-app notifications: they follow an invitation (received, accepted; gone with a withdrawal,
//! which mails nobody), only their own member marks them read, and a member is told when a
//! restriction starts and ends.

use super::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn notifications_follow_the_invitation_and_withdrawal_leaves_no_trace() {
    let app = TestApp::spawn().await;
    let ada = app.member("Ada").await;
    let bob = app.member("Bob").await;
    let cy = app.member("Cy").await;

    let id = app.invite_ok(&ada, &bob).await;
    let page = notifications(&app, &bob).await;
    assert_eq!(kinds(&page), ["invitation_received"]);
    assert_eq!(page["unread"], 1);
    assert_eq!(page["items"][0]["actor"]["id"], ada.id.as_str());
    assert_eq!(page["items"][0]["invitation_id"], id.as_str());
    assert_eq!(page["items"][0]["read"], false);

    // Withdrawn: gone from the inbox and from the notifications at once, and no mail goes out.
    assert_eq!(app.withdraw(&ada, &id).await.status(), 204);
    let page = notifications(&app, &bob).await;
    assert_eq!(kinds(&page), Vec::<String>::new());
    assert_eq!(page["unread"], 0);
    app.app.deliver_mail().await.unwrap();
    assert!(mails_to(&outbox(&app), &bob).is_empty());

    // Accepting tells the sender; ignoring never does.
    let id = app.invite_ok(&cy, &ada).await;
    assert_eq!(app.accept(&ada, &id).await.status(), 200);
    let page = notifications(&app, &cy).await;
    assert_eq!(kinds(&page), ["invitation_accepted"]);
    let id = app.invite_ok(&bob, &cy).await;
    assert_eq!(app.ignore(&cy, &id, None).await.status(), 204);
    let page = notifications(&app, &bob).await;
    assert_eq!(kinds(&page), Vec::<String>::new());

    // Marking read: someone else's ids change nothing and reveal nothing; no ids marks all.
    let dee = app.member("Dee").await;
    app.invite_ok(&dee, &bob).await;
    let theirs = notifications(&app, &bob).await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .post(
            "/api/v1/notifications/read",
            &cy.token,
            json!({"ids": [theirs]}),
        )
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(notifications(&app, &bob).await["unread"], 1);
    let r = app
        .post(
            "/api/v1/notifications/read",
            &bob.token,
            json!({"ids": [theirs]}),
        )
        .await;
    assert_eq!(r.status(), 204);
    let page = notifications(&app, &bob).await;
    assert_eq!(page["unread"], 0);
    assert_eq!(page["items"][0]["read"], true);
    let r = app
        .raw(
            Method::POST,
            "/api/v1/notifications/read",
            Some(&cy.token),
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(notifications(&app, &cy).await["unread"], 0);

    // Bad input is refused clearly.
    let r = app
        .post(
            "/api/v1/notifications/read",
            &bob.token,
            json!({"ids": "all"}),
        )
        .await;
    assert_problem(r, 400, "malformed").await;
    let r = app
        .post(
            "/api/v1/notifications/read",
            &bob.token,
            json!({"ids": ["x"]}),
        )
        .await;
    assert_problem(r, 422, "validation_failed").await;
    let r = app.get("/api/v1/notifications", "not-a-token").await;
    assert_problem(r, 401, "unauthenticated").await;
}

#[tokio::test]
async fn members_are_told_when_a_restriction_starts_and_ends() {
    let app = TestApp::spawn().await;
    let admin = app.member("Admin").await;
    make_admin(&app, &admin).await;
    let ada = app.member("Ada").await;
    let until = rapport_domain::Timestamp(START.0 + 86_400_000).to_rfc3339();
    let r = app
        .raw(
            Method::PUT,
            &format!("/api/v1/admin/members/{}/restriction", ada.id),
            Some(&admin.token),
            Some(json!({"until": until, "reason": "spam"})),
        )
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(
        kinds(&notifications(&app, &ada).await),
        ["restriction_applied"]
    );
    // It runs out: the sweeper tells her, once.
    app.advance(DAY + Duration::from_secs(1));
    assert_eq!(app.app.sweep().await.unwrap().restrictions_ended, 1);
    assert_eq!(app.app.sweep().await.unwrap().restrictions_ended, 0);
    assert_eq!(
        kinds(&notifications(&app, &ada).await),
        ["restriction_lifted", "restriction_applied"]
    );
    // Lifted by a moderator: told at once, and not again when its time would have come.
    let until = rapport_domain::Timestamp(app.app.now().0 + 86_400_000).to_rfc3339();
    let path = format!("/api/v1/admin/members/{}/restriction", ada.id);
    let r = app
        .raw(
            Method::PUT,
            &path,
            Some(&admin.token),
            Some(json!({"until": until})),
        )
        .await;
    assert_eq!(r.status(), 204);
    let r = app
        .raw(Method::DELETE, &path, Some(&admin.token), None)
        .await;
    assert_eq!(r.status(), 204);
    app.advance(2 * DAY);
    assert_eq!(app.app.sweep().await.unwrap().restrictions_ended, 0);
    assert_eq!(
        kinds(&notifications(&app, &ada).await)[..2],
        ["restriction_lifted", "restriction_applied"]
    );
    assert_eq!(notifications(&app, &ada).await["unread"], 4);
}
