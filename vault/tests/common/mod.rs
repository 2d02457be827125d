//! Shared helpers for keyhelm-vault's end-to-end tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use keyhelm_vault::{Credential, CredentialKey, DeviceId, Identity, Location, Vault};
use secrecy::ExposeSecret;

/// One device's setup in a temporary folder: identity file, state folder, vault file.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub identity_file: PathBuf,
    pub location: Location,
}

impl Setup {
    pub fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let identity_file = dir.path().join("config/identity.txt");
        Identity::generate().write_new(&identity_file).unwrap();
        let location = Location {
            file: dir.path().join("data/vault/vault.age"),
            state_dir: dir.path().join("state/keyhelm"),
        };
        Setup {
            dir,
            identity_file,
            location,
        }
    }

    /// A vault handle, as a new process would build it.
    pub fn vault(&self) -> Vault {
        let identity = Identity::from_file(&self.identity_file).unwrap();
        let device = DeviceId::load_or_create(&self.location.state_dir).unwrap();
        Vault::new(self.location.clone(), identity, device)
    }

    pub fn file(&self) -> &Path {
        &self.location.file
    }

    pub fn bytes(&self) -> Vec<u8> {
        std::fs::read(self.file()).unwrap()
    }
}

pub fn key(host: &str, username: Option<&str>) -> CredentialKey {
    CredentialKey {
        protocol: "https".into(),
        host: host.into(),
        path: None,
        username: username.map(Into::into),
    }
}

pub fn credential(host: &str, username: Option<&str>, password: &str) -> Credential {
    Credential {
        key: key(host, username),
        password: Some(password.into()),
        password_expiry_utc: None,
        oauth_refresh_token: None,
        authtype: None,
        credential: None,
    }
}

pub fn password(c: &Credential) -> &str {
    c.password.as_ref().unwrap().expose_secret()
}

/// Stores one credential in its own update.
pub fn store(vault: &Vault, host: &str, password_text: &str) {
    vault
        .update(|s| {
            s.put_credential(credential(host, Some("u"), password_text));
            Ok::<_, keyhelm_vault::Error>(())
        })
        .unwrap();
}

#[cfg(unix)]
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The `vault-writer` example, built once for this test run's profile.
pub fn writer_exe() -> PathBuf {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        // target/<profile>/deps/<this test> -> target/<profile>/examples/vault-writer
        let deps = std::env::current_exe()
            .unwrap()
            .parent()
            .unwrap()
            .to_path_buf();
        let profile_dir = deps.parent().unwrap().to_path_buf();
        let mut build = Command::new(env!("CARGO"));
        build.args([
            "build",
            "--quiet",
            "-p",
            "keyhelm-vault",
            "--example",
            "vault-writer",
        ]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "building the vault-writer example failed");
        let exe = profile_dir
            .join("examples")
            .join(format!("vault-writer{}", std::env::consts::EXE_SUFFIX));
        assert!(exe.exists(), "{} is missing", exe.display());
        exe
    })
    .clone()
}

/// A command that runs the writer for this setup.
pub fn writer(setup: &Setup, prefix: &str, count: u64) -> Command {
    let mut cmd = Command::new(writer_exe());
    cmd.arg(setup.file())
        .arg(&setup.location.state_dir)
        .arg(&setup.identity_file)
        .arg(prefix)
        .arg(count.to_string());
    cmd
}

/// A random number below `n` from the OS.
pub fn random_below(n: u64) -> u64 {
    getrandom::u64().unwrap() % n
}
