//! `keyhelm init --join REMOTE_OR_FOLDER` and `keyhelm init --ssh-key PATH`.
//!
//! Joining puts this device's vault where the others' is, then does what `keyhelm init` does
//! (creates the identity if there is none, prints its key, says whether the vault opens):
//!
//! - a **git remote** (a URL, or the path of a repository): the vault folder becomes a clone
//!   of it, with keyhelm's merge driver configured;
//! - a **shared folder** (any other folder): `vault.path` in config.toml points into it. If
//!   this device has a vault and the folder has none, this device's vault is copied there
//!   (the first device of a shared folder).
//!
//! Either way, what this device trusted before is forgotten: the first vault it opens from
//! the joined place is the one it trusts (compare the fingerprints that `keyhelm vault
//! recipients list` shows on both devices to be sure).

use std::io::Write;
use std::path::{Path, PathBuf};

use keyhelm_vault::Identity;

use crate::ctx::Ctx;
use crate::error::{Exit, Failure, Result};
use crate::sync::git;

/// Where a device joins.
#[derive(Debug, PartialEq, Eq)]
pub enum Source {
    /// A folder shared by a sync tool (absolute).
    Folder(PathBuf),
    /// A git remote (a URL, or the absolute path of a repository).
    Git(String),
}

/// Tells a git remote from a shared folder: an existing folder is a remote if it is a git
/// repository (bare or not), a shared folder otherwise; anything else must look like a URL
/// (`scheme://...`, or scp-like `host:path`).
pub fn classify(source: &str) -> Result<Source> {
    let path = Path::new(source);
    if path.is_dir() {
        let absolute = std::fs::canonicalize(path)
            .map_err(|e| Failure::io("cannot resolve the folder", path, &e))?;
        return Ok(if git::is_repository(&absolute) {
            Source::Git(absolute.to_string_lossy().into_owned())
        } else {
            Source::Folder(absolute)
        });
    }
    if looks_like_url(source) {
        return Ok(Source::Git(source.to_owned()));
    }
    Err(
        Failure::usage(format!("{source} is neither a folder nor a git remote URL")).hint(
            "give a shared folder that exists on this device, a git URL (https://..., ssh://..., \
         host:path), or the path of a git repository",
        ),
    )
}

fn looks_like_url(s: &str) -> bool {
    if s.contains("://") {
        return true;
    }
    // scp-like `[user@]host:path`: a colon before any slash.
    match (s.find(':'), s.find('/')) {
        (Some(colon), slash) => colon > 0 && slash.is_none_or(|slash| colon < slash),
        _ => false,
    }
}

/// A remote as git's configuration should hold it: a local repository's absolute path, or a
/// URL as given.
pub fn normalize_remote(remote: &str) -> Result<String> {
    match classify(remote)? {
        Source::Git(remote) => Ok(remote),
        Source::Folder(folder) => Err(Failure::usage(format!(
            "{} is a folder, not a git repository",
            folder.display()
        ))
        .hint(
            "create a repository there first (`git init --bare FOLDER`), or share the folder \
             with a sync tool and run `keyhelm init --join FOLDER`",
        )),
    }
}

/// `keyhelm init --join SOURCE`.
pub fn run(
    ctx: &Ctx,
    source: &str,
    options: crate::cmd::init::Options,
    output: &mut impl Write,
    err: &mut impl Write,
) -> Result<()> {
    let mut notes = Vec::new();
    match classify(source)? {
        Source::Folder(folder) => join_folder(ctx, &folder, &mut notes)?,
        Source::Git(remote) => join_git(ctx, &remote, &mut notes)?,
    }
    // The configuration may have changed: a fresh context reads it again.
    let ctx = Ctx::new(ctx.env.clone())?;
    // The vault found there is trusted on first use.
    ctx.location()?.forget_trust()?;
    for note in notes {
        let _ = writeln!(err, "keyhelm: {note}");
    }
    crate::cmd::init::run(&ctx, options, output, err)
}

fn join_git(ctx: &Ctx, remote: &str, notes: &mut Vec<String>) -> Result<()> {
    let file = ctx.vault_file()?;
    let dir = super::folder_of(&file).to_path_buf();
    let repo = git::Repo::new(&dir, false);
    if git::is_repo_root(&dir) {
        match repo.remote_url(git::REMOTE)? {
            Some(url) if url == remote => {
                notes.push(format!(
                    "the vault folder {} is already a clone of {remote}",
                    dir.display()
                ));
            }
            other => {
                return Err(Failure::usage(format!(
                    "the vault folder {} is already a git repository ({})",
                    dir.display(),
                    other.map_or_else(|| "without a remote".to_owned(), |u| format!("of {u}"))
                ))
                .hint("move it away to join another remote"));
            }
        }
    } else {
        if file.exists() {
            return Err(Failure::usage(format!(
                "this device already has a vault at {}",
                file.display()
            ))
            .hint(format!(
                "to sync it with the remote (it must be the same vault), run `keyhelm sync \
                 --init {}`; to use the remote's vault instead, move {} away first",
                git::shell_quote(remote),
                dir.display()
            )));
        }
        if std::fs::read_dir(&dir).is_ok_and(|mut entries| entries.next().is_some()) {
            return Err(
                Failure::usage(format!("the vault folder {} is not empty", dir.display()))
                    .hint("move its files away, or set another vault.path in config.toml"),
            );
        }
        repo.clone_from(remote)?;
        notes.push(format!(
            "cloned {remote} into {}; `keyhelm sync` keeps it in step",
            dir.display()
        ));
    }
    let exe = ctx
        .env
        .current_exe
        .clone()
        .ok_or_else(|| Failure::other("the path of the keyhelm program is unknown"))?;
    repo.set_up_driver(&exe)?;
    Ok(())
}

fn join_folder(ctx: &Ctx, folder: &Path, notes: &mut Vec<String>) -> Result<()> {
    let current = ctx.vault_file()?;
    let name = current
        .file_name()
        .map_or_else(|| "vault.age".into(), |n| n.to_os_string());
    let target = folder.join(name);
    if current == target {
        notes.push(format!("the vault is already {}", target.display()));
        return Ok(());
    }
    let config_file = ctx.paths.config_file();
    let mut config = ctx.config()?.clone();
    if !target.exists() && current.exists() {
        // The first device of a shared folder brings its vault along.
        let bytes =
            std::fs::read(&current).map_err(|e| Failure::io("cannot read", &current, &e))?;
        crate::fsutil::write_private_atomic(&target, &bytes)?;
        notes.push(format!(
            "copied this device's vault into {} (the old file {} is no longer used)",
            folder.display(),
            current.display()
        ));
    } else if target.exists() && current.exists() {
        notes.push(format!(
            "this device's previous vault {} is no longer used (a vault of its own: its entries \
             are not merged into the shared one)",
            current.display()
        ));
    }
    config.vault.path = Some(target.clone());
    config.save(&config_file)?;
    notes.push(format!(
        "vault.path in {} is now {}",
        config_file.display(),
        target.display()
    ));
    Ok(())
}

/// `keyhelm init --ssh-key PATH`: this device's identity file becomes a link to an OpenSSH
/// ed25519 private key (checked to be private and without a passphrase).
pub fn use_ssh_key(ctx: &Ctx, key: &Path) -> Result<()> {
    let key = std::path::absolute(key).map_err(|e| Failure::io("cannot resolve", key, &e))?;
    let meta = std::fs::metadata(&key).map_err(|e| Failure::io("cannot read", &key, &e))?;
    crate::ctx::check_private_file(&key, &meta)?;
    let identity = Identity::from_file(&key)?;
    if !identity.public().starts_with("ssh-") {
        return Err(
            Failure::usage(format!("{} is not an OpenSSH private key", key.display()))
                .hint("give the private half of an ssh-ed25519 key, e.g. ~/.ssh/id_ed25519"),
        );
    }
    let identity_file = ctx.paths.identity_file();
    match std::fs::symlink_metadata(&identity_file) {
        Ok(_) if std::fs::read_link(&identity_file).is_ok_and(|target| target == key) => Ok(()),
        Ok(_) => Err(Failure::new(
            Exit::Identity,
            format!(
                "this device already has an identity in {}",
                identity_file.display()
            ),
        )
        .hint("a device has one identity; move the file away first to use the SSH key")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            crate::paths::create_private_dir(&ctx.paths.config_dir)?;
            std::os::unix::fs::symlink(&key, &identity_file)
                .map_err(|e| Failure::io("cannot create", &identity_file, &e))
        }
        Err(e) => Err(Failure::io("cannot read", &identity_file, &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources() {
        let dir = tempfile::tempdir().unwrap();
        let folder = std::fs::canonicalize(dir.path()).unwrap();
        assert_eq!(
            classify(dir.path().to_str().unwrap()).unwrap(),
            Source::Folder(folder.clone())
        );
        let bare = folder.join("remote.git");
        let out = std::process::Command::new("git")
            .args(["init", "--quiet", "--bare"])
            .arg(&bare)
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(
            classify(bare.to_str().unwrap()).unwrap(),
            Source::Git(bare.to_string_lossy().into_owned())
        );
        for url in [
            "https://git.example.com/me/vault.git",
            "ssh://git@example.com/vault.git",
            "git@example.com:me/vault.git",
            "file:///srv/vault.git",
        ] {
            assert_eq!(classify(url).unwrap(), Source::Git(url.to_owned()), "{url}");
        }
        for bad in ["/no/such/folder", "relative/missing", "C"] {
            let f = classify(bad).unwrap_err();
            assert_eq!(f.exit, Exit::Usage);
            assert_eq!(
                f.message,
                format!("{bad} is neither a folder nor a git remote URL")
            );
        }
        let f = normalize_remote(dir.path().to_str().unwrap()).unwrap_err();
        assert!(f.message.ends_with("is a folder, not a git repository"));
    }
}
