//! A plugin with a broken table (see Cargo.toml's description).
#![allow(unsafe_code)] // misbehaving on purpose needs the raw ABI

use keyhelm_core::abi::{HostApi, OwnedBuf, PluginTable, Slice, Status};

unsafe extern "C" fn unused(_host: *const HostApi, _req: Slice, _out: *mut OwnedBuf) -> Status {
    Status::UNSUPPORTED
}

static TABLE: PluginTable = PluginTable {
    size: core::mem::size_of::<PluginTable>(),
    abi_major: 1,
    abi_minor: 0,
    name: Slice::from_str("nofns"),
    version: Slice::from_str("0.1.0"),
    describe: Some(unused),
    get: None,
    logout: None,
};

/// The entry point.
#[unsafe(no_mangle)]
pub extern "C" fn keyhelm_plugin_entry_v1() -> *const PluginTable {
    &TABLE
}
