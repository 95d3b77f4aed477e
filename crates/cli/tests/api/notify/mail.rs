//! Mail, and the channel each notification takes: preferences decide in-app and mail per kind,
//! daily digests gather what waited and skip what was withdrawn, reminders come twice and stop when
//! the invitation does, the withdrawal policy decides whether the recipient hears of a withdrawal,
//! and mail goes through real SMTP when configured.

use super::*;
use reqwest::Method;
use serde_json::json;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

async fn settings(app: &TestApp, who: &Member, body: Value) -> reqwest::Response {
    app.raw(
        Method::PATCH,
        "/api/v1/me/settings",
        Some(&who.token),
        Some(body),
    )
    .await
}

#[tokio::test]
async fn preferences_decide_each_channel() {
    let app = TestApp::spawn().await;
    let ada = app.member("Ada").await;
    let bob = app.member("Bob").await;
    let cy = app.member("Cy").await;

    // The defaults: everything in-app and mailed at once.
    let me: Value = app.me(&bob.token).await.json().await.unwrap();
    assert_eq!(
        me["settings"]["notifications"]["invitation_received"],
        json!({"in_app": true, "email": "immediate"})
    );

    // Bob wants received invitations by mail only; Cy wants neither.
    let r = settings(
        &app,
        &bob,
        json!({"notifications": {"invitation_received": {"in_app": false}}}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let me: Value = r.json().await.unwrap();
    assert_eq!(
        me["settings"]["notifications"]["invitation_received"],
        json!({"in_app": false, "email": "immediate"})
    );
    let r = settings(
        &app,
        &cy,
        json!({"notifications": {"invitation_received": {"in_app": false, "email": "off"}}}),
    )
    .await;
    assert_eq!(r.status(), 200);

    app.invite_ok(&ada, &bob).await;
    app.invite_ok(&ada, &cy).await;
    assert_eq!(
        kinds(&notifications(&app, &bob).await),
        Vec::<String>::new()
    );
    assert_eq!(kinds(&notifications(&app, &cy).await), Vec::<String>::new());
    assert_eq!(app.app.deliver_mail().await.unwrap(), 1);
    let mails = outbox(&app);
    let to_bob = mails_to(&mails, &bob);
    assert_eq!(to_bob.len(), 1);
    assert!(
        to_bob[0].contains("Ada invited you to connect"),
        "{}",
        to_bob[0]
    );
    assert!(to_bob[0].contains("List-Unsubscribe: <"), "{}", to_bob[0]);
    assert!(to_bob[0].contains("l=invitation_received"), "{}", to_bob[0]);
    assert!(to_bob[0].contains("text/html"));
    assert!(
        !to_bob[0].contains(&ada.email),
        "another member's email leaked"
    );
    assert!(mails_to(&mails, &cy).is_empty());

    // Wrong settings are refused whole, and change nothing.
    for body in [
        json!({"notifications": {"invitation_sent": {"in_app": false}}}),
        json!({"notifications": {"invitation_received": {"email": "hourly"}}}),
        json!({"invitations_from": "nobody", "notifications": {"nope": {}}}),
    ] {
        let r = settings(&app, &bob, body).await;
        assert_problem(r, 422, "validation_failed").await;
    }
    let r = settings(
        &app,
        &bob,
        json!({"notifications": {"invitation_received": {"in_app": "yes"}}}),
    )
    .await;
    assert_problem(r, 400, "malformed").await;
    let me: Value = app.me(&bob.token).await.json().await.unwrap();
    assert_eq!(me["settings"]["invitations_from"], "everyone");
}

#[tokio::test]
async fn digests_gather_what_waited_and_skip_what_was_withdrawn() {
    let app = TestApp::spawn().await;
    let bob = app.member("Bob").await;
    let r = settings(
        &app,
        &bob,
        json!({"notifications": {"invitation_received": {"email": "daily"}}}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let ada = app.member("Ada").await;
    let cy = app.member("Cy").await;
    let dee = app.member("Dee").await;
    app.invite_ok(&ada, &bob).await;
    app.invite_ok(&cy, &bob).await;
    let gone = app.invite_ok(&dee, &bob).await;
    assert_eq!(app.withdraw(&dee, &gone).await.status(), 204);

    assert_eq!(app.app.deliver_mail().await.unwrap(), 0, "not yet a day");
    app.advance(DAY);
    assert_eq!(app.app.deliver_mail().await.unwrap(), 1);
    let mails = outbox(&app);
    let digest = mails_to(&mails, &bob);
    assert_eq!(digest.len(), 1);
    assert!(digest[0].contains("2 updates"), "{}", digest[0]);
    assert!(digest[0].contains("Ada invited you") && digest[0].contains("Cy invited you"));
    assert!(
        !digest[0].contains("Dee"),
        "a withdrawn invitation was mailed"
    );
    assert_eq!(app.app.deliver_mail().await.unwrap(), 0, "sent once");
}

#[tokio::test]
async fn reminders_come_twice_and_stop_when_the_invitation_does() {
    let app = TestApp::spawn().await;
    let ada = app.member("Ada").await;
    let bob = app.member("Bob").await;
    let cy = app.member("Cy").await;
    app.invite_ok(&ada, &bob).await;
    let withdrawn = app.invite_ok(&ada, &cy).await;
    assert_eq!(app.withdraw(&ada, &withdrawn).await.status(), 204);

    let reminders = |page: &Value| {
        kinds(page)
            .into_iter()
            .filter(|k| k == "invitation_reminder")
            .count()
    };
    app.advance(6 * DAY);
    app.app.sweep().await.unwrap();
    assert_eq!(reminders(&notifications(&app, &bob).await), 0);
    app.advance(DAY);
    app.app.sweep().await.unwrap();
    assert_eq!(reminders(&notifications(&app, &bob).await), 1);
    app.advance(14 * DAY);
    app.app.sweep().await.unwrap();
    app.app.sweep().await.unwrap();
    assert_eq!(reminders(&notifications(&app, &bob).await), 2);
    app.advance(60 * DAY);
    app.app.sweep().await.unwrap();
    assert_eq!(
        reminders(&notifications(&app, &bob).await),
        2,
        "at most two"
    );
    assert_eq!(reminders(&notifications(&app, &cy).await), 0);
    app.app.deliver_mail().await.unwrap();
    let mails = outbox(&app);
    assert_eq!(
        mails_to(&mails, &bob)
            .iter()
            .filter(|m| m.contains("is waiting for your answer"))
            .count(),
        2
    );
    assert!(mails_to(&mails, &cy).is_empty());
}

#[tokio::test]
async fn the_notify_policy_tells_the_recipient_and_digest_only_mentions_it() {
    let app = TestApp::spawn_with(|c| {
        c.withdrawal_notice = rapport_app::WithdrawalNotice::Notify;
    })
    .await;
    let ada = app.member("Ada").await;
    let bob = app.member("Bob").await;
    let id = app.invite_ok(&ada, &bob).await;
    assert_eq!(app.withdraw(&ada, &id).await.status(), 204);
    assert_eq!(
        kinds(&notifications(&app, &bob).await),
        ["invitation_withdrawn"]
    );
    app.app.deliver_mail().await.unwrap();
    let mails = outbox(&app);
    let to_bob = mails_to(&mails, &bob);
    assert_eq!(to_bob.len(), 1, "only the withdrawal, not the invitation");
    assert!(to_bob[0].contains("Ada withdrew their invitation"));

    let app = TestApp::spawn_with(|c| {
        c.withdrawal_notice = rapport_app::WithdrawalNotice::Digest;
    })
    .await;
    let ada = app.member("Ada").await;
    let bob = app.member("Bob").await;
    let id = app.invite_ok(&ada, &bob).await;
    assert_eq!(app.withdraw(&ada, &id).await.status(), 204);
    assert_eq!(
        kinds(&notifications(&app, &bob).await),
        Vec::<String>::new()
    );
    app.app.deliver_mail().await.unwrap();
    assert!(mails_to(&outbox(&app), &bob).is_empty());
    app.advance(DAY);
    app.app.deliver_mail().await.unwrap();
    let mails = outbox(&app);
    let to_bob = mails_to(&mails, &bob);
    assert_eq!(to_bob.len(), 1);
    assert!(to_bob[0].contains("digest") && to_bob[0].contains("Ada withdrew"));
}

/// A mail server of the test's own: just enough SMTP to take messages.
async fn smtp_server() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(Mutex::new(Vec::new()));
    let store = received.clone();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let store = store.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 test ESMTP\r\n").await.unwrap();
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(body) = data.as_mut() {
                        if line == "." {
                            store.lock().unwrap().push(data.take().unwrap());
                            write.write_all(b"250 queued\r\n").await.unwrap();
                        } else {
                            body.push_str(&line);
                            body.push('\n');
                        }
                        continue;
                    }
                    let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
                    let answer: &[u8] = match verb.as_str() {
                        "EHLO" => b"250-test\r\n250 8BITMIME\r\n",
                        "HELO" | "MAIL" | "RCPT" | "RSET" | "NOOP" => b"250 ok\r\n",
                        "DATA" => {
                            data = Some(String::new());
                            b"354 go on\r\n"
                        }
                        "QUIT" => {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            return;
                        }
                        _ => b"502 no\r\n",
                    };
                    write.write_all(answer).await.unwrap();
                }
            });
        }
    });
    (port, received)
}

#[tokio::test]
async fn mail_goes_through_real_smtp_when_configured() {
    let (port, received) = smtp_server().await;
    let app = TestApp::spawn_with(|c| {
        c.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
    })
    .await;
    let ada = app.member("Ada").await;
    let bob = app.member("Bob").await;
    app.invite_ok(&ada, &bob).await;
    assert_eq!(app.app.deliver_mail().await.unwrap(), 1);
    let mails = received.lock().unwrap().clone();
    assert_eq!(mails.len(), 1);
    assert!(mails[0].contains(&bob.email));
    assert!(mails[0].contains("Ada invited you to connect"));
    assert!(outbox(&app).is_empty(), "SMTP replaces the file outbox");
}

/// The `List-Unsubscribe` link of a mail, headers unfolded.
fn unsubscribe_link(mail: &str) -> String {
    let unfolded = mail
        .replace("\r\n ", "")
        .replace("\r\n\t", "")
        .replace("\n ", "");
    let at = unfolded
        .find("List-Unsubscribe: <")
        .expect("a List-Unsubscribe header")
        + 19;
    unfolded[at..at + unfolded[at..].find('>').unwrap()].to_owned()
}

/// RFC 8058: a mail provider's one-click POST to the mail's link turns that kind of mail off
/// without signing in; the link's signature holds for that member and kind only.
#[tokio::test]
async fn one_click_unsubscribe_stops_that_mail_for_that_member_only() {
    let app = TestApp::spawn().await;
    let ada = app.member("Ada").await;
    let bob = app.member("Bob").await;
    let cy = app.member("Cy").await;
    app.invite_ok(&ada, &bob).await;
    app.invite_ok(&ada, &cy).await;
    assert_eq!(app.app.deliver_mail().await.unwrap(), 2);
    let mails = outbox(&app);
    let to_bob = &mails_to(&mails, &bob)[0];
    assert!(
        to_bob.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
        "{to_bob}"
    );
    let link = unsubscribe_link(to_bob);
    let path = &link[link.find("/unsubscribe?").expect("the unsubscribe path")..];
    let url = |p: &str| format!("{}{p}", app.base);
    let client = reqwest::Client::new();
    let received = |who: &Member| {
        let token = who.token.clone();
        let app = &app;
        async move {
            let me: Value = app.me(&token).await.json().await.unwrap();
            me["settings"]["notifications"]["invitation_received"].clone()
        }
    };

    // Tampered links: another member, another kind, no signature. All 404, nothing changes.
    let cys_id = format!("m={}&", cy.id);
    let bobs_id = format!("m={}&", bob.id);
    for forged in [
        path.replace(&bobs_id, &cys_id),
        path.replace("l=invitation_received", "l=invitation_reminder"),
        path[..path.find("&s=").unwrap()].to_owned(),
    ] {
        let r = client.post(url(&forged)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{forged}");
    }
    // Opening the link (a GET, as link scanners do) only asks.
    let r = client.get(url(path)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Stop these emails"));
    assert_eq!(
        received(&bob).await,
        json!({"in_app": true, "email": "immediate"})
    );

    // The provider's one-click POST.
    let r = client
        .post(url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("You are unsubscribed"));
    assert_eq!(
        received(&bob).await,
        json!({"in_app": true, "email": "off"})
    );
    assert_eq!(
        received(&cy).await,
        json!({"in_app": true, "email": "immediate"})
    );
    let me: Value = app.me(&bob.token).await.json().await.unwrap();
    assert_eq!(
        me["settings"]["notifications"]["invitation_reminder"],
        json!({"in_app": true, "email": "immediate"}),
        "other kinds stay"
    );
    // Again: nothing more changes, still 200.
    let r = client.post(url(path)).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // Bob gets no more mail of that kind; in-app notifications go on.
    let dee = app.member("Dee").await;
    app.invite_ok(&dee, &bob).await;
    assert_eq!(app.app.deliver_mail().await.unwrap(), 0);
}
