//! The errors the binary reports, and the exit codes they map to.
//!
//! Every failure that reaches `main` is a [`Failure`]: an [`Exit`] code (a documented contract,
//! see docs/user-guide.md "Exit codes"), a message that says what went wrong, and usually a
//! hint that says what to do next. None of them ever contains a secret: messages are built
//! from paths, names and kinds, never from values read from the vault or the protocol input.

use std::fmt;
use std::io::Write;
use std::path::Path;

/// Exit codes of every keyhelm command. The numbers are part of the user contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Success; also "nothing found" for git, and an ignored unknown git operation.
    Ok = 0,
    /// Any other failure (I/O, configuration, an external program failed).
    Failure = 1,
    /// The command line was wrong.
    Usage = 2,
    /// The request read from stdin was malformed or hostile; nothing was written.
    BadRequest = 3,
    /// The vault cannot be used: not encrypted to this device, damaged, or from a newer
    /// keyhelm. It was not modified.
    Vault = 4,
    /// This device's identity is missing, unreadable or locked.
    Identity = 5,
    /// A plugin was not found or was refused by the loader's checks.
    Plugin = 6,
    /// A provider could not obtain a credential (login refused, service error, network).
    Provider = 7,
    /// A prompt was needed, but there is no terminal or prompting is not allowed.
    NeedsInteraction = 8,
    /// The named thing (account, entry) does not exist.
    NotFound = 9,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// A failure to report on stderr before exiting with its code.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
    pub hint: Option<String>,
}

pub type Result<T, E = Failure> = std::result::Result<T, E>;

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Failure {
        Failure {
            exit,
            message: message.into(),
            hint: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Failure {
        self.hint = Some(hint.into());
        self
    }

    pub fn other(message: impl Into<String>) -> Failure {
        Failure::new(Exit::Failure, message)
    }

    pub fn bad_request(message: impl Into<String>) -> Failure {
        Failure::new(Exit::BadRequest, message)
    }

    pub fn usage(message: impl Into<String>) -> Failure {
        Failure::new(Exit::Usage, message)
    }

    pub fn not_found(message: impl Into<String>) -> Failure {
        Failure::new(Exit::NotFound, message)
    }

    /// An I/O error on a named file.
    pub fn io(op: &str, path: &Path, err: &std::io::Error) -> Failure {
        Failure::other(format!("{op} {}: {err}", path.display()))
    }

    /// Writes `keyhelm: error: ...` and `keyhelm: hint: ...` lines.
    pub fn report(&self, mut err: impl Write) {
        // A failure to write to stderr leaves nothing better to do.
        let _ = writeln!(err, "keyhelm: error: {}", self.message);
        if let Some(hint) = &self.hint {
            let _ = writeln!(err, "keyhelm: hint: {hint}");
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

impl From<keyhelm_vault::Error> for Failure {
    fn from(err: keyhelm_vault::Error) -> Failure {
        use keyhelm_vault::Error as E;
        let message = err.to_string();
        match err {
            E::Missing { .. } => Failure::new(Exit::Vault, message)
                .hint("run `keyhelm init` to create this device's identity and an empty vault"),
            E::NotARecipient { public, .. } => Failure::new(Exit::Vault, message).hint(format!(
                "this device is not a recipient yet: run `keyhelm vault recipients add {}` on a \
                 device that is, then sync (`keyhelm sync` on both, unless a shared folder \
                 carries the vault)",
                crate::sync::recipients::as_argument(&public)
            )),
            E::NotAMember { .. } => Failure::new(Exit::Vault, message).hint(
                "keyhelm left the file as it is and used nothing from it. If two members removed \
                 recipients at the same time, run `keyhelm vault trust FINGERPRINT` with the \
                 fingerprint `keyhelm vault recipients list` shows on the other one's device; \
                 otherwise put back a member's copy of the vault",
            ),
            E::OtherVault { .. } => Failure::new(Exit::Vault, message).hint(
                "keyhelm left the file as it is. If this device should use that vault now, check \
                 its fingerprint on a member's device (`keyhelm vault recipients list`) and run \
                 `keyhelm vault trust FINGERPRINT`; otherwise put this device's vault back (see \
                 the backups in the state folder)",
            ),
            E::BehindRecipients { .. } => Failure::new(Exit::Vault, message).hint(
                "keyhelm left the file as it is: sync on the device that wrote it, so that it \
                 catches up with the removal, or put back a member's copy of the vault",
            ),
            E::DamagedTrust { path } => Failure::new(Exit::Vault, message).hint(format!(
                "remove {} to trust the vault as it is now on its next use (compare its \
                 fingerprint with a member's first: `keyhelm vault recipients list`)",
                path.display()
            )),
            E::InvalidFingerprint(_) => Failure::new(Exit::Usage, message).hint(
                "copy the fingerprint that `keyhelm vault recipients list` shows on a member's \
                 device",
            ),
            E::Corrupt { path, .. } => Failure::new(Exit::Vault, message).hint(format!(
                "keyhelm left the file untouched; restore the newest good copy from the backups \
                 folder next to keyhelm's state (see `keyhelm doctor`), or move {} away to start \
                 a new vault",
                path.display()
            )),
            E::UnsupportedFormat { .. } => Failure::new(Exit::Vault, message)
                .hint("upgrade keyhelm on this device; the vault was left untouched"),
            E::Identity { .. } => Failure::new(Exit::Identity, message).hint(
                "check the file (it must hold one AGE-SECRET-KEY-1... line or an OpenSSH \
                 ed25519 private key), or restore it from your backup",
            ),
            // The keyhelm agent stopped while the vault was being opened.
            E::Io { source, .. }
                if source
                    .get_ref()
                    .is_some_and(|e| e.is::<crate::agent::client::AgentError>()) =>
            {
                Failure::new(Exit::Identity, message).hint(
                    "the keyhelm agent stopped (locked, or its time ran out): run `keyhelm \
                     unlock`, then try again",
                )
            }
            E::InvalidRecipient(_) => Failure::new(Exit::Usage, message).hint(
                "a recipient is an age public key (age1...) or an ssh-ed25519 public key line",
            ),
            _ => Failure::other(message),
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(err: std::io::Error) -> Failure {
        Failure::other(err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_prints_error_and_hint_lines() {
        let mut buf = Vec::new();
        Failure::new(Exit::Vault, "the vault is damaged")
            .hint("restore a backup")
            .report(&mut buf);
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "keyhelm: error: the vault is damaged\nkeyhelm: hint: restore a backup\n"
        );
    }

    /// The agent stopping while the vault is opened is an identity problem (exit 5), not a
    /// damaged vault.
    #[test]
    fn an_agent_that_went_away_is_not_vault_damage() {
        let agent = crate::agent::client::AgentError::Io(std::io::Error::other("reset"));
        let err = keyhelm_vault::Error::Io {
            op: "cannot unwrap the file key of",
            path: "/v/vault.age".into(),
            source: std::io::Error::other(agent),
        };
        let f = Failure::from(err);
        assert_eq!(f.exit, Exit::Identity);
        assert_eq!(
            f.message,
            "cannot unwrap the file key of /v/vault.age: the connection to the keyhelm agent \
             broke: reset"
        );
        assert_eq!(
            f.hint.as_deref(),
            Some(
                "the keyhelm agent stopped (locked, or its time ran out): run `keyhelm unlock`, \
                 then try again"
            )
        );
        let other = keyhelm_vault::Error::Io {
            op: "cannot read",
            path: "/v/vault.age".into(),
            source: std::io::Error::other("disk"),
        };
        assert_eq!(Failure::from(other).exit, Exit::Failure);
    }

    /// Every vault error with a hint of its own, rendered once.
    #[test]
    fn vault_errors_say_what_to_do() {
        use keyhelm_vault::Error as E;
        let p = || std::path::PathBuf::from("/v/vault.age");
        let cases: Vec<(E, Exit, &str)> = vec![
            (
                E::NotARecipient {
                    path: p(),
                    public: "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq".into(),
                },
                Exit::Vault,
                "this device is not a recipient yet: run `keyhelm vault recipients add \
                 age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq` on a device \
                 that is, then sync (`keyhelm sync` on both, unless a shared folder carries the \
                 vault)",
            ),
            (
                E::NotARecipient {
                    path: p(),
                    public: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA".into(),
                },
                Exit::Vault,
                "this device is not a recipient yet: run `keyhelm vault recipients add \
                 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA'` on a device that is, then sync \
                 (`keyhelm sync` on both, unless a shared folder carries the vault)",
            ),
            (
                E::NotAMember { path: p() },
                Exit::Vault,
                "keyhelm left the file as it is and used nothing from it. If two members \
                 removed recipients at the same time, run `keyhelm vault trust FINGERPRINT` \
                 with the fingerprint `keyhelm vault recipients list` shows on the other one's \
                 device; otherwise put back a member's copy of the vault",
            ),
            (
                E::OtherVault {
                    path: p(),
                    trusted: "aa".into(),
                    found: "bb".into(),
                },
                Exit::Vault,
                "keyhelm left the file as it is. If this device should use that vault now, \
                 check its fingerprint on a member's device (`keyhelm vault recipients list`) \
                 and run `keyhelm vault trust FINGERPRINT`; otherwise put this device's vault \
                 back (see the backups in the state folder)",
            ),
            (
                E::BehindRecipients { path: p() },
                Exit::Vault,
                "keyhelm left the file as it is: sync on the device that wrote it, so that it \
                 catches up with the removal, or put back a member's copy of the vault",
            ),
            (
                E::DamagedTrust {
                    path: "/s/vault-trust".into(),
                },
                Exit::Vault,
                "remove /s/vault-trust to trust the vault as it is now on its next use (compare \
                 its fingerprint with a member's first: `keyhelm vault recipients list`)",
            ),
            (
                E::InvalidFingerprint("x".into()),
                Exit::Usage,
                "copy the fingerprint that `keyhelm vault recipients list` shows on a member's \
                 device",
            ),
            (
                E::Missing { path: p() },
                Exit::Vault,
                "run `keyhelm init` to create this device's identity and an empty vault",
            ),
            (
                E::Corrupt {
                    path: p(),
                    reason: "the file is truncated".into(),
                },
                Exit::Vault,
                "keyhelm left the file untouched; restore the newest good copy from the backups \
                 folder next to keyhelm's state (see `keyhelm doctor`), or move /v/vault.age \
                 away to start a new vault",
            ),
            (
                E::UnsupportedFormat {
                    path: p(),
                    found: 2,
                    supported: 1,
                },
                Exit::Vault,
                "upgrade keyhelm on this device; the vault was left untouched",
            ),
            (
                E::Identity {
                    path: "/k/identity.txt".into(),
                    reason: "line 3 is not an age identity".into(),
                },
                Exit::Identity,
                "check the file (it must hold one AGE-SECRET-KEY-1... line or an OpenSSH \
                 ed25519 private key), or restore it from your backup",
            ),
            (
                E::InvalidRecipient("foobar".into()),
                Exit::Usage,
                "a recipient is an age public key (age1...) or an ssh-ed25519 public key line",
            ),
        ];
        for (error, exit, hint) in cases {
            let message = error.to_string();
            let f = Failure::from(error);
            assert_eq!(f.exit, exit, "{message}");
            assert_eq!(f.message, message);
            assert_eq!(f.hint.as_deref(), Some(hint), "{message}");
        }
    }

    #[test]
    fn exit_codes_are_stable() {
        let codes = [
            (Exit::Ok, 0),
            (Exit::Failure, 1),
            (Exit::Usage, 2),
            (Exit::BadRequest, 3),
            (Exit::Vault, 4),
            (Exit::Identity, 5),
            (Exit::Plugin, 6),
            (Exit::Provider, 7),
            (Exit::NeedsInteraction, 8),
            (Exit::NotFound, 9),
        ];
        for (exit, code) in codes {
            assert_eq!(exit.code(), code, "{exit:?}");
        }
    }
}
