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

mod common;

use std::time::Duration;

use common::{Home, Options, credential, keyhelm_bin, ms, percentile, run};
use keyhelm_vault::Identity;
use secrecy::SecretString;

const PASS: &str = "bench passphrase";

fn host(i: usize) -> String {
    format!("host{i}.example.com")
}

/// A keyhelm home with `n` credentials; the identity is protected with `work_factor` when given.
fn setup(n: usize, protected: Option<u8>) -> Home {
    let h = Home::new();
    let identity = match protected {
        None => h.write_plain_identity(),
        Some(work_factor) => {
            let identity_file = h.identity_file();
            let identity = Identity::generate();
            let text = identity.secret_text(&identity_file).unwrap();
            let pass = SecretString::from(PASS.to_owned());
            let bytes = keyhelm_vault::protect(&text, pass, work_factor, &identity_file).unwrap();
            keyhelm_vault::write_new_private(&identity_file, &bytes).unwrap();
            identity
        }
    };
    h.store(identity, (0..n).map(|i| credential("https", host(i), i)));
    h
}

fn unlock(h: &Home) -> Duration {
    let cmd = h.command(
        &keyhelm_bin(),
        &["unlock", "--passphrase-from-stdin", "--ttl", "30m"],
    );
    let (t, out) = run(cmd, format!("{PASS}\n").as_bytes());
    assert!(out.status.success(), "keyhelm unlock failed");
    t
}

fn lock(h: &Home) {
    run(h.command(&keyhelm_bin(), &["lock"]), b"");
}

fn main() {
    let opts = Options::from_env();
    let sizes = opts.sizes(&[1, 100, 1_000]);
    let runs: usize = opts.get("--runs", 200);
    let unlock_runs: usize = opts.get("--unlock-runs", 3);

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
        let [mut p, mut a] = common::interleaved(runs, |i| {
            let h = [&plain, &protected][i];
            let (t, out) = run(h.command(&keyhelm_bin(), &["get"]), request.as_bytes());
            assert!(
                out.status.success() && out.stdout.windows(expected.len()).any(|w| w == expected),
                "lookup {i} did not answer: {}",
                String::from_utf8_lossy(&out.stdout)
            );
            t
        });
        lock(&protected);
        let (pm, am) = (percentile(&mut p, 50), percentile(&mut a, 50));
        let (p9, a9) = (percentile(&mut p, 90), percentile(&mut a, 90));
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
