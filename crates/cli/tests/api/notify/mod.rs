//! Notifications in-app, by mail (file outbox and real SMTP), live over Server-Sent Events, and
//! signed webhooks: each reaches the right member on the right channel, and a withdrawal under the
//! default `silent` policy reaches nobody.

mod inbox;
mod live;
mod mail;
mod webhooks;

use crate::fixtures::*;
use serde_json::Value;
use std::time::Duration;

const DAY: Duration = Duration::from_secs(86_400);

async fn notifications(app: &TestApp, who: &Member) -> Value {
    let r = app.get("/api/v1/notifications", &who.token).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

fn kinds(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap().to_owned())
        .collect()
}

/// The `.eml` files in the outbox, as text.
fn outbox(app: &TestApp) -> Vec<String> {
    let dir = app.data_dir().join("outbox");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut mails: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    mails.sort();
    mails
}

fn mails_to<'a>(mails: &'a [String], who: &Member) -> Vec<&'a String> {
    mails.iter().filter(|m| m.contains(&who.email)).collect()
}
