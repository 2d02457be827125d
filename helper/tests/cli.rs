//! The human commands: init, list, setup git, doctor, help and version.

mod support;

use support::{Sandbox, keyhelm_bin, text};

#[test]
fn init_creates_identity_and_vault_and_prints_the_public_key() {
    let s = Sandbox::new();
    let out = s.keyhelm(&["init"], b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let key = text(&out.stdout);
    assert!(
        key.starts_with("age1") && key.ends_with('\n') && key.lines().count() == 1,
        "{key}"
    );
    assert_eq!(
        text(&out.stderr),
        format!(
            "keyhelm: created this device's identity in {}\n\
             keyhelm: created an empty vault in {}\n\
             keyhelm: this device's public key:\n",
            s.keyhelm_home().join("identity.txt").display(),
            s.vault_file().display()
        )
    );
    assert_eq!(support::mode(&s.keyhelm_home().join("identity.txt")), 0o600);
    assert_eq!(support::mode(&s.vault_file()), 0o600);
    assert_eq!(support::mode(&s.keyhelm_home()), 0o700);
    let identity = std::fs::read_to_string(s.keyhelm_home().join("identity.txt")).unwrap();
    assert!(
        identity.contains(&format!("# public key: {}", key.trim())),
        "{identity}"
    );

    // A second init changes nothing and prints the same key.
    let vault = s.vault_bytes();
    let again = s.keyhelm(&["init"], b"");
    assert!(again.status.success());
    assert_eq!(text(&again.stdout), key);
    assert_eq!(
        text(&again.stderr),
        format!(
            "keyhelm: this device already has an identity in {}\n\
             keyhelm: the vault {} opens on this device\n\
             keyhelm: this device's public key:\n",
            s.keyhelm_home().join("identity.txt").display(),
            s.vault_file().display()
        )
    );
    assert_eq!(s.vault_bytes(), vault);
}

#[test]
fn list_shows_entries_but_never_secrets() {
    let s = Sandbox::new();
    let empty = s.keyhelm(&["list"], b"");
    assert!(empty.status.success());
    assert_eq!(text(&empty.stdout), "No stored credentials.\n");
    s.approve("protocol=https\nhost=a.tld\nusername=alice\npassword=TOPSECRET1\n");
    s.approve(
        "protocol=https\nhost=b.tld:8443\nusername=bob\npassword=TOPSECRET2\n\
         password_expiry_utc=4102444800\noauth_refresh_token=TOPSECRET3\n",
    );
    s.approve("capability[]=authtype\nprotocol=https\nhost=c.tld\nauthtype=Bearer\ncredential=TOPSECRET4\n");
    let out = s.keyhelm(&["list"], b"");
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout),
        "https://alice@a.tld\n\
         https://bob@b.tld:8443  (expires 2100-01-01 00:00:00 UTC, refresh token)\n\
         https://c.tld  (Bearer credential)\n"
    );
    let json = s.keyhelm(&["list", "--json"], b"");
    let all = text(&json.stdout) + &text(&out.stdout);
    assert!(!all.contains("TOPSECRET"), "{all}");
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let bob = &v["credentials"][1];
    assert_eq!(bob["host"], "b.tld:8443");
    assert_eq!(bob["username"], "bob");
    assert_eq!(bob["has_password"], true);
    assert_eq!(bob["has_refresh_token"], true);
    assert_eq!(bob["password_expiry_utc"], 4102444800u64);
    assert_eq!(v["credentials"][2]["username"], serde_json::Value::Null);
}

#[test]
fn setup_git_adds_keyhelm_once_and_keeps_other_helpers() {
    let s = Sandbox::new();
    std::fs::write(
        s.home().join(".gitconfig"),
        "[credential]\n\thelper = cache\n",
    )
    .unwrap();
    let out = s.keyhelm(&["setup", "git"], b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let note = "Note: git asks these helpers before keyhelm: 'cache'. Remove them with `git \
                config --global --unset-all credential.helper <value>` if keyhelm should answer \
                first.\n";
    assert_eq!(
        text(&out.stdout),
        format!("Added keyhelm to git's --global credential.helper list.\n{note}")
    );
    let helpers = s.git(
        &["config", "--global", "--get-all", "credential.helper"],
        b"",
    );
    let exe = keyhelm_bin().canonicalize().unwrap();
    assert_eq!(text(&helpers.stdout), format!("cache\n{}\n", exe.display()));

    let again = s.keyhelm(&["setup", "git"], b"");
    assert_eq!(
        text(&again.stdout),
        format!("git already uses keyhelm (--global credential.helper).\n{note}")
    );
    let helpers = s.git(
        &["config", "--global", "--get-all", "credential.helper"],
        b"",
    );
    assert_eq!(text(&helpers.stdout).lines().count(), 2);

    // And git really uses it.
    std::fs::write(s.home().join(".gitconfig"), "").unwrap();
    s.keyhelm(&["setup", "git"], b"");
    s.approve("protocol=https\nhost=setup.tld\nusername=u\npassword=p\n");
    assert!(
        s.fill("protocol=https\nhost=setup.tld\n")
            .unwrap()
            .contains("password=p")
    );
}

/// A global git configuration git cannot read, or cannot write, stops `setup git` with
/// git's own reason and a hint; nothing is written.
#[test]
fn setup_git_reports_a_git_configuration_it_cannot_use() {
    let s = Sandbox::new();
    let gitconfig = s.home().join(".gitconfig");
    std::fs::write(&gitconfig, "[credential\n").unwrap();
    let broken = s.keyhelm(&["setup", "git"], b"");
    assert_eq!(broken.status.code(), Some(1));
    assert_eq!(
        text(&broken.stderr),
        format!(
            "keyhelm: error: `git config --global --get-all credential.helper` failed: fatal: \
             bad config line 1 in file {}\n\
             keyhelm: hint: fix the git configuration file that git names, then try again\n",
            gitconfig.display()
        )
    );
    // doctor says what git says (git refuses to run at all with a broken configuration).
    let report = text(&s.keyhelm(&["doctor"], b"").stdout);
    assert!(
        report.contains(&format!(
            "warn  git       `git --version` failed: fatal: bad config line 1 in file {}\n\
             {:16}hint: fix what git reports, then run `keyhelm doctor` again\n",
            gitconfig.display(),
            ""
        )),
        "{report}"
    );

    // In a repository whose .git/config is broken, only the helper list cannot be read.
    std::fs::write(&gitconfig, "").unwrap();
    assert!(s.git(&["init", "-q", "repo"], b"").status.success());
    let repo = s.env.work_dir().join("repo");
    std::fs::write(repo.join(".git/config"), "[core\n").unwrap();
    let out = support::run(s.keyhelm_command(&["doctor"]).current_dir(&repo), b"");
    let report = text(&out.stdout);
    assert!(
        report.contains(&format!(
            "warn  git       `git config --get-all credential.helper` failed: fatal: bad config \
             line 1 in file .git/config\n{:16}hint: fix the git configuration file that git \
             names, then try again\n",
            ""
        )),
        "{report}"
    );

    std::fs::write(s.home().join(".gitconfig.lock"), "").unwrap();
    let locked = s.keyhelm(&["setup", "git"], b"");
    assert_eq!(locked.status.code(), Some(1));
    assert!(
        text(&locked.stderr).ends_with(
            "keyhelm: error: `git config --global --add credential.helper` failed (exit status: \
             255)\n\
             keyhelm: hint: check that your global git configuration file is writable\n"
        ),
        "{}",
        text(&locked.stderr)
    );
    assert_eq!(std::fs::read_to_string(&gitconfig).unwrap(), "");
}

#[test]
fn setup_git_local_configures_one_repository() {
    let s = Sandbox::new();
    std::fs::write(s.home().join(".gitconfig"), "").unwrap();
    let outside = s.keyhelm(&["setup", "git", "--local"], b"");
    assert_eq!(outside.status.code(), Some(1));
    assert_eq!(
        text(&outside.stderr),
        "keyhelm: error: `git config --local --get-all credential.helper` failed: fatal: \
         --local can only be used inside a git repository\n\
         keyhelm: hint: run it inside a git repository, or drop --local to configure git \
         globally\n"
    );

    assert!(s.git(&["init", "-q", "repo"], b"").status.success());
    let setup_local = || {
        s.command(keyhelm_bin())
            .args(["setup", "git", "--local"])
            .current_dir(s.env.work_dir().join("repo"))
            .output()
            .unwrap()
    };
    // Another git holds the repository's config: nothing is written, and keyhelm says where.
    let lock = s.env.work_dir().join("repo/.git/config.lock");
    std::fs::write(&lock, "").unwrap();
    let locked = setup_local();
    assert_eq!(locked.status.code(), Some(1));
    assert!(
        text(&locked.stderr).ends_with(
            "keyhelm: error: `git config --local --add credential.helper` failed (exit status: \
             255)\n\
             keyhelm: hint: check that this repository's git configuration file (.git/config) is \
             writable\n"
        ),
        "{}",
        text(&locked.stderr)
    );
    std::fs::remove_file(&lock).unwrap();
    let out = setup_local();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let config = std::fs::read_to_string(s.env.work_dir().join("repo/.git/config")).unwrap();
    assert!(config.contains("helper = "), "{config}");
    let global = s.git(
        &["config", "--global", "--get-all", "credential.helper"],
        b"",
    );
    assert_eq!(text(&global.stdout), "");
}

#[test]
fn doctor_reports_what_is_set_up_and_what_to_do() {
    let s = Sandbox::new();
    std::fs::write(s.home().join(".gitconfig"), "").unwrap();
    let out = s.keyhelm(&["doctor"], b"");
    assert!(out.status.success(), "warnings only: {}", text(&out.stdout));
    let report = text(&out.stdout);
    assert!(
        report.contains(
            "warn  identity  this device has no identity yet\n                \
             hint: run `keyhelm init` (the first `keyhelm store` also creates one)\n"
        ),
        "{report}"
    );
    assert!(
        report.contains("warn  git       credential.helper does not use this keyhelm"),
        "{report}"
    );
    assert!(report.contains("hint: run `keyhelm setup git`"), "{report}");

    s.keyhelm(&["init"], b"");
    s.keyhelm(&["setup", "git"], b"");
    s.approve("protocol=https\nhost=d.tld\nusername=u\npassword=p\n");
    let out = s.keyhelm(&["doctor"], b"");
    let report = text(&out.stdout);
    assert!(out.status.success(), "{report}");
    assert!(report.contains("ok    identity  "), "{report}");
    assert!(report.contains("opens: 1 stored credential\n"), "{report}");
    assert!(
        report.contains("ok    git       credential.helper uses keyhelm"),
        "{report}"
    );
}

/// `keyhelm doctor` on the git it finds on PATH: none, an old one, one it cannot read, and one
/// that asks other helpers first. The fake `git` answers `--version` and runs the real git
/// for everything else.
#[test]
fn doctor_reports_the_git_on_path() {
    let s = Sandbox::new();
    s.write_gitconfig("");
    s.keyhelm(&["init"], b"");
    let path = s.env.var("PATH").unwrap().to_owned();
    let real_git = std::env::split_paths(&path)
        .map(|dir| dir.join("git"))
        .find(|git| git.is_file())
        .unwrap();
    let fake = s.dir().join("fake-git");
    std::fs::create_dir(&fake).unwrap();
    std::fs::write(
        fake.join("git"),
        format!(
            "#!/bin/sh\nif [ \"$1\" = --version ]; then echo \"$FAKE_GIT_VERSION\"; exit 0; fi\n\
             exec '{}' \"$@\"\n",
            real_git.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(fake.join("git"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut fake_path = std::ffi::OsString::from(&fake);
    fake_path.push(":");
    fake_path.push(&path);
    let no_git = s.dir().join("no-git");
    std::fs::create_dir(&no_git).unwrap();

    let hint = |h: &str| format!("{:16}hint: {h}\n", "");
    let cases = [
        (
            no_git.into_os_string(),
            "",
            format!(
                "warn  git       git is not installed or does not run\n{}",
                hint("install git 2.46 or newer if git should use keyhelm")
            ),
        ),
        (
            fake_path.clone(),
            "git version 2.39.5",
            format!(
                "warn  git       git version 2.39.5: Bearer tokens need git 2.46 or newer\n{}",
                hint("upgrade git; until then tokens are sent as Basic passwords")
            ),
        ),
        (
            fake_path.clone(),
            "git version next",
            format!(
                "warn  git       unrecognised version: git version next\n{}",
                hint("Bearer tokens need git 2.46 or newer; check what `git --version` runs")
            ),
        ),
    ];
    for (path, version, lines) in cases {
        let out = support::run(
            s.keyhelm_command(&["doctor"])
                .env("PATH", &path)
                .env("FAKE_GIT_VERSION", version),
            b"",
        );
        assert!(out.status.success(), "{version}: {}", text(&out.stderr));
        let report = text(&out.stdout);
        assert!(report.contains(&lines), "{version}: {report}");
    }

    s.write_gitconfig("[credential]\n\thelper = cache\n");
    s.keyhelm(&["setup", "git"], b"");
    let report = text(&s.keyhelm(&["doctor"], b"").stdout);
    assert!(
        report.contains(&format!(
            "warn  git       credential.helper uses keyhelm after cache\n{}",
            hint("git asks those helpers first; remove them if keyhelm should answer")
        )),
        "{report}"
    );
}

#[test]
fn help_and_version_go_to_stdout_and_bad_usage_is_exit_2() {
    let s = Sandbox::new();
    let help = s.keyhelm(&["--help"], b"");
    assert!(help.status.success());
    let help = text(&help.stdout);
    for line in [
        "Usage: keyhelm <COMMAND>",
        "get         git credential helper: answer a lookup read from stdin",
        "init        Create this device's identity and an empty vault",
        "doctor      Check keyhelm's files and each tool's configuration",
    ] {
        assert!(help.contains(line), "missing {line:?} in:\n{help}");
    }
    assert!(
        help.ends_with(
            "\nSet-up: `keyhelm setup git` (or docker, cargo, kubectl). Problems: `keyhelm \
             doctor`. Files:\nKEYHELM_HOME moves every file keyhelm uses.\n"
        ),
        "{help}"
    );
    let version = s.keyhelm(&["--version"], b"");
    assert_eq!(
        text(&version.stdout),
        format!("keyhelm {}\n", env!("CARGO_PKG_VERSION"))
    );

    let bad = s.keyhelm(&["list", "--jsn"], b"");
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("unexpected argument '--jsn'"),
        "{}",
        text(&bad.stderr)
    );
    assert_eq!(text(&bad.stdout), "");
}
