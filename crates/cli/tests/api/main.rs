//! End-to-end tests of Rapport's HTTP API: a real server on 127.0.0.1:0 over a real temporary
//! SQLite store, driven through `helpers::TestApp` with a clock the tests move by hand; and the real
//! `rapport` binary, killed with SIGKILL, for the crash test, and as two replicas over one
//! PostgreSQL database for `replicas` (always PostgreSQL). One binary, so the suite links once.
//!
//! The platform-rule modules (`rules`, `standing`, `lifecycle`) and `cli` predate `helpers` and use
//! `fixtures`, a second `TestApp` that hands out members as values; moving them onto `helpers` is
//! the next clean-up.

#![allow(clippy::unwrap_used)]

mod accounts;
mod authz;
mod authz_matrix;
mod backend;
mod browser;
mod cli;
mod community;
mod connections;
mod copy;
mod crash;
mod deploy;
mod errors;
mod faults;
mod fixtures;
mod hardening;
mod helpers;
mod idempotency;
mod invitations;
mod lifecycle;
mod network;
mod notify;
mod oidc;
mod oidc_provider;
mod races;
mod replicas;
mod rules;
mod signup;
mod sse;
mod standing;
mod tokens;
mod web;
