//! Test-only fakes for keyhelm.

pub mod clinked;
pub mod clock;
pub mod intellivoid;
pub mod intralinks;
pub mod server;
