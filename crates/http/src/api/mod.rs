//! The JSON API under `/api/v1`. Each module exposes its own `router()`; they are merged here.

pub mod accounts;
pub mod admin;
pub mod community;
pub mod invitations;
pub mod network;
pub mod notifications;

use crate::AppState;
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(accounts::router())
        .merge(invitations::router())
        .merge(network::router())
        .merge(notifications::router())
        .merge(admin::router())
        .merge(community::router())
}
