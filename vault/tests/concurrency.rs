//! Many writers at once, as when git runs several helpers in parallel: no write is lost.

mod common;

use std::collections::BTreeSet;

use common::*;

const WRITERS: usize = 32;
const WRITES_EACH: usize = 4;

fn check_all_present(setup: &Setup, prefixes: impl Iterator<Item = String>) {
    let vault = setup.vault();
    let s = vault.read().unwrap();
    let hosts: BTreeSet<String> = s.credentials().map(|c| c.key.host.clone()).collect();
    let mut expected = BTreeSet::new();
    for prefix in prefixes {
        for i in 0..WRITES_EACH {
            expected.insert(format!("{prefix}-{i}.example"));
        }
    }
    let missing: Vec<&String> = expected.difference(&hosts).collect();
    assert!(missing.is_empty(), "lost writes: {missing:?}");
    assert_eq!(hosts.len(), expected.len());
    for c in s.credentials() {
        assert_eq!(password(c), format!("secret-for-{}", c.key.host));
    }
    // Every update was counted, by the one device id all writers share.
    assert_eq!(
        s.version_vector().get(&vault.device()),
        Some(&((WRITERS * WRITES_EACH) as u64))
    );
}

#[test]
fn thirty_two_threads() {
    let setup = Setup::new();
    std::thread::scope(|scope| {
        for t in 0..WRITERS {
            let setup = &setup;
            scope.spawn(move || {
                // Each thread opens its own handle, like a separate helper would.
                let vault = setup.vault();
                for i in 0..WRITES_EACH {
                    let host = format!("thread{t}-{i}.example");
                    store_host(&vault, &host);
                }
            });
        }
    });
    check_all_present(&setup, (0..WRITERS).map(|t| format!("thread{t}")));
}

fn store_host(vault: &keyhelm_vault::Vault, host: &str) {
    vault
        .update(|s| {
            let mut c = credential(host, Some("writer"), &format!("secret-for-{host}"));
            c.key.username = Some("writer".into());
            s.put_credential(c);
            Ok::<_, keyhelm_vault::Error>(())
        })
        .unwrap();
}

#[test]
fn thirty_two_processes() {
    let setup = Setup::new();
    // The device id exists before the processes start, as it would on a used machine.
    setup.vault();
    let children: Vec<_> = (0..WRITERS)
        .map(|p| {
            writer(&setup, &format!("proc{p}"), WRITES_EACH as u64)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        let status = child.wait().unwrap();
        assert!(status.success(), "a writer failed: {status}");
    }
    check_all_present(&setup, (0..WRITERS).map(|p| format!("proc{p}")));
}

#[test]
fn readers_run_alongside_writers() {
    let setup = Setup::new();
    store_host(&setup.vault(), "seed-0.example");
    std::thread::scope(|scope| {
        for t in 0..4 {
            let setup = &setup;
            scope.spawn(move || {
                let vault = setup.vault();
                for i in 0..WRITES_EACH {
                    store_host(&vault, &format!("w{t}-{i}.example"));
                }
            });
        }
        for _ in 0..4 {
            let setup = &setup;
            scope.spawn(move || {
                let vault = setup.vault();
                let mut last = 0;
                for _ in 0..20 {
                    // Every read sees a complete vault, never fewer entries than before.
                    let n = vault.read().unwrap().len();
                    assert!(n >= last);
                    last = n;
                }
            });
        }
    });
    assert_eq!(setup.vault().read().unwrap().len(), 1 + 4 * WRITES_EACH);
}

#[test]
fn reads_and_writes_wait_for_the_lock_holder() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let setup = Setup::new();
    store_host(&setup.vault(), "seed-0.example");
    // Another process holds the exclusive lock (mid-write).
    let holder = std::fs::File::options()
        .read(true)
        .write(true)
        .open(setup.location.lock_file())
        .unwrap();
    holder.lock().unwrap();
    let read_done = AtomicBool::new(false);
    let write_done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            setup.vault().read().unwrap();
            read_done.store(true, Ordering::SeqCst);
        });
        scope.spawn(|| {
            store_host(&setup.vault(), "w-0.example");
            write_done.store(true, Ordering::SeqCst);
        });
        // Not a timing assertion: while the lock is held, neither can finish, however long
        // we wait; the pause only gives them the chance to misbehave.
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(
            !read_done.load(Ordering::SeqCst),
            "a read went past an exclusive lock"
        );
        assert!(
            !write_done.load(Ordering::SeqCst),
            "a write went past an exclusive lock"
        );
        holder.unlock().unwrap();
    });
    assert!(read_done.load(Ordering::SeqCst) && write_done.load(Ordering::SeqCst));
    assert_eq!(setup.vault().read().unwrap().len(), 2);
}
