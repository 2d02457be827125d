//! Test-only fakes for keyhelm.

pub mod bins;
pub mod cargo_registry;
pub mod git_http;
pub mod kube_api;
mod peer_server;
