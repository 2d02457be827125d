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
//! Reading the whole vault ([`Vault::read`]) decrypts and parses every entry; a lookup
//! ([`Lookup`], what `keyhelm get` uses) decrypts and parses only the entries it needs, found
//! through an index at the start of the payload.
//!
//! A vault shared between devices (through git or a synced folder) is kept whole and genuine
//! on every open: each device keeps a shadow copy of what it last wrote, merges conflict copies
//! in, and refuses a vault not written by a member (see [`Vault::read`] and `docs/sync.md`).
//!
//! The payload format is documented in `docs/vault-format.md`.
//!
//! This crate knows nothing about git, docker or the command line. It is used by the `keyhelm`
//! binary; its API is not yet stable.
//!
//! ```no_run
//! use keyhelm_vault::{Credential, CredentialKey, DeviceId, Identity, Location, Vault};
//! # fn main() -> keyhelm_vault::Result<()> {
//! let location = Location {
//!     file: "/home/me/.local/share/keyhelm/vault.age".into(),
//!     state_dir: "/home/me/.local/state/keyhelm".into(),
//! };
//! let identity = Identity::from_file("/home/me/.config/keyhelm/identity.txt".as_ref())?;
//! let device = DeviceId::load_or_create(&location.state_dir)?;
//! let vault = Vault::new(location, identity, device);
//!
//! vault.update(|snapshot| {
//!     snapshot.put_credential(Credential {
//!         key: CredentialKey {
//!             protocol: "https".into(),
//!             host: "example.com".into(),
//!             path: None,
//!             username: Some("alice".into()),
//!         },
//!         password: Some("s3cret".into()),
//!         password_expiry_utc: None,
//!         oauth_refresh_token: None,
//!         authtype: None,
//!         credential: None,
//!     });
//!     Ok::<_, keyhelm_vault::Error>(())
//! })?;
//!
//! let snapshot = vault.read()?;
//! for credential in snapshot.credentials() {
//!     println!("{}://{}", credential.key.protocol, credential.key.host);
//! }
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

mod clock;
mod entry;
mod error;
mod fsutil;
mod identity;
mod index;
mod lookup;
mod merge;
mod payload;
mod snapshot;
mod store;
mod sync;

pub use clock::{DeviceId, Hlc, ParseDeviceIdError};
pub use entry::{Account, CachedToken, Credential, CredentialKey};
pub use error::{Error, Result};
pub use identity::{
    DEFAULT_WORK_FACTOR, Identity, MAX_WORK_FACTOR, MIN_WORK_FACTOR, UnlockError, is_protected,
    normalize_recipient, protect, unlock, write_new_private,
};
pub use lookup::Lookup;
pub use merge::merge;
pub use snapshot::Snapshot;
pub use store::{Admission, BACKUPS_KEPT, Location, Vault};
pub use sync::Report;

/// The payload format this build writes and the newest it can read.
pub const FORMAT_VERSION: u32 = 1;

#[cfg(test)]
mod tests {
    /// The handle and its data can move between threads (a helper may use a thread pool).
    #[test]
    fn public_types_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<crate::Vault>();
        check::<crate::Snapshot>();
        check::<crate::Lookup>();
        check::<crate::Identity>();
        check::<crate::Error>();
    }
}
