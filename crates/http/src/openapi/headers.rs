//! The headers the annotations leave out, put where the server reads or sends them:
//!
//! - `Idempotency-Key` on every POST that honours it (every POST under `/api/v1` whose answer
//!   carries no token; see `crate::idempotency`), and `Idempotent-Replayed` on their answers;
//! - `Retry-After` on every `429` and `503`;
//! - `Last-Event-ID` on `/api/v1/events`.
//!
//! No answer of the API sets `Location`: a `201` carries the created object in its body.

use serde_json::{json, Value};

/// The key's form as the server takes it: 1 to 255 visible ASCII characters (spaces inside only,
/// since HTTP drops them at the ends).
const KEY_PATTERN: &str = "^[!-~]([ -~]{0,253}[!-~])?$";

pub(super) fn describe_headers(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            let honours_key = method == "post"
                && path
                    .strip_prefix("/api/v1")
                    .is_some_and(|p| !crate::idempotency::carries_a_token(p));
            if honours_key {
                parameter(
                    op,
                    json!({
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": false,
                        "description": "Makes a retry safe: the same key with the same request \
                            within 24 hours replays the first successful answer (with \
                            `Idempotent-Replayed: true`); with another request it is \
                            `422 idempotency_key_reused`.",
                        "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": KEY_PATTERN}
                    }),
                );
            }
            if method == "get" && path == "/api/v1/events" {
                parameter(
                    op,
                    json!({
                        "name": "Last-Event-ID",
                        "in": "header",
                        "required": false,
                        "description": "The id of the last event received: the stream starts \
                            with every event that followed it. A value that is not an event id \
                            starts the stream with what happens from now on.",
                        "schema": {"type": "string"}
                    }),
                );
            }
            let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
                continue;
            };
            if honours_key {
                for (status, what) in [
                    ("400", "malformed: also an `Idempotency-Key` that is not 1 to 255 visible ASCII characters"),
                    ("422", "idempotency_key_reused: this `Idempotency-Key` came with another request; also validation_failed"),
                ] {
                    responses.entry(status).or_insert_with(|| {
                        json!({
                            "description": what,
                            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
                        })
                    });
                }
            }
            for (status, response) in responses.iter_mut() {
                if status == "429" || status == "503" {
                    header(
                        response,
                        "Retry-After",
                        json!({
                            "description": "Seconds to wait before trying again.",
                            "schema": {"type": "integer", "minimum": 1}
                        }),
                    );
                } else if honours_key && status.starts_with('2') {
                    header(
                        response,
                        "Idempotent-Replayed",
                        json!({
                            "description": "`true` when this is the kept answer of an earlier \
                                request with the same `Idempotency-Key`.",
                            "schema": {"type": "string", "enum": ["true"]}
                        }),
                    );
                }
            }
        }
    }
}

fn parameter(op: &mut Value, p: Value) {
    match op.get_mut("parameters").and_then(Value::as_array_mut) {
        Some(list) => list.push(p),
        None => op["parameters"] = json!([p]),
    }
}

fn header(response: &mut Value, name: &str, h: Value) {
    if response.get("headers").is_none() {
        response["headers"] = json!({});
    }
    response["headers"][name] = h;
}

#[cfg(test)]
mod tests {
    use crate::openapi::document;

    #[test]
    fn keys_retries_and_resumes_are_documented_where_the_server_reads_them() {
        let doc = document();
        let param_names = |path: &str, method: &str| -> Vec<String> {
            doc["paths"][path][method]["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| p["name"].as_str().unwrap().to_owned())
                .collect()
        };
        assert!(param_names("/api/v1/invitations", "post").contains(&"Idempotency-Key".into()));
        assert!(!param_names("/api/v1/auth/login", "post").contains(&"Idempotency-Key".into()));
        assert!(!param_names("/api/v1/me/password", "post").contains(&"Idempotency-Key".into()));
        assert!(param_names("/api/v1/events", "get").contains(&"Last-Event-ID".into()));
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                for (status, response) in op["responses"].as_object().unwrap() {
                    if status == "429" || status == "503" {
                        assert!(
                            response["headers"]["Retry-After"].is_object(),
                            "{method} {path} {status}"
                        );
                    }
                }
            }
        }
    }
}
