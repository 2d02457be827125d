//! Passphrase-protected identities and the keyhelm agent.
//!
//! A device identity may be stored encrypted with a passphrase (`keyhelm init --passphrase`:
//! an age scrypt file around the key file, like `age -p -a`). Opening it costs about a second
//! of scrypt by design, far too slow for every `git credential get`, so `keyhelm unlock` opens
//! it once and hands the key to an *agent*: a small background process that holds it until its
//! time to live runs out, answering lookups over a Unix socket in the runtime folder.
//!
//! The private key never leaves the agent. A lookup reads the vault's age header, sends its
//! stanzas to the agent ([`client::AgentIdentity`]), and gets the 16-byte file key back; the
//! lookup itself does no scrypt and never sees the identity. Encryption needs only the public
//! key, which the agent tells clients in its hello.
//!
//! - [`protocol`]: the versioned, length-prefixed JSON wire format.
//! - [`server`]: the agent (socket, peer checks, TTL, shutdown).
//! - [`client`]: requests to the agent, and the `age::Identity` that forwards to it.
//! - [`launch`]: starting a detached agent and handing it the key over a pipe.
//! - [`passphrase`]: asking for passphrases on the terminal or reading them from stdin.
//! - [`commands`]: `keyhelm unlock`, `lock`, `agent`, and the status `keyhelm doctor` shows.
//!
//! The user-facing description is docs/agent.md.

pub mod client;
pub mod commands;
pub mod launch;
pub mod passphrase;
pub mod protocol;
pub mod server;

use std::time::Duration;

use keyhelm_vault::UnlockError;

use crate::error::{Exit, Failure};
use client::AgentError;

/// The agent's socket, in the runtime folder.
pub const SOCKET_NAME: &str = "agent.sock";
/// How long an agent holds the key when no `--ttl` is given.
pub const DEFAULT_TTL: Duration = Duration::from_secs(60 * 60);
/// The longest time to live accepted.
pub const MAX_TTL: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// Parses a time to live: a number and a unit (`s`, `m`, `h`, `d`), several of them added up
/// (`1h30m`), between one second and 30 days.
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let usage = || {
        format!(
            "invalid time to live '{text}': use a number and a unit, like 90s, 15m, 8h, 1d or 1h30m"
        )
    };
    let mut total: u64 = 0;
    let mut digits = String::new();
    let mut any = false;
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit: u64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => return Err(usage()),
        };
        let n: u64 = digits.parse().map_err(|_| usage())?;
        digits.clear();
        total = n
            .checked_mul(unit)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(usage)?;
        any = true;
    }
    if !digits.is_empty() || !any {
        return Err(usage());
    }
    let ttl = Duration::from_secs(total);
    if ttl.is_zero() || ttl > MAX_TTL {
        return Err(format!(
            "invalid time to live '{text}': it must be between 1s and 30d"
        ));
    }
    Ok(ttl)
}

/// A duration for people: `1h`, `59m 30s`, `2d 3h`.
pub fn format_duration(d: Duration) -> String {
    let mut secs = d.as_secs();
    if secs == 0 {
        return "0s".to_owned();
    }
    let mut parts = Vec::new();
    for (unit, size) in [("d", 86400), ("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= size {
            parts.push(format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    parts.join(" ")
}

/// `2026-11-23 11:00:00 UTC (in 1h)`.
pub fn format_expiry(expires_at: u64) -> String {
    let left = expires_at.saturating_sub(server::unix_now());
    format!(
        "{} (in {})",
        crate::cmd::format_time(expires_at),
        format_duration(Duration::from_secs(left))
    )
}

/// The failure for a lookup that needs a locked identity and cannot ask for the passphrase.
pub fn locked_failure(identity_file: &std::path::Path) -> Failure {
    Failure::new(
        Exit::Identity,
        format!(
            "this device's identity {} is locked: it is protected by a passphrase, no keyhelm \
             agent holds it unlocked, and there is no terminal to ask for the passphrase on",
            identity_file.display()
        ),
    )
    .hint("run `keyhelm unlock` in a terminal, then try again")
}

impl From<AgentError> for Failure {
    fn from(err: AgentError) -> Failure {
        let hint = match &err {
            AgentError::NotRunning { .. } | AgentError::Stale { .. } => {
                "run `keyhelm unlock`, then try again".to_owned()
            }
            AgentError::Connect { .. } => {
                "check the folder's permissions (keyhelm doctor); `keyhelm unlock` starts a new \
                 agent"
                    .to_owned()
            }
            AgentError::WrongOwner { path, .. } => format!(
                "another user's socket is in your runtime folder: remove {} and check who can \
                 write to its folder",
                path.display()
            ),
            AgentError::Refused { .. } | AgentError::Io(_) => {
                "the agent stopped (locked, or its time ran out): run `keyhelm unlock`, then try \
                 again"
                    .to_owned()
            }
            AgentError::Version { .. } | AgentError::Protocol(_) => {
                "an agent of another keyhelm version is running: run `keyhelm lock`, then \
                 `keyhelm unlock`"
                    .to_owned()
            }
            AgentError::OtherIdentity { .. } => {
                "run `keyhelm lock`, then `keyhelm unlock`".to_owned()
            }
            AgentError::Timeout => {
                "the agent is stuck: run `keyhelm lock`, or end its process, then `keyhelm \
                 unlock`"
                    .to_owned()
            }
        };
        Failure::new(Exit::Identity, err.to_string()).hint(hint)
    }
}

impl From<UnlockError> for Failure {
    fn from(err: UnlockError) -> Failure {
        let message = err.to_string();
        match err {
            UnlockError::WrongPassphrase { .. } => Failure::new(Exit::Identity, message).hint(
                "type the passphrase chosen at `keyhelm init --passphrase`; a forgotten \
                 passphrase cannot be recovered: restore the identity file from a backup, or set \
                 this device up again and add its new key from another device",
            ),
            UnlockError::ExcessiveWork { .. } => Failure::new(Exit::Identity, message).hint(
                "protect the key again with a smaller work factor (`age -d` it, then `keyhelm \
                 init --passphrase`)",
            ),
            UnlockError::Identity(e) => e.into(),
            _ => Failure::new(Exit::Identity, message),
        }
    }
}

/// sha256 of the identity file's bytes, in hex: how a client recognises the agent of its file.
pub fn digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_parse_with_units_and_bounds() {
        let secs = |s: &str| parse_ttl(s).map(|d| d.as_secs());
        assert_eq!(secs("90s"), Ok(90));
        assert_eq!(secs("15m"), Ok(900));
        assert_eq!(secs("8h"), Ok(28800));
        assert_eq!(secs("1d"), Ok(86400));
        assert_eq!(secs("1h30m"), Ok(5400));
        assert_eq!(secs(" 30d "), Ok(30 * 86400));
        let usage = "invalid time to live '3600': use a number and a unit, like 90s, 15m, 8h, \
                     1d or 1h30m";
        assert_eq!(secs("3600"), Err(usage.to_owned()));
        for bad in [
            "",
            "h",
            "1x",
            "1h 30m",
            "-5m",
            "1.5h",
            "99999999999999999999s",
        ] {
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
        assert_eq!(
            secs("0s"),
            Err("invalid time to live '0s': it must be between 1s and 30d".to_owned())
        );
        assert!(parse_ttl("31d").is_err());
    }

    #[test]
    fn durations_read_well() {
        let f = |s| format_duration(Duration::from_secs(s));
        assert_eq!(f(0), "0s");
        assert_eq!(f(3600), "1h");
        assert_eq!(f(3599), "59m 59s");
        assert_eq!(f(86400 * 2 + 3600 * 3), "2d 3h");
    }

    #[test]
    fn every_agent_error_has_a_message_and_a_hint() {
        use std::path::PathBuf;
        let p = || PathBuf::from("/run/user/1000/keyhelm/agent.sock");
        const STOPPED: &str =
            "the agent stopped (locked, or its time ran out): run `keyhelm unlock`, then try again";
        const VERSION: &str = "an agent of another keyhelm version is running: run `keyhelm lock`, \
                               then `keyhelm unlock`";
        let cases: Vec<(AgentError, &str, &str)> = vec![
            (
                AgentError::NotRunning { path: p() },
                "no keyhelm agent is running",
                "run `keyhelm unlock`, then try again",
            ),
            (
                AgentError::Stale { path: p() },
                "the keyhelm agent's socket /run/user/1000/keyhelm/agent.sock is stale: the \
                 agent that made it is gone",
                "run `keyhelm unlock`, then try again",
            ),
            (
                AgentError::Connect {
                    path: p(),
                    source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
                },
                "cannot connect to the keyhelm agent at /run/user/1000/keyhelm/agent.sock: \
                 permission denied",
                "check the folder's permissions (keyhelm doctor); `keyhelm unlock` starts a \
                 new agent",
            ),
            (
                AgentError::WrongOwner {
                    path: p(),
                    found: 0,
                    you: 1000,
                },
                "the socket /run/user/1000/keyhelm/agent.sock is served by a process of uid 0, \
                 not by you (uid 1000); keyhelm will not use it",
                "another user's socket is in your runtime folder: remove \
                 /run/user/1000/keyhelm/agent.sock and check who can write to its folder",
            ),
            (
                AgentError::Refused {
                    code: "locked".into(),
                    message: "it holds no key any more".into(),
                },
                "the keyhelm agent refused: it holds no key any more",
                STOPPED,
            ),
            (
                AgentError::Version {
                    theirs: vec![2, 3],
                    ours: 1,
                },
                "the running keyhelm agent speaks protocol versions [2, 3], and this keyhelm \
                 speaks version 1",
                VERSION,
            ),
            (
                AgentError::Protocol("an answer is not valid JSON".into()),
                "the keyhelm agent sent an answer this keyhelm does not understand (an answer \
                 is not valid JSON)",
                VERSION,
            ),
            (
                AgentError::OtherIdentity {
                    path: "/k/identity.txt".into(),
                },
                "the keyhelm agent holds another identity than /k/identity.txt: the file changed \
                 after it was unlocked",
                "run `keyhelm lock`, then `keyhelm unlock`",
            ),
            (
                AgentError::Timeout,
                "the keyhelm agent did not answer within 10 seconds",
                "the agent is stuck: run `keyhelm lock`, or end its process, then `keyhelm \
                 unlock`",
            ),
            (
                AgentError::Io(std::io::Error::other("broken pipe")),
                "the connection to the keyhelm agent broke: broken pipe",
                STOPPED,
            ),
        ];
        for (err, message, hint) in cases {
            assert_eq!(err.to_string(), message);
            let failure = Failure::from(err);
            assert_eq!(failure.exit, Exit::Identity);
            assert_eq!(failure.hint.as_deref(), Some(hint), "{message}");
        }
        let locked = locked_failure(std::path::Path::new("/k/identity.txt"));
        assert_eq!(
            locked.to_string(),
            "this device's identity /k/identity.txt is locked: it is protected by a passphrase, \
             no keyhelm agent holds it unlocked, and there is no terminal to ask for the \
             passphrase on (hint: run `keyhelm unlock` in a terminal, then try again)"
        );
        assert_eq!(locked.exit, Exit::Identity);
    }

    #[test]
    fn unlock_errors_map_to_exit_5_with_advice() {
        let wrong = Failure::from(UnlockError::WrongPassphrase {
            path: "/k/identity.txt".into(),
        });
        assert_eq!(wrong.exit, Exit::Identity);
        assert_eq!(
            wrong.message,
            "wrong passphrase for the identity file /k/identity.txt"
        );
        assert!(wrong.hint.unwrap().contains("cannot be recovered"));
        let work = Failure::from(UnlockError::ExcessiveWork {
            path: "/k/identity.txt".into(),
            required: 22,
            max: 20,
        });
        assert_eq!(work.exit, Exit::Identity);
        assert_eq!(
            work.hint.as_deref(),
            Some(
                "protect the key again with a smaller work factor (`age -d` it, then `keyhelm \
                 init --passphrase`)"
            )
        );
    }
}
