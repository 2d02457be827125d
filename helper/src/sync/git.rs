//! The vault folder as a git repository: running git, setting up the merge driver, and
//! `keyhelm sync`'s pull, merge, commit and push.
//!
//! git is always run with an argument vector (never through a shell), in the vault folder
//! (`git -C <folder>`), with stdin closed. Only the merge driver's command line goes through a
//! shell (git runs it so): keyhelm's path in it is quoted (see [`driver_command`]).

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use keyhelm_vault::{Admission, Report, Vault};

use crate::error::{Exit, Failure, Result};

/// The merge driver's name in `.gitattributes` and git's configuration.
pub const DRIVER: &str = "keyhelm-vault";
/// The message of every commit keyhelm makes: nothing about what changed.
pub const COMMIT_MESSAGE: &str = "vault update";
/// The remote keyhelm syncs with.
pub const REMOTE: &str = "origin";
/// How many times a push rejected because the remote moved on is retried (fetch, merge, push).
const PUSH_ATTEMPTS: usize = 5;

/// A git repository whose top folder holds the vault file.
#[derive(Debug, Clone)]
pub struct Repo {
    dir: PathBuf,
    /// No prompts: a background sync has nobody to ask.
    batch: bool,
}

/// Whether `dir` is the top folder of a git work tree (has its own `.git`).
pub fn is_repo_root(dir: &Path) -> bool {
    dir.join(".git").exists()
}

/// Whether `path` is a git repository, bare or not (for telling a remote from a shared
/// folder).
pub fn is_repository(path: &Path) -> bool {
    if is_repo_root(path) {
        return true;
    }
    // A bare repository: HEAD, objects/ and refs/ at its top.
    path.join("HEAD").is_file() && path.join("objects").is_dir() && path.join("refs").is_dir()
}

/// `'text'` for a POSIX shell: single quotes, and each `'` as `'\''`.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The merge driver's command line, as git's configuration holds it (run by a shell).
pub fn driver_command(exe: &Path) -> String {
    format!(
        "{} vault merge-driver %O %A %B %P",
        shell_quote(&exe.to_string_lossy())
    )
}

/// The `.gitattributes` line that sends the vault file to the merge driver, and keeps git from
/// diffing it (it is binary and encrypted).
pub fn attributes_line(file_name: &str) -> String {
    format!("{file_name} merge={DRIVER} -diff")
}

/// The `.gitignore` lines: keyhelm's temporary files in the vault folder.
pub fn ignore_lines(file_name: &str) -> Vec<String> {
    vec![
        "# keyhelm: writes in progress".to_owned(),
        format!(".{file_name}.*.tmp"),
    ]
}

impl Repo {
    pub fn new(dir: &Path, batch: bool) -> Repo {
        Repo {
            dir: dir.to_path_buf(),
            batch,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new("git");
        cmd.arg("-C").arg(&self.dir).stdin(Stdio::null());
        if self.batch {
            cmd.env("GIT_TERMINAL_PROMPT", "0");
        }
        cmd
    }

    /// Runs git with `args`; its output whatever the status.
    fn output<S: AsRef<OsStr>>(&self, args: &[S]) -> Result<Output> {
        self.command()
            .args(args)
            .output()
            .map_err(|e| Failure::other(format!("cannot run git: {e}")).hint("install git"))
    }

    /// Runs git with `args`; its stdout, or a failure naming `what` with git's message.
    fn run<S: AsRef<OsStr>>(&self, what: &str, args: &[S]) -> Result<String> {
        let out = self.output(args)?;
        if !out.status.success() {
            return Err(git_failure(what, &out));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_owned())
    }

    /// Whether git with `args` succeeds (for questions such as "is this an ancestor").
    fn test<S: AsRef<OsStr>>(&self, args: &[S]) -> Result<bool> {
        Ok(self.output(args)?.status.success())
    }

    /// `git init` with branch `main`.
    pub fn init(&self) -> Result<()> {
        crate::paths::create_private_dir(&self.dir)?;
        self.run("git init", &["init", "--quiet", "--initial-branch=main"])
            .map(|_| ())
    }

    /// `git clone REMOTE` into this repository's folder (which must be empty or absent).
    pub fn clone_from(&self, remote: &str) -> Result<()> {
        let parent = self.dir.parent().unwrap_or(Path::new("/"));
        crate::paths::create_private_dir(parent)?;
        let mut cmd = Command::new("git");
        cmd.arg("clone")
            .arg("--quiet")
            .arg("--")
            .arg(remote)
            .arg(&self.dir)
            .stdin(Stdio::null());
        let out = cmd
            .output()
            .map_err(|e| Failure::other(format!("cannot run git: {e}")).hint("install git"))?;
        if !out.status.success() {
            return Err(git_failure(&format!("git clone {remote}"), &out));
        }
        set_private(&self.dir);
        self.check_out_a_pushed_branch()
    }

    /// A fresh `git init --bare` names `master` as its HEAD while keyhelm pushes `main`: such a
    /// clone has nothing checked out. Then the branch that is there is taken (`main` first),
    /// so that the vault on the remote is the one this device joins.
    fn check_out_a_pushed_branch(&self) -> Result<()> {
        if self.test(&["rev-parse", "--verify", "--quiet", "HEAD"])? {
            return Ok(());
        }
        let listed = self.run(
            "git for-each-ref",
            &[
                "for-each-ref",
                "--format=%(refname:strip=3)",
                "refs/remotes/origin/",
            ],
        )?;
        let branches: Vec<&str> = listed.lines().filter(|b| *b != "HEAD").collect();
        let Some(branch) = ["main", "master"]
            .into_iter()
            .find(|b| branches.contains(b))
            .or_else(|| branches.first().copied())
        else {
            // An empty remote: the first sync pushes this device's branch.
            return Ok(());
        };
        self.run(
            "git checkout",
            &[
                "checkout",
                "--quiet",
                "--track",
                &format!("origin/{branch}"),
            ],
        )
        .map(|_| ())
    }

    /// The URL of `remote`, if it is configured.
    pub fn remote_url(&self, remote: &str) -> Result<Option<String>> {
        let out = self.output(&["remote", "get-url", remote])?;
        Ok(out
            .status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned()))
    }

    pub fn add_remote(&self, remote: &str, url: &str) -> Result<()> {
        self.run("git remote add", &["remote", "add", "--", remote, url])
            .map(|_| ())
    }

    /// A value of git's configuration as this repository sees it.
    pub fn config(&self, key: &str) -> Result<Option<String>> {
        let out = self.output(&["config", "--get", key])?;
        Ok(out
            .status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim_end().to_owned()))
    }

    /// Sets a value in the repository's own configuration (`.git/config`).
    pub fn set_config(&self, key: &str, value: &str) -> Result<()> {
        self.run("git config", &["config", "--local", key, value])
            .map(|_| ())
    }

    /// Makes git use keyhelm (`exe`) as the merge driver of the vault file. Returns whether
    /// anything changed.
    pub fn set_up_driver(&self, exe: &Path) -> Result<bool> {
        let command = driver_command(exe);
        let mut changed = false;
        let key = format!("merge.{DRIVER}.driver");
        if self.config(&key)?.as_deref() != Some(command.as_str()) {
            self.set_config(&key, &command)?;
            changed = true;
        }
        let name = format!("merge.{DRIVER}.name");
        if self.config(&name)?.is_none() {
            self.set_config(&name, "keyhelm vault merge")?;
        }
        Ok(changed)
    }

    /// Makes sure `.gitattributes` and `.gitignore` hold keyhelm's lines. Returns whether a
    /// file changed.
    pub fn write_attributes(&self, file_name: &str) -> Result<bool> {
        let attributes = ensure_lines(
            &self.dir.join(".gitattributes"),
            &[attributes_line(file_name)],
        )?;
        let ignore = ensure_lines(&self.dir.join(".gitignore"), &ignore_lines(file_name))?;
        Ok(attributes || ignore)
    }

    /// The current branch (also when it has no commit yet).
    pub fn branch(&self) -> Result<String> {
        let out = self.output(&["symbolic-ref", "--quiet", "--short", "HEAD"])?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_owned());
        }
        // With --quiet, status 1 says only that HEAD is detached.
        if out.status.code() == Some(1) {
            return Err(Failure::other(format!(
                "the vault folder's repository {} is not on a branch (its HEAD is detached)",
                self.dir.display()
            ))
            .hint(format!(
                "check out the branch keyhelm syncs, e.g. `git -C {} switch main`, and run \
                 `keyhelm sync` again",
                shell_quote(&self.dir.to_string_lossy())
            )));
        }
        Err(git_failure("git symbolic-ref HEAD", &out))
    }

    /// The commit a revision names, if it exists.
    fn rev(&self, rev: &str) -> Result<Option<String>> {
        let out = self.output(&[
            "rev-parse",
            "--quiet",
            "--verify",
            &format!("{rev}^{{commit}}"),
        ])?;
        Ok(out
            .status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned()))
    }

    /// Commits the files keyhelm owns if they changed ("vault update"). Returns whether it
    /// committed.
    pub fn commit(&self, file_name: &str) -> Result<bool> {
        let paths = [file_name, ".gitattributes", ".gitignore"];
        let present: Vec<&str> = paths
            .iter()
            .copied()
            .filter(|p| self.dir.join(p).exists())
            .collect();
        if present.is_empty() {
            return Ok(false);
        }
        let mut args: Vec<&str> = vec!["add", "--"];
        args.extend(&present);
        self.run("git add", &args)?;
        let mut args: Vec<&str> = vec!["diff", "--cached", "--quiet", "--"];
        args.extend(&present);
        if self.test(&args)? {
            return Ok(false);
        }
        let mut args = self.identity_args()?;
        args.extend(
            [
                "commit",
                "--quiet",
                "--no-verify",
                "-m",
                COMMIT_MESSAGE,
                "--",
            ]
            .map(OsString::from),
        );
        args.extend(present.iter().map(OsString::from));
        self.run("git commit", &args)?;
        Ok(true)
    }

    /// `-c user.name=... -c user.email=...` when git has no identity configured, so that a
    /// commit never fails (or asks) for lack of one.
    fn identity_args(&self) -> Result<Vec<OsString>> {
        let mut args = Vec::new();
        if self.config("user.name")?.is_none() {
            args.extend(["-c", "user.name=keyhelm"].map(OsString::from));
        }
        if self.config("user.email")?.is_none() {
            args.extend(["-c", "user.email=keyhelm@localhost"].map(OsString::from));
        }
        Ok(args)
    }

    fn fetch(&self) -> Result<()> {
        self.run(
            &format!("git fetch {REMOTE}"),
            &["fetch", "--quiet", "--no-tags", REMOTE],
        )
        .map(|_| ())
    }

    /// The vault file as the commit `rev` holds it; `None` if that commit has none.
    fn show(&self, rev: &str, file_name: &str) -> Result<Option<Vec<u8>>> {
        let out = self.output(&["show", &format!("{rev}:{file_name}")])?;
        Ok(out.status.success().then_some(out.stdout))
    }

    /// `git merge` of `rev` (the merge driver runs on the vault file); on failure the merge is
    /// aborted and the work tree left as it was.
    fn merge(&self, rev: &str) -> Result<()> {
        let mut args = self.identity_args()?;
        args.extend(
            [
                "merge",
                "--quiet",
                "--no-edit",
                "--allow-unrelated-histories",
                "-m",
                COMMIT_MESSAGE,
                rev,
            ]
            .map(OsString::from),
        );
        let out = self.output(&args)?;
        if out.status.success() {
            return Ok(());
        }
        let _ = self.output(&["merge", "--abort"]);
        Err(git_failure(&format!("git merge {rev}"), &out))
    }

    /// `git push`; `Ok(false)` when the remote moved on meanwhile (a non-fast-forward).
    fn push(&self, branch: &str) -> Result<bool> {
        let refspec = format!("HEAD:refs/heads/{branch}");
        let mut cmd = self.command();
        // The porcelain status words are parsed: keep them in English.
        cmd.env("LC_ALL", "C")
            .args(["push", "--porcelain", "--set-upstream", REMOTE, &refspec]);
        let out = cmd
            .output()
            .map_err(|e| Failure::other(format!("cannot run git: {e}")))?;
        if out.status.success() {
            return Ok(true);
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let rejected = stdout
            .lines()
            .any(|l| l.starts_with('!') && l.contains("[rejected]"));
        if rejected {
            return Ok(false);
        }
        Err(git_failure(&format!("git push {REMOTE}"), &out))
    }
}

/// What one `keyhelm sync` through git did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// What bringing the local file up to date did, before and after the merge.
    pub local: Vec<Report>,
    /// Whether changes from the remote were merged in.
    pub pulled: bool,
    /// Whether the remote held a version of the vault that this device kept out (written by
    /// a device that had not seen a removal of recipients).
    pub kept_ours: bool,
    /// Whether commits were pushed.
    pub pushed: bool,
    /// Whether there is no vault yet, neither on this device nor on the remote (what was
    /// pushed or pulled, if anything, is keyhelm's `.gitattributes` and `.gitignore`).
    pub no_vault: bool,
}

/// `keyhelm sync` through git: bring the local file up to date and commit it, fetch, check
/// the remote's vault (a non-member's is refused before anything is merged), merge (the
/// merge driver merges the vault), check and commit again, push; on a push rejected because
/// the remote moved on, fetch and merge again.
pub fn sync(repo: &Repo, vault: &Vault, exe: &Path) -> Result<Outcome> {
    let file_name = vault_file_name(vault)?;
    repo.set_up_driver(exe)?;
    repo.write_attributes(&file_name)?;
    let branch = repo.branch()?;
    if repo.remote_url(REMOTE)?.is_none() {
        return Err(Failure::other(format!(
            "the vault folder {} is a git repository without a remote named {REMOTE}",
            repo.dir().display()
        ))
        .hint("run `keyhelm sync --init REMOTE` to sync it with REMOTE"));
    }
    let mut outcome = Outcome::default();
    let remote_ref = format!("refs/remotes/{REMOTE}/{branch}");
    for _ in 0..PUSH_ATTEMPTS {
        // Again on every round: a lookup may have written meanwhile (git's own credential
        // helper, keyhelm, stores the credential of an https remote after a fetch).
        local(vault, &mut outcome, true)?;
        repo.commit(&file_name)?;
        repo.fetch()?;
        let remote = repo.rev(&remote_ref)?;
        let head = repo.rev("HEAD")?;
        if let Some(remote) = &remote {
            let merged_already = match &head {
                Some(_) => repo.test(&["merge-base", "--is-ancestor", remote, "HEAD"])?,
                None => false,
            };
            if !merged_already {
                if check_remote(repo, vault, remote, &file_name, &branch)? == Admission::KeepOurs {
                    outcome.kept_ours = true;
                }
                repo.merge(remote)?;
                outcome.pulled = true;
                if let Err(f) = local(vault, &mut outcome, false) {
                    // Not expected after the check above; leave the work tree as it was.
                    if let Some(head) = &head {
                        let _ = repo.output(&["reset", "--quiet", "--hard", head]);
                    }
                    return Err(f);
                }
                repo.commit(&file_name)?;
            }
        }
        // No vault here, and none came with the merge (nor is one committed).
        outcome.no_vault =
            !vault.location().file.exists() && repo.show("HEAD", &file_name)?.is_none();
        let head = repo.rev("HEAD")?;
        if head.is_none() || head == repo.rev(&remote_ref)? {
            return Ok(outcome);
        }
        if repo.push(&branch)? {
            outcome.pushed = true;
            return Ok(outcome);
        }
    }
    Err(Failure::other(format!(
        "the remote {REMOTE} kept changing while keyhelm pushed ({PUSH_ATTEMPTS} attempts)"
    ))
    .hint("run `keyhelm sync` again"))
}

/// Brings the local vault file up to date. A missing vault is fine (nothing to commit yet),
/// and so, before pulling (`before_pull`), is one this device cannot open: it cannot have
/// written it, and the remote may hold a version encrypted to it (it was just added).
fn local(vault: &Vault, outcome: &mut Outcome, before_pull: bool) -> Result<()> {
    match vault.sync_local() {
        Ok(report) => {
            outcome.local.push(report);
            Ok(())
        }
        Err(keyhelm_vault::Error::Missing { .. }) => Ok(()),
        Err(keyhelm_vault::Error::NotARecipient { .. }) if before_pull => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Checks the vault the remote holds at `rev` before anything is merged: it must be the same
/// vault, written by a member.
fn check_remote(
    repo: &Repo,
    vault: &Vault,
    rev: &str,
    file_name: &str,
    branch: &str,
) -> Result<Admission> {
    let Some(bytes) = repo.show(rev, file_name)? else {
        return Ok(Admission::Merge);
    };
    let origin = PathBuf::from(format!("{REMOTE}/{branch}:{file_name}"));
    let theirs = vault.open_bytes(&bytes, &origin).map_err(|e| {
        let mut f = Failure::from(e);
        f.message = format!("the vault on the remote cannot be used: {}", f.message);
        f
    })?;
    match vault.read() {
        Ok(ours) if ours.vault_id() != theirs.vault_id() => {
            return Err(Failure::new(
                Exit::Vault,
                format!(
                    "the remote {REMOTE} holds another vault (id {}) than this device's (id {})",
                    theirs.vault_id(),
                    ours.vault_id()
                ),
            )
            .hint(
                "to use the remote's vault on this device instead, move this device's vault \
                 folder away and run `keyhelm init --join REMOTE`",
            ));
        }
        // No local vault, or one this device cannot open (it was just added): nothing to
        // compare with.
        Ok(_)
        | Err(keyhelm_vault::Error::Missing { .. })
        | Err(keyhelm_vault::Error::NotARecipient { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(vault.admit(&theirs, &origin)?)
}

/// The vault file's name, which must sit at the top of its repository.
pub fn vault_file_name(vault: &Vault) -> Result<String> {
    vault
        .location()
        .file
        .file_name()
        .and_then(|n| n.to_str())
        .map(str::to_owned)
        .ok_or_else(|| {
            Failure::other(format!(
                "the vault file {} has no usable name",
                vault.location().file.display()
            ))
        })
}

/// Appends the lines of `wanted` that `path` lacks (creating it 0600). Returns whether it
/// changed.
fn ensure_lines(path: &Path, wanted: &[String]) -> Result<bool> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Failure::io("cannot read", path, &e)),
    };
    let missing: Vec<&String> = wanted
        .iter()
        .filter(|w| !text.lines().any(|l| l.trim() == w.as_str()))
        .collect();
    if missing.is_empty() {
        return Ok(false);
    }
    let mut new = text.clone();
    if !new.is_empty() && !new.ends_with('\n') {
        new.push('\n');
    }
    for line in missing {
        new.push_str(line);
        new.push('\n');
    }
    crate::fsutil::write_private_atomic(path, new.as_bytes())?;
    Ok(true)
}

/// Tightens a folder keyhelm created through git to 0700. Best effort.
fn set_private(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
}

/// A failure of a git command, with what git said (git's messages name refs, paths and URLs,
/// never a credential): its `fatal:`, `error:` and `remote:` lines if it printed any (the
/// advice it adds after them says nothing about this case), else its last lines; three at
/// most.
fn git_failure(what: &str, out: &Output) -> Failure {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let said = |l: &&str| {
        ["fatal:", "error:", "remote:"]
            .iter()
            .any(|p| l.starts_with(p))
    };
    if lines.iter().any(said) {
        lines.retain(said);
    }
    let tail = lines[lines.len().saturating_sub(3)..].join(" / ");
    let message = if tail.is_empty() {
        format!("{what} failed ({})", out.status)
    } else {
        format!("{what} failed: {tail}")
    };
    Failure::other(message).hint(
        "nothing was lost: the vault file is untouched by a failed git command; fix the problem \
         git reports and run `keyhelm sync` again",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_driver_command_quotes_keyhelm_for_the_shell() {
        assert_eq!(
            driver_command(Path::new("/usr/bin/keyhelm")),
            "'/usr/bin/keyhelm' vault merge-driver %O %A %B %P"
        );
        assert_eq!(
            driver_command(Path::new("/home/o'brien/my tools/keyhelm")),
            r"'/home/o'\''brien/my tools/keyhelm' vault merge-driver %O %A %B %P"
        );
        // What a shell makes of it.
        let quoted = shell_quote("/a b/it's $HOME `x`");
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {quoted}"))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "/a b/it's $HOME `x`");
    }

    #[test]
    fn attribute_and_ignore_lines() {
        assert_eq!(
            attributes_line("vault.age"),
            "vault.age merge=keyhelm-vault -diff"
        );
        assert_eq!(ignore_lines("vault.age")[1], ".vault.age.*.tmp");
    }

    #[test]
    fn ensure_lines_appends_only_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".gitattributes");
        std::fs::write(&path, "*.txt text").unwrap();
        let lines = vec!["vault.age merge=keyhelm-vault -diff".to_owned()];
        assert!(ensure_lines(&path, &lines).unwrap());
        assert!(!ensure_lines(&path, &lines).unwrap());
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "*.txt text\nvault.age merge=keyhelm-vault -diff\n"
        );
    }

    #[test]
    fn git_failures_show_what_git_reported() {
        let out = Command::new("git")
            .args(["-C", "/nonexistent-keyhelm-folder", "status"])
            .output()
            .unwrap();
        let f = git_failure("git status", &out);
        assert_eq!(
            f.message,
            "git status failed: fatal: cannot change to '/nonexistent-keyhelm-folder': No such \
             file or directory"
        );
        assert!(f.hint.unwrap().contains("run `keyhelm sync` again"));
        // Only what git reports, not the advice after it; the last lines otherwise.
        let out = Command::new("sh")
            .arg("-c")
            .arg(
                "printf 'fatal: one\\nfatal: two\\n\\nPlease make sure\\nand so on\\n' >&2; \
                 exit 128",
            )
            .output()
            .unwrap();
        assert_eq!(
            git_failure("git fetch", &out).message,
            "git fetch failed: fatal: one / fatal: two"
        );
        let out = Command::new("sh")
            .arg("-c")
            .arg("printf 'a\\nb\\n\\nc\\nd\\n' >&2; exit 1")
            .output()
            .unwrap();
        assert_eq!(
            git_failure("git merge", &out).message,
            "git merge failed: b / c / d"
        );
        let out = Command::new("sh").arg("-c").arg("exit 3").output().unwrap();
        assert_eq!(
            git_failure("git push", &out).message,
            "git push failed (exit status: 3)"
        );
    }
}
