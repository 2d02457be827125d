//! keyhelm as git's credential helper in testkit's isolated environment: testkit's
//! [`Sandbox`](keyhelm_testkit::keyhelm::Sandbox) with the `keyhelm` binary of this test build.
#![allow(dead_code)]

use std::ops::{Deref, DerefMut};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

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

    /// Drops the plugin `cdylib` into `$KEYHELM_HOME/plugins` as provider `provider`, the
    /// way a user installs one: both folders 0700, the file 0644 at
    /// [`plugin_path`](keyhelm_testkit::keyhelm::Sandbox::plugin_path). Unlike testkit's
    /// `install_plugin`, it writes no `config.toml`: keyhelm finds the plugin by searching.
    /// Returns the file's path.
    pub fn drop_in_plugin(&self, provider: &str, cdylib: &Path) -> PathBuf {
        let installed = self.plugin_path(provider);
        let plugins = installed.parent().unwrap();
        std::fs::create_dir_all(plugins).unwrap();
        for dir in [&self.keyhelm_home(), plugins] {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        std::fs::copy(cdylib, &installed).unwrap();
        std::fs::set_permissions(&installed, std::fs::Permissions::from_mode(0o644)).unwrap();
        installed
    }

    /// `keyhelm account add NAME --provider PROVIDER --url URL --secrets-from-stdin EXTRA`
    /// with `secrets` on stdin, which must succeed; first drops `cdylib` in as `provider`
    /// ([`Sandbox::drop_in_plugin`]) unless a copy is there already.
    pub fn plugin_account_add(
        &self,
        provider: &str,
        cdylib: &Path,
        name: &str,
        url: &str,
        extra: &[&str],
        secrets: &str,
    ) -> Output {
        if !self.plugin_path(provider).exists() {
            self.drop_in_plugin(provider, cdylib);
        }
        let out = self.account_add(name, provider, url, &[], extra, secrets);
        assert!(out.status.success(), "{}", text(&out.stderr));
        out
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
