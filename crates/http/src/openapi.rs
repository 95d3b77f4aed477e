//! The OpenAPI 3.1 document, generated from the handlers' annotations so it cannot drift from them.

use crate::api::{accounts, admin, invitations, network, notifications};
use crate::error::Problem;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Rapport API", description = "Connections and invitations for a professional network."),
    paths(
        accounts::signup, accounts::login, accounts::logout, accounts::me, accounts::update_me, accounts::update_settings, accounts::deactivate, accounts::change_password, accounts::close, accounts::stats, accounts::export,
        invitations::send, invitations::received, invitations::sent, invitations::bulk_withdraw,
        invitations::show, invitations::accept, invitations::ignore, invitations::withdraw,
        network::member, network::search, network::suggestions, network::mutual_connections, network::connections, network::remove_connection,
        network::blocks, network::block, network::unblock, admin::update_member, admin::restrict, admin::lift_restriction, admin::reports, admin::resolve_report,
        admin::create_webhook, admin::webhooks, admin::delete_webhook, admin::deliveries,
        notifications::list, notifications::mark_read, notifications::events,
        crate::ops::healthz, crate::ops::readyz,
    ),
    components(schemas(Problem)),
    modifiers(&BearerAuth),
    tags(
        (name = "accounts", description = "Sign up, sign in, your profile"),
        (name = "invitations", description = "Send, accept, ignore and withdraw invitations"),
        (name = "network", description = "Members, degrees, mutual connections, connections"),
        (name = "notifications", description = "Notifications and live updates"),
        (name = "admin", description = "Administrators: members, moderation, webhooks"),
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
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}
