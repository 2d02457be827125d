//! [`Vault`]: locking, decryption, atomic writes and backups.

use std::fs::File;
use std::io::{BufRead, ErrorKind, Read, Write as _};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::FORMAT_VERSION;
use crate::clock::{DeviceId, Utc, now_ms};
use crate::error::{Error, Result};
use crate::fsutil::{self, create_private_dir_all, parent_dir, sync_dir};
use crate::identity::{Identity, parse_recipient};
use crate::payload::{DecodeError, Ids, Payload, decode_with, encode};
use crate::snapshot::Snapshot;

/// How many backups of earlier vault files are kept in `<state_dir>/backups/`.
pub const BACKUPS_KEPT: usize = 5;

/// Where a vault lives on this device.
#[derive(Clone, Debug)]
pub struct Location {
    /// The vault file, e.g. `$KEYHELM_HOME/vault/vault.age`.
    pub file: PathBuf,
    /// Private per-device folder: `vault.lock` (sidecar lock), `backups/`, later `shadow.age`.
    pub state_dir: PathBuf,
}

impl Location {
    /// The sidecar lock file.
    pub fn lock_file(&self) -> PathBuf {
        self.state_dir.join("vault.lock")
    }

    /// The folder of backups.
    pub fn backup_dir(&self) -> PathBuf {
        self.state_dir.join("backups")
    }

    /// The backups, oldest first.
    pub fn backups(&self) -> Result<Vec<PathBuf>> {
        let dir = self.backup_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("cannot list", dir, e)),
        };
        let mut names: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .filter(|e| is_backup_name(&e.file_name().to_string_lossy()))
            .map(|e| e.path())
            .collect();
        names.sort();
        Ok(names)
    }
}

fn is_backup_name(name: &str) -> bool {
    name.starts_with("vault-") && name.ends_with(".age")
}

/// A handle on the vault of this device.
#[derive(Debug)]
pub struct Vault {
    location: Location,
    identity: Identity,
    device: DeviceId,
}

impl Vault {
    /// A handle on the vault at `location`, opened with `identity`; changes are stamped with
    /// `device`. Touches no file.
    pub fn new(location: Location, identity: Identity, device: DeviceId) -> Vault {
        Vault {
            location,
            identity,
            device,
        }
    }

    /// Where the vault and this device's state live.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// This device's identity.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// This device's id.
    pub fn device(&self) -> DeviceId {
        self.device
    }

    /// Whether the vault file exists (it may still be unreadable).
    pub fn exists(&self) -> bool {
        self.location.file.exists()
    }

    /// Creates an empty vault encrypted to this device's identity. Error if one exists.
    pub fn create(&self) -> Result<()> {
        let _lock = self.lock(true)?;
        let file = &self.location.file;
        if file.symlink_metadata().is_ok() {
            return Err(Error::AlreadyExists { path: file.clone() });
        }
        let mut snapshot = Snapshot::new_vault(self.device, self.identity.public())?;
        self.commit(&mut snapshot, None)
    }

    /// Reads and decrypts the vault under a shared lock. [`Error::Missing`] if there is none.
    pub fn read(&self) -> Result<Snapshot> {
        let lock = self.lock(false)?;
        let bytes = read_vault_bytes(&self.location.file)?;
        drop(lock);
        // Ids are verified whenever a payload is about to be written or merged; a read
        // (every git lookup) trusts them, which halves its cost.
        self.open_bytes(&bytes, &self.location.file, Ids::Trust)
    }

    /// Reads and decrypts another vault file (a conflict copy, a shadow copy, one side of a
    /// git merge) with this device's identity. No lock is taken.
    pub fn read_file(&self, path: &Path) -> Result<Snapshot> {
        let bytes = read_vault_bytes(path)?;
        self.open_bytes(&bytes, path, Ids::Verify)
    }

    /// Encrypts `snapshot` to its recipients and atomically replaces `path` with it (for a
    /// git merge driver's result, for example). No lock is taken and no backup is kept.
    pub fn write_file(&self, path: &Path, snapshot: &Snapshot) -> Result<()> {
        let ciphertext = self.encrypt(snapshot)?;
        replace_file(path, &ciphertext, None)
    }

    /// Read-modify-write under the exclusive lock. Creates the vault (encrypted to this
    /// device) when there is none. Writes only if `f` changed something, atomically, keeping
    /// backups. If `f` fails, nothing is written.
    ///
    /// A vault that exists but cannot be read (not a recipient, damaged, newer format) is
    /// returned as an error before `f` runs, and the file is left exactly as it was.
    pub fn update<T, E>(&self, f: impl FnOnce(&mut Snapshot) -> Result<T, E>) -> Result<T, E>
    where
        E: From<Error>,
    {
        let _lock = self.lock(true)?;
        let file = &self.location.file;
        remove_stale_temps(file);
        let (mut snapshot, previous) = match read_vault_bytes(file) {
            Ok(bytes) => (self.open_bytes(&bytes, file, Ids::Verify)?, Some(bytes)),
            Err(Error::Missing { .. }) => (
                Snapshot::new_vault(self.device, self.identity.public())?,
                None,
            ),
            Err(e) => return Err(e.into()),
        };
        let value = f(&mut snapshot)?;
        if snapshot.dirty {
            self.commit(&mut snapshot, previous.as_deref())?;
        }
        Ok(value)
    }

    /// Takes the sidecar lock. Released when the returned file is closed.
    fn lock(&self, exclusive: bool) -> Result<File> {
        lock_file(&self.location, exclusive)
    }

    /// Decrypts and decodes vault bytes read from `path`.
    fn open_bytes(&self, bytes: &[u8], path: &Path, ids: Ids) -> Result<Snapshot> {
        let reader = decrypt(bytes, &self.identity, path)?;
        let plain = read_plaintext(reader, bytes.len(), path)?;
        let payload = decode_plaintext(&plain, path, ids)?;
        Ok(Snapshot {
            payload,
            device: self.device,
            dirty: false,
            size_hint: plain.len(),
            fixed_now: None,
        })
    }

    /// Encodes and encrypts a snapshot to its recipients.
    fn encrypt(&self, snapshot: &Snapshot) -> Result<Vec<u8>> {
        let payload = &snapshot.payload;
        let publics = self.identity.publics();
        if !payload.recipients.iter().any(|r| publics.contains(r)) {
            return Err(Error::WouldLockOut {
                public: self.identity.public(),
            });
        }
        let recipients = payload
            .recipients
            .iter()
            .map(|r| parse_recipient(r))
            .collect::<Result<Vec<_>>>()?;
        let encryptor = age::Encryptor::with_recipients(
            recipients
                .iter()
                .map(|r| r.key.as_ref() as &dyn age::Recipient),
        )
        .map_err(|e| match e {
            age::EncryptError::MissingRecipients => Error::NoRecipients,
            other => Error::Encrypt {
                reason: other.to_string(),
            },
        })?;
        let plaintext = encode(payload, snapshot.size_hint);
        let mut out = Vec::with_capacity(
            plaintext.len() + plaintext.len() / 4096 + 512 * recipients.len() + 256,
        );
        let mut writer = encryptor.wrap_output(&mut out).map_err(encrypt_io)?;
        writer.write_all(&plaintext).map_err(encrypt_io)?;
        writer.finish().map_err(encrypt_io)?;
        Ok(out)
    }

    /// Stamps this device's write, encrypts, and replaces the vault file (keeping a backup of
    /// `previous`, the bytes of the file being replaced).
    fn commit(&self, snapshot: &mut Snapshot, previous: Option<&[u8]>) -> Result<()> {
        *snapshot.payload.vv.entry(self.device).or_insert(0) += 1;
        let ciphertext = self.encrypt(snapshot)?;
        let backup = previous.map(|bytes| (self.location.backup_dir(), bytes));
        replace_file(&self.location.file, &ciphertext, backup)?;
        snapshot.dirty = false;
        rotate_backups(&self.location);
        Ok(())
    }
}

/// Takes the sidecar lock of `location` (created 0600 in the state folder, 0700): shared for
/// reads, exclusive for read-modify-write. Released when the returned file is closed.
pub(crate) fn lock_file(location: &Location, exclusive: bool) -> Result<File> {
    create_private_dir_all(&location.state_dir)?;
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
    Ok(file)
}

fn corrupt(path: &Path, reason: &str) -> Error {
    Error::Corrupt {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Checks that `input` (read from `path`) is an age file this identity can open, and returns
/// the reader of its plaintext.
pub(crate) fn decrypt<R: BufRead>(
    mut input: R,
    identity: &Identity,
    path: &Path,
) -> Result<age::stream::StreamReader<R>> {
    let head = input
        .fill_buf()
        .map_err(|e| Error::io("cannot read", path, e))?;
    if head.is_empty() {
        return Err(corrupt(path, "the file is empty"));
    }
    if !head.starts_with(b"age-encryption.org/") {
        return Err(corrupt(path, "it is not an age-encrypted file"));
    }
    let decryptor = age::Decryptor::new_buffered(input).map_err(|e| match e {
        age::DecryptError::UnknownFormat => {
            corrupt(path, "it is an age file of an unknown version")
        }
        // age's header parser reads incrementally: a damaged header often looks like
        // one that was cut short, so one message covers both.
        _ => corrupt(path, "its age header is damaged or cut short"),
    })?;
    if decryptor.is_scrypt() {
        return Err(corrupt(
            path,
            "it is encrypted with a passphrase, and a keyhelm vault is encrypted to keys",
        ));
    }
    decryptor
        .decrypt(identity.for_decryption().into_iter())
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => Error::NotARecipient {
                path: path.to_path_buf(),
            },
            age::DecryptError::InvalidMac => {
                corrupt(path, "its age header has been tampered with or is damaged")
            }
            // Only an identity held elsewhere (the keyhelm agent) reports I/O here.
            age::DecryptError::Io(e) => Error::io("cannot unwrap the file key of", path, e),
            _ => corrupt(path, "its file key cannot be decrypted"),
        })
}

/// An error while reading the plaintext: age reports damage and truncation as `InvalidData`
/// and `UnexpectedEof`; anything else comes from the file.
pub(crate) fn plaintext_error(path: &Path, e: std::io::Error) -> Error {
    match e.kind() {
        ErrorKind::InvalidData | ErrorKind::UnexpectedEof => {
            corrupt(path, "the encrypted content is truncated or damaged")
        }
        _ => Error::io("cannot read", path, e),
    }
}

/// Reads the rest of the plaintext. `capacity` is at least its length (the ciphertext's length
/// will do): a buffer that never reallocates leaves no copies of the plaintext behind.
pub(crate) fn read_plaintext(
    mut reader: impl Read,
    capacity: usize,
    path: &Path,
) -> Result<Zeroizing<Vec<u8>>> {
    let mut plain = Zeroizing::new(vec![0u8; capacity]);
    let mut filled = 0;
    loop {
        if filled == plain.len() {
            return Err(corrupt(path, "the payload is larger than the file"));
        }
        match reader.read(&mut plain[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(plaintext_error(path, e)),
        }
    }
    plain.truncate(filled);
    Ok(plain)
}

/// Decodes a decrypted payload read from `path`.
pub(crate) fn decode_plaintext(plain: &[u8], path: &Path, ids: Ids) -> Result<Payload> {
    decode_with(plain, ids).map_err(|e| match e {
        DecodeError::UnsupportedFormat(found) => Error::UnsupportedFormat {
            path: path.to_path_buf(),
            found,
            supported: FORMAT_VERSION,
        },
        DecodeError::Invalid(reason) => Error::Corrupt {
            path: path.to_path_buf(),
            reason,
        },
    })
}

fn encrypt_io(e: std::io::Error) -> Error {
    Error::Encrypt {
        reason: e.to_string(),
    }
}

/// Reads a whole vault file; [`Error::Missing`] if there is none.
fn read_vault_bytes(path: &Path) -> Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == ErrorKind::NotFound => Err(Error::Missing {
            path: path.to_path_buf(),
        }),
        Err(e) => Err(Error::io("cannot read", path, e)),
    }
}

/// The prefix of this file's temporary files in its folder.
fn temp_prefix(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(".{name}.")
}

const TEMP_SUFFIX: &str = ".tmp";

/// Removes temporary files a killed writer left behind. Only called under the exclusive
/// lock, when no other writer can be mid-write. Best effort.
fn remove_stale_temps(path: &Path) {
    let prefix = temp_prefix(path);
    let dir = parent_dir(path);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&prefix) && name.ends_with(TEMP_SUFFIX) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Atomically replaces `path` with `data`: temporary file in the same folder (tempfile
/// creates it 0600 on Unix), write,
/// fsync, optional backup of the previous bytes, rename, fsync the folder. A crash at any
/// point leaves either the old or the new file.
fn replace_file(path: &Path, data: &[u8], backup: Option<(PathBuf, &[u8])>) -> Result<()> {
    let dir = parent_dir(path);
    create_private_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(&temp_prefix(path))
        .suffix(TEMP_SUFFIX)
        .tempfile_in(dir)
        .map_err(|e| Error::io("cannot create a temporary file in", dir, e))?;
    tmp.write_all(data)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| Error::io("cannot write", tmp.path(), e))?;
    if let Some((backup_dir, previous)) = backup {
        write_backup(&backup_dir, previous)?;
    }
    tmp.persist(path)
        .map_err(|e| Error::io("cannot replace", path, e.error))?;
    sync_dir(dir)
}

/// Writes a backup (0600) named after the current UTC time, atomically.
fn write_backup(dir: &Path, bytes: &[u8]) -> Result<()> {
    create_private_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".backup.")
        .suffix(TEMP_SUFFIX)
        .tempfile_in(dir)
        .map_err(|e| Error::io("cannot create a temporary file in", dir, e))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| Error::io("cannot write", tmp.path(), e))?;
    let stamp = Utc::from_unix_ms(now_ms()).compact_millis();
    for seq in 0..10_000u32 {
        let target = dir.join(format!("vault-{stamp}-{seq:04}.age"));
        match tmp.persist_noclobber(&target) {
            Ok(_) => return sync_dir(dir),
            Err(e) if e.error.kind() == ErrorKind::AlreadyExists => tmp = e.file,
            Err(e) => return Err(Error::io("cannot create", target, e.error)),
        }
    }
    Err(Error::io(
        "cannot create a backup in",
        dir,
        std::io::Error::new(
            ErrorKind::AlreadyExists,
            "too many backups in one millisecond",
        ),
    ))
}

/// Keeps the [`BACKUPS_KEPT`] newest backups and removes leftovers of killed writers. Best
/// effort: the vault is already written, and a failure here loses nothing.
fn rotate_backups(location: &Location) {
    let dir = location.backup_dir();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.filter_map(|e| e.ok()) {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(".backup.") && name.ends_with(TEMP_SUFFIX) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    if let Ok(backups) = location.backups() {
        let excess = backups.len().saturating_sub(BACKUPS_KEPT);
        for old in &backups[..excess] {
            let _ = std::fs::remove_file(old);
        }
    }
}
