//! Whole-process lookup latency: `keyhelm get` against `git credential-store get` and
//! `git credential-cache get`, side by side in one run, at 1, 100, 1,000 and 10,000 stored
//! credentials. Each tool is spawned the way git spawns a helper (request on stdin, answer on
//! stdout) and timed from spawn to exit; medians and ratios are printed.
//!
//! Run: `cargo bench -p keyhelm --bench lookup` (release build). Options after `--`:
//! `--sizes 1,100`, `--runs 200`.
//!
//! keyhelm's time includes reading the identity and opening the age file (its header: one
//! X25519 key agreement), then decrypting and parsing what the lookup needs: the payload's
//! first 64 KiB chunk (the index), and the chunk(s) holding that host's credentials. The
//! lookup asks for the oldest credential, which sits on the last line of credential-store's
//! file (it writes the newest first and scans from the top): the worst case for
//! credential-store, and no different from any other for keyhelm.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use keyhelm_vault::{Credential, CredentialKey, DeviceId, Identity, Location, Vault};

struct Setup {
    _dir: tempfile::TempDir,
    home: PathBuf,
    keyhelm_home: PathBuf,
}

fn host(i: usize) -> String {
    format!("host{i}.example.com")
}

fn setup(n: usize) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let keyhelm_home = dir.path().join("keyhelm");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&keyhelm_home).unwrap();

    // keyhelm: written through the vault library in one update.
    let identity = Identity::generate();
    identity
        .write_new(&keyhelm_home.join("identity.txt"))
        .unwrap();
    let state = keyhelm_home.join("state");
    let device = DeviceId::load_or_create(&state).unwrap();
    let location = Location {
        file: keyhelm_home.join("vault/vault.age"),
        state_dir: state,
    };
    let vault = Vault::new(
        location,
        Identity::from_file(&keyhelm_home.join("identity.txt")).unwrap(),
        device,
    );
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

    // credential-store: its file, newest first as `git credential-store store` writes it.
    let mut lines = String::new();
    for i in (0..n).rev() {
        lines.push_str(&format!(
            "https://user{i}:password-{i}-0123456789abcdef@{}\n",
            host(i)
        ));
    }
    std::fs::write(home.join(".git-credentials"), lines).unwrap();

    let s = Setup {
        _dir: dir,
        home,
        keyhelm_home,
    };
    // credential-cache: a daemon fed through its own protocol.
    for i in 0..n {
        let input = format!(
            "protocol=https\nhost={}\nusername=user{i}\npassword=password-{i}-0123456789abcdef\n",
            host(i)
        );
        run(&s, cache_cmd(&s, "store"), input.as_bytes());
    }
    s
}

fn base(s: &Setup, program: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &s.home)
        .env("KEYHELM_HOME", &s.keyhelm_home)
        .env("GIT_CONFIG_NOSYSTEM", "1");
    cmd
}

fn git() -> PathBuf {
    PathBuf::from("git")
}

fn cache_cmd(s: &Setup, op: &str) -> Command {
    let mut cmd = base(s, &git());
    cmd.args(["credential-cache", "--timeout=3600", op]);
    cmd
}

fn run(_s: &Setup, mut cmd: Command, input: &[u8]) -> (Duration, Vec<u8>) {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    (start.elapsed(), out.stdout)
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
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
        .unwrap_or_else(|| vec![1, 100, 1_000, 10_000]);
    let runs: usize = opt("--runs").map(|r| r.parse().unwrap()).unwrap_or(100);
    let keyhelm = PathBuf::from(env!("CARGO_BIN_EXE_keyhelm"));

    println!("whole-process lookup, median of {runs} runs per cell (interleaved)");
    println!(
        "{:>7}  {:>12}  {:>12}  {:>12}  {:>14}  {:>14}",
        "entries", "keyhelm", "cred-store", "cred-cache", "keyhelm/store", "keyhelm/cache"
    );
    for n in sizes {
        let s = setup(n);
        // Ask for the oldest entry: the last line of credential-store's file.
        let request = format!("protocol=https\nhost={}\n", host(0));
        let expected = b"password=password-0-0123456789abcdef";
        let mut times = [Vec::new(), Vec::new(), Vec::new()];
        for round in 0..runs + 5 {
            let mut k = base(&s, &keyhelm);
            k.arg("get");
            let mut st = base(&s, &git());
            st.args(["credential-store", "get"]);
            let cmds = [k, st, cache_cmd(&s, "get")];
            for (i, cmd) in cmds.into_iter().enumerate() {
                let (t, out) = run(&s, cmd, request.as_bytes());
                assert!(
                    out.windows(expected.len()).any(|w| w == expected),
                    "tool {i} did not answer: {}",
                    String::from_utf8_lossy(&out)
                );
                if round >= 5 {
                    times[i].push(t); // The first rounds warm the page cache.
                }
            }
        }
        let [k, st, c] = times.map(median);
        let ms = |d: Duration| format!("{:.3} ms", d.as_secs_f64() * 1e3);
        println!(
            "{n:>7}  {:>12}  {:>12}  {:>12}  {:>14.2}  {:>14.2}",
            ms(k),
            ms(st),
            ms(c),
            k.as_secs_f64() / st.as_secs_f64(),
            k.as_secs_f64() / c.as_secs_f64()
        );
        let _ = run(&s, cache_cmd(&s, "exit"), b"");
    }
}
