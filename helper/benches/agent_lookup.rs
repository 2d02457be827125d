//! Whole-process lookup latency with a passphrase-protected identity through the agent, side
//! by side with a plain identity file, in one run: `keyhelm get` spawned the way git spawns a
//! helper (request on stdin, answer on stdout), timed from spawn to exit, interleaved, at 1,
//! 100 and 1,000 stored credentials. Also times `keyhelm unlock` itself (the scrypt cost a user
//! pays once per time to live) at the default work factor.
//!
//! Run: `cargo bench -p keyhelm --bench agent_lookup` (release build). Options after `--`:
//! `--sizes 1,100`, `--runs 200`, `--unlock-runs 3`.
//!
//! With a plain identity a lookup reads the key file and unwraps the vault's file key itself
//! (one X25519); through the agent it hashes the protected identity file, connects to the
//! socket, and does two round trips (hello, unwrap), and the agent does the X25519.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use keyhelm_vault::{Credential, CredentialKey, DeviceId, Identity, Location, Vault};
use secrecy::SecretString;

const PASS: &str = "bench passphrase";

struct Home {
    _dir: tempfile::TempDir,
    home: PathBuf,
    keyhelm_home: PathBuf,
}

fn host(i: usize) -> String {
    format!("host{i}.example.com")
}

/// A keyhelm home with `n` credentials; the identity is protected with `work_factor` when given.
fn setup(n: usize, protected: Option<u8>) -> Home {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let keyhelm_home = dir.path().join("kh");
    std::fs::create_dir_all(&home).unwrap();
    let identity_file = keyhelm_home.join("identity.txt");
    let identity = Identity::generate();
    match protected {
        None => identity.write_new(&identity_file).unwrap(),
        Some(work_factor) => {
            let text = identity.secret_text(&identity_file).unwrap();
            let pass = SecretString::from(PASS.to_owned());
            let bytes = keyhelm_vault::protect(&text, pass, work_factor, &identity_file).unwrap();
            keyhelm_vault::write_new_private(&identity_file, &bytes).unwrap();
        }
    }
    let state = keyhelm_home.join("state");
    let device = DeviceId::load_or_create(&state).unwrap();
    let location = Location {
        file: keyhelm_home.join("vault/vault.age"),
        state_dir: state,
    };
    let vault = Vault::new(location, identity, device);
    vault
        .update(|s| {
            for i in 0..n {
                s.put_credential(Credential {
                    key: CredentialKey {
                        protocol: "https".into(),
                        host: host(i),
                        path: None,
                        username: Some(format!("user{i}")),
                    },
                    password: Some(format!("password-{i}-0123456789abcdef").into()),
                    password_expiry_utc: None,
                    oauth_refresh_token: None,
                    authtype: None,
                    credential: None,
                });
            }
            Ok::<_, keyhelm_vault::Error>(())
        })
        .unwrap();
    Home {
        _dir: dir,
        home,
        keyhelm_home,
    }
}

fn keyhelm() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_keyhelm"))
}

fn command(h: &Home, program: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &h.home)
        .env("KEYHELM_HOME", &h.keyhelm_home);
    cmd
}

/// Runs `cmd` with `input`; the time from spawn to exit, stdout and the exit status.
fn run(mut cmd: Command, input: &[u8]) -> (Duration, Vec<u8>, bool) {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    (start.elapsed(), out.stdout, out.status.success())
}

fn unlock(h: &Home) -> Duration {
    let mut cmd = command(h, &keyhelm());
    cmd.args(["unlock", "--passphrase-from-stdin", "--ttl", "30m"]);
    let (t, _, ok) = run(cmd, format!("{PASS}\n").as_bytes());
    assert!(ok, "keyhelm unlock failed");
    t
}

fn lock(h: &Home) {
    let mut cmd = command(h, &keyhelm());
    cmd.arg("lock");
    run(cmd, b"");
}

fn percentile(xs: &mut [Duration], p: usize) -> Duration {
    xs.sort();
    xs[(xs.len() * p / 100).min(xs.len() - 1)]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    let sizes: Vec<usize> = opt("--sizes")
        .map(|s| s.split(',').map(|n| n.parse().unwrap()).collect())
        .unwrap_or_else(|| vec![1, 100, 1_000]);
    let runs: usize = opt("--runs").map(|r| r.parse().unwrap()).unwrap_or(200);
    let unlock_runs: usize = opt("--unlock-runs")
        .map(|r| r.parse().unwrap())
        .unwrap_or(3);

    println!("whole-process `keyhelm get`, {runs} runs per cell (interleaved)");
    println!(
        "{:>7}  {:>13}  {:>13}  {:>13}  {:>13}  {:>7}",
        "entries", "plain median", "agent median", "plain p90", "agent p90", "agent/plain"
    );
    for n in sizes {
        let plain = setup(n, None);
        // The work factor only affects unlocking, which is not timed here.
        let protected = setup(n, Some(keyhelm_vault::MIN_WORK_FACTOR));
        unlock(&protected);
        let request = format!("protocol=https\nhost={}\n", host(0));
        let expected = b"password=password-0-0123456789abcdef";
        let mut times = [Vec::new(), Vec::new()];
        for round in 0..runs + 5 {
            for (i, h) in [&plain, &protected].into_iter().enumerate() {
                let mut cmd = command(h, &keyhelm());
                cmd.arg("get");
                let (t, out, ok) = run(cmd, request.as_bytes());
                assert!(
                    ok && out.windows(expected.len()).any(|w| w == expected),
                    "lookup {i} did not answer: {}",
                    String::from_utf8_lossy(&out)
                );
                if round >= 5 {
                    times[i].push(t); // The first rounds warm the page cache.
                }
            }
        }
        lock(&protected);
        let [mut p, mut a] = times;
        let (pm, am) = (percentile(&mut p, 50), percentile(&mut a, 50));
        let (p9, a9) = (percentile(&mut p, 90), percentile(&mut a, 90));
        let ms = |d: Duration| format!("{:.3} ms", d.as_secs_f64() * 1e3);
        println!(
            "{n:>7}  {:>13}  {:>13}  {:>13}  {:>13}  {:>7.2}",
            ms(pm),
            ms(am),
            ms(p9),
            ms(a9),
            am.as_secs_f64() / pm.as_secs_f64()
        );
    }

    if unlock_runs > 0 {
        let wf = keyhelm_vault::DEFAULT_WORK_FACTOR;
        let h = setup(1, Some(wf));
        let mut times: Vec<Duration> = (0..unlock_runs)
            .map(|_| {
                let t = unlock(&h);
                lock(&h);
                t
            })
            .collect();
        println!(
            "`keyhelm unlock` at the default scrypt work factor {wf}: median {:.0} ms of {unlock_runs} \
             (scrypt, then starting the agent)",
            percentile(&mut times, 50).as_secs_f64() * 1e3
        );
    }
}
