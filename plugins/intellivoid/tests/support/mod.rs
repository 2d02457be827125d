//! testkit's keyhelm [`Sandbox`](keyhelm::Sandbox) with the real plugin cdylib installed,
//! against testkit's FakeIntellivoid. Interactive runs happen under a real pseudo-terminal;
//! non-interactive runs in a new session without a controlling terminal (`setsid`), so a
//! developer's own terminal never leaks into a test.
#![allow(dead_code)]

use std::ops::{Deref, DerefMut};
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

use keyhelm_testkit::clock::FakeClock;
use keyhelm_testkit::intellivoid::{
    AutoApprove, FakeIntellivoid, IntellivoidAccount, IntellivoidApp, IntellivoidAppCredentials,
    IntellivoidConfig, Permission,
};
use keyhelm_testkit::keyhelm;
// Not every test binary uses all of them.
#[allow(unused_imports)]
pub use keyhelm_testkit::keyhelm::{describe, run_with_stdin as run, text, wait_until};
use keyhelm_testkit::pty::Pty;

/// keyhelm's exit codes (docs/user-guide.md).
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_PROVIDER: i32 = 7;
pub const EXIT_NEEDS_INTERACTION: i32 = 8;

/// The host's question after it shows the URL.
pub const BROWSER_QUESTION: &str = "Open it in your browser? [Y/n]";

/// Waits for the command on `pty` to end: its status and the whole screen.
pub fn finish(pty: Pty) -> (ExitStatus, String) {
    let done = pty.finish().unwrap();
    (done.status, done.output)
}

/// A fake Intellivoid with one application and one user ("alice"), an isolated keyhelm
/// home with the plugin installed, and helpers to run keyhelm. Everything else is testkit's
/// `Sandbox` (`w.env`, `w.keyhelm(..)`, `w.pty(..)`, ...).
pub struct World {
    pub sandbox: keyhelm::Sandbox,
    pub fake: Arc<FakeIntellivoid>,
    pub app: IntellivoidAppCredentials,
    pub alice: String,
}

impl World {
    /// Default knobs, a frozen fake clock.
    pub fn new() -> World {
        World::with(IntellivoidConfig::default(), FakeClock::new())
    }

    /// Access tokens that keyhelm considers stale as soon as it gets them (the fake gives
    /// them one second of life, and moves the expiry one second on each use), so every
    /// `keyhelm token` asks the plugin, which renews them by use. The fake clock is frozen,
    /// so the tokens stay valid at the fake until a test advances it.
    pub fn short_lived_tokens() -> World {
        let config = IntellivoidConfig {
            access_initial_ttl: Duration::from_secs(1),
            access_slide: Duration::from_secs(1),
            ..IntellivoidConfig::default()
        };
        World::with(config, FakeClock::new())
    }

    pub fn with(config: IntellivoidConfig, clock: FakeClock) -> World {
        let fake = FakeIntellivoid::try_start(config, clock).expect("start the Intellivoid fake");
        let app = fake.add_application(IntellivoidApp::new("keyhelm test app"));
        let alice = fake.add_account(IntellivoidAccount::new("alice"));
        let sandbox = keyhelm::Sandbox::with_plugin("intellivoid", "keyhelm-intellivoid")
            .expect("keyhelm with the plugin installed");
        World {
            sandbox,
            fake: Arc::new(fake),
            app,
            alice,
        }
    }

    /// The user approves by herself after `after_polls` answers of 41, leaving `grant`
    /// ticked.
    pub fn auto_approve(&self, after_polls: u32, grant: &[Permission]) {
        let grant = grant.to_vec();
        self.fake
            .update_config(|c| c.auto_approve = Some(AutoApprove { after_polls, grant }));
    }

    /// `keyhelm account add work` for the fake's application, polling every 20 ms.
    pub fn add_account(&self, extra: &[&str]) {
        let secret = format!("secret_key={}\n", self.app.secret_key);
        self.add_account_with(&self.app.application_id, &secret, extra);
    }

    pub fn add_account_with(&self, application_id: &str, secrets: &str, extra: &[&str]) {
        let set_id = format!("application_id={application_id}");
        let out = self.account_add(
            "work",
            "intellivoid",
            &self.fake.base_url(),
            &[&set_id, "poll_interval_ms=20"],
            extra,
            secrets,
        );
        assert!(
            out.status.success(),
            "account add failed: {}",
            describe(&out)
        );
    }

    /// `keyhelm login work` on a terminal, answering "n" to the browser question; returns
    /// the session's output.
    pub fn login(&self) -> (ExitStatus, String) {
        self.on_tty(&["login", "work"])
    }

    /// `keyhelm ARGS` on a terminal, answering "n" to the browser question.
    pub fn on_tty(&self, args: &[&str]) -> (ExitStatus, String) {
        let done = self.on_terminal(args, &[(BROWSER_QUESTION, "n")]);
        (done.status, done.output)
    }

    /// `keyhelm login work` on a terminal, when it fails with a hint.
    pub fn failed_login(&self) -> (ExitStatus, String) {
        let mut pty = self.pty(&["login", "work"]);
        pty.expect("keyhelm: hint:").unwrap();
        finish(pty)
    }

    /// `keyhelm token work` without a terminal: the token.
    pub fn token(&self) -> String {
        self.sandbox.token("work")
    }

    /// `keyhelm token work` without a terminal, which must exit with `code` and print nothing
    /// on stdout: its stderr.
    pub fn token_failure(&self, code: i32) -> String {
        let out = self.keyhelm(&["token", "work"], b"");
        assert_eq!(out.status.code(), Some(code), "{}", describe(&out));
        assert!(out.stdout.is_empty(), "{}", describe(&out));
        text(&out.stderr)
    }

    /// The requests that reached the fake on `route`.
    pub fn count(&self, route: &str) -> usize {
        self.fake.requests_to(route).len()
    }
}

impl Deref for World {
    type Target = keyhelm::Sandbox;

    fn deref(&self) -> &Self::Target {
        &self.sandbox
    }
}

impl DerefMut for World {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.sandbox
    }
}
