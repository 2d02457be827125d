use super::*;
use crate::clock::DeviceId;
use crate::entry::CredentialKey;
use crate::payload::Member;
use crate::payload::encode;
use proptest::prelude::*;
use secrecy::SecretString;

fn dev(i: usize) -> DeviceId {
    DeviceId([i as u8 + 1; 16])
}

/// A vault and `n` replicas of it, one per device, each with its own (fixed) clock.
fn replicas(n: usize) -> Vec<Snapshot> {
    let public = crate::Identity::generate().public();
    let mut base = Snapshot::new_vault(dev(0), public).unwrap();
    base.dirty = false;
    // Created long before the replicas' clocks start.
    let start = Hlc {
        wall_ms: 1,
        counter: 0,
        device: dev(0),
    };
    for member in base.payload.recipients.values_mut() {
        member.hlc = start;
    }
    base.payload.secrets[0].hlc = start;
    base.payload.max_hlc = start;
    (0..n)
        .map(|i| {
            let mut r = base.clone();
            r.device = dev(i);
            r.fixed_now = Some(1_000_000);
            r
        })
        .collect()
}

fn bytes(s: &Snapshot) -> Vec<u8> {
    encode(&s.payload, 0).to_vec()
}

fn key(slot: u8) -> CredentialKey {
    CredentialKey {
        protocol: "https".into(),
        host: format!("h{slot}.example"),
        path: None,
        // Slots 0 and 1 differ only by absent vs empty username.
        username: match slot {
            0 => None,
            1 => Some(String::new()),
            n => Some(format!("u{n}")),
        },
    }
}

fn cred(slot: u8, value: u8) -> Credential {
    Credential {
        key: key(slot),
        password: Some(SecretString::from(format!("pw-{value}"))),
        password_expiry_utc: None,
        oauth_refresh_token: None,
        authtype: None,
        credential: None,
    }
}

fn password(s: &Snapshot, slot: u8) -> Option<String> {
    use secrecy::ExposeSecret;
    s.credential(&key(slot))
        .map(|c| c.password.as_ref().unwrap().expose_secret().to_string())
}

#[test]
fn a_newer_write_wins_in_both_orders() {
    let mut r = replicas(2);
    r[0].put_credential(cred(3, 1));
    r[1].fixed_now = Some(2_000_000);
    r[1].put_credential(cred(3, 2));
    let ab = merge(&r[0], &r[1]).unwrap();
    let ba = merge(&r[1], &r[0]).unwrap();
    assert_eq!(password(&ab, 3).as_deref(), Some("pw-2"));
    assert_eq!(bytes(&ab), bytes(&ba));
}

#[test]
fn tombstones_beat_older_writes_and_lose_to_newer_ones() {
    let mut r = replicas(2);
    r[0].put_credential(cred(3, 1));
    let first = r[0].clone();
    r[1].merge_from(&first).unwrap();
    // Device 1 deletes after seeing the write.
    r[1].fixed_now = Some(1_000_500);
    assert!(r[1].remove_credential(&key(3)));
    let merged = merge(&r[0], &r[1]).unwrap();
    assert_eq!(password(&merged, 3), None);
    assert_eq!(merged.tombstones(), 1);
    // Device 0 writes again, later than the delete.
    r[0].fixed_now = Some(1_000_900);
    r[0].put_credential(cred(3, 9));
    let merged = merge(&r[1], &r[0]).unwrap();
    assert_eq!(password(&merged, 3).as_deref(), Some("pw-9"));
    assert_eq!(merged.tombstones(), 0);
}

#[test]
fn a_device_with_a_slow_clock_still_wins_after_seeing_the_other_write() {
    let mut r = replicas(2);
    // Device 0's clock is a day ahead.
    r[0].fixed_now = Some(1_000_000 + 86_400_000);
    r[0].put_credential(cred(3, 1));
    let first = r[0].clone();
    r[1].merge_from(&first).unwrap();
    // Device 1 writes after seeing it, with its correct (earlier) clock.
    r[1].put_credential(cred(3, 2));
    let merged = merge(&r[0], &r[1]).unwrap();
    assert_eq!(password(&merged, 3).as_deref(), Some("pw-2"));
}

#[test]
fn version_vectors_take_the_pointwise_maximum() {
    let mut r = replicas(2);
    r[0].payload.vv.insert(dev(0), 5);
    r[0].payload.vv.insert(dev(1), 1);
    r[1].payload.vv.insert(dev(1), 3);
    let merged = merge(&r[0], &r[1]).unwrap();
    let vv: Vec<(DeviceId, u64)> = merged
        .version_vector()
        .iter()
        .map(|(d, n)| (*d, *n))
        .collect();
    assert_eq!(vv, vec![(dev(0), 5), (dev(1), 3)]);
}

#[test]
fn concurrent_recipient_changes_all_apply_and_the_newest_secret_wins() {
    let mut r = replicas(2);
    let me = r[0].recipients()[0].clone();
    let other = crate::Identity::generate().public();
    let third = crate::Identity::generate().public();
    // Both know `other`; then device 0 adds `third` while device 1 removes `other`.
    r[0].add_recipient(&other).unwrap();
    let seen = r[0].clone();
    r[1].merge_from(&seen).unwrap();
    r[0].fixed_now = Some(2_000_000);
    r[0].add_recipient(&third).unwrap();
    r[1].fixed_now = Some(3_000_000);
    assert!(r[1].remove_recipient(&other).unwrap());
    let merged = merge(&r[0], &r[1]).unwrap();
    let mut expected = vec![me.clone(), third.clone()];
    expected.sort();
    assert_eq!(merged.recipients(), expected);
    // The removal rotated the secret; the old one is kept, so devices that knew it follow.
    assert_eq!(
        merged.vault_secret_fingerprint(),
        r[1].vault_secret_fingerprint()
    );
    assert!(
        merged
            .vault_secret_fingerprints()
            .contains(&r[0].vault_secret_fingerprint())
    );
    assert_eq!(bytes(&merged), bytes(&merge(&r[1], &r[0]).unwrap()));
    // Removed and added again later: the later change wins, in both orders.
    let mut again = merged.clone();
    again.fixed_now = Some(4_000_000);
    assert!(again.add_recipient(&other).unwrap());
    for m in [merge(&again, &r[1]).unwrap(), merge(&r[1], &again).unwrap()] {
        assert!(m.recipients().contains(&other));
    }
}

#[test]
fn a_removal_wins_over_an_addition_with_the_same_stamp() {
    let mut r = replicas(2);
    let other = crate::Identity::generate().public();
    // Device 1 pretends to be device 0 (only a misbehaving writer reuses a stamp).
    r[1].device = dev(0);
    r[0].add_recipient(&other).unwrap();
    r[1].add_recipient(&other).unwrap();
    // The removal gets the very stamp of device 0's addition.
    r[1].payload.max_hlc = Hlc::ZERO;
    r[1].remove_recipient(&other).unwrap();
    assert_eq!(
        r[0].payload.recipients[&other].hlc,
        r[1].payload.recipients[&other].hlc
    );
    let (a, b) = (merge(&r[0], &r[1]).unwrap(), merge(&r[1], &r[0]).unwrap());
    assert!(!a.recipients().contains(&other));
    assert_eq!(bytes(&a), bytes(&b));
}

#[test]
fn only_the_newest_secrets_are_kept() {
    let mut r = replicas(2);
    for i in 0..6 {
        r[0].fixed_now = Some(2_000_000 + i);
        r[0].rotate_vault_secret().unwrap();
        r[1].fixed_now = Some(3_000_000 + i);
        r[1].rotate_vault_secret().unwrap();
    }
    let merged = merge(&r[0], &r[1]).unwrap();
    let kept = merged.vault_secret_fingerprints();
    assert_eq!(kept.len(), crate::payload::SECRETS_KEPT);
    // Device 1's six rotations are the newest, then device 0's last two.
    assert_eq!(kept[..6], r[1].vault_secret_fingerprints()[..6]);
    assert_eq!(kept[6..], r[0].vault_secret_fingerprints()[..2]);
}

#[test]
fn different_vaults_do_not_merge() {
    let a = replicas(1).remove(0);
    let b = replicas(1).remove(0);
    let err = merge(&a, &b).unwrap_err();
    assert!(matches!(err, Error::DifferentVaults { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("cannot merge two different vaults (ids ")
    );
}

#[test]
fn merging_marks_changes_only_when_something_changed() {
    let mut r = replicas(2);
    r[0].put_credential(cred(3, 1));
    r[0].dirty = false;
    let copy = r[0].clone();
    r[0].merge_from(&copy).unwrap();
    assert!(!r[0].is_changed());
    let first = r[0].clone();
    r[1].merge_from(&first).unwrap();
    assert!(r[1].is_changed());
}

#[test]
fn equal_stamps_with_different_content_resolve_the_same_way_in_both_orders() {
    // Only a misbehaving writer reuses a stamp; the result must still be deterministic.
    let mut r = replicas(2);
    r[1].device = dev(0);
    r[0].put_credential(cred(3, 1));
    r[1].put_credential(cred(3, 2));
    let (ab, ba) = (merge(&r[0], &r[1]).unwrap(), merge(&r[1], &r[0]).unwrap());
    assert_eq!(bytes(&ab), bytes(&ba));
    // A delete with the same stamp as a write wins.
    let mut r = replicas(2);
    r[1].device = dev(0);
    r[0].put_credential(cred(3, 1));
    r[1].put_credential(cred(3, 1));
    r[1].payload.max_hlc = Hlc::ZERO;
    r[1].remove_credential(&key(3));
    let dead = r[1].payload.tombstones.values().next().unwrap().hlc;
    let live = r[0].payload.credentials.iter().next().unwrap().hlc;
    assert_eq!(dead, live);
    let (ab, ba) = (merge(&r[0], &r[1]).unwrap(), merge(&r[1], &r[0]).unwrap());
    assert_eq!(password(&ab, 3), None);
    assert_eq!(bytes(&ab), bytes(&ba));
}

#[derive(Clone, Debug)]
enum Op {
    Put {
        dev: usize,
        kind: u8,
        slot: u8,
        value: u8,
    },
    Delete {
        dev: usize,
        kind: u8,
        slot: u8,
    },
    Sync {
        from: usize,
        to: usize,
    },
    /// Moves a device's clock, possibly backwards (skew, NTP corrections).
    Tick {
        dev: usize,
        delta: i64,
    },
    AddRecipient {
        dev: usize,
        slot: usize,
    },
    /// Removes a recipient (and rotates the vault secret).
    RemoveRecipient {
        dev: usize,
        slot: usize,
    },
    Rotate {
        dev: usize,
    },
}

/// A few recipients to add and remove.
fn pool() -> &'static [String] {
    static POOL: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        (0..3)
            .map(|_| crate::Identity::generate().public())
            .collect()
    })
}

const DEVICES: usize = 4;

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..DEVICES, 0..4u8, 0..5u8, any::<u8>())
            .prop_map(|(dev, kind, slot, value)| Op::Put { dev, kind, slot, value }),
        2 => (0..DEVICES, 0..4u8, 0..5u8).prop_map(|(dev, kind, slot)| Op::Delete { dev, kind, slot }),
        2 => (0..DEVICES, 0..DEVICES).prop_map(|(from, to)| Op::Sync { from, to }),
        2 => (0..DEVICES, -3_000i64..3_000).prop_map(|(dev, delta)| Op::Tick { dev, delta }),
        1 => (0..DEVICES, 0..3usize).prop_map(|(dev, slot)| Op::AddRecipient { dev, slot }),
        1 => (0..DEVICES, 0..3usize).prop_map(|(dev, slot)| Op::RemoveRecipient { dev, slot }),
        1 => (0..DEVICES).prop_map(|dev| Op::Rotate { dev }),
    ]
}

fn apply(r: &mut [Snapshot], op: &Op) {
    match *op {
        Op::Put {
            dev,
            kind,
            slot,
            value,
        } => {
            let s = &mut r[dev];
            let name = format!("acct{slot}");
            match kind {
                0 => s.put_credential(cred(slot, value)),
                1 => s.put_account(crate::Account {
                    name,
                    provider: format!("p{value}"),
                    url: "https://api.example".into(),
                    matches: vec![],
                    settings: Default::default(),
                    secrets: [("k".to_string(), SecretString::from(format!("s{value}")))].into(),
                }),
                2 => s.put_token(crate::CachedToken {
                    account: name,
                    secret: SecretString::from(format!("t{value}")),
                    username: None,
                    authtype: None,
                    expires_at: Some(u64::from(value)),
                    obtained_at: 1,
                    info: serde_json::Value::Null,
                }),
                _ => s.put_plugin_state(&name, SecretString::from(format!("{{\"v\":{value}}}"))),
            }
        }
        Op::Delete { dev, kind, slot } => {
            let s = &mut r[dev];
            let name = format!("acct{slot}");
            match kind {
                0 => s.remove_credential(&key(slot)),
                1 => s.remove_account(&name),
                2 => s.remove_token(&name),
                _ => s.remove_plugin_state(&name),
            };
        }
        Op::Sync { from, to } => {
            if from != to {
                let source = r[from].clone();
                r[to].merge_from(&source).unwrap();
            }
        }
        Op::Tick { dev, delta } => {
            let now = r[dev].fixed_now.unwrap();
            r[dev].fixed_now = Some(now.saturating_add_signed(delta));
        }
        Op::AddRecipient { dev, slot } => {
            r[dev].add_recipient(&pool()[slot]).unwrap();
        }
        Op::RemoveRecipient { dev, slot } => match r[dev].remove_recipient(&pool()[slot]) {
            Ok(_) | Err(Error::NoRecipients) => {}
            Err(e) => panic!("{e}"),
        },
        Op::Rotate { dev } => r[dev].rotate_vault_secret().unwrap(),
    }
}

/// For every id among the inputs, its greatest version (by the merge order), encoded.
fn expected_winners(inputs: &[&Snapshot]) -> BTreeMap<EntryId, Vec<u8>> {
    let mut best: BTreeMap<EntryId, VersionRef<'_>> = BTreeMap::new();
    for s in inputs {
        for (id, v) in versions(&s.payload) {
            match best.get(&id) {
                Some(current) if compare(&id, v, *current) != Ordering::Greater => {}
                _ => {
                    best.insert(id, v);
                }
            }
        }
    }
    best.into_iter()
        .map(|(id, v)| (id, v.canonical(&id).to_vec()))
        .collect()
}

/// Recipients with their latest change, and the secrets' order keys.
type Register = (Vec<(String, Member)>, Vec<(Hlc, [u8; 32])>);

/// For every recipient among the inputs, its latest change; and the newest secrets of all.
fn expected_register(inputs: &[&Snapshot]) -> Register {
    let mut members: BTreeMap<String, Member> = BTreeMap::new();
    let mut secrets = Vec::new();
    for s in inputs {
        for (key, m) in &s.payload.recipients {
            let best = members.entry(key.clone()).or_insert(*m);
            *best = (*best).max(*m);
        }
        secrets.extend(s.payload.secrets.iter().map(StampedSecret::order_key));
    }
    secrets.sort_by(|a, b| b.cmp(a));
    secrets.dedup();
    secrets.truncate(crate::payload::SECRETS_KEPT);
    (members.into_iter().collect(), secrets)
}

fn register(s: &Snapshot) -> Register {
    (
        s.payload
            .recipients
            .iter()
            .map(|(k, m)| (k.clone(), *m))
            .collect(),
        s.payload
            .secrets
            .iter()
            .map(StampedSecret::order_key)
            .collect(),
    )
}

fn winners(s: &Snapshot) -> BTreeMap<EntryId, Vec<u8>> {
    versions(&s.payload)
        .map(|(id, v)| (id, v.canonical(&id).to_vec()))
        .collect()
}

proptest! {
    // 256 cases by default; PROPTEST_CASES=5000 for a longer run.

    #[test]
    fn merge_is_a_join(ops in proptest::collection::vec(op(), 0..60)) {
        let mut r = replicas(DEVICES);
        for op in &ops {
            apply(&mut r, op);
        }
        let (a, b, c) = (&r[0], &r[1], &r[2]);

        // Commutative.
        prop_assert_eq!(bytes(&merge(a, b).unwrap()), bytes(&merge(b, a).unwrap()));
        // Associative.
        let left = merge(&merge(a, b).unwrap(), c).unwrap();
        let right = merge(a, &merge(b, c).unwrap()).unwrap();
        prop_assert_eq!(bytes(&left), bytes(&right));
        // Idempotent.
        prop_assert_eq!(bytes(&merge(a, a).unwrap()), bytes(a));
        let ab = merge(a, b).unwrap();
        prop_assert_eq!(bytes(&merge(&ab, b).unwrap()), bytes(&ab));

        // No entry lost: each id holds the greatest of its versions among the inputs.
        let all = merge(&left, &r[3]).unwrap();
        prop_assert_eq!(winners(&all), expected_winners(&[a, b, c, &r[3]]));
        // Every recipient holds its latest change; the newest secrets are kept, the current
        // one first.
        prop_assert_eq!(register(&all), expected_register(&[a, b, c, &r[3]]));
        // And the merged payload survives encoding.
        let decoded = crate::payload::decode(&bytes(&all)).unwrap();
        prop_assert_eq!(encode(&decoded, 0).to_vec(), bytes(&all));
    }

    #[test]
    fn replicas_converge_after_exchanging_everything(ops in proptest::collection::vec(op(), 0..60)) {
        let mut r = replicas(DEVICES);
        for op in &ops {
            apply(&mut r, op);
        }
        // Ring of syncs twice around: everyone has seen everything.
        for _ in 0..2 {
            for i in 0..DEVICES {
                let from = r[i].clone();
                r[(i + 1) % DEVICES].merge_from(&from).unwrap();
            }
        }
        for s in &r[1..] {
            prop_assert_eq!(bytes(s), bytes(&r[0]));
        }
    }

    #[test]
    fn a_local_write_after_a_merge_always_wins(ops in proptest::collection::vec(op(), 0..40), value in any::<u8>()) {
        let mut r = replicas(DEVICES);
        for op in &ops {
            apply(&mut r, op);
        }
        let seen = r[1].clone();
        r[0].merge_from(&seen).unwrap();
        r[0].put_credential(cred(2, value));
        r[0].remove_account("acct2");
        let merged = merge(&r[1], &r[0]).unwrap();
        prop_assert_eq!(password(&merged, 2), Some(format!("pw-{value}")));
        prop_assert!(merged.account("acct2").is_none());
    }
}
