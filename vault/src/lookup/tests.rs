use std::io::{Cursor, Write as _};

use proptest::prelude::*;
use secrecy::{ExposeSecret, SecretString};

use super::*;
use crate::clock::DeviceId;
use crate::entry::{CredentialKey, EntryId};
use crate::payload::{OtherBody, OtherLive, RawJson, decode, encode, encode_entry};
use crate::snapshot::Snapshot;

const DEV: DeviceId = DeviceId([3; 16]);

// ---------------------------------------------------------------------------------------------
// Random vaults

const PROTOCOLS: &[&str] = &["https", "http", "cert"];
const HOSTS: &[&str] = &[
    "",
    "a.example",
    "b.example:8443",
    "\u{e9}.example",
    "q\"uote",
];

fn opt_text() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some(String::new())),
        "[a-c/]{1,3}".prop_map(Some),
    ]
}

/// Secrets with what makes JSON interesting: escapes, control characters, non-ASCII.
fn secret_text() -> impl Strategy<Value = String> {
    "[a-z\"\\\\\n\u{e9}\u{1f511}]{0,12}"
}

fn credential() -> impl Strategy<Value = Credential> {
    (
        0..PROTOCOLS.len(),
        0..HOSTS.len(),
        opt_text(),
        opt_text(),
        proptest::option::of(secret_text()),
        proptest::option::of(secret_text()),
        proptest::option::of(0u64..3_000_000_000),
    )
        .prop_map(
            |(p, h, path, username, password, credential, expiry)| Credential {
                key: CredentialKey {
                    protocol: PROTOCOLS[p].into(),
                    host: HOSTS[h].into(),
                    path,
                    username,
                },
                password: password.map(SecretString::from),
                password_expiry_utc: expiry,
                oauth_refresh_token: None,
                authtype: credential.as_ref().map(|_| "Bearer".to_owned()),
                credential: credential.map(SecretString::from),
            },
        )
}

#[derive(Clone, Debug)]
enum Op {
    Credential(Credential),
    RemoveCredential(usize),
    Account(u8, String),
    RemoveAccount(u8),
    Token(u8, String, Option<u64>),
    RemoveToken(u8),
    State(u8, String),
    Other(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => credential().prop_map(Op::Credential),
        2 => any::<usize>().prop_map(Op::RemoveCredential),
        2 => (0u8..4, secret_text()).prop_map(|(n, s)| Op::Account(n, s)),
        1 => (0u8..4).prop_map(Op::RemoveAccount),
        2 => (0u8..4, secret_text(), proptest::option::of(0u64..3_000_000_000))
            .prop_map(|(n, s, e)| Op::Token(n, s, e)),
        1 => (0u8..4).prop_map(Op::RemoveToken),
        1 => (0u8..4, secret_text()).prop_map(|(n, s)| Op::State(n, s)),
        1 => (0u8..4).prop_map(Op::Other),
    ]
}

fn name(n: u8) -> String {
    format!("acct-{n}")
}

fn snapshot(ops: &[Op], extra: bool) -> Snapshot {
    let public = crate::Identity::generate().public();
    let mut s = Snapshot::new_vault(DEV, public).unwrap();
    for op in ops {
        match op {
            Op::Credential(c) => s.put_credential(c.clone()),
            Op::RemoveCredential(i) => {
                let keys: Vec<CredentialKey> = s.credentials().map(|c| c.key.clone()).collect();
                if !keys.is_empty() {
                    s.remove_credential(&keys[i % keys.len()]);
                }
            }
            Op::Account(n, secret) => s.put_account(Account {
                name: name(*n),
                provider: "p".into(),
                url: format!("https://{n}.example"),
                matches: vec![format!("https://git{n}.example")],
                settings: [("k".to_owned(), "v".to_owned())].into(),
                secrets: [("s".to_owned(), SecretString::from(secret.clone()))].into(),
            }),
            Op::RemoveAccount(n) => {
                s.remove_account(&name(*n));
            }
            Op::Token(n, secret, expires_at) => s.put_token(CachedToken {
                account: name(*n),
                secret: secret.clone().into(),
                username: Some("x".into()),
                authtype: None,
                expires_at: *expires_at,
                obtained_at: 1,
                info: serde_json::json!({"scopes": [n]}),
            }),
            Op::RemoveToken(n) => {
                s.remove_token(&name(*n));
            }
            Op::State(n, text) => {
                // A state that holds something shaped like an entry.
                let state = serde_json::json!({
                    "t": text,
                    "e": [{"id": "00", "kind": "credential", "body": {"host": "a.example"}}],
                });
                s.put_plugin_state(&name(*n), SecretString::from(state.to_string()));
            }
            Op::Other(n) => {
                let hlc = s.stamp();
                s.payload.others.insert(
                    EntryId([*n; 16]),
                    OtherLive {
                        hlc,
                        body: OtherBody {
                            kind: "ssh_key".into(),
                            body: RawJson(SecretString::from(r#"{"k":[1,{"credential":2}]}"#)),
                        },
                        extra: Vec::new(),
                    },
                );
            }
        }
    }
    if extra {
        // Unknown fields from a newer keyhelm: kept, and skipped by lookups.
        s.payload
            .extra
            .push(("zz".into(), RawJson(SecretString::from(r#"{"a":"]}"}"#))));
        let mut credentials = std::mem::take(&mut s.payload.credentials).into_iter();
        let mut kept = Vec::new();
        for mut live in credentials.by_ref() {
            live.extra
                .push(("note".into(), RawJson(SecretString::from("[\"},{\"]"))));
            live.body_extra
                .push(("more".into(), RawJson(SecretString::from("7"))));
            kept.push(live);
        }
        s.payload.credentials = crate::payload::Sorted::from_vec(kept).unwrap();
    }
    s
}

// ---------------------------------------------------------------------------------------------
// What a lookup answers, and what a full read answers

/// A protocol and a host.
type Host = (String, String);

/// The answers to every question a lookup can be asked. Each entry is encoded canonically as
/// the public API returns it: body and stamp for credentials, body for accounts and tokens.
#[derive(Debug, PartialEq, Eq)]
struct Answers {
    credentials: Vec<(Host, Vec<Vec<u8>>)>,
    accounts: Vec<Vec<u8>>,
    tokens: Vec<(String, Option<Vec<u8>>)>,
    all_tokens: Vec<Vec<u8>>,
}

fn questions() -> (Vec<Host>, Vec<String>) {
    let mut hosts = Vec::new();
    for p in PROTOCOLS.iter().chain(&["ftp"]) {
        for h in HOSTS.iter().chain(&["nowhere.example", "target.example"]) {
            hosts.push((p.to_string(), h.to_string()));
        }
    }
    let names = (0..5).map(name).collect();
    (hosts, names)
}

fn stamped(c: Credential, hlc: Hlc) -> Vec<u8> {
    encode_entry(&Live::new(c, hlc)).to_vec()
}

fn unstamped<T: crate::entry::Body + crate::payload::BodySer>(body: T) -> Vec<u8> {
    encode_entry(&Live::new(body, Hlc::ZERO)).to_vec()
}

/// The answers of a full read.
fn full_answers(payload: &Payload) -> Answers {
    let (hosts, names) = questions();
    Answers {
        credentials: hosts
            .into_iter()
            .map(|(p, h)| {
                let found = payload
                    .credentials
                    .iter()
                    .filter(|l| l.body.key.protocol == p && l.body.key.host == h)
                    .map(|l| stamped(l.body.clone(), l.hlc))
                    .collect();
                ((p, h), found)
            })
            .collect(),
        accounts: payload
            .accounts
            .iter()
            .map(|l| unstamped(l.body.clone()))
            .collect(),
        tokens: names
            .into_iter()
            .map(|n| {
                let found = payload
                    .tokens
                    .get(n.as_str())
                    .map(|l| unstamped(l.body.clone()));
                (n, found)
            })
            .collect(),
        all_tokens: payload
            .tokens
            .iter()
            .map(|l| unstamped(l.body.clone()))
            .collect(),
    }
}

/// The answers of the index alone (over the plaintext), or `None` where it gave up (a lookup
/// then reads the whole payload).
fn index_answers(bytes: &[u8]) -> Option<Answers> {
    let mut plain = Cursor::new(bytes.to_vec());
    let header = read_index(&mut plain, Some(bytes.len() as u64)).ok()??;
    let mut indexed = Indexed {
        plain,
        pos: (index::PREFIX.len() + index::HEADER_HEX) as u64,
        header,
    };
    let (hosts, names) = questions();
    let mut credentials = Vec::new();
    for (p, h) in hosts {
        let found = indexed.credentials(&p, &h).unwrap()?;
        let found = found.into_iter().map(|l| stamped(l.body, l.hlc)).collect();
        credentials.push(((p, h), found));
    }
    let accounts = indexed.accounts().unwrap()?;
    let accounts = accounts.into_iter().map(|l| unstamped(l.body)).collect();
    let tokens_found = indexed.tokens().unwrap()?;
    let tokens = names
        .into_iter()
        .map(|n| {
            let found = tokens_found
                .iter()
                .find(|l| l.body.account == n)
                .map(|l| unstamped(l.body.clone()));
            (n, found)
        })
        .collect();
    let all_tokens = tokens_found
        .into_iter()
        .map(|l| unstamped(l.body))
        .collect();
    Some(Answers {
        credentials,
        accounts,
        tokens,
        all_tokens,
    })
}

/// Everything a lookup answers, through the public API.
fn lookup_answers(lookup: &mut Lookup) -> Result<Answers> {
    let (hosts, names) = questions();
    let mut credentials = Vec::new();
    for (p, h) in hosts {
        let found = lookup.credentials(&p, &h)?;
        let found = found.into_iter().map(|(c, hlc)| stamped(c, hlc)).collect();
        credentials.push(((p, h), found));
    }
    let accounts = lookup.accounts()?.into_iter().map(unstamped).collect();
    let mut tokens = Vec::new();
    for n in names {
        let found = lookup.token(&n)?.map(unstamped);
        tokens.push((n, found));
    }
    let all_tokens = lookup.tokens()?.into_iter().map(unstamped).collect();
    Ok(Answers {
        credentials,
        accounts,
        tokens,
        all_tokens,
    })
}

/// Every entry in `part` is in `whole`, under the same question.
fn is_within(part: &Answers, whole: &Answers) -> bool {
    let creds = part
        .credentials
        .iter()
        .zip(&whole.credentials)
        .all(|((q1, a), (q2, b))| q1 == q2 && a.iter().all(|e| b.contains(e)));
    let accounts = part.accounts.iter().all(|a| whole.accounts.contains(a));
    let tokens = part
        .tokens
        .iter()
        .zip(&whole.tokens)
        .all(|((n1, a), (n2, b))| n1 == n2 && (a.is_none() || a == b));
    let all_tokens = part.all_tokens.iter().all(|t| whole.all_tokens.contains(t));
    creds && accounts && tokens && all_tokens
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// A lookup through the index finds exactly what a full read finds, for every protocol
    /// and host, every account and every token, in random vaults.
    #[test]
    fn the_index_finds_what_a_full_read_finds(
        ops in proptest::collection::vec(op(), 0..40),
        extra in any::<bool>(),
    ) {
        let s = snapshot(&ops, extra);
        let bytes = encode(&s.payload, 0);
        let whole = full_answers(&decode(&bytes).unwrap());
        prop_assert_eq!(&whole, &full_answers(&s.payload));
        let via_index = index_answers(&bytes);
        prop_assert!(via_index.is_some(), "the index of a fresh encoding is consistent");
        prop_assert_eq!(via_index.unwrap(), whole);
    }

    /// Whatever is done to the index, what it answers is in the vault under the same
    /// question: it may miss an entry or give up, never answer a wrong one.
    #[test]
    fn a_lying_index_never_yields_a_wrong_entry(
        ops in proptest::collection::vec(op(), 1..30),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..16), 1..4),
    ) {
        let s = snapshot(&ops, false);
        let mut bytes = encode(&s.payload, 0).to_vec();
        let whole = full_answers(&decode(&bytes).unwrap());
        let start = index::PREFIX.len();
        let len = bytes[start..].iter().position(|&c| c == b'"').unwrap();
        for (at, digit) in edits {
            bytes[start + at.index(len)] = b"0123456789abcdef"[digit as usize];
        }
        // The payload is still valid JSON: the lie is in the index alone.
        let decoded = decode(&bytes).unwrap();
        prop_assert_eq!(&full_answers(&decoded), &whole);
        if let Some(answers) = index_answers(&bytes) {
            prop_assert!(is_within(&answers, &whole), "{answers:?} not within {whole:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Through real files: age chunks, fallbacks, damage

struct Setup {
    _dir: tempfile::TempDir,
    location: Location,
    identity_file: PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let location = Location {
        file: dir.path().join("vault/vault.age"),
        state_dir: dir.path().join("state"),
    };
    std::fs::create_dir_all(location.file.parent().unwrap()).unwrap();
    let identity_file = dir.path().join("identity.txt");
    Identity::generate().write_new(&identity_file).unwrap();
    Setup {
        _dir: dir,
        location,
        identity_file,
    }
}

impl Setup {
    fn identity(&self) -> Identity {
        Identity::from_file(&self.identity_file).unwrap()
    }

    fn vault(&self) -> crate::Vault {
        crate::Vault::new(self.location.clone(), self.identity(), DEV)
    }

    /// Writes `plaintext`, encrypted to this identity, as the vault.
    fn write(&self, plaintext: &[u8]) {
        let recipient = crate::identity::parse_recipient(&self.identity().public()).unwrap();
        let encryptor =
            age::Encryptor::with_recipients(std::iter::once(recipient.key.as_ref() as _)).unwrap();
        let mut out = Vec::new();
        let mut w = encryptor.wrap_output(&mut out).unwrap();
        w.write_all(plaintext).unwrap();
        w.finish().unwrap();
        std::fs::write(&self.location.file, out).unwrap();
        self.seen();
    }

    /// Records the vault file as checked by this device (a file written by hand would
    /// otherwise be checked and read whole by the next open).
    fn seen(&self) {
        crate::sync::mark_seen(&self.location);
    }

    fn open(&self) -> Result<Lookup> {
        Lookup::open(&self.location, &self.identity())
    }

    /// The answers of `Vault::read`.
    fn full(&self) -> Result<Answers> {
        Ok(full_answers(&self.vault().read()?.payload))
    }

    /// Where the age payload starts in the vault file, and the file.
    fn ciphertext(&self) -> (usize, Vec<u8>) {
        let bytes = std::fs::read(&self.location.file).unwrap();
        (payload_start(&bytes).unwrap() as usize, bytes)
    }
}

fn cred(host: &str, user: &str, password: &str) -> Credential {
    Credential {
        key: CredentialKey {
            protocol: "https".into(),
            host: host.into(),
            path: None,
            username: Some(user.into()),
        },
        password: Some(password.into()),
        password_expiry_utc: None,
        oauth_refresh_token: None,
        authtype: None,
        credential: None,
    }
}

fn account(n: u8, padding: usize) -> Account {
    Account {
        name: name(n),
        provider: "p".into(),
        url: format!("https://{n}.example"),
        matches: Vec::new(),
        settings: [("pad".to_owned(), "x".repeat(padding))].into(),
        secrets: [("s".to_owned(), SecretString::from("account-secret"))].into(),
    }
}

/// A vault of `n` credentials over `n / 3` hosts (three users each), one of them
/// `target.example`, and two accounts with tokens; `padding` bytes in the first account move
/// every credential by as much.
fn big(n: usize, padding: usize) -> Snapshot {
    let public = crate::Identity::generate().public();
    let mut s = Snapshot::new_vault(DEV, public).unwrap();
    // Stamps of a fixed length: the padding alone moves the entries.
    s.fixed_now = Some(1_000_000_000_000);
    s.put_account(account(0, padding));
    s.put_account(account(1, 0));
    for i in 0..n {
        let host = if i / 3 == n / 6 {
            "target.example".to_owned()
        } else {
            format!("host{}.example", i / 3)
        };
        s.put_credential(cred(
            &host,
            &format!("user{}", i % 3),
            &format!("pw-{i:06}"),
        ));
    }
    for n in [0, 1] {
        s.put_token(CachedToken {
            account: name(n),
            secret: format!("token-{n}").into(),
            username: None,
            authtype: None,
            expires_at: None,
            obtained_at: 1,
            info: serde_json::Value::Null,
        });
    }
    s
}

/// The index's record for `https://target.example`.
fn target_span(bytes: &[u8]) -> Span {
    let header = read_index(&mut Cursor::new(bytes), Some(bytes.len() as u64))
        .unwrap()
        .unwrap();
    let start = index::PREFIX.len() + index::HEADER_HEX;
    let records = &bytes[start..start + header.records as usize * index::RECORD_HEX];
    let spans = index::find(records, index::host_hash("https", "target.example")).unwrap();
    assert_eq!(spans.len(), 1);
    spans[0]
}

#[test]
fn lookups_across_many_chunks_match_a_full_read() {
    let t = setup();
    let vault = t.vault();
    let source = big(3_000, 0);
    vault
        .update(|s| {
            for c in source.credentials() {
                s.put_credential(c.clone());
            }
            for a in source.accounts() {
                s.put_account(a.clone());
            }
            for tok in source.tokens() {
                s.put_token(tok.clone());
            }
            Ok::<_, Error>(())
        })
        .unwrap();
    let size = std::fs::metadata(&t.location.file).unwrap().len();
    assert!(
        size > 8 * CHUNK,
        "{size} bytes: the vault spans many chunks"
    );
    let whole = t.full().unwrap();
    let mut lookup = t.open().unwrap();
    assert!(lookup.is_indexed());
    assert_eq!(lookup_answers(&mut lookup).unwrap(), whole);
    assert!(lookup.is_indexed(), "answered from the index alone");
    // Every 7th host (about 140, from every chunk), in an order that seeks back and forth.
    let snapshot = vault.read().unwrap();
    let mut hosts: Vec<String> = snapshot.credentials().map(|c| c.key.host.clone()).collect();
    hosts.dedup();
    let hosts: Vec<&String> = hosts.iter().step_by(7).collect();
    let (even, odd): (Vec<_>, Vec<_>) = hosts.iter().enumerate().partition(|(i, _)| i % 2 == 0);
    for (_, host) in odd.into_iter().rev().chain(even) {
        let found = lookup.credentials("https", host).unwrap();
        let expected: Vec<&Credential> = snapshot
            .credentials()
            .filter(|c| c.key.host == **host)
            .collect();
        assert_eq!(found.len(), expected.len(), "{host}");
        for ((c, _), e) in found.iter().zip(expected) {
            assert_eq!(c.key, e.key);
            assert_eq!(
                c.password.as_ref().map(|p| p.expose_secret().to_owned()),
                e.password.as_ref().map(|p| p.expose_secret().to_owned())
            );
        }
    }
    assert!(lookup.is_indexed());
}

/// Spans that start or end right at, just before or just after a 64 KiB chunk boundary, each
/// read first (from the first chunk) or after another span (from elsewhere).
#[test]
fn spans_at_chunk_boundaries() {
    let base = encode(&big(1_200, 100).payload, 0);
    let span = target_span(&base);
    assert!(u64::from(span.start) > CHUNK, "{span:?}");
    // The next boundary: growing the padding moves either edge there.
    let boundary = (span.end() / CHUNK + 1) * CHUNK;
    for (at_start, delta) in [
        (true, -1i64),
        (true, 0),
        (true, 1),
        (true, 2),
        (false, -1),
        (false, 0),
        (false, 1),
    ] {
        // Move the span by changing the padding (everything after it moves too).
        let now = if at_start {
            u64::from(span.start)
        } else {
            span.end()
        };
        let wanted = boundary as i64 + delta;
        let padding = (100 + wanted - now as i64) as usize;
        let s = big(1_200, padding);
        let bytes = encode(&s.payload, 0);
        let moved = target_span(&bytes);
        let edge = if at_start {
            u64::from(moved.start)
        } else {
            moved.end()
        };
        assert_eq!(edge as i64, wanted);

        let t = setup();
        t.write(&bytes);
        let whole = full_answers(&s.payload);
        let target = ("https".to_owned(), "target.example".to_owned());
        let expected = &whole
            .credentials
            .iter()
            .find(|(q, _)| *q == target)
            .unwrap()
            .1;
        assert_eq!(expected.len(), 3);
        // First thing read after the index.
        let mut lookup = t.open().unwrap();
        let found = lookup.credentials("https", "target.example").unwrap();
        let found: Vec<Vec<u8>> = found.into_iter().map(|(c, h)| stamped(c, h)).collect();
        assert_eq!(&found, expected, "edge at {wanted}");
        // After the tokens (the end of the entries) and the accounts (the first chunk).
        let mut lookup = t.open().unwrap();
        assert!(lookup.token(&name(1)).unwrap().is_some());
        assert_eq!(lookup.accounts().unwrap().len(), 2);
        let found = lookup.credentials("https", "target.example").unwrap();
        let found: Vec<Vec<u8>> = found.into_iter().map(|(c, h)| stamped(c, h)).collect();
        assert_eq!(&found, expected, "edge at {wanted}");
        assert_eq!(lookup_answers(&mut lookup).unwrap(), whole);
        assert!(lookup.is_indexed());
    }
}

#[test]
fn a_vault_without_an_index_is_read_whole() {
    let doc = include_str!("../../../docs/vault-format.md");
    let start = doc.find("```json\n").unwrap() + "```json\n".len();
    let end = start + doc[start..].find("```").unwrap();
    let t = setup();
    t.write(&doc.as_bytes()[start..end]);
    let mut lookup = t.open().unwrap();
    assert!(!lookup.is_indexed());
    let whole = t.full().unwrap();
    assert_eq!(whole.accounts.len(), 1);
    assert_eq!(lookup_answers(&mut lookup).unwrap(), whole);
    // Tiny payloads, shorter than an index header, too.
    t.write(br#"{"format":1}"#);
    assert!(matches!(t.open(), Err(Error::Corrupt { .. })));
}

#[test]
fn an_edited_payload_is_read_whole_unless_its_length_is_unchanged() {
    let s = big(30, 0);
    let bytes = encode(&s.payload, 0).to_vec();
    let text = String::from_utf8(bytes).unwrap();
    let t = setup();
    // A longer password (an edit by hand): the index no longer fits, the lookup reads all.
    let longer = text.replacen("pw-000016", "pw-000016-changed", 1);
    t.write(longer.as_bytes());
    let mut lookup = t.open().unwrap();
    assert!(!lookup.is_indexed());
    let whole = t.full().unwrap();
    assert_eq!(lookup_answers(&mut lookup).unwrap(), whole);
    let changed = lookup.credentials("https", "target.example").unwrap();
    assert!(
        changed
            .iter()
            .any(|(c, _)| { c.password.as_ref().unwrap().expose_secret() == "pw-000016-changed" })
    );
    // The same length: the index still fits, and the lookup reads the new value.
    let same = text.replacen("pw-000016", "pw-999999", 1);
    t.write(same.as_bytes());
    let mut lookup = t.open().unwrap();
    assert!(lookup.is_indexed());
    assert_eq!(lookup_answers(&mut lookup).unwrap(), t.full().unwrap());
    let changed = lookup.credentials("https", "target.example").unwrap();
    assert!(
        changed
            .iter()
            .any(|(c, _)| { c.password.as_ref().unwrap().expose_secret() == "pw-999999" })
    );
    // Edits that keep the length but move the target (one byte longer before it, one
    // shorter after it): its span now starts one byte early, and the lookup notices.
    let cut = text
        .replacen(r#""pw-000001""#, r#""pw-0000011""#, 1)
        .replacen(r#""token-1""#, r#""token1""#, 1);
    assert_eq!(cut.len(), text.len());
    t.write(cut.as_bytes());
    let mut lookup = t.open().unwrap();
    assert!(lookup.is_indexed(), "the length still fits");
    // The target's span now starts one byte late: it no longer parses.
    let found = lookup.credentials("https", "target.example").unwrap();
    assert!(!lookup.is_indexed(), "fell back to a full read");
    assert_eq!(found.len(), 3);
    assert_eq!(lookup_answers(&mut lookup).unwrap(), t.full().unwrap());
}

#[test]
fn damage_is_found_where_a_lookup_reads() {
    let s = big(1_200, 0);
    let bytes = encode(&s.payload, 0);
    let span = target_span(&bytes);
    let t = setup();
    t.write(&bytes);
    let (start, clean) = t.ciphertext();
    let chunk_at = |i: u64| start + (i * ENCRYPTED_CHUNK) as usize;
    let target_chunk = u64::from(span.start) / CHUNK;
    let chunks = (clean.len() - start) as u64 / ENCRYPTED_CHUNK + 1;
    // A chunk the target does not need (nor the index, accounts or tokens in the last).
    let other = (1..chunks - 1)
        .find(|&c| c != target_chunk && c != target_chunk + 1)
        .unwrap();
    let mut damaged = clean.clone();
    damaged[chunk_at(other) + 100] ^= 1;
    std::fs::write(&t.location.file, &damaged).unwrap();
    t.seen();
    let mut lookup = t.open().unwrap();
    assert_eq!(
        lookup.credentials("https", "target.example").unwrap().len(),
        3
    );
    assert!(matches!(t.vault().read(), Err(Error::Corrupt { .. })));
    // The chunk the target is in.
    let mut damaged = clean.clone();
    damaged[chunk_at(target_chunk) + 100] ^= 1;
    std::fs::write(&t.location.file, &damaged).unwrap();
    t.seen();
    let mut lookup = t.open().unwrap();
    let e = lookup.credentials("https", "target.example").unwrap_err();
    assert!(
        e.to_string()
            .ends_with("is damaged: the encrypted content is truncated or damaged"),
        "{e}"
    );
    // The first chunk (the index).
    let mut damaged = clean.clone();
    damaged[chunk_at(0) + 10] ^= 1;
    std::fs::write(&t.location.file, &damaged).unwrap();
    t.seen();
    assert!(matches!(t.open(), Err(Error::Corrupt { .. })));
    // The last chunk cut off: the index does not fit, and the full read finds the cut.
    std::fs::write(&t.location.file, &clean[..chunk_at(chunks - 1)]).unwrap();
    t.seen();
    let e = t.open().unwrap_err();
    assert!(e.to_string().contains("truncated or damaged"), "{e}");
}

#[test]
fn other_vaults_fail_as_a_full_read_does() {
    let t = setup();
    assert!(matches!(t.open(), Err(Error::Missing { .. })));
    // A newer format, even with an index-like start.
    t.write(br#"{"format":2,"index":"00","whatever":[]}"#);
    assert!(matches!(
        t.open(),
        Err(Error::UnsupportedFormat { found: 2, .. })
    ));
    // Another identity's vault.
    let other = setup();
    other.write(&encode(&big(3, 0).payload, 0));
    std::fs::copy(&other.location.file, &t.location.file).unwrap();
    assert!(matches!(t.open(), Err(Error::NotARecipient { .. })));
    std::fs::write(&t.location.file, b"").unwrap();
    assert!(matches!(t.open(), Err(Error::Corrupt { .. })));
}

#[test]
fn debug_shows_no_content() {
    let t = setup();
    t.write(&encode(&big(3, 0).payload, 0));
    let mut lookup = t.open().unwrap();
    lookup.credentials("https", "target.example").unwrap();
    let shown = format!("{lookup:?}");
    assert!(
        shown.contains("indexed: true") && !shown.contains("pw-"),
        "{shown}"
    );
}
