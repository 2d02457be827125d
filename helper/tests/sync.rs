//! One vault on several machines: each "machine" is its own isolated environment
//! (KEYHELM_HOME, identity, state), the remote is a bare git repository on the local disk, the
//! shared folder a plain folder. Everything goes through the real keyhelm binary and the real
//! git (`git credential approve|fill|reject` as the tools would).

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use keyhelm_testkit::keyhelm::wait_until;
use support::{Sandbox, keyhelm_bin, text};

/// One machine: its own environment, identity and vault.
struct Machine {
    sb: Sandbox,
}

impl Machine {
    fn new() -> Machine {
        Machine { sb: Sandbox::new() }
    }

    fn run(&self, args: &[&str]) -> Output {
        self.sb.keyhelm(args, b"")
    }

    /// Runs keyhelm; its stdout, or a panic with everything it said.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "keyhelm {args:?} failed ({}):\n{}{}",
            out.status,
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// Runs keyhelm, which must fail with exit code `code` and print nothing on stdout: what
    /// it said on stderr.
    fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "keyhelm {args:?}:\n{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        assert_eq!(text(&out.stdout), "", "keyhelm {args:?}");
        text(&out.stderr)
    }

    fn state_dir(&self) -> PathBuf {
        self.sb.keyhelm_home().join("state")
    }

    /// `keyhelm init`: the public key.
    fn init(&self) -> String {
        self.ok(&["init"]).trim().to_owned()
    }

    fn store(&self, host: &str, password: &str) {
        self.sb.approve(&format!(
            "protocol=https\nhost={host}\nusername=u\npassword={password}\n"
        ));
    }

    fn erase(&self, host: &str) {
        self.sb
            .reject(&format!("protocol=https\nhost={host}\nusername=u\n"));
    }

    /// The password git gets for `host`, if any.
    fn get(&self, host: &str) -> Option<String> {
        let filled = self.sb.fill(&format!("protocol=https\nhost={host}\n"))?;
        filled
            .lines()
            .find_map(|l| l.strip_prefix("password="))
            .map(str::to_owned)
    }

    fn sync(&self) -> String {
        self.ok(&["sync"])
    }

    fn vault_dir(&self) -> PathBuf {
        self.sb.keyhelm_home().join("vault")
    }

    fn git_in_vault(&self, args: &[&str]) -> String {
        let out = self.sb.git(
            &[&["-C", self.vault_dir().to_str().unwrap()], args].concat(),
            b"",
        );
        assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    }
}

/// A bare repository on the local disk, the remote every machine syncs with.
fn bare_remote(dir: &Path) -> String {
    let remote = dir.join("remote.git");
    let out = std::process::Command::new("git")
        .args(["init", "--quiet", "--bare", "--initial-branch=main"])
        .arg(&remote)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    remote.to_str().unwrap().to_owned()
}

/// Machine A with a vault synced to a fresh remote, and B joined and added: both read it.
/// A new machine that joins `remote` and is let in by `member` (which adds its key): the
/// machine and its public key.
fn join(member: &Machine, remote: &str) -> (Machine, String) {
    let m = Machine::new();
    let key = m.ok(&["init", "--join", remote]).trim().to_owned();
    member.ok(&["vault", "recipients", "add", &key]);
    (m, key)
}

fn pair() -> (Machine, Machine, String) {
    let a = Machine::new();
    let remote = bare_remote(a.sb.dir());
    a.init();
    a.store("shared.example", "pw-shared");
    a.ok(&["sync", "--init", &remote]);
    let (b, _) = join(&a, &remote);
    a.sync();
    b.sync();
    assert_eq!(b.get("shared.example").as_deref(), Some("pw-shared"));
    (a, b, remote)
}

/// `git init --bare` without `--initial-branch` names `master` as the remote's HEAD, and
/// keyhelm pushes `main`: the joining machine still gets the vault that is on the remote (not
/// an empty one of its own, pushed to a second branch).
#[test]
fn joining_a_remote_whose_head_names_another_branch() {
    let a = Machine::new();
    let remote = a.sb.dir().join("remote.git");
    let out = std::process::Command::new("git")
        .args(["init", "--quiet", "--bare", "--initial-branch=master"])
        .arg(&remote)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let remote = remote.to_str().unwrap().to_owned();
    a.init();
    a.store("shared.example", "pw-shared");
    a.ok(&["sync", "--init", &remote]);
    let (b, _) = join(&a, &remote);
    assert_eq!(b.git_in_vault(&["branch", "--show-current"]), "main\n");
    a.sync();
    b.sync();
    assert_eq!(b.get("shared.example").as_deref(), Some("pw-shared"));
    b.store("b.example", "pw-b");
    b.sync();
    a.sync();
    assert_eq!(a.get("b.example").as_deref(), Some("pw-b"));
    // One branch on the remote.
    let out = std::process::Command::new("git")
        .args([
            "-C",
            &remote,
            "for-each-ref",
            "--format=%(refname)",
            "refs/heads/",
        ])
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout), "refs/heads/main\n");
}

#[test]
fn a_second_machine_joins_through_git_and_reads_after_being_added() {
    let a = Machine::new();
    let remote = bare_remote(a.sb.dir());
    let key_a = a.init();
    a.store("git.example.com", "pw-1");
    let out = a.ok(&["sync", "--init", &remote]);
    assert_eq!(out, "Pushed to origin.\n");
    // The vault folder is a clone with keyhelm's merge driver.
    assert_eq!(
        std::fs::read_to_string(a.vault_dir().join(".gitattributes")).unwrap(),
        "vault.age merge=keyhelm-vault -diff\n"
    );
    assert!(
        std::fs::read_to_string(a.vault_dir().join(".gitignore"))
            .unwrap()
            .contains(".vault.age.*.tmp\n")
    );
    assert_eq!(
        a.git_in_vault(&["config", "merge.keyhelm-vault.driver"]),
        format!(
            "'{}' vault merge-driver %O %A %B %P\n",
            keyhelm_bin().display()
        )
    );
    assert_eq!(a.git_in_vault(&["log", "--format=%s"]), "vault update\n");

    // B joins: it gets an identity and a clone, but cannot read the vault yet.
    let b = Machine::new();
    let out = b.run(&["init", "--join", &remote]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let key_b = text(&out.stdout).trim().to_owned();
    assert!(key_b.starts_with("age1") && key_b != key_a);
    let said = text(&out.stderr);
    assert!(
        said.starts_with(&format!(
            "keyhelm: cloned {remote} into {}; `keyhelm sync` keeps it in step\n",
            b.vault_dir().display()
        )),
        "{said}"
    );
    assert!(
        said.contains(&format!(
            "is not encrypted to this device yet: run `keyhelm vault recipients add {key_b}`"
        )),
        "{said}"
    );
    let out =
        b.sb.keyhelm(&["get"], b"protocol=https\nhost=git.example.com\n");
    assert_eq!(out.status.code(), Some(4));
    assert!(
        text(&out.stderr).contains(&format!(
            "keyhelm: hint: this device is not a recipient yet: run `keyhelm vault recipients \
             add {key_b}` on a device that is"
        )),
        "{}",
        text(&out.stderr)
    );

    // A adds B and syncs; B syncs and reads everything.
    let out = a.ok(&["vault", "recipients", "add", &key_b]);
    assert_eq!(
        out,
        format!(
            "Added {key_b}.\nThe vault is now encrypted to 2 recipients. Run `keyhelm sync` to \
             share the change.\n"
        )
    );
    assert_eq!(
        a.ok(&["vault", "recipients", "add", &key_b]),
        format!("{key_b} is already a recipient; nothing changed.\n")
    );
    a.sync();
    let out = b.sync();
    assert_eq!(out, "Merged the changes from origin.\n");
    assert_eq!(b.get("git.example.com").as_deref(), Some("pw-1"));
    assert_eq!(b.sync(), "Up to date with origin.\n");

    // Both list the same recipients and fingerprint.
    let list_a = a.ok(&["vault", "recipients", "list"]);
    let list_b = b.ok(&["vault", "recipients", "list"]);
    let fingerprint = |list: &str| {
        list.lines()
            .find_map(|l| l.strip_prefix("Vault fingerprint: "))
            .unwrap()
            .to_owned()
    };
    assert_eq!(fingerprint(&list_a), fingerprint(&list_b));
    assert!(
        list_a.contains(&format!("  {key_a}  (this device)\n")),
        "{list_a}"
    );
    assert!(
        list_b.contains(&format!("  {key_b}  (this device)\n")),
        "{list_b}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&a.ok(&["vault", "recipients", "list", "--json"])).unwrap();
    assert_eq!(json["recipients"].as_array().unwrap().len(), 2);
    assert_eq!(json["fingerprint"], fingerprint(&list_a).as_str());
}

#[test]
fn edits_of_different_entries_at_the_same_time_both_survive() {
    let (a, b, _remote) = pair();
    a.store("from-a.example", "pw-a");
    b.store("from-b.example", "pw-b");
    a.sync();
    // B's push is behind: it merges (through the merge driver) and pushes.
    let out = b.sync();
    assert_eq!(out, "Merged the changes from origin.\nPushed to origin.\n");
    a.sync();
    for m in [&a, &b] {
        assert_eq!(m.get("from-a.example").as_deref(), Some("pw-a"));
        assert_eq!(m.get("from-b.example").as_deref(), Some("pw-b"));
    }
    // The merge commit, and nothing but "vault update" in the history.
    let subjects = b.git_in_vault(&["log", "--format=%s"]);
    assert!(subjects.lines().all(|s| s == "vault update"), "{subjects}");
    let parents = b.git_in_vault(&["log", "-1", "--format=%p"]);
    assert_eq!(parents.split_whitespace().count(), 2, "a merge commit");
}

#[test]
fn the_later_edit_of_the_same_entry_wins_everywhere() {
    let (a, b, _remote) = pair();
    a.store("same.example", "pw-older");
    std::thread::sleep(std::time::Duration::from_millis(5));
    b.store("same.example", "pw-newer");
    b.sync();
    a.sync();
    b.sync();
    assert_eq!(a.get("same.example").as_deref(), Some("pw-newer"));
    assert_eq!(b.get("same.example").as_deref(), Some("pw-newer"));
}

#[test]
fn a_delete_wins_over_an_older_edit() {
    let (a, b, _remote) = pair();
    b.store("shared.example", "pw-edited");
    std::thread::sleep(std::time::Duration::from_millis(5));
    a.erase("shared.example");
    assert_eq!(a.get("shared.example"), None);
    b.sync();
    a.sync();
    b.sync();
    assert_eq!(a.get("shared.example"), None);
    assert_eq!(b.get("shared.example"), None);
}

#[test]
fn three_machines_and_a_removed_one() {
    let (a, b, remote) = pair();
    let (c, key_c) = join(&a, &remote);
    a.sync();
    b.sync();
    c.sync();
    assert_eq!(c.get("shared.example").as_deref(), Some("pw-shared"));

    // A removes C, and is told what removal cannot do.
    let out = a.ok(&["vault", "recipients", "remove", &key_c]);
    assert_eq!(
        out,
        format!(
            "Removed {key_c}, and rotated the vault secret.\nFrom now on the vault is encrypted \
             without that key, and copies it writes are refused here. But the removed device can \
             still read the copies of the vault it already has, and older versions (git history, \
             backups, a synced folder's history): rotate the credentials stored in the vault \
             (passwords, tokens, account secrets). Run `keyhelm sync` to share the change.\n"
        )
    );
    a.store("after.example", "pw-after");
    a.sync();
    b.sync();
    assert_eq!(b.get("after.example").as_deref(), Some("pw-after"));

    // C's next sync fails, and it cannot read the new versions.
    let out = c.run(&["sync"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let said = text(&out.stderr);
    assert!(
        said.contains("keyhelm: error: the vault on the remote cannot be used: the vault")
            && said.contains("is not encrypted to this device's identity"),
        "{said}"
    );
    assert_eq!(c.get("after.example"), None);
    let out = c.run(&["sync"]);
    assert!(!out.status.success());

    // Removing an unknown key, this device's own key, or giving garbage.
    assert_eq!(
        a.fails(&["vault", "recipients", "remove", &key_c], 9),
        format!(
            "keyhelm: error: {key_c} is not a recipient of the vault\nkeyhelm: hint: `keyhelm \
             vault recipients list` shows them\n"
        )
    );
    let key_a = a.ok(&["init"]).trim().to_owned();
    assert_eq!(
        a.fails(&["vault", "recipients", "remove", &key_a], 2),
        format!(
            "keyhelm: error: {key_a} is this device's own key: removing it would lock this \
             device out\nkeyhelm: hint: remove it from another device that is a recipient\n"
        )
    );
    let out = a.run(&["vault", "recipients", "add", "not-a-key"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("invalid recipient 'not-a-key'"));
}

#[test]
fn a_removed_machine_cannot_push_its_way_back() {
    let (a, b, remote) = pair();
    let (c, key_c) = join(&a, &remote);
    a.sync();
    c.sync();
    b.sync();
    a.ok(&["vault", "recipients", "remove", &key_c]);
    a.sync();
    b.sync();
    // C, still holding the old version, writes and pushes it by hand.
    c.store("evil.example", "pw-evil");
    c.git_in_vault(&["commit", "--quiet", "-am", "vault update"]);
    c.git_in_vault(&["push", "--quiet", "--force", "origin", "HEAD:main"]);
    // B keeps its own version (C's was written before the removal B has seen), pushes it,
    // and never reads C's entries.
    let out = b.sync();
    assert!(out.contains("kept this device's version"), "{out}");
    assert_eq!(b.get("evil.example"), None);
    assert_eq!(a.sync(), "Merged the changes from origin.\n");
    assert_eq!(a.get("evil.example"), None);
}

#[test]
fn a_merge_driver_at_a_path_with_spaces_and_quotes() {
    let a = Machine::new();
    let tools = a.sb.dir().join("my tools/it's here");
    std::fs::create_dir_all(&tools).unwrap();
    let exe = tools.join("keyhelm");
    std::fs::copy(keyhelm_bin(), &exe).unwrap();
    let run = |m: &Machine, args: &[&str]| {
        let out = support::run(m.sb.command(&exe).args(args), b"");
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    let remote = bare_remote(a.sb.dir());
    run(&a, &["init"]);
    a.store("one.example", "pw-1");
    run(&a, &["sync", "--init", &remote]);
    assert_eq!(
        a.git_in_vault(&["config", "merge.keyhelm-vault.driver"]),
        format!(
            "'{}/my tools/it'\\''s here/keyhelm' vault merge-driver %O %A %B %P\n",
            a.sb.dir().display()
        )
    );
    // A second clone of the same machine's vault (same identity) makes a real conflict.
    let b = Machine::new();
    let key_b = run(&b, &["init", "--join", &remote]).trim().to_owned();
    run(&a, &["vault", "recipients", "add", &key_b]);
    run(&a, &["sync"]);
    run(&b, &["sync"]);
    a.store("two.example", "pw-2");
    b.store("three.example", "pw-3");
    run(&a, &["sync"]);
    assert_eq!(
        run(&b, &["sync"]),
        "Merged the changes from origin.\nPushed to origin.\n"
    );
    run(&a, &["sync"]);
    assert_eq!(a.get("three.example").as_deref(), Some("pw-3"));
    assert_eq!(b.get("two.example").as_deref(), Some("pw-2"));
}

#[test]
fn a_shared_folder_with_conflict_copies_and_a_lost_update() {
    let a = Machine::new();
    let folder = a.sb.dir().join("Sync/keyhelm");
    std::fs::create_dir_all(&folder).unwrap();
    let folder_arg = folder.to_str().unwrap();
    a.init();
    a.store("first.example", "pw-first");
    // The first machine brings its vault into the folder.
    let out = a.run(&["init", "--join", folder_arg]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shared = folder.join("vault.age");
    assert!(
        text(&out.stderr).starts_with(&format!(
            "keyhelm: copied this device's vault into {folder_arg} (the old file {} is no \
             longer used)\nkeyhelm: vault.path in {} is now {}\n",
            a.sb.vault_file().display(),
            a.sb.keyhelm_home().join("config.toml").display(),
            shared.display()
        )),
        "{}",
        text(&out.stderr)
    );
    assert!(shared.exists());
    assert_eq!(a.get("first.example").as_deref(), Some("pw-first"));

    let b = Machine::new();
    let out = b.run(&["init", "--join", folder_arg]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let key_b = text(&out.stdout).trim().to_owned();
    assert!(
        text(&out.stderr).starts_with(&format!(
            "keyhelm: vault.path in {} is now {}\nkeyhelm: created this device's identity in ",
            b.sb.keyhelm_home().join("config.toml").display(),
            shared.display()
        )),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(b.get("first.example"), None);
    // A device with a vault of its own leaves it behind.
    let d = Machine::new();
    d.init();
    d.store("own.example", "pw-own");
    let out = d.run(&["init", "--join", folder_arg]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).starts_with(&format!(
            "keyhelm: this device's previous vault {} is no longer used (a vault of its own: \
             its entries are not merged into the shared one)\nkeyhelm: vault.path in {} is now \
             {}\n",
            d.sb.vault_file().display(),
            d.sb.keyhelm_home().join("config.toml").display(),
            shared.display()
        )),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(d.get("own.example"), None);
    let out = a.ok(&["vault", "recipients", "add", &key_b]);
    assert!(out.ends_with("The shared folder carries the change to the other devices.\n"));
    assert_eq!(b.get("first.example").as_deref(), Some("pw-first"));
    let config = std::fs::read_to_string(b.sb.keyhelm_home().join("config.toml")).unwrap();
    assert!(
        config.contains(&format!("path = \"{}\"", shared.display())),
        "{config}"
    );

    // A and B write at the same time; the sync tool keeps B's file and renames A's.
    let base = std::fs::read(&shared).unwrap();
    a.store("from-a.example", "pw-a");
    let from_a = std::fs::read(&shared).unwrap();
    std::fs::write(&shared, &base).unwrap();
    b.store("from-b.example", "pw-b");
    let copy = folder.join("vault.sync-conflict-20261123-112600-AAAAAAA.age");
    std::fs::write(&copy, &from_a).unwrap();
    // B's next lookup merges the copy in and removes it.
    assert_eq!(b.get("from-a.example").as_deref(), Some("pw-a"));
    assert!(!copy.exists());
    assert_eq!(a.get("from-b.example").as_deref(), Some("pw-b"));
    assert_eq!(
        b.sync(),
        "Nothing to do: the vault is up to date, and there is no conflict copy next to it.\n"
    );

    // A Dropbox-style copy, merged by `keyhelm sync`.
    let before = std::fs::read(&shared).unwrap();
    a.store("later.example", "pw-later");
    let dropbox = folder.join("vault (a's conflicted copy 2026-11-23).age");
    std::fs::copy(&shared, &dropbox).unwrap();
    std::fs::write(&shared, &before).unwrap();
    let out = b.sync();
    assert_eq!(
        out,
        format!(
            "Merged and removed 1 conflict copy: {}\n",
            dropbox.display()
        )
    );
    assert_eq!(b.get("later.example").as_deref(), Some("pw-later"));

    // The folder loses A's update (the sync tool put an older file back): A's next lookup
    // writes it back from A's shadow copy, and B reads it.
    let before = std::fs::read(&shared).unwrap();
    a.store("lost.example", "pw-lost");
    std::fs::write(&shared, &before).unwrap();
    assert_eq!(a.get("lost.example").as_deref(), Some("pw-lost"));
    assert_eq!(b.get("lost.example").as_deref(), Some("pw-lost"));
}

#[test]
fn a_vault_written_by_someone_else_is_refused() {
    let a = Machine::new();
    let folder = a.sb.dir().join("shared");
    std::fs::create_dir_all(&folder).unwrap();
    let key_a = a
        .ok(&["init", "--join", folder.to_str().unwrap()])
        .trim()
        .to_owned();
    a.store("real.example", "pw-real");
    let shared = folder.join("vault.age");
    let genuine = std::fs::read(&shared).unwrap();

    // A stranger who knows A's public key writes a vault of their own into the folder.
    let m = Machine::new();
    m.init();
    m.store("real.example", "pw-evil");
    m.ok(&["vault", "recipients", "add", &key_a]);
    std::fs::copy(m.sb.vault_file(), &shared).unwrap();
    let out =
        a.sb.keyhelm(&["get"], b"protocol=https\nhost=real.example\n");
    assert_eq!(out.status.code(), Some(4));
    let said = text(&out.stderr);
    assert!(said.contains("holds another vault (id "), "{said}");
    assert!(
        said.contains("keyhelm: hint: keyhelm left the file as it is."),
        "{said}"
    );
    assert_eq!(text(&out.stdout), "");
    // A store does not write over it either.
    let out = a.sb.credential(
        "approve",
        "protocol=https\nhost=x.example\nusername=u\npassword=p\n",
    );
    assert!(text(&out.stderr).contains("holds another vault"));

    // A removed member's vault, with a secret of its own making, is refused as well.
    std::fs::write(&shared, &genuine).unwrap();
    assert_eq!(a.get("real.example").as_deref(), Some("pw-real"));
    let c = Machine::new();
    let key_c = c
        .ok(&["init", "--join", folder.to_str().unwrap()])
        .trim()
        .to_owned();
    let d = Machine::new();
    let key_d = d
        .ok(&["init", "--join", folder.to_str().unwrap()])
        .trim()
        .to_owned();
    a.ok(&["vault", "recipients", "add", &key_c]);
    a.ok(&["vault", "recipients", "add", &key_d]);
    assert!(c.get("real.example").is_some());
    let old = std::fs::read(&shared).unwrap();
    a.ok(&["vault", "recipients", "remove", &key_c]);
    let current = std::fs::read(&shared).unwrap();
    // C puts its old copy back and rotates the secret (removing D), then writes.
    std::fs::write(&shared, &old).unwrap();
    c.ok(&["vault", "recipients", "remove", &key_d]);
    c.store("real.example", "pw-evil");
    let out =
        a.sb.keyhelm(&["get"], b"protocol=https\nhost=real.example\n");
    assert_eq!(out.status.code(), Some(4));
    assert!(
        text(&out.stderr).contains("was not written by a member of this vault"),
        "{}",
        text(&out.stderr)
    );
    std::fs::write(&shared, &current).unwrap();
    assert_eq!(a.get("real.example").as_deref(), Some("pw-real"));
}

#[test]
fn sync_explains_what_is_missing() {
    let a = Machine::new();
    assert_eq!(
        a.fails(&["sync"], 5),
        "keyhelm: error: this device has no identity yet, so it has no vault to sync\nkeyhelm: \
         hint: run `keyhelm init` (or `keyhelm init --join REMOTE_OR_FOLDER`)\n"
    );
    a.init();
    assert_eq!(
        a.fails(&["sync"], 1),
        format!(
            "keyhelm: error: the vault {} is not shared: its folder is not a git repository, and \
             vault.path is not set\nkeyhelm: hint: `keyhelm sync --init REMOTE` syncs it through \
             a git remote; `keyhelm init --join FOLDER` moves it into a shared folder\n",
            a.sb.vault_file().display()
        )
    );
    assert_eq!(
        a.fails(&["init", "--join", "/no/such/folder"], 2),
        "keyhelm: error: /no/such/folder is neither a folder nor a git remote URL\nkeyhelm: \
         hint: give a shared folder that exists on this device, a git URL (https://..., \
         ssh://..., host:path), or the path of a git repository\n"
    );
    let folder = a.sb.dir().join("plain");
    std::fs::create_dir(&folder).unwrap();
    assert_eq!(
        a.fails(&["sync", "--init", folder.to_str().unwrap()], 2),
        format!(
            "keyhelm: error: {} is a folder, not a git repository\nkeyhelm: hint: create a \
             repository there first (`git init --bare FOLDER`), or share the folder with a sync \
             tool and run `keyhelm init --join FOLDER`\n",
            folder.display()
        )
    );
    // Joining a remote while this device has a vault of its own.
    let remote = bare_remote(a.sb.dir());
    assert_eq!(
        a.fails(&["init", "--join", &remote], 2),
        format!(
            "keyhelm: error: this device already has a vault at {}\nkeyhelm: hint: to sync it \
             with the remote (it must be the same vault), run `keyhelm sync --init '{remote}'`; \
             to use the remote's vault instead, move {} away first\n",
            a.sb.vault_file().display(),
            a.vault_dir().display()
        )
    );
    // A remote holding another vault (nothing is merged or pushed).
    let other = Machine::new();
    other.init();
    other.ok(&["sync", "--init", &remote]);
    let out = a.run(&["sync", "--init", &remote]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).starts_with(
            "keyhelm: error: the vault on the remote cannot be used: the vault \
             origin/main:vault.age is not encrypted to this device's identity\n"
        ),
        "{}",
        text(&out.stderr)
    );
    // Even when encrypted to this device too.
    let key_a = a.init();
    other.ok(&["vault", "recipients", "add", &key_a]);
    other.sync();
    let said = a.fails(&["sync"], 4);
    let ids = said
        .strip_prefix("keyhelm: error: the remote origin holds another vault (id ")
        .unwrap_or_else(|| panic!("{said}"));
    let (theirs, rest) = ids.split_once(") than this device's (id ").unwrap();
    let (ours, rest) = rest.split_once(")\n").unwrap();
    assert!(theirs.len() == ours.len() && theirs != ours, "{said}");
    assert_eq!(
        rest,
        "keyhelm: hint: to use the remote's vault on this device instead, move this device's \
         vault folder away and run `keyhelm init --join REMOTE`\n"
    );

    // This device's vault moved away, and an empty remote: nothing to sync yet.
    std::fs::rename(a.vault_dir(), a.sb.dir().join("old-vault")).unwrap();
    let empty = bare_remote(&a.sb.dir().join("empty"));
    let no_vault = "origin has no vault yet, and neither has this device: the first `keyhelm \
                    store` (or `keyhelm init`) here creates one, and `keyhelm sync` pushes it.\n";
    assert_eq!(a.ok(&["sync", "--init", &empty]), no_vault);
    assert_eq!(a.sync(), no_vault);
    a.store("new.example", "pw-new");
    assert_eq!(a.sync(), "Pushed to origin.\n");
}

#[test]
fn background_sync_after_a_write() {
    let (a, b, remote) = pair();
    std::fs::write(
        a.sb.keyhelm_home().join("config.toml"),
        "[sync]\nauto = true\n",
    )
    .unwrap();
    let commits = || {
        let out = std::process::Command::new("git")
            .args(["--git-dir", &remote, "log", "--format=%H", "main"])
            .output()
            .unwrap();
        text(&out.stdout).lines().count()
    };
    let before = commits();
    a.store("auto.example", "pw-auto");
    // The write returned at once; the background sync pushes soon after.
    let pushed = (0..300).any(|_| {
        if commits() > before {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        false
    });
    let log_file = a.sb.keyhelm_home().join("state/sync.log");
    let log = || std::fs::read_to_string(&log_file).unwrap_or_default();
    assert!(pushed, "no background push; sync.log: {}", log());
    // The outcome is logged once the sync is done.
    let logged = (0..300).any(|_| {
        if log().contains(" keyhelm sync: ok\nPushed to origin.\n") {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        false
    });
    assert!(logged, "sync.log: {}", log());
    assert_eq!(support::mode(&log_file), 0o600);
    b.sync();
    assert_eq!(b.get("auto.example").as_deref(), Some("pw-auto"));

    // A failed background sync says why in sync.log, with the time.
    let gone = a.sb.dir().join("gone.git");
    a.git_in_vault(&["remote", "set-url", "origin", gone.to_str().unwrap()]);
    a.store("later.example", "pw-later");
    wait_until("a failed background sync in sync.log", || {
        log().contains(" keyhelm sync: error: ")
    });
    let log = log();
    let (when, rest) = log.split_once(' ').unwrap();
    assert!(
        when.parse::<jiff::Timestamp>().is_ok() && when.ends_with('Z') && when.len() == 20,
        "{log}"
    );
    assert_eq!(
        rest,
        format!(
            "keyhelm sync: error: git fetch origin failed: fatal: '{}' does not appear to be a \
             git repository / fatal: Could not read from remote repository.\nhint: nothing was \
             lost: the vault file is untouched by a failed git command; fix the problem git \
             reports and run `keyhelm sync` again\n",
            gone.display()
        )
    );
    assert_eq!(a.get("later.example").as_deref(), Some("pw-later"));
}

#[test]
fn an_ssh_key_as_the_device_identity() {
    let (a, _b, remote) = pair();
    let c = Machine::new();
    let key_file = c.sb.dir().join("id_ed25519");
    let out = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "c@example", "-f"])
        .arg(&key_file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let key_c = c
        .ok(&[
            "init",
            "--ssh-key",
            key_file.to_str().unwrap(),
            "--join",
            &remote,
        ])
        .trim()
        .to_owned();
    assert!(key_c.starts_with("ssh-ed25519 "), "{key_c}");
    // Its public key file, with a comment, is accepted as the recipient.
    let public = std::fs::read_to_string(key_file.with_extension("pub")).unwrap();
    a.ok(&["vault", "recipients", "add", public.trim()]);
    a.sync();
    c.sync();
    assert_eq!(c.get("shared.example").as_deref(), Some("pw-shared"));
    let list = a.ok(&["vault", "recipients", "list"]);
    assert!(list.contains(&format!("  {key_c}\n")), "{list}");
}

#[test]
fn help_describes_the_sync_commands() {
    let m = Machine::new();
    let help = m.ok(&["--help"]);
    for line in [
        "vault       The vault shared by several devices: its recipients, and what this device trusts",
        "sync        Sync the vault: through its git remote (pull, merge, commit, push), or, in a shared",
    ] {
        assert!(help.contains(line), "missing {line:?} in:\n{help}");
    }
    let help = m.ok(&["vault", "recipients", "--help"]);
    for line in [
        "list    List the recipients (this device's key is marked) and the vault's fingerprint",
        "remove  Remove a recipient; re-encrypts the vault and rotates the vault secret",
    ] {
        assert!(help.contains(line), "missing {line:?} in:\n{help}");
    }
    // The merge driver is for git, not for people.
    assert!(!m.ok(&["vault", "--help"]).contains("merge-driver"));
    let help = m.ok(&["init", "--help"]);
    assert!(
        help.contains("--join <REMOTE_OR_FOLDER>     Join an existing vault"),
        "{help}"
    );
    assert!(help.contains("--ssh-key <PATH>"), "{help}");
    let help = m.ok(&["sync", "--help"]);
    assert!(
        help.contains("--init <REMOTE>  Make the vault folder a git repository"),
        "{help}"
    );
    assert!(!help.contains("--auto"), "{help}");
}

#[test]
fn the_merge_driver_merges_keeps_or_refuses() {
    let a = Machine::new();
    a.init();
    a.store("one.example", "pw-1");
    let dir = a.sb.dir().join("merge");
    std::fs::create_dir(&dir).unwrap();
    let ours = dir.join("ours.age");
    let theirs = dir.join("theirs.age");
    let base = dir.join("base.age");
    std::fs::write(&base, b"").unwrap();
    std::fs::copy(a.sb.vault_file(), &ours).unwrap();
    a.store("two.example", "pw-2");
    std::fs::copy(a.sb.vault_file(), &theirs).unwrap();
    let driver = |theirs: &Path| {
        a.run(&[
            "vault",
            "merge-driver",
            base.to_str().unwrap(),
            ours.to_str().unwrap(),
            theirs.to_str().unwrap(),
            "vault.age",
        ])
    };
    // Both versions of the vault merge into `ours`.
    let before = std::fs::read(&ours).unwrap();
    let out = driver(&theirs);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "");
    assert_ne!(std::fs::read(&ours).unwrap(), before);
    std::fs::copy(&ours, a.sb.vault_file()).unwrap();
    assert_eq!(a.get("two.example").as_deref(), Some("pw-2"));

    // Another vault, even encrypted to this device, is refused; `ours` stays as it was.
    let m = Machine::new();
    m.init();
    m.ok(&["vault", "recipients", "add", &a.init()]);
    let before = std::fs::read(&ours).unwrap();
    let out = driver(&m.sb.vault_file());
    assert_eq!(out.status.code(), Some(4));
    assert!(
        text(&out.stderr).starts_with("keyhelm: error: cannot merge vault.age: "),
        "{}",
        text(&out.stderr)
    );
    assert!(text(&out.stderr).contains("holds another vault"));
    // So is a damaged file.
    std::fs::write(&theirs, b"not a vault").unwrap();
    let out = driver(&theirs);
    assert_eq!(out.status.code(), Some(4));
    assert!(
        text(&out.stderr).contains("cannot merge vault.age: the vault")
            && text(&out.stderr).contains("is damaged: it is not an age-encrypted file"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read(&ours).unwrap(), before);
}

#[test]
fn sync_and_join_refuse_what_they_cannot_do() {
    let (a, b, remote) = pair();
    let dir_a = a.vault_dir();
    let dir_b = b.vault_dir();
    // Joining the same remote again changes nothing; another remote is refused.
    let out = b.run(&["init", "--join", &remote]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).starts_with(&format!(
            "keyhelm: the vault folder {} is already a clone of {remote}\n",
            dir_b.display()
        )),
        "{}",
        text(&out.stderr)
    );
    let other = bare_remote(&b.sb.dir().join("other"));
    assert_eq!(
        b.fails(&["init", "--join", &other], 2),
        format!(
            "keyhelm: error: the vault folder {} is already a git repository (of {remote})\n\
             keyhelm: hint: move it away to join another remote\n",
            dir_b.display()
        )
    );
    assert_eq!(
        a.fails(&["sync", "--init", &other], 2),
        format!(
            "keyhelm: error: the vault folder {} already syncs with {remote}\nkeyhelm: hint: to \
             sync with another remote, run `git -C '{}' remote set-url origin REMOTE`\n",
            dir_a.display(),
            dir_a.display()
        )
    );

    // A repository without a remote, and one not on a branch.
    a.git_in_vault(&["remote", "remove", "origin"]);
    assert_eq!(
        a.fails(&["sync"], 1),
        format!(
            "keyhelm: error: the vault folder {} is a git repository without a remote named \
             origin\nkeyhelm: hint: run `keyhelm sync --init REMOTE` to sync it with REMOTE\n",
            dir_a.display()
        )
    );
    assert_eq!(
        a.fails(&["init", "--join", &other], 2),
        format!(
            "keyhelm: error: the vault folder {} is already a git repository (without a \
             remote)\nkeyhelm: hint: move it away to join another remote\n",
            dir_a.display()
        )
    );
    a.ok(&["sync", "--init", &remote]);
    a.git_in_vault(&["checkout", "--quiet", "--detach"]);
    assert_eq!(
        a.fails(&["sync"], 1),
        format!(
            "keyhelm: error: the vault folder's repository {} is not on a branch (its HEAD is \
             detached)\nkeyhelm: hint: check out the branch keyhelm syncs, e.g. `git -C '{}' \
             switch main`, and run `keyhelm sync` again\n",
            dir_a.display(),
            dir_a.display()
        )
    );
    a.git_in_vault(&["switch", "--quiet", "main"]);
    assert_eq!(a.sync(), "Up to date with origin.\n");

    // A vault folder with other files in it is not cloned into.
    let c = Machine::new();
    std::fs::create_dir_all(c.vault_dir()).unwrap();
    std::fs::write(c.vault_dir().join("notes.txt"), "mine").unwrap();
    assert_eq!(
        c.fails(&["init", "--join", &remote], 2),
        format!(
            "keyhelm: error: the vault folder {} is not empty\nkeyhelm: hint: move its files \
             away, or set another vault.path in config.toml\n",
            c.vault_dir().display()
        )
    );
    assert!(!c.sb.keyhelm_home().join("identity.txt").exists());

    // An identity already there, or a key that is not an SSH key.
    let key_file = a.sb.dir().join("id_ed25519");
    let out = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key_file)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        a.fails(&["init", "--ssh-key", key_file.to_str().unwrap()], 5),
        format!(
            "keyhelm: error: this device already has an identity in {}\nkeyhelm: hint: a \
             device has one identity; move the file away first to use the SSH key\n",
            a.sb.keyhelm_home().join("identity.txt").display()
        )
    );
    let age_key = c.sb.dir().join("age.txt");
    std::fs::copy(a.sb.keyhelm_home().join("identity.txt"), &age_key).unwrap();
    assert_eq!(
        c.fails(&["init", "--ssh-key", age_key.to_str().unwrap()], 2),
        format!(
            "keyhelm: error: {} is not an OpenSSH private key\nkeyhelm: hint: give the private \
             half of an ssh-ed25519 key, e.g. ~/.ssh/id_ed25519\n",
            age_key.display()
        )
    );
}

#[test]
fn trusting_a_fingerprint() {
    let (a, _b, _remote) = pair();
    let fingerprint = "AB".repeat(32);
    let out = a.ok(&["vault", "trust", &fingerprint]);
    assert_eq!(
        out,
        format!(
            "This device now also accepts a vault with the fingerprint {}.\n",
            "ab".repeat(32)
        )
    );
    let out = a.run(&["vault", "trust", "12345"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr)
            .contains("'12345' is not a vault fingerprint (64 hexadecimal characters)")
    );
    assert_eq!(a.get("shared.example").as_deref(), Some("pw-shared"));
}

/// Writes an executable shell script.
fn script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

const NOTHING_LOST: &str = "keyhelm: hint: nothing was lost: the vault file is untouched by a \
                            failed git command; fix the problem git reports and run `keyhelm \
                            sync` again\n";

#[test]
fn a_remote_that_fails_refuses_or_keeps_moving_loses_nothing() {
    let a = Machine::new();
    let remote = bare_remote(a.sb.dir());
    a.init();
    a.store("one.example", "pw-1");
    a.ok(&["sync", "--init", &remote]);

    // A remote that is not there.
    let gone = a.sb.dir().join("gone.git");
    a.git_in_vault(&["remote", "set-url", "origin", gone.to_str().unwrap()]);
    a.store("two.example", "pw-2");
    assert_eq!(
        a.fails(&["sync"], 1),
        format!(
            "keyhelm: error: git fetch origin failed: fatal: '{}' does not appear to be a git \
             repository / fatal: Could not read from remote repository.\n{NOTHING_LOST}",
            gone.display()
        )
    );
    a.git_in_vault(&["remote", "set-url", "origin", &remote]);

    // A remote whose hook refuses every push.
    let hook = Path::new(&remote).join("hooks/pre-receive");
    script(&hook, "echo 'pushes are closed today' >&2\nexit 1\n");
    assert_eq!(
        a.fails(&["sync"], 1),
        format!(
            "keyhelm: error: git push origin failed: remote: pushes are closed today / error: \
             failed to push some refs to '{remote}'\n{NOTHING_LOST}"
        )
    );
    assert_eq!(a.get("two.example").as_deref(), Some("pw-2"));
    std::fs::remove_file(&hook).unwrap();

    // A remote that another device pushes to every time just before this one: each push is
    // rejected as behind, and keyhelm fetches, merges and tries again, a few times.
    let busy = a.sb.dir().join("busy-receive-pack");
    script(
        &busy,
        "export GIT_DIR=\"$1\" GIT_AUTHOR_NAME=other GIT_AUTHOR_EMAIL=other@localhost \
         GIT_COMMITTER_NAME=other GIT_COMMITTER_EMAIL=other@localhost\n\
         tip=$(git rev-parse refs/heads/main)\n\
         next=$(git commit-tree -p \"$tip\" -m 'vault update' \"$tip^{tree}\")\n\
         git update-ref refs/heads/main \"$next\" \"$tip\"\n\
         exec git receive-pack \"$1\"\n",
    );
    a.git_in_vault(&[
        "config",
        "remote.origin.receivepack",
        busy.to_str().unwrap(),
    ]);
    a.store("three.example", "pw-3");
    assert_eq!(
        a.fails(&["sync"], 1),
        "keyhelm: error: the remote origin kept changing while keyhelm pushed (5 attempts)\n\
         keyhelm: hint: run `keyhelm sync` again\n"
    );
    assert_eq!(a.get("three.example").as_deref(), Some("pw-3"));
    a.git_in_vault(&["config", "--unset", "remote.origin.receivepack"]);
    assert_eq!(
        a.sync(),
        "Merged the changes from origin.\nPushed to origin.\n"
    );
    let (b, _) = join(&a, &remote);
    a.sync();
    b.sync();
    for host in ["one.example", "two.example", "three.example"] {
        assert!(b.get(host).is_some(), "{host}");
    }
}

#[test]
fn commands_without_an_identity_or_a_shared_vault() {
    let m = Machine::new();
    assert_eq!(
        m.fails(&["vault", "recipients", "list"], 5),
        "keyhelm: error: this device has no identity, and so no vault\nkeyhelm: hint: run \
         `keyhelm init` (or `keyhelm init --join REMOTE_OR_FOLDER`)\n"
    );
    let dir = m.sb.dir().join("merge");
    std::fs::create_dir(&dir).unwrap();
    let file = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    assert_eq!(
        m.fails(
            &[
                "vault",
                "merge-driver",
                &file("base"),
                &file("ours"),
                &file("theirs"),
                "vault.age"
            ],
            5
        ),
        "keyhelm: error: cannot merge the vault: this device has no identity\nkeyhelm: hint: \
         run `keyhelm init --join REMOTE` on this device first\n"
    );

    // A vault on this device only.
    m.init();
    let other = Machine::new();
    let key = other.init();
    assert_eq!(
        m.ok(&["vault", "recipients", "add", &key]),
        format!(
            "Added {key}.\nThe vault is now encrypted to 2 recipients. This vault is not shared \
             yet: see `keyhelm sync --init REMOTE` or `keyhelm init --join FOLDER`.\n"
        )
    );

    // Joining "." from a folder that was removed meanwhile.
    let gone = m.sb.dir().join("gone");
    std::fs::create_dir(&gone).unwrap();
    let out = support::run(
        m.sb.command("sh")
            .arg("-c")
            .arg("cd \"$1\" && rmdir \"$1\" && exec \"$2\" init --join .")
            .arg("sh")
            .arg(&gone)
            .arg(keyhelm_bin()),
        b"",
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        "keyhelm: error: cannot resolve the folder .: No such file or directory (os error 2)\n"
    );
}

#[test]
fn sync_waits_for_the_sync_running_on_this_device() {
    let m = Machine::new();
    m.init();
    std::fs::create_dir_all(m.state_dir()).unwrap();
    let lock = std::fs::File::create(m.state_dir().join("sync.lock")).unwrap();
    lock.lock().unwrap();
    let mut child =
        m.sb.keyhelm_command(&["sync"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "sync did not wait");
    drop(lock);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with("keyhelm: error: the vault "),
        "{}",
        text(&out.stderr)
    );
}

/// Makes `dir` refuse new files for as long as it lives: read-only, and, for root (whom
/// permissions do not stop), immutable (`chattr +i`). `None` where neither works.
struct Frozen {
    dir: PathBuf,
    immutable: bool,
}

impl Frozen {
    fn new(dir: &Path) -> Option<Frozen> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o500)).unwrap();
        let mut frozen = Frozen {
            dir: dir.to_path_buf(),
            immutable: false,
        };
        let probe = dir.join("probe");
        if std::fs::write(&probe, b"").is_ok() {
            std::fs::remove_file(&probe).unwrap();
            frozen.immutable = std::process::Command::new("chattr")
                .arg("+i")
                .arg(dir)
                .output()
                .is_ok_and(|o| o.status.success());
            if !frozen.immutable || std::fs::write(&probe, b"").is_ok() {
                return None;
            }
        }
        Some(frozen)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        if self.immutable {
            let _ = std::process::Command::new("chattr")
                .arg("-i")
                .arg(&self.dir)
                .output();
        }
        let _ = std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700));
    }
}

#[test]
#[allow(clippy::print_stdout)] // a skipped part prints why; the test harness shows it
fn errors_of_the_state_folder_are_reported() {
    let m = Machine::new();
    m.init();
    m.store("one.example", "pw-1");
    let state = m.state_dir();
    // Something else where a lock file belongs.
    let vault_lock = state.join("vault.lock");
    std::fs::remove_file(&vault_lock).unwrap();
    std::fs::create_dir(&vault_lock).unwrap();
    let out =
        m.sb.keyhelm(&["get"], b"protocol=https\nhost=one.example\n");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        format!(
            "keyhelm: error: cannot open the lock file {}: Is a directory (os error 21)\n",
            vault_lock.display()
        )
    );
    std::fs::remove_dir(&vault_lock).unwrap();
    assert_eq!(m.get("one.example").as_deref(), Some("pw-1"));
    let sync_lock = state.join("sync.lock");
    std::fs::create_dir(&sync_lock).unwrap();
    assert_eq!(
        m.fails(&["sync"], 1),
        format!(
            "keyhelm: error: cannot open {}: Is a directory (os error 21)\n",
            sync_lock.display()
        )
    );
    std::fs::remove_dir(&sync_lock).unwrap();

    // A state folder that takes no new file.
    let fingerprint = "ab".repeat(32);
    let Some(frozen) = Frozen::new(&state) else {
        println!("skipped: cannot make {} refuse new files", state.display());
        return;
    };
    let said = m.fails(&["vault", "trust", &fingerprint], 1);
    let prefix = format!(
        "keyhelm: error: cannot create a temporary file in {}: ",
        state.display()
    );
    // The reason, and the temporary file's name (tempfile adds it).
    let reason = said
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{said}"));
    let named = format!(" at path \"{}/.keyhelm-", state.display());
    assert!(
        [
            "Permission denied (os error 13)",
            "Operation not permitted (os error 1)"
        ]
        .iter()
        .any(|r| reason.starts_with(&format!("{r}{named}")))
            && reason.ends_with(".tmp\"\n"),
        "{said}"
    );
    drop(frozen);
    m.ok(&["vault", "trust", &fingerprint]);
    assert_eq!(m.get("one.example").as_deref(), Some("pw-1"));
}
