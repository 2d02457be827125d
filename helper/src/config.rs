//! `config.toml`: the few settings that are per device and not secret.
//!
//! ```toml
//! [vault]
//! path = "/home/me/Sync/keyhelm/vault.age"   # default: <data>/vault/vault.age
//!
//! [plugins]
//! dirs = ["/opt/keyhelm-plugins"]             # searched after the built-in folders
//! [plugins.paths]
//! acme = "/opt/acme/libkeyhelm_acme.so"        # an explicit file for one provider
//! [plugins.pins]
//! intralinks = "3f1c...e9"                     # sha256 the file must have (`keyhelm plugin trust`)
//! ```
//!
//! A missing file is an empty configuration. Unknown keys are ignored so that a config written
//! by a newer keyhelm still loads.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Exit, Failure, Result};

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Config {
    pub vault: VaultConfig,
    pub plugins: PluginConfig,
    pub sync: SyncConfig,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct VaultConfig {
    pub path: Option<PathBuf>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct PluginConfig {
    pub dirs: Vec<PathBuf>,
    pub paths: BTreeMap<String, PathBuf>,
    pub pins: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct SyncConfig {
    /// Sync in the background after every write.
    pub auto: bool,
}

impl Config {
    pub fn load(path: &Path) -> Result<Config> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => return Err(Failure::io("cannot read", path, &e)),
        };
        let config: Config = toml::from_str(&text).map_err(|e| {
            // The config holds no secrets: toml's message may quote it.
            let line = e
                .span()
                .map(|span| format!(" (line {})", text[..span.start].matches('\n').count() + 1))
                .unwrap_or_default();
            Failure::new(
                Exit::Failure,
                format!("{} is not valid{line}: {}", path.display(), e.message()),
            )
            .hint("fix the file or move it away; see \"Files and configuration\" in the user guide")
        })?;
        for (what, p) in config
            .vault
            .path
            .iter()
            .map(|p| ("vault.path", p))
            .chain(config.plugins.dirs.iter().map(|p| ("plugins.dirs", p)))
            .chain(config.plugins.paths.values().map(|p| ("plugins.paths", p)))
        {
            if !p.is_absolute() {
                return Err(Failure::other(format!(
                    "{}: {what} must be an absolute path, not {}",
                    path.display(),
                    p.display()
                ))
                .hint("write the full path, starting with / (keyhelm does not expand ~)"));
            }
        }
        Ok(config)
    }

    /// Writes the configuration (0600), replacing the file atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = toml::to_string_pretty(self)
            .map_err(|e| Failure::other(format!("cannot encode the configuration: {e}")))?;
        crate::fsutil::write_private_atomic(path, text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_is_empty_config() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::load(&dir.path().join("config.toml")).unwrap();
        assert!(c.vault.path.is_none());
        assert!(c.plugins.pins.is_empty());
    }

    #[test]
    fn parses_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "[vault]\npath = \"/v/vault.age\"\n[plugins.pins]\nx = \"ab\"\n[future]\nknob = 1\n",
        )
        .unwrap();
        let c = Config::load(&path).unwrap();
        assert_eq!(c.vault.path.as_deref(), Some(Path::new("/v/vault.age")));
        assert_eq!(c.plugins.pins["x"], "ab");
        c.save(&path).unwrap();
        let again = Config::load(&path).unwrap();
        assert_eq!(again.plugins.pins["x"], "ab");
    }

    #[test]
    fn relative_paths_and_bad_syntax_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "[vault]\npath = \"relative/vault.age\"\n").unwrap();
        let err = Config::load(&path).unwrap_err();
        assert!(
            err.message.contains("vault.path must be an absolute path"),
            "{}",
            err.message
        );

        std::fs::write(&path, "[vault\n").unwrap();
        let err = Config::load(&path).unwrap_err();
        assert!(err.message.contains("is not valid"), "{}", err.message);
    }
}
