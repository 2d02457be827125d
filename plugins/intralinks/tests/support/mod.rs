//! What the end-to-end tests share: testkit's keyhelm [`Sandbox`](keyhelm::Sandbox) with the
//! real plugin cdylib installed, the Intralinks fake seeded with the test's app and user, and
//! testkit's canned-answer server for answers the Intralinks fake never gives (429, 503,
//! garbage with 200).
#![allow(dead_code)]

use std::ops::{Deref, DerefMut};
use std::process::Output;

pub use keyhelm_testkit::canned::{Canned, Reply, reply};
use keyhelm_testkit::intralinks::{FakeIntralinks, Grant, IntralinksApp, IntralinksUser};
use keyhelm_testkit::keyhelm;
pub use keyhelm_testkit::keyhelm::{run_with_stdin, text, wait_until};

pub const CLIENT_ID: &str = "app-key-1";
pub const CLIENT_SECRET: &str = "app-s3cret-1";
pub const EMAIL: &str = "joe@example.com";
pub const PASSWORD: &str = "pw-hunter2 &=+";

/// A fake with the app (client_credentials enabled) and the user every test starts from.
pub fn fake_with(fake: FakeIntralinks) -> FakeIntralinks {
    fake.add_app(
        IntralinksApp::new(CLIENT_ID, CLIENT_SECRET)
            .grants(&[Grant::ClientCredentials, Grant::AuthorizationCode]),
    );
    fake.add_user(IntralinksUser::new(EMAIL, PASSWORD));
    fake
}

pub fn fake() -> FakeIntralinks {
    fake_with(FakeIntralinks::start())
}

/// testkit's sandbox with the plugin installed (0644 in a 0700 folder, pinned in
/// config.toml by path so the copy under test is the one loaded); keyhelm runs in a new
/// session without a controlling terminal (so no prompt can reach a developer's terminal).
pub struct Sandbox(keyhelm::Sandbox);

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox(keyhelm::Sandbox::with_plugin("intralinks", "keyhelm-intralinks").unwrap())
    }

    /// A sandbox with the account `work` at `url` ([`Sandbox::add`]).
    pub fn with_work(url: &str, sets: &[&str]) -> Sandbox {
        let sandbox = Sandbox::new();
        sandbox.add("work", url, sets);
        sandbox
    }

    /// `keyhelm account add NAME --provider intralinks --url URL` with the standard settings
    /// (overridden by `sets`) and the secrets on stdin.
    pub fn add_account(&self, name: &str, url: &str, sets: &[&str], secrets: &str) -> Output {
        let client = format!("client_id={CLIENT_ID}");
        let email = format!("email={EMAIL}");
        let mut all: Vec<&str> = Vec::new();
        if !sets.iter().any(|s| s.starts_with("client_id=")) {
            all.push(&client);
        }
        if !sets.iter().any(|s| s.starts_with("email=")) {
            all.push(&email);
        }
        all.extend_from_slice(sets);
        self.account_add(name, "intralinks", url, &all, &[], secrets)
    }

    /// [`Sandbox::add_account`] with the right secrets, which must succeed.
    pub fn add(&self, name: &str, url: &str, sets: &[&str]) {
        let out = self.add_account(name, url, sets, &default_secrets());
        assert!(
            out.status.success(),
            "account add failed: {}",
            text(&out.stderr)
        );
    }
}

impl Deref for Sandbox {
    type Target = keyhelm::Sandbox;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for Sandbox {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

/// The secrets lines for `--secrets-from-stdin`.
pub fn default_secrets() -> String {
    format!("client_secret={CLIENT_SECRET}\npassword={PASSWORD}\n")
}

/// Asserts that no secret of the test setup, nor any of `tokens`, shows up in `text`.
#[track_caller]
pub fn assert_no_secrets(text: &str, tokens: &[&str]) {
    keyhelm::assert_no_secrets(text, &[CLIENT_SECRET, PASSWORD, "hunter2"]);
    keyhelm::assert_no_secrets(text, tokens);
}
