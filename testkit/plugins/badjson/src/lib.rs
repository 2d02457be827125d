//! A plugin that answers every call with `OK` and bytes that are not JSON.
#![allow(unsafe_code)] // misbehaving on purpose needs the raw ABI

use keyhelm_core::abi::{HostApi, OwnedBuf, PluginTable, Slice, Status};

unsafe extern "C" fn garbage(_host: *const HostApi, _req: Slice, out: *mut OwnedBuf) -> Status {
    // SAFETY: the host passes a valid, writable OwnedBuf for every call.
    unsafe { out.write(OwnedBuf::from_vec(b"{\"v\":1,\"secret\":\"half".to_vec())) };
    Status::OK
}

static TABLE: PluginTable = PluginTable {
    size: core::mem::size_of::<PluginTable>(),
    abi_major: 1,
    abi_minor: 0,
    name: Slice::from_str("badjson"),
    version: Slice::from_str("0.1.0"),
    describe: Some(garbage),
    get: Some(garbage),
    logout: Some(garbage),
};

/// The entry point.
#[unsafe(no_mangle)]
pub extern "C" fn keyhelm_plugin_entry_v1() -> *const PluginTable {
    &TABLE
}
