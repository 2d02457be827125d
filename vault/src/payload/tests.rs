use super::*;
use crate::snapshot::Snapshot;

const DEV: DeviceId = DeviceId([7; 16]);

fn empty() -> Snapshot {
    let public = crate::Identity::generate().public();
    Snapshot::new_vault(DEV, public).unwrap()
}

fn full() -> Snapshot {
    let mut s = empty();
    s.put_credential(Credential {
        key: CredentialKey {
            protocol: "https".into(),
            host: "git.example.com:8443".into(),
            path: Some("org/repo.git".into()),
            username: Some("alice".into()),
        },
        password: Some("pa\"ss\\word\n\u{e9}".into()),
        password_expiry_utc: Some(1_900_000_000),
        oauth_refresh_token: Some("refresh-secret".into()),
        authtype: Some("Bearer".into()),
        credential: Some("cred-secret".into()),
    });
    // Absent and empty are different keys.
    for (path, username) in [
        (None, None),
        (Some(""), None),
        (None, Some("")),
        (Some(""), Some("")),
    ] {
        s.put_credential(Credential {
            key: CredentialKey {
                protocol: "cert".into(),
                host: "".into(),
                path: path.map(Into::into),
                username: username.map(Into::into),
            },
            password: None,
            password_expiry_utc: None,
            oauth_refresh_token: None,
            authtype: None,
            credential: None,
        });
    }
    s.put_account(Account {
        name: "work".into(),
        provider: "intralinks".into(),
        url: "https://api.example.com".into(),
        matches: vec![
            "https://git.example.com".into(),
            "https://*.example.org".into(),
        ],
        settings: [("region".to_string(), "eu".to_string())].into(),
        secrets: [("client_secret".to_string(), SecretString::from("cs-secret"))].into(),
    });
    s.put_token(CachedToken {
        account: "work".into(),
        secret: "tok-secret".into(),
        username: Some("x-token".into()),
        authtype: None,
        expires_at: Some(1_800_000_000),
        obtained_at: 1_700_000_000,
        info: serde_json::json!({"scopes": ["repo", "read:org"]}),
    });
    s.put_plugin_state(
        "work",
        SecretString::from(r#"{"refresh_token":"rt-secret","n":[1,2]}"#),
    );
    s.put_plugin_state("text", SecretString::from(" not json, padded "));
    s.put_credential(Credential {
        key: CredentialKey {
            protocol: "https".into(),
            host: "gone.example".into(),
            path: None,
            username: None,
        },
        password: Some("deleted-secret".into()),
        password_expiry_utc: None,
        oauth_refresh_token: None,
        authtype: None,
        credential: None,
    });
    s.remove_credential(&CredentialKey {
        protocol: "https".into(),
        host: "gone.example".into(),
        path: None,
        username: None,
    });
    s
}

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap()
}

#[test]
fn every_kind_round_trips_byte_for_byte() {
    let s = full();
    let first = encode(&s.payload, 0);
    let decoded = decode(&first).unwrap();
    let second = encode(&decoded, first.len());
    assert_eq!(text(&first), text(&second));

    let creds: Vec<&Live<Credential>> = decoded.credentials.iter().collect();
    assert_eq!(creds.len(), 5);
    let main = decoded
        .credentials
        .iter()
        .find(|l| l.body.key.host == "git.example.com:8443")
        .unwrap();
    let c = &main.body;
    assert_eq!(
        c.password.as_ref().unwrap().expose_secret(),
        "pa\"ss\\word\n\u{e9}"
    );
    assert_eq!(c.password_expiry_utc, Some(1_900_000_000));
    assert_eq!(
        c.oauth_refresh_token.as_ref().unwrap().expose_secret(),
        "refresh-secret"
    );
    assert_eq!(
        c.credential.as_ref().unwrap().expose_secret(),
        "cred-secret"
    );
    assert_eq!(c.authtype.as_deref(), Some("Bearer"));
    let cert: Vec<(Option<&str>, Option<&str>)> = decoded
        .credentials
        .iter()
        .filter(|l| l.body.key.protocol == "cert")
        .map(|l| (l.body.key.path.as_deref(), l.body.key.username.as_deref()))
        .collect();
    assert_eq!(
        cert,
        [
            (None, None),
            (None, Some("")),
            (Some(""), None),
            (Some(""), Some(""))
        ]
    );

    let account = decoded.accounts.get("work").unwrap();
    assert_eq!(
        account.body.secrets["client_secret"].expose_secret(),
        "cs-secret"
    );
    assert_eq!(account.body.matches.len(), 2);
    let token = decoded.tokens.get("work").unwrap();
    assert_eq!(token.body.secret.expose_secret(), "tok-secret");
    assert_eq!(token.body.info["scopes"][1], "read:org");
    let state = decoded.plugin_states.get("work").unwrap();
    assert_eq!(
        state.body.state.expose_secret(),
        r#"{"refresh_token":"rt-secret","n":[1,2]}"#
    );
    let state = decoded.plugin_states.get("text").unwrap();
    assert_eq!(state.body.state.expose_secret(), " not json, padded ");
    assert_eq!(decoded.tombstones.len(), 1);
    assert_eq!(decoded.max_hlc, s.payload.max_hlc);
    assert_eq!(decoded.recipients, s.payload.recipients);
}

#[test]
fn the_encoding_is_compact_and_puts_format_first() {
    let s = full();
    let bytes = encode(&s.payload, 0);
    let t = text(&bytes);
    assert!(t.starts_with(r#"{"format":1,"index":""#), "{t}");
    // The index (hex) comes next, then the header fields.
    let rest = &t[r#"{"format":1,"index":""#.len()..];
    let index_len = rest.find('"').unwrap();
    assert!(rest[..index_len].bytes().all(|c| c.is_ascii_hexdigit()));
    assert!(rest[index_len..].starts_with(r#"","vault_id":""#), "{t}");
    assert!(!t.contains('\n') && !t.contains(": "), "{t}");
    // JSON documents in plugin state are embedded, not escaped.
    assert!(
        t.contains(r#""state":{"refresh_token":"rt-secret","n":[1,2]}"#),
        "{t}"
    );
    assert!(t.contains(r#""state_text":" not json, padded ""#), "{t}");
    // Absent attributes are omitted, empty ones are written.
    assert!(t.contains(r#""body":{"protocol":"cert","host":""}"#), "{t}");
    assert!(
        t.contains(r#""body":{"protocol":"cert","host":"","path":"","username":""}"#),
        "{t}"
    );
    // The tombstone has no body and no secret.
    assert!(t.contains(r#""kind":"credential","deleted":true}"#), "{t}");
    assert!(
        !t.contains("deleted-secret") && !t.contains("gone.example"),
        "{t}"
    );
}

/// A payload as a newer minor version might write it: unknown fields everywhere, an unknown
/// kind, body before kind.
fn from_the_future() -> String {
    let s = full();
    let bytes = encode(&s.payload, 0);
    let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    v["zz_new_top"] = serde_json::json!({"a": [1, 2, {"b": null}]});
    v["aa_new_top"] = serde_json::json!("x");
    let entries = v["entries"].as_array_mut().unwrap();
    for e in entries.iter_mut() {
        e["entry_note"] = serde_json::json!(42);
        if let Some(body) = e.get_mut("body") {
            body["body_note"] = serde_json::json!({"secretish": "extra-secret"});
        }
    }
    entries.push(serde_json::json!({
        "id": "00112233445566778899aabbccddeeff",
        "hlc": [5, 0, "07070707070707070707070707070707"],
        "kind": "ssh_key",
        "body": {"private": "-----BEGIN-----", "n": 1}
    }));
    let mut text = serde_json::to_string(&v).unwrap();
    // serde_json sorts object keys (no preserve_order): "body" now precedes "kind", which
    // exercises the late body parse.
    assert!(text.contains(r#""body":{"#) && text.find(r#""body""#) < text.find(r#""kind""#));
    text.push(' ');
    text
}

#[test]
fn unknown_fields_and_kinds_survive_a_read_modify_write() {
    let future = from_the_future();
    let mut decoded = decode(future.as_bytes()).unwrap();
    assert_eq!(decoded.others.len(), 1);
    assert_eq!(decoded.extra.len(), 2);
    assert_eq!(
        decoded.extra[0].0, "aa_new_top",
        "unknown fields are kept sorted"
    );
    // Modify something unrelated.
    decoded.tokens.clear();
    let again = encode(&decoded, 0);
    let v: serde_json::Value = serde_json::from_slice(&again).unwrap();
    assert_eq!(
        v["zz_new_top"],
        serde_json::json!({"a": [1, 2, {"b": null}]})
    );
    let entries = v["entries"].as_array().unwrap();
    let other = entries.iter().find(|e| e["kind"] == "ssh_key").unwrap();
    assert_eq!(
        other["body"],
        serde_json::json!({"private": "-----BEGIN-----", "n": 1})
    );
    let account = entries.iter().find(|e| e["kind"] == "account").unwrap();
    assert_eq!(account["entry_note"], 42);
    assert_eq!(account["body"]["body_note"]["secretish"], "extra-secret");
    // A stable fixpoint from here on.
    assert_eq!(text(&encode(&decode(&again).unwrap(), 0)), text(&again));
}

fn invalid(payload: &str) -> String {
    match decode(payload.as_bytes()) {
        Err(DecodeError::Invalid(reason)) => reason,
        Err(other) => panic!("expected an invalid payload, got {other:?}"),
        Ok(_) => panic!("expected an error"),
    }
}

#[test]
fn parse_errors_never_quote_the_payload() {
    let good = text(&encode(&full().payload, 0)).to_string();
    // A secret where a number belongs: serde's message would quote it.
    let wrong_type = good.replace(
        r#""password_expiry_utc":1900000000"#,
        r#""password_expiry_utc":"hunter2-secret""#,
    );
    let reason = invalid(&wrong_type);
    assert!(!reason.contains("hunter2"), "{reason}");
    assert!(reason.starts_with("the payload has a missing or wrong-typed value (line 1, column "));
    // A syntax error right after a secret.
    let broken = good.replace(r#""cred-secret""#, r#""cred-secret"!"#);
    let reason = invalid(&broken);
    assert!(!reason.contains("secret"), "{reason}");
    assert!(
        reason.starts_with("the payload is not valid JSON (line 1, column "),
        "{reason}"
    );
    // Cut short.
    let reason = invalid(&good[..good.len() / 2]);
    assert!(
        reason.starts_with("the payload ends early (line 1, column "),
        "{reason}"
    );
    assert!(!reason.contains("secret"));
    // Not JSON at all.
    assert_eq!(
        invalid("\u{1}garbage"),
        "the payload is not valid JSON (line 1, column 1 of the payload)"
    );
}

#[test]
fn our_own_reasons_are_kept() {
    let good = text(&encode(&full().payload, 0)).to_string();
    let v: serde_json::Value = serde_json::from_str(&good).unwrap();
    let id = v["entries"][0]["id"].as_str().unwrap().to_string();
    let reason = invalid(&good.replacen(&id, "00000000000000000000000000000000", 1));
    assert!(
        reason.starts_with("an entry's id does not match its key (line 1, column "),
        "{reason}"
    );
    let reason = invalid(&good.replacen(&id, "zz", 1));
    assert!(
        reason.starts_with("an id is not 32 hexadecimal characters (line 1"),
        "{reason}"
    );
    let reason = invalid(r#"{"format":1}"#);
    assert!(
        reason.starts_with("the payload has no `vault_id` field"),
        "{reason}"
    );
    let reason = invalid(r#"{"format":0}"#);
    assert!(
        reason.starts_with("the payload declares format 0, which does not exist"),
        "{reason}"
    );
    // The same entry twice.
    let mut v2 = v.clone();
    let first = v2["entries"][0].clone();
    v2["entries"].as_array_mut().unwrap().push(first);
    let reason = invalid(&v2.to_string());
    assert!(
        reason.starts_with("two entries have the same id"),
        "{reason}"
    );
    // A live entry and a tombstone with the same id.
    let mut v3 = v.clone();
    let mut dead = v3["entries"][0].clone();
    dead.as_object_mut().unwrap().remove("body");
    dead["deleted"] = serde_json::json!(true);
    v3["entries"].as_array_mut().unwrap().push(dead);
    assert!(invalid(&v3.to_string()).starts_with("two entries have the same id"));
    let reason = invalid(&good.replacen(r#"[1"#, r#"[1,2,3,4"#, 1));
    assert!(!reason.is_empty());
}

#[test]
fn newer_formats_are_recognised_even_when_they_do_not_parse() {
    assert!(matches!(
        decode(br#"{"format":2,"everything":"different"}"#),
        Err(DecodeError::UnsupportedFormat(2))
    ));
    // `format` not first, and the rest not parseable as format 1.
    assert!(matches!(
        decode(br#"{"entries":{"new":"layout"},"format":7}"#),
        Err(DecodeError::UnsupportedFormat(7))
    ));
    // format 1 with a broken body stays "invalid".
    assert!(matches!(
        decode(br#"{"entries":{"new":"layout"},"format":1}"#),
        Err(DecodeError::Invalid(_))
    ));
}

#[test]
fn max_hlc_covers_every_stamp_even_if_the_writer_forgot() {
    let s = full();
    let good = text(&encode(&s.payload, 0)).to_string();
    let mut v: serde_json::Value = serde_json::from_str(&good).unwrap();
    v["max_hlc"] = serde_json::json!([0, 0, "00000000000000000000000000000000"]);
    let decoded = decode(v.to_string().as_bytes()).unwrap();
    assert_eq!(decoded.max_hlc, s.payload.max_hlc);
}

#[test]
fn zeroizing_writer_grows_without_losing_bytes() {
    use std::io::Write;
    let mut w = ZeroizingWriter::with_capacity(1);
    let mut expected = Vec::new();
    for i in 0..10_000u32 {
        let chunk = i.to_string();
        w.write_all(chunk.as_bytes()).unwrap();
        expected.extend_from_slice(chunk.as_bytes());
    }
    assert_eq!(&*w.into_inner(), &expected[..]);
}

#[test]
fn embeddable_json() {
    assert!(is_embeddable_json(r#"{"a":1}"#));
    assert!(is_embeddable_json("[]"));
    assert!(is_embeddable_json("\"s\""));
    assert!(!is_embeddable_json(" {}"));
    assert!(!is_embeddable_json("{} "));
    assert!(!is_embeddable_json("{"));
    assert!(!is_embeddable_json(""));
    assert!(!is_embeddable_json("{}{}"));
}

/// The example in docs/vault-format.md is a valid payload, and means what the page says.
#[test]
fn the_documented_example_parses() {
    let doc = include_str!("../../../docs/vault-format.md");
    let start = doc.find("```json\n").expect("the page has a JSON example") + "```json\n".len();
    let end = start + doc[start..].find("```").unwrap();
    let p = decode(&doc.as_bytes()[start..end]).unwrap();
    assert_eq!(p.recipients.len(), 1);
    assert_eq!(p.vv.values().copied().collect::<Vec<_>>(), [5]);
    assert_eq!(p.credentials.len(), 1);
    let c = &p.credentials.iter().next().unwrap().body;
    assert_eq!(c.key.username.as_deref(), Some("alice"));
    assert_eq!(c.key.path, None);
    assert_eq!(
        c.password.as_ref().unwrap().expose_secret(),
        "correct horse battery staple"
    );
    assert_eq!(
        p.accounts.get("work").unwrap().body.secrets["client_secret"].expose_secret(),
        "cs-example"
    );
    assert_eq!(
        p.tokens.get("work").unwrap().body.expires_at,
        Some(1_795_433_600)
    );
    assert_eq!(
        p.plugin_states
            .get("work")
            .unwrap()
            .body
            .state
            .expose_secret(),
        r#"{ "refresh_token": "rt-example" }"#
    );
    assert_eq!(p.tombstones.len(), 1);
    let tombstone = p.tombstones.keys().next().unwrap();
    let gone = CredentialKey {
        protocol: "https".into(),
        host: "old.example.com".into(),
        path: None,
        username: None,
    };
    assert_eq!(*tombstone, EntryId::of_credential(&gone));
    // And the documented id vectors are what the code computes.
    for (kind, id) in [
        (Kind::Token, "38025502bcbb3b1ddab161a691691c2f"),
        (Kind::PluginState, "2552e3333b7905082b087e8cb30c8e1d"),
        (Kind::Account, "9e8eafdba8c10a644d7f09cd4b4851db"),
    ] {
        assert_eq!(hex::encode(EntryId::of_named(&kind, "work").0), id);
        assert!(doc.contains(id));
    }
}

/// Vaults of earlier builds keep one secret and a recipients register; they read as one
/// secret and live recipients stamped by the register, and are written in the new form.
#[test]
fn the_earlier_register_form_reads() {
    let s = full();
    let mut v: serde_json::Value = serde_json::from_str(text(&encode(&s.payload, 0))).unwrap();
    let secret = v["secrets"][0]["secret"].clone();
    let hlc = serde_json::json!([5, 0, "07070707070707070707070707070707"]);
    let map = v.as_object_mut().unwrap();
    map.remove("secrets");
    map.insert("vault_secret".into(), secret);
    map.insert(
        "recipients".into(),
        serde_json::json!({"value": ["age1b", "age1a"], "hlc": hlc}),
    );
    let p = decode(v.to_string().as_bytes()).unwrap();
    assert_eq!(p.live_recipients().collect::<Vec<_>>(), ["age1a", "age1b"]);
    assert!(
        p.recipients
            .values()
            .all(|m| m.hlc.wall_ms == 5 && !m.removed)
    );
    assert_eq!(p.secrets.len(), 1);
    assert_eq!(p.secrets[0].hlc.wall_ms, 5);
    assert_eq!(
        p.secrets[0].secret.expose_secret().0,
        s.payload.current_secret().secret.expose_secret().0
    );
    let again = text(&encode(&p, 0)).to_string();
    assert!(
        again.contains(r#""recipients":[{"key":"age1a","hlc":[5,0,"#),
        "{again}"
    );
    assert!(!again.contains("vault_secret"), "{again}");
}

#[test]
fn removed_recipients_and_older_secrets_round_trip() {
    let mut s = full();
    let other = crate::Identity::generate().public();
    s.add_recipient(&other).unwrap();
    s.remove_recipient(&other).unwrap();
    let bytes = encode(&s.payload, 0);
    assert!(text(&bytes).contains(r#","removed":true}"#));
    let p = decode(&bytes).unwrap();
    assert_eq!(p.recipients, s.payload.recipients);
    assert_eq!(p.secrets.len(), 2);
    assert_eq!(encode(&p, 0).to_vec(), bytes.to_vec());
}

/// Every reason this module gives for a damaged payload, produced once.
#[test]
fn every_damage_has_its_reason() {
    let good = text(&encode(&full().payload, 0)).to_string();
    let v: serde_json::Value = serde_json::from_str(&good).unwrap();
    let credential_index = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .position(|e| e["kind"] == "credential" && e.get("body").is_some())
        .unwrap();
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = v.clone();
        f(&mut v);
        v.to_string()
    };
    let entry = |f: &'static dyn Fn(&mut serde_json::Map<String, serde_json::Value>)| {
        edit(&move |v| f(v["entries"][credential_index].as_object_mut().unwrap()))
    };
    // The body of the first entry of `kind`.
    let body =
        |kind: &'static str,
         f: &'static dyn Fn(&mut serde_json::Map<String, serde_json::Value>)| {
            edit(&move |v| {
                let entries = v["entries"].as_array_mut().unwrap();
                let e = entries.iter_mut().find(|e| e["kind"] == kind).unwrap();
                f(e["body"].as_object_mut().unwrap())
            })
        };
    let cases: Vec<(String, &str)> = vec![
        (
            edit(&|v| v["vault_secret"] = "abc".into()),
            "the vault secret is not 64 hexadecimal characters",
        ),
        (
            edit(&|v| v["max_hlc"] = serde_json::json!([1, 2])),
            "a clock stamp is not [wall_ms, counter, device]",
        ),
        (
            edit(&|v| {
                v["max_hlc"] = serde_json::json!([1, 2, "00000000000000000000000000000000", 4])
            }),
            "a clock stamp is not [wall_ms, counter, device]",
        ),
        (
            edit(&|v| v["recipients"] = serde_json::json!({"value": []})),
            "the recipients register lacks its value or stamp",
        ),
        (
            edit(&|v| {
                let first = v["recipients"][0].clone();
                v["recipients"].as_array_mut().unwrap().push(first);
            }),
            "a recipient is listed twice",
        ),
        (
            edit(&|v| drop(v["recipients"][0].as_object_mut().unwrap().remove("hlc"))),
            "a recipient lacks its key or stamp",
        ),
        (
            edit(&|v| drop(v["secrets"][0].as_object_mut().unwrap().remove("secret"))),
            "a vault secret lacks its value or stamp",
        ),
        (
            edit(&|v| v["secrets"] = serde_json::json!([])),
            "the payload lists no vault secret",
        ),
        (
            edit(&|v| drop(v.as_object_mut().unwrap().remove("secrets"))),
            "the payload has no `secrets` field",
        ),
        (
            edit(&|v| v["vv"] = serde_json::json!({"nope": 1})),
            "a version vector key is not a device id",
        ),
        (
            edit(&|v| drop(v.as_object_mut().unwrap().remove("entries"))),
            "the payload has no `entries` field",
        ),
        (entry(&|e| drop(e.remove("id"))), "an entry has no id"),
        (
            entry(&|e| drop(e.remove("hlc"))),
            "an entry has no clock stamp",
        ),
        (entry(&|e| drop(e.remove("kind"))), "an entry has no kind"),
        (
            entry(&|e| drop(e.remove("body"))),
            "a live entry has no body",
        ),
        (
            // Body before kind (parsed late), and not valid for its kind.
            entry(&|e| {
                e.remove("kind");
                e.insert("kind".into(), "credential".into());
                e["body"] = serde_json::json!({"protocol": 7});
            }),
            "an entry's body is not valid for its kind",
        ),
        (
            entry(&|e| drop(e["body"].as_object_mut().unwrap().remove("host"))),
            "a stored credential lacks its protocol or host",
        ),
        (
            body("account", &|b| drop(b.remove("provider"))),
            "an account lacks its name, provider or url",
        ),
        (
            body("token", &|b| drop(b.remove("obtained_at"))),
            "a cached token lacks its account, secret or obtained_at",
        ),
        (
            body("plugin_state", &|b| {
                b.remove("state");
                b.remove("state_text");
            }),
            "plugin state lacks its account or state",
        ),
    ];
    for (payload, expected) in cases {
        let reason = invalid(&payload);
        assert!(
            reason.starts_with(expected),
            "expected {expected:?}, got {reason:?}"
        );
        assert!(reason.contains("(line 1, column "), "{reason}");
        assert!(!reason.contains("secret\""), "{reason}");
    }
}

/// The index, read the way docs/vault-format.md ("The index") describes it, without this
/// crate's reader: every field where the page says, every span the entries it promises.
#[test]
fn the_index_is_as_documented() {
    let doc = include_str!("../../../docs/vault-format.md");
    assert!(doc.contains(&format!("`{}`", crate::index::tests::KNOWN_HOST_HASH)));
    let prefix = r#"{"format":1,"index":""#;
    assert!(doc.contains(&format!("{prefix}<index>\",\"vault_id\":...")));
    let bytes = encode(&full().payload, 0);
    let t = text(&bytes);
    assert!(t.starts_with(prefix));
    assert_eq!(prefix.len(), 21, "the page says 21 bytes");
    let index = &t[prefix.len()..prefix.len() + t[prefix.len()..].find('"').unwrap()];
    let num = |at: usize, digits: usize| u64::from_str_radix(&index[at..at + digits], 16).unwrap();
    assert_eq!(num(0, 8) as usize, t.len());
    let span = |at: usize| {
        let (start, len) = (num(at, 8) as usize, num(at + 8, 8) as usize);
        &t[start..start + len]
    };
    let entries = |text: &str| -> Vec<serde_json::Value> {
        serde_json::from_str::<Vec<serde_json::Value>>(&format!("[{text}]")).unwrap()
    };
    let accounts = entries(span(8));
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0]["kind"], "account");
    let tokens = entries(span(24));
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0]["body"]["account"], "work");
    let records = num(40, 8) as usize;
    assert_eq!(index.len(), 48 + 32 * records);
    // Two hosts: git.example.com:8443 and the four `cert` credentials with an empty host.
    assert_eq!(records, 2);
    let mut hashes = Vec::new();
    for r in 0..records {
        let at = 48 + 32 * r;
        hashes.push(num(at, 16));
        for entry in entries(span(at + 16)) {
            let body = &entry["body"];
            let (protocol, host) = (body["protocol"].as_str().unwrap(), body["host"].as_str());
            let expected = crate::index::host_hash(protocol, host.unwrap());
            assert_eq!(num(at, 16), expected);
        }
    }
    assert!(hashes.is_sorted());
}
