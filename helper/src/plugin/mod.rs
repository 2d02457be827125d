//! The plugin host: finding, checking, loading and calling provider plugins, and the
//! services lent to them.
//!
//! ```no_run
//! use keyhelm::plugin::{self, HostServices};
//! use keyhelm_core::msg::{Account, CredentialRequest, GetRequest};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dirs = plugin::default_search_dirs(std::env::current_exe().ok().as_deref(), None, &[]);
//! let p = plugin::find_and_load("github", &dirs, None)?;
//! let services = HostServices::new("work")
//!     .allow_origins_of(["https://api.github.com"])?
//!     .interactive(true);
//! let answer = p.get(&services, &GetRequest::new(Account::new("work"), CredentialRequest::default(), None))?;
//! # let _ = answer; Ok(()) }
//! ```
//!
//! Loading is lazy and once per process: nothing here runs unless an account needs its
//! plugin, and the HTTP runtime starts only on a plugin's first HTTP call. In-process
//! plugins are an audit boundary, not a sandbox: the checks make sure the code loaded is
//! the code the user installed (and pinned), and the services keep honest plugins within
//! the account's origins, but a malicious plugin can do anything the user can.

mod discover;
mod error;
mod http;
mod loader;
mod services;
mod stdout;
mod verify;

pub use discover::{
    FoundPlugin, check_name, default_search_dirs, find_plugin, list_plugins, name_from_file_name,
    plugin_file_name,
};
pub use error::{CallError, LoadError, Op};
pub use http::{HttpLimits, Origin, OriginError, http_runtime_started};
pub use loader::{Plugin, find_and_load, load_plugin, load_verified, loaded};
pub use services::HostServices;
pub use stdout::protect_stdout;
pub use verify::{Sha256Pin, VerifiedFile, file_sha256, verify_file};
