//! The plugin host's errors. Each refusal is its own variant; its `Display` says what is
//! wrong and what to do. None carries a secret.

use std::io;
use std::path::PathBuf;

use keyhelm_core::msg::ErrorMessage;

/// Why a plugin could not be found, checked or loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The provider name is not `[a-z0-9_-]{1,64}`.
    #[error(
        "`{name}` is not a valid plugin name; names use lower-case letters, digits, `_` and `-` (at most 64)"
    )]
    InvalidName {
        /// The name as given.
        name: String,
    },

    /// No folder in the search list holds the plugin.
    #[error(
        "no plugin named `{name}`: looked for {file} in {}; install it into one of those folders, or set its path in the config",
        display_dirs(searched)
    )]
    NotFound {
        /// The provider name.
        name: String,
        /// The file name looked for.
        file: String,
        /// The folders searched, in order.
        searched: Vec<PathBuf>,
    },

    /// Plugin paths must be absolute, so the library search path plays no part.
    #[error("refusing to load plugin {}: the path is not absolute; give its full path", path.display())]
    NotAbsolute {
        /// The path as given.
        path: PathBuf,
    },

    /// The plugin file is a symbolic link.
    #[error(
        "refusing to load plugin {}: it is a symbolic link; point the config at the real file, or copy the plugin into the plugin folder",
        path.display()
    )]
    Symlink {
        /// The path.
        path: PathBuf,
    },

    /// The plugin file could not be opened or inspected.
    #[error("cannot open plugin {}: {source}", path.display())]
    Open {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },

    /// The path is not a regular file.
    #[error("refusing to load plugin {}: it is not a regular file", path.display())]
    NotRegularFile {
        /// The path.
        path: PathBuf,
    },

    /// The file (or a folder above it) belongs to someone else than the user or root.
    #[error(
        "refusing to load plugin {}: {} {} is owned by user id {owner}, not by you (user id {me}) or root, so its owner could change the code keyhelm runs; `chown` it to yourself",
        file.display(),
        if *is_folder { "the folder" } else { "the file" },
        path.display()
    )]
    BadOwner {
        /// The plugin file.
        file: PathBuf,
        /// The file or folder with the wrong owner.
        path: PathBuf,
        /// Whether `path` is a folder above the file.
        is_folder: bool,
        /// Its owner's user id.
        owner: u32,
        /// This process's user id.
        me: u32,
    },

    /// The file (or a folder above it) can be written by other users.
    #[error(
        "refusing to load plugin {}: {} {} is writable by {} (mode {mode:04o}), so another user could change the code keyhelm runs; run `chmod go-w {}`",
        file.display(),
        if *is_folder { "the folder" } else { "the file" },
        path.display(),
        if mode & 0o002 != 0 { "everyone" } else { "its group" },
        path.display()
    )]
    Writable {
        /// The plugin file.
        file: PathBuf,
        /// The file or folder that is too open.
        path: PathBuf,
        /// Whether `path` is a folder above the file.
        is_folder: bool,
        /// Its permission bits.
        mode: u32,
    },

    /// The file's sha256 differs from the pin in the config.
    #[error(
        "refusing to load plugin {}: its sha256 is {actual}, but the config pins {expected}; if you updated the plugin on purpose, pin the new hash (`keyhelm plugin trust`)",
        path.display()
    )]
    PinMismatch {
        /// The path.
        path: PathBuf,
        /// The pinned hash (hex).
        expected: String,
        /// The file's hash (hex).
        actual: String,
    },

    /// A pin in the config is not a sha256 hash.
    #[error(
        "the pin `{pin}` is not a sha256 hash: expected 64 hex digits, optionally after `sha256:`"
    )]
    InvalidPin {
        /// The pin as given (hashes are public).
        pin: String,
    },

    /// The dynamic loader refused the file.
    #[error(
        "cannot load plugin {}: {message}; is it a plugin built for this system and architecture?",
        path.display()
    )]
    Dlopen {
        /// The path.
        path: PathBuf,
        /// The loader's message.
        message: String,
    },

    /// The library does not export the entry symbol.
    #[error(
        "{} is not a keyhelm plugin for this version: it does not export `{symbol}`; it may be built for another plugin ABI, update it",
        path.display()
    )]
    MissingEntry {
        /// The path.
        path: PathBuf,
        /// The symbol looked for.
        symbol: &'static str,
    },

    /// The entry function returned a null table.
    #[error("plugin {} is broken: its entry function returned no table", path.display())]
    NullTable {
        /// The path.
        path: PathBuf,
    },

    /// The table's ABI major differs from the host's.
    #[error(
        "plugin {} is built for plugin ABI {found_major}.{found_minor}, and this keyhelm speaks ABI {expected}.x; install a version of the plugin built for ABI {expected}",
        path.display()
    )]
    AbiMismatch {
        /// The path.
        path: PathBuf,
        /// The plugin's major.
        found_major: u32,
        /// The plugin's minor.
        found_minor: u32,
        /// The host's major.
        expected: u32,
    },

    /// The table is smaller than ABI 1.0's.
    #[error(
        "plugin {} is broken: its table is {size} bytes, smaller than the {min} bytes of ABI 1.0; rebuild it against keyhelm-core",
        path.display()
    )]
    TableTooSmall {
        /// The path.
        path: PathBuf,
        /// The size it reports.
        size: usize,
        /// The minimum.
        min: usize,
    },

    /// The table lacks a required function.
    #[error("plugin {} is broken: its table has no `{function}` function", path.display())]
    MissingFunction {
        /// The path.
        path: PathBuf,
        /// The function.
        function: &'static str,
    },

    /// The table's name or version is unreadable.
    #[error("plugin {} is broken: its {field} {reason}", path.display())]
    BadTableString {
        /// The path.
        path: PathBuf,
        /// `name` or `version`.
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },

    /// The plugin's name is not the one the file name or config promised.
    #[error(
        "plugin {} calls itself `{found}`, but `{expected}` was expected; rename the file to match, or fix the config",
        path.display()
    )]
    NameMismatch {
        /// The path.
        path: PathBuf,
        /// The expected name.
        expected: String,
        /// The name in the table.
        found: String,
    },

    /// A plugin of the same name was already loaded from another file in this process.
    #[error(
        "plugin `{name}` is already loaded from {}, and a second copy at {} was requested; remove one of them",
        loaded.display(),
        requested.display()
    )]
    AlreadyLoaded {
        /// The provider name.
        name: String,
        /// The file loaded first.
        loaded: PathBuf,
        /// The file requested now.
        requested: PathBuf,
    },
}

fn display_dirs(dirs: &[PathBuf]) -> String {
    if dirs.is_empty() {
        return "no folder (the search list is empty)".to_owned();
    }
    dirs.iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A plugin operation, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Op {
    /// `describe`.
    Describe,
    /// `get`.
    Get,
    /// `logout`.
    Logout,
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Op::Describe => "describe",
            Op::Get => "get",
            Op::Logout => "logout",
        })
    }
}

/// Why a call into a loaded plugin failed.
///
/// [`CallError::Plugin`] is the provider's own answer ("the peer said no"), with a kind the
/// caller can act on; every other variant means the plugin misbehaved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The provider reported an error.
    #[error("{plugin}: {error}")]
    Plugin {
        /// The provider name.
        plugin: String,
        /// Its error (kind, message, hint).
        error: ErrorMessage,
    },

    /// The plugin panicked; the SDK contained it.
    #[error(
        "plugin `{plugin}` crashed during {op}: {message}; this is a bug in the plugin, report it to its author"
    )]
    Panicked {
        /// The provider name.
        plugin: String,
        /// The operation.
        op: Op,
        /// What it said.
        message: String,
    },

    /// The plugin could not read the host's request.
    #[error(
        "plugin `{plugin}` could not read keyhelm's {op} request: {message}; the plugin and keyhelm may be too far apart in version, update both"
    )]
    BadRequest {
        /// The provider name.
        plugin: String,
        /// The operation.
        op: Op,
        /// What it said.
        message: String,
    },

    /// The plugin does not implement the operation.
    #[error("plugin `{plugin}` does not support {op}")]
    Unsupported {
        /// The provider name.
        plugin: String,
        /// The operation.
        op: Op,
    },

    /// The plugin's answer could not be read.
    #[error(
        "plugin `{plugin}` gave an answer to {op} that keyhelm cannot read: it {reason}; the plugin is broken or built for another keyhelm, update it"
    )]
    InvalidAnswer {
        /// The provider name.
        plugin: String,
        /// The operation.
        op: Op,
        /// What is wrong (never the content).
        reason: String,
    },

    /// The plugin's answer is larger than the host accepts.
    #[error(
        "plugin `{plugin}` gave an answer to {op} of {len} bytes, more than the {max} keyhelm accepts; the plugin is broken, report it to its author"
    )]
    AnswerTooLarge {
        /// The provider name.
        plugin: String,
        /// The operation.
        op: Op,
        /// The answer's length.
        len: usize,
        /// The cap.
        max: usize,
    },

    /// The plugin returned a status this host does not know.
    #[error(
        "plugin `{plugin}` returned the unknown status {status} from {op}; update keyhelm or the plugin"
    )]
    UnknownStatus {
        /// The provider name.
        plugin: String,
        /// The operation.
        op: Op,
        /// The raw status.
        status: i32,
    },

    /// keyhelm could not encode its own request (a bug).
    #[error("keyhelm could not encode the {op} request for plugin `{plugin}`: {reason}")]
    Encode {
        /// The provider name.
        plugin: String,
        /// The operation.
        op: Op,
        /// What failed.
        reason: String,
    },
}

impl CallError {
    /// The provider's typed error, when the provider (rather than the ABI) failed.
    pub fn plugin_error(&self) -> Option<&ErrorMessage> {
        match self {
            CallError::Plugin { error, .. } => Some(error),
            _ => None,
        }
    }
}
