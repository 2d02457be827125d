//! keyhelm as git's credential helper, driven by the real `git credential fill|approve|reject`.
//!
//! The cases follow git's own helper suite (t0303-credential-external.sh) and
//! research/protocols.md A.9.

mod support;

use support::{Sandbox, text};

const FAR_FUTURE: &str = "9999999999";

#[test]
fn round_trip_returns_exactly_what_was_stored_and_nothing_else() {
    let s = Sandbox::new();
    s.approve(&format!(
        "protocol=https\nhost=example.com\nusername=u\npassword=p\n\
         password_expiry_utc={FAR_FUTURE}\noauth_refresh_token=r\n"
    ));
    let got = s.keyhelm(&["get"], b"protocol=https\nhost=example.com\n");
    assert!(got.status.success());
    assert_eq!(
        text(&got.stdout),
        format!(
            "username=u\npassword=p\npassword_expiry_utc={FAR_FUTURE}\noauth_refresh_token=r\n"
        )
    );
    assert_eq!(text(&got.stderr), "");

    let filled = s
        .fill("protocol=https\nhost=example.com\n")
        .expect("git finds it");
    assert!(filled.contains("username=u\npassword=p\n"), "{filled}");
    assert!(filled.contains("oauth_refresh_token=r\n"), "{filled}");

    // Isolation: another protocol, host, port or user finds nothing.
    for other in [
        "protocol=http\nhost=example.com\n",
        "protocol=https\nhost=other.tld\n",
        "protocol=https\nhost=example.com:8443\n",
        "protocol=https\nhost=example.com\nusername=other\n",
    ] {
        let out = s.keyhelm(&["get"], other.as_bytes());
        assert!(out.status.success());
        assert_eq!(text(&out.stdout), "", "{other}");
        assert_eq!(text(&out.stderr), "", "{other}");
        assert_eq!(s.fill(other), None, "{other}");
    }
}

#[test]
fn store_replaces_the_same_key_and_get_prefers_the_newest() {
    let s = Sandbox::new();
    s.approve("protocol=https\nhost=h.tld\nusername=u1\npassword=one\n");
    s.approve("protocol=https\nhost=h.tld\nusername=u2\npassword=two\n");
    let out = s.keyhelm(&["get"], b"protocol=https\nhost=h.tld\n");
    assert_eq!(text(&out.stdout), "username=u2\npassword=two\n");
    s.approve("protocol=https\nhost=h.tld\nusername=u1\npassword=uno\n");
    let out = s.keyhelm(&["get"], b"protocol=https\nhost=h.tld\n");
    assert_eq!(text(&out.stdout), "username=u1\npassword=uno\n");
    let out = s.keyhelm(&["get"], b"protocol=https\nhost=h.tld\nusername=u2\n");
    assert_eq!(text(&out.stdout), "username=u2\npassword=two\n");
    let list = s.keyhelm(&["list", "--json"], b"");
    let json: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(json["credentials"].as_array().unwrap().len(), 2);
}

#[test]
fn erase_semantics() {
    let s = Sandbox::new();
    s.approve("protocol=https\nhost=e.tld\nusername=u1\npassword=p1\n");
    s.approve("protocol=https\nhost=e.tld\nusername=u2\npassword=p2\n");
    s.approve("protocol=https\nhost=keep.tld\nusername=u1\npassword=p3\n");

    // A wrong password erases nothing: a newer password must survive a stale reject.
    s.reject("protocol=https\nhost=e.tld\nusername=u1\npassword=WRONG\n");
    let out = s.keyhelm(&["get"], b"protocol=https\nhost=e.tld\nusername=u1\n");
    assert_eq!(text(&out.stdout), "username=u1\npassword=p1\n");

    // An empty pattern erases nothing (sent directly: git refuses to send it).
    let before = s.vault_bytes();
    let out = s.keyhelm(&["erase"], b"\n");
    assert!(out.status.success());
    assert_eq!(s.vault_bytes(), before);

    // The right password erases that user only.
    s.reject("protocol=https\nhost=e.tld\nusername=u1\npassword=p1\n");
    assert_eq!(
        text(
            &s.keyhelm(&["get"], b"protocol=https\nhost=e.tld\nusername=u1\n")
                .stdout
        ),
        ""
    );
    assert_eq!(
        text(&s.keyhelm(&["get"], b"protocol=https\nhost=e.tld\n").stdout),
        "username=u2\npassword=p2\n"
    );

    // Without a username, every user of the host goes; other hosts stay.
    s.approve("protocol=https\nhost=e.tld\nusername=u1\npassword=p1\n");
    let out = s.keyhelm(&["erase"], b"protocol=https\nhost=e.tld\n");
    assert!(out.status.success());
    assert_eq!(
        text(&s.keyhelm(&["get"], b"protocol=https\nhost=e.tld\n").stdout),
        ""
    );
    assert_eq!(
        text(
            &s.keyhelm(&["get"], b"protocol=https\nhost=keep.tld\n")
                .stdout
        ),
        "username=u1\npassword=p3\n"
    );
}

#[test]
fn empty_values_are_not_absent_values() {
    let s = Sandbox::new();
    // git refuses to approve an empty username/password itself, so talk to keyhelm directly.
    let out = s.keyhelm(
        &["store"],
        b"protocol=https\nhost=sso.tld\nusername=\npassword=\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = s.keyhelm(&["get"], b"protocol=https\nhost=sso.tld\n");
    assert_eq!(text(&out.stdout), "username=\npassword=\n");
    // A request for an empty username matches; a request for a named user does not.
    let out = s.keyhelm(&["get"], b"protocol=https\nhost=sso.tld\nusername=\n");
    assert_eq!(text(&out.stdout), "username=\npassword=\n");
    let out = s.keyhelm(&["get"], b"protocol=https\nhost=sso.tld\nusername=x\n");
    assert_eq!(text(&out.stdout), "");
}

#[test]
fn use_http_path_keys_credentials_by_repository() {
    let s = Sandbox::new();
    let with_path = |op: &str, input: &str| {
        s.git(
            &["-c", "credential.useHttpPath=true", "credential", op],
            input.as_bytes(),
        )
    };
    let out = with_path(
        "approve",
        "url=https://u@forge.tld/org/a.git\npassword=pa\n",
    );
    assert!(out.status.success());
    let out = with_path(
        "approve",
        "url=https://u@forge.tld/org/b.git\npassword=pb\n",
    );
    assert!(out.status.success());
    let a = with_path("fill", "url=https://forge.tld/org/a.git\n");
    assert!(
        text(&a.stdout).contains("password=pa\n"),
        "{}",
        text(&a.stdout)
    );
    let b = with_path("fill", "url=https://forge.tld/org/b.git\n");
    assert!(
        text(&b.stdout).contains("password=pb\n"),
        "{}",
        text(&b.stdout)
    );
    assert!(
        !with_path("fill", "url=https://forge.tld/org/c.git\n")
            .status
            .success()
    );
    // Without useHttpPath git sends no path, which matches any stored path for the host.
    assert!(s.fill("url=https://forge.tld/org/c.git\n").is_some());
    let out = s.keyhelm(
        &["get"],
        b"protocol=https\nhost=forge.tld\npath=org/a.git\n",
    );
    assert_eq!(text(&out.stdout), "username=u\npassword=pa\n");
}

#[test]
fn expired_credentials_are_returned_with_their_refresh_token() {
    let s = Sandbox::new();
    let out = s.keyhelm(
        &["store"],
        b"protocol=https\nhost=x.tld\nusername=u\npassword=old\npassword_expiry_utc=1000\n\
          oauth_refresh_token=refresh\n",
    );
    assert!(out.status.success());
    let out = s.keyhelm(&["get"], b"protocol=https\nhost=x.tld\n");
    assert_eq!(
        text(&out.stdout),
        "username=u\npassword=old\npassword_expiry_utc=1000\noauth_refresh_token=refresh\n"
    );
    // git drops the stale password itself and, with prompting off, finds no complete answer.
    let out = s.credential("fill", "protocol=https\nhost=x.tld\n");
    assert!(!out.status.success());
    assert!(!text(&out.stdout).contains("password=old"));
}

#[test]
fn authtype_credentials_need_the_capability() {
    let s = Sandbox::new();
    s.approve(
        "capability[]=authtype\nprotocol=https\nhost=api.tld\nauthtype=Bearer\ncredential=t0k\n",
    );
    // With the capability: echoed first, then authtype and credential.
    let out = s.keyhelm(
        &["get"],
        b"capability[]=authtype\nprotocol=https\nhost=api.tld\n",
    );
    assert_eq!(
        text(&out.stdout),
        "capability[]=authtype\nauthtype=Bearer\ncredential=t0k\n"
    );
    let filled = s
        .fill("capability[]=authtype\nprotocol=https\nhost=api.tld\n")
        .unwrap();
    assert!(
        filled.contains("authtype=Bearer\ncredential=t0k\n"),
        "{filled}"
    );
    // Without it: nothing at all (the credential is the only secret stored).
    let out = s.keyhelm(&["get"], b"protocol=https\nhost=api.tld\n");
    assert_eq!(text(&out.stdout), "");
    assert_eq!(s.fill("protocol=https\nhost=api.tld\n"), None);

    // A credential with both: the requester without the capability gets username/password.
    s.approve(
        "capability[]=authtype\nprotocol=https\nhost=both.tld\nauthtype=Bearer\ncredential=c\n\
         username=u\npassword=p\n",
    );
    let out = s.keyhelm(&["get"], b"protocol=https\nhost=both.tld\n");
    assert_eq!(text(&out.stdout), "username=u\npassword=p\n");
}

#[test]
fn ephemeral_credentials_are_never_persisted() {
    let s = Sandbox::new();
    s.approve(
        "capability[]=authtype\nprotocol=https\nhost=eph.tld\nauthtype=Bearer\ncredential=c\nephemeral=1\n",
    );
    assert!(
        !s.vault_file().exists(),
        "nothing was written, not even an empty vault"
    );
    let out = s.keyhelm(
        &["store"],
        b"protocol=https\nhost=eph.tld\nusername=u\npassword=p\nephemeral=true\n",
    );
    assert!(out.status.success());
    assert_eq!(
        text(
            &s.keyhelm(&["get"], b"protocol=https\nhost=eph.tld\n")
                .stdout
        ),
        ""
    );
}

#[test]
fn unknown_operations_keys_and_capabilities_are_ignored() {
    let s = Sandbox::new();
    s.approve("protocol=https\nhost=k.tld\nusername=u\npassword=p\n");
    let before = s.vault_bytes();
    let out = s.keyhelm(&["frobnicate"], b"protocol=https\nhost=k.tld\n");
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "");
    assert_eq!(text(&out.stderr), "");
    assert_eq!(s.vault_bytes(), before);

    let out = s.keyhelm(
        &["get"],
        b"capability[]=frob\ncapability[]=state\nprotocol=https\nhost=k.tld\nstate[]=other:1\n\
          wwwauth[]=Basic realm=x\nfuture-key=1\ncontinue=1\n",
    );
    assert_eq!(text(&out.stdout), "username=u\npassword=p\n");
    // Never emits quit, url, state or continue.
    for forbidden in ["quit", "url=", "state[]", "continue"] {
        assert!(!text(&out.stdout).contains(forbidden));
    }
}

#[test]
fn crlf_requests_are_accepted() {
    let s = Sandbox::new();
    let out = s.keyhelm(
        &["store"],
        b"protocol=https\r\nhost=crlf.tld\r\nusername=u\r\npassword=p\r\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = s.keyhelm(&["get"], b"protocol=https\r\nhost=crlf.tld\r\n\r\n");
    assert_eq!(text(&out.stdout), "username=u\npassword=p\n");
}

#[test]
fn a_long_line_is_never_split_into_two_attributes() {
    let s = Sandbox::new();
    s.approve("protocol=https\nhost=victim.example.com\nusername=u\npassword=secret\n");
    // t0303: with a 1 KiB buffer, `host=victim...` (starting at byte 1023) would be read as a line.
    let mut line = String::from("wwwauth[]=basic realm=");
    line.push_str(&"a".repeat(1001));
    line.push_str("host=victim.example.com");
    let req = format!("protocol=https\nhost=badguy.example.com\n{line}\n");
    let out = s.keyhelm(&["get"], req.as_bytes());
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "");
    assert_eq!(s.fill(&req), None);
}

#[test]
fn capability_query_announces_authtype() {
    let s = Sandbox::new();
    let out = s.keyhelm(&["capability"], b"");
    assert_eq!(text(&out.stdout), "version 0\ncapability authtype\n");
}

#[test]
fn a_request_without_protocol_or_host_is_never_answered() {
    let s = Sandbox::new();
    s.approve("protocol=https\nhost=h.tld\nusername=u\npassword=p\n");
    for req in ["host=h.tld\n", "protocol=https\n", "username=u\n", ""] {
        let out = s.keyhelm(&["get"], req.as_bytes());
        assert!(out.status.success());
        assert_eq!(text(&out.stdout), "", "{req:?}");
    }
}

#[test]
fn the_first_store_sets_everything_up_silently() {
    let s = Sandbox::new();
    assert!(!s.keyhelm_home().exists());
    let out = s.keyhelm(
        &["store"],
        b"protocol=https\nhost=first.tld\nusername=u\npassword=p\n",
    );
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "");
    assert_eq!(text(&out.stderr), "");
    assert_eq!(support::mode(&s.keyhelm_home().join("identity.txt")), 0o600);
    assert_eq!(support::mode(&s.vault_file()), 0o600);
    // A get before any set-up is silent too.
    let fresh = Sandbox::new();
    let out = fresh.keyhelm(&["get"], b"protocol=https\nhost=first.tld\n");
    assert!(out.status.success());
    assert_eq!(
        (text(&out.stdout), text(&out.stderr)),
        (String::new(), String::new())
    );
    assert!(!fresh.keyhelm_home().exists(), "a lookup creates nothing");
}

#[test]
fn the_vault_holds_no_secret_in_plain_text() {
    let s = Sandbox::new();
    let secrets = [
        "s3cr3t-password-value",
        "r3fr3sh-token-value",
        "b3ar3r-credential-value",
    ];
    s.approve(&format!(
        "protocol=https\nhost=plain.tld\nusername=plain-user\npassword={}\noauth_refresh_token={}\n",
        secrets[0], secrets[1]
    ));
    s.approve(&format!(
        "capability[]=authtype\nprotocol=https\nhost=plain2.tld\nauthtype=Bearer\ncredential={}\n",
        secrets[2]
    ));
    let bytes = s.vault_bytes();
    for needle in secrets.iter().chain(&["plain-user", "plain.tld"]) {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "{needle} is visible in the vault file"
        );
    }
    assert_eq!(support::mode(&s.vault_file()), 0o600);
}

/// git stores after every successful authentication: storing what is already there leaves
/// the vault file as it is (no new stamp, no backup); a changed password is written.
#[test]
fn storing_an_unchanged_credential_writes_nothing() {
    let s = Sandbox::new();
    let stored = b"protocol=https\nhost=same.tld\nusername=u\npassword=p\n";
    for _ in 0..2 {
        assert!(s.keyhelm(&["store"], stored).status.success());
    }
    let before = std::fs::read(s.vault_file()).unwrap();
    assert!(s.keyhelm(&["store"], stored).status.success());
    assert_eq!(std::fs::read(s.vault_file()).unwrap(), before);
    let changed = b"protocol=https\nhost=same.tld\nusername=u\npassword=q\n";
    assert!(s.keyhelm(&["store"], changed).status.success());
    assert_ne!(std::fs::read(s.vault_file()).unwrap(), before);
    let out = s.keyhelm(&["get"], b"protocol=https\nhost=same.tld\n");
    assert_eq!(text(&out.stdout), "username=u\npassword=q\n");
}
