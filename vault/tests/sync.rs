//! Several devices sharing one vault file (a synced folder): shadow copies, conflict copies,
//! trust, and the memo that keeps lookups cheap.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{credential, key, password};
use keyhelm_vault::{Admission, DeviceId, Error, Identity, Location, Lookup, Vault};

/// A shared folder and the devices that use it (each with its own identity and state).
struct Folder {
    dir: tempfile::TempDir,
}

struct Device {
    identity_file: PathBuf,
    location: Location,
}

impl Folder {
    fn new() -> Folder {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("shared")).unwrap();
        Folder { dir }
    }

    fn file(&self) -> PathBuf {
        self.dir.path().join("shared/vault.age")
    }

    fn copy_path(&self, name: &str) -> PathBuf {
        self.dir.path().join("shared").join(name)
    }

    fn device(&self, name: &str) -> Device {
        let identity_file = self.dir.path().join(name).join("identity.txt");
        Identity::generate().write_new(&identity_file).unwrap();
        Device {
            identity_file,
            location: Location {
                file: self.file(),
                state_dir: self.dir.path().join(name).join("state"),
            },
        }
    }

    /// Runs `write`, then puts the shared file back as it was before, the way a sync tool that
    /// kept the other version does; returns the file `write` left.
    fn reverted(&self, write: impl FnOnce()) -> Vec<u8> {
        let before = read(&self.file());
        write();
        let written = read(&self.file());
        std::fs::write(self.file(), &before).unwrap();
        written
    }

    /// Someone who knows `member`'s public key writes a vault of their own, holding `host`,
    /// over the shared one.
    fn overwrite_with_other_vault(&self, member: &Device, host: &str, pw: &str) {
        let elsewhere = Folder::new();
        let stranger = elsewhere.device("s");
        stranger.store(host, pw);
        stranger.add(member);
        std::fs::copy(&stranger.location.file, self.file()).unwrap();
    }
}

impl Device {
    fn identity(&self) -> Identity {
        Identity::from_file(&self.identity_file).unwrap()
    }

    fn public(&self) -> String {
        self.identity().public()
    }

    fn vault(&self) -> Vault {
        let device = DeviceId::load_or_create(&self.location.state_dir).unwrap();
        Vault::new(self.location.clone(), self.identity(), device)
    }

    fn lookup(&self) -> keyhelm_vault::Result<Lookup> {
        Lookup::open(&self.location, &self.identity())
    }

    fn store(&self, host: &str, pw: &str) {
        self.vault()
            .update(|s| {
                s.put_credential(credential(host, Some("u"), pw));
                Ok::<_, Error>(())
            })
            .unwrap();
    }

    fn get(&self, host: &str) -> Option<String> {
        let s = self.vault().read().unwrap();
        s.credential(&key(host, Some("u")))
            .map(|c| password(c).to_owned())
    }

    fn add(&self, other: &Device) {
        let public = other.public();
        self.vault()
            .update(|s| s.add_recipient(&public).map(|_| ()))
            .unwrap();
    }

    fn remove(&self, other: &Device) {
        let public = other.public();
        self.vault()
            .update(|s| s.remove_recipient(&public).map(|_| ()))
            .unwrap();
    }
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

/// Devices sharing the folder: the first stored `first.example` and added the others as
/// recipients, which have not read the vault yet.
fn members<const N: usize>(names: [&str; N]) -> (Folder, [Device; N]) {
    let folder = Folder::new();
    let devices = names.map(|name| folder.device(name));
    let (first, others) = devices.split_first().unwrap();
    first.store("first.example", "pw-first");
    for other in others {
        first.add(other);
    }
    (folder, devices)
}

/// Two devices sharing the folder, both members, both having read the vault.
fn two() -> (Folder, Device, Device) {
    let (folder, [a, b]) = members(["a", "b"]);
    assert_eq!(b.get("first.example").as_deref(), Some("pw-first"));
    (folder, a, b)
}

#[test]
fn an_update_the_folder_lost_comes_back_from_the_shadow_copy() {
    let (folder, a, b) = two();
    // The sync tool puts the older file back.
    folder.reverted(|| a.store("x.example", "pw-x"));
    let before = read(&folder.file());
    // A lookup notices, writes the update back, and answers from the repaired vault.
    let mut lookup = a.lookup().unwrap();
    let found = lookup.credentials("https", "x.example").unwrap();
    assert_eq!(found.len(), 1);
    assert_ne!(read(&folder.file()), before, "the repair was written");
    // The other device sees it in the file now.
    assert_eq!(b.get("x.example").as_deref(), Some("pw-x"));
    // And a forced check finds nothing more to do.
    let report = a.vault().sync_local().unwrap();
    assert!(!report.restored && !report.written, "{report:?}");
}

#[test]
fn a_lost_update_is_restored_by_read_and_update_too() {
    let (folder, a, _b) = two();
    folder.reverted(|| a.store("x.example", "pw-x"));
    assert_eq!(a.get("x.example").as_deref(), Some("pw-x"));

    folder.reverted(|| a.store("y.example", "pw-y"));
    a.store("z.example", "pw-z");
    let s = a.vault().read().unwrap();
    assert_eq!(s.len(), 4);
}

#[test]
fn a_vanished_vault_is_restored_from_the_shadow_copy_by_the_next_write() {
    let (folder, a, _b) = two();
    a.store("x.example", "pw-x");
    let id = a.vault().read().unwrap().vault_id();
    std::fs::remove_file(folder.file()).unwrap();
    // Reads report it missing; a write starts from this device's copy, not from scratch.
    assert!(matches!(a.vault().read(), Err(Error::Missing { .. })));
    a.store("y.example", "pw-y");
    let s = a.vault().read().unwrap();
    assert_eq!(s.vault_id(), id);
    assert_eq!(s.len(), 3);
}

#[test]
fn conflict_copies_are_merged_and_removed() {
    let (folder, a, b) = two();
    // a and b write at the same time; the sync tool keeps b's file and renames a's.
    let from_a = folder.reverted(|| a.store("from-a.example", "pw-a"));
    b.store("from-b.example", "pw-b");
    let copy = folder.copy_path("vault.sync-conflict-20261123-112600-AAAAAAA.age");
    std::fs::write(&copy, &from_a).unwrap();
    let dropbox = folder.copy_path("vault (a's conflicted copy 2026-11-23).age");
    std::fs::copy(&copy, &dropbox).unwrap();
    // b never saw a's write: a lookup on b merges the copies in, writes, and removes them.
    let mut lookup = b.lookup().unwrap();
    assert_eq!(
        lookup.credentials("https", "from-a.example").unwrap().len(),
        1
    );
    assert!(!copy.exists() && !dropbox.exists());
    assert_eq!(a.get("from-b.example").as_deref(), Some("pw-b"));
    assert_eq!(a.get("from-a.example").as_deref(), Some("pw-a"));
}

#[test]
fn a_forced_check_reports_what_it_did() {
    let (folder, a, b) = two();
    let from_a = folder.reverted(|| a.store("from-a.example", "pw-a"));
    let copy = folder.copy_path("vault.sync-conflict-1-A.age");
    std::fs::write(&copy, &from_a).unwrap();
    let report = b.vault().sync_local().unwrap();
    assert_eq!(report.merged, vec![copy.clone()]);
    assert!(report.written && !report.restored && report.ignored.is_empty());
    // Nothing left to do.
    let report = b.vault().sync_local().unwrap();
    assert!(report.is_empty(), "{report:?}");
}

#[test]
fn copies_that_cannot_be_used_stay_and_do_not_slow_lookups() {
    let (folder, a, _b) = two();
    // A copy of another vault, and a damaged one.
    let elsewhere = Folder::new();
    let stranger = elsewhere.device("s");
    stranger.store("evil.example", "pw-evil");
    let foreign = folder.copy_path("vault.sync-conflict-1-S.age");
    std::fs::copy(stranger.location.file.clone(), &foreign).unwrap();
    let damaged = folder.copy_path("vault.sync-conflict-2-D.age");
    std::fs::write(&damaged, b"age-encryption.org/v1\n-> nothing\n").unwrap();
    let report = a.vault().sync_local().unwrap();
    assert_eq!(report.ignored.len(), 2, "{report:?}");
    assert!(matches!(report.ignored[0].1, Error::NotARecipient { .. }));
    assert!(matches!(report.ignored[1].1, Error::Corrupt { .. }));
    assert!(foreign.exists() && damaged.exists());
    // Lookups take the fast path (through the index) while the copies are unchanged.
    let mut lookup = a.lookup().unwrap();
    lookup.credentials("https", "first.example").unwrap();
    assert!(lookup.is_indexed());
    // A copy of this vault that a member could not have written stays too.
    let mut forged = a.vault().read().unwrap();
    // (Rotated often enough that it keeps none of the secrets a knows.)
    for _ in 0..8 {
        forged.rotate_vault_secret().unwrap();
    }
    forged.put_credential(credential("evil.example", Some("u"), "pw-evil"));
    let forged_path = folder.copy_path("vault.sync-conflict-3-F.age");
    a.vault().write_file(&forged_path, &forged).unwrap();
    let report = a.vault().sync_local().unwrap();
    let reasons: Vec<String> = report.ignored.iter().map(|(_, e)| e.to_string()).collect();
    assert!(
        reasons[2].contains("was not written by a member of this vault"),
        "{reasons:?}"
    );
    assert_eq!(a.get("evil.example"), None);
}

#[test]
fn a_copy_behind_a_removal_waits_until_its_writer_caught_up() {
    let (folder, [a, b, c]) = members(["a", "b", "c"]);
    assert!(b.get("first.example").is_some());
    // a removes c while b, not knowing, stores something; the sync tool keeps a's file.
    let from_a = folder.reverted(|| a.remove(&c));
    b.store("from-b.example", "pw-b");
    let copy = folder.copy_path("vault.sync-conflict-1-B.age");
    std::fs::copy(folder.file(), &copy).unwrap();
    std::fs::write(folder.file(), &from_a).unwrap();
    // a does not merge it (c could have written it): it stays.
    let report = a.vault().sync_local().unwrap();
    assert!(
        matches!(report.ignored[0].1, Error::BehindRecipients { .. }),
        "{report:?}"
    );
    assert!(copy.exists());
    assert_eq!(a.get("from-b.example"), None);
    // b catches up: its own update comes back from its shadow copy, and its copy, which now
    // holds nothing new, goes.
    assert_eq!(b.get("from-b.example").as_deref(), Some("pw-b"));
    assert!(!copy.exists());
    assert_eq!(a.get("from-b.example").as_deref(), Some("pw-b"));
}

#[test]
fn a_vault_from_someone_else_is_refused() {
    let (folder, a, _b) = two();
    let before = read(&folder.file());
    folder.overwrite_with_other_vault(&a, "evil.example", "pw-evil");
    let err = a.vault().read().unwrap_err();
    assert!(matches!(err, Error::OtherVault { .. }), "{err:?}");
    assert!(err.to_string().contains("holds another vault (id "));
    assert!(matches!(a.lookup(), Err(Error::OtherVault { .. })));
    let err = a
        .vault()
        .update(|s| {
            s.put_credential(credential("y.example", Some("u"), "pw"));
            Ok::<_, Error>(())
        })
        .unwrap_err();
    assert!(matches!(err, Error::OtherVault { .. }));
    // Nothing was written; putting the real file back works as before.
    std::fs::write(folder.file(), &before).unwrap();
    assert_eq!(a.get("first.example").as_deref(), Some("pw-first"));
}

#[test]
fn a_removed_device_cannot_write_its_way_back() {
    let (folder, [a, b, c]) = members(["a", "b", "c"]);
    assert!(c.get("first.example").is_some());
    let old = read(&folder.file());
    a.remove(&c);
    a.store("new.example", "pw-new");
    // b sees the removal (a device that has not seen it yet would still accept c's writes).
    assert_eq!(b.get("new.example").as_deref(), Some("pw-new"));
    // c cannot read the new vault.
    assert!(matches!(c.vault().read(), Err(Error::NotARecipient { .. })));
    // c writes its own version from the old file it kept (it still has the old secret): as
    // it is, a keeps its own version and ignores c's (c's vault is behind the removal)...
    let c_state = c.location.state_dir.clone();
    let c_shadow = c_state.join("shadow.age");
    std::fs::write(folder.file(), &old).unwrap();
    c.vault()
        .update(|s| {
            s.put_credential(credential("evil.example", Some("u"), "pw-evil"));
            s.add_recipient(&c.public()).map(|_| ())
        })
        .unwrap();
    assert!(c_shadow.exists());
    let report = a.vault().sync_local().unwrap();
    assert!(report.superseded && report.written, "{report:?}");
    assert_eq!(a.get("evil.example"), None);
    assert_eq!(a.get("new.example").as_deref(), Some("pw-new"));
    assert!(matches!(c.vault().read(), Err(Error::NotARecipient { .. })));
    // ...and with a secret of its own making, its vault is refused outright.
    std::fs::write(folder.file(), &old).unwrap();
    c.vault()
        .update(|s| {
            s.put_credential(credential("evil.example", Some("u"), "pw-evil"));
            s.rotate_vault_secret()
        })
        .unwrap();
    let err = a.vault().read().unwrap_err();
    assert!(matches!(err, Error::NotAMember { .. }), "{err:?}");
    assert!(matches!(b.vault().read(), Err(Error::NotAMember { .. })));
}

#[test]
fn a_device_that_missed_a_removal_follows_it() {
    let (folder, [a, b, c]) = members(["a", "b", "c"]);
    assert!(b.get("first.example").is_some());
    // Two removals (two rotations) b does not see happen.
    a.remove(&c);
    let d = folder.device("d");
    a.add(&d);
    a.remove(&d);
    a.store("new.example", "pw-new");
    assert_eq!(b.get("new.example").as_deref(), Some("pw-new"));
}

#[test]
fn a_vault_behind_a_removal_without_a_copy_of_our_own_is_refused() {
    let (folder, a, b) = two();
    let old = read(&folder.file());
    a.remove(&b);
    std::fs::remove_file(a.location.shadow_file()).unwrap();
    std::fs::write(folder.file(), &old).unwrap();
    let err = a.vault().read().unwrap_err();
    assert!(matches!(err, Error::BehindRecipients { .. }), "{err:?}");
}

#[test]
fn concurrent_removals_need_a_declared_trust() {
    let (folder, [a, b, c, d]) = members(["a", "b", "c", "d"]);
    assert!(b.get("first.example").is_some());
    // a removes c while b removes d: two rotations from the same secret.
    let from_a = folder.reverted(|| a.remove(&c));
    b.remove(&d);
    let from_b = b.vault().read().unwrap();
    std::fs::write(folder.file(), &from_a).unwrap();
    let copy = folder.copy_path("vault.sync-conflict-1-B.age");
    b.vault().write_file(&copy, &from_b).unwrap();
    // a cannot tell b's rotation from a forgery...
    let report = a.vault().sync_local().unwrap();
    assert!(matches!(report.ignored[0].1, Error::NotAMember { .. }));
    // ...until told that b's fingerprint is genuine.
    a.vault()
        .trust_fingerprint(&from_b.vault_secret_fingerprint().to_uppercase())
        .unwrap();
    let report = a.vault().sync_local().unwrap();
    assert_eq!(report.merged, vec![copy]);
    let s = a.vault().read().unwrap();
    let mut expected = vec![a.public(), b.public()];
    expected.sort();
    assert_eq!(s.recipients(), expected);
    assert!(matches!(
        a.vault().trust_fingerprint("not-hex"),
        Err(Error::InvalidFingerprint(_))
    ));
}

#[test]
fn the_other_side_of_a_git_merge_is_admitted_or_not() {
    let (folder, a, b) = two();
    let ours = a.vault().read().unwrap();
    let path = folder.file();
    // A later version by a member.
    b.store("b.example", "pw-b");
    let later = b.vault().read().unwrap();
    assert_eq!(a.vault().admit(&later, &path).unwrap(), Admission::Merge);
    // After a's removal of b, b's older version is kept out, not merged.
    a.remove(&b);
    assert_eq!(a.vault().admit(&later, &path).unwrap(), Admission::KeepOurs);
    assert_eq!(a.vault().admit(&ours, &path).unwrap(), Admission::KeepOurs);
    // A version with a secret nobody here knows, and another vault.
    let mut forged = later.clone();
    forged.rotate_vault_secret().unwrap();
    assert!(matches!(
        a.vault().admit(&forged, &path),
        Err(Error::NotAMember { .. })
    ));
    let elsewhere = Folder::new();
    let stranger = elsewhere.device("s");
    stranger.store("x.example", "pw");
    let theirs = stranger.vault().read().unwrap();
    assert!(matches!(
        stranger.vault().admit(&theirs, &path),
        Ok(Admission::Merge)
    ));
    assert!(matches!(
        a.vault().admit(&theirs, &path),
        Err(Error::OtherVault { .. })
    ));
    // A device that trusts nothing yet admits anything (trust on first use).
    let fresh = folder.device("fresh");
    assert_eq!(
        fresh.vault().admit(&theirs, &path).unwrap(),
        Admission::Merge
    );
}

#[test]
fn forgetting_the_trust_lets_a_device_join_another_vault() {
    let (folder, a, _b) = two();
    folder.overwrite_with_other_vault(&a, "x.example", "pw-x");
    assert!(matches!(a.vault().read(), Err(Error::OtherVault { .. })));
    a.vault().forget_trust().unwrap();
    assert!(!a.location.shadow_file().exists());
    assert_eq!(a.get("x.example").as_deref(), Some("pw-x"));
    // And it is pinned again.
    folder.overwrite_with_other_vault(&a, "y.example", "pw-y");
    assert!(matches!(a.vault().read(), Err(Error::OtherVault { .. })));
}

#[test]
fn unchanged_files_cost_no_check_and_no_write() {
    let (folder, a, _b) = two();
    a.store("x.example", "pw-x");
    let state = |name: &str| std::fs::metadata(a.location.state_dir.join(name)).ok();
    let modified = |name: &str| state(name).map(|m| m.modified().unwrap());
    let before = (
        modified("shadow.age"),
        modified("vault-trust"),
        modified("vault.lock"),
        read(&folder.file()),
    );
    for _ in 0..3 {
        let mut lookup = a.lookup().unwrap();
        lookup.credentials("https", "x.example").unwrap();
        assert!(lookup.is_indexed(), "the fast path");
        a.vault().read().unwrap();
    }
    let after = (
        modified("shadow.age"),
        modified("vault-trust"),
        modified("vault.lock"),
        read(&folder.file()),
    );
    assert_eq!(before, after);
}

#[test]
fn state_files_are_private() {
    let (_folder, a, _b) = two();
    for name in ["shadow.age", "vault-trust", "vault.lock"] {
        assert_eq!(
            common::mode(&a.location.state_dir.join(name)),
            0o600,
            "{name}"
        );
    }
}

#[test]
fn the_write_hook_runs_after_each_write() {
    let (_folder, a, _b) = two();
    let count = Arc::new(AtomicUsize::new(0));
    let mut vault = a.vault();
    let seen = Arc::clone(&count);
    vault.on_write(move || {
        seen.fetch_add(1, Ordering::SeqCst);
    });
    vault
        .update(|s| {
            s.put_credential(credential("x.example", Some("u"), "pw"));
            Ok::<_, Error>(())
        })
        .unwrap();
    // Nothing changed: no write, no hook.
    vault
        .update(|s| {
            s.put_credential(credential("x.example", Some("u"), "pw"));
            Ok::<_, Error>(())
        })
        .unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 1);
    assert!(format!("{vault:?}").contains("on_write: true"));
}

#[test]
fn a_device_that_is_not_a_recipient_learns_its_own_key() {
    let folder = Folder::new();
    let a = folder.device("a");
    a.store("x.example", "pw");
    let newcomer = folder.device("n");
    match newcomer.vault().read() {
        Err(Error::NotARecipient { public, .. }) => assert_eq!(public, newcomer.public()),
        other => panic!("{other:?}"),
    }
}
