//! `keyhelm doctor`: what is set up, what is wrong, and what to do about it.

use std::io::Write;
use std::path::Path;

use crate::agent::commands::{AgentState, Status};
use crate::agent::format_expiry;
use crate::ctx::Ctx;
use crate::error::{Failure, Result};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Level {
    Ok,
    Warn,
    Error,
}

/// One finding of the doctor.
#[derive(Debug)]
pub struct Check {
    pub level: Level,
    pub topic: &'static str,
    pub text: String,
    pub hint: Option<String>,
}

impl Check {
    pub fn new(level: Level, topic: &'static str, text: impl Into<String>) -> Check {
        Check {
            level,
            topic,
            text: text.into(),
            hint: None,
        }
    }
    pub fn hint(mut self, hint: impl Into<String>) -> Check {
        self.hint = Some(hint.into());
        self
    }
}

pub fn run(ctx: &Ctx, output: &mut impl Write) -> Result<()> {
    let mut checks = Vec::new();
    files(ctx, &mut checks);
    git(ctx, &mut checks);
    crate::cargo::config::doctor(ctx, &mut checks);
    crate::kube::config::doctor(ctx, &mut checks);
    crate::docker::doctor::checks(ctx, &mut checks);
    let mut text = String::new();
    for c in &checks {
        let level = match c.level {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        text.push_str(&format!("{level:<6}{:<10}{}\n", c.topic, c.text));
        if let Some(hint) = &c.hint {
            text.push_str(&format!("{:16}hint: {hint}\n", ""));
        }
    }
    crate::out::write_all(output, text.as_bytes())?;
    let errors = checks.iter().filter(|c| c.level == Level::Error).count();
    if errors > 0 {
        return Err(Failure::other(format!(
            "keyhelm doctor found {errors} problem{} (see above)",
            if errors == 1 { "" } else { "s" }
        )));
    }
    Ok(())
}

fn files(ctx: &Ctx, checks: &mut Vec<Check>) {
    let home = match &ctx.env.keyhelm_home {
        Some(h) => format!("{} (KEYHELM_HOME)", h.display()),
        None => format!("XDG folders: config {}", ctx.paths.config_dir.display()),
    };
    checks.push(Check::new(Level::Ok, "files", home));
    if let Err(e) = ctx.config() {
        checks.push(Check::new(Level::Error, "config", e.message).hint(e.hint.unwrap_or_default()));
        return;
    }
    // The doctor never asks for a passphrase: a locked identity is reported, not unlocked.
    ctx.set_prompting(false);
    if let Ok(Status::Protected { path, agent }) = crate::agent::commands::status(ctx) {
        if !protected(ctx, &path, agent, checks) {
            return;
        }
    } else {
        let identity = match ctx.identity() {
            Ok(Some(identity)) => identity,
            Ok(None) => {
                checks.push(
                    Check::new(Level::Warn, "identity", "this device has no identity yet")
                        .hint("run `keyhelm init` (the first `keyhelm store` also creates one)"),
                );
                return;
            }
            Err(e) => {
                checks.push(
                    Check::new(Level::Error, "identity", e.message)
                        .hint(e.hint.unwrap_or_default()),
                );
                return;
            }
        };
        checks.push(Check::new(
            Level::Ok,
            "identity",
            format!(
                "{} ({})",
                ctx.paths.identity_file().display(),
                identity.public()
            ),
        ));
    }
    let vault = match ctx.vault() {
        Ok(Some(vault)) => vault,
        Ok(None) => return,
        Err(e) => {
            checks.push(
                Check::new(Level::Error, "vault", e.message).hint(e.hint.unwrap_or_default()),
            );
            return;
        }
    };
    let file = vault.location().file.clone();
    if !vault.exists() {
        checks.push(
            Check::new(
                Level::Warn,
                "vault",
                format!("there is no vault at {}", file.display()),
            )
            .hint("run `keyhelm init`"),
        );
        return;
    }
    if let Err(e) = std::fs::metadata(&file)
        .map_err(Into::into)
        .and_then(|meta| crate::ctx::check_private_file(&file, &meta))
    {
        {
            checks
                .push(Check::new(Level::Warn, "vault", e.message).hint(e.hint.unwrap_or_default()));
        }
    }
    match vault.read() {
        Ok(snapshot) => {
            let credentials = snapshot.credentials().count();
            checks.push(Check::new(
                Level::Ok,
                "vault",
                format!(
                    "{} opens: {credentials} stored credential{}",
                    file.display(),
                    plural(credentials)
                ),
            ));
        }
        Err(e) => {
            let f: Failure = e.into();
            checks.push(
                Check::new(Level::Error, "vault", f.message).hint(f.hint.unwrap_or_default()),
            );
        }
    }
}

/// The checks of a passphrase-protected identity and its agent; whether the vault can be
/// opened (an agent holds the key).
fn protected(ctx: &Ctx, path: &Path, agent: AgentState, checks: &mut Vec<Check>) -> bool {
    let socket = ctx.agent_socket();
    let (line, agent_check, unlocked) = match agent {
        AgentState::Unlocked(hello) => (
            format!(
                "{} ({}), protected by a passphrase",
                path.display(),
                hello.publics.join(", ")
            ),
            Check::new(
                Level::Ok,
                "agent",
                format!(
                    "unlocked until {}; agent pid {} at {}",
                    format_expiry(hello.expires_at),
                    hello.pid,
                    socket.display()
                ),
            ),
            true,
        ),
        AgentState::Locked => (
            format!("{}, protected by a passphrase", path.display()),
            Check::new(
                Level::Warn,
                "agent",
                "locked: no agent holds the key; lookups ask for the passphrase on a terminal, \
                 and fail without one",
            )
            .hint("run `keyhelm unlock`"),
            false,
        ),
        AgentState::Stale(socket) => (
            format!("{}, protected by a passphrase", path.display()),
            Check::new(
                Level::Warn,
                "agent",
                format!(
                    "locked: the socket {} is left from an agent that is gone",
                    socket.display()
                ),
            )
            .hint("run `keyhelm unlock` (it replaces the socket), or `keyhelm lock` to remove it"),
            false,
        ),
        AgentState::OtherIdentity(hello) => (
            format!("{}, protected by a passphrase", path.display()),
            Check::new(
                Level::Error,
                "agent",
                format!(
                    "the agent (pid {}) holds another identity than this file: it changed after \
                     `keyhelm unlock`",
                    hello.pid
                ),
            )
            .hint("run `keyhelm lock`, then `keyhelm unlock`"),
            false,
        ),
        AgentState::Broken(e) => {
            let f: Failure = e.into();
            (
                format!("{}, protected by a passphrase", path.display()),
                Check::new(Level::Error, "agent", f.message).hint(f.hint.unwrap_or_default()),
                false,
            )
        }
    };
    checks.push(Check::new(Level::Ok, "identity", line));
    checks.push(agent_check);
    unlocked
}

fn git(ctx: &Ctx, checks: &mut Vec<Check>) {
    let version = match std::process::Command::new("git").arg("--version").output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        // git runs but refuses, as it does when its configuration is broken.
        Ok(out) => {
            checks.push(
                Check::new(
                    Level::Warn,
                    "git",
                    format!(
                        "`git --version` failed: {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    ),
                )
                .hint("fix what git reports, then run `keyhelm doctor` again"),
            );
            return;
        }
        Err(_) => {
            checks.push(
                Check::new(Level::Warn, "git", "git is not installed or does not run")
                    .hint("install git 2.46 or newer if git should use keyhelm"),
            );
            return;
        }
    };
    match git_version(&version) {
        Some(v) if v >= (2, 46) => checks.push(Check::new(Level::Ok, "git", version)),
        Some(_) => checks.push(
            Check::new(
                Level::Warn,
                "git",
                format!("{version}: Bearer tokens need git 2.46 or newer"),
            )
            .hint("upgrade git; until then tokens are sent as Basic passwords"),
        ),
        None => checks.push(
            Check::new(
                Level::Warn,
                "git",
                format!("unrecognised version: {version}"),
            )
            .hint("Bearer tokens need git 2.46 or newer; check what `git --version` runs"),
        ),
    }
    let Ok(exe) = crate::cmd::setup::keyhelm_exe(ctx) else {
        return;
    };
    match crate::cmd::setup::git_helpers(None) {
        Ok(helpers) => {
            let ours = helpers
                .iter()
                .position(|h| crate::cmd::setup::is_keyhelm_helper(h, &exe));
            match ours {
                None => checks.push(
                    Check::new(
                        Level::Warn,
                        "git",
                        "credential.helper does not use this keyhelm",
                    )
                    .hint("run `keyhelm setup git`"),
                ),
                Some(0) => checks.push(Check::new(
                    Level::Ok,
                    "git",
                    "credential.helper uses keyhelm",
                )),
                Some(_) => checks.push(
                    Check::new(
                        Level::Warn,
                        "git",
                        format!(
                            "credential.helper uses keyhelm after {}",
                            helpers[..ours.unwrap_or(0)].join(", ")
                        ),
                    )
                    .hint("git asks those helpers first; remove them if keyhelm should answer"),
                ),
            }
        }
        Err(e) => {
            let check = Check::new(Level::Warn, "git", e.message);
            checks.push(match e.hint {
                Some(hint) => check.hint(hint),
                None => check,
            });
        }
    }
}

/// `git version 2.47.3` -> (2, 47).
fn git_version(text: &str) -> Option<(u32, u32)> {
    let v = text.strip_prefix("git version ")?;
    let mut parts = v.split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_git_versions() {
        assert_eq!(git_version("git version 2.47.3"), Some((2, 47)));
        assert_eq!(git_version("git version 2.39.5.windows.1"), Some((2, 39)));
        assert_eq!(git_version("hub version 1"), None);
    }
}
