//! Checks on a plugin file before anything in it runs.
//!
//! In order: the path is absolute; the file opens with `O_NOFOLLOW` (not a symlink); it is a
//! regular file; it is owned by the user or root and not writable by group or others; every
//! folder above it is owned by the user or root and not writable by group or others (a
//! folder with the sticky bit, like `/tmp`, is accepted: others cannot rename or replace
//! entries they do not own); and, when the config pins one, its sha256 (computed over the
//! same open file) matches. On Linux the loader then opens `/proc/self/fd/N`, so the inode
//! that passed these checks is the one loaded, whatever happens to the path meanwhile.

use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use sha2::{Digest, Sha256};

use super::LoadError;

/// A sha256 pin for a plugin file, written as 64 hex digits (optionally `sha256:` first).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sha256Pin(pub [u8; 32]);

impl FromStr for Sha256Pin {
    type Err = LoadError;

    fn from_str(s: &str) -> Result<Self, LoadError> {
        let hex_part = s.trim().strip_prefix("sha256:").unwrap_or(s.trim());
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut out)
            .map_err(|_| LoadError::InvalidPin { pin: s.to_owned() })?;
        Ok(Sha256Pin(out))
    }
}

impl fmt::Display for Sha256Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Sha256Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256Pin({self})")
    }
}

/// A plugin file that passed the checks, still open.
#[derive(Debug)]
pub struct VerifiedFile {
    pub(super) path: PathBuf,
    pub(super) file: File,
    pub(super) sha256: Option<Sha256Pin>,
}

impl VerifiedFile {
    /// The path as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The sha256 of the checked file (computed over the open file, now if not yet done).
    pub fn sha256(&mut self) -> io::Result<Sha256Pin> {
        if let Some(h) = self.sha256 {
            return Ok(h);
        }
        let h = hash_file(&self.file)?;
        self.sha256 = Some(h);
        Ok(h)
    }
}

fn hash_file(file: &File) -> io::Result<Sha256Pin> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut offset = 0u64;
    loop {
        let n = read_at(file, &mut buf, offset)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        offset += n as u64;
    }
    Ok(Sha256Pin(hasher.finalize().into()))
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

/// Computes the sha256 of a plugin file (for `keyhelm plugin trust`), after the same checks
/// as loading.
pub fn file_sha256(path: &Path) -> Result<Sha256Pin, LoadError> {
    let mut v = verify_file(path, None)?;
    v.sha256().map_err(|source| LoadError::Open {
        path: path.to_owned(),
        source,
    })
}

/// Runs every check on `path` (see the module docs), and the pin check when `pin` is given.
pub fn verify_file(path: &Path, pin: Option<&Sha256Pin>) -> Result<VerifiedFile, LoadError> {
    if !path.is_absolute() {
        return Err(LoadError::NotAbsolute {
            path: path.to_owned(),
        });
    }
    let file = open_no_follow(path)?;
    let meta = file.metadata().map_err(|source| LoadError::Open {
        path: path.to_owned(),
        source,
    })?;
    if !meta.is_file() {
        return Err(LoadError::NotRegularFile {
            path: path.to_owned(),
        });
    }
    #[cfg(unix)]
    unix::check_owner_and_mode(path, path, false, &meta)?;
    #[cfg(unix)]
    unix::check_folders(path)?;

    let mut verified = VerifiedFile {
        path: path.to_owned(),
        file,
        sha256: None,
    };
    if let Some(pin) = pin {
        let actual = verified.sha256().map_err(|source| LoadError::Open {
            path: path.to_owned(),
            source,
        })?;
        if actual != *pin {
            return Err(LoadError::PinMismatch {
                path: path.to_owned(),
                expected: pin.to_string(),
                actual: actual.to_string(),
            });
        }
    }
    Ok(verified)
}

#[cfg(unix)]
fn open_no_follow(path: &Path) -> Result<File, LoadError> {
    use std::os::unix::fs::OpenOptionsExt;
    // O_NONBLOCK: opening a FIFO planted at the path must not hang; it changes nothing for
    // a regular file.
    let r = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path);
    match r {
        Ok(f) => Ok(f),
        Err(e) => {
            // ELOOP on Linux and macOS; EMLINK on FreeBSD. Check the path itself too.
            let is_link = path
                .symlink_metadata()
                .map(|m| m.file_type().is_symlink())
                .unwrap_or(false);
            if is_link || e.raw_os_error() == Some(libc::ELOOP) {
                Err(LoadError::Symlink {
                    path: path.to_owned(),
                })
            } else {
                Err(LoadError::Open {
                    path: path.to_owned(),
                    source: e,
                })
            }
        }
    }
}

#[cfg(not(unix))]
fn open_no_follow(path: &Path) -> Result<File, LoadError> {
    if path
        .symlink_metadata()
        .map(|m| m.file_type().is_symlink())
        .unwrap_or(false)
    {
        return Err(LoadError::Symlink {
            path: path.to_owned(),
        });
    }
    File::open(path).map_err(|source| LoadError::Open {
        path: path.to_owned(),
        source,
    })
}

#[cfg(unix)]
mod unix {
    use std::fs::Metadata;
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;

    use super::LoadError;

    /// This process's effective user id.
    #[expect(unsafe_code, reason = "libc call")]
    pub(super) fn euid() -> u32 {
        // SAFETY: geteuid has no preconditions, touches no memory of ours and cannot fail
        // (POSIX: "shall always be successful").
        unsafe { libc::geteuid() }
    }

    pub(super) fn check_owner_and_mode(
        file: &Path,
        path: &Path,
        is_folder: bool,
        meta: &Metadata,
    ) -> Result<(), LoadError> {
        let me = euid();
        let owner = meta.uid();
        if owner != me && owner != 0 {
            return Err(LoadError::BadOwner {
                file: file.to_owned(),
                path: path.to_owned(),
                is_folder,
                owner,
                me,
            });
        }
        let mode = meta.mode() & 0o7777;
        let sticky = is_folder && mode & 0o1000 != 0;
        if mode & 0o022 != 0 && !sticky {
            return Err(LoadError::Writable {
                file: file.to_owned(),
                path: path.to_owned(),
                is_folder,
                mode,
            });
        }
        Ok(())
    }

    /// Checks every folder from the file's (resolved) parent up to `/`.
    pub(super) fn check_folders(file: &Path) -> Result<(), LoadError> {
        let parent = file.parent().unwrap_or(Path::new("/"));
        let parent = std::fs::canonicalize(parent).map_err(|source| LoadError::Open {
            path: parent.to_owned(),
            source,
        })?;
        for dir in parent.ancestors() {
            let meta = std::fs::metadata(dir).map_err(|source| LoadError::Open {
                path: dir.to_owned(),
                source,
            })?;
            check_owner_and_mode(file, dir, true, &meta)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_parse_with_or_without_prefix_and_reject_garbage() {
        let hex = "ab".repeat(32);
        let a: Sha256Pin = hex.parse().unwrap();
        let b: Sha256Pin = format!("sha256:{hex}").parse().unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), hex);
        let err = "sha256:xyz".parse::<Sha256Pin>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "the pin `sha256:xyz` is not a sha256 hash: expected 64 hex digits, optionally after `sha256:`"
        );
    }

    #[test]
    fn relative_paths_are_refused() {
        let err = verify_file(Path::new("plugins/libkeyhelm_x.so"), None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "refusing to load plugin plugins/libkeyhelm_x.so: the path is not absolute; give its full path"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_not_a_regular_file_and_does_not_hang() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("libkeyhelm_fifo.so");
        let st = std::process::Command::new("mkfifo")
            .arg(&p)
            .status()
            .unwrap();
        assert!(st.success());
        let err = verify_file(&p, None).unwrap_err();
        assert!(matches!(err, LoadError::NotRegularFile { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            format!(
                "refusing to load plugin {}: it is not a regular file",
                p.display()
            )
        );
    }

    #[cfg(unix)]
    #[test]
    fn hash_is_over_the_open_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let p = dir.path().join("libkeyhelm_h.so");
        std::fs::write(&p, b"abc").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut v = verify_file(&p, None).unwrap();
        assert_eq!(
            v.sha256().unwrap().to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(file_sha256(&p).unwrap(), v.sha256().unwrap());
    }
}
