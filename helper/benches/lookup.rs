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

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Home, Options, credential, median, ms, password, run};

fn host(i: usize) -> String {
    format!("host{i}.example.com")
}

fn setup(n: usize) -> Home {
    let h = Home::new();
    // keyhelm: written through the vault library in one update.
    let identity = h.write_plain_identity();
    h.store(identity, (0..n).map(|i| credential("https", host(i), i)));
    // credential-store: its file, newest first as `git credential-store store` writes it.
    h.write_git_credentials((0..n).rev().map(|i| (i, host(i))));
    // credential-cache: a daemon fed through its own protocol.
    for i in 0..n {
        let input = format!(
            "protocol=https\nhost={}\nusername=user{i}\npassword={}\n",
            host(i),
            password(i)
        );
        run(cache_cmd(&h, "store"), input.as_bytes());
    }
    h
}

fn git() -> &'static Path {
    Path::new("git")
}

fn cache_cmd(h: &Home, op: &str) -> Command {
    h.command(git(), &["credential-cache", "--timeout=3600", op])
}

fn main() {
    let opts = Options::from_env();
    let sizes = opts.sizes(&[1, 100, 1_000, 10_000]);
    let runs: usize = opts.get("--runs", 100);
    let keyhelm: PathBuf = common::keyhelm_bin();

    println!("whole-process lookup, median of {runs} runs per cell (interleaved)");
    println!(
        "{:>7}  {:>12}  {:>12}  {:>12}  {:>14}  {:>14}",
        "entries", "keyhelm", "cred-store", "cred-cache", "keyhelm/store", "keyhelm/cache"
    );
    for n in sizes {
        let h = setup(n);
        // Ask for the oldest entry: the last line of credential-store's file.
        let request = format!("protocol=https\nhost={}\n", host(0));
        let expected = b"password=password-0-0123456789abcdef";
        let times = common::interleaved(runs, |i| {
            let cmd = match i {
                0 => h.command(&keyhelm, &["get"]),
                1 => h.command(git(), &["credential-store", "get"]),
                _ => cache_cmd(&h, "get"),
            };
            let (t, out) = run(cmd, request.as_bytes());
            assert!(
                out.stdout.windows(expected.len()).any(|w| w == expected),
                "tool {i} did not answer: {}",
                String::from_utf8_lossy(&out.stdout)
            );
            t
        });
        let [k, st, c]: [Duration; 3] = times.map(median);
        println!(
            "{n:>7}  {:>12}  {:>12}  {:>12}  {:>14.2}  {:>14.2}",
            ms(k),
            ms(st),
            ms(c),
            k.as_secs_f64() / st.as_secs_f64(),
            k.as_secs_f64() / c.as_secs_f64()
        );
        let _ = run(cache_cmd(&h, "exit"), b"");
    }
}
