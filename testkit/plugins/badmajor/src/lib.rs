//! A plugin whose table reports ABI major 2 under the v1 entry symbol. The host must refuse
//! it after reading the header, before calling anything.
#![allow(unsafe_code)] // misbehaving on purpose needs the raw ABI

use keyhelm_core::abi::{PluginTable, Slice};

static TABLE: PluginTable = PluginTable {
    size: core::mem::size_of::<PluginTable>(),
    abi_major: 2,
    abi_minor: 0,
    name: Slice::from_str("badmajor"),
    version: Slice::from_str("0.1.0"),
    describe: None,
    get: None,
    logout: None,
};

/// The entry point.
#[unsafe(no_mangle)]
pub extern "C" fn keyhelm_plugin_entry_v1() -> *const PluginTable {
    &TABLE
}
