//! [`Snapshot`]: the decrypted content of a vault, read-only or being modified.

use std::collections::BTreeMap;
use std::fmt;

use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::{Digest, Sha256};

use crate::clock::{DeviceId, Hlc, fill_random, now_ms};
use crate::entry::{Account, Body, CachedToken, Credential, CredentialKey, PluginState};
use crate::error::{Error, Result};
use crate::identity::parse_recipient;
use crate::payload::{
    BodySer, Live, Member, Payload, SecretBytes, Sorted, StampedSecret, Tombstone,
    normalize_secrets,
};

/// The decrypted content of the vault, as read or as being modified inside
/// [`Vault::update`](crate::Vault::update).
///
/// Every change is stamped with this device's hybrid logical clock; deletes leave tombstones,
/// so the change survives a [`merge`](crate::merge) with another copy of the vault. Putting a
/// value equal to the stored one changes nothing (and `update` then writes nothing).
#[derive(Clone)]
pub struct Snapshot {
    pub(crate) payload: Payload,
    pub(crate) device: DeviceId,
    pub(crate) dirty: bool,
    /// Size of the encoded payload when read, to size the next encoding buffer.
    pub(crate) size_hint: usize,
    /// Test hook: a fixed wall clock (milliseconds) instead of the system clock.
    pub(crate) fixed_now: Option<u64>,
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.payload;
        f.debug_struct("Snapshot")
            .field("vault_id", &hex::encode(p.vault_id))
            .field("device", &self.device)
            .field("credentials", &p.credentials.len())
            .field("accounts", &p.accounts.len())
            .field("tokens", &p.tokens.len())
            .field("plugin_states", &p.plugin_states.len())
            .field("tombstones", &p.tombstones.len())
            .field("changed", &self.dirty)
            .finish_non_exhaustive()
    }
}

/// Access to the set of live entries of one kind.
pub(crate) trait Stored: Body + BodySer + Sized {
    fn set(p: &Payload) -> &Sorted<Self>;
    fn set_mut(p: &mut Payload) -> &mut Sorted<Self>;
}

macro_rules! stored {
    ($t:ty, $field:ident) => {
        impl Stored for $t {
            fn set(p: &Payload) -> &Sorted<Self> {
                &p.$field
            }
            fn set_mut(p: &mut Payload) -> &mut Sorted<Self> {
                &mut p.$field
            }
        }
    };
}
stored!(Credential, credentials);
stored!(Account, accounts);
stored!(CachedToken, tokens);
stored!(PluginState, plugin_states);

impl Snapshot {
    /// A new, empty vault encrypted to `recipient` (this device's public key).
    pub(crate) fn new_vault(device: DeviceId, recipient: String) -> Result<Snapshot> {
        let mut vault_id = [0u8; 16];
        fill_random(&mut vault_id)?;
        let mut snapshot = Snapshot {
            payload: Payload {
                vault_id,
                secrets: Vec::new(),
                recipients: BTreeMap::new(),
                vv: BTreeMap::new(),
                max_hlc: Hlc::ZERO,
                credentials: Sorted::default(),
                accounts: Sorted::default(),
                tokens: Sorted::default(),
                plugin_states: Sorted::default(),
                others: BTreeMap::new(),
                tombstones: BTreeMap::new(),
                extra: Vec::new(),
            },
            device,
            dirty: true,
            size_hint: 0,
            fixed_now: None,
        };
        let hlc = snapshot.stamp();
        snapshot.payload.secrets.push(StampedSecret {
            hlc,
            secret: random_secret()?,
        });
        snapshot.payload.recipients.insert(
            recipient,
            Member {
                hlc,
                removed: false,
            },
        );
        Ok(snapshot)
    }

    /// A stamp for a local write, greater than every stamp in the payload.
    pub(crate) fn stamp(&mut self) -> Hlc {
        let now = self.fixed_now.unwrap_or_else(now_ms);
        let hlc = Hlc::next(self.payload.max_hlc, now, self.device);
        self.payload.max_hlc = hlc;
        hlc
    }

    fn get<T: Stored>(&self, key: &T::Key) -> Option<&T> {
        T::set(&self.payload).get(key).map(|live| &live.body)
    }

    fn put<T: Stored>(&mut self, body: T) {
        if let Some(old) = T::set(&self.payload).get(body.key())
            && old.body.same(&body)
        {
            return;
        }
        let hlc = self.stamp();
        let live = Live::new(body, hlc);
        self.payload.tombstones.remove(&live.id);
        T::set_mut(&mut self.payload).replace(live);
        self.dirty = true;
    }

    fn remove<T: Stored>(&mut self, key: &T::Key) -> bool {
        let Some(old) = T::set_mut(&mut self.payload).take(key) else {
            return false;
        };
        let hlc = self.stamp();
        self.payload.tombstones.insert(
            old.id,
            Tombstone {
                hlc,
                kind: T::KIND,
                extra: Vec::new(),
            },
        );
        self.dirty = true;
        true
    }

    /// Live stored credentials, in a stable order (by key).
    pub fn credentials(&self) -> impl Iterator<Item = &Credential> + '_ {
        self.payload.credentials.iter().map(|live| &live.body)
    }
    /// Live stored credentials with the stamp of their last write, in key order. git's own
    /// helpers answer with the credential stored last; callers pick the newest match.
    pub fn credentials_stamped(&self) -> impl Iterator<Item = (&Credential, Hlc)> + '_ {
        self.payload
            .credentials
            .iter()
            .map(|live| (&live.body, live.hlc))
    }
    /// The stored credential with exactly this key.
    pub fn credential(&self, key: &CredentialKey) -> Option<&Credential> {
        self.get::<Credential>(key)
    }
    /// Inserts or replaces (same key) a stored credential.
    pub fn put_credential(&mut self, credential: Credential) {
        self.put(credential);
    }
    /// Deletes a stored credential (leaves a tombstone). Returns whether it was live.
    pub fn remove_credential(&mut self, key: &CredentialKey) -> bool {
        self.remove::<Credential>(key)
    }
    /// Live accounts, by name.
    pub fn accounts(&self) -> impl Iterator<Item = &Account> + '_ {
        self.payload.accounts.iter().map(|live| &live.body)
    }
    /// The account with this name.
    pub fn account(&self, name: &str) -> Option<&Account> {
        self.get::<Account>(name)
    }
    /// Inserts or replaces (same name) an account.
    pub fn put_account(&mut self, account: Account) {
        self.put(account);
    }
    /// Deletes an account (leaves a tombstone). Returns whether it was live. The account's
    /// cached token and plugin state are separate entries: remove them too if they must go.
    pub fn remove_account(&mut self, name: &str) -> bool {
        self.remove::<Account>(name)
    }
    /// The cached token of an account.
    pub fn token(&self, account: &str) -> Option<&CachedToken> {
        self.get::<CachedToken>(account)
    }
    /// Cached tokens, by account name.
    pub fn tokens(&self) -> impl Iterator<Item = &CachedToken> + '_ {
        self.payload.tokens.iter().map(|live| &live.body)
    }
    /// Inserts or replaces the cached token of `token.account`.
    pub fn put_token(&mut self, token: CachedToken) {
        self.put(token);
    }
    /// Deletes an account's cached token (leaves a tombstone). Returns whether it was live.
    pub fn remove_token(&mut self, account: &str) -> bool {
        self.remove::<CachedToken>(account)
    }
    /// Opaque plugin state for an account (a JSON document that may hold secrets).
    pub fn plugin_state(&self, account: &str) -> Option<&SecretString> {
        self.get::<PluginState>(account).map(|s| &s.state)
    }
    /// Inserts or replaces an account's plugin state. The text is returned exactly as given.
    pub fn put_plugin_state(&mut self, account: &str, state: SecretString) {
        self.put(PluginState {
            account: account.to_string(),
            state,
        });
    }
    /// Deletes an account's plugin state (leaves a tombstone). Returns whether it was live.
    pub fn remove_plugin_state(&mut self, account: &str) -> bool {
        self.remove::<PluginState>(account)
    }
    /// The recipients the vault is encrypted to on the next write, in canonical form and
    /// sorted.
    pub fn recipients(&self) -> Vec<String> {
        self.payload.live_recipients().map(str::to_owned).collect()
    }

    /// Adds a recipient (`age1...`, `ssh-ed25519 ...`; stored in canonical form). Takes effect
    /// on the next write: every write encrypts to the current recipients. Returns `false` if
    /// it already was one.
    pub fn add_recipient(&mut self, recipient: &str) -> Result<bool> {
        let key = parse_recipient(recipient)?.text;
        if self
            .payload
            .recipients
            .get(&key)
            .is_some_and(|m| !m.removed)
        {
            return Ok(false);
        }
        let hlc = self.stamp();
        self.payload.recipients.insert(
            key,
            Member {
                hlc,
                removed: false,
            },
        );
        self.dirty = true;
        Ok(true)
    }

    /// Removes a recipient, and rotates the vault secret: the removed key knew the old one.
    /// Returns `false` if it was not one. [`Error::NoRecipients`] if it is the last one.
    /// [`Vault::update`](crate::Vault::update) refuses to write a vault that this device could
    /// no longer read.
    pub fn remove_recipient(&mut self, recipient: &str) -> Result<bool> {
        let key = parse_recipient(recipient)?.text;
        if self.payload.recipients.get(&key).is_none_or(|m| m.removed) {
            return Ok(false);
        }
        if self.payload.live_recipients().all(|r| r == key) {
            return Err(Error::NoRecipients);
        }
        let hlc = self.stamp();
        self.payload
            .recipients
            .insert(key, Member { hlc, removed: true });
        self.push_secret(hlc)?;
        Ok(true)
    }

    /// Replaces the recipients (see [`add_recipient`](Self::add_recipient) and
    /// [`remove_recipient`](Self::remove_recipient)): removing any rotates the vault secret.
    pub fn set_recipients<S: AsRef<str>>(
        &mut self,
        recipients: impl IntoIterator<Item = S>,
    ) -> Result<()> {
        let mut list: Vec<String> = Vec::new();
        for r in recipients {
            let text = parse_recipient(r.as_ref())?.text;
            if !list.contains(&text) {
                list.push(text);
            }
        }
        if list.is_empty() {
            return Err(Error::NoRecipients);
        }
        for key in &list {
            self.add_recipient(key)?;
        }
        let gone: Vec<String> = self
            .payload
            .live_recipients()
            .filter(|r| !list.iter().any(|k| k == r))
            .map(str::to_owned)
            .collect();
        if gone.is_empty() {
            return Ok(());
        }
        // One stamp and one rotation for all of them.
        let hlc = self.stamp();
        for key in gone {
            self.payload
                .recipients
                .insert(key, Member { hlc, removed: true });
        }
        self.push_secret(hlc)
    }

    /// Replaces the vault secret with a fresh random one (see
    /// [`vault_secret_fingerprint`](Self::vault_secret_fingerprint)). The replaced secrets are
    /// kept (a few), so that devices that knew them accept the vault.
    pub fn rotate_vault_secret(&mut self) -> Result<()> {
        let hlc = self.stamp();
        self.push_secret(hlc)
    }

    fn push_secret(&mut self, hlc: Hlc) -> Result<()> {
        self.payload.secrets.push(StampedSecret {
            hlc,
            secret: random_secret()?,
        });
        normalize_secrets(&mut self.payload.secrets);
        self.dirty = true;
        Ok(())
    }

    /// The vault's id (32 hex characters), the same on every device that shares it.
    pub fn vault_id(&self) -> String {
        hex::encode(self.payload.vault_id)
    }

    /// SHA-256 over the vault id and the current vault secret, in hex: a value a device can
    /// pin to recognise later writes by a holder of the secret. The secret itself never
    /// leaves the crate.
    pub fn vault_secret_fingerprint(&self) -> String {
        fingerprint(&self.payload.vault_id, self.payload.current_secret())
    }

    /// The fingerprints of every vault secret the vault keeps, the current one first.
    pub fn vault_secret_fingerprints(&self) -> Vec<String> {
        self.payload
            .secrets
            .iter()
            .map(|s| fingerprint(&self.payload.vault_id, s))
            .collect()
    }

    /// Writes per device, as recorded in the vault (a version vector).
    pub fn version_vector(&self) -> &BTreeMap<DeviceId, u64> {
        &self.payload.vv
    }

    /// The greatest clock stamp in the vault.
    pub fn max_hlc(&self) -> Hlc {
        self.payload.max_hlc
    }

    /// The device this snapshot stamps its changes with.
    pub fn device(&self) -> DeviceId {
        self.device
    }

    /// Whether anything changed since the snapshot was read.
    pub fn is_changed(&self) -> bool {
        self.dirty
    }

    /// Number of tombstones (deleted entries remembered for merging).
    pub fn tombstones(&self) -> usize {
        self.payload.tombstones.len()
    }

    /// Number of live entries of every kind.
    pub fn len(&self) -> usize {
        let p = &self.payload;
        p.credentials.len()
            + p.accounts.len()
            + p.tokens.len()
            + p.plugin_states.len()
            + p.others.len()
    }
    /// Whether there is no live entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `SHA-256("keyhelm-vault-secret-v1\0" || vault_id || secret)` in hex.
fn fingerprint(vault_id: &[u8; 16], secret: &StampedSecret) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"keyhelm-vault-secret-v1\0");
    hasher.update(vault_id);
    hasher.update(secret.secret.expose_secret().0);
    hex::encode(hasher.finalize())
}

fn random_secret() -> Result<SecretBox<SecretBytes>> {
    let mut failed = None;
    let secret = SecretBox::init_with_mut(|s: &mut SecretBytes| {
        failed = fill_random(&mut s.0).err();
    });
    match failed {
        Some(e) => Err(e),
        None => Ok(secret),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::{decode, encode};

    pub(crate) fn cred(host: &str, user: Option<&str>, password: &str) -> Credential {
        Credential {
            key: CredentialKey {
                protocol: "https".into(),
                host: host.into(),
                path: None,
                username: user.map(Into::into),
            },
            password: Some(password.into()),
            password_expiry_utc: None,
            oauth_refresh_token: None,
            authtype: None,
            credential: None,
        }
    }

    fn snapshot() -> Snapshot {
        let id = crate::Identity::generate();
        let mut s = Snapshot::new_vault(DeviceId([1; 16]), id.public()).unwrap();
        s.dirty = false;
        s
    }

    fn reparse(s: &Snapshot) -> Snapshot {
        let bytes = encode(&s.payload, 0);
        Snapshot {
            payload: decode(&bytes).unwrap(),
            device: s.device,
            dirty: false,
            size_hint: bytes.len(),
            fixed_now: None,
        }
    }

    #[test]
    fn put_get_replace_remove() {
        let mut s = snapshot();
        s.put_credential(cred("a.example", Some("alice"), "pw1"));
        assert!(s.is_changed());
        let key = cred("a.example", Some("alice"), "").key;
        assert_eq!(
            s.credential(&key)
                .unwrap()
                .password
                .as_ref()
                .unwrap()
                .expose_secret(),
            "pw1"
        );
        s.put_credential(cred("a.example", Some("alice"), "pw2"));
        assert_eq!(s.len(), 1);
        assert_eq!(
            s.credential(&key)
                .unwrap()
                .password
                .as_ref()
                .unwrap()
                .expose_secret(),
            "pw2"
        );
        assert!(s.remove_credential(&key));
        assert!(!s.remove_credential(&key));
        assert_eq!(s.len(), 0);
        assert_eq!(s.tombstones(), 1);
        // Putting it back replaces the tombstone.
        s.put_credential(cred("a.example", Some("alice"), "pw3"));
        assert_eq!(s.tombstones(), 0);
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn putting_an_equal_value_changes_nothing() {
        let mut s = snapshot();
        s.put_credential(cred("a.example", None, "pw"));
        let mut s = reparse(&s);
        let before = s.max_hlc();
        s.put_credential(cred("a.example", None, "pw"));
        assert!(!s.is_changed());
        assert_eq!(s.max_hlc(), before);
        s.put_credential(cred("a.example", None, "other"));
        assert!(s.is_changed());
        assert!(s.max_hlc() > before);
    }

    #[test]
    fn every_local_write_is_stamped_after_everything_seen() {
        let mut s = snapshot();
        // Another device wrote far in the future (its clock is ahead).
        s.payload.max_hlc = Hlc {
            wall_ms: u64::MAX / 2,
            counter: 5,
            device: DeviceId([9; 16]),
        };
        s.put_credential(cred("a.example", None, "pw"));
        let key = cred("a.example", None, "").key;
        let hlc = s.payload.credentials.get(&key).unwrap().hlc;
        assert_eq!(
            hlc,
            Hlc {
                wall_ms: u64::MAX / 2,
                counter: 6,
                device: DeviceId([1; 16])
            }
        );
        assert_eq!(s.max_hlc(), hlc);
    }

    #[test]
    fn credentials_come_in_key_order() {
        let mut s = snapshot();
        for host in ["c.example", "a.example", "b.example"] {
            s.put_credential(cred(host, Some("u"), "pw"));
        }
        let s = reparse(&s);
        let hosts: Vec<&str> = s.credentials().map(|c| c.key.host.as_str()).collect();
        assert_eq!(hosts, ["a.example", "b.example", "c.example"]);
    }

    #[test]
    fn recipients_register() {
        let mut s = snapshot();
        let me = s.recipients()[0].clone();
        let other = crate::Identity::generate().public();
        let fingerprint = s.vault_secret_fingerprint();
        // Adding keeps the secret.
        s.set_recipients([me.as_str(), other.as_str(), me.as_str()])
            .unwrap();
        let mut both = vec![me.clone(), other.clone()];
        both.sort();
        assert_eq!(s.recipients(), both);
        assert_eq!(s.vault_secret_fingerprint(), fingerprint);
        // Removing rotates it.
        s.set_recipients([me.as_str()]).unwrap();
        assert_ne!(s.vault_secret_fingerprint(), fingerprint);
        assert!(matches!(
            s.set_recipients(Vec::<String>::new()),
            Err(Error::NoRecipients)
        ));
        assert!(matches!(
            s.set_recipients(["nope"]),
            Err(Error::InvalidRecipient(_))
        ));
        assert_eq!(s.recipients(), vec![me.clone()]);
        let before = s.vault_secret_fingerprint();
        s.rotate_vault_secret().unwrap();
        assert_ne!(s.vault_secret_fingerprint(), before);
        assert_eq!(s.vault_secret_fingerprint().len(), 64);
        // The replaced secrets are kept, newest first.
        assert_eq!(
            s.vault_secret_fingerprints()[..3],
            [s.vault_secret_fingerprint(), before, fingerprint.clone()][..]
        );
        // Adding and removing one at a time; the last one cannot go.
        assert!(s.add_recipient(&other).unwrap());
        assert!(!s.add_recipient(&other).unwrap());
        assert!(s.remove_recipient(&other).unwrap());
        assert!(!s.remove_recipient(&other).unwrap());
        assert!(matches!(s.remove_recipient(&me), Err(Error::NoRecipients)));
    }

    #[test]
    fn debug_shows_counts_not_content() {
        let mut s = snapshot();
        s.put_credential(cred("a.example", Some("alice"), "hunter2-secret"));
        s.put_plugin_state("work", SecretString::from(r#"{"refresh":"rt-secret"}"#));
        let shown = format!("{s:?}");
        assert!(shown.contains("credentials: 1"), "{shown}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("rt-secret"),
            "{shown}"
        );
        let c = s.credentials().next().unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
