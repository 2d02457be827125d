//! The vault's error type.
//!
//! No variant ever carries secret data: payload parse errors are reduced to a category and a
//! line/column, identity-file errors to a line number, and recipients (public keys) are the
//! only user input that is echoed.

use std::path::PathBuf;

/// Errors of the vault. Each variant names the file involved; none ever carries secret data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// There is no vault file yet.
    #[error("there is no vault at {}", path.display())]
    Missing { path: PathBuf },
    /// The file is a well-formed age file, but none of this device's identities can open it.
    /// `public` is this device's public key (what a member must add as a recipient).
    #[error("the vault {} is not encrypted to this device's identity", path.display())]
    NotARecipient { path: PathBuf, public: String },
    /// The vault was not written by a member: it carries none of the vault secrets this device
    /// knows (age does not authenticate writers; members share a secret inside the vault).
    #[error(
        "the vault {} was not written by a member of this vault: it does not carry the vault \
         secret this device trusts",
        path.display()
    )]
    NotAMember { path: PathBuf },
    /// The vault is another vault than the one this device trusts.
    #[error(
        "{} holds another vault (id {found}) than the one this device uses (id {trusted})",
        path.display()
    )]
    OtherVault {
        path: PathBuf,
        trusted: String,
        found: String,
    },
    /// The vault was written by a device that had not seen the latest change of recipients,
    /// and this device has no copy of its own to replace it with.
    #[error(
        "the vault {} was written by a device that has not seen the latest change of \
         recipients (or by a removed one)",
        path.display()
    )]
    BehindRecipients { path: PathBuf },
    /// The file that records what this device trusts is damaged.
    #[error("the trust file {} is damaged", path.display())]
    DamagedTrust { path: PathBuf },
    /// A vault secret fingerprint is 64 hexadecimal characters.
    #[error("'{0}' is not a vault fingerprint (64 hexadecimal characters)")]
    InvalidFingerprint(String),
    /// The file is not a vault: not age, truncated, tampered with, or its payload is not valid.
    #[error("the vault {} is damaged: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    /// The payload was written by a newer keyhelm.
    #[error(
        "the vault {} uses format {found}, and this keyhelm reads formats up to {supported}",
        path.display()
    )]
    UnsupportedFormat {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    /// A recipient string could not be parsed.
    #[error("invalid recipient '{0}'")]
    InvalidRecipient(String),
    /// An identity file could not be read or parsed (never includes the file's content).
    #[error("the identity file {} is not usable: {reason}", path.display())]
    Identity { path: PathBuf, reason: String },
    /// An I/O error on a named file.
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// [`Vault::create`](crate::Vault::create) found a vault already in place.
    #[error("there is already a vault at {}", path.display())]
    AlreadyExists { path: PathBuf },
    /// The device-id file exists but does not hold a device id.
    #[error(
        "the device id file {} is damaged (expected 32 hexadecimal characters)",
        path.display()
    )]
    InvalidDeviceId { path: PathBuf },
    /// A recipient list must name at least one recipient.
    #[error("a vault needs at least one recipient")]
    NoRecipients,
    /// The write was refused because this device could not read the result.
    #[error(
        "refusing to write a vault that this device cannot read: its key {public} is not among \
         the recipients"
    )]
    WouldLockOut { public: String },
    /// Two snapshots of different vaults cannot be merged.
    #[error("cannot merge two different vaults (ids {ours} and {theirs})")]
    DifferentVaults { ours: String, theirs: String },
    /// age could not encrypt the vault.
    #[error("cannot encrypt the vault: {reason}")]
    Encrypt { reason: String },
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed: {0}")]
    Random(String),
}

/// The vault's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Every message a user can see, rendered once.
    #[test]
    fn messages() {
        let p = || Path::new("/home/u/.local/share/keyhelm/vault.age").to_path_buf();
        let cases: Vec<(Error, &str)> = vec![
            (
                Error::Missing { path: p() },
                "there is no vault at /home/u/.local/share/keyhelm/vault.age",
            ),
            (
                Error::NotARecipient {
                    path: p(),
                    public: "age1xyz".into(),
                },
                "the vault /home/u/.local/share/keyhelm/vault.age is not encrypted to this \
                 device's identity",
            ),
            (
                Error::Corrupt {
                    path: p(),
                    reason: "the file is truncated".into(),
                },
                "the vault /home/u/.local/share/keyhelm/vault.age is damaged: the file is \
                 truncated",
            ),
            (
                Error::UnsupportedFormat {
                    path: p(),
                    found: 2,
                    supported: 1,
                },
                "the vault /home/u/.local/share/keyhelm/vault.age uses format 2, and this \
                 keyhelm reads formats up to 1",
            ),
            (
                Error::InvalidRecipient("foobar".into()),
                "invalid recipient 'foobar'",
            ),
            (
                Error::Identity {
                    path: "/k/id.txt".into(),
                    reason: "line 3 is not an age identity".into(),
                },
                "the identity file /k/id.txt is not usable: line 3 is not an age identity",
            ),
            (
                Error::io(
                    "cannot read",
                    "/k/id.txt",
                    std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory"),
                ),
                "cannot read /k/id.txt: No such file or directory",
            ),
            (
                Error::AlreadyExists { path: p() },
                "there is already a vault at /home/u/.local/share/keyhelm/vault.age",
            ),
            (
                Error::InvalidDeviceId {
                    path: "/s/device-id".into(),
                },
                "the device id file /s/device-id is damaged (expected 32 hexadecimal characters)",
            ),
            (Error::NoRecipients, "a vault needs at least one recipient"),
            (
                Error::WouldLockOut {
                    public: "age1xyz".into(),
                },
                "refusing to write a vault that this device cannot read: its key age1xyz is not \
                 among the recipients",
            ),
            (
                Error::DifferentVaults {
                    ours: "aa".into(),
                    theirs: "bb".into(),
                },
                "cannot merge two different vaults (ids aa and bb)",
            ),
            (
                Error::Encrypt {
                    reason: "incompatible recipients".into(),
                },
                "cannot encrypt the vault: incompatible recipients",
            ),
            (
                Error::NotAMember { path: p() },
                "the vault /home/u/.local/share/keyhelm/vault.age was not written by a member of \
                 this vault: it does not carry the vault secret this device trusts",
            ),
            (
                Error::OtherVault {
                    path: p(),
                    trusted: "aa".into(),
                    found: "bb".into(),
                },
                "/home/u/.local/share/keyhelm/vault.age holds another vault (id bb) than the one \
                 this device uses (id aa)",
            ),
            (
                Error::BehindRecipients { path: p() },
                "the vault /home/u/.local/share/keyhelm/vault.age was written by a device that \
                 has not seen the latest change of recipients (or by a removed one)",
            ),
            (
                Error::DamagedTrust {
                    path: "/s/vault-trust".into(),
                },
                "the trust file /s/vault-trust is damaged",
            ),
            (
                Error::InvalidFingerprint("xyz".into()),
                "'xyz' is not a vault fingerprint (64 hexadecimal characters)",
            ),
            (
                Error::Random("unavailable".into()),
                "the system random number generator failed: unavailable",
            ),
        ];
        for (error, expected) in cases {
            assert_eq!(error.to_string(), expected);
        }
    }
}
