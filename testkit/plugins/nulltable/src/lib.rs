//! A plugin whose entry returns NULL.
#![allow(unsafe_code)] // exporting a symbol needs #[unsafe(no_mangle)]

use keyhelm_core::abi::PluginTable;

/// The entry point.
#[unsafe(no_mangle)]
pub extern "C" fn keyhelm_plugin_entry_v1() -> *const PluginTable {
    core::ptr::null()
}
