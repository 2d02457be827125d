//! Load cost of a plugin: what a lookup pays when a cached token is missing or stale and
//! the account's plugin must run.
//!
//! * `check`: find the file in the search folders and run every pre-load check (open with
//!   O_NOFOLLOW, owner, modes of the file and every parent folder).
//! * `check+pin`: the same plus the sha256 pin (hashing the whole file).
//! * `discover+check+load`: the full pipeline on a file never loaded before: find, check,
//!   dlopen the checked fd, entry symbol, table checks, name. Each iteration loads a fresh
//!   copy (made, untimed, in the setup), because a library already loaded is only looked
//!   up again. Plugins are never unloaded, so this benchmark keeps its sample count low.
//! * `call get`: one `get` on a loaded plugin that needs no HTTP (JSON both ways, host
//!   table, catch_unwind): the per-call overhead of the ABI.
//!
//! Run: `cargo bench -p keyhelm --bench plugin_load`.

#[path = "../tests/plugin_support/mod.rs"]
mod plugin_support;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use keyhelm::plugin::{self, HostServices};
use keyhelm_core::msg::{Account, CredentialRequest, GetRequest};
use keyhelm_core::secrecy::SecretString;

fn bench(c: &mut Criterion) {
    let dir = plugin_support::private_dir();
    let master = plugin_support::install_from("release", "good", "good", dir.path());
    // Strip symbols so each fresh copy is a realistic release plugin without debug data.
    let _ = std::process::Command::new("strip").arg(&master).status();
    let dirs = vec![dir.path().to_path_buf()];
    let pin = plugin::file_sha256(&master).unwrap();

    c.bench_function("check", |b| {
        b.iter(|| {
            let path = plugin::find_plugin("good", &dirs).unwrap();
            plugin::verify_file(&path, None).unwrap()
        })
    });
    c.bench_function("check+pin", |b| {
        b.iter(|| {
            let path = plugin::find_plugin("good", &dirs).unwrap();
            plugin::verify_file(&path, Some(&pin)).unwrap()
        })
    });

    let copies = plugin_support::private_dir();
    let n = AtomicUsize::new(0);
    let mut group = c.benchmark_group("load");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(50))
        .measurement_time(Duration::from_millis(500))
        .sampling_mode(criterion::SamplingMode::Flat);
    group.bench_function("discover+check+load", |b| {
        b.iter_batched(
            || {
                // A fresh folder and inode per iteration.
                let i = n.fetch_add(1, Ordering::Relaxed);
                let d: PathBuf = copies.path().join(i.to_string());
                std::fs::create_dir(&d).unwrap();
                let p = d.join(plugin::plugin_file_name("good"));
                std::fs::copy(&master, &p).unwrap();
                vec![d]
            },
            |dirs| {
                let path = plugin::find_plugin("good", &dirs).unwrap();
                let checked = plugin::verify_file(&path, None).unwrap();
                let p = plugin::load_verified(checked, "good").unwrap();
                // The mapping keeps the inode; free the disk space at exit.
                let _ = std::fs::remove_file(&path);
                p
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();

    let p = plugin::load_plugin("good", &master, Some(&pin)).unwrap();
    let svc = HostServices::new("bench");
    let mut account = Account::new("bench");
    account
        .secrets
        .insert("seed".into(), SecretString::from("s33d"));
    let req = GetRequest::new(account, CredentialRequest::default(), None);
    c.bench_function("call get", |b| b.iter(|| p.get(&svc, &req).unwrap()));
}

criterion_group!(benches, bench);
criterion_main!(benches);
