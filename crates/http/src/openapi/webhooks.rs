//! The deliveries Rapport makes to operators' endpoints, as OpenAPI 3.1 `webhooks`: one entry per
//! event type (`rapport_app::webhooks::EVENT_TYPES`), with the Standard Webhooks headers and the
//! body's schema, so that a receiver can generate its types from the same document.

use rapport_app::webhooks::EVENT_TYPES;
use serde_json::{json, Value};

/// The body's `data` for each family of events, as `rapport_app::webhooks` writes it.
fn data_schema(event: &str) -> (&'static str, Value) {
    let id = json!({"type": "string", "description": "A decimal id."});
    if event.starts_with("invitation.") {
        (
            "WebhookInvitationData",
            json!({
                "type": "object",
                "required": ["invitation_id", "sender_id", "recipient_id"],
                "properties": {"invitation_id": id, "sender_id": id, "recipient_id": id}
            }),
        )
    } else if event.starts_with("connection.") {
        (
            "WebhookConnectionData",
            json!({
                "type": "object",
                "required": ["member_ids"],
                "properties": {"member_ids": {"type": "array", "items": id, "minItems": 2, "maxItems": 2}}
            }),
        )
    } else {
        (
            "WebhookRestrictionData",
            json!({
                "type": "object",
                "required": ["member_id", "reason", "until"],
                "properties": {
                    "member_id": id,
                    "reason": {"type": ["string", "null"], "description": "Why, in words."},
                    "until": {"type": ["string", "null"], "format": "date-time"}
                }
            }),
        )
    }
}

pub(super) fn describe_webhooks(doc: &mut Value) {
    let header = |name: &str, what: &str| json!({"name": name, "in": "header", "required": true, "description": what, "schema": {"type": "string"}});
    let mut hooks = serde_json::Map::new();
    for event in EVENT_TYPES {
        let (data_name, data) = data_schema(event);
        doc["components"]["schemas"][data_name] = data;
        let body_name = format!("WebhookEvent_{}", event.replace('.', "_"));
        doc["components"]["schemas"][&body_name] = json!({
            "type": "object",
            "required": ["id", "type", "created_at", "data"],
            "properties": {
                "id": {"type": "string", "description": "The same as the `webhook-id` header."},
                "type": {"type": "string", "enum": [event]},
                "created_at": {"type": "string", "format": "date-time"},
                "data": {"$ref": format!("#/components/schemas/{data_name}")}
            }
        });
        hooks.insert(
            event.to_owned(),
            json!({"post": {
                "operationId": format!("webhook_{}", event.replace('.', "_")),
                "summary": format!("`{event}` delivered to a registered endpoint"),
                "description": format!(
                    "Rapport POSTs this to every endpoint registered for `{event}`, signed as \
                     Standard Webhooks specify; any 2xx answer acknowledges it, anything else is \
                     retried with the same `webhook-id`."
                ),
                "tags": ["admin"],
                "security": [],
                "parameters": [
                    header("webhook-id", "The delivery's id: the same on every attempt."),
                    header("webhook-timestamp", "Seconds since the Unix epoch, when this attempt was signed."),
                    header("webhook-signature", "`v1,` and the base64 HMAC-SHA256 of `id.timestamp.body` under the endpoint's secret."),
                ],
                "requestBody": {
                    "required": true,
                    "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{body_name}")}}}
                },
                "responses": {
                    "200": {"description": "Acknowledged (any 2xx does)."},
                    "400": {"description": "Refused: the delivery is retried, then the endpoint disabled."}
                }
            }}),
        );
    }
    doc["webhooks"] = Value::Object(hooks);
}

#[cfg(test)]
mod tests {
    use crate::openapi::document;
    use rapport_app::webhooks::EVENT_TYPES;

    #[test]
    fn every_event_type_is_a_webhook_with_its_body() {
        let doc = document();
        for event in EVENT_TYPES {
            let body = &doc["webhooks"][event]["post"]["requestBody"]["content"]
                ["application/json"]["schema"]["$ref"];
            let name = body.as_str().unwrap().rsplit('/').next().unwrap();
            assert_eq!(
                doc["components"]["schemas"][name]["properties"]["type"]["enum"][0],
                event
            );
        }
    }
}
