//! Many helpers at once (git runs several) and writers killed mid-write.

mod support;

use std::process::{Child, Stdio};
use std::time::Duration;

use support::{Sandbox, keyhelm_bin, text};

fn count(s: &Sandbox) -> usize {
    let out = s.keyhelm(&["list", "--json"], b"");
    assert!(
        out.status.success(),
        "the vault must open: {}",
        text(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    json["credentials"].as_array().unwrap().len()
}

/// Starts `keyhelm store` with `input` on its stdin (then closed) and stdout dropped.
fn spawn_store(s: &Sandbox, input: &str, stderr: Stdio) -> Child {
    let mut child = s
        .command(keyhelm_bin())
        .arg("store")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), input.as_bytes()).unwrap();
    drop(child.stdin.take());
    child
}

/// Runs one `keyhelm store` per input, all at once; every one must succeed.
fn store_all_at_once(s: &Sandbox, inputs: impl Iterator<Item = String>) {
    let children: Vec<_> = inputs
        .map(|input| spawn_store(s, &input, Stdio::piped()))
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
}

#[test]
fn thirty_two_processes_storing_at_once_lose_nothing() {
    let s = Sandbox::new();
    // Start from an existing vault so that every process takes the read-modify-write path.
    s.approve("protocol=https\nhost=seed.tld\nusername=u\npassword=p\n");
    store_all_at_once(
        &s,
        (0..32).map(|i| {
            format!("protocol=https\nhost=host{i}.tld\nusername=user{i}\npassword=pw{i}\n")
        }),
    );
    assert_eq!(count(&s), 33);
    for i in 0..32 {
        let out = s.keyhelm(
            &["get"],
            format!("protocol=https\nhost=host{i}.tld\n").as_bytes(),
        );
        assert_eq!(
            text(&out.stdout),
            format!("username=user{i}\npassword=pw{i}\n")
        );
    }
}

#[test]
fn a_writer_killed_at_any_point_leaves_the_old_or_the_new_vault() {
    let s = Sandbox::new();
    s.approve("protocol=https\nhost=seed.tld\nusername=u\npassword=p\n");
    // A cheap deterministic pseudo-random sequence of kill delays between 0 and ~8 ms.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut stored = 1;
    for round in 0..60 {
        let input = format!("protocol=https\nhost=k{round}.tld\nusername=u\npassword=p{round}\n");
        let mut child = spawn_store(&s, &input, Stdio::null());
        std::thread::sleep(Duration::from_micros(next() % 8000));
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        let n = count(&s);
        // Either the write completed (one more entry) or it did not happen at all.
        if status.success() {
            stored += 1;
            assert_eq!(n, stored, "round {round}: a completed write was lost");
        } else {
            assert!(
                n == stored || n == stored + 1,
                "round {round}: {n} entries, expected {stored}"
            );
            stored = n;
        }
    }
    // No temporary files are left behind in the vault's folder for long: at most the ones
    // of killed writers, which never shadow the vault itself.
    let vault_dir = s.vault_file().parent().unwrap().to_owned();
    assert!(vault_dir.join("vault.age").exists());
}

#[test]
fn the_first_stores_of_a_new_device_at_once_create_one_identity() {
    // git may run several helpers at once on a device that was never set up: they race to
    // create the identity, and none may fail or end up with a key of its own.
    for _ in 0..5 {
        let s = Sandbox::new();
        store_all_at_once(
            &s,
            (0..8).map(|i| format!("protocol=https\nhost=new{i}.tld\nusername=u\npassword=p{i}\n")),
        );
        assert_eq!(count(&s), 8);
    }
}
