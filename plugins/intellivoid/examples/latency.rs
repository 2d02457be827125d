//! Whole-process latency of `keyhelm token` with a cached token (no plugin load), of a
//! renewal by use (plugin load, `get_user`, `get_access_token` at the loopback fake), and of
//! a whole `keyhelm login` on a pseudo-terminal (request, one 41 before the URL is shown,
//! the approval at the next poll with `poll_interval_ms=20`, `get_user`,
//! `get_access_token`), with the same binaries and setup as the end-to-end tests.
//!
//! `cargo run -p keyhelm-intellivoid --example latency [-- RUNS]`. keyhelm and the plugin
//! are built by testkit, in the debug profile, whatever profile runs this example.
#![allow(clippy::print_stdout)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use keyhelm_testkit::intellivoid::{Permission, ROUTE_REQUEST_AUTHENTICATION};

fn measure(runs: usize, mut f: impl FnMut()) -> Vec<Duration> {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times
}

fn report(what: &str, t: &[Duration]) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{what:<44} runs {:>3}  min {:>7.2} ms  median {:>7.2} ms  max {:>7.2} ms",
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
    let grant = [Permission::ReadUsername, Permission::GetUserDisplay];

    let cached = support::World::new();
    cached.add_account(&[]);
    cached.auto_approve(1, &grant);
    assert!(cached.login().0.success());
    let token = cached.token();
    let before = cached.fake.requests().len();
    report(
        "keyhelm token (cached)",
        &measure(runs, || assert_eq!(cached.token(), token)),
    );
    assert_eq!(cached.fake.requests().len(), before, "no plugin call");

    let stale = support::World::short_lived_tokens();
    stale.add_account(&[]);
    stale.auto_approve(1, &grant);
    assert!(stale.login().0.success());
    let token = stale.token();
    report(
        "keyhelm token (renewal by use)",
        &measure(runs, || assert_eq!(stale.token(), token)),
    );
    assert_eq!(stale.count(ROUTE_REQUEST_AUTHENTICATION), 1, "no new login");

    report(
        "keyhelm login on a pty (approved at poll 2)",
        &measure(runs, || assert!(cached.login().0.success())),
    );
}
