//! `[sync] auto = true`: after each write of the vault, a detached `keyhelm sync --auto` syncs
//! in the background, so that the lookup that wrote (a `git credential approve`, a token
//! refresh) does not wait for the network.
//!
//! Writes come in bursts (git runs `store` after every successful authentication), so the
//! background syncs coalesce: each one first leaves a mark (`<state>/sync.pending`), then tries
//! the sync lock. The one that holds the lock syncs as long as there is a mark, removing it
//! before each round; the others leave. A mark left after the holder looked for the last time
//! is seen by the holder right after it unlocks, or by the process that left it, which then
//! gets the lock itself. The outcome of the last background sync is in `<state>/sync.log`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use keyhelm_vault::Vault;

use crate::ctx::Ctx;
use crate::error::Result;

/// The mark that asks the running background sync for another round.
const PENDING: &str = "sync.pending";
/// The outcome of the last background sync.
pub const LOG: &str = "sync.log";

/// Starts `exe sync --auto`, detached, with no standard streams (a tool reading the caller's
/// output must not wait for it). Failing to start loses only this sync.
pub fn spawn(exe: &Path) {
    let _ = Command::new(exe)
        .args(["sync", "--auto"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}

/// With `[sync] auto = true` and a vault folder that is a git repository, makes every write
/// of `vault` start a background sync.
pub fn attach(ctx: &Ctx, vault: &mut Vault) -> Result<()> {
    if !ctx.config()?.sync.auto
        || !super::git::is_repo_root(super::folder_of(&vault.location().file))
    {
        return Ok(());
    }
    if let Some(exe) = ctx.env.current_exe.clone() {
        vault.on_write(hook(exe));
    }
    Ok(())
}

/// The hook [`Vault::on_write`] runs.
fn hook(exe: PathBuf) -> impl Fn() + Send + Sync + 'static {
    move || spawn(&exe)
}

/// `keyhelm sync --auto`.
pub fn run(ctx: &Ctx) -> Result<()> {
    // Out of the caller's session: closing its terminal does not stop the sync.
    let _ = rustix::process::setsid();
    // Nobody is there to answer a passphrase prompt.
    ctx.set_prompting(false);
    let state = ctx.paths.state_dir.clone();
    crate::paths::create_private_dir(&state)?;
    let pending = state.join(PENDING);
    loop {
        mark(&pending)?;
        let Some(lock) = super::try_sync_lock(ctx)? else {
            // The running sync sees the mark.
            return Ok(());
        };
        while pending.exists() {
            let _ = std::fs::remove_file(&pending);
            let outcome = super::vault(ctx).and_then(|vault| super::sync_once(ctx, &vault, true));
            log(&state, &outcome);
        }
        drop(lock);
        if !pending.exists() {
            return Ok(());
        }
    }
}

fn mark(path: &Path) -> Result<()> {
    crate::fsutil::write_private_atomic(path, b"")
}

/// Writes the outcome of a background sync to `<state>/sync.log` (best effort).
fn log(state: &Path, outcome: &Result<String>) {
    let when = jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_default();
    let text = match outcome {
        Ok(report) => format!("{when} keyhelm sync: ok\n{report}"),
        Err(f) => {
            let mut text = format!("{when} keyhelm sync: error: {}\n", f.message);
            if let Some(hint) = &f.hint {
                text.push_str(&format!("hint: {hint}\n"));
            }
            text
        }
    };
    let _ = crate::fsutil::write_private_atomic(&state.join(LOG), text.as_bytes());
}
