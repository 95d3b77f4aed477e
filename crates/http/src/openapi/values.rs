//! What the annotations cannot say about values: the closed sets a string field takes (an `enum`,
//! so generated clients get union types and refuse `"premium2"` before sending it), timestamps as
//! `format: date-time`, and the bounds of a degree. The sets come from the domain's own types
//! (`Tier::ALL`, ...), so the document cannot list a value the server does not use; the few
//! answers the views spell out (a relationship's state, a report's actions, a delivery's status)
//! are listed here, and the tests check each named field exists.

use rapport_app::webhooks::EVENT_TYPES;
use rapport_domain::{
    AccountStatus, EmailCadence, InvitationsFrom, NotificationKind, Role, SeenState, Tier,
};
use serde_json::{json, Value};

/// (schema, property, the values it takes).
pub(super) fn closed_sets() -> Vec<(&'static str, &'static str, Vec<&'static str>)> {
    let tiers: Vec<_> = Tier::ALL.iter().map(|t| t.as_str()).collect();
    let roles: Vec<_> = Role::ALL.iter().map(|r| r.as_str()).collect();
    let from: Vec<_> = InvitationsFrom::ALL.iter().map(|f| f.as_str()).collect();
    let cadences: Vec<_> = EmailCadence::ALL.iter().map(|c| c.as_str()).collect();
    vec![
        ("Me", "tier", tiers.clone()),
        ("MemberUpdate", "tier", tiers),
        ("Me", "role", roles.clone()),
        ("MemberUpdate", "role", roles),
        (
            "Me",
            "status",
            AccountStatus::ALL.iter().map(|s| s.as_str()).collect(),
        ),
        ("Settings", "invitations_from", from.clone()),
        ("SettingsUpdate", "invitations_from", from),
        ("ChannelSettings", "email", cadences.clone()),
        ("ChannelsUpdate", "email", cadences),
        (
            "Invitation",
            "state",
            SeenState::ALL.iter().map(|s| s.as_str()).collect(),
        ),
        (
            "Notification",
            "kind",
            NotificationKind::ALL.iter().map(|k| k.as_str()).collect(),
        ),
        (
            "Relationship",
            "state",
            vec![
                "self",
                "none",
                "invitation_sent",
                "invitation_received",
                "connected",
            ],
        ),
        (
            "ResolveRequest",
            "action",
            vec!["dismiss", "restrict", "suspend"],
        ),
        ("Delivery", "status", vec!["pending", "delivered", "failed"]),
        ("Webhook", "events", EVENT_TYPES.to_vec()),
        ("WebhookRequest", "events", EVENT_TYPES.to_vec()),
    ]
}

/// Puts the closed sets, timestamp formats and degree bounds into the document's schemas.
pub(super) fn describe_values(doc: &mut Value) {
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for (schema, property, values) in closed_sets() {
        let Some(p) = schemas
            .get_mut(schema)
            .and_then(|s| s.pointer_mut(&format!("/properties/{property}")))
        else {
            continue;
        };
        // A list of values (webhook events) constrains its items.
        let target = if p["type"] == "array" {
            &mut p["items"]
        } else {
            p
        };
        let mut allowed: Vec<Value> = values.into_iter().map(Value::from).collect();
        if is_nullable(target) {
            allowed.push(Value::Null);
        }
        target["enum"] = Value::Array(allowed);
    }
    for schema in schemas.values_mut() {
        let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
            continue;
        };
        for (name, p) in properties.iter_mut() {
            if (name.ends_with("_at") || name == "until") && is_string(p) {
                p["format"] = json!("date-time");
            }
        }
    }
    if let Some(degree) = schemas
        .get_mut("Relationship")
        .and_then(|s| s.pointer_mut("/properties/degree"))
    {
        degree["minimum"] = json!(1);
        degree["maximum"] = json!(3);
    }
}

fn is_nullable(p: &Value) -> bool {
    p["type"]
        .as_array()
        .is_some_and(|types| types.contains(&json!("null")))
}

fn is_string(p: &Value) -> bool {
    p["type"] == "string"
        || p["type"]
            .as_array()
            .is_some_and(|types| types.contains(&json!("string")))
}

#[cfg(test)]
mod tests {
    use super::closed_sets;
    use crate::openapi::document;

    #[test]
    fn every_closed_set_lands_on_a_field_of_the_document() {
        let doc = document();
        for (schema, property, values) in closed_sets() {
            let p = &doc["components"]["schemas"][schema]["properties"][property];
            let listed = if p["type"] == "array" {
                &p["items"]["enum"]
            } else {
                &p["enum"]
            };
            let listed = listed
                .as_array()
                .unwrap_or_else(|| panic!("{schema}.{property} has no enum: {p}"));
            for v in values {
                assert!(listed.contains(&v.into()), "{schema}.{property}: {v}");
            }
        }
        let inv = &doc["components"]["schemas"]["Invitation"]["properties"];
        assert_eq!(inv["created_at"]["format"], "date-time");
        assert_eq!(inv["decided_at"]["format"], "date-time");
        let restriction = &doc["components"]["schemas"]["Restriction"]["properties"];
        assert_eq!(restriction["until"]["format"], "date-time");
    }
}
