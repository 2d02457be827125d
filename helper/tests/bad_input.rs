//! Hostile and malformed input, and vaults that cannot be used: a clear message on stderr, the
//! documented exit code, nothing on stdout, and the vault unchanged byte for byte.

mod support;

use support::{Sandbox, text};

const REJECTED: i32 = 3;
const VAULT: i32 = 4;

fn seeded() -> Sandbox {
    let s = Sandbox::new();
    s.approve("protocol=https\nhost=h.tld\nusername=u\npassword=p\n");
    s
}

#[test]
fn malformed_requests_are_rejected_and_write_nothing() {
    let s = seeded();
    let before = s.vault_bytes();
    let long_line = format!(
        "protocol=https\nhost=h.tld\nwwwauth[]={}\n",
        "a".repeat(70_000)
    );
    let huge = format!(
        "protocol=https\n{}",
        format!("wwwauth[]={}\n", "b".repeat(60_000)).repeat(20)
    );
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "bare CR",
            b"protocol=https\nhost=h.tld\rhost=evil\nusername=u\npassword=x\n".to_vec(),
            "the value of 'host' on line 2 contains a carriage return",
        ),
        (
            "CR in a password",
            b"protocol=https\nhost=h.tld\nusername=u\npassword=x\ry\n".to_vec(),
            "the value of 'password' on line 4 contains a carriage return",
        ),
        (
            "CR under a key keyhelm does not know",
            b"protocol=https\nhost=h.tld\nx-future=a\rb\n".to_vec(),
            "line 3 of the request contains a carriage return",
        ),
        (
            "NUL",
            b"protocol=https\nhost=h.tld\0evil\nusername=u\npassword=x\n".to_vec(),
            "line 2 of the request contains a NUL byte",
        ),
        (
            "no equals sign",
            b"protocol=https\nhost=h.tld\nusername=u\nhunter2\n".to_vec(),
            "line 4 of the request is not a key=value attribute",
        ),
        (
            "long line",
            long_line.into_bytes(),
            "line 3 of the request is longer than 65536 bytes",
        ),
        (
            "huge request",
            huge.into_bytes(),
            "the request is larger than 1048576 bytes",
        ),
        (
            "invalid UTF-8",
            b"protocol=https\nhost=h.tld\nusername=\xff\xfe\npassword=x\n".to_vec(),
            "the value of 'username' on line 3 is not valid UTF-8",
        ),
    ];
    for (what, input, message) in &cases {
        for op in ["get", "store", "erase"] {
            let out = s.keyhelm(&[op], input);
            assert_eq!(out.status.code(), Some(REJECTED), "{what} / {op}");
            assert_eq!(text(&out.stdout), "", "{what} / {op}");
            assert_eq!(
                text(&out.stderr),
                format!(
                    "keyhelm: error: rejected the request: {message}\n\
                     keyhelm: hint: nothing was read from or written to the vault\n"
                ),
                "{what} / {op}"
            );
            assert!(!text(&out.stderr).contains("hunter2"));
            assert_eq!(s.vault_bytes(), before, "{what} / {op} changed the vault");
        }
    }
}

/// Replaces the vault with `bytes` and checks every command refuses it and leaves it alone.
fn assert_vault_refused(s: &Sandbox, bytes: &[u8], message: &str, hint: &str) {
    std::fs::write(s.vault_file(), bytes).unwrap();
    let requests: [(&[&str], &[u8]); 5] = [
        (&["get"], b"protocol=https\nhost=h.tld\n"),
        (
            &["store"],
            b"protocol=https\nhost=new.tld\nusername=n\npassword=n\n",
        ),
        (&["erase"], b"protocol=https\nhost=h.tld\n"),
        (&["list"], b""),
        (&["init"], b""),
    ];
    for (args, input) in requests {
        let out = s.keyhelm(args, input);
        if args == ["init"] && message.contains("not encrypted to this device") {
            // init on a device that is not a recipient yet explains how to join instead.
            assert!(out.status.success(), "{}", text(&out.stderr));
            assert_eq!(
                text(&out.stderr),
                format!(
                    "keyhelm: this device already has an identity in {}\n\
                     keyhelm: the vault {} is not encrypted to this device yet: run `keyhelm \
                     vault recipients add {}` on a device that can open it, then sync\n\
                     keyhelm: this device's public key:\n",
                    s.keyhelm_home().join("identity.txt").display(),
                    s.vault_file().display(),
                    text(&out.stdout).trim()
                )
            );
            continue;
        }
        assert_eq!(
            out.status.code(),
            Some(VAULT),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert_eq!(text(&out.stdout), "", "{args:?}");
        let stderr = text(&out.stderr);
        assert!(stderr.starts_with("keyhelm: error: "), "{stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(stderr.contains(hint), "{args:?}: {stderr}");
        assert_eq!(
            std::fs::read(s.vault_file()).unwrap(),
            bytes,
            "{args:?} touched the vault"
        );
    }
    let doctor = s.keyhelm(&["doctor"], b"");
    assert_eq!(doctor.status.code(), Some(1));
    assert_eq!(
        text(&doctor.stderr),
        "keyhelm: error: keyhelm doctor found 1 problem (see above)\n"
    );
    assert!(
        text(&doctor.stdout).contains(message),
        "{}",
        text(&doctor.stdout)
    );
}

#[test]
fn a_vault_encrypted_to_another_key_is_refused_untouched() {
    let s = seeded();
    let other = seeded();
    let foreign = other.vault_bytes();
    assert_vault_refused(
        &s,
        &foreign,
        "is not encrypted to this device's identity",
        "this device is not a recipient yet",
    );
}

#[test]
fn a_truncated_vault_is_refused_untouched() {
    let s = seeded();
    let bytes = s.vault_bytes();
    for keep in [bytes.len() - 1, bytes.len() - 17, bytes.len() / 2, 10] {
        assert_vault_refused(&s, &bytes[..keep], "is damaged", "left the file untouched");
    }
}

#[test]
fn a_vault_with_garbage_inside_is_refused_untouched() {
    let s = seeded();
    let mut bytes = s.vault_bytes();
    // Flip a byte in the encrypted payload (the last 16 bytes are the final tag).
    let at = bytes.len() - 20;
    bytes[at] ^= 0x55;
    assert_vault_refused(&s, &bytes, "is damaged", "left the file untouched");
    assert_vault_refused(
        &s,
        b"this is not an age file\n",
        "is damaged",
        "left the file untouched",
    );
    assert_vault_refused(&s, b"", "is damaged", "left the file untouched");
}

#[test]
fn an_unreadable_identity_is_a_clear_error() {
    let s = seeded();
    let identity = s.keyhelm_home().join("identity.txt");
    let secret = std::fs::read_to_string(&identity).unwrap();
    std::fs::write(&identity, "AGE-SECRET-KEY-1NOTAKEY\n").unwrap();
    let out = s.keyhelm(&["get"], b"protocol=https\nhost=h.tld\n");
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("identity.txt is not usable"),
        "{}",
        text(&out.stderr)
    );
    assert!(!text(&out.stderr).contains("NOTAKEY"));

    std::fs::write(&identity, &secret).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&identity, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = s.keyhelm(&["get"], b"protocol=https\nhost=h.tld\n");
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(
        text(&out.stderr),
        format!(
            "keyhelm: error: {} is accessible by other users (mode 0644)\nkeyhelm: hint: run `chmod 600 {}`\n",
            identity.display(),
            identity.display()
        )
    );
}

/// A bad environment or configuration file stops every command before it reads anything, with
/// the line to fix and exit 1 or 2.
#[test]
fn a_bad_environment_or_configuration_is_a_clear_error() {
    let s = seeded();
    let config = s.keyhelm_home().join("config.toml");
    /// Variables to set (`Some`) or remove (`None`).
    type Vars<'a> = &'a [(&'a str, Option<&'a str>)];
    let cases: Vec<(&str, Vars<'_>, &str, i32, String)> = vec![
        (
            "relative KEYHELM_HOME",
            &[("KEYHELM_HOME", Some("rel/keyhelm"))],
            "",
            2,
            "keyhelm: error: KEYHELM_HOME must be an absolute path, not \"rel/keyhelm\"\n\
             keyhelm: hint: set KEYHELM_HOME to an absolute folder, or unset it to use the XDG \
             folders\n"
                .into(),
        ),
        (
            "no HOME",
            &[
                ("KEYHELM_HOME", None),
                ("HOME", None),
                ("XDG_CONFIG_HOME", None),
                ("XDG_DATA_HOME", None),
                ("XDG_STATE_HOME", None),
            ],
            "",
            1,
            "keyhelm: error: cannot tell where keyhelm's files belong: neither HOME nor \
             KEYHELM_HOME is set\n\
             keyhelm: hint: set KEYHELM_HOME to an absolute folder\n"
                .into(),
        ),
        (
            "config syntax",
            &[],
            "# keyhelm\n[vault\n",
            1,
            format!(
                "keyhelm: error: {} is not valid (line 2): unclosed table, expected `]`\n\
                 keyhelm: hint: fix the file or move it away; see \"Files and configuration\" \
                 in the user guide\n",
                config.display()
            ),
        ),
        (
            "relative path in the config",
            &[],
            "[vault]\npath = \"~/vault.age\"\n",
            1,
            format!(
                "keyhelm: error: {}: vault.path must be an absolute path, not ~/vault.age\n\
                 keyhelm: hint: write the full path, starting with / (keyhelm does not expand \
                 ~)\n",
                config.display()
            ),
        ),
    ];
    let before = s.vault_bytes();
    for (what, vars, config_text, code, stderr) in cases {
        std::fs::write(&config, config_text).unwrap();
        let mut cmd = s.keyhelm_command(&["list"]);
        for (key, value) in vars {
            match value {
                Some(value) => cmd.env(key, value),
                None => cmd.env_remove(key),
            };
        }
        let out = support::run(&mut cmd, b"");
        assert_eq!(
            out.status.code(),
            Some(code),
            "{what}: {}",
            text(&out.stderr)
        );
        assert_eq!(text(&out.stderr), stderr, "{what}");
        assert_eq!(text(&out.stdout), "", "{what}");
    }
    assert_eq!(s.vault_bytes(), before);
}
