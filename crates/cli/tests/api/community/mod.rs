//! Service keys, act-as, provisioning by community ids, the relationship of two members, and
//! `rapport import` (issue 19).

use crate::helpers::*;
use reqwest::{Method, Response};
use serde_json::{json, Value};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

mod act_as;
mod command_line;
mod keys;
mod provisioning;

const ACT_AS: &str = "rapport-act-as";
const ALL_SCOPES: [&str; 5] = [
    "members:read",
    "members:write",
    "invitations:act",
    "network:read",
    "webhooks:manage",
];

/// A service key just created: its id and its secret.
struct Key {
    id: String,
    secret: String,
}

/// An administrator, signed in.
async fn admin(app: &TestApp) -> TestMember {
    let admin = app.signup_member("Admin").await;
    app.make_admin(&admin.email).await;
    admin
}

/// `admin` creates a key with `scopes`.
async fn key(app: &TestApp, admin: &TestMember, scopes: &[&str]) -> Key {
    let body = json!({"name": "alumni site", "scopes": scopes});
    let r = app
        .request(Method::POST, "/api/v1/admin/keys", &admin.token, Some(body))
        .await;
    let v = expect_json(r, 201).await;
    Key {
        id: v["id"].as_str().expect("key id").to_owned(),
        secret: v["secret"].as_str().expect("key secret").to_owned(),
    }
}

/// A request made with `key` acting for `who` (a member id or `ext:` and a community id).
async fn acting(
    app: &TestApp,
    method: Method,
    path: &str,
    key: &Key,
    who: &str,
    body: Option<Value>,
) -> Response {
    app.request_with(method, path, &key.secret, &[(ACT_AS, who)], body)
        .await
}

fn by_external_id(external_id: &str) -> String {
    format!("/api/v1/admin/members/by-external-id/{external_id}")
}

/// `PUT /admin/members/by-external-id/{external_id}` with `token` (a member's or a key's secret).
async fn provision(app: &TestApp, token: &str, external_id: &str, body: Value) -> Response {
    app.request(Method::PUT, &by_external_id(external_id), token, Some(body))
        .await
}

/// Provisions a member who must be created; returns their member id.
async fn provision_new(app: &TestApp, token: &str, external_id: &str, name: &str) -> String {
    let email = format!("{external_id}@community.example");
    let r = provision(
        app,
        token,
        external_id,
        json!({"email": email, "name": name}),
    )
    .await;
    expect_json(r, 201).await["id"]
        .as_str()
        .expect("member id")
        .to_owned()
}

/// `GET /admin/relationship?from=&to=`.
async fn relationship(app: &TestApp, token: &str, from: &str, to: &str) -> Response {
    let path = format!("/api/v1/admin/relationship?from={from}&to={to}");
    app.request(Method::GET, &path, token, None).await
}

/// The names of a list of member summaries, sorted.
fn names_of(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list
        .as_array()
        .unwrap_or_else(|| panic!("a list: {list}"))
        .iter()
        .map(|m| m["name"].as_str().expect("name").to_owned())
        .collect();
    names.sort();
    names
}

/// The keys `admin` lists.
async fn listed_keys(app: &TestApp, admin: &TestMember) -> Value {
    let r = app
        .request(Method::GET, "/api/v1/admin/keys", &admin.token, None)
        .await;
    expect_json(r, 200).await
}
