//! Starting a detached agent: `keyhelm unlock` (or a lookup that prompted) runs
//! `keyhelm agent --handoff` as a child and hands it the unlocked key over a pipe.
//!
//! The child's stdin carries one JSON header line (`{"v":1,"ttl_secs":3600,"identity_digest":"..."}`,
//! no secrets) and then the identity file's plain text up to end of file. Its stdout carries one
//! JSON line back: `{"ok":true,"pid":...,"expires_at":...,"socket":"..."}` once the socket is
//! ready, or `{"ok":false,"exit":5,"message":"...","hint":"..."}`. Its stderr is closed: a
//! detached agent must not hold the caller's terminal or pipes open (a caller that reads
//! `keyhelm unlock`'s output to the end would wait for the agent's whole lifetime).
//!
//! The key never appears in argv or the environment. The child leaves the caller's session
//! (`setsid`), so closing the terminal does not end it, and makes itself non-dumpable.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use keyhelm_vault::Identity;
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::server::{Agent, Event};
use crate::ctx::Ctx;
use crate::error::{Exit, Failure, Result};

/// The hidden flag of `keyhelm agent` that makes it read a handoff.
pub const HANDOFF_FLAG: &str = "--handoff";
/// The largest identity text accepted over the pipe.
const MAX_TEXT: usize = 1 << 20;

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    v: u32,
    ttl_secs: u64,
    identity_digest: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Reply {
    ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    socket: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exit: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hint: Option<String>,
}

/// A detached agent that is ready.
#[derive(Debug, Clone)]
pub struct Started {
    pub pid: u32,
    pub expires_at: u64,
    pub socket: PathBuf,
}

/// Starts a detached agent holding the identity whose file text is `text`, for `ttl`; returns
/// once its socket is ready. Any agent already at the socket is replaced (the new one takes
/// the socket over atomically; the caller then tells the old one to quit).
pub fn start_detached(
    ctx: &Ctx,
    text: &SecretString,
    identity_digest: &str,
    ttl: Duration,
) -> Result<Started> {
    let exe = ctx.env.current_exe.as_deref().ok_or_else(|| {
        Failure::other("cannot start the agent: the path of the keyhelm program is unknown")
    })?;
    let mut child = Command::new(exe)
        .args(["agent", HANDOFF_FLAG])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Failure::io("cannot start the agent", exe, &e))?;
    let header = Header {
        v: 1,
        ttl_secs: ttl.as_secs(),
        identity_digest: identity_digest.to_owned(),
    };
    let mut line = serde_json::to_vec(&header)
        .map_err(|e| Failure::other(format!("cannot start the agent: {e}")))?;
    line.push(b'\n');
    if let Some(mut stdin) = child.stdin.take() {
        // A child that died early closes the pipe; its reply (or its absence) says why.
        let _ = stdin
            .write_all(&line)
            .and_then(|()| stdin.write_all(text.expose_secret().as_bytes()));
    }
    let mut reply = String::new();
    if let Some(stdout) = child.stdout.take() {
        let _ = BufReader::new(stdout).take(64 * 1024).read_line(&mut reply);
    }
    let reply: Reply = match serde_json::from_str(reply.trim_end()) {
        Ok(reply) => reply,
        Err(_) => {
            let status = child
                .wait()
                .map_or_else(|e| e.to_string(), |s| s.to_string());
            return Err(Failure::new(
                Exit::Identity,
                format!("the agent did not start ({status})"),
            )
            .hint("run `keyhelm agent` in a terminal to see what goes wrong"));
        }
    };
    // The agent runs on; it is reaped by whoever adopts it once this process ends.
    drop(child);
    if !reply.ok {
        let exit = match reply.exit {
            Some(5) => Exit::Identity,
            Some(8) => Exit::NeedsInteraction,
            _ => Exit::Failure,
        };
        let mut failure = Failure::new(
            exit,
            reply
                .message
                .unwrap_or_else(|| "the agent did not start".to_owned()),
        );
        failure.hint = reply.hint;
        return Err(failure);
    }
    let (Some(pid), Some(expires_at), Some(socket)) = (reply.pid, reply.expires_at, reply.socket)
    else {
        return Err(Failure::other("the agent's ready message is incomplete"));
    };
    let socket = PathBuf::from(socket);
    if socket != ctx.agent_socket() {
        return Err(Failure::other(format!(
            "the agent listens at {}, not at {}",
            socket.display(),
            ctx.agent_socket().display()
        )));
    }
    Ok(Started {
        pid,
        expires_at,
        socket,
    })
}

/// Leaves the caller's session and working folder, and keeps the key out of core dumps and
/// away from debuggers of the same user (Linux).
pub fn detach() {
    let _ = rustix::process::setsid();
    let _ = std::env::set_current_dir("/");
    harden();
}

/// No core dumps, no ptrace by other processes of the user (Linux).
pub fn harden() {
    #[cfg(target_os = "linux")]
    {
        let _ =
            rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable);
    }
}

/// The child's side: reads the handoff from `input`, binds the socket, reports on `output`,
/// and serves until the agent ends.
pub fn serve_handoff(ctx: &Ctx, input: &mut impl Read, output: &mut impl Write) -> Result<()> {
    detach();
    let bound = receive(ctx, input).and_then(|(identity, header)| {
        Agent::bind(
            &ctx.agent_socket(),
            identity,
            header.identity_digest,
            Duration::from_secs(header.ttl_secs),
        )
    });
    let agent = match bound {
        Ok(agent) => agent,
        Err(failure) => {
            let reply = Reply {
                ok: false,
                exit: Some(failure.exit.code()),
                message: Some(failure.message.clone()),
                hint: failure.hint.clone(),
                ..Reply::default()
            };
            send(output, &reply);
            return Err(failure);
        }
    };
    let hello = agent.hello().clone();
    send(
        output,
        &Reply {
            ok: true,
            pid: Some(hello.pid),
            expires_at: Some(hello.expires_at),
            socket: Some(agent.socket().to_string_lossy().into_owned()),
            ..Reply::default()
        },
    );
    let ending = agent.serve(|event| match event {
        Event::Refused { uid, pid } => {
            tracing::warn!(uid, ?pid, "refused a connection from another user");
        }
    });
    tracing::info!("the agent stopped: {}", ending.describe());
    Ok(())
}

fn send(output: &mut impl Write, reply: &Reply) {
    if let Ok(mut line) = serde_json::to_vec(reply) {
        line.push(b'\n');
        let _ = crate::out::write_all(output, &line);
    }
}

fn receive(ctx: &Ctx, input: &mut impl Read) -> Result<(Identity, Header)> {
    let broken = |what: &str| Failure::other(format!("the agent's handoff is broken: {what}"));
    let line = super::passphrase::read_line(input, 64 * 1024)
        .map_err(|e| broken(&e.to_string()))?
        .ok_or_else(|| broken("the header is too long"))?;
    let header: Header =
        serde_json::from_slice(&line).map_err(|_| broken("the header is not valid"))?;
    if header.v != 1 {
        return Err(broken("the header's version is unknown"));
    }
    // Sized once for the largest text: reallocating would leave copies of the key behind.
    let mut text = Zeroizing::new(vec![0u8; MAX_TEXT + 1]);
    let mut filled = 0;
    loop {
        if filled == text.len() {
            return Err(broken("the identity is too large"));
        }
        match input.read(&mut text[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(broken(&e.to_string())),
        }
    }
    let text = std::str::from_utf8(&text[..filled]).map_err(|_| broken("not UTF-8"))?;
    let mut exact = String::with_capacity(text.len());
    exact.push_str(text);
    let text = SecretString::from(exact);
    let identity = Identity::from_secret_text(&text, &ctx.paths.identity_file())?;
    Ok((identity, header))
}
