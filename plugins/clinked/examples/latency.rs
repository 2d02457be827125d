//! Measures whole-process latency of `keyhelm token` for a Clinked account against the fake:
//! the first login (password grant, registration, client-credentials grant), a renewal
//! (plugin loaded, one client-credentials grant), and a cached answer (no plugin loaded).
//!
//! ```sh
//! cargo run -p keyhelm-clinked --example latency            # debug builds of keyhelm and the plugin
//! KEYHELM_BIN=target/release/keyhelm CLINKED_PLUGIN=target/release/libkeyhelm_clinked.so \
//!   cargo run -p keyhelm-clinked --example latency          # any other builds
//! ```
//!
//! A measurement script, not a test: it prints numbers and asserts nothing about them.
#![allow(clippy::print_stdout)]

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use keyhelm_testkit::bins::{IsolatedEnv, keyhelm_bin, plugin_cdylib};
use keyhelm_testkit::clinked::{ClinkedConfig, ClinkedUser, FakeClinked};

const RUNS: usize = 50;

fn path_from(var: &str, build: impl FnOnce() -> PathBuf) -> PathBuf {
    std::env::var_os(var).map_or_else(build, PathBuf::from)
}

fn setup(bin: &PathBuf, plugin: &PathBuf, config: ClinkedConfig) -> (IsolatedEnv, FakeClinked) {
    let fake = FakeClinked::start_with(config);
    fake.add_user(ClinkedUser::new("jack", "pw"));
    let env = IsolatedEnv::new().unwrap();
    let dir = env.keyhelm_home().join("plugins");
    std::fs::create_dir_all(&dir).unwrap();
    for d in [env.keyhelm_home(), dir.clone()] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let installed = dir.join("libkeyhelm_clinked.so");
    std::fs::copy(plugin, &installed).unwrap();
    std::fs::set_permissions(&installed, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut add = env.command(bin);
    add.args(["account", "add", "work", "--provider", "clinked", "--url"])
        .arg(fake.base_url())
        .args(["--set", "username=jack", "--secrets-from-stdin"]);
    let mut child = add
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"password=pw\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
    (env, fake)
}

fn token(env: &IsolatedEnv, bin: &PathBuf) -> Duration {
    let mut cmd: Command = env.command("setsid");
    cmd.arg("--wait").arg(bin).args(["token", "work"]);
    let start = Instant::now();
    let out = cmd.stdout(Stdio::piped()).output().unwrap();
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{what:<44} n={:<3} median {:>7.2} ms  min {:>7.2} ms  max {:>7.2} ms",
        samples.len(),
        ms(samples[samples.len() / 2]),
        ms(samples[0]),
        ms(samples[samples.len() - 1])
    );
}

fn main() {
    let bin = path_from("KEYHELM_BIN", keyhelm_bin);
    let plugin = path_from("CLINKED_PLUGIN", || plugin_cdylib("keyhelm-clinked"));
    println!("keyhelm {}\nplugin  {}", bin.display(), plugin.display());

    let mut first = Vec::new();
    let mut cached = Vec::new();
    for i in 0..RUNS {
        let (env, _fake) = setup(&bin, &plugin, ClinkedConfig::default());
        first.push(token(&env, &bin));
        if i == 0 {
            for _ in 0..RUNS {
                cached.push(token(&env, &bin));
            }
        }
    }
    report("first login (3 requests)", first);
    report("cached token (no plugin loaded)", cached);

    // A 1 s lifetime: keyhelm's safety margin makes every lookup a renewal.
    let (env, fake) = setup(
        &bin,
        &plugin,
        ClinkedConfig {
            access_ttl: Duration::from_secs(1),
            ..ClinkedConfig::default()
        },
    );
    token(&env, &bin);
    let mut renewals = Vec::new();
    for _ in 0..RUNS {
        fake.clock().advance(Duration::from_secs(2));
        renewals.push(token(&env, &bin));
    }
    report("renewal (plugin + client-credentials grant)", renewals);
}
