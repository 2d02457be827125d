//! Loading a checked plugin file and calling it.
//!
//! Stages, each with its own error: open and check the file ([`super::verify`]), `dlopen`
//! the checked inode, find the entry symbol, read the table header (ABI major first, then
//! size), read name and version, compare the name. The library is never unloaded: the
//! handle is leaked (and opened with `RTLD_NODELETE`), because unloading Rust code with
//! thread-local destructors or registered types is unsound in practice.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use keyhelm_core::abi::{self, CallFn, EntryFn, OwnedBuf, PluginTable, ReceivedBuf, Slice, Status};
use keyhelm_core::msg::{
    DescribeRequest, DescribeResponse, ErrorKind, ErrorMessage, GetRequest, GetResponse,
    LogoutRequest, LogoutResponse, MESSAGE_VERSION, Versioned,
};

use super::services::{CallCtx, HostServices};
use super::verify::{Sha256Pin, VerifiedFile, verify_file};
use super::{CallError, LoadError, Op, discover};

/// A loaded plugin. Lives for the rest of the process.
#[derive(Debug)]
pub struct Plugin {
    name: String,
    version: String,
    abi_minor: u32,
    path: PathBuf,
    sha256: Option<Sha256Pin>,
    table: &'static PluginTable,
    /// Serializes calls: the host calls a plugin from one thread at a time.
    calls: Mutex<()>,
}

static LOADED: Mutex<Vec<&'static Plugin>> = Mutex::new(Vec::new());

/// Finds provider `name` in `dirs` and loads it (see [`load_plugin`]).
pub fn find_and_load(
    name: &str,
    dirs: &[PathBuf],
    pin: Option<&Sha256Pin>,
) -> Result<&'static Plugin, LoadError> {
    if let Some(p) = loaded(name) {
        return Ok(p);
    }
    let path = discover::find_plugin(name, dirs)?;
    load_plugin(name, &path, pin)
}

/// The plugin named `name`, if this process has loaded it.
pub fn loaded(name: &str) -> Option<&'static Plugin> {
    LOADED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .copied()
        .find(|p| p.name == name)
}

/// Checks and loads provider `name` from `path`, once per process: a second call for the
/// same name and path returns the plugin already loaded; a second path for a loaded name is
/// refused ([`LoadError::AlreadyLoaded`]).
pub fn load_plugin(
    name: &str,
    path: &Path,
    pin: Option<&Sha256Pin>,
) -> Result<&'static Plugin, LoadError> {
    discover::check_name(name)?;
    let mut registry = LOADED.lock().unwrap_or_else(|p| p.into_inner());
    let previous = registry.iter().copied().find(|p| p.name == name);
    if let Some(p) = previous.filter(|p| p.path == path) {
        return Ok(p);
    }
    let verified = verify_file(path, pin)?;
    if let Some(p) = previous {
        return Err(LoadError::AlreadyLoaded {
            name: name.to_owned(),
            loaded: p.path.clone(),
            requested: path.to_owned(),
        });
    }
    let plugin = load_verified(verified, name)?;
    registry.push(plugin);
    Ok(plugin)
}

/// Loads a file that passed [`verify_file`], checks its table and name, and leaks it.
///
/// This bypasses the once-per-process registry of [`load_plugin`]; use it only to inspect
/// a file (`keyhelm plugin verify`) or in tests and benchmarks.
pub fn load_verified(
    file: VerifiedFile,
    expected_name: &str,
) -> Result<&'static Plugin, LoadError> {
    let VerifiedFile { path, file, sha256 } = file;
    let lib = open_library(&path, &file)?;
    // Keep the checked fd open for the life of the process. On Linux the library was
    // opened as `/proc/self/fd/N`, and the dynamic loader recognises libraries it already
    // has by that name: were N closed and reused for another plugin file, a later dlopen of
    // `/proc/self/fd/N` would silently return this library instead of the new file. A
    // leaked (close-on-exec) fd per loaded plugin keeps every such name unique.
    std::mem::forget(file);
    let table = read_table(&path, &lib)?;
    // Never unload: see the module docs.
    std::mem::forget(lib);
    // SAFETY of the reads below is argued in read_table; from here on `table` is a checked
    // 'static reference.
    let name = table_string(&path, "name", table.name)?;
    let version = table_string(&path, "version", table.version)?;
    if !keyhelm_core::sdk::is_valid_name(&name) {
        return Err(LoadError::BadTableString {
            path,
            field: "name",
            reason: "is not a valid plugin name ([a-z0-9_-], at most 64)",
        });
    }
    if name != expected_name {
        return Err(LoadError::NameMismatch {
            path,
            expected: expected_name.to_owned(),
            found: name,
        });
    }
    if table.describe.is_none() {
        return Err(LoadError::MissingFunction {
            path,
            function: "describe",
        });
    }
    if table.get.is_none() {
        return Err(LoadError::MissingFunction {
            path,
            function: "get",
        });
    }
    let plugin = Plugin {
        name,
        version,
        abi_minor: table.abi_minor,
        path,
        sha256,
        table,
        calls: Mutex::new(()),
    };
    tracing::debug!(
        plugin = %plugin.name,
        version = %plugin.version,
        abi_minor = plugin.abi_minor,
        path = %plugin.path.display(),
        "loaded plugin"
    );
    Ok(Box::leak(Box::new(plugin)))
}

#[cfg(unix)]
#[expect(unsafe_code, reason = "dlopen runs the library's initialisers")]
fn open_library(path: &Path, file: &std::fs::File) -> Result<libloading::Library, LoadError> {
    use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};

    // On Linux, load the very inode we checked through its open fd, so a file swapped in
    // at `path` after the checks cannot be what gets loaded.
    #[cfg(target_os = "linux")]
    let target: PathBuf = {
        use std::os::fd::AsRawFd;
        let via_fd = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
        if via_fd.exists() {
            via_fd
        } else {
            tracing::warn!(path = %path.display(), "/proc is not mounted; loading the plugin by path");
            path.to_owned()
        }
    };
    #[cfg(not(target_os = "linux"))]
    let target: PathBuf = {
        let _ = file;
        path.to_owned()
    };

    // SAFETY: dlopen runs the library's initialisers (ELF constructors, Rust statics are
    // lazy). That is the point at which plugin code first runs, which is why every file
    // check comes first: the file is a regular file owned by the user or root, not
    // writable by others, in folders not writable by others, and matches its pin if one is
    // set. What we cannot check is what the code does: in-process plugins are an audit
    // boundary, not a sandbox (docs/plugin-guide.md). RTLD_NOW surfaces missing symbols
    // here rather than mid-call; RTLD_LOCAL keeps its symbols out of the global namespace;
    // RTLD_NODELETE makes even an accidental dlclose a no-op.
    let lib = unsafe { Library::open(Some(&target), RTLD_NOW | RTLD_LOCAL | libc::RTLD_NODELETE) };
    lib.map(libloading::Library::from)
        .map_err(|e| LoadError::Dlopen {
            path: path.to_owned(),
            message: e
                .to_string()
                .replace(&target.display().to_string(), &path.display().to_string()),
        })
}

#[cfg(not(unix))]
#[expect(unsafe_code, reason = "LoadLibrary runs the library's initialisers")]
fn open_library(path: &Path, _file: &std::fs::File) -> Result<libloading::Library, LoadError> {
    // SAFETY: as on Unix, loading runs the library's initialisers after the file checks.
    // Windows has no fd path, so a swap between check and load is not excluded here.
    unsafe { libloading::Library::new(path) }.map_err(|e| LoadError::Dlopen {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// Finds the entry symbol, calls it, and checks the table header before trusting its size.
#[expect(
    unsafe_code,
    reason = "calls the entry symbol and reads the plugin table"
)]
fn read_table(path: &Path, lib: &libloading::Library) -> Result<&'static PluginTable, LoadError> {
    // SAFETY: we name the exact type the ABI gives the symbol (EntryFn). If a library
    // exports a symbol of that name with another type, calling it is undefined behaviour;
    // the symbol name carries the ABI major precisely so that plugins of other ABIs do not
    // collide with it.
    let entry: EntryFn = match unsafe { lib.get::<EntryFn>(abi::ENTRY_SYMBOL) } {
        Ok(sym) => *sym,
        Err(_) => {
            return Err(LoadError::MissingEntry {
                path: path.to_owned(),
                symbol: "keyhelm_plugin_entry_v1",
            });
        }
    };
    // SAFETY: the entry takes no arguments and returns a pointer; the SDK's entry just
    // returns the address of a static. The library is never unloaded, so the function
    // stays valid.
    let table = unsafe { entry() };
    if table.is_null() {
        return Err(LoadError::NullTable {
            path: path.to_owned(),
        });
    }
    // SAFETY: every ABI version starts the table with `size: usize, abi_major: u32,
    // abi_minor: u32`, so these 16 bytes exist in any table. We read them through raw
    // pointers without making a reference to the whole PluginTable, because the table
    // may be shorter than ours (an older minor, or a broken plugin) until `size` says
    // otherwise. Weak point: a library that returns a pointer to fewer than 16 bytes
    // breaks the ABI in a way no check can detect.
    let (size, major, minor) = unsafe {
        (
            (&raw const (*table).size).read(),
            (&raw const (*table).abi_major).read(),
            (&raw const (*table).abi_minor).read(),
        )
    };
    if major != abi::ABI_MAJOR {
        return Err(LoadError::AbiMismatch {
            path: path.to_owned(),
            found_major: major,
            found_minor: minor,
            expected: abi::ABI_MAJOR,
        });
    }
    if size < abi::PLUGIN_TABLE_SIZE_V1_0 {
        return Err(LoadError::TableTooSmall {
            path: path.to_owned(),
            size,
            min: abi::PLUGIN_TABLE_SIZE_V1_0,
        });
    }
    // SAFETY: the table says it is at least as large as ours (every field we know exists),
    // it is static data of a library that is never unloaded (so 'static holds), and the
    // ABI requires it to be immutable and properly aligned.
    Ok(unsafe { &*table })
}

/// Reads a `'static` string from the table.
#[expect(unsafe_code, reason = "reads a slice from the plugin table")]
fn table_string(path: &Path, field: &'static str, s: Slice) -> Result<String, LoadError> {
    let bad = |reason| LoadError::BadTableString {
        path: path.to_owned(),
        field,
        reason,
    };
    if s.len == 0 || s.ptr.is_null() {
        return Err(bad("is empty"));
    }
    if s.len > 64 {
        return Err(bad("is longer than 64 bytes"));
    }
    // SAFETY: the ABI says name and version point to `len` bytes of static data of the
    // plugin, which is never unloaded; len is small (checked above).
    let bytes = unsafe { s.as_bytes() };
    std::str::from_utf8(bytes)
        .map(str::to_owned)
        .map_err(|_| bad("is not UTF-8"))
}

impl Plugin {
    /// The provider name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The plugin's version string.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The ABI minor the plugin was built against.
    pub fn abi_minor(&self) -> u32 {
        self.abi_minor
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The sha256 of the loaded file, if it was computed (it is when a pin was checked).
    pub fn sha256(&self) -> Option<Sha256Pin> {
        self.sha256
    }

    /// Asks the provider to describe itself.
    pub fn describe(&self, services: &HostServices) -> Result<DescribeResponse, CallError> {
        let r: DescribeResponse = self.call(
            Op::Describe,
            self.table.describe,
            services,
            &DescribeRequest::default(),
        )?;
        same_name(&self.name, r)
    }

    /// Asks the provider for a credential.
    pub fn get(&self, services: &HostServices, req: &GetRequest) -> Result<GetResponse, CallError> {
        self.call(Op::Get, self.table.get, services, req)
    }

    /// Asks the provider to revoke what it can. A plugin without `logout` yields
    /// [`CallError::Unsupported`].
    pub fn logout(
        &self,
        services: &HostServices,
        req: &LogoutRequest,
    ) -> Result<LogoutResponse, CallError> {
        self.call(Op::Logout, self.table.logout, services, req)
    }

    #[expect(unsafe_code, reason = "calls into the plugin")]
    fn call<Req: serde::Serialize, Resp: serde::de::DeserializeOwned>(
        &self,
        op: Op,
        f: Option<CallFn>,
        services: &HostServices,
        req: &Req,
    ) -> Result<Resp, CallError> {
        let plugin = self.name.clone();
        let Some(f) = f else {
            return Err(CallError::Unsupported { plugin, op });
        };
        let body = keyhelm_core::json::to_vec(req).map_err(|e| CallError::Encode {
            plugin: plugin.clone(),
            op,
            reason: e.to_string(),
        })?;
        let _one_at_a_time = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        let ctx = CallCtx::new(services, &self.name);
        let api = ctx.api();
        let mut out = OwnedBuf::EMPTY;
        tracing::debug!(plugin = %self.name, %op, "calling plugin");
        // SAFETY: `f` comes from a table that passed read_table's checks, and has the
        // CallFn type by the ABI. `api` and `ctx` live on this stack frame for the whole
        // call; `body` outlives it; `out` is a valid EMPTY buffer the plugin may overwrite.
        // The plugin's own soundness is outside what the host can check (audit boundary).
        let status = unsafe { f(&api, Slice::from_bytes(&body), &mut out) };
        // SAFETY: the plugin filled `out` per the ABI (or left it EMPTY); ReceivedBuf
        // frees it exactly once with the plugin's own free function.
        let answer = unsafe { ReceivedBuf::new(out) };
        drop(body);
        let bytes = answer.bytes();
        let max = services.answer_cap();
        if bytes.len() > max {
            return Err(CallError::AnswerTooLarge {
                plugin,
                op,
                len: bytes.len(),
                max,
            });
        }
        decode_answer(&plugin, op, status, bytes)
    }
}

/// What a plugin's `status` and answer `bytes` mean: the decoded answer, the provider's
/// own error, or how the plugin misbehaved.
fn decode_answer<Resp: serde::de::DeserializeOwned>(
    plugin: &str,
    op: Op,
    status: Status,
    bytes: &[u8],
) -> Result<Resp, CallError> {
    let invalid = |reason: String| CallError::InvalidAnswer {
        plugin: plugin.to_owned(),
        op,
        reason,
    };
    let read_error = || -> Result<ErrorMessage, CallError> {
        if bytes.is_empty() {
            return Ok(ErrorMessage::new(ErrorKind::Internal, "no message"));
        }
        serde_json::from_slice::<ErrorMessage>(bytes)
            .map_err(|e| invalid(keyhelm_core::json::describe_error(&e)))
    };
    match status {
        Status::OK => {
            let v: Versioned = serde_json::from_slice(bytes)
                .map_err(|e| invalid(keyhelm_core::json::describe_error(&e)))?;
            if v.v != MESSAGE_VERSION {
                return Err(invalid(format!(
                    "uses message version {}, and keyhelm reads version {MESSAGE_VERSION}",
                    v.v
                )));
            }
            serde_json::from_slice(bytes)
                .map_err(|e| invalid(keyhelm_core::json::describe_error(&e)))
        }
        Status::ERROR => {
            let error = read_error()?;
            Err(CallError::Plugin {
                plugin: plugin.to_owned(),
                error,
            })
        }
        Status::PANIC => {
            let message = read_error()?.message;
            Err(CallError::Panicked {
                plugin: plugin.to_owned(),
                op,
                message,
            })
        }
        Status::BAD_REQUEST => {
            let message = read_error()?.message;
            Err(CallError::BadRequest {
                plugin: plugin.to_owned(),
                op,
                message,
            })
        }
        Status::UNSUPPORTED => Err(CallError::Unsupported {
            plugin: plugin.to_owned(),
            op,
        }),
        Status(other) => Err(CallError::UnknownStatus {
            plugin: plugin.to_owned(),
            op,
            status: other,
        }),
    }
}

/// A description, when it names the provider its table names.
fn same_name(name: &str, r: DescribeResponse) -> Result<DescribeResponse, CallError> {
    if r.name != name {
        return Err(CallError::InvalidAnswer {
            plugin: name.to_owned(),
            op: Op::Describe,
            reason: format!(
                "names the provider `{}`, but its table says `{name}`",
                r.name
            ),
        });
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_misbehaviour_is_reported_with_what_to_do() {
        let cases: [(Status, &str, &str); 8] = [
            (
                Status::OK,
                r#"{"v":2,"secret":"x"}"#,
                "plugin `p` gave an answer to get that keyhelm cannot read: it uses message \
                 version 2, and keyhelm reads version 1; the plugin is broken or built for \
                 another keyhelm, update it",
            ),
            (
                Status::ERROR,
                r#"{"kind":"auth-failed","message":"refused"}"#,
                "p: refused",
            ),
            (Status::ERROR, "", "p: no message"),
            (
                Status::PANIC,
                r#"{"kind":"internal","message":"index out of bounds"}"#,
                "plugin `p` crashed during get: index out of bounds; this is a bug in the \
                 plugin, report it to its author",
            ),
            (
                Status::BAD_REQUEST,
                r#"{"kind":"internal","message":"missing field `account`"}"#,
                "plugin `p` could not read keyhelm's get request: missing field `account`; the \
                 plugin and keyhelm may be too far apart in version, update both",
            ),
            (Status::UNSUPPORTED, "", "plugin `p` does not support get"),
            (
                Status(42),
                "",
                "plugin `p` returned the unknown status 42 from get; update keyhelm or the \
                 plugin",
            ),
            (
                Status::BAD_REQUEST,
                "[",
                "plugin `p` gave an answer to get that keyhelm cannot read: it ends too early \
                 (line 1, column 1); the plugin is broken or built for another keyhelm, \
                 update it",
            ),
        ];
        for (status, answer, message) in cases {
            let e =
                decode_answer::<GetResponse>("p", Op::Get, status, answer.as_bytes()).unwrap_err();
            assert_eq!(e.to_string(), message, "{answer}");
        }
    }

    #[test]
    fn a_description_must_name_the_provider_of_the_table() {
        let r = DescribeResponse::new("other", "1", keyhelm_core::msg::Description::new("O"));
        assert_eq!(
            same_name("p", r).unwrap_err().to_string(),
            "plugin `p` gave an answer to describe that keyhelm cannot read: it names the \
             provider `other`, but its table says `p`; the plugin is broken or built for \
             another keyhelm, update it"
        );
    }
}
