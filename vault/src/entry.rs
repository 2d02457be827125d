//! The entries a vault holds, and their deterministic ids.

use std::collections::BTreeMap;
use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// The key of a stored credential, the way git keys credentials. `None` = attribute absent,
/// which is distinct from `Some("")`.
#[derive(
    Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, serde::Serialize, serde::Deserialize,
)]
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

/// Opaque plugin state for an account.
#[derive(Clone, Debug)]
pub(crate) struct PluginState {
    pub account: String,
    pub state: SecretString,
}

/// The kind of an entry, as named in the payload.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub(crate) enum Kind {
    Credential,
    Account,
    Token,
    PluginState,
    /// A kind written by a newer keyhelm; kept as is.
    Other(String),
}

impl Kind {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Kind::Credential => "credential",
            Kind::Account => "account",
            Kind::Token => "token",
            Kind::PluginState => "plugin_state",
            Kind::Other(s) => s,
        }
    }

    pub(crate) fn from_name(s: &str) -> Kind {
        match s {
            "credential" => Kind::Credential,
            "account" => Kind::Account,
            "token" => Kind::Token,
            "plugin_state" => Kind::PluginState,
            other => Kind::Other(other.to_string()),
        }
    }
}

/// An entry id: the first 16 bytes of a SHA-256 over the entry's kind and key (see
/// docs/vault-format.md, "Entry ids").
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct EntryId(pub [u8; 16]);

impl fmt::Debug for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntryId({})", hex::encode(self.0))
    }
}

impl EntryId {
    fn from_hasher(hasher: Sha256) -> EntryId {
        let digest = hasher.finalize();
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest[..16]);
        EntryId(id)
    }

    fn start(kind: &str) -> Sha256 {
        let mut hasher = Sha256::new();
        hasher.update(b"keyhelm-entry-id-v1\0");
        put_str(&mut hasher, kind);
        hasher
    }

    /// The id of a stored credential: its protocol, host, path and username; an absent
    /// attribute and an empty one give different ids.
    pub(crate) fn of_credential(key: &CredentialKey) -> EntryId {
        let CredentialKey {
            protocol,
            host,
            path,
            username,
        } = key;
        let mut hasher = Self::start(Kind::Credential.as_str());
        put_str(&mut hasher, protocol);
        put_str(&mut hasher, host);
        put_opt(&mut hasher, path.as_deref());
        put_opt(&mut hasher, username.as_deref());
        Self::from_hasher(hasher)
    }

    /// The id of an account, cached token or plugin state: the kind and the account name.
    pub(crate) fn of_named(kind: &Kind, name: &str) -> EntryId {
        let mut hasher = Self::start(kind.as_str());
        put_str(&mut hasher, name);
        Self::from_hasher(hasher)
    }
}

fn put_str(hasher: &mut Sha256, s: &str) {
    hasher.update((s.len() as u64).to_be_bytes());
    hasher.update(s.as_bytes());
}

fn put_opt(hasher: &mut Sha256, s: Option<&str>) {
    match s {
        None => hasher.update([0u8]),
        Some(s) => {
            hasher.update([1u8]);
            put_str(hasher, s);
        }
    }
}

fn same_secret(a: &SecretString, b: &SecretString) -> bool {
    a.expose_secret() == b.expose_secret()
}

fn same_opt_secret(a: &Option<SecretString>, b: &Option<SecretString>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => same_secret(a, b),
        _ => false,
    }
}

/// An entry body the snapshot stores: keyed, comparable.
pub(crate) trait Body: Clone {
    const KIND: Kind;
    type Key: Ord + ?Sized;
    fn key(&self) -> &Self::Key;
    fn id(&self) -> EntryId;
    /// Equal in every field (secrets included).
    fn same(&self, other: &Self) -> bool;
}

impl Body for Credential {
    const KIND: Kind = Kind::Credential;
    type Key = CredentialKey;
    fn key(&self) -> &CredentialKey {
        &self.key
    }
    fn id(&self) -> EntryId {
        EntryId::of_credential(&self.key)
    }
    fn same(&self, other: &Self) -> bool {
        let Credential {
            key,
            password,
            password_expiry_utc,
            oauth_refresh_token,
            authtype,
            credential,
        } = self;
        *key == other.key
            && same_opt_secret(password, &other.password)
            && *password_expiry_utc == other.password_expiry_utc
            && same_opt_secret(oauth_refresh_token, &other.oauth_refresh_token)
            && *authtype == other.authtype
            && same_opt_secret(credential, &other.credential)
    }
}

impl Credential {
    /// Whether this is exactly `other`, secrets included: storing `other` again would change
    /// nothing.
    pub fn same_as(&self, other: &Credential) -> bool {
        Body::same(self, other)
    }
}

impl Body for Account {
    const KIND: Kind = Kind::Account;
    type Key = str;
    fn key(&self) -> &str {
        &self.name
    }
    fn id(&self) -> EntryId {
        EntryId::of_named(&Self::KIND, &self.name)
    }
    fn same(&self, other: &Self) -> bool {
        let Account {
            name,
            provider,
            url,
            matches,
            settings,
            secrets,
        } = self;
        *name == other.name
            && *provider == other.provider
            && *url == other.url
            && *matches == other.matches
            && *settings == other.settings
            && secrets.len() == other.secrets.len()
            && secrets
                .iter()
                .zip(&other.secrets)
                .all(|((ka, va), (kb, vb))| ka == kb && same_secret(va, vb))
    }
}

impl Body for CachedToken {
    const KIND: Kind = Kind::Token;
    type Key = str;
    fn key(&self) -> &str {
        &self.account
    }
    fn id(&self) -> EntryId {
        EntryId::of_named(&Self::KIND, &self.account)
    }
    fn same(&self, other: &Self) -> bool {
        let CachedToken {
            account,
            secret,
            username,
            authtype,
            expires_at,
            obtained_at,
            info,
        } = self;
        *account == other.account
            && same_secret(secret, &other.secret)
            && *username == other.username
            && *authtype == other.authtype
            && *expires_at == other.expires_at
            && *obtained_at == other.obtained_at
            && *info == other.info
    }
}

impl Body for PluginState {
    const KIND: Kind = Kind::PluginState;
    type Key = str;
    fn key(&self) -> &str {
        &self.account
    }
    fn id(&self) -> EntryId {
        EntryId::of_named(&Self::KIND, &self.account)
    }
    fn same(&self, other: &Self) -> bool {
        let PluginState { account, state } = self;
        *account == other.account && same_secret(state, &other.state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(path: Option<&str>, username: Option<&str>) -> CredentialKey {
        CredentialKey {
            protocol: "https".into(),
            host: "example.com".into(),
            path: path.map(Into::into),
            username: username.map(Into::into),
        }
    }

    #[test]
    fn the_same_credential_means_every_field_and_secret() {
        let stored = Credential {
            key: key(None, Some("alice")),
            password: Some("pw".to_owned().into()),
            password_expiry_utc: Some(1_900_000_000),
            oauth_refresh_token: None,
            authtype: None,
            credential: None,
        };
        assert!(stored.same_as(&stored.clone()));
        let differs = |change: fn(&mut Credential)| {
            let mut other = stored.clone();
            change(&mut other);
            !stored.same_as(&other)
        };
        assert!(differs(|c| c.password = Some("other".to_owned().into())));
        assert!(differs(|c| c.password = None));
        assert!(differs(|c| c.password_expiry_utc = None));
        assert!(differs(
            |c| c.oauth_refresh_token = Some("rt".to_owned().into())
        ));
        assert!(differs(|c| c.authtype = Some("Bearer".into())));
        assert!(differs(|c| c.credential = Some("tok".to_owned().into())));
        assert!(differs(|c| c.key.username = Some("bob".into())));
    }

    #[test]
    fn absent_and_empty_are_different_ids() {
        let ids = [
            EntryId::of_credential(&key(None, None)),
            EntryId::of_credential(&key(Some(""), None)),
            EntryId::of_credential(&key(None, Some(""))),
            EntryId::of_credential(&key(Some(""), Some(""))),
        ];
        for (i, a) in ids.iter().enumerate() {
            for b in &ids[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn the_encoding_is_unambiguous_across_field_boundaries() {
        let a = CredentialKey {
            protocol: "ab".into(),
            host: "c".into(),
            path: None,
            username: None,
        };
        let b = CredentialKey {
            protocol: "a".into(),
            host: "bc".into(),
            path: None,
            username: None,
        };
        assert_ne!(EntryId::of_credential(&a), EntryId::of_credential(&b));
        // The same name under different kinds.
        assert_ne!(
            EntryId::of_named(&Kind::Account, "work"),
            EntryId::of_named(&Kind::Token, "work")
        );
    }

    /// Pins the id algorithm: other implementations (and older vaults) depend on it. The
    /// expected value is documented in docs/vault-format.md.
    #[test]
    fn known_answer() {
        let id = EntryId::of_credential(&CredentialKey {
            protocol: "https".into(),
            host: "example.com".into(),
            path: None,
            username: Some("alice".into()),
        });
        assert_eq!(hex::encode(id.0), KNOWN_CREDENTIAL_ID);
        let id = EntryId::of_named(&Kind::Account, "work");
        assert_eq!(hex::encode(id.0), KNOWN_ACCOUNT_ID);
    }

    const KNOWN_CREDENTIAL_ID: &str = "3d7c13fa786d20d9061db85887c1c7f4";
    const KNOWN_ACCOUNT_ID: &str = "9e8eafdba8c10a644d7f09cd4b4851db";
}
