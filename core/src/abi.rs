//! The C ABI between the keyhelm host and a provider plugin (ABI major 1).
//!
//! Everything here is `#[repr(C)]`: integers, pointers with explicit lengths and
//! `extern "C"` function pointers. No Rust-only type crosses the boundary, so a plugin built
//! with another Rust compiler, or written in C or Zig, works as long as it follows
//! `docs/abi.md`.
//!
//! The shape:
//!
//! * The plugin exports one function, [`ENTRY_SYMBOL`] (`keyhelm_plugin_entry_v1`), that
//!   returns a pointer to a static [`PluginTable`].
//! * The table starts with its own size and the ABI major/minor, then the plugin's name and
//!   version, then one function per operation ([`CallFn`]).
//! * Every call receives the host's [`HostApi`] (logging, HTTP, prompts, clock) and a
//!   borrowed JSON request ([`Slice`]); it writes a JSON answer into an [`OwnedBuf`] that the
//!   plugin allocated and that carries its own `free` function, and returns a [`Status`].
//!
//! Minor versions only append fields to the two tables; each reader checks the `size` field
//! before it touches a field that a newer minor added.

use core::ffi::CStr;
use core::ffi::c_void;

/// The ABI major version. A breaking change gets a new major and a new entry symbol name.
pub const ABI_MAJOR: u32 = 1;
/// The ABI minor version this crate writes. Minors only append fields to the tables.
pub const ABI_MINOR: u32 = 0;
/// The one symbol a plugin exports. Its name carries the ABI major.
pub const ENTRY_SYMBOL: &CStr = c"keyhelm_plugin_entry_v1";
/// The signature of [`ENTRY_SYMBOL`].
pub type EntryFn = unsafe extern "C" fn() -> *const PluginTable;

/// Size of [`PluginTable`] as defined at ABI 1.0: the smallest table a host accepts.
pub const PLUGIN_TABLE_SIZE_V1_0: usize = core::mem::size_of::<PluginTable>();
/// Size of [`HostApi`] as defined at ABI 1.0: the smallest host table a plugin accepts.
pub const HOST_API_SIZE_V1_0: usize = core::mem::size_of::<HostApi>();

/// A borrowed run of bytes, valid only for the duration of the call it is passed to (or, for
/// the name and version in [`PluginTable`], for the life of the process). `ptr` may be null
/// only when `len` is 0.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Slice {
    /// First byte.
    pub ptr: *const u8,
    /// Number of bytes.
    pub len: usize,
}

impl Slice {
    /// The empty slice.
    pub const EMPTY: Slice = Slice {
        ptr: core::ptr::null(),
        len: 0,
    };

    /// Borrows `bytes`. The caller keeps `bytes` alive while the slice is in use.
    pub const fn from_bytes(bytes: &[u8]) -> Slice {
        Slice {
            ptr: bytes.as_ptr(),
            len: bytes.len(),
        }
    }

    /// Borrows a string's UTF-8 bytes.
    pub const fn from_str(s: &str) -> Slice {
        Slice::from_bytes(s.as_bytes())
    }

    /// Views the bytes.
    ///
    /// # Safety
    ///
    /// `ptr` must point to `len` initialized bytes that stay valid and unmodified for `'a`,
    /// or `len` must be 0. This is the contract of every slice that crosses the ABI.
    #[expect(unsafe_code, reason = "views foreign memory")]
    pub unsafe fn as_bytes<'a>(self) -> &'a [u8] {
        if self.len == 0 || self.ptr.is_null() {
            return &[];
        }
        // SAFETY: the caller guarantees `ptr..ptr+len` is valid for reads for 'a; `ptr` is
        // non-null (checked above) and `u8` has alignment 1, so any non-null pointer is
        // aligned. A `len` above isize::MAX cannot describe a real allocation, so a caller
        // who upholds the contract never passes one.
        unsafe { core::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// A buffer handed from the side that allocated it to the other side, together with the
/// function that frees it. The receiver reads `len` bytes at `ptr` and then calls
/// `free(buf)` exactly once; it never frees the memory any other way.
///
/// The free functions written by this crate (plugin SDK and host alike) overwrite the whole
/// allocation with zeros before releasing it, so a buffer that held a secret leaves nothing
/// behind.
#[repr(C)]
#[derive(Debug)]
pub struct OwnedBuf {
    /// First byte (null for an empty buffer).
    pub ptr: *mut u8,
    /// Number of initialized bytes.
    pub len: usize,
    /// Allocation size, private to the allocating side (for its free function).
    pub cap: usize,
    /// Frees the buffer. `None` means there is nothing to free.
    pub free: Option<unsafe extern "C" fn(buf: OwnedBuf)>,
}

impl OwnedBuf {
    /// An empty buffer with nothing to free.
    pub const EMPTY: OwnedBuf = OwnedBuf {
        ptr: core::ptr::null_mut(),
        len: 0,
        cap: 0,
        free: None,
    };

    /// Hands a vector over the boundary. The receiver's call to `free` zeroizes and frees it
    /// in this binary, with this binary's allocator.
    pub fn from_vec(bytes: Vec<u8>) -> OwnedBuf {
        let mut bytes = core::mem::ManuallyDrop::new(bytes);
        OwnedBuf {
            ptr: bytes.as_mut_ptr(),
            len: bytes.len(),
            cap: bytes.capacity(),
            free: Some(free_vec_buf),
        }
    }
}

/// A buffer received from the other side of the boundary, freed (by its owner's free
/// function, which zeroizes it) when dropped.
#[derive(Debug)]
pub struct ReceivedBuf(OwnedBuf);

impl ReceivedBuf {
    /// Takes ownership of `buf`.
    ///
    /// # Safety
    ///
    /// `buf` must be a buffer the other side filled for us: `ptr` valid for `len` bytes
    /// (or null), and `free` (if any) its matching free function, not called yet.
    #[expect(unsafe_code, reason = "the caller vouches for the buffer")]
    pub unsafe fn new(buf: OwnedBuf) -> ReceivedBuf {
        ReceivedBuf(buf)
    }

    /// The bytes.
    #[expect(unsafe_code, reason = "reads the buffer the owner lent us")]
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `new`'s contract says ptr is valid for len bytes until `free` runs, and
        // `free` runs only in Drop, after every borrow of self has ended.
        unsafe {
            Slice {
                ptr: self.0.ptr,
                len: self.0.len,
            }
            .as_bytes()
        }
    }
}

impl Drop for ReceivedBuf {
    #[expect(unsafe_code, reason = "calls the owner's free function")]
    fn drop(&mut self) {
        let buf = std::mem::replace(&mut self.0, OwnedBuf::EMPTY);
        if let Some(free) = buf.free {
            // SAFETY: `new`'s contract says `free` matches this buffer and has not run; we
            // replaced our copy with EMPTY, so it cannot run twice.
            unsafe { free(buf) };
        }
    }
}

/// The free function of every [`OwnedBuf`] made by [`OwnedBuf::from_vec`].
///
/// # Safety
///
/// `buf` must come unchanged from [`OwnedBuf::from_vec`] in this same binary, and must not
/// have been freed before.
#[expect(unsafe_code, reason = "rebuilds the Vec that from_vec leaked")]
unsafe extern "C" fn free_vec_buf(buf: OwnedBuf) {
    if buf.ptr.is_null() {
        return;
    }
    // SAFETY: by this function's contract, ptr/len/cap are exactly what `from_vec` took from
    // a live `Vec<u8>` allocated by this binary's global allocator and leaked with
    // ManuallyDrop, and nobody has freed it since. Rebuilding the Vec takes that ownership
    // back. The weak point is the contract itself: a receiver that edits the fields or frees
    // twice causes undefined behaviour, which no check here could detect.
    let mut v = unsafe { Vec::from_raw_parts(buf.ptr, buf.len, buf.cap) };
    zeroize::Zeroize::zeroize(&mut v); // zeroizes the whole capacity, then clears
    drop(v);
}

/// The result of a call across the boundary.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status(pub i32);

impl Status {
    /// Success: the out buffer holds the JSON answer.
    pub const OK: Status = Status(0);
    /// The operation failed: the out buffer holds a JSON error message
    /// ([`crate::msg::ErrorMessage`]).
    pub const ERROR: Status = Status(1);
    /// The callee panicked (or crashed in a way it caught); the out buffer holds a JSON error
    /// message or is empty.
    pub const PANIC: Status = Status(2);
    /// The request could not be read (not JSON, wrong shape, unsupported message version);
    /// the out buffer holds a JSON error message or is empty.
    pub const BAD_REQUEST: Status = Status(3);
    /// The callee does not implement this operation; the out buffer may hold a JSON error.
    pub const UNSUPPORTED: Status = Status(4);
}

/// One plugin operation: `describe`, `get` or `logout`.
///
/// `host` is valid for the duration of the call. `req` is a borrowed JSON request. `out`
/// points to an [`OwnedBuf`] initialised to [`OwnedBuf::EMPTY`]; the plugin stores its
/// answer (on success) or a JSON error (otherwise) there. The host frees it with its `free`.
pub type CallFn =
    unsafe extern "C" fn(host: *const HostApi, req: Slice, out: *mut OwnedBuf) -> Status;

/// The table a plugin exports, through [`ENTRY_SYMBOL`]. It lives in static memory for the
/// life of the process.
#[repr(C)]
#[derive(Debug)]
pub struct PluginTable {
    /// `size_of::<PluginTable>()` as the plugin compiled it; the host reads only fields that
    /// fit inside it.
    pub size: usize,
    /// Must equal the host's [`ABI_MAJOR`].
    pub abi_major: u32,
    /// The minor the plugin was built against.
    pub abi_minor: u32,
    /// The provider name, UTF-8, `[a-z0-9_-]{1,64}`; equals `<name>` in the file name
    /// `libkeyhelm_<name>.so`.
    pub name: Slice,
    /// The plugin's version, UTF-8 (semver recommended), at most 64 bytes.
    pub version: Slice,
    /// Describes the provider: settings, URL patterns, default base URL.
    pub describe: Option<CallFn>,
    /// Obtains a credential for an account.
    pub get: Option<CallFn>,
    /// Revokes what can be revoked for an account.
    pub logout: Option<CallFn>,
    // ABI 1.x additions are appended here.
}

// SAFETY: a PluginTable is immutable static data: its slices point at 'static bytes and its
// function pointers at code. Sharing a reference between threads cannot cause a data race.
// (That the *functions* are safe to call from any thread is a separate contract, stated in
// docs/abi.md: the host calls a plugin from one thread at a time.)
#[expect(unsafe_code, reason = "the table is immutable static data")]
unsafe impl Sync for PluginTable {}

/// Log levels for [`HostApi::log`].
pub mod log_level {
    /// An error the user should see.
    pub const ERROR: u32 = 1;
    /// A warning.
    pub const WARN: u32 = 2;
    /// Progress information.
    pub const INFO: u32 = 3;
    /// Details for debugging.
    pub const DEBUG: u32 = 4;
    /// Very verbose details.
    pub const TRACE: u32 = 5;
}

/// The services the host lends to a plugin for the duration of one call.
///
/// Every function takes `ctx` first. Functions that answer write a JSON answer (or JSON
/// error) into `out`, allocated by the host with its own `free`; the plugin frees it.
#[repr(C)]
#[derive(Debug)]
pub struct HostApi {
    /// `size_of::<HostApi>()` as the host compiled it; the plugin reads only fields that fit.
    pub size: usize,
    /// The host's ABI major ([`ABI_MAJOR`]).
    pub abi_major: u32,
    /// The host's ABI minor.
    pub abi_minor: u32,
    /// Opaque host context; passed back to every function below.
    pub ctx: *mut c_void,
    /// Logs `msg` (UTF-8) at `level` ([`log_level`]) into the host's log.
    pub log: Option<unsafe extern "C" fn(ctx: *mut c_void, level: u32, msg: Slice)>,
    /// Blocking HTTP: `req` is a JSON [`crate::msg::HttpRequest`], the answer a JSON
    /// [`crate::msg::HttpResponse`] (any HTTP status is `OK`; `ERROR` means no response).
    pub http:
        Option<unsafe extern "C" fn(ctx: *mut c_void, req: Slice, out: *mut OwnedBuf) -> Status>,
    /// Asks the user: `req` is a JSON [`crate::msg::PromptRequest`], the answer a JSON
    /// [`crate::msg::PromptResponse`].
    pub prompt:
        Option<unsafe extern "C" fn(ctx: *mut c_void, req: Slice, out: *mut OwnedBuf) -> Status>,
    /// The current time in milliseconds since the Unix epoch (the host may fake it in tests).
    pub now_ms: Option<unsafe extern "C" fn(ctx: *mut c_void) -> i64>,
    // ABI 1.x additions are appended here.
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};

    /// The offsets documented in docs/abi.md (LP64 targets).
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn layout_matches_the_documentation() {
        assert_eq!(size_of::<Slice>(), 16);
        assert_eq!(size_of::<OwnedBuf>(), 32);
        assert_eq!(offset_of!(OwnedBuf, free), 24);
        assert_eq!(size_of::<Status>(), 4);

        assert_eq!(offset_of!(PluginTable, size), 0);
        assert_eq!(offset_of!(PluginTable, abi_major), 8);
        assert_eq!(offset_of!(PluginTable, abi_minor), 12);
        assert_eq!(offset_of!(PluginTable, name), 16);
        assert_eq!(offset_of!(PluginTable, version), 32);
        assert_eq!(offset_of!(PluginTable, describe), 48);
        assert_eq!(offset_of!(PluginTable, get), 56);
        assert_eq!(offset_of!(PluginTable, logout), 64);
        assert_eq!(PLUGIN_TABLE_SIZE_V1_0, 72);

        assert_eq!(offset_of!(HostApi, size), 0);
        assert_eq!(offset_of!(HostApi, abi_major), 8);
        assert_eq!(offset_of!(HostApi, abi_minor), 12);
        assert_eq!(offset_of!(HostApi, ctx), 16);
        assert_eq!(offset_of!(HostApi, log), 24);
        assert_eq!(offset_of!(HostApi, http), 32);
        assert_eq!(offset_of!(HostApi, prompt), 40);
        assert_eq!(offset_of!(HostApi, now_ms), 48);
        assert_eq!(HOST_API_SIZE_V1_0, 56);
    }

    #[test]
    fn entry_symbol_carries_the_major() {
        let name = ENTRY_SYMBOL.to_str().unwrap();
        assert!(name.ends_with(&format!("_v{ABI_MAJOR}")));
    }

    #[test]
    #[expect(unsafe_code, reason = "exercises the buffer contract")]
    fn owned_buf_round_trip_frees_through_its_own_function() {
        let buf = OwnedBuf::from_vec(b"hello".to_vec());
        // SAFETY: buf was just made by from_vec and is alive.
        let bytes = unsafe {
            Slice {
                ptr: buf.ptr,
                len: buf.len,
            }
            .as_bytes()
        };
        assert_eq!(bytes, b"hello");
        let free = buf.free.unwrap();
        // SAFETY: freed exactly once, unchanged.
        unsafe { free(buf) };
        // SAFETY: an empty slice is always valid.
        assert!(unsafe { Slice::EMPTY.as_bytes() }.is_empty());
    }
}
