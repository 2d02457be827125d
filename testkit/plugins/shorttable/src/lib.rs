//! A plugin whose table stops after the version: smaller than ABI 1.0's table. The host must
//! refuse it without reading past the end.
#![allow(unsafe_code)] // misbehaving on purpose needs the raw ABI

use keyhelm_core::abi::{PluginTable, Slice};

/// The ABI 1.0 header without any function pointer.
#[repr(C)]
#[derive(Debug)]
pub struct Short {
    size: usize,
    abi_major: u32,
    abi_minor: u32,
    name: Slice,
    version: Slice,
}

// SAFETY: immutable static data pointing at 'static bytes.
unsafe impl Sync for Short {}

static TABLE: Short = Short {
    size: core::mem::size_of::<Short>(),
    abi_major: 1,
    abi_minor: 0,
    name: Slice::from_str("shorttable"),
    version: Slice::from_str("0.1.0"),
};

/// The entry point.
#[unsafe(no_mangle)]
pub extern "C" fn keyhelm_plugin_entry_v1() -> *const PluginTable {
    (&raw const TABLE).cast()
}
