//! Members provisioned by the community's ids, and the relationship of any two members.

use super::*;

#[tokio::test]
async fn provisioning_creates_a_member_without_a_password_and_then_updates_or_leaves_them() {
    // The first PUT creates (201), a different one updates (200), the same one changes nothing
    // (200); the member has no password to sign in with.
    let app = TestApp::spawn().await;
    let admin = admin(&app).await;
    let writer = key(&app, &admin, &["members:write"]).await;
    let reader = key(&app, &admin, &["members:read"]).await;
    let viewer = app.signup_member("Viewer").await;
    let body = json!({
        "email": "Ada.Lovelace@Community.example",
        "name": "Ada Lovelace",
        "headline": "Analyst",
        "company": "Engines Ltd",
        "location": "London",
    });
    let created = expect_json(
        provision(&app, &writer.secret, "u-1001", body.clone()).await,
        201,
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["external_id"], "u-1001");
    assert_eq!(created["name"], "Ada Lovelace");
    assert_eq!(created["headline"], "Analyst");
    assert_eq!(created["company"], "Engines Ltd");
    assert_eq!(created["location"], "London");
    assert_eq!(created["status"], "active");
    let email = created["email"].as_str().unwrap().to_owned();
    assert_eq!(email.to_lowercase(), "ada.lovelace@community.example");
    assert!(created["created_at"].is_string());

    let read = app
        .request(Method::GET, &by_external_id("u-1001"), &reader.secret, None)
        .await;
    assert_eq!(expect_json(read, 200).await, created);
    let r = app
        .request(Method::GET, &by_external_id("u-1002"), &reader.secret, None)
        .await;
    expect_problem(r, 404, "not_found").await;
    // No password opens the account.
    for password in [PASSWORD, "", "x"] {
        expect_problem(
            app.login(&email, password).await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    // Members see the provisioned member.
    let profile = expect_json(app.member(&viewer.token, &id).await, 200).await;
    assert_eq!(profile["name"], "Ada Lovelace");

    // The same again: nothing changes.
    let same = expect_json(provision(&app, &writer.secret, "u-1001", body).await, 200).await;
    assert_eq!(same, created);

    // Another headline and name: updated, and members see it.
    let body = json!({
        "email": "ada.lovelace@community.example",
        "name": "Ada King",
        "headline": "Countess",
        "company": "Engines Ltd",
        "location": "London",
    });
    let updated = expect_json(provision(&app, &writer.secret, "u-1001", body).await, 200).await;
    assert_eq!(updated["id"], id.as_str());
    assert_eq!(
        (&updated["name"], &updated["headline"]),
        (&json!("Ada King"), &json!("Countess"))
    );
    let profile = expect_json(app.member(&viewer.token, &id).await, 200).await;
    assert_eq!(
        (&profile["name"], &profile["headline"]),
        (&json!("Ada King"), &json!("Countess"))
    );
    let read = app
        .request(Method::GET, &by_external_id("u-1001"), &reader.secret, None)
        .await;
    assert_eq!(expect_json(read, 200).await, updated);
    // One member, one community id.
    assert_eq!(
        app.count("SELECT count(*) FROM external_ids WHERE subject = 'u-1001'")
            .await,
        1
    );
}

#[tokio::test]
async fn provisioning_keeps_an_address_one_members() {
    // An address another provisioned member holds is `409 email_taken`, on create and on update,
    // and nothing changes.
    let app = TestApp::spawn().await;
    let admin = admin(&app).await;
    provision_new(&app, &admin.token, "u-1", "Ann").await;
    provision_new(&app, &admin.token, "u-2", "Ben").await;
    let members = app.count("SELECT count(*) FROM members").await;
    let taken = json!({"email": "u-1@community.example", "name": "Ben"});
    expect_problem(
        provision(&app, &admin.token, "u-2", taken.clone()).await,
        409,
        "email_taken",
    )
    .await;
    expect_problem(
        provision(&app, &admin.token, "u-3", taken).await,
        409,
        "email_taken",
    )
    .await;
    let r = app
        .request(Method::GET, &by_external_id("u-3"), &admin.token, None)
        .await;
    expect_problem(r, 404, "not_found").await;
    let ben = app
        .request(Method::GET, &by_external_id("u-2"), &admin.token, None)
        .await;
    assert_eq!(
        expect_json(ben, 200).await["email"],
        "u-2@community.example"
    );
    // Nor onto the address of a member who signed up by themselves.
    let sam = app.signup_member("Sam").await;
    let onto_sam = json!({"email": sam.email, "name": "Ben"});
    expect_problem(
        provision(&app, &admin.token, "u-2", onto_sam).await,
        409,
        "email_taken",
    )
    .await;
    assert_eq!(app.count("SELECT count(*) FROM members").await, members + 1);
    assert_eq!(
        expect_json(app.me(&sam.token).await, 200).await["name"],
        "Sam"
    );
}

#[tokio::test]
async fn provisioning_never_takes_over_a_member_with_a_password_or_an_administrator() {
    // Sam signed up with a password: the community provisioning his address gets 409 and changes
    // nothing (else a key with members:write could redirect his sign-in). An administrator
    // carrying a community id is not changed by provisioning, nor deactivated.
    let app = TestApp::spawn().await;
    let admin = admin(&app).await;
    let sam = app.signup_member("Sam").await;
    let k = key(&app, &admin, &["members:write", "invitations:act"]).await;
    let body = json!({"email": sam.email, "name": "Sam Linked", "company": "Alumni"});
    expect_problem(
        provision(&app, &k.secret, "u-sam", body).await,
        409,
        "email_taken",
    )
    .await;
    let me = expect_json(app.me(&sam.token).await, 200).await;
    assert_eq!(me["name"], "Sam");
    let r = acting(&app, Method::GET, "/api/v1/me", &k, "ext:u-sam", None).await;
    expect_problem(r, 404, "not_found").await;

    let admin_email = json!({"email": admin.email, "name": "Root"});
    expect_problem(
        provision(&app, &k.secret, "u-root", admin_email).await,
        409,
        "email_taken",
    )
    .await;
    app.link_community_id(&admin.id, "u-root").await;
    let moved = json!({"email": "attacker@example.com", "name": admin.name});
    let p = expect_problem(
        provision(&app, &k.secret, "u-root", moved).await,
        422,
        "validation_failed",
    )
    .await;
    assert!(
        p["detail"].as_str().unwrap().contains("administrator"),
        "{p}"
    );
    let hidden = json!({"email": admin.email, "name": admin.name, "status": "deactivated"});
    expect_problem(
        provision(&app, &k.secret, "u-root", hidden).await,
        422,
        "validation_failed",
    )
    .await;
    expect_json(app.me(&admin.token).await, 200).await;
    // Nor does a key act for an administrator.
    let r = acting(&app, Method::GET, "/api/v1/me", &k, "ext:u-root", None).await;
    expect_problem(r, 403, "forbidden").await;
}

#[tokio::test]
async fn provisioned_status_deactivates_and_reactivates_as_the_member_would() {
    // `deactivated` hides the member as their own deactivation does (connections kept for their
    // return); `active` brings them back, connections and all.
    let app = TestApp::spawn().await;
    let admin = admin(&app).await;
    let k = key(
        &app,
        &admin,
        &["members:write", "invitations:act", "network:read"],
    )
    .await;
    let bob = app.signup_member("Bob").await;
    let pat = provision_new(&app, &k.secret, "u-pat", "Pat").await;
    let body = json!({"recipient_id": bob.id});
    let r = acting(
        &app,
        Method::POST,
        "/api/v1/invitations",
        &k,
        &pat,
        Some(body),
    )
    .await;
    let id = expect_json(r, 201).await["id"].as_str().unwrap().to_owned();
    expect_json(app.accept(&bob.token, &id).await, 200).await;
    assert_eq!(app.relationship(&bob, &pat).await["state"], "connected");

    let pat_as = |status: Option<&str>| {
        let mut body = json!({"email": "u-pat@community.example", "name": "Pat"});
        if let Some(s) = status {
            body["status"] = json!(s);
        }
        body
    };
    let gone = expect_json(
        provision(&app, &k.secret, "u-pat", pat_as(Some("deactivated"))).await,
        200,
    )
    .await;
    assert_eq!(gone["status"], "deactivated");
    expect_problem(app.member(&bob.token, &pat).await, 404, "not_found").await;
    assert!(app.connection_ids(&bob.token).await.is_empty());
    expect_problem(
        relationship(&app, &k.secret, &bob.id, "ext:u-pat").await,
        404,
        "not_found",
    )
    .await;
    let r = acting(&app, Method::GET, "/api/v1/me", &k, "ext:u-pat", None).await;
    expect_problem(r, 403, "forbidden").await;
    // Again, or without a status: still deactivated, nothing changed.
    let again = provision(&app, &k.secret, "u-pat", pat_as(Some("deactivated"))).await;
    assert_eq!(expect_json(again, 200).await, gone);
    let untouched = provision(&app, &k.secret, "u-pat", pat_as(None)).await;
    assert_eq!(expect_json(untouched, 200).await, gone);
    expect_problem(
        provision(&app, &k.secret, "u-pat", pat_as(Some("gone"))).await,
        422,
        "validation_failed",
    )
    .await;

    let back = expect_json(
        provision(&app, &k.secret, "u-pat", pat_as(Some("active"))).await,
        200,
    )
    .await;
    assert_eq!(back["status"], "active");
    let rel = app.relationship(&bob, &pat).await;
    assert_eq!(
        (&rel["state"], &rel["degree"]),
        (&json!("connected"), &json!(1))
    );
    assert_eq!(app.connection_ids(&bob.token).await, [pat.as_str()]);
    let r = relationship(&app, &k.secret, "ext:u-pat", &bob.id).await;
    assert_eq!(expect_json(r, 200).await["state"], "connected");

    // A suspension is the moderators': the community's status does not lift it.
    let path = format!("/api/v1/admin/members/{pat}");
    let r = app
        .request(
            Method::PATCH,
            &path,
            &admin.token,
            Some(json!({"suspended": true})),
        )
        .await;
    expect_json(r, 200).await;
    for status in ["active", "deactivated"] {
        let r = provision(&app, &k.secret, "u-pat", pat_as(Some(status))).await;
        assert_eq!(expect_json(r, 200).await["status"], "suspended", "{status}");
    }
    expect_problem(app.member(&bob.token, &pat).await, 404, "not_found").await;

    // Created deactivated: there, but nobody sees them.
    let body =
        json!({"email": "quiet@community.example", "name": "Quiet", "status": "deactivated"});
    let quiet = expect_json(provision(&app, &k.secret, "u-quiet", body).await, 201).await;
    assert_eq!(quiet["status"], "deactivated");
    let quiet_id = quiet["id"].as_str().unwrap();
    expect_problem(app.member(&bob.token, quiet_id).await, 404, "not_found").await;
}

#[tokio::test]
async fn provisioning_refuses_bad_input_and_writes_nothing() {
    // Each refusal names what is wrong; no member and no community id is written.
    let app = TestApp::spawn().await;
    let admin = admin(&app).await;
    let k = key(&app, &admin, &["members:write"]).await;
    let members = app.count("SELECT count(*) FROM members").await;
    let long_id = "x".repeat(201);
    let refused = [
        (
            "u-1",
            json!({"email": "not-an-email", "name": "Ann"}),
            "email",
        ),
        (
            "u-1",
            json!({"email": "ann@example.com", "name": ""}),
            "name",
        ),
        (
            "u-1",
            json!({"email": "ann@example.com", "name": "   "}),
            "name",
        ),
        (
            "u-1",
            json!({"email": "ann@example.com", "name": "Ann", "headline": "h".repeat(201)}),
            "headline",
        ),
        (
            "u-1",
            json!({"email": "ann@example.com", "name": "Ann", "status": "suspended"}),
            "status",
        ),
        (
            long_id.as_str(),
            json!({"email": "ann@example.com", "name": "Ann"}),
            "external_id",
        ),
    ];
    for (external_id, body, field) in refused {
        let r = provision(&app, &k.secret, external_id, body.clone()).await;
        let v = expect_problem(r, 422, "validation_failed").await;
        assert!(v["detail"].as_str().unwrap().contains(field), "{body}: {v}");
    }
    for body in [
        json!({"name": "Ann"}),
        json!({"email": "ann@example.com"}),
        json!({"email": "ann@example.com", "name": "Ann", "nickname": "A"}),
        json!({"email": "ann@example.com", "name": 7}),
    ] {
        let r = provision(&app, &k.secret, "u-1", body).await;
        expect_problem(r, 400, "malformed").await;
    }
    assert_eq!(app.count("SELECT count(*) FROM members").await, members);
    assert_eq!(app.count("SELECT count(*) FROM external_ids").await, 0);
    // 200 characters is long enough.
    let ok = json!({"email": "ann@example.com", "name": "Ann"});
    let r = provision(&app, &k.secret, &"x".repeat(200), ok).await;
    expect_json(r, 201).await;
}

// ----- the relationship of two members --------------------------------------------------------

#[tokio::test]
async fn the_relationship_of_two_members_reads_as_the_first_sees_the_second() {
    // Connected is the 1st degree; four shared connections make the 2nd, with three of them
    // named; a pending invitation reads from each side; ids and `ext:` ids name the same members.
    let app = TestApp::spawn().await;
    let admin = admin(&app).await;
    let k = key(&app, &admin, &["network:read"]).await;
    let ada = app.signup_member("Ada").await;
    let bob = app.signup_member("Bob").await;
    let cy = app.signup_member("Cy").await;
    let dee = app.signup_member("Dee").await;
    app.connect(&ada, &bob).await;
    let mut mutual = Vec::new();
    for name in ["M1", "M2", "M3", "M4"] {
        let m = app.signup_member(name).await;
        app.connect(&ada, &m).await;
        app.connect(&m, &cy).await;
        mutual.push(m);
    }
    app.invite_ok(&ada, &dee).await;

    let get = |from: String, to: String| {
        let (app, k) = (&app, &k);
        async move { expect_json(relationship(app, &k.secret, &from, &to).await, 200).await }
    };
    let r = get(ada.id.clone(), bob.id.clone()).await;
    assert_eq!(
        (&r["state"], &r["degree"], &r["mutual_connections"]),
        (&json!("connected"), &json!(1), &json!(0)),
        "{r}"
    );
    assert_eq!(r["mutual_preview"], json!([]));

    let r = get(ada.id.clone(), cy.id.clone()).await;
    assert_eq!(
        (&r["state"], &r["degree"], &r["mutual_connections"]),
        (&json!("none"), &json!(2), &json!(4)),
        "{r}"
    );
    let preview = names_of(&r["mutual_preview"]);
    assert_eq!(preview.len(), 3, "{r}");
    assert!(
        preview
            .iter()
            .all(|n| ["M1", "M2", "M3", "M4"].contains(&n.as_str())),
        "{r}"
    );
    // As the member sees it on the profile.
    let seen = app.relationship(&ada, &cy.id).await;
    assert_eq!(
        (&seen["degree"], &seen["mutual_connections"]),
        (&r["degree"], &r["mutual_connections"])
    );

    let r = get(ada.id.clone(), dee.id.clone()).await;
    assert_eq!(r["state"], "invitation_sent");
    let r = get(dee.id.clone(), ada.id.clone()).await;
    assert_eq!(r["state"], "invitation_received");
    let r = get(bob.id.clone(), cy.id.clone()).await;
    assert_eq!(r["degree"], 3, "{r}");
    let r = get(dee.id.clone(), cy.id.clone()).await;
    assert_eq!(r["degree"], Value::Null, "{r}");
    let r = get(ada.id.clone(), ada.id.clone()).await;
    assert_eq!(r["state"], "self");

    // The community's ids name the same members.
    app.link_community_id(&ada.id, "u-ada").await;
    app.link_community_id(&cy.id, "u-cy").await;
    let by_ext = get("ext:u-ada".into(), "ext:u-cy".into()).await;
    let by_id = get(ada.id.clone(), cy.id.clone()).await;
    assert_eq!(by_ext["mutual_connections"], 4);
    assert_eq!(
        (&by_ext["state"], &by_ext["degree"]),
        (&by_id["state"], &by_id["degree"])
    );
    let mixed = get("ext:u-ada".into(), bob.id.clone()).await;
    assert_eq!(mixed["state"], "connected");

    // Unknown members, either side, and a question that is not one.
    for (from, to) in [
        (ada.id.as_str(), "999999"),
        ("999999", ada.id.as_str()),
        (ada.id.as_str(), "ext:nobody"),
        ("ext:nobody", ada.id.as_str()),
        (ada.id.as_str(), "nonsense"),
    ] {
        expect_problem(
            relationship(&app, &k.secret, from, to).await,
            404,
            "not_found",
        )
        .await;
    }
    let path = format!("/api/v1/admin/relationship?from={}", ada.id);
    let r = app.request(Method::GET, &path, &k.secret, None).await;
    expect_problem(r, 400, "malformed").await;
}

#[tokio::test]
async fn the_relationship_hides_blocked_and_deactivated_members() {
    // A pair where either blocked the other is not found, either way; so is a deactivated member;
    // a mutual connection who blocked one of them is neither counted nor named.
    let app = TestApp::spawn().await;
    let admin = admin(&app).await;
    let k = key(&app, &admin, &["network:read"]).await;
    let ada = app.signup_member("Ada").await;
    let bob = app.signup_member("Bob").await;
    let cy = app.signup_member("Cy").await;
    let dee = app.signup_member("Dee").await;
    let m1 = app.signup_member("Mutual One").await;
    let m2 = app.signup_member("Mutual Two").await;
    for m in [&m1, &m2] {
        app.connect(&ada, m).await;
        app.connect(m, &cy).await;
    }
    app.connect(&ada, &dee).await;
    let r = expect_json(relationship(&app, &k.secret, &ada.id, &cy.id).await, 200).await;
    assert_eq!(r["mutual_connections"], 2, "{r}");

    let block = format!("/api/v1/blocks/{}", ada.id);
    expect_empty(
        app.request(Method::PUT, &block, &bob.token, None).await,
        204,
    )
    .await;
    for (from, to) in [(&ada, &bob), (&bob, &ada)] {
        expect_problem(
            relationship(&app, &k.secret, &from.id, &to.id).await,
            404,
            "not_found",
        )
        .await;
    }
    // Mutual Two blocks Ada: only Mutual One is left between Ada and Cy.
    let block = format!("/api/v1/blocks/{}", ada.id);
    expect_empty(app.request(Method::PUT, &block, &m2.token, None).await, 204).await;
    let r = expect_json(relationship(&app, &k.secret, &ada.id, &cy.id).await, 200).await;
    assert_eq!(r["mutual_connections"], 1, "{r}");
    assert_eq!(names_of(&r["mutual_preview"]), ["Mutual One"]);

    expect_empty(
        app.request(Method::POST, "/api/v1/me/deactivate", &dee.token, None)
            .await,
        204,
    )
    .await;
    for (from, to) in [(&ada, &dee), (&dee, &ada)] {
        expect_problem(
            relationship(&app, &k.secret, &from.id, &to.id).await,
            404,
            "not_found",
        )
        .await;
    }
}
