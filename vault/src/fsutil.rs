//! Small file-system helpers: private folders and files, folder fsync.

use std::fs::{File, OpenOptions};
use std::path::Path;

use crate::error::{Error, Result};

/// Creates `dir` and every missing parent with mode 0700. Existing folders are left alone.
pub(crate) fn create_private_dir_all(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| Error::io("cannot create the folder", dir, e))
}

/// Ends the name of every temporary file [`temp_file`] creates, so leftovers can be found.
pub(crate) const TEMP_SUFFIX: &str = ".tmp";

/// A new temporary file in `dir`, named `<prefix>XXXXXX.tmp`, for an atomic write (written,
/// then renamed into place). tempfile creates it 0600 on Unix.
pub(crate) fn temp_file(dir: &Path, prefix: &str) -> Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix(prefix)
        .suffix(TEMP_SUFFIX)
        .tempfile_in(dir)
        .map_err(|e| Error::io("cannot create a temporary file in", dir, e))
}

/// Options for a private (0600) file.
pub(crate) fn private_file_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

/// Flushes a folder's entries (a rename or a new file in it) to disk.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io("cannot flush the folder", dir, e))
    }
    #[cfg(not(unix))]
    {
        // Windows has no folder fsync; the rename is durable once MoveFileEx returns.
        let _ = dir;
        Ok(())
    }
}

/// The folder a file lives in (`.` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}
