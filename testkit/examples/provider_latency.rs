//! Whole-process latency of `keyhelm` with each provider plugin against its loopback fake,
//! with the same binaries and setup as the end-to-end tests (testkit's `Sandbox`): for each
//! provider, a lookup answered from the cached token (no plugin loaded), and the lookups
//! that run the plugin:
//!
//! * Intralinks: `keyhelm login` (plugin load plus one `client_credentials` login).
//! * Clinked: the first `keyhelm token` of a new account (password grant, registration of
//!   an application, client-credentials grant; a fresh setup for each run), and a renewal
//!   (plugin load plus one client-credentials grant).
//! * Intellivoid: a renewal by use (plugin load, `get_user`, `get_access_token`), and a
//!   whole `keyhelm login` on a pseudo-terminal (request, one 41 before the URL is shown,
//!   the approval at the next poll with `poll_interval_ms=20`, `get_user`,
//!   `get_access_token`).
//!
//! ```sh
//! cargo run -p keyhelm-testkit --example provider_latency                  # all three, 30 runs
//! cargo run -p keyhelm-testkit --example provider_latency -- clinked --runs 50
//! KEYHELM_BIN=target/release/keyhelm CLINKED_PLUGIN=target/release/libkeyhelm_clinked.so \
//!   cargo run -p keyhelm-testkit --example provider_latency -- clinked   # any other builds
//! ```
//!
//! By default keyhelm and the plugins are built by testkit in the debug profile, whatever
//! profile runs this tool; `KEYHELM_BIN` and `<PROVIDER>_PLUGIN` (`INTRALINKS_PLUGIN`,
//! `CLINKED_PLUGIN`, `INTELLIVOID_PLUGIN`) name other builds. Each sample is one keyhelm
//! process, timed from spawn to exit. A measurement tool, not a test: it prints numbers and
//! asserts nothing about them.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use keyhelm_testkit::bins::{keyhelm_bin, plugin_cdylib};
use keyhelm_testkit::clinked::{ClinkedConfig, ClinkedUser, FakeClinked};
use keyhelm_testkit::clock::FakeClock;
use keyhelm_testkit::intellivoid::{
    AutoApprove, FakeIntellivoid, IntellivoidAccount, IntellivoidApp, IntellivoidConfig, Permission,
};
use keyhelm_testkit::intralinks::{FakeIntralinks, Grant, IntralinksApp, IntralinksUser};
use keyhelm_testkit::keyhelm::{Sandbox, describe};

const PROVIDERS: [&str; 3] = ["intralinks", "clinked", "intellivoid"];

fn main() -> anyhow::Result<()> {
    let mut runs = 30;
    let mut providers = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => {
                let n = args.next().context("--runs needs a number")?;
                runs = n.parse().with_context(|| format!("--runs {n:?}"))?;
            }
            p if PROVIDERS.contains(&p) => providers.push(arg),
            other => bail!(
                "unknown argument {other:?}: name providers ({}) and --runs N",
                PROVIDERS.join(", ")
            ),
        }
    }
    if runs == 0 {
        bail!("--runs must be at least 1");
    }
    if providers.is_empty() {
        providers = PROVIDERS.map(str::to_owned).to_vec();
    }
    let bin = std::env::var_os("KEYHELM_BIN").map_or_else(keyhelm_bin, PathBuf::from);
    println!("keyhelm {}", bin.display());
    let tool = Tool { bin, runs };
    for provider in &providers {
        match provider.as_str() {
            "intralinks" => tool.intralinks()?,
            "clinked" => tool.clinked()?,
            _ => tool.intellivoid()?,
        }
    }
    Ok(())
}

struct Tool {
    bin: PathBuf,
    runs: usize,
}

impl Tool {
    /// A sandbox with the plugin of `provider` installed (`<PROVIDER>_PLUGIN`, else the
    /// debug build of `keyhelm-<provider>`).
    fn sandbox(&self, provider: &str) -> anyhow::Result<Sandbox> {
        let var = format!("{}_PLUGIN", provider.to_ascii_uppercase());
        let plugin = std::env::var_os(&var).map_or_else(
            || plugin_cdylib(&format!("keyhelm-{provider}")),
            PathBuf::from,
        );
        let sandbox = Sandbox::new(&self.bin)?;
        sandbox.install_plugin(provider, &plugin)?;
        Ok(sandbox)
    }

    fn intralinks(&self) -> anyhow::Result<()> {
        let fake = FakeIntralinks::start();
        fake.add_app(IntralinksApp::new("key", "s3cret").grants(&[Grant::ClientCredentials]));
        fake.add_user(IntralinksUser::new("joe@example.com", "pw"));
        let s = self.sandbox("intralinks")?;
        add_account(
            &s,
            "intralinks",
            &fake.base_url(),
            &["client_id=key", "email=joe@example.com"],
            "client_secret=s3cret\npassword=pw\n",
        )?;
        s.token("work");
        let before = fake.token_requests();
        report(
            "intralinks: token (cached)",
            self.lookups(&s, &["token", "work"]),
        );
        assert_eq!(
            fake.token_requests(),
            before,
            "the cached runs made no login"
        );
        report(
            "intralinks: login (plugin + 1 login)",
            self.lookups(&s, &["login", "work"]),
        );
        assert_eq!(fake.token_requests(), before + self.runs);
        Ok(())
    }

    fn clinked(&self) -> anyhow::Result<()> {
        let setup = |config: ClinkedConfig| -> anyhow::Result<(Sandbox, FakeClinked)> {
            let fake = FakeClinked::start_with(config);
            fake.add_user(ClinkedUser::new("jack", "pw"));
            let s = self.sandbox("clinked")?;
            add_account(
                &s,
                "clinked",
                &fake.base_url(),
                &["username=jack"],
                "password=pw\n",
            )?;
            Ok((s, fake))
        };

        let mut first = Vec::new();
        let mut cached = Vec::new();
        for i in 0..self.runs {
            let (s, _fake) = setup(ClinkedConfig::default())?;
            first.push(time(&s, &["token", "work"]));
            if i == 0 {
                cached = self.lookups(&s, &["token", "work"]);
            }
        }
        report("clinked: first login (3 requests)", first);
        report("clinked: token (cached)", cached);

        // A 1 s lifetime: keyhelm's safety margin makes every lookup a renewal.
        let (s, fake) = setup(ClinkedConfig {
            access_ttl: Duration::from_secs(1),
            ..ClinkedConfig::default()
        })?;
        s.token("work");
        let renewals = measure(self.runs, || {
            fake.clock().advance(Duration::from_secs(2));
            time(&s, &["token", "work"])
        });
        report("clinked: renewal (plugin + 1 grant)", renewals);
        Ok(())
    }

    fn intellivoid(&self) -> anyhow::Result<()> {
        let grant = [Permission::ReadUsername, Permission::GetUserDisplay];
        let setup = |config: IntellivoidConfig| -> anyhow::Result<(Sandbox, FakeIntellivoid)> {
            let fake = FakeIntellivoid::try_start(config, FakeClock::new())?;
            let app = fake.add_application(IntellivoidApp::new("keyhelm latency"));
            fake.add_account(IntellivoidAccount::new("alice"));
            fake.update_config(|c| {
                c.auto_approve = Some(AutoApprove {
                    after_polls: 1,
                    grant: grant.to_vec(),
                });
            });
            let s = self.sandbox("intellivoid")?;
            let id = format!("application_id={}", app.application_id);
            let secret = format!("secret_key={}\n", app.secret_key);
            add_account(
                &s,
                "intellivoid",
                &fake.base_url(),
                &[&id, "poll_interval_ms=20"],
                &secret,
            )?;
            login(&s)?;
            Ok((s, fake))
        };

        let (cached, fake) = setup(IntellivoidConfig::default())?;
        let token = cached.token("work");
        let before = fake.requests().len();
        report(
            "intellivoid: token (cached)",
            self.lookups(&cached, &["token", "work"]),
        );
        assert_eq!(fake.requests().len(), before, "no plugin call");
        assert_eq!(cached.token("work"), token);

        // Tokens that keyhelm finds stale at once (one second of life, one more per use):
        // every lookup renews by use.
        let (stale, _fake) = setup(IntellivoidConfig {
            access_initial_ttl: Duration::from_secs(1),
            access_slide: Duration::from_secs(1),
            ..IntellivoidConfig::default()
        })?;
        report(
            "intellivoid: renewal by use",
            self.lookups(&stale, &["token", "work"]),
        );

        let logins = measure(self.runs, || {
            let start = Instant::now();
            login(&cached).expect("login");
            start.elapsed()
        });
        report("intellivoid: login on a pty (approved at poll 2)", logins);
        Ok(())
    }

    /// `runs` samples of `keyhelm ARGS`.
    fn lookups(&self, s: &Sandbox, args: &[&str]) -> Vec<Duration> {
        measure(self.runs, || time(s, args))
    }
}

/// `keyhelm account add work --provider PROVIDER --url URL --set ...` with `secrets` on
/// stdin.
fn add_account(
    s: &Sandbox,
    provider: &str,
    url: &str,
    sets: &[&str],
    secrets: &str,
) -> anyhow::Result<()> {
    let out = s.account_add("work", provider, url, sets, &[], secrets);
    if !out.status.success() {
        bail!("account add failed: {}", describe(&out));
    }
    Ok(())
}

/// `keyhelm login work` on a terminal, answering "n" to the browser question.
fn login(s: &Sandbox) -> anyhow::Result<()> {
    let done = s.on_terminal(
        &["login", "work"],
        &[("Open it in your browser? [Y/n]", "n")],
    );
    if !done.status.success() {
        bail!("login failed ({}):\n{}", done.status, done.output);
    }
    Ok(())
}

/// One run of `keyhelm ARGS` (stdin closed), timed from spawn to exit; it must succeed.
fn time(s: &Sandbox, args: &[&str]) -> Duration {
    let mut cmd = s.keyhelm_command(args);
    let start = Instant::now();
    let out = cmd.output().expect("run keyhelm");
    let took = start.elapsed();
    assert!(out.status.success(), "{}", describe(&out));
    took
}

/// `runs` samples of `sample`.
fn measure(runs: usize, mut sample: impl FnMut() -> Duration) -> Vec<Duration> {
    (0..runs).map(|_| sample()).collect()
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{what:<50} runs {:>3}  min {:>7.2} ms  median {:>7.2} ms  max {:>7.2} ms",
        samples.len(),
        ms(samples[0]),
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() - 1])
    );
}
