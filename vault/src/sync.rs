//! Keeping this device's copy of a shared vault whole and genuine.
//!
//! A vault shared through git or a synced folder can lose an update (a sync tool keeps the
//! other side's file), grow conflict copies (`vault.sync-conflict-*.age`,
//! `vault (... conflicted copy ...).age`), or be replaced by someone who is not a member (age
//! does not authenticate the writer: anyone who knows the recipients' public keys can write a
//! well-formed vault). Three pieces of per-device state, kept in the state folder and never
//! synced, handle this:
//!
//! - the **shadow copy** (`shadow.age`): the vault as this device last wrote or accepted it.
//!   Merged into the vault file whenever that file changed, so an update a sync tool lost is
//!   written back.
//! - the **trust file** (`vault-trust`): the vault's id and the fingerprints of its secrets as
//!   of the last version this device accepted. A vault file is accepted when it carries the
//!   current one among its secrets (the same vault, or a later version by a member who saw
//!   this one); superseded by the shadow copy when its current secret is one this device saw
//!   replaced (written by a device that had not yet seen a change of recipients; its own
//!   shadow copy brings its updates back once it catches up); refused otherwise. Pinned on
//!   first use.
//! - the **memo**, inside the sidecar lock file: the (device, inode, size, modification and
//!   change times) of the vault file and of its folder as of this device's last write or
//!   check, and the conflict copies it could not use. While both are unchanged there is
//!   nothing to check: a lookup pays two `stat`s and the read of a few bytes from a file it
//!   opens anyway. When the folder changed, it lists it for conflict copies; when the vault
//!   file changed, the whole check runs once, under the exclusive lock.

use std::ffi::{OsStr, OsString};
use std::fs::{File, Metadata};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fsutil;
use crate::snapshot::Snapshot;
use crate::store::Location;

/// The shadow copy's file name in the state folder.
pub(crate) const SHADOW_FILE: &str = "shadow.age";
/// The trust file's name in the state folder.
pub(crate) const TRUST_FILE: &str = "vault-trust";

/// One version of a file, cheaply: where it is (device, inode), its size, and its
/// modification and change times. A write in place changes the times; a replacement by rename
/// changes the inode; `touch` and `chmod` change the change time (a spurious check, no harm).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct FileStamp([i64; 8]);

impl FileStamp {
    pub(crate) fn of(meta: &Metadata) -> FileStamp {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            // Device and inode numbers fit in i64 bit for bit; only equality matters.
            FileStamp([
                meta.dev() as i64,
                meta.ino() as i64,
                meta.size() as i64,
                meta.mtime(),
                meta.mtime_nsec(),
                meta.ctime(),
                meta.ctime_nsec(),
                i64::from(meta.is_dir()),
            ])
        }
        #[cfg(not(unix))]
        {
            let nanos = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos() as i64);
            FileStamp([
                0,
                0,
                meta.len() as i64,
                nanos,
                0,
                0,
                0,
                i64::from(meta.is_dir()),
            ])
        }
    }

    /// Whether both stamps are of the same file (device and inode).
    pub(crate) fn same_file(&self, other: &FileStamp) -> bool {
        self.0[..2] == other.0[..2]
    }

    fn stat(path: &Path) -> Option<FileStamp> {
        std::fs::metadata(path).ok().map(|m| FileStamp::of(&m))
    }

    fn write(&self, out: &mut String) {
        for n in self.0 {
            out.push(' ');
            out.push_str(&n.to_string());
        }
    }

    fn parse<'a>(words: &mut impl Iterator<Item = &'a str>) -> Option<FileStamp> {
        let mut stamp = [0i64; 8];
        for n in &mut stamp {
            *n = words.next()?.parse().ok()?;
        }
        Some(FileStamp(stamp))
    }
}

/// What this device last checked (see the module documentation). Stored in the sidecar lock
/// file, which every reader opens anyway; written only under the exclusive lock. Anything
/// unreadable is an empty memo: the next open checks everything again.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Memo {
    /// The vault file as this device last wrote or checked it.
    pub vault: Option<FileStamp>,
    /// The vault's folder at that moment (a new conflict copy changes it).
    pub dir: Option<FileStamp>,
    /// Conflict copies that were left in place (unreadable, not trusted), by file name.
    pub ignored: Vec<(OsString, FileStamp)>,
}

const MEMO_MAGIC: &str = "keyhelm-seen 1";
/// A memo longer than this is not one (it lists a handful of ignored copies at most).
const MEMO_MAX: usize = 64 * 1024;

impl Memo {
    fn encode(&self) -> String {
        let mut out = String::from(MEMO_MAGIC);
        out.push('\n');
        if let Some(stamp) = &self.vault {
            out.push_str("vault");
            stamp.write(&mut out);
            out.push('\n');
        }
        if let Some(stamp) = &self.dir {
            out.push_str("dir");
            stamp.write(&mut out);
            out.push('\n');
        }
        for (name, stamp) in &self.ignored {
            out.push_str("ignore");
            stamp.write(&mut out);
            out.push(' ');
            out.push_str(&hex::encode(name.as_encoded_bytes()));
            out.push('\n');
        }
        out
    }

    fn decode(text: &str) -> Option<Memo> {
        let mut lines = text.lines();
        if lines.next()? != MEMO_MAGIC {
            return None;
        }
        let mut memo = Memo::default();
        for line in lines {
            let mut words = line.split(' ');
            match words.next()? {
                "vault" => memo.vault = Some(FileStamp::parse(&mut words)?),
                "dir" => memo.dir = Some(FileStamp::parse(&mut words)?),
                "ignore" => {
                    let stamp = FileStamp::parse(&mut words)?;
                    let name = hex::decode(words.next()?).ok()?;
                    let name = String::from_utf8(name).ok()?;
                    memo.ignored.push((OsString::from(name), stamp));
                }
                _ => return None,
            }
        }
        Some(memo)
    }

    /// Whether `name` with this stamp is a copy that was left in place.
    fn is_ignored(&self, name: &OsStr, stamp: Option<FileStamp>) -> bool {
        self.ignored
            .iter()
            .any(|(n, s)| n == name && Some(*s) == stamp)
    }
}

/// The sidecar lock (see [`crate::store`]), which also holds the [`Memo`].
pub(crate) struct Lock {
    file: File,
    exclusive: bool,
}

impl Lock {
    /// Takes the lock of `location` (created 0600 in the state folder, 0700): shared for
    /// reads, exclusive for read-modify-write. Released when dropped.
    pub(crate) fn take(location: &Location, exclusive: bool) -> Result<Lock> {
        fsutil::create_private_dir_all(&location.state_dir)?;
        let path = location.lock_file();
        let file = fsutil::private_file_options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io("cannot open the lock file", &path, e))?;
        let locked = if exclusive {
            file.lock()
        } else {
            file.lock_shared()
        };
        locked.map_err(|e| Error::io("cannot lock", &path, e))?;
        Ok(Lock { file, exclusive })
    }

    pub(crate) fn is_exclusive(&self) -> bool {
        self.exclusive
    }

    /// The memo; empty when there is none or it is damaged.
    pub(crate) fn memo(&self) -> Memo {
        let mut buf = Vec::with_capacity(512);
        let mut file = &self.file;
        let read = file
            .seek(SeekFrom::Start(0))
            .and_then(|_| file.take(MEMO_MAX as u64 + 1).read_to_end(&mut buf));
        if read.is_err() || buf.len() > MEMO_MAX {
            return Memo::default();
        }
        std::str::from_utf8(&buf)
            .ok()
            .and_then(Memo::decode)
            .unwrap_or_default()
    }

    /// Replaces the memo (only under the exclusive lock). Best effort: a memo that could not be
    /// written costs the next open a check, nothing else.
    pub(crate) fn set_memo(&self, memo: &Memo) {
        debug_assert!(self.exclusive);
        let text = memo.encode();
        let mut file = &self.file;
        let _ = file
            .set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(text.as_bytes()));
    }
}

/// Whether the vault file opened with stamp `file` is the one this device last wrote or checked,
/// and no new conflict copy appeared next to it: then nothing needs checking. Costs a `stat`
/// of the folder, and a listing of it only when the folder changed.
pub(crate) fn is_fresh(memo: &Memo, location: &Location, file: FileStamp) -> bool {
    if memo.vault != Some(file) {
        return false;
    }
    let dir = fsutil::parent_dir(&location.file);
    if memo.dir.is_some() && memo.dir == FileStamp::stat(dir) {
        return true;
    }
    // The folder changed (a temporary file came and went, a sync tool wrote something): only
    // a conflict copy that was not seen before needs a check.
    conflict_copies(&location.file)
        .into_iter()
        .all(|(path, name)| memo.is_ignored(&name, FileStamp::stat(&path)))
}

/// Whether `name` is a conflict copy of a vault file named `file_name`: Syncthing's
/// `<stem>.sync-conflict-<date>-<time>-<device><ext>` or Dropbox's and Nextcloud's
/// `<stem> (<...>conflicted copy<...>)<ext>`, where the vault file is `<stem><ext>`
/// (`vault.age`: stem `vault`, extension `.age`).
pub(crate) fn is_conflict_copy(name: &str, file_name: &str) -> bool {
    let (stem, ext) = match file_name.rfind('.') {
        Some(dot) if dot > 0 => file_name.split_at(dot),
        _ => (file_name, ""),
    };
    let Some(middle) = name
        .strip_prefix(stem)
        .and_then(|rest| rest.strip_suffix(ext))
    else {
        return false;
    };
    if middle.starts_with(".sync-conflict-") {
        return true;
    }
    middle.starts_with(" (") && middle.ends_with(')') && middle.contains("conflicted copy")
}

/// The conflict copies next to the vault file `file`, sorted by name (path and file name).
pub(crate) fn conflict_copies(file: &Path) -> Vec<(PathBuf, OsString)> {
    let Some(file_name) = file.file_name().and_then(OsStr::to_str) else {
        return Vec::new();
    };
    let dir = fsutil::parent_dir(file);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut copies: Vec<(PathBuf, OsString)> = entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|name| is_conflict_copy(name, file_name))
        })
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| (e.path(), e.file_name()))
        .collect();
    copies.sort();
    copies
}

/// The stamps of the vault file and its folder, for a memo.
pub(crate) fn stamps(file: &Path) -> (Option<FileStamp>, Option<FileStamp>) {
    (
        FileStamp::stat(file),
        FileStamp::stat(fsutil::parent_dir(file)),
    )
}

/// The stamp of a file, for the ignore list.
pub(crate) fn stamp_of(path: &Path) -> Option<FileStamp> {
    FileStamp::stat(path)
}

/// What this device trusts (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Trust {
    /// The vault's id, 32 hex characters.
    pub vault_id: String,
    /// The fingerprint of the current secret of the last version this device accepted.
    pub current: String,
    /// The fingerprints of every secret that version kept (the current one included).
    pub known: Vec<String>,
    /// Fingerprints the user declared trusted (`keyhelm vault trust`): a vault that carries
    /// one of them is accepted as well.
    pub also: Vec<String>,
}

const TRUST_MAGIC: &str = "keyhelm-vault-trust 1";

impl Trust {
    /// What a device that accepted `snapshot` trusts (keeping the `also` fingerprints the
    /// snapshot does not carry yet).
    pub(crate) fn of(snapshot: &Snapshot, previous: Option<&Trust>) -> Trust {
        let known = snapshot.vault_secret_fingerprints();
        let also = previous
            .map(|t| {
                t.also
                    .iter()
                    .filter(|fp| !known.contains(fp))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        Trust {
            vault_id: snapshot.vault_id(),
            current: known[0].clone(),
            known,
            also,
        }
    }

    fn encode(&self) -> String {
        let mut out = format!(
            "{TRUST_MAGIC}\nvault {}\ncurrent {}\nknown",
            self.vault_id, self.current
        );
        for fp in &self.known {
            out.push(' ');
            out.push_str(fp);
        }
        out.push_str("\nalso");
        for fp in &self.also {
            out.push(' ');
            out.push_str(fp);
        }
        out.push('\n');
        out
    }

    fn decode(text: &str) -> Option<Trust> {
        let mut lines = text.lines();
        if lines.next()? != TRUST_MAGIC {
            return None;
        }
        let mut next = |name: &str, len: usize| -> Option<Vec<String>> {
            let rest = lines.next()?.strip_prefix(name)?;
            if !rest.is_empty() && !rest.starts_with(' ') {
                return None;
            }
            let words: Vec<String> = rest.split_whitespace().map(str::to_owned).collect();
            words.iter().all(|w| is_hex(w, len)).then_some(words)
        };
        let single = |mut words: Vec<String>| (words.len() == 1).then(|| words.remove(0));
        let vault_id = single(next("vault", 32)?)?;
        let current = single(next("current", 64)?)?;
        let known = next("known", 64)?;
        let also = next("also", 64)?;
        known.contains(&current).then_some(Trust {
            vault_id,
            current,
            known,
            also,
        })
    }

    /// Reads the trust file of `state_dir`: `None` if there is none (trust on first use). A
    /// damaged file is an error: silently trusting anything would defeat it.
    pub(crate) fn load(state_dir: &Path) -> Result<Option<Trust>> {
        let path = state_dir.join(TRUST_FILE);
        let text = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("cannot read", path, e)),
        };
        std::str::from_utf8(&text)
            .ok()
            .and_then(Trust::decode)
            .map(Some)
            .ok_or(Error::DamagedTrust { path })
    }

    /// Writes the trust file of `state_dir` atomically (0600, fsynced).
    pub(crate) fn save(&self, state_dir: &Path) -> Result<()> {
        write_private(&state_dir.join(TRUST_FILE), self.encode().as_bytes(), true)
    }

    /// Removes the trust file of `state_dir` (the next vault is trusted on first use).
    pub(crate) fn forget(state_dir: &Path) -> Result<()> {
        remove_if_exists(&state_dir.join(TRUST_FILE))
    }
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// How another copy of the vault relates to what this device trusts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// It carries the secret this device trusts (or this device trusts nothing yet): merge it.
    Trusted,
    /// Its current secret is one this device saw replaced: it was written by a device that had
    /// not yet seen a change of recipients (or by a removed one). Keep this device's version.
    Behind,
    /// It carries no secret this device knows: not written by a member.
    Untrusted,
    /// It is another vault altogether.
    OtherVault,
}

pub(crate) fn classify(trust: Option<&Trust>, other: &Snapshot) -> Verdict {
    let Some(trust) = trust else {
        return Verdict::Trusted;
    };
    let carried = other.vault_secret_fingerprints();
    if carried.contains(&trust.current) || trust.also.iter().any(|fp| carried.contains(fp)) {
        return Verdict::Trusted;
    }
    if other.vault_id() != trust.vault_id {
        return Verdict::OtherVault;
    }
    if trust.known.contains(&carried[0]) {
        return Verdict::Behind;
    }
    Verdict::Untrusted
}

/// The error for a copy at `path` that was not accepted.
pub(crate) fn refusal(verdict: Verdict, trust: &Trust, other: &Snapshot, path: &Path) -> Error {
    let path = path.to_path_buf();
    match verdict {
        Verdict::OtherVault => Error::OtherVault {
            path,
            trusted: trust.vault_id.clone(),
            found: other.vault_id(),
        },
        Verdict::Behind => Error::BehindRecipients { path },
        Verdict::Trusted | Verdict::Untrusted => Error::NotAMember { path },
    }
}

/// What bringing the vault file up to date found and did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Report {
    /// This device's shadow copy held updates the vault file did not have (a sync tool lost
    /// them); they were written back.
    pub restored: bool,
    /// The vault file was written by a device that had not yet seen the latest change of
    /// recipients (or by a removed one); it was replaced by this device's version. That
    /// device's updates come back when it catches up (from its own shadow copy).
    pub superseded: bool,
    /// Conflict copies that were merged into the vault (or held nothing new) and removed.
    pub merged: Vec<PathBuf>,
    /// Conflict copies left in place, and why.
    pub ignored: Vec<(PathBuf, Error)>,
    /// Whether the vault file was written.
    pub written: bool,
}

impl Report {
    /// Whether anything at all was found or done.
    pub fn is_empty(&self) -> bool {
        !self.restored
            && !self.superseded
            && self.merged.is_empty()
            && self.ignored.is_empty()
            && !self.written
    }
}

/// Writes a private (0600) file atomically: a temporary file in the same folder, optionally
/// fsynced, renamed over `path`.
pub(crate) fn write_private(path: &Path, bytes: &[u8], durable: bool) -> Result<()> {
    let dir = fsutil::parent_dir(path);
    fsutil::create_private_dir_all(dir)?;
    let mut tmp = fsutil::temp_file(dir, ".keyhelm-")?;
    tmp.write_all(bytes)
        .and_then(|()| {
            if durable {
                tmp.as_file().sync_all()
            } else {
                Ok(())
            }
        })
        .map_err(|e| Error::io("cannot write", tmp.path(), e))?;
    tmp.persist(path)
        .map_err(|e| Error::io("cannot replace", path, e.error))?;
    if durable {
        fsutil::sync_dir(dir)?;
    }
    Ok(())
}

pub(crate) fn remove_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("cannot remove", path, e)),
    }
}

/// Test hook: records the vault file as it is now as checked, so that the next open takes the
/// fast path (for tests that write vault files by hand).
#[cfg(test)]
pub(crate) fn mark_seen(location: &Location) {
    let lock = Lock::take(location, true).unwrap();
    let (vault, dir) = stamps(&location.file);
    lock.set_memo(&Memo {
        vault,
        dir,
        ignored: Vec::new(),
    });
}

#[cfg(test)]
mod tests;
