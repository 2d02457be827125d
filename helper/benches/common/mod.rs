//! Shared by the whole-process benches (`lookup`, `docker_get`, `agent_lookup`): a throwaway
//! HOME and KEYHELM_HOME, the stored credentials, a clean environment for every spawned tool,
//! spawn-to-exit timing of interleaved rounds, and the `--name value` options.
// Each bench uses its own part of this module.
#![allow(dead_code)]

use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use keyhelm_vault::{Credential, CredentialKey, DeviceId, Identity, Location, Vault};

/// Rounds run before the timed ones, to warm the page cache; their times are dropped.
pub const WARM_UP_ROUNDS: usize = 5;

/// The `keyhelm` binary cargo built for this bench.
pub fn keyhelm_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_keyhelm"))
}

/// A temporary folder holding a HOME (created) and a KEYHELM_HOME (created, 0700, by the
/// first file written into it); both go away with the value.
pub struct Home {
    _dir: tempfile::TempDir,
    pub home: PathBuf,
    pub keyhelm_home: PathBuf,
}

impl Home {
    pub fn new() -> Home {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let keyhelm_home = dir.path().join("keyhelm");
        std::fs::create_dir_all(&home).unwrap();
        Home {
            _dir: dir,
            home,
            keyhelm_home,
        }
    }

    /// Where keyhelm looks for its identity.
    pub fn identity_file(&self) -> PathBuf {
        self.keyhelm_home.join("identity.txt")
    }

    /// A new identity, written as a plain (unprotected) identity file.
    pub fn write_plain_identity(&self) -> Identity {
        let identity = Identity::generate();
        identity.write_new(&self.identity_file()).unwrap();
        identity
    }

    /// The vault at keyhelm's default place in this home, opened with `identity`.
    pub fn vault(&self, identity: Identity) -> Vault {
        let state = self.keyhelm_home.join("state");
        let device = DeviceId::load_or_create(&state).unwrap();
        let location = Location {
            file: self.keyhelm_home.join("vault/vault.age"),
            state_dir: state,
        };
        Vault::new(location, identity, device)
    }

    /// Stores `credentials` in the vault in one update.
    pub fn store(&self, identity: Identity, credentials: impl IntoIterator<Item = Credential>) {
        self.vault(identity)
            .update(|s| {
                for c in credentials {
                    s.put_credential(c);
                }
                Ok::<_, keyhelm_vault::Error>(())
            })
            .unwrap();
    }

    /// git credential-store's file (`~/.git-credentials`), one line per `(i, host)` in the
    /// order given, each holding [`credential`]'s username and password for `i`.
    pub fn write_git_credentials(&self, hosts: impl IntoIterator<Item = (usize, String)>) {
        let lines: String = hosts
            .into_iter()
            .map(|(i, host)| format!("https://user{i}:{}@{host}\n", password(i)))
            .collect();
        std::fs::write(self.home.join(".git-credentials"), lines).unwrap();
    }

    /// `program args`, with an environment of only PATH, this HOME and KEYHELM_HOME, and no
    /// system git config.
    pub fn command(&self, program: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("KEYHELM_HOME", &self.keyhelm_home)
            .env("GIT_CONFIG_NOSYSTEM", "1");
        cmd
    }
}

/// The password stored for credential `i`.
pub fn password(i: usize) -> String {
    format!("password-{i}-0123456789abcdef")
}

/// Credential `i`: `protocol://user{i}@host` with [`password`]`(i)`.
pub fn credential(protocol: &str, host: String, i: usize) -> Credential {
    Credential {
        key: CredentialKey {
            protocol: protocol.into(),
            host,
            path: None,
            username: Some(format!("user{i}")),
        },
        password: Some(password(i).into()),
        password_expiry_utc: None,
        oauth_refresh_token: None,
        authtype: None,
        credential: None,
    }
}

/// Runs `cmd` with `input` on its stdin (stderr dropped); the time from spawn to exit, and
/// what it wrote and how it ended.
pub fn run(mut cmd: Command, input: &[u8]) -> (Duration, Output) {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // A tool that never reads its stdin (docker's `list`) may close the pipe first.
    match child.stdin.take().unwrap().write_all(input) {
        Err(e) if e.kind() != ErrorKind::BrokenPipe => panic!("cannot write to stdin: {e}"),
        _ => {}
    }
    let out = child.wait_with_output().unwrap();
    (start.elapsed(), out)
}

/// Runs `N` cells in turn, round after round (interleaved, so that drift hits every cell
/// alike): [`WARM_UP_ROUNDS`] untimed rounds, then `runs` timed ones. `cell(i)` runs cell `i`
/// once, checks its answer and returns its time. The timed rounds' times, per cell.
pub fn interleaved<const N: usize>(
    runs: usize,
    mut cell: impl FnMut(usize) -> Duration,
) -> [Vec<Duration>; N] {
    let mut times = std::array::from_fn(|_| Vec::with_capacity(runs));
    for round in 0..WARM_UP_ROUNDS + runs {
        for (i, t) in times.iter_mut().enumerate() {
            let d = cell(i);
            if round >= WARM_UP_ROUNDS {
                t.push(d);
            }
        }
    }
    times
}

/// The `p`th percentile of `xs` (sorts them).
pub fn percentile(xs: &mut [Duration], p: usize) -> Duration {
    xs.sort();
    xs[(xs.len() * p / 100).min(xs.len() - 1)]
}

pub fn median(mut xs: Vec<Duration>) -> Duration {
    percentile(&mut xs, 50)
}

/// `d` in milliseconds, three decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// The bench's `--name value` options (after `--` on cargo's command line).
pub struct Options(Vec<String>);

impl Options {
    pub fn from_env() -> Options {
        Options(std::env::args().collect())
    }

    fn value(&self, name: &str) -> Option<&str> {
        let i = self.0.iter().position(|a| a == name)?;
        self.0.get(i + 1).map(String::as_str)
    }

    /// `name`'s value, or `default` when it is not given.
    pub fn get<T: FromStr>(&self, name: &str, default: T) -> T
    where
        T::Err: std::fmt::Debug,
    {
        self.value(name)
            .map(|v| v.parse().unwrap_or_else(|e| panic!("{name} {v}: {e:?}")))
            .unwrap_or(default)
    }

    /// `--sizes 1,100`: how many credentials to store, one table row each.
    pub fn sizes(&self, default: &[usize]) -> Vec<usize> {
        self.value("--sizes")
            .map(|s| s.split(',').map(|n| n.parse().unwrap()).collect())
            .unwrap_or_else(|| default.to_vec())
    }
}
