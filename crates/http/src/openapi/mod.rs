//! The OpenAPI 3.1 document, generated from the handlers' annotations so it cannot drift from them.

mod headers;
mod values;
mod webhooks;

use crate::api::{accounts, admin, community, invitations, network, notifications};
use crate::error::Problem;
use utoipa::openapi::schema::{Schema, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, Required};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Rapport API", description = "Connections and invitations for a professional network."),
    paths(
        accounts::signup, accounts::confirm_signup, accounts::login, accounts::logout, accounts::me, accounts::update_me, accounts::update_settings, accounts::deactivate, accounts::change_password, accounts::close, accounts::stats, accounts::export,
        invitations::send, invitations::received, invitations::sent, invitations::bulk_withdraw,
        invitations::show, invitations::accept, invitations::ignore, invitations::withdraw,
        network::member, network::search, network::suggestions, network::mutual_connections, network::connections, network::remove_connection,
        network::blocks, network::block, network::unblock, admin::update_member, admin::restrict, admin::lift_restriction, admin::reports, admin::resolve_report,
        admin::create_webhook, admin::webhooks, admin::delete_webhook, admin::deliveries,
        community::create_key, community::keys, community::revoke_key, community::provision,
        community::external_member, community::relationship,
        notifications::list, notifications::mark_read, notifications::events,
        crate::ops::healthz, crate::ops::readyz,
    ),
    components(schemas(Problem)),
    modifiers(&BearerAuth, &AsServed),
    tags(
        (name = "accounts", description = "Sign up, sign in, your profile"),
        (name = "invitations", description = "Send, accept, ignore and withdraw invitations"),
        (name = "network", description = "Members, degrees, mutual connections, connections"),
        (name = "notifications", description = "Notifications and live updates"),
        (name = "admin", description = "Administrators and service keys: members, moderation, webhooks, keys, provisioning"),
        (name = "operations", description = "Health"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A member's sign-in token (`rap_…`), or a service key (`rsk_…`). A key \
                         with the scope `invitations:act` acts for a member on the member routes \
                         when the request names them in `Rapport-Act-As: <member id>` or \
                         `Rapport-Act-As: ext:<community id>`; on administrators' routes a key \
                         may do what its scopes open (`403 insufficient_scope` otherwise).",
                    ))
                    .build(),
            ),
        );
    }
}

/// Two things the annotations cannot say, put right so that the document says what the server does:
///
/// - Every error leaves as `application/problem+json` (RFC 9457), but `body = Problem` in an
///   annotation says `application/json`: the media type of every response whose body is a
///   `Problem` is renamed.
/// - An optional body (`request_body(content = Option<T>)`, taken by `OptionalJsonBody`) is left
///   out, never sent as `null`, which is not a `T`: its schema becomes `T` alone (the body stays
///   not required).
struct AsServed;

impl Modify for AsServed {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        const PROBLEM: &str = "#/components/schemas/Problem";
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in operations.into_iter().flatten() {
                for response in op.responses.responses.values_mut() {
                    let RefOr::T(response) = response else {
                        continue;
                    };
                    let is_problem = response.content.get("application/json").is_some_and(
                        |c| matches!(&c.schema, Some(RefOr::Ref(r)) if r.ref_location == PROBLEM),
                    );
                    if is_problem {
                        if let Some(content) = response.content.shift_remove("application/json") {
                            response
                                .content
                                .insert("application/problem+json".to_owned(), content);
                        }
                    }
                }
                let Some(body) = &mut op.request_body else {
                    continue;
                };
                if body.required == Some(Required::True) {
                    continue;
                }
                for content in body.content.values_mut() {
                    if let Some(RefOr::T(Schema::OneOf(one))) = &content.schema {
                        let mut not_null = one.items.iter().filter(|s| !is_null(s));
                        if let (Some(only), None, 2) =
                            (not_null.next(), not_null.next(), one.items.len())
                        {
                            content.schema = Some(only.clone());
                        }
                    }
                }
            }
        }
    }
}

fn is_null(schema: &RefOr<Schema>) -> bool {
    matches!(schema, RefOr::T(Schema::Object(o)) if o.schema_type == SchemaType::Type(Type::Null))
}

/// The document as served. utoipa 5 writes the fields of a response's `links` in snake case
/// (`operation_id`, `request_body`), which OpenAPI tools do not read: they are renamed to the
/// specification's `operationId`, `operationRef` and `requestBody` here. Then [`as_linters_read`]
/// [`values::describe_values`], [`headers::describe_headers`] and [`webhooks::describe_webhooks`].
pub fn document() -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    as_linters_read(&mut doc);
    values::describe_values(&mut doc);
    headers::describe_headers(&mut doc);
    webhooks::describe_webhooks(&mut doc);
    let operations = doc
        .get_mut("paths")
        .and_then(|p| p.as_object_mut())
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(|item| item.as_object_mut())
        .flat_map(|item| item.values_mut());
    for op in operations {
        let responses = op
            .get_mut("responses")
            .and_then(|r| r.as_object_mut())
            .into_iter()
            .flat_map(|r| r.values_mut());
        for response in responses {
            let links = response
                .get_mut("links")
                .and_then(|l| l.as_object_mut())
                .into_iter()
                .flat_map(|l| l.values_mut())
                .filter_map(|link| link.as_object_mut());
            for link in links {
                for (from, to) in [
                    ("operation_id", "operationId"),
                    ("operation_ref", "operationRef"),
                    ("request_body", "requestBody"),
                ] {
                    if let Some(v) = link.remove(from) {
                        link.insert(to.to_owned(), v);
                    }
                }
            }
        }
    }
    doc
}

/// What `@redocly/cli lint` (recommended) and `spectral:oas` ask of a document, which the
/// annotations cannot say (both run in scripts/test, which fails on any finding):
///
/// - a `servers` entry: `/`, the server that serves the document;
/// - `info.contact`;
/// - `security: []` on the operations that need no token (sign-up, sign-in, health), rather than
///   nothing, which reads as "forgot";
/// - a `description` on every operation: the summary, where the handler's doc comment has one
///   paragraph only;
/// - a page of items (`Page_Delivery`) refers to its item's schema instead of copying it inline.
fn as_linters_read(doc: &mut serde_json::Value) {
    use serde_json::{json, Value};
    doc["servers"] = json!([{"url": "/", "description": "the server that serves this document"}]);
    doc["info"]["contact"] = json!({"name": "The operator of this Rapport server"});
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for op in paths
            .values_mut()
            .filter_map(Value::as_object_mut)
            .flat_map(|item| item.values_mut())
            .filter_map(Value::as_object_mut)
        {
            op.entry("security").or_insert_with(|| json!([]));
            if op.get("description").is_none() {
                let summary = op.get("summary").cloned().unwrap_or_else(|| json!(""));
                op.insert("description".into(), summary);
            }
        }
    }
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let names: Vec<String> = schemas.keys().cloned().collect();
    for name in &names {
        let Some(item) = name.strip_prefix("Page_") else {
            continue;
        };
        if !schemas.contains_key(item) {
            continue;
        }
        if let Some(items) = schemas
            .get_mut(name)
            .and_then(|page| page.pointer_mut("/properties/items/items"))
        {
            *items = json!({"$ref": format!("#/components/schemas/{item}")});
        }
    }
}

#[cfg(test)]
mod tests {
    use super::document;

    #[test]
    fn every_operation_says_its_security_and_what_it_does() {
        let doc = document();
        for (label, op) in operations(&doc) {
            assert!(op["security"].is_array(), "{label}");
            assert!(
                op["description"].as_str().is_some_and(|d| !d.is_empty()),
                "{label}"
            );
        }
        assert_eq!(
            doc["paths"]["/api/v1/auth/login"]["post"]["security"],
            serde_json::json!([])
        );
        assert_eq!(
            doc["components"]["schemas"]["Page_Delivery"]["properties"]["items"]["items"]["$ref"],
            "#/components/schemas/Delivery"
        );
        assert_eq!(doc["servers"][0]["url"], "/");
    }

    /// Every operation of the document, as (label, operation).
    fn operations(doc: &serde_json::Value) -> Vec<(String, &serde_json::Value)> {
        let mut ops = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("operations") {
                ops.push((format!("{method} {path}"), op));
            }
        }
        ops
    }

    #[test]
    fn parameters_are_where_the_server_reads_them() {
        let doc = document();
        for (label, op) in operations(&doc) {
            let path = label.split_once(' ').unwrap().1;
            for p in op["parameters"].as_array().into_iter().flatten() {
                let name = p["name"].as_str().unwrap();
                let in_path = path.contains(&format!("{{{name}}}"));
                // Headers are capitalised (`Idempotency-Key`); query parameters never are.
                let in_header = name.starts_with(|c: char| c.is_ascii_uppercase());
                let expected = if in_path {
                    "path"
                } else if in_header {
                    "header"
                } else {
                    "query"
                };
                assert_eq!(p["in"], expected, "{label}: parameter {name}");
                // A query parameter the server cannot do without is refused with `400
                // malformed` when missing, which the operation documents.
                if !in_path && p["required"] == true {
                    assert_eq!(expected, "query", "{label}: parameter {name}");
                    assert!(
                        op["responses"].get("400").is_some(),
                        "{label}: required {name}, but no 400 documented"
                    );
                }
            }
        }
    }

    #[test]
    fn errors_are_documented_as_problem_json() {
        let doc = document();
        for (label, op) in operations(&doc) {
            for (status, response) in op["responses"].as_object().unwrap() {
                let content = response["content"].as_object();
                if status.starts_with('4') || status.starts_with('5') {
                    if let Some(content) = content {
                        assert!(
                            content.keys().all(|k| k == "application/problem+json"),
                            "{label} {status}: {content:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn optional_bodies_are_left_out_not_null_and_links_are_camel_case() {
        let doc = document();
        let read = &doc["paths"]["/api/v1/notifications/read"]["post"]["requestBody"];
        assert_ne!(read["required"], true);
        assert_eq!(
            read["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ReadRequest"
        );
        let links = &doc["paths"]["/api/v1/auth/signup"]["post"]["responses"]["201"]["links"];
        assert_eq!(links["invite"]["operationId"], "send");
        assert_eq!(
            links["invite"]["requestBody"]["recipient_id"],
            "$response.body#/member/id"
        );
        assert!(links["invite"].get("operation_id").is_none());
    }
}
