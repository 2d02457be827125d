use super::*;
use crate::clock::DeviceId;

#[test]
fn conflict_copy_names() {
    for name in [
        "vault.sync-conflict-20261123-112600-ABCDEFG.age",
        "vault (Alice's conflicted copy 2026-11-23).age",
        "vault (conflicted copy 2026-11-23 112600).age",
        "vault (laptop's conflicted copy).age",
    ] {
        assert!(is_conflict_copy(name, "vault.age"), "{name}");
    }
    for name in [
        "vault.age",
        "vault.age.bak",
        ".vault.age.x1y2.tmp",
        "vault (1).age",
        "vault (conflicted copy).txt",
        "other.sync-conflict-20261123-112600-ABCDEFG.age",
        "vault.sync-conflict-20261123-112600-ABCDEFG.age.tmp",
        "vaults (conflicted copy).age",
    ] {
        assert!(!is_conflict_copy(name, "vault.age"), "{name}");
    }
    // A vault file named differently, and one without an extension.
    assert!(is_conflict_copy(
        "team.sync-conflict-20261123-112600-ABCDEFG.kh",
        "team.kh"
    ));
    assert!(is_conflict_copy(
        "secrets (conflicted copy 2026).",
        "secrets."
    ));
    assert!(is_conflict_copy(
        "secrets.sync-conflict-20261123-112600-ABCDEFG",
        "secrets"
    ));
}

#[test]
fn conflict_copies_are_listed_sorted_and_only_files() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vault.age");
    std::fs::write(&file, b"x").unwrap();
    for name in [
        "vault.sync-conflict-2-B.age",
        "vault.sync-conflict-1-A.age",
        "vault (conflicted copy).age",
        "unrelated.age",
    ] {
        std::fs::write(dir.path().join(name), b"x").unwrap();
    }
    std::fs::create_dir(dir.path().join("vault.sync-conflict-3-C.age")).unwrap();
    let names: Vec<String> = conflict_copies(&file)
        .into_iter()
        .map(|(_, n)| n.into_string().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "vault (conflicted copy).age",
            "vault.sync-conflict-1-A.age",
            "vault.sync-conflict-2-B.age"
        ]
    );
    assert!(conflict_copies(&dir.path().join("missing/vault.age")).is_empty());
}

#[test]
fn memos_round_trip_and_damage_reads_as_empty() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    std::fs::write(&file, b"x").unwrap();
    let stamp = stamp_of(&file).unwrap();
    let memo = Memo {
        vault: Some(stamp),
        dir: stamp_of(dir.path()),
        ignored: vec![(OsString::from("vault (Bob's conflicted copy).age"), stamp)],
    };
    assert_eq!(Memo::decode(&memo.encode()), Some(memo.clone()));
    assert_eq!(
        Memo::decode(&Memo::default().encode()),
        Some(Memo::default())
    );
    let text = memo.encode();
    for damaged in [
        String::new(),
        text.replace("keyhelm-seen 1", "keyhelm-seen 2"),
        text.replace("vault ", "vault x"),
        text.replace("ignore", "ignored"),
        text[..text.len() - 10].to_string(),
    ] {
        assert_eq!(Memo::decode(&damaged), None, "{damaged}");
    }
}

#[test]
fn the_memo_lives_in_the_lock_file() {
    let dir = tempfile::tempdir().unwrap();
    let location = Location {
        file: dir.path().join("vault/vault.age"),
        state_dir: dir.path().join("state"),
    };
    std::fs::create_dir_all(location.file.parent().unwrap()).unwrap();
    std::fs::write(&location.file, b"x").unwrap();
    let lock = Lock::take(&location, true).unwrap();
    assert_eq!(lock.memo(), Memo::default());
    let (vault, dir_stamp) = stamps(&location.file);
    let memo = Memo {
        vault,
        dir: dir_stamp,
        ignored: Vec::new(),
    };
    lock.set_memo(&memo);
    // A shorter memo replaces a longer one completely.
    lock.set_memo(&Memo {
        vault,
        ..Memo::default()
    });
    lock.set_memo(&memo);
    drop(lock);
    let lock = Lock::take(&location, false).unwrap();
    assert_eq!(lock.memo(), memo);
    let meta = std::fs::metadata(&location.file).unwrap();
    assert!(is_fresh(&lock.memo(), &location, FileStamp::of(&meta)));
    // A new conflict copy makes it stale; an ignored one does not.
    let copy = location.file.with_file_name("vault.sync-conflict-1-A.age");
    std::fs::write(&copy, b"y").unwrap();
    assert!(!is_fresh(&lock.memo(), &location, FileStamp::of(&meta)));
    let ignored = Memo {
        ignored: vec![(
            OsString::from("vault.sync-conflict-1-A.age"),
            stamp_of(&copy).unwrap(),
        )],
        ..memo.clone()
    };
    assert!(is_fresh(&ignored, &location, FileStamp::of(&meta)));
    // A vault file written in place (new times), or replaced (new inode).
    std::fs::remove_file(&copy).unwrap();
    std::fs::write(&location.file, b"z").unwrap();
    let meta = std::fs::metadata(&location.file).unwrap();
    assert!(!is_fresh(&memo, &location, FileStamp::of(&meta)));
    // The lock file stays private.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(location.lock_file())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

fn snapshot() -> Snapshot {
    let public = crate::Identity::generate().public();
    Snapshot::new_vault(DeviceId([1; 16]), public).unwrap()
}

#[test]
fn trust_files_round_trip_and_damage_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(Trust::load(dir.path()).unwrap(), None);
    let mut s = snapshot();
    s.rotate_vault_secret().unwrap();
    let mut trust = Trust::of(&s, None);
    trust.also.push("ab".repeat(32));
    assert_eq!(trust.known.len(), 2);
    assert_eq!(trust.current, s.vault_secret_fingerprint());
    trust.save(dir.path()).unwrap();
    assert_eq!(Trust::load(dir.path()).unwrap(), Some(trust.clone()));
    let path = dir.path().join(TRUST_FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    for damaged in [
        text.replace("current ", "current x"),
        text.replace("keyhelm-vault-trust 1", "keyhelm-vault-trust 9"),
        text.replacen(&trust.current, &"0".repeat(64), 1),
        text.replace("also", "else"),
        text.replace(&trust.vault_id, "XYZ"),
    ] {
        std::fs::write(&path, &damaged).unwrap();
        let err = Trust::load(dir.path()).unwrap_err();
        assert!(
            matches!(err, Error::DamagedTrust { .. }),
            "{damaged}: {err}"
        );
    }
    Trust::forget(dir.path()).unwrap();
    Trust::forget(dir.path()).unwrap();
    assert_eq!(Trust::load(dir.path()).unwrap(), None);
}

#[test]
fn verdicts() {
    let mut ours = snapshot();
    let trust = Trust::of(&ours, None);
    // Nothing trusted yet: anything goes (trust on first use).
    assert_eq!(classify(None, &snapshot()), Verdict::Trusted);
    // The same vault, and a later version by a member who rotated the secret.
    assert_eq!(classify(Some(&trust), &ours), Verdict::Trusted);
    let mut later = ours.clone();
    later.rotate_vault_secret().unwrap();
    assert_eq!(classify(Some(&trust), &later), Verdict::Trusted);
    // This device rotated: the old version is behind.
    ours.rotate_vault_secret().unwrap();
    let rotated = Trust::of(&ours, Some(&trust));
    let behind = Trust::of(&later, None);
    assert_eq!(classify(Some(&rotated), &later), Verdict::Untrusted);
    let before = {
        let mut s = ours.clone();
        s.payload.secrets.remove(0);
        s
    };
    assert_eq!(classify(Some(&rotated), &before), Verdict::Behind);
    // Another vault entirely.
    assert_eq!(classify(Some(&rotated), &snapshot()), Verdict::OtherVault);
    // A fingerprint declared trusted lets a concurrent rotation in.
    let mut declared = rotated.clone();
    declared.also.push(behind.current.clone());
    assert_eq!(classify(Some(&declared), &later), Verdict::Trusted);
    // The refusals name what happened.
    let path = Path::new("/v/vault.age");
    assert!(matches!(
        refusal(Verdict::Untrusted, &rotated, &later, path),
        Error::NotAMember { .. }
    ));
    assert!(matches!(
        refusal(Verdict::Behind, &rotated, &before, path),
        Error::BehindRecipients { .. }
    ));
    assert!(matches!(
        refusal(Verdict::OtherVault, &rotated, &snapshot(), path),
        Error::OtherVault { .. }
    ));
}

#[test]
fn reports_say_whether_anything_happened() {
    let mut report = Report::default();
    assert!(report.is_empty());
    report.merged.push("/v/vault.sync-conflict-1-A.age".into());
    assert!(!report.is_empty());
}
