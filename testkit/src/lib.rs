//! Test-only fakes for keyhelm.
