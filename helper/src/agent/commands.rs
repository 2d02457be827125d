//! `keyhelm unlock`, `keyhelm lock`, `keyhelm agent`, and the agent's state for
//! `keyhelm doctor`.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use keyhelm_vault::{Identity, MAX_WORK_FACTOR};
use secrecy::SecretString;

use super::client::{AgentError, Client};
use super::protocol::Hello;
use super::server::{Agent, Event, info_path};
use super::{format_expiry, launch, passphrase};
use crate::ctx::{Ctx, IdentityFile};
use crate::error::{Exit, Failure, Result};
use crate::tty::Terminal;

/// Where the passphrase comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PassphraseFrom {
    /// The terminal (asked up to three times).
    Terminal,
    /// The first line of stdin.
    Stdin,
}

/// What `keyhelm unlock` and `keyhelm agent` were asked.
#[derive(Clone, Copy, Debug)]
pub struct UnlockOptions {
    pub ttl: Duration,
    pub passphrase: PassphraseFrom,
}

/// The identity file, which must be protected; `Ok(None)` (after saying so) when it is plain.
fn protected_file(ctx: &Ctx, err: &mut impl Write) -> Result<Option<IdentityFile>> {
    let Some(file) = ctx.read_identity_file()? else {
        return Err(
            Failure::new(Exit::Identity, "this device has no identity yet")
                .hint("run `keyhelm init --passphrase` to create one protected by a passphrase"),
        );
    };
    if !file.protected {
        let _ = writeln!(
            err,
            "keyhelm: the identity {} is not protected by a passphrase: lookups need no agent",
            file.path.display()
        );
        return Ok(None);
    }
    Ok(Some(file))
}

/// Opens the protected identity with a passphrase from the chosen source (stdin is read
/// unbuffered, see [`passphrase::RawStdin`]).
fn open(file: &IdentityFile, from: PassphraseFrom) -> Result<(Identity, SecretString)> {
    match from {
        PassphraseFrom::Stdin => {
            let pass = passphrase::from_stdin(&mut passphrase::RawStdin::open()?)?;
            Ok(keyhelm_vault::unlock(
                &file.bytes,
                pass,
                MAX_WORK_FACTOR,
                &file.path,
            )?)
        }
        PassphraseFrom::Terminal => {
            let terminal = Terminal::open().map_err(passphrase::tty_failure)?;
            passphrase::ask_and_unlock(&terminal, &file.bytes, &file.path)
        }
    }
}

/// A connection to the agent already running for this identity, if any, so that it can be
/// told to quit once a new one took its place.
fn running(ctx: &Ctx) -> Option<Client> {
    let mut client = Client::connect(&ctx.agent_socket()).ok()?;
    client.hello().ok()?;
    Some(client)
}

/// `keyhelm unlock`: asks for the passphrase and starts a detached agent with the key; replaces
/// an agent that is already running (a new time to live starts).
pub fn unlock(ctx: &Ctx, options: UnlockOptions, err: &mut impl Write) -> Result<()> {
    let Some(file) = protected_file(ctx, err)? else {
        return Ok(());
    };
    let (identity, text) = open(&file, options.passphrase)?;
    let old = running(ctx);
    let started = launch::start_detached(ctx, &text, &file.digest(), options.ttl)?;
    drop(text);
    if let Some(mut old) = old {
        // It noticed its socket was taken over anyway; this makes it forget the key now.
        let _ = old.quit();
    }
    let _ = writeln!(
        err,
        "keyhelm: unlocked {} until {}, agent pid {}; `keyhelm lock` forgets the key sooner",
        identity.public(),
        format_expiry(started.expires_at),
        started.pid
    );
    Ok(())
}

/// `keyhelm lock`: tells the agent to forget the key and stop. Not an error when none runs.
pub fn lock(ctx: &Ctx, err: &mut impl Write) -> Result<()> {
    let socket = ctx.agent_socket();
    let quit = || Client::connect(&socket).and_then(|mut client| client.quit());
    // An agent that is ending (killed, or its time ran out) can still take a connection and
    // then drop it: look again, the socket now says what is left.
    let found = match quit() {
        Err(AgentError::Io(_)) => quit(),
        other => other,
    };
    match found {
        Ok(()) => {
            let _ = writeln!(err, "keyhelm: locked: the agent forgot the key and stopped");
        }
        Err(AgentError::NotRunning { .. }) => {
            let _ = writeln!(err, "keyhelm: no agent is running: the identity is locked");
        }
        Err(AgentError::Stale { path }) => {
            std::fs::remove_file(&path)
                .map_err(|e| Failure::io("cannot remove the stale socket", &path, &e))?;
            let _ = std::fs::remove_file(info_path(&path));
            let _ = writeln!(
                err,
                "keyhelm: removed the stale socket {} (its agent is gone): the identity is locked",
                path.display()
            );
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// `keyhelm agent`: runs the agent in the foreground until its time is up, `keyhelm lock`, or
/// Ctrl-C. With the handoff flag, it is the detached agent `keyhelm unlock` started.
pub fn agent(ctx: &Ctx, options: UnlockOptions, err: &mut impl Write) -> Result<()> {
    let Some(file) = protected_file(ctx, err)? else {
        return Err(Failure::new(
            Exit::Identity,
            "there is nothing for an agent to hold: the identity is not protected",
        )
        .hint("protect it with `keyhelm init --passphrase` first"));
    };
    launch::harden();
    let (identity, text) = open(&file, options.passphrase)?;
    drop(text);
    let old = running(ctx);
    let agent = Agent::bind(&ctx.agent_socket(), identity, file.digest(), options.ttl)?;
    if let Some(mut old) = old {
        let _ = old.quit();
    }
    let hello = agent.hello().clone();
    let _ = writeln!(
        err,
        "keyhelm agent: holding {} until {} at {} (pid {}); Ctrl-C or `keyhelm lock` stops it",
        hello.publics.join(", "),
        format_expiry(hello.expires_at),
        agent.socket().display(),
        hello.pid
    );
    let ending = agent.serve(|event| match event {
        Event::Refused { uid, pid } => {
            let pid = pid.map_or_else(String::new, |p| format!(", pid {p}"));
            let _ = writeln!(
                err,
                "keyhelm agent: refused a connection from another user (uid {uid}{pid})"
            );
        }
    });
    let _ = writeln!(
        err,
        "keyhelm agent: stopped, the key is forgotten: {}",
        ending.describe()
    );
    Ok(())
}

/// What `keyhelm doctor` reports about the identity and the agent.
#[derive(Debug)]
pub enum Status {
    /// No identity file.
    NoIdentity,
    /// A plain identity: no agent involved.
    Plain,
    /// Protected by a passphrase.
    Protected { path: PathBuf, agent: AgentState },
}

/// The agent of a protected identity.
#[derive(Debug)]
pub enum AgentState {
    /// An agent holds this identity.
    Unlocked(Hello),
    /// No agent runs.
    Locked,
    /// A socket is left from an agent that is gone.
    Stale(PathBuf),
    /// An agent runs, but holds another identity file's key.
    OtherIdentity(Hello),
    /// The agent cannot be used.
    Broken(AgentError),
}

/// The identity's protection and the agent's state, without prompting.
pub fn status(ctx: &Ctx) -> Result<Status> {
    let Some(file) = ctx.read_identity_file()? else {
        return Ok(Status::NoIdentity);
    };
    if !file.protected {
        return Ok(Status::Plain);
    }
    let socket = ctx.agent_socket();
    let agent = match Client::connect(&socket).and_then(|mut c| c.hello()) {
        Ok(hello) if hello.identity_digest == file.digest() => AgentState::Unlocked(hello),
        Ok(hello) => AgentState::OtherIdentity(hello),
        Err(AgentError::NotRunning { .. }) => AgentState::Locked,
        Err(AgentError::Stale { path }) => AgentState::Stale(path),
        Err(e) => AgentState::Broken(e),
    };
    Ok(Status::Protected {
        path: file.path,
        agent,
    })
}
