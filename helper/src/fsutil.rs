//! Small file helpers for keyhelm's own (non-vault) files.

use std::io::Write;
use std::path::Path;

use crate::error::{Failure, Result};
use crate::paths::create_private_dir;

/// Replaces `path` with `bytes`: a 0600 temporary file in the same folder, fsync, rename,
/// fsync of the folder. The folder is created 0700 if missing.
pub fn write_private_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| Failure::other(format!("{} has no folder", path.display())))?;
    create_private_dir(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".keyhelm-")
        .tempfile_in(dir)
        .map_err(|e| Failure::io("cannot create a temporary file in", dir, &e))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| Failure::io("cannot write", tmp.path(), &e))?;
    tmp.persist(path)
        .map_err(|e| Failure::io("cannot replace", path, &e.error))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Failure::io("cannot sync folder", dir, &e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writes_private_files_in_private_folders() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("config.toml");
        write_private_atomic(&path, b"a").unwrap();
        write_private_atomic(&path, b"b").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"b");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
    }
}
