//! A key acting for a member (`Rapport-Act-As`): every rule applies as if the member acted.

use super::*;

#[tokio::test]
async fn a_key_acting_for_a_member_sends_their_invitation_which_the_recipient_sees_from_them() {
    // With `invitations:act` and Rapport-Act-As, the key is the member: the invitation is theirs,
    // in their sent list and in the recipient's inbox with their name; `ext:` ids name members
    // the community provisioned.
    let app = TestApp::spawn().await;
    let admin = admin(&app).await;
    let ada = app.signup_member("Ada").await;
    let bob = app.signup_member("Bob").await;
    let k = key(&app, &admin, &["invitations:act"]).await;

    let body = json!({"recipient_id": bob.id, "note": "From the alumni site"});
    let r = acting(
        &app,
        Method::POST,
        "/api/v1/invitations",
        &k,
        &ada.id,
        Some(body),
    )
    .await;
    let sent = expect_json(r, 201).await;
    assert_eq!(sent["sender"]["id"], ada.id.as_str(), "{sent}");
    let id = sent["id"].as_str().unwrap().to_owned();
    let inbox = expect_json(app.received(&bob.token, "").await, 200).await;
    assert_eq!(ids(&inbox), [id.as_str()]);
    assert_eq!(inbox["items"][0]["sender"]["id"], ada.id.as_str());
    assert_eq!(inbox["items"][0]["sender"]["name"], "Ada");
    assert_eq!(inbox["items"][0]["note"], "From the alumni site");
    assert_eq!(app.sent_ids(&ada.token).await, [id]);
    let me = expect_json(
        acting(&app, Method::GET, "/api/v1/me", &k, &ada.id, None).await,
        200,
    )
    .await;
    assert_eq!(me["id"], ada.id.as_str());

    // A provisioned member, named by the community's id, invites Bob; Bob accepts.
    let cleo = provision_new(&app, &admin.token, "u-cleo", "Cleo").await;
    let body = json!({"recipient_id": bob.id});
    let r = acting(
        &app,
        Method::POST,
        "/api/v1/invitations",
        &k,
        "ext:u-cleo",
        Some(body),
    )
    .await;
    let invitation = expect_json(r, 201).await;
    assert_eq!(invitation["sender"]["id"], cleo.as_str());
    let inbox = expect_json(app.received(&bob.token, "").await, 200).await;
    assert_eq!(inbox["items"][0]["sender"]["name"], "Cleo");
    let r = app
        .accept(&bob.token, invitation["id"].as_str().unwrap())
        .await;
    expect_json(r, 200).await;
    let r = acting(
        &app,
        Method::GET,
        "/api/v1/connections",
        &k,
        "ext:u-cleo",
        None,
    )
    .await;
    let connections = expect_json(r, 200).await;
    assert_eq!(connections["items"][0]["member"]["id"], bob.id.as_str());
    assert_eq!(app.connection_ids(&bob.token).await, [cleo]);
}

#[tokio::test]
async fn acting_for_a_member_counts_against_their_weekly_limit_and_cooldown() {
    // The member's own sends and the key's sends share one weekly limit; a withdrawal made
    // through the key starts the same cooldown the member's own would.
    let app = TestApp::spawn_with(|c| c.weekly_invitation_limit = 2).await;
    let admin = admin(&app).await;
    let ada = app.signup_member("Ada").await;
    let others = [
        app.signup_member("Bob").await,
        app.signup_member("Cy").await,
        app.signup_member("Dee").await,
    ];
    let k = key(&app, &admin, &["invitations:act"]).await;
    app.invite_ok(&ada, &others[0]).await;
    let body = json!({"recipient_id": others[1].id});
    let r = acting(
        &app,
        Method::POST,
        "/api/v1/invitations",
        &k,
        &ada.id,
        Some(body),
    )
    .await;
    let second = expect_json(r, 201).await["id"].as_str().unwrap().to_owned();
    let body = json!({"recipient_id": others[2].id});
    let r = acting(
        &app,
        Method::POST,
        "/api/v1/invitations",
        &k,
        &ada.id,
        Some(body),
    )
    .await;
    expect_problem(r, 429, "quota_exceeded").await;
    expect_problem(app.invite(&ada, &others[2]).await, 429, "quota_exceeded").await;
    assert!(app.received_ids(&others[2].token).await.is_empty());

    // A week on, the key withdraws the second invitation and cannot send it again yet.
    app.advance(7 * DAY);
    let path = format!("/api/v1/invitations/{second}/withdraw");
    expect_empty(
        acting(&app, Method::POST, &path, &k, &ada.id, None).await,
        204,
    )
    .await;
    let body = json!({"recipient_id": others[1].id});
    let r = acting(
        &app,
        Method::POST,
        "/api/v1/invitations",
        &k,
        &ada.id,
        Some(body),
    )
    .await;
    expect_problem(r, 429, "cooldown_active").await;
}

#[tokio::test]
async fn acting_for_a_member_obeys_blocks_and_the_recipients_privacy() {
    // What the member may not do, the key acting for them may not do either, with the same
    // answer the member gets.
    let app = TestApp::spawn().await;
    let admin = admin(&app).await;
    let ada = app.signup_member("Ada").await;
    let bob = app.signup_member("Bob").await;
    let cy = app.signup_member("Cy").await;
    let k = key(&app, &admin, &["invitations:act"]).await;
    let block = format!("/api/v1/blocks/{}", ada.id);
    expect_empty(
        app.request(Method::PUT, &block, &bob.token, None).await,
        204,
    )
    .await;
    let r = app
        .update_settings(&cy.token, json!({"invitations_from": "nobody"}))
        .await;
    expect_json(r, 200).await;

    for recipient in [&bob, &cy] {
        let own = app.invite(&ada, recipient).await;
        let own_status = own.status().as_u16();
        let own: Value = own.json().await.unwrap();
        let body = json!({"recipient_id": recipient.id});
        let r = acting(
            &app,
            Method::POST,
            "/api/v1/invitations",
            &k,
            &ada.id,
            Some(body),
        )
        .await;
        let by_key = expect_problem(r, own_status, own["code"].as_str().unwrap()).await;
        assert!(own_status >= 400, "{own}");
        assert_eq!(by_key["detail"], own["detail"]);
        assert!(app.received_ids(&recipient.token).await.is_empty());
    }
    let r = acting(
        &app,
        Method::POST,
        "/api/v1/invitations",
        &k,
        &ada.id,
        Some(json!({"recipient_id": cy.id})),
    )
    .await;
    expect_problem(r, 403, "invitations_closed").await;
    // Bob, who blocked Ada, reads as nobody to her, acting or not.
    let path = format!("/api/v1/members/{}", bob.id);
    let r = acting(&app, Method::GET, &path, &k, &ada.id, None).await;
    expect_problem(r, 404, "not_found").await;
}

#[tokio::test]
async fn acting_is_refused_for_unknown_hidden_and_misdirected_requests() {
    // Who the key acts for must be named, known and able to act now; Rapport-Act-As is for keys
    // on members' routes only.
    let app = TestApp::spawn().await;
    let admin = admin(&app).await;
    let ada = app.signup_member("Ada").await;
    let dora = app.signup_member("Dora").await;
    let sue = app.signup_member("Sue").await;
    let k = key(&app, &admin, &["invitations:act", "members:read"]).await;
    let reader = key(&app, &admin, &["network:read"]).await;

    let r = app
        .request(Method::GET, "/api/v1/me", &k.secret, None)
        .await;
    expect_problem(r, 400, "malformed").await;
    for who in ["999999", "ext:nobody", "ext:", "nonsense", "-1"] {
        let r = acting(&app, Method::GET, "/api/v1/me", &k, who, None).await;
        expect_problem(r, 404, "not_found").await;
    }
    expect_empty(
        app.request(Method::POST, "/api/v1/me/deactivate", &dora.token, None)
            .await,
        204,
    )
    .await;
    let path = format!("/api/v1/admin/members/{}", sue.id);
    let r = app
        .request(
            Method::PATCH,
            &path,
            &admin.token,
            Some(json!({"suspended": true})),
        )
        .await;
    expect_json(r, 200).await;
    for who in [&dora, &sue] {
        let r = acting(&app, Method::GET, "/api/v1/me", &k, &who.id, None).await;
        expect_problem(r, 403, "forbidden").await;
        let body = json!({"recipient_id": ada.id});
        let r = acting(
            &app,
            Method::POST,
            "/api/v1/invitations",
            &k,
            &who.id,
            Some(body),
        )
        .await;
        expect_problem(r, 403, "forbidden").await;
    }
    assert!(app.received_ids(&ada.token).await.is_empty());
    // Provisioned and deactivated by the community: the same.
    let body = json!({"email": "pat@community.example", "name": "Pat", "status": "deactivated"});
    expect_json(provision(&app, &admin.token, "u-pat", body).await, 201).await;
    let r = acting(&app, Method::GET, "/api/v1/me", &k, "ext:u-pat", None).await;
    expect_problem(r, 403, "forbidden").await;

    // A key without the scope, with or without the header.
    let r = acting(&app, Method::GET, "/api/v1/me", &reader, &ada.id, None).await;
    expect_problem(r, 403, "insufficient_scope").await;
    let r = app
        .request(Method::GET, "/api/v1/me", &reader.secret, None)
        .await;
    expect_problem(r, 403, "insufficient_scope").await;
    // A member acts for themselves only.
    let r = app
        .request_with(
            Method::GET,
            "/api/v1/me",
            &ada.token,
            &[(ACT_AS, sue.id.as_str())],
            None,
        )
        .await;
    expect_problem(r, 400, "malformed").await;
    let r = app
        .request_with(
            Method::GET,
            "/api/v1/me",
            &ada.token,
            &[(ACT_AS, ada.id.as_str())],
            None,
        )
        .await;
    expect_problem(r, 400, "malformed").await;
    // Administrators' routes take no Rapport-Act-As, from a key or an administrator.
    let path = by_external_id("u-pat");
    let r = acting(&app, Method::GET, &path, &k, &ada.id, None).await;
    expect_problem(r, 400, "malformed").await;
    let r = app
        .request_with(
            Method::GET,
            &path,
            &admin.token,
            &[(ACT_AS, ada.id.as_str())],
            None,
        )
        .await;
    expect_problem(r, 400, "malformed").await;
    // A revoked key acts for nobody.
    let revoke = format!("/api/v1/admin/keys/{}", k.id);
    expect_empty(
        app.request(Method::DELETE, &revoke, &admin.token, None)
            .await,
        204,
    )
    .await;
    let r = acting(&app, Method::GET, "/api/v1/me", &k, &ada.id, None).await;
    expect_problem(r, 401, "unauthenticated").await;
}

#[tokio::test]
async fn acting_with_an_idempotency_key_sends_once_for_that_member_only() {
    // A retried send made through a key with the same Idempotency-Key is replayed, not sent
    // twice; the same Idempotency-Key used for another member is that member's own.
    let app = TestApp::spawn().await;
    let admin = admin(&app).await;
    let ada = app.signup_member("Ada").await;
    let bob = app.signup_member("Bob").await;
    let cy = app.signup_member("Cy").await;
    let k = key(&app, &admin, &["invitations:act"]).await;
    let send = |who: String, to: String| {
        let (app, k) = (&app, &k);
        async move {
            app.request_with(
                Method::POST,
                "/api/v1/invitations",
                &k.secret,
                &[(ACT_AS, who.as_str()), ("idempotency-key", "send-1")],
                Some(json!({"recipient_id": to})),
            )
            .await
        }
    };
    let first = expect_json(send(ada.id.clone(), cy.id.clone()).await, 201).await;
    let again = send(ada.id.clone(), cy.id.clone()).await;
    assert_eq!(header(&again, "idempotent-replayed"), "true");
    assert_eq!(expect_json(again, 201).await, first);
    assert_eq!(app.received_ids(&cy.token).await.len(), 1);
    // Bob's request with the same key and body is Bob's, not a replay of Ada's.
    let bobs = send(bob.id.clone(), cy.id.clone()).await;
    assert_eq!(header(&bobs, "idempotent-replayed"), "");
    let bobs = expect_json(bobs, 201).await;
    assert_eq!(bobs["sender"]["id"], bob.id.as_str());
    assert_eq!(app.received_ids(&cy.token).await.len(), 2);
}

#[tokio::test]
async fn a_keys_post_with_an_idempotency_key_is_done_once() {
    // On an administrators' route too, a key's retried POST with the same Idempotency-Key is
    // replayed: one webhook, not two.
    let app = TestApp::spawn().await;
    let admin = admin(&app).await;
    let k = key(&app, &admin, &["webhooks:manage"]).await;
    let hook = json!({"url": "http://127.0.0.1:9/hook", "events": ["invitation.sent"]});
    let post = || {
        app.request_with(
            Method::POST,
            "/api/v1/admin/webhooks",
            &k.secret,
            &[("idempotency-key", "hook-1")],
            Some(hook.clone()),
        )
    };
    let first = expect_json(post().await, 201).await;
    let again = post().await;
    assert_eq!(header(&again, "idempotent-replayed"), "true");
    assert_eq!(expect_json(again, 201).await, first);
    let r = app
        .request(Method::GET, "/api/v1/admin/webhooks", &k.secret, None)
        .await;
    assert_eq!(ids(&expect_json(r, 200).await).len(), 1);
}

#[tokio::test]
async fn a_key_does_not_end_hand_over_or_secure_a_members_account() {
    // Signing out, deactivating, closing, exporting and the password are the member's own.
    let app = TestApp::spawn().await;
    let admin = admin(&app).await;
    let k = key(&app, &admin, &ALL_SCOPES).await;
    let ada = app.signup_member("Ada").await;
    for (method, path, body) in [
        (Method::POST, "/api/v1/auth/logout", None),
        (Method::POST, "/api/v1/me/deactivate", None),
        (Method::GET, "/api/v1/me/export", None),
        (
            Method::DELETE,
            "/api/v1/me",
            Some(json!({"password": PASSWORD})),
        ),
        (
            Method::POST,
            "/api/v1/me/password",
            Some(json!({"current_password": PASSWORD, "new_password": "another long password"})),
        ),
    ] {
        let r = acting(&app, method.clone(), path, &k, &ada.id, body).await;
        let p = expect_problem(r, 403, "forbidden").await;
        assert!(
            p["detail"].as_str().unwrap().contains("service key"),
            "{path}: {p}"
        );
    }
    expect_json(app.me(&ada.token).await, 200).await;
    expect_json(app.login(&ada.email, PASSWORD).await, 200).await;
}
