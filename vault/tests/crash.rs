//! A writer killed with SIGKILL at random points leaves a vault that opens, with either the
//! content before or after the write it was doing.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader};
use std::process::Stdio;
use std::time::Duration;

use common::*;

/// Iterations; `KEYHELM_CRASH_ITERATIONS` raises it for a longer soak.
fn iterations() -> usize {
    std::env::var("KEYHELM_CRASH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60)
}

#[test]
fn killed_writers_leave_the_old_or_the_new_vault() {
    let setup = Setup::new();
    let vault = setup.vault();
    // Some content to lose, if anything went wrong.
    store(&vault, "base.example", "base-password");
    let mut acknowledged_total = BTreeSet::new();
    let mut kills_mid_run = 0;

    for round in 0..iterations() {
        let prefix = format!("r{round}");
        let mut child = writer(&setup, &prefix, 1_000_000)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        // Kill anywhere from process start-up to well into the write loop.
        std::thread::sleep(Duration::from_micros(random_below(60_000)));
        child.kill().unwrap(); // SIGKILL on Unix
        let status = child.wait().unwrap();
        // Every "ok <i>" line was printed after update() returned: those writes are durable.
        let out = BufReader::new(child.stdout.take().unwrap());
        let acked: Vec<u64> = out
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| l.strip_prefix("ok ").and_then(|n| n.parse().ok()))
            .collect();
        // A temporary file left behind means the kill hit the middle of a write.
        let temp_left = std::fs::read_dir(setup.file().parent().unwrap())
            .unwrap()
            .any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".tmp"));
        if !status.success() && (temp_left || !acked.is_empty()) {
            kills_mid_run += 1;
        }

        // The vault opens (never damaged) ...
        let s = vault
            .read()
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        // ... with every write acknowledged so far, in this round and before ...
        let hosts: BTreeSet<String> = s.credentials().map(|c| c.key.host.clone()).collect();
        for i in &acked {
            acknowledged_total.insert(format!("{prefix}-{i}.example"));
        }
        let lost: Vec<&String> = acknowledged_total.difference(&hosts).collect();
        assert!(lost.is_empty(), "round {round}: lost {lost:?}");
        assert!(hosts.contains("base.example"));
        // ... plus at most the one write that was in flight (the new content), nothing else.
        let ours: Vec<u64> = hosts
            .iter()
            .filter_map(|h| {
                h.strip_prefix(&format!("{prefix}-"))?
                    .strip_suffix(".example")?
                    .parse()
                    .ok()
            })
            .collect();
        let expected_done = acked.len() as u64;
        assert!(
            ours.len() as u64 == expected_done || ours.len() as u64 == expected_done + 1,
            "round {round}: {} acknowledged, {} in the vault",
            expected_done,
            ours.len()
        );
        assert!(
            ours.iter().all(|i| *i <= expected_done),
            "round {round}: a write out of order"
        );
        if ours.len() as u64 > expected_done {
            acknowledged_total.insert(format!("{prefix}-{expected_done}.example"));
        }
        // A backup is always a whole vault.
        for b in setup.location.backups().unwrap() {
            vault
                .read_file(&b)
                .unwrap_or_else(|e| panic!("round {round}: backup {e}"));
        }
    }
    // The writers did get killed in the middle of their work, not only before it started.
    assert!(
        kills_mid_run > 0,
        "no writer was killed mid-run; the test proved nothing"
    );

    // The next ordinary write works and clears any temporary file a killed writer left.
    store(&vault, "after.example", "pw");
    let dir = setup.file().parent().unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "vault.age")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
