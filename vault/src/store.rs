//! [`Vault`]: locking, decryption, atomic writes and backups, and keeping this device's copy
//! whole and genuine (shadow copy, conflict copies, trust: see [`crate::sync`]).

use std::ffi::OsString;
use std::fs::File;
use std::io::{BufRead, ErrorKind, Read, Write as _};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::FORMAT_VERSION;
use crate::clock::{DeviceId, Utc, now_ms};
use crate::error::{Error, Result};
use crate::fsutil::{TEMP_SUFFIX, create_private_dir_all, parent_dir, sync_dir, temp_file};
use crate::identity::{Identity, parse_recipient};
use crate::payload::{DecodeError, Ids, Payload, decode_with, encode};
use crate::snapshot::Snapshot;
use crate::sync::{
    self, FileStamp, Lock, Memo, Report, SHADOW_FILE, TRUST_FILE, Trust, Verdict, classify,
};

/// How many backups of earlier vault files are kept in `<state_dir>/backups/`.
pub const BACKUPS_KEPT: usize = 5;

/// Where a vault lives on this device.
#[derive(Clone, Debug)]
pub struct Location {
    /// The vault file, e.g. `$KEYHELM_HOME/vault/vault.age`.
    pub file: PathBuf,
    /// Private per-device folder: `vault.lock` (sidecar lock), `backups/`, `shadow.age`,
    /// `vault-trust`.
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

    /// This device's shadow copy: the vault as this device last wrote or accepted it.
    pub fn shadow_file(&self) -> PathBuf {
        self.state_dir.join(SHADOW_FILE)
    }

    /// The vault id and secret fingerprints this device trusts.
    pub fn trust_file(&self) -> PathBuf {
        self.state_dir.join(TRUST_FILE)
    }

    /// The conflict copies next to the vault file (`vault.sync-conflict-*.age`,
    /// `vault (... conflicted copy ...).age`), sorted by name.
    pub fn conflict_copies(&self) -> Vec<PathBuf> {
        sync::conflict_copies(&self.file)
            .into_iter()
            .map(|(path, _)| path)
            .collect()
    }

    /// Forgets what this device trusts and its shadow copy: the next vault opened here is
    /// trusted on first use (joining another vault).
    pub fn forget_trust(&self) -> Result<()> {
        let lock = Lock::take(self, true)?;
        Trust::forget(&self.state_dir)?;
        sync::remove_if_exists(&self.shadow_file())?;
        lock.set_memo(&Memo::default());
        Ok(())
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

/// Runs after every write of the vault file through a [`Vault`] (see [`Vault::on_write`]).
type WriteHook = Box<dyn Fn() + Send + Sync>;

/// What to do with another copy of the vault (a git merge's other side): see
/// [`Vault::admit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Admission {
    /// It carries the vault secret this device trusts: merge it.
    Merge,
    /// Its current secret is one this device saw replaced when a recipient was removed: it
    /// was written by a device that had not yet seen that change (or by the removed device).
    /// Keep this device's version; the writer's own updates come back when it catches up.
    KeepOurs,
}

/// A handle on the vault of this device.
pub struct Vault {
    location: Location,
    identity: Identity,
    device: DeviceId,
    on_write: Option<WriteHook>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("location", &self.location)
            .field("identity", &self.identity)
            .field("device", &self.device)
            .field("on_write", &self.on_write.is_some())
            .finish()
    }
}

impl Vault {
    /// A handle on the vault at `location`, opened with `identity`; changes are stamped with
    /// `device`. Touches no file.
    pub fn new(location: Location, identity: Identity, device: DeviceId) -> Vault {
        Vault {
            location,
            identity,
            device,
            on_write: None,
        }
    }

    /// Runs `hook` after every successful write of the vault file through this handle (for
    /// example to start a background sync). The hook runs with the exclusive lock held: it
    /// should only start something, not wait for it.
    pub fn on_write(&mut self, hook: impl Fn() + Send + Sync + 'static) {
        self.on_write = Some(Box::new(hook));
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

    fn worker(&self) -> Worker<'_> {
        Worker {
            location: &self.location,
            identity: &self.identity,
            device: self.device,
            on_write: self.on_write.as_ref(),
        }
    }

    /// Creates an empty vault encrypted to this device's identity, and trusts it. Error if one
    /// exists.
    pub fn create(&self) -> Result<()> {
        let lock = Lock::take(&self.location, true)?;
        let file = &self.location.file;
        if file.symlink_metadata().is_ok() {
            return Err(Error::AlreadyExists { path: file.clone() });
        }
        let snapshot = Snapshot::new_vault(self.device, self.identity.public())?;
        let mut loaded = Loaded::new(snapshot);
        // A new vault: whatever this device trusted before is replaced.
        loaded.checked = true;
        self.worker().finish(&lock, &mut loaded)
    }

    /// Reads and decrypts the vault. [`Error::Missing`] if there is none.
    ///
    /// When the vault file is the one this device last wrote or checked (and no conflict copy
    /// appeared), this takes the shared lock and decrypts. Otherwise it first brings the file
    /// up to date under the exclusive lock: refuses it if it was not written by a member,
    /// merges this device's shadow copy and the conflict copies into it, and writes the result
    /// if anything was missing (see [`crate::sync`]).
    pub fn read(&self) -> Result<Snapshot> {
        {
            let lock = Lock::take(&self.location, false)?;
            let (bytes, stamp) = read_vault_file(&self.location.file)?;
            if sync::is_fresh(&lock.memo(), &self.location, stamp) {
                drop(lock);
                // Ids are verified whenever a payload is about to be written or merged; a
                // read (every git lookup) trusts them, which halves its cost.
                return self
                    .worker()
                    .open_bytes(&bytes, &self.location.file, Ids::Trust);
            }
        }
        let lock = Lock::take(&self.location, true)?;
        let worker = self.worker();
        let mut loaded = worker.load(&lock, Mode::Read)?;
        worker.finish(&lock, &mut loaded)?;
        Ok(loaded.snapshot)
    }

    /// Brings the vault file up to date now, whatever this device remembers: checks that it
    /// was written by a member, merges this device's shadow copy and every conflict copy into
    /// it, writes it if anything was missing, and removes the conflict copies it merged.
    /// [`Error::Missing`] if there is no vault.
    pub fn sync_local(&self) -> Result<Report> {
        let lock = Lock::take(&self.location, true)?;
        remove_stale_temps(&self.location.file);
        let worker = self.worker();
        let mut loaded = worker.load(&lock, Mode::Force)?;
        worker.finish(&lock, &mut loaded)?;
        Ok(loaded.report)
    }

    /// Reads and decrypts another vault file (a conflict copy, a shadow copy, one side of a
    /// git merge) with this device's identity. No lock is taken and nothing is checked
    /// against what this device trusts (see [`Vault::admit`]).
    pub fn read_file(&self, path: &Path) -> Result<Snapshot> {
        self.worker().read_file(path)
    }

    /// Decrypts vault bytes that are not in a file of their own (`git show`); `origin` names
    /// them in errors. Nothing is checked against what this device trusts (see
    /// [`Vault::admit`]).
    pub fn open_bytes(&self, bytes: &[u8], origin: &Path) -> Result<Snapshot> {
        self.worker().open_bytes(bytes, origin, Ids::Verify)
    }

    /// Encrypts `snapshot` to its recipients and atomically replaces `path` with it (for a
    /// git merge driver's result, for example). No lock is taken and no backup is kept.
    pub fn write_file(&self, path: &Path, snapshot: &Snapshot) -> Result<()> {
        let ciphertext = self.worker().encrypt(snapshot)?;
        replace_file(path, &ciphertext, None).map(|_| ())
    }

    /// Whether another copy of the vault, read from `path`, may be merged into this device's:
    /// [`Admission::Merge`] if it carries the vault secret this device trusts (or this device
    /// trusts none yet), [`Admission::KeepOurs`] if it was written before a recipient change
    /// this device has seen; otherwise an error ([`Error::NotAMember`], [`Error::OtherVault`]).
    pub fn admit(&self, other: &Snapshot, path: &Path) -> Result<Admission> {
        let trust = Trust::load(&self.location.state_dir)?;
        match classify(trust.as_ref(), other) {
            Verdict::Trusted => Ok(Admission::Merge),
            Verdict::Behind => Ok(Admission::KeepOurs),
            verdict => Err(sync::refusal(
                verdict,
                trust.as_ref().expect("only a trust refuses"),
                other,
                path,
            )),
        }
    }

    /// Declares a vault secret fingerprint trusted (one that another member's
    /// [`Snapshot::vault_secret_fingerprint`] shows): a vault that carries it is accepted,
    /// for example after two members removed recipients at the same time, or when this
    /// device should switch to another vault.
    pub fn trust_fingerprint(&self, fingerprint: &str) -> Result<()> {
        let fp = fingerprint.trim().to_ascii_lowercase();
        if fp.len() != 64 || !fp.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::InvalidFingerprint(
                fingerprint.chars().take(80).collect(),
            ));
        }
        let lock = Lock::take(&self.location, true)?;
        if let Some(mut trust) = Trust::load(&self.location.state_dir)?
            && !trust.known.contains(&fp)
            && !trust.also.contains(&fp)
        {
            trust.also.push(fp);
            trust.save(&self.location.state_dir)?;
        }
        // The next open checks the vault again.
        lock.set_memo(&Memo::default());
        Ok(())
    }

    /// Forgets what this device trusts and its shadow copy (see [`Location::forget_trust`]).
    pub fn forget_trust(&self) -> Result<()> {
        self.location.forget_trust()
    }

    /// Read-modify-write under the exclusive lock. Creates the vault (encrypted to this
    /// device) when there is none; restores it from this device's shadow copy instead when the
    /// vault this device trusts has disappeared. Writes only if `f` changed something (or the
    /// file had to be brought up to date, as [`Vault::read`] does), atomically, keeping
    /// backups. If `f` fails, nothing is written.
    ///
    /// A vault that exists but cannot be read (not a recipient, damaged, newer format, not
    /// written by a member) is returned as an error before `f` runs, and the file is left
    /// exactly as it was.
    pub fn update<T, E>(&self, f: impl FnOnce(&mut Snapshot) -> Result<T, E>) -> Result<T, E>
    where
        E: From<Error>,
    {
        let lock = Lock::take(&self.location, true)?;
        remove_stale_temps(&self.location.file);
        let worker = self.worker();
        let mut loaded = worker.load(&lock, Mode::Update)?;
        let value = f(&mut loaded.snapshot)?;
        worker.finish(&lock, &mut loaded)?;
        Ok(value)
    }
}

/// How [`Worker::load`] treats the vault file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// A read: a missing vault is an error.
    Read,
    /// A read-modify-write: a missing vault is created (or restored from the shadow copy).
    Update,
    /// Check everything, whatever the memo says (`keyhelm sync`).
    Force,
}

/// The vault as loaded for a read or a write, with what must happen when it is finished.
struct Loaded {
    snapshot: Snapshot,
    /// The vault file's bytes as read (`None`: there was none), for the backup.
    previous: Option<Vec<u8>>,
    /// Its stamp as read.
    previous_stamp: Option<FileStamp>,
    /// Whether the full check ran: the shadow copy, the trust and the memo are brought up to
    /// date when finished.
    checked: bool,
    /// The trust file as read by the check.
    trust: Option<Trust>,
    /// The shadow copy's bytes as read by the check.
    shadow: Option<Vec<u8>>,
    /// Conflict copies to remove once the vault holds what they held.
    copies: Vec<PathBuf>,
    /// Conflict copies left in place (for the memo).
    ignored: Vec<(OsString, FileStamp)>,
    report: Report,
}

impl Loaded {
    fn new(snapshot: Snapshot) -> Loaded {
        Loaded {
            snapshot,
            previous: None,
            previous_stamp: None,
            checked: false,
            trust: None,
            shadow: None,
            copies: Vec::new(),
            ignored: Vec::new(),
            report: Report::default(),
        }
    }
}

/// The operations on one device's vault, shared by [`Vault`] and [`crate::Lookup`] (which has
/// no `Vault`, and loads the device id only when it must write).
pub(crate) struct Worker<'a> {
    pub location: &'a Location,
    pub identity: &'a Identity,
    pub device: DeviceId,
    pub on_write: Option<&'a WriteHook>,
}

impl Worker<'_> {
    /// Reads the vault under the exclusive lock (`lock`). Fast when the file is the one this
    /// device last wrote or checked; otherwise the full check (see [`crate::sync`]): the vault
    /// is refused unless written by a member, the shadow copy and the conflict copies are
    /// merged in (the snapshot is then marked changed).
    fn load(&self, lock: &Lock, mode: Mode) -> Result<Loaded> {
        debug_assert!(lock.is_exclusive());
        let file = &self.location.file;
        let found = match read_vault_file(file) {
            Ok(found) => Some(found),
            Err(Error::Missing { .. }) => None,
            Err(e) => return Err(e),
        };
        let memo = lock.memo();
        if mode != Mode::Force
            && let Some((bytes, stamp)) = &found
            && sync::is_fresh(&memo, self.location, *stamp)
        {
            let mut loaded = Loaded::new(self.open_bytes(bytes, file, Ids::Verify)?);
            loaded.previous_stamp = Some(*stamp);
            loaded.previous = found.map(|(bytes, _)| bytes);
            return Ok(loaded);
        }

        let state_dir = &self.location.state_dir;
        let trust = Trust::load(state_dir)?;
        let shadow_bytes = std::fs::read(self.location.shadow_file()).ok();
        let shadow_path = self.location.shadow_file();
        // The shadow copy is this device's own: unreadable (another identity, damaged), it is
        // simply replaced. When it is the vault file byte for byte (the file was only touched,
        // or a sync tool wrote the same content again), there is nothing to merge.
        let same = matches!((&shadow_bytes, &found), (Some(s), Some((v, _))) if s == v);
        let shadow = shadow_bytes
            .as_deref()
            .filter(|_| !same)
            .and_then(|b| self.open_bytes(b, &shadow_path, Ids::Verify).ok());
        let mut report = Report::default();
        let snapshot = match &found {
            Some((bytes, _)) => {
                let mut vault = self.open_bytes(bytes, file, Ids::Verify)?;
                match classify(trust.as_ref(), &vault) {
                    Verdict::Trusted => {
                        if let Some(shadow) = &shadow
                            && shadow.payload.vault_id == vault.payload.vault_id
                        {
                            vault.merge_from(shadow)?;
                            report.restored = vault.dirty;
                        }
                        vault
                    }
                    Verdict::Behind => match &shadow {
                        Some(shadow) if shadow.payload.vault_id == vault.payload.vault_id => {
                            let mut ours = shadow.clone();
                            ours.dirty = true;
                            report.superseded = true;
                            ours
                        }
                        _ => return Err(Error::BehindRecipients { path: file.clone() }),
                    },
                    verdict => {
                        let trust = trust.as_ref().expect("only a trust refuses");
                        return Err(sync::refusal(verdict, trust, &vault, file));
                    }
                }
            }
            None if mode == Mode::Update => match (&trust, &shadow) {
                (Some(t), Some(shadow)) if shadow.vault_id() == t.vault_id => {
                    let mut ours = shadow.clone();
                    ours.dirty = true;
                    report.restored = true;
                    ours
                }
                _ => Snapshot::new_vault(self.device, self.identity.public())?,
            },
            None => return Err(Error::Missing { path: file.clone() }),
        };
        let mut loaded = Loaded::new(snapshot);
        loaded.report = report;
        self.merge_copies(&mut loaded, trust.as_ref(), &memo, mode)?;
        loaded.checked = true;
        loaded.trust = trust;
        loaded.shadow = shadow_bytes;
        if let Some((bytes, stamp)) = found {
            loaded.previous = Some(bytes);
            loaded.previous_stamp = Some(stamp);
        }
        Ok(loaded)
    }

    /// Merges the conflict copies next to the vault file into `loaded`: those that carry the
    /// vault's current secret, and removes those that hold nothing new; leaves the others in
    /// place (and remembers them, so that lookups do not read them again while unchanged).
    fn merge_copies(
        &self,
        loaded: &mut Loaded,
        previous: Option<&Trust>,
        memo: &Memo,
        mode: Mode,
    ) -> Result<()> {
        let trust = Trust::of(&loaded.snapshot, previous);
        for (path, name) in sync::conflict_copies(&self.location.file) {
            let stamp = sync::stamp_of(&path);
            let Some(stamp) = stamp else { continue };
            if mode != Mode::Force && memo.ignored.contains(&(name.clone(), stamp)) {
                loaded.ignored.push((name, stamp));
                continue;
            }
            let ignore = |loaded: &mut Loaded, error: Error| {
                loaded.report.ignored.push((path.clone(), error));
                loaded.ignored.push((name.clone(), stamp));
            };
            let copy = match self.read_file(&path) {
                Ok(copy) => copy,
                Err(e) => {
                    ignore(loaded, e);
                    continue;
                }
            };
            if copy.payload.vault_id != loaded.snapshot.payload.vault_id {
                let error = Error::DifferentVaults {
                    ours: loaded.snapshot.vault_id(),
                    theirs: copy.vault_id(),
                };
                ignore(loaded, error);
                continue;
            }
            match classify(Some(&trust), &copy) {
                Verdict::Trusted => {
                    loaded.snapshot.merge_from(&copy)?;
                }
                verdict => {
                    // Not trusted, but harmless if the vault already holds all of it.
                    let mut probe = loaded.snapshot.clone();
                    probe.dirty = false;
                    probe.merge_from(&copy)?;
                    if probe.dirty {
                        ignore(loaded, sync::refusal(verdict, &trust, &copy, &path));
                        continue;
                    }
                }
            }
            loaded.report.merged.push(path.clone());
            loaded.copies.push(path);
        }
        Ok(())
    }

    /// Writes what `load` and the caller changed, removes the merged conflict copies, and
    /// brings the shadow copy, the trust file and the memo up to date.
    fn finish(&self, lock: &Lock, loaded: &mut Loaded) -> Result<()> {
        let mut stamp = loaded.previous_stamp;
        let mut written = None;
        if loaded.snapshot.dirty {
            let (ciphertext, new_stamp) =
                self.commit(&mut loaded.snapshot, loaded.previous.as_deref())?;
            loaded.report.written = true;
            stamp = new_stamp;
            written = Some(ciphertext);
            if let Some(hook) = self.on_write {
                hook();
            }
        }
        for copy in loaded.copies.drain(..) {
            let _ = std::fs::remove_file(copy);
        }
        if !loaded.checked && written.is_none() {
            return Ok(());
        }
        let state_dir = &self.location.state_dir;
        // Best effort from here on: the vault itself is written, and what follows only saves
        // the next open some work (or, for the shadow copy, keeps a spare).
        if let Some(bytes) = written.as_deref().or(loaded.previous.as_deref())
            && loaded.shadow.as_deref() != Some(bytes)
        {
            let _ = sync::write_private(&self.location.shadow_file(), bytes, false);
        }
        let previous = if loaded.checked {
            loaded.trust.take()
        } else {
            Trust::load(state_dir).ok().flatten()
        };
        let trust = Trust::of(&loaded.snapshot, previous.as_ref());
        if previous.as_ref() != Some(&trust) {
            trust.save(state_dir)?;
        }
        let (_, dir) = sync::stamps(&self.location.file);
        let mut ignored = std::mem::take(&mut loaded.ignored);
        if !loaded.checked {
            // A write on the fast path: the copies remembered before are still there.
            ignored = lock.memo().ignored;
        }
        lock.set_memo(&Memo {
            vault: stamp,
            dir,
            ignored,
        });
        Ok(())
    }

    /// Reads and decrypts a vault file other than the vault (verifying entry ids).
    fn read_file(&self, path: &Path) -> Result<Snapshot> {
        let (bytes, _) = read_vault_file(path)?;
        self.open_bytes(&bytes, path, Ids::Verify)
    }

    /// Decrypts and decodes vault bytes read from `path`.
    pub(crate) fn open_bytes(&self, bytes: &[u8], path: &Path, ids: Ids) -> Result<Snapshot> {
        let reader = decrypt(bytes, self.identity, path)?;
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
        if !payload
            .live_recipients()
            .any(|r| publics.iter().any(|p| p == r))
        {
            return Err(Error::WouldLockOut {
                public: self.identity.public(),
            });
        }
        let recipients = payload
            .live_recipients()
            .map(parse_recipient)
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
    /// `previous`, the bytes of the file being replaced). Returns the ciphertext and the stamp
    /// of the new file.
    fn commit(
        &self,
        snapshot: &mut Snapshot,
        previous: Option<&[u8]>,
    ) -> Result<(Vec<u8>, Option<FileStamp>)> {
        *snapshot.payload.vv.entry(self.device).or_insert(0) += 1;
        let ciphertext = self.encrypt(snapshot)?;
        let backup = previous.map(|bytes| (self.location.backup_dir(), bytes));
        let stamp = replace_file(&self.location.file, &ciphertext, backup)?;
        snapshot.dirty = false;
        rotate_backups(self.location);
        Ok((ciphertext, stamp))
    }

    /// The payload of the vault after the full check under the exclusive lock (what a lookup
    /// needs when the vault file changed since this device last saw it).
    pub(crate) fn checked_payload(&self) -> Result<Payload> {
        let lock = Lock::take(self.location, true)?;
        let mut loaded = self.load(&lock, Mode::Read)?;
        self.finish(&lock, &mut loaded)?;
        Ok(loaded.snapshot.payload)
    }
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
                public: identity.public(),
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

/// Reads a whole vault file and its stamp (both from one open file); [`Error::Missing`] if
/// there is none.
fn read_vault_file(path: &Path) -> Result<(Vec<u8>, FileStamp)> {
    let mut file = File::open(path).map_err(|e| match e.kind() {
        ErrorKind::NotFound => Error::Missing {
            path: path.to_path_buf(),
        },
        _ => Error::io("cannot read", path, e),
    })?;
    let meta = file
        .metadata()
        .map_err(|e| Error::io("cannot read", path, e))?;
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0) + 1);
    file.read_to_end(&mut bytes)
        .map_err(|e| Error::io("cannot read", path, e))?;
    Ok((bytes, FileStamp::of(&meta)))
}

/// The prefix of this file's temporary files in its folder.
fn temp_prefix(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(".{name}.")
}

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
///
/// Returns the stamp of the new file, if the file now at `path` is still the one written
/// (another program may have replaced it right away).
fn replace_file(
    path: &Path,
    data: &[u8],
    backup: Option<(PathBuf, &[u8])>,
) -> Result<Option<FileStamp>> {
    let dir = parent_dir(path);
    create_private_dir_all(dir)?;
    let mut tmp = temp_file(dir, &temp_prefix(path))?;
    tmp.write_all(data)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| Error::io("cannot write", tmp.path(), e))?;
    if let Some((backup_dir, previous)) = backup {
        write_backup(&backup_dir, previous)?;
    }
    let written = tmp
        .as_file()
        .metadata()
        .map(|m| FileStamp::of(&m))
        .map_err(|e| Error::io("cannot write", tmp.path(), e))?;
    tmp.persist(path)
        .map_err(|e| Error::io("cannot replace", path, e.error))?;
    sync_dir(dir)?;
    Ok(sync::stamp_of(path).filter(|now| now.same_file(&written)))
}

/// Writes a backup (0600) named after the current UTC time, atomically.
fn write_backup(dir: &Path, bytes: &[u8]) -> Result<()> {
    create_private_dir_all(dir)?;
    let mut tmp = temp_file(dir, ".backup.")?;
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
