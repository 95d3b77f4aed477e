//! End-to-end tests: the real HTTP server on 127.0.0.1:0 over a real temporary SQLite store, and the
//! real `rapport` binary for the crash test. One binary, so the suite builds once.

#![allow(clippy::unwrap_used)]

mod accounts;
mod authz;
mod cli;
mod crash;
mod errors;
mod helpers;
mod invitations;
mod lifecycle;
mod network;
mod races;
mod rules;
mod standing;
