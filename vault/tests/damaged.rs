//! Vaults that cannot be opened: each gives its error, and `update` never touches the file.

mod common;

use std::io::Write as _;
use std::str::FromStr;

use common::*;
use keyhelm_vault::{Error, Vault};

/// Encrypts `plaintext` to the setup's own key, as a well-formed vault file would be.
fn encrypt_to(vault: &Vault, plaintext: &[u8]) -> Vec<u8> {
    let recipient = age::x25519::Recipient::from_str(&vault.identity().public()).unwrap();
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
            .unwrap();
    let mut out = Vec::new();
    let mut w = encryptor.wrap_output(&mut out).unwrap();
    w.write_all(plaintext).unwrap();
    w.finish().unwrap();
    out
}

/// A valid vault file with one secret in it, and its setup.
fn good_vault() -> (Setup, Vault, Vec<u8>) {
    let setup = Setup::new();
    let vault = setup.vault();
    store(&vault, "a.example", "hunter2-secret");
    let bytes = setup.bytes();
    (setup, vault, bytes)
}

/// Makes a good vault, replaces it with `make(good bytes, vault)`, then checks that `read`
/// and `update` fail with the same error, that `update` never ran its closure, and that
/// nothing was written. Returns the error message.
fn assert_refused(make: impl FnOnce(&[u8], &Vault) -> Vec<u8>, check: impl Fn(&Error)) -> String {
    let (setup, vault, good) = good_vault();
    let bytes = make(&good, &vault);
    std::fs::write(setup.file(), &bytes).unwrap();
    let backups = setup.location.backups().unwrap();

    let err = vault.read().unwrap_err();
    check(&err);
    let err = vault
        .update(|_| -> Result<(), Error> {
            panic!("update ran its closure on a vault it could not read")
        })
        .unwrap_err();
    check(&err);
    assert_eq!(setup.bytes(), bytes, "the vault file changed");
    assert_eq!(
        setup.location.backups().unwrap(),
        backups,
        "a backup was written"
    );
    let leftovers: Vec<_> = std::fs::read_dir(setup.file().parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "vault.age")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let message = err.to_string();
    assert!(!message.contains("hunter2"), "{message}");
    assert!(!format!("{err:?}").contains("hunter2"));
    message
}

/// [`assert_refused`] with fixed bytes.
fn refused_bytes(bytes: &[u8], check: impl Fn(&Error)) -> String {
    assert_refused(|_, _| bytes.to_vec(), check)
}

/// [`assert_refused`] with a payload encrypted to the setup's own key.
fn refused_with_payload(payload: &[u8], check: impl Fn(&Error)) -> String {
    assert_refused(|_, vault| encrypt_to(vault, payload), check)
}

fn corrupt(expected: &'static str) -> impl Fn(&Error) {
    move |e| match e {
        Error::Corrupt { reason, .. } => assert_eq!(reason, expected),
        other => panic!("expected Corrupt({expected}), got {other:?}"),
    }
}

fn corrupt_starting(expected: &'static str) -> impl Fn(&Error) {
    move |e| match e {
        Error::Corrupt { reason, .. } => assert!(reason.starts_with(expected), "{reason}"),
        other => panic!("expected Corrupt({expected}...), got {other:?}"),
    }
}

#[test]
fn truncated_files() {
    let header_end = |good: &[u8]| good.windows(4).position(|w| w == b"\n---").unwrap();
    refused_bytes(b"age-encr", corrupt("it is not an age-encrypted file"));
    assert_refused(
        |good, _| good[..25].to_vec(),
        corrupt("its age header is damaged or cut short"),
    );
    assert_refused(
        |good, _| good[..header_end(good)].to_vec(),
        corrupt("its age header is damaged or cut short"),
    );
    assert_refused(
        |good, _| good[..good.len() - 1].to_vec(),
        corrupt("the encrypted content is truncated or damaged"),
    );
    assert_refused(
        |good, _| good[..good.len() - 40].to_vec(),
        corrupt("the encrypted content is truncated or damaged"),
    );
    // Header and payload nonce complete, every chunk gone.
    assert_refused(
        |good, _| good[..header_end(good) + 49 + 16].to_vec(),
        corrupt("the encrypted content is truncated or damaged"),
    );
    let message = refused_bytes(&[], corrupt("the file is empty"));
    assert!(
        message.starts_with("the vault ") && message.ends_with(" is damaged: the file is empty")
    );
}

#[test]
fn garbage_files() {
    let message = refused_bytes(
        b"hello, I am not a vault\n",
        corrupt("it is not an age-encrypted file"),
    );
    assert!(
        message.ends_with(" is damaged: it is not an age-encrypted file"),
        "{message}"
    );
    let mut noise = vec![0u8; 4096];
    getrandom::fill(&mut noise).unwrap();
    refused_bytes(&noise, corrupt("it is not an age-encrypted file"));
    // The right magic line, then nonsense.
    refused_bytes(
        b"age-encryption.org/v1\n-> X25519 nonsense\n--- zzz\nbody",
        corrupt("its age header is damaged or cut short"),
    );
    refused_bytes(
        b"age-encryption.org/v9\nwhatever\n",
        corrupt("it is an age file of an unknown version"),
    );
    // A vault pasted from a text editor: a trailing newline added at the end.
    assert_refused(
        |good, _| [good, b"\n"].concat(),
        corrupt("the encrypted content is truncated or damaged"),
    );
}

#[test]
fn tampered_files() {
    // A flipped bit in the encrypted payload.
    assert_refused(
        |good, _| {
            let mut bytes = good.to_vec();
            let at = bytes.len() - 20;
            bytes[at] ^= 0x01;
            bytes
        },
        corrupt("the encrypted content is truncated or damaged"),
    );
    // A changed header MAC (the line "--- <mac>").
    assert_refused(
        |good, _| {
            let mut bytes = good.to_vec();
            let mac = bytes.windows(4).position(|w| w == b"\n---").unwrap() + 5;
            bytes[mac] = if bytes[mac] == b'A' { b'B' } else { b'A' };
            bytes
        },
        corrupt("its age header has been tampered with or is damaged"),
    );
    // A well-formed header (and a payload nonce) whose X25519 stanza is malformed: its body is
    // not a wrapped file key.
    let share = "A".repeat(43);
    let mac = "A".repeat(43);
    refused_bytes(
        format!(
            "age-encryption.org/v1\n-> X25519 {share}\nAAAA\n--- {mac}\n{}",
            "n".repeat(16 + 40)
        )
        .as_bytes(),
        corrupt("its file key cannot be decrypted"),
    );
}

#[test]
fn a_vault_encrypted_to_another_key() {
    let (_other, _, bytes) = good_vault();
    let message = refused_bytes(&bytes, |e| {
        assert!(matches!(e, Error::NotARecipient { .. }), "{e:?}")
    });
    assert!(
        message.ends_with(" is not encrypted to this device's identity"),
        "{message}"
    );
}

#[test]
fn a_passphrase_encrypted_file() {
    let mut recipient = age::scrypt::Recipient::new("correct horse".into());
    recipient.set_work_factor(2);
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
            .unwrap();
    let mut out = Vec::new();
    let mut w = encryptor.wrap_output(&mut out).unwrap();
    w.write_all(b"{}").unwrap();
    w.finish().unwrap();
    refused_bytes(
        &out,
        corrupt("it is encrypted with a passphrase, and a keyhelm vault is encrypted to keys"),
    );
}

#[test]
fn a_vault_from_a_newer_keyhelm() {
    let message = refused_with_payload(br#"{"format":2,"entirely":["new","layout"]}"#, |e| {
        assert!(
            matches!(
                e,
                Error::UnsupportedFormat {
                    found: 2,
                    supported: 1,
                    ..
                }
            ),
            "{e:?}"
        )
    });
    assert!(
        message.ends_with(" uses format 2, and this keyhelm reads formats up to 1"),
        "{message}"
    );
    // `format` not first, and the rest unreadable as format 1.
    refused_with_payload(br#"{"entries":"moved","format":3}"#, |e| {
        assert!(
            matches!(e, Error::UnsupportedFormat { found: 3, .. }),
            "{e:?}"
        )
    });
}

#[test]
fn payloads_that_are_not_vaults() {
    let message = refused_with_payload(
        br#"{"format":1,"vault_id":"00000000000000000000000000000000","password":"hunter2"#,
        corrupt_starting("the payload ends early (line 1, column "),
    );
    assert!(
        message.contains(" is damaged: the payload ends early (line 1, column "),
        "{message}"
    );
    refused_with_payload(
        b"[1,2,3]",
        corrupt_starting("the payload has a missing or wrong-typed value"),
    );
    refused_with_payload(
        b"not json",
        corrupt_starting("the payload is not valid JSON"),
    );
    refused_with_payload(b"", corrupt_starting("the payload ends early"));
    refused_with_payload(
        &[0x22, 0xff, 0xfe, 0x22],
        corrupt("the payload is not UTF-8 text (byte 1 of the payload)"),
    );
    refused_with_payload(
        br#"{"format":1,"vault_id":"hunter2-is-not-hex"}"#,
        corrupt_starting("an id is not 32 hexadecimal characters"),
    );
}

#[test]
fn a_valid_payload_with_a_wrong_typed_secret_does_not_leak_it() {
    let (setup, vault, _) = good_vault();
    // Decrypt the good vault with the test's own age call, damage one field, re-encrypt.
    let identity = age::IdentityFile::from_file(setup.identity_file.display().to_string())
        .unwrap()
        .into_identities()
        .unwrap();
    let good = setup.bytes();
    let decryptor = age::Decryptor::new(&good[..]).unwrap();
    let mut reader = decryptor
        .decrypt(identity.iter().map(|i| i.as_ref() as &dyn age::Identity))
        .unwrap();
    let mut plain = String::new();
    std::io::Read::read_to_string(&mut reader, &mut plain).unwrap();
    assert!(plain.contains(r#""password":"hunter2-secret""#), "{plain}");
    let damaged = plain.replace(
        r#""password":"hunter2-secret""#,
        r#""password":["hunter2-secret"]"#,
    );
    let bytes = encrypt_to(&vault, damaged.as_bytes());
    std::fs::write(setup.file(), &bytes).unwrap();
    let err = vault.read().unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(matches!(err, Error::Corrupt { .. }));
}
