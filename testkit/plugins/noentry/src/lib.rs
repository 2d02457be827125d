//! A shared library without keyhelm's entry symbol (here: a misspelled one).
#![allow(unsafe_code)] // exporting a symbol needs #[unsafe(no_mangle)]

/// Not the entry point the host looks for.
#[unsafe(no_mangle)]
pub extern "C" fn keyhelm_plugin_entry() -> usize {
    0
}
