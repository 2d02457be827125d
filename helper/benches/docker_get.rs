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

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Home, Options, credential, median, ms, run};
use keyhelm_vault::{Account, CachedToken};

fn registry(i: usize) -> String {
    format!("registry{i}.example.com")
}

fn setup(n: usize) -> Home {
    let h = Home::new();
    let identity = h.write_plain_identity();
    std::fs::create_dir_all(h.keyhelm_home.join("plugins")).unwrap();
    let far = 4_102_444_800; // 2100-01-01
    h.vault(identity)
        .update(|s| {
            // Half docker's, half git's: both front-ends read the whole vault.
            for i in 0..n {
                let (protocol, host) = if i % 2 == 0 {
                    ("docker", registry(i))
                } else {
                    ("https", format!("git{i}.example.com"))
                };
                s.put_credential(credential(protocol, host, i));
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
    h.write_git_credentials((0..n.max(1)).rev().map(|i| (i, registry(i))));
    h
}

fn main() {
    let opts = Options::from_env();
    let sizes = opts.sizes(&[1, 100, 1_000, 10_000]);
    let runs: usize = opts.get("--runs", 100);
    let helper = PathBuf::from(env!("CARGO_BIN_EXE_docker-credential-keyhelm"));
    let keyhelm = common::keyhelm_bin();
    let git = Path::new("git");

    println!("whole-process latency, median of {runs} runs per cell (interleaved)");
    println!(
        "{:>7}  {:>11}  {:>11}  {:>11}  {:>11}  {:>11}  {:>11}",
        "entries", "docker get", "account", "not found", "list", "keyhelm get", "cred-store"
    );
    for n in sizes {
        let h = setup(n);
        let oldest = registry(0);
        let git_request = format!("protocol=https\nhost={oldest}\n");
        // Each cell: the command, its stdin, and text its answer must contain.
        let cell = |i: usize| -> (Command, Vec<u8>, String) {
            match i {
                0 => (
                    h.command(&helper, &["get"]),
                    oldest.clone().into_bytes(),
                    "\"Secret\":\"password-0-".to_owned(),
                ),
                1 => (
                    h.command(&helper, &["get"]),
                    b"account.example.com".to_vec(),
                    "\"Secret\":\"account-token-".to_owned(),
                ),
                2 => (
                    h.command(&helper, &["get"]),
                    b"unknown.example.com".to_vec(),
                    "credentials not found in native keychain".to_owned(),
                ),
                3 => (
                    h.command(&helper, &["list"]),
                    b"unused".to_vec(),
                    format!("\"{oldest}\":\"user0\""),
                ),
                4 => (
                    h.command(&keyhelm, &["get"]),
                    // git's lookup of a host that only docker has: a miss after the full read.
                    git_request.clone().into_bytes(),
                    String::new(),
                ),
                _ => (
                    h.command(git, &["credential-store", "get"]),
                    git_request.clone().into_bytes(),
                    "password=password-0-".to_owned(),
                ),
            }
        };
        let times: [_; 6] = common::interleaved(runs, |i| {
            let (cmd, input, expected) = cell(i);
            let (t, out) = run(cmd, &input);
            let out = String::from_utf8_lossy(&out.stdout);
            assert!(out.contains(&expected), "cell {i} answered: {out}");
            t
        });
        let medians = times.map(|t| ms(median(t)));
        println!(
            "{n:>7}  {:>11}  {:>11}  {:>11}  {:>11}  {:>11}  {:>11}",
            medians[0], medians[1], medians[2], medians[3], medians[4], medians[5]
        );
    }
}
