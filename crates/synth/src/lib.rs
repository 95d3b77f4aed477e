//! Synthetic networks for trying Rapport at scale: [`generate`] draws a professional network that
//! looks like a real one, [`write`] seeds an empty embedded store with it.
//!
//! A library of its own because two binaries use it: `rapport seed` (an operator filling a store
//! to try the product) and `rapport-bench` (which seeds the stores it measures the same way, and
//! keeps the network in memory to choose who acts). The server never draws a network.

mod network;
mod write;

pub use network::{generate, Network, Profile, MAX_CONNECTIONS};
pub use write::{write, Progress, Silent};
