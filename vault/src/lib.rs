//! keyhelm-vault: the encrypted store behind keyhelm.
//!
//! One file, encrypted with [age] to every recipient (each device's X25519 key, optionally
//! SSH keys), holds a JSON payload of entries: stored credentials, accounts, cached tokens and
//! plugin state. Every entry carries a hybrid-logical-clock stamp and the id of the device that
//! wrote it, and deletes leave tombstones, so two copies of the vault can always be merged
//! without losing an update (see [`merge`]).
//!
//! Reads take a shared lock on a sidecar lock file; read-modify-write cycles take an exclusive
//! lock, write a temporary file in the vault's folder (0600), fsync it, keep a backup of the
//! previous file, rename, and fsync the folder. A vault that cannot be decrypted or parsed is
//! never overwritten.
//!
//! This crate knows nothing about git, docker or the command line. It is used by the `keyhelm`
//! binary; its API is not yet stable.
//!
//! THIS FILE IS THE API CONTRACT STUB. Bodies are filled in by the implementation.
#![allow(clippy::todo, unused_variables, dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use secrecy::SecretString;

/// The payload format this build writes and the newest it can read.
pub const FORMAT_VERSION: u32 = 1;

/// Errors of the vault. Each variant names the file involved; none ever carries secret data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// There is no vault file yet.
    #[error("there is no vault at {}", path.display())]
    Missing { path: PathBuf },
    /// The file is a well-formed age file, but none of this device's identities can open it.
    #[error("the vault {} is not encrypted to this device's identity", path.display())]
    NotARecipient { path: PathBuf },
    /// The file is not a vault: not age, truncated, tampered with, or its payload is not valid.
    #[error("the vault {} is damaged: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    /// The payload was written by a newer keyhelm.
    #[error(
        "the vault {} uses format {found}, and this keyhelm reads formats up to {supported}",
        path.display()
    )]
    UnsupportedFormat { path: PathBuf, found: u32, supported: u32 },
    /// A recipient string could not be parsed.
    #[error("invalid recipient '{0}'")]
    InvalidRecipient(String),
    /// An identity file could not be read or parsed (never includes the file's content).
    #[error("the identity file {} is not usable: {reason}", path.display())]
    Identity { path: PathBuf, reason: String },
    /// An I/O error on a named file.
    #[error("{op} {}: {source}", path.display())]
    Io { op: &'static str, path: PathBuf, #[source] source: std::io::Error },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A device id: 16 random bytes, shown as 32 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct DeviceId(pub [u8; 16]);

impl DeviceId {
    /// Reads `<state_dir>/device-id`, creating it (0600) with a fresh random id if absent.
    pub fn load_or_create(state_dir: &Path) -> Result<DeviceId> {
        todo!()
    }
}

/// A hybrid logical clock stamp. Ordered by (wall_ms, counter, device).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Hlc {
    pub wall_ms: u64,
    pub counter: u32,
    pub device: DeviceId,
}

/// This device's secret key(s), able to decrypt the vault.
pub struct Identity {/* Box<dyn age::Identity>, public recipient string */}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity").field("public", &self.public()).finish_non_exhaustive()
    }
}

impl Identity {
    /// Generates a new X25519 identity.
    pub fn generate() -> Identity {
        todo!()
    }
    /// Reads an identity file (`AGE-SECRET-KEY-1...` lines, comments allowed; or an
    /// unencrypted OpenSSH ed25519 private key). Errors name the file and line, never the key.
    pub fn from_file(path: &Path) -> Result<Identity> {
        todo!()
    }
    /// Writes the identity to `path` with mode 0600 (created exclusively; an existing file is an
    /// error), with `# created:` and `# public key:` comment lines like age-keygen.
    pub fn write_new(&self, path: &Path) -> Result<()> {
        todo!()
    }
    /// The public recipient string (`age1...` or `ssh-ed25519 ...`).
    pub fn public(&self) -> String {
        todo!()
    }
}

/// Where a vault lives on this device.
#[derive(Clone, Debug)]
pub struct Location {
    /// The vault file, e.g. `$KEYHELM_HOME/vault/vault.age`.
    pub file: PathBuf,
    /// Private per-device folder: `vault.lock` (sidecar lock), `backups/`, later `shadow.age`.
    pub state_dir: PathBuf,
}

/// The key of a stored credential, the way git keys credentials. `None` = attribute absent,
/// which is distinct from `Some("")`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, serde::Serialize, serde::Deserialize)]
pub struct CredentialKey {
    pub protocol: String,
    /// Host including the port (`example.com:8443`); may be empty (`cert` protocol).
    pub host: String,
    pub path: Option<String>,
    pub username: Option<String>,
}

/// A stored credential (git `store`, docker `store`, cargo `login`).
#[derive(Clone, Debug)]
pub struct Credential {
    pub key: CredentialKey,
    pub password: Option<SecretString>,
    /// Unix seconds; `None` = no expiry.
    pub password_expiry_utc: Option<u64>,
    pub oauth_refresh_token: Option<SecretString>,
    pub authtype: Option<String>,
    pub credential: Option<SecretString>,
}

/// An account bound to a provider plugin (see the accounts chapter of the user guide).
#[derive(Clone, Debug)]
pub struct Account {
    pub name: String,
    pub provider: String,
    /// The provider API's base URL.
    pub url: String,
    /// URL patterns this account serves (default: the base URL's origin).
    pub matches: Vec<String>,
    pub settings: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, SecretString>,
}

/// The token a provider last issued for an account.
#[derive(Clone, Debug)]
pub struct CachedToken {
    pub account: String,
    pub secret: SecretString,
    pub username: Option<String>,
    pub authtype: Option<String>,
    /// Unix seconds; `None` = valid until the service refuses it.
    pub expires_at: Option<u64>,
    /// Unix seconds.
    pub obtained_at: u64,
    /// Non-secret facts the provider returned (granted permissions, ...), as JSON.
    pub info: serde_json::Value,
}

/// The decrypted content of the vault, as read or as being modified inside [`Vault::update`].
pub struct Snapshot {/* payload, device, dirty flag */}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot").finish_non_exhaustive()
    }
}

impl Snapshot {
    /// Live stored credentials, in a stable order (by key).
    pub fn credentials(&self) -> impl Iterator<Item = &Credential> + '_ {
        std::iter::empty()
    }
    /// Inserts or replaces (same key) a stored credential.
    pub fn put_credential(&mut self, credential: Credential) {
        todo!()
    }
    /// Deletes a stored credential (leaves a tombstone). Returns whether it was live.
    pub fn remove_credential(&mut self, key: &CredentialKey) -> bool {
        todo!()
    }
    /// Live accounts, by name.
    pub fn accounts(&self) -> impl Iterator<Item = &Account> + '_ {
        std::iter::empty()
    }
    pub fn account(&self, name: &str) -> Option<&Account> {
        todo!()
    }
    pub fn put_account(&mut self, account: Account) {
        todo!()
    }
    pub fn remove_account(&mut self, name: &str) -> bool {
        todo!()
    }
    pub fn token(&self, account: &str) -> Option<&CachedToken> {
        todo!()
    }
    pub fn put_token(&mut self, token: CachedToken) {
        todo!()
    }
    pub fn remove_token(&mut self, account: &str) -> bool {
        todo!()
    }
    /// Opaque plugin state for an account (a JSON document that may hold secrets).
    pub fn plugin_state(&self, account: &str) -> Option<&SecretString> {
        todo!()
    }
    pub fn put_plugin_state(&mut self, account: &str, state: SecretString) {
        todo!()
    }
    pub fn remove_plugin_state(&mut self, account: &str) -> bool {
        todo!()
    }
    /// The recipients the vault is encrypted to on the next write.
    pub fn recipients(&self) -> Vec<String> {
        todo!()
    }
    /// Number of live entries of every kind.
    pub fn len(&self) -> usize {
        todo!()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A handle on the vault of this device.
#[derive(Debug)]
pub struct Vault {/* location, identity, device */}

impl Vault {
    pub fn new(location: Location, identity: Identity, device: DeviceId) -> Vault {
        todo!()
    }
    pub fn location(&self) -> &Location {
        todo!()
    }
    pub fn exists(&self) -> bool {
        todo!()
    }
    /// Creates an empty vault encrypted to this device's identity. Error if one exists.
    pub fn create(&self) -> Result<()> {
        todo!()
    }
    /// Reads and decrypts the vault under a shared lock. [`Error::Missing`] if there is none.
    pub fn read(&self) -> Result<Snapshot> {
        todo!()
    }
    /// Read-modify-write under the exclusive lock. Creates the vault (encrypted to this
    /// device) when there is none. Writes only if `f` changed something, atomically, keeping
    /// backups. If `f` fails, nothing is written.
    pub fn update<T, E>(&self, f: impl FnOnce(&mut Snapshot) -> Result<T, E>) -> Result<T, E>
    where
        E: From<Error>,
    {
        todo!()
    }
}
