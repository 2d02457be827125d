//! Files on disk: permissions, backups, leftovers of killed writers.

mod common;

use common::*;
use keyhelm_vault::BACKUPS_KEPT;

#[cfg(unix)]
#[test]
fn files_are_0600_and_folders_0700() {
    let setup = Setup::new();
    let vault = setup.vault();
    store(&vault, "a.example", "pw1");
    store(&vault, "b.example", "pw2");
    let loc = &setup.location;
    assert_eq!(mode(setup.file()), 0o600, "vault");
    assert_eq!(mode(setup.file().parent().unwrap()), 0o700, "vault folder");
    assert_eq!(
        mode(setup.file().parent().unwrap().parent().unwrap()),
        0o700,
        "its parent"
    );
    assert_eq!(mode(&loc.state_dir), 0o700, "state folder");
    assert_eq!(mode(&loc.lock_file()), 0o600, "lock file");
    assert_eq!(mode(&loc.state_dir.join("device-id")), 0o600, "device id");
    assert_eq!(mode(&loc.backup_dir()), 0o700, "backups folder");
    let backups = loc.backups().unwrap();
    assert_eq!(backups.len(), 1);
    for b in &backups {
        assert_eq!(mode(b), 0o600, "{}", b.display());
    }
    assert_eq!(mode(&setup.identity_file), 0o600, "identity");
}

#[cfg(unix)]
#[test]
fn a_vault_synced_in_with_a_loose_mode_is_written_back_0600() {
    use std::os::unix::fs::PermissionsExt;
    let setup = Setup::new();
    let vault = setup.vault();
    store(&vault, "a.example", "pw1");
    std::fs::set_permissions(setup.file(), std::fs::Permissions::from_mode(0o644)).unwrap();
    store(&vault, "b.example", "pw2");
    assert_eq!(mode(setup.file()), 0o600);
    // Its backup (the 0644 file's content) is 0600 too.
    for b in setup.location.backups().unwrap() {
        assert_eq!(mode(&b), 0o600);
    }
}

#[test]
fn backups_keep_the_newest_previous_versions() {
    let setup = Setup::new();
    let vault = setup.vault();
    let mut versions = Vec::new();
    for i in 0..(BACKUPS_KEPT + 3) {
        store(&vault, &format!("h{i}.example"), "pw");
        versions.push(setup.bytes());
    }
    let backups = setup.location.backups().unwrap();
    assert_eq!(backups.len(), BACKUPS_KEPT);
    // The backups are the versions before the last write, newest last.
    let kept: Vec<Vec<u8>> = backups.iter().map(|b| std::fs::read(b).unwrap()).collect();
    let n = versions.len();
    assert_eq!(kept, versions[n - 1 - BACKUPS_KEPT..n - 1].to_vec());
    // Each backup opens, and holds one entry fewer than the next.
    for (i, b) in backups.iter().enumerate() {
        let s = vault.read_file(b).unwrap();
        assert_eq!(s.len(), n - BACKUPS_KEPT + i);
    }
    // Names sort by time: vault-YYYYMMDDTHHMMSS.mmmZ-NNNN.age
    let name = backups[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        name.starts_with("vault-20") && name.ends_with(".age") && name.len() == 35,
        "{name}"
    );
}

#[test]
fn leftovers_of_a_killed_writer_are_removed_by_the_next_write() {
    let setup = Setup::new();
    let vault = setup.vault();
    store(&vault, "a.example", "pw1");
    let dir = setup.file().parent().unwrap();
    let stale = dir.join(".vault.age.AbC123.tmp");
    std::fs::write(&stale, b"half a vault").unwrap();
    std::fs::create_dir_all(setup.location.backup_dir()).unwrap();
    let stale_backup = setup.location.backup_dir().join(".backup.XyZ789.tmp");
    std::fs::write(&stale_backup, b"half a backup").unwrap();
    // Files that are not ours stay.
    let unrelated = dir.join(".other.tmp");
    std::fs::write(&unrelated, b"not ours").unwrap();
    store(&vault, "b.example", "pw2");
    assert!(!stale.exists());
    assert!(!stale_backup.exists());
    assert!(unrelated.exists());
}

#[test]
fn reads_do_not_write() {
    let setup = Setup::new();
    let vault = setup.vault();
    store(&vault, "a.example", "pw1");
    let before = setup.bytes();
    let modified = std::fs::metadata(setup.file()).unwrap().modified().unwrap();
    for _ in 0..3 {
        vault.read().unwrap();
    }
    assert_eq!(setup.bytes(), before);
    assert_eq!(
        std::fs::metadata(setup.file()).unwrap().modified().unwrap(),
        modified
    );
    assert_eq!(setup.location.backups().unwrap().len(), 0);
}
