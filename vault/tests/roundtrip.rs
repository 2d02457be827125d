//! End to end: entries written through `Vault::update` read back through `Vault::read`.

mod common;

use std::collections::BTreeMap;

use common::*;
use keyhelm_vault::{Account, CachedToken, Credential, CredentialKey, Error, Identity, Vault};
use secrecy::{ExposeSecret, SecretString};

type R<T> = Result<T, Error>;

fn account() -> Account {
    Account {
        name: "work".into(),
        provider: "intralinks".into(),
        url: "https://api.example.com".into(),
        matches: vec!["https://git.example.com".into()],
        settings: BTreeMap::from([("region".to_string(), "eu".to_string())]),
        secrets: BTreeMap::from([(
            "client_secret".to_string(),
            SecretString::from("account-secret-4711"),
        )]),
    }
}

fn token() -> CachedToken {
    CachedToken {
        account: "work".into(),
        secret: "token-secret-4711".into(),
        username: Some("x-access-token".into()),
        authtype: Some("Bearer".into()),
        expires_at: Some(1_900_000_000),
        obtained_at: 1_700_000_000,
        info: serde_json::json!({"scopes": ["repo"]}),
    }
}

#[test]
fn every_entry_kind_round_trips() {
    let setup = Setup::new();
    let vault = setup.vault();
    vault
        .update(|s| {
            s.put_credential(Credential {
                key: CredentialKey {
                    protocol: "https".into(),
                    host: "git.example.com:8443".into(),
                    path: Some("org/repo.git".into()),
                    username: Some("alice".into()),
                },
                password: Some("password-secret-4711".into()),
                password_expiry_utc: Some(1_900_000_000),
                oauth_refresh_token: Some("refresh-secret-4711".into()),
                authtype: Some("Basic".into()),
                credential: Some("credential-secret-4711".into()),
            });
            s.put_account(account());
            s.put_token(token());
            s.put_plugin_state("work", SecretString::from(r#"{"rt":"state-secret-4711"}"#));
            R::Ok(())
        })
        .unwrap();

    // A new handle, as the next process would open it.
    let s = setup.vault().read().unwrap();
    assert_eq!(s.len(), 4);
    let c = s.credentials().next().unwrap();
    assert_eq!(c.key.host, "git.example.com:8443");
    assert_eq!(c.key.path.as_deref(), Some("org/repo.git"));
    assert_eq!(c.key.username.as_deref(), Some("alice"));
    assert_eq!(password(c), "password-secret-4711");
    assert_eq!(c.password_expiry_utc, Some(1_900_000_000));
    assert_eq!(
        c.oauth_refresh_token.as_ref().unwrap().expose_secret(),
        "refresh-secret-4711"
    );
    assert_eq!(c.authtype.as_deref(), Some("Basic"));
    assert_eq!(
        c.credential.as_ref().unwrap().expose_secret(),
        "credential-secret-4711"
    );
    let a = s.account("work").unwrap();
    assert_eq!(a.provider, "intralinks");
    assert_eq!(a.matches, ["https://git.example.com"]);
    assert_eq!(a.settings["region"], "eu");
    assert_eq!(
        a.secrets["client_secret"].expose_secret(),
        "account-secret-4711"
    );
    assert_eq!(s.accounts().count(), 1);
    let t = s.token("work").unwrap();
    assert_eq!(t.secret.expose_secret(), "token-secret-4711");
    assert_eq!(t.username.as_deref(), Some("x-access-token"));
    assert_eq!(t.authtype.as_deref(), Some("Bearer"));
    assert_eq!(
        (t.expires_at, t.obtained_at),
        (Some(1_900_000_000), 1_700_000_000)
    );
    assert_eq!(t.info, serde_json::json!({"scopes": ["repo"]}));
    assert_eq!(
        s.plugin_state("work").unwrap().expose_secret(),
        r#"{"rt":"state-secret-4711"}"#
    );
    assert!(s.account("other").is_none() && s.token("other").is_none());
    assert!(s.plugin_state("other").is_none());

    // The file holds no secret, and no host name either: everything is inside the encryption.
    let bytes = setup.bytes();
    for needle in [
        "password-secret-4711",
        "refresh-secret-4711",
        "credential-secret-4711",
        "account-secret-4711",
        "token-secret-4711",
        "state-secret-4711",
        "git.example.com",
        "intralinks",
    ] {
        assert!(
            !contains(&bytes, needle.as_bytes()),
            "{needle} is in the vault file"
        );
    }
    assert!(
        bytes.starts_with(b"age-encryption.org/v1\n"),
        "binary age, not armored"
    );
}

#[test]
fn absent_and_empty_attributes_are_different_keys() {
    let setup = Setup::new();
    let vault = setup.vault();
    let variants = [
        (None, None),
        (Some(""), None),
        (None, Some("")),
        (Some(""), Some("")),
    ];
    vault
        .update(|s| {
            for (i, (path, username)) in variants.iter().enumerate() {
                s.put_credential(Credential {
                    key: CredentialKey {
                        protocol: "cert".into(),
                        host: "".into(),
                        path: path.map(Into::into),
                        username: username.map(Into::into),
                    },
                    password: Some(format!("pw{i}").into()),
                    password_expiry_utc: None,
                    oauth_refresh_token: None,
                    authtype: None,
                    credential: None,
                });
            }
            R::Ok(())
        })
        .unwrap();
    let s = vault.read().unwrap();
    assert_eq!(s.credentials().count(), 4);
    for (i, (path, username)) in variants.iter().enumerate() {
        let key = CredentialKey {
            protocol: "cert".into(),
            host: "".into(),
            path: path.map(Into::into),
            username: username.map(Into::into),
        };
        assert_eq!(password(s.credential(&key).unwrap()), format!("pw{i}"));
    }
}

#[test]
fn deletes_leave_tombstones_and_every_kind_can_be_removed() {
    let setup = Setup::new();
    let vault = setup.vault();
    vault
        .update(|s| {
            s.put_credential(credential("a.example", Some("u"), "pw"));
            s.put_account(account());
            s.put_token(token());
            s.put_plugin_state("work", SecretString::from("{}"));
            R::Ok(())
        })
        .unwrap();
    let removed = vault
        .update(|s| {
            R::Ok([
                s.remove_credential(&key("a.example", Some("u"))),
                s.remove_account("work"),
                s.remove_token("work"),
                s.remove_plugin_state("work"),
                s.remove_credential(&key("never.example", None)),
            ])
        })
        .unwrap();
    assert_eq!(removed, [true, true, true, true, false]);
    let s = vault.read().unwrap();
    assert!(s.is_empty());
    assert_eq!(s.tombstones(), 4);
    assert!(!contains(&setup.bytes(), b"a.example"));
}

#[test]
fn update_returns_the_closure_value_and_failing_closures_write_nothing() {
    let setup = Setup::new();
    let vault = setup.vault();
    store(&vault, "a.example", "pw");
    let before = setup.bytes();
    let backups = setup.location.backups().unwrap();

    #[derive(Debug)]
    enum AppError {
        Vault(Error),
        Refused,
    }
    impl From<Error> for AppError {
        fn from(e: Error) -> Self {
            AppError::Vault(e)
        }
    }
    let result: Result<(), AppError> = vault.update(|s| {
        s.put_credential(credential("b.example", None, "pw"));
        Err(AppError::Refused)
    });
    assert!(matches!(result, Err(AppError::Refused)));
    assert_eq!(setup.bytes(), before);
    assert_eq!(setup.location.backups().unwrap(), backups);

    // No change: no write.
    let n = vault.update(|s| R::Ok(s.len())).unwrap();
    assert_eq!(n, 1);
    vault
        .update(|s| {
            s.put_credential(credential("a.example", Some("u"), "pw"));
            R::Ok(())
        })
        .unwrap();
    assert_eq!(
        setup.bytes(),
        before,
        "storing an identical credential rewrote the vault"
    );
    assert_eq!(setup.location.backups().unwrap(), backups);
    // A vault error converts into the caller's error type.
    let missing = Setup::new();
    std::fs::create_dir_all(missing.file()).unwrap(); // a folder where the file should be
    let result: Result<(), AppError> = missing.vault().update(|_| Ok(()));
    assert!(
        matches!(result, Err(AppError::Vault(Error::Io { .. }))),
        "{result:?}"
    );
}

#[test]
fn create_read_and_missing() {
    let setup = Setup::new();
    let vault = setup.vault();
    assert!(!vault.exists());
    let err = vault.read().unwrap_err();
    assert!(matches!(err, Error::Missing { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("there is no vault at {}", setup.file().display())
    );
    vault.create().unwrap();
    assert!(vault.exists());
    let s = vault.read().unwrap();
    assert!(s.is_empty());
    assert_eq!(s.recipients(), vec![vault.identity().public()]);
    assert_eq!(s.version_vector().get(&vault.device()), Some(&1));
    let err = vault.create().unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("there is already a vault at {}", setup.file().display())
    );
}

#[test]
fn update_creates_a_missing_vault_and_counts_writes() {
    let setup = Setup::new();
    let vault = setup.vault();
    store(&vault, "a.example", "pw1");
    store(&vault, "b.example", "pw2");
    let s = vault.read().unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(s.version_vector().get(&vault.device()), Some(&2));
    assert_eq!(s.vault_id().len(), 32);
}

#[test]
fn a_second_device_reads_after_being_added_as_recipient() {
    let laptop = Setup::new();
    let vault = laptop.vault();
    store(&vault, "a.example", "pw-shared");
    // The desktop has its own key and state; the vault file is shared (synced).
    let desktop_identity = laptop.dir.path().join("desktop/identity.txt");
    Identity::generate().write_new(&desktop_identity).unwrap();
    let desktop = Vault::new(
        keyhelm_vault::Location {
            file: laptop.location.file.clone(),
            state_dir: laptop.dir.path().join("desktop/state"),
        },
        Identity::from_file(&desktop_identity).unwrap(),
        keyhelm_vault::DeviceId::random().unwrap(),
    );
    let err = desktop.read().unwrap_err();
    assert!(matches!(err, Error::NotARecipient { .. }), "{err:?}");
    let desktop_public = desktop.identity().public();
    vault
        .update(|s| {
            let mut r = s.recipients();
            r.push(desktop_public.clone());
            s.set_recipients(r)
        })
        .unwrap();
    let s = desktop.read().unwrap();
    assert_eq!(password(s.credentials().next().unwrap()), "pw-shared");
    assert_eq!(s.recipients().len(), 2);
    // The desktop writes; the laptop still reads.
    store(&desktop, "b.example", "pw-desktop");
    assert_eq!(vault.read().unwrap().len(), 2);
}

#[test]
fn a_vault_encrypted_to_an_ssh_key_from_ssh_keygen() {
    let setup = Setup::new();
    let key = setup.dir.path().join("id_ed25519");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "me@example", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(status.success());
    let vault = Vault::new(
        setup.location.clone(),
        Identity::from_file(&key).unwrap(),
        keyhelm_vault::DeviceId::random().unwrap(),
    );
    store(&vault, "a.example", "pw-ssh");
    let s = vault.read().unwrap();
    assert!(s.recipients()[0].starts_with("ssh-ed25519 "));
    assert_eq!(password(s.credentials().next().unwrap()), "pw-ssh");
}

#[test]
fn refuses_to_lock_this_device_out() {
    let setup = Setup::new();
    let vault = setup.vault();
    store(&vault, "a.example", "pw");
    let before = setup.bytes();
    let stranger = Identity::generate().public();
    let err = vault
        .update(|s| s.set_recipients([stranger.as_str()]))
        .unwrap_err();
    assert!(matches!(err, Error::WouldLockOut { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "refusing to write a vault that this device cannot read: its key {} is not among the \
             recipients",
            vault.identity().public()
        )
    );
    assert_eq!(setup.bytes(), before);
}

#[test]
fn read_file_write_file_and_merge_of_a_conflict_copy() {
    let setup = Setup::new();
    let vault = setup.vault();
    store(&vault, "a.example", "pw-a");
    // A sync tool left a conflict copy: the same vault with a different change.
    let copy = setup
        .file()
        .with_file_name("vault.sync-conflict-20261123-112600-ABCDEFG.age");
    let mut theirs = vault.read().unwrap();
    theirs.put_credential(credential("b.example", Some("u"), "pw-b"));
    vault.write_file(&copy, &theirs).unwrap();
    let other = vault.read_file(&copy).unwrap();
    assert_eq!(other.len(), 2);
    // The next write merges it in and removes it.
    store(&vault, "c.example", "pw-c");
    assert!(!copy.exists());
    let merged = vault.read().unwrap();
    let hosts: Vec<&str> = merged.credentials().map(|c| c.key.host.as_str()).collect();
    assert_eq!(hosts, ["a.example", "b.example", "c.example"]);
    let err = vault
        .read_file(&setup.dir.path().join("nothing.age"))
        .unwrap_err();
    assert!(matches!(err, Error::Missing { .. }));
}
