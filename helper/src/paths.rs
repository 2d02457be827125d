//! Where keyhelm keeps its files, and the environment it reads.
//!
//! The environment is read once, in [`Env::from_process`], so that everything else is a pure
//! function of it and tests run hermetically.
//!
//! With `KEYHELM_HOME=H` every file lives under `H`:
//!
//! | what | with `KEYHELM_HOME` | otherwise (XDG) |
//! |---|---|---|
//! | config, identity | `H/config.toml`, `H/identity.txt` | `$XDG_CONFIG_HOME/keyhelm/` (`~/.config/keyhelm/`) |
//! | vault | `H/vault/vault.age` | `$XDG_DATA_HOME/keyhelm/vault/vault.age` (`~/.local/share/...`) |
//! | plugins | `H/plugins/` | `$XDG_DATA_HOME/keyhelm/plugins/` |
//! | state (device id, lock, backups) | `H/state/` | `$XDG_STATE_HOME/keyhelm/` (`~/.local/state/...`) |
//! | runtime (agent socket) | `H/run/` | `$XDG_RUNTIME_DIR/keyhelm/`, else the state folder's `run/` |

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::error::{Failure, Result};

/// The process environment keyhelm looks at, captured once.
#[derive(Clone, Debug, Default)]
pub struct Env {
    pub keyhelm_home: Option<PathBuf>,
    /// A `KEYHELM_HOME` that is set but not absolute (refused by [`Env::check`]).
    pub keyhelm_home_relative: Option<OsString>,
    pub home: Option<PathBuf>,
    pub xdg_config_home: Option<PathBuf>,
    pub xdg_data_home: Option<PathBuf>,
    pub xdg_state_home: Option<PathBuf>,
    pub xdg_runtime_dir: Option<PathBuf>,
    /// `KEYHELM_LOG`: a tracing filter (e.g. `debug`, `keyhelm=trace`).
    pub log: Option<String>,
    /// The running executable, used to find plugins next to it.
    pub current_exe: Option<PathBuf>,
    /// Whether stdin is a terminal (a person, not a tool, is typing).
    pub stdin_is_terminal: bool,
    /// `CARGO_HOME` (absolute), where cargo's configuration lives; default `~/.cargo`.
    pub cargo_home: Option<PathBuf>,
    /// `KUBERNETES_EXEC_INFO`: what kubectl tells an exec credential plugin.
    pub kubernetes_exec_info: Option<OsString>,
    /// `DOCKER_CONFIG`: the folder of docker's `config.json` (default `~/.docker`).
    pub docker_config: Option<PathBuf>,
    /// `PATH`, to tell whether docker can find `docker-credential-keyhelm`.
    pub path: Option<OsString>,
}

impl Env {
    pub fn from_process() -> Env {
        fn path(name: &str) -> Option<PathBuf> {
            // An empty or relative value is ignored, as the XDG spec says.
            std::env::var_os(name)
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
        }
        Env {
            keyhelm_home: path("KEYHELM_HOME"),
            keyhelm_home_relative: std::env::var_os("KEYHELM_HOME")
                .filter(|v| !v.is_empty() && !Path::new(v).is_absolute()),
            home: path("HOME"),
            xdg_config_home: path("XDG_CONFIG_HOME"),
            xdg_data_home: path("XDG_DATA_HOME"),
            xdg_state_home: path("XDG_STATE_HOME"),
            xdg_runtime_dir: path("XDG_RUNTIME_DIR"),
            log: std::env::var("KEYHELM_LOG").ok().filter(|s| !s.is_empty()),
            current_exe: std::env::current_exe().ok(),
            stdin_is_terminal: std::io::IsTerminal::is_terminal(&std::io::stdin()),
            cargo_home: path("CARGO_HOME"),
            kubernetes_exec_info: std::env::var_os("KUBERNETES_EXEC_INFO"),
            // docker uses the variable as given, relative to the current folder if relative.
            docker_config: std::env::var_os("DOCKER_CONFIG")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            path: std::env::var_os("PATH"),
        }
    }

    /// A relative `KEYHELM_HOME` is refused rather than silently ignored.
    pub fn check(&self) -> Result<()> {
        match &self.keyhelm_home_relative {
            None => Ok(()),
            Some(raw) => Err(Failure::usage(format!(
                "KEYHELM_HOME must be an absolute path, not {raw:?}"
            ))
            .hint("set KEYHELM_HOME to an absolute folder, or unset it to use the XDG folders")),
        }
    }
}

/// The folders and files keyhelm uses on this device.
#[derive(Clone, Debug)]
pub struct Paths {
    pub config_dir: PathBuf,
    pub data_dir: PathBuf,
    pub state_dir: PathBuf,
    pub runtime_dir: PathBuf,
}

impl Paths {
    pub fn resolve(env: &Env) -> Result<Paths> {
        if let Some(home) = &env.keyhelm_home {
            return Ok(Paths {
                config_dir: home.clone(),
                data_dir: home.clone(),
                state_dir: home.join("state"),
                runtime_dir: home.join("run"),
            });
        }
        let home = env.home.as_deref();
        let base = |xdg: &Option<PathBuf>, fallback: &str| -> Result<PathBuf> {
            match (xdg, home) {
                (Some(dir), _) => Ok(dir.join("keyhelm")),
                (None, Some(home)) => Ok(home.join(fallback).join("keyhelm")),
                (None, None) => Err(Failure::other(
                    "cannot tell where keyhelm's files belong: neither HOME nor KEYHELM_HOME is set",
                )
                .hint("set KEYHELM_HOME to an absolute folder")),
            }
        };
        let state_dir = base(&env.xdg_state_home, ".local/state")?;
        let runtime_dir = match &env.xdg_runtime_dir {
            Some(dir) => dir.join("keyhelm"),
            None => state_dir.join("run"),
        };
        Ok(Paths {
            config_dir: base(&env.xdg_config_home, ".config")?,
            data_dir: base(&env.xdg_data_home, ".local/share")?,
            state_dir,
            runtime_dir,
        })
    }

    pub fn config_file(&self) -> PathBuf {
        self.config_dir.join("config.toml")
    }

    pub fn identity_file(&self) -> PathBuf {
        self.config_dir.join("identity.txt")
    }

    /// The default vault file; `vault.path` in the config overrides it.
    pub fn default_vault_file(&self) -> PathBuf {
        self.data_dir.join("vault").join("vault.age")
    }

    pub fn plugin_dir(&self) -> PathBuf {
        self.data_dir.join("plugins")
    }

    /// Per-account lock files (one login at a time per account).
    pub fn lock_dir(&self) -> PathBuf {
        self.state_dir.join("locks")
    }
}

/// Creates `dir` and its missing parents with mode 0700.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Failure::io("cannot create folder", dir, &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyhelm_home_moves_everything() {
        let env = Env {
            keyhelm_home: Some("/k".into()),
            home: Some("/h".into()),
            ..Env::default()
        };
        let p = Paths::resolve(&env).unwrap();
        assert_eq!(p.identity_file(), Path::new("/k/identity.txt"));
        assert_eq!(p.config_file(), Path::new("/k/config.toml"));
        assert_eq!(p.default_vault_file(), Path::new("/k/vault/vault.age"));
        assert_eq!(p.plugin_dir(), Path::new("/k/plugins"));
        assert_eq!(p.state_dir, Path::new("/k/state"));
        assert_eq!(p.runtime_dir, Path::new("/k/run"));
    }

    #[test]
    fn xdg_folders_by_default() {
        let env = Env {
            home: Some("/h".into()),
            ..Env::default()
        };
        let p = Paths::resolve(&env).unwrap();
        assert_eq!(
            p.identity_file(),
            Path::new("/h/.config/keyhelm/identity.txt")
        );
        assert_eq!(
            p.default_vault_file(),
            Path::new("/h/.local/share/keyhelm/vault/vault.age")
        );
        assert_eq!(p.state_dir, Path::new("/h/.local/state/keyhelm"));
        assert_eq!(p.runtime_dir, Path::new("/h/.local/state/keyhelm/run"));

        let env = Env {
            home: Some("/h".into()),
            xdg_config_home: Some("/c".into()),
            xdg_data_home: Some("/d".into()),
            xdg_state_home: Some("/s".into()),
            xdg_runtime_dir: Some("/r".into()),
            ..Env::default()
        };
        let p = Paths::resolve(&env).unwrap();
        assert_eq!(p.config_dir, Path::new("/c/keyhelm"));
        assert_eq!(p.plugin_dir(), Path::new("/d/keyhelm/plugins"));
        assert_eq!(p.state_dir, Path::new("/s/keyhelm"));
        assert_eq!(p.runtime_dir, Path::new("/r/keyhelm"));
    }

    #[test]
    fn no_home_at_all_is_a_clear_error() {
        let err = Paths::resolve(&Env::default()).unwrap_err();
        assert!(
            err.message.contains("neither HOME nor KEYHELM_HOME"),
            "{}",
            err.message
        );
    }
}
