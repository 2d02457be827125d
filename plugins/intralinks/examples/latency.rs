//! Whole-process latency of `keyhelm token` (cached token: no plugin load) and
//! `keyhelm login` (plugin load plus one login at the loopback Intralinks fake), with the
//! same binaries and setup as the end-to-end tests.
//!
//! `cargo run -p keyhelm-intralinks --example latency [-- RUNS]` (debug build by default;
//! add `--release` for release numbers, which rebuilds keyhelm and the plugin in release).
#![allow(clippy::print_stdout)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use keyhelm_testkit::bins::{keyhelm_bin, run};

fn measure(sandbox: &support::Sandbox, args: &[&str], runs: usize) -> Vec<Duration> {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            run(sandbox.env.command(keyhelm_bin()).args(args)).expect("keyhelm succeeds");
            start.elapsed()
        })
        .collect();
    times.sort();
    times
}

fn report(what: &str, t: &[Duration]) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{what:<40} runs {:>3}  min {:>7.2} ms  median {:>7.2} ms  max {:>7.2} ms",
        t.len(),
        ms(t[0]),
        ms(t[t.len() / 2]),
        ms(t[t.len() - 1])
    );
}

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(30);
    let fake = support::fake();
    let sandbox = support::Sandbox::new();
    sandbox.add("work", &fake.base_url(), &[]);
    sandbox.token("work");
    let before = fake.token_requests();
    report(
        "keyhelm token (cached)",
        &measure(&sandbox, &["token", "work"], runs),
    );
    assert_eq!(
        fake.token_requests(),
        before,
        "the cached runs made no login"
    );
    report(
        "keyhelm login (plugin + 1 login)",
        &measure(&sandbox, &["login", "work"], runs),
    );
    assert_eq!(fake.token_requests(), before + runs);
}
