//! keyhelm as git's credential helper in testkit's isolated environment: testkit's
//! [`Sandbox`](keyhelm_testkit::keyhelm::Sandbox) with the `keyhelm` binary of this test build.
#![allow(dead_code)]

use std::ops::{Deref, DerefMut};
use std::path::PathBuf;

// Not every test binary uses all of them.
#[allow(unused_imports)]
pub use keyhelm_testkit::keyhelm::{mode, run_with_stdin as run, text, wait_until};

/// The `keyhelm` binary cargo built for these tests.
pub fn keyhelm_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_keyhelm"))
}

/// An isolated HOME and KEYHELM_HOME, and a git whose only credential helper is keyhelm.
/// Everything else is testkit's `Sandbox` (`s.env`, `s.keyhelm(..)`, `s.fill(..)`, ...).
pub struct Sandbox(keyhelm_testkit::keyhelm::Sandbox);

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let sandbox = keyhelm_testkit::keyhelm::Sandbox::new(keyhelm_bin()).unwrap();
        sandbox.use_as_git_helper().unwrap();
        Sandbox(sandbox)
    }

    pub fn write_gitconfig(&self, text: &str) {
        self.0.write_gitconfig(text).unwrap();
    }
}

impl Deref for Sandbox {
    type Target = keyhelm_testkit::keyhelm::Sandbox;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for Sandbox {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}
