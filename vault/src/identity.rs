//! This device's identity (the secret key that opens the vault) and recipient parsing.
//!
//! An identity file is either plain (age `AGE-SECRET-KEY-1...` lines, or an OpenSSH key) or
//! protected by a passphrase: the plain text encrypted with age's scrypt recipient, ASCII
//! armored, exactly what `age -p -a` writes around a key file. [`protect`] writes one,
//! [`unlock`] opens one; both take an explicit scrypt work factor (never age's calibrated
//! default). Opening one costs seconds by design, so a running keyhelm agent holds the
//! unlocked key and the vault is opened through [`Identity::external`].

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
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
/// (ed25519, or RSA of 2048 to 4096 bits). `Debug` shows only the public key.
pub struct Identity {
    keys: Keys,
    /// The public key's text, computed when first asked for: a lookup never needs it, and
    /// deriving an X25519 public key costs a scalar multiplication.
    public: OnceLock<String>,
}

enum Keys {
    X25519(Vec<age::x25519::Identity>),
    Ssh(Box<age::ssh::Identity>),
    /// The key lives in another process (the keyhelm agent); this only forwards stanzas.
    External {
        key: Box<dyn age::Identity + Send + Sync>,
        publics: Vec<String>,
    },
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
            Some(line) if is_encrypted_line(line) => Err(identity_error(
                path,
                "it is encrypted with a passphrase: unlock it first (keyhelm unlock)",
            )),
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
            // age reads only some ciphers, but keyhelm refuses every protected SSH key: naming
            // the cipher would send the user to re-encrypt it with another one, to no avail.
            SshIdentity::Unsupported(UnsupportedKey::EncryptedSsh(cipher)) => {
                return Err(identity_error(
                    path,
                    format!(
                        "the SSH key is protected by a passphrase (cipher {cipher}), which \
                         keyhelm does not support yet (use an age identity, or an SSH key \
                         without a passphrase)"
                    ),
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
            .map_err(|e| match e {
                age::ssh::ParseRecipientKeyError::RsaModulusTooLarge => identity_error(
                    path,
                    "the SSH key is an RSA key larger than 4096 bits, which age cannot use \
                     (use ssh-ed25519, or an RSA key of 2048 to 4096 bits)",
                ),
                _ => identity_error(path, "the SSH key's public half is not usable"),
            })?
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
        let text = self.secret_text(path)?;
        write_new_private(path, text.expose_secret().as_bytes())
    }

    /// The text of an identity file holding this identity, as [`Identity::write_new`] writes
    /// it. Only age identities have one; `origin` names the identity in errors.
    pub fn secret_text(&self, origin: &Path) -> Result<SecretString> {
        let Keys::X25519(keys) = &self.keys else {
            return Err(identity_error(
                origin,
                "only age identities can be written; an SSH key stays in its own file",
            ));
        };
        // Room for every line up front: a reallocation would leave a copy of a key behind.
        let mut text = String::with_capacity(256 * keys.len());
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
        Ok(exact_secret(Zeroizing::new(text)))
    }

    /// An identity whose key is held elsewhere, typically by the keyhelm agent: `key` is asked
    /// to unwrap the vault's file key, and `publics` are its public recipients (in the form
    /// [`normalize_recipient`] gives). `origin` names the identity in errors.
    ///
    /// When `key` cannot reach its holder it should return `age::DecryptError::Io`: opening
    /// the vault then fails with [`Error::Io`] carrying that error (not with a "damaged vault"
    /// error), so the caller can tell the user to unlock again.
    pub fn external(
        origin: &Path,
        publics: Vec<String>,
        key: Box<dyn age::Identity + Send + Sync>,
    ) -> Result<Identity> {
        let publics = publics
            .iter()
            .map(|p| normalize_recipient(p))
            .collect::<Result<Vec<_>>>()?;
        let Some(first) = publics.first() else {
            return Err(identity_error(origin, "it holds no key"));
        };
        Ok(Identity {
            public: OnceLock::from(first.clone()),
            keys: Keys::External { key, publics },
        })
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
                // Set when the identity was made.
                Keys::External { publics, .. } => publics[0].clone(),
            })
            .clone()
    }

    /// Every public recipient string of this identity (an age identity file may hold several
    /// keys), in canonical form.
    pub fn publics(&self) -> Vec<String> {
        match &self.keys {
            Keys::X25519(keys) => keys.iter().map(|k| k.to_public().to_string()).collect(),
            Keys::Ssh(_) => vec![self.public()],
            Keys::External { publics, .. } => publics.clone(),
        }
    }

    /// The keys, for age's decryptor.
    pub(crate) fn for_decryption(&self) -> Vec<&dyn age::Identity> {
        match &self.keys {
            Keys::X25519(keys) => keys.iter().map(|k| k as &dyn age::Identity).collect(),
            Keys::Ssh(key) => vec![key.as_ref() as &dyn age::Identity],
            Keys::External { key, .. } => vec![key.as_ref() as &dyn age::Identity],
        }
    }
}

/// The identity unwraps file keys itself: the keyhelm agent serves lookups with it.
impl age::Identity for Identity {
    fn unwrap_stanza(
        &self,
        stanza: &age_core::format::Stanza,
    ) -> Option<std::result::Result<age_core::format::FileKey, age::DecryptError>> {
        self.unwrap_stanzas(std::slice::from_ref(stanza))
    }

    fn unwrap_stanzas(
        &self,
        stanzas: &[age_core::format::Stanza],
    ) -> Option<std::result::Result<age_core::format::FileKey, age::DecryptError>> {
        self.for_decryption()
            .into_iter()
            .find_map(|key| key.unwrap_stanzas(stanzas))
    }
}

/// Whether the first meaningful line of an identity file says it is age-encrypted.
fn is_encrypted_line(line: &str) -> bool {
    line.starts_with("-----BEGIN AGE ENCRYPTED FILE-----")
        || line.starts_with("age-encryption.org/")
}

/// Whether identity file bytes are passphrase-protected (an age file, armored or binary) rather
/// than plain key lines. Looks only at the first non-blank line.
pub fn is_protected(bytes: &[u8]) -> bool {
    if bytes.starts_with(b"age-encryption.org/") {
        return true;
    }
    let Some(line) = bytes
        .split(|&b| b == b'\n')
        .map(|l| l.trim_ascii())
        .find(|l| !l.is_empty())
    else {
        return false;
    };
    std::str::from_utf8(line).is_ok_and(is_encrypted_line)
}

/// The scrypt work factor (log2 of N) [`protect`] uses unless told otherwise: about one second
/// and 256 MiB on a 2026 laptop (age's research notes: 1.1 s measured).
pub const DEFAULT_WORK_FACTOR: u8 = 18;
/// The smallest work factor [`protect`] accepts (2^10: milliseconds; for tests and very slow
/// devices, with a correspondingly weak protection).
pub const MIN_WORK_FACTOR: u8 = 10;
/// The largest work factor [`protect`] writes and [`unlock`] accepts: 2^20 needs 1 GiB and
/// several seconds; more would let a crafted file exhaust memory and time.
pub const MAX_WORK_FACTOR: u8 = 20;

/// Why a protected identity file could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UnlockError {
    /// The passphrase does not open the file.
    #[error("wrong passphrase for the identity file {}", path.display())]
    WrongPassphrase { path: PathBuf },
    /// The file asks for more scrypt work than keyhelm accepts.
    #[error(
        "the identity file {} needs scrypt work factor {required}, more than the {max} keyhelm \
         accepts",
        path.display()
    )]
    ExcessiveWork {
        path: PathBuf,
        required: u8,
        max: u8,
    },
    /// Anything else: the file is damaged, or its content is not an identity.
    #[error(transparent)]
    Identity(#[from] Error),
}

/// Encrypts the text of an identity file with `passphrase` (age scrypt recipient, work factor
/// `work_factor`, ASCII armor): the bytes of a protected identity file. The text must hold an
/// identity. `origin` names it in errors.
pub fn protect(
    text: &SecretString,
    passphrase: SecretString,
    work_factor: u8,
    origin: &Path,
) -> Result<Vec<u8>> {
    Identity::from_secret_text(text, origin)?;
    if !(MIN_WORK_FACTOR..=MAX_WORK_FACTOR).contains(&work_factor) {
        return Err(identity_error(
            origin,
            format!(
                "the scrypt work factor must be between {MIN_WORK_FACTOR} and \
                 {MAX_WORK_FACTOR}, not {work_factor}"
            ),
        ));
    }
    let mut recipient = age::scrypt::Recipient::new(passphrase);
    recipient.set_work_factor(work_factor);
    let encrypt_error = |e: &dyn std::fmt::Display| Error::Encrypt {
        reason: e.to_string(),
    };
    let encryptor = age::Encryptor::with_recipients(std::iter::once(&recipient as _))
        .map_err(|e| encrypt_error(&e))?;
    let mut out = Vec::with_capacity(text.expose_secret().len() * 2 + 512);
    let armored = age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)
        .map_err(|e| encrypt_error(&e))?;
    let mut writer = encryptor
        .wrap_output(armored)
        .map_err(|e| encrypt_error(&e))?;
    writer
        .write_all(text.expose_secret().as_bytes())
        .and_then(|()| writer.finish())
        .and_then(|armored| armored.finish())
        .map_err(|e| encrypt_error(&e))?;
    Ok(out)
}

/// Opens a protected identity file's bytes with `passphrase`, accepting a scrypt work factor up
/// to `max_work_factor`: the identity and the plain text of the file (for handing to an agent).
/// `origin` names the file in errors.
pub fn unlock(
    bytes: &[u8],
    passphrase: SecretString,
    max_work_factor: u8,
    origin: &Path,
) -> std::result::Result<(Identity, SecretString), UnlockError> {
    let damaged = |reason: &str| UnlockError::Identity(identity_error(origin, reason));
    let reader = age::armor::ArmoredReader::new(bytes);
    let decryptor = age::Decryptor::new(reader)
        .map_err(|_| damaged("it is not a valid passphrase-protected age file"))?;
    if !decryptor.is_scrypt() {
        return Err(damaged(
            "it is an age file encrypted to keys, not to a passphrase",
        ));
    }
    let mut scrypt = age::scrypt::Identity::new(passphrase);
    scrypt.set_max_work_factor(max_work_factor);
    let mut reader = decryptor
        .decrypt(std::iter::once(&scrypt as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::DecryptionFailed | age::DecryptError::KeyDecryptionFailed => {
                UnlockError::WrongPassphrase {
                    path: origin.to_path_buf(),
                }
            }
            age::DecryptError::ExcessiveWork { required, .. } => UnlockError::ExcessiveWork {
                path: origin.to_path_buf(),
                required,
                max: max_work_factor,
            },
            _ => damaged("its age header is damaged"),
        })?;
    // The plain text is shorter than the file: a buffer of the file's size never reallocates.
    let mut plain = Zeroizing::new(vec![0u8; bytes.len()]);
    let mut filled = 0;
    loop {
        if filled == plain.len() {
            return Err(damaged("its content is larger than the file"));
        }
        match reader.read(&mut plain[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Err(damaged("its encrypted content is truncated or damaged")),
        }
    }
    let text = std::str::from_utf8(&plain[..filled])
        .map_err(|_| damaged("its content is not text (not valid UTF-8)"))?;
    let text = exact_secret(Zeroizing::new(text.to_owned()));
    let identity = Identity::from_secret_text(&text, origin)?;
    Ok((identity, text))
}

/// A `SecretString` from a zeroized string without leaving a copy behind: the string is first
/// copied into an allocation of exactly its length (turning a `String` with spare capacity into
/// a `Box<str>` would reallocate and leave the old buffer unzeroized).
fn exact_secret(text: Zeroizing<String>) -> SecretString {
    let mut exact = String::with_capacity(text.len());
    exact.push_str(&text);
    SecretString::from(exact)
}

/// Creates `path` exclusively with mode 0600 (folders 0700) and writes `bytes` durably.
pub fn write_new_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = fsutil::parent_dir(path);
    fsutil::create_private_dir_all(dir)?;
    // Written in full to a private temporary file, then linked into place only if nothing is
    // there: a reader never sees half a key, and two processes creating it at once (the first
    // `store`s of a new device) cannot both win.
    let mut tmp = fsutil::temp_file(dir, ".identity.")?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| Error::io("cannot write", path, e))?;
    match tmp.persist_noclobber(path) {
        Ok(_) => fsutil::sync_dir(dir),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(Error::AlreadyExists {
                path: path.to_path_buf(),
            })
        }
        Err(e) => Err(Error::io("cannot create", path, e.error)),
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

    fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
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
        assert!(matches!(&err, Error::AlreadyExists { .. }), "{err:?}");
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
        let cases: [(&str, Vec<u8>, &str); 4] = [
            (
                "bin",
                vec![0xff, 0xfe, 0x00, 0x41],
                "it is not a text file (not valid UTF-8)",
            ),
            (
                "armored",
                b"-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n"
                    .to_vec(),
                "it is encrypted with a passphrase: unlock it first (keyhelm unlock)",
            ),
            (
                "big",
                vec![b'#'; (MAX_IDENTITY_FILE + 1) as usize],
                "it is larger than 1 MiB, too large for a key file",
            ),
            (
                "bad_ssh",
                b"-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
                    .to_vec(),
                "it is not a valid OpenSSH private key",
            ),
        ];
        for (name, contents, expected) in cases {
            let path = write(dir.path(), name, contents);
            assert_eq!(
                reason(Identity::from_file(&path).unwrap_err()),
                expected,
                "{name}"
            );
        }
        let missing = Identity::from_file(&dir.path().join("nope")).unwrap_err();
        assert!(
            matches!(&missing, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
        );
        assert!(missing.to_string().starts_with("cannot read "), "{missing}");
    }

    /// `ssh-keygen -t kind -N passphrase` with `extra` arguments: the private key's path.
    fn ssh_keygen(
        dir: &Path,
        name: &str,
        kind: &str,
        passphrase: &str,
        extra: &[&str],
    ) -> std::path::PathBuf {
        let path = dir.join(name);
        let status = Command::new("ssh-keygen")
            .args(["-q", "-t", kind, "-C", "alice@example", "-N", passphrase])
            .args(extra)
            .arg("-f")
            .arg(&path)
            .status()
            .expect("ssh-keygen is installed");
        assert!(status.success());
        path
    }

    #[test]
    fn openssh_ed25519_key_from_ssh_keygen() {
        let dir = tempfile::tempdir().unwrap();
        let path = ssh_keygen(dir.path(), "id_ed25519", "ed25519", "", &[]);
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
        let path = ssh_keygen(dir.path(), "id_locked", "ed25519", "correct horse", &[]);
        assert_eq!(
            reason(Identity::from_file(&path).unwrap_err()),
            "the SSH key is protected by a passphrase, which keyhelm does not support yet (use \
             an age identity, or an SSH key without a passphrase)"
        );
    }

    #[test]
    fn ssh_key_protected_with_a_cipher_age_cannot_read_is_refused_like_any_protected_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = ssh_keygen(
            dir.path(),
            "id_chacha",
            "ed25519",
            "pass phrase",
            &["-Z", "chacha20-poly1305@openssh.com"],
        );
        assert_eq!(
            reason(Identity::from_file(&path).unwrap_err()),
            "the SSH key is protected by a passphrase (cipher chacha20-poly1305@openssh.com), \
             which keyhelm does not support yet (use an age identity, or an SSH key without a \
             passphrase)"
        );
    }

    #[test]
    fn an_rsa_key_too_large_for_age_is_named() {
        let dir = tempfile::tempdir().unwrap();
        // Just over age's 4096-bit limit: larger keys take ssh-keygen far longer to make.
        let path = ssh_keygen(dir.path(), "id_rsa", "rsa", "", &["-b", "4104"]);
        assert_eq!(
            reason(Identity::from_file(&path).unwrap_err()),
            "the SSH key is an RSA key larger than 4096 bits, which age cannot use (use \
             ssh-ed25519, or an RSA key of 2048 to 4096 bits)"
        );
    }

    #[test]
    fn unsupported_ssh_key_type_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = ssh_keygen(dir.path(), "id_ecdsa", "ecdsa", "", &[]);
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

    fn pw(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    /// The scrypt stanza's arguments (salt, work factor) of a protected file.
    fn scrypt_args(bytes: &[u8]) -> Vec<String> {
        let mut armored = age::armor::ArmoredReader::new(bytes);
        let mut binary = Vec::new();
        armored.read_to_end(&mut binary).unwrap();
        let header = String::from_utf8_lossy(&binary);
        let line = header
            .lines()
            .find(|l| l.starts_with("-> scrypt "))
            .expect("a scrypt stanza");
        line.split(' ').skip(2).map(str::to_owned).collect()
    }

    #[test]
    fn protected_identity_round_trip_with_an_explicit_work_factor() {
        let dir = tempfile::tempdir().unwrap();
        let origin = dir.path().join("identity.txt");
        let id = Identity::generate();
        let text = id.secret_text(&origin).unwrap();
        let bytes = protect(&text, pw("correct horse"), MIN_WORK_FACTOR, &origin).unwrap();
        let armored = std::str::from_utf8(&bytes).unwrap();
        assert!(
            armored.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"),
            "{armored}"
        );
        assert!(
            armored
                .trim_end()
                .ends_with("-----END AGE ENCRYPTED FILE-----")
        );
        assert!(!armored.contains("AGE-SECRET-KEY"));
        assert!(is_protected(&bytes));
        assert!(!is_protected(text.expose_secret().as_bytes()));
        assert!(is_protected(b"\n  age-encryption.org/v1\n"));
        assert!(!is_protected(b""));
        // The work factor is the one asked for, not age's calibrated default.
        let args = scrypt_args(&bytes);
        assert_eq!(args.len(), 2, "{args:?}");
        assert_eq!(args[1], MIN_WORK_FACTOR.to_string());
        let (back, plain) = unlock(&bytes, pw("correct horse"), MAX_WORK_FACTOR, &origin).unwrap();
        assert_eq!(back.public(), id.public());
        assert_eq!(plain.expose_secret(), text.expose_secret());
        // A plain parse of the file says what to do.
        std::fs::write(&origin, &bytes).unwrap();
        assert_eq!(
            reason(Identity::from_file(&origin).unwrap_err()),
            "it is encrypted with a passphrase: unlock it first (keyhelm unlock)"
        );
    }

    #[test]
    fn unlock_errors_are_typed_and_never_show_the_passphrase() {
        let origin = Path::new("/k/identity.txt");
        let text = Identity::generate().secret_text(origin).unwrap();
        let bytes = protect(&text, pw("right-one"), 11, origin).unwrap();

        let err = unlock(&bytes, pw("wrong-one"), MAX_WORK_FACTOR, origin).unwrap_err();
        assert!(
            matches!(err, UnlockError::WrongPassphrase { .. }),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "wrong passphrase for the identity file /k/identity.txt"
        );
        assert!(!format!("{err:?}").contains("wrong-one"));

        let err = unlock(&bytes, pw("right-one"), 10, origin).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the identity file /k/identity.txt needs scrypt work factor 11, more than the 10 \
             keyhelm accepts"
        );

        let mut damaged = bytes.clone();
        let at = damaged.len() / 2;
        damaged[at] = if damaged[at] == b'A' { b'B' } else { b'A' };
        let err = unlock(&damaged, pw("right-one"), MAX_WORK_FACTOR, origin).unwrap_err();
        assert!(matches!(err, UnlockError::Identity(_)), "{err:?}");

        // Files that are not whole protected identities: each names its damage.
        let to_passphrase = |plain: &[u8]| {
            let mut r = age::scrypt::Recipient::new(pw("p"));
            r.set_work_factor(10);
            let mut out = Vec::new();
            let armored =
                age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)
                    .unwrap();
            let mut w = age::Encryptor::with_recipients(std::iter::once(&r as &dyn age::Recipient))
                .unwrap()
                .wrap_output(armored)
                .unwrap();
            w.write_all(plain).unwrap();
            w.finish().and_then(|a| a.finish()).unwrap();
            out
        };
        let whole = to_passphrase(text.expose_secret().as_bytes());
        let binary = {
            let mut r = age::armor::ArmoredReader::new(&whole[..]);
            let mut b = Vec::new();
            r.read_to_end(&mut b).unwrap();
            b
        };
        let cases: [(&str, Vec<u8>, &str); 3] = [
            (
                "not age",
                b"hello, I am not an identity\n".to_vec(),
                "it is not a valid passphrase-protected age file",
            ),
            (
                "cut short",
                binary[..binary.len() - 10].to_vec(),
                "its encrypted content is truncated or damaged",
            ),
            (
                "not text",
                to_passphrase(&[0xff, 0xfe, 0x41]),
                "its content is not text (not valid UTF-8)",
            ),
        ];
        for (name, bytes, expected) in cases {
            let err = unlock(&bytes, pw("p"), MAX_WORK_FACTOR, origin).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("the identity file /k/identity.txt is not usable: {expected}"),
                "{name}"
            );
        }

        // An age file encrypted to a key is not a protected identity.
        let key = age::x25519::Identity::generate();
        let to_key = age::encrypt(&key.to_public(), b"AGE-SECRET-KEY-1").unwrap();
        let err = unlock(&to_key, pw("x"), MAX_WORK_FACTOR, origin).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the identity file /k/identity.txt is not usable: it is an age file encrypted to \
             keys, not to a passphrase"
        );

        // Content that is not an identity is refused with its line, never shown.
        let junk = protect(&text, pw("p"), 10, origin).unwrap();
        let (_, plain) = unlock(&junk, pw("p"), 10, origin).unwrap();
        assert!(plain.expose_secret().contains("AGE-SECRET-KEY-1"));
        let not_identity = {
            let mut r = age::scrypt::Recipient::new(pw("p"));
            r.set_work_factor(10);
            age::encrypt(&r, b"password=hunter2\n").unwrap()
        };
        let err = unlock(&not_identity, pw("p"), 10, origin).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the identity file /k/identity.txt is not usable: line 1 is not an age identity \
             (expected AGE-SECRET-KEY-1...)"
        );
        assert!(!format!("{err:?}").contains("hunter2"));
    }

    #[test]
    fn protect_refuses_bad_work_factors_and_non_identities() {
        let origin = Path::new("/k/identity.txt");
        let text = Identity::generate().secret_text(origin).unwrap();
        for wf in [0, MIN_WORK_FACTOR - 1, MAX_WORK_FACTOR + 1, 63] {
            let err = protect(&text, pw("p"), wf, origin).unwrap_err();
            assert_eq!(
                reason(err),
                format!("the scrypt work factor must be between 10 and 20, not {wf}")
            );
        }
        assert!(protect(&pw("not a key"), pw("p"), 10, origin).is_err());
        assert_eq!(DEFAULT_WORK_FACTOR, 18);
    }

    /// Forwards to a key, as the agent's client does over its socket; or fails like a client
    /// whose agent went away.
    struct Forward(Option<age::x25519::Identity>);

    impl age::Identity for Forward {
        fn unwrap_stanza(
            &self,
            stanza: &age_core::format::Stanza,
        ) -> Option<std::result::Result<age_core::format::FileKey, age::DecryptError>> {
            match &self.0 {
                Some(key) => key.unwrap_stanza(stanza),
                None => Some(Err(age::DecryptError::Io(std::io::Error::other(
                    "the agent went away",
                )))),
            }
        }
    }

    #[test]
    fn an_external_identity_opens_the_vault_and_its_failures_are_not_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let key = age::x25519::Identity::generate();
        let public = key.to_public().to_string();
        let location = crate::Location {
            file: dir.path().join("vault.age"),
            state_dir: dir.path().join("state"),
        };
        let device = crate::DeviceId([7; 16]);
        let origin = dir.path().join("identity.txt");
        let external = Identity::external(
            &origin,
            vec![format!(" {public} ")],
            Box::new(Forward(Some(key.clone()))),
        )
        .unwrap();
        assert_eq!(external.public(), public);
        assert_eq!(external.publics(), vec![public.clone()]);
        assert!(format!("{external:?}").contains(&public));
        let vault = crate::Vault::new(location.clone(), external, device);
        vault.create().unwrap();
        vault.read().unwrap();

        let gone = Identity::external(&origin, vec![public.clone()], Box::new(Forward(None)));
        let vault = crate::Vault::new(location.clone(), gone.unwrap(), device);
        let err = vault.read().unwrap_err();
        assert!(
            matches!(&err, Error::Io { source, .. } if source.to_string() == "the agent went away"),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "cannot unwrap the file key of {}: the agent went away",
                location.file.display()
            )
        );

        let err = Identity::external(&origin, vec![], Box::new(Forward(None))).unwrap_err();
        assert_eq!(reason(err), "it holds no key");
        let err = Identity::external(&origin, vec!["nope".into()], Box::new(Forward(None)));
        assert_eq!(err.unwrap_err().to_string(), "invalid recipient 'nope'");
    }

    #[test]
    fn an_identity_unwraps_file_keys_itself() {
        use age::Identity as _;
        let key = age::x25519::Identity::generate();
        let other = age::x25519::Identity::generate();
        let text = SecretString::from(format!(
            "{}\n{}\n",
            other.to_string().expose_secret(),
            key.to_string().expose_secret()
        ));
        let id = Identity::from_secret_text(&text, Path::new("k")).unwrap();
        let file = age::encrypt(&key.to_public(), b"payload").unwrap();
        // Through the trait: what the agent does with the stanzas a client sends.
        assert_eq!(age::decrypt(&id, &file).unwrap(), b"payload");
        let stranger =
            age::encrypt(&age::x25519::Identity::generate().to_public(), b"payload").unwrap();
        assert!(matches!(
            age::decrypt(&id, &stranger),
            Err(age::DecryptError::NoMatchingKeys)
        ));
        let stanza = age_core::format::Stanza {
            tag: "X25519".into(),
            args: vec![],
            body: vec![],
        };
        // A malformed X25519 stanza is an error, not "not mine".
        assert!(matches!(id.unwrap_stanza(&stanza), Some(Err(_))));
    }
}
