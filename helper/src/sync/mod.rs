//! One vault on several devices: recipients, joining, `keyhelm sync` through a git remote or a
//! shared folder, the git merge driver, and the background sync after writes.
//!
//! The vault library keeps each device's copy whole and genuine on every open (its shadow
//! copy, the conflict copies of a shared folder, and the check that a member wrote the file:
//! see `keyhelm_vault::Report` and docs/sync.md). This module adds what needs git or the
//! command line:
//!
//! - [`recipients`]: `keyhelm vault recipients list|add|remove`, `keyhelm vault trust`;
//! - [`join`]: `keyhelm init --join REMOTE_OR_FOLDER` (and `--ssh-key`);
//! - [`git`]: the vault folder as a git repository, and `keyhelm sync [--init REMOTE]`;
//! - [`driver`]: `keyhelm vault merge-driver %O %A %B %P`, which git runs on a conflict;
//! - [`auto`]: `[sync] auto = true`, a detached `keyhelm sync` after each write.

pub mod auto;
pub mod driver;
pub mod git;
pub mod join;
pub mod recipients;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use keyhelm_vault::{Report, Vault};

use crate::ctx::Ctx;
use crate::error::{Failure, Result};

/// How this device's vault is shared with others.
#[derive(Debug)]
pub enum Sharing {
    /// The vault folder is a git repository (`keyhelm sync` pulls, merges and pushes).
    Git(git::Repo),
    /// The vault lives in a folder a sync tool shares (`vault.path` in config.toml).
    Folder,
    /// Not shared.
    Alone,
}

/// How the vault at `file` is shared (`configured`: `vault.path` is set).
pub fn sharing_of(file: &Path, configured: bool, batch: bool) -> Sharing {
    let dir = folder_of(file);
    if git::is_repo_root(dir) {
        Sharing::Git(git::Repo::new(dir, batch))
    } else if configured {
        Sharing::Folder
    } else {
        Sharing::Alone
    }
}

fn sharing(ctx: &Ctx, batch: bool) -> Result<Sharing> {
    let file = ctx.vault_file()?;
    Ok(sharing_of(&file, ctx.config()?.vault.path.is_some(), batch))
}

/// The folder of the vault file.
pub fn folder_of(file: &Path) -> &Path {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// What `keyhelm sync` was asked.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Set up syncing through this git remote first.
    pub init: Option<String>,
    /// A background sync (`[sync] auto`).
    pub auto: bool,
}

/// `keyhelm sync`.
pub fn run(ctx: &Ctx, options: Options, output: &mut impl Write) -> Result<()> {
    if options.auto {
        return auto::run(ctx);
    }
    let vault = vault(ctx)?;
    // A background sync that holds the lock is waited for.
    let _lock = wait_for_sync_lock(ctx)?;
    if let Some(remote) = &options.init {
        init(ctx, &vault, remote)?;
    }
    let text = sync_once(ctx, &vault, false)?;
    crate::out::write_all(output, text.as_bytes())?;
    Ok(())
}

/// One sync, described for a person.
fn sync_once(ctx: &Ctx, vault: &Vault, batch: bool) -> Result<String> {
    match sharing(ctx, batch)? {
        Sharing::Git(repo) => {
            let exe = exe(ctx)?;
            let outcome = git::sync(&repo, vault, &exe)?;
            Ok(describe_git(&outcome))
        }
        Sharing::Folder => {
            let report = vault.sync_local()?;
            let mut text = describe(&report);
            if text.is_empty() {
                text = "Nothing to do: the vault is up to date, and there is no conflict copy \
                        next to it.\n"
                    .to_owned();
            }
            Ok(text)
        }
        Sharing::Alone => Err(Failure::other(format!(
            "the vault {} is not shared: its folder is not a git repository, and vault.path is \
             not set",
            vault.location().file.display()
        ))
        .hint(
            "`keyhelm sync --init REMOTE` syncs it through a git remote; `keyhelm init --join \
             FOLDER` moves it into a shared folder",
        )),
    }
}

/// `keyhelm sync --init REMOTE`: the vault folder becomes a git repository whose `origin` is
/// REMOTE, with keyhelm's merge driver, `.gitattributes` and `.gitignore`.
fn init(ctx: &Ctx, vault: &Vault, remote: &str) -> Result<()> {
    let remote = join::normalize_remote(remote)?;
    let dir = folder_of(&vault.location().file).to_path_buf();
    let repo = git::Repo::new(&dir, false);
    if !git::is_repo_root(&dir) {
        repo.init()?;
    }
    match repo.remote_url(git::REMOTE)? {
        None => repo.add_remote(git::REMOTE, &remote)?,
        Some(url) if url == remote => {}
        Some(url) => {
            return Err(Failure::usage(format!(
                "the vault folder {} already syncs with {url}",
                dir.display()
            ))
            .hint(format!(
                "to sync with another remote, run `git -C {} remote set-url {} REMOTE`",
                git::shell_quote(&dir.to_string_lossy()),
                git::REMOTE
            )));
        }
    }
    repo.set_up_driver(&exe(ctx)?)?;
    repo.write_attributes(&git::vault_file_name(vault)?)?;
    Ok(())
}

/// The vault handle, without the background-sync hook (a sync pushes its own writes); a device
/// without an identity has nothing to sync.
fn vault(ctx: &Ctx) -> Result<Vault> {
    let identity = ctx.identity()?.ok_or_else(|| {
        Failure::new(
            crate::error::Exit::Identity,
            "this device has no identity yet, so it has no vault to sync",
        )
        .hint("run `keyhelm init` (or `keyhelm init --join REMOTE_OR_FOLDER`)")
    })?;
    let device = keyhelm_vault::DeviceId::load_or_create(&ctx.paths.state_dir)?;
    Ok(Vault::new(ctx.location()?, identity, device))
}

/// The path of the running keyhelm, for git's configuration.
fn exe(ctx: &Ctx) -> Result<PathBuf> {
    ctx.env
        .current_exe
        .clone()
        .ok_or_else(|| Failure::other("the path of the keyhelm program is unknown"))
}

/// The sync lock (`<state>/sync.lock`): one sync at a time per device. Waits until it is
/// free.
fn wait_for_sync_lock(ctx: &Ctx) -> Result<File> {
    let (file, path) = open_sync_lock(ctx)?;
    file.lock()
        .map_err(|e| Failure::io("cannot lock", &path, &e))?;
    Ok(file)
}

/// The sync lock if it is free; `None` when another sync holds it.
fn try_sync_lock(ctx: &Ctx) -> Result<Option<File>> {
    let (file, path) = open_sync_lock(ctx)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(Failure::io("cannot lock", &path, &e)),
    }
}

fn open_sync_lock(ctx: &Ctx) -> Result<(File, PathBuf)> {
    use std::os::unix::fs::OpenOptionsExt;
    let state = &ctx.paths.state_dir;
    crate::paths::create_private_dir(state)?;
    let path = state.join("sync.lock");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| Failure::io("cannot open", &path, &e))?;
    Ok((file, path))
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// What bringing the local vault file up to date did, one sentence per fact.
pub fn describe(report: &Report) -> String {
    let mut text = String::new();
    if report.restored {
        text.push_str(
            "Wrote back updates made on this device that the vault file had lost (from this \
             device's shadow copy).\n",
        );
    }
    if report.superseded {
        text.push_str(
            "The vault file was written by a device that had not seen the latest removal of a \
             recipient (or by the removed device): replaced it with this device's version. That \
             device's own updates come back when it syncs.\n",
        );
    }
    if !report.merged.is_empty() {
        let names: Vec<String> = report
            .merged
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        text.push_str(&format!(
            "Merged and removed {}: {}\n",
            plural(report.merged.len(), "conflict copy", "conflict copies"),
            names.join(", ")
        ));
    }
    for (path, error) in &report.ignored {
        text.push_str(&format!("Left {} in place: {error}\n", path.display()));
    }
    text
}

fn describe_git(outcome: &git::Outcome) -> String {
    let mut text: String = outcome.local.iter().map(describe).collect();
    if outcome.kept_ours {
        text.push_str(&format!(
            "{} held a version written by a device that had not seen the latest removal of a \
             recipient (or by the removed device): kept this device's version. That device's \
             own updates come back when it syncs.\n",
            git::REMOTE
        ));
    }
    if outcome.no_vault {
        // Whatever went back and forth was only keyhelm's git settings.
        text.push_str(&format!(
            "{} has no vault yet, and neither has this device: the first `keyhelm store` (or \
             `keyhelm init`) here creates one, and `keyhelm sync` pushes it.\n",
            git::REMOTE
        ));
        return text;
    }
    if outcome.pulled {
        text.push_str(&format!("Merged the changes from {}.\n", git::REMOTE));
    }
    if outcome.pushed {
        text.push_str(&format!("Pushed to {}.\n", git::REMOTE));
    }
    if !outcome.pulled && !outcome.pushed {
        text.push_str(&format!("Up to date with {}.\n", git::REMOTE));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions() {
        assert_eq!(describe(&Report::default()), "");
        let mut report = Report::default();
        report.restored = true;
        report.superseded = true;
        report.merged = vec!["/s/vault.sync-conflict-1-A.age".into(), "/s/b.age".into()];
        report.ignored = vec![(
            "/s/vault.sync-conflict-2-B.age".into(),
            keyhelm_vault::Error::NotAMember {
                path: "/s/vault.sync-conflict-2-B.age".into(),
            },
        )];
        assert_eq!(
            describe(&report),
            "Wrote back updates made on this device that the vault file had lost (from this \
             device's shadow copy).\nThe vault file was written by a device that had not seen \
             the latest removal of a recipient (or by the removed device): replaced it with \
             this device's version. That device's own updates come back when it syncs.\nMerged \
             and removed 2 conflict copies: /s/vault.sync-conflict-1-A.age, /s/b.age\nLeft \
             /s/vault.sync-conflict-2-B.age in place: the vault \
             /s/vault.sync-conflict-2-B.age was not written by a member of this vault: it does \
             not carry the vault secret this device trusts\n"
        );
        let outcome = git::Outcome::default();
        assert_eq!(describe_git(&outcome), "Up to date with origin.\n");
        let outcome = git::Outcome {
            pulled: true,
            pushed: true,
            kept_ours: true,
            ..Default::default()
        };
        assert_eq!(
            describe_git(&outcome),
            "origin held a version written by a device that had not seen the latest removal of \
             a recipient (or by the removed device): kept this device's version. That device's \
             own updates come back when it syncs.\nMerged the changes from origin.\nPushed to \
             origin.\n"
        );
        let outcome = git::Outcome {
            no_vault: true,
            pushed: true,
            ..Default::default()
        };
        assert_eq!(
            describe_git(&outcome),
            "origin has no vault yet, and neither has this device: the first `keyhelm store` (or \
             `keyhelm init`) here creates one, and `keyhelm sync` pushes it.\n"
        );
        assert_eq!(plural(1, "copy", "copies"), "1 copy");
        assert_eq!(plural(2, "copy", "copies"), "2 copies");
    }

    #[test]
    fn sharing_is_told_by_the_folder_and_the_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("vault.age");
        assert!(matches!(sharing_of(&file, false, false), Sharing::Alone));
        assert!(matches!(sharing_of(&file, true, false), Sharing::Folder));
        std::fs::create_dir(dir.path().join(".git")).unwrap();
        assert!(matches!(sharing_of(&file, true, false), Sharing::Git(_)));
    }
}
