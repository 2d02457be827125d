//! This device's identity (the secret key that opens the vault) and recipient parsing.

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::str::FromStr;
use std::sync::OnceLock;

use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::clock::{Utc, now_ms};
use crate::error::{Error, Result};
use crate::fsutil;

/// Identity files are tiny; anything larger than this is not one.
const MAX_IDENTITY_FILE: u64 = 1 << 20;

/// This device's secret key(s), able to decrypt the vault.
///
/// Either one or more X25519 keys (an age identity file) or one unencrypted OpenSSH key
/// (ed25519, or RSA of at least 2048 bits). `Debug` shows only the public key.
pub struct Identity {
    keys: Keys,
    /// The public key's text, computed when first asked for: a lookup never needs it, and
    /// deriving an X25519 public key costs a scalar multiplication.
    public: OnceLock<String>,
}

enum Keys {
    X25519(Vec<age::x25519::Identity>),
    Ssh(Box<age::ssh::Identity>),
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("public", &self.public())
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// Generates a new X25519 identity.
    pub fn generate() -> Identity {
        let key = age::x25519::Identity::generate();
        Identity {
            keys: Keys::X25519(vec![key]),
            public: OnceLock::new(),
        }
    }

    /// Reads an identity file (`AGE-SECRET-KEY-1...` lines, comments allowed; or an
    /// unencrypted OpenSSH ed25519 private key). Errors name the file and line, never the key.
    pub fn from_file(path: &Path) -> Result<Identity> {
        let file = std::fs::File::open(path).map_err(|e| Error::io("cannot read", path, e))?;
        let mut bytes = Zeroizing::new(Vec::with_capacity(4096));
        file.take(MAX_IDENTITY_FILE + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io("cannot read", path, e))?;
        if bytes.len() as u64 > MAX_IDENTITY_FILE {
            return Err(identity_error(
                path,
                "it is larger than 1 MiB, too large for a key file",
            ));
        }
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| identity_error(path, "it is not a text file (not valid UTF-8)"))?;
        Self::parse(text, path)
    }

    /// Parses the text of an identity file. `origin` names the file in errors.
    pub fn from_secret_text(text: &SecretString, origin: &Path) -> Result<Identity> {
        Self::parse(text.expose_secret(), origin)
    }

    fn parse(text: &str, path: &Path) -> Result<Identity> {
        let first = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'));
        match first {
            Some(line)
                if line.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----")
                    || line.starts_with("-----BEGIN RSA PRIVATE KEY-----") =>
            {
                Self::parse_ssh(text, path)
            }
            Some(line)
                if line.starts_with("-----BEGIN AGE ENCRYPTED FILE-----")
                    || line.starts_with("age-encryption.org/") =>
            {
                Err(identity_error(
                    path,
                    "it is encrypted with a passphrase, which keyhelm does not support yet",
                ))
            }
            _ => Self::parse_age(text, path),
        }
    }

    fn parse_age(text: &str, path: &Path) -> Result<Identity> {
        let mut keys = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            let n = index + 1;
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.starts_with("AGE-PLUGIN-") {
                return Err(identity_error(
                    path,
                    format!("line {n} is an age plugin identity, which keyhelm does not support"),
                ));
            }
            if !line.starts_with("AGE-SECRET-KEY-1") {
                return Err(identity_error(
                    path,
                    format!("line {n} is not an age identity (expected AGE-SECRET-KEY-1...)"),
                ));
            }
            let key = age::x25519::Identity::from_str(line).map_err(|_| {
                identity_error(path, format!("line {n} holds a damaged age secret key"))
            })?;
            keys.push(key);
        }
        if keys.is_empty() {
            return Err(identity_error(path, "it contains no identity"));
        }
        Ok(Identity {
            keys: Keys::X25519(keys),
            public: OnceLock::new(),
        })
    }

    fn parse_ssh(text: &str, path: &Path) -> Result<Identity> {
        use age::ssh::{Identity as SshIdentity, UnsupportedKey};
        let key = SshIdentity::from_buffer(text.as_bytes(), Some(path.display().to_string()))
            .map_err(|_| identity_error(path, "it is not a valid OpenSSH private key"))?;
        match &key {
            SshIdentity::Unencrypted(_) => {}
            SshIdentity::Encrypted(_) | SshIdentity::Unsupported(UnsupportedKey::EncryptedPem) => {
                return Err(identity_error(
                    path,
                    "the SSH key is protected by a passphrase, which keyhelm does not support \
                     yet (use an age identity, or an SSH key without a passphrase)",
                ));
            }
            SshIdentity::Unsupported(UnsupportedKey::EncryptedSsh(_)) => {
                return Err(identity_error(
                    path,
                    "the SSH key is encrypted with an unsupported cipher",
                ));
            }
            SshIdentity::Unsupported(UnsupportedKey::Hardware(kind))
            | SshIdentity::Unsupported(UnsupportedKey::Type(kind)) => {
                return Err(identity_error(
                    path,
                    format!("SSH keys of type {kind} are not supported (use ssh-ed25519)"),
                ));
            }
        }
        let public = age::ssh::Recipient::try_from(key.clone())
            .map_err(|_| identity_error(path, "the SSH key's public half is not usable"))?
            .to_string();
        Ok(Identity {
            keys: Keys::Ssh(Box::new(key)),
            public: OnceLock::from(public),
        })
    }

    /// Writes the identity to `path` with mode 0600 (created exclusively; an existing file is an
    /// error), with `# created:` and `# public key:` comment lines like age-keygen. Missing
    /// folders are created with mode 0700.
    pub fn write_new(&self, path: &Path) -> Result<()> {
        let Keys::X25519(keys) = &self.keys else {
            return Err(identity_error(
                path,
                "only age identities can be written; an SSH key stays in its own file",
            ));
        };
        // Room for every line up front: a reallocation would leave a copy of a key behind.
        let mut text = Zeroizing::new(String::with_capacity(256 * keys.len()));
        let created = Utc::from_unix_ms(now_ms()).rfc3339_seconds();
        for key in keys {
            text.push_str("# created: ");
            text.push_str(&created);
            text.push_str("\n# public key: ");
            text.push_str(&key.to_public().to_string());
            text.push('\n');
            text.push_str(key.to_string().expose_secret());
            text.push('\n');
        }
        let dir = fsutil::parent_dir(path);
        fsutil::create_private_dir_all(dir)?;
        let mut file = fsutil::private_file_options()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| Error::io("cannot create", path, e))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::io("cannot write", path, e))?;
        fsutil::sync_dir(dir)
    }

    /// The public recipient string (`age1...` or `ssh-ed25519 ...`).
    pub fn public(&self) -> String {
        self.public
            .get_or_init(|| match &self.keys {
                // Never empty: `parse_age` and `generate` make at least one key.
                Keys::X25519(keys) => keys[0].to_public().to_string(),
                // Set when the key was read.
                Keys::Ssh(key) => age::ssh::Recipient::try_from(key.as_ref().clone())
                    .map(|r| r.to_string())
                    .unwrap_or_default(),
            })
            .clone()
    }

    /// Every public recipient string of this identity (an age identity file may hold several
    /// keys), in canonical form.
    pub fn publics(&self) -> Vec<String> {
        match &self.keys {
            Keys::X25519(keys) => keys.iter().map(|k| k.to_public().to_string()).collect(),
            Keys::Ssh(_) => vec![self.public()],
        }
    }

    /// The keys, for age's decryptor.
    pub(crate) fn for_decryption(&self) -> Vec<&dyn age::Identity> {
        match &self.keys {
            Keys::X25519(keys) => keys.iter().map(|k| k as &dyn age::Identity).collect(),
            Keys::Ssh(key) => vec![key.as_ref() as &dyn age::Identity],
        }
    }
}

fn identity_error(path: &Path, reason: impl Into<String>) -> Error {
    Error::Identity {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// A parsed recipient: the key age encrypts to, and its canonical text.
pub(crate) struct Recipient {
    pub key: Box<dyn age::Recipient + Send>,
    pub text: String,
}

/// Parses a recipient (`age1...`, `ssh-ed25519 AAAA... [comment]`, `ssh-rsa ...`).
pub(crate) fn parse_recipient(s: &str) -> Result<Recipient> {
    let s = s.trim();
    if s.starts_with("age1") {
        if let Ok(key) = age::x25519::Recipient::from_str(s) {
            return Ok(Recipient {
                text: key.to_string(),
                key: Box::new(key),
            });
        }
    } else if s.starts_with("ssh-")
        && let Ok(key) = age::ssh::Recipient::from_str(s)
    {
        return Ok(Recipient {
            text: key.to_string(),
            key: Box::new(key),
        });
    }
    Err(Error::InvalidRecipient(echo_safe(s)))
}

/// Brings a recipient string into the canonical form the vault stores (`age1...` in lower
/// case; `ssh-ed25519 <base64>` without its comment). Errors on anything that is not a
/// supported recipient.
pub fn normalize_recipient(s: &str) -> Result<String> {
    parse_recipient(s).map(|r| r.text)
}

/// The text of an invalid recipient for an error message: recipients are public and are
/// echoed, but a secret key pasted by mistake is not.
fn echo_safe(s: &str) -> String {
    let upper = s.to_ascii_uppercase();
    if upper.contains("SECRET-KEY")
        || upper.contains("PRIVATE KEY")
        || upper.contains("AGE-PLUGIN-")
    {
        "(a secret key, not a recipient: give its public key instead)".to_string()
    } else {
        let mut shown: String = s.chars().take(120).collect();
        if shown.len() < s.len() {
            shown.push_str("...");
        }
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn reason(err: Error) -> String {
        match err {
            Error::Identity { reason, .. } => reason,
            other => panic!("expected an identity error, got {other:?}"),
        }
    }

    #[test]
    fn written_identity_reads_back_like_age_keygen_output() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config/keyhelm/identity.txt");
        let id = Identity::generate();
        id.write_new(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("# created: 20"), "{text}");
        assert_eq!(lines[1], format!("# public key: {}", id.public()));
        assert!(lines[2].starts_with("AGE-SECRET-KEY-1"));
        let back = Identity::from_file(&path).unwrap();
        assert_eq!(back.public(), id.public());
        assert!(id.public().starts_with("age1"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(path.parent().unwrap()), 0o700);
        }
        // Never overwrites.
        let err = Identity::generate().write_new(&path).unwrap_err();
        assert!(
            matches!(&err, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists),
            "{err:?}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }

    #[test]
    fn comments_blank_lines_crlf_and_several_keys() {
        let dir = tempfile::tempdir().unwrap();
        let a = age::x25519::Identity::generate();
        let b = age::x25519::Identity::generate();
        let text = format!(
            "# my keys\r\n\r\n  {}  \r\n# second\n{}\n\n",
            a.to_string().expose_secret(),
            b.to_string().expose_secret()
        );
        let id = Identity::from_file(&write(dir.path(), "k", &text)).unwrap();
        assert_eq!(id.public(), a.to_public().to_string());
        assert_eq!(
            id.publics(),
            vec![a.to_public().to_string(), b.to_public().to_string()]
        );
        assert_eq!(id.for_decryption().len(), 2);
    }

    #[test]
    fn errors_give_the_line_and_never_the_content() {
        let dir = tempfile::tempdir().unwrap();
        let key = age::x25519::Identity::generate();
        let secret = key.to_string();
        let secret = secret.expose_secret();
        // A damaged key (last character changed) on line 3.
        let mut damaged = secret.to_string();
        let last = damaged.pop().unwrap();
        damaged.push(if last == 'Q' { 'P' } else { 'Q' });
        let cases = [
            (
                format!("# c\n\n{damaged}\n"),
                "line 3 holds a damaged age secret key",
                &damaged,
            ),
            (
                format!("# c\n{secret}\npassword=hunter2-secret\n"),
                "line 3 is not an age identity (expected AGE-SECRET-KEY-1...)",
                &"hunter2-secret".to_string(),
            ),
            (
                "AGE-PLUGIN-YUBIKEY-1QQQQQQ\n".to_string(),
                "line 1 is an age plugin identity, which keyhelm does not support",
                &"YUBIKEY-1QQQQQQ".to_string(),
            ),
            (
                "# only comments\n\n".to_string(),
                "it contains no identity",
                &"only".to_string(),
            ),
        ];
        for (text, expected, hidden) in cases {
            let path = write(dir.path(), "bad", &text);
            let err = Identity::from_file(&path).unwrap_err();
            let shown = err.to_string();
            assert!(!shown.contains(hidden.as_str()), "{shown}");
            assert!(!format!("{err:?}").contains(hidden.as_str()));
            assert_eq!(reason(err), expected);
            assert!(shown.contains(&path.display().to_string()), "{shown}");
        }
    }

    #[test]
    fn other_files_are_rejected_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("bin");
        std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x41]).unwrap();
        assert_eq!(
            reason(Identity::from_file(&binary).unwrap_err()),
            "it is not a text file (not valid UTF-8)"
        );
        let armored = write(
            dir.path(),
            "armored",
            "-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n",
        );
        assert_eq!(
            reason(Identity::from_file(&armored).unwrap_err()),
            "it is encrypted with a passphrase, which keyhelm does not support yet"
        );
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'#'; (MAX_IDENTITY_FILE + 1) as usize]).unwrap();
        assert_eq!(
            reason(Identity::from_file(&big).unwrap_err()),
            "it is larger than 1 MiB, too large for a key file"
        );
        let bad_ssh = write(
            dir.path(),
            "bad_ssh",
            "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
        );
        assert_eq!(
            reason(Identity::from_file(&bad_ssh).unwrap_err()),
            "it is not a valid OpenSSH private key"
        );
        let missing = Identity::from_file(&dir.path().join("nope")).unwrap_err();
        assert!(
            matches!(&missing, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
        );
        assert!(missing.to_string().starts_with("cannot read "), "{missing}");
    }

    fn ssh_keygen(dir: &Path, name: &str, kind: &str, passphrase: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        let status = Command::new("ssh-keygen")
            .args([
                "-q",
                "-t",
                kind,
                "-C",
                "alice@example",
                "-N",
                passphrase,
                "-f",
            ])
            .arg(&path)
            .status()
            .expect("ssh-keygen is installed");
        assert!(status.success());
        path
    }

    #[test]
    fn openssh_ed25519_key_from_ssh_keygen() {
        let dir = tempfile::tempdir().unwrap();
        let path = ssh_keygen(dir.path(), "id_ed25519", "ed25519", "");
        let id = Identity::from_file(&path).unwrap();
        let pub_line = std::fs::read_to_string(path.with_extension("pub")).unwrap();
        // The public key as ssh-keygen wrote it, without the comment.
        let expected: Vec<&str> = pub_line.split_whitespace().take(2).collect();
        assert_eq!(id.public(), expected.join(" "));
        assert_eq!(normalize_recipient(&pub_line).unwrap(), id.public());
        // Writing an SSH identity elsewhere is refused.
        assert_eq!(
            reason(id.write_new(&dir.path().join("copy")).unwrap_err()),
            "only age identities can be written; an SSH key stays in its own file"
        );
    }

    #[test]
    fn passphrase_protected_ssh_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = ssh_keygen(dir.path(), "id_locked", "ed25519", "correct horse");
        assert_eq!(
            reason(Identity::from_file(&path).unwrap_err()),
            "the SSH key is protected by a passphrase, which keyhelm does not support yet (use \
             an age identity, or an SSH key without a passphrase)"
        );
    }

    #[test]
    fn unsupported_ssh_key_type_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = ssh_keygen(dir.path(), "id_ecdsa", "ecdsa", "");
        assert_eq!(
            reason(Identity::from_file(&path).unwrap_err()),
            "SSH keys of type ecdsa-sha2-nistp256 are not supported (use ssh-ed25519)"
        );
    }

    #[test]
    fn recipients_are_normalized_and_secrets_never_echoed() {
        let key = age::x25519::Identity::generate();
        let public = key.to_public().to_string();
        assert_eq!(
            normalize_recipient(&format!("  {public}\n")).unwrap(),
            public
        );
        let err = normalize_recipient("foobar").unwrap_err();
        assert_eq!(err.to_string(), "invalid recipient 'foobar'");
        let secret = key.to_string();
        let err = normalize_recipient(secret.expose_secret()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid recipient '(a secret key, not a recipient: give its public key instead)'"
        );
        let long = "x".repeat(500);
        assert_eq!(
            normalize_recipient(&long).unwrap_err().to_string(),
            format!("invalid recipient '{}...'", "x".repeat(120))
        );
        assert!(normalize_recipient("ssh-ed25519 AAAAnotbase64!!").is_err());
    }
}
