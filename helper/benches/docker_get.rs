//! Whole-process latency of `docker-credential-keyhelm`, the way docker spawns it (request
//! on stdin, answer on stdout), timed from spawn to exit, side by side with `keyhelm get`
//! (git) and `git credential-store get` on the same number of stored credentials.
//!
//! Rows: `get` of a stored credential (the oldest), `get` answered from an account's cached
//! token (no plugin is loaded: the plugin folder is empty), `get` of an unknown registry
//! (docker's "not found"), and `list`. `docker build` calls `list` and then `get` for every
//! registry, so these are the costs it pays per registry.
//!
//! Run: `cargo bench -p keyhelm --bench docker_get` (release build). Options after `--`:
//! `--sizes 1,100`, `--runs 200`.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use keyhelm_vault::{
    Account, CachedToken, Credential, CredentialKey, DeviceId, Identity, Location, Vault,
};

struct Setup {
    _dir: tempfile::TempDir,
    home: PathBuf,
    keyhelm_home: PathBuf,
}

fn registry(i: usize) -> String {
    format!("registry{i}.example.com")
}

fn setup(n: usize) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let keyhelm_home = dir.path().join("keyhelm");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(keyhelm_home.join("plugins")).unwrap();
    let identity = Identity::generate();
    identity
        .write_new(&keyhelm_home.join("identity.txt"))
        .unwrap();
    let state = keyhelm_home.join("state");
    let device = DeviceId::load_or_create(&state).unwrap();
    let vault = Vault::new(
        Location {
            file: keyhelm_home.join("vault/vault.age"),
            state_dir: state,
        },
        Identity::from_file(&keyhelm_home.join("identity.txt")).unwrap(),
        device,
    );
    let far = 4_102_444_800; // 2100-01-01
    vault
        .update(|s| {
            // Half docker's, half git's: both front-ends read the whole vault.
            for i in 0..n {
                let (protocol, host) = if i % 2 == 0 {
                    ("docker", registry(i))
                } else {
                    ("https", format!("git{i}.example.com"))
                };
                s.put_credential(Credential {
                    key: CredentialKey {
                        protocol: protocol.into(),
                        host,
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
            s.put_account(Account {
                name: "work".into(),
                provider: "absent".into(),
                url: "https://api.example.com".into(),
                matches: vec!["https://account.example.com".into()],
                settings: Default::default(),
                secrets: Default::default(),
            });
            s.put_token(CachedToken {
                account: "work".into(),
                secret: "account-token-0123456789abcdef".into(),
                username: Some("robot".into()),
                authtype: None,
                expires_at: Some(far),
                obtained_at: 0,
                info: serde_json::Value::Null,
            });
            Ok::<_, keyhelm_vault::Error>(())
        })
        .unwrap();
    // git credential-store's file, newest first, with as many lines.
    let lines: String = (0..n.max(1))
        .rev()
        .map(|i| {
            format!(
                "https://user{i}:password-{i}-0123456789abcdef@{}\n",
                registry(i)
            )
        })
        .collect();
    std::fs::write(home.join(".git-credentials"), lines).unwrap();
    Setup {
        _dir: dir,
        home,
        keyhelm_home,
    }
}

fn command(s: &Setup, program: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &s.home)
        .env("KEYHELM_HOME", &s.keyhelm_home)
        .env("GIT_CONFIG_NOSYSTEM", "1");
    cmd
}

fn run(mut cmd: Command, input: &[u8]) -> (Duration, Vec<u8>) {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // `list` never reads its stdin: a closed pipe is expected there.
    let _ = child.stdin.take().unwrap().write_all(input);
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
    let helper = PathBuf::from(env!("CARGO_BIN_EXE_docker-credential-keyhelm"));
    let keyhelm = PathBuf::from(env!("CARGO_BIN_EXE_keyhelm"));
    let git = PathBuf::from("git");

    println!("whole-process latency, median of {runs} runs per cell (interleaved)");
    println!(
        "{:>7}  {:>11}  {:>11}  {:>11}  {:>11}  {:>11}  {:>11}",
        "entries", "docker get", "account", "not found", "list", "keyhelm get", "cred-store"
    );
    for n in sizes {
        let s = setup(n);
        let oldest = registry(0);
        let git_request = format!("protocol=https\nhost={oldest}\n");
        // Each cell: the command, its stdin, and text its answer must contain.
        let make = || -> Vec<(Command, Vec<u8>, String)> {
            vec![
                (
                    command(&s, &helper, &["get"]),
                    oldest.clone().into_bytes(),
                    "\"Secret\":\"password-0-".to_owned(),
                ),
                (
                    command(&s, &helper, &["get"]),
                    b"account.example.com".to_vec(),
                    "\"Secret\":\"account-token-".to_owned(),
                ),
                (
                    command(&s, &helper, &["get"]),
                    b"unknown.example.com".to_vec(),
                    "credentials not found in native keychain".to_owned(),
                ),
                (
                    command(&s, &helper, &["list"]),
                    b"unused".to_vec(),
                    format!("\"{oldest}\":\"user0\""),
                ),
                (
                    command(&s, &keyhelm, &["get"]),
                    // git's lookup of a host that only docker has: a miss after the full read.
                    git_request.clone().into_bytes(),
                    String::new(),
                ),
                (
                    command(&s, &git, &["credential-store", "get"]),
                    git_request.clone().into_bytes(),
                    "password=password-0-".to_owned(),
                ),
            ]
        };
        let mut times: Vec<Vec<Duration>> = vec![Vec::new(); 6];
        for round in 0..runs + 5 {
            for (i, (cmd, input, expected)) in make().into_iter().enumerate() {
                let (t, out) = run(cmd, &input);
                let out = String::from_utf8_lossy(&out);
                assert!(out.contains(&expected), "cell {i} answered: {out}");
                if round >= 5 {
                    times[i].push(t); // The first rounds warm the page cache.
                }
            }
        }
        let ms = |d: Duration| format!("{:.3} ms", d.as_secs_f64() * 1e3);
        let medians: Vec<String> = times.into_iter().map(|t| ms(median(t))).collect();
        println!(
            "{n:>7}  {:>11}  {:>11}  {:>11}  {:>11}  {:>11}  {:>11}",
            medians[0], medians[1], medians[2], medians[3], medians[4], medians[5]
        );
    }
}
