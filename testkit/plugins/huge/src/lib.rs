//! A plugin that answers every call with a 64 MiB buffer. The host must refuse it by its
//! length, without parsing it, and still free it.
#![allow(unsafe_code)] // misbehaving on purpose needs the raw ABI

use keyhelm_core::abi::{HostApi, OwnedBuf, PluginTable, Slice, Status};

unsafe extern "C" fn huge(_host: *const HostApi, _req: Slice, out: *mut OwnedBuf) -> Status {
    let mut v = vec![b' '; 64 << 20];
    v[0] = b'{';
    v[(64 << 20) - 1] = b'}';
    // SAFETY: the host passes a valid, writable OwnedBuf for every call.
    unsafe { out.write(OwnedBuf::from_vec(v)) };
    Status::OK
}

static TABLE: PluginTable = PluginTable {
    size: core::mem::size_of::<PluginTable>(),
    abi_major: 1,
    abi_minor: 0,
    name: Slice::from_str("huge"),
    version: Slice::from_str("0.1.0"),
    describe: Some(huge),
    get: Some(huge),
    logout: Some(huge),
};

/// The entry point.
#[unsafe(no_mangle)]
pub extern "C" fn keyhelm_plugin_entry_v1() -> *const PluginTable {
    &TABLE
}
