//! Test-only fakes for keyhelm: provider servers (Intralinks, Clinked, Intellivoid) on one
//! [`fake::Fake`] core, peers (git over HTTP, a cargo registry, a Kubernetes API) and a
//! canned-answer server, all on the [`server`] plumbing; helpers to build keyhelm's binaries
//! and plugins and to run tools in an isolated environment ([`bins`]); keyhelm itself in
//! that environment ([`keyhelm::Sandbox`]) and on a pseudo-terminal ([`pty`]).

pub mod bins;
pub mod canned;
pub mod cargo_registry;
pub mod clinked;
pub mod clock;
pub mod fake;
pub mod git_http;
pub mod intellivoid;
pub mod intralinks;
pub mod keyhelm;
pub mod kube_api;
pub mod pty;
pub mod server;
