//! What a full read costs (open + decrypt + parse + find one key), what `keyhelm get` pays on
//! every git call (a lookup: decrypt the index and the chunks it points to), and what
//! a `store` pays (`update`: lock, read, decrypt, parse, encode, encrypt, fsync, backup,
//! rename, fsync the folder).
//!
//! `cargo bench -p keyhelm-vault`

use std::hint::black_box;
use std::io::Read as _;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use keyhelm_vault::{Credential, CredentialKey, DeviceId, Identity, Location, Lookup, Vault};

fn key(i: usize) -> CredentialKey {
    CredentialKey {
        protocol: "https".into(),
        host: format!("git{i}.example.com"),
        path: None,
        username: Some(format!("user{i}")),
    }
}

fn credential(i: usize, generation: usize) -> Credential {
    Credential {
        key: key(i),
        // The length of a GitHub token.
        password: Some(format!("ghp_{i:020}{generation:016}").into()),
        password_expiry_utc: None,
        oauth_refresh_token: None,
        authtype: None,
        credential: None,
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    vault: Vault,
    identity_file: std::path::PathBuf,
}

fn fixture(n: usize) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let identity_file = dir.path().join("identity.txt");
    Identity::generate().write_new(&identity_file).unwrap();
    let location = Location {
        file: dir.path().join("vault/vault.age"),
        state_dir: dir.path().join("state"),
    };
    let device = DeviceId::load_or_create(&location.state_dir).unwrap();
    let vault = Vault::new(
        location,
        Identity::from_file(&identity_file).unwrap(),
        device,
    );
    vault
        .update(|s| {
            for i in 0..n {
                s.put_credential(credential(i, 0));
            }
            Ok::<_, keyhelm_vault::Error>(())
        })
        .unwrap();
    Fixture {
        _dir: dir,
        vault,
        identity_file,
    }
}

fn read(c: &mut Criterion) {
    let mut group = c.benchmark_group("read");
    for n in [1usize, 100, 1_000, 10_000] {
        let f = fixture(n);
        let size = std::fs::metadata(&f.vault.location().file).unwrap().len();
        let wanted = key(n / 2);
        group.bench_with_input(
            BenchmarkId::new("open_decrypt_parse_find", format!("{n} ({size} B)")),
            &n,
            |b, _| {
                b.iter(|| {
                    let s = f.vault.read().unwrap();
                    let found = s.credential(&wanted).map(|c| c.password.is_some());
                    black_box(found.unwrap())
                })
            },
        );
        // What `keyhelm get` does: open for a lookup (header, index), then read the one
        // host's credentials (the identity is loaded outside the loop, as above).
        let identity = Identity::from_file(&f.identity_file).unwrap();
        group.bench_with_input(BenchmarkId::new("lookup_open_find", n), &n, |b, _| {
            b.iter(|| {
                let mut lookup = Lookup::open(f.vault.location(), &identity).unwrap();
                let found = lookup.credentials("https", &wanted.host).unwrap();
                black_box(found.len())
            })
        });
        // The same, finding the entry by scanning every credential (git's matching rules,
        // where the request lacks a username or path, need a scan).
        group.bench_with_input(
            BenchmarkId::new("open_decrypt_parse_scan", n),
            &n,
            |b, _| {
                b.iter(|| {
                    let s = f.vault.read().unwrap();
                    let found = s
                        .credentials()
                        .find(|c| c.key.host == wanted.host)
                        .is_some();
                    black_box(found)
                })
            },
        );
        // Baseline: age alone (read the file and decrypt it), without locking or parsing.
        let identities = age::IdentityFile::from_file(f.identity_file.display().to_string())
            .unwrap()
            .into_identities()
            .unwrap();
        group.bench_with_input(BenchmarkId::new("age_decrypt_only", n), &n, |b, _| {
            b.iter(|| {
                let bytes = std::fs::read(&f.vault.location().file).unwrap();
                let d = age::Decryptor::new_buffered(&bytes[..]).unwrap();
                let mut r = d
                    .decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
                    .unwrap();
                let mut out = Vec::with_capacity(bytes.len());
                r.read_to_end(&mut out).unwrap();
                black_box(out.len())
            })
        });
        // The identity file is read on every call too.
        if n == 1 {
            group.bench_function("identity_from_file", |b| {
                b.iter(|| black_box(Identity::from_file(&f.identity_file).unwrap()))
            });
        }
    }
    group.finish();
}

fn update(c: &mut Criterion) {
    let mut group = c.benchmark_group("update");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(8));
    for n in [1usize, 100, 1_000, 10_000] {
        let f = fixture(n);
        let mut generation = 0;
        group.bench_with_input(BenchmarkId::new("put_one_credential", n), &n, |b, _| {
            b.iter(|| {
                generation += 1;
                f.vault
                    .update(|s| {
                        s.put_credential(credential(0, generation));
                        Ok::<_, keyhelm_vault::Error>(())
                    })
                    .unwrap()
            })
        });
        // `store` of a credential the vault already holds unchanged: no write at all.
        group.bench_with_input(BenchmarkId::new("put_unchanged", n), &n, |b, _| {
            b.iter(|| {
                f.vault
                    .update(|s| {
                        s.put_credential(credential(0, generation));
                        Ok::<_, keyhelm_vault::Error>(())
                    })
                    .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, read, update);
criterion_main!(benches);
